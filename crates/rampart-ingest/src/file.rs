//! File tailing: follow glob-matched files by device and inode, deliver complete lines,
//! and checkpoint offsets (only after the sink acknowledged) across restarts and rotation.

use crate::config::{StartAt, default_tenant, default_true, duration};
use crate::listener::deliver;
use crate::metrics::ListenerMetrics;
use crate::{
    EventSink, IngestError, IngestMetrics, ListenerHandle, MAX_BATCH_BYTES, MAX_BATCH_EVENTS,
    build_parser, make_event,
};
use bytes::Bytes;
use rampart_model::fields::insert_path_if_absent;
use rampart_model::{Origin, OriginKind, ecs};
use rampart_parse::{Format, Parser};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn default_poll() -> Duration {
    Duration::from_secs(1)
}
fn default_max_line() -> usize {
    64 * 1024
}
fn default_idle_polls() -> u32 {
    5
}

/// `[[file]]`: follow files matching glob patterns.
///
/// Files are identified by device and inode, so a rotation by rename is followed: the
/// old file is read to its end, then the new one from its start. A file that shrank
/// (copytruncate) is read again from its start. An incomplete last line waits for its
/// newline. `spawn` does not look at `enabled`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInputConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Input name, in metrics and each event's origin; also the key of its checkpoint.
    pub name: String,
    /// Glob patterns (`/var/log/*.log`).
    pub paths: Vec<String>,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default = "default_tenant")]
    pub tenant: String,
    #[serde(default = "default_poll", with = "duration")]
    pub poll_interval: Duration,
    /// Where to start in files found at the first scan that have no checkpoint.
    #[serde(default)]
    pub start_at: StartAt,
    /// Longer lines are cut to this size, kept, and marked truncated.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: usize,
    /// A file no longer matched by the patterns (rotated away, deleted) is closed after
    /// this many polls without new data.
    #[serde(default = "default_idle_polls")]
    pub rotated_idle_polls: u32,
}

impl FileInputConfig {
    /// A configuration with defaults for everything but the name and patterns.
    pub fn new(name: impl Into<String>, paths: Vec<String>) -> Self {
        FileInputConfig {
            enabled: true,
            name: name.into(),
            paths,
            format: Format::default(),
            timezone: None,
            tenant: default_tenant(),
            poll_interval: default_poll(),
            start_at: StartAt::default(),
            max_line_bytes: default_max_line(),
            rotated_idle_polls: default_idle_polls(),
        }
    }

    /// Start following the files. `checkpoint_path` is this input's checkpoint file (JSON,
    /// replaced atomically); it is read now and written after each acknowledged batch.
    pub async fn spawn(
        self,
        sink: Arc<dyn EventSink>,
        metrics: Arc<IngestMetrics>,
        checkpoint_path: PathBuf,
    ) -> Result<ListenerHandle, IngestError> {
        let parser = build_parser(&self.name, self.format, self.timezone.as_deref())?;
        for pattern in &self.paths {
            glob::Pattern::new(pattern).map_err(|e| IngestError::Glob {
                input: self.name.clone(),
                pattern: pattern.clone(),
                reason: e.to_string(),
            })?;
        }
        if self.max_line_bytes == 0 {
            return Err(IngestError::Config(format!(
                "file input '{}': max_line_bytes must be positive",
                self.name
            )));
        }
        let path = checkpoint_path.clone();
        let checkpoint = tokio::task::spawn_blocking(move || Checkpoint::load(&path))
            .await
            .map_err(|e| IngestError::Checkpoint {
                path: checkpoint_path.clone(),
                reason: e.to_string(),
            })??;
        let lm = metrics.listener(&self.name);
        let cancel = CancellationToken::new();
        let tailer = Tailer {
            origin: Origin::new(OriginKind::File, self.name.clone()),
            tenant: self.tenant.clone(),
            patterns: self.paths.clone(),
            start_at: self.start_at,
            max_line: self.max_line_bytes,
            idle_polls: self.rotated_idle_polls.max(1),
            checkpoint_path,
            remembered: checkpoint.into_map(),
            tracked: HashMap::new(),
            first_scan: true,
            dirty: false,
        };
        tracing::info!(input = %self.name, patterns = ?self.paths, "file input started");
        let task = tokio::spawn(run(
            tailer,
            parser,
            sink,
            lm,
            self.poll_interval,
            cancel.clone(),
        ));
        Ok(ListenerHandle::new(self.name, None, cancel, vec![task]))
    }
}

/// The checkpoint file: where each followed file was read up to.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    version: u32,
    files: Vec<CheckpointEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointEntry {
    path: PathBuf,
    dev: u64,
    ino: u64,
    offset: u64,
}

type FileKey = (u64, u64);

impl Checkpoint {
    fn load(path: &Path) -> Result<Checkpoint, IngestError> {
        match std::fs::read(path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| IngestError::Checkpoint {
                path: path.to_path_buf(),
                reason: format!("invalid checkpoint file: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoint::default()),
            Err(e) => Err(IngestError::Checkpoint {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    fn into_map(self) -> HashMap<FileKey, CheckpointEntry> {
        self.files
            .into_iter()
            .map(|e| ((e.dev, e.ino), e))
            .collect()
    }
}

struct Tracked {
    path: PathBuf,
    file: File,
    /// Acknowledged position: everything before it was delivered.
    offset: u64,
    /// Inside an over-long line whose first part was delivered: drop up to the newline.
    skipping: bool,
    /// Consecutive polls in which the patterns did not match this file.
    unmatched_polls: u32,
}

/// One line read, waiting for the sink.
struct Line {
    data: Bytes,
    path: Arc<str>,
    problem: Option<String>,
}

/// Offsets to record once the batch is acknowledged.
struct Advance {
    key: FileKey,
    offset: u64,
    skipping: bool,
    close: bool,
}

#[derive(Default)]
struct Batch {
    lines: Vec<Line>,
    bytes: usize,
    advances: Vec<Advance>,
}

impl Batch {
    fn full(&self) -> bool {
        self.lines.len() >= MAX_BATCH_EVENTS || self.bytes >= MAX_BATCH_BYTES
    }
}

struct Tailer {
    origin: Origin,
    tenant: String,
    patterns: Vec<String>,
    start_at: StartAt,
    max_line: usize,
    idle_polls: u32,
    checkpoint_path: PathBuf,
    /// Checkpoint entries not yet matched to an open file.
    remembered: HashMap<FileKey, CheckpointEntry>,
    tracked: HashMap<FileKey, Tracked>,
    first_scan: bool,
    dirty: bool,
}

async fn run(
    mut tailer: Tailer,
    parser: Parser,
    sink: Arc<dyn EventSink>,
    metrics: ListenerMetrics,
    poll: Duration,
    cancel: CancellationToken,
) {
    loop {
        let polled = tokio::task::spawn_blocking(move || {
            let batch = tailer.poll();
            // Record newly found files (and start-at-end positions) before a possibly long
            // wait on the sink; only acknowledged offsets are ever written.
            if let Err(e) = tailer.save() {
                tracing::error!("{e}");
            }
            (tailer, batch)
        })
        .await;
        let (back, batch) = match polled {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("file input stopped: reading files failed: {e}");
                return;
            }
        };
        tailer = back;
        let full = batch.full();
        if !batch.lines.is_empty() {
            metrics.bytes(batch.bytes as u64);
            let build = || {
                batch
                    .lines
                    .iter()
                    .map(|line| {
                        let origin = Origin {
                            path: Some(line.path.to_string()),
                            ..tailer.origin.clone()
                        };
                        let mut event = make_event(
                            &parser,
                            &line.data,
                            origin,
                            &tailer.tenant,
                            line.problem.clone(),
                        );
                        insert_path_if_absent(
                            &mut event.fields,
                            ecs::LOG_FILE_PATH,
                            Value::String(line.path.to_string()),
                        );
                        event
                    })
                    .collect()
            };
            if !deliver(&*sink, &metrics, &cancel, build).await {
                return;
            }
        }
        let saved = tokio::task::spawn_blocking(move || {
            tailer.commit(batch.advances);
            let result = tailer.save();
            (tailer, result)
        })
        .await;
        match saved {
            Ok((back, result)) => {
                tailer = back;
                if let Err(e) = result {
                    tracing::error!("{e}");
                }
            }
            Err(e) => {
                tracing::error!("file input stopped: writing the checkpoint failed: {e}");
                return;
            }
        }
        if full {
            // More is waiting: read on without sleeping, but stay cancellable.
            if cancel.is_cancelled() {
                return;
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

impl Tailer {
    /// Paths the patterns match now, sorted and without duplicates.
    fn matched_paths(&self) -> BTreeSet<PathBuf> {
        let mut out = BTreeSet::new();
        for pattern in &self.patterns {
            match glob::glob(pattern) {
                Ok(paths) => out.extend(paths.filter_map(Result::ok)),
                Err(e) => tracing::warn!("invalid glob pattern '{pattern}': {e}"),
            }
        }
        out
    }

    /// Find files, notice rotation and truncation, and read what is new (unacknowledged).
    fn poll(&mut self) -> Batch {
        self.scan();
        let mut batch = Batch::default();
        // Files no longer matched first: a rotated file's tail comes before the new file.
        let mut order: Vec<(bool, PathBuf, FileKey)> = self
            .tracked
            .iter()
            .map(|(k, t)| (t.unmatched_polls == 0, t.path.clone(), *k))
            .collect();
        order.sort();
        for (_, _, key) in order {
            if batch.full() {
                break;
            }
            self.read_file(key, &mut batch);
        }
        batch
    }

    fn scan(&mut self) {
        for t in self.tracked.values_mut() {
            t.unmatched_polls = t.unmatched_polls.saturating_add(1);
        }
        for path in self.matched_paths() {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let key = (meta.dev(), meta.ino());
            if let Some(t) = self.tracked.get_mut(&key) {
                t.unmatched_polls = 0;
                if t.path != path {
                    t.path = path;
                    self.dirty = true;
                }
                continue;
            }
            self.open(&path);
        }
        if self.first_scan {
            // Checkpointed files that moved while we were down (rotated to another name in
            // the same directory): finish them too.
            let leftovers: Vec<CheckpointEntry> = self.remembered.values().cloned().collect();
            for entry in leftovers {
                if let Some(path) = find_by_inode(&entry) {
                    self.open(&path);
                    if let Some(t) = self.tracked.get_mut(&(entry.dev, entry.ino)) {
                        t.unmatched_polls = 1;
                    }
                }
            }
            self.remembered.clear();
            self.first_scan = false;
        }
    }

    /// Start following a file, resuming at its checkpoint when there is one.
    fn open(&mut self, path: &Path) {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!("cannot open {}: {e}", path.display());
                return;
            }
        };
        // The identity of what was opened, not of what the path named a moment ago.
        let Ok(meta) = file.metadata() else { return };
        let key = (meta.dev(), meta.ino());
        if self.tracked.contains_key(&key) {
            return;
        }
        let size = meta.len();
        let offset = match self.remembered.remove(&key) {
            Some(entry) if entry.offset <= size => entry.offset,
            Some(_) => 0,
            None if self.first_scan && self.start_at == StartAt::End => size,
            None => 0,
        };
        tracing::debug!(path = %path.display(), offset, "following file");
        self.tracked.insert(
            key,
            Tracked {
                path: path.to_path_buf(),
                file,
                offset,
                skipping: false,
                unmatched_polls: 0,
            },
        );
        self.dirty = true;
    }

    /// Read complete lines of one file after its acknowledged offset into the batch.
    fn read_file(&mut self, key: FileKey, batch: &mut Batch) {
        let max_line = self.max_line;
        let idle_polls = self.idle_polls;
        let Some(t) = self.tracked.get_mut(&key) else {
            return;
        };
        let size = match t.file.metadata() {
            Ok(m) => m.len(),
            Err(_) => return,
        };
        if size < t.offset {
            tracing::info!(path = %t.path.display(), "file shrank (truncated), reading it from the start");
            t.offset = 0;
            t.skipping = false;
            self.dirty = true;
        }
        let retiring = t.unmatched_polls >= idle_polls;
        if size == t.offset {
            if retiring {
                self.tracked.remove(&key);
                self.dirty = true;
            }
            return;
        }
        let budget = MAX_BATCH_BYTES
            .saturating_sub(batch.bytes)
            .max(max_line + 1);
        let want = (size - t.offset).min(budget as u64) as usize;
        let mut data = vec![0u8; want];
        let got = match read_at(&mut t.file, t.offset, &mut data) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("cannot read {}: {e}", t.path.display());
                return;
            }
        };
        data.truncate(got);
        let chunk = Bytes::from(data);
        let path: Arc<str> = Arc::from(t.path.to_string_lossy().as_ref());
        let mut pos = 0usize;
        let mut skipping = t.skipping;
        while pos < chunk.len() {
            let newline = memchr::memchr(b'\n', &chunk[pos..]).map(|i| pos + i);
            if skipping {
                match newline {
                    Some(i) => {
                        pos = i + 1;
                        skipping = false;
                        continue;
                    }
                    None => {
                        pos = chunk.len();
                        break;
                    }
                }
            }
            match newline {
                Some(i) => {
                    let mut end = i;
                    if end > pos && chunk[end - 1] == b'\r' {
                        end -= 1;
                    }
                    push_line(batch, &chunk, pos, end, max_line, &path);
                    pos = i + 1;
                }
                None if chunk.len() - pos > max_line => {
                    push_line(batch, &chunk, pos, chunk.len(), max_line, &path);
                    skipping = true;
                    pos = chunk.len();
                }
                // A rotated-away file that stopped growing: its last line is complete.
                None if retiring && t.offset + chunk.len() as u64 == size => {
                    push_line(batch, &chunk, pos, chunk.len(), max_line, &path);
                    pos = chunk.len();
                }
                None => break,
            }
        }
        let offset = t.offset + pos as u64;
        let close = retiring && offset == size;
        if pos > 0 || close {
            batch.advances.push(Advance {
                key,
                offset,
                skipping,
                close,
            });
        }
    }

    /// Record what the sink acknowledged.
    fn commit(&mut self, advances: Vec<Advance>) {
        for a in advances {
            if a.close {
                self.tracked.remove(&a.key);
            } else if let Some(t) = self.tracked.get_mut(&a.key) {
                t.offset = a.offset;
                t.skipping = a.skipping;
            }
            self.dirty = true;
        }
    }

    /// Write the checkpoint when something changed.
    fn save(&mut self) -> Result<(), IngestError> {
        if !self.dirty {
            return Ok(());
        }
        let mut files: Vec<CheckpointEntry> = self
            .tracked
            .iter()
            .map(|(&(dev, ino), t)| CheckpointEntry {
                path: t.path.clone(),
                dev,
                ino,
                offset: t.offset,
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let data = serde_json::to_vec_pretty(&Checkpoint { version: 1, files }).map_err(|e| {
            IngestError::Checkpoint {
                path: self.checkpoint_path.clone(),
                reason: e.to_string(),
            }
        })?;
        if let Some(parent) = self.checkpoint_path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| IngestError::Checkpoint {
                path: self.checkpoint_path.clone(),
                reason: e.to_string(),
            })?;
        }
        crate::tls::write_atomically(&self.checkpoint_path, &data, 0o644).map_err(|e| {
            IngestError::Checkpoint {
                path: self.checkpoint_path.clone(),
                reason: format!("cannot write checkpoint: {e}"),
            }
        })?;
        self.dirty = false;
        Ok(())
    }
}

fn push_line(
    batch: &mut Batch,
    chunk: &Bytes,
    start: usize,
    end: usize,
    max_line: usize,
    path: &Arc<str>,
) {
    let len = end - start;
    let (end, problem) = if len > max_line {
        (
            start + max_line,
            Some(format!("message truncated at {max_line} bytes")),
        )
    } else {
        (end, None)
    };
    batch.bytes += end - start;
    batch.lines.push(Line {
        data: chunk.slice(start..end),
        path: path.clone(),
        problem,
    });
}

/// Read from `offset` until `buf` is full or the file ends.
fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A file in the checkpointed file's directory with the checkpointed identity.
fn find_by_inode(entry: &CheckpointEntry) -> Option<PathBuf> {
    let dir = entry.path.parent()?;
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.dev() == entry.dev && m.ino() == entry.ino)
        })
        .map(|e| e.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(content: Option<&str>) -> Result<usize, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cp.json");
        if let Some(c) = content {
            std::fs::write(&path, c).expect("write");
        }
        Checkpoint::load(&path)
            .map(|c| c.into_map().len())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn checkpoint_files_load_or_explain() {
        assert_eq!(load(None), Ok(0), "a first start has no checkpoint");
        assert_eq!(
            load(Some(
                r#"{"version":1,"files":[{"path":"/a","dev":1,"ino":2,"offset":3}]}"#
            )),
            Ok(1)
        );
        let err = load(Some("{not json")).expect_err("corrupt checkpoint");
        assert!(err.contains("invalid checkpoint file"), "{err}");
    }

    #[test]
    fn lines_over_the_limit_are_cut_with_a_note() {
        let chunk = Bytes::from_static(b"0123456789");
        let path: Arc<str> = Arc::from("/x");
        let mut batch = Batch::default();
        for (start, end, max) in [(0, 10, 4), (0, 3, 4), (2, 6, 4)] {
            push_line(&mut batch, &chunk, start, end, max, &path);
        }
        let got: Vec<(&[u8], Option<&str>)> = batch
            .lines
            .iter()
            .map(|l| (l.data.as_ref(), l.problem.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (&b"0123"[..], Some("message truncated at 4 bytes")),
                (&b"012"[..], None),
                (&b"2345"[..], None)
            ]
        );
        assert_eq!(batch.bytes, 11);
    }
}
