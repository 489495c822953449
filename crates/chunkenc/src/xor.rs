//! XOR float chunks ([`Encoding::Xor`](crate::Encoding::Xor)), Prometheus's Gorilla variant.
//!
//! Layout, bit for bit as Prometheus writes it:
//!
//! ```text
//! header     u16 big-endian sample count
//! sample 0   timestamp as a Go varint (zig-zag), value as 64 raw bits
//! sample 1   timestamp delta as a Go uvarint, value XOR-encoded
//! sample n   delta-of-delta of the timestamp, value XOR-encoded
//!
//! delta-of-delta: 0            -> '0'
//!                 -8191..8192  -> '10'   + 14 bits
//!                 -65535..65536 -> '110'  + 17 bits
//!                 -524287..524288 -> '1110' + 20 bits
//!                 otherwise    -> '1111' + 64 bits
//! value:          same bits as the previous value -> '0'
//!                 XOR fits the previous window     -> '10' + the window's bits
//!                 otherwise -> '11' + 5 bits leading zeros (clamped to 31)
//!                               + 6 bits significant-bit count (64 written as 0)
//!                               + the significant bits
//! ```
//!
//! Values are handled as raw bits, so every NaN payload (including Prometheus's stale
//! marker) and `-0.0` round-trip exactly. Timestamp arithmetic wraps like Go's: the encoder
//! accepts equal and decreasing timestamps (the delta-of-delta is just negative or zero) and
//! any `i64`, and the decoder gives them back unchanged. Keeping timestamps increasing is the
//! caller's business, as it is in Prometheus's head.

use crate::bstream::{BitReader, BitWriter, Eof, fits_signed, sign_payload};
use crate::error::{ChunkError, ChunkFull};

/// Samples per chunk that Prometheus's head aims for before it cuts a new XOR chunk.
pub const SAMPLES_PER_CHUNK: usize = 120;

/// Size of the XOR chunk header (the sample count).
const HEADER: usize = 2;

/// "No window yet": the first XOR-encoded value always writes a new window.
const NO_WINDOW: u8 = 0xff;

/// Appends float samples to an XOR chunk.
///
/// Produces exactly the bytes Prometheus's `xorAppender` produces for the same samples.
#[derive(Clone, Debug)]
pub struct XorAppender {
    w: BitWriter,
    /// Samples so far (at most `u16::MAX`). A full word: the hot path loads it right after
    /// the previous append stored it, and a load wider than that store (as the compiler
    /// makes of a `u16` beside the `u8`s) cannot be forwarded from it and stalls.
    num: u32,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        XorAppender::new()
    }
}

impl XorAppender {
    /// An appender on a new, empty chunk.
    pub fn new() -> XorAppender {
        XorAppender {
            w: BitWriter::with_header(&[0; HEADER]),
            num: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Continues an existing chunk: decodes every sample to recover the encoder's state.
    /// Appending to the result gives the same bytes as appending all samples in one go.
    ///
    /// (Prometheus's own `Appender()` on a decoded chunk differs in one corner: on a chunk
    /// whose values never changed it resumes with a zero-width window instead of "no window",
    /// which encodes the next change less tightly. Both decode the same.)
    pub fn from_chunk(bytes: Vec<u8>) -> Result<XorAppender, ChunkError> {
        let mut it = XorIterator::new(&bytes);
        for r in &mut it {
            r?;
        }
        let bits = HEADER * 8 + it.r.position();
        let expected_len = bits.div_ceil(8);
        let state = (it.read, it.t, it.v, it.t_delta, it.leading, it.trailing);
        let actual_len = bytes.len();
        let w = BitWriter::resume(bytes, bits).ok_or(ChunkError::TrailingData {
            expected_len,
            actual_len,
        })?;
        let (num, t, v, t_delta, leading, trailing) = state;
        Ok(XorAppender {
            w,
            num: u32::from(num),
            t,
            v,
            t_delta,
            leading,
            trailing,
        })
    }

    /// Samples in the chunk.
    #[inline]
    pub fn num_samples(&self) -> usize {
        self.num as usize
    }

    /// The chunk's bytes (header included), as stored in a segment file.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// The chunk's bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// An iterator over the samples appended so far.
    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(self.bytes())
    }

    /// Appends a sample. Fails only when the chunk already holds 65,535 samples.
    #[inline(always)]
    pub fn append(&mut self, t: i64, v: f64) -> Result<(), ChunkFull> {
        let num = self.num;
        if num < 2 || num >= u32::from(u16::MAX) {
            return self.append_general(t, v);
        }
        let vb = v.to_bits();
        let td = t.wrapping_sub(self.t) as u64;
        let dod = td.wrapping_sub(self.t_delta) as i64;
        let Some((tcode, tn)) = dod_code(dod) else {
            return self.append_general(t, v);
        };
        let delta = vb ^ self.v;
        if delta == 0 {
            // The timestamp's code and a single '0' bit.
            self.w.put_short(tcode << 1, tn + 1, false);
        } else {
            let lead = delta.leading_zeros().min(31);
            let trail = delta.trailing_zeros();
            let (leading, trailing) = (u32::from(self.leading), u32::from(self.trailing));
            // "No window" (0xff) never admits `lead`, which is at most 31.
            if lead >= leading && trail >= trailing {
                // '10': the bits in the previous window.
                let sig = 64 - leading - trailing;
                self.w
                    .put_code((tcode << 2) | 0b10, tn + 2, delta >> trailing, sig);
            } else {
                // '11', 5 bits of leading zeros, 6 bits of significant-bit count (64 as 0).
                self.leading = lead as u8;
                self.trailing = trail as u8;
                let sig = 64 - lead - trail;
                let head = (0b11 << 11) | (u64::from(lead) << 6) | u64::from(sig & 0x3f);
                self.w
                    .put_code((tcode << 13) | head, tn + 13, delta >> trail, sig);
            }
        }
        self.t = t;
        self.v = vb;
        self.t_delta = td;
        self.num = num + 1;
        self.w.set_u16(0, self.num as u16);
        Ok(())
    }

    /// Appends a sample in any form: the first two of a chunk, a timestamp needing the
    /// 64-bit delta-of-delta form, or refuses one past 65,535.
    #[inline(never)]
    fn append_general(&mut self, t: i64, v: f64) -> Result<(), ChunkFull> {
        let num = self.num;
        if num >= u32::from(u16::MAX) {
            return Err(ChunkFull);
        }
        let vb = v.to_bits();
        match num {
            0 => {
                self.w.write_varint(t);
                self.w.write_bits(vb, 64);
            }
            1 => {
                let td = t.wrapping_sub(self.t) as u64;
                self.w.write_uvarint(td);
                self.write_value(vb);
                self.t_delta = td;
            }
            _ => {
                let td = t.wrapping_sub(self.t) as u64;
                let dod = td.wrapping_sub(self.t_delta) as i64;
                let code = xor_code(vb, self.v, &mut self.leading, &mut self.trailing);
                let (prefix, prefix_n) = dod_code(dod).unwrap_or_else(|| {
                    self.w.put(0b1111, 4, 4);
                    self.w.write_bits(dod as u64, 64);
                    (0, 0)
                });
                code.write_after(&mut self.w, prefix, prefix_n);
                self.t_delta = td;
            }
        }
        self.t = t;
        self.v = vb;
        self.num = num + 1;
        self.w.set_u16(0, self.num as u16);
        Ok(())
    }

    #[inline(always)]
    fn write_value(&mut self, vb: u64) {
        xor_write(
            &mut self.w,
            vb,
            self.v,
            &mut self.leading,
            &mut self.trailing,
        );
    }
}

/// The code of a timestamp's delta-of-delta (prefix and payload, and its length in bits),
/// or `None` for the 64-bit form (`'1111'` and 64 bits), which takes two writes.
#[inline(always)]
fn dod_code(dod: i64) -> Option<(u64, u32)> {
    let d = dod as u64;
    if dod == 0 {
        Some((0, 1))
    } else if fits_signed(dod, 14) {
        Some(((0b10 << 14) | (d & 0x3fff), 16))
    } else if fits_signed(dod, 17) {
        Some(((0b110 << 17) | (d & 0x1_ffff), 20))
    } else if fits_signed(dod, 20) {
        Some(((0b1110 << 20) | (d & 0xf_ffff), 24))
    } else {
        None
    }
}

/// The bits of one XOR-encoded value: a head (`0`, `10`, or `11` with the window) and the
/// significant bits. Prometheus's last write for a value is the payload (or the single `0`
/// bit), which decides whether an aligned stream ends with an empty byte.
#[derive(Clone, Copy)]
pub(crate) struct XorCode {
    head: u64,
    head_n: u32,
    payload: u64,
    payload_n: u32,
}

impl XorCode {
    /// Length of the last Prometheus write among these bits.
    #[inline(always)]
    fn last_n(self) -> u32 {
        if self.payload_n > 0 {
            self.payload_n
        } else {
            self.head_n
        }
    }

    /// Writes the code after `prefix` (`prefix_n` bits, possibly 0), in one or two writes.
    #[inline(always)]
    pub(crate) fn write_after(self, w: &mut BitWriter, prefix: u64, prefix_n: u32) {
        let n = prefix_n + self.head_n + self.payload_n;
        if n <= 64 {
            let bits = (((prefix << self.head_n) | self.head) << self.payload_n) | self.payload;
            w.put(bits, n, self.last_n());
        } else {
            w.put(
                (prefix << self.head_n) | self.head,
                prefix_n + self.head_n,
                0,
            );
            w.put(self.payload, self.payload_n, self.payload_n);
        }
    }
}

/// Encodes `value` against `prev` (Prometheus's `xorWrite`), updating the window.
#[inline(always)]
pub(crate) fn xor_code(value: u64, prev: u64, leading: &mut u8, trailing: &mut u8) -> XorCode {
    let delta = value ^ prev;
    if delta == 0 {
        return XorCode {
            head: 0,
            head_n: 1,
            payload: 0,
            payload_n: 0,
        };
    }
    let lead = (delta.leading_zeros() as u8).min(31);
    let trail = delta.trailing_zeros() as u8;
    if *leading != NO_WINDOW && lead >= *leading && trail >= *trailing {
        // '10': reuse the previous window.
        return XorCode {
            head: 0b10,
            head_n: 2,
            payload: delta >> *trailing,
            payload_n: 64 - u32::from(*leading) - u32::from(*trailing),
        };
    }
    *leading = lead;
    *trailing = trail;
    // '11', 5 bits of leading zeros, 6 bits of significant-bit count (64 becomes 0).
    let sig = 64 - u32::from(lead) - u32::from(trail);
    XorCode {
        head: (0b11 << 11) | (u64::from(lead) << 6) | u64::from(sig & 0x3f),
        head_n: 13,
        payload: delta >> trail,
        payload_n: sig,
    }
}

/// Writes `value` XOR-encoded against `prev`, updating the window.
#[inline(always)]
pub(crate) fn xor_write(
    w: &mut BitWriter,
    value: u64,
    prev: u64,
    leading: &mut u8,
    trailing: &mut u8,
) {
    xor_code(value, prev, leading, trailing).write_after(w, 0, 0);
}

/// Why [`xor_read`] failed.
pub(crate) enum XorReadError {
    Eof,
    Window { leading: u8, significant: u8 },
}

impl From<Eof> for XorReadError {
    fn from(_: Eof) -> Self {
        XorReadError::Eof
    }
}

impl XorReadError {
    pub(crate) fn at(self, sample: u16) -> ChunkError {
        match self {
            XorReadError::Eof => ChunkError::Truncated { sample },
            XorReadError::Window {
                leading,
                significant,
            } => ChunkError::InvalidXorWindow {
                sample,
                leading,
                significant,
            },
        }
    }
}

/// Reads an XOR-encoded value (Prometheus's `xorRead`), updating `value` and the window.
///
/// A window reuse before any window was set reads 64 bits, as Prometheus does (its reader
/// starts from a zero-width window); the window stays unset.
#[inline(always)]
pub(crate) fn xor_read(
    r: &mut BitReader<'_>,
    value: &mut u64,
    leading: &mut u8,
    trailing: &mut u8,
) -> Result<(), XorReadError> {
    let w = r.peek();
    r.need(1)?;
    if w >> 63 == 0 {
        r.consume(1);
        return Ok(());
    }
    r.need(2)?;
    let (ctrl, trail, mbits) = if (w >> 62) & 1 == 0 {
        if *leading == NO_WINDOW {
            (2, 0u32, 64u32)
        } else {
            let t = u32::from(*trailing);
            (2, t, 64 - u32::from(*leading) - t)
        }
    } else {
        r.need(13)?;
        let lead = ((w >> 57) & 0x1f) as u8;
        let m = ((w >> 51) & 0x3f) as u8;
        let m = if m == 0 { 64 } else { m };
        if u32::from(lead) + u32::from(m) > 64 {
            return Err(XorReadError::Window {
                leading: lead,
                significant: m,
            });
        }
        let t = 64 - lead - m;
        *leading = lead;
        *trailing = t;
        (13, u32::from(t), u32::from(m))
    };
    let bits = if ctrl + mbits <= 57 {
        r.need((ctrl + mbits) as usize)?;
        r.consume((ctrl + mbits) as usize);
        (w << ctrl) >> (64 - mbits)
    } else {
        r.consume(ctrl as usize);
        r.read_bits(mbits)?
    };
    *value ^= bits << trail;
    Ok(())
}

/// Iterates over the samples of an XOR chunk.
///
/// Yields `Ok((timestamp, value))` per sample. Malformed data yields one `Err` and then ends;
/// it never panics.
#[derive(Clone, Debug)]
pub struct XorIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    err: Option<ChunkError>,
    done: bool,
    /// `total` until an error; then the samples read (so the hot path stops).
    limit: u16,
}

impl<'a> XorIterator<'a> {
    #[inline(never)]
    fn next_slow(&mut self) -> Option<Result<(i64, f64), ChunkError>> {
        if self.done {
            return None;
        }
        if let Some(e) = self.err {
            // A header error found by `new`.
            self.done = true;
            return Some(Err(e));
        }
        if self.read >= self.total {
            self.done = true;
            return None;
        }
        match self.decode() {
            Ok(()) => {
                self.read += 1;
                Some(Ok((self.t, f64::from_bits(self.v))))
            }
            Err(e) => {
                self.err = Some(e);
                self.done = true;
                self.limit = self.read;
                Some(Err(e))
            }
        }
    }

    /// An iterator over the chunk `data` (header included). A chunk shorter than its header
    /// yields a [`ChunkError::ShortHeader`].
    pub fn new(data: &'a [u8]) -> XorIterator<'a> {
        let (total, body, err) = match data {
            [a, b, body @ ..] => (u16::from_be_bytes([*a, *b]), body, None),
            _ => (
                0,
                &[][..],
                Some(ChunkError::ShortHeader {
                    len: data.len(),
                    needed: HEADER,
                }),
            ),
        };
        XorIterator {
            r: BitReader::new(body),
            total,
            read: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: NO_WINDOW,
            trailing: 0,
            err,
            done: false,
            limit: total,
        }
    }

    /// Samples the chunk header announces.
    pub fn num_samples(&self) -> usize {
        usize::from(self.total)
    }

    /// The sample last returned by [`next`](Iterator::next) or [`seek`](Self::seek)
    /// (`(0, 0.0)` before the first one).
    #[inline]
    pub fn at(&self) -> (i64, f64) {
        (self.t, f64::from_bits(self.v))
    }

    /// The error that ended the iteration, if any.
    pub fn err(&self) -> Option<ChunkError> {
        self.err
    }

    /// Advances to the first sample with a timestamp `>= t` and returns it. Does not move if
    /// the current sample already qualifies (Prometheus's `Seek`). `None` when no such sample
    /// is left, or after an error was returned.
    pub fn seek(&mut self, t: i64) -> Option<Result<(i64, f64), ChunkError>> {
        if self.done && self.err.is_some() {
            return None;
        }
        while self.read == 0 || self.t < t {
            if let Err(e) = self.next()? {
                return Some(Err(e));
            }
        }
        Some(Ok(self.at()))
    }

    #[inline(always)]
    fn decode(&mut self) -> Result<(), ChunkError> {
        let sample = self.read;
        let eof = |_| ChunkError::Truncated { sample };
        match sample {
            0 => {
                self.t = self
                    .r
                    .read_varint()
                    .map_err(eof)?
                    .ok_or(ChunkError::VarintOverflow { sample })?;
                self.v = self.r.read_bits(64).map_err(eof)?;
            }
            1 => {
                self.t_delta = self
                    .r
                    .read_uvarint()
                    .map_err(eof)?
                    .ok_or(ChunkError::VarintOverflow { sample })?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value(sample)?;
            }
            _ => {
                let w = self.r.peek();
                let dod = if w >> 63 == 0 {
                    self.r.need(1).map_err(eof)?;
                    self.r.consume(1);
                    0
                } else {
                    let (plen, sz) = match (!w).leading_zeros() {
                        1 => (2, 14),
                        2 => (3, 17),
                        3 => (4, 20),
                        _ => (4, 64),
                    };
                    if sz < 64 {
                        self.r.need(plen + sz).map_err(eof)?;
                        self.r.consume(plen + sz);
                        sign_payload((w << plen) >> (64 - sz), sz as u32)
                    } else {
                        self.r.need(4).map_err(eof)?;
                        self.r.consume(4);
                        self.r.read_bits(64).map_err(eof)? as i64
                    }
                };
                self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value(sample)?;
            }
        }
        Ok(())
    }

    /// Decodes a sample after the second with unchecked-size window reads, when the sample
    /// lies well inside the data (all but the last few bytes of a chunk) and its timestamp
    /// does not need the 64-bit delta-of-delta form. Returns `false`, changing nothing, when
    /// the general path must do it.
    #[inline(always)]
    fn decode_fast(&mut self) -> bool {
        let pos = self.r.position();
        let Some(w) = self.r.window_at(pos) else {
            return false;
        };
        let w = w << (pos & 7);
        let (used, dod) = if w >> 63 == 0 {
            (1, 0)
        } else {
            match (!w).leading_zeros() {
                1 => (16, sign_payload((w << 2) >> 50, 14)),
                2 => (20, sign_payload((w << 3) >> 47, 17)),
                3 => (24, sign_payload((w << 4) >> 44, 20)),
                _ => return false,
            }
        };
        // The value's head (at most 13 bits) is inside the same window: `used` is at most 24
        // and the window holds at least 57 bits.
        let avail = 64 - (pos & 7);
        let v = w << used;
        let (head, lead, trail, window) = if v >> 63 == 0 {
            self.r.consume(used + 1);
            self.commit_time(dod);
            return true;
        } else if (v >> 62) & 1 == 0 {
            if self.leading == NO_WINDOW {
                (2, 0, 0, false)
            } else {
                (2, u32::from(self.leading), u32::from(self.trailing), false)
            }
        } else {
            let lead = ((v >> 57) & 0x1f) as u32;
            let m = match ((v >> 51) & 0x3f) as u32 {
                0 => 64,
                m => m,
            };
            if lead + m > 64 {
                return false;
            }
            (13, lead, 64 - lead - m, true)
        };
        let m = 64 - lead - trail;
        let bits = if used + head + m as usize <= avail {
            (v << head) >> (64 - m)
        } else {
            match self.r.bits_at(pos + used + head, m) {
                Some(b) => b,
                None => return false,
            }
        };
        if window {
            self.leading = lead as u8;
            self.trailing = trail as u8;
        }
        self.v ^= bits << trail;
        self.r.consume(used + head + m as usize);
        self.commit_time(dod);
        true
    }

    #[inline(always)]
    fn commit_time(&mut self, dod: i64) {
        self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
        self.t = self.t.wrapping_add(self.t_delta as i64);
    }

    #[inline(always)]
    fn read_value(&mut self, sample: u16) -> Result<(), ChunkError> {
        xor_read(
            &mut self.r,
            &mut self.v,
            &mut self.leading,
            &mut self.trailing,
        )
        .map_err(|e| e.at(sample))
    }
}

impl Iterator for XorIterator<'_> {
    type Item = Result<(i64, f64), ChunkError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        // Hot path, small enough to inline into the caller's loop: samples after the second
        // that decode from one 64-bit window. Everything else goes out of line.
        if self.read >= 2 && self.read < self.limit && self.decode_fast() {
            self.read += 1;
            return Some(Ok((self.t, f64::from_bits(self.v))));
        }
        self.next_slow()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        let left = usize::from(self.total - self.read.min(self.total));
        (0, Some(left.max(usize::from(self.err.is_some()))))
    }
}

impl std::iter::FusedIterator for XorIterator<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Steps of a series: a timestamp delta and how the value moves (0: unchanged, 1: by a
    /// small integer, 2: by a small fraction, 3: to arbitrary bits).
    fn steps() -> impl Strategy<Value = Vec<(i64, u8, u64)>> {
        let delta = prop_oneof![
            6 => 14_990i64..15_010,
            2 => Just(15_000i64),
            2 => -600_000i64..600_000,
            1 => any::<i64>(),
        ];
        prop::collection::vec((delta, 0u8..4, any::<u64>()), 0..300)
    }

    fn series(start: i64, steps: &[(i64, u8, u64)]) -> Vec<(i64, f64)> {
        let (mut t, mut v) = (start, 100.0f64);
        steps
            .iter()
            .map(|&(d, kind, bits)| {
                t = t.wrapping_add(d);
                v = match kind {
                    0 => v,
                    1 => v + (bits % 100) as f64,
                    2 => v + (bits % 1000) as f64 / 10.0,
                    _ => f64::from_bits(bits),
                };
                (t, v)
            })
            .collect()
    }

    proptest! {
        /// `append`'s fast path writes exactly what the general path (Prometheus's
        /// `xorAppender`, write by write) writes, cut for cut of the stream.
        #[test]
        fn fast_append_matches_the_general_path(start in any::<i64>(), steps in steps()) {
            let mut fast = XorAppender::new();
            let mut general = XorAppender::new();
            for (t, v) in series(start, &steps) {
                fast.append(t, v).unwrap();
                general.append_general(t, v).unwrap();
                prop_assert_eq!(fast.bytes(), general.bytes());
            }
        }
    }
}
