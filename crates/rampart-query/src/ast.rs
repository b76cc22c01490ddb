//! The search language's syntax tree. Parsers produce it; stores and the in-memory
//! evaluator consume it.

use serde::{Deserialize, Serialize};

/// A whole search: a filter expression, then zero or more pipe stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Search {
    pub filter: Expr,
    pub stages: Vec<Stage>,
}

/// A boolean filter over events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// Matches every event (`*` or an empty query).
    All,
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `field:value`, `field:"a phrase"`, `field:abc*`, `field:[1 TO 5]`, `field > 3`.
    Field {
        field: String,
        predicate: Predicate,
    },
    /// `field:*` — the field is present.
    Exists {
        field: String,
    },
    /// Unqualified terms and phrases, matched against the message / raw text.
    Text(TextMatch),
}

/// What a field must satisfy. Comparisons on strings are case-insensitive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Predicate {
    /// The whole value equals this (case-insensitive for strings; numbers compare as numbers;
    /// an IP field also matches a CIDR such as `10.0.0.0/8`).
    Equals(Literal),
    /// A quoted phrase: the value contains these words in order.
    Phrase(String),
    /// `*` and `?` wildcards over the whole value (case-insensitive). `\*` is a literal star.
    Wildcard(String),
    /// A regular expression over the whole value: `field:/regex/`.
    Regex(String),
    /// `[a TO b]`, `{a TO b}`, `>=a`, `<b`, …
    Range { lower: Bound, upper: Bound },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Unbounded,
    Inclusive(Literal),
    Exclusive(Literal),
}

/// A value written in a query. The parser keeps the text and what it also reads as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// An absolute time, nanoseconds since the epoch (from `2024-01-01T00:00:00Z`,
    /// or relative forms such as `now-1h` in ranges).
    Time(i64),
}

impl Literal {
    /// The text form used for string comparison.
    pub fn as_text(&self) -> String {
        match self {
            Literal::Str(s) => s.clone(),
            Literal::Int(i) => i.to_string(),
            Literal::Float(f) => f.to_string(),
            Literal::Bool(b) => b.to_string(),
            Literal::Time(t) => rampart_model::Timestamp(*t).to_rfc3339(),
        }
    }
}

/// Free-text search over the message and raw record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextMatch {
    /// One word; may hold `*`/`?` wildcards.
    Term(String),
    /// Words in order.
    Phrase(String),
}

/// A pipe stage after the filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// `stats count(), dc(user.name) as users by source.ip, host.name`
    Stats {
        aggs: Vec<Aggregation>,
        by: Vec<String>,
    },
    /// `top 10 user.name` — most frequent values with counts and percentages.
    Top { limit: usize, fields: Vec<String> },
    /// `rare 10 process.name` — least frequent values.
    Rare { limit: usize, fields: Vec<String> },
    /// `timechart span=1h count() by host.name`
    Timechart {
        span_nanos: i64,
        aggs: Vec<Aggregation>,
        by: Option<String>,
    },
    /// `sort -count, host.name` (a leading `-` sorts descending).
    Sort { keys: Vec<SortKey> },
    /// `head 20`
    Head { limit: usize },
    /// `tail 20`
    Tail { limit: usize },
    /// `fields host.name, user.name` — keep only these columns.
    Fields { fields: Vec<String> },
    /// `where count > 10` — filter rows (after an aggregation, on its columns).
    Where { filter: Expr },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregation {
    pub function: AggFunction,
    /// The column name: `as name`, or the default such as `count` or `dc(user.name)`.
    pub alias: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggFunction {
    Count,
    DistinctCount(String),
    Sum(String),
    Avg(String),
    Min(String),
    Max(String),
}
