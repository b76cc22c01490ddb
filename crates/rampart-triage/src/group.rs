//! Incident candidates: related alerts (a shared entity close in time, or the next ATT&CK stage on the same host) grouped so an analyst opens one thing, not fifty.

use rampart_model::Timestamp;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde::Serialize;

use crate::alert::{ALERT_COLUMNS, Alert, RawAlert};
use crate::config::{TriageConfig, nanos};
use crate::db::{from_json, to_json};
use crate::error::SqlContext;
use crate::signal::{Entities, EntityKind, Level, TACTICS, tactics};
use crate::{Triage, TriageError};

/// An incident candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub id: i64,
    pub tenant: String,
    /// The most important alert's rule title and main entity, or the name an analyst gave.
    pub title: String,
    /// Who named the group; then alerts joining it no longer rename it.
    pub title_set_by: Option<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub max_level: Level,
    pub max_priority: u8,
    pub alert_count: u64,
    /// Alerts of the group not closed yet.
    pub open_alerts: u64,
    /// ATT&CK tactics seen in the group, in kill-chain order.
    pub tactics: Vec<String>,
    pub entities: Vec<GroupEntity>,
}

/// An entity of a group's alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupEntity {
    pub kind: EntityKind,
    pub value: String,
}

/// A group and its alerts (highest priority first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupDetail {
    pub group: Group,
    pub alerts: Vec<Alert>,
    /// The groups merged into this one (an alert related to both joined them), each of
    /// which [`Triage::unmerge_group`] can restore.
    pub merged: Vec<MergedGroup>,
}

/// A group merged into another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergedGroup {
    pub id: i64,
    /// Its title when it was merged.
    pub title: String,
    /// How many of the alerts it brought are still in the group that took it in.
    pub alerts: u64,
}

/// Filters of a group list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupQuery {
    pub tenant: Option<String>,
    /// Only groups with at least this many alerts.
    pub min_alerts: u64,
    /// Only groups with an alert not closed.
    pub open_only: bool,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Highest priority first instead of most recent first.
    pub by_priority: bool,
    pub limit: usize,
    pub offset: usize,
}

/// One page of groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupPage {
    pub total: u64,
    pub offset: usize,
    pub groups: Vec<Group>,
}

const GROUP_COLUMNS: &str = "g.id, g.tenant, g.title, g.first_seen, g.last_seen, g.max_level, \
    g.max_priority, g.alert_count, g.tactics, \
    (SELECT COUNT(*) FROM alerts a WHERE a.group_id = g.id AND a.status != 'closed'), \
    g.title_set_by";

/// A row of [`GROUP_COLUMNS`], before its entities are read.
struct RawGroup {
    id: i64,
    tenant: String,
    title: String,
    first_seen: i64,
    last_seen: i64,
    max_level: i64,
    max_priority: i64,
    alert_count: i64,
    tactics: String,
    open_alerts: i64,
    title_set_by: Option<String>,
}

fn raw_group(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawGroup> {
    Ok(RawGroup {
        id: r.get(0)?,
        tenant: r.get(1)?,
        title: r.get(2)?,
        first_seen: r.get(3)?,
        last_seen: r.get(4)?,
        max_level: r.get(5)?,
        max_priority: r.get(6)?,
        alert_count: r.get(7)?,
        tactics: r.get(8)?,
        open_alerts: r.get(9)?,
        title_set_by: r.get(10)?,
    })
}

fn decode(conn: &Connection, raw: RawGroup) -> Result<Group, TriageError> {
    let id = raw.id;
    let mut stmt = conn
        .prepare_cached(
            "SELECT kind, value FROM group_entities WHERE group_id = ?1 ORDER BY kind, value",
        )
        .ctx("prepare a group entity query")?;
    let rows = stmt
        .query_map([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .ctx("read group entities")?;
    let mut entities = Vec::new();
    for row in rows {
        let (kind, value) = row.ctx("read group entities")?;
        if let Some(kind) = EntityKind::parse(&kind) {
            entities.push(GroupEntity { kind, value });
        }
    }
    Ok(Group {
        id,
        max_level: Level::from_rank(raw.max_level).ok_or_else(|| TriageError::Corrupt {
            what: "group",
            detail: format!("unknown level {}", raw.max_level),
        })?,
        tactics: from_json("group tactics", &raw.tactics)?,
        tenant: raw.tenant,
        title: raw.title,
        title_set_by: raw.title_set_by,
        first_seen: Timestamp(raw.first_seen),
        last_seen: Timestamp(raw.last_seen),
        max_priority: u8::try_from(raw.max_priority.clamp(0, 100)).unwrap_or(0),
        alert_count: u64::try_from(raw.alert_count.max(0)).unwrap_or(0),
        open_alerts: u64::try_from(raw.open_alerts.max(0)).unwrap_or(0),
        entities,
    })
}

/// The group `id` when `tenant` (if any) may see it.
pub(crate) fn load(
    conn: &Connection,
    id: i64,
    tenant: Option<&str>,
) -> Result<Option<Group>, TriageError> {
    // A merged group's id leads to the group that took its alerts (merges re-point
    // earlier merges, so one step is enough).
    let id: i64 = conn
        .prepare_cached("SELECT merged_into FROM alert_groups WHERE id = ?1")
        .ctx("prepare a group merge lookup")?
        .query_row([id], |r| r.get::<_, Option<i64>>(0))
        .optional()
        .ctx("read a group's merge")?
        .flatten()
        .unwrap_or(id);
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {GROUP_COLUMNS} FROM alert_groups g WHERE g.id = ?1 AND (?2 IS NULL OR g.tenant = ?2)"
        ))
        .ctx("prepare a group lookup")?
        .query_row(params![id, tenant], raw_group)
        .optional()
        .ctx("read a group")?;
    raw.map(|r| decode(conn, r)).transpose()
}

/// What the grouping step needs to know of a new alert.
pub(crate) struct Placement<'a> {
    pub alert_id: i64,
    pub tenant: &'a str,
    pub time: Timestamp,
    pub title: &'a str,
    pub level: Level,
    pub priority: u8,
    pub tags: &'a [String],
    pub entities: &'a Entities,
}

/// How an alert was grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    Joined(i64),
    Created(i64),
}

/// The entities of an alert a group records: those of the grouping kinds and the host
/// (for the tactic-chain rule), minus too-common values.
fn group_entities<'e>(
    cfg: &TriageConfig,
    entities: &'e Entities,
) -> impl Iterator<Item = (EntityKind, &'e str)> {
    let kinds = cfg.grouping.entity_kinds.clone();
    let common = cfg.common_values.clone();
    entities.iter().filter(move |(k, v)| {
        (*k == EntityKind::Host || kinds.contains(k))
            && !common.iter().any(|c| c.eq_ignore_ascii_case(v))
    })
}

/// The groups a new alert belongs to: through its entities, the most recently active
/// group of each (most recent first, each once); failing that, the group of the previous
/// stage of an attack on its host.
fn find(conn: &Connection, cfg: &TriageConfig, p: &Placement<'_>) -> Result<Vec<i64>, TriageError> {
    let window = nanos(cfg.grouping.window_secs);
    let mut related: Vec<(i64, i64)> = Vec::new();
    let mut by_entity = conn
        .prepare_cached(
            "SELECT g.id, g.last_seen FROM group_entities ge CROSS JOIN alert_groups g ON g.id = ge.group_id \
             WHERE ge.kind = ?1 AND ge.value = ?2 AND ge.last_seen >= ?6 AND g.tenant = ?3 \
             AND g.last_seen >= ?4 AND g.first_seen <= ?5 ORDER BY g.last_seen DESC LIMIT 1",
        )
        .ctx("prepare a group search")?;
    for (kind, value) in group_entities(cfg, p.entities) {
        if !cfg.grouping.entity_kinds.contains(&kind) {
            continue;
        }
        let found: Option<(i64, i64)> = by_entity
            .query_row(
                params![
                    kind.as_str(),
                    value,
                    p.tenant,
                    p.time.0.saturating_sub(window),
                    p.time.0.saturating_add(window),
                    p.time
                        .0
                        .saturating_sub(window)
                        .saturating_sub(ENTITY_SEEN_SLACK)
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("search groups by entity")?;
        if let Some(found) = found
            && !related.iter().any(|(id, _)| *id == found.0)
        {
            related.push(found);
        }
    }
    if !related.is_empty() {
        related.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        return Ok(related.into_iter().map(|(id, _)| id).collect());
    }
    // The next stage of an attack on the same host, within the longer chain window.
    let (Some(host), Some(&(stage, _))) = (p.entities.host.as_deref(), tactics(p.tags).last())
    else {
        return Ok(Vec::new());
    };
    if cfg.is_common(host) {
        return Ok(Vec::new());
    }
    let chain = nanos(cfg.grouping.chain_window_secs);
    conn.prepare_cached(
        "SELECT g.id FROM group_entities ge CROSS JOIN alert_groups g ON g.id = ge.group_id \
         WHERE ge.kind = 'host' AND ge.value = ?1 AND ge.last_seen >= ?6 AND g.tenant = ?2 \
         AND g.last_seen >= ?3 AND g.first_seen <= ?4 AND g.tactic_max IS NOT NULL \
         AND g.tactic_max <= ?5 ORDER BY g.last_seen DESC LIMIT 1",
    )
    .ctx("prepare a chain search")?
    .query_row(
        params![
            host,
            p.tenant,
            p.time.0.saturating_sub(chain),
            p.time.0.saturating_add(chain),
            stage as i64,
            p.time
                .0
                .saturating_sub(chain)
                .saturating_sub(ENTITY_SEEN_SLACK)
        ],
        |r| r.get(0),
    )
    .optional()
    .ctx("search groups by tactic chain")
    .map(|id| id.into_iter().collect())
}

/// Merge group `from` into group `into`: its alerts, entities, span, level, priority (and
/// the title that came with it), count and tactics. `from` keeps its row, pointing at
/// `into`, and no longer matches entities or appears in lists.
fn merge(conn: &Connection, into: i64, from: i64) -> Result<(), TriageError> {
    conn.prepare_cached("UPDATE alerts SET group_id = ?1 WHERE group_id = ?2")
        .ctx("prepare a group merge")?
        .execute(params![into, from])
        .ctx("move a merged group's alerts")?;
    conn.prepare_cached(
        "INSERT INTO group_entities (group_id, kind, value, last_seen) \
         SELECT ?1, kind, value, last_seen FROM group_entities WHERE group_id = ?2 \
         ON CONFLICT (group_id, kind, value) DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)",
    )
    .ctx("prepare a group entity merge")?
    .execute(params![into, from])
    .ctx("move a merged group's entities")?;
    conn.prepare_cached("DELETE FROM group_entities WHERE group_id = ?1")
        .ctx("prepare a group entity removal")?
        .execute([from])
        .ctx("remove a merged group's entities")?;
    let tactics_of = |id: i64| -> Result<Vec<String>, TriageError> {
        let raw: String = conn
            .prepare_cached("SELECT tactics FROM alert_groups WHERE id = ?1")
            .ctx("prepare a group read")?
            .query_row([id], |r| r.get(0))
            .ctx("read group tactics")?;
        from_json("group tactics", &raw)
    };
    let mut names = tactics_of(into)?;
    names.extend(tactics_of(from)?);
    let (names, tactic_max) = ranked_tactics(names);
    conn.prepare_cached(
        "UPDATE alert_groups SET first_seen = MIN(alert_groups.first_seen, o.first_seen), \
         last_seen = MAX(alert_groups.last_seen, o.last_seen), \
         max_level = MAX(alert_groups.max_level, o.max_level), \
         title = CASE WHEN alert_groups.title_set_by IS NOT NULL THEN alert_groups.title \
         WHEN o.title_set_by IS NOT NULL OR o.max_priority > alert_groups.max_priority THEN o.title \
         ELSE alert_groups.title END, \
         title_set_by = COALESCE(alert_groups.title_set_by, o.title_set_by), \
         max_priority = MAX(alert_groups.max_priority, o.max_priority), \
         alert_count = alert_groups.alert_count + o.alert_count, tactics = ?3, \
         tactic_max = ?4, \
         entities_seen = MIN(alert_groups.entities_seen, o.entities_seen) \
         FROM (SELECT * FROM alert_groups WHERE id = ?2) AS o WHERE alert_groups.id = ?1",
    )
    .ctx("prepare a group merge update")?
    .execute(params![into, from, to_json(&names), tactic_max])
    .ctx("merge a group's figures")?;
    conn.prepare_cached(
        "UPDATE alert_groups SET merged_into = ?1, alert_count = 0 WHERE id = ?2 OR merged_into = ?2",
    )
    .ctx("prepare a group merge mark")?
    .execute(params![into, from])
    .ctx("mark a merged group")?;
    Ok(())
}

/// Tactic names in kill-chain order, each once (unknown names dropped), and the rank of
/// the last.
fn ranked_tactics(names: Vec<String>) -> (Vec<String>, Option<i64>) {
    let mut ranked: Vec<(usize, String)> = names
        .into_iter()
        .filter_map(|n| TACTICS.iter().position(|t| *t == n).map(|r| (r, n)))
        .collect();
    ranked.sort_unstable();
    ranked.dedup();
    let max = ranked.last().map(|(r, _)| *r as i64);
    (ranked.into_iter().map(|(_, n)| n).collect(), max)
}

/// A group's title: its most important alert's title and main entity. A group takes the
/// title of each alert that raises its priority, so an incident is named after the worst
/// thing in it, not after whatever happened to come first.
fn title_of(p: &Placement<'_>) -> String {
    title_for(p.title, p.entities)
}

/// The title of a group whose most important alert is of rule `title` on `entities`.
fn title_for(title: &str, entities: &Entities) -> String {
    let subject = entities
        .iter()
        .find(|(k, _)| *k != EntityKind::Process && *k != EntityKind::FileHash)
        .or_else(|| entities.iter().next())
        .map(|(_, v)| format!(" on {v}"))
        .unwrap_or_default();
    format!("{title}{subject}")
}

/// Whether an analyst separated groups `x` and `y` (or groups merged into them): then no
/// alert joins them again.
pub(crate) fn kept_apart(conn: &Connection, x: i64, y: i64) -> Result<bool, TriageError> {
    conn.prepare_cached(
        "WITH gx(id) AS (SELECT ?1 UNION ALL SELECT id FROM alert_groups WHERE merged_into = ?1), \
         gy(id) AS (SELECT ?2 UNION ALL SELECT id FROM alert_groups WHERE merged_into = ?2) \
         SELECT EXISTS (SELECT 1 FROM groups_apart p WHERE \
         (p.a IN gx AND p.b IN gy) OR (p.a IN gy AND p.b IN gx))",
    )
    .ctx("prepare a kept-apart check")?
    .query_row(params![x, y], |r| r.get(0))
    .ctx("check whether groups are kept apart")
}

/// Record that an analyst separated groups `x` and `y`.
pub(crate) fn keep_apart(
    conn: &Connection,
    x: i64,
    y: i64,
    actor: &str,
    now: Timestamp,
) -> Result<(), TriageError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO groups_apart (a, b, actor, time) VALUES (?1, ?2, ?3, ?4)",
    )
    .ctx("prepare a kept-apart record")?
    .execute(params![x.min(y), x.max(y), actor, now.0])
    .ctx("record groups kept apart")?;
    Ok(())
}

/// Work group `id`'s figures out again from the alerts it holds now (after an analyst
/// moved alerts in or out): span, level, priority, count, tactics, entities, and its title
/// unless an analyst named it.
pub(crate) fn recompute(conn: &Connection, cfg: &TriageConfig, id: i64) -> Result<(), TriageError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE group_id = ?1 \
             ORDER BY priority DESC, first_seen, id"
        ))
        .ctx("prepare a group's alerts")?;
    let rows = stmt
        .query_map([id], RawAlert::from_row)
        .ctx("read a group's alerts")?;
    let mut alerts: Vec<Alert> = Vec::new();
    for row in rows {
        alerts.push(row.ctx("read a group's alerts")?.decode()?);
    }
    let Some(top) = alerts.first() else {
        return Err(TriageError::Conflict(format!(
            "group {id} would be left without alerts"
        )));
    };
    let title = title_for(&top.rule_title, &top.entities);
    let first_seen = alerts.iter().map(|a| a.first_seen.0).min().unwrap_or(0);
    let last_seen = alerts.iter().map(|a| a.last_seen.0).max().unwrap_or(0);
    let max_level = alerts.iter().map(|a| a.level.rank()).max().unwrap_or(0);
    let max_priority = alerts.iter().map(|a| a.priority).max().unwrap_or(0);
    let (names, tactic_max) = ranked_tactics(
        alerts
            .iter()
            .flat_map(|a| a.tactics.iter().cloned())
            .collect(),
    );
    conn.prepare_cached(
        "UPDATE alert_groups SET first_seen = ?2, last_seen = ?3, max_level = ?4, \
         max_priority = ?5, alert_count = ?6, tactics = ?7, tactic_max = ?8, \
         title = CASE WHEN title_set_by IS NULL THEN ?9 ELSE title END, entities_seen = ?3 \
         WHERE id = ?1",
    )
    .ctx("prepare a group recount")?
    .execute(params![
        id,
        first_seen,
        last_seen,
        max_level,
        max_priority,
        alerts.len() as i64,
        to_json(&names),
        tactic_max,
        title
    ])
    .ctx("recount a group")?;
    conn.prepare_cached("DELETE FROM group_entities WHERE group_id = ?1")
        .ctx("prepare a group entity reset")?
        .execute([id])
        .ctx("reset a group's entities")?;
    for alert in &alerts {
        record_entities(conn, cfg, id, &alert.entities, last_seen)?;
    }
    Ok(())
}

/// Record `entities` (those a group keeps) as group `id`'s, seen at `last_seen`.
fn record_entities(
    conn: &Connection,
    cfg: &TriageConfig,
    id: i64,
    entities: &Entities,
    last_seen: i64,
) -> Result<(), TriageError> {
    let mut insert = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO group_entities (group_id, kind, value, last_seen) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .ctx("prepare a group entity insert")?;
    for (kind, value) in group_entities(cfg, entities) {
        insert
            .execute(params![id, kind.as_str(), value, last_seen])
            .ctx("record a group entity")?;
    }
    Ok(())
}

/// Put a new alert in its group, creating one when no open group is related.
pub(crate) fn place(
    conn: &Connection,
    cfg: &TriageConfig,
    p: &Placement<'_>,
    now: Timestamp,
) -> Result<Placed, TriageError> {
    let alert_tactics = tactics(p.tags);
    let related = find(conn, cfg, p)?;
    // An alert related to several groups joins them: the most recently active takes the
    // others' alerts.
    // Groups an analyst separated stay apart: the alert joins the most recent of them only.
    if let Some((&into, others)) = related.split_first() {
        for &from in others {
            if !kept_apart(conn, into, from)? {
                merge(conn, into, from)?;
            }
        }
    }
    let (placed, (last_seen, entities_seen)): (Placed, (i64, i64)) = match related.first() {
        Some(&id) => {
            let old: String = conn
                .prepare_cached("SELECT tactics FROM alert_groups WHERE id = ?1")
                .ctx("prepare a group read")?
                .query_row([id], |r| r.get(0))
                .ctx("read group tactics")?;
            let mut names: Vec<String> = from_json("group tactics", &old)?;
            names.extend(alert_tactics.iter().map(|(_, t)| (*t).to_owned()));
            let (names, max) = ranked_tactics(names);
            let mut update = conn
                .prepare_cached(
                    "UPDATE alert_groups SET first_seen = MIN(first_seen, ?2), \
                 last_seen = MAX(last_seen, ?2), max_level = MAX(max_level, ?3), \
                 title = CASE WHEN title_set_by IS NULL AND ?4 > max_priority THEN ?7 ELSE title END, \
                 max_priority = MAX(max_priority, ?4), alert_count = alert_count + 1, \
                 tactics = ?5, tactic_max = ?6 WHERE id = ?1 RETURNING last_seen, entities_seen",
                )
                .ctx("prepare a group update")?;
            let seen: (i64, i64) = update
                .query_row(
                    params![
                        id,
                        p.time.0,
                        p.level.rank(),
                        p.priority,
                        to_json(&names),
                        max,
                        title_of(p)
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .ctx("update a group")?;
            (Placed::Joined(id), seen)
        }
        None => {
            let names: Vec<&str> = alert_tactics.iter().map(|(_, t)| *t).collect();
            conn.prepare_cached(
                "INSERT INTO alert_groups (tenant, title, first_seen, last_seen, max_level, \
                 max_priority, alert_count, tactics, tactic_max, created, entities_seen) \
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?3)",
            )
            .ctx("prepare a group insert")?
            .execute(params![
                p.tenant,
                title_of(p),
                p.time.0,
                p.level.rank(),
                p.priority,
                to_json(&names),
                alert_tactics.last().map(|(r, _)| *r as i64),
                now.0
            ])
            .ctx("create a group")?;
            (
                Placed::Created(conn.last_insert_rowid()),
                (p.time.0, p.time.0),
            )
        }
    };
    let id = match placed {
        Placed::Joined(id) | Placed::Created(id) => id,
    };
    let entities_seen = keep_entities_recent(conn, id, last_seen, entities_seen)?;
    record_entities(conn, cfg, id, p.entities, entities_seen)?;
    conn.prepare_cached("UPDATE alerts SET group_id = ?2, origin_group = ?2 WHERE id = ?1")
        .ctx("prepare an alert group update")?
        .execute(params![p.alert_id, id])
        .ctx("link an alert to its group")?;
    Ok(placed)
}

/// A repeat folded into an alert of group `id` at `time` keeps the group active.
pub(crate) fn touch(
    conn: &Connection,
    id: i64,
    time: Timestamp,
    priority: u8,
) -> Result<(), TriageError> {
    let (last_seen, entities_seen) = conn
        .prepare_cached(
            "UPDATE alert_groups SET last_seen = MAX(last_seen, ?2), \
             first_seen = MIN(first_seen, ?2), max_priority = MAX(max_priority, ?3) \
             WHERE id = ?1 RETURNING last_seen, entities_seen",
        )
        .ctx("prepare a group touch")?
        .query_row(params![id, time.0, priority], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .ctx("update a group's last sighting")?
        .unwrap_or((0, 0));
    keep_entities_recent(conn, id, last_seen, entities_seen)?;
    Ok(())
}

/// How far (nanoseconds) the `last_seen` of a group's entity rows may lag behind the
/// group's own: the entity lookups widen their time bound by this much and then check the
/// group's exact `last_seen`, so a group that keeps being touched rewrites its entity rows
/// once per five minutes of event time, not at every repeat.
const ENTITY_SEEN_SLACK: i64 = 300 * 1_000_000_000;

/// Keep group `id`'s entity rows within [`ENTITY_SEEN_SLACK`] of its `last_seen`; returns
/// the value its entity rows now carry at least.
fn keep_entities_recent(
    conn: &Connection,
    id: i64,
    last_seen: i64,
    entities_seen: i64,
) -> Result<i64, TriageError> {
    if last_seen <= entities_seen.saturating_add(ENTITY_SEEN_SLACK) {
        return Ok(entities_seen);
    }
    conn.prepare_cached("UPDATE group_entities SET last_seen = ?2 WHERE group_id = ?1")
        .ctx("prepare a group entity refresh")?
        .execute(params![id, last_seen])
        .ctx("refresh a group's entities")?;
    conn.prepare_cached("UPDATE alert_groups SET entities_seen = ?2 WHERE id = ?1")
        .ctx("prepare a group entity mark")?
        .execute(params![id, last_seen])
        .ctx("mark a group's entities refreshed")?;
    Ok(last_seen)
}

impl Triage {
    /// Incident candidates matching `query`, most recently active (or highest priority) first.
    pub fn groups(&self, query: &GroupQuery) -> Result<GroupPage, TriageError> {
        let mut clauses: Vec<&str> = vec!["g.merged_into IS NULL"];
        let mut args: Vec<SqlValue> = Vec::new();
        if let Some(t) = &query.tenant {
            args.push(t.clone().into());
            clauses.push("g.tenant = ?");
        }
        if query.min_alerts > 1 {
            args.push(i64::try_from(query.min_alerts).unwrap_or(i64::MAX).into());
            clauses.push("g.alert_count >= ?");
        }
        if query.open_only {
            clauses.push(
                "EXISTS (SELECT 1 FROM alerts a WHERE a.group_id = g.id AND a.status != 'closed')",
            );
        }
        if let Some(f) = query.from {
            args.push(f.0.into());
            clauses.push("g.last_seen >= ?");
        }
        if let Some(t) = query.to {
            args.push(t.0.into());
            clauses.push("g.first_seen <= ?");
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let order = if query.by_priority {
            "g.max_priority DESC, g.last_seen DESC, g.id DESC"
        } else {
            "g.last_seen DESC, g.id DESC"
        };
        let conn = self.conn.lock();
        let total: i64 = conn
            .prepare(&format!("SELECT COUNT(*) FROM alert_groups g{filter}"))
            .ctx("prepare a group count")?
            .query_row(params_from_iter(args.iter()), |r| r.get(0))
            .ctx("count groups")?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {GROUP_COLUMNS} FROM alert_groups g{filter} ORDER BY {order} LIMIT {} OFFSET {}",
                query.limit.clamp(1, 10_000),
                query.offset
            ))
            .ctx("prepare a group list")?;
        let raws = stmt
            .query_map(params_from_iter(args.iter()), raw_group)
            .ctx("list groups")?
            .collect::<Result<Vec<_>, _>>()
            .ctx("list groups")?;
        let groups = raws
            .into_iter()
            .map(|r| decode(&conn, r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GroupPage {
            total: u64::try_from(total).unwrap_or(0),
            offset: query.offset,
            groups,
        })
    }

    /// One group with its alerts, when `tenant` (if any) may see it.
    pub fn group(&self, id: i64, tenant: Option<&str>) -> Result<Option<GroupDetail>, TriageError> {
        let conn = self.conn.lock();
        let Some(group) = load(&conn, id, tenant)? else {
            return Ok(None);
        };
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE group_id = ?1 \
                 ORDER BY priority DESC, last_seen DESC, id DESC LIMIT 1000"
            ))
            .ctx("prepare a group's alerts")?;
        let rows = stmt
            .query_map([group.id], RawAlert::from_row)
            .ctx("read a group's alerts")?;
        let mut alerts = Vec::new();
        for row in rows {
            alerts.push(row.ctx("read a group's alerts")?.decode()?);
        }
        let merged = conn
            .prepare_cached(
                "SELECT g.id, g.title, (SELECT COUNT(*) FROM alerts a \
                 WHERE a.group_id = ?1 AND a.origin_group = g.id) \
                 FROM alert_groups g WHERE g.merged_into = ?1 ORDER BY g.id",
            )
            .ctx("prepare a group's merges")?
            .query_map([group.id], |r| {
                Ok(MergedGroup {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    alerts: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                })
            })
            .ctx("read a group's merges")?
            .collect::<Result<Vec<_>, _>>()
            .ctx("read a group's merges")?;
        Ok(Some(GroupDetail {
            group,
            alerts,
            merged,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{at, detection, open};

    fn ids_by_group(triage: &Triage) -> Vec<Vec<String>> {
        let page = triage
            .groups(&GroupQuery {
                limit: 100,
                ..Default::default()
            })
            .expect("groups");
        let mut out: Vec<Vec<String>> = page
            .groups
            .iter()
            .map(|g| {
                let detail = triage.group(g.id, None).expect("group").expect("exists");
                assert_eq!(detail.alerts.len() as u64, g.alert_count);
                let mut rules: Vec<String> =
                    detail.alerts.iter().map(|a| a.rule_id.clone()).collect();
                rules.sort();
                rules
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn an_alert_related_to_two_groups_merges_them() {
        let (_dir, triage) = open(Default::default());
        let tagged = |s: crate::Signal, t: &str| s.with_tags([format!("attack.{t}")]);
        // r1 on ws01/alice and r2 on ws02/bob make two groups; r3 on ws01 for bob is
        // related to both and joins them.
        let first = triage
            .process(vec![
                tagged(
                    detection("r1", Level::High, at(0), "ws01", "alice"),
                    "execution",
                ),
                tagged(
                    detection("r2", Level::Low, at(60), "ws02", "bob"),
                    "credential_access",
                ),
            ])
            .expect("process");
        assert_eq!(first.groups_created, 2);
        let [a1, a2] = first.created[..] else {
            panic!("two alerts: {first:?}")
        };
        let group_of = |alert: i64| crate::testutil::group_of(&triage, alert);
        let (g1, g2) = (group_of(a1), group_of(a2));
        assert_ne!(g1, g2);
        let third = triage
            .process(vec![detection("r3", Level::Medium, at(120), "ws01", "bob")])
            .expect("process");
        assert_eq!((third.grouped, third.groups_created), (1, 0));
        assert_eq!(
            ids_by_group(&triage),
            vec![vec!["r1".to_owned(), "r2".into(), "r3".into()]]
        );
        // The group that took the alerts is the most recently active one (r2's); r1's
        // group id leads to it.
        let merged = triage.group(g1, None).expect("group").expect("exists");
        assert_eq!(merged.group.id, g2);
        let g = &merged.group;
        assert_eq!((g.alert_count, g.open_alerts), (3, 3));
        assert_eq!((g.first_seen, g.last_seen), (at(0), at(120)));
        assert_eq!(g.max_level, Level::High);
        assert!(
            g.title.starts_with("r1"),
            "named after its worst alert: {}",
            g.title
        );
        assert_eq!(g.tactics, ["execution", "credential_access"]);
        let mut entities: Vec<&str> = g.entities.iter().map(|e| e.value.as_str()).collect();
        entities.sort_unstable();
        assert_eq!(entities, ["alice", "bob", "ws01", "ws02"]);
        for a in [a1, a2] {
            assert_eq!(group_of(a), g2);
        }
        // A later alert on alice finds the merged group, not the empty one.
        let fourth = triage
            .process(vec![detection("r4", Level::Low, at(180), "ws03", "alice")])
            .expect("process");
        assert_eq!((fourth.grouped, fourth.groups_created), (1, 0));
        assert_eq!(group_of(fourth.created[0]), g2);
    }

    #[test]
    fn alerts_sharing_an_entity_close_in_time_form_one_group() {
        let (_dir, triage) = open(Default::default());
        let hour = 3600;
        let signals = vec![
            // r1 and r2 share host ws01; r3 shares user bob with r2; r4 is on ws01 but 5 h
            // after r3 (past the 4 h window); r5 shares only the common user "system".
            detection("r1", Level::Medium, at(0), "ws01", "alice"),
            detection("r2", Level::High, at(hour), "WS01", "bob"),
            detection("r3", Level::Low, at(2 * hour), "ws02", "bob"),
            detection("r4", Level::Low, at(7 * hour), "ws01", "dave"),
            detection("r5", Level::Low, at(7 * hour), "ws09", "SYSTEM"),
            detection("r6", Level::Low, at(7 * hour + 60), "ws10", "system"),
        ];
        let report = triage.process(signals).expect("process");
        assert_eq!((report.grouped, report.groups_created), (2, 4));
        assert_eq!(
            ids_by_group(&triage),
            vec![
                vec!["r1".to_owned(), "r2".into(), "r3".into()],
                vec!["r4".into()],
                vec!["r5".into()],
                vec!["r6".into()],
            ]
        );
        let page = triage
            .groups(&GroupQuery {
                min_alerts: 2,
                limit: 10,
                ..Default::default()
            })
            .expect("groups");
        assert_eq!(page.total, 1);
        let g = &page.groups[0];
        // Named after its highest-priority alert (r2, high), not the first one (r1).
        assert_eq!(g.title, "r2 title on ws01");
        assert_eq!((g.max_level, g.open_alerts), (Level::High, 3));
        assert_eq!((g.first_seen, g.last_seen), (at(0), at(2 * hour)));
        let values: Vec<&str> = g.entities.iter().map(|e| e.value.as_str()).collect();
        assert_eq!(values, ["ws01", "ws02", "alice", "bob"]);
    }

    #[test]
    fn a_later_attack_stage_on_the_same_host_joins_within_the_chain_window() {
        let (_dir, triage) = open(Default::default());
        let hour = 3600;
        let tagged = |rule: &str, t: i64, user: &str, tag: &str| {
            detection(rule, Level::Medium, at(t), "ws01", user).with_tags([tag])
        };
        let signals = vec![
            tagged("exec", 0, "u1", "attack.execution"),
            // 10 h later, other user: no shared entity within 4 h, but lateral movement
            // follows execution on the same host.
            tagged("lateral", 10 * hour, "u2", "attack.lateral_movement"),
            // Earlier stage than the group's latest: a new group.
            tagged("recon", 16 * hour, "u3", "attack.reconnaissance"),
        ];
        triage.process(signals).expect("process");
        assert_eq!(
            ids_by_group(&triage),
            vec![
                vec!["exec".to_owned(), "lateral".into()],
                vec!["recon".into()],
            ]
        );
        let detail = triage.get(1, None).expect("get").expect("exists");
        assert_eq!(
            detail.group.expect("grouped").tactics,
            ["execution", "lateral_movement"]
        );
    }

    #[test]
    fn a_group_kept_alive_by_repeats_is_found_by_its_entities_hours_after_it_began() {
        let (_dir, triage) = open(Default::default());
        let min = 60;
        // r1's repeat 50 min in is folded into its alert and moves the group's last
        // sighting; r2 comes 3 h 50 min after that repeat (4 h 40 min after the group
        // began), inside the 4 h window only when measured from the repeat.
        let signals = vec![
            detection("r1", Level::Medium, at(0), "ws01", "alice"),
            detection("r1", Level::Medium, at(50 * min), "ws01", "alice"),
            detection("r2", Level::Low, at(280 * min), "ws07", "alice"),
        ];
        let report = triage.process(signals).expect("process");
        assert_eq!(report.deduplicated, 1);
        assert_eq!(
            ids_by_group(&triage),
            vec![vec!["r1".to_owned(), "r2".into()]]
        );
        // Past the window from the last sighting: a group of its own.
        let later = vec![detection("r3", Level::Low, at(600 * min), "ws08", "alice")];
        triage.process(later).expect("process");
        assert_eq!(
            ids_by_group(&triage),
            vec![vec!["r1".to_owned(), "r2".into()], vec!["r3".into()]]
        );
    }

    #[test]
    fn grouping_can_be_turned_off() {
        let mut cfg = TriageConfig::default();
        cfg.grouping.enabled = false;
        let (_dir, triage) = open(cfg);
        let signals = vec![
            detection("r1", Level::Medium, at(0), "ws01", "alice"),
            detection("r2", Level::Medium, at(1), "ws01", "alice"),
        ];
        let report = triage.process(signals).expect("process");
        assert_eq!((report.grouped, report.groups_created), (0, 0));
        let page = triage.list(&Default::default()).expect("list");
        assert!(page.alerts.iter().all(|a| a.group_id.is_none()));
    }
}
