//! Any query text against the embedded store (tantivy translation, column aggregations):
//! no panic, and a filter's hits are exactly the events the reference evaluator
//! (`rampart_query::eval::matches`) accepts — for all tenants and for one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_model::Event;
use rampart_store::{EmbeddedStore, EventStore, SearchRequest, SearchResult};
use std::collections::BTreeSet;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

struct Fixture {
    store: EmbeddedStore,
    events: Vec<Event>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (store, dir) = common::temp_store();
        let events = common::events();
        store.append(events.clone()).expect("append");
        store.refresh().expect("refresh");
        Fixture {
            store,
            events,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(search) = rampart_query::parse(text) else {
        return;
    };
    let f = fixture();
    for tenant in [None, Some("acme")] {
        let request = SearchRequest {
            tenant: tenant.map(str::to_owned),
            limit: 1000,
            ..SearchRequest::new(search.clone())
        };
        let Ok(response) = f.store.search(&request) else {
            continue;
        };
        if !search.stages.is_empty() {
            continue;
        }
        let SearchResult::Events { total, events } = response.result else {
            panic!("a filter without pipes gave a table");
        };
        let got: BTreeSet<_> = events.iter().map(|e| e.id).collect();
        let want: BTreeSet<_> = f
            .events
            .iter()
            .filter(|e| tenant.is_none_or(|t| e.tenant == t))
            .filter(|e| rampart_query::eval::matches(&search.filter, e))
            .map(|e| e.id)
            .collect();
        assert_eq!(
            got, want,
            "store and reference disagree on {text:?} ({tenant:?})"
        );
        assert_eq!(total as usize, want.len(), "total of {text:?}");
    }
});
