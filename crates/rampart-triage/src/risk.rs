//! Risk-based alerting: every alerting signal adds its rule's risk to its host, user and source address; an entity whose risk in the window reaches the threshold raises one risk alert listing the contributing detections.

use rampart_model::{EventId, Timestamp};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params, params_from_iter};
use serde::Serialize;
use serde_json::json;

use crate::config::{TriageConfig, nanos, priority};
use crate::db::{from_json, to_json};
use crate::error::SqlContext;
use crate::process::{NewAlert, ProcessReport, create_alert, find_open, fold, group_new, risk_key};
use crate::signal::{Entities, EntityKind, Signal, SignalSource};
use crate::stats::{self, Counter};
use crate::{Triage, TriageError};

/// The rule id of risk alerts.
pub const RISK_RULE_ID: &str = "rampart.risk_threshold";

/// One rule's part in an entity's risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskContribution {
    pub rule_id: String,
    pub rule_title: String,
    /// The risk counted for this rule (its highest when rules count once, else the sum).
    pub risk: u32,
    /// Signals of this rule in the window.
    pub count: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    /// The alerts these signals raised or were folded into (up to 20).
    pub alert_ids: Vec<i64>,
}

/// An entity's accumulated risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskScore {
    pub tenant: String,
    pub kind: EntityKind,
    pub value: String,
    pub score: u32,
    pub threshold: u32,
    pub above_threshold: bool,
    /// The end of the window the score covers.
    pub at: Timestamp,
    pub window_secs: u64,
    pub contributions: Vec<RiskContribution>,
}

/// Filters of a risk score list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RiskQuery {
    pub tenant: Option<String>,
    pub kind: Option<EntityKind>,
    /// An entity value (normalised like stored ones: case does not matter).
    pub value: Option<String>,
    /// End of the window; default the newest contribution in scope (so a replay of old
    /// logs shows the scores as they stood at its end; live, that is about now).
    pub at: Option<Timestamp>,
    /// Only entities with at least this score.
    pub min_score: u32,
    /// Most entities returned (default 100, at most 10,000), highest score first.
    pub limit: usize,
}

/// Entities of a signal that carry risk: the configured kinds, minus too-common values.
fn risk_entities<'a>(
    cfg: &'a TriageConfig,
    entities: &'a Entities,
) -> impl Iterator<Item = (EntityKind, &'a str)> {
    entities
        .iter()
        .filter(|(k, v)| cfg.risk.entity_kinds.contains(k) && !cfg.is_common(v))
}

/// Entity `kind`/`value`'s score over the window ending at `at`.
fn score(
    conn: &Connection,
    cfg: &TriageConfig,
    tenant: &str,
    kind: EntityKind,
    value: &str,
    at: Timestamp,
) -> Result<u32, TriageError> {
    if cfg.risk.distinct_rules {
        // One row per rule of the entity: its risk over the current run of sightings and
        // the latest one (see `record_rule`).
        let sum: i64 = conn
            .prepare_cached(
                "SELECT COALESCE(SUM(risk), 0) FROM risk_rules \
                 WHERE tenant = ?1 AND kind = ?2 AND value = ?3 AND last_time > ?4",
            )
            .ctx("prepare a risk sum")?
            .query_row(
                params![
                    tenant,
                    kind.as_str(),
                    value,
                    at.0.saturating_sub(nanos(cfg.risk.window_secs))
                ],
                |r| r.get(0),
            )
            .ctx("sum risk")?;
        return Ok(u32::try_from(sum.max(0)).unwrap_or(u32::MAX));
    }
    let sql = "SELECT COALESCE(SUM(risk), 0) FROM risk_events \
         WHERE tenant = ?1 AND kind = ?2 AND value = ?3 AND time > ?4 AND time <= ?5";
    let sum: i64 = conn
        .prepare_cached(sql)
        .ctx("prepare a risk sum")?
        .query_row(
            params![
                tenant,
                kind.as_str(),
                value,
                at.0.saturating_sub(nanos(cfg.risk.window_secs)),
                at.0
            ],
            |r| r.get(0),
        )
        .ctx("sum risk")?;
    Ok(u32::try_from(sum.max(0)).unwrap_or(u32::MAX))
}

/// Each rule's part in the entity's risk over the window ending at `at`, biggest first.
fn contributions(
    conn: &Connection,
    cfg: &TriageConfig,
    tenant: &str,
    kind: EntityKind,
    value: &str,
    at: Timestamp,
) -> Result<Vec<RiskContribution>, TriageError> {
    let agg = if cfg.risk.distinct_rules {
        "MAX"
    } else {
        "SUM"
    };
    let sql = format!(
        "SELECT rule_id, MAX(rule_title), {agg}(risk), COUNT(*), MIN(time), MAX(time), \
         GROUP_CONCAT(DISTINCT alert_id) FROM risk_events \
         WHERE tenant = ?1 AND kind = ?2 AND value = ?3 AND time > ?4 AND time <= ?5 \
         GROUP BY rule_id ORDER BY 3 DESC, rule_id"
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .ctx("prepare risk contributions")?;
    let rows = stmt
        .query_map(
            params![
                tenant,
                kind.as_str(),
                value,
                at.0.saturating_sub(nanos(cfg.risk.window_secs)),
                at.0
            ],
            |r| {
                Ok(RiskContribution {
                    rule_id: r.get(0)?,
                    rule_title: r.get(1)?,
                    risk: u32::try_from(r.get::<_, i64>(2)?.max(0)).unwrap_or(u32::MAX),
                    count: u64::try_from(r.get::<_, i64>(3)?.max(0)).unwrap_or(0),
                    first: Timestamp(r.get(4)?),
                    last: Timestamp(r.get(5)?),
                    alert_ids: r
                        .get::<_, Option<String>>(6)?
                        .unwrap_or_default()
                        .split(',')
                        .filter_map(|id| id.parse().ok())
                        .take(20)
                        .collect(),
                })
            },
        )
        .ctx("read risk contributions")?;
    rows.collect::<Result<Vec<_>, _>>()
        .ctx("read risk contributions")
}

/// Add `signal`'s risk to its entities; raise or update the risk alert of each entity
/// whose score grew to the threshold or beyond.
pub(crate) fn accumulate(
    conn: &Connection,
    cfg: &TriageConfig,
    signal: &Signal,
    risk: u32,
    alert_id: i64,
    now: Timestamp,
    report: &mut ProcessReport,
) -> Result<(), TriageError> {
    let tags = to_json(&signal.tags);
    for (kind, value) in risk_entities(cfg, &signal.entities) {
        let before = score(conn, cfg, &signal.tenant, kind, value, signal.time)?;
        conn.prepare_cached(
            "INSERT INTO risk_events (tenant, kind, value, rule_id, rule_title, risk, time, alert_id, tags) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .ctx("prepare a risk insert")?
        .execute(params![
            signal.tenant,
            kind.as_str(),
            value,
            signal.rule_id,
            signal.rule_title,
            risk,
            signal.time.0,
            alert_id,
            tags
        ])
        .ctx("record risk")?;
        record_rule(conn, cfg, signal, kind, value, risk)?;
        let after = score(conn, cfg, &signal.tenant, kind, value, signal.time)?;
        if after >= cfg.risk.threshold && after > before {
            raise(conn, cfg, signal, kind, value, after, now, report)?;
        }
    }
    Ok(())
}

/// Keep the entity's row for the signal's rule: the latest sighting, and the rule's highest
/// risk since its sightings last had a gap of a whole window (before that gap they no
/// longer count). With one risk per rule, as configured, that is exactly the rule's part in
/// the score; a rule whose risk varies counts its highest in the current run.
fn record_rule(
    conn: &Connection,
    cfg: &TriageConfig,
    signal: &Signal,
    kind: EntityKind,
    value: &str,
    risk: u32,
) -> Result<(), TriageError> {
    conn.prepare_cached(
        "INSERT INTO risk_rules (tenant, kind, value, rule_id, risk, last_time) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (tenant, kind, value, rule_id) DO UPDATE SET \
         risk = CASE WHEN risk_rules.last_time <= ?7 THEN excluded.risk \
         ELSE MAX(risk_rules.risk, excluded.risk) END, \
         last_time = MAX(risk_rules.last_time, excluded.last_time)",
    )
    .ctx("prepare a rule risk update")?
    .execute(params![
        signal.tenant,
        kind.as_str(),
        value,
        signal.rule_id,
        risk,
        signal.time.0,
        signal.time.0.saturating_sub(nanos(cfg.risk.window_secs))
    ])
    .ctx("record a rule's risk")?;
    Ok(())
}

/// Raise the risk alert of an entity, or update the open one while the entity stays above.
#[allow(clippy::too_many_arguments)]
fn raise(
    conn: &Connection,
    cfg: &TriageConfig,
    signal: &Signal,
    kind: EntityKind,
    value: &str,
    score: u32,
    now: Timestamp,
    report: &mut ProcessReport,
) -> Result<(), TriageError> {
    let parts = contributions(conn, cfg, &signal.tenant, kind, value, signal.time)?;
    let details = json!({
        "entity": { "kind": kind, "value": value },
        "score": score,
        "threshold": cfg.risk.threshold,
        "window_secs": cfg.risk.window_secs,
        "contributions": parts,
    });
    let rules: Vec<&str> = parts.iter().map(|c| c.rule_title.as_str()).collect();
    let summary = format!(
        "{} {value} reached risk {score} (threshold {}) from {} rules: {}",
        kind.as_str(),
        cfg.risk.threshold,
        parts.len(),
        rules.join(", ")
    );
    let key = risk_key(&signal.tenant, kind, value);
    let window = nanos(cfg.risk.window_secs);
    let cap = cfg.dedup.max_event_ids;
    let prio = priority(
        cfg.risk.alert_level,
        score,
        cfg.criticality_bonus(&single(kind, value)),
        true,
    );
    if let Some(id) = find_open(conn, &key, signal.time, window, true)? {
        let (group_id, _) = fold(conn, id, signal.time, &signal.event_ids, cap, now)?;
        let tags = contributing_tags(conn, &signal.tenant, kind, value, signal.time, window)?;
        conn.prepare_cached(
            "UPDATE alerts SET risk = ?2, priority = MAX(priority, ?3), details = ?4, summary = ?5, \
             tags = ?6 WHERE id = ?1",
        )
        .ctx("prepare a risk alert update")?
        .execute(params![id, score, prio, to_json(&details), summary, to_json(&tags)])
        .ctx("update a risk alert")?;
        if let Some(g) = group_id {
            crate::group::touch(conn, g, signal.time, prio)?;
        }
        let as_signal = risk_signal(cfg, signal, kind, value, tags, summary);
        stats::bump(conn, &as_signal, Counter::Deduplicated)?;
        report.risk_updates += 1;
        return Ok(());
    }
    let tags = contributing_tags(conn, &signal.tenant, kind, value, signal.time, window)?;
    let mut risk_signal = risk_signal(cfg, signal, kind, value, tags, summary);
    risk_signal.event_ids = contributing_events(conn, &parts, cap)?;
    let id = create_alert(
        conn,
        &NewAlert {
            signal: &risk_signal,
            risk: score,
            priority: prio,
            dedup_key: key,
            details: Some(details),
        },
        now,
    )?;
    stats::bump(conn, &risk_signal, Counter::Raised)?;
    report.created.push(id);
    report.risk_alerts.push(id);
    group_new(conn, cfg, id, &risk_signal, prio, now, report)
}

fn single(kind: EntityKind, value: &str) -> Entities {
    let mut e = Entities::default();
    e.set(kind, Some(value.to_owned()));
    e
}

fn risk_signal(
    cfg: &TriageConfig,
    trigger: &Signal,
    kind: EntityKind,
    value: &str,
    tags: Vec<String>,
    summary: String,
) -> Signal {
    let mut s = Signal::new(
        SignalSource::Risk,
        RISK_RULE_ID,
        "Risk threshold exceeded",
        cfg.risk.alert_level,
        trigger.time,
    );
    s.tenant = trigger.tenant.clone();
    s.entities = single(kind, value);
    s.tags = tags;
    s.summary = summary;
    s.event_ids = trigger.event_ids.clone();
    s
}

/// The union of the contributing signals' tags, sorted.
fn contributing_tags(
    conn: &Connection,
    tenant: &str,
    kind: EntityKind,
    value: &str,
    at: Timestamp,
    window: i64,
) -> Result<Vec<String>, TriageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT DISTINCT tags FROM risk_events WHERE tenant = ?1 AND kind = ?2 AND value = ?3 \
             AND time > ?4 AND time <= ?5",
        )
        .ctx("prepare a risk tag query")?;
    let rows = stmt
        .query_map(
            params![
                tenant,
                kind.as_str(),
                value,
                at.0.saturating_sub(window),
                at.0
            ],
            |r| r.get::<_, String>(0),
        )
        .ctx("read risk tags")?;
    let mut tags: Vec<String> = Vec::new();
    for row in rows {
        let list: Vec<String> = from_json("risk tags", &row.ctx("read risk tags")?)?;
        tags.extend(list);
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// The first event ids of the contributing alerts, up to `cap`.
fn contributing_events(
    conn: &Connection,
    parts: &[RiskContribution],
    cap: usize,
) -> Result<Vec<EventId>, TriageError> {
    let mut out: Vec<EventId> = Vec::new();
    let mut stmt = conn
        .prepare_cached("SELECT event_ids FROM alerts WHERE id = ?1")
        .ctx("prepare an event id read")?;
    for id in parts.iter().flat_map(|p| p.alert_ids.iter()) {
        let text: String = stmt
            .query_row([id], |r| r.get(0))
            .ctx("read contributing events")?;
        for e in from_json::<Vec<EventId>>("alert event ids", &text)? {
            if out.len() >= cap {
                return Ok(out);
            }
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// Forget contributions too old to count: older than two windows before `newest`.
pub(crate) fn prune(
    conn: &Connection,
    cfg: &TriageConfig,
    newest: Timestamp,
) -> Result<(), TriageError> {
    let before = newest
        .0
        .saturating_sub(nanos(cfg.risk.window_secs).saturating_mul(2));
    conn.prepare_cached("DELETE FROM risk_events WHERE time < ?1")
        .ctx("prepare a risk prune")?
        .execute([before])
        .ctx("prune old risk")?;
    conn.prepare_cached("DELETE FROM risk_rules WHERE last_time < ?1")
        .ctx("prepare a rule risk prune")?
        .execute([before])
        .ctx("prune old rule risk")?;
    Ok(())
}

impl Triage {
    /// Entities' risk over the window, highest first, each with its contributing rules.
    pub fn risk_scores(&self, query: &RiskQuery) -> Result<Vec<RiskScore>, TriageError> {
        let cfg = &*self.settings();
        let conn = self.conn.lock();
        let mut clauses: Vec<&str> = Vec::new();
        let mut args: Vec<SqlValue> = Vec::new();
        if let Some(t) = &query.tenant {
            args.push(t.clone().into());
            clauses.push("tenant = ?");
        }
        if let Some(k) = query.kind {
            args.push(k.as_str().to_owned().into());
            clauses.push("kind = ?");
        }
        if let Some(v) = &query.value {
            let value = match query.kind {
                Some(k) => single(k, v)
                    .normalised()
                    .get(k)
                    .unwrap_or_default()
                    .to_owned(),
                None => v.trim().to_owned(),
            };
            args.push(value.clone().into());
            args.push(value.to_lowercase().into());
            clauses.push("value IN (?, ?)");
        }
        let scope = if clauses.is_empty() {
            String::new()
        } else {
            format!(" AND {}", clauses.join(" AND "))
        };
        let scope = number(&scope);
        let at = match query.at {
            Some(at) => at,
            None => {
                let newest: Option<i64> = conn
                    .prepare(&format!("SELECT MAX(time) FROM risk_events WHERE 1{scope}"))
                    .ctx("prepare a newest-risk query")?
                    .query_row(params_from_iter(args.iter()), |r| r.get(0))
                    .ctx("find the newest risk")?;
                match newest {
                    Some(t) => Timestamp(t),
                    None => return Ok(Vec::new()),
                }
            }
        };
        let agg = if cfg.risk.distinct_rules {
            "MAX"
        } else {
            "SUM"
        };
        let n = args.len();
        let sql = format!(
            "SELECT tenant, kind, value, SUM(r) FROM (SELECT tenant, kind, value, {agg}(risk) r \
             FROM risk_events WHERE time > ?{} AND time <= ?{}{scope} GROUP BY tenant, kind, value, rule_id) \
             GROUP BY tenant, kind, value HAVING SUM(r) >= ?{} ORDER BY 4 DESC, 3 LIMIT {}",
            n + 1,
            n + 2,
            n + 3,
            if query.limit == 0 {
                100
            } else {
                query.limit.min(10_000)
            }
        );
        args.push(at.0.saturating_sub(nanos(cfg.risk.window_secs)).into());
        args.push(at.0.into());
        args.push(i64::from(query.min_score).into());
        let rows = conn
            .prepare(&sql)
            .ctx("prepare a risk score list")?
            .query_map(params_from_iter(args.iter()), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .ctx("list risk scores")?
            .collect::<Result<Vec<_>, _>>()
            .ctx("list risk scores")?;
        let mut out = Vec::with_capacity(rows.len());
        for (tenant, kind, value, sum) in rows {
            let Some(kind) = EntityKind::parse(&kind) else {
                continue;
            };
            let score = u32::try_from(sum.max(0)).unwrap_or(u32::MAX);
            out.push(RiskScore {
                contributions: contributions(&conn, cfg, &tenant, kind, &value, at)?,
                tenant,
                kind,
                value,
                score,
                threshold: cfg.risk.threshold,
                above_threshold: score >= cfg.risk.threshold,
                at,
                window_secs: cfg.risk.window_secs,
            });
        }
        Ok(out)
    }
}

/// Number the `?` placeholders of `sql` from 1.
fn number(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("?{n}"));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Level;
    use crate::testutil::{at, detection, event_id, open};

    #[test]
    fn risk_crossing_the_threshold_raises_one_alert_listing_the_detections() {
        let (_dir, triage) = open(Default::default());
        let hour = 3600;
        let sig = |rule: &str, level: Level, t: i64, user: &str, tag: &str| {
            detection(rule, level, at(t), "ws01", user)
                .with_tags([tag])
                .with_event(event_id(t))
        };
        // Host ws01: high 40 + high 40 (same rule, counts once) + medium 15 = 55, then
        // critical 70 → 125 ≥ 100 at 3 h: one risk alert. A further high (r4) raises the
        // score again: the open risk alert is updated, not duplicated.
        let report = triage
            .process(vec![
                sig("r1", Level::High, 0, "u1", "attack.execution"),
                sig("r1", Level::High, 2 * hour, "u2", "attack.execution"),
                sig("r2", Level::Medium, 2 * hour, "u3", "attack.discovery"),
                sig(
                    "r3",
                    Level::Critical,
                    3 * hour,
                    "u4",
                    "attack.credential_access",
                ),
                sig("r4", Level::High, 4 * hour, "u5", "attack.lateral_movement"),
            ])
            .expect("process");
        assert_eq!((report.risk_alerts.len(), report.risk_updates), (1, 1));
        let alert = triage
            .get(report.risk_alerts[0], None)
            .expect("get")
            .expect("exists")
            .alert;
        assert_eq!(alert.source, SignalSource::Risk);
        assert_eq!(alert.rule_id, RISK_RULE_ID);
        assert_eq!(alert.level, Level::High);
        assert_eq!(alert.entities.host.as_deref(), Some("ws01"));
        assert_eq!(alert.entities.user, None);
        assert_eq!((alert.count, alert.risk), (2, 165));
        assert!(alert.priority >= 85, "{}", alert.priority);
        assert!(alert.tags.contains(&"attack.lateral_movement".to_owned()));
        let details = alert.details.expect("details");
        let rules: Vec<(&str, u64)> = details["contributions"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| {
                (
                    c["rule_id"].as_str().unwrap_or(""),
                    c["count"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(rules, vec![("r3", 1), ("r1", 2), ("r4", 1), ("r2", 1)]);
        assert!(alert.event_ids.contains(&event_id(0)));
        // The users never crossed; the host's score and parts are listed.
        let scores = triage.risk_scores(&RiskQuery::default()).expect("risk");
        let top = &scores[0];
        assert_eq!(
            (top.kind, top.value.as_str(), top.score),
            (EntityKind::Host, "ws01", 165)
        );
        assert!(top.above_threshold);
        assert!(scores[1..].iter().all(|s| !s.above_threshold));
        // Past the window nothing counts: a new contribution starts from zero.
        let later = triage
            .process(vec![sig(
                "r5",
                Level::Critical,
                30 * hour,
                "u6",
                "attack.impact",
            )])
            .expect("process");
        assert!(later.risk_alerts.is_empty());
        let host = triage
            .risk_scores(&RiskQuery {
                kind: Some(EntityKind::Host),
                value: Some("WS01".into()),
                ..Default::default()
            })
            .expect("risk");
        assert_eq!(host[0].score, 70);
    }

    #[test]
    fn a_rule_seen_again_after_a_whole_window_counts_afresh() {
        let (_dir, triage) = open(Default::default());
        let hour = 3600;
        let on_host = |rule: &str, t: i64, risk: u32| {
            detection(rule, Level::Medium, at(t), "ws01", "system").with_risk(risk)
        };
        // r1 at 90, then nothing from r1 for 25 h (the window is 24 h), then r1 at 20 and
        // r2 at 70: 90 no longer counts, so the host stands at 90, under the threshold.
        triage.process(vec![on_host("r1", 0, 90)]).expect("process");
        let report = triage
            .process(vec![
                on_host("r1", 25 * hour, 20),
                on_host("r2", 26 * hour, 70),
            ])
            .expect("process");
        assert!(report.risk_alerts.is_empty(), "{report:?}");
        // Within the window the rule's highest counts: r1 at 50 makes 50 + 70 = 120.
        let report = triage
            .process(vec![on_host("r1", 27 * hour, 50)])
            .expect("process");
        assert_eq!(report.risk_alerts.len(), 1, "{report:?}");
        let alert = triage
            .get(report.risk_alerts[0], None)
            .expect("get")
            .expect("exists")
            .alert;
        assert_eq!(alert.risk, 120);
    }

    #[test]
    fn counting_every_signal_lets_one_rule_cross_when_configured() {
        let mut cfg = TriageConfig::default();
        cfg.risk.distinct_rules = false;
        cfg.risk.rule_risk.insert("noisy".into(), 30);
        let (_dir, triage) = open(cfg);
        let signals: Vec<Signal> = (0..4)
            .map(|i| detection("noisy", Level::Low, at(i * 60), "ws01", "bob"))
            .collect();
        let report = triage.process(signals).expect("process");
        // 30 × 4 = 120 on the host and on the user: two risk alerts.
        assert_eq!(report.risk_alerts.len(), 2);
        let alert = triage
            .get(report.risk_alerts[0], None)
            .expect("get")
            .expect("exists")
            .alert;
        assert_eq!(alert.risk, 120);
    }
}
