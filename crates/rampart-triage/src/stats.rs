//! Per-rule noise statistics: alerts raised, repeats folded, signals suppressed and closing dispositions, which show the rules that need tuning.

use rampart_model::Timestamp;
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::alert::Disposition;
use crate::error::SqlContext;
use crate::signal::Signal;
use crate::{Triage, TriageError};

/// Which count a signal adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Raised,
    Deduplicated,
    Suppressed,
}

/// Count one signal of its rule.
pub(crate) fn bump(
    conn: &Connection,
    signal: &Signal,
    counter: Counter,
) -> Result<(), TriageError> {
    let sql = match counter {
        Counter::Raised => {
            "INSERT INTO rule_stats (tenant, rule_id, rule_title, raised, last_seen) VALUES (?1, ?2, ?3, 1, ?4) \
             ON CONFLICT (tenant, rule_id) DO UPDATE SET raised = raised + 1, rule_title = ?3, \
             last_seen = MAX(COALESCE(last_seen, ?4), ?4)"
        }
        Counter::Deduplicated => {
            "INSERT INTO rule_stats (tenant, rule_id, rule_title, deduplicated, last_seen) VALUES (?1, ?2, ?3, 1, ?4) \
             ON CONFLICT (tenant, rule_id) DO UPDATE SET deduplicated = deduplicated + 1, rule_title = ?3, \
             last_seen = MAX(COALESCE(last_seen, ?4), ?4)"
        }
        Counter::Suppressed => {
            "INSERT INTO rule_stats (tenant, rule_id, rule_title, suppressed, last_seen) VALUES (?1, ?2, ?3, 1, ?4) \
             ON CONFLICT (tenant, rule_id) DO UPDATE SET suppressed = suppressed + 1, rule_title = ?3, \
             last_seen = MAX(COALESCE(last_seen, ?4), ?4)"
        }
    };
    conn.prepare_cached(sql)
        .ctx("prepare a rule count")?
        .execute(params![
            signal.tenant,
            signal.rule_id,
            signal.rule_title,
            signal.time.0
        ])
        .ctx("count a rule's signal")?;
    Ok(())
}

/// Add `delta` (1 on close, -1 on reopen) to a rule's count of `disposition`.
pub(crate) fn add_disposition(
    conn: &Connection,
    tenant: &str,
    rule_id: &str,
    disposition: Disposition,
    delta: i64,
) -> Result<(), TriageError> {
    let column = match disposition {
        Disposition::TruePositive => "true_positive",
        Disposition::BenignTruePositive => "benign_true_positive",
        Disposition::FalsePositive => "false_positive",
    };
    conn.prepare_cached(&format!(
        "UPDATE rule_stats SET {column} = MAX(0, {column} + ?3) WHERE tenant = ?1 AND rule_id = ?2"
    ))
    .ctx("prepare a disposition count")?
    .execute(params![tenant, rule_id, delta])
    .ctx("count a disposition")?;
    Ok(())
}

/// One rule's noise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleNoise {
    pub rule_id: String,
    pub rule_title: String,
    /// Alerts created.
    pub raised: u64,
    /// Repeats folded into an open alert.
    pub deduplicated: u64,
    /// Signals muted by a suppression.
    pub suppressed: u64,
    /// Every signal of the rule: raised + deduplicated + suppressed.
    pub signals: u64,
    pub true_positive: u64,
    pub benign_true_positive: u64,
    pub false_positive: u64,
    /// Alerts closed with a disposition.
    pub closed: u64,
    /// False positives among closed alerts; `None` before any is closed.
    pub false_positive_rate: Option<f64>,
    /// Share of the rule's signals that needed no new alert (folded or muted).
    pub reduction_rate: Option<f64>,
    pub last_seen: Option<Timestamp>,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Triage {
    /// Every rule's noise (summed over tenants when `tenant` is `None`), most signals first.
    pub fn rule_noise(&self, tenant: Option<&str>) -> Result<Vec<RuleNoise>, TriageError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT rule_id, MAX(rule_title), SUM(raised), SUM(deduplicated), SUM(suppressed), \
                 SUM(true_positive), SUM(benign_true_positive), SUM(false_positive), MAX(last_seen) \
                 FROM rule_stats WHERE ?1 IS NULL OR tenant = ?1 GROUP BY rule_id \
                 ORDER BY SUM(raised) + SUM(deduplicated) + SUM(suppressed) DESC, rule_id",
            )
            .ctx("prepare the rule noise")?;
        let rows = stmt
            .query_map([tenant], |r| {
                let n = |i: usize| -> rusqlite::Result<u64> {
                    Ok(u64::try_from(r.get::<_, i64>(i)?.max(0)).unwrap_or(0))
                };
                let (raised, dedup, suppressed) = (n(2)?, n(3)?, n(4)?);
                let (tp, btp, fp) = (n(5)?, n(6)?, n(7)?);
                let signals = raised + dedup + suppressed;
                let closed = tp + btp + fp;
                Ok(RuleNoise {
                    rule_id: r.get(0)?,
                    rule_title: r.get(1)?,
                    raised,
                    deduplicated: dedup,
                    suppressed,
                    signals,
                    true_positive: tp,
                    benign_true_positive: btp,
                    false_positive: fp,
                    closed,
                    false_positive_rate: ratio(fp, closed),
                    reduction_rate: ratio(dedup + suppressed, signals),
                    last_seen: r.get::<_, Option<i64>>(8)?.map(Timestamp),
                })
            })
            .ctx("read the rule noise")?;
        rows.collect::<Result<Vec<_>, _>>()
            .ctx("read the rule noise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Level;
    use crate::testutil::{at, detection, open};

    #[test]
    fn noise_counts_and_false_positive_rate_follow_dispositions() {
        let (_dir, triage) = open(Default::default());
        // Rule "noisy": 4 hosts, each repeated 3 times; rule "good": one host.
        let mut signals = Vec::new();
        for host in ["h1", "h2", "h3", "h4"] {
            for t in 0..3 {
                signals.push(detection("noisy", Level::Low, at(t), host, "svc"));
            }
        }
        signals.push(detection("good", Level::High, at(0), "h9", "eve"));
        let report = triage.process(signals).expect("process");
        let ids = &report.created;
        let closes = [
            (ids[0], Disposition::FalsePositive),
            (ids[1], Disposition::FalsePositive),
            (ids[2], Disposition::FalsePositive),
            (ids[3], Disposition::BenignTruePositive),
            (ids[4], Disposition::TruePositive),
        ];
        for (id, d) in closes {
            triage.close(id, None, "ann", d, None).expect("close");
        }
        let noise = triage.rule_noise(None).expect("noise");
        type Row<'a> = (&'a str, u64, u64, u64, u64, Option<f64>);
        let summary: Vec<Row<'_>> = noise
            .iter()
            .map(|n| {
                (
                    n.rule_id.as_str(),
                    n.raised,
                    n.deduplicated,
                    n.false_positive,
                    n.closed,
                    n.false_positive_rate,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("noisy", 4, 8, 3, 4, Some(0.75)),
                ("good", 1, 0, 0, 1, Some(0.0)),
            ]
        );
        assert_eq!(noise[0].reduction_rate, Some(8.0 / 12.0));
        assert!(triage.rule_noise(Some("other")).expect("noise").is_empty());
    }
}
