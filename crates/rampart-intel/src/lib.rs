//! Rampart's threat intelligence: indicator feeds, the indicator store, ingest-speed
//! matching of events against indicators, and retro-hunts over stored events.
//!
//! This crate owns the [`Indicator`] model (kinds, normalisation, expiry and confidence
//! decay), the importers for STIX 2.1 bundles, TAXII 2.1 collections, MISP events and
//! feeds, CSV and plain lists, the SQLite-backed [`IntelStore`] (feeds, indicators,
//! allow-list), the [`Matcher`] snapshot that checks every event's normalised fields
//! with hash sets, prefix tables and a domain suffix walk, the [`retro_hunt`] that
//! searches stored events for newly arrived indicators through the `EventStore` trait,
//! the [`FeedPoller`] that polls feeds on a schedule, and the [`IntelService`] that runs
//! it all in a server: live matching on the store's durable `intel` stream consumer,
//! crash-safe [`IntelSighting`]s, retro-hunts of new indicators and the `[intel]`
//! configuration ([`IntelConfig`]). It must not know about
//! listeners, parsing of raw records, HTTP serving, detection rules or how alerts are
//! stored and shown: callers turn [`IntelHit`]s and [`RetroHit`]s into whatever they raise.

pub mod config;
pub mod feed;
mod http;
mod index;
pub mod indicator;
pub mod lists;
pub mod matcher;
pub mod misp;
pub mod poller;
pub mod retro;
pub mod service;
pub mod settings;
pub mod sightings;
pub mod stix;
pub mod store;
pub mod taxii;

pub use config::{FeedConfig, FeedSource, FeedState, FeedStatus};
pub use feed::{FeedFormat, ParseContext, ParsedFeed, Skipped, parse_document};
pub use indicator::{AllowEntry, DecayPolicy, Indicator, IndicatorKind, Reference};
pub use matcher::{AllowList, IntelHit, Matcher, MatcherStats, SharedMatcher};
pub use poller::{FeedPoller, PollEvent};
pub use retro::{RetroHit, RetroHuntOptions, RetroHuntReport, retro_hunt};
pub use service::{
    CONSUMER, FeedSummary, ImportOutcome, IntelService, IntelStatus, RetroSummary, SightingSink,
};
pub use settings::{FeedEntry, FeedKind, IntelConfig};
pub use sightings::{
    IntelSighting, SightingCounts, SightingFilter, SightingIndicator, SightingKind,
};
pub use store::{ImportReport, IndicatorFilter, IntelStore};
pub use taxii::{BasicAuth, TaxiiClient};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid json in {context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid {context}: {reason}")]
    Format { context: String, reason: String },
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("sqlite error while {context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("http error on {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("unknown feed '{0}'")]
    UnknownFeed(String),
    #[error("invalid {what} '{value}': {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("event store error during retro-hunt: {0}")]
    Store(#[from] rampart_store::StoreError),
}
