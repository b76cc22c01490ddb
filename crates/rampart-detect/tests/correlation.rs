//! Correlation rules on the real path: Sigma YAML → `RuleSet` → `Engine` → `CorrelationEngine`, with JSON events shaped as rampart-parse renders sshd lines.
#![allow(clippy::unwrap_used)]

use rampart_detect::correlation::RestoreReport;
use rampart_detect::{
    CorrelationEngine, CorrelationFiring, CorrelationKind, CorrelationOptions, Diagnostic, Engine,
    LoadOptions, Mappings, Matches, RuleSet,
};
use serde_json::{Value, json};

mod common;

const NS: i64 = 1_000_000_000;

/// Base detection rules shared by the cases: sshd failures and successes, and a
/// network connection rule for the alias case.
const BASE: &str = r#"
title: Failed login
id: 11111111-0000-4000-8000-000000000001
name: failed_login
logsource: {product: linux, service: sshd}
detection: {sel: {event.action: ssh_login, event.outcome: failure}, condition: sel}
level: low
---
title: Successful login
id: 11111111-0000-4000-8000-000000000002
name: successful_login
logsource: {product: linux, service: sshd}
detection: {sel: {event.action: ssh_login, event.outcome: success}, condition: sel}
level: informational
---
title: Outbound transfer
id: 11111111-0000-4000-8000-000000000003
name: transfer
logsource: {product: linux, service: sshd}
detection: {sel: {event.action: transfer}, condition: sel}
"#;

struct Harness {
    engine: Engine,
    corr: CorrelationEngine,
    m: Matches,
}

fn load(correlations: &str, opts: CorrelationOptions) -> (Harness, Vec<Diagnostic>) {
    let yaml = format!("{BASE}---\n{correlations}");
    let (rules, diags) = RuleSet::from_yaml_str(&yaml, "test", &LoadOptions::default());
    assert!(diags.is_empty(), "{diags:#?}");
    let mappings = Mappings::builtin();
    let engine = Engine::new(&rules, &mappings);
    let (corr, diags) = CorrelationEngine::new(&rules, &engine, &mappings, opts);
    (
        Harness {
            engine,
            corr,
            m: Matches::new(),
        },
        diags,
    )
}

fn harness(correlations: &str) -> Harness {
    harness_with(correlations, CorrelationOptions::default())
}

fn harness_with(correlations: &str, opts: CorrelationOptions) -> Harness {
    let (h, diags) = load(correlations, opts);
    assert!(diags.is_empty(), "{diags:#?}");
    h
}

/// An sshd event as rampart-parse renders it.
fn sshd(action: &str, outcome: &str, ip: &str, user: &str) -> Value {
    json!({"log": {"syslog": {"appname": "sshd"}}, "host": {"name": "srv1"},
           "event": {"action": action, "outcome": outcome},
           "source": {"ip": ip}, "user": {"name": user}})
}

fn fail(ip: &str, user: &str) -> Value {
    sshd("ssh_login", "failure", ip, user)
}

fn ok(ip: &str, user: &str) -> Value {
    sshd("ssh_login", "success", ip, user)
}

impl Harness {
    /// Feed `(second, event)` pairs; the event reference is the position in `events`.
    fn feed(&mut self, events: &[(i64, Value)]) -> Vec<CorrelationFiring> {
        self.feed_from(0, events)
    }

    fn feed_from(&mut self, first_ref: usize, events: &[(i64, Value)]) -> Vec<CorrelationFiring> {
        let mut out = Vec::new();
        for (i, (s, ev)) in events.iter().enumerate() {
            self.engine.evaluate(ev, &mut self.m);
            out.extend(
                self.corr
                    .observe(ev, s * NS, (first_ref + i) as u128, &self.m),
            );
        }
        out
    }
}

/// (title, group values, value) of each firing.
fn summary(f: &[CorrelationFiring]) -> Vec<(String, Vec<String>, f64)> {
    f.iter()
        .map(|f| {
            (
                f.rule.title.clone(),
                f.group.iter().map(|(_, v)| v.clone()).collect(),
                f.value,
            )
        })
        .collect()
}

fn titles(f: &[CorrelationFiring]) -> Vec<&str> {
    f.iter().map(|f| f.rule.title.as_str()).collect()
}

const BRUTE: &str = r#"
title: Brute force
id: 22222222-0000-4000-8000-000000000001
name: brute
correlation:
  type: event_count
  rules: [failed_login]
  group-by: [source.ip]
  timespan: 60s
  condition: {gte: 3}
level: high
tags: [attack.t1110]
"#;

#[test]
fn event_count_fires_per_group_with_metadata() {
    let mut h = harness(BRUTE);
    let events = vec![
        (0, fail("10.0.0.1", "root")),
        (1, fail("10.0.0.2", "root")),
        (2, fail("10.0.0.1", "admin")),
        (3, ok("10.0.0.1", "root")), // not a failure: not counted
        (4, fail("10.0.0.1", "root")),
        (5, fail("10.0.0.2", "root")),
    ];
    let f = h.feed(&events);
    assert_eq!(
        summary(&f),
        [("Brute force".to_owned(), vec!["10.0.0.1".to_owned()], 3.0)]
    );
    let f = &f[0];
    assert_eq!(f.group, [("source.ip".to_owned(), "10.0.0.1".to_owned())]);
    assert_eq!(f.kind, CorrelationKind::EventCount);
    assert_eq!(
        f.rule.id.as_deref(),
        Some("22222222-0000-4000-8000-000000000001")
    );
    assert_eq!(f.rule.level.as_deref(), Some("high"));
    assert_eq!(f.rule.tags, ["attack.t1110"]);
    assert_eq!((f.window_start_nanos, f.window_end_nanos), (0, 4 * NS));
    assert_eq!(f.event_refs, [0, 2, 4]);
    // generate: false (default): single failures are not alerts, the correlation is
    assert!(f.emit);
    assert!(!h.corr.emits_detection(0));
    assert!(h.corr.emits_detection(1));
    // the next failure in the window fires again (as rsigma, without suppression)
    let f = h.feed(&[(6, fail("10.0.0.1", "x"))]);
    assert_eq!(summary(&f)[0].2, 4.0);
}

#[test]
fn timespan_expiry_is_a_sliding_window() {
    let mut h = harness(BRUTE);
    // 60 s window: failures at 0, 30, 61 → the one at 0 has left when 61 arrives
    let f = h.feed(&[
        (0, fail("10.0.0.1", "a")),
        (30, fail("10.0.0.1", "a")),
        (61, fail("10.0.0.1", "a")),
    ]);
    assert!(f.is_empty(), "{:?}", summary(&f));
    // at 90, 30/61/90 are within 60 s of each other
    let f = h.feed(&[(90, fail("10.0.0.1", "a"))]);
    assert_eq!(summary(&f)[0].2, 3.0);
    assert_eq!(f[0].window_start_nanos, 30 * NS);
    // the window includes its start: events exactly timespan apart count together
    let mut h = harness(BRUTE);
    let f = h.feed(&[
        (0, fail("10.0.0.9", "a")),
        (30, fail("10.0.0.9", "a")),
        (60, fail("10.0.0.9", "a")),
    ]);
    assert_eq!(f.len(), 1);
}

#[test]
fn range_conditions_hold_together() {
    let mut h = harness(
        r#"
title: Between three and four
correlation:
  type: event_count
  rules: [failed_login]
  group-by: [source.ip]
  timespan: 1h
  condition: {gt: 2, lte: 4}
"#,
    );
    let events: Vec<(i64, Value)> = (0..6).map(|i| (i, fail("10.0.0.1", "a"))).collect();
    let values: Vec<f64> = summary(&h.feed(&events)).into_iter().map(|s| s.2).collect();
    assert_eq!(values, [3.0, 4.0]);
}

#[test]
fn value_count_counts_distinct_values() {
    let mut h = harness(
        r#"
title: Spraying
correlation:
  type: value_count
  rules: [failed_login]
  group-by: [source.ip]
  timespan: 10m
  condition: {field: user.name, gte: 3}
"#,
    );
    let f = h.feed(&[
        (0, fail("10.0.0.1", "root")),
        (1, fail("10.0.0.1", "root")),
        (2, fail("10.0.0.1", "admin")),
        (3, fail("10.0.0.2", "oracle")),
        (4, fail("10.0.0.1", "admin")),
        (5, fail("10.0.0.1", "test")),
    ]);
    assert_eq!(
        summary(&f),
        [("Spraying".to_owned(), vec!["10.0.0.1".to_owned()], 3.0)]
    );
    assert_eq!(f[0].window_end_nanos, 5 * NS);
}

#[test]
fn temporal_any_order_and_ordered() {
    let temporal = r#"
title: Both
correlation:
  type: temporal
  rules: [failed_login, successful_login]
  group-by: [user.name]
  timespan: 5m
---
title: Failure then success
correlation:
  type: temporal_ordered
  rules: [failed_login, successful_login]
  group-by: [user.name]
  timespan: 5m
"#;
    // (what, events, titles that fire)
    type Case<'a> = (&'a str, &'a [(i64, Value)], &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        (
            "failure then success",
            &[(0, fail("1.1.1.1", "bob")), (10, ok("2.2.2.2", "bob"))],
            &["Both", "Failure then success"],
        ),
        (
            "success then failure: temporal only",
            &[(0, ok("1.1.1.1", "bob")), (10, fail("2.2.2.2", "bob"))],
            &["Both"],
        ),
        (
            "different users",
            &[(0, fail("1.1.1.1", "bob")), (10, ok("1.1.1.1", "eve"))],
            &[],
        ),
        (
            "too far apart",
            &[(0, fail("1.1.1.1", "bob")), (301, ok("1.1.1.1", "bob"))],
            &[],
        ),
        (
            "one rule only: no condition means all rules (specification)",
            &[(0, fail("1.1.1.1", "bob")), (1, fail("1.1.1.1", "bob"))],
            &[],
        ),
    ];
    for (what, events, want) in cases {
        let mut h = harness(temporal);
        let f = h.feed(events);
        assert_eq!(titles(&f), *want, "{what}");
    }
}

#[test]
fn temporal_with_a_count_condition_and_an_expression() {
    let yaml = r#"
title: Two of three
correlation:
  type: temporal
  rules: [failed_login, successful_login, transfer]
  group-by: [user.name]
  timespan: 5m
  condition: {gte: 2}
---
title: Success without failure
correlation:
  type: temporal
  rules: [failed_login, successful_login]
  group-by: [user.name]
  timespan: 5m
  condition: successful_login and not failed_login
"#;
    let mut h = harness(yaml);
    let f = h.feed(&[(0, ok("1.1.1.1", "amy"))]);
    assert_eq!(titles(&f), ["Success without failure"]);
    let f = h.feed(&[(1, sshd("transfer", "success", "1.1.1.1", "amy"))]);
    assert_eq!(titles(&f), ["Two of three"]);
    let f = h.feed(&[(2, fail("1.1.1.1", "amy"))]);
    assert_eq!(titles(&f), ["Two of three"]);
    assert_eq!(f[0].value, 3.0);
}

#[test]
fn aliases_map_a_group_field_per_rule() {
    // The failing source's address appears as destination.ip in the transfer events.
    let yaml = r#"
title: Failure then transfer to the same address
correlation:
  type: temporal_ordered
  rules: [failed_login, transfer]
  group-by: [peer]
  timespan: 5m
  aliases:
    peer:
      failed_login: source.ip
      transfer: destination.ip
"#;
    let mut h = harness(yaml);
    let mut t = sshd("transfer", "success", "10.9.9.9", "amy");
    t["destination"] = json!({"ip": "10.0.0.66"});
    let mut other = t.clone();
    other["destination"] = json!({"ip": "10.0.0.77"});
    let f = h.feed(&[(0, fail("10.0.0.66", "root")), (5, other), (9, t)]);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].group, [("peer".to_owned(), "10.0.0.66".to_owned())]);
    assert_eq!(f[0].event_refs, [0, 2]);
}

#[test]
fn numeric_aggregations() {
    let yaml = r#"
title: Sum
correlation:
  type: value_sum
  rules: [transfer]
  group-by: [user.name]
  timespan: 1m
  condition: {field: bytes, gte: 1000}
---
title: Average
correlation:
  type: value_avg
  rules: [transfer]
  group-by: [user.name]
  timespan: 1m
  condition: {field: bytes, gt: 400, lt: 600}
---
title: Ninetieth percentile
correlation:
  type: value_percentile
  rules: [transfer]
  group-by: [user.name]
  timespan: 1m
  condition: {field: bytes, percentile: 90, gte: 700}
"#;
    let mut h = harness(yaml);
    let tx = |bytes: Value| {
        let mut e = sshd("transfer", "success", "1.1.1.1", "amy");
        e["bytes"] = bytes;
        e
    };
    let f = h.feed(&[(0, tx(json!(100))), (1, tx(json!("900")))]);
    // sum 1000; average 500; p90 of [100, 900] = 820
    assert_eq!(
        summary(&f),
        [
            ("Sum".to_owned(), vec!["amy".to_owned()], 1000.0),
            ("Average".to_owned(), vec!["amy".to_owned()], 500.0),
            (
                "Ninetieth percentile".to_owned(),
                vec!["amy".to_owned()],
                820.0
            ),
        ]
    );
    // a non-numeric value adds nothing, the window is still checked
    let f = h.feed(&[(2, tx(json!("n/a")))]);
    assert_eq!(titles(&f), ["Sum", "Average", "Ninetieth percentile"]);
    // after the window, only the newest remains
    let f = h.feed(&[(62, tx(json!(10)))]);
    assert!(f.is_empty(), "{:?}", summary(&f));
}

#[test]
fn chained_correlations_and_generate() {
    // The specification's example: many failures, then a success, for one user.
    let yaml = r#"
title: Many failures then success
id: 33333333-0000-4000-8000-000000000001
correlation:
  type: temporal_ordered
  rules: [many_failed, successful_login]
  group-by: [user.name]
  timespan: 10m
generate: true
level: critical
---
title: Many failures
name: many_failed
correlation:
  type: event_count
  rules: [failed_login]
  group-by: [user.name]
  timespan: 10m
  condition: {gte: 3}
"#;
    let mut h = harness(yaml);
    // failed_login feeds only `many_failed` (no generate): not emitted alone;
    // successful_login and `many_failed` are referenced with generate: true.
    assert!(!h.corr.emits_detection(0));
    assert!(h.corr.emits_detection(1));
    assert!(h.corr.emits_detection(2));
    let f = h.feed(&[
        (0, ok("1.1.1.1", "bob")), // a success before the failures: no order
        (1, fail("1.1.1.1", "bob")),
        (2, fail("2.2.2.2", "bob")),
        (3, fail("3.3.3.3", "bob")),
    ]);
    assert_eq!(titles(&f), ["Many failures"]);
    assert!(f[0].emit);
    let f = h.feed(&[(4, ok("1.1.1.1", "bob"))]);
    assert_eq!(titles(&f), ["Many failures then success"]);
    assert_eq!(f[0].group, [("user.name".to_owned(), "bob".to_owned())]);
    assert_eq!(f[0].rule.level.as_deref(), Some("critical"));

    // The same chain without generate: the inner correlation is not an alert alone.
    let (mut h, _) = load(
        &yaml.replace("generate: true", "generate: false"),
        Default::default(),
    );
    assert!(!h.corr.emits_detection(1));
    let f = h.feed(&[
        (1, fail("1.1.1.1", "bob")),
        (2, fail("1.1.1.1", "bob")),
        (3, fail("1.1.1.1", "bob")),
    ]);
    assert_eq!(titles(&f), ["Many failures"]);
    assert!(!f[0].emit);
}

#[test]
fn broken_references_are_reported_not_fatal() {
    let yaml = r#"
title: Dangling
correlation:
  type: event_count
  rules: [no_such_rule]
  group-by: [source.ip]
  timespan: 1m
  condition: {gte: 1}
---
title: Above dangling
name: above
correlation:
  type: event_count
  rules: [Dangling-does-not-resolve-by-title, failed_login]
  group-by: [source.ip]
  timespan: 1m
  condition: {gte: 1}
---
title: Cycle A
name: cycle_a
correlation: {type: event_count, rules: [cycle_b], group-by: [x], timespan: 1m, condition: {gte: 1}}
---
title: Cycle B
name: cycle_b
correlation: {type: event_count, rules: [cycle_a], group-by: [x], timespan: 1m, condition: {gte: 1}}
---
title: Tumbling
correlation: {type: event_count, rules: [failed_login], group-by: [x], timespan: 1m, window: tumbling, condition: {gte: 1}}
"#;
    let (mut h, diags) = load(&format!("{yaml}---\n{BRUTE}"), Default::default());
    let got: Vec<(String, String)> = diags
        .iter()
        .map(|d| (d.rule.clone().unwrap(), d.category.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("Dangling".to_owned(), "correlation".to_owned()),
            ("Above dangling".to_owned(), "correlation".to_owned()),
            ("Tumbling".to_owned(), "unsupported".to_owned()),
            ("Cycle A".to_owned(), "correlation".to_owned()),
            ("Cycle B".to_owned(), "correlation".to_owned()),
        ],
        "{diags:#?}"
    );
    assert!(diags[0].reason.contains("no_such_rule"));
    // the valid correlation still runs
    let f = h.feed(&[
        (0, fail("10.0.0.1", "a")),
        (1, fail("10.0.0.1", "a")),
        (2, fail("10.0.0.1", "a")),
    ]);
    assert_eq!(titles(&f), ["Brute force"]);
    assert!(!h.corr.is_enabled(0));
    assert!(h.corr.is_enabled(5));
}

#[test]
fn group_cap_refuses_and_counts_then_frees_expired_groups() {
    let opts = CorrelationOptions {
        max_groups: 2,
        max_lateness_seconds: 0,
        ..CorrelationOptions::default()
    };
    let mut h = harness_with(BRUTE, opts);
    let burst = |ip: &str, t: i64| -> Vec<(i64, Value)> {
        (0..3).map(|i| (t + i, fail(ip, "a"))).collect()
    };
    let mut events = burst("10.0.0.1", 0);
    events.extend(burst("10.0.0.2", 3));
    events.extend(burst("10.0.0.3", 6)); // a third group: refused
    let f = h.feed(&events);
    let groups: Vec<Vec<String>> = summary(&f).into_iter().map(|s| s.1).collect();
    assert_eq!(groups, [vec!["10.0.0.1"], vec!["10.0.0.2"]]);
    let s = h.corr.stats();
    assert_eq!((s.groups, s.groups_refused), (2, 3));
    // two minutes later the first groups' windows are over: room is made
    let f = h.feed(&burst("10.0.0.3", 130));
    assert_eq!(summary(&f).len(), 1);
    let s = h.corr.stats();
    assert_eq!((s.groups, s.groups_refused, s.groups_expired), (1, 3, 2));
}

#[test]
fn per_group_entry_cap_keeps_counts_and_bounds_distinct_sets() {
    let yaml = format!(
        "{BRUTE}---\ntitle: Spray\ncorrelation: {{type: value_count, rules: [failed_login], \
         group-by: [source.ip], timespan: 1h, condition: {{field: user.name, gte: 4}}}}\n"
    );
    let opts = CorrelationOptions {
        max_entries_per_group: 2,
        ..CorrelationOptions::default()
    };
    let mut h = harness_with(&yaml, opts);
    let events: Vec<(i64, Value)> = (0..4)
        .map(|i| (i, fail("10.0.0.1", &format!("user{i}"))))
        .collect();
    let f = h.feed(&events);
    // event_count stays exact (3 and 4 failures); only 2 distinct users are kept
    assert_eq!(titles(&f), ["Brute force", "Brute force"]);
    assert!(h.corr.stats().entries_truncated >= 2);
}

#[test]
fn late_and_out_of_order_events() {
    let opts = CorrelationOptions {
        max_lateness_seconds: 30,
        ..CorrelationOptions::default()
    };
    let mut h = harness_with(BRUTE, opts);
    // out of order within the tolerance: counted, sorted in the window
    let f = h.feed(&[
        (100, fail("10.0.0.1", "a")),
        (90, fail("10.0.0.1", "a")),
        (95, fail("10.0.0.1", "a")),
    ]);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].window_start_nanos, f[0].window_end_nanos),
        (90 * NS, 95 * NS)
    );
    assert_eq!(f[0].event_refs, [1, 2, 0]);
    // beyond the tolerance: not correlated, counted
    let f = h.feed(&[(10, fail("10.0.0.1", "a"))]);
    assert!(f.is_empty());
    assert_eq!(h.corr.stats().late_events, 1);
    // extreme times neither panic nor corrupt state
    let f = h.feed(&[
        (i64::MAX / NS, fail("10.0.0.5", "a")),
        (i64::MIN / NS, fail("10.0.0.5", "a")),
    ]);
    assert!(f.is_empty());
    let mut h = harness(BRUTE);
    let mut m = Matches::new();
    let ev = fail("10.0.0.7", "a");
    h.engine.evaluate(&ev, &mut m);
    for ts in [i64::MAX, i64::MIN, 0, i64::MAX] {
        let _ = h.corr.observe(&ev, ts, 0, &m);
    }
}

#[test]
fn missing_group_field_is_not_correlated() {
    // rsigma groups events that lack the field under an empty value; SIEM backends
    // (a `stats … by` or a terms aggregation) leave them out, and so does Rampart, so
    // that unrelated events without an address never add up to one "source".
    let mut h = harness(BRUTE);
    let mut no_ip = fail("x", "a");
    no_ip["source"] = json!({});
    let events: Vec<(i64, Value)> = (0..5).map(|i| (i, no_ip.clone())).collect();
    assert!(h.feed(&events).is_empty());
    assert_eq!(h.corr.stats().ungrouped, 5);
}

#[test]
fn suppression_holds_back_repeats() {
    let opts = CorrelationOptions {
        suppress_seconds: Some(60),
        ..CorrelationOptions::default()
    };
    let mut h = harness_with(BRUTE, opts);
    let events: Vec<(i64, Value)> = (0..10).map(|i| (i * 10, fail("10.0.0.1", "a"))).collect();
    let f = h.feed(&events);
    let ends: Vec<i64> = f.iter().map(|f| f.window_end_nanos / NS).collect();
    assert_eq!(ends, [20, 80]);
    assert_eq!(h.corr.stats().suppressed, 6);
}

/// A stream mixing every correlation type, for the restart test.
fn mixed_stream() -> (String, Vec<(i64, Value)>) {
    let yaml = format!(
        "{BRUTE}---\n{}",
        r#"
title: Spray
correlation: {type: value_count, rules: [failed_login], group-by: [source.ip], timespan: 5m, condition: {field: user.name, gte: 3}}
---
title: Ordered
correlation: {type: temporal_ordered, rules: [brute, successful_login], group-by: [source.ip], timespan: 10m}
---
title: Sum
correlation: {type: value_sum, rules: [transfer], group-by: [user.name], timespan: 5m, condition: {field: bytes, gte: 300}}
"#
    );
    let mut events = Vec::new();
    for i in 0..200_i64 {
        let ip = format!("10.0.0.{}", (i / 10) % 4);
        let user = format!("u{}", (i * 7) % 11);
        let ev = match i % 9 {
            0 => ok(&ip, &user),
            4 => {
                let mut e = sshd("transfer", "success", &ip, &user);
                e["bytes"] = json!(i * 3);
                e
            }
            _ => fail(&ip, &user),
        };
        events.push((i * 7, ev));
    }
    (yaml, events)
}

#[test]
fn snapshot_restore_continues_open_windows() {
    let (yaml, events) = mixed_stream();
    let mut whole = harness(&yaml);
    let expected = summary(&whole.feed(&events));
    assert!(expected.len() > 20, "{}", expected.len());
    for kind in ["Brute force", "Spray", "Ordered", "Sum"] {
        assert!(expected.iter().any(|e| e.0 == kind), "{kind} never fired");
    }
    for cut in [1, 57, 100, 199] {
        let mut first = harness(&yaml);
        let mut got = summary(&first.feed(&events[..cut]));
        let bytes = first.corr.snapshot();
        let mut second = harness(&yaml);
        let report = second.corr.restore(&bytes).unwrap();
        assert_eq!(report.groups, first.corr.stats().groups, "cut {cut}");
        assert!(report.skipped.is_empty());
        got.extend(summary(&second.feed_from(cut, &events[cut..])));
        assert_eq!(got, expected, "cut at {cut}");
    }
}

#[test]
fn restore_refuses_bad_snapshots_and_skips_changed_rules() {
    let (yaml, events) = mixed_stream();
    let mut h = harness(&yaml);
    h.feed(&events[..50]);
    let bytes = h.corr.snapshot();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let cases = [
        ("garbage".to_owned(), "cannot read"),
        (
            text.replace("\"version\":1", "\"version\":99"),
            "version 99",
        ),
        (
            text.replace("rampart-correlation-state", "other"),
            "not a correlation snapshot",
        ),
    ];
    for (bad, why) in cases {
        let err = h.corr.restore(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
    }
    // the brute force rule's threshold changed: fine; its timespan changed: dropped
    let changed = yaml.replacen("timespan: 60s", "timespan: 61s", 1);
    let mut h2 = harness(&changed);
    let report: RestoreReport = h2.corr.restore(&bytes).unwrap();
    assert_eq!(report.skipped, ["22222222-0000-4000-8000-000000000001"]);
    assert!(report.groups > 0);
}

#[test]
fn default_rules_load_and_wire() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let (rules, diags) = RuleSet::load_dir(std::path::Path::new(dir), &LoadOptions::default());
    let ours: Vec<_> = diags
        .iter()
        .filter(|d| d.path.to_string_lossy().contains("correlations"))
        .collect();
    assert!(ours.is_empty(), "{ours:#?}");
    let (engine, corr) = common::correlation_engines(&rules);
    assert!(corr.len() >= 6);
    assert!((0..corr.len()).all(|i| corr.is_enabled(i)));
    let failed = (0..engine.len() as u32)
        .find(|i| engine.rule(*i).unwrap().title == "SSH Failed Login")
        .unwrap();
    assert!(
        !corr.emits_detection(failed),
        "single failures are not alerts"
    );
}
