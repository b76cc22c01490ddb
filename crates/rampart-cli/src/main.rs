//! The `rampart` binary: the only crate that knows every other one. It reads the
//! configuration, opens the store, starts the inputs and the HTTP server, and offers the
//! command-line tools (search, ingest, status, tokens, benchmark).

mod alerts_cmd;
mod bench;
mod client;
mod config;
mod demo;
mod detections_cmd;
mod hunt;
mod ingest_cmd;
mod intel_cmd;
mod output;
mod rules_cmd;
mod serve;
mod sink;
mod tokens;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "Rampart: collect, store, search and detect security events"
)]
struct Cli {
    /// Configuration file (TOML). Without one, defaults apply (`rampart config default`).
    #[arg(long, short = 'c', global = true, env = "RAMPART_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` in the configuration).
    #[arg(long, short = 'd', global = true, env = "RAMPART_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: listeners, storage, API and console.
    Serve(serve::ServeArgs),
    /// Import files or directories (EVTX, NDJSON/JSON, syslog or other text logs).
    Ingest(ingest_cmd::IngestArgs),
    /// Search stored events: `rampart search 'event.outcome:failure | top 10 source.ip'`.
    Search(client::SearchArgs),
    /// Show the server's figures (ingest, store, process).
    Status(client::StatusArgs),
    /// Create and hash API tokens.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Sigma rules: lint, list, test (built-in rules without a path); enable, disable, reload on a running server.
    #[command(subcommand)]
    Rules(detections_cmd::RulesCommand),
    /// List the detections of a running server: `rampart detections --level high --from -24h`.
    Detections(detections_cmd::DetectionsArgs),
    /// Alerts on a running server: list, show, ack, assign, status, close; groups, noise.
    #[command(subcommand)]
    Alerts(alerts_cmd::AlertsCommand),
    /// Suppressions (exceptions) on a running server: add, list, remove.
    #[command(subcommand)]
    Suppress(alerts_cmd::SuppressCommand),
    /// Risk scores per entity on a running server, with the contributing rules.
    Risk(alerts_cmd::RiskArgs),
    /// Threat intel on a running server: import, list, feeds, allow-list, sightings.
    #[command(subcommand)]
    Intel(intel_cmd::IntelCommand),
    /// Run Sigma rules over log files (EVTX, JSON, syslog) and print a detection timeline.
    Hunt(hunt::HuntArgs),
    /// Measure parse, WAL, end-to-end ingest and search speed on this machine.
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the default configuration as TOML.
    Default,
    /// Check a configuration file and print it with defaults filled in.
    Check,
}

/// mimalloc: events are many small allocations made on one thread and freed on another
/// (parser → WAL → indexer); glibc's allocator spent a fifth of ingest CPU on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut cfg = config::Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        cfg.data_dir = dir;
    }
    match cli.command {
        Command::Serve(args) => serve::run(cfg, args),
        Command::Ingest(args) => ingest_cmd::run(cfg, args),
        Command::Search(args) => client::search(cfg, args),
        Command::Status(args) => client::status(cfg, args),
        Command::Token(cmd) => tokens::run(cfg, cmd),
        Command::Config(ConfigCommand::Default) => {
            print!("{}", config::default_text()?);
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            print!("{}", toml::to_string_pretty(&cfg)?);
            Ok(())
        }
        Command::Hunt(args) => hunt::run(cfg, args),
        Command::Rules(cmd) => detections_cmd::run_rules(cfg, cmd),
        Command::Detections(args) => detections_cmd::run(cfg, args),
        Command::Bench(args) => bench::run(cfg, args),
        Command::Alerts(cmd) => alerts_cmd::run_alerts(cfg, cmd),
        Command::Suppress(cmd) => alerts_cmd::run_suppress(cfg, cmd),
        Command::Risk(args) => alerts_cmd::run_risk(cfg, args),
        Command::Intel(cmd) => intel_cmd::run(cfg, cmd),
    }
}

/// Structured logs to stderr, text or JSON, filtered by `RUST_LOG` or the config.
pub fn init_logging(cfg: &config::LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cfg.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
