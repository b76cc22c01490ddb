//! Measures the size and the time of the correlation and baseline snapshots the detection
//! worker writes with every batch, over the EVTX attack samples and the OpenSSH log of the
//! shared corpora: `cargo run --release -p rampart-detections --example state_cost [BATCH]`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_detect::baseline::{BaselineEngine, BaselineOptions, BaselineSet};
use rampart_detect::{CorrelationEngine, CorrelationOptions, Engine, Mappings, Matches, RuleSet};
use rampart_model::{Event, Origin, OriginKind};

fn evtx_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            evtx_files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("evtx"))
        {
            out.push(p);
        }
    }
}

fn main() {
    let batch: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2048);
    let shared = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/datasets"
    ));
    if !shared.exists() {
        println!("SKIPPED: state cost (../shared not present)");
        return;
    }
    let mut events: Vec<Event> = Vec::new();
    let mut files = Vec::new();
    evtx_files(&shared.join("evtx-attack-samples"), &mut files);
    files.sort();
    for f in &files {
        let origin = Origin::new(OriginKind::Import, f.display().to_string());
        if let Ok(records) = rampart_parse::evtx::read_file(f, origin) {
            events.extend(records.flatten());
        }
    }
    let n_evtx = events.len();
    let parser = rampart_parse::Parser::new(rampart_parse::ParserConfig::default())
        .expect("default parser config is valid");
    if let Ok(text) = std::fs::read_to_string(shared.join("loghub/OpenSSH_2k.log")) {
        for line in text.lines() {
            events.push(parser.parse(
                line.as_bytes(),
                Origin::new(OriginKind::Import, "OpenSSH_2k.log"),
            ));
        }
    }
    let mappings = Mappings::builtin();
    let (rules, _) = RuleSet::builtin();
    let engine = Engine::new(&rules, &mappings);
    let (mut corr, _) =
        CorrelationEngine::new(&rules, &engine, &mappings, CorrelationOptions::default());
    let (bset, _) = BaselineSet::builtin();
    let (mut base, _) = BaselineEngine::new(&bset, &mappings, BaselineOptions::default());
    let mut m = Matches::new();
    let (mut firings, mut anomalies) = (0usize, 0usize);
    let (mut snaps, mut snap_time, mut max_size, mut max_time) =
        (0u32, Duration::ZERO, 0usize, Duration::ZERO);
    let started = Instant::now();
    for (i, ev) in events.iter().enumerate() {
        engine.evaluate(ev, &mut m);
        let ts = ev.timestamp.nanos();
        firings += corr.observe(ev, ts, ev.id.0.as_u128(), &m).len();
        anomalies += base.observe(ev, ts, ev.id.0.as_u128()).len();
        if (i + 1) % batch == 0 || i + 1 == events.len() {
            let t = Instant::now();
            let size = corr.snapshot().len() + base.snapshot().len();
            let took = t.elapsed();
            snaps += 1;
            snap_time += took;
            max_size = max_size.max(size);
            max_time = max_time.max(took);
        }
    }
    println!(
        "{} events ({} EVTX from {} files, {} sshd), batch {batch}: {firings} firings, {anomalies} anomalies, {:?} in all",
        events.len(),
        n_evtx,
        files.len(),
        events.len() - n_evtx,
        started.elapsed()
    );
    println!(
        "snapshots: {snaps}, max {max_size} bytes, max {max_time:?}, mean {:?}; correlation {} bytes, baseline {} bytes at the end; stats {:?} / {:?}",
        snap_time / snaps.max(1),
        corr.snapshot().len(),
        base.snapshot().len(),
        corr.stats(),
        base.stats()
    );
}
