//! OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`).
//!
//! The grammar is checked to the letter (single spaces, no blank lines, `# EOF` last,
//! timestamps in seconds). With [`ParseOptions::family_checks`] the family-level
//! rules are checked too: metadata before samples and never repeated, families not
//! interleaved, samples grouped and in time order, counter-like values neither negative nor
//! NaN, histogram buckets ordered and ending in `+Inf`, `_count` and `_sum` together,
//! summary quantiles within `[0, 1]`, stateset values 0 or 1, info values 1, exemplars only
//! on counters' `_total` and histograms' `_bucket` and at most 128 characters of labels.

use std::borrow::Cow;
use std::collections::HashSet;

use narthex_model::MetricType;
use xxhash_rust::xxh3::Xxh3;

use crate::entry::{Entry, ExemplarRef, LabelRef, SampleRef};
use crate::error::{ErrorKind, ParseError};
use crate::lex::{
    LexResult, ascii, column, duplicate_label, parse_om_float, scan_metric_name, scan_quoted,
    token_end, unescape_help, unexpected, utf8,
};
use crate::text::{normalize_float_label, parse_labels, parse_series};
use crate::{NORMAL_NAN_BITS, ParseOptions, Parser, Recovery};

/// Longest exemplar label set, in characters of names and values together.
const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

enum OmLine<'a> {
    Help(Cow<'a, str>, Cow<'a, str>),
    Type(Cow<'a, str>, MetricType),
    Unit(Cow<'a, str>, Cow<'a, str>),
    Sample {
        name: Cow<'a, str>,
        value: f64,
        timestamp: Option<i64>,
        exemplar: Option<(f64, Option<i64>)>,
    },
    Eof,
}

/// A streaming parser for OpenMetrics 1.0 text.
///
/// ```
/// use narthex_exposition::{Entry, OpenMetricsParser, ParseOptions, Parser};
///
/// let input = b"# TYPE rpc counter\nrpc_total 7 1.5 # {trace_id=\"ab\"} 1\n# EOF\n";
/// let mut p = OpenMetricsParser::new(input, ParseOptions::default());
/// let mut samples = 0;
/// while let Some(entry) = p.next_entry() {
///     if let Entry::Sample(s) = entry.unwrap() {
///         assert_eq!(s.timestamp, Some(1500)); // seconds in the text, milliseconds here
///         assert_eq!(s.exemplar.unwrap().labels[0].value, "ab");
///         samples += 1;
///     }
/// }
/// assert_eq!(samples, 1);
/// ```
pub struct OpenMetricsParser<'a> {
    input: &'a [u8],
    pos: usize,
    line: u32,
    options: ParseOptions,
    labels: Vec<LabelRef<'a>>,
    exemplar_labels: Vec<LabelRef<'a>>,
    validator: Validator,
    /// Type of the current family, for `le`/`quantile` normalisation.
    mtype: MetricType,
    family: String,
    seen_eof: bool,
    /// Reused buffer for float text.
    scratch: Vec<u8>,
    done: bool,
}

impl<'a> OpenMetricsParser<'a> {
    /// A parser over `input`.
    pub fn new(input: &'a [u8], options: ParseOptions) -> Self {
        OpenMetricsParser {
            input,
            pos: 0,
            line: 1,
            options,
            labels: Vec::with_capacity(16),
            exemplar_labels: Vec::new(),
            validator: Validator::default(),
            mtype: MetricType::Unknown,
            family: String::new(),
            seen_eof: false,
            scratch: Vec::new(),
            done: false,
        }
    }

    fn finish_line(&mut self, newline: usize) {
        self.pos = newline + 1;
        self.line += 1;
    }

    fn expect_newline(&mut self, pos: usize) -> LexResult<()> {
        match self.input.get(pos) {
            Some(b'\n') => {
                self.finish_line(pos);
                Ok(())
            }
            None => Err((pos, ErrorKind::UnexpectedEof("line break"))),
            Some(_) => Err(unexpected(self.input, pos, "line break")),
        }
    }

    fn parse_line(&mut self) -> LexResult<OmLine<'a>> {
        let input = self.input;
        let pos = self.pos;
        match input[pos] {
            b'#' => self.parse_meta(pos),
            b'\n' => Err((
                pos,
                ErrorKind::Unexpected {
                    expected: "metric name or comment",
                    found: "blank line".into(),
                },
            )),
            _ => self.parse_sample(pos),
        }
    }

    fn parse_meta(&mut self, pos: usize) -> LexResult<OmLine<'a>> {
        let input = self.input;
        let rest = &input[pos..];
        if rest.starts_with(b"# EOF") {
            let after = pos + 5;
            return match &input[after..] {
                [] | [b'\n'] => {
                    self.pos = input.len();
                    Ok(OmLine::Eof)
                }
                _ => Err((after, ErrorKind::Eof("unexpected data after # EOF"))),
            };
        }
        let kind = if rest.starts_with(b"# HELP ") {
            b'H'
        } else if rest.starts_with(b"# TYPE ") {
            b'T'
        } else if rest.starts_with(b"# UNIT ") {
            b'U'
        } else {
            return Err(unexpected(
                input,
                pos,
                "\"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\"",
            ));
        };
        let name_start = pos + 7;
        let (name, after) = if input.get(name_start) == Some(&b'"') {
            scan_quoted(input, name_start)?
        } else {
            let end = scan_metric_name(input, name_start);
            if end == name_start {
                return Err(unexpected(input, name_start, "metric name"));
            }
            (Cow::Borrowed(ascii(input, name_start, end)), end)
        };
        if input.get(after) != Some(&b' ') {
            return Err(unexpected(input, after, "space after metric name"));
        }
        let text_start = after + 1;
        let end =
            memchr::memchr(b'\n', &input[text_start..]).map_or(input.len(), |n| text_start + n);
        let text = utf8(input, text_start, end)?;
        let line = match kind {
            b'H' => OmLine::Help(name, unescape_help(text, true)),
            b'T' => {
                // OpenMetrics has no `untyped`; every other name is Prometheus's own.
                let t = match text.parse::<MetricType>() {
                    Ok(t) if text != "untyped" => t,
                    _ => return Err((text_start, ErrorKind::InvalidType(text.to_string()))),
                };
                OmLine::Type(name, t)
            }
            _ => {
                let unit_end = scan_unit(input, text_start);
                if unit_end != end {
                    return Err(unexpected(input, unit_end, "line break after unit"));
                }
                OmLine::Unit(name, Cow::Borrowed(text))
            }
        };
        self.expect_newline(end)?;
        Ok(line)
    }

    fn parse_sample(&mut self, pos: usize) -> LexResult<OmLine<'a>> {
        let input = self.input;
        let (name, mut i) = parse_series(input, pos, &mut self.labels, true)?;
        if input.get(i) != Some(&b' ') {
            return Err(unexpected(input, i, "space before value"));
        }
        i += 1;
        let v_end = token_end(input, i);
        let mut value = parse_om_float(&input[i..v_end]).ok_or_else(|| {
            (
                i,
                ErrorKind::InvalidValue(String::from_utf8_lossy(&input[i..v_end]).into_owned()),
            )
        })?;
        if value.is_nan() {
            value = f64::from_bits(NORMAL_NAN_BITS);
        }
        i = v_end;
        let mut timestamp = None;
        let mut ts = None;
        let mut exemplar = None;
        if input.get(i) == Some(&b' ') && input.get(i + 1) != Some(&b'#') {
            let (secs, ms, end) = parse_om_timestamp(input, i + 1)?;
            ts = Some((secs, ms));
            timestamp = Some(ms);
            i = end;
        }
        if input.get(i) == Some(&b' ') && input.get(i + 1) == Some(&b'#') {
            let (ev, ets, end) = self.parse_exemplar(i)?;
            exemplar = Some((ev, ets));
            i = end;
        }
        if self.options.family_checks {
            let sample = SampleInfo {
                name: &name,
                labels: &self.labels,
                value,
                ts,
                has_exemplar: exemplar.is_some(),
            };
            self.validator
                .on_sample(&sample)
                .map_err(|m| (pos, ErrorKind::Semantic(m)))?;
        }
        self.expect_newline(i)?;
        self.track_family(&name);
        match self.mtype {
            MetricType::Histogram | MetricType::GaugeHistogram => {
                normalize_float_label(&mut self.labels, "le", &mut self.scratch)
            }
            MetricType::Summary => {
                normalize_float_label(&mut self.labels, "quantile", &mut self.scratch)
            }
            _ => {}
        }
        Ok(OmLine::Sample {
            name,
            value,
            timestamp,
            exemplar,
        })
    }

    /// Keeps `mtype` in step with the family a sample belongs to (without the validator,
    /// by the same suffix rules).
    fn track_family(&mut self, sample: &str) {
        if !self.family.is_empty() && belongs(&self.family, self.mtype, sample) {
            return;
        }
        self.mtype = MetricType::Unknown;
        self.family.clear();
    }

    /// Parses ` # {labels} value [timestamp]` at `pos` (the space before `#`).
    fn parse_exemplar(&mut self, pos: usize) -> LexResult<(f64, Option<i64>, usize)> {
        let input = self.input;
        if input.get(pos + 2) != Some(&b' ') {
            return Err(unexpected(input, pos + 2, "space after \"#\""));
        }
        let open = pos + 3;
        if input.get(open) != Some(&b'{') {
            return Err(unexpected(input, open, "exemplar label set"));
        }
        self.exemplar_labels.clear();
        let (name, mut i) = parse_labels(input, open, &mut self.exemplar_labels, true)?;
        if name.is_some() {
            return Err((
                open,
                ErrorKind::Exemplar("a metric name in an exemplar".into()),
            ));
        }
        if let Some(dup) = duplicate_label(&self.exemplar_labels) {
            return Err((open, ErrorKind::DuplicateLabel(dup.to_string())));
        }
        let chars: usize = self
            .exemplar_labels
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum();
        if chars > MAX_EXEMPLAR_LABEL_CHARS {
            return Err((
                open,
                ErrorKind::Exemplar(format!(
                    "labels are {chars} characters long, more than {MAX_EXEMPLAR_LABEL_CHARS}"
                )),
            ));
        }
        if input.get(i) != Some(&b' ') {
            return Err(unexpected(input, i, "space before exemplar value"));
        }
        i += 1;
        let v_end = token_end(input, i);
        let value = parse_om_float(&input[i..v_end]).ok_or_else(|| {
            (
                i,
                ErrorKind::Exemplar(format!(
                    "invalid value {:?}",
                    String::from_utf8_lossy(&input[i..v_end])
                )),
            )
        })?;
        i = v_end;
        let mut ts = None;
        if input.get(i) == Some(&b' ') {
            let (_, ms, end) = parse_om_timestamp(input, i + 1)?;
            ts = Some(ms);
            i = end;
        }
        Ok((value, ts, i))
    }

    fn check_metadata(&mut self, line: &OmLine<'_>) -> Result<(), String> {
        let (name, meta) = match line {
            OmLine::Help(n, _) => (n, Meta::Help),
            OmLine::Type(n, t) => (n, Meta::Type(*t)),
            OmLine::Unit(n, u) => (n, Meta::Unit(u)),
            _ => return Ok(()),
        };
        if *name != self.family {
            self.family.clear();
            self.family.push_str(name);
            self.mtype = MetricType::Unknown;
        }
        if let Meta::Type(t) = meta {
            self.mtype = t;
        }
        if self.options.family_checks {
            self.validator.on_metadata(name, meta)?;
        }
        Ok(())
    }

    fn error(&mut self, line_start: usize, pos: usize, kind: ErrorKind) -> ParseError {
        let err = ParseError {
            line: self.line,
            column: column(self.input, line_start, pos),
            kind,
        };
        match self.options.recovery {
            Recovery::Strict => self.done = true,
            Recovery::Lenient => {
                let from = pos.max(line_start).min(self.input.len());
                match memchr::memchr(b'\n', &self.input[from..]) {
                    Some(n) => self.finish_line(from + n),
                    None => self.pos = self.input.len(),
                }
            }
        }
        err
    }
}

/// Scans an OpenMetrics unit: metric-name characters, possibly none.
fn scan_unit(input: &[u8], pos: usize) -> usize {
    let mut i = pos;
    while i < input.len()
        && (input[i].is_ascii_alphanumeric() || input[i] == b'_' || input[i] == b':')
    {
        i += 1;
    }
    i
}

/// Parses an OpenMetrics timestamp (seconds, a finite number) at `pos`; returns the
/// seconds, the milliseconds Prometheus stores (`int64(ts * 1000)`), and the end.
fn parse_om_timestamp(input: &[u8], pos: usize) -> LexResult<(f64, i64, usize)> {
    let end = token_end(input, pos);
    let tok = &input[pos..end];
    match parse_om_float(tok) {
        Some(v) if v.is_finite() => Ok((v, exact_millis(tok).unwrap_or((v * 1000.0) as i64), end)),
        _ => Err((
            pos,
            ErrorKind::InvalidTimestamp(String::from_utf8_lossy(tok).into_owned()),
        )),
    }
}

/// Milliseconds of a decimal `[-]digits[.digits][e[±]digits]` computed exactly (Prometheus
/// multiplies the float by 1000, which can lose a millisecond to rounding: `.373` may
/// become `372.9999`). Digits beyond the millisecond are truncated toward zero, as the
/// float conversion does. `None` for other syntax or overflow.
///
/// Exponents are handled here too, so that the milliseconds are the truncated decimal
/// value whatever the spelling: with a float fallback for them, `1.0019999999999999999e0`
/// read as 1002 ms while `1.0019999999999999999999` read as 1001, so timestamps that
/// did not go backwards as floats did in milliseconds.
fn exact_millis(tok: &[u8]) -> Option<i64> {
    let (neg, rest) = match tok.first() {
        Some(b'-') => (true, &tok[1..]),
        Some(b'+') => (false, &tok[1..]),
        _ => (false, tok),
    };
    let (mantissa, exp) = match rest.iter().position(|c| matches!(c, b'e' | b'E')) {
        Some(i) => (&rest[..i], parse_exponent(&rest[i + 1..])?),
        None => (rest, 0),
    };
    let (int, frac) = match mantissa.iter().position(|c| *c == b'.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, &mantissa[mantissa.len()..]),
    };
    if !int.iter().chain(frac).all(u8::is_ascii_digit) || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    // The digits, with the millisecond point after `point` of them.
    let point = i64::try_from(int.len())
        .ok()?
        .saturating_add(exp)
        .saturating_add(3);
    let mut ms: i64 = 0;
    let mut used: i64 = 0;
    for c in int.iter().chain(frac) {
        if used >= point {
            break;
        }
        ms = ms.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
        used += 1;
    }
    while used < point && ms != 0 {
        ms = ms.checked_mul(10)?;
        used += 1;
    }
    Some(if neg { -ms } else { ms })
}

/// A decimal exponent with optional sign, saturated to a range no timestamp needs more
/// of.
fn parse_exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let e = digits.iter().fold(0i64, |e, c| {
        e.saturating_mul(10)
            .saturating_add(i64::from(c - b'0'))
            .min(1 << 20)
    });
    Some(if neg { -e } else { e })
}

impl Parser for OpenMetricsParser<'_> {
    fn next_entry(&mut self) -> Option<Result<Entry<'_>, ParseError>> {
        loop {
            if self.done {
                return None;
            }
            if self.pos >= self.input.len() {
                self.done = true;
                if self.seen_eof {
                    return None;
                }
                let end = self.input.len();
                let start = self.input[..end]
                    .iter()
                    .rposition(|c| *c == b'\n')
                    .map_or(0, |n| n + 1);
                return Some(Err(ParseError {
                    line: self.line,
                    column: column(self.input, start, end),
                    kind: ErrorKind::Eof("missing # EOF at the end of the input"),
                }));
            }
            let line_start = self.pos;
            let parsed = self.parse_line();
            let line = match parsed {
                Ok(l) => l,
                Err((pos, kind)) => return Some(Err(self.error(line_start, pos, kind))),
            };
            if let OmLine::Eof = line {
                self.seen_eof = true;
                if self.options.family_checks
                    && let Err(m) = self.validator.finish()
                {
                    return Some(Err(self.error(
                        line_start,
                        line_start,
                        ErrorKind::Semantic(m),
                    )));
                }
                continue;
            }
            if let Err(m) = self.check_metadata(&line) {
                return Some(Err(self.error(
                    line_start,
                    line_start,
                    ErrorKind::Metadata(m),
                )));
            }
            let entry = match line {
                OmLine::Help(name, help) => Entry::Help { name, help },
                OmLine::Type(name, metric_type) => Entry::Type { name, metric_type },
                OmLine::Unit(name, unit) => Entry::Unit { name, unit },
                OmLine::Sample {
                    name,
                    value,
                    timestamp,
                    exemplar,
                } => Entry::Sample(SampleRef {
                    name,
                    labels: &self.labels,
                    value,
                    timestamp,
                    exemplar: exemplar.map(|(value, timestamp)| ExemplarRef {
                        labels: &self.exemplar_labels,
                        value,
                        timestamp,
                    }),
                }),
                OmLine::Eof => continue,
            };
            return Some(Ok(entry));
        }
    }
}

/// A metadata line, for the validator.
#[derive(Clone, Copy)]
enum Meta<'x> {
    Help,
    Type(MetricType),
    Unit(&'x str),
}

/// The sample names a family of type `t` named `family` owns.
fn suffixes(t: MetricType) -> &'static [&'static str] {
    match t {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
        MetricType::Summary => &["", "_count", "_sum", "_created"],
        MetricType::Info => &["_info"],
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[""],
    }
}

fn belongs(family: &str, t: MetricType, sample: &str) -> bool {
    sample
        .strip_prefix(family)
        .is_some_and(|suffix| suffixes(t).contains(&suffix))
}

struct SampleInfo<'x, 'a> {
    name: &'x str,
    labels: &'x [LabelRef<'a>],
    value: f64,
    /// Seconds as written, and the milliseconds returned.
    ts: Option<(f64, i64)>,
    has_exemplar: bool,
}

/// Per-family state for the OpenMetrics family rules.
#[derive(Default)]
struct Family {
    name: String,
    mtype: Option<MetricType>,
    has_help: bool,
    unit: Option<String>,
    has_samples: bool,
    group: Option<u64>,
    group_ts: Option<(f64, i64)>,
    seen_groups: HashSet<u64>,
    hist: HistogramGroup,
}

/// What one histogram group (one label set at one timestamp) has shown so far.
#[derive(Default)]
struct HistogramGroup {
    active: bool,
    key: (u64, Option<u64>),
    bucket: Option<f64>,
    last_value: f64,
    count: Option<f64>,
    has_sum: bool,
    has_gsum: bool,
    negative_buckets: bool,
    negative_gsum: bool,
}

impl HistogramGroup {
    fn check(&self, name: &str) -> Result<(), String> {
        if !self.active {
            return Ok(());
        }
        if self.bucket != Some(f64::INFINITY) {
            return Err(format!("histogram {name:?} has no +Inf bucket"));
        }
        if let Some(c) = self.count
            && c != self.last_value
        {
            return Err(format!(
                "histogram {name:?}: count {c} does not match the +Inf bucket {}",
                self.last_value
            ));
        }
        if self.has_sum && self.count.is_none() {
            return Err(format!("histogram {name:?} has _sum but no _count"));
        }
        if self.has_gsum && self.count.is_none() {
            return Err(format!("gauge histogram {name:?} has _gsum but no _gcount"));
        }
        if !(self.has_sum || self.has_gsum) && self.count.is_some() {
            return Err(format!("histogram {name:?} has a count but no sum"));
        }
        if self.negative_buckets && self.has_sum {
            return Err(format!(
                "histogram {name:?} has negative buckets, so it cannot have _sum"
            ));
        }
        if !self.negative_buckets && self.negative_gsum {
            return Err(format!(
                "gauge histogram {name:?} has a negative _gsum without negative buckets"
            ));
        }
        Ok(())
    }
}

/// Checks the family-level rules of OpenMetrics 1.0.
#[derive(Default)]
struct Validator {
    current: Option<Family>,
    /// Every name a family so far owns (its own name and its sample names).
    claimed: HashSet<String>,
}

fn claims(name: &str, t: MetricType) -> impl Iterator<Item = String> + '_ {
    suffixes(t).iter().map(move |s| format!("{name}{s}"))
}

impl Validator {
    fn start_family(&mut self, name: &str) -> Result<(), String> {
        self.finish()?;
        if !self.claimed.insert(name.to_string()) {
            return Err(format!(
                "metric family {name:?} appears twice or clashes with another family"
            ));
        }
        self.current = Some(Family {
            name: name.to_string(),
            ..Family::default()
        });
        Ok(())
    }

    fn finish(&mut self) -> Result<(), String> {
        match self.current.take() {
            Some(f) => f.hist.check(&f.name),
            None => Ok(()),
        }
    }

    fn on_metadata(&mut self, name: &str, meta: Meta<'_>) -> Result<(), String> {
        if self.current.as_ref().is_none_or(|f| f.name != name) {
            self.start_family(name)?;
        }
        let Some(f) = self.current.as_mut() else {
            return Ok(());
        };
        if f.has_samples {
            return Err(format!("metadata for {name:?} after its samples"));
        }
        match meta {
            Meta::Help => {
                if std::mem::replace(&mut f.has_help, true) {
                    return Err(format!("second HELP for {name:?}"));
                }
            }
            Meta::Type(t) => {
                if f.mtype.is_some() {
                    return Err(format!("second TYPE for {name:?}"));
                }
                f.mtype = Some(t);
                if f.unit.as_deref().is_some_and(|u| !u.is_empty())
                    && matches!(t, MetricType::Info | MetricType::StateSet)
                {
                    return Err(format!("{t} {name:?} cannot have a unit"));
                }
                for c in claims(name, t) {
                    if c != name && !self.claimed.insert(c.clone()) {
                        return Err(format!("{c:?} of {t} {name:?} clashes with another family"));
                    }
                }
            }
            Meta::Unit(u) => {
                if f.unit.is_some() {
                    return Err(format!("second UNIT for {name:?}"));
                }
                if !u.is_empty() && !name.strip_suffix(u).is_some_and(|p| p.ends_with('_')) {
                    return Err(format!(
                        "unit {u:?} is not a suffix of the metric name {name:?}"
                    ));
                }
                if let Some(t @ (MetricType::Info | MetricType::StateSet)) = f.mtype {
                    return Err(format!("{t} {name:?} cannot have a unit"));
                }
                f.unit = Some(u.to_string());
            }
        }
        Ok(())
    }

    fn on_sample(&mut self, s: &SampleInfo<'_, '_>) -> Result<(), String> {
        let fits = self
            .current
            .as_ref()
            .is_some_and(|f| belongs(&f.name, f.mtype.unwrap_or_default(), s.name));
        if !fits {
            self.start_family(s.name)?;
        }
        let Some(f) = self.current.as_mut() else {
            return Ok(());
        };
        f.has_samples = true;
        let t = f.mtype.unwrap_or_default();
        let suffix = &s.name[f.name.len()..];
        let label = |n: &str| s.labels.iter().find(|l| l.name == n).map(|l| &*l.value);
        let counter_like = |what: &str| -> Result<(), String> {
            if s.value.is_nan() || s.value < 0.0 {
                Err(format!("{what} {:?} cannot be negative or NaN", s.name))
            } else {
                Ok(())
            }
        };
        match (t, suffix) {
            (MetricType::Counter, "_total") => counter_like("counter")?,
            (MetricType::Histogram, "_bucket" | "_count" | "_sum")
            | (MetricType::GaugeHistogram, "_bucket" | "_gcount") => {
                counter_like("histogram sample")?
            }
            (MetricType::GaugeHistogram, "_gsum") if s.value.is_nan() => {
                return Err(format!("{:?} cannot be NaN", s.name));
            }
            (MetricType::Summary, "_count" | "_sum") => counter_like("summary sample")?,
            (MetricType::Summary, "") => {
                let q = label("quantile").and_then(canonical_float);
                if !q.is_some_and(|q| (0.0..=1.0).contains(&q)) {
                    return Err(format!(
                        "summary {:?} needs a quantile label between 0 and 1",
                        s.name
                    ));
                }
                if s.value < 0.0 {
                    return Err(format!("summary quantile {:?} cannot be negative", s.name));
                }
            }
            (MetricType::Info, _) if s.value != 1.0 => {
                return Err(format!("info {:?} must have value 1", s.name));
            }
            (MetricType::StateSet, _) => {
                if label(&f.name).is_none() {
                    return Err(format!(
                        "stateset {:?} needs a label named {:?}",
                        s.name, f.name
                    ));
                }
                if s.value != 0.0 && s.value != 1.0 {
                    return Err(format!("stateset {:?} must have value 0 or 1", s.name));
                }
            }
            _ => {}
        }
        let exemplar_ok = matches!(
            (t, suffix),
            (MetricType::Counter, "_total")
                | (
                    MetricType::Histogram | MetricType::GaugeHistogram,
                    "_bucket"
                )
        );
        if s.has_exemplar && !exemplar_ok {
            return Err(format!("exemplars are not allowed on {:?}", s.name));
        }
        let le = if matches!(t, MetricType::Histogram | MetricType::GaugeHistogram)
            && suffix == "_bucket"
        {
            match label("le").and_then(canonical_float) {
                Some(b) if !b.is_nan() => Some(b),
                _ => {
                    return Err(format!(
                        "histogram bucket {:?} needs a numeric le label",
                        s.name
                    ));
                }
            }
        } else {
            None
        };
        // The group: the label set without the label that tells a family's series apart.
        let skip = match t {
            MetricType::Histogram | MetricType::GaugeHistogram => "le",
            MetricType::Summary => "quantile",
            MetricType::StateSet => f.name.as_str(),
            _ => "",
        };
        let g = group_hash(s.labels, skip);
        if f.group.is_some_and(|cur| cur != g) && f.seen_groups.contains(&g) {
            return Err(format!("samples of {:?} are not grouped together", s.name));
        }
        if f.group == Some(g) {
            if s.ts.is_some() != f.group_ts.is_some() {
                return Err(format!(
                    "{:?} mixes samples with and without timestamps",
                    s.name
                ));
            }
            // Compared as written and as returned: milliseconds are truncated, so two
            // timestamps equal as floats can still differ, either way, in milliseconds.
            if let (Some(prev), Some(ts)) = (f.group_ts, s.ts)
                && (prev.0 > ts.0 || prev.1 > ts.1)
                && t != MetricType::Info
            {
                return Err(format!("timestamps of {:?} go backwards", s.name));
            }
        }
        f.group = Some(g);
        f.group_ts = s.ts;
        f.seen_groups.insert(g);
        if matches!(t, MetricType::Histogram | MetricType::GaugeHistogram) && !suffix.is_empty() {
            // One histogram per label set and millisecond, the precision returned (two
            // points less than a millisecond apart would be written as one).
            let key = (g, s.ts.map(|(_, ms)| ms as u64));
            if !f.hist.active || f.hist.key != key {
                f.hist.check(&f.name)?;
                f.hist = HistogramGroup {
                    active: true,
                    key,
                    ..HistogramGroup::default()
                };
            }
            let h = &mut f.hist;
            match suffix {
                "_bucket" => {
                    let b = le.unwrap_or(f64::NAN);
                    if b < 0.0 {
                        h.negative_buckets = true;
                    }
                    if h.bucket.is_some_and(|prev| b <= prev) {
                        return Err(format!("buckets of {:?} are out of order", f.name));
                    }
                    if s.value < h.last_value {
                        return Err(format!("bucket counts of {:?} decrease", f.name));
                    }
                    h.bucket = Some(b);
                    h.last_value = s.value;
                }
                "_count" | "_gcount" => h.count = Some(s.value),
                "_sum" => h.has_sum = true,
                "_gsum" => {
                    h.has_gsum = true;
                    if s.value < 0.0 {
                        h.negative_gsum = true;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A float label value (`le`, `quantile`) in OpenMetrics's canonical spelling: infinities
/// only as `+Inf`/`-Inf`.
fn canonical_float(v: &str) -> Option<f64> {
    let f = parse_om_float(v.as_bytes())?;
    if f.is_infinite() && v != "+Inf" && v != "-Inf" {
        return None;
    }
    Some(f)
}

fn group_hash(labels: &[LabelRef<'_>], skip: &str) -> u64 {
    let mut sorted: Vec<&LabelRef<'_>> = labels.iter().filter(|l| l.name != skip).collect();
    sorted.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let mut h = Xxh3::new();
    for l in sorted {
        h.update(l.name.as_bytes());
        h.update(&[0xff]);
        h.update(l.value.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_millis_truncates_the_decimal_value() {
        assert_eq!(exact_millis(b"1.5"), Some(1500));
        assert_eq!(exact_millis(b"-1.0005"), Some(-1000));
        assert_eq!(exact_millis(b".373"), Some(373));
        assert_eq!(exact_millis(b"1.5e3"), Some(1_500_000));
        assert_eq!(exact_millis(b"12345E-2"), Some(123_450));
        assert_eq!(exact_millis(b"1e-400"), Some(0));
        assert_eq!(exact_millis(b"0e99999999999999999999"), Some(0));
        assert_eq!(exact_millis(b"1e20"), None);
        // The same truncation whatever the spelling.
        assert_eq!(exact_millis(b"1.0019999999999999999e0"), Some(1001));
        assert_eq!(exact_millis(b"1.0019999999999999999999"), Some(1001));
        assert_eq!(exact_millis(b"1e"), None);
    }
}
