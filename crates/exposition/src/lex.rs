//! Byte-level scanning shared by the text and OpenMetrics parsers.
//!
//! Every function works on the whole input and a byte position, returns the position after
//! what it read, and reports errors as `(position, kind)`; the parsers turn positions into
//! line and column only when an error is actually reported.

use std::borrow::Cow;

use crate::entry::LabelRef;
use crate::error::ErrorKind;

/// A failure at a byte position.
pub(crate) type LexResult<T> = Result<T, (usize, ErrorKind)>;

const fn metric_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

const fn label_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

const fn table(metric: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if metric {
            metric_char(i as u8)
        } else {
            label_char(i as u8)
        };
        i += 1;
    }
    t
}

static METRIC_CHAR: [bool; 256] = table(true);
static LABEL_CHAR: [bool; 256] = table(false);

/// The token found at `pos`, quoted for an error message.
pub(crate) fn found(input: &[u8], pos: usize) -> String {
    match input.get(pos) {
        None => "end of input".to_string(),
        Some(b'\n') => "end of line".to_string(),
        Some(_) => {
            let end = input[pos..]
                .iter()
                .position(|c| matches!(c, b' ' | b'\t' | b'\n' | b',' | b'}' | b'{' | b'='))
                .map_or(input.len(), |n| pos + n.max(1));
            let end = end.min(pos + 32);
            format!("{:?}", String::from_utf8_lossy(&input[pos..end]))
        }
    }
}

pub(crate) fn unexpected(input: &[u8], pos: usize, expected: &'static str) -> (usize, ErrorKind) {
    let kind = if pos >= input.len() {
        ErrorKind::UnexpectedEof(expected)
    } else {
        ErrorKind::Unexpected {
            expected,
            found: found(input, pos),
        }
    };
    (pos, kind)
}

/// 1-based column, in characters, of byte `pos` on the line starting at `line_start`.
pub(crate) fn column(input: &[u8], line_start: usize, pos: usize) -> u32 {
    let pos = pos.min(input.len());
    let bytes = &input[line_start.min(pos)..pos];
    // Count UTF-8 lead bytes: every byte that is not a continuation byte starts a char.
    let chars = bytes.iter().filter(|b| (**b & 0xC0) != 0x80).count();
    u32::try_from(chars + 1).unwrap_or(u32::MAX)
}

/// Reads a legacy metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) at `pos`; returns its end, or
/// `pos` when there is none.
#[inline]
pub(crate) fn scan_metric_name(input: &[u8], pos: usize) -> usize {
    match input.get(pos) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return pos,
    }
    let mut i = pos + 1;
    while i < input.len() && METRIC_CHAR[input[i] as usize] {
        i += 1;
    }
    i
}

/// Reads a legacy label name (`[a-zA-Z_][a-zA-Z0-9_]*`) at `pos`; returns its end, or `pos`
/// when there is none.
#[inline]
pub(crate) fn scan_label_name(input: &[u8], pos: usize) -> usize {
    match input.get(pos) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return pos,
    }
    let mut i = pos + 1;
    while i < input.len() && LABEL_CHAR[input[i] as usize] {
        i += 1;
    }
    i
}

/// ASCII text known to be valid UTF-8 (names scanned with the tables above).
#[inline]
pub(crate) fn ascii(input: &[u8], start: usize, end: usize) -> &str {
    // The scanners only accept ASCII bytes, so this conversion cannot fail; fall back to
    // the empty string rather than panic if that ever changes.
    std::str::from_utf8(&input[start..end]).unwrap_or_default()
}

/// Validated UTF-8 of `input[start..end]`, or an error at the first bad byte.
#[inline]
pub(crate) fn utf8(input: &[u8], start: usize, end: usize) -> LexResult<&str> {
    std::str::from_utf8(&input[start..end])
        .map_err(|e| (start + e.valid_up_to(), ErrorKind::InvalidUtf8))
}

/// Reads a double-quoted string starting at `pos` (which holds the `"`). Escapes `\\`,
/// `\"` and `\n` are decoded; any other escaped character is kept with its backslash, as
/// Prometheus does. A raw line break inside the quotes is an error. Returns the text and the
/// position after the closing quote.
#[inline]
pub(crate) fn scan_quoted(input: &[u8], pos: usize) -> LexResult<(Cow<'_, str>, usize)> {
    let start = pos + 1;
    match memchr::memchr3(b'"', b'\\', b'\n', &input[start..]) {
        None => Err((input.len(), ErrorKind::UnexpectedEof("closing quote"))),
        Some(n) => {
            let i = start + n;
            match input[i] {
                b'"' => Ok((Cow::Borrowed(utf8(input, start, i)?), i + 1)),
                b'\n' => Err(unexpected(input, i, "closing quote")),
                _ => scan_quoted_escaped(input, start, i),
            }
        }
    }
}

#[cold]
fn scan_quoted_escaped(
    input: &[u8],
    start: usize,
    first_escape: usize,
) -> LexResult<(Cow<'_, str>, usize)> {
    let mut out: Vec<u8> = Vec::with_capacity(first_escape - start + 16);
    out.extend_from_slice(&input[start..first_escape]);
    let mut i = first_escape;
    while i < input.len() {
        match input[i] {
            b'"' => {
                let s = String::from_utf8(out)
                    .map_err(|e| (start + e.utf8_error().valid_up_to(), ErrorKind::InvalidUtf8))?;
                return Ok((Cow::Owned(s), i + 1));
            }
            b'\n' => return Err(unexpected(input, i, "closing quote")),
            b'\\' => {
                match input.get(i + 1) {
                    Some(b'\\') => out.push(b'\\'),
                    Some(b'"') => out.push(b'"'),
                    Some(b'n') => out.push(b'\n'),
                    Some(b'\n') | None => {
                        return Err(unexpected(input, i + 1, "escaped character"));
                    }
                    Some(c) => {
                        out.push(b'\\');
                        out.push(*c);
                    }
                }
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err((input.len(), ErrorKind::UnexpectedEof("closing quote")))
}

/// Decodes the escapes of HELP text: `\\` and `\n` (and `\"` in OpenMetrics); any other
/// backslash is kept as written.
pub(crate) fn unescape_help(s: &str, quote: bool) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Index of the next byte at or after `pos` that is a space, tab or line break.
#[inline]
pub(crate) fn token_end(input: &[u8], pos: usize) -> usize {
    let mut i = pos;
    while i < input.len() && !matches!(input[i], b' ' | b'\t' | b'\n') {
        i += 1;
    }
    i
}

/// Skips spaces and tabs.
#[inline]
pub(crate) fn skip_blanks(input: &[u8], mut pos: usize) -> usize {
    while pos < input.len() && matches!(input[pos], b' ' | b'\t') {
        pos += 1;
    }
    pos
}

/// Parses a sample value as Prometheus's text parser does: Go's `strconv.ParseFloat`,
/// except that `p`, `P` and `_` are refused (Prometheus keeps to pre-Go-1.13 float
/// syntax). Out-of-range values are errors, as in Go.
#[inline]
pub(crate) fn parse_float(tok: &[u8]) -> Option<f64> {
    let simple = !tok.is_empty()
        && tok
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if simple {
        // Plain decimal syntax means the same in Rust and Go; only overflow differs (Go
        // reports a range error where Rust returns infinity).
        let s = std::str::from_utf8(tok).ok()?;
        let v: f64 = s.parse().ok()?;
        return if v.is_infinite() { None } else { Some(v) };
    }
    if tok.iter().any(|c| matches!(c, b'p' | b'P' | b'_')) {
        return None;
    }
    let s = std::str::from_utf8(tok).ok()?;
    narthex_model::float::parse_go_float(s).ok()
}

/// Parses a number in OpenMetrics's stricter syntax: decimal (with optional exponent),
/// or `NaN`, `Inf`, `Infinity` (any case, optional sign on the infinities). No hex, octal,
/// binary or underscores.
#[inline]
pub(crate) fn parse_om_float(tok: &[u8]) -> Option<f64> {
    let simple = !tok.is_empty()
        && tok
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    let s = std::str::from_utf8(tok).ok()?;
    if simple {
        let v: f64 = s.parse().ok()?;
        return if v.is_infinite() { None } else { Some(v) };
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.eq_ignore_ascii_case("nan") {
        return if body.len() == s.len() {
            Some(f64::NAN)
        } else {
            None
        };
    }
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    None
}

/// Parses a Prometheus text-format timestamp: a base-10 `i64` with optional sign.
#[inline]
pub(crate) fn parse_int_timestamp(tok: &[u8]) -> Option<i64> {
    std::str::from_utf8(tok).ok()?.parse().ok()
}

/// Whether two labels in the list share a name.
pub(crate) fn duplicate_label<'x>(labels: &'x [LabelRef<'_>]) -> Option<&'x str> {
    if labels.len() < 2 {
        return None;
    }
    if labels.len() <= 16 {
        for (i, a) in labels.iter().enumerate() {
            if labels[i + 1..].iter().any(|b| b.name == a.name) {
                return Some(&a.name);
            }
        }
        return None;
    }
    let mut names: Vec<&str> = labels.iter().map(|l| &*l.name).collect();
    names.sort_unstable();
    names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings() {
        let (s, end) = scan_quoted(br#""abc" x"#, 0).unwrap();
        assert_eq!((s.as_ref(), end), ("abc", 5));
        assert!(matches!(s, Cow::Borrowed(_)));
        let (s, _) = scan_quoted(br#""a\"b\\c\nd\te""#, 0).unwrap();
        assert_eq!(s, "a\"b\\c\nd\\te");
        assert!(scan_quoted(b"\"abc", 0).is_err());
        assert!(scan_quoted(b"\"ab\nc\"", 0).is_err());
        assert!(scan_quoted(b"\"a\xffb\"", 0).is_err());
    }

    #[test]
    fn floats() {
        assert_eq!(parse_float(b"1.5e3"), Some(1500.0));
        assert_eq!(parse_float(b"+Inf"), Some(f64::INFINITY));
        assert!(parse_float(b"NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_float(b"1e400"), None);
        assert_eq!(parse_float(b"0x1p-3"), None);
        assert_eq!(parse_float(b"1_0"), None);
        assert_eq!(parse_float(b""), None);
        assert_eq!(parse_om_float(b"0x1"), None);
        assert_eq!(parse_om_float(b"-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_om_float(b"+NaN"), None);
        assert_eq!(parse_om_float(b"0000001.2e-1"), Some(0.12));
    }

    #[test]
    fn columns_count_characters() {
        let input = "é a".as_bytes();
        assert_eq!(column(input, 0, 3), 3);
    }
}
