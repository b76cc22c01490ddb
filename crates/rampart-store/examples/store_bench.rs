//! Store benchmark: append synthetic syslog-like events, then time searches.
//!
//! `cargo run --release -p rampart-store --example store_bench -- [EVENTS] [DIR]`
//!
//! Reports append throughput (acknowledged = fsync'd in the WAL; the indexer runs behind,
//! with a lag budget large enough not to throttle), time until all are searchable,
//! search latency percentiles and bytes on disk per event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_model::{Event, Origin, OriginKind, Raw, Timestamp};
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

fn synthetic(rng: &mut Rng, ts: i64) -> Event {
    let host = format!("host{:02}", rng.below(50));
    let user = format!("user{}", rng.below(200));
    let ip = format!("10.{}.{}.{}", rng.below(4), rng.below(40), rng.below(40));
    let port = 1024 + rng.below(60000);
    let failed = rng.below(4) == 0;
    let verb = if failed { "Failed" } else { "Accepted" };
    let raw = format!(
        "<38>Mar  1 10:00:00 {host} sshd[{}]: {verb} password for {user} from {ip} port {port} ssh2",
        rng.below(30000)
    );
    let mut e = Event::new(
        Origin::new(OriginKind::SyslogUdp, "syslog-udp"),
        Raw::Text(raw),
    );
    e.timestamp = Timestamp(ts);
    e.parser = "rfc3164".into();
    e.set("host.name", host.as_str());
    e.set("user.name", user.as_str());
    e.set("source.ip", ip.as_str());
    e.set("source.port", port);
    e.set("process.name", "sshd");
    e.set("event.outcome", if failed { "failure" } else { "success" });
    e.set("event.category", "authentication");
    e.set("log.syslog.severity.code", 6);
    e.set("message", format!("{verb} password for {user}"));
    e
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
        let r = store.search(&req).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        summary = match r.result {
            SearchResult::Events { total, events } => {
                format!("{total} hits, {} returned", events.len())
            }
            SearchResult::Table { rows, .. } => format!("{} rows", rows.len()),
        };
    }
    times.sort_by(f64::total_cmp);
    (percentile(&times, 0.5), percentile(&times, 0.99), summary)
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
    let config = EmbeddedStoreConfig {
        max_lag_events: n + 1,
        writer_memory_bytes: 256 * 1024 * 1024,
        ..EmbeddedStoreConfig::default()
    };
    let store = EmbeddedStore::open(&dir, config).unwrap();
    let batch_size = 1000u64;
    let threads = 2u64;
    let base = Timestamp::parse_rfc3339("2024-03-01T00:00:00Z")
        .unwrap()
        .nanos();
    // Generate first, so the append figure is the store's alone.
    let g = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut batches: Vec<Vec<Event>> = Vec::new();
    let mut k = 0u64;
    while k < n {
        let end = (k + batch_size).min(n);
        // One event every 10 ms of event time: 1 M events span ~2.8 hours.
        batches.push(
            (k..end)
                .map(|k| synthetic(&mut rng, base + k as i64 * 10_000_000))
                .collect(),
        );
        k = end;
    }
    let gen_time = g.elapsed();
    let queues: Vec<Vec<Vec<Event>>> = {
        let mut qs: Vec<Vec<Vec<Event>>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, b) in batches.into_iter().enumerate() {
            qs[i % threads as usize].push(b);
        }
        qs
    };
    let started = Instant::now();
    std::thread::scope(|s| {
        for queue in queues {
            let store = &store;
            s.spawn(move || {
                for batch in queue {
                    store.append(batch).unwrap();
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
    println!("events: {n}");
    println!(
        "append (WAL, fsync'd, {threads} threads x {batch_size}-event batches): {:.0} events/s ({:.2} s; generating the events took {:.2} s before)",
        n as f64 / appended.as_secs_f64(),
        appended.as_secs_f64(),
        gen_time.as_secs_f64()
    );
    println!(
        "index lag when the last append was acknowledged: {} events",
        wal_stats.indexing_lag_events
    );
    println!(
        "all searchable after {:.2} s ({:.2} s after the last acknowledgement; {:.0} events/s end to end)",
        searchable.as_secs_f64(),
        (searchable - appended).as_secs_f64(),
        n as f64 / searchable.as_secs_f64()
    );
    for (query, runs) in [
        ("user.name:user42 AND event.outcome:failure", 50),
        ("host.name:host07 AND source.ip:10.1.0.0/16", 30),
        ("\"password for user42\"", 30),
        ("* | stats count() by source.ip", 10),
        ("event.outcome:failure | top 10 user.name", 10),
        ("* | timechart span=10m count() by event.outcome", 10),
    ] {
        let (p50, p99, summary) = time_query(&store, query, runs);
        println!("search `{query}`: p50 {p50:.1} ms, p99 {p99:.1} ms ({summary})");
    }
    store.close().unwrap();
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
    let sample = synthetic(&mut Rng(7), base);
    println!(
        "WAL record size of a sample event: {} bytes (serde_json)",
        serde_json::to_vec(&sample).unwrap().len() + 8
    );
}
