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
    /// A value marked `@base64` that does not decode: the label name and the value.
    #[error("invalid base64 encoding for label {0}={1:?}")]
    BadBase64(String, String),
    /// A value that is not UTF-8 after decoding. (The Pushgateway 1.5.1 accepts it and then
    /// fails every later push and scrape; refusing it at once is kinder.)
    #[error("label value of {0:?} is not UTF-8")]
    NotUtf8(String),
    /// A bad `%` escape.
    #[error("invalid percent-encoding in path")]
    BadEscape,
}

/// Parses the part of a push path after `/metrics/`, already percent-decoded:
/// `job/<job>{/<label>/<value>}`. A label written `<label>@base64` carries a URL-safe
/// base64 value (padding optional; `=` alone is the empty value). As the Pushgateway splits
/// its labels: a lone trailing `/` after the job is no labels, but after a label name it
/// is an empty last value (`job/j/x/` is `x=""`); a label given twice takes its last value,
/// and a `job` label among the pairs is ignored (the job is the one after `job/`).
///
/// ```
/// use narthex_pushgateway::parse_grouping_path;
/// let key = parse_grouping_path("job/batch/instance@base64/aG9zdDo4MA").unwrap();
/// assert_eq!(key, vec![
///     ("instance".to_string(), "host:80".to_string()),
///     ("job".to_string(), "batch".to_string()),
/// ]);
/// assert!(parse_grouping_path("job/batch/odd").is_err());
/// assert_eq!(parse_grouping_path("job/batch/x/").unwrap()[1], ("x".into(), "".into()));
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
        decode_value("job", job)?
    } else {
        job.to_string()
    };
    if job.is_empty() {
        return Err(PathError::EmptyJob);
    }
    let mut out: GroupingKey = vec![("job".to_string(), job)];
    // As the Pushgateway: a lone `/` is no labels; otherwise pairs after the first `/`,
    // a trailing `/` being an empty last value.
    if labels.len() > 1 {
        let parts: Vec<&str> = labels[1..].split('/').collect();
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
                decode_value(name, pair[1])?
            } else {
                pair[1].to_string()
            };
            if name == "job" {
                continue;
            }
            match out.iter_mut().find(|(n, _)| n == name) {
                Some(pair) => pair.1 = value,
                None => out.push((name.to_string(), value)),
            }
        }
    }
    out.sort();
    Ok(out)
}

fn decode_value(name: &str, s: &str) -> Result<String, PathError> {
    let bytes = decode_base64_url(s)
        .ok_or_else(|| PathError::BadBase64(name.to_string(), s.to_string()))?;
    String::from_utf8(bytes).map_err(|_| PathError::NotUtf8(s.to_string()))
}

/// Decodes URL-safe base64 (`-` and `_`), with or without `=` padding, as the
/// Pushgateway decodes `@base64` path elements: trailing `=` are dropped, and non-zero
/// spare bits in the last character are ignored (Go's non-strict decoder). `None` for
/// other characters or an impossible length.
///
/// ```
/// use narthex_pushgateway::decode_base64_url;
/// assert_eq!(decode_base64_url("L3Zhci90bXA=").unwrap(), b"/var/tmp");
/// assert_eq!(decode_base64_url("L3Zhci90bXA").unwrap(), b"/var/tmp");
/// assert_eq!(decode_base64_url("=").unwrap(), b"");
/// assert_eq!(decode_base64_url("_-8").unwrap(), [0xff, 0xef]);
/// assert_eq!(decode_base64_url("Zh").unwrap(), b"f");
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
    // Leftover bits are dropped whatever they are, as Go's non-strict decoder does.
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
        for (path, want) in [
            ("job/j", &[("job", "j")][..]),
            ("job/j/", &[("job", "j")]),
            // A trailing `/` after a name is an empty value, as the Pushgateway splits.
            ("job/j/x/", &[("job", "j"), ("x", "")]),
            // Last value wins; a `job` pair is ignored.
            ("job/j/a/1/a/2/job/k", &[("a", "2"), ("job", "j")]),
            ("job/j/x@base64/Zh==", &[("job", "j"), ("x", "f")]),
            ("job@base64/am9i/x@base64/=", &[("job", "job"), ("x", "")]),
            ("job/j/a/1/b/2", &[("a", "1"), ("b", "2"), ("job", "j")]),
        ] {
            assert_eq!(parse_grouping_path(path).unwrap(), key(want), "{path}");
        }
        assert!(matches!(
            parse_grouping_path("job/j/x/1/"),
            Err(PathError::OddComponents(_))
        ));
        assert!(matches!(
            parse_grouping_path("job/j/x@base64/_w"),
            Err(PathError::NotUtf8(_))
        ));
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
            Err(PathError::BadBase64(..))
        ));
        assert_eq!(
            parse_grouping_path("job/j/x@base64/Zm9=v")
                .unwrap_err()
                .to_string(),
            "invalid base64 encoding for label x=\"Zm9=v\""
        );
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
        assert_eq!(decode_base64_url("Zh").unwrap(), b"f", "spare bits ignored");
        assert_eq!(decode_base64_url("Zm9w").unwrap(), b"fop");
        assert!(decode_base64_url("Zm9vY").is_none());
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("a%2Fb+c").unwrap(), "a/b+c");
        assert!(percent_decode("a%2").is_err());
    }
}
