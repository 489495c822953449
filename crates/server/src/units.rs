//! Prometheus's byte sizes (`--storage.tsdb.retention.size=512MB`): a number and one of
//! B, KB, MB, GB, TB, PB, EB, each 1024 times the previous (as Prometheus's `units`).

/// Parses a byte size; `None` when it is not one.
pub(crate) fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let shift = match unit {
        "B" => 0,
        "KB" => 10,
        "MB" => 20,
        "GB" => 30,
        "TB" => 40,
        "PB" => 50,
        "EB" => 60,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn units() {
        assert_eq!(parse_bytes("512MB"), Some(512 << 20));
        assert_eq!(parse_bytes("1GB"), Some(1 << 30));
        assert_eq!(parse_bytes("100B"), Some(100));
        assert_eq!(parse_bytes("10"), None);
        assert_eq!(parse_bytes("1.5GB"), None);
        assert_eq!(parse_bytes("1XB"), None);
        assert_eq!(parse_bytes("99999999999EB"), None);
    }
}
