//! Apache/Nginx access logs (common and combined) and Apache error logs.

use crate::util::{self, set, set_str};
use crate::{PResult, Parser, time};
use rampart_model::{Event, ecs};
use std::borrow::Cow;

/// `[Www Mmm dd hh:mm:ss yyyy] [level] …`.
pub(crate) fn looks_like_error_log(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 26 && b[0] == b'[' && b[4] == b' ' && time::month(&b[5..]).is_some()
}

/// `host ident user [time] "request" …`.
pub(crate) fn looks_like_access_log(s: &str) -> bool {
    let Some(open) = memchr::memchr(b'[', s.as_bytes()) else {
        return false;
    };
    let head = &s[..open];
    head.split(' ').filter(|w| !w.is_empty()).count() == 3 && s[open..].find("] \"").is_some()
}

pub(crate) fn parse(p: &Parser, text: &str, ev: &mut Event) -> PResult {
    if text.starts_with('[') {
        return error_log(p, text, ev);
    }
    access_log(text, ev)
}

fn access_log(text: &str, ev: &mut Event) -> PResult {
    let not_access = || Cow::Borrowed("not an access log record");
    let (client, rest) = util::split_token(text);
    let (_ident, rest) = util::split_token(rest);
    let (user, rest) = util::split_token(rest);
    let rest = rest.strip_prefix('[').ok_or_else(not_access)?;
    let close = rest.find("] ").ok_or_else(not_access)?;
    let when = &rest[..close];
    let rest = rest[close + 2..].strip_prefix('"').ok_or_else(not_access)?;
    let (request, rest) = quoted(rest).ok_or_else(not_access)?;
    let rest = rest.trim_start();
    let (status, rest) = util::split_token(rest);
    let status: u16 = status
        .parse()
        .ok()
        .filter(|s| (100..=999).contains(s))
        .ok_or_else(|| Cow::Owned(format!("access log status '{status}' is not a number")))?;
    let (bytes, rest) = util::split_token(rest.trim_start());

    let ts = time::apache_access(when)
        .ok_or_else(|| Cow::Owned(format!("invalid access log time '{when}'")))?;
    ev.timestamp = ts;
    util::set_ip_or_domain(ev, ecs::SOURCE_IP, ecs::SOURCE_DOMAIN, client);
    set_str(ev, ecs::USER_NAME, user);
    let mut parts = request.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(url), version)
            if !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) =>
        {
            set(ev, ecs::HTTP_REQUEST_METHOD, method);
            set(ev, ecs::URL_ORIGINAL, url);
            if let Some(v) = version.and_then(|v| v.strip_prefix("HTTP/")) {
                set(ev, "http.version", v);
            }
        }
        _ => set_str(ev, ecs::URL_ORIGINAL, request),
    }
    set(ev, ecs::HTTP_RESPONSE_STATUS_CODE, status);
    util::set_u64(ev, ecs::HTTP_RESPONSE_BODY_BYTES, bytes);
    let rest = rest.trim_start();
    if let Some(rest) = rest.strip_prefix('"')
        && let Some((referrer, rest)) = quoted(rest)
    {
        set_str(ev, "http.request.referrer", referrer);
        if let Some(rest) = rest.trim_start().strip_prefix('"')
            && let Some((agent, _)) = quoted(rest)
        {
            set_str(ev, ecs::USER_AGENT_ORIGINAL, agent);
        }
    }
    set(ev, ecs::MESSAGE, request);
    Ok("access_log")
}

/// The text up to the closing quote (honouring `\"`), and what follows it.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some((&s[..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// `[Sun Dec 04 04:47:44 2005] [error] [client 1.2.3.4] message`, and Apache 2.4's
/// `[…] [core:error] [pid 123:tid 456] [client 1.2.3.4:5678] message`.
fn error_log(p: &Parser, text: &str, ev: &mut Event) -> PResult {
    let not_error = || Cow::Borrowed("not an apache error log record");
    let rest = text.strip_prefix('[').ok_or_else(not_error)?;
    let close = rest.find(']').ok_or_else(not_error)?;
    let when = &rest[..close];
    let ts = time::apache_error(p, when)
        .ok_or_else(|| Cow::Owned(format!("invalid apache error log time '{when}'")))?;
    let mut rest = rest[close + 1..].trim_start();
    let mut level_set = false;
    while let Some(group) = rest.strip_prefix('[') {
        let Some(end) = group.find(']') else { break };
        let inner = &group[..end];
        if let Some(client) = inner.strip_prefix("client ") {
            let client = client.trim();
            if !util::set_ip(ev, ecs::SOURCE_IP, client)
                && let Some((ip, port)) = client.rsplit_once(':')
                && util::set_ip(ev, ecs::SOURCE_IP, ip)
            {
                util::set_port(ev, ecs::SOURCE_PORT, port);
            }
        } else if let Some(pid) = inner.strip_prefix("pid ") {
            let pid = pid.split(':').next().unwrap_or_default();
            util::set_u64(ev, ecs::PROCESS_PID, pid);
        } else if !level_set {
            let (module, level) = match inner.split_once(':') {
                Some((m, l)) => (Some(m), l),
                None => (None, inner),
            };
            set_str(ev, ecs::LOG_LEVEL, level);
            if let Some(m) = module {
                set_str(ev, "apache.error.module", m);
            }
            level_set = true;
        } else {
            break;
        }
        rest = group[end + 1..].trim_start();
    }
    if !level_set {
        return Err(not_error());
    }
    ev.timestamp = ts;
    set(ev, ecs::MESSAGE, rest);
    Ok("apache_error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, ParserConfig};
    use rampart_model::{Origin, OriginKind};
    use serde_json::{Value, json};

    fn run(line: &str) -> Event {
        let p = Parser::new(ParserConfig {
            format: Format::AccessLog,
            ..Default::default()
        })
        .expect("valid config");
        p.parse(line.as_bytes(), Origin::new(OriginKind::Import, "t"))
    }

    #[test]
    fn access_and_error_lines() {
        // (line, parser, expected fields, expected timestamp or "")
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, Value)], &'a str);
        let cases: &[Case] = &[
            (
                r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
                "access_log",
                &[
                    ("source.ip", json!("127.0.0.1")),
                    ("user.name", json!("frank")),
                    ("http.request.method", json!("GET")),
                    ("url.original", json!("/apache_pb.gif")),
                    ("http.version", json!("1.0")),
                    ("http.response.status_code", json!(200)),
                    ("http.response.body.bytes", json!(2326)),
                ],
                "2000-10-10T20:55:36Z",
            ),
            (
                r#"203.0.113.5 - - [01/Jan/2024:00:00:01 +0000] "POST /login?x=\"1\" HTTP/1.1" 401 - "https://ex.com/" "Mozilla/5.0 (X11)""#,
                "access_log",
                &[
                    ("url.original", json!(r#"/login?x=\"1\""#)),
                    ("http.response.status_code", json!(401)),
                    ("http.request.referrer", json!("https://ex.com/")),
                    ("user_agent.original", json!("Mozilla/5.0 (X11)")),
                ],
                "2024-01-01T00:00:01Z",
            ),
            (
                r#"198.51.100.7 - - [01/Jan/2024:00:00:01 +0000] "\x16\x03\x01" 400 150 "-" "-""#,
                "access_log",
                &[
                    ("url.original", json!(r"\x16\x03\x01")),
                    ("http.response.status_code", json!(400)),
                ],
                "",
            ),
            (
                "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6",
                "apache_error",
                &[
                    ("log.level", json!("error")),
                    ("message", json!("mod_jk child workerEnv in error state 6")),
                ],
                "2005-12-04T04:47:44Z",
            ),
            (
                "[Sat Jun 24 09:06:22.123456 2023] [core:error] [pid 3412:tid 140] [client 192.0.2.1:52114] AH00126: Invalid URI",
                "apache_error",
                &[
                    ("log.level", json!("error")),
                    ("apache.error.module", json!("core")),
                    ("process.pid", json!(3412)),
                    ("source.ip", json!("192.0.2.1")),
                    ("source.port", json!(52114)),
                    ("message", json!("AH00126: Invalid URI")),
                ],
                "2023-06-24T09:06:22.123456Z",
            ),
        ];
        for (line, parser, want, ts) in cases {
            let ev = run(line);
            assert_eq!(ev.parse_error, None, "{line}");
            assert_eq!(ev.parser, *parser, "{line}");
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
    fn bad_lines_are_rejected() {
        for (line, want) in [
            ("1.2.3.4 - - 10/Oct/2000 GET", "not an access log record"),
            (
                r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" abc 1"#,
                "access log status 'abc'",
            ),
            (
                r#"1.2.3.4 - - [yesterday] "GET / HTTP/1.0" 200 1"#,
                "invalid access log time 'yesterday'",
            ),
            (
                "[Sun Dec 04 04:47:44 2005] no level",
                "not an apache error log record",
            ),
        ] {
            let err = run(line).parse_error.unwrap_or_default();
            assert!(err.starts_with(want), "{line}: {err}");
        }
    }
}
