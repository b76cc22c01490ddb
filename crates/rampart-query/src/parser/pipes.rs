//! Pipe stages after the filter: `| stats …`, `| top …`, `| timechart …`, `| sort …` ….

use super::{PResult, Parser};
use crate::ast::{AggFunction, Aggregation, SortKey, Stage};
use crate::time::parse_duration;

/// The commands a stage may start with, for error messages.
pub const COMMANDS: &[&str] = &[
    "stats",
    "top",
    "rare",
    "timechart",
    "sort",
    "head",
    "tail",
    "fields",
    "where",
];

const AGGREGATIONS: &str = "count(), dc(field), distinct_count(field), sum(field), avg(field), \
                            min(field), max(field)";

const DEFAULT_LIMIT: usize = 10;
const DEFAULT_SPAN_NANOS: i64 = 3_600_000_000_000;

/// Stages from the cursor (on `|` or at the end) to the end of the text.
pub(super) fn parse_stages(p: &mut Parser<'_>) -> PResult<Vec<Stage>> {
    let mut stages = Vec::new();
    loop {
        p.skip_ws();
        if p.at_end() {
            return Ok(stages);
        }
        if !p.at_pipe() {
            let found = p.peek().unwrap_or(' ');
            return p.fail(
                p.pos,
                format!("unexpected '{found}': expected '|' or the end of the query"),
            );
        }
        p.pos += 1;
        p.skip_ws();
        let name_at = p.pos;
        let name = p.read_ident();
        let stage = match name.to_ascii_lowercase().as_str() {
            "" => {
                return p.fail(
                    name_at,
                    format!(
                        "expected a command after '|' (one of: {})",
                        COMMANDS.join(", ")
                    ),
                );
            }
            "stats" => {
                let aggs = parse_aggs(p, "stats")?;
                let by = parse_by(p)?;
                check_unique(p, name_at, &by, &aggs)?;
                Stage::Stats { aggs, by }
            }
            "top" => {
                let (limit, fields) = parse_top(p, "top")?;
                Stage::Top { limit, fields }
            }
            "rare" => {
                let (limit, fields) = parse_top(p, "rare")?;
                Stage::Rare { limit, fields }
            }
            "timechart" => parse_timechart(p, name_at)?,
            "sort" => Stage::Sort {
                keys: parse_sort(p)?,
            },
            "head" => Stage::Head {
                limit: parse_count(p, "head")?,
            },
            "tail" => Stage::Tail {
                limit: parse_count(p, "tail")?,
            },
            "fields" => Stage::Fields {
                fields: parse_columns(p, "fields")?,
            },
            "where" => {
                p.skip_ws();
                if p.at_end() || p.at_pipe() {
                    return p.fail(
                        p.pos,
                        "expected a filter after 'where', e.g. `where count > 10`",
                    );
                }
                Stage::Where {
                    filter: p.parse_or()?,
                }
            }
            _ => {
                return p.fail(
                    name_at,
                    format!(
                        "unknown command '{name}'; known commands: {}",
                        COMMANDS.join(", ")
                    ),
                );
            }
        };
        stages.push(stage);
        p.skip_ws();
        if !p.at_end() && !p.at_pipe() {
            let found = p.peek_word();
            let found = if found.is_empty() {
                p.peek().map(String::from).unwrap_or_default()
            } else {
                found.to_owned()
            };
            return p.fail(
                p.pos,
                format!(
                    "unexpected '{found}' after '{name}': expected '|' or the end of the query"
                ),
            );
        }
    }
}

impl<'a> Parser<'a> {
    /// Letters, digits and `_`.
    fn read_ident(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// The next run of characters up to a space, `,`, `|`, `(` or `)`, without consuming it.
    fn peek_word(&self) -> &'a str {
        let rest = self.rest();
        let len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | '|' | '(' | ')'))
            .unwrap_or(rest.len());
        &rest[..len]
    }

    /// Consume `word` (case-insensitive) when it is the next whole word.
    fn eat_word(&mut self, word: &str) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek_word().eq_ignore_ascii_case(word) {
            self.pos += word.len();
            return true;
        }
        self.pos = save;
        false
    }

    /// A column or field name: a `"quoted name"`, or characters up to a space, `,` or `|`
    /// (so `dc(user.name)` is one name).
    fn read_column(&mut self) -> PResult<String> {
        if self.peek() == Some('"') {
            return self.read_quoted();
        }
        let rest = self.rest();
        let len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | '|'))
            .unwrap_or(rest.len());
        self.pos += len;
        Ok(rest[..len].to_owned())
    }

    /// Skip spaces and one optional comma.
    fn skip_comma(&mut self) {
        self.skip_ws();
        if self.peek() == Some(',') {
            self.pos += 1;
            self.skip_ws();
        }
    }

    fn at_stage_end(&self) -> bool {
        self.at_end() || self.at_pipe()
    }
}

/// Aggregations up to `by`, `|` or the end; at least one.
fn parse_aggs(p: &mut Parser<'_>, command: &str) -> PResult<Vec<Aggregation>> {
    let mut aggs = Vec::new();
    loop {
        p.skip_ws();
        if p.at_stage_end() || p.peek_word().eq_ignore_ascii_case("by") {
            break;
        }
        aggs.push(parse_agg(p)?);
        p.skip_comma();
    }
    if aggs.is_empty() {
        return p.fail(
            p.pos,
            format!("expected an aggregation after '{command}': one of {AGGREGATIONS}"),
        );
    }
    Ok(aggs)
}

fn parse_agg(p: &mut Parser<'_>) -> PResult<Aggregation> {
    let start = p.pos;
    let name = p.read_ident();
    if name.is_empty() {
        let found = p.peek().unwrap_or(' ');
        return p.fail(
            start,
            format!("expected an aggregation, found '{found}': one of {AGGREGATIONS}"),
        );
    }
    let lname = name.to_ascii_lowercase();
    let after_name = p.pos;
    p.skip_ws();
    let arg = if p.peek() == Some('(') {
        let open = p.pos;
        p.pos += 1;
        p.skip_ws();
        let rest = p.rest();
        let len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | ',' | '|'))
            .unwrap_or(rest.len());
        p.pos += len;
        let arg = &rest[..len];
        p.skip_ws();
        if p.peek() != Some(')') {
            let at = if p.at_end() { open } else { p.pos };
            return p.fail(at, format!("expected ')' to close '{name}('"));
        }
        p.pos += 1;
        (!arg.is_empty()).then(|| arg.to_owned())
    } else {
        p.pos = after_name;
        None
    };
    let function = match (lname.as_str(), arg) {
        ("count" | "c", None) => AggFunction::Count,
        ("count" | "c", Some(_)) => {
            return p.fail(
                start,
                "count() takes no field: use dc(field) for distinct values, \
                 or add `field:*` to the filter to count events that have it",
            );
        }
        ("dc" | "distinct_count", Some(f)) => AggFunction::DistinctCount(f),
        ("sum", Some(f)) => AggFunction::Sum(f),
        ("avg" | "mean", Some(f)) => AggFunction::Avg(f),
        ("min", Some(f)) => AggFunction::Min(f),
        ("max", Some(f)) => AggFunction::Max(f),
        ("dc" | "distinct_count" | "sum" | "avg" | "mean" | "min" | "max", None) => {
            return p.fail(
                start,
                format!("{name}() needs a field, e.g. {lname}(source.bytes)"),
            );
        }
        _ => {
            return p.fail(
                start,
                format!("unknown aggregation '{name}'; known: {AGGREGATIONS}"),
            );
        }
    };
    let alias = if p.eat_word("as") {
        p.skip_ws();
        let at = p.pos;
        let alias = p.read_column()?;
        if alias.is_empty() {
            return p.fail(at, "expected a column name after 'as'");
        }
        alias
    } else {
        default_alias(&function)
    };
    Ok(Aggregation { function, alias })
}

/// The column name an aggregation gets without `as`.
pub fn default_alias(function: &AggFunction) -> String {
    match function {
        AggFunction::Count => "count".to_owned(),
        AggFunction::DistinctCount(f) => format!("dc({f})"),
        AggFunction::Sum(f) => format!("sum({f})"),
        AggFunction::Avg(f) => format!("avg({f})"),
        AggFunction::Min(f) => format!("min({f})"),
        AggFunction::Max(f) => format!("max({f})"),
    }
}

/// `by f1, f2` (commas optional) or nothing.
fn parse_by(p: &mut Parser<'_>) -> PResult<Vec<String>> {
    if !p.eat_word("by") {
        return Ok(Vec::new());
    }
    parse_columns(p, "by")
}

/// One or more column names separated by commas or spaces.
fn parse_columns(p: &mut Parser<'_>, after: &str) -> PResult<Vec<String>> {
    let mut cols = Vec::new();
    loop {
        p.skip_ws();
        if p.at_stage_end() {
            break;
        }
        let at = p.pos;
        let col = p.read_column()?;
        if col.is_empty() {
            return p.fail(at, format!("expected a field name after '{after}'"));
        }
        cols.push(col);
        p.skip_comma();
    }
    if cols.is_empty() {
        return p.fail(p.pos, format!("expected a field name after '{after}'"));
    }
    Ok(cols)
}

fn check_unique(p: &Parser<'_>, at: usize, by: &[String], aggs: &[Aggregation]) -> PResult<()> {
    let names = by.iter().chain(aggs.iter().map(|a| &a.alias));
    for (i, name) in names.clone().enumerate() {
        if names.clone().take(i).any(|n| n == name) {
            return p.fail(
                at,
                format!("column '{name}' appears twice; rename one with `as`"),
            );
        }
    }
    Ok(())
}

/// `top [N] f1, f2` / `top limit=N f`.
fn parse_top(p: &mut Parser<'_>, command: &str) -> PResult<(usize, Vec<String>)> {
    p.skip_ws();
    let at = p.pos;
    let word = p.peek_word();
    let number = match word.strip_prefix("limit=") {
        Some(n) => Some(n),
        None if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) => Some(word),
        None => None,
    };
    let mut limit = DEFAULT_LIMIT;
    if let Some(number) = number {
        limit = match number.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return p.fail(
                    at,
                    format!("invalid limit '{number}' for '{command}': expected a number from 1"),
                );
            }
        };
        p.pos += word.len();
    }
    let fields = parse_columns(p, command)?;
    Ok((limit, fields))
}

/// `timechart [span=1h] [aggs] [by field]`.
fn parse_timechart(p: &mut Parser<'_>, name_at: usize) -> PResult<Stage> {
    let mut span_nanos = DEFAULT_SPAN_NANOS;
    loop {
        p.skip_ws();
        let at = p.pos;
        let word = p.peek_word();
        let Some((key, value)) = word.split_once('=') else {
            break;
        };
        if !key.eq_ignore_ascii_case("span") {
            return p.fail(
                at,
                format!("unknown timechart option '{key}'; known: span (e.g. span=5m)"),
            );
        }
        span_nanos = parse_duration(value).filter(|n| *n > 0).ok_or_else(|| {
            crate::error::ParseError::new(
                at + key.len() + 1,
                format!(
                    "invalid span '{value}': expected a positive number followed by s, m, h or d \
                     (e.g. span=5m)"
                ),
            )
        })?;
        p.pos += word.len();
    }
    p.skip_ws();
    let aggs = if p.at_stage_end() || p.peek_word().eq_ignore_ascii_case("by") {
        vec![Aggregation {
            function: AggFunction::Count,
            alias: "count".to_owned(),
        }]
    } else {
        parse_aggs(p, "timechart")?
    };
    let by_at = p.pos;
    let mut by = parse_by(p)?;
    if by.len() > 1 {
        return p.fail(by_at, "timechart splits by one field only");
    }
    check_unique(p, name_at, &[], &aggs)?;
    Ok(Stage::Timechart {
        span_nanos,
        aggs,
        by: by.pop(),
    })
}

/// `sort -f1, f2 desc, +f3`.
fn parse_sort(p: &mut Parser<'_>) -> PResult<Vec<SortKey>> {
    let mut keys = Vec::new();
    loop {
        p.skip_ws();
        if p.at_stage_end() {
            break;
        }
        let at = p.pos;
        let mut descending = match p.peek() {
            Some('-') => {
                p.pos += 1;
                true
            }
            Some('+') => {
                p.pos += 1;
                false
            }
            _ => false,
        };
        let field = p.read_column()?;
        if field.is_empty() {
            return p.fail(at, "expected a field name to sort by");
        }
        if p.eat_word("desc") {
            descending = true;
        } else if p.eat_word("asc") {
            descending = false;
        }
        keys.push(SortKey { field, descending });
        p.skip_comma();
    }
    if keys.is_empty() {
        return p.fail(p.pos, "expected a field name after 'sort'");
    }
    Ok(keys)
}

/// The optional count after `head` / `tail`.
fn parse_count(p: &mut Parser<'_>, command: &str) -> PResult<usize> {
    p.skip_ws();
    if p.at_stage_end() {
        return Ok(DEFAULT_LIMIT);
    }
    let at = p.pos;
    let word = p.peek_word();
    match word.parse::<usize>() {
        Ok(n) if word.bytes().all(|b| b.is_ascii_digit()) => {
            p.pos += word.len();
            Ok(n)
        }
        _ => p.fail(
            at,
            format!("expected a number after '{command}', found '{word}'"),
        ),
    }
}
