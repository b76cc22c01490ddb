//! Rampart's inputs: everything that turns bytes from the outside world into [`Event`]s.
//!
//! This crate owns the network listeners (syslog over UDP, TCP and TLS; HTTP ingest as
//! NDJSON, Splunk HEC and the Elasticsearch bulk API), file tailing with checkpoints, and
//! the one-off import of files and directories. Each input parses records with
//! `rampart-parse`, stamps the tenant, and hands batches to an [`EventSink`].
//!
//! It must not know about storage, search or detection: the binary implements
//! [`EventSink`] over the store, and inputs acknowledge their senders (HTTP 200, HEC
//! acks, file checkpoints) only once the sink said the batch is durable.

pub mod config;
pub mod file;
mod framing;
pub mod http;
pub mod import;
mod listener;
pub mod metrics;
pub mod syslog;
pub mod tls;

pub use config::StartAt;
pub use file::FileInputConfig;
pub use http::{HttpIngestConfig, HttpIngestState, IngestToken, IngestTokens};
pub use listener::ListenerHandle;
pub use metrics::{IngestMetrics, ListenerMetrics, MetricsSnapshot};
pub use syslog::{SyslogTcpConfig, SyslogTlsConfig, SyslogUdpConfig};

use rampart_model::Event;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

/// The future returned by [`EventSink::accept`].
pub type AcceptFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// Where inputs deliver their events. The binary implements it over the store.
pub trait EventSink: Send + Sync + 'static {
    /// Durably accept a batch. Resolves only when the events are on disk (the store's WAL),
    /// so listeners acknowledge (HTTP 200, HEC ack) only after it returns Ok.
    fn accept(&self, events: Vec<Event>) -> AcceptFuture<'_>;
}

/// Why a sink refused a batch. The batch was not stored and may be offered again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The store is behind; the sender should slow down and retry.
    #[error("event sink is overloaded")]
    Overloaded,
    /// The store cannot take events at all right now (shutting down, disk error …).
    #[error("event sink is unavailable: {0}")]
    Unavailable(String),
}

/// Errors of this crate: configuration, binding, TLS material, checkpoints and imports.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot bind listener '{listener}' on {addr}: {source}")]
    Bind {
        listener: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid parser configuration for '{listener}': {reason}")]
    ParserConfig { listener: String, reason: String },
    #[error("tls: cannot read {what} '{path}': {source}")]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tls: {0}")]
    TlsMaterial(String),
    #[error("tls: invalid server configuration: {0}")]
    TlsConfig(#[from] rustls::Error),
    #[error("tls: cannot generate a self-signed certificate: {0}")]
    CertGen(#[from] rcgen::Error),
    #[error("tls: cannot write generated '{path}': {source}")]
    CertWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("file input '{input}': invalid glob pattern '{pattern}': {reason}")]
    Glob {
        input: String,
        pattern: String,
        reason: String,
    },
    #[error("checkpoint '{path}': {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("import '{path}': {reason}")]
    Import { path: PathBuf, reason: String },
    #[error("invalid ingest configuration: {0}")]
    Config(String),
}

/// Build a parser for an input, mapping its configuration error to [`IngestError`].
pub(crate) fn build_parser(
    listener: &str,
    format: rampart_parse::Format,
    timezone: Option<&str>,
) -> Result<rampart_parse::Parser, IngestError> {
    rampart_parse::Parser::new(rampart_parse::ParserConfig {
        format,
        default_year: None,
        timezone: timezone.map(str::to_owned),
    })
    .map_err(|e| IngestError::ParserConfig {
        listener: listener.to_owned(),
        reason: e.to_string(),
    })
}

/// Parse one record and stamp it: tenant, and a note when the record is not whole
/// (truncated, cut short) which is kept before any parser error.
pub(crate) fn make_event(
    parser: &rampart_parse::Parser,
    record: &[u8],
    origin: rampart_model::Origin,
    tenant: &str,
    problem: Option<String>,
) -> Event {
    let mut event = parser.parse(record, origin);
    if event.tenant != tenant {
        event.tenant.clear();
        event.tenant.push_str(tenant);
    }
    if let Some(problem) = problem {
        event.parse_error = Some(match event.parse_error.take() {
            Some(err) => format!("{problem}; {err}"),
            None => problem,
        });
    }
    event
}

/// How many events and batch bytes one `sink.accept` carries at most.
pub(crate) const MAX_BATCH_EVENTS: usize = 1000;
pub(crate) const MAX_BATCH_BYTES: usize = 1 << 20;
