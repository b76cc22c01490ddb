//! CSV files with a header row, and plain lists of one indicator a line.
//!
//! CSV columns (header names, case-insensitive; only `value` is required):
//! `value` (or `indicator`, `ioc`, `observable`), `type` (or `kind`), `confidence`,
//! `tags` (`;`, `|` or `,` separated inside the cell), `first_seen`, `last_seen`,
//! `valid_until` (or `expires`), `description` (or `comment`), `attack` (technique ids),
//! `malware`. Without a `type` the kind is guessed from the value. Plain lists take the
//! first word of each line; `#` and `;` start comments; defanged values are refanged.

use crate::IntelError;
use crate::feed::{ParseContext, ParsedFeed, parse_time};
use crate::indicator::{Indicator, IndicatorKind, Reference, guess, normalise_hinted, refang};

/// Parse a CSV document with a header row.
pub fn parse_csv(bytes: &[u8], ctx: &ParseContext<'_>) -> Result<ParsedFeed, IntelError> {
    let text = String::from_utf8_lossy(bytes);
    let mut rows = CsvRows::new(&text);
    let header = loop {
        match rows.next() {
            None => {
                return Err(IntelError::Format {
                    context: format!("csv feed '{}'", ctx.source),
                    reason: "no header row".into(),
                });
            }
            Some((_, r)) if r.iter().all(|c| c.trim().is_empty()) => continue,
            Some((_, r)) if r[0].trim_start().starts_with('#') => continue,
            Some((_, r)) => break r,
        }
    };
    let col = |names: &[&str]| {
        header.iter().position(|h| {
            let h = h.trim().trim_start_matches('#').trim().to_ascii_lowercase();
            names.iter().any(|n| *n == h)
        })
    };
    let Some(value_col) = col(&["value", "indicator", "ioc", "observable"]) else {
        return Err(IntelError::Format {
            context: format!("csv feed '{}'", ctx.source),
            reason: "the header has no 'value' column".into(),
        });
    };
    let type_col = col(&["type", "kind", "indicator_type"]);
    let conf_col = col(&["confidence", "score"]);
    let tags_col = col(&["tags", "tag", "labels"]);
    let first_col = col(&["first_seen", "firstseen", "first seen"]);
    let last_col = col(&["last_seen", "lastseen", "last seen"]);
    let until_col = col(&["valid_until", "expires", "expiry", "expiration"]);
    let desc_col = col(&["description", "comment", "info"]);
    let attack_col = col(&["attack", "technique", "techniques", "mitre"]);
    let malware_col = col(&["malware", "family", "malware_family"]);

    let mut out = ParsedFeed::default();
    for (line, row) in rows {
        let record = format!("line {line}");
        if row.iter().all(|c| c.trim().is_empty()) || row[0].trim_start().starts_with('#') {
            continue;
        }
        let cell = |c: Option<usize>| {
            c.and_then(|i| row.get(i))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        let Some(raw_value) = cell(Some(value_col)) else {
            out.skipped.add(record, "empty value", None);
            continue;
        };
        let kv = match cell(type_col) {
            Some(t) => match IndicatorKind::parse_name(t) {
                Some(hint) => normalise_hinted(hint, &refang(raw_value)),
                None => {
                    out.skipped.add(record, "unknown indicator type", Some(t));
                    continue;
                }
            },
            None => guess(raw_value),
        };
        let (kind, value) = match kv {
            Ok(kv) => kv,
            Err(e) => {
                out.skipped.add(record, "invalid value", Some(&e));
                continue;
            }
        };
        let confidence = match cell(conf_col) {
            None => ctx.default_confidence,
            Some(c) => match c.parse::<f64>() {
                Ok(n) if (0.0..=100.0).contains(&n) => n.round() as u8,
                _ => {
                    out.skipped
                        .add(record, "confidence is not a number 0-100", Some(c));
                    continue;
                }
            },
        };
        let time = |c: Option<usize>| cell(c).and_then(|s| parse_time(Some(&s.into())));
        let last_seen = time(last_col).unwrap_or(ctx.now);
        let first_seen = time(first_col).unwrap_or(last_seen).min(last_seen);
        let mut ind = Indicator {
            kind,
            value,
            source: ctx.source.to_owned(),
            confidence,
            first_seen,
            last_seen,
            valid_until: time(until_col),
            tags: Vec::new(),
            references: Vec::new(),
            description: cell(desc_col).map(str::to_owned),
            external_id: None,
        };
        for t in split_list(cell(tags_col)) {
            ind.add_tag(t);
        }
        for t in split_list(cell(attack_col)) {
            ind.add_reference(Reference::Attack(t.to_ascii_uppercase()));
        }
        for m in split_list(cell(malware_col)) {
            ind.add_reference(Reference::Malware(m.to_owned()));
        }
        out.indicators.push(ind);
    }
    Ok(out)
}

fn split_list(cell: Option<&str>) -> impl Iterator<Item = &str> {
    cell.into_iter()
        .flat_map(|c| c.split([';', '|', ',']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Parse a plain list: one indicator a line, kind guessed.
pub fn parse_plain(bytes: &[u8], ctx: &ParseContext<'_>) -> ParsedFeed {
    let text = String::from_utf8_lossy(bytes);
    let mut out = ParsedFeed::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with("//")
        {
            continue;
        }
        let content = line.split(['#', ';']).next().unwrap_or("");
        let Some(word) = content.split_whitespace().next() else {
            continue;
        };
        match guess(word) {
            Ok((kind, value)) => {
                out.indicators.push(Indicator {
                    kind,
                    value,
                    source: ctx.source.to_owned(),
                    confidence: ctx.default_confidence,
                    first_seen: ctx.now,
                    last_seen: ctx.now,
                    valid_until: None,
                    tags: Vec::new(),
                    references: Vec::new(),
                    description: None,
                    external_id: None,
                });
            }
            Err(e) => out
                .skipped
                .add(format!("line {}", i + 1), "invalid value", Some(&e)),
        }
    }
    out
}

/// RFC 4180 records: quoted fields may hold commas, doubled quotes and newlines.
struct CsvRows<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> CsvRows<'a> {
    fn new(text: &'a str) -> Self {
        CsvRows {
            text: text.trim_start_matches('\u{feff}'),
            pos: 0,
            line: 1,
        }
    }
}

impl Iterator for CsvRows<'_> {
    /// (line number where the record starts, its fields)
    type Item = (usize, Vec<String>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = self.text[self.pos..].char_indices().peekable();
        let mut consumed = self.text.len() - self.pos;
        while let Some((i, c)) = chars.next() {
            if quoted {
                match c {
                    '"' if chars.peek().map(|(_, n)| *n) == Some('"') => {
                        field.push('"');
                        chars.next();
                    }
                    '"' => quoted = false,
                    '\n' => {
                        self.line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.trim().is_empty() => {
                    field.clear();
                    quoted = true;
                }
                ',' => fields.push(std::mem::take(&mut field)),
                '\n' => {
                    self.line += 1;
                    consumed = i + 1;
                    break;
                }
                '\r' => {}
                _ => field.push(c),
            }
        }
        fields.push(field);
        self.pos += consumed;
        Some((start_line, fields))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_split_with_quotes() {
        let text = "a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",x\nlast";
        let rows: Vec<_> = CsvRows::new(text).collect();
        assert_eq!(
            rows,
            vec![
                (1, vec!["a".to_string(), "b,c".into(), "say \"hi\"".into()]),
                (2, vec!["multi\nline".to_string(), "x".into()]),
                (4, vec!["last".to_string()]),
            ]
        );
    }
}
