//! Live Sigma detection in `rampart serve`, end to end: real binary, real sockets, real
//! rule files, a kill -9, and the shared EVTX corpus against the SigmaHQ rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, unique};
use serde_json::{Value, json};

const WHOAMI_ID: &str = "6f0a7d55-0000-4000-8000-000000000001";
const SSHD_ID: &str = "6f0a7d55-0000-4000-8000-000000000002";
const MIMIKATZ_ID: &str = "6f0a7d55-0000-4000-8000-000000000003";
const CRASH_ID: &str = "6f0a7d55-0000-4000-8000-000000000004";

fn whoami_rule() -> String {
    format!(
        "title: Whoami Execution\nid: {WHOAMI_ID}\nlevel: high\n\
         tags: [attack.discovery, attack.t1033]\n\
         logsource: {{product: windows, category: process_creation}}\n\
         detection: {{sel: {{CommandLine|contains: whoami}}, condition: sel}}\n"
    )
}

fn sshd_rule() -> String {
    format!(
        "title: SSH Root Password Failure\nid: {SSHD_ID}\nlevel: medium\n\
         tags: [attack.credential-access, attack.t1110]\n\
         logsource: {{product: linux, service: sshd}}\n\
         detection: {{sel: {{message|contains: 'Failed password for root'}}, condition: sel}}\n"
    )
}

/// A Sysmon process creation as JSON (the shape rampart-parse gives EVTX records).
fn sysmon(cmd: &str) -> Value {
    json!({"Event": {
        "System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
                   "Computer": "WIN-DET-1", "Provider": {"Name": "Microsoft-Windows-Sysmon"}},
        "EventData": {"CommandLine": cmd, "Image": "C:\\Windows\\System32\\cmd.exe", "User": "CORP\\alice"}},
        "host": {"name": "WIN-DET-1"}})
}

fn admin_and_viewer(dir: &Path, extra: &str) -> (PathBuf, String, String) {
    let cfg = common::write_config(dir, extra);
    let token = |name: &str, role: &str| {
        let out = Command::new(common::bin())
            .args(["token", "create", "--name", name, "--role", role, "-c"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let viewer = token("ciso", "viewer");
    let admin = token("boss", "admin");
    std::fs::write(dir.join("data/admin.token"), &admin).unwrap();
    (cfg, admin, viewer)
}

fn detection_config(rules: &Path) -> String {
    format!(
        "[detection]\nrules_dirs = [\"{}\"]\nbuiltin_rules = false\nbuiltin_baselines = false\nreload_interval_secs = 1\n",
        rules.display()
    )
}

fn get(server: &Server, token: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let mut req = Server::agent()
        .get(server.url(path))
        .header("Authorization", format!("Bearer {token}"));
    for (k, v) in query {
        req = req.query(*k, *v);
    }
    let mut resp = req.call().unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or(Value::Null))
}

fn post(server: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    let mut resp = Server::agent()
        .post(server.url(path))
        .header("Authorization", format!("Bearer {token}"))
        .send_json(body)
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or(Value::Null))
}

fn send_ndjson(server: &Server, lines: &[Value]) {
    let mut body = String::new();
    for l in lines {
        body.push_str(&l.to_string());
        body.push('\n');
    }
    let resp = Server::agent()
        .post(server.url("/api/v1/ingest/ndjson"))
        .header("Authorization", format!("Bearer {}", server.ingest_token))
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(resp.status(), 200, "ndjson ingest");
}

/// Detections matching `query`, waiting until there are at least `expected`.
fn wait_detections(
    server: &Server,
    token: &str,
    query: &[(&str, &str)],
    expected: u64,
    timeout: Duration,
) -> Value {
    let deadline = Instant::now() + timeout;
    let mut q: Vec<(&str, &str)> = query.to_vec();
    q.push(("limit", "10000"));
    loop {
        let (status, page) = get(server, token, "/api/v1/detections", &q);
        assert_eq!(status, 200, "{page}");
        if page["total"].as_u64().unwrap_or(0) >= expected || Instant::now() > deadline {
            return page;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The status document's `detection` section once the worker has handled everything
/// accepted so far (lag 0 and at least `evaluated` events evaluated).
fn wait_caught_up(server: &Server, token: &str, evaluated: u64, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let (status, doc) = get(server, token, "/api/v1/status", &[]);
        assert_eq!(status, 200, "{doc}");
        let d = doc["detection"].clone();
        let caught_up = d["lag_events"].as_u64() == Some(0)
            && d["events_evaluated"].as_u64().unwrap_or(0) >= evaluated;
        if caught_up {
            return d;
        }
        assert!(Instant::now() < deadline, "detection did not catch up: {d}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_rules(server: &Server, token: &str, loaded: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(server, token, "/api/v1/rules", &[]);
        assert_eq!(status, 200, "{body}");
        if body["status"]["ready"] == true
            && body["status"]["rules_loaded"].as_u64() == Some(loaded)
        {
            return body;
        }
        assert!(Instant::now() < deadline, "rules not loaded: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cli(server: &Server, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::bin())
        .args(args)
        .arg("-c")
        .arg(&server.config)
        .args(["--server", &server.url("")])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rule_ids(page: &Value) -> Vec<String> {
    page["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn live_detection_rules_management_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("whoami.yml"), whoami_rule()).unwrap();
    std::fs::write(rules.join("sshd.yml"), sshd_rule()).unwrap();
    let (cfg, admin, viewer) = admin_and_viewer(dir.path(), &detection_config(&rules));
    let server = Server::start_with(dir.path(), cfg);
    wait_rules(&server, &admin, 2);
    let tag = unique("det");

    // Matching and non-matching events over HTTP NDJSON and syslog TCP.
    send_ndjson(
        &server,
        &[
            sysmon(&format!("cmd /c whoami /all {tag}a")),
            sysmon(&format!("cmd /c dir {tag}n1")),
            sysmon(&format!("WHOAMI.EXE /priv {tag}b")),
            sysmon(&format!("ipconfig {tag}n2")),
            sysmon(&format!("powershell whoami {tag}c")),
        ],
    );
    let mut tcp = std::net::TcpStream::connect(server.tcp).unwrap();
    for line in [
        format!(
            "<38>Jun 14 15:16:01 bastion sshd[4242]: Failed password for root from 192.0.2.7 port 4242 ssh2 {tag}d"
        ),
        format!(
            "<38>Jun 14 15:16:02 bastion sshd[4242]: Accepted password for bob from 192.0.2.8 port 4243 ssh2 {tag}n3"
        ),
        format!(
            "<38>Jun 14 15:16:03 bastion sshd[4242]: Failed password for root from 192.0.2.7 port 4244 ssh2 {tag}e"
        ),
    ] {
        tcp.write_all(line.as_bytes()).unwrap();
        tcp.write_all(b"\n").unwrap();
    }
    tcp.flush().unwrap();
    drop(tcp);
    let page = wait_detections(&server, &admin, &[("q", &tag)], 5, Duration::from_secs(30));
    wait_caught_up(&server, &admin, 8, Duration::from_secs(30));
    let page_after = wait_detections(&server, &admin, &[("q", &tag)], 5, Duration::ZERO);
    assert_eq!(
        page_after["total"], 5,
        "non-matching events made no detection: {page_after}"
    );
    let mut ids = rule_ids(&page);
    ids.sort();
    assert_eq!(
        ids,
        [WHOAMI_ID, WHOAMI_ID, WHOAMI_ID, SSHD_ID, SSHD_ID],
        "{page}"
    );

    // Each detection links to its event, which the events API returns; details are there.
    // (Detection reads the stream, so it may be done before the event is searchable.)
    server.wait_count(&tag, 8, Duration::from_secs(20));
    for d in page["detections"].as_array().unwrap() {
        let event_id = d["event_id"].as_str().unwrap();
        let (status, ev) = get(&server, &admin, &format!("/api/v1/events/{event_id}"), &[]);
        assert_eq!(status, 200, "{ev}");
        let raw = ev["event"]["raw"].to_string();
        assert!(raw.contains(&tag), "{raw}");
        if d["rule_id"] == WHOAMI_ID {
            assert_eq!(d["host"], "WIN-DET-1", "{d}");
            assert_eq!(d["level"], "high");
            assert!(d["tags"].to_string().contains("attack.t1033"), "{d}");
            let cmd = d["command_line"].as_str().unwrap().to_ascii_lowercase();
            assert!(cmd.contains("whoami"), "{d}");
        } else {
            assert_eq!(d["host"], "bastion", "{d}");
            assert_eq!(d["source_ip"], "192.0.2.7", "{d}");
        }
        let (status, full) = get(
            &server,
            &admin,
            &format!("/api/v1/detections/{}", d["id"]),
            &[],
        );
        assert_eq!(status, 200, "{full}");
        assert_eq!(full["event"]["id"], d["event_id"], "{full}");
    }

    // Filters over the API and the CLI.
    let (_, high) = get(
        &server,
        &admin,
        "/api/v1/detections",
        &[("level", "high"), ("q", &tag)],
    );
    assert_eq!(high["total"], 3, "{high}");
    let (_, by_host) = get(
        &server,
        &admin,
        "/api/v1/detections",
        &[("host", "BASTION")],
    );
    assert_eq!(by_host["total"], 2, "{by_host}");
    let (_, counts) = get(&server, &admin, "/api/v1/detections/counts", &[("q", &tag)]);
    assert_eq!(counts["total"], 5, "{counts}");
    assert_eq!(counts["by_rule"][0]["rule_id"], WHOAMI_ID, "{counts}");
    let (ok, out, err) = cli(
        &server,
        &[
            "detections",
            "--rule",
            WHOAMI_ID,
            "--text",
            &tag,
            "-o",
            "jsonl",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    for line in out.lines() {
        let d: Value = serde_json::from_str(line).unwrap();
        assert_eq!(d["rule_id"], WHOAMI_ID);
    }
    let (ok, out, err) = cli(
        &server,
        &[
            "detections",
            "--level",
            "medium",
            "--from",
            "2000-01-01T00:00:00Z",
            "--host",
            "bastion",
            "-o",
            "csv",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("id,event time,level,rule,"), "{out}");
    assert_eq!(
        out.lines().count(),
        3,
        "header and two sshd detections: {out}"
    );
    let (ok, out, err) = cli(&server, &["detections", "--text", &tag]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Whoami Execution") && err.contains("5 detections matched"),
        "{out}{err}"
    );
    let (ok, out, err) = cli(
        &server,
        &["detections", "--counts", "--text", &tag, "-o", "csv"],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("{WHOAMI_ID},Whoami Execution,high,3")),
        "{out}"
    );

    // Disable (CLI): new matching events make no detection; enable (API): they do again.
    let (ok, out, err) = cli(
        &server,
        &[
            "rules",
            "disable",
            WHOAMI_ID,
            "--reason",
            "too noisy on build hosts",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("disabled"), "{out}");
    let tag2 = unique("off");
    send_ndjson(&server, &[sysmon(&format!("whoami {tag2}"))]);
    // A barrier after it on the same stream: once its detection exists, the whoami event
    // before it has been evaluated.
    send_ndjson(
        &server,
        &[
            json!({"log": {"syslog": {"appname": "sshd"}}, "host": {"name": "bastion"},
                 "message": format!("Failed password for root from 192.0.2.9 port 1 ssh2 {tag2}")}),
        ],
    );
    let page = wait_detections(&server, &admin, &[("q", &tag2)], 1, Duration::from_secs(30));
    assert_eq!(
        rule_ids(&page),
        vec![SSHD_ID.to_owned()],
        "disabled rule fired: {page}"
    );
    let (_, listed) = get(&server, &admin, "/api/v1/rules", &[]);
    let whoami = listed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == WHOAMI_ID)
        .unwrap()
        .clone();
    assert_eq!(whoami["enabled"], false, "{whoami}");
    assert_eq!(whoami["state"]["reason"], "too noisy on build hosts");
    assert_eq!(whoami["state"]["actor"], "boss");
    assert_eq!(whoami["detections"], 3, "{whoami}");
    let (status, body) = post(
        &server,
        &admin,
        &format!("/api/v1/rules/{WHOAMI_ID}/enable"),
        json!({"reason": "tuned"}),
    );
    assert_eq!(status, 200, "{body}");
    let tag3 = unique("on");
    send_ndjson(&server, &[sysmon(&format!("whoami {tag3}"))]);
    let page = wait_detections(&server, &admin, &[("q", &tag3)], 1, Duration::from_secs(30));
    assert_eq!(rule_ids(&page), vec![WHOAMI_ID.to_owned()]);
    let (status, _) = post(
        &server,
        &admin,
        "/api/v1/rules/no-such-rule/disable",
        json!({}),
    );
    assert_eq!(status, 404);

    // A new rule file is picked up without restart.
    std::fs::write(
        rules.join("mimikatz.yml"),
        format!(
            "title: Mimikatz Command Line\nid: {MIMIKATZ_ID}\nlevel: critical\n\
             logsource: {{product: windows, category: process_creation}}\n\
             detection: {{sel: {{CommandLine|contains: 'sekurlsa::'}}, condition: sel}}\n"
        ),
    )
    .unwrap();
    wait_rules(&server, &admin, 3);
    let tag4 = unique("new");
    send_ndjson(
        &server,
        &[sysmon(&format!("mimikatz sekurlsa::logonpasswords {tag4}"))],
    );
    let page = wait_detections(&server, &admin, &[("q", &tag4)], 1, Duration::from_secs(30));
    assert_eq!(rule_ids(&page), vec![MIMIKATZ_ID.to_owned()]);
    assert_eq!(page["detections"][0]["level"], "critical");

    // A broken rule file: reported through the API; the other rules keep working.
    std::fs::write(
        rules.join("broken.yml"),
        "title: Broken\nlogsource: {product: windows}\ndetection: {sel: {CommandLine|nosuchmodifier: x}, condition: sel}\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let diags = loop {
        let (status, body) = get(&server, &admin, "/api/v1/rules/diagnostics", &[]);
        assert_eq!(status, 200, "{body}");
        if body["diagnostics"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            break body;
        }
        assert!(Instant::now() < deadline, "no diagnostics: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        diags["diagnostics"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("broken.yml"),
        "{diags}"
    );
    let (ok, out, err) = cli(&server, &["rules", "reload"]);
    assert!(ok, "{err}");
    assert!(out.contains("3 rules loaded, 1 failed"), "{out}");
    let tag5 = unique("still");
    send_ndjson(&server, &[sysmon(&format!("whoami {tag5}"))]);
    let page = wait_detections(&server, &admin, &[("q", &tag5)], 1, Duration::from_secs(30));
    assert_eq!(rule_ids(&page), vec![WHOAMI_ID.to_owned()]);

    // A viewer reads detections (without the event) but may not change rules.
    let (status, page) = get(&server, &viewer, "/api/v1/detections", &[("q", &tag)]);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 5);
    let id = page["detections"][0]["id"].to_string();
    let (status, full) = get(&server, &viewer, &format!("/api/v1/detections/{id}"), &[]);
    assert_eq!(status, 200, "{full}");
    assert!(
        full["event"].is_null() && full["detection"]["id"].is_number(),
        "{full}"
    );
    let (status, _) = post(
        &server,
        &viewer,
        &format!("/api/v1/rules/{WHOAMI_ID}/disable"),
        json!({}),
    );
    assert_eq!(status, 403);
    let (status, _) = post(&server, &viewer, "/api/v1/rules/reload", json!({}));
    assert_eq!(status, 403);

    // The audit trail shows who changed which rule and why, and the refused attempt.
    let (_, audit) = get(&server, &admin, "/api/v1/audit", &[("limit", "1000")]);
    let records = audit["records"].as_array().unwrap();
    assert!(
        records.iter().any(|r| r["action"] == "rule.disable"
            && r["target"] == WHOAMI_ID
            && r["actor"] == "boss"
            && r["detail"] == "too noisy on build hosts"),
        "{audit}"
    );
    assert!(
        records.iter().any(|r| r["actor"] == "ciso"
            && r["outcome"] == "403"
            && r["action"].as_str().unwrap().ends_with("/disable")),
        "{audit}"
    );

    // Figures in status and metrics.
    let (_, status_doc) = get(&server, &admin, "/api/v1/status", &[]);
    let d = &status_doc["detection"];
    assert_eq!(d["rules_loaded"], 3, "{d}");
    assert_eq!(d["rules_failed"], 1, "{d}");
    assert!(d["detections_total"].as_u64().unwrap() >= 9, "{d}");
    let metrics = Server::agent()
        .get(server.url("/api/v1/metrics"))
        .header("Authorization", format!("Bearer {admin}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("rampart_detection_lag_events "),
        "{metrics}"
    );
}

/// With the default configuration the built-in rules run: a failed sshd login for an
/// unknown user over syslog TCP is detected by the built-in "SSH Login Attempt For Unknown
/// User" rule; "SSH Failed Login" matches too but only feeds the brute-force correlations
/// (referenced without `generate`), so it makes no detection of its own.
#[test]
fn builtin_rules_run_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "");
    let admin = server.admin_token.clone();
    let body = wait_rules_ready(&server, &admin);
    let rules = body["rules"].as_array().unwrap();
    assert!(!rules.is_empty(), "{body}");
    assert!(
        rules
            .iter()
            .all(|r| r["path"].as_str().unwrap_or("").starts_with("builtin/")),
        "{body}"
    );
    let tag = unique("bi");
    let mut tcp = std::net::TcpStream::connect(server.tcp).unwrap();
    tcp.write_all(
        format!("<38>Jun 14 15:16:01 gw sshd[7]: Failed password for invalid user {tag} from 198.51.100.4 port 22 ssh2\n")
            .as_bytes(),
    )
    .unwrap();
    drop(tcp);
    let page = wait_detections(&server, &admin, &[("q", &tag)], 1, Duration::from_secs(30));
    let titles: Vec<&str> = page["detections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["rule_title"].as_str())
        .collect();
    assert!(
        titles.contains(&"SSH Login Attempt For Unknown User"),
        "{page}"
    );
    assert!(!titles.contains(&"SSH Failed Login"), "{page}");
}

/// Stream matching events, kill -9 mid-stream, restart: every acknowledged matching event
/// has exactly one detection.
#[test]
fn killed_server_detects_every_acknowledged_event_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("crash.yml"),
        format!(
            "title: Crash Marker\nid: {CRASH_ID}\nlevel: low\n\
             logsource: {{product: windows, category: process_creation}}\n\
             detection: {{sel: {{CommandLine|contains: crashmark}}, condition: sel}}\n"
        ),
    )
    .unwrap();
    let mut server = Server::start(dir.path(), &detection_config(&rules));
    let admin = server.admin_token.clone();
    wait_rules(&server, &admin, 1);
    let run = unique("run");
    let url = server.url("/api/v1/ingest/ndjson");
    let token = server.ingest_token.clone();
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let run2 = run.clone();
    // Batch b holds events b*100 .. b*100+99; the even ones match.
    let sender = std::thread::spawn(move || {
        let agent = Server::agent();
        for batch in 0u64..100_000 {
            let mut body = String::new();
            for i in 0..100 {
                let n = batch * 100 + i;
                let cmd = if n % 2 == 0 {
                    format!("crashmark {run2} n{n}x")
                } else {
                    format!("benign {run2} n{n}x")
                };
                body.push_str(&sysmon(&cmd).to_string());
                body.push('\n');
            }
            match agent
                .post(&url)
                .header("Authorization", format!("Bearer {token}"))
                .send(body.as_bytes())
            {
                Ok(resp) if resp.status() == 200 => {
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
    let mut acked = Vec::new();
    while acked.len() < 30 {
        acked.push(
            rx.recv_timeout(Duration::from_secs(30))
                .expect("batches acknowledged"),
        );
    }
    server.kill9();
    let _ = sender.join();
    acked.extend(rx.try_iter());

    let server = Server::start_with(dir.path(), server.config.clone());
    let expected = acked.len() as u64 * 50;
    wait_detections(
        &server,
        &admin,
        &[("rule", CRASH_ID), ("q", &run)],
        expected,
        Duration::from_secs(60),
    );
    wait_caught_up(&server, &admin, 0, Duration::from_secs(60));
    // Every detection, page by page.
    let mut seen: Vec<u64> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![
            ("rule", CRASH_ID.to_owned()),
            ("q", run.clone()),
            ("limit", "5000".to_owned()),
        ];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, page) = get(&server, &admin, "/api/v1/detections", &q);
        assert_eq!(status, 200, "{page}");
        for d in page["detections"].as_array().unwrap() {
            let cmd = d["command_line"].as_str().unwrap();
            let n = cmd
                .split_whitespace()
                .find_map(|w| w.strip_prefix('n').and_then(|w| w.strip_suffix('x')))
                .and_then(|w| w.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no marker in {cmd}"));
            seen.push(n);
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    let unique_seen: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique_seen.len(), seen.len(), "an event detected twice");
    assert!(
        seen.iter().all(|n| n % 2 == 0),
        "a non-matching event was detected"
    );
    for batch in &acked {
        for i in (0..100).step_by(2) {
            let n = batch * 100 + i;
            assert!(
                unique_seen.contains(&n),
                "acknowledged matching event n{n} has no detection"
            );
        }
    }
    eprintln!(
        "{} acknowledged batches; {} detections after kill -9 and restart",
        acked.len(),
        seen.len()
    );
}

fn shared() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}

/// The shared EVTX corpus into a running server with the SigmaHQ rules: the detections
/// found through the API equal, rule by rule, what `rampart hunt` finds in the same files.
#[test]
fn evtx_corpus_detections_match_hunt() {
    let corpus = shared().join("datasets/evtx-attack-samples");
    let sigma = shared().join("sigma/rules");
    if !corpus.is_dir() || !sigma.is_dir() {
        if std::env::var("RAMPART_REQUIRE_SHARED").as_deref() == Ok("1") {
            panic!("shared corpus required (RAMPART_REQUIRE_SHARED=1) but absent");
        }
        eprintln!("SKIPPED: EVTX corpus detection test (../shared not present)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Only the SigmaHQ rules, as `rampart hunt` gets them.
    let cfg = common::write_config(
        dir.path(),
        "[detection]\nbuiltin_rules = false\nbuiltin_baselines = false\n",
    );
    let child = Command::new(common::bin())
        .args(["serve", "--print-addrs", "--rules"])
        .arg(&sigma)
        .arg("-c")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let server = Server::attach(child, dir.path(), cfg);
    let admin = server.admin_token.clone();

    // Parse the corpus here, as `rampart ingest` would, and send each event's fields
    // (what the rules see) with its time over HTTP NDJSON.
    let files: Vec<_> = rampart_ingest::import::discover(std::slice::from_ref(&corpus))
        .into_iter()
        .filter(|f| f.kind == rampart_ingest::import::ImportKind::Evtx)
        .collect();
    let mut lines: Vec<Value> = Vec::new();
    for file in &files {
        let Ok(records) =
            rampart_ingest::import::read(file, rampart_parse::Format::Auto, "default")
        else {
            continue;
        };
        for ev in records.flatten() {
            let mut fields = ev.fields.clone();
            fields.insert(
                "@timestamp".into(),
                Value::String(ev.timestamp.to_rfc3339()),
            );
            lines.push(Value::Object(fields));
        }
    }
    assert!(lines.len() > 5000, "corpus has {} events", lines.len());
    eprintln!("{} EVTX files, {} events", files.len(), lines.len());
    let body = wait_rules_ready(&server, &admin);
    let loaded = body["status"]["rules_loaded"].as_u64().unwrap();
    let started = Instant::now();
    for chunk in lines.chunks(1000) {
        send_ndjson(&server, chunk);
    }
    let sent_secs = started.elapsed().as_secs_f64();
    let status = wait_caught_up(
        &server,
        &admin,
        lines.len() as u64,
        Duration::from_secs(300),
    );
    let wall = started.elapsed().as_secs_f64();
    let (_, counts) = get(&server, &admin, "/api/v1/detections/counts", &[]);
    let total = counts["total"].as_u64().unwrap();
    eprintln!(
        "EVTX corpus: {} events, {loaded} rules; sent in {sent_secs:.1}s, detection caught up after {wall:.1}s; \
         {total} detections; worker evaluation {} events/s",
        lines.len(),
        status["eval_events_per_sec"]
    );
    assert!(total > 100, "{counts}");

    // Per-rule counts against `rampart hunt` on the same files.
    let out = Command::new(common::bin())
        .args(["hunt", "-o", "jsonl", "--rules"])
        .arg(&sigma)
        .args(files.iter().map(|f| &f.path))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut hunted: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut events_per_rule: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let d: Value = serde_json::from_str(line).unwrap();
        let id = d["rule_id"]
            .as_str()
            .or(d["rule"].as_str())
            .unwrap()
            .to_owned();
        events_per_rule
            .entry(id.clone())
            .or_default()
            .insert(d["event_id"].to_string());
        hunted
            .entry(id)
            .or_insert((d["rule"].as_str().unwrap_or("").to_owned(), 0))
            .1 += 1;
    }
    let served: BTreeMap<String, u64> = counts["by_rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule_id"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut differences = Vec::new();
    for (id, (title, n)) in &hunted {
        let got = served.get(id).copied().unwrap_or(0);
        if got != *n {
            differences.push(format!("{title} ({id}): hunt {n}, server {got}"));
        }
    }
    for (id, n) in &served {
        if !hunted.contains_key(id) {
            differences.push(format!("{id}: hunt 0, server {n}"));
        }
    }
    assert!(
        differences.is_empty(),
        "per-rule counts differ:\n{}",
        differences.join("\n")
    );
    // Several well-known techniques are among them.
    let techniques: HashSet<String> = counts["by_rule"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["rule_title"].as_str().map(str::to_owned))
        .collect();
    eprintln!(
        "{} rules fired; e.g. {:?}",
        techniques.len(),
        techniques.iter().take(8).collect::<Vec<_>>()
    );
    assert!(techniques.len() >= 20, "{counts}");
    let (_, high) = get(
        &server,
        &admin,
        "/api/v1/detections",
        &[("level", "high"), ("limit", "1")],
    );
    assert!(high["total"].as_u64().unwrap() > 0, "{high}");
}

fn wait_rules_ready(server: &Server, token: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = get(server, token, "/api/v1/rules", &[]);
        assert_eq!(status, 200, "{body}");
        if body["status"]["ready"] == true {
            return body;
        }
        assert!(Instant::now() < deadline, "rules not loaded: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Click `locator` once it can take the click: a freshly rendered view may still be
/// hidden or covered for a moment on a loaded machine ("element not interactable").
async fn click_when_ready(
    client: &fantoccini::Client,
    locator: fantoccini::Locator<'_>,
) -> Result<(), fantoccini::error::CmdError> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let attempt = match client.wait().for_element(locator).await {
            Ok(element) => element.click().await,
            Err(e) => Err(e),
        };
        match attempt {
            Ok(()) => return Ok(()),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The console's Detections view in a real browser (headless Chromium): the list, the
/// level filter, and the click through to the linked event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_lists_detections_and_opens_the_event() {
    use fantoccini::{ClientBuilder, Locator};
    if !common::have("chromedriver") || !Path::new("/usr/bin/chromium").exists() {
        if std::env::var("RAMPART_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("chromedriver/chromium required (RAMPART_REQUIRE_BROWSER=1) but not installed");
        }
        eprintln!("SKIPPED: console detections view (chromium + chromium-driver not installed)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("whoami.yml"), whoami_rule()).unwrap();
    std::fs::write(rules.join("sshd.yml"), sshd_rule()).unwrap();
    let server = Server::start(dir.path(), &detection_config(&rules));
    let admin = server.admin_token.clone();
    wait_rules(&server, &admin, 2);
    let tag = unique("ui");
    send_ndjson(
        &server,
        &[
            sysmon(&format!("whoami /groups {tag}")),
            json!({"log": {"syslog": {"appname": "sshd"}}, "host": {"name": "bastion"},
                   "message": format!("Failed password for root from 192.0.2.9 port 1 ssh2 {tag}")}),
        ],
    );
    let page = wait_detections(&server, &admin, &[("q", &tag)], 2, Duration::from_secs(30));
    server.wait_count(&tag, 2, Duration::from_secs(20));
    let whoami_event = page["detections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule_id"] == WHOAMI_ID)
        .unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut driver = Command::new("chromedriver")
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({"goog:chromeOptions": {"binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--window-size=1400,900",
                 format!("--user-data-dir={}", profile.path().display())]}});
    let caps = caps.as_object().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot start a browser session: {e}"),
        }
    };
    let result = async {
        client.goto(&server.url("/console")).await?;
        client
            .find(Locator::Id("token"))
            .await?
            .send_keys(&admin)
            .await?;
        click_when_ready(&client, Locator::Id("signin")).await?;
        click_when_ready(
            &client,
            Locator::Css("header nav button[data-view=detections]"),
        )
        .await?;
        client.wait().for_element(Locator::Css("tr.det")).await?;
        let all = client.find_all(Locator::Css("tr.det")).await?.len();
        // Level filter: high and above leaves the whoami detection only.
        click_when_ready(&client, Locator::Css("#dlevel option[value=high]")).await?;
        click_when_ready(&client, Locator::Id("drun")).await?;
        let deadline = Instant::now() + Duration::from_secs(15);
        let rows = loop {
            let meta = client.find(Locator::Id("dmeta")).await?.text().await?;
            let rows = client.find_all(Locator::Css("tr.det")).await?;
            if meta.starts_with("1 detections") || Instant::now() > deadline {
                break rows;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let first_row_text = rows[0].text().await?;
        rows[0].click().await?;
        let deadline = Instant::now() + Duration::from_secs(15);
        let detail = loop {
            let text = match client.find(Locator::Css("tr.detailrow pre")).await {
                Ok(e) => e.text().await?,
                Err(_) => String::new(),
            };
            if text.contains("\"event\": {") || Instant::now() > deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        Ok::<_, fantoccini::error::CmdError>((all, rows.len(), first_row_text, detail))
    }
    .await;
    let _ = client.close().await;
    let _ = driver.kill();
    let _ = driver.wait();
    let (all, high, row, detail) = result.expect("browser steps");
    assert_eq!(
        (all, high),
        (2, 1),
        "rows before and after the level filter"
    );
    assert!(row.contains("Whoami Execution"), "{row}");
    assert!(
        detail.contains(&whoami_event) && detail.contains(&tag),
        "{detail}"
    );
}
