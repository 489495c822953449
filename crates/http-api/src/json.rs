//! JSON text as Prometheus writes it: strings escaped like Go's `encoding/json` (and
//! jsoniter's standard-library mode), sample values as quoted Go float text, timestamps as
//! float seconds, native histograms with bucket boundary codes.

use narthex_model::float::{push_api_timestamp, push_api_value};
use narthex_model::{CUSTOM_BUCKETS_SCHEMA, FloatHistogram, Labels, Span};
use narthex_promql::{FPoint, HPoint, Sample, Series, Value};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it with HTML escaping:
/// `"` and `\` escaped, `\n` `\r` `\t` short, other control bytes and `<` `>` `&` as
/// `\u00XX`, U+2028 and U+2029 as `\u2028`/`\u2029`.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let esc: Option<&[u8]> = match c {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f | b'<' | b'>' | b'&' => Some(b""),
            0xe2 if i + 2 < b.len()
                && b[i + 1] == 0x80
                && (b[i + 2] == 0xa8 || b[i + 2] == 0xa9) =>
            {
                out.extend_from_slice(&b[start..i]);
                out.extend_from_slice(if b[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
                continue;
            }
            _ => None,
        };
        if let Some(e) = esc {
            out.extend_from_slice(&b[start..i]);
            if e.is_empty() {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 0xf) as usize]);
            } else {
                out.extend_from_slice(e);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// A float as a quoted API value: `"1.5"`, `"NaN"`, `"+Inf"`.
pub(crate) fn push_value(out: &mut Vec<u8>, f: f64) {
    out.push(b'"');
    push_api_value(out, f);
    out.push(b'"');
}

/// A label set as a JSON object in label order.
pub(crate) fn push_labels(out: &mut Vec<u8>, l: &Labels) {
    out.push(b'{');
    for (i, lb) in l.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, &lb.name);
        out.push(b':');
        push_str(out, &lb.value);
    }
    out.push(b'}');
}

/// `[ts,"value"]`.
pub(crate) fn push_fpoint(out: &mut Vec<u8>, t: i64, f: f64) {
    out.push(b'[');
    push_api_timestamp(out, t);
    out.push(b',');
    push_value(out, f);
    out.push(b']');
}

/// `[ts,{histogram}]`.
pub(crate) fn push_hpoint(out: &mut Vec<u8>, t: i64, h: &FloatHistogram) {
    out.push(b'[');
    push_api_timestamp(out, t);
    out.push(b',');
    push_histogram(out, h);
    out.push(b']');
}

/// A string list as a JSON array.
pub(crate) fn push_str_array(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, s);
    }
    out.push(b']');
}

/// A query value as the `result` of Prometheus's query data.
pub(crate) fn push_result(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Scalar { t, v } => push_fpoint(out, *t, *v),
        Value::String { t, s } => {
            out.push(b'[');
            push_api_timestamp(out, *t);
            out.push(b',');
            push_str(out, s);
            out.push(b']');
        }
        Value::Vector(samples) => {
            out.push(b'[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_sample(out, s);
            }
            out.push(b']');
        }
        Value::Matrix(series) => {
            out.push(b'[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_series(out, s);
            }
            out.push(b']');
        }
    }
}

fn push_sample(out: &mut Vec<u8>, s: &Sample) {
    out.extend_from_slice(b"{\"metric\":");
    push_labels(out, &s.metric);
    match &s.h {
        Some(h) => {
            out.extend_from_slice(b",\"histogram\":");
            push_hpoint(out, s.t, h);
        }
        None => {
            out.extend_from_slice(b",\"value\":");
            push_fpoint(out, s.t, s.f);
        }
    }
    out.push(b'}');
}

fn push_series(out: &mut Vec<u8>, s: &Series) {
    out.extend_from_slice(b"{\"metric\":");
    push_labels(out, &s.metric);
    if !s.floats.is_empty() {
        // `[1700000000,"12.5"],` is about 20 bytes; reserving once saves regrowing a
        // multi-megabyte answer several times.
        out.reserve(s.floats.len() * 24);
        out.extend_from_slice(b",\"values\":[");
        for (i, FPoint { t, f }) in s.floats.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_fpoint(out, *t, *f);
        }
        out.push(b']');
    }
    if !s.histograms.is_empty() {
        out.extend_from_slice(b",\"histograms\":[");
        for (i, HPoint { t, h }) in s.histograms.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_hpoint(out, *t, h);
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// One bucket as Prometheus's bucket iterators yield it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Bucket {
    pub(crate) lower: f64,
    pub(crate) upper: f64,
    pub(crate) lower_inclusive: bool,
    pub(crate) upper_inclusive: bool,
    pub(crate) count: f64,
}

impl Bucket {
    /// Prometheus's boundary rule code: 0 open left, 1 open right, 2 open both, 3 closed both.
    fn boundaries(&self) -> u8 {
        match (self.lower_inclusive, self.upper_inclusive) {
            (true, true) => 3,
            (true, false) => 1,
            (false, true) => 0,
            (false, false) => 2,
        }
    }
}

/// `{"count":"..","sum":"..","buckets":[[rule,"lower","upper","count"],...]}`; buckets
/// with a zero count are left out, as Prometheus does.
pub(crate) fn push_histogram(out: &mut Vec<u8>, h: &FloatHistogram) {
    out.extend_from_slice(b"{\"count\":");
    push_value(out, h.count);
    out.extend_from_slice(b",\"sum\":");
    push_value(out, h.sum);
    let mut found = false;
    for b in all_buckets(h) {
        if b.count == 0.0 {
            continue;
        }
        out.push(b',');
        if !found {
            out.extend_from_slice(b"\"buckets\":[");
            found = true;
        }
        out.push(b'[');
        out.push(b'0' + b.boundaries());
        out.push(b',');
        push_value(out, b.lower);
        out.push(b',');
        push_value(out, b.upper);
        out.push(b',');
        push_value(out, b.count);
        out.push(b']');
    }
    if found {
        out.push(b']');
    }
    out.push(b'}');
}

/// Bucket indexes and counts of one side, in ascending index order.
fn side(spans: &[Span], counts: &[f64]) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(counts.len());
    let mut next: i32 = 0;
    let mut k = 0;
    for s in spans {
        next = next.saturating_add(s.offset);
        for _ in 0..s.length {
            let Some(&c) = counts.get(k) else {
                return out;
            };
            out.push((next, c));
            k += 1;
            next = next.saturating_add(1);
        }
    }
    out
}

/// Every bucket from the most negative to the most positive, the zero bucket (when it has
/// observations) in between: Prometheus's `AllBucketIterator`.
pub(crate) fn all_buckets(h: &FloatHistogram) -> Vec<Bucket> {
    let custom = h.schema == CUSTOM_BUCKETS_SCHEMA;
    let mut out = Vec::new();
    let neg = side(&h.negative_spans, &h.negative_buckets);
    for &(idx, count) in neg.iter().rev() {
        let lower = -bound(idx, h.schema, &h.custom_values);
        let mut upper = -bound(idx.saturating_sub(1), h.schema, &h.custom_values);
        let (li, ui) = if custom {
            (idx == 0, true)
        } else {
            (lower < 0.0, upper > 0.0)
        };
        if upper > -h.zero_threshold {
            upper = -h.zero_threshold;
        }
        out.push(Bucket {
            lower,
            upper,
            lower_inclusive: li,
            upper_inclusive: ui,
            count,
        });
    }
    if h.zero_count > 0.0 {
        out.push(Bucket {
            lower: -h.zero_threshold,
            upper: h.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: h.zero_count,
        });
    }
    for (idx, count) in side(&h.positive_spans, &h.positive_buckets) {
        let mut lower = bound(idx.saturating_sub(1), h.schema, &h.custom_values);
        let upper = bound(idx, h.schema, &h.custom_values);
        let (li, ui) = if custom {
            (idx == 0, true)
        } else {
            (lower < 0.0, upper > 0.0)
        };
        if !custom && lower < h.zero_threshold {
            lower = h.zero_threshold;
        }
        out.push(Bucket {
            lower,
            upper,
            lower_inclusive: li,
            upper_inclusive: ui,
            count,
        });
    }
    out
}

/// `frac * 2^exp` without intermediate overflow or underflow (Go's `math.Ldexp` for the
/// values bucket bounds need).
fn ldexp(frac: f64, exp: i32) -> f64 {
    let mut v = frac;
    let mut e = exp;
    while e > 1000 {
        v *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        v *= 2f64.powi(-1000);
        e += 1000;
    }
    v * 2f64.powi(e)
}

/// Upper bound of bucket `idx` (Prometheus's `getBound`).
fn bound(idx: i32, schema: i32, custom: &[f64]) -> f64 {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        let len = custom.len() as i64;
        let i = idx as i64;
        return if i >= len {
            f64::INFINITY
        } else if i < 0 {
            f64::NEG_INFINITY
        } else {
            custom[i as usize]
        };
    }
    if schema <= 0 {
        let exp = (idx as i64) << (-schema).clamp(0, 31);
        if exp == 1024 {
            return f64::MAX;
        }
        return ldexp(1.0, exp.clamp(-2000, 2000) as i32);
    }
    let schema = schema.min(30);
    let frac_idx = idx & ((1 << schema) - 1);
    // Go's table holds 2^(j/2^schema)/2 for j in 0..2^schema.
    let frac = (frac_idx as f64 / (1u64 << schema) as f64).exp2() / 2.0;
    let exp = (idx >> schema) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        let mut v = Vec::new();
        push_str(&mut v, x);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings_escape_like_go() {
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("<&>\n\t\r\u{8}"), r#""\u003c\u0026\u003e\n\t\r\u0008""#);
        assert_eq!(s("x\u{2028}y\u{2029}é"), "\"x\\u2028y\\u2029é\"");
    }

    #[test]
    fn exponential_bounds() {
        assert_eq!(bound(0, 0, &[]), 1.0);
        assert_eq!(bound(1, 0, &[]), 2.0);
        assert_eq!(bound(-1, 0, &[]), 0.5);
        assert_eq!(bound(1, 1, &[]), std::f64::consts::SQRT_2);
        assert_eq!(bound(2, -1, &[]), 16.0);
        assert_eq!(bound(256, 2, &[]), 2f64.powi(64));
    }

    #[test]
    fn histogram_json() {
        let h = FloatHistogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 2.0,
            count: 10.0,
            sum: 18.4,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![3.0, 4.0],
            negative_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            negative_buckets: vec![1.0],
            ..Default::default()
        };
        let mut v = Vec::new();
        push_histogram(&mut v, &h);
        assert_eq!(
            String::from_utf8(v).unwrap(),
            r#"{"count":"10","sum":"18.4","buckets":[[1,"-1","-0.5","1"],[3,"-0.001","0.001","2"],[0,"0.5","1","3"],[0,"1","2","4"]]}"#
        );
    }
}
