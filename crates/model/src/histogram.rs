//! Native histograms: integer (counts as deltas, as stored and sent on the wire) and float
//! (absolute counts, as PromQL computes with), with exponential or custom bucket schemas.

/// Schema number of native histograms with custom bucket boundaries ("NHCB").
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// Smallest exponential schema.
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;
/// Largest exponential schema.
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;

/// What is known about a counter reset between this histogram and the previous one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CounterResetHint {
    /// Nothing is known; readers must detect resets themselves.
    #[default]
    Unknown,
    /// A counter reset happened just before this histogram.
    CounterReset,
    /// No counter reset happened.
    NotCounterReset,
    /// The histogram is a gauge histogram, where resets have no meaning.
    Gauge,
}

/// A run of consecutive buckets: `offset` buckets after the end of the previous span (for
/// the first span: the index of its first bucket), then `length` buckets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Gap to the previous span, or the first bucket's index for the first span.
    pub offset: i32,
    /// Number of consecutive buckets.
    pub length: u32,
}

/// A native histogram with integer counts. Bucket counts are deltas: each is the
/// difference to the previous bucket in the same direction (the first one absolute).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Counter-reset knowledge.
    pub counter_reset_hint: CounterResetHint,
    /// Bucket schema: -4..=8 exponential, or [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// Width of the zero bucket: observations with |v| <= threshold land there.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Total number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts, delta-encoded.
    pub positive_buckets: Vec<i64>,
    /// Negative bucket counts, delta-encoded.
    pub negative_buckets: Vec<i64>,
    /// Upper bounds of custom buckets (schema -53 only), ascending, without `+Inf`.
    pub custom_values: Vec<f64>,
}

/// A native histogram with float counts, absolute per bucket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FloatHistogram {
    /// Counter-reset knowledge.
    pub counter_reset_hint: CounterResetHint,
    /// Bucket schema: -4..=8 exponential, or [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total number of observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts, absolute.
    pub positive_buckets: Vec<f64>,
    /// Negative bucket counts, absolute.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of custom buckets (schema -53 only).
    pub custom_values: Vec<f64>,
}

/// Why a histogram is not well-formed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum HistogramError {
    /// The schema is neither exponential (-4..=8) nor custom (-53).
    #[error("histogram has an invalid schema {0}")]
    InvalidSchema(i32),
    /// Spans describe a different number of buckets than there are counts.
    #[error("{side} side: spans need {spans} buckets, have {buckets} buckets")]
    SpanBucketMismatch {
        /// `positive` or `negative`.
        side: &'static str,
        /// Buckets the spans describe.
        spans: u64,
        /// Bucket counts present.
        buckets: usize,
    },
    /// A span after the first has a negative offset.
    #[error("{side} side: span number {index} with offset {offset}")]
    NegativeSpanOffset {
        /// `positive` or `negative`.
        side: &'static str,
        /// 1-based span number.
        index: usize,
        /// The offending offset.
        offset: i32,
    },
    /// A bucket count (after delta decoding) is negative.
    #[error("{side} side: bucket number {index} has observation count of {count}")]
    NegativeBucketCount {
        /// `positive` or `negative`.
        side: &'static str,
        /// 1-based bucket number.
        index: usize,
        /// The count.
        count: f64,
    },
    /// The buckets hold more observations than `count`.
    #[error("{count} observations found in buckets, but the Count field is {expected}")]
    CountMismatch {
        /// Observations in buckets.
        count: f64,
        /// The count field.
        expected: f64,
    },
    /// Custom buckets are not strictly ascending or are otherwise unusable.
    #[error("custom buckets: {0}")]
    CustomBuckets(String),
    /// A custom-bucket histogram has negative buckets or a zero bucket.
    #[error("custom buckets: must have zero negative buckets and a zero bucket count of 0")]
    CustomBucketsNegative,
}

fn check_spans(side: &'static str, spans: &[Span], buckets: usize) -> Result<(), HistogramError> {
    let mut total = 0u64;
    for (i, s) in spans.iter().enumerate() {
        if i > 0 && s.offset < 0 {
            return Err(HistogramError::NegativeSpanOffset {
                side,
                index: i + 1,
                offset: s.offset,
            });
        }
        total += u64::from(s.length);
    }
    if total != buckets as u64 {
        return Err(HistogramError::SpanBucketMismatch {
            side,
            spans: total,
            buckets,
        });
    }
    Ok(())
}

fn check_schema(schema: i32, custom: &[f64]) -> Result<(), HistogramError> {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        if custom.windows(2).any(|w| w[0] >= w[1]) || custom.iter().any(|v| v.is_nan()) {
            return Err(HistogramError::CustomBuckets(
                "previous bound is equal or larger than current bound".into(),
            ));
        }
        if custom.last().is_some_and(|v| v.is_infinite() && *v > 0.0) {
            return Err(HistogramError::CustomBuckets(
                "last +Inf bound must not be explicitly defined".into(),
            ));
        }
        Ok(())
    } else if (EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&schema) {
        Ok(())
    } else {
        Err(HistogramError::InvalidSchema(schema))
    }
}

impl Histogram {
    /// Whether the histogram uses custom bucket boundaries.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Checks spans, counts and schema the way Prometheus validates ingested histograms.
    pub fn validate(&self) -> Result<(), HistogramError> {
        check_schema(self.schema, &self.custom_values)?;
        check_spans(
            "negative",
            &self.negative_spans,
            self.negative_buckets.len(),
        )?;
        check_spans(
            "positive",
            &self.positive_spans,
            self.positive_buckets.len(),
        )?;
        if self.uses_custom_buckets() && (!self.negative_buckets.is_empty() || self.zero_count != 0)
        {
            return Err(HistogramError::CustomBucketsNegative);
        }
        let mut total = self.zero_count as f64;
        for (side, b) in [
            ("negative", &self.negative_buckets),
            ("positive", &self.positive_buckets),
        ] {
            let mut cur = 0i64;
            for (i, d) in b.iter().enumerate() {
                cur = cur.wrapping_add(*d);
                if cur < 0 {
                    return Err(HistogramError::NegativeBucketCount {
                        side,
                        index: i + 1,
                        count: cur as f64,
                    });
                }
                total += cur as f64;
            }
        }
        // NaN observations land in no bucket, so count may exceed the bucket total.
        if total > self.count as f64 {
            return Err(HistogramError::CountMismatch {
                count: total,
                expected: self.count as f64,
            });
        }
        Ok(())
    }

    /// The same histogram with float counts.
    pub fn to_float(&self) -> FloatHistogram {
        fn absolute(deltas: &[i64]) -> Vec<f64> {
            let mut cur = 0i64;
            deltas
                .iter()
                .map(|d| {
                    cur = cur.wrapping_add(*d);
                    cur as f64
                })
                .collect()
        }
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count as f64,
            count: self.count as f64,
            sum: self.sum,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: absolute(&self.positive_buckets),
            negative_buckets: absolute(&self.negative_buckets),
            custom_values: self.custom_values.clone(),
        }
    }
}

impl FloatHistogram {
    /// Whether the histogram uses custom bucket boundaries.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Checks spans, counts and schema the way Prometheus validates float histograms.
    pub fn validate(&self) -> Result<(), HistogramError> {
        check_schema(self.schema, &self.custom_values)?;
        check_spans(
            "negative",
            &self.negative_spans,
            self.negative_buckets.len(),
        )?;
        check_spans(
            "positive",
            &self.positive_spans,
            self.positive_buckets.len(),
        )?;
        if self.uses_custom_buckets()
            && (!self.negative_buckets.is_empty() || self.zero_count != 0.0)
        {
            return Err(HistogramError::CustomBucketsNegative);
        }
        for (side, b) in [
            ("negative", &self.negative_buckets),
            ("positive", &self.positive_buckets),
        ] {
            if let Some((i, c)) = b.iter().enumerate().find(|(_, c)| **c < 0.0) {
                return Err(HistogramError::NegativeBucketCount {
                    side,
                    index: i + 1,
                    count: *c,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Histogram {
        Histogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 1,
            count: 8,
            sum: 12.5,
            positive_spans: vec![
                Span {
                    offset: 0,
                    length: 2,
                },
                Span {
                    offset: 1,
                    length: 1,
                },
            ],
            positive_buckets: vec![2, 1, -2],
            negative_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            negative_buckets: vec![1],
            ..Default::default()
        }
    }

    #[test]
    fn valid_histogram_converts_to_absolute_counts() {
        let h = sample();
        h.validate().unwrap();
        let f = h.to_float();
        assert_eq!(f.positive_buckets, vec![2.0, 3.0, 1.0]);
        assert_eq!(f.negative_buckets, vec![1.0]);
        f.validate().unwrap();
    }

    #[test]
    fn detects_malformed_histograms() {
        let mut h = sample();
        h.positive_buckets.push(1);
        assert!(matches!(
            h.validate(),
            Err(HistogramError::SpanBucketMismatch { .. })
        ));
        let mut h = sample();
        h.positive_buckets = vec![2, -3, 1];
        assert!(matches!(
            h.validate(),
            Err(HistogramError::NegativeBucketCount { .. })
        ));
        let mut h = sample();
        h.count = 3;
        assert!(matches!(
            h.validate(),
            Err(HistogramError::CountMismatch { .. })
        ));
        let mut h = sample();
        h.schema = 9;
        assert_eq!(h.validate(), Err(HistogramError::InvalidSchema(9)));
        let h = Histogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            custom_values: vec![1.0, 1.0],
            ..Default::default()
        };
        assert!(matches!(
            h.validate(),
            Err(HistogramError::CustomBuckets(_))
        ));
    }
}
