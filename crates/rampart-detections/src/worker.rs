//! The live detection worker: reads the event store's durable stream, evaluates each event against the active rules, correlations and baselines, and stores detections crash-safely for triage.
//!
//! Per batch: poll the consumer; per event, evaluate the Sigma rules, feed the matches to
//! the correlation engine and the event to the baseline engine; write the detections, the
//! batch's last sequence number and the engines' snapshots in one SQLite transaction; then
//! commit the consumer. Triage takes the stored detections on its own thread (`feed`).
//! A crash after the SQLite commit but before the consumer commit redelivers the batch on
//! restart; events at or below the
//! recorded sequence number are then skipped, and the engines restart from the snapshot
//! taken at exactly that number, so no detection is written twice, none is lost, and a
//! correlation window spanning the restart counts every event once.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rampart_detect::CorrelationEngine;
use rampart_detect::Matches;
use rampart_detect::baseline::BaselineEngine;
use rampart_model::{DEFAULT_TENANT, Event, Timestamp};
use rampart_store::EventConsumer;

pub use crate::metrics::{StopFlag, TriageStatus, WorkerMetrics, WorkerStatus};

use crate::db::{BatchWrite, DetectionStore, TriageWrite};
use crate::record::DetectionData;
use crate::rules::{ActiveRules, FreshEngines, RuleBook};

/// The consumer name detection reads the event stream under.
pub const CONSUMER: &str = "detection";

/// Names of the engine snapshots in `detections.db`: these for the default tenant,
/// `correlation@TENANT` and `baseline@TENANT` for the others.
const CORRELATION_STATE: &str = "correlation";
const BASELINE_STATE: &str = "baseline";

/// The name of `kind`'s snapshot for `tenant`.
fn state_name(kind: &str, tenant: &str) -> String {
    if tenant == DEFAULT_TENANT {
        kind.to_owned()
    } else {
        format!("{kind}@{tenant}")
    }
}

/// (kind, tenant) of a snapshot name.
fn parse_state_name(name: &str) -> (&str, &str) {
    name.split_once('@').unwrap_or((name, DEFAULT_TENANT))
}

/// Settings of the worker loop.
#[derive(Debug, Clone, Copy)]
pub struct WorkerOptions {
    /// Most events per batch (one SQLite transaction and one consumer commit each).
    pub batch_size: usize,
    /// How long a poll waits for new events.
    pub poll_wait: Duration,
    /// How often the clock closes baseline buckets when events are quiet.
    pub baseline_tick: Duration,
    /// The clock closes buckets that ended this long ago (the expected ingestion delay).
    pub baseline_delay: Duration,
    /// Polled batches are evaluated at once but written (detections, position and engine
    /// snapshots in one transaction, then the consumer commit) at most this often: the
    /// snapshots grow with the number of correlation groups and baseline entities (tens
    /// of MB with hundreds of thousands), so writing them per poll would cost more than
    /// evaluating. Detections reach the database at most this much later.
    pub write_interval: Duration,
    /// Write sooner when this many detections wait.
    pub max_pending_detections: usize,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            batch_size: 2048,
            poll_wait: Duration::from_millis(200),
            baseline_tick: Duration::from_secs(60),
            baseline_delay: Duration::from_secs(300),
            write_interval: Duration::from_secs(2),
            max_pending_detections: 10_000,
        }
    }
}

/// The stateful engines of one tenant.
struct TenantEngines {
    correlation: CorrelationEngine,
    baseline: BaselineEngine,
}

/// The stateful engines, one pair per tenant (a correlation or baseline never mixes two
/// organisations' events), and the hashes of their last stored snapshots.
struct Engines {
    by_tenant: BTreeMap<String, TenantEngines>,
    stored: HashMap<String, u64>,
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl TenantEngines {
    /// Fresh engines of `active`'s load with `corr_state` and `base_state` restored.
    fn build(
        active: &ActiveRules,
        tenant: &str,
        corr_state: Option<&[u8]>,
        base_state: Option<&[u8]>,
        metrics: &WorkerMetrics,
    ) -> Option<TenantEngines> {
        let FreshEngines {
            mut correlation,
            mut baseline,
        } = active.take_engines()?;
        if let Some(bytes) = corr_state {
            match correlation.restore(bytes) {
                Ok(r) if !r.skipped.is_empty() => tracing::info!(
                    tenant,
                    groups = r.groups,
                    skipped = ?r.skipped,
                    "correlation state restored; changed or removed correlations start afresh"
                ),
                Ok(r) => tracing::debug!(tenant, groups = r.groups, "correlation state restored"),
                Err(e) => metrics.error("restoring the correlation state", &e),
            }
        }
        if let Some(bytes) = base_state {
            match baseline.restore(bytes) {
                Ok(r) if !r.skipped.is_empty() => tracing::info!(
                    tenant,
                    entities = r.entities,
                    skipped = ?r.skipped,
                    "baseline state restored; changed or removed baselines start afresh"
                ),
                Ok(r) => tracing::debug!(tenant, entities = r.entities, "baseline state restored"),
                Err(e) => metrics.error("restoring the baseline state", &e),
            }
        }
        Some(TenantEngines {
            correlation,
            baseline,
        })
    }
}

impl Engines {
    /// The engines of `active`'s load, with the state of `previous` (a reload) or of the
    /// snapshots in `stored` (a start) restored into them, for every tenant either holds.
    /// `None` only when the load's engines cannot be built at all.
    fn build(
        active: &ActiveRules,
        previous: Option<&Engines>,
        stored: &HashMap<String, Vec<u8>>,
        metrics: &WorkerMetrics,
    ) -> Option<Engines> {
        let mut by_tenant = BTreeMap::new();
        let mut stored_hashes = HashMap::new();
        match previous {
            Some(p) => {
                for (tenant, old) in &p.by_tenant {
                    let corr = old.correlation.snapshot();
                    let base = old.baseline.snapshot();
                    let e =
                        TenantEngines::build(active, tenant, Some(&corr), Some(&base), metrics)?;
                    by_tenant.insert(tenant.clone(), e);
                }
            }
            None => {
                let mut tenants: Vec<&str> =
                    stored.keys().map(|name| parse_state_name(name).1).collect();
                tenants.push(DEFAULT_TENANT);
                tenants.sort_unstable();
                tenants.dedup();
                for tenant in tenants {
                    let corr_name = state_name(CORRELATION_STATE, tenant);
                    let base_name = state_name(BASELINE_STATE, tenant);
                    let corr = stored.get(&corr_name);
                    let base = stored.get(&base_name);
                    let e = TenantEngines::build(
                        active,
                        tenant,
                        corr.map(Vec::as_slice),
                        base.map(Vec::as_slice),
                        metrics,
                    )?;
                    for (name, bytes) in [(corr_name, corr), (base_name, base)] {
                        if let Some(b) = bytes {
                            stored_hashes.insert(name, hash(b));
                        }
                    }
                    by_tenant.insert(tenant.to_owned(), e);
                }
            }
        }
        if by_tenant.is_empty() {
            by_tenant.insert(
                DEFAULT_TENANT.to_owned(),
                TenantEngines::build(active, DEFAULT_TENANT, None, None, metrics)?,
            );
        }
        Some(Engines {
            by_tenant,
            stored: stored_hashes,
        })
    }

    /// The engines of `tenant`, made fresh for a tenant seen for the first time.
    fn tenant(
        &mut self,
        tenant: &str,
        active: &ActiveRules,
        metrics: &WorkerMetrics,
    ) -> Option<&mut TenantEngines> {
        if !self.by_tenant.contains_key(tenant) {
            let e = TenantEngines::build(active, tenant, None, None, metrics)?;
            self.by_tenant.insert(tenant.to_owned(), e);
        }
        self.by_tenant.get_mut(tenant)
    }

    /// The snapshots that differ from the stored ones (name, bytes).
    fn changed_state(&self, metrics: &WorkerMetrics) -> Vec<(String, Vec<u8>)> {
        let started = Instant::now();
        let mut snaps = Vec::with_capacity(self.by_tenant.len() * 2);
        for (tenant, e) in &self.by_tenant {
            snaps.push((
                state_name(CORRELATION_STATE, tenant),
                e.correlation.snapshot(),
            ));
            snaps.push((state_name(BASELINE_STATE, tenant), e.baseline.snapshot()));
        }
        metrics
            .state_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        metrics.state_bytes.store(
            snaps.iter().map(|(_, b)| b.len() as u64).sum(),
            Ordering::Relaxed,
        );
        snaps
            .into_iter()
            .filter(|(name, bytes)| self.stored.get(name) != Some(&hash(bytes)))
            .collect()
    }

    fn stored(&mut self, state: &[(String, Vec<u8>)]) {
        for (name, bytes) in state {
            self.stored.insert(name.clone(), hash(bytes));
        }
    }

    /// Totals over the tenants.
    fn publish(&self, metrics: &WorkerMetrics) {
        let mut corr = rampart_detect::CorrelationStats::default();
        let mut base = rampart_detect::baseline::BaselineStats::default();
        for e in self.by_tenant.values() {
            corr.add(&e.correlation.stats());
            base.add(&e.baseline.stats());
        }
        *metrics.correlation.lock() = corr;
        *metrics.baseline.lock() = base;
    }
}

/// What the worker needs besides the stream.
pub struct Worker<'a> {
    pub db: &'a DetectionStore,
    pub rules: &'a RuleBook,
    pub metrics: &'a WorkerMetrics,
    pub stop: &'a StopFlag,
    pub options: WorkerOptions,
    /// Triage runs (on its own thread, `feed::run`): batches leave its position alone.
    pub triage_on: bool,
}

impl Worker<'_> {
    /// Run detection until `stop`: waits for the first rule load, then handles batches.
    pub fn run(self, mut consumer: Box<dyn EventConsumer>) {
        let Worker {
            db,
            rules,
            metrics,
            stop,
            options,
            triage_on,
        } = self;
        while !rules.status().ready {
            if stop.wait(Duration::from_millis(50)) {
                return;
            }
        }
        let mut recorded = match db.consumer_seq(CONSUMER) {
            Ok(seq) => seq,
            Err(e) => {
                metrics.error("reading the recorded position", &e);
                0
            }
        };
        if recorded > consumer.head() {
            // The event store was reset under a kept detection database: its sequence
            // numbers start again, so the recorded position and state mean nothing any more.
            tracing::warn!(
                recorded,
                head = consumer.head(),
                "detection position is past the event store's head; starting over"
            );
            if let Err(e) = db
                .reset_consumer(CONSUMER)
                .and_then(|()| db.clear_engine_states())
            {
                metrics.error("resetting the recorded position", &e);
            }
            recorded = 0;
        }
        let stored = db.engine_states().unwrap_or_else(|e| {
            metrics.error("reading the engine state", &e);
            HashMap::new()
        });
        let mut active = rules.active();
        let Some(mut engines) = Engines::build(&active, None, &stored, metrics) else {
            metrics.error("starting", &"the rule load's engines were already taken");
            return;
        };
        engines.publish(metrics);
        drop(stored);
        metrics
            .committed_seq
            .store(consumer.committed(), Ordering::Relaxed);
        metrics.head_seq.store(consumer.head(), Ordering::Relaxed);
        let mut matches = Matches::new();
        // Detections evaluated since the last write.
        let mut found: Vec<(u64, DetectionData)> = Vec::new();
        let mut last_tick = Instant::now();
        let mut last_write = Instant::now();
        // The last sequence number evaluated but not yet written, and whether a clock tick
        // (baseline buckets closed) is waiting to be written.
        let mut pending: Option<u64> = None;
        let mut ticked = false;
        loop {
            let stopping = stop.is_stopped();
            let batch = if stopping {
                Vec::new()
            } else {
                match consumer.poll(options.batch_size, options.poll_wait) {
                    Ok(b) => b,
                    Err(e) => {
                        metrics.error("reading the event stream", &e);
                        stop.wait(Duration::from_secs(1));
                        continue;
                    }
                }
            };
            metrics.head_seq.store(consumer.head(), Ordering::Relaxed);
            // The rules as they are now: a rule disabled before this poll returned is off;
            // a reload brings new engines that take over the old ones' state.
            let now_active = rules.active();
            if !now_active.same_load(&active)
                && let Some(e) =
                    Engines::build(&now_active, Some(&engines), &HashMap::new(), metrics)
            {
                engines = e;
            }
            active = now_active;
            let started = Instant::now();
            let mut evaluated = 0u64;
            for item in batch.iter().filter(|i| i.seq > recorded) {
                evaluated += 1;
                evaluate(
                    &item.event,
                    item.seq,
                    &active,
                    &mut engines,
                    &mut matches,
                    &mut found,
                    metrics,
                );
            }
            metrics
                .events_skipped
                .fetch_add(batch.len() as u64 - evaluated, Ordering::Relaxed);
            let caught_up = batch.len() < options.batch_size;
            let tick = !stopping && caught_up && last_tick.elapsed() >= options.baseline_tick;
            if tick {
                last_tick = Instant::now();
                let now = Timestamp::now().nanos()
                    - i64::try_from(options.baseline_delay.as_nanos()).unwrap_or(i64::MAX);
                let seq = batch
                    .last()
                    .map_or(pending.unwrap_or(recorded), |e| e.seq.max(recorded));
                for (tenant, e) in engines.by_tenant.iter_mut() {
                    for a in e.baseline.tick(now) {
                        if active.baseline_enabled(a.rule_index) {
                            found.push((seq, DetectionData::from_anomaly(&a, None, tenant)));
                            metrics.baseline_detections.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                metrics.baseline_ticks.fetch_add(1, Ordering::Relaxed);
                ticked = true;
            }
            metrics
                .eval_nanos
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            metrics
                .events_evaluated
                .fetch_add(evaluated, Ordering::Relaxed);
            if let Some(last) = batch.last().map(|e| e.seq).filter(|s| *s > recorded) {
                pending = Some(pending.map_or(last, |p| p.max(last)));
            }
            if !batch.is_empty() {
                metrics.batches.fetch_add(1, Ordering::Relaxed);
            }
            // Redelivered events only (already written before a crash): nothing to write,
            // but the stream position moves past them.
            if let Some(last) = batch.last().map(|e| e.seq)
                && last <= recorded
                && pending.is_none()
            {
                match consumer.commit(last) {
                    Ok(()) => metrics
                        .committed_seq
                        .store(consumer.committed(), Ordering::Relaxed),
                    Err(e) => metrics.error("committing the event stream position", &e),
                }
            }
            let due = stopping
                || last_write.elapsed() >= options.write_interval
                || found.len() >= options.max_pending_detections;
            if (pending.is_some() || ticked) && due {
                let new_seq = pending;
                let state = engines.changed_state(metrics);
                let refs: Vec<(&str, &[u8])> = state
                    .iter()
                    .map(|(n, b)| (n.as_str(), b.as_slice()))
                    .collect();
                let write = BatchWrite {
                    detections: &found,
                    consumer: CONSUMER,
                    seq: new_seq,
                    state: &refs,
                    triage: if triage_on {
                        TriageWrite::Untouched
                    } else {
                        TriageWrite::Follow
                    },
                };
                let started = Instant::now();
                // Retry until written: the events are not committed to the consumer before.
                let written = loop {
                    match db.write_batch(&write) {
                        Ok(w) => break Some(w),
                        Err(e) => {
                            metrics.error("writing detections", &e);
                            if stop.wait(Duration::from_secs(1)) {
                                break None;
                            }
                        }
                    }
                };
                metrics
                    .write_nanos
                    .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                let Some(written) = written else {
                    return;
                };
                last_write = Instant::now();
                engines.stored(&state);
                if !state.is_empty() {
                    metrics.state_writes.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(id) = written.last_id.filter(|_| triage_on) {
                    // Before the stream position moves: whoever sees detection caught up
                    // sees these waiting for triage.
                    metrics.triage.newest_id.fetch_max(id, Ordering::Relaxed);
                }
                let inserted = written.inserted as u64;
                metrics
                    .detections_written
                    .fetch_add(inserted, Ordering::Relaxed);
                metrics
                    .detections_total
                    .fetch_add(inserted, Ordering::Relaxed);
                found.clear();
                pending = None;
                ticked = false;
                engines.publish(metrics);
                if let Some(seq) = new_seq {
                    recorded = seq;
                    match consumer.commit(seq) {
                        Ok(()) => metrics
                            .committed_seq
                            .store(consumer.committed(), Ordering::Relaxed),
                        // The next commit covers these events too; SQLite holds the position.
                        Err(e) => metrics.error("committing the event stream position", &e),
                    }
                }
            }
            if stopping {
                return;
            }
        }
    }
}

/// Evaluate one event: rule detections (unless only correlations use the rule), then
/// correlation firings, then baseline anomalies, each when its rule is enabled.
fn evaluate(
    event: &Event,
    seq: u64,
    active: &Arc<ActiveRules>,
    engines: &mut Engines,
    matches: &mut Matches,
    found: &mut Vec<(u64, DetectionData)>,
    metrics: &WorkerMetrics,
) {
    active.engine().evaluate(event, matches);
    // None only for the empty load before the first rules arrive, which has no engines.
    let mut engines = engines.tenant(&event.tenant, active, metrics);
    for &idx in matches.rules() {
        if !active.is_enabled(idx) {
            continue;
        }
        if engines
            .as_ref()
            .is_some_and(|e| !e.correlation.emits_detection(idx))
        {
            metrics.matches_not_emitted.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Some(meta) = active.engine().rule(idx) {
            found.push((seq, DetectionData::new(event, meta)));
        }
    }
    let Some(engines) = engines.as_mut() else {
        return;
    };
    let ts = event.timestamp.nanos();
    let reference = event.id.0.as_u128();
    if !matches.is_empty() {
        for f in engines.correlation.observe(event, ts, reference, matches) {
            if f.emit && active.correlation_enabled(f.correlation) {
                found.push((seq, DetectionData::from_firing(&f, event)));
                metrics
                    .correlation_detections
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    for a in engines.baseline.observe(event, ts, reference) {
        if active.baseline_enabled(a.rule_index) {
            found.push((
                seq,
                DetectionData::from_anomaly(&a, Some(event), &event.tenant),
            ));
            metrics.baseline_detections.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rampart_model::{Event, Origin, OriginKind, Raw};
    use rampart_store::{ConsumedEvent, StoreError};
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    /// An in-memory stream: events with sequence numbers, a shared committed position.
    struct FakeConsumer {
        events: Vec<ConsumedEvent>,
        next: usize,
        committed: Arc<AtomicU64>,
        stop_when_drained: Arc<StopFlag>,
    }

    impl EventConsumer for FakeConsumer {
        fn poll(&mut self, max: usize, _wait: Duration) -> Result<Vec<ConsumedEvent>, StoreError> {
            let end = (self.next + max).min(self.events.len());
            let out = self.events[self.next..end].to_vec();
            self.next = end;
            if out.is_empty() {
                self.stop_when_drained.stop();
            }
            Ok(out)
        }
        fn commit(&mut self, seq: u64) -> Result<(), StoreError> {
            self.committed.store(seq, Ordering::SeqCst);
            Ok(())
        }
        fn committed(&self) -> u64 {
            self.committed.load(Ordering::SeqCst)
        }
        fn head(&self) -> u64 {
            self.events.last().map_or(0, |e| e.seq)
        }
    }

    fn sysmon(cmd: &str) -> Event {
        let mut ev = Event::new(Origin::new(OriginKind::Import, "t"), Raw::Text(cmd.into()));
        ev.set(
            "Event.System.Channel",
            "Microsoft-Windows-Sysmon/Operational",
        );
        ev.set("Event.System.EventID", 1);
        ev.set("Event.EventData.CommandLine", cmd);
        ev.set("host.name", "WIN-1");
        ev
    }

    fn setup(rules_dir: &Path, db_path: &Path) -> (Arc<DetectionStore>, RuleBook) {
        let db = Arc::new(DetectionStore::open(db_path).unwrap());
        let book = RuleBook::new(vec![rules_dir.to_owned()], false, db.clone()).unwrap();
        book.reload(true).unwrap();
        (db, book)
    }

    /// Run the worker over `events` after position `from`: (committed, skipped).
    fn drain(
        db: &DetectionStore,
        book: &RuleBook,
        events: &[ConsumedEvent],
        from: u64,
    ) -> (u64, u64) {
        let committed = Arc::new(AtomicU64::new(from));
        let stop = Arc::new(StopFlag::default());
        let consumer = FakeConsumer {
            events: events.iter().filter(|e| e.seq > from).cloned().collect(),
            next: 0,
            committed: committed.clone(),
            stop_when_drained: stop.clone(),
        };
        let metrics = WorkerMetrics::default();
        let options = WorkerOptions {
            batch_size: 3,
            poll_wait: Duration::from_millis(1),
            ..WorkerOptions::default()
        };
        Worker {
            db,
            rules: book,
            metrics: &metrics,
            stop: &stop,
            options,
            triage_on: false,
        }
        .run(Box::new(consumer));
        (
            committed.load(Ordering::SeqCst),
            metrics.events_skipped.load(Ordering::Relaxed),
        )
    }

    #[test]
    fn matching_events_become_detections_once_even_when_redelivered() {
        let rules = tempfile::tempdir().unwrap();
        std::fs::write(rules.path().join("w.yml"), crate::test_rules::WHOAMI).unwrap();
        let dbdir = tempfile::tempdir().unwrap();
        let (db, book) = setup(rules.path(), &dbdir.path().join("a.db"));
        let events: Vec<ConsumedEvent> = ["whoami /all", "dir", "cmd /c WHOAMI", "ipconfig"]
            .iter()
            .enumerate()
            .map(|(i, c)| ConsumedEvent {
                seq: i as u64 + 1,
                event: sysmon(c).into(),
            })
            .collect();
        assert_eq!(drain(&db, &book, &events, 0), (4, 0));
        let page = db
            .list(&crate::record::DetectionQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.total, 2);
        let ids: Vec<_> = page
            .detections
            .iter()
            .filter_map(|d| d.data.event_id)
            .collect();
        assert!(ids.contains(&events[0].event.id) && ids.contains(&events[2].event.id));
        assert_eq!(page.detections[0].data.host.as_deref(), Some("WIN-1"));
        // A crash after the SQLite commit but before the consumer commit: the store
        // redelivers from its older position; nothing is written twice.
        assert_eq!(drain(&db, &book, &events, 1), (4, 3));
        assert_eq!(db.total().unwrap(), 2);
        // Disabled: new matching events make no detection.
        book.set_enabled("11111111-1111-4111-8111-111111111111", false, "t", None)
            .unwrap();
        let more = vec![ConsumedEvent {
            seq: 5,
            event: sysmon("whoami").into(),
        }];
        drain(&db, &book, &more, 4);
        assert_eq!(db.total().unwrap(), 2);
        book.set_enabled("11111111-1111-4111-8111-111111111111", true, "t", None)
            .unwrap();
        let more = vec![ConsumedEvent {
            seq: 6,
            event: sysmon("whoami").into(),
        }];
        drain(&db, &book, &more, 5);
        assert_eq!(db.total().unwrap(), 3, "enabled again: detected");
    }

    /// Parsed sshd failures: `n` from `ip` for `user`, one a second from `start`.
    fn failures(ip: &str, user: &str, start: u32, n: u32, first_seq: u64) -> Vec<ConsumedEvent> {
        let parser = rampart_parse::Parser::new(rampart_parse::ParserConfig::default()).unwrap();
        (0..n)
            .map(|i| {
                let line = format!(
                    "Mar 10 08:{:02}:{:02} web1 sshd[2211]: Failed password for {user} from {ip} port {} ssh2",
                    (start + i) / 60,
                    (start + i) % 60,
                    40000 + i
                );
                ConsumedEvent {
                    seq: first_seq + u64::from(i),
                    event: parser
                        .parse(line.as_bytes(), Origin::new(OriginKind::SyslogTcp, "t"))
                        .into(),
                }
            })
            .collect()
    }

    const BRUTE_FORCE: &str = "bc53baa7-ff46-4c1d-9d5e-e3d5f15484ff";
    const FAILED_LOGIN: &str = "07035ab3-df0d-5292-a778-2d943fceeb34";

    fn builtin_book(db: Arc<DetectionStore>) -> RuleBook {
        let book = RuleBook::new(Vec::new(), true, db).unwrap().with_engines(
            Vec::new(),
            false,
            rampart_detect::CorrelationOptions {
                suppress_seconds: Some(60),
                ..Default::default()
            },
            rampart_detect::baseline::BaselineOptions::default(),
        );
        book.reload(true).unwrap();
        book
    }

    /// The detections of `rule`, newest first (at most 100).
    fn of_rule(db: &DetectionStore, rule: &str) -> crate::record::DetectionPage {
        db.list(&crate::record::DetectionQuery {
            rule_id: Some(rule.into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap()
    }

    fn count(db: &DetectionStore, rule: &str) -> u64 {
        of_rule(db, rule).total
    }

    #[test]
    fn correlation_state_survives_a_restart_exactly() {
        // 10 failures from one source (the threshold) and 9 from another, split in two
        // runs of the worker with a fresh rule book each (a restart in between).
        let mut events = failures("203.0.113.7", "root", 0, 5, 1);
        events.extend(failures("198.51.100.9", "guest", 0, 9, 6));
        events.extend(failures("203.0.113.7", "root", 5, 5, 15));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        {
            let db = Arc::new(DetectionStore::open(&path).unwrap());
            let book = builtin_book(db.clone());
            drain(&db, &book, &events[..5], 0);
            assert_eq!(count(&db, BRUTE_FORCE), 0);
        }
        let db = Arc::new(DetectionStore::open(&path).unwrap());
        let book = builtin_book(db.clone());
        // Redelivered from 3: events 4 and 5 are skipped, not counted twice.
        let (committed, skipped) = drain(&db, &book, &events, 3);
        assert_eq!((committed, skipped), (19, 2));
        let page = of_rule(&db, BRUTE_FORCE);
        assert_eq!(page.total, 1, "fires once, for the source at the threshold");
        let d = &page.detections[0].data;
        assert_eq!(d.kind, crate::record::DetectionKind::Correlation);
        assert_eq!(d.source_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(d.value, Some(10.0));
        assert_eq!(d.event_ids.len(), 10);
        assert_eq!(d.event_id, Some(events[18].event.id));
        // The base rule is referenced without `generate`: no detection of its own.
        assert_eq!(count(&db, FAILED_LOGIN), 0);
        // Without the restart the result is the same.
        let dir2 = tempfile::tempdir().unwrap();
        let db2 = Arc::new(DetectionStore::open(&dir2.path().join("d.db")).unwrap());
        drain(&db2, &builtin_book(db2.clone()), &events, 0);
        assert_eq!(count(&db2, BRUTE_FORCE), 1);
    }

    #[test]
    fn correlation_state_is_kept_per_tenant_across_a_restart() {
        // 5 failures from one address in tenant a and 5 from the same address in tenant
        // b: 10 in all, but neither organisation reaches the threshold of 10.
        let with_tenant = |mut v: Vec<ConsumedEvent>, t: &str| {
            for e in &mut v {
                let mut event = rampart_model::Event::clone(&e.event);
                event.tenant = t.to_owned();
                e.event = event.into();
            }
            v
        };
        let mut events = with_tenant(failures("203.0.113.7", "root", 0, 5, 1), "a");
        events.extend(with_tenant(failures("203.0.113.7", "root", 5, 5, 6), "b"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        {
            let db = Arc::new(DetectionStore::open(&path).unwrap());
            drain(&db, &builtin_book(db.clone()), &events, 0);
            assert_eq!(count(&db, BRUTE_FORCE), 0, "tenants' events never add up");
            let names: Vec<String> = db.engine_states().unwrap().into_keys().collect();
            assert!(
                names.iter().any(|n| n == "correlation@a")
                    && names.iter().any(|n| n == "correlation@b"),
                "one snapshot per tenant: {names:?}"
            );
        }
        // After a restart, 5 more for tenant b: b's open window (restored from its own
        // snapshot) reaches 10 and fires for b only.
        let more = with_tenant(failures("203.0.113.7", "root", 10, 5, 11), "b");
        let db = Arc::new(DetectionStore::open(&path).unwrap());
        drain(&db, &builtin_book(db.clone()), &more, 10);
        let page = of_rule(&db, BRUTE_FORCE);
        assert_eq!(page.total, 1);
        let d = &page.detections[0];
        assert_eq!(d.data.tenant, "b");
        assert_eq!(d.data.event_ids.len(), 10);
        let ids_of_a: Vec<_> = events[..5].iter().map(|e| e.event.id).collect();
        assert!(d.data.event_ids.iter().all(|id| !ids_of_a.contains(id)));
    }
}
