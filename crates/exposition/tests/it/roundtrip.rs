//! Property tests: writing families and parsing them back gives the same families, and the
//! text parsers neither panic nor loop on arbitrary bytes.
//!
//! The generators build `Vec<MetricFamily>` that are valid for the target format with
//! family checks on, so the strict parsers must accept what the writers produce. The rules
//! they respect:
//! - family names are unique and end in `_f<index>` (plus `_<unit>` when there is a unit),
//!   so no family name is another's name plus a sample suffix (`_total`, `_bucket`,
//!   `_count`, `_sum`, `_created`) and no family "claims" another's samples;
//! - names, label names and label values may be any UTF-8 (non-legacy names are written
//!   quoted); label names are unique within a sample, and never `__name__`, `le` or
//!   `quantile` except where the parser expects them;
//! - each metric (label set) of a family appears once, with one timestamp (or none) for
//!   all its samples, so samples are grouped and timestamps never go backwards;
//! - counters: one `_total` sample (text format: the family's own name) per metric, not
//!   negative and not NaN, optionally `_created` (OpenMetrics); exemplars only on `_total`
//!   and `_bucket`, with at most 128 characters of labels;
//! - histograms: `_bucket` samples with strictly ascending `le` ending in `+Inf` and
//!   non-decreasing counts, then `_count` (equal to the `+Inf` bucket) and `_sum` together
//!   or not at all, and never with a negative bucket;
//! - summaries: `quantile` in `[0, 1]`, quantile values not negative, `_count` and `_sum`
//!   not negative and not NaN;
//! - `le` and `quantile` values are written in canonical float text (as the parsers
//!   rewrite them), so that normalisation is the identity;
//! - text format: HELP text does not start with a blank (the parser skips blanks after the
//!   name, as Go's does); no units, no exemplars, no `_created` (the text format has none);
//! - OpenMetrics: a unit is a `_`-suffix of its family's name; timestamps are any
//!   millisecond count but `i64::MIN` (written as exact seconds, read back exactly).
//!
//! Expected normalisations, applied to the generated families before comparing: a NaN
//! sample value reads as [`NORMAL_NAN_BITS`], a NaN exemplar value as `f64::NAN`, and `-0`
//! reads as `0` (both writers write negative zero as `0`).

use std::collections::BTreeSet;

use narthex_exposition::{
    FamilySample, MetricFamily, NORMAL_NAN_BITS, OpenMetricsParser, ParseOptions, TextParser,
    read_families, write_openmetrics, write_text,
};
use narthex_model::float::format_openmetrics_float;
use narthex_model::{Exemplar, Label, Labels, MetricType};
use proptest::prelude::*;

use crate::fuzz_regressions::{drain, option_matrix};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fmt {
    Text,
    Om,
}

/// A metric or label name: legacy most of the time, otherwise any UTF-8 (written quoted).
fn name_base(label: bool) -> impl Strategy<Value = String> {
    let legacy = if label {
        "[a-zA-Z_][a-zA-Z0-9_]{0,6}"
    } else {
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,6}"
    };
    prop_oneof![
        3 => legacy,
        1 => "[a-z.é😀\"\\\\{}= \n,#-]{1,6}",
        1 => "\\PC{1,4}",
    ]
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{0,6}",
        "[a-z\\\\\"\n é😀{}=,# \t\r]{0,10}",
        "\\PC{0,6}",
    ]
}

fn labels(max: usize) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name_base(true), label_value()), 0..=max).prop_map(|ls| {
        let mut seen = BTreeSet::new();
        ls.into_iter()
            .filter(|(n, _)| !matches!(n.as_str(), "__name__" | "le" | "quantile"))
            .filter(|(n, _)| seen.insert(n.clone()))
            .collect()
    })
}

/// Any float, with the interesting ones often.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            1.0,
            -1.0,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            -f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::MAX,
            f64::MIN,
            1e-300,
            1e300,
            0.1,
            123456789.0,
            1e21,
        ]),
        2 => -1e6..1e6f64,
    ]
}

/// Not negative and not NaN (counters, counts).
fn count() -> impl Strategy<Value = f64> {
    value().prop_map(|v| if v.is_nan() { 0.0 } else { v.abs() })
}

fn help(fmt: Fmt) -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop_oneof!["[a-zA-Z .]{0,12}", "[a-z\\\\\"\n\t é😀]{0,12}", "\\PC{0,8}",].prop_map(
            move |h| match fmt {
                Fmt::Text => h.trim_start_matches([' ', '\t']).to_string(),
                Fmt::Om => h,
            },
        ),
    )
}

fn timestamp(fmt: Fmt) -> impl Strategy<Value = Option<i64>> {
    let ms = match fmt {
        Fmt::Text => any::<i64>().boxed(),
        Fmt::Om => prop_oneof![
            2 => -2_000_000_000_000i64..4_000_000_000_000,
            1 => (i64::MIN + 1)..=i64::MAX,
        ]
        .boxed(),
    };
    prop::option::of(ms)
}

fn exemplar(fmt: Fmt) -> BoxedStrategy<Option<Exemplar>> {
    if fmt == Fmt::Text {
        return Just(None).boxed();
    }
    prop::option::weighted(
        0.3,
        (
            prop::collection::vec(("[a-z_]{1,8}", "[a-z0-9é\"\\\\\n]{0,16}"), 0..=3),
            value(),
            prop::option::of(-1_000_000_000_000i64..4_000_000_000_000),
        )
            .prop_map(|(ls, value, timestamp)| {
                let mut seen = BTreeSet::new();
                let ls: Vec<Label> = ls
                    .into_iter()
                    .filter(|(n, _)| seen.insert(n.clone()))
                    .map(|(n, v)| Label::new(n, v))
                    .collect();
                Exemplar {
                    labels: Labels::from_labels(ls),
                    value,
                    timestamp,
                }
            }),
    )
    .boxed()
}

/// One metric: its labels, timestamp and the material for its samples.
#[derive(Clone, Debug)]
struct MetricSpec {
    labels: Vec<(String, String)>,
    timestamp: Option<i64>,
    value: f64,
    count: f64,
    created: Option<f64>,
    exemplar: Option<Exemplar>,
    /// Summary quantiles and their values; histogram bucket bounds and counts.
    points: Vec<(f64, f64)>,
    with_count_and_sum: bool,
    bucket_exemplars: Vec<Option<Exemplar>>,
}

fn metric(fmt: Fmt) -> impl Strategy<Value = MetricSpec> {
    (
        labels(3),
        timestamp(fmt),
        value(),
        count(),
        prop::option::of(count()),
        exemplar(fmt),
        prop::collection::vec((value(), value()), 0..5),
        any::<bool>(),
        prop::collection::vec(exemplar(fmt), 6),
    )
        .prop_map(
            move |(labels, timestamp, value, count, created, exemplar, points, cs, bx)| {
                MetricSpec {
                    labels,
                    timestamp,
                    value,
                    count,
                    created: if fmt == Fmt::Om { created } else { None },
                    exemplar,
                    points,
                    with_count_and_sum: cs,
                    bucket_exemplars: bx,
                }
            },
        )
}

#[derive(Clone, Debug)]
struct FamilySpec {
    base: String,
    metric_type: MetricType,
    help: Option<String>,
    unit: Option<String>,
    metrics: Vec<MetricSpec>,
}

fn family_spec(fmt: Fmt) -> impl Strategy<Value = FamilySpec> {
    let unit = match fmt {
        Fmt::Text => Just(None).boxed(),
        Fmt::Om => prop::option::weighted(
            0.3,
            prop::sample::select(vec!["seconds", "bytes", "ratio", "celsius"])
                .prop_map(String::from),
        )
        .boxed(),
    };
    (
        name_base(false),
        prop::sample::select(vec![
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::Summary,
            MetricType::Unknown,
        ]),
        help(fmt),
        unit,
        prop::collection::vec(metric(fmt), 0..4),
    )
        .prop_map(|(base, metric_type, help, unit, metrics)| FamilySpec {
            base,
            metric_type,
            help,
            unit,
            metrics,
        })
}

fn sample(
    name: &str,
    labels: &[(String, String)],
    extra: Option<(&str, String)>,
    value: f64,
    m: &MetricSpec,
) -> FamilySample {
    let mut ls: Vec<Label> = labels
        .iter()
        .map(|(n, v)| Label::new(n.as_str(), v.as_str()))
        .collect();
    if let Some((n, v)) = extra {
        ls.push(Label::new(n, v));
    }
    FamilySample {
        name: name.to_string(),
        labels: ls,
        value,
        timestamp: m.timestamp,
        exemplar: None,
    }
}

fn build(fmt: Fmt, index: usize, spec: FamilySpec) -> MetricFamily {
    let mut name = format!("{}_f{index}", spec.base);
    if let Some(u) = &spec.unit {
        name = format!("{name}_{u}");
    }
    // Metrics with the same label set (in any order) would not be grouped: keep the first.
    let mut seen = BTreeSet::new();
    let metrics: Vec<MetricSpec> = spec
        .metrics
        .into_iter()
        .filter(|m| {
            let mut key = m.labels.clone();
            key.sort();
            seen.insert(key)
        })
        .collect();
    let mut samples = Vec::new();
    for m in &metrics {
        let ls = &m.labels;
        match spec.metric_type {
            MetricType::Counter => {
                let n = match fmt {
                    Fmt::Text => name.clone(),
                    Fmt::Om => format!("{name}_total"),
                };
                let mut s = sample(&n, ls, None, m.count, m);
                s.exemplar = m.exemplar.clone();
                samples.push(s);
                if let Some(c) = m.created {
                    samples.push(sample(&format!("{name}_created"), ls, None, c, m));
                }
            }
            MetricType::Gauge | MetricType::Unknown => {
                samples.push(sample(&name, ls, None, m.value, m))
            }
            MetricType::Summary => {
                let mut qs: Vec<(f64, f64)> = m
                    .points
                    .iter()
                    .map(|(q, v)| {
                        let q = if q.is_finite() { q.abs().fract() } else { 0.5 };
                        (q, if *v < 0.0 { -v } else { *v })
                    })
                    .collect();
                qs.dedup_by(|a, b| a.0 == b.0);
                for (q, v) in qs {
                    let q = format_openmetrics_float(q);
                    samples.push(sample(&name, ls, Some(("quantile", q)), v, m));
                }
                if m.with_count_and_sum {
                    samples.push(sample(&format!("{name}_count"), ls, None, m.count, m));
                    samples.push(sample(&format!("{name}_sum"), ls, None, m.count, m));
                }
                if let Some(c) = m.created {
                    samples.push(sample(&format!("{name}_created"), ls, None, c, m));
                }
            }
            MetricType::Histogram => {
                let mut bounds: Vec<f64> = m
                    .points
                    .iter()
                    .map(|(b, _)| if *b == 0.0 { 0.0 } else { *b })
                    .filter(|b| b.is_finite())
                    .collect();
                bounds.sort_by(f64::total_cmp);
                bounds.dedup();
                bounds.push(f64::INFINITY);
                let mut counts: Vec<f64> = m
                    .points
                    .iter()
                    .map(|(_, c)| if c.is_nan() { 0.0 } else { c.abs() })
                    .chain([m.count])
                    .take(bounds.len())
                    .collect();
                while counts.len() < bounds.len() {
                    counts.push(m.count);
                }
                counts.sort_by(f64::total_cmp);
                let negative = bounds.iter().any(|b| *b < 0.0);
                let n = format!("{name}_bucket");
                for (i, (b, c)) in bounds.iter().zip(&counts).enumerate() {
                    let le = format_openmetrics_float(*b);
                    let mut s = sample(&n, ls, Some(("le", le)), *c, m);
                    s.exemplar = m.bucket_exemplars.get(i).cloned().flatten();
                    samples.push(s);
                }
                if m.with_count_and_sum && !negative {
                    let total = counts.last().copied().unwrap_or(0.0);
                    samples.push(sample(&format!("{name}_count"), ls, None, total, m));
                    samples.push(sample(&format!("{name}_sum"), ls, None, m.count, m));
                }
                if let Some(c) = m.created {
                    samples.push(sample(&format!("{name}_created"), ls, None, c, m));
                }
            }
            _ => unreachable!("not generated"),
        }
    }
    MetricFamily {
        name,
        help: spec.help,
        metric_type: spec.metric_type,
        unit: spec.unit,
        samples,
    }
}

fn families(fmt: Fmt) -> impl Strategy<Value = Vec<MetricFamily>> {
    prop::collection::vec(family_spec(fmt), 0..6).prop_map(move |specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, s)| build(fmt, i, s))
            .collect()
    })
}

/// A comparable copy of families: floats as bits, labels as pairs.
type Pairs = Vec<(String, String)>;
type FlatSample = (
    String,
    Pairs,
    u64,
    Option<i64>,
    Option<(Pairs, u64, Option<i64>)>,
);

#[derive(Debug, PartialEq)]
struct Flat {
    name: String,
    help: Option<String>,
    metric_type: MetricType,
    unit: Option<String>,
    samples: Vec<FlatSample>,
}

/// The families as the parsers give them back: NaN samples become the normal NaN, NaN
/// exemplar values `f64::NAN`, and `-0` becomes `0`.
fn flatten(families: &[MetricFamily]) -> Vec<Flat> {
    let bits = |v: f64, nan: u64| {
        if v.is_nan() {
            nan
        } else if v == 0.0 {
            0
        } else {
            v.to_bits()
        }
    };
    let pairs = |ls: &mut dyn Iterator<Item = &Label>| -> Pairs {
        ls.map(|l| (l.name.to_string(), l.value.to_string()))
            .collect()
    };
    families
        .iter()
        .map(|f| Flat {
            name: f.name.clone(),
            help: f.help.clone(),
            metric_type: f.metric_type,
            unit: f.unit.clone(),
            samples: f
                .samples
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        pairs(&mut s.labels.iter()),
                        bits(s.value, NORMAL_NAN_BITS),
                        s.timestamp,
                        s.exemplar.as_ref().map(|x| {
                            (
                                pairs(&mut x.labels.iter()),
                                bits(x.value, f64::NAN.to_bits()),
                                x.timestamp,
                            )
                        }),
                    )
                })
                .collect(),
        })
        .collect()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_write_then_parse_is_identity(fams in families(Fmt::Text)) {
        let out = write_text(&fams);
        let parsed = read_families(TextParser::new(&out, ParseOptions::default()));
        let text = String::from_utf8_lossy(&out);
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
        };
        prop_assert_eq!(flatten(&parsed), flatten(&fams), "written:\n{}", text);
    }

    #[test]
    fn openmetrics_write_then_parse_is_identity(fams in families(Fmt::Om)) {
        let out = write_openmetrics(&fams);
        let parsed = read_families(OpenMetricsParser::new(&out, ParseOptions::default()));
        let text = String::from_utf8_lossy(&out);
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
        };
        prop_assert_eq!(flatten(&parsed), flatten(&fams), "written:\n{}", text);
    }

    #[test]
    fn text_parser_survives_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        for o in option_matrix(false) {
            drain(TextParser::new(&data, o), o, data.len() + 2, false);
            drain(OpenMetricsParser::new(&data, o), o, data.len() + 3, false);
        }
    }

    #[test]
    fn text_parser_survives_damaged_expositions(
        fams in families(Fmt::Text),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut data = write_text(&fams);
        data.extend_from_slice(&write_openmetrics(&fams));
        for (at, byte) in edits {
            if data.is_empty() {
                data.push(byte);
            } else {
                let i = at.index(data.len());
                data[i] = byte;
            }
        }
        for o in option_matrix(false) {
            let (entries, errors) = drain(TextParser::new(&data, o), o, data.len() + 2, false);
            if o.recovery == narthex_exposition::Recovery::Lenient {
                // Every line is read: an entry, an error, or a blank line.
                prop_assert!(entries + errors <= data.len() + 2);
            }
            drain(OpenMetricsParser::new(&data, o), o, data.len() + 3, false);
        }
    }
}
