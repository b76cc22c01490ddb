//! OASIS's `medallion` TAXII 2.1 server on a free loopback port with a memory backend
//! holding the objects a test gives, for the intel tests (and the CLI's, by `#[path]`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The collection every test server has.
pub const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
/// Its title.
pub const COLLECTION_TITLE: &str = "Rampart test indicators";

/// Kills the server by its PID when the test ends, however it ends.
pub struct ServerGuard(pub Child);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn medallion_installed() -> bool {
    Command::new("medallion")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether to skip: medallion missing and not required (`RAMPART_REQUIRE_TAXII=1` makes
/// a missing medallion a failure). Prints the SKIPPED line.
pub fn skip() -> bool {
    if medallion_installed() {
        return false;
    }
    if std::env::var("RAMPART_REQUIRE_TAXII").as_deref() == Ok("1") {
        panic!("medallion is required (RAMPART_REQUIRE_TAXII=1) but not installed");
    }
    println!("SKIPPED: medallion not installed");
    true
}

/// A STIX 2.1 indicator `indicator--…000{n}` with confidence 80.
pub fn indicator(n: u32, pattern: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-00000000000{n}"),
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
        "pattern": pattern, "pattern_type": "stix",
        "valid_from": "2024-05-01T00:00:00Z", "confidence": 80
    })
}

pub fn manifest(obj: &Value, added: &str) -> Value {
    json!({
        "id": obj["id"], "date_added": added,
        "version": obj["modified"], "media_type": "application/stix+json;version=2.1"
    })
}

/// The memory backend's document: discovery, one API root, one collection holding
/// `objects` (each with its `date_added`).
pub fn server_data(port: u16, objects: &[(Value, &str)]) -> Value {
    json!({
        "/discovery": {
            "title": "Rampart test TAXII server",
            "description": "medallion for rampart-intel tests",
            "contact": "soc@example.invalid",
            "default": format!("http://127.0.0.1:{port}/api1/"),
            "api_roots": [format!("http://127.0.0.1:{port}/api1/")]
        },
        "api1": {
            "information": {
                "title": "API root one", "description": "test root",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 9765625
            },
            "status": [],
            "collections": [{
                "id": COLLECTION, "title": COLLECTION_TITLE,
                "description": "indicators for the intel tests",
                "can_read": true, "can_write": false,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": objects.iter().map(|(o, _)| o.clone()).collect::<Vec<_>>(),
                "manifest": objects.iter().map(|(o, a)| manifest(o, a)).collect::<Vec<_>>()
            }]
        }
    })
}

/// A free loopback port.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Start medallion on `port` serving `objects`, users `analyst`/`password`, two objects a
/// page; returns once its discovery document answers (30 s at most).
pub fn start(dir: &Path, port: u16, objects: &[(Value, &str)], password: &str) -> ServerGuard {
    let data_path = dir.join("taxii-data.json");
    std::fs::write(&data_path, server_data(port, objects).to_string()).unwrap();
    let config_path = dir.join("taxii-config.json");
    let config = json!({
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": data_path.to_str().unwrap()
        },
        "users": {"analyst": password},
        "taxii": {"max_page_size": 2}
    });
    std::fs::write(&config_path, config.to_string()).unwrap();
    let child = Command::new("medallion")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ServerGuard(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Any HTTP answer (401 without credentials) means it is up.
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return guard;
        }
        assert!(
            Instant::now() < deadline,
            "medallion did not come up on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
