//! Syslog over UDP: a receive task feeding a bounded queue, and a task that parses and
//! delivers batches. UDP cannot push back, so a full queue drops and counts.

use super::SyslogUdpConfig;
use crate::listener::deliver;
use crate::{
    EventSink, IngestError, IngestMetrics, ListenerHandle, MAX_BATCH_BYTES, MAX_BATCH_EVENTS,
    build_parser, make_event,
};
use bytes::Bytes;
use rampart_model::{Origin, OriginKind};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Datagram {
    data: Bytes,
    peer: SocketAddr,
    truncated: bool,
}

impl SyslogUdpConfig {
    /// Bind the socket and start receiving. The listener stops when the handle is dropped.
    pub async fn spawn(
        self,
        sink: Arc<dyn EventSink>,
        metrics: Arc<IngestMetrics>,
    ) -> Result<ListenerHandle, IngestError> {
        let parser = build_parser(&self.name, self.format, self.timezone.as_deref())?;
        if self.max_datagram == 0 || self.queue_capacity == 0 {
            return Err(IngestError::Config(format!(
                "listener '{}': max_datagram and queue_capacity must be positive",
                self.name
            )));
        }
        let socket = UdpSocket::bind(self.bind)
            .await
            .map_err(|source| IngestError::Bind {
                listener: self.name.clone(),
                addr: self.bind,
                source,
            })?;
        let local = socket.local_addr().map_err(|source| IngestError::Bind {
            listener: self.name.clone(),
            addr: self.bind,
            source,
        })?;
        let lm = metrics.listener(&self.name);
        let cancel = CancellationToken::new();
        let (tx, mut rx) = mpsc::channel::<Datagram>(self.queue_capacity);
        tracing::info!(listener = %self.name, addr = %local, "syslog udp listener started");

        let recv_metrics = lm.clone();
        let recv_cancel = cancel.clone();
        let max = self.max_datagram;
        let receiver = tokio::spawn(async move {
            // One byte more than allowed tells a datagram that was cut by the kernel.
            let mut buf = vec![0u8; max + 1];
            let mut full_logged = false;
            loop {
                let received = tokio::select! {
                    r = socket.recv_from(&mut buf) => r,
                    _ = recv_cancel.cancelled() => break,
                };
                let (n, peer) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        // ICMP errors and the like surface here; the socket stays usable.
                        tracing::debug!("udp receive error: {e}");
                        continue;
                    }
                };
                recv_metrics.bytes(n as u64);
                let datagram = Datagram {
                    data: Bytes::copy_from_slice(&buf[..n.min(max)]),
                    peer,
                    truncated: n > max,
                };
                match tx.try_send(datagram) {
                    Ok(()) => full_logged = false,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        recv_metrics.udp_dropped(1);
                        if !full_logged {
                            tracing::warn!("syslog udp queue full, dropping datagrams");
                            full_logged = true;
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
        });

        let worker_cancel = cancel.clone();
        let name = self.name.clone();
        let tenant = self.tenant;
        let worker = tokio::spawn(async move {
            let origin = Origin::new(OriginKind::SyslogUdp, name);
            let mut batch: Vec<Datagram> = Vec::with_capacity(MAX_BATCH_EVENTS);
            loop {
                let first = tokio::select! {
                    d = rx.recv() => d,
                    _ = worker_cancel.cancelled() => None,
                };
                let Some(first) = first else { break };
                let mut bytes = first.data.len();
                batch.push(first);
                while batch.len() < MAX_BATCH_EVENTS && bytes < MAX_BATCH_BYTES {
                    match rx.try_recv() {
                        Ok(d) => {
                            bytes += d.data.len();
                            batch.push(d);
                        }
                        Err(_) => break,
                    }
                }
                let build = || {
                    batch
                        .iter()
                        .map(|d| {
                            make_event(
                                &parser,
                                &d.data,
                                origin.clone().with_peer(d.peer),
                                &tenant,
                                d.truncated.then(|| {
                                    format!("message truncated at {} bytes", d.data.len())
                                }),
                            )
                        })
                        .collect()
                };
                if !deliver(&*sink, &lm, &worker_cancel, build).await {
                    break;
                }
                batch.clear();
            }
        });
        Ok(ListenerHandle::new(
            self.name,
            Some(local),
            cancel,
            vec![receiver, worker],
        ))
    }
}
