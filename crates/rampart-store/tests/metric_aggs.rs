//! `stats` with `dc`, `sum`, `avg`, `min` and `max` computed from index columns must equal
//! `rampart_query::exec::apply_stages` over the same events — and must actually be pushed
//! down when the values allow it (numbers, numeric strings, text, booleans, arrays, across
//! index segments), falling back to loaded events when they do not (floats, overflow).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::table;
use rampart_model::{Event, Origin, OriginKind, Raw, Timestamp};
use rampart_store::{EmbeddedStore, EventStore};
use serde_json::{Value, json};

fn reference(query: &str, events: &[Event]) -> (Vec<String>, Vec<Vec<Value>>) {
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

/// Events whose `bytes`, `mixed`, `big` and `flag` fields exercise value kinds.
fn extra_events() -> Vec<Event> {
    let base = Timestamp::parse_rfc3339("2024-03-01T10:00:00Z").unwrap();
    let rows = [
        json!({"host": {"name": "web01"}, "bytes": 100, "mixed": "zeta", "flag": true, "big": 9_000_000_000_000_000_000i64}),
        json!({"host": {"name": "web01"}, "bytes": "250", "mixed": 7, "flag": false, "big": 9_000_000_000_000_000_000i64}),
        json!({"host": {"name": "web02"}, "bytes": [1, 2, "3"], "mixed": "Alpha", "big": 1}),
        json!({"host": {"name": "web02"}, "bytes": -40, "mixed": "alpha", "ratio": 0.5}),
        json!({"host": {"name": "web03"}, "bytes": " 12 ", "mixed": ["beta", "Beta"], "ratio": "1.5"}),
        json!({"host": {"name": "web03"}, "mixed": null, "flag": true}),
        json!({"host": {"name": "db01"}, "bytes": "n/a", "mixed": "-3"}),
    ];
    rows.into_iter()
        .enumerate()
        .map(|(i, fields)| {
            let mut e = Event::new(
                Origin::new(OriginKind::Import, "metrics"),
                Raw::Text(format!("metric event {i}")),
            );
            e.timestamp = Timestamp(base.0 + i as i64 * 1_000_000_000);
            e.tenant = "acme".into();
            e.fields = fields.as_object().unwrap().clone();
            e.set("label", format!("m{i}"));
            e
        })
        .collect()
}

fn loaded(dir: &std::path::Path) -> (EmbeddedStore, Vec<Event>) {
    let (store, mut events) = common::loaded_store(dir);
    let extra = extra_events();
    // A third segment holding the odd values, split in two to cross segments again.
    let (a, b) = extra.split_at(3);
    store.append(a.to_vec()).unwrap();
    store.refresh().unwrap();
    store.append(b.to_vec()).unwrap();
    store.refresh().unwrap();
    events.extend(extra);
    (store, events)
}

#[test]
fn metric_aggregations_agree_with_exec_and_push_down() {
    let dir = tempfile::tempdir().unwrap();
    let (store, events) = loaded(dir.path());
    // (query, computed from columns)
    let cases: &[(&str, bool)] = &[
        ("* | stats sum(source.port) by host.name", true),
        (
            "* | stats avg(source.port), min(source.port), max(source.port) by host.name",
            true,
        ),
        ("* | stats dc(user.name) by host.name", true),
        (
            "* | stats count(), dc(user.name) as users by host.name",
            true,
        ),
        ("* | stats dc(source.port), dc(source.ip)", true),
        ("* | stats min(user.name), max(user.name) by tenant", true),
        ("* | stats min(host.name), max(host.name)", true),
        (
            "event.outcome:failure | stats sum(source.port) by source.ip",
            true,
        ),
        (
            "* | stats sum(source.port), max(process.pid) by host.name, event.outcome",
            true,
        ),
        (
            "* | stats sum(bytes), avg(bytes), min(bytes), max(bytes) by host.name",
            true,
        ),
        (
            "* | stats dc(bytes), dc(mixed), dc(flag) by host.name",
            true,
        ),
        ("* | stats min(mixed), max(mixed) by host.name", true),
        ("* | stats min(mixed), max(mixed)", true),
        ("* | stats min(flag), max(flag), sum(flag), avg(flag)", true),
        ("* | stats dc(tags), min(tags) by host.name", true),
        (
            "* | stats sum(no.such.field), avg(no.such.field), dc(no.such.field)",
            true,
        ),
        (
            "nothing_matches_this | stats sum(source.port), dc(user.name), avg(source.port), min(user.name)",
            true,
        ),
        (
            "nothing_matches_this | stats sum(source.port) by host.name",
            true,
        ),
        (
            "* | stats sum(source.port) as total by host.name | sort -total | head 2",
            true,
        ),
        // Floats (as numbers or numeric text) and sums that could overflow: over events.
        ("* | stats sum(ratio), avg(ratio) by host.name", false),
        ("* | stats max(system.disk.pct)", false),
        ("* | stats sum(big), avg(big)", false),
        // Typed members have no column: over events.
        ("* | stats dc(@timestamp)", false),
    ];
    let mut failures = Vec::new();
    for (query, pushed) in cases {
        let before = store.stats();
        let got = table(common::search(&store, None, query, 100));
        let after = store.stats();
        let want = reference(query, &events);
        if got != want {
            failures.push(format!("{query}:\n  store {got:?}\n  exec  {want:?}"));
        }
        let indexed = after.searches_indexed - before.searches_indexed == 1;
        if indexed != *pushed {
            failures.push(format!("{query}: pushed down {indexed}, expected {pushed}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn metric_aggregations_scale_past_the_scan_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = rampart_store::EmbeddedStoreConfig {
        max_scan_events: 10,
        ..common::config()
    };
    let store = EmbeddedStore::open(dir.path(), config).unwrap();
    let events: Vec<Event> = (0..200)
        .map(|i| {
            let mut e = common::event(&format!("e{i}"), "acme", Timestamp(i * 1_000_000_000));
            e.set("source.ip", format!("10.0.0.{}", i % 4));
            e.set("source.bytes", i);
            e.set("user.name", format!("u{}", i % 7));
            e
        })
        .collect();
    store.append(events.clone()).unwrap();
    store.refresh().unwrap();
    for query in [
        "* | stats sum(source.bytes) by source.ip",
        "* | stats dc(user.name), avg(source.bytes), min(source.bytes), max(source.bytes) by source.ip",
    ] {
        let got = table(common::search(&store, None, query, 100));
        assert_eq!(got, reference(query, &events), "{query}");
    }
    // Sanity: the hand sum for 10.0.0.0 is 0 + 4 + … + 196.
    let (_, rows) = table(common::search(
        &store,
        None,
        "source.ip:10.0.0.0 | stats sum(source.bytes)",
        100,
    ));
    assert_eq!(rows, vec![vec![json!((0..200).step_by(4).sum::<i64>())]]);
}

/// `stats count() by F`, `top` and `rare` over thousands of values spread over several
/// segments — some with deleted documents, some values in mixed case, arrays, numeric text
/// and missing fields — equal `exec`'s, on the match-all path and on filtered ones, and are
/// computed from the index.
#[test]
fn counts_by_many_values_agree_with_exec() {
    let dir = tempfile::tempdir().unwrap();
    let config = rampart_store::EmbeddedStoreConfig {
        retention: rampart_store::RetentionPolicy {
            max_age_secs: Some(86_400),
            max_bytes: None,
        },
        max_scan_events: 100,
        ..common::config()
    };
    let store = EmbeddedStore::open(dir.path(), config).unwrap();
    let now = Timestamp::now().nanos();
    let day = 86_400_000_000_000i64;
    let make = |i: i64, old: bool| {
        let ts = if old {
            now - 3 * day - i
        } else {
            now - day / 2 + i
        };
        let mut e = common::event(
            &format!("e{i}"),
            ["acme", "initech"][(i % 2) as usize],
            Timestamp(ts),
        );
        match i % 9 {
            0 => {}
            1 => e.set(
                "source.ip",
                json!([format!("10.0.{}.{}", i % 7, i % 50), "10.9.9.9"]),
            ),
            2 => e.set("source.ip", format!("Host-{}", i % 300)),
            3 => e.set("source.ip", format!("host-{}", i % 300)),
            4 => e.set("source.ip", format!("{}", i % 40)),
            _ => e.set("source.ip", format!("10.{}.{}.{}", i % 3, i % 256, i % 97)),
        }
        e
    };
    let mut events = Vec::new();
    // Three appends with commits between: three or more segments, the first with old
    // events that retention deletes.
    for (part, range) in [(0, 0..1500), (1, 1500..3000), (2, 3000..4000)] {
        let batch: Vec<Event> = range
            .clone()
            .map(|i| make(i, part == 0 && i % 3 == 0))
            .collect();
        events.extend(
            batch
                .iter()
                .filter(|e| e.timestamp.nanos() > now - day)
                .cloned(),
        );
        store.append(batch).unwrap();
        store.refresh().unwrap();
    }
    assert!(store.apply_retention().unwrap().deleted_by_age > 0);
    let cases = [
        "* | stats count() by source.ip",
        "* | stats count() as n by source.ip | head 20",
        "* | top 15 source.ip",
        "* | rare 15 source.ip",
        "tenant:acme | stats count() by source.ip",
        "label:e1* | top 5 source.ip",
        "NOT source.ip:10.9.9.9 | stats count() by source.ip",
        "* | stats count() by no.such.field",
    ];
    let mut failures = Vec::new();
    for query in cases {
        let before = store.stats();
        let got = table(common::search(&store, None, query, 100));
        let after = store.stats();
        let want = reference(query, &events);
        if got != want {
            failures.push(format!(
                "{query}: store {} rows, exec {} rows; first differences: {:?}",
                got.1.len(),
                want.1.len(),
                got.1
                    .iter()
                    .zip(&want.1)
                    .filter(|(a, b)| a != b)
                    .take(3)
                    .collect::<Vec<_>>()
            ));
        }
        if after.searches_indexed - before.searches_indexed != 1 {
            failures.push(format!("{query}: not computed from the index"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
