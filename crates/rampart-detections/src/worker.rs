//! The live detection worker: reads the event store's durable stream, evaluates each event against the active rules, and stores detections crash-safely.
//!
//! Per batch: poll the consumer, evaluate, write the detections *and* the batch's last
//! sequence number in one SQLite transaction, then commit the consumer. A crash after the
//! SQLite commit but before the consumer commit redelivers the batch on restart; events
//! at or below the recorded sequence number are then skipped, so no detection is written
//! twice and none is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rampart_detect::Matches;
use rampart_store::EventConsumer;
use serde::Serialize;

use crate::db::DetectionStore;
use crate::record::DetectionData;
use crate::rules::RuleBook;

/// The consumer name detection reads the event stream under.
pub const CONSUMER: &str = "detection";

/// A stop signal threads can sleep on.
#[derive(Default)]
pub struct StopFlag {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl StopFlag {
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.cv.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock()
    }

    /// Sleep up to `timeout`; true when stopped.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.cv.wait_for(&mut stopped, timeout);
        }
        *stopped
    }
}

/// Counters of the worker, readable while it runs.
#[derive(Default)]
pub struct WorkerMetrics {
    pub head_seq: AtomicU64,
    pub committed_seq: AtomicU64,
    pub events_evaluated: AtomicU64,
    /// Events redelivered after a crash and skipped (already handled).
    pub events_skipped: AtomicU64,
    pub detections_written: AtomicU64,
    pub detections_total: AtomicU64,
    pub batches: AtomicU64,
    /// Time spent evaluating rules, in nanoseconds.
    pub eval_nanos: AtomicU64,
    /// Time spent writing detections to SQLite, in nanoseconds.
    pub write_nanos: AtomicU64,
    pub errors: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// A snapshot of [`WorkerMetrics`] for the status document.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    /// Accepted events detection has not handled yet (`head_seq - committed_seq`).
    pub lag_events: u64,
    pub head_seq: u64,
    pub committed_seq: u64,
    pub events_evaluated: u64,
    pub events_skipped: u64,
    /// Detections written since the server started.
    pub detections_written: u64,
    /// Detections stored in all.
    pub detections_total: u64,
    pub batches: u64,
    /// Evaluation speed: events evaluated per second of evaluation time.
    pub eval_events_per_sec: f64,
    pub write_ms: u64,
    pub errors: u64,
    pub last_error: Option<String>,
}

impl WorkerMetrics {
    pub fn snapshot(&self) -> WorkerStatus {
        let head = self.head_seq.load(Ordering::Relaxed);
        let committed = self.committed_seq.load(Ordering::Relaxed);
        let evaluated = self.events_evaluated.load(Ordering::Relaxed);
        let eval_nanos = self.eval_nanos.load(Ordering::Relaxed);
        WorkerStatus {
            lag_events: head.saturating_sub(committed),
            head_seq: head,
            committed_seq: committed,
            events_evaluated: evaluated,
            events_skipped: self.events_skipped.load(Ordering::Relaxed),
            detections_written: self.detections_written.load(Ordering::Relaxed),
            detections_total: self.detections_total.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            eval_events_per_sec: if eval_nanos == 0 {
                0.0
            } else {
                (evaluated as f64 / (eval_nanos as f64 / 1e9)).round()
            },
            write_ms: self.write_nanos.load(Ordering::Relaxed) / 1_000_000,
            errors: self.errors.load(Ordering::Relaxed),
            last_error: self.last_error.lock().clone(),
        }
    }

    fn error(&self, what: &str, e: &dyn std::fmt::Display) {
        tracing::error!(error = %e, "detection worker: {what}");
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(format!("{what}: {e}"));
    }
}

/// Settings of the worker loop.
#[derive(Debug, Clone, Copy)]
pub struct WorkerOptions {
    /// Most events per batch (one SQLite transaction and one consumer commit each).
    pub batch_size: usize,
    /// How long a poll waits for new events.
    pub poll_wait: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            batch_size: 2048,
            poll_wait: Duration::from_millis(200),
        }
    }
}

/// Run detection until `stop`: waits for the first rule load, then handles batches.
pub fn run(
    mut consumer: Box<dyn EventConsumer>,
    db: &DetectionStore,
    rules: &RuleBook,
    metrics: &WorkerMetrics,
    stop: &StopFlag,
    options: WorkerOptions,
) {
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
        // The event store was reset under a kept detection database: its sequence numbers
        // start again, so the recorded position means nothing any more.
        tracing::warn!(
            recorded,
            head = consumer.head(),
            "detection position is past the event store's head; starting over"
        );
        if let Err(e) = db.reset_consumer(CONSUMER) {
            metrics.error("resetting the recorded position", &e);
        }
        recorded = 0;
    }
    metrics
        .committed_seq
        .store(consumer.committed(), Ordering::Relaxed);
    metrics.head_seq.store(consumer.head(), Ordering::Relaxed);
    let mut matches = Matches::new();
    let mut found: Vec<(u64, DetectionData)> = Vec::new();
    while !stop.is_stopped() {
        let batch = match consumer.poll(options.batch_size, options.poll_wait) {
            Ok(b) => b,
            Err(e) => {
                metrics.error("reading the event stream", &e);
                stop.wait(Duration::from_secs(1));
                continue;
            }
        };
        metrics.head_seq.store(consumer.head(), Ordering::Relaxed);
        let Some(last_seq) = batch.last().map(|e| e.seq) else {
            continue;
        };
        // The rules as they are now: a rule disabled before this poll returned is off.
        let active = rules.active();
        let started = Instant::now();
        found.clear();
        let mut evaluated = 0u64;
        for item in &batch {
            if item.seq <= recorded {
                metrics.events_skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            evaluated += 1;
            active.engine().evaluate(&item.event, &mut matches);
            for &idx in matches.rules() {
                if !active.is_enabled(idx) {
                    continue;
                }
                if let Some(meta) = active.engine().rule(idx) {
                    found.push((item.seq, DetectionData::new(&item.event, meta)));
                }
            }
        }
        metrics
            .eval_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        metrics
            .events_evaluated
            .fetch_add(evaluated, Ordering::Relaxed);
        if last_seq > recorded {
            let started = Instant::now();
            // Retry until written: the batch is not committed to the consumer before.
            let inserted = loop {
                match db.insert_batch(&found, CONSUMER, last_seq) {
                    Ok(n) => break Some(n),
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
            let Some(inserted) = inserted else {
                return;
            };
            recorded = last_seq;
            metrics
                .detections_written
                .fetch_add(inserted as u64, Ordering::Relaxed);
            metrics
                .detections_total
                .fetch_add(inserted as u64, Ordering::Relaxed);
        }
        metrics.batches.fetch_add(1, Ordering::Relaxed);
        match consumer.commit(last_seq) {
            Ok(()) => metrics
                .committed_seq
                .store(consumer.committed(), Ordering::Relaxed),
            // The next commit covers this batch too; SQLite already holds its position.
            Err(e) => metrics.error("committing the event stream position", &e),
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
        };
        run(Box::new(consumer), db, book, &metrics, &stop, options);
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
                event: sysmon(c),
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
        let ids: Vec<_> = page.detections.iter().map(|d| d.data.event_id).collect();
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
            event: sysmon("whoami"),
        }];
        drain(&db, &book, &more, 4);
        assert_eq!(db.total().unwrap(), 2);
        book.set_enabled("11111111-1111-4111-8111-111111111111", true, "t", None)
            .unwrap();
        let more = vec![ConsumedEvent {
            seq: 6,
            event: sysmon("whoami"),
        }];
        drain(&db, &book, &more, 5);
        assert_eq!(db.total().unwrap(), 3, "enabled again: detected");
    }
}
