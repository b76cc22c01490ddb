//! Aggregating stages: `stats`, `top`/`rare` and `timechart`.

use super::{Frame, Row, compare_keys, lookup};
use crate::ast::{AggFunction, Aggregation};
use crate::error::QueryError;
use crate::eval::{Num, scalar_text};
use crate::text::cmp_ci;
use rampart_model::Timestamp;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// Series a `timechart … by f` keeps before folding the rest into `OTHER`.
pub const TIMECHART_SERIES: usize = 10;
/// Most buckets a timechart may produce.
pub const MAX_BUCKETS: u64 = 100_000;
/// Column for rows whose `by` field is missing (timechart only; `stats` skips them).
const NULL_SERIES: &str = "NULL";
const OTHER_SERIES: &str = "OTHER";

/// The scalar values `row` holds at `field`, arrays expanded; none when missing or null.
fn values_of<'a>(row: &'a Row, field: &str, out: &mut Vec<&'a Value>) {
    fn push<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Null => {}
            Value::Array(items) => items.iter().for_each(|i| push(i, out)),
            other => out.push(other),
        }
    }
    out.clear();
    if let Some(v) = lookup(row, field) {
        push(v, out);
    }
}

/// Call `f` with each scalar value `row` holds at `field`, arrays expanded, nulls skipped.
fn visit_values(row: &Row, field: &str, f: &mut dyn FnMut(&Value)) {
    fn walk(v: &Value, f: &mut dyn FnMut(&Value)) {
        match v {
            Value::Null => {}
            Value::Array(items) => items.iter().for_each(|i| walk(i, f)),
            other => f(other),
        }
    }
    if let Some(v) = lookup(row, field) {
        walk(v, f);
    }
}

/// Text used to tell group keys apart.
fn key_text(v: &Value) -> String {
    scalar_text(v).map_or_else(|| v.to_string(), |s| s.into_owned())
}

/// Call `f` with every combination of the `by` values of `row` (one per field; a row with
/// a missing field gives none).
fn for_each_key<'a>(
    row: &'a Row,
    by: &[String],
    scratch: &mut Vec<Vec<&'a Value>>,
    f: &mut dyn FnMut(&[&'a Value]),
) {
    scratch.resize_with(by.len(), Vec::new);
    for (field, out) in by.iter().zip(scratch.iter_mut()) {
        values_of(row, field, out);
        if out.is_empty() {
            return;
        }
    }
    let mut index = vec![0usize; by.len()];
    let mut key: Vec<&Value> = Vec::with_capacity(by.len());
    loop {
        key.clear();
        key.extend(index.iter().zip(scratch.iter()).map(|(&i, vals)| vals[i]));
        f(&key);
        // Advance the odometer.
        let mut pos = by.len();
        loop {
            if pos == 0 {
                return;
            }
            pos -= 1;
            index[pos] += 1;
            if index[pos] < scratch[pos].len() {
                break;
            }
            index[pos] = 0;
        }
    }
}

/// The smallest or largest value seen: numbers win over text.
#[derive(Debug, Default)]
struct Extreme {
    num: Option<Num>,
    text: Option<String>,
}

impl Extreme {
    fn add(&mut self, v: &Value, want: Ordering) {
        if let Some(n) = Num::from_value(v) {
            if self.num.is_none_or(|cur| n.compare(cur) == Some(want)) {
                self.num = Some(n);
            }
        } else if let Some(s) = scalar_text(v) {
            let better = self
                .text
                .as_deref()
                .is_none_or(|cur| cmp_ci(&s, cur).then_with(|| (*s).cmp(cur)) == want);
            if better {
                self.text = Some(s.into_owned());
            }
        }
    }

    fn finish(&self) -> Value {
        match (self.num, &self.text) {
            (Some(Num::I(i)), _) => Value::from(i),
            (Some(Num::F(f)), _) => Value::from(f),
            (None, Some(s)) => Value::String(s.clone()),
            (None, None) => Value::Null,
        }
    }
}

/// The running state of one aggregation in one group.
#[derive(Debug)]
enum Acc {
    Count(u64),
    Distinct(HashSet<String>),
    Sum {
        int: i64,
        float: f64,
        is_float: bool,
        seen: bool,
    },
    Avg {
        sum: f64,
        n: u64,
    },
    Min(Extreme),
    Max(Extreme),
}

impl Acc {
    fn new(function: &AggFunction) -> Acc {
        match function {
            AggFunction::Count => Acc::Count(0),
            AggFunction::DistinctCount(_) => Acc::Distinct(HashSet::new()),
            AggFunction::Sum(_) => Acc::Sum {
                int: 0,
                float: 0.0,
                is_float: false,
                seen: false,
            },
            AggFunction::Avg(_) => Acc::Avg { sum: 0.0, n: 0 },
            AggFunction::Min(_) => Acc::Min(Extreme::default()),
            AggFunction::Max(_) => Acc::Max(Extreme::default()),
        }
    }

    fn field(function: &AggFunction) -> Option<&str> {
        match function {
            AggFunction::Count => None,
            AggFunction::DistinctCount(f)
            | AggFunction::Sum(f)
            | AggFunction::Avg(f)
            | AggFunction::Min(f)
            | AggFunction::Max(f) => Some(f),
        }
    }

    fn add_row(&mut self, function: &AggFunction, row: &Row) {
        if let Acc::Count(n) = self {
            *n += 1;
            return;
        }
        if let Some(field) = Acc::field(function) {
            visit_values(row, field, &mut |v| self.add_value(v));
        }
    }

    fn add_value(&mut self, v: &Value) {
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Distinct(seen) => {
                seen.insert(key_text(v));
            }
            Acc::Sum {
                int,
                float,
                is_float,
                seen,
            } => {
                let Some(n) = Num::from_value(v) else { return };
                *seen = true;
                match (n, *is_float) {
                    (Num::I(i), false) => match int.checked_add(i) {
                        Some(s) => *int = s,
                        None => {
                            *is_float = true;
                            *float = *int as f64 + i as f64;
                        }
                    },
                    (n, false) => {
                        *is_float = true;
                        *float = *int as f64 + n.as_f64();
                    }
                    (n, true) => *float += n.as_f64(),
                }
            }
            Acc::Avg { sum, n } => {
                if let Some(x) = Num::from_value(v) {
                    *sum += x.as_f64();
                    *n += 1;
                }
            }
            Acc::Min(e) => e.add(v, Ordering::Less),
            Acc::Max(e) => e.add(v, Ordering::Greater),
        }
    }

    fn finish(&self) -> Value {
        match self {
            Acc::Count(n) => Value::from(*n),
            Acc::Distinct(seen) => Value::from(seen.len() as u64),
            Acc::Sum { seen: false, .. } => Value::Null,
            Acc::Sum {
                is_float: true,
                float,
                ..
            } => Value::from(*float),
            Acc::Sum { int, .. } => Value::from(*int),
            Acc::Avg { n: 0, .. } => Value::Null,
            Acc::Avg { sum, n } => Value::from(*sum / *n as f64),
            Acc::Min(e) | Acc::Max(e) => e.finish(),
        }
    }

    /// The value of an aggregation over no rows: 0 for counts and sums, else null.
    fn empty(function: &AggFunction) -> Value {
        match function {
            AggFunction::Count | AggFunction::DistinctCount(_) | AggFunction::Sum(_) => {
                Value::from(0)
            }
            _ => Value::Null,
        }
    }
}

/// Accumulators for one group.
struct Group<'a> {
    key: Vec<&'a Value>,
    rows: u64,
    accs: Vec<Acc>,
}

impl<'a> Group<'a> {
    fn new(key: Vec<&'a Value>, aggs: &[Aggregation]) -> Self {
        Group {
            key,
            rows: 0,
            accs: aggs.iter().map(|a| Acc::new(&a.function)).collect(),
        }
    }

    fn add(&mut self, aggs: &[Aggregation], row: &Row) {
        self.rows += 1;
        for (acc, agg) in self.accs.iter_mut().zip(aggs) {
            acc.add_row(&agg.function, row);
        }
    }
}

/// `stats aggs by fields`: one row per group, biggest groups first.
pub(super) fn stats(aggs: &[Aggregation], by: &[String], rows: &[Row]) -> Frame {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    if by.is_empty() {
        groups.push(Group::new(Vec::new(), aggs));
    }
    let mut scratch = Vec::new();
    for row in rows {
        if by.is_empty() {
            groups[0].add(aggs, row);
            continue;
        }
        for_each_key(row, by, &mut scratch, &mut |key| {
            let text: Vec<String> = key.iter().map(|v| key_text(v)).collect();
            let i = *index.entry(text).or_insert_with(|| {
                groups.push(Group::new(key.to_vec(), aggs));
                groups.len() - 1
            });
            groups[i].add(aggs, row);
        });
    }
    groups.sort_by(|a, b| {
        b.rows
            .cmp(&a.rows)
            .then_with(|| compare_keys(&a.key, &b.key))
    });
    let columns: Vec<String> = by
        .iter()
        .cloned()
        .chain(aggs.iter().map(|a| a.alias.clone()))
        .collect();
    let rows = groups
        .iter()
        .map(|g| {
            let mut row = Map::new();
            for (field, v) in by.iter().zip(&g.key) {
                row.insert(field.clone(), (*v).clone());
            }
            for (agg, acc) in aggs.iter().zip(&g.accs) {
                row.insert(agg.alias.clone(), acc.finish());
            }
            row
        })
        .collect();
    Frame {
        columns: Some(columns),
        rows,
    }
}

/// `top N fields` (`rare` when `rare`): the most (least) frequent value combinations with
/// `count` and `percent` (of all counted values, rounded to 4 decimals).
pub(super) fn top(limit: usize, fields: &[String], rows: &[Row], rare: bool) -> Frame {
    let mut counts: Vec<(Vec<&Value>, u64)> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    let mut scratch = Vec::new();
    let mut total = 0u64;
    for row in rows {
        for_each_key(row, fields, &mut scratch, &mut |key| {
            total += 1;
            let text: Vec<String> = key.iter().map(|v| key_text(v)).collect();
            let i = *index.entry(text).or_insert_with(|| {
                counts.push((key.to_vec(), 0));
                counts.len() - 1
            });
            counts[i].1 += 1;
        });
    }
    super::rank_counts(&mut counts, limit, rare);
    let mut columns = fields.to_vec();
    columns.push("count".to_owned());
    columns.push("percent".to_owned());
    let rows = counts
        .into_iter()
        .map(|(key, count)| {
            let mut row = Map::new();
            for (field, v) in fields.iter().zip(key) {
                row.insert(field.clone(), v.clone());
            }
            row.insert("count".to_owned(), Value::from(count));
            row.insert(
                "percent".to_owned(),
                Value::from(super::percent(count, total)),
            );
            row
        })
        .collect();
    Frame {
        columns: Some(columns),
        rows,
    }
}

/// The `@timestamp` of a row in nanoseconds (an RFC 3339 string).
fn row_time(row: &Row) -> Option<i64> {
    match lookup(row, "@timestamp")? {
        Value::String(s) => Timestamp::parse_rfc3339(s).ok().map(|t| t.0),
        _ => None,
    }
}

/// `timechart span=S aggs [by f]`: rows per time bucket, one column per aggregation or,
/// with `by`, per value of `f` (the 10 most frequent, the rest as `OTHER`, missing as `NULL`).
pub(super) fn timechart(
    span: i64,
    aggs: &[Aggregation],
    by: Option<&str>,
    rows: &[Row],
) -> Result<Frame, QueryError> {
    if span <= 0 {
        return Err(QueryError::BadSpan(span));
    }
    let series_of = |row: &Row| -> Vec<String> {
        let Some(field) = by else {
            return vec![String::new()];
        };
        let mut names = Vec::new();
        visit_values(row, field, &mut |v| names.push(key_text(v)));
        if names.is_empty() {
            names.push(NULL_SERIES.to_owned());
        }
        names
    };

    // Which series get their own column.
    let mut kept: HashSet<String> = HashSet::new();
    let mut folded = false;
    if by.is_some() {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for row in rows.iter().filter(|r| row_time(r).is_some()) {
            for name in series_of(row) {
                *counts.entry(name).or_default() += 1;
            }
        }
        let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        folded = ranked.len() > TIMECHART_SERIES;
        kept = ranked
            .into_iter()
            .take(TIMECHART_SERIES)
            .map(|(name, _)| name)
            .collect();
    }

    let mut cells: HashMap<(i64, String), Vec<Acc>> = HashMap::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for row in rows {
        let Some(t) = row_time(row) else { continue };
        let Some(bucket) = t.div_euclid(span).checked_mul(span) else {
            continue;
        };
        first = first.min(bucket);
        last = last.max(bucket);
        for mut name in series_of(row) {
            if by.is_some() && !kept.contains(&name) {
                name = OTHER_SERIES.to_owned();
            }
            let accs = cells
                .entry((bucket, name))
                .or_insert_with(|| aggs.iter().map(|a| Acc::new(&a.function)).collect());
            for (acc, agg) in accs.iter_mut().zip(aggs) {
                acc.add_row(&agg.function, row);
            }
        }
    }

    // Columns: `_time`, then aggregations, or series × aggregations.
    let mut series: Vec<String> = if by.is_some() {
        kept.into_iter().collect()
    } else {
        vec![String::new()]
    };
    series.sort();
    if folded {
        series.push(OTHER_SERIES.to_owned());
    }
    let mut columns = vec!["_time".to_owned()];
    let mut layout: Vec<(String, usize, usize)> = Vec::new(); // (column, series, agg)
    for (si, name) in series.iter().enumerate() {
        for (ai, agg) in aggs.iter().enumerate() {
            let column = match (by.is_some(), aggs.len()) {
                (false, _) => agg.alias.clone(),
                (true, 1) => name.clone(),
                (true, _) => format!("{}: {name}", agg.alias),
            };
            columns.push(column.clone());
            layout.push((column, si, ai));
        }
    }
    if cells.is_empty() {
        return Ok(Frame {
            columns: Some(columns),
            rows: Vec::new(),
        });
    }
    let buckets = ((last as i128 - first as i128) / span as i128 + 1) as u64;
    if buckets > MAX_BUCKETS {
        return Err(QueryError::TooManyBuckets {
            span: crate::time::format_duration(span),
            from: Timestamp(first).to_rfc3339(),
            to: Timestamp(last).to_rfc3339(),
            buckets,
            limit: MAX_BUCKETS,
        });
    }
    let mut out = Vec::with_capacity(buckets as usize);
    let mut bucket = first;
    loop {
        let mut row = Map::new();
        row.insert(
            "_time".to_owned(),
            Value::String(Timestamp(bucket).to_rfc3339()),
        );
        for (column, si, ai) in &layout {
            let value = cells.get(&(bucket, series[*si].clone())).map_or_else(
                || Acc::empty(&aggs[*ai].function),
                |accs| accs[*ai].finish(),
            );
            row.insert(column.clone(), value);
        }
        out.push(row);
        match bucket.checked_add(span) {
            Some(next) if next <= last => bucket = next,
            _ => break,
        }
    }
    Ok(Frame {
        columns: Some(columns),
        rows: out,
    })
}
