//! ArcSight Common Event Format: `CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension`.

use crate::util::{self, set, set_str};
use crate::{PResult, Parser, Reject, time};
use rampart_model::{Event, ecs};
use serde_json::Value;
use std::borrow::Cow;

pub(crate) fn parse(p: &Parser, text: &str, ev: &mut Event) -> PResult {
    parse_body(p, text, ev).map(|()| "cef")
}

/// Split the header on unescaped `|`: the seven header fields and the extension.
fn header(rest: &str) -> Result<([Cow<'_, str>; 7], &str), Reject> {
    let b = rest.as_bytes();
    let mut parts: [Cow<'_, str>; 7] = Default::default();
    let mut n = 0;
    let mut start = 0;
    let mut i = 0;
    while i < b.len() && n < 7 {
        match b[i] {
            b'\\' => i += 1,
            b'|' => {
                parts[n] = util::unescape(&rest[start..i]);
                n += 1;
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if n < 7 {
        return Err(Cow::Owned(format!("cef header has {n} of 7 fields")));
    }
    Ok((parts, &rest[start..]))
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'[' | b']'))
}

/// `key=value key2=value with spaces` with `\=`, `\\`, `\n` escapes. An `=` whose preceding
/// word is not a valid key (as inside a URL) stays part of the value.
pub(crate) fn extension(ext: &str) -> Vec<(&str, Cow<'_, str>)> {
    let b = ext.as_bytes();
    let mut pairs = Vec::new();
    let mut current: Option<(&str, usize)> = None;
    let mut word_start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b' ' => word_start = i + 1,
            b'=' => {
                let key = &ext[word_start..i];
                let after_value_start = current.is_none_or(|(_, vs)| word_start >= vs);
                if valid_key(key) && after_value_start {
                    if let Some((k, vs)) = current {
                        let end = word_start.saturating_sub(1).max(vs);
                        pairs.push((k, util::unescape(ext[vs..end].trim_end())));
                    }
                    current = Some((key, i + 1));
                }
            }
            _ => {}
        }
        i += 1;
    }
    if let Some((k, vs)) = current {
        pairs.push((k, util::unescape(ext[vs.min(ext.len())..].trim_end())));
    }
    pairs
}

pub(crate) fn parse_body(p: &Parser, text: &str, ev: &mut Event) -> Result<(), Reject> {
    let Some(rest) = text.strip_prefix("CEF:") else {
        return Err(Cow::Borrowed("not a cef record: no 'CEF:' prefix"));
    };
    let (h, ext) = header(rest)?;
    let [
        version,
        vendor,
        product,
        dev_version,
        class_id,
        name,
        severity,
    ] = h;
    {
        let cef = util::namespace(&mut ev.fields, "cef");
        cef.insert("version".into(), Value::String(version.trim().to_owned()));
        let mut device = serde_json::Map::new();
        device.insert("vendor".into(), Value::String(vendor.to_string()));
        device.insert("product".into(), Value::String(product.to_string()));
        device.insert("version".into(), Value::String(dev_version.to_string()));
        device.insert("event_class_id".into(), Value::String(class_id.to_string()));
        cef.insert("device".into(), Value::Object(device));
        cef.insert("name".into(), Value::String(name.to_string()));
        cef.insert("severity".into(), Value::String(severity.to_string()));
    }
    set_str(ev, ecs::OBSERVER_VENDOR, &vendor);
    set_str(ev, ecs::OBSERVER_PRODUCT, &product);
    set_str(ev, ecs::OBSERVER_VERSION, &dev_version);
    set_str(ev, ecs::EVENT_CODE, &class_id);
    if let Ok(sev) = severity.trim().parse::<u8>() {
        set(ev, ecs::EVENT_SEVERITY, sev);
    }
    let pairs = extension(ext);
    if !pairs.is_empty() {
        let extensions = util::namespace(&mut ev.fields, "cef.extensions");
        for (k, v) in &pairs {
            util::push_literal(extensions, k, Value::String(v.to_string()));
        }
    }
    let mut has_suser = false;
    for (k, v) in &pairs {
        let v: &str = v;
        match *k {
            "src" => {
                util::set_ip(ev, ecs::SOURCE_IP, v);
            }
            "spt" => util::set_port(ev, ecs::SOURCE_PORT, v),
            "dst" => {
                util::set_ip(ev, ecs::DESTINATION_IP, v);
            }
            "dpt" => util::set_port(ev, ecs::DESTINATION_PORT, v),
            "shost" => set_str(ev, ecs::SOURCE_DOMAIN, v),
            "dhost" => set_str(ev, ecs::DESTINATION_DOMAIN, v),
            "suser" => {
                has_suser = true;
                set_str(ev, ecs::USER_NAME, v);
            }
            "act" => set_str(ev, ecs::EVENT_ACTION, v),
            "outcome" => match v.to_ascii_lowercase().as_str() {
                "success" | "succeeded" | "allowed" => set(ev, ecs::EVENT_OUTCOME, "success"),
                "failure" | "failed" | "denied" | "blocked" => {
                    set(ev, ecs::EVENT_OUTCOME, "failure")
                }
                _ => {}
            },
            "request" => set_str(ev, ecs::URL_ORIGINAL, v),
            "requestMethod" => set_str(ev, ecs::HTTP_REQUEST_METHOD, v),
            "requestClientApplication" => set_str(ev, ecs::USER_AGENT_ORIGINAL, v),
            "proto" => {
                if let Some(t) = util::transport(v) {
                    set(ev, ecs::NETWORK_TRANSPORT, t);
                }
            }
            "app" => set_str(ev, ecs::NETWORK_PROTOCOL, &v.to_ascii_lowercase()),
            // CEF: `out` is data flowing from source to destination, `in` the reverse;
            // ECS: `source.bytes` are sent by the source, `destination.bytes` by the
            // destination.
            "in" => util::set_u64(ev, ecs::DESTINATION_BYTES, v),
            "out" => util::set_u64(ev, ecs::SOURCE_BYTES, v),
            "dvchost" => set_str(ev, ecs::OBSERVER_HOSTNAME, v),
            "fname" => set_str(ev, ecs::FILE_NAME, v),
            "filePath" => set_str(ev, ecs::FILE_PATH, v),
            "fileHash" => set_str(ev, ecs::FILE_HASH_SHA256, v),
            "msg" => set_str(ev, ecs::MESSAGE, v),
            "sproc" => set_str(ev, ecs::PROCESS_NAME, v),
            "spid" => util::set_u64(ev, ecs::PROCESS_PID, v),
            _ => {}
        }
    }
    // Event time: `rt` (receipt time), else `end`.
    let when = pairs
        .iter()
        .find(|(k, _)| *k == "rt")
        .or_else(|| pairs.iter().find(|(k, _)| *k == "end"));
    if let Some(ts) = when.and_then(|(_, v)| time::loose(p, v)) {
        ev.timestamp = ts;
    }
    if let Some((_, duser)) = pairs.iter().find(|(k, _)| *k == "duser") {
        if has_suser {
            set_str(ev, ecs::USER_TARGET_NAME, duser);
        } else {
            set_str(ev, ecs::USER_NAME, duser);
        }
    }
    if !name.is_empty() {
        rampart_model::fields::insert_path_if_absent(
            &mut ev.fields,
            ecs::MESSAGE,
            Value::String(name.into_owned()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, ParserConfig};
    use rampart_model::{Origin, OriginKind};
    use serde_json::json;

    fn run(line: &str) -> Event {
        let p = Parser::new(ParserConfig {
            format: Format::Cef,
            ..Default::default()
        })
        .expect("valid config");
        p.parse(line.as_bytes(), Origin::new(OriginKind::Import, "t"))
    }

    #[test]
    fn cef_records() {
        let cases: &[(&str, &[(&str, Value)])] = &[
            (
                r"CEF:0|Security|threatmanager|1.0|100|detected a \| in message|10|src=10.0.0.1 act=blocked a \= dst=1.1.1.1",
                &[
                    ("cef.name", json!("detected a | in message")),
                    ("cef.device.event_class_id", json!("100")),
                    ("event.severity", json!(10)),
                    ("event.action", json!("blocked a =")),
                    ("destination.ip", json!("1.1.1.1")),
                    ("message", json!("detected a | in message")),
                ],
            ),
            (
                r"CEF:0|security|threatmanager|1.0|100|detected a \\ in packet|10|src=10.0.0.1 msg=line1\nline2 with = sign request=http://x/a?b=c&d=e spt=80 rt=1700000000000 suser=alice duser=bob proto=TCP",
                &[
                    ("cef.name", json!(r"detected a \ in packet")),
                    ("message", json!("line1\nline2 with = sign")),
                    ("url.original", json!("http://x/a?b=c&d=e")),
                    ("source.port", json!(80)),
                    ("user.name", json!("alice")),
                    ("user.target.name", json!("bob")),
                    ("network.transport", json!("tcp")),
                    ("cef.extensions.msg", json!("line1\nline2 with = sign")),
                ],
            ),
            (
                "CEF:0|V|P|1|sig|Name|High|",
                &[
                    ("cef.severity", json!("High")),
                    ("observer.product", json!("P")),
                ],
            ),
        ];
        for (line, want) in cases {
            let ev = run(line);
            assert_eq!(ev.parse_error, None, "{line}");
            assert_eq!(ev.parser, "cef");
            for (path, value) in *want {
                assert_eq!(
                    ev.get(path).map(|v| v.into_owned()).as_ref(),
                    Some(value),
                    "{line}: {path}"
                );
            }
        }
        let ev = run(r"CEF:0|a|b|c|d|e|5|rt=1700000000000");
        assert_eq!(ev.timestamp.to_rfc3339(), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn bad_cef_is_rejected() {
        for (line, want) in [
            ("CEF:0|only|three", "cef header has 2 of 7 fields"),
            (r"CEF:0|a|b|c|d|e\|f|g", "cef header has 6 of 7 fields"),
            ("LEEF:1.0|a|b|c|d|", "not a cef record: no 'CEF:' prefix"),
        ] {
            let ev = run(line);
            assert_eq!(ev.parse_error.as_deref(), Some(want), "{line}");
        }
    }
}
