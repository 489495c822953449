//! WAL records in Prometheus's `tsdb/record` layout: series, samples, tombstones, exemplars,
//! mmap markers, metadata and native histogram samples.
//!
//! Every record starts with a type byte. References and base timestamps are big-endian
//! fixed width; per-entry deltas are zig-zag varints; strings are uvarint-length-prefixed.

use narthex_model::{CounterResetHint, FloatHistogram, Histogram, Label, Labels, MetricType, Span};

use crate::encoding::{Decbuf, DecodeError, Encbuf};

/// The first byte of every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    /// Series labels and their references.
    Series = 1,
    /// Float samples.
    Samples = 2,
    /// Deletion intervals.
    Tombstones = 3,
    /// Exemplars.
    Exemplars = 4,
    /// Head chunks written to `chunks_head/`.
    MmapMarkers = 5,
    /// Metric metadata.
    Metadata = 6,
    /// Integer native histograms (exponential schemas).
    HistogramSamples = 7,
    /// Float native histograms (exponential schemas).
    FloatHistogramSamples = 8,
    /// Integer native histograms with custom buckets.
    CustomBucketsHistogramSamples = 9,
    /// Float native histograms with custom buckets.
    CustomBucketsFloatHistogramSamples = 10,
}

impl RecordType {
    /// The type of a record from its first byte.
    pub fn of(rec: &[u8]) -> Option<RecordType> {
        Some(match rec.first()? {
            1 => RecordType::Series,
            2 => RecordType::Samples,
            3 => RecordType::Tombstones,
            4 => RecordType::Exemplars,
            5 => RecordType::MmapMarkers,
            6 => RecordType::Metadata,
            7 => RecordType::HistogramSamples,
            8 => RecordType::FloatHistogramSamples,
            9 => RecordType::CustomBucketsHistogramSamples,
            10 => RecordType::CustomBucketsFloatHistogramSamples,
            _ => return None,
        })
    }
}

/// A series and its reference.
#[derive(Clone, Debug, PartialEq)]
pub struct RefSeries {
    /// The series reference.
    pub r: u64,
    /// Its labels.
    pub labels: Labels,
}

/// A float sample of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefSample {
    /// The series reference.
    pub r: u64,
    /// Milliseconds.
    pub t: i64,
    /// The value (stored as raw bits: stale markers survive).
    pub v: f64,
}

/// A deletion interval of a series (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefTombstone {
    /// The series reference.
    pub r: u64,
    /// First deleted millisecond.
    pub mint: i64,
    /// Last deleted millisecond.
    pub maxt: i64,
}

/// An exemplar of a series.
#[derive(Clone, Debug, PartialEq)]
pub struct RefExemplar {
    /// The series reference.
    pub r: u64,
    /// Milliseconds.
    pub t: i64,
    /// The value.
    pub v: f64,
    /// The exemplar's labels.
    pub labels: Labels,
}

/// A head chunk of a series written to a `chunks_head/` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefMmapMarker {
    /// The series reference.
    pub r: u64,
    /// Where the chunk is: file index in the high 32 bits, offset in the low 32.
    pub mmap_ref: u64,
}

/// Metadata of a series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefMetadata {
    /// The series reference.
    pub r: u64,
    /// The metric type.
    pub metric_type: MetricType,
    /// The unit.
    pub unit: String,
    /// The help text.
    pub help: String,
}

/// An integer histogram sample.
#[derive(Clone, Debug, PartialEq)]
pub struct RefHistogramSample {
    /// The series reference.
    pub r: u64,
    /// Milliseconds.
    pub t: i64,
    /// The histogram.
    pub h: Histogram,
}

/// A float histogram sample.
#[derive(Clone, Debug, PartialEq)]
pub struct RefFloatHistogramSample {
    /// The series reference.
    pub r: u64,
    /// Milliseconds.
    pub t: i64,
    /// The histogram.
    pub h: FloatHistogram,
}

/// Prometheus's metadata type byte.
fn metric_type_byte(t: MetricType) -> u8 {
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

fn metric_type_from(b: u8) -> MetricType {
    match b {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Unknown,
    }
}

fn hint_byte(h: CounterResetHint) -> u8 {
    match h {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => 1,
        CounterResetHint::NotCounterReset => 2,
        CounterResetHint::Gauge => 3,
    }
}

fn hint_from(b: u8) -> CounterResetHint {
    match b {
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

fn put_labels(e: &mut Encbuf, labels: &Labels) {
    e.put_uvarint(labels.len() as u64);
    for l in labels {
        e.put_uvarint_str(&l.name);
        e.put_uvarint_str(&l.value);
    }
}

fn get_labels(d: &mut Decbuf<'_>) -> Result<Labels, DecodeError> {
    let n = d.count(2, "label count")?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let name = d.uvarint_str("label name")?;
        let value = d.uvarint_str("label value")?;
        v.push(Label::new(name, value));
    }
    Ok(Labels::from_labels(v))
}

/// Encodes a series record.
pub fn encode_series(series: &[RefSeries], out: &mut Vec<u8>) {
    let mut e = Encbuf::new(std::mem::take(out));
    e.put_byte(RecordType::Series as u8);
    for s in series {
        e.put_be64(s.r);
        put_labels(&mut e, &s.labels);
    }
    *out = e.b;
}

/// Encodes a float-samples record.
pub fn encode_samples(samples: &[RefSample], out: &mut Vec<u8>) {
    encode_sample_iter(samples.iter().copied(), out);
}

/// Encodes a samples record from samples as they come, without collecting them first.
pub(crate) fn encode_sample_iter(samples: impl IntoIterator<Item = RefSample>, out: &mut Vec<u8>) {
    let mut e = Encbuf::new(std::mem::take(out));
    e.put_byte(RecordType::Samples as u8);
    let mut samples = samples.into_iter();
    if let Some(first) = samples.next() {
        e.put_be64(first.r);
        e.put_be64_i64(first.t);
        for s in std::iter::once(first).chain(samples) {
            e.put_varint(s.r.wrapping_sub(first.r) as i64);
            e.put_varint(s.t.wrapping_sub(first.t));
            e.put_be_f64(s.v);
        }
    }
    *out = e.b;
}

/// Encodes a tombstones record.
pub fn encode_tombstones(stones: &[RefTombstone], out: &mut Vec<u8>) {
    let mut e = Encbuf::new(std::mem::take(out));
    e.put_byte(RecordType::Tombstones as u8);
    for s in stones {
        e.put_be64(s.r);
        e.put_varint(s.mint);
        e.put_varint(s.maxt);
    }
    *out = e.b;
}

/// Encodes an exemplars record.
pub fn encode_exemplars(exemplars: &[RefExemplar], out: &mut Vec<u8>) {
    let mut e = Encbuf::new(std::mem::take(out));
    e.put_byte(RecordType::Exemplars as u8);
    if let Some(first) = exemplars.first() {
        e.put_be64(first.r);
        e.put_be64_i64(first.t);
        for x in exemplars {
            e.put_varint(x.r.wrapping_sub(first.r) as i64);
            e.put_varint(x.t.wrapping_sub(first.t));
            e.put_be_f64(x.v);
            put_labels(&mut e, &x.labels);
        }
    }
    *out = e.b;
}

/// Encodes an mmap-markers record.
pub fn encode_mmap_markers(markers: &[RefMmapMarker], out: &mut Vec<u8>) {
    let mut e = Encbuf::new(std::mem::take(out));
    e.put_byte(RecordType::MmapMarkers as u8);
    for m in markers {
        e.put_uvarint(m.r);
        e.put_uvarint(m.mmap_ref);
    }
    *out = e.b;
}

/// Encodes a metadata record.
pub fn encode_metadata(metadata: &[RefMetadata], out: &mut Vec<u8>) {
    let mut e = Encbuf::new(std::mem::take(out));
    e.put_byte(RecordType::Metadata as u8);
    for m in metadata {
        e.put_uvarint(m.r);
        e.put_byte(metric_type_byte(m.metric_type));
        e.put_uvarint(2);
        e.put_uvarint_str("UNIT");
        e.put_uvarint_str(&m.unit);
        e.put_uvarint_str("HELP");
        e.put_uvarint_str(&m.help);
    }
    *out = e.b;
}

fn put_spans(e: &mut Encbuf, spans: &[Span]) {
    e.put_uvarint(spans.len() as u64);
    for s in spans {
        e.put_varint(i64::from(s.offset));
        e.put_uvarint(u64::from(s.length));
    }
}

fn get_spans(d: &mut Decbuf<'_>) -> Result<Vec<Span>, DecodeError> {
    let n = d.count(2, "span count")?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = i32::try_from(d.varint("span offset")?).map_err(|_| DecodeError {
            what: "span offset out of range",
            offset: d.offset(),
        })?;
        let length = u32::try_from(d.uvarint("span length")?).map_err(|_| DecodeError {
            what: "span length out of range",
            offset: d.offset(),
        })?;
        v.push(Span { offset, length });
    }
    Ok(v)
}

fn put_histogram(e: &mut Encbuf, h: &Histogram) {
    e.put_byte(hint_byte(h.counter_reset_hint));
    e.put_varint(i64::from(h.schema));
    e.put_be_f64(h.zero_threshold);
    e.put_uvarint(h.zero_count);
    e.put_uvarint(h.count);
    e.put_be_f64(h.sum);
    put_spans(e, &h.positive_spans);
    put_spans(e, &h.negative_spans);
    e.put_uvarint(h.positive_buckets.len() as u64);
    for b in &h.positive_buckets {
        e.put_varint(*b);
    }
    e.put_uvarint(h.negative_buckets.len() as u64);
    for b in &h.negative_buckets {
        e.put_varint(*b);
    }
    if h.uses_custom_buckets() {
        e.put_uvarint(h.custom_values.len() as u64);
        for v in &h.custom_values {
            e.put_be_f64(*v);
        }
    }
}

fn get_schema(d: &mut Decbuf<'_>) -> Result<i32, DecodeError> {
    i32::try_from(d.varint("schema")?).map_err(|_| DecodeError {
        what: "schema out of range",
        offset: d.offset(),
    })
}

fn get_histogram(d: &mut Decbuf<'_>) -> Result<Histogram, DecodeError> {
    let mut h = Histogram {
        counter_reset_hint: hint_from(d.byte("counter reset hint")?),
        schema: get_schema(d)?,
        zero_threshold: d.be_f64("zero threshold")?,
        zero_count: d.uvarint("zero count")?,
        count: d.uvarint("count")?,
        sum: d.be_f64("sum")?,
        positive_spans: get_spans(d)?,
        negative_spans: get_spans(d)?,
        ..Histogram::default()
    };
    let n = d.count(1, "bucket count")?;
    h.positive_buckets = (0..n)
        .map(|_| d.varint("bucket"))
        .collect::<Result<_, _>>()?;
    let n = d.count(1, "bucket count")?;
    h.negative_buckets = (0..n)
        .map(|_| d.varint("bucket"))
        .collect::<Result<_, _>>()?;
    if h.uses_custom_buckets() {
        let n = d.count(8, "custom value count")?;
        h.custom_values = (0..n)
            .map(|_| d.be_f64("custom value"))
            .collect::<Result<_, _>>()?;
    }
    Ok(h)
}

fn put_float_histogram(e: &mut Encbuf, h: &FloatHistogram) {
    e.put_byte(hint_byte(h.counter_reset_hint));
    e.put_varint(i64::from(h.schema));
    e.put_be_f64(h.zero_threshold);
    e.put_be_f64(h.zero_count);
    e.put_be_f64(h.count);
    e.put_be_f64(h.sum);
    put_spans(e, &h.positive_spans);
    put_spans(e, &h.negative_spans);
    e.put_uvarint(h.positive_buckets.len() as u64);
    for b in &h.positive_buckets {
        e.put_be_f64(*b);
    }
    e.put_uvarint(h.negative_buckets.len() as u64);
    for b in &h.negative_buckets {
        e.put_be_f64(*b);
    }
    if h.uses_custom_buckets() {
        e.put_uvarint(h.custom_values.len() as u64);
        for v in &h.custom_values {
            e.put_be_f64(*v);
        }
    }
}

fn get_float_histogram(d: &mut Decbuf<'_>) -> Result<FloatHistogram, DecodeError> {
    let mut h = FloatHistogram {
        counter_reset_hint: hint_from(d.byte("counter reset hint")?),
        schema: get_schema(d)?,
        zero_threshold: d.be_f64("zero threshold")?,
        zero_count: d.be_f64("zero count")?,
        count: d.be_f64("count")?,
        sum: d.be_f64("sum")?,
        positive_spans: get_spans(d)?,
        negative_spans: get_spans(d)?,
        ..FloatHistogram::default()
    };
    let n = d.count(8, "bucket count")?;
    h.positive_buckets = (0..n)
        .map(|_| d.be_f64("bucket"))
        .collect::<Result<_, _>>()?;
    let n = d.count(8, "bucket count")?;
    h.negative_buckets = (0..n)
        .map(|_| d.be_f64("bucket"))
        .collect::<Result<_, _>>()?;
    if h.uses_custom_buckets() {
        let n = d.count(8, "custom value count")?;
        h.custom_values = (0..n)
            .map(|_| d.be_f64("custom value"))
            .collect::<Result<_, _>>()?;
    }
    Ok(h)
}

/// Encodes integer histogram samples. As in Prometheus, histograms with custom buckets go
/// into a record of their own type: this returns up to two records.
pub fn encode_histograms(samples: &[RefHistogramSample]) -> Vec<Vec<u8>> {
    let (custom, exp): (Vec<&RefHistogramSample>, Vec<&RefHistogramSample>) =
        samples.iter().partition(|s| s.h.uses_custom_buckets());
    let mut out = Vec::new();
    for (ty, group) in [
        (RecordType::HistogramSamples, exp),
        (RecordType::CustomBucketsHistogramSamples, custom),
    ] {
        let Some(first) = group.first() else { continue };
        let mut e = Encbuf::default();
        e.put_byte(ty as u8);
        e.put_be64(first.r);
        e.put_be64_i64(first.t);
        for s in &group {
            e.put_varint(s.r.wrapping_sub(first.r) as i64);
            e.put_varint(s.t.wrapping_sub(first.t));
            put_histogram(&mut e, &s.h);
        }
        out.push(e.b);
    }
    out
}

/// Encodes float histogram samples; up to two records, as [`encode_histograms`].
pub fn encode_float_histograms(samples: &[RefFloatHistogramSample]) -> Vec<Vec<u8>> {
    let (custom, exp): (Vec<&RefFloatHistogramSample>, Vec<&RefFloatHistogramSample>) =
        samples.iter().partition(|s| s.h.uses_custom_buckets());
    let mut out = Vec::new();
    for (ty, group) in [
        (RecordType::FloatHistogramSamples, exp),
        (RecordType::CustomBucketsFloatHistogramSamples, custom),
    ] {
        let Some(first) = group.first() else { continue };
        let mut e = Encbuf::default();
        e.put_byte(ty as u8);
        e.put_be64(first.r);
        e.put_be64_i64(first.t);
        for s in &group {
            e.put_varint(s.r.wrapping_sub(first.r) as i64);
            e.put_varint(s.t.wrapping_sub(first.t));
            put_float_histogram(&mut e, &s.h);
        }
        out.push(e.b);
    }
    out
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// Series.
    Series(Vec<RefSeries>),
    /// Float samples.
    Samples(Vec<RefSample>),
    /// Tombstones.
    Tombstones(Vec<RefTombstone>),
    /// Exemplars.
    Exemplars(Vec<RefExemplar>),
    /// Mmap markers.
    MmapMarkers(Vec<RefMmapMarker>),
    /// Metadata.
    Metadata(Vec<RefMetadata>),
    /// Integer histograms (either record type).
    Histograms(Vec<RefHistogramSample>),
    /// Float histograms (either record type).
    FloatHistograms(Vec<RefFloatHistogramSample>),
    /// A record type this version does not know; Prometheus skips these too.
    Unknown(u8),
}

/// Decodes one record.
pub fn decode(rec: &[u8]) -> Result<Record, DecodeError> {
    let Some(ty) = RecordType::of(rec) else {
        return match rec.first() {
            Some(b) => Ok(Record::Unknown(*b)),
            None => Err(DecodeError {
                what: "empty record",
                offset: 0,
            }),
        };
    };
    let mut d = Decbuf::new(rec);
    d.byte("record type")?;
    Ok(match ty {
        RecordType::Series => {
            let mut v = Vec::new();
            while d.remaining() > 0 {
                let r = d.be64("series ref")?;
                v.push(RefSeries {
                    r,
                    labels: get_labels(&mut d)?,
                });
            }
            Record::Series(v)
        }
        RecordType::Samples => {
            let mut v = Vec::new();
            if d.remaining() > 0 {
                let base_r = d.be64("base ref")?;
                let base_t = d.be64_i64("base time")?;
                while d.remaining() > 0 {
                    let r = base_r.wrapping_add(d.varint("ref delta")? as u64);
                    let t = base_t.wrapping_add(d.varint("time delta")?);
                    let v_ = d.be_f64("value")?;
                    v.push(RefSample { r, t, v: v_ });
                }
            }
            Record::Samples(v)
        }
        RecordType::Tombstones => {
            let mut v = Vec::new();
            while d.remaining() > 0 {
                let r = d.be64("series ref")?;
                let mint = d.varint("mint")?;
                let maxt = d.varint("maxt")?;
                v.push(RefTombstone { r, mint, maxt });
            }
            Record::Tombstones(v)
        }
        RecordType::Exemplars => {
            let mut v = Vec::new();
            if d.remaining() > 0 {
                let base_r = d.be64("base ref")?;
                let base_t = d.be64_i64("base time")?;
                while d.remaining() > 0 {
                    let r = base_r.wrapping_add(d.varint("ref delta")? as u64);
                    let t = base_t.wrapping_add(d.varint("time delta")?);
                    let value = d.be_f64("value")?;
                    v.push(RefExemplar {
                        r,
                        t,
                        v: value,
                        labels: get_labels(&mut d)?,
                    });
                }
            }
            Record::Exemplars(v)
        }
        RecordType::MmapMarkers => {
            let mut v = Vec::new();
            while d.remaining() > 0 {
                let r = d.uvarint("series ref")?;
                let mmap_ref = d.uvarint("mmap ref")?;
                v.push(RefMmapMarker { r, mmap_ref });
            }
            Record::MmapMarkers(v)
        }
        RecordType::Metadata => {
            let mut v = Vec::new();
            while d.remaining() > 0 {
                let r = d.uvarint("series ref")?;
                let metric_type = metric_type_from(d.byte("metric type")?);
                let fields = d.count(2, "field count")?;
                let (mut unit, mut help) = (String::new(), String::new());
                for _ in 0..fields {
                    let k = d.uvarint_str("field name")?;
                    let val = d.uvarint_str("field value")?;
                    match k {
                        "UNIT" => unit = val.to_string(),
                        "HELP" => help = val.to_string(),
                        _ => {}
                    }
                }
                v.push(RefMetadata {
                    r,
                    metric_type,
                    unit,
                    help,
                });
            }
            Record::Metadata(v)
        }
        RecordType::HistogramSamples | RecordType::CustomBucketsHistogramSamples => {
            let mut v = Vec::new();
            if d.remaining() > 0 {
                let base_r = d.be64("base ref")?;
                let base_t = d.be64_i64("base time")?;
                while d.remaining() > 0 {
                    let r = base_r.wrapping_add(d.varint("ref delta")? as u64);
                    let t = base_t.wrapping_add(d.varint("time delta")?);
                    v.push(RefHistogramSample {
                        r,
                        t,
                        h: get_histogram(&mut d)?,
                    });
                }
            }
            Record::Histograms(v)
        }
        RecordType::FloatHistogramSamples | RecordType::CustomBucketsFloatHistogramSamples => {
            let mut v = Vec::new();
            if d.remaining() > 0 {
                let base_r = d.be64("base ref")?;
                let base_t = d.be64_i64("base time")?;
                while d.remaining() > 0 {
                    let r = base_r.wrapping_add(d.varint("ref delta")? as u64);
                    let t = base_t.wrapping_add(d.varint("time delta")?);
                    v.push(RefFloatHistogramSample {
                        r,
                        t,
                        h: get_float_histogram(&mut d)?,
                    });
                }
            }
            Record::FloatHistograms(v)
        }
    })
}

#[cfg(test)]
mod tests {
    use narthex_model::{labels, stale_nan};

    use super::*;

    #[test]
    fn samples_layout_matches_prometheus() {
        let mut out = Vec::new();
        encode_samples(
            &[
                RefSample {
                    r: 2,
                    t: 1000,
                    v: 1.0,
                },
                RefSample {
                    r: 3,
                    t: 1015,
                    v: 2.0,
                },
            ],
            &mut out,
        );
        let mut want = vec![2u8];
        want.extend_from_slice(&2u64.to_be_bytes());
        want.extend_from_slice(&1000u64.to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[2, 30]);
        want.extend_from_slice(&2.0f64.to_bits().to_be_bytes());
        assert_eq!(out, want);
    }

    #[test]
    fn every_record_round_trips() {
        let mut recs = Vec::new();
        let mut b = Vec::new();
        encode_series(
            &[RefSeries {
                r: 7,
                labels: labels! { "__name__" => "up", "job" => "é" },
            }],
            &mut b,
        );
        recs.push(b);
        let mut b = Vec::new();
        encode_samples(
            &[
                RefSample {
                    r: 7,
                    t: -5,
                    v: stale_nan(),
                },
                RefSample {
                    r: 1,
                    t: i64::MAX,
                    v: -0.0,
                },
            ],
            &mut b,
        );
        recs.push(b);
        let mut b = Vec::new();
        encode_tombstones(
            &[RefTombstone {
                r: 7,
                mint: i64::MIN,
                maxt: 10,
            }],
            &mut b,
        );
        recs.push(b);
        let mut b = Vec::new();
        encode_exemplars(
            &[RefExemplar {
                r: 7,
                t: 5,
                v: 0.5,
                labels: labels! { "trace" => "ab" },
            }],
            &mut b,
        );
        recs.push(b);
        let mut b = Vec::new();
        encode_mmap_markers(
            &[RefMmapMarker {
                r: 7,
                mmap_ref: (3 << 32) | 8,
            }],
            &mut b,
        );
        recs.push(b);
        let mut b = Vec::new();
        encode_metadata(
            &[RefMetadata {
                r: 7,
                metric_type: MetricType::Counter,
                unit: "s".into(),
                help: "h".into(),
            }],
            &mut b,
        );
        recs.push(b);
        let h = Histogram {
            schema: 1,
            count: 3,
            sum: 1.5,
            positive_spans: vec![Span {
                offset: -1,
                length: 2,
            }],
            positive_buckets: vec![1, 1],
            ..Histogram::default()
        };
        let nhcb = Histogram {
            schema: narthex_model::CUSTOM_BUCKETS_SCHEMA,
            custom_values: vec![1.0, 2.0],
            ..h.clone()
        };
        let hs = vec![
            RefHistogramSample {
                r: 7,
                t: 1,
                h: h.clone(),
            },
            RefHistogramSample {
                r: 8,
                t: 2,
                h: nhcb,
            },
        ];
        let hrecs = encode_histograms(&hs);
        assert_eq!(hrecs.len(), 2, "custom buckets go to their own record");
        let fh = vec![RefFloatHistogramSample {
            r: 7,
            t: 1,
            h: h.to_float(),
        }];
        let frecs = encode_float_histograms(&fh);
        for r in &recs {
            let d = decode(r).unwrap();
            let mut again = Vec::new();
            match &d {
                Record::Series(v) => encode_series(v, &mut again),
                Record::Samples(v) => encode_samples(v, &mut again),
                Record::Tombstones(v) => encode_tombstones(v, &mut again),
                Record::Exemplars(v) => encode_exemplars(v, &mut again),
                Record::MmapMarkers(v) => encode_mmap_markers(v, &mut again),
                Record::Metadata(v) => encode_metadata(v, &mut again),
                other => panic!("{other:?}"),
            }
            assert_eq!(&again, r, "{d:?}");
        }
        let mut all = Vec::new();
        for r in &hrecs {
            let Record::Histograms(v) = decode(r).unwrap() else {
                panic!()
            };
            all.extend(v);
        }
        assert_eq!(all.len(), 2);
        assert!(all.contains(&hs[0]) && all.contains(&hs[1]));
        assert_eq!(decode(&frecs[0]).unwrap(), Record::FloatHistograms(fh));
        assert_eq!(decode(&[200]).unwrap(), Record::Unknown(200));
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let mut b = Vec::new();
        encode_series(
            &[RefSeries {
                r: 7,
                labels: labels! { "a" => "b" },
            }],
            &mut b,
        );
        for n in 2..b.len() {
            assert!(decode(&b[..n]).is_err(), "prefix of {n} bytes");
        }
    }
}
