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

use crate::consumer::{self, Consumers, Durable};
use crate::error::StoreError;
use crate::indexer::{IndexBatch, IndexerMsg, dir_bytes, indexer_thread};
use crate::schema::{self, Fields};
use crate::wal::{self, WalWriter};
use crate::{
    AppendReceipt, EmbeddedStoreConfig, EventConsumer, EventStore, RetentionReport, SearchRequest,
    SearchResponse, StoreStats,
};
use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};
use rampart_model::{Event, EventId};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;
use tantivy::collector::DocSetCollector;
use tantivy::directory::MmapDirectory;
use tantivy::query::RangeQuery;
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

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) appended: AtomicU64,
    pub(crate) indexed: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) committed_seq: AtomicU64,
    pub(crate) last_commit_ms: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) retention_deleted: AtomicU64,
    pub(crate) retention_runs: AtomicU64,
    pub(crate) overload_rejections: AtomicU64,
    pub(crate) overload_waits: AtomicU64,
    pub(crate) wal_corrupt: AtomicU64,
    pub(crate) searches_indexed: AtomicU64,
    pub(crate) searches_scanned: AtomicU64,
    pub(crate) consumer_shared: AtomicU64,
    pub(crate) consumer_from_log: AtomicU64,
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
    pub(crate) index_dir: PathBuf,
    pub(crate) wal_dir: PathBuf,
    lag: Lag,
    pub(crate) counters: Counters,
    closed: AtomicBool,
    failure: Mutex<Option<String>>,
    /// The last fsync'd sequence number, which consumers wait on.
    pub(crate) durable: Durable,
    /// Stream consumers' committed positions: the WAL is kept from the lowest one.
    pub(crate) consumers: Consumers,
    /// Doubt answers of query translation for the current searcher (see `translate`).
    pub(crate) doubts: Mutex<crate::translate::DoubtAnswers>,
    /// The newest durable batches, read by consumers that keep up (see `consumer::Tail`).
    pub(crate) tail: Mutex<crate::consumer::Tail>,
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
            .open_or_create(mmap)
            .map_err(|e| match e {
                tantivy::TantivyError::SchemaError(reason) => StoreError::OpenIndex {
                    path: index_dir.clone(),
                    reason: format!(
                        "{reason} (the index was written by a version with another layout: \
                         move it away and import the events again)"
                    ),
                },
                other => other.into(),
            })?;
        schema::register_tokenizers(&index);
        let fields = Fields::new(index.schema())?;

        let committed = match index.load_metas()?.payload {
            None => 0,
            Some(p) => p
                .trim()
                .parse::<u64>()
                .map_err(|_| StoreError::BadCommitPayload { payload: p.clone() })?,
        };
        let tail_events = config.consumer_tail_events;
        let threads = config.index_threads.max(1);
        let memory = config.writer_memory_bytes.max(threads * 16 * 1024 * 1024);
        // Created on a thread of lowered priority: tantivy's indexing, merging and
        // compressing threads inherit it (and so do those the indexer thread, lowered
        // too, starts at each commit).
        let nice = config.index_nice;
        let mut writer: IndexWriter = std::thread::scope(|s| {
            s.spawn(|| {
                crate::indexer::lower_priority(nice);
                index.writer_with_num_threads(threads, memory)
            })
            .join()
        })
        .map_err(|_| StoreError::BackgroundFailed("creating the index writer panicked".into()))??;

        // Stream consumers pin the WAL from their committed positions.
        let consumers = Consumers::load(&dir.join("consumers"))?;

        // Replay what the WAL holds past the last commit.
        let counters = Counters::default();
        let mut replayed = 0u64;
        let mut undecodable = 0u64;
        let report = wal::recover(&wal_dir, committed + 1, |seq, payload| {
            match wal::decode(payload) {
                Ok(event) => {
                    writer.add_document(schema::to_document(&fields, &event, payload))?;
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
            tracing::info!(
                replayed,
                last_seq,
                "replayed the write-ahead log into the index"
            );
        }
        wal::remove_committed(&wal_dir, consumers.floor(last_seq))?;
        counters.replayed.store(replayed, Ordering::Relaxed);
        counters.indexed.store(replayed, Ordering::Relaxed);
        counters.committed_seq.store(last_seq, Ordering::Relaxed);
        counters
            .wal_corrupt
            .store(report.corrupt_records + undecodable, Ordering::Relaxed);

        let wal_writer = WalWriter::create(
            &wal_dir,
            last_seq + 1,
            config.wal_segment_bytes,
            config.fsync,
        )?;
        // The previous newest segment is wholly committed now that a newer one exists.
        wal::remove_committed(&wal_dir, consumers.floor(last_seq))?;
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
            durable: Durable::new(last_seq),
            consumers,
            doubts: Mutex::new(Default::default()),
            tail: Mutex::new(consumer::Tail::new(tail_events)),
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
        if *waiting > 0 && *waiting + n > limit {
            self.inner
                .counters
                .overload_waits
                .fetch_add(1, Ordering::Relaxed);
        }
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
    pub(crate) fn release(&self, n: u64) {
        let mut waiting = self.lag.waiting.lock();
        *waiting = waiting.saturating_sub(n);
        self.lag.freed.notify_all();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.failure.lock().is_some()
    }

    /// Remove the WAL segments that the index (committed up to `index_committed`) and
    /// every stream consumer are done with.
    pub(crate) fn remove_wal_below(&self, index_committed: u64) -> Result<u64, StoreError> {
        wal::remove_committed(&self.wal_dir, self.consumers.floor(index_committed))
    }

    pub(crate) fn fail(&self, reason: String) {
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
                first_seq: 0,
                count: 0,
            });
        }
        let mut framed = Vec::new();
        let mut payload = Vec::with_capacity(1024);
        for (i, event) in events.iter().enumerate() {
            payload.clear();
            serde_json::to_writer(&mut payload, event).map_err(|source| StoreError::Serialize {
                id: event.id.to_string(),
                source,
            })?;
            if payload.len() > wal::MAX_RECORD_LEN as usize {
                return Err(StoreError::Config(format!(
                    "event {} serialises to {} bytes, more than the {} a record may hold",
                    event.id,
                    payload.len(),
                    wal::MAX_RECORD_LEN
                )));
            }
            if i == 0 {
                // Size the batch's buffer from its first record (with a quarter to spare)
                // rather than a guess: growing a buffer of a thousand records copies it.
                framed.reserve((payload.len() + wal::HEADER_LEN) * count * 5 / 4);
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
            StoreError::BackgroundFailed(
                "the write-ahead log thread stopped before answering".into(),
            )
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
        // The column holds the id's high half: a range scan over it (pruned by each
        // segment's min/max), then the whole id is checked on the stored event.
        let key = Term::from_field_u64(self.inner.fields.id, schema::id_key(id));
        let hits = searcher.search(
            &RangeQuery::new(Bound::Included(key.clone()), Bound::Included(key)),
            &DocSetCollector,
        )?;
        for addr in hits {
            let event = crate::search::load_event(&self.inner, &searcher, addr)?;
            if event.id == id && tenant.is_none_or(|t| t == event.tenant) {
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
        let (oldest, newest) = crate::search::time_bounds(&searcher);
        let last_commit = c.last_commit_ms.load(Ordering::Relaxed);
        StoreStats {
            events_appended: appended,
            events_indexed: indexed,
            indexing_lag_events: (appended + replayed).saturating_sub(indexed),
            index_queue_events: *self.inner.lag.waiting.lock(),
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
            overload_waits: c.overload_waits.load(Ordering::Relaxed),
            overload_rejections: c.overload_rejections.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            wal_corrupt_records: c.wal_corrupt.load(Ordering::Relaxed),
            searches_indexed: c.searches_indexed.load(Ordering::Relaxed),
            searches_scanned: c.searches_scanned.load(Ordering::Relaxed),
            consumer_events_shared: c.consumer_shared.load(Ordering::Relaxed),
            consumer_events_from_log: c.consumer_from_log.load(Ordering::Relaxed),
            durable_seq: self.inner.durable.seq(),
            consumers: self.inner.consumers.snapshot(),
        }
    }

    fn consumer(&self, name: &str) -> Result<Box<dyn EventConsumer>, StoreError> {
        self.check_open()?;
        consumer::open(&self.inner, name)
    }

    fn remove_consumer(&self, name: &str) -> Result<bool, StoreError> {
        let removed = self.inner.consumers.remove(name)?;
        if removed {
            let committed = self.inner.counters.committed_seq.load(Ordering::Relaxed);
            self.inner.remove_wal_below(committed)?;
        }
        Ok(removed)
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
        self.inner.durable.wake_all();
        let mut threads = std::mem::take(&mut *self.threads.lock());
        let mut result = Ok(());
        if !threads.is_empty() {
            let wal_handle = threads.remove(0);
            if wal_handle.join().is_err() {
                result = Err(StoreError::BackgroundFailed(
                    "the WAL thread panicked".into(),
                ));
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
                result = Err(StoreError::BackgroundFailed(
                    "the indexer thread panicked".into(),
                ));
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
                let last_seq = jobs
                    .last()
                    .zip(firsts.last())
                    .map(|(job, first)| first + job.events.len() as u64 - 1);
                // The durable batches go to the consumers' tail before the durable position
                // moves past them, so a consumer woken by the move finds them there.
                let shared: Vec<(u64, AppendJob, Arc<Vec<Event>>)> = jobs
                    .drain(..)
                    .zip(firsts.drain(..))
                    .map(|(mut job, first_seq)| {
                        let events = Arc::new(std::mem::take(&mut job.events));
                        (first_seq, job, events)
                    })
                    .collect();
                {
                    let mut tail = inner.tail.lock();
                    for (first_seq, _, events) in &shared {
                        tail.push(*first_seq, events.clone());
                    }
                }
                if let Some(last) = last_seq {
                    inner.durable.advance(last);
                }
                for (first_seq, job, events) in shared {
                    let count = events.len();
                    inner
                        .counters
                        .appended
                        .fetch_add(count as u64, Ordering::Relaxed);
                    // Hand to the indexer before acknowledging, so a later refresh sees it.
                    let batch = IndexBatch {
                        first_seq,
                        events,
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
