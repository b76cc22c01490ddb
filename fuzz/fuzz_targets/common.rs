//! What several targets share: sample events, a parser per format, a store in a temporary
//! directory. Each target uses part of it.
#![allow(dead_code)]

use rampart_model::{Event, Origin, OriginKind};
use rampart_parse::{Format, Parser, ParserConfig};
use rampart_store::{EmbeddedStore, EmbeddedStoreConfig};

const LINES: &[&str] = &[
    "<38>Dec 10 11:04:43 LabSZ sshd[25544]: Failed password for invalid user admin from 183.62.140.253 port 48376 ssh2",
    "<38>1 2024-03-01T10:00:00.123Z web01 sshd 4242 - - Accepted publickey for alice from 10.0.0.5 port 5555 ssh2",
    "<86>1 2024-03-01T10:00:01Z db01 sudo 77 - [origin ip=\"10.0.0.9\"][meta seq=\"1\"] bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh -c \"id\"",
    "<134>1 2024-03-01T10:00:02Z fw1 firewall - - - CEF:0|Acme|FW|1.0|100|connection allowed|3|src=10.1.2.3 dst=93.184.216.34 dpt=443 proto=TCP out=1234 act=allow",
    "LEEF:2.0|IBM|QRadar|1.0|Login|^|src=192.0.2.7^usrName=carol^sev=5",
    "{\"timestamp\":\"2024-03-01T10:00:03Z\",\"event_type\":\"alert\",\"src_ip\":\"10.9.9.9\",\"dest_ip\":\"10.0.0.1\",\"alert\":{\"signature\":\"ET SCAN Nmap\",\"severity\":2},\"tags\":[\"a\",\"B\",3,true,null],\"n\":-1.5e3}",
    "type=SYSCALL msg=audit(1709287204.123:42): arch=c000003e syscall=59 success=yes exit=0 comm=\"bash\" exe=\"/usr/bin/bash\" uid=0 auid=1000",
    "192.0.2.1 - dave [01/Mar/2024:10:00:05 +0000] \"GET /admin.php?id=1%27 HTTP/1.1\" 404 512 \"-\" \"sqlmap/1.7\"",
    "user=eve action=login status=failed count=7 ratio=0.25 path=\"C:\\\\Windows\\\\System32\\\\cmd.exe\"",
    "completely unstructured text with ÜNICODE and a hash d41d8cd98f00b204e9800998ecf8427e",
    "",
    "{\"broken json",
];

pub fn events() -> Vec<Event> {
    let parser = Parser::new(ParserConfig {
        default_year: Some(2024),
        ..ParserConfig::default()
    })
    .expect("parser");
    LINES
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let mut e = parser.parse(line.as_bytes(), Origin::new(OriginKind::Import, "fuzz"));
            if i % 3 == 0 {
                e.tenant = "acme".to_owned();
            }
            e
        })
        .collect()
}

/// One parser per format, in `Format::ALL` order, with `config`'s other settings.
pub fn parsers(config: ParserConfig) -> Vec<Parser> {
    Format::ALL
        .iter()
        .map(|&format| {
            Parser::new(ParserConfig {
                format,
                ..config.clone()
            })
            .expect("parser")
        })
        .collect()
}

/// An empty embedded store in a temporary directory (no fsync: behaviour, not durability,
/// is under test); the directory lives as long as the returned guard.
pub fn temp_store() -> (EmbeddedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EmbeddedStoreConfig {
        fsync: false,
        ..EmbeddedStoreConfig::default()
    };
    let store = EmbeddedStore::open(dir.path(), config).expect("store");
    (store, dir)
}
