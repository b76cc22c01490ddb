//! Search execution: scope (tenant, time), filter translation, event lists and pipelines.
//!
//! Plans, in order of preference:
//! 1. no stage but `head` — an event list, newest first, straight from the index;
//! 2. first stage an aggregation that [`crate::aggs`] can push down, on an exact filter —
//!    computed from fast fields, later stages through `rampart_query::exec`;
//! 3. otherwise the matching events are loaded (at most `max_scan_events`, newest first)
//!    and every stage runs through `rampart_query::exec::apply_stages`. Only `fields` and
//!    `head` stages need no more than the first `limit` events.
//!
//! A filter the index cannot decide exactly is checked event by event with
//! `rampart_query::eval::Matcher`, the reference semantics.

use crate::embedded::Inner;
use crate::error::StoreError;
use crate::translate::Translator;
use crate::{SearchRequest, SearchResponse, SearchResult};
use rampart_model::{Event, Timestamp};
use rampart_query::Stage;
use rampart_query::eval::Matcher;
use rampart_query::exec::{Row, Table, apply_stages, event_row};
use std::ops::Bound;
use std::time::Instant;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value as _};
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

pub(crate) fn run(inner: &Inner, req: &SearchRequest) -> Result<SearchResponse, StoreError> {
    let started = Instant::now();
    let searcher = inner.reader.searcher();
    let translated = Translator::new(&inner.fields, &searcher)
        .with_shared_doubts(&inner.doubts)
        .translate(&req.search.filter)?;
    let matcher = if translated.exact {
        None
    } else {
        Some(
            Matcher::new(&req.search.filter)
                .map_err(|e| StoreError::UnsupportedQuery(e.to_string()))?,
        )
    };
    let query = scoped(inner, req, translated.query);
    let stages = &req.search.stages;
    let ctx = Ctx {
        inner,
        searcher: &searcher,
        query: query.as_ref(),
        matcher: matcher.as_ref(),
    };

    let mut indexed = matcher.is_none();
    let result = if stages.iter().all(|s| matches!(s, Stage::Head { .. })) {
        let limit = stages.iter().fold(req.limit, |l, s| match s {
            Stage::Head { limit } => l.min(*limit),
            _ => l,
        });
        let (total, events) = ctx.events(limit, false)?;
        SearchResult::Events { total, events }
    } else if let Some(table) = ctx.pushed_down(stages)? {
        table_result(table)
    } else if stages
        .iter()
        .all(|s| matches!(s, Stage::Head { .. } | Stage::Fields { .. }))
    {
        let (_, events) = ctx.events(req.limit, false)?;
        table_result(pipeline(stages, &events)?)
    } else {
        indexed = false;
        let (_, events) = ctx.events(usize::MAX, true)?;
        table_result(pipeline(stages, &events)?)
    };
    let counter = if indexed {
        &inner.counters.searches_indexed
    } else {
        &inner.counters.searches_scanned
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(SearchResponse {
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
        result,
    })
}

fn table_result(table: Table) -> SearchResult {
    SearchResult::Table {
        columns: table.columns,
        rows: table.rows,
    }
}

fn pipeline(stages: &[Stage], events: &[Event]) -> Result<Table, StoreError> {
    let rows: Vec<Row> = events.iter().map(event_row).collect();
    apply_stages(stages, rows).map_err(|e| StoreError::Pipeline(e.to_string()))
}

/// The filter within the request's tenant and time range.
fn scoped(inner: &Inner, req: &SearchRequest, filter: Box<dyn Query>) -> Box<dyn Query> {
    let f = &inner.fields;
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, filter)];
    if let Some(tenant) = &req.tenant {
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(f.tenant, tenant),
                IndexRecordOption::Basic,
            )),
        ));
    }
    if req.from.is_some() || req.to.is_some() {
        let lo = req.from.map_or(Bound::Unbounded, |t| {
            Bound::Included(Term::from_field_i64(f.ts, t.nanos()))
        });
        let hi = req.to.map_or(Bound::Unbounded, |t| {
            Bound::Excluded(Term::from_field_i64(f.ts, t.nanos()))
        });
        clauses.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
    }
    if clauses.len() == 1
        && let Some((_, q)) = clauses.pop()
    {
        return q;
    }
    Box::new(BooleanQuery::new(clauses))
}

struct Ctx<'a> {
    inner: &'a Inner,
    searcher: &'a Searcher,
    query: &'a dyn Query,
    matcher: Option<&'a Matcher>,
}

impl Ctx<'_> {
    /// Matching events newest first, at most `limit`, and how many match in all.
    /// With `all`, every match is loaded (bounded by `max_scan_events`).
    fn events(&self, limit: usize, all: bool) -> Result<(u64, Vec<Event>), StoreError> {
        let max_scan = self.inner.config.max_scan_events;
        let candidates = self.searcher.search(self.query, &Count)? as u64;
        if self.matcher.is_none() && !all {
            // Exact filter: the count is the total, only `limit` events are read.
            let take = limit.min(candidates as usize);
            if take == 0 {
                return Ok((candidates, Vec::new()));
            }
            let top = self.top(take)?;
            let mut events = Vec::with_capacity(top.len());
            for addr in top {
                events.push(load_event(self.inner, self.searcher, addr)?);
            }
            return Ok((candidates, events));
        }
        if candidates > max_scan {
            return Err(StoreError::QueryTooBroad {
                candidates,
                limit: max_scan,
            });
        }
        if candidates == 0 {
            return Ok((0, Vec::new()));
        }
        let mut total = 0u64;
        let mut events = Vec::new();
        for addr in self.top(candidates as usize)? {
            let event = load_event(self.inner, self.searcher, addr)?;
            if self.matcher.is_none_or(|m| m.matches(&event)) {
                total += 1;
                if events.len() < limit {
                    events.push(event);
                }
            }
        }
        Ok((total, events))
    }

    fn top(&self, n: usize) -> Result<Vec<DocAddress>, StoreError> {
        let hits = self.searcher.search(
            self.query,
            &TopDocs::with_limit(n).order_by_fast_field::<i64>(crate::schema::F_TS, Order::Desc),
        )?;
        Ok(hits.into_iter().map(|(_, addr)| addr).collect())
    }

    /// An aggregating first stage computed in the index, then the rest over its rows.
    fn pushed_down(&self, stages: &[Stage]) -> Result<Option<Table>, StoreError> {
        let Some((first, rest)) = stages.split_first() else {
            return Ok(None);
        };
        if self.matcher.is_some() {
            return Ok(None);
        }
        let Some(table) = crate::aggs::run(self.searcher, self.query, first)? else {
            return Ok(None);
        };
        if rest.is_empty() {
            return Ok(Some(table));
        }
        let rows: Vec<Row> = table
            .rows
            .into_iter()
            .map(|values| table.columns.iter().cloned().zip(values).collect())
            .collect();
        let out = apply_stages(rest, rows).map_err(|e| StoreError::Pipeline(e.to_string()))?;
        let reshapes = rest.iter().any(|s| {
            matches!(
                s,
                Stage::Stats { .. }
                    | Stage::Top { .. }
                    | Stage::Rare { .. }
                    | Stage::Timechart { .. }
                    | Stage::Fields { .. }
            )
        });
        if reshapes {
            return Ok(Some(out));
        }
        // `exec` would have kept the aggregation's columns: restore their order.
        let rows = out
            .rows
            .into_iter()
            .map(|values| {
                table
                    .columns
                    .iter()
                    .map(|c| {
                        out.columns
                            .iter()
                            .position(|o| o == c)
                            .and_then(|i| values.get(i).cloned())
                            .unwrap_or(serde_json::Value::Null)
                    })
                    .collect()
            })
            .collect();
        Ok(Some(Table {
            columns: table.columns,
            rows,
        }))
    }
}

/// The stored event behind a document.
pub(crate) fn load_event(
    inner: &Inner,
    searcher: &Searcher,
    addr: DocAddress,
) -> Result<Event, StoreError> {
    let doc: TantivyDocument = searcher.doc(addr)?;
    let location = || format!("segment {} doc {}", addr.segment_ord, addr.doc_id);
    let bytes = doc
        .get_first(inner.fields.src)
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| StoreError::CorruptDocument {
            location: location(),
            reason: "no stored source".into(),
        })?;
    serde_json::from_slice(bytes).map_err(|e| StoreError::CorruptDocument {
        location: location(),
        reason: e.to_string(),
    })
}

/// Oldest and newest `@timestamp` in the index (from column bounds; deleted documents
/// may widen them until their segments merge).
pub(crate) fn time_bounds(searcher: &Searcher) -> (Option<Timestamp>, Option<Timestamp>) {
    let mut lo: Option<i64> = None;
    let mut hi: Option<i64> = None;
    for segment in searcher.segment_readers() {
        if segment.num_docs() == 0 {
            continue;
        }
        if let Ok(col) = segment.fast_fields().i64(crate::schema::F_TS) {
            lo = Some(lo.map_or(col.min_value(), |l| l.min(col.min_value())));
            hi = Some(hi.map_or(col.max_value(), |h| h.max(col.max_value())));
        }
    }
    (lo.map(Timestamp), hi.map(Timestamp))
}
