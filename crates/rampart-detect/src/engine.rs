//! The compiled multi-rule evaluator: rules bucketed by log-source class, literal needles of all rules gathered per field into shared Aho-Corasick automata, conditions evaluated only for rules whose needles were seen.

use crate::compile::{Cond, StrOp, Test};
use crate::document::{Document, FieldKey, FieldRef};
use crate::load::{RuleMeta, RuleSet};
use crate::mapping::{self, CompiledSchema, LogSourceClass, Mappings};
use crate::value::{self, as_number, num_key, with_text};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use std::collections::HashMap;

const NONE: u32 = u32::MAX;

/// Needle bytes up to which the keyword automaton (run over every string of every event
/// of a class) is a DFA; and the same for per-field automata, which are many more (one
/// per field per class) and so get a smaller budget.
const KEYWORD_DFA_BUDGET: usize = 16 * 1024;
const FIELD_DFA_BUDGET: usize = 0;

/// How the engine picks the rules an event is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Only rules whose log source admits the event's class (the normal mode).
    ByLogSource,
    /// Every rule on every event, fields still resolved through the event's schema
    /// (to compare with engines that do no log-source routing).
    AllRules,
}

#[derive(Debug)]
struct TestEntry {
    test: Test,
    /// The needle answering a literal or numeric test, or a pattern's gate; NONE otherwise.
    needle: u32,
    /// For `fieldref`: the interned referenced field.
    aux: u32,
}

#[derive(Debug)]
struct Pred {
    field: Option<u32>,
    tests: Vec<TestEntry>,
    all: bool,
    negate: bool,
    exists: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
struct NeedleRef {
    needle: u32,
    op: StrOp,
}

/// Literal needles of one haystack (a field, or all strings for keywords).
#[derive(Debug, Default)]
struct Scanner {
    ci: Option<(AhoCorasick, Vec<Vec<NeedleRef>>)>,
    cs: Option<(AhoCorasick, Vec<Vec<NeedleRef>>)>,
    nums: HashMap<u64, Vec<u32>>,
}

#[derive(Default)]
struct ScannerBuilder {
    ci: HashMap<String, Vec<NeedleRef>>,
    cs: HashMap<String, Vec<NeedleRef>>,
    nums: HashMap<u64, Vec<u32>>,
}

impl ScannerBuilder {
    fn add(&mut self, t: &TestEntry) {
        if t.needle == NONE {
            return;
        }
        match &t.test {
            Test::Lit { op, text, ci } => {
                let map = if *ci { &mut self.ci } else { &mut self.cs };
                map.entry(text.clone()).or_default().push(NeedleRef {
                    needle: t.needle,
                    op: *op,
                });
            }
            Test::Pattern {
                gate: Some((text, ci)),
                ..
            } => {
                let map = if *ci { &mut self.ci } else { &mut self.cs };
                map.entry(text.clone()).or_default().push(NeedleRef {
                    needle: t.needle,
                    op: StrOp::Contains,
                });
            }
            Test::NumEq(n) => self.nums.entry(num_key(*n)).or_default().push(t.needle),
            _ => {}
        }
    }

    /// `dfa_budget`: needle bytes up to which the automaton is built as a full DFA (one
    /// table lookup per byte, several times faster than the NFA the builder would pick
    /// for more than a handful of patterns, at the cost of memory: states × byte classes).
    fn build(self, dfa_budget: usize) -> Scanner {
        let automaton = |map: HashMap<String, Vec<NeedleRef>>,
                         ci: bool|
         -> Option<(AhoCorasick, Vec<Vec<NeedleRef>>)> {
            if map.is_empty() {
                return None;
            }
            let mut entries: Vec<(String, Vec<NeedleRef>)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let (pats, refs): (Vec<String>, Vec<Vec<NeedleRef>>) = entries.into_iter().unzip();
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
        };
        Scanner {
            ci: automaton(self.ci, true),
            cs: automaton(self.cs, false),
            nums: self.nums,
        }
    }
}

#[derive(Debug)]
struct FieldScan {
    field: u32,
    scanner: Scanner,
}

/// The compiled program for one class of events.
#[derive(Debug)]
struct Bucket {
    logsource: LogSourceClass,
    /// Interned Sigma field → where it lives in events of this class.
    keys: Vec<FieldKey>,
    scans: Vec<FieldScan>,
    keywords: Option<Scanner>,
    /// Rules whose condition can hold with no needle seen.
    always: Vec<u32>,
    rules: usize,
}

/// A reusable result buffer (and the per-event scratch space the engine needs), so that
/// evaluation allocates nothing once it has grown to the engine's size.
#[derive(Debug, Default)]
pub struct Matches {
    rules: Vec<u32>,
    epoch: u32,
    needle_seen: Vec<u32>,
    rule_seen: Vec<u32>,
    candidates: Vec<u32>,
}

impl Matches {
    pub fn new() -> Self {
        Self::default()
    }

    /// Indices (for [`Engine::rule`]) of the rules that matched, ascending.
    pub fn rules(&self) -> &[u32] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn begin(&mut self, needles: usize, rules: usize) {
        self.rules.clear();
        self.candidates.clear();
        if self.needle_seen.len() < needles {
            self.needle_seen.resize(needles, 0);
        }
        if self.rule_seen.len() < rules {
            self.rule_seen.resize(rules, 0);
        }
        if self.epoch == u32::MAX {
            self.needle_seen.iter_mut().for_each(|x| *x = 0);
            self.rule_seen.iter_mut().for_each(|x| *x = 0);
            self.epoch = 0;
        }
        self.epoch += 1;
    }
}

/// Immutable, thread-safe Sigma evaluator over a [`RuleSet`].
#[derive(Debug)]
pub struct Engine {
    metas: Vec<RuleMeta>,
    preds: Vec<Pred>,
    conds: Vec<Cond>,
    /// Needle → rule it triggers (NONE when its predicate cannot trigger the rule alone).
    needle_rule: Vec<u32>,
    schemas: Vec<CompiledSchema>,
    buckets: Vec<Bucket>,
}

/// Three-valued result used to decide which rules need a needle to fire.
#[derive(Clone, Copy, PartialEq, Eq)]
enum K {
    F,
    T,
    U,
}

impl Engine {
    /// An engine routing events by log source.
    pub fn new(rules: &RuleSet, mappings: &Mappings) -> Engine {
        Self::with_routing(rules, mappings, Routing::ByLogSource)
    }

    pub fn with_routing(rules: &RuleSet, mappings: &Mappings, routing: Routing) -> Engine {
        let mut fields: Vec<String> = Vec::new();
        let mut field_ids: HashMap<String, u32> = HashMap::new();
        let mut intern = |name: &str| -> u32 {
            if let Some(i) = field_ids.get(name) {
                return *i;
            }
            let i = fields.len() as u32;
            fields.push(name.to_owned());
            field_ids.insert(name.to_owned(), i);
            i
        };
        let mut preds = Vec::new();
        let mut conds = Vec::new();
        let mut needle_rule = Vec::new();
        let mut rule_preds: Vec<std::ops::Range<usize>> = Vec::new();
        let mut metas = Vec::new();
        for (ri, rule) in rules.rules.iter().enumerate() {
            let base = preds.len();
            for p in &rule.program.preds {
                let field = p.field.as_deref().map(&mut intern);
                let tests = p
                    .tests
                    .iter()
                    .map(|t| {
                        let needle = match t {
                            Test::Lit { .. }
                            | Test::NumEq(_)
                            | Test::Pattern { gate: Some(_), .. } => {
                                needle_rule.push(NONE);
                                (needle_rule.len() - 1) as u32
                            }
                            _ => NONE,
                        };
                        let aux = match t {
                            Test::FieldRef { field, .. } => intern(field),
                            _ => NONE,
                        };
                        TestEntry {
                            test: t.clone(),
                            needle,
                            aux,
                        }
                    })
                    .collect();
                preds.push(Pred {
                    field,
                    tests,
                    all: p.all,
                    negate: p.negate,
                    exists: p.exists,
                });
            }
            conds.push(offset(&rule.program.cond, base as u32));
            rule_preds.push(base..preds.len());
            metas.push(rule.meta.clone());
            // A rule whose condition is false whenever none of its gated predicates
            // holds is triggered by their needles; otherwise it is always evaluated.
            let gated = |p: &Pred| {
                p.exists.is_none()
                    && !p.negate
                    && !p.tests.is_empty()
                    && p.tests.iter().all(|t| t.needle != NONE)
            };
            if kleene(&conds[ri], &|i| {
                if gated(&preds[i as usize]) {
                    K::F
                } else {
                    K::U
                }
            }) == K::F
            {
                for p in &preds[base..] {
                    if gated(p) {
                        for t in &p.tests {
                            needle_rule[t.needle as usize] = ri as u32;
                        }
                    }
                }
            }
        }
        let triggered: Vec<bool> = (0..conds.len())
            .map(|ri| {
                rule_preds[ri]
                    .clone()
                    .flat_map(|pi| preds[pi].tests.iter())
                    .any(|t| t.needle != NONE && needle_rule[t.needle as usize] == ri as u32)
            })
            .collect();

        let (schemas, classes) =
            mapping::compile_classes(mappings, routing == Routing::ByLogSource);
        let mut buckets = Vec::with_capacity(classes.len());
        for class in &classes {
            let keys: Vec<FieldKey> = fields
                .iter()
                .map(|f| mapping::resolve_field(mappings, class, f))
                .collect();
            let mut per_field: HashMap<u32, ScannerBuilder> = HashMap::new();
            let mut kw = ScannerBuilder::default();
            let mut always = Vec::new();
            let mut count = 0;
            for (ri, meta) in metas.iter().enumerate() {
                if routing == Routing::ByLogSource && !class.logsource.admits(&meta.logsource) {
                    continue;
                }
                count += 1;
                if !triggered[ri] {
                    always.push(ri as u32);
                }
                for p in &preds[rule_preds[ri].clone()] {
                    let b = match p.field {
                        Some(f) => per_field.entry(f).or_default(),
                        None => &mut kw,
                    };
                    p.tests.iter().for_each(|t| b.add(t));
                }
            }
            let mut scans: Vec<FieldScan> = per_field
                .into_iter()
                .map(|(field, b)| FieldScan {
                    field,
                    scanner: b.build(FIELD_DFA_BUDGET),
                })
                .collect();
            scans.sort_by_key(|s| s.field);
            let kw_empty = kw.ci.is_empty() && kw.cs.is_empty() && kw.nums.is_empty();
            buckets.push(Bucket {
                logsource: class.logsource.clone(),
                keys,
                scans,
                keywords: if kw_empty {
                    None
                } else {
                    Some(kw.build(KEYWORD_DFA_BUDGET))
                },
                always,
                rules: count,
            });
        }
        Engine {
            metas,
            preds,
            conds,
            needle_rule,
            schemas,
            buckets,
        }
    }

    /// Number of detection rules.
    pub fn len(&self) -> usize {
        self.metas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.metas.is_empty()
    }

    /// Metadata of rule `idx` (an index from [`Matches::rules`]).
    pub fn rule(&self, idx: u32) -> Option<&RuleMeta> {
        self.metas.get(idx as usize)
    }

    /// The log-source class `doc` falls in and how many rules run on it.
    pub fn classify<D: Document + ?Sized>(&self, doc: &D) -> (&LogSourceClass, usize) {
        let b = &self.buckets[self.bucket_of(doc)];
        (&b.logsource, b.rules)
    }

    fn bucket_of<D: Document + ?Sized>(&self, doc: &D) -> usize {
        for s in &self.schemas {
            match &s.detect {
                None => return s.classify(doc),
                Some(k) => {
                    let v = doc.field(k);
                    if !v.is_missing() {
                        return s.classify_detected(doc, v);
                    }
                }
            }
        }
        // The last schema conventionally detects everything; with none, nothing runs.
        self.buckets.len().saturating_sub(1)
    }

    /// Match `doc` against the rules of its class; the indices of matching rules are left
    /// in `out`, ascending.
    pub fn evaluate<D: Document + ?Sized>(&self, doc: &D, out: &mut Matches) {
        out.begin(self.needle_rule.len(), self.metas.len());
        if self.buckets.is_empty() {
            return;
        }
        let bucket = &self.buckets[self.bucket_of(doc)];
        let epoch = out.epoch;
        {
            let Matches {
                needle_seen,
                rule_seen,
                candidates,
                ..
            } = out;
            let mut hit = |n: u32| {
                needle_seen[n as usize] = epoch;
                let r = self.needle_rule[n as usize];
                if r != NONE && rule_seen[r as usize] != epoch {
                    rule_seen[r as usize] = epoch;
                    candidates.push(r);
                }
            };
            for scan in &bucket.scans {
                let v = doc.field(&bucket.keys[scan.field as usize]);
                scan_value(&scan.scanner, v, &mut hit);
            }
            if let Some(kw) = &bucket.keywords {
                doc.for_each_string(&mut |s| scan_str(kw, s, &mut hit));
            }
        }
        for &r in &bucket.always {
            if out.rule_seen[r as usize] != epoch {
                out.rule_seen[r as usize] = epoch;
                out.candidates.push(r);
            }
        }
        let mut i = 0;
        while i < out.candidates.len() {
            let r = out.candidates[i];
            let ev = Eval {
                engine: self,
                bucket,
                doc,
                seen: &out.needle_seen,
                epoch,
            };
            if ev.cond(&self.conds[r as usize]) {
                out.rules.push(r);
            }
            i += 1;
        }
        out.rules.sort_unstable();
    }
}

fn offset(c: &Cond, base: u32) -> Cond {
    match c {
        Cond::And(v) => Cond::And(v.iter().map(|x| offset(x, base)).collect()),
        Cond::Or(v) => Cond::Or(v.iter().map(|x| offset(x, base)).collect()),
        Cond::Not(x) => Cond::Not(Box::new(offset(x, base))),
        Cond::Pred(i) => Cond::Pred(i + base),
        Cond::AtLeast(n, v) => Cond::AtLeast(*n, v.iter().map(|x| offset(x, base)).collect()),
        Cond::Const(b) => Cond::Const(*b),
    }
}

fn kleene(c: &Cond, pred: &dyn Fn(u32) -> K) -> K {
    match c {
        Cond::Const(true) => K::T,
        Cond::Const(false) => K::F,
        Cond::Pred(i) => pred(*i),
        Cond::Not(x) => match kleene(x, pred) {
            K::T => K::F,
            K::F => K::T,
            K::U => K::U,
        },
        Cond::And(v) => {
            let mut r = K::T;
            for x in v {
                match kleene(x, pred) {
                    K::F => return K::F,
                    K::U => r = K::U,
                    K::T => {}
                }
            }
            r
        }
        Cond::Or(v) => {
            let mut r = K::F;
            for x in v {
                match kleene(x, pred) {
                    K::T => return K::T,
                    K::U => r = K::U,
                    K::F => {}
                }
            }
            r
        }
        Cond::AtLeast(n, v) => {
            let (mut t, mut u) = (0u64, 0u64);
            for x in v {
                match kleene(x, pred) {
                    K::T => t += 1,
                    K::U => u += 1,
                    K::F => {}
                }
            }
            if t >= *n {
                K::T
            } else if t + u >= *n {
                K::U
            } else {
                K::F
            }
        }
    }
}

#[inline]
fn scan_str(sc: &Scanner, s: &str, hit: &mut impl FnMut(u32)) {
    for (ac, refs) in [&sc.ci, &sc.cs].into_iter().flatten() {
        for m in ac.find_overlapping_iter(s) {
            for r in &refs[m.pattern().as_usize()] {
                let ok = match r.op {
                    StrOp::Contains => true,
                    StrOp::Exact => m.start() == 0 && m.end() == s.len(),
                    StrOp::StartsWith => m.start() == 0,
                    StrOp::EndsWith => m.end() == s.len(),
                };
                if ok {
                    hit(r.needle);
                }
            }
        }
    }
}

fn scan_value(sc: &Scanner, v: FieldRef<'_>, hit: &mut impl FnMut(u32)) {
    match v {
        FieldRef::Missing | FieldRef::Null | FieldRef::Object => {}
        FieldRef::List(items) => {
            for i in items {
                scan_value(sc, FieldRef::from_json(i), hit);
            }
        }
        _ => {
            if sc.ci.is_some() || sc.cs.is_some() {
                with_text(v, |s| scan_str(sc, s, hit));
            }
            if !sc.nums.is_empty()
                && let Some(x) = as_number(v)
                && let Some(ns) = sc.nums.get(&num_key(x))
            {
                ns.iter().for_each(|n| hit(*n));
            }
        }
    }
}

struct Eval<'a, D: ?Sized> {
    engine: &'a Engine,
    bucket: &'a Bucket,
    doc: &'a D,
    seen: &'a [u32],
    epoch: u32,
}

impl<D: Document + ?Sized> Eval<'_, D> {
    fn cond(&self, c: &Cond) -> bool {
        match c {
            Cond::Const(b) => *b,
            Cond::Pred(i) => self.pred(&self.engine.preds[*i as usize]),
            Cond::Not(x) => !self.cond(x),
            Cond::And(v) => v.iter().all(|x| self.cond(x)),
            Cond::Or(v) => v.iter().any(|x| self.cond(x)),
            Cond::AtLeast(n, v) => {
                let mut k = 0;
                v.iter().any(|x| {
                    if self.cond(x) {
                        k += 1;
                    }
                    k >= *n
                })
            }
        }
    }

    #[inline]
    fn seen(&self, n: u32) -> bool {
        n != NONE && self.seen[n as usize] == self.epoch
    }

    fn pred(&self, p: &Pred) -> bool {
        let Some(field) = p.field else {
            return self.keyword_pred(p);
        };
        let key = &self.bucket.keys[field as usize];
        if let Some(expect) = p.exists {
            let v = self.doc.field(key);
            return !matches!(v, FieldRef::Missing | FieldRef::Null) == expect;
        }
        // The value is fetched at most once, and only when a test needs it.
        let mut cached: Option<FieldRef<'_>> = None;
        let mut value = || *cached.get_or_insert_with(|| self.doc.field(key));
        let mut one = |t: &TestEntry| -> bool {
            match &t.test {
                Test::Lit { .. } | Test::NumEq(_) => self.seen(t.needle),
                Test::Pattern { gate: Some(_), .. } if !self.seen(t.needle) => false,
                Test::Null => matches!(value(), FieldRef::Missing | FieldRef::Null),
                test => {
                    let v = value();
                    !v.is_missing() && value::test_value(test, v, &|| self.aux(t.aux))
                }
            }
        };
        let r = if p.all {
            p.tests.iter().all(&mut one)
        } else {
            p.tests.iter().any(&mut one)
        };
        if p.negate {
            // `|neq` needs the field: an absent field is not "different".
            return !r && !value().is_missing();
        }
        r
    }

    fn aux(&self, field: u32) -> FieldRef<'_> {
        if field == NONE {
            return FieldRef::Missing;
        }
        self.doc.field(&self.bucket.keys[field as usize])
    }

    fn keyword_pred(&self, p: &Pred) -> bool {
        let one = |t: &TestEntry| -> bool {
            match &t.test {
                Test::Lit { .. } | Test::NumEq(_) => self.seen(t.needle),
                Test::Pattern { gate: Some(_), .. } if !self.seen(t.needle) => false,
                Test::Pattern { re, .. } | Test::Regex(re) => {
                    let mut found = false;
                    self.doc.for_each_string(&mut |s| {
                        if !found && re.is_match(s) {
                            found = true;
                        }
                    });
                    found
                }
                _ => false,
            }
        };
        let r = if p.all {
            p.tests.iter().all(one)
        } else {
            p.tests.iter().any(one)
        };
        r != p.negate
    }
}
