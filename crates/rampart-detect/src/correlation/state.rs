//! Sliding-window state of one (correlation, group key): time-sorted entries, eviction, per-group bounds and the aggregate the condition is checked on.

use super::spec::{CorrelationKind, ThresholdOp};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A temporal expression with rule references resolved to positions in `rules:`.
#[derive(Debug, Clone)]
pub(crate) enum PosExpr {
    /// `None`: a name that is not among the referenced rules (never true).
    Rule(Option<usize>),
    And(Vec<PosExpr>),
    Or(Vec<PosExpr>),
    Not(Box<PosExpr>),
}

impl PosExpr {
    fn eval(&self, hits: &[VecDeque<i64>]) -> bool {
        match self {
            PosExpr::Rule(p) => p.is_some_and(|p| hits.get(p).is_some_and(|h| !h.is_empty())),
            PosExpr::And(v) => v.iter().all(|x| x.eval(hits)),
            PosExpr::Or(v) => v.iter().any(|x| x.eval(hits)),
            PosExpr::Not(x) => !x.eval(hits),
        }
    }
}

/// A correlation condition ready for evaluation.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    Threshold(Vec<(ThresholdOp, f64)>),
    AllRules,
    Expr(PosExpr),
}

impl Check {
    fn threshold(&self, value: f64) -> bool {
        match self {
            Check::Threshold(p) => p.iter().all(|(op, t)| op.holds(value, *t)),
            Check::AllRules | Check::Expr(_) => value >= 1.0,
        }
    }
}

/// The retained entries of a window, sorted by time (oldest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Window {
    /// `event_count`: (time, events at that time). Over the cap the two oldest
    /// entries merge into the newer one: the count stays exact, expiry coarsens.
    Count(VecDeque<(i64, u32)>),
    /// `value_count`: (time, hash of the value); `counts` is the multiplicity of each
    /// hash in the window (rebuilt from the entries, not stored in snapshots).
    Distinct {
        entries: VecDeque<(i64, u64)>,
        #[serde(skip)]
        counts: foldhash::HashMap<u64, u32>,
    },
    /// Temporal types: times of the matches of each referenced rule, by position.
    Temporal(Vec<VecDeque<i64>>),
    /// `value_*`: (time, number).
    Numeric(VecDeque<(i64, f64)>),
}

/// Insert keeping `dq` sorted by the time in `.0` (usually at the back).
fn insert_sorted<T>(dq: &mut VecDeque<T>, ts: i64, item: T, time: impl Fn(&T) -> i64) {
    if dq.back().is_none_or(|b| time(b) <= ts) {
        dq.push_back(item);
    } else {
        let at = dq.partition_point(|x| time(x) <= ts);
        dq.insert(at, item);
    }
}

impl Window {
    pub fn new(kind: CorrelationKind, n_refs: usize) -> Window {
        match kind {
            CorrelationKind::EventCount => Window::Count(VecDeque::new()),
            CorrelationKind::ValueCount => Window::Distinct {
                entries: VecDeque::new(),
                counts: foldhash::HashMap::default(),
            },
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => {
                Window::Temporal(vec![VecDeque::new(); n_refs])
            }
            CorrelationKind::ValueSum
            | CorrelationKind::ValueAvg
            | CorrelationKind::ValuePercentile
            | CorrelationKind::ValueMedian => Window::Numeric(VecDeque::new()),
        }
    }

    /// Whether this window can hold the state of a `kind` correlation with `n_refs` rules.
    pub fn fits(&self, kind: CorrelationKind, n_refs: usize) -> bool {
        match self {
            Window::Count(_) => kind == CorrelationKind::EventCount,
            Window::Distinct { .. } => kind == CorrelationKind::ValueCount,
            Window::Temporal(h) => kind.is_temporal() && h.len() == n_refs,
            Window::Numeric(_) => kind.is_numeric(),
        }
    }

    /// Drop the entries older than `cutoff`.
    pub fn evict(&mut self, cutoff: i64) {
        match self {
            Window::Count(dq) => {
                while dq.front().is_some_and(|e| e.0 < cutoff) {
                    dq.pop_front();
                }
            }
            Window::Distinct { entries, counts } => {
                while let Some(&(t, h)) = entries.front() {
                    if t >= cutoff {
                        break;
                    }
                    entries.pop_front();
                    release(counts, h);
                }
            }
            Window::Temporal(hits) => {
                for dq in hits {
                    while dq.front().is_some_and(|t| *t < cutoff) {
                        dq.pop_front();
                    }
                }
            }
            Window::Numeric(dq) => {
                while dq.front().is_some_and(|e| e.0 < cutoff) {
                    dq.pop_front();
                }
            }
        }
    }

    /// The time of the oldest retained entry.
    pub fn earliest(&self) -> Option<i64> {
        match self {
            Window::Count(dq) => dq.front().map(|e| e.0),
            Window::Distinct { entries, .. } => entries.front().map(|e| e.0),
            Window::Temporal(hits) => hits.iter().filter_map(|h| h.front().copied()).min(),
            Window::Numeric(dq) => dq.front().map(|e| e.0),
        }
    }

    /// Record one event; returns how many entries the per-group `cap` dropped or merged.
    pub fn record(&mut self, ts: i64, entry: Entry, cap: usize) -> u64 {
        let cap = cap.max(1);
        match (self, entry) {
            (Window::Count(dq), Entry::Event) => {
                if let Some(last) = dq.back_mut()
                    && last.0 == ts
                {
                    last.1 = last.1.saturating_add(1);
                    return 0;
                }
                insert_sorted(dq, ts, (ts, 1), |e| e.0);
                let mut n = 0;
                while dq.len() > cap {
                    if let Some((_, c)) = dq.pop_front()
                        && let Some(next) = dq.front_mut()
                    {
                        next.1 = next.1.saturating_add(c);
                    }
                    n += 1;
                }
                n
            }
            (Window::Distinct { entries, counts }, Entry::Hash(h)) => {
                insert_sorted(entries, ts, (ts, h), |e| e.0);
                *counts.entry(h).or_insert(0) += 1;
                let mut n = 0;
                while entries.len() > cap {
                    if let Some((_, old)) = entries.pop_front() {
                        release(counts, old);
                    }
                    n += 1;
                }
                n
            }
            (Window::Temporal(hits), Entry::Rule(pos)) => {
                let Some(dq) = hits.get_mut(pos) else {
                    return 0;
                };
                insert_sorted(dq, ts, ts, |t| *t);
                let mut n = 0;
                while dq.len() > cap {
                    dq.pop_front();
                    n += 1;
                }
                n
            }
            (Window::Numeric(dq), Entry::Number(v)) => {
                insert_sorted(dq, ts, (ts, v), |e| e.0);
                let mut n = 0;
                while dq.len() > cap {
                    dq.pop_front();
                    n += 1;
                }
                n
            }
            // No value for the counted field, or a mismatched entry: nothing recorded.
            _ => 0,
        }
    }

    /// Rebuild derived data and restore the invariants after deserialisation
    /// (entries sorted, per-group cap, temporal positions).
    pub fn repair(&mut self, cap: usize) {
        let cap = cap.max(1);
        fn trim<T>(dq: &mut VecDeque<T>, cap: usize) {
            while dq.len() > cap {
                dq.pop_front();
            }
        }
        match self {
            Window::Count(dq) => {
                dq.make_contiguous().sort_by_key(|e| e.0);
                trim(dq, cap);
            }
            Window::Distinct { entries, counts } => {
                entries.make_contiguous().sort_by_key(|e| e.0);
                trim(entries, cap);
                counts.clear();
                for (_, h) in entries.iter() {
                    *counts.entry(*h).or_insert(0) += 1;
                }
            }
            Window::Temporal(hits) => {
                for dq in hits {
                    dq.make_contiguous().sort_unstable();
                    trim(dq, cap);
                }
            }
            Window::Numeric(dq) => {
                dq.make_contiguous().sort_by_key(|e| e.0);
                trim(dq, cap);
            }
        }
    }

    /// The aggregated value when `check` holds for this window, else `None`.
    pub fn evaluate(&self, kind: CorrelationKind, check: &Check, percentile: f64) -> Option<f64> {
        let value = match self {
            Window::Count(dq) => dq.iter().map(|e| f64::from(e.1)).sum(),
            Window::Distinct { counts, .. } => counts.len() as f64,
            Window::Temporal(hits) => {
                let seen = hits.iter().filter(|h| !h.is_empty()).count();
                let ordered_ok = kind != CorrelationKind::TemporalOrdered || in_order(hits);
                match check {
                    Check::AllRules => {
                        return (seen == hits.len() && ordered_ok).then_some(seen as f64);
                    }
                    Check::Expr(e) => {
                        return (e.eval(hits) && ordered_ok).then_some(seen as f64);
                    }
                    // As rsigma: an ordered correlation's value is the number of rules
                    // when they all matched in order, else 0.
                    Check::Threshold(_) if kind == CorrelationKind::TemporalOrdered => {
                        if seen == hits.len() && ordered_ok {
                            hits.len() as f64
                        } else {
                            0.0
                        }
                    }
                    Check::Threshold(_) => seen as f64,
                }
            }
            Window::Numeric(dq) => match kind {
                CorrelationKind::ValueSum => dq.iter().map(|e| e.1).sum(),
                CorrelationKind::ValueAvg => {
                    if dq.is_empty() {
                        0.0
                    } else {
                        dq.iter().map(|e| e.1).sum::<f64>() / dq.len() as f64
                    }
                }
                CorrelationKind::ValueMedian => percentile_of(dq, 50.0)?,
                _ => percentile_of(dq, percentile)?,
            },
        };
        check.threshold(value).then_some(value)
    }
}

fn release(counts: &mut foldhash::HashMap<u64, u32>, h: u64) {
    if let Some(c) = counts.get_mut(&h) {
        *c -= 1;
        if *c == 0 {
            counts.remove(&h);
        }
    }
}

/// Every rule matched, and there is one match per rule with non-decreasing times in
/// the order of `rules:` (greedy earliest choice; the lists are sorted).
fn in_order(hits: &[VecDeque<i64>]) -> bool {
    let mut prev = i64::MIN;
    for h in hits {
        let at = h.partition_point(|t| *t < prev);
        match h.get(at) {
            Some(t) => prev = *t,
            None => return false,
        }
    }
    true
}

/// The value at `rank` (0–100) by linear interpolation between closest ranks, as
/// rsigma and numpy's default; `None` without finite values.
fn percentile_of(dq: &VecDeque<(i64, f64)>, rank: f64) -> Option<f64> {
    let mut v: Vec<f64> = dq.iter().map(|e| e.1).filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = rank.clamp(0.0, 100.0) / 100.0 * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (v[lo.min(v.len() - 1)], v[hi.min(v.len() - 1)]);
    Some(a + (pos - lo as f64) * (b - a))
}

/// What one event contributes to a window.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entry {
    Event,
    Hash(u64),
    Rule(usize),
    Number(f64),
    /// The event lacks the counted field: the window is checked but not changed.
    Nothing,
}

/// One (correlation, group key) state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Group {
    /// Time of the newest entry ever recorded (windows end here).
    pub newest: i64,
    pub last_fired: Option<i64>,
    pub window: Window,
    /// The newest contributing event references, sorted by time: (time, high, low).
    pub refs: VecDeque<(i64, u64, u64)>,
}

impl Group {
    pub fn new(kind: CorrelationKind, n_refs: usize, ts: i64) -> Group {
        Group {
            newest: ts,
            last_fired: None,
            window: Window::new(kind, n_refs),
            refs: VecDeque::new(),
        }
    }

    pub fn evict(&mut self, cutoff: i64) {
        self.window.evict(cutoff);
        while self.refs.front().is_some_and(|r| r.0 < cutoff) {
            self.refs.pop_front();
        }
    }

    pub fn push_ref(&mut self, ts: i64, event_ref: u128, max: usize) {
        if max == 0 {
            return;
        }
        let item = (ts, (event_ref >> 64) as u64, event_ref as u64);
        insert_sorted(&mut self.refs, ts, item, |r| r.0);
        while self.refs.len() > max {
            self.refs.pop_front();
        }
    }

    pub fn event_refs(&self) -> Vec<u128> {
        self.refs
            .iter()
            .map(|r| (u128::from(r.1) << 64) | u128::from(r.2))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn count_after(events: &[i64], cap: usize, cutoff: i64) -> f64 {
        let mut w = Window::new(CorrelationKind::EventCount, 0);
        for t in events {
            w.record(*t, Entry::Event, cap);
        }
        w.evict(cutoff);
        w.evaluate(
            CorrelationKind::EventCount,
            &Check::Threshold(vec![(ThresholdOp::Gte, 0.0)]),
            50.0,
        )
        .unwrap()
    }

    #[test]
    fn event_count_windows() {
        // (events, per-group cap, eviction cutoff, count left)
        let cases: &[(&[i64], usize, i64, f64)] = &[
            (&[1, 2, 3], 100, 0, 3.0),
            (&[1, 2, 3], 100, 2, 2.0),
            (&[3, 1, 2], 100, 2, 2.0),  // out of order: sorted on insert
            (&[5, 5, 5], 100, 5, 3.0),  // same second: one entry, count 3
            (&[1, 2, 3, 4], 2, 0, 4.0), // over the cap: merged into (3, 3), (4, 1)
            (&[1, 2, 3, 4], 2, 3, 4.0), // …the merged entry lives until its newer time
            (&[1, 2, 3, 4], 2, 4, 1.0),
        ];
        for (events, cap, cutoff, want) in cases {
            assert_eq!(
                count_after(events, *cap, *cutoff),
                *want,
                "{events:?} cap {cap}"
            );
        }
    }

    #[test]
    fn distinct_values_follow_the_window() {
        let mut w = Window::new(CorrelationKind::ValueCount, 0);
        for (t, h) in [(1, 10), (2, 11), (3, 10), (4, 12)] {
            w.record(t, Entry::Hash(h), 100);
        }
        let all = Check::Threshold(vec![(ThresholdOp::Gte, 0.0)]);
        assert_eq!(
            w.evaluate(CorrelationKind::ValueCount, &all, 50.0),
            Some(3.0)
        );
        w.evict(3); // drops 10@1 and 11@2; 10@3 keeps value 10
        assert_eq!(
            w.evaluate(CorrelationKind::ValueCount, &all, 50.0),
            Some(2.0)
        );
        // the cap bounds entries and therefore the distinct set
        w.record(5, Entry::Hash(13), 1);
        assert_eq!(
            w.evaluate(CorrelationKind::ValueCount, &all, 50.0),
            Some(1.0)
        );
    }

    #[test]
    fn ordered_needs_nondecreasing_times() {
        let cases: &[(&[&[i64]], bool)] = &[
            (&[&[1], &[2]], true),
            (&[&[2], &[2]], true),
            (&[&[3], &[2]], false),
            (&[&[1, 5], &[3], &[4]], true),
            (&[&[5], &[3, 6], &[4]], false),
            (&[&[1], &[]], false),
        ];
        for (hits, want) in cases {
            let hits: Vec<VecDeque<i64>> =
                hits.iter().map(|h| h.iter().copied().collect()).collect();
            assert_eq!(in_order(&hits), *want, "{hits:?}");
        }
    }

    #[test]
    fn numeric_aggregates() {
        let mut w = Window::new(CorrelationKind::ValueSum, 0);
        for (t, v) in [(1, 10.0), (2, 20.0), (3, 30.0), (4, 40.0)] {
            w.record(t, Entry::Number(v), 100);
        }
        let any = Check::Threshold(vec![(ThresholdOp::Gte, 0.0)]);
        let cases = [
            (CorrelationKind::ValueSum, 50.0, 100.0),
            (CorrelationKind::ValueAvg, 50.0, 25.0),
            (CorrelationKind::ValueMedian, 50.0, 25.0),
            (CorrelationKind::ValuePercentile, 50.0, 25.0),
            (CorrelationKind::ValuePercentile, 100.0, 40.0),
            (CorrelationKind::ValuePercentile, 0.0, 10.0),
            (CorrelationKind::ValuePercentile, 90.0, 37.0),
        ];
        for (kind, p, want) in cases {
            let got = w.evaluate(kind, &any, p).unwrap();
            assert!((got - want).abs() < 1e-9, "{kind:?} p{p}: {got}");
        }
        // a range: 20 < avg <= 25
        let range = Check::Threshold(vec![(ThresholdOp::Gt, 20.0), (ThresholdOp::Lte, 25.0)]);
        assert_eq!(
            w.evaluate(CorrelationKind::ValueAvg, &range, 50.0),
            Some(25.0)
        );
        assert_eq!(w.evaluate(CorrelationKind::ValueSum, &range, 50.0), None);
    }
}
