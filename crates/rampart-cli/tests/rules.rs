//! `rampart rules lint|list|test` through the real binary: the built-in suite, a failing test with its reason, JSON output, and `lint --require-tests`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn rules(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("rules")
        .args(args)
        .output()
        .expect("run rampart rules")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const RULE: &str = "title: Whoami Execution\nid: 11111111-2222-4333-8444-555555555555\n\
level: low\ntags: [attack.discovery, attack.t1033]\n\
logsource: {category: process_creation, product: windows}\n\
detection:\n  selection:\n    Image|endswith: '\\whoami.exe'\n  condition: selection\n";

fn sysmon(image: &str) -> String {
    format!(
        "{{Event: {{System: {{Channel: Microsoft-Windows-Sysmon/Operational, EventID: 1}}, \
         EventData: {{Image: '{image}'}}}}}}"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn builtin_suite_passes() {
    let out = rules(&["test"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{}\n{stderr}", text(&out.stdout));
    assert!(stderr.contains(" 0 failed, 0 without tests"), "{stderr}");

    let json = rules(&["test", "--format", "json"]);
    assert!(json.status.success());
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    let results = report["rules"].as_array().unwrap();
    let passed = results.iter().filter(|r| r["status"] == "passed").count();
    assert!(passed >= 25, "{passed} passed");
    assert!(
        results
            .iter()
            .all(|r| r["status"] == "passed" || r["kind"] == "correlation"),
        "{report:#}"
    );

    let list = rules(&["list"]);
    assert!(list.status.success());
    let list = text(&list.stdout);
    assert!(list.lines().count() >= 25, "{list}");
    assert!(list.contains("LSASS Memory Opened For Reading"), "{list}");

    let lint = rules(&["lint", "--require-tests"]);
    assert!(lint.status.success(), "{}", text(&lint.stdout));
}

#[test]
fn failing_example_is_reported_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "whoami.yml", RULE);
    write(
        dir.path(),
        "whoami.tests.yml",
        &format!(
            "match:\n  - {}\n  - description: wrong program\n    fields: {}\nno_match:\n  - {}\n",
            sysmon("C:\\Windows\\System32\\whoami.exe"),
            sysmon("C:\\Windows\\System32\\hostname.exe"),
            sysmon("C:\\Windows\\System32\\ipconfig.exe"),
        ),
    );
    let d = dir.path().to_str().unwrap();
    let out = rules(&["test", d]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL     Whoami Execution"), "{stdout}");
    assert!(
        stdout.contains(
            "match #2 (wrong program): expected a match, but the detection did not match"
        ),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("1 rule(s) failed"));

    let json = rules(&["test", d, "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    let r = &report["rules"][0];
    assert_eq!(r["status"], "failed");
    assert_eq!(r["examples"], 3);
    assert_eq!(r["failures"][0]["expected"], "match");
    assert_eq!(r["failures"][0]["example"], "match #2 (wrong program)");

    // A single rule file brings its tests file.
    let one = rules(&["test", dir.path().join("whoami.yml").to_str().unwrap()]);
    assert_eq!(one.status.code(), Some(1));
}

#[test]
fn raw_lines_are_parsed_with_the_auto_parser() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "ssh.yml",
        "title: Root Login\nlevel: medium\nlogsource: {product: linux, service: sshd}\n\
         detection:\n  sel: {event.outcome: success, user.name: root}\n  condition: sel\n",
    );
    write(
        dir.path(),
        "ssh.tests.yml",
        "match:\n  - 'Mar 10 08:20:11 db1 sshd[3100]: Accepted password for root from 203.0.113.50 port 60222 ssh2'\n\
         no_match:\n  - 'Mar 10 08:20:11 db1 sshd[3100]: Accepted password for bob from 203.0.113.50 port 60222 ssh2'\n",
    );
    let out = rules(&["test", "-v", dir.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("PASS     Root Login"), "{stdout}");
}

#[test]
fn lint_require_tests() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "whoami.yml", RULE);
    let d = dir.path().to_str().unwrap();
    // Without the flag, a rule without tests lints clean.
    assert!(rules(&["lint", d]).status.success());
    let out = rules(&["lint", "--require-tests", d]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("(Whoami Execution): tests: no tests (expected ")
            && stdout.contains("whoami.tests.yml)"),
        "{stdout}"
    );
    // Only positive examples: still not enough.
    write(
        dir.path(),
        "whoami.tests.yml",
        &format!("match: [{}]\n", sysmon("C:\\w\\whoami.exe")),
    );
    let out = rules(&["lint", "--require-tests", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("tests have no `no_match` example"));
    write(
        dir.path(),
        "whoami.tests.yml",
        &format!(
            "match: [{}]\nno_match: [{}]\n",
            sysmon("C:\\w\\whoami.exe"),
            sysmon("C:\\w\\cmd.exe")
        ),
    );
    let out = rules(&["lint", "--require-tests", d]);
    assert!(out.status.success(), "{}", text(&out.stdout));

    // A broken rule fails lint with its path.
    write(
        dir.path(),
        "broken.yml",
        "title: Broken\nlogsource: {product: windows}\ndetection:\n  sel: {A|nope: x}\n  condition: sel\n",
    );
    let out = rules(&["lint", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(&dir.path().join("broken.yml").display().to_string()),
        "{}",
        text(&out.stdout)
    );
}
