//! Counts of matching documents by the values of one string column, counted by term
//! ordinal: the fast path of `stats count() by F`, `top F` and `rare F` over many values.
//!
//! Per segment, the ordinals of the matching documents' values are counted into a dense
//! array sized to the segment's dictionary (for a match-all filter on a segment without
//! deletions, straight from the column's values, without visiting documents); each counted
//! ordinal is then turned into its text once, in dictionary order, into one packed run per
//! segment. The segments' runs are sorted by the same byte order, so a k-way merge adds up
//! equal values without hashing, and hands the totals back in byte order. The per-document
//! work is an array increment; the per-value work, one dictionary step per segment holding
//! the value and one heap step in the merge.

use crate::error::StoreError;
use std::collections::BinaryHeap;
use tantivy::columnar::{ColumnType, DynamicColumn, StrColumn};
use tantivy::query::{AllQuery, EnableScoring, Query};
use tantivy::{DocId, Searcher};

/// Values read from a column at a time.
const CHUNK: usize = 4096;

/// How many matching documents hold each value of the string column `column` (a document
/// holding several values counts once per value, as `rampart_query::exec` groups arrays).
///
/// `None` when some segment holds a non-string column under that name: the caller then
/// groups through its general path, which knows how `exec` mixes numbers and text.
pub(crate) fn count_by_str(
    searcher: &Searcher,
    query: &dyn Query,
    column: &str,
) -> Result<Option<Vec<(String, u64)>>, StoreError> {
    let segments = searcher.segment_readers();
    let mut columns: Vec<Option<StrColumn>> = Vec::with_capacity(segments.len());
    for segment in segments {
        let handles = segment.fast_fields().dynamic_column_handles(column)?;
        match handles.as_slice() {
            [] => columns.push(None),
            [h] if h.column_type() == ColumnType::Str => {
                match h.open().map_err(tantivy::TantivyError::from)? {
                    DynamicColumn::Str(s) => columns.push(Some(s)),
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        }
    }
    let match_all = query.downcast_ref::<AllQuery>().is_some();
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut runs: Vec<Run> = Vec::with_capacity(segments.len());
    let mut counts: Vec<u32> = Vec::new();
    let mut nonzero: Vec<u64> = Vec::new();
    let mut values: Vec<u64> = Vec::with_capacity(CHUNK);
    let mut rows: Vec<u32> = Vec::new();
    let mut docs_out: Vec<DocId> = Vec::new();
    let mut alive_docs: Vec<DocId> = Vec::new();
    for (segment, col) in segments.iter().zip(&columns) {
        let Some(col) = col else { continue };
        counts.clear();
        counts.resize(col.num_terms(), 0);
        let ords = col.ords();
        let mut count = |vals: &[u64]| {
            for &v in vals {
                if let Some(c) = usize::try_from(v).ok().and_then(|v| counts.get_mut(v)) {
                    *c += 1;
                }
            }
        };
        if match_all && segment.alive_bitset().is_none() {
            // Every document matches: every value of the column counts.
            let n = u64::from(ords.values.num_vals());
            let mut start = 0u64;
            while start < n {
                let len = (n - start).min(CHUNK as u64) as usize;
                values.resize(len, 0);
                ords.values.get_range(start, &mut values);
                count(&values);
                start += len as u64;
            }
        } else {
            let alive = segment.alive_bitset();
            weight.for_each_no_score(segment, &mut |docs: &[DocId]| {
                let docs = match alive {
                    Some(bits) => {
                        alive_docs.clear();
                        alive_docs.extend(docs.iter().copied().filter(|&d| bits.is_alive(d)));
                        alive_docs.as_slice()
                    }
                    None => docs,
                };
                docs_out.clear();
                rows.clear();
                ords.row_ids_for_docs(docs, &mut docs_out, &mut rows);
                values.resize(rows.len(), 0);
                ords.values.get_vals(&rows, &mut values);
                count(&values);
            })?;
        }
        nonzero.clear();
        nonzero.extend(
            counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(o, _)| o as u64),
        );
        let mut run = Run::default();
        let mut next = nonzero.iter();
        let complete = col
            .dictionary()
            .sorted_ords_to_term_cb(&nonzero, |bytes| {
                let n = next
                    .next()
                    .and_then(|&o| counts.get(o as usize))
                    .map_or(0, |&c| u64::from(c));
                run.push(bytes, n);
            })
            .map_err(tantivy::TantivyError::from)?;
        if !complete {
            return Err(StoreError::CorruptDocument {
                location: format!("column {column}"),
                reason: "a counted term ordinal is missing from the column's dictionary".into(),
            });
        }
        runs.push(run);
    }
    Ok(Some(merge(&runs)))
}

/// One segment's counted values, in dictionary (byte) order, packed in one buffer.
#[derive(Default)]
struct Run {
    bytes: Vec<u8>,
    /// End offset in `bytes` and count of each value.
    entries: Vec<(usize, u64)>,
}

impl Run {
    fn push(&mut self, value: &[u8], n: u64) {
        self.bytes.extend_from_slice(value);
        self.entries.push((self.bytes.len(), n));
    }

    fn get(&self, i: usize) -> Option<(&[u8], u64)> {
        let &(end, n) = self.entries.get(i)?;
        let start = match i.checked_sub(1) {
            Some(p) => self.entries.get(p).map_or(0, |e| e.0),
            None => 0,
        };
        Some((self.bytes.get(start..end)?, n))
    }
}

/// The head of a run in the merge: its current value, the run, the position in it.
struct Head<'a>(&'a [u8], usize, usize);

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Head<'_> {}
impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head<'_> {
    /// Reversed, so the max-heap pops the smallest value.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.cmp(self.0)
    }
}

/// Merge sorted runs, adding the counts of equal values: the totals in byte order.
fn merge(runs: &[Run]) -> Vec<(String, u64)> {
    let mut heap: BinaryHeap<Head<'_>> = runs
        .iter()
        .enumerate()
        .filter_map(|(r, run)| run.get(0).map(|(v, _)| Head(v, r, 0)))
        .collect();
    let mut out: Vec<(String, u64)> = Vec::new();
    let mut last: Option<&[u8]> = None;
    while let Some(Head(value, r, i)) = heap.pop() {
        let n = runs.get(r).and_then(|run| run.get(i)).map_or(0, |e| e.1);
        match (last, out.last_mut()) {
            (Some(l), Some(o)) if l == value => o.1 += n,
            _ => {
                out.push((String::from_utf8_lossy(value).into_owned(), n));
                last = Some(value);
            }
        }
        if let Some((v, _)) = runs.get(r).and_then(|run| run.get(i + 1)) {
            heap.push(Head(v, r, i + 1));
        }
    }
    out
}
