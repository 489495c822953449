//! Histogram literals (`{{schema:0 sum:5 count:4 buckets:[1 2 1]}}`), their arithmetic
//! and comparison, and the classic-to-custom-bucket conversion of `load_with_nhcb`.

use std::collections::BTreeMap;
use std::fmt::Write;

use narthex_model::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Span};

use crate::script::{hint_name, parse_number};

/// A histogram value of a script, with whether its literal spelled the counter-reset hint
/// (the hint is compared only then).
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramValue {
    /// The histogram.
    pub h: FloatHistogram,
    /// Whether `counter_reset_hint:` was written.
    pub hint_given: bool,
}

fn parse_list(v: &str) -> Result<Vec<f64>, String> {
    let inner = v
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| format!("expected a [list], got {v:?}"))?;
    inner.split_whitespace().map(parse_number).collect()
}

fn parse_int(v: &str) -> Result<i32, String> {
    v.parse()
        .map_err(|_| format!("expected an integer, got {v:?}"))
}

/// One span covering `len` buckets from `offset`.
fn one_span(offset: i32, len: usize) -> Vec<Span> {
    if len == 0 {
        Vec::new()
    } else {
        vec![Span {
            offset,
            length: len as u32,
        }]
    }
}

/// Parses `{{key:value …}}`.
pub(crate) fn parse_literal(s: &str) -> Result<HistogramValue, String> {
    let inner = s
        .strip_prefix("{{")
        .and_then(|s| s.strip_suffix("}}"))
        .ok_or_else(|| format!("invalid histogram literal {s:?}"))?;
    let mut h = FloatHistogram::default();
    let mut hint_given = false;
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    let (mut offset, mut n_offset) = (0, 0);
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let colon = rest
            .find(':')
            .ok_or_else(|| format!("expected key:value in histogram literal at {rest:?}"))?;
        let key = &rest[..colon];
        let after = &rest[colon + 1..];
        let end = if after.starts_with('[') {
            after
                .find(']')
                .map(|i| i + 1)
                .ok_or_else(|| format!("unterminated list for {key} in {s:?}"))?
        } else {
            after.find(char::is_whitespace).unwrap_or(after.len())
        };
        let v = &after[..end];
        rest = after[end..].trim_start();
        let ctx = |e: String| format!("histogram key {key}: {e}");
        match key {
            "schema" => h.schema = parse_int(v).map_err(ctx)?,
            "sum" => h.sum = parse_number(v).map_err(ctx)?,
            "count" => h.count = parse_number(v).map_err(ctx)?,
            "z_bucket" => h.zero_count = parse_number(v).map_err(ctx)?,
            "z_bucket_w" => h.zero_threshold = parse_number(v).map_err(ctx)?,
            "buckets" => pos = parse_list(v).map_err(ctx)?,
            "n_buckets" => neg = parse_list(v).map_err(ctx)?,
            "offset" => offset = parse_int(v).map_err(ctx)?,
            "n_offset" => n_offset = parse_int(v).map_err(ctx)?,
            "custom_values" => h.custom_values = parse_list(v).map_err(ctx)?,
            "counter_reset_hint" => {
                hint_given = true;
                h.counter_reset_hint = match v {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    _ => return Err(ctx(format!("unknown hint {v:?}"))),
                }
            }
            _ => return Err(format!("unknown histogram key {key:?}")),
        }
    }
    h.positive_spans = one_span(offset, pos.len());
    h.positive_buckets = pos;
    h.negative_spans = one_span(n_offset, neg.len());
    h.negative_buckets = neg;
    Ok(HistogramValue { h, hint_given })
}

/// Bucket index to count, as written (zero counts kept).
pub(crate) fn bucket_map(spans: &[Span], counts: &[f64]) -> BTreeMap<i32, f64> {
    let mut out = BTreeMap::new();
    let mut idx = 0i32;
    let mut it = counts.iter();
    for (i, s) in spans.iter().enumerate() {
        idx = if i == 0 { s.offset } else { idx + s.offset };
        for _ in 0..s.length {
            if let Some(c) = it.next() {
                out.insert(idx, *c);
            }
            idx += 1;
        }
    }
    out
}

/// Spans and counts from a bucket map: consecutive indices share a span.
fn from_map(m: &BTreeMap<i32, f64>) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut counts = Vec::new();
    let mut next = None;
    for (&i, &c) in m {
        match (next, spans.last_mut()) {
            (Some(n), Some(last)) if n == i => last.length += 1,
            _ => {
                let offset = match next {
                    None => i,
                    Some(n) => i - n,
                };
                spans.push(Span { offset, length: 1 });
            }
        }
        counts.push(c);
        next = Some(i + 1);
    }
    (spans, counts)
}

/// Bucket map of a histogram of schema `from` at the lower resolution `to` (Prometheus's
/// `targetIdx`: buckets merge in groups of `2^(from-to)`).
fn reduce_resolution(m: BTreeMap<i32, f64>, from: i32, to: i32) -> BTreeMap<i32, f64> {
    if from <= to || from == CUSTOM_BUCKETS_SCHEMA || to == CUSTOM_BUCKETS_SCHEMA {
        return m;
    }
    let mut out = BTreeMap::new();
    for (i, c) in m {
        *out.entry(((i - 1) >> (from - to)) + 1).or_insert(0.0) += c;
    }
    out
}

/// `a + k·b`, field by field (bucket layouts merged). As Prometheus's `Add`, the result
/// has the lower of the two exponential schemas.
pub(crate) fn add_scaled(a: &HistogramValue, b: &FloatHistogram, k: f64) -> HistogramValue {
    let mut h = a.h.clone();
    let target = if a.h.schema == CUSTOM_BUCKETS_SCHEMA || b.schema == CUSTOM_BUCKETS_SCHEMA {
        a.h.schema
    } else {
        a.h.schema.min(b.schema)
    };
    h.schema = target;
    h.count += k * b.count;
    h.sum += k * b.sum;
    h.zero_count += k * b.zero_count;
    h.zero_threshold = h.zero_threshold.max(b.zero_threshold);
    if h.custom_values.is_empty() {
        h.custom_values = b.custom_values.clone();
    }
    for (spans, counts, bs, bc) in [
        (
            &mut h.positive_spans,
            &mut h.positive_buckets,
            &b.positive_spans,
            &b.positive_buckets,
        ),
        (
            &mut h.negative_spans,
            &mut h.negative_buckets,
            &b.negative_spans,
            &b.negative_buckets,
        ),
    ] {
        let mut m = reduce_resolution(bucket_map(spans, counts), a.h.schema, target);
        for (i, c) in reduce_resolution(bucket_map(bs, bc), b.schema, target) {
            *m.entry(i).or_insert(0.0) += k * c;
        }
        let (s, c) = from_map(&m);
        *spans = s;
        *counts = c;
    }
    HistogramValue {
        h,
        hint_given: a.hint_given,
    }
}

/// Non-empty buckets of one side.
fn compact(spans: &[Span], counts: &[f64]) -> Vec<(i32, f64)> {
    bucket_map(spans, counts)
        .into_iter()
        .filter(|(_, c)| *c != 0.0)
        .collect()
}

/// Upstream's `almost.Equal`: relative tolerance `eps`, NaN equals NaN.
pub(crate) fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a == b {
        return true;
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// Compares an expected histogram with an actual one the way upstream does: after
/// compacting both, with tolerance on counts and sums, and the hint only if spelled.
/// Returns a description of the first difference.
pub(crate) fn compare(exp: &HistogramValue, got: &FloatHistogram, eps: f64) -> Result<(), String> {
    let e = &exp.h;
    if exp.hint_given && e.counter_reset_hint != got.counter_reset_hint {
        return Err(format!(
            "counter reset hint {} != {}",
            hint_name(e.counter_reset_hint),
            hint_name(got.counter_reset_hint)
        ));
    }
    if e.schema != got.schema {
        return Err(format!("schema {} != {}", e.schema, got.schema));
    }
    let checks = [
        ("count", e.count, got.count),
        ("sum", e.sum, got.sum),
        ("zero count", e.zero_count, got.zero_count),
    ];
    for (what, a, b) in checks {
        if !almost_equal(a, b, eps) {
            return Err(format!("{what} {a} != {b}"));
        }
    }
    if e.zero_threshold != got.zero_threshold {
        return Err(format!(
            "zero threshold {} != {}",
            e.zero_threshold, got.zero_threshold
        ));
    }
    if e.schema == CUSTOM_BUCKETS_SCHEMA && e.custom_values != got.custom_values {
        return Err(format!(
            "custom values {:?} != {:?}",
            e.custom_values, got.custom_values
        ));
    }
    for (side, es, ec, gs, gc) in [
        (
            "positive",
            &e.positive_spans,
            &e.positive_buckets,
            &got.positive_spans,
            &got.positive_buckets,
        ),
        (
            "negative",
            &e.negative_spans,
            &e.negative_buckets,
            &got.negative_spans,
            &got.negative_buckets,
        ),
    ] {
        let a = compact(es, ec);
        let b = compact(gs, gc);
        let same = a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| x.0 == y.0 && almost_equal(x.1, y.1, eps));
        if !same {
            return Err(format!("{side} buckets {a:?} != {b:?}"));
        }
    }
    Ok(())
}

/// A histogram in the literal syntax (absolute counts, one span per run), for messages.
pub(crate) fn format(h: &FloatHistogram) -> String {
    let mut s = String::from("{{");
    let _ = write!(s, "schema:{} count:{} sum:{}", h.schema, h.count, h.sum);
    if h.zero_count != 0.0 || h.zero_threshold != 0.0 {
        let _ = write!(
            s,
            " z_bucket:{} z_bucket_w:{}",
            h.zero_count, h.zero_threshold
        );
    }
    for (name, spans, counts) in [
        ("buckets", &h.positive_spans, &h.positive_buckets),
        ("n_buckets", &h.negative_spans, &h.negative_buckets),
    ] {
        let m = bucket_map(spans, counts);
        if !m.is_empty() {
            let items: Vec<String> = m.iter().map(|(i, c)| format!("{i}:{c}")).collect();
            let _ = write!(s, " {name}:[{}]", items.join(" "));
        }
    }
    if !h.custom_values.is_empty() {
        let items: Vec<String> = h.custom_values.iter().map(|v| v.to_string()).collect();
        let _ = write!(s, " custom_values:[{}]", items.join(" "));
    }
    if h.counter_reset_hint != CounterResetHint::Unknown {
        let _ = write!(s, " counter_reset_hint:{}", hint_name(h.counter_reset_hint));
    }
    s.push_str("}}");
    s
}

/// One classic histogram at one timestamp: `le` bound to cumulative count, plus the
/// `_count` and `_sum` values when present.
#[derive(Default, Debug)]
pub(crate) struct ClassicPoint {
    pub(crate) buckets: Vec<(f64, f64)>,
    pub(crate) count: Option<f64>,
    pub(crate) sum: Option<f64>,
}

/// Converts a classic histogram point into a native histogram with custom buckets
/// (schema -53) whose bounds are `bounds` (finite, ascending). Returns `None` when the
/// point has no buckets.
pub(crate) fn classic_to_nhcb(p: &ClassicPoint, bounds: &[f64]) -> Option<FloatHistogram> {
    if p.buckets.is_empty() {
        return None;
    }
    let mut cum: Vec<(f64, f64)> = p.buckets.clone();
    cum.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Cumulative count at each bound (and +Inf); a missing bound repeats the previous.
    let lookup = |le: f64, prev: f64| cum.iter().find(|(b, _)| *b == le).map_or(prev, |(_, c)| *c);
    let mut counts = Vec::with_capacity(bounds.len() + 1);
    let mut prev = 0.0;
    for &b in bounds.iter().chain(std::iter::once(&f64::INFINITY)) {
        let c = lookup(b, prev);
        counts.push(c - prev);
        prev = c;
    }
    let inf_count = prev;
    let h = FloatHistogram {
        counter_reset_hint: CounterResetHint::Unknown,
        schema: CUSTOM_BUCKETS_SCHEMA,
        zero_threshold: 0.0,
        zero_count: 0.0,
        count: p.count.unwrap_or(inf_count),
        sum: p.sum.unwrap_or(0.0),
        positive_spans: one_span(0, counts.len()),
        positive_buckets: counts,
        negative_spans: Vec::new(),
        negative_buckets: Vec::new(),
        custom_values: bounds.to_vec(),
    };
    Some(h)
}
