//! Timestamp forms found in logs: BSD syslog, ISO 8601, epoch numbers, Apache's two forms.

use crate::{Error, Parser};
use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use rampart_model::Timestamp;

/// `UTC`, a fixed offset (`+02:00`, `-0500`, `+5`) or an IANA zone name.
pub(crate) fn parse_timezone(name: &str) -> Result<TimeZone, Error> {
    let invalid = |reason: String| Error::InvalidTimezone {
        name: name.to_owned(),
        reason,
    };
    if matches!(name, "UTC" | "utc" | "Z" | "GMT") {
        return Ok(TimeZone::UTC);
    }
    if let Some(seconds) = parse_offset(name) {
        return Offset::from_seconds(seconds)
            .map(TimeZone::fixed)
            .map_err(|e| invalid(e.to_string()));
    }
    TimeZone::get(name).map_err(|e| invalid(e.to_string()))
}

/// `+HH`, `+H`, `+HHMM`, `+HH:MM` (and `-`) as seconds east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        3 => (
            digits[..1].parse::<i32>().ok()?,
            digits[1..].parse::<i32>().ok()?,
        ),
        _ => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
    };
    if h > 25 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

pub(crate) fn month(b: &[u8]) -> Option<i8> {
    let m = [
        b.first()?.to_ascii_lowercase(),
        b.get(1)?.to_ascii_lowercase(),
        b.get(2)?.to_ascii_lowercase(),
    ];
    Some(match &m {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// Whether a record opens with a syslog timestamp (`Jun 14 15:16:01` or ISO 8601 with a time).
pub(crate) fn starts_with_syslog_timestamp(text: &str) -> bool {
    bsd(text).is_some() || starts_with_iso_datetime(text)
}

fn starts_with_iso_datetime(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b' ')
        && b[13] == b':'
}

/// A BSD timestamp before its year is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bsd {
    pub month: i8,
    pub day: i8,
    pub year: Option<i16>,
    pub hour: i8,
    pub minute: i8,
    pub second: i8,
    pub nanos: i32,
}

/// Cursor over ASCII bytes for the fixed-shape timestamp forms.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Option<i32> {
        let start = self.i;
        let mut n: i32 = 0;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            n = n * 10 + i32::from(self.b[self.i] - b'0');
            self.i += 1;
        }
        (self.i - start >= min).then_some(n)
    }
    fn byte(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }
    fn spaces(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
        self.i - start
    }
    /// `.123456` → nanoseconds; nothing when there is no fraction.
    fn fraction(&mut self) -> i32 {
        if self.b.get(self.i) != Some(&b'.')
            || !self.b.get(self.i + 1).is_some_and(u8::is_ascii_digit)
        {
            return 0;
        }
        self.i += 1;
        let mut nanos: i32 = 0;
        let mut scale = 100_000_000;
        while let Some(d) = self.b.get(self.i).filter(|d| d.is_ascii_digit()) {
            nanos += i32::from(d - b'0') * scale;
            scale /= 10;
            self.i += 1;
        }
        nanos
    }
    fn hms(&mut self) -> Option<(i8, i8, i8, i32)> {
        let h = self.digits(1, 2)?;
        self.byte(b':')?;
        let m = self.digits(2, 2)?;
        self.byte(b':')?;
        let s = self.digits(2, 2)?;
        let nanos = self.fraction();
        Some((h as i8, m as i8, s as i8, nanos))
    }
}

/// `Mmm dd hh:mm:ss[.fff]`, `Mmm dd yyyy hh:mm:ss`, or `Mmm dd hh:mm:ss yyyy`; returns the
/// parts and the text after them.
pub(crate) fn bsd(text: &str) -> Option<(Bsd, &str)> {
    let b = text.as_bytes();
    let month = month(b)?;
    let mut s = Scan { b, i: 3 };
    if s.spaces() == 0 {
        return None;
    }
    let day = s.digits(1, 2)?;
    if s.spaces() == 0 {
        return None;
    }
    let mut year = None;
    let save = s.i;
    if let Some(y) = s.digits(4, 4)
        && s.spaces() > 0
    {
        year = Some(y as i16);
    } else {
        s.i = save;
    }
    let (hour, minute, second, nanos) = s.hms()?;
    if year.is_none() {
        let save = s.i;
        // `Mmm dd hh:mm:ss yyyy ` (as Cisco and some appliances write it).
        if s.spaces() == 1
            && let Some(y) = s.digits(4, 4)
            && matches!(b.get(s.i), None | Some(b' '))
        {
            year = Some(y as i16);
        } else {
            s.i = save;
        }
    }
    match b.get(s.i) {
        None | Some(b' ') | Some(b':') => {}
        _ => return None,
    }
    let parts = Bsd {
        month,
        day: day as i8,
        year,
        hour,
        minute,
        second,
        nanos,
    };
    Some((parts, &text[s.i..]))
}

fn civil(tz: &TimeZone, year: i16, t: &Bsd) -> Option<jiff::Timestamp> {
    let dt = DateTime::new(year, t.month, t.day, t.hour, t.minute, t.second, t.nanos).ok()?;
    tz.to_ambiguous_timestamp(dt).compatible().ok()
}

/// Resolve a BSD timestamp in the parser's zone. With no year: the configured default or
/// the current year, and the previous year when that would put it over a day ahead of now.
pub(crate) fn resolve_bsd(p: &Parser, t: &Bsd) -> Option<Timestamp> {
    if let Some(year) = t.year {
        return civil(&p.tz, year, t).map(Timestamp::from_jiff);
    }
    let now = jiff::Timestamp::now();
    let year = match p.default_year {
        Some(y) => y,
        None => p.tz.to_datetime(now).year(),
    };
    // A 29 February falls back to the last leap year.
    for back in 0..4 {
        if let Some(ts) = civil(&p.tz, year - back, t) {
            let ts = if back == 0 && ts.as_second() > now.as_second() + 86_400 {
                civil(&p.tz, year - 1, t).unwrap_or(ts)
            } else {
                ts
            };
            return Some(Timestamp::from_jiff(ts));
        }
    }
    None
}

/// ISO 8601 / RFC 3339; a time without an offset is taken in `tz`.
pub(crate) fn iso(s: &str, tz: &TimeZone) -> Option<Timestamp> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(Timestamp::from_jiff(ts));
    }
    let dt = s.parse::<DateTime>().ok()?;
    tz.to_ambiguous_timestamp(dt)
        .compatible()
        .ok()
        .map(Timestamp::from_jiff)
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds (told apart by the number of
/// integer digits: up to 11, 14, 17, more), with an optional decimal fraction, read exactly.
pub(crate) fn epoch(s: &str) -> Option<Timestamp> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || int.len() > 19
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = int.parse().ok()?;
    let unit_nanos: i64 = match int.len() {
        0..=11 => 1_000_000_000,
        12..=14 => 1_000_000,
        15..=17 => 1_000,
        _ => 1,
    };
    let mut frac_nanos: i64 = 0;
    let mut scale = unit_nanos / 10;
    for d in frac.bytes() {
        if scale == 0 {
            break;
        }
        frac_nanos += i64::from(d - b'0') * scale;
        scale /= 10;
    }
    whole
        .checked_mul(unit_nanos)?
        .checked_add(frac_nanos)
        .map(Timestamp::from_nanos)
}

/// Any timestamp text a source may put in a field: epoch digits, ISO 8601, or a BSD form
/// with an optional trailing zone (`Oct 12 2024 10:00:00.123 UTC`).
pub(crate) fn loose(p: &Parser, s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        return epoch(s);
    }
    if b[0].is_ascii_digit() {
        return iso(s, &p.tz);
    }
    let (t, rest) = bsd(s)?;
    let zone = rest.trim();
    if zone.is_empty() {
        return resolve_bsd(p, &t);
    }
    let tz = parse_timezone(zone).ok()?;
    let zoned = Parser { tz, ..p.clone() };
    resolve_bsd(&zoned, &t)
}

/// Apache access-log time: `10/Oct/2000:13:55:36 -0700`.
pub(crate) fn apache_access(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let mut sc = Scan { b, i: 0 };
    let day = sc.digits(1, 2)?;
    sc.byte(b'/')?;
    let month = month(b.get(sc.i..)?)?;
    sc.i += 3;
    sc.byte(b'/')?;
    let year = sc.digits(4, 4)?;
    sc.byte(b':')?;
    let (hour, minute, second, nanos) = sc.hms()?;
    sc.spaces();
    let offset = parse_offset(s.get(sc.i..)?.trim())?;
    let dt = DateTime::new(year as i16, month, day as i8, hour, minute, second, nanos).ok()?;
    let tz = TimeZone::fixed(Offset::from_seconds(offset).ok()?);
    tz.to_ambiguous_timestamp(dt)
        .compatible()
        .ok()
        .map(Timestamp::from_jiff)
}

/// Apache error-log time: `Sun Dec 04 04:47:44 2005` or `Sun Dec 04 04:47:44.123456 2005`,
/// local time of the server (the parser's zone).
pub(crate) fn apache_error(p: &Parser, s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 4 || b[3] != b' ' {
        return None;
    }
    let (t, rest) = bsd(&s[4..])?;
    let year = match t.year {
        Some(y) => y,
        None => rest.trim().parse::<i16>().ok()?,
    };
    civil(&p.tz, year, &t).map(Timestamp::from_jiff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParserConfig;

    fn parser(tz: Option<&str>, year: Option<i32>) -> Parser {
        Parser::new(ParserConfig {
            format: crate::Format::Auto,
            default_year: year,
            timezone: tz.map(str::to_owned),
        })
        .expect("valid test config")
    }

    #[test]
    fn bsd_forms_resolve() {
        let p = parser(None, Some(2005));
        // (input, expected RFC 3339, expected rest)
        let cases: &[(&str, &str, &str)] = &[
            (
                "Jun 14 15:16:01 combo x",
                "2005-06-14T15:16:01Z",
                " combo x",
            ),
            ("Jul  3 04:08:03 combo", "2005-07-03T04:08:03Z", " combo"),
            ("Dec 10 06:55:46.123 h", "2005-12-10T06:55:46.123Z", " h"),
            ("Oct 11 2019 22:14:15 h", "2019-10-11T22:14:15Z", " h"),
            ("Oct 11 22:14:15 2019 h", "2019-10-11T22:14:15Z", " h"),
        ];
        for (input, want, rest) in cases {
            let (t, r) = bsd(input).unwrap_or_else(|| panic!("{input} should parse"));
            assert_eq!(r, *rest, "{input}");
            let ts = resolve_bsd(&p, &t).unwrap_or_else(|| panic!("{input} resolves"));
            assert_eq!(ts.to_rfc3339(), *want, "{input}");
        }
        for bad in [
            "Jux 14 15:16:01 x",
            "Jun 14 1516:01",
            "Jun14 15:16:01",
            "Jun 14 15:16:01x",
        ] {
            assert!(bsd(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn missing_year_never_lands_a_day_in_the_future() {
        let p = parser(None, None);
        let now = jiff::Timestamp::now();
        let tomorrow_plus = now + jiff::SignedDuration::from_hours(72);
        let dt = TimeZone::UTC.to_datetime(tomorrow_plus);
        let t = Bsd {
            month: dt.month(),
            day: dt.day(),
            year: None,
            hour: 0,
            minute: 0,
            second: 0,
            nanos: 0,
        };
        let ts = resolve_bsd(&p, &t).expect("resolves");
        assert!(ts.to_jiff() < now, "{ts} should be in the past");
    }

    #[test]
    fn zones_apply_to_zoneless_times() {
        let paris = parser(Some("Europe/Paris"), Some(2024));
        let (t, _) = bsd("Jul 01 12:00:00 h").expect("parses");
        assert_eq!(
            resolve_bsd(&paris, &t).map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-07-01T10:00:00Z")
        );
        let fixed = parser(Some("-05:00"), Some(2024));
        assert_eq!(
            resolve_bsd(&fixed, &t).map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-07-01T17:00:00Z")
        );
    }

    #[test]
    fn other_forms() {
        let p = parser(None, Some(2024));
        let cases: &[(&str, Option<&str>)] = &[
            ("1700000000", Some("2023-11-14T22:13:20Z")),
            ("1700000000123", Some("2023-11-14T22:13:20.123Z")),
            ("1700000000.5", Some("2023-11-14T22:13:20.5Z")),
            (
                "2024-01-02T03:04:05.123456+0000",
                Some("2024-01-02T03:04:05.123456Z"),
            ),
            ("2024-01-02T03:04:05+01:00", Some("2024-01-02T02:04:05Z")),
            ("2024-01-02 03:04:05", Some("2024-01-02T03:04:05Z")),
            (
                "Oct 12 2024 10:00:00.250 UTC",
                Some("2024-10-12T10:00:00.25Z"),
            ),
            ("Oct 12 2024 10:00:00 +02:00", Some("2024-10-12T08:00:00Z")),
            ("yesterday", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                loose(&p, input).map(|t| t.to_rfc3339()).as_deref(),
                *want,
                "{input}"
            );
        }
        assert_eq!(
            apache_access("10/Oct/2000:13:55:36 -0700")
                .map(|t| t.to_rfc3339())
                .as_deref(),
            Some("2000-10-10T20:55:36Z")
        );
        assert_eq!(
            apache_error(&p, "Sun Dec 04 04:47:44 2005")
                .map(|t| t.to_rfc3339())
                .as_deref(),
            Some("2005-12-04T04:47:44Z")
        );
        assert_eq!(
            apache_error(&p, "Sun Dec 04 04:47:44.123456 2005")
                .map(|t| t.to_rfc3339())
                .as_deref(),
            Some("2005-12-04T04:47:44.123456Z")
        );
    }
}
