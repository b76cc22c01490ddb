//! Ingest counters: lock-free totals plus one set of counters per listener or input.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One set of counters; used for the totals and for each listener.
#[derive(Debug, Default)]
pub struct Counters {
    pub events_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub parse_errors: AtomicU64,
    pub batches: AtomicU64,
    /// Requests or connections refused: authentication, size, malformed request, limits.
    pub rejected: AtomicU64,
    /// Datagrams dropped because the queue in front of a slow sink was full.
    pub udp_dropped: AtomicU64,
    /// Times the sink answered `Overloaded`.
    pub overloaded: AtomicU64,
    /// Times the sink answered `Unavailable`.
    pub sink_errors: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CountersSnapshot {
    pub events_in: u64,
    pub bytes_in: u64,
    pub parse_errors: u64,
    pub batches: u64,
    pub rejected: u64,
    pub udp_dropped: u64,
    pub overloaded: u64,
    pub sink_errors: u64,
    pub connections_open: u64,
    pub connections_total: u64,
}

impl Counters {
    fn snapshot(&self) -> CountersSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CountersSnapshot {
            events_in: r(&self.events_in),
            bytes_in: r(&self.bytes_in),
            parse_errors: r(&self.parse_errors),
            batches: r(&self.batches),
            rejected: r(&self.rejected),
            udp_dropped: r(&self.udp_dropped),
            overloaded: r(&self.overloaded),
            sink_errors: r(&self.sink_errors),
            connections_open: r(&self.connections_open),
            connections_total: r(&self.connections_total),
        }
    }
}

/// All ingest counters, shared by every input through an `Arc`.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    total: Counters,
    listeners: Mutex<BTreeMap<String, Arc<Counters>>>,
}

/// What [`IngestMetrics::snapshot`] returns: totals plus a copy per listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    #[serde(flatten)]
    pub total: CountersSnapshot,
    pub listeners: BTreeMap<String, CountersSnapshot>,
}

impl IngestMetrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The counters of one listener, created on first use. Inputs call it once at start.
    pub fn listener(self: &Arc<Self>, name: &str) -> ListenerMetrics {
        let mut map = self
            .listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let counters = map.entry(name.to_owned()).or_default().clone();
        ListenerMetrics {
            all: self.clone(),
            own: counters,
        }
    }

    pub fn totals(&self) -> CountersSnapshot {
        self.total.snapshot()
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let map = self
            .listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        MetricsSnapshot {
            total: self.total.snapshot(),
            listeners: map.iter().map(|(k, v)| (k.clone(), v.snapshot())).collect(),
        }
    }
}

/// A listener's handle on the metrics: every bump counts in its own set and in the totals.
#[derive(Debug, Clone)]
pub struct ListenerMetrics {
    all: Arc<IngestMetrics>,
    own: Arc<Counters>,
}

macro_rules! bump {
    ($($(#[$doc:meta])* $name:ident => $field:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self, n: u64) {
                self.own.$field.fetch_add(n, Ordering::Relaxed);
                self.all.total.$field.fetch_add(n, Ordering::Relaxed);
            }
        )*
    };
}

impl ListenerMetrics {
    bump! {
        events => events_in;
        bytes => bytes_in;
        parse_errors => parse_errors;
        batches => batches;
        rejected => rejected;
        udp_dropped => udp_dropped;
        overloaded => overloaded;
        sink_errors => sink_errors;
    }

    /// Count a batch the sink accepted: its events, its parse errors, and one batch.
    pub fn accepted(&self, events: u64, parse_errors: u64) {
        self.events(events);
        self.parse_errors(parse_errors);
        self.batches(1);
    }

    pub fn sink_error(&self, err: &crate::SinkError) {
        match err {
            crate::SinkError::Overloaded => self.overloaded(1),
            crate::SinkError::Unavailable(_) => self.sink_errors(1),
        }
    }

    /// Count an open connection until the returned guard is dropped.
    pub fn connection(&self) -> ConnectionGuard {
        for c in [&*self.own, &self.all.total] {
            c.connections_open.fetch_add(1, Ordering::Relaxed);
            c.connections_total.fetch_add(1, Ordering::Relaxed);
        }
        ConnectionGuard {
            metrics: self.clone(),
        }
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        self.own.snapshot()
    }
}

/// Decrements `connections_open` when dropped.
#[derive(Debug)]
pub struct ConnectionGuard {
    metrics: ListenerMetrics,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        for c in [&*self.metrics.own, &self.metrics.all.total] {
            c.connections_open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_bumps_count_in_totals_and_own_set() {
        let metrics = IngestMetrics::new();
        let a = metrics.listener("a");
        let b = metrics.listener("b");
        a.events(3);
        b.events(2);
        b.bytes(10);
        let guard = a.connection();
        assert_eq!(metrics.totals().connections_open, 1);
        drop(guard);
        let snap = metrics.snapshot();
        assert_eq!(snap.total.events_in, 5);
        assert_eq!(snap.total.connections_open, 0);
        assert_eq!(snap.total.connections_total, 1);
        assert_eq!(snap.listeners["a"].events_in, 3);
        assert_eq!(snap.listeners["b"].bytes_in, 10);
        let json = serde_json::to_value(&snap).expect("serialisable");
        assert_eq!(json["events_in"], 5);
        assert_eq!(json["listeners"]["b"]["events_in"], 2);
    }
}
