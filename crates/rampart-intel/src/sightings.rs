//! Sightings: indicators seen in events, live or by retro-hunt, kept in the intel store's
//! SQLite file with the live stream position they were recorded up to, and a delivered
//! flag so that a crash before the caller took them redelivers them on restart.

use crate::IntelError;
use crate::indicator::{IndicatorKind, Reference};
use crate::matcher::IntelHit;
use crate::retro::RetroHit;
use parking_lot::Mutex;
use rampart_model::{Event, EventId, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// How a sighting was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SightingKind {
    /// By the live matcher, as the event was accepted.
    Live,
    /// By a retro-hunt over stored events when the indicator arrived.
    Retro,
}

impl SightingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SightingKind::Live => "live",
            SightingKind::Retro => "retro",
        }
    }

    pub fn parse(text: &str) -> Option<SightingKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "live" => Some(SightingKind::Live),
            "retro" => Some(SightingKind::Retro),
            _ => None,
        }
    }
}

/// The indicator of a sighting, as it was when seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SightingIndicator {
    pub kind: IndicatorKind,
    pub value: String,
    /// The feed.
    pub source: String,
    /// Its confidence when matched (after decay), 0–100.
    pub confidence: u8,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub references: Vec<Reference>,
}

/// One indicator seen in one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntelSighting {
    /// Its row id (0 before it is recorded).
    pub id: i64,
    pub kind: SightingKind,
    pub indicator: SightingIndicator,
    pub event_id: EventId,
    pub tenant: String,
    pub event_time: Timestamp,
    /// The event field that held the value, and the value as the event had it.
    pub field: String,
    pub value: String,
    /// When it was recorded.
    pub recorded: Timestamp,
    /// The event itself when at hand (live matches, retro-hunts, and redeliveries whose
    /// event could be read back), for callers that need more of it. Not stored.
    #[serde(skip)]
    pub event: Option<Arc<Event>>,
}

impl IntelSighting {
    fn from_hit(kind: SightingKind, hit: &IntelHit, event: &Arc<Event>, now: Timestamp) -> Self {
        let ind = &hit.indicator;
        IntelSighting {
            id: 0,
            kind,
            indicator: SightingIndicator {
                kind: ind.kind,
                value: ind.value.clone(),
                source: ind.source.clone(),
                confidence: hit.confidence,
                tags: ind.tags.clone(),
                references: ind.references.clone(),
            },
            event_id: event.id,
            tenant: event.tenant.clone(),
            event_time: event.timestamp,
            field: hit.field.to_owned(),
            value: hit.value.clone(),
            recorded: now,
            event: Some(Arc::clone(event)),
        }
    }

    /// A live sighting of `hit` in `event`.
    pub fn live(hit: &IntelHit, event: &Arc<Event>, now: Timestamp) -> Self {
        IntelSighting::from_hit(SightingKind::Live, hit, event, now)
    }

    /// A sighting found by a retro-hunt.
    pub fn retro(hit: &RetroHit, now: Timestamp) -> Self {
        IntelSighting::from_hit(SightingKind::Retro, &hit.hit, &hit.event, now)
    }

    /// ATT&CK technique ids of the indicator.
    pub fn attack_techniques(&self) -> impl Iterator<Item = &str> {
        self.indicator.references.iter().filter_map(|r| match r {
            Reference::Attack(t) => Some(t.as_str()),
            Reference::Malware(_) => None,
        })
    }
}

/// Filters of [`crate::IntelService::sightings`]; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct SightingFilter {
    pub kind: Option<SightingKind>,
    pub tenant: Option<String>,
    /// Feed of the indicator.
    pub source: Option<String>,
    /// Substring of the indicator's value or the event's value.
    pub value_contains: Option<String>,
    pub event_id: Option<EventId>,
    /// Only sightings with a smaller id (paging, newest first).
    pub before_id: Option<i64>,
    /// At most this many (1–10 000; 0 means 100).
    pub limit: usize,
}

/// Sighting counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SightingCounts {
    pub live: u64,
    pub retro: u64,
    /// Recorded but not yet handed to the caller's sink.
    pub undelivered: u64,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS sightings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    recorded INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    ind_kind TEXT NOT NULL,
    ind_value TEXT NOT NULL,
    ind_source TEXT NOT NULL,
    confidence INTEGER NOT NULL,
    tags TEXT NOT NULL,
    refs TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    UNIQUE (event_id, ind_kind, ind_value, ind_source)
);
CREATE INDEX IF NOT EXISTS sightings_undelivered ON sightings (id) WHERE delivered = 0;
CREATE INDEX IF NOT EXISTS sightings_tenant ON sightings (tenant, id);
CREATE TABLE IF NOT EXISTS stream_position (
    consumer TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
";

fn sql(context: &str) -> impl FnOnce(rusqlite::Error) -> IntelError + '_ {
    move |source| IntelError::Sqlite {
        context: context.to_owned(),
        source,
    }
}

const COLUMNS: &str = "id, kind, recorded, event_id, tenant, event_time, field, value, ind_kind, ind_value, ind_source, confidence, tags, refs";

fn row_sighting(row: &rusqlite::Row<'_>) -> rusqlite::Result<IntelSighting> {
    let bad = |i: usize, e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    };
    let kind: String = row.get(1)?;
    let event_id: String = row.get(3)?;
    let ind_kind: String = row.get(8)?;
    let tags: String = row.get(12)?;
    let refs: String = row.get(13)?;
    Ok(IntelSighting {
        id: row.get(0)?,
        kind: SightingKind::parse(&kind).ok_or_else(|| bad(1, format!("kind '{kind}'")))?,
        indicator: SightingIndicator {
            kind: ind_kind.parse::<IndicatorKind>().map_err(|e| bad(8, e))?,
            value: row.get(9)?,
            source: row.get(10)?,
            confidence: row.get::<_, i64>(11)?.clamp(0, 100) as u8,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            references: serde_json::from_str(&refs).unwrap_or_default(),
        },
        event_id: event_id
            .parse()
            .map_err(|_| bad(3, format!("event id '{event_id}'")))?,
        tenant: row.get(4)?,
        event_time: Timestamp(row.get(5)?),
        field: row.get(6)?,
        value: row.get(7)?,
        recorded: Timestamp(row.get(2)?),
        event: None,
    })
}

/// The sightings table and the live stream position, in the intel store's file.
pub(crate) struct SightingDb {
    conn: Mutex<Connection>,
}

impl SightingDb {
    pub(crate) fn open(path: &Path) -> Result<SightingDb, IntelError> {
        let conn = Connection::open(path).map_err(|source| IntelError::Sqlite {
            context: format!("opening {}", path.display()),
            source,
        })?;
        conn.set_prepared_statement_cache_capacity(crate::store::STATEMENT_CACHE);
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql("setting the busy timeout"))?;
        conn.execute_batch(SCHEMA)
            .map_err(sql("creating the sightings schema"))?;
        Ok(SightingDb {
            conn: Mutex::new(conn),
        })
    }

    /// The last stream sequence number recorded for `consumer` (0 when none).
    pub(crate) fn consumer_seq(&self, consumer: &str) -> Result<u64, IntelError> {
        let seq: Option<i64> = self
            .conn
            .lock()
            .query_row(
                "SELECT seq FROM stream_position WHERE consumer = ?1",
                [consumer],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("reading the stream position"))?;
        Ok(seq.unwrap_or(0).max(0) as u64)
    }

    pub(crate) fn reset_consumer(&self, consumer: &str) -> Result<(), IntelError> {
        self.conn
            .lock()
            .execute(
                "DELETE FROM stream_position WHERE consumer = ?1",
                [consumer],
            )
            .map_err(sql("resetting the stream position"))?;
        Ok(())
    }

    /// Insert `sightings` (one per event and indicator: a repeat is ignored) and, when
    /// given, the stream position they cover, in one transaction. Returns those inserted,
    /// with their ids.
    pub(crate) fn record(
        &self,
        sightings: Vec<IntelSighting>,
        position: Option<(&str, u64)>,
    ) -> Result<Vec<IntelSighting>, IntelError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction()
            .map_err(sql("starting a sightings batch"))?;
        let mut inserted = Vec::with_capacity(sightings.len());
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO sightings (kind, recorded, event_id, tenant,
                     event_time, field, value, ind_kind, ind_value, ind_source, confidence,
                     tags, refs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(sql("preparing a sightings batch"))?;
            for mut s in sightings {
                let n = put
                    .execute(params![
                        s.kind.as_str(),
                        s.recorded.0,
                        s.event_id.to_string(),
                        s.tenant,
                        s.event_time.0,
                        s.field,
                        s.value,
                        s.indicator.kind.as_str(),
                        s.indicator.value,
                        s.indicator.source,
                        i64::from(s.indicator.confidence),
                        serde_json::to_string(&s.indicator.tags).unwrap_or_else(|_| "[]".into()),
                        serde_json::to_string(&s.indicator.references)
                            .unwrap_or_else(|_| "[]".into()),
                    ])
                    .map_err(sql("writing a sighting"))?;
                if n > 0 {
                    s.id = tx.last_insert_rowid();
                    inserted.push(s);
                }
            }
            if let Some((consumer, seq)) = position {
                tx.prepare_cached(
                    "INSERT INTO stream_position (consumer, seq) VALUES (?1, ?2)
                     ON CONFLICT(consumer) DO UPDATE SET seq = excluded.seq",
                )
                .and_then(|mut st| {
                    st.execute(params![consumer, i64::try_from(seq).unwrap_or(i64::MAX)])
                })
                .map_err(sql("writing the stream position"))?;
            }
        }
        tx.commit().map_err(sql("committing a sightings batch"))?;
        Ok(inserted)
    }

    /// Mark sightings as handed to the caller.
    pub(crate) fn mark_delivered(&self, ids: &[i64]) -> Result<(), IntelError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(sql("marking sightings"))?;
        {
            let mut upd = tx
                .prepare_cached("UPDATE sightings SET delivered = 1 WHERE id = ?1")
                .map_err(sql("marking sightings"))?;
            for id in ids {
                upd.execute([id]).map_err(sql("marking a sighting"))?;
            }
        }
        tx.commit().map_err(sql("marking sightings"))
    }

    /// The oldest sightings not yet handed to the caller (after a crash), at most `limit`.
    pub(crate) fn undelivered(&self, limit: usize) -> Result<Vec<IntelSighting>, IntelError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM sightings WHERE delivered = 0 ORDER BY id LIMIT ?1"
            ))
            .map_err(sql("listing undelivered sightings"))?;
        let rows = stmt
            .query_map([limit as i64], row_sighting)
            .map_err(sql("listing undelivered sightings"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(sql("reading a sighting"))
    }

    /// Sightings matching `f`, newest first.
    pub(crate) fn list(&self, f: &SightingFilter) -> Result<Vec<IntelSighting>, IntelError> {
        let limit = match f.limit {
            0 => 100,
            n => n.min(10_000),
        };
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM sightings
                 WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR tenant = ?2)
                   AND (?3 IS NULL OR ind_source = ?3)
                   AND (?4 IS NULL OR instr(lower(ind_value), ?4) > 0
                        OR instr(lower(value), ?4) > 0)
                   AND (?5 IS NULL OR event_id = ?5) AND (?6 IS NULL OR id < ?6)
                 ORDER BY id DESC LIMIT ?7"
            ))
            .map_err(sql("listing sightings"))?;
        let rows = stmt
            .query_map(
                params![
                    f.kind.map(SightingKind::as_str),
                    f.tenant,
                    f.source,
                    f.value_contains.as_deref().map(str::to_lowercase),
                    f.event_id.map(|e| e.to_string()),
                    f.before_id,
                    limit as i64
                ],
                row_sighting,
            )
            .map_err(sql("listing sightings"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(sql("reading a sighting"))
    }

    /// Sightings not yet handed to the caller (an indexed count).
    pub(crate) fn undelivered_count(&self) -> Result<u64, IntelError> {
        self.conn
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM sightings WHERE delivered = 0",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(sql("counting undelivered sightings"))
    }

    /// All counts (a full scan: at start, then keep counters).
    pub(crate) fn counts(&self) -> Result<SightingCounts, IntelError> {
        let conn = self.conn.lock();
        conn.query_row(
            "SELECT COALESCE(SUM(kind = 'live'), 0), COALESCE(SUM(kind = 'retro'), 0),
                    COALESCE(SUM(delivered = 0), 0) FROM sightings",
            [],
            |r| {
                Ok(SightingCounts {
                    live: r.get::<_, i64>(0)?.max(0) as u64,
                    retro: r.get::<_, i64>(1)?.max(0) as u64,
                    undelivered: r.get::<_, i64>(2)?.max(0) as u64,
                })
            },
        )
        .map_err(sql("counting sightings"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::indicator::Indicator;
    use rampart_model::{Origin, OriginKind, Raw};

    const T0: Timestamp = Timestamp(1_700_000_000_000_000_000);

    fn sighting(kind: SightingKind, event: &Arc<Event>, value: &str) -> IntelSighting {
        let mut ind = Indicator::new(IndicatorKind::Ipv4, value, "feed", T0).unwrap();
        ind.references = vec![Reference::Attack("T1071".into())];
        let hit = IntelHit {
            indicator: Arc::new(ind),
            field: "source.ip",
            value: value.into(),
            confidence: 70,
        };
        IntelSighting::from_hit(kind, &hit, event, T0)
    }

    fn event(tenant: &str) -> Arc<Event> {
        let mut e = Event::new(Origin::new(OriginKind::Import, "t"), Raw::Text("x".into()));
        e.tenant = tenant.into();
        Arc::new(e)
    }

    #[test]
    fn sightings_are_recorded_once_with_the_stream_position() {
        let dir = tempfile::tempdir().unwrap();
        let db = SightingDb::open(&dir.path().join("intel.db")).unwrap();
        let (a, b) = (event("default"), event("acme"));
        let batch = vec![
            sighting(SightingKind::Live, &a, "192.0.2.1"),
            sighting(SightingKind::Live, &b, "192.0.2.1"),
            sighting(SightingKind::Live, &a, "192.0.2.2"),
        ];
        let got = db.record(batch.clone(), Some(("intel", 7))).unwrap();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|s| s.id > 0));
        assert_eq!(db.consumer_seq("intel").unwrap(), 7);
        // The same (event, indicator) again, live or retro: nothing new.
        let mut again = batch.clone();
        again[0].kind = SightingKind::Retro;
        assert!(db.record(again, Some(("intel", 9))).unwrap().is_empty());
        assert_eq!(db.consumer_seq("intel").unwrap(), 9);
        let counts = db.counts().unwrap();
        assert_eq!((counts.live, counts.retro, counts.undelivered), (3, 0, 3));
        db.mark_delivered(&[got[0].id, got[1].id]).unwrap();
        let left = db.undelivered(10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].indicator.value, "192.0.2.2");
        assert_eq!(left[0].attack_techniques().collect::<Vec<_>>(), ["T1071"]);
        assert_eq!(left[0].event_id, a.id);
        // Filters and paging.
        let cases: [(SightingFilter, usize); 5] = [
            (SightingFilter::default(), 3),
            (
                SightingFilter {
                    tenant: Some("acme".into()),
                    ..Default::default()
                },
                1,
            ),
            (
                SightingFilter {
                    value_contains: Some("2.2".into()),
                    ..Default::default()
                },
                1,
            ),
            (
                SightingFilter {
                    kind: Some(SightingKind::Retro),
                    ..Default::default()
                },
                0,
            ),
            (
                SightingFilter {
                    before_id: Some(got[2].id),
                    limit: 1,
                    ..Default::default()
                },
                1,
            ),
        ];
        for (f, n) in cases {
            assert_eq!(db.list(&f).unwrap().len(), n, "{f:?}");
        }
        db.reset_consumer("intel").unwrap();
        assert_eq!(db.consumer_seq("intel").unwrap(), 0);
    }
}
