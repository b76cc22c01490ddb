//! Shared helpers for the store's integration tests: stores in temp dirs, events, queries.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use rampart_model::{Event, Origin, OriginKind, Raw, Timestamp};
use rampart_store::{EmbeddedStore, EmbeddedStoreConfig, EventStore, SearchRequest, SearchResult};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

pub fn config() -> EmbeddedStoreConfig {
    EmbeddedStoreConfig {
        commit_interval: Duration::from_millis(200),
        writer_memory_bytes: 20 * 1024 * 1024,
        ..EmbeddedStoreConfig::default()
    }
}

pub fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(dir, config()).expect("open store")
}

/// A syslog-like event with a label field to find it by.
pub fn event(label: &str, tenant: &str, ts: Timestamp) -> Event {
    let mut e = Event::new(
        Origin::new(OriginKind::Import, "test"),
        Raw::Text(format!("event {label}")),
    );
    e.timestamp = ts;
    e.tenant = tenant.to_owned();
    e.set("label", label);
    e
}

pub fn search(
    store: &EmbeddedStore,
    tenant: Option<&str>,
    query: &str,
    limit: usize,
) -> SearchResult {
    let search = rampart_query::parse(query).unwrap_or_else(|e| panic!("parse {query}: {e}"));
    let req = SearchRequest {
        tenant: tenant.map(str::to_owned),
        search,
        from: None,
        to: None,
        limit,
    };
    store
        .search(&req)
        .unwrap_or_else(|e| panic!("search {query}: {e}"))
        .result
}

/// (total, labels of returned events in order)
pub fn labels(result: &SearchResult) -> (u64, Vec<String>) {
    match result {
        SearchResult::Events { total, events } => (
            *total,
            events
                .iter()
                .map(|e| e.get_str("label").unwrap_or_default())
                .collect(),
        ),
        SearchResult::Table { .. } => panic!("expected events, got a table"),
    }
}

pub fn table(result: SearchResult) -> (Vec<String>, Vec<Vec<serde_json::Value>>) {
    match result {
        SearchResult::Table { columns, rows } => (columns, rows),
        SearchResult::Events { .. } => panic!("expected a table, got events"),
    }
}

/// The ~25 events of `tests/data/fixture.json`, each with a `label` field.
pub fn fixture() -> Vec<Event> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/fixture.json"
    ))
    .unwrap();
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap();
    let base = Timestamp::parse_rfc3339("2024-03-01T09:00:00Z").unwrap();
    rows.into_iter()
        .map(|r| {
            let mut e = Event::new(
                Origin::new(OriginKind::Import, "fixture"),
                Raw::Text(r["raw"].as_str().unwrap().to_owned()),
            );
            e.tenant = r["tenant"].as_str().unwrap().to_owned();
            e.timestamp = Timestamp(base.0 + r["min"].as_i64().unwrap() * 60_000_000_000);
            e.parse_error = r["parse_error"].as_str().map(str::to_owned);
            e.fields = r["fields"].as_object().unwrap().clone();
            e.set("label", r["label"].as_str().unwrap());
            e
        })
        .collect()
}

pub fn loaded_store(dir: &std::path::Path) -> (EmbeddedStore, Vec<Event>) {
    let store = open(dir);
    let events = fixture();
    // Two appends and a commit between them: results must merge across index segments.
    let (a, b) = events.split_at(12);
    store.append(a.to_vec()).unwrap();
    store.refresh().unwrap();
    store.append(b.to_vec()).unwrap();
    store.refresh().unwrap();
    (store, events)
}
