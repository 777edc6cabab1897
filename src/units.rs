//! Units as suites and command lines write them: durations (`"250ms"`, `"10s"`, `"1.5s"`, `"5m"`,
//! `"1h"`) and byte sizes (`"512MiB"`, `"80GiB"`, `"1.5GB"`).
//!
//! A leaf: it depends on nothing else in the crate, so any module may use it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The longest duration a suite or a fault file may name: 7 days (a weekly soak fits).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// [`MAX_DURATION`] as messages and the docs write it.
pub fn max_duration_text() -> String {
    format!("\"{}h\" (7 days)", MAX_DURATION.as_secs() / 3600)
}

/// A duration read from a suite; prints back in the same notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Dur {
    /// From whole milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }

    /// From whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Dur(Duration::from_secs(s))
    }

    /// As fractional milliseconds.
    pub fn as_ms(self) -> f64 {
        self.0.as_secs_f64() * 1e3
    }
}

/// Why a string is not a suite duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurError {
    /// Not a number and a unit.
    #[error("expected a duration such as \"250ms\", \"10s\", \"5m\" or \"1h\", found {0:?}")]
    Syntax(String),
    /// Longer than [`MAX_DURATION`].
    #[error("{0:?} is longer than {max}, the longest duration a suite may name", max = max_duration_text())]
    TooLong(String),
}

impl FromStr for Dur {
    type Err = DurError;

    fn from_str(s: &str) -> Result<Self, DurError> {
        let expected = || DurError::Syntax(s.to_string());
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(expected)?;
        let (num, unit) = t.split_at(split);
        let n: f64 = num.parse().map_err(|_| expected())?;
        let scale = match unit.trim() {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(expected()),
        };
        let secs = n * scale;
        if !secs.is_finite() {
            return Err(expected());
        }
        // Checked before `Duration` is made: a huge value would panic there, and every timer
        // the run arms from a suite duration stays far from overflowing.
        if secs > MAX_DURATION.as_secs_f64() {
            return Err(DurError::TooLong(s.to_string()));
        }
        Ok(Dur(Duration::from_secs_f64(secs)))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 && d.as_secs() > 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.subsec_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{}us", d.as_micros())
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An upper bound on a duration as a threshold writes it: `"<2s"`, `"<= 250ms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Below {
    /// The limit.
    pub limit: Dur,
    /// `<=` (the limit itself passes) rather than `<`.
    pub inclusive: bool,
}

impl Below {
    /// Whether a value in milliseconds keeps the bound.
    pub fn holds(&self, ms: f64) -> bool {
        if self.inclusive {
            ms <= self.limit.as_ms()
        } else {
            ms < self.limit.as_ms()
        }
    }
}

/// What a bound looks like, for messages.
pub const BELOW_EXPECTED: &str = "a bound such as \"<2s\" or \"<= 250ms\"";

impl FromStr for Below {
    type Err = DurError;

    fn from_str(s: &str) -> Result<Self, DurError> {
        let t = s.trim();
        let (inclusive, rest) = match (t.strip_prefix("<="), t.strip_prefix('<')) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(DurError::Syntax(s.to_string())),
        };
        Ok(Below {
            limit: rest.parse()?,
            inclusive,
        })
    }
}

impl fmt::Display for Below {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.inclusive { "<=" } else { "<" };
        write!(f, "{op} {}", self.limit)
    }
}

impl Serialize for Below {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Below {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parse a byte count: `1073741824`, `512MiB`, `80GiB`, `1.5GB`, `64KiB`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("expected a size such as \"512MiB\" or \"80GiB\", found \"{s}\""))?;
    let scale: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in \"{s}\", expected B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    Ok((n * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let b: Below = "<2s".parse().unwrap();
        assert_eq!((b.limit, b.inclusive), (Dur::from_secs(2), false));
        assert!(b.holds(1999.9) && !b.holds(2000.0));
        let b: Below = " <= 250ms".parse().unwrap();
        assert!(b.inclusive && b.holds(250.0) && !b.holds(250.1));
        assert_eq!(b.to_string(), "<= 250ms");
        assert_eq!(b.to_string().parse::<Below>(), Ok(b));
        for bad in ["2s", "<", "<2", "> 2s", "<=-1s"] {
            assert!(bad.parse::<Below>().is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        for (s, ms) in [
            ("250ms", 250),
            ("10s", 10_000),
            ("1.5s", 1500),
            ("5m", 300_000),
            ("1h", 3_600_000),
        ] {
            let d: Dur = s.parse().unwrap();
            assert_eq!(d.0.as_millis(), ms, "{s}");
        }
        assert_eq!(Dur::from_millis(1500).to_string(), "1500ms");
        assert_eq!(Dur::from_secs(3).to_string(), "3s");
        for bad in ["", "10", "s", "10 parsecs", "-1s", "1e400s"] {
            assert!(
                matches!(bad.parse::<Dur>(), Err(DurError::Syntax(_))),
                "{bad}"
            );
        }
        assert_eq!("168h".parse::<Dur>().map(|d| d.0), Ok(MAX_DURATION));
        for long in ["168.001h", "100000h", "99999999999999999999999s"] {
            assert!(
                matches!(long.parse::<Dur>(), Err(DurError::TooLong(_))),
                "{long}"
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("80GiB"), Ok(80 << 30));
        assert_eq!(parse_bytes("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
    }
}
