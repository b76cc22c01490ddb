//! Any bytes, in any parser format: no panic, the raw record kept byte for byte, and the
//! event survives the WAL's encoding (what is accepted must replay after a crash).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_model::{Event, Origin, OriginKind, Raw};
use rampart_parse::{Parser, ParserConfig};
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fn parsers() -> &'static Vec<Parser> {
    static PARSERS: OnceLock<Vec<Parser>> = OnceLock::new();
    PARSERS.get_or_init(|| {
        common::parsers(ParserConfig {
            default_year: Some(2024),
            timezone: Some("Europe/Paris".to_owned()),
            ..ParserConfig::default()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, record)) = data.split_first() else {
        return;
    };
    let parsers = parsers();
    let parser = &parsers[selector as usize % parsers.len()];
    let event = parser.parse(record, Origin::new(OriginKind::Import, "fuzz"));
    assert_eq!(event.raw, Raw::from_bytes(record), "raw record not kept");
    if event.parse_error.is_some() {
        assert!(event.fields.is_empty(), "fields beside a parse error");
    }
    let encoded = serde_json::to_vec(&event).expect("event encodes");
    let decoded: Event = serde_json::from_slice(&encoded).expect("encoded event decodes");
    assert_eq!(decoded, event, "event changed through its WAL encoding");
});
