//! Small helpers shared by the parsers: typed field setters and value checks.

use rampart_model::{Event, insert_path};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// Set a field at a dotted path.
pub(crate) fn set(ev: &mut Event, path: &str, value: impl Into<Value>) {
    insert_path(&mut ev.fields, path, value.into());
}

/// Set a string field unless the value is empty or a placeholder (`-`).
pub(crate) fn set_str(ev: &mut Event, path: &str, value: &str) {
    if !is_placeholder(value) {
        set(ev, path, value);
    }
}

/// Values that sources use to mean "nothing here".
pub(crate) fn is_placeholder(value: &str) -> bool {
    matches!(value, "" | "-" | "?" | "(null)")
}

/// An IP address, tolerating `[v6]` brackets.
pub(crate) fn parse_ip(value: &str) -> Option<IpAddr> {
    let v = value.trim();
    let v = v
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(v);
    v.parse().ok()
}

/// Set `path` when `value` is an IP address; returns whether it was.
pub(crate) fn set_ip(ev: &mut Event, path: &str, value: &str) -> bool {
    match parse_ip(value) {
        Some(ip) => {
            set(ev, path, ip.to_string());
            true
        }
        None => false,
    }
}

/// Set `ip_path` for an IP address, else `domain_path` for a host name.
pub(crate) fn set_ip_or_domain(ev: &mut Event, ip_path: &str, domain_path: &str, value: &str) {
    if !set_ip(ev, ip_path, value) && !is_placeholder(value) {
        set(ev, domain_path, value);
    }
}

/// Set a port number (1..=65535 and 0) when `value` is one.
pub(crate) fn set_port(ev: &mut Event, path: &str, value: &str) {
    if let Ok(port) = value.trim().parse::<u16>() {
        set(ev, path, port);
    }
}

/// Set an unsigned number when `value` is one.
pub(crate) fn set_u64(ev: &mut Event, path: &str, value: &str) {
    if let Ok(n) = value.trim().parse::<u64>() {
        set(ev, path, n);
    }
}

/// A JSON scalar as text, borrowing strings.
pub(crate) fn value_text(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        })),
        _ => None,
    }
}

/// A JSON number or numeric string as u64 (decimal, or hex with `0x`).
pub(crate) fn value_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => parse_u64_maybe_hex(s),
        _ => None,
    }
}

/// Decimal, or hexadecimal with a `0x` prefix (as Windows writes process ids).
pub(crate) fn parse_u64_maybe_hex(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// ECS `network.transport` from a protocol name or IANA number.
pub(crate) fn transport(proto: &str) -> Option<String> {
    let p = proto.trim();
    let name = match p {
        "" | "-" => return None,
        "6" => "tcp",
        "17" => "udp",
        "1" => "icmp",
        "58" => "ipv6-icmp",
        "47" => "gre",
        "50" => "esp",
        _ => return Some(p.to_ascii_lowercase()),
    };
    Some(name.to_owned())
}

/// The last component of a Windows or Unix path.
pub(crate) fn basename(path: &str) -> &str {
    match path.rfind(['\\', '/']) {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// The object at `path` in `fields` (created when missing, replacing a non-object), for
/// inserting keys literally — keys that contain dots stay one key.
pub(crate) fn namespace<'a>(
    fields: &'a mut Map<String, Value>,
    path: &str,
) -> &'a mut Map<String, Value> {
    let mut current = fields;
    for part in path.split('.') {
        let slot = current
            .entry(part)
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        current = match slot {
            Value::Object(map) => map,
            _ => unreachable!("the slot was made an object just above"),
        };
    }
    current
}

/// Insert `key` into a namespace map; a repeated key turns into an array of its values.
pub(crate) fn push_literal(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get_mut(key) {
        None => {
            map.insert(key.to_owned(), value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// Undo backslash escapes: `\n`, `\r`, `\t` become control characters, any other escaped
/// character stands for itself. Borrows when there is nothing to undo.
pub(crate) fn unescape(s: &str) -> std::borrow::Cow<'_, str> {
    if memchr::memchr(b'\\', s.as_bytes()).is_none() {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Split at the first space: (token, rest after the space, or "").
pub(crate) fn split_token(s: &str) -> (&str, &str) {
    match memchr::memchr(b' ', s.as_bytes()) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_behave_on_data() {
        let cases: &[(&str, &str)] = &[
            (r"a\=b\\c\nd", "a=b\\c\nd"),
            ("plain", "plain"),
            ("trailing\\", "trailing\\"),
        ];
        for (input, want) in cases {
            assert_eq!(unescape(input), *want);
        }
        assert_eq!(basename(r"C:\Windows\System32\cmd.exe"), "cmd.exe");
        assert_eq!(basename("/usr/bin/cat"), "cat");
        assert_eq!(basename("cat"), "cat");
        assert_eq!(parse_u64_maybe_hex("0x1f"), Some(31));
        assert_eq!(parse_u64_maybe_hex("31"), Some(31));
        assert_eq!(parse_u64_maybe_hex("zz"), None);
        assert_eq!(transport("6").as_deref(), Some("tcp"));
        assert_eq!(transport("TCP").as_deref(), Some("tcp"));
        assert_eq!(
            parse_ip("[::1]").map(|i| i.to_string()).as_deref(),
            Some("::1")
        );
        assert!(parse_ip("host.example").is_none());
    }
}
