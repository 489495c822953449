//! What integer and float histogram chunks share: the layout block written with the first
//! sample, bucket-index arithmetic on spans, and the checks that decide whether a new
//! histogram fits a chunk's layout.

use super::{Span, is_known_schema};
use crate::ChunkError;
use crate::bstream::{BitReader, BitWriter, Eof};

/// Size of a histogram chunk header: sample count and flags byte.
pub(crate) const HEADER: usize = 3;

/// The part of a histogram chunk written once, with its first sample.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Layout {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) pspans: Vec<Span>,
    pub(crate) nspans: Vec<Span>,
    pub(crate) custom: Vec<f64>,
}

/// Writes the layout (Prometheus's `writeHistogramChunkLayout`).
pub(crate) fn write_layout(
    w: &mut BitWriter,
    schema: i32,
    zero_threshold: f64,
    pspans: &[Span],
    nspans: &[Span],
    custom: &[f64],
) {
    write_zero_threshold(w, zero_threshold);
    w.write_varbit_int(i64::from(schema));
    write_spans(w, pspans);
    write_spans(w, nspans);
    if schema == super::CUSTOM_BUCKETS_SCHEMA {
        w.write_varbit_uint(custom.len() as u64);
        for &b in custom {
            write_custom_bound(w, b);
        }
    }
}

fn write_spans(w: &mut BitWriter, spans: &[Span]) {
    w.write_varbit_uint(spans.len() as u64);
    for s in spans {
        w.write_varbit_uint(u64::from(s.length));
        w.write_varbit_int(i64::from(s.offset));
    }
}

/// One byte for 0 and for powers of two from 2^-243 to 2^10, else 255 and the raw bits.
fn write_zero_threshold(w: &mut BitWriter, t: f64) {
    if t == 0.0 {
        w.write_byte(0);
        return;
    }
    match frexp_power_of_two(t) {
        Some(exp) if (-242..=11).contains(&exp) => w.write_byte((exp + 243) as u8),
        _ => {
            w.write_byte(255);
            w.write_bits(t.to_bits(), 64);
        }
    }
}

/// If `t` is `0.5 * 2^exp` exactly (Go's `math.Frexp` giving a fraction of 0.5), `exp`.
fn frexp_power_of_two(t: f64) -> Option<i32> {
    if !t.is_finite() || t <= 0.0 {
        return None;
    }
    let bits = t.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let mantissa = bits & ((1 << 52) - 1);
    if biased == 0 {
        // Subnormal: a power of two has a single mantissa bit.
        if mantissa.count_ones() != 1 {
            return None;
        }
        // value = mantissa * 2^-1074 = 2^(tz - 1074) = 0.5 * 2^(tz - 1073)
        return Some(mantissa.trailing_zeros() as i32 - 1073);
    }
    if mantissa != 0 {
        return None;
    }
    // value = 2^(biased - 1023) = 0.5 * 2^(biased - 1022)
    Some(biased - 1022)
}

/// Multiples of 0.001 from 0 to 33554.43 as varbit `bound * 1000 + 1`, anything else as a 0
/// bit and the raw bits (Prometheus's `putCustomBound`).
fn write_custom_bound(w: &mut BitWriter, f: f64) {
    let tf = f * 1000.0;
    if !(0.0..=33_554_430.0).contains(&tf) || !whole_when_multiplied(f) {
        w.write_bit(false);
        w.write_bits(f.to_bits(), 64);
        return;
    }
    w.write_varbit_uint(tf.round() as u64 + 1);
}

/// Prometheus's `isWholeWhenMultiplied`: `f` survives `round(f * 1000) / 1000` exactly.
fn whole_when_multiplied(f: f64) -> bool {
    let i = (f * 1000.0).round() as u64;
    i as f64 / 1000.0 == f
}

/// Reads a layout. Bounds every count by the bits left so that hostile input cannot make
/// the reader allocate more than a small multiple of its size.
pub(crate) fn read_layout(r: &mut BitReader<'_>) -> Result<Layout, ChunkError> {
    let trunc = |_: Eof| ChunkError::Truncated { sample: 0 };
    let zero_threshold = match r.read_byte().map_err(trunc)? {
        0 => 0.0,
        255 => f64::from_bits(r.read_bits(64).map_err(trunc)?),
        b => ldexp_half(i32::from(b) - 243),
    };
    let schema = r.read_varbit_int().map_err(trunc)? as i32;
    let pspans = read_spans(r)?;
    let nspans = read_spans(r)?;
    let mut custom = Vec::new();
    if schema == super::CUSTOM_BUCKETS_SCHEMA {
        let n = r.read_varbit_uint().map_err(trunc)?;
        if n > r.remaining() as u64 {
            return Err(ChunkError::LayoutTooLarge);
        }
        custom.reserve(n as usize);
        for _ in 0..n {
            let v = r.read_varbit_uint().map_err(trunc)?;
            custom.push(if v == 0 {
                f64::from_bits(r.read_bits(64).map_err(trunc)?)
            } else {
                (v - 1) as f64 / 1000.0
            });
        }
    }
    if !is_known_schema(schema) {
        return Err(ChunkError::UnknownSchema(schema));
    }
    Ok(Layout {
        schema,
        zero_threshold,
        pspans,
        nspans,
        custom,
    })
}

fn read_spans(r: &mut BitReader<'_>) -> Result<Vec<Span>, ChunkError> {
    let trunc = |_: Eof| ChunkError::Truncated { sample: 0 };
    let n = r.read_varbit_uint().map_err(trunc)?;
    // Each span takes at least two bits.
    if n > (r.remaining() / 2) as u64 {
        return Err(ChunkError::LayoutTooLarge);
    }
    let mut spans = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let length = r.read_varbit_uint().map_err(trunc)? as u32;
        let offset = r.read_varbit_int().map_err(trunc)? as i32;
        spans.push(Span { offset, length });
    }
    Ok(spans)
}

/// `0.5 * 2^exp` for exponents from -242 to 11 (Go's `math.Ldexp(0.5, exp)`).
fn ldexp_half(exp: i32) -> f64 {
    let e = exp - 1; // 2^e
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074))
    }
}

/// Buckets the spans describe.
pub(crate) fn count_spans(spans: &[Span]) -> u64 {
    spans.iter().map(|s| u64::from(s.length)).sum()
}

/// Bucket indices of a span list, in order (Prometheus's `bucketIterator`: a zero-length
/// span still moves the position by its offset).
#[derive(Clone, Debug)]
pub(crate) struct BucketIndices<'a> {
    spans: &'a [Span],
    span: usize,
    bucket: i64,
    idx: i64,
}

impl<'a> BucketIndices<'a> {
    pub(crate) fn new(spans: &'a [Span]) -> BucketIndices<'a> {
        let idx = -1 + spans.first().map_or(0, |s| i64::from(s.offset));
        BucketIndices {
            spans,
            span: 0,
            bucket: -1,
            idx,
        }
    }
}

impl Iterator for BucketIndices<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let cur = self.spans.get(self.span)?;
        if self.bucket < i64::from(cur.length) - 1 {
            self.bucket += 1;
            self.idx += 1;
            return Some(self.idx);
        }
        while self.span + 1 < self.spans.len() {
            self.span += 1;
            let s = self.spans[self.span];
            self.idx += i64::from(s.offset) + 1;
            self.bucket = 0;
            if s.length == 0 {
                self.idx -= 1;
                continue;
            }
            return Some(self.idx);
        }
        None
    }
}

/// Spans covering exactly `indices` (ascending), as short as possible: the form Prometheus
/// builds when it merges layouts (`adjustForInserts`, `expandSpansBothWays`).
pub(crate) fn spans_from_indices(indices: impl IntoIterator<Item = i64>) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut last = 0i64;
    for b in indices {
        let offset = b - last - 1;
        match out.last_mut() {
            Some(s) if offset == 0 => s.length += 1,
            _ => out.push(Span {
                offset: if out.is_empty() { b } else { offset } as i32,
                length: 1,
            }),
        }
        last = b;
    }
    out
}

/// The union of two span lists' buckets, as canonical spans.
pub(crate) fn union_spans(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut ai = BucketIndices::new(a).peekable();
    let mut bi = BucketIndices::new(b).peekable();
    let merged = std::iter::from_fn(move || match (ai.peek().copied(), bi.peek().copied()) {
        (Some(x), Some(y)) if x == y => {
            ai.next();
            bi.next()
        }
        (Some(x), Some(y)) if x < y => ai.next(),
        (Some(_), Some(_)) => bi.next(),
        (Some(_), None) => ai.next(),
        (None, _) => bi.next(),
    });
    spans_from_indices(merged)
}

/// How a new histogram's buckets on one side relate to the chunk's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fit {
    /// The new histogram has buckets the chunk lacks (the chunk must be re-encoded).
    pub(crate) forward: bool,
    /// The chunk has buckets the new histogram lacks (the histogram must be widened).
    pub(crate) backward: bool,
}

/// Compares a chunk's layout and last absolute bucket counts (`a`) with a new histogram's
/// (`b`) for counter histograms (Prometheus's `expandIntSpansAndBuckets` and
/// `expandFloatSpansAndBuckets`). `None` means a counter reset: a bucket decreased, or a
/// bucket in use in `a` is missing from `b`.
pub(crate) fn fit_counter<A, B>(a: &[Span], a_counts: A, b: &[Span], b_counts: B) -> Option<Fit>
where
    A: Iterator<Item = Count>,
    B: Iterator<Item = Count>,
{
    let mut ai = BucketIndices::new(a).zip(a_counts).peekable();
    let mut bi = BucketIndices::new(b).zip(b_counts).peekable();
    let mut fit = Fit::default();
    loop {
        match (ai.peek().copied(), bi.peek().copied()) {
            (Some((x, ca)), Some((y, cb))) if x == y => {
                if ca.greater(cb) {
                    return None;
                }
                ai.next();
                bi.next();
            }
            (Some((x, ca)), Some((y, _))) if x < y => {
                if !ca.is_zero() {
                    return None;
                }
                fit.backward = true;
                ai.next();
            }
            (Some((_, ca)), None) => {
                if !ca.is_zero() {
                    return None;
                }
                fit.backward = true;
                ai.next();
            }
            (_, Some(_)) => {
                fit.forward = true;
                bi.next();
            }
            (None, None) => return Some(fit),
        }
    }
}

/// Compares bucket sets only (gauge histograms, where buckets may come and go freely).
pub(crate) fn fit_gauge(a: &[Span], b: &[Span]) -> Fit {
    let mut ai = BucketIndices::new(a).peekable();
    let mut bi = BucketIndices::new(b).peekable();
    let mut fit = Fit::default();
    loop {
        match (ai.peek().copied(), bi.peek().copied()) {
            (Some(x), Some(y)) if x == y => {
                ai.next();
                bi.next();
            }
            (Some(x), Some(y)) if x < y => {
                fit.backward = true;
                ai.next();
            }
            (Some(_), None) => {
                fit.backward = true;
                ai.next();
            }
            (_, Some(_)) => {
                fit.forward = true;
                bi.next();
            }
            (None, None) => return fit,
        }
    }
}

/// A bucket count as the counter check sees it: integer counts compare as Go's `int64`,
/// float counts as `float64` (NaN never compares greater).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Count {
    Int(i64),
    Float(f64),
}

impl Count {
    fn greater(self, other: Count) -> bool {
        match (self, other) {
            (Count::Int(a), Count::Int(b)) => a > b,
            (Count::Float(a), Count::Float(b)) => a > b,
            _ => false,
        }
    }
    fn is_zero(self) -> bool {
        match self {
            Count::Int(a) => a == 0,
            Count::Float(a) => a == 0.0,
        }
    }
}

/// Absolute counts from delta-encoded ones, wrapping like Go's `int64`.
pub(crate) fn absolute(deltas: &[i64]) -> impl Iterator<Item = i64> + '_ {
    deltas.iter().scan(0i64, |cur, d| {
        *cur = cur.wrapping_add(*d);
        Some(*cur)
    })
}

/// Spreads values laid out by `from` onto the layout `to`, which must cover every bucket of
/// `from`; buckets only in `to` get `zero`. Returns `None` if `to` misses a bucket.
pub(crate) fn remap<T: Copy>(from: &[Span], values: &[T], to: &[Span], zero: T) -> Option<Vec<T>> {
    let mut out = Vec::with_capacity(count_spans(to) as usize);
    let mut src = BucketIndices::new(from)
        .zip(values.iter().copied())
        .peekable();
    for idx in BucketIndices::new(to) {
        match src.peek() {
            Some(&(i, v)) if i == idx => {
                out.push(v);
                src.next();
            }
            Some(&(i, _)) if i < idx => return None,
            _ => out.push(zero),
        }
    }
    src.next().is_none().then_some(out)
}

/// Delta-encodes absolute counts, wrapping like Go's `int64`.
pub(crate) fn deltas(abs: &[i64]) -> Vec<i64> {
    let mut prev = 0i64;
    abs.iter()
        .map(|&a| {
            let d = a.wrapping_sub(prev);
            prev = a;
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(v: &[(i32, u32)]) -> Vec<Span> {
        v.iter()
            .map(|&(offset, length)| Span { offset, length })
            .collect()
    }

    #[test]
    fn zero_threshold_one_byte_forms() {
        for (t, byte) in [
            (0.0, Some(0u8)),
            (2f64.powi(-128), Some(116)),
            (2f64.powi(10), Some(254)),
            (2f64.powi(-243), Some(1)),
            (1.0, Some(244)),
            (0.001, None),
            (2f64.powi(11), None),
            (2f64.powi(-244), None),
        ] {
            let mut w = BitWriter::new();
            write_zero_threshold(&mut w, t);
            let b = w.into_bytes();
            match byte {
                Some(x) => assert_eq!(b[0], x, "{t}"),
                None => {
                    assert_eq!(b[0], 255, "{t}");
                    assert_eq!(b.len(), 10);
                }
            }
            let mut r = BitReader::new(&b);
            let got = match r.read_byte().unwrap() {
                0 => 0.0,
                255 => f64::from_bits(r.read_bits(64).unwrap()),
                x => ldexp_half(i32::from(x) - 243),
            };
            assert_eq!(got.to_bits(), t.to_bits());
        }
    }

    #[test]
    fn bucket_indices_follow_prometheus() {
        let s = sp(&[(0, 2), (2, 1), (3, 2), (3, 1), (1, 1)]);
        assert_eq!(
            BucketIndices::new(&s).collect::<Vec<_>>(),
            vec![0, 1, 4, 8, 9, 13, 15]
        );
        let z = sp(&[(-2, 0), (3, 2), (0, 0), (1, 1)]);
        assert_eq!(BucketIndices::new(&z).collect::<Vec<_>>(), vec![1, 2, 4]);
        assert_eq!(spans_from_indices([1, 2, 4]), sp(&[(1, 2), (1, 1)]));
        assert_eq!(
            spans_from_indices([-3, -2, 0, 1, 5]),
            sp(&[(-3, 2), (1, 2), (3, 1)])
        );
    }

    #[test]
    fn remap_inserts_zeros() {
        let from = sp(&[(0, 2), (2, 1)]);
        let to = sp(&[(0, 5)]);
        assert_eq!(remap(&from, &[6, 3, 3], &to, 0), Some(vec![6, 3, 0, 0, 3]));
        assert_eq!(remap(&to, &[1, 2, 3, 4, 5], &from, 0), None);
    }
}
