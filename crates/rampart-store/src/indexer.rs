//! The indexer thread: adds WAL-durable batches to the index, commits them with the last
//! sequence number as payload, drops committed WAL segments, and applies retention.

use crate::RetentionReport;
use crate::embedded::Inner;
use crate::error::StoreError;
use crate::schema;
use crate::wal;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rampart_model::{Event, Timestamp};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tantivy::collector::Count;
use tantivy::query::RangeQuery;
use tantivy::{IndexWriter, Term};

/// Events durable in the WAL, on their way into the index.
pub(crate) struct IndexBatch {
    pub(crate) first_seq: u64,
    /// Shared with the stream consumers' tail (see `consumer::Tail`).
    pub(crate) events: std::sync::Arc<Vec<Event>>,
    /// The framed records; event `i`'s serialised form is at `spans[i]`.
    pub(crate) framed: Vec<u8>,
}

pub(crate) enum IndexerMsg {
    Batch(IndexBatch),
    Refresh(Sender<Result<(), StoreError>>),
    Retention(Sender<Result<RetentionReport, StoreError>>),
    Close(Sender<Result<(), StoreError>>),
}

struct IndexerState<'a> {
    inner: &'a Inner,
    writer: IndexWriter,
    /// Last sequence number added to the writer.
    added_seq: u64,
    /// Last sequence number committed.
    committed_seq: u64,
    added_since_commit: u64,
}

impl IndexerState<'_> {
    fn add(&mut self, batch: IndexBatch) -> Result<(), StoreError> {
        let n = batch.events.len() as u64;
        let fields = &self.inner.fields;
        let mut offset = 0usize;
        let mut result = Ok(());
        for event in batch.events.iter() {
            // Framing was produced by `append`; a record is [len][crc][payload].
            let len = batch
                .framed
                .get(offset..offset + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_le_bytes)
                .unwrap_or(0) as usize;
            let start = offset + wal::HEADER_LEN;
            let payload = batch.framed.get(start..start + len).unwrap_or_default();
            offset = start + len;
            if result.is_ok()
                && let Err(e) = self
                    .writer
                    .add_document(schema::to_document(fields, event, payload))
            {
                result = Err(e.into());
            }
        }
        self.added_seq = batch.first_seq + n - 1;
        self.added_since_commit += n;
        self.inner.release(n);
        result
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&self.added_seq.to_string());
        prepared.commit()?;
        self.inner.reader.reload()?;
        let c = &self.inner.counters;
        c.indexed
            .fetch_add(self.added_since_commit, Ordering::Relaxed);
        c.committed_seq.store(self.added_seq, Ordering::Relaxed);
        c.commits.fetch_add(1, Ordering::Relaxed);
        c.last_commit_ms
            .store(Timestamp::now().millis().max(0) as u64, Ordering::Relaxed);
        self.added_since_commit = 0;
        self.committed_seq = self.added_seq;
        self.inner.remove_wal_below(self.committed_seq)?;
        Ok(())
    }

    fn commit_if_needed(&mut self) -> Result<(), StoreError> {
        if self.added_since_commit > 0 || self.added_seq != self.committed_seq {
            self.commit()
        } else {
            Ok(())
        }
    }

    /// Delete by age, then by size, committing after each step.
    fn retention(&mut self) -> Result<RetentionReport, StoreError> {
        self.commit_if_needed()?;
        let policy = self.inner.config.retention.clone();
        let mut report = RetentionReport {
            index_bytes_before: dir_bytes(&self.inner.index_dir),
            ..RetentionReport::default()
        };
        let ts = self.inner.fields.ts;
        if let Some(max_age) = policy.max_age_secs {
            let cutoff = Timestamp::now().nanos().saturating_sub(
                i64::try_from(max_age)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1_000_000_000),
            );
            let query = RangeQuery::new(
                Bound::Unbounded,
                Bound::Excluded(Term::from_field_i64(ts, cutoff)),
            );
            let n = self.inner.reader.searcher().search(&query, &Count)? as u64;
            if n > 0 {
                self.writer.delete_query(Box::new(query))?;
                self.commit()?;
                report.deleted_by_age = n;
            }
        }
        if let Some(max_bytes) = policy.max_bytes {
            let (deleted, cutoff) = self.delete_for_size(max_bytes)?;
            report.deleted_by_size = deleted;
            report.size_cutoff = cutoff.map(Timestamp::from_nanos);
        }
        let c = &self.inner.counters;
        c.retention_deleted.fetch_add(
            report.deleted_by_age + report.deleted_by_size,
            Ordering::Relaxed,
        );
        c.retention_runs.fetch_add(1, Ordering::Relaxed);
        report.index_bytes_after = dir_bytes(&self.inner.index_dir);
        if report.deleted_by_age + report.deleted_by_size > 0 {
            tracing::info!(?report, "retention deleted events");
        }
        Ok(report)
    }

    /// Delete the oldest events, an hour at a time, until the live part of the index fits.
    ///
    /// Deleted documents free their space only when tantivy merges their segments, so the
    /// size that counts is the live share of the files: bytes × live docs / all docs.
    fn delete_for_size(&mut self, max_bytes: u64) -> Result<(u64, Option<i64>), StoreError> {
        const HOUR: i64 = 3_600_000_000_000;
        let searcher = self.inner.reader.searcher();
        let bytes = dir_bytes(&self.inner.index_dir);
        let live = searcher.num_docs();
        let all: u64 = searcher
            .segment_readers()
            .iter()
            .map(|s| u64::from(s.max_doc()))
            .sum();
        if live == 0 || all == 0 {
            return Ok((0, None));
        }
        let per_doc = bytes as f64 / all as f64;
        let live_bytes = per_doc * live as f64;
        if live_bytes <= max_bytes as f64 {
            return Ok((0, None));
        }
        let must_delete = ((live_bytes - max_bytes as f64) / per_doc).ceil() as u64;
        let (Some(oldest), Some(newest)) = crate::search::time_bounds(&searcher) else {
            return Ok((0, None));
        };
        let ts = self.inner.fields.ts;
        let older_than = |cutoff: i64| -> Result<u64, StoreError> {
            let q = RangeQuery::new(
                Bound::Unbounded,
                Bound::Excluded(Term::from_field_i64(ts, cutoff)),
            );
            Ok(searcher.search(&q, &Count)? as u64)
        };
        // The smallest hour boundary with enough older events: a binary search, since the
        // count below a boundary only grows with it.
        let mut lo_hour = oldest.nanos().div_euclid(HOUR) + 1;
        let mut hi_hour = newest.nanos().div_euclid(HOUR) + 1;
        while lo_hour < hi_hour {
            let mid = lo_hour + (hi_hour - lo_hour) / 2;
            if older_than(mid.saturating_mul(HOUR))? >= must_delete {
                hi_hour = mid;
            } else {
                lo_hour = mid + 1;
            }
        }
        let cutoff = lo_hour.saturating_mul(HOUR);
        let n = older_than(cutoff)?;
        if n == 0 {
            return Ok((0, None));
        }
        self.writer.delete_query(Box::new(RangeQuery::new(
            Bound::Unbounded,
            Bound::Excluded(Term::from_field_i64(ts, cutoff)),
        )))?;
        self.commit()?;
        Ok((n, Some(cutoff)))
    }
}

/// Lower the calling thread's scheduling priority by `nice` (see
/// `EmbeddedStoreConfig::index_nice`). On Linux the nice value belongs to the thread, and
/// threads it starts inherit it. A refusal is logged: indexing then runs at equal priority.
pub(crate) fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let result = rustix::process::getpriority_process(None)
            .and_then(|now| rustix::process::setpriority_process(None, (now + nice).min(19)));
        if let Err(e) = result {
            tracing::warn!(error = %e, nice, "could not lower the indexing threads' priority");
        }
    }
}

pub(crate) fn indexer_thread(
    inner: &Inner,
    writer: IndexWriter,
    committed_seq: u64,
    rx: &Receiver<IndexerMsg>,
) {
    lower_priority(inner.config.index_nice);
    let mut state = IndexerState {
        inner,
        writer,
        added_seq: committed_seq,
        committed_seq,
        added_since_commit: 0,
    };
    let interval = inner.config.commit_interval;
    let retention_on =
        inner.config.retention.max_age_secs.is_some() || inner.config.retention.max_bytes.is_some();
    let mut next_retention = Instant::now() + inner.config.retention_interval;
    let mut deadline: Option<Instant> = None;
    let report = |r: Result<(), StoreError>| {
        if let Err(e) = r {
            inner.fail(format!("indexing failed: {e}"));
        }
    };
    loop {
        let now = Instant::now();
        let wake = deadline
            .unwrap_or(now + Duration::from_secs(1))
            .min(if retention_on {
                next_retention
            } else {
                now + Duration::from_secs(1)
            });
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(IndexerMsg::Batch(batch)) => {
                report(state.add(batch));
                if deadline.is_none() {
                    deadline = Some(Instant::now() + interval);
                }
            }
            Ok(IndexerMsg::Refresh(reply)) => {
                let _ = reply.send(state.commit_if_needed());
                deadline = None;
            }
            Ok(IndexerMsg::Retention(reply)) => {
                let _ = reply.send(state.retention());
                deadline = None;
            }
            Ok(IndexerMsg::Close(reply)) => {
                // Everything the WAL thread handed over precedes this message.
                let mut r = state.commit_if_needed();
                if let Err(e) = state.writer.wait_merging_threads()
                    && r.is_ok()
                {
                    r = Err(e.into());
                }
                let _ = reply.send(r);
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                report(state.commit_if_needed());
                if let Err(e) = state.writer.wait_merging_threads() {
                    report(Err(e.into()));
                }
                return;
            }
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| d <= now) {
            report(state.commit_if_needed());
            deadline = None;
        }
        if retention_on && next_retention <= now {
            if let Err(e) = state.retention() {
                tracing::error!(error = %e, "periodic retention failed");
            }
            next_retention = Instant::now() + inner.config.retention_interval;
        }
    }
}

/// Bytes of the files directly in `dir`.
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
