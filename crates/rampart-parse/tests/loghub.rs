//! Every line of the shared loghub samples parses, and sshd failures yield user and source.

#![allow(clippy::unwrap_used)]

mod common;

use rampart_model::{Origin, OriginKind};
use rampart_parse::{Parser, ParserConfig};

fn lines(rel: &str) -> Option<Vec<String>> {
    let path = common::shared_dataset(rel, rel)?;
    let text = std::fs::read_to_string(&path).unwrap();
    Some(text.lines().map(str::to_owned).collect())
}

fn parser() -> Parser {
    Parser::new(ParserConfig::default()).unwrap()
}

fn origin() -> Origin {
    Origin::new(OriginKind::File, "loghub")
}

#[test]
fn openssh_lines_parse_and_failed_passwords_yield_user_and_source() {
    let Some(lines) = lines("loghub/OpenSSH_2k.log") else {
        return;
    };
    let p = parser();
    let grep_count = lines
        .iter()
        .filter(|l| l.contains("Failed password for"))
        .count();
    let mut extracted = 0;
    for line in &lines {
        let ev = p.parse(line.as_bytes(), origin());
        assert_eq!(ev.parse_error, None, "{line}");
        assert!(
            ev.parser.starts_with("rfc3164"),
            "{line}: parser {}",
            ev.parser
        );
        assert_eq!(ev.get_str("host.name").as_deref(), Some("LabSZ"), "{line}");
        assert_eq!(
            ev.get_str("process.name").as_deref(),
            Some("sshd"),
            "{line}"
        );
        if line.contains("Failed password for") {
            let user = ev.get_str("user.name");
            let ip = ev.get_str("source.ip");
            assert!(user.is_some() && ip.is_some(), "{line}: {:?}", ev.fields);
            assert_eq!(
                ev.get_str("event.outcome").as_deref(),
                Some("failure"),
                "{line}"
            );
            let ip = ip.unwrap_or_default();
            assert!(
                line.contains(&format!("from {ip} port")),
                "{line}: source.ip {ip}"
            );
            extracted += 1;
        }
    }
    println!(
        "OpenSSH_2k: {} lines, {grep_count} 'Failed password' lines, {extracted} with user.name and source.ip",
        lines.len()
    );
    assert!(grep_count > 0);
    assert_eq!(extracted, grep_count);
}

#[test]
fn linux_lines_parse_as_syslog() {
    let Some(lines) = lines("loghub/Linux_2k.log") else {
        return;
    };
    let p = parser();
    let mut pam_failures = 0;
    for line in &lines {
        let ev = p.parse(line.as_bytes(), origin());
        assert_eq!(ev.parse_error, None, "{line}");
        assert!(
            ev.parser.starts_with("rfc3164"),
            "{line}: parser {}",
            ev.parser
        );
        assert_eq!(ev.get_str("host.name").as_deref(), Some("combo"), "{line}");
        if line.contains("sshd(pam_unix)") {
            assert_eq!(
                ev.get_str("process.name").as_deref(),
                Some("sshd"),
                "{line}"
            );
            assert_eq!(
                ev.get_str("syslog.subsystem").as_deref(),
                Some("pam_unix"),
                "{line}"
            );
        }
        if line.contains("authentication failure;") {
            assert_eq!(
                ev.get_str("event.outcome").as_deref(),
                Some("failure"),
                "{line}"
            );
            if !line.contains("rhost= ") && !line.ends_with("rhost=") {
                assert!(
                    ev.get("source.ip").is_some() || ev.get("source.domain").is_some(),
                    "{line}"
                );
            }
            pam_failures += 1;
        }
    }
    println!(
        "Linux_2k: {} lines, {pam_failures} pam authentication failures",
        lines.len()
    );
}

#[test]
fn apache_error_lines_parse() {
    let Some(lines) = lines("loghub/Apache_2k.log") else {
        return;
    };
    let p = parser();
    for line in &lines {
        let ev = p.parse(line.as_bytes(), origin());
        assert_eq!(ev.parse_error, None, "{line}");
        assert_eq!(ev.parser, "apache_error", "{line}");
        assert!(ev.get("log.level").is_some(), "{line}");
        assert_eq!(ev.timestamp.to_rfc3339()[..4].to_owned(), "2005", "{line}");
    }
}
