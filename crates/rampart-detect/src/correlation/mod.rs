//! Sigma correlation rules (v2.1) evaluated over the matches of the detection [`Engine`]: sliding windows per (correlation, group key), chaining, `generate`, memory bounds and restart-safe snapshots.
//!
//! The engine is fed one event at a time, after detection:
//!
//! ```
//! use rampart_detect::{CorrelationEngine, CorrelationOptions, Engine, LoadOptions, Mappings, Matches, RuleSet};
//! let yaml = "title: Failed login\nname: failed\nlogsource: {product: linux, service: sshd}\n\
//!             detection: {sel: {event.outcome: failure}, condition: sel}\n---\n\
//!             title: Brute force\ncorrelation: {type: event_count, rules: [failed],\n\
//!             group-by: [source.ip], timespan: 5m, condition: {gte: 3}}\n";
//! let (rules, _) = RuleSet::from_yaml_str(yaml, "inline", &LoadOptions::default());
//! let mappings = Mappings::builtin();
//! let engine = Engine::new(&rules, &mappings);
//! let (mut corr, diags) = CorrelationEngine::new(&rules, &engine, &mappings, CorrelationOptions::default());
//! assert!(diags.is_empty());
//! let mut m = Matches::new();
//! let mut fired = Vec::new();
//! for i in 0..3_i64 {
//!     let ev = serde_json::json!({"log": {"syslog": {"appname": "sshd"}},
//!         "event": {"outcome": "failure"}, "source": {"ip": "10.0.0.9"}});
//!     engine.evaluate(&ev, &mut m);
//!     fired.extend(corr.observe(&ev, i * 1_000_000_000, i as u128, &m));
//! }
//! assert_eq!(fired.len(), 1);
//! assert_eq!(fired[0].group, [("source.ip".to_owned(), "10.0.0.9".to_owned())]);
//! ```

mod fields;
mod snapshot;
mod spec;
mod state;

pub use snapshot::RestoreReport;
pub use spec::{
    CorrelationCondition, CorrelationKind, CorrelationSpec, GroupField, TemporalExpr, ThresholdOp,
};

use crate::document::Document;
use crate::engine::{Engine, Matches};
use crate::load::{Diagnostic, RuleMeta, RuleSet};
use crate::mapping::{self, Mappings};
use fields::{FieldTable, decode_key, fnv1a, number, render};
use state::{Check, Entry, Group, PosExpr};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

const NANOS: i64 = 1_000_000_000;

/// Bounds and behaviour of a [`CorrelationEngine`].
#[derive(Debug, Clone)]
pub struct CorrelationOptions {
    /// Most (correlation, group key) states kept at once, all correlations together.
    /// When reached, expired states are swept; if none can go, the new group is refused
    /// and counted in [`CorrelationStats::groups_refused`].
    pub max_groups: usize,
    /// Most entries in one group's window (times, values, rule matches). Counts of
    /// `event_count` stay exact (the oldest entries merge); other types drop the oldest
    /// entries, counted in [`CorrelationStats::entries_truncated`].
    pub max_entries_per_group: usize,
    /// Most event references kept per group and reported with a firing (newest kept).
    pub max_event_refs: usize,
    /// Events older than the newest correlated event minus this are not correlated
    /// ([`CorrelationStats::late_events`]); within it, they are placed in time order.
    pub max_lateness_seconds: u64,
    /// After a firing, the same (correlation, group) does not fire again for this long
    /// (rsigma's `suppress`). `None`: every event that meets the condition fires.
    pub suppress_seconds: Option<u64>,
    /// Sweep expired groups every this many observed events.
    pub sweep_every: u64,
}

impl Default for CorrelationOptions {
    fn default() -> Self {
        CorrelationOptions {
            max_groups: 65_536,
            max_entries_per_group: 1_024,
            max_event_refs: 16,
            max_lateness_seconds: 300,
            suppress_seconds: None,
            sweep_every: 4_096,
        }
    }
}

/// Counters of what the bounds did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CorrelationStats {
    /// Group states held now.
    pub groups: usize,
    /// New groups refused because `max_groups` was reached.
    pub groups_refused: u64,
    /// Groups dropped because their window had passed.
    pub groups_expired: u64,
    /// Window entries dropped or merged by `max_entries_per_group`.
    pub entries_truncated: u64,
    /// Matches older than the lateness tolerance (or than their group's window).
    pub late_events: u64,
    /// Matches without a value for a `group-by` field (not correlated, as backends do).
    pub ungrouped: u64,
    /// Firings held back by `suppress_seconds`.
    pub suppressed: u64,
    pub firings: u64,
}

impl CorrelationStats {
    /// Add `o`'s counters to these (totals over several engines).
    pub fn add(&mut self, o: &CorrelationStats) {
        self.groups += o.groups;
        self.groups_refused += o.groups_refused;
        self.groups_expired += o.groups_expired;
        self.entries_truncated += o.entries_truncated;
        self.late_events += o.late_events;
        self.ungrouped += o.ungrouped;
        self.suppressed += o.suppressed;
        self.firings += o.firings;
    }
}

/// A correlation rule that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationFiring {
    /// Index of the correlation (for [`CorrelationEngine::rule`]).
    pub correlation: usize,
    /// Its metadata: id, title, level, tags …
    pub rule: Arc<RuleMeta>,
    pub kind: CorrelationKind,
    /// `group-by` names (aliases as written) and the group's values.
    pub group: Vec<(String, String)>,
    /// Time of the oldest entry in the window, and of the event that fired it (ns).
    pub window_start_nanos: i64,
    pub window_end_nanos: i64,
    /// The aggregated value the condition held for (count, distinct count, sum …).
    pub value: f64,
    /// References of the newest contributing events (bounded), oldest first.
    pub event_refs: Vec<u128>,
    /// Whether the firing is an alert on its own: false when it only feeds correlations
    /// that reference it without `generate: true`.
    pub emit: bool,
}

/// What a correlation's `rules:` entry resolved to.
#[derive(Debug, Clone, Default)]
struct Target {
    detections: Vec<u32>,
    correlations: Vec<usize>,
    /// The reference as written plus the ids and names of its targets (for aliases).
    identities: Vec<String>,
}

#[derive(Debug)]
struct Compiled {
    rule: Arc<RuleMeta>,
    /// Stable identity in snapshots: id, else name, else title (made unique).
    identity: String,
    kind: CorrelationKind,
    timespan: i64,
    refs: Vec<String>,
    group_names: Vec<String>,
    /// Per reference position, per group-by entry: the interned field.
    group_fields: Vec<Vec<u32>>,
    /// Per reference position: the interned value field(s).
    value_fields: Vec<Vec<u32>>,
    check: Check,
    percentile: f64,
    parents: Vec<(u32, u16)>,
    emit: bool,
    enabled: bool,
    groups: foldhash::HashMap<Box<str>, Group>,
}

/// Where the fields of one correlation update come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    Event,
    /// A firing of a referenced correlation: its group values first, then the event.
    Chained(&'a [(String, String)]),
}

/// Stateful evaluator of the correlation rules of a [`RuleSet`].
#[derive(Debug)]
pub struct CorrelationEngine {
    options: CorrelationOptions,
    fields: FieldTable,
    correlations: Vec<Compiled>,
    /// Detection rule index → (correlation, reference position) it feeds.
    by_rule: Vec<Vec<(u32, u16)>>,
    detection_emit: Vec<bool>,
    watermark: Option<i64>,
    last_sweep: Option<i64>,
    observed: u64,
    stats: CorrelationStats,
    // Scratch buffers reused across events.
    work: Vec<(u32, u16)>,
    key_buf: String,
    value_buf: String,
}

impl CorrelationEngine {
    /// Compile the correlation rules of `rules` against the detection rules of `engine`
    /// (built from the same set) and the `mappings` it was built with. Correlations that
    /// cannot run (missing references, cycles, unsupported forms) are disabled and
    /// reported; the others run.
    pub fn new(
        rules: &RuleSet,
        engine: &Engine,
        mappings: &Mappings,
        options: CorrelationOptions,
    ) -> (CorrelationEngine, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let metas = rules.correlations();
        let (schemas, classes) = mapping::compile_classes(mappings, true);
        let mut fields = FieldTable {
            schemas,
            names: Vec::new(),
            ids: HashMap::new(),
            keys: Vec::new(),
            classes: classes.len(),
        };
        let diag = |m: &RuleMeta, category: &str, reason: String| Diagnostic {
            path: m.path.clone().unwrap_or_default(),
            rule: Some(m.id.clone().unwrap_or_else(|| m.title.clone())),
            category: category.to_owned(),
            reason,
        };

        // Resolve every reference to detection rules and correlations.
        let mut targets: Vec<Vec<Target>> = Vec::with_capacity(metas.len());
        let mut enabled = vec![true; metas.len()];
        for (ci, c) in metas.iter().enumerate() {
            if let Some(why) = &c.spec.unsupported {
                diags.push(diag(&c.meta, "unsupported", why.clone()));
                enabled[ci] = false;
            }
            let mut per_ref = Vec::new();
            for r in &c.rules {
                let mut t = Target {
                    identities: vec![r.clone()],
                    ..Target::default()
                };
                for idx in 0..engine.len() as u32 {
                    if let Some(m) = engine.rule(idx)
                        && (m.id.as_deref() == Some(r) || m.name.as_deref() == Some(r))
                    {
                        t.detections.push(idx);
                        t.identities
                            .extend(m.id.iter().chain(m.name.iter()).cloned());
                    }
                }
                for (oi, o) in metas.iter().enumerate() {
                    if oi != ci
                        && (o.meta.id.as_deref() == Some(r) || o.meta.name.as_deref() == Some(r))
                    {
                        t.correlations.push(oi);
                        t.identities
                            .extend(o.meta.id.iter().chain(o.meta.name.iter()).cloned());
                    }
                }
                if t.detections.is_empty() && t.correlations.is_empty() {
                    diags.push(diag(
                        &c.meta,
                        "correlation",
                        format!("references '{r}', which is no loaded rule's id or name"),
                    ));
                    enabled[ci] = false;
                }
                per_ref.push(t);
            }
            if c.rules.is_empty() {
                diags.push(diag(&c.meta, "correlation", "references no rule".into()));
                enabled[ci] = false;
            }
            targets.push(per_ref);
        }
        // Cycles, then disabled references, disable correlations (until stable).
        for ci in 0..metas.len() {
            if enabled[ci] && reaches(ci, ci, &targets, &mut vec![false; metas.len()]) {
                diags.push(diag(
                    &metas[ci].meta,
                    "correlation",
                    "is part of a cycle of correlation references".into(),
                ));
                enabled[ci] = false;
            }
        }
        let mut changed = true;
        while changed {
            changed = false;
            for ci in 0..metas.len() {
                if enabled[ci]
                    && let Some(off) = targets[ci]
                        .iter()
                        .flat_map(|t| &t.correlations)
                        .find(|o| !enabled[**o])
                {
                    diags.push(diag(
                        &metas[ci].meta,
                        "correlation",
                        format!(
                            "references correlation '{}', which cannot run",
                            metas[*off].meta.title
                        ),
                    ));
                    enabled[ci] = false;
                    changed = true;
                }
            }
        }

        let mut compiled: Vec<Compiled> = Vec::with_capacity(metas.len());
        let mut identities: HashMap<String, usize> = HashMap::new();
        for (ci, c) in metas.iter().enumerate() {
            let spec = &c.spec;
            let ids: Vec<Vec<&str>> = targets[ci]
                .iter()
                .map(|t| t.identities.iter().map(String::as_str).collect())
                .collect();
            let group_fields = ids
                .iter()
                .map(|idents| {
                    spec.group_by
                        .iter()
                        .map(|g| fields.intern(g.field_for(idents)))
                        .collect()
                })
                .collect();
            let value_fields = ids
                .iter()
                .map(|_| spec.fields.iter().map(|f| fields.intern(f)).collect())
                .collect();
            let check = match &spec.condition {
                CorrelationCondition::Threshold(p) => {
                    Check::Threshold(p.iter().map(|(o, v)| (*o, *v as f64)).collect())
                }
                CorrelationCondition::AllRules => Check::AllRules,
                CorrelationCondition::Expression(e) => Check::Expr(pos_expr(e, &c.rules)),
            };
            let base = c
                .meta
                .id
                .clone()
                .or_else(|| c.meta.name.clone())
                .unwrap_or_else(|| c.meta.title.clone());
            let n = identities.entry(base.clone()).or_insert(0);
            *n += 1;
            let identity = if *n == 1 { base } else { format!("{base}#{n}") };
            compiled.push(Compiled {
                rule: Arc::new(c.meta.clone()),
                identity,
                kind: spec.kind,
                timespan: i64::try_from(c.timespan_seconds)
                    .unwrap_or(i64::MAX / NANOS)
                    .saturating_mul(NANOS),
                refs: c.rules.clone(),
                group_names: spec.group_by.iter().map(|g| g.name.clone()).collect(),
                group_fields,
                value_fields,
                check,
                percentile: spec.percentile as f64,
                parents: Vec::new(),
                emit: true,
                enabled: enabled[ci],
                groups: foldhash::HashMap::default(),
            });
        }

        // Wiring: detections and correlations to the correlations that reference them,
        // and `generate` (a referenced rule is an alert on its own only when one of the
        // enabled correlations referencing it says `generate: true`).
        let mut by_rule = vec![Vec::new(); engine.len()];
        let mut detection_refs: Vec<Option<bool>> = vec![None; engine.len()];
        let mut corr_refs: Vec<Option<bool>> = vec![None; metas.len()];
        for (ci, c) in metas.iter().enumerate() {
            if !enabled[ci] {
                continue;
            }
            for (pos, t) in targets[ci].iter().enumerate() {
                let pos = pos as u16;
                for d in &t.detections {
                    by_rule[*d as usize].push((ci as u32, pos));
                    let e = &mut detection_refs[*d as usize];
                    *e = Some(e.unwrap_or(false) || c.generate);
                }
                for o in &t.correlations {
                    compiled[*o].parents.push((ci as u32, pos));
                    let e = &mut corr_refs[*o];
                    *e = Some(e.unwrap_or(false) || c.generate);
                }
            }
        }
        for (ci, r) in corr_refs.iter().enumerate() {
            compiled[ci].emit = r.unwrap_or(true);
        }
        let detection_emit = detection_refs.iter().map(|r| r.unwrap_or(true)).collect();

        let n = fields.names.len();
        fields.keys = classes
            .iter()
            .flat_map(|class| (0..n).map(move |f| (class, f)))
            .map(|(class, f)| mapping::resolve_field(mappings, class, &fields.names[f]))
            .collect();

        (
            CorrelationEngine {
                options,
                fields,
                correlations: compiled,
                by_rule,
                detection_emit,
                watermark: None,
                last_sweep: None,
                observed: 0,
                stats: CorrelationStats::default(),
                work: Vec::new(),
                key_buf: String::new(),
                value_buf: String::new(),
            },
            diags,
        )
    }

    /// Number of correlation rules (enabled or not).
    pub fn len(&self) -> usize {
        self.correlations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.correlations.is_empty()
    }

    /// Metadata of correlation `idx` (a [`CorrelationFiring::correlation`]).
    pub fn rule(&self, idx: usize) -> Option<&RuleMeta> {
        self.correlations.get(idx).map(|c| &*c.rule)
    }

    /// Whether correlation `idx` runs (its references resolved and it is supported).
    pub fn is_enabled(&self, idx: usize) -> bool {
        self.correlations.get(idx).is_some_and(|c| c.enabled)
    }

    /// Whether a match of detection rule `rule_idx` should be emitted on its own: true
    /// unless the rule is referenced only by correlations without `generate: true`.
    pub fn emits_detection(&self, rule_idx: u32) -> bool {
        self.detection_emit
            .get(rule_idx as usize)
            .copied()
            .unwrap_or(true)
    }

    pub fn stats(&self) -> CorrelationStats {
        CorrelationStats {
            groups: self.group_count(),
            ..self.stats.clone()
        }
    }

    fn group_count(&self) -> usize {
        self.correlations.iter().map(|c| c.groups.len()).sum()
    }

    /// Feed one event with the detection matches `engine.evaluate` left in `matches`.
    /// `ts_nanos` is the event's time (Unix ns): event time drives the windows.
    /// `event_ref` identifies the event in firings (e.g. a UUID as `u128`). Returns the
    /// correlations that fired, chained ones after the ones they feed.
    pub fn observe<D: Document + ?Sized>(
        &mut self,
        doc: &D,
        ts_nanos: i64,
        event_ref: u128,
        matches: &Matches,
    ) -> Vec<CorrelationFiring> {
        let mut out = Vec::new();
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        for r in matches.rules() {
            if let Some(list) = self.by_rule.get(*r as usize) {
                work.extend_from_slice(list);
            }
        }
        if work.is_empty() {
            self.work = work;
            return out;
        }
        self.advance(ts_nanos);
        let lateness = i64::try_from(self.options.max_lateness_seconds)
            .unwrap_or(i64::MAX / NANOS)
            .saturating_mul(NANOS);
        if self
            .watermark
            .is_some_and(|w| ts_nanos < w.saturating_sub(lateness))
        {
            self.stats.late_events += work.len() as u64;
            self.work = work;
            return out;
        }
        work.sort_unstable();
        work.dedup();
        let class = self.fields.classify(doc);
        for &(c, pos) in &work {
            if let Some(f) = self.update(
                c as usize,
                pos as usize,
                Source::Event,
                doc,
                class,
                ts_nanos,
                event_ref,
            ) {
                out.push(f);
            }
        }
        // Chaining, breadth first: firings feed the correlations that reference them.
        let mut i = 0;
        while i < out.len() {
            let parents = self.correlations[out[i].correlation].parents.clone();
            if !parents.is_empty() {
                let pairs = out[i].group.clone();
                for (p, pos) in parents {
                    if let Some(f) = self.update(
                        p as usize,
                        pos as usize,
                        Source::Chained(&pairs),
                        doc,
                        class,
                        ts_nanos,
                        event_ref,
                    ) {
                        out.push(f);
                    }
                }
            }
            i += 1;
        }
        self.work = work;
        out
    }

    /// Move the watermark and sweep expired groups now and then.
    fn advance(&mut self, ts: i64) {
        self.watermark = Some(self.watermark.map_or(ts, |w| w.max(ts)));
        self.observed += 1;
        if self.options.sweep_every > 0 && self.observed.is_multiple_of(self.options.sweep_every) {
            self.sweep();
        }
    }

    /// Drop the groups no event within the lateness tolerance can reach any more.
    fn sweep(&mut self) {
        let Some(w) = self.watermark else {
            return;
        };
        self.last_sweep = Some(w);
        let lateness = i64::try_from(self.options.max_lateness_seconds)
            .unwrap_or(i64::MAX / NANOS)
            .saturating_mul(NANOS);
        let mut expired = 0;
        for c in &mut self.correlations {
            let horizon = w.saturating_sub(lateness).saturating_sub(c.timespan);
            let before = c.groups.len();
            c.groups.retain(|_, g| g.newest >= horizon);
            expired += (before - c.groups.len()) as u64;
        }
        self.stats.groups_expired += expired;
    }

    /// Write the value of `field` (for reference position `pos`) into `out`.
    fn value_of<D: Document + ?Sized>(
        fields: &FieldTable,
        field: u32,
        source: Source<'_>,
        doc: &D,
        class: usize,
        out: &mut String,
    ) -> bool {
        if let Source::Chained(pairs) = source
            && let Some(name) = fields.names.get(field as usize)
            && let Some((_, v)) = pairs.iter().find(|(k, _)| k == name)
        {
            out.push_str(v);
            return true;
        }
        match fields.key(class, field) {
            Some(k) => render(doc.field(k), out),
            None => false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn update<D: Document + ?Sized>(
        &mut self,
        ci: usize,
        pos: usize,
        source: Source<'_>,
        doc: &D,
        class: usize,
        ts: i64,
        event_ref: u128,
    ) -> Option<CorrelationFiring> {
        let mut key = std::mem::take(&mut self.key_buf);
        let mut val = std::mem::take(&mut self.value_buf);
        let result = self.update_with(
            ci, pos, source, doc, class, ts, event_ref, &mut key, &mut val,
        );
        self.key_buf = key;
        self.value_buf = val;
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn update_with<D: Document + ?Sized>(
        &mut self,
        ci: usize,
        pos: usize,
        source: Source<'_>,
        doc: &D,
        class: usize,
        ts: i64,
        event_ref: u128,
        key: &mut String,
        val: &mut String,
    ) -> Option<CorrelationFiring> {
        let total_groups = self.group_count();
        let c = self.correlations.get(ci)?;
        if !c.enabled {
            return None;
        }
        // The group key: every group-by field must have a value.
        key.clear();
        for &f in c.group_fields.get(pos)? {
            val.clear();
            if !Self::value_of(&self.fields, f, source, doc, class, val) {
                self.stats.ungrouped += 1;
                return None;
            }
            let _ = write!(key, "{}:", val.len());
            key.push_str(val);
        }
        // What the event adds to the window.
        let entry = match c.kind {
            CorrelationKind::EventCount => Entry::Event,
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => Entry::Rule(pos),
            CorrelationKind::ValueCount => {
                val.clear();
                let mut ok = true;
                for (i, &f) in c.value_fields.get(pos)?.iter().enumerate() {
                    if i > 0 {
                        val.push('\u{1f}');
                    }
                    ok &= Self::value_of(&self.fields, f, source, doc, class, val);
                }
                if ok {
                    Entry::Hash(fnv1a(val.as_bytes()))
                } else {
                    Entry::Nothing
                }
            }
            _ => {
                let f = *c.value_fields.get(pos)?.first()?;
                match self.fields.key(class, f).map(|k| doc.field(k)) {
                    Some(v) => number(v)
                        .filter(|x| x.is_finite())
                        .map_or(Entry::Nothing, Entry::Number),
                    None => Entry::Nothing,
                }
            }
        };
        let (kind, n_refs, timespan) = (c.kind, c.refs.len(), c.timespan);
        if !c.groups.contains_key(key.as_str()) {
            if total_groups >= self.options.max_groups {
                if self.last_sweep != self.watermark {
                    self.sweep();
                }
                if self.group_count() >= self.options.max_groups {
                    self.stats.groups_refused += 1;
                    return None;
                }
            }
            self.correlations[ci]
                .groups
                .insert(key.as_str().into(), Group::new(kind, n_refs, ts));
        }
        let opts = &self.options;
        let c = &mut self.correlations[ci];
        let g = c.groups.get_mut(key.as_str())?;
        let cutoff = g.newest.max(ts).saturating_sub(timespan);
        if ts < cutoff {
            self.stats.late_events += 1;
            return None;
        }
        g.newest = g.newest.max(ts);
        g.evict(cutoff);
        self.stats.entries_truncated += g.window.record(ts, entry, opts.max_entries_per_group);
        g.push_ref(ts, event_ref, opts.max_event_refs);
        let value = g.window.evaluate(kind, &c.check, c.percentile)?;
        if let Some(s) = opts.suppress_seconds
            && let Some(last) = g.last_fired
            && ts.saturating_sub(last)
                < i64::try_from(s)
                    .unwrap_or(i64::MAX / NANOS)
                    .saturating_mul(NANOS)
        {
            self.stats.suppressed += 1;
            return None;
        }
        g.last_fired = Some(ts);
        self.stats.firings += 1;
        let values = decode_key(key).unwrap_or_default();
        Some(CorrelationFiring {
            correlation: ci,
            rule: Arc::clone(&c.rule),
            kind,
            group: c
                .group_names
                .iter()
                .zip(values)
                .map(|(n, v)| (n.clone(), v.to_owned()))
                .collect(),
            window_start_nanos: g.window.earliest().unwrap_or(ts),
            window_end_nanos: ts,
            value,
            event_refs: g.event_refs(),
            emit: c.emit,
        })
    }
}

/// Whether correlation `from` reaches `to` through correlation references.
fn reaches(from: usize, to: usize, targets: &[Vec<Target>], seen: &mut Vec<bool>) -> bool {
    for t in &targets[from] {
        for &o in &t.correlations {
            if o == to {
                return true;
            }
            if !seen[o] {
                seen[o] = true;
                if reaches(o, to, targets, seen) {
                    return true;
                }
            }
        }
    }
    false
}

fn pos_expr(e: &TemporalExpr, refs: &[String]) -> PosExpr {
    match e {
        TemporalExpr::Rule(r) => PosExpr::Rule(refs.iter().position(|x| x == r)),
        TemporalExpr::And(v) => PosExpr::And(v.iter().map(|x| pos_expr(x, refs)).collect()),
        TemporalExpr::Or(v) => PosExpr::Or(v.iter().map(|x| pos_expr(x, refs)).collect()),
        TemporalExpr::Not(x) => PosExpr::Not(Box::new(pos_expr(x, refs))),
    }
}
