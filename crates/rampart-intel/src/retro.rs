//! Retro-hunts: search the stored events of a look-back window for newly arrived
//! indicators through the `EventStore` trait, then confirm every candidate with the
//! [`Matcher`] so the query language's looser matching cannot create false hits.

use crate::IntelError;
use crate::indicator::{DecayPolicy, Indicator, IndicatorKind};
use crate::matcher::{
    AllowList, DOMAIN_FIELDS, EMAIL_FIELDS, HASH_FIELDS, IP_FIELDS, IntelHit, Matcher,
    SYSMON_HASH_FIELDS, URL_FIELDS,
};
use rampart_model::{Event, EventId, Timestamp};
use rampart_query::{Expr, Literal, Predicate, Search};
use rampart_store::{EventStore, SearchRequest, SearchResult};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a retro-hunt.
#[derive(Debug, Clone)]
pub struct RetroHuntOptions {
    /// How far back from `now` to search (by `@timestamp`).
    pub lookback: Duration,
    /// Search one tenant, or all when `None`.
    pub tenant: Option<String>,
    /// Most indicator values in one query.
    pub batch_values: usize,
    /// Most field clauses in one query (values × fields); batches shrink to fit.
    pub max_clauses: usize,
    /// Events fetched per search; a window with more is split in halves.
    pub page_events: usize,
    /// The end of the window; events up to a day after it are included (clock skew).
    pub now: Timestamp,
    /// Expired indicators (under this policy, at `now`) are not hunted.
    pub policy: DecayPolicy,
}

impl RetroHuntOptions {
    pub fn new(lookback: Duration, tenant: Option<String>, now: Timestamp) -> Self {
        RetroHuntOptions {
            lookback,
            tenant,
            batch_values: 500,
            max_clauses: 1024,
            page_events: 5_000,
            now,
            policy: DecayPolicy::default(),
        }
    }
}

/// One stored event that holds one of the hunted indicators.
#[derive(Debug, Clone, PartialEq)]
pub struct RetroHit {
    pub event_id: EventId,
    pub tenant: String,
    pub timestamp: Timestamp,
    pub hit: IntelHit,
    /// The event as the store returned it (shared by its hits), for callers that read
    /// more of it (entities of an alert).
    pub event: Arc<Event>,
}

/// What a retro-hunt did and found.
#[derive(Debug, Clone, Default)]
pub struct RetroHuntReport {
    pub hits: Vec<RetroHit>,
    /// Searches run against the store.
    pub queries: usize,
    /// Candidate events returned by the store and checked with the matcher.
    pub events_checked: usize,
    /// Candidates the matcher rejected (query matched, indicator did not).
    pub rejected: usize,
    /// Time windows whose results could not all be fetched (too many in under 1 ms).
    pub truncated_windows: usize,
    pub from: Timestamp,
    pub to: Timestamp,
}

const MAX_SPLIT_DEPTH: u32 = 40;
/// Most events read at once from a window that cannot be split further.
const MAX_UNSPLITTABLE: u64 = 200_000;

/// Search the stored events of the look-back window for `indicators` (the allow-list
/// applies) and return every confirmed hit, one per (event, indicator).
pub fn retro_hunt(
    store: &dyn EventStore,
    indicators: &[Indicator],
    allow: AllowList,
    opts: &RetroHuntOptions,
) -> Result<RetroHuntReport, IntelError> {
    let matcher = Matcher::build(indicators.iter().cloned(), allow, &opts.policy, opts.now);
    let lookback = i64::try_from(opts.lookback.as_nanos()).unwrap_or(i64::MAX);
    let mut report = RetroHuntReport {
        from: Timestamp(opts.now.0.saturating_sub(lookback)),
        to: Timestamp(opts.now.0.saturating_add(86_400_000_000_000)),
        ..Default::default()
    };
    if matcher.is_empty() {
        return Ok(report);
    }
    let queries = build_queries(matcher.indicators(), opts);
    let mut seen: HashSet<EventId> = HashSet::new();
    for q in queries {
        let search = Search {
            filter: q,
            stages: Vec::new(),
        };
        let (from, to) = (report.from, report.to);
        run_window(
            store,
            &search,
            opts,
            from,
            to,
            0,
            &matcher,
            &mut seen,
            &mut report,
        )?;
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn run_window(
    store: &dyn EventStore,
    search: &Search,
    opts: &RetroHuntOptions,
    from: Timestamp,
    to: Timestamp,
    depth: u32,
    matcher: &Matcher,
    seen: &mut HashSet<EventId>,
    report: &mut RetroHuntReport,
) -> Result<(), IntelError> {
    let req = SearchRequest {
        tenant: opts.tenant.clone(),
        search: search.clone(),
        from: Some(from),
        to: Some(to),
        limit: opts.page_events.max(1),
    };
    report.queries += 1;
    let resp = store.search(&req)?;
    let SearchResult::Events { total, events } = resp.result else {
        return Ok(());
    };
    if total > events.len() as u64 {
        let width = to.0.saturating_sub(from.0);
        if width > 1_000_000 && depth < MAX_SPLIT_DEPTH {
            let mid = Timestamp(from.0 + width / 2);
            run_window(
                store,
                search,
                opts,
                from,
                mid,
                depth + 1,
                matcher,
                seen,
                report,
            )?;
            run_window(
                store,
                search,
                opts,
                mid,
                to,
                depth + 1,
                matcher,
                seen,
                report,
            )?;
            return Ok(());
        }
        // A window too narrow to split (events sharing a timestamp): read it whole, up
        // to a bound that keeps memory in check.
        if total <= MAX_UNSPLITTABLE {
            let req = SearchRequest {
                limit: usize::try_from(total).unwrap_or(usize::MAX),
                ..req
            };
            report.queries += 1;
            if let SearchResult::Events { events: all, .. } = store.search(&req)?.result {
                return judge(all, matcher, seen, report);
            }
            return Ok(());
        }
        report.truncated_windows += 1;
    }
    judge(events, matcher, seen, report)
}

/// Run the matcher over candidate events not seen before and record the hits.
fn judge(
    events: Vec<Event>,
    matcher: &Matcher,
    seen: &mut HashSet<EventId>,
    report: &mut RetroHuntReport,
) -> Result<(), IntelError> {
    let mut hits = Vec::new();
    for ev in events {
        if !seen.insert(ev.id) {
            continue;
        }
        report.events_checked += 1;
        hits.clear();
        if matcher.match_event(&ev, &mut hits) == 0 {
            report.rejected += 1;
            continue;
        }
        let ev = Arc::new(ev);
        for hit in hits.drain(..) {
            report.hits.push(RetroHit {
                event_id: ev.id,
                tenant: ev.tenant.clone(),
                timestamp: ev.timestamp,
                hit,
                event: Arc::clone(&ev),
            });
        }
    }
    Ok(())
}

fn eq(field: &str, v: &str) -> Expr {
    Expr::Field {
        field: field.to_owned(),
        predicate: Predicate::Equals(Literal::Str(v.to_owned())),
    }
}

/// The clauses that find one indicator's candidates through index terms (exact values).
fn clauses(ind: &Indicator) -> Vec<Expr> {
    let v = ind.value.as_str();
    match ind.kind {
        // The store matches an IP field against a network written as `a.b.c.d/n`.
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 | IndicatorKind::Cidr => {
            IP_FIELDS.iter().map(|f| eq(f, v)).collect()
        }
        IndicatorKind::Domain => DOMAIN_FIELDS.iter().map(|f| eq(f, v)).collect(),
        IndicatorKind::Url => URL_FIELDS.iter().map(|f| eq(f, v)).collect(),
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
            HASH_FIELDS.iter().map(|f| eq(f, v)).collect()
        }
        IndicatorKind::Email => EMAIL_FIELDS.iter().map(|f| eq(f, v)).collect(),
    }
}

/// Fields where an indicator can sit inside a longer value (a subdomain, a URL's host, a
/// Sysmon `Hashes` list): no index term finds those, and one wildcard query per indicator
/// scans the field's term dictionary once each (minutes for thousands of indicators).
/// Events that have such a field are read once instead and judged by the matcher.
fn scan_fields(kind: IndicatorKind) -> Vec<&'static str> {
    match kind {
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => URL_FIELDS.to_vec(),
        IndicatorKind::Domain => DOMAIN_FIELDS.iter().chain(URL_FIELDS).copied().collect(),
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
            SYSMON_HASH_FIELDS.to_vec()
        }
        IndicatorKind::Cidr | IndicatorKind::Url | IndicatorKind::Email => Vec::new(),
    }
}

/// OR-queries of at most `batch_values` indicators and about `max_clauses` clauses each,
/// then one query for the events that carry a field where an indicator may sit inside a
/// longer value.
fn build_queries<'a>(
    indicators: impl Iterator<Item = &'a Indicator>,
    opts: &RetroHuntOptions,
) -> Vec<Expr> {
    let mut out = Vec::new();
    let mut current: Vec<Expr> = Vec::new();
    let mut values = 0usize;
    let mut done: HashSet<(IndicatorKind, &str)> = HashSet::new();
    let mut kinds: Vec<IndicatorKind> = Vec::new();
    for ind in indicators {
        if !done.insert((ind.kind, ind.value.as_str())) {
            continue;
        }
        if !kinds.contains(&ind.kind) {
            kinds.push(ind.kind);
        }
        let c = clauses(ind);
        if values > 0
            && (values >= opts.batch_values.max(1) || current.len() + c.len() > opts.max_clauses)
        {
            out.push(Expr::Or(std::mem::take(&mut current)));
            values = 0;
        }
        current.extend(c);
        values += 1;
    }
    if !current.is_empty() {
        out.push(Expr::Or(current));
    }
    let mut scan: Vec<&'static str> = Vec::new();
    for k in kinds {
        for f in scan_fields(k) {
            if !scan.contains(&f) {
                scan.push(f);
            }
        }
    }
    if !scan.is_empty() {
        out.push(Expr::Or(
            scan.into_iter()
                .map(|f| Expr::Exists {
                    field: f.to_owned(),
                })
                .collect(),
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_batched_by_values_and_clauses() {
        let now = Timestamp(1_700_000_000_000_000_000);
        let inds: Vec<Indicator> = (0..1200)
            .map(|i| Indicator::new(IndicatorKind::Md5, &format!("{i:032x}"), "f", now).unwrap())
            .collect();
        let mut opts = RetroHuntOptions::new(Duration::from_secs(3600), None, now);
        opts.max_clauses = usize::MAX;
        let per = HASH_FIELDS.len();
        let mut q = build_queries(inds.iter(), &opts);
        // Last: one read of the events with a Sysmon hash list, judged by the matcher.
        let scan = q.pop().unwrap();
        let Expr::Or(scan) = scan else {
            panic!("{scan:?}")
        };
        assert_eq!(scan.len(), SYSMON_HASH_FIELDS.len());
        assert!(scan.iter().all(
            |e| matches!(e, Expr::Exists { field } if SYSMON_HASH_FIELDS.contains(&field.as_str()))
        ));
        let sizes: Vec<usize> = q
            .iter()
            .map(|e| match e {
                Expr::Or(c) => c.len() / per,
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, vec![500, 500, 200]);
        opts.max_clauses = 1024;
        let mut q = build_queries(inds.iter(), &opts);
        q.pop();
        assert!(
            q.iter()
                .all(|e| matches!(e, Expr::Or(c) if c.len() <= 1024))
        );
        assert_eq!(q.len(), 1200usize.div_ceil(1024 / per));
    }
}
