//! Any body sent to the HTTP ingest endpoints (NDJSON, Splunk HEC event and raw,
//! Elasticsearch `_bulk`), plain or declared gzip: an answer with a reason, never a panic or
//! a 500, and
//! every accepted event encodable for the WAL.
#![no_main]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use rampart_ingest::http::{HttpIngestConfig, IngestToken};
use rampart_ingest::{AcceptFuture, EventSink, IngestMetrics};
use rampart_model::Event;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

#[derive(Default)]
struct CountingSink(AtomicUsize);

impl EventSink for CountingSink {
    fn accept(&self, events: Vec<Event>) -> AcceptFuture<'_> {
        for e in &events {
            serde_json::to_vec(e).expect("accepted event encodes");
        }
        self.0.fetch_add(events.len(), Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let sink = Arc::new(CountingSink::default());
        let config = HttpIngestConfig {
            max_body_bytes: 64 * 1024,
            max_decoded_bytes: 256 * 1024,
            tokens: vec![IngestToken {
                name: "fuzz".into(),
                token: "fuzz-token".into(),
                tenant: "default".into(),
            }],
            ..HttpIngestConfig::default()
        };
        let state = config
            .build(sink, Arc::new(IngestMetrics::default()))
            .expect("state");
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            app: rampart_ingest::http::router(state),
        }
    })
}

const ROUTES: &[(&str, &str)] = &[
    ("/api/v1/ingest/ndjson", "Bearer fuzz-token"),
    ("/services/collector/event", "Splunk fuzz-token"),
    (
        "/services/collector/raw?sourcetype=syslog&host=h1",
        "Splunk fuzz-token",
    ),
    ("/services/collector", "Splunk fuzz-token"),
    ("/_bulk", "ApiKey fuzz-token"),
    ("/logs-x/_bulk?pipeline=p", "Basic ZWxhc3RpYzpmdXp6LXRva2Vu"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let (uri, auth) = ROUTES[(selector & 0x0f) as usize % ROUTES.len()];
    let mut request = Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", auth)
        .header("content-type", "application/json");
    if selector & 0x10 != 0 {
        request = request.header("content-encoding", "gzip");
    }
    if selector & 0x20 != 0 {
        request = request.header(
            "x-splunk-request-channel",
            "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba",
        );
    }
    let request = request.body(Body::from(body.to_vec())).expect("request");
    let response = f
        .runtime
        .block_on(f.app.clone().oneshot(request))
        .expect("infallible");
    let status = response.status();
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "500 for {body:?}"
    );
    let text = f
        .runtime
        .block_on(axum::body::to_bytes(response.into_body(), 1 << 22))
        .expect("response body");
    if !status.is_success() {
        // A refused body is answered with a reason and stores nothing.
        assert!(!text.is_empty(), "{status} without a reason");
    }
});
