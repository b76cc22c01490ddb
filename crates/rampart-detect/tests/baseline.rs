//! Baseline engine on synthetic streams: training, spikes, dips, zero-filled silent buckets, the bounds and their counters, first-seen values, lateness and snapshot/restore.
#![allow(clippy::unwrap_used)]

use rampart_detect::baseline::{
    Anomaly, AnomalyKind, BaselineEngine, BaselineOptions, BaselineSet, RestoreReport,
};
use rampart_detect::{LoadOptions, Mappings};
use serde_json::{Value, json};

const S: i64 = 1_000_000_000;
const H: i64 = 3_600 * S;
const D: i64 = 24 * H;

const HEAD: &str = "title: Test baseline\nid: 5e9c1a0e-0000-4000-8000-0000000000";

/// A rule selecting `event.action: x` with the given body (entity, metric …).
fn rule(n: u8, body: &str) -> String {
    format!(
        "{HEAD}{n:02}\nlevel: low\ndetection: {{sel: {{event.action: x}}, condition: sel}}\n{body}"
    )
}

fn engine_with(yaml: &str, options: BaselineOptions) -> BaselineEngine {
    let (set, diags) = BaselineSet::from_yaml_str(yaml, "test.yml", &LoadOptions::default());
    assert!(diags.is_empty(), "{diags:#?}");
    let (engine, diags) = BaselineEngine::new(&set, &Mappings::builtin(), options);
    assert!(diags.is_empty(), "{diags:#?}");
    engine
}

fn engine(yaml: &str) -> BaselineEngine {
    engine_with(yaml, BaselineOptions::default())
}

fn ev(host: &str, extra: Value) -> Value {
    let mut v = json!({"event": {"action": "x"}, "host": {"name": host}});
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

/// One (time, event) per item; event refs are the positions in the stream.
type Stream = Vec<(i64, Value)>;

fn run(engine: &mut BaselineEngine, stream: &[(i64, Value)], end: i64) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for (i, (ts, doc)) in stream.iter().enumerate() {
        out.extend(engine.observe(doc, *ts, i as u128));
    }
    out.extend(engine.tick(end));
    out
}

/// `per_hour(h)` events of `host` in each hour `h` of `0..hours`, spread over the hour.
fn hourly(host: &str, hours: i64, per_hour: impl Fn(i64) -> i64) -> Stream {
    let mut s = Vec::new();
    for h in 0..hours {
        let n = per_hour(h);
        for i in 0..n {
            s.push((h * H + i * (H / n.max(1)), ev(host, json!({}))));
        }
    }
    s
}

/// Deterministic noise in `lo..=hi`.
fn noise(i: i64, lo: i64, hi: i64) -> i64 {
    lo + (i.wrapping_mul(2_654_435_761) >> 7).rem_euclid(hi - lo + 1)
}

const COUNT: &str =
    "entity: host.name\nmetric: count\nbucket: 1h\ntraining: 1d\nhistory: 48\nmin_history: 24\n";

#[test]
fn a_spike_after_training_alerts_once() {
    let mut e = engine(&rule(1, COUNT));
    let stream = hourly("web1", 72, |h| if h == 60 { 80 } else { noise(h, 4, 8) });
    let a = run(&mut e, &stream, 72 * H + 2 * 60 * S);
    assert_eq!(a.len(), 1, "{a:#?}");
    let a = &a[0];
    assert_eq!(a.kind, AnomalyKind::High);
    assert_eq!(a.entity, [("host.name".to_owned(), "web1".to_owned())]);
    assert_eq!((a.bucket_start_nanos, a.bucket_end_nanos), (60 * H, 61 * H));
    assert_eq!(a.observed, 80.0);
    assert!((4.0..=8.0).contains(&a.expected), "{a:?}");
    assert!(a.score >= 3.5);
    assert_eq!(a.history_buckets, 48);
    assert_eq!(a.rule.title, "Test baseline");
    // The newest 16 events of the bucket, oldest first.
    let last = stream.iter().rposition(|(ts, _)| *ts < 61 * H).unwrap() as u128;
    assert_eq!(a.event_refs, ((last - 15)..=last).collect::<Vec<_>>());
    assert_eq!(e.stats().anomalies, 1);
}

#[test]
fn steady_streams_and_training_stay_quiet() {
    // Noisy but steady for ten days.
    let mut e = engine(&rule(1, COUNT));
    let a = run(&mut e, &hourly("web1", 240, |h| noise(h, 2, 9)), 240 * H);
    assert!(a.is_empty(), "{a:#?}");
    // A spike during the one-day training.
    let mut e = engine(&rule(1, COUNT));
    let a = run(
        &mut e,
        &hourly("web1", 48, |h| if h == 20 { 500 } else { 5 }),
        48 * H,
    );
    assert!(a.is_empty(), "{a:#?}");
    // A spike that the absolute floor keeps quiet (5 → 14), and one it does not (5 → 40).
    let floor = format!("{COUNT}threshold: {{min_delta: 20}}\n");
    let mut e = engine(&rule(1, &floor));
    let a = run(
        &mut e,
        &hourly("web1", 72, |h| match h {
            50 => 14,
            60 => 40,
            _ => 5,
        }),
        72 * H,
    );
    assert_eq!(a.iter().map(|a| a.observed).collect::<Vec<_>>(), [40.0]);
}

#[test]
fn silent_buckets_count_as_zero() {
    // Ten events an hour for 6 hours, silence for more than the 48-hour window, then ten
    // again: the window is all silent hours now, so ten is far above the baseline 0.
    let stream = hourly("db1", 61, |h| if h < 6 || h == 60 { 10 } else { 0 });
    let kept = format!("{COUNT}retention: 30d\n");
    let mut e = engine(&rule(1, &kept));
    let a = run(&mut e, &stream, 62 * H);
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!((a[0].observed, a[0].expected), (10.0, 0.0));
    assert_eq!(a[0].bucket_start_nanos, 60 * H);
    // Every hour up to the tick's, silent ones included.
    assert_eq!(e.stats().buckets_closed, 61);
    // With the default retention (the window), the silent entity was forgotten and its
    // training starts again: no alert.
    let mut e = engine(&rule(1, COUNT));
    let a = run(&mut e, &stream, 62 * H);
    assert!(a.is_empty(), "{a:#?}");
    assert_eq!(e.stats().entities_expired, 1);
}

#[test]
fn dips_are_found_by_low_rules_through_tick() {
    let low = format!("{COUNT}direction: low\n");
    let mut e = engine(&rule(1, &low));
    // 100 an hour for two days, then nothing: the wall clock closes the silent hours.
    let mut a = run(
        &mut e,
        &hourly("log1", 48, |h| 100 + noise(h, -5, 5)),
        48 * H,
    );
    assert!(a.is_empty(), "{a:#?}");
    a.extend(e.tick(49 * H + 61 * S));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0].kind, AnomalyKind::Low);
    assert_eq!((a[0].observed, a[0].bucket_start_nanos), (0.0, 48 * H));
    assert!(a[0].score <= -3.5);
}

#[test]
fn sum_and_distinct_metrics_and_their_counters() {
    let yaml = format!(
        "{}\n---\n{}",
        rule(
            1,
            "entity: host.name\nmetric: {sum: source.bytes}\ntraining: 1d\nhistory: 24\n"
        ),
        rule(
            2,
            "entity: host.name\nmetric: {distinct: destination.ip}\ntraining: 1d\nhistory: 24\n"
        ),
    );
    let mut e = engine_with(
        &yaml,
        BaselineOptions {
            max_distinct_per_bucket: 50,
            ..BaselineOptions::default()
        },
    );
    let mut stream = Vec::new();
    for h in 0..36 {
        let spike = h == 30;
        for i in 0..4 {
            let bytes = if spike { 5_000_000 } else { 1_000 };
            let dst = if spike {
                format!("10.0.{h}.{i}")
            } else {
                format!("10.0.0.{}", i % 2)
            };
            stream.push((
                h * H + i * 60 * S,
                ev(
                    "web1",
                    json!({"source": {"bytes": bytes}, "destination": {"ip": dst}}),
                ),
            ));
        }
        if spike {
            for i in 0..100 {
                stream.push((
                    h * H + 600 * S + i * S,
                    ev(
                        "web1",
                        json!({"destination": {"ip": format!("10.9.0.{i}")}}),
                    ),
                ));
            }
        }
    }
    // Unusable values: a non-numeric byte count and a missing entity.
    stream.push((35 * H, ev("web1", json!({"source": {"bytes": "lots"}}))));
    stream.push((
        35 * H,
        json!({"event": {"action": "x"}, "source": {"bytes": 1}}),
    ));
    let a = run(&mut e, &stream, 36 * H + 61 * S);
    let got: Vec<(usize, f64)> = a.iter().map(|a| (a.rule_index, a.observed)).collect();
    // Sum: 4 × 5 MB; distinct: capped at 50 of the 104 destinations.
    assert_eq!(got, [(0, 20_000_000.0), (1, 50.0)], "{a:#?}");
    let sum = e.rule_stats(0).unwrap();
    assert_eq!((sum.no_value, sum.no_entity), (101, 1), "{sum:?}");
    let distinct = e.rule_stats(1).unwrap();
    assert_eq!(distinct.distinct_saturated, 54);
    assert_eq!(distinct.no_value, 1, "{distinct:?}");
}

#[test]
fn entity_cap_refuses_new_entities_and_counts_them() {
    let mut e = engine_with(
        &rule(1, COUNT),
        BaselineOptions {
            max_entities_per_rule: 2,
            ..BaselineOptions::default()
        },
    );
    for (i, host) in ["a", "b", "c", "a", "d"].into_iter().enumerate() {
        e.observe(&ev(host, json!({})), i as i64 * S, 0);
    }
    let s = e.stats();
    assert_eq!(
        (s.entities, s.entities_refused, s.events),
        (2, 2, 3),
        "{s:?}"
    );
    // Entities silent for the retention (history × bucket here) are forgotten, making room.
    e.observe(&ev("d", json!({})), 60 * H, 0);
    let s = e.stats();
    assert_eq!(
        (s.entities, s.entities_expired, s.entities_refused),
        (1, 2, 2),
        "{s:?}"
    );
}

#[test]
fn late_events_are_counted_not_measured() {
    let mut e = engine(&rule(1, COUNT));
    e.observe(&ev("a", json!({})), 5 * H, 0);
    // Within the 60 s lateness tolerance of hour 4's end: still measured.
    e.observe(&ev("a", json!({})), 5 * H - 30 * S, 0);
    e.observe(&ev("a", json!({})), 5 * H + 2 * 60 * S, 0);
    // Hour 4 is closed now.
    e.observe(&ev("a", json!({})), 5 * H - 30 * S, 0);
    e.observe(&ev("a", json!({})), 2 * H, 0);
    let s = e.stats();
    assert_eq!((s.events, s.late_events), (3, 2), "{s:?}");
}

const SEEN: &str = "entity: host.name\nmetric: {first_seen: user.name}\ntraining: 1d\n";

#[test]
fn first_seen_values_alert_after_training_only() {
    let mut e = engine(&rule(3, SEEN));
    let login = |host: &str, user: &str| ev(host, json!({"user": {"name": user}}));
    let stream: Stream = vec![
        (0, login("h1", "alice")),
        (2 * H, login("h1", "bob")),
        (D - H, login("h1", "carol")), // still training: learned
        (D + H, login("h1", "alice")),
        (D + 2 * H, login("h1", "mallory")),
        (D + 3 * H, login("h1", "mallory")),
        (D + 4 * H, login("h2", "mallory")), // h2 is new: its own training starts
        (
            D + 5 * H,
            json!({"event": {"action": "x"}, "host": {"name": "h1"}}),
        ),
        (2 * D + 5 * H, login("h2", "eve")),
    ];
    let a = run(&mut e, &stream, 3 * D);
    let got: Vec<(&str, &str, i64, u128)> = a
        .iter()
        .map(|a| {
            (
                a.entity[0].1.as_str(),
                a.value[0].1.as_str(),
                a.bucket_start_nanos,
                a.event_refs[0],
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("h1", "mallory", D + 2 * H, 4),
            ("h2", "eve", 2 * D + 5 * H, 8)
        ]
    );
    assert!(
        a.iter()
            .all(|a| a.kind == AnomalyKind::FirstSeen && a.value[0].0 == "user.name")
    );
    assert_eq!(a[0].history_buckets, 26);
    assert_eq!(e.stats().no_value, 1);
}

#[test]
fn first_seen_sets_are_bounded() {
    let mut e = engine_with(
        &rule(3, SEEN),
        BaselineOptions {
            max_first_seen_values: 2,
            ..BaselineOptions::default()
        },
    );
    let login = |user: &str| ev("h1", json!({"user": {"name": user}}));
    let mut a = Vec::new();
    for (i, user) in ["a", "b", "c", "a"].into_iter().enumerate() {
        a.extend(e.observe(&login(user), D + i as i64 * H, 0));
    }
    // The entity starts at D; at D+1h… it is still training: only the counter moves.
    assert!(a.is_empty());
    assert_eq!(e.stats().first_seen_evicted, 2);
    // After training, "b" was forgotten (least recently seen) and is new again.
    let a = e.observe(&login("b"), 3 * D, 0);
    assert_eq!(a.len(), 1);
}

/// A stream exercising every metric kind over five days, with spikes and new values.
fn mixed_rules() -> String {
    [
        rule(1, COUNT),
        rule(2, "entity: host.name\nmetric: {sum: source.bytes}\ntraining: 1d\nhistory: 24\n"),
        rule(3, SEEN),
        rule(4, "entity: [host.name, user.name]\nmetric: {distinct: destination.ip}\ntraining: 1d\nhistory: 24\ndirection: both\n"),
    ]
    .join("\n---\n")
}

fn mixed_stream() -> Stream {
    let mut s = Vec::new();
    for h in 0..120 {
        for (k, host) in ["web1", "web2", "db1"].into_iter().enumerate() {
            let n = match (h, k) {
                (70, 0) => 90,
                (100, 2) => 0,
                _ => noise(h * 3 + k as i64, 3, 7),
            };
            for i in 0..n {
                let user = if h == 90 && i == 0 {
                    "intruder".to_owned()
                } else {
                    format!("u{}", i % 3)
                };
                let bytes = if (h, k) == (80, 1) {
                    9_000_000
                } else {
                    1_000 + noise(i, 0, 500)
                };
                s.push((
                    h * H + k as i64 * 7 * S + i * 37 * S,
                    ev(
                        host,
                        json!({"user": {"name": user}, "source": {"bytes": bytes},
                                    "destination": {"ip": format!("10.0.0.{}", i % 4)}}),
                    ),
                ));
            }
        }
    }
    s
}

#[test]
fn snapshot_and_restore_equal_an_uninterrupted_run() {
    let yaml = mixed_rules();
    let stream = mixed_stream();
    let end = 121 * H;
    let mut whole = engine(&yaml);
    let expected = run(&mut whole, &stream, end);
    let kinds: Vec<AnomalyKind> = expected.iter().map(|a| a.kind).collect();
    assert!(
        kinds.contains(&AnomalyKind::High) && kinds.contains(&AnomalyKind::FirstSeen),
        "{kinds:?}"
    );
    let n = stream.len();
    for cuts in [
        vec![n / 2],
        vec![5, n / 3, n / 3 + 1],
        vec![n / 5, 2 * n / 5, 3 * n / 5, 4 * n / 5],
    ] {
        let mut got = Vec::new();
        let mut e = engine(&yaml);
        let mut start = 0;
        for (ci, &cut) in cuts.iter().chain([stream.len()].iter()).enumerate() {
            for (i, (ts, doc)) in stream.iter().enumerate().take(cut).skip(start) {
                got.extend(e.observe(doc, *ts, i as u128));
            }
            start = cut;
            if ci < cuts.len() {
                let bytes = e.snapshot();
                e = engine(&yaml);
                let report = e.restore(&bytes).unwrap();
                assert!(
                    report.skipped.is_empty() && report.dropped_entities == 0,
                    "{report:?}"
                );
            }
        }
        got.extend(e.tick(end));
        assert_eq!(got, expected, "cut at {cuts:?}");
        assert_eq!(e.snapshot(), whole.snapshot(), "cut at {cuts:?}");
        assert_eq!(e.stats(), whole.stats());
    }
}

#[test]
fn restore_checks_what_it_is_given() {
    let mut e = engine(&mixed_rules());
    let stream = mixed_stream();
    for (i, (ts, doc)) in stream.iter().enumerate().take(stream.len() / 2) {
        e.observe(doc, *ts, i as u128);
    }
    let bytes = e.snapshot();
    // Rule 2 now buckets per day: its state no longer fits and is skipped.
    let changed = mixed_rules().replacen(
        "metric: {sum: source.bytes}\n",
        "metric: {sum: source.bytes}\nbucket: 1d\n",
        1,
    );
    let mut other = engine(&changed);
    let report = other.restore(&bytes).unwrap();
    assert_eq!(report.skipped, ["5e9c1a0e-0000-4000-8000-000000000002"]);
    assert_eq!(
        report.entities,
        e.stats().entities - e.rule_stats(1).unwrap().entities
    );
    // Fewer entities allowed: the rest are dropped and counted.
    let mut small = engine_with(
        &mixed_rules(),
        BaselineOptions {
            max_entities_per_rule: 1,
            ..BaselineOptions::default()
        },
    );
    let report = small.restore(&bytes).unwrap();
    assert_eq!(report.entities, 4);
    assert!(report.dropped_entities > 0);
    // Garbage, another format, another version.
    let cases: &[(&[u8], &str)] = &[
        (b"not json", "cannot read baseline snapshot"),
        (
            br#"{"format":"rampart-correlation-state","version":1,"rules":[]}"#,
            "not a baseline snapshot",
        ),
        (
            br#"{"format":"rampart-baseline-state","version":99,"rules":[]}"#,
            "version 99",
        ),
    ];
    for (bytes, want) in cases {
        let err = e.restore(bytes).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
    // An empty snapshot restores to an empty state.
    let empty = engine(&mixed_rules()).snapshot();
    assert_eq!(e.restore(&empty).unwrap(), RestoreReport::default());
    assert_eq!(e.stats().entities, 0);
}
