//! Hand-written protobuf messages of Prometheus's remote protocols, field for field as in
//! Prometheus's `prompb/types.proto`, `prompb/remote.proto` (package `prometheus`) and
//! `prompb/io/prometheus/write/v2/types.proto` (package `io.prometheus.write.v2`).
//!
//! These are plain [`prost`] messages: encode with [`prost::Message::encode_to_vec`], decode
//! with [`prost::Message::decode`]. The [`crate::codec`] functions add snappy and the
//! conversions to Narthex's model types.

/// Remote write 1.0 and remote read messages (protobuf package `prometheus`).
pub mod v1 {
    /// `prometheus.WriteRequest`: a remote write 1.0 request body.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        /// The series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
        /// Metadata.
        #[prost(message, repeated, tag = "3")]
        pub metadata: Vec<MetricMetadata>,
    }

    /// `prometheus.MetricMetadata`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricMetadata {
        /// The type.
        #[prost(enumeration = "MetricType", tag = "1")]
        pub r#type: i32,
        /// The metric family name.
        #[prost(string, tag = "2")]
        pub metric_family_name: String,
        /// Help text.
        #[prost(string, tag = "4")]
        pub help: String,
        /// Unit.
        #[prost(string, tag = "5")]
        pub unit: String,
    }

    /// `prometheus.MetricMetadata.MetricType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        /// Unknown.
        Unknown = 0,
        /// Counter.
        Counter = 1,
        /// Gauge.
        Gauge = 2,
        /// Histogram.
        Histogram = 3,
        /// Gauge histogram.
        Gaugehistogram = 4,
        /// Summary.
        Summary = 5,
        /// Info.
        Info = 6,
        /// State set.
        Stateset = 7,
    }

    /// `prometheus.Sample`.
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Sample {
        /// The value.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Milliseconds since the epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    /// `prometheus.Exemplar`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        /// Labels, sorted by name.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// The value.
        #[prost(double, tag = "2")]
        pub value: f64,
        /// Milliseconds since the epoch.
        #[prost(int64, tag = "3")]
        pub timestamp: i64,
    }

    /// `prometheus.TimeSeries`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Labels, sorted by name.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// Float samples, in time order.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        /// Exemplars.
        #[prost(message, repeated, tag = "3")]
        pub exemplars: Vec<Exemplar>,
        /// Native histogram samples, in time order.
        #[prost(message, repeated, tag = "4")]
        pub histograms: Vec<super::Histogram>,
    }

    /// `prometheus.Label`.
    #[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
    pub struct Label {
        /// The label name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// The value.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `prometheus.LabelMatcher`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelMatcher {
        /// The type.
        #[prost(enumeration = "MatcherType", tag = "1")]
        pub r#type: i32,
        /// The label name.
        #[prost(string, tag = "2")]
        pub name: String,
        /// The value.
        #[prost(string, tag = "3")]
        pub value: String,
    }

    /// `prometheus.LabelMatcher.Type`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MatcherType {
        /// `=`.
        Eq = 0,
        /// `!=`.
        Neq = 1,
        /// `=~`.
        Re = 2,
        /// `!~`.
        Nre = 3,
    }

    /// `prometheus.ReadHints`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReadHints {
        /// Query step, ms.
        #[prost(int64, tag = "1")]
        pub step_ms: i64,
        /// The PromQL function the data is for, if any.
        #[prost(string, tag = "2")]
        pub func: String,
        /// Start of the query range, ms.
        #[prost(int64, tag = "3")]
        pub start_ms: i64,
        /// End of the query range, ms.
        #[prost(int64, tag = "4")]
        pub end_ms: i64,
        /// Labels of the surrounding aggregation.
        #[prost(string, repeated, tag = "5")]
        pub grouping: Vec<String>,
        /// Whether `grouping` lists the labels kept (`by`) or dropped (`without`).
        #[prost(bool, tag = "6")]
        pub by: bool,
        /// Range of the range vector selector, ms.
        #[prost(int64, tag = "7")]
        pub range_ms: i64,
    }

    /// `prometheus.Chunk`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Chunk {
        /// Timestamp of the first sample, ms.
        #[prost(int64, tag = "1")]
        pub min_time_ms: i64,
        /// Timestamp of the last sample, ms.
        #[prost(int64, tag = "2")]
        pub max_time_ms: i64,
        /// The type.
        #[prost(enumeration = "ChunkEncoding", tag = "3")]
        pub r#type: i32,
        /// The encoded chunk.
        #[prost(bytes = "vec", tag = "4")]
        pub data: Vec<u8>,
    }

    /// `prometheus.Chunk.Encoding`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ChunkEncoding {
        /// Unknown.
        Unknown = 0,
        /// XOR (float) chunk.
        Xor = 1,
        /// Integer histogram chunk.
        Histogram = 2,
        /// Float histogram chunk.
        FloatHistogram = 3,
    }

    /// `prometheus.ChunkedSeries`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ChunkedSeries {
        /// Labels, sorted by name.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// The chunks, in time order.
        #[prost(message, repeated, tag = "2")]
        pub chunks: Vec<Chunk>,
    }

    /// `prometheus.ReadRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReadRequest {
        /// The queries.
        #[prost(message, repeated, tag = "1")]
        pub queries: Vec<Query>,
        /// Response types the client accepts, in order of preference.
        #[prost(enumeration = "ResponseType", repeated, tag = "2")]
        pub accepted_response_types: Vec<i32>,
    }

    /// `prometheus.ReadRequest.ResponseType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ResponseType {
        /// Samples in one protobuf message.
        Samples = 0,
        /// Streamed frames of XOR chunks.
        StreamedXorChunks = 1,
    }

    /// `prometheus.ReadResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReadResponse {
        /// One result per query, in order.
        #[prost(message, repeated, tag = "1")]
        pub results: Vec<QueryResult>,
    }

    /// `prometheus.Query`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Query {
        /// Start of the range, inclusive, ms.
        #[prost(int64, tag = "1")]
        pub start_timestamp_ms: i64,
        /// End of the range, inclusive, ms.
        #[prost(int64, tag = "2")]
        pub end_timestamp_ms: i64,
        /// Label matchers (all must match).
        #[prost(message, repeated, tag = "3")]
        pub matchers: Vec<LabelMatcher>,
        /// Hints about the PromQL evaluation.
        #[prost(message, optional, tag = "4")]
        pub hints: Option<ReadHints>,
    }

    /// `prometheus.QueryResult`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryResult {
        /// The series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// `prometheus.ChunkedReadResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ChunkedReadResponse {
        /// The series of this frame.
        #[prost(message, repeated, tag = "1")]
        pub chunked_series: Vec<ChunkedSeries>,
        /// Index of the query in the request this frame answers.
        #[prost(int64, tag = "2")]
        pub query_index: i64,
    }
}

/// Remote write 2.0 messages (protobuf package `io.prometheus.write.v2`).
pub mod v2 {
    /// `io.prometheus.write.v2.Request`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        /// The symbols table; entry 0 is the empty string.
        #[prost(string, repeated, tag = "4")]
        pub symbols: Vec<String>,
        /// The series.
        #[prost(message, repeated, tag = "5")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// `io.prometheus.write.v2.TimeSeries`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Label name and value symbol references, alternating; sorted by name.
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        /// Float samples, in time order.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<super::v1::Sample>,
        /// Native histogram samples, in time order.
        #[prost(message, repeated, tag = "3")]
        pub histograms: Vec<super::Histogram>,
        /// Exemplars.
        #[prost(message, repeated, tag = "4")]
        pub exemplars: Vec<Exemplar>,
        /// Metadata.
        #[prost(message, optional, tag = "5")]
        pub metadata: Option<Metadata>,
        /// When the series was created (counters, histograms, summaries), ms; 0 if unknown.
        #[prost(int64, tag = "6")]
        pub created_timestamp: i64,
    }

    /// `io.prometheus.write.v2.Exemplar`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        /// Label name and value symbol references, alternating; sorted by name.
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        /// The value.
        #[prost(double, tag = "2")]
        pub value: f64,
        /// Milliseconds since the epoch.
        #[prost(int64, tag = "3")]
        pub timestamp: i64,
    }

    /// `io.prometheus.write.v2.Metadata`.
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Metadata {
        /// The type.
        #[prost(enumeration = "MetricType", tag = "1")]
        pub r#type: i32,
        /// Symbol reference of the help text.
        #[prost(uint32, tag = "3")]
        pub help_ref: u32,
        /// Symbol reference of the unit.
        #[prost(uint32, tag = "4")]
        pub unit_ref: u32,
    }

    /// `io.prometheus.write.v2.Metadata.MetricType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        /// Not specified.
        Unspecified = 0,
        /// Counter.
        Counter = 1,
        /// Gauge.
        Gauge = 2,
        /// Histogram.
        Histogram = 3,
        /// Gauge histogram.
        Gaugehistogram = 4,
        /// Summary.
        Summary = 5,
        /// Info.
        Info = 6,
        /// State set.
        Stateset = 7,
    }
}

/// A native histogram sample: the same message (and field numbers) in `prometheus` and
/// `io.prometheus.write.v2`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// The observation count.
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub count: Option<histogram::Count>,
    /// Sum of observations.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// Bucket schema.
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// Width of the zero bucket.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<histogram::ZeroCount>,
    /// Spans of negative buckets.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Negative bucket counts as deltas (integer histograms).
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Negative bucket counts, absolute (float histograms).
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Spans of positive buckets.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Positive bucket counts as deltas (integer histograms).
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Positive bucket counts, absolute (float histograms).
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// Counter reset hint.
    #[prost(enumeration = "histogram::ResetHint", tag = "14")]
    pub reset_hint: i32,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    /// Bucket boundaries of custom-bucket (schema -53) histograms.
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
}

/// The oneofs and enum nested in [`Histogram`].
pub mod histogram {
    /// `Histogram.count`.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Count {
        /// Integer count.
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        /// Float count.
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }

    /// `Histogram.zero_count`.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum ZeroCount {
        /// Integer zero-bucket count.
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        /// Float zero-bucket count.
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }

    /// `Histogram.ResetHint`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ResetHint {
        /// Unknown.
        Unknown = 0,
        /// A counter reset happened.
        Yes = 1,
        /// No counter reset happened.
        No = 2,
        /// A gauge histogram: resets have no meaning.
        Gauge = 3,
    }
}

/// `BucketSpan`: the same in both packages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span, or the first bucket index.
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}
