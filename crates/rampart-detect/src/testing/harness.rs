//! The test harness: every example of a [`TestSuite`] evaluated once by one engine, and a [`TestReport`] per rule with the reason of each failure.

use super::{Example, ExampleInput, Expect, LineParser, TestFile, TestSuite, names, pairing_key};
use crate::engine::{Engine, Matches};
use crate::load::{Diagnostic, LogSource};
use crate::mapping::{LogSourceClass, Mappings};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;

/// Outcome of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every example gave the expected result.
    Passed,
    Failed,
    /// No example is aimed at the rule.
    NoTests,
    /// Not testable on single events (correlation rules).
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Detection,
    Correlation,
}

/// One example that did not give the expected result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The tests file and the example in it: `match #2 (encoded command)`.
    pub tests: PathBuf,
    pub example: String,
    pub expected: Expect,
    pub reason: String,
    /// The raw line of the example, when it was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// The event fields the rule was evaluated on (absent when they could not be made).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
}

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    pub title: String,
    pub id: Option<String>,
    pub level: Option<String>,
    pub path: Option<PathBuf>,
    pub kind: RuleKind,
    pub status: Status,
    /// Examples run against the rule.
    pub examples: usize,
    pub failures: Vec<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Per-rule results plus the problems that are not a rule's (unreadable tests files,
/// rules that did not load, tests aimed at nothing).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TestReport {
    pub rules: Vec<RuleResult>,
    #[serde(serialize_with = "diagnostics_as_strings")]
    pub errors: Vec<Diagnostic>,
}

fn diagnostics_as_strings<S: serde::Serializer>(d: &[Diagnostic], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(d.iter().map(|d| d.to_string()))
}

impl TestReport {
    pub fn count(&self, status: Status) -> usize {
        self.rules.iter().filter(|r| r.status == status).count()
    }

    /// No rule failed and there was no error (rules without tests do not fail a run).
    pub fn passed(&self) -> bool {
        self.count(Status::Failed) == 0 && self.errors.is_empty()
    }
}

/// An example made into an event, once for all the rules it is aimed at.
struct Prepared {
    fields: Result<Map<String, Value>, String>,
}

fn describe_class(c: &LogSourceClass) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &c.product {
        parts.push(format!("product {p}"));
    }
    if !c.services.is_empty() {
        parts.push(format!("services [{}]", c.services.join(", ")));
    }
    if !c.categories.is_empty() {
        parts.push(format!("categories [{}]", c.categories.join(", ")));
    }
    if parts.is_empty() {
        "no log source".into()
    } else {
        parts.join(", ")
    }
}

fn describe_logsource(l: &LogSource) -> String {
    let parts: Vec<String> = [
        ("product", &l.product),
        ("category", &l.category),
        ("service", &l.service),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
    .collect();
    if parts.is_empty() {
        "any".into()
    } else {
        parts.join(", ")
    }
}

impl TestSuite {
    /// Run every example against the rules it is aimed at, with the rules routed by log
    /// source through `mappings` as in production. Raw-line examples need `parser`.
    pub fn run(&self, mappings: &Mappings, parser: Option<&dyn LineParser>) -> TestReport {
        let engine = Engine::new(&self.rules, mappings);
        let metas: Vec<_> = self.rules.rules().collect();
        let mut by_key: HashMap<PathBuf, Vec<usize>> = HashMap::new();
        for (i, m) in metas.iter().enumerate() {
            if let Some(p) = &m.path {
                by_key.entry(pairing_key(p)).or_default().push(i);
            }
        }
        let correlation_keys: Vec<PathBuf> = self
            .rules
            .correlations()
            .iter()
            .filter_map(|c| c.meta.path.as_deref().map(pairing_key))
            .collect();
        let mut results: Vec<RuleResult> = metas
            .iter()
            .map(|m| RuleResult {
                title: m.title.clone(),
                id: m.id.clone(),
                level: m.level.clone(),
                path: m.path.clone(),
                kind: RuleKind::Detection,
                status: Status::NoTests,
                examples: 0,
                failures: Vec::new(),
                note: None,
            })
            .collect();
        let mut errors = self.diagnostics.clone();
        let mut matches = Matches::new();
        for file in &self.tests {
            let key = pairing_key(&file.path);
            let in_file = by_key.get(&key).map(Vec::as_slice).unwrap_or_default();
            let targets: Vec<usize> = in_file
                .iter()
                .copied()
                .filter(|&i| file.rule.as_deref().is_none_or(|r| names(metas[i], r)))
                .collect();
            if targets.is_empty() {
                if !correlation_keys.contains(&key) {
                    errors.push(Diagnostic {
                        path: file.path.clone(),
                        rule: file.rule.clone(),
                        category: "tests".into(),
                        reason: match &file.rule {
                            Some(r) if !in_file.is_empty() => {
                                format!("`rule: {r}` names no rule of {}.yml", key.display())
                            }
                            _ => format!(
                                "no loaded detection rule in {}.yml (missing, or it failed to load)",
                                key.display()
                            ),
                        },
                    });
                }
                continue;
            }
            for ex in &file.examples {
                let prepared = prepare(ex, parser);
                let mut class = None;
                if let Ok(fields) = &prepared.fields {
                    engine.evaluate(fields, &mut matches);
                    class = Some(engine.classify(fields).0.clone());
                }
                for &i in &targets {
                    let r = &mut results[i];
                    r.examples += 1;
                    if let Some(f) =
                        check(ex, file, &prepared, class.as_ref(), metas[i], &matches, i)
                    {
                        r.failures.push(f);
                    }
                }
            }
        }
        for r in &mut results {
            r.status = if !r.failures.is_empty() {
                Status::Failed
            } else if r.examples == 0 {
                Status::NoTests
            } else {
                Status::Passed
            };
        }
        for c in self.rules.correlations() {
            results.push(RuleResult {
                title: c.meta.title.clone(),
                id: c.meta.id.clone(),
                level: c.meta.level.clone(),
                path: c.meta.path.clone(),
                kind: RuleKind::Correlation,
                status: Status::Skipped,
                examples: 0,
                failures: Vec::new(),
                note: Some(format!(
                    "{} correlation over rules [{}]: needs event sequences, not single events; its base rules are tested on their own",
                    c.kind,
                    c.rules.join(", ")
                )),
            });
        }
        TestReport {
            rules: results,
            errors,
        }
    }
}

fn prepare(ex: &Example, parser: Option<&dyn LineParser>) -> Prepared {
    let fields = match &ex.input {
        ExampleInput::Fields(f) => Ok(f.clone()),
        ExampleInput::Line(line) => match parser {
            Some(p) => p
                .parse_line(line)
                .map_err(|e| format!("the line could not be parsed: {e}")),
            None => Err("raw-line example, but no line parser was given".into()),
        },
    };
    Prepared { fields }
}

fn check(
    ex: &Example,
    file: &TestFile,
    prepared: &Prepared,
    class: Option<&LogSourceClass>,
    meta: &crate::RuleMeta,
    matches: &Matches,
    rule_idx: usize,
) -> Option<Failure> {
    let line = match &ex.input {
        ExampleInput::Line(l) => Some(l.clone()),
        ExampleInput::Fields(_) => None,
    };
    let failure = |reason: String, event: Option<Value>| Failure {
        tests: file.path.clone(),
        example: ex.label(),
        expected: ex.expect,
        reason,
        line: line.clone(),
        event,
    };
    let fields = match &prepared.fields {
        Ok(f) => f,
        Err(e) => return Some(failure(e.clone(), None)),
    };
    let matched = matches.rules().binary_search(&(rule_idx as u32)).is_ok();
    let event = || Some(Value::Object(fields.clone()));
    match (ex.expect, matched) {
        (Expect::Match, true) | (Expect::NoMatch, false) => None,
        (Expect::NoMatch, true) => Some(failure(
            "expected no match, but the rule matched".into(),
            event(),
        )),
        (Expect::Match, false) => {
            let reason = match class {
                Some(c) if !c.admits(&meta.logsource) => format!(
                    "expected a match, but the event's log source ({}) does not admit the rule's ({})",
                    describe_class(c),
                    describe_logsource(&meta.logsource)
                ),
                _ => "expected a match, but the detection did not match".into(),
            };
            Some(failure(reason, event()))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::LoadOptions;

    const RULE: &str = "title: Whoami\nid: r-1\nlevel: low\n\
        logsource: {category: process_creation, product: windows}\n\
        detection: {sel: {CommandLine|contains: whoami}, condition: sel}\n";

    fn sysmon(cmd: &str) -> String {
        format!(
            "{{Event: {{System: {{Channel: Microsoft-Windows-Sysmon/Operational, EventID: 1}}, \
             EventData: {{CommandLine: '{cmd}'}}}}}}"
        )
    }

    /// A suite of one rule file `r.yml` and its tests file `r.tests.yml`.
    fn suite(rule: &str, tests: &str) -> TestSuite {
        let (rules, diagnostics) =
            crate::RuleSet::from_yaml_str(rule, "r.yml", &LoadOptions::default());
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let tests = vec![TestFile::parse(tests, std::path::Path::new("r.tests.yml")).unwrap()];
        TestSuite {
            rules,
            tests,
            diagnostics,
        }
    }

    fn lines(line: &str) -> Result<Map<String, Value>, String> {
        match line.split_once(' ') {
            Some(("cmd", rest)) => serde_json::from_value(serde_json::json!({
                "Event": {"System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1},
                          "EventData": {"CommandLine": rest}}}))
            .map_err(|e| e.to_string()),
            _ => Err(format!("unknown line {line:?}")),
        }
    }

    /// (tests file, expected status, expected failure reasons in order)
    fn check_cases(cases: &[(String, Status, &[&str])]) {
        for (tests, status, reasons) in cases {
            let report = suite(RULE, tests).run(&Mappings::builtin(), Some(&lines));
            let r = &report.rules[0];
            assert_eq!(r.status, *status, "{tests}: {r:?}");
            let got: Vec<&str> = r.failures.iter().map(|f| f.reason.as_str()).collect();
            assert_eq!(got, *reasons, "{tests}");
        }
    }

    #[test]
    fn pass_and_fail_with_reasons() {
        check_cases(&[
            (
                format!("match: [{}]\nno_match: [{}]", sysmon("whoami /all"), sysmon("dir")),
                Status::Passed,
                &[],
            ),
            (
                format!("match: [{}]", sysmon("dir")),
                Status::Failed,
                &["expected a match, but the detection did not match"],
            ),
            (
                format!("no_match: [{}]", sysmon("WHOAMI")),
                Status::Failed,
                &["expected no match, but the rule matched"],
            ),
            (
                // Right command line, wrong log source: Sysmon 3 is a network connection.
                "match: [{Event: {System: {Channel: Microsoft-Windows-Sysmon/Operational, EventID: 3}, EventData: {CommandLine: whoami}}}]".into(),
                Status::Failed,
                &["expected a match, but the event's log source (product windows, services [sysmon], categories [network_connection]) does not admit the rule's (product: windows, category: process_creation)"],
            ),
            (
                "match: ['cmd whoami']\nno_match: ['cmd ipconfig']".into(),
                Status::Passed,
                &[],
            ),
            (
                "match: ['garbage']".into(),
                Status::Failed,
                &["the line could not be parsed: unknown line \"garbage\""],
            ),
            ("rule: r-1\nmatch: []".into(), Status::NoTests, &[]),
        ]);
    }

    #[test]
    fn failure_names_the_example_and_keeps_the_event() {
        let tests = "match:\n  - description: plain dir\n    line: cmd dir\n";
        let report = suite(RULE, tests).run(&Mappings::builtin(), Some(&lines));
        let f = &report.rules[0].failures[0];
        assert_eq!(f.example, "match #1 (plain dir)");
        assert_eq!(f.expected, Expect::Match);
        assert_eq!(f.line.as_deref(), Some("cmd dir"));
        assert_eq!(
            f.event.as_ref().unwrap()["Event"]["EventData"]["CommandLine"],
            "dir"
        );
        assert!(!report.passed());
    }

    #[test]
    fn lines_without_a_parser_fail_clearly() {
        let report = suite(RULE, "match: ['cmd whoami']").run(&Mappings::builtin(), None);
        assert_eq!(
            report.rules[0].failures[0].reason,
            "raw-line example, but no line parser was given"
        );
    }

    #[test]
    fn tests_aimed_at_nothing_are_errors() {
        let report = suite(RULE, &format!("rule: nope\nmatch: [{}]", sysmon("whoami")))
            .run(&Mappings::builtin(), None);
        assert_eq!(report.rules[0].status, Status::NoTests);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(
            report.errors[0].reason,
            "`rule: nope` names no rule of r.yml"
        );
        assert!(!report.passed());
    }

    #[test]
    fn correlation_rules_are_skipped_and_base_rules_tested() {
        let rule = format!(
            "{RULE}---\ntitle: Many whoami\nid: c-1\ncorrelation:\n  type: event_count\n  rules: [r-1]\n  \
             group-by: [Computer]\n  timespan: 5m\n  condition: {{gte: 3}}\n"
        );
        let report =
            suite(&rule, &format!("match: [{}]", sysmon("whoami"))).run(&Mappings::builtin(), None);
        assert_eq!(report.rules.len(), 2, "{report:?}");
        assert_eq!(report.rules[0].status, Status::Passed);
        assert_eq!(report.rules[1].kind, RuleKind::Correlation);
        assert_eq!(report.rules[1].status, Status::Skipped);
        assert!(report.passed());
    }
}
