//! Metric and label name validation, in Prometheus's legacy and UTF-8 schemes.

use crate::quote::write_go_quoted;

/// Which names are valid: Prometheus's legacy identifier rules, or any UTF-8 text
/// (Prometheus 3.x's default, where names outside the legacy set are written quoted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NameValidation {
    /// Metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`.
    Legacy,
    /// Any non-empty UTF-8 string is a valid name.
    #[default]
    Utf8,
}

impl NameValidation {
    /// Whether `name` is a valid metric name under this scheme.
    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            NameValidation::Legacy => is_legacy_metric_name(name),
            NameValidation::Utf8 => !name.is_empty(),
        }
    }

    /// Whether `name` is a valid label name under this scheme.
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            NameValidation::Legacy => is_legacy_label_name(name),
            NameValidation::Utf8 => !name.is_empty(),
        }
    }
}

/// Whether `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_legacy_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Whether `name` matches `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_legacy_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Appends a label name as Prometheus prints it: bare when it is a legacy name, Go-quoted
/// otherwise.
pub fn write_label_name(out: &mut String, name: &str) {
    if is_legacy_label_name(name) {
        out.push_str(name);
    } else {
        write_go_quoted(out, name);
    }
}

/// Appends a metric name as Prometheus prints it: bare when it is a legacy name, Go-quoted
/// otherwise.
pub fn write_metric_name(out: &mut String, name: &str) {
    if is_legacy_metric_name(name) {
        out.push_str(name);
    } else {
        write_go_quoted(out, name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rules() {
        for ok in ["a", "_", ":a", "a:b_c9", "ABC"] {
            assert!(is_legacy_metric_name(ok), "{ok}");
        }
        for bad in ["", "0a", "a.b", "a-b", "é"] {
            assert!(!is_legacy_metric_name(bad), "{bad}");
        }
        assert!(is_legacy_label_name("__name__"));
        assert!(!is_legacy_label_name("a:b"));
        assert!(!is_legacy_label_name(""));
        assert!(NameValidation::Utf8.is_valid_label_name("a.b"));
        assert!(!NameValidation::Utf8.is_valid_label_name(""));
        assert!(!NameValidation::Legacy.is_valid_label_name("a.b"));
    }
}
