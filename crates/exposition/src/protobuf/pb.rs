//! The `io.prometheus.client` messages of Prometheus's client_model `metrics.proto`,
//! written out by hand (no code generation at build time).
//!
//! Field numbers, wire types and `optional`/`repeated` markers follow the proto2 file of
//! client_model, so every proto2 `optional` field is an `Option` here: the parser can tell
//! an absent value (for example a missing `timestamp_ms`) from an explicit zero. Repeated
//! scalar fields are written unpacked, as proto2 does by default; the decoder accepts both
//! packed and unpacked encodings, as every protobuf decoder must.

/// `google.protobuf.Timestamp`: a point in time as seconds and nanoseconds since the Unix
/// epoch.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Timestamp {
    /// Whole seconds since the Unix epoch (negative before it).
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, `0..=999_999_999`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The timestamp in milliseconds since the epoch, computed as Prometheus does
    /// (`seconds * 1000 + nanos / 1_000_000`, wrapping on overflow).
    pub fn to_millis(&self) -> i64 {
        self.seconds
            .wrapping_mul(1000)
            .wrapping_add(i64::from(self.nanos / 1_000_000))
    }

    /// A timestamp from milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Self {
        Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        }
    }
}

/// One label: a name and a value.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct LabelPair {
    /// The label name (field 1).
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// The label value (field 2).
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

impl LabelPair {
    /// A label pair with both fields set.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        LabelPair {
            name: Some(name.into()),
            value: Some(value.into()),
        }
    }
}

/// The type of a metric family. Each type says which field of [`Metric`] holds the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// Uses [`Metric::counter`].
    Counter = 0,
    /// Uses [`Metric::gauge`].
    Gauge = 1,
    /// Uses [`Metric::summary`].
    Summary = 2,
    /// Uses [`Metric::untyped`].
    Untyped = 3,
    /// Uses [`Metric::histogram`].
    Histogram = 4,
    /// Uses [`Metric::histogram`].
    GaugeHistogram = 5,
}

/// The value of a gauge.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Gauge {
    /// The value (field 1).
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

/// The value of a counter, with an optional exemplar and creation time.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Counter {
    /// The value (field 1).
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
    /// An exemplar (field 2).
    #[prost(message, optional, tag = "2")]
    pub exemplar: Option<Exemplar>,
    /// When the counter was created (field 3).
    #[prost(message, optional, tag = "3")]
    pub created_timestamp: Option<Timestamp>,
}

/// One quantile of a summary.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Quantile {
    /// The quantile, `0..=1` (field 1).
    #[prost(double, optional, tag = "1")]
    pub quantile: Option<f64>,
    /// The value at that quantile (field 2).
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
}

/// The value of a summary: count, sum and quantiles.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// Number of observations (field 1).
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    /// Sum of observations (field 2).
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    /// The quantiles (field 3).
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
    /// When the summary was created (field 4).
    #[prost(message, optional, tag = "4")]
    pub created_timestamp: Option<Timestamp>,
}

/// The value of an untyped metric.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Untyped {
    /// The value (field 1).
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

/// A histogram: classic buckets, native (sparse) buckets, or both.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Number of observations (field 1).
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    /// Number of observations as a float; overrides `sample_count` when `> 0` (field 4).
    #[prost(double, optional, tag = "4")]
    pub sample_count_float: Option<f64>,
    /// Sum of observations (field 2).
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    /// Classic buckets, in increasing order of upper bound; the `+Inf` bucket is optional
    /// (field 3).
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// When the histogram was created (field 15).
    #[prost(message, optional, tag = "15")]
    pub created_timestamp: Option<Timestamp>,
    /// Native bucket schema, `-4..=8` exponential (field 5, `sint32`).
    #[prost(sint32, optional, tag = "5")]
    pub schema: Option<i32>,
    /// Width of the zero bucket (field 6).
    #[prost(double, optional, tag = "6")]
    pub zero_threshold: Option<f64>,
    /// Observations in the zero bucket (field 7).
    #[prost(uint64, optional, tag = "7")]
    pub zero_count: Option<u64>,
    /// Observations in the zero bucket as a float; overrides `zero_count` when `> 0`
    /// (field 8).
    #[prost(double, optional, tag = "8")]
    pub zero_count_float: Option<f64>,
    /// Spans of negative native buckets (field 9).
    #[prost(message, repeated, tag = "9")]
    pub negative_span: Vec<BucketSpan>,
    /// Negative bucket counts as deltas, for integer histograms (field 10, `sint64`).
    #[prost(sint64, repeated, packed = "false", tag = "10")]
    pub negative_delta: Vec<i64>,
    /// Negative bucket counts as absolute values, for float histograms (field 11).
    #[prost(double, repeated, packed = "false", tag = "11")]
    pub negative_count: Vec<f64>,
    /// Spans of positive native buckets (field 12). A native histogram without
    /// observations and with a zero threshold of 0 carries a no-op span (offset 0,
    /// length 0), or it would look like a classic histogram.
    #[prost(message, repeated, tag = "12")]
    pub positive_span: Vec<BucketSpan>,
    /// Positive bucket counts as deltas, for integer histograms (field 13, `sint64`).
    #[prost(sint64, repeated, packed = "false", tag = "13")]
    pub positive_delta: Vec<i64>,
    /// Positive bucket counts as absolute values, for float histograms (field 14).
    #[prost(double, repeated, packed = "false", tag = "14")]
    pub positive_count: Vec<f64>,
    /// Exemplars of a native histogram; each must have a timestamp (field 16).
    #[prost(message, repeated, tag = "16")]
    pub exemplars: Vec<Exemplar>,
}

/// One classic histogram bucket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Bucket {
    /// Observations less than or equal to `upper_bound` (field 1).
    #[prost(uint64, optional, tag = "1")]
    pub cumulative_count: Option<u64>,
    /// The same as a float; overrides `cumulative_count` when `> 0` (field 4).
    #[prost(double, optional, tag = "4")]
    pub cumulative_count_float: Option<f64>,
    /// Inclusive upper bound (field 2).
    #[prost(double, optional, tag = "2")]
    pub upper_bound: Option<f64>,
    /// An exemplar (field 3).
    #[prost(message, optional, tag = "3")]
    pub exemplar: Option<Exemplar>,
}

/// A run of consecutive native buckets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span, or the index of the first bucket for the first span
    /// (field 1, `sint32`).
    #[prost(sint32, optional, tag = "1")]
    pub offset: Option<i32>,
    /// Number of consecutive buckets (field 2).
    #[prost(uint32, optional, tag = "2")]
    pub length: Option<u32>,
}

/// An exemplar: labels (typically a trace ID), a value and a timestamp.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// The labels (field 1).
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// The observed value (field 2).
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
    /// When it was observed (field 3).
    #[prost(message, optional, tag = "3")]
    pub timestamp: Option<Timestamp>,
}

/// One metric (one series, or one group of series for summaries and histograms).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// The labels, without the metric name (field 1).
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Value of a gauge (field 2).
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    /// Value of a counter (field 3).
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Counter>,
    /// Value of a summary (field 4).
    #[prost(message, optional, tag = "4")]
    pub summary: Option<Summary>,
    /// Value of an untyped metric (field 5).
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Untyped>,
    /// Value of a histogram or gauge histogram (field 7).
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
    /// Timestamp in milliseconds since the epoch (field 6).
    #[prost(int64, optional, tag = "6")]
    pub timestamp_ms: Option<i64>,
}

/// A metric family: name, help, type, unit and its metrics.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricFamily {
    /// The family name (field 1).
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// The help text (field 2).
    #[prost(string, optional, tag = "2")]
    pub help: Option<String>,
    /// The type, a [`MetricType`] as `i32` (field 3); the generated `r#type()` getter
    /// reads it as a [`MetricType`] (unknown values as the default, `Counter`).
    #[prost(enumeration = "MetricType", optional, tag = "3")]
    pub r#type: Option<i32>,
    /// The metrics (field 4).
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
    /// The unit (field 5).
    #[prost(string, optional, tag = "5")]
    pub unit: Option<String>,
}
