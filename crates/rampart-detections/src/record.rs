//! What a detection is: the record written when an event matches a rule, its key entities, and the filters that list them.

use rampart_detect::RuleMeta;
use rampart_model::{Event, EventId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What made a detection: one event matching a Sigma rule, a correlation rule firing over
/// several events, or a behavioural baseline seeing an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DetectionKind {
    #[default]
    Rule,
    Correlation,
    Baseline,
}

impl DetectionKind {
    pub const ALL: [DetectionKind; 3] = [
        DetectionKind::Rule,
        DetectionKind::Correlation,
        DetectionKind::Baseline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DetectionKind::Rule => "rule",
            DetectionKind::Correlation => "correlation",
            DetectionKind::Baseline => "baseline",
        }
    }

    /// The kind named `text` (case-insensitive).
    pub fn parse(text: &str) -> Option<DetectionKind> {
        DetectionKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// One `group-by` (correlation) or entity (baseline) field and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupValue {
    pub field: String,
    pub value: String,
}

/// The fields of a detection that come from its rule and its event(s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionData {
    #[serde(default)]
    pub kind: DetectionKind,
    /// The rule's Sigma `id`, or its title when it has none (see [`rule_key`]).
    pub rule_id: String,
    pub rule_title: String,
    /// Sigma level (`informational` … `critical`); `unknown` when the rule gives none.
    pub level: String,
    /// The rule's tags, ATT&CK ones included (`attack.t1059.001`, `attack.execution`).
    pub tags: Vec<String>,
    /// The event that matched (rule), that made the correlation fire (correlation), or
    /// that closed the bucket or had the new value (baseline); absent for a bucket closed
    /// by the clock.
    pub event_id: Option<EventId>,
    /// The event's `@timestamp`; for a baseline anomaly, the start of the bucket judged.
    pub event_time: Timestamp,
    pub tenant: String,
    pub host: Option<String>,
    pub user: Option<String>,
    pub source_ip: Option<String>,
    pub destination_ip: Option<String>,
    pub process_name: Option<String>,
    pub command_line: Option<String>,
    /// SHA-256, else SHA-1, else MD5 of the file or process image, when the event has one.
    pub file_hash: Option<String>,
    /// A compact copy of the event's key fields (dotted names; long texts shortened), and
    /// for correlations and baselines their own figures (`correlation.type`,
    /// `baseline.expected`, …).
    pub fields: Map<String, Value>,
    /// Correlation: the `group-by` values; baseline: the entity's values.
    #[serde(default)]
    pub group: Vec<GroupValue>,
    /// Correlation: the window (oldest entry, firing event); baseline: the bucket.
    #[serde(default)]
    pub window_start: Option<Timestamp>,
    #[serde(default)]
    pub window_end: Option<Timestamp>,
    /// Correlation: the aggregated value the condition held for; baseline: the bucket's value.
    #[serde(default)]
    pub value: Option<f64>,
    /// Baseline: how many spreads the value is from the entity's normal.
    #[serde(default)]
    pub score: Option<f64>,
    /// Correlation and baseline: the newest contributing events (bounded), oldest first.
    #[serde(default)]
    pub event_ids: Vec<EventId>,
}

/// A stored detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub id: i64,
    /// When the detection was written.
    pub created: Timestamp,
    #[serde(flatten)]
    pub data: DetectionData,
}

/// The identifier a rule is known by in the API and in rule state: its Sigma `id`, or its
/// title for the rare rule without one.
pub fn rule_key(meta: &RuleMeta) -> &str {
    meta.id.as_deref().unwrap_or(meta.title.as_str())
}

/// Sigma levels in increasing order, with their rank (unknown levels rank 0).
pub const LEVELS: &[(&str, u8)] = &[
    ("informational", 1),
    ("low", 2),
    ("medium", 3),
    ("high", 4),
    ("critical", 5),
];

/// The rank of a Sigma level name (case-insensitive); 0 for anything else.
pub fn level_rank(level: &str) -> u8 {
    LEVELS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(level))
        .map_or(0, |(_, rank)| *rank)
}

/// Parse a `--level`/`level=` filter: a level name (`high` means high or above).
pub fn parse_min_level(text: &str) -> Option<u8> {
    match level_rank(text.trim()) {
        0 => None,
        rank => Some(rank),
    }
}

/// Longest text kept per field in [`DetectionData::fields`] and the entity columns.
const MAX_TEXT: usize = 1024;

/// Fields copied into [`DetectionData::fields`] when present: ECS first, then the EVTX
/// names analysts read for the events Sigma rules most often match.
const KEY_FIELDS: &[&str] = &[
    "event.code",
    "event.provider",
    "event.action",
    "event.outcome",
    "event.category",
    "host.name",
    "user.name",
    "user.domain",
    "user.target.name",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "destination.domain",
    "process.name",
    "process.executable",
    "process.pid",
    "process.command_line",
    "process.parent.executable",
    "process.parent.command_line",
    "process.hash.sha256",
    "process.hash.sha1",
    "process.hash.md5",
    "file.path",
    "file.hash.sha256",
    "file.hash.sha1",
    "file.hash.md5",
    "url.original",
    "dns.question.name",
    "log.syslog.appname",
    "message",
    "Event.System.Channel",
    "Event.System.EventID",
    "Event.EventData.Image",
    "Event.EventData.CommandLine",
    "Event.EventData.ParentImage",
    "Event.EventData.User",
    "Event.EventData.TargetFilename",
    "Event.EventData.TargetObject",
    "Event.EventData.Details",
    "Event.EventData.ImageLoaded",
    "Event.EventData.QueryName",
    "Event.EventData.ServiceName",
    "Event.EventData.ImagePath",
    "Event.EventData.TargetUserName",
    "Event.EventData.SubjectUserName",
    "Event.EventData.ScriptBlockText",
];

/// Where each entity column is read, first present wins.
const HOST: &[&str] = &["host.name", "host.hostname", "Event.System.Computer"];
const USER: &[&str] = &[
    "user.name",
    "Event.EventData.User",
    "Event.EventData.TargetUserName",
    "Event.EventData.SubjectUserName",
];
const SOURCE_IP: &[&str] = &["source.ip", "Event.EventData.IpAddress"];
const DESTINATION_IP: &[&str] = &["destination.ip"];
const PROCESS_NAME: &[&str] = &[
    "process.name",
    "process.executable",
    "Event.EventData.Image",
];
const COMMAND_LINE: &[&str] = &["process.command_line", "Event.EventData.CommandLine"];
const FILE_HASH: &[&str] = &[
    "file.hash.sha256",
    "process.hash.sha256",
    "file.hash.sha1",
    "process.hash.sha1",
    "file.hash.md5",
    "process.hash.md5",
];

/// A compact copy of the key fields of `event` (dotted names; long texts shortened).
pub(crate) fn key_fields(event: &Event) -> Map<String, Value> {
    let mut fields = Map::new();
    for path in KEY_FIELDS {
        if let Some(v) = event.get(path) {
            let v = compact(&v);
            if !v.is_null() {
                fields.insert((*path).to_owned(), v);
            }
        }
    }
    fields
}

/// The level as stored: the rule's, lower case, or `unknown`.
pub(crate) fn level_of(rule: &RuleMeta) -> String {
    rule.level
        .as_deref()
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "unknown".to_owned())
}

pub(crate) fn shorten(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn first_text(event: &Event, paths: &[&str]) -> Option<String> {
    paths
        .iter()
        .filter_map(|p| event.get_str(p))
        .find(|s| !s.is_empty() && s != "-")
        .map(shorten)
}

fn compact(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(shorten(s.clone())),
        Value::Array(items) => Value::Array(items.iter().take(16).map(compact).collect()),
        // An object at a key field's path is not a key field value; keep scalars only.
        Value::Object(_) => Value::Null,
        other => other.clone(),
    }
}

impl DetectionData {
    /// The detection of `rule` on `event`.
    pub fn new(event: &Event, rule: &RuleMeta) -> DetectionData {
        DetectionData {
            kind: DetectionKind::Rule,
            rule_id: rule_key(rule).to_owned(),
            rule_title: rule.title.clone(),
            level: level_of(rule),
            tags: rule.tags.clone(),
            event_id: Some(event.id),
            event_time: event.timestamp,
            tenant: event.tenant.clone(),
            host: first_text(event, HOST),
            user: first_text(event, USER),
            source_ip: first_text(event, SOURCE_IP),
            destination_ip: first_text(event, DESTINATION_IP),
            process_name: first_text(event, PROCESS_NAME),
            command_line: first_text(event, COMMAND_LINE),
            file_hash: first_text(event, FILE_HASH),
            fields: key_fields(event),
            group: Vec::new(),
            window_start: None,
            window_end: None,
            value: None,
            score: None,
            event_ids: Vec::new(),
        }
    }
}

/// An opaque position in a detection listing (newest first): the last row's event time
/// and id. Rendered as `"{nanos}:{id}"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub event_time: i64,
    pub id: i64,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.event_time, self.id)
    }
}

impl std::str::FromStr for Cursor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid cursor '{s}', expected the next_cursor of a listing");
        let (time, id) = s.rsplit_once(':').ok_or_else(bad)?;
        Ok(Cursor {
            event_time: time.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// Which detections to list or count. Every set filter must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectionQuery {
    pub tenant: Option<String>,
    pub kind: Option<DetectionKind>,
    pub rule_id: Option<String>,
    /// Only this level rank or above (see [`level_rank`]).
    pub min_level: Option<u8>,
    /// Host name, compared case-insensitively.
    pub host: Option<String>,
    /// User name, compared case-insensitively.
    pub user: Option<String>,
    /// Inclusive lower bound on the event time.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on the event time.
    pub to: Option<Timestamp>,
    /// Case-insensitive substring of the rule title or the key fields.
    pub text: Option<String>,
    /// Most detections returned (listing only).
    pub limit: usize,
    /// Continue after this position (listing only).
    pub after: Option<Cursor>,
}

/// One page of detections, newest event first.
#[derive(Debug, Clone, Serialize)]
pub struct DetectionPage {
    /// How many detections match the filters (all pages).
    pub total: u64,
    pub detections: Vec<Detection>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Detections per rule and per level.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DetectionCounts {
    pub total: u64,
    pub by_rule: Vec<RuleCount>,
    pub by_level: Vec<LevelCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleCount {
    pub rule_id: String,
    pub rule_title: String,
    pub level: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelCount {
    pub level: String,
    pub count: u64,
}

/// Whether a rule runs, and who decided so, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    pub rule_id: String,
    pub enabled: bool,
    pub actor: String,
    pub reason: Option<String>,
    pub changed: Timestamp,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rampart_model::{Origin, OriginKind, Raw};
    use serde_json::json;

    fn event(fields: Value) -> Event {
        let mut ev = Event::new(Origin::new(OriginKind::Import, "t"), Raw::Text("x".into()));
        if let Value::Object(map) = fields {
            ev.fields = map;
        }
        ev
    }

    fn rule(id: Option<&str>, title: &str, level: Option<&str>) -> RuleMeta {
        RuleMeta {
            id: id.map(str::to_owned),
            title: title.to_owned(),
            level: level.map(str::to_owned),
            tags: vec!["attack.t1059.001".into()],
            ..RuleMeta::default()
        }
    }

    #[test]
    fn entities_come_from_ecs_then_evtx_names() {
        let cases = [
            (
                json!({"host": {"name": "web01"}, "user": {"name": "bob"}, "source": {"ip": "192.0.2.1"}}),
                (Some("web01"), Some("bob"), Some("192.0.2.1"), None, None),
            ),
            (
                json!({"Event": {"System": {"Computer": "WIN-1"}, "EventData": {
                    "User": "CORP\\alice", "Image": "C:\\x\\cmd.exe", "CommandLine": "cmd /c whoami"}}}),
                (
                    Some("WIN-1"),
                    Some("CORP\\alice"),
                    None,
                    Some("C:\\x\\cmd.exe"),
                    Some("cmd /c whoami"),
                ),
            ),
            (
                json!({"user": {"name": "-"}, "Event": {"EventData": {"TargetUserName": "eve"}}}),
                (None, Some("eve"), None, None, None),
            ),
        ];
        for (fields, (host, user, ip, process, cmd)) in cases {
            let d = DetectionData::new(&event(fields.clone()), &rule(Some("r1"), "R", None));
            assert_eq!(d.host.as_deref(), host, "{fields}");
            assert_eq!(d.user.as_deref(), user, "{fields}");
            assert_eq!(d.source_ip.as_deref(), ip, "{fields}");
            assert_eq!(d.process_name.as_deref(), process, "{fields}");
            assert_eq!(d.command_line.as_deref(), cmd, "{fields}");
        }
    }

    #[test]
    fn key_fields_are_compact() {
        let long = "A".repeat(5000);
        let d = DetectionData::new(
            &event(
                json!({"message": long, "process": {"hash": {"md5": "ab", "sha256": "cd"}},
                          "other": "not kept", "event": {"code": 4688}}),
            ),
            &rule(None, "Untitled rule", Some("HIGH")),
        );
        assert_eq!(d.rule_id, "Untitled rule");
        assert_eq!(d.level, "high");
        assert_eq!(d.file_hash.as_deref(), Some("cd"));
        assert_eq!(d.fields.get("event.code"), Some(&json!(4688)));
        assert!(!d.fields.contains_key("other"));
        let msg = d.fields["message"].as_str().unwrap();
        assert!(msg.len() <= MAX_TEXT + '…'.len_utf8() && msg.ends_with('…'));
    }

    #[test]
    fn levels_rank_and_cursors_roundtrip() {
        for (text, rank) in [
            ("critical", Some(5)),
            ("High", Some(4)),
            ("informational", Some(1)),
            ("urgent", None),
        ] {
            assert_eq!(parse_min_level(text), rank, "{text}");
        }
        let c = Cursor {
            event_time: -5,
            id: 42,
        };
        assert_eq!(c.to_string().parse::<Cursor>(), Ok(c));
        assert!("12".parse::<Cursor>().is_err());
        assert!("a:b".parse::<Cursor>().is_err());
    }
}
