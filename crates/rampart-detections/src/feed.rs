//! Handing stored detections to triage as signals, exactly once across crashes.
//!
//! Detections and alerts live in two SQLite files, so no one transaction covers both.
//! The order is: (1) the batch's detections are committed to `detections.db` together with
//! a *pending* mark — the range of detection ids not yet triaged and, per rule id of the
//! range, triage's signal count read before any of them was sent; (2) the range is read
//! back and given to `Triage::process` (one transaction in `triage.db`); (3) the mark is
//! cleared. A failed `process` call rolls back, so the range stays pending and is re-sent
//! with the next batch. After a crash between (2) and (3) the counts decide: triage counts
//! every signal it accepts exactly once per rule (raised, deduplicated or suppressed), so
//! if the rules' counts grew by the range's size, triage already has it and it is not sent
//! again (a replay would fold into the alerts a second time and double their counts);
//! if they did not grow, it is sent. Signals are built from the stored detections, so a
//! re-sent range gives triage the same signals as the first attempt would have.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use rampart_triage::{Entities, Level, Signal, SignalSource, Triage};

use crate::db::DetectionStore;
use crate::error::DetectionsError;
use crate::metrics::{StopFlag, WorkerMetrics};
use crate::record::{DetectionData, DetectionKind};
use crate::state::{Pending, TriagePosition};

/// The triage signal of a stored detection. The entities are the detection's own
/// (normalised by triage), so an alert shows what its detections show.
pub fn signal_of(d: &DetectionData) -> Signal {
    let source = match d.kind {
        DetectionKind::Rule => SignalSource::Detection,
        DetectionKind::Correlation => SignalSource::Correlation,
        DetectionKind::Baseline => SignalSource::Baseline,
    };
    let level = Level::parse(&d.level).unwrap_or(Level::Informational);
    let mut signal = Signal::new(source, &d.rule_id, &d.rule_title, level, d.event_time)
        .with_tenant(d.tenant.clone())
        .with_tags(d.tags.iter().cloned())
        .with_entities(Entities {
            host: d.host.clone(),
            user: d.user.clone(),
            source_ip: d.source_ip.clone(),
            destination_ip: d.destination_ip.clone(),
            process: d.process_name.clone(),
            file_hash: d.file_hash.clone(),
        });
    signal.fields = d.fields.clone();
    if let Some(cmd) = &d.command_line {
        signal
            .fields
            .entry("process.command_line")
            .or_insert_with(|| cmd.clone().into());
    }
    if let Some(id) = d.event_id {
        signal.event_ids.push(id);
    }
    for id in &d.event_ids {
        if !signal.event_ids.contains(id) {
            signal.event_ids.push(*id);
        }
    }
    let group = d
        .group
        .iter()
        .map(|g| format!("{}={}", g.field, g.value))
        .collect::<Vec<_>>()
        .join(", ");
    signal.summary = match d.kind {
        DetectionKind::Rule => String::new(),
        DetectionKind::Correlation => format!(
            "{} {} over {}{}",
            d.fields
                .get("correlation.type")
                .and_then(|v| v.as_str())
                .unwrap_or("correlation"),
            d.value.map_or_else(String::new, |v| format!("{v}")),
            window(d),
            if group.is_empty() {
                String::new()
            } else {
                format!(" for {group}")
            }
        ),
        DetectionKind::Baseline => match d.score {
            Some(score) => format!(
                "{group}: {} against a usual {} ({score:.1} spreads) in {}",
                d.value.map_or_else(String::new, |v| format!("{v}")),
                d.fields
                    .get("baseline.expected")
                    .map_or_else(String::new, |v| v.to_string()),
                window(d)
            ),
            None => format!("{group}: first seen"),
        },
    };
    signal
}

fn window(d: &DetectionData) -> String {
    match (d.window_start, d.window_end) {
        (Some(a), Some(b)) => {
            let secs = (b.nanos() - a.nanos()).max(0) / 1_000_000_000;
            format!("{secs}s")
        }
        _ => "its window".to_owned(),
    }
}

/// Triage's signal count (raised + deduplicated + suppressed) per rule id, all tenants.
fn signal_counts(triage: &Triage) -> Result<HashMap<String, u64>, rampart_triage::TriageError> {
    Ok(triage
        .rule_noise(None)?
        .into_iter()
        .map(|n| (n.rule_id, n.signals))
        .collect())
}

/// The triage side of the worker: where triage stands and what is pending.
pub(crate) struct TriageFeed<'a> {
    triage: &'a Triage,
    db: &'a DetectionStore,
    metrics: &'a WorkerMetrics,
    position: TriagePosition,
    /// The pending range comes from an earlier run: it may have been triaged already.
    uncertain: bool,
    /// The pending range's detections when they were just read to mark it.
    ready: Option<Vec<crate::record::Detection>>,
}

impl<'a> TriageFeed<'a> {
    pub fn open(
        triage: &'a Triage,
        db: &'a DetectionStore,
        metrics: &'a WorkerMetrics,
    ) -> Result<TriageFeed<'a>, DetectionsError> {
        let position = db.triage_position()?;
        metrics.triage.enabled.store(true, Ordering::Relaxed);
        let uncertain = position.pending.is_some();
        let feed = TriageFeed {
            triage,
            db,
            metrics,
            position,
            uncertain,
            ready: None,
        };
        feed.publish_pending();
        Ok(feed)
    }

    fn publish_pending(&self) {
        let t = &self.metrics.triage;
        let newest = self
            .position
            .pending
            .as_ref()
            .map_or(self.position.done_id, |p| p.to_id);
        t.newest_id.fetch_max(newest, Ordering::Relaxed);
        t.done_id.store(self.position.done_id, Ordering::Relaxed);
    }

    /// Triage's signal count now for each rule of a range (nothing of it is sent yet).
    /// On an error the map is empty, and the range then counts as not yet triaged after a
    /// crash (see `already_triaged`).
    fn before<'r>(&self, rule_ids: impl Iterator<Item = &'r str>) -> BTreeMap<String, u64> {
        match signal_counts(self.triage) {
            Ok(counts) => rule_ids
                .map(|r| (r.to_owned(), counts.get(r).copied().unwrap_or(0)))
                .collect(),
            Err(e) => {
                self.metrics.error("reading triage's signal counts", &e);
                BTreeMap::new()
            }
        }
    }

    /// When nothing is pending, mark the next range of at most `max` new detections as
    /// pending (triage's counts for its rules read first); whether there was one.
    pub fn next_range(&mut self, max: i64) -> Result<bool, DetectionsError> {
        if self.position.pending.is_some() {
            return Ok(true);
        }
        let newest = self.db.newest_detection_id()?;
        let done = self.position.done_id;
        self.metrics
            .triage
            .newest_id
            .fetch_max(newest, Ordering::Relaxed);
        if newest <= done {
            return Ok(false);
        }
        let to_id = newest.min(done.saturating_add(max.max(1)));
        let detections = self.db.detections_between(done, to_id)?;
        let before = self.before(detections.iter().map(|d| d.data.rule_id.as_str()));
        self.db.triage_pending(to_id, &before)?;
        self.position.pending = Some(Pending { to_id, before });
        self.uncertain = false;
        self.ready = Some(detections);
        Ok(true)
    }

    /// Triage the pending range, if any. Errors are counted and the range stays pending
    /// (re-sent next time); returns whether nothing is pending any more.
    pub fn catch_up(&mut self, stop: &crate::metrics::StopFlag) -> bool {
        let Some(pending) = self.position.pending.clone() else {
            return true;
        };
        let t = &self.metrics.triage;
        let read = match self.ready.take() {
            Some(d) => Ok(d),
            None => self
                .db
                .detections_between(self.position.done_id, pending.to_id),
        };
        let detections = match read {
            Ok(d) => d,
            Err(e) => {
                t.errors.fetch_add(1, Ordering::Relaxed);
                self.metrics.error("reading detections to triage", &e);
                return false;
            }
        };
        if self.uncertain {
            match self.already_triaged(&pending, &detections) {
                Ok(true) => {
                    tracing::info!(
                        to_id = pending.to_id,
                        "pending detections were triaged before the restart"
                    );
                    t.already_done.fetch_add(1, Ordering::Relaxed);
                    return self.mark_done(pending.to_id, stop);
                }
                Ok(false) => {
                    t.replayed
                        .fetch_add(detections.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    t.errors.fetch_add(1, Ordering::Relaxed);
                    self.metrics.error("reading triage's signal counts", &e);
                    return false;
                }
            }
        }
        let signals: Vec<Signal> = detections.iter().map(|d| signal_of(&d.data)).collect();
        let n = signals.len() as u64;
        match self.triage.process(signals) {
            Ok(report) => {
                t.batches.fetch_add(1, Ordering::Relaxed);
                t.signals.fetch_add(n, Ordering::Relaxed);
                t.alerts_created
                    .fetch_add(report.created.len() as u64, Ordering::Relaxed);
                t.deduplicated
                    .fetch_add(report.deduplicated as u64, Ordering::Relaxed);
                t.suppressed
                    .fetch_add(report.suppressed as u64, Ordering::Relaxed);
                t.risk_alerts
                    .fetch_add(report.risk_alerts.len() as u64, Ordering::Relaxed);
                self.mark_done(pending.to_id, stop)
            }
            Err(e) => {
                // Rolled back: nothing of the range is in triage, so it is certain.
                self.uncertain = false;
                t.errors.fetch_add(1, Ordering::Relaxed);
                self.metrics.error("triaging detections", &e);
                false
            }
        }
    }

    /// Whether triage's counts show that it took the pending range.
    fn already_triaged(
        &self,
        pending: &Pending,
        detections: &[crate::record::Detection],
    ) -> Result<bool, rampart_triage::TriageError> {
        let counts = signal_counts(self.triage)?;
        let grown: u64 = pending
            .before
            .iter()
            .map(|(rule, before)| {
                counts
                    .get(rule)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(*before)
            })
            .sum();
        let known = detections
            .iter()
            .filter(|d| pending.before.contains_key(&d.data.rule_id))
            .count() as u64;
        if grown > 0 && grown != known {
            tracing::warn!(
                grown,
                expected = known,
                "triage's counts moved by another amount than the pending detections; \
                 taking them as triaged"
            );
        }
        Ok(known > 0 && grown > 0)
    }

    /// Record that triage has everything up to `to_id` (retried until written or stopped).
    fn mark_done(&mut self, to_id: i64, stop: &crate::metrics::StopFlag) -> bool {
        loop {
            match self.db.triage_done(to_id) {
                Ok(()) => break,
                Err(e) => {
                    self.metrics.error("recording the triage position", &e);
                    if stop.wait(std::time::Duration::from_secs(1)) {
                        // Left pending: the counts tell the next start that it is done.
                        self.uncertain = true;
                        return false;
                    }
                }
            }
        }
        self.position = TriagePosition {
            done_id: to_id,
            pending: None,
        };
        self.uncertain = false;
        self.publish_pending();
        true
    }
}

/// Detections given to triage in one `Triage::process` call at most.
const MAX_RANGE: i64 = 5_000;

/// The triage thread: gives every stored detection to triage exactly once, in ranges, on
/// its own thread so that detection never waits for triage. Runs until `stop`, then hands
/// over what is stored by then (the detection worker has stopped before).
pub(crate) fn run(triage: &Triage, db: &DetectionStore, metrics: &WorkerMetrics, stop: &StopFlag) {
    let mut feed = match TriageFeed::open(triage, db, metrics) {
        Ok(f) => f,
        Err(e) => {
            metrics.error("reading the triage position", &e);
            return;
        }
    };
    loop {
        // A range left pending (by an earlier run, or a failed call) is settled first.
        if !feed.catch_up(stop) {
            if stop.wait(std::time::Duration::from_secs(1)) {
                return;
            }
            continue;
        }
        match feed.next_range(MAX_RANGE) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => metrics.error("reading detections to triage", &e),
        }
        if stop.is_stopped() || stop.wait(std::time::Duration::from_millis(100)) {
            // Stopping: hand over what is stored, then end (on an error, the next start
            // takes it from the recorded position).
            if !matches!(feed.next_range(MAX_RANGE), Ok(true)) {
                return;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::record::GroupValue;
    use rampart_model::{EventId, Timestamp};

    fn data(kind: DetectionKind, level: &str) -> DetectionData {
        DetectionData {
            kind,
            rule_id: "r1".into(),
            rule_title: "R one".into(),
            level: level.into(),
            tags: vec!["attack.t1110".into()],
            event_id: Some(EventId::new()),
            event_time: Timestamp::from_secs(100),
            tenant: "acme".into(),
            host: Some("WEB1".into()),
            user: None,
            source_ip: Some("::ffff:192.0.2.7".into()),
            destination_ip: None,
            process_name: None,
            command_line: None,
            file_hash: None,
            fields: serde_json::Map::new(),
            group: vec![GroupValue {
                field: "source.ip".into(),
                value: "192.0.2.7".into(),
            }],
            window_start: Some(Timestamp::from_secs(40)),
            window_end: Some(Timestamp::from_secs(100)),
            value: Some(10.0),
            score: None,
            event_ids: vec![EventId::new()],
        }
    }

    #[test]
    fn signals_carry_kind_level_entities_and_events() {
        let cases = [
            (
                DetectionKind::Rule,
                "high",
                SignalSource::Detection,
                Level::High,
            ),
            (
                DetectionKind::Correlation,
                "critical",
                SignalSource::Correlation,
                Level::Critical,
            ),
            (
                DetectionKind::Baseline,
                "unknown",
                SignalSource::Baseline,
                Level::Informational,
            ),
        ];
        for (kind, level, source, expected) in cases {
            let d = data(kind, level);
            let s = signal_of(&d);
            assert_eq!((s.source, s.level), (source, expected), "{kind:?}");
            assert_eq!(s.tenant, "acme");
            assert_eq!(s.entities.host.as_deref(), Some("web1"));
            assert_eq!(s.entities.source_ip.as_deref(), Some("192.0.2.7"));
            assert_eq!(s.event_ids.len(), 2);
            assert_eq!(s.time, Timestamp::from_secs(100));
        }
        let s = signal_of(&data(DetectionKind::Correlation, "high"));
        assert!(
            s.summary.contains("10 over 60s for source.ip=192.0.2.7"),
            "{}",
            s.summary
        );
    }

    #[test]
    fn a_pending_range_is_triaged_once_whether_or_not_the_crash_came_after_triage() {
        use crate::db::{BatchWrite, TriageWrite};
        use crate::metrics::StopFlag;
        use rampart_triage::{AlertQuery, TriageConfig};
        for triaged_before_crash in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let db = DetectionStore::open(&dir.path().join("d.db")).unwrap();
            let triage = Triage::open(&dir.path().join("t.db"), TriageConfig::default()).unwrap();
            let metrics = WorkerMetrics::default();
            let stop = StopFlag::default();
            let batch = vec![
                (1, data(DetectionKind::Correlation, "high")),
                (2, data(DetectionKind::Correlation, "high")),
            ];
            {
                let mut feed = TriageFeed::open(&triage, &db, &metrics).unwrap();
                db.write_batch(&BatchWrite {
                    detections: &batch,
                    consumer: "detection",
                    seq: Some(2),
                    state: &[],
                    triage: TriageWrite::Untouched,
                })
                .unwrap();
                // The triage thread marks the new range pending, then dies (before or
                // after triage committed it).
                assert!(feed.next_range(100).unwrap());
                if triaged_before_crash {
                    // Triage committed, then the process died before the mark was cleared.
                    let signals = batch.iter().map(|(_, d)| signal_of(d)).collect();
                    triage.process(signals).unwrap();
                }
            }
            let restarted = WorkerMetrics::default();
            let mut feed = TriageFeed::open(&triage, &db, &restarted).unwrap();
            assert!(feed.catch_up(&stop));
            let alerts = triage
                .list(&AlertQuery {
                    limit: 10,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(
                alerts.total, 1,
                "crash after triage: {triaged_before_crash}"
            );
            assert_eq!(alerts.alerts[0].count, 2, "each detection counted once");
            let t = &restarted.triage;
            assert_eq!(
                (
                    t.already_done.load(Ordering::Relaxed),
                    t.replayed.load(Ordering::Relaxed)
                ),
                if triaged_before_crash { (1, 0) } else { (0, 2) }
            );
            assert_eq!(db.triage_position().unwrap().pending, None);
        }
    }
}
