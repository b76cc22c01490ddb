//! Lowering of a parsed Sigma rule into a rule program: a condition tree over field predicates, each predicate a list of value tests with their prefilter needles.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ipnet::IpNet;
use regex::Regex;
use rsigma_parser::value::{SpecialChar, StringPart};
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SigmaString, SigmaValue,
};
use std::collections::HashMap;

/// String comparison of a literal test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum StrOp {
    Exact,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// One value test against one scalar.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    /// A literal: answered entirely by the field's Aho-Corasick scan. `text` is
    /// lower-cased when `ci`; case-insensitive literals are pure ASCII.
    Lit {
        op: StrOp,
        text: String,
        ci: bool,
    },
    /// Wildcards, windash classes or non-ASCII case folding: a regex, run only when the
    /// gate literal (which every match contains) was seen in the value.
    Pattern {
        re: Regex,
        gate: Option<(String, bool)>,
    },
    Regex(Regex),
    /// Numeric equality: answered by the field's numeric index.
    NumEq(f64),
    NumCmp(NumOp, f64),
    Bool(bool),
    Null,
    Cidr(IpNet),
    FieldRef {
        field: String,
        op: StrOp,
        ci: bool,
    },
    TimePart(TimePart, f64),
}

/// One detection item: a field (or, for keywords, every string) and its value tests.
#[derive(Debug, Clone)]
pub(crate) struct PredSpec {
    /// Sigma field name; `None` = keyword search over all string values.
    pub field: Option<String>,
    pub tests: Vec<Test>,
    /// `|all`: every test must hold (else any).
    pub all: bool,
    /// `|neq`.
    pub negate: bool,
    /// `|exists`.
    pub exists: Option<bool>,
}

/// A condition over predicates (indices into the rule's predicate list).
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Pred(u32),
    AtLeast(u64, Vec<Cond>),
    Const(bool),
}

/// A compiled rule body.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    pub preds: Vec<PredSpec>,
    pub cond: Cond,
}

/// Why a rule could not be compiled, with a stable category for reports.
#[derive(Debug, Clone)]
pub(crate) struct CompileError {
    pub category: &'static str,
    pub reason: String,
}

fn err(category: &'static str, reason: impl Into<String>) -> CompileError {
    CompileError {
        category,
        reason: reason.into(),
    }
}

pub(crate) type Placeholders = HashMap<String, Vec<String>>;

struct Ctx<'a> {
    preds: Vec<PredSpec>,
    placeholders: &'a Placeholders,
}

/// Compile a rule's named detections and conditions (several conditions are OR-ed).
pub(crate) fn compile(
    named: &HashMap<String, Detection>,
    conditions: &[ConditionExpr],
    placeholders: &Placeholders,
) -> Result<Program, CompileError> {
    let mut ctx = Ctx {
        preds: Vec::new(),
        placeholders,
    };
    let dets = compile_named(&mut ctx, named)?;
    if conditions.is_empty() {
        return Err(err("condition", "rule has no condition"));
    }
    let mut ors = Vec::new();
    for c in conditions {
        ors.push(compile_condition(c, &dets)?);
    }
    let cond = if ors.len() == 1 {
        ors.pop().unwrap_or(Cond::Const(false))
    } else {
        Cond::Or(ors)
    };
    Ok(Program {
        preds: ctx.preds,
        cond,
    })
}

/// Add a filter's detections and condition to a program: `rule and filter`.
pub(crate) fn add_filter(
    prog: &mut Program,
    named: &HashMap<String, Detection>,
    conditions: &[ConditionExpr],
    placeholders: &Placeholders,
) -> Result<(), CompileError> {
    let mut ctx = Ctx {
        preds: std::mem::take(&mut prog.preds),
        placeholders,
    };
    let dets = compile_named(&mut ctx, named)?;
    let fcond = match conditions.first() {
        Some(c) => compile_condition(c, &dets)?,
        None => Cond::And(dets.iter().map(|(_, c)| c.clone()).collect()),
    };
    prog.preds = ctx.preds;
    let old = std::mem::replace(&mut prog.cond, Cond::Const(false));
    prog.cond = Cond::And(vec![old, fcond]);
    Ok(())
}

fn compile_named(
    ctx: &mut Ctx<'_>,
    named: &HashMap<String, Detection>,
) -> Result<Vec<(String, Cond)>, CompileError> {
    let mut names: Vec<&String> = named.keys().collect();
    // Deterministic predicate order, independent of hash order.
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let det = &named[name];
        let c = compile_detection(ctx, det)
            .map_err(|e| err(e.category, format!("detection {name}: {}", e.reason)))?;
        out.push((name.clone(), c));
    }
    Ok(out)
}

fn compile_condition(c: &ConditionExpr, dets: &[(String, Cond)]) -> Result<Cond, CompileError> {
    Ok(match c {
        ConditionExpr::Identifier(name) => match dets.iter().find(|(n, _)| n == name) {
            Some((_, d)) => d.clone(),
            None => {
                return Err(err(
                    "condition",
                    format!("condition names unknown detection {name:?}"),
                ));
            }
        },
        ConditionExpr::And(v) => Cond::And(
            v.iter()
                .map(|e| compile_condition(e, dets))
                .collect::<Result<_, _>>()?,
        ),
        ConditionExpr::Or(v) => Cond::Or(
            v.iter()
                .map(|e| compile_condition(e, dets))
                .collect::<Result<_, _>>()?,
        ),
        ConditionExpr::Not(e) => Cond::Not(Box::new(compile_condition(e, dets)?)),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let members: Vec<Cond> = dets
                .iter()
                .filter(|(n, _)| pattern.matches_detection_name(n))
                .map(|(_, c)| c.clone())
                .collect();
            match quantifier {
                Quantifier::Any => Cond::Or(members),
                Quantifier::All => Cond::And(members),
                Quantifier::Count(0) => Cond::Const(true),
                Quantifier::Count(n) => Cond::AtLeast(*n, members),
            }
        }
    })
}

fn compile_detection(ctx: &mut Ctx<'_>, d: &Detection) -> Result<Cond, CompileError> {
    match d {
        Detection::AllOf(items) => {
            if items.is_empty() {
                return Err(err("detection", "empty selection map"));
            }
            let mut v = Vec::with_capacity(items.len());
            for item in items {
                v.push(compile_item(ctx, item)?);
            }
            Ok(Cond::And(v))
        }
        Detection::AnyOf(dets) => {
            if dets.is_empty() {
                return Err(err("detection", "empty selection list"));
            }
            let v = dets
                .iter()
                .map(|d| compile_detection(ctx, d))
                .collect::<Result<_, _>>()?;
            Ok(Cond::Or(v))
        }
        Detection::And(dets) => {
            let v = dets
                .iter()
                .map(|d| compile_detection(ctx, d))
                .collect::<Result<_, _>>()?;
            Ok(Cond::And(v))
        }
        Detection::Keywords(values) => {
            if values.is_empty() {
                return Err(err("detection", "empty keyword list"));
            }
            let mut tests = Vec::new();
            for v in values {
                keyword_tests(v, &mut tests)?;
            }
            Ok(push_pred(
                ctx,
                PredSpec {
                    field: None,
                    tests,
                    all: false,
                    negate: false,
                    exists: None,
                },
            ))
        }
        Detection::ArrayMatch { field, .. } => Err(err(
            "unsupported",
            format!("array quantifier on {field:?} (rsigma extension) is not supported"),
        )),
        Detection::Conditional { .. } => Err(err(
            "unsupported",
            "nested conditional detection (rsigma extension) is not supported",
        )),
    }
}

fn push_pred(ctx: &mut Ctx<'_>, p: PredSpec) -> Cond {
    let id = ctx.preds.len() as u32;
    ctx.preds.push(p);
    Cond::Pred(id)
}

fn keyword_tests(v: &SigmaValue, out: &mut Vec<Test>) -> Result<(), CompileError> {
    match v {
        SigmaValue::String(s) => out.push(string_test(s, StrOp::Contains, true)?),
        // Keywords are full-text: a number is searched as its text.
        SigmaValue::Integer(n) => out.push(lit(StrOp::Contains, &n.to_string(), true)?),
        SigmaValue::Float(n) => out.push(lit(StrOp::Contains, &n.to_string(), true)?),
        SigmaValue::Bool(_) | SigmaValue::Null => {
            return Err(err(
                "value",
                "a keyword must be a string or a number, not a boolean or null",
            ));
        }
    }
    Ok(())
}

#[derive(Default)]
struct Mods {
    op: Option<StrOp>,
    all: bool,
    base64: bool,
    base64offset: bool,
    wide: bool,
    utf16be: bool,
    utf16: bool,
    windash: bool,
    re: bool,
    cidr: bool,
    cased: bool,
    exists: bool,
    fieldref: bool,
    num: Option<NumOp>,
    neq: bool,
    re_i: bool,
    re_m: bool,
    re_s: bool,
    expand: bool,
    time: Option<TimePart>,
}

fn parse_mods(mods: &[Modifier]) -> Result<Mods, CompileError> {
    let mut m = Mods::default();
    let mut operators: Vec<&str> = Vec::new();
    let mut encodings = 0;
    for md in mods {
        match md {
            Modifier::Contains => {
                m.op = Some(StrOp::Contains);
                operators.push("contains");
            }
            Modifier::StartsWith => {
                m.op = Some(StrOp::StartsWith);
                operators.push("startswith");
            }
            Modifier::EndsWith => {
                m.op = Some(StrOp::EndsWith);
                operators.push("endswith");
            }
            Modifier::All => m.all = true,
            Modifier::Base64 => m.base64 = true,
            Modifier::Base64Offset => m.base64offset = true,
            Modifier::Wide => {
                m.wide = true;
                encodings += 1;
            }
            Modifier::Utf16be => {
                m.utf16be = true;
                encodings += 1;
            }
            Modifier::Utf16 => {
                m.utf16 = true;
                encodings += 1;
            }
            Modifier::WindAsh => m.windash = true,
            Modifier::Re => {
                m.re = true;
                operators.push("re");
            }
            Modifier::Cidr => {
                m.cidr = true;
                operators.push("cidr");
            }
            Modifier::Cased => m.cased = true,
            Modifier::Exists => {
                m.exists = true;
                operators.push("exists");
            }
            Modifier::Expand => m.expand = true,
            Modifier::FieldRef => m.fieldref = true,
            Modifier::Gt | Modifier::Gte | Modifier::Lt | Modifier::Lte => {
                m.num = Some(match md {
                    Modifier::Gt => NumOp::Gt,
                    Modifier::Gte => NumOp::Gte,
                    Modifier::Lt => NumOp::Lt,
                    _ => NumOp::Lte,
                });
                operators.push("gt/gte/lt/lte");
            }
            Modifier::Neq => m.neq = true,
            Modifier::IgnoreCase => m.re_i = true,
            Modifier::Multiline => m.re_m = true,
            Modifier::DotAll => m.re_s = true,
            Modifier::Minute
            | Modifier::Hour
            | Modifier::Day
            | Modifier::Week
            | Modifier::Month
            | Modifier::Year => {
                m.time = Some(match md {
                    Modifier::Minute => TimePart::Minute,
                    Modifier::Hour => TimePart::Hour,
                    Modifier::Day => TimePart::Day,
                    Modifier::Week => TimePart::Week,
                    Modifier::Month => TimePart::Month,
                    _ => TimePart::Year,
                });
                operators.push("time part");
            }
        }
    }
    let bad = |r: String| Err(err("modifier", r));
    if operators.len() > 1 {
        return bad(format!("conflicting modifiers |{}", operators.join(", |")));
    }
    if encodings > 1 {
        return bad("|wide, |utf16 and |utf16be are mutually exclusive".into());
    }
    if m.base64 && m.base64offset {
        return bad("|base64 and |base64offset are mutually exclusive".into());
    }
    let transform = m.base64 || m.base64offset || encodings > 0 || m.windash || m.expand;
    let special = m.re || m.cidr || m.exists || m.num.is_some() || m.time.is_some() || m.fieldref;
    if transform && special {
        return bad("value transformations only apply to string comparisons".into());
    }
    if !m.re && (m.re_i || m.re_m || m.re_s) {
        return bad("regex flags |i, |m, |s need |re".into());
    }
    Ok(m)
}

fn compile_item(ctx: &mut Ctx<'_>, item: &DetectionItem) -> Result<Cond, CompileError> {
    let m = parse_mods(&item.field.modifiers)?;
    let field = item.field.name.clone();
    if m.exists {
        let expect = match item.values.first() {
            Some(SigmaValue::Bool(b)) => *b,
            Some(SigmaValue::String(s)) => !matches!(s.original.as_str(), "false" | "no"),
            _ => true,
        };
        return Ok(push_pred(
            ctx,
            PredSpec {
                field,
                tests: Vec::new(),
                all: false,
                negate: false,
                exists: Some(expect),
            },
        ));
    }
    if m.all && item.values.len() <= 1 {
        return Err(err("modifier", "|all needs more than one value"));
    }
    if item.values.is_empty() {
        return Err(err("value", "field has no value"));
    }
    let mut tests = Vec::new();
    let mut groups: Vec<Vec<Test>> = Vec::new();
    for v in &item.values {
        let mut t = Vec::new();
        value_tests(ctx, &m, v, &mut t)?;
        if m.all && t.len() > 1 {
            // One value that expanded to several alternatives (base64offset, windash,
            // expand) under |all: keep the OR inside the AND.
            groups.push(t);
        } else {
            tests.extend(t);
        }
    }
    if groups.is_empty() {
        return Ok(push_pred(
            ctx,
            PredSpec {
                field,
                tests,
                all: m.all,
                negate: m.neq,
                exists: None,
            },
        ));
    }
    let mut conds: Vec<Cond> = tests
        .into_iter()
        .map(|t| {
            push_pred(
                ctx,
                PredSpec {
                    field: field.clone(),
                    tests: vec![t],
                    all: false,
                    negate: false,
                    exists: None,
                },
            )
        })
        .collect();
    for g in groups {
        conds.push(push_pred(
            ctx,
            PredSpec {
                field: field.clone(),
                tests: g,
                all: false,
                negate: false,
                exists: None,
            },
        ));
    }
    let c = Cond::And(conds);
    Ok(if m.neq { Cond::Not(Box::new(c)) } else { c })
}

fn plain_text(v: &SigmaValue) -> Result<String, CompileError> {
    match v {
        SigmaValue::String(s) => Ok(s.as_plain().unwrap_or_else(|| s.original.clone())),
        SigmaValue::Integer(n) => Ok(n.to_string()),
        SigmaValue::Float(n) => Ok(n.to_string()),
        SigmaValue::Bool(b) => Ok(b.to_string()),
        SigmaValue::Null => Err(err("value", "null where a string is needed")),
    }
}

fn number(v: &SigmaValue) -> Result<f64, CompileError> {
    match v {
        SigmaValue::Integer(n) => Ok(*n as f64),
        SigmaValue::Float(n) => Ok(*n),
        SigmaValue::String(s) => {
            let t = s.as_plain().unwrap_or_else(|| s.original.clone());
            t.trim()
                .parse::<f64>()
                .map_err(|_| err("value", format!("{t:?} is not a number")))
        }
        _ => Err(err("value", "a number is needed")),
    }
}

fn value_tests(
    ctx: &Ctx<'_>,
    m: &Mods,
    v: &SigmaValue,
    out: &mut Vec<Test>,
) -> Result<(), CompileError> {
    let ci = !m.cased;
    let op = m.op.unwrap_or(StrOp::Exact);
    if let Some(part) = m.time {
        out.push(Test::TimePart(part, number(v)?));
        return Ok(());
    }
    if m.fieldref {
        let name = match v {
            SigmaValue::String(s) => s
                .as_plain()
                .ok_or_else(|| err("value", "a field reference has no wildcards"))?,
            other => plain_text(other)?,
        };
        out.push(Test::FieldRef {
            field: name,
            op,
            ci,
        });
        return Ok(());
    }
    if m.re {
        let pattern = plain_text(v)?;
        let mut flags = String::new();
        if m.re_i {
            flags.push('i');
        }
        if m.re_m {
            flags.push('m');
        }
        if m.re_s {
            flags.push('s');
        }
        let full = if flags.is_empty() {
            pattern
        } else {
            format!("(?{flags}){pattern}")
        };
        let re = Regex::new(&full).map_err(|e| err("regex", format!("invalid regex: {e}")))?;
        out.push(Test::Regex(re));
        return Ok(());
    }
    if m.cidr {
        let text = plain_text(v)?;
        let net: IpNet = text
            .trim()
            .parse()
            .map_err(|e| err("value", format!("invalid cidr {text:?}: {e}")))?;
        out.push(Test::Cidr(net));
        return Ok(());
    }
    if let Some(nop) = m.num {
        out.push(Test::NumCmp(nop, number(v)?));
        return Ok(());
    }
    if m.expand {
        let text = plain_text(v)?;
        for variant in expand(&text, ctx.placeholders)? {
            out.push(string_test(&SigmaString::new(&variant), op, ci)?);
        }
        return Ok(());
    }
    match v {
        SigmaValue::Integer(n) if m.op.is_none() => {
            out.push(Test::NumEq(*n as f64));
            return Ok(());
        }
        SigmaValue::Float(n) if m.op.is_none() => {
            out.push(Test::NumEq(*n));
            return Ok(());
        }
        SigmaValue::Integer(n) => {
            out.push(lit(op, &n.to_string(), ci)?);
            return Ok(());
        }
        SigmaValue::Float(n) => {
            out.push(lit(op, &n.to_string(), ci)?);
            return Ok(());
        }
        SigmaValue::Bool(b) => {
            out.push(Test::Bool(*b));
            return Ok(());
        }
        SigmaValue::Null => {
            out.push(Test::Null);
            return Ok(());
        }
        SigmaValue::String(_) => {}
    }
    let SigmaValue::String(s) = v else {
        return Ok(());
    };
    let encoded = m.wide || m.utf16 || m.utf16be || m.base64 || m.base64offset;
    if encoded {
        let mut bytes = s
            .as_plain()
            .unwrap_or_else(|| s.original.clone())
            .into_bytes();
        if m.wide || m.utf16 || m.utf16be {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut wide = Vec::with_capacity(text.len() * 2 + 2);
            if m.utf16 {
                wide.extend_from_slice(&[0xFF, 0xFE]);
            }
            for u in text.encode_utf16() {
                if m.utf16be {
                    wide.extend_from_slice(&u.to_be_bytes());
                } else {
                    wide.extend_from_slice(&u.to_le_bytes());
                }
            }
            bytes = wide;
        }
        if m.base64 {
            out.push(lit(op, &BASE64.encode(&bytes), ci)?);
        } else if m.base64offset {
            for p in base64_offsets(&bytes) {
                out.push(lit(StrOp::Contains, &p, ci)?);
            }
        } else {
            // UTF-16 without base64: the value as the decoded text would carry it.
            out.push(lit(op, &String::from_utf8_lossy(&bytes), ci)?);
        }
        return Ok(());
    }
    if m.windash {
        return windash_tests(s, op, ci, out);
    }
    out.push(string_test(s, op, ci)?);
    Ok(())
}

/// The three base64 renderings of `value` at byte offsets 0, 1 and 2 in a longer
/// stream, each trimmed of the characters that depend on the neighbouring bytes.
pub(crate) fn base64_offsets(value: &[u8]) -> Vec<String> {
    let mut out = Vec::with_capacity(3);
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(value);
        let encoded = BASE64.encode(&padded);
        let start = (offset * 4).div_ceil(3);
        let trimmed = encoded.trim_end_matches('=');
        // The last character may mix in bits of a following byte unless the
        // value ends on a 3-byte boundary.
        let end = if (offset + value.len()).is_multiple_of(3) {
            trimmed.len()
        } else {
            trimmed.len().saturating_sub(1)
        };
        if start < end {
            out.push(trimmed[start..end].to_owned());
        }
    }
    out
}

/// The dashes `windash` accepts in place of `-`: hyphen, slash, en dash, em dash,
/// horizontal bar.
pub(crate) const WINDASH: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// At most this many dashes are expanded into literal variants (5^n needles); longer
/// values use one pattern with a dash class.
const WINDASH_MAX_VARIANT_DASHES: usize = 3;

fn windash_tests(
    s: &SigmaString,
    op: StrOp,
    ci: bool,
    out: &mut Vec<Test>,
) -> Result<(), CompileError> {
    if let Some(plain) = s.as_plain() {
        let dashes = plain.matches('-').count();
        if dashes <= WINDASH_MAX_VARIANT_DASHES {
            let mut variants = vec![String::new()];
            for c in plain.chars() {
                if c == '-' {
                    variants = variants
                        .iter()
                        .flat_map(|v| WINDASH.iter().map(move |d| format!("{v}{d}")))
                        .collect();
                } else {
                    variants.iter_mut().for_each(|v| v.push(c));
                }
            }
            for v in variants {
                out.push(lit(op, &v, ci)?);
            }
            return Ok(());
        }
    }
    out.push(windash_test(s, op, ci)?);
    Ok(())
}

fn windash_test(s: &SigmaString, op: StrOp, ci: bool) -> Result<Test, CompileError> {
    let mut re = String::from("(?s)");
    if ci {
        re.push_str("(?i)");
    }
    if matches!(op, StrOp::Exact | StrOp::StartsWith) {
        re.push('^');
    }
    let mut gate = String::new();
    let mut best = String::new();
    for part in &s.parts {
        match part {
            StringPart::Plain(t) => {
                for c in t.chars() {
                    if c == '-' {
                        re.push('[');
                        for d in WINDASH {
                            re.push_str(&regex::escape(d.encode_utf8(&mut [0u8; 4])));
                        }
                        re.push(']');
                        if gate.len() > best.len() {
                            best = std::mem::take(&mut gate);
                        }
                        gate.clear();
                    } else {
                        re.push_str(&regex::escape(c.encode_utf8(&mut [0u8; 4])));
                        gate.push(c);
                    }
                }
            }
            StringPart::Special(sc) => {
                re.push_str(if *sc == SpecialChar::WildcardMulti {
                    ".*"
                } else {
                    "."
                });
                if gate.len() > best.len() {
                    best = std::mem::take(&mut gate);
                }
                gate.clear();
            }
        }
    }
    if gate.len() > best.len() {
        best = gate;
    }
    if matches!(op, StrOp::Exact | StrOp::EndsWith) {
        re.push('$');
    }
    let re = Regex::new(&re).map_err(|e| err("regex", format!("windash pattern: {e}")))?;
    Ok(Test::Pattern {
        re,
        gate: make_gate(&best, ci),
    })
}

/// Whether `text` has a non-ASCII character with case (which ASCII case folding in the
/// needle automata would not fold); caseless ones such as dashes are fine.
fn cased_non_ascii(text: &str) -> bool {
    text.chars()
        .any(|c| !c.is_ascii() && (c.is_lowercase() || c.is_uppercase()))
}

fn make_gate(text: &str, ci: bool) -> Option<(String, bool)> {
    if text.is_empty() || (ci && cased_non_ascii(text)) {
        return None;
    }
    Some((
        if ci {
            text.to_ascii_lowercase()
        } else {
            text.to_owned()
        },
        ci,
    ))
}

/// A literal test; case-insensitive non-ASCII text goes through a Unicode-aware regex.
pub(crate) fn lit(op: StrOp, text: &str, ci: bool) -> Result<Test, CompileError> {
    if ci && cased_non_ascii(text) {
        return unicode_pattern(text, op);
    }
    Ok(Test::Lit {
        op,
        text: if ci {
            text.to_ascii_lowercase()
        } else {
            text.to_owned()
        },
        ci,
    })
}

fn unicode_pattern(text: &str, op: StrOp) -> Result<Test, CompileError> {
    let mut re = String::from("(?s)(?i)");
    if matches!(op, StrOp::Exact | StrOp::StartsWith) {
        re.push('^');
    }
    re.push_str(&regex::escape(text));
    if matches!(op, StrOp::Exact | StrOp::EndsWith) {
        re.push('$');
    }
    let re = Regex::new(&re).map_err(|e| err("regex", e.to_string()))?;
    let ascii_run = text
        .split(|c: char| !c.is_ascii())
        .max_by_key(|s| s.len())
        .unwrap_or("");
    Ok(Test::Pattern {
        re,
        gate: make_gate(ascii_run, true),
    })
}

/// A Sigma string with `op`: a literal when it has no wildcards, else a pattern.
pub(crate) fn string_test(s: &SigmaString, op: StrOp, ci: bool) -> Result<Test, CompileError> {
    if let Some(plain) = s.as_plain() {
        if ci && cased_non_ascii(&plain) {
            return unicode_pattern(&plain, op);
        }
        return lit(op, &plain, ci);
    }
    let mut re = String::from("(?s)");
    if ci {
        re.push_str("(?i)");
    }
    if matches!(op, StrOp::Exact | StrOp::StartsWith) {
        re.push('^');
    }
    let mut best = "";
    for part in &s.parts {
        match part {
            StringPart::Plain(t) => {
                re.push_str(&regex::escape(t));
                if t.len() > best.len() {
                    best = t;
                }
            }
            StringPart::Special(SpecialChar::WildcardMulti) => re.push_str(".*"),
            StringPart::Special(SpecialChar::WildcardSingle) => re.push('.'),
        }
    }
    if matches!(op, StrOp::Exact | StrOp::EndsWith) {
        re.push('$');
    }
    let re = Regex::new(&re).map_err(|e| err("regex", format!("wildcard pattern: {e}")))?;
    Ok(Test::Pattern {
        re,
        gate: make_gate(best, ci),
    })
}

/// Expand `%name%` placeholders from the configured lists (all combinations).
fn expand(text: &str, placeholders: &Placeholders) -> Result<Vec<String>, CompileError> {
    let mut out = vec![String::new()];
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        let prefix = &rest[..start];
        for o in &mut out {
            o.push_str(prefix);
        }
        let values = placeholders
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                err(
                    "placeholder",
                    format!("placeholder %{name}% has no configured values"),
                )
            })?;
        let mut next = Vec::with_capacity(out.len() * values.len());
        for o in &out {
            for v in values {
                next.push(format!("{o}{v}"));
            }
        }
        if next.len() > 4096 {
            return Err(err(
                "placeholder",
                "placeholder expansion exceeds 4096 values",
            ));
        }
        out = next;
        rest = &rest[start + 2 + len..];
    }
    for o in &mut out {
        o.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every offset pattern must occur in the encoding of the value embedded after 0, 1
    /// or 2 arbitrary bytes and followed by arbitrary bytes.
    #[test]
    fn base64offset_alignment() {
        let cases: &[&[u8]] = &[b"ping", b"abc", b"Invoke-Mimikatz", b"http://"];
        for value in cases {
            let patterns = base64_offsets(value);
            assert!(!patterns.is_empty());
            for prefix in [&b""[..], b"x", b"xy", b"xyz"] {
                for suffix in [&b""[..], b"!", b"?!", b"\xff\x00\x01"] {
                    let mut stream = prefix.to_vec();
                    stream.extend_from_slice(value);
                    stream.extend_from_slice(suffix);
                    let enc = BASE64.encode(&stream);
                    assert!(
                        patterns.iter().any(|p| enc.contains(p.as_str())),
                        "{:?} in {:?}: none of {patterns:?} in {enc}",
                        String::from_utf8_lossy(value),
                        String::from_utf8_lossy(&stream)
                    );
                }
            }
        }
        // The classic example from the Sigma specification.
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn expand_placeholders() {
        let mut ph = Placeholders::new();
        ph.insert("dirs".into(), vec!["C:\\a".into(), "C:\\b".into()]);
        assert_eq!(
            expand("%dirs%\\x.exe", &ph).unwrap(),
            ["C:\\a\\x.exe", "C:\\b\\x.exe"]
        );
        let e = expand("%nope%", &ph).unwrap_err();
        assert_eq!(e.category, "placeholder");
        assert_eq!(expand("100%", &ph).unwrap(), ["100%"]);
    }
}
