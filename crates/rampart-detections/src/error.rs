//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while storing detections or managing rules.
#[derive(Debug, thiserror::Error)]
pub enum DetectionsError {
    #[error("cannot open detection database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("detection database: {context}: {source}")]
    Sql {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("detection database schema version {found} is newer than this build knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("event store: {0}")]
    Store(#[from] rampart_store::StoreError),
    #[error("unknown rule '{0}'")]
    UnknownRule(String),
    #[error("rules not reloaded, the previous rules stay active: {0}")]
    ReloadRefused(String),
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl DetectionsError {
    /// A closure turning a rusqlite error into [`DetectionsError::Sql`] with `context`.
    pub(crate) fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> DetectionsError {
        move |source| DetectionsError::Sql { context, source }
    }
}
