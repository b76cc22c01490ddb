//! Detection as code: example events kept beside each rule (`rule.tests.yml`), loaded into a [`TestSuite`] and run by the harness in [`harness`].
//!
//! A rule file `foo.yml` is tested by `foo.tests.yml` (or `foo.tests.yaml`) in the same
//! folder:
//!
//! ```yaml
//! rule: 5b0e…            # optional: id, name or title of one rule of foo.yml
//! match:                 # events the rule must match
//!   - "Mar 10 08:12:01 web1 sshd[2211]: Failed password for root from 203.0.113.7 port 51122 ssh2"
//!   - {Event: {System: {Channel: Security, EventID: 1102}}}
//!   - description: encoded command, short flag
//!     fields: {process: {command_line: "powershell -enc SQBFAFgA"}}
//! no_match:              # events it must not match
//!   - line: "Mar 10 08:12:01 web1 sshd[2211]: Accepted publickey for alice from 198.51.100.4 port 40022 ssh2"
//! ```
//!
//! An example is a string (a raw log line, parsed by the caller's [`LineParser`]), a
//! mapping of event fields (nested or dotted keys, as a parser would produce them), or a
//! mapping with only `description` and one of `line` / `fields`.

mod harness;

pub use harness::{Failure, RuleKind, RuleResult, Status, TestReport};

use crate::error::Error;
use crate::load::{self, Diagnostic, LoadOptions, RuleSet};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Whether `path` names a rule tests file (`*.tests.yml` / `*.tests.yaml`).
pub fn is_tests_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".tests.yml") || n.ends_with(".tests.yaml"))
}

/// What a rule file and its tests file have in common: the path without `.yml` /
/// `.tests.yml` (`rules/linux/ssh.yml` and `rules/linux/ssh.tests.yml` → `rules/linux/ssh`).
pub fn pairing_key(path: &Path) -> PathBuf {
    let s = path.to_string_lossy();
    for suffix in [".tests.yml", ".tests.yaml", ".yml", ".yaml"] {
        if let Some(stem) = s.strip_suffix(suffix) {
            return PathBuf::from(stem);
        }
    }
    path.to_owned()
}

/// The tests files a rule file may have, in the order they are looked for.
pub fn tests_paths_for(rule_path: &Path) -> [PathBuf; 2] {
    let key = pairing_key(rule_path).to_string_lossy().into_owned();
    [
        PathBuf::from(format!("{key}.tests.yml")),
        PathBuf::from(format!("{key}.tests.yaml")),
    ]
}

/// Whether the rule must or must not match an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Match,
    NoMatch,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Match => "match",
            Expect::NoMatch => "no_match",
        }
    }
}

/// The event of an example, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum ExampleInput {
    /// Event fields.
    Fields(Map<String, Value>),
    /// A raw log line, turned into fields by a [`LineParser`].
    Line(String),
}

/// One example event and what the rule must do with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub expect: Expect,
    /// 1-based position in its `match` or `no_match` list.
    pub position: usize,
    pub description: Option<String>,
    pub input: ExampleInput,
}

impl Example {
    /// `match #2 (encoded command)`: how failures name the example.
    pub fn label(&self) -> String {
        let mut s = format!("{} #{}", self.expect.as_str(), self.position);
        if let Some(d) = &self.description {
            s.push_str(&format!(" ({d})"));
        }
        s
    }
}

/// The examples of one tests file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    pub path: PathBuf,
    /// Id, name or title of the rule tested; `None` = every detection rule of the file.
    pub rule: Option<String>,
    pub examples: Vec<Example>,
}

impl TestFile {
    /// Parse a tests file; `path` names it in errors and pairs it with its rule file.
    pub fn parse(text: &str, path: &Path) -> Result<TestFile, Error> {
        let err = |reason: String| Error::Tests {
            path: path.to_owned(),
            reason,
        };
        let doc: Value = yaml_serde::from_str(text).map_err(|e| err(e.to_string()))?;
        let Value::Object(top) = doc else {
            return Err(err(
                "expected a mapping with `match` and `no_match` lists".into()
            ));
        };
        let mut file = TestFile {
            path: path.to_owned(),
            rule: None,
            examples: Vec::new(),
        };
        for (key, value) in top {
            match key.as_str() {
                "rule" => match value {
                    Value::String(s) => file.rule = Some(s),
                    _ => return Err(err("`rule` must be a string (id, name or title)".into())),
                },
                "match" | "no_match" => {
                    let expect = if key == "match" {
                        Expect::Match
                    } else {
                        Expect::NoMatch
                    };
                    let items = match value {
                        Value::Array(items) => items,
                        Value::Null => Vec::new(),
                        _ => return Err(err(format!("`{key}` must be a list of examples"))),
                    };
                    for (i, item) in items.into_iter().enumerate() {
                        let ex = example(item, expect, i + 1)
                            .map_err(|r| err(format!("{key} #{}: {r}", i + 1)))?;
                        file.examples.push(ex);
                    }
                }
                other => {
                    return Err(err(format!(
                        "unknown key `{other}` (expected `rule`, `match`, `no_match`)"
                    )));
                }
            }
        }
        Ok(file)
    }

    /// Number of examples expecting `expect`.
    pub fn count(&self, expect: Expect) -> usize {
        self.examples.iter().filter(|e| e.expect == expect).count()
    }
}

const WRAPPER_KEYS: &[&str] = &["description", "line", "fields"];

fn example(item: Value, expect: Expect, position: usize) -> Result<Example, String> {
    let (description, input) = match item {
        Value::String(line) => (None, ExampleInput::Line(line)),
        Value::Object(map) => {
            let wrapped = map.keys().all(|k| WRAPPER_KEYS.contains(&k.as_str()))
                && (map.contains_key("line") || map.contains_key("fields"));
            if wrapped {
                wrapped_example(map)?
            } else {
                (None, ExampleInput::Fields(map))
            }
        }
        _ => return Err("an example is a log line (string) or a mapping of event fields".into()),
    };
    Ok(Example {
        expect,
        position,
        description,
        input,
    })
}

fn wrapped_example(mut map: Map<String, Value>) -> Result<(Option<String>, ExampleInput), String> {
    let description = match map.remove("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err("`description` must be a string".into()),
    };
    let input = match (map.remove("line"), map.remove("fields")) {
        (Some(Value::String(l)), None) => ExampleInput::Line(l),
        (None, Some(Value::Object(f))) => ExampleInput::Fields(f),
        (Some(_), Some(_)) => return Err("give either `line` or `fields`, not both".into()),
        (Some(_), None) => return Err("`line` must be a string".into()),
        _ => return Err("`fields` must be a mapping".into()),
    };
    Ok((description, input))
}

/// Turns a raw log line of an example into event fields (the caller's parser: Rampart's
/// binary uses rampart-parse's automatic format detection).
pub trait LineParser: Sync {
    fn parse_line(&self, line: &str) -> Result<Map<String, Value>, String>;
}

impl<F> LineParser for F
where
    F: Fn(&str) -> Result<Map<String, Value>, String> + Sync,
{
    fn parse_line(&self, line: &str) -> Result<Map<String, Value>, String> {
        self(line)
    }
}

/// Rules and the tests files kept beside them, ready to [`run`](TestSuite::run).
#[derive(Debug, Clone, Default)]
pub struct TestSuite {
    pub rules: RuleSet,
    pub tests: Vec<TestFile>,
    /// Rules that did not load and tests files that could not be read or parsed.
    pub diagnostics: Vec<Diagnostic>,
}

fn tests_diag(path: &Path, reason: String) -> Diagnostic {
    Diagnostic {
        path: path.to_owned(),
        rule: None,
        category: "tests".into(),
        reason,
    }
}

impl TestSuite {
    /// Rampart's default rules with their embedded tests.
    pub fn builtin() -> TestSuite {
        let (rules, mut diagnostics) = RuleSet::builtin();
        let mut tests = Vec::new();
        for (rel, text) in crate::builtin::test_files() {
            let path = crate::builtin::path(rel);
            match TestFile::parse(text, &path) {
                Ok(t) => tests.push(t),
                Err(e) => diagnostics.push(tests_diag(&path, e.to_string())),
            }
        }
        TestSuite {
            rules,
            tests,
            diagnostics,
        }
    }

    /// Load rule files and directories with their tests files. A directory gives every
    /// rule and tests file under it; a rule file brings its tests file and a tests file
    /// its rule file.
    pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> TestSuite {
        let mut diagnostics = Vec::new();
        let mut rule_files = BTreeSet::new();
        let mut test_files = BTreeSet::new();
        for p in paths {
            if p.is_dir() {
                let mut found = Vec::new();
                load::collect_files(p, &mut found, &mut diagnostics);
                collect_tests(p, &mut test_files);
                for f in found {
                    rule_files.insert(f);
                }
            } else if is_tests_file(p) {
                test_files.insert(p.clone());
                let key = pairing_key(p).to_string_lossy().into_owned();
                match ["yml", "yaml"]
                    .map(|x| PathBuf::from(format!("{key}.{x}")))
                    .into_iter()
                    .find(|r| r.is_file())
                {
                    Some(r) => {
                        rule_files.insert(r);
                    }
                    None => diagnostics.push(tests_diag(
                        p,
                        format!("no rule file beside it (expected {key}.yml)"),
                    )),
                }
            } else {
                rule_files.insert(p.clone());
                if let Some(t) = tests_paths_for(p).into_iter().find(|t| t.is_file()) {
                    test_files.insert(t);
                }
            }
        }
        let rule_files: Vec<PathBuf> = rule_files.into_iter().collect();
        let (rules, more) = RuleSet::load_paths(&rule_files, opts);
        diagnostics.extend(more);
        let mut tests = Vec::new();
        for path in test_files {
            let text = match load::read_rule_file(&path, opts) {
                Ok(t) => t,
                Err(mut d) => {
                    d.category = "tests".into();
                    diagnostics.push(d);
                    continue;
                }
            };
            match TestFile::parse(&text, &path) {
                Ok(t) => tests.push(t),
                Err(e) => diagnostics.push(tests_diag(&path, e.to_string())),
            }
        }
        TestSuite {
            rules,
            tests,
            diagnostics,
        }
    }

    /// Detection rules that lack a tests file with at least one `match` and one
    /// `no_match` example aimed at them, each with the reason.
    pub fn untested_rules(&self) -> Vec<(&crate::RuleMeta, String)> {
        let mut out = Vec::new();
        for meta in self.rules.rules() {
            let key = meta.path.as_deref().map(pairing_key);
            let aimed: Vec<&TestFile> = self
                .tests
                .iter()
                .filter(|t| key.as_ref() == Some(&pairing_key(&t.path)))
                .filter(|t| t.rule.as_deref().is_none_or(|r| names(meta, r)))
                .collect();
            let expected = meta
                .path
                .as_deref()
                .map(|p| tests_paths_for(p)[0].display().to_string())
                .unwrap_or_else(|| "a tests file".into());
            let count = |e: Expect| aimed.iter().map(|t| t.count(e)).sum::<usize>();
            let reason = if aimed.is_empty() {
                Some(format!("no tests (expected {expected})"))
            } else if count(Expect::Match) == 0 {
                Some("tests have no `match` example".into())
            } else if count(Expect::NoMatch) == 0 {
                Some("tests have no `no_match` example".into())
            } else {
                None
            };
            if let Some(r) = reason {
                out.push((meta, r));
            }
        }
        out
    }
}

/// Whether `name` is the id, name or title of the rule.
pub(crate) fn names(meta: &crate::RuleMeta, name: &str) -> bool {
    meta.id.as_deref() == Some(name) || meta.name.as_deref() == Some(name) || meta.title == name
}

fn collect_tests(dir: &Path, out: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_tests(&path, out),
            Ok(t) if t.is_file() && is_tests_file(&path) => {
                out.insert(path);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<TestFile, String> {
        TestFile::parse(text, Path::new("x.tests.yml")).map_err(|e| e.to_string())
    }

    /// (expectation, description, input) of each example.
    type Parsed = Vec<(Expect, Option<String>, ExampleInput)>;

    fn inputs(text: &str) -> Parsed {
        parse(text)
            .unwrap()
            .examples
            .into_iter()
            .map(|e| (e.expect, e.description, e.input))
            .collect()
    }

    fn fields(v: Value) -> ExampleInput {
        ExampleInput::Fields(v.as_object().unwrap().clone())
    }

    #[test]
    fn example_forms() {
        let cases: &[(&str, Parsed)] = &[
            (
                "match: ['a line']",
                vec![(Expect::Match, None, ExampleInput::Line("a line".into()))],
            ),
            (
                "no_match: [{user.name: bob, event: {action: x}}]",
                vec![(
                    Expect::NoMatch,
                    None,
                    fields(json!({"user.name": "bob", "event": {"action": "x"}})),
                )],
            ),
            (
                "match:\n  - description: d\n    line: l\n  - fields: {a: 1}\n",
                vec![
                    (
                        Expect::Match,
                        Some("d".into()),
                        ExampleInput::Line("l".into()),
                    ),
                    (Expect::Match, None, fields(json!({"a": 1}))),
                ],
            ),
            // `description` alone is not a wrapper: it is an event field.
            (
                "match: [{description: d}]",
                vec![(Expect::Match, None, fields(json!({"description": "d"})))],
            ),
            ("match:\nno_match: []", vec![]),
        ];
        for (text, want) in cases {
            assert_eq!(inputs(text), *want, "{text}");
        }
    }

    #[test]
    fn format_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "- a",
                "expected a mapping with `match` and `no_match` lists",
            ),
            (
                "matches: []",
                "unknown key `matches` (expected `rule`, `match`, `no_match`)",
            ),
            ("match: a", "`match` must be a list of examples"),
            (
                "match: [1]",
                "match #1: an example is a log line (string) or a mapping of event fields",
            ),
            (
                "no_match: [{line: a, fields: {}}]",
                "no_match #1: give either `line` or `fields`, not both",
            ),
            (
                "match: [{fields: a}]",
                "match #1: `fields` must be a mapping",
            ),
            ("rule: [a]", "`rule` must be a string (id, name or title)"),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse(text).unwrap_err(),
                format!("tests x.tests.yml: {want}"),
                "{text}"
            );
        }
    }

    #[test]
    fn pairing() {
        let cases = [
            ("r/a.yml", "r/a"),
            ("r/a.tests.yml", "r/a"),
            ("r/a.tests.yaml", "r/a"),
            ("r/a.yaml", "r/a"),
        ];
        for (p, k) in cases {
            assert_eq!(pairing_key(Path::new(p)), PathBuf::from(k), "{p}");
        }
        assert!(is_tests_file(Path::new("x/a.tests.yml")));
        assert!(!is_tests_file(Path::new("x/a.yml")));
        assert_eq!(
            tests_paths_for(Path::new("r/a.yml"))[0],
            PathBuf::from("r/a.tests.yml")
        );
    }
}
