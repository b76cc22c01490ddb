//! What `detections.db` keeps besides detections: the correlation and baseline engines' snapshots and triage's position in the detections (done, and the pending range with the signal counts it started from).

use std::collections::{BTreeMap, HashMap};

use rusqlite::{OptionalExtension, Transaction, params};

use crate::db::{DetectionStore, TriageWrite, row_to_detection};
use crate::error::DetectionsError;
use crate::record::Detection;

/// How far triage has got through the detections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TriagePosition {
    /// Every detection up to this id has been triaged.
    pub done_id: i64,
    /// Detections after `done_id` up to this id are stored but maybe not triaged.
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    pub to_id: i64,
    /// Triage's signal count (raised + deduplicated + suppressed) per rule id of the
    /// pending detections, read before any of them was given to triage: after a crash,
    /// the counts tell whether triage committed them.
    pub before: BTreeMap<String, u64>,
}

pub(crate) fn put_engine_state(
    tx: &Transaction<'_>,
    name: &str,
    data: &[u8],
    seq: i64,
    now: i64,
) -> Result<(), DetectionsError> {
    tx.prepare_cached(
        "INSERT INTO engine_state (name, data, seq, updated) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT(name) DO UPDATE SET data = excluded.data, \
         seq = CASE WHEN excluded.seq < 0 THEN engine_state.seq ELSE excluded.seq END, \
         updated = excluded.updated",
    )
    .map_err(DetectionsError::sql("preparing the engine state write"))?
    .execute(params![name, data, seq, now])
    .map_err(DetectionsError::sql("writing an engine state"))?;
    Ok(())
}

/// Apply a batch's effect on triage's position, in the batch's transaction.
pub(crate) fn write_triage(
    tx: &Transaction<'_>,
    write: &TriageWrite,
    last_id: Option<i64>,
    now: i64,
) -> Result<(), DetectionsError> {
    let Some(last_id) = last_id else {
        return Ok(());
    };
    match write {
        TriageWrite::Untouched => 0,
        TriageWrite::Follow => tx
            .execute(
                "INSERT INTO triage_state (id, done_id, updated) VALUES (1, ?1, ?2) \
                 ON CONFLICT(id) DO UPDATE SET done_id = excluded.done_id, \
                 pending_to = NULL, pending_before = NULL, updated = excluded.updated",
                params![last_id, now],
            )
            .map_err(DetectionsError::sql("moving the triage position"))?,
    };
    Ok(())
}

impl DetectionStore {
    /// The engine snapshots, by name.
    pub(crate) fn engine_states(&self) -> Result<HashMap<String, Vec<u8>>, DetectionsError> {
        let conn = self.writer.lock();
        let mut stmt = conn
            .prepare("SELECT name, data FROM engine_state")
            .map_err(DetectionsError::sql("preparing the engine state read"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(DetectionsError::sql("reading engine states"))?
            .collect::<Result<HashMap<_, _>, _>>()
            .map_err(DetectionsError::sql("reading an engine state"))?;
        Ok(rows)
    }

    /// Forget the engine snapshots (the event stream was reset).
    pub(crate) fn clear_engine_states(&self) -> Result<(), DetectionsError> {
        self.writer
            .lock()
            .execute("DELETE FROM engine_state", [])
            .map_err(DetectionsError::sql("clearing the engine states"))?;
        Ok(())
    }

    /// Triage's position; on first use it starts at the newest detection (detections made
    /// before triage was enabled are not replayed into it).
    pub(crate) fn triage_position(&self) -> Result<TriagePosition, DetectionsError> {
        let conn = self.writer.lock();
        let row: Option<(i64, Option<i64>, Option<String>)> = conn
            .query_row(
                "SELECT done_id, pending_to, pending_before FROM triage_state WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(DetectionsError::sql("reading the triage position"))?;
        match row {
            Some((done_id, pending_to, before)) => Ok(TriagePosition {
                done_id,
                pending: pending_to.filter(|to| *to > done_id).map(|to_id| Pending {
                    to_id,
                    before: before
                        .and_then(|b| serde_json::from_str(&b).ok())
                        .unwrap_or_default(),
                }),
            }),
            None => {
                let newest = newest_id(&conn)?;
                conn.execute(
                    "INSERT INTO triage_state (id, done_id, updated) VALUES (1, ?1, ?2)",
                    params![newest, rampart_model::Timestamp::now().nanos()],
                )
                .map_err(DetectionsError::sql("starting the triage position"))?;
                Ok(TriagePosition {
                    done_id: newest,
                    pending: None,
                })
            }
        }
    }

    /// Mark `(done_id, to_id]` as being given to triage, with triage's signal counts per
    /// rule of the range read before (see `feed`). The position must exist
    /// ([`triage_position`](Self::triage_position) creates it).
    pub(crate) fn triage_pending(
        &self,
        to_id: i64,
        before: &BTreeMap<String, u64>,
    ) -> Result<(), DetectionsError> {
        let changed = self
            .writer
            .lock()
            .execute(
                "UPDATE triage_state SET pending_to = ?1, pending_before = ?2, updated = ?3 \
                 WHERE id = 1",
                params![
                    to_id,
                    serde_json::to_string(before).unwrap_or_else(|_| "{}".to_owned()),
                    rampart_model::Timestamp::now().nanos()
                ],
            )
            .map_err(DetectionsError::sql("recording the pending triage range"))?;
        if changed == 1 {
            Ok(())
        } else {
            // No triage position row to mark.
            Err(DetectionsError::Sql {
                context: "recording the pending triage range",
                source: rusqlite::Error::QueryReturnedNoRows,
            })
        }
    }

    /// The id of the newest detection (0 without any).
    pub(crate) fn newest_detection_id(&self) -> Result<i64, DetectionsError> {
        newest_id(&self.writer.lock())
    }

    /// Record that triage has every detection up to `id`.
    pub(crate) fn triage_done(&self, id: i64) -> Result<(), DetectionsError> {
        self.writer
            .lock()
            .execute(
                "UPDATE triage_state SET done_id = MAX(done_id, ?1), pending_to = NULL, \
                 pending_before = NULL, updated = ?2 WHERE id = 1",
                params![id, rampart_model::Timestamp::now().nanos()],
            )
            .map_err(DetectionsError::sql("recording the triage position"))?;
        Ok(())
    }

    /// Detections with `after < id <= to`, in id order.
    pub(crate) fn detections_between(
        &self,
        after: i64,
        to: i64,
    ) -> Result<Vec<Detection>, DetectionsError> {
        let conn = self.writer.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {} FROM detections WHERE id > ?1 AND id <= ?2 ORDER BY id",
                crate::db::COLUMNS
            ))
            .map_err(DetectionsError::sql(
                "preparing the pending detections read",
            ))?;
        let rows = stmt
            .query_map(params![after, to], row_to_detection)
            .map_err(DetectionsError::sql("reading pending detections"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(DetectionsError::sql("reading a pending detection"))?;
        Ok(rows)
    }
}

/// The id of the newest detection (0 without any).
fn newest_id(conn: &rusqlite::Connection) -> Result<i64, DetectionsError> {
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM detections", [], |r| {
        r.get(0)
    })
    .map_err(DetectionsError::sql("reading the newest detection"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::db::BatchWrite;
    use crate::record::{DetectionData, DetectionKind};
    use rampart_model::{EventId, Timestamp};

    fn det(rule: &str) -> DetectionData {
        DetectionData {
            kind: DetectionKind::Correlation,
            rule_id: rule.into(),
            rule_title: rule.into(),
            level: "high".into(),
            tags: Vec::new(),
            event_id: None,
            event_time: Timestamp::from_secs(1),
            tenant: "default".into(),
            host: None,
            user: None,
            source_ip: Some("192.0.2.1".into()),
            destination_ip: None,
            process_name: None,
            command_line: None,
            file_hash: None,
            fields: serde_json::Map::new(),
            group: vec![crate::record::GroupValue {
                field: "source.ip".into(),
                value: "192.0.2.1".into(),
            }],
            window_start: Some(Timestamp::from_secs(0)),
            window_end: Some(Timestamp::from_secs(1)),
            value: Some(10.0),
            score: None,
            event_ids: vec![EventId::new(), EventId::new()],
        }
    }

    #[test]
    fn state_commits_with_the_batch_and_triage_marks_its_own_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let db = DetectionStore::open(&path).unwrap();
        db.insert_batch(&[(1, det("old"))], "detection", 1).unwrap();
        // Triage starts after what was there before it.
        let pos = db.triage_position().unwrap();
        assert_eq!((pos.done_id, pos.pending.is_none()), (1, true));
        let before = BTreeMap::from([("a".to_owned(), 3u64)]);
        let written = db
            .write_batch(&BatchWrite {
                detections: &[(2, det("a")), (3, det("a"))],
                consumer: "detection",
                seq: Some(3),
                state: &[("correlation", b"{\"x\":1}")],
                triage: TriageWrite::Untouched,
            })
            .unwrap();
        assert_eq!(written.inserted, 2);
        // A write between batches keeps the recorded sequence number of the state.
        db.write_batch(&BatchWrite {
            detections: &[],
            consumer: "detection",
            seq: None,
            state: &[("correlation", b"{\"x\":2}")],
            triage: TriageWrite::Untouched,
        })
        .unwrap();
        // The batches left triage's position alone; its own thread marks the range.
        assert_eq!(db.triage_position().unwrap().pending, None);
        assert_eq!(db.newest_detection_id().unwrap(), 3);
        db.triage_pending(3, &before).unwrap();
        drop(db);
        let db = DetectionStore::open(&path).unwrap();
        assert_eq!(db.consumer_seq("detection").unwrap(), 3);
        assert_eq!(db.engine_states().unwrap()["correlation"], b"{\"x\":2}");
        let pos = db.triage_position().unwrap();
        let pending = pos.pending.clone().unwrap();
        assert_eq!((pos.done_id, pending.to_id, pending.before), (1, 3, before));
        let between = db.detections_between(pos.done_id, pending.to_id).unwrap();
        assert_eq!(between.len(), 2);
        assert_eq!(between[0].data, det("a").clone_with_ids(&between[0].data));
        db.triage_done(3).unwrap();
        assert_eq!(
            db.triage_position().unwrap(),
            TriagePosition {
                done_id: 3,
                pending: None
            }
        );
    }

    impl DetectionData {
        /// This detection with the event ids of `other` (random in the helper).
        fn clone_with_ids(&self, other: &DetectionData) -> DetectionData {
            DetectionData {
                event_ids: other.event_ids.clone(),
                ..self.clone()
            }
        }
    }
}
