//! The intel service against a real embedded event store: retro-hunt on import, live
//! matching on the durable stream, allow-list, expiry, and redelivery after a failed sink.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use parking_lot::Mutex;
use rampart_intel::{
    AllowEntry, FeedFormat, IntelConfig, IntelService, IntelSighting, SightingFilter, SightingKind,
    SightingSink,
};
use rampart_model::{Event, Origin, OriginKind, Raw, Timestamp};
use rampart_store::{EmbeddedStore, EmbeddedStoreConfig, EventStore};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn event(label: &str, fields: Value) -> Event {
    let mut e = Event::new(
        Origin::new(OriginKind::Import, "test"),
        Raw::Text(format!("event {label}")),
    );
    e.timestamp = Timestamp(Timestamp::now().0 - 3_600_000_000_000);
    if let Value::Object(m) = fields {
        e.fields = m;
    }
    e.set("label", label);
    e.set("host.name", "ws-01");
    e
}

fn bundle() -> String {
    let ind = |n: u32, pattern: &str, extra: Value| {
        let mut o = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-00000000000{n}"),
            "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2024-05-01T00:00:00Z",
            "confidence": 85, "valid_until": "2099-01-01T00:00:00Z"
        });
        if let (Value::Object(o), Value::Object(e)) = (&mut o, extra) {
            o.extend(e);
        }
        o
    };
    json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": [
        ind(1, "[ipv4-addr:value = '198.51.100.23']", json!({"external_references":
            [{"source_name": "mitre-attack", "external_id": "T1071.001"}]})),
        ind(2, "[domain-name:value = 'evil-updates.example']", json!({"confidence": 60})),
        ind(3, &format!("[file:hashes.'SHA-256' = '{SHA}']"), json!({})),
        ind(4, "[ipv4-addr:value = '203.0.113.77']",
            json!({"valid_until": "2024-06-01T00:00:00Z"})),
    ]})
    .to_string()
}

type Seen = Arc<Mutex<Vec<IntelSighting>>>;

fn sink(seen: &Seen, fail_once: Option<Arc<AtomicBool>>) -> SightingSink {
    let seen = Arc::clone(seen);
    Arc::new(move |batch: Vec<IntelSighting>| {
        if let Some(f) = &fail_once
            && f.swap(false, Ordering::SeqCst)
        {
            panic!("sink failure for the test");
        }
        seen.lock().extend(batch);
    })
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn labels(seen: &Seen, kind: SightingKind) -> Vec<String> {
    let mut v: Vec<String> = seen
        .lock()
        .iter()
        .filter(|s| s.kind == kind)
        .map(|s| {
            let label = s
                .event
                .as_ref()
                .and_then(|e| e.get_str("label"))
                .unwrap_or_default();
            format!("{label}:{}", s.indicator.value)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn retro_and_live_sightings_reach_the_sink_once() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(
        EmbeddedStore::open(
            &dir.path().join("store"),
            EmbeddedStoreConfig {
                commit_interval: Duration::from_millis(200),
                writer_memory_bytes: 20 * 1024 * 1024,
                fsync: false,
                ..EmbeddedStoreConfig::default()
            },
        )
        .unwrap(),
    );
    let hash_field = json!({"Event": {"EventData": {
        "Hashes": format!("MD5=00000000000000000000000000000000,SHA256={}", SHA.to_uppercase())}}});
    store
        .append(vec![
            event("old-ip", json!({"source": {"ip": "198.51.100.23"}})),
            event(
                "old-dns",
                json!({"dns": {"question": {"name": "cdn.evil-updates.example"}}}),
            ),
            event("old-hash", hash_field.clone()),
            event("old-expired", json!({"source": {"ip": "203.0.113.77"}})),
            event("old-benign", json!({"source": {"ip": "192.0.2.50"}})),
        ])
        .unwrap();
    let config = IntelConfig {
        poll_tick: "1s".into(),
        ..IntelConfig::default()
    };
    let seen: Seen = Arc::default();
    let svc = IntelService::start(store.clone(), dir.path(), &config, sink(&seen, None)).unwrap();

    // Import: the three stored events are found by the retro-hunt; the expired indicator
    // is stored but neither hunted nor matched.
    let outcome = svc
        .import("stix-test", FeedFormat::Stix, bundle().as_bytes())
        .unwrap();
    assert_eq!(outcome.import.added, 4, "{:?}", outcome.import);
    assert_eq!(outcome.retro.sightings, 3, "{:?}", outcome.retro);
    assert_eq!(
        labels(&seen, SightingKind::Retro),
        [
            "old-dns:evil-updates.example",
            "old-hash:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "old-ip:198.51.100.23"
        ]
    );
    let ip = seen
        .lock()
        .iter()
        .find(|s| s.value == "198.51.100.23")
        .cloned()
        .unwrap();
    assert_eq!(ip.attack_techniques().collect::<Vec<_>>(), ["T1071.001"]);
    assert_eq!(
        (ip.field.as_str(), ip.indicator.source.as_str()),
        ("source.ip", "stix-test")
    );
    assert_eq!(svc.matcher().load().len(), 3);

    // Live: new events with the same values.
    store
        .append(vec![
            event("new-ip", json!({"destination": {"ip": "198.51.100.23"}})),
            event(
                "new-dns",
                json!({"url": {"full": "https://a.b.evil-updates.example/x"}}),
            ),
            event("new-hash", hash_field),
            event(
                "new-expired",
                json!({"destination": {"ip": "203.0.113.77"}}),
            ),
        ])
        .unwrap();
    wait_for("three live sightings", || {
        labels(&seen, SightingKind::Live).len() >= 3
    });
    assert_eq!(
        labels(&seen, SightingKind::Live),
        [
            "new-dns:evil-updates.example",
            "new-hash:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "new-ip:198.51.100.23"
        ]
    );

    // Allow-listed: the domain no longer matches; the IP in the same batch still does.
    svc.allow(
        &AllowEntry::guessed(
            "evil-updates.example",
            "sinkholed",
            "test",
            Timestamp::now(),
        )
        .unwrap(),
    )
    .unwrap();
    store
        .append(vec![
            event(
                "allowed-dns",
                json!({"dns": {"question": {"name": "evil-updates.example"}}}),
            ),
            event("later-ip", json!({"source": {"ip": "198.51.100.23"}})),
        ])
        .unwrap();
    wait_for("the later IP", || {
        labels(&seen, SightingKind::Live)
            .iter()
            .any(|l| l.starts_with("later-ip"))
    });
    wait_for("the batch committed", || svc.status().lag_events == 0);
    assert!(
        !labels(&seen, SightingKind::Live)
            .iter()
            .any(|l| l.starts_with("allowed"))
    );
    let status = svc.status();
    assert_eq!((status.sightings.live, status.sightings.retro), (4, 3));
    assert_eq!((status.matcher.indicators, status.matcher.allowed), (2, 1));
    // The expiry sweep purges the expired indicator.
    wait_for("the expired indicator purged", || {
        svc.status().indicators == 3
    });
    svc.stop();
    drop(svc);

    // A sink that fails leaves its sightings undelivered; the next start hands them over.
    let fail = Arc::new(AtomicBool::new(true));
    let svc = IntelService::start(
        store.clone(),
        dir.path(),
        &config,
        sink(&seen, Some(fail.clone())),
    )
    .unwrap();
    store
        .append(vec![event(
            "crash-ip",
            json!({"source": {"ip": "198.51.100.23"}}),
        )])
        .unwrap();
    wait_for("the failed delivery", || !fail.load(Ordering::SeqCst));
    wait_for("recorded", || svc.status().sightings.undelivered == 1);
    svc.stop();
    drop(svc);
    let before = seen.lock().len();
    let svc = IntelService::start(store.clone(), dir.path(), &config, sink(&seen, None)).unwrap();
    wait_for("redelivered", || seen.lock().len() == before + 1);
    let last = seen.lock().last().cloned().unwrap();
    assert_eq!(last.value, "198.51.100.23");
    assert!(
        last.event.is_none()
            || last
                .event
                .as_ref()
                .is_some_and(|e| e.get_str("label").as_deref() == Some("crash-ip"))
    );
    wait_for("marked delivered", || {
        svc.status().sightings.undelivered == 0
    });
    // Nothing recorded twice across the restarts.
    let all = svc
        .sightings(&SightingFilter {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), 8, "{all:#?}");
    svc.stop();
    store.close().unwrap();
}
