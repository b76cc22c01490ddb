//! Threat intel in `rampart serve`, end to end: real binary, events over syslog and
//! NDJSON, a STIX import through the CLI with its retro-hunt, live matching, the
//! allow-list, expiry, roles, a kill -9, and a TAXII feed from the configuration polled
//! from a `medallion` server on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../rampart-intel/tests/support/medallion.rs"]
mod medallion;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, unique};
use serde_json::{Value, json};

const BAD_IP: &str = "198.51.100.23";
const BAD_DOMAIN: &str = "evil-updates.example";
const EXPIRED_IP: &str = "203.0.113.77";
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// The bundle, last modified now (so confidences have not decayed yet).
fn stix_bundle() -> Value {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let ind = |n: u32, pattern: &str, extra: Value| {
        let mut o = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--10000000-0000-4000-8000-00000000000{n}"),
            "created": "2024-05-01T00:00:00.000Z", "modified": now,
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2024-05-01T00:00:00Z",
            "valid_until": "2099-01-01T00:00:00Z", "confidence": 85
        });
        if let (Value::Object(o), Value::Object(e)) = (&mut o, extra) {
            o.extend(e);
        }
        o
    };
    json!({"type": "bundle", "id": "bundle--10000000-0000-4000-8000-000000000000", "objects": [
        ind(1, &format!("[ipv4-addr:value = '{BAD_IP}']"), json!({"external_references":
            [{"source_name": "mitre-attack", "external_id": "T1071.001"}]})),
        ind(2, &format!("[domain-name:value = '{BAD_DOMAIN}']"), json!({"confidence": 60})),
        ind(3, &format!("[file:hashes.'SHA-256' = '{SHA}']"), json!({"confidence": 40})),
        ind(4, &format!("[ipv4-addr:value = '{EXPIRED_IP}']"),
            json!({"valid_until": "2024-06-01T00:00:00Z"})),
    ]})
}

/// A Sysmon process creation with `Hashes`, as NDJSON.
fn sysmon(tag: &str, sha: &str) -> Value {
    json!({"Event": {
        "System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
                   "Computer": "WIN-INTEL-1"},
        "EventData": {"CommandLine": format!("evil.exe {tag}"), "Image": "C:\\Temp\\evil.exe",
                      "Hashes": format!("MD5=00000000000000000000000000000000,SHA256={},IMPHASH=11111111111111111111111111111111", sha.to_uppercase())}},
        "host": {"name": "WIN-INTEL-1"}, "message": format!("sysmon {tag}")})
}

fn dns(tag: &str, name: &str) -> Value {
    json!({"dns": {"question": {"name": name}}, "host": {"name": "resolver-1"},
           "message": format!("dns {tag}")})
}

fn conn(tag: &str, ip: &str) -> Value {
    json!({"source": {"ip": "10.1.1.5"}, "destination": {"ip": ip},
           "host": {"name": "fw-1"}, "message": format!("conn {tag}")})
}

fn tokens(dir: &Path, cfg: &Path) -> (String, String) {
    let token = |name: &str, role: &str| {
        let out = Command::new(common::bin())
            .args(["token", "create", "--name", name, "--role", role, "-c"])
            .arg(cfg)
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
    (admin, viewer)
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

fn post_bytes(server: &Server, token: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let mut resp = Server::agent()
        .post(server.url(path))
        .header("Authorization", format!("Bearer {token}"))
        .send(body)
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

fn send_syslog(server: &Server, lines: &[String]) {
    let mut tcp = std::net::TcpStream::connect(server.tcp).unwrap();
    for line in lines {
        tcp.write_all(line.as_bytes()).unwrap();
        tcp.write_all(b"\n").unwrap();
    }
    tcp.flush().unwrap();
}

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

/// Sightings of `kind` (live or retro), all of them.
fn sightings(server: &Server, token: &str, kind: &str) -> Vec<Value> {
    let (status, body) = get(
        server,
        token,
        "/api/v1/intel/sightings",
        &[("kind", kind), ("limit", "10000")],
    );
    assert_eq!(status, 200, "{body}");
    body["sightings"].as_array().unwrap().clone()
}

/// Sightings of `kind`, waiting until there are at least `at_least`.
fn wait_sightings(server: &Server, token: &str, kind: &str, at_least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = sightings(server, token, kind);
        if list.len() >= at_least {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{kind} sightings: {} < {at_least}: {list:?}",
            list.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The intel status once live matching has handled everything accepted so far.
fn wait_caught_up(server: &Server, token: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, doc) = get(server, token, "/api/v1/status", &[]);
        assert_eq!(status, 200, "{doc}");
        let i = doc["intel"].clone();
        if i["lag_events"].as_u64() == Some(0) && i["head_seq"].as_u64().unwrap_or(0) > 0 {
            return i;
        }
        assert!(Instant::now() < deadline, "intel did not catch up: {i}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The message of a sighting's event, read back through the events API.
fn message(server: &Server, token: &str, sighting: &Value) -> String {
    let id = sighting["event_id"].as_str().unwrap();
    let (status, ev) = get(server, token, &format!("/api/v1/events/{id}"), &[]);
    assert_eq!(status, 200, "{ev}");
    let doc = &ev["event"]["fields"];
    doc["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| ev["event"]["raw"].to_string())
}

/// `"<event label> <indicator value>"` of each sighting, sorted.
fn summary(server: &Server, token: &str, list: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = list
        .iter()
        .map(|s| {
            let msg = message(server, token, s);
            let first = if msg.contains("Failed password") {
                "sshd".to_owned()
            } else {
                msg.split_whitespace().next().unwrap_or("").to_owned()
            };
            format!("{first} {}", s["indicator"]["value"].as_str().unwrap())
        })
        .collect();
    v.sort();
    v
}

const CONFIG: &str = "[intel]\npoll_tick = \"1s\"\n[detection]\nenabled = false\n";

#[test]
fn import_retro_hunts_then_live_matching_allow_list_roles_and_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), CONFIG);
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let (admin, viewer) = tokens(dir.path(), &cfg);
    let mut server = Server::start_with(dir.path(), cfg.clone());
    let tag = unique("intel");

    // Events already stored when the indicators arrive (within the 30-day look-back, so
    // stamped now): a syslog sshd failure from the bad
    // IP, a DNS query for a subdomain of the bad domain, a Sysmon event with the bad
    // SHA-256, a connection to an expired indicator's IP, and benign traffic.
    send_syslog(
        &server,
        &[format!(
            "<38>1 {} bastion sshd 4242 - - Failed password for root from {BAD_IP} port 4242 ssh2 {tag}",
            jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
        )],
    );
    send_ndjson(
        &server,
        &[
            dns(&tag, &format!("cdn.{BAD_DOMAIN}")),
            sysmon(&tag, SHA),
            conn(&tag, EXPIRED_IP),
            conn(&tag, "192.0.2.99"),
            dns(&tag, "example.org"),
        ],
    );
    assert_eq!(server.wait_count(&tag, 6, Duration::from_secs(30)), 6);
    let (status, ev) = get(
        &server,
        &admin,
        "/api/v1/search",
        &[
            ("q", &format!("{tag} AND source.ip:{BAD_IP}")),
            ("from", "*"),
        ],
    );
    assert_eq!(status, 200);
    assert_eq!(
        ev["result"]["total"], 1,
        "the sshd parser gives source.ip: {ev}"
    );

    // A viewer may read intel but not import.
    let bundle = dir.path().join("bundle.json");
    std::fs::write(&bundle, stix_bundle().to_string()).unwrap();
    let (status, body) = post_bytes(
        &server,
        &viewer,
        "/api/v1/intel/import?feed=stix-test",
        stix_bundle().to_string().as_bytes(),
    );
    assert_eq!(status, 403, "{body}");
    let (ok, _, err) = cli(
        &server,
        &viewer,
        &[
            "intel",
            "import",
            bundle.to_str().unwrap(),
            "--feed",
            "stix-test",
        ],
    );
    assert!(!ok && err.contains("403"), "{err}");
    let (status, _) = get(&server, &viewer, "/api/v1/intel/sightings", &[]);
    assert_eq!(status, 200);

    // Import through the CLI: the retro-hunt finds the three stored events at once.
    let (ok, out, err) = cli(
        &server,
        &admin,
        &[
            "intel",
            "import",
            bundle.to_str().unwrap(),
            "--feed",
            "stix-test",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("4 added"), "{out}");
    assert!(out.contains("3 sightings"), "{out}");
    let retro = wait_sightings(&server, &admin, "retro", 3);
    assert_eq!(
        summary(&server, &admin, &retro),
        [
            format!("dns {BAD_DOMAIN}"),
            format!("sshd {BAD_IP}"),
            format!("sysmon {SHA}"),
        ],
        "{retro:#?}"
    );
    let ip = retro
        .iter()
        .find(|s| s["indicator"]["value"] == BAD_IP)
        .unwrap();
    assert_eq!(ip["field"], "source.ip", "{ip}");
    assert_eq!(ip["indicator"]["source"], "stix-test");
    assert_eq!(ip["indicator"]["confidence"], 85);
    assert!(
        ip["indicator"]["references"]
            .to_string()
            .contains("T1071.001"),
        "{ip}"
    );
    let dns_hit = retro
        .iter()
        .find(|s| s["indicator"]["value"] == BAD_DOMAIN)
        .unwrap();
    assert_eq!(dns_hit["value"], format!("cdn.{BAD_DOMAIN}"));

    // Alerts, when triage is wired into serve: one intel alert per sighting's rule.
    let (status, alerts) = get(&server, &admin, "/api/v1/alerts", &[("source", "intel")]);
    if status == 200 {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut rules: Vec<String>;
        loop {
            let (_, alerts) = get(&server, &admin, "/api/v1/alerts", &[("source", "intel")]);
            rules = alerts["alerts"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x["rule_id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if rules.len() >= 3 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        rules.sort();
        assert_eq!(
            rules,
            ["intel.domain", "intel.ipv4", "intel.sha256"],
            "{alerts}"
        );
    } else {
        println!("NOTE: alerts API answered {status}: intel sightings are recorded only");
    }

    // Live: new events with the same values, and one with the expired indicator's IP.
    let tag2 = unique("live");
    send_ndjson(
        &server,
        &[
            conn(&tag2, BAD_IP),
            dns(&tag2, &format!("a.b.{BAD_DOMAIN}")),
            sysmon(&tag2, SHA),
            conn(&tag2, EXPIRED_IP),
        ],
    );
    wait_sightings(&server, &admin, "live", 3);
    wait_caught_up(&server, &admin);
    // Matching reads the stream: the events may not be searchable yet.
    server.wait_count(&tag2, 4, Duration::from_secs(30));
    let live = sightings(&server, &admin, "live");
    assert_eq!(
        summary(&server, &admin, &live),
        [
            format!("conn {BAD_IP}"),
            format!("dns {BAD_DOMAIN}"),
            format!("sysmon {SHA}"),
        ],
        "no sighting for the expired indicator: {live:#?}"
    );

    // Allow-listed: the domain stops matching; the IP in the same batch still matches.
    let (ok, out, err) = cli(
        &server,
        &admin,
        &[
            "intel",
            "allow",
            "add",
            BAD_DOMAIN,
            "--reason",
            "sinkholed by us",
        ],
    );
    assert!(ok && out.contains("allowed domain"), "{out} {err}");
    let (ok, out, _) = cli(&server, &viewer, &["intel", "allow", "list", "--json"]);
    assert!(ok && out.contains("sinkholed by us"), "{out}");
    let tag3 = unique("allow");
    send_ndjson(
        &server,
        &[dns(&tag3, &format!("x.{BAD_DOMAIN}")), conn(&tag3, BAD_IP)],
    );
    wait_sightings(&server, &admin, "live", 4);
    wait_caught_up(&server, &admin);
    let live = sightings(&server, &admin, "live");
    assert_eq!(live.len(), 4, "{live:#?}");
    assert!(
        !live.iter().any(|s| s["value"] == format!("x.{BAD_DOMAIN}")),
        "{live:#?}"
    );

    // The CLI lists indicators, feeds and sightings; credentials given to the API are
    // never shown back.
    let (ok, out, err) = cli(
        &server,
        &viewer,
        &["intel", "list", "--kind", "domain", "--json"],
    );
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["count"], 1, "{listed}");
    let (ok, out, err) = cli(&server, &viewer, &["intel", "sightings", "--kind", "retro"]);
    assert!(ok && out.contains(SHA), "{out} {err}");
    let feed = json!({"name": "paid-feed", "kind": "url", "url": "http://127.0.0.1:9/feed.csv",
                      "format": "csv", "username": "soc", "password": "hunter2-secret",
                      "enabled": false});
    let (status, body) = post_bytes(
        &server,
        &admin,
        "/api/v1/intel/feeds",
        feed.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    let (ok, out, err) = cli(&server, &viewer, &["intel", "feeds", "--json"]);
    assert!(ok, "{err}");
    assert!(
        !out.contains("hunter2") && out.contains("********"),
        "{out}"
    );
    let (ok, _, err) = cli(&server, &admin, &["intel", "feeds", "remove", "paid-feed"]);
    assert!(ok, "{err}");

    // kill -9 right after ingest is acknowledged: on restart every acknowledged event is
    // matched exactly once.
    let before = sightings(&server, &admin, "live").len();
    let tag4 = unique("crash");
    let batch: Vec<Value> = (0..25)
        .map(|i| conn(&format!("{tag4}-{i}"), BAD_IP))
        .collect();
    send_ndjson(&server, &batch[..10]);
    send_ndjson(&server, &batch[10..]);
    server.kill9();
    let server = Server::start_with(dir.path(), cfg);
    wait_sightings(&server, &admin, "live", before + 25);
    wait_caught_up(&server, &admin);
    let live = sightings(&server, &admin, "live");
    assert_eq!(live.len(), before + 25, "none lost, none twice");
    let ids: std::collections::HashSet<&str> = live
        .iter()
        .map(|s| s["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), live.len(), "one sighting per event");
    let status = wait_caught_up(&server, &admin);
    assert_eq!(status["sightings"]["undelivered"], 0, "{status}");
}

#[test]
fn taxii_feed_from_the_config_is_polled_and_matches() {
    if medallion::skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = medallion::free_port();
    let mut ip = medallion::indicator(1, "[ipv4-addr:value = '198.51.100.7']");
    ip["valid_until"] = json!("2099-01-01T00:00:00Z");
    let mut dom = medallion::indicator(2, "[domain-name:value = 'taxii-evil.example']");
    dom["valid_until"] = json!("2099-01-01T00:00:00Z");
    let objects = vec![
        (ip, "2024-05-01T00:00:03.000000Z"),
        (dom, "2024-05-01T00:00:04.000000Z"),
        (
            medallion::indicator(
                3,
                "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
            ),
            "2024-05-01T00:00:05.000000Z",
        ),
    ];
    let password = "taxii-pass-not-in-config";
    let _taxii = medallion::start(dir.path(), port, &objects, password);
    let extra = format!(
        "{CONFIG}[[intel.feed]]\nname = \"medallion\"\nkind = \"taxii\"\n\
         url = \"http://127.0.0.1:{port}/taxii2/\"\ncollection = \"{}\"\ninterval = \"1h\"\n\
         username = \"analyst\"\npassword_env = \"RAMPART_TEST_TAXII_PASSWORD\"\n",
        medallion::COLLECTION_TITLE
    );
    let cfg = common::write_config(dir.path(), &extra);
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(!text.contains(password));
    let child = Command::new(common::bin())
        .args(["serve", "--print-addrs", "-c"])
        .arg(&cfg)
        .env("RAMPART_TEST_TAXII_PASSWORD", password)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server::attach(child, dir.path(), cfg);
    let admin = server.admin_token.clone();

    // The poller fetches the collection at start: three indicators from the feed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let indicators = loop {
        let (status, body) = get(
            &server,
            &admin,
            "/api/v1/intel/indicators",
            &[("source", "medallion")],
        );
        assert_eq!(status, 200, "{body}");
        if body["count"] == 3 {
            break body;
        }
        assert!(Instant::now() < deadline, "feed not polled: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(indicators.to_string().contains("taxii-evil.example"));
    let (_, feeds) = get(&server, &admin, "/api/v1/intel/feeds", &[]);
    let f = &feeds["feeds"][0];
    assert_eq!(f["config"]["name"], "medallion", "{feeds}");
    assert_eq!(f["last_error"], Value::Null, "{feeds}");
    assert!(!feeds.to_string().contains(password), "{feeds}");
    let (_, status) = get(&server, &admin, "/api/v1/intel/status", &[]);
    assert_eq!(status["feeds"][0]["indicators"], 3, "{status}");

    // Events with those values match live.
    let tag = unique("taxii");
    send_ndjson(
        &server,
        &[
            conn(&tag, "198.51.100.7"),
            dns(&tag, "www.taxii-evil.example"),
            conn(&tag, "192.0.2.1"),
        ],
    );
    let live = wait_sightings(&server, &admin, "live", 2);
    let mut values: Vec<&str> = live
        .iter()
        .map(|s| s["indicator"]["value"].as_str().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, ["198.51.100.7", "taxii-evil.example"], "{live:#?}");
    assert!(live.iter().all(|s| s["indicator"]["source"] == "medallion"));

    // Poll now through the CLI: nothing new (incremental).
    let (ok, out, err) = cli(&server, &admin, &["intel", "feeds", "poll", "medallion"]);
    assert!(ok, "{err}");
    assert!(out.contains("0 added"), "{out}");
}
