//! Every record of every shared EVTX sample is read; damaged files never stop the reader.

#![allow(clippy::unwrap_used)]

mod common;

use rampart_model::{Origin, OriginKind};
use rampart_parse::evtx;

fn origin() -> Origin {
    Origin::new(OriginKind::Import, "evtx")
}

#[test]
fn every_shared_evtx_file_is_read() {
    let Some(dir) = common::shared_dataset("evtx-attack-samples", "evtx-attack-samples") else {
        return;
    };
    let files = common::evtx_files(&dir);
    assert!(!files.is_empty(), "no .evtx files under {}", dir.display());
    let (mut total_ok, mut total_err, mut unopened) = (0usize, 0usize, 0usize);
    let (mut process_events, mut logons) = (0usize, 0usize);
    for file in &files {
        let name = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .display()
            .to_string();
        let records = match evtx::read_file(file, origin()) {
            Ok(r) => r,
            Err(e) => {
                println!("{name}: cannot open: {e}");
                unopened += 1;
                continue;
            }
        };
        let (mut ok, mut err) = (0usize, 0usize);
        let mut first_err = None;
        for item in records {
            match item {
                Ok(ev) => {
                    ok += 1;
                    assert_eq!(ev.parser, "evtx");
                    assert!(
                        ev.get("Event.System.EventID").is_some_and(|v| v.is_u64()),
                        "{name}: {:?}",
                        ev.fields
                    );
                    assert!(
                        ev.get_str("Event.System.Channel").is_some()
                            || ev.get_str("Event.System.Provider.Name").is_some(),
                        "{name}"
                    );
                    assert!(ev.get_str("event.code").is_some(), "{name}");
                    if ev.get_str("process.executable").is_some() {
                        process_events += 1;
                    }
                    if ev.get_str("event.action").as_deref() == Some("logged-in") {
                        logons += 1;
                    }
                }
                Err(e) => {
                    err += 1;
                    first_err.get_or_insert_with(|| e.to_string());
                }
            }
        }
        if err > 0 {
            println!(
                "{name}: {ok} records, {err} errors (first: {})",
                first_err.unwrap_or_default()
            );
        }
        total_ok += ok;
        total_err += err;
    }
    let rate = total_err as f64 / (total_ok + total_err).max(1) as f64;
    println!(
        "evtx corpus: {} files, {unopened} unopened, {total_ok} records, {total_err} errors ({:.4}%), {process_events} with process.executable, {logons} successful logons",
        files.len(),
        rate * 100.0
    );
    assert!(total_ok > 1000, "suspiciously few records: {total_ok}");
    assert!(rate < 0.001, "error rate {rate}");
    assert!(
        unopened * 100 <= files.len(),
        "{unopened} files could not be opened"
    );
    assert!(process_events > 0 && logons > 0);
}

/// The smallest sample with at least `chunks` chunks.
fn sample_with_chunks(chunks: usize) -> Option<Vec<u8>> {
    let dir = common::shared_dataset("evtx-attack-samples", "evtx-attack-samples")?;
    let mut files: Vec<_> = common::evtx_files(&dir)
        .into_iter()
        .filter_map(|f| std::fs::read(&f).ok())
        .filter(|b| b.len() >= 4096 + chunks * 65536)
        .collect();
    files.sort_by_key(Vec::len);
    files.into_iter().next()
}

fn read_all(bytes: Vec<u8>) -> (usize, usize) {
    let records = evtx::read_bytes(bytes, origin()).unwrap();
    let mut ok = 0;
    let mut err = 0;
    for item in records {
        match item {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(e.to_string().starts_with("evtx <memory>: chunk "), "{e}");
                err += 1;
            }
        }
    }
    (ok, err)
}

#[test]
fn corrupt_chunks_are_reported_and_reading_goes_on() {
    let Some(original) = sample_with_chunks(2) else {
        return;
    };
    let (clean_ok, clean_err) = read_all(original.clone());
    assert!(clean_ok > 0);

    // Garbage over the records of the first chunk (its header stays intact).
    let mut records_garbled = original.clone();
    for (i, b) in records_garbled[4096 + 512 + 64..4096 + 40_000]
        .iter_mut()
        .enumerate()
    {
        *b = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
    let (ok, err) = read_all(records_garbled);
    println!("records garbled: clean {clean_ok} ok/{clean_err} err, now {ok} ok/{err} err");
    assert!(ok > 0, "records of the other chunks must still be read");
    assert!(
        err > 0 || ok < clean_ok,
        "damage must show as errors or missing records"
    );

    // A whole chunk, header included, overwritten.
    let mut chunk_garbled = original;
    for b in &mut chunk_garbled[4096..4096 + 65536] {
        *b = 0x41;
    }
    let (ok, err) = read_all(chunk_garbled);
    println!("chunk 0 overwritten: {ok} ok/{err} err");
    assert!(ok > 0, "the remaining chunks must still be read");
    assert!(ok < clean_ok);
}

#[test]
fn truncated_file_is_read_up_to_the_damage() {
    let Some(original) = sample_with_chunks(2) else {
        return;
    };
    let cut = original[..4096 + 65536 + 30_000].to_vec();
    let (ok, _err) = read_all(cut);
    assert!(ok > 0);
}

/// Leaf path → text of every field (arrays by index), numbers and strings alike as text.
fn leaves(
    prefix: &str,
    v: &serde_json::Value,
    out: &mut std::collections::BTreeMap<String, String>,
) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, c) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, c, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                leaves(&format!("{prefix}[{i}]"), c, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        serde_json::Value::Null => {
            out.insert(prefix.to_owned(), String::new());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// Every record of the shared EVTX files, rendered as XML by the `evtx` crate (what
/// `wevtutil qe /f:xml` writes) and read by `winxml`, has the same fields, ECS included,
/// and the same time as the record read from the file.
#[test]
fn xml_exports_read_like_the_evtx_files() {
    let Some(dir) = common::shared_dataset("evtx-attack-samples", "evtx-attack-samples") else {
        return;
    };
    let (mut records, mut differing, mut with_control) = (0usize, 0usize, 0usize);
    let mut examples = Vec::new();
    for file in common::evtx_files(&dir) {
        let Ok(mut parser) = ::evtx::EvtxParser::from_path(&file) else {
            continue;
        };
        let xml: Vec<String> = parser
            .records()
            .filter_map(Result::ok)
            .map(|r| r.data)
            .collect();
        let Ok(from_file) = evtx::read_file(&file, origin()) else {
            continue;
        };
        let from_file: Vec<_> = from_file.filter_map(Result::ok).collect();
        if xml.len() != from_file.len() {
            // A damaged chunk renders differently on the two paths; compared elsewhere.
            println!(
                "{}: {} xml, {} evtx records: skipped",
                file.display(),
                xml.len(),
                from_file.len()
            );
            continue;
        }
        for (x, want) in xml.iter().zip(&from_file) {
            let got: Vec<_> = rampart_parse::winxml::read(x.as_bytes(), origin()).collect();
            let [Ok(got)] = &got[..] else {
                panic!("{}: {x}: {got:?}", file.display());
            };
            records += 1;
            let (mut a, mut b) = (Default::default(), Default::default());
            leaves("", &serde_json::Value::Object(got.fields.clone()), &mut a);
            leaves("", &serde_json::Value::Object(want.fields.clone()), &mut b);
            // XML 1.0 cannot carry control characters: the `evtx` crate's XML writes `_`
            // for them. A value holding one is the only difference allowed.
            let control = |v: &String| {
                v.chars()
                    .any(|c| c < ' ' && !matches!(c, '\t' | '\r' | '\n'))
            };
            let explained = a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k) == Some(v) || b.get(k).is_some_and(control));
            if explained && a != b {
                with_control += 1;
            }
            if !explained || got.timestamp != want.timestamp {
                differing += 1;
                if examples.len() < 5 {
                    let only_xml: Vec<_> = a.iter().filter(|(k, v)| b.get(*k) != Some(v)).collect();
                    let only_file: Vec<_> =
                        b.iter().filter(|(k, v)| a.get(*k) != Some(v)).collect();
                    examples.push(format!(
                        "{}: xml {only_xml:?} / evtx {only_file:?} / times {} {}",
                        file.display(),
                        got.timestamp.to_rfc3339(),
                        want.timestamp.to_rfc3339()
                    ));
                }
            }
        }
    }
    println!(
        "{records} records compared, {differing} differ, {with_control} differ only in control characters XML cannot hold"
    );
    for e in &examples {
        println!("{e}");
    }
    assert!(records > 7_000, "{records}");
    assert_eq!(differing, 0, "{examples:#?}");
}
