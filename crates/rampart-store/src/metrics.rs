//! `dc`, `sum`, `avg`, `min` and `max` of `stats` computed from fast-field columns.
//!
//! The results must equal `rampart_query::exec`'s accumulators, which read values in row
//! order. Only inputs whose result cannot depend on that order are pushed down: integer
//! columns (and strings that read as integers) whose bounds rule out overflow in any order
//! — `sum` adds in `i64` with overflow to float, `avg` in `f64` (exact below 2^53) — and no
//! value that reads as a non-integer number. [`plan`] checks this before the search; a
//! field that fails it runs over loaded events instead.

use crate::aggs::{Num, SegKey};
use rampart_query::text::cmp_ci;
use rampart_query::{AggFunction, Aggregation};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use tantivy::columnar::{Column, ColumnType, DynamicColumn, StrColumn};
use tantivy::{DocId, Searcher, SegmentReader};

/// Largest total magnitude an `avg` may reach and stay exact in `f64`.
const AVG_LIMIT: u128 = 1 << 53;
/// Largest total magnitude a `sum` may reach without `i64` overflow.
const SUM_LIMIT: u128 = i64::MAX as u128;
/// Most distinct strings read per segment to classify a field's text values.
const MAX_CLASSIFIED_TERMS: usize = 1 << 20;

/// What one aggregation computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Count,
    Distinct,
    Sum,
    Avg,
    Min,
    Max,
}

/// An aggregation pushed down: its kind and, but for `count()`, the column path.
#[derive(Debug, Clone)]
pub(crate) struct Metric {
    pub kind: Kind,
    pub column: Option<String>,
}

/// How a string term reads as `exec` reads values.
#[derive(Debug, Clone, Copy)]
enum TermClass {
    Int(i64),
    Text,
}

/// The metrics of `aggs`, with per-segment term classes, if all can be pushed down.
pub(crate) struct Plan {
    pub metrics: Vec<Metric>,
    /// Per segment (by ordinal), per metric, per string column of the field: term classes.
    classes: Vec<Vec<Vec<Vec<TermClass>>>>,
}

impl Plan {
    /// Only `count()`: nothing to read but group keys.
    pub(crate) fn counts_only(&self) -> bool {
        self.metrics.iter().all(|m| m.kind == Kind::Count)
    }
}

/// Decide whether `aggs` can be computed from columns over `searcher`, and prepare.
pub(crate) fn plan(
    searcher: &Searcher,
    aggs: &[Aggregation],
    column_name: impl Fn(&str) -> Option<String>,
) -> tantivy::Result<Option<Plan>> {
    let mut metrics = Vec::with_capacity(aggs.len());
    for agg in aggs {
        let (kind, field) = match &agg.function {
            AggFunction::Count => (Kind::Count, None),
            AggFunction::DistinctCount(f) => (Kind::Distinct, Some(f)),
            AggFunction::Sum(f) => (Kind::Sum, Some(f)),
            AggFunction::Avg(f) => (Kind::Avg, Some(f)),
            AggFunction::Min(f) => (Kind::Min, Some(f)),
            AggFunction::Max(f) => (Kind::Max, Some(f)),
        };
        let column = match field {
            None => None,
            Some(f) => match column_name(f) {
                Some(c) => Some(c),
                None => return Ok(None),
            },
        };
        metrics.push(Metric { kind, column });
    }
    let segments = searcher.segment_readers();
    let mut classes = Vec::with_capacity(segments.len());
    // Per metric: the largest total magnitude its values can reach.
    let mut totals = vec![0u128; metrics.len()];
    for segment in segments {
        let mut per_metric = Vec::with_capacity(metrics.len());
        for (mi, metric) in metrics.iter().enumerate() {
            let Some(column) = &metric.column else {
                per_metric.push(Vec::new());
                continue;
            };
            let numeric = matches!(metric.kind, Kind::Sum | Kind::Avg | Kind::Min | Kind::Max);
            let mut per_column = Vec::new();
            for handle in segment.fast_fields().dynamic_column_handles(column)? {
                match (handle.column_type(), handle.open()?) {
                    (ColumnType::Bool, _) => {}
                    (ColumnType::I64, DynamicColumn::I64(c)) => {
                        let max_abs = c
                            .min_value()
                            .unsigned_abs()
                            .max(c.max_value().unsigned_abs());
                        totals[mi] += u128::from(max_abs) * u128::from(c.values.num_vals());
                    }
                    (ColumnType::U64, DynamicColumn::U64(c)) => {
                        // Above i64::MAX, `exec` reads the number as a float.
                        if c.max_value() > i64::MAX as u64 && numeric {
                            return Ok(None);
                        }
                        totals[mi] += u128::from(c.max_value()) * u128::from(c.values.num_vals());
                    }
                    (ColumnType::Str, DynamicColumn::Str(s)) => {
                        if !numeric {
                            per_column.push(Vec::new());
                            continue;
                        }
                        let Some((cls, max_abs)) = classify(&s)? else {
                            return Ok(None);
                        };
                        totals[mi] += u128::from(max_abs) * u128::from(s.ords().values.num_vals());
                        per_column.push(cls);
                    }
                    // Floats, dates, addresses, bytes: their text may differ from the event's.
                    _ => return Ok(None),
                }
            }
            per_metric.push(per_column);
        }
        classes.push(per_metric);
    }
    for (metric, total) in metrics.iter().zip(&totals) {
        let limit = match metric.kind {
            Kind::Sum => SUM_LIMIT,
            Kind::Avg => AVG_LIMIT,
            _ => u128::MAX,
        };
        if *total >= limit {
            return Ok(None);
        }
    }
    Ok(Some(Plan { metrics, classes }))
}

/// Classes of every term of a string column and the largest integer magnitude among them;
/// `None` when a term reads as a non-integer number (or there are too many terms).
fn classify(s: &StrColumn) -> tantivy::Result<Option<(Vec<TermClass>, u64)>> {
    let dict = s.dictionary();
    if dict.num_terms() > MAX_CLASSIFIED_TERMS {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(dict.num_terms());
    let mut max_abs = 0u64;
    let mut stream = dict.stream()?;
    while stream.advance() {
        let text = String::from_utf8_lossy(stream.key());
        let class = match crate::aggs::num_of_str(&text) {
            Some(Num::I(i)) => {
                max_abs = max_abs.max(i.unsigned_abs());
                TermClass::Int(i)
            }
            Some(Num::F) => return Ok(None),
            None => TermClass::Text,
        };
        out.push(class);
    }
    Ok(Some((out, max_abs)))
}

/// One metric's columns in one segment.
enum MetricColumn {
    Str(StrColumn, Vec<TermClass>),
    I64(Column<i64>),
    U64(Column<u64>),
    Bool(Column<bool>),
}

/// A metric's state for one group within one segment.
#[derive(Debug, Clone)]
pub(crate) enum SegAcc {
    Count,
    /// Distinct values by (column, ordinal) or number; resolved to text at harvest.
    Distinct(HashSet<SegKey>),
    Sum {
        total: i128,
        seen: bool,
    },
    Avg {
        total: i128,
        n: u64,
    },
    /// Smallest/largest number, and the textual values seen (for when there is none).
    Extreme {
        num: Option<i64>,
        text: HashSet<SegKey>,
    },
}

/// The metric columns of one segment.
pub(crate) struct SegmentMetrics {
    kinds: Vec<Kind>,
    columns: Vec<Vec<MetricColumn>>,
}

impl SegmentMetrics {
    pub(crate) fn open(
        plan: &Plan,
        segment_ord: usize,
        segment: &SegmentReader,
    ) -> tantivy::Result<Self> {
        let mut columns = Vec::with_capacity(plan.metrics.len());
        for (mi, metric) in plan.metrics.iter().enumerate() {
            let mut cols = Vec::new();
            if let Some(column) = &metric.column {
                let mut classes = plan
                    .classes
                    .get(segment_ord)
                    .and_then(|m| m.get(mi))
                    .map(|c| c.iter())
                    .into_iter()
                    .flatten();
                for handle in segment.fast_fields().dynamic_column_handles(column)? {
                    cols.push(match handle.open()? {
                        DynamicColumn::Str(s) => {
                            MetricColumn::Str(s, classes.next().cloned().unwrap_or_default())
                        }
                        DynamicColumn::I64(c) => MetricColumn::I64(c),
                        DynamicColumn::U64(c) => MetricColumn::U64(c),
                        DynamicColumn::Bool(c) => MetricColumn::Bool(c),
                        other => {
                            return Err(tantivy::TantivyError::InvalidArgument(format!(
                                "column {column} changed type during the search: {other:?}"
                            )));
                        }
                    });
                }
            }
            columns.push(cols);
        }
        Ok(SegmentMetrics {
            kinds: plan.metrics.iter().map(|m| m.kind).collect(),
            columns,
        })
    }

    pub(crate) fn new_accs(&self) -> Vec<SegAcc> {
        self.kinds
            .iter()
            .map(|k| match k {
                Kind::Count => SegAcc::Count,
                Kind::Distinct => SegAcc::Distinct(HashSet::new()),
                Kind::Sum => SegAcc::Sum {
                    total: 0,
                    seen: false,
                },
                Kind::Avg => SegAcc::Avg { total: 0, n: 0 },
                Kind::Min | Kind::Max => SegAcc::Extreme {
                    num: None,
                    text: HashSet::new(),
                },
            })
            .collect()
    }

    /// Add every value `doc` holds for each metric to `accs`.
    pub(crate) fn add(&self, doc: DocId, accs: &mut [SegAcc]) {
        for ((acc, cols), kind) in accs.iter_mut().zip(&self.columns).zip(&self.kinds) {
            for (ci, col) in cols.iter().enumerate() {
                let ci = ci as u8;
                match col {
                    MetricColumn::Str(s, classes) => {
                        for o in s.term_ords(doc) {
                            let class = usize::try_from(o)
                                .ok()
                                .and_then(|i| classes.get(i))
                                .copied()
                                .unwrap_or(TermClass::Text);
                            match class {
                                TermClass::Int(i) => acc.add_int(i, *kind),
                                TermClass::Text => acc.add_key(SegKey::Ord(ci, o)),
                            }
                        }
                    }
                    MetricColumn::I64(c) => {
                        for v in c.values_for_doc(doc) {
                            if let SegAcc::Distinct(_) = acc {
                                acc.add_key(SegKey::I64(v));
                            } else {
                                acc.add_int(v, *kind);
                            }
                        }
                    }
                    MetricColumn::U64(c) => {
                        for v in c.values_for_doc(doc) {
                            match (&acc, i64::try_from(v)) {
                                (SegAcc::Distinct(_), _) | (_, Err(_)) => {
                                    acc.add_key(SegKey::U64(v));
                                }
                                (_, Ok(i)) => acc.add_int(i, *kind),
                            }
                        }
                    }
                    MetricColumn::Bool(c) => {
                        for v in c.values_for_doc(doc) {
                            acc.add_key(SegKey::Bool(v));
                        }
                    }
                }
            }
        }
    }

    /// Resolve a segment's accumulators into segment-independent ones.
    pub(crate) fn resolve(
        &self,
        accs: Vec<SegAcc>,
        names: &dyn Fn(usize, u8, u64) -> String,
    ) -> Vec<Acc> {
        accs.into_iter()
            .enumerate()
            .map(|(mi, acc)| {
                let text = |k: &SegKey| -> String {
                    match *k {
                        SegKey::Ord(ci, o) => names(mi, ci, o),
                        SegKey::I64(i) => i.to_string(),
                        SegKey::U64(u) => u.to_string(),
                        SegKey::Bool(b) => b.to_string(),
                        SegKey::Null => String::new(),
                    }
                };
                match acc {
                    SegAcc::Count => Acc::Count,
                    SegAcc::Distinct(keys) => Acc::Distinct(keys.iter().map(text).collect()),
                    SegAcc::Sum { total, seen } => Acc::Sum { total, seen },
                    SegAcc::Avg { total, n } => Acc::Avg { total, n },
                    SegAcc::Extreme { num, text: keys } => {
                        let want = if self.kinds.get(mi) == Some(&Kind::Min) {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        };
                        let mut best: Option<String> = None;
                        if num.is_none() {
                            for k in &keys {
                                best = better_text(best, text(k), want);
                            }
                        }
                        Acc::Extreme {
                            num,
                            text: best,
                            want,
                        }
                    }
                }
            })
            .collect()
    }
}

impl SegAcc {
    fn add_int(&mut self, v: i64, kind: Kind) {
        match self {
            SegAcc::Count => {}
            SegAcc::Distinct(keys) => {
                keys.insert(SegKey::I64(v));
            }
            SegAcc::Sum { total, seen } => {
                *total += i128::from(v);
                *seen = true;
            }
            SegAcc::Avg { total, n } => {
                *total += i128::from(v);
                *n += 1;
            }
            SegAcc::Extreme { num, .. } => {
                let better = match (*num, kind) {
                    (None, _) => true,
                    (Some(cur), Kind::Min) => v < cur,
                    (Some(cur), _) => v > cur,
                };
                if better {
                    *num = Some(v);
                }
            }
        }
    }

    /// A value that is not a number (sum and avg ignore it).
    fn add_key(&mut self, key: SegKey) {
        match self {
            SegAcc::Distinct(keys) | SegAcc::Extreme { text: keys, .. } => {
                keys.insert(key);
            }
            SegAcc::Count | SegAcc::Sum { .. } | SegAcc::Avg { .. } => {}
        }
    }

    /// The ordinals of column `column` this accumulator refers to.
    pub(crate) fn ords(&self, column: u8, out: &mut Vec<u64>) {
        if let SegAcc::Distinct(keys) | SegAcc::Extreme { text: keys, .. } = self {
            out.extend(keys.iter().filter_map(|k| match *k {
                SegKey::Ord(c, o) if c == column => Some(o),
                _ => None,
            }));
        }
    }
}

/// `exec`'s choice between two texts: case-insensitive order, then bytes.
fn better_text(cur: Option<String>, candidate: String, want: Ordering) -> Option<String> {
    match cur {
        None => Some(candidate),
        Some(cur) => {
            if cmp_ci(&candidate, &cur).then_with(|| candidate.cmp(&cur)) == want {
                Some(candidate)
            } else {
                Some(cur)
            }
        }
    }
}

/// A metric's state for one group, merged across segments.
#[derive(Debug, Clone)]
pub(crate) enum Acc {
    Count,
    Distinct(HashSet<String>),
    Sum {
        total: i128,
        seen: bool,
    },
    Avg {
        total: i128,
        n: u64,
    },
    Extreme {
        num: Option<i64>,
        text: Option<String>,
        want: Ordering,
    },
}

impl Acc {
    pub(crate) fn merge(&mut self, other: Acc) {
        match (self, other) {
            (Acc::Distinct(a), Acc::Distinct(b)) => a.extend(b),
            (Acc::Sum { total, seen }, Acc::Sum { total: t, seen: s }) => {
                *total += t;
                *seen |= s;
            }
            (Acc::Avg { total, n }, Acc::Avg { total: t, n: m }) => {
                *total += t;
                *n += m;
            }
            (
                Acc::Extreme { num, text, want },
                Acc::Extreme {
                    num: n2, text: t2, ..
                },
            ) => {
                *num = match (*num, n2) {
                    (Some(a), Some(b)) => Some(if a.cmp(&b) == *want { a } else { b }),
                    (a, b) => a.or(b),
                };
                if let Some(t) = t2 {
                    *text = better_text(text.take(), t, *want);
                }
            }
            _ => {}
        }
    }

    /// The value `exec` would give; `count` is the group's row count.
    pub(crate) fn finish(&self, count: u64) -> Value {
        match self {
            Acc::Count => Value::from(count),
            Acc::Distinct(seen) => Value::from(seen.len() as u64),
            Acc::Sum { seen: false, .. } | Acc::Avg { n: 0, .. } => Value::Null,
            // The plan bounds every sum below i64::MAX in magnitude.
            Acc::Sum { total, .. } => i64::try_from(*total).map_or(Value::Null, Value::from),
            Acc::Avg { total, n } => Value::from(*total as f64 / *n as f64),
            Acc::Extreme { num: Some(i), .. } => Value::from(*i),
            Acc::Extreme { text: Some(t), .. } => Value::String(t.clone()),
            Acc::Extreme { .. } => Value::Null,
        }
    }
}

/// Resolve the string ordinals a segment's groups refer to: per metric, (column, ordinal)
/// to text, one sorted lookup pass per column.
pub(crate) fn resolve_names<'a>(
    metrics: &SegmentMetrics,
    accs: impl Iterator<Item = &'a Vec<SegAcc>> + Clone,
) -> Vec<HashMap<(u8, u64), String>> {
    let mut out = Vec::with_capacity(metrics.columns.len());
    for (mi, cols) in metrics.columns.iter().enumerate() {
        let mut names = HashMap::new();
        for (ci, col) in cols.iter().enumerate() {
            let MetricColumn::Str(s, _) = col else {
                continue;
            };
            let ci = ci as u8;
            let mut ords = Vec::new();
            for a in accs.clone() {
                if let Some(acc) = a.get(mi) {
                    acc.ords(ci, &mut ords);
                }
            }
            ords.sort_unstable();
            ords.dedup();
            let mut text = String::new();
            for o in ords {
                text.clear();
                if s.ord_to_str(o, &mut text).unwrap_or(false) {
                    names.insert((ci, o), text.clone());
                }
            }
        }
        out.push(names);
    }
    out
}

/// A metric with no state for its group: a count, or its value over no values at all
/// (`exec`'s fresh accumulator).
pub(crate) fn empty(function: &AggFunction, count: u64) -> Value {
    match function {
        AggFunction::Count => Value::from(count),
        AggFunction::DistinctCount(_) => Value::from(0),
        _ => Value::Null,
    }
}
