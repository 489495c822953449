//! Request parameters as Prometheus reads them: form values from the URL and a
//! url-encoded POST body, times (RFC 3339 or float seconds), durations (`15s` or float
//! seconds), limits and series selectors.

use narthex_model::float::parse_go_float;
use narthex_model::{Matcher, go_quote, parse_duration as parse_prom_duration};
use narthex_promql_syntax::{Expr, ParserOptions};

use crate::error::ApiError;

/// The form values of one request: a url-encoded POST body first, then the URL's query
/// string, as Go's `Request.Form` orders them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses the query string and, when given, a url-encoded body (which comes first).
    pub fn parse(query: Option<&str>, body: Option<&[u8]>) -> Self {
        let mut pairs = Vec::new();
        if let Some(b) = body {
            pairs.extend(form_urlencoded::parse(b).into_owned());
        }
        if let Some(q) = query {
            pairs.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Params { pairs }
    }

    /// Parameters from name/value pairs, in order.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        Params {
            pairs: pairs
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }

    /// The first value of `name`, or the empty string (Go's `FormValue`).
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Prometheus's earliest time (`MinTime`), in milliseconds.
pub const MIN_TIME: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// Prometheus's latest time (`MaxTime`), in milliseconds.
pub const MAX_TIME: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;

const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// Parses a time as Prometheus's API does: float Unix seconds (rounded to milliseconds),
/// or RFC 3339 with optional fraction. Returns milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(t) = parse_go_float(s) {
        // Go: s, ns := math.Modf(t); ns = math.Round(ns*1000)/1000;
        // time.Unix(int64(s), int64(ns*1e9)), then milliseconds.
        let secs = t.trunc();
        let frac = t - secs;
        let frac = (frac * 1000.0).round() / 1000.0;
        let secs = go_f64_to_i64(if t.is_infinite() { t } else { secs });
        let nanos = go_f64_to_i64(frac * 1e9) as i128;
        let total = secs as i128 * 1_000_000_000 + nanos;
        let ms = total.div_euclid(1_000_000);
        return Ok(ms.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
    }
    if let Some(ms) = parse_rfc3339(s) {
        return Ok(ms);
    }
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME),
        MAX_TIME_FORMATTED => Ok(MAX_TIME),
        _ => Err(format!("cannot parse {} to a valid timestamp", go_quote(s))),
    }
}

/// Go's float to int64 conversion on amd64: out of range (and NaN) gives `i64::MIN`.
fn go_f64_to_i64(f: f64) -> i64 {
    // 2^63 is exactly representable; every f64 below it and at least -2^63 fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-LIMIT..LIMIT).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// A form time parameter, `default` when absent:
/// `invalid time value for 'name': cannot parse ...`.
pub(crate) fn time_param(p: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    let v = p.value(name);
    if v.is_empty() {
        return Ok(default);
    }
    parse_time(v)
        .map_err(|e| ApiError::invalid_param(name, format!("invalid time value for '{name}': {e}")))
}

/// Parses a duration as Prometheus's API does: float seconds or a Prometheus duration.
/// Returns nanoseconds (Go's `time.Duration`).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(d) = parse_go_float(s) {
        let ts = d * 1e9;
        if ts > i64::MAX as f64 || ts < i64::MIN as f64 || ts.is_nan() {
            return Err(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                go_quote(s)
            ));
        }
        return Ok(ts as i64);
    }
    if let Ok(ms) = parse_prom_duration(s) {
        return Ok(ms.saturating_mul(1_000_000));
    }
    Err(format!("cannot parse {} to a valid duration", go_quote(s)))
}

/// The `limit` parameter: 0 when absent; positive otherwise.
pub(crate) fn limit_param(p: &Params) -> Result<usize, ApiError> {
    let s = p.value("limit");
    if s.is_empty() {
        return Ok(0);
    }
    let n: i64 = parse_go_int(s).map_err(|e| ApiError::invalid_param("limit", e))?;
    if n <= 0 {
        return Err(ApiError::invalid_param("limit", "limit must be positive"));
    }
    Ok(n as usize)
}

/// Go's `strconv.Atoi`, with its error text.
fn parse_go_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", go_quote(s)))
}

/// Parses `match[]` values into matcher sets (Prometheus's `parseMatchersParam`): each
/// must be a plain series selector with at least one matcher that does not match the
/// empty string.
pub fn matcher_sets(values: &[&str], opts: &ParserOptions) -> Result<Vec<Vec<Matcher>>, String> {
    const EMPTY: &str = "match[] must contain at least one non-empty matcher";
    let mut sets = Vec::with_capacity(values.len());
    for v in values {
        let expr = match narthex_promql_syntax::parse_with(v, opts) {
            Ok(e) => e,
            // Prometheus's selector grammar leaves this check to the API.
            Err(e)
                if e.errors().len() == 1
                    && e.first().message
                        == "vector selector must contain at least one non-empty matcher" =>
            {
                return Err(EMPTY.into());
            }
            Err(e) => return Err(e.to_string()),
        };
        match expr {
            Expr::VectorSelector(vs)
                if vs.offset.is_none() && vs.at.is_none() && vs.modifier.is_none() =>
            {
                sets.push(vs.matchers);
            }
            other => return Err(not_a_selector(v, &other, opts)),
        }
    }
    for set in &sets {
        if !set.iter().any(|m| !m.matches("")) {
            return Err(EMPTY.into());
        }
    }
    Ok(sets)
}

/// Prometheus's error for a valid expression that is not a series selector: its selector
/// grammar stops at the first token that cannot continue a selector
/// (`1:4: parse error: unexpected <op:+>`).
fn not_a_selector(input: &str, e: &Expr, opts: &ParserOptions) -> String {
    let mut pos = first_bad_token(input, e).min(input.len());
    let b = input.as_bytes();
    while pos < b.len() {
        if b[pos].is_ascii_whitespace() {
            pos += 1;
        } else if b[pos] == b'#' {
            while pos < b.len() && b[pos] != b'\n' {
                pos += 1;
            }
        } else {
            break;
        }
    }
    let rest = input.get(pos..).unwrap_or("");
    let desc = describe_token(rest, opts).unwrap_or_else(|| "input".to_string());
    let before = &b[..pos];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let col = match before.iter().rposition(|&c| c == b'\n') {
        Some(nl) => pos - nl,
        None => pos + 1,
    };
    format!("{line}:{col}: parse error: unexpected {desc}")
}

/// Where the leading series selector of `e` ends (or where `e` starts, when it does not
/// begin with one).
fn first_bad_token(input: &str, e: &Expr) -> usize {
    match e {
        Expr::Binary(b) => first_bad_token(input, &b.lhs),
        Expr::MatrixSelector(m) => selector_end(input, m.selector.span.start),
        Expr::Subquery(s) => first_bad_token(input, &s.expr),
        Expr::VectorSelector(vs) => selector_end(input, vs.span.start),
        // A function name or an aggregation keyword reads as a metric name; the "(" (or
        // `by`) is unexpected.
        Expr::Call(c) => c.span.start + c.func.name.len(),
        Expr::Aggregate(a) => a.span.start + a.op.as_str().len(),
        other => other.span().start,
    }
}

/// The end of `name{...}` starting at `start`: the name, then a brace block (quoted
/// strings skipped).
fn selector_end(input: &str, start: usize) -> usize {
    let b = input.as_bytes();
    let mut i = start;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
        i += 1;
    }
    let mut j = i;
    while j < b.len() && b[j].is_ascii_whitespace() {
        j += 1;
    }
    if j < b.len() && b[j] == b'{' {
        let mut k = j + 1;
        let mut quote: Option<u8> = None;
        while k < b.len() {
            let c = b[k];
            match quote {
                Some(q) if c == b'\\' && q != b'`' => k += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == b'"' || c == b'\'' || c == b'`' => quote = Some(c),
                None if c == b'}' => return k + 1,
                None => {}
            }
            k += 1;
        }
        return b.len();
    }
    i
}

/// Prometheus's description of the token `rest` starts with (`<op:+>`, `"["`,
/// `identifier "x"`), taken from the parser's own "unexpected ..." message.
fn describe_token(rest: &str, opts: &ParserOptions) -> Option<String> {
    if rest.starts_with('(') {
        return Some("\"(\"".into());
    }
    const PROBE: &str = "sum by ";
    let probe = format!("{PROBE}{rest}");
    let err = narthex_promql_syntax::parse_with(&probe, opts).err()?;
    let first = err.first();
    if first.span.start != PROBE.len() {
        return None;
    }
    let d = first.message.strip_prefix("unexpected ")?;
    Some(d.split(" in grouping opts").next()?.to_string())
}

/// Undoes Prometheus's `U__` escaping of label names in URL paths
/// (`model.UnescapeName` with value-encoding escaping); returns the input unchanged when
/// it is not validly escaped.
pub fn unescape_name(name: &str) -> String {
    let Some(esc) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let b = esc.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'_' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        if i >= b.len() {
            return name.to_string();
        }
        if b[i] == b'_' {
            out.push(b'_');
            i += 1;
            continue;
        }
        let mut val: u32 = 0;
        let mut j = 0;
        loop {
            if i >= b.len() || j >= 6 {
                return name.to_string();
            }
            if b[i] == b'_' {
                break;
            }
            let d = match b[i].to_ascii_lowercase() {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                _ => return name.to_string(),
            };
            val = val * 16 + d as u32;
            i += 1;
            j += 1;
        }
        let Some(c) = char::from_u32(val) else {
            return name.to_string();
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| name.to_string())
}

/// Parses RFC 3339 (`2006-01-02T15:04:05.999999999Z07:00`) as Go's `time.Parse` does for
/// that layout; returns milliseconds (truncating nanoseconds).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = &b[r];
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(d.iter().fold(0i64, |a, &c| a * 10 + (c - b'0') as i64))
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = num(0..4)?;
    let month = num(5..7)?;
    let day = num(8..10)?;
    let hour = num(11..13)?;
    let min = num(14..16)?;
    let sec = num(17..19)?;
    if !(1..=12).contains(&month) || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > mdays[(month - 1) as usize] {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if i < b.len() && (b[i] == b'.' || b[i] == b',') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &b[start..i];
        if digits.is_empty() {
            return None;
        }
        for k in 0..9 {
            nanos = nanos * 10 + digits.get(k).map_or(0, |c| (c - b'0') as i64);
        }
    }
    let rest = &b[i..];
    let offset_secs: i64 = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let all = [*h1, *h2, *m1, *m2];
            if !all.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let hh = ((h1 - b'0') * 10 + (h2 - b'0')) as i64;
            let mm = ((m1 - b'0') * 10 + (m2 - b'0')) as i64;
            if hh > 23 || mm > 59 {
                return None;
            }
            let o = hh * 3600 + mm * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let unix = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(unix * 1000 + nanos / 1_000_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.123"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00"),
            Ok(1_700_000_000_500)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_time("abc"),
            Err(r#"cannot parse "abc" to a valid timestamp"#.into())
        );
        assert!(parse_time("2023-02-30T00:00:00Z").is_err());
        assert_eq!(parse_time(MIN_TIME_FORMATTED), Ok(MIN_TIME));
        assert_eq!(parse_time(MAX_TIME_FORMATTED), Ok(MAX_TIME));
        assert_eq!(parse_time("-9223309901257974"), Ok(MIN_TIME));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Ok(15_000_000_000));
        assert_eq!(parse_duration("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(
            parse_duration("x"),
            Err(r#"cannot parse "x" to a valid duration"#.into())
        );
        assert!(
            parse_duration("1e20")
                .unwrap_err()
                .contains("overflows int64")
        );
    }

    #[test]
    fn unescape() {
        assert_eq!(unescape_name("U__foo_2e_bar"), "foo.bar");
        assert_eq!(unescape_name("U__a__b"), "a_b");
        assert_eq!(unescape_name("U__x_1f600_"), "x\u{1f600}");
        assert_eq!(unescape_name("U__bad_zz_"), "U__bad_zz_");
        assert_eq!(unescape_name("plain"), "plain");
    }

    #[test]
    fn form_order() {
        let p = Params::parse(Some("a=1&m=x"), Some(b"a=2&m=y"));
        assert_eq!(p.value("a"), "2");
        assert_eq!(p.get_all("m"), ["y", "x"]);
    }
}
