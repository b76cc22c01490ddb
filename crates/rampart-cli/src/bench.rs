//! `rampart bench`: one run that measures, on this machine, parse-only, parse+WAL and
//! end-to-end (TCP syslog → durable → searchable) ingest rates, search latency over a
//! large store, bytes on disk per event and peak memory. Figures are printed side by side
//! so they can be compared as ratios within the run.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Config;
use rampart_ingest::{EventSink, IngestMetrics, SyslogTcpConfig};
use rampart_model::{Origin, OriginKind, Raw};
use rampart_parse::{Format, Parser, ParserConfig};
use rampart_store::{EmbeddedStore, EventStore, SearchRequest};

#[derive(Args)]
pub struct BenchArgs {
    /// Events for the ingest measurements.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Events in the store for the search measurements (10 M is the target figure).
    #[arg(long, default_value_t = 10_000_000)]
    pub search_events: usize,
    /// Parallel TCP connections for the end-to-end measurement.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Where to build the stores (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Skip the large search store.
    #[arg(long)]
    pub skip_search: bool,
}

const HOSTS: usize = 200;
const USERS: usize = 5_000;

/// A deterministic mix of realistic syslog lines (sshd, cron, sudo, kernel firewall, CEF).
pub fn synthetic_lines(n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let base = 1_700_000_000i64;
    (0..n)
        .map(|i| {
            let ts = rampart_model::Timestamp::from_secs(base + (i as i64) / 50).to_rfc3339();
            let host = rng.random_range(0..HOSTS);
            let user = rng.random_range(0..USERS);
            let ip = format!("10.{}.{}.{}", rng.random_range(0..4), rng.random_range(0..256), rng.random_range(1..255));
            let pid = rng.random_range(100..65000);
            match rng.random_range(0..6) {
                0 | 1 => format!("<38>1 {ts} host{host} sshd {pid} - - Failed password for user{user} from {ip} port {} ssh2", rng.random_range(1024..65535)),
                2 => format!("<38>1 {ts} host{host} sshd {pid} - - Accepted publickey for user{user} from {ip} port {} ssh2", rng.random_range(1024..65535)),
                3 => format!("<78>1 {ts} host{host} CRON {pid} - - (root) CMD (run-parts /etc/cron.hourly)"),
                4 => format!("<85>1 {ts} host{host} sudo {pid} - - user{user} : TTY=pts/0 ; PWD=/home/user{user} ; USER=root ; COMMAND=/usr/bin/systemctl status nginx"),
                _ => format!("<134>1 {ts} fw{} firewall - - - CEF:0|Acme|FW|1.0|100|connection allowed|3|src={ip} dst=93.184.216.{} dpt=443 proto=TCP out={} act=allow", host % 4, rng.random_range(1..255), rng.random_range(100..100000)),
            }
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for entry in rd.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn rss_bytes() -> u64 {
    rampart_server::api::process_stats()["rss_bytes"]
        .as_u64()
        .unwrap_or(0)
}

fn peak_rss_mib() -> f64 {
    rampart_server::api::process_stats()["peak_rss_bytes"]
        .as_u64()
        .map(|b| b as f64 / 1048576.0)
        .unwrap_or(f64::NAN)
}

fn row(name: &str, value: String, note: &str) {
    println!("{name:<48} {value:>16}  {note}");
    let _ = std::io::stdout().flush();
}

pub fn run(cfg: Config, args: BenchArgs) -> anyhow::Result<()> {
    crate::init_logging(&crate::config::LogConfig {
        format: "text".into(),
        level: "warn".into(),
    });
    let tmp = tempfile::Builder::new().prefix("rampart-bench").tempdir()?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&root)?;
    println!(
        "rampart bench: {} events for ingest, {} for search, {} cores",
        args.events,
        args.search_events,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    let lines = synthetic_lines(args.events, 7);
    let parser = Parser::new(ParserConfig {
        format: Format::Auto,
        ..ParserConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let origin = Origin::new(OriginKind::SyslogTcp, "bench");

    // 1. parse only (one thread).
    let t = Instant::now();
    let mut parse_errors = 0usize;
    let mut ev = rampart_model::Event::new(origin.clone(), Raw::Text(String::new()));
    for line in &lines {
        ev.fields.clear();
        ev.parse_error = None;
        parser.parse_into(line.as_bytes(), &mut ev);
        parse_errors += ev.parse_error.is_some() as usize;
    }
    let parse_eps = lines.len() as f64 / t.elapsed().as_secs_f64();
    row(
        "parse only (1 thread)",
        format!("{parse_eps:.0} ev/s"),
        &format!("baseline 1.00x; {parse_errors} parse errors"),
    );

    // 2. parse + WAL append (serialise, write, fsync), from two threads so that group
    // commit can share fsyncs, with indexing running behind without push-back (it still
    // competes for the same cores).
    // The synthetic events are dated 2023: the configured retention (30 days by default)
    // would delete them while the bench runs, so the bench's stores keep everything.
    let bench_cfg = rampart_store::EmbeddedStoreConfig {
        retention: rampart_store::RetentionPolicy::default(),
        ..cfg.store_config()?
    };
    let store_cfg = rampart_store::EmbeddedStoreConfig {
        max_lag_events: u64::MAX / 2,
        ..bench_cfg.clone()
    };
    let wal_dir = root.join("wal-bench");
    let store = EmbeddedStore::open(&wal_dir, store_cfg.clone())?;
    let chunks: Vec<&[String]> = lines.chunks(1000).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(chunk) = chunks.get(i) else {
                            return Ok(());
                        };
                        let batch = chunk
                            .iter()
                            .map(|l| parser.parse(l.as_bytes(), origin.clone()))
                            .collect();
                        store.append(batch)?;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("append thread panicked"))??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let wal_secs = t.elapsed().as_secs_f64();
    let wal_eps = lines.len() as f64 / wal_secs;
    let lag = store.stats().indexing_lag_events;
    row(
        "parse + WAL append (fsync'd, 2 threads)",
        format!("{wal_eps:.0} ev/s"),
        &format!(
            "{:.2}x of parse only; 1000-event batches; indexing {lag} events behind",
            wal_eps / parse_eps
        ),
    );
    store.refresh()?;
    store.close()?;
    drop(store);

    // 3. end to end: TCP syslog → parse → WAL → index, until searchable.
    let e2e_dir = root.join("e2e-bench");
    let e2e_cfg = bench_cfg;
    let store: Arc<dyn EventStore> = Arc::new(EmbeddedStore::open(&e2e_dir, e2e_cfg.clone())?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (e2e_eps, search_ready) = runtime.block_on(async {
        let sink: Arc<dyn EventSink> = Arc::new(crate::sink::StoreSink::new(store.clone()));
        let metrics = IngestMetrics::new();
        let tcp = SyslogTcpConfig {
            bind: ([127, 0, 0, 1], 0).into(),
            ..SyslogTcpConfig::default()
        };
        let handle = tcp
            .spawn(sink, metrics)
            .await
            .context("starting the TCP listener")?;
        let addr = handle.local_addr().context("listener address")?;
        let per_conn = lines.len().div_ceil(args.connections);
        let payloads: Vec<Vec<u8>> = lines
            .chunks(per_conn)
            .map(|c| {
                let mut buf = Vec::with_capacity(c.iter().map(|l| l.len() + 1).sum());
                for l in c {
                    buf.extend_from_slice(l.as_bytes());
                    buf.push(b'\n');
                }
                buf
            })
            .collect();
        // Sample memory and indexing lag while the senders push as fast as they can:
        // the store must push back (bounded lag) instead of growing.
        let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sampler = {
            let store = store.clone();
            let sampling = sampling.clone();
            tokio::spawn(async move {
                let (mut max_rss, mut max_lag) = (0u64, 0u64);
                while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    max_rss = max_rss.max(rss_bytes());
                    max_lag = max_lag.max(store.stats().indexing_lag_events);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                (max_rss, max_lag)
            })
        };
        let rss_before = rss_bytes();
        let t = Instant::now();
        let mut senders = Vec::new();
        for payload in payloads {
            senders.push(tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut s = tokio::net::TcpStream::connect(addr).await?;
                s.write_all(&payload).await?;
                s.shutdown().await?;
                Ok::<_, std::io::Error>(())
            }));
        }
        for s in senders {
            s.await
                .context("sender task")?
                .context("sending over TCP")?;
        }
        let n = lines.len() as u64;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let stats = store.stats();
            if stats.events_indexed >= n {
                break;
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "end-to-end: only {} of {n} events searchable after 10 minutes",
                    stats.events_indexed
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let e2e = t.elapsed().as_secs_f64();
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        let (max_rss, max_lag) = sampler.await.context("sampler task")?;
        handle.shutdown().await;
        row(
            "memory under overload (senders faster than indexing)",
            format!("{:.0} MiB max", max_rss as f64 / 1048576.0),
            &format!(
                "{:.0} MiB before; max indexing lag {max_lag} events (limit {}); {} appends pushed back",
                rss_before as f64 / 1048576.0,
                e2e_cfg.max_lag_events,
                store.stats().overload_rejections
            ),
        );
        Ok::<_, anyhow::Error>((n as f64 / e2e, e2e))
    })?;
    row(
        "end to end: TCP syslog -> durable -> searchable",
        format!("{e2e_eps:.0} ev/s"),
        &format!(
            "{:.2}x of parse only; {} connections; {search_ready:.1}s",
            e2e_eps / parse_eps,
            args.connections
        ),
    );
    store.close()?;
    drop(store);
    let bytes = dir_bytes(&e2e_dir);
    row(
        "bytes on disk per event (WAL trimmed + index)",
        format!("{:.1}", bytes as f64 / lines.len() as f64),
        &format!(
            "raw lines average {:.1} bytes",
            lines.iter().map(|l| l.len()).sum::<usize>() as f64 / lines.len() as f64
        ),
    );

    // 4. search latency over a large store.
    if !args.skip_search {
        let search_dir = root.join("search-bench");
        let store = EmbeddedStore::open(&search_dir, e2e_cfg.clone())?;
        let t = Instant::now();
        let chunk_lines = 200_000;
        let mut made = 0usize;
        let mut seed = 100;
        while made < args.search_events {
            let n = chunk_lines.min(args.search_events - made);
            let lines = synthetic_lines(n, seed);
            seed += 1;
            for chunk in lines.chunks(5000) {
                let batch: Vec<_> = chunk
                    .iter()
                    .map(|l| parser.parse(l.as_bytes(), origin.clone()))
                    .collect();
                store.append(batch)?;
            }
            made += n;
            eprint!("\rloading search store: {made}/{}", args.search_events);
        }
        store.refresh()?;
        eprintln!();
        let load = t.elapsed().as_secs_f64();
        row(
            "search store load (parse+WAL+index, 1 writer)",
            format!("{:.0} ev/s", made as f64 / load),
            &format!(
                "{made} events in {load:.0}s; {} searchable",
                store.stats().docs
            ),
        );
        let queries = [
            (
                "selective: user.name:user42 AND event.outcome:failure",
                "user.name:user42 AND event.outcome:failure",
                50,
            ),
            (
                "free text: \"Failed password\" AND host.name:host7",
                "\"Failed password\" AND host.name:host7",
                30,
            ),
            (
                "aggregation: * | stats count() by source.ip",
                "* | stats count() by source.ip",
                10,
            ),
            (
                "aggregation: event.outcome:failure | top 10 user.name",
                "event.outcome:failure | top 10 user.name",
                10,
            ),
        ];
        for (name, q, runs) in queries {
            let search = rampart_query::parse(q).map_err(|e| anyhow::anyhow!("{}", e.render(q)))?;
            let req = SearchRequest {
                tenant: None,
                search,
                from: None,
                to: None,
                limit: 100,
            };
            let mut times = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                let _ = store.search(&req)?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(|a, b| a.total_cmp(b));
            row(
                name,
                format!("p50 {:.1} ms", percentile(&times, 0.5)),
                &format!(
                    "p99 {:.1} ms over {runs} runs, {made} events",
                    percentile(&times, 0.99)
                ),
            );
        }
        row(
            "bytes on disk per event (search store)",
            format!("{:.1}", dir_bytes(&search_dir) as f64 / made as f64),
            "",
        );
        store.close()?;
    }
    row(
        "peak RSS",
        format!("{:.0} MiB", peak_rss_mib()),
        "whole run, including the WAL-only phase whose indexing backlog is unbounded",
    );
    Ok(())
}
