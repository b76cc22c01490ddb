//! Tuning the fatigue controls on a running server: a change (a JSON merge patch over the
//! settings in force) is checked, kept in the database with who made it, when and why, and
//! takes effect with the next batch of signals — no restart. A reset goes back to the
//! configuration file's `[triage]` section. The last change is in force after a restart.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

use crate::config::TriageConfig;
use crate::error::SqlContext;
use crate::workflow::{check_actor, clean_note};
use crate::{Triage, TriageError};
use rampart_model::Timestamp;

/// Changes listed with the settings.
const HISTORY: usize = 20;

/// The settings in force, where they come from, and the last changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingsState {
    pub settings: TriageConfig,
    /// `file` (the configuration file's `[triage]`) or `changed` (through the API).
    pub source: &'static str,
    /// The configuration file's `[triage]` settings, which a reset goes back to.
    pub file_settings: TriageConfig,
    /// The last change or reset, when there was one.
    pub last_change: Option<SettingsChange>,
    /// The last changes, newest first.
    pub history: Vec<SettingsChange>,
}

/// One change of the settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingsChange {
    pub id: i64,
    pub time: Timestamp,
    pub actor: String,
    pub reason: Option<String>,
    /// The whole settings after the change; none for a reset to the configuration file's.
    pub settings: Option<TriageConfig>,
}

/// The settings the last change put in force, if the last change was not a reset. Settings
/// this version cannot read (written by a newer one) are left for the file's, with a warning.
pub(crate) fn stored(conn: &Connection) -> Result<Option<TriageConfig>, TriageError> {
    let last: Option<Option<String>> = conn
        .prepare_cached("SELECT settings FROM settings_changes ORDER BY id DESC LIMIT 1")
        .ctx("prepare a settings read")?
        .query_row([], |r| r.get(0))
        .optional()
        .ctx("read the settings in force")?;
    let Some(Some(text)) = last else {
        return Ok(None);
    };
    match serde_json::from_str::<TriageConfig>(&text) {
        Ok(cfg) if cfg.validate().is_ok() => Ok(Some(cfg)),
        Ok(_) | Err(_) => {
            tracing::warn!(
                "the triage settings last changed through the API cannot be used by this \
                 version; the configuration file's [triage] section is in force"
            );
            Ok(None)
        }
    }
}

/// RFC 7396 JSON merge patch: objects merge key by key, `null` removes, anything else
/// replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

impl Triage {
    /// The settings in force, their source and the last changes.
    pub fn settings_state(&self) -> Result<SettingsState, TriageError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, time, actor, reason, settings FROM settings_changes \
                 ORDER BY id DESC LIMIT ?1",
            )
            .ctx("prepare a settings history read")?;
        let rows = stmt
            .query_map([HISTORY as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .ctx("read the settings history")?;
        let mut history = Vec::new();
        for row in rows {
            let (id, time, actor, reason, settings) = row.ctx("read the settings history")?;
            history.push(SettingsChange {
                id,
                time: Timestamp(time),
                actor,
                reason,
                settings: settings.and_then(|s| serde_json::from_str(&s).ok()),
            });
        }
        let settings = (*self.settings()).clone();
        let source = if settings == self.file_config
            && history.first().is_none_or(|c| c.settings.is_none())
        {
            "file"
        } else {
            "changed"
        };
        Ok(SettingsState {
            settings,
            source,
            file_settings: self.file_config.clone(),
            last_change: history.first().cloned(),
            history,
        })
    }

    /// Change the settings by `patch`, a JSON merge patch over the settings in force
    /// (`{"risk": {"threshold": 150}}`), in effect from the next batch of signals. Refused
    /// with the reason when the result is not valid settings (an unknown key, a wrong
    /// type, a zero window on an enabled control).
    pub fn update_settings(
        &self,
        patch: &Value,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<SettingsState, TriageError> {
        check_actor(actor)?;
        if !patch.is_object() {
            return Err(TriageError::Invalid(
                "settings change: expected a JSON object of the settings to change".into(),
            ));
        }
        // The connection is held from the read to the swap, so two changes made at once
        // both count: the second applies over the first.
        let conn = self.conn.lock();
        let mut merged = serde_json::to_value(&*self.settings())
            .map_err(|e| TriageError::Invalid(format!("settings: {e}")))?;
        merge_patch(&mut merged, patch);
        let next: TriageConfig = serde_json::from_value(merged)
            .map_err(|e| TriageError::Invalid(format!("settings change: {e}")))?;
        next.validate().map_err(|e| match e {
            TriageError::Config(msg) => TriageError::Invalid(format!("settings change: {msg}")),
            other => other,
        })?;
        let text = serde_json::to_string(&next)
            .map_err(|e| TriageError::Invalid(format!("settings: {e}")))?;
        self.record_change(&conn, actor, reason, Some(&text), next)?;
        drop(conn);
        self.settings_state()
    }

    /// Go back to the configuration file's `[triage]` settings.
    pub fn reset_settings(
        &self,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<SettingsState, TriageError> {
        check_actor(actor)?;
        let conn = self.conn.lock();
        self.record_change(&conn, actor, reason, None, self.file_config.clone())?;
        drop(conn);
        self.settings_state()
    }

    /// Record a change on `conn` (the locked connection) and put `next` in force.
    fn record_change(
        &self,
        conn: &Connection,
        actor: &str,
        reason: Option<&str>,
        text: Option<&str>,
        next: TriageConfig,
    ) -> Result<(), TriageError> {
        let now = self.now();
        conn.prepare_cached(
            "INSERT INTO settings_changes (time, actor, reason, settings) VALUES (?1, ?2, ?3, ?4)",
        )
        .ctx("prepare a settings change")?
        .execute(params![now.0, actor, clean_note(reason), text])
        .ctx("record a settings change")?;
        // Swapped while the connection is held: a batch sees the old settings or the new
        // ones, never a change recorded but not in force.
        *self.config.write() = Arc::new(next);
        tracing::info!(actor, "triage settings changed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{at, detection};
    use crate::{AlertQuery, Level, SignalSource};
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
        merge_patch(
            &mut doc,
            &json!({"a": {"b": null, "c": [3]}, "e": {"f": 1}}),
        );
        assert_eq!(doc, json!({"a": {"c": [3]}, "d": "x", "e": {"f": 1}}));
    }

    #[test]
    fn a_settings_change_applies_at_once_is_kept_and_can_be_reset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("triage.db");
        let triage = Triage::open(&path, TriageConfig::default())
            .expect("open")
            .with_clock(|| at(0));
        let state = triage.settings_state().expect("state");
        assert_eq!((state.source, state.history.len()), ("file", 0));

        // Refused, with the reason, and nothing changes.
        for (patch, why) in [
            (json!({"risk": {"threshold": 0}}), "threshold"),
            (json!({"risk": {"treshold": 5}}), "unknown field `treshold`"),
            (json!({"dedup": {"window_secs": "soon"}}), "invalid type"),
            (json!([1]), "JSON object"),
        ] {
            let err = triage
                .update_settings(&patch, "eve", None)
                .expect_err("refused");
            assert!(
                matches!(err, TriageError::Invalid(_)) && err.to_string().contains(why),
                "{patch}: {err}"
            );
        }
        assert_eq!(*triage.settings(), TriageConfig::default());

        // Risk alerts off: three high detections on one host (3 × 40 > 100) raise none.
        let state = triage
            .update_settings(
                &json!({"risk": {"enabled": false}, "grouping": {"window_secs": 600}}),
                "eve",
                Some("risk alerts reviewed weekly instead"),
            )
            .expect("change");
        assert_eq!(state.source, "changed");
        assert!(!state.settings.risk.enabled);
        assert_eq!(state.settings.grouping.window_secs, 600);
        assert_eq!(
            state.settings.dedup,
            TriageConfig::default().dedup,
            "untouched sections stay"
        );
        let change = state.last_change.expect("recorded");
        assert_eq!(
            (change.actor.as_str(), change.reason.as_deref()),
            ("eve", Some("risk alerts reviewed weekly instead"))
        );
        let highs = |host: &str, t: i64| {
            (1..=3)
                .map(|n| detection(&format!("h{n}"), Level::High, at(t), host, "system"))
                .collect::<Vec<_>>()
        };
        let report = triage.process(highs("ws01", 0)).expect("process");
        assert!(report.risk_alerts.is_empty(), "{report:?}");

        // Kept across a restart, whatever the file says.
        drop(triage);
        let triage = Triage::open(&path, TriageConfig::default())
            .expect("reopen")
            .with_clock(|| at(0));
        assert!(!triage.settings().risk.enabled);
        assert_eq!(triage.settings_state().expect("state").source, "changed");

        // Reset: the file's settings again, risk alerts back.
        let state = triage
            .reset_settings("eve", Some("back to the file"))
            .expect("reset");
        assert_eq!(state.source, "file");
        assert_eq!(state.settings, TriageConfig::default());
        assert_eq!(state.history.len(), 2);
        assert!(state.history[0].settings.is_none());
        triage.process(highs("ws02", 10)).expect("process");
        let risk = triage
            .list(&AlertQuery {
                source: Some(SignalSource::Risk),
                limit: 10,
                ..Default::default()
            })
            .expect("list");
        assert_eq!(risk.total, 1, "{risk:?}");
        drop(triage);
        let triage = Triage::open(&path, TriageConfig::default()).expect("reopen");
        assert!(triage.settings().risk.enabled);
    }
}
