//! WAL records in Prometheus's `tsdb/record` layout: series, samples, tombstones, exemplars,
//! mmap markers, metadata and native histogram samples.
//!
//! Every record starts with a type byte. References and base timestamps are big-endian
//! fixed width; per-entry deltas are zig-zag varints; strings are uvarint-length-prefixed.
//!
//! Samples with start timestamps go into Prometheus's version 2 sample records
//! ([`RecordType::SamplesV2`], [`RecordType::HistogramSamplesV2`],
//! [`RecordType::FloatHistogramSamplesV2`], Prometheus 3.11's `st-storage` layout): the
//! first entry's reference, time and start timestamp as zig-zag varints, later references
//! as deltas to the previous entry's, times as deltas to the first, and start timestamps
//! as a marker byte (none, same as the previous entry's, or a delta to the first entry's
//! that follows). Both versions are read; version 2 is written only for batches that carry
//! start timestamps, so a WAL without them stays readable by older Prometheus versions.

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
    /// Float samples with optional start timestamps (Prometheus 3.11).
    SamplesV2 = 11,
    /// Integer native histograms (any schema) with optional start timestamps.
    HistogramSamplesV2 = 12,
    /// Float native histograms (any schema) with optional start timestamps.
    FloatHistogramSamplesV2 = 13,
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
            11 => RecordType::SamplesV2,
            12 => RecordType::HistogramSamplesV2,
            13 => RecordType::FloatHistogramSamplesV2,
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
    /// Start timestamp in milliseconds, 0 when unknown (only version 2 records keep it).
    pub st: i64,
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
    /// Start timestamp in milliseconds, 0 when unknown (only version 2 records keep it).
    pub st: i64,
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
    /// Start timestamp in milliseconds, 0 when unknown (only version 2 records keep it).
    pub st: i64,
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
        // Entries (two varints and the value, at most 28 bytes each) are written in
        // place into zeroed room, which is cut to size at the end: byte-by-byte pushes
        // checked the vector's capacity for each byte, and copying each entry from the
        // stack cost a call to memmove.
        let mut pos = e.b.len();
        let room = samples
            .size_hint()
            .0
            .saturating_add(1)
            .saturating_mul(MAX_ENTRY);
        e.b.resize(pos.saturating_add(room), 0);
        for s in std::iter::once(first).chain(samples) {
            if e.b.len() < pos + MAX_ENTRY {
                e.b.resize(pos + 64 * MAX_ENTRY, 0);
            }
            let entry = &mut e.b[pos..pos + MAX_ENTRY];
            let n = put_varint_at(entry, 0, s.r.wrapping_sub(first.r) as i64);
            let n = put_varint_at(entry, n, s.t.wrapping_sub(first.t));
            entry[n..n + 8].copy_from_slice(&s.v.to_bits().to_be_bytes());
            pos += n + 8;
        }
        e.b.truncate(pos);
    }
    *out = e.b;
}

/// The longest samples record entry: two 10-byte varints and an 8-byte value.
const MAX_ENTRY: usize = 28;

/// Writes `v` as a zig-zag varint at `buf[at..]` (at most 10 bytes); returns the end.
#[inline(always)]
fn put_varint_at(buf: &mut [u8], mut at: usize, v: i64) -> usize {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    while u >= 0x80 {
        buf[at] = (u as u8) | 0x80;
        u >>= 7;
        at += 1;
    }
    buf[at] = u as u8;
    at + 1
}

/// Start timestamp markers of version 2 sample records: none, the previous entry's, or a
/// zig-zag varint delta to the first entry's that follows.
const NO_ST: u8 = 0;
const SAME_ST: u8 = 1;
const EXPLICIT_ST: u8 = 2;

/// Writes the start timestamp of a version 2 entry after the first.
fn put_st(e: &mut Encbuf, st: i64, first_st: i64, prev_st: i64) {
    if st == 0 {
        e.put_byte(NO_ST);
    } else if st == prev_st {
        e.put_byte(SAME_ST);
    } else {
        e.put_byte(EXPLICIT_ST);
        e.put_varint(st.wrapping_sub(first_st));
    }
}

/// Reads the start timestamp of a version 2 entry after the first.
fn get_st(d: &mut Decbuf<'_>, first_st: i64, prev_st: i64) -> Result<i64, DecodeError> {
    match d.byte("start timestamp marker")? {
        NO_ST => Ok(0),
        SAME_ST => Ok(prev_st),
        EXPLICIT_ST => Ok(first_st.wrapping_add(d.varint("start timestamp delta")?)),
        _ => Err(DecodeError {
            what: "unknown start timestamp marker",
            offset: d.offset().saturating_sub(1),
        }),
    }
}

/// What a version 2 entry is encoded against: the first entry's time and start timestamp,
/// the previous entry's reference and start timestamp.
#[derive(Clone, Copy)]
struct V2Base {
    first_t: i64,
    first_st: i64,
    prev_r: u64,
    prev_st: i64,
}

impl V2Base {
    /// The base for the entry after `(r, t, st)`, which follows `base` (`None`: it is the
    /// first entry).
    fn after(base: Option<V2Base>, (r, t, st): (u64, i64, i64)) -> Option<V2Base> {
        let (first_t, first_st) = base.map_or((t, st), |b| (b.first_t, b.first_st));
        Some(V2Base {
            first_t,
            first_st,
            prev_r: r,
            prev_st: st,
        })
    }
}

/// Writes the head of a version 2 entry: the first entry's reference, time and start
/// timestamp in full, later ones as deltas (reference to the previous entry's, time to the
/// first's) and a start timestamp marker.
fn put_v2_head(e: &mut Encbuf, (r, t, st): (u64, i64, i64), base: Option<V2Base>) {
    match base {
        None => {
            e.put_varint(r as i64);
            e.put_varint(t);
            e.put_varint(st);
        }
        Some(b) => {
            e.put_varint((r as i64).wrapping_sub(b.prev_r as i64));
            e.put_varint(t.wrapping_sub(b.first_t));
            put_st(e, st, b.first_st, b.prev_st);
        }
    }
}

/// Reads the head of a version 2 entry (see [`put_v2_head`]).
fn get_v2_head(d: &mut Decbuf<'_>, base: Option<V2Base>) -> Result<(u64, i64, i64), DecodeError> {
    Ok(match base {
        None => (
            d.varint("first ref")? as u64,
            d.varint("first time")?,
            d.varint("first start timestamp")?,
        ),
        Some(b) => (
            b.prev_r.wrapping_add(d.varint("ref delta")? as u64),
            b.first_t.wrapping_add(d.varint("time delta")?),
            get_st(d, b.first_st, b.prev_st)?,
        ),
    })
}

/// Encodes a version 2 float-samples record, which keeps start timestamps.
pub fn encode_samples_v2(samples: &[RefSample], out: &mut Vec<u8>) {
    encode_sample_iter_v2(samples.iter().copied(), out);
}

/// [`encode_samples_v2`] from samples as they come.
pub(crate) fn encode_sample_iter_v2(
    samples: impl IntoIterator<Item = RefSample>,
    out: &mut Vec<u8>,
) {
    let mut e = Encbuf::new(std::mem::take(out));
    e.put_byte(RecordType::SamplesV2 as u8);
    let mut base = None;
    for s in samples {
        put_v2_head(&mut e, (s.r, s.t, s.st), base);
        e.put_be_f64(s.v);
        base = V2Base::after(base, (s.r, s.t, s.st));
    }
    *out = e.b;
}

/// Encodes a version 2 integer-histograms record: start timestamps kept, histograms with
/// custom buckets in the same record.
pub fn encode_histograms_v2(samples: &[RefHistogramSample]) -> Vec<u8> {
    let mut e = Encbuf::default();
    e.put_byte(RecordType::HistogramSamplesV2 as u8);
    let mut base = None;
    for s in samples {
        put_v2_head(&mut e, (s.r, s.t, s.st), base);
        put_histogram(&mut e, &s.h);
        base = V2Base::after(base, (s.r, s.t, s.st));
    }
    e.b
}

/// Encodes a version 2 float-histograms record, as [`encode_histograms_v2`].
pub fn encode_float_histograms_v2(samples: &[RefFloatHistogramSample]) -> Vec<u8> {
    let mut e = Encbuf::default();
    e.put_byte(RecordType::FloatHistogramSamplesV2 as u8);
    let mut base = None;
    for s in samples {
        put_v2_head(&mut e, (s.r, s.t, s.st), base);
        put_float_histogram(&mut e, &s.h);
        base = V2Base::after(base, (s.r, s.t, s.st));
    }
    e.b
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

/// Float samples as one record: version 2 when any has a start timestamp, else the
/// version 1 record every Prometheus reads.
pub(crate) fn encode_samples_any(samples: &[RefSample], out: &mut Vec<u8>) {
    if samples.iter().any(|s| s.st != 0) {
        encode_samples_v2(samples, out);
    } else {
        encode_samples(samples, out);
    }
}

/// Integer histogram records, version 2 when any sample has a start timestamp.
pub(crate) fn encode_histograms_any(samples: &[RefHistogramSample]) -> Vec<Vec<u8>> {
    if samples.iter().any(|h| h.st != 0) {
        vec![encode_histograms_v2(samples)]
    } else {
        encode_histograms(samples)
    }
}

/// Float histogram records, version 2 when any sample has a start timestamp.
pub(crate) fn encode_float_histograms_any(samples: &[RefFloatHistogramSample]) -> Vec<Vec<u8>> {
    if samples.iter().any(|h| h.st != 0) {
        vec![encode_float_histograms_v2(samples)]
    } else {
        encode_float_histograms(samples)
    }
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
    /// Float samples (either version).
    Samples(Vec<RefSample>),
    /// Tombstones.
    Tombstones(Vec<RefTombstone>),
    /// Exemplars.
    Exemplars(Vec<RefExemplar>),
    /// Mmap markers.
    MmapMarkers(Vec<RefMmapMarker>),
    /// Metadata.
    Metadata(Vec<RefMetadata>),
    /// Integer histograms (any of the three record types).
    Histograms(Vec<RefHistogramSample>),
    /// Float histograms (any of the three record types).
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
                    v.push(RefSample { r, t, st: 0, v: v_ });
                }
            }
            Record::Samples(v)
        }
        RecordType::SamplesV2 => {
            let mut v: Vec<RefSample> = Vec::new();
            let mut base = None;
            while d.remaining() > 0 {
                let (r, t, st) = get_v2_head(&mut d, base)?;
                let value = d.be_f64("value")?;
                base = V2Base::after(base, (r, t, st));
                v.push(RefSample { r, t, st, v: value });
            }
            Record::Samples(v)
        }
        RecordType::HistogramSamplesV2 => {
            let mut v = Vec::new();
            let mut base = None;
            while d.remaining() > 0 {
                let (r, t, st) = get_v2_head(&mut d, base)?;
                let h = get_histogram(&mut d)?;
                base = V2Base::after(base, (r, t, st));
                v.push(RefHistogramSample { r, t, st, h });
            }
            Record::Histograms(v)
        }
        RecordType::FloatHistogramSamplesV2 => {
            let mut v = Vec::new();
            let mut base = None;
            while d.remaining() > 0 {
                let (r, t, st) = get_v2_head(&mut d, base)?;
                let h = get_float_histogram(&mut d)?;
                base = V2Base::after(base, (r, t, st));
                v.push(RefFloatHistogramSample { r, t, st, h });
            }
            Record::FloatHistograms(v)
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
                        st: 0,
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
                        st: 0,
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
                    st: 0,
                    v: 1.0,
                },
                RefSample {
                    r: 3,
                    t: 1015,
                    st: 0,
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
                    st: 0,
                    v: stale_nan(),
                },
                RefSample {
                    r: 1,
                    t: i64::MAX,
                    st: 0,
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
                st: 0,
                h: h.clone(),
            },
            RefHistogramSample {
                r: 8,
                t: 2,
                st: 0,
                h: nhcb,
            },
        ];
        let hrecs = encode_histograms(&hs);
        assert_eq!(hrecs.len(), 2, "custom buckets go to their own record");
        let fh = vec![RefFloatHistogramSample {
            r: 7,
            t: 1,
            st: 0,
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

    fn sample(r: u64, t: i64, st: i64, v: f64) -> RefSample {
        RefSample { r, t, st, v }
    }

    #[test]
    fn samples_v2_layout_matches_prometheus() {
        let samples = [
            sample(2, 1000, 900, 1.0),
            sample(3, 1015, 900, 2.0),
            sample(1, 1030, 0, 3.0),
            sample(1, 1045, 1000, 4.0),
        ];
        let mut out = Vec::new();
        encode_samples_v2(&samples, &mut out);
        // First entry: zig-zag varints of ref, time and start timestamp, then the value.
        let mut want = vec![11u8, 4, 0xD0, 0x0F, 0x88, 0x0E];
        want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        // Ref +1, time +15 from the first, start timestamp as the previous one's.
        want.extend_from_slice(&[2, 30, 1]);
        want.extend_from_slice(&2.0f64.to_bits().to_be_bytes());
        // Ref -2, time +30, no start timestamp.
        want.extend_from_slice(&[3, 60, 0]);
        want.extend_from_slice(&3.0f64.to_bits().to_be_bytes());
        // Ref +0, time +45, explicit start timestamp +100 from the first one's.
        want.extend_from_slice(&[0, 90, 2, 0xC8, 0x01]);
        want.extend_from_slice(&4.0f64.to_bits().to_be_bytes());
        assert_eq!(out, want);
        assert_eq!(decode(&out).unwrap(), Record::Samples(samples.to_vec()));
        // Truncated anywhere: an error (or, cut between entries, fewer samples), never a
        // panic.
        for n in 2..out.len() {
            match decode(&out[..n]) {
                Err(_) => {}
                Ok(Record::Samples(v)) => assert_eq!(v[..], samples[..v.len()], "{n} bytes"),
                Ok(other) => panic!("{other:?}"),
            }
        }
        // An empty record decodes to no samples.
        assert_eq!(decode(&[11]).unwrap(), Record::Samples(Vec::new()));
    }

    #[test]
    fn unknown_start_timestamp_marker_is_an_error() {
        let mut out = Vec::new();
        encode_samples_v2(&[sample(1, 10, 5, 1.0), sample(1, 20, 5, 2.0)], &mut out);
        let marker = out.len() - 9;
        assert_eq!(out[marker], SAME_ST);
        out[marker] = 3;
        assert!(decode(&out).is_err());
    }

    #[test]
    fn histograms_v2_round_trip_with_custom_buckets_in_one_record() {
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
                st: -3,
                h: h.clone(),
            },
            RefHistogramSample {
                r: 8,
                t: 2,
                st: 0,
                h: nhcb.clone(),
            },
            RefHistogramSample {
                r: 5,
                t: 3,
                st: 2,
                h: h.clone(),
            },
        ];
        let rec = encode_histograms_v2(&hs);
        assert_eq!(rec[0], RecordType::HistogramSamplesV2 as u8);
        assert_eq!(decode(&rec).unwrap(), Record::Histograms(hs));
        let fhs = vec![
            RefFloatHistogramSample {
                r: 7,
                t: 1,
                st: 1,
                h: h.to_float(),
            },
            RefFloatHistogramSample {
                r: 7,
                t: 2,
                st: 1,
                h: nhcb.to_float(),
            },
        ];
        let rec = encode_float_histograms_v2(&fhs);
        assert_eq!(rec[0], RecordType::FloatHistogramSamplesV2 as u8);
        assert_eq!(decode(&rec).unwrap(), Record::FloatHistograms(fhs.clone()));
        for n in 2..rec.len() {
            match decode(&rec[..n]) {
                Err(_) => {}
                Ok(Record::FloatHistograms(v)) => assert!(v.len() < fhs.len(), "{n} bytes"),
                Ok(other) => panic!("{other:?}"),
            }
        }
    }
}
