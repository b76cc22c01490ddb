//! The running intel subsystem: live matching on the event store's durable stream, the
//! feed poller with retro-hunts of new indicators, the expiry sweep, and the calls the
//! API makes (imports, feeds, allow-list, sightings, status).
//!
//! Live matching per batch: poll the `intel` consumer, match with the current matcher
//! snapshot, write the sightings *and* the batch's last sequence number in one SQLite
//! transaction, commit the consumer, then hand the new sightings to the sink and mark them
//! delivered. A crash after the SQLite commit redelivers the batch, whose events at or
//! below the recorded sequence number are skipped; sightings written but not delivered are
//! handed to the sink again at the next start. A sighting is one row per (event,
//! indicator), so a repeat (live and retro, or a redelivered batch) is never recorded twice.

use crate::IntelError;
use crate::config::{FeedSource, FeedStatus};
use crate::feed::FeedFormat;
use crate::indicator::{AllowEntry, DecayPolicy, Indicator, IndicatorKind};
use crate::matcher::{IntelHit, MatcherStats, SharedMatcher};
use crate::poller::{FeedPoller, PollEvent};
use crate::retro::{RetroHuntOptions, retro_hunt};
use crate::settings::{FeedEntry, IntelConfig, check_feed_name};
use crate::sightings::{IntelSighting, SightingCounts, SightingDb, SightingFilter};
use crate::store::{ImportReport, IndicatorFilter, IntelStore};
use parking_lot::{Condvar, Mutex};
use rampart_model::{Event, Timestamp};
use rampart_store::{EventConsumer, EventStore};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The consumer name live matching reads the event stream under.
pub const CONSUMER: &str = "intel";

/// Where new sightings go (alerting): called on the service's threads, after the
/// sightings are recorded.
pub type SightingSink = Arc<dyn Fn(Vec<IntelSighting>) + Send + Sync>;

/// How old the live matcher may get before it is rebuilt anyway (confidence decays).
const REBUILD_EVERY: Duration = Duration::from_secs(600);

#[derive(Default)]
struct StopFlag {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl StopFlag {
    fn stop(&self) {
        *self.stopped.lock() = true;
        self.cv.notify_all();
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.lock()
    }

    fn wait(&self, timeout: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.cv.wait_for(&mut stopped, timeout);
        }
        *stopped
    }
}

#[derive(Default)]
struct Metrics {
    head_seq: AtomicU64,
    committed_seq: AtomicU64,
    events_matched: AtomicU64,
    events_skipped: AtomicU64,
    match_nanos: AtomicU64,
    batches: AtomicU64,
    sightings_live: AtomicU64,
    sightings_retro: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    last_retro: Mutex<Option<RetroSummary>>,
    by_kind: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    fn error(&self, what: &str, e: &dyn std::fmt::Display) {
        tracing::error!(error = %e, "intel: {what}");
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(format!("{what}: {e}"));
    }
}

/// What a retro-hunt of new indicators did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RetroSummary {
    /// The feed (or import) the indicators came from.
    pub feed: String,
    pub at: Timestamp,
    /// Indicators hunted.
    pub indicators: usize,
    /// Searched event-time window.
    pub from: Timestamp,
    pub to: Timestamp,
    pub queries: usize,
    pub events_checked: usize,
    /// Candidates the store returned that the matcher did not confirm.
    pub rejected: usize,
    /// Windows with more results than could be read (hits there may be missing).
    pub truncated_windows: usize,
    /// New sightings recorded.
    pub sightings: usize,
    pub millis: u64,
    /// Why the hunt failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an import (or a poll) did: the indicators stored and the retro-hunt of the new ones.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    pub import: ImportReport,
    pub retro: RetroSummary,
}

/// One feed in the status document.
#[derive(Debug, Clone, Serialize)]
pub struct FeedSummary {
    pub name: String,
    /// `file`, `url` or `taxii`.
    pub kind: &'static str,
    pub enabled: bool,
    pub interval_secs: u64,
    pub indicators: u64,
    pub last_poll: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// The intel figures of the status document.
#[derive(Debug, Clone, Serialize)]
pub struct IntelStatus {
    /// Indicators stored, by kind (as of the last matcher build).
    pub indicators_by_kind: BTreeMap<String, u64>,
    pub indicators: u64,
    /// The live matcher: indicators that can match, left out as expired or allowed.
    pub matcher: MatcherStats,
    pub matcher_built_at: Timestamp,
    /// Accepted events live matching has not handled yet.
    pub lag_events: u64,
    pub head_seq: u64,
    pub committed_seq: u64,
    pub events_matched: u64,
    /// Redelivered after a crash and skipped (already handled).
    pub events_skipped: u64,
    pub match_events_per_sec: f64,
    pub batches: u64,
    pub sightings: SightingCounts,
    pub lookback_secs: u64,
    pub feeds: Vec<FeedSummary>,
    pub last_retro_hunt: Option<RetroSummary>,
    pub errors: u64,
    pub last_error: Option<String>,
}

/// The parts the threads share.
struct Core {
    store: Arc<IntelStore>,
    events: Arc<dyn EventStore>,
    sightings: SightingDb,
    live: SharedMatcher,
    sink: SightingSink,
    lookback: Duration,
    metrics: Metrics,
    /// One matcher rebuild at a time, so the last change always wins.
    rebuild_lock: Mutex<()>,
}

/// Threat-intel matching as a running service. See the module documentation.
pub struct IntelService {
    core: Arc<Core>,
    stop: Arc<StopFlag>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    poller: Mutex<Option<FeedPoller>>,
}

impl IntelService {
    /// Open `<data_dir>/intel.db`, add the configured feeds, build the live matcher,
    /// register the `intel` consumer on `events` and start live matching and the feed
    /// poller. New sightings (live and retro) are handed to `sink`.
    pub fn start(
        events: Arc<dyn EventStore>,
        data_dir: &Path,
        config: &IntelConfig,
        sink: SightingSink,
    ) -> Result<Arc<IntelService>, IntelError> {
        config.validate()?;
        let lookback = config.lookback_duration()?;
        let tick = config.poll_tick_duration()?;
        let path = data_dir.join("intel.db");
        let store = Arc::new(IntelStore::open(&path, DecayPolicy::default())?);
        let sightings = SightingDb::open(&path)?;
        for entry in &config.feeds {
            store.put_feed(&entry.to_feed_config()?)?;
        }
        let consumer = events.consumer(CONSUMER)?;
        let core = Arc::new(Core {
            store,
            events,
            sightings,
            live: SharedMatcher::default(),
            sink,
            lookback,
            metrics: Metrics::default(),
            rebuild_lock: Mutex::new(()),
        });
        core.rebuild()?;
        let counts = core.sightings.counts()?;
        core.metrics
            .sightings_live
            .store(counts.live, Ordering::Relaxed);
        core.metrics
            .sightings_retro
            .store(counts.retro, Ordering::Relaxed);
        let stop = Arc::new(StopFlag::default());
        let batch = config.batch_size.max(1);
        let (c, s) = (Arc::clone(&core), Arc::clone(&stop));
        let worker = std::thread::Builder::new()
            .name("intel-match".into())
            .spawn(move || c.run(consumer, &s, batch))
            .map_err(|e| IntelError::Io {
                path: "intel-match thread".into(),
                source: e,
            })?;
        let c = Arc::clone(&core);
        let poller = FeedPoller::start(Arc::clone(&core.store), tick, move |_, ev| {
            c.on_poll(ev);
        });
        Ok(Arc::new(IntelService {
            core,
            stop,
            threads: Mutex::new(vec![worker]),
            poller: Mutex::new(Some(poller)),
        }))
    }

    /// Stop the poller (after the poll in hand) and live matching (after the batch in
    /// hand, written and committed), and wait for them.
    pub fn stop(&self) {
        if let Some(p) = self.poller.lock().take() {
            p.stop();
        }
        self.stop.stop();
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            if t.join().is_err() {
                tracing::error!("the intel matching thread panicked");
            }
        }
    }

    /// The live matcher (for callers that match elsewhere, and tests).
    pub fn matcher(&self) -> &SharedMatcher {
        &self.core.live
    }

    /// Import one document of `format` under `feed`, then retro-hunt the new indicators
    /// (their sightings go to the sink) and swap in a new matcher.
    pub fn import(
        &self,
        feed: &str,
        format: FeedFormat,
        bytes: &[u8],
    ) -> Result<ImportOutcome, IntelError> {
        check_feed_name(feed)?;
        let report = self
            .core
            .store
            .import(feed, format, bytes, Timestamp::now())?;
        tracing::info!(
            feed,
            added = report.added,
            updated = report.updated,
            skipped = report.skipped.count,
            "intel import"
        );
        let retro = self.core.on_new_indicators(feed, &report.new_indicators);
        Ok(ImportOutcome {
            import: report,
            retro,
        })
    }

    /// Stored indicators matching `filter`.
    pub fn indicators(&self, filter: &IndicatorFilter) -> Result<Vec<Indicator>, IntelError> {
        self.core.store.list(filter)
    }

    /// The feeds with their poll history, credentials masked.
    pub fn feeds(&self) -> Result<Vec<FeedStatus>, IntelError> {
        Ok(self
            .core
            .store
            .feeds()?
            .iter()
            .map(FeedStatus::masked)
            .collect())
    }

    /// Add or replace a feed; it is polled at the next tick (credentials masked in the
    /// answer).
    pub fn add_feed(&self, entry: &FeedEntry) -> Result<FeedStatus, IntelError> {
        let cfg = entry.to_feed_config()?;
        self.core.store.put_feed(&cfg)?;
        if let Some(p) = self.poller.lock().as_ref() {
            p.wake();
        }
        Ok(self.core.store.feed(&cfg.name)?.masked())
    }

    /// Remove a feed and, with `purge`, its indicators. Returns whether it existed.
    pub fn remove_feed(&self, name: &str, purge: bool) -> Result<bool, IntelError> {
        let existed = self.core.store.remove_feed(name, purge)?;
        if purge {
            self.core.rebuild()?;
        }
        Ok(existed)
    }

    /// Poll a feed now, then retro-hunt its new indicators and swap in a new matcher.
    pub fn poll_feed(&self, name: &str) -> Result<ImportOutcome, IntelError> {
        let report = self.core.store.poll_feed(name, Timestamp::now())?;
        let retro = self.core.on_new_indicators(name, &report.new_indicators);
        Ok(ImportOutcome {
            import: report,
            retro,
        })
    }

    /// Add (or replace) an allow-list entry; the matcher is rebuilt at once.
    pub fn allow(&self, entry: &AllowEntry) -> Result<(), IntelError> {
        self.core.store.allow(entry)?;
        self.core.rebuild()
    }

    pub fn allow_entries(&self) -> Result<Vec<AllowEntry>, IntelError> {
        self.core.store.allow_entries()
    }

    /// Remove an allow-list entry (the value is normalised as the kind says); the matcher
    /// is rebuilt. Returns whether it existed.
    pub fn remove_allow(&self, kind: IndicatorKind, value: &str) -> Result<bool, IntelError> {
        let (kind, value) =
            crate::indicator::normalise(kind, value).map_err(|reason| IntelError::Invalid {
                what: "allow-list value",
                value: value.to_owned(),
                reason,
            })?;
        let existed = self.core.store.remove_allow(kind, &value)?;
        if existed {
            self.core.rebuild()?;
        }
        Ok(existed)
    }

    /// Recorded sightings, newest first.
    pub fn sightings(&self, filter: &SightingFilter) -> Result<Vec<IntelSighting>, IntelError> {
        self.core.sightings.list(filter)
    }

    pub fn status(&self) -> IntelStatus {
        let core = &self.core;
        let m = &core.metrics;
        let matcher = core.live.load();
        let feeds = match core.store.feeds() {
            Ok(f) => f.iter().map(summary).collect(),
            Err(e) => {
                m.error("listing feeds", &e);
                Vec::new()
            }
        };
        let sightings = SightingCounts {
            live: m.sightings_live.load(Ordering::Relaxed),
            retro: m.sightings_retro.load(Ordering::Relaxed),
            undelivered: core.sightings.undelivered_count().unwrap_or_else(|e| {
                m.error("counting sightings", &e);
                0
            }),
        };
        let by_kind = m.by_kind.lock().clone();
        let head = m.head_seq.load(Ordering::Relaxed);
        let committed = m.committed_seq.load(Ordering::Relaxed);
        let matched = m.events_matched.load(Ordering::Relaxed);
        let nanos = m.match_nanos.load(Ordering::Relaxed);
        IntelStatus {
            indicators: by_kind.values().sum(),
            indicators_by_kind: by_kind,
            matcher: matcher.stats().clone(),
            matcher_built_at: matcher.built_at(),
            lag_events: head.saturating_sub(committed),
            head_seq: head,
            committed_seq: committed,
            events_matched: matched,
            events_skipped: m.events_skipped.load(Ordering::Relaxed),
            match_events_per_sec: if nanos == 0 {
                0.0
            } else {
                (matched as f64 / (nanos as f64 / 1e9)).round()
            },
            batches: m.batches.load(Ordering::Relaxed),
            sightings,
            lookback_secs: core.lookback.as_secs(),
            feeds,
            last_retro_hunt: m.last_retro.lock().clone(),
            errors: m.errors.load(Ordering::Relaxed),
            last_error: m.last_error.lock().clone(),
        }
    }
}

impl Drop for IntelService {
    fn drop(&mut self) {
        self.stop();
    }
}

fn summary(f: &FeedStatus) -> FeedSummary {
    FeedSummary {
        name: f.config.name.clone(),
        kind: match f.config.source {
            FeedSource::File { .. } => "file",
            FeedSource::Url { .. } => "url",
            FeedSource::Taxii { .. } => "taxii",
        },
        enabled: f.config.enabled,
        interval_secs: f.config.interval_secs,
        indicators: f.indicators,
        last_poll: f.last_poll,
        last_success: f.last_success,
        last_error: f.last_error.clone(),
    }
}

impl Core {
    /// Build a matcher from the store as of now and swap it in.
    fn rebuild(&self) -> Result<(), IntelError> {
        let _one = self.rebuild_lock.lock();
        let now = Timestamp::now();
        let matcher = self.store.matcher(now)?;
        let by_kind = self.store.count_by_kind()?;
        self.live.swap(matcher);
        *self.metrics.by_kind.lock() = by_kind;
        Ok(())
    }

    fn on_poll(&self, ev: PollEvent) {
        match ev {
            PollEvent::Polled { feed, report } => {
                self.on_new_indicators(&feed, &report.new_indicators);
            }
            PollEvent::Failed { feed, error } => {
                self.metrics
                    .error(&format!("polling feed '{feed}'"), &error);
            }
            PollEvent::Expired { purged } => {
                tracing::info!(purged, "expired indicators purged");
                if let Err(e) = self.rebuild() {
                    self.metrics.error("rebuilding the matcher", &e);
                }
            }
        }
    }

    /// Swap in a matcher with the new indicators, then retro-hunt them over the look-back
    /// window and record and deliver what it finds.
    ///
    /// The swap comes first: an event polled by live matching after it is matched live;
    /// one polled before was appended before, so the refresh makes it searchable for the
    /// hunt. An event found both ways is one sighting.
    fn on_new_indicators(&self, feed: &str, indicators: &[Indicator]) -> RetroSummary {
        let started = Instant::now();
        let now = Timestamp::now();
        let mut summary = RetroSummary {
            feed: feed.to_owned(),
            at: now,
            indicators: indicators.len(),
            ..RetroSummary::default()
        };
        if let Err(e) = self.rebuild() {
            self.metrics.error("rebuilding the matcher", &e);
        }
        if indicators.is_empty() {
            return summary;
        }
        let result = (|| -> Result<(), IntelError> {
            self.events.refresh()?;
            let mut opts = RetroHuntOptions::new(self.lookback, None, now);
            opts.policy = self.store.policy().clone();
            let report = retro_hunt(
                self.events.as_ref(),
                indicators,
                self.store.allow_list()?,
                &opts,
            )?;
            summary.from = report.from;
            summary.to = report.to;
            summary.queries = report.queries;
            summary.events_checked = report.events_checked;
            summary.rejected = report.rejected;
            summary.truncated_windows = report.truncated_windows;
            let found = report
                .hits
                .iter()
                .map(|h| IntelSighting::retro(h, now))
                .collect();
            let inserted = self.sightings.record(found, None)?;
            summary.sightings = inserted.len();
            self.metrics
                .sightings_retro
                .fetch_add(inserted.len() as u64, Ordering::Relaxed);
            self.deliver(inserted);
            Ok(())
        })();
        if let Err(e) = result {
            self.metrics
                .error(&format!("retro-hunting indicators of '{feed}'"), &e);
            summary.error = Some(e.to_string());
        }
        summary.millis = started.elapsed().as_millis() as u64;
        tracing::info!(
            feed,
            indicators = summary.indicators,
            sightings = summary.sightings,
            queries = summary.queries,
            millis = summary.millis,
            "intel retro-hunt"
        );
        *self.metrics.last_retro.lock() = Some(summary.clone());
        summary
    }

    /// Hand recorded sightings to the sink, then mark them delivered.
    fn deliver(&self, sightings: Vec<IntelSighting>) {
        if sightings.is_empty() {
            return;
        }
        let ids: Vec<i64> = sightings.iter().map(|s| s.id).collect();
        let sink = Arc::clone(&self.sink);
        let handed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || sink(sightings)));
        if handed.is_err() {
            // Left undelivered: handed again at the next start.
            self.metrics
                .error("delivering sightings", &"the sink panicked");
            return;
        }
        if let Err(e) = self.sightings.mark_delivered(&ids) {
            self.metrics.error("marking sightings delivered", &e);
        }
    }

    /// Sightings recorded but not delivered before a crash: read their events back and
    /// deliver them.
    fn redeliver(&self, stop: &StopFlag) {
        loop {
            let mut batch = match self.sightings.undelivered(500) {
                Ok(b) if b.is_empty() => return,
                Ok(b) => b,
                Err(e) => {
                    self.metrics.error("reading undelivered sightings", &e);
                    return;
                }
            };
            for s in &mut batch {
                s.event = self
                    .events
                    .get(Some(&s.tenant), s.event_id)
                    .ok()
                    .flatten()
                    .map(Arc::new);
            }
            tracing::info!(count = batch.len(), "redelivering intel sightings");
            let n = batch.len();
            self.deliver(batch);
            if n < 500 || stop.is_stopped() {
                return;
            }
        }
    }

    /// Live matching until `stop`. See the module documentation.
    fn run(&self, mut consumer: Box<dyn EventConsumer>, stop: &StopFlag, batch_size: usize) {
        let m = &self.metrics;
        self.redeliver(stop);
        let mut recorded = match self.sightings.consumer_seq(CONSUMER) {
            Ok(seq) => seq,
            Err(e) => {
                m.error("reading the recorded position", &e);
                0
            }
        };
        if recorded > consumer.head() {
            tracing::warn!(
                recorded,
                head = consumer.head(),
                "intel position is past the event store's head; starting over"
            );
            if let Err(e) = self.sightings.reset_consumer(CONSUMER) {
                m.error("resetting the recorded position", &e);
            }
            recorded = 0;
        }
        m.committed_seq
            .store(consumer.committed(), Ordering::Relaxed);
        m.head_seq.store(consumer.head(), Ordering::Relaxed);
        let mut hits: Vec<IntelHit> = Vec::new();
        while !stop.is_stopped() {
            let batch = match consumer.poll(batch_size, Duration::from_millis(200)) {
                Ok(b) => b,
                Err(e) => {
                    m.error("reading the event stream", &e);
                    stop.wait(Duration::from_secs(1));
                    continue;
                }
            };
            m.head_seq.store(consumer.head(), Ordering::Relaxed);
            let matcher = self.live.load();
            if Timestamp::now().0.saturating_sub(matcher.built_at().0)
                > REBUILD_EVERY.as_nanos() as i64
                && let Err(e) = self.rebuild()
            {
                m.error("rebuilding the matcher", &e);
            }
            let Some(last_seq) = batch.last().map(|e| e.seq) else {
                continue;
            };
            let started = Instant::now();
            let now = Timestamp::now();
            let mut found = Vec::new();
            let mut matched = 0u64;
            for item in batch {
                if item.seq <= recorded {
                    m.events_skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                matched += 1;
                hits.clear();
                if matcher.match_event(&item.event, &mut hits) > 0 {
                    let event = Arc::new(Event::clone(&item.event));
                    found.extend(hits.iter().map(|h| IntelSighting::live(h, &event, now)));
                }
            }
            m.match_nanos
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            m.events_matched.fetch_add(matched, Ordering::Relaxed);
            let mut inserted = Vec::new();
            if last_seq > recorded {
                // Retry until written: the batch is not committed to the consumer before.
                let written = loop {
                    match self
                        .sightings
                        .record(found.clone(), Some((CONSUMER, last_seq)))
                    {
                        Ok(v) => break Some(v),
                        Err(e) => {
                            m.error("writing sightings", &e);
                            if stop.wait(Duration::from_secs(1)) {
                                break None;
                            }
                        }
                    }
                };
                let Some(written) = written else {
                    return;
                };
                m.sightings_live
                    .fetch_add(written.len() as u64, Ordering::Relaxed);
                inserted = written;
                recorded = last_seq;
            }
            m.batches.fetch_add(1, Ordering::Relaxed);
            match consumer.commit(last_seq) {
                Ok(()) => m
                    .committed_seq
                    .store(consumer.committed(), Ordering::Relaxed),
                // The next commit covers this batch too; SQLite already holds its position.
                Err(e) => m.error("committing the event stream position", &e),
            }
            self.deliver(inserted);
        }
    }
}
