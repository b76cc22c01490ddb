//! The alert workflow: acknowledge, assign, change status, reopen and close with a disposition, each recorded in the alert's history.

use rampart_model::Timestamp;
use rusqlite::{Connection, params};

use crate::alert::{Alert, AlertStatus, Disposition, load_required, record_history};
use crate::error::SqlContext;
use crate::{Triage, TriageError};

fn set_status_row(
    conn: &Connection,
    id: i64,
    status: AlertStatus,
    disposition: Option<Disposition>,
    now: Timestamp,
) -> Result<(), TriageError> {
    conn.prepare_cached(
        "UPDATE alerts SET status = ?2, disposition = ?3, updated = ?4 WHERE id = ?1",
    )
    .ctx("prepare a status update")?
    .execute(params![
        id,
        status.as_str(),
        disposition.map(Disposition::as_str),
        now.0
    ])
    .ctx("update alert status")?;
    Ok(())
}

/// Longest group title an analyst may give, in characters.
const MAX_GROUP_TITLE: usize = 200;

pub(crate) fn clean_note(note: Option<&str>) -> Option<&str> {
    note.map(str::trim).filter(|n| !n.is_empty())
}

/// A group title an analyst gives: 1 to [`MAX_GROUP_TITLE`] characters, trimmed.
pub(crate) fn check_title(title: &str) -> Result<(), TriageError> {
    if title.is_empty() || title.chars().count() > MAX_GROUP_TITLE {
        return Err(TriageError::Invalid(format!(
            "a group title needs 1 to {MAX_GROUP_TITLE} characters"
        )));
    }
    Ok(())
}

pub(crate) fn check_actor(actor: &str) -> Result<(), TriageError> {
    if actor.trim().is_empty() {
        return Err(TriageError::Invalid(
            "the actor of a change is required".into(),
        ));
    }
    Ok(())
}

impl Triage {
    /// Acknowledge a new alert: someone has seen it.
    pub fn ack(
        &self,
        id: i64,
        tenant: Option<&str>,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Alert, TriageError> {
        self.transition(
            id,
            tenant,
            actor,
            AlertStatus::Acknowledged,
            None,
            note,
            true,
        )
    }

    /// Move an alert to `status` (new, acknowledged or in progress). Moving a closed alert
    /// reopens it: its disposition is cleared and taken back from the rule's statistics.
    pub fn set_status(
        &self,
        id: i64,
        tenant: Option<&str>,
        actor: &str,
        status: AlertStatus,
        note: Option<&str>,
    ) -> Result<Alert, TriageError> {
        if status == AlertStatus::Closed {
            return Err(TriageError::Invalid(
                "closing an alert needs a disposition: use close".into(),
            ));
        }
        self.transition(id, tenant, actor, status, None, note, false)
    }

    /// Close an alert with its disposition, counted in the rule's noise statistics.
    pub fn close(
        &self,
        id: i64,
        tenant: Option<&str>,
        actor: &str,
        disposition: Disposition,
        note: Option<&str>,
    ) -> Result<Alert, TriageError> {
        self.transition(
            id,
            tenant,
            actor,
            AlertStatus::Closed,
            Some(disposition),
            note,
            false,
        )
    }

    /// Give an alert to `assignee` (`None`: nobody). The status does not change.
    pub fn assign(
        &self,
        id: i64,
        tenant: Option<&str>,
        actor: &str,
        assignee: Option<&str>,
        note: Option<&str>,
    ) -> Result<Alert, TriageError> {
        check_actor(actor)?;
        let assignee = assignee.map(str::trim).filter(|a| !a.is_empty());
        let now = self.now();
        let mut conn = self.conn.lock();
        let tx = conn.transaction().ctx("begin an assignment")?;
        let alert = load_required(&tx, id, tenant)?;
        tx.prepare_cached("UPDATE alerts SET assignee = ?2, updated = ?3 WHERE id = ?1")
            .ctx("prepare an assignment")?
            .execute(params![id, assignee, now.0])
            .ctx("assign an alert")?;
        record_history(
            &tx,
            id,
            now,
            actor,
            "assign",
            Some(alert.status),
            Some(alert.status),
            assignee,
            None,
            clean_note(note),
        )?;
        let alert = load_required(&tx, id, tenant)?;
        tx.commit().ctx("commit an assignment")?;
        Ok(alert)
    }

    /// Close every alert of group `id` that is not closed yet with `disposition`, in one
    /// transaction: an incident candidate judged as a whole. Each alert gets its own
    /// history entry and counts in its rule's statistics, as if closed one by one. A
    /// merged group's id closes the group that took it in. Returns the ids closed.
    pub fn close_group(
        &self,
        id: i64,
        tenant: Option<&str>,
        actor: &str,
        disposition: Disposition,
        note: Option<&str>,
    ) -> Result<Vec<i64>, TriageError> {
        check_actor(actor)?;
        let now = self.now();
        let mut conn = self.conn.lock();
        let tx = conn.transaction().ctx("begin a group close")?;
        let group = crate::group::load(&tx, id, tenant)?
            .ok_or(TriageError::NotFound { what: "group", id })?;
        let open: Vec<i64> = tx
            .prepare_cached(
                "SELECT id FROM alerts WHERE group_id = ?1 AND status != ?2 ORDER BY id",
            )
            .ctx("prepare a group's open alerts")?
            .query_map(params![group.id, AlertStatus::Closed.as_str()], |r| {
                r.get(0)
            })
            .ctx("read a group's open alerts")?
            .collect::<Result<_, _>>()
            .ctx("read a group's open alerts")?;
        let note = clean_note(note).unwrap_or("closed with its group");
        for &alert_id in &open {
            let alert = load_required(&tx, alert_id, tenant)?;
            let change = Change {
                actor,
                action: "close",
                to: AlertStatus::Closed,
                disposition: Some(disposition),
                note: Some(note),
                now,
            };
            change.apply(&tx, &alert)?;
        }
        tx.commit().ctx("commit a group close")?;
        Ok(open)
    }

    /// Name group `id` (an incident candidate) `title`: from then on alerts joining it no
    /// longer rename it after their rule. A merged group's id names the group that took it
    /// in. Returns the group after the change.
    pub fn rename_group(
        &self,
        id: i64,
        tenant: Option<&str>,
        actor: &str,
        title: &str,
    ) -> Result<crate::Group, TriageError> {
        check_actor(actor)?;
        let title = title.trim();
        check_title(title)?;
        let conn = self.conn.lock();
        let group = crate::group::load(&conn, id, tenant)?
            .ok_or(TriageError::NotFound { what: "group", id })?;
        conn.prepare_cached("UPDATE alert_groups SET title = ?2, title_set_by = ?3 WHERE id = ?1")
            .ctx("prepare a group rename")?
            .execute(params![group.id, title, actor])
            .ctx("rename a group")?;
        crate::group::load(&conn, group.id, tenant)?
            .ok_or(TriageError::NotFound { what: "group", id })
    }

    /// Move alert `id` to `to`; `acknowledge` refuses anything but a new alert.
    #[allow(clippy::too_many_arguments)]
    fn transition(
        &self,
        id: i64,
        tenant: Option<&str>,
        actor: &str,
        to: AlertStatus,
        disposition: Option<Disposition>,
        note: Option<&str>,
        acknowledge: bool,
    ) -> Result<Alert, TriageError> {
        check_actor(actor)?;
        let now = self.now();
        let mut conn = self.conn.lock();
        let tx = conn.transaction().ctx("begin a status change")?;
        let alert = load_required(&tx, id, tenant)?;
        let from = alert.status;
        if acknowledge && from != AlertStatus::New {
            return Err(TriageError::Conflict(format!(
                "alert {id} is {}, only a new alert can be acknowledged",
                from.as_str()
            )));
        }
        if from == to {
            return Err(TriageError::Conflict(match alert.disposition {
                Some(d) if from == AlertStatus::Closed => {
                    format!("alert {id} is already closed as {}", d.as_str())
                }
                _ => format!("alert {id} is already {}", from.as_str()),
            }));
        }
        let action = if acknowledge {
            "acknowledge"
        } else if to == AlertStatus::Closed {
            "close"
        } else if from == AlertStatus::Closed {
            "reopen"
        } else {
            "status"
        };
        let change = Change {
            actor,
            action,
            to,
            disposition,
            note: clean_note(note),
            now,
        };
        change.apply(&tx, &alert)?;
        let alert = load_required(&tx, id, tenant)?;
        tx.commit().ctx("commit a status change")?;
        Ok(alert)
    }
}

/// One status change of one alert, as every workflow path records it.
struct Change<'a> {
    actor: &'a str,
    action: &'a str,
    to: AlertStatus,
    disposition: Option<Disposition>,
    note: Option<&'a str>,
    now: Timestamp,
}

impl Change<'_> {
    /// Set the status, move the rule's disposition counts (a closed alert's old one out,
    /// the new one in) and write the history row.
    fn apply(&self, tx: &rusqlite::Transaction<'_>, alert: &Alert) -> Result<(), TriageError> {
        let from = alert.status;
        set_status_row(tx, alert.id, self.to, self.disposition, self.now)?;
        if let Some(old) = alert.disposition.filter(|_| from == AlertStatus::Closed) {
            crate::stats::add_disposition(tx, &alert.tenant, &alert.rule_id, old, -1)?;
        }
        if let Some(new) = self.disposition {
            crate::stats::add_disposition(tx, &alert.tenant, &alert.rule_id, new, 1)?;
        }
        record_history(
            tx,
            alert.id,
            self.now,
            self.actor,
            self.action,
            Some(from),
            Some(self.to),
            alert.assignee.as_deref(),
            self.disposition,
            self.note,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;
    use crate::testutil::{at, detection, open};

    #[test]
    fn a_named_group_keeps_its_name_when_worse_alerts_join() {
        let (_dir, triage) = open(Default::default());
        let first = triage
            .process(vec![detection("r1", Level::Low, at(0), "ws01", "bob")])
            .expect("process")
            .created[0];
        let group = triage
            .get(first, None)
            .expect("get")
            .expect("alert")
            .alert
            .group_id
            .expect("grouped");
        let named = triage
            .rename_group(group, None, "alice", "  Ransomware staging on ws01 ")
            .expect("rename");
        assert_eq!(named.title, "Ransomware staging on ws01");
        assert_eq!(named.title_set_by.as_deref(), Some("alice"));
        // A critical alert joins: without the name it would retitle the group after itself.
        triage
            .process(vec![detection(
                "r9",
                Level::Critical,
                at(60),
                "ws01",
                "bob",
            )])
            .expect("process");
        let g = triage.group(group, None).expect("group").expect("kept");
        assert_eq!(g.group.alert_count, 2);
        assert_eq!(g.group.title, "Ransomware staging on ws01");
        // An unnamed group still takes the worst alert's title.
        let other = triage
            .process(vec![
                detection("r1", Level::Low, at(0), "ws02", "carol"),
                detection("r9", Level::Critical, at(60), "ws02", "carol"),
            ])
            .expect("process")
            .created[0];
        let og = triage
            .get(other, None)
            .expect("get")
            .expect("alert")
            .alert
            .group_id;
        let og = triage
            .group(og.expect("grouped"), None)
            .expect("group")
            .expect("g");
        assert!(og.group.title.starts_with("r9"), "{}", og.group.title);
        assert!(og.group.title_set_by.is_none());
        // Refused: empty or overlong titles, unknown groups.
        assert!(matches!(
            triage.rename_group(group, None, "alice", "  "),
            Err(TriageError::Invalid(_))
        ));
        assert!(matches!(
            triage.rename_group(group, None, "alice", &"x".repeat(201)),
            Err(TriageError::Invalid(_))
        ));
        assert!(matches!(
            triage.rename_group(999, None, "alice", "x"),
            Err(TriageError::NotFound { .. })
        ));
    }

    #[test]
    fn closing_a_group_closes_its_open_alerts_one_by_one() {
        let (_dir, triage) = open(Default::default());
        let report = triage
            .process(vec![
                detection("r1", Level::High, at(0), "ws01", "bob"),
                detection("r2", Level::Low, at(60), "ws01", "carol"),
                detection("r3", Level::Low, at(120), "ws01", "dave"),
            ])
            .expect("process");
        let [a1, a2, a3] = report.created[..] else {
            panic!("three alerts: {report:?}")
        };
        let group = triage
            .get(a1, None)
            .expect("get")
            .expect("alert")
            .alert
            .group_id
            .expect("grouped");
        triage
            .close(a1, None, "alice", Disposition::TruePositive, None)
            .expect("close one");
        let closed = triage
            .close_group(
                group,
                None,
                "alice",
                Disposition::FalsePositive,
                Some("lab scan"),
            )
            .expect("close the group");
        assert_eq!(
            closed,
            [a2, a3],
            "the already closed alert keeps its disposition"
        );
        for (id, disposition) in [
            (a1, Disposition::TruePositive),
            (a2, Disposition::FalsePositive),
            (a3, Disposition::FalsePositive),
        ] {
            let d = triage.get(id, None).expect("get").expect("alert");
            assert_eq!(d.alert.status, AlertStatus::Closed);
            assert_eq!(d.alert.disposition, Some(disposition));
            let last = d.history.last().expect("history");
            assert_eq!(
                (last.action.as_str(), last.actor.as_str()),
                ("close", "alice")
            );
        }
        let note = triage.get(a3, None).expect("get").expect("alert").history;
        assert_eq!(
            note.last().and_then(|h| h.note.as_deref()),
            Some("lab scan")
        );
        let noise = triage.rule_noise(None).expect("noise");
        let fp: u64 = noise.iter().map(|n| n.false_positive).sum();
        let tp: u64 = noise.iter().map(|n| n.true_positive).sum();
        assert_eq!((tp, fp), (1, 2));
        // Nothing left to close; an unknown group is an error, as is a missing actor.
        let again = triage
            .close_group(group, None, "alice", Disposition::FalsePositive, None)
            .expect("close again");
        assert!(again.is_empty());
        assert!(matches!(
            triage.close_group(9999, None, "alice", Disposition::FalsePositive, None),
            Err(TriageError::NotFound { .. })
        ));
        assert!(
            triage
                .close_group(group, None, " ", Disposition::FalsePositive, None)
                .is_err()
        );
    }

    #[test]
    fn status_workflow_keeps_a_history_of_who_did_what() {
        let (_dir, triage) = open(Default::default());
        let report = triage
            .process(vec![detection("r1", Level::High, at(0), "ws01", "bob")])
            .expect("process");
        let id = report.created[0];
        let steps: Vec<(&str, Result<AlertStatus, &str>)> = vec![
            ("ack", Ok(AlertStatus::Acknowledged)),
            ("ack", Err("only a new alert")),
            ("assign", Ok(AlertStatus::Acknowledged)),
            ("start", Ok(AlertStatus::InProgress)),
            ("close-fp", Ok(AlertStatus::Closed)),
            ("close-tp", Err("already closed as false_positive")),
            ("start", Ok(AlertStatus::InProgress)),
            ("close-tp", Ok(AlertStatus::Closed)),
        ];
        for (step, expected) in steps {
            let result = match step {
                "ack" => triage.ack(id, None, "alice", Some("looking")),
                "assign" => triage.assign(id, None, "alice", Some("carol"), None),
                "start" => triage.set_status(id, None, "carol", AlertStatus::InProgress, None),
                "close-fp" => {
                    triage.close(id, None, "carol", Disposition::FalsePositive, Some("admin"))
                }
                "close-tp" => triage.close(id, None, "carol", Disposition::TruePositive, None),
                other => unreachable!("{other}"),
            };
            match (result, expected) {
                (Ok(alert), Ok(status)) => assert_eq!(alert.status, status, "{step}"),
                (Err(e), Err(needle)) => assert!(e.to_string().contains(needle), "{step}: {e}"),
                (got, want) => panic!("{step}: got {got:?}, want {want:?}"),
            }
        }
        let detail = triage.get(id, None).expect("get").expect("exists");
        assert_eq!(detail.alert.disposition, Some(Disposition::TruePositive));
        assert_eq!(detail.alert.assignee.as_deref(), Some("carol"));
        let trail: Vec<(String, String, Option<AlertStatus>)> = detail
            .history
            .iter()
            .map(|h| (h.actor.clone(), h.action.clone(), h.to_status))
            .collect();
        let expected = [
            ("rampart", "created", Some(AlertStatus::New)),
            ("alice", "acknowledge", Some(AlertStatus::Acknowledged)),
            ("alice", "assign", Some(AlertStatus::Acknowledged)),
            ("carol", "status", Some(AlertStatus::InProgress)),
            ("carol", "close", Some(AlertStatus::Closed)),
            ("carol", "reopen", Some(AlertStatus::InProgress)),
            ("carol", "close", Some(AlertStatus::Closed)),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c));
        assert_eq!(trail, expected);
        assert_eq!(detail.history[1].note.as_deref(), Some("looking"));
        assert_eq!(detail.history[2].assignee.as_deref(), Some("carol"));
        // The reopened false positive no longer counts; the final true positive does.
        let noise = triage.rule_noise(None).expect("noise");
        assert_eq!((noise[0].false_positive, noise[0].true_positive), (0, 1));
        // Other tenants do not see it, and a closed status needs a disposition.
        assert!(triage.get(id, Some("other")).expect("get").is_none());
        assert!(matches!(
            triage.ack(id, Some("other"), "x", None),
            Err(TriageError::NotFound { .. })
        ));
        assert!(
            triage
                .set_status(id, None, "x", AlertStatus::Closed, None)
                .is_err()
        );
        assert!(triage.ack(id, None, " ", None).is_err());
    }
}
