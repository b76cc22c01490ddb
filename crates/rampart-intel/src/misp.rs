//! MISP event JSON and MISP feed exports (`manifest.json` plus one `{uuid}.json` per event).
//!
//! Attribute types taken: `ip-src`, `ip-dst` (addresses or networks), `ip-src|port`,
//! `ip-dst|port`, `domain`, `hostname`, `hostname|port`, `domain|ip` (both halves), `url`,
//! `md5`, `sha1`, `sha256`, `filename|md5`, `filename|sha1`, `filename|sha256`,
//! `email`, `email-src`, `email-dst`, `email-reply-to`, `whois-registrant-email`.
//! Attributes with `to_ids: false` or `deleted: true` are skipped (counted). Tags of the
//! event and the attribute become tags, except galaxy tags: `misp-galaxy:mitre-attack-pattern="… - T1059"`
//! (and the other `mitre-*attack-pattern` galaxies) give ATT&CK references,
//! `misp-galaxy:malpedia="…"`, `mitre-malware`, `ransomware`, `rat`, `banker`, `botnet`
//! and `stealer` give malware references. Confidence comes from the event's
//! `threat_level_id`: 1 (high) → 85, 2 (medium) → 65, 3 (low) → 40, else the default.

use crate::IntelError;
use crate::feed::{ParseContext, ParsedFeed, parse_time};
use crate::indicator::{Indicator, IndicatorKind, KindHint, Reference, normalise_hinted};
use rampart_model::Timestamp;
use serde_json::Value;

/// Parse a MISP event document: `{"Event": …}`, `{"response": [{"Event": …}]}` or an
/// array of `{"Event": …}`.
pub fn parse_event_json(bytes: &[u8], ctx: &ParseContext<'_>) -> Result<ParsedFeed, IntelError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| IntelError::Json {
        context: format!("misp event of feed '{}'", ctx.source),
        source: e,
    })?;
    let mut out = ParsedFeed::default();
    let events: Vec<&Value> = match &doc {
        Value::Object(o) if o.contains_key("Event") => vec![&doc],
        Value::Object(o) => match o.get("response") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => {
                return Err(IntelError::Format {
                    context: format!("misp event of feed '{}'", ctx.source),
                    reason: "no 'Event' object".into(),
                });
            }
        },
        Value::Array(a) => a.iter().collect(),
        _ => {
            return Err(IntelError::Format {
                context: format!("misp event of feed '{}'", ctx.source),
                reason: "not a JSON object or array".into(),
            });
        }
    };
    for (i, wrapper) in events.into_iter().enumerate() {
        match wrapper.get("Event") {
            Some(ev @ Value::Object(_)) => event(ev, ctx, &mut out),
            _ => out
                .skipped
                .add(format!("event {i}"), "no 'Event' object", None),
        }
    }
    Ok(out)
}

struct EventInfo {
    uuid: String,
    tags: Vec<String>,
    refs: Vec<Reference>,
    confidence: u8,
    date: Option<Timestamp>,
    info: Option<String>,
}

fn event(ev: &Value, ctx: &ParseContext<'_>, out: &mut ParsedFeed) {
    let uuid = ev
        .get("uuid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let mut info = EventInfo {
        uuid,
        tags: Vec::new(),
        refs: Vec::new(),
        confidence: match ev.get("threat_level_id").and_then(as_int) {
            Some(1) => 85,
            Some(2) => 65,
            Some(3) => 40,
            _ => ctx.default_confidence,
        },
        date: parse_time(ev.get("date")).or_else(|| parse_time(ev.get("timestamp"))),
        info: ev.get("info").and_then(Value::as_str).map(|s| {
            let mut s = s.to_owned();
            crate::feed::truncate_chars(&mut s, 1000);
            s
        }),
    };
    collect_tags(ev.get("Tag"), &mut info.tags, &mut info.refs);
    if let Some(Value::Array(galaxies)) = ev.get("Galaxy") {
        for g in galaxies {
            let gtype = g.get("type").and_then(Value::as_str).unwrap_or("");
            if let Some(Value::Array(clusters)) = g.get("GalaxyCluster") {
                for c in clusters {
                    if let Some(v) = c.get("value").and_then(Value::as_str) {
                        galaxy_reference(gtype, v, &mut info.refs);
                    }
                }
            }
        }
    }
    if let Some(Value::Array(attrs)) = ev.get("Attribute") {
        for (i, a) in attrs.iter().enumerate() {
            attribute(a, &format!("{} attribute {i}", info.uuid), &info, ctx, out);
        }
    }
    if let Some(Value::Array(objects)) = ev.get("Object") {
        for (j, o) in objects.iter().enumerate() {
            if let Some(Value::Array(attrs)) = o.get("Attribute") {
                for (i, a) in attrs.iter().enumerate() {
                    attribute(
                        a,
                        &format!("{} object {j} attribute {i}", info.uuid),
                        &info,
                        ctx,
                        out,
                    );
                }
            }
        }
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.as_str() {
            "1" | "true" | "True" => Some(true),
            "0" | "false" | "False" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn collect_tags(tags: Option<&Value>, out: &mut Vec<String>, refs: &mut Vec<Reference>) {
    let Some(Value::Array(tags)) = tags else {
        return;
    };
    for t in tags {
        let Some(name) = t.get("name").and_then(Value::as_str) else {
            continue;
        };
        if let Some(rest) = name.strip_prefix("misp-galaxy:") {
            if let Some((gtype, value)) = rest.split_once('=') {
                galaxy_reference(gtype, value.trim_matches('"'), refs);
            }
        } else if !out.iter().any(|x| x == name) {
            out.push(name.to_owned());
        }
    }
}

/// `PowerShell - T1059.001` in an attack-pattern galaxy → `T1059.001`; a malware galaxy's
/// value → the malware name.
fn galaxy_reference(gtype: &str, value: &str, refs: &mut Vec<Reference>) {
    let r = if gtype.contains("attack-pattern") {
        match attack_id_suffix(value) {
            Some(id) => Reference::Attack(id.to_owned()),
            None => return,
        }
    } else if matches!(
        gtype,
        "malpedia" | "mitre-malware" | "ransomware" | "rat" | "banker" | "botnet" | "stealer"
    ) || gtype.ends_with("-malware")
    {
        let name = value.split(" - S").next().unwrap_or(value).trim();
        if name.is_empty() {
            return;
        }
        Reference::Malware(name.to_owned())
    } else {
        return;
    };
    if !refs.contains(&r) {
        refs.push(r);
    }
}

/// The trailing `T1234` or `T1234.567` of a galaxy cluster value.
pub(crate) fn attack_id_suffix(v: &str) -> Option<&str> {
    let id = v.rsplit(" - ").next()?.trim();
    let b = id.as_bytes();
    let ok_main = b.len() >= 5 && b[0] == b'T' && b[1..5].iter().all(u8::is_ascii_digit);
    let ok_sub =
        b.len() == 5 || (b.len() == 9 && b[5] == b'.' && b[6..9].iter().all(u8::is_ascii_digit));
    (ok_main && ok_sub).then_some(id)
}

fn attribute(
    a: &Value,
    record: &str,
    ev: &EventInfo,
    ctx: &ParseContext<'_>,
    out: &mut ParsedFeed,
) {
    let record = match a.get("uuid").and_then(Value::as_str) {
        Some(u) => u.to_owned(),
        None => record.to_owned(),
    };
    let Some(atype) = a.get("type").and_then(Value::as_str) else {
        out.skipped.add(record, "attribute without a type", None);
        return;
    };
    let Some(value) = a.get("value").and_then(Value::as_str) else {
        out.skipped
            .add(record, "attribute without a string value", None);
        return;
    };
    if as_bool(a.get("deleted")) == Some(true) {
        out.skipped.add(record, "deleted attribute", None);
        return;
    }
    if as_bool(a.get("to_ids")) == Some(false) {
        out.skipped.add(record, "to_ids is false", None);
        return;
    }
    let parts: Vec<(KindHint, &str)> = match atype {
        "ip-src" | "ip-dst" => vec![(KindHint::AnyIp, value)],
        "ip-src|port" | "ip-dst|port" => vec![(KindHint::AnyIp, first(value))],
        "domain" | "hostname" => vec![(KindHint::Kind(IndicatorKind::Domain), value)],
        "hostname|port" => vec![(KindHint::Kind(IndicatorKind::Domain), first(value))],
        "domain|ip" => match value.split_once('|') {
            Some((d, ip)) => vec![
                (KindHint::Kind(IndicatorKind::Domain), d),
                (KindHint::AnyIp, ip),
            ],
            None => vec![(KindHint::Kind(IndicatorKind::Domain), value)],
        },
        "url" => vec![(KindHint::Kind(IndicatorKind::Url), value)],
        "md5" => vec![(KindHint::Kind(IndicatorKind::Md5), value)],
        "sha1" => vec![(KindHint::Kind(IndicatorKind::Sha1), value)],
        "sha256" => vec![(KindHint::Kind(IndicatorKind::Sha256), value)],
        "filename|md5" => vec![(KindHint::Kind(IndicatorKind::Md5), second(value))],
        "filename|sha1" => vec![(KindHint::Kind(IndicatorKind::Sha1), second(value))],
        "filename|sha256" => vec![(KindHint::Kind(IndicatorKind::Sha256), second(value))],
        "email" | "email-src" | "email-dst" | "email-reply-to" | "whois-registrant-email" => {
            vec![(KindHint::Kind(IndicatorKind::Email), value)]
        }
        _ => {
            out.skipped
                .add(record, "unsupported attribute type", Some(atype));
            return;
        }
    };
    let mut tags = ev.tags.clone();
    let mut refs = ev.refs.clone();
    collect_tags(a.get("Tag"), &mut tags, &mut refs);
    let last_seen = parse_time(a.get("last_seen"))
        .or_else(|| parse_time(a.get("timestamp")))
        .or(ev.date)
        .unwrap_or(ctx.now);
    let first_seen = parse_time(a.get("first_seen"))
        .or(ev.date)
        .unwrap_or(last_seen)
        .min(last_seen);
    let comment = a
        .get("comment")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    for (hint, v) in parts {
        let (kind, value) = match normalise_hinted(hint, v) {
            Ok(kv) => kv,
            Err(e) => {
                out.skipped
                    .add(record.clone(), "invalid attribute value", Some(&e));
                continue;
            }
        };
        let mut ind = Indicator {
            kind,
            value,
            source: ctx.source.to_owned(),
            confidence: ev.confidence,
            first_seen,
            last_seen,
            valid_until: None,
            tags: Vec::new(),
            references: refs.clone(),
            description: comment.clone().or_else(|| ev.info.clone()),
            external_id: Some(record.clone()),
        };
        for t in &tags {
            ind.add_tag(t);
        }
        out.indicators.push(ind);
    }
}

fn first(v: &str) -> &str {
    v.split('|').next().unwrap_or(v)
}

fn second(v: &str) -> &str {
    v.split_once('|').map_or(v, |(_, h)| h)
}

/// Read MISP feed files by name (`manifest.json`, `{uuid}.json`): from a directory or a
/// base URL.
pub trait FeedFiles {
    fn read(&self, name: &str) -> Result<Vec<u8>, IntelError>;
}

/// A MISP feed export on disk.
pub struct DirFeed<'a>(pub &'a std::path::Path);

impl FeedFiles for DirFeed<'_> {
    fn read(&self, name: &str) -> Result<Vec<u8>, IntelError> {
        let path = self.0.join(name);
        let meta = std::fs::metadata(&path).map_err(|e| IntelError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        if meta.len() > crate::feed::MAX_DOCUMENT_BYTES as u64 {
            return Err(IntelError::TooLarge {
                what: path.display().to_string(),
                size: meta.len(),
                limit: crate::feed::MAX_DOCUMENT_BYTES as u64,
            });
        }
        std::fs::read(&path).map_err(|e| IntelError::Io {
            path: path.display().to_string(),
            source: e,
        })
    }
}

/// Parse a MISP feed: read `manifest.json`, then each event whose manifest `timestamp` is
/// newer than `since` (all when `None`). Returns the indicators and the newest manifest
/// timestamp seen, to pass as `since` next time. An event file that is missing or broken
/// is a counted skip; a missing or broken manifest is an error.
pub fn parse_feed(
    files: &dyn FeedFiles,
    ctx: &ParseContext<'_>,
    since: Option<i64>,
) -> Result<(ParsedFeed, Option<i64>), IntelError> {
    let manifest_bytes = files.read("manifest.json")?;
    let manifest: Value =
        serde_json::from_slice(&manifest_bytes).map_err(|e| IntelError::Json {
            context: format!("misp feed manifest of '{}'", ctx.source),
            source: e,
        })?;
    let Value::Object(entries) = manifest else {
        return Err(IntelError::Format {
            context: format!("misp feed manifest of '{}'", ctx.source),
            reason: "not a JSON object of events by uuid".into(),
        });
    };
    let mut out = ParsedFeed::default();
    let mut newest = since;
    for (uuid, meta) in &entries {
        if !is_uuid(uuid) {
            out.skipped
                .add(uuid.clone(), "manifest key is not a uuid", None);
            continue;
        }
        let ts = meta.get("timestamp").and_then(as_int);
        if let (Some(s), Some(t)) = (since, ts)
            && t <= s
        {
            continue;
        }
        let bytes = match files.read(&format!("{uuid}.json")) {
            Ok(b) => b,
            Err(e) => {
                out.skipped
                    .add(uuid.clone(), "event file unreadable", Some(&e.to_string()));
                continue;
            }
        };
        match parse_event_json(&bytes, ctx) {
            Ok(p) => {
                out.indicators.extend(p.indicators);
                out.skipped.merge(p.skipped);
                if let Some(t) = ts {
                    newest = Some(newest.map_or(t, |n: i64| n.max(t)));
                }
            }
            Err(e) => out
                .skipped
                .add(uuid.clone(), "event file invalid", Some(&e.to_string())),
        }
    }
    Ok((out, newest))
}

/// Parse a MISP feed directory from scratch.
pub fn parse_feed_dir(
    dir: &std::path::Path,
    ctx: &ParseContext<'_>,
) -> Result<ParsedFeed, IntelError> {
    parse_feed(&DirFeed(dir), ctx, None).map(|(p, _)| p)
}

/// Hex digits and dashes only (guards file names read from the manifest).
fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;

    #[test]
    fn attack_ids_are_read_from_galaxy_values() {
        let cases = [
            ("PowerShell - T1059.001", Some("T1059.001")),
            ("Command and Scripting Interpreter - T1059", Some("T1059")),
            ("T1059", Some("T1059")),
            ("Something - T10", None),
            ("No id here", None),
            ("X - T1059.1", None),
        ];
        for (v, want) in cases {
            assert_eq!(attack_id_suffix(v), want, "{v}");
        }
    }
}
