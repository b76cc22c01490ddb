//! The SQLite file: opening it (WAL), its schema and the `user_version` migrations.

use rusqlite::Connection;
use std::path::Path;

use crate::TriageError;
use crate::error::SqlContext;

/// Schema steps; step `i` brings the file from `user_version` `i` to `i + 1`. Append only.
///
/// Step 2 makes the two per-signal lookups read only what they need: a group's entities
/// carry (a lower bound of) the group's last sighting, so finding the active group of an
/// entity reads that entity's recent groups instead of every group it was ever in (which
/// grew without bound on a busy host); and the risk index covers the risk sum, so it no
/// longer reads each risk event's row.
///
/// Step 3 lets a group be merged into another (an alert related to both joins them): the
/// merged group's row stays, pointing at the group that took its alerts, so its id still
/// leads somewhere.
///
/// Step 6 lets an analyst undo grouping: each alert remembers the group it was placed in
/// (`origin_group`, moved with it when an analyst moves it), so a merge can be undone by
/// sending those alerts back; groups an analyst separated are recorded as kept apart, so
/// a later alert related to both does not join them again.
///
/// Step 7 keeps the settings changed through the API, each change a row (who, when, why,
/// the whole settings; none when reset to the configuration file's): the last row is the
/// settings in force.
///
/// Step 8 keeps, per entity and rule, the rule's risk and latest sighting (`risk_rules`),
/// so an entity's score (one rule counted once) reads its rules, not every risk event in
/// the window: on a host with thousands of alerts a day the per-signal score had become
/// the whole cost of triage.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    source TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    level INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    risk INTEGER NOT NULL,
    tags TEXT NOT NULL,
    entities TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL,
    disposition TEXT,
    assignee TEXT,
    group_id INTEGER,
    count INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    event_ids TEXT NOT NULL,
    summary TEXT NOT NULL,
    fields TEXT NOT NULL,
    details TEXT
);
CREATE INDEX alerts_dedup ON alerts(dedup_key, status, first_seen);
CREATE INDEX alerts_last_seen ON alerts(tenant, last_seen);
CREATE INDEX alerts_group ON alerts(group_id);
CREATE INDEX alerts_rule ON alerts(rule_id);
CREATE TABLE alert_entities (
    alert_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (alert_id, kind, value)
) WITHOUT ROWID;
CREATE INDEX alert_entities_value ON alert_entities(value, kind);
CREATE TABLE alert_history (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    assignee TEXT,
    disposition TEXT,
    note TEXT
);
CREATE INDEX alert_history_alert ON alert_history(alert_id);
CREATE TABLE alert_groups (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    title TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    max_level INTEGER NOT NULL,
    max_priority INTEGER NOT NULL,
    alert_count INTEGER NOT NULL,
    tactics TEXT NOT NULL,
    tactic_max INTEGER,
    created INTEGER NOT NULL
);
CREATE INDEX alert_groups_last_seen ON alert_groups(tenant, last_seen);
CREATE TABLE group_entities (
    group_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (group_id, kind, value)
) WITHOUT ROWID;
CREATE INDEX group_entities_value ON group_entities(kind, value);
CREATE TABLE suppressions (
    id INTEGER PRIMARY KEY,
    tenant TEXT,
    rule_id TEXT,
    conditions TEXT NOT NULL,
    author TEXT NOT NULL,
    reason TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER,
    revoked INTEGER,
    revoked_by TEXT,
    hits INTEGER NOT NULL DEFAULT 0,
    last_hit INTEGER
);
CREATE TABLE risk_events (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    risk INTEGER NOT NULL,
    time INTEGER NOT NULL,
    alert_id INTEGER,
    tags TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX risk_events_entity ON risk_events(tenant, kind, value, time);
CREATE INDEX risk_events_time ON risk_events(time);
CREATE TABLE rule_stats (
    tenant TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    raised INTEGER NOT NULL DEFAULT 0,
    deduplicated INTEGER NOT NULL DEFAULT 0,
    suppressed INTEGER NOT NULL DEFAULT 0,
    true_positive INTEGER NOT NULL DEFAULT 0,
    benign_true_positive INTEGER NOT NULL DEFAULT 0,
    false_positive INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER,
    PRIMARY KEY (tenant, rule_id)
);
"#,
    r#"
ALTER TABLE group_entities ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alert_groups ADD COLUMN entities_seen INTEGER NOT NULL DEFAULT 0;
UPDATE group_entities SET last_seen =
    COALESCE((SELECT g.last_seen FROM alert_groups g WHERE g.id = group_entities.group_id), 0);
UPDATE alert_groups SET entities_seen = last_seen;
DROP INDEX group_entities_value;
CREATE INDEX group_entities_recent ON group_entities(kind, value, last_seen);
DROP INDEX risk_events_entity;
CREATE INDEX risk_events_entity ON risk_events(tenant, kind, value, time, rule_id, risk);
"#,
    r#"
ALTER TABLE alert_groups ADD COLUMN merged_into INTEGER;
"#,
    r#"
CREATE TABLE suppressed_signals (
    id INTEGER PRIMARY KEY,
    suppression_id INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    time INTEGER NOT NULL,
    recorded INTEGER NOT NULL,
    source TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    level INTEGER NOT NULL,
    entities TEXT NOT NULL,
    event_ids TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX suppressed_signals_by ON suppressed_signals(suppression_id, id);
"#,
    r#"
ALTER TABLE alert_groups ADD COLUMN title_set_by TEXT;
"#,
    r#"
ALTER TABLE alerts ADD COLUMN origin_group INTEGER;
UPDATE alerts SET origin_group = group_id;
CREATE INDEX alert_groups_merged ON alert_groups(merged_into) WHERE merged_into IS NOT NULL;
CREATE TABLE groups_apart (
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    actor TEXT NOT NULL,
    time INTEGER NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;
CREATE INDEX groups_apart_b ON groups_apart(b);
"#,
    r#"
CREATE TABLE settings_changes (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    settings TEXT
);
"#,
    r#"
CREATE TABLE risk_rules (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    risk INTEGER NOT NULL,
    last_time INTEGER NOT NULL,
    PRIMARY KEY (tenant, kind, value, rule_id)
) WITHOUT ROWID;
INSERT INTO risk_rules (tenant, kind, value, rule_id, risk, last_time)
    SELECT tenant, kind, value, rule_id, MAX(risk), MAX(time) FROM risk_events
    GROUP BY tenant, kind, value, rule_id;
CREATE INDEX risk_rules_time ON risk_rules(last_time);
"#,
];

/// Open (or create) the database at `path` and bring its schema up to date.
/// Prepared statements kept per connection: more than the distinct statements of any
/// processing path, so none is parsed again per signal.
pub(crate) const STATEMENT_CACHE: usize = 256;

pub(crate) fn open(path: &Path) -> Result<Connection, TriageError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| TriageError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let mut conn = Connection::open(path).ctx("open")?;
    // Processing a signal runs a few dozen distinct statements; with rusqlite's default
    // cache of 16 they evicted each other and every signal re-parsed its SQL.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Without the query planner stability guarantee SQLite marks statements whose plan
    // could depend on a bound value (aggregates, `?1 IS NULL OR …`) to be compiled again
    // whenever that value changes: nearly every cached statement of a signal was re-parsed
    // and re-planned. The plans chosen without the values are the ones we index for.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .ctx("enable the query planner stability guarantee")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .ctx("set the busy timeout")?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .ctx("switch to WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .ctx("set synchronous")?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), TriageError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx("read the schema version")?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(TriageError::NewerSchema {
            found: version,
            known,
        });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction().ctx("begin a migration")?;
        tx.execute_batch(sql).ctx("migrate the schema")?;
        tx.pragma_update(None, "user_version", step as i64 + 1)
            .ctx("record the schema version")?;
        tx.commit().ctx("commit a migration")?;
    }
    Ok(())
}

/// Decode a JSON column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, TriageError> {
    serde_json::from_str(text).map_err(|e| TriageError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// Encode a value for a JSON column (the crate's own types always serialise).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_newer_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("triage.db");
        drop(open(&path).expect("create"));
        let conn = open(&path).expect("reopen");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "user_version", 99).expect("bump");
        drop(conn);
        let err = open(&path).expect_err("newer schema");
        assert!(err.to_string().contains("99"), "{err}");
    }

    #[test]
    fn cached_statements_are_not_compiled_again_when_their_values_change() {
        // The shape of the risk sum and the rule noise: an aggregate whose plan SQLite
        // would otherwise re-derive from each new bound value (RePrepare counts that).
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open(&dir.path().join("triage.db")).expect("open");
        let sql = "SELECT COALESCE(SUM(r), 0) FROM (SELECT MAX(risk) r FROM risk_events \
                   WHERE tenant = ?1 AND kind = ?2 AND value = ?3 AND time > ?4 AND time <= ?5 \
                   GROUP BY rule_id)";
        for i in 0..4i64 {
            let mut stmt = conn.prepare_cached(sql).expect("prepare");
            let sum: i64 = stmt
                .query_row(
                    rusqlite::params!["default", "host", format!("ws{i}"), i, i + 100],
                    |r| r.get(0),
                )
                .expect("query");
            assert_eq!(sum, 0);
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "run {i}"
            );
        }
    }

    #[test]
    fn risk_recorded_before_the_rule_table_is_carried_into_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("triage.db");
        {
            let conn = Connection::open(&path).expect("open");
            for step in &MIGRATIONS[..7] {
                conn.execute_batch(step).expect("old schema");
            }
            conn.pragma_update(None, "user_version", 7).expect("mark");
            conn.execute_batch(
                "INSERT INTO risk_events (tenant, kind, value, rule_id, rule_title, risk, time) VALUES \
                 ('default', 'host', 'ws01', 'r1', 'R1', 40, 100), \
                 ('default', 'host', 'ws01', 'r1', 'R1', 60, 50), \
                 ('default', 'host', 'ws01', 'r2', 'R2', 15, 70);",
            )
            .expect("data");
        }
        let conn = open(&path).expect("migrate");
        let rows: Vec<(String, i64, i64)> = conn
            .prepare("SELECT rule_id, risk, last_time FROM risk_rules ORDER BY rule_id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            [("r1".to_owned(), 60, 100), ("r2".to_owned(), 15, 70)]
        );
    }

    #[test]
    fn a_first_version_file_keeps_its_groups_findable_after_migrating() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("triage.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(MIGRATIONS[0]).expect("version 1");
            conn.pragma_update(None, "user_version", 1).expect("mark");
            conn.execute_batch(
                "INSERT INTO alert_groups (id, tenant, title, first_seen, last_seen, max_level, \
                 max_priority, alert_count, tactics, created) \
                 VALUES (7, 'default', 't', 100, 5000, 2, 50, 3, '[]', 1);
                 INSERT INTO group_entities VALUES (7, 'user', 'alice'), (7, 'host', 'ws01');",
            )
            .expect("data");
        }
        let conn = open(&path).expect("migrate");
        let seen: Vec<(String, i64)> = conn
            .prepare(
                "SELECT value, last_seen FROM group_entities WHERE group_id = 7 ORDER BY value",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            seen,
            [("alice".to_owned(), 5000), ("ws01".to_owned(), 5000)]
        );
        let marked: i64 = conn
            .query_row(
                "SELECT entities_seen FROM alert_groups WHERE id = 7",
                [],
                |r| r.get(0),
            )
            .expect("group");
        assert_eq!(marked, 5000);
    }
}
