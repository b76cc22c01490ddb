//! The one error type of the crate.

/// What can go wrong in triage.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("cannot create the triage directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("triage database {context}: {source}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "triage database was written by a newer rampart (schema version {found}, this build knows up to {known})"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("invalid triage settings: {0}")]
    Config(String),
    /// A request that cannot be done as asked (bad filter, bad suppression, bad value).
    #[error("{0}")]
    Invalid(String),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: i64 },
    /// A valid request that the current state refuses (for example acknowledging a closed alert).
    #[error("{0}")]
    Conflict(String),
}

/// Attach a context to a rusqlite error.
pub(crate) trait SqlContext<T> {
    fn ctx(self, context: &'static str) -> Result<T, TriageError>;
}

impl<T> SqlContext<T> for Result<T, rusqlite::Error> {
    fn ctx(self, context: &'static str) -> Result<T, TriageError> {
        self.map_err(|source| TriageError::Sqlite { context, source })
    }
}
