//! Per-entity state: open buckets, the fixed-size ring of closed bucket values (zero-filled for silent buckets) and the bounded set of values seen.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// What one event adds to its bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Contribution {
    /// `count` (1) and `sum` (the field's number).
    Amount(f64),
    /// `distinct`: the hash of the value.
    Value(u64),
}

/// A bucket still receiving events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Open {
    pub index: i64,
    pub value: f64,
    /// `distinct` metrics: hashes of the values seen (bounded).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub distinct: BTreeSet<u64>,
    /// References of the newest contributing events (bounded), oldest first.
    pub refs: VecDeque<u128>,
}

/// Bounds applied while updating an entity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub history: usize,
    pub event_refs: usize,
    pub distinct: usize,
    pub seen: usize,
}

/// What an update ran into (added to the rule's counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Effects {
    pub distinct_saturated: bool,
    pub seen_evicted: bool,
}

/// A bucket that has just closed, before its value joins the history.
#[derive(Debug)]
pub(crate) struct Closed<'a> {
    pub index: i64,
    pub value: f64,
    /// The history the bucket is judged against (its own value not yet in it).
    pub history: &'a VecDeque<f64>,
    pub refs: &'a VecDeque<u128>,
    /// Buckets from the entity's first bucket to this one.
    pub age_buckets: i64,
}

/// The state of one entity of one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entity {
    /// Time of its oldest and newest events (ns).
    pub first_nanos: i64,
    pub last_nanos: i64,
    /// Bucket of its oldest event.
    pub first_bucket: i64,
    /// The next bucket to join the history: every bucket before it is in `history` (or
    /// older than the window).
    pub next_bucket: i64,
    /// Closed bucket values, oldest first, at most `Bounds::history`.
    pub history: VecDeque<f64>,
    /// Open buckets, ascending, all at or after `next_bucket`.
    pub open: Vec<Open>,
    /// `first_seen` metrics: value hash → time it was last seen (bounded; the least
    /// recently seen value is forgotten first).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<u64, i64>,
}

impl Entity {
    pub fn new(ts: i64, bucket: i64) -> Entity {
        Entity {
            first_nanos: ts,
            last_nanos: ts,
            first_bucket: bucket,
            next_bucket: bucket,
            history: VecDeque::new(),
            open: Vec::new(),
            seen: BTreeMap::new(),
        }
    }

    pub fn touch(&mut self, ts: i64) {
        self.first_nanos = self.first_nanos.min(ts);
        self.last_nanos = self.last_nanos.max(ts);
    }

    /// Add one event to bucket `index` (at or after `next_bucket`).
    pub fn add(&mut self, index: i64, c: Contribution, event_ref: u128, b: &Bounds) -> Effects {
        let mut fx = Effects::default();
        let pos = match self.open.binary_search_by_key(&index, |o| o.index) {
            Ok(p) => p,
            Err(p) => {
                self.open.insert(
                    p,
                    Open {
                        index,
                        value: 0.0,
                        distinct: BTreeSet::new(),
                        refs: VecDeque::new(),
                    },
                );
                p
            }
        };
        let o = &mut self.open[pos];
        match c {
            Contribution::Amount(x) => {
                let v = o.value + x;
                o.value = if v.is_finite() {
                    v
                } else {
                    f64::MAX.copysign(v)
                };
            }
            Contribution::Value(h) => {
                if o.distinct.len() < b.distinct {
                    o.distinct.insert(h);
                } else if !o.distinct.contains(&h) {
                    fx.distinct_saturated = true;
                }
                o.value = o.distinct.len() as f64;
            }
        }
        if b.event_refs > 0 {
            if o.refs.len() >= b.event_refs {
                o.refs.pop_front();
            }
            o.refs.push_back(event_ref);
        }
        fx
    }

    /// Remember value `hash` seen at `ts`; true when it was not known. When the set is
    /// full, the least recently seen value is forgotten.
    pub fn see(&mut self, hash: u64, ts: i64, b: &Bounds, fx: &mut Effects) -> bool {
        if let Some(t) = self.seen.get_mut(&hash) {
            *t = (*t).max(ts);
            return false;
        }
        if b.seen == 0 {
            return true;
        }
        while self.seen.len() >= b.seen {
            let oldest = self
                .seen
                .iter()
                .min_by_key(|(h, t)| (**t, **h))
                .map(|(h, _)| *h);
            match oldest {
                Some(h) => {
                    self.seen.remove(&h);
                    fx.seen_evicted = true;
                }
                None => break,
            }
        }
        self.seen.insert(hash, ts);
        true
    }

    /// Close every bucket before `horizon`, oldest first, calling `judge` for each
    /// bucket that had events and, when `judge_silent`, for each silent (zero) bucket
    /// whose judgement can matter (at most `history + 1` in a row; after that the
    /// window is all zeros). Returns the number of buckets closed.
    pub fn close_before(
        &mut self,
        horizon: i64,
        bounds: &Bounds,
        judge_silent: bool,
        judge: &mut dyn FnMut(Closed<'_>),
    ) -> u64 {
        let mut closed = 0;
        while self.open.first().is_some_and(|o| o.index < horizon) {
            let o = self.open.remove(0);
            closed += self.fill_silent(o.index, bounds, judge_silent, judge);
            judge(Closed {
                index: o.index,
                value: o.value,
                history: &self.history,
                refs: &o.refs,
                age_buckets: o.index.saturating_sub(self.first_bucket),
            });
            self.push(o.value, bounds.history);
            self.next_bucket = o.index.saturating_add(1);
            closed += 1;
        }
        closed + self.fill_silent(horizon, bounds, judge_silent, judge)
    }

    /// Zero buckets from `next_bucket` up to (not including) `until`.
    fn fill_silent(
        &mut self,
        until: i64,
        bounds: &Bounds,
        judge_silent: bool,
        judge: &mut dyn FnMut(Closed<'_>),
    ) -> u64 {
        let gap = until.saturating_sub(self.next_bucket);
        if gap <= 0 {
            return 0;
        }
        let window = bounds.history as i64;
        let no_refs = VecDeque::new();
        let mut i = self.next_bucket;
        // Silent buckets beyond one window change nothing but the zeros in it.
        let judged_until = if judge_silent {
            until.min(i.saturating_add(window + 1))
        } else {
            i
        };
        while i < judged_until {
            judge(Closed {
                index: i,
                value: 0.0,
                history: &self.history,
                refs: &no_refs,
                age_buckets: i.saturating_sub(self.first_bucket),
            });
            self.push(0.0, bounds.history);
            i += 1;
        }
        let rest = until.saturating_sub(i).min(window);
        for _ in 0..rest {
            self.push(0.0, bounds.history);
        }
        self.next_bucket = until;
        gap as u64
    }

    fn push(&mut self, v: f64, cap: usize) {
        if cap == 0 {
            return;
        }
        while self.history.len() >= cap {
            self.history.pop_front();
        }
        self.history.push_back(v);
    }

    /// Bring a restored entity within `bounds`; false when it cannot be used.
    pub fn repair(&mut self, bounds: &Bounds) -> bool {
        if self.history.iter().any(|v| !v.is_finite())
            || self
                .open
                .iter()
                .any(|o| !o.value.is_finite() || o.index < self.next_bucket)
            || self.open.windows(2).any(|w| w[0].index >= w[1].index)
            || self.first_bucket > self.next_bucket
        {
            return false;
        }
        while self.history.len() > bounds.history {
            self.history.pop_front();
        }
        for o in &mut self.open {
            while o.refs.len() > bounds.event_refs {
                o.refs.pop_front();
            }
            while o.distinct.len() > bounds.distinct {
                o.distinct.pop_last();
            }
        }
        while self.seen.len() > bounds.seen {
            let Some(oldest) = self
                .seen
                .iter()
                .min_by_key(|(h, t)| (**t, **h))
                .map(|(h, _)| *h)
            else {
                break;
            };
            self.seen.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bounds = Bounds {
        history: 4,
        event_refs: 2,
        distinct: 3,
        seen: 2,
    };

    /// Close before `h`, judging silent buckets, and list (index, value, history) judged.
    fn close(e: &mut Entity, h: i64) -> Vec<(i64, f64, Vec<f64>)> {
        let mut seen = Vec::new();
        e.close_before(h, &B, true, &mut |c| {
            seen.push((c.index, c.value, c.history.iter().copied().collect()));
        });
        seen
    }

    #[test]
    fn silent_buckets_are_zero_filled() {
        let mut e = Entity::new(0, 10);
        e.add(10, Contribution::Amount(5.0), 1, &B);
        e.add(13, Contribution::Amount(2.0), 2, &B);
        e.add(13, Contribution::Amount(1.0), 3, &B);
        let judged = close(&mut e, 15);
        assert_eq!(
            judged,
            vec![
                (10, 5.0, vec![]),
                (11, 0.0, vec![5.0]),
                (12, 0.0, vec![5.0, 0.0]),
                (13, 3.0, vec![5.0, 0.0, 0.0]),
                (14, 0.0, vec![5.0, 0.0, 0.0, 3.0]),
            ]
        );
        assert_eq!(e.history, [0.0, 0.0, 3.0, 0.0]);
        assert_eq!(e.next_bucket, 15);
        // A long silence judges at most one window of zeros and leaves a window of zeros.
        let judged = close(&mut e, 1_000_000);
        assert_eq!(judged.len(), 5);
        assert_eq!(e.history, [0.0; 4]);
        assert_eq!(e.next_bucket, 1_000_000);
        // Without judging silent buckets, nothing is judged but the window still fills.
        let mut e = Entity::new(0, 0);
        e.add(0, Contribution::Amount(7.0), 1, &B);
        let mut n = 0;
        let closed = e.close_before(3, &B, false, &mut |_| n += 1);
        assert_eq!((n, closed), (1, 3));
        assert_eq!(e.history, [7.0, 0.0, 0.0]);
    }

    #[test]
    fn buckets_and_refs_are_bounded() {
        let mut e = Entity::new(0, 0);
        let mut saturated = 0;
        for (i, h) in [1u64, 2, 2, 3, 4, 5].into_iter().enumerate() {
            if e.add(0, Contribution::Value(h), i as u128, &B)
                .distinct_saturated
            {
                saturated += 1;
            }
        }
        assert_eq!(e.open[0].value, 3.0);
        assert_eq!(saturated, 2);
        assert_eq!(e.open[0].refs, [4, 5]);
        // Out-of-order buckets stay sorted.
        e.add(2, Contribution::Amount(1.0), 9, &B);
        e.add(1, Contribution::Amount(1.0), 8, &B);
        assert_eq!(
            e.open.iter().map(|o| o.index).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }

    #[test]
    fn seen_values_forget_the_least_recent() {
        let mut e = Entity::new(0, 0);
        let mut fx = Effects::default();
        let steps: &[(u64, i64, bool)] = &[
            (1, 10, true),
            (2, 20, true),
            (1, 30, false),
            (3, 40, true),
            (2, 50, true),
            (1, 60, true),
        ];
        for (h, ts, new) in steps {
            assert_eq!(e.see(*h, *ts, &B, &mut fx), *new, "{h}@{ts}");
        }
        assert!(fx.seen_evicted);
        // 1 was forgotten at 50 (least recently seen), so it came back as new at 60.
        assert_eq!(e.seen.keys().copied().collect::<Vec<_>>(), [1, 2]);
    }
}
