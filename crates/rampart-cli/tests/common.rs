//! A real `rampart serve` process on ephemeral loopback ports, for integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub http: SocketAddr,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub tls: SocketAddr,
    pub admin_token: String,
    pub ingest_token: String,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rampart")
}

pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let config = dir.join("rampart.toml");
    let text = format!(
        r#"data_dir = "{data}"
[http]
bind = "127.0.0.1:0"
[ingest.syslog_udp]
bind = "127.0.0.1:0"
[ingest.syslog_tcp]
bind = "127.0.0.1:0"
[ingest.syslog_tls]
enabled = true
bind = "127.0.0.1:0"
[store]
commit_interval = "200ms"
[log]
level = "warn"
{extra}
"#,
        data = dir.join("data").display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

impl Server {
    pub fn start(dir: &Path, extra: &str) -> Server {
        let config = write_config(dir, extra);
        Self::start_with(dir, config)
    }

    pub fn start_with(dir: &Path, config: PathBuf) -> Server {
        let child = Command::new(bin())
            .args(["serve", "--print-addrs", "-c"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rampart serve");
        Self::attach(child, dir, config)
    }

    /// Take over a started `serve --print-addrs` child: read its address line.
    pub fn attach(mut child: Child, dir: &Path, config: PathBuf) -> Server {
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addrs: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("serve printed no address line ({e}): {line:?}"));
        let addr =
            |k: &str| -> SocketAddr { addrs[k].as_str().unwrap_or("127.0.0.1:1").parse().unwrap() };
        let data = dir.join("data");
        let read = |f: &str| {
            std::fs::read_to_string(data.join(f))
                .unwrap()
                .trim()
                .to_owned()
        };
        Server {
            http: addr("http"),
            udp: addr("syslog_udp"),
            tcp: addr("syslog_tcp"),
            tls: addr("syslog_tls"),
            admin_token: read("admin.token"),
            ingest_token: read("ingest.token"),
            child,
            dir: dir.to_owned(),
            config,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    }

    /// GET /api/v1/search with the admin token; returns (status, body).
    pub fn search(&self, q: &str) -> (u16, serde_json::Value) {
        let mut resp = Self::agent()
            .get(self.url("/api/v1/search"))
            .header("Authorization", format!("Bearer {}", self.admin_token))
            .query("q", q)
            .query("from", "*")
            .query("limit", "10000")
            .call()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap())
    }

    /// Number of events matching `q`, waiting until it reaches `expected` or `timeout`.
    pub fn wait_count(&self, q: &str, expected: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.search(q);
            assert_eq!(status, 200, "search {q}: {body}");
            let total = body["result"]["total"].as_u64().unwrap_or(0);
            if total >= expected || Instant::now() > deadline {
                return total;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn stop(&mut self) {
        unsafe_free_sigterm(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }
}

/// Send SIGTERM through the `kill` command (no libc binding needed in tests).
fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn unique(tag: &str) -> String {
    format!(
        "{tag}{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000_000
    )
}
