//! Any query text: a parse error with a position inside the text, or a query whose filter
//! and pipes run over sample events without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_model::Event;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fn events() -> &'static Vec<Event> {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(common::events)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match rampart_query::parse(text) {
        Err(e) => {
            // The position points into the text (the end at most), on a character boundary.
            assert!(e.position <= text.len(), "{e:?} outside {text:?}");
            assert!(
                text.is_char_boundary(e.position),
                "{e:?} inside a character of {text:?}"
            );
        }
        Ok(search) => {
            let rows = events()
                .iter()
                .filter(|e| rampart_query::eval::matches(&search.filter, e))
                .map(rampart_query::exec::event_row)
                .collect();
            let _ = rampart_query::exec::apply_stages(&search.stages, rows);
        }
    }
});
