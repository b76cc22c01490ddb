//! What a Sigma correlation rule asks for, lowered from `rsigma-parser`'s AST into plain types kept in [`CorrelationMeta`](crate::CorrelationMeta).

use rsigma_parser::{
    ConditionExpr, ConditionOperator, CorrelationCondition as ParsedCondition, CorrelationRule,
    CorrelationType, WindowMode,
};
use serde::{Deserialize, Serialize};

/// The correlation types of Sigma v2.1 (`value_median` is rsigma's extension, kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
    ValueMedian,
}

impl CorrelationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
            CorrelationKind::ValueSum => "value_sum",
            CorrelationKind::ValueAvg => "value_avg",
            CorrelationKind::ValuePercentile => "value_percentile",
            CorrelationKind::ValueMedian => "value_median",
        }
    }

    /// Whether the condition reads numbers from `field` (sum, average, percentile).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            CorrelationKind::ValueSum
                | CorrelationKind::ValueAvg
                | CorrelationKind::ValuePercentile
                | CorrelationKind::ValueMedian
        )
    }

    pub fn is_temporal(self) -> bool {
        matches!(
            self,
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered
        )
    }
}

impl From<CorrelationType> for CorrelationKind {
    fn from(t: CorrelationType) -> Self {
        match t {
            CorrelationType::EventCount => CorrelationKind::EventCount,
            CorrelationType::ValueCount => CorrelationKind::ValueCount,
            CorrelationType::Temporal => CorrelationKind::Temporal,
            CorrelationType::TemporalOrdered => CorrelationKind::TemporalOrdered,
            CorrelationType::ValueSum => CorrelationKind::ValueSum,
            CorrelationType::ValueAvg => CorrelationKind::ValueAvg,
            CorrelationType::ValuePercentile => CorrelationKind::ValuePercentile,
            CorrelationType::ValueMedian => CorrelationKind::ValueMedian,
        }
    }
}

/// A comparison of the aggregated value with a threshold (`neq` is rsigma's extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThresholdOp {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
    Neq,
}

impl ThresholdOp {
    /// Whether `value op threshold` holds (equality within `f64::EPSILON`, as rsigma).
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            ThresholdOp::Lt => value < threshold,
            ThresholdOp::Lte => value <= threshold,
            ThresholdOp::Gt => value > threshold,
            ThresholdOp::Gte => value >= threshold,
            ThresholdOp::Eq => (value - threshold).abs() < f64::EPSILON,
            ThresholdOp::Neq => (value - threshold).abs() >= f64::EPSILON,
        }
    }
}

impl From<ConditionOperator> for ThresholdOp {
    fn from(o: ConditionOperator) -> Self {
        match o {
            ConditionOperator::Lt => ThresholdOp::Lt,
            ConditionOperator::Lte => ThresholdOp::Lte,
            ConditionOperator::Gt => ThresholdOp::Gt,
            ConditionOperator::Gte => ThresholdOp::Gte,
            ConditionOperator::Eq => ThresholdOp::Eq,
            ConditionOperator::Neq => ThresholdOp::Neq,
        }
    }
}

/// A boolean expression over referenced rules (`rule_a and not rule_b`) for temporal types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemporalExpr {
    /// True when the rule has a match in the window.
    Rule(String),
    And(Vec<TemporalExpr>),
    Or(Vec<TemporalExpr>),
    Not(Box<TemporalExpr>),
}

/// When a correlation fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrelationCondition {
    /// Every predicate holds for the aggregated value (one predicate, or a range).
    Threshold(Vec<(ThresholdOp, u64)>),
    /// Temporal types without a condition: every referenced rule matched in the window.
    AllRules,
    /// Temporal types with a boolean expression over the referenced rules.
    Expression(TemporalExpr),
}

/// A `group-by` entry: its name and, when it is an alias, the field per referenced rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupField {
    pub name: String,
    /// Rule reference (name or id) → field in that rule's events, sorted by reference.
    pub aliases: Vec<(String, String)>,
}

impl GroupField {
    /// The field to read in events of the rule known by any of `identities`.
    pub fn field_for<'a>(&'a self, identities: &[&str]) -> &'a str {
        for (rule, field) in &self.aliases {
            if identities.contains(&rule.as_str()) {
                return field;
            }
        }
        &self.name
    }
}

/// Everything the correlation engine needs from a correlation rule beyond its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationSpec {
    pub kind: CorrelationKind,
    pub group_by: Vec<GroupField>,
    pub condition: CorrelationCondition,
    /// `condition.field`: the counted field(s) of `value_count`, the number of `value_*`.
    pub fields: Vec<String>,
    /// `condition.percentile` of `value_percentile` (50 when absent).
    pub percentile: u64,
    /// Why the engine cannot run the rule as written, if it cannot.
    pub unsupported: Option<String>,
}

fn lower_expr(e: &ConditionExpr) -> Result<TemporalExpr, String> {
    Ok(match e {
        ConditionExpr::Identifier(r) => TemporalExpr::Rule(r.clone()),
        ConditionExpr::And(v) => {
            TemporalExpr::And(v.iter().map(lower_expr).collect::<Result<_, _>>()?)
        }
        ConditionExpr::Or(v) => {
            TemporalExpr::Or(v.iter().map(lower_expr).collect::<Result<_, _>>()?)
        }
        ConditionExpr::Not(x) => TemporalExpr::Not(Box::new(lower_expr(x)?)),
        ConditionExpr::Selector { .. } => {
            return Err("selectors (`1 of …`) are not allowed in a correlation condition".into());
        }
    })
}

impl CorrelationSpec {
    /// Lower a parsed correlation rule. Never fails: what cannot run is noted in
    /// `unsupported` and reported when a [`CorrelationEngine`](super::CorrelationEngine)
    /// is built.
    pub fn from_parsed(c: &CorrelationRule) -> CorrelationSpec {
        let kind = CorrelationKind::from(c.correlation_type);
        let mut unsupported = None;
        let mut note = |why: String| {
            if unsupported.is_none() {
                unsupported = Some(why);
            }
        };
        if c.window != WindowMode::Sliding {
            note(format!(
                "window '{}' is an rsigma extension; only sliding windows (the specification's) are evaluated",
                c.window.as_str()
            ));
        }
        if c.timespan.seconds == 0 {
            note("timespan must be longer than zero".into());
        }
        let group_by = c
            .group_by
            .iter()
            .map(|name| {
                let mut aliases: Vec<(String, String)> = c
                    .aliases
                    .iter()
                    .filter(|a| &a.alias == name)
                    .flat_map(|a| a.mapping.iter().map(|(r, f)| (r.clone(), f.clone())))
                    .collect();
                aliases.sort();
                GroupField {
                    name: name.clone(),
                    aliases,
                }
            })
            .collect();
        let (condition, fields, percentile) = match &c.condition {
            ParsedCondition::Threshold {
                predicates,
                field,
                percentile,
            } => {
                let fields = field.clone().unwrap_or_default();
                let preds: Vec<(ThresholdOp, u64)> = predicates
                    .iter()
                    .map(|(o, v)| (ThresholdOp::from(*o), *v))
                    .collect();
                // The parser gives `gte: 1` to a temporal rule without a condition; the
                // specification's meaning of that rule is "all referenced rules matched".
                let condition = if kind.is_temporal()
                    && fields.is_empty()
                    && preds == [(ThresholdOp::Gte, 1)]
                {
                    CorrelationCondition::AllRules
                } else {
                    CorrelationCondition::Threshold(preds)
                };
                (condition, fields, percentile.unwrap_or(50))
            }
            ParsedCondition::Extended(expr) => {
                if !kind.is_temporal() {
                    note("a condition expression is only allowed for temporal types".into());
                }
                match lower_expr(expr) {
                    Ok(e) => (CorrelationCondition::Expression(e), Vec::new(), 50),
                    Err(why) => {
                        note(why);
                        (CorrelationCondition::AllRules, Vec::new(), 50)
                    }
                }
            }
        };
        if kind == CorrelationKind::ValueCount && fields.is_empty() {
            note("value_count needs `field` in its condition".into());
        }
        if kind.is_numeric() && fields.len() != 1 {
            note(format!(
                "{} needs exactly one `field` in its condition",
                kind.as_str()
            ));
        }
        if percentile > 100 {
            note(format!("percentile {percentile} is over 100"));
        }
        CorrelationSpec {
            kind,
            group_by,
            condition,
            fields,
            percentile,
            unsupported,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lower(correlation: &str) -> CorrelationSpec {
        let yaml = format!("title: t\ncorrelation:\n{correlation}");
        let c = rsigma_parser::parse_sigma_yaml(&yaml).unwrap();
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        CorrelationSpec::from_parsed(&c.correlations[0])
    }

    #[test]
    fn conditions() {
        let base = "  rules: [a, b]\n  group-by: [u]\n  timespan: 1m\n";
        let cases: &[(&str, &str, CorrelationCondition)] = &[
            ("temporal", "", CorrelationCondition::AllRules),
            ("temporal_ordered", "", CorrelationCondition::AllRules),
            (
                "temporal",
                "  condition: {gte: 2}\n",
                CorrelationCondition::Threshold(vec![(ThresholdOp::Gte, 2)]),
            ),
            (
                "event_count",
                "  condition: {gt: 1, lte: 5}\n",
                CorrelationCondition::Threshold(vec![(ThresholdOp::Lte, 5), (ThresholdOp::Gt, 1)]),
            ),
            (
                "temporal",
                "  condition: a and not b\n",
                CorrelationCondition::Expression(TemporalExpr::And(vec![
                    TemporalExpr::Rule("a".into()),
                    TemporalExpr::Not(Box::new(TemporalExpr::Rule("b".into()))),
                ])),
            ),
        ];
        for (kind, cond, want) in cases {
            let s = lower(&format!("  type: {kind}\n{base}{cond}"));
            assert_eq!(&s.condition, want, "{kind} {cond}");
            assert_eq!(s.unsupported, None);
        }
    }

    #[test]
    fn aliases_and_fields() {
        let s = lower(
            "  type: value_count\n  rules: [a, b]\n  group-by: [ip, host]\n  timespan: 1h\n  \
             condition: {field: user, gte: 3}\n  aliases:\n    ip: {b: destination.ip, a: source.ip}\n",
        );
        assert_eq!(s.kind, CorrelationKind::ValueCount);
        assert_eq!(s.fields, ["user"]);
        assert_eq!(s.group_by[0].field_for(&["a"]), "source.ip");
        assert_eq!(s.group_by[0].field_for(&["x", "b"]), "destination.ip");
        assert_eq!(s.group_by[0].field_for(&["c"]), "ip");
        assert_eq!(s.group_by[1].field_for(&["a"]), "host");
        assert_eq!(
            lower("  type: value_percentile\n  rules: [a]\n  group-by: [h]\n  timespan: 1h\n  condition: {field: n, percentile: 95, gte: 3}\n")
                .percentile,
            95
        );
    }

    #[test]
    fn unsupported_forms_are_noted() {
        let cases = [
            (
                "  type: value_count\n  condition: {gte: 3}\n",
                "needs `field`",
            ),
            (
                "  type: value_sum\n  condition: {field: [a, b], gte: 3}\n",
                "exactly one",
            ),
            (
                "  type: event_count\n  condition: {gte: 3}\n  window: tumbling\n",
                "sliding",
            ),
            (
                "  type: event_count\n  condition: a and b\n",
                "only allowed for temporal",
            ),
        ];
        for (body, why) in cases {
            let s = lower(&format!(
                "  rules: [a]\n  group-by: [u]\n  timespan: 1m\n{body}"
            ));
            assert!(
                s.unsupported.as_deref().is_some_and(|u| u.contains(why)),
                "{body}: {:?}",
                s.unsupported
            );
        }
    }
}
