//! Text the way Go's standard library (and promtool's helpers) write it: `time.Duration`,
//! `time.Time` in UTC, `units.Base2Bytes`, and `text/tabwriter` columns.

use std::fmt::Write as _;

/// Go's `time.Duration.String()` of `ns` nanoseconds: `2h0m0s`, `1h12m0.001s`, `501ms`,
/// `1.5µs`, `0s`.
pub(crate) fn duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000_000 {
        let (unit, scale) = if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{}{unit}", u / scale, fraction(u % scale, scale));
    }
    let secs = u / 1_000_000_000;
    let mut out = String::from(sign);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if secs >= 60 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{s}{}s", fraction(u % 1_000_000_000, 1_000_000_000));
    out
}

/// `.ddd` with trailing zeros removed (empty for zero) of `rem / scale`, `scale` a power of
/// ten.
fn fraction(rem: u64, scale: u64) -> String {
    if rem == 0 {
        return String::new();
    }
    let digits = scale.ilog10() as usize;
    let s = format!("{rem:0digits$}");
    format!(".{}", s.trim_end_matches('0'))
}

/// Go's `time.Unix(ms/1000, 0).UTC().String()`: `2023-11-14 22:13:20 +0000 UTC`. The
/// division truncates toward zero, as Go's does.
pub(crate) fn utc_time(ms: i64) -> String {
    let secs = ms / 1000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = narthex_model::time::civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// `units.Base2Bytes(n).String()` from Go's `alecthomas/units`: every non-zero base-1024
/// digit with its unit, largest first: `2KiB529B`, `1MiB`, `0B`.
pub(crate) fn base2_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n == 0 {
        return "0B".into();
    }
    let mut parts = Vec::new();
    let mut n = n;
    for unit in UNITS {
        if !n.is_multiple_of(1024) {
            parts.push(format!("{}{unit}", n % 1024));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

/// Rows of cells laid out as Go's `text/tabwriter` does with flags 0 and the space pad
/// character: every cell but a line's last is padded to its column's width, the widest
/// cell plus `padding`, at least `min_width`.
pub(crate) struct TabWriter {
    min_width: usize,
    padding: usize,
    rows: Vec<Vec<String>>,
}

impl TabWriter {
    pub(crate) fn new(min_width: usize, padding: usize) -> Self {
        TabWriter {
            min_width,
            padding,
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The laid-out text, one `\n`-terminated line per row.
    pub(crate) fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![self.min_width; cols];
        for row in &self.rows {
            // The last cell of a line is not tab-terminated: it belongs to no column.
            for (i, c) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
                widths[i] = widths[i].max(c.chars().count() + self.padding);
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                out.push_str(c);
                if i + 1 < row.len() {
                    let pad = widths[i].saturating_sub(c.chars().count());
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_prints_them() {
        let ms = 1_000_000;
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(7_200_000 * ms), "2h0m0s");
        assert_eq!(duration(6_390_501 * ms), "1h46m30.501s");
        assert_eq!(duration(4_320_001 * ms), "1h12m0.001s");
        assert_eq!(duration(60_000 * ms), "1m0s");
        assert_eq!(duration(501 * ms), "501ms");
        assert_eq!(duration(1_500), "1.5µs");
        assert_eq!(duration(999), "999ns");
        assert_eq!(duration(-1500 * ms), "-1.5s");
    }

    #[test]
    fn times_in_utc() {
        assert_eq!(utc_time(1_700_000_000_000), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(utc_time(1_700_006_390_501), "2023-11-14 23:59:50 +0000 UTC");
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00 +0000 UTC");
        assert_eq!(utc_time(-1_500), "1969-12-31 23:59:59 +0000 UTC");
    }

    #[test]
    fn base2_sizes() {
        assert_eq!(base2_bytes(2577), "2KiB529B");
        assert_eq!(base2_bytes(2048), "2KiB");
        assert_eq!(base2_bytes(0), "0B");
        assert_eq!(base2_bytes(5 * 1024 * 1024 + 3), "5MiB3B");
    }

    #[test]
    fn tabwriter_pads_to_min_width() {
        let mut tw = TabWriter::new(13, 2);
        tw.row(vec!["NUM CHUNKS".into(), "a".into(), "END".into()]);
        tw.row(vec!["1".into(), "a-much-longer-cell".into(), "x".into()]);
        assert_eq!(
            tw.render(),
            "NUM CHUNKS   a                   END\n1            a-much-longer-cell  x\n"
        );
    }
}
