//! Any YAML as a Sigma rule file: diagnostics, never a panic; whatever loads compiles into
//! the detection and correlation engines, and as a baseline file into the baseline engine,
//! and runs over sample events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_detect::baseline::{BaselineEngine, BaselineOptions, BaselineSet};
use rampart_detect::{
    CorrelationEngine, CorrelationOptions, Engine, LoadOptions, Mappings, Matches, RuleSet,
};
use rampart_model::Event;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fn fixture() -> &'static (Mappings, Vec<Event>) {
    static FIXTURE: OnceLock<(Mappings, Vec<Event>)> = OnceLock::new();
    FIXTURE.get_or_init(|| (Mappings::builtin(), common::events()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (mappings, events) = fixture();
    let (rules, _diagnostics) = RuleSet::from_yaml_str(text, "fuzz.yml", &LoadOptions::default());
    let engine = Engine::new(&rules, mappings);
    let (mut correlations, _) =
        CorrelationEngine::new(&rules, &engine, mappings, CorrelationOptions::default());
    let mut matches = Matches::new();
    for (i, event) in events.iter().enumerate() {
        engine.evaluate(event, &mut matches);
        let _ = correlations.observe(event, event.timestamp.nanos(), i as u128, &matches);
    }
    let (baselines, _) = BaselineSet::from_yaml_str(text, "fuzz.yml", &LoadOptions::default());
    let (mut engine, _) = BaselineEngine::new(&baselines, mappings, BaselineOptions::default());
    // Two days of the samples, an hour apart, so that training ends and buckets close.
    let hour = 3_600_000_000_000i64;
    let mut ts = 1_700_000_000_000_000_000i64;
    for round in 0..48 {
        for (i, event) in events.iter().enumerate() {
            let _ = engine.observe(event, ts, (round * events.len() + i) as u128);
        }
        ts += hour;
        let _ = engine.tick(ts);
    }
});
