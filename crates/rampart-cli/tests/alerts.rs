//! Alerts end to end in `rampart serve`: sshd lines over syslog TCP become correlation
//! detections and alerts; repeats fold, suppressions mute, analysts close, risk adds up,
//! related alerts group, and a kill -9 in the middle of a brute force loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, unique};
use serde_json::{Value, json};

/// The built-in "SSH Brute Force From One Source" correlation (≥ 10 failures in 5 min).
const BRUTE_FORCE: &str = "bc53baa7-ff46-4c1d-9d5e-e3d5f15484ff";
/// Its base rule, referenced without `generate`.
const FAILED_LOGIN: &str = "07035ab3-df0d-5292-a778-2d943fceeb34";

/// Built-in rules and correlations; no baselines (their clock would add anomalies).
const BUILTIN: &str = "[detection]\nbuiltin_baselines = false\n";

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

/// Run the CLI against `server` with `token`: (success, stdout, stderr).
fn cli(server: &Server, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::bin())
        .args(args)
        .arg("-c")
        .arg(&server.config)
        .args(["--server", &server.url(""), "--token", token])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn create_token(config: &Path, name: &str, role: &str) -> String {
    let out = Command::new(common::bin())
        .args(["token", "create", "--name", name, "--role", role, "-c"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// sshd `Failed password` lines from `ip` for `user`, one a second from `08:MM:SS` = `start`
/// seconds after 08:00:00 on Mar 10.
fn failures(ip: &str, user: &str, start: u32, n: u32) -> Vec<String> {
    (start..start + n)
        .map(|t| {
            format!(
                "<38>Mar 10 08:{:02}:{:02} web1 sshd[2211]: Failed password for {user} from {ip} port {} ssh2",
                t / 60,
                t % 60,
                40000 + t
            )
        })
        .collect()
}

fn send_syslog(server: &Server, lines: &[String]) {
    let mut tcp = std::net::TcpStream::connect(server.tcp).unwrap();
    for l in lines {
        tcp.write_all(format!("{l}\n").as_bytes()).unwrap();
    }
    tcp.flush().unwrap();
}

/// The status document's `detection` section once the worker has handled every event
/// accepted so far, evaluated at least `evaluated` of them and triaged what it stored.
fn wait_caught_up(server: &Server, token: &str, evaluated: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, doc) = get(server, token, "/api/v1/status", &[]);
        assert_eq!(status, 200, "{doc}");
        let d = doc["detection"].clone();
        if d["lag_events"].as_u64() == Some(0)
            && d["events_evaluated"].as_u64().unwrap_or(0) >= evaluated
            && d["triage"]["pending"].as_u64() == Some(0)
        {
            return d;
        }
        assert!(Instant::now() < deadline, "detection did not catch up: {d}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Alerts matching `query`.
fn alerts(server: &Server, token: &str, query: &[(&str, &str)]) -> Value {
    let (status, page) = get(server, token, "/api/v1/alerts", query);
    assert_eq!(status, 200, "{page}");
    page
}

fn detections(server: &Server, token: &str, query: &[(&str, &str)]) -> Value {
    let (status, page) = get(server, token, "/api/v1/detections", query);
    assert_eq!(status, 200, "{page}");
    page
}

/// An sshd brute force becomes one correlation detection and one alert; later failures
/// fold into it; a suppression for the source mutes the next firing (counted); an analyst
/// acknowledges and closes it from the CLI and the rule's noise shows the disposition.
#[test]
fn brute_force_alert_dedup_suppression_and_analyst_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), BUILTIN);
    let analyst = create_token(&cfg, "ann", "analyst");
    let viewer = create_token(&cfg, "vic", "viewer");
    // With tokens made before the first start, serve writes no admin token: make one.
    let admin = create_token(&cfg, "boss", "admin");
    std::fs::write(dir.path().join("data/admin.token"), &admin).unwrap();
    let server = Server::start_with(dir.path(), cfg);
    let ip = "203.0.113.77";

    // Ten failures in ten seconds: the correlation fires once, on the tenth.
    let mut sent = failures(ip, "root", 0, 10);
    send_syslog(&server, &sent);
    wait_caught_up(&server, &admin, sent.len() as u64);
    let page = detections(&server, &admin, &[("rule", BRUTE_FORCE)]);
    assert_eq!(page["total"], 1, "{page}");
    let d = &page["detections"][0];
    assert_eq!(d["kind"], "correlation", "{d}");
    assert_eq!(d["source_ip"], ip, "{d}");
    assert_eq!(d["value"], 10.0, "{d}");
    assert_eq!(
        d["group"],
        json!([{"field": "source.ip", "value": ip}]),
        "{d}"
    );
    assert_eq!(d["event_ids"].as_array().unwrap().len(), 10, "{d}");
    assert_eq!(
        detections(&server, &admin, &[("rule", FAILED_LOGIN)])["total"],
        0,
        "the base rule is only an input of the correlations"
    );
    let page = alerts(&server, &admin, &[("rule", BRUTE_FORCE)]);
    assert_eq!(page["total"], 1, "{page}");
    let alert = page["alerts"][0].clone();
    let id = alert["id"].as_i64().unwrap();
    assert_eq!(alert["source"], "correlation", "{alert}");
    assert_eq!(alert["count"], 1, "{alert}");
    assert_eq!(alert["entities"]["source_ip"], ip, "{alert}");

    // 80 s later (past the 60 s correlation suppression, inside the 5 min window): the
    // correlation fires again and the repeat folds into the same alert.
    let more = failures(ip, "root", 90, 3);
    send_syslog(&server, &more);
    sent.extend(more);
    wait_caught_up(&server, &admin, sent.len() as u64);
    assert_eq!(
        detections(&server, &admin, &[("rule", BRUTE_FORCE)])["total"],
        2
    );
    let page = alerts(&server, &admin, &[("rule", BRUTE_FORCE)]);
    assert_eq!(page["total"], 1, "deduplicated: {page}");
    assert_eq!(page["alerts"][0]["id"], id);
    assert_eq!(page["alerts"][0]["count"], 2, "{page}");

    // A suppression for that source: the next firing raises nothing and is counted.
    let (ok, out, err) = cli(
        &server,
        &admin,
        &[
            "suppress",
            "add",
            "--rule",
            BRUTE_FORCE,
            "--equals",
            &format!("source_ip={ip}"),
            "--reason",
            "authorised pen test",
            "--expires",
            "1d",
        ],
    );
    assert!(ok, "{out}{err}");
    let more = failures(ip, "root", 160, 1);
    send_syslog(&server, &more);
    sent.extend(more);
    let status = wait_caught_up(&server, &admin, sent.len() as u64);
    assert_eq!(
        detections(&server, &admin, &[("rule", BRUTE_FORCE)])["total"],
        3,
        "the detection is kept; only its alert is muted"
    );
    assert!(
        status["triage"]["suppressed"].as_u64().unwrap() >= 1,
        "{status}"
    );
    let page = alerts(&server, &admin, &[("rule", BRUTE_FORCE)]);
    assert_eq!(
        (page["total"].clone(), page["alerts"][0]["count"].clone()),
        (json!(1), json!(2))
    );
    let (_, sup) = get(&server, &admin, "/api/v1/suppressions", &[]);
    assert_eq!(sup["suppressions"][0]["hits"], 1, "{sup}");
    // What it muted is kept and readable, by a viewer too: the firing, its source, its events.
    let sid = sup["suppressions"][0]["id"].as_i64().unwrap();
    let (code, muted) = get(
        &server,
        &viewer,
        &format!("/api/v1/suppressions/{sid}/signals"),
        &[],
    );
    assert_eq!(code, 200, "{muted}");
    let signals = muted["signals"].as_array().unwrap();
    assert_eq!(signals.len(), 1, "{muted}");
    assert_eq!(signals[0]["rule_id"], BRUTE_FORCE, "{muted}");
    assert_eq!(signals[0]["source"], "correlation", "{muted}");
    assert_eq!(signals[0]["entities"]["source_ip"], ip, "{muted}");
    assert!(
        !signals[0]["event_ids"].as_array().unwrap().is_empty(),
        "{muted}"
    );
    let (ok, out, err) = cli(&server, &admin, &["suppress", "show", &sid.to_string()]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("1 signal(s) muted") && out.contains(&format!("source_ip={ip}")),
        "{out}"
    );
    let (code, _) = get(&server, &admin, "/api/v1/suppressions/9999/signals", &[]);
    assert_eq!(code, 404);

    // A viewer may read but not triage; the analyst acknowledges and closes it.
    let (code, _) = post(
        &server,
        &viewer,
        &format!("/api/v1/alerts/{id}/ack"),
        json!({}),
    );
    assert_eq!(code, 403);
    let (ok, out, err) = cli(&server, &analyst, &["alerts", "ack", &id.to_string()]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli(
        &server,
        &analyst,
        &[
            "alerts",
            "close",
            &id.to_string(),
            "--disposition",
            "tp",
            "--note",
            "blocked at the edge",
        ],
    );
    assert!(ok, "{out}{err}");
    let (_, detail) = get(&server, &admin, &format!("/api/v1/alerts/{id}"), &[]);
    assert_eq!(detail["alert"]["status"], "closed", "{detail}");
    assert_eq!(detail["alert"]["disposition"], "true_positive", "{detail}");
    let actors: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["actor"].as_str())
        .collect();
    assert!(actors.contains(&"ann"), "{detail}");
    let (ok, out, err) = cli(&server, &admin, &["alerts", "noise", "-o", "json"]);
    assert!(ok, "{out}{err}");
    let noise: Value = serde_json::from_str(&out).unwrap();
    let rows = noise
        .as_array()
        .or_else(|| noise["rules"].as_array())
        .unwrap_or_else(|| panic!("{noise}"));
    let row = rows.iter().find(|r| r["rule_id"] == BRUTE_FORCE).unwrap();
    assert_eq!(
        (
            row["raised"].clone(),
            row["deduplicated"].clone(),
            row["suppressed"].clone(),
            row["true_positive"].clone()
        ),
        (json!(1), json!(1), json!(1), json!(1)),
        "{row}"
    );
}

fn high_rule(dir: &Path, n: u32, command: &str, tactic: &str) {
    let text = format!(
        "title: Risky Command {n}\nid: 7a0b0c0d-0000-4000-8000-00000000000{n}\nlevel: high\n\
         tags: [attack.{tactic}]\n\
         logsource: {{product: windows, category: process_creation}}\n\
         detection: {{sel: {{CommandLine|contains: '{command}'}}, condition: sel}}\n"
    );
    std::fs::write(dir.join(format!("risky{n}.yml")), text).unwrap();
}

fn sysmon(host: &str, cmd: &str) -> Value {
    json!({"Event": {
        "System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
                   "Computer": host, "Provider": {"Name": "Microsoft-Windows-Sysmon"}},
        "EventData": {"CommandLine": cmd, "Image": "C:\\Windows\\System32\\cmd.exe"}},
        "host": {"name": host}})
}

fn send_ndjson(server: &Server, lines: &[Value]) {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let resp = Server::agent()
        .post(server.url("/api/v1/ingest/ndjson"))
        .header("Authorization", format!("Bearer {}", server.ingest_token))
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(resp.status(), 200, "ndjson ingest");
}

/// Three different high rules on one host add 3 × 40 risk to it: one risk alert, and the
/// host's alerts form one group.
#[test]
fn several_high_rules_on_one_host_raise_one_risk_alert_in_one_group() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &three_high_rules(dir.path()));
    let admin = server.admin_token.clone();
    let host = unique("ws-risk-");
    send_ndjson(
        &server,
        &[
            sysmon(&host, "vssadmin delete shadows /all"),
            sysmon(&host, "procdump -ma lsass.exe"),
            sysmon(&host, "net group \"domain admins\" /domain"),
            sysmon("other-host", "procdump -ma lsass.exe"),
        ],
    );
    let status = wait_caught_up(&server, &admin, 4);
    assert_eq!(status["triage"]["risk_alerts"], 1, "{status}");
    let page = alerts(&server, &admin, &[("source", "risk")]);
    assert_eq!(page["total"], 1, "{page}");
    let risk = &page["alerts"][0];
    assert_eq!(risk["entities"]["host"], host.to_lowercase(), "{risk}");
    assert_eq!(risk["level"], "high", "{risk}");
    let (ok, out, err) = cli(&server, &admin, &["risk", "--kind", "host", "-o", "json"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&host.to_lowercase()) && out.contains("120"),
        "{out}"
    );

    // The three detections on the host are one incident candidate; the other host's is not in it.
    let (code, groups) = get(&server, &admin, "/api/v1/alert-groups", &[]);
    assert_eq!(code, 200, "{groups}");
    let groups = groups["groups"].as_array().unwrap().clone();
    let ours: Vec<&Value> = groups
        .iter()
        .filter(|g| g.to_string().contains(&host.to_lowercase()))
        .collect();
    assert_eq!(ours.len(), 1, "{groups:?}");
    let gid = ours[0]["id"].as_i64().unwrap();
    let (_, group) = get(&server, &admin, &format!("/api/v1/alert-groups/{gid}"), &[]);
    let members = group["alerts"]
        .as_array()
        .unwrap_or_else(|| panic!("{group}"));
    let detection_members = members
        .iter()
        .filter(|a| a["source"] == "detection")
        .count();
    assert_eq!(detection_members, 3, "{group}");
    assert!(!group.to_string().contains("other-host"), "{group}");

    // The analyst names the incident candidate; an empty name is refused.
    let (ok, out, err) = cli(
        &server,
        &admin,
        &[
            "alerts",
            "rename-group",
            &gid.to_string(),
            "Ransomware staging",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("\"Ransomware staging\" (named by"), "{out}");
    let (_, named) = get(&server, &admin, &format!("/api/v1/alert-groups/{gid}"), &[]);
    assert_eq!(named["group"]["title"], "Ransomware staging", "{named}");
    let (code, answer) = post(
        &server,
        &admin,
        &format!("/api/v1/alert-groups/{gid}/title"),
        json!({"title": " "}),
    );
    assert_eq!(code, 400, "{answer}");

    // The analyst judges the incident candidate as a whole: one command closes its alerts.
    let (code, answer) = post(
        &server,
        &admin,
        &format!("/api/v1/alert-groups/{gid}/close"),
        json!({"disposition": "maybe"}),
    );
    assert_eq!(code, 400, "{answer}");
    let (ok, out, err) = cli(
        &server,
        &admin,
        &[
            "alerts",
            "close-group",
            &gid.to_string(),
            "--disposition",
            "tp",
            "--note",
            "ransomware staging",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("closed {} alert(s) as tp", members.len())),
        "{out}"
    );
    let (_, group) = get(&server, &admin, &format!("/api/v1/alert-groups/{gid}"), &[]);
    assert_eq!(group["group"]["open_alerts"], 0, "{group}");
    for a in group["alerts"].as_array().unwrap() {
        assert_eq!(a["status"], "closed", "{a}");
        assert_eq!(a["disposition"], "true_positive", "{a}");
    }
    let other = alerts(&server, &admin, &[("entity", "host:other-host")]);
    assert_eq!(other["alerts"][0]["status"], "new", "{other}");
    // Every closed alert counts in its rule's statistics, as if closed one by one.
    let (_, noise) = get(&server, &admin, "/api/v1/rules/noise", &[]);
    let true_positives: u64 = noise["rules"]
        .as_array()
        .unwrap_or_else(|| panic!("{noise}"))
        .iter()
        .filter_map(|r| r["true_positive"].as_u64())
        .sum();
    assert_eq!(true_positives, members.len() as u64, "{noise}");
    // Closing it again closes nothing more.
    let (code, answer) = post(
        &server,
        &admin,
        &format!("/api/v1/alert-groups/{gid}/close"),
        json!({"disposition": "true_positive"}),
    );
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["closed"], json!([]), "{answer}");
    // Retention deletes closed alerts only after `closed_alert_retention_days` (365).
    let (code, answer) = post(&server, &admin, "/api/v1/retention/run", json!({}));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        answer["alerts"],
        json!({"alerts": 0, "groups": 0}),
        "{answer}"
    );
    let (code, _) = get(&server, &admin, &format!("/api/v1/alert-groups/{gid}"), &[]);
    assert_eq!(code, 200);
}

/// Three high rules of [`high_rule`] (impact, credential access, discovery) written under
/// `dir`, alone: the configuration that loads them.
fn three_high_rules(dir: &Path) -> String {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    high_rule(&rules, 1, "vssadmin delete", "impact");
    high_rule(&rules, 2, "procdump", "credential-access");
    high_rule(&rules, 3, "net group", "discovery");
    format!(
        "[detection]\nrules_dirs = [\"{}\"]\nbuiltin_rules = false\nbuiltin_baselines = false\n",
        rules.display()
    )
}

/// Id of the group holding alert `alert` (after merges).
fn group_of_alert(server: &Server, token: &str, alert: i64) -> i64 {
    let (code, detail) = get(server, token, &format!("/api/v1/alerts/{alert}"), &[]);
    assert_eq!(code, 200, "{detail}");
    detail["alert"]["group_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("grouped: {detail}"))
}

/// The one alert of `rule` (a high rule of [`high_rule`]) on `host`.
fn alert_of(server: &Server, token: &str, n: u32, host: &str) -> i64 {
    let page = alerts(
        server,
        token,
        &[
            ("rule", &format!("7a0b0c0d-0000-4000-8000-00000000000{n}")),
            ("entity", &format!("host:{}", host.to_lowercase())),
        ],
    );
    assert_eq!(page["total"], 1, "{page}");
    page["alerts"][0]["id"].as_i64().unwrap()
}

/// Grouping undone by hand: alice's alert on one host and bob's on another make two
/// groups, bob's next alert on the first host merges them; the analyst undoes the merge
/// (CLI), then moves an alert that does not belong into a group of its own (API), with
/// the refusals a user can run into and the viewer kept out.
#[test]
fn an_analyst_undoes_a_merge_and_splits_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), &three_high_rules(dir.path()));
    let viewer = create_token(&cfg, "vic", "viewer");
    let admin = create_token(&cfg, "boss", "admin");
    std::fs::write(dir.path().join("data/admin.token"), &admin).unwrap();
    let server = Server::start_with(dir.path(), cfg);
    let (h1, h2) = (unique("ws-a-"), unique("ws-b-"));
    let with_user = |mut event: Value, user: &str| {
        event["user"] = json!({ "name": user });
        event
    };
    send_ndjson(
        &server,
        &[with_user(sysmon(&h1, "vssadmin delete shadows"), "alice")],
    );
    wait_caught_up(&server, &admin, 1);
    send_ndjson(
        &server,
        &[with_user(sysmon(&h2, "procdump -ma lsass.exe"), "bob")],
    );
    wait_caught_up(&server, &admin, 2);
    let (a1, a2) = (
        alert_of(&server, &admin, 1, &h1),
        alert_of(&server, &admin, 2, &h2),
    );
    let (g1, g2) = (
        group_of_alert(&server, &admin, a1),
        group_of_alert(&server, &admin, a2),
    );
    assert_ne!(g1, g2);
    // Bob on the first host: related to both groups, which merge into the most recent.
    send_ndjson(
        &server,
        &[with_user(sysmon(&h1, "net group /domain"), "bob")],
    );
    wait_caught_up(&server, &admin, 3);
    let a3 = alert_of(&server, &admin, 3, &h1);
    assert_eq!(group_of_alert(&server, &admin, a1), g2);
    assert_eq!(group_of_alert(&server, &admin, a3), g2);
    let (_, detail) = get(&server, &admin, &format!("/api/v1/alert-groups/{g2}"), &[]);
    assert_eq!(detail["merged"][0]["id"], g1, "{detail}");
    assert_eq!(detail["merged"][0]["alerts"], 1, "{detail}");
    let (ok, out, err) = cli(
        &server,
        &admin,
        &["alerts", "groups", "--id", &g2.to_string()],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("merged in: group {g1}")),
        "the CLI shows the merge: {out}"
    );

    // A viewer may not regroup; an unmerged group cannot be unmerged.
    let (code, answer) = post(
        &server,
        &viewer,
        &format!("/api/v1/alert-groups/{g1}/unmerge"),
        json!({}),
    );
    assert_eq!(code, 403, "{answer}");
    let (code, answer) = post(
        &server,
        &admin,
        &format!("/api/v1/alert-groups/{g2}/unmerge"),
        json!({}),
    );
    assert_eq!(code, 409, "{answer}");

    // The analyst undoes the merge: alice's alert goes back to its group.
    let (ok, out, err) = cli(
        &server,
        &admin,
        &["alerts", "unmerge-group", &g1.to_string()],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("moved 1 alert(s) from group {g2} to group {g1}")),
        "{out}"
    );
    assert_eq!(group_of_alert(&server, &admin, a1), g1);
    let (_, groups) = get(&server, &admin, "/api/v1/alert-groups", &[]);
    let counts: Vec<(i64, u64)> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["id"].as_i64().unwrap(),
                g["alert_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        counts.contains(&(g1, 1)) && counts.contains(&(g2, 2)),
        "{groups}"
    );
    let (ok, out, err) = cli(
        &server,
        &admin,
        &["alerts", "unmerge-group", &g1.to_string()],
    );
    assert!(!ok && err.contains("not merged"), "{out}{err}");

    // Then moves bob's alert on the first host out of bob's group, named; the moved
    // alert's history says who moved it where.
    for (alerts, why) in [
        (json!([a1]), "not in group"),
        (json!([a2, a3]), "all the alerts"),
        (json!([]), "1 to"),
    ] {
        let (code, answer) = post(
            &server,
            &admin,
            &format!("/api/v1/alert-groups/{g2}/split"),
            json!({ "alerts": alerts }),
        );
        assert_eq!(code, 400, "{answer}");
        assert!(answer.to_string().contains(why), "{answer}");
    }
    let (code, split) = post(
        &server,
        &admin,
        &format!("/api/v1/alert-groups/{g2}/split"),
        json!({ "alerts": [a3], "title": "Bob's admin session" }),
    );
    assert_eq!(code, 200, "{split}");
    let g3 = split["group"]["id"].as_i64().unwrap();
    assert_eq!(split["group"]["title"], "Bob's admin session", "{split}");
    assert_eq!(split["group"]["tactics"], json!(["discovery"]), "{split}");
    assert_eq!(split["from"]["alert_count"], 1, "{split}");
    assert_eq!(
        split["from"]["tactics"],
        json!(["credential_access"]),
        "{split}"
    );
    assert_eq!(group_of_alert(&server, &admin, a3), g3);
    let (_, moved) = get(&server, &admin, &format!("/api/v1/alerts/{a3}"), &[]);
    let last = moved["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["action"], &last["actor"]),
        (&json!("regroup"), &json!("boss"))
    );
    assert!(
        last["note"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("from group {g2} to group {g3}")),
        "{last}"
    );
    // Who did it is in the audit trail.
    let (code, audit) = get(&server, &admin, "/api/v1/audit", &[]);
    assert_eq!(code, 200, "{audit}");
    assert!(
        audit
            .to_string()
            .contains(&format!("/api/v1/alert-groups/{g2}/split")),
        "{audit}"
    );
    let g1_text = g1.to_string();
    let records = audit["records"]
        .as_array()
        .or_else(|| audit.as_array())
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(
        records.iter().any(|r| r["action"] == "alert_group.split"
            && r["actor"] == "boss"
            && r["detail"] == format!("alerts {a3} from group {g2} to group {g3}")),
        "{audit}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "alert_group.unmerge" && r["target"] == g1_text.as_str()),
        "{audit}"
    );
}

/// The fatigue controls are tuned on the running server, no restart: risk alerts turned
/// off from the CLI raise none for a host that crosses the threshold; after a reset to
/// the file's settings the next host that crosses it raises one. Who changed what is kept.
#[test]
fn triage_settings_change_on_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), &three_high_rules(dir.path()));
    let analyst = create_token(&cfg, "ann", "analyst");
    let engineer = create_token(&cfg, "eng", "soc_engineer");
    let admin = create_token(&cfg, "boss", "admin");
    std::fs::write(dir.path().join("data/admin.token"), &admin).unwrap();
    let server = Server::start_with(dir.path(), cfg);
    let (ok, out, err) = cli(&server, &analyst, &["alerts", "settings"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("\"threshold\": 100") && out.contains("source: the configuration file"),
        "{out}"
    );
    // An analyst may read them, not change them; a wrong value is refused with the reason.
    let (ok, out, err) = cli(
        &server,
        &analyst,
        &["alerts", "settings", "--set", "risk.enabled=false"],
    );
    assert!(!ok && err.contains("403"), "{out}{err}");
    let (ok, out, err) = cli(
        &server,
        &engineer,
        &["alerts", "settings", "--set", "risk.threshold=soon"],
    );
    assert!(!ok && err.contains("invalid type"), "{out}{err}");
    let (ok, out, err) = cli(
        &server,
        &engineer,
        &[
            "alerts",
            "settings",
            "--set",
            "risk.enabled=false",
            "--reason",
            "risk reviewed weekly",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("source: changed by eng") && out.contains("(risk reviewed weekly)"),
        "{out}"
    );
    let three = |host: &str| {
        [
            "vssadmin delete shadows",
            "procdump -ma lsass.exe",
            "net group /domain",
        ]
        .map(|cmd| sysmon(host, cmd))
    };
    let (h1, h2) = (unique("ws-quiet-"), unique("ws-loud-"));
    send_ndjson(&server, &three(&h1));
    let status = wait_caught_up(&server, &admin, 3);
    assert_eq!(status["triage"]["risk_alerts"], 0, "risk off: {status}");
    let (ok, out, err) = cli(&server, &engineer, &["alerts", "settings", "--reset"]);
    assert!(
        ok && out.contains("source: the configuration file"),
        "{out}{err}"
    );
    send_ndjson(&server, &three(&h2));
    let status = wait_caught_up(&server, &admin, 6);
    assert_eq!(
        status["triage"]["risk_alerts"], 1,
        "risk on again: {status}"
    );
    let page = alerts(&server, &admin, &[("source", "risk")]);
    assert_eq!(
        page["alerts"][0]["entities"]["host"],
        h2.to_lowercase(),
        "{page}"
    );
    let (code, state) = get(&server, &admin, "/api/v1/triage/settings", &[]);
    assert_eq!(code, 200, "{state}");
    let history = state["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{state}");
    assert_eq!(
        (&history[1]["actor"], &history[1]["reason"]),
        (&json!("eng"), &json!("risk reviewed weekly"))
    );
    assert_eq!(history[1]["settings"]["risk"]["enabled"], false, "{state}");
    assert!(history[0]["settings"].is_null(), "the reset: {state}");
    // The audit trail says what was changed, by whom and why.
    let (_, audit) = get(&server, &admin, "/api/v1/audit", &[]);
    let records = audit["records"]
        .as_array()
        .or_else(|| audit.as_array())
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "triage.settings.change"
                && r["actor"] == "eng"
                && r["detail"].as_str().is_some_and(
                    |d| d.contains("\"enabled\":false") && d.contains("risk reviewed weekly")
                )),
        "{audit}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "triage.settings.reset"),
        "{audit}"
    );
}

fn restart(dir: &Path, config: PathBuf) -> Server {
    Server::start_with(dir, config)
}

/// Half of a brute force, kill -9, the other half: the correlation fires exactly once
/// for that source (its window survived the crash) and not for a source below the
/// threshold; triage holds one alert for it.
#[test]
fn correlation_window_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), BUILTIN);
    let admin = server.admin_token.clone();
    let (attacker, prober) = ("198.51.100.23", "192.0.2.99");
    let mut first = failures(attacker, "root", 0, 5);
    first.extend(failures(prober, "guest", 0, 9));
    send_syslog(&server, &first);
    let status = wait_caught_up(&server, &admin, first.len() as u64);
    assert!(
        status["correlation"]["groups"].as_u64().unwrap() >= 2,
        "{status}"
    );
    assert_eq!(
        detections(&server, &admin, &[("rule", BRUTE_FORCE)])["total"],
        0
    );
    server.kill9();
    let config = server.config.clone();
    drop(server);

    let server = restart(dir.path(), config);
    send_syslog(&server, &failures(attacker, "root", 5, 5));
    let status = wait_caught_up(&server, &admin, 5);
    let page = detections(&server, &admin, &[("rule", BRUTE_FORCE)]);
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["detections"][0]["source_ip"], attacker);
    assert_eq!(page["detections"][0]["value"], 10.0);
    assert_eq!(
        status["correlation"]["firings"].as_u64(),
        Some(2),
        "by source and by account (root), restored counters included: {status}"
    );
    let page = alerts(&server, &admin, &[("rule", BRUTE_FORCE)]);
    assert_eq!(page["total"], 1, "{page}");
    assert!(!page.to_string().contains(prober), "{page}");
}
