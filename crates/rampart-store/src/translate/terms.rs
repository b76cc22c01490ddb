//! Index terms, regexes and free-text pieces the translator builds queries from.

use crate::error::StoreError;
use std::ops::Bound as RBound;
use std::sync::Arc;
use tantivy::Term;
use tantivy::query::{
    AutomatonWeight, BooleanQuery, EnableScoring, Occur, PhraseQuery, Query, RangeQuery,
    RegexQuery, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};

#[derive(Debug, Clone, Copy)]
pub(super) enum Num {
    I(i64),
    U(u64),
    F(f64),
}

/// A number as the evaluator reads literal text: an i64, or digits with `.eE+-` as f64.
pub(super) fn parse_number(s: &str) -> Option<Num> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Num::I(i));
    }
    let numeric = s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !numeric {
        return None;
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite()).map(Num::F)
}

/// tantivy stores a JSON number in its canonical type: i64 when it fits, else u64, else f64.
pub(super) fn normalize(n: Num) -> Num {
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

pub(super) fn json_path_term(f: Field, path: &str) -> Term {
    Term::from_field_json_path(f, path, true)
}

pub(super) fn json_str_term(f: Field, path: &str, value: &str) -> Term {
    let mut t = json_path_term(f, path);
    t.append_type_and_str(value);
    t
}

pub(super) fn json_num_term(f: Field, path: &str, n: Num) -> Term {
    let mut t = json_path_term(f, path);
    match normalize(n) {
        Num::I(i) => t.append_type_and_fast_value(i),
        Num::U(u) => t.append_type_and_fast_value(u),
        Num::F(x) => t.append_type_and_fast_value(x),
    }
    t
}

/// Range bounds keep their own type; the fast-field range converts to the column's type.
pub(super) fn json_num_range_term(f: Field, path: &str, n: Num) -> Term {
    let mut t = json_path_term(f, path);
    match n {
        Num::I(i) => t.append_type_and_fast_value(i),
        Num::U(u) => t.append_type_and_fast_value(u),
        Num::F(x) => t.append_type_and_fast_value(x),
    }
    t
}

pub(super) fn json_bool_term(f: Field, path: &str, b: bool) -> Term {
    let mut t = json_path_term(f, path);
    t.append_type_and_fast_value(b);
    t
}

/// Documents holding a boolean at `path`.
pub(super) fn bool_exists(f: Field, path: &str) -> Box<dyn Query> {
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
pub(super) fn json_str_upper(f: Field, path: &str) -> Option<Term> {
    // String terms are `path \0 s value`; the next type tag after `s` bounds them all.
    let mut t = json_path_term(f, path);
    t.append_bytes(&[b's' + 1]);
    Some(t)
}

/// Documents holding a number or a boolean at `path`.
pub(super) fn nonstring_exists(f: Field, path: &str) -> Box<dyn Query> {
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
pub(super) fn could_match_number(pattern: &str) -> bool {
    pattern
        .chars()
        .filter(|c| !matches!(c, '*' | '?' | '\\'))
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
}

const REGEX_META: &str = "\\.+*?()|[]{}^$#&-~";

pub(super) fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        push_escaped_char(out, c);
    }
}

pub(super) fn push_escaped_char(out: &mut String, c: char) {
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
pub(super) fn wildcard_regex(pattern: &str) -> String {
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
pub(super) enum WordPiece {
    Word(String),
    Regex(String),
}

/// Split free text into word pieces exactly as `rampart_query::text::pieces` does, keeping
/// wildcard pieces as regexes over one lower-cased word.
pub(super) fn word_pieces(text: &str, allow_wildcards: bool) -> Vec<WordPiece> {
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
pub(super) fn words_query(
    field: Field,
    ps: &[WordPiece],
) -> Result<Option<Box<dyn Query>>, StoreError> {
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
            Box::new(PlainSeek(Box::new(PhraseQuery::new(terms))))
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
            Box::new(PlainSeek(Box::new(q)))
        }
    }))
}

/// A query whose scorers answer `seek_danger` by plain seeking (tantivy's default).
///
/// tantivy 0.27's phrase scorers assert `target >= doc()` in `seek_danger`, which an
/// exclusion breaks at once: `Exclude::new` asks a fresh scorer, already on its first
/// match, about the first candidate before it. Debug builds — the test suites and the fuzz
/// targets, where `store_search` found it — panicked on `NOT "password for"`; release builds
/// skip the assert. The default `seek_danger` only seeks forward and reports where it is.
#[derive(Debug)]
pub(super) struct PlainSeek(pub(super) Box<dyn Query>);

impl Clone for PlainSeek {
    fn clone(&self) -> Self {
        PlainSeek(self.0.box_clone())
    }
}

impl Query for PlainSeek {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(PlainSeekWeight(self.0.weight(scoring)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct PlainSeekWeight(Box<dyn Weight>);

impl Weight for PlainSeekWeight {
    fn scorer(
        &self,
        reader: &tantivy::SegmentReader,
        boost: tantivy::Score,
    ) -> tantivy::Result<Box<dyn tantivy::query::Scorer>> {
        Ok(Box::new(PlainSeekScorer(self.0.scorer(reader, boost)?)))
    }

    fn explain(
        &self,
        reader: &tantivy::SegmentReader,
        doc: tantivy::DocId,
    ) -> tantivy::Result<tantivy::query::Explanation> {
        self.0.explain(reader, doc)
    }
}

struct PlainSeekScorer(Box<dyn tantivy::query::Scorer>);

impl tantivy::DocSet for PlainSeekScorer {
    fn advance(&mut self) -> tantivy::DocId {
        self.0.advance()
    }

    fn seek(&mut self, target: tantivy::DocId) -> tantivy::DocId {
        self.0.seek(target)
    }

    fn doc(&self) -> tantivy::DocId {
        self.0.doc()
    }

    fn size_hint(&self) -> u32 {
        self.0.size_hint()
    }

    fn cost(&self) -> u64 {
        self.0.cost()
    }
}

impl tantivy::query::Scorer for PlainSeekScorer {
    fn score(&mut self) -> tantivy::Score {
        self.0.score()
    }
}

/// A regex over the string values at a JSON path (the regex must match the whole value).
pub(super) fn json_regex(
    f: Field,
    path: &str,
    value_regex: &str,
) -> Result<Box<dyn Query>, StoreError> {
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
pub(super) struct JsonRegexQuery {
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
        Ok(Box::new(
            AutomatonWeight::<tantivy_fst::Regex>::new_for_json_path(
                self.field,
                self.regex.clone(),
                &self.path_bytes,
            ),
        ))
    }
}

/// The string values at a JSON path that are an address of an IPv4 network, written as a
/// dotted quad without leading zeros (what `Cidr::contains` accepts of a string), decided
/// byte by byte while the term dictionary is walked: unlike a regex, nothing is compiled
/// per network, and branches of the dictionary leave the network as soon as an octet does.
#[derive(Debug)]
pub(super) struct Ipv4NetAutomaton {
    /// The JSON term's key before the value: path bytes, end of path, string type.
    prefix: Vec<u8>,
    net: u32,
    mask: u32,
}

/// Where [`Ipv4NetAutomaton`] is in a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NetState {
    /// Matched this many bytes of the key prefix.
    Prefix(usize),
    /// In the value: octets completed (`acc` holds them), the current octet's digits.
    Addr {
        octet: u8,
        val: u16,
        digits: u8,
        acc: u32,
    },
    Dead,
}

const ADDR_START: NetState = NetState::Addr {
    octet: 0,
    val: 0,
    digits: 0,
    acc: 0,
};

impl Ipv4NetAutomaton {
    pub(super) fn new(prefix: Vec<u8>, addr: std::net::Ipv4Addr, prefix_len: u8) -> Self {
        let mask = match prefix_len.min(32) {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n)),
        };
        Ipv4NetAutomaton {
            prefix,
            net: u32::from(addr) & mask,
            mask,
        }
    }
}

impl tantivy_fst::Automaton for Ipv4NetAutomaton {
    type State = NetState;

    fn start(&self) -> NetState {
        if self.prefix.is_empty() {
            ADDR_START
        } else {
            NetState::Prefix(0)
        }
    }

    fn is_match(&self, state: &NetState) -> bool {
        match *state {
            NetState::Addr {
                octet: 3,
                val,
                digits,
                acc,
            } if digits > 0 => ((acc << 8) | u32::from(val)) & self.mask == self.net,
            _ => false,
        }
    }

    fn can_match(&self, state: &NetState) -> bool {
        *state != NetState::Dead
    }

    fn accept(&self, state: &NetState, byte: u8) -> NetState {
        match *state {
            NetState::Dead => NetState::Dead,
            NetState::Prefix(i) => match self.prefix.get(i) {
                Some(&b) if b == byte && i + 1 == self.prefix.len() => ADDR_START,
                Some(&b) if b == byte => NetState::Prefix(i + 1),
                _ => NetState::Dead,
            },
            NetState::Addr {
                octet,
                val,
                digits,
                acc,
            } => match byte {
                b'0'..=b'9' => {
                    let v = val * 10 + u16::from(byte - b'0');
                    // No leading zero ("01"), no octet above 255.
                    if (digits > 0 && val == 0) || v > 255 {
                        NetState::Dead
                    } else {
                        NetState::Addr {
                            octet,
                            val: v,
                            digits: digits + 1,
                            acc,
                        }
                    }
                }
                b'.' if digits > 0 && octet < 3 => {
                    let acc = (acc << 8) | u32::from(val);
                    // The high bits known so far must be the network's (bits ≤ 24 here).
                    let bits = 8 * (u32::from(octet) + 1);
                    let covered = self.mask & (u32::MAX << (32 - bits));
                    if (acc << (32 - bits)) & covered == self.net & covered {
                        NetState::Addr {
                            octet: octet + 1,
                            val: 0,
                            digits: 0,
                            acc,
                        }
                    } else {
                        NetState::Dead
                    }
                }
                _ => NetState::Dead,
            },
        }
    }
}

/// An IPv4 network over the string values at a JSON path (see [`Ipv4NetAutomaton`]).
pub(super) fn json_ipv4_net(
    f: Field,
    path: &str,
    addr: std::net::Ipv4Addr,
    prefix_len: u8,
) -> Box<dyn Query> {
    let path_bytes = json_path_term(f, path).serialized_value_bytes().to_vec();
    let mut prefix = path_bytes.clone();
    prefix.push(b's');
    Box::new(JsonIpv4NetQuery {
        field: f,
        path_bytes,
        automaton: Arc::new(Ipv4NetAutomaton::new(prefix, addr, prefix_len)),
    })
}

#[derive(Debug, Clone)]
pub(super) struct JsonIpv4NetQuery {
    field: Field,
    path_bytes: Vec<u8>,
    automaton: Arc<Ipv4NetAutomaton>,
}

impl Query for JsonIpv4NetQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(
            AutomatonWeight::<Ipv4NetAutomaton>::new_for_json_path(
                self.field,
                self.automaton.clone(),
                &self.path_bytes,
            ),
        ))
    }
}

#[cfg(test)]
mod ipv4_net_tests {
    use super::Ipv4NetAutomaton;
    use std::net::Ipv4Addr;
    use tantivy_fst::Automaton;

    fn matches(a: &Ipv4NetAutomaton, s: &[u8]) -> bool {
        let mut st = a.start();
        for &b in s {
            st = a.accept(&st, b);
            if !a.can_match(&st) {
                return false;
            }
        }
        a.is_match(&st)
    }

    /// The reference: a strict dotted quad (no leading zeros) inside the network.
    fn reference(s: &str, net: Ipv4Addr, len: u8) -> bool {
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 4
            || parts.iter().any(|p| {
                p.is_empty()
                    || p.len() > 3
                    || !p.bytes().all(|b| b.is_ascii_digit())
                    || (p.len() > 1 && p.starts_with('0'))
            })
        {
            return false;
        }
        let Ok(ip) = s.parse::<Ipv4Addr>() else {
            return false;
        };
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        u32::from(ip) & mask == u32::from(net) & mask
    }

    #[test]
    fn agrees_with_a_strict_parse_on_addresses_and_near_misses() {
        let nets: [(Ipv4Addr, u8); 7] = [
            (Ipv4Addr::new(10, 1, 2, 0), 24),
            (Ipv4Addr::new(10, 1, 16, 0), 20),
            (Ipv4Addr::new(192, 168, 1, 77), 32),
            (Ipv4Addr::new(172, 16, 0, 0), 12),
            (Ipv4Addr::new(0, 0, 0, 0), 0),
            (Ipv4Addr::new(10, 1, 2, 128), 25),
            (Ipv4Addr::new(203, 0, 113, 45), 31),
        ];
        let mut values: Vec<String> = vec![
            "10.1.2.3",
            "10.1.2.255",
            "10.1.3.0",
            "10.1.2.256",
            "10.1.2",
            "10.1.2.3.4",
            "10.1.2.03",
            "010.1.2.3",
            "10.1.02.3",
            "10.1.2.",
            ".10.1.2.3",
            "10.1.2.3 ",
            "10.1.17.200",
            "10.1.31.255",
            "10.1.32.0",
            "10.1.15.255",
            "192.168.1.77",
            "192.168.1.78",
            "172.31.255.255",
            "172.32.0.0",
            "172.15.9.9",
            "0.0.0.0",
            "255.255.255.255",
            "10.1.2.127",
            "10.1.2.128",
            "203.0.113.44",
            "203.0.113.46",
            "1.2.3.4a",
            "a1.2.3.4",
            "",
            "1..2.3",
            "999.1.1.1",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        for a in 0..=255u8 {
            values.push(format!("10.1.{a}.7"));
            values.push(format!("203.0.113.{a}"));
        }
        for (net, len) in nets {
            let a = Ipv4NetAutomaton::new(Vec::new(), net, len);
            for v in &values {
                assert_eq!(
                    matches(&a, v.as_bytes()),
                    reference(v, net, len),
                    "{v:?} in {net}/{len}"
                );
            }
            // With a key prefix, only keys that start with it match.
            let p = Ipv4NetAutomaton::new(b"source.ip\0s".to_vec(), net, len);
            assert_eq!(
                matches(&p, format!("source.ip\0s{net}").as_bytes()),
                reference(&net.to_string(), net, len)
            );
            assert!(!matches(&p, format!("source.ix\0s{net}").as_bytes()));
        }
    }
}
