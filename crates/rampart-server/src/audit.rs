//! The audit trail: who did what, when, with what outcome. Append-only JSON lines in the
//! data directory, fsync'd in batches by the writer, readable through the API.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    pub time: String,
    /// Token name, or `anonymous` for a rejected request.
    pub actor: String,
    pub role: Option<String>,
    pub action: String,
    pub target: String,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| AuditError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(AuditLog {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// Append one record. Failures are logged, not propagated: an audit write problem must
    /// be visible to operators but must not turn a read into an error for the analyst.
    pub fn record(&self, record: &AuditRecord) {
        let mut line = match serde_json::to_vec(record) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise audit record");
                return;
            }
        };
        line.push(b'\n');
        let mut file = self.file.lock();
        if let Err(e) = file.write_all(&line).and_then(|()| file.sync_data()) {
            tracing::error!(path = %self.path.display(), error = %e, "audit write failed");
        }
    }

    /// The newest `limit` records, newest first.
    pub fn tail(&self, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let file = File::open(&self.path).map_err(|source| AuditError::Io {
            path: self.path.clone(),
            source,
        })?;
        let mut ring = std::collections::VecDeque::with_capacity(limit.min(10_000));
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|source| AuditError::Io {
                path: self.path.clone(),
                source,
            })?;
            if let Ok(rec) = serde_json::from_str::<AuditRecord>(&line) {
                if ring.len() == limit {
                    ring.pop_front();
                }
                ring.push_back(rec);
            }
        }
        Ok(ring.into_iter().rev().collect())
    }
}

pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_come_back_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).expect("open");
        for i in 0..5 {
            log.record(&AuditRecord {
                time: now_rfc3339(),
                actor: format!("user{i}"),
                role: Some("analyst".into()),
                action: "GET /api/v1/search".into(),
                target: "q=x".into(),
                outcome: "200".into(),
                detail: None,
                peer: None,
            });
        }
        drop(log);
        let log = AuditLog::open(&path).expect("reopen");
        let tail = log.tail(2).expect("tail");
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[0].actor, "user4");
        assert_eq!(tail[1].actor, "user3");
    }
}
