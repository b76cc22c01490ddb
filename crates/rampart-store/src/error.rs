//! The one error type of the store.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("cannot open index directory {path}: {reason}")]
    OpenIndex { path: PathBuf, reason: String },
    #[error("cannot serialise event {id}: {source}")]
    Serialize {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("stored event at {location} is unreadable: {reason}")]
    CorruptDocument { location: String, reason: String },
    #[error("write-ahead log at {path} is corrupt: {reason}")]
    CorruptWal { path: PathBuf, reason: String },
    #[error("index commit payload '{payload}' is not a sequence number")]
    BadCommitPayload { payload: String },
    #[error("store overloaded: {lag} events wait for indexing (limit {limit}), retry later")]
    Overloaded { lag: u64, limit: u64 },
    #[error("store is closed")]
    Closed,
    #[error("a background thread of the store stopped: {0}")]
    BackgroundFailed(String),
    #[error("unsupported query: {0}")]
    UnsupportedQuery(String),
    #[error(
        "query matches {candidates} events, more than the {limit} that can be scanned for this pipeline; narrow the filter or the time range"
    )]
    QueryTooBroad { candidates: u64, limit: u64 },
    #[error("pipeline failed: {0}")]
    Pipeline(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
