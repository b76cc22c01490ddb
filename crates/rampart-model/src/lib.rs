//! Rampart's event model: the one [`Event`] type that every other crate passes around.
//!
//! This crate owns the shape of a security event — identity, time, tenant, origin, the
//! original raw record and the parsed fields — and the names of the Elastic Common Schema
//! (ECS) fields that parsers fill in. It does no I/O and knows nothing of sockets, files,
//! storage or detection.
//!
//! # Field layout
//! [`Event::fields`] is one nested JSON object. Normalised data lives under ECS names
//! (`host.name`, `source.ip`, `event.outcome`, …, see [`ecs`]); data that only a given
//! source format has lives under that format's own namespace (`syslog.*`, `cef.*`,
//! `leef.*`, `auditd.*`, `kv.*`, `Event.System.*`/`Event.EventData.*` for Windows
//! EVTX, `suricata.eve.*`, `zeek.*`). A JSON record keeps its own keys at the root, since
//! they are the source's own field names (and are often ECS already).
//!
//! `@timestamp`, `event.ingested`, the tenant and the origin are typed members of
//! [`Event`] and are mirrored into the searchable document by the store.

pub mod ecs;
pub mod fields;
mod time;

pub use fields::{FieldPath, get_path, insert_path};
pub use time::{Timestamp, TimestampError};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::net::SocketAddr;

/// The organisation an event belongs to. Every record carries one; the default is `default`.
pub const DEFAULT_TENANT: &str = "default";

/// A stable, unique, time-ordered event identifier (UUID version 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub uuid::Uuid);

impl EventId {
    /// A new identifier whose leading bits are the current time.
    pub fn new() -> Self {
        EventId(uuid::Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.as_hyphenated())
    }
}

impl std::str::FromStr for EventId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(EventId)
    }
}

/// How an event reached Rampart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginKind {
    SyslogUdp,
    SyslogTcp,
    SyslogTls,
    HttpNdjson,
    HttpHec,
    HttpBulk,
    File,
    Import,
    Agent,
    Demo,
}

impl OriginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OriginKind::SyslogUdp => "syslog_udp",
            OriginKind::SyslogTcp => "syslog_tcp",
            OriginKind::SyslogTls => "syslog_tls",
            OriginKind::HttpNdjson => "http_ndjson",
            OriginKind::HttpHec => "http_hec",
            OriginKind::HttpBulk => "http_bulk",
            OriginKind::File => "file",
            OriginKind::Import => "import",
            OriginKind::Agent => "agent",
            OriginKind::Demo => "demo",
        }
    }
}

/// Where an event came from: the listener, the peer, the file or the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub kind: OriginKind,
    /// Name of the listener or input as configured (`syslog-udp`, `hec`, a file input's name …).
    pub listener: String,
    /// Remote address for network inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<SocketAddr>,
    /// Path of the file the record was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Identifier of the endpoint agent that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

impl Origin {
    pub fn new(kind: OriginKind, listener: impl Into<String>) -> Self {
        Origin {
            kind,
            listener: listener.into(),
            peer: None,
            path: None,
            agent_id: None,
        }
    }

    pub fn with_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

/// The original record as received.
///
/// Text is kept as text. Bytes that were not valid UTF-8 are kept exactly, and
/// [`Raw::as_text`] gives a lossy rendering for display and search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Raw {
    Text(String),
    Bytes(Vec<u8>),
}

impl Raw {
    /// Keep `bytes` as text when they are UTF-8, as bytes otherwise.
    pub fn from_bytes(bytes: &[u8]) -> Raw {
        match std::str::from_utf8(bytes) {
            Ok(s) => Raw::Text(s.to_owned()),
            Err(_) => Raw::Bytes(bytes.to_vec()),
        }
    }

    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Raw::Text(s) => std::borrow::Cow::Borrowed(s),
            Raw::Bytes(b) => String::from_utf8_lossy(b),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Raw::Text(s) => s.len(),
            Raw::Bytes(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Raw {
    fn default() -> Self {
        Raw::Text(String::new())
    }
}

/// One security event, from whatever source, after parsing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    /// When the event happened (`@timestamp`); the ingest time when the source had none.
    #[serde(rename = "@timestamp")]
    pub timestamp: Timestamp,
    /// When Rampart accepted it (`event.ingested`).
    pub ingested: Timestamp,
    pub tenant: String,
    pub origin: Origin,
    pub raw: Raw,
    /// Name of the parser that produced `fields` (`rfc5424`, `cef`, `evtx`, …), or `raw`.
    pub parser: String,
    /// Why no parser understood the record; the event is then kept with its raw text only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// Parsed fields: ECS names for normalised data, a format namespace for the rest.
    pub fields: Map<String, Value>,
}

impl Event {
    /// A new event received now, with no parsed fields yet.
    pub fn new(origin: Origin, raw: Raw) -> Self {
        let now = Timestamp::now();
        Event {
            id: EventId::new(),
            timestamp: now,
            ingested: now,
            tenant: DEFAULT_TENANT.to_owned(),
            origin,
            raw,
            parser: "raw".to_owned(),
            parse_error: None,
            fields: Map::new(),
        }
    }

    /// The value at a dotted path such as `host.name`, looking through nested objects.
    ///
    /// `@timestamp`, `event.ingested`, `tenant`, `event.original` and `event.parse_error`
    /// resolve to the typed members; everything else is looked up in [`Event::fields`].
    pub fn get(&self, path: &str) -> Option<std::borrow::Cow<'_, Value>> {
        use std::borrow::Cow;
        match path {
            "@timestamp" => Some(Cow::Owned(Value::String(self.timestamp.to_rfc3339()))),
            "event.ingested" => Some(Cow::Owned(Value::String(self.ingested.to_rfc3339()))),
            "tenant" => Some(Cow::Owned(Value::String(self.tenant.clone()))),
            "event.original" => Some(Cow::Owned(Value::String(self.raw.as_text().into_owned()))),
            "event.parse_error" => self
                .parse_error
                .as_ref()
                .map(|e| Cow::Owned(Value::String(e.clone()))),
            _ => get_path(&self.fields, path).map(Cow::Borrowed),
        }
    }

    /// The value at `path` as a string when it is a string, number or boolean.
    pub fn get_str(&self, path: &str) -> Option<String> {
        self.get(path).and_then(|v| fields::scalar_to_string(&v))
    }

    /// Set a field at a dotted path, creating intermediate objects.
    pub fn set(&mut self, path: &str, value: impl Into<Value>) {
        insert_path(&mut self.fields, path, value.into());
    }

    /// The message text an analyst reads: `message` when a parser found one, else the raw text.
    pub fn message(&self) -> std::borrow::Cow<'_, str> {
        match get_path(&self.fields, ecs::MESSAGE) {
            Some(Value::String(s)) => std::borrow::Cow::Borrowed(s.as_str()),
            _ => self.raw.as_text(),
        }
    }

    /// The whole event as one JSON document: typed members plus `fields`, with ECS names.
    pub fn to_document(&self) -> Value {
        let mut doc = self.fields.clone();
        doc.insert(
            "@timestamp".into(),
            Value::String(self.timestamp.to_rfc3339()),
        );
        insert_path(
            &mut doc,
            "event.ingested",
            Value::String(self.ingested.to_rfc3339()),
        );
        insert_path(&mut doc, "event.id", Value::String(self.id.to_string()));
        insert_path(
            &mut doc,
            "event.original",
            Value::String(self.raw.as_text().into_owned()),
        );
        if let Some(err) = &self.parse_error {
            insert_path(&mut doc, "event.parse_error", Value::String(err.clone()));
        }
        doc.insert("tenant".into(), Value::String(self.tenant.clone()));
        doc.insert(
            "rampart".into(),
            serde_json::json!({
                "parser": self.parser,
                "origin": self.origin,
            }),
        );
        Value::Object(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_roundtrips_through_json() {
        let mut ev = Event::new(
            Origin::new(OriginKind::SyslogUdp, "syslog-udp")
                .with_peer("127.0.0.1:514".parse().expect("literal address")),
            Raw::from_bytes(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed"),
        );
        ev.set("host.name", "mymachine");
        ev.set("event.outcome", "failure");
        let json = serde_json::to_string(&ev).expect("serialise");
        let back: Event = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, ev);
        assert_eq!(back.get_str("host.name").as_deref(), Some("mymachine"));
    }

    #[test]
    fn invalid_utf8_is_kept_exactly() {
        let raw = Raw::from_bytes(&[b'a', 0xff, b'b']);
        assert_eq!(raw, Raw::Bytes(vec![b'a', 0xff, b'b']));
        assert_eq!(raw.as_text(), "a\u{fffd}b");
    }

    #[test]
    fn document_carries_typed_members() {
        let ev = Event::new(
            Origin::new(OriginKind::Import, "cli"),
            Raw::Text("x".into()),
        );
        let doc = ev.to_document();
        assert_eq!(doc["tenant"], "default");
        assert_eq!(doc["event"]["original"], "x");
        assert!(doc["@timestamp"].as_str().is_some());
    }
}
