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

mod terms;

use crate::error::StoreError;
use crate::schema::Fields;
use rampart_model::Timestamp;
use rampart_query::parse_time;
use rampart_query::text::{Cidr, Glob, pieces};
use rampart_query::{Bound, Expr, Literal, Predicate, TextMatch};
use std::net::IpAddr;
use std::ops::Bound as RBound;
use tantivy::collector::Count;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, InvertedIndexRangeQuery, Occur, Query,
    RangeQuery, RegexQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{Searcher, Term};
use terms::{
    Num, bool_exists, could_match_number, json_bool_term, json_ipv4_net, json_num_range_term,
    json_num_term, json_regex, json_str_term, json_str_upper, nonstring_exists, parse_number,
    push_escaped, wildcard_regex, word_pieces, words_query,
};

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

/// (path, regex) → the compiled doubt query when it matches some document.
type DoubtCache = std::collections::HashMap<(String, String), Option<Box<dyn Query>>>;

/// Whether a doubt regex over a path matches any document, remembered for one searcher
/// generation: the answer changes only when the index does, so the hundreds of queries of
/// one retro-hunt, each with the same fields, scan a field's term dictionary once between
/// them instead of once each.
#[derive(Default)]
pub(crate) struct DoubtAnswers {
    generation: u64,
    answers: std::collections::HashMap<(String, String), bool>,
}

impl DoubtAnswers {
    /// Entries kept at most (a new generation, or this many, starts over).
    const MAX: usize = 4096;

    fn get(&self, generation: u64, key: &(String, String)) -> Option<bool> {
        (self.generation == generation)
            .then(|| self.answers.get(key).copied())
            .flatten()
    }

    fn put(&mut self, generation: u64, key: (String, String), any: bool) {
        if self.generation != generation || self.answers.len() >= Self::MAX {
            self.answers.clear();
            self.generation = generation;
        }
        self.answers.insert(key, any);
    }
}

pub(crate) struct Translator<'a> {
    pub fields: &'a Fields,
    pub searcher: &'a Searcher,
    /// The store's answers to doubt regexes, shared between searches.
    shared: Option<&'a parking_lot::Mutex<DoubtAnswers>>,
    /// A field's doubt regex, compiled, when it matches some document, by (path, regex):
    /// a query with many values of one field (a retro-hunt's thousand addresses) compiles
    /// the regex and scans the term dictionary once instead of once per value.
    doubts: std::cell::RefCell<DoubtCache>,
}

impl<'a> Translator<'a> {
    pub(crate) fn new(fields: &'a Fields, searcher: &'a Searcher) -> Self {
        Translator {
            fields,
            searcher,
            shared: None,
            doubts: Default::default(),
        }
    }

    /// Remember doubt answers in (and take them from) `shared` across translations.
    pub(crate) fn with_shared_doubts(
        mut self,
        shared: &'a parking_lot::Mutex<DoubtAnswers>,
    ) -> Self {
        self.shared = Some(shared);
        self
    }
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
                    // `ts` is a column, not a term index: equality is a one-value range.
                    Some(t) => Translated::exact(Box::new(RangeQuery::new(
                        RBound::Included(Term::from_field_i64(f, t)),
                        RBound::Included(Term::from_field_i64(f, t)),
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
        self.with_path_doubt(path, &doubt.join("|"), sure)
    }

    /// [`with_doubt`](Self::with_doubt) for a doubt that is regex `re` over `path`: the
    /// regex is compiled and counted once per translation.
    fn with_path_doubt(&self, path: &str, re: &str, sure: Box<dyn Query>) -> Translated {
        let doubt = self
            .doubts
            .borrow_mut()
            .entry((path.to_owned(), re.to_owned()))
            .or_insert_with_key(|key| {
                let generation = self.searcher.generation().generation_id();
                let known = self.shared.and_then(|m| m.lock().get(generation, key));
                match known {
                    Some(false) => None,
                    Some(true) => Some(self.json_regex_or_exists(path, re)),
                    None => {
                        let q = self.json_regex_or_exists(path, re);
                        let any = !matches!(self.searcher.search(q.as_ref(), &Count), Ok(0));
                        if let Some(m) = self.shared {
                            m.lock().put(generation, key.clone(), any);
                        }
                        any.then_some(q)
                    }
                }
            })
            .as_ref()
            .map(|q| q.box_clone());
        match doubt {
            Some(doubt) => Translated::candidate(Box::new(BooleanQuery::new(vec![
                (Occur::Should, sure),
                (Occur::Should, doubt),
            ]))),
            None => Translated::exact(sure),
        }
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
        let addresses = json_ipv4_net(f, path, v4, cidr.prefix);
        let sure: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (Occur::Should, addresses),
            (Occur::Should, literal),
        ]));
        self.with_path_doubt(path, IP_VARIANTS, sure)
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
        let numeric = [&lo, &hi]
            .iter()
            .all(|l| l.as_ref().is_none_or(|l| num(l).is_some()));
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
        // tantivy's column range query wants both bounds of one type (an integer bound
        // beside a float one panicked in it, found by fuzzing: `port:[1E24 TO 65535]`).
        let (lo_num, hi_num) = match (lo.as_ref().and_then(num), hi.as_ref().and_then(num)) {
            (Some(Num::I(i)), Some(Num::F(x))) => match same_type(i, x) {
                Some((i, x)) => (Some(i), Some(x)),
                None => return Translated::candidate(self.exists(path)),
            },
            (Some(Num::F(x)), Some(Num::I(i))) => match same_type(i, x) {
                Some((i, x)) => (Some(x), Some(i)),
                None => return Translated::candidate(self.exists(path)),
            },
            other => other,
        };
        let num_bound = |b: &Bound, n: Option<Num>| -> RBound<Term> {
            match (b, n) {
                (Bound::Inclusive(_), Some(n)) => RBound::Included(json_num_range_term(f, path, n)),
                (Bound::Exclusive(_), Some(n)) => RBound::Excluded(json_num_range_term(f, path, n)),
                _ => RBound::Unbounded,
            }
        };
        let numbers: Box<dyn Query> = Box::new(RangeQuery::new(
            num_bound(lower, lo_num),
            num_bound(upper, hi_num),
        ));
        // Strings compare as numbers when they read as one, else as text; booleans as text.
        let doubt: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (Occur::Should, self.json_regex_or_exists(path, ".*")),
            (Occur::Should, bool_exists(f, path)),
        ]));
        self.with_doubt(numbers, doubt)
    }
}

/// An integer and a float range bound as one numeric type, without changing which values
/// they admit: both integers when the float is a whole number that fits, else both floats
/// when the integer converts exactly; `None` when neither holds (the caller then lets the
/// evaluator decide).
fn same_type(i: i64, x: f64) -> Option<(Num, Num)> {
    // `as` saturates; the round trip tells a whole number in range from the rest.
    let whole = x as i64;
    if whole as f64 == x && x.fract() == 0.0 && (i64::MIN as f64..i64::MAX as f64).contains(&x) {
        return Some((Num::I(i), Num::I(whole)));
    }
    let exact = i as f64;
    (exact as i64 == i && exact.abs() < 9_007_199_254_740_992.0)
        .then_some((Num::F(exact), Num::F(x)))
}

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rampart_model::{Event, Origin, OriginKind, Raw};
    use serde_json::json;
    use tantivy::{Index, IndexWriter, TantivyDocument};

    fn searcher_over(docs: &[serde_json::Value]) -> (Fields, Searcher) {
        let index = Index::builder()
            .schema(crate::schema::build_schema())
            .create_in_ram()
            .unwrap();
        crate::schema::register_tokenizers(&index);
        let fields = Fields::new(index.schema()).unwrap();
        let mut writer: IndexWriter<TantivyDocument> = index.writer(20_000_000).unwrap();
        for d in docs {
            let mut e = Event::new(
                Origin::new(OriginKind::Import, "t"),
                Raw::Text("Failed password".into()),
            );
            e.tenant = d["tenant"].as_str().unwrap_or("acme").to_owned();
            e.fields = d["fields"].as_object().unwrap().clone();
            writer
                .add_document(crate::schema::to_document(&fields, &e, b"{}"))
                .unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        (fields, searcher)
    }

    /// (query, exact over clean data, exact over messy data)
    #[test]
    fn exactness_follows_what_the_index_holds() {
        let clean = [
            json!({"fields": {"host": {"name": "web01"}, "source": {"port": 22, "ip": "10.0.0.5"}, "url": {"path": "/a"}}}),
        ];
        let messy = [
            json!({"tenant": "Initech", "fields": {"host": {"name": "web01"}, "source": {"port": "22", "ip": " 10.0.0.5"}}}),
            json!({"fields": {"source": {"port": 8080}}}),
        ];
        let cases = [
            ("host.name:web01", true, true),
            ("user.name:svc_*", true, true),
            ("source.port:22", true, true),
            ("source.port > 1000", true, false),
            ("source.port:2*", false, false),
            ("source.ip:10.0.0.0/8", true, false),
            ("source.ip:10.0.0.5", true, false),
            ("url.path:/.*login.*/", false, false),
            ("NOT url.path:/x/", false, false),
            ("failed", true, true),
            ("\"failed password\"", true, true),
            ("pass*", true, true),
            ("event.original:*eth0*", false, false),
            ("tenant:acme", true, false),
            ("@timestamp >= 2024-01-01", true, true),
            ("host.name:web01 AND NOT source.port:22", true, true),
        ];
        let (cf, cs) = searcher_over(&clean);
        let (mf, ms) = searcher_over(&messy);
        for (query, exact_clean, exact_messy) in cases {
            let search = rampart_query::parse(query).unwrap();
            let clean = Translator::new(&cf, &cs).translate(&search.filter).unwrap();
            let messy = Translator::new(&mf, &ms).translate(&search.filter).unwrap();
            assert_eq!(
                (clean.exact, messy.exact),
                (exact_clean, exact_messy),
                "{query}"
            );
        }
    }

    #[test]
    fn wildcards_become_anchored_lowercase_regexes() {
        for (pattern, regex) in [
            ("svc_*", "svc_.*"),
            ("Web0?", "web0."),
            ("a.b*", "a\\.b.*"),
            ("lit\\*star", "lit\\*star"),
        ] {
            assert_eq!(terms::wildcard_regex(pattern), regex, "{pattern}");
        }
    }
}
