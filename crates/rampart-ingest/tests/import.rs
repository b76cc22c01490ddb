//! One-off import of a directory: EVTX from the shared corpus, NDJSON, gzip, JSON arrays.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use rampart_ingest::import::{self, ImportKind};
use rampart_model::{OriginKind, Raw};
use rampart_parse::Format;
use std::io::Write;
use std::path::PathBuf;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Read every file; per file: (kind, events, record errors, bytes read, size).
fn import_all(
    files: &[import::ImportFile],
) -> Vec<(ImportKind, Vec<rampart_model::Event>, usize, u64, u64)> {
    files
        .iter()
        .map(|f| {
            let mut records = import::read(f, Format::Auto, "acme").unwrap();
            let mut events = Vec::new();
            let mut errors = 0;
            for r in records.by_ref() {
                match r {
                    Ok(e) => events.push(e),
                    Err(_) => errors += 1,
                }
            }
            (
                f.kind,
                events,
                errors,
                records.bytes_read(),
                records.total_bytes(),
            )
        })
        .collect()
}

#[test]
fn imports_a_directory_of_mixed_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("a.ndjson"),
        "{\"message\":\"one\",\"user\":{\"name\":\"bob\"}}\n{broken\n\n{\"message\":\"three\"}\n",
    )
    .unwrap();
    std::fs::create_dir(root.join("nested")).unwrap();
    std::fs::write(
        root.join("nested/b.log.gz"),
        gzip(
            b"<13>Oct 11 22:14:15 host app: zipped one\n<13>Oct 11 22:14:15 host app: zipped two\n",
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("nested/c.json"),
        "[{\"message\":\"arr 1\"}, {\"message\":\"arr 2\"}]",
    )
    .unwrap();
    std::fs::write(
        root.join("nested/d.txt"),
        b"plain text \xff line\nsecond line",
    )
    .unwrap();

    let files = import::discover(&[root.to_path_buf()]);
    let kinds: Vec<ImportKind> = files.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            ImportKind::Json,
            ImportKind::Gzip,
            ImportKind::Json,
            ImportKind::Text
        ]
    );
    let results = import_all(&files);

    let (_, ndjson, errors, read, size) = &results[0];
    assert_eq!(*errors, 0);
    assert_eq!(ndjson.len(), 3, "the broken line is kept");
    assert_eq!(ndjson[0].get_str("user.name").as_deref(), Some("bob"));
    assert!(ndjson[1].parse_error.is_some());
    assert_eq!(ndjson[2].get_str("message").as_deref(), Some("three"));
    assert_eq!(read, size, "progress reaches the size");
    assert!(
        ndjson
            .iter()
            .all(|e| e.tenant == "acme" && e.origin.kind == OriginKind::Import)
    );
    assert_eq!(
        ndjson[0].origin.path.as_deref(),
        Some(root.join("a.ndjson").to_str().unwrap())
    );

    let (_, gz, _, read, size) = &results[1];
    assert_eq!(gz.len(), 2);
    assert_eq!(gz[1].get_str("message").as_deref(), Some("zipped two"));
    assert_eq!(read, size, "compressed bytes count as progress");

    let (_, array, _, _, _) = &results[2];
    let messages: Vec<_> = array
        .iter()
        .map(|e| e.get_str("message").unwrap())
        .collect();
    assert_eq!(messages, ["arr 1", "arr 2"]);

    let (_, text, _, _, _) = &results[3];
    assert_eq!(text.len(), 2);
    assert_eq!(text[0].raw, Raw::Bytes(b"plain text \xff line".to_vec()));
    assert_eq!(text[1].raw.as_text(), "second line");
}

#[test]
fn imports_evtx_from_the_shared_corpus() {
    let Some(shared) = common::shared("imports_evtx_from_the_shared_corpus") else {
        return;
    };
    let corpus = shared.join("datasets/evtx-attack-samples");
    let sample = corpus.join("Defense Evasion/DE_Powershell_CLM_Disabled_Sysmon_12.evtx");
    assert!(
        sample.is_file(),
        "corpus file missing: {}",
        sample.display()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&sample, dir.path().join("sample.evtx")).unwrap();
    std::fs::write(
        dir.path().join("extra.jsonl"),
        "{\"message\":\"next to evtx\"}\n",
    )
    .unwrap();
    // A file that claims to be EVTX but is not: its error stays with it.
    std::fs::write(
        dir.path().join("fake.evtx"),
        b"ElfFile\0 this is not a real event log",
    )
    .unwrap();

    let files = import::discover(&[dir.path().to_path_buf()]);
    let names: Vec<(String, ImportKind)> = files
        .iter()
        .map(|f| {
            (
                f.path.file_name().unwrap().to_string_lossy().into_owned(),
                f.kind,
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("extra.jsonl".to_string(), ImportKind::Json),
            ("fake.evtx".to_string(), ImportKind::Evtx),
            ("sample.evtx".to_string(), ImportKind::Evtx)
        ]
    );
    let fake = import::read(&files[1], Format::Auto, "acme")
        .map(|records| records.filter(Result::is_err).count());
    assert!(
        matches!(fake, Err(_) | Ok(1..)),
        "a fake EVTX gives an error, not events"
    );

    let mut records = import::read(&files[2], Format::Auto, "acme").unwrap();
    let mut events = Vec::new();
    for r in records.by_ref() {
        events.push(r.unwrap());
    }
    assert!(!events.is_empty());
    assert_eq!(records.bytes_read(), records.total_bytes());
    for e in &events {
        assert_eq!(e.tenant, "acme");
        assert_eq!(e.parser, "evtx");
        assert!(e.get("Event.System.EventID").is_some(), "{:?}", e.fields);
    }
    let extra: Vec<_> = import::read(&files[0], Format::Auto, "acme")
        .unwrap()
        .collect();
    assert_eq!(extra.len(), 1);
}

#[test]
fn missing_paths_report_a_clear_error() {
    let files = import::discover(&[PathBuf::from("/nonexistent/rampart/file.log")]);
    assert_eq!(files.len(), 1);
    let err = import::read(&files[0], Format::Auto, "acme")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("/nonexistent/rampart/file.log"), "{err}");
}
