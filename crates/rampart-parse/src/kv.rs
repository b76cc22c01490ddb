//! `key=value` records (`a=1 b="two words" c=x`), as firewalls and many appliances write them.

use crate::util::{self, set, set_str};
use crate::{PResult, Reject};
use rampart_model::{Event, ecs};
use serde_json::Value;
use std::borrow::Cow;

/// One `key=value` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair<'a> {
    pub key: &'a str,
    pub value: Cow<'a, str>,
    /// Whether the value was in quotes (auditd tells hex from text by this).
    pub quoted: bool,
}

fn key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b':' | b'@' | b'/' | b'[' | b']')
}

/// Tokenise `s` into pairs and count the words that were not pairs.
fn scan(s: &str) -> (Vec<Pair<'_>>, usize) {
    let b = s.as_bytes();
    let mut pairs = Vec::new();
    let mut others = 0;
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b',' | b';') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && key_byte(b[i]) {
            i += 1;
        }
        if i == start || i >= b.len() || b[i] != b'=' {
            // Not a pair: skip the word.
            while i < b.len() && !matches!(b[i], b' ' | b'\t') {
                i += 1;
            }
            others += 1;
            continue;
        }
        let key = &s[start..i];
        i += 1;
        match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let vstart = i + 1;
                let mut j = vstart;
                let mut escaped = false;
                while j < b.len() && b[j] != q {
                    if b[j] == b'\\' {
                        escaped = true;
                        j += 1;
                    }
                    j += 1;
                }
                let vend = j.min(b.len());
                let raw = &s[vstart..vend];
                let value = if escaped {
                    util::unescape(raw)
                } else {
                    Cow::Borrowed(raw)
                };
                pairs.push(Pair {
                    key,
                    value,
                    quoted: true,
                });
                i = (j + 1).min(b.len());
            }
            _ => {
                let vstart = i;
                while i < b.len() && !matches!(b[i], b' ' | b'\t') {
                    i += 1;
                }
                pairs.push(Pair {
                    key,
                    value: Cow::Borrowed(&s[vstart..i]),
                    quoted: false,
                });
            }
        }
    }
    (pairs, others)
}

/// The pairs of `s`, ignoring words that are not pairs.
pub(crate) fn pairs(s: &str) -> Vec<Pair<'_>> {
    scan(s).0
}

/// Whether `s` is a key=value record: it opens with a pair, has at least two, and pairs are
/// most of its words.
pub(crate) fn looks_like(s: &str) -> bool {
    let b = s.as_bytes();
    let first_eq = match memchr::memchr(b'=', b) {
        Some(i) if i > 0 => i,
        _ => return false,
    };
    if !b[..first_eq].iter().all(|c| key_byte(*c)) {
        return false;
    }
    let (pairs, others) = scan(s);
    pairs.len() >= 2 && pairs.len() >= 2 * others
}

pub(crate) fn parse(text: &str, ev: &mut Event) -> PResult {
    parse_body(text, ev).map(|()| "kv")
}

pub(crate) fn parse_body(text: &str, ev: &mut Event) -> Result<(), Reject> {
    let pairs = pairs(text);
    if pairs.is_empty() {
        return Err(Cow::Borrowed("not a key=value record: no key=value pair"));
    }
    {
        let kv = util::namespace(&mut ev.fields, "kv");
        for p in &pairs {
            util::push_literal(kv, p.key, Value::String(p.value.to_string()));
        }
    }
    for p in &pairs {
        let v: &str = &p.value;
        match p.key.to_ascii_lowercase().as_str() {
            "src" | "srcip" | "src_ip" | "source_ip" | "sourceip" => {
                util::set_ip(ev, ecs::SOURCE_IP, v);
            }
            "dst" | "dstip" | "dst_ip" | "destination_ip" | "destip" => {
                util::set_ip(ev, ecs::DESTINATION_IP, v);
            }
            "sport" | "srcport" | "src_port" | "spt" | "source_port" => {
                util::set_port(ev, ecs::SOURCE_PORT, v)
            }
            "dport" | "dstport" | "dst_port" | "dpt" | "destination_port" => {
                util::set_port(ev, ecs::DESTINATION_PORT, v)
            }
            "user" | "username" | "usrname" | "suser" | "user_name" => {
                set_str(ev, ecs::USER_NAME, v)
            }
            "action" | "act" => set_str(ev, ecs::EVENT_ACTION, v),
            "proto" | "protocol" => {
                if let Some(t) = util::transport(v) {
                    set(ev, ecs::NETWORK_TRANSPORT, t);
                }
            }
            "msg" | "message" => set_str(ev, ecs::MESSAGE, v),
            "hostname" | "devname" => set_str(ev, ecs::HOST_NAME, v),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::{Origin, OriginKind, Raw};
    use serde_json::json;

    #[test]
    fn tokeniser_handles_quotes_and_empty_values() {
        let (p, others) = scan(r#"a=1 b="two words" c='x y' d= e="esc \" q" word f=end"#);
        let got: Vec<(&str, &str)> = p.iter().map(|p| (p.key, p.value.as_ref())).collect();
        assert_eq!(
            got,
            vec![
                ("a", "1"),
                ("b", "two words"),
                ("c", "x y"),
                ("d", ""),
                ("e", "esc \" q"),
                ("f", "end")
            ]
        );
        assert_eq!(others, 1);
        let (p, _) = scan("k=\"unterminated");
        assert_eq!(p[0].value, "unterminated");
    }

    #[test]
    fn detection() {
        for (s, want) in [
            ("a=1 b=2", true),
            ("a=1", false),
            ("authentication failure; logname= uid=0 euid=0", false),
            ("hello a=1 b=2", false),
            ("a=1 b=2 some words here and there", false),
            ("=1 b=2", false),
        ] {
            assert_eq!(looks_like(s), want, "{s}");
        }
    }

    #[test]
    fn ecs_mapping() {
        let mut ev = Event::new(Origin::new(OriginKind::Import, "t"), Raw::default());
        parse(
            "srcip=10.0.0.1 dstip=10.0.0.2 sport=1 dport=2 user=bob action=deny proto=6 a.b=dotted",
            &mut ev,
        )
        .expect("parses");
        for (path, want) in [
            ("source.ip", json!("10.0.0.1")),
            ("destination.ip", json!("10.0.0.2")),
            ("source.port", json!(1)),
            ("destination.port", json!(2)),
            ("user.name", json!("bob")),
            ("event.action", json!("deny")),
            ("network.transport", json!("tcp")),
            ("kv.a.b", json!("dotted")),
        ] {
            assert_eq!(ev.get(path).map(|v| v.into_owned()), Some(want), "{path}");
        }
        assert!(
            ev.fields["kv"].get("a.b").is_some(),
            "dotted keys stay literal"
        );
    }
}
