//! Prometheus durations: `1h30m`, `5m`, `2w`, `1y` (`common/model.ParseDuration` and
//! `Duration.String`).
//!
//! Units, from largest to smallest: `y` (exactly 365 days), `w` (7 days), `d` (24 hours),
//! `h`, `m`, `s`, `ms`. A duration is one or more `<digits><unit>` parts with strictly
//! decreasing units; a bare `0` is also accepted. Negative and fractional durations are
//! not. As in Prometheus, the total must fit Go's `time.Duration` (an `i64` of
//! nanoseconds, about 292 years) even though the result here is in milliseconds.
//!
//! ```
//! use narthex_model::{format_duration, parse_duration};
//! assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
//! assert_eq!(format_duration(5_400_000), "1h30m");
//! assert_eq!(format_duration(90 * 86_400_000), "90d"); // not 12w6d
//! ```

use crate::quote::go_quote;

/// A duration string Prometheus would reject; the message is Prometheus's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string is empty.
    #[error("empty duration string")]
    Empty,
    /// The string is not a sequence of `<digits><unit>` with decreasing units.
    #[error("not a valid duration string: {}", go_quote(.0))]
    Invalid(String),
    /// A part has a unit that is not one of `y w d h m s ms`.
    #[error("unknown unit {} in duration {}", go_quote(.unit), go_quote(.duration))]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole duration string.
        duration: String,
    },
    /// The total exceeds what Go's `time.Duration` can hold.
    #[error("duration out of range")]
    OutOfRange,
}

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;
const MS_PER_WEEK: i64 = 7 * MS_PER_DAY;
const MS_PER_YEAR: i64 = 365 * MS_PER_DAY;
const NS_PER_MS: u64 = 1_000_000;

/// The position of a unit (larger units first) and its length in milliseconds.
fn unit(u: &str) -> Option<(u8, i64)> {
    Some(match u {
        "y" => (1, MS_PER_YEAR),
        "w" => (2, MS_PER_WEEK),
        "d" => (3, MS_PER_DAY),
        "h" => (4, MS_PER_HOUR),
        "m" => (5, MS_PER_MINUTE),
        "s" => (6, MS_PER_SECOND),
        "ms" => (7, 1),
        _ => return None,
    })
}

/// Parses a Prometheus duration into milliseconds.
///
/// ```
/// use narthex_model::parse_duration;
/// assert_eq!(parse_duration("0"), Ok(0));
/// assert_eq!(parse_duration("1w2d"), Ok(9 * 86_400_000));
/// assert!(parse_duration("1m1h").is_err()); // units must decrease
/// assert!(parse_duration("-5m").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    match s {
        "0" => return Ok(0),
        "" => return Err(DurationError::Empty),
        _ => {}
    }
    let invalid = || DurationError::Invalid(s.to_string());
    let b = s.as_bytes();
    let mut i = 0;
    let mut total_ns: u64 = 0;
    let mut last_pos = 0u8;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        // Go parses the digits as a uint64; more than that is not a number at all.
        let v: u64 = s[start..i].parse().map_err(|_| invalid())?;
        let ustart = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        if i == ustart {
            return Err(invalid());
        }
        // Both ends are at ASCII digits or the string's ends, so these are char boundaries.
        let u = &s[ustart..i];
        let Some((pos, ms)) = unit(u) else {
            return Err(DurationError::UnknownUnit {
                unit: u.to_string(),
                duration: s.to_string(),
            });
        };
        if pos <= last_pos {
            return Err(invalid());
        }
        last_pos = pos;
        // The bounds Prometheus checks, in nanoseconds: each part at most 2^63 ns, the sum
        // at most 2^63 - 1 ns.
        let mult = ms as u64 * NS_PER_MS;
        if v > (1u64 << 63) / mult {
            return Err(DurationError::OutOfRange);
        }
        total_ns += v * mult;
        if total_ns > i64::MAX as u64 {
            return Err(DurationError::OutOfRange);
        }
    }
    Ok((total_ns / NS_PER_MS) as i64)
}

/// Formats milliseconds as Prometheus prints a duration.
///
/// Years and weeks are used only when they divide the whole duration exactly (`90d`, not
/// `12w6d`); the smaller units follow in order, zero parts left out. Zero is `0s`; a
/// negative duration gets a leading `-`.
///
/// ```
/// use narthex_model::format_duration;
/// assert_eq!(format_duration(0), "0s");
/// assert_eq!(format_duration(14 * 86_400_000), "2w");
/// assert_eq!(format_duration(3_723_004), "1h2m3s4ms");
/// assert_eq!(format_duration(-1500), "-1s500ms");
/// ```
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut rest = ms.unsigned_abs();
    let units: [(&str, i64, bool); 7] = [
        ("y", MS_PER_YEAR, true),
        ("w", MS_PER_WEEK, true),
        ("d", MS_PER_DAY, false),
        ("h", MS_PER_HOUR, false),
        ("m", MS_PER_MINUTE, false),
        ("s", MS_PER_SECOND, false),
        ("ms", 1, false),
    ];
    for (name, mult, exact) in units {
        let mult = mult as u64;
        if exact && !rest.is_multiple_of(mult) {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            out.push_str(&v.to_string());
            out.push_str(name);
            rest -= v * mult;
        }
    }
    out
}
