//! The embedded store: WAL writer thread (group commit), indexer thread, back-pressure,
//! recovery on open and retention.
//!
//! ```text
//! append ─serialise+frame─▶ [writer chan] ─▶ WAL thread: write all pending, one fsync,
//!                                              hand batches to the indexer, ack callers
//!                                           ─▶ [indexer chan] ─▶ indexer thread: add docs,
//!                                              commit every interval with payload = last seq,
//!                                              reload reader, drop WAL segments ≤ payload
//! ```

use crate::error::StoreError;
use crate::schema::{self, Fields};
use crate::wal::{self, WalWriter};
use crate::{
    AppendReceipt, EmbeddedStoreConfig, EventStore, RetentionReport, SearchRequest,
    SearchResponse, StoreStats,
};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};
use rampart_model::{Event, EventId, Timestamp};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term};

/// Most bytes the WAL thread gathers into one write + fsync.
const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// One caller's append on its way to the WAL.
struct AppendJob {
    events: Vec<Event>,
    /// Framed records, one per event.
    framed: Vec<u8>,
    reply: Sender<Result<AppendReceipt, StoreError>>,
}

/// Events durable in the WAL, on their way into the index.
struct IndexBatch {
    first_seq: u64,
    events: Vec<Event>,
    /// The framed records; event `i`'s serialised form is at `spans[i]`.
    framed: Vec<u8>,
}

enum IndexerMsg {
    Batch(IndexBatch),
    Refresh(Sender<Result<(), StoreError>>),
    Retention(Sender<Result<RetentionReport, StoreError>>),
    Close(Sender<Result<(), StoreError>>),
}

#[derive(Default)]
pub(crate) struct Counters {
    appended: AtomicU64,
    indexed: AtomicU64,
    replayed: AtomicU64,
    committed_seq: AtomicU64,
    last_commit_ms: AtomicU64,
    commits: AtomicU64,
    retention_deleted: AtomicU64,
    retention_runs: AtomicU64,
    overload_rejections: AtomicU64,
    wal_corrupt: AtomicU64,
    pub(crate) searches_indexed: AtomicU64,
    pub(crate) searches_scanned: AtomicU64,
}

/// Events acknowledged-or-in-flight that the indexer has not taken yet.
struct Lag {
    waiting: Mutex<u64>,
    freed: Condvar,
}

pub(crate) struct Inner {
    pub(crate) config: EmbeddedStoreConfig,
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    index_dir: PathBuf,
    wal_dir: PathBuf,
    lag: Lag,
    pub(crate) counters: Counters,
    closed: AtomicBool,
    failure: Mutex<Option<String>>,
}

/// The embedded store: a WAL and a tantivy index in one directory.
pub struct EmbeddedStore {
    inner: Arc<Inner>,
    writer_tx: Mutex<Option<Sender<AppendJob>>>,
    indexer_tx: Sender<IndexerMsg>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl EmbeddedStore {
    /// Open (or create) the store in `dir`, replaying the WAL past the last index commit.
    pub fn open(dir: &Path, config: EmbeddedStoreConfig) -> Result<Self, StoreError> {
        if config.max_lag_events == 0 {
            return Err(StoreError::Config("max_lag_events must be above 0".into()));
        }
        let wal_dir = dir.join("wal");
        let index_dir = dir.join("index");
        for d in [dir, &wal_dir, &index_dir] {
            std::fs::create_dir_all(d).map_err(|e| StoreError::io(d, e))?;
        }
        let mmap = MmapDirectory::open(&index_dir).map_err(|e| StoreError::OpenIndex {
            path: index_dir.clone(),
            reason: e.to_string(),
        })?;
        let index = Index::builder()
            .schema(schema::build_schema())
            .settings(schema::index_settings())
            .open_or_create(mmap)?;
        schema::register_tokenizers(&index);
        let fields = Fields::new(index.schema())?;

        let committed = match index.load_metas()?.payload {
            None => 0,
            Some(p) => p
                .trim()
                .parse::<u64>()
                .map_err(|_| StoreError::BadCommitPayload { payload: p.clone() })?,
        };
        let threads = config.index_threads.max(1);
        let memory = config.writer_memory_bytes.max(threads * 16 * 1024 * 1024);
        let mut writer: IndexWriter = index.writer_with_num_threads(threads, memory)?;

        // Replay what the WAL holds past the last commit.
        let counters = Counters::default();
        let mut replayed = 0u64;
        let mut undecodable = 0u64;
        let report = wal::recover(&wal_dir, committed + 1, |seq, payload| {
            match serde_json::from_slice::<Event>(payload) {
                Ok(mut event) => {
                    writer.add_document(schema::to_document(&fields, &mut event, payload))?;
                    replayed += 1;
                }
                Err(e) => {
                    undecodable += 1;
                    tracing::error!(seq, error = %e, "write-ahead log record is not an event; skipped");
                }
            }
            Ok(())
        })?;
        let last_seq = report.last_seq.max(committed);
        if replayed > 0 || last_seq > committed {
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&last_seq.to_string());
            prepared.commit()?;
            counters.commits.fetch_add(1, Ordering::Relaxed);
            tracing::info!(replayed, last_seq, "replayed the write-ahead log into the index");
        }
        wal::remove_committed(&wal_dir, last_seq)?;
        counters.replayed.store(replayed, Ordering::Relaxed);
        counters.indexed.store(replayed, Ordering::Relaxed);
        counters.committed_seq.store(last_seq, Ordering::Relaxed);
        counters
            .wal_corrupt
            .store(report.corrupt_records + undecodable, Ordering::Relaxed);

        let wal_writer = WalWriter::create(&wal_dir, last_seq + 1, config.wal_segment_bytes, config.fsync)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;

        let inner = Arc::new(Inner {
            config,
            reader,
            fields,
            index_dir,
            wal_dir,
            lag: Lag {
                waiting: Mutex::new(0),
                freed: Condvar::new(),
            },
            counters,
            closed: AtomicBool::new(false),
            failure: Mutex::new(None),
        });

        let (writer_tx, writer_rx) = crossbeam_channel::bounded::<AppendJob>(1024);
        let (indexer_tx, indexer_rx) = crossbeam_channel::unbounded::<IndexerMsg>();
        let mut handles = Vec::new();
        {
            let inner = inner.clone();
            let indexer_tx = indexer_tx.clone();
            handles.push(
                std::thread::Builder::new()
                    .name("rampart-wal".into())
                    .spawn(move || wal_thread(&inner, wal_writer, &writer_rx, &indexer_tx))
                    .map_err(|e| StoreError::io(dir, e))?,
            );
        }
        {
            let inner = inner.clone();
            handles.push(
                std::thread::Builder::new()
                    .name("rampart-indexer".into())
                    .spawn(move || indexer_thread(&inner, writer, last_seq, &indexer_rx))
                    .map_err(|e| StoreError::io(dir, e))?,
            );
        }
        Ok(EmbeddedStore {
            inner,
            writer_tx: Mutex::new(Some(writer_tx)),
            indexer_tx,
            threads: Mutex::new(handles),
        })
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        if let Some(reason) = self.inner.failure.lock().as_ref() {
            return Err(StoreError::BackgroundFailed(reason.clone()));
        }
        Ok(())
    }

    /// Wait until `n` more events fit under the lag limit, then reserve them.
    fn reserve(&self, n: u64) -> Result<(), StoreError> {
        let limit = self.inner.config.max_lag_events;
        let deadline = Instant::now() + self.inner.config.overload_wait;
        let mut waiting = self.inner.lag.waiting.lock();
        // A batch larger than the limit is let through alone rather than refused forever.
        while *waiting > 0 && *waiting + n > limit {
            if self
                .inner
                .lag
                .freed
                .wait_until(&mut waiting, deadline)
                .timed_out()
            {
                if *waiting > 0 && *waiting + n > limit {
                    self.inner
                        .counters
                        .overload_rejections
                        .fetch_add(1, Ordering::Relaxed);
                    return Err(StoreError::Overloaded {
                        lag: *waiting,
                        limit,
                    });
                }
                break;
            }
        }
        *waiting += n;
        Ok(())
    }

    fn call_indexer<T>(
        &self,
        make: impl FnOnce(Sender<Result<T, StoreError>>) -> IndexerMsg,
    ) -> Result<T, StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.indexer_tx
            .send(make(tx))
            .map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| {
            StoreError::BackgroundFailed("the indexer stopped before answering".into())
        })?
    }

    /// The directory-level sizes: WAL bytes and segments, index bytes.
    fn disk_usage(&self) -> (u64, u64, u64) {
        let (wal_bytes, wal_segments) = wal::disk_usage(&self.inner.wal_dir);
        (wal_bytes, wal_segments, dir_bytes(&self.inner.index_dir))
    }
}

impl Inner {
    fn release(&self, n: u64) {
        let mut waiting = self.lag.waiting.lock();
        *waiting = waiting.saturating_sub(n);
        self.lag.freed.notify_all();
    }

    fn fail(&self, reason: String) {
        tracing::error!(%reason, "store background thread failed");
        let mut failure = self.failure.lock();
        if failure.is_none() {
            *failure = Some(reason);
        }
    }
}

impl EventStore for EmbeddedStore {
    fn append(&self, events: Vec<Event>) -> Result<AppendReceipt, StoreError> {
        self.check_open()?;
        let count = events.len();
        if count == 0 {
            return Ok(AppendReceipt {
                first_seq: self.inner.counters.committed_seq.load(Ordering::Relaxed) + 1,
                count: 0,
            });
        }
        let mut framed = Vec::with_capacity(count * 512);
        let mut payload = Vec::with_capacity(1024);
        for event in &events {
            payload.clear();
            serde_json::to_writer(&mut payload, event).map_err(|source| {
                StoreError::Serialize {
                    id: event.id.to_string(),
                    source,
                }
            })?;
            if payload.len() > wal::MAX_RECORD_LEN as usize {
                return Err(StoreError::Config(format!(
                    "event {} serialises to {} bytes, more than the {} a record may hold",
                    event.id,
                    payload.len(),
                    wal::MAX_RECORD_LEN
                )));
            }
            wal::frame_into(&mut framed, &payload);
        }
        self.reserve(count as u64)?;
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        let job = AppendJob {
            events,
            framed,
            reply: reply_tx,
        };
        let sent = match self.writer_tx.lock().as_ref() {
            Some(tx) => tx.send(job).is_ok(),
            None => false,
        };
        if !sent {
            self.inner.release(count as u64);
            return Err(StoreError::Closed);
        }
        reply_rx.recv().map_err(|_| {
            StoreError::BackgroundFailed("the write-ahead log thread stopped before answering".into())
        })?
    }

    fn search(&self, request: &SearchRequest) -> Result<SearchResponse, StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        crate::search::run(&self.inner, request)
    }

    fn get(&self, tenant: Option<&str>, id: EventId) -> Result<Option<Event>, StoreError> {
        let searcher = self.inner.reader.searcher();
        let term = Term::from_field_text(self.inner.fields.id, &id.to_string());
        let hits = searcher.search(
            &TermQuery::new(term, IndexRecordOption::Basic),
            &TopDocs::with_limit(1).order_by_score(),
        )?;
        for (_, addr) in hits {
            let event = crate::search::load_event(&self.inner, &searcher, addr)?;
            if tenant.is_none_or(|t| t == event.tenant) {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    fn refresh(&self) -> Result<(), StoreError> {
        self.check_open()?;
        self.call_indexer(IndexerMsg::Refresh)
    }

    fn stats(&self) -> StoreStats {
        let c = &self.inner.counters;
        let (wal_bytes, wal_segments, index_bytes) = self.disk_usage();
        let searcher = self.inner.reader.searcher();
        let appended = c.appended.load(Ordering::Relaxed);
        let indexed = c.indexed.load(Ordering::Relaxed);
        let replayed = c.replayed.load(Ordering::Relaxed);
        let (oldest, newest) = crate::search::time_bounds(&self.inner, &searcher);
        let last_commit = c.last_commit_ms.load(Ordering::Relaxed);
        StoreStats {
            events_appended: appended,
            events_indexed: indexed,
            indexing_lag_events: (appended + replayed).saturating_sub(indexed),
            events_replayed: replayed,
            wal_bytes,
            wal_segments,
            index_bytes,
            index_segments: searcher.segment_readers().len() as u64,
            docs: searcher.num_docs(),
            last_commit_unix_ms: (last_commit > 0).then_some(last_commit as i64),
            committed_seq: c.committed_seq.load(Ordering::Relaxed),
            oldest_event: oldest,
            newest_event: newest,
            retention_deleted_events: c.retention_deleted.load(Ordering::Relaxed),
            retention_runs: c.retention_runs.load(Ordering::Relaxed),
            overload_rejections: c.overload_rejections.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            wal_corrupt_records: c.wal_corrupt.load(Ordering::Relaxed),
            searches_indexed: c.searches_indexed.load(Ordering::Relaxed),
            searches_scanned: c.searches_scanned.load(Ordering::Relaxed),
        }
    }

    fn apply_retention(&self) -> Result<RetentionReport, StoreError> {
        self.check_open()?;
        self.call_indexer(IndexerMsg::Retention)
    }

    fn close(&self) -> Result<(), StoreError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Stop taking appends; the WAL thread drains what it has, then exits.
        drop(self.writer_tx.lock().take());
        let mut threads = std::mem::take(&mut *self.threads.lock());
        let mut result = Ok(());
        if !threads.is_empty() {
            let wal_handle = threads.remove(0);
            if wal_handle.join().is_err() {
                result = Err(StoreError::BackgroundFailed("the WAL thread panicked".into()));
            }
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.indexer_tx.send(IndexerMsg::Close(tx)).is_ok()
            && let Ok(r) = rx.recv()
            && result.is_ok()
        {
            result = r;
        }
        for handle in threads {
            if handle.join().is_err() && result.is_ok() {
                result = Err(StoreError::BackgroundFailed("the indexer thread panicked".into()));
            }
        }
        result
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the store failed");
        }
    }
}

/// Group commit: take every pending append, write them all, fsync once, then acknowledge.
fn wal_thread(
    inner: &Inner,
    mut wal: WalWriter,
    rx: &Receiver<AppendJob>,
    indexer: &Sender<IndexerMsg>,
) {
    let mut jobs: Vec<AppendJob> = Vec::new();
    let mut firsts: Vec<u64> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut bytes = first.framed.len();
        jobs.push(first);
        while bytes < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(job) => {
                    bytes += job.framed.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let written: Result<(), StoreError> = (|| {
            for job in &jobs {
                firsts.push(wal.write(&job.framed, job.events.len() as u64)?);
            }
            wal.sync()
        })();
        match written {
            Ok(()) => {
                for (job, first_seq) in jobs.drain(..).zip(firsts.drain(..)) {
                    let count = job.events.len();
                    inner
                        .counters
                        .appended
                        .fetch_add(count as u64, Ordering::Relaxed);
                    // Hand to the indexer before acknowledging, so a later refresh sees it.
                    let batch = IndexBatch {
                        first_seq,
                        events: job.events,
                        framed: job.framed,
                    };
                    if indexer.send(IndexerMsg::Batch(batch)).is_err() {
                        inner.release(count as u64);
                    }
                    let _ = job.reply.send(Ok(AppendReceipt { first_seq, count }));
                }
            }
            Err(e) => {
                // The log's tail is now unknown: refuse everything from here on. What was
                // written is recovered (or truncated) on the next open.
                let reason = format!("write-ahead log write failed: {e}");
                inner.fail(reason.clone());
                for job in jobs.drain(..) {
                    inner.release(job.events.len() as u64);
                    let _ = job
                        .reply
                        .send(Err(StoreError::BackgroundFailed(reason.clone())));
                }
                while let Ok(job) = rx.try_recv() {
                    inner.release(job.events.len() as u64);
                    let _ = job
                        .reply
                        .send(Err(StoreError::BackgroundFailed(reason.clone())));
                }
                return;
            }
        }
    }
    if let Err(e) = wal.sync() {
        inner.fail(format!("final WAL sync failed: {e}"));
    }
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
        for mut event in batch.events {
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
                    .add_document(schema::to_document(fields, &mut event, payload))
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
        wal::remove_committed(&self.inner.wal_dir, self.committed_seq)?;
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
            let cutoff = Timestamp::now()
                .nanos()
                .saturating_sub(i64::try_from(max_age).unwrap_or(i64::MAX).saturating_mul(1_000_000_000));
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
        c.retention_deleted
            .fetch_add(report.deleted_by_age + report.deleted_by_size, Ordering::Relaxed);
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
        let (Some(oldest), Some(newest)) = crate::search::time_bounds(&self.inner, &searcher)
        else {
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

fn indexer_thread(
    inner: &Inner,
    writer: IndexWriter,
    committed_seq: u64,
    rx: &Receiver<IndexerMsg>,
) {
    let mut state = IndexerState {
        inner,
        writer,
        added_seq: committed_seq,
        committed_seq,
        added_since_commit: 0,
    };
    let interval = inner.config.commit_interval;
    let retention_on = inner.config.retention.max_age_secs.is_some()
        || inner.config.retention.max_bytes.is_some();
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
            .min(if retention_on { next_retention } else { now + Duration::from_secs(1) });
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
fn dir_bytes(dir: &Path) -> u64 {
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

