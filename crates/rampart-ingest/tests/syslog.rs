//! Syslog listeners over real sockets: UDP, TCP and TLS on 127.0.0.1 port 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestSink, have};
use rampart_ingest::{IngestMetrics, SyslogTcpConfig, SyslogTlsConfig, SyslogUdpConfig};
use rampart_model::{OriginKind, Raw};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn udp_config() -> SyslogUdpConfig {
    SyslogUdpConfig {
        bind: local(),
        tenant: "acme".into(),
        ..Default::default()
    }
}

fn tcp_config() -> SyslogTcpConfig {
    SyslogTcpConfig {
        bind: local(),
        tenant: "acme".into(),
        ..Default::default()
    }
}

/// Run a command to completion off the async workers.
async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("command runs"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_datagrams_from_a_socket() {
    let sink = TestSink::new();
    let metrics = IngestMetrics::new();
    let handle = udp_config()
        .spawn(sink.clone(), metrics.clone())
        .await
        .unwrap();
    let addr = handle.local_addr().unwrap();
    let client = UdpSocket::bind(local()).await.unwrap();
    let datagrams: [&[u8]; 3] = [
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - An application event",
        b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
        b"<13>bad \xff\xfe bytes",
    ];
    for d in datagrams {
        client.send_to(d, addr).await.unwrap();
    }
    let events = sink.wait_for(3).await;
    let e5424 = events
        .iter()
        .find(|e| e.raw.as_text().contains("evntslog"))
        .unwrap();
    assert_eq!(e5424.parser, "rfc5424");
    assert_eq!(e5424.tenant, "acme");
    assert_eq!(e5424.origin.kind, OriginKind::SyslogUdp);
    assert_eq!(e5424.origin.peer, Some(client.local_addr().unwrap()));
    assert_eq!(
        e5424.get_str("host.name").as_deref(),
        Some("mymachine.example.com")
    );
    let e3164 = events
        .iter()
        .find(|e| e.raw.as_text().contains("su root"))
        .unwrap();
    assert_eq!(e3164.parser, "rfc3164");
    let bad = events
        .iter()
        .find(|e| matches!(e.raw, Raw::Bytes(_)))
        .expect("invalid utf-8 kept as bytes");
    assert_eq!(bad.raw, Raw::Bytes(datagrams[2].to_vec()));
    let snap = metrics.snapshot();
    assert_eq!(snap.total.events_in, 3);
    assert_eq!(snap.listeners["syslog-udp"].events_in, 3);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_from_logger_rfc5424_and_rfc3164() {
    if !have("logger", "udp_from_logger_rfc5424_and_rfc3164") {
        return;
    }
    let sink = TestSink::new();
    let handle = udp_config()
        .spawn(sink.clone(), IngestMetrics::new())
        .await
        .unwrap();
    let port = handle.local_addr().unwrap().port().to_string();
    for (flag, msg) in [
        ("--rfc5424", "hello five four two four"),
        ("--rfc3164", "hello three one six four"),
    ] {
        let mut cmd = Command::new("logger");
        cmd.args([
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--udp",
            flag,
            "-t",
            "rampart-test",
            msg,
        ]);
        let out = run(cmd).await;
        assert!(out.status.success(), "logger failed: {out:?}");
    }
    let events = sink.wait_for(2).await;
    let find = |needle: &str| {
        events
            .iter()
            .find(|e| e.raw.as_text().contains(needle))
            .unwrap_or_else(|| panic!("no event with {needle}: {:?}", sink.texts()))
    };
    let a = find("five four");
    assert_eq!(a.parser, "rfc5424", "{a:?}");
    assert_eq!(
        a.get_str("message").as_deref(),
        Some("hello five four two four")
    );
    assert_eq!(
        a.get_str("log.syslog.appname").as_deref(),
        Some("rampart-test")
    );
    let b = find("three one");
    assert_eq!(b.parser, "rfc3164", "{b:?}");
    assert_eq!(
        b.get_str("message").as_deref(),
        Some("hello three one six four")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_drops_and_counts_when_the_sink_is_slow() {
    let sink = TestSink::new();
    sink.set_delay(Duration::from_millis(300));
    let metrics = IngestMetrics::new();
    let handle = SyslogUdpConfig {
        queue_capacity: 8,
        ..udp_config()
    }
    .spawn(sink.clone(), metrics.clone())
    .await
    .unwrap();
    let addr = handle.local_addr().unwrap();
    let client = UdpSocket::bind(local()).await.unwrap();
    let sent = 300;
    for i in 0..sent {
        client
            .send_to(
                format!("<13>Oct 11 22:14:15 host app: message {i}").as_bytes(),
                addr,
            )
            .await
            .unwrap();
    }
    // Wait for the queue to drain through the slow sink.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dropped = metrics.totals().udp_dropped as usize;
    let got = sink.len();
    assert!(dropped > 0, "a full queue must drop (got {got})");
    assert!(
        got > 0 && got + dropped <= sent,
        "got {got}, dropped {dropped}"
    );
    assert!(got <= 8 + 1000, "queue stayed bounded");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_datagram_over_the_limit_is_truncated() {
    let sink = TestSink::new();
    let handle = SyslogUdpConfig {
        max_datagram: 16,
        ..udp_config()
    }
    .spawn(sink.clone(), IngestMetrics::new())
    .await
    .unwrap();
    let client = UdpSocket::bind(local()).await.unwrap();
    client
        .send_to(b"<13>0123456789abcdefghij", handle.local_addr().unwrap())
        .await
        .unwrap();
    let events = sink.wait_for(1).await;
    assert_eq!(events[0].raw.as_text(), "<13>0123456789ab");
    assert!(
        events[0]
            .parse_error
            .as_deref()
            .unwrap()
            .starts_with("message truncated at 16 bytes")
    );
}

async fn send_and_close(addr: SocketAddr, data: &[u8]) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(data).await.unwrap();
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_newline_and_octet_counted_frames() {
    let sink = TestSink::new();
    let metrics = IngestMetrics::new();
    let handle = tcp_config()
        .spawn(sink.clone(), metrics.clone())
        .await
        .unwrap();
    let addr = handle.local_addr().unwrap();
    let msg = "<34>Oct 11 22:14:15 mymachine su: counted\nwith newline inside";
    let mut data =
        b"<13>Oct 11 22:14:15 host app: first\r\n<13>Oct 11 22:14:15 host app: second\n".to_vec();
    data.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
    data.extend_from_slice(b"<13>Oct 11 22:14:15 host app: third\n");
    send_and_close(addr, &data).await;
    sink.wait_for(4).await;
    let texts = sink.texts();
    assert_eq!(
        texts,
        [
            "<13>Oct 11 22:14:15 host app: first",
            "<13>Oct 11 22:14:15 host app: second",
            msg,
            "<13>Oct 11 22:14:15 host app: third"
        ]
    );
    let events = sink.events();
    assert!(
        events
            .iter()
            .all(|e| e.origin.kind == OriginKind::SyslogTcp && e.tenant == "acme")
    );
    assert_eq!(metrics.totals().connections_total, 1);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_from_logger_with_and_without_octet_counting() {
    if !have("logger", "tcp_from_logger_with_and_without_octet_counting") {
        return;
    }
    let sink = TestSink::new();
    let handle = tcp_config()
        .spawn(sink.clone(), IngestMetrics::new())
        .await
        .unwrap();
    let port = handle.local_addr().unwrap().port().to_string();
    for (extra, msg) in [
        (Some("--octet-count"), "counted message"),
        (None, "newline message"),
    ] {
        let mut cmd = Command::new("logger");
        cmd.args([
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--tcp",
            "--rfc5424",
            "-t",
            "tcptest",
        ]);
        if let Some(flag) = extra {
            cmd.arg(flag);
        }
        cmd.arg(msg);
        let out = run(cmd).await;
        assert!(out.status.success(), "logger failed: {out:?}");
    }
    let events = sink.wait_for(2).await;
    let mut messages: Vec<String> = events
        .iter()
        .map(|e| {
            assert_eq!(e.parser, "rfc5424", "{e:?}");
            assert!(
                !e.raw.as_text().starts_with(|c: char| c.is_ascii_digit()),
                "length prefix leaked: {e:?}"
            );
            e.get_str("message").unwrap()
        })
        .collect();
    messages.sort();
    assert_eq!(messages, ["counted message", "newline message"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_huge_line_invalid_utf8_and_partial_frames() {
    let sink = TestSink::new();
    let handle = SyslogTcpConfig {
        max_message_bytes: 1024,
        ..tcp_config()
    }
    .spawn(sink.clone(), IngestMetrics::new())
    .await
    .unwrap();
    let addr = handle.local_addr().unwrap();
    let mut data = vec![b'x'; 5000];
    data.extend_from_slice(b"\n<13>bad \xff\xfe bytes\n<13>after\n<13>no newline at close");
    send_and_close(addr, &data).await;
    let events = sink.wait_for(4).await;
    assert_eq!(events[0].raw.len(), 1024);
    assert!(
        events[0]
            .parse_error
            .as_deref()
            .unwrap()
            .starts_with("message truncated at 1024 bytes"),
        "{:?}",
        events[0].parse_error
    );
    assert_eq!(
        events[1].raw,
        Raw::Bytes(b"<13>bad \xff\xfe bytes".to_vec())
    );
    assert_eq!(events[2].raw.as_text(), "<13>after");
    assert_eq!(events[3].raw.as_text(), "<13>no newline at close");

    // An octet-counted frame cut short by the close is kept, and says so.
    send_and_close(addr, b"40 <13>Oct 11 22:14:15 host app: cut").await;
    let events = sink.wait_for(5).await;
    assert_eq!(events[4].raw.as_text(), "<13>Oct 11 22:14:15 host app: cut");
    assert!(
        events[4]
            .parse_error
            .as_deref()
            .unwrap()
            .contains("connection closed inside an octet-counted frame (33 of 40 bytes)"),
        "{:?}",
        events[4].parse_error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_idle_connections_close_and_limit_is_enforced() {
    let sink = TestSink::new();
    let metrics = IngestMetrics::new();
    let handle = SyslogTcpConfig {
        idle_timeout: Duration::from_millis(1000),
        max_connections: 1,
        ..tcp_config()
    }
    .spawn(sink.clone(), metrics.clone())
    .await
    .unwrap();
    let addr = handle.local_addr().unwrap();
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(b"<13>held open\n").await.unwrap();
    sink.wait_for(1).await;
    // The second connection is over the limit: closed at once.
    let mut second = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(2), second.read(&mut buf))
        .await
        .expect("over-limit connection closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(metrics.totals().rejected, 1);
    // The first one goes idle and the server closes it.
    let n = tokio::time::timeout(Duration::from_secs(5), first.read(&mut buf))
        .await
        .expect("idle connection closed by the server")
        .unwrap_or(0);
    assert_eq!(n, 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(metrics.totals().connections_open, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_slow_sink_loses_nothing_and_batches() {
    let sink = TestSink::new();
    sink.set_delay(Duration::from_millis(100));
    let handle = tcp_config()
        .spawn(sink.clone(), IngestMetrics::new())
        .await
        .unwrap();
    let mut data = Vec::new();
    for i in 0..5000 {
        data.extend_from_slice(format!("<13>Oct 11 22:14:15 host app: line {i}\n").as_bytes());
    }
    send_and_close(handle.local_addr().unwrap(), &data).await;
    let events = sink.wait_for(5000).await;
    assert_eq!(events.len(), 5000);
    for (i, e) in events.iter().enumerate() {
        assert!(
            e.raw.as_text().ends_with(&format!(": line {i}")),
            "order kept at {i}"
        );
    }
    let batches = sink.batches.load(std::sync::atomic::Ordering::SeqCst);
    assert!((5..=5000).contains(&batches), "batches: {batches}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_overloaded_sink_is_retried_without_loss() {
    let sink = TestSink::new();
    sink.set_overloaded(true);
    let metrics = IngestMetrics::new();
    let handle = tcp_config()
        .spawn(sink.clone(), metrics.clone())
        .await
        .unwrap();
    send_and_close(handle.local_addr().unwrap(), b"<13>one\n<13>two\n").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.len(), 0);
    assert!(metrics.totals().overloaded >= 1);
    sink.set_overloaded(false);
    sink.wait_for(2).await;
    assert_eq!(sink.texts(), ["<13>one", "<13>two"]);
}

// ---------------------------------------------------------------- TLS

fn tls_client_config(
    ca_pem: &[u8],
    client: Option<(
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    )>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &ca_pem[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    Arc::new(match client {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    })
}

async fn tls_send(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    data: &[u8],
) -> std::io::Result<()> {
    let connector = tokio_rustls::TlsConnector::from(config);
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(data).await?;
    tls.flush().await?;
    tls.shutdown().await?;
    // Wait for the server's close so the data was surely read.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), tls.read_to_end(&mut rest)).await;
    Ok(())
}

fn tls_config() -> SyslogTlsConfig {
    SyslogTlsConfig {
        bind: local(),
        tenant: "acme".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_generated_certificate_and_rustls_client() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::new();
    let handle = tls_config()
        .spawn(sink.clone(), IngestMetrics::new(), dir.path())
        .await
        .unwrap();
    let ca = std::fs::read(dir.path().join("tls/server.crt")).unwrap();
    tls_send(
        handle.local_addr().unwrap(),
        tls_client_config(&ca, None),
        b"<13>Oct 11 22:14:15 host app: over tls\n5 <1>ab",
    )
    .await
    .unwrap();
    let events = sink.wait_for(2).await;
    assert_eq!(
        sink.texts(),
        ["<13>Oct 11 22:14:15 host app: over tls", "<1>ab"]
    );
    assert_eq!(events[0].origin.kind, OriginKind::SyslogTls);
    handle.shutdown().await;

    // A second start reuses the generated certificate: the same client still trusts it.
    let handle = tls_config()
        .spawn(sink.clone(), IngestMetrics::new(), dir.path())
        .await
        .unwrap();
    tls_send(
        handle.local_addr().unwrap(),
        tls_client_config(&ca, None),
        b"<13>again\n",
    )
    .await
    .unwrap();
    sink.wait_for(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_openssl_s_client() {
    if !have("openssl", "tls_with_openssl_s_client") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::new();
    let handle = tls_config()
        .spawn(sink.clone(), IngestMetrics::new(), dir.path())
        .await
        .unwrap();
    let target = format!("127.0.0.1:{}", handle.local_addr().unwrap().port());
    let ca = dir.path().join("tls/server.crt");
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &target,
            "-quiet",
            "-verify_return_error",
            "-CAfile",
        ])
        .arg(&ca)
        .args(["-servername", "localhost"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"<13>Oct 11 22:14:15 host app: from s_client 1\n<13>Oct 11 22:14:15 host app: from s_client 2\n")
            .unwrap();
        // -quiet implies -ign_eof: s_client stays connected; it is killed below.
    }
    let waited = tokio::time::timeout(Duration::from_secs(10), sink.wait_for(2)).await;
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        waited.is_ok(),
        "s_client lines did not arrive: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sink.texts(),
        [
            "<13>Oct 11 22:14:15 host app: from s_client 1",
            "<13>Oct 11 22:14:15 host app: from s_client 2"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let ca_path = dir.path().join("client-ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["shipper".to_owned()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &ca).unwrap();

    let sink = TestSink::new();
    let metrics = IngestMetrics::new();
    let handle = SyslogTlsConfig {
        client_ca_path: Some(ca_path),
        ..tls_config()
    }
    .spawn(sink.clone(), metrics.clone(), dir.path())
    .await
    .unwrap();
    let addr = handle.local_addr().unwrap();
    let server_ca = std::fs::read(dir.path().join("tls/server.crt")).unwrap();

    // Without a certificate the handshake (or the first read) fails and nothing arrives.
    let _ = tls_send(
        addr,
        tls_client_config(&server_ca, None),
        b"<13>anonymous\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.len(), 0);
    assert!(metrics.totals().rejected >= 1);

    let chain = vec![client_cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::try_from(client_key.serialize_der()).unwrap();
    tls_send(
        addr,
        tls_client_config(&server_ca, Some((chain, key))),
        b"<13>trusted\n",
    )
    .await
    .unwrap();
    sink.wait_for(1).await;
    assert_eq!(sink.texts(), ["<13>trusted"]);
}

/// Rough throughput figure: `cargo test -p rampart-ingest --release --test syslog -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check"]
async fn tcp_throughput() {
    let sink = TestSink::new();
    let format = match std::env::var("RAMPART_BENCH_FORMAT").as_deref() {
        Ok("raw") => rampart_parse::Format::Raw,
        _ => rampart_parse::Format::Auto,
    };
    let handle = SyslogTcpConfig {
        format,
        ..tcp_config()
    }
    .spawn(sink.clone(), IngestMetrics::new())
    .await
    .unwrap();
    let n = 200_000;
    let mut data = Vec::new();
    for i in 0..n {
        data.extend_from_slice(
            format!("<34>Oct 11 22:14:15 mymachine sshd[4242]: Failed password for root from 10.0.0.{} port 22 ssh2\n", i % 250)
                .as_bytes(),
        );
    }
    let bytes = data.len();
    let started = std::time::Instant::now();
    send_and_close(handle.local_addr().unwrap(), &data).await;
    sink.wait_for(n).await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "syslog tcp ({format:?}): {n} events, {:.1} MiB in {secs:.2}s = {:.0} events/s",
        bytes as f64 / 1048576.0,
        n as f64 / secs
    );
}
