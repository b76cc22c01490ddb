//! Rampart's default rules and their tests, embedded at build time from `rules/` (see `build.rs`).

use std::path::PathBuf;

/// Every YAML file under `rules/`: (path relative to `rules/`, text), in path order.
static FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The prefix of the paths the built-in rules and tests are reported under.
pub const PREFIX: &str = "builtin";

/// The origin path of an embedded file (`builtin/linux/ssh_login_failed.yml`).
pub(crate) fn path(rel: &str) -> PathBuf {
    PathBuf::from(PREFIX).join(rel)
}

/// The embedded rule files (tests files excluded).
pub(crate) fn rule_files() -> impl Iterator<Item = (&'static str, &'static str)> {
    FILES
        .iter()
        .copied()
        .filter(|(p, _)| !crate::testing::is_tests_file(std::path::Path::new(p)))
}

/// The embedded rule tests files.
pub(crate) fn test_files() -> impl Iterator<Item = (&'static str, &'static str)> {
    FILES
        .iter()
        .copied()
        .filter(|(p, _)| crate::testing::is_tests_file(std::path::Path::new(p)))
}
