//! Rampart's alert triage: turning detections, correlation firings, baseline anomalies and
//! threat-intel hits ([`Signal`]s) into [`Alert`]s, the unit of analyst work, and keeping
//! their number down without hiding anything.
//!
//! This crate owns the alert lifecycle and the fatigue controls, all on by default and
//! applied in this order by [`Triage::process`]: suppressions (muted signals are counted),
//! deduplication (a repeat of a rule on the same entities folds into the open alert),
//! alert creation with a 0–100 priority, grouping of related alerts into incident
//! candidates, risk-based alerting (an entity whose accumulated risk crosses a threshold
//! raises one risk alert), and per-rule noise statistics. It keeps everything in one
//! SQLite file (WAL, `user_version` migrations) and offers the analyst operations: list,
//! show, acknowledge, assign, change status, close with a disposition, with a history of
//! who did what.
//!
//! It knows events only through `rampart-model` (to read entities from them) and nothing
//! of Sigma, the event store, HTTP, tokens or roles: callers build signals, and the server
//! decides who may call what.

mod alert;
mod config;
mod db;
mod error;
mod group;
mod process;
mod regroup;
mod retention;
mod risk;
mod settings;
mod signal;
mod stats;
mod suppress;
mod workflow;

pub use alert::{
    Alert, AlertDetail, AlertPage, AlertQuery, AlertSort, AlertStatus, Disposition, HistoryEntry,
};
pub use config::{
    CriticalEntity, DedupConfig, GroupingConfig, LevelRisk, RiskConfig, SuppressionConfig,
    TriageConfig, priority,
};
pub use error::TriageError;
pub use group::{Group, GroupDetail, GroupEntity, GroupPage, GroupQuery, MergedGroup};
pub use process::ProcessReport;
pub use regroup::Regrouped;
pub use retention::PurgeReport;
pub use risk::{RISK_RULE_ID, RiskContribution, RiskQuery, RiskScore};
pub use settings::{SettingsChange, SettingsState};
pub use signal::{
    DEFAULT_MAX_EVENT_IDS, Entities, EntityKind, Level, Signal, SignalSource, TACTICS, tactics,
};
pub use stats::RuleNoise;
pub use suppress::{
    Condition, Expiry, KEPT_SIGNALS, SuppressedSignal, Suppression, SuppressionSpec,
    SuppressionState, Test,
};

use parking_lot::{Mutex, RwLock};
use rampart_model::Timestamp;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Clock = Box<dyn Fn() -> Timestamp + Send + Sync>;

/// The triage database and its settings. One connection behind a mutex: every call is
/// short, and [`Triage::process`] writes a whole batch in one transaction. Share it with
/// an `Arc`; call it from blocking threads (it does file I/O).
pub struct Triage {
    conn: Mutex<Connection>,
    /// The settings in force: the configuration file's, or the last ones set through
    /// [`Triage::update_settings`] (kept in the database); swapped whole, read once per call.
    config: RwLock<Arc<TriageConfig>>,
    /// The configuration file's `[triage]` section, to go back to.
    file_config: TriageConfig,
    clock: Clock,
    path: PathBuf,
}

impl std::fmt::Debug for Triage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triage")
            .field("path", &self.path)
            .field("config", &self.settings())
            .finish_non_exhaustive()
    }
}

impl Triage {
    /// Open (or create) the triage database at `path` (conventionally
    /// `<data_dir>/triage.db`) with `config` (the configuration file's `[triage]`), after
    /// checking the settings. Settings changed through [`Triage::update_settings`] and
    /// kept in the database take precedence over `config` until they are reset.
    pub fn open(path: &Path, config: TriageConfig) -> Result<Triage, TriageError> {
        config.validate()?;
        let conn = db::open(path)?;
        let active = settings::stored(&conn)?.unwrap_or_else(|| config.clone());
        Ok(Triage {
            conn: Mutex::new(conn),
            config: RwLock::new(Arc::new(active)),
            file_config: config,
            clock: Box::new(Timestamp::now),
            path: path.to_owned(),
        })
    }

    /// Use `clock` for "now" (suppression expiry, history times) instead of the system
    /// clock: for tests and deterministic replays.
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The fatigue controls' settings in force.
    pub fn settings(&self) -> Arc<TriageConfig> {
        self.config.read().clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn now(&self) -> Timestamp {
        (self.clock)()
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Helpers shared by the unit tests: a database in a temporary directory and signals.

    use super::*;

    /// A fixed base time (2023-11-14T22:13:20Z) plus `secs`.
    pub fn at(secs: i64) -> Timestamp {
        Timestamp::from_secs(1_700_000_000 + secs)
    }

    /// The group alert `alert` is in now.
    pub fn group_of(triage: &Triage, alert: i64) -> i64 {
        triage
            .get(alert, None)
            .expect("get")
            .expect("alert")
            .alert
            .group_id
            .expect("grouped")
    }

    /// A deterministic event id for `n`.
    pub fn event_id(n: i64) -> rampart_model::EventId {
        format!("00000000-0000-7000-8000-{:012x}", n.unsigned_abs())
            .parse()
            .expect("a well-formed uuid")
    }

    /// A fresh database (its directory lives as long as the returned guard), clock at `at(0)`.
    pub fn open(config: TriageConfig) -> (tempfile::TempDir, Triage) {
        let dir = tempfile::tempdir().expect("tempdir");
        let triage = Triage::open(&dir.path().join("triage.db"), config)
            .expect("open")
            .with_clock(|| at(0));
        (dir, triage)
    }

    /// A detection of rule `rule` ("`rule` title") on `host` and `user`.
    pub fn detection(rule: &str, level: Level, time: Timestamp, host: &str, user: &str) -> Signal {
        Signal::new(
            SignalSource::Detection,
            rule,
            format!("{rule} title"),
            level,
            time,
        )
        .with_entities(Entities {
            host: Some(host.into()),
            user: Some(user.into()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testutil::{at, detection};

    #[test]
    fn state_continues_after_reopening_the_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("triage.db");
        let first = Triage::open(&path, TriageConfig::default())
            .expect("open")
            .with_clock(|| at(0));
        let report = first
            .process(vec![
                detection("r1", Level::High, at(0), "ws01", "bob"),
                detection("r2", Level::Critical, at(10), "ws01", "eve"),
            ])
            .expect("process");
        let id = report.created[0];
        first.ack(id, None, "ann", None).expect("ack");
        first
            .add_suppression(SuppressionSpec {
                tenant: None,
                rule_id: Some("r9".into()),
                conditions: Vec::new(),
                author: "ann".into(),
                reason: "test".into(),
                expires: Expiry::Never,
            })
            .expect("suppress");
        drop(first);

        let second = Triage::open(&path, TriageConfig::default())
            .expect("reopen")
            .with_clock(|| at(0));
        // A repeat folds into the alert made before the restart; its group and risk carry on.
        let report = second
            .process(vec![
                detection("r1", Level::High, at(60), "ws01", "bob"),
                detection("r9", Level::High, at(60), "ws01", "bob"),
                detection("r3", Level::Medium, at(70), "ws01", "zed"),
            ])
            .expect("process");
        assert_eq!(
            (report.deduplicated, report.suppressed, report.grouped),
            (1, 1, 1)
        );
        let detail = second.get(id, None).expect("get").expect("kept");
        assert_eq!(detail.alert.status, AlertStatus::Acknowledged);
        assert_eq!(detail.alert.count, 2);
        assert_eq!(detail.history.len(), 2);
        // 40 + 70 before the restart, + 15 after: over the threshold of 100.
        assert_eq!(report.risk_alerts.len(), 0, "crossed before the restart");
        let host = second
            .risk_scores(&RiskQuery {
                kind: Some(EntityKind::Host),
                ..Default::default()
            })
            .expect("risk");
        assert_eq!(host[0].score, 125);
        let risk_alerts = second
            .list(&AlertQuery {
                source: Some(SignalSource::Risk),
                limit: 10,
                ..Default::default()
            })
            .expect("list");
        assert_eq!((risk_alerts.total, risk_alerts.alerts[0].count), (1, 2));
    }
}
