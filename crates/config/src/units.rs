//! Byte sizes as Prometheus's configuration reads them (`units.Base2Bytes`).

/// Parses a byte size as Prometheus's `units.Base2Bytes` does: `0`, or amounts with the
/// units `B`, `KB`/`KiB`, `MB`/`MiB`, ... `EB`/`EiB`, all powers of 1024 (`1KB` is 1024
/// bytes), optionally with a fraction and several components (`1GB512MB`).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    if s == "0" {
        return Ok(0);
    }
    let invalid = || format!("units: invalid {s}");
    if s.is_empty() {
        return Err(invalid());
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: f64 = 0.0;
    while i < b.len() {
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let num: f64 = s[start..i].parse().map_err(|_| invalid())?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let exp = match &s[ustart..i] {
            "B" => 0,
            "KB" | "KiB" => 1,
            "MB" | "MiB" => 2,
            "GB" | "GiB" => 3,
            "TB" | "TiB" => 4,
            "PB" | "PiB" => 5,
            "EB" | "EiB" => 6,
            "" => return Err(format!("units: missing unit in {s}")),
            u => return Err(format!("units: unknown unit {u} in {s}")),
        };
        total += num * 1024f64.powi(exp);
    }
    if total >= u64::MAX as f64 {
        return Err(format!("units: overflow in {s}"));
    }
    Ok(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("1KB"), Ok(1024));
        assert_eq!(parse_bytes("1KiB"), Ok(1024));
        assert_eq!(parse_bytes("1.5MB"), Ok(1536 * 1024));
        assert_eq!(parse_bytes("100B"), Ok(100));
        assert!(parse_bytes("100").is_err());
        assert!(parse_bytes("1XB").is_err());
    }
}
