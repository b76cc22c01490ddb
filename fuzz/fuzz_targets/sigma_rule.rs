//! Any YAML as a Sigma rule file: diagnostics, never a panic; whatever loads compiles into
//! the detection and correlation engines and runs over sample events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_detect::{
    CorrelationEngine, CorrelationOptions, Engine, LoadOptions, Mappings, Matches, RuleSet,
};
use rampart_model::Event;
use std::sync::OnceLock;

#[path = "samples.rs"]
mod samples;

fn fixture() -> &'static (Mappings, Vec<Event>) {
    static FIXTURE: OnceLock<(Mappings, Vec<Event>)> = OnceLock::new();
    FIXTURE.get_or_init(|| (Mappings::builtin(), samples::events()))
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
});
