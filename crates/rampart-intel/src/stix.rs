//! STIX 2.1 bundles: `indicator` objects with the common comparison patterns, their
//! relationships to `malware` and `attack-pattern` objects.
//!
//! Supported patterns are one or more equality comparisons joined by `OR` (inside one
//! observation or across observations, optionally in parentheses), `IN (…)` lists and
//! `ipv4-addr:value ISSUBSET '10.0.0.0/8'`. Object paths: `ipv4-addr:value`,
//! `ipv6-addr:value`, `domain-name:value`, `url:value`, `email-addr:value`,
//! `email-message:from_ref.value`, `email-message:sender_ref.value`,
//! `file:hashes.MD5|'SHA-1'|'SHA-256'` (quoted or not, with or without the dash),
//! `network-traffic:dst_ref.value`/`src_ref.value` (kind from the value). Everything
//! else — `AND`, `NOT`, `LIKE`, `MATCHES`, `FOLLOWEDBY`, qualifiers such as `WITHIN`,
//! other objects — is skipped with a counted reason, since matching part of such a
//! pattern would raise hits the pattern does not mean.

use crate::IntelError;
use crate::feed::{ParseContext, ParsedFeed, parse_time};
use crate::indicator::{Indicator, IndicatorKind, KindHint, Reference, normalise_hinted};
use serde_json::Value;
use std::collections::HashMap;

/// Parse a STIX 2.1 bundle (or a bare JSON array of objects).
pub fn parse_bundle(bytes: &[u8], ctx: &ParseContext<'_>) -> Result<ParsedFeed, IntelError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| IntelError::Json {
        context: format!("stix bundle of feed '{}'", ctx.source),
        source: e,
    })?;
    let objects = match &doc {
        Value::Array(a) => a.as_slice(),
        Value::Object(o) => match o.get("objects") {
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => {
                return Err(IntelError::Format {
                    context: format!("stix bundle of feed '{}'", ctx.source),
                    reason: "'objects' is not an array".into(),
                });
            }
            None if o.get("type").and_then(Value::as_str) == Some("indicator") => {
                std::slice::from_ref(&doc)
            }
            None => &[],
        },
        _ => {
            return Err(IntelError::Format {
                context: format!("stix bundle of feed '{}'", ctx.source),
                reason: "not a JSON object or array".into(),
            });
        }
    };
    Ok(parse_objects(objects, ctx))
}

/// Parse a list of STIX objects (a bundle's `objects`, or a TAXII `objects` page).
pub fn parse_objects(objects: &[Value], ctx: &ParseContext<'_>) -> ParsedFeed {
    let mut out = ParsedFeed::default();
    // Referenced objects by id: what an indicator `indicates`.
    let mut refs_of: HashMap<&str, Vec<Reference>> = HashMap::new();
    let mut targets: HashMap<&str, Vec<Reference>> = HashMap::new();
    for obj in objects {
        let Some(id) = obj.get("id").and_then(Value::as_str) else {
            continue;
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("attack-pattern") => {
                let ids = attack_ids(obj);
                if !ids.is_empty() {
                    targets.insert(id, ids.into_iter().map(Reference::Attack).collect());
                }
            }
            Some("malware") => {
                if let Some(name) = obj.get("name").and_then(Value::as_str) {
                    targets.insert(id, vec![Reference::Malware(name.to_owned())]);
                }
            }
            _ => {}
        }
    }
    for obj in objects {
        if obj.get("type").and_then(Value::as_str) != Some("relationship") {
            continue;
        }
        let rel = obj.get("relationship_type").and_then(Value::as_str);
        let (Some(src), Some(dst)) = (
            obj.get("source_ref").and_then(Value::as_str),
            obj.get("target_ref").and_then(Value::as_str),
        ) else {
            continue;
        };
        if !matches!(rel, Some("indicates") | Some("related-to")) {
            continue;
        }
        if let Some(t) = targets.get(dst) {
            refs_of.entry(src).or_default().extend(t.iter().cloned());
        }
    }
    for (i, obj) in objects.iter().enumerate() {
        let Some(map) = obj.as_object() else {
            out.skipped
                .add(format!("object {i}"), "not a JSON object", None);
            continue;
        };
        if map.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        let id = map.get("id").and_then(Value::as_str).unwrap_or("");
        let record = if id.is_empty() {
            format!("object {i}")
        } else {
            id.to_owned()
        };
        let refs = refs_of.get(id).map(Vec::as_slice).unwrap_or(&[]);
        indicator_object(obj, &record, refs, ctx, &mut out);
    }
    out
}

fn attack_ids(obj: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    if let Some(Value::Array(ext)) = obj.get("external_references") {
        for r in ext {
            let src = r.get("source_name").and_then(Value::as_str).unwrap_or("");
            if src.starts_with("mitre-")
                && let Some(eid) = r.get("external_id").and_then(Value::as_str)
            {
                ids.push(eid.to_owned());
            }
        }
    }
    ids
}

fn indicator_object(
    obj: &Value,
    record: &str,
    refs: &[Reference],
    ctx: &ParseContext<'_>,
    out: &mut ParsedFeed,
) {
    if let Some(pt) = obj.get("pattern_type").and_then(Value::as_str)
        && pt != "stix"
    {
        out.skipped
            .add(record, "unsupported pattern_type", Some(&truncated(pt)));
        return;
    }
    if obj.get("revoked").and_then(Value::as_bool) == Some(true) {
        out.skipped.add(record, "revoked indicator", None);
        return;
    }
    let Some(pattern) = obj.get("pattern").and_then(Value::as_str) else {
        out.skipped.add(record, "indicator without a pattern", None);
        return;
    };
    let comparisons = match parse_pattern(pattern) {
        Ok(c) => c,
        Err(e) => {
            out.skipped.add(record, e.category(), Some(&e.detail()));
            return;
        }
    };
    let first_seen = parse_time(obj.get("valid_from"))
        .or_else(|| parse_time(obj.get("created")))
        .unwrap_or(ctx.now);
    let last_seen = parse_time(obj.get("modified"))
        .unwrap_or(first_seen)
        .max(first_seen);
    let valid_until = parse_time(obj.get("valid_until"));
    let confidence = obj
        .get("confidence")
        .and_then(Value::as_u64)
        .map_or(ctx.default_confidence, |c| c.min(100) as u8);
    let description = obj
        .get("description")
        .or_else(|| obj.get("name"))
        .and_then(Value::as_str)
        .map(|d| {
            let mut d = d.to_owned();
            crate::feed::truncate_chars(&mut d, 1000);
            d
        });
    let mut tags = Vec::new();
    for key in ["labels", "indicator_types"] {
        if let Some(Value::Array(a)) = obj.get(key) {
            tags.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    let mut references: Vec<Reference> = refs.to_vec();
    if let Some(Value::Array(phases)) = obj.get("kill_chain_phases") {
        for p in phases {
            if let Some(name) = p.get("phase_name").and_then(Value::as_str) {
                let chain = p
                    .get("kill_chain_name")
                    .and_then(Value::as_str)
                    .unwrap_or("kill-chain");
                tags.push(format!("{chain}:{name}"));
            }
        }
    }
    for id in attack_ids(obj) {
        references.push(Reference::Attack(id));
    }
    for cmp in comparisons {
        let (kind, value) = match normalise_hinted(cmp.hint, &cmp.value) {
            Ok(kv) => kv,
            Err(e) => {
                out.skipped
                    .add(record, "invalid value in pattern", Some(&e));
                continue;
            }
        };
        let mut ind = Indicator {
            kind,
            value,
            source: ctx.source.to_owned(),
            confidence,
            first_seen,
            last_seen,
            valid_until,
            tags: Vec::new(),
            references: Vec::new(),
            description: description.clone(),
            external_id: Some(record.to_owned()),
        };
        for t in &tags {
            ind.add_tag(t);
        }
        for r in &references {
            ind.add_reference(r.clone());
        }
        out.indicators.push(ind);
    }
}

fn truncated(s: &str) -> String {
    let mut s = s.to_owned();
    crate::feed::truncate_chars(&mut s, 80);
    s
}

/// One `path = 'value'` comparison of a supported pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub hint: KindHint,
    pub value: String,
}

/// Why a pattern was not taken.
#[derive(Debug, Clone, PartialEq)]
pub enum PatternError {
    Syntax(String),
    UnsupportedKeyword(String),
    UnsupportedPath(String),
    UnsupportedOperator(String),
    TooLong,
}

impl PatternError {
    /// The counted reason.
    pub fn category(&self) -> &'static str {
        match self {
            PatternError::Syntax(_) => "invalid pattern",
            PatternError::UnsupportedKeyword(_) => "unsupported pattern keyword",
            PatternError::UnsupportedPath(_) => "unsupported pattern object",
            PatternError::UnsupportedOperator(_) => "unsupported pattern operator",
            PatternError::TooLong => "pattern too long",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            PatternError::Syntax(s)
            | PatternError::UnsupportedKeyword(s)
            | PatternError::UnsupportedPath(s)
            | PatternError::UnsupportedOperator(s) => truncated(s),
            PatternError::TooLong => "over 64 KiB".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Str(String),
    Word(String),
    Op(String),
}

fn tokenize(p: &str) -> Result<Vec<Tok>, PatternError> {
    let b = p.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'[' => {
                out.push(Tok::LBracket);
                i += 1;
            }
            b']' => {
                out.push(Tok::RBracket);
                i += 1;
            }
            b'(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            b'\'' => {
                let (s, next) = string_literal(p, i)?;
                out.push(Tok::Str(s));
                i = next;
            }
            b'=' | b'!' | b'<' | b'>' => {
                let start = i;
                i += 1;
                if i < b.len() && b[i] == b'=' {
                    i += 1;
                }
                out.push(Tok::Op(p[start..i].to_owned()));
            }
            _ => {
                // A word: an object path (which may hold quoted keys such as
                // `hashes.'SHA-256'`), a keyword or a number.
                let start = i;
                while i < b.len() {
                    match b[i] {
                        b' ' | b'\t' | b'\r' | b'\n' | b'[' | b']' | b'(' | b')' | b',' | b'='
                        | b'!' | b'<' | b'>' => break,
                        b'\'' => {
                            // A quoted path component, or a `t'…'` timestamp.
                            let (_, next) = string_literal(p, i)?;
                            i = next;
                        }
                        _ => i += 1,
                    }
                }
                out.push(Tok::Word(p[start..i].to_owned()));
            }
        }
    }
    Ok(out)
}

fn string_literal(p: &str, start: usize) -> Result<(String, usize), PatternError> {
    let b = p.as_bytes();
    let mut s = String::new();
    let mut i = start + 1;
    let mut run = i;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                s.push_str(&p[run..i]);
                let esc = b[i + 1];
                if esc == b'\'' || esc == b'\\' {
                    s.push(esc as char);
                    i += 2;
                    run = i;
                } else {
                    return Err(PatternError::Syntax(format!(
                        "invalid escape at byte {i} of the pattern"
                    )));
                }
            }
            b'\'' => {
                s.push_str(&p[run..i]);
                return Ok((s, i + 1));
            }
            _ => i += 1,
        }
    }
    Err(PatternError::Syntax("unterminated string".into()))
}

/// Parse a STIX pattern into the comparisons it ORs together.
pub fn parse_pattern(pattern: &str) -> Result<Vec<Comparison>, PatternError> {
    if pattern.len() > 64 * 1024 {
        return Err(PatternError::TooLong);
    }
    let toks = tokenize(pattern)?;
    let mut out = Vec::new();
    let mut depth_bracket = 0usize;
    let mut depth_paren = 0usize;
    // What the grammar allows next: an operand (a comparison or an opening bracket) or a
    // joiner (OR or a closing bracket).
    let mut want_operand = true;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::LBracket if want_operand && depth_bracket == 0 => {
                depth_bracket = 1;
                i += 1;
            }
            Tok::RBracket if !want_operand && depth_bracket == 1 => {
                depth_bracket = 0;
                i += 1;
            }
            Tok::LParen if want_operand => {
                depth_paren += 1;
                i += 1;
            }
            Tok::RParen if !want_operand && depth_paren > 0 => {
                depth_paren -= 1;
                i += 1;
            }
            Tok::Word(w) if !want_operand && w.eq_ignore_ascii_case("or") => {
                want_operand = true;
                i += 1;
            }
            Tok::Word(w) if !want_operand => {
                return Err(PatternError::UnsupportedKeyword(w.to_ascii_uppercase()));
            }
            Tok::Word(w) if want_operand && depth_bracket == 1 => {
                if is_keyword(w) {
                    return Err(PatternError::UnsupportedKeyword(w.to_ascii_uppercase()));
                }
                let hint = path_hint(w)?;
                i += 1;
                let op = toks.get(i).cloned();
                i += 1;
                match op {
                    Some(Tok::Op(o)) if o == "=" => match toks.get(i) {
                        Some(Tok::Str(v)) => {
                            out.push(Comparison {
                                hint,
                                value: v.clone(),
                            });
                            i += 1;
                        }
                        _ => {
                            return Err(PatternError::Syntax("expected a string after '='".into()));
                        }
                    },
                    Some(Tok::Op(o)) => return Err(PatternError::UnsupportedOperator(o)),
                    Some(Tok::Word(k)) if k.eq_ignore_ascii_case("issubset") => match toks.get(i) {
                        Some(Tok::Str(v))
                            if matches!(hint, KindHint::AnyIp) || is_ip_hint(hint) =>
                        {
                            out.push(Comparison {
                                hint: KindHint::Kind(IndicatorKind::Cidr),
                                value: v.clone(),
                            });
                            i += 1;
                        }
                        _ => {
                            return Err(PatternError::UnsupportedOperator(
                                "ISSUBSET on a non-IP object".into(),
                            ));
                        }
                    },
                    Some(Tok::Word(k)) if k.eq_ignore_ascii_case("in") => {
                        if toks.get(i) != Some(&Tok::LParen) {
                            return Err(PatternError::Syntax("expected '(' after IN".into()));
                        }
                        i += 1;
                        loop {
                            match toks.get(i) {
                                Some(Tok::Str(v)) => {
                                    out.push(Comparison {
                                        hint,
                                        value: v.clone(),
                                    });
                                    i += 1;
                                }
                                _ => {
                                    return Err(PatternError::Syntax(
                                        "expected a string in IN list".into(),
                                    ));
                                }
                            }
                            match toks.get(i) {
                                Some(Tok::Comma) => i += 1,
                                Some(Tok::RParen) => {
                                    i += 1;
                                    break;
                                }
                                _ => {
                                    return Err(PatternError::Syntax(
                                        "unterminated IN list".into(),
                                    ));
                                }
                            }
                        }
                    }
                    Some(Tok::Word(k)) => {
                        return Err(PatternError::UnsupportedOperator(k.to_ascii_uppercase()));
                    }
                    _ => return Err(PatternError::Syntax("expected an operator".into())),
                }
                want_operand = false;
            }
            other => {
                return Err(PatternError::Syntax(format!(
                    "unexpected {} at token {i}",
                    describe(other)
                )));
            }
        }
    }
    if want_operand || depth_bracket != 0 || depth_paren != 0 || out.is_empty() {
        return Err(PatternError::Syntax("incomplete pattern".into()));
    }
    Ok(out)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
        Tok::Str(_) => "a string".into(),
        Tok::Word(w) => format!("'{}'", truncated(w)),
        Tok::Op(o) => format!("'{o}'"),
    }
}

fn is_keyword(w: &str) -> bool {
    [
        "and",
        "or",
        "not",
        "followedby",
        "within",
        "repeats",
        "start",
        "stop",
        "like",
        "matches",
        "issuperset",
        "issubset",
        "in",
        "exists",
    ]
    .iter()
    .any(|k| w.eq_ignore_ascii_case(k))
}

fn is_ip_hint(h: KindHint) -> bool {
    matches!(
        h,
        KindHint::Kind(IndicatorKind::Ipv4 | IndicatorKind::Ipv6 | IndicatorKind::Cidr)
    )
}

fn path_hint(path: &str) -> Result<KindHint, PatternError> {
    let (object, prop) = path.split_once(':').ok_or_else(|| {
        PatternError::Syntax(format!("'{}' is not an object path", truncated(path)))
    })?;
    let prop_clean: String = prop.chars().filter(|c| *c != '\'').collect();
    let prop_l = prop_clean.to_ascii_lowercase();
    let hint = match (object.to_ascii_lowercase().as_str(), prop_l.as_str()) {
        ("ipv4-addr", "value") => KindHint::AnyIp,
        ("ipv6-addr", "value") => KindHint::AnyIp,
        ("domain-name", "value") => KindHint::Kind(IndicatorKind::Domain),
        ("url", "value") => KindHint::Kind(IndicatorKind::Url),
        ("email-addr", "value")
        | ("email-message", "from_ref.value")
        | ("email-message", "sender_ref.value") => KindHint::Kind(IndicatorKind::Email),
        ("file" | "artifact", h) if h.starts_with("hashes.") => {
            match h.trim_start_matches("hashes.").replace('-', "").as_str() {
                "md5" => KindHint::Kind(IndicatorKind::Md5),
                "sha1" => KindHint::Kind(IndicatorKind::Sha1),
                "sha256" => KindHint::Kind(IndicatorKind::Sha256),
                _ => return Err(PatternError::UnsupportedPath(path.to_owned())),
            }
        }
        ("network-traffic", "dst_ref.value" | "src_ref.value") => KindHint::AnyIp,
        _ => return Err(PatternError::UnsupportedPath(path.to_owned())),
    };
    Ok(hint)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;
    use IndicatorKind::*;

    fn pattern(p: &str) -> Result<Vec<(KindHint, String)>, &'static str> {
        parse_pattern(p)
            .map(|v| v.into_iter().map(|c| (c.hint, c.value)).collect())
            .map_err(|e| e.category())
    }

    #[test]
    fn patterns_parse_or_are_refused_with_a_reason() {
        let k = KindHint::Kind;
        let cases: &[(&str, Result<Vec<(KindHint, &str)>, &str>)] = &[
            (
                "[ipv4-addr:value = '1.2.3.4']",
                Ok(vec![(KindHint::AnyIp, "1.2.3.4")]),
            ),
            (
                "[file:hashes.'SHA-256' = 'aa' OR file:hashes.MD5 = 'bb']",
                Ok(vec![(k(Sha256), "aa"), (k(Md5), "bb")]),
            ),
            (
                "([domain-name:value = 'evil.com'] OR [url:value = 'http://x.org/a\\'b'])",
                Ok(vec![(k(Domain), "evil.com"), (k(Url), "http://x.org/a'b")]),
            ),
            (
                "[ipv4-addr:value ISSUBSET '10.0.0.0/8']",
                Ok(vec![(k(Cidr), "10.0.0.0/8")]),
            ),
            (
                "[email-addr:value IN ('a@x.com', 'b@x.com')]",
                Ok(vec![(k(Email), "a@x.com"), (k(Email), "b@x.com")]),
            ),
            ("[file:hashes.'SHA-1' = 'cc']", Ok(vec![(k(Sha1), "cc")])),
            (
                "[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']",
                Err("unsupported pattern keyword"),
            ),
            (
                "[ipv4-addr:value = '1.2.3.4'] WITHIN 60 SECONDS",
                Err("unsupported pattern keyword"),
            ),
            (
                "[ipv4-addr:value != '1.2.3.4']",
                Err("unsupported pattern operator"),
            ),
            (
                "[url:value LIKE '%evil%']",
                Err("unsupported pattern operator"),
            ),
            (
                "[process:name = 'evil.exe']",
                Err("unsupported pattern object"),
            ),
            ("[ipv4-addr:value = '1.2.3.4'", Err("invalid pattern")),
            ("[ipv4-addr:value = '1.2.3.4]", Err("invalid pattern")),
            ("", Err("invalid pattern")),
            ("]]]((", Err("invalid pattern")),
            ("[ipv4-addr:value = ]", Err("invalid pattern")),
        ];
        for (p, want) in cases {
            let want = want
                .clone()
                .map(|v| v.into_iter().map(|(h, s)| (h, s.to_owned())).collect());
            assert_eq!(pattern(p), want, "{p}");
        }
    }
}
