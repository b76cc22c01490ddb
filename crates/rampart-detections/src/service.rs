//! The running detection subsystem: configuration, start and stop of the worker and rule-watcher threads, and the calls the API makes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use rampart_detect::CorrelationOptions;
use rampart_detect::baseline::BaselineOptions;
use rampart_model::Timestamp;
use rampart_store::EventStore;
use rampart_triage::Triage;
use serde::{Deserialize, Serialize};

use crate::db::DetectionStore;
use crate::error::DetectionsError;
use crate::record::{Detection, DetectionCounts, DetectionPage, DetectionQuery, RuleState};
use crate::rules::{ReloadReport, RuleBook, RuleDiagnostic, RuleInfo, RulesStatus};
use crate::worker::{self, StopFlag, Worker, WorkerMetrics, WorkerOptions, WorkerStatus};

/// The `[detection]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// Run the enabled Sigma rules over every accepted event and store the matches.
    pub enabled: bool,
    /// Directories of Sigma rules (`*.yml`, searched recursively).
    pub rules_dirs: Vec<PathBuf>,
    /// Also run Rampart's built-in default rules (embedded in the binary).
    pub builtin_rules: bool,
    /// How often the rule directories are checked for added, changed or removed files.
    pub reload_interval_secs: u64,
    /// Most events per detection batch (one SQLite transaction each).
    pub batch_size: usize,
    /// Directories of behavioural baseline rules (`*.yml`, searched recursively).
    pub baselines_dirs: Vec<PathBuf>,
    /// Also run Rampart's built-in baselines (embedded in the binary).
    pub builtin_baselines: bool,
    /// After a correlation fires for a group, it does not fire again for that group for
    /// this many seconds of event time (0: every event that meets the condition fires).
    /// Triage folds the repeats of an ongoing attack into one alert either way.
    pub correlation_suppress_secs: u64,
    /// How often the clock closes baseline buckets while events are quiet.
    pub baseline_tick_secs: u64,
    /// The clock closes buckets that ended this many seconds ago (the expected delay
    /// between an event's time and its arrival); older events are late for baselines.
    pub baseline_delay_secs: u64,
    /// Detections are deleted this many days after they were made (0: kept for ever).
    /// Alerts made from them stay, with their counts and event links.
    pub retention_days: u64,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            enabled: true,
            rules_dirs: Vec::new(),
            builtin_rules: true,
            reload_interval_secs: 5,
            batch_size: WorkerOptions::default().batch_size,
            baselines_dirs: Vec::new(),
            builtin_baselines: true,
            correlation_suppress_secs: 60,
            baseline_tick_secs: WorkerOptions::default().baseline_tick.as_secs(),
            baseline_delay_secs: WorkerOptions::default().baseline_delay.as_secs(),
            retention_days: 365,
        }
    }
}

/// The detection figures of the status document (and metrics).
#[derive(Debug, Clone, Serialize)]
pub struct DetectionStatus {
    pub rules_dirs: Vec<String>,
    pub builtin_rules: bool,
    pub baselines_dirs: Vec<String>,
    #[serde(flatten)]
    pub worker: WorkerStatus,
    #[serde(flatten)]
    pub rules: RulesStatus,
}

/// Live detection: the SQLite detection store, the rule book, the worker reading the
/// event stream and the thread watching the rule directories.
pub struct DetectionService {
    db: Arc<DetectionStore>,
    rules: Arc<RuleBook>,
    metrics: Arc<WorkerMetrics>,
    stop: Arc<StopFlag>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The triage thread, stopped after the others so that it hands over their last
    /// detections.
    feed: Mutex<Option<(Arc<StopFlag>, JoinHandle<()>)>>,
}

impl DetectionService {
    /// Open `<data_dir>/detections.db`, register the `detection` consumer on `store` and start
    /// the threads. The first rule load runs in the background; detection starts after it
    /// (events accepted meanwhile wait in the store's stream, counted as lag). With
    /// `triage`, every detection is also handed to it exactly once, by a thread of its own.
    pub fn start(
        store: &dyn EventStore,
        data_dir: &Path,
        config: &DetectionConfig,
        triage: Option<Arc<Triage>>,
    ) -> Result<Arc<DetectionService>, DetectionsError> {
        let db = Arc::new(DetectionStore::open(&data_dir.join("detections.db"))?);
        let correlation = CorrelationOptions {
            suppress_seconds: (config.correlation_suppress_secs > 0)
                .then_some(config.correlation_suppress_secs),
            ..CorrelationOptions::default()
        };
        let rules = Arc::new(
            RuleBook::new(config.rules_dirs.clone(), config.builtin_rules, db.clone())?
                .with_engines(
                    config.baselines_dirs.clone(),
                    config.builtin_baselines,
                    correlation,
                    BaselineOptions::default(),
                ),
        );
        let consumer = store.consumer(worker::CONSUMER)?;
        let metrics = Arc::new(WorkerMetrics::default());
        metrics
            .detections_total
            .store(db.total()?, Ordering::Relaxed);
        let stop = Arc::new(StopFlag::default());
        let mut threads = Vec::new();

        let interval = Duration::from_secs(config.reload_interval_secs.max(1));
        let (r, s) = (rules.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name("rule-watch".into())
                .spawn(move || {
                    if let Err(e) = r.reload(true) {
                        tracing::error!(error = %e, "loading detection rules");
                    }
                    r.watch(interval, &s);
                })
                .map_err(|source| DetectionsError::Thread {
                    what: "rule watcher",
                    source,
                })?,
        );
        // Closed-alert retention is a triage setting that can change while the server runs
        // (0 = keep for ever, checked at each pass): the loop runs whenever triage does.
        let alert_retention = triage.clone();
        if config.retention_days > 0 || alert_retention.is_some() {
            let (d, s, days) = (db.clone(), stop.clone(), config.retention_days);
            let spawned = std::thread::Builder::new()
                .name("detection-retention".into())
                .spawn(move || retention_loop(&d, alert_retention.as_deref(), &s, days));
            match spawned {
                Ok(h) => threads.push(h),
                Err(source) => {
                    stop.stop();
                    return Err(DetectionsError::Thread {
                        what: "detection retention",
                        source,
                    });
                }
            }
        }
        let options = WorkerOptions {
            batch_size: config.batch_size.max(1),
            baseline_tick: Duration::from_secs(config.baseline_tick_secs.max(1)),
            baseline_delay: Duration::from_secs(config.baseline_delay_secs),
            ..WorkerOptions::default()
        };
        let (d, r, m, s) = (db.clone(), rules.clone(), metrics.clone(), stop.clone());
        let triage_on = triage.is_some();
        let spawned = std::thread::Builder::new()
            .name("detection".into())
            .spawn(move || {
                Worker {
                    db: &d,
                    rules: &r,
                    metrics: &m,
                    stop: &s,
                    options,
                    triage_on,
                }
                .run(consumer)
            });
        match spawned {
            Ok(h) => threads.push(h),
            Err(source) => {
                stop.stop();
                return Err(DetectionsError::Thread {
                    what: "detection worker",
                    source,
                });
            }
        }
        let mut feed = None;
        if let Some(triage) = triage {
            let feed_stop = Arc::new(StopFlag::default());
            let (d, m, s) = (db.clone(), metrics.clone(), feed_stop.clone());
            let spawned = std::thread::Builder::new()
                .name("triage-feed".into())
                .spawn(move || crate::feed::run(&triage, &d, &m, &s));
            match spawned {
                Ok(h) => feed = Some((feed_stop, h)),
                Err(source) => {
                    stop.stop();
                    return Err(DetectionsError::Thread {
                        what: "triage feed",
                        source,
                    });
                }
            }
        }
        Ok(Arc::new(DetectionService {
            db,
            rules,
            metrics,
            stop,
            threads: Mutex::new(threads),
            feed: Mutex::new(feed),
        }))
    }

    /// Stop the threads after the batch in hand (written and committed), and wait for them.
    pub fn stop(&self) {
        self.stop.stop();
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            if t.join().is_err() {
                tracing::error!("a detection thread panicked");
            }
        }
        if let Some((feed_stop, t)) = self.feed.lock().take() {
            feed_stop.stop();
            if t.join().is_err() {
                tracing::error!("the triage feed thread panicked");
            }
        }
    }

    /// One page of detections.
    pub fn list(&self, query: &DetectionQuery) -> Result<DetectionPage, DetectionsError> {
        self.db.list(query)
    }

    /// One detection, when visible to `tenant` (`None`: every tenant).
    pub fn get(&self, id: i64, tenant: Option<&str>) -> Result<Option<Detection>, DetectionsError> {
        self.db.get(id, tenant)
    }

    /// Detections per rule and per level.
    pub fn counts(&self, query: &DetectionQuery) -> Result<DetectionCounts, DetectionsError> {
        self.db.counts(query)
    }

    /// The loaded rules with their state and how many detections each made (in `tenant`).
    pub fn rules(&self, tenant: Option<&str>) -> Result<Vec<RuleInfo>, DetectionsError> {
        let counts = self.db.counts(&DetectionQuery {
            tenant: tenant.map(str::to_owned),
            ..DetectionQuery::default()
        })?;
        let by_rule: HashMap<&str, u64> = counts
            .by_rule
            .iter()
            .map(|c| (c.rule_id.as_str(), c.count))
            .collect();
        let mut rules = self.rules.rules();
        for r in &mut rules {
            r.detections = by_rule.get(r.id.as_str()).copied().unwrap_or(0);
        }
        Ok(rules)
    }

    /// Rules of the last load that failed, with why.
    pub fn diagnostics(&self) -> Vec<RuleDiagnostic> {
        self.rules.diagnostics()
    }

    /// Enable or disable a rule by id; applies to the next batch.
    pub fn set_enabled(
        &self,
        rule_id: &str,
        enabled: bool,
        actor: &str,
        reason: Option<String>,
    ) -> Result<RuleState, DetectionsError> {
        self.rules.set_enabled(rule_id, enabled, actor, reason)
    }

    /// Reload the rule directories now (blocking: reads and compiles every rule).
    pub fn reload(&self) -> Result<ReloadReport, DetectionsError> {
        self.rules.reload(false)
    }

    pub fn status(&self) -> DetectionStatus {
        DetectionStatus {
            rules_dirs: self
                .rules
                .dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect(),
            builtin_rules: self.rules.builtin(),
            baselines_dirs: self
                .rules
                .baseline_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect(),
            worker: self.metrics.snapshot(),
            rules: self.rules.status(),
        }
    }
}

impl Drop for DetectionService {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Delete detections older than `days` (0: none) and, with `triage`, the closed alerts
/// past its retention, at start and then hourly, until `stop`.
fn retention_loop(db: &DetectionStore, triage: Option<&Triage>, stop: &StopFlag, days: u64) {
    const DAY: i64 = 86_400_000_000_000;
    loop {
        if days > 0 {
            let cutoff = Timestamp::now()
                .nanos()
                .saturating_sub(i64::try_from(days).unwrap_or(i64::MAX).saturating_mul(DAY));
            match db.prune(cutoff, 10_000) {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, days, "detection retention"),
                Err(e) => tracing::error!(error = %e, "detection retention failed"),
            }
        }
        if let Some(triage) = triage {
            match triage.apply_retention() {
                Ok(r) if r.alerts == 0 => {}
                Ok(r) => tracing::info!(
                    alerts = r.alerts,
                    groups = r.groups,
                    days = triage.settings().closed_alert_retention_days,
                    "closed alert retention"
                ),
                Err(e) => tracing::error!(error = %e, "closed alert retention failed"),
            }
        }
        if stop.wait(Duration::from_secs(3600)) {
            return;
        }
    }
}
