//! Event time: nanoseconds since the Unix epoch, UTC.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(pub i64);

#[derive(Debug, thiserror::Error)]
#[error("invalid timestamp '{input}': {reason}")]
pub struct TimestampError {
    pub input: String,
    pub reason: String,
}

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(jiff::Timestamp::now().as_nanosecond() as i64)
    }

    pub fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    pub fn from_millis(millis: i64) -> Self {
        Timestamp(millis.saturating_mul(1_000_000))
    }

    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    pub fn micros(self) -> i64 {
        self.0.div_euclid(1_000)
    }

    pub fn millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn to_jiff(self) -> jiff::Timestamp {
        jiff::Timestamp::from_nanosecond(self.0 as i128).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    pub fn from_jiff(ts: jiff::Timestamp) -> Self {
        Timestamp(ts.as_nanosecond().clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    /// RFC 3339 in UTC with as many fractional digits as needed.
    pub fn to_rfc3339(self) -> String {
        self.to_jiff().to_string()
    }

    /// Parse RFC 3339 / ISO 8601 with an offset (`2024-01-02T03:04:05.123Z`,
    /// `2024-01-02T03:04:05+02:00`). A time without an offset is taken as UTC.
    pub fn parse_rfc3339(input: &str) -> Result<Self, TimestampError> {
        let trimmed = input.trim();
        if let Ok(ts) = trimmed.parse::<jiff::Timestamp>() {
            return Ok(Self::from_jiff(ts));
        }
        match trimmed.parse::<jiff::civil::DateTime>() {
            Ok(dt) => dt
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| Self::from_jiff(z.timestamp()))
                .map_err(|e| TimestampError {
                    input: input.to_owned(),
                    reason: e.to_string(),
                }),
            Err(e) => Err(TimestampError {
                input: input.to_owned(),
                reason: e.to_string(),
            }),
        }
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_rfc3339())
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Nanos(i64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Nanos(n) => Ok(Timestamp(n)),
            Repr::Text(s) => Timestamp::parse_rfc3339(&s).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_roundtrip_keeps_nanoseconds() {
        let ts = Timestamp::parse_rfc3339("2024-03-01T10:20:30.123456789Z").expect("valid");
        assert_eq!(ts.to_rfc3339(), "2024-03-01T10:20:30.123456789Z");
        let offset = Timestamp::parse_rfc3339("2024-03-01T12:20:30+02:00").expect("valid");
        assert_eq!(offset.to_rfc3339(), "2024-03-01T10:20:30Z");
        let naive = Timestamp::parse_rfc3339("2024-03-01T10:20:30").expect("valid");
        assert_eq!(naive.to_rfc3339(), "2024-03-01T10:20:30Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }
}
