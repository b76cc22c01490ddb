//! The schema of `detections.db` and its migrations by `user_version`.

use rusqlite::Connection;

use crate::error::DetectionsError;

/// Schema migrations; `user_version` is the number applied so far.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE detections (
    id             INTEGER PRIMARY KEY,
    rule_id        TEXT NOT NULL,
    rule_title     TEXT NOT NULL,
    level          TEXT NOT NULL,
    level_rank     INTEGER NOT NULL,
    tags           TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    event_time     INTEGER NOT NULL,
    tenant         TEXT NOT NULL,
    host           TEXT COLLATE NOCASE,
    user_name      TEXT COLLATE NOCASE,
    source_ip      TEXT,
    destination_ip TEXT,
    process_name   TEXT,
    command_line   TEXT,
    file_hash      TEXT,
    fields         TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    created        INTEGER NOT NULL
);
CREATE UNIQUE INDEX detections_event_rule ON detections(event_id, rule_id);
CREATE INDEX detections_time ON detections(event_time, id);
CREATE INDEX detections_rule ON detections(rule_id, event_time);
CREATE INDEX detections_tenant ON detections(tenant, event_time);
CREATE INDEX detections_level ON detections(level_rank, event_time);
CREATE INDEX detections_host ON detections(host, event_time);
CREATE INDEX detections_user ON detections(user_name, event_time);
CREATE TABLE rule_state (
    rule_id TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    reason  TEXT,
    changed INTEGER NOT NULL
);
CREATE TABLE consumer_state (
    name    TEXT PRIMARY KEY,
    seq     INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
"#,
    // 2: correlation and baseline detections (kind, group, window, value, score,
    // contributing events; no single event for a bucket closed by the clock), ids never
    // reused (triage's position is a detection id), engine state and triage's position.
    r#"
CREATE TABLE detections_v2 (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT NOT NULL DEFAULT 'rule',
    rule_id        TEXT NOT NULL,
    rule_title     TEXT NOT NULL,
    level          TEXT NOT NULL,
    level_rank     INTEGER NOT NULL,
    tags           TEXT NOT NULL,
    event_id       TEXT,
    event_time     INTEGER NOT NULL,
    tenant         TEXT NOT NULL,
    host           TEXT COLLATE NOCASE,
    user_name      TEXT COLLATE NOCASE,
    source_ip      TEXT,
    destination_ip TEXT,
    process_name   TEXT,
    command_line   TEXT,
    file_hash      TEXT,
    fields         TEXT NOT NULL,
    group_values   TEXT NOT NULL DEFAULT '[]',
    window_start   INTEGER,
    window_end     INTEGER,
    value          REAL,
    score          REAL,
    event_ids      TEXT NOT NULL DEFAULT '[]',
    seq            INTEGER NOT NULL,
    created        INTEGER NOT NULL
);
INSERT INTO detections_v2 (id, rule_id, rule_title, level, level_rank, tags, event_id,
    event_time, tenant, host, user_name, source_ip, destination_ip, process_name,
    command_line, file_hash, fields, seq, created)
SELECT id, rule_id, rule_title, level, level_rank, tags, event_id, event_time, tenant, host,
    user_name, source_ip, destination_ip, process_name, command_line, file_hash, fields, seq,
    created FROM detections;
DROP TABLE detections;
ALTER TABLE detections_v2 RENAME TO detections;
CREATE UNIQUE INDEX detections_event_rule ON detections(event_id, rule_id) WHERE kind = 'rule';
CREATE INDEX detections_time ON detections(event_time, id);
CREATE INDEX detections_rule ON detections(rule_id, event_time);
CREATE INDEX detections_tenant ON detections(tenant, event_time);
CREATE INDEX detections_level ON detections(level_rank, event_time);
CREATE INDEX detections_host ON detections(host, event_time);
CREATE INDEX detections_user ON detections(user_name, event_time);
CREATE INDEX detections_kind ON detections(kind, event_time);
CREATE TABLE engine_state (
    name    TEXT PRIMARY KEY,
    data    BLOB NOT NULL,
    seq     INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE triage_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    done_id        INTEGER NOT NULL,
    pending_to     INTEGER,
    pending_before TEXT,
    updated        INTEGER NOT NULL
);
"#,
];

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), DetectionsError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(DetectionsError::sql("reading the schema version"))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(DetectionsError::SchemaTooNew {
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn
            .transaction()
            .map_err(DetectionsError::sql("starting a migration"))?;
        tx.execute_batch(sql)
            .map_err(DetectionsError::sql("applying a schema migration"))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(DetectionsError::sql("recording the schema version"))?;
        tx.commit()
            .map_err(DetectionsError::sql("committing a migration"))?;
    }
    Ok(())
}
