//! A real log shipper in front of a real `rampart serve`: rsyslog, the syslog daemon of
//! most Linux servers, follows log files (imfile) and forwards them unchanged from a stock
//! configuration — RFC 5424 over TCP with octet counting, and over TLS (RFC 5425, GnuTLS)
//! checking Rampart's generated certificate by name. One of the files is an auth log as a
//! syslog daemon writes it, so each of its lines arrives inside rsyslog's own header.
//!
//! rsyslog (with rsyslog-gnutls) is installed by `.ci/install-tools --shippers`, which
//! `.ci/run` calls; where it is absent the test says it was skipped, unless
//! `RAMPART_REQUIRE_SHIPPERS=1` makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, have, unique};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// rsyslogd in the foreground with `conf`, killed when dropped.
struct Rsyslog(Child);

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rsyslog(dir: &Path, conf: &str) -> Rsyslog {
    let work = dir.join("rsyslog");
    std::fs::create_dir_all(&work).unwrap();
    let conf_path = dir.join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    // Check the configuration first, so a mistake reads as one and not as a timeout.
    let check = Command::new("rsyslogd")
        .args(["-N1", "-f"])
        .arg(&conf_path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "rsyslog rejects the configuration:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new("rsyslogd")
        .args(["-n", "-f"])
        .arg(&conf_path)
        .arg("-i")
        .arg(work.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Rsyslog(child)
}

/// Wait until `rule` has a detection for `source_ip`, failing after `timeout`.
fn wait_for_detection(server: &Server, rule: &str, source_ip: &str, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut resp = Server::agent()
            .get(server.url("/api/v1/detections"))
            .header("Authorization", format!("Bearer {}", server.admin_token))
            .query("rule", rule)
            .call()
            .unwrap();
        let page: serde_json::Value = resp.body_mut().read_json().unwrap();
        if page["detections"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["source_ip"] == source_ip)
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no detection of {rule} for {source_ip}: {page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The ingest listeners' counters from `/api/v1/status`.
fn listeners(server: &Server) -> serde_json::Value {
    let mut resp = Server::agent()
        .get(server.url("/api/v1/status"))
        .header("Authorization", format!("Bearer {}", server.admin_token))
        .call()
        .unwrap();
    let status: serde_json::Value = resp.body_mut().read_json().unwrap();
    status["ingest"]["listeners"].clone()
}

/// POST an Elasticsearch bulk body to `/es/_bulk` as `user` with the ingest token as the
/// password, as Filebeat and Fluent Bit do; every item must be accepted.
fn post_es_bulk(server: &Server, user: &str, body: &str) {
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", server.ingest_token));
    let mut resp = Server::agent()
        .post(server.url("/es/_bulk"))
        .header("Authorization", format!("Basic {basic}"))
        .header("Content-Type", "application/x-ndjson")
        .send(body.as_bytes())
        .unwrap();
    let answer = resp.body_mut().read_to_string().unwrap();
    assert!(answer.contains("\"errors\":false"), "{answer}");
}

/// Whether every one of `tools` is installed; when not, says the check was skipped, or
/// fails the test under `RAMPART_REQUIRE_SHIPPERS=1` (CI).
fn tools_present(tools: &[&str], what: &str) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("RAMPART_REQUIRE_SHIPPERS").as_deref() == Ok("1") {
        panic!("{missing:?} required (RAMPART_REQUIRE_SHIPPERS=1) but not installed");
    }
    eprintln!("SKIPPED: {what}: {missing:?} not installed (bash .ci/install-tools --shippers)");
    false
}

/// The rsyslog ruleset `tls`: forward over TLS (GnuTLS) to `port` on loopback, checking
/// the server certificate's name (`localhost`, which Rampart's generated certificate has).
fn tls_ruleset(port: u16) -> String {
    format!(
        r#"ruleset(name="tls") {{
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp"
         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
         StreamDriverPermittedPeers="localhost" template="RSYSLOG_SyslogProtocol23Format"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}"#
    )
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

#[test]
fn rsyslog_forwards_over_tcp_and_tls_unchanged() {
    if !tools_present(&["rsyslogd"], "real-shipper checks") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "");
    let tag = unique("rs");
    let auth_log = dir.path().join("auth.log");
    let app_log = dir.path().join("app.log");
    let cron_log = dir.path().join("cron.log");
    // The files exist before rsyslog starts and it reads them from the start.
    std::fs::write(&auth_log, "").unwrap();
    std::fs::write(&app_log, "").unwrap();
    std::fs::write(&cron_log, "").unwrap();
    let ca = server.dir.join("data/tls/server.crt");
    let conf = format!(
        r#"global(workDirectory="{work}" defaultNetstreamDriverCAFile="{ca}")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="{auth}" Tag="authlog" Facility="auth" Severity="info" ruleset="tls")
input(type="imfile" File="{app}" Tag="billing" Facility="local0" Severity="warning" ruleset="tcp")
input(type="imfile" File="{cron}" Tag="cronlog" ruleset="plain")
ruleset(name="plain") {{
  action(type="omfwd" target="127.0.0.1" port="{tcp}" protocol="tcp"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
ruleset(name="tcp") {{
  action(type="omfwd" target="127.0.0.1" port="{tcp}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
{tls_ruleset}
"#,
        work = dir.path().join("rsyslog").display(),
        ca = ca.display(),
        auth = auth_log.display(),
        app = app_log.display(),
        cron = cron_log.display(),
        tcp = server.tcp.port(),
        tls_ruleset = tls_ruleset(server.tls.port()),
    );
    let _rsyslog = rsyslog(dir.path(), &conf);

    // An auth log as a syslog daemon writes it on bastion01, forwarded line by line over
    // TLS: each arrives inside rsyslog's own header, and the event is the inner line.
    let failed: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "Dec 10 11:04:{i:02} bastion01 sshd[{}]: Failed password for invalid user admin{i} from 198.51.100.7 port {} ssh2 {tag}",
                25000 + i,
                40000 + i
            )
        })
        .collect();
    append(&auth_log, &failed);
    append(
        &auth_log,
        &[format!(
            "Dec 10 11:05:00 bastion01 sshd[25100]: Accepted password for deploy from 198.51.100.7 port 41000 ssh2 {tag}"
        )],
    );
    // Application lines, forwarded over TCP with octet counting; one is 6 KB long.
    let mut app: Vec<String> = (0..30)
        .map(|i| format!("invoice {i} rejected: card declined {tag}"))
        .collect();
    app.push(format!("payload {} {tag}", "x".repeat(6000)));
    append(&app_log, &app);
    // A cron log forwarded the classic way (`*.* @@host:port`: rsyslog's default
    // forwarding format over newline-framed TCP), its input tag without a colon.
    append(
        &cron_log,
        &(0..3)
            .map(|i| format!("Dec 10 12:0{i}:01 db01 CRON[{}]: (root) CMD (run-parts /etc/cron.hourly) {tag}", 4242 + i))
            .collect::<Vec<_>>(),
    );

    let timeout = Duration::from_secs(60);
    let sshd = format!("process.name:sshd AND host.name:bastion01 AND \"{tag}\"");
    assert_eq!(server.wait_count(&sshd, 21, timeout), 21, "{sshd}");
    // The relay is kept: its host name and input tag.
    let (_, body) = server.search(&format!("\"{tag}\" AND user.name:deploy"));
    let event = &body["result"]["events"][0];
    let syslog = &event["fields"]["log"]["syslog"];
    assert_eq!(syslog["appname"], "sshd", "{event}");
    assert_eq!(syslog["relay"]["appname"], "authlog", "{event}");
    let relay = syslog["relay"]["hostname"].as_str().unwrap_or_default();
    assert!(!relay.is_empty() && relay != "bastion01", "{event}");
    assert_eq!(event["fields"]["process"]["pid"], 25100, "{event}");
    assert!(
        event["@timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with("-12-10T11:05:00Z")),
        "the inner line's time: {event}"
    );
    let failures = format!(
        "\"{tag}\" AND event.outcome:failure AND source.ip:198.51.100.7 AND user.name:admin*"
    );
    assert_eq!(server.wait_count(&failures, 20, timeout), 20, "{failures}");
    let success = format!("\"{tag}\" AND event.outcome:success AND user.name:deploy");
    assert_eq!(server.wait_count(&success, 1, timeout), 1, "{success}");
    let billing = format!("process.name:billing AND \"{tag}\"");
    assert_eq!(server.wait_count(&billing, 31, timeout), 31, "{billing}");
    let cron = format!(
        "process.name:CRON AND host.name:db01 AND log.syslog.relay.appname:cronlog AND \"{tag}\""
    );
    assert_eq!(server.wait_count(&cron, 3, timeout), 3, "{cron}");

    // What arrived is what rsyslog sent: the RFC 5424 header it wrote (facility and
    // severity from the input, its host name), the message whole, each line once.
    let (status, body) = server.search(&format!("\"{tag}\" AND NOT process.name:CRON | stats count() by process.name, log.syslog.severity.name, log.syslog.facility.name"));
    assert_eq!(status, 200, "{body}");
    let mut rows: Vec<String> = body["result"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            r#"["billing","warning","local0",31]"#,
            r#"["sshd","informational","auth",21]"#
        ],
        "{body}"
    );
    let (_, body) = server.search(&format!("\"{tag}\" AND payload"));
    let events = body["result"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    let message = events[0]["fields"]["message"].as_str().unwrap_or_default();
    assert_eq!(
        message.len(),
        "payload ".len() + 6000 + 1 + tag.len(),
        "{message:.80}"
    );
    let host = events[0]["fields"]["host"]["name"]
        .as_str()
        .unwrap_or_default();
    assert!(!host.is_empty(), "rsyslog's host name is kept: {body:.400}");

    // Detection sees the forwarded auth log as it would the file itself: the brute force,
    // the spraying over 20 accounts and the login that followed, all from 198.51.100.7.
    for rule in [
        "bc53baa7-ff46-4c1d-9d5e-e3d5f15484ff", // brute force
        "512bcae5-b61c-409c-a45d-2aef81fd7357", // password spraying
        "92197b44-d6f0-4b57-a9ce-80cf248bd234", // brute force then login
    ] {
        wait_for_detection(&server, rule, "198.51.100.7", timeout);
    }

    // Both listeners counted their connections and events.
    let listeners = listeners(&server);
    assert!(
        listeners["syslog-tls"]["events_in"].as_u64().unwrap_or(0) >= 21,
        "{listeners}"
    );
    assert!(
        listeners["syslog-tcp"]["events_in"].as_u64().unwrap_or(0) >= 34,
        "{listeners}"
    );
}

/// Run openssl with `args` in `dir`, failing the test with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With `client_ca_path` set, the TLS listener takes only senders holding a certificate from
/// that CA: rsyslog presenting one is heard, a sender without one is turned away.
#[test]
fn rsyslog_with_a_client_certificate_passes_mutual_tls() {
    if !tools_present(&["rsyslogd", "openssl"], "mutual TLS with a real shipper") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    // A CA for the organisation's log senders, and a certificate for one of them.
    openssl(
        &pki,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Senders CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        &pki,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=web01.example",
            "-keyout",
            "web01.key",
            "-out",
            "web01.csr",
        ],
    );
    std::fs::write(
        pki.join("ext.cnf"),
        "extendedKeyUsage=clientAuth\nsubjectAltName=DNS:web01.example\n",
    )
    .unwrap();
    openssl(
        &pki,
        &[
            "x509",
            "-req",
            "-in",
            "web01.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "web01.crt",
        ],
    );
    let config = common::write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[ingest.syslog_tls]\n",
        &format!(
            "[ingest.syslog_tls]\nclient_ca_path = \"{}\"\n",
            pki.join("ca.crt").display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let server = Server::start_with(dir.path(), config);
    let tag = unique("mtls");

    // Without a certificate: the handshake is refused and nothing is stored.
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &server.tls.to_string(),
            "-quiet",
            "-CAfile",
        ])
        .arg(server.dir.join("data/tls/server.crt"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            if let Some(mut stdin) = c.stdin.take() {
                let _ = writeln!(stdin, "<13>1 2024-05-01T10:00:00Z anon app - - - {tag}anon");
            }
            std::thread::sleep(Duration::from_millis(500));
            let _ = c.kill();
            c.wait_with_output()
        })
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);

    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let conf = format!(
        r#"global(workDirectory="{work}" defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}" defaultNetstreamDriverKeyFile="{key}")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="{log}" Tag="web" ruleset="tls")
{tls_ruleset}
"#,
        work = dir.path().join("rsyslog").display(),
        ca = server.dir.join("data/tls/server.crt").display(),
        cert = pki.join("web01.crt").display(),
        key = pki.join("web01.key").display(),
        log = log.display(),
        tls_ruleset = tls_ruleset(server.tls.port()),
    );
    let _rsyslog = rsyslog(dir.path(), &conf);
    append(
        &log,
        &(0..5)
            .map(|i| format!("order {i} shipped {tag}"))
            .collect::<Vec<_>>(),
    );
    let q = format!("process.name:web AND \"{tag}\"");
    assert_eq!(server.wait_count(&q, 5, Duration::from_secs(60)), 5, "{q}");
    assert_eq!(
        server.wait_count(&format!("\"{tag}anon\""), 0, Duration::ZERO),
        0,
        "a sender without a certificate was heard (openssl said: {stderr})"
    );
    let listeners = listeners(&server);
    let tls = &listeners["syslog-tls"];
    assert!(tls["rejected"].as_u64().unwrap_or(0) >= 1, "{tls}");
    assert_eq!(tls["events_in"].as_u64(), Some(5), "{tls}");
}

/// What Filebeat (Elasticsearch output), Fluent Bit (`es` output, tail input) and Vector
/// (`splunk_hec_logs` with JSON encoding) send for the lines of an auth log: a record per
/// line, the line in `message` or `log`. Each line is parsed as the syslog line it is, so
/// detection sees the brute force as if the file had been read here. (Those shippers are
/// not installable on this machine; the records are theirs, sent over the real endpoints.)
#[test]
fn shipper_records_of_an_auth_log_are_parsed_and_detected() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "");
    let tag = unique("fb");
    let line = |i: u32, ip: &str| {
        format!(
            "Dec 10 11:05:{i:02} web01 sshd[{}]: Failed password for invalid user ops{i} from {ip} port {} ssh2 {tag}",
            3000 + i,
            50000 + i
        )
    };
    // Filebeat: bulk into /es with basic auth, the shipping host in host.name.
    let mut bulk = String::new();
    for i in 0..12 {
        bulk.push_str("{\"create\":{\"_index\":\"filebeat-8.15.0\"}}\n");
        bulk.push_str(
            &serde_json::json!({
                "@timestamp": "2024-12-10T11:06:00.000Z",
                "message": line(i, "203.0.113.61"),
                "host": {"name": "web01.corp.example"},
                "agent": {"type": "filebeat"},
                "log": {"file": {"path": "/var/log/auth.log"}, "offset": i * 120},
            })
            .to_string(),
        );
        bulk.push('\n');
    }
    post_es_bulk(&server, "elastic", &bulk);
    // Fluent Bit's tail: the line in `log`, no host.
    let mut bulk = String::new();
    for i in 12..14 {
        bulk.push_str("{\"create\":{}}\n");
        bulk.push_str(&serde_json::json!({"@timestamp": "2024-12-10T11:06:01Z", "log": line(i, "203.0.113.61")}).to_string());
        bulk.push('\n');
    }
    post_es_bulk(&server, "fluentbit", &bulk);
    // Vector: HEC events whose event is the JSON-encoded log record.
    let hec: String = (14..16)
        .map(|i| {
            serde_json::json!({"event": {"message": line(i, "203.0.113.61"), "host": "web01", "source_type": "file"}, "time": 1733828760})
                .to_string()
        })
        .collect();
    let mut resp = Server::agent()
        .post(server.url("/services/collector/event"))
        .header("Authorization", format!("Splunk {}", server.ingest_token))
        .send(hec.as_bytes())
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let _ = resp.body_mut().read_to_string();

    let timeout = Duration::from_secs(30);
    let q = format!(
        "\"{tag}\" AND process.name:sshd AND event.outcome:failure AND source.ip:203.0.113.61"
    );
    assert_eq!(server.wait_count(&q, 16, timeout), 16, "{q}");
    let (_, body) = server.search(&format!("\"{tag}\" AND user.name:ops3"));
    let event = &body["result"]["events"][0];
    let fields = &event["fields"];
    assert_eq!(fields["host"]["name"], "web01.corp.example", "{event}");
    assert_eq!(fields["host"]["hostname"], "web01", "{event}");
    assert_eq!(
        fields["log"]["file"]["path"], "/var/log/auth.log",
        "{event}"
    );
    assert_eq!(
        event["@timestamp"]
            .as_str()
            .map(|t| t.ends_with("-12-10T11:05:03Z")),
        Some(true),
        "{event}"
    );
    let (_, body) = server.search(&format!("\"{tag}\" AND user.name:ops12"));
    assert_eq!(
        body["result"]["events"][0]["fields"]["host"]["name"], "web01",
        "{body}"
    );

    // Sixteen failures from one source within a minute: the brute-force correlation.
    wait_for_detection(
        &server,
        "bc53baa7-ff46-4c1d-9d5e-e3d5f15484ff",
        "203.0.113.61",
        timeout,
    );
}
