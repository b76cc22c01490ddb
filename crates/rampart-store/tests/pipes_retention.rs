//! Pipelines (pushed down or over rows) against hand counts and the reference `exec`;
//! retention by age and by size.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{event, table};
use rampart_model::Timestamp;
use rampart_store::{EmbeddedStore, EmbeddedStoreConfig, EventStore, RetentionPolicy};
use serde_json::{Value, json};

fn reference(query: &str, events: &[rampart_model::Event]) -> (Vec<String>, Vec<Vec<Value>>) {
    let search = rampart_query::parse(query).unwrap();
    let mut matching: Vec<_> = events
        .iter()
        .filter(|e| rampart_query::eval::matches(&search.filter, e))
        .collect();
    matching.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
    let rows = matching
        .iter()
        .map(|e| rampart_query::exec::event_row(e))
        .collect();
    let t = rampart_query::exec::apply_stages(&search.stages, rows).unwrap();
    (t.columns, t.rows)
}

fn rows(v: Value) -> Vec<Vec<Value>> {
    serde_json::from_value(v).unwrap()
}

#[test]
fn pipelines_match_hand_counts_and_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let (store, events) = common::loaded_store(dir.path());
    // (query, columns, rows, pushed down to the index)
    let hand: Vec<(&str, Vec<&str>, Value, bool)> = vec![
        (
            "* | stats count() by host.name",
            vec!["host.name", "count"],
            json!([
                ["web02", 7],
                ["web01", 6],
                ["db01", 4],
                ["fw01", 3],
                ["web03", 2],
                ["mail01", 1],
                ["WEB03", 1]
            ]),
            true,
        ),
        (
            "* | top 3 user.name",
            vec!["user.name", "count", "percent"],
            json!([
                ["alice", 4, 26.6667],
                ["admin", 1, 6.6667],
                ["bob", 1, 6.6667]
            ]),
            true,
        ),
        (
            "* | timechart span=10m count()",
            vec!["_time", "count"],
            json!([
                ["2024-03-01T09:00:00Z", 10],
                ["2024-03-01T09:10:00Z", 10],
                ["2024-03-01T09:20:00Z", 5]
            ]),
            true,
        ),
        ("* | stats count()", vec!["count"], json!([[25]]), true),
        (
            "nothing_matches_this | stats count()",
            vec!["count"],
            json!([[0]]),
            true,
        ),
        (
            "event.outcome:failure | stats count() by tenant",
            vec!["tenant", "count"],
            json!([["acme", 6], ["globex", 1], ["Initech", 1]]),
            true,
        ),
    ];
    for (query, columns, expected, pushed) in hand {
        let before = store.stats();
        let (c, r) = table(common::search(&store, None, query, 100));
        let after = store.stats();
        assert_eq!(c, columns, "{query}");
        assert_eq!(r, rows(expected), "{query}");
        assert_eq!(
            (c.clone(), r.clone()),
            reference(query, &events),
            "{query} vs exec"
        );
        assert_eq!(
            after.searches_indexed - before.searches_indexed,
            u64::from(pushed),
            "{query}: pushed down?"
        );
    }
    // Shapes only the reference knows by heart: the store must agree with it.
    for query in [
        "* | timechart span=10m count() by event.outcome",
        "* | timechart span=5m count() by host.name",
        "tenant:acme | stats count() by host.name, event.outcome | sort -count, host.name | head 3",
        "* | stats count() by source.port",
        "* | rare 2 process.name",
        "* | stats count(), dc(user.name) as users by host.name",
        "* | stats count() by tags",
        "source.port > 1000 | stats count() by host.name",
        "* | fields host.name, user.name | head 4",
        "* | sort user.name | head 3",
        "* | stats count() by event.risky",
        "* | top 2 host.name, event.outcome | where count > 1",
    ] {
        let got = table(common::search(&store, None, query, 100));
        assert_eq!(got, reference(query, &events), "{query}");
    }
}

#[test]
fn retention_by_age_deletes_only_old_events() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedStoreConfig {
        retention: RetentionPolicy {
            max_age_secs: Some(86_400),
            max_bytes: None,
        },
        ..common::config()
    };
    let store = EmbeddedStore::open(dir.path(), config).unwrap();
    let now = Timestamp::now().nanos();
    let day = 86_400_000_000_000i64;
    let mut batch = Vec::new();
    for i in 0..30 {
        batch.push(event(
            &format!("old{i}"),
            "acme",
            Timestamp(now - 3 * day - i),
        ));
    }
    for i in 0..20 {
        batch.push(event(
            &format!("new{i}"),
            "acme",
            Timestamp(now - day / 2 - i),
        ));
    }
    store.append(batch).unwrap();
    store.refresh().unwrap();
    let report = store.apply_retention().unwrap();
    assert_eq!(report.deleted_by_age, 30);
    assert_eq!(report.deleted_by_size, 0);
    let (total, _) = common::labels(&common::search(&store, None, "*", 0));
    assert_eq!(total, 20);
    assert_eq!(
        common::labels(&common::search(&store, None, "label:old*", 0)).0,
        0
    );
    let stats = store.stats();
    assert_eq!(stats.retention_deleted_events, 30);
    assert_eq!(stats.docs, 20);
    // A second run finds nothing more to delete.
    assert_eq!(store.apply_retention().unwrap().deleted_by_age, 0);
}

#[test]
fn retention_by_size_deletes_the_oldest_hours_first() {
    let dir = tempfile::tempdir().unwrap();
    let hour = 3_600_000_000_000i64;
    let base = Timestamp::parse_rfc3339("2024-01-01T00:00:00Z")
        .unwrap()
        .nanos();
    {
        let store = common::open(dir.path());
        for h in 0..20 {
            let batch: Vec<_> = (0..100)
                .map(|i| {
                    let mut e = event(
                        &format!("h{h}i{i}"),
                        "acme",
                        Timestamp(base + h * hour + i * 1_000_000),
                    );
                    e.set(
                        "message",
                        format!("hour {h} event {i} with some padding text to take space"),
                    );
                    e
                })
                .collect();
            store.append(batch).unwrap();
        }
        store.close().unwrap();
    }
    let full = {
        let store = common::open(dir.path());
        store.stats().index_bytes
    };
    assert!(full > 0);
    let config = EmbeddedStoreConfig {
        retention: RetentionPolicy {
            max_age_secs: None,
            max_bytes: Some(full / 2),
        },
        ..common::config()
    };
    let store = EmbeddedStore::open(dir.path(), config).unwrap();
    let report = store.apply_retention().unwrap();
    assert!(report.deleted_by_size >= 900, "{report:?}");
    assert!(report.deleted_by_size <= 1200, "{report:?}");
    assert_eq!(
        report.deleted_by_size % 100,
        0,
        "whole hours go: {report:?}"
    );
    let cutoff = report.size_cutoff.unwrap().nanos();
    let left = 2000 - report.deleted_by_size;
    assert_eq!(
        common::labels(&common::search(&store, None, "*", 0)).0,
        left
    );
    // Everything left is at or after the cut-off; the oldest hour is gone.
    assert_eq!(
        common::labels(&common::search(&store, None, "label:h0i*", 0)).0,
        0
    );
    assert_eq!(
        common::labels(&common::search(&store, None, "label:h19i*", 0)).0,
        100
    );
    assert_eq!(cutoff % hour, 0);
}

#[test]
fn overload_pushes_back_and_close_is_final() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedStoreConfig {
        max_lag_events: 10,
        overload_wait: std::time::Duration::from_millis(1),
        ..common::config()
    };
    let store = EmbeddedStore::open(dir.path(), config).unwrap();
    // Many concurrent appenders against a tiny lag budget: some must be refused, none lost.
    let accepted: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let store = &store;
                s.spawn(move || {
                    let mut ok = 0u64;
                    for b in 0..50 {
                        let batch: Vec<_> = (0..8)
                            .map(|i| event(&format!("t{t}b{b}i{i}"), "acme", Timestamp(i)))
                            .collect();
                        match store.append(batch) {
                            Ok(r) => ok += r.count as u64,
                            Err(rampart_store::StoreError::Overloaded { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    ok
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    store.refresh().unwrap();
    let stats = store.stats();
    assert_eq!(stats.docs, accepted);
    assert_eq!(stats.events_appended, accepted);
    assert_eq!(accepted + stats.overload_rejections * 8, 4 * 50 * 8);
    // Every refused append had waited first.
    assert!(stats.overload_waits >= stats.overload_rejections);
    store.close().unwrap();
    assert!(matches!(
        store.append(vec![event("late", "acme", Timestamp(0))]),
        Err(rampart_store::StoreError::Closed)
    ));
}

/// Push-back holds appends while the indexer's queue is full, and the stats tell the queue
/// (what `max_lag_events` bounds) from the events not yet searchable (which include the
/// index writer's uncommitted ones, so they may pass the limit).
#[test]
fn push_back_bounds_the_indexer_queue_and_is_counted() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedStoreConfig {
        max_lag_events: 8,
        overload_wait: std::time::Duration::from_secs(60),
        // No commit while appending: everything taken stays in the writer, unsearchable.
        commit_interval: std::time::Duration::from_secs(3600),
        ..common::config()
    };
    let store = EmbeddedStore::open(dir.path(), config).unwrap();
    let done = AtomicBool::new(false);
    let (max_queue, max_unsearchable) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let st = store.stats();
                max_queue.fetch_max(st.index_queue_events, Ordering::Relaxed);
                max_unsearchable.fetch_max(st.indexing_lag_events, Ordering::Relaxed);
            }
        });
        let appenders: Vec<_> = (0..8)
            .map(|t| {
                let store = &store;
                s.spawn(move || {
                    for b in 0..40 {
                        let batch: Vec<_> = (0..8)
                            .map(|i| event(&format!("t{t}b{b}i{i}"), "acme", Timestamp(i)))
                            .collect();
                        store.append(batch).unwrap();
                    }
                })
            })
            .collect();
        for a in appenders {
            a.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        sampler.join().unwrap();
    });
    let stats = store.stats();
    assert_eq!(stats.events_appended, 8 * 40 * 8);
    assert_eq!(stats.overload_rejections, 0);
    // Eight appenders of one full batch each against room for one batch: they queue.
    assert!(stats.overload_waits > 0, "{stats:?}");
    assert!(max_queue.load(Ordering::Relaxed) <= 8);
    // Nothing was committed yet: every acknowledged event is still unsearchable, far past
    // the queue limit, and none of them is lost.
    assert_eq!(stats.indexing_lag_events, 8 * 40 * 8);
    assert!(max_unsearchable.load(Ordering::Relaxed) > 8);
    store.refresh().unwrap();
    let stats = store.stats();
    assert_eq!(
        (
            stats.docs,
            stats.indexing_lag_events,
            stats.index_queue_events
        ),
        (8 * 40 * 8, 0, 0)
    );
}
