//! The reference semantics of a filter: whether one event (or one result row) matches.
//!
//! [`matches`] is the definition a store's query translation must agree with. [`Matcher`]
//! is the same logic with regular expressions, wildcards, numbers, networks and times
//! prepared once, for matching many events.

use crate::ast::{Bound, Expr, Literal, Predicate, TextMatch};
use crate::error::QueryError;
use crate::parser::number_text;
use crate::text::{Cidr, Glob, Piece, cmp_ci, contains_pieces, eq_ci, pieces};
use rampart_model::{Event, Timestamp, get_path};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

/// Whether `event` matches `expr`. An expression that cannot be prepared (an invalid
/// regular expression in a hand-built tree) matches nothing.
pub fn matches(expr: &Expr, event: &Event) -> bool {
    Matcher::new(expr).is_ok_and(|m| m.matches(event))
}

/// Something a filter can be evaluated over: an [`Event`] or a result row.
pub trait Document {
    /// The value at a field path.
    fn value(&self, field: &str) -> Option<Cow<'_, Value>>;

    /// The value at `field` as a time in nanoseconds, when it reads as one.
    fn time(&self, field: &str) -> Option<i64> {
        match self.value(field)?.as_ref() {
            Value::String(s) => Timestamp::parse_rfc3339(s).ok().map(|t| t.0),
            _ => None,
        }
    }

    /// Call `f` on each text that free-text terms search; true as soon as `f` is.
    fn any_text(&self, f: &mut dyn FnMut(&str) -> bool) -> bool;
}

impl Document for Event {
    fn value(&self, field: &str) -> Option<Cow<'_, Value>> {
        self.get(field)
    }

    fn time(&self, field: &str) -> Option<i64> {
        match field {
            "@timestamp" => Some(self.timestamp.0),
            "event.ingested" => Some(self.ingested.0),
            _ => match self.value(field)?.as_ref() {
                Value::String(s) => Timestamp::parse_rfc3339(s).ok().map(|t| t.0),
                _ => None,
            },
        }
    }

    /// The `message` field (when a parser set one) and the raw record.
    fn any_text(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        if let Some(Value::String(message)) = get_path(&self.fields, rampart_model::ecs::MESSAGE)
            && f(message)
        {
            return true;
        }
        f(&self.raw.as_text())
    }
}

/// A result row: dotted column names (or a nested document) to values.
impl Document for Map<String, Value> {
    fn value(&self, field: &str) -> Option<Cow<'_, Value>> {
        get_path(self, field).map(Cow::Borrowed)
    }

    /// `message` and `event.original` when the row has them, else every string in the row.
    fn any_text(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        let mut had_text_column = false;
        for column in [
            rampart_model::ecs::MESSAGE,
            rampart_model::ecs::EVENT_ORIGINAL,
        ] {
            if let Some(Value::String(s)) = get_path(self, column) {
                had_text_column = true;
                if f(s) {
                    return true;
                }
            }
        }
        if had_text_column {
            return false;
        }
        let mut found = false;
        rampart_model::fields::for_each_leaf(self, &mut |_, v| {
            if !found && let Value::String(s) = v {
                found = f(s);
            }
        });
        found
    }
}

/// A filter prepared for matching many documents.
#[derive(Debug, Clone)]
pub struct Matcher {
    node: Node,
}

impl Matcher {
    /// Prepare `expr`; relative times in string bounds resolve against the current time.
    pub fn new(expr: &Expr) -> Result<Matcher, QueryError> {
        Self::with_now(expr, Timestamp::now())
    }

    /// Prepare `expr` resolving relative times (`now-1h` in a string bound) against `now`.
    pub fn with_now(expr: &Expr, now: Timestamp) -> Result<Matcher, QueryError> {
        Ok(Matcher {
            node: Node::compile(expr, now)?,
        })
    }

    pub fn matches<D: Document + ?Sized>(&self, doc: &D) -> bool {
        self.node.eval(doc)
    }
}

/// Compile `pattern` as the query language does: the whole value must match, ignoring case.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    const SIZE_LIMIT: usize = 1 << 21;
    let reason = |e: regex::Error| {
        let text = e.to_string();
        text.lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .map_or_else(|| text.replace('\n', " "), str::to_owned)
    };
    // Compiling the bare pattern first rejects unbalanced groups, which the anchoring
    // wrapper below would otherwise absorb.
    regex::RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(reason)?;
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .case_insensitive(true)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(reason)
}

#[derive(Debug, Clone)]
enum Node {
    All,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Exists(String),
    Field {
        field: String,
        test: Test,
    },
    /// Free-text pieces that must match consecutive words; empty matches nothing.
    Text(Vec<Piece>),
}

impl Node {
    fn compile(expr: &Expr, now: Timestamp) -> Result<Node, QueryError> {
        let all = |items: &[Expr]| -> Result<Vec<Node>, QueryError> {
            items.iter().map(|e| Node::compile(e, now)).collect()
        };
        Ok(match expr {
            Expr::All => Node::All,
            Expr::And(items) => Node::And(all(items)?),
            Expr::Or(items) => Node::Or(all(items)?),
            Expr::Not(inner) => Node::Not(Box::new(Node::compile(inner, now)?)),
            Expr::Exists { field } => Node::Exists(field.clone()),
            Expr::Text(TextMatch::Term(t)) => Node::Text(pieces(t, true)),
            Expr::Text(TextMatch::Phrase(p)) => Node::Text(pieces(p, false)),
            Expr::Field { field, predicate } => Node::Field {
                field: field.clone(),
                test: Test::compile(field, predicate, now)?,
            },
        })
    }

    fn eval<D: Document + ?Sized>(&self, doc: &D) -> bool {
        match self {
            Node::All => true,
            Node::And(items) => items.iter().all(|n| n.eval(doc)),
            Node::Or(items) => items.iter().any(|n| n.eval(doc)),
            Node::Not(inner) => !inner.eval(doc),
            Node::Exists(field) => doc.value(field).is_some_and(|v| present(&v)),
            Node::Text(pieces) => {
                !pieces.is_empty() && doc.any_text(&mut |t| contains_pieces(t, pieces))
            }
            Node::Field { field, test } => {
                if let Test::Range(range) = test
                    && range.time_mode
                    && let Some(t) = doc.time(field)
                {
                    return range.check_time(t);
                }
                doc.value(field)
                    .is_some_and(|v| any_scalar(&v, &|s| test.matches(s)))
            }
        }
    }
}

/// Not null, and for an array, holding something that is not null.
fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => items.iter().any(present),
        _ => true,
    }
}

/// Apply `f` to the value or, for an array, to any of its elements (nested arrays too).
fn any_scalar(value: &Value, f: &dyn Fn(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|v| any_scalar(v, f)),
        other => f(other),
    }
}

/// The text of a string, number or boolean.
pub(crate) fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// A number as JSON holds it: exact integers where possible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    I(i64),
    F(f64),
}

impl Num {
    pub(crate) fn from_json(n: &Number) -> Option<Num> {
        n.as_i64().map(Num::I).or_else(|| n.as_f64().map(Num::F))
    }

    /// A JSON number, or a string that reads as one.
    pub(crate) fn from_value(v: &Value) -> Option<Num> {
        match v {
            Value::Number(n) => Num::from_json(n),
            Value::String(s) => Num::from_text(s.trim()),
            _ => None,
        }
    }

    pub(crate) fn from_text(s: &str) -> Option<Num> {
        s.parse::<i64>()
            .ok()
            .map(Num::I)
            .or_else(|| number_text(s).map(Num::F))
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }

    pub(crate) fn compare(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::I(a), Num::I(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

#[derive(Debug, Clone)]
enum Test {
    Equals(EqTest),
    Phrase { pieces: Vec<Piece>, text: String },
    Wildcard(Glob),
    Regex(regex::Regex),
    Range(RangeTest),
}

impl Test {
    fn compile(field: &str, predicate: &Predicate, now: Timestamp) -> Result<Test, QueryError> {
        Ok(match predicate {
            Predicate::Equals(lit) => Test::Equals(EqTest::new(lit)),
            Predicate::Phrase(p) => Test::Phrase {
                pieces: pieces(p, false),
                text: p.clone(),
            },
            Predicate::Wildcard(w) => Test::Wildcard(Glob::new(w)),
            Predicate::Regex(r) => {
                Test::Regex(compile_regex(r).map_err(|reason| QueryError::Regex {
                    pattern: r.clone(),
                    reason,
                })?)
            }
            Predicate::Range { lower, upper } => {
                Test::Range(RangeTest::new(field, lower, upper, now))
            }
        })
    }

    fn matches(&self, value: &Value) -> bool {
        match self {
            Test::Equals(eq) => eq.matches(value),
            Test::Range(range) => range.matches(value),
            Test::Phrase { pieces, text } => scalar_text(value).is_some_and(|s| {
                if pieces.is_empty() {
                    eq_ci(&s, text)
                } else {
                    contains_pieces(&s, pieces)
                }
            }),
            Test::Wildcard(glob) => scalar_text(value).is_some_and(|s| glob.matches(&s)),
            Test::Regex(re) => scalar_text(value).is_some_and(|s| re.is_match(&s)),
        }
    }
}

#[derive(Debug, Clone)]
struct EqTest {
    text: String,
    boolean: Option<bool>,
    num: Option<Num>,
    ip: Option<IpAddr>,
    cidr: Option<Cidr>,
    time: Option<i64>,
}

impl EqTest {
    fn new(lit: &Literal) -> EqTest {
        let text = lit.as_text();
        let (num, boolean, time) = match lit {
            Literal::Int(i) => (Some(Num::I(*i)), None, None),
            Literal::Float(f) => (Some(Num::F(*f)), None, None),
            Literal::Bool(b) => (None, Some(*b), None),
            Literal::Time(t) => (None, None, Some(*t)),
            Literal::Str(s) => (Num::from_text(s), None, looks_like_time(s)),
        };
        EqTest {
            ip: text.parse().ok(),
            cidr: Cidr::parse(&text),
            text,
            boolean,
            num,
            time,
        }
    }

    fn matches(&self, value: &Value) -> bool {
        match value {
            Value::Bool(b) => match self.boolean {
                Some(want) => *b == want,
                None => eq_ci(if *b { "true" } else { "false" }, &self.text),
            },
            Value::Number(n) => match (self.num, Num::from_json(n)) {
                (Some(want), Some(have)) => want.compare(have) == Some(Ordering::Equal),
                _ => false,
            },
            Value::String(s) => {
                if eq_ci(s, &self.text) {
                    return true;
                }
                if (self.cidr.is_some() || self.ip.is_some())
                    && let Ok(ip) = s.trim().parse::<IpAddr>()
                {
                    if let Some(cidr) = &self.cidr {
                        return cidr.contains(ip);
                    }
                    return self
                        .ip
                        .is_some_and(|want| want.to_canonical() == ip.to_canonical());
                }
                if let Some(want) = self.time {
                    return Timestamp::parse_rfc3339(s).is_ok_and(|t| t.0 == want);
                }
                false
            }
            _ => false,
        }
    }
}

/// The time a string literal names when it is written as a date or date-time.
fn looks_like_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let dated = b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-';
    if !dated {
        return None;
    }
    crate::time::parse_time(s, Timestamp(0)).ok().map(|t| t.0)
}

#[derive(Debug, Clone)]
struct BoundVal {
    inclusive: bool,
    num: Option<Num>,
    time: Option<i64>,
    text: String,
}

impl BoundVal {
    fn new(bound: &Bound, now: Timestamp) -> Option<BoundVal> {
        let (lit, inclusive) = match bound {
            Bound::Unbounded => return None,
            Bound::Inclusive(l) => (l, true),
            Bound::Exclusive(l) => (l, false),
        };
        let (num, time) = match lit {
            Literal::Int(i) => (Some(Num::I(*i)), None),
            Literal::Float(f) => (Some(Num::F(*f)), None),
            Literal::Time(t) => (None, Some(*t)),
            Literal::Bool(_) => (None, None),
            Literal::Str(s) => (
                Num::from_text(s),
                crate::time::parse_time(s, now).ok().map(|t| t.0),
            ),
        };
        Some(BoundVal {
            inclusive,
            num,
            time,
            text: lit.as_text(),
        })
    }

    /// Whether `ord` (value compared with this bound) is acceptable for a lower bound.
    fn admits_lower(&self, ord: Ordering) -> bool {
        ord == Ordering::Greater || (self.inclusive && ord == Ordering::Equal)
    }

    fn admits_upper(&self, ord: Ordering) -> bool {
        ord == Ordering::Less || (self.inclusive && ord == Ordering::Equal)
    }
}

#[derive(Debug, Clone)]
struct RangeTest {
    lower: Option<BoundVal>,
    upper: Option<BoundVal>,
    /// Compare as times: the field is `@timestamp`/`event.ingested` or a bound is a time
    /// literal, and every bound reads as a time.
    time_mode: bool,
    /// Compare as numbers when the value is one: every bound reads as a number.
    numeric: bool,
}

impl RangeTest {
    fn new(field: &str, lower: &Bound, upper: &Bound, now: Timestamp) -> RangeTest {
        let is_time_lit = |b: &Bound| {
            matches!(
                b,
                Bound::Inclusive(Literal::Time(_)) | Bound::Exclusive(Literal::Time(_))
            )
        };
        let time_field = matches!(field, "@timestamp" | "event.ingested")
            || is_time_lit(lower)
            || is_time_lit(upper);
        let lower = BoundVal::new(lower, now);
        let upper = BoundVal::new(upper, now);
        let bounds = || lower.iter().chain(upper.iter());
        let time_mode = time_field && bounds().all(|b| b.time.is_some());
        let numeric = bounds().all(|b| b.num.is_some());
        RangeTest {
            time_mode,
            numeric,
            lower,
            upper,
        }
    }

    fn check(&self, cmp: impl Fn(&BoundVal) -> Option<Ordering>) -> bool {
        let lower_ok = self
            .lower
            .as_ref()
            .is_none_or(|b| cmp(b).is_some_and(|o| b.admits_lower(o)));
        let upper_ok = self
            .upper
            .as_ref()
            .is_none_or(|b| cmp(b).is_some_and(|o| b.admits_upper(o)));
        lower_ok && upper_ok
    }

    fn check_time(&self, t: i64) -> bool {
        self.check(|b| b.time.map(|bt| t.cmp(&bt)))
    }

    fn matches(&self, value: &Value) -> bool {
        if self.time_mode
            && let Value::String(s) = value
            && let Ok(t) = Timestamp::parse_rfc3339(s)
        {
            return self.check_time(t.0);
        }
        if self.numeric
            && let Some(n) = Num::from_value(value)
        {
            return self.check(|b| b.num.and_then(|bn| n.compare(bn)));
        }
        let Some(text) = scalar_text(value) else {
            return false;
        };
        self.check(|b| Some(cmp_ci(&text, &b.text)))
    }
}

#[cfg(test)]
mod tests;
