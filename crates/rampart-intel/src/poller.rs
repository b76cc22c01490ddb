//! The feed scheduler: a background thread that polls each configured feed on its
//! interval, purges expired indicators, and tells the caller what changed.

use crate::store::{ImportReport, IntelStore};
use parking_lot::{Condvar, Mutex};
use rampart_model::Timestamp;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the poller reports to its callback.
#[derive(Debug)]
pub enum PollEvent {
    /// A feed was fetched and imported. `report.new_indicators` holds the added
    /// indicators: retro-hunt them, then rebuild the matcher.
    Polled { feed: String, report: ImportReport },
    /// A feed could not be fetched or parsed; the error is also stored on the feed.
    Failed { feed: String, error: String },
    /// Expired indicators were purged: rebuild the matcher.
    Expired { purged: u64 },
}

struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
}

/// Polls due feeds every `tick` until stopped (or dropped).
///
/// ```no_run
/// # use std::{sync::Arc, time::Duration};
/// # use rampart_intel::{IntelStore, FeedPoller, PollEvent, SharedMatcher, DecayPolicy};
/// let store = Arc::new(IntelStore::open("intel.db".as_ref(), DecayPolicy::default())?);
/// let live = SharedMatcher::default();
/// let poller = FeedPoller::start(Arc::clone(&store), Duration::from_secs(30), {
///     let live = live.clone();
///     move |store: &IntelStore, ev: PollEvent| {
///         if let PollEvent::Polled { report, .. } = &ev {
///             // retro_hunt(event_store, &report.new_indicators, store.allow_list()?, &opts) …
///         }
///         if let Ok(m) = store.matcher(rampart_model::Timestamp::now()) {
///             live.swap(m);
///         }
///     }
/// });
/// # Ok::<(), rampart_intel::IntelError>(())
/// ```
pub struct FeedPoller {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl FeedPoller {
    /// Start polling in a background thread. Each `tick` the due feeds (see
    /// [`IntelStore::due_feeds`]) are polled one after another, then expired indicators
    /// are purged; `on_event` is called for each outcome on the poller's thread.
    pub fn start<F>(store: Arc<IntelStore>, tick: Duration, mut on_event: F) -> FeedPoller
    where
        F: FnMut(&IntelStore, PollEvent) + Send + 'static,
    {
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let tick = tick.max(Duration::from_millis(10));
        let thread_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("intel-poller".into())
            .spawn(move || {
                loop {
                    if *thread_shared.stop.lock() {
                        return;
                    }
                    run_once(&store, Timestamp::now(), &mut on_event);
                    let mut stop = thread_shared.stop.lock();
                    if *stop {
                        return;
                    }
                    thread_shared.wake.wait_for(&mut stop, tick);
                }
            })
            .ok();
        if handle.is_none() {
            tracing::error!("cannot start the intel feed poller thread");
        }
        FeedPoller { shared, handle }
    }

    /// Poll now instead of waiting for the next tick.
    pub fn wake(&self) {
        self.shared.wake.notify_all();
    }

    /// Stop the thread and wait for it (an in-flight poll finishes first).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        *self.shared.stop.lock() = true;
        self.shared.wake.notify_all();
        if let Some(h) = self.handle.take()
            && h.join().is_err()
        {
            tracing::error!("the intel feed poller thread panicked");
        }
    }
}

impl Drop for FeedPoller {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One scheduler pass at `now`: poll every due feed, then purge expired indicators.
pub fn run_once(
    store: &IntelStore,
    now: Timestamp,
    on_event: &mut dyn FnMut(&IntelStore, PollEvent),
) {
    let due = match store.due_feeds(now) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list due intel feeds");
            return;
        }
    };
    for feed in due {
        match store.poll_feed(&feed, now) {
            Ok(report) => {
                tracing::info!(feed = %feed, added = report.added, updated = report.updated,
                    skipped = report.skipped.count, "intel feed polled");
                on_event(store, PollEvent::Polled { feed, report });
            }
            Err(e) => {
                tracing::warn!(feed = %feed, error = %e, "intel feed poll failed");
                on_event(
                    store,
                    PollEvent::Failed {
                        feed,
                        error: e.to_string(),
                    },
                );
            }
        }
    }
    match store.expire(now) {
        Ok(0) => {}
        Ok(purged) => on_event(store, PollEvent::Expired { purged }),
        Err(e) => tracing::warn!(error = %e, "cannot purge expired indicators"),
    }
}
