//! `rampart hunt PATH… --rules DIR`: run Sigma rules over log files (EVTX, JSON/NDJSON,
//! syslog and other text) without a server, in parallel across files, and print a
//! timeline of detections plus a summary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::output::OutputFormat;
use rampart_detect::correlation::{CorrelationEngine, CorrelationOptions};
use rampart_detect::{Engine, LoadOptions, Mappings, Matches, RuleSet};
use rampart_model::{Event, Timestamp};

#[derive(Args)]
pub struct HuntArgs {
    /// Files or directories to hunt through (searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Sigma rule files or directories (repeatable). Without any, Rampart's built-in
    /// rules are used.
    #[arg(long, short = 'r')]
    pub rules: Vec<PathBuf>,
    /// Add Rampart's built-in rules to the --rules ones.
    #[arg(long)]
    pub builtin: bool,
    /// Only rules of this level or above: informational, low, medium, high, critical.
    #[arg(long)]
    pub level: Option<String>,
    /// Only events at or after this time (RFC 3339 or relative such as -7d).
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Only events before this time.
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Parser for text files.
    #[arg(long, default_value = "auto")]
    pub parser: String,
    /// Print rule load diagnostics.
    #[arg(long)]
    pub show_diagnostics: bool,
    /// After a correlation fires for a group, it does not fire again for that group for
    /// this many seconds (0: every event that still meets the condition fires again).
    #[arg(long, default_value_t = 600)]
    pub correlation_suppress: u64,
}

/// One detection in the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub timestamp: Timestamp,
    pub computer: Option<String>,
    pub rule: String,
    pub rule_id: Option<String>,
    pub level: String,
    pub tags: Vec<String>,
    pub file: String,
    pub details: String,
    pub event_id: String,
}

impl Detection {
    fn of_event(rule: &rampart_detect::RuleMeta, ev: &Event, file: &str) -> Self {
        Detection {
            timestamp: ev.timestamp,
            computer: host_of(ev),
            rule: rule.title.clone(),
            rule_id: rule.id.clone(),
            level: rule.level.clone().unwrap_or_else(|| "unknown".into()),
            tags: rule.tags.clone(),
            file: file.to_owned(),
            details: details(ev),
            event_id: ev.id.to_string(),
        }
    }
}

fn host_of(ev: &Event) -> Option<String> {
    ev.get_str("host.name")
        .or_else(|| ev.get_str("Event.System.Computer"))
        .or_else(|| ev.get_str("winlog.computer_name"))
}

pub fn level_rank(level: &str) -> u8 {
    match level.to_ascii_lowercase().as_str() {
        "informational" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

/// The fields an analyst reads first: ECS names, then Windows event data items as EVTX
/// (`Event.EventData.*`), Winlogbeat (`winlog.event_data.*`) or flat JSON exports render
/// them.
const KEY_FIELDS: &[&str] = &[
    "process.command_line",
    "CommandLine",
    "ScriptBlockText",
    "process.executable",
    "Image",
    "TargetFilename",
    "TargetObject",
    "ImageLoaded",
    "QueryName",
    "ServiceName",
    "TargetUserName",
    "user.name",
    "source.ip",
    "destination.ip",
    "message",
];

/// Where an event data item can sit, by event shape.
const DATA_PREFIXES: &[&str] = &["Event.EventData.", "winlog.event_data.", ""];

fn details(ev: &Event) -> String {
    let mut parts = Vec::new();
    for key in KEY_FIELDS {
        if parts.len() >= 3 {
            break;
        }
        // ECS names have a dot; event data items are tried in each shape.
        let found = if key.contains('.') {
            ev.get_str(key).map(|v| (key.to_string(), v))
        } else {
            DATA_PREFIXES.iter().find_map(|p| {
                let path = format!("{p}{key}");
                ev.get_str(&path).map(|v| (path, v))
            })
        };
        if let Some((path, v)) = found
            && !v.is_empty()
            && !parts.iter().any(|(_, seen): &(String, String)| *seen == v)
        {
            let short: String = v.chars().take(160).collect();
            parts.push((path, short));
        }
    }
    parts
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Load rule files and directories into one set, with every rule that failed to compile.
/// A path that does not exist is an error; a rule that does not compile is a diagnostic.
pub fn load_rules(paths: &[PathBuf]) -> anyhow::Result<(RuleSet, Vec<rampart_detect::Diagnostic>)> {
    for p in paths {
        if !p.exists() {
            anyhow::bail!("rules: {}: no such file or directory", p.display());
        }
    }
    Ok(RuleSet::load_paths(paths, &LoadOptions::default()))
}

/// Diagnostics printed without --show-diagnostics.
const SHOWN_DIAGNOSTICS: usize = 5;

pub fn run(cfg: Config, args: HuntArgs) -> anyhow::Result<()> {
    crate::init_logging(&crate::config::LogConfig {
        format: cfg.log.format.clone(),
        level: "warn".into(),
    });
    let started = Instant::now();
    let (mut rules, mut diagnostics) = load_rules(&args.rules)?;
    if args.rules.is_empty() || args.builtin {
        let (builtin, diags) = RuleSet::builtin();
        rules.extend(builtin);
        diagnostics.extend(diags);
    }
    let shown = if args.show_diagnostics {
        diagnostics.len()
    } else {
        SHOWN_DIAGNOSTICS
    };
    for d in diagnostics.iter().take(shown) {
        eprintln!("rule not loaded: {d}");
    }
    let n_diags = diagnostics.len();
    if let Some(min) = &args.level {
        let min_rank = level_rank(min);
        if min_rank == 0 {
            anyhow::bail!(
                "--level: unknown level '{min}' (informational, low, medium, high, critical)"
            );
        }
        rules.retain(|r| level_rank(r.level.as_deref().unwrap_or("")) >= min_rank);
    }
    let mappings = Mappings::builtin();
    let engine = Engine::new(&rules, &mappings);
    let (mut correlation, corr_diags) = CorrelationEngine::new(
        &rules,
        &engine,
        &mappings,
        CorrelationOptions {
            suppress_seconds: (args.correlation_suppress > 0).then_some(args.correlation_suppress),
            ..CorrelationOptions::default()
        },
    );
    for d in corr_diags.iter().take(shown) {
        eprintln!("correlation not loaded: {d}");
    }
    let load_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "loaded {} rules in {load_secs:.2}s ({n_diags} could not be compiled{})",
        engine.len(),
        if n_diags <= shown {
            ""
        } else {
            "; --show-diagnostics lists them all"
        }
    );
    let now = Timestamp::now();
    let bound = |text: &Option<String>| -> anyhow::Result<Option<Timestamp>> {
        text.as_deref()
            .map(|t| {
                rampart_query::parse_time(t, now).map_err(|e| anyhow::anyhow!("{}", e.render(t)))
            })
            .transpose()
    };
    let (from, to) = (bound(&args.from)?, bound(&args.to)?);
    let format: rampart_parse::Format = args
        .parser
        .parse()
        .map_err(|e| anyhow::anyhow!("--parser: {e}"))?;

    for p in &args.paths {
        if !p.exists() {
            anyhow::bail!("{}: no such file or directory", p.display());
        }
    }
    let files = rampart_ingest::import::discover(&args.paths);
    if files.is_empty() {
        anyhow::bail!("no files found under the given paths");
    }
    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let next = AtomicUsize::new(0);
    let n_events = AtomicU64::new(0);
    let n_errors = AtomicU64::new(0);
    let done_bytes = AtomicU64::new(0);
    let detections = Mutex::new(Vec::<Detection>::new());
    // Events that matched a rule, with the file they came from: correlations need them in
    // time order, which the parallel pass does not give.
    let correlate = !correlation.is_empty();
    let matched_events = Mutex::new(Vec::<(Event, usize)>::new());
    let threads = args
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1);
    let hunt_started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut matches = Matches::new();
                let mut local = Vec::new();
                let mut local_matched = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let name = file.path.display().to_string();
                    match rampart_ingest::import::read(file, format, rampart_model::DEFAULT_TENANT)
                    {
                        Err(e) => {
                            // `println` prints nothing while the bar is hidden (stderr not a terminal).
                            bar.suspend(|| eprintln!("skipped {name}: {e}"));
                            n_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(records) => {
                            let (mut file_errors, mut first_error) = (0u64, None);
                            for record in records {
                                let ev = match record {
                                    Ok(ev) => ev,
                                    Err(e) => {
                                        n_errors.fetch_add(1, Ordering::Relaxed);
                                        file_errors += 1;
                                        first_error.get_or_insert(e);
                                        continue;
                                    }
                                };
                                n_events.fetch_add(1, Ordering::Relaxed);
                                if from.is_some_and(|f| ev.timestamp < f)
                                    || to.is_some_and(|t| ev.timestamp >= t)
                                {
                                    continue;
                                }
                                engine.evaluate(&ev, &mut matches);
                                for &idx in matches.rules() {
                                    if !correlation.emits_detection(idx) {
                                        continue;
                                    }
                                    let Some(rule) = engine.rule(idx) else {
                                        continue;
                                    };
                                    local.push(Detection::of_event(rule, &ev, &name));
                                }
                                if correlate && !matches.is_empty() {
                                    local_matched.push((ev, i));
                                }
                            }
                            if let Some(e) = first_error {
                                bar.suspend(|| {
                                    eprintln!(
                                        "{name}: {file_errors} unreadable record(s), the first: {e}"
                                    )
                                });
                            }
                        }
                    }
                    let done = done_bytes.fetch_add(file.size, Ordering::Relaxed) + file.size;
                    bar.set_position(done);
                }
                if let Ok(mut all) = detections.lock() {
                    all.extend(local);
                }
                if let Ok(mut all) = matched_events.lock() {
                    all.extend(local_matched);
                }
            });
        }
    });
    bar.finish_and_clear();
    let mut detections = detections.into_inner().unwrap_or_default();
    // Correlations over the matched events in time order (events without a match cannot
    // contribute to any correlation).
    let mut matched = matched_events.into_inner().unwrap_or_default();
    matched.sort_by_key(|(ev, _)| ev.timestamp);
    let mut matches = Matches::new();
    let mut n_correlations = 0usize;
    for (ev, file) in &matched {
        engine.evaluate(ev, &mut matches);
        let firings = correlation.observe(ev, ev.timestamp.nanos(), ev.id.0.as_u128(), &matches);
        for firing in firings.into_iter().filter(|f| f.emit) {
            n_correlations += 1;
            let group: Vec<String> = firing
                .group
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            detections.push(Detection {
                timestamp: ev.timestamp,
                computer: host_of(ev),
                rule: firing.rule.title.clone(),
                rule_id: firing.rule.id.clone(),
                level: firing
                    .rule
                    .level
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
                tags: firing.rule.tags.clone(),
                file: files
                    .get(*file)
                    .map(|f| f.path.display().to_string())
                    .unwrap_or_default(),
                details: format!(
                    "correlation {:?} {} value={} events={}",
                    firing.kind,
                    group.join(" "),
                    firing.value,
                    firing.event_refs.len()
                ),
                event_id: ev.id.to_string(),
            });
        }
    }
    let elapsed = hunt_started.elapsed().as_secs_f64();
    detections.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then_with(|| a.rule.cmp(&b.rule))
    });
    print_timeline(&detections, args.format)?;

    let events = n_events.load(Ordering::Relaxed);
    let mut by_level: BTreeMap<u8, (String, usize)> = BTreeMap::new();
    let mut by_rule: BTreeMap<(String, String), usize> = BTreeMap::new();
    for d in &detections {
        by_level
            .entry(level_rank(&d.level))
            .or_insert_with(|| (d.level.clone(), 0))
            .1 += 1;
        *by_rule
            .entry((d.level.clone(), d.rule.clone()))
            .or_default() += 1;
    }
    eprintln!("\n== summary");
    eprintln!(
        "files: {}  events: {events}  unreadable records/files: {}",
        files.len(),
        n_errors.load(Ordering::Relaxed)
    );
    eprintln!(
        "rules: {}  correlations: {}  detections: {} (of which correlation firings: {n_correlations})",
        engine.len(),
        correlation.len(),
        detections.len()
    );
    for (_, (level, n)) in by_level.iter().rev() {
        eprintln!("  {level:<14} {n}");
    }
    let mut top: Vec<_> = by_rule.into_iter().collect();
    top.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    eprintln!("top rules:");
    for ((level, rule), n) in top.iter().take(15) {
        eprintln!("  {n:>6}  [{level}] {rule}");
    }
    eprintln!(
        "elapsed: {elapsed:.2}s hunting ({:.0} events/s on {threads} threads), {load_secs:.2}s loading rules",
        events as f64 / elapsed.max(1e-9)
    );
    Ok(())
}

fn print_timeline(detections: &[Detection], format: OutputFormat) -> anyhow::Result<()> {
    let columns = ["timestamp", "computer", "level", "rule", "tags", "details"];
    let row = |d: &Detection| -> Vec<Value> {
        vec![
            Value::String(d.timestamp.to_rfc3339()),
            d.computer.clone().map(Value::String).unwrap_or(Value::Null),
            Value::String(d.level.clone()),
            Value::String(d.rule.clone()),
            Value::String(
                d.tags
                    .iter()
                    .filter(|t| t.starts_with("attack."))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Value::String(d.details.clone()),
        ]
    };
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(detections)?),
        OutputFormat::Jsonl => {
            for d in detections {
                println!("{}", serde_json::to_string(d)?);
            }
        }
        OutputFormat::Csv => {
            let mut out = String::new();
            rampart_server::api::write_csv_row(
                &mut out,
                columns.iter().map(|c| Value::String(c.to_string())),
            );
            for d in detections {
                rampart_server::api::write_csv_row(&mut out, row(d).into_iter());
            }
            print!("{out}");
        }
        OutputFormat::Table => {
            let response = rampart_store::SearchResponse {
                took_ms: 0.0,
                result: rampart_store::SearchResult::Table {
                    columns: columns.iter().map(|c| c.to_string()).collect(),
                    rows: detections.iter().map(row).collect(),
                },
            };
            crate::output::print_table_only(&response)?;
        }
    }
    Ok(())
}
