//! Any record, parsed in any format, appended to the embedded store: it is indexed without
//! a panic (hostile keys and values included), found again by id, and searches and
//! aggregations over its fields run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_model::{Origin, OriginKind};
use rampart_parse::{Parser, ParserConfig};
use rampart_store::{EmbeddedStore, EventStore, SearchRequest};
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

struct Fixture {
    store: EmbeddedStore,
    parsers: Vec<Parser>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (store, dir) = common::temp_store();
        let parsers = common::parsers(ParserConfig::default());
        Fixture {
            store,
            parsers,
            _dir: dir,
        }
    })
}

fn search(store: &EmbeddedStore, query: &str) {
    if let Ok(search) = rampart_query::parse(query) {
        let _ = store.search(&SearchRequest::new(search));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, record)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let parser = &f.parsers[selector as usize % f.parsers.len()];
    let event = parser.parse(record, Origin::new(OriginKind::Import, "fuzz"));
    let id = event.id;
    let mut paths = Vec::new();
    rampart_model::fields::for_each_leaf(&event.fields, &mut |path, _| paths.push(path.to_owned()));
    f.store.append(vec![event.clone()]).expect("append");
    f.store.refresh().expect("refresh");
    let stored = f
        .store
        .get(None, id)
        .expect("get")
        .expect("appended event found");
    assert_eq!(stored, event, "stored event differs");
    search(&f.store, "*");
    for path in paths.iter().take(4) {
        let quoted = path
            .replace('\\', "\\\\")
            .replace(' ', "\\ ")
            .replace(':', "\\:");
        search(&f.store, &format!("{quoted}:*"));
        search(
            &f.store,
            &format!("* | stats count(), dc({quoted}) by {quoted}"),
        );
        search(&f.store, &format!("* | top 3 {quoted}"));
    }
});
