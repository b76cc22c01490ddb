//! Rampart's search language: what analysts type, as a syntax tree.
//!
//! Lucene/KQL-style filters (`host.name:web01 AND NOT user.name:svc_*`, ranges, wildcards,
//! phrases, free text) followed by pipes (`| stats count() by source.ip`, `| top 10 user.name`,
//! `| timechart span=1h count()`, `| sort`, `| head`, `| fields`). This crate parses the text
//! into [`ast::Search`], reports errors with the offending position, and evaluates a search over
//! in-memory events (used for live matching and as the reference a store must agree with).
//! It knows nothing of storage engines.

pub mod ast;

pub use ast::*;
