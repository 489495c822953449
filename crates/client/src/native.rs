//! Native histograms: exponential buckets chosen by the observations themselves, exposed
//! in the protobuf format (the text formats see only `_sum`, `_count` and `+Inf`).

use std::collections::BTreeMap;
use std::sync::Arc;

use narthex_exposition::FamilySample;
use narthex_exposition::protobuf::pb;
use narthex_model::MetricType;
use parking_lot::Mutex;

use crate::Metric;

/// The zero bucket's half-width (client_golang's default, 2^-128).
pub const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

#[derive(Debug)]
struct State {
    schema: i32,
    zero_threshold: f64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    count: u64,
    sum: f64,
    zero: u64,
    positive: BTreeMap<i32, u64>,
    negative: BTreeMap<i32, u64>,
}

/// A native histogram: bucket boundaries are powers of `2^(2^-schema)`, buckets exist
/// where observations fell. Observations with an absolute value at most the zero
/// threshold land in the zero bucket; NaN is counted in `count` and `sum` only.
#[derive(Clone, Debug)]
pub struct NativeHistogram(Arc<State>);

/// The schema whose bucket growth factor is the largest not above `factor` (as
/// client_golang picks it): 1.1 gives schema 3 (factor 1.09), 2 gives schema 0.
pub fn schema_for_factor(factor: f64) -> i32 {
    if factor.is_nan() || factor <= 1.0 {
        return 8;
    }
    let floor = factor.log2().log2().floor();
    if floor <= -8.0 {
        8
    } else if floor >= 4.0 {
        -4
    } else {
        -(floor as i32)
    }
}

/// The bucket of `v` (> 0) under `schema`: the `k` with `2^((k-1)/2^s) < v <= 2^(k/2^s)`.
fn bucket_key(v: f64, schema: i32) -> i32 {
    let scale = (2f64).powi(schema);
    let upper = |k: i64| (k as f64 / scale).exp2();
    let mut k = (v.log2() * scale).ceil() as i64;
    // log2 rounds; settle on the bucket the boundaries say.
    while v > upper(k) {
        k += 1;
    }
    while k > i64::from(i32::MIN) && v <= upper(k - 1) {
        k -= 1;
    }
    k.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Spans and deltas of sparse buckets: gaps of one or two empty buckets are written as
/// zero-count buckets (cheaper than a new span), as client_golang does.
fn spans(buckets: &BTreeMap<i32, u64>) -> (Vec<pb::BucketSpan>, Vec<i64>) {
    let mut spans: Vec<pb::BucketSpan> = Vec::new();
    let mut deltas: Vec<i64> = Vec::new();
    let mut prev: Option<(i32, i64)> = None;
    for (&k, &c) in buckets {
        let mut last = 0i64;
        match prev {
            None => spans.push(pb::BucketSpan {
                offset: Some(k),
                length: Some(0),
            }),
            Some((pk, pc)) => {
                last = pc;
                let gap = k - pk - 1;
                if gap <= 2 {
                    for _ in 0..gap {
                        deltas.push(-last);
                        last = 0;
                        if let Some(s) = spans.last_mut() {
                            s.length = Some(s.length.unwrap_or(0) + 1);
                        }
                    }
                } else {
                    spans.push(pb::BucketSpan {
                        offset: Some(gap),
                        length: Some(0),
                    });
                }
            }
        }
        deltas.push(c as i64 - last);
        if let Some(s) = spans.last_mut() {
            s.length = Some(s.length.unwrap_or(0) + 1);
        }
        prev = Some((k, c as i64));
    }
    (spans, deltas)
}

impl NativeHistogram {
    pub(crate) fn new(schema: i32, zero_threshold: f64) -> NativeHistogram {
        NativeHistogram(Arc::new(State {
            schema: schema.clamp(-4, 8),
            zero_threshold: zero_threshold.abs(),
            inner: Mutex::new(Inner::default()),
        }))
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let s = &self.0;
        let mut i = s.inner.lock();
        i.count += 1;
        i.sum += v;
        if v.is_nan() {
            return;
        }
        if v.abs() <= s.zero_threshold {
            i.zero += 1;
        } else if v > 0.0 {
            *i.positive.entry(bucket_key(v, s.schema)).or_default() += 1;
        } else {
            *i.negative.entry(bucket_key(-v, s.schema)).or_default() += 1;
        }
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0.inner.lock().count
    }

    /// Sum of the observations.
    pub fn sum(&self) -> f64 {
        self.0.inner.lock().sum
    }

    /// The schema.
    pub fn schema(&self) -> i32 {
        self.0.schema
    }

    /// The histogram as a protobuf `Histogram` message.
    pub fn to_protobuf(&self) -> pb::Histogram {
        let s = &self.0;
        let i = s.inner.lock();
        let (mut positive_span, positive_delta) = spans(&i.positive);
        let (negative_span, negative_delta) = spans(&i.negative);
        if positive_span.is_empty() && negative_span.is_empty() && i.zero == 0 {
            // An empty span marks the histogram as native to the reader.
            positive_span.push(pb::BucketSpan {
                offset: Some(0),
                length: Some(0),
            });
        }
        pb::Histogram {
            sample_count: Some(i.count),
            sample_sum: Some(i.sum),
            schema: Some(s.schema),
            zero_threshold: Some(s.zero_threshold),
            zero_count: Some(i.zero),
            positive_span,
            positive_delta,
            negative_span,
            negative_delta,
            ..Default::default()
        }
    }
}

impl Metric for NativeHistogram {
    fn fresh(proto: &Self) -> Self {
        NativeHistogram::new(proto.0.schema, proto.0.zero_threshold)
    }

    fn samples(&self, name: &str, labels: &[(&str, &str)], out: &mut Vec<FamilySample>) {
        let (count, sum) = {
            let i = self.0.inner.lock();
            (i.count, i.sum)
        };
        let mut l: Vec<(&str, &str)> = labels.to_vec();
        l.push(("le", "+Inf"));
        out.push(FamilySample::new(
            format!("{name}_bucket"),
            &l,
            count as f64,
        ));
        out.push(FamilySample::new(format!("{name}_sum"), labels, sum));
        out.push(FamilySample::new(
            format!("{name}_count"),
            labels,
            count as f64,
        ));
    }

    fn metric_type() -> MetricType {
        MetricType::Histogram
    }

    fn protobuf(&self, labels: &[(&str, &str)]) -> Option<pb::Metric> {
        Some(pb::Metric {
            label: labels
                .iter()
                .map(|(n, v)| pb::LabelPair::new(*n, *v))
                .collect(),
            histogram: Some(self.to_protobuf()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_and_keys_follow_the_boundaries() {
        assert_eq!(schema_for_factor(1.1), 3);
        assert_eq!(schema_for_factor(2.0), 0);
        assert_eq!(schema_for_factor(1.0001), 8);
        assert_eq!(schema_for_factor(1e9), -4);
        // Schema 0: buckets (2^(k-1), 2^k].
        assert_eq!(bucket_key(1.0, 0), 0);
        assert_eq!(bucket_key(1.5, 0), 1);
        assert_eq!(bucket_key(2.0, 0), 1);
        assert_eq!(bucket_key(2.0001, 0), 2);
        assert_eq!(bucket_key(0.5, 0), -1);
        // Schema 3: eight buckets per doubling.
        for k in -40..40 {
            let upper = (k as f64 / 8.0).exp2();
            assert_eq!(bucket_key(upper, 3), k, "at {upper}");
            assert_eq!(bucket_key(upper * 1.000_001, 3), k + 1);
        }
        // Schema -2: buckets four doublings wide.
        assert_eq!(bucket_key(16.0, -2), 1);
        assert_eq!(bucket_key(17.0, -2), 2);
    }

    #[test]
    fn spans_fill_small_gaps_and_split_large_ones() {
        let m: BTreeMap<i32, u64> = [(-2, 1), (-1, 3), (1, 2), (6, 5)].into_iter().collect();
        let (s, d) = spans(&m);
        let s: Vec<(i32, u32)> = s
            .iter()
            .map(|x| (x.offset.unwrap(), x.length.unwrap()))
            .collect();
        assert_eq!(s, vec![(-2, 4), (4, 1)]);
        assert_eq!(d, vec![1, 2, -3, 2, 3]);
    }
}
