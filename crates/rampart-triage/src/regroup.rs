//! Undoing the grouping: an analyst moves alerts that do not belong out of an incident
//! candidate into a new one, or sends a merged group's alerts back to it. Both record the
//! two groups as kept apart, so that the next alert related to both does not join them
//! again, and give each moved alert a history entry.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::alert::{load_required, record_history};
use crate::error::SqlContext;
use crate::group::{self, Group};
use crate::workflow::{check_actor, check_title};
use crate::{Triage, TriageError};
use rampart_model::Timestamp;

/// Most alerts one split may move.
const MAX_MOVED: usize = 1_000;

/// The outcome of a split or an undone merge: the group the alerts went to, and the group
/// they left, both after the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regrouped {
    pub group: Group,
    pub from: Group,
    /// The alerts moved, by id.
    pub moved: Vec<i64>,
}

impl Triage {
    /// Move `alerts` of group `id` into a new group (named `title` when given, else after
    /// its most important alert), in one transaction. The alerts must all be in the group
    /// and must not be all of it. The two groups are kept apart from then on. A merged
    /// group's id splits the group that took it in.
    pub fn split_group(
        &self,
        id: i64,
        tenant: Option<&str>,
        actor: &str,
        alerts: &[i64],
        title: Option<&str>,
    ) -> Result<Regrouped, TriageError> {
        check_actor(actor)?;
        let title = title.map(str::trim).filter(|t| !t.is_empty());
        if let Some(t) = title {
            check_title(t)?;
        }
        let mut moved: Vec<i64> = alerts.to_vec();
        moved.sort_unstable();
        moved.dedup();
        if moved.is_empty() || moved.len() > MAX_MOVED {
            return Err(TriageError::Invalid(format!(
                "a split moves 1 to {MAX_MOVED} alerts of the group"
            )));
        }
        let now = self.now();
        let cfg = self.settings();
        let mut conn = self.conn.lock();
        let tx = conn.transaction().ctx("begin a group split")?;
        let from =
            group::load(&tx, id, tenant)?.ok_or(TriageError::NotFound { what: "group", id })?;
        for &alert_id in &moved {
            let alert = load_required(&tx, alert_id, tenant)?;
            if alert.group_id != Some(from.id) {
                return Err(TriageError::Invalid(format!(
                    "alert {alert_id} is not in group {}",
                    from.id
                )));
            }
        }
        if moved.len() as u64 >= from.alert_count {
            return Err(TriageError::Invalid(format!(
                "those are all the alerts of group {}: a split leaves some behind (rename the group instead)",
                from.id
            )));
        }
        tx.prepare_cached(
            "INSERT INTO alert_groups (tenant, title, first_seen, last_seen, max_level, \
             max_priority, alert_count, tactics, created, entities_seen, title_set_by) \
             VALUES (?1, ?2, 0, 0, 0, 0, 0, '[]', ?3, 0, ?4)",
        )
        .ctx("prepare a group insert")?
        .execute(params![
            from.tenant,
            title.unwrap_or(""),
            now.0,
            title.map(|_| actor)
        ])
        .ctx("create a group")?;
        let to = tx.last_insert_rowid();
        move_alerts(&tx, &moved, from.id, to, actor, now, "moved to a new group")?;
        group::recompute(&tx, &cfg, to)?;
        group::recompute(&tx, &cfg, from.id)?;
        group::keep_apart(&tx, from.id, to, actor, now)?;
        let regrouped = loaded(&tx, to, from.id, moved)?;
        tx.commit().ctx("commit a group split")?;
        Ok(regrouped)
    }

    /// Undo the merge of group `id` into another: the alerts it brought that are still
    /// there go back to it, and the two groups are kept apart from then on. Refused when
    /// `id` was not merged, when none of its alerts are left to send back, or when they
    /// are all the other group holds.
    pub fn unmerge_group(
        &self,
        id: i64,
        tenant: Option<&str>,
        actor: &str,
    ) -> Result<Regrouped, TriageError> {
        check_actor(actor)?;
        let now = self.now();
        let cfg = self.settings();
        let mut conn = self.conn.lock();
        let tx = conn.transaction().ctx("begin a group unmerge")?;
        let into: Option<Option<i64>> = tx
            .prepare_cached(
                "SELECT merged_into FROM alert_groups WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)",
            )
            .ctx("prepare a group merge lookup")?
            .query_row(params![id, tenant], |r| r.get(0))
            .optional()
            .ctx("read a group's merge")?;
        let into = match into {
            None => return Err(TriageError::NotFound { what: "group", id }),
            Some(None) => {
                return Err(TriageError::Conflict(format!(
                    "group {id} is not merged into another group"
                )));
            }
            Some(Some(into)) => into,
        };
        let holder = group::load(&tx, into, tenant)?.ok_or(TriageError::NotFound {
            what: "group",
            id: into,
        })?;
        let back: Vec<i64> = tx
            .prepare_cached(
                "SELECT id FROM alerts WHERE group_id = ?1 AND origin_group = ?2 ORDER BY id",
            )
            .ctx("prepare a merged group's alerts")?
            .query_map(params![holder.id, id], |r| r.get(0))
            .ctx("read a merged group's alerts")?
            .collect::<Result<_, _>>()
            .ctx("read a merged group's alerts")?;
        if back.is_empty() {
            return Err(TriageError::Conflict(format!(
                "none of the alerts group {id} brought are left in group {} (moved since, or merged \
                 before alerts recorded their first group): nothing to send back",
                holder.id
            )));
        }
        if back.len() as u64 >= holder.alert_count {
            return Err(TriageError::Conflict(format!(
                "every alert of group {} came from group {id}: there is nothing to separate",
                holder.id
            )));
        }
        tx.prepare_cached("UPDATE alert_groups SET merged_into = NULL WHERE id = ?1")
            .ctx("prepare a merge undo")?
            .execute([id])
            .ctx("undo a merge")?;
        move_alerts(&tx, &back, holder.id, id, actor, now, "merge undone")?;
        group::recompute(&tx, &cfg, id)?;
        group::recompute(&tx, &cfg, holder.id)?;
        group::keep_apart(&tx, holder.id, id, actor, now)?;
        let regrouped = loaded(&tx, id, holder.id, back)?;
        tx.commit().ctx("commit a merge undo")?;
        Ok(regrouped)
    }
}

/// Move `alerts` from group `from` to group `to`, which becomes their origin; each gets a
/// history entry saying so.
fn move_alerts(
    conn: &Connection,
    alerts: &[i64],
    from: i64,
    to: i64,
    actor: &str,
    now: Timestamp,
    why: &str,
) -> Result<(), TriageError> {
    let mut update = conn
        .prepare_cached(
            "UPDATE alerts SET group_id = ?2, origin_group = ?2, updated = ?3 WHERE id = ?1",
        )
        .ctx("prepare an alert move")?;
    let note = format!("from group {from} to group {to} ({why})");
    for &alert_id in alerts {
        update
            .execute(params![alert_id, to, now.0])
            .ctx("move an alert")?;
        record_history(
            conn,
            alert_id,
            now,
            actor,
            "regroup",
            None,
            None,
            None,
            None,
            Some(&note),
        )?;
    }
    Ok(())
}

fn loaded(
    conn: &Connection,
    to: i64,
    from: i64,
    moved: Vec<i64>,
) -> Result<Regrouped, TriageError> {
    let get =
        |id: i64| group::load(conn, id, None)?.ok_or(TriageError::NotFound { what: "group", id });
    Ok(Regrouped {
        group: get(to)?,
        from: get(from)?,
        moved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;
    use crate::testutil::{at, detection, group_of, open};

    fn rules_of(triage: &Triage, group: i64) -> Vec<String> {
        let detail = triage.group(group, None).expect("group").expect("exists");
        assert_eq!(detail.alerts.len() as u64, detail.group.alert_count);
        let mut rules: Vec<String> = detail.alerts.iter().map(|a| a.rule_id.clone()).collect();
        rules.sort();
        rules
    }

    #[test]
    fn alerts_moved_out_of_a_group_form_their_own_and_stay_apart() {
        let (_dir, triage) = open(Default::default());
        // r1, r2 and r3 share alice; r3, on ws05, has nothing to do with the others.
        let report = triage
            .process(vec![
                detection("r1", Level::High, at(0), "ws01", "alice")
                    .with_tags(["attack.execution"]),
                detection("r2", Level::Medium, at(60), "ws01", "alice"),
                detection("r3", Level::Low, at(120), "ws05", "alice")
                    .with_tags(["attack.discovery"]),
            ])
            .expect("process");
        let [a1, _a2, a3] = report.created[..] else {
            panic!("three alerts: {report:?}")
        };
        let g = group_of(&triage, a1);
        assert_eq!(rules_of(&triage, g), ["r1", "r2", "r3"]);

        // Refused: nothing, an alert of another group, every alert, an empty actor.
        for (alerts, what) in [
            (vec![], "1 to"),
            (vec![a3, 999], "not found"),
            (report.created.clone(), "all the alerts"),
        ] {
            let err = triage
                .split_group(g, None, "ann", &alerts, None)
                .expect_err("refused");
            assert!(err.to_string().contains(what), "{err}");
        }
        assert!(triage.split_group(g, None, " ", &[a3], None).is_err());
        assert!(
            triage
                .split_group(g, Some("other"), "ann", &[a3], None)
                .is_err(),
            "another tenant's group"
        );

        let split = triage
            .split_group(g, None, "ann", &[a3], Some("Alice's admin work on ws05"))
            .expect("split");
        assert_eq!(split.moved, [a3]);
        assert_eq!(split.from.id, g);
        let n = split.group.id;
        assert_ne!(n, g);
        assert_eq!(rules_of(&triage, g), ["r1", "r2"]);
        assert_eq!(rules_of(&triage, n), ["r3"]);
        // Both groups' figures are worked out again from what they hold.
        assert_eq!(split.from.alert_count, 2);
        assert_eq!(split.from.tactics, ["execution"]);
        assert_eq!(
            (split.from.first_seen, split.from.last_seen),
            (at(0), at(60))
        );
        let mut values: Vec<&str> = split
            .from
            .entities
            .iter()
            .map(|e| e.value.as_str())
            .collect();
        values.sort_unstable();
        assert_eq!(values, ["alice", "ws01"]);
        assert_eq!(split.group.title, "Alice's admin work on ws05");
        assert_eq!(split.group.title_set_by.as_deref(), Some("ann"));
        assert_eq!(split.group.tactics, ["discovery"]);
        assert_eq!(split.group.max_level, Level::Low);
        assert_eq!(
            (split.group.first_seen, split.group.last_seen),
            (at(120), at(120))
        );
        // The move is in the alert's history.
        let detail = triage.get(a3, None).expect("get").expect("alert");
        let last = detail.history.last().expect("history");
        assert_eq!(
            (last.actor.as_str(), last.action.as_str()),
            ("ann", "regroup")
        );
        assert!(
            last.note
                .as_deref()
                .unwrap_or("")
                .contains(&format!("to group {n}")),
            "{last:?}"
        );

        // A later alert on ws01 for alice relates to both (ws01 to the first, alice most
        // recently to the new one): it joins the most recent and does not merge them again.
        let later = triage
            .process(vec![detection("r4", Level::Low, at(180), "ws01", "alice")])
            .expect("process");
        assert_eq!(group_of(&triage, later.created[0]), n);
        assert_eq!(rules_of(&triage, g), ["r1", "r2"]);
        assert_eq!(rules_of(&triage, n), ["r3", "r4"]);
        // Groups that were never separated still merge.
        let other = triage
            .process(vec![detection("r5", Level::Low, at(200), "ws07", "carol")])
            .expect("process");
        let c = group_of(&triage, other.created[0]);
        let joined = triage
            .process(vec![detection("r6", Level::Low, at(240), "ws07", "alice")])
            .expect("process");
        assert_eq!(group_of(&triage, joined.created[0]), c);
        assert_eq!(rules_of(&triage, c), ["r3", "r4", "r5", "r6"]);
    }

    #[test]
    fn an_undone_merge_sends_the_alerts_back_and_keeps_the_groups_apart() {
        let (_dir, triage) = open(Default::default());
        let first = triage
            .process(vec![
                detection("r1", Level::High, at(0), "ws01", "alice"),
                detection("r2", Level::Low, at(60), "ws02", "bob"),
            ])
            .expect("process");
        let (g1, g2) = (
            group_of(&triage, first.created[0]),
            group_of(&triage, first.created[1]),
        );
        let err = triage
            .unmerge_group(g1, None, "ann")
            .expect_err("not merged");
        assert!(matches!(err, TriageError::Conflict(_)), "{err}");
        // r3 (ws01, bob) relates to both: g1 goes into g2.
        let third = triage
            .process(vec![detection("r3", Level::Medium, at(120), "ws01", "bob")])
            .expect("process");
        assert_eq!(group_of(&triage, third.created[0]), g2);
        let detail = triage.group(g2, None).expect("group").expect("exists");
        assert_eq!(
            detail.merged,
            [crate::MergedGroup {
                id: g1,
                title: "r1 title on ws01".into(),
                alerts: 1
            }]
        );
        assert!(matches!(
            triage.unmerge_group(g1, Some("other"), "ann"),
            Err(TriageError::NotFound { .. })
        ));

        let undone = triage.unmerge_group(g1, None, "ann").expect("unmerge");
        assert_eq!((undone.group.id, undone.from.id), (g1, g2));
        assert_eq!(undone.moved, [first.created[0]]);
        assert_eq!(rules_of(&triage, g1), ["r1"]);
        assert_eq!(rules_of(&triage, g2), ["r2", "r3"]);
        assert_eq!(undone.group.max_level, Level::High);
        assert_eq!(undone.from.max_level, Level::Medium);
        assert!(undone.from.title.starts_with("r3"), "{}", undone.from.title);
        assert!(
            triage
                .group(g2, None)
                .expect("group")
                .expect("exists")
                .merged
                .is_empty()
        );
        assert_eq!(
            triage
                .groups(&crate::GroupQuery {
                    limit: 10,
                    ..Default::default()
                })
                .expect("groups")
                .total,
            2
        );
        // Undone once: the second time there is nothing merged.
        assert!(triage.unmerge_group(g1, None, "ann").is_err());
        // The next alert related to both (alice to g1, ws01 most recently to g2) joins the
        // most recent only.
        let fourth = triage
            .process(vec![detection("r4", Level::Low, at(180), "ws01", "alice")])
            .expect("process");
        assert_eq!(group_of(&triage, fourth.created[0]), g2);
        assert_eq!(rules_of(&triage, g1), ["r1"]);
        assert_eq!(rules_of(&triage, g2), ["r2", "r3", "r4"]);
    }

    #[test]
    fn groups_merged_before_the_upgrade_can_be_split_but_not_unmerged() {
        // A version-5 file (before alerts recorded their first group): group 8 was merged
        // into group 7, which holds alerts 1 and 2 (2 came with group 8).
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("triage.db");
        {
            let conn = rusqlite::Connection::open(&path).expect("open");
            for step in &crate::db::MIGRATIONS[..5] {
                conn.execute_batch(step).expect("old schema");
            }
            conn.pragma_update(None, "user_version", 5).expect("mark");
            conn.execute_batch(
                "INSERT INTO alert_groups (id, tenant, title, first_seen, last_seen, max_level, \
                 max_priority, alert_count, tactics, created, merged_into) VALUES \
                 (7, 'default', 'r1 title on ws01', 0, 60, 3, 60, 2, '[]', 0, NULL), \
                 (8, 'default', 'r2 title on ws02', 60, 60, 2, 40, 0, '[]', 0, 7);
                 INSERT INTO alerts (id, tenant, source, rule_id, rule_title, level, priority, \
                 risk, tags, entities, dedup_key, status, group_id, count, first_seen, last_seen, \
                 created, updated, event_ids, summary, fields) VALUES \
                 (1, 'default', 'detection', 'r1', 'r1 title', 3, 60, 40, '[]', \
                  '{\"host\":\"ws01\",\"user\":\"alice\"}', 'k1', 'new', 7, 1, 0, 0, 0, 0, '[]', '', '{}'), \
                 (2, 'default', 'detection', 'r2', 'r2 title', 2, 40, 20, '[]', \
                  '{\"host\":\"ws02\",\"user\":\"alice\"}', 'k2', 'new', 7, 1, 60, 60, 60, 60, '[]', '', '{}');",
            )
            .expect("data");
        }
        let triage = Triage::open(&path, Default::default()).expect("migrate");
        let err = triage
            .unmerge_group(8, None, "ann")
            .expect_err("unknown origin");
        assert!(err.to_string().contains("merged before"), "{err}");
        let split = triage
            .split_group(7, None, "ann", &[2], None)
            .expect("split");
        assert_eq!(split.group.title, "r2 title on ws02");
        assert_eq!((split.from.alert_count, split.group.alert_count), (1, 1));
        assert_eq!(group_of(&triage, 2), split.group.id);
    }

    #[test]
    fn a_merge_whose_alerts_are_all_the_group_holds_is_not_undone() {
        let (_dir, triage) = open(Default::default());
        let first = triage
            .process(vec![
                detection("r1", Level::High, at(0), "ws01", "alice"),
                detection("r2", Level::Low, at(60), "ws02", "bob"),
            ])
            .expect("process");
        let g1 = group_of(&triage, first.created[0]);
        let third = triage
            .process(vec![detection("r3", Level::Medium, at(120), "ws01", "bob")])
            .expect("process");
        let g2 = group_of(&triage, third.created[0]);
        // The analyst moves g2's own alerts out: only g1's are left in it.
        triage
            .split_group(g2, None, "ann", &[first.created[1], third.created[0]], None)
            .expect("split");
        let err = triage.unmerge_group(g1, None, "ann").expect_err("refused");
        assert!(err.to_string().contains("nothing to separate"), "{err}");
        assert_eq!(rules_of(&triage, g2), ["r1"]);
    }
}

#[cfg(test)]
mod properties {
    //! Grouping, merges, splits and undone merges in any order keep the groups consistent.

    use super::*;
    use crate::Level;
    use crate::testutil::{at, detection, open};
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// A detection of rule `r` on host `h` for user `u`, `dt` seconds after the last.
        Signal { r: u8, h: u8, u: u8, dt: u16 },
        /// Split the `g`-th live group: move the alerts picked by the bits of `mask`.
        Split { g: u8, mask: u8 },
        /// Undo the merge of the `g`-th merged group.
        Unmerge { g: u8 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..4u8, 0..3u8, 0..3u8, 0..900u16).prop_map(|(r, h, u, dt)| Op::Signal { r, h, u, dt }),
            1 => (0..8u8, 1..255u8).prop_map(|(g, mask)| Op::Split { g, mask }),
            1 => (0..8u8).prop_map(|g| Op::Unmerge { g }),
        ]
    }

    fn ids(conn: &Connection, sql: &str) -> Vec<i64> {
        conn.prepare(sql)
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// Where a group's alerts are now: itself, or the group it was merged into.
    fn resolve(conn: &Connection, id: i64) -> i64 {
        conn.query_row(
            "SELECT COALESCE(merged_into, id) FROM alert_groups WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .expect("group")
    }

    fn check(triage: &Triage) {
        let conn = triage.conn.lock();
        // Every live group holds alerts, and its count is theirs.
        for g in ids(
            &conn,
            "SELECT id FROM alert_groups WHERE merged_into IS NULL",
        ) {
            let (count, held): (i64, i64) = conn
                .query_row(
                    "SELECT alert_count, (SELECT COUNT(*) FROM alerts WHERE group_id = ?1) \
                     FROM alert_groups WHERE id = ?1",
                    [g],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .expect("group");
            assert!(held >= 1, "live group {g} is empty");
            assert_eq!(count, held, "group {g}'s count");
        }
        // A merged group points at a live one and holds nothing.
        for g in ids(
            &conn,
            "SELECT id FROM alert_groups WHERE merged_into IS NOT NULL",
        ) {
            let into = resolve(&conn, g);
            assert_eq!(
                resolve(&conn, into),
                into,
                "group {g} points at a merged group"
            );
            let held: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM alerts WHERE group_id = ?1",
                    [g],
                    |r| r.get(0),
                )
                .expect("count");
            assert_eq!(held, 0, "merged group {g} holds alerts");
        }
        // Every alert is in a live group: its first group, or where that was merged.
        for a in ids(&conn, "SELECT id FROM alerts") {
            let (group, origin): (i64, i64) = conn
                .query_row(
                    "SELECT group_id, origin_group FROM alerts WHERE id = ?1",
                    [a],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .expect("alert");
            assert_eq!(resolve(&conn, group), group, "alert {a} in a merged group");
            assert_eq!(
                resolve(&conn, origin),
                group,
                "alert {a} away from its origin"
            );
        }
        // Groups an analyst separated are never together again.
        let pairs: Vec<(i64, i64)> = conn
            .prepare("SELECT a, b FROM groups_apart")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        for (x, y) in pairs {
            assert_ne!(
                resolve(&conn, x),
                resolve(&conn, y),
                "{x} and {y} were joined again"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(120))]
        #[test]
        fn regrouping_in_any_order_keeps_groups_consistent(ops in proptest::collection::vec(op(), 1..40)) {
            let (_dir, triage) = open(Default::default());
            let mut time = 0i64;
            for op in ops {
                match op {
                    Op::Signal { r, h, u, dt } => {
                        time += i64::from(dt);
                        let signal = detection(&format!("r{r}"), Level::Medium, at(time), &format!("ws{h}"), &format!("user{u}"));
                        triage.process(vec![signal]).expect("process");
                    }
                    Op::Split { g, mask } => {
                        let live = ids(&triage.conn.lock(), "SELECT id FROM alert_groups WHERE merged_into IS NULL ORDER BY id");
                        let Some(&group) = live.get(usize::from(g) % live.len().max(1)) else { continue };
                        let alerts = ids(&triage.conn.lock(), &format!("SELECT id FROM alerts WHERE group_id = {group} ORDER BY id"));
                        let picked: Vec<i64> = alerts.iter().enumerate().filter(|(i, _)| mask & (1 << (i % 8)) != 0).map(|(_, a)| *a).collect();
                        let result = triage.split_group(group, None, "ann", &picked, None);
                        // Refused exactly when nothing or everything would move.
                        prop_assert_eq!(result.is_err(), picked.is_empty() || picked.len() == alerts.len(), "{:?}", result);
                    }
                    Op::Unmerge { g } => {
                        let merged = ids(&triage.conn.lock(), "SELECT id FROM alert_groups WHERE merged_into IS NOT NULL ORDER BY id");
                        let Some(&group) = merged.get(usize::from(g) % merged.len().max(1)) else { continue };
                        // Refusals (nothing to send back, or all the other holds) are fine;
                        // the invariants must hold either way.
                        let _ = triage.unmerge_group(group, None, "ann");
                    }
                }
                check(&triage);
            }
        }
    }
}
