//! Test helpers: an in-memory sink with optional delay and overload, and small utilities.
#![allow(dead_code, clippy::unwrap_used)]

use rampart_ingest::{AcceptFuture, EventSink, SinkError};
use rampart_model::Event;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keeps every accepted event; can be made slow or overloaded.
#[derive(Default)]
pub struct TestSink {
    events: Mutex<Vec<Event>>,
    delay_ms: AtomicUsize,
    overloaded: AtomicBool,
    pub batches: AtomicUsize,
    pub refused: AtomicUsize,
}

impl TestSink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as usize, Ordering::SeqCst);
    }

    pub fn set_overloaded(&self, yes: bool) {
        self.overloaded.store(yes, Ordering::SeqCst);
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    /// Raw texts of the accepted events, in order.
    pub fn texts(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.raw.as_text().into_owned())
            .collect()
    }

    /// Wait until at least `n` events arrived (or fail after 15 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Event> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let len = self.len();
            if len >= n {
                return self.events();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {n} events, got {len}: {:?}",
                self.texts()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Make sure no more than `n` events arrive within `quiet`.
    pub async fn settle(&self, n: usize, quiet: Duration) -> Vec<Event> {
        tokio::time::sleep(quiet).await;
        let events = self.events();
        assert_eq!(
            events.len(),
            n,
            "expected exactly {n} events: {:?}",
            self.texts()
        );
        events
    }
}

impl EventSink for TestSink {
    fn accept(&self, events: Vec<Event>) -> AcceptFuture<'_> {
        Box::pin(async move {
            if self.overloaded.load(Ordering::SeqCst) {
                self.refused.fetch_add(1, Ordering::SeqCst);
                return Err(SinkError::Overloaded);
            }
            let delay = self.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay as u64)).await;
            }
            self.batches.fetch_add(1, Ordering::SeqCst);
            self.events.lock().unwrap().extend(events);
            Ok(())
        })
    }
}

/// Whether an external program is installed; prints a skip line when not.
pub fn have(program: &str, test: &str) -> bool {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        println!("SKIPPED: {test} ({program} not installed)");
    }
    found
}

/// The shared corpus directory, or `None` (after printing a skip line) when absent.
pub fn shared(what: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("RAMPART_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!("{what}: ../shared is required (RAMPART_REQUIRE_SHARED=1) but absent");
    }
    println!("SKIPPED: {what} (../shared not present)");
    None
}
