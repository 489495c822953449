//! A scrape config's limits on native histograms, applied as Prometheus applies them
//! before appending: `native_histogram_min_bucket_factor` caps the schema, then
//! `native_histogram_bucket_limit` lowers the resolution one schema at a time until the
//! histogram has at most that many buckets, or fails the scrape when even the lowest
//! exponential schema (or a custom-bucket schema, which cannot be lowered) has too many.

use narthex_exposition::HistogramValue;
use narthex_model::{EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN, Span};

/// The bucket limit cannot be met: the scrape fails with Prometheus's
/// "histogram bucket limit exceeded".
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OverLimit;

/// The largest exponential schema whose bucket growth factor is at least `factor`
/// (Prometheus's choice: factors of 1 and below, or none set, allow schema 8).
pub(crate) fn max_schema(factor: f64) -> i32 {
    // Not `factor <= 1.0`: NaN also means no limit.
    let factor = if factor > 1.0 { factor } else { 1.00271 };
    let floor = (-factor.log2().log2()).floor();
    if floor >= f64::from(EXPONENTIAL_SCHEMA_MAX) {
        EXPONENTIAL_SCHEMA_MAX
    } else if floor <= f64::from(EXPONENTIAL_SCHEMA_MIN) {
        EXPONENTIAL_SCHEMA_MIN
    } else {
        floor as i32
    }
}

/// The schema and the number of buckets (positive and negative) of `h`.
fn shape(h: &HistogramValue) -> (i32, usize) {
    match h {
        HistogramValue::Int(x) => (
            x.schema,
            x.positive_buckets.len() + x.negative_buckets.len(),
        ),
        HistogramValue::Float(x) => (
            x.schema,
            x.positive_buckets.len() + x.negative_buckets.len(),
        ),
    }
}

fn exponential(schema: i32) -> bool {
    (EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&schema)
}

/// `h` within `max_schema` and `bucket_limit` buckets (0: no limit): `None` when it
/// already is, else the histogram at the resolution Prometheus would store.
pub(crate) fn fit(
    h: &HistogramValue,
    max_schema: i32,
    bucket_limit: usize,
) -> Result<Option<HistogramValue>, OverLimit> {
    let (schema, buckets) = shape(h);
    let too_many = |n: usize| bucket_limit > 0 && n > bucket_limit;
    if !exponential(schema) {
        return if too_many(buckets) {
            Err(OverLimit)
        } else {
            Ok(None)
        };
    }
    if schema <= max_schema && !too_many(buckets) {
        return Ok(None);
    }
    let mut h = h.clone();
    if schema > max_schema {
        reduce(&mut h, max_schema);
    }
    loop {
        let (schema, n) = shape(&h);
        if !too_many(n) {
            return Ok(Some(h));
        }
        if schema <= EXPONENTIAL_SCHEMA_MIN {
            return Err(OverLimit);
        }
        reduce(&mut h, schema - 1);
    }
}

/// Lowers `h`'s schema to `to`, merging buckets.
fn reduce(h: &mut HistogramValue, to: i32) {
    match h {
        HistogramValue::Int(x) => {
            let from = x.schema;
            for (spans, buckets) in [
                (&mut x.positive_spans, &mut x.positive_buckets),
                (&mut x.negative_spans, &mut x.negative_buckets),
            ] {
                // Deltas to absolute counts and back; wrapping, as the input is untrusted.
                let mut acc = 0i64;
                let abs: Vec<i64> = buckets
                    .iter()
                    .map(|d| {
                        acc = acc.wrapping_add(*d);
                        acc
                    })
                    .collect();
                let (s, merged) = merge(spans, &abs, from, to, |a, b| a.wrapping_add(b));
                let mut prev = 0i64;
                *buckets = merged
                    .into_iter()
                    .map(|c| {
                        let d = c.wrapping_sub(prev);
                        prev = c;
                        d
                    })
                    .collect();
                *spans = s;
            }
            x.schema = to;
        }
        HistogramValue::Float(x) => {
            let from = x.schema;
            let (ps, pb) = merge(&x.positive_spans, &x.positive_buckets, from, to, |a, b| {
                a + b
            });
            let (ns, nb) = merge(&x.negative_spans, &x.negative_buckets, from, to, |a, b| {
                a + b
            });
            (x.positive_spans, x.positive_buckets) = (ps, pb);
            (x.negative_spans, x.negative_buckets) = (ns, nb);
            x.schema = to;
        }
    }
}

/// Buckets (absolute counts along `spans`) at schema `from` merged into schema `to`
/// (`to < from`): bucket `i` becomes bucket `((i - 1) >> (from - to)) + 1`, which covers
/// it. Counts beyond what the spans describe, or spans without counts, are dropped.
fn merge<T: Copy>(
    spans: &[Span],
    counts: &[T],
    from: i32,
    to: i32,
    add: impl Fn(T, T) -> T,
) -> (Vec<Span>, Vec<T>) {
    let shift = (from - to).clamp(0, 63) as u32;
    let mut out_spans: Vec<Span> = Vec::new();
    let mut out: Vec<T> = Vec::new();
    let mut last: Option<i64> = None;
    let mut counts = counts.iter();
    let mut next = 0i64;
    for (n, s) in spans.iter().enumerate() {
        let start = if n == 0 {
            i64::from(s.offset)
        } else {
            next + i64::from(s.offset)
        };
        for j in 0..i64::from(s.length) {
            let Some(&c) = counts.next() else {
                return (out_spans, out);
            };
            let target = ((start + j - 1) >> shift) + 1;
            match (last, out.last_mut(), out_spans.last_mut()) {
                (Some(l), Some(v), _) if target == l => *v = add(*v, c),
                (Some(l), _, Some(sp)) if target == l + 1 => {
                    sp.length += 1;
                    out.push(c);
                }
                (Some(l), _, _) => {
                    out_spans.push(Span {
                        offset: (target - l - 1) as i32,
                        length: 1,
                    });
                    out.push(c);
                }
                (None, _, _) => {
                    out_spans.push(Span {
                        offset: target as i32,
                        length: 1,
                    });
                    out.push(c);
                }
            }
            last = Some(target);
        }
        next = start + i64::from(s.length);
    }
    (out_spans, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_model::{FloatHistogram, Histogram};

    fn span(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    #[test]
    fn schema_from_factor() {
        assert_eq!(max_schema(0.0), 8);
        assert_eq!(max_schema(f64::NAN), 8);
        assert_eq!(max_schema(1.1), 2); // 2^(2^-2) = 1.19 >= 1.1; 2^(2^-3) = 1.09 < 1.1
        assert_eq!(max_schema(2.0), 0);
        assert_eq!(max_schema(4.0), -1);
        assert_eq!(max_schema(1e300), -4);
        assert_eq!(max_schema(f64::INFINITY), -4);
    }

    /// Schema 1 buckets -1..=4 into schema 0: each pair (2k - 1, 2k) becomes bucket k.
    #[test]
    fn merges_pairs_of_buckets() {
        let h = Histogram {
            schema: 1,
            count: 15,
            positive_spans: vec![span(-1, 2), span(0, 4)],
            // Absolute 1, 2, 3, 4, 5, 0.
            positive_buckets: vec![1, 1, 1, 1, 1, -5],
            ..Default::default()
        };
        let Ok(Some(HistogramValue::Int(r))) = fit(&HistogramValue::Int(h), 8, 4) else {
            panic!("not reduced");
        };
        assert_eq!(r.schema, 0);
        // Bucket 0 from -1 and 0, 1 from 1 and 2, 2 from 3 and 4: absolute 3, 7, 5.
        assert_eq!(r.positive_spans, vec![span(0, 3)]);
        assert_eq!(r.positive_buckets, vec![3, 4, -2]);
        assert_eq!(r.count, 15);
    }

    #[test]
    fn limits_and_failures() {
        let f = FloatHistogram {
            schema: 3,
            positive_spans: vec![span(0, 4)],
            positive_buckets: vec![1.0, 2.0, 3.0, 4.0],
            negative_spans: vec![span(5, 1)],
            negative_buckets: vec![0.5],
            ..Default::default()
        };
        let v = HistogramValue::Float(f.clone());
        assert_eq!(fit(&v, 8, 0), Ok(None));
        assert_eq!(fit(&v, 8, 5), Ok(None));
        // Capped at schema 1: positive 0..3 at 3 -> 0, 1, 1, 1 at 1; negative 5 -> 2.
        let Ok(Some(HistogramValue::Float(r))) = fit(&v, 1, 0) else {
            panic!("not capped");
        };
        assert_eq!(r.schema, 1);
        assert_eq!(r.positive_spans, vec![span(0, 2)]);
        assert_eq!(r.positive_buckets, vec![1.0, 9.0]);
        assert_eq!(r.negative_spans, vec![span(2, 1)]);
        assert_eq!(r.negative_buckets, vec![0.5]);
        // Three buckets at most: schema 2 still has four, schema 1 has three.
        let Ok(Some(HistogramValue::Float(r))) = fit(&v, 8, 3) else {
            panic!("not reduced");
        };
        assert_eq!(r.schema, 1);
        assert_eq!(r.positive_buckets, vec![1.0, 9.0]);
        assert_eq!(r.negative_buckets, vec![0.5]);
        // Buckets on both sides of 1 and a negative one never merge: two is impossible.
        assert_eq!(fit(&v, 8, 2), Err(OverLimit));
        // Custom buckets cannot be merged.
        let c = HistogramValue::Float(FloatHistogram {
            schema: narthex_model::CUSTOM_BUCKETS_SCHEMA,
            ..f
        });
        assert_eq!(fit(&c, 0, 5), Ok(None));
        assert_eq!(fit(&c, 8, 4), Err(OverLimit));
    }

    /// Spans that describe more buckets than there are, or huge offsets: no panic.
    #[test]
    fn malformed_input_does_not_panic() {
        let h = Histogram {
            schema: 8,
            positive_spans: vec![span(i32::MAX, 3), span(i32::MAX, u32::MAX)],
            positive_buckets: vec![i64::MAX, i64::MAX, 1, 2],
            negative_spans: vec![span(i32::MIN, 2)],
            negative_buckets: vec![i64::MIN],
            ..Default::default()
        };
        let _ = fit(&HistogramValue::Int(h), -4, 1);
    }
}
