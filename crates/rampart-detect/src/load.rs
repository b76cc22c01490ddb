//! Rule loading: Sigma YAML files and directories into a [`RuleSet`] of compiled rules with their metadata, plus a [`Diagnostic`] for every rule that could not be used.

use crate::compile::{self, Program};
use rsigma_parser::{FilterRuleTarget, SigmaCollection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How rules are loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Values of `%name%` placeholders for the `|expand` modifier.
    pub placeholders: HashMap<String, Vec<String>>,
    /// Files larger than this are refused (untrusted input).
    pub max_file_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            placeholders: HashMap::new(),
            max_file_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Why a rule (or a whole file) was not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// Title or id of the rule, when the file could be read that far.
    pub rule: Option<String>,
    /// A stable category: `io`, `yaml`, `modifier`, `regex`, `value`, `condition`,
    /// `placeholder`, `unsupported`, `detection`, `filter`.
    pub category: String,
    pub reason: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(r) = &self.rule {
            write!(f, " ({r})")?;
        }
        write!(f, ": {}: {}", self.category, self.reason)
    }
}

/// A Sigma log source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
    pub definition: Option<String>,
}

impl From<&rsigma_parser::LogSource> for LogSource {
    fn from(l: &rsigma_parser::LogSource) -> Self {
        LogSource {
            product: l.product.clone(),
            category: l.category.clone(),
            service: l.service.clone(),
            definition: l.definition.clone(),
        }
    }
}

/// A `related:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub id: String,
    /// `derived`, `obsolete`, `merged`, `renamed`, `similar`.
    pub kind: String,
}

/// Everything a rule says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleMeta {
    pub id: Option<String>,
    pub name: Option<String>,
    pub title: String,
    pub status: Option<String>,
    pub level: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    /// ATT&CK tactics from `attack.<tactic>` tags, hyphenated (`defense-evasion`).
    pub tactics: Vec<String>,
    /// ATT&CK techniques from `attack.tNNNN[.NNN]` tags, upper-cased (`T1059.001`).
    pub techniques: Vec<String>,
    pub falsepositives: Vec<String>,
    pub logsource: LogSource,
    pub fields: Vec<String>,
    pub related: Vec<Related>,
    pub date: Option<String>,
    pub modified: Option<String>,
    /// The file the rule was read from.
    pub path: Option<PathBuf>,
}

/// A correlation rule, kept with its parameters (evaluation is the caller's concern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationMeta {
    pub meta: RuleMeta,
    /// `event_count`, `value_count`, `temporal`, …
    pub kind: String,
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_seconds: u64,
    pub generate: bool,
    /// Condition, aliases and value fields, as the correlation engine evaluates them.
    pub spec: crate::correlation::CorrelationSpec,
}

/// A filter rule and the rules it was applied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterMeta {
    pub meta: RuleMeta,
    /// Rule ids or titles it targets; empty = every rule of its log source.
    pub targets: Vec<String>,
    pub applied_to: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct LoadedRule {
    pub meta: RuleMeta,
    pub program: Program,
}

/// Compiled Sigma rules with their metadata; the input of [`Engine::new`](crate::Engine::new).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub(crate) rules: Vec<LoadedRule>,
    correlations: Vec<CorrelationMeta>,
    filters: Vec<FilterMeta>,
}

const TACTICS: &[&str] = &[
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "stealth",
    "defense-impairment",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

fn attack(tags: &[String]) -> (Vec<String>, Vec<String>) {
    let mut tactics = Vec::new();
    let mut techniques = Vec::new();
    for t in tags {
        let Some(rest) = t.strip_prefix("attack.") else {
            continue;
        };
        let rest = rest.to_ascii_lowercase().replace('_', "-");
        let b = rest.as_bytes();
        if b.len() >= 5 && b[0] == b't' && b[1..5].iter().all(u8::is_ascii_digit) {
            techniques.push(rest.to_ascii_uppercase());
        } else if TACTICS.contains(&rest.as_str()) {
            tactics.push(rest);
        }
    }
    (tactics, techniques)
}

macro_rules! meta_from {
    ($r:expr, $ls:expr, $path:expr) => {{
        let r = $r;
        let (tactics, techniques) = attack(&r.tags);
        RuleMeta {
            id: r.id.clone(),
            name: r.name.clone(),
            title: r.title.clone(),
            status: r.status.map(|s| format!("{s:?}").to_ascii_lowercase()),
            level: r.level.map(|l| l.as_str().to_owned()),
            description: r.description.clone(),
            author: r.author.clone(),
            references: r.references.clone(),
            tags: r.tags.clone(),
            tactics,
            techniques,
            falsepositives: r.falsepositives.clone(),
            logsource: $ls,
            fields: r.fields.clone(),
            related: r
                .related
                .iter()
                .map(|x| Related {
                    id: x.id.clone(),
                    kind: format!("{:?}", x.relation_type).to_ascii_lowercase(),
                })
                .collect(),
            date: r.date.clone(),
            modified: r.modified.clone(),
            path: $path,
        }
    }};
}

/// Logsource containment for filters: every key the filter sets, the rule has equal.
fn filter_applies(filter: &LogSource, rule: &LogSource) -> bool {
    let eq = |f: &Option<String>, r: &Option<String>| match f {
        None => true,
        Some(f) => r.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(f)),
    };
    eq(&filter.product, &rule.product)
        && eq(&filter.category, &rule.category)
        && eq(&filter.service, &rule.service)
}

impl RuleSet {
    /// Load every `*.yml`/`*.yaml` under `dir`, recursively, in path order. Rule test
    /// files (`*.tests.yml`, see [`crate::testing`]) are not rules and are skipped.
    pub fn load_dir(dir: &Path, opts: &LoadOptions) -> (RuleSet, Vec<Diagnostic>) {
        let mut files = Vec::new();
        let mut diags = Vec::new();
        collect_files(dir, &mut files, &mut diags);
        files.sort();
        let mut set = RuleSet::default();
        let mut filters = Vec::new();
        for path in files {
            match read_rule_file(&path, opts) {
                Ok(text) => set.add_text(&text, &path, opts, &mut diags, &mut filters),
                Err(d) => diags.push(d),
            }
        }
        set.apply_filters(filters, opts, &mut diags);
        (set, diags)
    }

    /// Load rule files and directories (recursively) as one set, in the order given,
    /// each file once; filters apply across all of them.
    pub fn load_paths(paths: &[PathBuf], opts: &LoadOptions) -> (RuleSet, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut files = Vec::new();
        for p in paths {
            if p.is_dir() {
                let mut found = Vec::new();
                collect_files(p, &mut found, &mut diags);
                found.sort();
                files.extend(found);
            } else {
                files.push(p.clone());
            }
        }
        let mut seen = std::collections::HashSet::new();
        files.retain(|f| seen.insert(f.clone()));
        let mut texts = Vec::new();
        for f in files {
            match read_rule_file(&f, opts) {
                Ok(text) => texts.push((f, text)),
                Err(d) => diags.push(d),
            }
        }
        let (set, more) =
            Self::from_sources(texts.iter().map(|(p, t)| (p.clone(), t.as_str())), opts);
        diags.extend(more);
        (set, diags)
    }

    /// Rampart's default rules (`rules/` of this crate, correlation rules included),
    /// embedded at build time. Their paths read `builtin/<platform>/<file>.yml`.
    pub fn builtin() -> (RuleSet, Vec<Diagnostic>) {
        Self::from_sources(
            crate::builtin::rule_files().map(|(path, text)| (crate::builtin::path(path), text)),
            &LoadOptions::default(),
        )
    }

    /// Load several `(origin, YAML text)` sources as one set; filters apply across them.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (PathBuf, &'a str)>,
        opts: &LoadOptions,
    ) -> (RuleSet, Vec<Diagnostic>) {
        let mut set = RuleSet::default();
        let mut diags = Vec::new();
        let mut filters = Vec::new();
        for (path, text) in sources {
            set.add_text(text, &path, opts, &mut diags, &mut filters);
        }
        set.apply_filters(filters, opts, &mut diags);
        (set, diags)
    }

    /// Load the (possibly multi-document) YAML `text`; `origin` names it in diagnostics.
    pub fn from_yaml_str(
        text: &str,
        origin: &str,
        opts: &LoadOptions,
    ) -> (RuleSet, Vec<Diagnostic>) {
        Self::from_sources([(PathBuf::from(origin), text)], opts)
    }

    fn add_text(
        &mut self,
        text: &str,
        path: &Path,
        opts: &LoadOptions,
        diags: &mut Vec<Diagnostic>,
        filters: &mut Vec<(rsigma_parser::FilterRule, PathBuf)>,
    ) {
        let diag = |rule: Option<String>, category: &str, reason: String| Diagnostic {
            path: path.to_owned(),
            rule,
            category: category.to_owned(),
            reason,
        };
        let collection: SigmaCollection = match rsigma_parser::parse_sigma_yaml(text) {
            Ok(c) => c,
            Err(e) => {
                diags.push(diag(None, "yaml", e.to_string()));
                return;
            }
        };
        for e in &collection.errors {
            diags.push(diag(None, "yaml", e.clone()));
        }
        for rule in &collection.rules {
            let meta = meta_from!(
                rule,
                LogSource::from(&rule.logsource),
                Some(path.to_owned())
            );
            match compile::compile(
                &rule.detection.named,
                &rule.detection.conditions,
                &opts.placeholders,
            ) {
                Ok(program) => self.rules.push(LoadedRule { meta, program }),
                Err(e) => diags.push(diag(
                    Some(rule.id.clone().unwrap_or_else(|| rule.title.clone())),
                    e.category,
                    e.reason,
                )),
            }
        }
        for c in &collection.correlations {
            self.correlations.push(CorrelationMeta {
                meta: meta_from!(c, LogSource::default(), Some(path.to_owned())),
                kind: c.correlation_type.as_str().to_owned(),
                rules: c.rules.clone(),
                group_by: c.group_by.clone(),
                timespan_seconds: c.timespan.seconds,
                generate: c.generate,
                spec: crate::correlation::CorrelationSpec::from_parsed(c),
            });
        }
        for f in collection.filters {
            filters.push((f, path.to_owned()));
        }
    }

    fn apply_filters(
        &mut self,
        filters: Vec<(rsigma_parser::FilterRule, PathBuf)>,
        opts: &LoadOptions,
        diags: &mut Vec<Diagnostic>,
    ) {
        for (f, path) in filters {
            let fls = f.logsource.as_ref().map(LogSource::from);
            let targets = match &f.rules {
                FilterRuleTarget::Any => Vec::new(),
                FilterRuleTarget::Specific(v) => v.clone(),
            };
            let mut applied = 0;
            let mut failure = None;
            for rule in &mut self.rules {
                let targeted = targets.is_empty()
                    || targets.iter().any(|t| {
                        rule.meta.id.as_deref() == Some(t.as_str())
                            || rule.meta.name.as_deref() == Some(t.as_str())
                            || rule.meta.title == *t
                    });
                if !targeted
                    || fls
                        .as_ref()
                        .is_some_and(|l| !filter_applies(l, &rule.meta.logsource))
                {
                    continue;
                }
                match compile::add_filter(
                    &mut rule.program,
                    &f.detection.named,
                    &f.detection.conditions,
                    &opts.placeholders,
                ) {
                    Ok(()) => applied += 1,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failure {
                diags.push(Diagnostic {
                    path: path.clone(),
                    rule: Some(f.id.clone().unwrap_or_else(|| f.title.clone())),
                    category: e.category.to_owned(),
                    reason: e.reason,
                });
            } else if applied == 0 && !targets.is_empty() {
                diags.push(Diagnostic {
                    path: path.clone(),
                    rule: Some(f.id.clone().unwrap_or_else(|| f.title.clone())),
                    category: "filter".into(),
                    reason: format!("filter targets {targets:?} but no loaded rule matches"),
                });
            }
            self.filters.push(FilterMeta {
                meta: meta_from!(&f, fls.clone().unwrap_or_default(), Some(path)),
                targets,
                applied_to: applied,
            });
        }
    }

    /// Add the rules, correlations and filters of `other` (filters are not re-applied).
    pub fn extend(&mut self, other: RuleSet) {
        self.rules.extend(other.rules);
        self.correlations.extend(other.correlations);
        self.filters.extend(other.filters);
    }

    /// Keep only the detection rules for which `keep` is true (enable/disable by id …).
    pub fn retain(&mut self, mut keep: impl FnMut(&RuleMeta) -> bool) {
        self.rules.retain(|r| keep(&r.meta));
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Metadata of the detection rules, in engine index order.
    pub fn rules(&self) -> impl Iterator<Item = &RuleMeta> {
        self.rules.iter().map(|r| &r.meta)
    }

    pub fn correlations(&self) -> &[CorrelationMeta] {
        &self.correlations
    }

    pub fn filters(&self) -> &[FilterMeta] {
        &self.filters
    }
}

/// Read one rule file, refusing files over `opts.max_file_bytes`.
pub(crate) fn read_rule_file(path: &Path, opts: &LoadOptions) -> Result<String, Diagnostic> {
    let diag = |reason: String| Diagnostic {
        path: path.to_owned(),
        rule: None,
        category: "io".into(),
        reason,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.len() > opts.max_file_bytes => Err(diag(format!(
            "file is larger than {} bytes",
            opts.max_file_bytes
        ))),
        Err(e) => Err(diag(e.to_string())),
        Ok(_) => std::fs::read_to_string(path).map_err(|e| diag(e.to_string())),
    }
}

/// Every `*.yml`/`*.yaml` file under `dir` that is a rule (tests files excluded).
pub(crate) fn collect_files(dir: &Path, out: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic {
                path: dir.to_owned(),
                rule: None,
                category: "io".into(),
                reason: e.to_string(),
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_files(&path, out, diags),
            Ok(t)
                if t.is_file()
                    && path.extension().is_some_and(|x| x == "yml" || x == "yaml")
                    && !crate::testing::is_tests_file(&path) =>
            {
                out.push(path);
            }
            _ => {}
        }
    }
}
