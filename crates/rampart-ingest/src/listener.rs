//! A running input's handle: where it listens, and how to stop it.

use crate::{EventSink, SinkError};
use rampart_model::Event;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running listener or input. Dropping it stops the input; [`ListenerHandle::shutdown`]
/// also waits for it to finish.
#[derive(Debug)]
pub struct ListenerHandle {
    name: String,
    local_addr: Option<SocketAddr>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl ListenerHandle {
    pub(crate) fn new(
        name: String,
        local_addr: Option<SocketAddr>,
        cancel: CancellationToken,
        tasks: Vec<JoinHandle<()>>,
    ) -> Self {
        ListenerHandle {
            name,
            local_addr,
            cancel,
            tasks,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address actually bound (useful with port 0). `None` for file inputs.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Stop accepting, close connections, and wait for the tasks to end.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for task in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.await
                && e.is_panic()
            {
                tracing::error!(listener = %self.name, "input task panicked: {e}");
            }
        }
    }

    /// Whether every task of the input has ended (it stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().all(JoinHandle::is_finished)
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Offer a batch to the sink until it is accepted, backing off while the sink is
/// overloaded or unavailable. `build` makes the batch; it is called again for each retry
/// (the sink consumes what it is given), so the happy path never copies events.
/// Returns `false` when cancelled first: the batch was then never acknowledged.
pub(crate) async fn deliver(
    sink: &dyn EventSink,
    metrics: &crate::ListenerMetrics,
    cancel: &CancellationToken,
    mut build: impl FnMut() -> Vec<Event>,
) -> bool {
    let mut backoff = Duration::from_millis(50);
    loop {
        let events = build();
        if events.is_empty() {
            return true;
        }
        let count = events.len() as u64;
        let errors = events.iter().filter(|e| e.parse_error.is_some()).count() as u64;
        let result = tokio::select! {
            r = sink.accept(events) => r,
            _ = cancel.cancelled() => return false,
        };
        match result {
            Ok(()) => {
                metrics.accepted(count, errors);
                return true;
            }
            Err(err) => {
                metrics.sink_error(&err);
                if let SinkError::Unavailable(reason) = &err {
                    tracing::warn!("event sink unavailable, retrying in {backoff:?}: {reason}");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = cancel.cancelled() => return false,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
