//! Durable WAL consumers: order, resumption after close and reopen, WAL pinning across
//! segment rolls and index commits, concurrent appends, bad names, closing wakes pollers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{config, event};
use rampart_model::Timestamp;
use rampart_store::{ConsumedEvent, EmbeddedStore, EmbeddedStoreConfig, EventConsumer, EventStore};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_millis(200);

fn small_segments() -> EmbeddedStoreConfig {
    EmbeddedStoreConfig {
        wal_segment_bytes: 4 * 1024,
        ..config()
    }
}

fn append_labels(store: &EmbeddedStore, from: usize, n: usize) -> Vec<String> {
    let labels: Vec<String> = (from..from + n).map(|i| format!("e{i}")).collect();
    let events = labels
        .iter()
        .map(|l| event(l, "default", Timestamp::from_secs(1_700_000_000)))
        .collect();
    store.append(events).unwrap();
    labels
}

/// Poll until `n` events arrived (or a poll comes back empty).
fn drain(consumer: &mut dyn EventConsumer, n: usize) -> Vec<ConsumedEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        let got = consumer.poll(7, WAIT).unwrap();
        if got.is_empty() {
            break;
        }
        out.extend(got);
    }
    out
}

fn label_list(events: &[ConsumedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|c| c.event.get_str("label").unwrap())
        .collect()
}

fn assert_consecutive(events: &[ConsumedEvent]) {
    for pair in events.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "sequence numbers have a gap");
    }
}

fn wal_segments(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("wal")).unwrap().count()
}

#[test]
fn new_consumer_starts_after_existing_events_and_reads_new_ones_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), config()).unwrap();
    append_labels(&store, 0, 5);
    let mut c = store.consumer("detection").unwrap();
    assert_eq!(c.committed(), 5);
    assert_eq!(c.head(), 5);
    assert!(
        c.poll(100, WAIT).unwrap().is_empty(),
        "old events are not delivered"
    );
    let sent = append_labels(&store, 5, 20);
    let got = drain(c.as_mut(), 20);
    assert_eq!(label_list(&got), sent);
    assert_eq!(got[0].seq, 6);
    assert_consecutive(&got);
    assert!(c.poll(10, WAIT).unwrap().is_empty());
    c.commit(got[got.len() - 1].seq).unwrap();
    assert_eq!(c.committed(), 25);
    assert_eq!(store.stats().consumers.get("detection"), Some(&25));
}

#[test]
fn consumer_resumes_after_reopen_and_pins_the_wal_across_index_commits() {
    let dir = tempfile::tempdir().unwrap();
    let sent = {
        let store = EmbeddedStore::open(dir.path(), small_segments()).unwrap();
        let mut c = store.consumer("detection").unwrap();
        let mut sent = Vec::new();
        for b in 0..20 {
            sent.extend(append_labels(&store, b * 10, 10));
        }
        // Read 50, commit 30: the last 20 read are uncommitted and must come again.
        let got = drain(c.as_mut(), 50);
        assert_eq!(label_list(&got[..50]), sent[..50]);
        c.commit(got[29].seq).unwrap();
        // Index everything: without the consumer the WAL would be emptied now.
        store.refresh().unwrap();
        store.refresh().unwrap();
        assert!(
            wal_segments(dir.path()) > 2,
            "the consumer keeps its segments"
        );
        store.close().unwrap();
        sent
    };
    let store = EmbeddedStore::open(dir.path(), small_segments()).unwrap();
    let more = append_labels(&store, 200, 10);
    let mut c = store.consumer("detection").unwrap();
    assert_eq!(c.committed(), 30);
    let got = drain(c.as_mut(), 180);
    let mut want: Vec<String> = sent[30..].to_vec();
    want.extend(more);
    assert_eq!(
        label_list(&got),
        want,
        "resumes right after the committed position"
    );
    assert_consecutive(&got);
    // Once the consumer commits everything, the index commit lets the WAL go.
    c.commit(got[got.len() - 1].seq).unwrap();
    store.refresh().unwrap();
    append_labels(&store, 300, 1);
    store.refresh().unwrap();
    assert!(
        wal_segments(dir.path()) <= 2,
        "segments below every position are removed"
    );
}

#[test]
fn a_removed_consumer_no_longer_keeps_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), small_segments()).unwrap();
    let c = store.consumer("gone").unwrap();
    drop(c);
    for b in 0..20 {
        append_labels(&store, b * 10, 10);
    }
    store.refresh().unwrap();
    assert!(
        wal_segments(dir.path()) > 2,
        "the idle consumer keeps segments"
    );
    assert!(store.remove_consumer("gone").unwrap());
    assert!(!store.remove_consumer("gone").unwrap());
    assert!(wal_segments(dir.path()) <= 2, "removal lets the WAL go");
    assert!(!store.stats().consumers.contains_key("gone"));
    store.close().unwrap();
    let store = EmbeddedStore::open(dir.path(), small_segments()).unwrap();
    assert!(
        !store.stats().consumers.contains_key("gone"),
        "removal is durable"
    );
}

#[test]
fn consumer_keeps_up_with_concurrent_appends_across_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), small_segments()).unwrap();
    let mut c = store.consumer("stream").unwrap();
    let total = 2_000;
    let got = std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut got = Vec::new();
            let mut empty_polls = 0;
            while got.len() < total && empty_polls < 50 {
                let batch = c.poll(64, Duration::from_millis(100)).unwrap();
                if batch.is_empty() {
                    empty_polls += 1;
                }
                if let Some(last) = batch.last() {
                    c.commit(last.seq).unwrap();
                }
                got.extend(batch);
            }
            got
        });
        for b in 0..(total / 20) {
            append_labels(&store, b * 20, 20);
            if b % 10 == 0 {
                store.refresh().unwrap();
            }
        }
        reader.join().unwrap()
    });
    assert_eq!(got.len(), total);
    assert_consecutive(&got);
    let want: Vec<String> = (0..total).map(|i| format!("e{i}")).collect();
    assert_eq!(label_list(&got), want);
}

#[test]
fn bad_names_are_refused_and_close_wakes_a_waiting_poll() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), config()).unwrap();
    for bad in ["", "../x", "a b", "x/y", &"n".repeat(65)] {
        assert!(store.consumer(bad).is_err(), "{bad:?} accepted");
    }
    let mut c = store.consumer("waiter").unwrap();
    std::thread::scope(|s| {
        let t = s.spawn(move || c.poll(10, Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(200));
        store.close().unwrap();
        let started = std::time::Instant::now();
        let r = t.join().unwrap();
        assert!(r.is_err(), "poll on a closed store: {r:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    });
}

/// Serialised form of consumed events, for comparing two ways of reading them.
fn as_json(events: &[ConsumedEvent]) -> Vec<(u64, String)> {
    events
        .iter()
        .map(|c| (c.seq, serde_json::to_string(&*c.event).unwrap()))
        .collect()
}

#[test]
fn events_read_from_the_in_memory_tail_equal_those_decoded_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let parser = rampart_parse::Parser::new(rampart_parse::ParserConfig::default()).unwrap();
    let lines: [&[u8]; 5] = [
        b"<38>1 2024-03-01T10:00:00.123Z web1 sshd 42 - - Failed password for root from 203.0.113.9 port 4711 ssh2",
        b"CEF:0|Acme|FW|1.0|100|conn|3|src=10.0.0.1 dst=10.0.0.2 out=1.5 act=allow",
        b"{\"a\": [1, 2.25, {\"b\": null}], \"c\": true, \"d\": 1e300}",
        b"{broken json",
        b"\xff\xfe not utf-8 \x80",
    ];
    let (from_tail, seqs) = {
        let store = EmbeddedStore::open(dir.path(), config()).unwrap();
        let mut live = store.consumer("live").unwrap();
        // Registered now, read only after the restart.
        let _later = store.consumer("later").unwrap();
        let events = lines
            .iter()
            .map(|l| {
                parser.parse(
                    l,
                    rampart_model::Origin::new(rampart_model::OriginKind::File, "t"),
                )
            })
            .collect();
        store.append(events).unwrap();
        let got = drain(live.as_mut(), lines.len());
        assert_eq!(got.len(), lines.len());
        assert_eq!(store.stats().consumer_events_shared, lines.len() as u64);
        assert_eq!(store.stats().consumer_events_from_log, 0);
        store.close().unwrap();
        (as_json(&got), got.len())
    };
    // After a restart the tail is empty: the same events come from the log's bytes.
    let store = EmbeddedStore::open(dir.path(), config()).unwrap();
    let mut later = store.consumer("later").unwrap();
    let from_log = as_json(&drain(later.as_mut(), seqs));
    assert_eq!(from_log, from_tail);
    assert_eq!(store.stats().consumer_events_from_log, seqs as u64);
}

#[test]
fn a_consumer_behind_the_tail_reads_the_log_then_the_tail_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), small_segments()).unwrap();
    let mut c = store.consumer("slow").unwrap();
    // More events than the tail keeps (16 384), in batches of 1 000: the consumer's first
    // events have left the tail and are read from the segment files.
    let mut sent = Vec::new();
    for b in 0..20 {
        sent.extend(append_labels(&store, b * 1000, 1000));
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let batch = c.poll(4096, WAIT).unwrap();
        assert!(!batch.is_empty(), "stalled after {} events", got.len());
        got.extend(batch);
    }
    assert_eq!(got[0].seq, 1);
    assert_consecutive(&got);
    assert_eq!(label_list(&got), sent);
    let stats = store.stats();
    assert!(stats.consumer_events_from_log > 0, "{stats:?}");
    assert!(stats.consumer_events_shared > 0, "{stats:?}");
    assert_eq!(
        stats.consumer_events_from_log + stats.consumer_events_shared,
        sent.len() as u64
    );
}
