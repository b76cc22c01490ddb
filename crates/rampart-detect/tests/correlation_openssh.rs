//! The default rules and correlations on loghub's OpenSSH_2k.log (shared corpus): every line parsed by rampart-parse, detected, correlated; brute force and spraying must fire for exactly the sources whose failures meet the rules' thresholds, computed here independently from the parsed fields.
#![allow(clippy::unwrap_used)]

use rampart_detect::{Matches, RuleSet};
use rampart_model::{Event, Origin, OriginKind};
use std::collections::{BTreeMap, BTreeSet};

mod common;

const NS: i64 = 1_000_000_000;

fn str_at<'a>(e: &'a Event, path: &str) -> Option<&'a str> {
    let mut v = e.fields.get(path.split('.').next()?)?;
    for seg in path.split('.').skip(1) {
        v = v.get(seg)?;
    }
    v.as_str()
}

/// The most items of `times` (sorted, ns) within any window of `span` (ends included).
fn max_in_window(times: &[i64], span: i64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] > span {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// The most distinct values within any window of `span` ending at an event.
fn max_distinct_in_window(items: &[(i64, String)], span: i64) -> usize {
    (0..items.len())
        .map(|hi| {
            items[..=hi]
                .iter()
                .filter(|(t, _)| items[hi].0 - t <= span)
                .map(|(_, u)| u.as_str())
                .collect::<BTreeSet<_>>()
                .len()
        })
        .max()
        .unwrap_or(0)
}

/// A loghub file run through the built-in rules and correlations, line by line.
struct Replay {
    events: Vec<Event>,
    /// (group field, group value) → correlation title → firings.
    fired: BTreeMap<(String, String), BTreeMap<String, usize>>,
    /// Rule matches that became detections, and those held back as correlation-only.
    emitted: usize,
    held_back: usize,
    stats: rampart_detect::CorrelationStats,
}

fn replay(shared: &std::path::Path, file: &str) -> Replay {
    let text = std::fs::read_to_string(shared.join("datasets/loghub").join(file)).unwrap();
    let parser = rampart_parse::Parser::new(rampart_parse::ParserConfig::default()).unwrap();
    let (rules, diags) = RuleSet::builtin();
    let ours: Vec<_> = diags
        .iter()
        .filter(|d| d.path.to_string_lossy().contains("correlations"))
        .collect();
    assert!(ours.is_empty(), "{ours:#?}");
    let (engine, mut corr) = common::correlation_engines(&rules);
    let mut m = Matches::new();
    let mut r = Replay {
        events: Vec::new(),
        fired: BTreeMap::new(),
        emitted: 0,
        held_back: 0,
        stats: Default::default(),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let ev = parser.parse(line.as_bytes(), Origin::new(OriginKind::File, file));
        assert!(ev.parse_error.is_none(), "{line}: {:?}", ev.parse_error);
        engine.evaluate(&ev, &mut m);
        for rule in m.rules() {
            if corr.emits_detection(*rule) {
                r.emitted += 1;
            } else {
                r.held_back += 1;
            }
        }
        let ts = ev.timestamp.nanos();
        for f in corr.observe(&ev, ts, ev.id.0.as_u128(), &m) {
            *r.fired
                .entry(f.group.first().cloned().unwrap_or_default())
                .or_default()
                .entry(f.rule.title.clone())
                .or_default() += 1;
        }
        r.events.push(ev);
    }
    r.stats = corr.stats();
    r
}

/// The firings of correlations grouped by `field`, by group value.
fn fired_by(r: &Replay, field: &str) -> BTreeMap<String, BTreeMap<String, usize>> {
    r.fired
        .iter()
        .filter(|((f, _), _)| f == field)
        .map(|((_, v), t)| (v.clone(), t.clone()))
        .collect()
}

#[test]
fn openssh_2k_brute_force_and_spraying() {
    let Some(shared) = common::shared("OpenSSH_2k correlation check") else {
        return;
    };
    let r = replay(&shared, "OpenSSH_2k.log");
    // source → title → firings; and the independent view of failures per source
    let fired = fired_by(&r, "source.ip");
    let by_user = fired_by(&r, "user.name");
    let mut failures: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let mut failures_by_user: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for ev in &r.events {
        if str_at(ev, "event.action") == Some("ssh_login")
            && str_at(ev, "event.outcome") == Some("failure")
            && let (Some(ip), Some(user)) = (str_at(ev, "source.ip"), str_at(ev, "user.name"))
        {
            let ts = ev.timestamp.nanos();
            failures
                .entry(ip.to_owned())
                .or_default()
                .push((ts, user.to_owned()));
            failures_by_user
                .entry(user.to_owned())
                .or_default()
                .push(ts);
        }
    }
    assert_eq!(r.events.len(), 2000);

    println!(
        "{:<18} {:>8} {:>6} {:>11} {:>12} {:>6} {:>6}",
        "source.ip", "failures", "users", "max/5min", "users/10min", "brute", "spray"
    );
    let mut brute_sources = BTreeSet::new();
    let mut spray_sources = BTreeSet::new();
    for (ip, fails) in &failures {
        let times: Vec<i64> = fails.iter().map(|f| f.0).collect();
        let max5 = max_in_window(&times, 300 * NS);
        let users10 = max_distinct_in_window(fails, 600 * NS);
        let users: BTreeSet<&str> = fails.iter().map(|f| f.1.as_str()).collect();
        let got = fired.get(ip).cloned().unwrap_or_default();
        let brute = got
            .get("SSH Brute Force From One Source")
            .copied()
            .unwrap_or(0);
        let spray = got
            .get("SSH Password Spraying From One Source")
            .copied()
            .unwrap_or(0);
        println!(
            "{ip:<18} {:>8} {:>6} {max5:>11} {users10:>12} {brute:>6} {spray:>6}",
            fails.len(),
            users.len()
        );
        // the rules' thresholds: ≥ 10 failures in 5 minutes; ≥ 5 users in 10 minutes
        assert_eq!(
            brute > 0,
            max5 >= 10,
            "{ip}: brute force fired {brute} times, max {max5} in 5 min"
        );
        assert_eq!(
            spray > 0,
            users10 >= 5,
            "{ip}: spraying fired {spray} times, max {users10} users"
        );
        if brute > 0 {
            brute_sources.insert(ip.clone());
        }
        if spray > 0 {
            spray_sources.insert(ip.clone());
        }
    }
    // no source without failures fires
    for ip in fired.keys() {
        assert!(
            failures.contains_key(ip),
            "{ip} fired without failures: {:?}",
            fired[ip]
        );
    }
    for (user, times) in &failures_by_user {
        let got = by_user.get(user).cloned().unwrap_or_default();
        let brute = got
            .get("SSH Brute Force Against One Account")
            .copied()
            .unwrap_or(0);
        assert_eq!(brute > 0, max_in_window(times, 300 * NS) >= 10, "{user}");
    }
    println!("brute force sources: {brute_sources:?}");
    println!("spraying sources: {spray_sources:?}");
    println!("per-account firings: {by_user:?}");
    println!("all source firings: {fired:?}");
    println!(
        "detections emitted {}, held back as correlation-only {}; stats {:?}",
        r.emitted, r.held_back, r.stats
    );
    // The heaviest attackers in the log (hundreds / dozens of failures within minutes).
    for ip in ["183.62.140.253", "187.141.143.180", "103.99.0.122"] {
        assert!(brute_sources.contains(ip), "{ip} did not fire brute force");
    }
    for ip in ["187.141.143.180", "103.99.0.122"] {
        assert!(spray_sources.contains(ip), "{ip} did not fire spraying");
    }
    // the one accepted password login (fztu from 119.137.62.142) had no failures before
    assert!(!fired.contains_key("119.137.62.142"));
}

/// loghub's Linux_2k.log: its sshd logs only pam_unix `authentication failure` lines, so
/// brute force shows through "SSH Brute Force From One Source (PAM)", which must fire for
/// exactly the sources with 10 such failures within 5 minutes (counted here from the parsed
/// fields), and the password-line correlation not at all.
#[test]
fn linux_2k_pam_brute_force() {
    let Some(shared) = common::shared("Linux_2k PAM brute force check") else {
        return;
    };
    let r = replay(&shared, "Linux_2k.log");
    let fired = fired_by(&r, "source.ip");
    let mut failures: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for ev in &r.events {
        if str_at(ev, "process.name") == Some("sshd")
            && str_at(ev, "event.action") == Some("authentication_failure")
            && let Some(ip) = str_at(ev, "source.ip")
        {
            failures
                .entry(ip.to_owned())
                .or_default()
                .push(ev.timestamp.nanos());
        }
    }
    let mut expected = BTreeSet::new();
    for (ip, times) in &failures {
        if max_in_window(times, 300 * NS) >= 10 {
            expected.insert(ip.clone());
        }
    }
    let got: BTreeSet<String> = fired
        .iter()
        .filter(|(_, t)| t.contains_key("SSH Brute Force From One Source (PAM)"))
        .map(|(ip, _)| ip.clone())
        .collect();
    println!("PAM brute force sources: {got:?}");
    assert!(expected.contains("150.183.249.110"), "{expected:?}");
    assert_eq!(got, expected);
    assert!(
        fired
            .values()
            .all(|t| !t.contains_key("SSH Brute Force From One Source")),
        "{fired:?}"
    );
}
