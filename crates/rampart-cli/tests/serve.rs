//! `rampart serve` end to end: real clients on every input, real search, real crashes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Server, have, unique};

fn logger(args: &[&str], msg: &str) {
    let status = Command::new("logger")
        .args(args)
        .arg(msg)
        .status()
        .expect("run logger");
    assert!(status.success(), "logger {args:?} failed");
}

fn curl(args: &[&str], body: &[u8]) -> (u16, String) {
    let mut child = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--data-binary",
            "@-",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run curl");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn every_input_delivers_searchable_events() {
    let dir = tempfile::tempdir().unwrap();
    let app_log = dir.path().join("app.log");
    let tag = unique("inp");
    std::fs::write(
        &app_log,
        format!("Jun 14 15:16:01 combo app[1]: {tag}file1\n"),
    )
    .unwrap();
    let files = format!(
        "[[ingest.files]]\nname = \"app\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\npoll_interval = \"100ms\"\n",
        app_log.display()
    );
    let server = Server::start(dir.path(), &files);
    // A line appended while the server runs is followed too.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&app_log)
        .unwrap();
    writeln!(f, "Jun 14 15:16:02 combo app[1]: {tag}file2").unwrap();
    drop(f);
    let mut expected = 2u64;

    if have("logger") {
        let udp_port = server.udp.port().to_string();
        let tcp_port = server.tcp.port().to_string();
        logger(
            &[
                "--server",
                "127.0.0.1",
                "--port",
                &udp_port,
                "--udp",
                "--rfc5424",
                "-t",
                "sshd",
            ],
            &format!("Failed password for root from 192.0.2.10 port 4242 ssh2 {tag}udp5424"),
        );
        logger(
            &[
                "--server",
                "127.0.0.1",
                "--port",
                &udp_port,
                "--udp",
                "--rfc3164",
            ],
            &format!("{tag}udp3164"),
        );
        logger(
            &[
                "--server",
                "127.0.0.1",
                "--port",
                &tcp_port,
                "--tcp",
                "--octet-count",
                "--rfc5424",
            ],
            &format!("{tag}tcpoctet"),
        );
        logger(
            &[
                "--server",
                "127.0.0.1",
                "--port",
                &tcp_port,
                "--tcp",
                "--rfc3164",
            ],
            &format!("{tag}tcpnewline"),
        );
        expected += 4;
    } else {
        eprintln!("SKIPPED: logger (util-linux) not installed: syslog client checks");
    }

    if have("openssl") {
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &server.tls.to_string(),
                "-quiet",
                "-verify_return_error",
                "-CAfile",
            ])
            .arg(server.dir.join("data/tls/server.crt"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            "<13>1 2024-05-01T10:00:00Z tlshost app - - - {tag}tls"
        )
        .unwrap();
        stdin.flush().unwrap();
        // s_client -quiet ignores EOF on stdin: keep it until the event is stored.
        let got = server.wait_count(&format!("{tag}tls"), 1, Duration::from_secs(20));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(got, 1, "event sent over TLS by openssl s_client");
        expected += 1;
    } else {
        eprintln!("SKIPPED: openssl not installed: TLS client check");
    }

    if have("curl") {
        let hec = server.url("/services/collector/event");
        let auth = format!("Authorization: Splunk {}", server.ingest_token);
        let (code, body) = curl(&["-H", &auth, &hec], format!("{{\"event\":\"{tag}hec1\",\"host\":\"h1\"}}{{\"event\":{{\"message\":\"{tag}hec2\"}},\"time\":1714557600}}").as_bytes());
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("\"code\":0"), "{body}");
        let raw = server.url("/services/collector/raw");
        let (code, body) = curl(
            &["-H", &auth, &raw],
            format!("{tag}raw1\n{tag}raw2\n").as_bytes(),
        );
        assert_eq!(code, 200, "{body}");
        let bulk = server.url("/_bulk");
        let bearer = format!("Authorization: Bearer {}", server.ingest_token);
        let (code, body) = curl(&["-H", &bearer, "-H", "Content-Type: application/x-ndjson", &bulk], format!("{{\"index\":{{\"_index\":\"logs\"}}}}\n{{\"message\":\"{tag}bulk1\"}}\n{{\"create\":{{}}}}\n{{\"message\":\"{tag}bulk2\"}}\n").as_bytes());
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("\"errors\":false"), "{body}");
        // Filebeat/Logstash/Fluent Bit pointed at http://host:port/es probe, then bulk.
        let basic = format!("elastic:{}", server.ingest_token);
        let out = Command::new("curl")
            .args(["-sS", "-u", &basic, &server.url("/es/")])
            .output()
            .unwrap();
        let probe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            probe["version"]["number"]
                .as_str()
                .unwrap_or("")
                .starts_with('8'),
            "{probe}"
        );
        let (code, body) = curl(
            &[
                "-u",
                &basic,
                "-H",
                "Content-Type: application/x-ndjson",
                &server.url("/es/_bulk"),
            ],
            format!(
                "{{\"create\":{{\"_index\":\"filebeat-8\"}}}}\n{{\"message\":\"{tag}esbulk\"}}\n"
            )
            .as_bytes(),
        );
        assert_eq!(code, 200, "{body}");
        expected += 1;
        let nd = server.url("/api/v1/ingest/ndjson");
        let (code, body) = curl(
            &["-H", &bearer, &nd],
            format!(
                "{{\"message\":\"{tag}nd1\"}}\nnot json {tag}nd2\n{{\"message\":\"{tag}nd3\"}}\n"
            )
            .as_bytes(),
        );
        assert_eq!(code, 200, "{body}");
        expected += 9;
    } else {
        eprintln!("SKIPPED: curl not installed: HTTP ingest checks");
    }

    // Every marker ends up searchable as free text (markers are suffixes of longer words
    // in a few lines, so search each one by its own token).
    let found = server.wait_count(&format!("{tag}*"), expected, Duration::from_secs(20));
    if found != expected {
        let (_, body) = server.search(&format!("{tag}* | fields event.original"));
        panic!("{found} of {expected} events searchable: {body}");
    }
    if have("logger") {
        let (_, body) = server.search(&format!("{tag}udp5424"));
        let ev = &body["result"]["events"][0];
        assert_eq!(ev["fields"]["source"]["ip"], "192.0.2.10", "{ev}");
        assert_eq!(ev["fields"]["event"]["outcome"], "failure", "{ev}");
        assert_eq!(ev["origin"]["kind"], "syslog_udp");
    }
}

#[test]
fn killed_server_keeps_every_acknowledged_event_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), "");
    let run = unique("run");
    let url = server.url("/api/v1/ingest/ndjson");
    let token = server.ingest_token.clone();
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let run2 = run.clone();
    let sender = std::thread::spawn(move || {
        let agent = Server::agent();
        for batch in 0u64..10_000 {
            let mut body = String::new();
            for i in 0..200 {
                body.push_str(&format!("{{\"message\":\"crash test\",\"test\":{{\"run\":\"{run2}\",\"batch\":{batch},\"seq\":{}}}}}\n", batch * 200 + i));
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
    // Let it ingest for a while, then kill -9 mid-stream.
    let mut acked = Vec::new();
    while acked.len() < 40 {
        acked.push(
            rx.recv_timeout(Duration::from_secs(30))
                .expect("batches acknowledged"),
        );
    }
    server.kill9();
    let _ = sender.join();
    acked.extend(rx.try_iter());
    assert!(acked.len() >= 40);

    let server = Server::start_with(dir.path(), server.config.clone());
    let q = format!("test.run:{run}");
    let expected = acked.len() as u64 * 200;
    let total = server.wait_count(&q, expected, Duration::from_secs(30));
    assert!(
        total >= expected,
        "only {total} of {expected} acknowledged events after restart"
    );
    // exactly once: no seq twice.
    let (status, body) = server.search(&format!(
        "{q} | stats count() by test.seq | where count > 1"
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["rows"].as_array().map(|r| r.len()),
        Some(0),
        "duplicates: {body}"
    );
    // every acknowledged batch complete.
    let (_, body) = server.search(&format!("{q} | stats count() by test.batch"));
    let rows = body["result"]["rows"].as_array().unwrap().clone();
    for batch in &acked {
        let row = rows
            .iter()
            .find(|r| r[0].as_u64() == Some(*batch) || r[0].as_str() == Some(&batch.to_string()));
        let count = row.and_then(|r| r[1].as_u64());
        assert_eq!(
            count,
            Some(200),
            "batch {batch} incomplete after kill -9: {row:?}"
        );
    }
}

#[test]
fn hostile_input_gets_clear_answers_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "");
    let tag = unique("bad");

    // A huge line, invalid UTF-8 and a truncated frame over TCP: kept, never fatal.
    let mut s = std::net::TcpStream::connect(server.tcp).unwrap();
    let mut huge = format!("<13>1 2024-01-01T00:00:00Z h app - - - {tag}huge ").into_bytes();
    huge.extend(std::iter::repeat_n(b'A', 200_000));
    huge.push(b'\n');
    s.write_all(&huge).unwrap();
    s.write_all(b"<13>bad \xff\xfe utf8 ").unwrap();
    s.write_all(format!("{tag}utf8\n").as_bytes()).unwrap();
    s.write_all(format!("{tag}ok\n<1").as_bytes()).unwrap();
    drop(s);

    // Bad tokens get Splunk's answers.
    let agent = Server::agent();
    let mut resp = agent
        .post(server.url("/services/collector/event"))
        .header("Authorization", "Splunk nope")
        .send("{\"event\":\"x\"}")
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        resp.body_mut()
            .read_to_string()
            .unwrap()
            .contains("\"code\":4")
    );
    let resp = agent
        .post(server.url("/services/collector/event"))
        .send("{\"event\":\"x\"}")
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Broken JSON lines do not lose the rest of the batch.
    let body = format!(
        "{{\"message\":\"{tag}json1\"}}\n{{broken {tag}json3\n{{\"message\":\"{tag}json2\"}}\n"
    );
    let resp = agent
        .post(server.url("/api/v1/ingest/ndjson"))
        .header("Authorization", format!("Bearer {}", server.ingest_token))
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A 1 GB body is refused early with 413, without the server reading all of it.
    let mut s = std::net::TcpStream::connect(server.http).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "POST /api/v1/ingest/ndjson HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 1073741824\r\n\r\n", server.ingest_token).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0usize;
    for _ in 0..1024 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
        if sent > 64 << 20 {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "answer to a 1 GB body: {answer:.200}"
    );
    assert!(sent < 1 << 30, "the server read the whole gigabyte");

    // A query error points at its position.
    let (status, body) = server.search("host.name:(a OR b");
    assert_eq!(status, 400);
    assert!(body["position"].as_u64().is_some(), "{body}");

    // Everything accepted is there; the raw bytes of the bad line are kept.
    let found = server.wait_count(&format!("{tag}*"), 6, Duration::from_secs(20));
    assert_eq!(
        found, 6,
        "huge, utf8, ok, json1, json2 and the broken json line"
    );
    let (_, body) = server.search(&format!("{tag}huge"));
    let ev = &body["result"]["events"][0];
    assert!(
        ev["parse_error"]
            .as_str()
            .unwrap_or("")
            .contains("truncated"),
        "{ev}"
    );
}

#[test]
fn api_requires_a_token_checks_roles_and_audits() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), "");
    let out = Command::new(common::bin())
        .args([
            "token", "create", "--name", "ciso", "--role", "viewer", "-c",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    // The data dir does not exist yet: token create makes it; then serve bootstraps no admin
    // because a token exists — so create an admin as well.
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let viewer = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out = Command::new(common::bin())
        .args(["token", "create", "--name", "boss", "--role", "admin", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    let admin = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    std::fs::write(dir.path().join("data/admin.token"), &admin).unwrap();
    let server = Server::start_with(dir.path(), cfg);
    let agent = Server::agent();

    let resp = agent
        .get(server.url("/api/v1/search"))
        .query("q", "*")
        .call()
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = agent
        .get(server.url("/api/v1/search"))
        .header("Authorization", "Bearer rmp_wrong")
        .call()
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = agent
        .get(server.url("/api/v1/search"))
        .header("Authorization", format!("Bearer {viewer}"))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = agent
        .get(server.url("/api/v1/status"))
        .header("Authorization", format!("Bearer {viewer}"))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = agent.get(server.url("/health")).call().unwrap();
    assert_eq!(resp.status(), 200);

    let mut resp = agent
        .get(server.url("/api/v1/audit"))
        .header("Authorization", format!("Bearer {admin}"))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let audit: serde_json::Value = resp.body_mut().read_json().unwrap();
    let records = audit["records"].as_array().unwrap();
    assert!(
        records
            .iter()
            .any(|r| r["actor"] == "ciso" && r["outcome"] == "403"),
        "{audit}"
    );
    assert!(records.iter().any(|r| r["actor"] == "anonymous"), "{audit}");
    assert!(
        !audit.to_string().contains(&viewer),
        "secrets never in the audit trail"
    );

    let mut resp = agent
        .get(server.url("/api/v1/openapi.json"))
        .call()
        .unwrap();
    let spec: serde_json::Value = resp.body_mut().read_json().unwrap();
    assert!(spec["paths"]["/api/v1/search"].is_object());
}

#[test]
fn api_and_ingest_over_https_with_the_generated_certificate() {
    if !have("curl") {
        eprintln!("SKIPPED: curl not installed: HTTPS check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[http]\n", "[http]\ntls = true\n");
    std::fs::write(&cfg, text).unwrap();
    let server = Server::start_with(dir.path(), cfg);
    let ca = server.dir.join("data/tls/server.crt");
    let base = format!("https://localhost:{}", server.http.port());
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca)
        .args([
            "-H",
            &format!("Authorization: Bearer {}", server.admin_token),
        ])
        .arg(format!("{base}/api/v1/whoami"))
        .output()
        .unwrap();
    let me: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(me["role"], "admin");
    // Plain HTTP on the TLS port is refused, not served.
    let plain = Command::new("curl")
        .args([
            "-sS",
            "-m",
            "5",
            &format!("http://127.0.0.1:{}/health", server.http.port()),
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("ok"));
    let tag = unique("https");
    let (code, body) = curl(
        &[
            "--cacert",
            ca.to_str().unwrap(),
            "-H",
            &format!("Authorization: Splunk {}", server.ingest_token),
            &format!("{base}/services/collector/event"),
        ],
        format!("{{\"event\":\"{tag}\"}}").as_bytes(),
    );
    assert_eq!(code, 200, "{body}");
    // `rampart search` trusts the generated certificate from the data directory.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new(common::bin())
            .args(["search", "--from", "*", "-o", "jsonl", &tag, "-c"])
            .arg(&server.config)
            .args(["--server", &base])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains(&tag) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not found over https: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
