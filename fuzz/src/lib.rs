//! The checks behind the fuzz targets, one `check_*` function per target.
//!
//! Every function takes the raw fuzz input and panics when a property does not hold, so
//! that libFuzzer reports the input. They are plain functions so that a regression can be
//! replayed without libFuzzer (the exposition crate's `fuzz_regressions` test keeps its
//! own copy of the parser checks).

use std::hint::black_box;

use narthex_exposition::protobuf::{ProtobufParser, decode_delimited, encode_delimited};
use narthex_exposition::{
    Entry, ErrorKind, FamilySample, HistogramRef, MetricFamily, NORMAL_NAN_BITS, OpenMetricsParser,
    ParseError, ParseOptions, Parser, Recovery, TextParser, read_families, write_openmetrics,
    write_text,
};
use narthex_model::float::{
    format_api_value, format_exposition_value, format_go_g, format_openmetrics_float,
    parse_go_float, parse_go_float_bytes,
};
use narthex_model::{FastRegex, MatchOp, Matcher, is_stale_nan};

/// The four combinations of recovery mode and family checks.
pub fn option_matrix(classic_histograms: bool) -> [ParseOptions; 4] {
    let o = |recovery, family_checks| ParseOptions {
        recovery,
        family_checks,
        classic_histograms,
        ..ParseOptions::default()
    };
    [
        o(Recovery::Strict, true),
        o(Recovery::Strict, false),
        o(Recovery::Lenient, true),
        o(Recovery::Lenient, false),
    ]
}

/// What draining a parser produced.
#[derive(Debug, Default)]
pub struct Drained {
    /// Entries yielded.
    pub entries: usize,
    /// Errors yielded.
    pub errors: usize,
}

/// Drains `parser`, touching every field of every entry, and checks the protocol: no more
/// than `bound` items in all (so a lenient parser cannot loop forever), nothing after a
/// strict error, `None` stays `None`, errors carry sane positions, and no sample value is
/// the stale marker or a NaN other than the normal one.
pub fn drain(
    mut parser: impl Parser,
    options: ParseOptions,
    bound: usize,
    binary: bool,
) -> Drained {
    let mut d = Drained::default();
    while let Some(item) = parser.next_entry() {
        match item {
            Ok(entry) => {
                d.entries += 1;
                touch(&entry);
            }
            Err(e) => {
                d.errors += 1;
                check_error(&e, binary);
                if options.recovery == Recovery::Strict {
                    assert!(
                        parser.next_entry().is_none(),
                        "a strict parser went on after {e}"
                    );
                    break;
                }
            }
        }
        assert!(
            d.entries + d.errors <= bound,
            "{} entries and {} errors: more than the bound {bound} (lenient loop?)",
            d.entries,
            d.errors
        );
    }
    assert!(
        parser.next_entry().is_none(),
        "the parser yielded something after None"
    );
    d
}

fn check_error(e: &ParseError, binary: bool) {
    if binary {
        assert_eq!(e.line, 0, "protobuf errors have line 0: {e}");
    } else {
        assert!(e.line >= 1 && e.column >= 1, "positions are 1-based: {e:?}");
    }
    black_box(e.to_string());
}

fn check_value(v: f64, what: &str) {
    assert!(!is_stale_nan(v), "{what} is the stale marker");
    assert!(
        !v.is_nan() || v.to_bits() == NORMAL_NAN_BITS,
        "{what} is a NaN other than the normal one: {:#x}",
        v.to_bits()
    );
}

/// Reads every field of an entry.
pub fn touch(entry: &Entry<'_>) {
    match entry {
        Entry::Help { name, help } => {
            black_box((name.len(), help.len()));
        }
        Entry::Type { name, metric_type } => {
            black_box((name.len(), metric_type.as_str()));
        }
        Entry::Unit { name, unit } => {
            black_box((name.len(), unit.len()));
        }
        Entry::Comment(c) => {
            black_box(c.len());
        }
        Entry::Sample(s) => {
            check_value(s.value, "a sample value");
            for l in s.labels {
                black_box((l.name.len(), l.value.len()));
            }
            black_box((s.name.len(), s.timestamp, s.to_labels()));
            if let Some(first) = s.labels.first() {
                assert!(s.label(&first.name).is_some());
            }
            if let Some(x) = &s.exemplar {
                for l in x.labels {
                    black_box((l.name.len(), l.value.len()));
                }
                black_box((x.value.to_bits(), x.timestamp, x.to_exemplar()));
            }
        }
        Entry::Histogram(h) => touch_histogram(h),
    }
}

fn touch_histogram(h: &HistogramRef<'_>) {
    use narthex_exposition::HistogramValue;
    for l in h.labels {
        black_box((l.name.len(), l.value.len()));
    }
    black_box((h.name.len(), h.timestamp, h.to_labels()));
    for x in h.exemplars {
        black_box((x.labels.len(), x.value.to_bits(), x.timestamp));
    }
    match &h.histogram {
        HistogramValue::Int(ih) => {
            check_value(ih.sum, "a histogram sum");
            ih.validate().expect("a yielded histogram validates");
            black_box(ih.to_float());
        }
        HistogramValue::Float(fh) => {
            check_value(fh.sum, "a histogram sum");
            fh.validate().expect("a yielded histogram validates");
            black_box(fh);
        }
    }
}

/// Whether two values are the same after the writers' documented normalisation: `-0` is
/// written as `0`; NaNs are compared by their bits.
fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a == 0.0 && b == 0.0)
}

fn same_sample(a: &FamilySample, b: &FamilySample) -> bool {
    a.name == b.name
        && a.labels == b.labels
        && same_value(a.value, b.value)
        && a.timestamp == b.timestamp
        && match (&a.exemplar, &b.exemplar) {
            (None, None) => true,
            (Some(x), Some(y)) => {
                x.labels == y.labels && same_value(x.value, y.value) && x.timestamp == y.timestamp
            }
            _ => false,
        }
}

/// A family's name as the text writer writes it: a counter named as OpenMetrics names it
/// (`x`, every sample `x_total`) is written, and so read back, as `x_total` (the writer's
/// documented normalisation).
fn written_name(f: &MetricFamily) -> String {
    let total = format!("{}_total", f.name);
    if f.metric_type == narthex_model::MetricType::Counter
        && !f.samples.is_empty()
        && f.samples.iter().all(|s| s.name == total)
    {
        total
    } else {
        f.name.clone()
    }
}

/// Whether two lists of families are equal, values compared by [`same_value`], names
/// as [`written_name`] gives them.
pub fn same_families(a: &[MetricFamily], b: &[MetricFamily]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            written_name(x) == written_name(y)
                && x.help == y.help
                && x.metric_type == y.metric_type
                && x.unit == y.unit
                && x.samples.len() == y.samples.len()
                && x.samples
                    .iter()
                    .zip(&y.samples)
                    .all(|(s, t)| same_sample(s, t))
        })
}

/// Write-then-parse oracle: families read with strict checks, written, and read again
/// with the same options, are the same families.
fn roundtrip(
    data: &[u8],
    read: impl Fn(&[u8]) -> Result<Vec<MetricFamily>, ParseError>,
    write: impl Fn(&[MetricFamily]) -> Vec<u8>,
) {
    let Ok(families) = read(data) else { return };
    let out = write(&families);
    let again = match read(&out) {
        Ok(f) => f,
        Err(e) => panic!(
            "the written families do not parse: {e}\ninput:   {:?}\nwritten: {:?}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(&out)
        ),
    };
    assert!(
        same_families(&families, &again),
        "write then parse changed the families\ninput:   {:?}\nwritten: {:?}\nbefore: {families:#?}\nafter:  {again:#?}",
        String::from_utf8_lossy(data),
        String::from_utf8_lossy(&out)
    );
}

/// Target `text`: the text parser in all four modes, then the write-then-parse oracle.
pub fn check_text(data: &[u8]) {
    for options in option_matrix(false) {
        // At most one entry or error per line.
        drain(
            TextParser::new(data, options),
            options,
            data.len() + 2,
            false,
        );
    }
    roundtrip(
        data,
        |b| read_families(TextParser::new(b, ParseOptions::default())),
        write_text,
    );
    check_peek(data);
}

/// `TextParser::peek_sample` before every line changes nothing `next_entry` yields, and
/// agrees with it on the value and timestamp of each sample line it reads.
fn check_peek(data: &[u8]) {
    for options in option_matrix(false) {
        let (mut a, mut b) = (
            TextParser::new(data, options),
            TextParser::new(data, options),
        );
        loop {
            let peeked = a.peek_sample();
            let (x, y) = (a.next_entry(), b.next_entry());
            assert_eq!(
                format!("{x:?}"),
                format!("{y:?}"),
                "peeking changed the parse"
            );
            let Some(x) = x else { break };
            if let (Some(raw), Ok(Entry::Sample(s))) = (peeked, x) {
                assert_eq!(raw.value.to_bits(), s.value.to_bits());
                assert_eq!(raw.timestamp, s.timestamp);
            }
        }
    }
}

/// Target `openmetrics`: the OpenMetrics parser in all four modes, then the
/// write-then-parse oracle.
pub fn check_openmetrics(data: &[u8]) {
    for options in option_matrix(false) {
        // At most one item per line, plus the missing-`# EOF` error.
        drain(
            OpenMetricsParser::new(data, options),
            options,
            data.len() + 3,
            false,
        );
    }
    roundtrip(
        data,
        |b| read_families(OpenMetricsParser::new(b, ParseOptions::default())),
        write_openmetrics,
    );
}

/// One parser output item, owned, for comparing two parses (errors by kind only, as
/// their offsets depend on the encoding).
fn items(mut p: impl Parser) -> Vec<Result<String, ErrorKind>> {
    let mut out = Vec::new();
    while let Some(item) = p.next_entry() {
        out.push(item.map(|e| format!("{e:?}")).map_err(|e| e.kind));
    }
    out
}

/// Target `protobuf`: the protobuf parser in all four modes, with and without classic
/// histograms; then, when the whole input decodes, the same input re-encoded (canonical
/// protobuf, unknown fields dropped) must parse to the same entries and errors.
pub fn check_protobuf(data: &[u8]) {
    for classic in [false, true] {
        for options in option_matrix(classic) {
            // An empty metric (2 bytes) of a histogram family yields `_count`, `_sum` and
            // a `+Inf` bucket; a family yields at most 3 metadata entries and needs at
            // least 3 bytes plus a metric.
            drain(
                ProtobufParser::new(data, options),
                options,
                2 * data.len() + 4,
                true,
            );
        }
    }
    let Ok(families) = decode_delimited(data) else {
        return;
    };
    let mut canonical = Vec::new();
    encode_delimited(&families, &mut canonical);
    for classic in [false, true] {
        for options in option_matrix(classic) {
            let a = items(ProtobufParser::new(data, options));
            let b = items(ProtobufParser::new(&canonical, options));
            assert_eq!(a, b, "re-encoding changed the parse ({options:?})");
        }
    }
}

/// Target `matcher`: `pattern 0xFF haystack`. Compiling never panics; a compiled regex
/// agrees with a second compilation, with its own set and prefix, with a `Matcher`, and
/// (for patterns without a backslash, which the Go-syntax translation leaves alone) with
/// the `regex` crate on `^(?s:pattern)$`. A pattern that compiles must also parse on its
/// own, as Prometheus parses it before anchoring it.
pub fn check_matcher(data: &[u8]) {
    let (p, h) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(pattern), Ok(hay)) = (std::str::from_utf8(p), std::str::from_utf8(h)) else {
        return;
    };
    let compiled = FastRegex::new(pattern);
    let no_backslash = !pattern.contains('\\');
    let standalone = no_backslash.then(|| regex::Regex::new(pattern).is_ok());
    let Ok(re) = compiled else {
        if standalone == Some(true) && regex::Regex::new(&format!("^(?s:{pattern})$")).is_ok() {
            panic!("{pattern:?} is a valid regex but FastRegex refuses it");
        }
        return;
    };
    if standalone == Some(false) {
        panic!("FastRegex accepts {pattern:?}, which does not parse on its own");
    }
    assert_eq!(re.as_str(), pattern);
    let m = re.is_match(hay);
    let again = FastRegex::new(pattern).expect("compiled once already");
    assert_eq!(m, again.is_match(hay), "two compilations disagree");
    if let Some(set) = re.set_matches() {
        assert_eq!(m, set.contains(&hay), "is_match disagrees with set_matches");
        for s in &set {
            assert!(re.is_match(s), "set member {s:?} does not match");
        }
    }
    if let Some(prefix) = re.literal_prefix() {
        assert!(!m || hay.starts_with(prefix), "a match without the prefix");
    }
    let eq = Matcher::new(MatchOp::RegexMatch, "l", pattern).expect("compiles as a matcher");
    let ne = Matcher::new(MatchOp::RegexNoMatch, "l", pattern).expect("compiles as a matcher");
    assert_eq!(eq.matches(hay), m);
    assert_eq!(ne.matches(hay), !m);
    if no_backslash
        && pattern.len() <= 256
        && let Ok(reference) = regex::Regex::new(&format!("^(?s:{pattern})$"))
    {
        assert_eq!(m, reference.is_match(hay), "FastRegex disagrees with regex");
    }
}

/// Target `go_float`: parsing any text never panics and the `str` and byte versions
/// agree; the first 8 bytes, read as the bits of a float, round-trip bit-exactly through
/// Go's shortest `g` text and through the API's text, and up to the sign of zero through
/// the exposition and OpenMetrics spellings.
pub fn check_go_float(data: &[u8]) {
    let bits = |r: Result<f64, _>| r.map(f64::to_bits);
    let from_bytes = bits(parse_go_float_bytes(data));
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(
            bits(parse_go_float(s)),
            from_bytes,
            "str and bytes parse {s:?} differently"
        );
    }
    let Some(head) = data.first_chunk::<8>() else {
        return;
    };
    let f = f64::from_bits(u64::from_le_bytes(*head));
    if f.is_nan() {
        assert_eq!(format_go_g(f), "NaN");
        return;
    }
    let back = |text: String| match parse_go_float(&text) {
        Ok(v) => v,
        Err(e) => panic!("{text:?} (written for {f:?}) does not parse: {e}"),
    };
    let g = back(format_go_g(f));
    assert_eq!(g.to_bits(), f.to_bits(), "g text of {f:?}");
    let api = back(format_api_value(f));
    assert_eq!(api.to_bits(), f.to_bits(), "API text of {f:?}");
    for text in [format_exposition_value(f), format_openmetrics_float(f)] {
        let v = back(text.clone());
        assert!(same_value(v, f), "{text:?} reads as {v:?}, not {f:?}");
    }
}
