//! The persistent intelligence store (SQLite): feeds and their poll state, indicators
//! upserted by (kind, value, source), and the allow-list.

use crate::IntelError;
use crate::config::{FeedConfig, FeedSource, FeedState, FeedStatus};
use crate::feed::{FeedFormat, ParseContext, ParsedFeed, Skipped, parse_document};
use crate::indicator::{AllowEntry, DecayPolicy, Indicator, IndicatorKind, Reference};
use crate::matcher::{AllowList, Matcher};
use crate::taxii::{BasicAuth, TaxiiClient};
use parking_lot::Mutex;
use rampart_model::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// Prepared statements kept per connection (rusqlite's default is 16): enough that the
/// statements of a batch never evict each other and are parsed once per connection.
pub(crate) const STATEMENT_CACHE: usize = 128;
use std::path::Path;
use std::time::Duration;

/// What one import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub feed: String,
    /// New (kind, value, source) keys.
    pub added: u64,
    /// Known keys whose record changed (seen again later, new tags, confidence …).
    pub updated: u64,
    /// Known keys stated again with nothing new.
    pub unchanged: u64,
    pub skipped: Skipped,
    /// The added indicators: what a retro-hunt should look for. (Known indicators seen
    /// again were hunted when they arrived.)
    #[serde(skip)]
    pub new_indicators: Vec<Indicator>,
}

/// Filters for [`IntelStore::list`]; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct IndicatorFilter {
    pub kind: Option<IndicatorKind>,
    pub source: Option<String>,
    /// Substring of the value.
    pub value_contains: Option<String>,
    /// Only those still valid at this time under the store's policy.
    pub live_at: Option<Timestamp>,
    /// At most this many (0: no limit).
    pub limit: usize,
}

/// The SQLite-backed store of feeds, indicators and the allow-list.
pub struct IntelStore {
    conn: Mutex<Connection>,
    policy: DecayPolicy,
    http_timeout: Duration,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS feeds (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    last_poll INTEGER,
    last_success INTEGER,
    last_error TEXT,
    state TEXT NOT NULL DEFAULT '{}',
    added_total INTEGER NOT NULL DEFAULT 0,
    updated_total INTEGER NOT NULL DEFAULT 0,
    skipped_total INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS indicators (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    source TEXT NOT NULL,
    confidence INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    valid_until INTEGER,
    tags TEXT NOT NULL,
    refs TEXT NOT NULL,
    description TEXT,
    external_id TEXT,
    PRIMARY KEY (kind, value, source)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS indicators_source ON indicators (source);
CREATE TABLE IF NOT EXISTS allowlist (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    author TEXT NOT NULL,
    added INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
";

fn sql(context: &str) -> impl FnOnce(rusqlite::Error) -> IntelError + '_ {
    move |source| IntelError::Sqlite {
        context: context.to_owned(),
        source,
    }
}

const COLUMNS: &str = "kind, value, source, confidence, first_seen, last_seen, valid_until, tags, refs, description, external_id";

fn row_indicator(row: &rusqlite::Row<'_>) -> rusqlite::Result<Indicator> {
    let kind: String = row.get(0)?;
    let tags: String = row.get(7)?;
    let refs: String = row.get(8)?;
    let kind = kind.parse::<IndicatorKind>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })?;
    Ok(Indicator {
        kind,
        value: row.get(1)?,
        source: row.get(2)?,
        confidence: row.get::<_, i64>(3)?.clamp(0, 100) as u8,
        first_seen: Timestamp(row.get(4)?),
        last_seen: Timestamp(row.get(5)?),
        valid_until: row.get::<_, Option<i64>>(6)?.map(Timestamp),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        references: serde_json::from_str::<Vec<Reference>>(&refs).unwrap_or_default(),
        description: row.get(9)?,
        external_id: row.get(10)?,
    })
}

impl IntelStore {
    /// Open (or create) the store at `path`, expiring indicators under `policy`.
    pub fn open(path: &Path, policy: DecayPolicy) -> Result<IntelStore, IntelError> {
        let conn = Connection::open(path).map_err(|source| IntelError::Sqlite {
            context: format!("opening {}", path.display()),
            source,
        })?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.execute_batch(SCHEMA)
            .map_err(sql("creating the schema"))?;
        Ok(IntelStore {
            conn: Mutex::new(conn),
            policy,
            http_timeout: Duration::from_secs(60),
        })
    }

    /// Timeout of one HTTP request made when polling URL and TAXII feeds.
    pub fn set_http_timeout(&mut self, t: Duration) {
        self.http_timeout = t;
    }

    pub fn policy(&self) -> &DecayPolicy {
        &self.policy
    }

    // ----- feeds -----

    /// Add or replace a feed's configuration (its history is kept).
    pub fn put_feed(&self, cfg: &FeedConfig) -> Result<(), IntelError> {
        if cfg.name.trim().is_empty() {
            return Err(IntelError::Invalid {
                what: "feed name",
                value: cfg.name.clone(),
                reason: "empty".into(),
            });
        }
        let json = serde_json::to_string(cfg).map_err(|e| IntelError::Json {
            context: "feed config".into(),
            source: e,
        })?;
        self.conn
            .lock()
            .execute(
                "INSERT INTO feeds (name, config) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET config = excluded.config",
                params![cfg.name, json],
            )
            .map_err(sql("saving a feed"))?;
        Ok(())
    }

    /// Remove a feed and, when `purge` is set, its indicators.
    pub fn remove_feed(&self, name: &str, purge: bool) -> Result<bool, IntelError> {
        let conn = self.conn.lock();
        let n = conn
            .execute("DELETE FROM feeds WHERE name = ?1", [name])
            .map_err(sql("removing a feed"))?;
        if purge {
            conn.execute("DELETE FROM indicators WHERE source = ?1", [name])
                .map_err(sql("purging a feed's indicators"))?;
        }
        Ok(n > 0)
    }

    pub fn feeds(&self) -> Result<Vec<FeedStatus>, IntelError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT f.config, f.last_poll, f.last_success, f.last_error, f.state,
                        f.added_total, f.updated_total, f.skipped_total,
                        (SELECT COUNT(*) FROM indicators i WHERE i.source = f.name)
                 FROM feeds f ORDER BY f.name",
            )
            .map_err(sql("listing feeds"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                ))
            })
            .map_err(sql("listing feeds"))?;
        let mut out = Vec::new();
        for row in rows {
            let (config, lp, ls, le, state, a, u, s, n) = row.map_err(sql("reading a feed"))?;
            let config: FeedConfig =
                serde_json::from_str(&config).map_err(|e| IntelError::Json {
                    context: "stored feed config".into(),
                    source: e,
                })?;
            out.push(FeedStatus {
                config,
                last_poll: lp.map(Timestamp),
                last_success: ls.map(Timestamp),
                last_error: le,
                state: serde_json::from_str(&state).unwrap_or_default(),
                indicators: n as u64,
                added_total: a as u64,
                updated_total: u as u64,
                skipped_total: s as u64,
            });
        }
        Ok(out)
    }

    pub fn feed(&self, name: &str) -> Result<FeedStatus, IntelError> {
        self.feeds()?
            .into_iter()
            .find(|f| f.config.name == name)
            .ok_or_else(|| IntelError::UnknownFeed(name.to_owned()))
    }

    /// Enabled feeds never polled, or last polled at least their interval before `now`.
    pub fn due_feeds(&self, now: Timestamp) -> Result<Vec<String>, IntelError> {
        Ok(self
            .feeds()?
            .into_iter()
            .filter(|f| f.config.enabled)
            .filter(|f| match f.last_poll {
                None => true,
                Some(t) => {
                    let every = i64::try_from(f.config.interval_secs)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(1_000_000_000);
                    now.0 >= t.0.saturating_add(every)
                }
            })
            .map(|f| f.config.name)
            .collect())
    }

    /// Fetch a configured feed now (file, URL or TAXII collection, incrementally where the
    /// source allows), import what it gives, and record the poll's time, error and state.
    pub fn poll_feed(&self, name: &str, now: Timestamp) -> Result<ImportReport, IntelError> {
        let status = self.feed(name)?;
        match self.fetch(&status, now) {
            Ok((parsed, state)) => {
                let report = self.store_parsed(name, parsed)?;
                let state = serde_json::to_string(&state).unwrap_or_else(|_| "{}".into());
                self.conn
                    .lock()
                    .execute(
                        "UPDATE feeds SET last_poll = ?2, last_success = ?2, last_error = NULL,
                         state = ?3 WHERE name = ?1",
                        params![name, now.0, state],
                    )
                    .map_err(sql("recording a poll"))?;
                Ok(report)
            }
            Err(e) => {
                self.conn
                    .lock()
                    .execute(
                        "UPDATE feeds SET last_poll = ?2, last_error = ?3 WHERE name = ?1",
                        params![name, now.0, e.to_string()],
                    )
                    .map_err(sql("recording a failed poll"))?;
                Err(e)
            }
        }
    }

    fn fetch(
        &self,
        status: &FeedStatus,
        now: Timestamp,
    ) -> Result<(ParsedFeed, FeedState), IntelError> {
        let cfg = &status.config;
        let mut ctx = ParseContext::new(&cfg.name, now);
        if let Some(c) = cfg.default_confidence {
            ctx.default_confidence = c.min(100);
        }
        let mut state = status.state.clone();
        let parsed = match &cfg.source {
            FeedSource::File { path, format } => {
                if *format == FeedFormat::MispFeed {
                    let (p, newest) = crate::misp::parse_feed(
                        &crate::misp::DirFeed(path),
                        &ctx,
                        state.misp_timestamp,
                    )?;
                    state.misp_timestamp = newest;
                    p
                } else {
                    parse_document(*format, &read_file(path)?, &ctx)?
                }
            }
            FeedSource::Url { url, format, auth } => {
                let auth = auth.as_ref().map(BasicAuth::resolve).transpose()?;
                let http = crate::http::HttpFiles {
                    agent: crate::http::http_agent(self.http_timeout),
                    base: url.clone(),
                    auth: auth.as_ref().map(BasicAuth::header),
                };
                if *format == FeedFormat::MispFeed {
                    let (p, newest) = crate::misp::parse_feed(&http, &ctx, state.misp_timestamp)?;
                    state.misp_timestamp = newest;
                    p
                } else {
                    parse_document(*format, &http.get(url)?, &ctx)?
                }
            }
            FeedSource::Taxii {
                url,
                collection,
                auth,
            } => {
                let auth = auth.as_ref().map(BasicAuth::resolve).transpose()?;
                let client = TaxiiClient::new(auth.as_ref(), self.http_timeout);
                let (root, id) = client.locate(url, collection)?;
                let after = state.taxii_added_after.get(&id).cloned();
                let poll = client.poll(&root, &id, after.as_deref())?;
                if let Some(last) = poll.last_added {
                    state.taxii_added_after.insert(id, last);
                }
                crate::stix::parse_objects(&poll.objects, &ctx)
            }
        };
        Ok((parsed, state))
    }

    // ----- import -----

    /// Parse one document of `format` and upsert its indicators under `feed`.
    pub fn import(
        &self,
        feed: &str,
        format: FeedFormat,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<ImportReport, IntelError> {
        let parsed = parse_document(format, bytes, &ParseContext::new(feed, now))?;
        self.store_parsed(feed, parsed)
    }

    /// Import a file, or a MISP feed directory, under `feed`.
    pub fn import_path(
        &self,
        feed: &str,
        format: FeedFormat,
        path: &Path,
        now: Timestamp,
    ) -> Result<ImportReport, IntelError> {
        let ctx = ParseContext::new(feed, now);
        let parsed = if format == FeedFormat::MispFeed {
            crate::misp::parse_feed_dir(path, &ctx)?
        } else {
            parse_document(format, &read_file(path)?, &ctx)?
        };
        self.store_parsed(feed, parsed)
    }

    /// Upsert already-parsed indicators (their `source` is kept) and count them under `feed`.
    pub fn store_parsed(&self, feed: &str, parsed: ParsedFeed) -> Result<ImportReport, IntelError> {
        let mut report = self.upsert(parsed.indicators)?;
        report.feed = feed.to_owned();
        report.skipped = parsed.skipped;
        self.conn
            .lock()
            .execute(
                "UPDATE feeds SET added_total = added_total + ?2, updated_total = updated_total + ?3,
                 skipped_total = skipped_total + ?4 WHERE name = ?1",
                params![
                    feed,
                    report.added as i64,
                    report.updated as i64,
                    report.skipped.count as i64
                ],
            )
            .map_err(sql("counting an import"))?;
        Ok(report)
    }

    /// Insert new indicators and merge known ones: first seen is the earliest, last seen
    /// the latest, tags and references the union; confidence, expiry, description and
    /// external id follow the newest statement.
    pub fn upsert(&self, indicators: Vec<Indicator>) -> Result<ImportReport, IntelError> {
        let mut report = ImportReport::default();
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(sql("starting an import"))?;
        {
            let mut get = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM indicators WHERE kind = ?1 AND value = ?2 AND source = ?3"
                ))
                .map_err(sql("preparing an import"))?;
            let mut put = tx
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO indicators ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ))
                .map_err(sql("preparing an import"))?;
            for ind in indicators {
                let old = get
                    .query_row(
                        params![ind.kind.as_str(), ind.value, ind.source],
                        row_indicator,
                    )
                    .optional()
                    .map_err(sql("reading an indicator"))?;
                let (merged, added) = match old {
                    None => (ind, true),
                    Some(old) => {
                        let merged = merge(&old, ind);
                        if merged == old {
                            report.unchanged += 1;
                            continue;
                        }
                        (merged, false)
                    }
                };
                put.execute(params![
                    merged.kind.as_str(),
                    merged.value,
                    merged.source,
                    i64::from(merged.confidence),
                    merged.first_seen.0,
                    merged.last_seen.0,
                    merged.valid_until.map(|t| t.0),
                    serde_json::to_string(&merged.tags).unwrap_or_else(|_| "[]".into()),
                    serde_json::to_string(&merged.references).unwrap_or_else(|_| "[]".into()),
                    merged.description,
                    merged.external_id,
                ])
                .map_err(sql("writing an indicator"))?;
                if added {
                    report.added += 1;
                    report.new_indicators.push(merged);
                } else {
                    report.updated += 1;
                }
            }
        }
        tx.commit().map_err(sql("committing an import"))?;
        Ok(report)
    }

    // ----- queries -----

    pub fn list(&self, filter: &IndicatorFilter) -> Result<Vec<Indicator>, IntelError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM indicators
                 WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR source = ?2)
                   AND (?3 IS NULL OR instr(value, ?3) > 0)
                 ORDER BY kind, value, source"
            ))
            .map_err(sql("listing indicators"))?;
        let rows = stmt
            .query_map(
                params![
                    filter.kind.map(IndicatorKind::as_str),
                    filter.source,
                    filter.value_contains.as_deref().map(str::to_lowercase)
                ],
                row_indicator,
            )
            .map_err(sql("listing indicators"))?;
        let mut out = Vec::new();
        for r in rows {
            let ind = r.map_err(sql("reading an indicator"))?;
            if let Some(t) = filter.live_at
                && ind.is_expired(&self.policy, t)
            {
                continue;
            }
            out.push(ind);
            if filter.limit > 0 && out.len() >= filter.limit {
                break;
            }
        }
        Ok(out)
    }

    /// How many indicators are stored.
    pub fn count(&self) -> Result<u64, IntelError> {
        self.conn
            .lock()
            .query_row("SELECT COUNT(*) FROM indicators", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(sql("counting indicators"))
    }

    /// How many indicators are stored, by kind.
    pub fn count_by_kind(&self) -> Result<std::collections::BTreeMap<String, u64>, IntelError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare("SELECT kind, COUNT(*) FROM indicators GROUP BY kind")
            .map_err(sql("counting indicators by kind"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(sql("counting indicators by kind"))?;
        let mut out = std::collections::BTreeMap::new();
        for r in rows {
            let (kind, n) = r.map_err(sql("counting indicators by kind"))?;
            out.insert(kind, n.max(0) as u64);
        }
        Ok(out)
    }

    /// Delete indicators expired at `now` (explicit `valid_until`, else `last_seen` plus
    /// the kind's lifetime); returns how many.
    pub fn expire(&self, now: Timestamp) -> Result<u64, IntelError> {
        let conn = self.conn.lock();
        let mut n = conn
            .execute(
                "DELETE FROM indicators WHERE valid_until IS NOT NULL AND valid_until <= ?1",
                [now.0],
            )
            .map_err(sql("expiring indicators"))? as u64;
        for kind in IndicatorKind::ALL {
            let Some(life) = self.policy.lifetime(kind) else {
                continue;
            };
            let nanos = i64::try_from(life.as_nanos()).unwrap_or(i64::MAX);
            let cutoff = now.0.saturating_sub(nanos);
            n += conn
                .execute(
                    "DELETE FROM indicators WHERE valid_until IS NULL AND kind = ?1 AND last_seen <= ?2",
                    params![kind.as_str(), cutoff],
                )
                .map_err(sql("expiring indicators"))? as u64;
        }
        Ok(n)
    }

    /// A matcher over the indicators live at `now`, with the allow-list applied.
    pub fn matcher(&self, now: Timestamp) -> Result<Matcher, IntelError> {
        let all = self.list(&IndicatorFilter::default())?;
        Ok(Matcher::build(all, self.allow_list()?, &self.policy, now))
    }

    // ----- allow-list -----

    /// Add or replace an allow-list entry.
    pub fn allow(&self, e: &AllowEntry) -> Result<(), IntelError> {
        self.conn
            .lock()
            .execute(
                "INSERT OR REPLACE INTO allowlist (kind, value, reason, author, added)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![e.kind.as_str(), e.value, e.reason, e.author, e.added.0],
            )
            .map_err(sql("saving an allow-list entry"))?;
        Ok(())
    }

    pub fn remove_allow(&self, kind: IndicatorKind, value: &str) -> Result<bool, IntelError> {
        let n = self
            .conn
            .lock()
            .execute(
                "DELETE FROM allowlist WHERE kind = ?1 AND value = ?2",
                params![kind.as_str(), value],
            )
            .map_err(sql("removing an allow-list entry"))?;
        Ok(n > 0)
    }

    pub fn allow_entries(&self) -> Result<Vec<AllowEntry>, IntelError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT kind, value, reason, author, added FROM allowlist ORDER BY kind, value",
            )
            .map_err(sql("listing the allow-list"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(sql("listing the allow-list"))?;
        let mut out = Vec::new();
        for r in rows {
            let (kind, value, reason, author, added) = r.map_err(sql("reading the allow-list"))?;
            let Ok(kind) = kind.parse::<IndicatorKind>() else {
                continue;
            };
            out.push(AllowEntry {
                kind,
                value,
                reason,
                author,
                added: Timestamp(added),
            });
        }
        Ok(out)
    }

    /// The allow-list, indexed for the matcher and retro-hunts.
    pub fn allow_list(&self) -> Result<AllowList, IntelError> {
        Ok(AllowList::new(&self.allow_entries()?))
    }
}

fn merge(old: &Indicator, new: Indicator) -> Indicator {
    let mut m = new;
    m.first_seen = old.first_seen.min(m.first_seen);
    m.last_seen = old.last_seen.max(m.last_seen);
    let mut tags = old.tags.clone();
    for t in m.tags.drain(..) {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    m.tags = tags;
    let mut refs = old.references.clone();
    for r in m.references.drain(..) {
        if !refs.contains(&r) {
            refs.push(r);
        }
    }
    m.references = refs;
    if m.description.is_none() {
        m.description = old.description.clone();
    }
    if m.external_id.is_none() {
        m.external_id = old.external_id.clone();
    }
    m
}

fn read_file(path: &Path) -> Result<Vec<u8>, IntelError> {
    let io = |e| IntelError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > crate::feed::MAX_DOCUMENT_BYTES as u64 {
        return Err(IntelError::TooLarge {
            what: path.display().to_string(),
            size: len,
            limit: crate::feed::MAX_DOCUMENT_BYTES as u64,
        });
    }
    std::fs::read(path).map_err(|e| IntelError::Io {
        path: path.display().to_string(),
        source: e,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_700_000_000_000_000_000);
    const DAY: i64 = 86_400_000_000_000;

    fn ind(kind: IndicatorKind, v: &str, source: &str, seen: Timestamp) -> Indicator {
        Indicator::new(kind, v, source, seen).unwrap()
    }

    #[test]
    fn upsert_keeps_first_and_last_seen_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let s = IntelStore::open(&dir.path().join("intel.db"), DecayPolicy::default()).unwrap();
        let mut a = ind(IndicatorKind::Domain, "evil.com", "f1", T0);
        a.tags = vec!["c2".into()];
        let r = s
            .upsert(vec![
                a.clone(),
                ind(IndicatorKind::Ipv4, "1.2.3.4", "f1", T0),
            ])
            .unwrap();
        assert_eq!((r.added, r.updated, r.unchanged), (2, 0, 0));
        // Same again: unchanged. Seen later with a new tag: updated, first_seen kept.
        let r = s.upsert(vec![a.clone()]).unwrap();
        assert_eq!((r.added, r.updated, r.unchanged), (0, 0, 1));
        let mut later = ind(
            IndicatorKind::Domain,
            "evil.com",
            "f1",
            Timestamp(T0.0 + DAY),
        );
        later.tags = vec!["phishing".into()];
        let r = s.upsert(vec![later]).unwrap();
        assert_eq!((r.added, r.updated), (0, 1));
        let got = s
            .list(&IndicatorFilter {
                kind: Some(IndicatorKind::Domain),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].first_seen, T0);
        assert_eq!(got[0].last_seen, Timestamp(T0.0 + DAY));
        assert_eq!(got[0].tags, vec!["c2".to_string(), "phishing".into()]);
        // The same value from another feed is a separate record.
        let r = s
            .upsert(vec![ind(IndicatorKind::Domain, "evil.com", "f2", T0)])
            .unwrap();
        assert_eq!(r.added, 1);
        assert_eq!(s.count().unwrap(), 3);
    }

    #[test]
    fn expire_purges_by_policy_and_explicit_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let s = IntelStore::open(&dir.path().join("intel.db"), DecayPolicy::default()).unwrap();
        let mut until = ind(IndicatorKind::Md5, &"ab".repeat(16), "f", T0);
        until.valid_until = Some(Timestamp(T0.0 + 5 * DAY));
        s.upsert(vec![
            ind(IndicatorKind::Ipv4, "1.2.3.4", "f", T0),
            ind(IndicatorKind::Domain, "evil.com", "f", T0),
            ind(IndicatorKind::Sha256, &"cd".repeat(32), "f", T0),
            until,
        ])
        .unwrap();
        let cases = [(4, 0, 4), (6, 1, 3), (31, 1, 2), (91, 1, 1), (10_000, 0, 1)];
        for (day, purged, left) in cases {
            let now = Timestamp(T0.0 + day * DAY);
            assert_eq!(s.expire(now).unwrap(), purged, "day {day}");
            assert_eq!(s.count().unwrap(), left, "day {day}");
        }
    }

    #[test]
    fn allow_list_round_trips_and_feeds_the_matcher() {
        let dir = tempfile::tempdir().unwrap();
        let s = IntelStore::open(&dir.path().join("intel.db"), DecayPolicy::default()).unwrap();
        s.upsert(vec![
            ind(IndicatorKind::Domain, "cdn.example.org", "f", T0),
            ind(IndicatorKind::Domain, "evil.com", "f", T0),
        ])
        .unwrap();
        s.allow(&AllowEntry::guessed("example.org", "our CDN", "alice", T0).unwrap())
            .unwrap();
        assert_eq!(s.allow_entries().unwrap().len(), 1);
        let m = s.matcher(T0).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m.stats().allowed, 1);
        assert!(
            s.remove_allow(IndicatorKind::Domain, "example.org")
                .unwrap()
        );
        assert_eq!(s.matcher(T0).unwrap().len(), 2);
    }
}
