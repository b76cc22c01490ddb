//! `rampart ingest` imports files into a data directory; `rampart search --offline` finds them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

fn rampart(args: &[&str], data: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(common::bin())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn imports_text_and_ndjson_then_searches_offline() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("nested")).unwrap();
    std::fs::write(
        logs.join("auth.log"),
        b"Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2\n\
         Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for root from 173.234.31.186 port 38927 ssh2\n\
         Dec 10 07:01:02 LabSZ sshd[24210]: Accepted password for fztu from 119.137.62.142 port 49116 ssh2\n\
         this line matches no parser at all \xff\n",
    )
    .unwrap();
    std::fs::write(
        logs.join("nested/app.ndjson"),
        "{\"@timestamp\":\"2024-03-01T10:00:00Z\",\"host\":{\"name\":\"app7\"},\"message\":\"order placed\"}\n{not json\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let (ok, stdout, stderr) = rampart(&["ingest", logs.to_str().unwrap()], &data);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("imported 6 events from 2 files"),
        "{stdout}"
    );

    let (ok, stdout, stderr) = rampart(
        &[
            "search",
            "--offline",
            "--from",
            "*",
            "-o",
            "csv",
            "event.outcome:failure | stats count() by source.ip, user.name",
        ],
        &data,
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("173.234.31.186,webmaster,1"), "{stdout}");
    assert!(stdout.contains("173.234.31.186,root,1"), "{stdout}");

    let (ok, stdout, _) = rampart(
        &[
            "search",
            "--offline",
            "--from",
            "*",
            "-o",
            "jsonl",
            "host.name:app7",
        ],
        &data,
    );
    assert!(ok);
    assert!(stdout.contains("order placed"), "{stdout}");

    // Nothing accepted is lost: the unparseable lines are kept raw with a reason.
    let (ok, stdout, _) = rampart(
        &[
            "search",
            "--offline",
            "--from",
            "*",
            "-o",
            "jsonl",
            "event.parse_error:*",
        ],
        &data,
    );
    assert!(ok);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");

    // A query error points at its position.
    let (ok, _, stderr) = rampart(&["search", "--offline", "host.name:\"unclosed"], &data);
    assert!(!ok);
    assert!(stderr.contains('^'), "caret under the position: {stderr}");
}

#[test]
fn imports_the_shared_evtx_corpus() {
    let corpus = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/datasets/evtx-attack-samples"
    ));
    if !corpus.exists() {
        if std::env::var("RAMPART_REQUIRE_SHARED").as_deref() == Ok("1") {
            panic!(
                "RAMPART_REQUIRE_SHARED=1 but {} is missing",
                corpus.display()
            );
        }
        eprintln!("SKIPPED: EVTX corpus import (../shared not present)");
        return;
    }
    fn evtx_files(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                evtx_files(&p, out);
            } else if p.extension().is_some_and(|e| e == "evtx") {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    let mut files = Vec::new();
    evtx_files(corpus, &mut files);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut args = vec!["ingest"];
    args.extend(files.iter().map(String::as_str));
    let (ok, stdout, stderr) = rampart(&args, &data);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("imported 7455 events from 269 files"),
        "{stdout}"
    );
    assert!(stdout.contains("0 unreadable records"), "{stdout}");
    let (ok, stdout, stderr) = rampart(
        &[
            "search",
            "--offline",
            "--from",
            "*",
            "-o",
            "csv",
            "Event.System.EventID:4688 | stats count()",
        ],
        &data,
    );
    assert!(ok, "{stderr}");
    let count: u64 = stdout
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    assert!(count > 0, "process creations found: {stdout}");
}
