//! Aggregating pipe stages pushed down to the index: `stats` (`count`, and `dc`, `sum`,
//! `avg`, `min`, `max` through [`crate::metrics`]), `top`, `rare` and
//! `timechart … count()` computed from fast-field columns, without loading events.
//!
//! The results must equal `rampart_query::exec::apply_stages` over the same events (same
//! columns, order, ties and folding), so the shaping below mirrors that module. A stage is
//! pushed down only when that equality is certain: aggregations the metrics plan accepts
//! (count only for `timechart`), group fields
//! whose columns are strings, integers or booleans (a float column may hold integers
//! coerced by the index, whose text would differ), at most [`MAX_BY`] of them, and no
//! typed member other than `tenant`. Anything else returns `None` and runs over rows.
//!
//! Counts by one field whose values are strings in every segment (`stats count() by F`,
//! `top F`, `rare F`) take the dense path of [`crate::ordcount`]; the general collector
//! below handles several fields, numbers, metrics and time buckets.

use crate::error::StoreError;
use crate::metrics::{self, Acc, Plan, SegAcc, SegmentMetrics};
use crate::schema::{F_FIELDS, F_TENANT, F_TS};
use rampart_model::Timestamp;
use rampart_query::exec::Table;
use rampart_query::{AggFunction, Aggregation, Stage};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, DynamicColumn, StrColumn};
use tantivy::query::Query;
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

/// Most group fields pushed down.
pub(crate) const MAX_BY: usize = 3;
/// Mirrors `rampart_query::exec`: series a timechart keeps before folding into `OTHER`.
const TIMECHART_SERIES: usize = 10;
/// Mirrors `rampart_query::exec`: most buckets a timechart may produce.
const MAX_BUCKETS: u64 = 100_000;
const NULL_SERIES: &str = "NULL";
const OTHER_SERIES: &str = "OTHER";

/// Names that `Event::to_document` fills from typed members; only `tenant` has a column.
fn column_name(field: &str) -> Option<String> {
    match field {
        "tenant" => Some(F_TENANT.to_owned()),
        "@timestamp" | "event.ingested" | "event.id" | "event.original" | "event.parse_error" => {
            None
        }
        f if f == "rampart" || f.starts_with("rampart.") => None,
        f => Some(format!("{F_FIELDS}.{f}")),
    }
}

fn counts_only(aggs: &[Aggregation]) -> bool {
    !aggs.is_empty() && aggs.iter().all(|a| a.function == AggFunction::Count)
}

/// Run `stage` over the documents matching `query`, if it can be pushed down.
pub(crate) fn run(
    searcher: &Searcher,
    query: &dyn Query,
    stage: &Stage,
) -> Result<Option<Table>, StoreError> {
    match stage {
        Stage::Stats { aggs, by } if !aggs.is_empty() && by.len() <= MAX_BY => {
            if counts_only(aggs)
                && let [field] = by.as_slice()
                && let Some(groups) = counts_by_one(searcher, query, field)?
            {
                let groups = groups
                    .into_iter()
                    .map(|(key, n)| (key, (n, Vec::new())))
                    .collect();
                return Ok(Some(stats_table(aggs, by, groups)));
            }
            let Some(plan) = metrics::plan(searcher, aggs, column_name)? else {
                return Ok(None);
            };
            let Some(groups) = group_by(searcher, query, by, None, Some(&plan))? else {
                return Ok(None);
            };
            Ok(Some(stats_table(aggs, by, groups)))
        }
        Stage::Top { limit, fields } | Stage::Rare { limit, fields }
            if !fields.is_empty() && fields.len() <= MAX_BY =>
        {
            let rare = matches!(stage, Stage::Rare { .. });
            let one = match fields.as_slice() {
                [field] => counts_by_one(searcher, query, field)?,
                _ => None,
            };
            let groups = match one {
                Some(groups) => groups,
                None => match group_counts(searcher, query, fields, None)? {
                    Some(groups) => groups,
                    None => return Ok(None),
                },
            };
            Ok(Some(top_table(*limit, fields, groups, rare)))
        }
        Stage::Timechart {
            span_nanos,
            aggs,
            by,
        } if counts_only(aggs) && *span_nanos > 0 => {
            let by: Vec<String> = by.iter().cloned().collect();
            let Some(groups) = group_counts(searcher, query, &by, Some(*span_nanos))? else {
                return Ok(None);
            };
            timechart_table(*span_nanos, aggs, !by.is_empty(), groups).map(Some)
        }
        _ => Ok(None),
    }
}

/// A group: the time bucket (timechart) and one value per group field (`Null` = missing,
/// timechart only), with its count.
type Groups = Vec<((i64, Vec<Value>), u64)>;
/// Groups with the merged state of each pushed-down metric.
type MetricGroups = Vec<((i64, Vec<Value>), Cell)>;
/// A group's row count and metric states.
type Cell = (u64, Vec<Acc>);

/// Counts by one field whose values are strings in every segment, by term ordinal
/// ([`crate::ordcount`]); `None` when the field has no column or other value types.
fn counts_by_one(
    searcher: &Searcher,
    query: &dyn Query,
    field: &str,
) -> Result<Option<Groups>, StoreError> {
    let Some(column) = column_name(field) else {
        return Ok(None);
    };
    Ok(
        crate::ordcount::count_by_str(searcher, query, &column)?.map(|counts| {
            counts
                .into_iter()
                .map(|(text, n)| ((0, vec![Value::String(text)]), n))
                .collect()
        }),
    )
}

fn group_counts(
    searcher: &Searcher,
    query: &dyn Query,
    by: &[String],
    span: Option<i64>,
) -> Result<Option<Groups>, StoreError> {
    Ok(group_by(searcher, query, by, span, None)?
        .map(|groups| groups.into_iter().map(|(k, (n, _))| (k, n)).collect()))
}

fn group_by(
    searcher: &Searcher,
    query: &dyn Query,
    by: &[String],
    span: Option<i64>,
    plan: Option<&Plan>,
) -> Result<Option<MetricGroups>, StoreError> {
    let mut columns = Vec::with_capacity(by.len());
    for f in by {
        match column_name(f) {
            Some(c) => columns.push(c),
            None => return Ok(None),
        }
    }
    // Float columns may hold integers the index coerced: their text is not the event's.
    for segment in searcher.segment_readers() {
        for c in &columns {
            for handle in segment.fast_fields().dynamic_column_handles(c)? {
                use tantivy::columnar::ColumnType;
                match handle.column_type() {
                    ColumnType::Str | ColumnType::I64 | ColumnType::U64 | ColumnType::Bool => {}
                    _ => return Ok(None),
                }
            }
        }
    }
    let collector = GroupCollector {
        columns,
        span,
        missing_as_null: span.is_some(),
        plan: plan.filter(|p| !p.counts_only()),
    };
    let merged = searcher.search(query, &collector)?;
    Ok(Some(merged))
}

/// Counts groups of documents by fast-field values, with metrics per group.
struct GroupCollector<'p> {
    columns: Vec<String>,
    /// Metrics other than counts, when there are any.
    plan: Option<&'p Plan>,
    span: Option<i64>,
    /// Keep documents lacking a group value under `Null` (timechart) instead of skipping them.
    missing_as_null: bool,
}

/// One value of a group field inside a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SegKey {
    Null,
    /// (column index within the field, term ordinal)
    Ord(u8, u64),
    I64(i64),
    U64(u64),
    Bool(bool),
}

enum KeyColumn {
    Str(StrColumn),
    I64(Column<i64>),
    U64(Column<u64>),
    Bool(Column<bool>),
}

struct GroupSegment {
    ts: Option<Column<i64>>,
    span: Option<i64>,
    missing_as_null: bool,
    /// Per group field, its columns in this segment.
    fields: Vec<Vec<KeyColumn>>,
    counts: HashMap<(i64, [SegKey; MAX_BY]), (u64, Vec<SegAcc>)>,
    metrics: Option<SegmentMetrics>,
    /// One string column, no time buckets, counts only: counts indexed by term ordinal.
    dense: Option<Vec<u64>>,
    scratch: Vec<Vec<SegKey>>,
}

impl Collector for GroupCollector<'_> {
    type Fruit = MetricGroups;
    type Child = GroupSegment;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<GroupSegment> {
        let ff = segment.fast_fields();
        let ts = match self.span {
            Some(_) => Some(ff.i64(F_TS)?),
            None => None,
        };
        let mut fields = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let mut cols = Vec::new();
            for handle in ff.dynamic_column_handles(c)? {
                match handle.open()? {
                    DynamicColumn::Str(s) => cols.push(KeyColumn::Str(s)),
                    DynamicColumn::I64(i) => cols.push(KeyColumn::I64(i)),
                    DynamicColumn::U64(u) => cols.push(KeyColumn::U64(u)),
                    DynamicColumn::Bool(b) => cols.push(KeyColumn::Bool(b)),
                    other => {
                        return Err(tantivy::TantivyError::InvalidArgument(format!(
                            "column {c} changed type during the search: {other:?}"
                        )));
                    }
                }
            }
            fields.push(cols);
        }
        let metrics = match self.plan {
            Some(plan) => Some(SegmentMetrics::open(plan, segment_ord as usize, segment)?),
            None => None,
        };
        let dense = match (self.span, fields.as_slice()) {
            (None, [cols]) if metrics.is_none() => match cols.as_slice() {
                [KeyColumn::Str(s)] => Some(s.num_terms())
                    .filter(|&n| n <= 1 << 24)
                    .map(|n| vec![0u64; n]),
                _ => None,
            },
            _ => None,
        };
        Ok(GroupSegment {
            ts,
            dense,
            span: self.span,
            missing_as_null: self.missing_as_null,
            scratch: vec![Vec::new(); fields.len()],
            fields,
            counts: HashMap::new(),
            metrics,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<MetricGroups>) -> tantivy::Result<MetricGroups> {
        // Groups from different segments meet by the text of their values, as in `exec`.
        let mut index: HashMap<(i64, Vec<String>), usize> = HashMap::new();
        let mut out: MetricGroups = Vec::new();
        for fruit in fruits {
            for ((bucket, key), (n, accs)) in fruit {
                let text: Vec<String> = key.iter().map(key_text).collect();
                match index.get(&(bucket, text.clone())) {
                    Some(&i) => {
                        let cell = &mut out[i].1;
                        cell.0 += n;
                        for (a, b) in cell.1.iter_mut().zip(accs) {
                            a.merge(b);
                        }
                    }
                    None => {
                        index.insert((bucket, text), out.len());
                        out.push(((bucket, key), (n, accs)));
                    }
                }
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for GroupSegment {
    type Fruit = MetricGroups;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let (Some(dense), Some([KeyColumn::Str(s)])) =
            (self.dense.as_mut(), self.fields.first().map(Vec::as_slice))
        {
            for o in s.term_ords(doc) {
                if let Some(c) = usize::try_from(o).ok().and_then(|o| dense.get_mut(o)) {
                    *c += 1;
                }
            }
            return;
        }
        let bucket = match (&self.ts, self.span) {
            (Some(ts), Some(span)) => match ts.first(doc) {
                Some(t) => t.div_euclid(span).saturating_mul(span),
                None => return,
            },
            _ => 0,
        };
        for (cols, out) in self.fields.iter().zip(self.scratch.iter_mut()) {
            out.clear();
            for (ci, col) in cols.iter().enumerate() {
                let ci = ci as u8;
                match col {
                    KeyColumn::Str(s) => out.extend(s.term_ords(doc).map(|o| SegKey::Ord(ci, o))),
                    KeyColumn::I64(c) => out.extend(c.values_for_doc(doc).map(SegKey::I64)),
                    KeyColumn::U64(c) => out.extend(c.values_for_doc(doc).map(SegKey::U64)),
                    KeyColumn::Bool(c) => out.extend(c.values_for_doc(doc).map(SegKey::Bool)),
                }
            }
            if out.is_empty() {
                if !self.missing_as_null {
                    return;
                }
                out.push(SegKey::Null);
            }
        }
        // Every combination of the fields' values, like `exec`'s odometer.
        let n = self.scratch.len();
        let mut index = [0usize; MAX_BY];
        loop {
            let mut key = [SegKey::Null; MAX_BY];
            for i in 0..n {
                key[i] = self.scratch[i][index[i]];
            }
            let metrics = &self.metrics;
            let cell = self.counts.entry((bucket, key)).or_insert_with(|| {
                (
                    0,
                    metrics
                        .as_ref()
                        .map(SegmentMetrics::new_accs)
                        .unwrap_or_default(),
                )
            });
            cell.0 += 1;
            if let Some(m) = metrics {
                m.add(doc, &mut cell.1);
            }
            let mut pos = n;
            loop {
                if pos == 0 {
                    return;
                }
                pos -= 1;
                index[pos] += 1;
                if index[pos] < self.scratch[pos].len() {
                    break;
                }
                index[pos] = 0;
            }
        }
    }

    fn harvest(mut self) -> MetricGroups {
        if let Some(dense) = self.dense.take() {
            for (ord, c) in dense.into_iter().enumerate() {
                if c > 0 {
                    let mut key = [SegKey::Null; MAX_BY];
                    key[0] = SegKey::Ord(0, ord as u64);
                    self.counts.insert((0, key), (c, Vec::new()));
                }
            }
        }
        let n = self.fields.len();
        // Resolve each string ordinal once, in sorted order (one pass over the dictionary
        // blocks instead of a block decode per lookup).
        let mut names: Vec<Vec<HashMap<u64, String>>> = self
            .fields
            .iter()
            .map(|cols| cols.iter().map(|_| HashMap::new()).collect())
            .collect();
        for (fi, cols) in self.fields.iter().enumerate() {
            for (ci, col) in cols.iter().enumerate() {
                let KeyColumn::Str(s) = col else { continue };
                let mut ords: Vec<u64> = self
                    .counts
                    .keys()
                    .filter_map(|(_, key)| match key[fi] {
                        SegKey::Ord(c, o) if usize::from(c) == ci => Some(o),
                        _ => None,
                    })
                    .collect();
                ords.sort_unstable();
                ords.dedup();
                let mut resolved = Vec::with_capacity(ords.len());
                let complete = s
                    .dictionary()
                    .sorted_ords_to_term_cb(&ords, |bytes| {
                        resolved.push(String::from_utf8_lossy(bytes).into_owned());
                    })
                    .unwrap_or(false);
                if !complete || resolved.len() != ords.len() {
                    // Fall back to one lookup per ordinal.
                    resolved.clear();
                    let mut text = String::new();
                    for &o in &ords {
                        text.clear();
                        let _ = s.ord_to_str(o, &mut text);
                        resolved.push(text.clone());
                    }
                }
                names[fi][ci] = ords.into_iter().zip(resolved).collect();
            }
        }
        let metric_names = match &self.metrics {
            Some(m) => metrics::resolve_names(m, self.counts.values().map(|c| &c.1)),
            None => Vec::new(),
        };
        let mut out = Vec::with_capacity(self.counts.len());
        for ((bucket, key), (count, accs)) in self.counts {
            let values = key[..n]
                .iter()
                .enumerate()
                .map(|(fi, k)| match *k {
                    SegKey::Null => Value::Null,
                    SegKey::I64(i) => Value::from(i),
                    SegKey::U64(u) => Value::from(u),
                    SegKey::Bool(b) => Value::Bool(b),
                    SegKey::Ord(ci, ord) => names[fi]
                        .get(usize::from(ci))
                        .and_then(|m| m.get(&ord))
                        .map_or(Value::Null, |t| Value::String(t.clone())),
                })
                .collect();
            let accs = match &self.metrics {
                Some(m) => m.resolve(accs, &|mi, ci, o| {
                    metric_names
                        .get(mi)
                        .and_then(|n| n.get(&(ci, o)))
                        .cloned()
                        .unwrap_or_default()
                }),
                None => Vec::new(),
            };
            out.push(((bucket, values), (count, accs)));
        }
        out
    }
}

/// Text used to tell group keys apart (`exec`'s `key_text`).
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// A number as `exec` reads a value: a JSON number, or a string that reads as one.
#[derive(Clone, Copy)]
pub(crate) enum Num {
    I(i64),
    /// A float; its value is not needed where this is used.
    F,
}

/// A string as `exec` reads it as a number: an integer, or numeric text that parses as a
/// finite float.
pub(crate) fn num_of_str(s: &str) -> Option<Num> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Some(Num::I(i));
    }
    let numeric = s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !numeric {
        return None;
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(|_| Num::F)
}

use rampart_query::exec::{compare_keys, percent, rank_counts};

fn stats_table(aggs: &[Aggregation], by: &[String], groups: MetricGroups) -> Table {
    let mut groups: Vec<(Vec<Value>, Cell)> =
        groups.into_iter().map(|((_, k), cell)| (k, cell)).collect();
    if by.is_empty() && groups.is_empty() {
        // `stats …` over nothing is one row: zero counts, empty metrics.
        groups.push((Vec::new(), (0, Vec::new())));
    }
    sort_keys(&mut groups);
    // Stable: within a count, the key order just made stays.
    groups.sort_by_key(|g| std::cmp::Reverse((g.1).0));
    let columns = by
        .iter()
        .cloned()
        .chain(aggs.iter().map(|a| a.alias.clone()))
        .collect();
    let rows = groups
        .into_iter()
        .map(|(key, (n, accs))| {
            key.into_iter()
                .chain(aggs.iter().enumerate().map(|(i, agg)| match accs.get(i) {
                    Some(acc) => acc.finish(n),
                    None => metrics::empty(&agg.function, n),
                }))
                .collect()
        })
        .collect();
    Table { columns, rows }
}

/// Order groups by key in `exec`'s value order ([`compare_keys`]), cheaply: keys are first
/// sorted by their text bytes, an order that usually already is `exec`'s for strings, so
/// the (adaptive, stable) sort by [`compare_keys`] that follows mostly confirms runs
/// instead of comparing keys `n log n` times — each comparison reads numbers out of text.
fn sort_keys<T>(groups: &mut [(Vec<Value>, T)]) {
    fn text(v: &Value) -> &[u8] {
        match v {
            Value::String(s) => s.as_bytes(),
            _ => &[],
        }
    }
    groups.sort_by(|a, b| {
        a.0.iter()
            .map(text)
            .zip(b.0.iter().map(text))
            .map(|(x, y)| x.cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    groups.sort_by(|a, b| compare_keys(&a.0, &b.0));
}

fn top_table(limit: usize, fields: &[String], groups: Groups, rare: bool) -> Table {
    let mut counts: Vec<(Vec<Value>, u64)> = groups.into_iter().map(|((_, k), n)| (k, n)).collect();
    let total: u64 = counts.iter().map(|c| c.1).sum();
    // Only groups whose count reaches the `limit`-th best can be ranked in: keep those
    // (ties included) before ordering by key.
    if limit < counts.len() {
        let mut ns: Vec<u64> = counts.iter().map(|c| c.1).collect();
        let (_, &mut nth, _) = if rare {
            ns.select_nth_unstable(limit.saturating_sub(1))
        } else {
            ns.select_nth_unstable_by(limit.saturating_sub(1), |a, b| b.cmp(a))
        };
        counts.retain(|c| if rare { c.1 <= nth } else { c.1 >= nth });
    }
    sort_keys(&mut counts);
    rank_counts(&mut counts, limit, rare);
    let mut columns = fields.to_vec();
    columns.push("count".to_owned());
    columns.push("percent".to_owned());
    let rows = counts
        .into_iter()
        .map(|(key, count)| {
            key.into_iter()
                .chain([Value::from(count), Value::from(percent(count, total))])
                .collect()
        })
        .collect();
    Table { columns, rows }
}

fn timechart_table(
    span: i64,
    aggs: &[Aggregation],
    has_by: bool,
    groups: Groups,
) -> Result<Table, StoreError> {
    // Series name per group (`NULL` for a missing value), and counts per series.
    let mut cells: HashMap<(i64, String), u64> = HashMap::new();
    let mut per_series: HashMap<String, u64> = HashMap::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for ((bucket, key), n) in groups {
        let name = if has_by {
            match key.first() {
                Some(Value::Null) | None => NULL_SERIES.to_owned(),
                Some(v) => key_text(v),
            }
        } else {
            String::new()
        };
        first = first.min(bucket);
        last = last.max(bucket);
        *per_series.entry(name.clone()).or_default() += n;
        *cells.entry((bucket, name)).or_default() += n;
    }
    let mut kept: HashSet<String> = HashSet::new();
    let mut folded = false;
    if has_by {
        let mut ranked: Vec<(String, u64)> = per_series.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        folded = ranked.len() > TIMECHART_SERIES;
        kept = ranked
            .into_iter()
            .take(TIMECHART_SERIES)
            .map(|(name, _)| name)
            .collect();
        if folded {
            let mut merged: HashMap<(i64, String), u64> = HashMap::new();
            for ((bucket, name), n) in cells {
                let name = if kept.contains(&name) {
                    name
                } else {
                    OTHER_SERIES.to_owned()
                };
                *merged.entry((bucket, name)).or_default() += n;
            }
            cells = merged;
        }
    }
    let mut series: Vec<String> = if has_by {
        kept.into_iter().collect()
    } else {
        vec![String::new()]
    };
    series.sort();
    if folded {
        series.push(OTHER_SERIES.to_owned());
    }
    let mut columns = vec!["_time".to_owned()];
    let mut layout: Vec<usize> = Vec::new(); // series index per column
    for (si, name) in series.iter().enumerate() {
        for agg in aggs {
            columns.push(match (has_by, aggs.len()) {
                (false, _) => agg.alias.clone(),
                (true, 1) => name.clone(),
                (true, _) => format!("{}: {name}", agg.alias),
            });
            layout.push(si);
        }
    }
    if cells.is_empty() {
        return Ok(Table {
            columns,
            rows: Vec::new(),
        });
    }
    let buckets = ((last as i128 - first as i128) / span as i128 + 1) as u64;
    if buckets > MAX_BUCKETS {
        return Err(StoreError::Pipeline(format!(
            "timechart span {} from {} to {} makes {buckets} buckets, more than {MAX_BUCKETS}; use a larger span",
            rampart_query::format_duration(span),
            Timestamp(first).to_rfc3339(),
            Timestamp(last).to_rfc3339(),
        )));
    }
    let mut rows = Vec::with_capacity(buckets as usize);
    let mut bucket = first;
    loop {
        let mut row = Vec::with_capacity(columns.len());
        row.push(Value::String(Timestamp(bucket).to_rfc3339()));
        for &si in &layout {
            let n = cells
                .get(&(bucket, series[si].clone()))
                .copied()
                .unwrap_or(0);
            row.push(Value::from(n));
        }
        rows.push(row);
        match bucket.checked_add(span) {
            Some(next) if next <= last => bucket = next,
            _ => break,
        }
    }
    Ok(Table { columns, rows })
}
