//! Pipe stages over rows: the in-memory reference for `stats`, `top`, `timechart`, `sort` ….
//!
//! A row is a flattened document (dotted field name → value). A store may hand its matching
//! documents here, or push stages down itself as long as the result agrees.

mod aggregate;

pub use aggregate::{MAX_BUCKETS, TIMECHART_SERIES};

use crate::ast::{SortKey, Stage};
use crate::error::QueryError;
use crate::eval::{Matcher, Num, scalar_text};
use crate::text::cmp_ci;
use rampart_model::{Event, get_path};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// One row: column name → value.
pub type Row = Map<String, Value>;

/// The result of a search: named columns and rows of JSON values (numbers as JSON numbers).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Rows between stages; `columns` is set once a stage fixes the shape.
struct Frame {
    columns: Option<Vec<String>>,
    rows: Vec<Row>,
}

/// Run pipe stages over rows (a row = flattened document: dotted field name → value).
///
/// Without a stage that fixes the columns, the columns are every key seen, `@timestamp`
/// first and the rest in name order.
pub fn apply_stages(stages: &[Stage], rows: Vec<Row>) -> Result<Table, QueryError> {
    let mut frame = Frame {
        columns: None,
        rows,
    };
    for stage in stages {
        frame = apply_stage(stage, frame)?;
    }
    Ok(into_table(frame))
}

/// Flatten [`Event::to_document`] into dotted keys (`host.name`, `event.original`, …).
/// Arrays stay whole as one value.
pub fn event_row(event: &Event) -> Row {
    let mut row = Map::new();
    if let Value::Object(doc) = event.to_document() {
        rampart_model::fields::for_each_leaf(&doc, &mut |path, value| {
            row.insert(path.to_owned(), value.clone());
        });
    }
    row
}

fn apply_stage(stage: &Stage, frame: Frame) -> Result<Frame, QueryError> {
    Ok(match stage {
        Stage::Stats { aggs, by } => aggregate::stats(aggs, by, &frame.rows),
        Stage::Top { limit, fields } => aggregate::top(*limit, fields, &frame.rows, false),
        Stage::Rare { limit, fields } => aggregate::top(*limit, fields, &frame.rows, true),
        Stage::Timechart {
            span_nanos,
            aggs,
            by,
        } => aggregate::timechart(*span_nanos, aggs, by.as_deref(), &frame.rows)?,
        Stage::Sort { keys } => {
            let mut rows = frame.rows;
            rows.sort_by(|a, b| compare_rows(keys, a, b));
            Frame { rows, ..frame }
        }
        Stage::Head { limit } => {
            let mut rows = frame.rows;
            rows.truncate(*limit);
            Frame { rows, ..frame }
        }
        Stage::Tail { limit } => {
            let mut rows = frame.rows;
            let skip = rows.len().saturating_sub(*limit);
            rows.drain(..skip);
            Frame { rows, ..frame }
        }
        Stage::Fields { fields } => {
            let rows = frame
                .rows
                .into_iter()
                .map(|row| {
                    fields
                        .iter()
                        .filter_map(|f| lookup(&row, f).map(|v| (f.clone(), v.clone())))
                        .collect()
                })
                .collect();
            Frame {
                columns: Some(fields.clone()),
                rows,
            }
        }
        Stage::Where { filter } => {
            let matcher = Matcher::new(filter)?;
            let mut rows = frame.rows;
            rows.retain(|row| matcher.matches(row));
            Frame { rows, ..frame }
        }
    })
}

fn into_table(frame: Frame) -> Table {
    let columns = frame.columns.unwrap_or_else(|| {
        let mut names = BTreeSet::new();
        let mut has_timestamp = false;
        for row in &frame.rows {
            for key in row.keys() {
                if key == "@timestamp" {
                    has_timestamp = true;
                } else if !names.contains(key.as_str()) {
                    names.insert(key.clone());
                }
            }
        }
        let mut columns: Vec<String> = Vec::with_capacity(names.len() + 1);
        if has_timestamp {
            columns.push("@timestamp".to_owned());
        }
        columns.extend(names);
        columns
    });
    let rows = frame
        .rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| lookup(row, c).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    Table { columns, rows }
}

/// A column of a row: the dotted key itself, else a path through nested objects.
fn lookup<'a>(row: &'a Row, column: &str) -> Option<&'a Value> {
    get_path(row, column)
}

/// Order rows by the sort keys; a missing or null value sorts last either way.
fn compare_rows(keys: &[SortKey], a: &Row, b: &Row) -> Ordering {
    for key in keys {
        let va = lookup(a, &key.field).filter(|v| !v.is_null());
        let vb = lookup(b, &key.field).filter(|v| !v.is_null());
        let ord = match (va, vb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => {
                let ord = compare_values(x, y);
                if key.descending { ord.reverse() } else { ord }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// A total order on JSON values: numbers (and strings that read as numbers) numerically,
/// then strings case-insensitively, then booleans, then arrays and objects by their JSON.
/// Stores that sort or group outside this module use it so their order is `exec`'s.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value, num: Option<Num>) -> u8 {
        match v {
            _ if num.is_some() => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Null => 4,
            _ => 3,
        }
    }
    let (na, nb) = (Num::from_value(a), Num::from_value(b));
    let (ra, rb) = (rank(a, na), rank(b, nb));
    if ra != rb {
        return ra.cmp(&rb);
    }
    if let (Some(x), Some(y)) = (na, nb) {
        return x
            .compare(y)
            .unwrap_or_else(|| x.as_f64().total_cmp(&y.as_f64()));
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => cmp_ci(x, y).then_with(|| x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => {
            let (x, y) = (scalar_or_json(a), scalar_or_json(b));
            x.cmp(&y)
        }
    }
}

/// Group keys in [`compare_values`] order, field by field.
pub fn compare_keys<K: std::borrow::Borrow<Value>>(a: &[K], b: &[K]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_values(x.borrow(), y.borrow()))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// Order `top` (most frequent first) or `rare` (least frequent first) counts, ties by key,
/// and keep `limit`. Stores that count in their index call it so their rows are `exec`'s.
pub fn rank_counts<K: std::borrow::Borrow<Value>>(
    counts: &mut Vec<(Vec<K>, u64)>,
    limit: usize,
    rare: bool,
) {
    counts.sort_by(|a, b| {
        let by_count = if rare { a.1.cmp(&b.1) } else { b.1.cmp(&a.1) };
        by_count.then_with(|| compare_keys(&a.0, &b.0))
    });
    counts.truncate(limit);
}

/// `count` as a percentage of `total`, rounded to 4 decimals (`top`'s `percent` column).
pub fn percent(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (count as f64 * 100.0 / total as f64 * 10_000.0).round() / 10_000.0
    }
}

fn scalar_or_json(v: &Value) -> String {
    scalar_text(v).map_or_else(|| v.to_string(), |s| s.into_owned())
}

#[cfg(test)]
mod tests;
