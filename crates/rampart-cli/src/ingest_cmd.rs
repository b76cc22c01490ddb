//! `rampart ingest FILE|DIR…`: one-off imports straight into the data directory's store,
//! with a progress bar. Per-record errors are counted and reported, never fatal.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use rampart_store::EventStore;

#[derive(Args)]
pub struct IngestArgs {
    /// Files or directories (searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Parser for text files: auto, syslog, cef, leef, json, kv, auditd, access_log, …
    #[arg(long, default_value = "auto")]
    pub format: String,
    #[arg(long, default_value = rampart_model::DEFAULT_TENANT)]
    pub tenant: String,
    /// Events per durable append.
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
}

pub fn run(cfg: Config, args: IngestArgs) -> anyhow::Result<()> {
    crate::init_logging(&cfg.log);
    let format: rampart_parse::Format = args
        .format
        .parse()
        .map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let files = rampart_ingest::import::discover(&args.paths);
    if files.is_empty() {
        anyhow::bail!("no files found under the given paths");
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let store = rampart_store::EmbeddedStore::open(&cfg.data_dir.join("store"), cfg.store_config()?)
        .context("opening the store (a running server holds it: send files to the server's HTTP ingest instead)")?;

    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let (mut n_events, mut n_errors, mut n_parse_errors) = (0u64, 0u64, 0u64);
    let mut failed_files = Vec::new();
    let mut done_bytes = 0u64;
    for file in &files {
        bar.set_message(file.path.display().to_string());
        let records = match rampart_ingest::import::read(file, format, &args.tenant) {
            Ok(r) => r,
            Err(e) => {
                bar.println(format!("skipped {}: {e}", file.path.display()));
                failed_files.push(file.path.clone());
                done_bytes += file.size;
                bar.set_position(done_bytes);
                continue;
            }
        };
        let mut batch = Vec::with_capacity(args.batch);
        let mut file_errors = 0u64;
        for record in records {
            match record {
                Ok(ev) => {
                    if ev.parse_error.is_some() {
                        n_parse_errors += 1;
                    }
                    batch.push(ev);
                    if batch.len() >= args.batch {
                        n_events += batch.len() as u64;
                        store.append(std::mem::take(&mut batch))?;
                    }
                }
                Err(e) => {
                    file_errors += 1;
                    if file_errors <= 3 {
                        bar.println(format!("{}: {e}", file.path.display()));
                    }
                }
            }
        }
        if !batch.is_empty() {
            n_events += batch.len() as u64;
            store.append(batch)?;
        }
        n_errors += file_errors;
        done_bytes += file.size;
        bar.set_position(done_bytes);
    }
    bar.finish_and_clear();
    store.refresh()?;
    store.close()?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "imported {n_events} events from {} files in {secs:.1}s ({:.0} events/s); {n_parse_errors} kept raw with a parse error, {n_errors} unreadable records, {} files skipped",
        files.len(),
        n_events as f64 / secs.max(1e-9),
        failed_files.len()
    );
    Ok(())
}
