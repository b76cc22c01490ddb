//! Linux audit records: `type=SYSCALL msg=audit(1364481363.243:24287): key=value …`.

use crate::kv::{self, Pair};
use crate::util::{self, set, set_str};
use crate::{PResult, Reject, time};
use rampart_model::{Event, ecs, ecs::outcome};
use serde_json::Value;
use std::borrow::Cow;

/// `type=… msg=audit(` (optionally after `node=…`).
pub(crate) fn looks_like(s: &str) -> bool {
    (s.starts_with("type=") || s.starts_with("node="))
        && memchr::memmem::find(s.as_bytes(), b"msg=audit(").is_some()
}

pub(crate) fn parse(text: &str, ev: &mut Event) -> PResult {
    parse_body(text, ev).map(|()| "auditd")
}

/// Fields the kernel writes hex-encoded when the value has spaces, quotes or control bytes.
fn may_be_hex(key: &str) -> bool {
    matches!(
        key,
        "proctitle"
            | "cmd"
            | "comm"
            | "exe"
            | "cwd"
            | "name"
            | "path"
            | "acct"
            | "key"
            | "data"
            | "ocomm"
            | "new"
            | "old"
            | "watch"
            | "dir"
            | "file"
            | "grantors"
    )
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() < 2 || !s.len().is_multiple_of(2) || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// The value as the record means it: hex decoded for hex-capable fields (NULs between
/// `proctitle` arguments become spaces).
fn value_of(p: &Pair<'_>) -> String {
    if !p.quoted
        && may_be_hex(p.key)
        && let Some(mut bytes) = decode_hex(&p.value)
    {
        if p.key == "proctitle" {
            while bytes.last() == Some(&0) {
                bytes.pop();
            }
            for b in &mut bytes {
                if *b == 0 {
                    *b = b' ';
                }
            }
        }
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    p.value.to_string()
}

pub(crate) fn parse_body(text: &str, ev: &mut Event) -> Result<(), Reject> {
    let pairs = kv::pairs(text);
    let Some(header) = pairs
        .iter()
        .find(|p| p.key == "msg" && p.value.starts_with("audit("))
    else {
        return Err(Cow::Borrowed(
            "not an auditd record: no msg=audit(…) header",
        ));
    };
    // audit(1364481363.243:24287):
    let inner = header
        .value
        .trim_start_matches("audit(")
        .trim_end_matches(':')
        .trim_end_matches(')');
    let Some((secs, serial)) = inner.split_once(':') else {
        return Err(Cow::Owned(format!(
            "invalid auditd header 'msg={}'",
            header.value
        )));
    };
    let ts = time::epoch(secs)
        .ok_or_else(|| Cow::Owned(format!("invalid auditd timestamp '{secs}'")))?;
    ev.timestamp = ts;

    let mut values: Vec<(&str, String)> = Vec::with_capacity(pairs.len());
    for p in &pairs {
        if std::ptr::eq(p, header) {
            continue;
        }
        if p.key == "msg" && p.quoted && p.value.contains('=') {
            // USER_* records nest their fields: msg='op=login acct="root" res=failed'.
            for inner in kv::pairs(&p.value) {
                let v = value_of(&inner);
                values.push((inner.key, v));
            }
        } else {
            values.push((p.key, value_of(p)));
        }
    }

    {
        let ns = util::namespace(&mut ev.fields, "auditd");
        if let Ok(n) = serial.parse::<u64>() {
            ns.insert("sequence".into(), Value::from(n));
        }
        for (k, v) in &values {
            util::push_literal(ns, k, Value::String(v.clone()));
        }
    }

    let get = |key: &str| {
        values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    };
    let record_type = get("type").unwrap_or_default().to_owned();
    if !record_type.is_empty() {
        set(ev, ecs::EVENT_ACTION, record_type.to_ascii_lowercase());
    }
    let result = match (get("success"), get("res")) {
        (Some("yes"), _) => Some(outcome::SUCCESS),
        (Some("no"), _) => Some(outcome::FAILURE),
        (_, Some("success" | "yes" | "1")) => Some(outcome::SUCCESS),
        (_, Some("failed" | "no" | "0" | "failure")) => Some(outcome::FAILURE),
        _ => None,
    };
    if let Some(r) = result {
        set(ev, ecs::EVENT_OUTCOME, r);
    }
    if let Some(v) = get("node") {
        set_str(ev, ecs::HOST_NAME, v);
    }
    if let Some(v) = get("pid") {
        util::set_u64(ev, ecs::PROCESS_PID, v);
    }
    if let Some(v) = get("ppid") {
        util::set_u64(ev, ecs::PROCESS_PARENT_PID, v);
    }
    if let Some(v) = get("comm") {
        set_str(ev, ecs::PROCESS_NAME, v);
    }
    if let Some(v) = get("exe") {
        set_str(ev, ecs::PROCESS_EXECUTABLE, v);
    }
    if let Some(v) = get("proctitle") {
        set_str(ev, ecs::PROCESS_COMMAND_LINE, v);
    }
    if let Some(v) = get("uid") {
        set_str(ev, ecs::USER_ID, v);
    }
    if let Some(v) = get("acct").or_else(|| get("UID")) {
        set_str(ev, ecs::USER_NAME, v);
    }
    if let Some(v) = get("addr") {
        util::set_ip(ev, ecs::SOURCE_IP, v);
    }
    if record_type == "PATH"
        && let Some(v) = get("name")
    {
        set_str(ev, ecs::FILE_PATH, v);
    }
    if let Some(v) = get("key").filter(|v| !util::is_placeholder(v)) {
        set(ev, "rule.name", v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::{Origin, OriginKind, Raw};
    use serde_json::json;

    fn run(line: &str) -> Result<Event, String> {
        let mut ev = Event::new(Origin::new(OriginKind::Import, "t"), Raw::Text(line.into()));
        parse(line, &mut ev).map_err(|e| e.into_owned())?;
        Ok(ev)
    }

    #[test]
    fn auditd_records() {
        // (line, expected fields, expected timestamp or "")
        type Case<'a> = (&'a str, &'a [(&'a str, Value)], &'a str);
        let cases: &[Case] = &[
            (
                r#"type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e syscall=2 success=no exit=-13 a0=7fffd19c5592 a1=0 ppid=2686 pid=3538 auid=500 uid=500 gid=500 tty=pts0 ses=1 comm="cat" exe="/usr/bin/cat" key="sshd_config""#,
                &[
                    ("auditd.sequence", json!(24287)),
                    ("auditd.syscall", json!("2")),
                    ("auditd.a0", json!("7fffd19c5592")),
                    ("event.outcome", json!("failure")),
                    ("event.action", json!("syscall")),
                    ("process.pid", json!(3538)),
                    ("process.parent.pid", json!(2686)),
                    ("process.name", json!("cat")),
                    ("process.executable", json!("/usr/bin/cat")),
                    ("user.id", json!("500")),
                    ("rule.name", json!("sshd_config")),
                ],
                "2013-03-28T14:36:03.243Z",
            ),
            (
                "type=PROCTITLE msg=audit(1364481363.243:24287): proctitle=2F62696E2F636174002F6574632F7373682F737368645F636F6E666967",
                &[
                    ("auditd.proctitle", json!("/bin/cat /etc/ssh/sshd_config")),
                    (
                        "process.command_line",
                        json!("/bin/cat /etc/ssh/sshd_config"),
                    ),
                ],
                "",
            ),
            (
                r#"node=web1 type=USER_LOGIN msg=audit(1700000000.000:99): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct="root" exe="/usr/sbin/sshd" hostname=? addr=203.0.113.9 terminal=ssh res=failed'"#,
                &[
                    ("host.name", json!("web1")),
                    ("user.name", json!("root")),
                    ("source.ip", json!("203.0.113.9")),
                    ("event.outcome", json!("failure")),
                    ("auditd.terminal", json!("ssh")),
                ],
                "2023-11-14T22:13:20Z",
            ),
            (
                r#"type=PATH msg=audit(1.5:2): item=0 name=2F746D702F6120622063 inode=1"#,
                &[("file.path", json!("/tmp/a b c"))],
                "",
            ),
        ];
        for (line, want, ts) in cases {
            let ev = run(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            for (path, value) in *want {
                assert_eq!(
                    ev.get(path).map(|v| v.into_owned()).as_ref(),
                    Some(value),
                    "{line}: {path}"
                );
            }
            if !ts.is_empty() {
                assert_eq!(ev.timestamp.to_rfc3339(), *ts);
            }
        }
    }

    #[test]
    fn bad_auditd_is_rejected() {
        for (line, want) in [
            ("type=SYSCALL arch=1", "not an auditd record"),
            ("type=SYSCALL msg=audit(abc): x=1", "invalid auditd header"),
            (
                "type=SYSCALL msg=audit(x:1): y=1",
                "invalid auditd timestamp 'x'",
            ),
        ] {
            let err = run(line).err().unwrap_or_default();
            assert!(err.starts_with(want), "{line}: {err}");
        }
    }
}
