//! Grouping keys from request paths: `job/<job>{/<label>/<value>}`, with `@base64` values.

use narthex_model::is_legacy_label_name;

/// A grouping key: label pairs sorted by name, `job` always among them.
pub type GroupingKey = Vec<(String, String)>;

/// Why a grouping path was refused (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `job/` or `job@base64/`.
    #[error("path must start with job/<job>")]
    NoJob,
    /// The job name is empty.
    #[error("job name is required")]
    EmptyJob,
    /// A label name without a value.
    #[error("odd number of components in label string {0:?}")]
    OddComponents(String),
    /// A label name that is not a legacy label name or starts with `__`.
    #[error("improper label name {0:?}")]
    BadLabelName(String),
    /// A value marked `@base64` that does not decode.
    #[error("invalid base64 string {0:?}")]
    BadBase64(String),
    /// A value that is not UTF-8 after decoding.
    #[error("label value of {0:?} is not UTF-8")]
    NotUtf8(String),
    /// The same label twice.
    #[error("duplicate label {0:?} in grouping key")]
    Duplicate(String),
    /// A bad `%` escape.
    #[error("invalid percent-encoding in path")]
    BadEscape,
}

/// Parses the part of a push path after `/metrics/`, already percent-decoded:
/// `job/<job>{/<label>/<value>}`. A label written `<label>@base64` carries a URL-safe
/// base64 value (padding optional; `=` alone is the empty value). One trailing `/` is
/// allowed, as the Pushgateway allows it.
///
/// ```
/// use narthex_pushgateway::parse_grouping_path;
/// let key = parse_grouping_path("job/batch/instance@base64/aG9zdDo4MA").unwrap();
/// assert_eq!(key, vec![
///     ("instance".to_string(), "host:80".to_string()),
///     ("job".to_string(), "batch".to_string()),
/// ]);
/// assert!(parse_grouping_path("job/batch/odd").is_err());
/// ```
pub fn parse_grouping_path(path: &str) -> Result<GroupingKey, PathError> {
    let (job_b64, rest) = if let Some(r) = path.strip_prefix("job/") {
        (false, r)
    } else if let Some(r) = path.strip_prefix("job@base64/") {
        (true, r)
    } else {
        return Err(PathError::NoJob);
    };
    let (job, labels) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let job = if job_b64 {
        decode_value(job)?
    } else {
        job.to_string()
    };
    if job.is_empty() {
        return Err(PathError::EmptyJob);
    }
    let mut out: GroupingKey = vec![("job".to_string(), job)];
    // As the Pushgateway: a lone `/` is no labels; otherwise pairs after the first `/`.
    if labels.len() > 1 {
        let trimmed = labels[1..].strip_suffix('/').unwrap_or(&labels[1..]);
        let parts: Vec<&str> = trimmed.split('/').collect();
        if !parts.len().is_multiple_of(2) {
            return Err(PathError::OddComponents(labels.to_string()));
        }
        for pair in parts.chunks(2) {
            let (name, b64) = match pair[0].strip_suffix("@base64") {
                Some(n) => (n, true),
                None => (pair[0], false),
            };
            if !is_legacy_label_name(name) || name.starts_with("__") {
                return Err(PathError::BadLabelName(name.to_string()));
            }
            let value = if b64 {
                decode_value(pair[1])?
            } else {
                pair[1].to_string()
            };
            if out.iter().any(|(n, _)| n == name) {
                return Err(PathError::Duplicate(name.to_string()));
            }
            out.push((name.to_string(), value));
        }
    }
    out.sort();
    Ok(out)
}

fn decode_value(s: &str) -> Result<String, PathError> {
    let bytes = decode_base64_url(s).ok_or_else(|| PathError::BadBase64(s.to_string()))?;
    String::from_utf8(bytes).map_err(|_| PathError::NotUtf8(s.to_string()))
}

/// Decodes URL-safe base64 (`-` and `_`), with or without `=` padding, as the
/// Pushgateway decodes `@base64` path elements. `None` for other characters or an
/// impossible length.
///
/// ```
/// use narthex_pushgateway::decode_base64_url;
/// assert_eq!(decode_base64_url("L3Zhci90bXA=").unwrap(), b"/var/tmp");
/// assert_eq!(decode_base64_url("L3Zhci90bXA").unwrap(), b"/var/tmp");
/// assert_eq!(decode_base64_url("=").unwrap(), b"");
/// assert_eq!(decode_base64_url("_-8").unwrap(), [0xff, 0xef]);
/// assert!(decode_base64_url("a+b/").is_none());
/// ```
pub fn decode_base64_url(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero, as Go's strict decoder requires.
    if acc != 0 {
        return None;
    }
    Some(out)
}

/// Percent-decodes a URL path (`+` stays `+`).
pub(crate) fn percent_decode(path: &str) -> Result<String, PathError> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
            let h = std::str::from_utf8(hex).map_err(|_| PathError::BadEscape)?;
            out.push(u8::from_str_radix(h, 16).map_err(|_| PathError::BadEscape)?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PathError::BadEscape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &[(&str, &str)]) -> GroupingKey {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn paths() {
        assert_eq!(parse_grouping_path("job/j").unwrap(), key(&[("job", "j")]));
        assert_eq!(parse_grouping_path("job/j/").unwrap(), key(&[("job", "j")]));
        assert_eq!(
            parse_grouping_path("job@base64/am9i/x@base64/=").unwrap(),
            key(&[("job", "job"), ("x", "")])
        );
        assert_eq!(
            parse_grouping_path("job/j/a/1/b/2").unwrap(),
            key(&[("a", "1"), ("b", "2"), ("job", "j")])
        );
        assert_eq!(parse_grouping_path("job/"), Err(PathError::EmptyJob));
        assert!(matches!(
            parse_grouping_path("job/j/a"),
            Err(PathError::OddComponents(_))
        ));
        assert!(matches!(
            parse_grouping_path("job/j/__a/1"),
            Err(PathError::BadLabelName(_))
        ));
        assert!(matches!(
            parse_grouping_path("job/j/a-b/1"),
            Err(PathError::BadLabelName(_))
        ));
        assert!(matches!(
            parse_grouping_path("job/j/a@base64/%%"),
            Err(PathError::BadBase64(_))
        ));
        assert!(matches!(
            parse_grouping_path("job/j/job/k"),
            Err(PathError::Duplicate(_))
        ));
    }

    #[test]
    fn base64() {
        for (enc, dec) in [
            ("", ""),
            ("Zg", "f"),
            ("Zm8", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
        ] {
            assert_eq!(decode_base64_url(enc).unwrap(), dec.as_bytes());
        }
        assert!(decode_base64_url("Z").is_none());
        assert!(decode_base64_url("Zh").is_none(), "non-zero leftover bits");
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("a%2Fb+c").unwrap(), "a/b+c");
        assert!(percent_decode("a%2").is_err());
    }
}
