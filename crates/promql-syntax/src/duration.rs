//! Prometheus durations: `1h30m`, `10s53ms`, `1y` (365 days), `1w`.

/// Milliseconds per unit, in the only order units may appear.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a duration as Prometheus's `model.ParseDuration`: units from largest to
/// smallest, each at most once, `0` alone allowed; at most about 292 years (the range of
/// Go's nanosecond `time.Duration`). Returns milliseconds, or Prometheus's message.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || {
        format!(
            "not a valid duration string: {}",
            narthex_model::go_quote(s)
        )
    };
    let b = s.as_bytes();
    let mut i = 0;
    let mut last_unit = None;
    let mut total_ns: u128 = 0;
    while i < b.len() {
        let digits_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == digits_start {
            return Err(invalid());
        }
        let v: u64 = s[digits_start..i].parse().map_err(|_| invalid())?;
        let unit_start = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        if i == unit_start {
            return Err(invalid());
        }
        let unit = &s[unit_start..i];
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                narthex_model::go_quote(unit),
                narthex_model::go_quote(s)
            ));
        };
        if last_unit.is_some_and(|l| pos <= l) {
            return Err(invalid());
        }
        last_unit = Some(pos);
        let mult_ns = UNITS[pos].1 as u128 * 1_000_000;
        if v as u128 > (1u128 << 63) / mult_ns {
            return Err("duration out of range".into());
        }
        total_ns += v as u128 * mult_ns;
        if total_ns > i64::MAX as u128 {
            return Err("duration out of range".into());
        }
    }
    Ok((total_ns / 1_000_000) as i64)
}

/// Appends a non-negative duration as Prometheus's `model.Duration.String` does:
/// `0s` for zero; years and weeks only when they divide the rest exactly.
pub fn write_duration(out: &mut String, ms: i64) {
    use std::fmt::Write;
    if ms < 0 {
        out.push('-');
        write_duration(out, ms.checked_neg().unwrap_or(i64::MAX));
        return;
    }
    if ms == 0 {
        out.push_str("0s");
        return;
    }
    let mut rest = ms as u64;
    for (i, (unit, mult)) in UNITS.iter().enumerate() {
        if i < 2 && !rest.is_multiple_of(*mult) {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            let _ = write!(out, "{v}{unit}");
            rest -= v * mult;
        }
    }
}

/// A duration formatted as [`write_duration`] does.
pub fn format_duration(ms: i64) -> String {
    let mut s = String::new();
    write_duration(&mut s, ms);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("10s53ms"), Ok(10_053));
        assert_eq!(parse_duration("1y"), Ok(365 * 86_400_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(
            parse_duration("5m1h").unwrap_err(),
            r#"not a valid duration string: "5m1h""#
        );
        assert_eq!(
            parse_duration("5y1hs").unwrap_err(),
            r#"unknown unit "hs" in duration "5y1hs""#
        );
        assert_eq!(parse_duration("300y").unwrap_err(), "duration out of range");
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(90 * 86_400_000), "90d");
        assert_eq!(format_duration(14 * 86_400_000), "2w");
        assert_eq!(format_duration(1_500), "1s500ms");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(-300_000), "-5m");
    }
}
