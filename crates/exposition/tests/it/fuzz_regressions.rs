//! Replays the fuzzers' saved regressions (`fuzz/regressions/{text,openmetrics,protobuf}/`)
//! and a few tricky inline inputs through the checks the fuzz targets make: every parser
//! mode drains without panicking, a lenient parser yields a bounded number of items, a
//! strict one stops after its error, and for the text formats a strict reading with family
//! checks survives write-then-parse unchanged, and skipping known series text reads what
//! parsing reads (`peek.rs`). This is a small copy of the fuzz crate's
//! logic (`fuzz/src/lib.rs`), so that the regressions run with `cargo test`.

use std::fs;
use std::hint::black_box;
use std::path::PathBuf;

use narthex_exposition::protobuf::{ProtobufParser, decode_delimited, encode_delimited};
use narthex_exposition::{
    Entry, ErrorKind, FamilySample, HistogramValue, MetricFamily, NORMAL_NAN_BITS,
    OpenMetricsParser, ParseError, ParseOptions, Parser, Recovery, TextParser, read_families,
    write_openmetrics, write_text,
};

/// Strict and lenient, with and without family checks.
pub(crate) fn option_matrix(classic_histograms: bool) -> [ParseOptions; 4] {
    let o = |recovery, family_checks| ParseOptions {
        recovery,
        family_checks,
        classic_histograms,
        ignore_native_histograms: false,
    };
    [
        o(Recovery::Strict, true),
        o(Recovery::Strict, false),
        o(Recovery::Lenient, true),
        o(Recovery::Lenient, false),
    ]
}

/// Drains `parser`, reading every field, and checks that at most `bound` items come out,
/// that nothing follows a strict error or the first `None`, that errors have 1-based
/// positions (line 0 for protobuf), and that sample values are never a NaN other than the
/// normal one. Returns the number of entries and errors.
pub(crate) fn drain(
    mut parser: impl Parser,
    options: ParseOptions,
    bound: usize,
    binary: bool,
) -> (usize, usize) {
    let (mut entries, mut errors) = (0, 0);
    while let Some(item) = parser.next_entry() {
        match item {
            Ok(entry) => {
                entries += 1;
                touch(&entry);
            }
            Err(e) => {
                errors += 1;
                if binary {
                    assert_eq!(e.line, 0, "{e}");
                } else {
                    assert!(e.line >= 1 && e.column >= 1, "{e:?}");
                }
                assert!(!e.to_string().is_empty());
                if options.recovery == Recovery::Strict {
                    assert!(parser.next_entry().is_none(), "strict parser went on");
                    break;
                }
            }
        }
        assert!(
            entries + errors <= bound,
            "{entries} entries and {errors} errors, more than {bound}"
        );
    }
    assert!(parser.next_entry().is_none(), "an item after None");
    (entries, errors)
}

fn touch(entry: &Entry<'_>) {
    let value_ok = |v: f64| !v.is_nan() || v.to_bits() == NORMAL_NAN_BITS;
    match entry {
        Entry::Help { name, help } => black_box((name.len(), help.len())),
        Entry::Type { name, metric_type } => black_box((name.len(), metric_type.as_str().len())),
        Entry::Unit { name, unit } => black_box((name.len(), unit.len())),
        Entry::Comment(c) => black_box((c.len(), 0)),
        Entry::Sample(s) => {
            assert!(value_ok(s.value), "sample NaN {:#x}", s.value.to_bits());
            assert_eq!(s.to_labels().metric_name(), Some(&*s.name));
            if let Some(x) = &s.exemplar {
                black_box((x.to_exemplar(), x.timestamp));
            }
            black_box((s.labels.len(), s.timestamp.is_some() as usize))
        }
        Entry::Histogram(h) => {
            black_box(h.to_labels());
            match &h.histogram {
                HistogramValue::Int(ih) => {
                    assert!(value_ok(ih.sum));
                    ih.validate().expect("a yielded histogram validates");
                }
                HistogramValue::Float(fh) => {
                    assert!(value_ok(fh.sum));
                    fh.validate().expect("a yielded histogram validates");
                }
            }
            black_box((h.exemplars.len(), h.timestamp.is_some() as usize))
        }
    };
}

/// Values equal by bits, except that `-0` is written as `0`.
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

fn same_families(a: &[MetricFamily], b: &[MetricFamily]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            (written_name(x), &x.help, x.metric_type, &x.unit)
                == (written_name(y), &y.help, y.metric_type, &y.unit)
                && x.samples.len() == y.samples.len()
                && x.samples
                    .iter()
                    .zip(&y.samples)
                    .all(|(s, t)| same_sample(s, t))
        })
}

fn roundtrip(
    data: &[u8],
    read: impl Fn(&[u8]) -> Result<Vec<MetricFamily>, ParseError>,
    write: impl Fn(&[MetricFamily]) -> Vec<u8>,
) {
    let Ok(families) = read(data) else { return };
    let out = write(&families);
    let again = read(&out).unwrap_or_else(|e| {
        panic!(
            "written families do not parse: {e}\n{:?}",
            String::from_utf8_lossy(&out)
        )
    });
    assert!(
        same_families(&families, &again),
        "write then parse changed the families\nwritten: {:?}\nbefore: {families:#?}\nafter: {again:#?}",
        String::from_utf8_lossy(&out)
    );
}

fn check_text(data: &[u8]) {
    for o in option_matrix(false) {
        drain(TextParser::new(data, o), o, data.len() + 2, false);
    }
    roundtrip(
        data,
        |b| read_families(TextParser::new(b, ParseOptions::default())),
        write_text,
    );
    crate::peek::check(data);
}

fn check_openmetrics(data: &[u8]) {
    for o in option_matrix(false) {
        drain(OpenMetricsParser::new(data, o), o, data.len() + 3, false);
    }
    roundtrip(
        data,
        |b| read_families(OpenMetricsParser::new(b, ParseOptions::default())),
        write_openmetrics,
    );
}

fn check_protobuf(data: &[u8]) {
    let items = |mut p: ProtobufParser<'_>| {
        let mut out: Vec<Result<String, ErrorKind>> = Vec::new();
        while let Some(item) = p.next_entry() {
            out.push(item.map(|e| format!("{e:?}")).map_err(|e| e.kind));
        }
        out
    };
    for classic in [false, true] {
        for o in option_matrix(classic) {
            drain(ProtobufParser::new(data, o), o, 2 * data.len() + 4, true);
        }
    }
    if let Ok(families) = decode_delimited(data) {
        let mut canonical = Vec::new();
        encode_delimited(&families, &mut canonical);
        for classic in [false, true] {
            for o in option_matrix(classic) {
                assert_eq!(
                    items(ProtobufParser::new(data, o)),
                    items(ProtobufParser::new(&canonical, o)),
                    "re-encoding changed the parse"
                );
            }
        }
    }
}

/// Saved regressions for `target`, sorted by name; none when the directory is missing.
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/regressions"
    ))
    .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            (
                name.unwrap_or_default(),
                fs::read(&p).expect("read regression"),
            )
        })
        .collect()
}

fn replay(target: &str, inline: &[&[u8]], check: fn(&[u8])) {
    let files = regressions(target);
    for (name, data) in &files {
        let r = std::panic::catch_unwind(|| check(data));
        assert!(r.is_ok(), "regression {target}/{name} fails");
    }
    for data in inline {
        check(data);
    }
    println!(
        "{target}: {} saved regressions and {} inline inputs replayed",
        files.len(),
        inline.len()
    );
}

#[test]
fn text_regressions() {
    replay(
        "text",
        &[
            b"",
            b"\n\n",
            b"# TYPE a untyped\n",
            b"# HELP a\na 1\n# HELP a\n",
            b"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
            b"{\"a.b\",\"c d\"=\"\\\\\\\"\\n\\t\",} -0 -9223372036854775808\n",
            b"a{x=\"1\" 2\nb 3\n",
            b"a 1 2 3\n\xff\nb NaN\n",
            b"# TYPE s summary\ns{quantile=\"0.5\"} NaN\ns{quantile=\".5e0\"} 1\n",
        ],
        check_text,
    );
}

#[test]
fn openmetrics_regressions() {
    replay(
        "openmetrics",
        &[
            b"",
            b"# EOF",
            b"# TYPE a unknown\n# EOF\n",
            b"# TYPE a counter\na_total 1 1.5 # {t=\"x\"} NaN -0.001\n# EOF\n",
            b"# TYPE a gauge\na 1 1e3\na 2 1000.0009\n# EOF\n",
            b"# TYPE h histogram\nh_bucket{le=\"1\"} 0 1.0001\nh_bucket{le=\"+Inf\"} 1 1.0001\nh_bucket{le=\"+Inf\"} 1 1.0002\n# EOF\n",
            b"a 1\n\n# EOF\nb 2\n",
            b"# HELP \"x.y\" a\\\"b\\\\c\\nd\n{\"x.y\"} +Inf\n# EOF\n",
        ],
        check_openmetrics,
    );
}

#[test]
fn protobuf_regressions() {
    replay(
        "protobuf",
        &[
            b"",
            b"\x00",
            b"\x80",
            b"\x80\x80\x80\x80\x80\x01",
            // A family named "h", type histogram, with two empty metrics.
            b"\x09\x0a\x01h\x18\x04\x22\x00\x22\x00",
            // The same with an invalid type, then a valid summary.
            b"\x07\x0a\x01h\x18\x09\x22\x00\x07\x0a\x01s\x18\x02\x22\x00",
        ],
        check_protobuf,
    );
}
