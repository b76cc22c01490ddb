//! Helpers shared by the corpus tests: locating `../shared`, reading EVTX events, flattening them for rsigma.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use rampart_model::{Event, Origin, OriginKind};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The shared corpora, or `None` (after printing why) when they are absent.
pub fn shared(what: &str) -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("RAMPART_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!("{what}: ../shared is required but not present");
    }
    println!("SKIPPED: {what} (../shared not present)");
    None
}

/// The Sigma engine and the correlation engine of `rules` with the built-in mappings and
/// default options; every correlation must compile.
pub fn correlation_engines(
    rules: &rampart_detect::RuleSet,
) -> (rampart_detect::Engine, rampart_detect::CorrelationEngine) {
    let mappings = rampart_detect::Mappings::builtin();
    let engine = rampart_detect::Engine::new(rules, &mappings);
    let (corr, diags) = rampart_detect::CorrelationEngine::new(
        rules,
        &engine,
        &mappings,
        rampart_detect::CorrelationOptions::default(),
    );
    assert!(diags.is_empty(), "{diags:#?}");
    (engine, corr)
}

pub const RULE_DIRS: &[&str] = &["rules", "rules-emerging-threats", "rules-threat-hunting"];

fn collect(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    collect(dir, ext, &mut v);
    v.sort();
    v
}

/// Every event of every EVTX file under `dir`, as rampart-parse renders them.
pub fn evtx_events(dir: &Path) -> Vec<Event> {
    let mut out = Vec::new();
    for f in files(dir, "evtx") {
        let Ok(records) = rampart_parse::evtx::read_file(&f, Origin::new(OriginKind::File, "test"))
        else {
            continue;
        };
        out.extend(records.flatten());
    }
    out
}

fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, c, out);
            }
        }
        _ => out.push((prefix.to_owned(), v.clone())),
    }
}

/// The event as a flat object for rsigma: every leaf under its full dotted path (so the
/// set of string values is the same as the nested event's), plus every Sigma field name
/// resolved exactly as Rampart's built-in Windows mapping resolves it.
pub fn flatten_windows(fields: &Map<String, Value>) -> Value {
    let mut all = Vec::new();
    leaves("", &Value::Object(fields.clone()), &mut all);
    let mut flat = Map::new();
    // UserData.<element>.<name> → name, then EventData.<name> → name (EventData wins).
    for (p, v) in &all {
        if let Some(rest) = p.strip_prefix("Event.UserData.")
            && let Some((_, name)) = rest.split_once('.')
            && !name.contains('.')
        {
            flat.entry(name.to_owned()).or_insert_with(|| v.clone());
        }
    }
    for (p, v) in &all {
        if let Some(name) = p.strip_prefix("Event.EventData.")
            && !name.contains('.')
        {
            flat.insert(name.to_owned(), v.clone());
        }
    }
    let get = |path: &str| all.iter().find(|(p, _)| p == path).map(|(_, v)| v.clone());
    let explicit: &[(&str, &[&str])] = &[
        ("EventID", &["Event.System.EventID"]),
        ("Channel", &["Event.System.Channel"]),
        ("Computer", &["Event.System.Computer"]),
        ("Provider_Name", &["Event.System.Provider.Name"]),
        ("Provider", &["Event.System.Provider.Name"]),
        ("Level", &["Event.System.Level"]),
        ("Task", &["Event.System.Task"]),
        ("Opcode", &["Event.System.Opcode"]),
        ("Keywords", &["Event.System.Keywords"]),
        ("EventRecordID", &["Event.System.EventRecordID"]),
        (
            "Version",
            &["Event.EventData.Version", "Event.System.Version"],
        ),
        (
            "ProcessID",
            &[
                "Event.EventData.ProcessID",
                "Event.System.Execution.ProcessID",
            ],
        ),
        (
            "ThreadID",
            &[
                "Event.EventData.ThreadID",
                "Event.System.Execution.ThreadID",
            ],
        ),
        (
            "SecurityID",
            &["Event.EventData.SecurityID", "Event.System.Security.UserID"],
        ),
    ];
    for (name, paths) in explicit {
        flat.remove(*name);
        if let Some(v) = paths.iter().find_map(|p| get(p)) {
            flat.insert((*name).to_owned(), v);
        }
    }
    for (p, v) in all {
        flat.entry(p).or_insert(v);
    }
    Value::Object(flat)
}
