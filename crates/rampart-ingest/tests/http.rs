//! HTTP ingest through a real listener: NDJSON, Splunk HEC, Elasticsearch bulk and probes,
//! gzip, body limits and sink overload, with a hyper client and curl.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{TestSink, have};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rampart_ingest::IngestMetrics;
use rampart_ingest::http::{self, HttpIngestConfig, IngestToken};
use rampart_model::{OriginKind, Raw};
use serde_json::{Value, json};
use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "s3cret-token";

fn config() -> HttpIngestConfig {
    HttpIngestConfig {
        tokens: vec![
            IngestToken {
                name: "shipper".into(),
                token: TOKEN.into(),
                tenant: "acme".into(),
            },
            IngestToken {
                name: "other".into(),
                token: "another-token".into(),
                tenant: "globex".into(),
            },
        ],
        ..Default::default()
    }
}

async fn server(sink: Arc<TestSink>) -> (SocketAddr, Arc<IngestMetrics>) {
    let metrics = IngestMetrics::new();
    let state = config().build(sink, metrics.clone()).unwrap();
    let app = http::router(state).merge(http::es_compat_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (addr, metrics)
}

struct Reply {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not json ({e}): {}", self.body))
    }
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn splunk() -> String {
    format!("Splunk {TOKEN}")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

// ---------------------------------------------------------------- NDJSON

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_keeps_a_broken_line_and_the_rest() {
    let sink = TestSink::new();
    let (addr, metrics) = server(sink.clone()).await;
    let body = "{\"message\":\"first\",\"user\":{\"name\":\"bob\"}}\nnot json at all\n\n{\"message\":\"third\"}";
    let auth = bearer();
    let r = request(
        addr,
        "POST",
        "/api/v1/ingest/ndjson",
        &[("authorization", &auth)],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"accepted": 3, "parse_errors": 1}));
    let events = sink.events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].get_str("user.name").as_deref(), Some("bob"));
    assert_eq!(events[1].raw, Raw::Text("not json at all".into()));
    assert!(events[1].parse_error.is_some());
    assert_eq!(events[2].get_str("message").as_deref(), Some("third"));
    for e in &events {
        assert_eq!(e.tenant, "acme");
        assert_eq!(e.origin.kind, OriginKind::HttpNdjson);
        assert!(e.origin.peer.is_some(), "peer address recorded");
    }
    let snap = metrics.snapshot();
    assert_eq!(snap.listeners["http-ndjson"].events_in, 3);
    assert_eq!(snap.listeners["http-ndjson"].parse_errors, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_refuses_missing_and_wrong_tokens() {
    let sink = TestSink::new();
    let (addr, metrics) = server(sink.clone()).await;
    let path = "/api/v1/ingest/ndjson";
    let r = request(addr, "POST", path, &[], "{}").await;
    assert_eq!(r.status, 401);
    let r = request(
        addr,
        "POST",
        path,
        &[("authorization", "Bearer nope")],
        "{}",
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(!r.body.contains("nope"), "the token is not echoed");
    // The other token maps to its own tenant.
    let r = request(
        addr,
        "POST",
        path,
        &[("authorization", "Bearer another-token")],
        "{\"a\":1}",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(sink.events()[0].tenant, "globex");
    assert_eq!(metrics.totals().rejected, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_with_curl_plain_and_gzip() {
    if !have("curl", "ndjson_with_curl_plain_and_gzip") {
        return;
    }
    let sink = TestSink::new();
    let (addr, _) = server(sink.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("batch.ndjson");
    let lines: String = (0..100)
        .map(|i| format!("{{\"message\":\"line {i}\"}}\n"))
        .collect();
    std::fs::write(&plain, &lines).unwrap();
    let gz = dir.path().join("batch.ndjson.gz");
    std::fs::write(&gz, gzip(lines.as_bytes())).unwrap();
    let url = format!("http://{addr}/api/v1/ingest/ndjson");
    for (file, extra) in [(&plain, None), (&gz, Some("Content-Encoding: gzip"))] {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-w", "\n%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {TOKEN}"))
            .arg("-H")
            .arg("Content-Type: application/x-ndjson");
        if let Some(h) = extra {
            cmd.args(["-H", h]);
        }
        cmd.arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(&url);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.ends_with("\n200"), "curl said: {text}");
        assert!(
            text.starts_with("{\"accepted\":100,\"parse_errors\":0}"),
            "{text}"
        );
    }
    let texts = sink.texts();
    assert_eq!(texts.len(), 200);
    assert_eq!(texts[199], "{\"message\":\"line 99\"}");
}

// ---------------------------------------------------------------- HEC

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_events_with_metadata() {
    let sink = TestSink::new();
    let (addr, _) = server(sink.clone()).await;
    let body = concat!(
        r#"{"event":"Oct 11 22:14:15 web1 sshd[42]: Failed password for root from 10.0.0.1 port 22 ssh2","time":1700000000.5,"host":"web1","source":"/var/log/auth.log","sourcetype":"linux_secure","index":"main"}"#,
        "\n  ",
        r#"{"event":{"action":"login","user":"bob"},"fields":{"env":"prod"},"time":"1700000001"}"#
    );
    let auth = splunk();
    let r = request(
        addr,
        "POST",
        "/services/collector/event",
        &[("authorization", &auth)],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"text": "Success", "code": 0}));
    let events = sink.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].timestamp.nanos(), 1_700_000_000_500_000_000);
    assert_eq!(events[0].get_str("host.name").as_deref(), Some("web1"));
    assert_eq!(
        events[0].get_str("hec.sourcetype").as_deref(),
        Some("linux_secure")
    );
    assert_eq!(events[0].get_str("hec.index").as_deref(), Some("main"));
    assert_eq!(events[0].origin.kind, OriginKind::HttpHec);
    assert_eq!(events[1].get_str("action").as_deref(), Some("login"));
    assert_eq!(events[1].get_str("env").as_deref(), Some("prod"));
    assert_eq!(events[1].timestamp.nanos(), 1_700_000_001_000_000_000);
    assert!(events.iter().all(|e| e.tenant == "acme"));

    // `/services/collector` is the same endpoint.
    let r = request(
        addr,
        "POST",
        "/services/collector",
        &[("authorization", &auth)],
        r#"{"event":"x"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_error_codes_match_splunk() {
    let sink = TestSink::new();
    let (addr, _) = server(sink.clone()).await;
    let path = "/services/collector/event";
    let auth = splunk();
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, u16, Value);
    let cases: Vec<Case> = vec![
        (
            vec![],
            r#"{"event":"x"}"#,
            401,
            json!({"text":"Token is required","code":2}),
        ),
        (
            vec![("authorization", "Splunk wrong")],
            r#"{"event":"x"}"#,
            403,
            json!({"text":"Invalid token","code":4}),
        ),
        (
            vec![("authorization", "Token abc")],
            r#"{"event":"x"}"#,
            401,
            json!({"text":"Invalid authorization","code":3}),
        ),
        (
            vec![("authorization", &auth)],
            "",
            400,
            json!({"text":"No data","code":5}),
        ),
        (
            vec![("authorization", &auth)],
            " \n ",
            400,
            json!({"text":"No data","code":5}),
        ),
        (
            vec![("authorization", &auth)],
            r#"{"event":"kept"}{"event":"#,
            400,
            json!({"text":"Invalid data format","code":6,"invalid-event-number":1}),
        ),
        (
            vec![("authorization", &auth)],
            r#"{"time":1}"#,
            400,
            json!({"text":"Event field is required","code":12,"invalid-event-number":0}),
        ),
        (
            vec![("authorization", &auth)],
            r#"{"event":""}"#,
            400,
            json!({"text":"Event field cannot be blank","code":13,"invalid-event-number":0}),
        ),
    ];
    for (headers, body, status, expected) in cases {
        let r = request(addr, "POST", path, &headers, body.to_owned()).await;
        assert_eq!(
            (r.status, r.json()),
            (status, expected.clone()),
            "body {body:?}"
        );
    }
    // Events before the invalid one were kept, as Splunk does.
    assert_eq!(sink.texts(), ["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_raw_health_and_gzip() {
    let sink = TestSink::new();
    let (addr, _) = server(sink.clone()).await;
    let auth = splunk();
    let body = "<13>Oct 11 22:14:15 host app: raw one\n<13>Oct 11 22:14:15 host app: raw two\n";
    let r = request(
        addr,
        "POST",
        "/services/collector/raw?host=h1&sourcetype=syslog",
        &[("authorization", &auth), ("content-encoding", "gzip")],
        gzip(body.as_bytes()),
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"text":"Success","code":0}))
    );
    let events = sink.events();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1].raw.as_text(),
        "<13>Oct 11 22:14:15 host app: raw two"
    );
    assert_eq!(
        events[0].get_str("hec.sourcetype").as_deref(),
        Some("syslog")
    );
    assert_eq!(
        events[0].get_str("host.name").as_deref(),
        Some("host"),
        "the record's own host wins"
    );

    let r = request(addr, "GET", "/services/collector/health", &[], "").await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"text":"HEC is healthy","code":17}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_indexer_acknowledgement_flow() {
    let sink = TestSink::new();
    let (addr, _) = server(sink.clone()).await;
    let auth = splunk();
    let channel = "11111111-2222-3333-4444-555555555555";
    let headers = [
        ("authorization", auth.as_str()),
        ("x-splunk-request-channel", channel),
    ];
    for expected in 0..2 {
        let r = request(
            addr,
            "POST",
            "/services/collector/event",
            &headers,
            r#"{"event":"acked"}"#,
        )
        .await;
        assert_eq!(
            r.json(),
            json!({"text":"Success","code":0,"ackId":expected})
        );
    }
    let r = request(
        addr,
        "POST",
        "/services/collector/ack",
        &headers,
        r#"{"acks":[0,1,7]}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"acks":{"0":true,"1":true,"7":false}}))
    );
    // Another token does not see this channel's ids.
    let r = request(
        addr,
        "POST",
        &format!("/services/collector/ack?channel={channel}"),
        &[("authorization", "Splunk another-token")],
        r#"{"acks":[0]}"#,
    )
    .await;
    assert_eq!(r.json(), json!({"acks":{"0":false}}));
    let r = request(
        addr,
        "POST",
        "/services/collector/ack",
        &[("authorization", &auth)],
        r#"{"acks":[0]}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"text":"Data channel is missing","code":10}))
    );
    let r = request(
        addr,
        "POST",
        "/services/collector/ack",
        &headers,
        "{\"acks\":\"x\"}",
    )
    .await;
    assert_eq!(r.json()["code"], 6);
    assert_eq!(sink.len(), 2);
}

// ---------------------------------------------------------------- Elasticsearch

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_with_mixed_actions() {
    let sink = TestSink::new();
    let (addr, _) = server(sink.clone()).await;
    let body = concat!(
        r#"{"index":{"_index":"logs-app","_id":"doc-1"}}"#,
        "\n",
        r#"{"@timestamp":"2024-03-01T10:00:00Z","message":"indexed","host":{"name":"h1"}}"#,
        "\n",
        r#"{"create":{}}"#,
        "\n",
        r#"{"message":"created"}"#,
        "\n",
        r#"{"delete":{"_index":"logs-app","_id":"doc-1"}}"#,
        "\n",
        r#"{"update":{"_id":"doc-2"}}"#,
        "\n",
        r#"{"doc":{"message":"changed"}}"#,
        "\n",
        r#"{"index":{}}"#,
        "\n",
        "this source is not json\n",
    );
    // Basic auth: any user, the token as password (base64 of "elastic:s3cret-token").
    let basic = "Basic ZWxhc3RpYzpzM2NyZXQtdG9rZW4=";
    let r = request(
        addr,
        "POST",
        "/filebeat-8/_bulk",
        &[
            ("authorization", basic),
            ("content-type", "application/x-ndjson"),
        ],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["x-elastic-product"], "Elasticsearch");
    let v = r.json();
    assert_eq!(v["errors"], true);
    let items = v["items"].as_array().unwrap();
    let summary: Vec<(String, u64)> = items
        .iter()
        .map(|item| {
            let (action, result) = item.as_object().unwrap().iter().next().unwrap();
            (action.clone(), result["status"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("index".to_string(), 201),
            ("create".to_string(), 201),
            ("delete".to_string(), 400),
            ("update".to_string(), 400),
            ("index".to_string(), 201)
        ]
    );
    assert_eq!(items[0]["index"]["_id"], "doc-1");
    assert_eq!(items[0]["index"]["_index"], "logs-app");
    assert_eq!(items[1]["create"]["_index"], "filebeat-8");
    let events = sink.events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].get_str("host.name").as_deref(), Some("h1"));
    assert_eq!(events[0].get_str("bulk.index").as_deref(), Some("logs-app"));
    assert_eq!(events[0].get_str("bulk.id").as_deref(), Some("doc-1"));
    assert_eq!(events[0].timestamp.to_rfc3339(), "2024-03-01T10:00:00Z");
    assert_eq!(
        events[1].get_str("bulk.index").as_deref(),
        Some("filebeat-8")
    );
    assert!(events[2].parse_error.is_some(), "non-JSON source kept raw");
    assert_eq!(events[2].origin.kind, OriginKind::HttpBulk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_auth_schemes_gzip_and_malformed_requests() {
    let sink = TestSink::new();
    let (addr, _) = server(sink.clone()).await;
    let body = "{\"create\":{}}\n{\"message\":\"gz\"}\n";
    let r = request(addr, "POST", "/_bulk", &[], body).await;
    assert_eq!(r.status, 401);
    assert!(r.headers.contains_key("www-authenticate"));
    assert_eq!(r.json()["error"]["type"], "security_exception");
    let apikey = format!("ApiKey {TOKEN}");
    let r = request(
        addr,
        "POST",
        "/_bulk",
        &[("authorization", &apikey), ("content-encoding", "gzip")],
        gzip(body.as_bytes()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["errors"], false);
    let auth = bearer();
    for bad in [
        "not json\n{}\n",
        "{\"explode\":{}}\n{}\n",
        "{\"index\":{}}\n",
    ] {
        let r = request(addr, "POST", "/_bulk", &[("authorization", &auth)], bad).await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
        assert!(r.json()["error"]["reason"].is_string());
    }
    assert_eq!(sink.texts(), ["{\"message\":\"gz\"}"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_discovery_probes() {
    let sink = TestSink::new();
    let (addr, _) = server(sink.clone()).await;
    let r = request(addr, "GET", "/", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["x-elastic-product"], "Elasticsearch");
    let v = r.json();
    assert_eq!(v["version"]["number"], "8.11.0");
    assert_eq!(v["tagline"], "You Know, for Search");
    let r = request(addr, "HEAD", "/", &[], "").await;
    assert_eq!(r.status, 200);
    let r = request(addr, "GET", "/_license", &[], "").await;
    assert_eq!(r.json()["license"]["status"], "active");
    for (method, path) in [
        ("HEAD", "/_index_template/filebeat-8.11.0"),
        ("PUT", "/_index_template/filebeat-8.11.0"),
        ("GET", "/_ilm/policy/logstash-policy"),
        ("PUT", "/_ilm/policy/logstash-policy"),
        ("GET", "/_template/logstash"),
        ("PUT", "/_ingest/pipeline/p1"),
        ("GET", "/_xpack"),
        ("GET", "/_cluster/health"),
    ] {
        let r = request(addr, method, path, &[], "{}").await;
        assert_eq!(r.status, 200, "{method} {path}");
    }
    let r = request(addr, "GET", "/_ilm/policy/logstash-policy", &[], "").await;
    assert!(r.json()["logstash-policy"]["policy"].is_object());
    assert_eq!(sink.len(), 0);
}

// ---------------------------------------------------------------- limits and overload

/// Stream `total` bytes with chunked encoding; return the status line the server sent.
async fn stream_chunked(addr: SocketAddr, path: &str, auth: &str, total: usize) -> String {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nauthorization: {auth}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            wr.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            wr.write_all(&chunk).await?;
            wr.write_all(b"\r\n").await?;
            sent += chunk.len();
        }
        wr.write_all(b"0\r\n\r\n").await?;
        Ok::<usize, std::io::Error>(sent)
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
            if response.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no response to the oversized body");
    writer.abort();
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_and_the_server_stays_healthy() {
    let sink = TestSink::new();
    let (addr, metrics) = server(sink.clone()).await;
    let auth = bearer();
    let status = stream_chunked(addr, "/api/v1/ingest/ndjson", &auth, 20 << 20).await;
    assert!(
        status.starts_with("HTTP/1.1 413"),
        "status line: {status:?}"
    );

    // A declared length over the limit is refused before reading (curl sends Content-Length).
    if have("curl", "oversized_bodies_get_413 (curl part)") {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.ndjson");
        let line = "{\"message\":\"padding padding padding padding padding padding\"}\n";
        std::fs::write(&big, line.repeat((20 << 20) / line.len() + 1)).unwrap();
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg(format!("Authorization: Splunk {TOKEN}"))
            .arg("--data-binary")
            .arg(format!("@{}", big.display()))
            .arg(format!("http://{addr}/services/collector/raw"));
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "413", "{out:?}");
    }
    let r = request(addr, "GET", "/services/collector/health", &[], "").await;
    assert_eq!(r.status, 200, "healthy after refusing big bodies");
    let r = request(
        addr,
        "POST",
        "/api/v1/ingest/ndjson",
        &[("authorization", &auth)],
        "{\"ok\":1}",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(sink.len(), 1);
    assert!(metrics.totals().rejected >= 1);
    let r = request(
        addr,
        "POST",
        "/api/v1/ingest/ndjson",
        &[("authorization", &auth), ("content-length", "999999999")],
        "",
    )
    .await;
    assert_eq!(r.status, 413);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("exceeds the limit of 16777216 bytes")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overloaded_sink_gives_503_with_retry_after() {
    let sink = TestSink::new();
    sink.set_overloaded(true);
    let (addr, metrics) = server(sink.clone()).await;
    let (b, s) = (bearer(), splunk());
    let cases = [
        ("/api/v1/ingest/ndjson", b.as_str(), "{\"a\":1}\n"),
        ("/services/collector/event", s.as_str(), "{\"event\":\"x\"}"),
        ("/_bulk", b.as_str(), "{\"create\":{}}\n{\"a\":1}\n"),
    ];
    for (path, auth, body) in cases {
        let r = request(addr, "POST", path, &[("authorization", auth)], body).await;
        assert_eq!(r.status, 503, "{path}: {}", r.body);
        assert_eq!(r.headers["retry-after"], "5", "{path}");
    }
    let r = request(
        addr,
        "POST",
        "/services/collector/event",
        &[("authorization", &s)],
        "{\"event\":\"x\"}",
    )
    .await;
    assert_eq!(r.json(), json!({"text":"Server is busy","code":9}));
    assert_eq!(metrics.totals().overloaded, 4);
    assert_eq!(sink.len(), 0);
}
