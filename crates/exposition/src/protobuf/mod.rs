//! The protobuf exposition format: delimited `io.prometheus.client.MetricFamily`
//! messages, as scraped with `Accept: application/vnd.google.protobuf;
//! proto=io.prometheus.client.MetricFamily; encoding=delimited`.
//!
//! The input is a sequence of messages, each preceded by its length as a varint.
//! [`ProtobufParser`] decodes one family at a time and presents it the way Prometheus's
//! scraper sees it, as if it had been written in the text format:
//!
//! - per family: [`Entry::Help`] (always, even with an empty help text), [`Entry::Unit`]
//!   when the unit is not empty, then [`Entry::Type`]. Families without metrics are
//!   skipped entirely;
//! - a counter, gauge or untyped metric: one sample named as the family (no suffix is
//!   added or removed);
//! - a summary: `name_count`, `name_sum`, then `name{quantile="q"}` per quantile;
//! - a classic histogram: `name_count`, `name_sum`, then `name_bucket{le="ub"}` per
//!   bucket up to the first `+Inf` one, and a `+Inf` bucket holding the sample count when
//!   the buckets have none;
//! - a native histogram: one [`Entry::Histogram`], followed by the classic series above
//!   when [`ParseOptions::classic_histograms`] is set and the histogram has classic
//!   buckets; with [`ParseOptions::ignore_native_histograms`], the classic series alone.
//!
//! `le` and `quantile` values are spelled as the OpenMetrics writer spells floats (`1.0`,
//! `0.25`, `+Inf`), as Prometheus does. See [`ProtobufParser`] for the validation done and
//! for where this parser deliberately differs from Prometheus.
//!
//! ```
//! use narthex_exposition::protobuf::{ProtobufParser, encode_delimited, pb};
//! use narthex_exposition::{Entry, ParseOptions, Parser};
//!
//! let family = pb::MetricFamily {
//!     name: Some("up".into()),
//!     r#type: Some(pb::MetricType::Gauge as i32),
//!     metric: vec![pb::Metric {
//!         label: vec![pb::LabelPair::new("job", "api")],
//!         gauge: Some(pb::Gauge { value: Some(1.0) }),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let mut bytes = Vec::new();
//! encode_delimited(&[family], &mut bytes);
//!
//! let mut parser = ProtobufParser::new(&bytes, ParseOptions::default());
//! let mut samples = Vec::new();
//! while let Some(entry) = parser.next_entry() {
//!     if let Entry::Sample(s) = entry? {
//!         samples.push((s.to_labels().to_string(), s.value));
//!     }
//! }
//! assert_eq!(samples, [(r#"{__name__="up", job="api"}"#.to_string(), 1.0)]);
//! # Ok::<(), narthex_exposition::ParseError>(())
//! ```

mod native;
pub mod pb;

use std::borrow::Cow;

use narthex_model::float::format_openmetrics_float;
use narthex_model::{Exemplar, Label, Labels, METRIC_NAME, MetricType};
use prost::Message;

use crate::{
    Entry, ErrorKind, ExemplarRef, HistogramRef, HistogramValue, LabelRef, NORMAL_NAN_BITS,
    ParseError, ParseOptions, Parser, Recovery, SampleRef,
};

/// Longest length prefix accepted, in bytes (a 32-bit varint), as in Prometheus.
const MAX_PREFIX_LEN: usize = 5;

/// Appends each family to `out` as a length-delimited message (varint length, then the
/// message), the framing [`ProtobufParser`] and [`decode_delimited`] read.
pub fn encode_delimited(families: &[pb::MetricFamily], out: &mut Vec<u8>) {
    for family in families {
        let len = family.encoded_len();
        out.reserve(len + prost::length_delimiter_len(len));
        prost::encoding::encode_varint(len as u64, out);
        family.encode_raw(out);
    }
}

/// Decodes a whole delimited stream into its families, without interpreting them (empty
/// and otherwise invalid families are returned as they are). Errors carry the byte offset
/// of the length prefix of the message that failed.
pub fn decode_delimited(input: &[u8]) -> Result<Vec<pb::MetricFamily>, ParseError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let body = frame(input, pos).map_err(|msg| error(pos, ErrorKind::Protobuf(msg)))?;
        let family = decode_family(input, body.clone()).map_err(|kind| error(pos, kind))?;
        out.push(family);
        pos = body.end;
    }
    Ok(out)
}

/// The byte range of the message whose length prefix starts at `pos`, or why the prefix
/// is unusable (truncated, too long, or announcing more bytes than the input has left).
fn frame(input: &[u8], pos: usize) -> Result<std::ops::Range<usize>, String> {
    let rest = input.get(pos..).unwrap_or(&[]);
    let mut len: u64 = 0;
    let mut prefix = 0;
    loop {
        let Some(&b) = rest.get(prefix) else {
            return Err("truncated length prefix".into());
        };
        if prefix == MAX_PREFIX_LEN {
            return Err(format!(
                "invalid length prefix: longer than {MAX_PREFIX_LEN} bytes"
            ));
        }
        len |= u64::from(b & 0x7f) << (7 * prefix);
        prefix += 1;
        if b < 0x80 {
            break;
        }
    }
    let available = rest.len() - prefix;
    if len > available as u64 {
        return Err(format!(
            "message length {len} runs past the end of the input ({available} bytes left)"
        ));
    }
    let start = pos + prefix;
    Ok(start..start + len as usize)
}

fn decode_family(
    input: &[u8],
    body: std::ops::Range<usize>,
) -> Result<pb::MetricFamily, ErrorKind> {
    let bytes = input.get(body).unwrap_or(&[]);
    pb::MetricFamily::decode(bytes).map_err(|e| ErrorKind::Protobuf(e.to_string()))
}

fn error(offset: usize, kind: ErrorKind) -> ParseError {
    ParseError {
        line: 0,
        column: u32::try_from(offset).unwrap_or(u32::MAX),
        kind,
    }
}

/// Prometheus's normal NaN for any NaN, so that no input can produce the stale marker.
pub(crate) fn normal_nan(v: f64) -> f64 {
    if v.is_nan() {
        f64::from_bits(NORMAL_NAN_BITS)
    } else {
        v
    }
}

/// What a family's metrics hold, from its declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Untyped,
    Summary,
    /// Histogram or gauge histogram; `native` is decided by the family's first metric.
    Histogram {
        gauge: bool,
        native: bool,
    },
}

/// Where the parser is: what it yields next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Decode the next family.
    Family,
    Help,
    Unit,
    Type,
    /// Move to the next metric of the family.
    Metric,
    /// The single sample of a counter, gauge or untyped metric.
    Value,
    /// The native histogram.
    Native,
    /// `_count` of a summary or classic histogram.
    Count,
    /// `_sum` of a summary or classic histogram.
    Sum,
    /// Quantile or bucket number n (for histograms, n == number of buckets is the
    /// synthesized `+Inf` bucket).
    Field(usize),
}

/// Which name a sample carries.
#[derive(Clone, Copy, Debug)]
enum Suffix {
    None,
    Count,
    Sum,
    Bucket,
}

/// What [`ProtobufParser::advance`] decided to yield; turned into an [`Entry`] that
/// borrows the parser.
#[derive(Debug)]
enum Emit {
    Help,
    Unit,
    Type,
    Sample {
        suffix: Suffix,
        magic: bool,
        value: f64,
        exemplar: bool,
    },
    Histogram(HistogramValue),
}

/// A streaming parser for the delimited protobuf exposition format.
///
/// Each family is decoded and checked as a whole before any of its entries is yielded, so
/// an invalid family yields nothing but its error. Checks, following Prometheus:
/// the family name is not empty; the type is one of the six known ones; a non-empty unit
/// is a `_`-separated suffix of the name (for a counter, of the name without `_total`);
/// label names are not empty; native histograms pass [`narthex_model::Histogram::validate`]
/// (or the float variant). Strings are valid UTF-8 (the decoder checks). In addition, a
/// label name may not repeat within a metric, and may not be `__name__`, nor `le` on a
/// classic histogram or `quantile` on a summary with quantiles (the parser adds those).
///
/// Errors have `line` 0 and the byte offset of the family's length prefix as `column`.
/// With [`Recovery::Strict`] the first error ends parsing. With [`Recovery::Lenient`] a
/// family that does not decode or check is skipped and parsing goes on with the next one;
/// an unusable length prefix (truncated, longer than 5 bytes, or longer than the input
/// left) still ends parsing, as nothing after it can be found.
///
/// Where this parser differs from Prometheus's (`model/textparse/protobufparse.go`):
/// - a `timestamp_ms` of 0 that is present is the timestamp 0 (Prometheus, which cannot
///   tell presence, reads 0 as "no timestamp");
/// - every NaN sample value and histogram sum becomes Prometheus's normal NaN
///   ([`NORMAL_NAN_BITS`]), as the text parsers do;
/// - errors are found per family before yielding, not in the middle of a family.
///
/// As in Prometheus, a metric whose populated value does not match the family type is
/// not an error: the value is read from the field the type names, and is 0 when that
/// field is absent. Created timestamps are decoded but not yielded.
#[derive(Debug)]
pub struct ProtobufParser<'a> {
    input: &'a [u8],
    /// Offset of the next length prefix.
    pos: usize,
    options: ParseOptions,
    finished: bool,
    step: Step,
    /// Offset of the current family's length prefix.
    offset: usize,
    name: String,
    help: String,
    unit: String,
    metric_type: MetricType,
    kind: Kind,
    /// `name_count`, `name_sum`, `name_bucket`.
    suffixed: [String; 3],
    metrics: std::vec::IntoIter<pb::Metric>,
    natives: std::vec::IntoIter<HistogramValue>,
    /// The current metric (its labels moved into `labels`).
    metric: pb::Metric,
    /// The current metric's labels, then the `le` / `quantile` slot for summaries and
    /// histograms. The strings are moved out of the decoded message, not copied.
    labels: Vec<LabelRef<'static>>,
    /// Number of the metric's own labels in `labels`.
    base_len: usize,
    exemplar_labels: Vec<LabelRef<'static>>,
    exemplar_value: f64,
    exemplar_timestamp: Option<i64>,
    native_exemplars: Vec<Exemplar>,
}

impl<'a> ProtobufParser<'a> {
    /// A parser over `input`, a sequence of varint-length-prefixed `MetricFamily`
    /// messages.
    pub fn new(input: &'a [u8], options: ParseOptions) -> Self {
        ProtobufParser {
            input,
            pos: 0,
            options,
            finished: false,
            step: Step::Family,
            offset: 0,
            name: String::new(),
            help: String::new(),
            unit: String::new(),
            metric_type: MetricType::Unknown,
            kind: Kind::Untyped,
            suffixed: Default::default(),
            metrics: Vec::new().into_iter(),
            natives: Vec::new().into_iter(),
            metric: pb::Metric::default(),
            labels: Vec::new(),
            base_len: 0,
            exemplar_labels: Vec::new(),
            exemplar_value: 0.0,
            exemplar_timestamp: None,
            native_exemplars: Vec::new(),
        }
    }

    /// Decodes and checks the next non-empty family. `Ok(false)` at the end of the input.
    fn next_family(&mut self) -> Result<bool, ParseError> {
        while self.pos < self.input.len() {
            let start = self.pos;
            let body = match frame(self.input, start) {
                Ok(body) => body,
                Err(msg) => {
                    // Nothing after a bad prefix can be located: stop in any mode.
                    self.finished = true;
                    return Err(error(start, ErrorKind::Protobuf(msg)));
                }
            };
            self.pos = body.end;
            let family = decode_family(self.input, body).map_err(|kind| error(start, kind))?;
            // Prometheus skips families without metrics before looking at anything else.
            if family.metric.is_empty() {
                continue;
            }
            self.load(family, start)
                .map_err(|kind| error(start, kind))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Checks a decoded family and makes it the current one.
    fn load(&mut self, family: pb::MetricFamily, offset: usize) -> Result<(), ErrorKind> {
        let name = family.name.unwrap_or_default();
        if name.is_empty() {
            return Err(ErrorKind::InvalidName {
                what: "metric",
                name,
            });
        }
        let raw_type = family.r#type.unwrap_or(0);
        let (metric_type, kind) = match pb::MetricType::try_from(raw_type) {
            Ok(pb::MetricType::Counter) => (MetricType::Counter, Kind::Counter),
            Ok(pb::MetricType::Gauge) => (MetricType::Gauge, Kind::Gauge),
            Ok(pb::MetricType::Untyped) => (MetricType::Unknown, Kind::Untyped),
            Ok(pb::MetricType::Summary) => (MetricType::Summary, Kind::Summary),
            Ok(t @ (pb::MetricType::Histogram | pb::MetricType::GaugeHistogram)) => {
                let gauge = t == pb::MetricType::GaugeHistogram;
                // Prometheus decides from the first metric whether the whole family is
                // read as native histograms.
                let native = !self.options.ignore_native_histograms
                    && native::is_native(family.metric.first().and_then(|m| m.histogram.as_ref()));
                let metric_type = if gauge {
                    MetricType::GaugeHistogram
                } else {
                    MetricType::Histogram
                };
                (metric_type, Kind::Histogram { gauge, native })
            }
            Err(_) => return Err(ErrorKind::InvalidType(raw_type.to_string())),
        };
        let unit = family.unit.unwrap_or_default();
        check_unit(&name, &unit, kind == Kind::Counter)?;

        let mut natives = Vec::new();
        for m in &family.metric {
            let magic = match kind {
                Kind::Summary if m.summary.as_ref().is_some_and(|s| !s.quantile.is_empty()) => {
                    Some("quantile")
                }
                Kind::Histogram { native, .. } if self.has_classic(native, m) => Some("le"),
                _ => None,
            };
            check_labels(&m.label, magic)?;
            if let Kind::Histogram {
                gauge,
                native: true,
            } = kind
            {
                natives
                    .push(native::build(m.histogram.as_ref(), gauge).map_err(ErrorKind::Protobuf)?);
            }
        }

        self.offset = offset;
        self.suffixed = match kind {
            Kind::Summary | Kind::Histogram { .. } => [
                format!("{name}_count"),
                format!("{name}_sum"),
                format!("{name}_bucket"),
            ],
            _ => Default::default(),
        };
        self.name = name;
        self.help = family.help.unwrap_or_default();
        self.unit = unit;
        self.metric_type = metric_type;
        self.kind = kind;
        self.metrics = family.metric.into_iter();
        self.natives = natives.into_iter();
        Ok(())
    }

    /// Whether a histogram metric yields classic series.
    fn has_classic(&self, native: bool, m: &pb::Metric) -> bool {
        !native
            || (self.options.classic_histograms
                && m.histogram.as_ref().is_some_and(|h| !h.bucket.is_empty()))
    }

    /// Makes the next metric current. `false` when the family has no more.
    fn next_metric(&mut self) -> bool {
        let Some(mut m) = self.metrics.next() else {
            return false;
        };
        self.labels.clear();
        self.labels.extend(m.label.drain(..).map(|l| LabelRef {
            name: Cow::Owned(l.name.unwrap_or_default()),
            value: Cow::Owned(l.value.unwrap_or_default()),
        }));
        self.base_len = self.labels.len();
        self.step = match self.kind {
            Kind::Counter | Kind::Gauge | Kind::Untyped => Step::Value,
            Kind::Summary => {
                self.labels.push(LabelRef {
                    name: Cow::Borrowed("quantile"),
                    value: Cow::Borrowed(""),
                });
                Step::Count
            }
            Kind::Histogram { native, .. } => {
                self.labels.push(LabelRef {
                    name: Cow::Borrowed("le"),
                    value: Cow::Borrowed(""),
                });
                if native { Step::Native } else { Step::Count }
            }
        };
        self.metric = m;
        true
    }

    /// Runs the state machine to the next thing to yield.
    fn advance(&mut self) -> Option<Result<Emit, ParseError>> {
        loop {
            match self.step {
                Step::Family => match self.next_family() {
                    Ok(true) => self.step = Step::Help,
                    Ok(false) => return None,
                    Err(e) => return Some(Err(e)),
                },
                Step::Help => {
                    self.step = if self.unit.is_empty() {
                        Step::Type
                    } else {
                        Step::Unit
                    };
                    return Some(Ok(Emit::Help));
                }
                Step::Unit => {
                    self.step = Step::Type;
                    return Some(Ok(Emit::Unit));
                }
                Step::Type => {
                    self.step = Step::Metric;
                    return Some(Ok(Emit::Type));
                }
                Step::Metric => {
                    if !self.next_metric() {
                        self.step = Step::Family;
                    }
                }
                Step::Value => {
                    self.step = Step::Metric;
                    return Some(Ok(self.simple_sample()));
                }
                Step::Native => return Some(Ok(self.native_histogram())),
                Step::Count | Step::Sum | Step::Field(_) => return Some(Ok(self.field_sample())),
            }
        }
    }

    fn simple_sample(&mut self) -> Emit {
        let m = &mut self.metric;
        let (value, exemplar) = match self.kind {
            Kind::Counter => {
                let c = m.counter.get_or_insert_with(Default::default);
                (c.value.unwrap_or(0.0), c.exemplar.take())
            }
            Kind::Gauge => (m.gauge.and_then(|g| g.value).unwrap_or(0.0), None),
            _ => (m.untyped.and_then(|u| u.value).unwrap_or(0.0), None),
        };
        let exemplar = self.set_exemplar(exemplar);
        Emit::Sample {
            suffix: Suffix::None,
            magic: false,
            value: normal_nan(value),
            exemplar,
        }
    }

    fn native_histogram(&mut self) -> Emit {
        let h = self.metric.histogram.as_ref();
        self.native_exemplars.clear();
        if let Some(h) = h {
            // Exemplars of the native histogram if it has any, else those of the classic
            // buckets; either way only those with a timestamp.
            let candidates: Vec<&pb::Exemplar> = if h.exemplars.is_empty() {
                h.bucket
                    .iter()
                    .filter_map(|b| b.exemplar.as_ref())
                    .collect()
            } else {
                h.exemplars.iter().collect()
            };
            self.native_exemplars
                .extend(candidates.into_iter().filter_map(|e| {
                    let ts = e.timestamp?;
                    Some(Exemplar {
                        labels: Labels::from_labels(
                            e.label
                                .iter()
                                .map(|l| {
                                    Label::new(
                                        l.name.as_deref().unwrap_or(""),
                                        l.value.as_deref().unwrap_or(""),
                                    )
                                })
                                .collect(),
                        ),
                        value: e.value.unwrap_or(0.0),
                        timestamp: Some(ts.to_millis()),
                    })
                }));
        }
        let classic_too = self.options.classic_histograms
            && self
                .metric
                .histogram
                .as_ref()
                .is_some_and(|h| !h.bucket.is_empty());
        self.step = if classic_too {
            Step::Count
        } else {
            Step::Metric
        };
        // Histograms were built and checked when the family was loaded, one per metric.
        let value = self
            .natives
            .next()
            .unwrap_or_else(|| HistogramValue::Int(Default::default()));
        Emit::Histogram(value)
    }

    /// `_count`, `_sum`, a quantile or a bucket of a summary or classic histogram.
    fn field_sample(&mut self) -> Emit {
        let step = self.step;
        if self.kind == Kind::Summary {
            let s = self.metric.summary.get_or_insert_with(Default::default);
            let n = s.quantile.len();
            let (suffix, value, magic, next) = match step {
                Step::Count => (
                    Suffix::Count,
                    s.sample_count.unwrap_or(0) as f64,
                    None,
                    Step::Sum,
                ),
                Step::Sum => (
                    Suffix::Sum,
                    s.sample_sum.unwrap_or(0.0),
                    None,
                    if n == 0 { Step::Metric } else { Step::Field(0) },
                ),
                Step::Field(i) => {
                    let q = s.quantile.get(i).copied().unwrap_or_default();
                    let next = if i + 1 < n {
                        Step::Field(i + 1)
                    } else {
                        Step::Metric
                    };
                    (
                        Suffix::None,
                        q.value.unwrap_or(0.0),
                        Some(q.quantile.unwrap_or(0.0)),
                        next,
                    )
                }
                _ => (Suffix::None, 0.0, None, Step::Metric),
            };
            self.step = next;
            if let Some(q) = magic {
                self.set_magic(format_openmetrics_float(q));
            }
            let exemplar = self.set_exemplar(None);
            return Emit::Sample {
                suffix,
                magic: magic.is_some(),
                value: normal_nan(value),
                exemplar,
            };
        }

        let h = self.metric.histogram.get_or_insert_with(Default::default);
        // Prometheus's reading of the float fields: used unless they are exactly 0.
        let count = or_int(h.sample_count_float, h.sample_count);
        let (suffix, value, le, exemplar, next) = match step {
            Step::Count => (Suffix::Count, count, None, None, Step::Sum),
            Step::Sum => (
                Suffix::Sum,
                h.sample_sum.unwrap_or(0.0),
                None,
                None,
                Step::Field(0),
            ),
            Step::Field(i) => match h.bucket.get_mut(i) {
                None => (
                    Suffix::Bucket,
                    count,
                    Some(f64::INFINITY),
                    None,
                    Step::Metric,
                ),
                Some(b) => {
                    let value = or_int(b.cumulative_count_float, b.cumulative_count);
                    let ub = b.upper_bound.unwrap_or(0.0);
                    // Buckets after a +Inf one are ignored, as Prometheus does.
                    let next = if ub == f64::INFINITY {
                        Step::Metric
                    } else {
                        Step::Field(i + 1)
                    };
                    (Suffix::Bucket, value, Some(ub), b.exemplar.take(), next)
                }
            },
            _ => (Suffix::None, 0.0, None, None, Step::Metric),
        };
        self.step = next;
        if let Some(ub) = le {
            self.set_magic(format_openmetrics_float(ub));
        }
        let exemplar = self.set_exemplar(exemplar);
        Emit::Sample {
            suffix,
            magic: le.is_some(),
            value: normal_nan(value),
            exemplar,
        }
    }

    fn set_magic(&mut self, value: String) {
        if let Some(slot) = self.labels.get_mut(self.base_len) {
            slot.value = Cow::Owned(value);
        }
    }

    /// Stores the exemplar of the sample about to be yielded; whether there is one.
    fn set_exemplar(&mut self, exemplar: Option<pb::Exemplar>) -> bool {
        self.exemplar_labels.clear();
        let Some(e) = exemplar else { return false };
        self.exemplar_labels
            .extend(e.label.into_iter().map(|l| LabelRef {
                name: Cow::Owned(l.name.unwrap_or_default()),
                value: Cow::Owned(l.value.unwrap_or_default()),
            }));
        self.exemplar_value = e.value.unwrap_or(0.0);
        self.exemplar_timestamp = e.timestamp.map(|t| t.to_millis());
        true
    }

    fn entry(&self, emit: Emit) -> Entry<'_> {
        let name = || Cow::Borrowed(self.name.as_str());
        let base: &[LabelRef<'_>] = self.labels.get(..self.base_len).unwrap_or(&[]);
        match emit {
            Emit::Help => Entry::Help {
                name: name(),
                help: Cow::Borrowed(&self.help),
            },
            Emit::Unit => Entry::Unit {
                name: name(),
                unit: Cow::Borrowed(&self.unit),
            },
            Emit::Type => Entry::Type {
                name: name(),
                metric_type: self.metric_type,
            },
            Emit::Sample {
                suffix,
                magic,
                value,
                exemplar,
            } => {
                let sample_name = match suffix {
                    Suffix::None => name(),
                    Suffix::Count => Cow::Borrowed(self.suffixed[0].as_str()),
                    Suffix::Sum => Cow::Borrowed(self.suffixed[1].as_str()),
                    Suffix::Bucket => Cow::Borrowed(self.suffixed[2].as_str()),
                };
                let labels = if magic {
                    self.labels.get(..self.base_len + 1).unwrap_or(base)
                } else {
                    base
                };
                Entry::Sample(SampleRef {
                    name: sample_name,
                    labels,
                    value,
                    timestamp: self.metric.timestamp_ms,
                    exemplar: exemplar.then(|| ExemplarRef {
                        labels: &self.exemplar_labels,
                        value: self.exemplar_value,
                        timestamp: self.exemplar_timestamp,
                    }),
                })
            }
            Emit::Histogram(histogram) => Entry::Histogram(HistogramRef {
                name: name(),
                labels: base,
                histogram,
                timestamp: self.metric.timestamp_ms,
                exemplars: &self.native_exemplars,
            }),
        }
    }

    /// Byte offset of the length prefix of the family being yielded (or the last one
    /// read).
    pub fn family_offset(&self) -> usize {
        self.offset
    }
}

impl Parser for ProtobufParser<'_> {
    fn next_entry(&mut self) -> Option<Result<Entry<'_>, ParseError>> {
        if self.finished {
            return None;
        }
        match self.advance() {
            None => {
                self.finished = true;
                None
            }
            Some(Err(e)) => {
                if self.options.recovery == Recovery::Strict {
                    self.finished = true;
                }
                // A failed family leaves nothing half-read: go on with the next one.
                self.step = Step::Family;
                Some(Err(e))
            }
            Some(Ok(emit)) => Some(Ok(self.entry(emit))),
        }
    }
}

/// A count from its float and integer fields, as Prometheus reads them: the float one
/// unless it is 0 (or absent).
fn or_int(float: Option<f64>, int: Option<u64>) -> f64 {
    match float {
        Some(v) if v != 0.0 => v,
        _ => int.unwrap_or(0) as f64,
    }
}

/// Prometheus's unit rule: a non-empty unit must end the name after a `_`; for a counter
/// whose name ends in `_total`, the name without `_total`.
fn check_unit(name: &str, unit: &str, counter: bool) -> Result<(), ErrorKind> {
    if unit.is_empty() {
        return Ok(());
    }
    let base = if counter {
        name.strip_suffix("_total").unwrap_or(name)
    } else {
        name
    };
    if base
        .strip_suffix(unit)
        .is_some_and(|rest| rest.ends_with('_'))
    {
        return Ok(());
    }
    let what = if counter { "counter" } else { "metric" };
    Err(ErrorKind::Protobuf(format!(
        "unit {unit:?} not a suffix of {what} {name:?}"
    )))
}

/// Label names must be non-empty and unique, and must not be `__name__` or the label the
/// parser adds (`magic`).
fn check_labels(labels: &[pb::LabelPair], magic: Option<&str>) -> Result<(), ErrorKind> {
    fn name_of(l: &pb::LabelPair) -> &str {
        l.name.as_deref().unwrap_or("")
    }
    for l in labels {
        let n = name_of(l);
        if n.is_empty() {
            return Err(ErrorKind::InvalidName {
                what: "label",
                name: String::new(),
            });
        }
        if n == METRIC_NAME || Some(n) == magic {
            return Err(ErrorKind::DuplicateLabel(n.to_string()));
        }
    }
    if labels.len() <= 16 {
        for (i, a) in labels.iter().enumerate() {
            if labels.iter().skip(i + 1).any(|b| name_of(a) == name_of(b)) {
                return Err(ErrorKind::DuplicateLabel(name_of(a).to_string()));
            }
        }
    } else {
        let mut names: Vec<&str> = labels.iter().map(name_of).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ErrorKind::DuplicateLabel(w[0].to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_rule_matches_prometheus() {
        assert!(check_unit("x_seconds", "seconds", false).is_ok());
        assert!(check_unit("x_seconds_total", "seconds", true).is_ok());
        assert!(check_unit("x_seconds_total", "seconds", false).is_err());
        assert!(check_unit("seconds", "seconds", false).is_err());
        assert!(check_unit("xseconds", "seconds", false).is_err());
        assert!(check_unit("x_bytes", "", false).is_ok());
    }

    #[test]
    fn frames_reject_bad_prefixes() {
        assert!(frame(&[0x80], 0).is_err());
        assert!(frame(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 0).is_err());
        assert!(frame(&[0x02, 0x00], 0).is_err());
        assert_eq!(frame(&[0x01, 0x00], 0), Ok(1..2));
        assert_eq!(frame(&[0x00], 0), Ok(1..1));
    }
}
