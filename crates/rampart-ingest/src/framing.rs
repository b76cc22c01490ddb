//! Syslog stream framing: newline-delimited and RFC 6587 octet-counted, detected per frame.

use bytes::{Buf, Bytes, BytesMut};

/// One record cut from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub data: Bytes,
    /// Set when the record was longer than the limit and was cut to this many bytes.
    pub truncated_at: Option<usize>,
    /// Set when the stream ended inside an octet-counted frame: (bytes got, bytes announced).
    pub incomplete: Option<(usize, usize)>,
}

impl Frame {
    fn whole(data: Bytes) -> Self {
        Frame {
            data,
            truncated_at: None,
            incomplete: None,
        }
    }

    /// The note to keep with the event when the frame is not whole.
    pub fn problem(&self) -> Option<String> {
        if let Some(n) = self.truncated_at {
            Some(format!("message truncated at {n} bytes"))
        } else {
            self.incomplete.map(|(got, want)| {
                format!("connection closed inside an octet-counted frame ({got} of {want} bytes)")
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a frame (or inside a newline frame, scanned up to `scanned`).
    Start { scanned: usize },
    /// Discarding the rest of an over-long octet-counted frame.
    SkipCount(usize),
    /// Discarding the rest of an over-long line up to its newline.
    SkipLine,
}

/// Cuts frames out of a byte stream. Frames starting with `<digits><space>` are
/// octet-counted (RFC 6587 §3.4.1); anything else runs to the next `\n`.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    max: usize,
    state: State,
}

/// Longest octet count accepted as a length prefix (10 digits covers any u32).
const MAX_COUNT_DIGITS: usize = 10;

enum Prefix {
    /// `<len> ` with the header length.
    Counted {
        len: usize,
        header: usize,
    },
    /// Only digits so far: wait for more bytes to decide.
    Undecided,
    NotCounted,
}

fn octet_prefix(buf: &[u8]) -> Prefix {
    let digits = buf
        .iter()
        .take(MAX_COUNT_DIGITS + 1)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > MAX_COUNT_DIGITS || buf[0] == b'0' {
        return Prefix::NotCounted;
    }
    match buf.get(digits) {
        None => Prefix::Undecided,
        Some(b' ') => {
            let len = buf[..digits]
                .iter()
                .fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'));
            Prefix::Counted {
                len,
                header: digits + 1,
            }
        }
        Some(_) => Prefix::NotCounted,
    }
}

fn trim_line_end(mut frame: BytesMut) -> Bytes {
    if frame.last() == Some(&b'\n') {
        frame.truncate(frame.len() - 1);
    }
    if frame.last() == Some(&b'\r') {
        frame.truncate(frame.len() - 1);
    }
    frame.freeze()
}

impl FrameDecoder {
    pub fn new(max_message_bytes: usize) -> Self {
        FrameDecoder {
            max: max_message_bytes.max(1),
            state: State::Start { scanned: 0 },
        }
    }

    /// The next complete frame in `buf`, consuming it; `None` when more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        loop {
            match self.state {
                State::SkipCount(remaining) => {
                    let n = remaining.min(buf.len());
                    buf.advance(n);
                    if n < remaining {
                        self.state = State::SkipCount(remaining - n);
                        return None;
                    }
                    self.state = State::Start { scanned: 0 };
                }
                State::SkipLine => match memchr::memchr(b'\n', buf) {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.state = State::Start { scanned: 0 };
                    }
                    None => {
                        buf.clear();
                        return None;
                    }
                },
                State::Start { scanned } => {
                    if scanned == 0 {
                        let blank = buf
                            .iter()
                            .take_while(|b| matches!(b, b'\n' | b'\r' | b'\0'))
                            .count();
                        buf.advance(blank);
                        if buf.is_empty() {
                            return None;
                        }
                        match octet_prefix(buf) {
                            Prefix::Counted { len, header } => {
                                return self.counted(buf, len, header);
                            }
                            Prefix::Undecided => return None,
                            Prefix::NotCounted => {}
                        }
                    }
                    return self.line(buf, scanned);
                }
            }
        }
    }

    fn counted(&mut self, buf: &mut BytesMut, len: usize, header: usize) -> Option<Frame> {
        if len <= self.max {
            if buf.len() < header + len {
                return None;
            }
            buf.advance(header);
            return Some(Frame::whole(buf.split_to(len).freeze()));
        }
        if buf.len() < header + self.max {
            return None;
        }
        buf.advance(header);
        let data = buf.split_to(self.max).freeze();
        self.state = State::SkipCount(len - self.max);
        Some(Frame {
            data,
            truncated_at: Some(self.max),
            incomplete: None,
        })
    }

    fn line(&mut self, buf: &mut BytesMut, scanned: usize) -> Option<Frame> {
        let limit = buf.len().min(self.max + 1);
        match memchr::memchr(b'\n', &buf[scanned.min(limit)..limit]) {
            Some(i) => {
                self.state = State::Start { scanned: 0 };
                Some(Frame::whole(trim_line_end(buf.split_to(scanned + i + 1))))
            }
            None if buf.len() > self.max => {
                // Over-long line: keep the first `max` bytes, drop the rest of the line.
                let data = buf.split_to(self.max).freeze();
                self.state = State::SkipLine;
                Some(Frame {
                    data,
                    truncated_at: Some(self.max),
                    incomplete: None,
                })
            }
            None => {
                self.state = State::Start { scanned: buf.len() };
                None
            }
        }
    }

    /// At end of stream: what is left, if anything. A line without its newline is a
    /// whole record; an octet-counted frame cut short is kept and marked incomplete.
    pub fn finish(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        if let Some(frame) = self.decode(buf) {
            return Some(frame);
        }
        let state = std::mem::replace(&mut self.state, State::Start { scanned: 0 });
        if !matches!(state, State::Start { .. }) || buf.is_empty() {
            buf.clear();
            return None;
        }
        if let Prefix::Counted { len, header } = octet_prefix(buf) {
            buf.advance(header);
            let data = buf.split().freeze();
            return Some(Frame {
                incomplete: Some((data.len(), len)),
                data,
                truncated_at: None,
            });
        }
        Some(Frame::whole(trim_line_end(buf.split())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `chunks` one after another, then end the stream; return (text, note) per frame.
    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<(String, Option<String>)> {
        let mut dec = FrameDecoder::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(f) = dec.decode(&mut buf) {
                out.push(f);
            }
        }
        out.extend(dec.finish(&mut buf));
        out.into_iter()
            .map(|f| (String::from_utf8_lossy(&f.data).into_owned(), f.problem()))
            .collect()
    }

    fn whole(texts: &[&str]) -> Vec<(String, Option<String>)> {
        texts.iter().map(|t| (t.to_string(), None)).collect()
    }

    #[test]
    fn newline_frames_split_across_reads() {
        assert_eq!(
            frames(1024, &[b"<13>a\n<13>b", b"c\r\n\n<13>d\n"]),
            whole(&["<13>a", "<13>bc", "<13>d"])
        );
    }

    #[test]
    fn octet_counted_frames_without_separators() {
        assert_eq!(
            frames(1024, &[b"5 <1>ab3 ", b"xyz", b"11 hello\nworld"]),
            whole(&["<1>ab", "xyz", "hello\nworld"])
        );
    }

    #[test]
    fn framing_is_detected_per_frame() {
        assert_eq!(
            frames(1024, &[b"<1>line one\n4 abcd<2>line two\n"]),
            whole(&["<1>line one", "abcd", "<2>line two"])
        );
    }

    #[test]
    fn digits_not_followed_by_space_are_a_line() {
        assert_eq!(
            frames(1024, &[b"12", b"34:not counted\n0 x\n"]),
            whole(&["1234:not counted", "0 x"])
        );
    }

    #[test]
    fn long_line_is_truncated_and_stream_goes_on() {
        let long = [b'a'; 20];
        let mut chunk = long.to_vec();
        chunk.extend_from_slice(b"\nnext\n");
        assert_eq!(
            frames(8, &[&long[..5], &chunk[5..]]),
            vec![
                (
                    "aaaaaaaa".to_string(),
                    Some("message truncated at 8 bytes".into())
                ),
                ("next".to_string(), None)
            ]
        );
    }

    #[test]
    fn long_counted_frame_is_truncated_and_rest_skipped() {
        assert_eq!(
            frames(4, &[b"10 0123", b"456789", b"2 ok"]),
            vec![
                (
                    "0123".to_string(),
                    Some("message truncated at 4 bytes".into())
                ),
                ("ok".to_string(), None)
            ]
        );
    }

    #[test]
    fn line_of_exactly_max_bytes_is_whole() {
        assert_eq!(frames(4, &[b"abcd\nef\n"]), whole(&["abcd", "ef"]));
    }

    #[test]
    fn end_of_stream_keeps_partial_records() {
        assert_eq!(
            frames(64, &[b"<1>a\n<1>no newline"]),
            whole(&["<1>a", "<1>no newline"])
        );
        assert_eq!(
            frames(64, &[b"20 <1>short"]),
            vec![(
                "<1>short".to_string(),
                Some("connection closed inside an octet-counted frame (8 of 20 bytes)".into())
            )]
        );
        assert_eq!(frames(64, &[b"\r\n\n"]), whole(&[]));
    }
}
