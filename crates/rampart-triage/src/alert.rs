//! Alerts as analysts see them: the record, the list filters, and the status workflow (acknowledge, assign, start, close with a disposition) with its history.

use rampart_model::{EventId, Timestamp};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::from_json;
use crate::error::SqlContext;
use crate::group::Group;
use crate::signal::{Entities, EntityKind, Level, SignalSource, tactics};
use crate::{Triage, TriageError};

/// Where an alert is in the analyst's workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    New,
    Acknowledged,
    InProgress,
    Closed,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::New,
        AlertStatus::Acknowledged,
        AlertStatus::InProgress,
        AlertStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::InProgress => "in_progress",
            AlertStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<AlertStatus> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("ack") {
            return Some(AlertStatus::Acknowledged);
        }
        AlertStatus::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    /// A status filter: comma-separated names, `open` meaning every status but closed.
    pub fn parse_filter(text: &str) -> Result<Vec<AlertStatus>, TriageError> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part.eq_ignore_ascii_case("open") {
                out.extend([
                    AlertStatus::New,
                    AlertStatus::Acknowledged,
                    AlertStatus::InProgress,
                ]);
            } else {
                out.push(AlertStatus::parse(part).ok_or_else(|| {
                    TriageError::Invalid(format!(
                        "unknown status '{part}', expected new, acknowledged, in_progress, closed or open"
                    ))
                })?);
            }
        }
        out.sort_unstable_by_key(|s| s.as_str());
        out.dedup();
        Ok(out)
    }
}

/// How a closed alert turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Malicious activity, correctly detected.
    TruePositive,
    /// Real activity the rule meant to catch, but allowed (an admin's test, a pentest).
    BenignTruePositive,
    /// The rule matched something it should not have.
    FalsePositive,
}

impl Disposition {
    pub const ALL: [Disposition; 3] = [
        Disposition::TruePositive,
        Disposition::BenignTruePositive,
        Disposition::FalsePositive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::TruePositive => "true_positive",
            Disposition::BenignTruePositive => "benign_true_positive",
            Disposition::FalsePositive => "false_positive",
        }
    }

    /// The disposition named `text` (`tp`, `btp` and `fp` accepted).
    pub fn parse(text: &str) -> Option<Disposition> {
        let text = text.trim();
        let short = match text.to_ascii_lowercase().as_str() {
            "tp" => Some(Disposition::TruePositive),
            "btp" => Some(Disposition::BenignTruePositive),
            "fp" => Some(Disposition::FalsePositive),
            _ => None,
        };
        short.or_else(|| {
            Disposition::ALL
                .into_iter()
                .find(|d| d.as_str().eq_ignore_ascii_case(text))
        })
    }
}

/// One alert: a rule's finding on given entities, folded over its repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: i64,
    pub tenant: String,
    pub source: SignalSource,
    pub rule_id: String,
    pub rule_title: String,
    pub level: Level,
    /// 0–100, higher first (see [`crate::priority`]).
    pub priority: u8,
    /// The risk this rule adds to the entities involved.
    pub risk: u32,
    pub tags: Vec<String>,
    /// The ATT&CK tactics among the tags, in kill-chain order.
    pub tactics: Vec<String>,
    pub entities: Entities,
    pub status: AlertStatus,
    pub disposition: Option<Disposition>,
    pub assignee: Option<String>,
    /// The incident candidate the alert belongs to.
    pub group_id: Option<i64>,
    /// How many signals were folded into this alert (1 when it was never repeated).
    pub count: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// The contributing events (the first ones, up to the configured cap).
    pub event_ids: Vec<EventId>,
    pub summary: String,
    pub fields: Map<String, Value>,
    /// Source-specific detail (for risk alerts: the score and the contributing detections).
    pub details: Option<Value>,
}

/// One change of an alert: who did what, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub time: Timestamp,
    pub actor: String,
    /// `created`, `acknowledge`, `assign`, `status`, `reopen`, `close` or `regroup` (moved
    /// to another group; the note says which).
    pub action: String,
    pub from_status: Option<AlertStatus>,
    pub to_status: Option<AlertStatus>,
    pub assignee: Option<String>,
    pub disposition: Option<Disposition>,
    pub note: Option<String>,
}

/// An alert with its history and its group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertDetail {
    pub alert: Alert,
    pub history: Vec<HistoryEntry>,
    pub group: Option<Group>,
}

/// List order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSort {
    /// Most recently seen first.
    #[default]
    Newest,
    /// Highest priority first, then most recently seen.
    Priority,
    /// Most repeated first.
    Count,
}

impl AlertSort {
    pub fn parse(text: &str) -> Option<AlertSort> {
        match text.trim().to_ascii_lowercase().as_str() {
            "newest" | "last_seen" => Some(AlertSort::Newest),
            "priority" => Some(AlertSort::Priority),
            "count" => Some(AlertSort::Count),
            _ => None,
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            AlertSort::Newest => "last_seen DESC, id DESC",
            AlertSort::Priority => "priority DESC, last_seen DESC, id DESC",
            AlertSort::Count => "count DESC, last_seen DESC, id DESC",
        }
    }
}

/// Filters of an alert list. Empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertQuery {
    /// Only this tenant (`None`: every tenant).
    pub tenant: Option<String>,
    /// Any of these statuses (empty: all).
    pub statuses: Vec<AlertStatus>,
    pub min_level: Option<Level>,
    pub rule_id: Option<String>,
    pub source: Option<SignalSource>,
    /// An entity value, of the given kind or of any kind.
    pub entity: Option<(Option<EntityKind>, String)>,
    pub assignee: Option<String>,
    /// Only alerts nobody is assigned to.
    pub unassigned: bool,
    pub group_id: Option<i64>,
    /// Seen at or after (last sighting).
    pub from: Option<Timestamp>,
    /// Seen at or before (first sighting).
    pub to: Option<Timestamp>,
    pub sort: AlertSort,
    pub limit: usize,
    pub offset: usize,
}

/// One page of alerts and how many match in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertPage {
    pub total: u64,
    pub offset: usize,
    pub alerts: Vec<Alert>,
}

pub(crate) const ALERT_COLUMNS: &str = "id, tenant, source, rule_id, rule_title, level, priority, \
    risk, tags, entities, status, disposition, assignee, group_id, count, first_seen, last_seen, \
    created, updated, event_ids, summary, fields, details";

/// The raw columns of an alert row; decoded by [`RawAlert::decode`].
pub(crate) struct RawAlert {
    id: i64,
    tenant: String,
    source: String,
    rule_id: String,
    rule_title: String,
    level: i64,
    priority: i64,
    risk: i64,
    tags: String,
    entities: String,
    status: String,
    disposition: Option<String>,
    assignee: Option<String>,
    group_id: Option<i64>,
    count: i64,
    first_seen: i64,
    last_seen: i64,
    created: i64,
    updated: i64,
    event_ids: String,
    summary: String,
    fields: String,
    details: Option<String>,
}

impl RawAlert {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<RawAlert> {
        Ok(RawAlert {
            id: row.get(0)?,
            tenant: row.get(1)?,
            source: row.get(2)?,
            rule_id: row.get(3)?,
            rule_title: row.get(4)?,
            level: row.get(5)?,
            priority: row.get(6)?,
            risk: row.get(7)?,
            tags: row.get(8)?,
            entities: row.get(9)?,
            status: row.get(10)?,
            disposition: row.get(11)?,
            assignee: row.get(12)?,
            group_id: row.get(13)?,
            count: row.get(14)?,
            first_seen: row.get(15)?,
            last_seen: row.get(16)?,
            created: row.get(17)?,
            updated: row.get(18)?,
            event_ids: row.get(19)?,
            summary: row.get(20)?,
            fields: row.get(21)?,
            details: row.get(22)?,
        })
    }

    pub(crate) fn decode(self) -> Result<Alert, TriageError> {
        let corrupt = |detail: String| TriageError::Corrupt {
            what: "alert",
            detail,
        };
        let tags: Vec<String> = from_json("alert tags", &self.tags)?;
        Ok(Alert {
            id: self.id,
            source: SignalSource::parse(&self.source)
                .ok_or_else(|| corrupt(format!("unknown source '{}'", self.source)))?,
            level: Level::from_rank(self.level)
                .ok_or_else(|| corrupt(format!("unknown level {}", self.level)))?,
            priority: u8::try_from(self.priority.clamp(0, 100)).unwrap_or(0),
            risk: u32::try_from(self.risk.max(0)).unwrap_or(u32::MAX),
            tactics: tactics(&tags)
                .iter()
                .map(|(_, t)| (*t).to_owned())
                .collect(),
            tags,
            entities: from_json("alert entities", &self.entities)?,
            status: AlertStatus::parse(&self.status)
                .ok_or_else(|| corrupt(format!("unknown status '{}'", self.status)))?,
            disposition: match self.disposition {
                None => None,
                Some(d) => Some(
                    Disposition::parse(&d)
                        .ok_or_else(|| corrupt(format!("unknown disposition '{d}'")))?,
                ),
            },
            assignee: self.assignee,
            group_id: self.group_id,
            count: u64::try_from(self.count.max(0)).unwrap_or(0),
            first_seen: Timestamp(self.first_seen),
            last_seen: Timestamp(self.last_seen),
            created: Timestamp(self.created),
            updated: Timestamp(self.updated),
            event_ids: from_json("alert event ids", &self.event_ids)?,
            summary: self.summary,
            fields: from_json("alert fields", &self.fields)?,
            details: match self.details {
                None => None,
                Some(d) => Some(from_json("alert details", &d)?),
            },
            tenant: self.tenant,
            rule_id: self.rule_id,
            rule_title: self.rule_title,
        })
    }
}

/// The alert `id`, when it exists and `tenant` (if any) may see it.
pub(crate) fn load(
    conn: &Connection,
    id: i64,
    tenant: Option<&str>,
) -> Result<Option<Alert>, TriageError> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)"
        ))
        .ctx("prepare an alert lookup")?
        .query_row(params![id, tenant], RawAlert::from_row)
        .optional()
        .ctx("read an alert")?;
    raw.map(RawAlert::decode).transpose()
}

pub(crate) fn load_required(
    conn: &Connection,
    id: i64,
    tenant: Option<&str>,
) -> Result<Alert, TriageError> {
    load(conn, id, tenant)?.ok_or(TriageError::NotFound { what: "alert", id })
}

/// Append one history entry.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_history(
    conn: &Connection,
    alert_id: i64,
    time: Timestamp,
    actor: &str,
    action: &str,
    from: Option<AlertStatus>,
    to: Option<AlertStatus>,
    assignee: Option<&str>,
    disposition: Option<Disposition>,
    note: Option<&str>,
) -> Result<(), TriageError> {
    conn.prepare_cached(
        "INSERT INTO alert_history (alert_id, time, actor, action, from_status, to_status, \
         assignee, disposition, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .ctx("prepare a history insert")?
    .execute(params![
        alert_id,
        time.0,
        actor,
        action,
        from.map(AlertStatus::as_str),
        to.map(AlertStatus::as_str),
        assignee,
        disposition.map(Disposition::as_str),
        note,
    ])
    .ctx("record alert history")?;
    Ok(())
}

fn history(conn: &Connection, alert_id: i64) -> Result<Vec<HistoryEntry>, TriageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT time, actor, action, from_status, to_status, assignee, disposition, note \
             FROM alert_history WHERE alert_id = ?1 ORDER BY id",
        )
        .ctx("prepare a history query")?;
    let rows = stmt
        .query_map([alert_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })
        .ctx("read alert history")?;
    let mut out = Vec::new();
    for row in rows {
        let (time, actor, action, from, to, assignee, disposition, note) =
            row.ctx("read alert history")?;
        out.push(HistoryEntry {
            time: Timestamp(time),
            actor,
            action,
            from_status: from.as_deref().and_then(AlertStatus::parse),
            to_status: to.as_deref().and_then(AlertStatus::parse),
            assignee,
            disposition: disposition.as_deref().and_then(Disposition::parse),
            note,
        });
    }
    Ok(out)
}

/// The value an entity filter compares with: normalised like stored entities.
fn normalise_filter(kind: Option<EntityKind>, value: &str) -> Vec<String> {
    match kind {
        Some(kind) => {
            let mut e = Entities::default();
            e.set(kind, Some(value.to_owned()));
            e.normalised()
                .get(kind)
                .map(str::to_owned)
                .into_iter()
                .collect()
        }
        // Any kind: the value as given (processes keep their case) and lower-cased.
        None => {
            let trimmed = value.trim().to_owned();
            let lower = trimmed.to_lowercase();
            if lower == trimmed {
                vec![trimmed]
            } else {
                vec![trimmed, lower]
            }
        }
    }
}

fn where_clause(q: &AlertQuery) -> (String, Vec<SqlValue>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    // Plain `?` placeholders: SQLite numbers them in order, as `args` is filled.
    let push = |clause: &str,
                values: Vec<SqlValue>,
                clauses: &mut Vec<String>,
                args: &mut Vec<SqlValue>| {
        args.extend(values);
        clauses.push(clause.to_owned());
    };
    if let Some(t) = &q.tenant {
        push(
            "tenant = ?",
            vec![t.clone().into()],
            &mut clauses,
            &mut args,
        );
    }
    if !q.statuses.is_empty() {
        let marks = vec!["?"; q.statuses.len()].join(", ");
        let values = q
            .statuses
            .iter()
            .map(|s| SqlValue::from(s.as_str().to_owned()))
            .collect();
        push(
            &format!("status IN ({marks})"),
            values,
            &mut clauses,
            &mut args,
        );
    }
    if let Some(l) = q.min_level {
        push("level >= ?", vec![l.rank().into()], &mut clauses, &mut args);
    }
    if let Some(r) = &q.rule_id {
        push(
            "rule_id = ?",
            vec![r.clone().into()],
            &mut clauses,
            &mut args,
        );
    }
    if let Some(s) = q.source {
        push(
            "source = ?",
            vec![s.as_str().to_owned().into()],
            &mut clauses,
            &mut args,
        );
    }
    if let Some((kind, value)) = &q.entity {
        let values = normalise_filter(*kind, value);
        let marks = vec!["?"; values.len().max(1)].join(", ");
        let mut sql = format!(
            "EXISTS (SELECT 1 FROM alert_entities e WHERE e.alert_id = alerts.id AND e.value IN ({marks})"
        );
        let mut vals: Vec<SqlValue> = if values.is_empty() {
            vec![SqlValue::Null]
        } else {
            values.into_iter().map(SqlValue::from).collect()
        };
        if let Some(kind) = kind {
            sql.push_str(" AND e.kind = ?");
            vals.push(kind.as_str().to_owned().into());
        }
        sql.push(')');
        push(&sql, vals, &mut clauses, &mut args);
    }
    if let Some(a) = &q.assignee {
        push(
            "assignee = ?",
            vec![a.clone().into()],
            &mut clauses,
            &mut args,
        );
    }
    if q.unassigned {
        push("assignee IS NULL", Vec::new(), &mut clauses, &mut args);
    }
    if let Some(g) = q.group_id {
        push("group_id = ?", vec![g.into()], &mut clauses, &mut args);
    }
    if let Some(f) = q.from {
        push("last_seen >= ?", vec![f.0.into()], &mut clauses, &mut args);
    }
    if let Some(t) = q.to {
        push("first_seen <= ?", vec![t.0.into()], &mut clauses, &mut args);
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, args)
}

/// Alerts matching `q`, one page.
pub(crate) fn list(conn: &Connection, q: &AlertQuery) -> Result<AlertPage, TriageError> {
    let (filter, args) = where_clause(q);
    let total: i64 = conn
        .prepare(&format!("SELECT COUNT(*) FROM alerts{filter}"))
        .ctx("prepare an alert count")?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))
        .ctx("count alerts")?;
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts{filter} ORDER BY {} LIMIT {} OFFSET {}",
        q.sort.order_by(),
        q.limit.max(1),
        q.offset
    );
    let mut stmt = conn.prepare(&sql).ctx("prepare an alert list")?;
    let rows = stmt
        .query_map(params_from_iter(args.iter()), RawAlert::from_row)
        .ctx("list alerts")?;
    let mut alerts = Vec::new();
    for row in rows {
        alerts.push(row.ctx("list alerts")?.decode()?);
    }
    Ok(AlertPage {
        total: u64::try_from(total).unwrap_or(0),
        offset: q.offset,
        alerts,
    })
}

impl Triage {
    /// Alerts matching `query`, one page (`query.limit` is capped at 10,000).
    pub fn list(&self, query: &AlertQuery) -> Result<AlertPage, TriageError> {
        let mut q = query.clone();
        q.limit = q.limit.clamp(1, 10_000);
        let conn = self.conn.lock();
        list(&conn, &q)
    }

    /// One alert with its history and group, when `tenant` (if any) may see it.
    pub fn get(&self, id: i64, tenant: Option<&str>) -> Result<Option<AlertDetail>, TriageError> {
        let conn = self.conn.lock();
        let Some(alert) = load(&conn, id, tenant)? else {
            return Ok(None);
        };
        let group = match alert.group_id {
            Some(g) => crate::group::load(&conn, g, tenant)?,
            None => None,
        };
        Ok(Some(AlertDetail {
            history: history(&conn, id)?,
            group,
            alert,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{at, detection, open};

    #[test]
    fn list_filters_and_pages() {
        let (_dir, triage) = open(Default::default());
        let signals = vec![
            detection("r1", Level::Low, at(0), "ws01", "bob"),
            detection("r2", Level::High, at(10), "ws02", "alice"),
            detection("r3", Level::Critical, at(20), "WS01", "carol"),
        ];
        let ids = triage.process(signals).expect("process").created;
        triage
            .assign(ids[1], None, "lead", Some("dave"), None)
            .expect("assign");
        triage
            .close(ids[2], None, "lead", Disposition::TruePositive, None)
            .expect("close");
        let q = |f: fn(&mut AlertQuery)| {
            let mut q = AlertQuery {
                limit: 100,
                ..Default::default()
            };
            f(&mut q);
            triage
                .list(&q)
                .expect("list")
                .alerts
                .iter()
                .map(|a| a.rule_id.clone())
                .collect::<Vec<_>>()
        };
        type Case = (fn(&mut AlertQuery), &'static [&'static str]);
        let cases: [Case; 9] = [
            (|_| {}, &["r3", "r2", "r1"]),
            (|q| q.min_level = Some(Level::High), &["r3", "r2"]),
            (
                |q| q.statuses = AlertStatus::parse_filter("open").expect("valid"),
                &["r2", "r1"],
            ),
            (
                |q| q.entity = Some((Some(EntityKind::Host), "WS01".into())),
                &["r3", "r1"],
            ),
            (|q| q.entity = Some((None, "Alice".into())), &["r2"]),
            (|q| q.assignee = Some("dave".into()), &["r2"]),
            (|q| q.unassigned = true, &["r3", "r1"]),
            (|q| q.to = Some(at(5)), &["r1"]),
            (
                |q| {
                    q.sort = AlertSort::Priority;
                    q.limit = 1;
                    q.offset = 1;
                },
                &["r2"],
            ),
        ];
        for (i, (filter, expected)) in cases.into_iter().enumerate() {
            assert_eq!(q(filter), expected, "case {i}");
        }
        assert!(AlertStatus::parse_filter("new,bogus").is_err());
    }
}
