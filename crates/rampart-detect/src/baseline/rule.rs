//! The baseline rule format: Sigma metadata and a Sigma `detection` selecting events, plus `entity`, `metric`, `bucket`, `training`, `history`, `min_history`, `retention`, `threshold` and `direction`.

use crate::load::{self, Diagnostic, LoadOptions, RuleMeta, RuleSet};
use std::path::{Path, PathBuf};
use yaml_serde::{Mapping, Value};

const NANOS_PER_SEC: i64 = 1_000_000_000;
/// Most buckets a history window may hold (a year of hours).
pub const MAX_HISTORY: usize = 8_784;
/// Most fields an entity or a metric value may be made of.
const MAX_FIELDS: usize = 8;

/// The shipped baseline rules (`baselines/` of this crate), embedded at build time.
const BUILTIN: &[(&str, &str)] = &[
    (
        "unusual_outbound_volume.yml",
        include_str!("../../baselines/unusual_outbound_volume.yml"),
    ),
    (
        "first_seen_admin_logon_windows.yml",
        include_str!("../../baselines/first_seen_admin_logon_windows.yml"),
    ),
    (
        "first_seen_root_logon_linux.yml",
        include_str!("../../baselines/first_seen_root_logon_linux.yml"),
    ),
    (
        "unusual_login_count_per_user.yml",
        include_str!("../../baselines/unusual_login_count_per_user.yml"),
    ),
    (
        "unusual_distinct_destinations.yml",
        include_str!("../../baselines/unusual_distinct_destinations.yml"),
    ),
    (
        "unusual_process_count.yml",
        include_str!("../../baselines/unusual_process_count.yml"),
    ),
];

/// Top-level keys handed to the Sigma compiler (everything a Sigma detection rule may say
/// about itself, plus its `logsource` and `detection`).
const SIGMA_KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "status",
    "description",
    "references",
    "author",
    "date",
    "modified",
    "tags",
    "level",
    "falsepositives",
    "fields",
    "related",
    "license",
    "taxonomy",
    "logsource",
    "detection",
];

/// Top-level keys of the baseline itself.
const BASELINE_KEYS: &[&str] = &[
    "entity",
    "metric",
    "bucket",
    "training",
    "history",
    "min_history",
    "retention",
    "threshold",
    "direction",
];

/// What is measured per entity and bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Number of selected events.
    Count,
    /// Sum of a numeric field (events without a number in it are skipped and counted).
    Sum(String),
    /// Number of distinct values of the field(s), taken together.
    Distinct(Vec<String>),
    /// A value of the field(s) this entity has never had before, once its training is over.
    FirstSeen(Vec<String>),
}

impl Metric {
    pub fn is_first_seen(&self) -> bool {
        matches!(self, Metric::FirstSeen(_))
    }

    /// The fields the metric reads (none for `count`).
    pub fn fields(&self) -> &[String] {
        match self {
            Metric::Count => &[],
            Metric::Sum(f) => std::slice::from_ref(f),
            Metric::Distinct(f) | Metric::FirstSeen(f) => f,
        }
    }
}

/// Which side of the baseline is unusual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// More than usual (a spike): the default.
    High,
    /// Less than usual (a dip; silent buckets count as 0).
    Low,
    Both,
}

/// When a bucket's value is a deviation (see the crate README, "Baselines").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// Robust z-score `|x - median| / spread` at or above which a bucket is unusual (3.5).
    pub score: f64,
    /// Absolute floor: `|x - median|` must be at least this (0).
    pub min_delta: f64,
    /// Relative floor: a spike must be at least `min_ratio × median`, a dip at most
    /// `median / min_ratio` (2; a median of 0 passes for spikes).
    pub min_ratio: f64,
    /// Smallest spread used, so that a constant history does not make every change
    /// infinitely unusual (1).
    pub min_spread: f64,
    /// Also require a spike above (a dip below) every bucket of the history window.
    pub beyond_history: bool,
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold {
            score: 3.5,
            min_delta: 0.0,
            min_ratio: 2.0,
            min_spread: 1.0,
            beyond_history: false,
        }
    }
}

/// One baseline rule, its event selection compiled as a Sigma detection rule.
#[derive(Debug, Clone)]
pub struct BaselineRule {
    /// Id, title, level, description, tags (ATT&CK tactics and techniques), false
    /// positives, log source, path: as for a Sigma rule.
    pub meta: RuleMeta,
    /// The fields whose values make an entity (`host.name`; `[user.name, host.name]`).
    pub entity: Vec<String>,
    pub metric: Metric,
    pub bucket_nanos: i64,
    /// No alert for an entity until it has been known this long.
    pub training_nanos: i64,
    /// Closed buckets kept per entity (the window the baseline is computed over).
    pub history: usize,
    /// Closed buckets an entity must have in its window before it can alert.
    pub min_history: usize,
    /// An entity silent for this long is forgotten (its training starts again).
    pub retention_nanos: i64,
    pub threshold: Threshold,
    pub direction: Direction,
    /// The `detection` (and `logsource`) as a one-rule Sigma rule set.
    pub(crate) filter: RuleSet,
}

impl BaselineRule {
    /// Stable identity (snapshots): the id, else the title.
    pub fn identity(&self) -> &str {
        self.meta.id.as_deref().unwrap_or(&self.meta.title)
    }

    /// Whole buckets of training (rounded up).
    pub fn training_buckets(&self) -> i64 {
        if self.training_nanos <= 0 {
            return 0;
        }
        (self.training_nanos + self.bucket_nanos - 1) / self.bucket_nanos
    }
}

/// A set of baseline rules: the input of [`BaselineEngine::new`](super::BaselineEngine::new).
#[derive(Debug, Clone, Default)]
pub struct BaselineSet {
    pub(crate) rules: Vec<BaselineRule>,
}

impl BaselineSet {
    /// Load the (possibly multi-document) YAML `text`; `origin` names it in diagnostics.
    pub fn from_yaml_str(
        text: &str,
        origin: &str,
        opts: &LoadOptions,
    ) -> (BaselineSet, Vec<Diagnostic>) {
        Self::from_sources([(PathBuf::from(origin), text)], opts)
    }

    /// Load several `(origin, YAML text)` sources as one set.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (PathBuf, &'a str)>,
        opts: &LoadOptions,
    ) -> (BaselineSet, Vec<Diagnostic>) {
        let mut set = BaselineSet::default();
        let mut diags = Vec::new();
        for (path, text) in sources {
            set.add_text(text, &path, opts, &mut diags);
        }
        (set, diags)
    }

    /// Load every `*.yml`/`*.yaml` under `dir` (recursively, in path order; `*.tests.yml`
    /// skipped), refusing files over `opts.max_file_bytes`.
    pub fn load_dir(dir: &Path, opts: &LoadOptions) -> (BaselineSet, Vec<Diagnostic>) {
        let mut files = Vec::new();
        let mut diags = Vec::new();
        load::collect_files(dir, &mut files, &mut diags);
        files.sort();
        let mut set = BaselineSet::default();
        for path in files {
            match load::read_rule_file(&path, opts) {
                Ok(text) => set.add_text(&text, &path, opts, &mut diags),
                Err(d) => diags.push(d),
            }
        }
        (set, diags)
    }

    /// Rampart's default baselines (`baselines/` of this crate), reported under
    /// `builtin/baselines/<file>.yml`.
    pub fn builtin() -> (BaselineSet, Vec<Diagnostic>) {
        Self::from_sources(
            BUILTIN
                .iter()
                .map(|(name, text)| (PathBuf::from("builtin/baselines").join(name), *text)),
            &LoadOptions::default(),
        )
    }

    pub fn rules(&self) -> &[BaselineRule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Keep only the rules for which `keep` is true (enable/disable by id …).
    pub fn retain(&mut self, keep: impl FnMut(&BaselineRule) -> bool) {
        self.rules.retain(keep);
    }

    /// Add the rules of `other`.
    pub fn extend(&mut self, other: BaselineSet) {
        self.rules.extend(other.rules);
    }

    fn add_text(
        &mut self,
        text: &str,
        path: &Path,
        opts: &LoadOptions,
        diags: &mut Vec<Diagnostic>,
    ) {
        use serde::Deserialize as _;
        for doc in yaml_serde::Deserializer::from_str(text) {
            let value = match Value::deserialize(doc) {
                Ok(v) => v,
                Err(e) => {
                    diags.push(diag(path, None, "yaml", e.to_string()));
                    // The stream is in an undefined state after a parse error.
                    break;
                }
            };
            if value.is_null() {
                continue;
            }
            match parse_rule(&value, path, opts) {
                Ok(rule) => self.rules.push(rule),
                Err(mut d) => diags.append(&mut d),
            }
        }
    }
}

fn diag(path: &Path, rule: Option<&str>, category: &str, reason: String) -> Diagnostic {
    Diagnostic {
        path: path.to_owned(),
        rule: rule.map(str::to_owned),
        category: category.to_owned(),
        reason,
    }
}

/// One YAML document into a rule; every problem found is reported.
fn parse_rule(
    value: &Value,
    path: &Path,
    opts: &LoadOptions,
) -> Result<BaselineRule, Vec<Diagnostic>> {
    let Some(map) = value.as_mapping() else {
        return Err(vec![diag(
            path,
            None,
            "yaml",
            "document is not a mapping".into(),
        )]);
    };
    let name = map
        .get("id")
        .and_then(Value::as_str)
        .or_else(|| map.get("title").and_then(Value::as_str))
        .map(str::to_owned);
    let d = |category: &str, reason: String| diag(path, name.as_deref(), category, reason);
    let mut errors = Vec::new();
    let mut sigma = Mapping::new();
    for (k, v) in map {
        match k.as_str() {
            Some(key) if SIGMA_KEYS.contains(&key) => {
                sigma.insert(k.clone(), v.clone());
            }
            Some(key) if BASELINE_KEYS.contains(&key) => {}
            Some(key) => errors.push(d("value", format!("unknown key '{key}'"))),
            None => errors.push(d("yaml", format!("key {k:?} is not a string"))),
        }
    }
    if !map.contains_key("detection") {
        errors.push(d(
            "detection",
            "missing 'detection' (the events the baseline counts)".into(),
        ));
    }

    let entity = match map.get("entity") {
        None => {
            errors.push(d("value", "missing 'entity'".into()));
            Vec::new()
        }
        Some(v) => fields_of(v, "entity").unwrap_or_else(|e| {
            errors.push(d("value", e));
            Vec::new()
        }),
    };
    let metric = match map.get("metric") {
        None => {
            errors.push(d("value", "missing 'metric'".into()));
            None
        }
        Some(v) => metric_of(v).map_err(|e| errors.push(d("value", e))).ok(),
    };
    let mut duration = |key: &str, default: &str| -> i64 {
        let text = match map.get(key) {
            None => default.to_owned(),
            Some(v) => match v.as_str() {
                Some(s) => s.to_owned(),
                None => {
                    errors.push(d(
                        "value",
                        format!("'{key}' must be a duration such as 1h or 7d"),
                    ));
                    return 0;
                }
            },
        };
        parse_duration(&text).unwrap_or_else(|e| {
            errors.push(d("value", format!("'{key}': {e}")));
            0
        })
    };
    let bucket_nanos = duration("bucket", "1h");
    let training_nanos = duration("training", "7d");
    let retention_given = map.contains_key("retention");
    let retention = duration("retention", "30d");

    let first_seen = metric.as_ref().is_some_and(Metric::is_first_seen);
    if first_seen {
        for key in ["history", "min_history", "threshold", "direction"] {
            if map.contains_key(key) {
                errors.push(d(
                    "unsupported",
                    format!("'{key}' does not apply to a first_seen metric"),
                ));
            }
        }
    }
    let training_buckets = if bucket_nanos > 0 {
        ((training_nanos + bucket_nanos - 1) / bucket_nanos).max(0) as usize
    } else {
        0
    };
    let count = |key: &str, errors: &mut Vec<Diagnostic>| -> Option<usize> {
        let v = map.get(key)?;
        match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (1..=MAX_HISTORY).contains(&n) => Some(n),
            _ => {
                errors.push(d(
                    "value",
                    format!("'{key}' must be a whole number of buckets from 1 to {MAX_HISTORY}"),
                ));
                None
            }
        }
    };
    let min_history_given = count("min_history", &mut errors);
    let history_given = count("history", &mut errors);
    let history = history_given.unwrap_or_else(|| {
        training_buckets
            .max(min_history_given.unwrap_or(1))
            .clamp(1, MAX_HISTORY)
    });
    let min_history = min_history_given.unwrap_or_else(|| training_buckets.clamp(1, history));
    if !first_seen && min_history > history {
        errors.push(d(
            "value",
            format!("'min_history' ({min_history}) is larger than 'history' ({history})"),
        ));
    }
    let threshold = match map.get("threshold") {
        None => Threshold::default(),
        Some(v) => threshold_of(v).unwrap_or_else(|e| {
            errors.push(d("value", e));
            Threshold::default()
        }),
    };
    let direction = match map.get("direction").map(|v| v.as_str()) {
        None => Direction::High,
        Some(Some("high")) => Direction::High,
        Some(Some("low")) => Direction::Low,
        Some(Some("both")) => Direction::Both,
        Some(_) => {
            errors.push(d("value", "'direction' must be high, low or both".into()));
            Direction::High
        }
    };
    // Deviation rules forget an entity once its whole window is silent, unless told.
    let retention_nanos = if first_seen || retention_given {
        retention
    } else {
        bucket_nanos.saturating_mul(history as i64)
    };

    // The selection: the Sigma part of the document, compiled by the Sigma loader.
    let sigma_text = match yaml_serde::to_string(&Value::Mapping(sigma)) {
        Ok(t) => t,
        Err(e) => {
            errors.push(d("yaml", format!("cannot re-serialise the detection: {e}")));
            String::new()
        }
    };
    let mut filter = RuleSet::default();
    if errors.is_empty() {
        let (set, sigma_diags) =
            RuleSet::from_sources([(path.to_owned(), sigma_text.as_str())], opts);
        errors.extend(sigma_diags);
        if errors.is_empty()
            && (set.len() != 1 || !set.correlations().is_empty() || !set.filters().is_empty())
        {
            errors.push(d(
                "detection",
                "the document must compile to exactly one Sigma detection rule".into(),
            ));
        }
        filter = set;
    }
    let (Some(metric), true) = (metric, errors.is_empty()) else {
        return Err(errors);
    };
    let Some(meta) = filter.rules().next().cloned() else {
        return Err(vec![d("detection", "the detection did not compile".into())]);
    };
    Ok(BaselineRule {
        meta,
        entity,
        metric,
        bucket_nanos,
        training_nanos,
        history,
        min_history,
        retention_nanos,
        threshold,
        direction,
        filter,
    })
}

/// A field name or a list of them.
fn fields_of(v: &Value, what: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("'{what}' must be a field name or a list of field names"))?,
        _ => {
            return Err(format!(
                "'{what}' must be a field name or a list of field names"
            ));
        }
    };
    if list.is_empty() || list.len() > MAX_FIELDS || list.iter().any(|f| f.trim().is_empty()) {
        return Err(format!(
            "'{what}' needs 1 to {MAX_FIELDS} non-empty field names"
        ));
    }
    Ok(list)
}

/// `count`, `{sum: f}`, `{distinct: f | [f…]}`, `{first_seen: f | [f…]}`.
fn metric_of(v: &Value) -> Result<Metric, String> {
    const SHAPE: &str = "'metric' must be count, {sum: <field>}, {distinct: <field(s)>} or {first_seen: <field(s)>}";
    if v.as_str() == Some("count") {
        return Ok(Metric::Count);
    }
    let Some(m) = v.as_mapping().filter(|m| m.len() == 1) else {
        return Err(SHAPE.into());
    };
    let Some((k, field)) = m.iter().next() else {
        return Err(SHAPE.into());
    };
    match k.as_str() {
        Some("sum") => match field.as_str() {
            Some(f) if !f.trim().is_empty() => Ok(Metric::Sum(f.to_owned())),
            _ => Err("'sum' takes one field name".into()),
        },
        Some("distinct") => fields_of(field, "distinct").map(Metric::Distinct),
        Some("first_seen") => fields_of(field, "first_seen").map(Metric::FirstSeen),
        _ => Err(SHAPE.into()),
    }
}

fn threshold_of(v: &Value) -> Result<Threshold, String> {
    let Some(m) = v.as_mapping() else {
        return Err("'threshold' must be a mapping".into());
    };
    let mut t = Threshold::default();
    for (k, v) in m {
        let key = k.as_str().unwrap_or_default();
        let num = || {
            v.as_f64()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("threshold '{key}' must be a number ≥ 0"))
        };
        match key {
            "score" => t.score = num()?,
            "min_delta" => t.min_delta = num()?,
            "min_ratio" => t.min_ratio = num()?,
            "min_spread" => t.min_spread = num()?,
            "beyond_history" => {
                t.beyond_history = v
                    .as_bool()
                    .ok_or("threshold 'beyond_history' must be true or false")?;
            }
            "statistic" => {
                if v.as_str() != Some("mad") {
                    return Err(
                        "threshold 'statistic' must be mad (median and median absolute deviation)"
                            .into(),
                    );
                }
            }
            _ => return Err(format!("unknown threshold key '{key}'")),
        }
    }
    if t.score <= 0.0 {
        return Err("threshold 'score' must be above 0".into());
    }
    if t.min_spread <= 0.0 {
        return Err("threshold 'min_spread' must be above 0".into());
    }
    Ok(t)
}

/// `30s`, `15m`, `1h`, `7d`, `2w` into nanoseconds (whole, positive amounts only).
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 30s, 15m, 1h, 7d or 2w"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("'{text}': the unit must be s, m, h, d or w")),
    };
    if n <= 0 {
        return Err(format!("'{text}' must be longer than 0"));
    }
    n.checked_mul(secs)
        .filter(|s| *s <= 3_660 * 86_400)
        .map(|s| s * NANOS_PER_SEC)
        .ok_or_else(|| format!("'{text}' is longer than ten years"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HEAD: &str = "title: T\nid: 00000000-0000-4000-8000-000000000001\nlevel: low\n\
                        detection: {sel: {event.action: x}, condition: sel}\n";

    fn load(body: &str) -> (BaselineSet, Vec<Diagnostic>) {
        BaselineSet::from_yaml_str(&format!("{HEAD}{body}"), "t.yml", &LoadOptions::default())
    }

    #[test]
    fn durations() {
        let cases: &[(&str, Result<i64, ()>)] = &[
            ("30s", Ok(30)),
            ("15m", Ok(900)),
            ("1h", Ok(3_600)),
            ("7d", Ok(604_800)),
            ("2w", Ok(1_209_600)),
            ("0h", Err(())),
            ("h", Err(())),
            ("1y", Err(())),
            ("-1h", Err(())),
            ("99999999999d", Err(())),
        ];
        for (text, want) in cases {
            let got = parse_duration(text)
                .map(|n| n / NANOS_PER_SEC)
                .map_err(|_| ());
            assert_eq!(got, *want, "{text}");
        }
    }

    #[test]
    fn accepted_rules_and_defaults() {
        // (body, metric, history, min_history, retention hours)
        let cases: &[(&str, Metric, usize, usize, i64)] = &[
            (
                "entity: host.name\nmetric: count\n",
                Metric::Count,
                168,
                168,
                168,
            ),
            (
                "entity: host.name\nmetric: {sum: source.bytes}\nbucket: 1d\ntraining: 14d\nmin_history: 7\n",
                Metric::Sum("source.bytes".into()),
                14,
                7,
                14 * 24,
            ),
            (
                "entity: [source.ip]\nmetric: {distinct: [destination.ip, destination.port]}\nhistory: 48\nmin_history: 24\ntraining: 1d\n",
                Metric::Distinct(vec!["destination.ip".into(), "destination.port".into()]),
                48,
                24,
                48,
            ),
            (
                "entity: host.name\nmetric: {first_seen: user.name}\ntraining: 3d\n",
                Metric::FirstSeen(vec!["user.name".into()]),
                72,
                72,
                30 * 24,
            ),
        ];
        for (body, metric, history, min_history, retention_h) in cases {
            let (set, diags) = load(body);
            assert!(diags.is_empty(), "{body}: {diags:#?}");
            let r = &set.rules()[0];
            assert_eq!(&r.metric, metric, "{body}");
            assert_eq!(r.history, *history, "{body}");
            assert_eq!(r.min_history, *min_history, "{body}");
            assert_eq!(
                r.retention_nanos,
                retention_h * 3_600 * NANOS_PER_SEC,
                "{body}"
            );
            assert_eq!(r.meta.title, "T");
            assert_eq!(r.identity(), "00000000-0000-4000-8000-000000000001");
        }
    }

    #[test]
    fn rejected_rules_say_why() {
        let cases: &[(&str, &str)] = &[
            ("metric: count\n", "missing 'entity'"),
            ("entity: host.name\n", "missing 'metric'"),
            ("entity: host.name\nmetric: avg\n", "'metric' must be"),
            (
                "entity: host.name\nmetric: {sum: [a, b]}\n",
                "'sum' takes one field",
            ),
            ("entity: []\nmetric: count\n", "1 to 8 non-empty"),
            (
                "entity: host.name\nmetric: count\nbucket: 1x\n",
                "the unit must be",
            ),
            (
                "entity: host.name\nmetric: count\nhistory: 10\nmin_history: 20\n",
                "larger than 'history'",
            ),
            (
                "entity: host.name\nmetric: count\nhistory: 0\n",
                "from 1 to",
            ),
            (
                "entity: host.name\nmetric: count\nthreshold: {score: 0}\n",
                "above 0",
            ),
            (
                "entity: host.name\nmetric: count\nthreshold: {zscore: 3}\n",
                "unknown threshold key",
            ),
            (
                "entity: host.name\nmetric: count\nthreshold: {statistic: ewma}\n",
                "must be mad",
            ),
            (
                "entity: host.name\nmetric: count\ndirection: up\n",
                "high, low or both",
            ),
            (
                "entity: host.name\nmetric: count\nentitiy: x\n",
                "unknown key 'entitiy'",
            ),
            (
                "entity: host.name\nmetric: {first_seen: user.name}\nthreshold: {score: 3}\n",
                "does not apply to a first_seen",
            ),
        ];
        for (body, want) in cases {
            let (set, diags) = load(body);
            assert!(set.is_empty(), "{body}");
            assert!(
                diags.iter().any(|d| d.reason.contains(want)),
                "{body}: want '{want}' in {diags:#?}"
            );
        }
        // A broken Sigma detection is reported by the Sigma compiler.
        let (set, diags) = BaselineSet::from_yaml_str(
            "title: T\nentity: h\nmetric: count\ndetection: {sel: {a|re: '('}, condition: sel}\n",
            "t.yml",
            &LoadOptions::default(),
        );
        assert!(set.is_empty());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].category, "regex");
        let (set, diags) = BaselineSet::from_yaml_str(
            "title: T\nentity: h\nmetric: count\n",
            "t.yml",
            &LoadOptions::default(),
        );
        assert!(set.is_empty());
        assert!(
            diags.iter().any(|d| d.category == "detection"),
            "{diags:#?}"
        );
    }

    #[test]
    fn builtin_baselines_load() {
        let (set, diags) = BaselineSet::builtin();
        assert!(diags.is_empty(), "{diags:#?}");
        assert_eq!(set.len(), BUILTIN.len());
        let mut ids = std::collections::HashSet::new();
        for r in set.rules() {
            let m = &r.meta;
            assert!(
                m.id.is_some() && ids.insert(m.id.clone()),
                "{}: id",
                m.title
            );
            assert!(m.level.is_some(), "{}: level", m.title);
            assert!(m.description.is_some(), "{}: description", m.title);
            assert!(
                !m.techniques.is_empty() && !m.tactics.is_empty(),
                "{}: ATT&CK tags",
                m.title
            );
            assert!(!m.falsepositives.is_empty(), "{}: false positives", m.title);
        }
    }
}
