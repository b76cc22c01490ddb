//! Feed configuration, incremental-poll state and status as stored in the intel store.

use crate::feed::FeedFormat;
use crate::taxii::BasicAuth;
use rampart_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a feed's data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedSource {
    /// A local file (a directory for [`FeedFormat::MispFeed`]).
    File { path: PathBuf, format: FeedFormat },
    /// A document fetched over HTTP(S) (a base URL for [`FeedFormat::MispFeed`]).
    Url {
        url: String,
        format: FeedFormat,
        #[serde(default)]
        auth: Option<BasicAuth>,
    },
    /// A TAXII 2.1 collection, by id or title; `url` is the discovery URL or an API root.
    Taxii {
        url: String,
        collection: String,
        #[serde(default)]
        auth: Option<BasicAuth>,
    },
}

/// A configured feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedConfig {
    /// Unique; stored as each indicator's `source`.
    pub name: String,
    pub source: FeedSource,
    /// How often the poller fetches it.
    pub interval_secs: u64,
    /// Confidence of its indicators when the feed states none.
    #[serde(default)]
    pub default_confidence: Option<u8>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl FeedConfig {
    /// A copy fit to show: stored passwords masked.
    pub fn masked(&self) -> FeedConfig {
        let mut m = self.clone();
        match &mut m.source {
            FeedSource::File { .. } => {}
            FeedSource::Url { auth, .. } | FeedSource::Taxii { auth, .. } => {
                *auth = auth.as_ref().map(BasicAuth::masked);
            }
        }
        m
    }
}

impl FeedStatus {
    /// A copy fit to show: stored passwords masked.
    pub fn masked(&self) -> FeedStatus {
        FeedStatus {
            config: self.config.masked(),
            ..self.clone()
        }
    }
}

fn yes() -> bool {
    true
}

/// Incremental-poll position of a feed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedState {
    /// TAXII: the last `X-TAXII-Date-Added-Last` seen, by collection id.
    #[serde(default)]
    pub taxii_added_after: BTreeMap<String, String>,
    /// MISP feed: the newest manifest `timestamp` imported.
    #[serde(default)]
    pub misp_timestamp: Option<i64>,
}

/// A feed with its poll history and counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedStatus {
    pub config: FeedConfig,
    pub last_poll: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub last_error: Option<String>,
    pub state: FeedState,
    /// Indicators currently stored from this feed.
    pub indicators: u64,
    pub added_total: u64,
    pub updated_total: u64,
    pub skipped_total: u64,
}
