//! Retro-hunts against a real embedded event store in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_intel::{
    AllowEntry, AllowList, Indicator, IndicatorKind, RetroHuntOptions, retro_hunt,
};
use rampart_model::{Event, Origin, OriginKind, Raw, Timestamp};
use rampart_store::{EmbeddedStore, EmbeddedStoreConfig, EventStore};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const HOUR: i64 = 3_600_000_000_000;

fn event(label: &str, tenant: &str, ts: Timestamp, fields: Value) -> Event {
    let mut e = Event::new(
        Origin::new(OriginKind::Import, "test"),
        Raw::Text(format!("event {label}")),
    );
    e.timestamp = ts;
    e.tenant = tenant.to_owned();
    if let Value::Object(m) = fields {
        e.fields = m;
    }
    e.set("label", label);
    e
}

fn ind(kind: IndicatorKind, v: &str, now: Timestamp) -> Indicator {
    Indicator::new(kind, v, "feed", now).unwrap()
}

#[test]
fn retro_hunt_finds_new_indicators_in_stored_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(
        dir.path(),
        EmbeddedStoreConfig {
            commit_interval: Duration::from_millis(200),
            writer_memory_bytes: 20 * 1024 * 1024,
            fsync: false,
            ..EmbeddedStoreConfig::default()
        },
    )
    .unwrap();
    let now = Timestamp::now();
    let ago = |h: i64| Timestamp(now.0 - h * HOUR);
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let mut events = vec![
        event(
            "ip",
            "default",
            ago(1),
            json!({"source": {"ip": "198.51.100.23"}}),
        ),
        event(
            "ip-again",
            "default",
            ago(2),
            json!({"destination": {"ip": "198.51.100.23"}}),
        ),
        event(
            "sub",
            "default",
            ago(2),
            json!({"dns": {"question": {"name": "cdn.evil-updates.example"}}}),
        ),
        event(
            "sysmon",
            "default",
            ago(3),
            json!({"Event": {"EventData": {"Hashes": format!("MD5=00000000000000000000000000000000,SHA256={},IMPHASH=11111111111111111111111111111111", sha.to_uppercase())}}}),
        ),
        event(
            "cidr",
            "default",
            ago(4),
            json!({"destination": {"ip": "203.0.113.9"}}),
        ),
        event(
            "allowed",
            "default",
            ago(4),
            json!({"destination": {"ip": "203.0.113.5"}}),
        ),
        event(
            "mail",
            "default",
            ago(5),
            json!({"email": {"from": {"address": "Invoice@Evil-Mail.example"}}}),
        ),
        event(
            "url",
            "default",
            ago(6),
            json!({"url": {"original": "http://evil-updates.example/payload.bin"}}),
        ),
        // Look-alike the query's wildcard finds but the matcher rejects.
        event(
            "lookalike",
            "default",
            ago(6),
            json!({"url": {"original": "http://notevil-updates.example.com/x"}}),
        ),
        // Too old for the look-back, another tenant, and unrelated traffic.
        event(
            "old",
            "default",
            ago(24 * 10),
            json!({"source": {"ip": "198.51.100.23"}}),
        ),
        event(
            "other-tenant",
            "acme",
            ago(1),
            json!({"source": {"ip": "198.51.100.23"}}),
        ),
    ];
    for i in 0..200 {
        events.push(event(
            &format!("noise{i}"),
            "default",
            ago(i % 48),
            json!({"source": {"ip": format!("192.0.2.{}", i % 250)}, "dns": {"question": {"name": "example.org"}}}),
        ));
    }
    store.append(events).unwrap();
    store.refresh().unwrap();

    let indicators = vec![
        ind(IndicatorKind::Ipv4, "198.51.100.23", now),
        ind(IndicatorKind::Domain, "evil-updates.example", now),
        ind(IndicatorKind::Sha256, sha, now),
        ind(IndicatorKind::Cidr, "203.0.113.0/24", now),
        ind(IndicatorKind::Email, "invoice@evil-mail.example", now),
        ind(
            IndicatorKind::Url,
            "http://evil-updates.example/payload.bin",
            now,
        ),
    ];
    let allow = AllowList::new(&[AllowEntry::new(
        IndicatorKind::Ipv4,
        "203.0.113.5",
        "our scanner",
        "soc",
        now,
    )
    .unwrap()]);
    let mut opts = RetroHuntOptions::new(
        Duration::from_secs(7 * 24 * 3600),
        Some("default".into()),
        now,
    );
    // Small pages force the window splitting that fetches everything.
    opts.page_events = 2;
    let report = retro_hunt(&store, &indicators, allow, &opts).unwrap();

    let load = |id| {
        store
            .get(None, id)
            .unwrap()
            .unwrap()
            .get_str("label")
            .unwrap()
    };
    let got: BTreeSet<(String, String, &str)> = report
        .hits
        .iter()
        .map(|h| (load(h.event_id), h.hit.indicator.value.clone(), h.hit.field))
        .collect();
    let want: BTreeSet<(String, String, &str)> = [
        ("ip", "198.51.100.23", "source.ip"),
        ("ip-again", "198.51.100.23", "destination.ip"),
        ("sub", "evil-updates.example", "dns.question.name"),
        ("sysmon", sha, "Event.EventData.Hashes"),
        ("cidr", "203.0.113.0/24", "destination.ip"),
        ("mail", "invoice@evil-mail.example", "email.from.address"),
        (
            "url",
            "http://evil-updates.example/payload.bin",
            "url.original",
        ),
        ("url", "evil-updates.example", "url.original"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c))
    .collect();
    assert_eq!(got, want);
    assert!(
        report.rejected >= 1,
        "the look-alike was a candidate: {report:?}"
    );
    assert_eq!(report.truncated_windows, 0);
    assert!(report.queries > 1);
    assert!(report.hits.iter().all(|h| h.tenant == "default"));

    // All tenants: the other tenant's event is found too.
    opts.tenant = None;
    let report = retro_hunt(&store, &indicators[..1], AllowList::default(), &opts).unwrap();
    let tenants: BTreeSet<&str> = report.hits.iter().map(|h| h.tenant.as_str()).collect();
    assert_eq!(tenants, BTreeSet::from(["acme", "default"]));
    assert_eq!(report.hits.len(), 3);

    // A short look-back leaves the older hits out.
    let mut short =
        RetroHuntOptions::new(Duration::from_secs(90 * 60), Some("default".into()), now);
    short.page_events = 1000;
    let report = retro_hunt(&store, &indicators, AllowList::default(), &short).unwrap();
    let labels: BTreeSet<String> = report.hits.iter().map(|h| load(h.event_id)).collect();
    assert_eq!(labels, BTreeSet::from(["ip".to_owned()]));

    // Expired indicators are not hunted.
    let mut old = ind(IndicatorKind::Ipv4, "198.51.100.23", now);
    old.valid_until = Some(Timestamp(now.0 - 1));
    let report = retro_hunt(&store, &[old], AllowList::default(), &opts).unwrap();
    assert!(report.hits.is_empty());
    assert_eq!(report.queries, 0);
    store.close().unwrap();
}
