//! The protobuf exposition format: conformance corpus, native histograms, errors and
//! round trips of random families.

use std::collections::BTreeMap;

use narthex_exposition::protobuf::{ProtobufParser, decode_delimited, encode_delimited, pb};
use narthex_exposition::{
    Entry, ErrorKind, HistogramValue, NORMAL_NAN_BITS, ParseError, ParseOptions, Parser, Recovery,
    TextParser,
};
use narthex_model::float::format_openmetrics_float;
use narthex_model::{CounterResetHint, MetricType, Span};
use proptest::prelude::*;

use crate::common::corpus;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Labels as written: (name, value) pairs.
type Pairs = Vec<(String, String)>;
/// A flattened sample, owned: name, labels as written, value bits, timestamp.
type Sample = (String, Pairs, u64, Option<i64>);
/// An exemplar: index of its sample, labels, value, timestamp.
type SampleExemplar = (usize, Pairs, f64, Option<i64>);
/// A native histogram: name, labels, value, timestamp, number of exemplars.
type Native = (String, Pairs, HistogramValue, Option<i64>, usize);

/// Everything a parser yielded, owned.
#[derive(Debug, Default)]
struct Parsed {
    /// Family name → (type, help, unit), in order of appearance.
    families: Vec<(String, MetricType, String, String)>,
    samples: Vec<Sample>,
    /// Exemplars by sample index: labels, value, timestamp.
    exemplars: Vec<SampleExemplar>,
    histograms: Vec<Native>,
    errors: Vec<ParseError>,
    /// Entry kinds in order: 'H' help, 'U' unit, 'T' type, 'S' sample, 'N' native histogram.
    order: String,
}

fn pairs(labels: &[narthex_exposition::LabelRef<'_>]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

fn drain(mut p: impl Parser) -> Parsed {
    let mut out = Parsed::default();
    let mut guard = 0;
    while let Some(e) = p.next_entry() {
        guard += 1;
        assert!(guard < 1_000_000, "parser does not terminate");
        match e {
            Err(e) => out.errors.push(e),
            Ok(Entry::Help { name, help }) => {
                out.order.push('H');
                family(&mut out, &name).2 = help.to_string();
            }
            Ok(Entry::Type { name, metric_type }) => {
                out.order.push('T');
                family(&mut out, &name).1 = metric_type;
            }
            Ok(Entry::Unit { name, unit }) => {
                out.order.push('U');
                family(&mut out, &name).3 = unit.to_string();
            }
            Ok(Entry::Comment(_)) => {}
            Ok(Entry::Sample(s)) => {
                out.order.push('S');
                if let Some(x) = &s.exemplar {
                    out.exemplars
                        .push((out.samples.len(), pairs(x.labels), x.value, x.timestamp));
                }
                out.samples.push((
                    s.name.to_string(),
                    pairs(s.labels),
                    s.value.to_bits(),
                    s.timestamp,
                ));
            }
            Ok(Entry::Histogram(h)) => {
                out.order.push('N');
                out.histograms.push((
                    h.name.to_string(),
                    pairs(h.labels),
                    h.histogram.clone(),
                    h.timestamp,
                    h.exemplars.len(),
                ));
            }
        }
    }
    out
}

/// The family entry of `name`, created on first sight.
fn family<'a>(out: &'a mut Parsed, name: &str) -> &'a mut (String, MetricType, String, String) {
    let i = match out.families.iter().position(|f| f.0 == name) {
        Some(i) => i,
        None => {
            out.families.push((
                name.to_string(),
                MetricType::Unknown,
                String::new(),
                String::new(),
            ));
            out.families.len() - 1
        }
    };
    &mut out.families[i]
}

fn parse(bytes: &[u8], options: ParseOptions) -> Parsed {
    drain(ProtobufParser::new(bytes, options))
}

fn strict() -> ParseOptions {
    ParseOptions {
        recovery: Recovery::Strict,
        ..ParseOptions::default()
    }
}

fn lenient() -> ParseOptions {
    ParseOptions {
        recovery: Recovery::Lenient,
        ..ParseOptions::default()
    }
}

fn encode(families: &[pb::MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_delimited(families, &mut out);
    out
}

/// Sorted labels, for comparing samples regardless of label order.
fn canonical(mut samples: Vec<Sample>) -> Vec<Sample> {
    for s in &mut samples {
        s.1.sort();
    }
    samples.sort();
    samples
}

fn lp(name: &str, value: &str) -> pb::LabelPair {
    pb::LabelPair::new(name, value)
}

fn family_of(name: &str, t: pb::MetricType, metrics: Vec<pb::Metric>) -> pb::MetricFamily {
    pb::MetricFamily {
        name: Some(name.into()),
        help: Some(format!("help of {name}")),
        r#type: Some(t as i32),
        metric: metrics,
        unit: None,
    }
}

fn gauge(labels: Vec<pb::LabelPair>, v: f64) -> pb::Metric {
    pb::Metric {
        label: labels,
        gauge: Some(pb::Gauge { value: Some(v) }),
        ..Default::default()
    }
}

fn counter(labels: Vec<pb::LabelPair>, v: f64) -> pb::Metric {
    pb::Metric {
        label: labels,
        counter: Some(pb::Counter {
            value: Some(v),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (s(a), s(b))).collect()
}

// ---------------------------------------------------------------------------
// Conformance corpus
// ---------------------------------------------------------------------------

#[test]
fn conformance_protobuf_matches_text() {
    let Some(dir) = corpus() else { return };
    let dir = dir.join("exposition/common-expfmt");
    let proto = std::fs::read(dir.join("protobuf")).unwrap();
    let text = std::fs::read(dir.join("text")).unwrap();
    let multi = std::fs::read(dir.join("protobuf-multimessage")).unwrap();

    let mut checks: Vec<(&str, bool)> = Vec::new();

    // Raw decoding.
    let families = decode_delimited(&proto).unwrap();
    checks.push(("protobuf: 37 families decode", families.len() == 37));

    // What the parser yields against what the text parser yields for the same data.
    let p = parse(&proto, strict());
    let t = drain(TextParser::new(&text, ParseOptions::default()));
    assert!(p.errors.is_empty(), "protobuf errors: {:?}", p.errors);
    assert!(t.errors.is_empty(), "text errors: {:?}", t.errors);
    checks.push(("protobuf: 37 families parsed", p.families.len() == 37));

    // The two files list the families in different orders: compare them sorted.
    let sorted = |x: &Parsed| {
        let mut v = x.families.clone();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (pf, tf) = (sorted(&p), sorted(&t));
    let names = |v: &[(String, MetricType, String, String)]| {
        v.iter().map(|f| f.0.clone()).collect::<Vec<_>>()
    };
    checks.push((
        "protobuf: family names match text",
        names(&pf) == names(&tf),
    ));
    let types = |v: &[(String, MetricType, String, String)]| {
        v.iter().map(|f| (f.0.clone(), f.1)).collect::<Vec<_>>()
    };
    checks.push((
        "protobuf: family types match text",
        types(&pf) == types(&tf),
    ));
    let helps = |v: &[(String, MetricType, String, String)]| {
        v.iter()
            .map(|f| (f.0.clone(), f.2.clone()))
            .collect::<Vec<_>>()
    };
    checks.push(("protobuf: help texts match text", helps(&pf) == helps(&tf)));
    // Each family's entries come as Help, Type, then its samples.
    checks.push((
        "protobuf: entries per family are Help, Type, samples",
        p.order.matches("HT").count() == 37 && !p.order.contains("TH"),
    ));
    checks.push(("protobuf: 248 samples", p.samples.len() == 248));
    let (ps, ts) = (canonical(p.samples.clone()), canonical(t.samples.clone()));
    if ps != ts {
        for (a, b) in ps.iter().zip(&ts) {
            if a != b {
                eprintln!("first difference:\n  protobuf: {a:?}\n  text:     {b:?}");
                break;
            }
        }
    }
    checks.push((
        "protobuf: every sample (name, labels, value, timestamp) matches text",
        ps == ts,
    ));
    // Per family, the sample order is Prometheus's: _count, _sum, then quantiles.
    let i = p
        .samples
        .iter()
        .position(|s| s.0 == "http_request_duration_microseconds_count")
        .unwrap_or(usize::MAX - 4);
    let at = |k: usize| p.samples.get(i + k).map(|s| (s.0.as_str(), s.1.clone()));
    let handler = ("handler", "/");
    checks.push((
        "protobuf: summaries yield _count, _sum, then quantiles",
        at(0) == Some(("http_request_duration_microseconds_count", l(&[handler])))
            && at(1) == Some(("http_request_duration_microseconds_sum", l(&[handler])))
            && at(2)
                == Some((
                    "http_request_duration_microseconds",
                    l(&[handler, ("quantile", "0.5")]),
                ))
            && at(4)
                == Some((
                    "http_request_duration_microseconds",
                    l(&[handler, ("quantile", "0.99")]),
                )),
    ));

    // The multi-message file.
    let m = decode_delimited(&multi).unwrap();
    checks.push(("protobuf-multimessage: 6 families decode", m.len() == 6));
    let mp = parse(&multi, strict());
    checks.push((
        "protobuf-multimessage: 6 families, 6 samples, no errors",
        mp.families.len() == 6 && mp.samples.len() == 6 && mp.errors.is_empty(),
    ));
    checks.push((
        "protobuf-multimessage: first family is swap_free{host=\"omsk\"}",
        mp.families.first().map(|f| f.0.as_str()) == Some("swap_free")
            && mp.samples.first().map(|s| s.1.clone()) == Some(l(&[("host", "omsk")])),
    ));

    // Re-encoding the decoded families gives a stream that parses the same.
    let again = parse(&encode(&families), strict());
    checks.push((
        "protobuf: re-encoded stream parses identically",
        canonical(again.samples) == ps,
    ));

    let passed = checks.iter().filter(|c| c.1).count();
    for (name, ok) in &checks {
        eprintln!("  [{}] {name}", if *ok { "ok" } else { "FAILED" });
    }
    println!("protobuf conformance: {passed}/{} passed", checks.len());
    assert_eq!(passed, checks.len(), "protobuf conformance checks failed");
}

// ---------------------------------------------------------------------------
// Flattening rules
// ---------------------------------------------------------------------------

#[test]
fn metadata_and_simple_types() {
    let mut c = family_of(
        "requests_total",
        pb::MetricType::Counter,
        vec![counter(vec![lp("code", "200")], 7.0)],
    );
    c.metric[0].timestamp_ms = Some(0);
    c.metric[0].counter.as_mut().unwrap().exemplar = Some(pb::Exemplar {
        label: vec![lp("trace_id", "abc")],
        value: Some(1.5),
        timestamp: Some(pb::Timestamp {
            seconds: 10,
            nanos: 250_000_000,
        }),
    });
    let mut g = family_of(
        "temp_celsius",
        pb::MetricType::Gauge,
        vec![gauge(vec![], f64::NAN)],
    );
    g.unit = Some(s("celsius"));
    g.help = None;
    let u = pb::MetricFamily {
        name: Some(s("raw")),
        r#type: Some(pb::MetricType::Untyped as i32),
        metric: vec![pb::Metric {
            untyped: Some(pb::Untyped { value: Some(-2.0) }),
            timestamp_ms: Some(1_700_000_000_000),
            ..Default::default()
        }],
        ..Default::default()
    };
    let empty = family_of("nothing", pb::MetricType::Gauge, vec![]);
    let p = parse(&encode(&[c, empty, g, u]), strict());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    // Help always; unit only when set, before the type. Empty families vanish.
    assert_eq!(p.order, "HTSHUTSHTS");
    assert_eq!(
        p.families,
        vec![
            (
                s("requests_total"),
                MetricType::Counter,
                s("help of requests_total"),
                s("")
            ),
            (s("temp_celsius"), MetricType::Gauge, s(""), s("celsius")),
            (s("raw"), MetricType::Unknown, s(""), s("")),
        ]
    );
    assert_eq!(
        p.samples,
        vec![
            // A present timestamp of 0 stays a timestamp.
            (
                s("requests_total"),
                l(&[("code", "200")]),
                7f64.to_bits(),
                Some(0)
            ),
            (s("temp_celsius"), vec![], NORMAL_NAN_BITS, None),
            (s("raw"), vec![], (-2f64).to_bits(), Some(1_700_000_000_000)),
        ]
    );
    assert_eq!(
        p.exemplars,
        vec![(0, l(&[("trace_id", "abc")]), 1.5, Some(10_250))]
    );
}

#[test]
fn summaries_and_classic_histograms() {
    let summary = family_of(
        "rpc_seconds",
        pb::MetricType::Summary,
        vec![
            pb::Metric {
                label: vec![lp("svc", "a")],
                summary: Some(pb::Summary {
                    sample_count: Some(10),
                    sample_sum: Some(3.5),
                    quantile: vec![
                        pb::Quantile {
                            quantile: Some(0.5),
                            value: Some(0.25),
                        },
                        pb::Quantile {
                            quantile: Some(1.0),
                            value: Some(0.75),
                        },
                    ],
                    created_timestamp: None,
                }),
                ..Default::default()
            },
            // No quantiles: only _count and _sum.
            pb::Metric {
                label: vec![lp("svc", "b")],
                summary: Some(pb::Summary {
                    sample_count: Some(1),
                    sample_sum: Some(2.0),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
    );
    let bucket = |ub: f64, c: u64| pb::Bucket {
        upper_bound: Some(ub),
        cumulative_count: Some(c),
        ..Default::default()
    };
    let mut with_exemplar = bucket(0.1, 2);
    with_exemplar.exemplar = Some(pb::Exemplar {
        label: vec![lp("id", "x")],
        value: Some(0.05),
        timestamp: None,
    });
    let hist = family_of(
        "latency_seconds",
        pb::MetricType::Histogram,
        vec![
            pb::Metric {
                histogram: Some(pb::Histogram {
                    sample_count: Some(5),
                    sample_sum: Some(1.25),
                    bucket: vec![with_exemplar, bucket(1.0, 4)],
                    ..Default::default()
                }),
                ..Default::default()
            },
            // An explicit +Inf bucket ends the buckets; later ones are ignored.
            pb::Metric {
                label: vec![lp("x", "y")],
                histogram: Some(pb::Histogram {
                    sample_count_float: Some(2.5),
                    sample_sum: Some(1.0),
                    bucket: vec![
                        pb::Bucket {
                            upper_bound: Some(f64::INFINITY),
                            cumulative_count_float: Some(2.5),
                            ..Default::default()
                        },
                        bucket(7.0, 1),
                    ],
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
    );
    let p = parse(&encode(&[summary, hist]), strict());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let v = |x: f64| x.to_bits();
    assert_eq!(
        p.samples,
        vec![
            (s("rpc_seconds_count"), l(&[("svc", "a")]), v(10.0), None),
            (s("rpc_seconds_sum"), l(&[("svc", "a")]), v(3.5), None),
            (
                s("rpc_seconds"),
                l(&[("svc", "a"), ("quantile", "0.5")]),
                v(0.25),
                None
            ),
            (
                s("rpc_seconds"),
                l(&[("svc", "a"), ("quantile", "1.0")]),
                v(0.75),
                None
            ),
            (s("rpc_seconds_count"), l(&[("svc", "b")]), v(1.0), None),
            (s("rpc_seconds_sum"), l(&[("svc", "b")]), v(2.0), None),
            (s("latency_seconds_count"), vec![], v(5.0), None),
            (s("latency_seconds_sum"), vec![], v(1.25), None),
            (
                s("latency_seconds_bucket"),
                l(&[("le", "0.1")]),
                v(2.0),
                None
            ),
            (
                s("latency_seconds_bucket"),
                l(&[("le", "1.0")]),
                v(4.0),
                None
            ),
            (
                s("latency_seconds_bucket"),
                l(&[("le", "+Inf")]),
                v(5.0),
                None
            ),
            (s("latency_seconds_count"), l(&[("x", "y")]), v(2.5), None),
            (s("latency_seconds_sum"), l(&[("x", "y")]), v(1.0), None),
            (
                s("latency_seconds_bucket"),
                l(&[("x", "y"), ("le", "+Inf")]),
                v(2.5),
                None
            ),
        ]
    );
    // Bucket exemplars go on their bucket, with or without a timestamp.
    assert_eq!(p.exemplars, vec![(8, l(&[("id", "x")]), 0.05, None)]);
    assert!(p.histograms.is_empty());
}

// ---------------------------------------------------------------------------
// Native histograms
// ---------------------------------------------------------------------------

fn span(offset: i32, length: u32) -> pb::BucketSpan {
    pb::BucketSpan {
        offset: Some(offset),
        length: Some(length),
    }
}

fn exemplar(id: &str, value: f64, ts_ms: Option<i64>) -> pb::Exemplar {
    pb::Exemplar {
        label: vec![lp("trace_id", id)],
        value: Some(value),
        timestamp: ts_ms.map(pb::Timestamp::from_millis),
    }
}

fn native_family() -> pb::MetricFamily {
    family_of(
        "rpc_duration_seconds",
        pb::MetricType::Histogram,
        vec![pb::Metric {
            label: vec![lp("service", "api")],
            timestamp_ms: Some(1234),
            histogram: Some(pb::Histogram {
                sample_count: Some(12),
                sample_sum: Some(42.5),
                schema: Some(3),
                zero_threshold: Some(1e-3),
                zero_count: Some(2),
                // Absolute counts 1, 2 | 0, 0, 3: the empty buckets are compacted away.
                positive_span: vec![span(-2, 2), span(1, 3)],
                positive_delta: vec![1, 1, -2, 0, 3],
                negative_span: vec![span(0, 2)],
                negative_delta: vec![2, -1],
                bucket: vec![
                    pb::Bucket {
                        upper_bound: Some(0.5),
                        cumulative_count: Some(4),
                        exemplar: Some(exemplar("b1", 0.4, None)),
                        ..Default::default()
                    },
                    pb::Bucket {
                        upper_bound: Some(10.0),
                        cumulative_count: Some(12),
                        ..Default::default()
                    },
                ],
                exemplars: vec![
                    exemplar("e1", 0.3, Some(1_000)),
                    exemplar("no-ts", 0.2, None),
                    exemplar("e2", 7.0, Some(-1_500)),
                ],
                ..Default::default()
            }),
            ..Default::default()
        }],
    )
}

/// `ignore_native_histograms` reads a native histogram as a classic one, classic buckets
/// or not: `_count`, `_sum`, its buckets and a `+Inf` bucket, no [`Entry::Histogram`].
#[test]
fn ignoring_native_histograms_reads_them_as_classic() {
    let mut native_only = native_family();
    native_only.metric[0]
        .histogram
        .as_mut()
        .unwrap()
        .bucket
        .clear();
    let ignore = ParseOptions {
        ignore_native_histograms: true,
        ..strict()
    };
    let p = parse(&encode(&[native_only]), ignore);
    assert_eq!(p.order, "HTSSS");
    assert!(p.histograms.is_empty());
    let got: Vec<_> = p
        .samples
        .iter()
        .map(|(n, l, v, t)| (n.as_str(), l.clone(), f64::from_bits(*v), *t))
        .collect();
    let svc = ("service", "api");
    let want = [
        ("rpc_duration_seconds_count", l(&[svc]), 12.0),
        ("rpc_duration_seconds_sum", l(&[svc]), 42.5),
        (
            "rpc_duration_seconds_bucket",
            l(&[svc, ("le", "+Inf")]),
            12.0,
        ),
    ]
    .map(|(n, l, v)| (n, l, v, Some(1234)));
    assert_eq!(got, want);
    // With classic buckets: those too, still no native histogram.
    let p = parse(&encode(&[native_family()]), ignore);
    assert_eq!(p.order, "HTSSSSS");
}

#[test]
fn native_histogram_with_integer_counts() {
    let bytes = encode(&[native_family()]);
    let mut parser = ProtobufParser::new(&bytes, strict());
    let mut seen = 0;
    while let Some(e) = parser.next_entry() {
        let Entry::Histogram(h) = e.unwrap() else {
            continue;
        };
        seen += 1;
        assert_eq!(h.name, "rpc_duration_seconds");
        assert_eq!(pairs(h.labels), l(&[("service", "api")]));
        assert_eq!(h.timestamp, Some(1234));
        let HistogramValue::Int(ih) = &h.histogram else {
            panic!("expected integer counts: {h:?}")
        };
        assert_eq!(ih.schema, 3);
        assert_eq!(ih.zero_threshold, 1e-3);
        assert_eq!(ih.zero_count, 2);
        assert_eq!(ih.count, 12);
        assert_eq!(ih.sum, 42.5);
        assert_eq!(ih.counter_reset_hint, CounterResetHint::Unknown);
        assert_eq!(
            ih.positive_spans,
            vec![
                Span {
                    offset: -2,
                    length: 2
                },
                Span {
                    offset: 3,
                    length: 1
                }
            ]
        );
        assert_eq!(ih.positive_buckets, vec![1, 1, 1]);
        assert_eq!(
            ih.negative_spans,
            vec![Span {
                offset: 0,
                length: 2
            }]
        );
        assert_eq!(ih.negative_buckets, vec![2, -1]);
        ih.validate().unwrap();
        // Only exemplars with a timestamp, from the histogram's own list.
        let ex: Vec<_> = h
            .exemplars
            .iter()
            .map(|e| {
                (
                    e.labels.get("trace_id").unwrap().to_string(),
                    e.value,
                    e.timestamp,
                )
            })
            .collect();
        assert_eq!(
            ex,
            vec![(s("e1"), 0.3, Some(1_000)), (s("e2"), 7.0, Some(-1_500))]
        );
        assert_eq!(h.to_labels().get("__name__"), Some("rpc_duration_seconds"));
    }
    assert_eq!(seen, 1);

    // By default no classic series; with the option, _count, _sum and buckets follow.
    let p = parse(&bytes, strict());
    assert_eq!(p.order, "HTN");
    let p = parse(
        &bytes,
        ParseOptions {
            classic_histograms: true,
            ..strict()
        },
    );
    assert_eq!(p.order, "HTNSSSSS");
    let svc = ("service", "api");
    assert_eq!(
        p.samples,
        vec![
            (
                s("rpc_duration_seconds_count"),
                l(&[svc]),
                12f64.to_bits(),
                Some(1234)
            ),
            (
                s("rpc_duration_seconds_sum"),
                l(&[svc]),
                42.5f64.to_bits(),
                Some(1234)
            ),
            (
                s("rpc_duration_seconds_bucket"),
                l(&[svc, ("le", "0.5")]),
                4f64.to_bits(),
                Some(1234)
            ),
            (
                s("rpc_duration_seconds_bucket"),
                l(&[svc, ("le", "10.0")]),
                12f64.to_bits(),
                Some(1234)
            ),
            (
                s("rpc_duration_seconds_bucket"),
                l(&[svc, ("le", "+Inf")]),
                12f64.to_bits(),
                Some(1234)
            ),
        ]
    );
    assert_eq!(p.exemplars, vec![(2, l(&[("trace_id", "b1")]), 0.4, None)]);
}

#[test]
fn native_histogram_exemplars_fall_back_to_buckets() {
    let mut f = native_family();
    let h = f.metric[0].histogram.as_mut().unwrap();
    h.exemplars.clear();
    h.bucket[1].exemplar = Some(exemplar("b2", 9.0, Some(5)));
    let p = parse(&encode(&[f]), strict());
    // b1 has no timestamp and is dropped; b2 is used.
    assert_eq!(p.histograms.len(), 1);
    assert_eq!(p.histograms[0].4, 1);
}

#[test]
fn native_histogram_with_float_counts() {
    let f = family_of(
        "queue_fill",
        pb::MetricType::GaugeHistogram,
        vec![pb::Metric {
            histogram: Some(pb::Histogram {
                sample_count_float: Some(6.5),
                sample_sum: Some(f64::NAN),
                schema: Some(0),
                zero_count_float: Some(0.5),
                positive_span: vec![span(0, 3)],
                positive_count: vec![2.0, 0.0, 3.0],
                negative_span: vec![span(-1, 1)],
                negative_count: vec![1.0],
                ..Default::default()
            }),
            ..Default::default()
        }],
    );
    let p = parse(&encode(&[f]), strict());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.families[0].1, MetricType::GaugeHistogram);
    let (_, labels, value, ts, _) = &p.histograms[0];
    assert!(labels.is_empty());
    assert_eq!(*ts, None);
    let HistogramValue::Float(fh) = value else {
        panic!("expected float counts: {value:?}")
    };
    assert_eq!(fh.counter_reset_hint, CounterResetHint::Gauge);
    assert_eq!(fh.count, 6.5);
    assert_eq!(fh.zero_count, 0.5);
    assert_eq!(fh.sum.to_bits(), NORMAL_NAN_BITS);
    assert_eq!(
        fh.positive_spans,
        vec![
            Span {
                offset: 0,
                length: 1
            },
            Span {
                offset: 1,
                length: 1
            }
        ]
    );
    assert_eq!(fh.positive_buckets, vec![2.0, 3.0]);
    assert_eq!(
        fh.negative_spans,
        vec![Span {
            offset: -1,
            length: 1
        }]
    );
    assert_eq!(fh.negative_buckets, vec![1.0]);
}

#[test]
fn native_family_is_decided_by_first_metric() {
    // A no-op span marks an empty native histogram; the second metric has only classic
    // fields but is read as native too, as Prometheus does.
    let f = family_of(
        "h",
        pb::MetricType::Histogram,
        vec![
            pb::Metric {
                histogram: Some(pb::Histogram {
                    positive_span: vec![span(0, 0)],
                    ..Default::default()
                }),
                ..Default::default()
            },
            pb::Metric {
                label: vec![lp("i", "2")],
                histogram: Some(pb::Histogram {
                    sample_count: Some(3),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
    );
    let p = parse(&encode(&[f]), strict());
    assert_eq!(p.order, "HTNN");
    let HistogramValue::Int(h) = &p.histograms[1].2 else {
        panic!()
    };
    assert_eq!(h.count, 3);
    assert!(h.positive_spans.is_empty());
}

#[test]
fn invalid_native_histograms_are_errors() {
    let mut f = native_family();
    f.metric[0]
        .histogram
        .as_mut()
        .unwrap()
        .positive_delta
        .push(1);
    let bytes = encode(&[f]);
    let p = parse(&bytes, strict());
    assert_eq!(p.errors.len(), 1);
    assert!(
        matches!(&p.errors[0].kind, ErrorKind::Protobuf(m) if m.contains("native histogram")),
        "{:?}",
        p.errors
    );
    assert!(p.order.is_empty());

    let mut f = native_family();
    f.metric[0].histogram.as_mut().unwrap().schema = Some(9);
    assert_eq!(parse(&encode(&[f]), strict()).errors.len(), 1);

    let mut f = native_family();
    f.metric[0].histogram.as_mut().unwrap().sample_count = Some(3);
    assert_eq!(parse(&encode(&[f]), strict()).errors.len(), 1);
}

// ---------------------------------------------------------------------------
// Errors and recovery
// ---------------------------------------------------------------------------

fn three_families() -> Vec<pb::MetricFamily> {
    vec![
        family_of(
            "a",
            pb::MetricType::Gauge,
            vec![
                gauge(vec![lp("k", "v")], 1.0),
                gauge(vec![lp("k", "w")], 2.0),
            ],
        ),
        native_family(),
        family_of(
            "c_total",
            pb::MetricType::Counter,
            vec![counter(vec![], 3.0)],
        ),
    ]
}

/// Offsets of each family's length prefix, and the end.
fn boundaries(families: &[pb::MetricFamily]) -> Vec<usize> {
    let mut out = vec![0];
    let mut buf = Vec::new();
    for f in families {
        encode_delimited(std::slice::from_ref(f), &mut buf);
        out.push(buf.len());
    }
    out
}

#[test]
fn truncation_at_every_offset() {
    let families = three_families();
    let bytes = encode(&families);
    let bounds = boundaries(&families);
    assert_eq!(*bounds.last().unwrap(), bytes.len());
    let full: Vec<Parsed> = (1..=families.len())
        .map(|n| parse(&encode(&families[..n]), strict()))
        .collect();
    for cut in 0..bytes.len() {
        let input = &bytes[..cut];
        // Families wholly before the cut parse; the one cut in two is an error at its
        // prefix offset, unless the cut falls exactly on a boundary.
        let complete = bounds.iter().rposition(|&b| b <= cut).unwrap();
        for options in [
            strict(),
            lenient(),
            ParseOptions {
                classic_histograms: true,
                ..lenient()
            },
        ] {
            let p = parse(input, options);
            if !options.classic_histograms {
                let expected_samples = if complete == 0 {
                    0
                } else {
                    full[complete - 1].samples.len()
                };
                assert_eq!(p.samples.len(), expected_samples, "cut at {cut}");
            }
            if bounds[complete] == cut {
                assert!(p.errors.is_empty(), "cut at {cut}: {:?}", p.errors);
            } else {
                assert_eq!(p.errors.len(), 1, "cut at {cut}: {:?}", p.errors);
                assert_eq!(p.errors[0].line, 0);
                assert_eq!(
                    p.errors[0].column as usize, bounds[complete],
                    "cut at {cut}"
                );
                assert!(matches!(p.errors[0].kind, ErrorKind::Protobuf(_)));
            }
        }
        match decode_delimited(input) {
            Ok(f) => {
                assert_eq!(bounds[complete], cut);
                assert_eq!(f.len(), complete);
            }
            Err(e) => assert_eq!(e.column as usize, bounds[complete]),
        }
    }
}

#[test]
fn lenient_mode_skips_a_corrupt_family() {
    let families = three_families();
    let mut bytes = encode(&families);
    let bounds = boundaries(&families);
    // Corrupt the body of the second family: field 0 is never valid.
    let prefix_len = if bytes[bounds[1]] & 0x80 != 0 { 2 } else { 1 };
    bytes[bounds[1] + prefix_len] = 0x07;

    let p = parse(&bytes, lenient());
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert_eq!(p.errors[0].column as usize, bounds[1]);
    assert_eq!(
        p.families.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["a", "c_total"]
    );
    assert_eq!(p.samples.len(), 3);

    let p = parse(&bytes, strict());
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.samples.len(), 2);
    assert!(decode_delimited(&bytes).is_err());

    // A prefix that announces more bytes than there are ends parsing in any mode.
    let mut bad = encode(&families[..1]);
    bad.extend_from_slice(&[0xff, 0x01, 0x00]);
    bad.extend(encode(&families[2..]));
    let p = parse(&bad, lenient());
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.samples.len(), 2);
}

#[test]
fn semantic_errors() {
    let bad = [
        // Empty metric name.
        family_of("", pb::MetricType::Gauge, vec![gauge(vec![], 1.0)]),
        // Unknown type.
        pb::MetricFamily {
            r#type: Some(17),
            ..family_of("x", pb::MetricType::Gauge, vec![gauge(vec![], 1.0)])
        },
        // Empty label name.
        family_of(
            "x",
            pb::MetricType::Gauge,
            vec![gauge(vec![lp("", "v")], 1.0)],
        ),
        // Duplicate label names.
        family_of(
            "x",
            pb::MetricType::Gauge,
            vec![gauge(vec![lp("a", "1"), lp("a", "2")], 1.0)],
        ),
        family_of(
            "x",
            pb::MetricType::Gauge,
            vec![gauge(vec![lp("__name__", "y")], 1.0)],
        ),
        family_of(
            "x",
            pb::MetricType::Histogram,
            vec![pb::Metric {
                label: vec![lp("le", "1")],
                histogram: Some(Default::default()),
                ..Default::default()
            }],
        ),
        // Unit that is not a suffix of the name.
        pb::MetricFamily {
            unit: Some(s("bytes")),
            ..family_of("x_seconds", pb::MetricType::Gauge, vec![gauge(vec![], 1.0)])
        },
    ];
    let good = family_of("ok", pb::MetricType::Gauge, vec![gauge(vec![], 1.0)]);
    for (i, f) in bad.iter().enumerate() {
        let bytes = encode(&[f.clone(), good.clone()]);
        let p = parse(&bytes, strict());
        assert_eq!(p.errors.len(), 1, "case {i}");
        assert!(p.order.is_empty(), "case {i}: {}", p.order);
        let p = parse(&bytes, lenient());
        assert_eq!(p.errors.len(), 1, "case {i}");
        assert_eq!(p.order, "HTS", "case {i}");
    }
    let dup = parse(&encode(&bad[3..4]), strict());
    assert_eq!(dup.errors[0].kind, ErrorKind::DuplicateLabel(s("a")));

    // Not errors, as in Prometheus: a mismatched value field reads as 0, a counter unit
    // before `_total`, `le` on a gauge.
    let odd = [
        family_of(
            "x",
            pb::MetricType::Counter,
            vec![gauge(vec![lp("le", "1")], 5.0)],
        ),
        pb::MetricFamily {
            unit: Some(s("seconds")),
            ..family_of(
                "x_seconds_total",
                pb::MetricType::Counter,
                vec![counter(vec![], 1.0)],
            )
        },
    ];
    let p = parse(&encode(&odd), strict());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(
        p.samples[0],
        (s("x"), l(&[("le", "1")]), 0f64.to_bits(), None)
    );
    assert_eq!(p.order, "HTSHUTS");
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let valid = encode(&three_families());
    for round in 0..2000 {
        let mut bytes = valid.clone();
        // Flip a few pseudo-random bytes.
        for _ in 0..(1 + round % 4) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed % bytes.len() as u64) as usize;
            bytes[i] = (seed >> 32) as u8;
        }
        let _ = parse(&bytes, lenient());
        let _ = parse(
            &bytes,
            ParseOptions {
                classic_histograms: true,
                ..strict()
            },
        );
        let _ = decode_delimited(&bytes);
    }
}

// ---------------------------------------------------------------------------
// Random round trips
// ---------------------------------------------------------------------------

fn nan_normal(v: f64) -> u64 {
    if v.is_nan() {
        NORMAL_NAN_BITS
    } else {
        v.to_bits()
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6f64..1e6,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(0.0),
        1 => any::<f64>(),
    ]
}

fn labels() -> impl Strategy<Value = Vec<pb::LabelPair>> {
    prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", "\\PC{0,8}", 0..4).prop_map(|m| {
        m.into_iter()
            .filter(|(k, _)| k != "le" && k != "quantile" && k != "__name__")
            .map(|(k, v)| pb::LabelPair::new(k, v))
            .collect()
    })
}

fn metric_of(kind: u8) -> BoxedStrategy<pb::Metric> {
    let ts = prop::option::of(-1_000_000_000_000i64..4_000_000_000_000);
    match kind {
        0 => (labels(), value(), ts)
            .prop_map(|(label, v, timestamp_ms)| pb::Metric {
                timestamp_ms,
                ..counter(label, v)
            })
            .boxed(),
        1 => (labels(), value(), ts)
            .prop_map(|(label, v, timestamp_ms)| pb::Metric {
                timestamp_ms,
                ..gauge(label, v)
            })
            .boxed(),
        2 => (
            labels(),
            any::<u64>(),
            value(),
            prop::collection::vec((0.0f64..=1.0, value()), 0..4),
            ts,
        )
            .prop_map(|(label, count, sum, qs, timestamp_ms)| pb::Metric {
                label,
                timestamp_ms,
                summary: Some(pb::Summary {
                    sample_count: Some(count),
                    sample_sum: Some(sum),
                    quantile: qs
                        .into_iter()
                        .map(|(q, v)| pb::Quantile {
                            quantile: Some(q),
                            value: Some(v),
                        })
                        .collect(),
                    created_timestamp: None,
                }),
                ..Default::default()
            })
            .boxed(),
        _ => (
            labels(),
            any::<u32>(),
            value(),
            prop::collection::vec((-1e3f64..1e3, any::<u32>()), 0..5),
            any::<bool>(),
            ts,
        )
            .prop_map(|(label, count, sum, mut bs, inf, timestamp_ms)| {
                bs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut bucket: Vec<pb::Bucket> = bs
                    .into_iter()
                    .map(|(ub, c)| pb::Bucket {
                        upper_bound: Some(ub),
                        cumulative_count: Some(u64::from(c)),
                        ..Default::default()
                    })
                    .collect();
                if inf {
                    bucket.push(pb::Bucket {
                        upper_bound: Some(f64::INFINITY),
                        cumulative_count: Some(u64::from(count)),
                        ..Default::default()
                    });
                }
                pb::Metric {
                    label,
                    timestamp_ms,
                    histogram: Some(pb::Histogram {
                        sample_count: Some(u64::from(count)),
                        sample_sum: Some(sum),
                        bucket,
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            })
            .boxed(),
    }
}

fn families() -> impl Strategy<Value = Vec<pb::MetricFamily>> {
    let one = (0u8..4).prop_flat_map(|kind| {
        (
            "[a-z][a-z0-9_]{0,10}",
            prop::collection::vec(metric_of(kind), 0..4),
            prop::option::of("\\PC{0,12}"),
        )
            .prop_map(move |(name, metric, help)| pb::MetricFamily {
                name: Some(name),
                help,
                r#type: Some(match kind {
                    0 => pb::MetricType::Counter,
                    1 => pb::MetricType::Gauge,
                    2 => pb::MetricType::Summary,
                    _ => pb::MetricType::Histogram,
                } as i32),
                metric,
                unit: None,
            })
    });
    prop::collection::vec(one, 0..5)
}

/// The flattened samples Prometheus's rules give for a family, written independently of
/// the parser.
fn expected(families: &[pb::MetricFamily]) -> (Vec<Sample>, String) {
    let mut out = Vec::new();
    let mut order = String::new();
    for f in families {
        if f.metric.is_empty() {
            continue;
        }
        order.push_str("HT");
        let name = f.name.clone().unwrap();
        for m in &f.metric {
            let base: Vec<(String, String)> = m
                .label
                .iter()
                .map(|l| (l.name.clone().unwrap(), l.value.clone().unwrap()))
                .collect();
            let with = |k: &str, v: f64| {
                let mut x = base.clone();
                x.push((s(k), format_openmetrics_float(v)));
                x
            };
            let ts = m.timestamp_ms;
            let mut push = |n: String, labels: Vec<(String, String)>, v: f64| {
                order.push('S');
                out.push((n, labels, nan_normal(v), ts));
            };
            if let Some(c) = &m.counter {
                push(name.clone(), base.clone(), c.value.unwrap());
            } else if let Some(g) = &m.gauge {
                push(name.clone(), base.clone(), g.value.unwrap());
            } else if let Some(sm) = &m.summary {
                push(
                    format!("{name}_count"),
                    base.clone(),
                    sm.sample_count.unwrap() as f64,
                );
                push(format!("{name}_sum"), base.clone(), sm.sample_sum.unwrap());
                for q in &sm.quantile {
                    push(
                        name.clone(),
                        with("quantile", q.quantile.unwrap()),
                        q.value.unwrap(),
                    );
                }
            } else if let Some(h) = &m.histogram {
                let count = h.sample_count.unwrap() as f64;
                push(format!("{name}_count"), base.clone(), count);
                push(format!("{name}_sum"), base.clone(), h.sample_sum.unwrap());
                let mut saw_inf = false;
                for b in &h.bucket {
                    let ub = b.upper_bound.unwrap();
                    push(
                        format!("{name}_bucket"),
                        with("le", ub),
                        b.cumulative_count.unwrap() as f64,
                    );
                    if ub == f64::INFINITY {
                        saw_inf = true;
                        break;
                    }
                }
                if !saw_inf {
                    push(format!("{name}_bucket"), with("le", f64::INFINITY), count);
                }
            }
        }
    }
    (out, order)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_families_round_trip(fams in families()) {
        let bytes = encode(&fams);
        let decoded = decode_delimited(&bytes).unwrap();
        prop_assert_eq!(decoded.len(), fams.len());
        let p = parse(&bytes, strict());
        prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
        let (samples, order) = expected(&fams);
        prop_assert_eq!(p.order, order);
        prop_assert_eq!(p.samples, samples);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse(&bytes, lenient());
        let _ = parse(&bytes, ParseOptions { classic_histograms: true, ..strict() });
        let _ = decode_delimited(&bytes);
    }
}

#[test]
fn label_maps_stay_in_written_order() {
    // Labels come out in the order of the message, then the added `le` / `quantile`.
    let names: BTreeMap<usize, &str> = [(0, "zeta"), (1, "alpha"), (2, "mid")]
        .into_iter()
        .collect();
    let f = family_of(
        "x",
        pb::MetricType::Summary,
        vec![pb::Metric {
            label: names.values().map(|n| lp(n, "v")).collect(),
            summary: Some(pb::Summary {
                quantile: vec![pb::Quantile {
                    quantile: Some(0.99),
                    value: Some(1.0),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }],
    );
    let p = parse(&encode(&[f]), strict());
    let last = &p.samples[2].1;
    assert_eq!(
        last,
        &l(&[
            ("zeta", "v"),
            ("alpha", "v"),
            ("mid", "v"),
            ("quantile", "0.99")
        ])
    );
}
