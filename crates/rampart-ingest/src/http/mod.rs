//! HTTP ingest: NDJSON, Splunk HEC and the Elasticsearch bulk API as axum routers, with
//! token authentication, a body size limit, gzip bodies, and answers only after the sink
//! acknowledged.

mod bulk;
mod es;
mod hec;
mod ndjson;

pub use es::es_compat_router;

use crate::config::default_tenant;
use crate::metrics::ListenerMetrics;
use crate::{EventSink, IngestError, IngestMetrics, SinkError, build_parser};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use rampart_model::{Event, Origin, OriginKind};
use rampart_parse::{Format, Parser};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// One ingest token: who may send, and the tenant their events belong to.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestToken {
    /// A label for logs and metrics; never the secret.
    pub name: String,
    /// The secret. Printed configurations show `<redacted>`.
    #[serde(serialize_with = "redacted")]
    pub token: String,
    #[serde(default = "default_tenant")]
    pub tenant: String,
}

fn redacted<S: serde::Serializer>(_: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("<redacted>")
}

impl std::fmt::Debug for IngestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestToken")
            .field("name", &self.name)
            .field("token", &"<redacted>")
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// The configured ingest tokens. Lookups compare every token in constant time.
#[derive(Debug, Clone, Default)]
pub struct IngestTokens {
    tokens: Vec<IngestToken>,
}

impl IngestTokens {
    pub fn new(tokens: Vec<IngestToken>) -> Self {
        IngestTokens {
            tokens: tokens.into_iter().filter(|t| !t.token.is_empty()).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token entry whose secret equals `presented`. Every configured token is
    /// compared, without stopping early, so timing does not tell which one matched.
    pub fn verify(&self, presented: &str) -> Option<&IngestToken> {
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.token.as_bytes().ct_eq(presented.as_bytes())) && found.is_none() {
                found = Some(t);
            }
        }
        found
    }
}

fn default_max_body() -> usize {
    16 << 20
}
fn default_max_decoded() -> usize {
    128 << 20
}
fn default_json() -> Format {
    Format::Json
}

/// `[ingest.http]`: the HTTP ingest endpoints' settings and tokens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpIngestConfig {
    /// Largest request body as sent (compressed or not); larger bodies get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression; larger bodies get 413.
    #[serde(default = "default_max_decoded")]
    pub max_decoded_bytes: usize,
    /// Format of NDJSON lines (non-JSON lines are kept raw with a parse error).
    #[serde(default = "default_json")]
    pub ndjson_format: Format,
    /// Format of HEC events given as strings and of `/services/collector/raw` lines.
    #[serde(default)]
    pub hec_format: Format,
    /// Format of bulk source documents.
    #[serde(default = "default_json")]
    pub bulk_format: Format,
    #[serde(default)]
    pub timezone: Option<String>,
    /// Most HEC acknowledgement channels remembered at once.
    #[serde(default = "default_ack_channels")]
    pub hec_ack_channels: usize,
    #[serde(default)]
    pub tokens: Vec<IngestToken>,
}

fn default_ack_channels() -> usize {
    10_000
}

impl Default for HttpIngestConfig {
    fn default() -> Self {
        HttpIngestConfig {
            max_body_bytes: default_max_body(),
            max_decoded_bytes: default_max_decoded(),
            ndjson_format: Format::Json,
            hec_format: Format::Auto,
            bulk_format: Format::Json,
            timezone: None,
            hec_ack_channels: default_ack_channels(),
            tokens: Vec::new(),
        }
    }
}

impl HttpIngestConfig {
    /// Build the state shared by the HTTP ingest routes, with this section's tokens.
    pub fn build(
        &self,
        sink: Arc<dyn EventSink>,
        metrics: Arc<IngestMetrics>,
    ) -> Result<HttpIngestState, IngestError> {
        HttpIngestState::new(
            sink,
            metrics,
            Arc::new(IngestTokens::new(self.tokens.clone())),
            self,
        )
    }
}

/// The parsers of the HTTP endpoints.
#[derive(Debug)]
pub struct HttpParsers {
    pub ndjson: Parser,
    pub hec: Parser,
    pub bulk: Parser,
    /// JSON, for HEC events sent as objects.
    pub json: Parser,
}

/// State of the HTTP ingest routes. Cheap to clone.
#[derive(Clone)]
pub struct HttpIngestState {
    pub sink: Arc<dyn EventSink>,
    pub metrics: Arc<IngestMetrics>,
    pub tokens: Arc<IngestTokens>,
    pub max_body_bytes: usize,
    pub max_decoded_bytes: usize,
    pub parsers: Arc<HttpParsers>,
    acks: Arc<hec::AckChannels>,
    ndjson_metrics: ListenerMetrics,
    hec_metrics: ListenerMetrics,
    bulk_metrics: ListenerMetrics,
}

/// Listener names of the HTTP endpoints, in metrics and in event origins.
pub const NDJSON_LISTENER: &str = "http-ndjson";
pub const HEC_LISTENER: &str = "http-hec";
pub const BULK_LISTENER: &str = "http-bulk";

impl HttpIngestState {
    pub fn new(
        sink: Arc<dyn EventSink>,
        metrics: Arc<IngestMetrics>,
        tokens: Arc<IngestTokens>,
        config: &HttpIngestConfig,
    ) -> Result<Self, IngestError> {
        let tz = config.timezone.as_deref();
        let parsers = HttpParsers {
            ndjson: build_parser(NDJSON_LISTENER, config.ndjson_format, tz)?,
            hec: build_parser(HEC_LISTENER, config.hec_format, tz)?,
            bulk: build_parser(BULK_LISTENER, config.bulk_format, tz)?,
            json: build_parser(HEC_LISTENER, Format::Json, tz)?,
        };
        if config.max_body_bytes == 0 || config.max_decoded_bytes == 0 {
            return Err(IngestError::Config(
                "http ingest: max_body_bytes and max_decoded_bytes must be positive".into(),
            ));
        }
        Ok(HttpIngestState {
            ndjson_metrics: metrics.listener(NDJSON_LISTENER),
            hec_metrics: metrics.listener(HEC_LISTENER),
            bulk_metrics: metrics.listener(BULK_LISTENER),
            sink,
            metrics,
            tokens,
            max_body_bytes: config.max_body_bytes,
            max_decoded_bytes: config.max_decoded_bytes,
            parsers: Arc::new(parsers),
            acks: Arc::new(hec::AckChannels::new(config.hec_ack_channels)),
        })
    }
}

/// The ingest routes: `POST /api/v1/ingest/ndjson`, Splunk HEC under
/// `/services/collector*`, and `POST /_bulk`, `POST /{index}/_bulk`.
/// The Elasticsearch discovery routes (`GET /` …) are in [`es_compat_router`].
pub fn router(state: HttpIngestState) -> Router {
    Router::new()
        .route("/api/v1/ingest/ndjson", post(ndjson::handle))
        .route("/services/collector", post(hec::event))
        .route("/services/collector/event", post(hec::event))
        .route("/services/collector/event/1.0", post(hec::event))
        .route("/services/collector/raw", post(hec::raw))
        .route("/services/collector/raw/1.0", post(hec::raw))
        .route("/services/collector/health", get(hec::health))
        .route("/services/collector/health/1.0", get(hec::health))
        .route("/services/collector/ack", post(hec::ack))
        .route("/_bulk", post(bulk::handle).put(bulk::handle))
        .route(
            "/{index}/_bulk",
            post(bulk::handle_index).put(bulk::handle_index),
        )
        .with_state(state)
}

/// The peer address when the server was started with connect info.
pub(crate) fn peer(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Credentials found in the `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    Missing,
    /// A scheme this endpoint does not take, or an unreadable value.
    Malformed,
    Token(String),
}

/// Read `Authorization` accepting the given schemes. `Basic` takes the password as the
/// token; `ApiKey` takes either the token itself or base64 `id:token`.
pub(crate) fn credential(headers: &HeaderMap, schemes: &[&str]) -> Credential {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Credential::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Credential::Malformed;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let rest = rest.trim();
    let Some(scheme) = schemes.iter().find(|s| s.eq_ignore_ascii_case(scheme)) else {
        return Credential::Malformed;
    };
    if rest.is_empty() {
        return Credential::Malformed;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    match *scheme {
        "Basic" => match b64
            .decode(rest)
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
        {
            Some(decoded) => match decoded.split_once(':') {
                Some((_, password)) => Credential::Token(password.to_owned()),
                None => Credential::Malformed,
            },
            None => Credential::Malformed,
        },
        "ApiKey" => {
            let decoded = b64
                .decode(rest)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .and_then(|d| d.split_once(':').map(|(_, key)| key.to_owned()));
            Credential::Token(decoded.unwrap_or_else(|| rest.to_owned()))
        }
        _ => Credential::Token(rest.to_owned()),
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    TooLarge { limit: usize, decoded: bool },
    UnsupportedEncoding(String),
    Invalid(String),
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyError::Invalid(_) => StatusCode::BAD_REQUEST,
        }
    }

    pub fn message(&self) -> String {
        match self {
            BodyError::TooLarge {
                limit,
                decoded: false,
            } => format!("request body exceeds the limit of {limit} bytes"),
            BodyError::TooLarge {
                limit,
                decoded: true,
            } => format!("decompressed request body exceeds the limit of {limit} bytes"),
            BodyError::UnsupportedEncoding(enc) => {
                format!("unsupported content-encoding '{enc}' (gzip and identity are accepted)")
            }
            BodyError::Invalid(reason) => format!("cannot read request body: {reason}"),
        }
    }
}

/// What every ingest handler takes from an authenticated request: where it came from,
/// its `Content-Encoding`, and its body read within the limit (counted in `metrics`).
/// The body is still encoded: [`decode_body`] runs off the async threads.
pub(crate) async fn take_body(
    state: &HttpIngestState,
    req: Request,
    kind: OriginKind,
    listener: &str,
    metrics: &ListenerMetrics,
) -> Result<(Origin, Option<String>, Bytes), BodyError> {
    let origin = Origin {
        peer: peer(&req),
        ..Origin::new(kind, listener)
    };
    let (parts, body) = req.into_parts();
    let encoding = content_encoding(&parts.headers)?;
    let body = read_body(state, body, &parts.headers).await?;
    metrics.bytes(body.len() as u64);
    Ok((origin, encoding, body))
}

/// Read the request body up to the limit without buffering more than the limit: a
/// declared `Content-Length` over it is refused before reading anything.
pub(crate) async fn read_body(
    state: &HttpIngestState,
    body: Body,
    headers: &HeaderMap,
) -> Result<Bytes, BodyError> {
    let limit = state.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge {
            limit,
            decoded: false,
        });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge {
            limit,
            decoded: false,
        }),
        Err(e) => Err(BodyError::Invalid(e.to_string())),
    }
}

/// The `Content-Encoding` of a request, lowercased; `None` for identity.
pub(crate) fn content_encoding(headers: &HeaderMap) -> Result<Option<String>, BodyError> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(v)) => {
            let v = v.trim().to_ascii_lowercase();
            match v.as_str() {
                "" | "identity" => Ok(None),
                "gzip" | "x-gzip" => Ok(Some(v)),
                _ => Err(BodyError::UnsupportedEncoding(v)),
            }
        }
        Some(Err(_)) => Err(BodyError::UnsupportedEncoding("<non-ascii>".into())),
    }
}

/// Undo the content encoding (blocking; call from a blocking task for large bodies).
pub(crate) fn decode_body(
    encoding: Option<&str>,
    body: Bytes,
    max_decoded: usize,
) -> Result<Bytes, BodyError> {
    if encoding.is_none() {
        return Ok(body);
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_decoded));
    let decoder = flate2::read::MultiGzDecoder::new(body.as_ref());
    decoder
        .take(max_decoded as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Invalid(format!("invalid gzip data: {e}")))?;
    if out.len() > max_decoded {
        return Err(BodyError::TooLarge {
            limit: max_decoded,
            decoded: true,
        });
    }
    Ok(Bytes::from(out))
}

/// Run CPU-heavy body work (decompression, parsing) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("ingest worker failed: {e}"))
}

/// Seconds a client should wait before retrying after the sink refused a batch.
pub(crate) const RETRY_AFTER_SECS: &str = "5";

/// Hand a request's events to the sink, counting the outcome.
pub(crate) async fn accept(
    state: &HttpIngestState,
    metrics: &ListenerMetrics,
    events: Vec<Event>,
) -> Result<(), SinkError> {
    if events.is_empty() {
        return Ok(());
    }
    let count = events.len() as u64;
    let errors = events.iter().filter(|e| e.parse_error.is_some()).count() as u64;
    match state.sink.accept(events).await {
        Ok(()) => {
            metrics.accepted(count, errors);
            Ok(())
        }
        Err(e) => {
            metrics.sink_error(&e);
            if let SinkError::Unavailable(reason) = &e {
                tracing::warn!("event sink unavailable: {reason}");
            }
            Err(e)
        }
    }
}

/// A JSON response with a status and, for sink refusals, `Retry-After`.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, secret: &str, tenant: &str) -> IngestToken {
        IngestToken {
            name: name.into(),
            token: secret.into(),
            tenant: tenant.into(),
        }
    }

    #[test]
    fn tokens_verify_and_never_print() {
        let tokens = IngestTokens::new(vec![
            token("a", "secret-a", "acme"),
            token("b", "secret-b", "globex"),
            token("empty", "", "nobody"),
        ]);
        assert_eq!(
            tokens.verify("secret-b").map(|t| t.tenant.as_str()),
            Some("globex")
        );
        assert!(tokens.verify("secret-").is_none());
        assert!(
            tokens.verify("").is_none(),
            "an empty token never authenticates"
        );
        let printed = format!("{tokens:?}");
        assert!(!printed.contains("secret-a"), "{printed}");
    }

    fn auth(value: Option<&str>, schemes: &[&str]) -> Credential {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(v).expect("test header"),
            );
        }
        credential(&headers, schemes)
    }

    #[test]
    fn authorization_schemes() {
        let es = ["Basic", "ApiKey", "Bearer"];
        let tok = |s: &str| Credential::Token(s.into());
        // base64("elastic:tok1") and base64("id:tok2")
        for (header, schemes, expected) in [
            (None, &es[..], Credential::Missing),
            (Some("Basic ZWxhc3RpYzp0b2sx"), &es[..], tok("tok1")),
            (Some("ApiKey aWQ6dG9rMg=="), &es[..], tok("tok2")),
            (Some("ApiKey plain-token"), &es[..], tok("plain-token")),
            (Some("bearer  tok3 "), &es[..], tok("tok3")),
            (Some("Splunk tok4"), &["Splunk"][..], tok("tok4")),
            (Some("Splunk tok4"), &es[..], Credential::Malformed),
            (Some("Splunk"), &["Splunk"][..], Credential::Malformed),
            (Some("Basic !!!"), &es[..], Credential::Malformed),
        ] {
            assert_eq!(auth(header, schemes), expected, "header {header:?}");
        }
    }

    #[test]
    fn gzip_bodies_decode_within_limits() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[b'x'; 1000]).expect("compress");
        let gz = Bytes::from(enc.finish().expect("compress"));
        let out = decode_body(Some("gzip"), gz.clone(), 1000).expect("fits");
        assert_eq!(out.len(), 1000);
        assert!(matches!(
            decode_body(Some("gzip"), gz, 999),
            Err(BodyError::TooLarge { decoded: true, .. })
        ));
        assert!(matches!(
            decode_body(Some("gzip"), Bytes::from_static(b"plain"), 1000),
            Err(BodyError::Invalid(_))
        ));
        assert_eq!(
            decode_body(None, Bytes::from_static(b"plain"), 1).expect("identity"),
            Bytes::from_static(b"plain")
        );
    }
}
