//! The Prometheus text format, version 0.0.4 (`text/plain; version=0.0.4`), with the
//! quoted UTF-8 names of Prometheus 3.x (`{"my.metric", "a.b"="c"} 1`).

use std::borrow::Cow;

use narthex_model::MetricType;

use crate::entry::{Entry, LabelRef, SampleRef};
use crate::error::{ErrorKind, ParseError};
use crate::lex::{
    LexResult, ascii, column, duplicate_label, parse_float, parse_int_timestamp, scan_label_name,
    scan_metric_name, scan_quoted, skip_blanks, token_end, unescape_help, unexpected, utf8,
};
use crate::{NORMAL_NAN_BITS, ParseOptions, Parser, Recovery};

/// One line, parsed, before it is turned into an [`Entry`] that borrows the parser.
pub(crate) enum Line<'a> {
    Help(Cow<'a, str>, Cow<'a, str>),
    Type(Cow<'a, str>, MetricType),
    Comment(&'a str),
    Sample {
        name: Cow<'a, str>,
        value: f64,
        timestamp: Option<i64>,
    },
}

/// A streaming parser for the Prometheus text format.
///
/// ```
/// use narthex_exposition::{Entry, ParseOptions, Parser, TextParser};
///
/// let input = b"# TYPE up gauge\nup{job=\"node\"} 1 1700000000000\n";
/// let mut p = TextParser::new(input, ParseOptions::default());
/// assert!(matches!(p.next_entry(), Some(Ok(Entry::Type { .. }))));
/// match p.next_entry() {
///     Some(Ok(Entry::Sample(s))) => {
///         assert_eq!((s.name.as_ref(), s.value, s.timestamp), ("up", 1.0, Some(1700000000000)));
///         assert_eq!(s.label("job"), Some("node"));
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(p.next_entry().is_none());
/// ```
pub struct TextParser<'a> {
    input: &'a [u8],
    pos: usize,
    line: u32,
    options: ParseOptions,
    labels: Vec<LabelRef<'a>>,
    /// Type of the most recent `# TYPE` line: Prometheus normalises `le` (histograms) and
    /// `quantile` (summaries) label values to its float text while it is in force.
    mtype: MetricType,
    checks: Option<TextChecks>,
    /// Reused buffer for float text.
    scratch: Vec<u8>,
    done: bool,
    /// The line break ending the line [`TextParser::peek_sample`] read last, if that line
    /// is still the current one.
    peeked: Option<usize>,
}

/// What the client-side checks remember of one family.
#[derive(Default)]
struct TextFamily {
    has_help: bool,
    has_type: bool,
    has_samples: bool,
    mtype: MetricType,
}

/// The family checks of Prometheus's client-side text parser (`expfmt.TextParser`).
#[derive(Default)]
struct TextChecks {
    families: std::collections::HashMap<String, TextFamily>,
}

impl TextChecks {
    fn family(&mut self, name: &str) -> &mut TextFamily {
        if !self.families.contains_key(name) {
            self.families
                .insert(name.to_string(), TextFamily::default());
        }
        self.families.get_mut(name).expect("inserted above")
    }

    fn on_help(&mut self, name: &str) -> Result<(), String> {
        let f = self.family(name);
        if std::mem::replace(&mut f.has_help, true) {
            return Err(format!("second HELP line for metric name {name:?}"));
        }
        Ok(())
    }

    fn on_type(&mut self, name: &str, t: MetricType) -> Result<(), String> {
        let f = self.family(name);
        if f.has_type || f.has_samples {
            return Err(format!(
                "second TYPE line for metric name {name:?}, or TYPE reported after samples"
            ));
        }
        f.has_type = true;
        f.mtype = t;
        Ok(())
    }

    fn on_sample(&mut self, name: &str, labels: &[LabelRef<'_>]) -> Result<(), String> {
        if labels.iter().any(|l| l.name == narthex_model::METRIC_NAME) {
            return Err(format!(
                "label name {:?} is reserved",
                narthex_model::METRIC_NAME
            ));
        }
        // `x_sum`, `x_count` and `x_bucket` belong to family `x` when it is a summary or
        // histogram; anything else is its own family.
        for (suffix, bucket) in [("_bucket", true), ("_count", false), ("_sum", false)] {
            if let Some(base) = name.strip_suffix(suffix)
                && let Some(f) = self.families.get_mut(base)
                && (f.mtype == MetricType::Histogram || (!bucket && f.mtype == MetricType::Summary))
            {
                f.has_samples = true;
                if bucket {
                    check_float_label(labels, "le")?;
                }
                return Ok(());
            }
        }
        let f = self.family(name);
        f.has_samples = true;
        if f.mtype == MetricType::Summary {
            check_float_label(labels, "quantile")?;
        }
        Ok(())
    }
}

fn check_float_label(labels: &[LabelRef<'_>], key: &str) -> Result<(), String> {
    match labels.iter().find(|l| l.name == key) {
        Some(l) if narthex_model::float::parse_go_float(&l.value).is_err() => Err(format!(
            "expected float as value for {key:?} label, got {:?}",
            l.value
        )),
        _ => Ok(()),
    }
}

impl<'a> TextParser<'a> {
    /// A parser over `input`.
    pub fn new(input: &'a [u8], options: ParseOptions) -> Self {
        TextParser {
            input,
            pos: 0,
            line: 1,
            options,
            labels: Vec::with_capacity(16),
            mtype: MetricType::Unknown,
            checks: options.family_checks.then(TextChecks::default),
            scratch: Vec::new(),
            done: false,
            peeked: None,
        }
    }

    /// Reads the current line without parsing its series, when it is a sample line: the
    /// series exactly as written, the value and the timestamp. The parser stays on the
    /// line: [`TextParser::skip_peeked`] moves past it, and [`Parser::next_entry`] parses
    /// it in full (reporting any error in it with its position).
    ///
    /// This is for consumers that remember series by their text, as a scrape cache does:
    /// a line whose `series` bytes equal those of a line that parsed before, under the same
    /// [`RawSample::type_in_force`], has the same name and labels, so they need not be
    /// parsed again. `None` means "use `next_entry`": a comment or metadata line, the end
    /// of the input, a line this quick reading cannot take apart (it may still be valid),
    /// or a parser that runs family checks (their verdicts depend on every line).
    pub fn peek_sample(&mut self) -> Option<RawSample<'a>> {
        self.peeked = None;
        if self.checks.is_some() || self.done {
            return None;
        }
        let input = self.input;
        // Blank lines are skipped here as `next_entry` would.
        let start = loop {
            let s = skip_blanks(input, self.pos);
            match input.get(s) {
                Some(b'\n') => self.finish_line(s),
                None | Some(b'#') => return None,
                Some(_) => break s,
            }
        };
        let end = series_end(input, start)?;
        let (value, timestamp, newline) = parse_value_tail(input, skip_blanks(input, end)).ok()?;
        if input.get(newline) != Some(&b'\n') {
            return None;
        }
        self.peeked = Some(newline);
        Some(RawSample {
            series: &input[start..end],
            type_in_force: self.mtype,
            value,
            timestamp,
        })
    }

    /// Moves past the line the last [`TextParser::peek_sample`] returned. Does nothing if
    /// there was none, or if the parser has moved since.
    pub fn skip_peeked(&mut self) {
        if let Some(newline) = self.peeked.take() {
            self.finish_line(newline);
        }
    }

    /// Parses the line at `self.pos`. `Ok(None)` is a blank line.
    fn parse_line(&mut self) -> LexResult<Option<Line<'a>>> {
        let input = self.input;
        let start = skip_blanks(input, self.pos);
        match input.get(start) {
            None => {
                self.pos = start;
                Ok(None)
            }
            Some(b'\n') => {
                self.finish_line(start);
                Ok(None)
            }
            Some(b'#') => self.parse_comment(start + 1).map(Some),
            Some(_) => self.parse_sample(start).map(Some),
        }
    }

    fn finish_line(&mut self, newline: usize) {
        self.pos = newline + 1;
        self.line += 1;
    }

    fn parse_comment(&mut self, pos: usize) -> LexResult<Line<'a>> {
        let input = self.input;
        let kw_start = skip_blanks(input, pos);
        let kw_end = token_end(input, kw_start);
        let kw = &input[kw_start..kw_end];
        let is_meta =
            (kw == b"HELP" || kw == b"TYPE") && matches!(input.get(kw_end), Some(b' ' | b'\t'));
        if !is_meta {
            let end = memchr::memchr(b'\n', &input[pos..]).map_or(input.len(), |n| pos + n);
            let text = utf8(input, pos, end)?;
            self.pos = end;
            if end < input.len() {
                self.finish_line(end);
            }
            return Ok(Line::Comment(text));
        }
        let name_start = skip_blanks(input, kw_end);
        if matches!(input.get(name_start), None | Some(b'\n')) {
            // `# HELP` or `# TYPE` with nothing after it is just a comment.
            let text = utf8(input, pos, name_start)?;
            self.pos = name_start;
            if name_start < input.len() {
                self.finish_line(name_start);
            }
            return Ok(Line::Comment(text));
        }
        let (name, after_name) = self.metadata_name(name_start)?;
        if kw == b"HELP" {
            let text_start = skip_blanks(input, after_name);
            let end =
                memchr::memchr(b'\n', &input[text_start..]).map_or(input.len(), |n| text_start + n);
            if after_name != end && text_start == after_name {
                return Err(unexpected(input, after_name, "blank after metric name"));
            }
            let help = unescape_help(utf8(input, text_start, end)?, false);
            // A HELP line without text sets nothing in the client-side parser, so it does
            // not count towards "second HELP".
            if let Some(c) = self.checks.as_mut()
                && after_name != end
            {
                c.on_help(&name)
                    .map_err(|m| (name_start, ErrorKind::Metadata(m)))?;
            }
            self.pos = end;
            if end < input.len() {
                self.finish_line(end);
            }
            return Ok(Line::Help(name, help));
        }
        let t_start = skip_blanks(input, after_name);
        if t_start == after_name {
            return Err(unexpected(input, after_name, "metric type"));
        }
        let t_end = token_end(input, t_start);
        let t = &input[t_start..t_end];
        let metric_type = match t {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"summary" => MetricType::Summary,
            b"untyped" => MetricType::Unknown,
            _ => {
                return Err((
                    t_start,
                    ErrorKind::InvalidType(String::from_utf8_lossy(t).into_owned()),
                ));
            }
        };
        let end = skip_blanks(input, t_end);
        if !matches!(input.get(end), Some(b'\n')) {
            return Err(match input.get(end) {
                None => (end, ErrorKind::UnexpectedEof("line break")),
                Some(_) => unexpected(input, end, "line break"),
            });
        }
        if let Some(c) = self.checks.as_mut() {
            c.on_type(&name, metric_type)
                .map_err(|m| (name_start, ErrorKind::Metadata(m)))?;
        }
        self.expect_line_end(end)?;
        self.mtype = metric_type;
        Ok(Line::Type(name, metric_type))
    }

    /// A metric name in a HELP or TYPE line: bare legacy name or quoted UTF-8 name.
    fn metadata_name(&self, pos: usize) -> LexResult<(Cow<'a, str>, usize)> {
        let input = self.input;
        if input.get(pos) == Some(&b'"') {
            let (name, end) = scan_quoted(input, pos)?;
            if name.is_empty() {
                return Err((
                    pos,
                    ErrorKind::InvalidName {
                        what: "metric",
                        name: String::new(),
                    },
                ));
            }
            return Ok((name, end));
        }
        let end = scan_metric_name(input, pos);
        if end == pos || !matches!(input.get(end), None | Some(b' ' | b'\t' | b'\n')) {
            return Err(unexpected(input, pos, "metric name"));
        }
        Ok((Cow::Borrowed(ascii(input, pos, end)), end))
    }

    /// Requires a line break at `pos` and moves past it.
    fn expect_line_end(&mut self, pos: usize) -> LexResult<()> {
        match self.input.get(pos) {
            Some(b'\n') => {
                self.finish_line(pos);
                Ok(())
            }
            None => Err((pos, ErrorKind::UnexpectedEof("line break"))),
            Some(_) => Err(unexpected(self.input, pos, "line break")),
        }
    }

    fn parse_sample(&mut self, pos: usize) -> LexResult<Line<'a>> {
        let input = self.input;
        let (name, i) = parse_series(input, pos, &mut self.labels, false)?;
        if let Some(c) = self.checks.as_mut() {
            c.on_sample(&name, &self.labels)
                .map_err(|m| (pos, ErrorKind::Semantic(m)))?;
        }
        self.normalize_labels();
        let (value, timestamp, end) = parse_value_tail(input, skip_blanks(input, i))?;
        self.expect_line_end(end)?;
        Ok(Line::Sample {
            name,
            value,
            timestamp,
        })
    }

    /// Rewrites `le`/`quantile` values into Prometheus's float text while a histogram or
    /// summary TYPE is in force (`le="1"` becomes `le="1.0"`), as Prometheus 3.x does.
    fn normalize_labels(&mut self) {
        let key = match self.mtype {
            MetricType::Histogram | MetricType::GaugeHistogram => "le",
            MetricType::Summary => "quantile",
            _ => return,
        };
        normalize_float_label(&mut self.labels, key, &mut self.scratch);
    }
}

/// A sample line of the text format read by [`TextParser::peek_sample`], its series not
/// parsed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawSample<'a> {
    /// The series as written: the metric name and the label set, if any (blanks between
    /// them included, blanks after them not).
    pub series: &'a [u8],
    /// The type of the most recent `# TYPE` line, which decides whether `le` or `quantile`
    /// values are rewritten: equal `series` under equal types parse to equal labels.
    pub type_in_force: MetricType,
    /// The sample value (NaNs normalised as [`Parser::next_entry`] does).
    pub value: f64,
    /// The timestamp, if the line has one.
    pub timestamp: Option<i64>,
}

/// Where the series part of a sample line at `pos` ends, found without validating names
/// or values: after the label set's `}` (quoted strings skipped, escapes included), or
/// after a bare metric name followed by a blank. `None` when the line does not have that
/// shape.
fn series_end(input: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos;
    if input.get(i) != Some(&b'{') {
        let name_end = scan_metric_name(input, pos);
        if name_end == pos {
            return None;
        }
        i = skip_blanks(input, name_end);
        if input.get(i) != Some(&b'{') {
            return (i > name_end).then_some(name_end);
        }
    }
    i += 1;
    loop {
        i += memchr::memchr3(b'"', b'}', b'\n', input.get(i..)?)?;
        match input[i] {
            b'}' => return Some(i + 1),
            b'"' => {
                i += 1;
                loop {
                    i += memchr::memchr3(b'"', b'\\', b'\n', input.get(i..)?)?;
                    match input[i] {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' => i += 2,
                        _ => return None,
                    }
                }
            }
            _ => return None,
        }
    }
}

/// Parses what follows the series on a sample line, from `pos` (past the blanks): the
/// value, an optional timestamp; returns them and the position where the line must end.
fn parse_value_tail(input: &[u8], pos: usize) -> LexResult<(f64, Option<i64>, usize)> {
    let v_end = token_end(input, pos);
    if v_end == pos {
        return Err(unexpected(input, pos, "value"));
    }
    let mut value = parse_float(&input[pos..v_end]).ok_or_else(|| {
        (
            pos,
            ErrorKind::InvalidValue(String::from_utf8_lossy(&input[pos..v_end]).into_owned()),
        )
    })?;
    if value.is_nan() {
        value = f64::from_bits(NORMAL_NAN_BITS);
    }
    let mut i = skip_blanks(input, v_end);
    let mut timestamp = None;
    if i < input.len() && input[i] != b'\n' {
        let t_end = token_end(input, i);
        timestamp = Some(parse_int_timestamp(&input[i..t_end]).ok_or_else(|| {
            (
                i,
                ErrorKind::InvalidTimestamp(String::from_utf8_lossy(&input[i..t_end]).into_owned()),
            )
        })?);
        i = skip_blanks(input, t_end);
    }
    Ok((value, timestamp, i))
}

/// Parses the series part of a sample line at `pos`: a bare metric name with an optional
/// label set, or a label set that holds a quoted name (`{"my.metric",a="b"}`). Fills
/// `labels` and returns the name and the position after the series. In the text format
/// blanks may stand between a bare name and its `{`, and a bare name with no label set
/// must be followed by a blank.
pub(crate) fn parse_series<'a>(
    input: &'a [u8],
    pos: usize,
    labels: &mut Vec<LabelRef<'a>>,
    om: bool,
) -> LexResult<(Cow<'a, str>, usize)> {
    labels.clear();
    let (name, end) = if input.get(pos) == Some(&b'{') {
        match parse_labels(input, pos, labels, om)? {
            (Some(n), end) => (n, end),
            (None, _) => return Err(unexpected(input, pos + 1, "quoted metric name")),
        }
    } else {
        let end = scan_metric_name(input, pos);
        if end == pos {
            let name = crate::lex::found(input, pos);
            return Err((
                pos,
                ErrorKind::InvalidName {
                    what: "metric",
                    name,
                },
            ));
        }
        let name = Cow::Borrowed(ascii(input, pos, end));
        let brace = if om { end } else { skip_blanks(input, end) };
        if input.get(brace) == Some(&b'{') {
            let (quoted, after) = parse_labels(input, brace, labels, om)?;
            if quoted.is_some() {
                return Err((
                    brace + 1,
                    ErrorKind::Semantic("metric name given twice".into()),
                ));
            }
            (name, after)
        } else {
            if !om && !matches!(input.get(end), Some(b' ' | b'\t')) {
                return Err(unexpected(input, end, "label set or value"));
            }
            (name, end)
        }
    };
    if let Some(dup) = duplicate_label(labels) {
        return Err((pos, ErrorKind::DuplicateLabel(dup.to_string())));
    }
    Ok((name, end))
}

/// Rewrites the value of label `key` into OpenMetrics float text when it parses as a float.
pub(crate) fn normalize_float_label(labels: &mut [LabelRef<'_>], key: &str, scratch: &mut Vec<u8>) {
    if let Some(l) = labels.iter_mut().find(|l| l.name == key)
        && let Ok(f) = narthex_model::float::parse_go_float(&l.value)
    {
        // Format into a reused buffer; allocate only when the text actually changes.
        scratch.clear();
        narthex_model::float::push_openmetrics_float(scratch, f);
        if scratch.as_slice() != l.value.as_bytes() {
            l.value = Cow::Owned(String::from_utf8_lossy(scratch).into_owned());
        }
    }
}

/// Parses `{...}` at `pos`. In text mode blanks may surround every token and a trailing
/// comma is allowed; OpenMetrics mode allows neither. A bare quoted string (no `=`) is the
/// metric name (Prometheus 3.x UTF-8 syntax). Returns that name, if any, and the position
/// after `}`.
pub(crate) fn parse_labels<'a>(
    input: &'a [u8],
    pos: usize,
    labels: &mut Vec<LabelRef<'a>>,
    om: bool,
) -> LexResult<(Option<Cow<'a, str>>, usize)> {
    let blanks = |i: usize| if om { i } else { skip_blanks(input, i) };
    let mut name = None;
    let mut i = blanks(pos + 1);
    if input.get(i) == Some(&b'}') {
        return Ok((None, i + 1));
    }
    loop {
        let item_start = i;
        let key: Cow<'a, str> = if input.get(i) == Some(&b'"') {
            let (s, end) = scan_quoted(input, i)?;
            i = blanks(end);
            if input.get(i) != Some(&b'=') {
                // A quoted string on its own is the metric name.
                if name.is_some() {
                    return Err((
                        item_start,
                        ErrorKind::Semantic("metric name given twice".into()),
                    ));
                }
                if s.is_empty() {
                    return Err((
                        item_start,
                        ErrorKind::InvalidName {
                            what: "metric",
                            name: String::new(),
                        },
                    ));
                }
                name = Some(s);
                match separator(input, i, om)? {
                    Sep::Item(next) => {
                        i = next;
                        continue;
                    }
                    Sep::Close(p) => return Ok((name, p + 1)),
                }
            }
            if s.is_empty() {
                return Err((
                    item_start,
                    ErrorKind::InvalidName {
                        what: "label",
                        name: String::new(),
                    },
                ));
            }
            s
        } else {
            let end = scan_label_name(input, i);
            if end == i {
                return Err((
                    i,
                    match input.get(i) {
                        None | Some(b'\n' | b'}' | b',' | b'=' | b' ') => {
                            unexpected(input, i, "label name").1
                        }
                        _ => ErrorKind::InvalidName {
                            what: "label",
                            name: crate::lex::found(input, i),
                        },
                    },
                ));
            }
            let k = Cow::Borrowed(ascii(input, i, end));
            i = blanks(end);
            k
        };
        if input.get(i) != Some(&b'=') {
            return Err(unexpected(input, i, "\"=\""));
        }
        i = blanks(i + 1);
        if input.get(i) != Some(&b'"') {
            return Err(unexpected(input, i, "quoted label value"));
        }
        let (value, end) = scan_quoted(input, i)?;
        labels.push(LabelRef { name: key, value });
        i = blanks(end);
        match separator(input, i, om)? {
            Sep::Item(next) => i = next,
            Sep::Close(p) => return Ok((name, p + 1)),
        }
    }
}

/// What follows a label-set item.
enum Sep {
    /// Another item starts here.
    Item(usize),
    /// The closing brace is here.
    Close(usize),
}

/// After an item: `,` then another item (or, in the text format, a trailing `,` before
/// `}`), or `}`.
fn separator(input: &[u8], i: usize, om: bool) -> LexResult<Sep> {
    match input.get(i) {
        Some(b',') => {
            let next = if om { i + 1 } else { skip_blanks(input, i + 1) };
            if input.get(next) == Some(&b'}') {
                if om {
                    return Err(unexpected(input, next, "label name"));
                }
                return Ok(Sep::Close(next));
            }
            Ok(Sep::Item(next))
        }
        Some(b'}') => Ok(Sep::Close(i)),
        _ => Err(unexpected(input, i, "\",\" or \"}\"")),
    }
}

impl Parser for TextParser<'_> {
    fn next_entry(&mut self) -> Option<Result<Entry<'_>, ParseError>> {
        self.peeked = None;
        loop {
            if self.done || self.pos >= self.input.len() {
                return None;
            }
            let line_start = self.pos;
            match self.parse_line() {
                Ok(None) => continue,
                Ok(Some(line)) => return Some(Ok(line.into_entry(&self.labels))),
                Err((pos, kind)) => {
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
                                None => self.done = true,
                            }
                        }
                    }
                    return Some(Err(err));
                }
            }
        }
    }
}

impl<'a> Line<'a> {
    pub(crate) fn into_entry<'p>(self, labels: &'p [LabelRef<'a>]) -> Entry<'p>
    where
        'a: 'p,
    {
        match self {
            Line::Help(name, help) => Entry::Help { name, help },
            Line::Type(name, metric_type) => Entry::Type { name, metric_type },
            Line::Comment(c) => Entry::Comment(c),
            Line::Sample {
                name,
                value,
                timestamp,
            } => Entry::Sample(SampleRef {
                name,
                labels,
                value,
                timestamp,
                exemplar: None,
            }),
        }
    }
}
