//! `rampart rules …`: detection-as-code helpers over Sigma rule files.

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Compile every rule and report each one that fails, with its path and reason.
    /// Exits non-zero when any rule fails.
    Lint {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List the rules that compile: id, level, title, ATT&CK techniques.
    List {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

pub fn run(cmd: RulesCommand) -> anyhow::Result<()> {
    match cmd {
        RulesCommand::Lint { paths } => {
            let (set, diagnostics) = crate::hunt::load_rules(&paths)?;
            let n_rules = set.len();
            let mut by_category: std::collections::BTreeMap<&str, usize> = Default::default();
            for d in &diagnostics {
                println!("{d}");
                *by_category.entry(d.category.as_str()).or_default() += 1;
            }
            let total = n_rules + diagnostics.len();
            eprintln!(
                "{n_rules} of {total} rules compile ({:.2}%); failures by category: {by_category:?}",
                100.0 * n_rules as f64 / total.max(1) as f64
            );
            if diagnostics.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("{} rules failed to compile", diagnostics.len())
            }
        }
        RulesCommand::List { paths } => {
            let (set, _) = crate::hunt::load_rules(&paths)?;
            for rule in set.rules() {
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
    }
}
