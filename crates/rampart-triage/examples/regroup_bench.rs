//! What an analyst's regrouping costs on a large incident candidate, against the cost of
//! triaging one batch of signals measured in the same run (both hold the triage lock, so
//! both stall the alert stream for as long as they take).
//!
//! `cargo run --release -p rampart-triage --example regroup_bench [ALERTS]`

use rampart_model::Timestamp;
use rampart_triage::{Entities, Level, Signal, SignalSource, Triage, TriageConfig};
use std::time::Instant;

fn signal(n: usize, host: &str, secs: i64) -> Signal {
    Signal::new(
        SignalSource::Detection,
        format!("rule-{}", n % 50),
        format!("Rule {}", n % 50),
        Level::Medium,
        Timestamp::from_secs(1_700_000_000 + secs),
    )
    .with_tags([format!(
        "attack.{}",
        ["execution", "discovery", "persistence"][n % 3]
    )])
    .with_entities(Entities {
        host: Some(host.into()),
        user: Some(format!("user{n}")),
        ..Default::default()
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let alerts: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let mut config = TriageConfig::default();
    if std::env::args().nth(2).as_deref() == Some("--no-risk") {
        config.risk.enabled = false;
    }
    let dir = tempfile::tempdir()?;
    let triage = Triage::open(&dir.path().join("triage.db"), config)?;
    // One group of `alerts` alerts on ws01 (each a different user, so none folds).
    let mut batch_secs = Vec::new();
    for chunk in (0..alerts).collect::<Vec<_>>().chunks(500) {
        let signals: Vec<Signal> = chunk.iter().map(|&n| signal(n, "ws01", n as i64)).collect();
        let start = Instant::now();
        triage.process(signals)?;
        batch_secs.push(start.elapsed().as_secs_f64());
    }
    batch_secs.sort_by(f64::total_cmp);
    let batch = batch_secs[batch_secs.len() / 2];
    let group = triage
        .groups(&Default::default())?
        .groups
        .first()
        .map(|g| g.id)
        .ok_or("no group")?;
    let some: Vec<i64> = triage
        .group(group, None)?
        .ok_or("no group")?
        .alerts
        .iter()
        .take(10)
        .map(|a| a.id)
        .collect();
    let start = Instant::now();
    let scores = triage.risk_scores(&Default::default())?;
    let risk_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let split = triage.split_group(group, None, "bench", &some, None)?;
    let split_secs = start.elapsed().as_secs_f64();
    // A second incident on ws02 merged into the large one by an alert related to both.
    let base = alerts as i64;
    triage.process(
        (0..20)
            .map(|n| signal(alerts + n, "ws02", base + n as i64))
            .collect(),
    )?;
    let mut bridge = signal(alerts + 100, "ws02", base + 30);
    bridge.entities.user = Some(format!("user{}", alerts / 2));
    triage.process(vec![bridge])?;
    let merged = triage
        .group(group, None)?
        .ok_or("no group")?
        .merged
        .first()
        .map(|m| m.id)
        .ok_or("no merge")?;
    let start = Instant::now();
    let undone = triage.unmerge_group(merged, None, "bench")?;
    let unmerge_secs = start.elapsed().as_secs_f64();
    println!(
        "group of {} alerts; triage batch of 500 signals (median) {:.1} ms = 1.00x",
        split.from.alert_count + split.group.alert_count,
        batch * 1e3
    );
    println!(
        "risk scores list ({} entities): {:.1} ms = {:.2}x a batch",
        scores.len(),
        risk_secs * 1e3,
        risk_secs / batch
    );
    println!(
        "split 10 alerts out:            {:.1} ms = {:.2}x a batch",
        split_secs * 1e3,
        split_secs / batch
    );
    println!(
        "undo a merge ({} alerts back):  {:.1} ms = {:.2}x a batch",
        undone.moved.len(),
        unmerge_secs * 1e3,
        unmerge_secs / batch
    );
    Ok(())
}
