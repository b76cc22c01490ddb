//! Evaluation of single value tests against a field value, without allocation for the common cases.

use crate::compile::{NumOp, StrOp, Test, TimePart};
use crate::document::FieldRef;
use std::fmt::Write as _;
use std::net::IpAddr;

/// A small stack buffer for rendering numbers as text; spills to the heap only for
/// renderings longer than 48 bytes (large floats).
pub(crate) struct NumText {
    buf: [u8; 48],
    len: usize,
    spill: Option<String>,
}

impl NumText {
    pub(crate) fn new() -> Self {
        NumText {
            buf: [0; 48],
            len: 0,
            spill: None,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match &self.spill {
            Some(s) => s,
            // Only ASCII digits, signs, dots and exponents are ever written.
            None => std::str::from_utf8(&self.buf[..self.len]).unwrap_or(""),
        }
    }
}

impl std::fmt::Write for NumText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if let Some(sp) = &mut self.spill {
            sp.push_str(s);
            return Ok(());
        }
        let end = self.len + s.len();
        if end <= self.buf.len() {
            self.buf[self.len..end].copy_from_slice(s.as_bytes());
            self.len = end;
        } else {
            let mut sp = String::with_capacity(end);
            sp.push_str(std::str::from_utf8(&self.buf[..self.len]).unwrap_or(""));
            sp.push_str(s);
            self.spill = Some(sp);
        }
        Ok(())
    }
}

/// Call `f` with the text form of a scalar: strings as they are, numbers as Rust prints
/// them, booleans as `true`/`false`. Null, lists and objects have no text form.
#[inline]
pub(crate) fn with_text<R>(v: FieldRef<'_>, f: impl FnOnce(&str) -> R) -> Option<R> {
    let mut t = NumText::new();
    match v {
        FieldRef::Str(s) => return Some(f(s)),
        FieldRef::Bool(b) => return Some(f(if b { "true" } else { "false" })),
        FieldRef::Int(i) => write!(t, "{i}").ok()?,
        FieldRef::UInt(u) => write!(t, "{u}").ok()?,
        FieldRef::Float(x) => write!(t, "{x}").ok()?,
        _ => return None,
    }
    Some(f(t.as_str()))
}

/// The numeric form of a scalar: numbers, and strings that parse as a number.
#[inline]
pub(crate) fn as_number(v: FieldRef<'_>) -> Option<f64> {
    match v {
        FieldRef::Int(i) => Some(i as f64),
        FieldRef::UInt(u) => Some(u as f64),
        FieldRef::Float(x) => Some(x),
        FieldRef::Str(s) => {
            let b = s.as_bytes().first()?;
            if b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.') {
                s.parse::<f64>().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Key of a number in the numeric-equality index.
#[inline]
pub(crate) fn num_key(x: f64) -> u64 {
    if x == 0.0 { 0 } else { x.to_bits() }
}

pub(crate) fn str_op(op: StrOp, hay: &str, needle: &str) -> bool {
    match op {
        StrOp::Exact => hay == needle,
        StrOp::Contains => hay.contains(needle),
        StrOp::StartsWith => hay.starts_with(needle),
        StrOp::EndsWith => hay.ends_with(needle),
    }
}

fn lit_matches(op: StrOp, text: &str, ci: bool, hay: &str) -> bool {
    if !ci {
        return str_op(op, hay, text);
    }
    // Case-insensitive literals are ASCII and lower-cased at compile time.
    let (h, n) = (hay.as_bytes(), text.as_bytes());
    match op {
        StrOp::Exact => h.eq_ignore_ascii_case(n),
        StrOp::StartsWith => h.len() >= n.len() && h[..n.len()].eq_ignore_ascii_case(n),
        StrOp::EndsWith => h.len() >= n.len() && h[h.len() - n.len()..].eq_ignore_ascii_case(n),
        StrOp::Contains => n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n)),
    }
}

/// Evaluate `t` against a present value (lists: any member). `lookup` resolves the other
/// field of a `fieldref` test.
pub(crate) fn test_value<'a>(
    t: &Test,
    v: FieldRef<'a>,
    fieldref: &dyn Fn() -> FieldRef<'a>,
) -> bool {
    if let FieldRef::List(items) = v {
        if matches!(t, Test::Null) {
            return false;
        }
        return items
            .iter()
            .any(|i| test_value(t, FieldRef::from_json(i), fieldref));
    }
    match t {
        Test::Lit { op, text, ci } => {
            with_text(v, |s| lit_matches(*op, text, *ci, s)).unwrap_or(false)
        }
        Test::Pattern { re, .. } | Test::Regex(re) => {
            with_text(v, |s| re.is_match(s)).unwrap_or(false)
        }
        Test::NumEq(n) => as_number(v).is_some_and(|x| (x - n).abs() < f64::EPSILON),
        Test::NumCmp(op, n) => as_number(v).is_some_and(|x| match op {
            NumOp::Gt => x > *n,
            NumOp::Gte => x >= *n,
            NumOp::Lt => x < *n,
            NumOp::Lte => x <= *n,
        }),
        Test::Bool(b) => match v {
            FieldRef::Bool(x) => x == *b,
            FieldRef::Str(s) => {
                let truthy = ["true", "1", "yes"]
                    .iter()
                    .any(|w| s.eq_ignore_ascii_case(w));
                let falsy = ["false", "0", "no"]
                    .iter()
                    .any(|w| s.eq_ignore_ascii_case(w));
                if *b { truthy } else { falsy }
            }
            _ => false,
        },
        Test::Null => matches!(v, FieldRef::Null),
        Test::Cidr(net) => {
            with_text(v, |s| s.parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip))).unwrap_or(false)
        }
        Test::FieldRef { op, ci, .. } => fieldref_matches(v, fieldref(), *op, *ci),
        Test::TimePart(part, n) => {
            time_part(v, *part).is_some_and(|x| (x as f64 - n).abs() < f64::EPSILON)
        }
    }
}

fn fieldref_matches(v: FieldRef<'_>, other: FieldRef<'_>, op: StrOp, ci: bool) -> bool {
    match other {
        FieldRef::Missing => false,
        FieldRef::Str(o) => with_text(v, |s| {
            if ci {
                str_op(op, &s.to_lowercase(), &o.to_lowercase())
            } else {
                str_op(op, s, o)
            }
        })
        .unwrap_or(false),
        other => op == StrOp::Exact && scalar_eq(v, other),
    }
}

fn scalar_eq(a: FieldRef<'_>, b: FieldRef<'_>) -> bool {
    match (a, b) {
        (FieldRef::Null, FieldRef::Null) => true,
        (FieldRef::Bool(x), FieldRef::Bool(y)) => x == y,
        (FieldRef::Str(x), FieldRef::Str(y)) => x == y,
        (FieldRef::Int(_) | FieldRef::UInt(_) | FieldRef::Float(_), _) => {
            matches!((as_number(a), as_number(b)), (Some(x), Some(y)) if x == y)
                && !matches!(b, FieldRef::Str(_))
        }
        _ => false,
    }
}

/// A component of a timestamp (RFC 3339 text, `YYYY-MM-DD[T ]HH:MM:SS[.f]` taken as UTC,
/// or epoch seconds/milliseconds), in UTC.
pub(crate) fn time_part(v: FieldRef<'_>, part: TimePart) -> Option<i64> {
    use jiff::tz::TimeZone;
    let zoned = match v {
        FieldRef::Str(s) => match s.parse::<jiff::Timestamp>() {
            Ok(ts) => ts.to_zoned(TimeZone::UTC),
            Err(_) => s
                .parse::<jiff::civil::DateTime>()
                .ok()?
                .to_zoned(TimeZone::UTC)
                .ok()?,
        },
        FieldRef::Int(_) | FieldRef::UInt(_) | FieldRef::Float(_) => {
            let n = as_number(v)? as i64;
            let secs = if n > 1_000_000_000_000 { n / 1000 } else { n };
            jiff::Timestamp::from_second(secs)
                .ok()?
                .to_zoned(TimeZone::UTC)
        }
        _ => return None,
    };
    Some(match part {
        TimePart::Minute => i64::from(zoned.minute()),
        TimePart::Hour => i64::from(zoned.hour()),
        TimePart::Day => i64::from(zoned.day()),
        TimePart::Week => i64::from(zoned.date().iso_week_date().week()),
        TimePart::Month => i64::from(zoned.month()),
        TimePart::Year => i64::from(zoned.year()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_forms() {
        let cases: &[(FieldRef<'_>, Option<&str>)] = &[
            (FieldRef::Int(4688), Some("4688")),
            (FieldRef::Int(-1), Some("-1")),
            (FieldRef::UInt(u64::MAX), Some("18446744073709551615")),
            (FieldRef::Float(1.5), Some("1.5")),
            (FieldRef::Float(1e300), Some(&*format!("{}", 1e300))),
            (FieldRef::Bool(true), Some("true")),
            (FieldRef::Str("x"), Some("x")),
            (FieldRef::Null, None),
            (FieldRef::Object, None),
        ];
        for (v, want) in cases {
            assert_eq!(with_text(*v, |s| s.to_owned()).as_deref(), *want, "{v:?}");
        }
    }

    #[test]
    fn time_parts() {
        let cases: &[(FieldRef<'_>, TimePart, Option<i64>)] = &[
            (
                FieldRef::Str("2024-03-05T07:08:09Z"),
                TimePart::Hour,
                Some(7),
            ),
            (
                FieldRef::Str("2024-03-05T07:08:09+02:00"),
                TimePart::Hour,
                Some(5),
            ),
            (
                FieldRef::Str("2024-03-05 07:08:09"),
                TimePart::Minute,
                Some(8),
            ),
            (
                FieldRef::Str("2024-03-05T07:08:09.123"),
                TimePart::Day,
                Some(5),
            ),
            (
                FieldRef::Str("2024-03-05T07:08:09Z"),
                TimePart::Week,
                Some(10),
            ),
            (
                FieldRef::Str("2024-03-05T07:08:09Z"),
                TimePart::Month,
                Some(3),
            ),
            (FieldRef::Int(1_700_000_000), TimePart::Year, Some(2023)),
            (FieldRef::Int(1_700_000_000_000), TimePart::Year, Some(2023)),
            (FieldRef::Str("yesterday"), TimePart::Year, None),
        ];
        for (v, part, want) in cases {
            assert_eq!(time_part(*v, *part), *want, "{v:?} {part:?}");
        }
    }
}
