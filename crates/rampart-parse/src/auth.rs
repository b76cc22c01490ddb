//! Authentication facts in sshd, PAM, su and sudo messages, found by plain string scanning.

use crate::util::{self, set, set_str};
use rampart_model::{Event, ecs, ecs::outcome};
use serde_json::{Value, json};

/// event.category, event.action and event.outcome, as one object.
fn authentication(ev: &mut Event, action: &str, result: Option<&str>) {
    let mut event = serde_json::Map::with_capacity(3);
    event.insert("category".into(), json!(["authentication"]));
    event.insert("action".into(), Value::String(action.to_owned()));
    if let Some(r) = result {
        event.insert("outcome".into(), Value::String(r.to_owned()));
    }
    match ev.fields.get_mut("event") {
        Some(Value::Object(existing)) => existing.extend(event),
        _ => {
            ev.fields.insert("event".to_owned(), Value::Object(event));
        }
    }
}

/// `IP[ port P]…` → set source.ip (or source.domain) and source.port.
fn source_and_port(ev: &mut Event, s: &str) {
    let (addr, rest) = util::split_token(s);
    let addr = addr.strip_suffix(':').unwrap_or(addr);
    util::set_ip_or_domain(ev, ecs::SOURCE_IP, ecs::SOURCE_DOMAIN, addr);
    if let Some(port) = rest.strip_prefix("port ") {
        let (port, _) = util::split_token(port);
        util::set_port(ev, ecs::SOURCE_PORT, port.trim_end_matches(':'));
    }
}

/// Set what an authentication message states. Messages that state nothing are left alone.
pub(crate) fn extract(app: Option<&str>, msg: &str, ev: &mut Event) {
    let mut m = msg;
    if let Some(rest) = m.strip_prefix("message repeated ")
        && let Some(i) = rest.find("times: [")
    {
        let inner = rest[i + 8..].trim_start();
        m = inner.strip_suffix(']').unwrap_or(inner).trim_end();
    }
    m = m.strip_prefix("error: ").unwrap_or(m);
    if app == Some("sudo") {
        sudo(m, ev);
        return;
    }
    match m.as_bytes().first() {
        Some(b'F') => {
            if let Some(rest) = m.strip_prefix("Failed ") {
                login(rest, outcome::FAILURE, ev);
            }
        }
        Some(b'A') => {
            if let Some(rest) = m.strip_prefix("Accepted ") {
                login(rest, outcome::SUCCESS, ev);
            }
        }
        Some(b'I') => {
            if let Some(rest) = m.strip_prefix("Invalid user ") {
                // `Invalid user X from IP[ port P]`; X may be empty or contain spaces.
                if let Some(i) = rest.rfind(" from ") {
                    authentication(ev, "invalid_user", Some(outcome::FAILURE));
                    set_str(ev, ecs::USER_NAME, &rest[..i]);
                    source_and_port(ev, &rest[i + 6..]);
                }
            }
        }
        Some(b'C') => {
            if let Some(rest) = m.strip_prefix("Connection closed by ") {
                let rest = rest
                    .strip_prefix("authenticating user ")
                    .or_else(|| rest.strip_prefix("invalid user "))
                    .map(|r| {
                        let (user, after) = util::split_token(r);
                        set_str(ev, ecs::USER_NAME, user);
                        after
                    })
                    .unwrap_or(rest);
                set(ev, ecs::EVENT_ACTION, "connection_closed");
                source_and_port(ev, rest);
            }
        }
        Some(b'R') => {
            if let Some(rest) = m.strip_prefix("Received disconnect from ") {
                set(ev, ecs::EVENT_ACTION, "disconnect");
                source_and_port(ev, rest);
            }
        }
        _ => {}
    }
    // PAM: `pam_unix(sshd:auth): authentication failure; …` or, with the module in the
    // tag, `authentication failure; …`.
    let pam = match m.strip_prefix("pam_unix(") {
        Some(rest) => match rest.find("): ") {
            Some(i) => &rest[i + 3..],
            None => return,
        },
        None => m,
    };
    if pam.starts_with("authentication failure;")
        || (pam.starts_with("PAM ") && pam.contains("more authentication failures;"))
    {
        authentication(ev, "authentication_failure", Some(outcome::FAILURE));
        if let Some(host) = pam_value(pam, "rhost") {
            util::set_ip_or_domain(ev, ecs::SOURCE_IP, ecs::SOURCE_DOMAIN, host);
        }
        if let Some(user) = pam_value(pam, "user") {
            set_str(ev, ecs::USER_NAME, user);
        }
    } else if let Some(rest) = pam.strip_prefix("session opened for user ") {
        session(ev, "session_opened", rest);
    } else if let Some(rest) = pam.strip_prefix("session closed for user ") {
        session(ev, "session_closed", rest);
    }
}

/// `<method> for [invalid user ]<user> from <ip> port <port> ssh2`.
fn login(rest: &str, result: &str, ev: &mut Event) {
    let Some(for_at) = rest.find(" for ") else {
        return;
    };
    let Some(from_at) = rest.rfind(" from ") else {
        return;
    };
    if from_at < for_at + 5 {
        return;
    }
    let method = &rest[..for_at];
    let mut user = &rest[for_at + 5..from_at];
    if let Some(u) = user.strip_prefix("invalid user ") {
        user = u;
        set(ev, "sshd.invalid_user", true);
    }
    authentication(ev, "ssh_login", Some(result));
    set_str(ev, "sshd.method", method);
    set_str(ev, ecs::USER_NAME, user);
    source_and_port(ev, &rest[from_at + 6..]);
}

/// `key=value` in a PAM message; the key must start a word (so `user` does not match `ruser`).
fn pam_value<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = s[from..].find(key) {
        let at = from + i;
        let end = at + key.len();
        let starts_word = at == 0 || s.as_bytes()[at - 1] == b' ';
        if starts_word && s.as_bytes().get(end) == Some(&b'=') {
            let (value, _) = util::split_token(&s[end + 1..]);
            return (!value.is_empty()).then_some(value);
        }
        from = end;
    }
    None
}

fn session(ev: &mut Event, action: &str, rest: &str) {
    set(ev, ecs::EVENT_CATEGORY, json!(["session"]));
    set(ev, ecs::EVENT_ACTION, action);
    let (user, _) = util::split_token(rest);
    set_str(ev, ecs::USER_NAME, user);
}

/// `alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls -l`.
fn sudo(m: &str, ev: &mut Event) {
    let Some((user, rest)) = m.split_once(" : ") else {
        return;
    };
    let user = user.trim();
    if user.is_empty() || user.contains(' ') {
        return;
    }
    set(ev, ecs::USER_NAME, user);
    for part in rest.split(" ; ") {
        if let Some(target) = part.strip_prefix("USER=") {
            set_str(ev, ecs::USER_TARGET_NAME, target.trim());
        } else if let Some(cmd) = part.strip_prefix("COMMAND=") {
            set(ev, "sudo.command", Value::String(cmd.trim().to_owned()));
        } else if let Some(pwd) = part.strip_prefix("PWD=") {
            set(ev, "sudo.pwd", Value::String(pwd.trim().to_owned()));
        }
    }
    let failed = rest.contains("incorrect password attempt");
    set(ev, ecs::EVENT_ACTION, "sudo");
    set(
        ev,
        ecs::EVENT_OUTCOME,
        if failed {
            outcome::FAILURE
        } else {
            outcome::SUCCESS
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::{Origin, OriginKind, Raw};

    fn extract_from(app: Option<&str>, msg: &str) -> Event {
        let mut ev = Event::new(Origin::new(OriginKind::Import, "t"), Raw::Text(msg.into()));
        extract(app, msg, &mut ev);
        ev
    }

    #[test]
    fn auth_messages_yield_ecs_fields() {
        // (app, message, [(path, expected)])
        type Case<'a> = (Option<&'a str>, &'a str, &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (
                Some("sshd"),
                "Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2",
                &[
                    ("event.outcome", "failure"),
                    ("user.name", "webmaster"),
                    ("source.ip", "173.234.31.186"),
                    ("source.port", "38926"),
                    ("event.action", "ssh_login"),
                    ("sshd.method", "password"),
                    ("sshd.invalid_user", "true"),
                ],
            ),
            (
                Some("sshd"),
                "Accepted publickey for fztu from 119.137.62.142 port 49116 ssh2: RSA SHA256:x",
                &[
                    ("event.outcome", "success"),
                    ("user.name", "fztu"),
                    ("source.port", "49116"),
                ],
            ),
            (
                Some("sshd"),
                "message repeated 2 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]",
                &[("user.name", "root"), ("source.ip", "5.36.59.76")],
            ),
            (
                Some("sshd"),
                "Invalid user admin from 103.99.0.122 port 50000",
                &[
                    ("event.action", "invalid_user"),
                    ("user.name", "admin"),
                    ("source.port", "50000"),
                ],
            ),
            (
                Some("sshd"),
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=112.95.230.3  user=root",
                &[
                    ("event.outcome", "failure"),
                    ("source.ip", "112.95.230.3"),
                    ("user.name", "root"),
                ],
            ),
            (
                Some("sshd"),
                "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=220-135-151-1.hinet-ip.hinet.net  user=root",
                &[
                    ("source.domain", "220-135-151-1.hinet-ip.hinet.net"),
                    ("user.name", "root"),
                ],
            ),
            (
                Some("sshd"),
                "Connection closed by 212.47.254.145 [preauth]",
                &[
                    ("event.action", "connection_closed"),
                    ("source.ip", "212.47.254.145"),
                ],
            ),
            (
                Some("sshd"),
                "error: Received disconnect from 103.99.0.122: 14: No more user authentication methods available. [preauth]",
                &[
                    ("event.action", "disconnect"),
                    ("source.ip", "103.99.0.122"),
                ],
            ),
            (
                Some("su"),
                "session opened for user news by (uid=0)",
                &[("event.action", "session_opened"), ("user.name", "news")],
            ),
            (
                Some("sudo"),
                "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls -l",
                &[
                    ("user.name", "alice"),
                    ("user.target.name", "root"),
                    ("sudo.command", "/bin/ls -l"),
                ],
            ),
        ];
        for (app, msg, want) in cases {
            let ev = extract_from(*app, msg);
            for (path, value) in *want {
                assert_eq!(ev.get_str(path).as_deref(), Some(*value), "{msg}: {path}");
            }
        }
    }

    #[test]
    fn unrelated_messages_set_nothing() {
        for msg in [
            "check pass; user unknown",
            "Failed",
            "Failed password for",
            "Invalid user",
            "pam_unix(sshd:auth",
            "Received disconnect",
        ] {
            let ev = extract_from(Some("sshd"), msg);
            assert!(
                ev.get("source.ip").is_none() && ev.get("user.name").is_none(),
                "{msg}"
            );
        }
    }
}
