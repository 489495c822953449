//! Native histogram chunks: [`Encoding::Histogram`](crate::Encoding::Histogram) (integer
//! counts) and [`Encoding::FloatHistogram`](crate::Encoding::FloatHistogram).
//!
//! Layout, bit for bit as Prometheus writes it:
//!
//! ```text
//! header      u16 big-endian sample count,
//!             one flags byte whose top two bits are the CounterResetHeader
//! layout      zero threshold: one byte: 0 for zero, 1..=254 for the power of two
//!                             0.5 * 2^(byte-243), or 255 followed by the 64 raw bits
//!             schema (varbit int)
//!             positive spans, negative spans: count (varbit uint), then per span
//!                             length (varbit uint) and offset (varbit int)
//!             custom bounds, schema -53 only: count (varbit uint), then per bound either
//!                             varbit uint (bound * 1000 + 1, for multiples of 0.001 up to
//!                             33554.43) or a 0 bit and the 64 raw bits
//! sample 0    timestamp (varbit int) and
//!               integer: count, zero count (varbit uint), sum (64 raw bits),
//!                        bucket deltas (varbit int each)
//!               float:   count, zero count, sum, buckets (64 raw bits each)
//! sample n    timestamp delta-of-delta (varbit int) and
//!               integer: delta-of-delta of count and zero count (varbit int), sum XOR-encoded,
//!                        delta-of-delta of each bucket (varbit int)
//!               float:   count, zero count, sum and each bucket XOR-encoded
//! ```
//!
//! The layout (schema, zero threshold, spans, custom bounds) is written once, with the first
//! sample; every later sample must fit it. A stale marker (sum = Prometheus's stale NaN)
//! writes no buckets, and after a stale marker only stale markers can follow in a chunk.
//!
//! The appenders decide, as Prometheus's do, when a sample cannot go into the current chunk
//! ([`HistogramAppend::Cut`], with a [`CutReason`]) and when the chunk must be re-encoded
//! with a wider bucket layout first ([`HistogramAppend::Recoded`]). They then produce the
//! bytes Prometheus would produce.

mod float;
mod int;
mod layout;

use std::fmt;

pub use float::{FloatHistogramAppender, FloatHistogramIterator};
pub use int::{HistogramAppender, HistogramIterator};

/// Schema number of native histograms with custom bucket boundaries ("NHCB").
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// Smallest exponential schema Prometheus writes.
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;
/// Largest exponential schema Prometheus writes.
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;
/// Smallest exponential schema a chunk may carry (reserved for future Prometheus versions).
pub const EXPONENTIAL_SCHEMA_MIN_RESERVED: i32 = -9;
/// Largest exponential schema a chunk may carry (reserved for future Prometheus versions).
pub const EXPONENTIAL_SCHEMA_MAX_RESERVED: i32 = 52;

/// Bits of Prometheus's stale-marker NaN (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is Prometheus's stale marker (compared bit for bit).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Whether a chunk may carry `schema` (exponential, including the reserved range, or custom).
pub fn is_known_schema(schema: i32) -> bool {
    schema == CUSTOM_BUCKETS_SCHEMA
        || (EXPONENTIAL_SCHEMA_MIN_RESERVED..=EXPONENTIAL_SCHEMA_MAX_RESERVED).contains(&schema)
}

/// What is known about a counter reset between a histogram and the one before it.
///
/// Mirrors `narthex_model::CounterResetHint`.
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
///
/// Mirrors `narthex_model::Span`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Gap to the previous span, or the first bucket's index for the first span.
    pub offset: i32,
    /// Number of consecutive buckets.
    pub length: u32,
}

/// A native histogram with integer counts; bucket counts are deltas (each the difference to
/// the previous bucket on the same side, the first one absolute).
///
/// Mirrors `narthex_model::Histogram` field for field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Counter-reset knowledge.
    pub counter_reset_hint: CounterResetHint,
    /// Bucket schema: -4..=8 exponential, or [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// Width of the zero bucket.
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
    /// Upper bounds of custom buckets (schema -53 only).
    pub custom_values: Vec<f64>,
}

/// A native histogram with float counts, absolute per bucket.
///
/// Mirrors `narthex_model::FloatHistogram` field for field.
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

impl Histogram {
    /// The same histogram with absolute float counts (as Prometheus's `ToFloat`).
    pub fn to_float(&self) -> FloatHistogram {
        let abs = |deltas: &[i64]| {
            let mut cur = 0i64;
            deltas
                .iter()
                .map(|d| {
                    cur = cur.wrapping_add(*d);
                    cur as f64
                })
                .collect()
        };
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count as f64,
            count: self.count as f64,
            sum: self.sum,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: abs(&self.positive_buckets),
            negative_buckets: abs(&self.negative_buckets),
            custom_values: self.custom_values.clone(),
        }
    }
}

/// The counter-reset information in the top two bits of a histogram chunk's third byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CounterResetHeader {
    /// Unknown whether the chunk starts after a counter reset (`0b00`).
    #[default]
    Unknown = 0b0000_0000,
    /// The chunk was cut because of a counter reset (`0b10`).
    CounterReset = 0b1000_0000,
    /// The chunk was cut without a counter reset (`0b01`).
    NotCounterReset = 0b0100_0000,
    /// The chunk holds gauge histograms (`0b11`).
    Gauge = 0b1100_0000,
}

/// Mask of the counter-reset bits in the flags byte.
pub const COUNTER_RESET_HEADER_MASK: u8 = 0b1100_0000;

impl CounterResetHeader {
    /// The header stored in a chunk's flags byte.
    pub fn from_flags(flags: u8) -> CounterResetHeader {
        match flags & COUNTER_RESET_HEADER_MASK {
            0b1000_0000 => CounterResetHeader::CounterReset,
            0b0100_0000 => CounterResetHeader::NotCounterReset,
            0b1100_0000 => CounterResetHeader::Gauge,
            _ => CounterResetHeader::Unknown,
        }
    }

    /// The header of a histogram chunk (`None` if it is shorter than 3 bytes).
    pub fn of_chunk(chunk: &[u8]) -> Option<CounterResetHeader> {
        chunk.get(2).map(|&f| CounterResetHeader::from_flags(f))
    }
}

/// The hint a histogram read from a chunk carries (Prometheus's `counterResetHint`): gauge in
/// gauge chunks, "not a reset" after the first sample, otherwise unknown (the previous chunk
/// may be gone, so even a chunk cut for a reset cannot vouch for its first sample).
pub(crate) fn hint_for(header: CounterResetHeader, read: u16) -> CounterResetHint {
    match header {
        CounterResetHeader::Gauge => CounterResetHint::Gauge,
        _ if read > 1 => CounterResetHint::NotCounterReset,
        _ => CounterResetHint::Unknown,
    }
}

/// Why a histogram could not be appended to the current chunk, so a new chunk was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CutReason {
    /// The histogram's hint says counter reset.
    CounterResetHint,
    /// A counter reset was detected: the count, zero count or a bucket decreased, a bucket in
    /// use disappeared, or custom bucket bounds changed.
    CounterReset,
    /// The schema or the zero threshold changed.
    LayoutChange,
    /// Custom bucket bounds changed in a gauge histogram.
    CustomBoundsChange,
    /// The chunk's last sample is a stale marker and this one is not.
    AfterStaleMarker,
    /// A gauge histogram after counter histograms, or the other way round.
    TypeChange,
    /// The chunk already holds 65,535 samples.
    Full,
}

impl fmt::Display for CutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CutReason::CounterResetHint => "counter reset hint",
            CutReason::CounterReset => "counter reset",
            CutReason::LayoutChange => "schema or zero threshold change",
            CutReason::CustomBoundsChange => "custom bounds change",
            CutReason::AfterStaleMarker => "sample after stale marker",
            CutReason::TypeChange => "gauge/counter type change",
            CutReason::Full => "chunk full",
        })
    }
}

/// What appending a histogram did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistogramAppend {
    /// Appended to the end of the chunk.
    Appended,
    /// The histogram brought buckets the chunk did not have: the chunk was re-encoded with
    /// the wider layout (its earlier bytes changed), then the histogram appended.
    Recoded,
    /// The histogram could not go into the chunk. `finished` holds the chunk as it was; the
    /// appender now holds a new chunk that starts with the histogram (its counter-reset
    /// header set as Prometheus sets it).
    Cut {
        /// The finished chunk's bytes.
        finished: Vec<u8>,
        /// Why the chunk was cut.
        reason: CutReason,
    },
}

/// A histogram the appenders refuse: it would write a chunk that does not decode to it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidHistogram {
    /// The spans describe a different number of buckets than there are counts.
    SpanBucketMismatch {
        /// `true` for the positive side.
        positive: bool,
        /// Buckets the spans describe.
        spans: u64,
        /// Bucket counts present.
        buckets: usize,
    },
    /// A span after the first has a negative offset.
    NegativeSpanOffset {
        /// `true` for the positive side.
        positive: bool,
        /// Zero-based index of the span.
        index: usize,
    },
    /// A schema no chunk may carry.
    UnknownSchema(i32),
    /// Custom bounds on a histogram whose schema is not [`CUSTOM_BUCKETS_SCHEMA`] (they
    /// would be dropped).
    CustomValuesWithoutCustomSchema,
}

impl fmt::Display for InvalidHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |p: bool| if p { "positive" } else { "negative" };
        match *self {
            InvalidHistogram::SpanBucketMismatch {
                positive,
                spans,
                buckets,
            } => write!(
                f,
                "{} side: spans need {spans} buckets, have {buckets}",
                side(positive)
            ),
            InvalidHistogram::NegativeSpanOffset { positive, index } => {
                write!(
                    f,
                    "{} side: span {index} has a negative offset",
                    side(positive)
                )
            }
            InvalidHistogram::UnknownSchema(s) => write!(f, "unknown histogram schema {s}"),
            InvalidHistogram::CustomValuesWithoutCustomSchema => {
                f.write_str("custom bucket bounds on a histogram without the custom schema")
            }
        }
    }
}

impl std::error::Error for InvalidHistogram {}

/// Checks what the encoders rely on: a known schema, buckets matching spans, non-negative
/// offsets after the first span, custom bounds only with the custom schema.
pub(crate) fn validate(
    schema: i32,
    pspans: &[Span],
    pbuckets: usize,
    nspans: &[Span],
    nbuckets: usize,
    custom: &[f64],
) -> Result<(), InvalidHistogram> {
    if !is_known_schema(schema) {
        return Err(InvalidHistogram::UnknownSchema(schema));
    }
    if schema != CUSTOM_BUCKETS_SCHEMA && !custom.is_empty() {
        return Err(InvalidHistogram::CustomValuesWithoutCustomSchema);
    }
    for (positive, spans, buckets) in [(true, pspans, pbuckets), (false, nspans, nbuckets)] {
        let mut total = 0u64;
        for (index, s) in spans.iter().enumerate() {
            if index > 0 && s.offset < 0 {
                return Err(InvalidHistogram::NegativeSpanOffset { positive, index });
            }
            total += u64::from(s.length);
        }
        if total != buckets as u64 {
            return Err(InvalidHistogram::SpanBucketMismatch {
                positive,
                spans: total,
                buckets,
            });
        }
    }
    Ok(())
}

/// Prometheus's `CustomBucketBoundsMatch`: same length, pairwise equal.
pub(crate) fn bounds_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}
