//! One-off import of files and directories (`rampart ingest FILE|DIR…`): find the files,
//! tell their kind, and read them as events with byte progress for a progress bar.

use crate::{IngestError, build_parser, make_event};
use rampart_model::fields::insert_path_if_absent;
use rampart_model::{Event, Origin, OriginKind, ecs};
use rampart_parse::{Format, Parser};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Errors of an import; per-record errors carry the file's path.
pub type ImportError = IngestError;

/// The origin listener name of imported events.
pub const IMPORT_LISTENER: &str = "import";

/// Lines longer than this are cut and marked truncated (the parser's own limit).
const MAX_LINE: usize = rampart_parse::MAX_PARSE_LEN;

/// How a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    /// Windows event log (magic `ElfFile\0`).
    Evtx,
    /// `.json`, `.ndjson`, `.jsonl`: one JSON document per line, or one JSON array.
    Json,
    /// Windows events exported as XML (`.xml`: `wevtutil qe /f:xml`, Event Viewer's "Save
    /// as XML").
    WindowsXml,
    /// gzip-compressed lines (magic `1f 8b`).
    Gzip,
    /// Anything else: text lines.
    Text,
}

/// A file found by [`discover`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportFile {
    pub path: PathBuf,
    pub kind: ImportKind,
    /// Size on disk, for progress.
    pub size: u64,
}

/// Files to import from the given paths: files as they are, directories recursively (in
/// name order, following no directory symlinks). A path that cannot be read is still
/// listed, so that [`read`] reports why.
pub fn discover(paths: &[PathBuf]) -> Vec<ImportFile> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out);
        } else {
            out.push(classify(path));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<ImportFile>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) => {
            tracing::warn!("cannot list {}: {e}", dir.display());
            return;
        }
    };
    entries.sort();
    for path in entries {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, out);
        } else if meta.is_file() || (meta.file_type().is_symlink() && path.is_file()) {
            out.push(classify(&path));
        }
    }
}

/// Tell a file's kind by its first bytes, then by its extension.
fn classify(path: &Path) -> ImportFile {
    let mut magic = [0u8; 8];
    let mut got = 0;
    if let Ok(mut f) = File::open(path) {
        while got < magic.len() {
            match f.read(&mut magic[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    }
    let magic = &magic[..got];
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let kind = if magic == b"ElfFile\0" {
        ImportKind::Evtx
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        ImportKind::Gzip
    } else {
        match ext.as_str() {
            "evtx" => ImportKind::Evtx,
            "json" | "ndjson" | "jsonl" => ImportKind::Json,
            "xml" => ImportKind::WindowsXml,
            "gz" => ImportKind::Gzip,
            _ => ImportKind::Text,
        }
    };
    ImportFile {
        path: path.to_path_buf(),
        kind,
        size: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    }
}

fn import_error(path: &Path, reason: impl std::fmt::Display) -> ImportError {
    IngestError::Import {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Open a file for import. Each item is one event, or the error of one record (reading
/// goes on after it). `format` applies to text, JSON and gzip files.
pub fn read(file: &ImportFile, format: Format, tenant: &str) -> Result<ImportRecords, ImportError> {
    let path_text = file.path.display().to_string();
    let origin = Origin::new(OriginKind::Import, IMPORT_LISTENER).with_path(path_text.clone());
    let progress = Arc::new(AtomicU64::new(0));
    let inner = match file.kind {
        ImportKind::Evtx => {
            let records = rampart_parse::evtx::read_file(&file.path, origin.clone())
                .map_err(|e| import_error(&file.path, e))?;
            Inner::Evtx(Box::new(records))
        }
        ImportKind::WindowsXml => {
            let f = File::open(&file.path).map_err(|e| import_error(&file.path, e))?;
            let counting = Counting {
                inner: f,
                count: progress.clone(),
            };
            Inner::Xml(Box::new(rampart_parse::winxml::read(
                BufReader::with_capacity(256 * 1024, counting),
                origin.clone(),
            )))
        }
        kind => {
            let parser = build_parser(IMPORT_LISTENER, format, None)?;
            let f = File::open(&file.path).map_err(|e| import_error(&file.path, e))?;
            let counting = Counting {
                inner: f,
                count: progress.clone(),
            };
            let reader: Box<dyn BufRead + Send> = if kind == ImportKind::Gzip {
                Box::new(BufReader::with_capacity(
                    256 * 1024,
                    flate2::read::MultiGzDecoder::new(BufReader::new(counting)),
                ))
            } else {
                Box::new(BufReader::with_capacity(256 * 1024, counting))
            };
            let mut lines = LineReader {
                reader,
                parser,
                buf: Vec::new(),
                failed: false,
            };
            if kind == ImportKind::Json && lines.starts_with_array() {
                Inner::Array(read_array(lines, &file.path)?)
            } else {
                Inner::Lines(lines)
            }
        }
    };
    Ok(ImportRecords {
        inner,
        origin,
        path_text,
        tenant: tenant.to_owned(),
        progress,
        size: file.size,
    })
}

/// The records of one imported file; see [`read`].
pub struct ImportRecords {
    inner: Inner,
    origin: Origin,
    path_text: String,
    tenant: String,
    progress: Arc<AtomicU64>,
    size: u64,
}

enum Inner {
    Evtx(Box<dyn Iterator<Item = Result<Event, rampart_parse::EvtxRecordError>> + Send>),
    Xml(Box<dyn Iterator<Item = Result<Event, String>> + Send>),
    Lines(LineReader),
    Array(ArrayRecords),
}

impl ImportRecords {
    /// Bytes of the file consumed so far (compressed bytes for gzip). EVTX files report
    /// their size once read to the end.
    pub fn bytes_read(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// A shared counter of [`ImportRecords::bytes_read`], for a progress bar on another thread.
    pub fn progress(&self) -> Arc<AtomicU64> {
        self.progress.clone()
    }

    /// The file's size when discovered.
    pub fn total_bytes(&self) -> u64 {
        self.size
    }

    fn stamp(&self, mut event: Event) -> Event {
        insert_path_if_absent(
            &mut event.fields,
            ecs::LOG_FILE_PATH,
            Value::String(self.path_text.clone()),
        );
        event
    }
}

impl Iterator for ImportRecords {
    type Item = Result<Event, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        let path = Path::new(&self.path_text);
        match &mut self.inner {
            Inner::Evtx(records) => match records.next() {
                Some(Ok(mut event)) => {
                    if event.tenant != self.tenant {
                        event.tenant.clone_from(&self.tenant);
                    }
                    Some(Ok(event))
                }
                Some(Err(e)) => Some(Err(import_error(path, e))),
                None => {
                    self.progress.store(self.size, Ordering::Relaxed);
                    None
                }
            },
            Inner::Xml(records) => match records.next() {
                Some(Ok(mut event)) => {
                    if event.tenant != self.tenant {
                        event.tenant.clone_from(&self.tenant);
                    }
                    Some(Ok(self.stamp(event)))
                }
                Some(Err(e)) => Some(Err(import_error(path, e))),
                None => None,
            },
            Inner::Lines(lines) => match lines.next_line() {
                Some(Ok(truncated)) => {
                    let note = truncated.then(|| format!("message truncated at {MAX_LINE} bytes"));
                    let event = make_event(
                        &lines.parser,
                        &lines.buf,
                        self.origin.clone(),
                        &self.tenant,
                        note,
                    );
                    Some(Ok(self.stamp(event)))
                }
                Some(Err(e)) => Some(Err(import_error(path, e))),
                None => None,
            },
            Inner::Array(array) => {
                let event = array.next(&self.origin, &self.tenant)?;
                Some(Ok(self.stamp(event)))
            }
        }
    }
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

struct LineReader {
    reader: Box<dyn BufRead + Send>,
    parser: Parser,
    buf: Vec<u8>,
    failed: bool,
}

impl LineReader {
    /// Whether the first non-blank byte is `[` (a JSON array rather than JSON lines).
    fn starts_with_array(&mut self) -> bool {
        loop {
            let Ok(data) = self.reader.fill_buf() else {
                return false;
            };
            if data.is_empty() {
                return false;
            }
            let blank = data.iter().take_while(|b| b.is_ascii_whitespace()).count();
            if blank < data.len() {
                return data[blank] == b'[';
            }
            let n = data.len();
            self.reader.consume(n);
        }
    }

    /// Read the next non-blank line into `buf` (without its line end); whether it was
    /// cut at [`MAX_LINE`]. After a read error, the file ends.
    fn next_line(&mut self) -> Option<std::io::Result<bool>> {
        if self.failed {
            return None;
        }
        loop {
            self.buf.clear();
            match read_line_capped(&mut *self.reader, &mut self.buf, MAX_LINE) {
                Ok(None) => return None,
                Ok(Some(truncated)) => {
                    while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                        self.buf.pop();
                    }
                    if self.buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some(Ok(truncated));
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Read one line into `buf`, keeping at most `cap` bytes of it. `None` at end of input;
/// otherwise whether the line was longer than `cap`.
fn read_line_capped(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    let mut any = false;
    let mut truncated = false;
    loop {
        let data = match reader.fill_buf() {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if data.is_empty() {
            return Ok(any.then_some(truncated));
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', data) {
            Some(i) => (i + 1, true),
            None => (data.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        if take > room {
            truncated = true;
        }
        buf.extend_from_slice(&data[..take.min(room)]);
        reader.consume(take);
        if done {
            return Ok(Some(truncated));
        }
    }
}

/// A file holding one JSON array: its elements, each parsed as one record.
struct ArrayRecords {
    elements: std::vec::IntoIter<Box<RawValue>>,
    parser: Parser,
}

fn read_array(mut lines: LineReader, path: &Path) -> Result<ArrayRecords, ImportError> {
    let mut text = Vec::new();
    lines
        .reader
        .read_to_end(&mut text)
        .map_err(|e| import_error(path, e))?;
    let elements: Vec<Box<RawValue>> = serde_json::from_slice(&text)
        .map_err(|e| import_error(path, format!("not a JSON array of records: {e}")))?;
    Ok(ArrayRecords {
        elements: elements.into_iter(),
        parser: lines.parser,
    })
}

impl ArrayRecords {
    fn next(&mut self, origin: &Origin, tenant: &str) -> Option<Event> {
        let raw = self.elements.next()?;
        Some(make_event(
            &self.parser,
            raw.get().as_bytes(),
            origin.clone(),
            tenant,
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn capped(input: &str, cap: usize) -> Vec<(String, bool)> {
        let mut reader = Cursor::new(input.as_bytes().to_vec());
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Some(truncated) = read_line_capped(&mut reader, &mut buf, cap).expect("in memory")
        {
            out.push((String::from_utf8_lossy(&buf).into_owned(), truncated));
            buf.clear();
        }
        out
    }

    #[test]
    fn lines_are_capped_and_the_rest_skipped() {
        assert_eq!(
            capped("short\nlonger line\nend", 6),
            vec![
                ("short\n".to_string(), false),
                ("longer".to_string(), true),
                ("end".to_string(), false)
            ]
        );
        assert_eq!(capped("", 6), vec![]);
    }

    #[test]
    fn kinds_by_magic_then_extension() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, data: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, data).expect("write fixture");
            p
        };
        for (name, data, kind) in [
            ("a.log", &b"ElfFile\0rest"[..], ImportKind::Evtx),
            ("b.txt", &[0x1f, 0x8b, 8, 0][..], ImportKind::Gzip),
            ("c.JSONL", &b"{}"[..], ImportKind::Json),
            ("d.log", &b"plain"[..], ImportKind::Text),
            ("e", &b""[..], ImportKind::Text),
        ] {
            let path = write(name, data);
            assert_eq!(classify(&path).kind, kind, "{name}");
        }
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        write("sub/f.ndjson", b"{}\n");
        let found = discover(&[dir.path().to_path_buf()]);
        let names: Vec<String> = found
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(dir.path())
                    .expect("under dir")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            ["a.log", "b.txt", "c.JSONL", "d.log", "e", "sub/f.ndjson"]
        );
    }
}
