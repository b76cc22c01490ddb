//! Translation of the search AST ([`rampart_query::Expr`]) into tantivy queries.
//!
//! Every translation is either *exact* (the tantivy query matches precisely the events the
//! reference evaluator `rampart_query::eval::matches` accepts) or a *candidate* query that
//! matches a superset, in which case the store checks each candidate with the evaluator.
//! Exactness matters for totals and for aggregations, which only run on exact queries.
//!
//! Where the index cannot decide alone — a wildcard that could also match a number, a
//! range over values that may be numbers written as strings — the translator probes the
//! current searcher: when the doubtful part matches no document, the query stays exact.

use crate::error::StoreError;
use crate::schema::Fields;
use rampart_model::Timestamp;
use rampart_query::text::{Cidr, Glob, pieces};
use rampart_query::parse_time;
use rampart_query::{Bound, Expr, Literal, Predicate, TextMatch};
use std::net::IpAddr;
use std::ops::Bound as RBound;
use std::sync::Arc;
use tantivy::collector::Count;
use tantivy::query::{
    AllQuery, AutomatonWeight, BooleanQuery, EmptyQuery, EnableScoring, ExistsQuery,
    InvertedIndexRangeQuery, Occur, PhraseQuery, Query, RangeQuery, RegexQuery, TermQuery,
    Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

/// A translated filter: the query, and whether it is exact.
pub(crate) struct Translated {
    pub query: Box<dyn Query>,
    pub exact: bool,
}

impl Translated {
    fn exact(query: Box<dyn Query>) -> Self {
        Translated { query, exact: true }
    }
    fn candidate(query: Box<dyn Query>) -> Self {
        Translated {
            query,
            exact: false,
        }
    }
    fn all() -> Self {
        Self::exact(Box::new(AllQuery))
    }
    fn none() -> Self {
        Self::exact(Box::new(EmptyQuery))
    }
}

/// Where a query field name lands in the index.
enum Target<'a> {
    Ts,
    Tenant,
    Original,
    /// A typed member that is not indexed on its own (`event.ingested`).
    Unindexed,
    Json(&'a str),
}

fn target(field: &str) -> Target<'_> {
    match field {
        "@timestamp" => Target::Ts,
        "tenant" => Target::Tenant,
        "event.original" => Target::Original,
        "event.ingested" => Target::Unindexed,
        other => Target::Json(other),
    }
}

pub(crate) struct Translator<'a> {
    pub fields: &'a Fields,
    pub searcher: &'a Searcher,
}

impl Translator<'_> {
    pub(crate) fn translate(&self, expr: &Expr) -> Result<Translated, StoreError> {
        match expr {
            Expr::All => Ok(Translated::all()),
            Expr::And(parts) => {
                let mut exact = true;
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(parts.len());
                for part in parts {
                    let t = self.translate(part)?;
                    exact &= t.exact;
                    clauses.push((Occur::Must, t.query));
                }
                if clauses.is_empty() {
                    return Ok(Translated::all());
                }
                Ok(Translated {
                    query: Box::new(BooleanQuery::new(clauses)),
                    exact,
                })
            }
            Expr::Or(parts) => {
                let mut exact = true;
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(parts.len());
                for part in parts {
                    let t = self.translate(part)?;
                    exact &= t.exact;
                    clauses.push((Occur::Should, t.query));
                }
                if clauses.is_empty() {
                    return Ok(Translated::none());
                }
                Ok(Translated {
                    query: Box::new(BooleanQuery::new(clauses)),
                    exact,
                })
            }
            Expr::Not(inner) => {
                let t = self.translate(inner)?;
                if !t.exact {
                    // The complement of a superset is a subset: only "everything" is safe.
                    return Ok(Translated::candidate(Box::new(AllQuery)));
                }
                Ok(Translated::exact(Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(AllQuery)),
                    (Occur::MustNot, t.query),
                ]))))
            }
            Expr::Exists { field } => Ok(match target(field) {
                Target::Ts | Target::Tenant | Target::Original | Target::Unindexed => {
                    Translated::all()
                }
                Target::Json(path) => Translated::exact(self.exists(path)),
            }),
            Expr::Text(m) => self.text(m),
            Expr::Field { field, predicate } => self.field(field, predicate),
        }
    }

    fn exists(&self, path: &str) -> Box<dyn Query> {
        Box::new(ExistsQuery::new(
            format!("{}.{}", crate::schema::F_FIELDS, path),
            true,
        ))
    }

    /// Free text over message and raw record: consecutive words matching the pieces.
    fn text(&self, m: &TextMatch) -> Result<Translated, StoreError> {
        let ps = match m {
            TextMatch::Term(t) => word_pieces(t, true),
            TextMatch::Phrase(p) => word_pieces(p, false),
        };
        Ok(match words_query(self.fields.text, &ps)? {
            Some(q) => Translated::exact(q),
            // No word at all: the evaluator matches nothing for an empty piece list.
            None => Translated::none(),
        })
    }

    fn field(&self, field: &str, predicate: &Predicate) -> Result<Translated, StoreError> {
        match target(field) {
            Target::Ts => Ok(self.ts(predicate)),
            Target::Tenant => Ok(self.tenant(predicate)),
            Target::Original => Ok(self.original(predicate)),
            Target::Unindexed => Ok(Translated::candidate(Box::new(AllQuery))),
            Target::Json(path) => self.json(path, predicate),
        }
    }

    fn ts(&self, predicate: &Predicate) -> Translated {
        let f = self.fields.ts;
        let now = Timestamp::now();
        // As the evaluator reads a time: a time literal, or text such as `now-1h`.
        let time = |lit: &Literal| -> Option<i64> {
            match lit {
                Literal::Time(t) => Some(*t),
                Literal::Str(s) => parse_time(s, now).ok().map(|t| t.nanos()),
                _ => None,
            }
        };
        let bound = |b: &Bound| -> Option<RBound<Term>> {
            Some(match b {
                Bound::Unbounded => RBound::Unbounded,
                Bound::Inclusive(l) => RBound::Included(Term::from_field_i64(f, time(l)?)),
                Bound::Exclusive(l) => RBound::Excluded(Term::from_field_i64(f, time(l)?)),
            })
        };
        match predicate {
            Predicate::Equals(lit) => {
                let t = match lit {
                    Literal::Time(t) => Some(*t),
                    Literal::Str(s) if looks_like_time(s) => {
                        parse_time(s, Timestamp(0)).ok().map(|t| t.nanos())
                    }
                    // Any other literal equals the RFC 3339 text only if it is that text,
                    // and such text looks like a time.
                    _ => None,
                };
                match t {
                    Some(t) => Translated::exact(Box::new(TermQuery::new(
                        Term::from_field_i64(f, t),
                        IndexRecordOption::Basic,
                    ))),
                    None => Translated::none(),
                }
            }
            Predicate::Range { lower, upper } => match (bound(lower), bound(upper)) {
                (Some(RBound::Unbounded), Some(RBound::Unbounded)) => Translated::all(),
                (Some(lo), Some(hi)) => Translated::exact(Box::new(RangeQuery::new(lo, hi))),
                _ => Translated::candidate(Box::new(AllQuery)),
            },
            _ => Translated::candidate(Box::new(AllQuery)),
        }
    }

    fn tenant(&self, predicate: &Predicate) -> Translated {
        let Predicate::Equals(lit) = predicate else {
            return Translated::candidate(Box::new(AllQuery));
        };
        let text = lit.as_text();
        let lower = text.to_lowercase();
        let term = |t: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(self.fields.tenant, t),
                IndexRecordOption::Basic,
            ))
        };
        let mut clauses = vec![(Occur::Should, term(&text))];
        if lower != text {
            clauses.push((Occur::Should, term(&lower)));
        }
        let sure: Box<dyn Query> = Box::new(BooleanQuery::new(clauses));
        // Tenants are stored as given: only a tenant holding capitals needs the evaluator.
        match RegexQuery::from_pattern("(?s).*\\p{Lu}.*", self.fields.tenant) {
            Ok(doubt) => self.with_doubt(sure, Box::new(doubt)),
            Err(_) => Translated::candidate(Box::new(AllQuery)),
        }
    }

    /// `event.original` is only in the free-text field: narrow by its words, then check.
    fn original(&self, predicate: &Predicate) -> Translated {
        let (text, wild) = match predicate {
            Predicate::Equals(lit) => (lit.as_text(), false),
            Predicate::Phrase(p) => (p.clone(), false),
            Predicate::Wildcard(w) => (w.clone(), true),
            _ => return Translated::candidate(Box::new(AllQuery)),
        };
        let mut words: Vec<String> = Vec::new();
        if wild {
            // A word touching a wildcard may be part of a longer word: only inner words narrow.
            for segment in text.split(['*', '?']) {
                let ws: Vec<&str> = rampart_query::text::words(segment).collect();
                let inner = ws.len().saturating_sub(2);
                words.extend(ws.iter().skip(1).take(inner).map(|w| w.to_lowercase()));
            }
        } else {
            words.extend(rampart_query::text::words(&text).map(str::to_lowercase));
        }
        if words.is_empty() {
            return Translated::candidate(Box::new(AllQuery));
        }
        let clauses = words
            .iter()
            .map(|w| {
                (
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_text(self.fields.text, w),
                        IndexRecordOption::Basic,
                    )) as Box<dyn Query>,
                )
            })
            .collect();
        Translated::candidate(Box::new(BooleanQuery::new(clauses)))
    }

    fn json(&self, path: &str, predicate: &Predicate) -> Result<Translated, StoreError> {
        let f = self.fields.f;
        match predicate {
            Predicate::Equals(lit) => Ok(self.json_equals(path, lit)),
            Predicate::Phrase(p) => {
                let ps = pieces(p, false);
                if ps.is_empty() {
                    // No word: the evaluator compares the whole value, ignoring case.
                    return Ok(self.with_doubt(
                        Box::new(TermQuery::new(
                            json_str_term(f, path, &p.to_lowercase()),
                            IndexRecordOption::Basic,
                        )),
                        nonstring_exists(f, path),
                    ));
                }
                // Words in order inside the value: a regex narrows, the evaluator decides
                // word boundaries. Numbers and booleans are matched as their text.
                let mut re = String::from(".*");
                for w in rampart_query::text::words(p) {
                    push_escaped(&mut re, &w.to_lowercase());
                    re.push_str(".*");
                }
                Ok(Translated::candidate(Box::new(BooleanQuery::new(vec![
                    (Occur::Should, self.json_regex_or_exists(path, &re)),
                    (Occur::Should, nonstring_exists(f, path)),
                ]))))
            }
            Predicate::Wildcard(pattern) => {
                let strings = json_regex(f, path, &wildcard_regex(pattern))?;
                let glob = Glob::new(pattern);
                if could_match_number(pattern) || glob.matches("true") || glob.matches("false") {
                    Ok(self.with_doubt(strings, nonstring_exists(f, path)))
                } else {
                    Ok(Translated::exact(strings))
                }
            }
            Predicate::Regex(re) => {
                // The evaluator's regex dialect is richer; what the automaton cannot take
                // falls back to every value at the path.
                Ok(Translated::candidate(Box::new(BooleanQuery::new(vec![
                    (
                        Occur::Should,
                        self.json_regex_or_exists(path, &format!("(?i:{re})")),
                    ),
                    (Occur::Should, nonstring_exists(f, path)),
                ]))))
            }
            Predicate::Range { lower, upper } => Ok(self.json_range(path, lower, upper)),
        }
    }

    fn json_regex_or_exists(&self, path: &str, re: &str) -> Box<dyn Query> {
        json_regex(self.fields.f, path, re).unwrap_or_else(|_| self.exists(path))
    }

    /// `sure` matches exactly what is known; `doubt` holds documents only the evaluator can
    /// judge. When `doubt` matches nothing in the current searcher, `sure` is exact.
    fn with_doubt(&self, sure: Box<dyn Query>, doubt: Box<dyn Query>) -> Translated {
        match self.searcher.search(doubt.as_ref(), &Count) {
            Ok(0) => Translated::exact(sure),
            _ => Translated::candidate(Box::new(BooleanQuery::new(vec![
                (Occur::Should, sure),
                (Occur::Should, doubt),
            ]))),
        }
    }

    fn json_equals(&self, path: &str, lit: &Literal) -> Translated {
        let f = self.fields.f;
        let mut sure: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut push = |t: Term| {
            sure.push((
                Occur::Should,
                Box::new(TermQuery::new(t, IndexRecordOption::Basic)),
            ))
        };
        let text = lit.as_text();
        // String values equal to the literal's text, ignoring case, always match.
        push(json_str_term(f, path, &text.to_lowercase()));
        let mut doubt: Vec<&str> = Vec::new();
        match lit {
            Literal::Str(s) => {
                if let Some(cidr) = Cidr::parse(s) {
                    return self.json_cidr(path, s, cidr);
                }
                if let Some(n) = parse_number(s) {
                    push(json_num_term(f, path, n));
                }
                if s.eq_ignore_ascii_case("true") {
                    push(json_bool_term(f, path, true));
                } else if s.eq_ignore_ascii_case("false") {
                    push(json_bool_term(f, path, false));
                }
                if s.parse::<IpAddr>().is_ok() {
                    doubt.push(IP_VARIANTS);
                }
                if looks_like_time(s) {
                    doubt.push(TIME_TEXT);
                }
            }
            Literal::Int(i) => push(json_num_term(f, path, Num::I(*i))),
            Literal::Float(x) => push(json_num_term(f, path, Num::F(*x))),
            Literal::Bool(b) => push(json_bool_term(f, path, *b)),
            Literal::Time(_) => doubt.push(TIME_TEXT),
        }
        let sure: Box<dyn Query> = Box::new(BooleanQuery::new(sure));
        if doubt.is_empty() {
            return Translated::exact(sure);
        }
        let doubt = self.json_regex_or_exists(path, &doubt.join("|"));
        self.with_doubt(sure, doubt)
    }

    /// An IPv4 network: an exact regex over the dotted form of its addresses; other
    /// spellings (padded, IPv4-mapped) and IPv6 networks go to the evaluator.
    fn json_cidr(&self, path: &str, text: &str, cidr: Cidr) -> Translated {
        let f = self.fields.f;
        // The literal itself may be a stored string ("10.0.0.0/8").
        let literal: Box<dyn Query> = Box::new(TermQuery::new(
            json_str_term(f, path, &text.to_lowercase()),
            IndexRecordOption::Basic,
        ));
        let IpAddr::V4(v4) = cidr.addr else {
            return Translated::candidate(Box::new(BooleanQuery::new(vec![
                (Occur::Should, literal),
                (Occur::Should, self.json_regex_or_exists(path, IP_VARIANTS)),
            ])));
        };
        let octets = v4.octets();
        let prefix = u32::from(cidr.prefix);
        let mut re = String::new();
        for (i, o) in octets.iter().enumerate() {
            if i > 0 {
                re.push_str("\\.");
            }
            let bits_before = 8 * i as u32;
            if prefix >= bits_before + 8 {
                re.push_str(&o.to_string());
            } else if prefix <= bits_before {
                re.push_str(OCTET);
            } else {
                // A partial octet: list the values it allows.
                let keep = prefix - bits_before;
                let mask = (0xffu32 << (8 - keep)) & 0xff;
                let base = u32::from(*o) & mask;
                let span = 1u32 << (8 - keep);
                re.push('(');
                for (k, v) in (base..base + span).enumerate() {
                    if k > 0 {
                        re.push('|');
                    }
                    re.push_str(&v.to_string());
                }
                re.push(')');
            }
        }
        let Ok(addresses) = json_regex(f, path, &re) else {
            return Translated::candidate(self.exists(path));
        };
        let sure: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (Occur::Should, addresses),
            (Occur::Should, literal),
        ]));
        self.with_doubt(sure, self.json_regex_or_exists(path, IP_VARIANTS))
    }

    fn json_range(&self, path: &str, lower: &Bound, upper: &Bound) -> Translated {
        let f = self.fields.f;
        let lit = |b: &Bound| -> Option<Literal> {
            match b {
                Bound::Unbounded => None,
                Bound::Inclusive(l) | Bound::Exclusive(l) => Some(l.clone()),
            }
        };
        let (lo, hi) = (lit(lower), lit(upper));
        let is_time = |l: &Option<Literal>| matches!(l, Some(Literal::Time(_)));
        if is_time(&lo) || is_time(&hi) {
            // Times compared with text values: the evaluator parses them.
            return Translated::candidate(self.exists(path));
        }
        let num = |l: &Literal| -> Option<Num> {
            match l {
                Literal::Int(i) => Some(Num::I(*i)),
                Literal::Float(x) => Some(Num::F(*x)),
                Literal::Str(s) => parse_number(s),
                _ => None,
            }
        };
        let numeric = [&lo, &hi].iter().all(|l| l.as_ref().is_none_or(|l| num(l).is_some()));
        let scalar_any = || -> Box<dyn Query> {
            Box::new(BooleanQuery::new(vec![
                (Occur::Should, self.json_regex_or_exists(path, ".*")),
                (Occur::Should, nonstring_exists(f, path)),
            ]))
        };
        if lo.is_none() && hi.is_none() {
            // Every scalar value is inside an unbounded range.
            return Translated::exact(scalar_any());
        }
        // Text order of the lower-cased values: exactly what the evaluator does for text.
        let text_bound = |b: &Bound| -> RBound<Term> {
            match b {
                Bound::Unbounded => RBound::Unbounded,
                Bound::Inclusive(l) => {
                    RBound::Included(json_str_term(f, path, &l.as_text().to_lowercase()))
                }
                Bound::Exclusive(l) => {
                    RBound::Excluded(json_str_term(f, path, &l.as_text().to_lowercase()))
                }
            }
        };
        let text_range = || -> Box<dyn Query> {
            let (lo, hi) = (text_bound(lower), text_bound(upper));
            // An open side must stay inside this path's strings.
            let lo = match lo {
                RBound::Unbounded => RBound::Included(json_str_term(f, path, "")),
                b => b,
            };
            let hi = match hi {
                RBound::Unbounded => match json_str_upper(f, path) {
                    Some(t) => RBound::Excluded(t),
                    None => RBound::Unbounded,
                },
                b => b,
            };
            Box::new(InvertedIndexRangeQuery::new(lo, hi))
        };
        if !numeric {
            // Text comparison for every value; numbers and booleans compare as their text.
            return self.with_doubt(text_range(), nonstring_exists(f, path));
        }
        let num_bound = |b: &Bound| -> RBound<Term> {
            match b {
                Bound::Unbounded => RBound::Unbounded,
                Bound::Inclusive(l) => match num(l) {
                    Some(n) => RBound::Included(json_num_range_term(f, path, n)),
                    None => RBound::Unbounded,
                },
                Bound::Exclusive(l) => match num(l) {
                    Some(n) => RBound::Excluded(json_num_range_term(f, path, n)),
                    None => RBound::Unbounded,
                },
            }
        };
        let numbers: Box<dyn Query> = Box::new(RangeQuery::new(num_bound(lower), num_bound(upper)));
        // Strings compare as numbers when they read as one, else as text; booleans as text.
        let doubt: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (Occur::Should, self.json_regex_or_exists(path, ".*")),
            (Occur::Should, bool_exists(f, path)),
        ]));
        self.with_doubt(numbers, doubt)
    }
}

/// One decimal octet of a dotted IPv4 address, as Rust's parser accepts it.
const OCTET: &str = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
/// String values that may name an address in another spelling than the plain literal:
/// padded with white space, or IPv6 (which also covers IPv4-mapped forms).
const IP_VARIANTS: &str = "[ \t\r\n\u{b}\u{c}].*|.*[ \t\r\n\u{b}\u{c}]|.*:.*";
/// String values that may read as a time (what `Timestamp::parse_rfc3339` might accept).
const TIME_TEXT: &str = "[ \t\r\n\u{b}\u{c}]*[0-9]{4}-.*";

/// Whether the evaluator reads a string literal as a time (`looks_like_time` there).
fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

#[derive(Debug, Clone, Copy)]
enum Num {
    I(i64),
    U(u64),
    F(f64),
}

/// A number as the evaluator reads literal text: an i64, or digits with `.eE+-` as f64.
fn parse_number(s: &str) -> Option<Num> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Num::I(i));
    }
    let numeric = s.bytes().any(|b| b.is_ascii_digit())
        && s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !numeric {
        return None;
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite()).map(Num::F)
}

/// tantivy stores a JSON number in its canonical type: i64 when it fits, else u64, else f64.
fn normalize(n: Num) -> Num {
    match n {
        Num::U(u) => match i64::try_from(u) {
            Ok(i) => Num::I(i),
            Err(_) => Num::U(u),
        },
        Num::F(x) => {
            if x.fract() == 0.0 && x >= i64::MIN as f64 && x < i64::MAX as f64 {
                Num::I(x as i64)
            } else if x.fract() == 0.0 && x >= 0.0 && x < u64::MAX as f64 {
                Num::U(x as u64)
            } else {
                Num::F(x)
            }
        }
        i => i,
    }
}

fn json_path_term(f: Field, path: &str) -> Term {
    Term::from_field_json_path(f, path, true)
}

fn json_str_term(f: Field, path: &str, value: &str) -> Term {
    let mut t = json_path_term(f, path);
    t.append_type_and_str(value);
    t
}

fn json_num_term(f: Field, path: &str, n: Num) -> Term {
    let mut t = json_path_term(f, path);
    match normalize(n) {
        Num::I(i) => t.append_type_and_fast_value(i),
        Num::U(u) => t.append_type_and_fast_value(u),
        Num::F(x) => t.append_type_and_fast_value(x),
    }
    t
}

/// Range bounds keep their own type; the fast-field range converts to the column's type.
fn json_num_range_term(f: Field, path: &str, n: Num) -> Term {
    let mut t = json_path_term(f, path);
    match n {
        Num::I(i) => t.append_type_and_fast_value(i),
        Num::U(u) => t.append_type_and_fast_value(u),
        Num::F(x) => t.append_type_and_fast_value(x),
    }
    t
}

fn json_bool_term(f: Field, path: &str, b: bool) -> Term {
    let mut t = json_path_term(f, path);
    t.append_type_and_fast_value(b);
    t
}

/// Documents holding a boolean at `path`.
fn bool_exists(f: Field, path: &str) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(vec![
        (
            Occur::Should,
            Box::new(TermQuery::new(
                json_bool_term(f, path, true),
                IndexRecordOption::Basic,
            )) as Box<dyn Query>,
        ),
        (
            Occur::Should,
            Box::new(TermQuery::new(
                json_bool_term(f, path, false),
                IndexRecordOption::Basic,
            )),
        ),
    ]))
}

/// The first term after every string term of `path` (exclusive upper bound).
fn json_str_upper(f: Field, path: &str) -> Option<Term> {
    // String terms are `path \0 s value`; the next type tag after `s` bounds them all.
    let mut t = json_path_term(f, path);
    t.append_bytes(&[b's' + 1]);
    Some(t)
}

/// Documents holding a number or a boolean at `path`.
fn nonstring_exists(f: Field, path: &str) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(vec![
        (
            Occur::Should,
            Box::new(RangeQuery::new(
                RBound::Included(json_num_range_term(f, path, Num::F(f64::MIN))),
                RBound::Included(json_num_range_term(f, path, Num::F(f64::MAX))),
            )) as Box<dyn Query>,
        ),
        (
            Occur::Should,
            Box::new(TermQuery::new(
                json_bool_term(f, path, true),
                IndexRecordOption::Basic,
            )),
        ),
        (
            Occur::Should,
            Box::new(TermQuery::new(
                json_bool_term(f, path, false),
                IndexRecordOption::Basic,
            )),
        ),
    ]))
}

/// Whether a wildcard pattern could match the text of a number.
fn could_match_number(pattern: &str) -> bool {
    pattern
        .chars()
        .filter(|c| !matches!(c, '*' | '?' | '\\'))
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
}

const REGEX_META: &str = "\\.+*?()|[]{}^$#&-~";

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        push_escaped_char(out, c);
    }
}

fn push_escaped_char(out: &mut String, c: char) {
    if REGEX_META.contains(c) {
        out.push('\\');
        out.push(c);
    } else if (c as u32) < 0x20 {
        out.push_str(&format!("\\x{:02x}", c as u32));
    } else {
        out.push(c);
    }
}

/// The regex of a `*`/`?` pattern over lower-cased values (escapes as in `Glob`).
pub(crate) fn wildcard_regex(pattern: &str) -> String {
    let mut re = String::with_capacity(pattern.len() * 2);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let lit = chars.next().unwrap_or('\\');
                for l in lit.to_lowercase() {
                    push_escaped_char(&mut re, l);
                }
            }
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => {
                for l in c.to_lowercase() {
                    push_escaped_char(&mut re, l);
                }
            }
        }
    }
    re
}

/// A free-text piece as the index sees it: a lower-cased word, or a regex for one word.
#[derive(Debug, Clone, PartialEq)]
enum WordPiece {
    Word(String),
    Regex(String),
}

/// Split free text into word pieces exactly as `rampart_query::text::pieces` does, keeping
/// wildcard pieces as regexes over one lower-cased word.
fn word_pieces(text: &str, allow_wildcards: bool) -> Vec<WordPiece> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut re = String::new();
    let mut wild = false;
    let flush = |word: &mut String, re: &mut String, wild: &mut bool, out: &mut Vec<WordPiece>| {
        if word.is_empty() {
            return;
        }
        out.push(if *wild {
            WordPiece::Regex(std::mem::take(re))
        } else {
            WordPiece::Word(word.to_lowercase())
        });
        word.clear();
        re.clear();
        *wild = false;
    };
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if allow_wildcards => match chars.next() {
                Some(e) if rampart_query::text::is_word_char(e) => {
                    word.push(e);
                    for l in e.to_lowercase() {
                        push_escaped_char(&mut re, l);
                    }
                }
                _ => flush(&mut word, &mut re, &mut wild, &mut out),
            },
            '*' | '?' if allow_wildcards => {
                word.push(c);
                re.push_str(if c == '*' { ".*" } else { "." });
                wild = true;
            }
            c if rampart_query::text::is_word_char(c) => {
                word.push(c);
                for l in c.to_lowercase() {
                    push_escaped_char(&mut re, l);
                }
            }
            _ => flush(&mut word, &mut re, &mut wild, &mut out),
        }
    }
    flush(&mut word, &mut re, &mut wild, &mut out);
    out
}

/// Query matching consecutive words of the text field against `pieces`.
fn words_query(field: Field, ps: &[WordPiece]) -> Result<Option<Box<dyn Query>>, StoreError> {
    Ok(Some(match ps {
        [] => return Ok(None),
        [WordPiece::Word(w)] => Box::new(TermQuery::new(
            Term::from_field_text(field, w),
            IndexRecordOption::Basic,
        )),
        [WordPiece::Regex(re)] => Box::new(
            RegexQuery::from_pattern(&format!("(?s){re}"), field)
                .map_err(|e| StoreError::UnsupportedQuery(e.to_string()))?,
        ),
        _ if ps.iter().all(|p| matches!(p, WordPiece::Word(_))) => {
            let terms = ps
                .iter()
                .filter_map(|p| match p {
                    WordPiece::Word(w) => Some(Term::from_field_text(field, w)),
                    WordPiece::Regex(_) => None,
                })
                .collect();
            Box::new(PhraseQuery::new(terms))
        }
        _ => {
            let regexes = ps
                .iter()
                .map(|p| match p {
                    WordPiece::Word(w) => {
                        let mut re = String::new();
                        push_escaped(&mut re, w);
                        re
                    }
                    WordPiece::Regex(re) => format!("(?s){re}"),
                })
                .collect();
            let mut q = tantivy::query::RegexPhraseQuery::new(field, regexes);
            q.set_max_expansions(1 << 16);
            Box::new(q)
        }
    }))
}

/// A regex over the string values at a JSON path (the regex must match the whole value).
fn json_regex(f: Field, path: &str, value_regex: &str) -> Result<Box<dyn Query>, StoreError> {
    let path_term = json_path_term(f, path);
    // The key of a JSON term in the term dictionary: path bytes, end-of-path, type, value.
    let path_bytes = path_term.serialized_value_bytes().to_vec();
    let mut re = String::from("(?s)");
    for &b in &path_bytes {
        push_escaped_char(&mut re, char::from(b));
    }
    re.push_str("s(?:");
    re.push_str(value_regex);
    re.push(')');
    let regex = tantivy_fst::Regex::new(&re)
        .map_err(|e| StoreError::UnsupportedQuery(format!("regex '{value_regex}': {e}")))?;
    Ok(Box::new(JsonRegexQuery {
        field: f,
        path_bytes,
        regex: Arc::new(regex),
    }))
}

/// [`RegexQuery`] restricted to one JSON path.
struct JsonRegexQuery {
    field: Field,
    path_bytes: Vec<u8>,
    regex: Arc<tantivy_fst::Regex>,
}

impl std::fmt::Debug for JsonRegexQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonRegexQuery")
            .field("field", &self.field)
            .field("path", &String::from_utf8_lossy(&self.path_bytes))
            .finish()
    }
}

impl Clone for JsonRegexQuery {
    fn clone(&self) -> Self {
        JsonRegexQuery {
            field: self.field,
            path_bytes: self.path_bytes.clone(),
            regex: self.regex.clone(),
        }
    }
}

impl Query for JsonRegexQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(AutomatonWeight::<tantivy_fst::Regex>::new_for_json_path(
            self.field,
            self.regex.clone(),
            &self.path_bytes,
        )))
    }
}

