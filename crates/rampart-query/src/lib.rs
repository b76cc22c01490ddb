//! Rampart's search language: what analysts type, as a syntax tree.
//!
//! Lucene/KQL-style filters (`host.name:web01 AND NOT user.name:svc_*`, ranges, wildcards,
//! phrases, free text) followed by pipes (`| stats count() by source.ip`, `| top 10 user.name`,
//! `| timechart span=1h count()`, `| sort`, `| head`, `| fields`). This crate parses the text
//! into [`ast::Search`], reports errors with the offending position, and evaluates a search over
//! in-memory events (used for live matching and as the reference a store must agree with).
//! It knows nothing of storage engines, sockets or files; the language is described for
//! users in the crate's `README.md`.
//!
//! ```
//! use rampart_query::{exec, parse};
//!
//! let search = parse("event.outcome:failure | stats count() by source.ip").unwrap();
//! assert_eq!(search.stages.len(), 1);
//!
//! let err = parse("host.name: | head").unwrap_err();
//! assert_eq!(err.to_string(), "position 11: expected a value after ':'");
//! assert_eq!(
//!     err.render("host.name: | head"),
//!     "host.name: | head\n           ^ position 11: expected a value after ':'"
//! );
//! let table = exec::apply_stages(&search.stages, Vec::new()).unwrap();
//! assert_eq!(table.columns, ["source.ip", "count"]);
//! ```

pub mod ast;
mod error;
pub mod eval;
pub mod exec;
mod parser;
pub mod text;
mod time;

pub use ast::*;
pub use error::{ParseError, QueryError};
pub use parser::{COMMANDS, default_alias};
pub use time::{format_duration, parse_duration, parse_time};

use rampart_model::Timestamp;

/// Parse a search. Relative times in ranges (`@timestamp >= now-1h`) resolve against the
/// current time.
pub fn parse(text: &str) -> Result<Search, ParseError> {
    parse_at(text, Timestamp::now())
}

/// Parse a search, resolving relative times against `now`.
pub fn parse_at(text: &str, now: Timestamp) -> Result<Search, ParseError> {
    // Control characters have no place in a query and two of them (NUL, U+0001) are the
    // index's own field-path separators: refused where they are, before anything else.
    if let Some((position, c)) = text
        .char_indices()
        .find(|&(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ParseError::new(
            position,
            format!(
                "control character U+{:04X} is not allowed in a query",
                u32::from(c)
            ),
        ));
    }
    parser::parse_search(text, now)
}
