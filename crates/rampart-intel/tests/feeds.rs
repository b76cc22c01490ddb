//! Each feed format parsed from fixtures under tests/data, hostile variants, imports into
//! the store, and the scheduler polling a file feed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_intel::indicator::Reference;
use rampart_intel::{
    DecayPolicy, FeedConfig, FeedFormat, FeedPoller, FeedSource, Indicator, IndicatorFilter,
    IndicatorKind, IntelStore, ParseContext, PollEvent, parse_document,
};
use rampart_model::Timestamp;
use std::path::PathBuf;
use std::time::Duration;

fn data(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")).join(name)
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn now() -> Timestamp {
    ts("2024-06-01T00:00:00Z")
}

fn parse(format: FeedFormat, file: &str) -> rampart_intel::ParsedFeed {
    let bytes = std::fs::read(data(file)).unwrap();
    parse_document(format, &bytes, &ParseContext::new("test-feed", now())).unwrap()
}

fn kv(inds: &[Indicator]) -> Vec<(IndicatorKind, &str)> {
    inds.iter().map(|i| (i.kind, i.value.as_str())).collect()
}

fn find<'a>(inds: &'a [Indicator], value: &str) -> &'a Indicator {
    inds.iter()
        .find(|i| i.value == value)
        .unwrap_or_else(|| panic!("no indicator {value}"))
}

#[test]
fn stix_bundle_gives_indicators_with_context_and_counted_skips() {
    use IndicatorKind::*;
    let p = parse(FeedFormat::Stix, "stix_bundle.json");
    assert_eq!(
        kv(&p.indicators),
        vec![
            (Ipv4, "198.51.100.23"),
            (
                Sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            (Md5, "d41d8cd98f00b204e9800998ecf8427e"),
            (Domain, "evil-updates.example"),
            (Url, "http://evil-updates.example/payload.bin"),
            (Ipv6, "2001:db8::bad"),
            (Cidr, "203.0.113.0/24"),
            (Email, "invoice@evil-mail.example"),
        ]
    );
    let c2 = find(&p.indicators, "198.51.100.23");
    assert_eq!(c2.confidence, 85);
    assert_eq!(c2.first_seen, ts("2024-05-01T00:00:00Z"));
    assert_eq!(c2.last_seen, ts("2024-05-02T00:00:00Z"));
    assert_eq!(c2.valid_until, Some(ts("2030-01-01T00:00:00Z")));
    assert_eq!(
        c2.tags,
        vec![
            "c2",
            "malicious-activity",
            "mitre-attack:command-and-control"
        ]
    );
    assert_eq!(
        c2.references,
        vec![
            Reference::Malware("Cobalt Strike".into()),
            Reference::Attack("T1071.001".into())
        ]
    );
    assert_eq!(c2.source, "test-feed");
    assert_eq!(
        c2.external_id.as_deref(),
        Some("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
    );
    assert_eq!(c2.description.as_deref(), Some("Cobalt Strike team server"));
    let email = find(&p.indicators, "invoice@evil-mail.example");
    assert_eq!(
        email.references,
        vec![Reference::Attack("T1566.001".into())]
    );
    assert_eq!(email.confidence, 50);
    // AND, an unsupported object, a snort pattern, an invalid IP and a non-object.
    assert_eq!(p.skipped.count, 5, "{:?}", p.skipped);
    for reason in [
        "unsupported pattern keyword",
        "unsupported pattern object",
        "unsupported pattern_type",
        "invalid value in pattern",
        "not a JSON object",
    ] {
        assert_eq!(
            p.skipped.reasons.get(reason),
            Some(&1),
            "{reason}: {:?}",
            p.skipped
        );
    }
}

#[test]
fn misp_event_respects_to_ids_and_reads_galaxies() {
    use IndicatorKind::*;
    let p = parse(FeedFormat::MispEvent, "misp_event.json");
    assert_eq!(
        kv(&p.indicators),
        vec![
            (Ipv4, "192.0.2.55"),
            (Ipv4, "192.0.2.56"),
            (Domain, "emotet-c2.example"),
            (Domain, "drop.emotet-c2.example"),
            (Url, "https://emotet-c2.example/gate.php"),
            (Email, "billing@emotet-mail.example"),
            (Domain, "pay.emotet-c2.example"),
            (Ipv4, "198.51.100.77"),
            (
                Sha256,
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            ),
            (Sha1, "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
        ]
    );
    let d = find(&p.indicators, "emotet-c2.example");
    assert_eq!(d.confidence, 85, "threat level 1");
    assert_eq!(d.tags, vec!["tlp:amber", "c2"]);
    assert_eq!(
        d.references,
        vec![
            Reference::Attack("T1566.001".into()),
            Reference::Malware("Emotet".into()),
            Reference::Attack("T1071.001".into()),
        ]
    );
    assert_eq!(d.last_seen, Timestamp::from_secs(1_714_608_000));
    assert_eq!(d.first_seen, ts("2024-05-01T00:00:00Z"));
    assert_eq!(d.description.as_deref(), Some("Emotet campaign May 2024"));
    assert_eq!(
        d.external_id.as_deref(),
        Some("aaaaaaaa-0001-4000-8000-000000000003")
    );
    assert_eq!(p.skipped.reasons.get("to_ids is false"), Some(&3));
    assert_eq!(p.skipped.reasons.get("deleted attribute"), Some(&1));
    assert_eq!(p.skipped.reasons.get("invalid attribute value"), Some(&1));
    assert_eq!(p.skipped.count, 5);
}

#[test]
fn misp_feed_directory_reads_manifest_events_incrementally() {
    let ctx = ParseContext::new("misp-feed", now());
    let dir = data("misp-feed");
    let files = rampart_intel::misp::DirFeed(&dir);
    let (p, newest) = rampart_intel::misp::parse_feed(&files, &ctx, None).unwrap();
    let mut values: Vec<&str> = p.indicators.iter().map(|i| i.value.as_str()).collect();
    values.sort();
    assert_eq!(
        values,
        vec![
            "2001:db8:1::1",
            "203.0.113.0/25",
            "http://login-portal.example/auth",
            "security@login-portal.example"
        ]
    );
    assert_eq!(find(&p.indicators, "203.0.113.0/25").confidence, 40);
    assert_eq!(
        find(&p.indicators, "security@login-portal.example").tags,
        vec!["tlp:white"]
    );
    // A missing event file and a manifest key that is no uuid are skips, not errors.
    assert_eq!(p.skipped.reasons.get("event file unreadable"), Some(&1));
    assert_eq!(
        p.skipped.reasons.get("manifest key is not a uuid"),
        Some(&1)
    );
    assert_eq!(newest, Some(1_714_694_400));
    // Polling again from that timestamp reads nothing new.
    let (again, _) = rampart_intel::misp::parse_feed(&files, &ctx, newest).unwrap();
    assert!(again.indicators.is_empty());
}

#[test]
fn csv_with_header_types_guesses_and_reports_bad_rows() {
    use IndicatorKind::*;
    let p = parse(FeedFormat::Csv, "indicators.csv");
    assert_eq!(
        kv(&p.indicators),
        vec![
            (Ipv4, "198.51.100.10"),
            (Domain, "bad-domain.example"),
            (Url, "http://bad-domain.example/a,b"),
            (Md5, "44d88612fea8a8f36de82e1278abb02f"),
            (Cidr, "10.10.0.0/16"),
            (Url, "http://defanged.example/x"),
        ]
    );
    let ip = find(&p.indicators, "198.51.100.10");
    assert_eq!(ip.confidence, 90);
    assert_eq!(ip.tags, vec!["c2", "cobalt"]);
    assert_eq!(ip.first_seen, ts("2024-05-01T00:00:00Z"));
    assert_eq!(ip.last_seen, ts("2024-05-02T00:00:00Z"));
    assert_eq!(ip.valid_until, Some(ts("2030-01-01T00:00:00Z")));
    assert_eq!(ip.description.as_deref(), Some("Team server, port 443"));
    assert_eq!(
        ip.references,
        vec![
            Reference::Attack("T1071.001".into()),
            Reference::Malware("Cobalt Strike".into())
        ]
    );
    let dom = find(&p.indicators, "bad-domain.example");
    assert_eq!((dom.confidence, dom.last_seen), (60, now()));
    assert_eq!(p.skipped.reasons.get("invalid value"), Some(&1));
    assert_eq!(
        p.skipped.reasons.get("confidence is not a number 0-100"),
        Some(&1)
    );
    assert_eq!(p.skipped.reasons.get("unknown indicator type"), Some(&1));
    assert_eq!(p.skipped.reasons.get("empty value"), Some(&1));
    assert_eq!(p.skipped.count, 4);
    assert!(
        p.skipped
            .samples
            .iter()
            .any(|s| s.record == "line 9" && s.reason.starts_with("invalid value")),
        "{:?}",
        p.skipped.samples
    );
}

#[test]
fn plain_list_guesses_kinds_and_skips_junk() {
    use IndicatorKind::*;
    let p = parse(FeedFormat::Plain, "blocklist.txt");
    assert_eq!(
        kv(&p.indicators),
        vec![
            (Ipv4, "203.0.113.66"),
            (Cidr, "2001:db8:dead::/48"),
            (Domain, "evil-list.example"),
            (Url, "https://evil-list.example/dl.exe"),
            (
                Sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            (Email, "phish@evil-list.example"),
        ]
    );
    // "this" (first word of a prose line) and an invalid address.
    assert_eq!(p.skipped.count, 2, "{:?}", p.skipped);
    assert_eq!(p.skipped.samples[0].record, "line 10");
}

#[test]
fn hostile_input_gives_errors_or_skips_never_panics() {
    let ctx = ParseContext::new("hostile", now());
    // Truncated JSON documents are clear errors.
    for (format, file) in [
        (FeedFormat::Stix, "stix_truncated.json"),
        (FeedFormat::MispEvent, "misp_truncated.json"),
    ] {
        let err = parse_document(format, &std::fs::read(data(file)).unwrap(), &ctx).unwrap_err();
        assert!(err.to_string().starts_with("invalid json in"), "{err}");
    }
    // Deep nesting stops at serde_json's recursion limit.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_document(FeedFormat::Stix, deep.as_bytes(), &ctx).is_err());
    // Huge values are skipped with a reason.
    let huge = format!("{}.example\n", "a".repeat(5000));
    let p = parse_document(FeedFormat::Plain, huge.as_bytes(), &ctx).unwrap();
    assert_eq!(p.skipped.count, 1);
    assert!(
        p.skipped.samples[0].reason.contains("longer than 2048"),
        "{:?}",
        p.skipped
    );
    let pattern = format!(
        "{{\"type\":\"bundle\",\"objects\":[{{\"type\":\"indicator\",\"id\":\"indicator--x\",\"pattern\":\"[url:value = 'http://x.example/{}']\"}}]}}",
        "a".repeat(70_000)
    );
    let p = parse_document(FeedFormat::Stix, pattern.as_bytes(), &ctx).unwrap();
    assert_eq!(p.skipped.reasons.get("pattern too long"), Some(&1));
    // Bad patterns and wrong shapes are counted skips.
    let bad = br#"{"type":"bundle","objects":[
        {"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = '1.2.3.4'"},
        {"type":"indicator","id":"indicator--2","pattern":"[ipv4-addr:value = '1.2.3.4' \\"},
        {"type":"indicator","id":"indicator--3","pattern":42},
        {"type":"indicator","id":"indicator--4","pattern":"[ipv4-addr:value = '\\x']"},
        {"type":"indicator","id":"indicator--5","pattern":"[domain-name:value = 'b\u00fccher.de']"},
        {"type":"indicator","id":"indicator--6","confidence":"high","pattern":"[domain-name:value = 'ok.example']"}
    ]}"#;
    let p = parse_document(FeedFormat::Stix, bad, &ctx).unwrap();
    assert_eq!(p.indicators.len(), 1);
    assert_eq!(p.indicators[0].confidence, 50);
    assert_eq!(p.skipped.count, 5, "{:?}", p.skipped);
    // Wrong top-level shapes.
    for (format, doc) in [
        (FeedFormat::Stix, &b"42"[..]),
        (FeedFormat::Stix, br#"{"objects": {}}"#),
        (FeedFormat::MispEvent, br#"{"nothing": 1}"#),
        (FeedFormat::MispEvent, b"\"x\""),
        (FeedFormat::Csv, b"a,b,c\n1,2,3\n"),
        (FeedFormat::Csv, b""),
    ] {
        assert!(parse_document(format, doc, &ctx).is_err(), "{doc:?}");
    }
    // Binary garbage in a list is skipped line by line.
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let p = parse_document(FeedFormat::Plain, &garbage, &ctx).unwrap();
    assert!(p.indicators.is_empty());
}

#[test]
fn store_imports_each_format_and_builds_a_matcher() {
    let dir = tempfile::tempdir().unwrap();
    let store = IntelStore::open(&dir.path().join("intel.db"), DecayPolicy::default()).unwrap();
    let cases = [
        ("stix", FeedFormat::Stix, "stix_bundle.json", 8),
        ("misp", FeedFormat::MispEvent, "misp_event.json", 10),
        ("misp-feed", FeedFormat::MispFeed, "misp-feed", 4),
        ("csv", FeedFormat::Csv, "indicators.csv", 6),
        ("plain", FeedFormat::Plain, "blocklist.txt", 6),
    ];
    for (feed, format, file, added) in cases {
        let r = store.import_path(feed, format, &data(file), now()).unwrap();
        assert_eq!(r.added, added, "{feed}");
        assert_eq!(r.new_indicators.len() as u64, added, "{feed}");
        let again = store.import_path(feed, format, &data(file), now()).unwrap();
        assert_eq!((again.added, again.updated), (0, 0), "{feed} re-import");
    }
    assert_eq!(store.count().unwrap(), 34);
    let hashes = store
        .list(&IndicatorFilter {
            kind: Some(IndicatorKind::Sha256),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hashes.len(), 3);
    // On 2024-06-01 the IPs and networks last seen on or before 2024-05-02 without an
    // explicit expiry have passed their 30-day lifetime: three from the MISP event,
    // 2001:db8::bad and 203.0.113.0/24 from the STIX bundle.
    let m = store.matcher(now()).unwrap();
    assert_eq!((m.len(), m.stats().expired), (29, 5));
    assert_eq!(store.expire(now()).unwrap(), 5);
    assert_eq!(store.count().unwrap(), 29);
}

#[test]
fn poller_polls_a_file_feed_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "198.51.100.1\n").unwrap();
    let store = std::sync::Arc::new(
        IntelStore::open(&dir.path().join("intel.db"), DecayPolicy::default()).unwrap(),
    );
    store
        .put_feed(&FeedConfig {
            name: "local-list".into(),
            source: FeedSource::File {
                path: list.clone(),
                format: FeedFormat::Plain,
            },
            interval_secs: 0,
            default_confidence: Some(70),
            enabled: true,
        })
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let poller = FeedPoller::start(
        std::sync::Arc::clone(&store),
        Duration::from_millis(50),
        move |_s, ev| {
            if let PollEvent::Polled { report, .. } = ev {
                let _ = tx.send(report.new_indicators);
            }
        },
    );
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].confidence, 70);
    std::fs::write(&list, "198.51.100.1\n198.51.100.2\n").unwrap();
    poller.wake();
    // Later polls report only what is new or changed.
    let changed = loop {
        let c = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        if c.iter().any(|i| i.value == "198.51.100.2") {
            break c;
        }
    };
    assert!(changed.iter().any(|i| i.value == "198.51.100.2"));
    poller.stop();
    let status = store.feed("local-list").unwrap();
    assert!(status.last_success.is_some());
    assert_eq!(status.indicators, 2);
    assert_eq!(status.last_error, None);
    // A feed whose file is gone records the error.
    std::fs::remove_file(&list).unwrap();
    assert!(store.poll_feed("local-list", Timestamp::now()).is_err());
    let status = store.feed("local-list").unwrap();
    assert!(status.last_error.unwrap().contains("list.txt"));
}
