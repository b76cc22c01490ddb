//! The store as the ingest crate's [`EventSink`]: a batch is acknowledged once the
//! store's WAL holds it.

use std::sync::Arc;

use rampart_ingest::{AcceptFuture, EventSink, SinkError};
use rampart_model::Event;
use rampart_store::{EventStore, StoreError};

pub struct StoreSink {
    store: Arc<dyn EventStore>,
}

impl StoreSink {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        StoreSink { store }
    }
}

impl EventSink for StoreSink {
    fn accept(&self, events: Vec<Event>) -> AcceptFuture<'_> {
        let store = self.store.clone();
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || store.append(events)).await {
                Ok(Ok(_receipt)) => Ok(()),
                Ok(Err(StoreError::Overloaded { .. })) => Err(SinkError::Overloaded),
                Ok(Err(e)) => Err(SinkError::Unavailable(e.to_string())),
                Err(e) => Err(SinkError::Unavailable(format!("append task failed: {e}"))),
            }
        })
    }
}
