//! Splunk HTTP Event Collector: `/services/collector[/event|/raw|/health|/ack]` with
//! Splunk's status codes and bodies, and indexer acknowledgement per channel.

use super::{
    BodyError, Credential, HEC_LISTENER, HttpIngestState, accept, blocking, credential,
    json_response,
};
use crate::make_event;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rampart_model::fields::insert_path_if_absent;
use rampart_model::{Event, Origin, OriginKind, Timestamp, ecs};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// HEC status codes (Splunk's numbering).
mod code {
    pub const SUCCESS: u16 = 0;
    pub const TOKEN_REQUIRED: u16 = 2;
    pub const INVALID_AUTHORIZATION: u16 = 3;
    pub const INVALID_TOKEN: u16 = 4;
    pub const NO_DATA: u16 = 5;
    pub const INVALID_DATA_FORMAT: u16 = 6;
    pub const SERVER_BUSY: u16 = 9;
    pub const CHANNEL_MISSING: u16 = 10;
    pub const INVALID_CHANNEL: u16 = 11;
    pub const EVENT_REQUIRED: u16 = 12;
    pub const EVENT_BLANK: u16 = 13;
    pub const HEALTHY: u16 = 17;
}

const CHANNEL_HEADER: &str = "x-splunk-request-channel";

fn reply(status: StatusCode, text: &str, code: u16) -> Response {
    json_response(status, &json!({ "text": text, "code": code }))
}

/// A refusal in Splunk's terms, turned into a response by [`Refusal::respond`].
struct Refusal(StatusCode, &'static str, u16);

impl Refusal {
    fn respond(self) -> Response {
        reply(self.0, self.1, self.2)
    }
}

/// Who sent a request: the token's name (for ack channels) and tenant.
struct Caller {
    name: String,
    tenant: String,
}

fn authenticate(state: &HttpIngestState, headers: &HeaderMap) -> Result<Caller, Refusal> {
    let result = match credential(headers, &["Splunk", "Bearer", "Basic"]) {
        Credential::Missing => Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "Token is required",
            code::TOKEN_REQUIRED,
        )),
        Credential::Malformed => Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "Invalid authorization",
            code::INVALID_AUTHORIZATION,
        )),
        Credential::Token(t) => match state.tokens.verify(&t) {
            Some(entry) => Ok(Caller {
                name: entry.name.clone(),
                tenant: entry.tenant.clone(),
            }),
            None => Err(Refusal(
                StatusCode::FORBIDDEN,
                "Invalid token",
                code::INVALID_TOKEN,
            )),
        },
    };
    if result.is_err() {
        state.hec_metrics.rejected(1);
    }
    result
}

/// The acknowledgement channel of a request, from the header or `?channel=`.
fn channel(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Option<String>, Refusal> {
    let value = match headers.get(CHANNEL_HEADER) {
        Some(v) => Some(v.to_str().map(str::to_owned).map_err(|_| {
            Refusal(
                StatusCode::BAD_REQUEST,
                "Invalid data channel",
                code::INVALID_CHANNEL,
            )
        })?),
        None => query.get("channel").cloned(),
    };
    match value {
        Some(v) if v.trim().is_empty() || v.len() > 128 => Err(Refusal(
            StatusCode::BAD_REQUEST,
            "Invalid data channel",
            code::INVALID_CHANNEL,
        )),
        other => Ok(other.map(|v| v.trim().to_owned())),
    }
}

/// Acknowledgement ids issued per (token, channel). An id is issued only after the sink
/// made its events durable, so every issued id is acknowledged as true.
pub(super) struct AckChannels {
    cap: usize,
    next: Mutex<HashMap<(String, String), u64>>,
}

impl AckChannels {
    pub fn new(cap: usize) -> Self {
        AckChannels {
            cap: cap.max(1),
            next: Mutex::new(HashMap::new()),
        }
    }

    fn issue(&self, token: &str, channel: &str) -> u64 {
        let mut map = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (token.to_owned(), channel.to_owned());
        if !map.contains_key(&key) && map.len() >= self.cap {
            // Forget some channel so memory stays bounded; its later queries answer false,
            // which makes that sender resend rather than lose data.
            if let Some(old) = map.keys().next().cloned() {
                map.remove(&old);
            }
        }
        let next = map.entry(key).or_insert(0);
        let id = *next;
        *next += 1;
        id
    }

    fn status(&self, token: &str, channel: &str, ids: &[u64]) -> BTreeMap<String, bool> {
        let map = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = map
            .get(&(token.to_owned(), channel.to_owned()))
            .copied()
            .unwrap_or(0);
        ids.iter().map(|id| (id.to_string(), *id < next)).collect()
    }
}

/// One event object of `/services/collector/event`. (No `flatten` into [`Meta`]: a
/// flattened struct cannot hold the borrowed raw `event`.)
#[derive(Deserialize)]
struct HecEvent<'a> {
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(default)]
    time: Option<Value>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    sourcetype: Option<String>,
    #[serde(default)]
    index: Option<String>,
    #[serde(default)]
    fields: Option<Map<String, Value>>,
}

impl<'a> HecEvent<'a> {
    fn split(self) -> (Option<&'a RawValue>, Meta) {
        let meta = Meta {
            time: self.time,
            host: self.host,
            source: self.source,
            sourcetype: self.sourcetype,
            index: self.index,
            fields: self.fields,
        };
        (self.event, meta)
    }
}

/// HEC metadata, from an event object or from the query string of `/raw`.
#[derive(Default)]
struct Meta {
    time: Option<Value>,
    host: Option<String>,
    source: Option<String>,
    sourcetype: Option<String>,
    index: Option<String>,
    fields: Option<Map<String, Value>>,
}

/// Seconds since the epoch (`1700000000`, `1700000000.123`, or the same as a string) in
/// nanoseconds, without going through floating point.
fn epoch_seconds(value: &Value) -> Option<Timestamp> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    let (secs, frac) = text.split_once('.').unwrap_or((&text, ""));
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) || secs < 0 {
        return None;
    }
    let mut nanos = 0i64;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(d - b'0') * 10i64.pow(8 - i as u32);
    }
    secs.checked_mul(1_000_000_000)?
        .checked_add(nanos)
        .map(Timestamp::from_nanos)
}

impl Meta {
    fn apply(&self, event: &mut Event) {
        if let Some(ts) = self.time.as_ref().and_then(epoch_seconds) {
            event.timestamp = ts;
        }
        if let Some(host) = &self.host {
            insert_path_if_absent(
                &mut event.fields,
                ecs::HOST_NAME,
                Value::String(host.clone()),
            );
        }
        for (path, value) in [
            ("hec.source", &self.source),
            ("hec.sourcetype", &self.sourcetype),
            ("hec.index", &self.index),
        ] {
            if let Some(v) = value {
                event.set(path, v.clone());
            }
        }
        if let Some(fields) = &self.fields {
            for (k, v) in fields {
                insert_path_if_absent(&mut event.fields, k, v.clone());
            }
        }
    }
}

/// The events of a request, and where they stopped being valid if they did.
type Parsed = (Vec<Event>, Option<Invalid>);

/// Where a batch of events stopped being valid: Splunk's code and the event's number.
struct Invalid {
    code: u16,
    text: &'static str,
    number: usize,
}

/// Parse concatenated HEC event objects. Events before the first invalid one are kept
/// (as Splunk does); the invalid one and the rest are refused.
fn parse_events(
    state: &HttpIngestState,
    body: &[u8],
    origin: &Origin,
    tenant: &str,
) -> (Vec<Event>, Option<Invalid>) {
    let parser = &state.parsers.hec;
    let mut events = Vec::new();
    let stream = serde_json::Deserializer::from_slice(body).into_iter::<HecEvent<'_>>();
    for (number, item) in stream.enumerate() {
        let invalid = |code, text| Some(Invalid { code, text, number });
        let (raw, meta) = match item {
            Ok(h) => h.split(),
            Err(_) => {
                return (
                    events,
                    invalid(code::INVALID_DATA_FORMAT, "Invalid data format"),
                );
            }
        };
        let Some(raw) = raw else {
            return (
                events,
                invalid(code::EVENT_REQUIRED, "Event field is required"),
            );
        };
        let text = raw.get();
        let mut event = if text.starts_with('"') {
            let Ok(s) = serde_json::from_str::<std::borrow::Cow<'_, str>>(text) else {
                return (
                    events,
                    invalid(code::INVALID_DATA_FORMAT, "Invalid data format"),
                );
            };
            if s.trim().is_empty() {
                return (
                    events,
                    invalid(code::EVENT_BLANK, "Event field cannot be blank"),
                );
            }
            make_event(parser, s.as_bytes(), origin.clone(), tenant, None)
        } else {
            // An object (or other JSON value) is the record itself, as JSON text.
            make_event(
                &state.parsers.json,
                text.as_bytes(),
                origin.clone(),
                tenant,
                None,
            )
        };
        meta.apply(&mut event);
        events.push(event);
    }
    (events, None)
}

pub(super) async fn event(
    State(state): State<HttpIngestState>,
    Query(query): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    receive(state, query, req, false).await
}

pub(super) async fn raw(
    State(state): State<HttpIngestState>,
    Query(query): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    receive(state, query, req, true).await
}

async fn receive(
    state: HttpIngestState,
    query: HashMap<String, String>,
    req: Request,
    raw: bool,
) -> Response {
    let caller = match authenticate(&state, req.headers()) {
        Ok(c) => c,
        Err(refusal) => return refusal.respond(),
    };
    let channel = match channel(req.headers(), &query) {
        Ok(c) => c,
        Err(refusal) => {
            state.hec_metrics.rejected(1);
            return refusal.respond();
        }
    };
    let (origin, encoding, body) = match super::take_body(
        &state,
        req,
        OriginKind::HttpHec,
        HEC_LISTENER,
        &state.hec_metrics,
    )
    .await
    {
        Ok(taken) => taken,
        Err(e) => return body_error(&state, e),
    };
    let worker_state = state.clone();
    let tenant = caller.tenant.clone();
    let parsed = blocking(move || -> Result<Option<Parsed>, BodyError> {
        let body = super::decode_body(encoding.as_deref(), body, worker_state.max_decoded_bytes)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        if !raw {
            return Ok(Some(parse_events(&worker_state, &body, &origin, &tenant)));
        }
        let meta = Meta {
            time: query.get("time").map(|t| Value::String(t.clone())),
            host: query.get("host").cloned(),
            source: query.get("source").cloned(),
            sourcetype: query.get("sourcetype").cloned(),
            index: query.get("index").cloned(),
            fields: None,
        };
        let events = body
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(|line| {
                let mut ev = make_event(
                    &worker_state.parsers.hec,
                    line,
                    origin.clone(),
                    &tenant,
                    None,
                );
                meta.apply(&mut ev);
                ev
            })
            .collect();
        Ok(Some((events, None)))
    })
    .await;
    let (events, invalid) = match parsed {
        Ok(Ok(Some(parsed))) => parsed,
        Ok(Ok(None)) => {
            state.hec_metrics.rejected(1);
            return reply(StatusCode::BAD_REQUEST, "No data", code::NO_DATA);
        }
        Ok(Err(e)) => return body_error(&state, e),
        Err(e) => {
            tracing::error!("{e}");
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                8,
            );
        }
    };
    if let Err(e) = accept(&state, &state.hec_metrics, events).await {
        tracing::debug!("hec batch refused: {e}");
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "Server is busy",
            code::SERVER_BUSY,
        );
    }
    if let Some(invalid) = invalid {
        state.hec_metrics.rejected(1);
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "text": invalid.text, "code": invalid.code, "invalid-event-number": invalid.number }),
        );
    }
    match channel {
        Some(ch) => {
            let id = state.acks.issue(&caller.name, &ch);
            json_response(
                StatusCode::OK,
                &json!({ "text": "Success", "code": code::SUCCESS, "ackId": id }),
            )
        }
        None => reply(StatusCode::OK, "Success", code::SUCCESS),
    }
}

fn body_error(state: &HttpIngestState, e: BodyError) -> Response {
    state.hec_metrics.rejected(1);
    match e {
        BodyError::TooLarge { .. } => json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &json!({ "text": e.message(), "code": code::INVALID_DATA_FORMAT }),
        ),
        _ => json_response(
            e.status(),
            &json!({ "text": "Invalid data format", "code": code::INVALID_DATA_FORMAT, "reason": e.message() }),
        ),
    }
}

pub(super) async fn health() -> Response {
    reply(StatusCode::OK, "HEC is healthy", code::HEALTHY)
}

#[derive(Deserialize)]
struct AckQuery {
    acks: Vec<u64>,
}

pub(super) async fn ack(
    State(state): State<HttpIngestState>,
    Query(query): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let caller = match authenticate(&state, req.headers()) {
        Ok(c) => c,
        Err(refusal) => return refusal.respond(),
    };
    let channel = match channel(req.headers(), &query) {
        Ok(Some(c)) => c,
        Ok(None) => {
            state.hec_metrics.rejected(1);
            return reply(
                StatusCode::BAD_REQUEST,
                "Data channel is missing",
                code::CHANNEL_MISSING,
            );
        }
        Err(refusal) => return refusal.respond(),
    };
    let (parts, body) = req.into_parts();
    let body = match super::read_body(&state, body, &parts.headers).await {
        Ok(b) => b,
        Err(e) => return body_error(&state, e),
    };
    match serde_json::from_slice::<AckQuery>(&body) {
        Ok(q) => json_response(
            StatusCode::OK,
            &json!({ "acks": state.acks.status(&caller.name, &channel, &q.acks) }),
        ),
        Err(_) => {
            state.hec_metrics.rejected(1);
            reply(
                StatusCode::BAD_REQUEST,
                "Invalid data format",
                code::INVALID_DATA_FORMAT,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_keep_fractions_exactly() {
        for (input, nanos) in [
            (json!(1700000000), Some(1_700_000_000_000_000_000)),
            (json!("1700000000.5"), Some(1_700_000_000_500_000_000)),
            (json!(1700000000.123), Some(1_700_000_000_123_000_000)),
            (
                json!("1700000000.1234567891"),
                Some(1_700_000_000_123_456_789),
            ),
            (json!("soon"), None),
            (json!("-5"), None),
            (json!(null), None),
        ] {
            assert_eq!(
                epoch_seconds(&input).map(Timestamp::nanos),
                nanos,
                "{input}"
            );
        }
    }

    #[test]
    fn ack_ids_count_per_channel_and_stay_bounded() {
        let acks = AckChannels::new(2);
        assert_eq!(acks.issue("t", "a"), 0);
        assert_eq!(acks.issue("t", "a"), 1);
        assert_eq!(acks.issue("t", "b"), 0);
        let status = acks.status("t", "a", &[0, 1, 2]);
        assert_eq!(status.get("1"), Some(&true));
        assert_eq!(status.get("2"), Some(&false));
        assert_eq!(acks.status("other", "a", &[0]).get("0"), Some(&false));
        acks.issue("t", "c");
        assert!(acks.next.lock().map(|m| m.len()).unwrap_or(0) <= 2);
    }
}
