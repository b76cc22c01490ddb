//! The deviation statistic: median and median absolute deviation of an entity's zero-filled history, a robust z-score, and the floors that keep small absolute changes quiet.

use super::rule::{Direction, Threshold};

/// Scales MAD to the standard deviation for normal data (1 / Φ⁻¹(3/4)).
pub const MAD_TO_SIGMA: f64 = 1.4826;
/// Scales the 75th percentile of absolute deviations to σ for normal data (1 / Φ⁻¹(7/8)).
pub const Q75_TO_SIGMA: f64 = 0.8694;
/// Scales the 90th percentile of absolute deviations to σ for normal data (1 / Φ⁻¹(0.95)).
pub const Q90_TO_SIGMA: f64 = 0.6079;

/// A robust summary of a history window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    /// Median absolute deviation from the median.
    pub mad: f64,
    /// 75th and 90th percentiles (nearest rank) of the absolute deviations.
    pub q75_ad: f64,
    pub q90_ad: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// Summarise `history`; `None` when it is empty. `scratch` is reused between calls.
    pub fn of(history: impl IntoIterator<Item = f64>, scratch: &mut Vec<f64>) -> Option<Summary> {
        scratch.clear();
        scratch.extend(history);
        let n = scratch.len();
        if n == 0 {
            return None;
        }
        scratch.sort_unstable_by(f64::total_cmp);
        let (min, max) = (scratch[0], scratch[n - 1]);
        let median = median_of_sorted(scratch);
        for x in scratch.iter_mut() {
            *x = (*x - median).abs();
        }
        scratch.sort_unstable_by(f64::total_cmp);
        Some(Summary {
            n,
            median,
            mad: median_of_sorted(scratch),
            q75_ad: rank(scratch, 0.75),
            q90_ad: rank(scratch, 0.90),
            min,
            max,
        })
    }

    /// The spread a deviation is measured in: σ estimated from the MAD; when more than
    /// half the history equals the median (MAD 0, typical of sparse activity), from the
    /// 75th, else the 90th percentile of the absolute deviations; never below `min_spread`.
    pub fn spread(&self, min_spread: f64) -> f64 {
        let sigma = if self.mad > 0.0 {
            MAD_TO_SIGMA * self.mad
        } else if self.q75_ad > 0.0 {
            Q75_TO_SIGMA * self.q75_ad
        } else {
            Q90_TO_SIGMA * self.q90_ad
        };
        sigma.max(min_spread).max(f64::MIN_POSITIVE)
    }
}

/// Nearest-rank percentile of a sorted, non-empty slice.
fn rank(s: &[f64], p: f64) -> f64 {
    let i = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[i - 1]
}

fn median_of_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// How a bucket compares with its baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The baseline: the history's median.
    pub expected: f64,
    pub spread: f64,
    /// Signed robust z-score `(x - median) / spread`.
    pub score: f64,
    /// `Some(High)` or `Some(Low)` when the bucket is unusual in a watched direction.
    pub unusual: Option<Direction>,
}

/// Judge `observed` against `s` with threshold `t`, watching `direction`.
pub fn assess(s: &Summary, observed: f64, t: &Threshold, direction: Direction) -> Verdict {
    let spread = s.spread(t.min_spread);
    let delta = observed - s.median;
    let score = delta / spread;
    let high = matches!(direction, Direction::High | Direction::Both)
        && score >= t.score
        && delta >= t.min_delta
        && (s.median <= 0.0 || observed >= t.min_ratio * s.median)
        && (!t.beyond_history || observed > s.max);
    let low = matches!(direction, Direction::Low | Direction::Both)
        && -score >= t.score
        && -delta >= t.min_delta
        && (t.min_ratio <= 1.0 || observed * t.min_ratio <= s.median)
        && (!t.beyond_history || observed < s.min);
    Verdict {
        expected: s.median,
        spread,
        score,
        unusual: if high {
            Some(Direction::High)
        } else if low {
            Some(Direction::Low)
        } else {
            None
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeat(pattern: &[f64], n: usize) -> Vec<f64> {
        pattern.iter().copied().cycle().take(n).collect()
    }

    #[test]
    fn summaries() {
        let mut scratch = Vec::new();
        // (history, median, mad, q75, q90, spread with min_spread 0.1)
        type Case<'a> = (&'a [f64], f64, f64, f64, f64, f64);
        let cases: &[Case] = &[
            (&[5.0], 5.0, 0.0, 0.0, 0.0, 0.1),
            (&[1.0, 2.0, 3.0, 4.0], 2.5, 1.0, 1.5, 1.5, MAD_TO_SIGMA),
            (
                &[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0],
                2.0,
                1.0,
                4.0,
                7.0,
                MAD_TO_SIGMA,
            ),
            (
                &[0.0, 0.0, 0.0, 10.0],
                0.0,
                0.0,
                0.0,
                10.0,
                10.0 * Q90_TO_SIGMA,
            ),
            (
                &[0.0, 0.0, 0.0, 50.0, 50.0],
                0.0,
                0.0,
                50.0,
                50.0,
                50.0 * Q75_TO_SIGMA,
            ),
        ];
        for (h, median, mad, q75, q90, spread) in cases {
            let s = Summary::of(h.iter().copied(), &mut scratch).expect("non-empty");
            assert_eq!(
                (s.median, s.mad, s.q75_ad, s.q90_ad),
                (*median, *mad, *q75, *q90),
                "{h:?}"
            );
            assert!(
                (s.spread(0.1) - spread).abs() < 1e-12,
                "{h:?}: {}",
                s.spread(0.1)
            );
        }
        assert_eq!(Summary::of([], &mut scratch), None);
    }

    #[test]
    fn verdicts() {
        let base = Threshold::default();
        let floors = Threshold {
            min_delta: 10.0,
            ..base
        };
        let beyond = Threshold {
            beyond_history: true,
            min_delta: 3.0,
            ..base
        };
        let constant = vec![10.0; 48];
        let noisy = repeat(&[8.0, 12.0, 9.0, 11.0, 10.0, 14.0, 6.0], 168);
        let sparse = {
            let mut v = vec![0.0; 24];
            v[3] = 5.0;
            v[15] = 5.0;
            v
        };
        let quiet_logins = repeat(&[3.0, 2.0, 4.0, 3.0], 48);
        let work_hours = repeat(&[0.0, 0.0, 0.0, 50.0, 50.0], 170);
        let busy = repeat(&[95.0, 105.0, 100.0, 98.0, 102.0], 48);
        // (name, history, observed, threshold, direction, unusual)
        type Case<'a> = (
            &'a str,
            &'a [f64],
            f64,
            &'a Threshold,
            Direction,
            Option<Direction>,
        );
        let cases: &[Case] = &[
            (
                "constant, same",
                &constant,
                10.0,
                &base,
                Direction::High,
                None,
            ),
            (
                "constant, +1 is within the spread floor",
                &constant,
                11.0,
                &base,
                Direction::High,
                None,
            ),
            (
                "constant, +10 is under the ratio floor",
                &constant,
                19.0,
                &base,
                Direction::High,
                None,
            ),
            (
                "constant, triple",
                &constant,
                30.0,
                &base,
                Direction::High,
                Some(Direction::High),
            ),
            (
                "noisy, high end",
                &noisy,
                14.0,
                &base,
                Direction::High,
                None,
            ),
            (
                "noisy, just above range",
                &noisy,
                16.0,
                &base,
                Direction::High,
                None,
            ),
            (
                "noisy, spike",
                &noisy,
                40.0,
                &base,
                Direction::High,
                Some(Direction::High),
            ),
            (
                "noisy, spike not watched",
                &noisy,
                40.0,
                &base,
                Direction::Low,
                None,
            ),
            (
                "3 → 9 logins: delta floor",
                &quiet_logins,
                9.0,
                &floors,
                Direction::High,
                None,
            ),
            (
                "3 → 9 logins: no floor",
                &quiet_logins,
                9.0,
                &base,
                Direction::High,
                Some(Direction::High),
            ),
            (
                "3 → 40 logins: over the floor",
                &quiet_logins,
                40.0,
                &floors,
                Direction::High,
                Some(Direction::High),
            ),
            (
                "sparse, a value seen before",
                &sparse,
                5.0,
                &beyond,
                Direction::High,
                None,
            ),
            (
                "sparse, beyond the history",
                &sparse,
                8.0,
                &beyond,
                Direction::High,
                Some(Direction::High),
            ),
            (
                "work hours, a busy hour",
                &work_hours,
                50.0,
                &base,
                Direction::High,
                None,
            ),
            (
                "work hours, ten times busier",
                &work_hours,
                500.0,
                &base,
                Direction::High,
                Some(Direction::High),
            ),
            (
                "busy, dip to 0",
                &busy,
                0.0,
                &base,
                Direction::Low,
                Some(Direction::Low),
            ),
            (
                "busy, dip to 0, both",
                &busy,
                0.0,
                &base,
                Direction::Both,
                Some(Direction::Low),
            ),
            (
                "busy, dip to 0 not watched",
                &busy,
                0.0,
                &base,
                Direction::High,
                None,
            ),
            (
                "busy, small dip under the ratio floor",
                &busy,
                80.0,
                &base,
                Direction::Low,
                None,
            ),
            (
                "busy, spike, both",
                &busy,
                300.0,
                &base,
                Direction::Both,
                Some(Direction::High),
            ),
        ];
        let mut scratch = Vec::new();
        for (name, history, x, t, dir, want) in cases {
            let s = Summary::of(history.iter().copied(), &mut scratch).expect("non-empty");
            let v = assess(&s, *x, t, *dir);
            assert_eq!(v.unusual, *want, "{name}: {v:?} over {s:?}");
            assert_eq!(v.expected, s.median, "{name}");
        }
    }

    #[test]
    fn scores_are_robust_z_scores() {
        let mut scratch = Vec::new();
        // Median 10, MAD 2 → spread 2.9652; x = 25 → (25 - 10) / 2.9652.
        let s =
            Summary::of([6.0, 8.0, 10.0, 12.0, 14.0, 10.0, 10.0], &mut scratch).expect("non-empty");
        assert_eq!((s.median, s.mad), (10.0, 2.0));
        let v = assess(&s, 25.0, &Threshold::default(), Direction::High);
        assert!(
            (v.score - 15.0 / (2.0 * MAD_TO_SIGMA)).abs() < 1e-9,
            "{v:?}"
        );
        // One huge past spike barely moves the baseline (a mean/σ baseline would jump).
        let mut h = vec![10.0; 47];
        h.push(10_000.0);
        let s = Summary::of(h, &mut scratch).expect("non-empty");
        assert_eq!(s.median, 10.0);
        assert_eq!(
            assess(&s, 100.0, &Threshold::default(), Direction::High).unusual,
            Some(Direction::High)
        );
    }
}
