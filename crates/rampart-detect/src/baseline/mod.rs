//! Behavioural baselines: per-entity metrics (count, sum, distinct values, first-seen values) bucketed in event time, judged against a robust baseline of the entity's own history, with bounded memory and restart-safe snapshots.
//!
//! A baseline rule selects events with a Sigma `detection`, groups them by `entity`
//! fields and measures a `metric` per `bucket`. When a bucket closes, its value is
//! compared with the median of the entity's last `history` buckets (silent buckets count
//! as 0) in units of a robust spread (MAD); see the crate README, "Baselines".
//!
//! ```
//! use rampart_detect::baseline::{BaselineEngine, BaselineOptions, BaselineSet};
//! use rampart_detect::{LoadOptions, Mappings};
//! let yaml = "title: Unusual logins\nid: 6c3f6f0e-0000-4000-8000-000000000000\nlevel: low\n\
//!             detection: {sel: {event.action: login}, condition: sel}\n\
//!             entity: user.name\nmetric: count\nbucket: 1h\ntraining: 1d\n";
//! let (rules, diags) = BaselineSet::from_yaml_str(yaml, "inline", &LoadOptions::default());
//! assert!(diags.is_empty(), "{diags:?}");
//! let (mut engine, diags) =
//!     BaselineEngine::new(&rules, &Mappings::builtin(), BaselineOptions::default());
//! assert!(diags.is_empty());
//! const HOUR: i64 = 3_600_000_000_000;
//! let login = serde_json::json!({"event": {"action": "login"}, "user": {"name": "bob"}});
//! let mut anomalies = Vec::new();
//! for hour in 0..48 {
//!     // Two logins an hour, then 40 in hour 40.
//!     let n = if hour == 40 { 40 } else { 2 };
//!     for i in 0..n {
//!         anomalies.extend(engine.observe(&login, hour * HOUR + i * 1_000_000_000, 0));
//!     }
//! }
//! anomalies.extend(engine.tick(48 * HOUR + 120_000_000_000));
//! assert_eq!(anomalies.len(), 1);
//! assert_eq!(anomalies[0].observed, 40.0);
//! assert_eq!(anomalies[0].expected, 2.0);
//! ```

mod rule;
mod snapshot;
mod state;
pub mod stats;

pub use rule::{
    BaselineRule, BaselineSet, Direction, MAX_HISTORY, Metric, Threshold, parse_duration,
};
pub use snapshot::{RestoreReport, SNAPSHOT_VERSION};

use crate::document::{Document, FieldKey, FieldRef};
use crate::engine::{Engine, Matches};
use crate::load::{Diagnostic, RuleMeta, RuleSet};
use crate::mapping::{self, CompiledSchema, Mappings};
use state::{Bounds, Closed, Contribution, Effects, Entity};
use std::fmt::Write as _;
use std::sync::Arc;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Bounds and behaviour of a [`BaselineEngine`].
#[derive(Debug, Clone)]
pub struct BaselineOptions {
    /// Most entities tracked per rule. A new entity beyond it is refused (its events are
    /// not measured) and counted in [`BaselineStats::entities_refused`]; entities silent
    /// for the rule's `retention` are forgotten to make room.
    pub max_entities_per_rule: usize,
    /// Most event references kept per bucket and reported with an anomaly (newest kept).
    pub max_event_refs: usize,
    /// Most distinct values counted in one bucket of a `distinct` metric; beyond it the
    /// count stays at the cap ([`BaselineStats::distinct_saturated`]).
    pub max_distinct_per_bucket: usize,
    /// Most values remembered per entity of a `first_seen` metric; the least recently seen
    /// is forgotten first ([`BaselineStats::first_seen_evicted`]) and would alert again.
    pub max_first_seen_values: usize,
    /// A bucket closes when event time has passed its end by this much, so that events a
    /// little out of order still count. Older events are late ([`BaselineStats::late_events`]).
    pub lateness_seconds: u64,
}

impl Default for BaselineOptions {
    fn default() -> Self {
        BaselineOptions {
            max_entities_per_rule: 50_000,
            max_event_refs: 16,
            max_distinct_per_bucket: 10_000,
            max_first_seen_values: 1_024,
            lateness_seconds: 60,
        }
    }
}

/// Counters of what the engine did and what its bounds refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BaselineStats {
    /// Entities held now.
    pub entities: usize,
    /// Selected events measured.
    pub events: u64,
    /// New entities refused because `max_entities_per_rule` was reached.
    pub entities_refused: u64,
    /// Entities forgotten after `retention` of silence.
    pub entities_expired: u64,
    /// Events for buckets that had already closed.
    pub late_events: u64,
    /// Selected events without a value for an entity field (not measured).
    pub no_entity: u64,
    /// Selected events without a usable metric value (no number for `sum`, no value for
    /// `distinct` / `first_seen`).
    pub no_value: u64,
    /// Distinct values not counted because a bucket held `max_distinct_per_bucket`.
    pub distinct_saturated: u64,
    /// Values forgotten because an entity held `max_first_seen_values`.
    pub first_seen_evicted: u64,
    /// Buckets closed (silent ones included).
    pub buckets_closed: u64,
    pub anomalies: u64,
}

impl BaselineStats {
    /// Add `o`'s counters to these (totals over several engines).
    pub fn add(&mut self, o: &BaselineStats) {
        self.entities += o.entities;
        self.events += o.events;
        self.entities_refused += o.entities_refused;
        self.entities_expired += o.entities_expired;
        self.late_events += o.late_events;
        self.no_entity += o.no_entity;
        self.no_value += o.no_value;
        self.distinct_saturated += o.distinct_saturated;
        self.first_seen_evicted += o.first_seen_evicted;
        self.buckets_closed += o.buckets_closed;
        self.anomalies += o.anomalies;
    }
}

/// What made a bucket or an event unusual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// The bucket's value is far above the baseline.
    High,
    /// The bucket's value is far below the baseline.
    Low,
    /// The entity had a value it never had before.
    FirstSeen,
}

/// An unusual bucket (or, for `first_seen`, an unusual event).
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// Index of the rule (for [`BaselineEngine::rule`]).
    pub rule_index: usize,
    /// Its metadata: id, title, level, tags …
    pub rule: Arc<RuleMeta>,
    pub kind: AnomalyKind,
    /// `entity` field names and the entity's values.
    pub entity: Vec<(String, String)>,
    /// `first_seen`: the metric field names and the new values; empty otherwise.
    pub value: Vec<(String, String)>,
    /// The bucket judged, `[start, end)` in Unix ns. `first_seen`: the bucket of the event.
    pub bucket_start_nanos: i64,
    pub bucket_end_nanos: i64,
    /// The bucket's value (count, sum, distinct count). `first_seen`: 1.
    pub observed: f64,
    /// The baseline: the median of the history window. `first_seen`: 0.
    pub expected: f64,
    /// The robust spread deviations are measured in. `first_seen`: 0.
    pub spread: f64,
    /// `(observed - expected) / spread`. `first_seen`: 0.
    pub score: f64,
    /// Buckets in the history window the bucket was judged against. `first_seen`: the
    /// entity's age in buckets.
    pub history_buckets: usize,
    /// References of the newest contributing events (bounded), oldest first.
    pub event_refs: Vec<u128>,
}

/// Sigma field names used by the rules, resolved per event class like the Sigma
/// engine's, with the name itself as a last resort (ECS fields rampart-parse adds to
/// EVTX events are found even though the Windows schema maps names into `EventData`).
#[derive(Debug)]
struct FieldTable {
    schemas: Vec<CompiledSchema>,
    classes: usize,
    names: Vec<String>,
    /// `keys[class * names.len() + field]`.
    keys: Vec<FieldKey>,
}

impl FieldTable {
    fn intern(names: &mut Vec<String>, name: &str) -> u32 {
        if let Some(i) = names.iter().position(|n| n == name) {
            return i as u32;
        }
        names.push(name.to_owned());
        (names.len() - 1) as u32
    }

    fn classify<D: Document + ?Sized>(&self, doc: &D) -> usize {
        for s in &self.schemas {
            let present = match &s.detect {
                None => true,
                Some(k) => !doc.field(k).is_missing(),
            };
            if present {
                return s.classify(doc);
            }
        }
        self.classes.saturating_sub(1)
    }

    fn key(&self, class: usize, field: u32) -> Option<&FieldKey> {
        self.keys.get(class * self.names.len() + field as usize)
    }
}

#[derive(Debug)]
struct RuleState {
    rule: BaselineRule,
    meta: Arc<RuleMeta>,
    /// Unique identity in snapshots.
    identity: String,
    entity_fields: Vec<u32>,
    metric_fields: Vec<u32>,
    /// Newest event time seen by the rule (or given to `tick`).
    watermark: Option<i64>,
    /// Every bucket before this index is closed.
    closed_before: Option<i64>,
    entities: foldhash::HashMap<Box<str>, Entity>,
    stats: BaselineStats,
}

impl RuleState {
    fn fingerprint(&self) -> String {
        format!(
            "{:?}|{:?}|{}",
            self.rule.entity, self.rule.metric, self.rule.bucket_nanos
        )
    }
}

/// Stateful evaluator of the rules of a [`BaselineSet`].
#[derive(Debug)]
pub struct BaselineEngine {
    options: BaselineOptions,
    filter: Engine,
    /// Sigma rule index in `filter` → baseline rule index.
    by_filter: Vec<usize>,
    fields: FieldTable,
    rules: Vec<RuleState>,
    matches: Matches,
    key_buf: String,
    value_buf: String,
    field_buf: String,
    scratch: Vec<f64>,
}

impl BaselineEngine {
    /// An engine for `rules`, fields resolved through `mappings`. A rule whose identity
    /// repeats another's is renamed (`<id>#2`) so that snapshots keep them apart, and
    /// reported.
    pub fn new(
        rules: &BaselineSet,
        mappings: &Mappings,
        options: BaselineOptions,
    ) -> (BaselineEngine, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut combined = RuleSet::default();
        let mut by_filter = Vec::new();
        let mut states = Vec::new();
        let mut names = Vec::new();
        for r in &rules.rules {
            let n = r.filter.len();
            if n != 1 {
                diags.push(Diagnostic {
                    path: r.meta.path.clone().unwrap_or_default(),
                    rule: Some(r.identity().to_owned()),
                    category: "detection".into(),
                    reason: format!("the selection compiled to {n} Sigma rules instead of 1"),
                });
                continue;
            }
            combined.extend(r.filter.clone());
            by_filter.push(states.len());
            let mut identity = r.identity().to_owned();
            let mut k = 1;
            while states.iter().any(|s: &RuleState| s.identity == identity) {
                k += 1;
                identity = format!("{}#{k}", r.identity());
            }
            if k > 1 {
                diags.push(Diagnostic {
                    path: r.meta.path.clone().unwrap_or_default(),
                    rule: Some(r.identity().to_owned()),
                    category: "value".into(),
                    reason: format!("duplicate baseline id; its state is kept as '{identity}'"),
                });
            }
            states.push(RuleState {
                meta: Arc::new(r.meta.clone()),
                identity,
                entity_fields: r
                    .entity
                    .iter()
                    .map(|f| FieldTable::intern(&mut names, f))
                    .collect(),
                metric_fields: r
                    .metric
                    .fields()
                    .iter()
                    .map(|f| FieldTable::intern(&mut names, f))
                    .collect(),
                rule: r.clone(),
                watermark: None,
                closed_before: None,
                entities: foldhash::HashMap::default(),
                stats: BaselineStats::default(),
            });
        }
        let (schemas, classes) = mapping::compile_classes(mappings, true);
        let keys = classes
            .iter()
            .flat_map(|class| names.iter().map(move |n| (class, n)))
            .map(|(class, name)| {
                let key = mapping::resolve_field(mappings, class, name);
                let mut paths: Vec<String> = key.paths().map(str::to_owned).collect();
                if !paths.iter().any(|p| p == name) {
                    paths.push(name.clone());
                }
                FieldKey::with_candidates(&paths)
            })
            .collect();
        let engine = BaselineEngine {
            options,
            filter: Engine::new(&combined, mappings),
            by_filter,
            fields: FieldTable {
                schemas,
                classes: classes.len(),
                names,
                keys,
            },
            rules: states,
            matches: Matches::new(),
            key_buf: String::new(),
            value_buf: String::new(),
            field_buf: String::new(),
            scratch: Vec::new(),
        };
        (engine, diags)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rule `idx` (an [`Anomaly::rule_index`]).
    pub fn rule(&self, idx: usize) -> Option<&BaselineRule> {
        self.rules.get(idx).map(|r| &r.rule)
    }

    /// Counters of every rule together.
    pub fn stats(&self) -> BaselineStats {
        let mut total = BaselineStats::default();
        for i in 0..self.rules.len() {
            if let Some(s) = self.rule_stats(i) {
                total.add(&s);
            }
        }
        total
    }

    /// Counters of rule `idx`.
    pub fn rule_stats(&self, idx: usize) -> Option<BaselineStats> {
        self.rules.get(idx).map(|r| BaselineStats {
            entities: r.entities.len(),
            ..r.stats.clone()
        })
    }

    /// Feed one event. `ts_nanos` is its time (Unix ns): event time drives the buckets.
    /// `event_ref` identifies it in anomalies (e.g. a UUID as `u128`). Returns the
    /// anomalies found: buckets this event's time closed (ordered by rule, bucket and
    /// entity) and first-seen values.
    pub fn observe<D: Document + ?Sized>(
        &mut self,
        doc: &D,
        ts_nanos: i64,
        event_ref: u128,
    ) -> Vec<Anomaly> {
        let mut out = Vec::new();
        let mut matches = std::mem::take(&mut self.matches);
        self.filter.evaluate(doc, &mut matches);
        if !matches.is_empty() {
            let class = self.fields.classify(doc);
            for &m in matches.rules() {
                if let Some(&ri) = self.by_filter.get(m as usize) {
                    self.observe_rule(ri, doc, class, ts_nanos, event_ref, &mut out);
                }
            }
        }
        self.matches = matches;
        out
    }

    /// Close, for every rule, the buckets that ended before `now_nanos` (minus the
    /// lateness tolerance), as if an event of that time had arrived: call it with the
    /// wall clock (less the expected ingestion delay) so that quiet rules still judge
    /// their buckets. Events older than the closed buckets are late afterwards.
    pub fn tick(&mut self, now_nanos: i64) -> Vec<Anomaly> {
        let mut out = Vec::new();
        for ri in 0..self.rules.len() {
            self.advance(ri, now_nanos, &mut out);
        }
        out
    }

    fn observe_rule<D: Document + ?Sized>(
        &mut self,
        ri: usize,
        doc: &D,
        class: usize,
        ts: i64,
        event_ref: u128,
        out: &mut Vec<Anomaly>,
    ) {
        self.advance(ri, ts, out);
        let BaselineEngine {
            options,
            fields,
            rules,
            key_buf: key,
            value_buf: val,
            field_buf: tmp,
            ..
        } = self;
        let Some(r) = rules.get_mut(ri) else {
            return;
        };
        let bucket = ts.div_euclid(r.rule.bucket_nanos);
        if r.closed_before.is_some_and(|c| bucket < c) {
            r.stats.late_events += 1;
            return;
        }
        if !encode_fields(fields, &r.entity_fields, doc, class, key, tmp) {
            r.stats.no_entity += 1;
            return;
        }
        let contribution = match &r.rule.metric {
            Metric::Count => Contribution::Amount(1.0),
            Metric::Sum(_) => {
                match r
                    .metric_fields
                    .first()
                    .and_then(|f| fields.key(class, *f))
                    .and_then(|k| number(doc.field(k)))
                {
                    Some(x) => Contribution::Amount(x),
                    None => {
                        r.stats.no_value += 1;
                        return;
                    }
                }
            }
            Metric::Distinct(_) | Metric::FirstSeen(_) => {
                if !encode_fields(fields, &r.metric_fields, doc, class, val, tmp) {
                    r.stats.no_value += 1;
                    return;
                }
                Contribution::Value(fnv1a(val.as_bytes()))
            }
        };
        let bounds = bounds(options, &r.rule);
        let entity = match r.entities.get_mut(key.as_str()) {
            Some(e) => e,
            None => {
                if r.entities.len() >= options.max_entities_per_rule {
                    r.stats.entities_refused += 1;
                    return;
                }
                r.entities
                    .entry(key.as_str().into())
                    .or_insert_with(|| Entity::new(ts, bucket))
            }
        };
        entity.touch(ts);
        r.stats.events += 1;
        let mut fx = Effects::default();
        match (&r.rule.metric, contribution) {
            (Metric::FirstSeen(_), Contribution::Value(hash)) => {
                let trained = ts.saturating_sub(entity.first_nanos) >= r.rule.training_nanos;
                let new = entity.see(hash, ts, &bounds, &mut fx);
                if new && trained {
                    let b = r.rule.bucket_nanos;
                    let age = bucket.saturating_sub(entity.first_bucket);
                    r.stats.anomalies += 1;
                    out.push(Anomaly {
                        rule_index: ri,
                        rule: r.meta.clone(),
                        kind: AnomalyKind::FirstSeen,
                        entity: pairs(&r.rule.entity, key),
                        value: pairs(r.rule.metric.fields(), val),
                        bucket_start_nanos: bucket.saturating_mul(b),
                        bucket_end_nanos: bucket.saturating_add(1).saturating_mul(b),
                        observed: 1.0,
                        expected: 0.0,
                        spread: 0.0,
                        score: 0.0,
                        history_buckets: usize::try_from(age).unwrap_or(0),
                        event_refs: vec![event_ref],
                    });
                }
            }
            (_, c) => fx = entity.add(bucket, c, event_ref, &bounds),
        }
        if fx.distinct_saturated {
            r.stats.distinct_saturated += 1;
        }
        if fx.seen_evicted {
            r.stats.first_seen_evicted += 1;
        }
    }

    /// Move rule `ri`'s watermark to `ts` and close the buckets that ended.
    fn advance(&mut self, ri: usize, ts: i64, out: &mut Vec<Anomaly>) {
        let lateness = i64::try_from(self.options.lateness_seconds)
            .unwrap_or(i64::MAX / NANOS_PER_SEC)
            .saturating_mul(NANOS_PER_SEC);
        let Some(r) = self.rules.get_mut(ri) else {
            return;
        };
        let w = r.watermark.map_or(ts, |w| w.max(ts));
        r.watermark = Some(w);
        let horizon = w.saturating_sub(lateness).div_euclid(r.rule.bucket_nanos);
        if r.closed_before.is_some_and(|c| horizon <= c) {
            return;
        }
        let first = out.len();
        Self::sweep(ri, r, &self.options, horizon, &mut self.scratch, out);
        out[first..].sort_by(|a, b| {
            (a.bucket_start_nanos, &a.entity).cmp(&(b.bucket_start_nanos, &b.entity))
        });
    }

    /// Close every entity's buckets before `horizon` and forget long-silent entities.
    fn sweep(
        ri: usize,
        r: &mut RuleState,
        options: &BaselineOptions,
        horizon: i64,
        scratch: &mut Vec<f64>,
        out: &mut Vec<Anomaly>,
    ) {
        r.closed_before = Some(horizon);
        let cutoff = r
            .watermark
            .unwrap_or(i64::MIN)
            .saturating_sub(r.rule.retention_nanos);
        let bounds = bounds(options, &r.rule);
        let RuleState {
            rule,
            meta,
            entities,
            stats,
            ..
        } = r;
        let first_seen = rule.metric.is_first_seen();
        let judge_silent = rule.direction != Direction::High;
        let training = rule.training_buckets();
        let ri_anomalies = out.len();
        entities.retain(|key, e| {
            if e.last_nanos < cutoff {
                stats.entities_expired += 1;
                return false;
            }
            if first_seen {
                return true;
            }
            let mut judge = |c: Closed<'_>| {
                if c.age_buckets < training || c.history.len() < rule.min_history {
                    return;
                }
                let Some(summary) = stats::Summary::of(c.history.iter().copied(), scratch) else {
                    return;
                };
                let v = stats::assess(&summary, c.value, &rule.threshold, rule.direction);
                let Some(dir) = v.unusual else {
                    return;
                };
                out.push(Anomaly {
                    rule_index: ri,
                    rule: meta.clone(),
                    kind: if dir == Direction::Low {
                        AnomalyKind::Low
                    } else {
                        AnomalyKind::High
                    },
                    entity: pairs(&rule.entity, key),
                    value: Vec::new(),
                    bucket_start_nanos: c.index.saturating_mul(rule.bucket_nanos),
                    bucket_end_nanos: c.index.saturating_add(1).saturating_mul(rule.bucket_nanos),
                    observed: c.value,
                    expected: v.expected,
                    spread: v.spread,
                    score: v.score,
                    history_buckets: c.history.len(),
                    event_refs: c.refs.iter().copied().collect(),
                });
            };
            stats.buckets_closed += e.close_before(horizon, &bounds, judge_silent, &mut judge);
            true
        });
        stats.anomalies += (out.len() - ri_anomalies) as u64;
    }
}

fn bounds(options: &BaselineOptions, rule: &BaselineRule) -> Bounds {
    Bounds {
        history: rule.history,
        event_refs: options.max_event_refs,
        distinct: options.max_distinct_per_bucket,
        seen: options.max_first_seen_values,
    }
}

/// Encode the values of `ids` as `<byte length>:<value>` each into `out`; false when one
/// is missing or not a scalar.
fn encode_fields<D: Document + ?Sized>(
    fields: &FieldTable,
    ids: &[u32],
    doc: &D,
    class: usize,
    out: &mut String,
    tmp: &mut String,
) -> bool {
    out.clear();
    for &f in ids {
        let Some(k) = fields.key(class, f) else {
            return false;
        };
        tmp.clear();
        if !render(doc.field(k), tmp) {
            return false;
        }
        let _ = write!(out, "{}:", tmp.len());
        out.push_str(tmp);
    }
    true
}

/// Field names paired with the values of an encoded key.
fn pairs(names: &[String], encoded: &str) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(names.len());
    let mut rest = encoded;
    for name in names {
        let Some((len, after)) = rest.split_once(':') else {
            break;
        };
        let Some(len) = len.parse::<usize>().ok() else {
            break;
        };
        let (Some(v), Some(tail)) = (after.get(..len), after.get(len..)) else {
            break;
        };
        out.push((name.clone(), v.to_owned()));
        rest = tail;
    }
    out
}

/// Whether `encoded` holds exactly `n` well-formed `<len>:<value>` items.
fn well_formed(encoded: &str, n: usize) -> bool {
    let mut rest = encoded;
    for _ in 0..n {
        let Some((len, after)) = rest.split_once(':') else {
            return false;
        };
        let Some(len) = len.parse::<usize>().ok() else {
            return false;
        };
        let Some(tail) = after.get(len..) else {
            return false;
        };
        rest = tail;
    }
    rest.is_empty()
}

/// Render a scalar (integers plainly, floats by `Display`, booleans as words); false for
/// lists, objects, null and missing values.
fn render(v: FieldRef<'_>, out: &mut String) -> bool {
    match v {
        FieldRef::Str(s) => out.push_str(s),
        FieldRef::Int(i) => {
            let _ = write!(out, "{i}");
        }
        FieldRef::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        FieldRef::Float(f) => {
            let _ = write!(out, "{f}");
        }
        FieldRef::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        FieldRef::Missing | FieldRef::Null | FieldRef::List(_) | FieldRef::Object => return false,
    }
    true
}

/// A finite number from a numeric field or a numeric string.
fn number(v: FieldRef<'_>) -> Option<f64> {
    let x = match v {
        FieldRef::Int(i) => i as f64,
        FieldRef::UInt(u) => u as f64,
        FieldRef::Float(f) => f,
        FieldRef::Str(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// FNV-1a: a stable hash of values (snapshots must hash alike after a restart).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
