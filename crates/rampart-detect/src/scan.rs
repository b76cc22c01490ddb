//! Literal needle scanning: every literal of every rule that reads one haystack (a field, or all strings for keywords) found in one pass, by Aho-Corasick automata or a hashed 3-gram filter.

use crate::compile::StrOp;
use crate::document::FieldRef;
use crate::value::{as_number, num_key, with_text};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use rustc_hash::FxHashMap;
use std::collections::HashMap;

/// One needle occurrence that counts: `needle` is set when the literal is found as `op`
/// requires.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NeedleRef {
    pub needle: u32,
    pub op: StrOp,
}

/// How a scanner finds its literals.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    /// Aho-Corasick automata (one case-insensitive, one case-sensitive), built as a full
    /// DFA when their needles total at most this many bytes (one table lookup per byte,
    /// several times faster than the NFA the builder would pick for more than a handful
    /// of patterns, at the cost of memory: states × byte classes).
    Automaton { dfa_budget: usize },
    /// A hashed 3-gram filter with direct verification (see [`Grams`]).
    Grams,
}

/// The literal needles of one haystack.
#[derive(Debug, Default)]
pub(crate) struct Scanner {
    ci: Option<(AhoCorasick, Vec<Vec<NeedleRef>>)>,
    cs: Option<(AhoCorasick, Vec<Vec<NeedleRef>>)>,
    grams: Option<Grams>,
    nums: HashMap<u64, Vec<u32>>,
}

#[derive(Default)]
pub(crate) struct ScannerBuilder {
    ci: HashMap<String, Vec<NeedleRef>>,
    cs: HashMap<String, Vec<NeedleRef>>,
    nums: HashMap<u64, Vec<u32>>,
}

impl ScannerBuilder {
    /// A literal; case-insensitive ones (`ci`) are ASCII and lower-cased.
    pub fn add_lit(&mut self, text: &str, ci: bool, op: StrOp, needle: u32) {
        let map = if ci { &mut self.ci } else { &mut self.cs };
        map.entry(text.to_owned())
            .or_default()
            .push(NeedleRef { needle, op });
    }

    /// Numeric equality with `x`.
    pub fn add_num(&mut self, x: f64, needle: u32) {
        self.nums.entry(num_key(x)).or_default().push(needle);
    }

    pub fn is_empty(&self) -> bool {
        self.ci.is_empty() && self.cs.is_empty() && self.nums.is_empty()
    }

    pub fn build(self, method: Method) -> Scanner {
        match method {
            Method::Automaton { dfa_budget } => Scanner {
                ci: automaton(self.ci, true, dfa_budget),
                cs: automaton(self.cs, false, dfa_budget),
                grams: None,
                nums: self.nums,
            },
            Method::Grams => Scanner {
                ci: None,
                cs: None,
                grams: Grams::new(self.ci, self.cs),
                nums: self.nums,
            },
        }
    }
}

/// Sorted so that the automaton (and its pattern ids) does not depend on hash order.
fn sorted(map: HashMap<String, Vec<NeedleRef>>) -> Vec<(String, Vec<NeedleRef>)> {
    let mut entries: Vec<(String, Vec<NeedleRef>)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

fn automaton(
    map: HashMap<String, Vec<NeedleRef>>,
    ci: bool,
    dfa_budget: usize,
) -> Option<(AhoCorasick, Vec<Vec<NeedleRef>>)> {
    if map.is_empty() {
        return None;
    }
    let (pats, refs): (Vec<String>, Vec<Vec<NeedleRef>>) = sorted(map).into_iter().unzip();
    let bytes: usize = pats.iter().map(String::len).sum();
    let mut builder = AhoCorasickBuilder::new();
    builder
        .ascii_case_insensitive(ci)
        .match_kind(MatchKind::Standard);
    if bytes <= dfa_budget {
        builder.kind(Some(AhoCorasickKind::DFA));
    }
    match builder.build(&pats) {
        Ok(ac) => Some((ac, refs)),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the needle automaton");
            None
        }
    }
}

/// Whether a literal found at `start..end` of a haystack of `len` bytes satisfies `op`.
#[inline]
fn op_holds(op: StrOp, start: usize, end: usize, len: usize) -> bool {
    match op {
        StrOp::Contains => true,
        StrOp::Exact => start == 0 && end == len,
        StrOp::StartsWith => start == 0,
        StrOp::EndsWith => end == len,
    }
}

#[inline]
fn report(refs: &[NeedleRef], start: usize, end: usize, len: usize, hit: &mut impl FnMut(u32)) {
    for r in refs {
        if op_holds(r.op, start, end, len) {
            hit(r.needle);
        }
    }
}

impl Scanner {
    /// Report every needle found in the string `s`.
    #[inline]
    pub fn scan_str(&self, s: &str, hit: &mut impl FnMut(u32)) {
        if let Some(g) = &self.grams {
            g.scan(s.as_bytes(), hit);
        }
        for (ac, refs) in [&self.ci, &self.cs].into_iter().flatten() {
            for m in ac.find_overlapping_iter(s) {
                report(
                    &refs[m.pattern().as_usize()],
                    m.start(),
                    m.end(),
                    s.len(),
                    hit,
                );
            }
        }
    }

    fn has_literals(&self) -> bool {
        self.ci.is_some() || self.cs.is_some() || self.grams.is_some()
    }

    /// Report every needle a field value holds: literals in its text form, numbers by
    /// value; each member of a list.
    pub fn scan_value(&self, v: FieldRef<'_>, hit: &mut impl FnMut(u32)) {
        match v {
            FieldRef::Missing | FieldRef::Null | FieldRef::Object => {}
            FieldRef::List(items) => {
                for i in items {
                    self.scan_value(FieldRef::from_json(i), hit);
                }
            }
            _ => {
                if self.has_literals() {
                    with_text(v, |s| self.scan_str(s, hit));
                }
                if !self.nums.is_empty()
                    && let Some(x) = as_number(v)
                    && let Some(ns) = self.nums.get(&num_key(x))
                {
                    ns.iter().for_each(|n| hit(*n));
                }
            }
        }
    }
}

/// Bits of the 3-gram filter (8 KiB: stays in L1 cache).
const FILTER_BITS: u32 = 16;

/// A multi-literal matcher for haystacks read with few expected hits (the keyword scan
/// over every string of an event).
///
/// An automaton without a prefilter (there is none for hundreds of case-insensitive
/// patterns) costs one dependent table lookup per byte. Here every position of the
/// haystack is tested independently: the hash of its ASCII-folded 3-byte prefix against
/// a 64 Kibit filter of the needles' prefixes; only positions that pass are verified
/// against the needles with that prefix hash. Needles of one or two bytes are verified
/// at every position whose folded first byte begins one; empty needles match every
/// haystack (as Aho-Corasick's empty match at each position does). Every occurrence of
/// every needle is reported, as an overlapping automaton search does.
#[derive(Debug)]
pub(crate) struct Grams {
    /// Filter bit per hashed folded 3-byte prefix.
    filter: Box<[u64]>,
    /// Hashed prefix → range of `long`.
    heads: FxHashMap<u16, (u32, u32)>,
    /// Needles of 3 bytes or more, grouped by prefix hash.
    long: Vec<Lit>,
    /// Folded first byte → range of `short` (needles of one or two bytes).
    short_heads: Box<[(u32, u32); 256]>,
    /// Bit per folded byte that begins a short needle.
    short_first: [u64; 4],
    short: Vec<Lit>,
    empty: Vec<NeedleRef>,
}

#[derive(Debug)]
struct Lit {
    text: Box<[u8]>,
    ci: bool,
    refs: Vec<NeedleRef>,
}

impl Lit {
    #[inline]
    fn at(&self, hay: &[u8], i: usize) -> bool {
        match hay.get(i..i + self.text.len()) {
            Some(w) if self.ci => w.eq_ignore_ascii_case(&self.text),
            Some(w) => *w == *self.text,
            None => false,
        }
    }
}

#[inline]
fn gram_key(a: u8, b: u8, c: u8) -> u16 {
    let x = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    (x.wrapping_mul(0x9E37_79B1) >> (32 - FILTER_BITS)) as u16
}

impl Grams {
    fn new(
        ci: HashMap<String, Vec<NeedleRef>>,
        cs: HashMap<String, Vec<NeedleRef>>,
    ) -> Option<Grams> {
        if ci.is_empty() && cs.is_empty() {
            return None;
        }
        let mut long: Vec<(u16, Lit)> = Vec::new();
        let mut short: Vec<(u8, Lit)> = Vec::new();
        let mut empty = Vec::new();
        for (map, is_ci) in [(ci, true), (cs, false)] {
            for (text, refs) in sorted(map) {
                let f: Vec<u8> = text.bytes().map(|b| b.to_ascii_lowercase()).collect();
                let lit = Lit {
                    text: text.into_bytes().into(),
                    ci: is_ci,
                    refs,
                };
                match f.as_slice() {
                    [] => empty.extend(lit.refs),
                    [a, b, c, ..] => long.push((gram_key(*a, *b, *c), lit)),
                    [a, ..] => short.push((*a, lit)),
                }
            }
        }
        long.sort_by_key(|(k, _)| *k);
        short.sort_by_key(|(k, _)| *k);
        let mut filter = vec![0u64; 1 << (FILTER_BITS - 6)].into_boxed_slice();
        let mut heads: FxHashMap<u16, (u32, u32)> = FxHashMap::default();
        for (i, (k, _)) in long.iter().enumerate() {
            filter[usize::from(*k >> 6)] |= 1 << (k & 63);
            let e = heads.entry(*k).or_insert((i as u32, i as u32));
            e.1 = i as u32 + 1;
        }
        let mut short_heads = Box::new([(0u32, 0u32); 256]);
        let mut short_first = [0u64; 4];
        for (i, (b, _)) in short.iter().enumerate() {
            short_first[usize::from(*b >> 6)] |= 1 << (b & 63);
            let e = &mut short_heads[usize::from(*b)];
            if e.0 == e.1 {
                *e = (i as u32, i as u32);
            }
            e.1 = i as u32 + 1;
        }
        Some(Grams {
            filter,
            heads,
            long: long.into_iter().map(|(_, l)| l).collect(),
            short_heads,
            short_first,
            short: short.into_iter().map(|(_, l)| l).collect(),
            empty,
        })
    }

    fn scan(&self, hay: &[u8], hit: &mut impl FnMut(u32)) {
        let n = hay.len();
        if !self.empty.is_empty() {
            report(&self.empty, 0, 0, n, hit);
            report(&self.empty, n, n, n, hit);
        }
        // Every byte is folded once; `a`, `b`, `c` are the folded bytes at i, i+1, i+2.
        let mut a = hay.first().map_or(0, u8::to_ascii_lowercase);
        let mut b = hay.get(1).map_or(0, u8::to_ascii_lowercase);
        for i in 0..n {
            let c = hay.get(i + 2).map_or(0, u8::to_ascii_lowercase);
            if self.short_first[usize::from(a >> 6)] & (1 << (a & 63)) != 0 {
                let (s, e) = self.short_heads[usize::from(a)];
                self.verify(&self.short[s as usize..e as usize], hay, i, hit);
            }
            let k = gram_key(a, b, c);
            if i + 3 <= n
                && self.filter[usize::from(k >> 6)] & (1 << (k & 63)) != 0
                && let Some((s, e)) = self.heads.get(&k)
            {
                self.verify(&self.long[*s as usize..*e as usize], hay, i, hit);
            }
            a = b;
            b = c;
        }
    }

    #[inline(never)]
    fn verify(&self, lits: &[Lit], hay: &[u8], i: usize, hit: &mut impl FnMut(u32)) {
        for l in lits {
            if l.at(hay, i) {
                report(&l.refs, i, i + l.text.len(), hay.len(), hit);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// (needle text, ci, op)
    type Needle<'a> = (&'a str, bool, StrOp);

    fn found(method: Method, needles: &[Needle<'_>], hay: &str) -> Vec<u32> {
        let mut b = ScannerBuilder::default();
        for (i, (text, ci, op)) in needles.iter().enumerate() {
            b.add_lit(text, *ci, *op, i as u32);
        }
        let sc = b.build(method);
        let mut out = Vec::new();
        sc.scan_str(hay, &mut |n| out.push(n));
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn grams_find_what_automata_find() {
        use StrOp::*;
        let needles: &[Needle<'_>] = &[
            ("chmod +x", true, Contains),
            ("/tmp/", true, Contains),
            (":", true, Contains),
            ("@", true, Contains),
            ("-s", true, Contains),
            ("ab", true, StartsWith),
            ("ab", false, EndsWith),
            ("AbC", false, Contains),
            ("abc", true, Exact),
            ("abcabc", true, Contains),
            ("", true, Contains),
            ("", true, Exact),
            ("", true, EndsWith),
            ("bca", true, Contains),
            ("é", false, Contains),
            ("sshd", true, Exact),
            ("sshd", true, StartsWith),
            ("hd", true, EndsWith),
            ("root", false, Contains),
        ];
        let hays = [
            "",
            "a",
            "ab",
            "abc",
            "ABC",
            "AbC",
            "xabcabcabx",
            "sshd",
            "SSHD",
            "sshd:x",
            "cd /TMP/; CHMOD +X a",
            "user@host: -s",
            "ROOT root Root",
            "café abc",
            "x-",
            "-s",
        ];
        for hay in hays {
            let auto = found(Method::Automaton { dfa_budget: 0 }, needles, hay);
            let dfa = found(
                Method::Automaton {
                    dfa_budget: 1 << 20,
                },
                needles,
                hay,
            );
            let grams = found(Method::Grams, needles, hay);
            assert_eq!(grams, auto, "{hay:?}");
            assert_eq!(dfa, auto, "{hay:?}");
        }
        // And the expectations themselves, on a few.
        assert_eq!(
            found(Method::Grams, needles, "abc"),
            [5, 8, 10, 12],
            "starts with ab (ci), exact abc (ci), empty: contains and ends with, not exact"
        );
    }

    #[test]
    fn numbers_and_lists() {
        let mut b = ScannerBuilder::default();
        b.add_num(4688.0, 0);
        b.add_lit("46", true, StrOp::StartsWith, 1);
        let sc = b.build(Method::Grams);
        let list = serde_json::json!(["x", 4688]);
        for (v, want) in [
            (FieldRef::Int(4688), vec![0, 1]),
            (FieldRef::Str("4688"), vec![0, 1]),
            (FieldRef::Str("4689"), vec![1]),
            (FieldRef::List(list.as_array().unwrap()), vec![0, 1]),
            (FieldRef::Null, vec![]),
        ] {
            let mut out = Vec::new();
            sc.scan_value(v, &mut |n| out.push(n));
            out.sort_unstable();
            assert_eq!(out, want, "{v:?}");
        }
    }
}
