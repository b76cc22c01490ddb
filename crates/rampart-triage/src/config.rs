//! The fatigue controls' settings, all on by default (`[triage]` in the configuration file).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::TriageError;
use crate::signal::{EntityKind, Level};

/// Every fatigue control's settings. The defaults are what a small SOC wants on day one;
/// the crate README says why each one is what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageConfig {
    pub dedup: DedupConfig,
    pub grouping: GroupingConfig,
    pub suppression: SuppressionConfig,
    pub risk: RiskConfig,
    /// Entity values too common to say two alerts are related or to carry risk
    /// (`system`, `localhost`, …), compared after normalisation (lower case).
    pub common_values: Vec<String>,
    /// Priority points added to alerts involving these entities (crown jewels).
    pub criticality: Vec<CriticalEntity>,
    /// Closed alerts unchanged for this many days are deleted with their history, and
    /// the groups they leave empty (0: kept for ever). Open alerts are never deleted.
    pub closed_alert_retention_days: u64,
}

/// Deduplication: a repeat of the same rule on the same entities folds into the open alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DedupConfig {
    pub enabled: bool,
    /// A repeat folds into an open alert when the alert's span, the repeat included,
    /// stays within this many seconds (in order: within this long of its first sighting).
    pub window_secs: u64,
    /// Most event ids one alert keeps (its count keeps counting past it).
    pub max_event_ids: usize,
}

/// Grouping of related alerts into incident candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupingConfig {
    pub enabled: bool,
    /// An alert joins a group that shares an entity and was last active this many seconds before.
    pub window_secs: u64,
    /// An alert on a group's host whose ATT&CK tactic is at or past the group's latest
    /// tactic joins it when the group was active this many seconds before.
    pub chain_window_secs: u64,
    /// Entity kinds that relate alerts (process names are shared by every host, so not by default).
    pub entity_kinds: Vec<EntityKind>,
}

/// Suppressions (exceptions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuppressionConfig {
    pub enabled: bool,
}

/// Risk-based alerting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    pub enabled: bool,
    /// Risk is summed over this many seconds.
    pub window_secs: u64,
    /// An entity whose sum reaches this raises one risk alert.
    pub threshold: u32,
    /// Entity kinds that accumulate risk.
    pub entity_kinds: Vec<EntityKind>,
    /// Count each rule once per entity and window (its highest risk), so that one noisy
    /// rule cannot push an entity over the threshold alone.
    pub distinct_rules: bool,
    /// Default risk of a rule by its level.
    pub level_risk: LevelRisk,
    /// Risk per rule id, overriding the rule's own and the level's.
    pub rule_risk: BTreeMap<String, u32>,
    /// Level of the risk alert.
    pub alert_level: Level,
}

/// Risk by level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LevelRisk {
    pub informational: u32,
    pub low: u32,
    pub medium: u32,
    pub high: u32,
    pub critical: u32,
}

/// An entity that matters more than most (a domain controller, the CFO).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalEntity {
    pub kind: EntityKind,
    pub value: String,
    /// Priority points added (0–50).
    pub bonus: u8,
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            dedup: DedupConfig::default(),
            grouping: GroupingConfig::default(),
            suppression: SuppressionConfig::default(),
            risk: RiskConfig::default(),
            common_values: [
                "system",
                "local service",
                "network service",
                "nt authority\\system",
                "anonymous logon",
                "root",
                "localhost",
                "127.0.0.1",
                "::1",
                "0.0.0.0",
                "::",
            ]
            .map(str::to_owned)
            .to_vec(),
            criticality: Vec::new(),
            closed_alert_retention_days: 365,
        }
    }
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            enabled: true,
            window_secs: 3600,
            max_event_ids: crate::signal::DEFAULT_MAX_EVENT_IDS,
        }
    }
}

impl Default for GroupingConfig {
    fn default() -> Self {
        GroupingConfig {
            enabled: true,
            window_secs: 4 * 3600,
            chain_window_secs: 24 * 3600,
            entity_kinds: vec![
                EntityKind::Host,
                EntityKind::User,
                EntityKind::SourceIp,
                EntityKind::DestinationIp,
                EntityKind::FileHash,
            ],
        }
    }
}

impl Default for SuppressionConfig {
    fn default() -> Self {
        SuppressionConfig { enabled: true }
    }
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            enabled: true,
            window_secs: 24 * 3600,
            threshold: 100,
            entity_kinds: vec![EntityKind::Host, EntityKind::User, EntityKind::SourceIp],
            distinct_rules: true,
            level_risk: LevelRisk::default(),
            rule_risk: BTreeMap::new(),
            alert_level: Level::High,
        }
    }
}

impl Default for LevelRisk {
    fn default() -> Self {
        LevelRisk {
            informational: 1,
            low: 5,
            medium: 15,
            high: 40,
            critical: 70,
        }
    }
}

impl LevelRisk {
    pub fn of(&self, level: Level) -> u32 {
        match level {
            Level::Informational => self.informational,
            Level::Low => self.low,
            Level::Medium => self.medium,
            Level::High => self.high,
            Level::Critical => self.critical,
        }
    }
}

/// Nanoseconds in `secs` seconds, saturating.
pub(crate) fn nanos(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000_000)
}

impl TriageConfig {
    /// Refuse settings that cannot work (a zero window on an enabled control …).
    pub fn validate(&self) -> Result<(), TriageError> {
        let bad = |msg: &str| Err(TriageError::Config(msg.to_owned()));
        if self.dedup.enabled && self.dedup.window_secs == 0 {
            return bad("dedup.window_secs must be above 0 when deduplication is enabled");
        }
        if self.dedup.max_event_ids == 0 {
            return bad("dedup.max_event_ids must be at least 1");
        }
        if self.grouping.enabled && self.grouping.window_secs == 0 {
            return bad("grouping.window_secs must be above 0 when grouping is enabled");
        }
        if self.risk.enabled && (self.risk.window_secs == 0 || self.risk.threshold == 0) {
            return bad("risk.window_secs and risk.threshold must be above 0 when risk is enabled");
        }
        if let Some(c) = self.criticality.iter().find(|c| c.bonus > 50) {
            return Err(TriageError::Config(format!(
                "criticality bonus of {} '{}' is {}, at most 50",
                c.kind.as_str(),
                c.value,
                c.bonus
            )));
        }
        Ok(())
    }

    /// Whether `value` is too common to relate alerts or carry risk.
    pub(crate) fn is_common(&self, value: &str) -> bool {
        self.common_values
            .iter()
            .any(|c| c.eq_ignore_ascii_case(value))
    }

    /// The risk a signal of `rule_id` at `level` adds (its own when it has one).
    pub(crate) fn risk_of(&self, rule_id: &str, level: Level, own: Option<u32>) -> u32 {
        self.risk
            .rule_risk
            .get(rule_id)
            .copied()
            .or(own)
            .unwrap_or_else(|| self.risk.level_risk.of(level))
    }

    /// Criticality bonus of the most critical entity among `entities`.
    pub(crate) fn criticality_bonus(&self, entities: &crate::Entities) -> u8 {
        entities
            .iter()
            .filter_map(|(kind, value)| {
                self.criticality
                    .iter()
                    .find(|c| c.kind == kind && c.value.eq_ignore_ascii_case(value))
                    .map(|c| c.bonus)
            })
            .max()
            .unwrap_or(0)
    }
}

/// Priority 0–100: a base by level, up to 10 points for the rule's risk (risk / 5), the
/// most critical entity's bonus, and 10 points for risk alerts (several detections agree).
pub fn priority(level: Level, risk: u32, criticality: u8, risk_alert: bool) -> u8 {
    let base: u32 = match level {
        Level::Informational => 10,
        Level::Low => 25,
        Level::Medium => 45,
        Level::High => 65,
        Level::Critical => 85,
    };
    let total =
        base + (risk / 5).min(10) + u32::from(criticality) + if risk_alert { 10 } else { 0 };
    u8::try_from(total.min(100)).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_json() {
        let cfg = TriageConfig::default();
        cfg.validate().expect("defaults are valid");
        let text = serde_json::to_string(&cfg).expect("serialise");
        let back: TriageConfig = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(back, cfg);
        let partial: TriageConfig =
            serde_json::from_str(r#"{"dedup": {"window_secs": 60}}"#).expect("partial");
        assert_eq!(partial.dedup.window_secs, 60);
        assert!(partial.dedup.enabled && partial.risk.enabled);
        assert!(serde_json::from_str::<TriageConfig>(r#"{"dedupe": {}}"#).is_err());
    }

    #[test]
    fn unusable_settings_are_refused_with_their_name() {
        type Case = (fn(&mut TriageConfig), &'static str);
        let cases: [Case; 4] = [
            (|c| c.dedup.window_secs = 0, "dedup.window_secs"),
            (|c| c.risk.threshold = 0, "risk.threshold"),
            (|c| c.grouping.window_secs = 0, "grouping.window_secs"),
            (
                |c| {
                    c.criticality.push(CriticalEntity {
                        kind: EntityKind::Host,
                        value: "dc01".into(),
                        bonus: 90,
                    })
                },
                "dc01",
            ),
        ];
        for (change, needle) in cases {
            let mut cfg = TriageConfig::default();
            change(&mut cfg);
            let err = cfg.validate().expect_err("invalid");
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn priority_orders_by_level_then_risk_and_criticality() {
        let cases = [
            (Level::Informational, 0, 0, false, 10),
            (Level::Medium, 15, 0, false, 48),
            (Level::High, 40, 0, false, 73),
            (Level::High, 40, 20, false, 93),
            (Level::High, 200, 0, true, 85),
            (Level::Critical, 70, 50, true, 100),
        ];
        for (level, risk, crit, risk_alert, expected) in cases {
            assert_eq!(
                priority(level, risk, crit, risk_alert),
                expected,
                "{level:?} {risk} {crit} {risk_alert}"
            );
        }
    }

    #[test]
    fn rule_override_wins_over_own_and_level_risk() {
        let mut cfg = TriageConfig::default();
        cfg.risk.rule_risk.insert("r1".into(), 3);
        assert_eq!(cfg.risk_of("r1", Level::Critical, Some(90)), 3);
        assert_eq!(cfg.risk_of("r2", Level::Critical, Some(90)), 90);
        assert_eq!(cfg.risk_of("r2", Level::Medium, None), 15);
    }
}
