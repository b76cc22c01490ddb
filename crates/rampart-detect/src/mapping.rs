//! Log sources and field mappings as data: which Sigma log source an event belongs to and where a Sigma field lives in it (`mappings/*.yml`).
//!
//! A mapping file describes one event *schema* (Windows EVTX as Rampart parses it, ECS from
//! Winlogbeat, Linux syslog/auditd, web access logs). An event is given the first schema
//! whose `detect` path it has. Within the schema, `channels` and their `events` give the
//! event's Sigma log source (product, services, categories) from its channel and event id,
//! and may rename fields (Security 4688's `NewProcessName` is Sigma's `Image`).

use crate::document::{Document, FieldKey, FieldRef};
use crate::error::Error;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// The mapping files shipped with the crate, in the order schemas are tried.
pub const BUILTIN: &[(&str, &str)] = &[
    ("windows.yml", include_str!("../mappings/windows.yml")),
    (
        "windows_flat.yml",
        include_str!("../mappings/windows_flat.yml"),
    ),
    (
        "ecs_windows.yml",
        include_str!("../mappings/ecs_windows.yml"),
    ),
    ("linux.yml", include_str!("../mappings/linux.yml")),
    (
        "linux_auditd.yml",
        include_str!("../mappings/linux_auditd.yml"),
    ),
    (
        "firewall_cef.yml",
        include_str!("../mappings/firewall_cef.yml"),
    ),
    (
        "firewall_leef.yml",
        include_str!("../mappings/firewall_leef.yml"),
    ),
    ("suricata.yml", include_str!("../mappings/suricata.yml")),
    ("web.yml", include_str!("../mappings/web.yml")),
    ("generic.yml", include_str!("../mappings/generic.yml")),
];

/// One schema as written in a mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub name: String,
    /// Tried in ascending order; ties keep file order.
    #[serde(default)]
    pub priority: i32,
    /// A path whose presence selects this schema; none = matches every event.
    #[serde(default)]
    pub detect: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
    /// Where the channel (Windows channel, syslog program …) is read from.
    #[serde(default)]
    pub channel_field: Option<String>,
    /// Where the event id is read from (number or numeric string).
    #[serde(default)]
    pub event_id_field: Option<String>,
    /// Sigma field → document paths tried in order.
    #[serde(default)]
    pub fields: HashMap<String, OneOrMany>,
    /// Paths tried for fields not in `fields`; `{field}` is replaced by the Sigma name.
    #[serde(default)]
    pub default_paths: Vec<String>,
    /// Services and categories every event of the schema has.
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub channels: Vec<Channel>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Channel names, compared case-insensitively.
    pub names: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub events: Vec<EventClass>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventClass {
    pub ids: Vec<u64>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    /// Field renames for these events only.
    #[serde(default)]
    pub fields: HashMap<String, OneOrMany>,
}

/// A set of schemas: the built-in ones, optionally replaced or extended from a directory.
#[derive(Debug, Clone)]
pub struct Mappings {
    pub(crate) schemas: Vec<Schema>,
}

impl Mappings {
    /// The mappings shipped with the crate.
    pub fn builtin() -> Self {
        let mut schemas = Vec::new();
        for (name, text) in BUILTIN {
            match Self::parse(name, text) {
                Ok(s) => schemas.push(s),
                // The shipped files are tested; a broken one must not stop detection.
                Err(e) => tracing::error!(error = %e, "built-in mapping is invalid"),
            }
        }
        let mut m = Mappings { schemas };
        m.sort();
        m
    }

    /// Parse one mapping file.
    pub fn parse(name: &str, text: &str) -> Result<Schema, Error> {
        yaml_serde::from_str::<Schema>(text).map_err(|e| Error::Mapping {
            name: name.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The built-in mappings, with every `*.yml` of `dir` added; a file whose schema
    /// `name` equals a built-in one replaces it.
    pub fn with_overrides(dir: &Path) -> Result<Self, Error> {
        let mut m = Self::builtin();
        let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let schema = Self::parse(&path.display().to_string(), &text)?;
            m.schemas.retain(|s| s.name != schema.name);
            m.schemas.push(schema);
        }
        m.sort();
        Ok(m)
    }

    /// Mappings made of exactly these schemas.
    pub fn from_schemas(schemas: Vec<Schema>) -> Self {
        let mut m = Mappings { schemas };
        m.sort();
        m
    }

    fn sort(&mut self) {
        self.schemas.sort_by_key(|s| s.priority);
    }

    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }
}

impl Default for Mappings {
    fn default() -> Self {
        Self::builtin()
    }
}

/// The Sigma log source of a class of events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSourceClass {
    pub product: Option<String>,
    pub services: Vec<String>,
    pub categories: Vec<String>,
}

impl LogSourceClass {
    /// Whether a rule with this log source runs on events of the class.
    pub fn admits(&self, ls: &crate::LogSource) -> bool {
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        if let Some(p) = &ls.product
            && !self.product.as_deref().is_some_and(|q| eq(p, q))
        {
            return false;
        }
        if let Some(c) = &ls.category
            && !self.categories.iter().any(|q| eq(c, q))
        {
            return false;
        }
        if let Some(s) = &ls.service
            && !self.services.iter().any(|q| eq(s, q))
        {
            return false;
        }
        true
    }
}

/// One class of events a schema distinguishes, with its field resolution.
#[derive(Debug, Clone)]
pub(crate) struct ClassSpec {
    pub schema: usize,
    pub logsource: LogSourceClass,
    /// Field renames on top of the schema's.
    pub fields: HashMap<String, Vec<String>>,
}

/// A schema ready for classification at evaluation time.
#[derive(Debug)]
pub(crate) struct CompiledSchema {
    pub detect: Option<FieldKey>,
    pub channel: Option<FieldKey>,
    pub event_id: Option<FieldKey>,
    /// Exact channel name → (channel index); lower-cased names for the fallback scan.
    pub channel_names: FxHashMap<String, usize>,
    pub channel_lower: Vec<(String, usize)>,
    /// Per channel: event id → class index; and the class for other ids.
    pub channel_events: Vec<(FxHashMap<u64, usize>, usize)>,
    /// The class of events whose channel is unknown.
    pub default_class: usize,
    /// The channel is read where the schema is detected (syslog's program name): the
    /// value found by detection is reused instead of being looked up again.
    pub channel_is_detect: bool,
}

impl CompiledSchema {
    pub fn classify<D: Document + ?Sized>(&self, doc: &D) -> usize {
        let Some(ch_key) = &self.channel else {
            return self.default_class;
        };
        self.classify_channel(doc, doc.field(ch_key))
    }

    /// Classify an event whose `detect` path held `detected`.
    pub fn classify_detected<D: Document + ?Sized>(
        &self,
        doc: &D,
        detected: FieldRef<'_>,
    ) -> usize {
        if self.channel_is_detect {
            self.classify_channel(doc, detected)
        } else {
            self.classify(doc)
        }
    }

    fn classify_channel<D: Document + ?Sized>(&self, doc: &D, channel: FieldRef<'_>) -> usize {
        self.classify_values(channel, || {
            self.event_id
                .as_ref()
                .map_or(FieldRef::Missing, |k| doc.field(k))
        })
    }

    /// Classify an event of this schema from its channel value and (read only when the
    /// channel distinguishes event ids) its event id value.
    pub fn classify_values<'a>(
        &self,
        channel: FieldRef<'_>,
        event_id: impl FnOnce() -> FieldRef<'a>,
    ) -> usize {
        if self.channel.is_none() {
            return self.default_class;
        }
        let FieldRef::Str(ch) = channel else {
            return self.default_class;
        };
        let idx = match self.channel_names.get(ch) {
            Some(i) => *i,
            None => match self
                .channel_lower
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(ch))
            {
                Some((_, i)) => *i,
                None => return self.default_class,
            },
        };
        let (by_id, other) = &self.channel_events[idx];
        if by_id.is_empty() {
            return *other;
        }
        let id = match event_id() {
            FieldRef::Int(i) => u64::try_from(i).ok(),
            FieldRef::UInt(u) => Some(u),
            FieldRef::Str(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        id.and_then(|id| by_id.get(&id).copied()).unwrap_or(*other)
    }
}

fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = a.to_vec();
    for x in b {
        if !out.iter().any(|y| y.eq_ignore_ascii_case(x)) {
            out.push(x.clone());
        }
    }
    out
}

/// Expand the schemas into classes. With `by_logsource == false` every schema has one
/// class admitting every rule (used to compare with engines that do no routing).
pub(crate) fn compile_classes(
    m: &Mappings,
    by_logsource: bool,
) -> (Vec<CompiledSchema>, Vec<ClassSpec>) {
    let mut schemas = Vec::new();
    let mut classes = Vec::new();
    for (si, s) in m.schemas.iter().enumerate() {
        let base = LogSourceClass {
            product: s.product.clone(),
            services: s.services.clone(),
            categories: s.categories.clone(),
        };
        let default_class = classes.len();
        classes.push(ClassSpec {
            schema: si,
            logsource: base.clone(),
            fields: HashMap::new(),
        });
        let mut cs = CompiledSchema {
            detect: s.detect.as_deref().map(FieldKey::new),
            channel: s.channel_field.as_deref().map(FieldKey::new),
            event_id: s.event_id_field.as_deref().map(FieldKey::new),
            channel_names: FxHashMap::default(),
            channel_lower: Vec::new(),
            channel_events: Vec::new(),
            default_class,
            channel_is_detect: s.detect.is_some() && s.detect == s.channel_field,
        };
        if by_logsource {
            for ch in &s.channels {
                let ci = cs.channel_events.len();
                let ch_class = LogSourceClass {
                    product: base.product.clone(),
                    services: union(&base.services, &ch.services),
                    categories: union(&base.categories, &ch.categories),
                };
                let other = classes.len();
                classes.push(ClassSpec {
                    schema: si,
                    logsource: ch_class.clone(),
                    fields: HashMap::new(),
                });
                let mut by_id = FxHashMap::default();
                for ev in &ch.events {
                    let idx = classes.len();
                    classes.push(ClassSpec {
                        schema: si,
                        logsource: LogSourceClass {
                            product: ch_class.product.clone(),
                            services: union(&ch_class.services, &ev.services),
                            categories: union(&ch_class.categories, &ev.categories),
                        },
                        fields: ev
                            .fields
                            .iter()
                            .map(|(k, v)| (k.clone(), v.to_vec()))
                            .collect(),
                    });
                    for id in &ev.ids {
                        by_id.entry(*id).or_insert(idx);
                    }
                }
                cs.channel_events.push((by_id, other));
                for n in &ch.names {
                    cs.channel_names.insert(n.clone(), ci);
                    cs.channel_lower.push((n.to_ascii_lowercase(), ci));
                }
            }
        } else {
            cs.channel = None;
            cs.channel_is_detect = false;
        }
        schemas.push(cs);
    }
    (schemas, classes)
}

/// The document paths of Sigma field `name` in `class`.
pub(crate) fn resolve_field(m: &Mappings, class: &ClassSpec, name: &str) -> FieldKey {
    if let Some(paths) = class.fields.get(name) {
        return FieldKey::with_candidates(paths);
    }
    let schema = &m.schemas[class.schema];
    if let Some(paths) = schema.fields.get(name) {
        return FieldKey::with_candidates(&paths.to_vec());
    }
    if schema.default_paths.is_empty() {
        return FieldKey::new(name);
    }
    let paths: Vec<String> = schema
        .default_paths
        .iter()
        .map(|p| p.replace("{field}", name))
        .collect();
    FieldKey::with_candidates(&paths)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_files_parse() {
        for (name, text) in BUILTIN {
            Mappings::parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(Mappings::builtin().schemas.len(), BUILTIN.len());
    }

    fn class_of(doc: &serde_json::Value) -> LogSourceClass {
        let m = Mappings::builtin();
        let (schemas, classes) = compile_classes(&m, true);
        let si = schemas
            .iter()
            .position(|s| s.detect.as_ref().is_none_or(|k| !doc.field(k).is_missing()))
            .unwrap_or(0);
        classes[schemas[si].classify(doc)].logsource.clone()
    }

    fn win(channel: &str, id: u64) -> serde_json::Value {
        json!({"Event": {"System": {"Channel": channel, "EventID": id}, "EventData": {}}})
    }

    #[test]
    fn windows_classes() {
        let sysmon = "Microsoft-Windows-Sysmon/Operational";
        let cases: &[(serde_json::Value, &str, &str)] = &[
            (win(sysmon, 1), "process_creation", "sysmon"),
            (win(sysmon, 3), "network_connection", "sysmon"),
            (win(sysmon, 13), "registry_set", "sysmon"),
            (win(sysmon, 13), "registry_event", "sysmon"),
            (win(sysmon, 22), "dns_query", "sysmon"),
            (win("security", 4688), "process_creation", "security"),
            (
                win("Microsoft-Windows-PowerShell/Operational", 4104),
                "ps_script",
                "powershell",
            ),
            (
                win("Windows PowerShell", 400),
                "ps_classic_start",
                "powershell-classic",
            ),
        ];
        for (doc, category, service) in cases {
            let c = class_of(doc);
            assert_eq!(c.product.as_deref(), Some("windows"));
            assert!(c.categories.iter().any(|x| x == category), "{doc} {c:?}");
            assert!(c.services.iter().any(|x| x == service), "{doc} {c:?}");
        }
        let other = class_of(&win("Security", 4624));
        assert!(other.categories.is_empty());
        assert_eq!(other.services, ["security"]);
        // The same classes for flat exports (NXLog, OTRF), the event id a number or text.
        for (doc, category, service) in [
            (
                json!({"Channel": sysmon, "EventID": 1}),
                "process_creation",
                "sysmon",
            ),
            (
                json!({"Channel": sysmon, "EventID": "22"}),
                "dns_query",
                "sysmon",
            ),
            (
                json!({"Channel": "Security", "EventID": 4688}),
                "process_creation",
                "security",
            ),
        ] {
            let c = class_of(&doc);
            assert_eq!(c.product.as_deref(), Some("windows"), "{doc}");
            assert!(c.categories.iter().any(|x| x == category), "{doc} {c:?}");
            assert!(c.services.iter().any(|x| x == service), "{doc} {c:?}");
        }
    }

    #[test]
    fn flat_windows_fields() {
        let m = Mappings::builtin();
        let (schemas, classes) = compile_classes(&m, true);
        let doc = json!({"Channel": "Security", "EventID": 4688});
        let si = m
            .schemas()
            .iter()
            .position(|s| s.name == "windows_flat")
            .expect("flat schema");
        let class = &classes[schemas[si].classify(&doc)];
        let key = resolve_field(&m, class, "Image");
        assert_eq!(key.paths().next(), Some("NewProcessName"));
        let key = resolve_field(&m, class, "CommandLine");
        assert_eq!(key.paths().next(), Some("CommandLine"));
        let key = resolve_field(&m, class, "Computer");
        assert_eq!(key.paths().collect::<Vec<_>>(), ["Computer", "Hostname"]);
    }

    #[test]
    fn network_and_linux_classes() {
        /// (event, product, services, categories)
        type Case<'a> = (
            serde_json::Value,
            Option<&'a str>,
            &'a [&'a str],
            &'a [&'a str],
        );
        let cases: &[Case<'_>] = &[
            (
                json!({"cef": {"name": "deny"}, "destination": {"port": 22}}),
                None,
                &[],
                &["firewall"],
            ),
            (
                // CEF inside syslog with a program name is still a firewall record.
                json!({"cef": {}, "log": {"syslog": {"appname": "fw"}}}),
                None,
                &[],
                &["firewall"],
            ),
            (json!({"leef": {}}), None, &[], &["firewall"]),
            (
                json!({"suricata": {"eve": {"event_type": "alert"}}, "http": {"request": {"method": "GET"}}}),
                Some("suricata"),
                &["alert"],
                &[],
            ),
            (
                json!({"suricata": {"eve": {"event_type": "http"}}, "http": {"request": {"method": "GET"}}}),
                Some("suricata"),
                &["http"],
                &["webserver", "proxy"],
            ),
            (
                json!({"log": {"syslog": {"appname": "crontab"}}}),
                Some("linux"),
                &["cron", "syslog"],
                &[],
            ),
            (
                json!({"log": {"syslog": {"appname": "gpasswd"}}}),
                Some("linux"),
                &["auth", "syslog"],
                &[],
            ),
        ];
        for (doc, product, services, categories) in cases {
            let c = class_of(doc);
            assert_eq!(c.product.as_deref(), *product, "{doc}");
            let mut got = c.services.clone();
            got.sort();
            let mut want: Vec<String> = services.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(got, want, "{doc}");
            assert_eq!(c.categories, *categories, "{doc}");
        }
    }

    #[test]
    fn security_4688_renames() {
        let m = Mappings::builtin();
        let (schemas, classes) = compile_classes(&m, true);
        let doc = win("Security", 4688);
        let class = &classes[schemas[0].classify(&doc)];
        let key = resolve_field(&m, class, "Image");
        assert_eq!(key.paths().next(), Some("Event.EventData.NewProcessName"));
        let key = resolve_field(&m, class, "CommandLine");
        assert_eq!(key.paths().next(), Some("Event.EventData.CommandLine"));
    }
}
