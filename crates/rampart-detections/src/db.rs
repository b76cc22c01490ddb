//! The SQLite file `detections.db`: detections, rule state and stream-consumer positions, with schema migrations by `user_version`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rampart_model::{EventId, Timestamp};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};

use crate::error::DetectionsError;
use crate::record::{
    Cursor, Detection, DetectionCounts, DetectionData, DetectionKind, DetectionPage,
    DetectionQuery, LevelCount, RuleCount, RuleState, level_rank,
};
use crate::schema::migrate;

pub(crate) const COLUMNS: &str = "id, created, rule_id, rule_title, level, tags, event_id, event_time, \
     tenant, host, user_name, source_ip, destination_ip, process_name, command_line, file_hash, \
     fields, kind, group_values, window_start, window_end, value, score, event_ids";

/// One batch for [`DetectionStore::write_batch`].
pub(crate) struct BatchWrite<'a> {
    /// Detections with the sequence number of the event that made each.
    pub detections: &'a [(u64, DetectionData)],
    pub consumer: &'a str,
    /// The last sequence number of the batch; `None` for a write between batches (the
    /// clock closing baseline buckets).
    pub seq: Option<u64>,
    /// Engine snapshots to store (name, bytes); the others stay as they are.
    pub state: &'a [(&'a str, &'a [u8])],
    pub triage: TriageWrite,
}

/// What a batch does to triage's position.
pub(crate) enum TriageWrite {
    /// No triage: its position follows the detections (a triage enabled later starts at
    /// the newest detection instead of replaying history).
    Follow,
    /// Triage is on and follows the detections on its own thread (`feed::run`): the
    /// batch leaves its position alone.
    Untouched,
}

/// What [`DetectionStore::write_batch`] wrote.
pub(crate) struct BatchWritten {
    pub inserted: usize,
    /// The id of the last detection inserted.
    pub last_id: Option<i64>,
}

/// Read connections kept for reuse; more concurrent readers open their own.
const MAX_IDLE_READERS: usize = 4;

/// Detections and rule state in one SQLite file (WAL journal). One writer connection
/// behind a mutex; readers use their own connections, so listing never waits for the
/// detection worker's transaction.
pub struct DetectionStore {
    path: PathBuf,
    pub(crate) writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn configure(conn: &Connection) -> Result<(), DetectionsError> {
    // Rusqlite keeps 16 prepared statements by default; a batch runs more distinct ones
    // than that, and an evicted statement is parsed again on its next use.
    conn.set_prepared_statement_cache_capacity(128);
    // Plans independent of bound values: otherwise SQLite re-compiles a cached statement
    // whenever a value its plan could depend on changes (see rampart-triage's `db::open`).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(DetectionsError::sql(
        "enabling the query planner stability guarantee",
    ))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(DetectionsError::sql("setting the busy timeout"))?;
    // FULL: a committed batch (detections plus the consumer position) survives power loss,
    // so the event store's consumer may be committed right after it.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(DetectionsError::sql("setting pragmas"))
}

pub(crate) fn row_to_detection(row: &Row<'_>) -> rusqlite::Result<Detection> {
    fn conversion(i: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    }
    fn json<T: serde::de::DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
        let text: String = row.get(i)?;
        serde_json::from_str(&text).map_err(|e| conversion(i, e))
    }
    let event_id: Option<String> = row.get(6)?;
    let kind: String = row.get(17)?;
    Ok(Detection {
        id: row.get(0)?,
        created: Timestamp::from_nanos(row.get(1)?),
        data: DetectionData {
            kind: DetectionKind::parse(&kind).unwrap_or_default(),
            rule_id: row.get(2)?,
            rule_title: row.get(3)?,
            level: row.get(4)?,
            tags: json(row, 5)?,
            event_id: event_id
                .map(|e| e.parse::<EventId>())
                .transpose()
                .map_err(|e| conversion(6, e))?,
            event_time: Timestamp::from_nanos(row.get(7)?),
            tenant: row.get(8)?,
            host: row.get(9)?,
            user: row.get(10)?,
            source_ip: row.get(11)?,
            destination_ip: row.get(12)?,
            process_name: row.get(13)?,
            command_line: row.get(14)?,
            file_hash: row.get(15)?,
            fields: json(row, 16)?,
            group: json(row, 18)?,
            window_start: row.get::<_, Option<i64>>(19)?.map(Timestamp::from_nanos),
            window_end: row.get::<_, Option<i64>>(20)?.map(Timestamp::from_nanos),
            value: row.get(21)?,
            score: row.get(22)?,
            event_ids: json(row, 23)?,
        },
    })
}

/// The `WHERE` clause and its parameters for the filters of `q` (not the cursor).
fn where_clause(q: &DetectionQuery) -> (String, Vec<SqlValue>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut args = Vec::new();
    let mut eq = |sql: &mut String, column: &str, value: &Option<String>| {
        if let Some(v) = value {
            sql.push_str(&format!(" AND {column} = ?"));
            args.push(SqlValue::Text(v.clone()));
        }
    };
    eq(&mut sql, "tenant", &q.tenant);
    eq(&mut sql, "kind", &q.kind.map(|k| k.as_str().to_owned()));
    eq(&mut sql, "rule_id", &q.rule_id);
    eq(&mut sql, "host", &q.host);
    eq(&mut sql, "user_name", &q.user);
    if let Some(rank) = q.min_level {
        sql.push_str(" AND level_rank >= ?");
        args.push(SqlValue::Integer(i64::from(rank)));
    }
    if let Some(from) = q.from {
        sql.push_str(" AND event_time >= ?");
        args.push(SqlValue::Integer(from.nanos()));
    }
    if let Some(to) = q.to {
        sql.push_str(" AND event_time < ?");
        args.push(SqlValue::Integer(to.nanos()));
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        sql.push_str(
            " AND instr(lower(rule_title || ' ' || fields || ' ' || coalesce(command_line, '') \
             || ' ' || coalesce(process_name, '') || ' ' || coalesce(host, '') || ' ' \
             || coalesce(user_name, '')), lower(?)) > 0",
        );
        args.push(SqlValue::Text(text.to_owned()));
    }
    (sql, args)
}

impl DetectionStore {
    /// Open (creating it if needed) the database at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<DetectionStore, DetectionsError> {
        let open_err = |source| DetectionsError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "detection database is not in WAL mode");
        }
        configure(&conn)?;
        migrate(&mut conn)?;
        Ok(DetectionStore {
            path: path.to_owned(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on a read connection from the pool.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, DetectionsError>,
    ) -> Result<T, DetectionsError> {
        let conn = match self.readers.lock().pop() {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|source| DetectionsError::Open {
                    path: self.path.clone(),
                    source,
                })?;
                configure(&c)?;
                c
            }
        };
        let out = f(&conn);
        let mut idle = self.readers.lock();
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    /// Write `detections` and record that the stream consumer `consumer` has handled
    /// every event up to `seq`, in one transaction. A rule detection already stored for
    /// the same event and rule is skipped. Returns how many were new.
    pub fn insert_batch(
        &self,
        detections: &[(u64, DetectionData)],
        consumer: &str,
        seq: u64,
    ) -> Result<usize, DetectionsError> {
        self.write_batch(&BatchWrite {
            detections,
            consumer,
            seq: Some(seq),
            state: &[],
            triage: TriageWrite::Follow,
        })
        .map(|w| w.inserted)
    }

    /// Write one batch in one transaction: its detections, the consumer position (when
    /// `seq` is set), the engines' state and triage's position (see [`TriageWrite`]).
    pub(crate) fn write_batch(
        &self,
        batch: &BatchWrite<'_>,
    ) -> Result<BatchWritten, DetectionsError> {
        let now = Timestamp::now().nanos();
        let mut conn = self.writer.lock();
        let tx = conn
            .transaction()
            .map_err(DetectionsError::sql("starting a detection batch"))?;
        let mut inserted = 0;
        let mut last_id = None;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO detections (kind, rule_id, rule_title, level, \
                     level_rank, tags, event_id, event_time, tenant, host, user_name, source_ip, \
                     destination_ip, process_name, command_line, file_hash, fields, group_values, \
                     window_start, window_end, value, score, event_ids, seq, created) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .map_err(DetectionsError::sql("preparing the detection insert"))?;
            for (event_seq, d) in batch.detections {
                let json = |v: serde_json::Result<String>| v.unwrap_or_else(|_| "[]".to_owned());
                let tags = json(serde_json::to_string(&d.tags));
                let fields = serde_json::Value::Object(d.fields.clone()).to_string();
                let n = stmt
                    .execute(params![
                        d.kind.as_str(),
                        d.rule_id,
                        d.rule_title,
                        d.level,
                        i64::from(level_rank(&d.level)),
                        tags,
                        d.event_id.map(|e| e.to_string()),
                        d.event_time.nanos(),
                        d.tenant,
                        d.host,
                        d.user,
                        d.source_ip,
                        d.destination_ip,
                        d.process_name,
                        d.command_line,
                        d.file_hash,
                        fields,
                        json(serde_json::to_string(&d.group)),
                        d.window_start.map(Timestamp::nanos),
                        d.window_end.map(Timestamp::nanos),
                        d.value,
                        d.score,
                        json(serde_json::to_string(&d.event_ids)),
                        *event_seq as i64,
                        now,
                    ])
                    .map_err(DetectionsError::sql("inserting a detection"))?;
                if n > 0 {
                    inserted += n;
                    last_id = Some(tx.last_insert_rowid());
                }
            }
            if let Some(seq) = batch.seq {
                tx.execute(
                    "INSERT INTO consumer_state (name, seq, updated) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, updated = excluded.updated",
                    params![batch.consumer, seq as i64, now],
                )
                .map_err(DetectionsError::sql("recording the consumer position"))?;
            }
            let state_seq = batch.seq.map_or(-1, |s| s as i64);
            for (name, data) in batch.state {
                crate::state::put_engine_state(&tx, name, data, state_seq, now)?;
            }
            crate::state::write_triage(&tx, &batch.triage, last_id, now)?;
        }
        tx.commit()
            .map_err(DetectionsError::sql("committing a detection batch"))?;
        Ok(BatchWritten { inserted, last_id })
    }

    /// The last event sequence number recorded for `consumer` (0 when none).
    pub fn consumer_seq(&self, consumer: &str) -> Result<u64, DetectionsError> {
        let conn = self.writer.lock();
        let seq: Option<i64> = conn
            .query_row(
                "SELECT seq FROM consumer_state WHERE name = ?",
                [consumer],
                |r| r.get(0),
            )
            .optional()
            .map_err(DetectionsError::sql("reading the consumer position"))?;
        Ok(seq.map_or(0, |s| s.max(0) as u64))
    }

    /// Forget the position of `consumer` (its event stream was reset).
    pub fn reset_consumer(&self, consumer: &str) -> Result<(), DetectionsError> {
        self.writer
            .lock()
            .execute("DELETE FROM consumer_state WHERE name = ?", [consumer])
            .map_err(DetectionsError::sql("resetting the consumer position"))?;
        Ok(())
    }

    /// Detections matching `q`, newest event first, one page of at most `q.limit`.
    pub fn list(&self, q: &DetectionQuery) -> Result<DetectionPage, DetectionsError> {
        let (filter, args) = where_clause(q);
        self.read(|conn| {
            let total: i64 = conn
                .query_row(
                    &format!("SELECT COUNT(*) FROM detections{filter}"),
                    params_from_iter(args.iter()),
                    |r| r.get(0),
                )
                .map_err(DetectionsError::sql("counting detections"))?;
            let mut sql = format!("SELECT {COLUMNS} FROM detections{filter}");
            let mut page_args = args.clone();
            if let Some(c) = q.after {
                sql.push_str(" AND (event_time < ? OR (event_time = ? AND id < ?))");
                page_args.extend([
                    SqlValue::Integer(c.event_time),
                    SqlValue::Integer(c.event_time),
                    SqlValue::Integer(c.id),
                ]);
            }
            sql.push_str(" ORDER BY event_time DESC, id DESC LIMIT ?");
            // One more than asked tells whether another page follows.
            page_args.push(SqlValue::Integer(q.limit as i64 + 1));
            let mut stmt = conn
                .prepare(&sql)
                .map_err(DetectionsError::sql("preparing the detection listing"))?;
            let mut detections = stmt
                .query_map(params_from_iter(page_args.iter()), row_to_detection)
                .map_err(DetectionsError::sql("listing detections"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(DetectionsError::sql("reading a detection"))?;
            let next_cursor = if detections.len() > q.limit {
                detections.truncate(q.limit);
                detections.last().map(|d| {
                    Cursor {
                        event_time: d.data.event_time.nanos(),
                        id: d.id,
                    }
                    .to_string()
                })
            } else {
                None
            };
            Ok(DetectionPage {
                total: total.max(0) as u64,
                detections,
                next_cursor,
            })
        })
    }

    /// One detection by id, when it exists and belongs to `tenant` (any tenant when `None`).
    pub fn get(&self, id: i64, tenant: Option<&str>) -> Result<Option<Detection>, DetectionsError> {
        self.read(|conn| {
            let found = conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM detections WHERE id = ?"),
                    [id],
                    row_to_detection,
                )
                .optional()
                .map_err(DetectionsError::sql("reading a detection"))?;
            Ok(found.filter(|d| tenant.is_none_or(|t| d.data.tenant == t)))
        })
    }

    /// How many detections match `q`, per rule (most first) and per level.
    pub fn counts(&self, q: &DetectionQuery) -> Result<DetectionCounts, DetectionsError> {
        let (filter, args) = where_clause(q);
        self.read(|conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT rule_id, MAX(rule_title), MAX(level), COUNT(*) AS n \
                     FROM detections{filter} GROUP BY rule_id ORDER BY n DESC, rule_id"
                ))
                .map_err(DetectionsError::sql("preparing the per-rule count"))?;
            let by_rule = stmt
                .query_map(params_from_iter(args.iter()), |r| {
                    Ok(RuleCount {
                        rule_id: r.get(0)?,
                        rule_title: r.get(1)?,
                        level: r.get(2)?,
                        count: r.get::<_, i64>(3)?.max(0) as u64,
                    })
                })
                .map_err(DetectionsError::sql("counting detections per rule"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(DetectionsError::sql("reading a per-rule count"))?;
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT level, COUNT(*) FROM detections{filter} \
                     GROUP BY level ORDER BY MAX(level_rank) DESC"
                ))
                .map_err(DetectionsError::sql("preparing the per-level count"))?;
            let by_level = stmt
                .query_map(params_from_iter(args.iter()), |r| {
                    Ok(LevelCount {
                        level: r.get(0)?,
                        count: r.get::<_, i64>(1)?.max(0) as u64,
                    })
                })
                .map_err(DetectionsError::sql("counting detections per level"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(DetectionsError::sql("reading a per-level count"))?;
            Ok(DetectionCounts {
                total: by_level.iter().map(|l| l.count).sum(),
                by_rule,
                by_level,
            })
        })
    }

    /// Every stored detection, all tenants.
    pub fn total(&self) -> Result<u64, DetectionsError> {
        self.read(|conn| {
            conn.query_row("SELECT COUNT(*) FROM detections", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .map_err(DetectionsError::sql("counting detections"))
        })
    }

    /// Delete detections stored before `cutoff` (nanoseconds), oldest first, in batches of
    /// `batch` rows, never one triage has not taken yet. Returns how many went.
    ///
    /// `created` grows with `id`, so the rows to delete are the table's first ones: each
    /// round looks at the next `batch` rows by id only, and a round that deletes fewer than
    /// that has reached the first row to keep — nothing to delete reads one batch, not the
    /// whole table.
    pub fn prune(&self, cutoff: i64, batch: usize) -> Result<u64, DetectionsError> {
        let mut total = 0u64;
        loop {
            let n = self
                .writer
                .lock()
                .execute(
                    "DELETE FROM detections WHERE id IN (SELECT id FROM (SELECT id, created \
                     FROM detections WHERE id <= COALESCE((SELECT done_id FROM triage_state \
                     WHERE id = 1), 9223372036854775807) ORDER BY id LIMIT ?2) \
                     WHERE created < ?1)",
                    params![cutoff, batch as i64],
                )
                .map_err(DetectionsError::sql("deleting old detections"))?;
            total += n as u64;
            if n < batch {
                return Ok(total);
            }
        }
    }

    /// Record whether `rule_id` runs, who decided and why.
    pub fn set_rule_state(&self, state: &RuleState) -> Result<(), DetectionsError> {
        self.writer
            .lock()
            .execute(
                "INSERT INTO rule_state (rule_id, enabled, actor, reason, changed) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(rule_id) DO UPDATE SET \
                 enabled = excluded.enabled, actor = excluded.actor, \
                 reason = excluded.reason, changed = excluded.changed",
                params![
                    state.rule_id,
                    state.enabled,
                    state.actor,
                    state.reason,
                    state.changed.nanos()
                ],
            )
            .map_err(DetectionsError::sql("recording a rule state"))?;
        Ok(())
    }

    /// Every recorded rule state, by rule id.
    pub fn rule_states(&self) -> Result<HashMap<String, RuleState>, DetectionsError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare("SELECT rule_id, enabled, actor, reason, changed FROM rule_state")
                .map_err(DetectionsError::sql("preparing the rule state query"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(RuleState {
                        rule_id: r.get(0)?,
                        enabled: r.get(1)?,
                        actor: r.get(2)?,
                        reason: r.get(3)?,
                        changed: Timestamp::from_nanos(r.get(4)?),
                    })
                })
                .map_err(DetectionsError::sql("reading rule states"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(DetectionsError::sql("reading a rule state"))?;
            Ok(rows.into_iter().map(|s| (s.rule_id.clone(), s)).collect())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn det(rule: &str, level: &str, host: &str, secs: i64, tenant: &str) -> DetectionData {
        DetectionData {
            kind: DetectionKind::Rule,
            rule_id: rule.into(),
            rule_title: format!("Title of {rule}"),
            level: level.into(),
            tags: vec!["attack.execution".into()],
            event_id: Some(EventId::new()),
            event_time: Timestamp::from_secs(secs),
            tenant: tenant.into(),
            host: Some(host.into()),
            user: Some("bob".into()),
            source_ip: None,
            destination_ip: None,
            process_name: None,
            command_line: Some(format!("run {rule}")),
            file_hash: None,
            fields: Map::new(),
            group: Vec::new(),
            window_start: None,
            window_end: None,
            value: None,
            score: None,
            event_ids: Vec::new(),
        }
    }

    fn store() -> (tempfile::TempDir, DetectionStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = DetectionStore::open(&dir.path().join("detections.db")).unwrap();
        (dir, store)
    }

    fn ids(page: &DetectionPage) -> Vec<&str> {
        page.detections
            .iter()
            .map(|d| d.data.rule_id.as_str())
            .collect()
    }

    #[test]
    fn prune_deletes_old_detections_but_not_untriaged_ones() {
        let (_dir, s) = store();
        let batch: Vec<(u64, DetectionData)> = (1..=5)
            .map(|i| (i, det(&format!("r{i}"), "low", "h", i as i64, "default")))
            .collect();
        assert_eq!(s.insert_batch(&batch, "detection", 5).unwrap(), 5);
        // Nothing was stored before the epoch.
        assert_eq!(s.prune(0, 2).unwrap(), 0);
        // Triage has taken detections up to id 3: only those may go.
        s.writer
            .lock()
            .execute(
                "INSERT INTO triage_state (id, done_id, updated) VALUES (1, 3, 0) \
                 ON CONFLICT(id) DO UPDATE SET done_id = 3",
                [],
            )
            .unwrap();
        let future = Timestamp::now().nanos() + 1_000_000_000;
        assert_eq!(s.prune(future, 2).unwrap(), 3, "batches of 2 until done");
        assert_eq!(s.total().unwrap(), 2);
        s.writer
            .lock()
            .execute("UPDATE triage_state SET done_id = 5", [])
            .unwrap();
        assert_eq!(s.prune(future, 2).unwrap(), 2);
        assert_eq!(s.total().unwrap(), 0);
    }

    #[test]
    fn filters_select_what_they_say() {
        let (_dir, s) = store();
        let batch: Vec<(u64, DetectionData)> = vec![
            (1, det("a", "low", "web01", 100, "default")),
            (2, det("b", "high", "WEB01", 200, "default")),
            (3, det("c", "critical", "db01", 300, "acme")),
            (4, det("d", "medium", "db01", 400, "default")),
        ];
        assert_eq!(s.insert_batch(&batch, "detection", 4).unwrap(), 4);
        let q = |f: &dyn Fn(&mut DetectionQuery)| {
            let mut q = DetectionQuery {
                limit: 10,
                ..Default::default()
            };
            f(&mut q);
            s.list(&q).unwrap()
        };
        type Case = (&'static str, fn(&mut DetectionQuery), Vec<&'static str>);
        let cases: Vec<Case> = vec![
            ("all, newest first", |_| {}, vec!["d", "c", "b", "a"]),
            (
                "level high or above",
                |q| q.min_level = Some(4),
                vec!["c", "b"],
            ),
            (
                "host any case",
                |q| q.host = Some("web01".into()),
                vec!["b", "a"],
            ),
            ("tenant", |q| q.tenant = Some("acme".into()), vec!["c"]),
            ("rule", |q| q.rule_id = Some("d".into()), vec!["d"]),
            (
                "time range",
                |q| {
                    q.from = Some(Timestamp::from_secs(200));
                    q.to = Some(Timestamp::from_secs(400));
                },
                vec!["c", "b"],
            ),
            (
                "text in title",
                |q| q.text = Some("TITLE OF C".into()),
                vec!["c"],
            ),
            (
                "text in command line",
                |q| q.text = Some("RUN D".into()),
                vec!["d"],
            ),
        ];
        for (name, f, expected) in cases {
            assert_eq!(ids(&q(&f)), expected, "{name}");
        }
    }

    #[test]
    fn pages_follow_the_cursor_without_gaps_or_repeats() {
        let (_dir, s) = store();
        // Equal event times: the id breaks the tie.
        let batch: Vec<(u64, DetectionData)> = (0..7)
            .map(|i| {
                (
                    i,
                    det(&format!("r{i}"), "high", "h", 100 + (i as i64 / 3), "t"),
                )
            })
            .collect();
        s.insert_batch(&batch, "detection", 7).unwrap();
        let mut q = DetectionQuery {
            limit: 3,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = s.list(&q).unwrap();
            assert_eq!(page.total, 7);
            seen.extend(page.detections.iter().map(|d| d.id));
            match page.next_cursor {
                Some(c) => q.after = Some(c.parse().unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, vec![7, 6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn batch_records_consumer_position_and_skips_repeats() {
        let (dir, s) = store();
        let d = det("a", "high", "h", 1, "t");
        assert_eq!(s.consumer_seq("detection").unwrap(), 0);
        assert_eq!(
            s.insert_batch(&[(5, d.clone())], "detection", 9).unwrap(),
            1
        );
        // The same event and rule again (a replayed batch) is not stored twice.
        assert_eq!(s.insert_batch(&[(5, d)], "detection", 9).unwrap(), 0);
        drop(s);
        let s = DetectionStore::open(&dir.path().join("detections.db")).unwrap();
        assert_eq!(s.consumer_seq("detection").unwrap(), 9);
        assert_eq!(s.total().unwrap(), 1);
        let got = s.get(1, Some("t")).unwrap().unwrap();
        assert_eq!(got.data.rule_id, "a");
        assert!(s.get(1, Some("other")).unwrap().is_none());
        s.reset_consumer("detection").unwrap();
        assert_eq!(s.consumer_seq("detection").unwrap(), 0);
    }

    #[test]
    fn counts_group_by_rule_and_level() {
        let (_dir, s) = store();
        let batch: Vec<(u64, DetectionData)> = vec![
            (1, det("a", "low", "h", 1, "t")),
            (2, det("a", "low", "h", 2, "t")),
            (3, det("b", "critical", "h", 3, "t")),
        ];
        s.insert_batch(&batch, "detection", 3).unwrap();
        let c = s.counts(&DetectionQuery::default()).unwrap();
        assert_eq!(c.total, 3);
        assert_eq!(
            c.by_rule
                .iter()
                .map(|r| (r.rule_id.as_str(), r.count))
                .collect::<Vec<_>>(),
            vec![("a", 2), ("b", 1)]
        );
        assert_eq!(c.by_level[0].level, "critical");
    }

    #[test]
    fn rule_state_persists_and_newer_schema_is_refused() {
        let (dir, s) = store();
        let state = RuleState {
            rule_id: "r1".into(),
            enabled: false,
            actor: "alice".into(),
            reason: Some("noisy".into()),
            changed: Timestamp::from_secs(5),
        };
        s.set_rule_state(&state).unwrap();
        s.set_rule_state(&RuleState {
            enabled: true,
            ..state.clone()
        })
        .unwrap();
        s.set_rule_state(&state).unwrap();
        assert_eq!(s.rule_states().unwrap().get("r1"), Some(&state));
        s.writer
            .lock()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        drop(s);
        let err = DetectionStore::open(&dir.path().join("detections.db"))
            .err()
            .unwrap();
        assert!(matches!(
            err,
            DetectionsError::SchemaTooNew { found: 99, .. }
        ));
    }
}
