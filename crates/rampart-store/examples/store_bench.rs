//! Store benchmark: parse and append realistic syslog events, then time searches.
//!
//! `cargo run --release -p rampart-store --example store_bench -- [EVENTS] [DIR]`
//!
//! The lines mirror `rampart bench`'s mix (RFC 5424 sshd, cron, sudo and CEF firewall lines
//! over 200 hosts, 5 000 users and about 260 000 source addresses), parsed by
//! `rampart_parse` on one thread while another appends them in 1 000-event batches, so
//! the ingest figure is parse + WAL + index until searchable, without the network. With
//! `DIR` given and already holding `EVENTS` events, loading is skipped and only the searches
//! run (for iterating on search code over a large store).
//!
//! Environment: `RAMPART_BENCH_UNTHROTTLED=1` lifts the lag limit;
//! `RAMPART_BENCH_INDEX_THREADS=N` sets the indexing threads; `RAMPART_BENCH_COMMIT_MS=N`
//! the commit interval; `RAMPART_BENCH_QUERY=Q` times only that search;
//! `RAMPART_BENCH_SAMPLE=1` prints a few parsed events and exits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_model::{Origin, OriginKind};
use rampart_parse::{Format, Parser, ParserConfig};
use rampart_store::{EmbeddedStore, EmbeddedStoreConfig, EventStore, SearchRequest, SearchResult};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/lines.rs"]
mod lines;
use lines::{Rng, line};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn time_query(store: &EmbeddedStore, query: &str, runs: usize) -> (f64, f64, String) {
    let search = rampart_query::parse(query).unwrap();
    let req = SearchRequest {
        limit: 100,
        ..SearchRequest::new(search)
    };
    let mut times = Vec::with_capacity(runs);
    let mut summary = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let r = store.search(&req);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        summary = match r {
            Ok(r) => match r.result {
                SearchResult::Events { total, events } => {
                    format!("{total} hits, {} returned", events.len())
                }
                SearchResult::Table { rows, .. } => format!("{} rows", rows.len()),
            },
            Err(e) => format!("error: {e}"),
        };
    }
    times.sort_by(f64::total_cmp);
    (percentile(&times, 0.5), percentile(&times, 0.99), summary)
}

/// Resident and peak resident memory of this process, in MB.
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn load(store: &EmbeddedStore, n: u64) {
    let parser = Parser::new(ParserConfig {
        format: Format::Auto,
        ..ParserConfig::default()
    })
    .expect("default parser config is valid");
    let origin = Origin::new(OriginKind::SyslogTcp, "bench");
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<rampart_model::Event>>(8);
    let started = Instant::now();
    let acked = std::thread::scope(|s| {
        s.spawn(move || lines::send_parsed(&parser, &origin, n, &tx));
        let mut done = 0u64;
        for batch in rx {
            store.append(batch).unwrap();
            done += 1000;
            if done.is_multiple_of(1_000_000) {
                eprint!("\rloaded {done}/{n}");
            }
        }
        started.elapsed()
    });
    let lag = store.stats().indexing_lag_events;
    store.refresh().unwrap();
    let searchable = started.elapsed();
    let stats = store.stats();
    eprintln!();
    println!(
        "parse + append: {:.0} events/s acknowledged ({:.2} s; lag then {lag}); all searchable after {:.2} s: {:.0} events/s end to end; {} segments",
        n as f64 / acked.as_secs_f64(),
        acked.as_secs_f64(),
        searchable.as_secs_f64(),
        n as f64 / searchable.as_secs_f64(),
        stats.index_segments,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map_or(1_000_000, |a| a.parse().expect("EVENTS is a number"));
    let tmp;
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_path_buf()
        }
    };
    let unthrottled = std::env::var_os("RAMPART_BENCH_UNTHROTTLED").is_some();
    let mut config = EmbeddedStoreConfig::default();
    if unthrottled {
        config.max_lag_events = n + 1;
    }
    if let Some(t) = std::env::var("RAMPART_BENCH_INDEX_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.index_threads = t;
    }
    if std::env::var_os("RAMPART_BENCH_SAMPLE").is_some() {
        let parser = Parser::new(ParserConfig::default()).expect("default parser config");
        let mut rng = Rng(1);
        for i in 0..6 {
            let e = parser.parse(
                line(&mut rng, i).as_bytes(),
                Origin::new(OriginKind::SyslogTcp, "bench"),
            );
            println!("{}", serde_json::to_string(&e).unwrap());
        }
        return;
    }
    if let Some(ms) = std::env::var("RAMPART_BENCH_COMMIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.commit_interval = std::time::Duration::from_millis(ms);
    }
    let store = EmbeddedStore::open(&dir, config).unwrap();
    let have = store.stats().docs;
    if have >= n {
        println!("reusing {have} events in {}", dir.display());
    } else {
        assert_eq!(have, 0, "{} holds {have} events, not {n}", dir.display());
        load(&store, n);
    }
    let (rss, hwm) = rss_mb();
    println!("RSS after ingest: {rss:.0} MB (peak {hwm:.0} MB)");
    let queries: &[(&str, usize)] = match std::env::var("RAMPART_BENCH_QUERY") {
        Ok(q) => &[(Box::leak(q.into_boxed_str()), 5)],
        Err(_) => &[
            ("user.name:user42 AND event.outcome:failure", 50),
            ("\"Failed password\" AND host.name:host7", 30),
            ("* | stats count() by source.ip", 5),
            ("event.outcome:failure | top 10 user.name", 10),
            ("* | stats dc(user.name) by host.name", 5),
            ("* | timechart span=10m count() by event.outcome", 5),
        ],
    };
    for (query, runs) in queries {
        let (p50, p99, summary) = time_query(&store, query, *runs);
        println!("search `{query}`: p50 {p50:.1} ms, p99 {p99:.1} ms ({summary})");
    }
    let (rss, hwm) = rss_mb();
    println!("RSS after searches: {rss:.0} MB (peak {hwm:.0} MB)");
    let segments = store.stats().index_segments;
    println!(
        "on disk before close: {:.1} bytes/event",
        dir_bytes(&dir) as f64 / n as f64
    );
    store.close().unwrap();
    drop(store);
    println!(
        "on disk after close: {:.1} bytes/event ({segments} segments)",
        dir_bytes(&dir) as f64 / n as f64,
    );
}
