#![allow(clippy::unwrap_used)]
use rampart_detect::{Engine, LoadOptions, Mappings, Matches, RuleSet, Routing};
use rampart_model::{Origin, OriginKind};
use std::time::Instant;
fn main() {
    let parser = rampart_parse::Parser::new(rampart_parse::ParserConfig::default()).unwrap();
    let mut evs = Vec::new();
    for f in ["Linux_2k.log", "OpenSSH_2k.log"] {
        let text = std::fs::read_to_string(format!("/work/shared/datasets/loghub/{f}")).unwrap();
        for line in text.lines() {
            evs.push(parser.parse(line.as_bytes(), Origin::new(OriginKind::File, "bench")));
        }
    }
    let mut rules = RuleSet::default();
    for d in ["rules", "rules-emerging-threats", "rules-threat-hunting"] {
        let (set, _) = RuleSet::load_dir(std::path::Path::new(&format!("/work/shared/sigma/{d}")), &LoadOptions::default());
        rules.extend(set);
    }
    rules.retain(|m| m.logsource.product.as_deref() == Some("linux"));
    let all = std::env::var("ALL").is_ok();
    let e = if all { Engine::with_routing(&rules, &Mappings::builtin(), Routing::AllRules) } else { Engine::new(&rules, &Mappings::builtin()) };
    let (c, n) = e.classify(&evs[0]);
    println!("class {c:?} rules {n}");
    let mut m = Matches::new();
    let secs: f64 = std::env::var("SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let t = Instant::now();
    let mut k = 0usize; let mut hits = 0;
    while t.elapsed().as_secs_f64() < secs {
        for ev in &evs { e.evaluate(ev, &mut m); hits += m.len(); }
        k += evs.len();
    }
    println!("{:.0} ev/s hits {hits}", k as f64 / t.elapsed().as_secs_f64());
}
