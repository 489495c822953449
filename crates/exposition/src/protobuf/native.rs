//! Native histograms from protobuf: which histograms count as native, the conversion
//! to the model types, validation and compaction.

use narthex_model::{CounterResetHint, FloatHistogram, Histogram, Span};

use super::pb;
use crate::HistogramValue;

/// Whether a histogram message is a native one, by Prometheus's rule: it has at least one
/// span (positive or negative), a zero threshold above 0, or a zero count above 0.
/// Everything else is a classic histogram. (A native histogram without observations and
/// with a zero threshold of 0 is told apart by a no-op span of length 0.)
pub(super) fn is_native(h: Option<&pb::Histogram>) -> bool {
    h.is_some_and(|h| {
        !h.positive_span.is_empty()
            || !h.negative_span.is_empty()
            || h.zero_threshold.unwrap_or(0.0) > 0.0
            || h.zero_count.unwrap_or(0) > 0
    })
}

fn spans(spans: &[pb::BucketSpan]) -> Vec<Span> {
    spans
        .iter()
        .map(|s| Span {
            offset: s.offset.unwrap_or(0),
            length: s.length.unwrap_or(0),
        })
        .collect()
}

/// The native histogram of a metric, validated and compacted, or why it is invalid.
///
/// As in Prometheus, a histogram whose `sample_count_float` or `zero_count_float` is above
/// 0 has float counts (`positive_count`, `negative_count`); any other has integer counts
/// (`positive_delta`, `negative_delta`). A missing histogram message reads as an empty
/// one. Compaction removes empty buckets and merges adjacent spans, as Prometheus's
/// `Compact(0)` does before the histogram is stored.
pub(super) fn build(h: Option<&pb::Histogram>, gauge: bool) -> Result<HistogramValue, String> {
    let empty = pb::Histogram::default();
    let h = h.unwrap_or(&empty);
    let hint = if gauge {
        CounterResetHint::Gauge
    } else {
        CounterResetHint::Unknown
    };
    let count_float = h.sample_count_float.unwrap_or(0.0);
    let zero_float = h.zero_count_float.unwrap_or(0.0);
    if count_float > 0.0 || zero_float > 0.0 {
        let mut fh = FloatHistogram {
            counter_reset_hint: hint,
            schema: h.schema.unwrap_or(0),
            zero_threshold: h.zero_threshold.unwrap_or(0.0),
            zero_count: zero_float,
            count: count_float,
            sum: super::normal_nan(h.sample_sum.unwrap_or(0.0)),
            positive_spans: spans(&h.positive_span),
            negative_spans: spans(&h.negative_span),
            positive_buckets: h.positive_count.clone(),
            negative_buckets: h.negative_count.clone(),
            custom_values: Vec::new(),
        };
        fh.validate()
            .map_err(|e| format!("invalid native histogram: {e}"))?;
        compact(&mut fh.positive_spans, &mut fh.positive_buckets, Absolute)?;
        compact(&mut fh.negative_spans, &mut fh.negative_buckets, Absolute)?;
        return Ok(HistogramValue::Float(fh));
    }
    let mut ih = Histogram {
        counter_reset_hint: hint,
        schema: h.schema.unwrap_or(0),
        zero_threshold: h.zero_threshold.unwrap_or(0.0),
        zero_count: h.zero_count.unwrap_or(0),
        count: h.sample_count.unwrap_or(0),
        sum: super::normal_nan(h.sample_sum.unwrap_or(0.0)),
        positive_spans: spans(&h.positive_span),
        negative_spans: spans(&h.negative_span),
        positive_buckets: h.positive_delta.clone(),
        negative_buckets: h.negative_delta.clone(),
        custom_values: Vec::new(),
    };
    ih.validate()
        .map_err(|e| format!("invalid native histogram: {e}"))?;
    compact(&mut ih.positive_spans, &mut ih.positive_buckets, Delta)?;
    compact(&mut ih.negative_spans, &mut ih.negative_buckets, Delta)?;
    Ok(HistogramValue::Int(ih))
}

/// How bucket counts are stored: how to read them as absolute counts and write them back.
trait Counts<T: Copy> {
    /// Walks the stored counts, returning each bucket's absolute count.
    fn absolute(&self, running: &mut T, stored: T) -> T;
    /// Whether an absolute count is zero (an empty bucket).
    fn is_empty(&self, count: T) -> bool;
    /// The value to store for `count` when the previously kept bucket held `prev`.
    fn store(&self, prev: T, count: T) -> T;
    /// The absolute count before the first bucket.
    fn zero(&self) -> T;
}

/// Integer counts, each stored as the delta to the previous bucket.
struct Delta;
/// Float counts, stored as absolute values.
struct Absolute;

impl Counts<i64> for Delta {
    fn absolute(&self, running: &mut i64, stored: i64) -> i64 {
        *running = running.wrapping_add(stored);
        *running
    }
    fn is_empty(&self, count: i64) -> bool {
        count == 0
    }
    fn store(&self, prev: i64, count: i64) -> i64 {
        count.wrapping_sub(prev)
    }
    fn zero(&self) -> i64 {
        0
    }
}

impl Counts<f64> for Absolute {
    fn absolute(&self, _running: &mut f64, stored: f64) -> f64 {
        stored
    }
    fn is_empty(&self, count: f64) -> bool {
        count == 0.0
    }
    fn store(&self, _prev: f64, count: f64) -> f64 {
        count
    }
    fn zero(&self) -> f64 {
        0.0
    }
}

/// Drops empty buckets and rebuilds the spans so that each span is a maximal run of
/// non-empty buckets (no zero-length spans, no zero gaps between spans). Expects spans
/// and buckets that passed validation (span lengths add up to the bucket count).
fn compact<T: Copy, C: Counts<T>>(
    spans: &mut Vec<Span>,
    buckets: &mut Vec<T>,
    how: C,
) -> Result<(), String> {
    let mut new_spans: Vec<Span> = Vec::with_capacity(spans.len());
    let mut new_buckets: Vec<T> = Vec::with_capacity(buckets.len());
    let mut running = how.zero();
    let mut prev_kept = how.zero();
    // Index of the next bucket position, and of the last bucket kept.
    let mut index: i64 = 0;
    let mut last_kept: Option<i64> = None;
    let mut stored = buckets.iter().copied();
    for span in spans.iter() {
        index = index.saturating_add(i64::from(span.offset));
        for _ in 0..span.length {
            let Some(value) = stored.next() else { break };
            let count = how.absolute(&mut running, value);
            if !how.is_empty(count) {
                match (last_kept, new_spans.last_mut()) {
                    (Some(last), Some(open)) if last + 1 == index => open.length += 1,
                    _ => {
                        let gap = match last_kept {
                            Some(last) => index - last - 1,
                            None => index,
                        };
                        let offset = i32::try_from(gap).map_err(|_| {
                            format!("invalid native histogram: span offset {gap} out of range")
                        })?;
                        new_spans.push(Span { offset, length: 1 });
                    }
                }
                new_buckets.push(how.store(prev_kept, count));
                prev_kept = count;
                last_kept = Some(index);
            }
            index += 1;
        }
    }
    *spans = new_spans;
    *buckets = new_buckets;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    #[test]
    fn compaction_drops_empty_buckets_and_merges_spans() {
        // Buckets at 0,1 | 3 (empty), 4 | 5 (no gap): absolute 2, 0 | 0, 3 | 1.
        let mut s = vec![span(0, 2), span(1, 2), span(0, 0), span(0, 1)];
        let mut b = vec![2i64, -2, 0, 3, -2];
        compact(&mut s, &mut b, Delta).unwrap();
        assert_eq!(s, vec![span(0, 1), span(3, 2)]);
        assert_eq!(b, vec![2, 1, -2]);

        let mut s = vec![span(-2, 3), span(2, 1)];
        let mut f = vec![0.0, 1.5, 0.0, 4.0];
        compact(&mut s, &mut f, Absolute).unwrap();
        assert_eq!(s, vec![span(-1, 1), span(3, 1)]);
        assert_eq!(f, vec![1.5, 4.0]);

        let mut s = vec![span(0, 0)];
        let mut b: Vec<i64> = vec![];
        compact(&mut s, &mut b, Delta).unwrap();
        assert!(s.is_empty() && b.is_empty());
    }

    #[test]
    fn native_detection_follows_prometheus() {
        assert!(!is_native(None));
        assert!(!is_native(Some(&pb::Histogram {
            sample_count: Some(3),
            ..Default::default()
        })));
        let noop = pb::BucketSpan {
            offset: Some(0),
            length: Some(0),
        };
        assert!(is_native(Some(&pb::Histogram {
            positive_span: vec![noop],
            ..Default::default()
        })));
        assert!(is_native(Some(&pb::Histogram {
            zero_threshold: Some(1e-9),
            ..Default::default()
        })));
        assert!(is_native(Some(&pb::Histogram {
            zero_count: Some(1),
            ..Default::default()
        })));
        // Prometheus does not look at the float zero count here.
        assert!(!is_native(Some(&pb::Histogram {
            zero_count_float: Some(1.0),
            ..Default::default()
        })));
    }
}
