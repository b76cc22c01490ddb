//! Loading the SigmaHQ corpus: compile rate and failure reasons by category.
#![allow(clippy::unwrap_used)]

mod common;
use rampart_detect::{LoadOptions, RuleSet};
use std::collections::BTreeMap;

#[test]
fn sigmahq_corpus_compiles() {
    let Some(shared) = common::shared("sigma corpus load") else {
        return;
    };
    let mut total_ok = 0;
    let mut total_bad = 0;
    for dir in common::RULE_DIRS {
        let path = shared.join("sigma").join(dir);
        let t = std::time::Instant::now();
        let (set, diags) = RuleSet::load_dir(&path, &LoadOptions::default());
        let elapsed = t.elapsed();
        let mut by_cat: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for d in &diags {
            by_cat
                .entry(d.category.as_str())
                .or_default()
                .push(d.to_string());
        }
        let rate = set.len() as f64 / (set.len() + diags.len()).max(1) as f64 * 100.0;
        println!(
            "{dir}: {} rules, {} correlations, {} filters, {} diagnostics, {rate:.2}% compiled, {elapsed:?}",
            set.len(),
            set.correlations().len(),
            set.filters().len(),
            diags.len()
        );
        for (cat, v) in &by_cat {
            println!("  {cat}: {}", v.len());
            for d in v.iter().take(5) {
                println!("    {d}");
            }
        }
        total_ok += set.len();
        total_bad += diags.len();
        assert!(rate >= 99.0, "{dir}: compile rate {rate:.2}% below 99%");
    }
    println!("total: {total_ok} compiled, {total_bad} diagnostics");
}
