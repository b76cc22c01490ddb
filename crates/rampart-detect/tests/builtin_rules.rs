//! Rampart's default rules: every rule's embedded examples pass, and every rule carries what a SOC needs (id, level, ATT&CK tags, false positives, positive and negative tests).
#![allow(clippy::unwrap_used)]

use rampart_detect::testing::{Status, TestSuite};
use rampart_detect::{LineParser, Mappings};
use rampart_model::{Origin, OriginKind};
use serde_json::{Map, Value};
use std::collections::HashSet;

fn parser() -> impl LineParser {
    let p = rampart_parse::Parser::new(rampart_parse::ParserConfig::default()).unwrap();
    move |line: &str| -> Result<Map<String, Value>, String> {
        let ev = p.parse(line.as_bytes(), Origin::new(OriginKind::File, "rule-tests"));
        match ev.parse_error {
            Some(e) => Err(e),
            None => Ok(ev.fields),
        }
    }
}

#[test]
fn builtin_rule_tests_pass() {
    let suite = TestSuite::builtin();
    let p = parser();
    let report = suite.run(&Mappings::builtin(), Some(&p));
    let mut failed = Vec::new();
    for r in &report.rules {
        for f in &r.failures {
            failed.push(format!(
                "{} [{}] {}: {}{}\n    event: {}",
                r.title,
                f.tests.display(),
                f.example,
                f.reason,
                f.line
                    .as_deref()
                    .map(|l| format!("\n    line: {l}"))
                    .unwrap_or_default(),
                f.event.as_ref().map(|e| e.to_string()).unwrap_or_default()
            ));
        }
    }
    assert!(report.errors.is_empty(), "errors: {:#?}", report.errors);
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let untested: Vec<String> = suite
        .untested_rules()
        .iter()
        .map(|(m, why)| format!("{}: {why}", m.title))
        .collect();
    assert!(untested.is_empty(), "{untested:#?}");
    for r in &report.rules {
        assert!(
            matches!(r.status, Status::Passed | Status::Skipped),
            "{}: {:?}",
            r.title,
            r.status
        );
    }
    println!(
        "{} rules passed, {} skipped (correlations)",
        report.count(Status::Passed),
        report.count(Status::Skipped)
    );
}

#[test]
fn builtin_rules_are_complete() {
    let (rules, diags) = rampart_detect::RuleSet::builtin();
    assert!(diags.is_empty(), "{diags:#?}");
    let own: Vec<_> = rules
        .rules()
        .filter(|m| {
            !m.path
                .as_deref()
                .is_some_and(|p| p.starts_with("builtin/correlations"))
        })
        .collect();
    assert!(own.len() >= 25, "only {} default rules", own.len());
    let mut ids = HashSet::new();
    for m in &own {
        let id =
            m.id.as_deref()
                .unwrap_or_else(|| panic!("{}: no id", m.title));
        assert!(ids.insert(id.to_owned()), "{}: duplicate id {id}", m.title);
        assert!(m.level.is_some(), "{}: no level", m.title);
        assert!(
            !m.falsepositives.is_empty(),
            "{}: no falsepositives",
            m.title
        );
        assert!(!m.tactics.is_empty(), "{}: no ATT&CK tactic", m.title);
        assert!(!m.techniques.is_empty(), "{}: no ATT&CK technique", m.title);
        assert!(m.description.is_some(), "{}: no description", m.title);
        let path = m.path.as_deref().unwrap();
        assert!(path.starts_with("builtin/"), "{}", path.display());
    }
}
