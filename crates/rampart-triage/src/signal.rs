//! What triage takes in: a [`Signal`] (a detection, correlation, baseline anomaly or intel hit) and the [`Entities`] it involves.

use rampart_model::{Event, EventId, Timestamp, get_path};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// Which subsystem produced a signal (and so an alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSource {
    /// A Sigma rule matched one event.
    Detection,
    /// A correlation rule fired over several events.
    Correlation,
    /// A behavioural baseline saw an anomaly.
    Baseline,
    /// A threat-intelligence indicator was seen.
    Intel,
    /// Triage itself: an entity's accumulated risk crossed the threshold.
    Risk,
}

impl SignalSource {
    /// Every source, in declaration order.
    pub const ALL: [SignalSource; 5] = [
        SignalSource::Detection,
        SignalSource::Correlation,
        SignalSource::Baseline,
        SignalSource::Intel,
        SignalSource::Risk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignalSource::Detection => "detection",
            SignalSource::Correlation => "correlation",
            SignalSource::Baseline => "baseline",
            SignalSource::Intel => "intel",
            SignalSource::Risk => "risk",
        }
    }

    pub fn parse(text: &str) -> Option<SignalSource> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// Severity, as Sigma names it, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Informational = 1,
    Low = 2,
    Medium = 3,
    High = 4,
    Critical = 5,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Informational,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// The level of a Sigma level name (case-insensitive; `info` is accepted).
    pub fn parse(text: &str) -> Option<Level> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("info") {
            return Some(Level::Informational);
        }
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(text))
    }

    pub fn rank(self) -> i64 {
        self as i64
    }

    pub(crate) fn from_rank(rank: i64) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.rank() == rank)
    }
}

/// The kinds of entity an alert can involve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Host,
    User,
    SourceIp,
    DestinationIp,
    Process,
    FileHash,
}

impl EntityKind {
    pub const ALL: [EntityKind; 6] = [
        EntityKind::Host,
        EntityKind::User,
        EntityKind::SourceIp,
        EntityKind::DestinationIp,
        EntityKind::Process,
        EntityKind::FileHash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Host => "host",
            EntityKind::User => "user",
            EntityKind::SourceIp => "source_ip",
            EntityKind::DestinationIp => "destination_ip",
            EntityKind::Process => "process",
            EntityKind::FileHash => "file_hash",
        }
    }

    /// The kind named `text`: its own name or the ECS field it comes from (`host.name`).
    pub fn parse(text: &str) -> Option<EntityKind> {
        let text = text.trim();
        let ecs = match text {
            "host.name" => Some(EntityKind::Host),
            "user.name" => Some(EntityKind::User),
            "source.ip" => Some(EntityKind::SourceIp),
            "destination.ip" => Some(EntityKind::DestinationIp),
            _ => None,
        };
        ecs.or_else(|| {
            EntityKind::ALL
                .into_iter()
                .find(|k| k.as_str().eq_ignore_ascii_case(text))
        })
    }
}

/// The entities a signal involves. Values are normalised by [`Entities::normalised`]
/// (host names, user names and hashes lower-cased, IP addresses in canonical form) so
/// that `WS01` and `ws01` are one host for deduplication, grouping and risk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_ip: Option<String>,
    /// The process image (path when known, else name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// SHA-256, else SHA-1, else MD5 of the file or process image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_hash: Option<String>,
}

/// Where each entity is read in an event, first present wins: ECS first, then the
/// Windows EVTX `Event.EventData`/`Event.System` names.
const HOST: &[&str] = &["host.name", "host.hostname", "Event.System.Computer"];
const USER: &[&str] = &[
    "user.name",
    "Event.EventData.TargetUserName",
    "Event.EventData.SubjectUserName",
    "Event.EventData.User",
];
const SOURCE_IP: &[&str] = &[
    "source.ip",
    "Event.EventData.IpAddress",
    "Event.EventData.SourceIp",
];
const DESTINATION_IP: &[&str] = &["destination.ip", "Event.EventData.DestinationIp"];
const PROCESS: &[&str] = &[
    "process.executable",
    "process.name",
    "Event.EventData.Image",
    "Event.EventData.NewProcessName",
];
const FILE_HASH: &[&str] = &[
    "file.hash.sha256",
    "process.hash.sha256",
    "file.hash.sha1",
    "process.hash.sha1",
    "file.hash.md5",
    "process.hash.md5",
];
/// Sysmon's `Hashes` (`SHA1=…,MD5=…,SHA256=…,IMPHASH=…`).
const SYSMON_HASHES: &str = "Event.EventData.Hashes";

/// A value that says "nothing here" in Windows and syslog records.
fn is_blank(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || t == "-" || t == "::" || t == "N/A"
}

fn first_text(event: &Event, paths: &[&str]) -> Option<String> {
    paths
        .iter()
        .filter_map(|p| event.get_str(p))
        .find(|s| !is_blank(s))
}

/// The preferred hash in a Sysmon `Hashes` value: SHA-256, else SHA-1, else MD5.
fn sysmon_hash(text: &str) -> Option<String> {
    let mut best: Option<(u8, &str)> = None;
    for part in text.split(',') {
        let Some((algo, value)) = part.split_once('=') else {
            continue;
        };
        let rank = match algo.trim().to_ascii_uppercase().as_str() {
            "SHA256" => 3,
            "SHA1" => 2,
            "MD5" => 1,
            _ => continue,
        };
        if !is_blank(value) && best.is_none_or(|(r, _)| rank > r) {
            best = Some((rank, value.trim()));
        }
    }
    best.map(|(_, v)| v.to_owned())
}

impl Entities {
    /// The entities of an event: ECS fields, else their EVTX equivalents (`Computer`,
    /// `TargetUserName`/`SubjectUserName`, `IpAddress`, `Image`, `Hashes`). Normalised.
    pub fn from_event(event: &Event) -> Entities {
        let file_hash = first_text(event, FILE_HASH).or_else(|| {
            event
                .get_str(SYSMON_HASHES)
                .as_deref()
                .and_then(sysmon_hash)
        });
        Entities {
            host: first_text(event, HOST),
            user: first_text(event, USER),
            source_ip: first_text(event, SOURCE_IP),
            destination_ip: first_text(event, DESTINATION_IP),
            process: first_text(event, PROCESS),
            file_hash,
        }
        .normalised()
    }

    /// The same entities in canonical form: trimmed, blanks dropped, host, user and hash
    /// lower-cased, IP addresses parsed and printed canonically (an unparsable address is
    /// kept lower-cased).
    pub fn normalised(self) -> Entities {
        fn clean(v: Option<String>, lower: bool) -> Option<String> {
            let v = v?;
            if is_blank(&v) {
                return None;
            }
            let t = v.trim();
            Some(if lower {
                t.to_lowercase()
            } else {
                t.to_owned()
            })
        }
        fn ip(v: Option<String>) -> Option<String> {
            let v = clean(v, true)?;
            // `::ffff:10.0.0.1` (IPv4-mapped, as Windows logs it) is the IPv4 address.
            match v.parse::<IpAddr>() {
                Ok(IpAddr::V6(v6)) => Some(match v6.to_ipv4_mapped() {
                    Some(v4) => v4.to_string(),
                    None => v6.to_string(),
                }),
                Ok(addr) => Some(addr.to_string()),
                Err(_) => Some(v),
            }
        }
        Entities {
            host: clean(self.host, true),
            user: clean(self.user, true),
            source_ip: ip(self.source_ip),
            destination_ip: ip(self.destination_ip),
            process: clean(self.process, false),
            file_hash: clean(self.file_hash, true),
        }
    }

    pub fn get(&self, kind: EntityKind) -> Option<&str> {
        match kind {
            EntityKind::Host => self.host.as_deref(),
            EntityKind::User => self.user.as_deref(),
            EntityKind::SourceIp => self.source_ip.as_deref(),
            EntityKind::DestinationIp => self.destination_ip.as_deref(),
            EntityKind::Process => self.process.as_deref(),
            EntityKind::FileHash => self.file_hash.as_deref(),
        }
    }

    pub fn set(&mut self, kind: EntityKind, value: Option<String>) {
        let slot = match kind {
            EntityKind::Host => &mut self.host,
            EntityKind::User => &mut self.user,
            EntityKind::SourceIp => &mut self.source_ip,
            EntityKind::DestinationIp => &mut self.destination_ip,
            EntityKind::Process => &mut self.process,
            EntityKind::FileHash => &mut self.file_hash,
        };
        *slot = value;
    }

    /// The present entities, in [`EntityKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (EntityKind, &str)> {
        EntityKind::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|v| (k, v)))
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// Most event ids a signal or an alert keeps.
pub const DEFAULT_MAX_EVENT_IDS: usize = 100;

/// One thing that may become an alert: a detection, a correlation firing, a baseline
/// anomaly or an intel hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub source: SignalSource,
    /// The rule's stable id (Sigma `id`, correlation name, baseline name, feed name).
    pub rule_id: String,
    pub rule_title: String,
    pub level: Level,
    /// Rule tags, ATT&CK ones included (`attack.t1059.001`, `attack.execution`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The rule's own risk score; the level's default when absent. A per-rule override in
    /// the settings wins over both.
    #[serde(default)]
    pub risk: Option<u32>,
    #[serde(default)]
    pub entities: Entities,
    /// The contributing events (only the first [`crate::DedupConfig::max_event_ids`] are kept).
    #[serde(default)]
    pub event_ids: Vec<EventId>,
    /// When it happened: the (last) contributing event's time. Windows are measured in
    /// this time, so a replay of old logs triages as it would have live.
    pub time: Timestamp,
    pub tenant: String,
    /// One line an analyst reads in a list.
    #[serde(default)]
    pub summary: String,
    /// Key fields of the contributing event(s), dotted names; suppressions can match them.
    #[serde(default)]
    pub fields: Map<String, Value>,
}

impl Signal {
    /// A signal with no entities, events, tags or fields yet, in the default tenant.
    pub fn new(
        source: SignalSource,
        rule_id: impl Into<String>,
        rule_title: impl Into<String>,
        level: Level,
        time: Timestamp,
    ) -> Signal {
        Signal {
            source,
            rule_id: rule_id.into(),
            rule_title: rule_title.into(),
            level,
            tags: Vec::new(),
            risk: None,
            entities: Entities::default(),
            event_ids: Vec::new(),
            time,
            tenant: rampart_model::DEFAULT_TENANT.to_owned(),
            summary: String::new(),
            fields: Map::new(),
        }
    }

    /// A signal for `event`: its tenant, time, id, entities and (when `fields` is given)
    /// the values at those dotted paths.
    pub fn for_event(
        source: SignalSource,
        rule_id: impl Into<String>,
        rule_title: impl Into<String>,
        level: Level,
        event: &Event,
        fields: &[&str],
    ) -> Signal {
        let mut signal = Signal::new(source, rule_id, rule_title, level, event.timestamp);
        signal.tenant = event.tenant.clone();
        signal.entities = Entities::from_event(event);
        signal.event_ids.push(event.id);
        for path in fields {
            if let Some(v) = get_path(&event.fields, path) {
                signal.fields.insert((*path).to_owned(), v.clone());
            }
        }
        signal
    }

    pub fn with_tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_entities(mut self, entities: Entities) -> Self {
        self.entities = entities.normalised();
        self
    }

    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    pub fn with_risk(mut self, risk: u32) -> Self {
        self.risk = Some(risk);
        self
    }

    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    pub fn with_field(mut self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.fields.insert(path.into(), value.into());
        self
    }

    pub fn with_event(mut self, id: EventId) -> Self {
        self.event_ids.push(id);
        self
    }
}

/// ATT&CK tactics in kill-chain order (Enterprise matrix), as Sigma tags spell them.
pub const TACTICS: [&str; 14] = [
    "reconnaissance",
    "resource_development",
    "initial_access",
    "execution",
    "persistence",
    "privilege_escalation",
    "defense_evasion",
    "credential_access",
    "discovery",
    "lateral_movement",
    "collection",
    "command_and_control",
    "exfiltration",
    "impact",
];

/// The ATT&CK tactics among `tags` (`attack.defense-evasion` and `attack.defense_evasion`
/// alike), in kill-chain order, each once, with its position in [`TACTICS`].
pub fn tactics(tags: &[String]) -> Vec<(usize, &'static str)> {
    let mut found: Vec<(usize, &'static str)> = Vec::new();
    for tag in tags {
        let Some(name) = tag
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("attack."))
            .and(tag.get(7..))
        else {
            continue;
        };
        let name = name.to_ascii_lowercase().replace('-', "_");
        if let Some(rank) = TACTICS.iter().position(|t| *t == name)
            && !found.iter().any(|(r, _)| *r == rank)
        {
            found.push((rank, TACTICS[rank]));
        }
    }
    found.sort_unstable();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::{Origin, OriginKind, Raw};
    use serde_json::json;

    fn event(fields: Value) -> Event {
        let mut ev = Event::new(Origin::new(OriginKind::Import, "test"), Raw::default());
        if let Value::Object(map) = fields {
            ev.fields = map;
        }
        ev
    }

    #[test]
    fn entities_come_from_ecs_then_evtx_names() {
        let cases = [
            (
                json!({"host": {"name": "WS01"}, "user": {"name": "Bob"},
                       "source": {"ip": "::ffff:10.0.0.5"}, "destination": {"ip": "2001:DB8::1"},
                       "process": {"executable": "C:\\Windows\\cmd.exe", "name": "cmd.exe"},
                       "file": {"hash": {"md5": "AA", "sha256": "BB"}}}),
                Entities {
                    host: Some("ws01".into()),
                    user: Some("bob".into()),
                    source_ip: Some("10.0.0.5".into()),
                    destination_ip: Some("2001:db8::1".into()),
                    process: Some("C:\\Windows\\cmd.exe".into()),
                    file_hash: Some("bb".into()),
                },
            ),
            (
                json!({"Event": {"System": {"Computer": "DC01.corp.local"},
                       "EventData": {"TargetUserName": "-", "SubjectUserName": "Admin",
                                     "IpAddress": "-", "Image": "C:\\x\\ps.exe",
                                     "Hashes": "MD5=11,SHA256=22,IMPHASH=33"}}}),
                Entities {
                    host: Some("dc01.corp.local".into()),
                    user: Some("admin".into()),
                    source_ip: None,
                    destination_ip: None,
                    process: Some("C:\\x\\ps.exe".into()),
                    file_hash: Some("22".into()),
                },
            ),
            (json!({"message": "nothing"}), Entities::default()),
        ];
        for (fields, expected) in cases {
            assert_eq!(
                Entities::from_event(&event(fields.clone())),
                expected,
                "{fields}"
            );
        }
    }

    #[test]
    fn tactics_are_found_in_kill_chain_order_once() {
        let tags: Vec<String> = [
            "attack.t1059.001",
            "attack.Lateral-Movement",
            "attack.execution",
            "attack.execution",
            "cve.2021-1",
            "attack",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            tactics(&tags),
            vec![(3, "execution"), (9, "lateral_movement")]
        );
    }

    #[test]
    fn names_parse_both_ways() {
        for level in Level::ALL {
            assert_eq!(Level::parse(level.as_str()), Some(level));
            assert_eq!(Level::from_rank(level.rank()), Some(level));
        }
        assert_eq!(Level::parse("INFO"), Some(Level::Informational));
        assert_eq!(Level::parse("urgent"), None);
        for kind in EntityKind::ALL {
            assert_eq!(EntityKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EntityKind::parse("source.ip"), Some(EntityKind::SourceIp));
        assert_eq!(SignalSource::parse("Intel"), Some(SignalSource::Intel));
    }
}
