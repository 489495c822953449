//! Go-compatibility tests for `narthex_model::float`.
//!
//! `tests/data/go_float.tsv` is a golden table produced by the Go program in
//! `tools/gofloat` (see its README). Each row records what Go's `strconv`
//! and Prometheus's float helpers produce for one input; every row must match.

use narthex_model::float::{
    ParseFloatError, format_api_timestamp, format_api_value, format_exposition_value, format_go_g,
    format_openmetrics_float, parse_go_float, push_api_timestamp, push_api_value,
    push_exposition_value, push_go_g, push_openmetrics_float,
};
use proptest::prelude::*;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/go_float.tsv");

/// Unquotes a string literal written by Go's `%q` (that is, `strconv.Quote`).
fn go_unquote(q: &str) -> Result<String, String> {
    let inner = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| format!("not a quoted string: {q}"))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let esc = chars.next().ok_or("dangling backslash")?;
        let simple = match esc {
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            '\'' => Some('\''),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let (len, radix) = match esc {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (2, 8), // one octal digit already read
            other => return Err(format!("unknown escape \\{other}")),
        };
        let mut digits: String = if radix == 8 {
            esc.to_string()
        } else {
            String::new()
        };
        for _ in 0..len {
            digits.push(chars.next().ok_or("short escape")?);
        }
        let code = u32::from_str_radix(&digits, radix).map_err(|e| e.to_string())?;
        if esc == 'x' && code > 0x7f {
            return Err(format!(
                "byte escape \\x{digits} is not valid UTF-8 on its own"
            ));
        }
        out.push(char::from_u32(code).ok_or_else(|| format!("bad code point {code:#x}"))?);
    }
    Ok(out)
}

fn describe_parse(r: Result<f64, ParseFloatError>) -> String {
    match r {
        Ok(v) => format!("{:016x}", v.to_bits()),
        Err(ParseFloatError::OutOfRange(v)) => format!("err:range:{:016x}", v.to_bits()),
        Err(ParseFloatError::InvalidSyntax) => "err:syntax".to_string(),
    }
}

/// Checks that `push` appends exactly `want` after existing content and that
/// `format` returns it.
fn check_push(
    name: &str,
    push: fn(&mut Vec<u8>, f64),
    format: fn(f64) -> String,
    f: f64,
    want: &str,
    failures: &mut Vec<String>,
) {
    let got = format(f);
    let mut buf = b"x=".to_vec();
    push(&mut buf, f);
    if got != want || buf.get(2..) != Some(want.as_bytes()) {
        failures.push(format!(
            "{name}({:016x} = {f:e}): got {got:?} (push: {:?}), want {want:?}",
            f.to_bits(),
            String::from_utf8_lossy(buf.get(2..).unwrap_or(&[])),
        ));
    }
}

fn check_row(line: &str, failures: &mut Vec<String>) -> Result<(), String> {
    let fields: Vec<&str> = line.split('\t').collect();
    match fields.as_slice() {
        ["fmt", bits, g, exposition, openmetrics, api] => {
            let bits = u64::from_str_radix(bits, 16).map_err(|e| e.to_string())?;
            let f = f64::from_bits(bits);
            check_push("go_g", push_go_g, format_go_g, f, g, failures);
            check_push(
                "exposition",
                push_exposition_value,
                format_exposition_value,
                f,
                exposition,
                failures,
            );
            check_push(
                "openmetrics",
                push_openmetrics_float,
                format_openmetrics_float,
                f,
                openmetrics,
                failures,
            );
            check_push("api", push_api_value, format_api_value, f, api, failures);
        }
        ["ts", ms, want] => {
            let ms: i64 = ms
                .parse()
                .map_err(|e: std::num::ParseIntError| e.to_string())?;
            let got = format_api_timestamp(ms);
            let mut buf = b"t=".to_vec();
            push_api_timestamp(&mut buf, ms);
            if got != *want || buf.get(2..) != Some(want.as_bytes()) {
                failures.push(format!("api_timestamp({ms}): got {got:?}, want {want:?}"));
            }
        }
        ["parse", quoted, want] => {
            let input = go_unquote(quoted)?;
            let got = describe_parse(parse_go_float(&input));
            if got != *want {
                let mut shown = input.clone();
                if shown.len() > 80 {
                    let mut cut = 80;
                    while !shown.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    shown = format!("{}…({} bytes)", &shown[..cut], input.len());
                }
                failures.push(format!("parse({shown:?}): got {got}, want {want}"));
            }
        }
        _ => return Err(format!("malformed row: {line:.120}")),
    }
    Ok(())
}

#[test]
fn go_float_golden() {
    let table = std::fs::read_to_string(GOLDEN).expect("read golden table");
    let mut rows = 0usize;
    let mut failed_rows = 0usize;
    let mut failures = Vec::new();
    for (n, line) in table.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        rows += 1;
        let before = failures.len();
        if let Err(e) = check_row(line, &mut failures) {
            failures.push(format!("line {}: {e}", n + 1));
        }
        if failures.len() > before {
            failed_rows += 1;
        }
    }
    println!("go float golden: {}/{} passed", rows - failed_rows, rows);
    assert!(rows > 1000, "golden table looks truncated: {rows} rows");
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(20).map(String::as_str).collect();
        panic!(
            "{failed_rows} golden rows failed ({} checks); first {}:\n{}",
            failures.len(),
            shown.len(),
            shown.join("\n")
        );
    }
}

#[test]
fn go_unquote_handles_escapes() {
    assert_eq!(
        go_unquote(r#""a\tb\n\x00\u00a0\U0001f600\"\\""#).unwrap(),
        "a\tb\n\0\u{a0}😀\"\\"
    );
    assert!(go_unquote(r#""\xff""#).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn go_g_round_trips(bits in any::<u64>()) {
        let f = f64::from_bits(bits);
        prop_assume!(!f.is_nan());
        let text = format_go_g(f);
        let back = parse_go_float(&text);
        prop_assert_eq!(back.map(f64::to_bits), Ok(bits), "text {}", text);
    }

    #[test]
    fn api_value_round_trips(bits in any::<u64>()) {
        let f = f64::from_bits(bits);
        let text = format_api_value(f);
        let back = parse_go_float(&text);
        if f.is_nan() {
            prop_assert!(matches!(back, Ok(v) if v.is_nan()), "text {}", text);
        } else {
            prop_assert_eq!(back.map(f64::to_bits), Ok(bits), "text {}", text);
        }
    }

    #[test]
    fn openmetrics_float_round_trips(bits in any::<u64>()) {
        let f = f64::from_bits(bits);
        prop_assume!(!f.is_nan() && f != 0.0);
        let text = format_openmetrics_float(f);
        prop_assert_eq!(parse_go_float(&text).map(f64::to_bits), Ok(bits), "text {}", text);
    }

    #[test]
    fn parse_never_panics(s in "[-+0-9a-fA-FxXpP._eEinftyINFTY ]{0,40}") {
        let _ = parse_go_float(&s);
    }
}
