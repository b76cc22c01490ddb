//! The TAXII 2.1 client against a real server: OASIS's `medallion` on a loopback port
//! with a memory backend holding a collection written here. Skipped when medallion is
//! not installed, unless RAMPART_REQUIRE_TAXII=1 (CI installs it with .ci/install-taxii).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_intel::taxii::TAXII_MEDIA_TYPE;
use rampart_intel::{
    BasicAuth, DecayPolicy, FeedConfig, FeedSource, IndicatorKind, IntelStore, TaxiiClient,
};
use rampart_model::Timestamp;
use serde_json::json;
use std::time::{Duration, Instant};

#[path = "support/medallion.rs"]
mod medallion;
use medallion::{COLLECTION, indicator};

#[test]
fn taxii_collection_is_polled_with_pagination_and_incrementally() {
    if medallion::skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = medallion::free_port();
    let malware = json!({
        "type": "malware", "spec_version": "2.1",
        "id": "malware--00000000-0000-4000-8000-0000000000aa",
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
        "name": "TrickBot", "is_family": true
    });
    let rel = json!({
        "type": "relationship", "spec_version": "2.1",
        "id": "relationship--00000000-0000-4000-8000-0000000000bb",
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": "indicator--00000000-0000-4000-8000-000000000001",
        "target_ref": "malware--00000000-0000-4000-8000-0000000000aa"
    });
    let objects = vec![
        (malware, "2024-05-01T00:00:01.000000Z"),
        (rel, "2024-05-01T00:00:02.000000Z"),
        (
            indicator(1, "[ipv4-addr:value = '198.51.100.7']"),
            "2024-05-01T00:00:03.000000Z",
        ),
        (
            indicator(2, "[domain-name:value = 'taxii-evil.example']"),
            "2024-05-01T00:00:04.000000Z",
        ),
        (
            indicator(
                3,
                "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
            ),
            "2024-05-01T00:00:05.000000Z",
        ),
    ];
    let _guard = medallion::start(dir.path(), port, &objects, "s3cret-pass");

    let base = format!("http://127.0.0.1:{port}");
    let discovery_url = format!("{base}/taxii2/");
    let auth = BasicAuth::new("analyst", "s3cret-pass");
    let client = TaxiiClient::new(Some(&auth), Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(30);
    let discovery = loop {
        match client.discovery(&discovery_url) {
            Ok(d) => break d,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("medallion did not come up: {e}"),
        }
    };
    assert_eq!(discovery.title, "Rampart test TAXII server");
    assert_eq!(discovery.api_roots, vec![format!("{base}/api1/")]);
    let root = discovery.default.clone().unwrap();
    let cols = client.collections(&root).unwrap();
    assert_eq!(cols.len(), 1);
    assert_eq!((cols[0].id.as_str(), cols[0].can_read), (COLLECTION, true));
    assert_eq!(
        client
            .locate(&discovery_url, "Rampart test indicators")
            .unwrap(),
        (root.clone(), COLLECTION.to_owned())
    );

    // Five objects, two a page: three pages.
    let poll = client.poll(&root, COLLECTION, None).unwrap();
    assert_eq!(poll.objects.len(), 5);
    assert_eq!(poll.pages, 3);
    assert_eq!(
        poll.last_added.as_deref(),
        Some("2024-05-01T00:00:05.000000Z")
    );
    let partial = client
        .poll(&root, COLLECTION, Some("2024-05-01T00:00:03.000000Z"))
        .unwrap();
    assert_eq!(partial.objects.len(), 2);

    // Wrong credentials are a clear error.
    let wrong = TaxiiClient::new(
        Some(&BasicAuth::new("analyst", "nope")),
        Duration::from_secs(10),
    );
    let err = wrong.collections(&root).unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
    assert!(TAXII_MEDIA_TYPE.contains("version=2.1"));

    // Through the store: a TAXII feed, polled, then polled again incrementally.
    let store = IntelStore::open(&dir.path().join("intel.db"), DecayPolicy::default()).unwrap();
    store
        .put_feed(&FeedConfig {
            name: "medallion".into(),
            source: FeedSource::Taxii {
                url: discovery_url.clone(),
                collection: COLLECTION.into(),
                auth: Some(auth.clone()),
            },
            interval_secs: 3600,
            default_confidence: None,
            enabled: true,
        })
        .unwrap();
    let now = Timestamp::parse_rfc3339("2024-05-02T00:00:00Z").unwrap();
    let report = store.poll_feed("medallion", now).unwrap();
    assert_eq!(report.added, 3, "{report:?}");
    let mut got: Vec<(IndicatorKind, String)> = report
        .new_indicators
        .iter()
        .map(|i| (i.kind, i.value.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (IndicatorKind::Ipv4, "198.51.100.7".to_owned()),
            (IndicatorKind::Domain, "taxii-evil.example".to_owned()),
            (
                IndicatorKind::Sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned()
            ),
        ]
    );
    let ip = report
        .new_indicators
        .iter()
        .find(|i| i.kind == IndicatorKind::Ipv4)
        .unwrap();
    assert_eq!(ip.confidence, 80);
    assert_eq!(
        ip.references,
        vec![rampart_intel::Reference::Malware("TrickBot".into())]
    );
    assert_eq!(ip.source, "medallion");
    let status = store.feed("medallion").unwrap();
    assert_eq!(
        status
            .state
            .taxii_added_after
            .get(COLLECTION)
            .map(String::as_str),
        Some("2024-05-01T00:00:05.000000Z")
    );
    assert_eq!(store.due_feeds(now).unwrap(), Vec::<String>::new());
    let again = store.poll_feed("medallion", now).unwrap();
    assert_eq!((again.added, again.updated, again.unchanged), (0, 0, 0));
    assert_eq!(store.feed("medallion").unwrap().last_error, None);
}
