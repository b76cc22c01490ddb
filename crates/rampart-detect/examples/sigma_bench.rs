//! Single-thread throughput of Rampart's Sigma engine against rsigma-eval 0.23.0 on the
#![allow(clippy::unwrap_used)]
//! same pre-parsed events and rules. Run with
//! `cargo run --release -p rampart-detect --example sigma_bench`.

#[path = "../tests/common/mod.rs"]
mod common;

use rampart_detect::{Engine, LoadOptions, Mappings, Matches, Routing, RuleSet};
use rampart_model::{Event, Origin, OriginKind};
use serde_json::Value;
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

fn load_rsigma(
    dirs: &[std::path::PathBuf],
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

fn scenario(
    name: &str,
    rules: &RuleSet,
    theirs: &rsigma_eval::Engine,
    nested: &[Event],
    flat: &[Value],
) {
    let secs = std::env::var("SIGMA_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let min = Duration::from_secs_f64(secs);
    let only = std::env::var("SIGMA_BENCH_ONLY").unwrap_or_default();
    if !only.is_empty() && !name.starts_with(&format!("({only})")) {
        return;
    }
    let routed = Engine::new(rules, &Mappings::builtin());
    let all = Engine::with_routing(rules, &Mappings::builtin(), Routing::AllRules);
    let mut m = Matches::new();
    let mut run = |e: &Engine| {
        rate(nested.len(), min, || {
            nested
                .iter()
                .map(|ev| {
                    e.evaluate(ev, &mut m);
                    m.len()
                })
                .sum()
        })
    };
    let (r_all, m_all) = run(&all);
    let (r_routed, m_routed) = run(&routed);
    let (r_theirs, m_theirs) = rate(flat.len(), min, || {
        flat.iter()
            .map(|v| theirs.evaluate(&rsigma_eval::JsonEvent::borrow(v)).len())
            .sum()
    });
    println!("{name}: {} events, {} rules", nested.len(), rules.len());
    println!("  rsigma-eval                 {r_theirs:>12.0} ev/s  {m_theirs} matches");
    println!(
        "  rampart (all rules)         {r_all:>12.0} ev/s  {m_all} matches  x{:.1}",
        r_all / r_theirs
    );
    println!(
        "  rampart (log-source routed) {r_routed:>12.0} ev/s  {m_routed} matches  x{:.1}",
        r_routed / r_theirs
    );
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
    for d in &dirs {
        rules.extend(RuleSet::load_dir(d, &LoadOptions::default()).0);
    }
    let load = t.elapsed();
    let t = Instant::now();
    let engine = Engine::new(&rules, &Mappings::builtin());
    println!(
        "load+compile {} rules: {load:?}; engine build: {:?}",
        engine.len(),
        t.elapsed()
    );
    let t = Instant::now();
    let theirs = load_rsigma(&dirs, &|_| true);
    println!(
        "rsigma load+compile {} rules: {:?}",
        theirs.rule_count(),
        t.elapsed()
    );

    let events = common::evtx_events(&shared.join("datasets/evtx-attack-samples"));
    let flat: Vec<Value> = events
        .iter()
        .map(|e| common::flatten_windows(&e.fields))
        .collect();
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
    scenario(
        "(a) sysmon process creation",
        &rules,
        &theirs,
        &s_nested,
        &s_flat,
    );
    scenario(
        "(b) all EVTX corpus events",
        &rules,
        &theirs,
        &events,
        &flat,
    );

    let parser = match rampart_parse::Parser::new(rampart_parse::ParserConfig::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("parser: {e}");
            return;
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
    let linux_flat: Vec<Value> = linux
        .iter()
        .map(|e| Value::Object(e.fields.clone()))
        .collect();
    let mut linux_rules = rules.clone();
    let is_linux = |p: &Option<String>| p.as_deref() == Some("linux");
    linux_rules.retain(|m| is_linux(&m.logsource.product));
    let linux_theirs = load_rsigma(&dirs, &|r| is_linux(&r.logsource.product));
    scenario(
        "(c) linux syslog, linux rules",
        &linux_rules,
        &linux_theirs,
        &linux,
        &linux_flat,
    );
}
