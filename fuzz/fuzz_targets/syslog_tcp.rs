//! Any byte stream sent to the syslog TCP listener over a real socket (newline framing,
//! RFC 6587 octet counting, oversize records): the listener takes it, closes the
//! connection after the sender's end, and never panics or hangs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_ingest::syslog::SyslogTcpConfig;
use rampart_ingest::{AcceptFuture, EventSink, IngestMetrics, ListenerHandle};
use rampart_model::Event;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct EncodingSink;

impl EventSink for EncodingSink {
    fn accept(&self, events: Vec<Event>) -> AcceptFuture<'_> {
        for e in &events {
            assert_eq!(e.tenant, "fuzz");
            serde_json::to_vec(e).expect("accepted event encodes");
        }
        Box::pin(async { Ok(()) })
    }
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    _handle: ListenerHandle,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = runtime
            .block_on(
                SyslogTcpConfig {
                    bind: "127.0.0.1:0".parse().expect("addr"),
                    tenant: "fuzz".into(),
                    // Small, so that oversize records are cut often.
                    max_message_bytes: 512,
                    ..SyslogTcpConfig::default()
                }
                .spawn(Arc::new(EncodingSink), Arc::new(IngestMetrics::default())),
            )
            .expect("listener");
        Fixture {
            addr: handle.local_addr().expect("bound"),
            runtime,
            _handle: handle,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    f.runtime.block_on(async {
        let mut stream = tokio::net::TcpStream::connect(f.addr)
            .await
            .expect("connect");
        // The listener may close early on a framing error: a failed write is an answer.
        if stream.write_all(data).await.is_ok() {
            let _ = stream.shutdown().await;
        }
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the listener did not close the connection");
    });
});
