//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading rules or mappings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid sigma yaml: {0}")]
    Yaml(String),
    #[error("rule {rule}: {reason}")]
    Rule { rule: String, reason: String },
    #[error("tests {}: {reason}", path.display())]
    Tests { path: PathBuf, reason: String },
    #[error("mapping {name}: {reason}")]
    Mapping { name: String, reason: String },
    #[error("{0}")]
    Snapshot(String),
}
