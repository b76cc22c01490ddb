//! Parse rate on real syslog lines. Run in release:
//! `cargo test -p rampart-parse --release --test throughput -- --ignored --nocapture`.

#![allow(clippy::unwrap_used)]

mod common;

use rampart_model::{Event, Origin, OriginKind, Raw};
use rampart_parse::{Parser, ParserConfig};
use std::time::Instant;

#[test]
#[ignore = "timing; run in release"]
fn syslog_parse_rate() {
    let Some(ssh) = common::shared_dataset("loghub/OpenSSH_2k.log", "OpenSSH_2k.log") else {
        return;
    };
    let Some(linux) = common::shared_dataset("loghub/Linux_2k.log", "Linux_2k.log") else {
        return;
    };
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for path in [ssh, linux] {
        let text = std::fs::read_to_string(path).unwrap();
        lines.extend(text.lines().map(|l| l.as_bytes().to_vec()));
    }
    let parser = Parser::new(ParserConfig::default()).unwrap();
    let origin = Origin::new(OriginKind::SyslogUdp, "bench");
    const N: usize = 2_000_000;

    // parse_into on a reused event: the parser's own cost.
    let mut ev = Event::new(origin.clone(), Raw::default());
    let start = Instant::now();
    let mut fields = 0usize;
    for i in 0..N {
        ev.fields.clear();
        parser.parse_into(&lines[i % lines.len()], &mut ev);
        fields += ev.fields.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "parse_into: {N} lines in {secs:.2}s = {:.0} lines/s ({fields} top-level fields)",
        N as f64 / secs
    );

    // Parser::parse: a new Event (id, clock, raw copy) per line, as ingest does.
    let start = Instant::now();
    for i in 0..N {
        let ev = parser.parse(&lines[i % lines.len()], origin.clone());
        fields += ev.fields.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "parse (new Event each): {N} lines in {secs:.2}s = {:.0} lines/s",
        N as f64 / secs
    );
    assert!(fields > N, "every line yields fields");
}
