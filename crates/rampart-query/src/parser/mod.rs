//! The query parser: a hand-written recursive-descent reader over the query text.
//!
//! Lexing is done on demand because the language is context-sensitive: `:` ends a field name
//! but may appear inside a value (`source.ip:fe80::1`, `@timestamp:[2024-01-01T00:00:00Z TO
//! now]`), and `/` starts a regex only right after `field:`.

mod pipes;

pub use pipes::{COMMANDS, default_alias};
#[cfg(test)]
mod tests;

use crate::ast::{Bound, Expr, Literal, Predicate, Search, TextMatch};
use crate::error::ParseError;
use crate::text::{has_wildcard, is_escapable};
use rampart_model::Timestamp;

/// Deepest nesting of parentheses and `NOT`s accepted (keeps recursion bounded).
const MAX_DEPTH: usize = 64;

type PResult<T> = Result<T, ParseError>;

/// Parse a whole search; relative times (`now-1h`) are resolved against `now`.
pub(crate) fn parse_search(text: &str, now: Timestamp) -> PResult<Search> {
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
        now,
    };
    p.skip_ws();
    let filter = if p.at_end() || p.at_pipe() {
        Expr::All
    } else {
        p.parse_or()?
    };
    p.skip_ws();
    if p.peek() == Some(')') {
        return p.fail(p.pos, "unmatched ')'");
    }
    let stages = pipes::parse_stages(&mut p)?;
    Ok(Search { filter, stages })
}

/// Operators recognised between clauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    And,
    Or,
    Not,
}

/// Where a bare word is being read; decides which characters end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordCtx {
    /// Start of a clause: a field name or a free-text term (`:`, `<`, `>` end it).
    Clause,
    /// A value after `field:` (may hold `:`).
    Value,
    /// A range bound (`]` and `}` end it).
    Bound,
}

pub(crate) struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
    now: Timestamp,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// A single `|` (a pipe), not `||` (or).
    fn at_pipe(&self) -> bool {
        self.rest().starts_with('|') && !self.rest().starts_with("||")
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn fail<T>(&self, position: usize, message: impl Into<String>) -> PResult<T> {
        Err(ParseError::new(position, message))
    }

    fn enter(&mut self, at: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail(
                at,
                format!("query is nested too deeply (more than {MAX_DEPTH} levels)"),
            );
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The operator at the cursor, with its length: `AND`/`and`/`&&`, `OR`/`or`/`||`,
    /// `NOT`/`not`/`!`. A keyword must be followed by a space, `(`, `)`, `"` or the end.
    fn peek_keyword(&self) -> Option<(Kw, usize, &'a str)> {
        let rest = self.rest();
        if rest.starts_with("&&") {
            return Some((Kw::And, 2, "&&"));
        }
        if rest.starts_with("||") {
            return Some((Kw::Or, 2, "||"));
        }
        if rest.starts_with('!') && !rest.starts_with("!=") {
            return Some((Kw::Not, 1, "!"));
        }
        let len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let word = &rest[..len];
        let kw = match word {
            "AND" | "and" => Kw::And,
            "OR" | "or" => Kw::Or,
            "NOT" | "not" => Kw::Not,
            _ => return None,
        };
        match rest[len..].chars().next() {
            None | Some('(' | ')' | '"') => Some((kw, len, word)),
            Some(c) if c.is_whitespace() => Some((kw, len, word)),
            _ => None,
        }
    }

    /// A raw word (escapes kept). `\` escapes the next character when it is special.
    fn read_word(&mut self, ctx: WordCtx) -> &'a str {
        let start = self.pos;
        let mut chars = self.rest().char_indices().peekable();
        let mut end = self.rest().len();
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                if chars.peek().is_some_and(|&(_, n)| is_escapable(n)) {
                    chars.next();
                }
                continue;
            }
            let stop = c.is_whitespace()
                || matches!(c, '(' | ')' | '"' | '|')
                || match ctx {
                    WordCtx::Clause => matches!(c, ':' | '<' | '>'),
                    WordCtx::Value => false,
                    WordCtx::Bound => matches!(c, ']' | '}'),
                };
            if stop {
                end = i;
                break;
            }
        }
        self.pos = start + end;
        &self.text[start..start + end]
    }

    /// A `"quoted string"`; `\"` and `\\` are escapes, other backslashes are kept.
    fn read_quoted(&mut self) -> PResult<String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.clone().next() {
                    Some((_, e @ ('"' | '\\'))) => {
                        out.push(e);
                        chars.next();
                    }
                    _ => out.push('\\'),
                },
                c => out.push(c),
            }
        }
        self.fail(open, "unclosed quote: expected a closing '\"'")
    }

    // ---- filter grammar: or > and > unary > primary ----

    pub(crate) fn parse_or(&mut self) -> PResult<Expr> {
        let mut items = vec![self.parse_and()?];
        loop {
            self.skip_ws();
            match self.peek_keyword() {
                Some((Kw::Or, len, _)) => {
                    self.pos += len;
                    items.push(self.parse_and()?);
                }
                _ => break,
            }
        }
        Ok(collapse(items, Expr::Or))
    }

    fn parse_and(&mut self) -> PResult<Expr> {
        let mut items = vec![self.parse_unary()?];
        loop {
            self.skip_ws();
            if self.at_end() || self.peek() == Some(')') || self.at_pipe() {
                break;
            }
            match self.peek_keyword() {
                Some((Kw::Or, _, _)) => break,
                Some((Kw::And, len, _)) => self.pos += len,
                _ => {} // adjacent clauses: implicit AND
            }
            items.push(self.parse_unary()?);
        }
        Ok(collapse(items, Expr::And))
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        self.skip_ws();
        let start = self.pos;
        let negation = match self.peek_keyword() {
            Some((Kw::Not, len, _)) => Some(len),
            _ => self.dash_negation(),
        };
        if let Some(len) = negation {
            self.pos += len;
            self.enter(start)?;
            let inner = self.parse_unary()?;
            self.leave();
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.parse_primary()
    }

    /// `-term`: a dash directly followed by a clause negates it.
    fn dash_negation(&self) -> Option<usize> {
        let mut chars = self.rest().chars();
        (chars.next() == Some('-') && chars.next().is_some_and(|c| !c.is_whitespace())).then_some(1)
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None => self.fail(start, "expected a search term at the end of the query"),
            Some(')') => self.fail(start, "expected a search term before ')'"),
            Some('|') => self.fail(start, "expected a search term before '|'"),
            Some('(') => {
                self.pos += 1;
                self.enter(start)?;
                self.skip_ws();
                if self.peek() == Some(')') {
                    return self.fail(self.pos, "empty parentheses: expected a search term");
                }
                let inner = self.parse_or()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return self.fail(start, "unclosed '(': expected ')'");
                }
                self.pos += 1;
                self.leave();
                Ok(inner)
            }
            Some('"') => Ok(Expr::Text(TextMatch::Phrase(self.read_quoted()?))),
            Some(_) => {
                if let Some((Kw::And | Kw::Or, _, word)) = self.peek_keyword() {
                    return self.fail(start, format!("expected a search term before '{word}'"));
                }
                let word = self.read_word(WordCtx::Clause);
                if word.is_empty() {
                    let c = self.peek().unwrap_or(' ');
                    return self.fail(start, format!("expected a field name before '{c}'"));
                }
                if self.peek() == Some(':') {
                    self.pos += 1;
                    return self.parse_field_clause(word);
                }
                let after_word = self.pos;
                self.skip_ws();
                if let Some(op) = self.peek_comparison() {
                    return self.parse_comparison(unescape(word), op);
                }
                self.pos = after_word;
                if word == "*" {
                    return Ok(Expr::All);
                }
                Ok(Expr::Text(TextMatch::Term(normalize_pattern(word))))
            }
        }
    }

    /// After `field:`.
    fn parse_field_clause(&mut self, raw_field: &str) -> PResult<Expr> {
        let field = unescape(raw_field);
        self.skip_ws();
        let start = self.pos;
        if self.at_end() || self.peek() == Some(')') || self.at_pipe() {
            return self.fail(start, "expected a value after ':'");
        }
        if field == "_exists_" {
            let name = self.read_word(WordCtx::Value);
            if name.is_empty() {
                return self.fail(start, "expected a field name after '_exists_:'");
            }
            return Ok(Expr::Exists {
                field: unescape(name),
            });
        }
        if field == "*" && self.rest().starts_with('*') {
            let save = self.pos;
            if self.read_word(WordCtx::Value) == "*" {
                return Ok(Expr::All);
            }
            self.pos = save;
        }
        self.parse_value(&field, "':'")
    }

    /// One value for `field`: word, phrase, wildcard, regex, range, comparison or group.
    fn parse_value(&mut self, field: &str, after: &str) -> PResult<Expr> {
        self.skip_ws();
        let start = self.pos;
        let predicate = match self.peek() {
            None | Some(')') => return self.fail(start, format!("expected a value after {after}")),
            Some('|') if self.at_pipe() => {
                return self.fail(start, format!("expected a value after {after}"));
            }
            Some('(') => {
                self.pos += 1;
                self.enter(start)?;
                let expr = self.group_or(field)?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return self.fail(
                        start,
                        format!("unclosed '(' in the values of '{field}': expected ')'"),
                    );
                }
                self.pos += 1;
                self.leave();
                return Ok(expr);
            }
            Some('[' | '{') => self.parse_range()?,
            Some('>' | '<') => {
                let op = self.peek_comparison().unwrap_or(Cmp::Gt);
                return self.parse_comparison(field.to_owned(), op);
            }
            Some('/') => Predicate::Regex(self.read_regex()?),
            Some('"') => Predicate::Phrase(self.read_quoted()?),
            Some(_) => {
                let word = self.read_word(WordCtx::Value);
                if let Some((_, len, kw)) = self.keyword_at(start)
                    && len == word.len()
                {
                    return self.fail(
                        start,
                        format!(
                            "expected a value after {after} but found the operator '{kw}' \
                             (quote it to search for the word)"
                        ),
                    );
                }
                if word == "*" {
                    return Ok(Expr::Exists {
                        field: field.to_owned(),
                    });
                }
                if has_wildcard(word) {
                    Predicate::Wildcard(normalize_pattern(word))
                } else {
                    Predicate::Equals(equality_literal(unescape(word)))
                }
            }
        };
        Ok(Expr::Field {
            field: field.to_owned(),
            predicate,
        })
    }

    fn keyword_at(&mut self, at: usize) -> Option<(Kw, usize, &'a str)> {
        let save = self.pos;
        self.pos = at;
        let kw = self.peek_keyword();
        self.pos = save;
        kw
    }

    // ---- grouped values: field:(a OR b AND NOT c); adjacent values are OR-ed ----

    fn group_or(&mut self, field: &str) -> PResult<Expr> {
        let mut items = vec![self.group_and(field)?];
        loop {
            self.skip_ws();
            if self.at_end() || self.peek() == Some(')') || self.at_pipe() {
                break;
            }
            if let Some((Kw::Or, len, _)) = self.peek_keyword() {
                self.pos += len;
            }
            items.push(self.group_and(field)?);
        }
        Ok(collapse(items, Expr::Or))
    }

    fn group_and(&mut self, field: &str) -> PResult<Expr> {
        let mut items = vec![self.group_unary(field)?];
        loop {
            self.skip_ws();
            match self.peek_keyword() {
                Some((Kw::And, len, _)) => {
                    self.pos += len;
                    items.push(self.group_unary(field)?);
                }
                _ => break,
            }
        }
        Ok(collapse(items, Expr::And))
    }

    fn group_unary(&mut self, field: &str) -> PResult<Expr> {
        self.skip_ws();
        let start = self.pos;
        let negation = match self.peek_keyword() {
            Some((Kw::Not, len, _)) => Some(len),
            Some((_, _, word)) => {
                return self.fail(start, format!("expected a value before '{word}'"));
            }
            None => self.dash_negation(),
        };
        if let Some(len) = negation {
            self.pos += len;
            self.enter(start)?;
            let inner = self.group_unary(field)?;
            self.leave();
            return Ok(Expr::Not(Box::new(inner)));
        }
        match self.peek() {
            None => self.fail(start, "expected a value at the end of the query"),
            Some(')') => self.fail(start, "expected a value before ')'"),
            _ => self.parse_value(field, "'('"),
        }
    }

    // ---- ranges and comparisons ----

    fn parse_range(&mut self) -> PResult<Predicate> {
        let open = self.pos;
        let lower_inclusive = self.rest().starts_with('[');
        self.pos += 1;
        self.skip_ws();
        let lower_at = self.pos;
        let lower = self.read_bound()?;
        if let Some(Literal::Str(s)) = &lower
            && s == "TO"
        {
            return self.fail(
                lower_at,
                "expected a lower bound before 'TO' (use * for none)",
            );
        }
        if lower_at == self.pos {
            if self.at_end() {
                return self.fail(open, "unclosed range: expected '[low TO high]'");
            }
            return self.fail(lower_at, "expected a lower bound (use * for none)");
        }
        self.skip_ws();
        let to_at = self.pos;
        let to = self.read_word(WordCtx::Bound);
        if !to.eq_ignore_ascii_case("to") {
            if to.is_empty() && self.at_end() {
                return self.fail(open, "unclosed range: expected 'TO' and an upper bound");
            }
            let found = if to.is_empty() {
                self.peek().map(String::from).unwrap_or_default()
            } else {
                to.to_owned()
            };
            return self.fail(to_at, format!("expected 'TO' in range, found '{found}'"));
        }
        self.skip_ws();
        let upper_at = self.pos;
        if matches!(self.peek(), None | Some(']' | '}')) {
            return self.fail(
                upper_at,
                "expected an upper bound after 'TO' (use * for none)",
            );
        }
        let upper = self.read_bound()?;
        if upper_at == self.pos {
            return self.fail(
                upper_at,
                "expected an upper bound after 'TO' (use * for none)",
            );
        }
        self.skip_ws();
        let upper_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            None => return self.fail(open, "unclosed range: expected ']' or '}'"),
            Some(_) => return self.fail(self.pos, "expected ']' or '}' to close the range"),
        };
        self.pos += 1;
        let bound = |lit: Option<Literal>, inclusive: bool| match (lit, inclusive) {
            (None, _) => Bound::Unbounded,
            (Some(l), true) => Bound::Inclusive(l),
            (Some(l), false) => Bound::Exclusive(l),
        };
        Ok(Predicate::Range {
            lower: bound(lower, lower_inclusive),
            upper: bound(upper, upper_inclusive),
        })
    }

    /// A range bound: `*` (none), a quoted string or a word. Nothing read leaves `pos` alone.
    fn read_bound(&mut self) -> PResult<Option<Literal>> {
        let text = if self.peek() == Some('"') {
            self.read_quoted()?
        } else {
            let word = self.read_word(WordCtx::Bound);
            if word == "*" {
                return Ok(None);
            }
            unescape(word)
        };
        Ok(Some(range_literal(text, self.now)))
    }

    fn peek_comparison(&self) -> Option<Cmp> {
        let rest = self.rest();
        [
            (">=", Cmp::Ge),
            ("<=", Cmp::Le),
            (">", Cmp::Gt),
            ("<", Cmp::Lt),
        ]
        .into_iter()
        .find_map(|(s, op)| rest.starts_with(s).then_some(op))
    }

    /// `field >= value` / `field:>=value`, with the cursor on the operator.
    fn parse_comparison(&mut self, field: String, op: Cmp) -> PResult<Expr> {
        let op_text = op.text();
        self.pos += op_text.len();
        self.skip_ws();
        let start = self.pos;
        if self.at_end() || matches!(self.peek(), Some(')' | '|')) {
            return self.fail(start, format!("expected a value after '{op_text}'"));
        }
        let Some(lit) = self.read_bound()? else {
            return self.fail(
                start,
                format!("expected a value after '{op_text}', not '*'"),
            );
        };
        if start == self.pos {
            return self.fail(start, format!("expected a value after '{op_text}'"));
        }
        let (lower, upper) = match op {
            Cmp::Gt => (Bound::Exclusive(lit), Bound::Unbounded),
            Cmp::Ge => (Bound::Inclusive(lit), Bound::Unbounded),
            Cmp::Lt => (Bound::Unbounded, Bound::Exclusive(lit)),
            Cmp::Le => (Bound::Unbounded, Bound::Inclusive(lit)),
        };
        Ok(Expr::Field {
            field,
            predicate: Predicate::Range { lower, upper },
        })
    }

    /// `/regex/` with the cursor on the opening slash; `\/` is a slash.
    fn read_regex(&mut self) -> PResult<String> {
        let open = self.pos;
        self.pos += 1;
        let mut pattern = String::new();
        let mut chars = self.rest().char_indices();
        let mut closed = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '/' => {
                    closed = Some(i);
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, '/')) => pattern.push('/'),
                    Some((_, e)) => {
                        pattern.push('\\');
                        pattern.push(e);
                    }
                    None => pattern.push('\\'),
                },
                c => pattern.push(c),
            }
        }
        let Some(close) = closed else {
            return self.fail(open, "unclosed regular expression: expected a closing '/'");
        };
        self.pos += close + 1;
        if let Err(reason) = crate::eval::compile_regex(&pattern) {
            return self.fail(open, format!("invalid regular expression: {reason}"));
        }
        Ok(pattern)
    }
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    fn text(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
        }
    }
}

fn collapse(mut items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        items.pop().unwrap_or(Expr::All)
    } else {
        make(items)
    }
}

/// Remove query escapes: `\:` → `:`. A backslash before an ordinary character stays.
pub(crate) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && is_escapable(n)
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// Query escapes to wildcard-pattern form: only `\*`, `\?` and `\\` stay escaped.
pub(crate) fn normalize_pattern(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some(&n) if is_escapable(n) => {
                    chars.next();
                    if matches!(n, '*' | '?' | '\\') {
                        out.push('\\');
                    }
                    out.push(n);
                }
                _ => out.push_str("\\\\"),
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// What an unquoted value reads as in `field:value`. Numbers only when they read back the
/// same (`007` stays text, so it can equal the string "007").
pub(crate) fn equality_literal(text: String) -> Literal {
    if let Ok(i) = text.parse::<i64>()
        && i.to_string() == text
    {
        return Literal::Int(i);
    }
    if let Some(f) = number_text(&text)
        && f.to_string() == text
    {
        return Literal::Float(f);
    }
    match text.as_str() {
        "true" => Literal::Bool(true),
        "false" => Literal::Bool(false),
        _ => Literal::Str(text),
    }
}

/// What a range bound reads as: integer, float, time (`now-1h`, `2024-01-01`, RFC 3339) or text.
pub(crate) fn range_literal(text: String, now: Timestamp) -> Literal {
    if let Ok(i) = text.parse::<i64>() {
        return Literal::Int(i);
    }
    if let Some(f) = number_text(&text) {
        return Literal::Float(f);
    }
    if let Ok(t) = crate::time::parse_time(&text, now) {
        return Literal::Time(t.0);
    }
    Literal::Str(text)
}

/// A finite float written with digits, `.`, `e`, and signs only (not `inf`, `NaN`).
pub(crate) fn number_text(text: &str) -> Option<f64> {
    let numeric = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !numeric {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}
