//! Store benchmark: append realistic parsed syslog events, then time searches.
//!
//! `cargo run --release -p rampart-store --example store_bench -- [EVENTS] [DIR]`
//!
//! The events are real-looking sshd/sudo/cron syslog lines parsed by `rampart_parse` (about
//! 12–15 leaf fields each). A pool of distinct parsed events is built first; the append
//! threads clone from it with a fresh id and timestamp, so 10 M events need not fit in
//! memory. The store runs with the default configuration (set
//! `RAMPART_BENCH_UNTHROTTLED=1` to lift the lag limit and time the WAL alone).
//!
//! Reports append throughput (acknowledged = fsync'd in the WAL), time until all events
//! are searchable (end to end), search latency percentiles, bytes on disk per event and
//! resident memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_model::{Event, EventId, Origin, OriginKind, Timestamp};
use rampart_parse::{Parser, ParserConfig};
use rampart_store::{EmbeddedStore, EmbeddedStoreConfig, EventStore, SearchRequest, SearchResult};
use std::time::Instant;

/// A cheap deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One real-looking syslog line.
fn line(rng: &mut Rng) -> String {
    let host = format!("host{:02}", rng.below(50));
    let user = format!("user{}", rng.below(200));
    let ip = format!("10.{}.{}.{}", rng.below(4), rng.below(40), rng.below(40));
    let port = 1024 + rng.below(60000);
    let pid = 1000 + rng.below(30000);
    let (sec, min) = (rng.below(60), rng.below(60));
    match rng.below(10) {
        0..=3 => format!(
            "<38>Mar  1 10:{min:02}:{sec:02} {host} sshd[{pid}]: Accepted password for {user} from {ip} port {port} ssh2"
        ),
        4..=6 => format!(
            "<38>Mar  1 10:{min:02}:{sec:02} {host} sshd[{pid}]: Failed password for {user} from {ip} port {port} ssh2"
        ),
        7 => format!(
            "<38>Mar  1 10:{min:02}:{sec:02} {host} sshd[{pid}]: Failed password for invalid user {user} from {ip} port {port} ssh2"
        ),
        8 => format!(
            "<86>Mar  1 10:{min:02}:{sec:02} {host} sudo[{pid}]: {user} : TTY=pts/{} ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
            rng.below(10)
        ),
        _ => format!(
            "<78>Mar  1 10:{min:02}:{sec:02} {host} CRON[{pid}]: pam_unix(cron:session): session opened for user {user} by (uid=0)"
        ),
    }
}

fn pool(size: usize) -> Vec<Event> {
    let parser = Parser::new(ParserConfig {
        default_year: Some(2024),
        ..ParserConfig::default()
    })
    .expect("default parser config is valid");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..size)
        .map(|_| {
            let l = line(&mut rng);
            parser.parse(
                l.as_bytes(),
                Origin::new(OriginKind::SyslogTcp, "syslog-tcp")
                    .with_peer("192.0.2.10:51514".parse().expect("literal address")),
            )
        })
        .collect()
}

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
    let g = Instant::now();
    let pool = pool(50_000.min(n as usize).max(1));
    let gen_time = g.elapsed();
    let (rss_before, _) = rss_mb();
    let store = EmbeddedStore::open(&dir, config).unwrap();
    let batch_size = 1000u64;
    let threads = 2u64;
    let base = Timestamp::parse_rfc3339("2024-03-01T00:00:00Z")
        .unwrap()
        .nanos();
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let store = &store;
            let pool = &pool;
            s.spawn(move || {
                let mut b = t;
                loop {
                    let first = b * batch_size;
                    if first >= n {
                        break;
                    }
                    let end = (first + batch_size).min(n);
                    // One event every 10 ms of event time: 1 M events span ~2.8 hours.
                    let batch: Vec<Event> = (first..end)
                        .map(|k| {
                            let mut e = pool[k as usize % pool.len()].clone();
                            e.id = EventId::new();
                            e.timestamp = Timestamp(base + k as i64 * 10_000_000);
                            e
                        })
                        .collect();
                    store.append(batch).unwrap();
                    b += threads;
                }
            });
        }
    });
    let appended = started.elapsed();
    let wal_stats = store.stats();
    store.refresh().unwrap();
    let searchable = started.elapsed();
    let stats = store.stats();
    assert_eq!(stats.docs, n, "every event searchable");
    let (rss_ingest, hwm_ingest) = rss_mb();
    println!(
        "events: {n} (pool of {} parsed events built in {:.2} s; config: {})",
        pool.len(),
        gen_time.as_secs_f64(),
        if unthrottled {
            "default, lag unlimited"
        } else {
            "default"
        }
    );
    println!(
        "append ({threads} threads x {batch_size}-event batches, fsync'd): {:.0} events/s ({:.2} s)",
        n as f64 / appended.as_secs_f64(),
        appended.as_secs_f64(),
    );
    println!(
        "index lag when the last append was acknowledged: {} events",
        wal_stats.indexing_lag_events
    );
    println!(
        "all searchable after {:.2} s ({:.2} s after the last acknowledgement; {:.0} events/s end to end); {} segments",
        searchable.as_secs_f64(),
        (searchable - appended).as_secs_f64(),
        n as f64 / searchable.as_secs_f64(),
        stats.index_segments,
    );
    println!(
        "RSS after ingest: {rss_ingest:.0} MB (peak {hwm_ingest:.0} MB; {rss_before:.0} MB before opening the store, event pool included)"
    );
    for (query, runs) in [
        ("user.name:user42 AND event.outcome:failure", 50),
        ("host.name:host07 AND source.ip:10.1.0.0/16", 30),
        ("\"password for user42\"", 30),
        ("* | stats count() by source.ip", 10),
        (
            "event.outcome:failure | stats sum(source.port) by source.ip",
            10,
        ),
        ("* | stats dc(user.name) by host.name", 10),
        (
            "* | stats avg(source.port), min(source.port), max(source.port) by host.name",
            10,
        ),
        ("event.outcome:failure | top 10 user.name", 10),
        ("* | timechart span=10m count() by event.outcome", 10),
    ] {
        let (p50, p99, summary) = time_query(&store, query, runs);
        println!("search `{query}`: p50 {p50:.1} ms, p99 {p99:.1} ms ({summary})");
    }
    let (rss, hwm) = rss_mb();
    println!("RSS after searches: {rss:.0} MB (peak {hwm:.0} MB)");
    store.close().unwrap();
    drop(store);
    let reopened = EmbeddedStore::open(&dir, EmbeddedStoreConfig::default()).unwrap();
    let s = reopened.stats();
    println!(
        "on disk after close: index {:.1} MB = {:.0} bytes/event ({} segments); WAL {} bytes in {} segments",
        s.index_bytes as f64 / 1e6,
        s.index_bytes as f64 / n as f64,
        s.index_segments,
        s.wal_bytes,
        s.wal_segments
    );
    let sample = &pool[0];
    println!(
        "sample event ({} bytes as JSON): {}",
        serde_json::to_vec(sample).unwrap().len(),
        serde_json::to_string(sample).unwrap()
    );
}
