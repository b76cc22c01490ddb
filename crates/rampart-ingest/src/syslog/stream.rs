//! Syslog over TCP and TLS: accept loop, connection limit, idle timeout, framing and
//! back-pressure (a connection is not read while its batch is being accepted).

use super::{SyslogTcpConfig, SyslogTlsConfig};
use crate::framing::{Frame, FrameDecoder};
use crate::listener::deliver;
use crate::metrics::ListenerMetrics;
use crate::{
    EventSink, IngestError, IngestMetrics, ListenerHandle, MAX_BATCH_BYTES, MAX_BATCH_EVENTS,
    build_parser, make_event, tls,
};
use bytes::BytesMut;
use rampart_model::{Origin, OriginKind};
use rampart_parse::Parser;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a connection needs, shared by all connections of a listener.
struct StreamCtx {
    parser: Parser,
    sink: Arc<dyn EventSink>,
    metrics: ListenerMetrics,
    origin: Origin,
    tenant: String,
    max_message_bytes: usize,
    idle_timeout: Duration,
    handshake_timeout: Duration,
    tls: Option<TlsAcceptor>,
}

struct Common {
    name: String,
    bind: SocketAddr,
    kind: OriginKind,
    max_connections: usize,
}

impl SyslogTcpConfig {
    /// Bind and start accepting connections. The listener stops when the handle is dropped.
    pub async fn spawn(
        self,
        sink: Arc<dyn EventSink>,
        metrics: Arc<IngestMetrics>,
    ) -> Result<ListenerHandle, IngestError> {
        let parser = build_parser(&self.name, self.format, self.timezone.as_deref())?;
        let ctx = StreamCtx {
            parser,
            sink,
            metrics: metrics.listener(&self.name),
            origin: Origin::new(OriginKind::SyslogTcp, self.name.clone()),
            tenant: self.tenant,
            max_message_bytes: self.max_message_bytes,
            idle_timeout: self.idle_timeout,
            handshake_timeout: Duration::ZERO,
            tls: None,
        };
        let common = Common {
            name: self.name,
            bind: self.bind,
            kind: OriginKind::SyslogTcp,
            max_connections: self.max_connections,
        };
        start(common, ctx).await
    }
}

impl SyslogTlsConfig {
    /// Load (or generate under `generated_dir/tls/`) the certificate, bind and start
    /// accepting TLS connections. The listener stops when the handle is dropped.
    pub async fn spawn(
        self,
        sink: Arc<dyn EventSink>,
        metrics: Arc<IngestMetrics>,
        generated_dir: &Path,
    ) -> Result<ListenerHandle, IngestError> {
        let parser = build_parser(&self.name, self.format, self.timezone.as_deref())?;
        let server_config = tls::server_config(
            self.cert_path.as_deref(),
            self.key_path.as_deref(),
            generated_dir,
            self.client_ca_path.as_deref(),
        )?;
        let ctx = StreamCtx {
            parser,
            sink,
            metrics: metrics.listener(&self.name),
            origin: Origin::new(OriginKind::SyslogTls, self.name.clone()),
            tenant: self.tenant,
            max_message_bytes: self.max_message_bytes,
            idle_timeout: self.idle_timeout,
            handshake_timeout: self.handshake_timeout,
            tls: Some(TlsAcceptor::from(server_config)),
        };
        let common = Common {
            name: self.name,
            bind: self.bind,
            kind: OriginKind::SyslogTls,
            max_connections: self.max_connections,
        };
        start(common, ctx).await
    }
}

async fn start(common: Common, ctx: StreamCtx) -> Result<ListenerHandle, IngestError> {
    if ctx.max_message_bytes == 0 || common.max_connections == 0 {
        return Err(IngestError::Config(format!(
            "listener '{}': max_message_bytes and max_connections must be positive",
            common.name
        )));
    }
    let bind_err = |source| IngestError::Bind {
        listener: common.name.clone(),
        addr: common.bind,
        source,
    };
    let listener = TcpListener::bind(common.bind).await.map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    tracing::info!(listener = %common.name, addr = %local, kind = common.kind.as_str(), "syslog stream listener started");
    let cancel = CancellationToken::new();
    let task = tokio::spawn(accept_loop(
        listener,
        Arc::new(ctx),
        Arc::new(Semaphore::new(common.max_connections)),
        cancel.clone(),
    ));
    Ok(ListenerHandle::new(
        common.name,
        Some(local),
        cancel,
        vec![task],
    ))
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<StreamCtx>,
    slots: Arc<Semaphore>,
    cancel: CancellationToken,
) {
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = cancel.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and similar: wait instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            ctx.metrics.rejected(1);
            tracing::warn!(%peer, "connection limit reached, closing connection");
            drop(stream);
            continue;
        };
        let ctx = ctx.clone();
        let cancel = cancel.child_token();
        tracker.spawn(async move {
            let _guard = ctx.metrics.connection();
            connection(stream, peer, &ctx, &cancel).await;
            drop(permit);
        });
    }
    tracker.close();
    tracker.wait().await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: &StreamCtx,
    cancel: &CancellationToken,
) {
    let Some(acceptor) = &ctx.tls else {
        return read_frames(stream, peer, ctx, cancel).await;
    };
    let handshake = tokio::select! {
        r = tokio::time::timeout(ctx.handshake_timeout, acceptor.accept(stream)) => r,
        _ = cancel.cancelled() => return,
    };
    match handshake {
        Ok(Ok(tls_stream)) => read_frames(tls_stream, peer, ctx, cancel).await,
        Ok(Err(e)) => {
            ctx.metrics.rejected(1);
            tracing::debug!(%peer, "tls handshake failed: {e}");
        }
        Err(_) => {
            ctx.metrics.rejected(1);
            tracing::debug!(%peer, "tls handshake timed out");
        }
    }
}

/// Read a stream to its end, delivering the frames of each read as batches.
async fn read_frames<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    ctx: &StreamCtx,
    cancel: &CancellationToken,
) {
    let origin = ctx.origin.clone().with_peer(peer);
    let mut decoder = FrameDecoder::new(ctx.max_message_bytes);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut frames: Vec<Frame> = Vec::new();
    let mut frame_bytes = 0usize;
    loop {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        let read = tokio::select! {
            r = tokio::time::timeout(ctx.idle_timeout, stream.read_buf(&mut buf)) => r,
            _ = cancel.cancelled() => return,
        };
        let eof = match read {
            Ok(Ok(0)) => true,
            Ok(Ok(n)) => {
                ctx.metrics.bytes(n as u64);
                false
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, "connection read error: {e}");
                true
            }
            Err(_) => {
                tracing::debug!(%peer, "closing idle connection");
                true
            }
        };
        while let Some(frame) = decoder.decode(&mut buf) {
            frame_bytes += frame.data.len();
            frames.push(frame);
            if frames.len() >= MAX_BATCH_EVENTS || frame_bytes >= MAX_BATCH_BYTES {
                if !send(ctx, &origin, &frames, cancel).await {
                    return;
                }
                frames.clear();
                frame_bytes = 0;
            }
        }
        if eof {
            frames.extend(decoder.finish(&mut buf));
        }
        if !frames.is_empty() {
            if !send(ctx, &origin, &frames, cancel).await {
                return;
            }
            frames.clear();
            frame_bytes = 0;
        }
        if eof {
            return;
        }
    }
}

async fn send(
    ctx: &StreamCtx,
    origin: &Origin,
    frames: &[Frame],
    cancel: &CancellationToken,
) -> bool {
    let build = || {
        frames
            .iter()
            .map(|f| {
                make_event(
                    &ctx.parser,
                    &f.data,
                    origin.clone(),
                    &ctx.tenant,
                    f.problem(),
                )
            })
            .collect()
    };
    deliver(&*ctx.sink, &ctx.metrics, cancel, build).await
}
