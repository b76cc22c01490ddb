//! `rampart serve`: open the store and the alert database, start live detection (which
//! triages its detections into alerts), every enabled input and the HTTP server, run until
//! SIGINT/SIGTERM, then stop inputs first, detection next and close the store last.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::sink::StoreSink;
use rampart_ingest::{EventSink, IngestMetrics, IngestTokens, ListenerHandle};
use rampart_store::{EmbeddedStore, EventStore};

#[derive(Args)]
pub struct ServeArgs {
    /// Generate a realistic demo stream (background noise from several hosts plus an attack
    /// story: SSH brute force, a suspicious process tree, an outbound transfer).
    #[arg(long)]
    pub demo: bool,
    /// Print the bound addresses as one JSON line on stdout once listening (for scripts/tests).
    #[arg(long)]
    pub print_addrs: bool,
    /// Sigma rule directory to detect with, in addition to `[detection] rules_dirs`
    /// (repeatable).
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<std::path::PathBuf>,
}

pub fn run(cfg: Config, args: ServeArgs) -> anyhow::Result<()> {
    crate::init_logging(&cfg.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rampart")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(cfg, args))
}

async fn serve(cfg: Config, args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    if let Some(path) = crate::tokens::bootstrap_admin(&cfg)? {
        tracing::info!(path = %path.display(), "created the first admin API token; read it from this file");
    }
    let store_dir = cfg.data_dir.join("store");
    let store_config = cfg.store_config()?;
    let store: Arc<dyn EventStore> = Arc::new(
        tokio::task::spawn_blocking(move || EmbeddedStore::open(&store_dir, store_config))
            .await
            .context("store open task")?
            .context("opening the event store")?,
    );
    let metrics = IngestMetrics::new();
    let sink: Arc<dyn EventSink> = Arc::new(StoreSink::new(store.clone()));

    let mut detection_cfg = cfg.detection.clone();
    detection_cfg.rules_dirs.extend(args.rules.iter().cloned());
    if !detection_cfg.enabled && !args.rules.is_empty() {
        tracing::warn!("--rules given but [detection] enabled = false: no detection runs");
    }
    let Services {
        triage,
        detection,
        intel,
    } = {
        let (store, data_dir) = (store.clone(), cfg.data_dir.clone());
        let (triage_cfg, intel_cfg) = (cfg.triage.clone(), cfg.intel.clone());
        tokio::task::spawn_blocking(move || {
            start_services(&store, &data_dir, triage_cfg, &detection_cfg, &intel_cfg)
        })
        .await
        .context("service start task")??
    };

    // The demo's threat-intel feed: the story's attacker and C2 addresses, as a team would
    // have them from a sharing partner, so the Intel view and intel alerts have something
    // real to show (imported before the stream starts, so live matching finds them).
    if args.demo
        && let Some(intel) = &intel
    {
        let intel = intel.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            intel.import(
                crate::demo::INTEL_FEED,
                rampart_intel::FeedFormat::Csv,
                crate::demo::intel_feed_csv().as_bytes(),
            )
        })
        .await
        .context("demo intel import task")?
        .context("importing the demo intel feed")?;
        tracing::info!(
            added = outcome.import.added,
            updated = outcome.import.updated,
            "demo threat-intel feed loaded"
        );
    }

    // The demo's standing exception: the company scanner's SSH checks are muted (every rule,
    // its address only), so the Tuning view shows a suppression at work and what it hid.
    if args.demo {
        let triage = triage.clone();
        tokio::task::spawn_blocking(move || demo_suppression(&triage))
            .await
            .context("demo suppression task")?
            .context("adding the demo suppression")?;
    }

    let mut listeners: Vec<ListenerHandle> = Vec::new();
    let mut addrs = serde_json::Map::new();
    let ingest = &cfg.ingest;
    if ingest.syslog_udp.enabled {
        let h = ingest
            .syslog_udp
            .clone()
            .spawn(sink.clone(), metrics.clone())
            .await
            .context("starting the syslog UDP listener")?;
        addrs.insert("syslog_udp".into(), addr_json(&h));
        listeners.push(h);
    }
    if ingest.syslog_tcp.enabled {
        let h = ingest
            .syslog_tcp
            .clone()
            .spawn(sink.clone(), metrics.clone())
            .await
            .context("starting the syslog TCP listener")?;
        addrs.insert("syslog_tcp".into(), addr_json(&h));
        listeners.push(h);
    }
    if ingest.syslog_tls.enabled {
        let h = ingest
            .syslog_tls
            .clone()
            .spawn(sink.clone(), metrics.clone(), &cfg.data_dir)
            .await
            .context("starting the syslog TLS listener")?;
        addrs.insert("syslog_tls".into(), addr_json(&h));
        listeners.push(h);
    }
    for file in ingest.files.iter().filter(|f| f.enabled) {
        let checkpoint = cfg
            .data_dir
            .join("checkpoints")
            .join(format!("{}.json", file.name));
        let h = file
            .clone()
            .spawn(sink.clone(), metrics.clone(), checkpoint)
            .await
            .with_context(|| format!("starting file input '{}'", file.name))?;
        listeners.push(h);
    }

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut demo_task = None;
    if args.demo {
        demo_task = Some(tokio::spawn(crate::demo::run(
            sink.clone(),
            metrics.clone(),
            shutdown_rx.clone(),
        )));
    }

    let mut http_task = None;
    if cfg.http.enabled {
        let tokens = crate::tokens::all_api_tokens(&cfg)?;
        let auth = rampart_server::Authenticator::new(&tokens).context("loading API tokens")?;
        let audit = rampart_server::AuditLog::open(&cfg.data_dir.join("audit.log"))
            .context("opening the audit log")?;
        let ingest_tokens = Arc::new(IngestTokens::new(crate::tokens::ingest_tokens(&cfg)?));
        let ingest_state = rampart_ingest::HttpIngestState::new(
            sink.clone(),
            metrics.clone(),
            ingest_tokens,
            &cfg.ingest.http,
        )
        .context("configuring HTTP ingest")?;
        // Shippers that speak Elasticsearch point at `http://host:port/es`: the probes and
        // `_bulk` answer there, while `/` stays the console.
        let ingest_routes = rampart_ingest::http::router(ingest_state.clone()).nest(
            "/es",
            rampart_ingest::http::router(ingest_state)
                .merge(rampart_ingest::http::es_compat_router()),
        );
        let state = rampart_server::AppState {
            store: store.clone(),
            ingest_metrics: metrics.clone(),
            auth: Arc::new(auth),
            audit: Arc::new(audit),
            started: Instant::now(),
            status_sections: Arc::new(
                detection
                    .iter()
                    .map(|d| {
                        let d = d.clone();
                        let section: rampart_server::StatusSection = Arc::new(move || {
                            serde_json::to_value(d.status())
                                .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
                        });
                        ("detection".to_owned(), section)
                    })
                    .chain(
                        intel
                            .iter()
                            .map(|i| rampart_server::intel::status_section(i.clone())),
                    )
                    .collect(),
            ),
            detection: detection.clone(),
            triage: Some(triage.clone()),
            intel: intel.clone(),
        };
        let app = rampart_server::app(state, ingest_routes);
        let tls = if cfg.http.tls {
            Some(
                rampart_ingest::tls::server_config(
                    cfg.http.cert.as_deref(),
                    cfg.http.key.as_deref(),
                    &cfg.data_dir,
                    None,
                )
                .context("preparing HTTPS")?,
            )
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind(cfg.http.bind)
            .await
            .with_context(|| format!("binding the HTTP listener on {}", cfg.http.bind))?;
        let local = listener.local_addr()?;
        addrs.insert("http".into(), serde_json::Value::String(local.to_string()));
        tracing::info!(addr = %local, tls = cfg.http.tls, "HTTP API, console and ingest listening");
        http_task = Some(tokio::spawn(rampart_server::serve::serve(
            listener,
            app,
            tls,
            shutdown_rx.clone(),
        )));
    }
    if args.print_addrs {
        println!("{}", serde_json::Value::Object(addrs));
    }
    tracing::info!(data_dir = %cfg.data_dir.display(), "rampart is running");

    wait_for_signal().await;
    tracing::info!("shutting down: stopping inputs, then flushing the store");
    let _ = shutdown_tx.send(true);
    for h in listeners {
        h.shutdown().await;
    }
    if let Some(t) = demo_task {
        let _ = t.await;
    }
    if let Some(t) = http_task {
        let _ = t.await;
    }
    if let Some(i) = intel {
        tokio::task::spawn_blocking(move || i.stop())
            .await
            .context("intel stop task")?;
    }
    if let Some(d) = detection {
        tokio::task::spawn_blocking(move || d.stop())
            .await
            .context("detection stop task")?;
    }
    tokio::task::spawn_blocking(move || store.close())
        .await
        .context("store close task")?
        .context("closing the store")?;
    tracing::info!("stopped cleanly");
    Ok(())
}

fn addr_json(h: &ListenerHandle) -> serde_json::Value {
    h.local_addr()
        .map(|a| serde_json::Value::String(a.to_string()))
        .unwrap_or(serde_json::Value::Null)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A service that is off must not pin the WAL: drop its stream consumer `name`.
fn release_consumer(store: &Arc<dyn EventStore>, name: &str, service: &str) -> anyhow::Result<()> {
    if store
        .remove_consumer(name)
        .with_context(|| format!("removing the {service} stream consumer"))?
    {
        tracing::info!("{service} is off: its stream position was removed");
    }
    Ok(())
}

/// Triage and, when enabled, live detection and threat intel over `store`.
pub(crate) struct Services {
    pub triage: Arc<rampart_triage::Triage>,
    pub detection: Option<Arc<rampart_detections::DetectionService>>,
    pub intel: Option<Arc<rampart_intel::IntelService>>,
}

/// Open the alert database and start live detection and threat intel, each on its own
/// durable stream consumer, as `rampart serve` runs them (blocking: rules and indicators
/// load here). A service that is off has its stream position removed, since a position
/// left from when it was on would keep the WAL for ever.
pub(crate) fn start_services(
    store: &Arc<dyn EventStore>,
    data_dir: &std::path::Path,
    triage_cfg: rampart_triage::TriageConfig,
    detection_cfg: &rampart_detections::DetectionConfig,
    intel_cfg: &rampart_intel::IntelConfig,
) -> anyhow::Result<Services> {
    // Alerts: every detection, correlation firing, anomaly and intel sighting is triaged
    // into them.
    let triage = Arc::new(
        rampart_triage::Triage::open(&data_dir.join("triage.db"), triage_cfg)
            .context("opening the alert database")?,
    );
    // Detection reads the store's event stream on its own threads: ingest never waits for it.
    let detection = if detection_cfg.enabled {
        Some(
            rampart_detections::DetectionService::start(
                store.as_ref(),
                data_dir,
                detection_cfg,
                Some(triage.clone()),
            )
            .context("starting detection")?,
        )
    } else {
        release_consumer(store, rampart_detections::CONSUMER, "detection")?;
        None
    };
    // Threat intel matches the same stream on its own consumer and polls its feeds; every
    // new sighting becomes a triage signal.
    let intel = if intel_cfg.enabled {
        let sink = rampart_server::intel::triage_sink(Some(triage.clone()));
        match rampart_intel::IntelService::start(store.clone(), data_dir, intel_cfg, sink) {
            Ok(i) => Some(i),
            Err(e) => {
                if let Some(d) = &detection {
                    d.stop();
                }
                return Err(anyhow::Error::new(e).context("starting threat intel"));
            }
        }
    } else {
        release_consumer(store, rampart_intel::CONSUMER, "threat intel")?;
        None
    };
    Ok(Services {
        triage,
        detection,
        intel,
    })
}

/// Add the demo's scanner suppression unless an earlier demo run on this data directory did.
fn demo_suppression(triage: &rampart_triage::Triage) -> anyhow::Result<()> {
    use rampart_triage::{Condition, Expiry, SuppressionSpec, Test};
    let exists = triage
        .suppressions(None)?
        .iter()
        .any(|s| s.author == "demo" && s.reason == crate::demo::SCANNER_REASON);
    if !exists {
        triage.add_suppression(SuppressionSpec {
            tenant: None,
            rule_id: None,
            conditions: vec![Condition {
                field: "source_ip".into(),
                test: Test::Equals(crate::demo::SCANNER_IP.into()),
            }],
            author: "demo".into(),
            reason: crate::demo::SCANNER_REASON.into(),
            expires: Expiry::parse("30d", rampart_model::Timestamp::now())?,
        })?;
    }
    Ok(())
}
