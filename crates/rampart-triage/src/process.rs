//! The triage pipeline, [`Triage::process`]: suppression, deduplication, alert creation with a priority, grouping, risk accumulation and per-rule counts, in that order, one transaction per batch.

use rampart_model::{EventId, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::alert::{AlertStatus, record_history};
use crate::config::{TriageConfig, nanos, priority};
use crate::db::{from_json, to_json};
use crate::error::SqlContext;
use crate::group::{self, Placed, Placement};
use crate::signal::{EntityKind, Signal, SignalSource};
use crate::stats::{self, Counter};
use crate::{Triage, TriageError, risk, suppress};

/// What one [`Triage::process`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessReport {
    /// Signals given.
    pub signals: usize,
    /// Signals dropped as unusable (no rule id or title, no tenant); logged.
    pub rejected: usize,
    /// Signals muted by a suppression (counted on the suppression and the rule).
    pub suppressed: usize,
    /// Signals folded into an open alert of the same rule and entities.
    pub deduplicated: usize,
    /// Ids of the alerts created, risk alerts included, in order.
    pub created: Vec<i64>,
    /// Ids of the risk alerts created (also in `created`).
    pub risk_alerts: Vec<i64>,
    /// Risk alerts that were already open and took a new contribution.
    pub risk_updates: usize,
    /// New alerts that joined an existing group.
    pub grouped: usize,
    /// Groups created.
    pub groups_created: usize,
}

/// The deduplication key of a signal: tenant, source, rule and the normalised entity set.
pub(crate) fn dedup_key(signal: &Signal) -> String {
    let mut h = Sha256::new();
    for part in [
        signal.tenant.as_str(),
        signal.source.as_str(),
        signal.rule_id.as_str(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (kind, value) in signal.entities.iter() {
        h.update(kind.as_str().as_bytes());
        h.update([b'=']);
        h.update(value.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// The key of the risk alert of one entity.
pub(crate) fn risk_key(tenant: &str, kind: EntityKind, value: &str) -> String {
    let mut h = Sha256::new();
    for part in [tenant, "risk", kind.as_str(), value] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// An alert about to be stored.
pub(crate) struct NewAlert<'a> {
    pub signal: &'a Signal,
    pub risk: u32,
    pub priority: u8,
    pub dedup_key: String,
    pub details: Option<Value>,
}

/// Store a new alert (status new) with its entities and its `created` history entry.
pub(crate) fn create_alert(
    conn: &Connection,
    new: &NewAlert<'_>,
    now: Timestamp,
) -> Result<i64, TriageError> {
    let s = new.signal;
    conn.prepare_cached(
        "INSERT INTO alerts (tenant, source, rule_id, rule_title, level, priority, risk, tags, \
         entities, dedup_key, status, count, first_seen, last_seen, created, updated, event_ids, \
         summary, fields, details) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1, ?12, ?12, ?13, ?13, ?14, ?15, ?16, ?17)",
    )
    .ctx("prepare an alert insert")?
    .execute(params![
        s.tenant,
        s.source.as_str(),
        s.rule_id,
        s.rule_title,
        s.level.rank(),
        new.priority,
        new.risk,
        to_json(&s.tags),
        to_json(&s.entities),
        new.dedup_key,
        AlertStatus::New.as_str(),
        s.time.0,
        now.0,
        to_json(&s.event_ids),
        s.summary,
        to_json(&s.fields),
        new.details.as_ref().map(to_json),
    ])
    .ctx("store an alert")?;
    let id = conn.last_insert_rowid();
    let mut entity = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO alert_entities (alert_id, kind, value) VALUES (?1, ?2, ?3)",
        )
        .ctx("prepare an alert entity insert")?;
    for (kind, value) in s.entities.iter() {
        entity
            .execute(params![id, kind.as_str(), value])
            .ctx("store an alert entity")?;
    }
    record_history(
        conn,
        id,
        now,
        "rampart",
        "created",
        None,
        Some(AlertStatus::New),
        None,
        None,
        None,
    )?;
    Ok(id)
}

/// The open alert with `key` that `time` can join: with `by_last_seen`, one last seen
/// within `window` before `time` (a sliding window); otherwise one whose span, `time`
/// included, stays within `window` — in order, first seen at most `window` before; out of
/// order (a replay, files imported in any order), a repeat inside an alert's span always
/// joins it, and no alert's span ever grows past the window.
pub(crate) fn find_open(
    conn: &Connection,
    key: &str,
    time: Timestamp,
    window: i64,
    by_last_seen: bool,
) -> Result<Option<i64>, TriageError> {
    let sql = if by_last_seen {
        "SELECT id FROM alerts WHERE dedup_key = ?1 AND status != 'closed' \
         AND last_seen >= ?2 ORDER BY id DESC LIMIT 1"
    } else {
        "SELECT id FROM alerts WHERE dedup_key = ?1 AND status != 'closed' \
         AND first_seen >= ?2 AND last_seen <= ?3 ORDER BY id DESC LIMIT 1"
    };
    let mut stmt = conn.prepare_cached(sql).ctx("prepare a duplicate search")?;
    let lo = time.0.saturating_sub(window);
    let found = if by_last_seen {
        stmt.query_row(params![key, lo], |r| r.get(0))
    } else {
        stmt.query_row(params![key, lo, time.0.saturating_add(window)], |r| {
            r.get(0)
        })
    };
    found.optional().ctx("search for a duplicate")
}

/// Fold a repeat into alert `id`: count, first/last sighting, event ids up to `cap`.
/// Returns the alert's group and priority.
pub(crate) fn fold(
    conn: &Connection,
    id: i64,
    time: Timestamp,
    event_ids: &[EventId],
    cap: usize,
    now: Timestamp,
) -> Result<(Option<i64>, u8), TriageError> {
    let (stored, group_id, prio): (String, Option<i64>, i64) = conn
        .prepare_cached("SELECT event_ids, group_id, priority FROM alerts WHERE id = ?1")
        .ctx("prepare a fold read")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .ctx("read an alert to fold into")?;
    let mut ids: Vec<EventId> = from_json("alert event ids", &stored)?;
    let before = ids.len();
    for e in event_ids {
        if ids.len() >= cap {
            break;
        }
        if !ids.contains(e) {
            ids.push(*e);
        }
    }
    let new_ids = (ids.len() != before).then(|| to_json(&ids));
    conn.prepare_cached(
        "UPDATE alerts SET count = count + 1, first_seen = MIN(first_seen, ?2), \
         last_seen = MAX(last_seen, ?2), updated = ?3, event_ids = COALESCE(?4, event_ids) \
         WHERE id = ?1",
    )
    .ctx("prepare a fold")?
    .execute(params![id, time.0, now.0, new_ids])
    .ctx("fold a repeat into an alert")?;
    Ok((group_id, u8::try_from(prio.clamp(0, 100)).unwrap_or(0)))
}

/// Put a new alert in a group (when grouping is on) and count how.
pub(crate) fn group_new(
    conn: &Connection,
    cfg: &TriageConfig,
    alert_id: i64,
    signal: &Signal,
    prio: u8,
    now: Timestamp,
    report: &mut ProcessReport,
) -> Result<(), TriageError> {
    if !cfg.grouping.enabled {
        return Ok(());
    }
    let placed = group::place(
        conn,
        cfg,
        &Placement {
            alert_id,
            tenant: &signal.tenant,
            time: signal.time,
            title: &signal.rule_title,
            level: signal.level,
            priority: prio,
            tags: &signal.tags,
            entities: &signal.entities,
        },
        now,
    )?;
    match placed {
        Placed::Joined(_) => report.grouped += 1,
        Placed::Created(_) => report.groups_created += 1,
    }
    Ok(())
}

/// Make a signal fit to store, or say why it cannot be.
fn prepare(mut signal: Signal, cap: usize) -> Result<Signal, String> {
    if signal.rule_id.trim().is_empty() {
        signal.rule_id = signal.rule_title.trim().to_owned();
    }
    if signal.rule_id.is_empty() {
        return Err("signal without a rule id or title".into());
    }
    if signal.rule_title.trim().is_empty() {
        signal.rule_title = signal.rule_id.clone();
    }
    if signal.tenant.trim().is_empty() {
        return Err(format!(
            "signal of rule '{}' without a tenant",
            signal.rule_id
        ));
    }
    if signal.source == SignalSource::Risk {
        return Err(format!(
            "signal of rule '{}' claims the risk source, which only triage raises",
            signal.rule_id
        ));
    }
    signal.entities = std::mem::take(&mut signal.entities).normalised();
    signal.event_ids.truncate(cap);
    Ok(signal)
}

impl Triage {
    /// Triage a batch of signals in one transaction: suppression, deduplication, alert
    /// creation with a priority, grouping, risk accumulation (and risk alerts), rule
    /// counts. The entry point for detection, correlation, baseline and intel pipelines.
    ///
    /// A signal that cannot be stored (no rule, no tenant) is skipped, logged and counted
    /// in [`ProcessReport::rejected`]; a database failure rolls the whole batch back.
    pub fn process(&self, signals: Vec<Signal>) -> Result<ProcessReport, TriageError> {
        let cfg = &*self.settings();
        let now = self.now();
        let mut report = ProcessReport {
            signals: signals.len(),
            ..Default::default()
        };
        let mut conn = self.conn.lock();
        let tx = conn.transaction().ctx("begin a triage batch")?;
        let active = if cfg.suppression.enabled {
            suppress::active(&tx, now)?
        } else {
            Vec::new()
        };
        let mut newest: Option<Timestamp> = None;
        for signal in signals {
            let signal = match prepare(signal, cfg.dedup.max_event_ids) {
                Ok(s) => s,
                Err(why) => {
                    tracing::warn!(reason = %why, "triage skipped a signal");
                    report.rejected += 1;
                    continue;
                }
            };
            newest = newest.max(Some(signal.time));
            if let Some(s) = active.iter().find(|s| s.matches(&signal)) {
                suppress::count_hit(&tx, s.id, now)?;
                suppress::record_hit(&tx, s.id, &signal, now)?;
                stats::bump(&tx, &signal, Counter::Suppressed)?;
                report.suppressed += 1;
                continue;
            }
            let risk = cfg.risk_of(&signal.rule_id, signal.level, signal.risk);
            let key = dedup_key(&signal);
            let duplicate = if cfg.dedup.enabled {
                find_open(&tx, &key, signal.time, nanos(cfg.dedup.window_secs), false)?
            } else {
                None
            };
            let alert_id = match duplicate {
                Some(id) => {
                    let (group_id, prio) = fold(
                        &tx,
                        id,
                        signal.time,
                        &signal.event_ids,
                        cfg.dedup.max_event_ids,
                        now,
                    )?;
                    if let Some(g) = group_id {
                        group::touch(&tx, g, signal.time, prio)?;
                    }
                    stats::bump(&tx, &signal, Counter::Deduplicated)?;
                    report.deduplicated += 1;
                    id
                }
                None => {
                    let prio = priority(
                        signal.level,
                        risk,
                        cfg.criticality_bonus(&signal.entities),
                        false,
                    );
                    let id = create_alert(
                        &tx,
                        &NewAlert {
                            signal: &signal,
                            risk,
                            priority: prio,
                            dedup_key: key,
                            details: None,
                        },
                        now,
                    )?;
                    stats::bump(&tx, &signal, Counter::Raised)?;
                    report.created.push(id);
                    group_new(&tx, cfg, id, &signal, prio, now, &mut report)?;
                    id
                }
            };
            if cfg.risk.enabled && risk > 0 {
                risk::accumulate(&tx, cfg, &signal, risk, alert_id, now, &mut report)?;
            }
        }
        if let (true, Some(newest)) = (cfg.risk.enabled, newest) {
            risk::prune(&tx, cfg, newest)?;
        }
        tx.commit().ctx("commit a triage batch")?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TriageConfig;
    use crate::signal::Level;
    use crate::testutil::{at, detection, event_id, open};

    #[test]
    fn out_of_order_repeats_never_stretch_an_alert_past_the_window() {
        let (_dir, triage) = open(TriageConfig::default());
        let sig = |t: i64| detection("r1", Level::Medium, at(t), "ws01", "bob");
        // Signals walking backwards 50 min at a time: each within an hour of the alert's
        // first sighting, so "first seen within the window" alone would chain them into
        // one alert spanning 2 h 30 min.
        let m = 60;
        let report = triage
            .process(vec![sig(150 * m), sig(100 * m), sig(50 * m), sig(0)])
            .expect("process");
        assert_eq!(report.created.len(), 2, "spans capped at one hour");
        for id in &report.created {
            let a = triage.get(*id, None).expect("get").expect("exists").alert;
            assert!(a.last_seen.0 - a.first_seen.0 <= 3600 * 1_000_000_000);
        }
        // The same signals replayed: every one falls inside an alert's span and folds.
        let again = triage
            .process(vec![sig(0), sig(50 * m), sig(100 * m), sig(150 * m)])
            .expect("process");
        assert_eq!((again.created.len(), again.deduplicated), (0, 4));
    }

    #[test]
    fn repeats_within_the_window_fold_and_later_ones_raise_anew() {
        let mut cfg = TriageConfig::default();
        cfg.dedup.max_event_ids = 3;
        let (_dir, triage) = open(cfg);
        let hour = 3600;
        let sig = |t: i64, host: &str| {
            detection("r1", Level::Medium, at(t), host, "bob").with_event(event_id(t))
        };
        // Same rule and entities at 0, 10 min, 50 min, 59 min: one alert (count 4, three
        // event ids kept); another host: its own alert; 1 h 1 min after the first: a new alert.
        let report = triage
            .process(vec![
                sig(0, "ws01"),
                sig(600, "WS01"),
                sig(3000, "ws01"),
                sig(3540, "ws01"),
                sig(600, "ws02"),
                sig(hour + 60, "ws01"),
            ])
            .expect("process");
        assert_eq!((report.created.len(), report.deduplicated), (3, 3));
        let first = triage
            .get(report.created[0], None)
            .expect("get")
            .expect("exists")
            .alert;
        assert_eq!(first.count, 4);
        assert_eq!((first.first_seen, first.last_seen), (at(0), at(3540)));
        assert_eq!(
            first.event_ids,
            vec![event_id(0), event_id(600), event_id(3000)]
        );
        // A closed alert takes no more repeats: the next one raises a new alert.
        triage
            .close(
                report.created[2],
                None,
                "a",
                crate::Disposition::TruePositive,
                None,
            )
            .expect("close");
        let again = triage
            .process(vec![sig(hour + 120, "ws01")])
            .expect("process");
        assert_eq!((again.created.len(), again.deduplicated), (1, 0));
        let noise = triage.rule_noise(None).expect("noise");
        assert_eq!((noise[0].raised, noise[0].deduplicated), (4, 3));
    }

    #[test]
    fn dedup_off_raises_every_signal() {
        let mut cfg = TriageConfig::default();
        cfg.dedup.enabled = false;
        let (_dir, triage) = open(cfg);
        let report = triage
            .process(vec![
                detection("r1", Level::Low, at(0), "ws01", "bob"),
                detection("r1", Level::Low, at(1), "ws01", "bob"),
            ])
            .expect("process");
        assert_eq!((report.created.len(), report.deduplicated), (2, 0));
    }

    #[test]
    fn unusable_signals_are_rejected_not_stored() {
        let (_dir, triage) = open(Default::default());
        let mut no_rule = detection("", Level::Low, at(0), "h", "u");
        no_rule.rule_title.clear();
        let no_tenant = detection("r1", Level::Low, at(0), "h", "u").with_tenant(" ");
        let mut risk = detection("r1", Level::Low, at(0), "h", "u");
        risk.source = SignalSource::Risk;
        let mut title_only = detection("", Level::Low, at(0), "h", "u");
        title_only.rule_title = "Only a title".into();
        let report = triage
            .process(vec![no_rule, no_tenant, risk, title_only])
            .expect("process");
        assert_eq!((report.rejected, report.created.len()), (3, 1));
        let alert = triage
            .get(report.created[0], None)
            .expect("get")
            .expect("stored")
            .alert;
        assert_eq!(alert.rule_id, "Only a title");
    }

    #[test]
    fn dedup_key_ignores_case_of_normalised_entities_only() {
        let a = detection("r1", Level::Low, at(0), "WS01", "Bob");
        let b = detection("r1", Level::Low, at(9), "ws01", "bob");
        let mut c = detection("r1", Level::Low, at(0), "ws01", "bob");
        c.entities.process = Some("cmd.exe".into());
        let d = detection("r1", Level::Low, at(0), "ws01", "bob").with_tenant("acme");
        assert_eq!(dedup_key(&a), dedup_key(&b));
        assert_ne!(dedup_key(&b), dedup_key(&c));
        assert_ne!(dedup_key(&b), dedup_key(&d));
    }
}
