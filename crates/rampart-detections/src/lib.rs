//! Rampart's live detection and its records: detections kept in SQLite, handed to triage.
//!
//! This crate owns live detection — the worker that reads the event store's durable
//! stream (`EventStore::consumer("detection")`), evaluates every accepted event against the
//! enabled Sigma rules, feeds the matches to the correlation engine and the event to the
//! behavioural baselines, and stores each match, firing and anomaly as a [`Detection`]
//! (kind `rule`, `correlation` or `baseline`) linked to its event(s) and rule — plus the
//! rule book (rules and baselines loaded from directories, reloaded without restart,
//! enabled or disabled one by one) and the `<data_dir>/detections.db` SQLite file holding
//! detections, rule state, the stream position, the correlation and baseline state
//! (written with every batch, so a restart continues exactly) and triage's position.
//! Each batch's detections are then given to `rampart_triage::Triage` as signals, exactly
//! once across crashes (see the `feed` module). Detection runs off the ingest path:
//! ingest never waits for it; when it falls behind, the lag is reported.
//!
//! It knows the store only through `rampart_store::EventStore`/`EventConsumer`, the Sigma
//! language only through `rampart-detect` and alerts only through `rampart_triage::Triage`;
//! it knows nothing of HTTP, tokens, sockets or parsing.

mod db;
mod derived;
mod error;
mod feed;
mod metrics;
mod record;
mod rules;
mod schema;
mod service;
mod state;
mod worker;

pub use db::DetectionStore;
pub use error::DetectionsError;
pub use feed::signal_of;
pub use record::{
    Cursor, Detection, DetectionCounts, DetectionData, DetectionKind, DetectionPage,
    DetectionQuery, GroupValue, LEVELS, LevelCount, RuleCount, RuleState, level_rank,
    parse_min_level, rule_key,
};
pub use rules::{
    ActiveRules, FreshEngines, ReloadReport, RuleBook, RuleDiagnostic, RuleInfo, RulesStatus,
};
pub use service::{DetectionConfig, DetectionService, DetectionStatus};
pub use worker::{
    CONSUMER, StopFlag, TriageStatus, Worker, WorkerMetrics, WorkerOptions, WorkerStatus,
};

#[cfg(test)]
pub(crate) mod test_rules {
    //! Rules shared by the unit tests.

    /// A high-level process-creation rule matching `whoami` in the command line.
    pub const WHOAMI: &str = "title: Whoami\nid: 11111111-1111-4111-8111-111111111111\n\
        level: high\ntags: [attack.discovery, attack.t1033]\n\
        logsource: {category: process_creation, product: windows}\n\
        detection: {sel: {CommandLine|contains: whoami}, condition: sel}\n";
}
