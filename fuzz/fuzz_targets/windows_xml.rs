//! Any bytes as a Windows XML export (`wevtutil qe /f:xml`): records or per-record errors,
//! never a panic or an endless loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_model::{Event, Origin, OriginKind};

fuzz_target!(|data: &[u8]| {
    let origin = Origin::new(OriginKind::Import, "fuzz");
    // A record is at least one byte of input, so more items than bytes means a loop.
    for (n, item) in rampart_parse::winxml::read(data, origin).enumerate() {
        assert!(n <= data.len(), "more records than input bytes");
        if let Ok(event) = item {
            let encoded = serde_json::to_vec(&event).expect("event encodes");
            let _: Event = serde_json::from_slice(&encoded).expect("encoded event decodes");
        }
    }
});
