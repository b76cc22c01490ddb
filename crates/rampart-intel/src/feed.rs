//! What every importer produces: indicators plus counted, explained skips; feed formats
//! and the size limits that keep hostile input bounded.

use crate::IntelError;
use crate::indicator::Indicator;
use rampart_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest feed document read at once (a STIX bundle, a MISP event, a list).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024 * 1024;
/// Most skip samples kept in a report (all skips are counted).
pub const MAX_SKIP_SAMPLES: usize = 50;

/// The format of a feed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    /// A STIX 2.1 bundle (`{"type": "bundle", "objects": [...]}`), or a bare object list.
    Stix,
    /// One MISP event (`{"Event": {...}}`), or `{"response": [{"Event": …}, …]}`.
    MispEvent,
    /// A MISP feed export: a directory (or base URL) with `manifest.json` and `{uuid}.json`.
    MispFeed,
    /// CSV with a header row naming at least a `value` column.
    Csv,
    /// One indicator a line, `#` comments, kind guessed.
    Plain,
}

impl FeedFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Stix => "stix",
            FeedFormat::MispEvent => "misp_event",
            FeedFormat::MispFeed => "misp_feed",
            FeedFormat::Csv => "csv",
            FeedFormat::Plain => "plain",
        }
    }
}

impl std::str::FromStr for FeedFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "stix" | "stix2" | "stix21" => FeedFormat::Stix,
            "misp" | "misp_event" => FeedFormat::MispEvent,
            "misp_feed" => FeedFormat::MispFeed,
            "csv" => FeedFormat::Csv,
            "plain" | "txt" | "text" | "list" => FeedFormat::Plain,
            _ => return Err(format!("unknown feed format '{s}'")),
        })
    }
}

/// Records a feed had that gave no indicator, counted by reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub count: u64,
    /// How many records were skipped for each reason.
    pub reasons: BTreeMap<String, u64>,
    /// The first few skipped records: where (`line 3`, an object id) and why.
    pub samples: Vec<SkipSample>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipSample {
    pub record: String,
    pub reason: String,
}

impl Skipped {
    /// Count one skipped record. `reason` is the category counted (keep it free of the
    /// record's own text); `detail` goes into the sample only.
    pub fn add(&mut self, record: impl Into<String>, reason: &str, detail: Option<&str>) {
        self.count += 1;
        *self.reasons.entry(reason.to_owned()).or_insert(0) += 1;
        if self.samples.len() < MAX_SKIP_SAMPLES {
            let mut record: String = record.into();
            truncate_chars(&mut record, 200);
            let reason = match detail {
                Some(d) => format!("{reason}: {d}"),
                None => reason.to_owned(),
            };
            self.samples.push(SkipSample { record, reason });
        }
    }

    pub fn merge(&mut self, other: Skipped) {
        self.count += other.count;
        for (k, v) in other.reasons {
            *self.reasons.entry(k).or_insert(0) += v;
        }
        for s in other.samples {
            if self.samples.len() < MAX_SKIP_SAMPLES {
                self.samples.push(s);
            }
        }
    }
}

pub(crate) fn truncate_chars(s: &mut String, max: usize) {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
        s.push('…');
    }
}

/// What parsing one feed document gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFeed {
    pub indicators: Vec<Indicator>,
    pub skipped: Skipped,
}

/// Defaults applied to what a document does not say.
#[derive(Debug, Clone)]
pub struct ParseContext<'a> {
    /// The feed name, stored as each indicator's `source`.
    pub source: &'a str,
    /// "Now": first/last seen of indicators that state no time.
    pub now: Timestamp,
    /// Confidence of indicators whose feed states none.
    pub default_confidence: u8,
}

impl<'a> ParseContext<'a> {
    pub fn new(source: &'a str, now: Timestamp) -> Self {
        ParseContext {
            source,
            now,
            default_confidence: crate::indicator::DEFAULT_CONFIDENCE,
        }
    }
}

/// Parse one in-memory feed document. [`FeedFormat::MispFeed`] needs a directory: use
/// [`crate::misp::parse_feed_dir`].
pub fn parse_document(
    format: FeedFormat,
    bytes: &[u8],
    ctx: &ParseContext<'_>,
) -> Result<ParsedFeed, IntelError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(IntelError::TooLarge {
            what: "feed document".into(),
            size: bytes.len() as u64,
            limit: MAX_DOCUMENT_BYTES as u64,
        });
    }
    match format {
        FeedFormat::Stix => crate::stix::parse_bundle(bytes, ctx),
        FeedFormat::MispEvent => crate::misp::parse_event_json(bytes, ctx),
        FeedFormat::MispFeed => Err(IntelError::Format {
            context: "misp feed".into(),
            reason: "a MISP feed is a directory or base URL, not one document".into(),
        }),
        FeedFormat::Csv => crate::lists::parse_csv(bytes, ctx),
        FeedFormat::Plain => Ok(crate::lists::parse_plain(bytes, ctx)),
    }
}

/// Parse an RFC 3339 time; `None` when absent or invalid.
pub(crate) fn parse_time(v: Option<&serde_json::Value>) -> Option<Timestamp> {
    match v? {
        serde_json::Value::String(s) => {
            if let Ok(t) = Timestamp::parse_rfc3339(s) {
                return Some(t);
            }
            // MISP writes epoch seconds as strings, and dates as `YYYY-MM-DD`.
            if let Ok(secs) = s.trim().parse::<i64>() {
                return Some(Timestamp::from_secs(secs));
            }
            s.trim()
                .parse::<jiff::civil::Date>()
                .ok()
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|z| Timestamp::from_jiff(z.timestamp()))
        }
        serde_json::Value::Number(n) => n.as_i64().map(Timestamp::from_secs),
        _ => None,
    }
}
