//! Windows EVTX files: every record as an [`Event`], with `Event.System.*`, `Event.EventData.*`
//! and `Event.UserData.*` as the `evtx` crate renders them, attributes normalised, plus ECS.
//!
//! # Attribute layout
//! The `evtx` crate renders XML attributes as `#attributes` and element text as `#text`.
//! Rampart normalises that once, here:
//! - an element with attributes and no text gets its attributes as plain keys:
//!   `Event.System.Provider.Name`, `Event.System.TimeCreated.SystemTime`,
//!   `Event.System.Execution.ProcessID`;
//! - an element with attributes and text keeps the text as its value and moves the
//!   attributes beside it under `<Name>_attributes`: `Event.System.EventID` is the number
//!   and `Event.System.EventID_attributes.Qualifiers` the qualifier;
//! - an element with attributes and children gets the attributes merged into it (children
//!   win on a clash).
//!
//! A damaged chunk or record yields one `Err` item and reading goes on with the next.

use crate::util::{self, set, set_str};
use crate::{Error, EvtxError, EvtxRecordError};
use ::evtx::{EvtxChunkData, EvtxParser, ParserSettings};
use rampart_model::{Event, Origin, Raw, Timestamp, ecs, ecs::outcome, get_path};
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

/// Read every record of the EVTX file at `path`.
pub fn read_file(path: &Path, origin: Origin) -> Result<EvtxRecords, EvtxError> {
    let name = path.display().to_string();
    let parser = EvtxParser::from_path(path).map_err(|e| Error::EvtxOpen {
        source_name: name.clone(),
        reason: chain(&e),
    })?;
    Ok(EvtxRecords::new(parser, origin, name))
}

/// Read every record of an EVTX file held in memory (tests, uploads).
pub fn read_bytes(bytes: Vec<u8>, origin: Origin) -> Result<EvtxRecords, EvtxError> {
    let name = origin.path.clone().unwrap_or_else(|| "<memory>".to_owned());
    let parser = EvtxParser::from_buffer(bytes).map_err(|e| Error::EvtxOpen {
        source_name: name.clone(),
        reason: chain(&e),
    })?;
    Ok(EvtxRecords::new(parser, origin, name))
}

/// An error and its causes, joined with `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The records of one EVTX file, read a chunk (64 KiB, a few hundred records) at a time.
/// Chunks as the `evtx` crate reads them, from a file or a buffer.
type Chunks = Box<dyn Iterator<Item = Result<EvtxChunkData, ::evtx::err::EvtxError>> + Send>;

pub struct EvtxRecords {
    chunks: Chunks,
    settings: Arc<ParserSettings>,
    origin: Origin,
    source_name: String,
    chunk_no: u64,
    pending: VecDeque<Result<Event, EvtxRecordError>>,
}

impl std::fmt::Debug for EvtxRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvtxRecords")
            .field("source", &self.source_name)
            .field("chunk", &self.chunk_no)
            .finish()
    }
}

impl EvtxRecords {
    fn new<R>(parser: EvtxParser<R>, origin: Origin, source_name: String) -> Self
    where
        R: std::io::Read + std::io::Seek + Send + 'static,
    {
        let settings = Arc::new(
            ParserSettings::new()
                .num_threads(1)
                .indent(false)
                .separate_json_attributes(false),
        );
        EvtxRecords {
            chunks: Box::new(parser.with_configuration((*settings).clone()).into_chunks()),
            settings,
            origin,
            source_name,
            chunk_no: 0,
            pending: VecDeque::new(),
        }
    }

    fn chunk_error(&self, chunk: u64, reason: String) -> EvtxRecordError {
        Error::EvtxChunk {
            source_name: self.source_name.clone(),
            chunk,
            reason,
        }
    }

    /// Render every record of one chunk into `pending`.
    fn read_chunk(&mut self, mut data: EvtxChunkData) {
        let chunk_no = data.number.unwrap_or(self.chunk_no);
        let settings = Arc::clone(&self.settings);
        let origin = &self.origin;
        let source_name = &self.source_name;
        let pending = &mut self.pending;
        // The evtx crate is defensive, but a panic on hostile bytes must not take the
        // caller down: it becomes an error for this chunk.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut chunk = match data.parse(settings) {
                Ok(chunk) => chunk,
                Err(e) => return Err(chain(&e)),
            };
            for record in chunk.iter() {
                let item = record
                    .and_then(|r| r.into_json())
                    .map_err(|e| {
                        let record = match &e {
                            ::evtx::err::EvtxError::FailedToParseRecord { record_id, .. } => {
                                record_id.to_string()
                            }
                            _ => "?".to_owned(),
                        };
                        Error::EvtxRecord {
                            source_name: source_name.clone(),
                            chunk: chunk_no,
                            record,
                            reason: chain(&e),
                        }
                    })
                    .and_then(|rendered| {
                        to_event(&rendered.data, rendered.timestamp, origin.clone()).map_err(
                            |reason| Error::EvtxRecord {
                                source_name: source_name.clone(),
                                chunk: chunk_no,
                                record: rendered.event_record_id.to_string(),
                                reason,
                            },
                        )
                    });
                pending.push_back(item);
            }
            Ok(())
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => {
                let err = self.chunk_error(chunk_no, reason);
                self.pending.push_back(Err(err));
            }
            Err(_) => {
                let err =
                    self.chunk_error(chunk_no, "the evtx reader panicked on this chunk".into());
                self.pending.push_back(Err(err));
            }
        }
    }
}

impl Iterator for EvtxRecords {
    type Item = Result<Event, EvtxRecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            let chunk = self.chunks.next()?;
            let chunk_no = self.chunk_no;
            self.chunk_no += 1;
            match chunk {
                Ok(data) => self.read_chunk(data),
                Err(e) => return Some(Err(self.chunk_error(chunk_no, chain(&e)))),
            }
        }
    }
}

/// One rendered record (the evtx crate's JSON) as an event.
fn to_event(
    json_text: &str,
    header_time: jiff::Timestamp,
    origin: Origin,
) -> Result<Event, String> {
    let mut value: Value =
        serde_json::from_str(json_text).map_err(|e| format!("rendered json is invalid: {e}"))?;
    normalise(&mut value);
    let Value::Object(fields) = value else {
        return Err("rendered record is not an object".to_owned());
    };
    let mut ev = Event::new(origin, Raw::Text(json_text.to_owned()));
    ev.parser = "evtx".to_owned();
    ev.fields = fields;
    ev.timestamp = Timestamp::from_jiff(header_time);
    extract_ecs(&mut ev);
    Ok(ev)
}

/// Apply the attribute layout described in the module documentation, recursively.
pub(crate) fn normalise(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let mut out = Map::with_capacity(map.len());
            for key in keys {
                let Some(mut child) = map.shift_remove(&key) else {
                    continue;
                };
                normalise(&mut child);
                if let Value::Object(obj) = &mut child
                    && let Some(attrs) = obj.shift_remove("#attributes")
                {
                    if let Some(text) = obj.shift_remove("#text") {
                        out.insert(key.clone(), text);
                        out.insert(format!("{key}_attributes"), attrs);
                        continue;
                    }
                    if let Value::Object(attrs) = attrs {
                        for (k, v) in attrs {
                            obj.entry(k).or_insert(v);
                        }
                    }
                }
                out.insert(key, child);
            }
            *map = out;
        }
        _ => {}
    }
}

fn text_at(ev: &Event, path: &str) -> Option<String> {
    get_path(&ev.fields, path)
        .and_then(util::value_text)
        .map(|v| v.into_owned())
        .filter(|v| !util::is_placeholder(v))
}

fn u64_at(ev: &Event, path: &str) -> Option<u64> {
    get_path(&ev.fields, path).and_then(util::value_u64)
}

/// `DOMAIN\user` → user.domain and user.name; a bare name → user.name.
fn set_user(ev: &mut Event, value: &str) {
    match value.split_once('\\') {
        Some((domain, name)) => {
            set_str(ev, ecs::USER_DOMAIN, domain);
            set_str(ev, ecs::USER_NAME, name);
        }
        None => set_str(ev, ecs::USER_NAME, value),
    }
}

fn set_executable(ev: &mut Event, exe_path: &str, name_path: &str, value: &str) {
    if util::is_placeholder(value) {
        return;
    }
    set(ev, exe_path, value);
    set(ev, name_path, util::basename(value));
}

const LEVELS: [&str; 6] = [
    "information",
    "critical",
    "error",
    "warning",
    "information",
    "verbose",
];

/// Where a rendering of a Windows event keeps the system fields and the event data.
pub(crate) struct WindowsShape {
    time: &'static [&'static str],
    event_id: &'static [&'static str],
    provider: &'static [&'static str],
    computer: &'static [&'static str],
    level: &'static [&'static str],
    /// Prefix of an event data item's path (`Event.EventData.` or nothing when flat).
    data: &'static str,
}

/// EVTX as this module renders it.
pub(crate) const EVTX: WindowsShape = WindowsShape {
    time: &["Event.System.TimeCreated.SystemTime"],
    event_id: &["Event.System.EventID"],
    provider: &["Event.System.Provider.Name"],
    computer: &["Event.System.Computer"],
    level: &["Event.System.Level"],
    data: "Event.EventData.",
};

/// Windows events exported as flat JSON objects, system and data fields side by side:
/// NXLog's `im_msvistalog` (`Hostname`, `SourceName`, `EventTime`), the OTRF Security
/// Datasets (Mordor) and similar converters (`Computer`, `Provider_Name`). The time is
/// read by the JSON parser (`@timestamp`, then these names).
pub(crate) const FLAT_JSON: WindowsShape = WindowsShape {
    time: &[],
    event_id: &["EventID"],
    provider: &["SourceName", "ProviderName", "Provider_Name"],
    computer: &["Hostname", "Computer"],
    level: &[],
    data: "",
};

fn first_text(ev: &Event, paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| text_at(ev, p))
}

fn first_u64(ev: &Event, paths: &[&str]) -> Option<u64> {
    paths.iter().find_map(|p| u64_at(ev, p))
}

/// ECS fields from `Event.System` and, for well-known events, `Event.EventData`.
fn extract_ecs(ev: &mut Event) {
    extract_windows_ecs(ev, &EVTX);
}

/// ECS fields of a Windows event rendered as `shape` says: host, provider, event code,
/// and for well-known events (Sysmon 1 and 3, Security 4688, 4624 and 4625) the process,
/// user, network and outcome fields.
pub(crate) fn extract_windows_ecs(ev: &mut Event, shape: &WindowsShape) {
    if let Some(ts) = first_text(ev, shape.time).and_then(|t| Timestamp::parse_rfc3339(&t).ok()) {
        ev.timestamp = ts;
    }
    let event_id = first_u64(ev, shape.event_id);
    if let Some(id) = event_id {
        set(ev, ecs::EVENT_CODE, id.to_string());
    }
    let provider = first_text(ev, shape.provider).unwrap_or_default();
    if !provider.is_empty() {
        set(ev, ecs::EVENT_PROVIDER, provider.as_str());
    }
    if let Some(computer) = first_text(ev, shape.computer) {
        set(ev, ecs::HOST_NAME, computer);
    }
    if let Some(name) = first_u64(ev, shape.level).and_then(|l| LEVELS.get(l as usize)) {
        set(ev, ecs::LOG_LEVEL, *name);
    }
    set(ev, ecs::EVENT_KIND, ecs::kind::EVENT);
    let prefix = shape.data;
    let data = |name: &str| format!("{prefix}{name}");
    let sysmon = provider == "Microsoft-Windows-Sysmon";
    let security = provider == "Microsoft-Windows-Security-Auditing";
    match (sysmon, security, event_id) {
        (true, _, Some(1)) => {
            set(ev, ecs::EVENT_CATEGORY, json!(["process"]));
            set(ev, ecs::EVENT_ACTION, "process_created");
            if let Some(v) = text_at(ev, &data("Image")) {
                set_executable(ev, ecs::PROCESS_EXECUTABLE, ecs::PROCESS_NAME, &v);
            }
            if let Some(v) = text_at(ev, &data("CommandLine")) {
                set(ev, ecs::PROCESS_COMMAND_LINE, v);
            }
            if let Some(v) = u64_at(ev, &data("ProcessId")) {
                set(ev, ecs::PROCESS_PID, v);
            }
            if let Some(v) = text_at(ev, &data("ParentImage")) {
                set_executable(
                    ev,
                    ecs::PROCESS_PARENT_EXECUTABLE,
                    ecs::PROCESS_PARENT_NAME,
                    &v,
                );
            }
            if let Some(v) = text_at(ev, &data("ParentCommandLine")) {
                set(ev, ecs::PROCESS_PARENT_COMMAND_LINE, v);
            }
            if let Some(v) = u64_at(ev, &data("ParentProcessId")) {
                set(ev, ecs::PROCESS_PARENT_PID, v);
            }
            if let Some(v) = text_at(ev, &data("User")) {
                set_user(ev, &v);
            }
            if let Some(v) = text_at(ev, &data("Hashes")) {
                hashes(ev, &v);
            }
        }
        (true, _, Some(3)) => {
            set(ev, ecs::EVENT_CATEGORY, json!(["network"]));
            set(ev, ecs::EVENT_ACTION, "network_connection");
            if let Some(v) = text_at(ev, &data("Image")) {
                set_executable(ev, ecs::PROCESS_EXECUTABLE, ecs::PROCESS_NAME, &v);
            }
            if let Some(v) = u64_at(ev, &data("ProcessId")) {
                set(ev, ecs::PROCESS_PID, v);
            }
            if let Some(v) = text_at(ev, &data("User")) {
                set_user(ev, &v);
            }
            if let Some(v) = text_at(ev, &data("Protocol")).and_then(|p| util::transport(&p)) {
                set(ev, ecs::NETWORK_TRANSPORT, v);
            }
            if let Some(v) = text_at(ev, &data("SourceIp")) {
                util::set_ip(ev, ecs::SOURCE_IP, &v);
            }
            if let Some(v) = u64_at(ev, &data("SourcePort")) {
                set(ev, ecs::SOURCE_PORT, v);
            }
            if let Some(v) = text_at(ev, &data("SourceHostname")) {
                set(ev, ecs::SOURCE_DOMAIN, v);
            }
            if let Some(v) = text_at(ev, &data("DestinationIp")) {
                util::set_ip(ev, ecs::DESTINATION_IP, &v);
            }
            if let Some(v) = u64_at(ev, &data("DestinationPort")) {
                set(ev, ecs::DESTINATION_PORT, v);
            }
            if let Some(v) = text_at(ev, &data("DestinationHostname")) {
                set(ev, ecs::DESTINATION_DOMAIN, v);
            }
            if let Some(v) = text_at(ev, &data("Initiated")) {
                let dir = if v.eq_ignore_ascii_case("true") {
                    "egress"
                } else {
                    "ingress"
                };
                set(ev, ecs::NETWORK_DIRECTION, dir);
            }
        }
        (_, true, Some(4688)) => {
            set(ev, ecs::EVENT_CATEGORY, json!(["process"]));
            set(ev, ecs::EVENT_ACTION, "process_created");
            if let Some(v) = text_at(ev, &data("NewProcessName")) {
                set_executable(ev, ecs::PROCESS_EXECUTABLE, ecs::PROCESS_NAME, &v);
            }
            if let Some(v) = text_at(ev, &data("CommandLine")) {
                set(ev, ecs::PROCESS_COMMAND_LINE, v);
            }
            if let Some(v) = u64_at(ev, &data("NewProcessId")) {
                set(ev, ecs::PROCESS_PID, v);
            }
            if let Some(v) = text_at(ev, &data("ParentProcessName")) {
                set_executable(
                    ev,
                    ecs::PROCESS_PARENT_EXECUTABLE,
                    ecs::PROCESS_PARENT_NAME,
                    &v,
                );
            }
            if let Some(v) = u64_at(ev, &data("ProcessId")) {
                set(ev, ecs::PROCESS_PARENT_PID, v);
            }
            if let Some(v) = text_at(ev, &data("SubjectUserName")) {
                set(ev, ecs::USER_NAME, v);
            }
            if let Some(v) = text_at(ev, &data("SubjectDomainName")) {
                set(ev, ecs::USER_DOMAIN, v);
            }
        }
        (_, true, Some(id @ (4624 | 4625))) => {
            set(ev, ecs::EVENT_CATEGORY, json!(["authentication"]));
            let (action, result) = if id == 4624 {
                ("logged-in", outcome::SUCCESS)
            } else {
                ("logon-failed", outcome::FAILURE)
            };
            set(ev, ecs::EVENT_ACTION, action);
            set(ev, ecs::EVENT_OUTCOME, result);
            if let Some(v) = text_at(ev, &data("TargetUserName")) {
                set(ev, ecs::USER_NAME, v);
            }
            if let Some(v) = text_at(ev, &data("TargetDomainName")) {
                set(ev, ecs::USER_DOMAIN, v);
            }
            if let Some(v) = text_at(ev, &data("IpAddress")) {
                util::set_ip(ev, ecs::SOURCE_IP, &v);
            }
            if let Some(v) = u64_at(ev, &data("IpPort")).filter(|p| *p > 0) {
                set(ev, ecs::SOURCE_PORT, v);
            }
            if let Some(v) = text_at(ev, &data("WorkstationName")) {
                set(ev, ecs::SOURCE_DOMAIN, v);
            }
        }
        _ => {}
    }
}

/// Sysmon `Hashes`: `SHA1=…,MD5=…,SHA256=…,IMPHASH=…` → process.hash.*.
fn hashes(ev: &mut Event, value: &str) {
    for part in value.split(',') {
        if let Some((algo, hash)) = part.split_once('=') {
            let algo = algo.trim().to_ascii_lowercase();
            if matches!(algo.as_str(), "md5" | "sha1" | "sha256" | "imphash") {
                set(
                    ev,
                    &format!("process.hash.{algo}"),
                    hash.trim().to_ascii_lowercase(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_normalised() {
        let mut v = json!({
            "Event": {
                "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
                "System": {
                    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770385F}"}},
                    "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 4688},
                    "TimeCreated": {"#attributes": {"SystemTime": "2019-03-19T23:34:26.148914Z"}},
                    "Level": 4,
                    "Computer": "WIN-1",
                    "Security": {"#attributes": {"UserID": "S-1-5-18"}}
                },
                "EventData": {"Image": "C:\\Windows\\System32\\cmd.exe", "ProcessId": 1234}
            }
        });
        normalise(&mut v);
        let Value::Object(map) = &v else {
            panic!("object")
        };
        for (path, want) in [
            (
                "Event.xmlns",
                json!("http://schemas.microsoft.com/win/2004/08/events/event"),
            ),
            (
                "Event.System.Provider.Name",
                json!("Microsoft-Windows-Sysmon"),
            ),
            ("Event.System.EventID", json!(4688)),
            ("Event.System.EventID_attributes.Qualifiers", json!(16384)),
            (
                "Event.System.TimeCreated.SystemTime",
                json!("2019-03-19T23:34:26.148914Z"),
            ),
            ("Event.System.Security.UserID", json!("S-1-5-18")),
        ] {
            assert_eq!(get_path(map, path), Some(&want), "{path}");
        }
        let text = serde_json::to_string(&v).expect("serialise");
        assert!(!text.contains("#attributes"), "{text}");
    }

    #[test]
    fn garbage_is_an_open_error() {
        let origin = Origin::new(rampart_model::OriginKind::Import, "t");
        let err = read_bytes(b"not an evtx file at all".to_vec(), origin).expect_err("garbage");
        assert!(
            err.to_string()
                .starts_with("cannot open evtx file <memory>"),
            "{err}"
        );
    }
}
