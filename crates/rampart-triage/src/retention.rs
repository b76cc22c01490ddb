//! Retention of closed alerts: an alert closed (and left unchanged) for longer than
//! `closed_alert_retention_days` is deleted with its entities and history; a group left
//! without alerts goes with it. Open alerts are never deleted, whatever their age, and the
//! per-rule noise statistics keep counting what was deleted.

use rusqlite::{Transaction, params};
use serde::Serialize;

use crate::alert::AlertStatus;
use crate::error::SqlContext;
use crate::{Triage, TriageError};
use rampart_model::Timestamp;

/// Alerts deleted per transaction, so that a first purge of a large database does not
/// hold the triage connection (and the alert stream) for long.
const BATCH: i64 = 5_000;

/// What a purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub alerts: u64,
    pub groups: u64,
}

impl Triage {
    /// Delete the alerts closed and unchanged since before `cutoff`, with their entities
    /// and history, and the groups they leave empty. A group keeps its other alerts and
    /// its count follows; a merged group's id goes when the group that took it in goes.
    pub fn purge_closed(&self, cutoff: Timestamp) -> Result<PurgeReport, TriageError> {
        let mut report = PurgeReport::default();
        loop {
            let mut conn = self.conn.lock();
            let tx = conn.transaction().ctx("begin an alert purge")?;
            let (alerts, groups) = purge_batch(&tx, cutoff)?;
            tx.commit().ctx("commit an alert purge")?;
            report.alerts += alerts;
            report.groups += groups;
            if alerts < BATCH as u64 {
                return Ok(report);
            }
        }
    }

    /// [`Triage::purge_closed`] with the configured retention, from the triage clock's
    /// now; nothing when the retention is 0 (keep for ever).
    pub fn apply_retention(&self) -> Result<PurgeReport, TriageError> {
        let days = self.settings().closed_alert_retention_days;
        if days == 0 {
            return Ok(PurgeReport::default());
        }
        let cutoff = self.now().0.saturating_sub(
            i64::try_from(days)
                .unwrap_or(i64::MAX)
                .saturating_mul(86_400_000_000_000),
        );
        self.purge_closed(Timestamp::from_nanos(cutoff))
    }
}

/// One batch: up to `BATCH` alerts, then every group left empty.
fn purge_batch(tx: &Transaction<'_>, cutoff: Timestamp) -> Result<(u64, u64), TriageError> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS purge_ids (id INTEGER PRIMARY KEY); \
         DELETE FROM purge_ids;",
    )
    .ctx("prepare the purge list")?;
    tx.prepare_cached(
        "INSERT INTO purge_ids (id) SELECT id FROM alerts \
         WHERE status = ?1 AND updated < ?2 ORDER BY id LIMIT ?3",
    )
    .ctx("prepare the alerts to purge")?
    .execute(params![AlertStatus::Closed.as_str(), cutoff.0, BATCH])
    .ctx("select the alerts to purge")?;
    for sql in [
        "DELETE FROM alert_entities WHERE alert_id IN (SELECT id FROM purge_ids)",
        "DELETE FROM alert_history WHERE alert_id IN (SELECT id FROM purge_ids)",
    ] {
        tx.prepare_cached(sql)
            .ctx("prepare an alert purge")?
            .execute([])
            .ctx("purge alert details")?;
    }
    // The groups that lose alerts, before the alerts go.
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS purge_groups (id INTEGER PRIMARY KEY); \
         DELETE FROM purge_groups; \
         INSERT OR IGNORE INTO purge_groups (id) SELECT group_id FROM alerts \
         WHERE id IN (SELECT id FROM purge_ids) AND group_id IS NOT NULL;",
    )
    .ctx("list the groups a purge touches")?;
    let alerts = tx
        .prepare_cached("DELETE FROM alerts WHERE id IN (SELECT id FROM purge_ids)")
        .ctx("prepare an alert purge")?
        .execute([])
        .ctx("purge alerts")? as u64;
    tx.prepare_cached(
        "UPDATE alert_groups SET alert_count = \
         (SELECT COUNT(*) FROM alerts WHERE alerts.group_id = alert_groups.id) \
         WHERE id IN (SELECT id FROM purge_groups)",
    )
    .ctx("prepare a group recount")?
    .execute([])
    .ctx("recount purged groups")?;
    // Emptied groups go, and the ids merged into them (merges point straight at the live
    // group, so one level is enough).
    tx.execute_batch(
        "DELETE FROM purge_groups WHERE id IN \
         (SELECT group_id FROM alerts WHERE group_id IN (SELECT id FROM purge_groups)); \
         INSERT OR IGNORE INTO purge_groups (id) SELECT id FROM alert_groups \
         WHERE merged_into IN (SELECT id FROM purge_groups);",
    )
    .ctx("list the emptied groups")?;
    tx.prepare_cached(
        "DELETE FROM groups_apart WHERE a IN (SELECT id FROM purge_groups) \
         OR b IN (SELECT id FROM purge_groups)",
    )
    .ctx("prepare a kept-apart purge")?
    .execute([])
    .ctx("purge kept-apart records")?;
    tx.prepare_cached("DELETE FROM group_entities WHERE group_id IN (SELECT id FROM purge_groups)")
        .ctx("prepare a group purge")?
        .execute([])
        .ctx("purge group entities")?;
    let groups = tx
        .prepare_cached("DELETE FROM alert_groups WHERE id IN (SELECT id FROM purge_groups)")
        .ctx("prepare a group purge")?
        .execute([])
        .ctx("purge groups")? as u64;
    Ok((alerts, groups))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{at, detection};
    use crate::{Disposition, Level, TriageConfig};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[test]
    fn closed_alerts_past_retention_go_with_their_emptied_groups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Arc::new(AtomicI64::new(at(0).0));
        let clock = now.clone();
        let config = TriageConfig {
            closed_alert_retention_days: 30,
            ..TriageConfig::default()
        };
        let triage = Triage::open(&dir.path().join("triage.db"), config)
            .expect("open")
            .with_clock(move || Timestamp::from_nanos(clock.load(Ordering::Relaxed)));
        let day = 86_400_000_000_000i64;
        // Group A on ws01: two alerts, one closed now, one left open. Group B on ws02: one
        // alert closed now. Group C on ws03: closed 20 days later.
        let created = triage
            .process(vec![
                detection("r1", Level::High, at(0), "ws01", "bob"),
                detection("r2", Level::Low, at(60), "ws01", "bob"),
                detection("r3", Level::High, at(0), "ws02", "carol"),
                detection("r4", Level::High, at(0), "ws03", "dave"),
            ])
            .expect("process")
            .created;
        let [a1, a2, b1, c1] = created[..] else {
            panic!("four alerts: {created:?}")
        };
        let group_of = |id| {
            triage
                .get(id, None)
                .expect("get")
                .expect("alert")
                .alert
                .group_id
                .expect("grouped")
        };
        let (ga, gb, gc) = (group_of(a1), group_of(b1), group_of(c1));
        assert_eq!(group_of(a2), ga);
        for id in [a1, b1] {
            triage
                .close(id, None, "alice", Disposition::FalsePositive, None)
                .expect("close");
        }
        now.store(at(0).0 + 20 * day, Ordering::Relaxed);
        triage
            .close(c1, None, "alice", Disposition::TruePositive, None)
            .expect("close");

        // 29 days on, nothing is old enough.
        now.store(at(0).0 + 29 * day, Ordering::Relaxed);
        assert_eq!(
            triage.apply_retention().expect("purge"),
            PurgeReport::default()
        );
        // 31 days on: the two alerts closed on day 0 go, and the group left empty (B); A
        // keeps its open alert and counts one.
        now.store(at(0).0 + 31 * day, Ordering::Relaxed);
        let report = triage.apply_retention().expect("purge");
        assert_eq!(
            report,
            PurgeReport {
                alerts: 2,
                groups: 1
            }
        );
        assert!(triage.get(a1, None).expect("get").is_none());
        assert!(triage.get(b1, None).expect("get").is_none());
        assert!(triage.group(gb, None).expect("group").is_none());
        let a = triage.group(ga, None).expect("group").expect("kept");
        assert_eq!(a.group.alert_count, 1);
        assert_eq!(a.alerts.iter().map(|x| x.id).collect::<Vec<_>>(), [a2]);
        assert!(triage.group(gc, None).expect("group").is_some());
        // An open alert is never purged, however old; the noise statistics keep counting.
        now.store(at(0).0 + 400 * day, Ordering::Relaxed);
        let report = triage.apply_retention().expect("purge");
        assert_eq!(
            report,
            PurgeReport {
                alerts: 1,
                groups: 1
            }
        );
        assert!(triage.get(a2, None).expect("get").is_some());
        let noise = triage.rule_noise(None).expect("noise");
        let fp: u64 = noise.iter().map(|n| n.false_positive).sum();
        let tp: u64 = noise.iter().map(|n| n.true_positive).sum();
        assert_eq!((tp, fp), (1, 2));
    }

    #[test]
    fn zero_days_keeps_closed_alerts_for_ever() {
        let (_dir, triage) = crate::testutil::open(TriageConfig {
            closed_alert_retention_days: 0,
            ..TriageConfig::default()
        });
        let created = triage
            .process(vec![detection("r1", Level::High, at(0), "ws01", "bob")])
            .expect("process")
            .created;
        triage
            .close(created[0], None, "alice", Disposition::FalsePositive, None)
            .expect("close");
        assert_eq!(
            triage.apply_retention().expect("purge"),
            PurgeReport::default()
        );
        // An explicit cutoff past the close still purges.
        let report = triage.purge_closed(at(1)).expect("purge");
        assert_eq!(report.alerts, 1);
    }
}
