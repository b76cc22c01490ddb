//! The TOML configuration file. Every section has defaults, so an empty file (or none)
//! gives a working single-machine server; `rampart config default` prints them all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use rampart_ingest::{
    FileInputConfig, HttpIngestConfig, SyslogTcpConfig, SyslogTlsConfig, SyslogUdpConfig,
};
use rampart_server::ApiTokenConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the WAL, index, state, certificates and tokens live.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub ingest: IngestConfig,
    pub store: StoreConfig,
    /// Live Sigma detection over every accepted event.
    pub detection: rampart_detections::DetectionConfig,
    /// Threat intel: live indicator matching, feeds, retro-hunts.
    pub intel: rampart_intel::IntelConfig,
    /// Alert triage of every detection: deduplication, grouping, suppressions, risk-based
    /// alerting (`<data_dir>/triage.db`).
    pub triage: rampart_triage::TriageConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("rampart-data"),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            ingest: IngestConfig::default(),
            store: StoreConfig::default(),
            detection: rampart_detections::DetectionConfig::default(),
            intel: rampart_intel::IntelConfig::default(),
            triage: rampart_triage::TriageConfig::default(),
            log: LogConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub enabled: bool,
    /// API, console and HTTP ingest (HEC, bulk, NDJSON) share this listener.
    pub bind: std::net::SocketAddr,
    /// Serve HTTPS. Without `cert`/`key` a self-signed certificate is generated in
    /// `<data_dir>/tls/` on first start.
    pub tls: bool,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            bind: ([127, 0, 0, 1], 8080).into(),
            tls: false,
            cert: None,
            key: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// API tokens (hashes only). The data directory's `tokens.json` adds those that
    /// `rampart token create` made; the first start creates an admin token there.
    pub tokens: Vec<ApiTokenConfig>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    pub syslog_udp: SyslogUdpConfig,
    pub syslog_tcp: SyslogTcpConfig,
    pub syslog_tls: SyslogTlsConfig,
    /// HEC, bulk and NDJSON endpoints. `tokens` there are what shippers present, each
    /// bound to a tenant; without any, the first start writes one to
    /// `<data_dir>/ingest.token`.
    pub http: HttpIngestConfig,
    /// Files to follow.
    pub files: Vec<FileInputConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// How often new events are committed to the index (they are durable before that,
    /// in the WAL; this is the delay until they are searchable).
    #[serde(with = "rampart_ingest::config::duration")]
    pub commit_interval: Duration,
    pub writer_memory_mb: usize,
    /// Threads that build the index.
    pub index_threads: usize,
    /// Acknowledged events waiting for the indexer beyond which ingest is pushed back
    /// (appends wait, then fail as overloaded). Events the indexer has taken are bounded by
    /// `writer_memory_mb` and become searchable at the next commit.
    pub max_lag_events: u64,
    pub wal_segment_mb: u64,
    /// Newest events kept in memory for the stream consumers (detection, intel) that keep
    /// up, so they do not decode the WAL again; 0 turns this off.
    pub consumer_tail_events: usize,
    /// How much lower the indexing threads' priority is (nice increment; 0 = equal), so
    /// that on a saturated machine detection keeps pace and searchability lags instead.
    pub index_nice: i32,
    pub retention: RetentionConfig,
}

impl Default for StoreConfig {
    /// The store's own defaults, so the two never drift apart.
    fn default() -> Self {
        let d = rampart_store::EmbeddedStoreConfig::default();
        StoreConfig {
            commit_interval: d.commit_interval,
            writer_memory_mb: d.writer_memory_bytes / (1024 * 1024),
            index_threads: d.index_threads,
            max_lag_events: d.max_lag_events,
            wal_segment_mb: d.wal_segment_bytes / (1024 * 1024),
            consumer_tail_events: d.consumer_tail_events,
            index_nice: d.index_nice,
            retention: RetentionConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Delete events older than this (`30d`, `12h`); absent = keep.
    pub max_age: Option<String>,
    /// Delete the oldest events while the index is larger than this many bytes.
    pub max_bytes: Option<u64>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_age: Some("30d".into()),
            max_bytes: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `rampart=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Config {
    /// Read `path`, or the defaults when it is `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        match path {
            None => Ok(Config::default()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))
            }
        }
    }

    pub fn store_config(&self) -> anyhow::Result<rampart_store::EmbeddedStoreConfig> {
        let max_age_secs = match &self.store.retention.max_age {
            None => None,
            Some(text) => Some(
                rampart_query::parse_duration(text)
                    .filter(|nanos| *nanos > 0)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "store.retention.max_age: invalid duration '{text}' (use e.g. 30d, 12h, 90m)"
                        )
                    })? as u64
                    / 1_000_000_000,
            ),
        };
        Ok(rampart_store::EmbeddedStoreConfig {
            commit_interval: self.store.commit_interval,
            writer_memory_bytes: self.store.writer_memory_mb * 1024 * 1024,
            index_threads: self.store.index_threads,
            max_lag_events: self.store.max_lag_events,
            wal_segment_bytes: self.store.wal_segment_mb * 1024 * 1024,
            consumer_tail_events: self.store.consumer_tail_events,
            index_nice: self.store.index_nice,
            retention: rampart_store::RetentionPolicy {
                max_age_secs,
                max_bytes: self.store.retention.max_bytes,
            },
            ..rampart_store::EmbeddedStoreConfig::default()
        })
    }
}

/// Settings that are unset by default, shown as comments under their section in
/// `rampart config default` (a TOML serialiser leaves unset options out).
const OPTIONAL_HINTS: &[(&str, &str)] = &[
    (
        "[http]",
        "# cert = \"/etc/rampart/tls/api.crt\"   # with tls = true; default: the generated pair in <data_dir>/tls\n\
         # key = \"/etc/rampart/tls/api.key\"",
    ),
    (
        "[ingest.syslog_tls]",
        "# cert_path = \"/etc/rampart/tls/syslog.crt\"   # default: a self-signed pair generated in <data_dir>/tls\n\
         # key_path = \"/etc/rampart/tls/syslog.key\"\n\
         # client_ca_path = \"/etc/rampart/tls/senders-ca.crt\"   # mutual TLS: only senders with a certificate from this CA",
    ),
];

/// The default configuration as TOML, with the optional settings as comments.
pub fn default_text() -> anyhow::Result<String> {
    let text = toml::to_string_pretty(&Config::default())?;
    let mut out = String::with_capacity(text.len() + 512);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if let Some((_, hint)) = OPTIONAL_HINTS.iter().find(|(section, _)| *section == line) {
            out.push_str(hint);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_text_parses_and_names_the_optional_tls_settings() {
        let text = default_text().expect("defaults");
        let back: Config = toml::from_str(&text).expect("parse defaults");
        assert_eq!(back.http.bind, Config::default().http.bind);
        for hint in ["# cert = ", "# cert_path = ", "# client_ca_path = "] {
            assert!(text.contains(hint), "{hint} missing from:\n{text}");
        }
        // Each uncommented hint is a valid setting of its section.
        let uncommented = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(setting) if setting.contains(" = ") => {
                    setting.split("   #").next().unwrap_or(setting).to_owned()
                }
                _ => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let with: Config = toml::from_str(&uncommented).expect("hints are valid settings");
        assert_eq!(
            with.ingest.syslog_tls.client_ca_path.as_deref(),
            Some(std::path::Path::new("/etc/rampart/tls/senders-ca.crt"))
        );
        assert!(with.http.cert.is_some());
    }

    #[test]
    fn defaults_roundtrip_through_toml() {
        let text = toml::to_string(&Config::default()).expect("serialise defaults");
        let back: Config = toml::from_str(&text).expect("parse defaults");
        assert_eq!(back.http.bind, Config::default().http.bind);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = toml::from_str::<Config>("[http]\nbnd = \"1.2.3.4:1\"\n").expect_err("typo");
        assert!(err.to_string().contains("bnd"), "{err}");
    }

    #[test]
    fn detection_section_reads_rule_directories() {
        let cfg: Config = toml::from_str(
            "[detection]\nrules_dirs = [\"/etc/rampart/rules\"]\nreload_interval_secs = 2\n",
        )
        .expect("valid");
        assert!(cfg.detection.enabled);
        assert_eq!(
            cfg.detection.rules_dirs,
            vec![PathBuf::from("/etc/rampart/rules")]
        );
        assert_eq!(cfg.detection.reload_interval_secs, 2);
        let text = toml::to_string_pretty(&Config::default()).expect("serialise defaults");
        assert!(text.contains("[detection]"), "{text}");
        assert!(toml::from_str::<Config>("[detection]\nrule_dirs = []\n").is_err());
    }

    #[test]
    fn intel_section_reads_feed_tables() {
        let cfg: Config = toml::from_str(
            "[intel]\nlookback = \"7d\"\n[[intel.feed]]\nname = \"otx\"\nkind = \"taxii\"\nurl = \"https://taxii.example/taxii2/\"\ncollection = \"c1\"\npassword_env = \"OTX_PASS\"\n",
        )
        .expect("valid");
        assert!(cfg.intel.enabled);
        assert_eq!(cfg.intel.feeds.len(), 1);
        cfg.intel.validate().expect("valid feeds");
        let text = toml::to_string_pretty(&Config::default()).expect("serialise defaults");
        assert!(
            text.contains("[intel]") && text.contains("lookback"),
            "{text}"
        );
        let printed = toml::to_string_pretty(&cfg).expect("serialise");
        assert!(printed.contains("OTX_PASS"), "{printed}");
    }

    #[test]
    fn triage_section_is_in_the_defaults_and_reads_its_settings() {
        let text = toml::to_string_pretty(&Config::default()).expect("serialise defaults");
        assert!(text.contains("[triage.dedup]"), "{text}");
        assert!(text.contains("[triage.risk]"), "{text}");
        let cfg: Config =
            toml::from_str("[triage.risk]\nthreshold = 50\n[triage.dedup]\nwindow_secs = 600\n")
                .expect("valid");
        assert_eq!(cfg.triage.risk.threshold, 50);
        assert_eq!(cfg.triage.dedup.window_secs, 600);
        assert!(
            cfg.triage.grouping.enabled,
            "unset keys keep their defaults"
        );
        assert!(toml::from_str::<Config>("[triage]\ndedupe = {}\n").is_err());
    }

    #[test]
    fn listeners_can_be_turned_off() {
        let cfg: Config = toml::from_str(
            "[ingest.syslog_udp]\nenabled = false\n[ingest.syslog_tcp]\nenabled = false\n",
        )
        .expect("valid");
        assert!(!cfg.ingest.syslog_udp.enabled);
        assert!(!cfg.ingest.syslog_tcp.enabled);
    }
}
