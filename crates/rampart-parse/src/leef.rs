//! IBM QRadar Log Event Extended Format, versions 1.0 and 2.0 (with its delimiter field).

use crate::util::{self, set, set_str};
use crate::{PResult, Parser, Reject, time};
use rampart_model::{Event, Timestamp, ecs};
use serde_json::Value;
use std::borrow::Cow;

pub(crate) fn parse(p: &Parser, text: &str, ev: &mut Event) -> PResult {
    parse_body(p, text, ev).map(|()| "leef")
}

/// The LEEF 2.0 delimiter field: empty (tab), one character, or hex (`x09`, `0x5E`, `\x09`).
fn delimiter(field: &str) -> Result<char, Reject> {
    let f = field.trim_matches(' ');
    if f.is_empty() {
        return Ok('\t');
    }
    let mut chars = f.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Ok(c);
    }
    if f == "\\t" {
        return Ok('\t');
    }
    let hex = f
        .strip_prefix("0x")
        .or_else(|| f.strip_prefix("0X"))
        .or_else(|| f.strip_prefix("\\x"))
        .or_else(|| f.strip_prefix('x'))
        .or_else(|| f.strip_prefix('X'))
        .unwrap_or(f);
    u32::from_str_radix(hex, 16)
        .ok()
        .and_then(char::from_u32)
        .ok_or_else(|| Cow::Owned(format!("invalid leef delimiter '{field}'")))
}

pub(crate) fn parse_body(p: &Parser, text: &str, ev: &mut Event) -> Result<(), Reject> {
    let Some(rest) = text.strip_prefix("LEEF:") else {
        return Err(Cow::Borrowed("not a leef record: no 'LEEF:' prefix"));
    };
    let mut parts = rest.splitn(6, '|');
    let version = parts.next().unwrap_or_default().trim();
    let (Some(vendor), Some(product), Some(product_version), Some(event_id)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Cow::Borrowed("leef header has fewer than 5 fields"));
    };
    let tail = parts.next().unwrap_or_default();
    let (delim, attrs) = if version.starts_with('2') {
        match tail.split_once('|') {
            Some((d, attrs)) if !d.contains('=') => (delimiter(d)?, attrs),
            _ => ('\t', tail),
        }
    } else if version.starts_with('1') {
        ('\t', tail)
    } else {
        return Err(Cow::Owned(format!("unsupported leef version '{version}'")));
    };

    let mut pairs: Vec<(&str, Cow<'_, str>)> = Vec::new();
    if !attrs.contains(delim) && delim == '\t' && attrs.contains(' ') {
        // Many LEEF 1.0 senders separate attributes with spaces instead of tabs.
        pairs.extend(
            crate::kv::pairs(attrs)
                .into_iter()
                .map(|kv| (kv.key, kv.value)),
        );
    } else {
        for attr in attrs.split(delim) {
            if let Some((k, v)) = attr.split_once('=') {
                let k = k.trim();
                if !k.is_empty() {
                    pairs.push((k, Cow::Borrowed(v)));
                }
            }
        }
    }

    {
        let leef = util::namespace(&mut ev.fields, "leef");
        leef.insert("version".into(), Value::String(version.to_owned()));
        leef.insert("vendor".into(), Value::String(vendor.to_owned()));
        leef.insert("product".into(), Value::String(product.to_owned()));
        leef.insert(
            "product_version".into(),
            Value::String(product_version.to_owned()),
        );
        leef.insert("event_id".into(), Value::String(event_id.to_owned()));
        if !pairs.is_empty() {
            let attributes = util::namespace(leef, "attributes");
            for (k, v) in &pairs {
                util::push_literal(attributes, k, Value::String(v.to_string()));
            }
        }
    }
    set_str(ev, ecs::OBSERVER_VENDOR, vendor);
    set_str(ev, ecs::OBSERVER_PRODUCT, product);
    set_str(ev, ecs::OBSERVER_VERSION, product_version);
    set_str(ev, ecs::EVENT_CODE, event_id);

    let mut dev_time = None;
    let mut dev_time_format = None;
    for (k, v) in &pairs {
        let v: &str = v;
        match *k {
            "src" => {
                util::set_ip(ev, ecs::SOURCE_IP, v);
            }
            "dst" => {
                util::set_ip(ev, ecs::DESTINATION_IP, v);
            }
            "srcPort" => util::set_port(ev, ecs::SOURCE_PORT, v),
            "dstPort" => util::set_port(ev, ecs::DESTINATION_PORT, v),
            "usrName" => set_str(ev, ecs::USER_NAME, v),
            "accountName" => {
                rampart_model::fields::insert_path_if_absent(
                    &mut ev.fields,
                    ecs::USER_NAME,
                    Value::String(v.to_owned()),
                );
            }
            "proto" => {
                if let Some(t) = util::transport(v) {
                    set(ev, ecs::NETWORK_TRANSPORT, t);
                }
            }
            "sev" => {
                if let Ok(s) = v.trim().parse::<u8>() {
                    set(ev, ecs::EVENT_SEVERITY, s);
                }
            }
            "srcBytes" => util::set_u64(ev, ecs::SOURCE_BYTES, v),
            "dstBytes" => util::set_u64(ev, ecs::DESTINATION_BYTES, v),
            "totalBytes" => util::set_u64(ev, ecs::NETWORK_BYTES, v),
            "url" => set_str(ev, ecs::URL_ORIGINAL, v),
            "action" => set_str(ev, ecs::EVENT_ACTION, v),
            "identHostName" | "srcHostName" => set_str(ev, ecs::SOURCE_DOMAIN, v),
            "msg" => set_str(ev, ecs::MESSAGE, v),
            "devTime" => dev_time = Some(v),
            "devTimeFormat" => dev_time_format = Some(v),
            _ => {}
        }
    }
    if let Some(t) = dev_time {
        let ts = match dev_time_format {
            Some(f) => with_java_format(p, f, t).or_else(|| time::loose(p, t)),
            None => time::loose(p, t),
        };
        if let Some(ts) = ts {
            ev.timestamp = ts;
        }
    }
    Ok(())
}

/// Parse `value` with a Java `SimpleDateFormat` pattern (`MMM dd yyyy HH:mm:ss.SSS zzz`).
/// Zone names (`z`) cannot be parsed by jiff, so a trailing zone word is read separately.
fn with_java_format(p: &Parser, pattern: &str, value: &str) -> Option<Timestamp> {
    let (fmt, zone_name) = java_to_strtime(pattern)?;
    let (value, tz) = if zone_name {
        let (v, zone) = value.trim().rsplit_once(' ')?;
        (
            v,
            time::parse_timezone(zone)
                .ok()
                .unwrap_or_else(|| p.tz.clone()),
        )
    } else {
        (value.trim(), p.tz.clone())
    };
    let fmt = fmt.trim_end();
    let tm = jiff::fmt::strtime::parse(fmt, value).ok()?;
    if tm.offset().is_some() {
        return tm.to_timestamp().ok().map(Timestamp::from_jiff);
    }
    let dt = tm.to_datetime().ok()?;
    tz.to_ambiguous_timestamp(dt)
        .compatible()
        .ok()
        .map(Timestamp::from_jiff)
}

/// Java pattern → strtime format, and whether it ended in a zone name (`z`).
fn java_to_strtime(pattern: &str) -> Option<(String, bool)> {
    let mut out = String::with_capacity(pattern.len() * 2);
    let chars: Vec<char> = pattern.chars().collect();
    let mut zone_name = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c && c.is_ascii_alphabetic() {
            run += 1;
        }
        match c {
            '\'' => {
                let end = chars[i + 1..].iter().position(|c| *c == '\'')? + i + 1;
                out.extend(chars[i + 1..end].iter());
                i = end + 1;
                continue;
            }
            'y' if run == 2 => out.push_str("%y"),
            'y' => out.push_str("%Y"),
            'M' if run >= 4 => out.push_str("%B"),
            'M' if run == 3 => out.push_str("%b"),
            'M' => out.push_str("%m"),
            'd' => out.push_str("%d"),
            'H' => out.push_str("%H"),
            'h' => out.push_str("%I"),
            'm' => out.push_str("%M"),
            's' => out.push_str("%S"),
            'S' => out.push_str("%f"),
            'a' => out.push_str("%p"),
            'E' if run >= 4 => out.push_str("%A"),
            'E' => out.push_str("%a"),
            'Z' => out.push_str("%z"),
            'X' if run >= 3 => out.push_str("%:z"),
            'X' => out.push_str("%z"),
            'z' => {
                if i + run != chars.len() {
                    return None;
                }
                zone_name = true;
            }
            '%' => out.push_str("%%"),
            c if c.is_ascii_alphabetic() => return None,
            c => out.push(c),
        }
        i += run;
    }
    Some((out, zone_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, ParserConfig};
    use rampart_model::{Origin, OriginKind};
    use serde_json::json;

    fn run(line: &str) -> Event {
        let p = Parser::new(ParserConfig {
            format: Format::Leef,
            default_year: Some(2024),
            timezone: None,
        })
        .expect("valid config");
        p.parse(line.as_bytes(), Origin::new(OriginKind::Import, "t"))
    }

    #[test]
    fn leef_records() {
        // (line, expected fields, expected timestamp or "")
        type Case<'a> = (&'a str, &'a [(&'a str, Value)], &'a str);
        let cases: &[Case] = &[
            (
                "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tcat=anomaly\tsrcPort=81\tdstPort=21\tusrName=joe.black",
                &[
                    ("leef.vendor", json!("Microsoft")),
                    ("leef.event_id", json!("15345")),
                    ("leef.attributes.cat", json!("anomaly")),
                    ("source.ip", json!("192.0.2.0")),
                    ("destination.port", json!(21)),
                    ("user.name", json!("joe.black")),
                    ("event.severity", json!(5)),
                    ("event.code", json!("15345")),
                ],
                "",
            ),
            (
                "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=6253^dstPort=22^devTime=Oct 12 2024 10:00:00.250 UTC^devTimeFormat=MMM dd yyyy HH:mm:ss.SSS z",
                &[
                    ("destination.ip", json!("10.0.0.5")),
                    ("source.port", json!(6253)),
                    (
                        "leef.attributes.devTimeFormat",
                        json!("MMM dd yyyy HH:mm:ss.SSS z"),
                    ),
                ],
                "2024-10-12T10:00:00.25Z",
            ),
            (
                "LEEF:2.0|V|P|1|E|x09|src=1.1.1.1\tdevTime=2024-01-02T03:04:05+0100\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ssZ",
                &[("source.ip", json!("1.1.1.1"))],
                "2024-01-02T02:04:05Z",
            ),
            (
                "LEEF:1.0|V|P|1|E|src=2.2.2.2 dst=3.3.3.3 devTime=1700000000000",
                &[
                    ("source.ip", json!("2.2.2.2")),
                    ("destination.ip", json!("3.3.3.3")),
                ],
                "2023-11-14T22:13:20Z",
            ),
            (
                "LEEF:2.0|V|P|1|E|src=4.4.4.4\tdst=5.5.5.5",
                &[
                    ("source.ip", json!("4.4.4.4")),
                    ("destination.ip", json!("5.5.5.5")),
                ],
                "",
            ),
        ];
        for (line, want, ts) in cases {
            let ev = run(line);
            assert_eq!(ev.parse_error, None, "{line}");
            assert_eq!(ev.parser, "leef");
            for (path, value) in *want {
                assert_eq!(
                    ev.get(path).map(|v| v.into_owned()).as_ref(),
                    Some(value),
                    "{line}: {path}"
                );
            }
            if !ts.is_empty() {
                assert_eq!(ev.timestamp.to_rfc3339(), *ts, "{line}");
            }
        }
    }

    #[test]
    fn bad_leef_is_rejected() {
        for (line, want) in [
            ("LEEF:1.0|a|b", "leef header has fewer than 5 fields"),
            ("LEEF:3.0|a|b|c|d|x=1", "unsupported leef version '3.0'"),
            ("LEEF:2.0|a|b|c|d|xZZ|x=1", "invalid leef delimiter 'xZZ'"),
        ] {
            assert_eq!(run(line).parse_error.as_deref(), Some(want), "{line}");
        }
    }

    #[test]
    fn delimiters() {
        for (field, want) in [
            ("", '\t'),
            ("^", '^'),
            ("x09", '\t'),
            ("0x5E", '^'),
            ("\\x7c", '|'),
        ] {
            assert_eq!(delimiter(field).ok(), Some(want), "{field}");
        }
    }
}
