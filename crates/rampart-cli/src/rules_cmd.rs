//! `rampart rules …`: detection-as-code helpers over Sigma rule files (lint, list, test); with no path they work on Rampart's built-in rules.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use rampart_detect::testing::{RuleKind, Status, TestReport, TestSuite};
use rampart_detect::{LoadOptions, Mappings};
use rampart_model::{Origin, OriginKind};
use serde_json::{Map, Value};

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Compile every rule and report each one that fails, with its path and reason.
    /// Exits non-zero when any rule fails (or, with --require-tests, lacks tests).
    Lint {
        /// Rule files or directories (default: the built-in rules).
        paths: Vec<PathBuf>,
        /// Also fail on a rule without a `<rule>.tests.yml` holding at least one `match`
        /// and one `no_match` example.
        #[arg(long)]
        require_tests: bool,
    },
    /// List the rules that compile: id, level, title, ATT&CK techniques.
    List {
        /// Rule files or directories (default: the built-in rules).
        paths: Vec<PathBuf>,
    },
    /// Run each rule against the example events in the `<rule>.tests.yml` beside it and
    /// report pass/fail per rule with the reason. Exits non-zero on any failure.
    Test {
        /// Rule files, tests files or directories (default: the built-in rules).
        paths: Vec<PathBuf>,
        #[arg(long, short = 'o', value_enum, default_value = "text")]
        format: TestFormat,
        /// Print passing rules too (text format).
        #[arg(long, short = 'v')]
        verbose: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TestFormat {
    Text,
    Json,
}

/// The built-in rules when no path is given, else the given files and directories.
fn suite(paths: &[PathBuf]) -> anyhow::Result<TestSuite> {
    if paths.is_empty() {
        return Ok(TestSuite::builtin());
    }
    for p in paths {
        if !p.exists() {
            anyhow::bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(TestSuite::load(paths, &LoadOptions::default()))
}

/// Raw-line examples are parsed as `rampart ingest` would: automatic format detection.
fn line_parser() -> anyhow::Result<impl rampart_detect::LineParser> {
    let parser = rampart_parse::Parser::new(rampart_parse::ParserConfig::default())
        .map_err(|e| anyhow::anyhow!("line parser: {e}"))?;
    Ok(move |line: &str| -> Result<Map<String, Value>, String> {
        let ev = parser.parse(line.as_bytes(), Origin::new(OriginKind::File, "rules-test"));
        match ev.parse_error {
            Some(e) => Err(e),
            None => Ok(ev.fields),
        }
    })
}

pub fn run(cmd: RulesCommand) -> anyhow::Result<()> {
    match cmd {
        RulesCommand::Lint {
            paths,
            require_tests,
        } => lint(&paths, require_tests),
        RulesCommand::List { paths } => {
            let suite = suite(&paths)?;
            for rule in suite.rules.rules() {
                println!(
                    "{}\t{}\t{}\t{}",
                    rule.id.as_deref().unwrap_or("-"),
                    rule.level.as_deref().unwrap_or("-"),
                    rule.title,
                    rule.techniques.join(",")
                );
            }
            Ok(())
        }
        RulesCommand::Test {
            paths,
            format,
            verbose,
        } => {
            let suite = suite(&paths)?;
            let parser = line_parser()?;
            let report = suite.run(&Mappings::builtin(), Some(&parser));
            match format {
                TestFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                TestFormat::Text => print_report(&report, verbose),
            }
            let failed = report.count(Status::Failed);
            if report.passed() {
                Ok(())
            } else {
                anyhow::bail!(
                    "{failed} rule(s) failed their tests, {} error(s)",
                    report.errors.len()
                )
            }
        }
    }
}

fn lint(paths: &[PathBuf], require_tests: bool) -> anyhow::Result<()> {
    let suite = suite(paths)?;
    let n_rules = suite.rules.len();
    let mut by_category: std::collections::BTreeMap<&str, usize> = Default::default();
    for d in &suite.diagnostics {
        println!("{d}");
        *by_category.entry(d.category.as_str()).or_default() += 1;
    }
    let rule_diags = suite
        .diagnostics
        .iter()
        .filter(|d| d.category != "tests")
        .count();
    let total = n_rules + rule_diags;
    eprintln!(
        "{n_rules} of {total} rules compile ({:.2}%); problems by category: {by_category:?}",
        100.0 * n_rules as f64 / total.max(1) as f64
    );
    let mut untested = 0;
    if require_tests {
        for (meta, why) in suite.untested_rules() {
            let path = meta
                .path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "-".into());
            println!("{path} ({}): tests: {why}", meta.title);
            untested += 1;
        }
        eprintln!("{untested} rule(s) without tests");
    }
    match (suite.diagnostics.len(), untested) {
        (0, 0) => Ok(()),
        (d, 0) => anyhow::bail!("{d} rule or tests file(s) failed to load"),
        (d, u) => {
            anyhow::bail!("{d} rule or tests file(s) failed to load, {u} rule(s) without tests")
        }
    }
}

fn print_report(report: &TestReport, verbose: bool) {
    for r in &report.rules {
        let path = r
            .path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let tag = match r.status {
            Status::Passed => "PASS",
            Status::Failed => "FAIL",
            Status::NoTests => "NO TESTS",
            Status::Skipped => "SKIP",
        };
        if r.status == Status::Passed && !verbose {
            continue;
        }
        let kind = match r.kind {
            RuleKind::Correlation => " [correlation]",
            RuleKind::Detection => "",
        };
        println!(
            "{tag:<8} {}{kind} ({path}) {} example(s)",
            r.title, r.examples
        );
        for f in &r.failures {
            println!("         {} {}: {}", f.tests.display(), f.example, f.reason);
            if let Some(line) = &f.line {
                println!("           line:  {line}");
            }
            if let Some(ev) = &f.event {
                println!("           event: {ev}");
            }
        }
        if let Some(note) = &r.note
            && verbose
        {
            println!("         {note}");
        }
    }
    for e in &report.errors {
        println!("ERROR    {e}");
    }
    eprintln!(
        "{} passed, {} failed, {} without tests, {} skipped, {} error(s)",
        report.count(Status::Passed),
        report.count(Status::Failed),
        report.count(Status::NoTests),
        report.count(Status::Skipped),
        report.errors.len()
    );
}
