//! Accepted means durable: concurrent appends, reopen, SIGKILL mid-stream, torn WAL tail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{event, labels, open, search};
use rampart_model::{EventId, Timestamp};
use rampart_store::{EmbeddedStore, EmbeddedStoreConfig, EventStore};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Each id must be found exactly once by id, and by its label through a field query.
fn assert_exactly_once(store: &EmbeddedStore, ids: &[(EventId, String)]) {
    let (total, _) = labels(&search(store, None, "*", 0));
    assert_eq!(total, ids.len() as u64, "document count");
    for (id, label) in ids {
        let got = store.get(None, *id).unwrap().expect("event by id");
        assert_eq!(got.id, *id);
        let (n, found) = labels(&search(store, None, &format!("label:{label}"), 5));
        assert_eq!(n, 1, "label {label} found {n} times");
        assert_eq!(found, vec![label.clone()]);
    }
}

#[test]
fn concurrent_appends_are_found_exactly_once_also_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let base = Timestamp::parse_rfc3339("2024-05-01T00:00:00Z").unwrap();
    let ids: Vec<(EventId, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let store = &store;
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for b in 0..25 {
                        let batch: Vec<_> = (0..8)
                            .map(|i| {
                                let label = format!("t{t}b{b}i{i}");
                                event(
                                    &label,
                                    "acme",
                                    Timestamp(base.0 + (t * 1000 + b * 10 + i) as i64),
                                )
                            })
                            .collect();
                        mine.extend(batch.iter().map(|e| (e.id, e.get_str("label").unwrap())));
                        let receipt = store.append(batch).unwrap();
                        assert_eq!(receipt.count, 8);
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(ids.len(), 800);
    store.refresh().unwrap();
    assert_exactly_once(&store, &ids);
    let stats = store.stats();
    assert_eq!(stats.events_appended, 800);
    assert_eq!(stats.docs, 800);
    assert_eq!(stats.indexing_lag_events, 0);
    drop(store);

    let store = open(dir.path());
    store.refresh().unwrap();
    assert_exactly_once(&store, &ids);
    assert_eq!(
        store.stats().events_replayed,
        0,
        "a clean close leaves nothing to replay"
    );
    store.close().unwrap();
}

const CHILD_ENV: &str = "RAMPART_STORE_CHILD";

const MODE_ENV: &str = "RAMPART_STORE_CHILD_MODE";

/// Child process modes. `stream`: append batches forever, printing each acknowledged
/// batch's ids. `five`: with commits effectively off, append five single-event batches,
/// print them, print `DONE` and wait to be killed.
fn child_main(dir: &str) {
    let dir = std::path::Path::new(dir);
    let pid = std::process::id();
    if std::env::var(MODE_ENV).as_deref() == Ok("five") {
        let config = EmbeddedStoreConfig {
            commit_interval: Duration::from_secs(3600),
            ..common::config()
        };
        let store = EmbeddedStore::open(dir, config).expect("open in child");
        for i in 0..5 {
            let e = event(&format!("w{i}"), "acme", Timestamp(i));
            let line = format!("ACK {}={}", e.id, e.get_str("label").unwrap());
            store.append(vec![e]).expect("append in child");
            println!("{line}");
        }
        println!("DONE");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let store = open(dir);
    let mut n = 0u64;
    loop {
        let batch: Vec<_> = (0..20)
            .map(|i| {
                n += 1;
                event(
                    &format!("p{pid}k{n}"),
                    if i % 2 == 0 { "acme" } else { "globex" },
                    Timestamp::now(),
                )
            })
            .collect();
        let line: Vec<String> = batch
            .iter()
            .map(|e| format!("{}={}", e.id, e.get_str("label").unwrap()))
            .collect();
        store.append(batch).expect("append in child");
        println!("ACK {}", line.join(" "));
    }
}

#[test]
fn sigkill_mid_stream_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child_main(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: HashMap<EventId, String> = HashMap::new();
    for round in 0..2 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "sigkill_mid_stream_loses_nothing_acknowledged",
                "--nocapture",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let started = Instant::now();
        let mut acks_this_round = 0;
        let mut line = String::new();
        // Kill after enough batches (or time), at a point the child does not choose.
        while acks_this_round < 150 + round * 50 && started.elapsed() < Duration::from_secs(60) {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if let Some(rest) = line.trim_end().strip_prefix("ACK ") {
                for pair in rest.split(' ') {
                    let (id, label) = pair.split_once('=').unwrap();
                    acked.insert(id.parse().unwrap(), label.to_owned());
                }
                acks_this_round += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        // Batches acknowledged between our last read and the kill are in the pipe.
        let mut rest = String::new();
        while reader.read_line(&mut rest).unwrap_or(0) > 0 {
            if let Some(r) = rest.trim_end().strip_prefix("ACK ") {
                for pair in r.split(' ') {
                    if let Some((id, label)) = pair.split_once('=') {
                        acked.insert(id.parse().unwrap(), label.to_owned());
                    }
                }
            }
            rest.clear();
        }
        child.wait().unwrap();
        assert!(acks_this_round > 0, "child acknowledged nothing");
    }
    let store = open(dir.path());
    store.refresh().unwrap();
    let (total, _) = labels(&search(&store, None, "*", 0));
    // Events appended but not yet acknowledged at the kill may also be present: at least
    // every acknowledged one, each exactly once.
    assert!(total >= acked.len() as u64, "{total} < {}", acked.len());
    for (id, label) in &acked {
        assert!(
            store.get(None, *id).unwrap().is_some(),
            "acknowledged {label} lost"
        );
        let (n, _) = labels(&search(&store, None, &format!("label:{label}"), 2));
        assert_eq!(n, 1, "{label} found {n} times");
    }
}

/// Run the `five` child in `dir` until it has acknowledged its events, then SIGKILL it.
/// Returns the acknowledged (id, label) pairs in order.
fn crash_after_five(dir: &std::path::Path, test: &str) -> Vec<(EventId, String)> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", test, "--nocapture"])
        .env(CHILD_ENV, dir)
        .env(MODE_ENV, "five")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut acked = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if line.trim_end() == "DONE" {
            break;
        }
        if let Some((id, label)) = line
            .trim_end()
            .strip_prefix("ACK ")
            .and_then(|r| r.split_once('='))
        {
            acked.push((id.parse().unwrap(), label.to_owned()));
        }
        line.clear();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(acked.len(), 5, "child did not finish its appends");
    acked
}

#[test]
fn uncommitted_events_are_replayed_once_after_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child_main(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ids = crash_after_five(
        dir.path(),
        "uncommitted_events_are_replayed_once_after_sigkill",
    );
    let store = open(dir.path());
    assert_eq!(store.stats().events_replayed, 5);
    assert_exactly_once(&store, &ids);
    drop(store);
    // Reopening again replays nothing more and still finds each event once.
    let store = open(dir.path());
    assert_eq!(store.stats().events_replayed, 0);
    assert_exactly_once(&store, &ids);
}

#[test]
fn torn_wal_tail_is_truncated_and_complete_records_recovered() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child_main(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ids = crash_after_five(
        dir.path(),
        "torn_wal_tail_is_truncated_and_complete_records_recovered",
    );
    // Tear the last record of the newest segment, as a crash during a write would.
    let wal = dir.path().join("wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    segments.sort();
    let last = segments.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    file.set_len(len - 7).unwrap();
    drop(file);

    let store = open(dir.path());
    assert_exactly_once(&store, &ids[..4]);
    assert!(store.get(None, ids[4].0).unwrap().is_none());
    // New appends continue after the recovered records.
    let e = event("after", "acme", Timestamp(99));
    let id = e.id;
    store.append(vec![e]).unwrap();
    store.refresh().unwrap();
    assert!(store.get(None, id).unwrap().is_some());
    assert_eq!(labels(&search(&store, None, "*", 0)).0, 5);
}
