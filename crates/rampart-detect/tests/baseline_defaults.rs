//! Rampart's default baselines on synthetic streams shaped as rampart-parse renders them: a quiet training period then one unusual hour (or one new value) gives one anomaly; the same stream without it gives none.
#![allow(clippy::unwrap_used)]

use rampart_detect::Mappings;
use rampart_detect::baseline::{
    Anomaly, AnomalyKind, BaselineEngine, BaselineOptions, BaselineSet,
};
use rampart_model::{Event, Origin, OriginKind};
use serde_json::{Value, json};

const S: i64 = 1_000_000_000;
const H: i64 = 3_600 * S;
const D: i64 = 24 * H;

/// An engine with only the default baseline titled `title`.
fn default_engine(title: &str) -> BaselineEngine {
    let (mut set, diags) = BaselineSet::builtin();
    assert!(diags.is_empty(), "{diags:#?}");
    set.retain(|r| r.meta.title == title);
    assert_eq!(set.len(), 1, "no default baseline titled {title}");
    let (engine, diags) =
        BaselineEngine::new(&set, &Mappings::builtin(), BaselineOptions::default());
    assert!(diags.is_empty(), "{diags:#?}");
    engine
}

fn parse(line: &str) -> Box<Event> {
    let p = rampart_parse::Parser::new(rampart_parse::ParserConfig::default()).unwrap();
    let ev = p.parse(
        line.as_bytes(),
        Origin::new(OriginKind::File, "baseline-tests"),
    );
    assert!(ev.parse_error.is_none(), "{line}: {:?}", ev.parse_error);
    Box::new(ev)
}

enum Doc {
    Parsed(Box<Event>),
    Json(Value),
}

/// Feed `(time, event)` in order, then tick past the end.
fn run(title: &str, stream: &[(i64, Doc)]) -> Vec<Anomaly> {
    let mut e = default_engine(title);
    let mut out = Vec::new();
    let mut end = 0;
    for (i, (ts, doc)) in stream.iter().enumerate() {
        out.extend(match doc {
            Doc::Parsed(ev) => e.observe(&**ev, *ts, i as u128),
            Doc::Json(v) => e.observe(v, *ts, i as u128),
        });
        end = end.max(*ts);
    }
    out.extend(e.tick(end + 2 * H));
    out
}

/// Deterministic noise in `lo..=hi`.
fn noise(i: i64, lo: i64, hi: i64) -> i64 {
    lo + (i.wrapping_mul(2_654_435_761) >> 7).rem_euclid(hi - lo + 1)
}

/// `n(h)` events per hour for `days`, each made by `make(hour, i)`, spread over the hour.
fn hourly(days: i64, n: impl Fn(i64) -> i64, make: impl Fn(i64, i64) -> Doc) -> Vec<(i64, Doc)> {
    let mut s = Vec::new();
    for h in 0..days * 24 {
        let k = n(h);
        for i in 0..k {
            s.push((h * H + i * (H / k.max(1)), make(h, i)));
        }
    }
    s
}

fn entity(a: &Anomaly) -> &str {
    &a.entity[0].1
}

const SPIKE_HOUR: i64 = 5 * 24 + 14;

#[test]
fn unusual_outbound_volume() {
    let title = "Unusual Outbound Data Volume From a Host";
    let flow = |src: &str, dst: &str, out: i64| {
        Doc::Parsed(parse(&format!(
            "CEF:0|Fortinet|FortiGate|7.0|13|traffic allowed|3|src={src} dst={dst} spt=50000 dpt=443 proto=TCP act=accept out={out} in=4000"
        )))
    };
    let stream = |spike: bool| {
        hourly(
            7,
            |h| noise(h, 3, 8),
            |h, i| {
                let out = if spike && h == SPIKE_HOUR {
                    400_000_000
                } else {
                    1_000_000 + noise(h * 10 + i, 0, 3_000_000)
                };
                match i % 3 {
                    // A backup host copying a lot inside the network every hour: not outbound.
                    0 => flow("10.1.1.9", "10.2.0.5", 900_000_000),
                    _ => flow("10.1.1.5", "93.184.216.34", out),
                }
            },
        )
    };
    let a = run(title, &stream(true));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!((entity(&a[0]), a[0].kind), ("10.1.1.5", AnomalyKind::High));
    assert_eq!(a[0].bucket_start_nanos, SPIKE_HOUR * H);
    assert!(a[0].observed >= 800_000_000.0, "{:?}", a[0]);
    let a = run(title, &stream(false));
    assert!(a.is_empty(), "{a:#?}");
}

#[test]
fn unusual_distinct_destinations() {
    let title = "Unusual Number of Destinations Contacted by a Host";
    let flow = |src: &str, dst: String| {
        Doc::Parsed(parse(&format!(
            "CEF:0|Fortinet|FortiGate|7.0|13|traffic allowed|3|src={src} dst={dst} spt=50000 dpt=445 proto=TCP act=accept"
        )))
    };
    let stream = |spike: bool| {
        hourly(
            7,
            |h| {
                if spike && h == SPIKE_HOUR {
                    300
                } else {
                    noise(h, 5, 12)
                }
            },
            |h, i| {
                if spike && h == SPIKE_HOUR {
                    // A sweep of a /24 and more.
                    flow("10.1.1.7", format!("10.1.{}.{}", 2 + i / 250, i % 250))
                } else {
                    flow("10.1.1.7", format!("10.1.0.{}", noise(h * 20 + i, 1, 6)))
                }
            },
        )
    };
    let a = run(title, &stream(true));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!((entity(&a[0]), a[0].observed), ("10.1.1.7", 300.0));
    assert!(run(title, &stream(false)).is_empty());
    // Inbound connections from the internet do not make entities.
    let inbound = hourly(1, |_| 5, |_, i| flow("203.0.113.9", format!("10.1.0.{i}")));
    assert!(run(title, &inbound).is_empty());
}

#[test]
fn unusual_login_count_per_user() {
    let title = "Unusual Number of Logins by an Account";
    let login = |user: &str, port: i64| {
        Doc::Parsed(parse(&format!(
            "Mar 10 08:20:11 db1 sshd[3100]: Accepted publickey for {user} from 10.0.0.9 port {port} ssh2"
        )))
    };
    let stream = |spike: bool| {
        // Work hours: 2 to 6 logins an hour from 8 to 18, none at night.
        hourly(
            7,
            |h| match h % 24 {
                _ if spike && h == SPIKE_HOUR => 80,
                8..=18 => noise(h, 2, 6),
                _ => 0,
            },
            |_, i| login("alice", 40_000 + i),
        )
    };
    let a = run(title, &stream(true));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!((entity(&a[0]), a[0].observed), ("alice", 80.0));
    assert!(run(title, &stream(false)).is_empty());
    // Windows 4624 as rampart-parse renders it (ECS user.name beside the EVTX fields).
    let logon = |user: &str| {
        Doc::Json(json!({
            "Event": {"System": {"Channel": "Security", "EventID": 4624, "Computer": "ws1"},
                      "EventData": {"TargetUserName": user, "LogonType": 3}},
            "user": {"name": user}, "event": {"category": ["authentication"], "outcome": "success"}
        }))
    };
    let windows = hourly(
        7,
        |h| if h == SPIKE_HOUR { 90 } else { noise(h, 3, 5) },
        |_, _| logon("bob"),
    );
    let a = run(title, &windows);
    assert_eq!(
        a.iter()
            .map(|a| (entity(a), a.observed))
            .collect::<Vec<_>>(),
        [("bob", 90.0)]
    );
    // Machine accounts are not counted.
    let machine = hourly(
        7,
        |h| if h == SPIKE_HOUR { 90 } else { 4 },
        |_, _| logon("WS1$"),
    );
    assert!(run(title, &machine).is_empty());
}

#[test]
fn unusual_process_count() {
    let title = "Unusual Number of Process Creations on a Host";
    let sysmon = |host: &str, i: i64| {
        Doc::Json(json!({
            "Event": {"System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Computer": host},
                      "EventData": {"Image": "C:\\Windows\\System32\\svchost.exe", "ProcessId": i}},
            "host": {"name": host}, "process": {"name": "svchost.exe"}
        }))
    };
    let execve = |i: i64| {
        Doc::Parsed(parse(&format!(
            "type=EXECVE msg=audit(1364481363.243:{i}): argc=2 a0=\"ls\" a1=\"-la\" node=build1"
        )))
    };
    let stream = |spike: bool| {
        hourly(
            7,
            |h| {
                if spike && h == SPIKE_HOUR {
                    900
                } else {
                    noise(h, 40, 80)
                }
            },
            |_, i| {
                if i % 2 == 0 {
                    sysmon("ws1", i)
                } else {
                    execve(i)
                }
            },
        )
    };
    let a = run(title, &stream(true));
    let got: Vec<(&str, f64)> = a.iter().map(|a| (entity(a), a.observed)).collect();
    assert_eq!(got, [("build1", 450.0), ("ws1", 450.0)], "{a:#?}");
    assert!(run(title, &stream(false)).is_empty());
}

#[test]
fn first_seen_admin_logon_windows() {
    let title = "First Administrative Logon of an Account on a Windows Host";
    let admin = |host: &str, user: &str, sid: &str| {
        Doc::Json(json!({"Event": {
            "System": {"Channel": "Security", "EventID": 4672, "Computer": host},
            "EventData": {"SubjectUserName": user, "SubjectDomainName": "CORP", "SubjectUserSid": sid}},
            "host": {"name": host}}))
    };
    let stream = |intruder: bool| {
        let mut s = Vec::new();
        for day in 0..20 {
            s.push((day * D + 9 * H, admin("srv1", "alice", "S-1-5-21-1-1001")));
            s.push((day * D + 9 * H + S, admin("srv1", "SYSTEM", "S-1-5-18")));
            if day == 16 {
                // Built-in, machine and window-manager accounts never count.
                s.push((day * D + 10 * H, admin("srv1", "LOCAL SERVICE", "S-1-5-19")));
                s.push((
                    day * D + 10 * H + S,
                    admin("srv1", "SRV1$", "S-1-5-21-1-2000"),
                ));
                s.push((
                    day * D + 10 * H + 2 * S,
                    admin("srv1", "DWM-3", "S-1-5-90-0-3"),
                ));
                if intruder {
                    s.push((
                        day * D + 11 * H,
                        admin("srv1", "mallory", "S-1-5-21-1-1107"),
                    ));
                    s.push((
                        day * D + 12 * H,
                        admin("srv1", "mallory", "S-1-5-21-1-1107"),
                    ));
                }
            }
            // Only 4672 is read.
            s.push((day * D + 13 * H, Doc::Json(json!({"Event": {
                "System": {"Channel": "Security", "EventID": 4624, "Computer": "srv1"},
                "EventData": {"SubjectUserName": format!("user{day}"), "SubjectDomainName": "CORP"}}}))));
        }
        s
    };
    let a = run(title, &stream(true));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0].entity, [("Computer".to_owned(), "srv1".to_owned())]);
    assert_eq!(
        a[0].value,
        [
            ("SubjectDomainName".to_owned(), "CORP".to_owned()),
            ("SubjectUserName".to_owned(), "mallory".to_owned())
        ]
    );
    assert!(run(title, &stream(false)).is_empty());
}

#[test]
fn first_seen_root_logon_linux() {
    let title = "First Root Access of a User on a Linux Host";
    let sudo = |user: &str| {
        Doc::Parsed(parse(&format!(
            "Mar 10 08:13:01 web1 sudo:    {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx"
        )))
    };
    let root_ssh = Doc::Parsed(parse(
        "Mar 10 08:20:11 web1 sshd[3100]: Accepted password for root from 203.0.113.50 port 60222 ssh2",
    ));
    let stream = |intruder: bool| {
        let mut s = Vec::new();
        for day in 0..20 {
            s.push((day * D + 9 * H, sudo("alice")));
            if day == 18 {
                // sudo to another user is not root access.
                s.push((day * D + 9 * H + S, Doc::Parsed(parse(
                    "Mar 10 08:13:01 web1 sudo:    carol : TTY=pts/0 ; PWD=/home/carol ; USER=postgres ; COMMAND=/usr/bin/psql",
                ))));
            }
        }
        if intruder {
            s.push((17 * D, sudo("bob")));
            s.sort_by_key(|(ts, _)| *ts);
        }
        s
    };
    let a = run(title, &stream(true));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!((entity(&a[0]), a[0].value[0].1.as_str()), ("web1", "bob"));
    assert!(run(title, &stream(false)).is_empty());
    // A first direct root login over SSH after training.
    let mut s = stream(false);
    s.push((19 * D + 12 * H, root_ssh));
    let a = run(title, &s);
    assert_eq!(
        a.iter().map(|a| a.value[0].1.as_str()).collect::<Vec<_>>(),
        ["root"]
    );
}
