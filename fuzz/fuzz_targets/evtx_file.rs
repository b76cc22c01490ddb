//! Any bytes as an EVTX file: an open error, records, or per-record errors — never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_model::{Origin, OriginKind};

fuzz_target!(|data: &[u8]| {
    let origin = Origin::new(OriginKind::Import, "fuzz");
    if let Ok(records) = rampart_parse::evtx::read_bytes(data.to_vec(), origin) {
        for (n, _item) in records.enumerate() {
            assert!(n <= data.len(), "more records than input bytes");
        }
    }
});
