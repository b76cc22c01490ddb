//! Shared pieces of the input configuration: durations, start positions, defaults.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// Where a file input starts reading a file it has no checkpoint for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// Read files from their first byte.
    #[default]
    Beginning,
    /// Skip what is already in files found at start-up; files created later are read whole.
    End,
}

/// Parse a duration written as a number of seconds (`30`) or with a unit (`500ms`, `30s`,
/// `5m`, `1h`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration '{text}': expected a number with a unit"))?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("invalid duration unit '{other}' in '{text}'")),
    };
    if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
        return Err(format!("duration '{text}' is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Serde adapter for [`Duration`] fields: integer seconds or a string with a unit.
pub mod duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Secs(u64),
            Float(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Secs(s) => Ok(Duration::from_secs(s)),
            Repr::Float(f) => parse_duration(&f.to_string()).map_err(serde::de::Error::custom),
            Repr::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
        }
    }

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_millis() == 0 {
            s.serialize_str(&format!("{}s", d.as_secs()))
        } else {
            s.serialize_str(&format!("{}ms", d.as_millis()))
        }
    }
}

pub(crate) fn default_true() -> bool {
    true
}

pub(crate) fn default_tenant() -> String {
    rampart_model::DEFAULT_TENANT.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<u64>) {
        let got = parse_duration(input).ok().map(|d| d.as_millis() as u64);
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn durations_parse_with_and_without_units() {
        for (input, millis) in [
            ("30", Some(30_000)),
            ("30s", Some(30_000)),
            ("500ms", Some(500)),
            ("1.5s", Some(1_500)),
            ("5m", Some(300_000)),
            ("1h", Some(3_600_000)),
            ("", None),
            ("abc", None),
            ("5 fortnights", None),
            ("-1s", None),
        ] {
            check(input, millis);
        }
    }

    #[test]
    fn duration_fields_deserialise_from_toml_like_json() {
        #[derive(Deserialize)]
        struct C {
            #[serde(with = "duration")]
            d: Duration,
        }
        let c: C = serde_json::from_str(r#"{"d": 7}"#).expect("integer seconds");
        assert_eq!(c.d, Duration::from_secs(7));
        let c: C = serde_json::from_str(r#"{"d": "250ms"}"#).expect("unit string");
        assert_eq!(c.d, Duration::from_millis(250));
        assert!(serde_json::from_str::<C>(r#"{"d": "x"}"#).is_err());
    }
}
