//! Differential test: every EVTX corpus event against every SigmaHQ rule, Rampart vs rsigma-eval 0.23.0.
#![allow(clippy::unwrap_used)]
//!
//! Like is compared with like: neither engine routes by log source (Rampart with
//! [`Routing::AllRules`]); Rampart reads the nested event through its built-in Windows
//! field mapping, rsigma reads a flat object with every Sigma field already placed where
//! that mapping would find it (see `common::flatten_windows`).

mod common;
use rampart_detect::{Engine, LoadOptions, Mappings, Matches, Routing, RuleSet};
use std::collections::{BTreeMap, HashMap, HashSet};

#[test]
fn same_matches_as_rsigma() {
    let Some(shared) = common::shared("differential test") else {
        return;
    };
    let events = common::evtx_events(&shared.join("datasets/evtx-attack-samples"));
    assert!(!events.is_empty());

    let mut ours = RuleSet::default();
    let mut theirs = rsigma_eval::Engine::new();
    let mut their_failed = 0;
    for dir in common::RULE_DIRS {
        let (set, _) = RuleSet::load_dir(&shared.join("sigma").join(dir), &LoadOptions::default());
        ours.extend(set);
        for f in common::files(&shared.join("sigma").join(dir), "yml") {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let Ok(c) = rsigma_parser::parse_sigma_yaml(&text) else {
                continue;
            };
            for r in &c.rules {
                if theirs.add_rule(r).is_err() {
                    their_failed += 1;
                }
            }
        }
    }
    let key = |id: &Option<String>, title: &str| id.clone().unwrap_or_else(|| title.to_owned());
    let our_keys: Vec<String> = ours.rules().map(|m| key(&m.id, &m.title)).collect();
    let our_set: HashSet<&String> = our_keys.iter().collect();
    let engine = Engine::with_routing(&ours, &Mappings::builtin(), Routing::AllRules);
    println!(
        "rules: rampart {}, rsigma {} ({their_failed} refused); events: {}",
        engine.len(),
        theirs.rule_count(),
        events.len()
    );

    let mut m = Matches::new();
    let (mut n_ours, mut n_theirs) = (0usize, 0usize);
    let mut diffs: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    let mut examples: HashMap<(String, &'static str), String> = HashMap::new();
    for ev in &events {
        engine.evaluate(ev, &mut m);
        let a: HashSet<&String> = m.rules().iter().map(|i| &our_keys[*i as usize]).collect();
        let flat = common::flatten_windows(&ev.fields);
        let res = theirs.evaluate(&rsigma_eval::JsonEvent::borrow(&flat));
        let b: HashSet<String> = res
            .iter()
            .map(|r| key(&r.header.rule_id, &r.header.rule_title))
            .filter(|k| our_set.contains(k))
            .collect();
        n_ours += a.len();
        n_theirs += b.len();
        for k in a.iter().filter(|k| !b.contains(**k)) {
            let e = ((*k).clone(), "only rampart");
            *diffs.entry(e.clone()).or_default() += 1;
            examples.entry(e).or_insert_with(|| flat.to_string());
        }
        for k in b.iter().filter(|k| !a.contains(k)) {
            let e = (k.clone(), "only rsigma");
            *diffs.entry(e.clone()).or_default() += 1;
            examples.entry(e).or_insert_with(|| flat.to_string());
        }
    }
    println!(
        "matches: rampart {n_ours}, rsigma {n_theirs}, disagreeing rules {}",
        diffs.len()
    );
    for ((rule, side), n) in &diffs {
        println!("  {side}: {rule} ({n} events)");
        if let Some(ex) = examples.get(&(rule.clone(), *side)) {
            println!("    e.g. {}", &ex[..ex.len().min(600)]);
        }
    }
    // Disagreements explained as documented rsigma deviations from the specification
    // (see the README, "Differential test"); everything else must agree.
    let explained: &[&str] = &[];
    let unexplained: Vec<_> = diffs
        .keys()
        .filter(|(r, _)| !explained.contains(&r.as_str()))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} unexplained disagreements",
        unexplained.len()
    );
}
