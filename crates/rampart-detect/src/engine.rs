//! The compiled multi-rule evaluator: rules bucketed by log-source class, literal needles of all rules gathered per field (and for keywords) into shared scanners, fields resolved in one pass per event, conditions evaluated only for rules whose needles were seen.

use crate::compile::{Cond, StrOp, Test};
use crate::document::{Document, FieldKey, FieldRef};
use crate::load::{RuleMeta, RuleSet};
use crate::mapping::{self, CompiledSchema, LogSourceClass, Mappings};
use crate::resolve::{self, PathTrie, Slots, first_value, path_value};
use crate::scan::{Method, Scanner, ScannerBuilder};
use crate::value;
use serde_json::{Map, Value};
use std::collections::HashMap;

const NONE: u32 = u32::MAX;

/// The keyword scan (over every string of every event of a class) uses the 3-gram
/// matcher; per-field automata are many more (one per field per class) and are left to
/// the automaton builder's choice.
const KEYWORD_SCAN: Method = Method::Grams;
const FIELD_SCAN: Method = Method::Automaton { dfa_budget: 0 };

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

fn add_test(b: &mut ScannerBuilder, t: &TestEntry) {
    if t.needle == NONE {
        return;
    }
    match &t.test {
        Test::Lit { op, text, ci } => b.add_lit(text, *ci, *op, t.needle),
        Test::Pattern {
            gate: Some((text, ci)),
            ..
        } => b.add_lit(text, *ci, StrOp::Contains, t.needle),
        Test::NumEq(n) => b.add_num(*n, t.needle),
        _ => {}
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
    /// The paths of the fields this class's rules read, for one-pass resolution of JSON
    /// events; `field_cands[field]` is the range of `cands` holding the field's candidate
    /// path ids (empty for fields no rule of the class reads).
    trie: PathTrie,
    field_cands: Vec<(u32, u32)>,
    cands: Vec<u32>,
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
    /// Per-event field slots (see `resolve`), kept empty between events so that their
    /// allocations are reused.
    route_slots: Slots<'static>,
    slots: Slots<'static>,
    /// The string leaves of a JSON event (the keyword haystack), likewise kept empty.
    strings: Vec<&'static str>,
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
    router: Router,
    buckets: Vec<Bucket>,
}

/// The paths that route a JSON event (every schema's detect, channel and event-id paths),
/// resolved in one pass.
#[derive(Debug, Default)]
struct Router {
    trie: PathTrie,
    /// Per schema: the path ids of its detect, channel and event-id paths (NONE: none).
    schemas: Vec<[u32; 3]>,
}

impl Router {
    fn new(schemas: &[CompiledSchema]) -> Router {
        let mut trie = PathTrie::default();
        let mut id = |k: &Option<FieldKey>| match k {
            Some(k) => {
                let mut ids = Vec::new();
                trie.intern_key(k, &mut ids);
                // Schema keys are single paths (`FieldKey::new`).
                ids.first().copied().unwrap_or(NONE)
            }
            None => NONE,
        };
        let schemas = schemas
            .iter()
            .map(|s| [id(&s.detect), id(&s.channel), id(&s.event_id)])
            .collect();
        Router { trie, schemas }
    }
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
            // Only the predicates of a trigger set make the rule a candidate: a set whose
            // predicates all being false makes the condition false. All gated predicates
            // form one when any does; the most common are then dropped while the rest
            // still falsify the condition, so `.exe` or an event id does not wake every
            // rule that also names them next to a rarer literal (`A and B` needs only
            // B's needles). The other needles are still scanned for the evaluation.
            let falsified = |set: &[usize]| {
                kleene(&conds[ri], &|i| {
                    if set.contains(&(i as usize)) {
                        K::F
                    } else {
                        K::U
                    }
                }) == K::F
            };
            let mut trigger: Vec<usize> =
                (base..preds.len()).filter(|&i| gated(&preds[i])).collect();
            if falsified(&trigger) {
                let mut common_first = trigger.clone();
                common_first.sort_by_key(|&i| rarity(&preds[i]));
                for p in common_first {
                    let without: Vec<usize> = trigger.iter().copied().filter(|&q| q != p).collect();
                    if falsified(&without) {
                        trigger = without;
                    }
                }
                for &pi in &trigger {
                    for t in &preds[pi].tests {
                        needle_rule[t.needle as usize] = ri as u32;
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
            let mut used = vec![false; fields.len()];
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
                    if let Some(f) = p.field {
                        used[f as usize] = true;
                    }
                    for t in &p.tests {
                        if t.aux != NONE {
                            used[t.aux as usize] = true;
                        }
                    }
                    let b = match p.field {
                        Some(f) => per_field.entry(f).or_default(),
                        None => &mut kw,
                    };
                    p.tests.iter().for_each(|t| add_test(b, t));
                }
            }
            let mut scans: Vec<FieldScan> = per_field
                .into_iter()
                .map(|(field, b)| FieldScan {
                    field,
                    scanner: b.build(FIELD_SCAN),
                })
                .collect();
            scans.sort_by_key(|s| s.field);
            let kw_empty = kw.is_empty();
            let mut trie = PathTrie::default();
            let mut cands = Vec::new();
            let field_cands = keys
                .iter()
                .zip(&used)
                .map(|(key, used)| {
                    let start = cands.len() as u32;
                    if *used {
                        trie.intern_key(key, &mut cands);
                    }
                    (start, cands.len() as u32 - start)
                })
                .collect();
            buckets.push(Bucket {
                logsource: class.logsource.clone(),
                keys,
                trie,
                field_cands,
                cands,
                scans,
                keywords: if kw_empty {
                    None
                } else {
                    Some(kw.build(KEYWORD_SCAN))
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
            router: Router::new(&schemas),
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

    /// [`bucket_of`](Self::bucket_of) for a JSON event, its routing paths resolved in one
    /// pass into `slots`.
    fn bucket_of_json<'a>(&self, root: &'a Map<String, Value>, slots: &mut Slots<'a>) -> usize {
        self.router.trie.fill(root, slots);
        let get = |id: u32| {
            if id == NONE {
                return FieldRef::Missing;
            }
            path_value(slots, id).map_or(FieldRef::Missing, FieldRef::from_json)
        };
        for (s, [detect, channel, event_id]) in self.schemas.iter().zip(&self.router.schemas) {
            if s.detect.is_none() || !get(*detect).is_missing() {
                return s.classify_values(get(*channel), || get(*event_id));
            }
        }
        self.buckets.len().saturating_sub(1)
    }

    /// Match `doc` against the rules of its class; the indices of matching rules are left
    /// in `out`, ascending.
    pub fn evaluate<D: Document + ?Sized>(&self, doc: &D, out: &mut Matches) {
        out.begin(self.needle_rule.len(), self.metas.len());
        if self.buckets.is_empty() {
            return;
        }
        let json = doc.as_json_object();
        let mut route_slots = resolve::recycle(std::mem::take(&mut out.route_slots));
        let mut slots = resolve::recycle(std::mem::take(&mut out.slots));
        let bucket = match json {
            Some(root) => &self.buckets[self.bucket_of_json(root, &mut route_slots)],
            None => &self.buckets[self.bucket_of(doc)],
        };
        let fields = match json {
            Some(root) => {
                bucket.trie.fill(root, &mut slots);
                Fields::Slots(&slots)
            }
            None => Fields::Doc(doc),
        };
        let mut strings = resolve::recycle_strs(std::mem::take(&mut out.strings));
        if let (Some(root), Some(_)) = (json, &bucket.keywords) {
            crate::document::collect_strings(root, &mut strings);
            // Every string is read before any is scanned.
            resolve::touch(strings.iter().copied());
        }
        self.run(doc, bucket, fields, json.map(|_| strings.as_slice()), out);
        out.route_slots = resolve::recycle(route_slots);
        out.slots = resolve::recycle(slots);
        out.strings = resolve::recycle_strs(strings);
    }

    fn run<D: Document + ?Sized>(
        &self,
        doc: &D,
        bucket: &Bucket,
        fields: Fields<'_, D>,
        strings: Option<&[&str]>,
        out: &mut Matches,
    ) {
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
                let v = fields.get(bucket, scan.field);
                scan.scanner.scan_value(v, &mut hit);
            }
            if let Some(kw) = &bucket.keywords {
                match strings {
                    Some(strings) => strings.iter().for_each(|s| kw.scan_str(s, &mut hit)),
                    None => doc.for_each_string(&mut |s| kw.scan_str(s, &mut hit)),
                }
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
                fields,
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

/// How rarely a gated predicate is expected to hold, for choosing trigger sets: longer
/// literals are rarer, whole-value equality rarer than a substring, numbers (event ids)
/// common. A predicate holds when any test does (every test, with `|all`).
fn rarity(p: &Pred) -> usize {
    let test = |t: &TestEntry| match &t.test {
        Test::Lit { op, text, .. } => text.len() + if *op == StrOp::Exact { 4 } else { 0 },
        Test::Pattern {
            gate: Some((g, _)), ..
        } => g.len(),
        _ => 0,
    };
    let each = p.tests.iter().map(test);
    if p.all { each.max() } else { each.min() }.unwrap_or(0)
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

/// Where the engine reads an event's fields: slots filled in one pass (JSON events), or
/// the document's own lookups.
enum Fields<'a, D: ?Sized> {
    Slots(&'a [Option<&'a Value>]),
    Doc(&'a D),
}

impl<D: ?Sized> Clone for Fields<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D: ?Sized> Copy for Fields<'_, D> {}

impl<'a, D: Document + ?Sized> Fields<'a, D> {
    #[inline]
    fn get(self, bucket: &Bucket, field: u32) -> FieldRef<'a> {
        match self {
            Fields::Slots(slots) => {
                let (start, n) = bucket.field_cands[field as usize];
                first_value(slots, &bucket.cands[start as usize..(start + n) as usize])
            }
            Fields::Doc(doc) => doc.field(&bucket.keys[field as usize]),
        }
    }
}

struct Eval<'a, D: ?Sized> {
    engine: &'a Engine,
    bucket: &'a Bucket,
    doc: &'a D,
    fields: Fields<'a, D>,
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
        if let Some(expect) = p.exists {
            let v = self.fields.get(self.bucket, field);
            return !matches!(v, FieldRef::Missing | FieldRef::Null) == expect;
        }
        // The value is fetched at most once, and only when a test needs it.
        let mut cached: Option<FieldRef<'_>> = None;
        let mut value = || *cached.get_or_insert_with(|| self.fields.get(self.bucket, field));
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
        self.fields.get(self.bucket, field)
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

#[cfg(test)]
mod trigger_tests {
    use super::*;
    use crate::LoadOptions;
    use serde_json::json;

    fn engine(condition: &str) -> Engine {
        let yaml = format!(
            "title: t\nid: t\nlogsource: {{product: test}}\ndetection:\n  common:\n    \
             Image|endswith: '.exe'\n  rare:\n    CommandLine|contains: 'sekurlsa::logonpasswords'\n  \
             condition: {condition}\n"
        );
        let (rules, diags) = RuleSet::from_yaml_str(&yaml, "t.yml", &LoadOptions::default());
        assert!(diags.is_empty(), "{diags:?}");
        Engine::with_routing(&rules, &Mappings::builtin(), Routing::AllRules)
    }

    /// (rule was a candidate, rule matched) for `event`.
    fn run(e: &Engine, event: &Value) -> (bool, bool) {
        let mut m = Matches::new();
        e.evaluate(event, &mut m);
        (!m.candidates.is_empty(), !m.is_empty())
    }

    #[test]
    fn a_conjunction_wakes_its_rule_only_on_the_rarer_needle() {
        let common = json!({"Image": "C:\\Windows\\cmd.exe", "CommandLine": "dir"});
        let both = json!({"Image": "C:\\m.exe", "CommandLine": "m sekurlsa::logonpasswords"});
        let rare = json!({"Image": "C:\\m.com", "CommandLine": "sekurlsa::logonpasswords"});
        let e = engine("common and rare");
        assert_eq!(
            run(&e, &common),
            (false, false),
            "'.exe' alone wakes nothing"
        );
        assert_eq!(run(&e, &both), (true, true));
        assert_eq!(run(&e, &rare), (true, false), "woken, then false");
        // Either side can make a disjunction true: both sides' needles wake it.
        let e = engine("common or rare");
        assert_eq!(run(&e, &common), (true, true));
        assert_eq!(run(&e, &rare), (true, true));
        // `rare and not common`: only `rare` can be the trigger.
        let e = engine("rare and not common");
        assert_eq!(run(&e, &common), (false, false));
        assert_eq!(run(&e, &rare), (true, true));
        assert_eq!(run(&e, &both), (true, false));
    }
}
