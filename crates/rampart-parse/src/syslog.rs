//! Syslog: RFC 5424 through `syslog_loose`, RFC 3164 and its real-world variants by hand,
//! and content detection on the message body (CEF, LEEF, JSON, key=value, auditd).
//!
//! RFC 3164 is parsed here rather than by `syslog_loose`, which takes the tag of a line
//! with no host for the host (`<34>Oct 11 22:14:15 su: x` gives host `su`), keeps
//! `sshd(pam_unix)` as one app name, and resolves zone-less times only in chrono zones (no
//! IANA names without chrono-tz). RFC 5424 headers and structured data (with their
//! escapes) are left to `syslog_loose`.

use crate::util::{self, set};
use crate::{PResult, Parser, Reject, auth, time};
use rampart_model::{Event, ecs};
use serde_json::{Map, Value};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    Either,
    Rfc5424,
    Rfc3164,
}

pub(crate) fn parse(p: &Parser, text: &str, variant: Variant, ev: &mut Event) -> PResult {
    let (pri, rest) = priority(text)?;
    let is_5424 = pri.is_some() && {
        let b = rest.as_bytes();
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        (1..=2).contains(&digits) && b.get(digits) == Some(&b' ')
    };
    match variant {
        Variant::Rfc5424 if !is_5424 => Err(Cow::Borrowed(
            "not an rfc 5424 record: no version after the priority",
        )),
        Variant::Rfc5424 | Variant::Either if is_5424 => parse_5424(p, pri, rest, ev),
        _ => parse_3164(p, pri, rest, ev),
    }
}

/// `<PRI>` as (priority, rest); no `<` means no priority.
fn priority(text: &str) -> Result<(Option<u8>, &str), Reject> {
    let Some(rest) = text.strip_prefix('<') else {
        return Ok((None, text));
    };
    let Some(end) = rest.as_bytes().iter().take(5).position(|b| *b == b'>') else {
        return Err(Cow::Borrowed("syslog priority is not closed with '>'"));
    };
    let digits = &rest[..end];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Cow::Owned(format!(
            "syslog priority '<{digits}>' is not a number"
        )));
    }
    match digits.parse::<u16>() {
        Ok(n) if n <= 191 => Ok((Some(n as u8), &rest[end + 1..])),
        _ => Err(Cow::Owned(format!(
            "syslog priority {digits} out of range 0..=191"
        ))),
    }
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "debug",
];

/// The header fields of a syslog line, written into the event in one go: nested objects
/// are built here and inserted once, rather than walked path by path.
#[derive(Default)]
struct Header<'a> {
    pri: Option<u8>,
    version: Option<u32>,
    host: Option<&'a str>,
    app: Option<&'a str>,
    subsystem: Option<&'a str>,
    procid: Option<Cow<'a, str>>,
    pid: Option<u64>,
    msgid: Option<&'a str>,
    /// Host and program of the relay that forwarded the line (see [`Relayed`]).
    relay_host: Option<&'a str>,
    relay_app: Option<&'a str>,
}

impl<'a> Header<'a> {
    /// Program, subsystem and pid from an RFC 3164 tag such as `sshd(pam_unix)[19939]:`.
    fn set_tag(&mut self, tag: &'a str) {
        let (name, sub, pid) = split_tag(tag);
        self.app = Some(name).filter(|n| !n.is_empty());
        self.subsystem = sub;
        self.procid = pid.map(Cow::Borrowed);
        self.pid = pid.and_then(|p| p.parse().ok());
    }

    /// Make a relayed line's host and program the header's, keeping the relay's own as the
    /// relay; the line's message is what remains of the body.
    fn take_relayed(&mut self, inner: &Relayed<'a>) {
        self.relay_host = self.host.take();
        self.relay_app = self.app.take();
        self.set_tag(inner.tag);
        self.host = Some(inner.host);
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// Insert `obj` at the top-level `key`, merging into an object already there.
fn put(ev: &mut Event, key: &str, obj: Map<String, Value>) {
    match ev.fields.get_mut(key) {
        Some(Value::Object(existing)) => existing.extend(obj),
        _ => {
            ev.fields.insert(key.to_owned(), Value::Object(obj));
        }
    }
}

fn emit_header(ev: &mut Event, h: &Header<'_>) {
    let mut syslog = Map::with_capacity(8);
    if let Some(pri) = h.pri {
        let facility = usize::from(pri >> 3);
        let severity = usize::from(pri & 7);
        syslog.insert("priority".into(), Value::from(pri));
        let mut f = Map::with_capacity(2);
        f.insert("code".into(), Value::from(facility));
        f.insert("name".into(), s(FACILITIES[facility]));
        syslog.insert("facility".into(), Value::Object(f));
        let mut sev = Map::with_capacity(2);
        sev.insert("code".into(), Value::from(severity));
        sev.insert("name".into(), s(SEVERITIES[severity]));
        syslog.insert("severity".into(), Value::Object(sev));
    }
    if let Some(v) = h.version {
        syslog.insert("version".into(), Value::String(v.to_string()));
    }
    let mut process = Map::with_capacity(2);
    if let Some(app) = h.app.filter(|a| !util::is_placeholder(a)) {
        syslog.insert("appname".into(), s(app));
        process.insert("name".into(), s(app));
    }
    if let Some(procid) = h.procid.as_deref().filter(|p| !util::is_placeholder(p)) {
        syslog.insert("procid".into(), s(procid));
    }
    if let Some(pid) = h.pid {
        process.insert("pid".into(), Value::from(pid));
    }
    if let Some(msgid) = h.msgid.filter(|m| !util::is_placeholder(m)) {
        syslog.insert("msgid".into(), s(msgid));
    }
    if !syslog.is_empty() {
        let mut log = Map::with_capacity(1);
        log.insert("syslog".into(), Value::Object(syslog));
        put(ev, "log", log);
    }
    if !process.is_empty() {
        put(ev, "process", process);
    }
    if let Some(host) = h.host.filter(|h| !util::is_placeholder(h)) {
        let mut m = Map::with_capacity(1);
        m.insert("name".into(), s(host));
        put(ev, "host", m);
    }
    if let Some(sub) = h.subsystem {
        let mut m = Map::with_capacity(1);
        m.insert("subsystem".into(), s(sub));
        put(ev, "syslog", m);
    }
    let mut relay = Map::new();
    if let Some(host) = h.relay_host.filter(|h| !util::is_placeholder(h)) {
        relay.insert("hostname".into(), s(host));
    }
    if let Some(app) = h.relay_app.filter(|a| !util::is_placeholder(a)) {
        relay.insert("appname".into(), s(app));
    }
    if !relay.is_empty() {
        rampart_model::insert_path(&mut ev.fields, "log.syslog.relay", Value::Object(relay));
    }
}

fn parse_5424(p: &Parser, pri: Option<u8>, rest: &str, ev: &mut Event) -> PResult {
    let msg =
        syslog_loose::parse_message_with_year_exact(rest, |_| 1970, syslog_loose::Variant::RFC5424)
            .map_err(|_| Cow::Borrowed("invalid rfc 5424 header"))?;
    let mut header = Header {
        pri,
        host: msg.hostname,
        app: msg.appname,
        msgid: msg.msgid,
        ..Header::default()
    };
    if let syslog_loose::Protocol::RFC5424(version) = msg.protocol {
        header.version = Some(version);
    }
    match &msg.procid {
        Some(syslog_loose::ProcId::PID(pid)) => {
            header.procid = Some(Cow::Owned(pid.to_string()));
            header.pid = u64::try_from(*pid).ok();
        }
        Some(syslog_loose::ProcId::Name(name)) => header.procid = Some(Cow::Borrowed(name)),
        None => {}
    }
    let mut body = msg.msg.strip_prefix('\u{feff}').unwrap_or(msg.msg).trim();
    let inner = relayed(p, body);
    if let Some(inner) = &inner {
        header.take_relayed(inner);
        body = inner.msg;
    }
    emit_header(ev, &header);
    if let Some(ts) = msg.timestamp {
        let secs = ts.timestamp();
        let nanos = i64::from(ts.timestamp_subsec_nanos());
        ev.timestamp = rampart_model::Timestamp::from_nanos(
            secs.saturating_mul(1_000_000_000).saturating_add(nanos),
        );
    }
    if let Some(ts) = inner.and_then(|i| i.timestamp) {
        ev.timestamp = ts;
    }
    if !msg.structured_data.is_empty() {
        let sd = util::namespace(&mut ev.fields, "syslog.structured_data");
        for element in &msg.structured_data {
            let Value::Object(params) = sd
                .entry(element.id)
                .or_insert_with(|| Value::Object(Map::new()))
            else {
                continue;
            };
            for (name, value) in element.params() {
                util::push_literal(params, name, Value::String(value));
            }
        }
    }
    Ok(body_content(p, Base::Rfc5424, header.app, body, ev))
}

fn parse_3164(p: &Parser, pri: Option<u8>, rest: &str, ev: &mut Event) -> PResult {
    let rest = rest.trim_start_matches(' ');
    let mut timestamp = None;
    let mut has_timestamp = true;
    let after = if let Some((t, after)) = time::bsd(rest) {
        timestamp = time::resolve_bsd(p, &t);
        after
    } else if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let (token, after) = util::split_token(rest);
        match time::iso(token, &p.tz) {
            Some(ts) => {
                timestamp = Some(ts);
                after
            }
            None if pri.is_some() => {
                has_timestamp = false;
                rest
            }
            None => {
                return Err(Cow::Borrowed(
                    "not a syslog record: no priority and no timestamp",
                ));
            }
        }
    } else if pri.is_some() {
        has_timestamp = false;
        rest
    } else {
        return Err(Cow::Borrowed(
            "not a syslog record: no priority and no timestamp",
        ));
    };
    let after = after
        .strip_prefix(':')
        .unwrap_or(after)
        .trim_start_matches(' ');

    let mut host = None;
    let mut tag = None;
    let mut body = after;
    if !opens_with_payload(after) {
        let (first, rest1) = util::split_token(after);
        if is_tag(first) {
            tag = Some(first);
            body = rest1;
        } else if has_timestamp {
            host = Some(first);
            let rest1 = rest1.trim_start_matches(' ');
            body = rest1;
            if !opens_with_payload(rest1) {
                let (second, rest2) = util::split_token(rest1);
                if is_tag(second) {
                    tag = Some(second);
                    body = rest2;
                }
            }
        }
    }

    let mut header = Header {
        pri,
        host,
        ..Header::default()
    };
    if let Some(tag) = tag {
        header.set_tag(tag);
    }
    let mut body = body.trim();
    // A relay's tag need not end in a colon (rsyslog's imfile `Tag="authlog"` forwarded
    // in its default format gives `<133>2026-12-01T12:45:57+00:00 relay authlog Dec 10
    // 11:04:43 LabSZ sshd[25544]: …`): a bare word before a relayed line is that tag.
    let inner = relayed(p, body).or_else(|| {
        let (first, rest) = util::split_token(body);
        if header.app.is_some() || host.is_none() || first.is_empty() {
            return None;
        }
        let inner = relayed(p, rest.trim_start_matches(' '))?;
        header.app = Some(first);
        Some(inner)
    });
    if let Some(inner) = &inner {
        header.take_relayed(inner);
        body = inner.msg;
        timestamp = inner.timestamp.or(timestamp);
    }
    if let Some(ts) = timestamp {
        ev.timestamp = ts;
    }
    emit_header(ev, &header);
    Ok(body_content(p, Base::Rfc3164, header.app, body, ev))
}

/// A syslog line carried whole as the message of another: a relay that follows a log file
/// and forwards each line (rsyslog's imfile, syslog-ng's file source, NXLog's im_file)
/// sends `<133>1 2026-12-01T12:45:57Z relay authlog - - - Dec 10 11:04:43 LabSZ
/// sshd[25544]: Failed password for root from …`. The event is the inner line: its time,
/// host and program. Only a line with all three (a timestamp, a host, then a tag such as
/// `sshd[25544]:` or `cron:`) counts.
struct Relayed<'a> {
    timestamp: Option<rampart_model::Timestamp>,
    host: &'a str,
    tag: &'a str,
    msg: &'a str,
}

fn relayed<'a>(p: &Parser, body: &'a str) -> Option<Relayed<'a>> {
    let (timestamp, after) = if let Some((t, after)) = time::bsd(body) {
        (time::resolve_bsd(p, &t), after)
    } else if body.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let (token, after) = util::split_token(body);
        // A date and time, not a bare number.
        if !token.contains('T') || !token.contains(':') {
            return None;
        }
        (Some(time::iso(token, &p.tz)?), after)
    } else {
        return None;
    };
    let (host, rest) = util::split_token(after.trim_start_matches(' '));
    if host.is_empty() || is_tag(host) || util::is_placeholder(host) {
        return None;
    }
    let (tag, msg) = util::split_token(rest.trim_start_matches(' '));
    if !is_tag(tag) {
        return None;
    }
    Some(Relayed {
        timestamp,
        host,
        tag,
        msg: msg.trim(),
    })
}

/// Whether `text` is a whole syslog line with a time, a host and a program tag (after an
/// optional `<PRI>`): what a shipper that tails a log file puts in its record's message.
pub(crate) fn is_log_line(p: &Parser, text: &str) -> bool {
    let rest = match priority(text) {
        Ok((Some(_), rest)) => rest,
        _ => text,
    };
    relayed(p, rest).is_some()
}

/// A message body that opens with a structured payload rather than a host or tag.
fn opens_with_payload(s: &str) -> bool {
    s.starts_with("CEF:") || s.starts_with("LEEF:") || s.starts_with('{')
}

/// `tag:` or `name[pid]` (with or without the colon).
fn is_tag(token: &str) -> bool {
    if token.len() > 1 && token.ends_with(':') {
        return true;
    }
    token.ends_with(']')
        && token.find('[').is_some_and(|i| {
            i > 0
                && token[i + 1..token.len() - 1]
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        })
}

/// `sshd(pam_unix)[19939]:` → (`sshd`, Some(`pam_unix`), Some(`19939`)).
fn split_tag(tag: &str) -> (&str, Option<&str>, Option<&str>) {
    let tag = tag.strip_suffix(':').unwrap_or(tag);
    let (base, pid) = match tag
        .strip_suffix(']')
        .and_then(|t| t.rfind('[').map(|i| (t, i)))
    {
        Some((t, i)) => (&t[..i], Some(&t[i + 1..])),
        None => (tag, None),
    };
    let (name, sub) = match base
        .strip_suffix(')')
        .and_then(|b| b.find('(').map(|i| (b, i)))
    {
        Some((b, i)) if i > 0 => (&b[..i], Some(&b[i + 1..])),
        _ => (base, None),
    };
    (
        name,
        sub.filter(|s| !s.is_empty()),
        pid.filter(|s| !s.is_empty()),
    )
}

#[derive(Clone, Copy)]
enum Base {
    Rfc3164,
    Rfc5424,
}

/// Parse a structured body when there is one, fill `message`, and return the parser name.
/// A body that looks structured but does not parse keeps the syslog fields and notes why in
/// `error.message`.
fn body_content(
    p: &Parser,
    base: Base,
    app: Option<&str>,
    body: &str,
    ev: &mut Event,
) -> &'static str {
    let (kind, result) = if body.starts_with("CEF:") {
        ("cef", crate::cef::parse_body(p, body, ev))
    } else if body.starts_with("LEEF:") {
        ("leef", crate::leef::parse_body(p, body, ev))
    } else if body.starts_with('{') {
        ("json", crate::json::parse_body(p, body, ev))
    } else if crate::auditd::looks_like(body) {
        ("auditd", crate::auditd::parse_body(body, ev))
    } else if crate::kv::looks_like(body) {
        ("kv", crate::kv::parse_body(body, ev))
    } else if crate::access::looks_like_access_log(body) {
        // nginx/Apache `access_log syslog:` output: keep the syslog host and time.
        let (host, ts) = (ev.fields.get("host").cloned(), ev.timestamp);
        let result = crate::access::parse(p, body, ev).map(|_| ());
        if let Some(host) = host {
            ev.fields.insert("host".to_owned(), host);
        }
        ev.timestamp = ts;
        ("access_log", result)
    } else {
        auth::extract(app, body, ev);
        ("", Ok(()))
    };
    if !ev.fields.contains_key(ecs::MESSAGE) {
        ev.fields
            .insert(ecs::MESSAGE.to_owned(), Value::String(body.to_owned()));
    }
    match (result, base) {
        (Err(reason), base) => {
            set(ev, ecs::ERROR_MESSAGE, format!("{kind} body: {reason}"));
            match base {
                Base::Rfc3164 => "rfc3164",
                Base::Rfc5424 => "rfc5424",
            }
        }
        (Ok(()), Base::Rfc3164) => match kind {
            "cef" => "rfc3164+cef",
            "leef" => "rfc3164+leef",
            "json" => "rfc3164+json",
            "auditd" => "rfc3164+auditd",
            "kv" => "rfc3164+kv",
            "access_log" => "rfc3164+access_log",
            _ => "rfc3164",
        },
        (Ok(()), Base::Rfc5424) => match kind {
            "cef" => "rfc5424+cef",
            "leef" => "rfc5424+leef",
            "json" => "rfc5424+json",
            "auditd" => "rfc5424+auditd",
            "kv" => "rfc5424+kv",
            "access_log" => "rfc5424+access_log",
            _ => "rfc5424",
        },
    }
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
            default_year: Some(2024),
            timezone: None,
        })
        .expect("valid config");
        p.parse(line.as_bytes(), Origin::new(OriginKind::SyslogUdp, "test"))
    }

    /// (line, parser, expected fields as (path, json value), expected timestamp or "")
    type Case = (
        &'static str,
        &'static str,
        Vec<(&'static str, Value)>,
        &'static str,
    );

    fn cases() -> Vec<Case> {
        vec![
            (
                "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
                "rfc3164",
                vec![
                    ("log.syslog.priority", json!(34)),
                    ("log.syslog.facility.name", json!("auth")),
                    ("log.syslog.severity.code", json!(2)),
                    ("host.name", json!("mymachine")),
                    ("process.name", json!("su")),
                    (
                        "message",
                        json!("'su root' failed for lonvick on /dev/pts/8"),
                    ),
                ],
                "2024-10-11T22:14:15Z",
            ),
            (
                "<34>Oct 11 22:14:15 su: no host here",
                "rfc3164",
                vec![
                    ("process.name", json!("su")),
                    ("message", json!("no host here")),
                ],
                "2024-10-11T22:14:15Z",
            ),
            (
                "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; rhost=218.188.2.4   ",
                "rfc3164",
                vec![
                    ("host.name", json!("combo")),
                    ("process.name", json!("sshd")),
                    ("process.pid", json!(19939)),
                    ("syslog.subsystem", json!("pam_unix")),
                    ("log.syslog.procid", json!("19939")),
                    ("source.ip", json!("218.188.2.4")),
                    (
                        "message",
                        json!("authentication failure; rhost=218.188.2.4"),
                    ),
                ],
                "2024-06-14T15:16:01Z",
            ),
            (
                "<13>2024-03-01T10:20:30.5+01:00 web01 nginx[77]: [warn] upstream slow",
                "rfc3164",
                vec![
                    ("host.name", json!("web01")),
                    ("process.pid", json!(77)),
                    ("message", json!("[warn] upstream slow")),
                ],
                "2024-03-01T09:20:30.5Z",
            ),
            (
                "Jun 19 04:09:11 combo syslogd 1.4.1: restart.",
                "rfc3164",
                vec![
                    ("host.name", json!("combo")),
                    ("message", json!("syslogd 1.4.1: restart.")),
                ],
                "2024-06-19T04:09:11Z",
            ),
            (
                "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][meta a=\"x\\\"y\"] \u{feff}An application event",
                "rfc5424",
                vec![
                    ("log.syslog.version", json!("1")),
                    ("log.syslog.facility.name", json!("local4")),
                    ("log.syslog.severity.name", json!("notice")),
                    ("host.name", json!("mymachine.example.com")),
                    ("log.syslog.appname", json!("evntslog")),
                    ("log.syslog.msgid", json!("ID47")),
                    (
                        "syslog.structured_data.exampleSDID@32473.eventID",
                        json!("1011"),
                    ),
                    ("syslog.structured_data.meta.a", json!("x\"y")),
                    ("message", json!("An application event")),
                ],
                "2003-10-11T22:14:15.003Z",
            ),
            (
                "<14>1 2024-01-01T00:00:00Z - - 42 - - plain",
                "rfc5424",
                vec![("process.pid", json!(42)), ("message", json!("plain"))],
                "2024-01-01T00:00:00Z",
            ),
            (
                "<134>Jan 1 10:00:00 fw01 CEF:0|Security|threatmanager|1.0|100|worm stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",
                "rfc3164+cef",
                vec![
                    ("host.name", json!("fw01")),
                    ("observer.vendor", json!("Security")),
                    ("source.ip", json!("10.0.0.1")),
                    ("source.port", json!(1232)),
                    ("message", json!("worm stopped")),
                ],
                "2024-01-01T10:00:00Z",
            ),
            (
                "<134>Jan 1 10:00:00 CEF:0|V|P|1|7|no host|3|act=blocked",
                "rfc3164+cef",
                vec![("event.action", json!("blocked"))],
                "2024-01-01T10:00:00Z",
            ),
            (
                "<14>Jan 1 10:00:00 host app: {\"user\":\"bob\",\"msg\":\"hi\"}",
                "rfc3164+json",
                vec![
                    ("user", json!("bob")),
                    ("message", json!("hi")),
                    ("process.name", json!("app")),
                ],
                "2024-01-01T10:00:00Z",
            ),
            (
                "<14>Jan 1 10:00:00 fw date=2024-01-01 devname=\"fw 1\" srcip=10.1.1.1 dstport=443 action=deny",
                "rfc3164+kv",
                vec![
                    ("kv.devname", json!("fw 1")),
                    ("source.ip", json!("10.1.1.1")),
                    ("destination.port", json!(443)),
                    ("event.action", json!("deny")),
                ],
                "2024-01-01T10:00:00Z",
            ),
            (
                "<14>Jan 1 10:00:00 host app: CEF:0|broken",
                "rfc3164",
                vec![("message", json!("CEF:0|broken"))],
                "2024-01-01T10:00:00Z",
            ),
        ]
    }

    #[test]
    fn syslog_lines_parse_into_expected_fields() {
        for (line, parser, fields, ts) in cases() {
            let ev = run(Format::Auto, line);
            assert_eq!(ev.parse_error, None, "{line}");
            assert_eq!(ev.parser, parser, "{line}");
            for (path, want) in fields {
                assert_eq!(
                    ev.get(path).map(|v| v.into_owned()),
                    Some(want),
                    "{line}: {path}"
                );
            }
            if !ts.is_empty() {
                assert_eq!(ev.timestamp.to_rfc3339(), ts, "{line}");
            }
        }
    }

    /// A relay forwarding the lines of a log file (rsyslog imfile, RFC 5424 template):
    /// the event is the inner line, the relay stays in `log.syslog.relay.*`.
    #[test]
    fn relayed_lines_are_the_event_and_the_relay_is_kept() {
        let ev = run(
            Format::Auto,
            "<133>1 2026-12-01T12:45:57.881471+00:00 vm authlog - - - Dec 10 11:04:43 LabSZ sshd[25544]: Failed password for root from 183.62.140.253 port 5022 ssh2",
        );
        assert_eq!(
            (ev.parse_error.as_deref(), ev.parser.as_str()),
            (None, "rfc5424")
        );
        for (path, want) in [
            ("host.name", json!("LabSZ")),
            ("process.name", json!("sshd")),
            ("process.pid", json!(25544)),
            ("log.syslog.relay.hostname", json!("vm")),
            ("log.syslog.relay.appname", json!("authlog")),
            ("log.syslog.appname", json!("sshd")),
            ("log.syslog.procid", json!("25544")),
            ("log.syslog.facility.name", json!("local0")),
            ("event.outcome", json!("failure")),
            ("user.name", json!("root")),
            ("source.ip", json!("183.62.140.253")),
            (
                "message",
                json!("Failed password for root from 183.62.140.253 port 5022 ssh2"),
            ),
        ] {
            assert_eq!(ev.get(path).map(|v| v.into_owned()), Some(want), "{path}");
        }
        assert_eq!(ev.timestamp.to_rfc3339(), "2024-12-10T11:04:43Z");

        // RFC 3164 outside, an ISO time inside, a structured body within.
        let ev = run(
            Format::Auto,
            "<14>Dec  1 12:45:57 relay1 applog: 2024-05-01T10:00:00Z fw01 firewall[7]: CEF:0|Acme|FW|1.0|100|blocked|5|src=10.0.0.9 act=deny",
        );
        assert_eq!(ev.parser, "rfc3164+cef");
        assert_eq!(ev.get_str("host.name").as_deref(), Some("fw01"));
        assert_eq!(ev.get_str("process.name").as_deref(), Some("firewall"));
        assert_eq!(
            ev.get_str("log.syslog.relay.hostname").as_deref(),
            Some("relay1")
        );
        assert_eq!(
            ev.get_str("log.syslog.appname").as_deref(),
            Some("firewall")
        );
        assert_eq!(ev.get_str("source.ip").as_deref(), Some("10.0.0.9"));
        assert_eq!(ev.timestamp.to_rfc3339(), "2024-05-01T10:00:00Z");

        // rsyslog's default forwarding format, with an input tag that has no colon.
        let ev = run(
            Format::Auto,
            "<133>2026-12-01T12:45:57.881471+00:00 vm authlog Dec 10 11:04:43 LabSZ sshd[25544]: Accepted password for deploy from 198.51.100.7 port 41000 ssh2",
        );
        assert_eq!(ev.get_str("host.name").as_deref(), Some("LabSZ"));
        assert_eq!(ev.get_str("log.syslog.appname").as_deref(), Some("sshd"));
        assert_eq!(
            ev.get_str("log.syslog.relay.appname").as_deref(),
            Some("authlog")
        );
        assert_eq!(
            ev.get_str("log.syslog.relay.hostname").as_deref(),
            Some("vm")
        );
        assert_eq!(ev.get_str("event.outcome").as_deref(), Some("success"));
        assert_eq!(ev.timestamp.to_rfc3339(), "2024-12-10T11:04:43Z");

        // Messages that merely start with a date or a number are not relayed lines.
        for (line, message) in [
            (
                "<13>1 2024-05-01T10:00:00Z h backup - - - Dec 10 run finished without errors",
                "Dec 10 run finished without errors",
            ),
            (
                "<13>1 2024-05-01T10:00:00Z h backup - - - 12345 files: copied",
                "12345 files: copied",
            ),
            (
                "<13>1 2024-05-01T10:00:00Z h backup - - - Dec 10 11:04:43 all: done",
                "Dec 10 11:04:43 all: done",
            ),
        ] {
            let ev = run(Format::Auto, line);
            assert_eq!(ev.get_str("host.name").as_deref(), Some("h"), "{line}");
            assert_eq!(ev.get_str("message").as_deref(), Some(message), "{line}");
            assert_eq!(ev.get_str("log.syslog.relay.hostname"), None, "{line}");
        }
    }

    #[test]
    fn access_log_inside_syslog_keeps_syslog_host_and_time() {
        let p = Parser::new(crate::ParserConfig::default()).expect("default parser");
        let line = br#"<190>1 2024-05-01T10:00:00Z web01 nginx - - - 198.18.0.7 - - [01/May/2024:09:59:59 +0000] "GET /login HTTP/1.1" 404 512 "-" "curl/8.4.0""#;
        let ev = p.parse(
            line,
            rampart_model::Origin::new(rampart_model::OriginKind::Import, "t"),
        );
        assert_eq!(ev.parser, "rfc5424+access_log");
        assert_eq!(ev.get_str("host.name").as_deref(), Some("web01"));
        assert_eq!(ev.get_str("source.ip").as_deref(), Some("198.18.0.7"));
        assert_eq!(
            ev.get_str("http.response.status_code").as_deref(),
            Some("404")
        );
        assert_eq!(ev.timestamp.to_rfc3339(), "2024-05-01T10:00:00Z");
    }

    #[test]
    fn broken_structured_body_is_noted_not_fatal() {
        let ev = run(Format::Syslog, "<14>Jan 1 10:00:00 host app: CEF:0|broken");
        assert!(
            ev.get_str("error.message")
                .unwrap_or_default()
                .starts_with("cef body:"),
            "{:?}",
            ev.fields
        );
    }

    #[test]
    fn bad_syslog_records_are_rejected() {
        let cases: &[(Format, &str, &str)] = &[
            (Format::Syslog, "<13", "syslog priority is not closed"),
            (
                Format::Syslog,
                "<>Oct 11 22:14:15 h a: b",
                "syslog priority '<>' is not a number",
            ),
            (
                Format::Syslog,
                "<192>Oct 11 22:14:15 h a: b",
                "syslog priority 192 out of range",
            ),
            (Format::Syslog, "just text", "not a syslog record"),
            (
                Format::Rfc5424,
                "<13>Oct 11 22:14:15 h a: b",
                "not an rfc 5424 record",
            ),
            (
                Format::Rfc5424,
                "<13>1 notatime h a - - - x",
                "invalid rfc 5424 header",
            ),
        ];
        for (format, line, want) in cases {
            let ev = run(*format, line);
            let err = ev.parse_error.unwrap_or_default();
            assert!(err.starts_with(want), "{line}: {err}");
            assert_eq!(ev.parser, "raw");
        }
    }

    #[test]
    fn tags_split() {
        assert_eq!(
            split_tag("sshd(pam_unix)[19939]:"),
            ("sshd", Some("pam_unix"), Some("19939"))
        );
        assert_eq!(split_tag("kernel:"), ("kernel", None, None));
        assert_eq!(
            split_tag("postfix/smtpd[1]:"),
            ("postfix/smtpd", None, Some("1"))
        );
        assert!(is_tag("sshd[12]"));
        assert!(!is_tag("[12]"));
        assert!(!is_tag("host"));
    }
}
