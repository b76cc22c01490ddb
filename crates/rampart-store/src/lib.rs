//! Rampart's durable event storage, behind the [`EventStore`] trait.
//!
//! This crate owns where events live once accepted: the write-ahead log that makes an
//! append durable before it is acknowledged, the search index that makes events findable,
//! the translation of the search AST into index queries and aggregations, back-pressure
//! when indexing lags, and retention. The embedded implementation ([`EmbeddedStore`]) keeps
//! a WAL plus a tantivy index in one directory; a distributed backend can implement the same
//! trait. It knows nothing of network listeners, parsing of raw records, detection rules or
//! HTTP; the query *language* (parsing, reference evaluation, row pipelines) belongs to
//! `rampart-query`, which this crate must agree with.
//!
//! # Guarantees of the embedded store
//! - **Accepted means durable**: [`EventStore::append`] returns only after its events are
//!   fsync'd in the WAL. Concurrent appends share one fsync (group commit).
//! - **Exactly once**: each index commit records the last WAL sequence number it includes;
//!   on open the WAL is replayed from the next one, so after any crash every acknowledged
//!   event is searchable once.
//! - Events become searchable within about `commit_interval` (2 s by default), or at once
//!   after [`EventStore::refresh`], as long as ingest stays below the indexing rate;
//!   beyond that, appends block once `max_lag_events` wait for the indexer and fail with
//!   [`StoreError::Overloaded`] after `overload_wait`. Memory under overload is then
//!   bounded by that queue, the index writer's budget and the consumers' tail; the events
//!   not yet searchable (`indexing_lag_events`) are the queue plus the writer's uncommitted
//!   events, so that figure can pass `max_lag_events` by up to a commit interval of ingest.
//!
//! # Layout and measured costs
//! `dir/wal/` holds the log (records are the serde_json form of [`Event`], about 830 bytes
//! for a parsed sshd syslog line — kept over a binary codec because the same bytes are
//! the stored document, readable by any tool, and serialising is not where the time goes:
//! parse + WAL append runs at about 0.3× the parse-only rate while indexing competes for the
//! same two cores); `dir/index/` the tantivy index (schema in `schema.rs`; zstd document
//! store). The event id is a column, not a term: a unique term per event cost the term
//! dictionary (built at every commit, rebuilt at every merge) more than a column scan costs
//! `get`. Filters are translated to index queries that are either exact or checked against
//! the reference evaluator; `stats` (`count`, `dc`, `sum`, `avg`, `min`, `max`), `top`,
//! `rare` and `timechart … count()` run on fast-field columns when the result provably
//! equals `rampart_query::exec`'s — counts by one string field by term ordinal
//! (`ordcount.rs`), so `stats count() by source.ip` over 10 M events and 260 000 addresses
//! takes a few hundred milliseconds; everything else runs through `rampart_query::exec`
//! over loaded events.
//!
//! Indexing, not the WAL, bounds ingest: on a 2-core machine about 30k parsed syslog
//! events/s end to end (TCP → durable → searchable) with the default configuration, about
//! 70 µs of CPU per event, most of it tantivy building term dictionaries and postings at
//! each commit and again at each merge. The largest single cost left is the keyword term of
//! `message`, unique per event: leaving it out measured about 27% less indexing CPU, but
//! `message:` equality, wildcard and regex filters would lose their exact index query.
//! The crate README has the measurements.

mod aggs;
mod consumer;
mod embedded;
mod error;
mod indexer;
mod metrics;
mod ordcount;
mod schema;
mod search;
mod translate;
mod wal;

pub use embedded::EmbeddedStore;
pub use error::StoreError;

use rampart_model::{Event, EventId, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A durable, searchable home for events.
pub trait EventStore: Send + Sync {
    /// Durably append; returns after fsync. Concurrent callers share one fsync (group commit).
    /// Blocks for back-pressure when the index lags too far behind; gives
    /// [`StoreError::Overloaded`] after a bounded wait.
    fn append(&self, events: Vec<Event>) -> Result<AppendReceipt, StoreError>;
    fn search(&self, request: &SearchRequest) -> Result<SearchResponse, StoreError>;
    fn get(&self, tenant: Option<&str>, id: EventId) -> Result<Option<Event>, StoreError>;
    /// Make everything appended so far searchable now (tests, `rampart ingest` end).
    fn refresh(&self) -> Result<(), StoreError>;
    fn stats(&self) -> StoreStats;
    fn apply_retention(&self) -> Result<RetentionReport, StoreError>;
    /// Flush, commit and stop background threads.
    fn close(&self) -> Result<(), StoreError>;
    /// Open the durable, named stream consumer `name` (letters, digits, `-`, `_`),
    /// resuming after its last commit. A consumer seen for the first time starts after
    /// the last event appended so far. See [`EventConsumer`].
    fn consumer(&self, name: &str) -> Result<Box<dyn EventConsumer>, StoreError>;
    /// Forget consumer `name` (when its processing is turned off), so that it no longer
    /// keeps WAL segments. Returns whether it existed.
    fn remove_consumer(&self, name: &str) -> Result<bool, StoreError>;
}

/// A durable, named reader of accepted events in append order — how detection and other
/// stream processors see every event exactly as the store accepted it, crash-safely.
///
/// The store keeps each event readable (in the WAL) until every registered consumer has
/// committed past it, so a consumer that stops — or crashes between `poll` and `commit` —
/// resumes where it left off: each event is delivered at least once, and exactly once to a
/// consumer that commits what it has handled before handling more.
pub trait EventConsumer: Send {
    /// The next events after the last one returned, in append order, at most `max`,
    /// waiting up to `wait` for new ones; empty when none arrived in time.
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<ConsumedEvent>, StoreError>;
    /// Record durably (fsync) that every event up to `seq`, inclusive, has been handled.
    fn commit(&mut self, seq: u64) -> Result<(), StoreError>;
    /// The sequence number last committed (0 before any event).
    fn committed(&self) -> u64;
    /// The sequence number of the last event the store has made durable; the consumer's
    /// lag is `head() - committed()`.
    fn head(&self) -> u64;
}

/// One event read by an [`EventConsumer`], with its WAL sequence number.
#[derive(Debug, Clone)]
pub struct ConsumedEvent {
    pub seq: u64,
    pub event: SharedEvent,
}

/// An accepted event as stream consumers read it: shared, not copied, with the store's
/// other readers of the same appended batch. A consumer that keeps up with ingest gets the
/// events the appender handed in, already parsed, instead of decoding them again from the
/// write-ahead log (the log is read only by a consumer that has fallen behind).
#[derive(Clone)]
pub struct SharedEvent {
    batch: std::sync::Arc<Vec<Event>>,
    index: usize,
}

impl SharedEvent {
    /// Event `index` of `batch`; `None` past its end.
    pub(crate) fn in_batch(batch: &std::sync::Arc<Vec<Event>>, index: usize) -> Option<Self> {
        (index < batch.len()).then(|| SharedEvent {
            batch: batch.clone(),
            index,
        })
    }
}

impl From<Event> for SharedEvent {
    fn from(event: Event) -> Self {
        SharedEvent {
            batch: std::sync::Arc::new(vec![event]),
            index: 0,
        }
    }
}

impl std::ops::Deref for SharedEvent {
    type Target = Event;
    fn deref(&self) -> &Event {
        // `index` is checked against the batch when the value is made.
        &self.batch[self.index]
    }
}

impl std::fmt::Debug for SharedEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// What an append was given: the WAL sequence number of its first event and how many
/// (`first_seq` is 0 for an empty append).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendReceipt {
    pub first_seq: u64,
    pub count: usize,
}

/// One search: the parsed query, scoped to a tenant and a time range.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchRequest {
    /// `None` searches all tenants.
    pub tenant: Option<String>,
    pub search: rampart_query::Search,
    /// Inclusive lower bound on `@timestamp`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `@timestamp`.
    pub to: Option<Timestamp>,
    /// Most events returned in an event list (newest first).
    pub limit: usize,
}

impl SearchRequest {
    /// A request for `search` over all tenants and all time, 100 events at most.
    pub fn new(search: rampart_query::Search) -> Self {
        SearchRequest {
            tenant: None,
            search,
            from: None,
            to: None,
            limit: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResponse {
    pub took_ms: f64,
    pub result: SearchResult,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SearchResult {
    /// Matching events, newest first; `total` counts all matches, not only those returned.
    Events { total: u64, events: Vec<Event> },
    /// The output of a pipeline.
    Table {
        columns: Vec<String>,
        rows: Vec<Vec<serde_json::Value>>,
    },
}

/// Counters and sizes of a store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoreStats {
    /// Events acknowledged since the store was opened.
    pub events_appended: u64,
    /// Events made searchable since the store was opened (replayed ones included).
    pub events_indexed: u64,
    /// Acknowledged events not yet searchable: those waiting for the indexer
    /// ([`Self::index_queue_events`], bounded by `max_lag_events`) plus those in the index
    /// writer until its next commit (about `commit_interval` of ingest; their memory is
    /// bounded by `writer_memory_bytes`, beyond which tantivy writes them to disk).
    pub indexing_lag_events: u64,
    /// Acknowledged events waiting for the indexer to take them: what `max_lag_events`
    /// bounds (a batch larger than the limit is let through alone).
    pub index_queue_events: u64,
    /// Events replayed from the WAL when the store was opened.
    pub events_replayed: u64,
    pub wal_bytes: u64,
    pub wal_segments: u64,
    pub index_bytes: u64,
    pub index_segments: u64,
    /// Searchable events in the index.
    pub docs: u64,
    pub last_commit_unix_ms: Option<i64>,
    /// Sequence number of the last event included in the last index commit.
    pub committed_seq: u64,
    pub oldest_event: Option<Timestamp>,
    pub newest_event: Option<Timestamp>,
    /// Events deleted by retention since the store was opened.
    pub retention_deleted_events: u64,
    pub retention_runs: u64,
    /// Appends that had to wait for room under `max_lag_events` (push-back on senders).
    pub overload_waits: u64,
    /// Appends refused with [`StoreError::Overloaded`] (still no room after `overload_wait`).
    pub overload_rejections: u64,
    /// Commits made since the store was opened.
    pub commits: u64,
    /// WAL records skipped on open because their checksum failed.
    pub wal_corrupt_records: u64,
    /// Searches answered from the index alone (exact filter; pushed-down aggregation).
    pub searches_indexed: u64,
    /// Searches that loaded candidate events to check or to run a pipeline over.
    pub searches_scanned: u64,
    /// Events stream consumers took from the in-memory tail (parsed once, at ingest).
    pub consumer_events_shared: u64,
    /// Events stream consumers read back from the WAL (behind the tail, or after a restart).
    pub consumer_events_from_log: u64,
    /// Sequence number of the last event made durable in the WAL.
    pub durable_seq: u64,
    /// Stream consumers' committed positions, by consumer name.
    pub consumers: std::collections::BTreeMap<String, u64>,
}

/// How much to keep. Both limits apply; `None` means no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Delete events whose `@timestamp` is older than this.
    pub max_age_secs: Option<u64>,
    /// Delete the oldest events while the index is larger than this.
    pub max_bytes: Option<u64>,
}

/// What one retention run deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    pub deleted_by_age: u64,
    pub deleted_by_size: u64,
    /// Events older than this were deleted by size (the cut-off `@timestamp`).
    pub size_cutoff: Option<Timestamp>,
    pub index_bytes_before: u64,
    pub index_bytes_after: u64,
}

/// Settings of the embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedStoreConfig {
    /// How often appended events are committed to the index and become searchable.
    /// Two seconds by default: each commit writes one segment per indexing thread, whose
    /// term dictionaries are built then and rebuilt by every merge; at 1 s the indexing
    /// CPU per event was about 10% higher.
    pub commit_interval: Duration,
    /// Memory budget of the index writer (at least 15 MB per indexing thread).
    pub writer_memory_bytes: usize,
    /// Threads tantivy uses to build index segments. Two by default: on a 2-core machine
    /// that raised end-to-end ingest from about 22k to 31k events/s, as the per-segment
    /// work (term sorting, dictionary building at each commit) runs in parallel.
    pub index_threads: usize,
    /// Acknowledged events allowed to wait for the indexer before appends block. Events the
    /// indexer has taken but not yet committed are not counted here: their number is about
    /// `commit_interval` of ingest and their memory is bounded by `writer_memory_bytes`.
    pub max_lag_events: u64,
    /// How long an append waits for the indexer to catch up before `Overloaded`.
    pub overload_wait: Duration,
    /// A WAL segment is closed and a new one started past this size.
    pub wal_segment_bytes: u64,
    pub retention: RetentionPolicy,
    /// How often the indexer applies the retention policy on its own.
    pub retention_interval: Duration,
    /// fsync the WAL before acknowledging (turn off only for benchmarks and tests).
    pub fsync: bool,
    /// Most candidate events a search loads when the index alone cannot decide the
    /// filter, or when a pipeline needs the events themselves.
    pub max_scan_events: u64,
    /// Newest durable events kept in memory, as appended, for stream consumers that keep
    /// up (they then skip reading and decoding the WAL: events are parsed once). 0 turns
    /// the tail off. The newest batch is kept whatever its size.
    pub consumer_tail_events: usize,
    /// How much lower the indexing threads' scheduling priority is than the rest of the
    /// process (a nice value increment, Linux; 0 leaves it equal). When the machine is
    /// saturated, detection and threat-intel matching then keep pace with ingest, and
    /// searchability lags instead (bounded by `max_lag_events`, which pushes back on the
    /// senders): on two cores, at nice +10 detection finished before the last event was
    /// searchable, where at equal priority it trailed by 8–9 s.
    pub index_nice: i32,
}

impl Default for EmbeddedStoreConfig {
    fn default() -> Self {
        EmbeddedStoreConfig {
            commit_interval: Duration::from_secs(2),
            writer_memory_bytes: 128 * 1024 * 1024,
            index_threads: 2,
            max_lag_events: 50_000,
            overload_wait: Duration::from_secs(10),
            wal_segment_bytes: 64 * 1024 * 1024,
            retention: RetentionPolicy::default(),
            retention_interval: Duration::from_secs(300),
            fsync: true,
            max_scan_events: 200_000,
            consumer_tail_events: 16_384,
            index_nice: 10,
        }
    }
}
