//! The write-ahead log: framed, checksummed records in numbered segment files.
//!
//! A segment is `wal/{first_seq:020}.wal`; its records carry the sequence numbers
//! `first_seq, first_seq + 1, …` in file order, so a record's sequence number is implied by
//! its position and the name of its segment anchors every segment independently. A record
//! is `[len u32 LE][crc32 u32 LE][payload]`, the checksum covering the payload.
//!
//! Recovery reads the segments in order. A torn or corrupt tail of the newest segment (what
//! a crash during a write leaves) is truncated at the last good record. A record whose
//! checksum fails while the framing around it is intact is reported and skipped, and the
//! records after it are still read; where the framing itself is lost inside an older
//! segment, the rest of that segment is reported lost and reading resumes at the next
//! segment.

use crate::error::StoreError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bytes of the record header: length and checksum.
pub(crate) const HEADER_LEN: usize = 8;
/// A record longer than this is taken as garbage framing, not as a record.
pub(crate) const MAX_RECORD_LEN: u32 = 256 * 1024 * 1024;

/// Append one framed record holding `payload` to `out`.
pub(crate) fn frame_into(out: &mut Vec<u8>, payload: &[u8]) {
    // Callers never produce a payload anywhere near 4 GiB; `append` rejects larger ones.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The event a record's payload holds (the one decoder replay and consumers share).
pub(crate) fn decode(payload: &[u8]) -> Result<rampart_model::Event, serde_json::Error> {
    serde_json::from_slice(payload)
}

/// One segment file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    pub first_seq: u64,
    pub path: PathBuf,
}

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.wal"))
}

/// The segment files in `dir`, oldest first. Files with other names are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>, StoreError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        if stem.len() != 20 {
            continue;
        }
        if let Ok(first_seq) = stem.parse::<u64>() {
            out.push(SegmentFile {
                first_seq,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| s.first_seq);
    Ok(out)
}

/// Total size in bytes and number of the segment files.
pub(crate) fn disk_usage(dir: &Path) -> (u64, u64) {
    match list_segments(dir) {
        Ok(segments) => {
            let bytes = segments
                .iter()
                .filter_map(|s| std::fs::metadata(&s.path).ok())
                .map(|m| m.len())
                .sum();
            (bytes, segments.len() as u64)
        }
        Err(_) => (0, 0),
    }
}

/// What recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RecoveryReport {
    /// Records handed to the callback (sequence number ≥ the requested start).
    pub replayed: u64,
    /// Highest sequence number seen in any segment, 0 when the log is empty.
    pub last_seq: u64,
    /// Records skipped because their checksum failed.
    pub corrupt_records: u64,
    /// Bytes cut off the torn tail of the newest segment.
    pub truncated_bytes: u64,
    /// Bytes of older segments that could not be framed and were skipped.
    pub lost_bytes: u64,
}

/// How one segment's bytes split into records.
#[derive(Debug, Default, PartialEq, Eq)]
struct ScanOutcome {
    /// Offset just past the last well-framed record.
    good_len: usize,
    records: u64,
    corrupt: u64,
}

/// Walk the records in `data`, calling `f(index, payload)` for each good one (in order).
/// The index counts skipped corrupt records too, so it stays aligned with sequence numbers.
fn scan_segment(
    data: &[u8],
    mut f: impl FnMut(u64, &[u8]) -> Result<(), StoreError>,
) -> Result<ScanOutcome, StoreError> {
    let mut pos = 0usize;
    let mut index = 0u64;
    let mut corrupt = 0u64;
    let mut good_len = 0usize;
    while data.len() - pos >= HEADER_LEN {
        let len = u32::from_le_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
        let crc = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]]);
        // An empty record is never written; zeros are what a crash leaves in preallocated space.
        if len == 0 || len > MAX_RECORD_LEN {
            break;
        }
        let start = pos + HEADER_LEN;
        let end = start + len as usize;
        if end > data.len() {
            break;
        }
        let payload = &data[start..end];
        if crc32fast::hash(payload) == crc {
            f(index, payload)?;
        } else if end == data.len() {
            // A bad checksum on the very last record is a torn write, not mid-log damage.
            break;
        } else {
            corrupt += 1;
        }
        index += 1;
        pos = end;
        good_len = end;
    }
    Ok(ScanOutcome {
        good_len,
        records: index,
        corrupt,
    })
}

/// Read every record with sequence number ≥ `from_seq`, oldest first, and hand it to `f`.
///
/// The torn tail of the newest segment is truncated on disk; a segment left without any
/// record is removed. Returns what was found.
pub(crate) fn recover(
    dir: &Path,
    from_seq: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), StoreError>,
) -> Result<RecoveryReport, StoreError> {
    let segments = list_segments(dir)?;
    let mut report = RecoveryReport::default();
    let count = segments.len();
    for (i, segment) in segments.iter().enumerate() {
        let is_last = i + 1 == count;
        let next_first = segments.get(i + 1).map(|s| s.first_seq);
        // A segment wholly below `from_seq` (the next one starts at or before it) needs no read.
        if let Some(next) = next_first
            && next <= from_seq
        {
            report.last_seq = report.last_seq.max(next.saturating_sub(1));
            continue;
        }
        let data = std::fs::read(&segment.path).map_err(|e| StoreError::io(&segment.path, e))?;
        let first_seq = segment.first_seq;
        let mut replayed = 0u64;
        let outcome = scan_segment(&data, |index, payload| {
            let seq = first_seq + index;
            if seq >= from_seq {
                replayed += 1;
                f(seq, payload)?;
            }
            Ok(())
        })?;
        report.replayed += replayed;
        if outcome.corrupt > 0 {
            tracing::error!(
                segment = %segment.path.display(),
                corrupt = outcome.corrupt,
                "write-ahead log records failed their checksum and were skipped"
            );
            report.corrupt_records += outcome.corrupt;
        }
        if outcome.records > 0 {
            report.last_seq = report.last_seq.max(first_seq + outcome.records - 1);
        }
        let rest = (data.len() - outcome.good_len) as u64;
        if rest > 0 {
            if is_last {
                tracing::warn!(
                    segment = %segment.path.display(),
                    bytes = rest,
                    "truncating torn tail of the write-ahead log"
                );
                truncate(&segment.path, outcome.good_len as u64)?;
                report.truncated_bytes += rest;
            } else {
                tracing::error!(
                    segment = %segment.path.display(),
                    bytes = rest,
                    "write-ahead log segment has unframable bytes; the rest of it is lost"
                );
                report.lost_bytes += rest;
            }
        }
        if is_last && outcome.records == 0 {
            std::fs::remove_file(&segment.path).map_err(|e| StoreError::io(&segment.path, e))?;
            sync_dir(dir)?;
        }
    }
    Ok(report)
}

fn truncate(path: &Path, len: u64) -> Result<(), StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    file.set_len(len).map_err(|e| StoreError::io(path, e))?;
    file.sync_all().map_err(|e| StoreError::io(path, e))
}

/// Make a directory's entries (files created or removed in it) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Remove every segment whose records all have sequence numbers ≤ `committed`.
/// The newest segment is always kept: the writer appends to it.
pub(crate) fn remove_committed(dir: &Path, committed: u64) -> Result<u64, StoreError> {
    let segments = list_segments(dir)?;
    let mut removed = 0;
    for pair in segments.windows(2) {
        if pair[1].first_seq.saturating_sub(1) <= committed {
            std::fs::remove_file(&pair[0].path).map_err(|e| StoreError::io(&pair[0].path, e))?;
            removed += 1;
        } else {
            break;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Appends framed records to the newest segment, rolling to a new one past a size.
pub(crate) struct WalWriter {
    dir: PathBuf,
    segment_bytes: u64,
    fsync: bool,
    file: File,
    file_path: PathBuf,
    file_len: u64,
    next_seq: u64,
}

impl WalWriter {
    /// Start a fresh segment whose first record will be `next_seq`.
    pub(crate) fn create(
        dir: &Path,
        next_seq: u64,
        segment_bytes: u64,
        fsync: bool,
    ) -> Result<Self, StoreError> {
        let (file, file_path) = Self::new_segment(dir, next_seq)?;
        Ok(WalWriter {
            dir: dir.to_owned(),
            segment_bytes: segment_bytes.max(1),
            fsync,
            file,
            file_path,
            file_len: 0,
            next_seq,
        })
    }

    fn new_segment(dir: &Path, first_seq: u64) -> Result<(File, PathBuf), StoreError> {
        let path = segment_path(dir, first_seq);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        sync_dir(dir)?;
        Ok((file, path))
    }

    /// Write `count` records already framed in `framed`; returns the first's sequence number.
    /// Nothing is durable until [`WalWriter::sync`].
    pub(crate) fn write(&mut self, framed: &[u8], count: u64) -> Result<u64, StoreError> {
        if self.file_len >= self.segment_bytes && self.file_len > 0 {
            self.roll()?;
        }
        self.file
            .write_all(framed)
            .map_err(|e| StoreError::io(&self.file_path, e))?;
        self.file_len += framed.len() as u64;
        let first = self.next_seq;
        self.next_seq += count;
        Ok(first)
    }

    fn roll(&mut self) -> Result<(), StoreError> {
        self.sync()?;
        let (file, path) = Self::new_segment(&self.dir, self.next_seq)?;
        self.file = file;
        self.file_path = path;
        self.file_len = 0;
        Ok(())
    }

    /// Make everything written so far durable (fdatasync), unless fsync is disabled.
    pub(crate) fn sync(&mut self) -> Result<(), StoreError> {
        if self.fsync {
            self.file
                .sync_data()
                .map_err(|e| StoreError::io(&self.file_path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            frame_into(&mut out, p);
        }
        out
    }

    fn collect(data: &[u8]) -> (Vec<(u64, Vec<u8>)>, ScanOutcome) {
        let mut seen = Vec::new();
        let outcome = scan_segment(data, |i, p| {
            seen.push((i, p.to_vec()));
            Ok(())
        })
        .unwrap();
        (seen, outcome)
    }

    /// (description, bytes, expected (index, payload) pairs, expected corrupt count, expected good_len)
    type ScanCase<'a> = (&'a str, Vec<u8>, Vec<(u64, &'a [u8])>, u64, usize);

    #[test]
    fn scan_cases() {
        let good = framed(&[b"one", b"two", b"three"]);
        let mut flipped_middle = good.clone();
        flipped_middle[HEADER_LEN + 3 + HEADER_LEN] ^= 0xff; // first byte of "two"
        let mut flipped_last = good.clone();
        let last = flipped_last.len() - 1;
        flipped_last[last] ^= 0xff;
        let mut zero_tail = good.clone();
        zero_tail.extend_from_slice(&[0u8; 64]);
        let cases: Vec<ScanCase<'_>> = vec![
            (
                "intact",
                good.clone(),
                vec![(0, b"one"), (1, b"two"), (2, b"three")],
                0,
                good.len(),
            ),
            (
                "cut mid-payload",
                good[..good.len() - 2].to_vec(),
                vec![(0, b"one"), (1, b"two")],
                0,
                good.len() - 5 - HEADER_LEN,
            ),
            (
                "cut mid-header",
                good[..HEADER_LEN + 3 + 5].to_vec(),
                vec![(0, b"one")],
                0,
                HEADER_LEN + 3,
            ),
            (
                "bad checksum in the middle is skipped",
                flipped_middle,
                vec![(0, b"one"), (2, b"three")],
                1,
                good.len(),
            ),
            (
                "bad checksum on the last record is a torn tail",
                flipped_last,
                vec![(0, b"one"), (1, b"two")],
                0,
                good.len() - 5 - HEADER_LEN,
            ),
            (
                "zero-filled tail",
                zero_tail,
                vec![(0, b"one"), (1, b"two"), (2, b"three")],
                0,
                good.len(),
            ),
            ("empty", Vec::new(), vec![], 0, 0),
        ];
        for (what, data, expected, corrupt, good_len) in cases {
            let (seen, outcome) = collect(&data);
            let expected: Vec<(u64, Vec<u8>)> =
                expected.into_iter().map(|(i, p)| (i, p.to_vec())).collect();
            assert_eq!(seen, expected, "{what}");
            assert_eq!(outcome.corrupt, corrupt, "{what}");
            assert_eq!(outcome.good_len, good_len, "{what}");
        }
    }

    #[test]
    fn writer_rolls_and_recovery_truncates_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(dir.path(), 1, 20, true).unwrap();
        for i in 0..5u8 {
            let payload = vec![b'a' + i; 10];
            let first = w.write(&framed(&[&payload]), 1).unwrap();
            assert_eq!(first, u64::from(i) + 1);
            w.sync().unwrap();
        }
        let segments = list_segments(dir.path()).unwrap();
        assert_eq!(
            segments.iter().map(|s| s.first_seq).collect::<Vec<_>>(),
            vec![1, 3, 5]
        );
        // Tear the newest segment's only record.
        let last = &segments[2].path;
        let len = std::fs::metadata(last).unwrap().len();
        truncate(last, len - 3).unwrap();
        let mut seen = Vec::new();
        let report = recover(dir.path(), 2, |seq, p| {
            seen.push((seq, p[0]));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![(2, b'b'), (3, b'c'), (4, b'd')]);
        assert_eq!(report.last_seq, 4);
        assert_eq!(report.truncated_bytes, len - 3);
        // The emptied newest segment is gone; removing committed ones keeps the newest.
        assert_eq!(list_segments(dir.path()).unwrap().len(), 2);
        assert_eq!(remove_committed(dir.path(), 4).unwrap(), 1);
        assert_eq!(list_segments(dir.path()).unwrap()[0].first_seq, 3);
    }
}
