//! A real log shipper in front of a real `rampart serve`: rsyslog, the syslog daemon of
//! most Linux servers, follows application log files (imfile) and forwards them unchanged
//! from a stock configuration — RFC 5424 over TCP with octet counting, and over TLS (RFC
//! 5425, GnuTLS) checking Rampart's generated certificate by name.
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
    if !have("rsyslogd") {
        if std::env::var("RAMPART_REQUIRE_SHIPPERS").as_deref() == Ok("1") {
            panic!("rsyslog required (RAMPART_REQUIRE_SHIPPERS=1) but not installed");
        }
        eprintln!(
            "SKIPPED: rsyslog not installed: real-shipper checks (bash .ci/install-tools --shippers)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "");
    let tag = unique("rs");
    let auth_log = dir.path().join("auth.log");
    let app_log = dir.path().join("app.log");
    // The files exist before rsyslog starts and it reads them from the start.
    std::fs::write(&auth_log, "").unwrap();
    std::fs::write(&app_log, "").unwrap();
    let ca = server.dir.join("data/tls/server.crt");
    let conf = format!(
        r#"global(workDirectory="{work}" defaultNetstreamDriverCAFile="{ca}")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="{auth}" Tag="sshd" Facility="auth" Severity="info" ruleset="tls")
input(type="imfile" File="{app}" Tag="billing" Facility="local0" Severity="warning" ruleset="tcp")
ruleset(name="tcp") {{
  action(type="omfwd" target="127.0.0.1" port="{tcp}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
ruleset(name="tls") {{
  action(type="omfwd" target="127.0.0.1" port="{tls}" protocol="tcp"
         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
         StreamDriverPermittedPeers="localhost" template="RSYSLOG_SyslogProtocol23Format"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
"#,
        work = dir.path().join("rsyslog").display(),
        ca = ca.display(),
        auth = auth_log.display(),
        app = app_log.display(),
        tcp = server.tcp.port(),
        tls = server.tls.port(),
    );
    let _rsyslog = rsyslog(dir.path(), &conf);

    // sshd lines, forwarded over TLS: Rampart sees sshd's own tag and extracts the login.
    let failed: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "Failed password for invalid user admin{i} from 198.51.100.7 port {} ssh2 {tag}",
                40000 + i
            )
        })
        .collect();
    append(&auth_log, &failed);
    append(
        &auth_log,
        &[format!(
            "Accepted password for deploy from 198.51.100.7 port 41000 ssh2 {tag}"
        )],
    );
    // Application lines, forwarded over TCP with octet counting; one holds a newline-free
    // 6 KB payload, which newline framing alone would not need but octet counting carries.
    let mut app: Vec<String> = (0..30)
        .map(|i| format!("invoice {i} rejected: card declined {tag}"))
        .collect();
    app.push(format!("payload {} {tag}", "x".repeat(6000)));
    append(&app_log, &app);

    let timeout = Duration::from_secs(60);
    let sshd = format!("process.name:sshd AND \"{tag}\"");
    assert_eq!(server.wait_count(&sshd, 21, timeout), 21, "{sshd}");
    let failures = format!(
        "\"{tag}\" AND event.outcome:failure AND source.ip:198.51.100.7 AND user.name:admin*"
    );
    assert_eq!(server.wait_count(&failures, 20, timeout), 20, "{failures}");
    let success = format!("\"{tag}\" AND event.outcome:success AND user.name:deploy");
    assert_eq!(server.wait_count(&success, 1, timeout), 1, "{success}");
    let billing = format!("process.name:billing AND \"{tag}\"");
    assert_eq!(server.wait_count(&billing, 31, timeout), 31, "{billing}");

    // What arrived is what rsyslog sent: the RFC 5424 header it wrote (facility and
    // severity from the input, its host name), the message whole, each line once.
    let (status, body) = server.search(&format!("\"{tag}\" | stats count() by process.name, log.syslog.severity.name, log.syslog.facility.name"));
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

    // Both listeners counted their connections and events.
    let mut resp = Server::agent()
        .get(server.url("/api/v1/status"))
        .header("Authorization", format!("Bearer {}", server.admin_token))
        .call()
        .unwrap();
    let status: serde_json::Value = resp.body_mut().read_json().unwrap();
    let listeners = &status["ingest"]["listeners"];
    assert!(
        listeners["syslog-tls"]["events_in"].as_u64().unwrap_or(0) >= 21,
        "{listeners}"
    );
    assert!(
        listeners["syslog-tcp"]["events_in"].as_u64().unwrap_or(0) >= 31,
        "{listeners}"
    );
}
