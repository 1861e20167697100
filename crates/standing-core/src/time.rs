//! Instants and spans, in whole seconds since the Unix epoch (UTC).
//!
//! Scoring needs no finer resolution, and integers keep every computation exact and ordered.

use std::fmt;

/// An instant in UTC, in whole seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// A span of time in whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub i64);

/// Why a timestamp or duration could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseTimeError {
    pub input: String,
    pub expected: &'static str,
}

impl fmt::Display for ParseTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not {}", self.input, self.expected)
    }
}

impl std::error::Error for ParseTimeError {}

impl Timestamp {
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// Reads an RFC 3339 date-time (`2026-03-01T10:00:00Z`, `2026-03-01T12:00:00+02:00`) or a
    /// plain date (`2026-03-01`, taken as midnight UTC). Fractions of a second are dropped.
    pub fn parse(input: &str) -> Result<Timestamp, ParseTimeError> {
        let error = || ParseTimeError {
            input: input.chars().take(64).collect(),
            expected: "an RFC 3339 date-time like 2026-03-01T10:00:00Z or a date like 2026-03-01",
        };
        if input.len() == 10 {
            let format = ::time::macros::format_description!("[year]-[month]-[day]");
            let date = ::time::Date::parse(input, &format).map_err(|_| error())?;
            return Ok(Timestamp(date.midnight().assume_utc().unix_timestamp()));
        }
        let parsed =
            ::time::OffsetDateTime::parse(input, &::time::format_description::well_known::Rfc3339)
                .map_err(|_| error())?;
        Ok(Timestamp(parsed.unix_timestamp()))
    }

    pub fn seconds(self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, span: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(span.0))
    }

    /// The calendar date, `YYYY-MM-DD`, for reason texts.
    pub fn date_string(self) -> String {
        match ::time::OffsetDateTime::from_unix_timestamp(self.0) {
            Ok(instant) => {
                let format = ::time::macros::format_description!("[year]-[month]-[day]");
                instant
                    .format(&format)
                    .unwrap_or_else(|_| self.0.to_string())
            }
            Err(_) => self.0.to_string(),
        }
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, `2026-03-01T10:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match ::time::OffsetDateTime::from_unix_timestamp(self.0) {
            Ok(instant) => {
                let format = ::time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
                );
                match instant.format(&format) {
                    Ok(text) => f.write_str(&text),
                    Err(_) => write!(f, "@{}", self.0),
                }
            }
            Err(_) => write!(f, "@{}", self.0),
        }
    }
}

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

impl Duration {
    pub const DAY: Duration = Duration(DAY);

    /// Reads a span written as a whole number and a unit: `90s`, `15m`, `12h`, `30d`, `6w`,
    /// `18mo` (30 days each) or `3y` (365 days each).
    pub fn parse(input: &str) -> Result<Duration, ParseTimeError> {
        let error = || ParseTimeError {
            input: input.chars().take(64).collect(),
            expected: "a span like 30d, 6w, 18mo or 3y (units: s, m, h, d, w, mo, y)",
        };
        let split = input
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(error)?;
        let (number, unit) = input.split_at(split);
        let number: i64 = number.parse().map_err(|_| error())?;
        let unit_seconds = match unit {
            "s" => 1,
            "m" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            "w" => 7 * DAY,
            "mo" => 30 * DAY,
            "y" => 365 * DAY,
            _ => return Err(error()),
        };
        number
            .checked_mul(unit_seconds)
            .filter(|seconds| *seconds > 0)
            .map(Duration)
            .ok_or_else(error)
    }

    pub fn seconds(self) -> i64 {
        self.0
    }

    pub fn days(self) -> f64 {
        self.0 as f64 / DAY as f64
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0;
        if seconds % (365 * DAY) == 0 {
            write!(f, "{}y", seconds / (365 * DAY))
        } else if seconds % (30 * DAY) == 0 {
            write!(f, "{}mo", seconds / (30 * DAY))
        } else if seconds % DAY == 0 {
            write!(f, "{}d", seconds / DAY)
        } else {
            write!(f, "{seconds}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_rfc3339() {
        let parsed = Timestamp::parse("2026-03-01T10:00:00Z").unwrap();
        assert_eq!(parsed.to_string(), "2026-03-01T10:00:00Z");
        let offset = Timestamp::parse("2026-03-01T12:00:00+02:00").unwrap();
        assert_eq!(offset, parsed);
        assert_eq!(
            Timestamp::parse("2026-03-01").unwrap().date_string(),
            "2026-03-01"
        );
        assert!(Timestamp::parse("2026-13-01T00:00:00Z").is_err());
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn durations_read_every_unit_and_refuse_the_rest() {
        assert_eq!(Duration::parse("3y").unwrap(), Duration(3 * 365 * DAY));
        assert_eq!(Duration::parse("18mo").unwrap(), Duration(18 * 30 * DAY));
        assert_eq!(Duration::parse("90s").unwrap(), Duration(90));
        assert_eq!(Duration::parse("3y").unwrap().to_string(), "3y");
        for bad in ["", "y", "3", "3 years", "0d", "-3d", "3yy"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }
}
