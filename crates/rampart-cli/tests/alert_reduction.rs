//! Alert reduction on a noisy replay, measured through the real binary.
//!
//! The shared EVTX attack corpus (every `.evtx` file) and the loghub samples are imported
//! with `rampart ingest` three times — each replay gives the events new ids but the same
//! content and times — into the data directory of a `rampart serve` running the SigmaHQ
//! rules plus the built-in rules, correlations and baselines. `rampart ingest` writes to
//! the store directly, so the server is stopped while a pass is imported and restarted
//! after it; its detection consumer, registered at the first start, resumes where it
//! stopped and evaluates the new pass.
//!
//! After each pass the test reads from the API the raw detections, the alerts (and the sum
//! of their dedup counts), the alert groups (incident candidates), the risk alerts, the
//! suppressed signals and the per-rule noise statistics, and prints them with the
//! reduction ratios (run with `--nocapture`). It asserts that the replays fold into the
//! first pass's alerts (at most 5 % more alerts after three passes than after one), that
//! every detection is counted in an alert, and that nothing is lost from view: every file
//! whose events produced a detection is linked, through an event's origin path, by an
//! alert (and so by the group holding it), and so is each of the file's rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::Value;

/// How many times the corpus is imported.
const PASSES: usize = 3;
/// The risk-based alerting rule of triage (its alerts aggregate other alerts' detections).
const RISK_RULE: &str = "rampart.risk_threshold";
/// Old corpora must not meet the default 30-day retention while the test runs.
const CONFIG: &str = "[store.retention]\nmax_age = \"36500d\"\n";

fn shared() -> PathBuf {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    // Clean paths (no `..`) so that the events' origin paths read like the files given.
    std::fs::canonicalize(&path).unwrap_or(path)
}

/// The `.evtx` files under `dir`, recursively, sorted.
fn evtx_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// A client of the server's API with the admin token, on one kept-alive agent.
struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Api {
    fn new(server: &Server) -> Api {
        Api {
            agent: Server::agent(),
            base: server.url(""),
            token: server.admin_token.clone(),
        }
    }

    fn try_get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let mut req = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token));
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        let mut resp = req.call().unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let (status, body) = self.try_get(path, query);
        assert_eq!(status, 200, "GET {path} {query:?}: {body}");
        body
    }

    /// Every item of an offset-paged list (`alerts`, `groups`).
    fn all_offset(&self, path: &str, key: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let offset = out.len().to_string();
            let page = self.get(path, &[("limit", "10000"), ("offset", &offset)]);
            let items = page[key].as_array().unwrap_or_else(|| panic!("{page}"));
            out.extend(items.iter().cloned());
            if items.is_empty() || out.len() as u64 >= page["total"].as_u64().unwrap() {
                return out;
            }
        }
    }

    /// Every detection, through the cursor pages.
    fn all_detections(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "10000")];
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let page = self.get("/api/v1/detections", &query);
            let items = page["detections"].as_array().unwrap();
            out.extend(items.iter().cloned());
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() || items.is_empty() {
                return out;
            }
        }
    }
}

/// Start `rampart serve` on the test's configuration with the SigmaHQ rules.
fn serve(dir: &Path, config: &Path, sigma: &Path) -> Server {
    let child = Command::new(common::bin())
        .args(["serve", "--print-addrs", "--rules"])
        .arg(sigma)
        .arg("-c")
        .arg(config)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn rampart serve");
    Server::attach(child, dir, config.to_owned())
}

/// `rampart ingest` of `files` into the (stopped) server's data directory; the number of
/// events imported.
fn ingest(config: &Path, files: &[PathBuf]) -> u64 {
    let out = Command::new(common::bin())
        .arg("ingest")
        .arg("-c")
        .arg(config)
        .args(files)
        .output()
        .expect("run rampart ingest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rampart ingest failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("from {} files", files.len()))
            && stdout.contains("0 unreadable records")
            && stdout.contains("0 files skipped"),
        "{stdout}"
    );
    stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count in {stdout:?}"))
}

/// Wait until the detection worker has evaluated the first `accepted` events of the stream
/// and triage has taken every detection stored; the status document's `detection` section.
fn wait_caught_up(api: &Api, accepted: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(3600);
    let status = || api.get("/api/v1/status", &[])["detection"].clone();
    loop {
        let d = status();
        if d["committed_seq"].as_u64().unwrap_or(0) >= accepted && d["lag_events"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "detection did not catch up: {d}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // Read after the stream position: a batch's pending mark is published before it.
    loop {
        let d = status();
        if d["triage"]["pending"] == 0 {
            assert_eq!(d["errors"], 0, "detection errors: {d}");
            assert_eq!(d["triage"]["errors"], 0, "triage errors: {d}");
            return d;
        }
        assert!(Instant::now() < deadline, "triage did not catch up: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the API shows after a pass.
#[derive(Debug, Default, Clone)]
struct Figures {
    pass: usize,
    events: u64,
    detections: u64,
    /// Detections by kind: rule, correlation, baseline.
    by_kind: BTreeMap<String, u64>,
    alerts: u64,
    /// Alerts by source: detection, correlation, baseline, intel, risk.
    by_source: BTreeMap<String, u64>,
    /// Sum of the alerts' dedup counts, risk alerts excluded.
    count_sum: u64,
    risk_alerts: u64,
    groups: u64,
    /// Groups of two alerts or more.
    multi_groups: u64,
    /// The largest groups: (alerts, title).
    largest_groups: Vec<(u64, String)>,
    /// Triage's per-rule counters summed: signals raised as alerts, folded, muted.
    raised: u64,
    deduplicated: u64,
    suppressed: u64,
    /// The same, risk-threshold signals excluded.
    suppressed_detections: u64,
    suppressions: u64,
    noise: Vec<Value>,
}

fn measure(api: &Api, pass: usize, events: u64) -> Figures {
    let mut f = Figures {
        pass,
        events,
        detections: api.get("/api/v1/detections/counts", &[])["total"]
            .as_u64()
            .unwrap(),
        ..Figures::default()
    };
    for kind in ["rule", "correlation", "baseline"] {
        let page = api.get("/api/v1/detections", &[("kind", kind), ("limit", "1")]);
        f.by_kind
            .insert(kind.to_owned(), page["total"].as_u64().unwrap());
    }
    let alerts = api.all_offset("/api/v1/alerts", "alerts");
    f.alerts = alerts.len() as u64;
    for a in &alerts {
        let source = a["source"].as_str().unwrap().to_owned();
        *f.by_source.entry(source.clone()).or_default() += 1;
        if source == "risk" {
            f.risk_alerts += 1;
        } else {
            f.count_sum += a["count"].as_u64().unwrap();
        }
    }
    let groups = api.all_offset("/api/v1/alert-groups", "groups");
    f.groups = groups.len() as u64;
    f.multi_groups = groups
        .iter()
        .filter(|g| g["alert_count"].as_u64().unwrap_or(0) >= 2)
        .count() as u64;
    let mut largest: Vec<(u64, String)> = groups
        .iter()
        .map(|g| {
            (
                g["alert_count"].as_u64().unwrap_or(0),
                g["title"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    largest.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    largest.truncate(5);
    f.largest_groups = largest;
    let noise = api.get("/api/v1/rules/noise", &[]);
    f.noise = noise["rules"].as_array().unwrap().clone();
    for r in &f.noise {
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        f.raised += n("raised");
        f.deduplicated += n("deduplicated");
        f.suppressed += n("suppressed");
        if r["rule_id"] != RISK_RULE {
            f.suppressed_detections += n("suppressed");
        }
    }
    f.suppressions = api.get("/api/v1/suppressions", &[])["suppressions"]
        .as_array()
        .map_or(0, |s| s.len() as u64);
    f
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}:1", a as f64 / b as f64)
    }
}

fn print_pass(f: &Figures, prev: Option<&Figures>) {
    let (d0, a0, g0) = prev.map_or((0, 0, 0), |p| (p.detections, p.alerts, p.groups));
    eprintln!(
        "[alert-reduction] pass {}: {} events stored; detections {} (+{} this pass; by kind {:?}); \
         alerts {} (+{}; by source {:?}; dedup count sum {}); risk alerts {}; groups {} (+{}, {} with ≥2 alerts); \
         triage signals raised {} / folded {} / suppressed {} ({} suppressions); \
         detections:alerts {}, detections:groups {}",
        f.pass,
        f.events,
        f.detections,
        f.detections - d0,
        f.by_kind,
        f.alerts,
        f.alerts.saturating_sub(a0),
        f.by_source,
        f.count_sum,
        f.risk_alerts,
        f.groups,
        f.groups.saturating_sub(g0),
        f.multi_groups,
        f.raised,
        f.deduplicated,
        f.suppressed,
        f.suppressions,
        ratio(f.detections, f.alerts),
        ratio(f.detections, f.groups),
    );
}

fn print_summary(passes: &[Figures], evtx: usize, loghub: usize, per_pass: u64) {
    let mut out = String::new();
    out.push_str(&format!(
        "\n=== Alert reduction on a noisy replay: {evtx} EVTX files + {loghub} loghub files \
         ({per_pass} events per pass) x {PASSES} passes; SigmaHQ + built-in rules, correlations, baselines ===\n"
    ));
    out.push_str(&format!(
        "{:>4} {:>8} {:>11} {:>9} {:>7} {:>9} {:>6} {:>7} {:>10} {:>10}\n",
        "pass",
        "events",
        "detections",
        "+this",
        "alerts",
        "+this",
        "risk",
        "groups",
        "det:alert",
        "det:group"
    ));
    let mut prev: Option<&Figures> = None;
    for f in passes {
        let (d0, a0) = prev.map_or((0, 0), |p| (p.detections, p.alerts));
        out.push_str(&format!(
            "{:>4} {:>8} {:>11} {:>9} {:>7} {:>9} {:>6} {:>7} {:>10} {:>10}\n",
            f.pass,
            f.events,
            f.detections,
            f.detections - d0,
            f.alerts,
            f.alerts.saturating_sub(a0),
            f.risk_alerts,
            f.groups,
            ratio(f.detections, f.alerts),
            ratio(f.detections, f.groups),
        ));
        prev = Some(f);
    }
    if let Some(last) = passes.last() {
        out.push_str(&format!(
            "after pass {}: {} raw detections -> {} alerts ({} risk) in {} incident candidates \
             ({} with >=2 alerts); alerts' dedup counts sum to {}; {} signals suppressed\n",
            last.pass,
            last.detections,
            last.alerts,
            last.risk_alerts,
            last.groups,
            last.multi_groups,
            last.count_sum,
            last.suppressed,
        ));
        out.push_str("largest incident candidates (alerts, title):\n");
        for (n, title) in &last.largest_groups {
            out.push_str(&format!("  {n:>6}  {title}\n"));
        }
        out.push_str("noisiest rules (signals, raised, folded, suppressed, reduction rate):\n");
        for r in last.noise.iter().take(10) {
            out.push_str(&format!(
                "  {:>6} {:>5} {:>6} {:>4} {:>6}  {}\n",
                r["signals"].as_u64().unwrap_or(0),
                r["raised"].as_u64().unwrap_or(0),
                r["deduplicated"].as_u64().unwrap_or(0),
                r["suppressed"].as_u64().unwrap_or(0),
                r["reduction_rate"]
                    .as_f64()
                    .map_or("-".to_owned(), |x| format!("{:.1}%", x * 100.0)),
                r["rule_title"].as_str().unwrap_or("?"),
            ));
        }
    }
    eprint!("{out}");
}

/// Maps event ids to the path of the file they were imported from, one lookup each.
struct Origins<'a> {
    api: &'a Api,
    paths: HashMap<String, Option<String>>,
}

impl Origins<'_> {
    fn path(&mut self, id: &str) -> Option<String> {
        if let Some(p) = self.paths.get(id) {
            return p.clone();
        }
        let (status, body) = self.api.try_get(&format!("/api/v1/events/{id}"), &[]);
        let path = match status {
            200 => body["event"]["origin"]["path"].as_str().map(str::to_owned),
            404 => None,
            other => panic!("GET /api/v1/events/{id}: {other} {body}"),
        };
        self.paths.insert(id.to_owned(), path.clone());
        path
    }
}

/// Event ids of a detection or alert: `event_id` and `event_ids`.
fn event_ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["event_id"]
        .as_str()
        .map(str::to_owned)
        .into_iter()
        .collect();
    if let Some(more) = v["event_ids"].as_array() {
        ids.extend(more.iter().filter_map(|e| e.as_str().map(str::to_owned)));
    }
    ids
}

/// Three replays of the EVTX corpus and the loghub samples: dedup folds the repeats into
/// the first pass's alerts and no detected file is lost from view.
#[test]
fn noisy_replay_reduces_alerts_without_losing_an_attack() {
    let shared = shared();
    let corpus = shared.join("datasets/evtx-attack-samples");
    let loghub = shared.join("datasets/loghub");
    let sigma = shared.join("sigma/rules");
    if !corpus.is_dir() || !loghub.is_dir() || !sigma.is_dir() {
        if std::env::var("RAMPART_REQUIRE_SHARED").as_deref() == Ok("1") {
            panic!("shared corpus required (RAMPART_REQUIRE_SHARED=1) but absent");
        }
        eprintln!("SKIPPED: ../shared not present (alert reduction replay)");
        return;
    }
    let evtx = evtx_files(&corpus);
    let logs: Vec<PathBuf> = ["OpenSSH_2k.log", "Linux_2k.log", "Apache_2k.log"]
        .iter()
        .map(|f| loghub.join(f))
        .filter(|p| p.is_file())
        .collect();
    assert!(evtx.len() > 200, "{} EVTX files", evtx.len());
    assert!(!logs.is_empty(), "no loghub sample in {}", loghub.display());
    let mut files = evtx.clone();
    files.extend(logs.iter().cloned());
    let started = Instant::now();

    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), CONFIG);
    // A first start registers the detection consumer at the (empty) stream's start, so the
    // imports below are evaluated when the server is back.
    let mut server = serve(dir.path(), &config, &sigma);
    let consumer = dir.path().join("data/store/consumers/detection.pos");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let d = Api::new(&server).get("/api/v1/status", &[])["detection"].clone();
        if d["ready"] == true && consumer.is_file() {
            eprintln!(
                "[alert-reduction] server ready: {} rules, {} correlations, {} baselines (rules loaded in {} ms)",
                d["rules_loaded"], d["correlation_rules"], d["baseline_rules"], d["last_reload_ms"]
            );
            break;
        }
        assert!(Instant::now() < deadline, "detection not ready: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.stop();
    drop(server);

    let mut passes: Vec<Figures> = Vec::new();
    let mut accepted = 0u64;
    let mut per_pass = 0u64;
    let mut server: Option<Server> = None;
    for pass in 1..=PASSES {
        let t = Instant::now();
        let n = ingest(&config, &files);
        if pass == 1 {
            per_pass = n;
        }
        assert_eq!(n, per_pass, "a replay imports the same events");
        accepted += n;
        let ingest_secs = t.elapsed().as_secs_f64();
        let s = serve(dir.path(), &config, &sigma);
        let api = Api::new(&s);
        let status = wait_caught_up(&api, accepted);
        let caught_up_secs = t.elapsed().as_secs_f64() - ingest_secs;
        let f = measure(&api, pass, accepted);
        eprintln!(
            "[alert-reduction] pass {pass}: imported {n} events in {ingest_secs:.1}s; server start, detection \
             and triage caught up {caught_up_secs:.1}s after the import ({} events/s evaluated)",
            status["eval_events_per_sec"]
        );
        print_pass(&f, passes.last());
        passes.push(f);
        if pass < PASSES {
            let mut s = s;
            s.stop();
        } else {
            server = Some(s);
        }
    }
    let server = server.expect("the last pass's server");
    let api = Api::new(&server);
    print_summary(&passes, evtx.len(), logs.len(), per_pass);

    let first = &passes[0];
    let last = &passes[PASSES - 1];
    // The replays were noisy: they gave detections again.
    assert!(
        last.detections >= 2 * first.detections,
        "the replays added too few detections: {} after pass 1, {} after pass {PASSES}",
        first.detections,
        last.detections
    );
    // Dedup folded the repeats into the first pass's alerts.
    assert!(
        last.alerts as f64 <= first.alerts as f64 * 1.05,
        "replays multiplied alerts: {} after pass 1, {} after pass {PASSES}",
        first.alerts,
        last.alerts
    );
    assert!(last.alerts < last.detections, "no reduction at all");
    // Every detection is counted in an alert: raised or folded (or muted, and counted so).
    for f in &passes {
        assert_eq!(
            f.count_sum + f.suppressed_detections,
            f.detections,
            "pass {}: the alerts' counts do not account for every detection",
            f.pass
        );
    }

    // No attack lost from view: every file with a detection (and each of its rules) is
    // linked by an alert through an event's origin path.
    let replayed: BTreeSet<String> = files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut origins = Origins {
        api: &api,
        paths: HashMap::new(),
    };
    let detections = api.all_detections();
    assert_eq!(detections.len() as u64, last.detections);
    // File → rule id → rule title, of the detections.
    let mut detected: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut unresolved = 0u64;
    for d in &detections {
        let ids = event_ids(d);
        if ids.is_empty() {
            // A baseline bucket closed by the clock: no event, no file.
            continue;
        }
        for id in ids {
            match origins.path(&id) {
                Some(path) => {
                    detected.entry(path).or_default().insert(
                        d["rule_id"].as_str().unwrap().to_owned(),
                        d["rule_title"].as_str().unwrap_or("?").to_owned(),
                    );
                }
                None => unresolved += 1,
            }
        }
    }
    let lookups_detections = origins.paths.len();
    let alerts = api.all_offset("/api/v1/alerts", "alerts");
    // File → alert ids; (file, rule id) pairs linked by alerts; alerts in a group.
    let mut linked: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let mut linked_rules: BTreeSet<(String, String)> = BTreeSet::new();
    let mut grouped: BTreeSet<i64> = BTreeSet::new();
    let mut capped = 0;
    for a in &alerts {
        let id = a["id"].as_i64().unwrap();
        if a["group_id"].as_i64().is_some() {
            grouped.insert(id);
        }
        let ids = event_ids(a);
        if ids.len() >= 100 {
            capped += 1;
        }
        for e in ids {
            if let Some(path) = origins.path(&e) {
                linked.entry(path.clone()).or_default().insert(id);
                linked_rules.insert((path, a["rule_id"].as_str().unwrap().to_owned()));
            }
        }
    }
    let unknown: Vec<&String> = detected.keys().filter(|p| !replayed.contains(*p)).collect();
    assert!(
        unknown.is_empty(),
        "events from unexpected files: {unknown:?}"
    );
    let evtx_detected = detected.keys().filter(|p| p.ends_with(".evtx")).count();
    let lost: Vec<String> = detected
        .keys()
        .filter(|p| !linked.contains_key(*p))
        .map(|p| format!("{p}: {:?}", detected[p].values().collect::<Vec<_>>()))
        .collect();
    let lost_rules: Vec<String> = detected
        .iter()
        .flat_map(|(p, rules)| {
            rules
                .iter()
                .filter(|(rule, _)| !linked_rules.contains(&(p.clone(), (*rule).clone())))
                .map(move |(_, title)| format!("{p}: {title}"))
        })
        .collect();
    let pairs: usize = detected.values().map(BTreeMap::len).sum();
    let via_group = detected
        .keys()
        .filter(|p| {
            linked
                .get(*p)
                .is_some_and(|ids| ids.iter().any(|id| grouped.contains(id)))
        })
        .count();
    eprintln!(
        "no attack lost from view: {} files with detections ({evtx_detected} of {} EVTX files, {} loghub files); \
         {} linked by an alert, {via_group} through an alert in a group; {} (file, rule) pairs, {} of them linked by \
         an alert of that rule; {unresolved} detection event ids without an event; {} alerts hold the 100-event-id cap; \
         {} event lookups ({lookups_detections} for the detections); checked {:.1}s after the start",
        detected.len(),
        evtx.len(),
        detected.len() - evtx_detected,
        detected.len() - lost.len(),
        pairs,
        pairs - lost_rules.len(),
        capped,
        origins.paths.len(),
        started.elapsed().as_secs_f64()
    );
    let quiet: Vec<&String> = replayed
        .iter()
        .filter(|p| !detected.contains_key(*p))
        .collect();
    eprintln!(
        "replayed files without any detection: {} EVTX files; {:?}",
        quiet.iter().filter(|p| p.ends_with(".evtx")).count(),
        quiet
            .iter()
            .filter(|p| !p.ends_with(".evtx"))
            .map(|p| Path::new(p.as_str())
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        unresolved, 0,
        "detections link events the store cannot find"
    );
    assert!(
        evtx_detected > 100,
        "only {evtx_detected} EVTX files detected"
    );
    assert!(
        lost.is_empty(),
        "{} files with detections reach no alert:\n{}",
        lost.len(),
        lost.join("\n")
    );
    assert!(
        lost_rules.is_empty(),
        "{} (file, rule) detections reach no alert of their rule linking the file:\n{}",
        lost_rules.len(),
        lost_rules.join("\n")
    );
}
