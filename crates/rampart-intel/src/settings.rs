//! The `[intel]` configuration section: on/off, retro-hunt look-back, poll cadence and the
//! feeds, with credentials named by environment variable rather than written down.

use crate::IntelError;
use crate::config::{FeedConfig, FeedSource};
use crate::feed::FeedFormat;
use crate::taxii::BasicAuth;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The `[intel]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntelConfig {
    /// Match every accepted event against the indicators and poll the feeds.
    pub enabled: bool,
    /// How far back (by event time) a retro-hunt searches when new indicators arrive
    /// (`30d`, `12h`).
    pub lookback: String,
    /// How often the poller looks for due feeds and purges expired indicators (`30s`).
    pub poll_tick: String,
    /// Most events matched per batch (one SQLite transaction and one stream commit each).
    pub batch_size: usize,
    /// Feeds polled on their interval (`[[intel.feeds]]` or `[[intel.feed]]` tables).
    /// They are added to (or updated in) the intel store at start; feeds added through
    /// the API stay until removed there.
    #[serde(alias = "feed")]
    pub feeds: Vec<FeedEntry>,
}

impl Default for IntelConfig {
    fn default() -> Self {
        IntelConfig {
            enabled: true,
            lookback: "30d".into(),
            poll_tick: "30s".into(),
            batch_size: 2048,
            feeds: Vec::new(),
        }
    }
}

fn duration(what: &'static str, text: &str) -> Result<Duration, IntelError> {
    rampart_query::parse_duration(text.trim())
        .filter(|n| *n > 0)
        .map(|n| Duration::from_nanos(n as u64))
        .ok_or_else(|| IntelError::Invalid {
            what,
            value: text.to_owned(),
            reason: "expected a duration such as 30s, 15m, 12h or 30d".into(),
        })
}

impl IntelConfig {
    pub fn lookback_duration(&self) -> Result<Duration, IntelError> {
        duration("intel.lookback", &self.lookback)
    }

    pub fn poll_tick_duration(&self) -> Result<Duration, IntelError> {
        duration("intel.poll_tick", &self.poll_tick)
    }

    /// Check every setting and feed (as [`IntelService::start`](crate::IntelService::start)
    /// would), without touching anything.
    pub fn validate(&self) -> Result<(), IntelError> {
        self.lookback_duration()?;
        self.poll_tick_duration()?;
        let mut names = std::collections::HashSet::new();
        for f in &self.feeds {
            f.to_feed_config()?;
            if !names.insert(f.name.as_str()) {
                return Err(IntelError::Invalid {
                    what: "feed name",
                    value: f.name.clone(),
                    reason: "configured twice".into(),
                });
            }
        }
        Ok(())
    }
}

/// Where a configured feed comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    File,
    Url,
    Taxii,
}

/// One feed as written in the configuration or posted to the API. Credentials are named
/// by environment variable (`username_env`, `password_env`), read at each poll; a
/// `password` given through the API is kept in the intel store and never shown or
/// written out again.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedEntry {
    pub name: String,
    pub kind: FeedKind,
    /// `file` feeds: the file (a directory for `misp-feed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `url` feeds: the document (base URL for `misp-feed`); `taxii`: the discovery URL
    /// or an API root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `file` and `url` feeds: `stix`, `misp`, `misp-feed`, `csv` or `plain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `taxii` feeds: the collection's id or title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// How often it is polled (`1h`, `15m`).
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Confidence (0–100) of indicators the feed states none for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Environment variable holding the user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_env: Option<String>,
    /// Environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// A password given as it is (API only; prefer `password_env`). Never serialised.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
}

impl std::fmt::Debug for FeedEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedEntry")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("url", &self.url)
            .field("format", &self.format)
            .field("collection", &self.collection)
            .field("interval", &self.interval)
            .field("username_env", &self.username_env)
            .field("password_env", &self.password_env)
            .finish_non_exhaustive()
    }
}

fn default_interval() -> String {
    "1h".into()
}

fn yes() -> bool {
    true
}

/// Longest feed name accepted (it is stored as every indicator's `source`).
pub const MAX_FEED_NAME: usize = 128;

/// A feed name: 1–128 letters, digits, `-`, `_`, `.` or `:`.
pub fn check_feed_name(name: &str) -> Result<(), IntelError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_FEED_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(IntelError::Invalid {
            what: "feed name",
            value: name.chars().take(MAX_FEED_NAME).collect(),
            reason: "use 1-128 letters, digits, '-', '_', '.' or ':'".into(),
        })
    }
}

impl FeedEntry {
    /// The store's feed configuration, after checking that the kind has what it needs.
    pub fn to_feed_config(&self) -> Result<FeedConfig, IntelError> {
        check_feed_name(&self.name)?;
        let invalid = |what: &'static str, reason: &str| IntelError::Invalid {
            what,
            value: self.name.clone(),
            reason: reason.to_owned(),
        };
        let interval = duration("feed interval", &self.interval)?;
        if let Some(c) = self.confidence
            && c > 100
        {
            return Err(invalid("feed confidence", "confidence is 0-100"));
        }
        let format = || -> Result<FeedFormat, IntelError> {
            let text = self
                .format
                .as_deref()
                .ok_or_else(|| invalid("feed", "file and url feeds need a format"))?;
            text.parse::<FeedFormat>()
                .map_err(|reason| IntelError::Invalid {
                    what: "feed format",
                    value: text.to_owned(),
                    reason,
                })
        };
        let auth = self.auth();
        let url = || {
            self.url
                .clone()
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                .ok_or_else(|| invalid("feed", "url and taxii feeds need an http(s) url"))
        };
        let source = match self.kind {
            FeedKind::File => {
                if auth.is_some() {
                    return Err(invalid("feed", "file feeds take no credentials"));
                }
                FeedSource::File {
                    path: self
                        .path
                        .clone()
                        .ok_or_else(|| invalid("feed", "file feeds need a path"))?,
                    format: format()?,
                }
            }
            FeedKind::Url => FeedSource::Url {
                url: url()?,
                format: format()?,
                auth,
            },
            FeedKind::Taxii => FeedSource::Taxii {
                url: url()?,
                collection: self
                    .collection
                    .clone()
                    .filter(|c| !c.trim().is_empty())
                    .ok_or_else(|| invalid("feed", "taxii feeds need a collection"))?,
                auth,
            },
        };
        Ok(FeedConfig {
            name: self.name.clone(),
            source,
            interval_secs: interval.as_secs().max(1),
            default_confidence: self.confidence,
            enabled: self.enabled,
        })
    }

    fn auth(&self) -> Option<BasicAuth> {
        let any = self.username.is_some()
            || self.username_env.is_some()
            || self.password_env.is_some()
            || self.password.is_some();
        any.then(|| BasicAuth {
            username: self.username.clone().unwrap_or_default(),
            password: self.password.clone().unwrap_or_default(),
            username_env: self.username_env.clone(),
            password_env: self.password_env.clone(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(json: serde_json::Value) -> Result<FeedConfig, String> {
        let e: FeedEntry = serde_json::from_value(json).map_err(|e| e.to_string())?;
        e.to_feed_config().map_err(|e| e.to_string())
    }

    #[test]
    fn feed_entries_become_store_configs_or_clear_errors() {
        use serde_json::json;
        let ok = [
            json!({"name": "abuse", "kind": "file", "path": "/x.txt", "format": "plain"}),
            json!({"name": "misp", "kind": "url", "url": "https://m/feed/", "format": "misp-feed",
                   "interval": "15m", "confidence": 70}),
            json!({"name": "tx", "kind": "taxii", "url": "http://127.0.0.1:1/taxii2/",
                   "collection": "c1", "username": "u", "password_env": "TX_PASS"}),
        ];
        for j in ok {
            entry(j.clone()).unwrap_or_else(|e| panic!("{j}: {e}"));
        }
        let bad = [
            (
                json!({"name": "a b", "kind": "file", "path": "/x", "format": "csv"}),
                "feed name",
            ),
            (
                json!({"name": "a", "kind": "file", "format": "csv"}),
                "need a path",
            ),
            (
                json!({"name": "a", "kind": "file", "path": "/x"}),
                "need a format",
            ),
            (
                json!({"name": "a", "kind": "file", "path": "/x", "format": "xml"}),
                "xml",
            ),
            (
                json!({"name": "a", "kind": "url", "url": "ftp://x", "format": "csv"}),
                "http(s) url",
            ),
            (
                json!({"name": "a", "kind": "taxii", "url": "http://x/"}),
                "collection",
            ),
            (
                json!({"name": "a", "kind": "taxii", "url": "http://x/", "collection": "c",
                    "interval": "soon"}),
                "soon",
            ),
            (
                json!({"name": "a", "kind": "file", "path": "/x", "format": "csv",
                    "confidence": 101}),
                "0-100",
            ),
            (json!({"name": "a", "kind": "ftp"}), "ftp"),
            (json!({"name": "a", "kind": "file", "pth": "/x"}), "pth"),
        ];
        for (j, needle) in bad {
            let err = entry(j.clone()).unwrap_err();
            assert!(err.contains(needle), "{j}: {err}");
        }
        let tx = entry(
            json!({"name": "tx", "kind": "taxii", "url": "http://h/taxii2/",
            "collection": "c1", "interval": "2h", "password_env": "TX_PASS", "username": "u"}),
        )
        .unwrap();
        assert_eq!(tx.interval_secs, 7200);
        let FeedSource::Taxii { auth: Some(a), .. } = &tx.source else {
            panic!("{tx:?}")
        };
        assert_eq!(
            (a.username.as_str(), a.password_env.as_deref()),
            ("u", Some("TX_PASS"))
        );
    }

    #[test]
    fn passwords_are_never_written_out() {
        let e: FeedEntry = serde_json::from_value(serde_json::json!({
            "name": "tx", "kind": "url", "url": "https://h/x", "format": "csv",
            "username": "u", "password": "hunter2"
        }))
        .unwrap();
        let shown = format!("{} {:?}", serde_json::to_string(&e).unwrap(), e);
        assert!(!shown.contains("hunter2"), "{shown}");
        let cfg = e.to_feed_config().unwrap();
        let masked = serde_json::to_string(&cfg.masked()).unwrap();
        assert!(
            !masked.contains("hunter2") && masked.contains("********"),
            "{masked}"
        );
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn config_section_reads_feed_tables_and_durations() {
        let c: IntelConfig = serde_json::from_value(serde_json::json!({
            "lookback": "7d",
            "feed": [{"name": "f", "kind": "file", "path": "/x", "format": "stix"}]
        }))
        .unwrap();
        assert!(c.enabled);
        assert_eq!(c.feeds.len(), 1);
        assert_eq!(
            c.lookback_duration().unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        c.validate().unwrap();
        let mut twice = c.clone();
        twice.feeds.push(c.feeds[0].clone());
        assert!(twice.validate().unwrap_err().to_string().contains("twice"));
        let bad = IntelConfig {
            lookback: "forever".into(),
            ..IntelConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("forever"));
    }
}
