//! The worker's stop signal and counters, and the status document built from them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rampart_detect::CorrelationStats;
use rampart_detect::baseline::BaselineStats;
use serde::Serialize;

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

/// Counters of the triage step.
#[derive(Default)]
pub struct TriageMetrics {
    pub enabled: std::sync::atomic::AtomicBool,
    /// `Triage::process` calls that committed.
    pub batches: AtomicU64,
    pub signals: AtomicU64,
    pub alerts_created: AtomicU64,
    pub deduplicated: AtomicU64,
    pub suppressed: AtomicU64,
    pub risk_alerts: AtomicU64,
    /// Pending detections re-sent after a restart or a failed call.
    pub replayed: AtomicU64,
    /// Pending ranges found already triaged after a restart (not re-sent).
    pub already_done: AtomicU64,
    /// The newest detection id stored (by the worker, or read by the triage thread).
    pub newest_id: std::sync::atomic::AtomicI64,
    /// Triage has every detection up to this id.
    pub done_id: std::sync::atomic::AtomicI64,
    pub errors: AtomicU64,
}

/// Triage figures of the status document.
#[derive(Debug, Clone, Serialize)]
pub struct TriageStatus {
    pub enabled: bool,
    pub batches: u64,
    pub signals: u64,
    pub alerts_created: u64,
    pub deduplicated: u64,
    pub suppressed: u64,
    pub risk_alerts: u64,
    pub replayed: u64,
    pub already_done: u64,
    pub pending: u64,
    pub errors: u64,
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
    /// Of `detections_written`: correlation firings and baseline anomalies.
    pub correlation_detections: AtomicU64,
    pub baseline_detections: AtomicU64,
    /// Rule matches not stored because only correlations use the rule (Sigma `generate`).
    pub matches_not_emitted: AtomicU64,
    pub batches: AtomicU64,
    /// Time spent evaluating rules, correlations and baselines, in nanoseconds.
    pub eval_nanos: AtomicU64,
    /// Time spent writing detections and state to SQLite, in nanoseconds.
    pub write_nanos: AtomicU64,
    /// Snapshots of the correlation and baseline state: the last size, the total time
    /// taken to make them and how many were written.
    pub state_bytes: AtomicU64,
    pub state_nanos: AtomicU64,
    pub state_writes: AtomicU64,
    pub baseline_ticks: AtomicU64,
    pub errors: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    pub correlation: Mutex<CorrelationStats>,
    pub baseline: Mutex<BaselineStats>,
    pub triage: TriageMetrics,
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
    pub correlation_detections: u64,
    pub baseline_detections: u64,
    pub matches_not_emitted: u64,
    pub batches: u64,
    /// Evaluation speed: events evaluated per second of evaluation time.
    pub eval_events_per_sec: f64,
    pub write_ms: u64,
    /// Size of the last correlation + baseline snapshot, and the mean time to make one.
    pub state_bytes: u64,
    pub state_writes: u64,
    pub state_snapshot_us: u64,
    pub baseline_ticks: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    /// Correlation engine counters: groups held, refused, expired, firings …
    pub correlation: CorrelationStats,
    /// Baseline engine counters: entities, anomalies, late events …
    pub baseline: BaselineStats,
    pub triage: TriageStatus,
}

impl WorkerMetrics {
    pub fn snapshot(&self) -> WorkerStatus {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let head = get(&self.head_seq);
        let committed = get(&self.committed_seq);
        let evaluated = get(&self.events_evaluated);
        let eval_nanos = get(&self.eval_nanos);
        let batches = get(&self.batches);
        let t = &self.triage;
        WorkerStatus {
            lag_events: head.saturating_sub(committed),
            head_seq: head,
            committed_seq: committed,
            events_evaluated: evaluated,
            events_skipped: get(&self.events_skipped),
            detections_written: get(&self.detections_written),
            detections_total: get(&self.detections_total),
            correlation_detections: get(&self.correlation_detections),
            baseline_detections: get(&self.baseline_detections),
            matches_not_emitted: get(&self.matches_not_emitted),
            batches,
            eval_events_per_sec: if eval_nanos == 0 {
                0.0
            } else {
                (evaluated as f64 / (eval_nanos as f64 / 1e9)).round()
            },
            write_ms: get(&self.write_nanos) / 1_000_000,
            state_bytes: get(&self.state_bytes),
            state_writes: get(&self.state_writes),
            state_snapshot_us: get(&self.state_nanos) / batches.max(1) / 1_000,
            baseline_ticks: get(&self.baseline_ticks),
            errors: get(&self.errors),
            last_error: self.last_error.lock().clone(),
            correlation: self.correlation.lock().clone(),
            baseline: self.baseline.lock().clone(),
            triage: TriageStatus {
                enabled: t.enabled.load(Ordering::Relaxed),
                batches: get(&t.batches),
                signals: get(&t.signals),
                alerts_created: get(&t.alerts_created),
                deduplicated: get(&t.deduplicated),
                suppressed: get(&t.suppressed),
                risk_alerts: get(&t.risk_alerts),
                replayed: get(&t.replayed),
                already_done: get(&t.already_done),
                // Detections stored but not yet triaged.
                pending: u64::try_from(
                    t.newest_id
                        .load(Ordering::Relaxed)
                        .saturating_sub(t.done_id.load(Ordering::Relaxed)),
                )
                .unwrap_or(0),
                errors: get(&t.errors),
            },
        }
    }

    pub(crate) fn error(&self, what: &str, e: &dyn std::fmt::Display) {
        tracing::error!(error = %e, "detection worker: {what}");
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(format!("{what}: {e}"));
    }
}
