//! Snapshots of every entity's baseline state (versioned JSON), so that baselines survive a restart or a rule reload.

use super::state::Entity;
use super::{BaselineEngine, BaselineStats, bounds, well_formed};
use crate::error::Error;
use serde::{Deserialize, Serialize};

/// The snapshot format; bumped on any incompatible change.
pub const SNAPSHOT_VERSION: u32 = 1;
const FORMAT: &str = "rampart-baseline-state";

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    format: String,
    version: u32,
    rules: Vec<SnapRule>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapRule {
    /// The rule's id, else its title.
    identity: String,
    /// Entity fields, metric and bucket size: state is only reused when they are equal.
    fingerprint: String,
    watermark: Option<i64>,
    closed_before: Option<i64>,
    stats: BaselineStats,
    /// (encoded entity key, state), sorted by key for a deterministic snapshot.
    entities: Vec<(String, Entity)>,
}

/// What [`BaselineEngine::restore`] took over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Entities restored.
    pub entities: usize,
    /// Rules of the snapshot that are not loaded now or whose entity, metric or bucket
    /// changed (their state is dropped): their identities.
    pub skipped: Vec<String>,
    /// Entities dropped: over `max_entities_per_rule`, or malformed.
    pub dropped_entities: usize,
}

impl BaselineEngine {
    /// Every rule's state (watermark, closed buckets, entities with their history, open
    /// buckets and seen values, counters), as versioned JSON. Deterministic: the same state
    /// gives the same bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        let snap = Snapshot {
            format: FORMAT.to_owned(),
            version: SNAPSHOT_VERSION,
            rules: self
                .rules
                .iter()
                .map(|r| {
                    let mut entities: Vec<(String, Entity)> = r
                        .entities
                        .iter()
                        .map(|(k, e)| (k.to_string(), e.clone()))
                        .collect();
                    entities.sort_by(|a, b| a.0.cmp(&b.0));
                    SnapRule {
                        identity: r.identity.clone(),
                        fingerprint: r.fingerprint(),
                        watermark: r.watermark,
                        closed_before: r.closed_before,
                        stats: r.stats.clone(),
                        entities,
                    }
                })
                .collect(),
        };
        serde_json::to_vec(&snap)
            .expect("snapshot types serialise: string keys and finite numbers only")
    }

    /// Replace the state with a [`snapshot`](Self::snapshot): baselines, open buckets and
    /// training carry on. State of rules that are gone or changed is dropped and named in
    /// the report; this engine's bounds apply to what is restored.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<RestoreReport, Error> {
        let snap: Snapshot = serde_json::from_slice(bytes)
            .map_err(|e| Error::Snapshot(format!("cannot read baseline snapshot: {e}")))?;
        if snap.format != FORMAT {
            return Err(Error::Snapshot(format!(
                "not a baseline snapshot (format '{}')",
                snap.format
            )));
        }
        if snap.version != SNAPSHOT_VERSION {
            return Err(Error::Snapshot(format!(
                "baseline snapshot version {} is not supported (expected {SNAPSHOT_VERSION})",
                snap.version
            )));
        }
        for r in &mut self.rules {
            r.entities.clear();
            r.watermark = None;
            r.closed_before = None;
            r.stats = BaselineStats::default();
        }
        let mut report = RestoreReport::default();
        for sr in snap.rules {
            let Some(r) = self
                .rules
                .iter_mut()
                .find(|r| r.identity == sr.identity && r.fingerprint() == sr.fingerprint)
            else {
                report.skipped.push(sr.identity);
                continue;
            };
            let b = bounds(&self.options, &r.rule);
            let n_fields = r.rule.entity.len();
            for (key, mut e) in sr.entities {
                let usable = well_formed(&key, n_fields) && e.repair(&b);
                if !usable || r.entities.len() >= self.options.max_entities_per_rule {
                    report.dropped_entities += 1;
                    continue;
                }
                r.entities.insert(key.into(), e);
                report.entities += 1;
            }
            r.watermark = sr.watermark;
            r.closed_before = sr.closed_before;
            r.stats = sr.stats;
        }
        Ok(report)
    }
}
