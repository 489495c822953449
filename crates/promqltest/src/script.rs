//! The `.test` script format: commands, value sequences and expectations.

use std::fmt;

use narthex_model::{CounterResetHint, Labels, METRIC_NAME, stale_nan};

use crate::hist::{self, HistogramValue};

/// A script that failed to parse: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    /// The file name (as given to [`Script::parse`]).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// One value position of a sequence (`load` bodies and expected series).
#[derive(Clone, Debug, PartialEq)]
pub enum SeqValue {
    /// `_`: no sample at this position.
    Gap,
    /// A float (a stale marker is the stale NaN: see [`narthex_model::is_stale_nan`]).
    Float(f64),
    /// A native histogram.
    Histogram(Box<HistogramValue>),
}

/// One series line of a `load` body.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSeries {
    /// 1-based line number.
    pub line: usize,
    /// The labels, `__name__` included.
    pub labels: Labels,
    /// The k-th value is the sample at `k * step`.
    pub values: Vec<SeqValue>,
    /// Per-position start-timestamp offsets (relative to the sample's own timestamp) from
    /// a preceding `metric{…}@st …` line; `None` entries are unknown (`_`).
    pub start_timestamps: Option<Vec<Option<i64>>>,
}

/// `load <step>` or `load_with_nhcb <step>`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadCmd {
    /// 1-based line number of the header.
    pub line: usize,
    /// Step between positions, milliseconds.
    pub step: i64,
    /// `load_with_nhcb`: also synthesize custom-bucket histograms from classic ones.
    pub with_nhcb: bool,
    /// The series.
    pub series: Vec<LoadSeries>,
}

/// When an `eval` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalTime {
    /// `eval instant at <t>`.
    Instant {
        /// Milliseconds since the epoch.
        at: i64,
    },
    /// `eval range from <start> to <end> step <step>`.
    Range {
        /// Milliseconds since the epoch.
        start: i64,
        /// Milliseconds since the epoch, inclusive.
        end: i64,
        /// Milliseconds.
        step: i64,
    },
}

/// How an expected error or annotation message is matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageMatch {
    /// Any message.
    Any,
    /// `msg: <text>`: exactly this text.
    Exact(String),
    /// `regex: <RE2>`: the pattern matches somewhere in the text.
    Regex(String),
}

impl fmt::Display for MessageMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageMatch::Any => f.write_str("any message"),
            MessageMatch::Exact(s) => write!(f, "msg {s:?}"),
            MessageMatch::Regex(s) => write!(f, "regex {s:?}"),
        }
    }
}

/// An expected series of an `eval`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedSeries {
    /// 1-based line number.
    pub line: usize,
    /// The labels (`{}` is the empty set).
    pub labels: Labels,
    /// One value for instant queries; one per step for range queries and range vectors.
    pub values: Vec<SeqValue>,
}

/// What an `eval` expects as its result.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// Series lines (possibly none: an empty result).
    Series(Vec<ExpectedSeries>),
    /// A bare number: a scalar result.
    Scalar(f64),
    /// `expect string "…"`.
    String(String),
    /// `expect range vector from … to … step …` and its series.
    RangeVector {
        /// First point's time, milliseconds.
        start: i64,
        /// Last point's time, milliseconds.
        end: i64,
        /// Step, milliseconds.
        step: i64,
        /// The series.
        series: Vec<ExpectedSeries>,
    },
}

/// An `eval` command with its expectations.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalCmd {
    /// 1-based line number of the header.
    pub line: usize,
    /// The PromQL query.
    pub query: String,
    /// When it runs.
    pub time: EvalTime,
    /// `expect fail` (or `eval_fail`): the query must fail.
    pub fail: Option<MessageMatch>,
    /// `expect warn` lines (`eval_warn` adds one `Any`).
    pub warn: Vec<MessageMatch>,
    /// `expect no_warn`.
    pub no_warn: bool,
    /// `expect info` lines (`eval_info` adds one `Any`).
    pub info: Vec<MessageMatch>,
    /// `expect no_info`.
    pub no_info: bool,
    /// `expect ordered` (or `eval_ordered`).
    pub ordered: bool,
    /// The expected result.
    pub expected: Expected,
}

/// One command of a script.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `load` / `load_with_nhcb`.
    Load(LoadCmd),
    /// `clear` (with its line number).
    Clear(usize),
    /// `eval…`.
    Eval(Box<EvalCmd>),
}

/// A parsed `.test` script.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// The file name used in errors and eval ids.
    pub file: String,
    /// Commands in order.
    pub commands: Vec<Command>,
}

impl Script {
    /// Parses a script. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Script, ScriptError> {
        Parser {
            file,
            lines: text
                .lines()
                .map(|l| {
                    let t = l.trim();
                    if t.starts_with('#') { "" } else { t }
                })
                .collect(),
        }
        .parse()
    }

    /// The `eval` commands.
    pub fn evals(&self) -> impl Iterator<Item = &EvalCmd> {
        self.commands.iter().filter_map(|c| match c {
            Command::Eval(e) => Some(&**e),
            _ => None,
        })
    }
}

struct Parser<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
}

type PResult<T> = Result<T, String>;

impl Parser<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> ScriptError {
        ScriptError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }

    fn parse(&self) -> Result<Script, ScriptError> {
        let mut commands = Vec::new();
        let mut i = 0;
        while i < self.lines.len() {
            let header = self.lines[i];
            if header.is_empty() {
                i += 1;
                continue;
            }
            let header_line = i + 1;
            let mut body = Vec::new();
            i += 1;
            // `clear` takes no body: the next line may start another command at once.
            while split_word(header).0 != "clear"
                && i < self.lines.len()
                && !self.lines[i].is_empty()
            {
                body.push((i + 1, self.lines[i]));
                i += 1;
            }
            let (kw, rest) = split_word(header);
            let cmd = match kw {
                "clear" => {
                    if !rest.is_empty() {
                        return Err(self.err(header_line, "unexpected text after clear"));
                    }
                    Command::Clear(header_line)
                }
                "load" | "load_with_nhcb" => Command::Load(self.parse_load(
                    header_line,
                    kw == "load_with_nhcb",
                    rest,
                    &body,
                )?),
                "eval" | "eval_fail" | "eval_warn" | "eval_info" | "eval_ordered" => {
                    Command::Eval(Box::new(self.parse_eval(header_line, kw, rest, &body)?))
                }
                _ => {
                    return Err(self.err(header_line, format!("unknown command {kw:?}")));
                }
            };
            commands.push(cmd);
        }
        Ok(Script {
            file: self.file.to_string(),
            commands,
        })
    }

    fn parse_load(
        &self,
        line: usize,
        with_nhcb: bool,
        rest: &str,
        body: &[(usize, &str)],
    ) -> Result<LoadCmd, ScriptError> {
        let step =
            parse_dur(rest.trim()).map_err(|e| self.err(line, format!("invalid step: {e}")))?;
        if step <= 0 {
            return Err(self.err(line, "load step must be positive"));
        }
        let mut series = Vec::new();
        let mut pending_st: Option<(usize, Labels, Vec<Option<i64>>)> = None;
        for &(l, text) in body {
            let (labels, rest, is_st) =
                parse_series_desc(text, true).map_err(|e| self.err(l, e))?;
            if is_st {
                if pending_st.is_some() {
                    return Err(self.err(l, "start-timestamp line not followed by its series"));
                }
                let items = parse_st_items(rest).map_err(|e| self.err(l, e))?;
                pending_st = Some((l, labels, items));
                continue;
            }
            let values = parse_values(rest).map_err(|e| self.err(l, e))?;
            let mut start_timestamps = None;
            if let Some((sl, sl_labels, items)) = pending_st.take() {
                if sl_labels != labels {
                    return Err(self.err(
                        sl,
                        "start-timestamp line labels differ from the next series",
                    ));
                }
                if items.len() != values.len() {
                    return Err(self.err(
                        sl,
                        format!(
                            "{} start timestamps for {} values",
                            items.len(),
                            values.len()
                        ),
                    ));
                }
                start_timestamps = Some(items);
            }
            let ls = LoadSeries {
                line: l,
                labels,
                values,
                start_timestamps,
            };
            // As upstream, a series defined twice in one block keeps the last definition.
            match series
                .iter_mut()
                .find(|s: &&mut LoadSeries| s.labels == ls.labels)
            {
                Some(prev) => *prev = ls,
                None => series.push(ls),
            }
        }
        if let Some((sl, _, _)) = pending_st {
            return Err(self.err(sl, "start-timestamp line not followed by its series"));
        }
        Ok(LoadCmd {
            line,
            step,
            with_nhcb,
            series,
        })
    }

    fn parse_eval(
        &self,
        line: usize,
        kw: &str,
        rest: &str,
        body: &[(usize, &str)],
    ) -> Result<EvalCmd, ScriptError> {
        let e = |m: String| self.err(line, m);
        let (mode, rest) = split_word(rest);
        let (time, query) = match mode {
            "instant" => {
                let (at_kw, rest) = split_word(rest);
                if at_kw != "at" {
                    return Err(e("expected `at <time>` after `eval instant`".into()));
                }
                let (t, q) = split_word(rest);
                let at = parse_dur(t).map_err(|m| e(format!("invalid time: {m}")))?;
                (EvalTime::Instant { at }, q)
            }
            "range" => {
                if kw == "eval_ordered" {
                    return Err(e("eval_ordered is only for instant queries".into()));
                }
                let mut rest = rest;
                let mut vals = [0i64; 3];
                for (i, want) in ["from", "to", "step"].iter().enumerate() {
                    let (k, r) = split_word(rest);
                    if k != *want {
                        return Err(e(format!(
                            "expected `{want}` in `eval range from <t> to <t> step <d>`"
                        )));
                    }
                    let (d, r) = split_word(r);
                    vals[i] = parse_dur(d).map_err(|m| e(format!("invalid {want}: {m}")))?;
                    rest = r;
                }
                if vals[2] <= 0 {
                    return Err(e("step must be positive".into()));
                }
                if vals[1] < vals[0] {
                    return Err(e("range end before start".into()));
                }
                (
                    EvalTime::Range {
                        start: vals[0],
                        end: vals[1],
                        step: vals[2],
                    },
                    rest,
                )
            }
            _ => {
                return Err(e(format!(
                    "expected `instant` or `range` after {kw}, got {mode:?}"
                )));
            }
        };
        if query.is_empty() {
            return Err(e("missing query".into()));
        }
        let mut cmd = EvalCmd {
            line,
            query: query.to_string(),
            time,
            fail: None,
            warn: Vec::new(),
            no_warn: false,
            info: Vec::new(),
            no_info: false,
            ordered: kw == "eval_ordered",
            expected: Expected::Series(Vec::new()),
        };
        match kw {
            "eval_fail" => cmd.fail = Some(MessageMatch::Any),
            "eval_warn" => cmd.warn.push(MessageMatch::Any),
            "eval_info" => cmd.info.push(MessageMatch::Any),
            _ => {}
        }
        let mut series: Vec<ExpectedSeries> = Vec::new();
        let mut scalar: Option<(usize, f64)> = None;
        let mut string: Option<String> = None;
        let mut range_vec: Option<(i64, i64, i64)> = None;
        for &(l, text) in body {
            let le = |m: String| self.err(l, m);
            if let Some(rest) = text.strip_prefix("expect ") {
                let rest = rest.trim_start();
                let (what, arg) = split_word(rest);
                match what {
                    "fail" => cmd.fail = Some(parse_msg_match(arg).map_err(le)?),
                    "warn" => cmd.warn.push(parse_msg_match(arg).map_err(le)?),
                    "info" => cmd.info.push(parse_msg_match(arg).map_err(le)?),
                    "no_warn" | "no_info" | "ordered" if !arg.is_empty() => {
                        return Err(le(format!("unexpected text after expect {what}")));
                    }
                    "no_warn" => cmd.no_warn = true,
                    "no_info" => cmd.no_info = true,
                    "ordered" => {
                        if !matches!(time, EvalTime::Instant { .. }) {
                            return Err(le("expect ordered is only for instant queries".into()));
                        }
                        cmd.ordered = true;
                    }
                    "string" => {
                        let s =
                            unquote(arg.trim()).map_err(|m| le(format!("expect string: {m}")))?;
                        string = Some(s);
                    }
                    "range" => {
                        let (v, r) = split_word(arg);
                        if v != "vector" {
                            return Err(le(
                                "expected `expect range vector from <t> to <t> step <d>`".into(),
                            ));
                        }
                        let mut rest = r;
                        let mut vals = [0i64; 3];
                        for (i, want) in ["from", "to", "step"].iter().enumerate() {
                            let (k, r) = split_word(rest);
                            if k != *want {
                                return Err(le(format!(
                                    "expected `{want}` in expect range vector"
                                )));
                            }
                            let (d, r) = split_word(r);
                            vals[i] =
                                parse_dur(d).map_err(|m| le(format!("invalid {want}: {m}")))?;
                            rest = r;
                        }
                        if !rest.is_empty() {
                            return Err(le("unexpected text after expect range vector".into()));
                        }
                        if vals[2] <= 0 {
                            return Err(le("step must be positive".into()));
                        }
                        if !matches!(time, EvalTime::Instant { .. }) {
                            return Err(le(
                                "expect range vector is only for instant queries".into()
                            ));
                        }
                        range_vec = Some((vals[0], vals[1], vals[2]));
                    }
                    _ => return Err(le(format!("unknown expectation `expect {what}`"))),
                }
                continue;
            }
            if let Some(rest) = text.strip_prefix("expected_fail_message") {
                cmd.fail = Some(MessageMatch::Exact(rest.trim().to_string()));
                continue;
            }
            if let Some(rest) = text.strip_prefix("expected_fail_regexp") {
                cmd.fail = Some(MessageMatch::Regex(rest.trim().to_string()));
                continue;
            }
            if let Ok(v) = parse_number(text) {
                if scalar.is_some() {
                    return Err(le("more than one scalar expectation".into()));
                }
                scalar = Some((l, v));
                continue;
            }
            let (labels, rest, is_st) = parse_series_desc(text, false).map_err(le)?;
            debug_assert!(!is_st);
            let values = parse_values(rest).map_err(le)?;
            if values.is_empty() {
                return Err(le("expected series without values".into()));
            }
            if let EvalTime::Instant { .. } = time
                && range_vec.is_none()
                && values.len() != 1
            {
                return Err(le(format!(
                    "expected exactly one value for an instant query, got {}",
                    values.len()
                )));
            }
            if series.iter().any(|s| s.labels == labels) {
                return Err(le(format!("duplicate expected series {labels}")));
            }
            series.push(ExpectedSeries {
                line: l,
                labels,
                values,
            });
        }
        let kinds = usize::from(scalar.is_some())
            + usize::from(string.is_some())
            + usize::from(!series.is_empty() && range_vec.is_none());
        if kinds > 1 {
            return Err(e("mixes scalar, string and series expectations".into()));
        }
        if range_vec.is_some() && (scalar.is_some() || string.is_some()) {
            return Err(e(
                "expect range vector mixed with scalar or string expectations".into(),
            ));
        }
        cmd.expected = if let Some((start, end, step)) = range_vec {
            Expected::RangeVector {
                start,
                end,
                step,
                series,
            }
        } else if let Some((_, v)) = scalar {
            Expected::Scalar(v)
        } else if let Some(s) = string {
            Expected::String(s)
        } else {
            Expected::Series(series)
        };
        Ok(cmd)
    }
}

/// Splits off the first whitespace-separated word; the rest is trimmed at the start.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// A duration from the epoch or a length, with an optional leading `-`.
pub(crate) fn parse_dur(s: &str) -> PResult<i64> {
    if let Some(r) = s.strip_prefix('-') {
        return narthex_promql_syntax::parse_duration(r).map(|v| -v);
    }
    narthex_promql_syntax::parse_duration(s)
}

fn parse_msg_match(arg: &str) -> PResult<MessageMatch> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Ok(MessageMatch::Any);
    }
    if let Some(m) = arg.strip_prefix("msg:") {
        return Ok(MessageMatch::Exact(m.trim().to_string()));
    }
    if let Some(r) = arg.strip_prefix("regex:") {
        let r = r.trim();
        narthex_model::FastRegex::new(r).map_err(|e| format!("invalid regex {r:?}: {e}"))?;
        return Ok(MessageMatch::Regex(r.to_string()));
    }
    Err(format!("expected `msg:` or `regex:`, got {arg:?}"))
}

/// A float as the series-description lexer reads it: decimal, `Inf`, `NaN`, hex integers.
pub(crate) fn parse_number(s: &str) -> PResult<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X"))
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        let v =
            u64::from_str_radix(hex, 16).map_err(|e| format!("invalid number {s:?}: {e}"))? as f64;
        return Ok(if neg { -v } else { v });
    }
    if body.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    narthex_model::float::parse_go_float(s).map_err(|_| format!("invalid number {s:?}"))
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Parses `metric{l="v", …}`, `{…}` or `metric` at the start of `s`. Returns the labels,
/// the rest (trimmed), and whether `@st` followed directly (only when `allow_st`).
pub(crate) fn parse_series_desc(s: &str, allow_st: bool) -> PResult<(Labels, &str, bool)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut rest = s;
    let first = rest.chars().next().ok_or("empty series description")?;
    if is_name_start(first) {
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        pairs.push((METRIC_NAME.to_string(), rest[..end].to_string()));
        rest = &rest[end..];
    } else if first != '{' {
        return Err(format!("expected a metric name or `{{` in {s:?}"));
    }
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            // A label name, or a quoted name (UTF-8 names; alone it is the metric name).
            let name;
            if rest.starts_with(['"', '\'', '`']) {
                let (q, r) = take_quoted(rest)?;
                name = q;
                rest = r.trim_start();
                if rest.starts_with([',', '}']) {
                    pairs.push((METRIC_NAME.to_string(), name));
                    if let Some(r) = rest.strip_prefix(',') {
                        rest = r;
                    }
                    continue;
                }
            } else {
                let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
                if end == 0 {
                    return Err(format!("expected a label name at {rest:?}"));
                }
                name = rest[..end].to_string();
                rest = rest[end..].trim_start();
            }
            rest = rest
                .strip_prefix('=')
                .ok_or_else(|| format!("expected `=` after label {name:?}"))?
                .trim_start();
            if rest.starts_with(['!', '~']) {
                return Err(format!("only `=` matchers are allowed, label {name:?}"));
            }
            let (value, r) = take_quoted(rest)?;
            pairs.push((name, value));
            rest = r.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err(format!("expected `,` or `}}` in label set at {rest:?}"));
            }
        }
    }
    let mut is_st = false;
    if let Some(r) = rest.strip_prefix("@st") {
        if !allow_st {
            return Err("start timestamps are only allowed in load blocks".into());
        }
        is_st = true;
        rest = r;
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!(
            "unexpected text after series description: {rest:?}"
        ));
    }
    Ok((Labels::from_pairs(pairs), rest.trim(), is_st))
}

/// Takes a quoted string (`"…"`, `'…'` or `` `…` ``) off the front of `s`.
fn take_quoted(s: &str) -> PResult<(String, &str)> {
    let q = s.chars().next().ok_or("expected a quoted string")?;
    if !matches!(q, '"' | '\'' | '`') {
        return Err(format!("expected a quoted string at {s:?}"));
    }
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        if b[i] == b'\\' && q != '`' {
            i += 2;
            continue;
        }
        if b[i] == q as u8 {
            return Ok((unquote(&s[..=i])?, &s[i + 1..]));
        }
        i += 1;
    }
    Err(format!("unterminated string {s:?}"))
}

/// Unquotes a Go/PromQL string literal: `"…"` and `'…'` with Go escapes, `` `…` `` raw.
pub(crate) fn unquote(s: &str) -> PResult<String> {
    let q = s.chars().next().ok_or("empty string literal")?;
    if s.len() < 2 || !s.ends_with(q) || !matches!(q, '"' | '\'' | '`') {
        return Err(format!("not a quoted string: {s:?}"));
    }
    let inner = &s[1..s.len() - 1];
    if q == '`' {
        if inner.contains('`') {
            return Err(format!("invalid raw string {s:?}"));
        }
        return Ok(inner.to_string());
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut chars = inner.char_indices().peekable();
    let hex = |t: &str| u32::from_str_radix(t, 16).map_err(|_| format!("invalid escape in {s:?}"));
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Err(format!("unescaped quote in {s:?}"));
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let (_, e) = chars
            .next()
            .ok_or_else(|| format!("trailing backslash in {s:?}"))?;
        let take = |n: usize| {
            inner
                .get(i + 2..i + 2 + n)
                .ok_or_else(|| format!("short escape in {s:?}"))
        };
        match e {
            'a' => out.push(7),
            'b' => out.push(8),
            'f' => out.push(12),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(11),
            '\\' => out.push(b'\\'),
            '"' | '\'' => {
                if e != q {
                    return Err(format!("invalid escape \\{e} in {s:?}"));
                }
                out.push(e as u8);
            }
            'x' => {
                let t = take(2)?;
                out.push(hex(t)? as u8);
                chars.nth(1);
            }
            '0'..='7' => {
                let t = inner
                    .get(i + 1..i + 4)
                    .ok_or_else(|| format!("short escape in {s:?}"))?;
                let v =
                    u32::from_str_radix(t, 8).map_err(|_| format!("invalid escape in {s:?}"))?;
                if v > 255 {
                    return Err(format!("invalid octal escape in {s:?}"));
                }
                out.push(v as u8);
                chars.nth(1);
            }
            'u' | 'U' => {
                let n = if e == 'u' { 4 } else { 8 };
                let t = take(n)?;
                let c = char::from_u32(hex(t)?)
                    .ok_or_else(|| format!("invalid code point in {s:?}"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                chars.nth(n - 1);
            }
            _ => return Err(format!("invalid escape \\{e} in {s:?}")),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Splits a value list into tokens; `{{…}}` literals (with spaces inside) stay whole.
fn tokenize(s: &str) -> PResult<Vec<&str>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        loop {
            if i >= b.len() || b[i].is_ascii_whitespace() {
                break;
            }
            if b[i..].starts_with(b"{{") {
                let close = s[i..].find("}}").ok_or_else(|| {
                    format!("unterminated histogram literal in {:?}", &s[start..])
                })?;
                i += close + 2;
                continue;
            }
            i += 1;
        }
        out.push(&s[start..i]);
    }
    Ok(out)
}

/// Splits `xN` off the end of a token: returns the base and the repeat count.
/// `0x1f` is a hex number, but `0x10` is "0 repeated 10 times", as upstream reads it.
fn split_repeat(tok: &str) -> PResult<(&str, Option<u64>)> {
    if let Some(p) = tok.rfind('x') {
        let n = &tok[p + 1..];
        if p > 0 && !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) {
            let count: u64 = n
                .parse()
                .map_err(|_| format!("invalid repeat count in {tok:?}"))?;
            return Ok((&tok[..p], Some(count)));
        }
    }
    Ok((tok, None))
}

/// Finds the `+`/`-` joining `a` and `b` in `a+b` (not a leading sign, not an exponent sign).
fn split_increment(s: &str) -> Option<(&str, char, &str)> {
    let b = s.as_bytes();
    for i in 1..b.len() {
        if b[i] != b'+' && b[i] != b'-' {
            continue;
        }
        if matches!(b[i - 1], b'e' | b'E') {
            let mantissa = s[..i - 1].trim_start_matches(['+', '-']);
            if !mantissa.is_empty() && mantissa.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
                continue;
            }
        }
        return Some((&s[..i], b[i] as char, &s[i + 1..]));
    }
    None
}

/// Most positions one series line may describe (the corpus uses at most about 10,000).
const MAX_POSITIONS: u64 = 1_000_000;

/// Checks that `n` more positions keep a line within [`MAX_POSITIONS`].
fn check_positions(have: usize, n: u64, tok: &str) -> PResult<()> {
    if (have as u64).saturating_add(n) > MAX_POSITIONS {
        return Err(format!(
            "{tok:?} makes the line longer than {MAX_POSITIONS} positions"
        ));
    }
    Ok(())
}

/// Parses a value sequence (the part of a series line after the labels).
pub(crate) fn parse_values(s: &str) -> PResult<Vec<SeqValue>> {
    let mut out = Vec::new();
    for tok in tokenize(s)? {
        if tok == "_" {
            out.push(SeqValue::Gap);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n
                .parse()
                .map_err(|_| format!("invalid gap count in {tok:?}"))?;
            check_positions(out.len(), n as u64, tok)?;
            out.extend(std::iter::repeat_n(SeqValue::Gap, n));
            continue;
        }
        if tok == "stale" {
            out.push(SeqValue::Float(stale_nan()));
            continue;
        }
        if tok.starts_with("{{") {
            parse_histogram_token(tok, &mut out)?;
            continue;
        }
        let (base, times) = split_repeat(tok)?;
        check_positions(out.len(), times.unwrap_or(0).saturating_add(1), tok)?;
        if let Some((a, op, b)) = split_increment(base) {
            let a = parse_number(a)?;
            let b = parse_number(b)?;
            let n = times.ok_or_else(|| format!("increment without repeat count in {tok:?}"))?;
            let b = if op == '-' { -b } else { b };
            for k in 0..=n {
                out.push(SeqValue::Float(a + b * k as f64));
            }
            continue;
        }
        let v = parse_number(base)?;
        for _ in 0..=times.unwrap_or(0) {
            out.push(SeqValue::Float(v));
        }
    }
    Ok(out)
}

fn parse_histogram_token(tok: &str, out: &mut Vec<SeqValue>) -> PResult<()> {
    let close = tok.find("}}").ok_or("unterminated histogram literal")?;
    let first = hist::parse_literal(&tok[..close + 2])?;
    let rest = &tok[close + 2..];
    if rest.is_empty() {
        out.push(SeqValue::Histogram(Box::new(first)));
        return Ok(());
    }
    if let Some(n) = rest.strip_prefix('x') {
        let n: u64 = n
            .parse()
            .map_err(|_| format!("invalid repeat count in {tok:?}"))?;
        check_positions(out.len(), n.saturating_add(1), tok)?;
        for _ in 0..=n {
            out.push(SeqValue::Histogram(Box::new(first.clone())));
        }
        return Ok(());
    }
    let op = rest.chars().next().unwrap_or(' ');
    if op != '+' && op != '-' {
        return Err(format!(
            "unexpected text after histogram literal in {tok:?}"
        ));
    }
    let rest = &rest[1..];
    let close2 = rest
        .find("}}")
        .filter(|_| rest.starts_with("{{"))
        .ok_or_else(|| format!("expected a histogram literal after {op} in {tok:?}"))?;
    let inc = hist::parse_literal(&rest[..close2 + 2])?;
    let n: u64 = rest[close2 + 2..]
        .strip_prefix('x')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("expected xN after histogram increment in {tok:?}"))?;
    check_positions(out.len(), n.saturating_add(1), tok)?;
    for k in 0..=n {
        out.push(SeqValue::Histogram(Box::new(hist::add_scaled(
            &first,
            &inc.h,
            if op == '-' { -(k as f64) } else { k as f64 },
        ))));
    }
    Ok(())
}

/// Parses start-timestamp items: `_`, `_xN`, `<dur>`, `<dur>xN`, `<dur>±<dur>xN`.
fn parse_st_items(s: &str) -> PResult<Vec<Option<i64>>> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if tok == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n
                .parse()
                .map_err(|_| format!("invalid gap count in {tok:?}"))?;
            check_positions(out.len(), n as u64, tok)?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        let (a, rest) = take_signed_dur(tok)?;
        let (inc, rest) = if rest.starts_with(['+', '-']) {
            let (d, r) = take_signed_dur(rest)?;
            (Some(d), r)
        } else {
            (None, rest)
        };
        let n: u64 = if let Some(n) = rest.strip_prefix('x') {
            n.parse()
                .map_err(|_| format!("invalid repeat count in {tok:?}"))?
        } else if rest.is_empty() {
            0
        } else {
            return Err(format!("invalid start-timestamp item {tok:?}"));
        };
        if inc.is_some() && rest.is_empty() {
            return Err(format!("increment without repeat count in {tok:?}"));
        }
        check_positions(out.len(), n.saturating_add(1), tok)?;
        for k in 0..=n as i64 {
            out.push(Some(a.saturating_add(inc.unwrap_or(0).saturating_mul(k))));
        }
    }
    Ok(out)
}

/// Takes an optionally signed duration off the front of `s`.
fn take_signed_dur(s: &str) -> PResult<(i64, &str)> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len()
        && (b[i].is_ascii_digit() || matches!(b[i], b'y' | b'w' | b'd' | b'h' | b'm' | b's'))
    {
        i += 1;
    }
    let d =
        narthex_promql_syntax::parse_duration(&body[..i]).map_err(|e| format!("in {s:?}: {e}"))?;
    Ok((if neg { -d } else { d }, &body[i..]))
}

/// A histogram literal's counter-reset hint, if spelled out.
pub(crate) fn hint_name(h: CounterResetHint) -> &'static str {
    match h {
        CounterResetHint::Unknown => "unknown",
        CounterResetHint::CounterReset => "reset",
        CounterResetHint::NotCounterReset => "not_reset",
        CounterResetHint::Gauge => "gauge",
    }
}

#[cfg(test)]
mod tests;
