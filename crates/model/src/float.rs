//! Float text that is byte-for-byte identical to what Go and Prometheus write
//! and read.
//!
//! Prometheus formats and parses sample values with Go's `strconv` package,
//! and a handful of call sites add their own rules on top. This module
//! reproduces those outputs exactly so that Narthex and Prometheus produce the
//! same bytes for the same value:
//!
//! | function                      | Go / Prometheus counterpart                               |
//! |-------------------------------|-----------------------------------------------------------|
//! | [`push_go_g`]                 | `strconv.FormatFloat(f, 'g', -1, 64)`                     |
//! | [`push_exposition_value`]     | text exposition format sample values (`expfmt`)           |
//! | [`push_openmetrics_float`]    | OpenMetrics values and `le` / `quantile` label values     |
//! | [`push_api_value`]            | HTTP API JSON sample values (without the quotes)          |
//! | [`push_api_timestamp`]        | HTTP API JSON timestamps (milliseconds as seconds)        |
//! | [`parse_go_float`]            | `strconv.ParseFloat(s, 64)`                               |
//!
//! The `push_*` functions append to a `Vec<u8>` and do no other heap
//! allocation; the `format_*` functions are conveniences returning a `String`.
//! The shortest round-trip digits come from the [`zmij`] crate; the layout
//! (where the decimal point goes, when to switch to an exponent, how the
//! exponent is spelled) follows Go.
//!
//! None of these functions panic, whatever the input.

use thiserror::Error;

// ---------------------------------------------------------------------------
// Shortest digits
// ---------------------------------------------------------------------------

/// Maximum number of significant decimal digits needed to round-trip an f64.
const MAX_SHORTEST_DIGITS: usize = 17;

/// The shortest decimal digits of a finite float's magnitude, in Go's
/// `decimalSlice` convention: the value is `0.d[0]d[1]...d[nd-1] × 10^dp`.
/// Zero has `nd == 0` and `dp == 0`. There are never trailing zeros.
struct Digits {
    d: [u8; MAX_SHORTEST_DIGITS],
    nd: usize,
    dp: i32,
}

impl Digits {
    /// The significant digits as ASCII.
    fn digits(&self) -> &[u8] {
        self.d.get(..self.nd).unwrap_or(&[])
    }
}

/// Extracts the shortest digits from zmij's text for a finite, non-zero
/// float (any sign is skipped).
fn digits_from_zmij(text: &[u8]) -> Digits {
    let mut out = Digits {
        d: [b'0'; MAX_SHORTEST_DIGITS],
        nd: 0,
        dp: 0,
    };
    // zmij writes either "123.45", "0.00012345", "12300000.0" or "1.2345e-7" /
    // "1e300". Collect the significant digits, remembering where the decimal
    // point sat and the explicit exponent, if any.
    let mut pos: i32 = 0; // index of the next digit among all digit characters
    let mut point: Option<i32> = None;
    let mut first_nonzero: Option<i32> = None;
    let mut pending_zeros = 0usize; // zeros seen after the first non-zero digit
    let mut exp: i32 = 0;
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        i += 1;
        match c {
            b'.' => point = Some(pos),
            b'0'..=b'9' => {
                if c == b'0' {
                    if first_nonzero.is_some() {
                        pending_zeros += 1;
                    }
                } else {
                    if first_nonzero.is_none() {
                        first_nonzero = Some(pos);
                    }
                    // Flush zeros that turned out not to be trailing.
                    while pending_zeros > 0 {
                        push_digit(&mut out, b'0');
                        pending_zeros -= 1;
                    }
                    push_digit(&mut out, c);
                }
                pos += 1;
            }
            b'e' | b'E' => {
                exp = parse_small_exponent(text.get(i..).unwrap_or(&[]));
                break;
            }
            _ => {}
        }
    }
    let point = point.unwrap_or(pos);
    match first_nonzero {
        Some(first) => out.dp = point - first + exp,
        None => out.nd = 0,
    }
    out
}

fn push_digit(d: &mut Digits, c: u8) {
    if let Some(slot) = d.d.get_mut(d.nd) {
        *slot = c;
        d.nd += 1;
    }
}

/// Parses an exponent such as `-7`, `+300` or `22` (as written by zmij).
fn parse_small_exponent(s: &[u8]) -> i32 {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let mut e: i32 = 0;
    for &c in digits {
        if c.is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i32::from(c - b'0'));
        }
    }
    if neg { -e } else { e }
}

// ---------------------------------------------------------------------------
// Go layouts
// ---------------------------------------------------------------------------

/// Go's `%e` layout with the shortest digits: `d[.ddd]e±XX`.
fn write_e(out: &mut Vec<u8>, neg: bool, digs: &Digits) {
    if neg {
        out.push(b'-');
    }
    let d = digs.digits();
    match d.split_first() {
        Some((&first, rest)) => {
            out.push(first);
            if !rest.is_empty() {
                out.push(b'.');
                out.extend_from_slice(rest);
            }
        }
        None => out.push(b'0'),
    }
    let mut exp = if digs.nd == 0 { 0 } else { digs.dp - 1 };
    out.push(b'e');
    if exp < 0 {
        out.push(b'-');
        exp = -exp;
    } else {
        out.push(b'+');
    }
    // At least two exponent digits; a float64 never needs more than three.
    let exp = exp.unsigned_abs();
    if exp >= 100 {
        out.push(b'0' + (exp / 100 % 10) as u8);
    }
    out.push(b'0' + (exp / 10 % 10) as u8);
    out.push(b'0' + (exp % 10) as u8);
}

/// Go's `%f` layout with the shortest digits: the integer part (zero-padded
/// when the digits end before the decimal point), then the fraction if any.
fn write_f(out: &mut Vec<u8>, neg: bool, digs: &Digits) {
    if neg {
        out.push(b'-');
    }
    let d = digs.digits();
    let nd = d.len();
    let dp = digs.dp;
    if dp > 0 {
        let dp = dp.unsigned_abs() as usize;
        let m = dp.min(nd);
        out.extend_from_slice(d.get(..m).unwrap_or(&[]));
        out.resize(out.len() + (dp - m), b'0');
    } else {
        out.push(b'0');
    }
    // Fraction digits are the digits from position dp onwards, preceded by
    // -dp zeros when dp is negative.
    if (nd as i64) > i64::from(dp) {
        out.push(b'.');
        if dp < 0 {
            out.resize(out.len() + dp.unsigned_abs() as usize, b'0');
            out.extend_from_slice(d);
        } else {
            out.extend_from_slice(d.get(dp.unsigned_abs() as usize..).unwrap_or(&[]));
        }
    }
}

/// Go's `%g` with shortest digits: exponent form when the decimal exponent is
/// below -4 or at least 6 (Go's fixed precision for the shortest mode).
fn write_g(out: &mut Vec<u8>, neg: bool, digs: &Digits) {
    let exp = digs.dp - 1;
    if (-4..6).contains(&exp) {
        write_f(out, neg, digs);
    } else {
        write_e(out, neg, digs);
    }
}

/// Writes `NaN`, `+Inf` or `-Inf` and returns true if `f` is not finite.
fn push_non_finite(out: &mut Vec<u8>, f: f64) -> bool {
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if f == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if f == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        return false;
    }
    true
}

/// Writes `0` or `-0` and returns true if `f` is zero.
#[inline]
fn push_zero(out: &mut Vec<u8>, f: f64) -> bool {
    if f != 0.0 {
        return false;
    }
    if f.is_sign_negative() {
        out.push(b'-');
    }
    out.push(b'0');
    true
}

/// Position of the exponent marker in zmij's text, if it used one (the
/// exponent is always among the last few bytes).
#[inline]
fn zmij_exponent_pos(text: &[u8]) -> Option<usize> {
    let tail = text.len().saturating_sub(6);
    text.get(tail..)?
        .iter()
        .rposition(|&c| c == b'e')
        .map(|p| tail + p)
}

/// If zmij wrote plain notation, appends it as Go's shortest `'f'` layout
/// (which differs only in not writing a `.0` fraction) and returns true.
#[inline]
fn push_zmij_plain(out: &mut Vec<u8>, text: &[u8]) -> bool {
    if zmij_exponent_pos(text).is_some() {
        return false;
    }
    out.extend_from_slice(text.strip_suffix(b".0").unwrap_or(text));
    true
}

/// If zmij wrote exponent notation, appends it as Go's shortest `'e'` layout
/// (explicit exponent sign, at least two exponent digits) and returns true.
#[inline]
fn push_zmij_exponent(out: &mut Vec<u8>, text: &[u8]) -> bool {
    let Some(pos) = zmij_exponent_pos(text) else {
        return false;
    };
    let (mantissa, exp) = text.split_at(pos);
    let exp = exp.get(1..).unwrap_or(&[]);
    let (sign, digits) = match exp.split_first() {
        Some((&s @ (b'+' | b'-'), rest)) => (s, rest),
        _ => (b'+', exp),
    };
    out.extend_from_slice(mantissa);
    out.push(b'e');
    out.push(sign);
    if digits.len() < 2 {
        out.push(b'0');
    }
    out.extend_from_slice(digits);
    true
}

/// Largest magnitude below which every integer-valued f64 prints as its exact
/// integer in Go's shortest `%g` (the exponent form starts at 1e6).
const G_INTEGER_LIMIT: f64 = 1e6;

/// Below 2^53 every integer is exactly representable, so its shortest digits
/// are the integer itself.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

/// If `f` is an integer of magnitude below `limit` (at most 2^53), appends it
/// as a plain decimal integer and returns true. Negative zero is not handled.
#[inline]
fn push_small_integer(out: &mut Vec<u8>, f: f64, limit: f64) -> bool {
    if f.is_nan() || f.abs() >= limit {
        return false;
    }
    // In range for i64, so the cast truncates exactly.
    let i = f as i64;
    if i as f64 != f || i == 0 {
        return false;
    }
    push_i64(out, i);
    true
}

/// Appends the decimal form of `v` (with a leading `-` if negative).
fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// "00" to "99", for writing two digits per division.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    // The API writes a timestamp and often an integer value per point: two digits per
    // step halve the divisions of the one-digit loop.
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

fn into_string(v: Vec<u8>) -> String {
    // Everything written by this module is ASCII.
    String::from_utf8(v).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Public formatting API
// ---------------------------------------------------------------------------

/// Appends `f` exactly as Go's `strconv.FormatFloat(f, 'g', -1, 64)` does.
///
/// The shortest digits that round-trip are used. The exponent form
/// (`d.ddde±XX`, at least two exponent digits) is chosen when the decimal
/// exponent is below -4 or at least 6; otherwise plain decimal notation is
/// used. Special values are `NaN`, `+Inf` and `-Inf`; negative zero is `-0`.
///
/// ```
/// # use narthex_model::float::format_go_g;
/// assert_eq!(format_go_g(100000.0), "100000");
/// assert_eq!(format_go_g(1234567.0), "1.234567e+06");
/// assert_eq!(format_go_g(0.0001), "0.0001");
/// assert_eq!(format_go_g(0.00001), "1e-05");
/// ```
pub fn push_go_g(out: &mut Vec<u8>, f: f64) {
    if push_non_finite(out, f) || push_zero(out, f) || push_small_integer(out, f, G_INTEGER_LIMIT) {
        return;
    }
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(f).as_bytes();
    // Go uses plain notation exactly when the shortest digits' decimal
    // exponent is in -4..=5, that is for magnitudes in [1e-4, 1e6) (the
    // shortest digits of a float on either side of a bound stay on that side).
    let plain = (1e-4..1e6).contains(&f.abs());
    if plain && push_zmij_plain(out, text) || !plain && push_zmij_exponent(out, text) {
        return;
    }
    let digs = digits_from_zmij(text);
    write_g(out, f.is_sign_negative(), &digs);
}

/// Returns `f` formatted as Go's `strconv.FormatFloat(f, 'g', -1, 64)`; see
/// [`push_go_g`].
pub fn format_go_g(f: f64) -> String {
    let mut v = Vec::with_capacity(24);
    push_go_g(&mut v, f);
    into_string(v)
}

/// Appends a sample value as the Prometheus text exposition format writes it.
///
/// `1`, `0` (also for negative zero), `-1`, `NaN`, `+Inf` and `-Inf` have
/// fixed spellings; every other value is written as [`push_go_g`] does.
pub fn push_exposition_value(out: &mut Vec<u8>, f: f64) {
    if f == 0.0 {
        out.push(b'0');
    } else {
        push_go_g(out, f);
    }
}

/// Returns a sample value as the Prometheus text exposition format writes it;
/// see [`push_exposition_value`].
pub fn format_exposition_value(f: f64) -> String {
    let mut v = Vec::with_capacity(24);
    push_exposition_value(&mut v, f);
    into_string(v)
}

/// Appends a float as the OpenMetrics text writer does, for sample values and
/// for `le` / `quantile` label values.
///
/// `1.0`, `0.0` (also for negative zero), `-1.0`, `NaN`, `+Inf` and `-Inf`
/// have fixed spellings. Everything else is written as [`push_go_g`] does,
/// with `.0` appended when the result contains neither `.` nor `e`.
pub fn push_openmetrics_float(out: &mut Vec<u8>, f: f64) {
    if f == 0.0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    if push_non_finite(out, f) {
        return;
    }
    let start = out.len();
    push_go_g(out, f);
    let written = out.get(start..).unwrap_or(&[]);
    if !written.iter().any(|&c| c == b'.' || c == b'e') {
        out.extend_from_slice(b".0");
    }
}

/// Returns a float as the OpenMetrics text writer writes it; see
/// [`push_openmetrics_float`].
pub fn format_openmetrics_float(f: f64) -> String {
    let mut v = Vec::with_capacity(24);
    push_openmetrics_float(&mut v, f);
    into_string(v)
}

/// Appends a sample value as the Prometheus HTTP API writes it in JSON,
/// without the surrounding quotes.
///
/// Non-zero values with magnitude below `1e-6` or at least `1e21` use Go's
/// shortest `'e'` form (`1e-07`, `1.5e+21`); all others use Go's shortest
/// `'f'` form, which pads with zeros instead of using an exponent
/// (`0.000001`, `123456789012345680000`). Special values are `NaN`, `+Inf`
/// and `-Inf`; negative zero is `-0`.
pub fn push_api_value(out: &mut Vec<u8>, f: f64) {
    if push_non_finite(out, f)
        || push_zero(out, f)
        || push_small_integer(out, f, EXACT_INTEGER_LIMIT)
    {
        return;
    }
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(f).as_bytes();
    let abs = f.abs();
    let exponent = !(1e-6..1e21).contains(&abs);
    if exponent {
        if push_zmij_exponent(out, text) {
            return;
        }
    } else if push_zmij_plain(out, text) {
        return;
    }
    let digs = digits_from_zmij(text);
    if exponent {
        write_e(out, f.is_sign_negative(), &digs);
    } else {
        write_f(out, f.is_sign_negative(), &digs);
    }
}

/// Returns a sample value as the Prometheus HTTP API writes it (without the
/// quotes); see [`push_api_value`].
pub fn format_api_value(f: f64) -> String {
    let mut v = Vec::with_capacity(24);
    push_api_value(&mut v, f);
    into_string(v)
}

/// Appends a millisecond timestamp as the Prometheus HTTP API writes it in
/// JSON: seconds, then, if the milliseconds are not a whole second, a `.` and
/// the millisecond remainder as exactly three digits.
///
/// The fraction is *not* trimmed: `1500` is written `1.500`, `1435781451781`
/// is `1435781451.781`, `1000` is `1` and `-1` is `-0.001`. Negative values
/// are written as `-` followed by the text of the negated value, which for
/// `i64::MIN` (whose negation overflows) gives Prometheus's literal output
/// `--9223372036854775.00-808`.
pub fn push_api_timestamp(out: &mut Vec<u8>, ms: i64) {
    let mut t = ms;
    if t < 0 {
        out.push(b'-');
        // Prometheus negates with Go's wrapping arithmetic; i64::MIN stays
        // negative and is then written with its own sign.
        t = t.wrapping_neg();
    }
    push_i64(out, t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        out.push(b'.');
        if frac < 100 {
            out.push(b'0');
        }
        if frac < 10 {
            out.push(b'0');
        }
        push_i64(out, frac);
    }
}

/// Returns a millisecond timestamp as the Prometheus HTTP API writes it; see
/// [`push_api_timestamp`].
pub fn format_api_timestamp(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_api_timestamp(&mut v, ms);
    into_string(v)
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// Error returned by [`parse_go_float`], mirroring the two errors of Go's
/// `strconv.ParseFloat`.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum ParseFloatError {
    /// The input is not a floating-point number in Go's syntax.
    #[error("invalid float syntax")]
    InvalidSyntax,
    /// The input is well formed but its magnitude is too large for an f64.
    /// The payload is the value Go returns alongside the error: `+Inf` or
    /// `-Inf`.
    #[error("float value out of range")]
    OutOfRange(f64),
}

impl ParseFloatError {
    /// The float Go's `ParseFloat` returns together with this error: `0` for
    /// a syntax error, `±Inf` for an out-of-range value.
    pub fn go_value(&self) -> f64 {
        match *self {
            ParseFloatError::InvalidSyntax => 0.0,
            ParseFloatError::OutOfRange(v) => v,
        }
    }
}

/// The NaN Go's `math.NaN()` returns, which is what `ParseFloat("NaN")`
/// yields.
const GO_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Parses `s` exactly as Go's `strconv.ParseFloat(s, 64)` does.
///
/// Accepted: decimal numbers with optional sign, optional fraction (`5.`,
/// `.5`) and optional exponent; hexadecimal numbers `0x1.8p3`, which require a
/// `p` exponent; `_` between digits (and after a `0x` prefix), as in Go
/// literals; `inf` / `infinity` with optional sign and `nan` without a sign,
/// all case-insensitive. Nothing else is accepted: no surrounding whitespace,
/// no `0b` / `0o` prefixes.
///
/// Results are correctly rounded. Too-small values become (signed) zero
/// without error; too-large values give [`ParseFloatError::OutOfRange`]
/// carrying `±Inf`. `NaN` parses to the same bit pattern as Go's
/// `math.NaN()` (`0x7ff8000000000001`).
///
/// Go's quirks on absurd inputs are reproduced as well: exponents are only
/// read up to five digits (`e123456` counts as `e12345`), and in the rare
/// cases where Go falls back to its slow path, a number with more than 800
/// significant digits before the decimal point is read as if it had only 800.
pub fn parse_go_float(s: &str) -> Result<f64, ParseFloatError> {
    if let Some(v) = parse_plain_decimal(s) {
        return Ok(v);
    }
    parse_go(s.as_bytes())
}

/// Like [`parse_go_float`], for input that is not known to be UTF-8 (anything
/// that is not ASCII is a syntax error anyway).
pub fn parse_go_float_bytes(s: &[u8]) -> Result<f64, ParseFloatError> {
    if s.len() <= SHORT_INPUT
        && let Some(v) = std::str::from_utf8(s).ok().and_then(parse_plain_decimal)
    {
        return Ok(v);
    }
    parse_go(s)
}

/// Inputs up to this length can neither have more than 800 integer digits nor
/// be affected by Go's exponent clamping (their value under- or overflows
/// either way when the exponent is clamped).
const SHORT_INPUT: usize = SLOW_PATH_DIGITS as usize;

/// The fast path for the usual input: a short, plain decimal number. Rust's
/// grammar for decimals (without `_`) is the same as Go's, and both round
/// correctly. Everything else (special values, hex, underscores, overflow,
/// syntax errors, long inputs) is left to [`parse_go`].
#[inline]
fn parse_plain_decimal(s: &str) -> Option<f64> {
    if s.len() > SHORT_INPUT {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The full Go algorithm.
fn parse_go(s: &[u8]) -> Result<f64, ParseFloatError> {
    if let Some(special) = parse_special(s) {
        return special;
    }
    let Some(num) = scan_number(s) else {
        return Err(ParseFloatError::InvalidSyntax);
    };
    if num.end != s.len() || (num.underscores && !underscores_ok(s)) {
        return Err(ParseFloatError::InvalidSyntax);
    }
    if num.hex {
        return hex_to_float(num.mantissa, num.exp, num.neg, num.trunc);
    }
    if !num.underscores && !num.exp_clamped && num.int_digits <= SLOW_PATH_DIGITS {
        // The common case: Go's result is the correctly rounded value of the
        // text as written, and the text is also valid Rust float syntax.
        let value = std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .ok_or(ParseFloatError::InvalidSyntax)?;
        return finite_or_range_error(value);
    }
    decimal_slow(s, &num)
}

fn finite_or_range_error(value: f64) -> Result<f64, ParseFloatError> {
    if value.is_infinite() {
        Err(ParseFloatError::OutOfRange(value))
    } else {
        Ok(value)
    }
}

/// ASCII lower-casing of letters (enough for comparing against lower-case
/// ASCII letters).
#[inline]
fn lower(c: u8) -> u8 {
    c.to_ascii_lowercase()
}

/// Length of the common prefix of `s` and the lower-case `word`, ignoring the
/// case of `s`.
fn common_prefix_ignore_case(s: &[u8], word: &[u8]) -> usize {
    s.iter()
        .zip(word)
        .take_while(|&(&a, &b)| lower(a) == b)
        .count()
}

/// Recognises Go's special spellings. Returns `None` when `s` does not start
/// with one (so it should be read as a number), otherwise the final result:
/// a special value when it spans all of `s`, a syntax error otherwise.
fn parse_special(s: &[u8]) -> Option<Result<f64, ParseFloatError>> {
    let (&first, _) = s.split_first()?;
    let consumed;
    let value;
    match first {
        b'+' | b'-' | b'i' | b'I' => {
            let (neg, rest) = match first {
                b'+' => (false, s.get(1..).unwrap_or(&[])),
                b'-' => (true, s.get(1..).unwrap_or(&[])),
                _ => (false, s),
            };
            let n = common_prefix_ignore_case(rest, b"infinity");
            // "infinity" in full, or else just "inf".
            let n = match n {
                8 => 8,
                3..=7 => 3,
                _ => return None,
            };
            consumed = n + usize::from(first == b'+' || first == b'-');
            value = if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
        }
        b'n' | b'N' => {
            if common_prefix_ignore_case(s, b"nan") != 3 {
                return None;
            }
            consumed = 3;
            value = f64::from_bits(GO_NAN_BITS);
        }
        _ => return None,
    }
    Some(if consumed == s.len() {
        Ok(value)
    } else {
        Err(ParseFloatError::InvalidSyntax)
    })
}

/// Number of significant integer digits beyond which Go's slow path loses
/// track of the decimal point (its multi-precision decimal holds 800 digits).
const SLOW_PATH_DIGITS: i64 = 800;

/// Exponent digits stop being accumulated once the value reaches this.
const EXP_CLAMP: i64 = 10_000;

/// What a scan of a number in Go's syntax found.
struct Scanned {
    neg: bool,
    hex: bool,
    /// The first up to 19 decimal (16 hex) significant digits.
    mantissa: u64,
    /// Power of the base (decimal) or of two (hex) to apply to `mantissa`.
    exp: i64,
    /// Non-zero digits were dropped from `mantissa`.
    trunc: bool,
    /// Position of the decimal point relative to the first significant digit,
    /// after applying the exponent (in bits for hex).
    dp: i64,
    /// Significant digits before the decimal point.
    int_digits: i64,
    /// The exponent had more digits than Go reads.
    exp_clamped: bool,
    underscores: bool,
    /// Bytes consumed.
    end: usize,
}

/// Scans the longest prefix of `s` that forms a number in Go's syntax, the
/// way Go's `readFloat` does. Returns `None` if there is no valid number at
/// the start of `s`.
fn scan_number(s: &[u8]) -> Option<Scanned> {
    let at = |i: usize| s.get(i).copied();
    let mut i = 0;
    let mut neg = false;
    match at(i)? {
        b'+' => i += 1,
        b'-' => {
            neg = true;
            i += 1;
        }
        _ => {}
    }
    let mut hex = false;
    if i + 2 < s.len() && at(i) == Some(b'0') && at(i + 1).map(lower) == Some(b'x') {
        hex = true;
        i += 2;
    }
    let (base, max_mant_digits, exp_char) = if hex {
        (16u64, 16i64, b'p')
    } else {
        (10u64, 19i64, b'e')
    };

    let mut underscores = false;
    let mut saw_dot = false;
    let mut saw_digits = false;
    let mut nd: i64 = 0;
    let mut nd_mant: i64 = 0;
    let mut dp: i64 = 0;
    let mut int_digits: Option<i64> = None;
    let mut mantissa: u64 = 0;
    let mut trunc = false;
    while let Some(c) = at(i) {
        let digit = match c {
            b'_' => {
                underscores = true;
                i += 1;
                continue;
            }
            b'.' => {
                if saw_dot {
                    break;
                }
                saw_dot = true;
                dp = nd;
                int_digits = Some(nd);
                i += 1;
                continue;
            }
            b'0'..=b'9' => u64::from(c - b'0'),
            _ if hex && (b'a'..=b'f').contains(&lower(c)) => u64::from(lower(c) - b'a' + 10),
            _ => break,
        };
        saw_digits = true;
        i += 1;
        if digit == 0 && nd == 0 {
            // Leading zero: only moves the decimal point.
            dp -= 1;
            continue;
        }
        nd += 1;
        if nd_mant < max_mant_digits {
            mantissa = mantissa.wrapping_mul(base).wrapping_add(digit);
            nd_mant += 1;
        } else if digit != 0 {
            trunc = true;
        }
    }
    if !saw_digits {
        return None;
    }
    if !saw_dot {
        dp = nd;
    }
    let int_digits = int_digits.unwrap_or(nd);
    if hex {
        dp = dp.saturating_mul(4);
        nd_mant *= 4;
    }

    let mut exp_clamped = false;
    if at(i).map(lower) == Some(exp_char) {
        i += 1;
        let mut esign = 1;
        match at(i)? {
            b'+' => i += 1,
            b'-' => {
                esign = -1;
                i += 1;
            }
            _ => {}
        }
        if !at(i)?.is_ascii_digit() {
            return None;
        }
        let mut e: i64 = 0;
        while let Some(c) = at(i) {
            if c == b'_' {
                underscores = true;
            } else if c.is_ascii_digit() {
                if e < EXP_CLAMP {
                    e = e * 10 + i64::from(c - b'0');
                } else {
                    exp_clamped = true;
                }
            } else {
                break;
            }
            i += 1;
        }
        dp = dp.saturating_add(e * esign);
    } else if hex {
        // A hexadecimal mantissa requires a 'p' exponent.
        return None;
    }

    let exp = if mantissa != 0 {
        dp.saturating_sub(nd_mant)
    } else {
        0
    };
    Some(Scanned {
        neg,
        hex,
        mantissa,
        exp,
        trunc,
        dp,
        int_digits,
        exp_clamped,
        underscores,
        end: i,
    })
}

/// Go's rule for `_` in number literals: only between digits, or between a
/// base prefix and a digit.
fn underscores_ok(s: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum Saw {
        Start,
        Digit,
        Underscore,
        Other,
    }
    let s = match s.first() {
        Some(b'+' | b'-') => s.get(1..).unwrap_or(&[]),
        _ => s,
    };
    let mut saw = Saw::Start;
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s.first() == Some(&b'0') {
        let p = s.get(1).copied().map(lower);
        if matches!(p, Some(b'b' | b'o' | b'x')) {
            i = 2;
            // The prefix counts as a digit for separator purposes.
            saw = Saw::Digit;
            hex = p == Some(b'x');
        }
    }
    for &c in s.get(i..).unwrap_or(&[]) {
        if c.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&lower(c))) {
            saw = Saw::Digit;
        } else if c == b'_' {
            if saw != Saw::Digit {
                return false;
            }
            saw = Saw::Underscore;
        } else {
            if saw == Saw::Underscore {
                return false;
            }
            saw = Saw::Other;
        }
    }
    saw != Saw::Underscore
}

/// Rounds `mantissa × 2^exp` (with `trunc` meaning lost non-zero bits below
/// the mantissa) to an f64 the way Go's hexadecimal float parsing does.
fn hex_to_float(mantissa: u64, exp: i64, neg: bool, trunc: bool) -> Result<f64, ParseFloatError> {
    const MANT_BITS: u32 = 52;
    const BIAS: i64 = -1023;
    const MAX_EXP: i64 = 1023;
    const MIN_EXP: i64 = -1022;

    let mut m = mantissa;
    // From here on the mantissa is read as a fraction with MANT_BITS bits.
    let mut e = exp.saturating_add(i64::from(MANT_BITS));
    // Normalise to a leading 1 followed by MANT_BITS bits and two rounding
    // bits, the lowest of which is sticky.
    while m != 0 && m >> (MANT_BITS + 2) == 0 {
        m <<= 1;
        e -= 1;
    }
    if trunc {
        m |= 1;
    }
    while m >> (MANT_BITS + 3) != 0 {
        m = (m >> 1) | (m & 1);
        e += 1;
    }
    // Denormalise values below the normal range.
    while m > 1 && e < MIN_EXP - 2 {
        m = (m >> 1) | (m & 1);
        e += 1;
    }
    // Round half to even using the two low bits.
    let mut round = m & 3;
    m >>= 2;
    round |= m & 1;
    e += 2;
    if round == 3 {
        m += 1;
        if m == 1 << (MANT_BITS + 1) {
            m >>= 1;
            e += 1;
        }
    }
    if m >> MANT_BITS == 0 {
        // Subnormal or zero.
        e = BIAS;
    }
    let overflow = e > MAX_EXP;
    if overflow {
        m = 1 << MANT_BITS;
        e = MAX_EXP + 1;
    }
    let mut bits = m & ((1 << MANT_BITS) - 1);
    bits |= (((e - BIAS) as u64) & 0x7ff) << MANT_BITS;
    if neg {
        bits |= 1 << 63;
    }
    let value = f64::from_bits(bits);
    if overflow {
        Err(ParseFloatError::OutOfRange(value))
    } else {
        Ok(value)
    }
}

/// The decimal cases the fast path cannot take: underscores, clamped
/// exponents, and numbers with very many integer digits. Rewrites the number
/// as `0.<digits>e<dp>` with Go's idea of `dp` and lets the standard library
/// round it (this path allocates).
fn decimal_slow(s: &[u8], num: &Scanned) -> Result<f64, ParseFloatError> {
    let mut dp = num.dp;
    let mut max_digits = usize::MAX;
    if num.int_digits > SLOW_PATH_DIGITS {
        // Go first tries Eisel-Lemire on the leading 19 digits; only if that
        // is inconclusive does it use its 800-digit decimal, which then
        // places the decimal point after the 800th digit.
        if let Some(v) = eisel_lemire_decides(num) {
            return Ok(v);
        }
        max_digits = SLOW_PATH_DIGITS as usize;
        dp = SLOW_PATH_DIGITS.saturating_add(num.dp.saturating_sub(num.int_digits));
    }

    let mut text: Vec<u8> = Vec::with_capacity(s.len().min(1024) + 32);
    if num.neg {
        text.push(b'-');
    }
    text.extend_from_slice(b"0.");
    let mut nd = 0usize;
    let mut dropped_nonzero = false;
    for &c in s {
        match c {
            b'0'..=b'9' => {
                if c == b'0' && nd == 0 {
                    continue;
                }
                if nd < max_digits {
                    text.push(c);
                    nd += 1;
                } else if c != b'0' {
                    dropped_nonzero = true;
                }
            }
            b'e' | b'E' => break,
            _ => {}
        }
    }
    if nd == 0 {
        return Ok(if num.neg { -0.0 } else { 0.0 });
    }
    if dropped_nonzero {
        // A sticky digit: beyond the 800th digit it can only matter for
        // breaking an exact tie, which it does upwards, as Go does.
        text.push(b'1');
    }
    text.push(b'e');
    push_i64(&mut text, dp);
    let value = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or(ParseFloatError::InvalidSyntax)?;
    finite_or_range_error(value)
}

/// Go's fast path for a decimal with a truncated 19-digit mantissa: returns
/// the value if Eisel-Lemire settles it, `None` if Go would fall back to its
/// slow path.
fn eisel_lemire_decides(num: &Scanned) -> Option<f64> {
    let v = eisel_lemire(num.mantissa, num.exp, num.neg)?;
    if !num.trunc {
        return Some(v);
    }
    let up = eisel_lemire(num.mantissa.checked_add(1)?, num.exp, num.neg)?;
    (up.to_bits() == v.to_bits()).then_some(v)
}

/// The Eisel-Lemire algorithm as Go implements it: converts `man × 10^exp10`
/// when the 128-bit approximation of the power of ten is precise enough, and
/// returns `None` (inconclusive) otherwise, including for results that would
/// be subnormal or overflow.
fn eisel_lemire(man: u64, exp10: i64, neg: bool) -> Option<f64> {
    if man == 0 {
        return Some(if neg { -0.0 } else { 0.0 });
    }
    if !(POW10_MIN_EXP..=POW10_MAX_EXP).contains(&exp10) {
        return None;
    }
    let clz = man.leading_zeros();
    let man = man << clz;
    // floor(exp10 × log2(10)) via Go's fixed-point slope, plus the bias.
    let mut ret_exp2 = (((217_706 * exp10) >> 16) + 64 + 1023).wrapping_sub(i64::from(clz)) as u64;

    let pow = pow10_mantissa(exp10);
    let (pow_hi, pow_lo) = ((pow >> 64) as u64, pow as u64);
    let x = u128::from(man) * u128::from(pow_hi);
    let (mut x_hi, mut x_lo) = ((x >> 64) as u64, x as u64);
    if x_hi & 0x1ff == 0x1ff && x_lo.wrapping_add(man) < man {
        let y = u128::from(man) * u128::from(pow_lo);
        let (y_hi, y_lo) = ((y >> 64) as u64, y as u64);
        let mut merged_hi = x_hi;
        let merged_lo = x_lo.wrapping_add(y_hi);
        if merged_lo < x_lo {
            merged_hi = merged_hi.wrapping_add(1);
        }
        if merged_hi & 0x1ff == 0x1ff
            && merged_lo.wrapping_add(1) == 0
            && y_lo.wrapping_add(man) < man
        {
            return None;
        }
        x_hi = merged_hi;
        x_lo = merged_lo;
    }
    let msb = x_hi >> 63;
    let mut ret_mant = x_hi >> (msb + 9);
    ret_exp2 = ret_exp2.wrapping_sub(1 ^ msb);
    if x_lo == 0 && x_hi & 0x1ff == 0 && ret_mant & 3 == 1 {
        // Exactly half-way: inconclusive.
        return None;
    }
    ret_mant += ret_mant & 1;
    ret_mant >>= 1;
    if ret_mant >> 53 > 0 {
        ret_mant >>= 1;
        ret_exp2 = ret_exp2.wrapping_add(1);
    }
    if ret_exp2.wrapping_sub(1) >= 0x7ff - 1 {
        return None;
    }
    let mut bits = (ret_exp2 << 52) | (ret_mant & 0x000f_ffff_ffff_ffff);
    if neg {
        bits |= 1 << 63;
    }
    Some(f64::from_bits(bits))
}

const POW10_MIN_EXP: i64 = -348;
const POW10_MAX_EXP: i64 = 347;

/// The 128-bit mantissa of `10^exp10`, normalised so that bit 127 is set and
/// rounded down, as in the power table used by Go's Eisel-Lemire code. Only
/// needed on a very rare path, so it is computed on demand with a simple
/// big-integer routine (this allocates).
fn pow10_mantissa(exp10: i64) -> u128 {
    let n = exp10.unsigned_abs().min(400) as usize;
    let mut p = BigUint::one();
    for _ in 0..n {
        p.mul_small(10);
    }
    let len = p.bit_len();
    if exp10 >= 0 {
        if len <= 128 {
            p.low_u128() << (128 - len)
        } else {
            p.shr_low_u128(len - 128)
        }
    } else {
        // floor(2^(127 + len) / 10^n) lies in [2^127, 2^128).
        let mut rem = BigUint::zero();
        let mut q: u128 = 0;
        for bit in (0..=127 + len).rev() {
            rem.shl1(bit == 127 + len);
            q <<= 1;
            if rem.ge(&p) {
                rem.sub_assign(&p);
                q |= 1;
            }
        }
        q
    }
}

/// Minimal little-endian big unsigned integer for [`pow10_mantissa`].
struct BigUint {
    limbs: Vec<u32>,
}

impl BigUint {
    fn zero() -> Self {
        BigUint { limbs: Vec::new() }
    }

    fn one() -> Self {
        BigUint { limbs: vec![1] }
    }

    fn mul_small(&mut self, k: u32) {
        let mut carry = 0u64;
        for limb in &mut self.limbs {
            let v = u64::from(*limb) * u64::from(k) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    fn bit_len(&self) -> usize {
        match self.limbs.last() {
            Some(&top) => (self.limbs.len() - 1) * 32 + (32 - top.leading_zeros() as usize),
            None => 0,
        }
    }

    fn bit(&self, i: usize) -> u128 {
        self.limbs
            .get(i / 32)
            .map_or(0, |&l| u128::from((l >> (i % 32)) & 1))
    }

    fn low_u128(&self) -> u128 {
        (0..128).fold(0, |acc, i| acc | (self.bit(i) << i))
    }

    /// The 128 bits starting at bit `shift`.
    fn shr_low_u128(&self, shift: usize) -> u128 {
        (0..128).fold(0, |acc, i| acc | (self.bit(shift + i) << i))
    }

    /// `self = 2 × self + low_bit`.
    fn shl1(&mut self, low_bit: bool) {
        let mut carry = u32::from(low_bit);
        for limb in &mut self.limbs {
            let next = *limb >> 31;
            *limb = (*limb << 1) | carry;
            carry = next;
        }
        if carry != 0 {
            self.limbs.push(carry);
        }
    }

    fn ge(&self, other: &BigUint) -> bool {
        if self.limbs.len() != other.limbs.len() {
            return self.limbs.len() > other.limbs.len();
        }
        for (a, b) in self.limbs.iter().rev().zip(other.limbs.iter().rev()) {
            if a != b {
                return a > b;
            }
        }
        true
    }

    /// `self -= other`, for `self >= other`.
    fn sub_assign(&mut self, other: &BigUint) {
        let mut borrow = 0i64;
        for (i, limb) in self.limbs.iter_mut().enumerate() {
            let o = i64::from(other.limbs.get(i).copied().unwrap_or(0));
            let mut v = i64::from(*limb) - o - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            *limb = v as u32;
        }
        self.trim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_like_display() {
        let mut cases: Vec<u64> = vec![0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, u64::MAX];
        let mut x = 1u64;
        while let Some(y) = x.checked_mul(7) {
            cases.extend([y - 1, y, y + 1]);
            x = y;
        }
        for v in cases {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
        let mut out = Vec::new();
        push_api_timestamp(&mut out, -1_700_000_000_005);
        assert_eq!(out, b"-1700000000.005");
    }

    #[test]
    fn go_g_examples() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (123456.7, "123456.7"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(f, want) in cases {
            assert_eq!(format_go_g(f), want, "{f:e}");
        }
    }

    #[test]
    fn exposition_and_openmetrics_examples() {
        let cases: &[(f64, &str, &str)] = &[
            (1.0, "1", "1.0"),
            (0.0, "0", "0.0"),
            (-0.0, "0", "0.0"),
            (-1.0, "-1", "-1.0"),
            (2.0, "2", "2.0"),
            (0.25, "0.25", "0.25"),
            (1e6, "1e+06", "1e+06"),
            (123456.0, "123456", "123456.0"),
            (f64::from_bits(0x7ff0_0000_0000_0002), "NaN", "NaN"),
            (f64::INFINITY, "+Inf", "+Inf"),
            (f64::NEG_INFINITY, "-Inf", "-Inf"),
        ];
        for &(f, exposition, om) in cases {
            assert_eq!(format_exposition_value(f), exposition, "{f:e}");
            assert_eq!(format_openmetrics_float(f), om, "{f:e}");
        }
    }

    #[test]
    fn api_value_examples() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (0.000001, "0.000001"),
            (1e-7, "1e-07"),
            (1234567.0, "1234567"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (-2.5e-300, "-2.5e-300"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(f, want) in cases {
            assert_eq!(format_api_value(f), want, "{f:e}");
        }
    }

    #[test]
    fn api_timestamp_examples() {
        let cases: &[(i64, &str)] = &[
            (0, "0"),
            (1, "0.001"),
            (-1, "-0.001"),
            (1000, "1"),
            (1500, "1.500"),
            (-1500, "-1.500"),
            (1435781451781, "1435781451.781"),
            (1010, "1.010"),
            (i64::MAX, "9223372036854775.807"),
            (i64::MIN, "--9223372036854775.00-808"),
        ];
        for &(ms, want) in cases {
            assert_eq!(format_api_timestamp(ms), want, "{ms}");
        }
    }

    #[test]
    fn parse_examples() {
        let ok: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-0", -0.0),
            (".5", 0.5),
            ("+.5", 0.5),
            ("5.", 5.0),
            ("1e-400", 0.0),
            ("1_000", 1000.0),
            ("0x1.8p3", 12.0),
            ("0X1P-2", 0.25),
            ("0x_1p0", 1.0),
            ("-Infinity", f64::NEG_INFINITY),
            ("+inf", f64::INFINITY),
        ];
        for &(s, want) in ok {
            let got = parse_go_float(s);
            assert_eq!(got.map(f64::to_bits), Ok(want.to_bits()), "{s:?}");
        }
        assert_eq!(parse_go_float("NaN").map(f64::to_bits), Ok(GO_NAN_BITS));
        for s in [
            "", " 1", "1 ", "1e", "1e+", "infinit", "+NaN", "-nan", "0x1", "0b1", "1__0", "_1",
        ] {
            assert_eq!(
                parse_go_float(s),
                Err(ParseFloatError::InvalidSyntax),
                "{s:?}"
            );
        }
        assert_eq!(
            parse_go_float("1e400"),
            Err(ParseFloatError::OutOfRange(f64::INFINITY))
        );
        assert_eq!(
            parse_go_float("-0x1p1024"),
            Err(ParseFloatError::OutOfRange(f64::NEG_INFINITY))
        );
        assert_eq!(
            ParseFloatError::OutOfRange(f64::INFINITY).go_value(),
            f64::INFINITY
        );
    }

    #[test]
    fn parse_reproduces_go_quirks_on_absurd_inputs() {
        // Expected values were checked against Go 1.19's strconv.ParseFloat.
        // Exponents are read up to five digits: e100050 is taken as e10005,
        // so this is 0 rather than 1e49.
        let s = format!("0.{}1e100050", "0".repeat(100_000));
        assert_eq!(parse_go_float(&s), Ok(0.0));
        // Up to 99999 the exponent is exact (the value is 0.01).
        let s = format!("0.{}1e99999", "0".repeat(100_000));
        assert_eq!(parse_go_float(&s), Ok(0.01));
        // More than 800 integer digits and an inconclusive fast path: Go
        // reads the 1001-digit integer 10^1000 as the 800-digit 10^799, so
        // 10^1000 × 10^-990 comes out as 1e-191 instead of 1e10 ...
        let s = format!("1{}e-990", "0".repeat(1000));
        assert_eq!(parse_go_float(&s), Ok(1e-191));
        // ... and 10^999 × 10^-600 (really 1e399, out of range) as 1e199.
        let s = format!("1{}e-600", "0".repeat(999));
        assert_eq!(parse_go_float(&s), Ok(1e199));
        // When the fast path settles it, the result is exact.
        let s = format!("1{}e-950", "0".repeat(1000));
        assert_eq!(parse_go_float(&s), Ok(1e50));
    }

    #[test]
    fn pow10_mantissa_matches_go_table_samples() {
        // Entries quoted in the documentation of Go's power table.
        assert_eq!(pow10_mantissa(-348), 0xFA8FD5A0081C0288_1732C869CD60E453);
        assert_eq!(pow10_mantissa(43) >> 64, 0xE596B7B0C643C719);
        assert_eq!(pow10_mantissa(0), 1 << 127);
    }
}
