//! `rampart bench`: one run that measures, on this machine, parse-only, parse+WAL and
//! end-to-end (TCP syslog → durable → searchable) ingest rates, the same ingest with live
//! detection (rules, correlations, baselines) and threat intel (100 000 indicators) on
//! against off and how far behind ingest they finish, search latency over a large store,
//! bytes on disk per event and peak memory. Figures are printed side by side so they can
//! be compared as ratios within the run.

use std::io::Write;
use std::path::{Path, PathBuf};
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
use rampart_store::{EmbeddedStore, EmbeddedStoreConfig, EventStore, SearchRequest};
use rampart_triage::{AlertQuery, SignalSource};

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
    /// Skip the pipeline measurement (ingest with detection and threat intel on, against
    /// the same ingest with them off).
    #[arg(long)]
    pub skip_pipeline: bool,
    /// Events for each of the pipeline measurement's two runs.
    #[arg(long, default_value_t = 300_000)]
    pub pipeline_events: usize,
    /// Threat-intel indicators loaded for the pipeline measurement.
    #[arg(long, default_value_t = 100_000)]
    pub pipeline_indicators: usize,
    /// Extra Sigma rule directory for the pipeline measurement (repeatable); the built-in
    /// rules, correlations and baselines are always on.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
}

const HOSTS: usize = 200;
const USERS: usize = 5_000;

/// A deterministic mix of realistic syslog lines (sshd, cron, sudo, kernel firewall, CEF),
/// dated from November 2023 at 50 events per second.
pub fn synthetic_lines(n: usize, seed: u64) -> Vec<String> {
    synthetic_lines_from(n, seed, 1_700_000_000)
}

/// [`synthetic_lines`] dated from `base` (Unix seconds) at 50 events per second: the same
/// lines for the same seed, only the timestamps differ.
pub fn synthetic_lines_from(n: usize, seed: u64, base: i64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
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

/// CPU time this process has used (all threads), in seconds.
fn process_cpu_secs() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
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
        "rampart bench: {} events for ingest, {} for search, {} for the pipeline with {} indicators, {} cores",
        args.events,
        args.search_events,
        args.pipeline_events,
        args.pipeline_indicators,
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
    // That phase turns push-back off, so its indexing backlog (most of the events) is held
    // in memory; the peak of the rest of the run, where push-back is on as in `serve`, is
    // measured from here (Linux: writing 5 to clear_refs resets the process's VmHWM).
    let wal_phase_peak = peak_rss_mib();
    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();

    // 3. end to end: TCP syslog → parse → WAL → index, until searchable.
    let e2e_dir = root.join("e2e-bench");
    let e2e_cfg = bench_cfg;
    let store: Arc<dyn EventStore> = Arc::new(EmbeddedStore::open(&e2e_dir, e2e_cfg.clone())?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Memory and indexing lag are sampled while the senders push as fast as they can: the
    // store must push back (bounded lag) instead of growing.
    let e2e = runtime.block_on(tcp_ingest(&store, &lines, args.connections, false, &[]))?;
    let stats = store.stats();
    row(
        "memory under overload (senders faster than indexing)",
        format!("{:.0} MiB max", e2e.max_rss as f64 / 1048576.0),
        &format!(
            "{:.0} MiB before; at most {} events queued for the indexer (limit {}) and {} \
             not yet searchable (the queue + up to a commit interval in the index writer); \
             appends held back {} times, refused {}",
            e2e.rss_before as f64 / 1048576.0,
            e2e.max_index_queue,
            e2e_cfg.max_lag_events,
            e2e.max_index_lag,
            stats.overload_waits,
            stats.overload_rejections
        ),
    );
    let e2e_eps = lines.len() as f64 / e2e.searchable_secs;
    row(
        "end to end: TCP syslog -> durable -> searchable",
        format!("{e2e_eps:.0} ev/s"),
        &format!(
            "{:.2}x of parse only; {} connections; {:.1}s",
            e2e_eps / parse_eps,
            args.connections,
            e2e.searchable_secs
        ),
    );
    row(
        "end to end: CPU per event",
        format!("{:.1} us", e2e.cpu_secs * 1e6 / lines.len() as f64),
        &format!(
            "process CPU (sender included) until searchable, {:.2} cores busy on average; \
             parse only takes {:.1} us",
            e2e.cpu_secs / e2e.searchable_secs,
            1e6 / parse_eps
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

    // 4. the live pipeline: the same ingest with detection and threat intel on and off.
    if !args.skip_pipeline && args.pipeline_events > 0 {
        pipeline(&cfg, &args, &root, &e2e_cfg, &runtime)?;
    }

    // 5. search latency over a large store.
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
    if peak_reset {
        row(
            "peak RSS after the WAL-only phase",
            format!("{:.0} MiB", peak_rss_mib()),
            &format!(
                "end to end, pipeline and search (push-back on); the WAL-only phase peaked at \
                 {wal_phase_peak:.0} MiB with its indexing backlog unbounded"
            ),
        );
    } else {
        row(
            "peak RSS",
            format!("{:.0} MiB", peak_rss_mib()),
            "whole run, including the WAL-only phase whose indexing backlog is unbounded",
        );
    }
    Ok(())
}

/// What one end-to-end TCP ingest run measured.
struct TcpRun {
    /// Seconds from the first connection until every event was searchable.
    searchable_secs: f64,
    /// CPU seconds the process (sender included) used over the same time.
    cpu_secs: f64,
    /// One per consumer asked for, in that order.
    consumers: Vec<ConsumerRun>,
    rss_before: u64,
    max_rss: u64,
    /// Most acknowledged events not yet searchable.
    max_index_lag: u64,
    /// Most acknowledged events waiting for the indexer (what `max_lag_events` bounds).
    max_index_queue: u64,
}

/// How a durable stream consumer kept up during a [`TcpRun`].
#[derive(Clone, Copy)]
struct ConsumerRun {
    /// Seconds from the first connection until it had committed the last event.
    caught_up_secs: f64,
    /// The most events durable in the WAL that it had not committed yet.
    max_lag: u64,
}

/// Send `lines` over `connections` TCP connections to a syslog listener writing into
/// `store` (through the binary's `StoreSink`, as `rampart serve` does), as fast as the
/// listener takes them, and wait until every event is searchable and each of `consumers`
/// has committed the last one. Memory, indexing lag and the consumers' lag are sampled
/// every 20 ms meanwhile. Each connection sends a contiguous slice of the lines, or with
/// `interleave` every `connections`-th line, so that event time advances together on all
/// of them as it does with live senders (what event-time windows expect).
async fn tcp_ingest(
    store: &Arc<dyn EventStore>,
    lines: &[String],
    connections: usize,
    interleave: bool,
    consumers: &[&str],
) -> anyhow::Result<TcpRun> {
    let sink: Arc<dyn EventSink> = Arc::new(crate::sink::StoreSink::new(store.clone()));
    let tcp = SyslogTcpConfig {
        bind: ([127, 0, 0, 1], 0).into(),
        ..SyslogTcpConfig::default()
    };
    let handle = tcp
        .spawn(sink, IngestMetrics::new())
        .await
        .context("starting the TCP listener")?;
    let addr = handle.local_addr().context("listener address")?;
    let connections = connections.clamp(1, lines.len().max(1));
    let mut payloads: Vec<Vec<u8>> = vec![Vec::new(); connections];
    if interleave {
        for (i, l) in lines.iter().enumerate() {
            let buf = &mut payloads[i % connections];
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
        }
    } else {
        let per_conn = lines.len().div_ceil(connections).max(1);
        for (buf, c) in payloads.iter_mut().zip(lines.chunks(per_conn)) {
            for l in c {
                buf.extend_from_slice(l.as_bytes());
                buf.push(b'\n');
            }
        }
    }
    let n = lines.len() as u64;
    let names: Vec<String> = consumers.iter().map(|c| (*c).to_owned()).collect();
    let rss_before = rss_bytes();
    let cpu_before = process_cpu_secs();
    let t = Instant::now();
    let sampler = {
        let store = store.clone();
        tokio::spawn(async move {
            let (mut max_rss, mut max_index_lag, mut max_index_queue) = (0u64, 0u64, 0u64);
            let mut searchable = None;
            let mut cpu_secs = f64::NAN;
            let mut caught_up: Vec<Option<f64>> = vec![None; names.len()];
            let mut max_lag = vec![0u64; names.len()];
            let deadline = t + Duration::from_secs(600);
            loop {
                let stats = store.stats();
                let now = t.elapsed().as_secs_f64();
                max_rss = max_rss.max(rss_bytes());
                max_index_lag = max_index_lag.max(stats.indexing_lag_events);
                max_index_queue = max_index_queue.max(stats.index_queue_events);
                if searchable.is_none() && stats.events_indexed >= n {
                    searchable = Some(now);
                    cpu_secs = process_cpu_secs() - cpu_before;
                }
                // Once every event is appended, `durable_seq` is the last one's number.
                let all_in = stats.events_appended >= n;
                for (i, name) in names.iter().enumerate() {
                    let pos = stats.consumers.get(name).copied().unwrap_or(0);
                    max_lag[i] = max_lag[i].max(stats.durable_seq.saturating_sub(pos));
                    if caught_up[i].is_none() && all_in && pos >= stats.durable_seq {
                        caught_up[i] = Some(now);
                    }
                }
                if let Some(searchable_secs) = searchable
                    && caught_up.iter().all(Option::is_some)
                {
                    return Ok(TcpRun {
                        searchable_secs,
                        cpu_secs,
                        consumers: caught_up
                            .iter()
                            .zip(&max_lag)
                            .map(|(c, l)| ConsumerRun {
                                caught_up_secs: c.unwrap_or(f64::NAN),
                                max_lag: *l,
                            })
                            .collect(),
                        rss_before,
                        max_rss,
                        max_index_lag,
                        max_index_queue,
                    });
                }
                if Instant::now() > deadline {
                    let behind: Vec<String> = names
                        .iter()
                        .zip(&caught_up)
                        .filter(|(_, c)| c.is_none())
                        .map(|(name, _)| {
                            format!(
                                "consumer '{name}' at {} of {}",
                                stats.consumers.get(name).copied().unwrap_or(0),
                                stats.durable_seq
                            )
                        })
                        .collect();
                    anyhow::bail!(
                        "end-to-end: after 10 minutes {} of {n} events searchable{}{}",
                        stats.events_indexed,
                        if behind.is_empty() { "" } else { "; " },
                        behind.join(", ")
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
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
    let mut sent = Ok(());
    for s in senders {
        let r = s
            .await
            .context("sender task")
            .and_then(|r| r.context("sending over TCP"));
        if sent.is_ok() {
            sent = r;
        }
    }
    let run = match sent {
        Ok(()) => sampler.await.context("sampler task").and_then(|r| r),
        Err(e) => {
            sampler.abort();
            Err(e)
        }
    };
    handle.shutdown().await;
    run
}

/// The live pipeline's cost on ingest, in one run: the same lines over TCP into a fresh
/// store, first with detection and threat intel off (the baseline), then into a fresh data
/// directory with triage, live detection (the built-in rules, correlations and baselines
/// plus `--rules`) and threat intel holding `--pipeline-indicators` indicators, each started
/// as `rampart serve` starts it. Then: how long after the last event was searchable the
/// detection worker and the intel matcher had committed it, and what they made.
fn pipeline(
    cfg: &Config,
    args: &BenchArgs,
    root: &Path,
    store_cfg: &EmbeddedStoreConfig,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    for dir in &args.rules {
        std::fs::read_dir(dir)
            .with_context(|| format!("reading rule directory {}", dir.display()))?;
    }
    let n = args.pipeline_events;
    // The phase-3 lines, dated up to now rather than 2023: the baselines' clock (which
    // closes buckets older than `baseline_delay_secs` while detection is caught up) and
    // triage's risk windows then see them as live traffic.
    let now_secs = rampart_model::Timestamp::now().nanos() / 1_000_000_000;
    let lines = synthetic_lines_from(n, 7, now_secs - (n / 50) as i64 - 1);

    // 1. Detection and intel off: the baseline.
    let off_dir = root.join("pipeline-off");
    let store: Arc<dyn EventStore> = Arc::new(EmbeddedStore::open(
        &off_dir.join("store"),
        store_cfg.clone(),
    )?);
    let off = runtime.block_on(tcp_ingest(&store, &lines, args.connections, true, &[]));
    let closed = store.close();
    drop(store);
    let off = off?;
    closed.context("closing the store")?;
    let off_eps = n as f64 / off.searchable_secs;
    row(
        "pipeline off: TCP syslog -> durable -> searchable",
        format!("{off_eps:.0} ev/s"),
        &format!(
            "baseline 1.00x; {n} events, dated up to now, interleaved over {} connections; detection and intel off; {:.1}s; {:.1} us CPU per event",
            args.connections,
            off.searchable_secs,
            off.cpu_secs * 1e6 / n as f64
        ),
    );

    // 2. The same with triage, detection and intel on, started as `rampart serve` does.
    let on_dir = root.join("pipeline-on");
    std::fs::create_dir_all(&on_dir).with_context(|| format!("creating {}", on_dir.display()))?;
    let store: Arc<dyn EventStore> = Arc::new(EmbeddedStore::open(
        &on_dir.join("store"),
        store_cfg.clone(),
    )?);
    let mut detection_cfg = cfg.detection.clone();
    detection_cfg.enabled = true;
    detection_cfg.builtin_rules = true;
    detection_cfg.builtin_baselines = true;
    detection_cfg.rules_dirs.extend(args.rules.iter().cloned());
    // The indicators are in intel.db when the service starts, as after an import or a feed
    // poll on an earlier run: an import through the running service (`IntelService::import`,
    // the API's path) also retro-hunts every new indicator over the store, which is not
    // what this phase measures.
    let loaded = if args.pipeline_indicators > 0 {
        let (csv, matching) = indicator_csv(args.pipeline_indicators, 13);
        let t = Instant::now();
        let report = rampart_intel::IntelStore::open(
            &on_dir.join("intel.db"),
            rampart_intel::DecayPolicy::default(),
        )
        .and_then(|db| {
            db.import(
                "bench",
                rampart_intel::FeedFormat::Csv,
                &csv,
                rampart_model::Timestamp::now(),
            )
        });
        match report {
            Ok(r) => Some((t.elapsed().as_secs_f64(), r, matching)),
            Err(e) => {
                let _ = store.close();
                return Err(anyhow::Error::new(e).context("importing the bench indicators"));
            }
        }
    } else {
        None
    };
    // The configured feeds are left out: polling them would put the network in the figures.
    let intel_cfg = rampart_intel::IntelConfig {
        enabled: true,
        feeds: Vec::new(),
        ..cfg.intel.clone()
    };
    let started = Instant::now();
    let services = crate::serve::start_services(
        &store,
        &on_dir,
        cfg.triage.clone(),
        &detection_cfg,
        &intel_cfg,
    );
    let services_secs = started.elapsed().as_secs_f64();
    let (triage, detection, intel) = match services {
        Ok(crate::serve::Services {
            triage,
            detection: Some(d),
            intel: Some(i),
        }) => (triage, d, i),
        Ok(_) => {
            let _ = store.close();
            anyhow::bail!("detection and intel were configured on but did not start");
        }
        Err(e) => {
            let _ = store.close();
            return Err(e);
        }
    };
    let measured = (|| -> anyhow::Result<(f64, TcpRun)> {
        // Detection starts after its first rule load; wait for it so that the run measures
        // detection, not the load.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let rules = detection.status().rules;
            if rules.ready {
                break;
            }
            if let Some(e) = rules.last_reload_error {
                anyhow::bail!("loading the detection rules: {e}");
            }
            if Instant::now() > deadline {
                anyhow::bail!("the detection rules were not loaded after 10 minutes");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let rules_secs = started.elapsed().as_secs_f64();
        let run = runtime.block_on(tcp_ingest(
            &store,
            &lines,
            args.connections,
            true,
            &[rampart_detections::CONSUMER, rampart_intel::CONSUMER],
        ))?;
        Ok((rules_secs, run))
    })();
    // Stopped as `rampart serve` stops them: intel, then detection (each after the batch in
    // hand, triaged), then the store.
    intel.stop();
    detection.stop();
    let dstat = detection.status();
    let istat = intel.status();
    let alerts = alert_counts(&triage);
    drop(intel);
    drop(detection);
    let closed = store.close();
    drop(store);
    let (rules_secs, on) = measured?;
    closed.context("closing the store")?;
    let alerts = alerts?;

    let rules = &dstat.rules;
    row(
        "pipeline: detection rules loaded",
        format!("{}", rules.rules_loaded),
        &format!(
            "{} sigma, {} correlation, {} baseline; {} failed; {} dirs besides the built-in; ready after {rules_secs:.1}s",
            rules
                .rules_loaded
                .saturating_sub(rules.correlation_rules + rules.baseline_rules),
            rules.correlation_rules,
            rules.baseline_rules,
            rules.rules_failed,
            args.rules.len(),
        ),
    );
    let by_kind: Vec<String> = istat
        .indicators_by_kind
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let load_note = match &loaded {
        Some((secs, r, matching)) => format!(
            "CSV into intel.db {secs:.1}s ({} added, {} skipped), services (detection, intel with its matcher) started in {services_secs:.1}s; \
             {}; {matching} ipv4 in the lines' source range (~1% of events with a source address)",
            r.added,
            r.skipped.count,
            by_kind.join(", "),
        ),
        None => "none loaded".to_owned(),
    };
    row(
        "pipeline: intel indicators loaded",
        format!("{}", istat.matcher.indicators),
        &load_note,
    );
    let on_eps = n as f64 / on.searchable_secs;
    let consumer = |i: usize| {
        on.consumers.get(i).copied().unwrap_or(ConsumerRun {
            caught_up_secs: f64::NAN,
            max_lag: 0,
        })
    };
    let (det, int) = (consumer(0), consumer(1));
    row(
        "pipeline on: TCP syslog -> durable -> searchable",
        format!("{on_eps:.0} ev/s"),
        &format!(
            "{:.2}x of pipeline off; {n} events, detection and intel on; {:.1}s; max indexing lag {}; \
             {:.1} us CPU per event until searchable",
            on_eps / off_eps,
            on.searchable_secs,
            on.max_index_lag,
            on.cpu_secs * 1e6 / n as f64
        ),
    );
    let w = &dstat.worker;
    row(
        "pipeline on: detection caught up",
        format!("{:+.1}s", det.caught_up_secs - on.searchable_secs),
        &format!(
            "after the last event was searchable (- before); {:.0} ev/s over the run, {:.0} ev/s \
             evaluating; max lag {} events; {} evaluated; {} errors",
            n as f64 / det.caught_up_secs,
            w.eval_events_per_sec,
            det.max_lag,
            w.events_evaluated,
            w.errors
        ),
    );
    let secs_at = |events: u64, per_sec: f64| {
        if per_sec > 0.0 {
            events as f64 / per_sec
        } else {
            0.0
        }
    };
    row(
        "pipeline on: detection worker time",
        format!(
            "{:.1}s eval",
            secs_at(w.events_evaluated, w.eval_events_per_sec)
        ),
        &format!(
            "{:.1}s SQLite batch writes; {} batches; engine state {} bytes (last), {} writes, \
             {} us per snapshot; {} correlation groups ({} refused), {} baseline entities, \
             {} events late for baselines; triage: {} signals, {} alerts, {} deduplicated",
            w.write_ms as f64 / 1000.0,
            w.batches,
            w.state_bytes,
            w.state_writes,
            w.state_snapshot_us,
            w.correlation.groups,
            w.correlation.groups_refused,
            w.baseline.entities,
            w.baseline.late_events,
            w.triage.signals,
            w.triage.alerts_created,
            w.triage.deduplicated
        ),
    );
    row(
        "pipeline on: intel matcher caught up",
        format!("{:+.1}s", int.caught_up_secs - on.searchable_secs),
        &format!(
            "after the last event was searchable (- before); {:.0} ev/s over the run, {:.0} ev/s \
             matching ({:.1}s); max lag {} events; {} matched; {} batches; {} errors",
            n as f64 / int.caught_up_secs,
            istat.match_events_per_sec,
            secs_at(istat.events_matched, istat.match_events_per_sec),
            int.max_lag,
            istat.events_matched,
            istat.batches,
            istat.errors
        ),
    );
    row(
        "pipeline on: detections",
        format!("{}", w.detections_written),
        &format!(
            "{} rule, {} correlation, {} baseline; {} rule matches fed correlations only",
            w.detections_written
                .saturating_sub(w.correlation_detections + w.baseline_detections),
            w.correlation_detections,
            w.baseline_detections,
            w.matches_not_emitted
        ),
    );
    row(
        "pipeline on: intel sightings",
        format!("{}", istat.sightings.live + istat.sightings.retro),
        &format!(
            "{} live, {} retro, {} not yet triaged",
            istat.sightings.live, istat.sightings.retro, istat.sightings.undelivered
        ),
    );
    let (total, by_source) = alerts;
    row(
        "pipeline on: alerts",
        format!("{total}"),
        &by_source
            .iter()
            .map(|(s, c)| format!("{} {c}", s.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
    );
    row(
        "pipeline on: memory",
        format!("{:.0} MiB max", on.max_rss as f64 / 1048576.0),
        &format!(
            "{:.0} MiB before the run; pipeline off: {:.0} MiB max",
            on.rss_before as f64 / 1048576.0,
            off.max_rss as f64 / 1048576.0
        ),
    );
    for (what, error) in [("detection", &w.last_error), ("intel", &istat.last_error)] {
        if let Some(e) = error {
            row(&format!("pipeline on: {what} error"), "error".to_owned(), e);
        }
    }
    Ok(())
}

/// Alerts in all, and by the source of their signals.
fn alert_counts(
    triage: &rampart_triage::Triage,
) -> anyhow::Result<(u64, Vec<(SignalSource, u64)>)> {
    let count = |source| {
        triage
            .list(&AlertQuery {
                source,
                limit: 1,
                ..AlertQuery::default()
            })
            .map(|p| p.total)
            .context("counting alerts")
    };
    let by_source = SignalSource::ALL
        .into_iter()
        .map(|s| Ok((s, count(Some(s))?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((count(None)?, by_source))
}

/// The source addresses of [`synthetic_lines`]: `10.{0..4}.{0..256}.{1..255}`.
const SOURCE_IPS: usize = 4 * 256 * 254;

/// A feed being generated: distinct values as CSV rows.
struct FeedGen {
    rng: StdRng,
    seen: std::collections::HashSet<String>,
    csv: String,
}

const TAGS: [&str; 6] = [
    "c2",
    "phishing",
    "malware",
    "scanner",
    "botnet",
    "bruteforce",
];
const WORDS: [&str; 16] = [
    "update", "cdn", "login", "secure", "mail", "api", "files", "portal", "sync", "cloud",
    "verify", "account", "static", "billing", "support", "auth",
];
const TLDS: [&str; 10] = [
    "com", "net", "org", "info", "xyz", "top", "ru", "biz", "io", "online",
];

impl FeedGen {
    /// Add `value` unless it is already in; returns whether it was added.
    fn push(&mut self, value: String, kind: &str) -> bool {
        use std::fmt::Write as _;
        let tag = TAGS[self.rng.random_range(0..TAGS.len())];
        let confidence = self.rng.random_range(40..=95);
        if !self.seen.insert(value.clone()) {
            return false;
        }
        let _ = writeln!(self.csv, "{value},{kind},{confidence},{tag}");
        true
    }

    /// Add `count` distinct values made by `make` (fewer if it keeps repeating itself).
    fn add(&mut self, count: usize, kind: &str, make: impl Fn(&mut StdRng) -> String) {
        let mut made = 0;
        for _ in 0..count.saturating_mul(20) {
            if made == count {
                break;
            }
            let value = make(&mut self.rng);
            made += self.push(value, kind) as usize;
        }
    }
}

/// An address outside 10/8, 93/8 (the lines' destinations), loopback and the other
/// private and special ranges: one the synthetic lines never carry.
fn public_ipv4(rng: &mut StdRng) -> [u8; 4] {
    loop {
        let a = rng.random_range(11..=223u8);
        if ![93, 100, 127, 169, 172, 192].contains(&a) {
            return [a, rng.random(), rng.random(), rng.random_range(1..255)];
        }
    }
}

fn domain(rng: &mut StdRng) -> String {
    let name = format!(
        "{}-{}{}.{}",
        WORDS[rng.random_range(0..WORDS.len())],
        WORDS[rng.random_range(0..WORDS.len())],
        rng.random_range(0..100_000),
        TLDS[rng.random_range(0..TLDS.len())]
    );
    if rng.random_bool(0.25) {
        format!("{}.{name}", WORDS[rng.random_range(0..WORDS.len())])
    } else {
        name
    }
}

fn hex(rng: &mut StdRng, bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// `n` distinct threat-intel indicators as a CSV feed (`value,type,confidence,tags`), in
/// the mix of rampart-intel's own benchmark: 40% IPv4 addresses, 5% CIDR ranges
/// (/20–/28), 30% domains, 5% URLs, 15% hashes (MD5, SHA-1 and SHA-256 alike) and 5%
/// e-mail addresses. Every hundredth address of the synthetic lines' source range is
/// among the IPv4 indicators (as many as the IPv4 share holds), so about 1% of the events
/// with a source address match; every other value appears in no line. Returns the
/// document and how many of its addresses are in that range.
fn indicator_csv(n: usize, seed: u64) -> (Vec<u8>, usize) {
    let mut feed = FeedGen {
        rng: StdRng::seed_from_u64(seed),
        seen: std::collections::HashSet::with_capacity(n),
        csv: String::with_capacity(n * 56 + 32),
    };
    feed.csv.push_str("value,type,confidence,tags\n");
    let ipv4 = n * 40 / 100;
    let cidr = n * 5 / 100;
    let domains = n * 30 / 100;
    let urls = n * 5 / 100;
    let hashes = n * 15 / 100;
    let emails = n - ipv4 - cidr - domains - urls - hashes;
    let matching = SOURCE_IPS.div_ceil(100).min(ipv4);
    for k in 0..matching {
        let i = k * 100;
        let ip = format!("10.{}.{}.{}", i / (256 * 254), (i / 254) % 256, i % 254 + 1);
        feed.push(ip, "ipv4");
    }
    feed.add(ipv4 - matching, "ipv4", |r| {
        std::net::Ipv4Addr::from(public_ipv4(r)).to_string()
    });
    feed.add(cidr, "cidr", |r| {
        let prefix = r.random_range(20..=28u32);
        let addr = u32::from_be_bytes(public_ipv4(r)) & (u32::MAX << (32 - prefix));
        format!("{}/{prefix}", std::net::Ipv4Addr::from(addr))
    });
    feed.add(domains, "domain", domain);
    feed.add(urls, "url", |r| {
        format!(
            "http{}://{}/{}/{}.php?id={:x}",
            if r.random_bool(0.5) { "s" } else { "" },
            domain(r),
            WORDS[r.random_range(0..WORDS.len())],
            r.random_range(0..1_000_000),
            r.random::<u32>()
        )
    });
    feed.add(hashes / 3, "md5", |r| hex(r, 16));
    feed.add(hashes / 3, "sha1", |r| hex(r, 20));
    feed.add(hashes - 2 * (hashes / 3), "sha256", |r| hex(r, 32));
    feed.add(emails, "email", |r| {
        format!(
            "{}.{}{}@{}",
            WORDS[r.random_range(0..WORDS.len())],
            WORDS[r.random_range(0..WORDS.len())],
            r.random_range(0..10_000),
            domain(r)
        )
    });
    (feed.csv.into_bytes(), matching)
}
