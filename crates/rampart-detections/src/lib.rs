//! Rampart's live detection and its records: detections kept in SQLite.
//!
//! This crate owns live detection — the worker that reads the event store's durable
//! stream (`EventStore::consumer("detection")`), evaluates every accepted event against the
//! enabled Sigma rules and stores each match as a [`Detection`] linked to its event and
//! rule — plus the rule book (rules loaded from directories, reloaded without restart,
//! enabled or disabled one by one) and the `<data_dir>/detections.db` SQLite file holding
//! detections, rule state and the stream position. Detection runs off the ingest path:
//! ingest never waits for it; when it falls behind, the lag is reported.
//!
//! It knows the store only through `rampart_store::EventStore`/`EventConsumer` and the
//! Sigma language only through `rampart-detect`; it knows nothing of HTTP, tokens, sockets
//! or parsing.

mod db;
mod error;
mod record;
mod rules;
mod service;
mod worker;

pub use db::DetectionStore;
pub use error::DetectionsError;
pub use record::{
    Cursor, Detection, DetectionCounts, DetectionData, DetectionPage, DetectionQuery, LEVELS,
    LevelCount, RuleCount, RuleState, level_rank, parse_min_level, rule_key,
};
pub use rules::{ActiveRules, ReloadReport, RuleBook, RuleDiagnostic, RuleInfo, RulesStatus};
pub use service::{DetectionConfig, DetectionService, DetectionStatus};
pub use worker::{CONSUMER, StopFlag, WorkerMetrics, WorkerOptions, WorkerStatus};

#[cfg(test)]
pub(crate) mod test_rules {
    //! Rules shared by the unit tests.

    /// A high-level process-creation rule matching `whoami` in the command line.
    pub const WHOAMI: &str = "title: Whoami\nid: 11111111-1111-4111-8111-111111111111\n\
        level: high\ntags: [attack.discovery, attack.t1033]\n\
        logsource: {category: process_creation, product: windows}\n\
        detection: {sel: {CommandLine|contains: whoami}, condition: sel}\n";
}
