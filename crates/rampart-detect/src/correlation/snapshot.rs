//! Snapshots of the open windows (versioned JSON), so that correlation continues across a restart or a rule reload.

use super::state::Group;
use super::{CorrelationEngine, CorrelationKind, CorrelationStats};
use crate::error::Error;
use serde::{Deserialize, Serialize};

/// The snapshot format; bumped on any incompatible change.
pub const SNAPSHOT_VERSION: u32 = 1;
const FORMAT: &str = "rampart-correlation-state";

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    format: String,
    version: u32,
    watermark: Option<i64>,
    stats: CorrelationStats,
    correlations: Vec<SnapCorrelation>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapCorrelation {
    /// The correlation's id, else name, else title.
    identity: String,
    kind: CorrelationKind,
    timespan_nanos: i64,
    /// `rules:` as written: temporal windows keep one list per position.
    rules: Vec<String>,
    /// (encoded group key, state), sorted by key for a deterministic snapshot.
    groups: Vec<(String, Group)>,
}

/// What [`CorrelationEngine::restore`] took over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    pub groups: usize,
    /// Correlations of the snapshot that are not loaded now, or whose type, rules or
    /// timespan changed (their state is dropped): their identities.
    pub skipped: Vec<String>,
    /// Groups dropped because `max_groups` was reached or their key was malformed.
    pub dropped_groups: usize,
}

impl CorrelationEngine {
    /// The state of every open window, as versioned JSON.
    pub fn snapshot(&self) -> Vec<u8> {
        let snap = Snapshot {
            format: FORMAT.to_owned(),
            version: SNAPSHOT_VERSION,
            watermark: self.watermark,
            stats: self.stats(),
            correlations: self
                .correlations
                .iter()
                .filter(|c| !c.groups.is_empty())
                .map(|c| {
                    let mut groups: Vec<(String, Group)> = c
                        .groups
                        .iter()
                        .map(|(k, g)| (k.to_string(), g.clone()))
                        .collect();
                    groups.sort_by(|a, b| a.0.cmp(&b.0));
                    SnapCorrelation {
                        identity: c.identity.clone(),
                        kind: c.kind,
                        timespan_nanos: c.timespan,
                        rules: c.refs.clone(),
                        groups,
                    }
                })
                .collect(),
        };
        serde_json::to_vec(&snap)
            .expect("snapshot types serialise: string keys and finite numbers only")
    }

    /// Replace the state with a [`snapshot`](Self::snapshot): open windows continue.
    /// State of correlations that are gone or changed is dropped and named in the report;
    /// the bounds of this engine's options apply to what is restored.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<RestoreReport, Error> {
        let snap: Snapshot = serde_json::from_slice(bytes)
            .map_err(|e| Error::Snapshot(format!("cannot read correlation snapshot: {e}")))?;
        if snap.format != FORMAT {
            return Err(Error::Snapshot(format!(
                "not a correlation snapshot (format '{}')",
                snap.format
            )));
        }
        if snap.version != SNAPSHOT_VERSION {
            return Err(Error::Snapshot(format!(
                "correlation snapshot version {} is not supported (expected {SNAPSHOT_VERSION})",
                snap.version
            )));
        }
        for c in &mut self.correlations {
            c.groups.clear();
        }
        let mut report = RestoreReport::default();
        let cap = self.options.max_entries_per_group;
        let max_refs = self.options.max_event_refs;
        let mut total = 0;
        for sc in snap.correlations {
            let target = self.correlations.iter_mut().find(|c| {
                c.identity == sc.identity
                    && c.kind == sc.kind
                    && c.timespan == sc.timespan_nanos
                    && c.refs == sc.rules
                    && c.enabled
            });
            let Some(c) = target else {
                report.skipped.push(sc.identity);
                continue;
            };
            for (key, mut g) in sc.groups {
                let well_formed = super::fields::decode_key(&key)
                    .is_some_and(|v| v.len() == c.group_names.len())
                    && g.window.fits(c.kind, c.refs.len());
                if !well_formed || total >= self.options.max_groups {
                    report.dropped_groups += 1;
                    continue;
                }
                g.window.repair(cap);
                g.refs.make_contiguous().sort_unstable();
                while g.refs.len() > max_refs {
                    g.refs.pop_front();
                }
                c.groups.insert(key.into(), g);
                total += 1;
                report.groups += 1;
            }
        }
        self.watermark = snap.watermark;
        self.last_sweep = None;
        self.stats = CorrelationStats {
            groups: total,
            ..snap.stats
        };
        Ok(report)
    }
}
