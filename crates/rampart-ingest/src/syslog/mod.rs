//! Syslog listeners: UDP datagrams, TCP streams and TLS streams (RFC 5426, 6587, 5425).

mod stream;
mod udp;

use crate::config::{default_tenant, default_true, duration};
use rampart_parse::Format;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

fn default_name_udp() -> String {
    "syslog-udp".into()
}
fn default_name_tcp() -> String {
    "syslog-tcp".into()
}
fn default_name_tls() -> String {
    "syslog-tls".into()
}
fn default_bind() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 5514))
}
fn default_tls_bind() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 6514))
}
fn default_max_datagram() -> usize {
    64 * 1024
}
fn default_queue() -> usize {
    10_000
}
fn default_max_message() -> usize {
    64 * 1024
}
fn default_max_connections() -> usize {
    1024
}
fn default_idle() -> Duration {
    Duration::from_secs(300)
}
fn default_handshake() -> Duration {
    Duration::from_secs(10)
}

/// `[syslog_udp]`: syslog over UDP. Datagrams go through a bounded queue; when the sink
/// is slower than the senders, datagrams are dropped and counted (`udp_dropped`).
///
/// `spawn` does not look at `enabled`: the caller decides whether to start the listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogUdpConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Listener name in metrics and in each event's origin.
    #[serde(default = "default_name_udp")]
    pub name: String,
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    #[serde(default)]
    pub format: Format,
    /// Time zone for timestamps without one (RFC 3164); the parser's default otherwise.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Longer datagrams are cut to this size and marked truncated.
    #[serde(default = "default_max_datagram")]
    pub max_datagram: usize,
    /// Datagrams waiting for the sink at most; more are dropped.
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
}

impl Default for SyslogUdpConfig {
    fn default() -> Self {
        SyslogUdpConfig {
            enabled: true,
            name: default_name_udp(),
            bind: default_bind(),
            format: Format::default(),
            timezone: None,
            tenant: default_tenant(),
            max_datagram: default_max_datagram(),
            queue_capacity: default_queue(),
        }
    }
}

/// `[syslog_tcp]`: syslog over TCP, newline or octet-counted framing (detected per frame).
///
/// `spawn` does not look at `enabled`: the caller decides whether to start the listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogTcpConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_name_tcp")]
    pub name: String,
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Longer records are cut to this size, kept, and marked truncated.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// Connections beyond this are closed at once (and counted as rejected).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    #[serde(default = "default_idle", with = "duration")]
    pub idle_timeout: Duration,
}

impl Default for SyslogTcpConfig {
    fn default() -> Self {
        SyslogTcpConfig {
            enabled: true,
            name: default_name_tcp(),
            bind: default_bind(),
            format: Format::default(),
            timezone: None,
            tenant: default_tenant(),
            max_message_bytes: default_max_message(),
            max_connections: default_max_connections(),
            idle_timeout: default_idle(),
        }
    }
}

/// `[syslog_tls]`: syslog over TLS (RFC 5425), the same framing as TCP.
///
/// Without `cert_path`/`key_path` a self-signed certificate is generated on first start
/// under the directory given to `spawn` (`tls/server.crt`, `tls/server.key`) and reused
/// later. With `client_ca_path`, clients must present a certificate signed by that CA.
///
/// `spawn` does not look at `enabled`: the caller decides whether to start the listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogTlsConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_name_tls")]
    pub name: String,
    #[serde(default = "default_tls_bind")]
    pub bind: SocketAddr,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default = "default_tenant")]
    pub tenant: String,
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_idle", with = "duration")]
    pub idle_timeout: Duration,
    /// A TLS handshake that takes longer than this is abandoned.
    #[serde(default = "default_handshake", with = "duration")]
    pub handshake_timeout: Duration,
    #[serde(default)]
    pub cert_path: Option<PathBuf>,
    #[serde(default)]
    pub key_path: Option<PathBuf>,
    #[serde(default)]
    pub client_ca_path: Option<PathBuf>,
}

impl Default for SyslogTlsConfig {
    fn default() -> Self {
        SyslogTlsConfig {
            enabled: true,
            name: default_name_tls(),
            bind: default_tls_bind(),
            format: Format::default(),
            timezone: None,
            tenant: default_tenant(),
            max_message_bytes: default_max_message(),
            max_connections: default_max_connections(),
            idle_timeout: default_idle(),
            handshake_timeout: default_handshake(),
            cert_path: None,
            key_path: None,
            client_ca_path: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sections_take_defaults() {
        let udp: SyslogUdpConfig = serde_json::from_str("{}").expect("defaults");
        assert_eq!(udp.bind.port(), 5514);
        assert_eq!(udp.tenant, "default");
        let tcp: SyslogTcpConfig =
            serde_json::from_str(r#"{"idle_timeout": "2s", "format": "rfc5424"}"#)
                .expect("partial section");
        assert_eq!(tcp.max_message_bytes, 65536);
        assert_eq!(tcp.idle_timeout, Duration::from_secs(2));
        assert_eq!(tcp.format, Format::Rfc5424);
        let tls: SyslogTlsConfig = serde_json::from_str("{}").expect("defaults");
        assert_eq!(tls.bind.port(), 6514);
        assert!(serde_json::from_str::<SyslogTcpConfig>(r#"{"bnd": "x"}"#).is_err());
    }
}
