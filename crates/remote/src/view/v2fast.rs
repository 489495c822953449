//! The fast path of [`RequestV2View::new`]: the layout every sender writes (the symbols
//! table, then the series; each series one packed field of label references, then its
//! float samples), validated with as little work per reference as the checks allow.
//!
//! It accepts a subset of what the general path accepts and builds the same view, with
//! each such series' label references decoded once into [`RequestV2View`]'s `refs`, so
//! walking the labels is two table lookups per pair. A series of another shape goes
//! through the general per-series validation; anything else, and every problem, makes
//! the whole message go through the general path (`None`), which reports the error, so
//! errors and their offsets are exactly the general path's.
//!
//! What it checks, as the general path does: every key, length and varint in bounds and
//! well formed; every symbol valid UTF-8 (the table is checked in large chunks rather than
//! symbol by symbol, and a symbol is then a slice on character boundaries of a checked
//! chunk), the first symbol empty and no other; references in range, an even number of
//! them, names non-empty and strictly increasing (compared as strings once per distinct
//! list of names: a series with the last list's names costs one integer comparison per
//! name); samples well formed.

use super::{
    Counts, Entry, Known, Rd, RequestV2View, less, pack7, sample, sample_canonical, series_v2,
};

/// Key of `Request.symbols` (field 4, length-delimited).
const SYMBOL: u8 = 0x22;
/// Key of `Request.timeseries` (field 5, length-delimited).
const SERIES: u8 = 0x2a;
/// Key of `TimeSeries.labels_refs` packed (field 1, length-delimited).
const LABEL_REFS: u8 = 0x0a;
/// Key of `TimeSeries.samples` (field 2, length-delimited).
const SAMPLE: u8 = 0x12;
/// Bytes of the symbols table checked for UTF-8 at a time (a chunk that runs into the
/// series, which are not text, is cut where the text ends).
const CHUNK: usize = 16 * 1024;

/// A varint starting at `b[i]` that ends at or before `end`: (value, where it ends).
/// `None` when it runs past `end`, is longer than ten bytes or overflows 64 bits.
#[inline(always)]
fn varint(b: &[u8], i: usize, end: usize) -> Option<(u64, usize)> {
    if let Some(w) = b.get(i..).and_then(|t| t.first_chunk::<8>()) {
        // Eight bytes at once: the first byte without its high bit ends the varint; the
        // 7-bit groups before it are packed together in three shift-and-mask steps.
        let w = u64::from_le_bytes(*w);
        let stop = !w & 0x8080_8080_8080_8080;
        if stop != 0 {
            let len = (stop.trailing_zeros() as usize + 1) / 8;
            let x = pack7(w & (stop ^ (stop - 1)) & 0x7f7f_7f7f_7f7f_7f7f);
            let e = i + len;
            return (e <= end).then_some((x, e));
        }
    }
    varint_slow(b, i, end)
}

#[cold]
fn varint_slow(b: &[u8], i: usize, end: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for k in 0..10 {
        let j = i + k;
        if j >= end {
            return None;
        }
        let byte = *b.get(j)?;
        if k == 9 && byte > 1 {
            return None;
        }
        v |= u64::from(byte & 0x7f) << (7 * k);
        if byte < 0x80 {
            return Some((v, j + 1));
        }
    }
    None
}

/// The payload bounds of a length-delimited field whose length starts at `b[i]` and
/// which ends at or before `end`.
#[inline(always)]
fn ld(b: &[u8], i: usize, end: usize) -> Option<(usize, usize)> {
    let (n, s) = match b.get(i) {
        Some(&x) if x < 0x80 => (usize::from(x), i + 1),
        _ => {
            let (n, s) = varint(b, i, end)?;
            (usize::try_from(n).ok()?, s)
        }
    };
    let e = s.checked_add(n)?;
    (e <= end).then_some((s, e))
}

/// The longest prefix of `b` that is UTF-8.
fn utf8_prefix(b: &[u8]) -> &str {
    match std::str::from_utf8(b) {
        Ok(t) => t,
        Err(e) => b
            .get(..e.valid_up_to())
            .and_then(|p| std::str::from_utf8(p).ok())
            .unwrap_or_default(),
    }
}

/// The symbols table at the start of the message: the symbols and where it ends.
#[inline(never)]
fn symbols(bytes: &[u8]) -> Option<(Vec<&str>, usize)> {
    let n = bytes.len();
    let mut out: Vec<&str> = Vec::with_capacity(n / 32);
    let (mut p, mut empties) = (0usize, 0usize);
    // Bytes checked for UTF-8 so far: `checked`, starting at byte `checked_at`.
    let (mut checked, mut checked_at) = ("", 0usize);
    while bytes.get(p) == Some(&SYMBOL) {
        // The checked text from here on, or a chunk checked from here (cut where it stops
        // being text); then the symbols inside it: their keys and one-byte lengths are
        // ASCII, so the text holds them whole, and a symbol in it whose ends are on
        // character boundaries is UTF-8 too. (Text checked once is not checked again, so
        // however the symbols break the chunks, each byte is checked at most about
        // twice.)
        let text = match checked.get(p.wrapping_sub(checked_at)..) {
            Some(t) if !t.is_empty() => t,
            _ => {
                checked = utf8_prefix(bytes.get(p..p.saturating_add(CHUNK).min(n))?);
                checked_at = p;
                checked
            }
        };
        let t = text.as_bytes();
        let mut q = 0usize;
        while let (Some(&SYMBOL), Some(&l)) = (t.get(q), t.get(q + 1)) {
            let (s, e) = (q + 2, q + 2 + usize::from(l));
            let Some(sym) = text.get(s..e).filter(|_| l < 0x80) else {
                break;
            };
            empties += usize::from(l == 0);
            out.push(sym);
            q = e;
        }
        if q == 0 {
            // A symbol that does not fit a chunk or has a longer length.
            let (s, e) = ld(bytes, p + 1, n)?;
            let sym = std::str::from_utf8(bytes.get(s..e)?).ok()?;
            empties += usize::from(s == e);
            out.push(sym);
            q = e - p;
        }
        p += q;
    }
    if out.first().is_some_and(|f| !f.is_empty()) {
        return None;
    }
    // The first symbol is empty when there is one: any other empty one makes an empty
    // label name possible beyond reference 0.
    Some((out, p)).filter(|_| empties <= 1)
}

/// The whole request, or `None` for the general path.
pub(super) fn request(bytes: &[u8]) -> Option<RequestV2View<'_>> {
    let n = bytes.len();
    let (symbols, mut p) = symbols(bytes)?;
    let rest = n - p;
    let mut v = RequestV2View {
        symbols,
        series: Vec::with_capacity(rest / 32),
        refs: Vec::with_capacity(rest / 2),
        counts: Counts::default(),
    };
    let mut known = Known::default();
    let mut names = Names::new();
    while p < n {
        if bytes.get(p) != Some(&SERIES) {
            return None;
        }
        let at = p;
        let (s, e) = ld(bytes, p + 1, n)?;
        p = e;
        let r0 = v.refs.len();
        let body = bytes.get(s..e)?;
        let entry = match series(bytes, s, e, &v.symbols, &mut names, &mut v.refs) {
            Some((samples_at, samples, canonical)) => {
                v.counts.samples += samples;
                Entry {
                    body,
                    text: "",
                    text_at: 0,
                    samples_at,
                    canonical,
                    refs: (r0, v.refs.len()),
                    decoded: true,
                }
            }
            None => {
                // Another shape (or a problem, which the general path will report).
                v.refs.truncate(r0);
                let r = Rd {
                    b: bytes.get(..e)?,
                    pos: s,
                };
                let (samples_at, packed) =
                    series_v2(r, at, &v.symbols, false, &mut known, &mut v.counts).ok()?;
                Entry {
                    body,
                    text: "",
                    text_at: 0,
                    samples_at,
                    canonical: packed.is_some(),
                    refs: packed.unwrap_or((0, 0)),
                    decoded: false,
                }
            }
        };
        v.series.push(entry);
    }
    Some(v)
}

/// A series `bytes[s..e]` that is one packed label reference field followed by float
/// samples: its references are appended to `refs`; gives where the first sample starts
/// (relative to `s`), the number of samples, and whether they are all in the layout
/// `SamplesIter` reads directly. `None` (perhaps with references appended) for any other
/// shape or a problem.
#[inline(always)]
fn series(
    b: &[u8],
    s: usize,
    e: usize,
    symbols: &[&str],
    names: &mut Names,
    refs: &mut Vec<u64>,
) -> Option<(usize, usize, bool)> {
    if b.get(s) != Some(&LABEL_REFS) {
        return None;
    }
    let (rs, re) = ld(b, s + 1, e)?;
    labels(b, rs, re, symbols, names, refs)?;
    let (mut i, mut first, mut count, mut canonical) = (re, None, 0usize, true);
    while i < e {
        if b.get(i) != Some(&SAMPLE) {
            return None;
        }
        let (ss, se) = ld(b, i + 1, e)?;
        first.get_or_insert(i - s);
        if ss == i + 2 && sample_canonical(b, ss, se).is_some() {
            // (The length took one byte.)
        } else {
            canonical = false;
            sample(Rd {
                b: b.get(..se)?,
                pos: ss,
            })
            .ok()?;
        }
        count += 1;
        i = se;
    }
    Some((first.unwrap_or(e - s), count, canonical))
}

/// One reference of a packed run ending at `e`, read at `*i`.
///
/// Branches rather than branch-free arithmetic: the lengths of the references at each
/// position repeat from series to series, so the branches are predicted and the next
/// reference is read before this one is done, where computing each length from the bytes
/// would chain every read to the one before.
#[inline(always)]
fn ref_at(b: &[u8], i: &mut usize, e: usize) -> Option<u32> {
    let p = *i;
    let x = u32::from(*b.get(p)?);
    if x < 0x80 && p < e {
        *i = p + 1;
        return Some(x);
    }
    if let Some(&y) = b.get(p + 1)
        && y < 0x80
        && p + 2 <= e
    {
        *i = p + 2;
        return Some((x & 0x7f) | u32::from(y) << 7);
    }
    let (v, j) = varint(b, p, e)?;
    *i = j;
    u32::try_from(v).ok()
}

/// Label lists of more references than this go through the general path.
const MAX_REFS: usize = 128;

/// What earlier label lists of the request proved about label name order.
struct Names {
    /// The names of the last list that passed, and their number (`usize::MAX` before the
    /// first): a list with exactly these names passes without comparing strings (the
    /// usual case: series of one metric repeat their names).
    last: [u32; MAX_REFS / 2],
    count: usize,
    /// (previous name, name) reference pairs found in order, by name position: when a
    /// list's names differ from the last list's, the positions whose pair was seen
    /// before need no string comparison either.
    seen: [u64; MAX_REFS / 2],
    /// Scratch space for one list's reference pairs (kept, so not zeroed for every
    /// series).
    buf: [u64; MAX_REFS / 2],
}

impl Names {
    fn new() -> Self {
        Names {
            last: [0; MAX_REFS / 2],
            count: usize::MAX,
            seen: [u64::MAX; MAX_REFS / 2],
            buf: [0; MAX_REFS / 2],
        }
    }
}

/// The packed label references `b[s..e]`, decoded onto `refs` and checked: whole
/// (name, value) pairs, every reference in range (and so below 2^32: the general path
/// would truncate larger values), names non-zero (the only empty symbol) and strictly
/// increasing. `None` on any problem, and for unsorted names (which may still be valid)
/// or more than `MAX_REFS` references.
#[inline(never)]
fn labels(
    b: &[u8],
    s: usize,
    e: usize,
    symbols: &[&str],
    names: &mut Names,
    refs: &mut Vec<u64>,
) -> Option<()> {
    let len = symbols.len().min(u32::MAX as usize) as u32;
    // Pairs are read four bytes at a time, so the run is taken with three bytes after it
    // (there are: the samples follow; `None` sends a series without them to the general
    // path), and the reads need no bounds checks of their own.
    let run = b.get(s..e.checked_add(3)?)?;
    let end = e - s;
    let (mut i, mut k) = (0usize, 0usize);
    // `run` ends three bytes after the references: this holds exactly while `i < end`.
    // Checked once at the end: the largest value, and whether any name differs from
    // the last list's at its position (when none does, the names were checked with that
    // list: in range, non-zero, in order; otherwise `names_in_order` checks them).
    let (mut max, mut diff) = (0u32, 0u32);
    for (slot, &last) in names.buf.iter_mut().zip(&names.last) {
        let Some(w) = run.get(i..).and_then(|t| t.first_chunk::<4>()) else {
            break;
        };
        // A pair at a time from one 4-byte load: the two lengths are one of a few
        // patterns, and each position of a series repeats its pattern series after series,
        // so the branches are predicted (and the next load does not wait for this one).
        let w = u32::from_le_bytes(*w);
        let m = w & 0x8080_8080;
        let (name, value) = if m & 0x8080 == 0 {
            i += 2;
            (w & 0x7f, (w >> 8) & 0x7f)
        } else if m & 0x80_8080 == 0x8000 {
            i += 3;
            (w & 0x7f, ((w >> 8) & 0x7f) | ((w >> 9) & (0x7f << 7)))
        } else if m & 0x80_8080 == 0x80 {
            i += 3;
            ((w & 0x7f) | ((w >> 1) & (0x7f << 7)), (w >> 16) & 0x7f)
        } else if m == 0x80_0080 {
            i += 4;
            (
                (w & 0x7f) | ((w >> 1) & (0x7f << 7)),
                ((w >> 16) & 0x7f) | ((w >> 17) & (0x7f << 7)),
            )
        } else {
            let (name, value, j) = pair_slow(run, i, end)?;
            i = j;
            (name, value)
        };
        *slot = u64::from(name) | u64::from(value) << 32;
        diff |= last ^ name;
        max = max.max(value);
        k += 1;
    }
    // (`i < end` here: more than `MAX_REFS` references.)
    if i != end || (k > 0 && max >= len) {
        return None;
    }
    if diff != 0 || k != names.count {
        names_in_order(k, len, symbols, names)?;
    }
    // Copied in fixed-size blocks (no call), the unused tail of the last one dropped.
    let r = refs.len();
    for block in names.buf.as_chunks::<16>().0.iter().take(k.div_ceil(16)) {
        refs.extend_from_slice(block);
    }
    refs.truncate(r + k);
    Some(())
}

/// A (name, value) pair of references read one varint at a time from `b[i..]`, and
/// where it ends.
#[cold]
fn pair_slow(b: &[u8], mut i: usize, e: usize) -> Option<(u32, u32, usize)> {
    let name = ref_at(b, &mut i, e)?;
    let value = ref_at(b, &mut i, e)?;
    Some((name, value, i))
}

/// Whether the names of the `k` pairs of references in `names.buf` are in range
/// (below `len`), non-zero (the only empty symbol) and strictly increasing; when they
/// are, they become `names.last`.
#[cold]
fn names_in_order(k: usize, len: u32, symbols: &[&str], names: &mut Names) -> Option<()> {
    let pairs = names.buf.get(..k)?;
    if pairs.iter().any(|&p| p as u32 == 0 || p as u32 >= len) {
        return None;
    }
    for (k, w) in pairs.windows(2).enumerate() {
        let (prev, name) = (*w.first()? as u32, *w.get(1)? as u32);
        let key = (u64::from(prev) << 32) | u64::from(name);
        let slot = names.seen.get_mut(k + 1)?;
        if *slot != key {
            let a = symbols.get(prev as usize)?;
            let z = symbols.get(name as usize)?;
            if !less(a.as_bytes(), z.as_bytes()) {
                return None;
            }
            *slot = key;
        }
    }
    for (slot, &pair) in names.last.iter_mut().zip(pairs) {
        *slot = pair as u32;
    }
    names.count = pairs.len();
    Some(())
}

#[cfg(test)]
mod tests {
    //! The fast path against the general one: whenever the fast path accepts a message,
    //! the general path accepts it too and gives the same view; whenever the general path
    //! refuses one, the fast path does too (so errors always come from the general path).

    use proptest::prelude::*;
    use prost::Message;

    use super::super::{RequestV2View, ViewErrorKind};
    use super::{pack7, varint};
    use crate::pb::{v1, v2};

    /// Everything a view says, as text.
    fn dump(v: &RequestV2View<'_>) -> String {
        let mut out = format!(
            "symbols {:?}\ncounts {} {} {}\n",
            v.symbols(),
            v.num_samples(),
            v.num_histograms(),
            v.num_exemplars()
        );
        let mut cache = super::super::LabelCache::new();
        for ts in v.timeseries() {
            let pairs: Vec<(&str, &str)> = ts.labels().collect();
            let samples: Vec<_> = ts.samples().collect();
            out += &format!(
                "{pairs:?} {:?} {samples:?} {} {:?} {}\n",
                cache.labels(&ts),
                ts.histograms().count(),
                ts.metadata(),
                ts.created_timestamp()
            );
        }
        out + &format!("{:?}", v.to_request())
    }

    /// Compares the paths on `b`; gives whether the fast path took the message.
    fn check(b: &[u8]) -> Result<bool, TestCaseError> {
        let general = RequestV2View::new_general(b);
        let view = RequestV2View::new(b);
        prop_assert_eq!(general.as_ref().err(), view.as_ref().err(), "errors differ");
        match super::request(b) {
            Some(fast) => {
                let general = general.map_err(|e| {
                    TestCaseError::fail(format!("fast path accepted what the general refused: {e}"))
                })?;
                prop_assert_eq!(dump(&fast), dump(&general));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn put_ld(out: &mut Vec<u8>, key: u8, payload: &[u8]) {
        out.push(key);
        put_varint(out, payload.len() as u64);
        out.extend_from_slice(payload);
    }

    fn sample(value: f64, ts: i64) -> Vec<u8> {
        let mut s = vec![0x09];
        s.extend_from_slice(&value.to_bits().to_le_bytes());
        s.push(0x10);
        put_varint(&mut s, ts as u64);
        s
    }

    /// A message from raw parts: symbols, then series of (packed reference bytes,
    /// samples).
    fn raw(symbols: &[&[u8]], series: &[(Vec<u8>, Vec<Vec<u8>>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for s in symbols {
            put_ld(&mut out, 0x22, s);
        }
        for (refs, samples) in series {
            let mut body = Vec::new();
            put_ld(&mut body, 0x0a, refs);
            for s in samples {
                put_ld(&mut body, 0x12, s);
            }
            put_ld(&mut out, 0x2a, &body);
        }
        out
    }

    fn refs(r: &[u64]) -> Vec<u8> {
        let mut out = Vec::new();
        for &x in r {
            put_varint(&mut out, x);
        }
        out
    }

    /// Symbols "", then `n` more, each distinct, in increasing order.
    fn table(n: usize) -> Vec<Vec<u8>> {
        let mut t = vec![Vec::new()];
        t.extend((0..n).map(|i| format!("s{i:06}").into_bytes()));
        t
    }

    fn run(t: &[Vec<u8>], series: &[(Vec<u8>, Vec<Vec<u8>>)]) -> (Vec<u8>, bool) {
        let syms: Vec<&[u8]> = t.iter().map(|s| s.as_slice()).collect();
        let b = raw(&syms, series);
        let fast = check(&b).unwrap();
        (b, fast)
    }

    /// Which series the fast path decoded itself (`None`: it did not take the message).
    fn decoded(b: &[u8]) -> Option<Vec<bool>> {
        super::request(b).map(|v| v.series.iter().map(|e| e.decoded).collect())
    }

    fn err(b: &[u8]) -> ViewErrorKind {
        RequestV2View::new(b).err().expect("refused").kind
    }

    #[test]
    fn varints_agree_with_a_plain_decoder() {
        let mut cases = vec![
            0u64,
            1,
            127,
            128,
            16383,
            16384,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        cases.extend((0..64).map(|i| 1u64 << i));
        cases.extend((1..64).map(|i| (1u64 << i) - 1));
        for v in cases {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let n = b.len();
            // With slack after it (the eight-byte load) and without.
            for pad in [0usize, 8] {
                let mut p = b.clone();
                p.resize(n + pad, 0xff);
                assert_eq!(varint(&p, 0, n + pad), Some((v, n)), "{v}");
                assert_eq!(varint(&p, 0, n - 1), None, "{v} cut");
            }
            if n <= 8 {
                let mut p = vec![0u8; 8];
                p.extend_from_slice(&b);
                assert_eq!(super::super::varint_exact(&p, 8, 8 + n), Some(v), "{v}");
                if n > 1 {
                    assert_eq!(super::super::varint_exact(&p, 8, 7 + n), None, "{v}");
                }
            }
        }
        // Overlong (a zero last group) is a varint; eleven bytes, or a tenth byte above 1,
        // is not.
        assert_eq!(varint(&[0x81, 0x80, 0x80, 0x00], 0, 4), Some((1, 4)));
        assert_eq!(varint(&[0x80; 11], 0, 11), None);
        let mut ten = vec![0xff; 9];
        ten.push(0x02);
        assert_eq!(varint(&ten, 0, 10), None);
        assert_eq!(pack7(0x0102), 2 | 1 << 7);
    }

    #[test]
    fn the_usual_layout_takes_the_fast_path() {
        let t = table(300);
        let series: Vec<_> = (0..50u64)
            .map(|i| {
                (
                    refs(&[1, 200 + i, 2, 3, 150, 299 - i]),
                    vec![sample(i as f64, 1_700_000_000_000 + i as i64)],
                )
            })
            .collect();
        let (b, fast) = run(&t, &series);
        assert!(fast);
        let v = RequestV2View::new(&b).unwrap();
        assert_eq!(v.num_samples(), 50);
        let first: Vec<_> = v.timeseries().next().unwrap().labels().collect();
        assert_eq!(
            first,
            [
                ("s000000", "s000199"),
                ("s000001", "s000002"),
                ("s000149", "s000298")
            ]
        );
    }

    #[test]
    fn references_at_the_edges() {
        let t = table(20_000);
        let last = t.len() as u64 - 1;
        // Three-byte references, the last symbol, overlong encodings.
        let (_, fast) = run(
            &t,
            &[(refs(&[1, last, 16_384, 19_999]), vec![sample(1.0, 2)])],
        );
        assert!(fast);
        let mut overlong = vec![0x81, 0x80, 0x80, 0x00];
        overlong.extend(refs(&[5]));
        let (_, fast) = run(&t, &[(overlong, vec![sample(1.0, 2)])]);
        assert!(fast);
        // One past the end.
        let (b, fast) = run(&t, &[(refs(&[1, last + 1]), vec![sample(1.0, 2)])]);
        assert!(!fast);
        assert!(matches!(err(&b), ViewErrorKind::SymbolRef { .. }));
        let (b, _) = run(&t, &[(refs(&[last + 1, 1]), vec![sample(1.0, 2)])]);
        assert!(matches!(err(&b), ViewErrorKind::SymbolRef { .. }));
        // Beyond 32 bits: the general path truncates, as prost does.
        let (b, _) = run(&t, &[(refs(&[(1 << 32) + 1, 2]), vec![sample(1.0, 2)])]);
        assert_eq!(decoded(&b), Some(vec![false]));
        assert!(RequestV2View::new(&b).is_ok());
        // Eleven-byte varint.
        let mut bad = vec![0x01];
        bad.extend([0x80; 10]);
        bad.push(0x00);
        let (b, _) = run(&t, &[(bad, vec![sample(1.0, 2)])]);
        assert_eq!(err(&b), ViewErrorKind::InvalidVarint);
        // A varint cut by the end of the run.
        let (b, _) = run(&t, &[(vec![0x01, 0x81], vec![sample(1.0, 2)])]);
        assert!(RequestV2View::new(&b).is_err());
    }

    #[test]
    fn label_names_are_checked() {
        let t = table(10);
        let s = || vec![sample(1.0, 2)];
        for (list, ok) in [
            (vec![0, 1], false),            // empty name
            (vec![1, 1, 1, 2], false),      // repeated
            (vec![2, 1, 1, 2], true),       // unsorted, unique
            (vec![3, 1, 2, 2, 1, 1], true), // unsorted names take the general path
            (vec![2, 1, 2, 2, 1, 1], false),
            (vec![1, 2, 3], false), // odd
            (vec![], true),
        ] {
            let (b, fast) = run(&t, &[(refs(&list), s())]);
            assert_eq!(RequestV2View::new(&b).is_ok(), ok, "{list:?}");
            if !ok {
                assert!(!fast);
            }
            let sorted = list.chunks(2).all(|c| c.len() == 2)
                && list
                    .chunks(2)
                    .zip(list.chunks(2).skip(1))
                    .all(|(a, z)| a[0] < z[0]);
            if ok {
                assert_eq!(decoded(&b), Some(vec![sorted]), "{list:?}");
            }
        }
        // The same names as the last list, then different ones, then unsorted.
        let (_, fast) = run(
            &t,
            &[
                (refs(&[1, 5, 2, 6]), s()),
                (refs(&[1, 7, 2, 8]), s()),
                (refs(&[1, 7, 3, 8]), s()),
                (refs(&[1, 7, 2, 8]), s()),
            ],
        );
        assert!(fast);
        let (b, _) = run(
            &t,
            &[(refs(&[1, 5, 2, 6]), s()), (refs(&[1, 7, 3, 8]), s())],
        );
        assert_eq!(decoded(&b), Some(vec![true, true]));
        let (b, _) = run(
            &t,
            &[(refs(&[1, 5, 2, 6]), s()), (refs(&[2, 7, 1, 8]), s())],
        );
        assert!(RequestV2View::new(&b).is_ok());
        let (b, _) = run(
            &t,
            &[(refs(&[1, 5, 2, 6]), s()), (refs(&[2, 7, 2, 8]), s())],
        );
        assert!(matches!(err(&b), ViewErrorKind::DuplicateLabelName(_)));
        // More pairs than the fast path holds.
        let t = table(200);
        let many: Vec<u64> = (1..=100).flat_map(|i| [i, 150]).collect();
        let (b, _) = run(&t, &[(refs(&many), s())]);
        assert_eq!(decoded(&b), Some(vec![false]));
        assert!(RequestV2View::new(&b).is_ok());
        // An empty symbol other than the first.
        let mut t = table(4);
        t[3].clear();
        let (b, fast) = run(&t, &[(refs(&[3, 1]), s())]);
        assert!(!fast);
        assert_eq!(err(&b), ViewErrorKind::EmptyLabelName);
    }

    #[test]
    fn symbols_are_checked_for_utf8_across_chunks() {
        // A table longer than a chunk, with multi-byte characters everywhere (so some
        // straddle a chunk's end), long symbols (two-byte lengths) and one bad byte
        // placed at each position in turn near the chunk's end.
        let mut t = vec![Vec::new()];
        for i in 0..3000 {
            let s = match i % 7 {
                0 => format!("é{i}ü"),
                1 => format!("{i}{}", "x".repeat(130)),
                2 => format!("日本{i}"),
                _ => format!("a{i}"),
            };
            t.push(s.into_bytes());
        }
        let s = vec![sample(1.0, 2)];
        let (b, fast) = run(&t, &[(refs(&[1, 2, 3, 4]), s.clone())]);
        assert!(fast);
        assert!(b.len() > super::CHUNK);
        for at in super::CHUNK - 40..super::CHUNK + 40 {
            let mut bad = b.clone();
            // Symbols' bytes only: every position near the chunk end is in the table.
            bad[at] = 0xc3;
            check(&bad).unwrap();
            bad[at] = 0x80;
            check(&bad).unwrap();
        }
        // Symbol lengths as overlong three-byte varints that are also UTF-8 (c2 80 00 is
        // U+0080 then NUL, and the length 66): the checked text is reused rather than
        // checked again for every symbol.
        let mut b = Vec::new();
        put_ld(&mut b, 0x22, b"");
        for i in 0..500u32 {
            let sym = format!("o{i:065}");
            assert_eq!(sym.len(), 66);
            b.extend([0x22, 0xc2, 0x80, 0x00]);
            b.extend_from_slice(sym.as_bytes());
        }
        let mut body = Vec::new();
        put_ld(&mut body, 0x0a, &refs(&[1, 2, 3, 4]));
        put_ld(&mut body, 0x12, &sample(1.0, 2));
        put_ld(&mut b, 0x2a, &body);
        assert!(check(&b).unwrap());
        assert_eq!(RequestV2View::new(&b).unwrap().symbols().len(), 501);
        // The first symbol not empty.
        let (b, _) = run(&[b"x".to_vec(), b"y".to_vec()], &[(refs(&[1, 0]), s)]);
        assert_eq!(err(&b), ViewErrorKind::FirstSymbolNotEmpty);
    }

    #[test]
    fn samples_of_other_shapes() {
        let t = table(4);
        let mut swapped = vec![0x10];
        put_varint(&mut swapped, 77);
        swapped.push(0x09);
        swapped.extend_from_slice(&2.5f64.to_bits().to_le_bytes());
        for samples in [
            vec![sample(1.0, -1)], // ten-byte timestamp
            vec![sample(1.0, 0), sample(2.0, i64::MAX)],
            vec![swapped.clone()],
            vec![vec![]],
            vec![sample(1.0, 5)[..9].to_vec()], // cut inside the value
            vec![{
                let mut s = sample(1.0, 5);
                s.extend([0x18, 0x01]); // an unknown field
                s
            }],
            vec![],
        ] {
            let (b, _) = run(&t, &[(refs(&[1, 2]), samples.clone())]);
            let _ = RequestV2View::new(&b);
        }
        // A series without samples, last in the message (its references end the bytes).
        let (b, _) = run(&t, &[(refs(&[1, 2]), vec![])]);
        assert!(RequestV2View::new(&b).is_ok());
        assert_eq!(decoded(&b), Some(vec![false]));
    }

    fn request() -> impl Strategy<Value = v2::Request> {
        let symbol = prop_oneof![
            4 => "[a-e]{1,3}",
            1 => "\\PC{1,4}",
            1 => "[a-z]{120,140}",
            1 => Just(String::new()),
        ];
        let series = (
            prop::collection::vec((0u32..40, 0u32..40), 0..6),
            any::<bool>(),
            prop::collection::vec((any::<f64>(), any::<i64>()), 0..3),
        )
            .prop_map(|(pairs, sort, samples)| {
                let mut pairs = pairs;
                if sort {
                    pairs.sort();
                    pairs.dedup_by_key(|p| p.0);
                }
                v2::TimeSeries {
                    labels_refs: pairs.into_iter().flat_map(|(n, v)| [n, v]).collect(),
                    samples: samples
                        .into_iter()
                        .map(|(value, timestamp)| v1::Sample { value, timestamp })
                        .collect(),
                    ..Default::default()
                }
            });
        (
            prop::collection::vec(symbol, 0..200),
            prop::bool::weighted(0.9),
            prop::collection::vec(series, 0..8),
        )
            .prop_map(|(mut symbols, empty_first, timeseries)| {
                if empty_first {
                    symbols.insert(0, String::new());
                }
                v2::Request {
                    symbols,
                    timeseries,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn fast_and_general_paths_agree(m in request()) {
            check(&m.encode_to_vec())?;
        }

        #[test]
        fn fast_and_general_paths_agree_on_mutations(
            m in request(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut b = m.encode_to_vec();
            if !b.is_empty() {
                for (i, x) in &flips {
                    let i = i.index(b.len());
                    b[i] ^= x;
                }
                check(&b)?;
                check(&b[..cut.index(b.len())])?;
            }
        }

        #[test]
        fn fast_and_general_paths_agree_on_arbitrary_bytes(
            b in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            check(&b)?;
        }
    }
}
