//! Remote write request bodies: protobuf 1.0 and 2.0, snappy block compression, and the
//! mapping between wire messages and Narthex's model types.
//!
//! Every `decode*` function takes untrusted bytes and returns a typed [`Error`]; none of
//! them panics, whatever the input.

use std::collections::HashMap;

use narthex_model::{
    CounterResetHint, Exemplar, FloatHistogram, Histogram, Label, Labels, Metadata, MetricType,
    Sample, Span,
};
use prost::Message;

use crate::pb::{self, histogram as pbh, v1, v2};

/// `Content-Type` of a remote write 1.0 body.
pub const CONTENT_TYPE_V1: &str = "application/x-protobuf";
/// `Content-Type` of a remote write 2.0 body.
pub const CONTENT_TYPE_V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
/// `Content-Encoding` of every remote write body.
pub const CONTENT_ENCODING: &str = "snappy";
/// Header carrying the protocol version.
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
/// [`VERSION_HEADER`] value for 1.0.
pub const VERSION_V1: &str = "0.1.0";
/// [`VERSION_HEADER`] value for 2.0.
pub const VERSION_V2: &str = "2.0.0";
/// 2.0 response header: float samples written.
pub const SAMPLES_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Samples-Written";
/// 2.0 response header: histogram samples written.
pub const HISTOGRAMS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Histograms-Written";
/// 2.0 response header: exemplars written.
pub const EXEMPLARS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Exemplars-Written";
/// Largest decompressed body accepted by default (Prometheus's receiver has no fixed limit;
/// senders keep batches far below this).
pub const DEFAULT_MAX_DECODED_LEN: usize = 256 << 20;

/// Which protobuf message a body holds (`protobuf_message` in `remote_write` config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `prometheus.WriteRequest` (remote write 1.0).
    #[default]
    V1,
    /// `io.prometheus.write.v2.Request` (remote write 2.0).
    V2,
}

impl Protocol {
    /// The `Content-Type` header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::V1 => CONTENT_TYPE_V1,
            Protocol::V2 => CONTENT_TYPE_V2,
        }
    }

    /// The [`VERSION_HEADER`] value.
    pub fn version(self) -> &'static str {
        match self {
            Protocol::V1 => VERSION_V1,
            Protocol::V2 => VERSION_V2,
        }
    }

    /// The protobuf message name used in configuration (`prometheus.WriteRequest` or
    /// `io.prometheus.write.v2.Request`).
    pub fn message_name(self) -> &'static str {
        match self {
            Protocol::V1 => "prometheus.WriteRequest",
            Protocol::V2 => "io.prometheus.write.v2.Request",
        }
    }

    /// The protocol of a `Content-Type` value, as the 2.0 specification negotiates it:
    /// no `proto` parameter (or an empty header) means 1.0. `None` for anything else.
    pub fn from_content_type(ct: &str) -> Option<Protocol> {
        let ct = ct.trim();
        if ct.is_empty() {
            return Some(Protocol::V1);
        }
        let mut parts = ct.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        if !media.eq_ignore_ascii_case("application/x-protobuf") {
            return None;
        }
        let mut proto = Protocol::V1;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("proto") {
                proto = match v.trim().trim_matches('"') {
                    "prometheus.WriteRequest" => Protocol::V1,
                    "io.prometheus.write.v2.Request" => Protocol::V2,
                    _ => return None,
                };
            }
        }
        Some(proto)
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The snappy block is corrupt.
    #[error("snappy decode error: {0}")]
    Snappy(String),
    /// The decompressed body would exceed the limit.
    #[error("decompressed body of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The declared decompressed length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The protobuf message is malformed.
    #[error("protobuf decode error: {0}")]
    Protobuf(String),
    /// A 2.0 reference points outside the symbols table.
    #[error("symbol reference {reference} out of range (symbols table has {len} entries)")]
    SymbolRef {
        /// The reference.
        reference: u32,
        /// The table's length.
        len: usize,
    },
    /// A 2.0 label reference list has an odd length.
    #[error("labels_refs must have an even length, got {0}")]
    OddLabelRefs(usize),
    /// A 2.0 symbols table must start with the empty string.
    #[error("symbols table must start with an empty string")]
    FirstSymbolNotEmpty,
    /// A label name repeats or a label name is empty.
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// An enumeration value this version does not know.
    #[error("invalid {what} value {value}")]
    InvalidEnum {
        /// Which enumeration.
        what: &'static str,
        /// The value.
        value: i32,
    },
    /// A message refused by the zero-copy view ([`crate::view`]), with the byte offset.
    #[error(transparent)]
    View(#[from] crate::view::ViewError),
}

impl From<prost::DecodeError> for Error {
    fn from(e: prost::DecodeError) -> Self {
        Error::Protobuf(e.to_string())
    }
}

/// A native histogram value as carried on the wire: integer or float counts.
#[derive(Clone, Debug, PartialEq)]
pub enum HistogramValue {
    /// Integer counts (`count_int`, bucket deltas).
    Int(Histogram),
    /// Float counts (`count_float`, absolute bucket counts).
    Float(FloatHistogram),
}

/// One timestamped native histogram.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSample {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The value.
    pub value: HistogramValue,
}

/// One series of a write request, independent of the protocol version.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeSeries {
    /// The series' labels (sorted, empty values dropped).
    pub labels: Labels,
    /// Float samples.
    pub samples: Vec<Sample>,
    /// Native histogram samples.
    pub histograms: Vec<HistogramSample>,
    /// Exemplars (a missing timestamp is sent as 0).
    pub exemplars: Vec<Exemplar>,
    /// Metadata (2.0 only; 1.0 carries metadata per family in [`WriteRequest::metadata`]).
    pub metadata: Option<Metadata>,
    /// The created timestamp (2.0 only), 0 when unknown.
    pub created_timestamp: i64,
}

/// Metadata of one metric family (1.0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilyMetadata {
    /// The family name.
    pub family: String,
    /// Type, help and unit.
    pub metadata: Metadata,
}

/// A write request, independent of the protocol version.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteRequest {
    /// The series.
    pub timeseries: Vec<TimeSeries>,
    /// Per-family metadata (1.0 only; ignored when encoding 2.0).
    pub metadata: Vec<FamilyMetadata>,
}

impl WriteRequest {
    /// Float samples in the request.
    pub fn num_samples(&self) -> usize {
        self.timeseries.iter().map(|t| t.samples.len()).sum()
    }
    /// Histogram samples in the request.
    pub fn num_histograms(&self) -> usize {
        self.timeseries.iter().map(|t| t.histograms.len()).sum()
    }
    /// Exemplars in the request.
    pub fn num_exemplars(&self) -> usize {
        self.timeseries.iter().map(|t| t.exemplars.len()).sum()
    }
}

// ---------------------------------------------------------------------------------------
// Snappy.

/// Compresses `data` in snappy's block format (not the framed format), as remote write does.
pub fn compress(data: &[u8]) -> Vec<u8> {
    // Encoding into a buffer of `max_compress_len` cannot fail for inputs below 4 GiB; the
    // fallback keeps this function total.
    snap::raw::Encoder::new()
        .compress_vec(data)
        .unwrap_or_default()
}

/// Decompresses a snappy block, refusing outputs longer than `limit` bytes.
pub fn decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let len = snap::raw::decompress_len(data).map_err(|e| Error::Snappy(e.to_string()))?;
    if len > limit {
        return Err(Error::TooLarge { len, limit });
    }
    let mut out = vec![0; len];
    let n = snap::raw::Decoder::new()
        .decompress(data, &mut out)
        .map_err(|e| Error::Snappy(e.to_string()))?;
    out.truncate(n);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Enumerations.

pub(crate) fn metric_type_to_wire(t: MetricType) -> i32 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}

pub(crate) fn metric_type_from_wire(v: i32) -> Result<MetricType, Error> {
    Ok(match v {
        0 => MetricType::Unknown,
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        value => {
            return Err(Error::InvalidEnum {
                what: "metric type",
                value,
            });
        }
    })
}

fn hint_to_wire(h: CounterResetHint) -> i32 {
    (match h {
        CounterResetHint::Unknown => pbh::ResetHint::Unknown,
        CounterResetHint::CounterReset => pbh::ResetHint::Yes,
        CounterResetHint::NotCounterReset => pbh::ResetHint::No,
        CounterResetHint::Gauge => pbh::ResetHint::Gauge,
    }) as i32
}

fn hint_from_wire(v: i32) -> Result<CounterResetHint, Error> {
    Ok(match v {
        0 => CounterResetHint::Unknown,
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        value => {
            return Err(Error::InvalidEnum {
                what: "histogram reset hint",
                value,
            });
        }
    })
}

// ---------------------------------------------------------------------------------------
// Histograms.

fn spans_to_wire(s: &[Span]) -> Vec<pb::BucketSpan> {
    s.iter()
        .map(|s| pb::BucketSpan {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn spans_from_wire(s: &[pb::BucketSpan]) -> Vec<Span> {
    s.iter()
        .map(|s| Span {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

/// A model histogram as a wire message with the given timestamp.
pub fn histogram_to_wire(timestamp: i64, h: &HistogramValue) -> pb::Histogram {
    match h {
        HistogramValue::Int(h) => pb::Histogram {
            count: Some(pbh::Count::CountInt(h.count)),
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: Some(pbh::ZeroCount::ZeroCountInt(h.zero_count)),
            negative_spans: spans_to_wire(&h.negative_spans),
            negative_deltas: h.negative_buckets.clone(),
            negative_counts: Vec::new(),
            positive_spans: spans_to_wire(&h.positive_spans),
            positive_deltas: h.positive_buckets.clone(),
            positive_counts: Vec::new(),
            reset_hint: hint_to_wire(h.counter_reset_hint),
            timestamp,
            custom_values: h.custom_values.clone(),
        },
        HistogramValue::Float(h) => pb::Histogram {
            count: Some(pbh::Count::CountFloat(h.count)),
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: Some(pbh::ZeroCount::ZeroCountFloat(h.zero_count)),
            negative_spans: spans_to_wire(&h.negative_spans),
            negative_deltas: Vec::new(),
            negative_counts: h.negative_buckets.clone(),
            positive_spans: spans_to_wire(&h.positive_spans),
            positive_deltas: Vec::new(),
            positive_counts: h.positive_buckets.clone(),
            reset_hint: hint_to_wire(h.counter_reset_hint),
            timestamp,
            custom_values: h.custom_values.clone(),
        },
    }
}

/// A wire histogram as a model histogram: float when `count_float` is set (as Prometheus's
/// `IsFloatHistogram`), integer otherwise. The values are not validated here.
pub fn histogram_from_wire(h: &pb::Histogram) -> Result<HistogramSample, Error> {
    let counter_reset_hint = hint_from_wire(h.reset_hint)?;
    let value = if let Some(pbh::Count::CountFloat(count)) = h.count {
        let zero_count = match h.zero_count {
            Some(pbh::ZeroCount::ZeroCountFloat(z)) => z,
            Some(pbh::ZeroCount::ZeroCountInt(z)) => z as f64,
            None => 0.0,
        };
        HistogramValue::Float(FloatHistogram {
            counter_reset_hint,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count,
            count,
            sum: h.sum,
            positive_spans: spans_from_wire(&h.positive_spans),
            negative_spans: spans_from_wire(&h.negative_spans),
            positive_buckets: h.positive_counts.clone(),
            negative_buckets: h.negative_counts.clone(),
            custom_values: h.custom_values.clone(),
        })
    } else {
        let count = match h.count {
            Some(pbh::Count::CountInt(c)) => c,
            _ => 0,
        };
        let zero_count = match h.zero_count {
            Some(pbh::ZeroCount::ZeroCountInt(z)) => z,
            Some(pbh::ZeroCount::ZeroCountFloat(z)) => z as u64,
            None => 0,
        };
        HistogramValue::Int(Histogram {
            counter_reset_hint,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count,
            count,
            sum: h.sum,
            positive_spans: spans_from_wire(&h.positive_spans),
            negative_spans: spans_from_wire(&h.negative_spans),
            positive_buckets: h.positive_deltas.clone(),
            negative_buckets: h.negative_deltas.clone(),
            custom_values: h.custom_values.clone(),
        })
    };
    Ok(HistogramSample {
        timestamp: h.timestamp,
        value,
    })
}

// ---------------------------------------------------------------------------------------
// Labels.

fn labels_from_pairs<'a>(
    pairs: impl Iterator<Item = Result<(&'a str, &'a str), Error>>,
    cap: usize,
) -> Result<Labels, Error> {
    let mut v = Vec::with_capacity(cap);
    for p in pairs {
        let (n, val) = p?;
        v.push(Label::new(n, val));
    }
    finish_labels(v)
}

/// Sorts labels, rejects empty and repeated names, drops empty values.
pub(crate) fn finish_labels(mut v: Vec<Label>) -> Result<Labels, Error> {
    if v.iter().any(|l| l.name.is_empty()) {
        return Err(Error::InvalidLabels("empty label name".into()));
    }
    if !v.is_sorted_by(|a, b| a.name < b.name) {
        v.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = v.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(Error::InvalidLabels(format!(
                "duplicate label name {:?}",
                &*w[0].name
            )));
        }
    }
    Ok(Labels::from_labels(v))
}

/// Labels as 1.0 wire labels (sorted by name, as the specification requires).
pub fn labels_to_wire(l: &Labels) -> Vec<v1::Label> {
    l.iter()
        .map(|l| v1::Label {
            name: l.name.to_string(),
            value: l.value.to_string(),
        })
        .collect()
}

/// 1.0 wire labels as a label set; an error for empty or repeated names.
pub fn labels_from_wire(l: &[v1::Label]) -> Result<Labels, Error> {
    labels_from_pairs(
        l.iter().map(|l| Ok((l.name.as_str(), l.value.as_str()))),
        l.len(),
    )
}

// ---------------------------------------------------------------------------------------
// 1.0.

/// The 1.0 wire message of a request.
pub fn to_v1(req: &WriteRequest) -> v1::WriteRequest {
    v1::WriteRequest {
        timeseries: req
            .timeseries
            .iter()
            .map(|ts| v1::TimeSeries {
                labels: labels_to_wire(&ts.labels),
                samples: ts
                    .samples
                    .iter()
                    .map(|s| v1::Sample {
                        value: s.value,
                        timestamp: s.timestamp,
                    })
                    .collect(),
                exemplars: ts
                    .exemplars
                    .iter()
                    .map(|e| v1::Exemplar {
                        labels: labels_to_wire(&e.labels),
                        value: e.value,
                        timestamp: e.timestamp.unwrap_or(0),
                    })
                    .collect(),
                histograms: ts
                    .histograms
                    .iter()
                    .map(|h| histogram_to_wire(h.timestamp, &h.value))
                    .collect(),
            })
            .collect(),
        metadata: req.metadata.iter().map(to_v1_metadata).collect(),
    }
}

/// The 1.0 wire message of one family's metadata.
pub(crate) fn to_v1_metadata(m: &FamilyMetadata) -> v1::MetricMetadata {
    v1::MetricMetadata {
        r#type: metric_type_to_wire(m.metadata.metric_type),
        metric_family_name: m.family.clone(),
        help: m.metadata.help.clone(),
        unit: m.metadata.unit.clone(),
    }
}

/// A 1.0 wire message as a request.
pub fn from_v1(req: &v1::WriteRequest) -> Result<WriteRequest, Error> {
    let mut out = WriteRequest {
        timeseries: Vec::with_capacity(req.timeseries.len()),
        metadata: Vec::with_capacity(req.metadata.len()),
    };
    for ts in &req.timeseries {
        out.timeseries.push(TimeSeries {
            labels: labels_from_wire(&ts.labels)?,
            samples: ts
                .samples
                .iter()
                .map(|s| Sample {
                    timestamp: s.timestamp,
                    value: s.value,
                })
                .collect(),
            histograms: ts
                .histograms
                .iter()
                .map(histogram_from_wire)
                .collect::<Result<_, _>>()?,
            exemplars: ts
                .exemplars
                .iter()
                .map(|e| {
                    Ok(Exemplar {
                        labels: labels_from_wire(&e.labels)?,
                        value: e.value,
                        timestamp: Some(e.timestamp),
                    })
                })
                .collect::<Result<_, Error>>()?,
            metadata: None,
            created_timestamp: 0,
        });
    }
    for m in &req.metadata {
        out.metadata.push(FamilyMetadata {
            family: m.metric_family_name.clone(),
            metadata: Metadata {
                metric_type: metric_type_from_wire(m.r#type)?,
                help: m.help.clone(),
                unit: m.unit.clone(),
            },
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// 2.0.

/// Builds a 2.0 symbols table: index 0 is always the empty string, each string once.
#[derive(Debug)]
pub struct SymbolTable {
    symbols: Vec<String>,
    index: HashMap<String, u32>,
}

impl Default for SymbolTable {
    fn default() -> Self {
        Self::new()
    }
}

impl SymbolTable {
    /// A table holding only the empty string.
    pub fn new() -> Self {
        let mut index = HashMap::new();
        index.insert(String::new(), 0);
        SymbolTable {
            symbols: vec![String::new()],
            index,
        }
    }

    /// The reference of `s`, adding it when new.
    pub fn symbolize(&mut self, s: &str) -> u32 {
        if let Some(r) = self.index.get(s) {
            return *r;
        }
        let r = self.symbols.len() as u32;
        self.symbols.push(s.to_string());
        self.index.insert(s.to_string(), r);
        r
    }

    /// Appends the references of a label set's names and values to `refs`.
    pub fn symbolize_labels(&mut self, l: &Labels, refs: &mut Vec<u32>) {
        for l in l {
            refs.push(self.symbolize(&l.name));
            refs.push(self.symbolize(&l.value));
        }
    }

    /// The table, consumed.
    pub fn into_symbols(self) -> Vec<String> {
        self.symbols
    }
}

/// The 2.0 wire message of a request. Per-family metadata ([`WriteRequest::metadata`]) is
/// not part of 2.0; each series' own [`TimeSeries::metadata`] is sent.
pub fn to_v2(req: &WriteRequest) -> v2::Request {
    let mut st = SymbolTable::new();
    let mut timeseries = Vec::with_capacity(req.timeseries.len());
    for ts in &req.timeseries {
        let mut labels_refs = Vec::with_capacity(ts.labels.len() * 2);
        st.symbolize_labels(&ts.labels, &mut labels_refs);
        let exemplars = ts
            .exemplars
            .iter()
            .map(|e| {
                let mut r = Vec::with_capacity(e.labels.len() * 2);
                st.symbolize_labels(&e.labels, &mut r);
                v2::Exemplar {
                    labels_refs: r,
                    value: e.value,
                    timestamp: e.timestamp.unwrap_or(0),
                }
            })
            .collect();
        let metadata = ts.metadata.as_ref().map(|m| v2::Metadata {
            r#type: metric_type_to_wire(m.metric_type),
            help_ref: st.symbolize(&m.help),
            unit_ref: st.symbolize(&m.unit),
        });
        timeseries.push(v2::TimeSeries {
            labels_refs,
            samples: ts
                .samples
                .iter()
                .map(|s| v1::Sample {
                    value: s.value,
                    timestamp: s.timestamp,
                })
                .collect(),
            histograms: ts
                .histograms
                .iter()
                .map(|h| histogram_to_wire(h.timestamp, &h.value))
                .collect(),
            exemplars,
            metadata,
            created_timestamp: ts.created_timestamp,
        });
    }
    v2::Request {
        symbols: st.into_symbols(),
        timeseries,
    }
}

fn symbol(symbols: &[String], r: u32) -> Result<&str, Error> {
    symbols
        .get(r as usize)
        .map(String::as_str)
        .ok_or(Error::SymbolRef {
            reference: r,
            len: symbols.len(),
        })
}

fn labels_from_refs(symbols: &[String], refs: &[u32]) -> Result<Labels, Error> {
    if !refs.len().is_multiple_of(2) {
        return Err(Error::OddLabelRefs(refs.len()));
    }
    labels_from_pairs(
        refs.chunks_exact(2)
            .map(|p| Ok((symbol(symbols, p[0])?, symbol(symbols, p[1])?))),
        refs.len() / 2,
    )
}

/// A 2.0 wire message as a request.
pub fn from_v2(req: &v2::Request) -> Result<WriteRequest, Error> {
    let symbols = &req.symbols;
    if symbols.first().is_some_and(|s| !s.is_empty()) {
        return Err(Error::FirstSymbolNotEmpty);
    }
    let mut out = WriteRequest {
        timeseries: Vec::with_capacity(req.timeseries.len()),
        metadata: Vec::new(),
    };
    for ts in &req.timeseries {
        let metadata = match &ts.metadata {
            None => None,
            Some(m) => Some(Metadata {
                metric_type: metric_type_from_wire(m.r#type)?,
                help: symbol(symbols, m.help_ref)?.to_string(),
                unit: symbol(symbols, m.unit_ref)?.to_string(),
            }),
        };
        out.timeseries.push(TimeSeries {
            labels: labels_from_refs(symbols, &ts.labels_refs)?,
            samples: ts
                .samples
                .iter()
                .map(|s| Sample {
                    timestamp: s.timestamp,
                    value: s.value,
                })
                .collect(),
            histograms: ts
                .histograms
                .iter()
                .map(histogram_from_wire)
                .collect::<Result<_, _>>()?,
            exemplars: ts
                .exemplars
                .iter()
                .map(|e| {
                    Ok(Exemplar {
                        labels: labels_from_refs(symbols, &e.labels_refs)?,
                        value: e.value,
                        timestamp: Some(e.timestamp),
                    })
                })
                .collect::<Result<_, Error>>()?,
            metadata,
            created_timestamp: ts.created_timestamp,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Whole bodies.

/// Encodes a request as uncompressed protobuf of the given protocol.
///
/// Writes the wire bytes directly from the model types; [`encode_prost`] is the reference
/// path through the [`crate::pb`] messages and produces the same bytes.
pub fn encode(req: &WriteRequest, protocol: Protocol) -> Vec<u8> {
    match protocol {
        Protocol::V1 => crate::enc::encode_v1(req),
        Protocol::V2 => crate::enc::encode_v2(req),
    }
}

/// Encodes through the `prost` messages ([`to_v1`]/[`to_v2`]).
pub fn encode_prost(req: &WriteRequest, protocol: Protocol) -> Vec<u8> {
    match protocol {
        Protocol::V1 => to_v1(req).encode_to_vec(),
        Protocol::V2 => to_v2(req).encode_to_vec(),
    }
}

/// Encodes a request as a snappy-compressed body, ready to POST.
pub fn encode_compressed(req: &WriteRequest, protocol: Protocol) -> Vec<u8> {
    compress(&encode(req, protocol))
}

/// Decodes uncompressed protobuf of the given protocol. Never panics.
///
/// Uses a direct decoder (wire bytes to model types, label strings interned per request);
/// [`decode_prost`] is the reference path through the [`crate::pb`] messages and gives the
/// same result on every valid encoding.
pub fn decode(bytes: &[u8], protocol: Protocol) -> Result<WriteRequest, Error> {
    match protocol {
        Protocol::V1 => crate::fast::decode_v1(bytes),
        Protocol::V2 => crate::fast::decode_v2(bytes),
    }
}

/// Decodes through the `prost` messages ([`from_v1`]/[`from_v2`]). Never panics.
pub fn decode_prost(bytes: &[u8], protocol: Protocol) -> Result<WriteRequest, Error> {
    match protocol {
        Protocol::V1 => from_v1(&v1::WriteRequest::decode(bytes)?),
        Protocol::V2 => from_v2(&v2::Request::decode(bytes)?),
    }
}

/// Decodes a snappy-compressed body of the given protocol, refusing bodies that
/// decompress to more than `limit` bytes. Never panics.
pub fn decode_compressed(
    body: &[u8],
    protocol: Protocol,
    limit: usize,
) -> Result<WriteRequest, Error> {
    decode(&decompress(body, limit)?, protocol)
}
