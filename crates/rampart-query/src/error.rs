//! Errors: [`ParseError`] points at a byte of the query text; [`QueryError`] is the crate's error.

use serde::Serialize;

/// A query that could not be read, with the byte offset of the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("position {position}: {message}")]
pub struct ParseError {
    /// Byte offset into the query text.
    pub position: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(position: usize, message: impl Into<String>) -> Self {
        ParseError {
            position,
            message: message.into(),
        }
    }

    /// The line of `text` holding the error, with a caret under the offending character:
    ///
    /// ```text
    /// host.name: AND web01
    ///            ^ position 11: expected a value after ':' …
    /// ```
    pub fn render(&self, text: &str) -> String {
        let pos = floor_char_boundary(text, self.position.min(text.len()));
        let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let line = &text[line_start..line_end];
        // Keep tabs so the caret lines up with what a terminal shows.
        let pad: String = text[line_start..pos]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("{line}\n{pad}^ {self}")
    }
}

fn floor_char_boundary(text: &str, mut pos: usize) -> usize {
    while pos > 0 && !text.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("invalid query: {0}")]
    Parse(#[from] ParseError),
    #[error("invalid regular expression /{pattern}/: {reason}")]
    Regex { pattern: String, reason: String },
    #[error(
        "timechart with span {span} over {from} .. {to} would produce {buckets} buckets \
         (limit {limit}); use a larger span or a shorter time range"
    )]
    TooManyBuckets {
        span: String,
        from: String,
        to: String,
        buckets: u64,
        limit: u64,
    },
    #[error("invalid timechart span of {0} nanoseconds: it must be positive")]
    BadSpan(i64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_puts_caret_under_position() {
        let cases: &[(&str, usize, &str)] = &[
            ("host.name:", 10, "host.name:\n          ^ position 10: m"),
            ("a\nb:(c", 4, "b:(c\n  ^ position 4: m"),
            ("\tx y", 3, "\tx y\n\t  ^ position 3: m"),
            ("é:", 1, "é:\n^ position 1: m"),
            ("ab", 99, "ab\n  ^ position 99: m"),
        ];
        for (text, pos, want) in cases {
            let got = ParseError::new(*pos, "m").render(text);
            assert_eq!(&got, want, "render of {text:?} at {pos}");
        }
    }

    #[test]
    fn display_matches_documented_form() {
        let e = ParseError::new(17, "expected a value after ':'");
        assert_eq!(e.to_string(), "position 17: expected a value after ':'");
    }
}
