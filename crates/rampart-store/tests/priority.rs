//! The indexing threads run at a lower priority than the rest of the process
//! (`index_nice`), so that under saturation detection keeps pace and searchability lags.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{config, event};
use rampart_model::Timestamp;
use rampart_store::{EmbeddedStore, EmbeddedStoreConfig, EventStore};

/// (thread name, nice value) of every thread of this process, from /proc.
fn threads() -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        out.push((comm.trim().to_owned(), nice_in_stat(&stat)));
    }
    out
}

fn nice_of(prefix: &str) -> Vec<i32> {
    threads()
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, nice)| nice)
        .collect()
}

/// The nice values of tantivy's indexing workers. A commit ends them and the writer starts
/// new ones, which may not exist yet when `refresh` returns (seen on a loaded machine), so
/// this waits up to 10 s for them to appear.
fn workers_nice() -> Vec<i32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let workers = nice_of("thrd-tantivy");
        if !workers.is_empty() || std::time::Instant::now() > deadline {
            return workers;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn index_some(store: &EmbeddedStore) {
    for i in 0..3 {
        store
            .append(vec![event(
                &format!("e{i}"),
                "default",
                Timestamp::from_secs(1_700_000_000),
            )])
            .unwrap();
        // Each commit restarts tantivy's indexing workers, from the indexer thread.
        store.refresh().unwrap();
    }
}

#[test]
fn indexing_threads_run_below_the_process_priority_and_at_it_when_configured_so() {
    let base = own_nice();
    let dir = tempfile::tempdir().unwrap();
    let store = open_with_nice(dir.path(), 10);
    index_some(&store);
    let indexer = nice_of("rampart-indexer");
    let workers = workers_nice();
    assert_eq!(indexer, vec![(base + 10).min(19)], "{:?}", threads());
    assert!(!workers.is_empty(), "{:?}", threads());
    assert!(
        workers.iter().all(|n| *n == (base + 10).min(19)),
        "{:?}",
        threads()
    );
    // This thread, which opened the store, keeps its priority.
    assert_eq!(own_nice(), base);
    store.close().unwrap();
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    let store = open_with_nice(dir.path(), 0);
    index_some(&store);
    assert_eq!(nice_of("rampart-indexer"), vec![base]);
    assert!(workers_nice().iter().all(|n| *n == base));
    store.close().unwrap();
}

/// The calling thread's nice value.
fn own_nice() -> i32 {
    nice_in_stat(&std::fs::read_to_string("/proc/thread-self/stat").unwrap())
}

/// The nice value in a `/proc/…/stat` line. The fields after the command name, which is in
/// parentheses, start at field 3 (state); nice is field 19, so index 16 after it.
fn nice_in_stat(stat: &str) -> i32 {
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(16).unwrap().parse().unwrap()
}

fn open_with_nice(dir: &std::path::Path, index_nice: i32) -> EmbeddedStore {
    EmbeddedStore::open(
        dir,
        EmbeddedStoreConfig {
            index_nice,
            ..config()
        },
    )
    .unwrap()
}
