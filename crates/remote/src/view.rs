//! Zero-copy, borrowing views of remote write requests.
//!
//! [`WriteRequestView`] (1.0, `prometheus.WriteRequest`) and [`RequestV2View`] (2.0,
//! `io.prometheus.write.v2.Request`) validate a whole uncompressed message in one pass —
//! wire types, lengths, varints, UTF-8 of every label name and value, symbol references
//! in range, label sets without empty or repeated names, enumeration values — and then
//! hand out iterators over series, labels (`&'a str` borrowed from the input), samples,
//! histograms, exemplars and metadata without allocating per label or per sample. A view
//! keeps one small vector of offsets per request (one entry per series, plus the 2.0
//! symbols table as `&str`s and, for 2.0 series in the usual layout, their label
//! references decoded once: 8 bytes per label).
//!
//! 2.0 messages in the layout senders write (the symbols table first, then series of one
//! packed reference field and float samples) go through a fast path (`v2fast`) that
//! checks the same things with less work per reference: each symbol's UTF-8 once, in
//! large chunks; references decoded a (name, value) pair at a time and range-checked in
//! bulk; label name order proved once per distinct name list rather than by comparing
//! strings for every series. Anything else, and every message with a problem, goes
//! through the general path, which alone reports errors: kinds and offsets do not depend
//! on the fast path.
//!
//! A view accepts exactly the messages [`crate::codec::decode`] accepts, and
//! [`WriteRequestView::to_request`] / [`RequestV2View::to_request`] give the same
//! [`WriteRequest`] (property tests check both). Label iterators yield the pairs as they
//! are on the wire (in wire order, empty values included); [`LabelCache::labels`] builds
//! the model's [`Labels`] (sorted, empty values dropped) with per-request interning.
//!
//! Untrusted input never panics: every problem is a [`ViewError`] with the byte offset
//! where it was found.
//!
//! ```
//! use narthex_model::labels;
//! use narthex_remote::codec::{self, Protocol, TimeSeries, WriteRequest};
//! use narthex_remote::view::RequestV2View;
//!
//! let req = WriteRequest {
//!     timeseries: vec![TimeSeries {
//!         labels: labels!("__name__" => "up", "job" => "node"),
//!         samples: vec![narthex_model::Sample { timestamp: 1000, value: 1.0 }],
//!         ..Default::default()
//!     }],
//!     metadata: vec![],
//! };
//! let bytes = codec::encode(&req, Protocol::V2);
//! let view = RequestV2View::new(&bytes).unwrap();
//! for ts in view.timeseries() {
//!     let labels: Vec<(&str, &str)> = ts.labels().collect();
//!     assert_eq!(labels, [("__name__", "up"), ("job", "node")]);
//!     assert_eq!(ts.samples().map(|s| s.value).sum::<f64>(), 1.0);
//! }
//! assert_eq!(view.to_request(), req);
//! assert!(RequestV2View::new(b"\x2a\x05\x0a").is_err());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use narthex_model::{Exemplar, Label, Labels, Metadata, MetricType, Sample};

use crate::codec::{
    self, FamilyMetadata, HistogramSample, HistogramValue, Protocol, TimeSeries, WriteRequest,
};
use crate::pb::{self, histogram as pbh};

mod v2fast;

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;
/// Depth budget of group skipping inside messages that the owned decoder hands to `prost`
/// (histograms, 1.0 metadata), as `prost`'s recursion limit.
const PROST_DEPTH: u32 = 100;

/// What is wrong with a message, without the position (see [`ViewError`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewErrorKind {
    /// A varint, length or fixed-size value runs past the end of its message.
    Truncated,
    /// A varint longer than ten bytes, or overflowing 64 bits.
    InvalidVarint,
    /// A field number of 0 or beyond 2^29-1.
    InvalidFieldNumber,
    /// A wire type this decoder cannot skip (groups, outside the messages where the
    /// owned decoder accepts them, and the reserved types 6 and 7).
    UnsupportedWireType(u8),
    /// A known field with the wrong wire type.
    WrongWireType {
        /// The field number.
        field: u32,
        /// The wire type found.
        wire_type: u8,
    },
    /// An end-group tag that closes no open group, or the wrong one.
    UnexpectedEndGroup,
    /// Groups nested deeper than `prost`'s recursion limit.
    RecursionLimit,
    /// A string (label name or value, symbol, metadata text) that is not UTF-8.
    InvalidUtf8,
    /// A label with an empty name.
    EmptyLabelName,
    /// A label name that appears twice in one label set.
    DuplicateLabelName(String),
    /// A 2.0 symbol reference outside the symbols table.
    SymbolRef {
        /// The reference.
        reference: u32,
        /// The table's length.
        len: usize,
    },
    /// A 2.0 label reference list of odd length.
    OddLabelRefs(usize),
    /// A 2.0 symbols table whose first entry is not the empty string.
    FirstSymbolNotEmpty,
    /// An enumeration value this version does not know.
    InvalidEnum {
        /// Which enumeration.
        what: &'static str,
        /// The value.
        value: i32,
    },
}

impl fmt::Display for ViewErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ViewErrorKind::*;
        match self {
            Truncated => f.write_str("protobuf decode error: buffer underflow"),
            InvalidVarint => f.write_str("protobuf decode error: invalid varint"),
            InvalidFieldNumber => f.write_str("protobuf decode error: invalid field number"),
            UnsupportedWireType(w) => {
                write!(f, "protobuf decode error: unsupported wire type {w}")
            }
            WrongWireType { field, wire_type } => write!(
                f,
                "protobuf decode error: invalid wire type {wire_type} for field {field}"
            ),
            UnexpectedEndGroup => f.write_str("protobuf decode error: unexpected end group tag"),
            RecursionLimit => f.write_str("protobuf decode error: recursion limit reached"),
            InvalidUtf8 => f.write_str(
                "protobuf decode error: invalid string value: data is not UTF-8 encoded",
            ),
            EmptyLabelName => f.write_str("invalid labels: empty label name"),
            DuplicateLabelName(n) => write!(f, "invalid labels: duplicate label name {n:?}"),
            SymbolRef { reference, len } => write!(
                f,
                "symbol reference {reference} out of range (symbols table has {len} entries)"
            ),
            OddLabelRefs(n) => write!(f, "labels_refs must have an even length, got {n}"),
            FirstSymbolNotEmpty => f.write_str("symbols table must start with an empty string"),
            InvalidEnum { what, value } => write!(f, "invalid {what} value {value}"),
        }
    }
}

/// Why a message was refused, and where: `offset` is the byte of the uncompressed message
/// where the problem was found (the start of the field, value or string at fault).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct ViewError {
    /// Byte offset in the message.
    pub offset: usize,
    /// What is wrong.
    pub kind: ViewErrorKind,
}

impl ViewError {
    fn new(offset: usize, kind: ViewErrorKind) -> Self {
        ViewError { offset, kind }
    }
}

type Res<T> = Result<T, ViewError>;

// ---------------------------------------------------------------------------------------
// Reading.

/// A reader over `b[pos..]`; `b` ends where the current message ends, and positions are
/// offsets in the slice the reader was made from (the whole message when validating).
#[derive(Clone, Copy)]
struct Rd<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Rd<'a> {
    fn new(b: &'a [u8]) -> Self {
        Rd { b, pos: 0 }
    }

    #[inline(always)]
    fn more(&self) -> bool {
        self.pos < self.b.len()
    }

    #[inline(always)]
    fn varint(&mut self) -> Res<u64> {
        let p = self.pos;
        if let Some(&x) = self.b.get(p) {
            if x < 0x80 {
                self.pos = p + 1;
                return Ok(u64::from(x));
            }
            if let Some(&y) = self.b.get(p + 1)
                && y < 0x80
            {
                self.pos = p + 2;
                return Ok(u64::from(x & 0x7f) | u64::from(y) << 7);
            }
        }
        self.varint_slow()
    }

    fn varint_slow(&mut self) -> Res<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.b.get(self.pos) else {
                return Err(ViewError::new(start, ViewErrorKind::Truncated));
            };
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(ViewError::new(start, ViewErrorKind::InvalidVarint));
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err(ViewError::new(start, ViewErrorKind::InvalidVarint))
    }

    /// A field key: (field number, wire type, offset of the key).
    #[inline(always)]
    fn key(&mut self) -> Res<(u32, u8, usize)> {
        let at = self.pos;
        let k = self.varint()?;
        if k >> 3 == 0 || k > u64::from(u32::MAX) {
            return Err(ViewError::new(at, ViewErrorKind::InvalidFieldNumber));
        }
        Ok(((k >> 3) as u32, (k & 7) as u8, at))
    }

    /// The bounds of a length-delimited payload, consumed.
    #[inline(always)]
    fn len(&mut self) -> Res<(usize, usize)> {
        let at = self.pos;
        let n = self.varint()?;
        let start = self.pos;
        match usize::try_from(n)
            .ok()
            .and_then(|n| start.checked_add(n))
            .filter(|e| *e <= self.b.len())
        {
            Some(end) => {
                self.pos = end;
                Ok((start, end))
            }
            None => Err(ViewError::new(at, ViewErrorKind::Truncated)),
        }
    }

    /// A reader over a length-delimited payload (positions stay those of `self`).
    #[inline(always)]
    fn sub(&mut self) -> Res<Rd<'a>> {
        let (s, e) = self.len()?;
        match self.b.get(..e) {
            Some(b) => Ok(Rd { b, pos: s }),
            None => Err(ViewError::new(s, ViewErrorKind::Truncated)),
        }
    }

    #[inline(always)]
    fn fixed64(&mut self) -> Res<u64> {
        let at = self.pos;
        match self.b.get(at..at.saturating_add(8)) {
            Some(s) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                self.pos = at + 8;
                Ok(u64::from_le_bytes(a))
            }
            None => Err(ViewError::new(at, ViewErrorKind::Truncated)),
        }
    }

    fn fixed32(&mut self) -> Res<()> {
        let at = self.pos;
        if at.saturating_add(4) <= self.b.len() {
            self.pos = at + 4;
            Ok(())
        } else {
            Err(ViewError::new(at, ViewErrorKind::Truncated))
        }
    }

    /// Skips an unknown field. `groups` is `None` where the owned decoder refuses groups,
    /// `Some(depth budget)` where it hands the message to `prost` (which skips groups).
    fn skip(&mut self, wt: u8, field: u32, at: usize, groups: Option<u32>) -> Res<()> {
        if groups == Some(0) {
            return Err(ViewError::new(at, ViewErrorKind::RecursionLimit));
        }
        match (wt, groups) {
            (VARINT, _) => self.varint().map(|_| ()),
            (I64, _) => self.fixed64().map(|_| ()),
            (LEN, _) => self.len().map(|_| ()),
            (I32, _) => self.fixed32(),
            (3, Some(depth)) => loop {
                let (f, w, a) = self.key()?;
                if w == 4 {
                    if f != field {
                        return Err(ViewError::new(a, ViewErrorKind::UnexpectedEndGroup));
                    }
                    return Ok(());
                }
                self.skip(w, f, a, Some(depth - 1))?;
            },
            (4, Some(_)) => Err(ViewError::new(at, ViewErrorKind::UnexpectedEndGroup)),
            _ => Err(ViewError::new(at, ViewErrorKind::UnsupportedWireType(wt))),
        }
    }

    fn bytes_at(&self, (s, e): (usize, usize)) -> &'a [u8] {
        self.b.get(s..e).unwrap_or_default()
    }
}

#[inline(always)]
fn want(wt: u8, expected: u8, field: u32, at: usize) -> Res<()> {
    if wt == expected {
        Ok(())
    } else {
        Err(ViewError::new(
            at,
            ViewErrorKind::WrongWireType {
                field,
                wire_type: wt,
            },
        ))
    }
}

fn utf8(b: &[u8], at: usize) -> Res<&str> {
    std::str::from_utf8(b).map_err(|_| ViewError::new(at, ViewErrorKind::InvalidUtf8))
}

/// Byte-wise `a < b` (the order of `str`), fast when names differ early.
#[inline(always)]
fn less(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// Rejects empty names and, when `names` is not strictly increasing, repeated names.
/// `sorted` says whether the caller already saw them strictly increasing.
fn check_names(names: &mut [(&[u8], usize)], sorted: bool) -> Res<()> {
    if let Some((_, at)) = names.iter().find(|(n, _)| n.is_empty()) {
        return Err(ViewError::new(*at, ViewErrorKind::EmptyLabelName));
    }
    if !sorted {
        names.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
        if let Some(w) = names.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ViewError::new(
                w[1].1,
                ViewErrorKind::DuplicateLabelName(String::from_utf8_lossy(w[0].0).into_owned()),
            ));
        }
    }
    Ok(())
}

/// The varint that is exactly `b[s..e]`, when it is at most eight bytes long and `e` is
/// at least 8 (its bytes are read in one load ending at `e`, no loop): `None` otherwise,
/// also when `b[s..e]` is not one varint.
#[inline(always)]
fn varint_exact(b: &[u8], s: usize, e: usize) -> Option<u64> {
    let len = e.checked_sub(s).filter(|l| (1..=8).contains(l))?;
    let w = u64::from_le_bytes(*b.get(e.checked_sub(8)?..e)?.first_chunk::<8>()?);
    let w = w >> (8 * (8 - len));
    // Every byte but the last has its continuation bit set.
    let keep = u64::MAX >> (8 * (8 - len));
    if w & 0x8080_8080_8080_8080 != (keep >> 8) & 0x8080_8080_8080_8080 {
        return None;
    }
    Some(pack7(w & 0x7f7f_7f7f_7f7f_7f7f))
}

/// Packs the 7-bit groups of eight bytes (high bits clear) into a 56-bit value, the
/// first byte lowest.
#[inline(always)]
fn pack7(x: u64) -> u64 {
    let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
    let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
    (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4)
}

/// The sample message `b[s..e]` in the shape every sender writes — value (fixed64) then
/// timestamp (a varint of at most eight bytes), nothing else — or `None`.
#[inline(always)]
fn sample_canonical(b: &[u8], s: usize, e: usize) -> Option<Sample> {
    let head = b.get(s..)?.first_chunk::<10>()?;
    if head[0] != 0x09 || head[9] != 0x10 {
        return None;
    }
    let value = f64::from_bits(u64::from_le_bytes(*head[1..9].first_chunk::<8>()?));
    let timestamp = varint_exact(b, s + 10, e)? as i64;
    Some(Sample { timestamp, value })
}

/// A sample message: (timestamp, value), prost's defaults for missing fields.
#[inline(always)]
fn sample(mut r: Rd<'_>) -> Res<Sample> {
    if let Some(s) = sample_canonical(r.b, r.pos, r.b.len()) {
        return Ok(s);
    }
    let mut s = Sample {
        timestamp: 0,
        value: 0.0,
    };
    // The shape every sender writes: value (fixed64) then timestamp (varint), nothing else.
    if r.b.get(r.pos) == Some(&0x09) && r.b.get(r.pos + 9) == Some(&0x10) {
        r.pos += 1;
        s.value = f64::from_bits(r.fixed64()?);
        r.pos += 1;
        s.timestamp = r.varint()? as i64;
    }
    while r.more() {
        let (f, wt, at) = r.key()?;
        match f {
            1 => {
                want(wt, I64, f, at)?;
                s.value = f64::from_bits(r.fixed64()?);
            }
            2 => {
                want(wt, VARINT, f, at)?;
                s.timestamp = r.varint()? as i64;
            }
            _ => r.skip(wt, f, at, None)?,
        }
    }
    Ok(s)
}

/// A 1.0 `Label` message: the bounds of its name and value (the last of each, as the
/// owned decoder keeps; `(0, 0)` when absent).
#[inline(always)]
fn label_bounds(mut r: Rd<'_>) -> Res<[usize; 4]> {
    // Fast path: name then value, both shorter than 128 bytes, nothing else.
    let (b, p) = (r.b, r.pos);
    if let (Some(&0x0a), Some(&nl)) = (b.get(p), b.get(p + 1))
        && nl < 0x80
    {
        let (ns, ne) = (p + 2, p + 2 + nl as usize);
        if let (Some(&0x12), Some(&vl)) = (b.get(ne), b.get(ne + 1))
            && vl < 0x80
            && ne + 2 + vl as usize == b.len()
        {
            return Ok([ns, ne, ne + 2, b.len()]);
        }
    }
    let mut out = [0usize; 4];
    while r.more() {
        let (f, wt, at) = r.key()?;
        match f {
            1 => {
                want(wt, LEN, f, at)?;
                (out[0], out[1]) = r.len()?;
            }
            2 => {
                want(wt, LEN, f, at)?;
                (out[2], out[3]) = r.len()?;
            }
            _ => r.skip(wt, f, at, None)?,
        }
    }
    Ok(out)
}

/// Validates (and with `out`, decodes) a `Histogram` message as `prost` does.
fn histogram(mut r: Rd<'_>, mut out: Option<&mut pb::Histogram>) -> Res<()> {
    let start = r.pos;
    let mut hint: i32 = 0;
    while r.more() {
        let (f, wt, at) = r.key()?;
        match f {
            1 | 6 | 14 | 15 | 4 => {
                want(wt, VARINT, f, at)?;
                let v = r.varint()?;
                if let Some(o) = out.as_deref_mut() {
                    match f {
                        1 => o.count = Some(pbh::Count::CountInt(v)),
                        6 => o.zero_count = Some(pbh::ZeroCount::ZeroCountInt(v)),
                        15 => o.timestamp = v as i64,
                        4 => {
                            let v = v as u32;
                            o.schema = ((v >> 1) as i32) ^ (-((v & 1) as i32));
                        }
                        _ => {}
                    }
                }
                if f == 14 {
                    hint = v as i32;
                }
            }
            2 | 3 | 5 | 7 => {
                want(wt, I64, f, at)?;
                let v = f64::from_bits(r.fixed64()?);
                if let Some(o) = out.as_deref_mut() {
                    match f {
                        2 => o.count = Some(pbh::Count::CountFloat(v)),
                        3 => o.sum = v,
                        5 => o.zero_threshold = v,
                        _ => o.zero_count = Some(pbh::ZeroCount::ZeroCountFloat(v)),
                    }
                }
            }
            8 | 11 => {
                want(wt, LEN, f, at)?;
                let s = span(r.sub()?)?;
                if let Some(o) = out.as_deref_mut() {
                    if f == 8 {
                        o.negative_spans.push(s);
                    } else {
                        o.positive_spans.push(s);
                    }
                }
            }
            9 | 12 => {
                let mut push = |v: u64| {
                    if let Some(o) = out.as_deref_mut() {
                        let v = ((v >> 1) as i64) ^ (-((v & 1) as i64));
                        if f == 9 {
                            o.negative_deltas.push(v);
                        } else {
                            o.positive_deltas.push(v);
                        }
                    }
                };
                if wt == LEN {
                    let mut p = r.sub()?;
                    while p.more() {
                        push(p.varint()?);
                    }
                } else {
                    want(wt, VARINT, f, at)?;
                    push(r.varint()?);
                }
            }
            10 | 13 | 16 => {
                let mut push = |v: u64| {
                    if let Some(o) = out.as_deref_mut() {
                        let v = f64::from_bits(v);
                        match f {
                            10 => o.negative_counts.push(v),
                            13 => o.positive_counts.push(v),
                            _ => o.custom_values.push(v),
                        }
                    }
                };
                if wt == LEN {
                    let mut p = r.sub()?;
                    while p.more() {
                        push(p.fixed64()?);
                    }
                } else {
                    want(wt, I64, f, at)?;
                    push(r.fixed64()?);
                }
            }
            _ => r.skip(wt, f, at, Some(PROST_DEPTH))?,
        }
    }
    if let Some(o) = out {
        o.reset_hint = hint;
    }
    if !(0..=3).contains(&hint) {
        return Err(ViewError::new(
            start,
            ViewErrorKind::InvalidEnum {
                what: "histogram reset hint",
                value: hint,
            },
        ));
    }
    Ok(())
}

fn span(mut r: Rd<'_>) -> Res<pb::BucketSpan> {
    let mut s = pb::BucketSpan::default();
    while r.more() {
        let (f, wt, at) = r.key()?;
        match f {
            1 => {
                want(wt, VARINT, f, at)?;
                let v = r.varint()? as u32;
                s.offset = ((v >> 1) as i32) ^ (-((v & 1) as i32));
            }
            2 => {
                want(wt, VARINT, f, at)?;
                s.length = r.varint()? as u32;
            }
            _ => r.skip(wt, f, at, Some(PROST_DEPTH - 1))?,
        }
    }
    Ok(s)
}

fn metric_type(v: i32, at: usize) -> Res<MetricType> {
    codec::metric_type_from_wire(v).map_err(|_| {
        ViewError::new(
            at,
            ViewErrorKind::InvalidEnum {
                what: "metric type",
                value: v,
            },
        )
    })
}

// ---------------------------------------------------------------------------------------
// The views.

/// Counts gathered while validating.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    samples: usize,
    histograms: usize,
    exemplars: usize,
}

/// One series: its message, and for 1.0 the span of its label strings when that span is
/// valid UTF-8 as a whole (so names and values are sliced from it without checking again).
#[derive(Clone, Copy)]
struct Entry<'a> {
    body: &'a [u8],
    text: &'a str,
    text_at: usize,
    /// Where the first sample field starts (the body's length when there is none).
    samples_at: usize,
    /// 1.0: the body starts with a run of label fields in the canonical layout (name then
    /// value, every length below 128), and `text` is exactly that run. 2.0: the label
    /// references are one packed field, its payload at `refs`; with `decoded`, the body
    /// from `samples_at` on is only samples in the layout `SamplesIter` reads directly.
    canonical: bool,
    /// 2.0 with `canonical`: bounds of the packed label references in the body; with
    /// `decoded`: the range of the view's decoded references holding them.
    refs: (usize, usize),
    /// 2.0: the label references were decoded while validating (see
    /// `RequestV2View::refs`), `refs` is their range there.
    decoded: bool,
}

/// Metadata of one metric family in a 1.0 request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FamilyMetadataView<'a> {
    /// The family name.
    pub family: &'a str,
    /// The type.
    pub metric_type: MetricType,
    /// Help text.
    pub help: &'a str,
    /// Unit.
    pub unit: &'a str,
}

impl FamilyMetadataView<'_> {
    /// As the owned type.
    pub fn to_owned_metadata(&self) -> FamilyMetadata {
        FamilyMetadata {
            family: self.family.to_string(),
            metadata: Metadata {
                metric_type: self.metric_type,
                help: self.help.to_string(),
                unit: self.unit.to_string(),
            },
        }
    }
}

/// Metadata of one 2.0 series (help and unit resolved from the symbols table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataView<'a> {
    /// The type.
    pub metric_type: MetricType,
    /// Help text.
    pub help: &'a str,
    /// Unit.
    pub unit: &'a str,
}

impl MetadataView<'_> {
    /// As the model type.
    pub fn to_metadata(&self) -> Metadata {
        Metadata {
            metric_type: self.metric_type,
            help: self.help.to_string(),
            unit: self.unit.to_string(),
        }
    }
}

/// A validated `prometheus.WriteRequest` (remote write 1.0), borrowing the message.
pub struct WriteRequestView<'a> {
    series: Vec<Entry<'a>>,
    metadata: Vec<FamilyMetadataView<'a>>,
    counts: Counts,
}

/// Scratch space reused across the series of one request.
#[derive(Default)]
struct Scratch<'a> {
    bounds: Vec<([usize; 4], usize)>,
    names: Vec<(&'a [u8], usize)>,
}

impl<'a> WriteRequestView<'a> {
    /// Validates `bytes` as a 1.0 message.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut r = Rd::new(bytes);
        let mut v = WriteRequestView {
            series: Vec::new(),
            metadata: Vec::new(),
            counts: Counts::default(),
        };
        let mut scratch = Scratch::default();
        while r.more() {
            let (f, wt, at) = r.key()?;
            match f {
                1 => {
                    want(wt, LEN, f, at)?;
                    let s = r.sub()?;
                    let e = series_v1(s, &mut scratch, &mut v.counts)?;
                    v.series.push(e);
                }
                3 => {
                    want(wt, LEN, f, at)?;
                    v.metadata.push(family_metadata(r.sub()?)?);
                }
                _ => r.skip(wt, f, at, None)?,
            }
        }
        Ok(v)
    }

    /// The series, in message order.
    #[inline]
    pub fn timeseries(&self) -> TimeSeriesIter<'_, 'a> {
        TimeSeriesIter {
            it: self.series.iter(),
            symbols: None,
            refs: &[],
        }
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the request has no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Per-family metadata, in message order.
    pub fn metadata(&self) -> &[FamilyMetadataView<'a>] {
        &self.metadata
    }

    /// Float samples in the request.
    pub fn num_samples(&self) -> usize {
        self.counts.samples
    }

    /// Histogram samples in the request.
    pub fn num_histograms(&self) -> usize {
        self.counts.histograms
    }

    /// Exemplars in the request.
    pub fn num_exemplars(&self) -> usize {
        self.counts.exemplars
    }

    /// The owned request, equal to what [`codec::decode`] returns for the same bytes.
    pub fn to_request(&self) -> WriteRequest {
        WriteRequest {
            timeseries: self.timeseries().map(|t| t.to_series()).collect(),
            metadata: self
                .metadata
                .iter()
                .map(FamilyMetadataView::to_owned_metadata)
                .collect(),
        }
    }
}

fn family_metadata(mut r: Rd<'_>) -> Res<FamilyMetadataView<'_>> {
    let start = r.pos;
    let mut t: i32 = 0;
    let mut m = FamilyMetadataView {
        family: "",
        metric_type: MetricType::Unknown,
        help: "",
        unit: "",
    };
    while r.more() {
        let (f, wt, at) = r.key()?;
        match f {
            1 => {
                want(wt, VARINT, f, at)?;
                t = r.varint()? as i32;
            }
            2 | 4 | 5 => {
                want(wt, LEN, f, at)?;
                let b = r.len()?;
                let s = utf8(r.bytes_at(b), b.0)?;
                match f {
                    2 => m.family = s,
                    4 => m.help = s,
                    _ => m.unit = s,
                }
            }
            _ => r.skip(wt, f, at, Some(PROST_DEPTH))?,
        }
    }
    m.metric_type = metric_type(t, start)?;
    Ok(m)
}

/// A 1.0 series in the layout every sender writes: a run of labels, each
/// `0a L 0a nl <name> 12 vl <value>` with all lengths below 128 and names strictly
/// increasing, then samples, exemplars and histograms. The run's framing bytes are ASCII,
/// so one UTF-8 check of the run covers every name and value, and iteration slices them
/// from it. `None` when the series has another shape (or a problem to report): the
/// general path then validates it from the start.
#[inline(always)]
fn series_v1_fast<'a>(
    r: Rd<'a>,
    sc: &mut Scratch<'a>,
    counts: &mut Counts,
) -> Res<Option<Entry<'a>>> {
    let (b, start) = (r.b, r.pos);
    let mut p = start;
    let mut prev: &[u8] = &[];
    while let Some(&[0x0a, l, 0x0a, nl]) = b.get(p..p.saturating_add(4)) {
        let (l, nl) = (l as usize, nl as usize);
        let q = p + 4 + nl;
        let Some(&[0x12, vl]) = b.get(q..q + 2) else {
            return Ok(None);
        };
        let vl = vl as usize;
        if l >= 0x80 || nl >= 0x80 || vl >= 0x80 || l != 4 + nl + vl || p + 2 + l > b.len() {
            return Ok(None);
        }
        let name = b.get(p + 4..q).unwrap_or_default();
        if name.is_empty() || (p > start && !less(prev, name)) {
            return Ok(None);
        }
        prev = name;
        p += 2 + l;
    }
    let run_end = p;
    let mut rest = Rd { b, pos: run_end };
    let mut c = Counts::default();
    let mut first_sample = None;
    while rest.more() {
        let (f, wt, at) = rest.key()?;
        match f {
            2 => {
                want(wt, LEN, f, at)?;
                first_sample.get_or_insert(at);
                sample(rest.sub()?)?;
                c.samples += 1;
            }
            3 => {
                want(wt, LEN, f, at)?;
                exemplar_v1(rest.sub()?, &mut sc.names)?;
                c.exemplars += 1;
            }
            4 => {
                want(wt, LEN, f, at)?;
                histogram(rest.sub()?, None)?;
                c.histograms += 1;
            }
            1 => return Ok(None),
            _ => rest.skip(wt, f, at, None)?,
        }
    }
    let Some(text) = b
        .get(start..run_end)
        .and_then(|s| std::str::from_utf8(s).ok())
    else {
        return Ok(None);
    };
    counts.samples += c.samples;
    counts.exemplars += c.exemplars;
    counts.histograms += c.histograms;
    let body = b.get(start..).unwrap_or_default();
    Ok(Some(Entry {
        body,
        text,
        text_at: 0,
        samples_at: first_sample.map_or(body.len(), |s| s - start),
        canonical: true,
        refs: (0, 0),
        decoded: false,
    }))
}

fn series_v1<'a>(r: Rd<'a>, sc: &mut Scratch<'a>, counts: &mut Counts) -> Res<Entry<'a>> {
    match series_v1_fast(r, sc, counts) {
        Ok(Some(e)) => Ok(e),
        _ => series_v1_general(r, sc, counts),
    }
}

fn series_v1_general<'a>(
    mut r: Rd<'a>,
    sc: &mut Scratch<'a>,
    counts: &mut Counts,
) -> Res<Entry<'a>> {
    let start = r.pos;
    let mut first_sample = None;
    sc.bounds.clear();
    let (mut lo, mut hi) = (usize::MAX, 0usize);
    while r.more() {
        let (f, wt, at) = r.key()?;
        match f {
            1 => {
                want(wt, LEN, f, at)?;
                let l = label_bounds(r.sub()?)?;
                for (s, e) in [(l[0], l[1]), (l[2], l[3])] {
                    if s < e {
                        lo = lo.min(s);
                        hi = hi.max(e);
                    }
                }
                sc.bounds.push((l, at));
            }
            2 => {
                want(wt, LEN, f, at)?;
                first_sample.get_or_insert(at);
                sample(r.sub()?)?;
                counts.samples += 1;
            }
            3 => {
                want(wt, LEN, f, at)?;
                exemplar_v1(r.sub()?, &mut sc.names)?;
                counts.exemplars += 1;
            }
            4 => {
                want(wt, LEN, f, at)?;
                histogram(r.sub()?, None)?;
                counts.histograms += 1;
            }
            _ => r.skip(wt, f, at, None)?,
        }
    }
    let b = r.b;
    // One UTF-8 check over the span of all label strings (the framing bytes between them
    // are ASCII when lengths are below 128); each string is then valid when it starts and
    // ends on character boundaries of that span. Anything else is checked string by string.
    let text = if lo < hi {
        b.get(lo..hi).and_then(|s| std::str::from_utf8(s).ok())
    } else {
        None
    };
    let mut sorted = true;
    let mut prev: &[u8] = &[];
    sc.names.clear();
    for (i, (l, at)) in sc.bounds.iter().enumerate() {
        for (s, e) in [(l[0], l[1]), (l[2], l[3])] {
            if s < e {
                let ok =
                    text.is_some_and(|t| t.is_char_boundary(s - lo) && t.is_char_boundary(e - lo));
                if !ok {
                    utf8(b.get(s..e).unwrap_or_default(), s)?;
                }
            }
        }
        let name = b.get(l[0]..l[1]).unwrap_or_default();
        if name.is_empty() {
            return Err(ViewError::new(*at, ViewErrorKind::EmptyLabelName));
        }
        if i > 0 && !less(prev, name) {
            sorted = false;
        }
        prev = name;
    }
    if !sorted {
        sc.names.extend(
            sc.bounds
                .iter()
                .map(|(l, at)| (b.get(l[0]..l[1]).unwrap_or_default(), *at)),
        );
        check_names(&mut sc.names, false)?;
    }
    let body = b.get(start..).unwrap_or_default();
    let samples_at = first_sample.map_or(body.len(), |s| s - start);
    Ok(match text {
        Some(t) => Entry {
            body,
            text: t,
            text_at: lo - start,
            samples_at,
            canonical: false,
            refs: (0, 0),
            decoded: false,
        },
        None => Entry {
            body,
            text: "",
            text_at: 0,
            samples_at,
            canonical: false,
            refs: (0, 0),
            decoded: false,
        },
    })
}

fn exemplar_v1<'a>(mut r: Rd<'a>, names: &mut Vec<(&'a [u8], usize)>) -> Res<()> {
    names.clear();
    let mut sorted = true;
    while r.more() {
        let (f, wt, at) = r.key()?;
        match f {
            1 => {
                want(wt, LEN, f, at)?;
                let l = label_bounds(r.sub()?)?;
                utf8(r.bytes_at((l[0], l[1])), l[0])?;
                utf8(r.bytes_at((l[2], l[3])), l[2])?;
                let name = r.bytes_at((l[0], l[1]));
                if let Some((p, _)) = names.last()
                    && !less(p, name)
                {
                    sorted = false;
                }
                names.push((name, at));
            }
            2 => {
                want(wt, I64, f, at)?;
                r.fixed64()?;
            }
            3 => {
                want(wt, VARINT, f, at)?;
                r.varint()?;
            }
            _ => r.skip(wt, f, at, None)?,
        }
    }
    check_names(names, sorted)
}

/// A validated `io.prometheus.write.v2.Request` (remote write 2.0), borrowing the message.
pub struct RequestV2View<'a> {
    symbols: Vec<&'a str>,
    series: Vec<Entry<'a>>,
    /// Label references of the series that the fast path validated, decoded once as
    /// (name, value) pairs, the name in the low half (each such series' `Entry::refs` is
    /// its range here), so walking does not decode them again.
    refs: Vec<u64>,
    counts: Counts,
}

impl<'a> RequestV2View<'a> {
    /// Validates `bytes` as a 2.0 message.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ViewError> {
        // The layout every sender writes goes through a fast path that accepts a subset
        // of what the general one does and gives the same view; anything else, and every
        // message with a problem, goes through the general path, which alone reports
        // errors (so their kind and offset do not depend on the fast path).
        match v2fast::request(bytes) {
            Some(v) => Ok(v),
            None => Self::new_general(bytes),
        }
    }

    /// Validates `bytes` as a 2.0 message, field by field in any layout.
    fn new_general(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut r = Rd::new(bytes);
        // Sized from the message (a series or a symbol takes a few tens of bytes), so
        // the vectors rarely grow; untouched capacity costs no memory traffic.
        let guess = bytes.len() / 32;
        let mut sym_bounds: Vec<(usize, usize)> = Vec::with_capacity(guess);
        let mut series: Vec<(usize, Rd<'a>)> = Vec::with_capacity(guess);
        let (mut lo, mut hi) = (usize::MAX, 0usize);
        while r.more() {
            let (f, wt, at) = r.key()?;
            match f {
                4 => {
                    want(wt, LEN, f, at)?;
                    let b = r.len()?;
                    if b.0 < b.1 {
                        lo = lo.min(b.0);
                        hi = hi.max(b.1);
                    }
                    sym_bounds.push(b);
                }
                5 => {
                    want(wt, LEN, f, at)?;
                    series.push((at, r.sub()?));
                }
                _ => r.skip(wt, f, at, None)?,
            }
        }
        // As for 1.0 labels: one UTF-8 check over the span of all symbols, then boundaries.
        let text = if lo < hi {
            bytes.get(lo..hi).and_then(|s| std::str::from_utf8(s).ok())
        } else {
            None
        };
        let mut symbols = Vec::with_capacity(sym_bounds.len());
        for &(s, e) in &sym_bounds {
            let sym = match text.and_then(|t| t.get(s.wrapping_sub(lo)..e.wrapping_sub(lo))) {
                Some(x) if s < e => x,
                _ => utf8(bytes.get(s..e).unwrap_or_default(), s)?,
            };
            symbols.push(sym);
        }
        if let (Some(first), Some(&(s, _))) = (symbols.first(), sym_bounds.first())
            && !first.is_empty()
        {
            return Err(ViewError::new(s, ViewErrorKind::FirstSymbolNotEmpty));
        }
        let mut v = RequestV2View {
            symbols,
            series: Vec::with_capacity(series.len()),
            refs: Vec::new(),
            counts: Counts::default(),
        };
        let other_empty = v.symbols.iter().skip(1).any(|s| s.is_empty());
        let mut known = Known::default();
        for (at, s) in series {
            let (samples_at, refs) =
                series_v2(s, at, &v.symbols, other_empty, &mut known, &mut v.counts)?;
            v.series.push(Entry {
                body: s.b.get(s.pos..).unwrap_or_default(),
                text: "",
                text_at: 0,
                samples_at,
                canonical: refs.is_some(),
                refs: refs.unwrap_or((0, 0)),
                decoded: false,
            });
        }
        Ok(v)
    }

    /// The series, in message order.
    #[inline]
    pub fn timeseries(&self) -> TimeSeriesIter<'_, 'a> {
        TimeSeriesIter {
            it: self.series.iter(),
            symbols: Some(&self.symbols),
            refs: &self.refs,
        }
    }

    /// The symbols table.
    pub fn symbols(&self) -> &[&'a str] {
        &self.symbols
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the request has no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Float samples in the request.
    pub fn num_samples(&self) -> usize {
        self.counts.samples
    }

    /// Histogram samples in the request.
    pub fn num_histograms(&self) -> usize {
        self.counts.histograms
    }

    /// Exemplars in the request.
    pub fn num_exemplars(&self) -> usize {
        self.counts.exemplars
    }

    /// The owned request, equal to what [`codec::decode`] returns for the same bytes.
    pub fn to_request(&self) -> WriteRequest {
        WriteRequest {
            timeseries: self.timeseries().map(|t| t.to_series()).collect(),
            metadata: Vec::new(),
        }
    }
}

/// What earlier label lists of a 2.0 request proved, to skip string comparisons.
#[derive(Default)]
struct Known {
    /// `pairs[i]`: a (previous name, name) reference pair found in order at name
    /// position `i`.
    pairs: Vec<u64>,
    /// The names of the last list that the packed fast path accepted.
    names: Vec<u32>,
}

/// Checks a 2.0 label reference list as it streams by: references in range, names
/// non-empty and strictly increasing (so unique); an unsorted list is checked for
/// repeated names at the end.
struct RefCheck<'s, 'a> {
    symbols: &'s [&'a str],
    /// Whether a symbol other than the first is empty (else only reference 0 is).
    other_empty: bool,
    n: usize,
    prev: u32,
    sorted: bool,
}

impl<'s, 'a> RefCheck<'s, 'a> {
    fn new(symbols: &'s [&'a str], other_empty: bool) -> Self {
        RefCheck {
            symbols,
            other_empty,
            n: 0,
            prev: 0,
            sorted: true,
        }
    }

    #[cold]
    fn bad_ref(&self, r: u64, at: usize) -> ViewError {
        ViewError::new(
            at,
            ViewErrorKind::SymbolRef {
                reference: r as u32,
                len: self.symbols.len(),
            },
        )
    }

    /// `known[i]` holds a (previous name, name) reference pair already found in order at
    /// name position `i`: series of one metric repeat the same names, so most checks are
    /// one integer comparison.
    #[inline(always)]
    fn push(&mut self, r: u64, at: usize, known: &mut Known) -> Res<()> {
        let r = r as u32;
        if r as usize >= self.symbols.len() {
            return Err(self.bad_ref(u64::from(r), at));
        }
        if self.n & 1 == 0 {
            if r == 0
                || (self.other_empty && self.symbols.get(r as usize).is_some_and(|s| s.is_empty()))
            {
                return Err(ViewError::new(at, ViewErrorKind::EmptyLabelName));
            }
            let i = self.n / 2;
            if i > 0 && self.sorted {
                let key = (u64::from(self.prev) << 32) | u64::from(r);
                if known.pairs.get(i) != Some(&key) {
                    let a = self.symbols.get(self.prev as usize).copied().unwrap_or("");
                    let b = self.symbols.get(r as usize).copied().unwrap_or("");
                    if less(a.as_bytes(), b.as_bytes()) {
                        if known.pairs.len() <= i {
                            known.pairs.resize(i + 1, u64::MAX);
                        }
                        if let Some(k) = known.pairs.get_mut(i) {
                            *k = key;
                        }
                    } else {
                        self.sorted = false;
                    }
                }
            }
            self.prev = r;
        }
        self.n += 1;
        Ok(())
    }

    /// Reads one `labels_refs` field (a single varint or a packed run).
    #[inline(always)]
    fn field(&mut self, r: &mut Rd<'a>, wt: u8, f: u32, at: usize, known: &mut Known) -> Res<()> {
        match wt {
            VARINT => {
                let p = r.pos;
                let v = r.varint()?;
                self.push(v, p, known)
            }
            LEN => {
                let mut p = r.sub()?;
                if self.n == 0 && self.packed_fast(p.b.get(p.pos..).unwrap_or_default(), known) {
                    return Ok(());
                }
                // Whole (name, value) pairs: the value needs only its range checked.
                while self.n & 1 == 0 && p.more() {
                    let a = p.pos;
                    let name = p.varint()?;
                    self.push(name, a, known)?;
                    if !p.more() {
                        break;
                    }
                    let b = p.pos;
                    let value = p.varint()?;
                    if value as u32 as usize >= self.symbols.len() {
                        return Err(self.bad_ref(value, b));
                    }
                    self.n += 1;
                }
                while p.more() {
                    let a = p.pos;
                    let v = p.varint()?;
                    self.push(v, a, known)?;
                }
                Ok(())
            }
            _ => want(wt, LEN, f, at),
        }
    }

    /// A whole label list in one packed run, checked in bulk: decoded into a small
    /// array, every reference in range, an even count, and names that either repeat the
    /// last list this path accepted or are non-empty and strictly increasing. `false`
    /// (nothing recorded) sends the run to the general path, which reports any error.
    #[inline(always)]
    fn packed_fast(&mut self, b: &[u8], known: &mut Known) -> bool {
        let mut refs = [0u32; 64];
        let (mut n, mut i, mut max) = (0usize, 0usize, 0u32);
        while i < b.len() {
            let x = u32::from(b.get(i).copied().unwrap_or(0x80));
            let v = if x < 0x80 {
                i += 1;
                x
            } else {
                let y = u32::from(b.get(i + 1).copied().unwrap_or(0x80));
                if y >= 0x80 {
                    return false;
                }
                i += 2;
                (x & 0x7f) | y << 7
            };
            let Some(slot) = refs.get_mut(n) else {
                return false;
            };
            *slot = v;
            n += 1;
            max = max.max(v);
        }
        if n & 1 == 1 || max as usize >= self.symbols.len() {
            return false;
        }
        let refs = refs.get(..n).unwrap_or_default();
        let mut same = known.names.len() * 2 == n;
        if same {
            for (pair, k) in refs.chunks_exact(2).zip(&known.names) {
                if pair.first() != Some(k) {
                    same = false;
                    break;
                }
            }
        }
        if !same {
            let mut prev: &str = "";
            for (j, pair) in refs.chunks_exact(2).enumerate() {
                let r = pair.first().copied().unwrap_or(0);
                let name = self.symbols.get(r as usize).copied().unwrap_or("");
                if name.is_empty() || (j > 0 && !less(prev.as_bytes(), name.as_bytes())) {
                    return false;
                }
                prev = name;
            }
            known.names.clear();
            known
                .names
                .extend(refs.chunks_exact(2).filter_map(|p| p.first()));
        }
        self.n = n;
        self.prev = refs.get(n.wrapping_sub(2)).copied().unwrap_or(0);
        true
    }

    /// `body`: the (already validated) series or exemplar message the references came
    /// from, walked again for the names when they were not in order.
    #[inline(always)]
    fn finish(self, at: usize, body: &'a [u8]) -> Res<()> {
        if self.n & 1 == 1 {
            return Err(ViewError::new(at, ViewErrorKind::OddLabelRefs(self.n)));
        }
        if !self.sorted {
            let mut names: Vec<(&[u8], usize)> = Vec::new();
            let mut refs = RefIter::new(body);
            while let Some((n, _)) = refs.next_pair() {
                let name = self.symbols.get(n as usize).copied().unwrap_or("");
                names.push((name.as_bytes(), at));
            }
            check_names(&mut names, false)?;
        }
        Ok(())
    }
}

fn symbol_at<'a>(symbols: &[&'a str], r: u32, at: usize) -> Res<&'a str> {
    symbols.get(r as usize).copied().ok_or(ViewError::new(
        at,
        ViewErrorKind::SymbolRef {
            reference: r,
            len: symbols.len(),
        },
    ))
}

/// Validates a 2.0 series; returns where its first sample starts and, when the label
/// references are one packed field, that field's payload (relative to the body).
fn series_v2<'a>(
    mut r: Rd<'a>,
    series_at: usize,
    symbols: &[&'a str],
    other_empty: bool,
    known: &mut Known,
    counts: &mut Counts,
) -> Res<(usize, Option<(usize, usize)>)> {
    let start = r.pos;
    let mut first_sample = None;
    let (mut ref_fields, mut packed) = (0usize, (0usize, 0usize));
    let mut labels = RefCheck::new(symbols, other_empty);
    let mut meta: Option<(i32, u32, u32, usize)> = None;
    while r.more() {
        let (f, wt, at) = r.key()?;
        match f {
            1 => {
                ref_fields += 1;
                if wt == LEN {
                    let mut p = r;
                    packed = p.len()?;
                }
                labels.field(&mut r, wt, f, at, known)?
            }
            2 => {
                want(wt, LEN, f, at)?;
                first_sample.get_or_insert(at - start);
                sample(r.sub()?)?;
                counts.samples += 1;
            }
            3 => {
                want(wt, LEN, f, at)?;
                histogram(r.sub()?, None)?;
                counts.histograms += 1;
            }
            4 => {
                want(wt, LEN, f, at)?;
                exemplar_v2(r.sub()?, at, symbols, other_empty, known)?;
                counts.exemplars += 1;
            }
            5 => {
                want(wt, LEN, f, at)?;
                let mut m = r.sub()?;
                let cur = meta.get_or_insert((0, 0, 0, at));
                cur.3 = at;
                while m.more() {
                    let (f, wt, at) = m.key()?;
                    match f {
                        1 | 3 | 4 => {
                            want(wt, VARINT, f, at)?;
                            let v = m.varint()?;
                            match f {
                                1 => cur.0 = v as i32,
                                3 => cur.1 = v as u32,
                                _ => cur.2 = v as u32,
                            }
                        }
                        _ => m.skip(wt, f, at, None)?,
                    }
                }
            }
            6 => {
                want(wt, VARINT, f, at)?;
                r.varint()?;
            }
            _ => r.skip(wt, f, at, None)?,
        }
    }
    if let Some((t, h, u, at)) = meta {
        metric_type(t, at)?;
        symbol_at(symbols, h, at)?;
        symbol_at(symbols, u, at)?;
    }
    let body = r.b.get(start..).unwrap_or_default();
    labels.finish(series_at, body)?;
    let refs =
        (ref_fields == 1 && packed.1 > packed.0).then(|| (packed.0 - start, packed.1 - start));
    Ok((first_sample.unwrap_or(body.len()), refs))
}

fn exemplar_v2<'a>(
    mut r: Rd<'a>,
    ex_at: usize,
    symbols: &[&'a str],
    other_empty: bool,
    known: &mut Known,
) -> Res<()> {
    let body = r.b.get(r.pos..).unwrap_or_default();
    let mut labels = RefCheck::new(symbols, other_empty);
    while r.more() {
        let (f, wt, at) = r.key()?;
        match f {
            1 => labels.field(&mut r, wt, f, at, known)?,
            2 => {
                want(wt, I64, f, at)?;
                r.fixed64()?;
            }
            3 => {
                want(wt, VARINT, f, at)?;
                r.varint()?;
            }
            _ => r.skip(wt, f, at, None)?,
        }
    }
    labels.finish(ex_at, body)
}

/// Either protocol's validated request.
pub enum RequestView<'a> {
    /// Remote write 1.0.
    V1(WriteRequestView<'a>),
    /// Remote write 2.0.
    V2(RequestV2View<'a>),
}

impl<'a> RequestView<'a> {
    /// Validates `bytes` as a message of `protocol`.
    pub fn new(bytes: &'a [u8], protocol: Protocol) -> Result<Self, ViewError> {
        Ok(match protocol {
            Protocol::V1 => RequestView::V1(WriteRequestView::new(bytes)?),
            Protocol::V2 => RequestView::V2(RequestV2View::new(bytes)?),
        })
    }

    /// The series, in message order.
    #[inline]
    pub fn timeseries(&self) -> TimeSeriesIter<'_, 'a> {
        match self {
            RequestView::V1(v) => v.timeseries(),
            RequestView::V2(v) => v.timeseries(),
        }
    }

    /// Float samples in the request.
    pub fn num_samples(&self) -> usize {
        match self {
            RequestView::V1(v) => v.num_samples(),
            RequestView::V2(v) => v.num_samples(),
        }
    }

    /// The owned request, equal to what [`codec::decode`] returns for the same bytes.
    pub fn to_request(&self) -> WriteRequest {
        match self {
            RequestView::V1(v) => v.to_request(),
            RequestView::V2(v) => v.to_request(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Iteration (over validated messages: the readers cannot fail there, and would end the
// iteration rather than panic if they did).

/// The series of a request view.
pub struct TimeSeriesIter<'v, 'a> {
    it: std::slice::Iter<'v, Entry<'a>>,
    symbols: Option<&'v [&'a str]>,
    /// The 2.0 view's decoded label reference pairs.
    refs: &'v [u64],
}

impl<'v, 'a> Iterator for TimeSeriesIter<'v, 'a> {
    type Item = TimeSeriesView<'v, 'a>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.it.next().map(|e| TimeSeriesView {
            e,
            symbols: self.symbols,
            refs: if e.decoded {
                self.refs.get(e.refs.0..e.refs.1).unwrap_or_default()
            } else {
                &[]
            },
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.it.size_hint()
    }
}

impl ExactSizeIterator for TimeSeriesIter<'_, '_> {}

/// One series of a validated request (either protocol). `'a` is the message's lifetime,
/// `'v` the view's.
#[derive(Clone, Copy)]
pub struct TimeSeriesView<'v, 'a> {
    e: &'v Entry<'a>,
    /// The 2.0 symbols table; `None` for 1.0.
    symbols: Option<&'v [&'a str]>,
    /// The label reference pairs decoded while validating (2.0 with `e.decoded`).
    refs: &'v [u64],
}

/// Yields the LEN payloads of field `field` of a message.
#[inline(always)]
fn next_field<'a>(r: &mut Rd<'a>, field: u32) -> Option<Rd<'a>> {
    while r.more() {
        let (f, wt, at) = r.key().ok()?;
        if f == field && wt == LEN {
            return r.sub().ok();
        }
        r.skip(wt, f, at, None).ok()?;
    }
    None
}

impl<'v, 'a> TimeSeriesView<'v, 'a> {
    fn is_v2(&self) -> bool {
        self.symbols.is_some()
    }

    /// The label pairs as on the wire: in wire order, empty values included (validation
    /// guarantees non-empty, unique names). [`LabelCache::labels`] builds model labels.
    #[inline]
    pub fn labels(&self) -> LabelsIter<'v, 'a> {
        match self.symbols {
            None if self.e.canonical => LabelsIter::of(LabelsInner::Canonical { run: self.e.text }),
            None => LabelsIter::of(LabelsInner::V1 {
                r: Rd::new(self.e.body),
                text: self.e.text,
                text_at: self.e.text_at,
            }),
            Some(symbols) if self.e.decoded => LabelsIter {
                pairs: self.refs.iter(),
                symbols,
                inner: LabelsInner::Done,
            },
            Some(symbols) if self.e.canonical => LabelsIter::of(LabelsInner::V2Packed {
                p: Rd {
                    b: self.e.body.get(..self.e.refs.1).unwrap_or_default(),
                    pos: self.e.refs.0,
                },
                symbols,
            }),
            Some(symbols) => LabelsIter::of(LabelsInner::V2 {
                refs: RefIter::new(self.e.body),
                symbols,
            }),
        }
    }

    /// The float samples, in wire order.
    #[inline]
    pub fn samples(&self) -> SamplesIter<'a> {
        SamplesIter {
            r: Rd {
                b: self.e.body,
                pos: self.e.samples_at,
            },
            canonical: self.e.decoded && self.e.canonical,
        }
    }

    /// The native histogram samples, in wire order.
    pub fn histograms(&self) -> HistogramsIter<'a> {
        HistogramsIter {
            r: Rd::new(self.e.body),
            field: if self.is_v2() { 3 } else { 4 },
        }
    }

    /// The exemplars, in wire order.
    pub fn exemplars(&self) -> ExemplarsIter<'v, 'a> {
        ExemplarsIter {
            r: Rd::new(self.e.body),
            field: if self.is_v2() { 4 } else { 3 },
            symbols: self.symbols,
        }
    }

    /// The series' metadata (2.0 only; `None` for 1.0 and when absent).
    pub fn metadata(&self) -> Option<MetadataView<'a>> {
        let symbols = self.symbols?;
        let mut r = Rd::new(self.e.body);
        let mut meta: Option<(i32, u32, u32)> = None;
        while let Some(mut m) = next_field(&mut r, 5) {
            let cur = meta.get_or_insert((0, 0, 0));
            while m.more() {
                let (f, wt, at) = m.key().ok()?;
                match (f, wt) {
                    (1, VARINT) => cur.0 = m.varint().ok()? as i32,
                    (3, VARINT) => cur.1 = m.varint().ok()? as u32,
                    (4, VARINT) => cur.2 = m.varint().ok()? as u32,
                    _ => m.skip(wt, f, at, None).ok()?,
                }
            }
        }
        let (t, h, u) = meta?;
        Some(MetadataView {
            metric_type: codec::metric_type_from_wire(t).ok()?,
            help: symbols.get(h as usize)?,
            unit: symbols.get(u as usize)?,
        })
    }

    /// The created timestamp (2.0 only), 0 when unknown.
    pub fn created_timestamp(&self) -> i64 {
        if !self.is_v2() {
            return 0;
        }
        let mut r = Rd::new(self.e.body);
        let mut t = 0;
        while r.more() {
            let Ok((f, wt, at)) = r.key() else { break };
            if f == 6 && wt == VARINT {
                t = r.varint().unwrap_or(0) as i64;
            } else if r.skip(wt, f, at, None).is_err() {
                break;
            }
        }
        t
    }

    /// The owned series, equal to the owned decoder's.
    pub fn to_series(&self) -> TimeSeries {
        let mut labels: Vec<Label> = self.labels().map(|(n, v)| Label::new(n, v)).collect();
        labels.retain(|l| !l.value.is_empty());
        TimeSeries {
            labels: Labels::from_labels(labels),
            samples: self.samples().collect(),
            histograms: self.histograms().map(|h| h.to_sample()).collect(),
            exemplars: self.exemplars().map(|e| e.to_exemplar()).collect(),
            metadata: self.metadata().map(|m| m.to_metadata()),
            created_timestamp: self.created_timestamp(),
        }
    }
}

/// Streams the label references of a 2.0 series or exemplar (field 1, packed or not).
#[derive(Clone, Copy)]
struct RefIter<'a> {
    outer: Rd<'a>,
    inner: Rd<'a>,
}

impl<'a> RefIter<'a> {
    fn new(body: &'a [u8]) -> Self {
        RefIter {
            outer: Rd::new(body),
            inner: Rd::new(&[]),
        }
    }

    #[inline(always)]
    fn next_ref(&mut self) -> Option<u32> {
        loop {
            if self.inner.more() {
                return self.inner.varint().ok().map(|v| v as u32);
            }
            if !self.outer.more() {
                return None;
            }
            let (f, wt, at) = self.outer.key().ok()?;
            match (f, wt) {
                (1, LEN) => self.inner = self.outer.sub().ok()?,
                (1, VARINT) => return self.outer.varint().ok().map(|v| v as u32),
                _ => self.outer.skip(wt, f, at, None).ok()?,
            }
        }
    }

    #[inline(always)]
    fn next_pair(&mut self) -> Option<(u32, u32)> {
        Some((self.next_ref()?, self.next_ref()?))
    }
}

enum LabelsInner<'v, 'a> {
    /// The rest of a canonical 1.0 label run (see `series_v1_fast`).
    Canonical { run: &'a str },
    V1 {
        r: Rd<'a>,
        text: &'a str,
        text_at: usize,
    },
    V2 {
        refs: RefIter<'a>,
        symbols: &'v [&'a str],
    },
    /// 2.0 label references in one packed field.
    V2Packed { p: Rd<'a>, symbols: &'v [&'a str] },
    /// Nothing more (the references were decoded: see `LabelsIter::pairs`).
    Done,
}

/// Label pairs `(name, value)` of a series or exemplar, as on the wire.
pub struct LabelsIter<'v, 'a> {
    /// Reference pairs decoded while validating (2.0, the common case: the name in the
    /// low half), looked at first.
    pairs: std::slice::Iter<'v, u64>,
    /// The 2.0 symbols table for `pairs` (empty otherwise).
    symbols: &'v [&'a str],
    /// Everything else.
    inner: LabelsInner<'v, 'a>,
}

impl<'v, 'a> LabelsIter<'v, 'a> {
    fn of(inner: LabelsInner<'v, 'a>) -> Self {
        LabelsIter {
            pairs: [].iter(),
            symbols: &[],
            inner,
        }
    }
}

#[inline(always)]
fn slice_str<'a>(body: &'a [u8], text: &'a str, text_at: usize, s: usize, e: usize) -> &'a str {
    if s >= e {
        return "";
    }
    match text.get(s.wrapping_sub(text_at)..e.wrapping_sub(text_at)) {
        Some(t) => t,
        None => body
            .get(s..e)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default(),
    }
}

impl<'a> Iterator for LabelsIter<'_, 'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(&p) = self.pairs.next() {
            let (n, v) = (p as u32, (p >> 32) as u32);
            return Some((self.symbols.get(n as usize)?, self.symbols.get(v as usize)?));
        }
        match &mut self.inner {
            LabelsInner::Canonical { run } => {
                let b = run.as_bytes();
                let (l, nl) = (*b.get(1)? as usize, *b.get(3)? as usize);
                let vl = *b.get(5 + nl)? as usize;
                let name = run.get(4..4 + nl)?;
                let value = run.get(6 + nl..6 + nl + vl)?;
                *run = run.get(2 + l..)?;
                Some((name, value))
            }
            LabelsInner::Done => None,
            other => other_next(other),
        }
    }
}

/// The label iteration of the less common layouts, out of line so that the common ones
/// stay small where they are inlined.
#[inline(never)]
fn other_next<'a>(inner: &mut LabelsInner<'_, 'a>) -> Option<(&'a str, &'a str)> {
    match inner {
        LabelsInner::V1 { r, text, text_at } => {
            let l = label_bounds(next_field(r, 1)?).ok()?;
            let body = r.b;
            Some((
                slice_str(body, text, *text_at, l[0], l[1]),
                slice_str(body, text, *text_at, l[2], l[3]),
            ))
        }
        LabelsInner::V2 { refs, symbols } => {
            let (n, v) = refs.next_pair()?;
            Some((symbols.get(n as usize)?, symbols.get(v as usize)?))
        }
        LabelsInner::V2Packed { p, symbols } => {
            let n = p.varint().ok()? as u32;
            let v = p.varint().ok()? as u32;
            Some((symbols.get(n as usize)?, symbols.get(v as usize)?))
        }
        LabelsInner::Canonical { .. } | LabelsInner::Done => None,
    }
}

/// The float samples of a series.
pub struct SamplesIter<'a> {
    r: Rd<'a>,
    /// The rest of the body is samples, each `12 L` (`L` below 128) and then
    /// [`sample_canonical`]'s shape: read without looking for other fields.
    canonical: bool,
}

impl Iterator for SamplesIter<'_> {
    type Item = Sample;

    #[inline]
    fn next(&mut self) -> Option<Sample> {
        if self.canonical {
            let (b, p) = (self.r.b, self.r.pos);
            let e = p + 2 + usize::from(*b.get(p + 1)?);
            self.r.pos = e;
            return sample_canonical(b, p + 2, e);
        }
        sample(next_field(&mut self.r, 2)?).ok()
    }
}

/// The native histogram samples of a series.
pub struct HistogramsIter<'a> {
    r: Rd<'a>,
    field: u32,
}

impl<'a> Iterator for HistogramsIter<'a> {
    type Item = HistogramView<'a>;

    fn next(&mut self) -> Option<HistogramView<'a>> {
        let r = next_field(&mut self.r, self.field)?;
        Some(HistogramView {
            b: r.b.get(r.pos..).unwrap_or_default(),
        })
    }
}

/// One validated native histogram message.
#[derive(Clone, Copy)]
pub struct HistogramView<'a> {
    b: &'a [u8],
}

impl HistogramView<'_> {
    /// The wire message (what `prost` would decode).
    pub fn to_wire(&self) -> pb::Histogram {
        let mut h = pb::Histogram::default();
        // Validated already: this cannot fail, and would leave defaults if it did.
        let _ = histogram(Rd::new(self.b), Some(&mut h));
        h
    }

    /// Milliseconds since the epoch.
    pub fn timestamp(&self) -> i64 {
        let mut r = Rd::new(self.b);
        let mut t = 0;
        while r.more() {
            let Ok((f, wt, at)) = r.key() else { break };
            if f == 15 && wt == VARINT {
                t = r.varint().unwrap_or(0) as i64;
            } else if r.skip(wt, f, at, Some(PROST_DEPTH)).is_err() {
                break;
            }
        }
        t
    }

    /// Whether the counts are floats (`count_float` set, as Prometheus's
    /// `IsFloatHistogram`).
    pub fn is_float(&self) -> bool {
        matches!(self.to_wire().count, Some(pbh::Count::CountFloat(_)))
    }

    /// The model histogram, as the owned decoder gives it.
    pub fn to_sample(&self) -> HistogramSample {
        codec::histogram_from_wire(&self.to_wire()).unwrap_or(HistogramSample {
            timestamp: 0,
            value: HistogramValue::Int(Default::default()),
        })
    }
}

/// The exemplars of a series.
pub struct ExemplarsIter<'v, 'a> {
    r: Rd<'a>,
    field: u32,
    symbols: Option<&'v [&'a str]>,
}

impl<'v, 'a> Iterator for ExemplarsIter<'v, 'a> {
    type Item = ExemplarView<'v, 'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = next_field(&mut self.r, self.field)?;
        let b = r.b.get(r.pos..).unwrap_or_default();
        let (mut value, mut timestamp) = (0.0, 0);
        let mut m = Rd::new(b);
        while m.more() {
            let (f, wt, at) = m.key().ok()?;
            match (f, wt) {
                (2, I64) => value = f64::from_bits(m.fixed64().ok()?),
                (3, VARINT) => timestamp = m.varint().ok()? as i64,
                _ => m.skip(wt, f, at, None).ok()?,
            }
        }
        Some(ExemplarView {
            b,
            symbols: self.symbols,
            value,
            timestamp,
        })
    }
}

/// One exemplar of a validated series.
#[derive(Clone, Copy)]
pub struct ExemplarView<'v, 'a> {
    b: &'a [u8],
    symbols: Option<&'v [&'a str]>,
    /// The value.
    pub value: f64,
    /// Milliseconds since the epoch (0 when the sender had none).
    pub timestamp: i64,
}

impl<'v, 'a> ExemplarView<'v, 'a> {
    /// The label pairs as on the wire.
    #[inline]
    pub fn labels(&self) -> LabelsIter<'v, 'a> {
        match self.symbols {
            None => LabelsIter::of(LabelsInner::V1 {
                r: Rd::new(self.b),
                text: "",
                text_at: 0,
            }),
            Some(symbols) => LabelsIter::of(LabelsInner::V2 {
                refs: RefIter::new(self.b),
                symbols,
            }),
        }
    }

    /// The model exemplar, as the owned decoder gives it.
    pub fn to_exemplar(&self) -> Exemplar {
        Exemplar {
            labels: Labels::from_pairs(self.labels()),
            value: self.value,
            timestamp: Some(self.timestamp),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Building model labels.

/// Builds model [`Labels`] from the series of one request, allocating each distinct
/// string once (by text for 1.0, by symbol reference for 2.0).
#[derive(Default)]
pub struct LabelCache<'a> {
    by_text: HashMap<&'a str, Arc<str>>,
    by_ref: Vec<Option<Arc<str>>>,
}

impl<'a> LabelCache<'a> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn text(&mut self, s: &'a str) -> Arc<str> {
        if let Some(a) = self.by_text.get(s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        self.by_text.insert(s, a.clone());
        a
    }

    fn sym(&mut self, symbols: &[&'a str], r: u32) -> Arc<str> {
        let i = r as usize;
        if self.by_ref.len() < symbols.len() {
            self.by_ref.resize(symbols.len(), None);
        }
        match self.by_ref.get_mut(i) {
            Some(Some(a)) => a.clone(),
            Some(slot) => {
                let a: Arc<str> = symbols.get(i).copied().unwrap_or_default().into();
                *slot = Some(a.clone());
                a
            }
            None => Arc::from(""),
        }
    }

    fn build(&mut self, it: LabelsIter<'_, 'a>) -> Labels {
        let mut out = Vec::with_capacity(16);
        for &p in it.pairs.as_slice() {
            let (n, v) = (p as u32, (p >> 32) as u32);
            if it.symbols.get(v as usize).is_some_and(|v| !v.is_empty()) {
                let l = Label {
                    name: self.sym(it.symbols, n),
                    value: self.sym(it.symbols, v),
                };
                out.push(l);
            }
        }
        match it.inner {
            LabelsInner::Done => {}
            LabelsInner::V1 { .. } | LabelsInner::Canonical { .. } => {
                for (n, v) in it {
                    if !v.is_empty() {
                        let l = Label {
                            name: self.text(n),
                            value: self.text(v),
                        };
                        out.push(l);
                    }
                }
            }
            LabelsInner::V2Packed { .. } | LabelsInner::V2 { .. } => {
                let (mut refs, symbols) = match it.inner {
                    LabelsInner::V2Packed { p, symbols } => (
                        RefIter {
                            outer: Rd::new(&[]),
                            inner: p,
                        },
                        symbols,
                    ),
                    LabelsInner::V2 { refs, symbols } => (refs, symbols),
                    _ => return Labels::empty(),
                };
                while let Some((n, v)) = refs.next_pair() {
                    if symbols.get(v as usize).is_some_and(|v| !v.is_empty()) {
                        let l = Label {
                            name: self.sym(symbols, n),
                            value: self.sym(symbols, v),
                        };
                        out.push(l);
                    }
                }
            }
        }
        Labels::from_labels(out)
    }

    /// The series' labels: sorted, empty values dropped (as the owned decoder's).
    pub fn labels(&mut self, ts: &TimeSeriesView<'_, 'a>) -> Labels {
        self.build(ts.labels())
    }

    /// The model exemplar.
    pub fn exemplar(&mut self, e: &ExemplarView<'_, 'a>) -> Exemplar {
        Exemplar {
            labels: self.build(e.labels()),
            value: e.value,
            timestamp: Some(e.timestamp),
        }
    }
}
