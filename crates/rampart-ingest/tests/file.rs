//! File tailing on real files: rotation by rename, copytruncate, partial lines, restarts
//! from the checkpoint without loss or duplicates, and a refusing sink.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestSink;
use rampart_ingest::{FileInputConfig, IngestMetrics, ListenerHandle, StartAt};
use rampart_model::OriginKind;
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn lines(range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("line {i}\n")).collect()
}

fn expected(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("line {i}")).collect()
}

fn input(dir: &Path, pattern: &str) -> FileInputConfig {
    FileInputConfig {
        poll_interval: Duration::from_millis(50),
        rotated_idle_polls: 3,
        tenant: "acme".into(),
        ..FileInputConfig::new("app-logs", vec![dir.join(pattern).display().to_string()])
    }
}

async fn start(config: FileInputConfig, sink: &Arc<TestSink>, checkpoint: &Path) -> ListenerHandle {
    config
        .spawn(sink.clone(), IngestMetrics::new(), checkpoint.to_path_buf())
        .await
        .unwrap()
}

fn checkpoint_offsets(path: &Path) -> Vec<(PathBuf, u64, u64)> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                PathBuf::from(f["path"].as_str().unwrap()),
                f["ino"].as_u64().unwrap(),
                f["offset"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_partial_lines_and_rotation_by_rename() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let checkpoint = dir.path().join("state/app-logs.json");
    append(&log, &lines(0..3));
    let sink = TestSink::new();
    let handle = start(input(dir.path(), "app.log"), &sink, &checkpoint).await;
    sink.wait_for(3).await;
    let first = &sink.events()[0];
    assert_eq!(first.origin.kind, OriginKind::File);
    assert_eq!(first.origin.path.as_deref(), Some(log.to_str().unwrap()));
    assert_eq!(
        first.get_str("log.file.path").as_deref(),
        Some(log.to_str().unwrap())
    );
    assert_eq!(first.tenant, "acme");

    // An incomplete last line waits for its newline.
    append(&log, "line 3\r\nline 4\nline 5 is ha");
    sink.wait_for(5).await;
    sink.settle(5, Duration::from_millis(300)).await;
    append(&log, "lf done\n");
    sink.wait_for(6).await;

    // Rotation: rename, the old writer still appends, then a new file appears.
    let old_ino = std::fs::metadata(&log).unwrap().ino();
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&dir.path().join("app.log.1"), "line 6\n");
    append(&log, "line 7\nline 8\n");
    sink.wait_for(9).await;
    let mut texts = sink.texts();
    texts.sort();
    let mut want = expected(0..9);
    want[5] = "line 5 is half done".into();
    want.sort();
    assert_eq!(texts, want);
    sink.settle(9, Duration::from_millis(400)).await;

    // The rotated file was closed and the checkpoint follows the new one.
    let entries = checkpoint_offsets(&checkpoint);
    let new_ino = std::fs::metadata(&log).unwrap().ino();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].1, new_ino);
    assert_ne!(entries[0].1, old_ino);
    assert_eq!(entries[0].2, std::fs::metadata(&log).unwrap().len());
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_reads_the_file_again_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let checkpoint = dir.path().join("cp.json");
    append(&log, &lines(0..5));
    let sink = TestSink::new();
    let handle = start(input(dir.path(), "*.log"), &sink, &checkpoint).await;
    sink.wait_for(5).await;
    // copytruncate: copy away (not matched by *.log), then truncate in place.
    std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, "fresh\n");
    sink.wait_for(6).await;
    assert_eq!(sink.texts()[5], "fresh");
    sink.settle(6, Duration::from_millis(300)).await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_the_checkpoint_even_across_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let checkpoint = dir.path().join("cp.json");
    append(&log, &lines(0..100));
    let first_sink = TestSink::new();
    let handle = start(input(dir.path(), "app.log"), &first_sink, &checkpoint).await;
    first_sink.wait_for(100).await;
    // Let the checkpoint of the acknowledged batch be written, then stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    handle.shutdown().await;
    assert_eq!(first_sink.texts(), expected(0..100));

    // While stopped: more lines, then a rotation by rename and a new file.
    append(&log, &lines(100..150));
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, &lines(150..170));

    let second_sink = TestSink::new();
    let handle = start(input(dir.path(), "app.log"), &second_sink, &checkpoint).await;
    second_sink.wait_for(70).await;
    second_sink.settle(70, Duration::from_millis(400)).await;
    let mut texts = second_sink.texts();
    texts.sort_by_key(|t| t[5..].parse::<usize>().unwrap());
    assert_eq!(texts, expected(100..170), "no loss, no duplicates");
    handle.shutdown().await;

    // A third start has nothing new to send.
    let third_sink = TestSink::new();
    let handle = start(input(dir.path(), "app.log"), &third_sink, &checkpoint).await;
    third_sink.settle(0, Duration::from_millis(400)).await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_batches_are_not_checkpointed_and_arrive_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let checkpoint = dir.path().join("cp.json");
    append(&log, &lines(0..10));
    let sink = TestSink::new();
    sink.set_overloaded(true);
    let handle = start(input(dir.path(), "app.log"), &sink, &checkpoint).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sink.len(), 0);
    let offsets = checkpoint_offsets(&checkpoint);
    assert_eq!(
        offsets[0].2, 0,
        "nothing acknowledged, nothing checkpointed"
    );
    sink.set_overloaded(false);
    sink.wait_for(10).await;
    sink.settle(10, Duration::from_millis(300)).await;
    assert_eq!(sink.texts(), expected(0..10));
    assert_eq!(
        checkpoint_offsets(&checkpoint)[0].2,
        std::fs::metadata(&log).unwrap().len()
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_end_skips_existing_content_and_long_lines_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &lines(0..10));
    let sink = TestSink::new();
    let config = FileInputConfig {
        start_at: StartAt::End,
        max_line_bytes: 100,
        ..input(dir.path(), "app.log")
    };
    let handle = start(config, &sink, &dir.path().join("cp.json")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    append(&log, &format!("{}\nline 10\n", "y".repeat(250)));
    sink.wait_for(2).await;
    let events = sink.settle(2, Duration::from_millis(300)).await;
    assert_eq!(events[0].raw.len(), 100);
    assert_eq!(
        events[0]
            .parse_error
            .as_deref()
            .map(|e| e.starts_with("message truncated at 100 bytes")),
        Some(true)
    );
    assert_eq!(events[1].raw.as_text(), "line 10");
    handle.shutdown().await;
}
