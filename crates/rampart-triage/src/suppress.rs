//! Suppressions (exceptions): mute a rule, or every rule, for given entities or field values, with an author, a reason and an expiry; applied before alerts are raised, and counted.

use ipnet::IpNet;
use rampart_model::{EventId, Timestamp, get_path};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;

use crate::db::{from_json, to_json};
use crate::error::SqlContext;
use crate::signal::{Entities, EntityKind, Level, Signal, SignalSource};
use crate::{Triage, TriageError};

/// One test a suppression makes on a signal: `{"field": "user", "equals": "svc_backup"}`,
/// `{"field": "host", "in": ["a", "b"]}`, `{"field": "source_ip", "cidr": "10.0.0.0/8"}`.
///
/// `field` is an entity kind (`host`, `user`, `source_ip`, `destination_ip`, `process`,
/// `file_hash`, or its ECS name such as `host.name`) or a dotted field of the signal's
/// fields (`process.command_line`). Text compares without regard to ASCII case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub field: String,
    #[serde(flatten)]
    pub test: Test,
}

/// The comparison of a [`Condition`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    Equals(String),
    In(Vec<String>),
    /// The value is an IP address inside this network.
    Cidr(String),
}

/// When a suppression stops applying. Required when creating one: a suppression that
/// never ends must say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    At(Timestamp),
}

impl Expiry {
    /// `never`, a duration from `now` (`30m`, `12h`, `7d`, `2w`, `+7d`) or a time (RFC 3339
    /// or `2025-01-31`, midnight UTC).
    pub fn parse(text: &str, now: Timestamp) -> Result<Expiry, TriageError> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("never") {
            return Ok(Expiry::Never);
        }
        let bad = || {
            TriageError::Invalid(format!(
                "invalid expiry '{t}': expected never, a duration such as 7d or 12h, or a time such as 2025-01-31T00:00:00Z"
            ))
        };
        let rel = t.strip_prefix('+').unwrap_or(t);
        if let Some(unit) = rel.chars().last().filter(|c| c.is_ascii_alphabetic())
            && let Ok(n) = rel[..rel.len() - 1].parse::<i64>()
        {
            let secs = match unit.to_ascii_lowercase() {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(bad()),
            };
            if n <= 0 {
                return Err(bad());
            }
            return n
                .checked_mul(secs)
                .and_then(|s| s.checked_mul(1_000_000_000))
                .and_then(|d| now.0.checked_add(d))
                .map(|ns| Expiry::At(Timestamp(ns)))
                .ok_or_else(bad);
        }
        let time = Timestamp::parse_rfc3339(t)
            .or_else(|_| Timestamp::parse_rfc3339(&format!("{t}T00:00:00Z")))
            .map_err(|_| bad())?;
        Ok(Expiry::At(time))
    }
}

/// What a new suppression says.
#[derive(Debug, Clone, PartialEq)]
pub struct SuppressionSpec {
    /// The tenant it applies to (`None`: every tenant).
    pub tenant: Option<String>,
    /// The rule it mutes (`None`: every rule, then at least one condition is required).
    pub rule_id: Option<String>,
    /// All must hold.
    pub conditions: Vec<Condition>,
    pub author: String,
    pub reason: String,
    pub expires: Expiry,
}

/// Whether a suppression applies now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionState {
    Active,
    Expired,
    Revoked,
}

/// A stored suppression with its counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppression {
    pub id: i64,
    pub tenant: Option<String>,
    pub rule_id: Option<String>,
    pub conditions: Vec<Condition>,
    pub author: String,
    pub reason: String,
    pub created: Timestamp,
    /// `None`: never expires.
    pub expires: Option<Timestamp>,
    pub revoked: Option<Timestamp>,
    pub revoked_by: Option<String>,
    pub state: SuppressionState,
    /// Signals it muted.
    pub hits: u64,
    pub last_hit: Option<Timestamp>,
}

/// A condition ready to test.
enum Compiled {
    Entity(EntityKind, Matcher),
    Field(String, Matcher),
}

enum Matcher {
    Equals(String),
    In(Vec<String>),
    Cidr(IpNet),
}

impl Matcher {
    fn text(&self, value: &str) -> bool {
        match self {
            Matcher::Equals(want) => want.eq_ignore_ascii_case(value.trim()),
            Matcher::In(list) => list.iter().any(|w| w.eq_ignore_ascii_case(value.trim())),
            Matcher::Cidr(net) => value
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| net.contains(&ip)),
        }
    }

    fn json(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.text(s),
            Value::Number(n) => self.text(&n.to_string()),
            Value::Bool(b) => self.text(if *b { "true" } else { "false" }),
            Value::Array(items) => items.iter().any(|v| self.json(v)),
            Value::Null | Value::Object(_) => false,
        }
    }
}

fn compile(condition: &Condition) -> Result<Compiled, TriageError> {
    let field = condition.field.trim();
    if field.is_empty() {
        return Err(TriageError::Invalid(
            "a suppression condition needs a field".into(),
        ));
    }
    let matcher = match &condition.test {
        Test::Equals(v) => Matcher::Equals(v.trim().to_owned()),
        Test::In(list) if list.is_empty() => {
            return Err(TriageError::Invalid(format!(
                "the 'in' list of field '{field}' is empty"
            )));
        }
        Test::In(list) => Matcher::In(list.iter().map(|v| v.trim().to_owned()).collect()),
        Test::Cidr(net) => Matcher::Cidr(
            net.trim()
                .parse::<IpNet>()
                .or_else(|_| net.trim().parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    TriageError::Invalid(format!(
                        "invalid network '{net}' for field '{field}', expected CIDR such as 10.0.0.0/8"
                    ))
                })?,
        ),
    };
    Ok(match EntityKind::parse(field) {
        Some(kind) => Compiled::Entity(kind, matcher),
        None => Compiled::Field(field.to_owned(), matcher),
    })
}

/// An active suppression ready to test signals.
pub(crate) struct Active {
    pub id: i64,
    tenant: Option<String>,
    rule_id: Option<String>,
    conditions: Vec<Compiled>,
}

impl Active {
    pub(crate) fn matches(&self, signal: &Signal) -> bool {
        if self.tenant.as_deref().is_some_and(|t| t != signal.tenant) {
            return false;
        }
        if self.rule_id.as_deref().is_some_and(|r| r != signal.rule_id) {
            return false;
        }
        self.conditions.iter().all(|c| match c {
            Compiled::Entity(kind, m) => signal.entities.get(*kind).is_some_and(|v| m.text(v)),
            Compiled::Field(path, m) => get_path(&signal.fields, path).is_some_and(|v| m.json(v)),
        })
    }
}

/// The suppressions that apply at `now`.
pub(crate) fn active(conn: &Connection, now: Timestamp) -> Result<Vec<Active>, TriageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, tenant, rule_id, conditions FROM suppressions \
             WHERE revoked IS NULL AND (expires IS NULL OR expires > ?1) ORDER BY id",
        )
        .ctx("prepare the active suppressions")?;
    let rows = stmt
        .query_map([now.0], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .ctx("read the active suppressions")?;
    let mut out = Vec::new();
    for row in rows {
        let (id, tenant, rule_id, conditions) = row.ctx("read the active suppressions")?;
        let conditions: Vec<Condition> = from_json("suppression conditions", &conditions)?;
        out.push(Active {
            id,
            tenant,
            rule_id,
            conditions: conditions.iter().map(compile).collect::<Result<_, _>>()?,
        });
    }
    Ok(out)
}

/// Most muted signals kept per suppression, the newest; its hit count keeps counting past.
pub const KEPT_SIGNALS: i64 = 1000;

/// A signal a suppression muted, kept so that an analyst can review what it hides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuppressedSignal {
    pub id: i64,
    pub suppression_id: i64,
    pub tenant: String,
    /// The signal's (event) time.
    pub time: Timestamp,
    /// When it was muted.
    pub recorded: Timestamp,
    pub source: SignalSource,
    pub rule_id: String,
    pub rule_title: String,
    pub level: Level,
    pub entities: Entities,
    pub event_ids: Vec<EventId>,
    pub summary: String,
}

/// Keep `signal`, muted by suppression `id`; past [`KEPT_SIGNALS`] per suppression the
/// oldest go (checked every 128 rows, so a suppression holds at most 127 more for a while).
pub(crate) fn record_hit(
    conn: &Connection,
    id: i64,
    signal: &Signal,
    now: Timestamp,
) -> Result<(), TriageError> {
    conn.prepare_cached(
        "INSERT INTO suppressed_signals (suppression_id, tenant, time, recorded, source, \
         rule_id, rule_title, level, entities, event_ids, summary) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .ctx("prepare a suppressed signal")?
    .execute(params![
        id,
        signal.tenant,
        signal.time.0,
        now.0,
        signal.source.as_str(),
        signal.rule_id,
        signal.rule_title,
        signal.level.rank(),
        to_json(&signal.entities),
        to_json(&signal.event_ids),
        signal.summary,
    ])
    .ctx("keep a suppressed signal")?;
    if conn.last_insert_rowid() % 128 == 0 {
        conn.prepare_cached(
            "DELETE FROM suppressed_signals WHERE id IN (SELECT id FROM (SELECT id, \
             ROW_NUMBER() OVER (PARTITION BY suppression_id ORDER BY id DESC) AS n \
             FROM suppressed_signals) WHERE n > ?1)",
        )
        .ctx("prepare a suppressed signal trim")?
        .execute([KEPT_SIGNALS])
        .ctx("trim suppressed signals")?;
    }
    Ok(())
}

/// A row of `suppressed_signals` (columns in the order `suppressed_signals` selects them);
/// the outer error is SQLite's, the inner one a value that does not decode.
fn suppressed_row(
    suppression_id: i64,
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<SuppressedSignal, TriageError>> {
    let source: String = r.get(4)?;
    let level: i64 = r.get(7)?;
    let entities: String = r.get(8)?;
    let event_ids: String = r.get(9)?;
    let (id, tenant, time, recorded) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    let (rule_id, rule_title, summary) = (r.get(5)?, r.get(6)?, r.get(10)?);
    Ok((|| {
        Ok(SuppressedSignal {
            id,
            suppression_id,
            tenant,
            time: Timestamp::from_nanos(time),
            recorded: Timestamp::from_nanos(recorded),
            source: SignalSource::parse(&source).ok_or_else(|| TriageError::Corrupt {
                what: "suppressed signal source",
                detail: source.clone(),
            })?,
            rule_id,
            rule_title,
            level: Level::from_rank(level).ok_or_else(|| TriageError::Corrupt {
                what: "suppressed signal level",
                detail: level.to_string(),
            })?,
            entities: from_json("suppressed signal entities", &entities)?,
            event_ids: from_json("suppressed signal events", &event_ids)?,
            summary,
        })
    })())
}

/// Count a hit of suppression `id`.
pub(crate) fn count_hit(conn: &Connection, id: i64, now: Timestamp) -> Result<(), TriageError> {
    conn.prepare_cached("UPDATE suppressions SET hits = hits + 1, last_hit = ?2 WHERE id = ?1")
        .ctx("prepare a suppression hit")?
        .execute(params![id, now.0])
        .ctx("count a suppression hit")?;
    Ok(())
}

const COLUMNS: &str = "id, tenant, rule_id, conditions, author, reason, created, expires, \
    revoked, revoked_by, hits, last_hit";

type RawSuppression = (
    i64,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    Option<i64>,
);

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawSuppression> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
    ))
}

fn decode(raw: RawSuppression, now: Timestamp) -> Result<Suppression, TriageError> {
    let (
        id,
        tenant,
        rule_id,
        conditions,
        author,
        reason,
        created,
        expires,
        revoked,
        by,
        hits,
        last,
    ) = raw;
    let state = if revoked.is_some() {
        SuppressionState::Revoked
    } else if expires.is_some_and(|e| e <= now.0) {
        SuppressionState::Expired
    } else {
        SuppressionState::Active
    };
    Ok(Suppression {
        id,
        tenant,
        rule_id,
        conditions: from_json("suppression conditions", &conditions)?,
        author,
        reason,
        created: Timestamp(created),
        expires: expires.map(Timestamp),
        revoked: revoked.map(Timestamp),
        revoked_by: by,
        state,
        hits: u64::try_from(hits.max(0)).unwrap_or(0),
        last_hit: last.map(Timestamp),
    })
}

fn load(conn: &Connection, id: i64, now: Timestamp) -> Result<Option<Suppression>, TriageError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM suppressions WHERE id = ?1"))
        .ctx("prepare a suppression lookup")?
        .query_row([id], raw)
        .optional()
        .ctx("read a suppression")?
        .map(|r| decode(r, now))
        .transpose()
}

impl Triage {
    /// Store a new suppression; it applies to the next batch processed.
    pub fn add_suppression(&self, spec: SuppressionSpec) -> Result<Suppression, TriageError> {
        let now = self.now();
        let author = spec.author.trim();
        let reason = spec.reason.trim();
        if author.is_empty() || reason.is_empty() {
            return Err(TriageError::Invalid(
                "a suppression needs an author and a reason".into(),
            ));
        }
        let rule_id = spec
            .rule_id
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if rule_id.is_none() && spec.conditions.is_empty() {
            return Err(TriageError::Invalid(
                "a suppression needs a rule id or at least one condition (it would mute everything)"
                    .into(),
            ));
        }
        for c in &spec.conditions {
            compile(c)?;
        }
        let expires = match spec.expires {
            Expiry::Never => None,
            Expiry::At(t) if t <= now => {
                return Err(TriageError::Invalid(format!(
                    "expiry {t} is not in the future"
                )));
            }
            Expiry::At(t) => Some(t.0),
        };
        let conn = self.conn.lock();
        conn.prepare_cached(
            "INSERT INTO suppressions (tenant, rule_id, conditions, author, reason, created, expires) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .ctx("prepare a suppression insert")?
        .execute(params![
            spec.tenant,
            rule_id,
            to_json(&spec.conditions),
            author,
            reason,
            now.0,
            expires
        ])
        .ctx("store a suppression")?;
        let id = conn.last_insert_rowid();
        load(&conn, id, now)?.ok_or(TriageError::NotFound {
            what: "suppression",
            id,
        })
    }

    /// Every suppression `tenant` may see (its own and the ones for every tenant), active,
    /// expired and revoked alike, newest first.
    pub fn suppressions(&self, tenant: Option<&str>) -> Result<Vec<Suppression>, TriageError> {
        let now = self.now();
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM suppressions \
                 WHERE ?1 IS NULL OR tenant IS NULL OR tenant = ?1 ORDER BY id DESC"
            ))
            .ctx("prepare a suppression list")?;
        let rows = stmt
            .query_map([tenant], raw)
            .ctx("list suppressions")?
            .collect::<Result<Vec<_>, _>>()
            .ctx("list suppressions")?;
        rows.into_iter().map(|r| decode(r, now)).collect()
    }

    /// The signals suppression `id` muted, newest first (at most `limit`, and at most the
    /// [`KEPT_SIGNALS`] newest are kept), for a reader of `tenant` only that tenant's.
    pub fn suppressed_signals(
        &self,
        id: i64,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<(Suppression, Vec<SuppressedSignal>), TriageError> {
        let now = self.now();
        let conn = self.conn.lock();
        let found = load(&conn, id, now)?
            .filter(|s| match (tenant, s.tenant.as_deref()) {
                (Some(scope), Some(t)) => scope == t,
                _ => true,
            })
            .ok_or(TriageError::NotFound {
                what: "suppression",
                id,
            })?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, tenant, time, recorded, source, rule_id, rule_title, level, \
                 entities, event_ids, summary FROM suppressed_signals \
                 WHERE suppression_id = ?1 AND (?2 IS NULL OR tenant = ?2) \
                 ORDER BY id DESC LIMIT ?3",
            )
            .ctx("prepare a suppressed signal list")?;
        let rows = stmt
            .query_map(
                params![id, tenant, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| suppressed_row(id, r),
            )
            .ctx("list suppressed signals")?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.ctx("list suppressed signals")??);
        }
        Ok((found, out))
    }

    /// Stop a suppression now. It stays listed (revoked, with who and when) with its counts.
    pub fn revoke_suppression(
        &self,
        id: i64,
        tenant: Option<&str>,
        actor: &str,
    ) -> Result<Suppression, TriageError> {
        let now = self.now();
        let conn = self.conn.lock();
        let found = load(&conn, id, now)?.ok_or(TriageError::NotFound {
            what: "suppression",
            id,
        })?;
        if let Some(scope) = tenant {
            match found.tenant.as_deref() {
                Some(t) if t == scope => {}
                Some(_) => {
                    return Err(TriageError::NotFound {
                        what: "suppression",
                        id,
                    });
                }
                None => {
                    return Err(TriageError::Conflict(format!(
                        "suppression {id} applies to every tenant; only a token for all tenants may revoke it"
                    )));
                }
            }
        }
        if found.state == SuppressionState::Revoked {
            return Err(TriageError::Conflict(format!(
                "suppression {id} was already revoked by {}",
                found.revoked_by.as_deref().unwrap_or("someone")
            )));
        }
        conn.prepare_cached("UPDATE suppressions SET revoked = ?2, revoked_by = ?3 WHERE id = ?1")
            .ctx("prepare a suppression revoke")?
            .execute(params![id, now.0, actor])
            .ctx("revoke a suppression")?;
        load(&conn, id, now)?.ok_or(TriageError::NotFound {
            what: "suppression",
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Level;
    use crate::testutil::{at, detection, open};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    fn spec(rule: Option<&str>, conditions: Vec<Condition>, expires: Expiry) -> SuppressionSpec {
        SuppressionSpec {
            tenant: None,
            rule_id: rule.map(str::to_owned),
            conditions,
            author: "eve".into(),
            reason: "backup job".into(),
            expires,
        }
    }

    fn cond(field: &str, test: Test) -> Condition {
        Condition {
            field: field.into(),
            test,
        }
    }

    #[test]
    fn a_suppression_keeps_its_newest_muted_signals_only() {
        let (_dir, triage) = open(Default::default());
        let sup = triage
            .add_suppression(spec(
                Some("noisy"),
                vec![cond("host", Test::Equals("ws01".into()))],
                Expiry::Never,
            ))
            .expect("add");
        let total = KEPT_SIGNALS as usize + 300;
        for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
            let batch = chunk
                .iter()
                .map(|&i| detection("noisy", Level::Low, at(i as i64), "ws01", &format!("u{i}")))
                .collect();
            assert_eq!(
                triage.process(batch).expect("process").suppressed,
                chunk.len()
            );
        }
        let (sup, muted) = triage
            .suppressed_signals(sup.id, None, usize::MAX)
            .expect("muted");
        assert_eq!(sup.hits, total as u64, "every hit is counted");
        assert!(
            (KEPT_SIGNALS as usize..KEPT_SIGNALS as usize + 128).contains(&muted.len()),
            "{}",
            muted.len()
        );
        // Newest first, the newest kept.
        let last = format!("u{}", total - 1);
        assert_eq!(muted[0].entities.user.as_deref(), Some(last.as_str()));
        assert!(muted.windows(2).all(|w| w[0].id > w[1].id));
    }

    #[test]
    fn suppressions_mute_by_entity_and_field_and_are_counted() {
        let (_dir, triage) = open(Default::default());
        let s_user = triage
            .add_suppression(spec(
                Some("r1"),
                vec![cond("user", Test::Equals("SVC_Backup".into()))],
                Expiry::Never,
            ))
            .expect("add");
        let s_net = triage
            .add_suppression(spec(
                None,
                vec![
                    cond("source.ip", Test::Cidr("10.0.0.0/8".into())),
                    cond(
                        "process.command_line",
                        Test::In(vec!["backup.exe /full".into()]),
                    ),
                ],
                Expiry::parse("7d", triage.now()).expect("valid"),
            ))
            .expect("add");
        let with_ip = |rule: &str, user: &str, ip: &str, cmd: &str| {
            let mut s = detection(rule, Level::Low, at(0), "ws01", user);
            s.entities.source_ip = Some(ip.into());
            s.with_field("process.command_line", cmd)
        };
        let signals = vec![
            with_ip("r1", "svc_backup", "192.0.2.1", "x"), // muted by s_user
            with_ip("r2", "svc_backup", "192.0.2.1", "x"), // other rule: raised
            with_ip("r3", "bob", "10.1.2.3", "BACKUP.EXE /full"), // muted by s_net
            with_ip("r3", "bob", "10.1.2.3", "backup.exe /diff"), // field differs: raised
            with_ip("r4", "bob", "172.16.0.1", "backup.exe /full"), // outside the network
        ];
        let report = triage.process(signals).expect("process");
        assert_eq!((report.suppressed, report.created.len()), (2, 3));
        let list = triage.suppressions(None).expect("list");
        let hits: Vec<(i64, u64)> = list.iter().map(|s| (s.id, s.hits)).collect();
        assert_eq!(hits, vec![(s_net.id, 1), (s_user.id, 1)]);
        assert!(list.iter().all(|s| s.last_hit.is_some()));
        let noise = triage.rule_noise(None).expect("noise");
        let r1 = noise
            .iter()
            .find(|n| n.rule_id == "r1")
            .expect("r1 counted");
        assert_eq!((r1.raised, r1.suppressed), (0, 1));
        // What each suppression hid can be read back, signal by signal.
        let (sup, muted) = triage
            .suppressed_signals(s_net.id, None, 10)
            .expect("muted");
        assert_eq!(sup.id, s_net.id);
        assert_eq!(muted.len(), 1);
        assert_eq!(
            (muted[0].rule_id.as_str(), muted[0].entities.user.as_deref()),
            ("r3", Some("bob"))
        );
        assert_eq!(muted[0].entities.source_ip.as_deref(), Some("10.1.2.3"));
        let (_, muted) = triage
            .suppressed_signals(s_user.id, None, 10)
            .expect("muted");
        assert_eq!(muted.len(), 1);
        assert_eq!(muted[0].rule_id, "r1");
        // A reader bound to a tenant sees only that tenant's signals.
        let (_, other) = triage
            .suppressed_signals(s_user.id, Some("acme"), 10)
            .expect("global suppression");
        assert!(other.is_empty());
        assert!(matches!(
            triage.suppressed_signals(9999, None, 10),
            Err(TriageError::NotFound { .. })
        ));
        // Suppressed signals add no risk: svc_backup's score comes from r2 alone.
        let risk = triage
            .risk_scores(&crate::RiskQuery {
                value: Some("svc_backup".into()),
                ..Default::default()
            })
            .expect("risk");
        let rules: Vec<&str> = risk[0]
            .contributions
            .iter()
            .map(|c| c.rule_id.as_str())
            .collect();
        assert_eq!((risk[0].score, rules), (5, vec!["r2"]));
    }

    #[test]
    fn expired_and_revoked_suppressions_stop_applying_but_stay_listed() {
        let (_dir, triage) = open(Default::default());
        let clock = Arc::new(AtomicI64::new(at(0).0));
        let c = clock.clone();
        let triage = triage.with_clock(move || Timestamp(c.load(Ordering::SeqCst)));
        let temp = triage
            .add_suppression(spec(
                Some("r1"),
                Vec::new(),
                Expiry::parse("1h", at(0)).expect("valid"),
            ))
            .expect("add");
        let other = triage
            .add_suppression(spec(Some("r2"), Vec::new(), Expiry::Never))
            .expect("add");
        let batch = || {
            vec![
                detection("r1", Level::Low, at(0), "h", "u"),
                detection("r2", Level::Low, at(0), "h", "u"),
            ]
        };
        assert_eq!(triage.process(batch()).expect("process").suppressed, 2);
        clock.store(at(3601).0, Ordering::SeqCst);
        triage
            .revoke_suppression(other.id, None, "lead")
            .expect("revoke");
        let report = triage.process(batch()).expect("process");
        assert_eq!(report.suppressed, 0);
        let states: Vec<(i64, SuppressionState, u64)> = triage
            .suppressions(None)
            .expect("list")
            .iter()
            .map(|s| (s.id, s.state, s.hits))
            .collect();
        assert_eq!(
            states,
            vec![
                (other.id, SuppressionState::Revoked, 1),
                (temp.id, SuppressionState::Expired, 1)
            ]
        );
        assert!(triage.revoke_suppression(other.id, None, "lead").is_err());
    }

    #[test]
    fn bad_suppressions_are_refused_with_the_reason() {
        let (_dir, triage) = open(Default::default());
        let cases = [
            (spec(None, Vec::new(), Expiry::Never), "mute everything"),
            (
                spec(
                    None,
                    vec![cond("source_ip", Test::Cidr("10.0.0/33".into()))],
                    Expiry::Never,
                ),
                "10.0.0/33",
            ),
            (
                spec(
                    None,
                    vec![cond("host", Test::In(Vec::new()))],
                    Expiry::Never,
                ),
                "empty",
            ),
            (
                spec(Some("r1"), Vec::new(), Expiry::At(Timestamp(0))),
                "not in the future",
            ),
            (
                SuppressionSpec {
                    reason: " ".into(),
                    ..spec(Some("r1"), Vec::new(), Expiry::Never)
                },
                "reason",
            ),
        ];
        for (spec, needle) in cases {
            let err = triage.add_suppression(spec).expect_err("invalid");
            assert!(err.to_string().contains(needle), "{err}");
        }
        for (text, ok) in [
            ("never", true),
            ("7d", true),
            ("+12h", true),
            ("2999-01-31", true),
            ("2999-01-31T10:00:00Z", true),
            ("soon", false),
            ("0d", false),
            ("5y", false),
        ] {
            assert_eq!(Expiry::parse(text, at(0)).is_ok(), ok, "{text}");
        }
        assert_eq!(
            Expiry::parse("2d", at(0)).expect("valid"),
            Expiry::At(at(2 * 86_400))
        );
    }

    #[test]
    fn conditions_read_as_compact_json() {
        let c: Vec<Condition> = serde_json::from_str(
            r#"[{"field":"user","equals":"a"},{"field":"host","in":["x","y"]},{"field":"source_ip","cidr":"10.0.0.0/8"}]"#,
        )
        .expect("valid");
        assert_eq!(c[1].test, Test::In(vec!["x".into(), "y".into()]));
        assert!(serde_json::from_str::<Condition>(r#"{"field":"user","like":"a"}"#).is_err());
    }
}
