//! Go's `fmt` float verbs and Prometheus's `humanize*` template functions, byte for byte.

use narthex_model::float::format_go_g;

/// Decimal digits of `v.abs()` rounded to `prec` significant digits, trailing zeros
/// trimmed, and the decimal point position (Go's `decimal` after `Round`).
fn digits(v: f64, prec: usize) -> (String, i32) {
    if v == 0.0 {
        return (String::new(), 0);
    }
    let s = format!("{:.*e}", prec.saturating_sub(1), v.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    while d.ends_with('0') {
        d.pop();
    }
    (d, exp + 1)
}

fn special(v: f64, plus: bool) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        let _ = plus;
        None
    }
}

fn exp_text(e: i32) -> String {
    if e < 0 {
        format!("e-{:02}", -e)
    } else {
        format!("e+{e:02}")
    }
}

/// Go's `%.{prec}g` (`strconv.FormatFloat(v, 'g', prec, 64)` with fmt's `+Inf`).
pub(crate) fn fmt_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v, false) {
        return s;
    }
    let Some(mut prec) = prec else {
        return format_go_g(v);
    };
    if prec == 0 {
        prec = 1;
    }
    let neg = v.is_sign_negative();
    let (digs, dp) = digits(v, prec);
    let nd = digs.len() as i32;
    let mut eprec = prec as i32;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let exp = dp - 1;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if nd == 0 {
        out.push('0');
        return out;
    }
    if exp < -4 || exp >= eprec {
        let p = (prec as i32).min(nd);
        out.push_str(&digs[..1]);
        if p > 1 {
            out.push('.');
            out.push_str(&digs[1..p as usize]);
        }
        out.push_str(&exp_text(exp));
        return out;
    }
    let p = if prec as i32 > dp { nd } else { prec as i32 };
    let frac = (p - dp).max(0) as usize;
    // fmtF with `frac` decimals from the digit string.
    if dp > 0 {
        for i in 0..dp {
            out.push(digs.as_bytes().get(i as usize).map_or('0', |&b| b as char));
        }
    } else {
        out.push('0');
    }
    if frac > 0 {
        out.push('.');
        for i in 0..frac as i32 {
            let j = dp + i;
            let c = if j < 0 {
                '0'
            } else {
                digs.as_bytes().get(j as usize).map_or('0', |&b| b as char)
            };
            out.push(c);
        }
    }
    out
}

/// Go's `%.{prec}f`.
pub(crate) fn fmt_f(v: f64, prec: usize) -> String {
    special(v, false).unwrap_or_else(|| format!("{v:.prec$}"))
}

/// Go's `%.{prec}e`.
pub(crate) fn fmt_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v, false) {
        return s;
    }
    let s = format!("{v:.prec$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    format!("{m}{}", exp_text(e.parse().unwrap_or(0)))
}

/// Prometheus's `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", fmt_g(v, Some(4)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", fmt_g(v, Some(4)))
}

/// Prometheus's `humanize1024`: binary prefixes.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", fmt_g(v, Some(4)))
}

/// Prometheus's `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with SI prefixes below a
/// second.
pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", fmt_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        // Go's int64 conversion of an out-of-range float gives MinInt64 on amd64.
        let d = if v >= 9.223_372_036_854_776e18 {
            i64::MIN
        } else {
            v as i64
        };
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", fmt_g(v, Some(4)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", fmt_g(v, Some(4)))
}

/// Prometheus's `humanizePercentage`.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", fmt_g(v * 100.0, Some(4)))
}

/// Prometheus's `humanizeTimestamp`: Go's `time.Time.String()` in UTC at millisecond
/// precision (`2015-06-23 13:19:44.128 +0000 UTC`).
pub fn humanize_timestamp(v: f64) -> Result<String, String> {
    if v.is_nan() || v.is_infinite() {
        return Ok(fmt_g(v, Some(4)));
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            format_go_g(v)
        ));
    }
    Ok(go_time_string((ns as i64) / 1_000_000))
}

/// Go's `time.Time.String()` of a millisecond timestamp in UTC.
pub fn go_time_string(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if milli != 0 {
        let f = format!(".{milli:03}");
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// RFC 3339 text of a millisecond timestamp in UTC, as Go's JSON encoding of `time.Time`
/// (`2015-06-23T13:19:44.128Z`, fraction trimmed).
pub(crate) fn rfc3339(ms: i64) -> String {
    narthex_model::time::format_rfc3339(ms)
}

use narthex_model::time::civil_from_days;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g() {
        for (v, p, want) in [
            (1000.0, 4, "1000"),
            (12345.0, 4, "1.234e+04"),
            (1.5, 4, "1.5"),
            (100000.0, 4, "1e+05"),
            (0.000123, 4, "0.000123"),
            (0.0000123, 4, "1.23e-05"),
            (0.0, 4, "0"),
            (-2.5, 4, "-2.5"),
            (1.2345678, 4, "1.235"),
        ] {
            assert_eq!(fmt_g(v, Some(p)), want, "{v}");
        }
        assert_eq!(fmt_e(1234.5, 2), "1.23e+03");
        assert_eq!(fmt_f(2.375, 2), "2.38");
    }
}
