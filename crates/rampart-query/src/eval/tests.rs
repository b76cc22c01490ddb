//! Evaluation tests: queries against a handful of events, as a table of expected matches.

use super::*;
use crate::parse_at;
use rampart_model::{Origin, OriginKind, Raw};
use serde_json::json;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2024-03-10T12:00:00Z").expect("literal time")
}

fn event(raw: &str, at: &str, fields: Value) -> Event {
    let mut ev = Event::new(
        Origin::new(OriginKind::Import, "test"),
        Raw::Text(raw.into()),
    );
    ev.timestamp = Timestamp::parse_rfc3339(at).expect("literal time");
    if let Value::Object(map) = fields {
        for (k, v) in map {
            ev.set(&k, v);
        }
    }
    ev
}

fn events() -> Vec<(&'static str, Event)> {
    let ssh = "Failed password for invalid user admin from 10.1.2.3 port 22 ssh2";
    let mut win = event(
        "<Event><Data>cmd.exe /c whoami</Data></Event>",
        "2024-03-09T00:00:00Z",
        json!({
            "process.executable": r"C:\Windows\System32\cmd.exe",
            "user.name": "svc_backup",
            "source.ip": "2001:db8::5",
            "destination.ip": "::ffff:10.9.9.9",
            "bytes": 5000.5,
        }),
    );
    // A literal dotted key, as flattened JSON sources send them.
    win.fields.insert("user.domain".into(), json!("CORP"));
    let mut bare = event(
        "kernel: eth0 link up",
        "2024-03-10T11:59:00Z",
        json!({"flag": true}),
    );
    bare.tenant = "acme".into();
    vec![
        (
            "e1",
            event(
                ssh,
                "2024-03-10T11:30:00Z",
                json!({
                    "message": ssh,
                    "host.name": "web01",
                    "user.name": "admin",
                    "source.ip": "10.1.2.3",
                    "source.port": 22,
                    "event.outcome": "failure",
                    "event.code": 4625,
                    "process.pid": 1234,
                    "tags": ["ssh", "auth"],
                }),
            ),
        ),
        (
            "e2",
            event(
                "Accepted publickey for John Smith from 192.168.1.50",
                "2024-03-10T10:00:00Z",
                json!({
                    "message": "Accepted publickey for John Smith from 192.168.1.50",
                    "host.name": "WEB02",
                    "user.name": "John Smith",
                    "source.ip": "192.168.1.50",
                    "event.outcome": "success",
                    "event.code": "4624",
                    "source.bytes": 1500,
                }),
            ),
        ),
        ("e3", win),
        ("e4", bare),
    ]
}

const CASES: &[(&str, &str)] = &[
    ("*", "e1 e2 e3 e4"),
    ("host.name:web01", "e1"),
    ("host.name:WEB*", "e1 e2"),
    ("host.name:web0?", "e1 e2"),
    ("user.name:\"john smith\"", "e2"),
    ("user.name:\"smith\"", "e2"),
    ("user.name:john", ""),
    ("user.name:svc_*", "e3"),
    ("event.code:4625", "e1"),
    ("event.code:4624", "e2"),
    ("event.code:(4624 OR 4625)", "e1 e2"),
    ("process.pid:1234.0", "e1"),
    ("process.pid:12*", "e1"),
    ("process.pid:/1\\d+4/", "e1"),
    ("source.port:22", "e1"),
    ("source.ip:10.0.0.0/8", "e1"),
    ("source.ip:192.168.0.0/16", "e2"),
    ("source.ip:2001:db8::/32", "e3"),
    ("destination.ip:10.0.0.0/8", "e3"),
    ("source.ip:2001:0db8:0:0:0:0:0:5", "e3"),
    ("source.port >= 22", "e1"),
    ("source.port:[1 TO 21]", ""),
    ("source.bytes:{1000 TO *}", "e2"),
    ("bytes > 5000", "e3"),
    ("bytes:>=5000.5", "e3"),
    ("bytes < 5000.5", ""),
    ("@timestamp >= now-1h", "e1 e4"),
    ("@timestamp:[2024-03-10 TO *]", "e1 e2 e4"),
    ("@timestamp < 2024-03-10", "e3"),
    ("@timestamp:\"2024-03-10T10:00:00Z\"", "e2"),
    ("@timestamp:2024-03-10T12:00:00+02:00", "e2"),
    ("user.name:[a TO m]", "e1 e2"),
    (r"process.executable:/.*\\cmd\.exe/", "e3"),
    ("process.executable:/c:.*/", "e3"),
    ("process.executable:/cmd/", ""),
    (r"process.executable:*\cmd.exe", "e3"),
    (r"process.executable:C:\Windows\System32\cmd.exe", "e3"),
    ("user.domain:corp", "e3"),
    ("tags:auth", "e1"),
    ("tags:*", "e1"),
    ("_exists_:source.bytes", "e2"),
    ("NOT _exists_:user.name", "e4"),
    ("message:*", "e1 e2"),
    ("tenant:acme", "e4"),
    ("event.original:*whoami*", "e3"),
    ("flag:true", "e4"),
    ("flag:TRUE", "e4"),
    ("\"failed password\"", "e1"),
    ("\"password failed\"", ""),
    ("failed", "e1"),
    ("FAIL*", "e1"),
    ("fail", ""),
    ("whoami", "e3"),
    ("eth0", "e4"),
    ("10.1.2.3", "e1"),
    ("admin from", "e1"),
    ("ssh2 OR eth0", "e1 e4"),
    ("-failed", "e2 e3 e4"),
    ("NOT failed", "e2 e3 e4"),
    ("host.name:web01 AND NOT user.name:admin", ""),
    ("event.outcome:failure OR user.name:svc*", "e1 e3"),
    ("(ssh2 OR whoami) AND NOT bytes > 1", "e1"),
    ("missing.field:x", ""),
    ("NOT missing.field:x", "e1 e2 e3 e4"),
];

#[test]
fn queries_match_expected_events() {
    let events = events();
    let mut failures = Vec::new();
    for (text, want) in CASES {
        let search = match parse_at(text, now()) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{text:?} does not parse: {e}"));
                continue;
            }
        };
        let matcher = Matcher::with_now(&search.filter, now()).expect("valid filter");
        let got: Vec<&str> = events
            .iter()
            .filter(|(_, ev)| matcher.matches(ev))
            .map(|(name, _)| *name)
            .collect();
        if got.join(" ") != *want {
            failures.push(format!("{text:?}: got [{}] want [{want}]", got.join(" ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn reference_function_agrees_with_matcher() {
    let events = events();
    for text in ["failed", "source.ip:10.0.0.0/8", "NOT tags:*"] {
        let search = parse_at(text, now()).expect("parses");
        let matcher = Matcher::new(&search.filter).expect("valid");
        for (_, ev) in &events {
            assert_eq!(matches(&search.filter, ev), matcher.matches(ev), "{text}");
        }
    }
}

#[test]
fn invalid_regex_in_a_hand_built_tree_matches_nothing() {
    let expr = Expr::Field {
        field: "user.name".into(),
        predicate: Predicate::Regex("a)|(b".into()),
    };
    assert!(matches!(Matcher::new(&expr), Err(QueryError::Regex { .. })));
    let (_, ev) = &events()[0];
    assert!(!matches(&expr, ev));
}

#[test]
fn relative_string_bounds_in_hand_built_trees_resolve() {
    let expr = Expr::Field {
        field: "@timestamp".into(),
        predicate: Predicate::Range {
            lower: Bound::Inclusive(Literal::Str("now-1h".into())),
            upper: Bound::Unbounded,
        },
    };
    let matcher = Matcher::with_now(&expr, now()).expect("valid");
    let got: Vec<&str> = events()
        .iter()
        .filter(|(_, ev)| matcher.matches(ev))
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(got, ["e1", "e4"]);
}
