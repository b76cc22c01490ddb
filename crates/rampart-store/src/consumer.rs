//! Durable, named WAL consumers: how stream processors (live detection) read every accepted
//! event in append order and resume after a crash.
//!
//! A consumer's position is a file `consumers/{name}.pos` holding the last sequence number
//! it committed (written to a temporary file, fsync'd, renamed). Every consumer found on
//! disk pins the WAL: segments are removed only once the index *and* every consumer have
//! committed past them ([`Consumers::floor`]). Reading goes through the segment files
//! themselves — the same bytes recovery reads — up to the last fsync'd sequence number, so a
//! consumer never sees an event that could still be lost.
//!
//! Parse once: the newest durable batches are also kept in memory, as the appender handed
//! them in ([`Tail`]), and a consumer whose next event is there takes it from there instead
//! of reading and decoding the log. Only a consumer that has fallen behind the tail (or
//! one starting after a restart) reads the segment files.

use crate::embedded::Inner;
use crate::error::StoreError;
use crate::wal;
use crate::{ConsumedEvent, EventConsumer, SharedEvent};
use parking_lot::Mutex;
use rampart_model::Event;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The registered consumers' committed positions, shared with the indexer (WAL floor).
pub(crate) struct Consumers {
    dir: PathBuf,
    positions: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

impl Consumers {
    /// Load every consumer position kept in `dir` (created if missing).
    pub(crate) fn load(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let mut positions = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str().and_then(|n| n.strip_suffix(".pos")) else {
                continue;
            };
            let path = entry.path();
            let text = std::fs::read_to_string(&path).map_err(|e| StoreError::io(&path, e))?;
            let seq = text
                .trim()
                .parse::<u64>()
                .map_err(|_| StoreError::CorruptWal {
                    path: path.clone(),
                    reason: format!(
                        "consumer position {:?} is not a sequence number",
                        text.trim()
                    ),
                })?;
            positions.insert(name.to_owned(), Arc::new(AtomicU64::new(seq)));
        }
        Ok(Consumers {
            dir: dir.to_owned(),
            positions: Mutex::new(positions),
        })
    }

    /// The lowest position any consumer has committed (`None` without consumers).
    pub(crate) fn min_position(&self) -> Option<u64> {
        self.positions
            .lock()
            .values()
            .map(|p| p.load(Ordering::Acquire))
            .min()
    }

    /// The highest sequence number whose WAL record may be deleted, given the index's.
    pub(crate) fn floor(&self, index_committed: u64) -> u64 {
        self.min_position()
            .map_or(index_committed, |p| p.min(index_committed))
    }

    /// Every consumer's committed position, by name.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.positions
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::Acquire)))
            .collect()
    }

    /// Unregister `name` and delete its position file; whether it was registered.
    pub(crate) fn remove(&self, name: &str) -> Result<bool, StoreError> {
        let mut positions = self.positions.lock();
        if positions.remove(name).is_none() {
            return Ok(false);
        }
        let path = self.dir.join(format!("{name}.pos"));
        std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
        wal::sync_dir(&self.dir)?;
        Ok(true)
    }

    /// The position of `name`, registering it at `start` (durably) if it is new.
    fn register(&self, name: &str, start: u64) -> Result<Arc<AtomicU64>, StoreError> {
        let mut positions = self.positions.lock();
        if let Some(p) = positions.get(name) {
            return Ok(p.clone());
        }
        let p = Arc::new(AtomicU64::new(start));
        write_position(&self.dir, name, start)?;
        positions.insert(name.to_owned(), p.clone());
        Ok(p)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn write_position(dir: &Path, name: &str, seq: u64) -> Result<(), StoreError> {
    let path = dir.join(format!("{name}.pos"));
    let tmp = dir.join(format!("{name}.pos.tmp"));
    let mut file = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    file.write_all(seq.to_string().as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))?;
    wal::sync_dir(dir)
}

/// Open consumer `name` of the store behind `inner`.
pub(crate) fn open(inner: &Arc<Inner>, name: &str) -> Result<Box<dyn EventConsumer>, StoreError> {
    if !valid_name(name) {
        return Err(StoreError::Config(format!(
            "consumer name {name:?} must be 1-64 letters, digits, '-' or '_'"
        )));
    }
    let durable = inner.durable.seq();
    let position = inner.consumers.register(name, durable)?;
    let at = position.load(Ordering::Acquire);
    Ok(Box::new(WalConsumer {
        inner: inner.clone(),
        name: name.to_owned(),
        position,
        delivered: at,
        reader: None,
    }))
}

/// The newest durable batches, by first sequence number, shared with the indexer. It keeps
/// at most `capacity` events beyond the newest batch (`consumer_tail_events`); the
/// indexer's queue holds the same batches while it lags, so the tail costs memory of its
/// own only for what the index has already taken.
pub(crate) struct Tail {
    batches: VecDeque<(u64, Arc<Vec<Event>>)>,
    events: usize,
    capacity: usize,
}

impl Tail {
    pub(crate) fn new(capacity: usize) -> Self {
        Tail {
            batches: VecDeque::new(),
            events: 0,
            capacity,
        }
    }

    /// Keep `batch`, whose first event has sequence number `first_seq` (batches arrive in
    /// sequence order), dropping the oldest beyond the capacity.
    pub(crate) fn push(&mut self, first_seq: u64, batch: Arc<Vec<Event>>) {
        if batch.is_empty() || self.capacity == 0 {
            return;
        }
        self.events += batch.len();
        self.batches.push_back((first_seq, batch));
        while self.events > self.capacity && self.batches.len() > 1 {
            if let Some((_, old)) = self.batches.pop_front() {
                self.events -= old.len();
            }
        }
    }

    /// Append the events from `from` to `to` (inclusive) that the tail holds without a
    /// gap from `from` on; the last sequence number appended, or `from - 1` for none.
    fn take(&self, from: u64, to: u64, out: &mut Vec<ConsumedEvent>) -> u64 {
        let mut seq = from;
        let i = self.batches.partition_point(|(first, _)| *first <= seq);
        for (first, batch) in self.batches.iter().skip(i.saturating_sub(1)) {
            if seq > to || *first > seq {
                break;
            }
            let mut index = (seq - first) as usize;
            while seq <= to {
                let Some(event) = SharedEvent::in_batch(batch, index) else {
                    break;
                };
                out.push(ConsumedEvent { seq, event });
                seq += 1;
                index += 1;
            }
        }
        seq - 1
    }
}

/// A reader positioned inside one WAL segment.
struct SegmentReader {
    path: PathBuf,
    file: BufReader<File>,
    /// Sequence number of the next record in the file.
    next_seq: u64,
    /// First sequence number of the following segment, when one existed at opening.
    next_segment: Option<u64>,
}

struct WalConsumer {
    inner: Arc<Inner>,
    name: String,
    /// Committed position, shared with the WAL floor.
    position: Arc<AtomicU64>,
    /// Last sequence number handed out by `poll`.
    delivered: u64,
    reader: Option<SegmentReader>,
}

impl WalConsumer {
    /// Position a reader on the record with sequence number `seq`, or on the oldest record
    /// kept if `seq` is gone (only a damaged or hand-edited WAL loses records a consumer
    /// still needs; that is reported).
    fn open_at(&self, seq: u64) -> Result<SegmentReader, StoreError> {
        let segments = wal::list_segments(&self.inner.wal_dir)?;
        let idx = match segments.iter().rposition(|s| s.first_seq <= seq) {
            Some(i) => i,
            None => {
                let Some(oldest) = segments.first() else {
                    return Err(StoreError::CorruptWal {
                        path: self.inner.wal_dir.clone(),
                        reason: format!("no segment holds sequence number {seq}"),
                    });
                };
                tracing::error!(
                    consumer = %self.name,
                    wanted = seq,
                    oldest = oldest.first_seq,
                    "write-ahead log no longer holds the consumer's position; skipping ahead"
                );
                0
            }
        };
        let segment = &segments[idx];
        let file = File::open(&segment.path).map_err(|e| StoreError::io(&segment.path, e))?;
        let mut reader = SegmentReader {
            path: segment.path.clone(),
            file: BufReader::with_capacity(256 * 1024, file),
            next_seq: segment.first_seq,
            next_segment: segments.get(idx + 1).map(|s| s.first_seq),
        };
        let target = seq.max(segment.first_seq);
        while reader.next_seq < target {
            let mut header = [0u8; wal::HEADER_LEN];
            read_exact(&mut reader, &mut header)?;
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            reader
                .file
                .seek_relative(i64::from(len))
                .map_err(|e| StoreError::io(&reader.path, e))?;
            reader.next_seq += 1;
        }
        Ok(reader)
    }

    /// Read the first record at or after `seq` (all of which are durable): its sequence
    /// number, and the event — `None` for a record that cannot be used (checksum or
    /// decoding failed, or lost framing), which is reported and skipped as recovery does.
    fn read_next(&mut self, seq: u64) -> Result<(u64, Option<rampart_model::Event>), StoreError> {
        let needs_open = match &self.reader {
            None => true,
            Some(r) => r.next_seq != seq || r.next_segment.is_some_and(|n| n <= seq),
        };
        if needs_open {
            self.reader = Some(self.open_at(seq)?);
        }
        let mut header = [0u8; wal::HEADER_LEN];
        let got = {
            let reader = self.reader.as_mut().ok_or(StoreError::Closed)?;
            read_full(&mut reader.file, &mut header).map_err(|e| StoreError::io(&reader.path, e))?
        };
        if got == 0 {
            // The writer rolled to a new segment after this one was opened.
            let mut reader = self.open_at(seq)?;
            read_exact(&mut reader, &mut header)?;
            self.reader = Some(reader);
        } else if got < wal::HEADER_LEN {
            return self.lost_framing(seq, "a truncated record header");
        }
        let reader = self.reader.as_mut().ok_or(StoreError::Closed)?;
        let actual = reader.next_seq;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len == 0 || len > wal::MAX_RECORD_LEN {
            return self.lost_framing(actual, "an impossible record length");
        }
        let mut payload = vec![0u8; len as usize];
        read_exact(reader, &mut payload)?;
        reader.next_seq = actual + 1;
        if crc32fast::hash(&payload) != crc {
            tracing::error!(consumer = %self.name, seq = actual, "write-ahead log record failed its checksum; skipped");
            return Ok((actual, None));
        }
        match wal::decode(&payload) {
            Ok(event) => Ok((actual, Some(event))),
            Err(e) => {
                tracing::error!(consumer = %self.name, seq = actual, error = %e, "write-ahead log record is not an event; skipped");
                Ok((actual, None))
            }
        }
    }

    /// The framing of the current segment is lost at `seq`: skip to the next segment (as
    /// recovery does), or fail if this is the newest one.
    fn lost_framing(
        &mut self,
        seq: u64,
        what: &str,
    ) -> Result<(u64, Option<rampart_model::Event>), StoreError> {
        let reader = self.reader.take().ok_or(StoreError::Closed)?;
        match reader.next_segment {
            Some(next) => {
                tracing::error!(
                    consumer = %self.name,
                    segment = %reader.path.display(),
                    seq,
                    skipped = next.saturating_sub(seq),
                    "write-ahead log segment has {what}; the rest of it is skipped"
                );
                Ok((next - 1, None))
            }
            None => Err(StoreError::CorruptWal {
                path: reader.path,
                reason: format!("{what} at sequence number {seq}"),
            }),
        }
    }
}

fn read_exact(reader: &mut SegmentReader, buf: &mut [u8]) -> Result<(), StoreError> {
    reader
        .file
        .read_exact(buf)
        .map_err(|e| StoreError::io(&reader.path, e))
}

/// Read as much of `buf` as the file holds; the count read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl EventConsumer for WalConsumer {
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<ConsumedEvent>, StoreError> {
        let deadline = Instant::now() + wait;
        let head = loop {
            let head = self.inner.durable.seq();
            if head > self.delivered {
                break head;
            }
            if self.inner.is_closed() {
                return Err(StoreError::Closed);
            }
            if !self.inner.durable.wait_past(self.delivered, deadline) {
                return Ok(Vec::new());
            }
        };
        let last = head.min(self.delivered.saturating_add(max.max(1) as u64));
        let mut out = Vec::with_capacity((last - self.delivered) as usize);
        while self.delivered < last {
            let from = self.delivered + 1;
            let taken = self.inner.tail.lock().take(from, last, &mut out);
            if taken >= from {
                self.inner
                    .counters
                    .consumer_shared
                    .fetch_add(taken - from + 1, Ordering::Relaxed);
                self.delivered = taken;
                continue;
            }
            self.inner
                .counters
                .consumer_from_log
                .fetch_add(1, Ordering::Relaxed);
            let (seq, event) = self.read_next(from)?;
            if let Some(event) = event {
                out.push(ConsumedEvent {
                    seq,
                    event: event.into(),
                });
            }
            self.delivered = seq.max(from);
        }
        Ok(out)
    }

    fn commit(&mut self, seq: u64) -> Result<(), StoreError> {
        let seq = seq.min(self.delivered);
        if seq <= self.position.load(Ordering::Acquire) {
            return Ok(());
        }
        write_position(&self.inner.consumers.dir, &self.name, seq)?;
        self.position.store(seq, Ordering::Release);
        Ok(())
    }

    fn committed(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    fn head(&self) -> u64 {
        self.inner.durable.seq()
    }
}

/// The last fsync'd sequence number, with a way to wait for it to move.
pub(crate) struct Durable {
    seq: AtomicU64,
    lock: Mutex<()>,
    moved: parking_lot::Condvar,
}

impl Durable {
    pub(crate) fn new(seq: u64) -> Self {
        Durable {
            seq: AtomicU64::new(seq),
            lock: Mutex::new(()),
            moved: parking_lot::Condvar::new(),
        }
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Publish that everything up to `seq` is durable.
    pub(crate) fn advance(&self, seq: u64) {
        let _guard = self.lock.lock();
        self.seq.fetch_max(seq, Ordering::AcqRel);
        self.moved.notify_all();
    }

    /// Wake everyone (the store is closing).
    pub(crate) fn wake_all(&self) {
        let _guard = self.lock.lock();
        self.moved.notify_all();
    }

    /// Wait until the durable sequence number passes `seq` or `deadline` comes; whether it
    /// might have moved (false: timed out).
    fn wait_past(&self, seq: u64, deadline: Instant) -> bool {
        let mut guard = self.lock.lock();
        if self.seq() > seq {
            return true;
        }
        !self.moved.wait_until(&mut guard, deadline).timed_out()
    }
}
