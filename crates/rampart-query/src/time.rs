//! Times and durations written in queries: `now-15m`, `-24h`, `2024-01-01`, RFC 3339, spans.

use crate::error::ParseError;
use rampart_model::Timestamp;

const SECOND: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SECOND;

/// Parse a point in time as analysts write it (used for `--from`/`--to` and range bounds):
///
/// * `now`, `now-15m`, `now+1d`, and the short form `-24h` (= `now-24h`);
///   units `s`, `m`, `h`, `d`, `w`;
/// * `today` and `yesterday`: midnight UTC of the current / previous day;
/// * `2024-01-01` (midnight UTC), `2024-01-01T10:00:00` (UTC), RFC 3339 with an offset.
pub fn parse_time(text: &str, now: Timestamp) -> Result<Timestamp, ParseError> {
    let trimmed = text.trim();
    let lead = text.len() - text.trim_start().len();
    let bad = |offset: usize, message: String| ParseError::new(lead + offset, message);
    if trimmed.is_empty() {
        return Err(bad(
            0,
            "expected a time such as now-1h or 2024-01-01".into(),
        ));
    }
    let lower = trimmed.to_ascii_lowercase();
    match lower.as_str() {
        "now" => return Ok(now),
        "today" => return Ok(Timestamp(floor_day(now.0))),
        "yesterday" => return Ok(Timestamp(floor_day(now.0).saturating_sub(DAY))),
        _ => {}
    }
    let relative = lower
        .strip_prefix("now")
        .map(|rest| (rest, 3))
        .or_else(|| lower.starts_with('-').then_some((lower.as_str(), 0)));
    if let Some((rest, offset)) = relative {
        let (sign, amount) = match rest.as_bytes().first() {
            Some(b'-') => (-1, &rest[1..]),
            Some(b'+') => (1, &rest[1..]),
            _ => {
                return Err(bad(
                    offset,
                    format!("expected '-' or '+' after 'now' in '{trimmed}'"),
                ));
            }
        };
        let nanos = parse_duration(amount).ok_or_else(|| {
            bad(
                offset + 1,
                format!(
                    "invalid duration '{amount}': expected a number followed by s, m, h, d or w \
                     (e.g. now-15m)"
                ),
            )
        })?;
        return now
            .0
            .checked_add(sign * nanos)
            .map(Timestamp)
            .ok_or_else(|| bad(0, format!("time '{trimmed}' is out of range")));
    }
    if let Ok(date) = trimmed.parse::<jiff::civil::Date>()
        && is_plain_date(trimmed)
    {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| Timestamp::from_jiff(z.timestamp()))
            .map_err(|e| bad(0, format!("invalid date '{trimmed}': {e}")));
    }
    Timestamp::parse_rfc3339(trimmed).map_err(|_| {
        bad(
            0,
            format!(
                "invalid time '{trimmed}': expected now, now-15m, -24h, today, yesterday, \
                 2024-01-01 or an RFC 3339 time"
            ),
        )
    })
}

fn is_plain_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-'
}

fn floor_day(nanos: i64) -> i64 {
    nanos.div_euclid(DAY) * DAY
}

/// A duration such as `15m`, `1h`, `7d`: digits then one of `s`, `m`, `h`, `d`, `w`.
/// Returns nanoseconds; `None` for anything else or on overflow.
pub fn parse_duration(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let unit_nanos = match unit {
        "s" => SECOND,
        "m" => 60 * SECOND,
        "h" => 3_600 * SECOND,
        "d" => DAY,
        "w" => 7 * DAY,
        _ => return None,
    };
    n.checked_mul(unit_nanos)
}

/// A duration in nanoseconds written the short way (`90s` → `90s`, `3600s` → `1h`).
pub fn format_duration(nanos: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (7 * DAY, "w"),
        (DAY, "d"),
        (3_600 * SECOND, "h"),
        (60 * SECOND, "m"),
        (SECOND, "s"),
    ];
    for (unit, name) in UNITS {
        if nanos != 0 && nanos % unit == 0 {
            return format!("{}{name}", nanos / unit);
        }
    }
    format!("{nanos}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        // 2024-03-10T12:34:56Z
        Timestamp::parse_rfc3339("2024-03-10T12:34:56Z").expect("literal time")
    }

    fn check(text: &str, want: &str) {
        let got = parse_time(text, now()).map(|t| t.to_rfc3339());
        assert_eq!(got.as_deref(), Ok(want), "parse_time({text:?})");
    }

    #[test]
    fn accepted_forms() {
        let cases = [
            ("now", "2024-03-10T12:34:56Z"),
            (" NOW ", "2024-03-10T12:34:56Z"),
            ("now-15m", "2024-03-10T12:19:56Z"),
            ("now+1d", "2024-03-11T12:34:56Z"),
            ("-24h", "2024-03-09T12:34:56Z"),
            ("-1w", "2024-03-03T12:34:56Z"),
            ("-30s", "2024-03-10T12:34:26Z"),
            ("today", "2024-03-10T00:00:00Z"),
            ("yesterday", "2024-03-09T00:00:00Z"),
            ("2024-01-01", "2024-01-01T00:00:00Z"),
            ("2024-01-01T10:00:00", "2024-01-01T10:00:00Z"),
            ("2024-01-01T10:00:00+02:00", "2024-01-01T08:00:00Z"),
            ("2024-01-01T10:00:00.5Z", "2024-01-01T10:00:00.5Z"),
        ];
        for (text, want) in cases {
            check(text, want);
        }
    }

    #[test]
    fn rejected_forms_point_at_the_problem() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected a time"),
            ("now*2", 3, "expected '-' or '+'"),
            ("now-", 4, "invalid duration ''"),
            ("now-5x", 4, "invalid duration '5x'"),
            ("-h", 1, "invalid duration 'h'"),
            ("  tomorrow", 2, "invalid time 'tomorrow'"),
            ("2024-13-01", 0, "invalid time"),
            ("now-99999999999999w", 4, "invalid duration"),
        ];
        for (text, pos, fragment) in cases {
            let err = parse_time(text, now()).expect_err(text);
            assert_eq!(err.position, *pos, "position for {text:?}: {err}");
            assert!(err.message.contains(fragment), "{text:?}: {err}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("1s", Some(SECOND)),
            ("5m", Some(300 * SECOND)),
            ("2h", Some(7_200 * SECOND)),
            ("1d", Some(DAY)),
            ("1w", Some(7 * DAY)),
            ("1", None),
            ("m", None),
            ("1ms", None),
            ("-1h", None),
            ("99999999999999999999s", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), want, "{text}");
        }
        assert_eq!(format_duration(3_600 * SECOND), "1h");
        assert_eq!(format_duration(90 * SECOND), "90s");
        assert_eq!(format_duration(5), "5ns");
    }
}
