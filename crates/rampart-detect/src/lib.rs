//! Rampart's Sigma engine: loading Sigma rules (detection, correlation and filter rules),
//! mapping Sigma log sources and field names onto Rampart events, and evaluating many
//! rules at once with a compiled, prefiltered evaluator. It also ships Rampart's default
//! rules ([`RuleSet::builtin`]) and the harness that runs rules against the example events
//! kept beside them ([`testing`]).
//!
//! The crate owns the Sigma language and its evaluation. It sees events only through the
//! small [`Document`] trait (implemented for `serde_json` values and
//! [`rampart_model::Event`]) and knows nothing of files of events, parsing, storage,
//! ingestion or the network: raw log lines in rule tests are parsed by a [`LineParser`]
//! the caller supplies.
//!
//! ```
//! use rampart_detect::{Engine, LoadOptions, Mappings, Matches, RuleSet};
//! let yaml = "title: Whoami\nlogsource: {category: process_creation, product: windows}\n\
//!             detection: {sel: {CommandLine|contains: whoami}, condition: sel}\n";
//! let (rules, diags) = RuleSet::from_yaml_str(yaml, "inline", &LoadOptions::default());
//! assert!(diags.is_empty());
//! let engine = Engine::new(&rules, &Mappings::builtin());
//! let event = serde_json::json!({"Event": {
//!     "System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1},
//!     "EventData": {"CommandLine": "cmd /c WHOAMI /all"}}});
//! let mut m = Matches::new();
//! engine.evaluate(&event, &mut m);
//! assert_eq!(engine.rule(m.rules()[0]).map(|r| r.title.as_str()), Some("Whoami"));
//! ```

pub mod baseline;
mod builtin;
mod compile;
pub mod correlation;
pub mod document;
mod engine;
mod error;
mod load;
pub mod mapping;
mod resolve;
mod scan;
pub mod testing;
mod value;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod language_tests;

pub use correlation::{
    CorrelationEngine, CorrelationFiring, CorrelationKind, CorrelationOptions, CorrelationStats,
};
pub use document::{Document, FieldKey, FieldPath, FieldRef};
pub use engine::{Engine, Matches, Routing};
pub use error::Error;
pub use load::{
    CorrelationMeta, Diagnostic, FilterMeta, LoadOptions, LogSource, Related, RuleMeta, RuleSet,
};
pub use mapping::{LogSourceClass, Mappings};
pub use testing::{LineParser, TestReport, TestSuite};
