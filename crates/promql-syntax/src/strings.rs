//! String literals: unescaping with Go's rules, and Go's rune formatting for messages.

use std::borrow::Cow;

/// A string literal's value after unescaping.
pub(crate) struct Unquoted<'a> {
    /// The value; invalid UTF-8 (from `\x` or octal escapes) is replaced by U+FFFD.
    pub(crate) text: Cow<'a, str>,
    /// The exact bytes, only when they are not valid UTF-8.
    pub(crate) invalid: Option<Box<[u8]>>,
}

/// Unescapes a string token (with its quotes) that the lexer has already validated.
pub(crate) fn unquote(token: &str) -> Unquoted<'_> {
    let quote = token.as_bytes()[0];
    let inner = &token[1..token.len() - 1];
    if quote == b'`' || !inner.contains('\\') {
        return Unquoted {
            text: Cow::Borrowed(inner),
            invalid: None,
        };
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let simple = match c {
            b'a' => Some(7u8),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' | b'\'' | b'"' | b'`' => Some(c),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let (digits, base) = match c {
            b'0'..=b'7' => {
                i -= 1;
                (3, 8)
            }
            b'x' => (2, 16),
            b'u' => (4, 16),
            _ => (8, 16),
        };
        let end = (i + digits).min(b.len());
        let v = u32::from_str_radix(&inner[i..end], base).unwrap_or(0xfffd);
        i = end;
        if matches!(c, b'u' | b'U') {
            let ch = char::from_u32(v).unwrap_or('\u{fffd}');
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        } else {
            out.push(v as u8);
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Unquoted {
            text: Cow::Owned(s),
            invalid: None,
        },
        Err(e) => {
            let bytes = e.into_bytes();
            Unquoted {
                text: Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
                invalid: Some(bytes.into_boxed_slice()),
            }
        }
    }
}

/// Go's `strconv.Quote` for bytes that may not be valid UTF-8: invalid bytes become
/// `\xNN`.
pub(crate) fn write_go_quoted_bytes(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        let valid = narthex_model::go_quote(chunk.valid());
        out.push_str(&valid[1..valid.len() - 1]);
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
}

fn is_printable(c: char) -> bool {
    let q = narthex_model::go_quote(c.encode_utf8(&mut [0u8; 4]));
    q.chars().count() == 3 || c == '"' || c == '\\'
}

/// Go's `%q` for a rune: `'x'`, with Go's escapes.
pub(crate) fn go_quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '"' => "'\"'".to_string(),
        _ => {
            let q = narthex_model::go_quote(c.encode_utf8(&mut [0u8; 4]));
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// Go's `%#U` for a rune: `U+0071 'q'`, without the quoted form when not printable.
pub(crate) fn go_sharp_u(c: char) -> String {
    if is_printable(c) {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes() {
        assert_eq!(unquote(r#""a\n\x41\101\u00e9\U0001F600""#).text, "a\nAAé😀");
        assert_eq!(unquote(r"'a\'b'").text, "a'b");
        assert_eq!(unquote(r"`a\nb`").text, r"a\nb");
        let u = unquote(r#""a\xc5z""#);
        assert_eq!(u.invalid.as_deref(), Some(&b"a\xc5z"[..]));
        let mut s = String::new();
        write_go_quoted_bytes(&mut s, b"a\xc5z");
        assert_eq!(s, r#""a\xc5z""#);
    }

    #[test]
    fn runes() {
        assert_eq!(go_quote_rune(':'), "':'");
        assert_eq!(go_quote_rune('\''), r"'\''");
        assert_eq!(go_quote_rune('\n'), r"'\n'");
        assert_eq!(go_sharp_u('q'), "U+0071 'q'");
    }
}
