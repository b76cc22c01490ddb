//! The evaluator and stages over the real OpenSSH sample from the shared corpus, checked
//! against counts computed independently from the raw lines.

use rampart_model::{Event, Origin, OriginKind, Raw};
use rampart_query::eval::Matcher;
use rampart_query::exec::{apply_stages, event_row};
use std::path::PathBuf;
use std::time::Instant;

fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    if dir.join("datasets/loghub/OpenSSH_2k.log").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_SHARED").as_deref() != Ok("1"),
        "RAMPART_REQUIRE_SHARED=1 but ../shared/datasets/loghub/OpenSSH_2k.log is missing"
    );
    println!("SKIPPED: OpenSSH_2k.log query checks (../shared not present)");
    None
}

/// A raw event with the host and the sshd pid picked out by hand (no parser crate needed).
fn event(line: &str) -> Event {
    let mut ev = Event::new(
        Origin::new(OriginKind::Import, "test"),
        Raw::Text(line.to_owned()),
    );
    if let Some(host) = line.split_whitespace().nth(3) {
        ev.set("host.name", host);
    }
    let pid = line
        .split_once("sshd[")
        .and_then(|(_, rest)| rest.split_once(']'))
        .and_then(|(pid, _)| pid.parse::<i64>().ok());
    if let Some(pid) = pid {
        ev.set("process.pid", pid);
    }
    ev
}

#[test]
fn openssh_counts_agree_with_the_raw_lines() {
    let Some(dir) = shared() else { return };
    let text = std::fs::read_to_string(dir.join("datasets/loghub/OpenSSH_2k.log"))
        .expect("shared OpenSSH sample is readable");
    let lines: Vec<&str> = text.lines().collect();
    let events: Vec<Event> = lines.iter().map(|l| event(l)).collect();
    let lower: Vec<String> = lines.iter().map(|l| l.to_lowercase()).collect();
    let pid = |l: &str| event(l).get("process.pid").and_then(|v| v.as_i64());

    let cases: Vec<(&str, usize)> = vec![
        (
            "\"Failed password\"",
            lower
                .iter()
                .filter(|l| l.contains("failed password"))
                .count(),
        ),
        (
            "\"invalid user\" AND NOT preauth",
            lower
                .iter()
                .filter(|l| l.contains("invalid user") && !l.contains("preauth"))
                .count(),
        ),
        (
            "173.234.31.186",
            lines
                .iter()
                .filter(|l| l.contains("173.234.31.186"))
                .count(),
        ),
        (
            "process.pid:[24000 TO 25000]",
            lines
                .iter()
                .filter(|l| pid(l).is_some_and(|p| (24000..=25000).contains(&p)))
                .count(),
        ),
        (
            "host.name:labsz AND (break* OR root)",
            lower
                .iter()
                .filter(|l| {
                    l.split(|c: char| !c.is_alphanumeric())
                        .any(|w| w.starts_with("break") || w == "root")
                })
                .count(),
        ),
    ];
    for (query, want) in &cases {
        assert!(*want > 0, "fixture query {query} should match something");
        let search = rampart_query::parse(query).expect("query parses");
        let matcher = Matcher::new(&search.filter).expect("valid filter");
        let got = events.iter().filter(|e| matcher.matches(*e)).count();
        assert_eq!(got, *want, "{query}");
    }

    // Throughput of the prepared matcher, for the record.
    let search = rampart_query::parse("\"Failed password\" AND process.pid > 1000 OR user*")
        .expect("query parses");
    let matcher = Matcher::new(&search.filter).expect("valid filter");
    let start = Instant::now();
    let mut hits = 0;
    for _ in 0..20 {
        hits += events.iter().filter(|e| matcher.matches(*e)).count();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "matched {} events ({hits} hits) in {secs:.3}s: {:.0} events/s",
        events.len() * 20,
        (events.len() * 20) as f64 / secs
    );

    // A whole search with stages over the matching rows.
    let search =
        rampart_query::parse("\"Failed password\" | stats count() by process.pid | head 3")
            .expect("query parses");
    let matcher = Matcher::new(&search.filter).expect("valid filter");
    let rows = events
        .iter()
        .filter(|e| matcher.matches(*e))
        .map(event_row)
        .collect();
    let table = apply_stages(&search.stages, rows).expect("stages run");
    assert_eq!(table.columns, ["process.pid", "count"]);
    assert_eq!(table.rows.len(), 3);
    let counts: Vec<u64> = table.rows.iter().filter_map(|r| r[1].as_u64()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
}
