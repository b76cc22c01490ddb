//! The live rule book: rules loaded from directories, compiled off the hot path and swapped in atomically, with per-rule enable/disable.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rampart_detect::baseline::{BaselineEngine, BaselineOptions, BaselineSet};
use rampart_detect::{
    CorrelationEngine, CorrelationOptions, Diagnostic, Engine, LoadOptions, Mappings, RuleMeta,
    RuleSet,
};
use rampart_model::Timestamp;
use serde::Serialize;

use crate::db::DetectionStore;
use crate::error::DetectionsError;
use crate::record::{DetectionKind, RuleState, rule_key};

/// The stateful engines of one load, built with it (off the worker's thread) and taken by
/// the worker, which restores the previous engines' state into them.
pub struct FreshEngines {
    pub correlation: CorrelationEngine,
    pub baseline: BaselineEngine,
}

/// One load of the configured rules, compiled.
struct Loaded {
    engine: Engine,
    /// [`rule_key`] of each detection rule (by engine index), then of each correlation
    /// rule, then of each baseline rule.
    keys: Vec<String>,
    /// Number of detection rules and of correlation rules (the split points of `keys`).
    n_rules: usize,
    n_correlations: usize,
    /// Every rule's metadata and kind, in `keys` order.
    metas: Vec<(DetectionKind, RuleMeta)>,
    diagnostics: Vec<Diagnostic>,
    fingerprint: u64,
    /// Built with the load; a second worker on the same load builds its own from these.
    engines: Mutex<Option<FreshEngines>>,
    sources: Option<EngineSources>,
}

/// What the stateful engines of a load are built from.
struct EngineSources {
    rules: RuleSet,
    baselines: BaselineSet,
    mappings: Mappings,
    correlation: CorrelationOptions,
    baseline: BaselineOptions,
}

impl EngineSources {
    fn build(&self, engine: &Engine) -> (FreshEngines, Vec<Diagnostic>) {
        let (correlation, mut diags) = CorrelationEngine::new(
            &self.rules,
            engine,
            &self.mappings,
            self.correlation.clone(),
        );
        let (baseline, more) =
            BaselineEngine::new(&self.baselines, &self.mappings, self.baseline.clone());
        diags.extend(more);
        (
            FreshEngines {
                correlation,
                baseline,
            },
            diags,
        )
    }
}

/// What the detection worker evaluates: an engine and which of its rules are enabled.
/// Immutable; replaced as a whole on reload or on a rule state change.
pub struct ActiveRules {
    loaded: Arc<Loaded>,
    enabled: Vec<bool>,
}

impl ActiveRules {
    pub fn engine(&self) -> &Engine {
        &self.loaded.engine
    }

    /// Whether the rule at engine index `idx` is enabled.
    pub fn is_enabled(&self, idx: u32) -> bool {
        (idx as usize) < self.loaded.n_rules
            && self.enabled.get(idx as usize).copied().unwrap_or(false)
    }

    /// Whether correlation rule `idx` (a [`CorrelationFiring::correlation`]) is enabled.
    ///
    /// [`CorrelationFiring::correlation`]: rampart_detect::CorrelationFiring::correlation
    pub fn correlation_enabled(&self, idx: usize) -> bool {
        idx < self.loaded.n_correlations
            && self
                .enabled
                .get(self.loaded.n_rules + idx)
                .copied()
                .unwrap_or(false)
    }

    /// Whether baseline rule `idx` (an [`Anomaly::rule_index`]) is enabled.
    ///
    /// [`Anomaly::rule_index`]: rampart_detect::baseline::Anomaly::rule_index
    pub fn baseline_enabled(&self, idx: usize) -> bool {
        self.enabled
            .get(self.loaded.n_rules + self.loaded.n_correlations + idx)
            .copied()
            .unwrap_or(false)
    }

    /// Whether `other` is the same load (only rule states may differ).
    pub fn same_load(&self, other: &ActiveRules) -> bool {
        Arc::ptr_eq(&self.loaded, &other.loaded)
    }

    /// The correlation and baseline engines of this load, fresh (no state).
    pub fn take_engines(&self) -> Option<FreshEngines> {
        if let Some(e) = self.loaded.engines.lock().take() {
            return Some(e);
        }
        let sources = self.loaded.sources.as_ref()?;
        Some(sources.build(&self.loaded.engine).0)
    }
}

/// A rule as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    /// Sigma `id`, or the title when the rule has none.
    pub id: String,
    /// `rule` (Sigma detection), `correlation` or `baseline`.
    pub kind: DetectionKind,
    pub title: String,
    pub level: Option<String>,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
    /// The file the rule was read from.
    pub path: Option<String>,
    pub enabled: bool,
    /// Who last enabled or disabled it, when and why (absent: never changed).
    pub state: Option<RuleState>,
    /// Stored detections of this rule (filled in by the service).
    pub detections: u64,
}

/// A rule that could not be loaded, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleDiagnostic {
    pub path: String,
    pub rule: Option<String>,
    pub category: String,
    pub reason: String,
}

impl From<&Diagnostic> for RuleDiagnostic {
    fn from(d: &Diagnostic) -> Self {
        RuleDiagnostic {
            path: d.path.display().to_string(),
            rule: d.rule.clone(),
            category: d.category.clone(),
            reason: d.reason.clone(),
        }
    }
}

/// The outcome of a reload.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    pub rules_loaded: usize,
    pub rules_failed: usize,
    pub took_ms: u64,
}

/// Reload figures for the status document.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RulesStatus {
    /// The first load has finished (detection runs only after it).
    pub ready: bool,
    pub rules_loaded: usize,
    /// Of `rules_loaded`: correlation and baseline rules.
    pub correlation_rules: usize,
    pub baseline_rules: usize,
    pub rules_failed: usize,
    pub rules_enabled: usize,
    pub rules_disabled: usize,
    pub reloads: u64,
    pub reload_failures: u64,
    pub last_reload: Option<Timestamp>,
    pub last_reload_ms: u64,
    pub last_reload_error: Option<String>,
}

/// Rules from configured directories, reloadable while detection runs.
pub struct RuleBook {
    dirs: Vec<PathBuf>,
    /// Load Rampart's built-in default rules too.
    builtin: bool,
    baseline_dirs: Vec<PathBuf>,
    builtin_baselines: bool,
    correlation_options: CorrelationOptions,
    baseline_options: BaselineOptions,
    options: LoadOptions,
    mappings: Mappings,
    db: Arc<DetectionStore>,
    active: ArcSwap<ActiveRules>,
    states: Mutex<HashMap<String, RuleState>>,
    /// Serialises reloads (the slow part: reading and compiling).
    reload_lock: Mutex<()>,
    /// Serialises replacing `active`, so a state change and a reload never undo each other.
    swap_lock: Mutex<()>,
    status: Mutex<RulesStatus>,
}

fn load_fingerprint(dirs: &[PathBuf]) -> u64 {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, i128)>, errors: &mut Vec<String>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("{}: {}", dir.display(), e.kind()));
                return;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                walk(&path, out, errors);
            } else if path.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i128);
                out.push((path, meta.len(), mtime));
            }
        }
    }
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for dir in dirs {
        walk(dir, &mut files, &mut errors);
    }
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    files.hash(&mut h);
    errors.hash(&mut h);
    h.finish()
}

fn empty_loaded(mappings: &Mappings) -> Loaded {
    Loaded {
        engine: Engine::new(&RuleSet::default(), mappings),
        keys: Vec::new(),
        n_rules: 0,
        n_correlations: 0,
        metas: Vec::new(),
        diagnostics: Vec::new(),
        fingerprint: 0,
        engines: Mutex::new(None),
        sources: None,
    }
}

impl RuleBook {
    /// A rule book over `dirs` (plus the built-in default rules when `builtin`) with no
    /// rules loaded yet (call [`RuleBook::reload`]). Rule states recorded in `db` apply to
    /// every load.
    pub fn new(
        dirs: Vec<PathBuf>,
        builtin: bool,
        db: Arc<DetectionStore>,
    ) -> Result<RuleBook, DetectionsError> {
        let mappings = Mappings::builtin();
        let states = db.rule_states()?;
        let active = ActiveRules {
            loaded: Arc::new(empty_loaded(&mappings)),
            enabled: Vec::new(),
        };
        Ok(RuleBook {
            dirs,
            builtin,
            baseline_dirs: Vec::new(),
            builtin_baselines: false,
            correlation_options: CorrelationOptions::default(),
            baseline_options: BaselineOptions::default(),
            options: LoadOptions::default(),
            mappings,
            db,
            active: ArcSwap::from_pointee(active),
            states: Mutex::new(states),
            reload_lock: Mutex::new(()),
            swap_lock: Mutex::new(()),
            status: Mutex::new(RulesStatus::default()),
        })
    }

    /// Also load behavioural baseline rules from `dirs` (and the built-in ones when
    /// `builtin`), and run correlations and baselines with these options.
    pub fn with_engines(
        mut self,
        baseline_dirs: Vec<PathBuf>,
        builtin_baselines: bool,
        correlation: CorrelationOptions,
        baseline: BaselineOptions,
    ) -> RuleBook {
        self.baseline_dirs = baseline_dirs;
        self.builtin_baselines = builtin_baselines;
        self.correlation_options = correlation;
        self.baseline_options = baseline;
        self
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    pub fn baseline_dirs(&self) -> &[PathBuf] {
        &self.baseline_dirs
    }

    /// Every directory watched for changes.
    fn watched(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .chain(&self.baseline_dirs)
            .cloned()
            .collect()
    }

    /// Whether the built-in default rules are loaded too.
    pub fn builtin(&self) -> bool {
        self.builtin
    }

    /// What the worker evaluates now.
    pub fn active(&self) -> Arc<ActiveRules> {
        self.active.load_full()
    }

    fn mask(keys: &[String], states: &HashMap<String, RuleState>) -> Vec<bool> {
        keys.iter()
            .map(|k| states.get(k).is_none_or(|s| s.enabled))
            .collect()
    }

    fn swap_in(&self, loaded: Arc<Loaded>) {
        let _swap = self.swap_lock.lock();
        let states = self.states.lock();
        let enabled = Self::mask(&loaded.keys, &states);
        drop(states);
        let n_enabled = enabled.iter().filter(|e| **e).count();
        let mut status = self.status.lock();
        status.rules_loaded = loaded.keys.len();
        status.correlation_rules = loaded.n_correlations;
        status.baseline_rules = loaded.keys.len() - loaded.n_rules - loaded.n_correlations;
        status.rules_failed = loaded.diagnostics.len();
        status.rules_enabled = n_enabled;
        status.rules_disabled = loaded.keys.len() - n_enabled;
        drop(status);
        self.active.store(Arc::new(ActiveRules { loaded, enabled }));
    }

    /// Load and compile every rule of the configured directories and make them active.
    /// Rules that fail are reported as diagnostics and the others still load. When a
    /// configured directory cannot be read at all, the previous rules stay active (unless
    /// `first` is set: then whatever could be loaded is used).
    pub fn reload(&self, first: bool) -> Result<ReloadReport, DetectionsError> {
        let _reload = self.reload_lock.lock();
        let started = Instant::now();
        let fingerprint = load_fingerprint(&self.watched());
        let (mut rules, mut diagnostics) = if self.builtin {
            RuleSet::builtin()
        } else {
            (RuleSet::default(), Vec::new())
        };
        let mut unreadable = Vec::new();
        for dir in &self.dirs {
            if let Err(e) = std::fs::read_dir(dir) {
                unreadable.push(format!("{}: {e}", dir.display()));
            }
            let (set, diags) = RuleSet::load_dir(dir, &self.options);
            rules.extend(set);
            diagnostics.extend(diags);
        }
        let (mut baselines, baseline_diags) = if self.builtin_baselines {
            BaselineSet::builtin()
        } else {
            (BaselineSet::default(), Vec::new())
        };
        diagnostics.extend(baseline_diags);
        for dir in &self.baseline_dirs {
            if let Err(e) = std::fs::read_dir(dir) {
                unreadable.push(format!("{}: {e}", dir.display()));
            }
            let (set, diags) = BaselineSet::load_dir(dir, &self.options);
            baselines.extend(set);
            diagnostics.extend(diags);
        }
        if !unreadable.is_empty() && !first {
            let message = format!("cannot read {}", unreadable.join("; "));
            let mut status = self.status.lock();
            status.reload_failures += 1;
            status.last_reload_error = Some(message.clone());
            tracing::warn!(error = %message, "rule reload refused");
            return Err(DetectionsError::ReloadRefused(message));
        }
        let engine = Engine::new(&rules, &self.mappings);
        let mut metas: Vec<(DetectionKind, RuleMeta)> = rules
            .rules()
            .map(|m| (DetectionKind::Rule, m.clone()))
            .collect();
        let n_rules = metas.len();
        metas.extend(
            rules
                .correlations()
                .iter()
                .map(|c| (DetectionKind::Correlation, c.meta.clone())),
        );
        let n_correlations = metas.len() - n_rules;
        metas.extend(
            baselines
                .rules()
                .iter()
                .map(|b| (DetectionKind::Baseline, b.meta.clone())),
        );
        let keys: Vec<String> = metas.iter().map(|(_, m)| rule_key(m).to_owned()).collect();
        let sources = EngineSources {
            rules,
            baselines,
            mappings: self.mappings.clone(),
            correlation: self.correlation_options.clone(),
            baseline: self.baseline_options.clone(),
        };
        let (fresh, diags) = sources.build(&engine);
        diagnostics.extend(diags);
        let report = ReloadReport {
            rules_loaded: keys.len(),
            rules_failed: diagnostics.len(),
            took_ms: started.elapsed().as_millis() as u64,
        };
        self.swap_in(Arc::new(Loaded {
            engine,
            keys,
            n_rules,
            n_correlations,
            metas,
            diagnostics,
            fingerprint,
            engines: Mutex::new(Some(fresh)),
            sources: Some(sources),
        }));
        let mut status = self.status.lock();
        status.ready = true;
        status.reloads += 1;
        status.last_reload = Some(Timestamp::now());
        status.last_reload_ms = report.took_ms;
        status.last_reload_error = if unreadable.is_empty() {
            None
        } else {
            Some(format!("cannot read {}", unreadable.join("; ")))
        };
        drop(status);
        tracing::info!(
            rules = report.rules_loaded,
            failed = report.rules_failed,
            took_ms = report.took_ms,
            "detection rules loaded"
        );
        Ok(report)
    }

    /// Reload when a rule file was added, removed or changed since the last load.
    pub fn reload_if_changed(&self) -> Option<Result<ReloadReport, DetectionsError>> {
        let current = self.active.load().loaded.fingerprint;
        if load_fingerprint(&self.watched()) == current {
            return None;
        }
        Some(self.reload(false))
    }

    /// Enable or disable every loaded rule whose id is `rule_id`, at once, and record
    /// who did it and why. Unknown ids are refused.
    pub fn set_enabled(
        &self,
        rule_id: &str,
        enabled: bool,
        actor: &str,
        reason: Option<String>,
    ) -> Result<RuleState, DetectionsError> {
        let _swap = self.swap_lock.lock();
        let current = self.active.load_full();
        if !current.loaded.keys.iter().any(|k| k == rule_id) {
            return Err(DetectionsError::UnknownRule(rule_id.to_owned()));
        }
        let state = RuleState {
            rule_id: rule_id.to_owned(),
            enabled,
            actor: actor.to_owned(),
            reason,
            changed: Timestamp::now(),
        };
        self.db.set_rule_state(&state)?;
        let mut states = self.states.lock();
        states.insert(rule_id.to_owned(), state.clone());
        let mask = Self::mask(&current.loaded.keys, &states);
        drop(states);
        let n_enabled = mask.iter().filter(|e| **e).count();
        let mut status = self.status.lock();
        status.rules_enabled = n_enabled;
        status.rules_disabled = mask.len() - n_enabled;
        drop(status);
        self.active.store(Arc::new(ActiveRules {
            loaded: current.loaded.clone(),
            enabled: mask,
        }));
        Ok(state)
    }

    /// Every loaded rule with its state (detection counts left at 0): detection rules,
    /// then correlation rules, then baseline rules.
    pub fn rules(&self) -> Vec<RuleInfo> {
        let active = self.active.load_full();
        let states = self.states.lock();
        active
            .loaded
            .metas
            .iter()
            .zip(&active.loaded.keys)
            .enumerate()
            .map(|(i, ((kind, meta), key))| RuleInfo {
                id: key.clone(),
                kind: *kind,
                title: meta.title.clone(),
                level: meta.level.clone(),
                status: meta.status.clone(),
                tags: meta.tags.clone(),
                tactics: meta.tactics.clone(),
                techniques: meta.techniques.clone(),
                product: meta.logsource.product.clone(),
                category: meta.logsource.category.clone(),
                service: meta.logsource.service.clone(),
                path: meta.path.as_ref().map(|p| p.display().to_string()),
                enabled: active.enabled.get(i).copied().unwrap_or(false),
                state: states.get(key).cloned(),
                detections: 0,
            })
            .collect()
    }

    /// Why each rule of the last load that failed was not loaded.
    pub fn diagnostics(&self) -> Vec<RuleDiagnostic> {
        self.active
            .load()
            .loaded
            .diagnostics
            .iter()
            .map(RuleDiagnostic::from)
            .collect()
    }

    pub fn status(&self) -> RulesStatus {
        self.status.lock().clone()
    }

    /// Poll the directories every `interval` and reload on change, until `stop`.
    pub(crate) fn watch(&self, interval: Duration, stop: &crate::worker::StopFlag) {
        while !stop.wait(interval) {
            if let Some(Err(e)) = self.reload_if_changed() {
                tracing::warn!(error = %e, "rule reload failed");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use crate::test_rules::WHOAMI;

    fn book(dir: &Path) -> (tempfile::TempDir, RuleBook) {
        let db_dir = tempfile::tempdir().unwrap();
        let db = Arc::new(DetectionStore::open(&db_dir.path().join("a.db")).unwrap());
        (
            db_dir,
            RuleBook::new(vec![dir.to_owned()], false, db).unwrap(),
        )
    }

    #[test]
    fn builtin_rules_load_alongside_the_directories() {
        let rules = tempfile::tempdir().unwrap();
        std::fs::write(rules.path().join("ok.yml"), WHOAMI).unwrap();
        let db_dir = tempfile::tempdir().unwrap();
        let db = Arc::new(DetectionStore::open(&db_dir.path().join("a.db")).unwrap());
        let book = RuleBook::new(vec![rules.path().to_owned()], true, db).unwrap();
        let (builtin, _) = RuleSet::builtin();
        assert!(!builtin.is_empty(), "the detect crate embeds default rules");
        let report = book.reload(true).unwrap();
        assert_eq!(
            report.rules_loaded,
            builtin.len() + builtin.correlations().len() + 1
        );
        assert_eq!(
            book.status().correlation_rules,
            builtin.correlations().len()
        );
        assert!(book.rules().iter().any(|r| r.title == "Whoami"));
    }

    #[test]
    fn broken_file_is_reported_and_others_load() {
        let rules = tempfile::tempdir().unwrap();
        std::fs::write(rules.path().join("ok.yml"), WHOAMI).unwrap();
        std::fs::write(
            rules.path().join("broken.yml"),
            "title: Broken\ndetection: {sel: {a|nosuchmodifier: x}, condition: sel}\nlogsource: {product: windows}\n",
        )
        .unwrap();
        let (_db, book) = book(rules.path());
        let report = book.reload(true).unwrap();
        assert_eq!((report.rules_loaded, report.rules_failed), (1, 1));
        let diags = book.diagnostics();
        assert!(diags[0].path.ends_with("broken.yml"), "{diags:?}");
        assert_eq!(book.rules()[0].title, "Whoami");
        assert!(book.status().ready);
    }

    #[test]
    fn changes_are_seen_and_an_unreadable_dir_keeps_the_old_rules() {
        let rules = tempfile::tempdir().unwrap();
        let sub = rules.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("a.yml"), WHOAMI).unwrap();
        let (_db, book) = book(&sub);
        book.reload(true).unwrap();
        assert!(book.reload_if_changed().is_none(), "nothing changed");
        std::fs::write(
            sub.join("b.yml"),
            WHOAMI
                .replace("Whoami", "Second")
                .replace("1111-4111", "2222-4222"),
        )
        .unwrap();
        let report = book.reload_if_changed().unwrap().unwrap();
        assert_eq!(report.rules_loaded, 2);
        std::fs::remove_dir_all(&sub).unwrap();
        let err = book.reload_if_changed().unwrap().unwrap_err();
        assert!(matches!(err, DetectionsError::ReloadRefused(_)), "{err}");
        assert_eq!(book.rules().len(), 2, "old rules stay active");
        assert_eq!(book.status().reload_failures, 1);
    }

    #[test]
    fn disabling_applies_at_once_and_survives_reload_and_restart() {
        let rules = tempfile::tempdir().unwrap();
        std::fs::write(rules.path().join("a.yml"), WHOAMI).unwrap();
        let db_dir = tempfile::tempdir().unwrap();
        let db = Arc::new(DetectionStore::open(&db_dir.path().join("a.db")).unwrap());
        let book = RuleBook::new(vec![rules.path().to_owned()], false, db.clone()).unwrap();
        book.reload(true).unwrap();
        let id = "11111111-1111-4111-8111-111111111111";
        assert!(book.active().is_enabled(0));
        let err = book.set_enabled("nope", false, "bob", None).unwrap_err();
        assert!(matches!(err, DetectionsError::UnknownRule(_)));
        let state = book
            .set_enabled(id, false, "bob", Some("noisy".into()))
            .unwrap();
        assert!(!state.enabled);
        assert!(!book.active().is_enabled(0));
        assert_eq!(book.status().rules_disabled, 1);
        book.reload(false).unwrap();
        assert!(!book.active().is_enabled(0), "state kept across reload");
        let again = RuleBook::new(vec![rules.path().to_owned()], false, db).unwrap();
        again.reload(true).unwrap();
        assert!(!again.active().is_enabled(0), "state kept across restart");
        assert_eq!(again.rules()[0].state.as_ref().unwrap().actor, "bob");
        again.set_enabled(id, true, "carol", None).unwrap();
        assert!(again.active().is_enabled(0));
    }
}
