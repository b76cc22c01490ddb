//! Rampart's correlation engine against rsigma-eval's on the same event streams: synthetic sshd-like streams through synthetic rules of every type and through Rampart's default SSH correlation rules. Firings must be identical (correlation, group, event, value); the two known differences are explained against the specification and pinned at the bottom.
#![allow(clippy::unwrap_used)]

use rampart_detect::{LoadOptions, Matches, RuleSet};
use rsigma_eval::{CorrelationConfig, JsonEvent, ProcessResultExt};
use serde_json::{Value, json};
use std::collections::BTreeMap;

mod common;

const RULES: &str = r#"
title: Failed login
id: 44444444-0000-4000-8000-000000000001
name: failed_login
logsource: {product: linux, service: sshd}
detection: {sel: {event.action: ssh_login, event.outcome: failure}, condition: sel}
---
title: Successful login
id: 44444444-0000-4000-8000-000000000002
name: successful_login
logsource: {product: linux, service: sshd}
detection: {sel: {event.action: ssh_login, event.outcome: success}, condition: sel}
---
title: Transfer
id: 44444444-0000-4000-8000-000000000003
name: transfer
logsource: {product: linux, service: sshd}
detection: {sel: {event.action: transfer}, condition: sel}
---
title: Brute force
id: 44444444-0000-4000-8000-000000000004
name: brute
correlation: {type: event_count, rules: [failed_login], group-by: [source.ip], timespan: 2m, condition: {gte: 8}}
---
title: Brute force by source and user
correlation: {type: event_count, rules: [failed_login], group-by: [source.ip, user.name], timespan: 5m, condition: {gte: 4, lte: 6}}
---
title: Spraying
correlation: {type: value_count, rules: [failed_login], group-by: [source.ip], timespan: 5m, condition: {field: user.name, gte: 4}}
---
title: Users and hosts
correlation: {type: value_count, rules: [successful_login, failed_login], group-by: [source.ip], timespan: 10m, condition: {field: [user.name, host.name], gt: 5}}
---
title: Brute force then login
correlation: {type: temporal_ordered, rules: [brute, successful_login], group-by: [source.ip], timespan: 10m}
---
title: Failure and login for a user
correlation: {type: temporal, rules: [failed_login, successful_login], group-by: [user.name], timespan: 3m, condition: {gte: 2}}
---
title: Login then transfer
correlation:
  type: temporal_ordered
  rules: [successful_login, transfer]
  group-by: [peer]
  timespan: 5m
  aliases:
    peer: {successful_login: source.ip, transfer: destination.ip}
---
title: Transfer volume
correlation: {type: value_sum, rules: [transfer], group-by: [user.name], timespan: 10m, condition: {field: bytes, gte: 40000}}
---
title: Transfer average
correlation: {type: value_avg, rules: [transfer], group-by: [host.name], timespan: 10m, condition: {field: bytes, gt: 9000}}
---
title: Transfer p75
correlation: {type: value_percentile, rules: [transfer], group-by: [host.name], timespan: 10m, condition: {field: bytes, percentile: 75, gte: 15000}}
"#;

/// Deterministic pseudo-random numbers (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A stream of sshd-like events, one every 0–9 s: attack bursts (brute force on one
/// account, spraying across accounts, sometimes a success at the end) from a few
/// sources, benign logins from many, and transfers with byte counts.
fn stream(seed: u64, n: usize) -> Vec<(i64, Value)> {
    let mut r = Lcg(seed);
    let users = [
        "root", "admin", "oracle", "test", "git", "fztu", "ubuntu", "pi",
    ];
    let hosts = ["h1", "h2", "h3", "h4", "h5", "h6"];
    let mut out = Vec::with_capacity(n);
    let mut t: i64 = 1_700_000_000;
    let mut burst: Option<(String, u64, bool)> = None; // (source, left, spraying)
    while out.len() < n {
        t += r.next(10) as i64;
        let host = hosts[r.next(hosts.len() as u64) as usize];
        let ev = if let Some((ip, left, spray)) = &mut burst {
            let ip = ip.clone();
            *left -= 1;
            let spray = *spray;
            let last = *left == 0;
            if last {
                burst = None;
            }
            if last && r.next(3) == 0 {
                login(&ip, users[r.next(3) as usize], host, "success")
            } else {
                let u = if spray {
                    users[r.next(8) as usize]
                } else {
                    users[r.next(2) as usize]
                };
                login(&ip, u, host, "failure")
            }
        } else {
            match r.next(10) {
                0 | 1 => {
                    let ip = format!("203.0.113.{}", r.next(6));
                    burst = Some((ip.clone(), 5 + r.next(25), r.next(2) == 0));
                    login(&ip, "root", host, "failure")
                }
                2..=5 => {
                    let ip = format!("198.51.100.{}", r.next(40));
                    let outcome = if r.next(4) == 0 { "failure" } else { "success" };
                    login(&ip, users[r.next(8) as usize], host, outcome)
                }
                6 => {
                    let mut e = login(
                        &format!("10.0.0.{}", r.next(3)),
                        users[r.next(8) as usize],
                        host,
                        "success",
                    );
                    e["event"]["action"] = json!("transfer");
                    e["destination"] = json!({"ip": format!("198.51.100.{}", r.next(40))});
                    e["bytes"] = json!(r.next(20_000));
                    e
                }
                _ => json!({"log": {"syslog": {"appname": "sshd"}}, "host": {"name": host},
                             "event": {"action": "disconnect"}}),
            }
        };
        out.push((t, ev));
    }
    out
}

fn login(ip: &str, user: &str, host: &str, outcome: &str) -> Value {
    json!({"log": {"syslog": {"appname": "sshd"}}, "host": {"name": host},
           "event": {"action": "ssh_login", "outcome": outcome},
           "source": {"ip": ip}, "user": {"name": user}})
}

/// (event index, correlation title, sorted group pairs) → aggregated values.
type Firings = BTreeMap<(usize, String, Vec<(String, String)>), Vec<String>>;

fn rampart(yaml: &str, events: &[(i64, Value)]) -> Firings {
    let (rules, diags) = RuleSet::from_yaml_str(yaml, "diff", &LoadOptions::default());
    assert!(diags.is_empty(), "{diags:#?}");
    let (engine, mut corr) = common::correlation_engines(&rules);
    let mut m = Matches::new();
    let mut out = Firings::new();
    for (i, (t, ev)) in events.iter().enumerate() {
        engine.evaluate(ev, &mut m);
        for f in corr.observe(ev, t * 1_000_000_000, i as u128, &m) {
            let mut g = f.group.clone();
            g.sort();
            out.entry((i, f.rule.title.clone(), g))
                .or_default()
                .push(format!("{:.6}", f.value));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn rsigma(yaml: &str, events: &[(i64, Value)]) -> Firings {
    let collection = rsigma_parser::parse_sigma_yaml(yaml).unwrap();
    let mut engine = rsigma_eval::CorrelationEngine::new(CorrelationConfig::default());
    engine.add_collection(&collection).unwrap();
    let mut out = Firings::new();
    for (i, (t, ev)) in events.iter().enumerate() {
        let res = engine.process_event_at(&JsonEvent::borrow(ev), *t);
        for r in res.correlations() {
            let body = r.as_correlation().unwrap();
            let mut g = body.group_key.clone();
            g.sort();
            out.entry((i, r.header.rule_title.clone(), g))
                .or_default()
                .push(format!("{:.6}", body.aggregated_value));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Compare; returns (firings, per-title counts) after asserting equality.
fn compare(what: &str, yaml: &str, events: &[(i64, Value)]) -> (usize, BTreeMap<String, usize>) {
    let ours = rampart(yaml, events);
    let mut theirs = rsigma(yaml, events);
    // rsigma 0.23 returns the percentile of a `value_percentile` window without checking
    // the condition (`check_condition` returns early), so it fires on every event; the
    // specification requires the condition. Apply it to rsigma's firings here; pinned by
    // `difference_value_percentile_checks_its_condition`.
    theirs.retain(|k, v| {
        k.1 != "Transfer p75" || v.iter().all(|x| x.parse::<f64>().unwrap() >= 15_000.0)
    });
    let only_ours: Vec<_> = ours
        .iter()
        .filter(|(k, v)| theirs.get(*k) != Some(v))
        .take(5)
        .collect();
    let only_theirs: Vec<_> = theirs
        .iter()
        .filter(|(k, v)| ours.get(*k) != Some(v))
        .take(5)
        .collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{what}: rampart-only {only_ours:#?}\nrsigma-only {only_theirs:#?}"
    );
    let mut per_title = BTreeMap::new();
    let mut total = 0;
    for ((_, title, _), v) in &ours {
        *per_title.entry(title.clone()).or_insert(0) += v.len();
        total += v.len();
    }
    (total, per_title)
}

#[test]
fn synthetic_streams_fire_identically() {
    let mut grand = 0;
    let mut all_titles = BTreeMap::new();
    for seed in [1, 7, 42, 1234, 99_999] {
        let events = stream(seed, 4_000);
        let (n, per_title) = compare(&format!("seed {seed}"), RULES, &events);
        println!(
            "seed {seed}: {} events, {n} identical firings {per_title:?}",
            events.len()
        );
        grand += n;
        for (t, c) in per_title {
            *all_titles.entry(t).or_insert(0) += c;
        }
    }
    println!("total: {grand} identical firings");
    // every correlation of the set fired somewhere: the comparison covers each type
    for title in RULES.lines().filter_map(|l| l.strip_prefix("title: ")) {
        if ["Failed login", "Successful login", "Transfer"].contains(&title) {
            continue;
        }
        assert!(
            all_titles.get(title).copied().unwrap_or(0) > 0,
            "{title} never fired"
        );
    }
}

/// The default SSH correlation rules with their base rules, as one multi-document text.
fn default_ssh_rules() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let mut parts = Vec::new();
    for f in [
        "linux/ssh_login_failed.yml",
        "linux/ssh_password_login_accepted.yml",
        "correlations/ssh_brute_force.yml",
        "correlations/ssh_brute_force_user.yml",
        "correlations/ssh_password_spraying.yml",
        "correlations/ssh_account_many_hosts.yml",
    ] {
        parts.push(std::fs::read_to_string(format!("{dir}/{f}")).unwrap());
    }
    parts.join("\n---\n")
}

#[test]
fn default_ssh_rules_fire_identically() {
    let yaml = default_ssh_rules();
    let mut total = 0;
    for seed in [3, 5, 8] {
        let mut events = stream(seed, 4_000);
        // the accepted-password base rule wants a method
        for (_, e) in &mut events {
            if e["event"]["outcome"] == "success" {
                e["sshd"] = json!({"method": "password"});
            }
        }
        let (n, per_title) = compare(&format!("default rules, seed {seed}"), &yaml, &events);
        println!("default rules, seed {seed}: {n} identical firings {per_title:?}");
        total += n;
    }
    assert!(total > 0);
}

// ---- Known differences, each pinned ----

const PINNED: &str = r#"
title: Failed login
id: 55555555-0000-4000-8000-000000000001
name: failed_login
logsource: {product: linux, service: sshd}
detection: {sel: {event.outcome: failure}, condition: sel}
---
title: Successful login
id: 55555555-0000-4000-8000-000000000002
name: successful_login
logsource: {product: linux, service: sshd}
detection: {sel: {event.outcome: success}, condition: sel}
"#;

/// A `temporal` rule without a condition. The specification: "All events defined by the
/// rules referred by the rule field must occur in the time frame". rsigma's parser gives
/// such a rule the condition `gte: 1` and its engine then fires on the first match of
/// any one rule; Rampart reads the absent condition as "all referenced rules".
#[test]
fn difference_temporal_without_condition_needs_all_rules() {
    let yaml = format!(
        "{PINNED}---\ntitle: Both\ncorrelation: {{type: temporal, rules: [failed_login, successful_login], \
         group-by: [user.name], timespan: 5m}}\n"
    );
    let events = vec![
        (0, login("1.1.1.1", "bob", "h1", "failure")),
        (10, login("1.1.1.1", "bob", "h1", "success")),
    ];
    let ours: Vec<usize> = rampart(&yaml, &events).keys().map(|k| k.0).collect();
    let theirs: Vec<usize> = rsigma(&yaml, &events).keys().map(|k| k.0).collect();
    assert_eq!(ours, [1], "Rampart: only once both rules matched");
    assert_eq!(theirs, [0, 1], "rsigma: already on the failure alone");
}

/// An event without a `group-by` field. rsigma puts every such event in one group with
/// an empty value; query backends of the specification (`stats count by source.ip`, a
/// terms aggregation) leave such events out, and so does Rampart: unrelated events that
/// lack an address must not add up to one "source".
#[test]
fn difference_events_without_the_group_field_are_left_out() {
    let yaml = format!(
        "{PINNED}---\ntitle: Brute\ncorrelation: {{type: event_count, rules: [failed_login], \
         group-by: [source.ip], timespan: 5m, condition: {{gte: 3}}}}\n"
    );
    let no_ip = json!({"log": {"syslog": {"appname": "sshd"}}, "event": {"outcome": "failure"}});
    let events: Vec<(i64, Value)> = (0..3).map(|i| (i, no_ip.clone())).collect();
    assert!(rampart(&yaml, &events).is_empty());
    let theirs = rsigma(&yaml, &events);
    assert_eq!(theirs.len(), 1);
    assert!(
        theirs.keys().all(|k| k.2.is_empty()),
        "rsigma's group has no value: {theirs:?}"
    );
}

/// `value_percentile`: rsigma fires whatever the percentile is (see `compare`).
#[test]
fn difference_value_percentile_checks_its_condition() {
    let yaml = format!(
        "{PINNED}---\ntitle: P50\ncorrelation: {{type: value_percentile, rules: [failed_login], \
         group-by: [user.name], timespan: 5m, condition: {{field: tries, gte: 10}}}}\n"
    );
    let mut e = login("1.1.1.1", "bob", "h1", "failure");
    e["tries"] = json!(3);
    let events = vec![(0, e)];
    assert!(rampart(&yaml, &events).is_empty(), "3 is not >= 10");
    let theirs = rsigma(&yaml, &events);
    assert_eq!(theirs.values().next().unwrap(), &["3.000000"]);
}
