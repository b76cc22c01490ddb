//! Rampart's parsers: turn one raw log record into the fields of a [`rampart_model::Event`].
//!
//! This crate owns format detection and field extraction for syslog (RFC 5424 and RFC 3164
//! with its real-world variants), CEF, LEEF, JSON (plain, Suricata EVE, Zeek), key=value,
//! Linux auditd, Apache/Nginx access and Apache error logs, and Windows EVTX files. It maps
//! what a source clearly states onto ECS names and keeps the rest under a namespace per
//! format (see the crate's README for the layout). It must not know about sockets, framing,
//! storage, tenants or detection: the caller hands it one record's bytes and an [`Event`]
//! whose origin, raw text, tenant and ingest time are already set.

mod access;
mod auditd;
mod auth;
mod cef;
pub mod evtx;
mod json;
mod kv;
mod leef;
mod syslog;
mod time;
mod util;
pub mod winxml;

use rampart_model::{Event, Origin, Raw};
use std::borrow::Cow;
use std::str::FromStr;

/// Records longer than this are kept unparsed, with a parse error saying so.
pub const MAX_PARSE_LEN: usize = 1 << 20;

/// The parse error of a record that no parser understood in [`Format::Auto`] mode.
pub const NO_PARSER: &str = "no parser recognised the record";

/// The record formats a listener can be set to; [`Format::Auto`] detects one per record.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Detect the format of each record from its first bytes.
    #[default]
    Auto,
    /// RFC 5424 or RFC 3164, whichever the header is.
    Syslog,
    Rfc5424,
    Rfc3164,
    Cef,
    Leef,
    /// A JSON object; Suricata EVE and Zeek records are still recognised and mapped.
    Json,
    Kv,
    Auditd,
    /// Apache/Nginx access logs (common and combined) and Apache error logs.
    AccessLog,
    SuricataEve,
    ZeekJson,
    /// Keep the record as it is, without parsing.
    Raw,
}

impl Format {
    /// Every format, in the order its names are listed in errors.
    pub const ALL: [Format; 13] = [
        Format::Auto,
        Format::Syslog,
        Format::Rfc5424,
        Format::Rfc3164,
        Format::Cef,
        Format::Leef,
        Format::Json,
        Format::Kv,
        Format::Auditd,
        Format::AccessLog,
        Format::SuricataEve,
        Format::ZeekJson,
        Format::Raw,
    ];

    /// The configuration name of the format (`auto`, `syslog`, `access_log`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Syslog => "syslog",
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
            Format::Cef => "cef",
            Format::Leef => "leef",
            Format::Json => "json",
            Format::Kv => "kv",
            Format::Auditd => "auditd",
            Format::AccessLog => "access_log",
            Format::SuricataEve => "suricata_eve",
            Format::ZeekJson => "zeek_json",
            Format::Raw => "raw",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = Error;

    /// Case-insensitive; `-` and `_` are interchangeable (`access-log` = `access_log`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == wanted)
            .ok_or_else(|| Error::UnknownFormat {
                name: s.to_owned(),
                valid: Format::ALL.map(Format::as_str).join(", "),
            })
    }
}

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown log format '{name}' (valid formats: {valid})")]
    UnknownFormat { name: String, valid: String },
    #[error("invalid timezone '{name}': {reason}")]
    InvalidTimezone { name: String, reason: String },
    #[error("invalid default year {year}: must be between 1 and 9999")]
    InvalidYear { year: i32 },
    #[error("cannot open evtx file {source_name}: {reason}")]
    EvtxOpen { source_name: String, reason: String },
    #[error("evtx {source_name}: chunk {chunk}: {reason}")]
    EvtxChunk {
        source_name: String,
        chunk: u64,
        reason: String,
    },
    #[error("evtx {source_name}: chunk {chunk}: record {record}: {reason}")]
    EvtxRecord {
        source_name: String,
        chunk: u64,
        /// The record's id, when the damage left it readable.
        record: String,
        reason: String,
    },
}

/// An invalid [`ParserConfig`] or format name.
pub type ParseConfigError = Error;
/// An EVTX file that cannot be read at all.
pub type EvtxError = Error;
/// One EVTX chunk or record that cannot be read; reading goes on with the next.
pub type EvtxRecordError = Error;

/// How a listener's records are parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParserConfig {
    #[serde(default)]
    pub format: Format,
    /// Year for RFC 3164 timestamps that carry none; the current year when unset.
    #[serde(default)]
    pub default_year: Option<i32>,
    /// Zone for timestamps that carry none (RFC 3164, Apache error logs): an IANA name
    /// (`Europe/Paris`), `UTC`, or a fixed offset (`+02:00`, `-0500`). UTC when unset.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// A configured parser. Built once per listener; cheap to share across threads.
#[derive(Debug, Clone)]
pub struct Parser {
    format: Format,
    default_year: Option<i16>,
    tz: jiff::tz::TimeZone,
}

/// Why a parser rejected a record; becomes [`Event::parse_error`].
pub(crate) type Reject = Cow<'static, str>;
/// The name of the parser that understood the record (`rfc3164`, `rfc5424+cef`, …).
pub(crate) type PResult = Result<&'static str, Reject>;

impl Parser {
    pub fn new(config: ParserConfig) -> Result<Parser, ParseConfigError> {
        let tz = match config.timezone.as_deref().map(str::trim) {
            None | Some("") => jiff::tz::TimeZone::UTC,
            Some(name) => time::parse_timezone(name)?,
        };
        let default_year = match config.default_year {
            None => None,
            Some(year) => match i16::try_from(year) {
                Ok(y) if (1..=9999).contains(&y) => Some(y),
                _ => return Err(Error::InvalidYear { year }),
            },
        };
        Ok(Parser {
            format: config.format,
            default_year,
            tz,
        })
    }

    /// The format this parser was configured with.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Parse one record into `event` (whose origin/raw/tenant/ingested the caller has set):
    /// fills `event.fields`, `event.timestamp` (when the record has one), `event.parser`, or
    /// `event.parse_error` (keeping the raw text) when no parser understands it. Never panics.
    pub fn parse_into(&self, record: &[u8], event: &mut Event) {
        event.parse_error = None;
        if record.len() > MAX_PARSE_LEN {
            event.parser = "raw".to_owned();
            event.parse_error = Some(format!(
                "record of {} bytes exceeds the {} byte parse limit; kept unparsed",
                record.len(),
                MAX_PARSE_LEN
            ));
            return;
        }
        let text = match std::str::from_utf8(record) {
            Ok(t) => Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(record),
        };
        let text = trim_record(&text);
        if text.is_empty() {
            event.parser = "raw".to_owned();
            event.parse_error = Some("empty record".to_owned());
            return;
        }
        let original_ts = event.timestamp;
        let outcome = match self.format {
            Format::Auto => self.parse_auto(text, event),
            Format::Raw => Ok("raw"),
            format => self.parse_as(format, text, event),
        };
        match outcome {
            Ok(name) => {
                if event.parser != name {
                    name.clone_into(&mut event.parser);
                }
            }
            Err(reason) => {
                event.fields.clear();
                event.timestamp = original_ts;
                event.parser = "raw".to_owned();
                event.parse_error = Some(reason.into_owned());
            }
        }
    }

    /// Convenience: a new [`Event`] with [`Raw::from_bytes`]`(record)`, then [`Parser::parse_into`].
    pub fn parse(&self, record: &[u8], origin: Origin) -> Event {
        let mut event = Event::new(origin, Raw::from_bytes(record));
        self.parse_into(record, &mut event);
        event
    }

    fn parse_as(&self, format: Format, text: &str, ev: &mut Event) -> PResult {
        match format {
            Format::Auto | Format::Raw => Ok("raw"),
            Format::Syslog => syslog::parse(self, text, syslog::Variant::Either, ev),
            Format::Rfc5424 => syslog::parse(self, text, syslog::Variant::Rfc5424, ev),
            Format::Rfc3164 => syslog::parse(self, text, syslog::Variant::Rfc3164, ev),
            Format::Cef => cef::parse(self, text, ev),
            Format::Leef => leef::parse(self, text, ev),
            Format::Json => json::parse(self, text, json::Flavour::Detect, ev),
            Format::SuricataEve => json::parse(self, text, json::Flavour::SuricataEve, ev),
            Format::ZeekJson => json::parse(self, text, json::Flavour::Zeek, ev),
            Format::Kv => kv::parse(text, ev),
            Format::Auditd => auditd::parse(text, ev),
            Format::AccessLog => access::parse(self, text, ev),
        }
    }

    /// Pick a parser from the record's first bytes. A record that looks like a format but
    /// does not parse as it gets that parser's reason as its parse error.
    fn parse_auto(&self, text: &str, ev: &mut Event) -> PResult {
        let bytes = text.as_bytes();
        let format = match bytes[0] {
            b'{' => Format::Json,
            b'<' if bytes.get(1).is_some_and(u8::is_ascii_digit) => Format::Syslog,
            b'[' if access::looks_like_error_log(text) => Format::AccessLog,
            _ if text.starts_with("CEF:") => Format::Cef,
            _ if text.starts_with("LEEF:") => Format::Leef,
            _ if auditd::looks_like(text) => Format::Auditd,
            _ if time::starts_with_syslog_timestamp(text) => Format::Syslog,
            _ if access::looks_like_access_log(text) => Format::AccessLog,
            _ if kv::looks_like(text) => Format::Kv,
            _ => return Err(Cow::Borrowed(NO_PARSER)),
        };
        self.parse_as(format, text, ev)
    }
}

/// Strip a UTF-8 byte-order mark, leading whitespace and trailing whitespace/line ends.
fn trim_record(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text).trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::OriginKind;

    fn origin() -> Origin {
        Origin::new(OriginKind::Import, "test")
    }

    #[test]
    fn format_names_roundtrip_and_errors_list_valid_names() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>().ok(), Some(f));
            let json = serde_json::to_string(&f).expect("serialise format");
            assert_eq!(json, format!("\"{}\"", f.as_str()));
        }
        assert_eq!("Access-Log".parse::<Format>().ok(), Some(Format::AccessLog));
        let err = "xml".parse::<Format>().expect_err("xml is not a format");
        let msg = err.to_string();
        assert!(
            msg.contains("'xml'") && msg.contains("suricata_eve"),
            "{msg}"
        );
    }

    #[test]
    fn config_errors_are_reported() {
        let bad_tz = Parser::new(ParserConfig {
            timezone: Some("Mars/Olympus".into()),
            ..Default::default()
        });
        assert!(matches!(bad_tz, Err(Error::InvalidTimezone { .. })));
        let bad_year = Parser::new(ParserConfig {
            default_year: Some(0),
            ..Default::default()
        });
        assert!(matches!(bad_year, Err(Error::InvalidYear { year: 0 })));
        for tz in ["UTC", "Europe/Paris", "+02:00", "-0500", "+5"] {
            assert!(
                Parser::new(ParserConfig {
                    timezone: Some(tz.into()),
                    ..Default::default()
                })
                .is_ok(),
                "{tz}"
            );
        }
    }

    #[test]
    fn parser_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Parser>();
    }

    /// (record, expected parser, expected parse_error prefix or None)
    const AUTO_CASES: &[(&[u8], &str, Option<&str>)] = &[
        (
            b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
            "rfc3164",
            None,
        ),
        (
            b"<165>1 2003-10-11T22:14:15.003Z host app 1 ID47 - hi",
            "rfc5424",
            None,
        ),
        (
            b"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: x",
            "rfc3164",
            None,
        ),
        (b"CEF:0|V|P|1|100|name|5|src=1.2.3.4", "cef", None),
        (b"LEEF:1.0|V|P|1|ev|src=1.2.3.4", "leef", None),
        (b"{\"a\":1}", "json", None),
        (
            b"type=USER_LOGIN msg=audit(1.0:1): res=failed",
            "auditd",
            None,
        ),
        (
            b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1",
            "access_log",
            None,
        ),
        (
            b"[Sun Dec 04 04:47:44 2005] [error] boom",
            "apache_error",
            None,
        ),
        (b"a=1 b=2 c=\"x y\"", "kv", None),
        (b"hello world", "raw", Some(NO_PARSER)),
        (b"[not a thing]", "raw", Some(NO_PARSER)),
        (b"   \r\n", "raw", Some("empty record")),
        (b"<13", "raw", Some("syslog")),
        (
            b"<999>Oct 11 22:14:15 host x: y",
            "raw",
            Some("syslog priority 999"),
        ),
        (b"{\"a\":", "raw", Some("invalid json")),
        (b"[1,2,3]", "raw", Some(NO_PARSER)),
    ];

    #[test]
    fn auto_detection_picks_the_right_parser() {
        let parser = Parser::new(ParserConfig::default()).expect("default config");
        for (record, want_parser, want_err) in AUTO_CASES {
            let ev = parser.parse(record, origin());
            let shown = String::from_utf8_lossy(record);
            assert_eq!(ev.parser, *want_parser, "{shown}: {:?}", ev.parse_error);
            match want_err {
                None => assert_eq!(ev.parse_error, None, "{shown}"),
                Some(prefix) => {
                    let err = ev.parse_error.as_deref().unwrap_or("");
                    assert!(err.starts_with(prefix), "{shown}: got {err:?}");
                    assert!(ev.fields.is_empty(), "{shown}: fields kept on error");
                }
            }
        }
    }

    #[test]
    fn invalid_utf8_is_parsed_lossily_and_raw_bytes_kept() {
        let parser = Parser::new(ParserConfig::default()).expect("default config");
        let record = b"<34>Oct 11 22:14:15 host su: bad \xff\xfe bytes";
        let ev = parser.parse(record, origin());
        assert_eq!(ev.parser, "rfc3164");
        assert_eq!(ev.raw, Raw::Bytes(record.to_vec()));
        assert_eq!(
            ev.get_str("message").as_deref(),
            Some("bad \u{fffd}\u{fffd} bytes")
        );
    }

    #[test]
    fn huge_record_is_kept_unparsed() {
        let parser = Parser::new(ParserConfig::default()).expect("default config");
        let mut record = b"<34>Oct 11 22:14:15 host su: ".to_vec();
        record.resize(MAX_PARSE_LEN + 1, b'a');
        let ev = parser.parse(&record, origin());
        assert_eq!(ev.parser, "raw");
        assert!(ev.fields.is_empty());
        assert_eq!(ev.raw.len(), record.len());
        let err = ev.parse_error.unwrap_or_default();
        assert!(
            err.contains("exceeds the 1048576 byte parse limit"),
            "{err}"
        );
    }

    #[test]
    fn explicit_format_reports_its_own_error_and_raw_keeps_text() {
        let cef = Parser::new(ParserConfig {
            format: Format::Cef,
            ..Default::default()
        })
        .expect("cef config");
        let ev = cef.parse(b"<34>Oct 11 22:14:15 host su: hi", origin());
        assert_eq!(ev.parser, "raw");
        assert!(
            ev.parse_error
                .unwrap_or_default()
                .starts_with("not a cef record")
        );

        let raw = Parser::new(ParserConfig {
            format: Format::Raw,
            ..Default::default()
        })
        .expect("raw config");
        let ev = raw.parse(b"CEF:0|a|b|c|d|e|f|", origin());
        assert_eq!(ev.parser, "raw");
        assert_eq!(ev.parse_error, None);
        assert!(ev.fields.is_empty());
    }
}
