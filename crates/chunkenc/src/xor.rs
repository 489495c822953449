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
    /// The bits outside the value window (all of them before the first window): a value
    /// whose XOR with the previous one has none of them set reuses the window.
    outside: u64,
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
            outside: u64::MAX,
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
            outside: outside_window(leading, trailing),
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
        } else if delta & self.outside == 0 {
            // '10': the bits in the previous window.
            let (leading, trailing) = (u32::from(self.leading), u32::from(self.trailing));
            let sig = 64 - leading - trailing;
            self.w
                .put_code((tcode << 2) | 0b10, tn + 2, delta >> trailing, sig);
        } else {
            // '11', 5 bits of leading zeros, 6 bits of significant-bit count (64 as 0).
            let lead = delta.leading_zeros().min(31);
            let trail = delta.trailing_zeros();
            self.leading = lead as u8;
            self.trailing = trail as u8;
            self.outside = outside_window(lead as u8, trail as u8);
            let sig = 64 - lead - trail;
            let head = (0b11 << 11) | (u64::from(lead) << 6) | u64::from(sig & 0x3f);
            self.w
                .put_code((tcode << 13) | head, tn + 13, delta >> trail, sig);
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
        self.outside = outside_window(self.leading, self.trailing);
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

/// The bits outside the window of `leading` and `trailing` zeros (all bits when there is
/// no window yet).
#[inline(always)]
fn outside_window(leading: u8, trailing: u8) -> u64 {
    if leading == NO_WINDOW {
        return u64::MAX;
    }
    !((u64::MAX >> leading) & (u64::MAX << trailing))
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

/// Samples an iterator decodes into its buffer at a time.
///
/// Decoding runs in batches so that the decoder's state stays in registers for a whole
/// batch instead of going through memory for every sample; `next` then only reads the
/// buffer. 32 samples keep the buffer at 512 bytes.
const BATCH: usize = 32;

/// Bytes of data the fast path reads from a sample's first byte on.
const WINDOW: usize = 16;

/// Iterates over the samples of an XOR chunk.
///
/// Yields `Ok((timestamp, value))` per sample. Malformed data yields one `Err` and then ends;
/// it never panics. Samples are decoded a batch at a time into a small buffer inside the
/// iterator; an error comes after the samples before it.
#[derive(Clone, Debug)]
pub struct XorIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    /// Samples decoded so far (into the buffer, and possibly returned already).
    read: u16,
    /// Decoder state after the last decoded sample.
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    /// The error that stopped decoding (or a header error found by `new`).
    err: Option<ChunkError>,
    /// Set once the end or the error has been returned.
    done: bool,
    /// Decoded samples not yet returned are `buf[head..len]`. Words, not bytes: `next`
    /// stores `head` for every sample, and a later load wider than that store (which the
    /// compiler may make of neighbouring bytes) would stall.
    head: usize,
    len: usize,
    buf: [(i64, u64); BATCH],
}

impl<'a> XorIterator<'a> {
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
            head: 0,
            len: 0,
            buf: [(0, 0); BATCH],
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
        match self.head.checked_sub(1).and_then(|i| self.buf.get(i)) {
            Some(&(t, v)) => (t, f64::from_bits(v)),
            None => (0, 0.0),
        }
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
        while self.head == 0 || self.at().0 < t {
            if let Err(e) = self.next()? {
                return Some(Err(e));
            }
        }
        Some(Ok(self.at()))
    }

    /// Refills the buffer and returns its first sample, or ends the iteration.
    #[inline(never)]
    fn next_slow(&mut self) -> Option<Result<(i64, f64), ChunkError>> {
        if self.done {
            return None;
        }
        if self.err.is_none() && self.read < self.total {
            let n = self.fill(BATCH);
            if n > 0 {
                // An empty fill keeps the drained buffer, so `at` still sees the last sample.
                self.head = 1;
                self.len = n;
                let (t, v) = self.buf[0];
                return Some(Ok((t, f64::from_bits(v))));
            }
        }
        self.done = true;
        self.err.map(Err)
    }

    /// Decodes up to `max` (at most [`BATCH`]) samples into the (drained) buffer, stopping
    /// early at an error, which it records. Returns how many it decoded.
    fn fill(&mut self, max: usize) -> usize {
        let want = usize::from(self.total - self.read).min(max).min(BATCH);
        let mut n = 0;
        // The first two samples have their own forms; the general path decodes them.
        while self.read < 2 && n < want {
            if !self.decode_general(n) {
                return n;
            }
            n += 1;
        }
        let data = self.r.data();
        let mut s = self.fast_state();
        while n < want {
            let k = fast_run::<false>(&mut s, data, &mut self.buf[n..want]);
            n += k;
            self.read += k as u16;
            if n == want {
                break;
            }
            let base = s.pos >> 3;
            let rest = data.get(base..).unwrap_or(&[]);
            if rest.len() < WINDOW {
                // The last bytes: decode from a zero-padded copy, taking only samples that
                // end within the data.
                let mut tail = [0u8; 2 * WINDOW];
                tail[..rest.len()].copy_from_slice(rest);
                s.pos -= base * 8;
                s.end = rest.len() * 8;
                let k = fast_run::<true>(&mut s, &tail, &mut self.buf[n..want]);
                s.pos += base * 8;
                n += k;
                self.read += k as u16;
                if n == want {
                    break;
                }
            }
            // The general path takes this sample, from and back into the struct.
            self.store(&s);
            if !self.decode_general(n) {
                return n;
            }
            n += 1;
            s = self.fast_state();
        }
        self.store(&s);
        n
    }

    /// The decoder's state, for the fast path.
    #[inline(always)]
    fn fast_state(&self) -> FastState {
        let (rsh, trail) = if self.leading == NO_WINDOW {
            (0, 0)
        } else {
            let (lead, trail) = (u32::from(self.leading), u32::from(self.trailing));
            (lead + trail, trail | WINDOW_SET)
        };
        FastState {
            pos: self.r.position(),
            end: usize::MAX,
            t: self.t,
            t_delta: self.t_delta,
            v: self.v,
            rsh,
            trail,
        }
    }

    /// Writes the fast path's state back into the struct.
    #[inline(always)]
    fn store(&mut self, s: &FastState) {
        self.r.set_position(s.pos);
        self.t = s.t;
        self.t_delta = s.t_delta;
        self.v = s.v;
        if s.trail & WINDOW_SET != 0 {
            let trail = s.trail & !WINDOW_SET;
            self.leading = (s.rsh - trail) as u8;
            self.trailing = trail as u8;
        }
    }

    /// Decodes the next sample with the general path into buffer slot `n`. On an error,
    /// records it and returns `false`.
    #[inline(never)]
    fn decode_general(&mut self, n: usize) -> bool {
        match self.decode() {
            Ok(()) => {
                if let Some(slot) = self.buf.get_mut(n) {
                    *slot = (self.t, self.v);
                }
                self.read += 1;
                true
            }
            Err(e) => {
                self.err = Some(e);
                false
            }
        }
    }

    /// Decodes one sample, any form, with every read checked.
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
        // Hot path, small enough to inline into the caller's loop: a buffered sample.
        let i = self.head;
        if i < self.len {
            // `len <= BATCH`, a power of two: the mask keeps the index check away.
            let (t, v) = self.buf[i & (BATCH - 1)];
            self.head = i + 1;
            return Some(Ok((t, f64::from_bits(v))));
        }
        self.next_slow()
    }

    /// Internal iteration (`for_each`, `fold`, `count`...) decodes straight into `f`
    /// where the fast path can, without the buffer, with the decoder's state and `f`'s in
    /// registers together. Always inlined: as a function of its own it would keep the
    /// caller's state behind pointers and store it on every sample.
    #[inline(always)]
    fn fold<B, F>(mut self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Self::Item) -> B,
    {
        let mut acc = init;
        if self.read == 0 && self.err.is_none() && !self.done {
            // Only the first two samples (which have their own forms) through the buffer;
            // the loop below takes the rest.
            self.len = self.fill(2);
            self.head = 0;
        }
        loop {
            while self.head < self.len {
                let (t, v) = self.buf[self.head & (BATCH - 1)];
                self.head += 1;
                acc = f(acc, Ok((t, f64::from_bits(v))));
            }
            if self.read >= 2 && self.err.is_none() {
                let data = self.r.data();
                let mut s = self.fast_state();
                let (mut read, total) = (self.read, self.total);
                while read < total && s.decode::<false>(data) {
                    read += 1;
                    acc = f(acc, Ok((s.t, f64::from_bits(s.v))));
                }
                self.read = read;
                self.store(&s);
            }
            // A chunk's last bytes, 64-bit timestamp forms, anything malformed: through
            // the buffer, a batch at a time.
            match self.next_slow() {
                Some(r) => acc = f(acc, r),
                None => return acc,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        let left = (self.len - self.head) + usize::from(self.total - self.read.min(self.total));
        (0, Some(left.max(usize::from(self.err.is_some()))))
    }
}

impl std::iter::FusedIterator for XorIterator<'_> {}

/// The decoder's state in locals for the fast path. The window is kept as the shifts that
/// place its bits: `rsh` (64 minus its significant bits) and `trail` (its trailing zeros,
/// plus [`WINDOW_SET`] once a window was read); "no window yet" reads as the full 64 bits.
/// Few fields, so that the loop keeps them all in registers.
#[derive(Clone, Copy)]
struct FastState {
    pos: usize,
    /// Samples must end by this bit (checked only on a chunk's zero-padded end).
    end: usize,
    t: i64,
    t_delta: u64,
    v: u64,
    rsh: u32,
    trail: u32,
}

/// Flag in [`FastState::trail`] above the shift's six bits: a window has been read.
const WINDOW_SET: u32 = 64;

/// Decodes samples with the fast path into `out` (as many as fit) until one needs the
/// general path; returns how many it decoded. Out of line so that the state lives in
/// registers for the whole run. `TAIL` runs check that samples end by `state.end`.
#[inline(never)]
fn fast_run<const TAIL: bool>(state: &mut FastState, data: &[u8], out: &mut [(i64, u64)]) -> usize {
    let mut s = *state;
    let mut slots = out.iter_mut();
    let total = slots.len();
    for slot in &mut slots {
        if !s.decode::<TAIL>(data) {
            // Not written: counted as left below.
            *state = s;
            return total - slots.len() - 1;
        }
        *slot = (s.t, s.v);
    }
    *state = s;
    total
}

impl FastState {
    /// Decodes one sample after the second from `data` (the chunk body, or a zero-padded
    /// copy of its end) when it starts at least [`WINDOW`] bytes before the end of `data`
    /// and its timestamp does not use the 64-bit delta-of-delta form. Returns `false`,
    /// changing nothing, when the general path must decode it (also for a malformed
    /// window, or with `TAIL` a sample reaching past `end`, which the general path reports).
    #[inline(always)]
    fn decode<const TAIL: bool>(&mut self, data: &[u8]) -> bool {
        let pos = self.pos;
        let idx = pos >> 3;
        // One bounds check per sample: everything below reads inside these bytes (the
        // sample's timestamp and value head lie in the first 8, its payload in the first 14).
        let Some(win) = data
            .get(idx..idx + WINDOW)
            .and_then(|d| d.first_chunk::<WINDOW>())
        else {
            return false;
        };
        // At least 57 bits of `w` are data.
        let w = be64(win, 0) << (pos & 7);
        if w >> 63 == 0 {
            self.value::<TAIL, 1>(win, w, 0)
        } else if (w >> 62) & 1 == 0 {
            self.value::<TAIL, 16>(win, w, dod_payload::<2, 14>(w))
        } else if (w >> 61) & 1 == 0 {
            self.value::<TAIL, 20>(win, w, dod_payload::<3, 17>(w))
        } else if (w >> 60) & 1 == 0 {
            self.value::<TAIL, 24>(win, w, dod_payload::<4, 20>(w))
        } else {
            false
        }
    }

    /// Decodes the value after a timestamp of `USED` bits with delta-of-delta `dod`; `w` is
    /// the window at the sample's first bit.
    #[inline(always)]
    fn value<const TAIL: bool, const USED: usize>(
        &mut self,
        win: &[u8; WINDOW],
        w: u64,
        dod: i64,
    ) -> bool {
        let pos = self.pos;
        let h = w << USED;
        if h >> 63 == 0 {
            // '0': the same value.
            if TAIL && pos + USED + 1 > self.end {
                return false;
            }
            self.pos = pos + USED + 1;
            self.commit_time(dod);
            return true;
        }
        let (head, rsh, trail) = if (h >> 62) & 1 == 0 {
            // '10': the previous window.
            (2, self.rsh, self.trail)
        } else {
            // '11': a new window.
            let lead = ((h >> 57) & 0x1f) as u32;
            let sig = match ((h >> 51) & 0x3f) as u32 {
                0 => 64,
                m => m,
            };
            if lead + sig > 64 {
                return false;
            }
            (13, 64 - sig, (64 - lead - sig) | WINDOW_SET)
        };
        let at = USED + head;
        let next = pos + at + 64 - rsh as usize;
        if TAIL && next > self.end {
            return false;
        }
        let top = if at + 7 <= rsh as usize {
            // The payload is inside `w` too (57 bits of it are data).
            w << at
        } else {
            // The payload starts at most 37 bits after the sample, so its first byte is at
            // most 5 bytes after the sample's; the mask only shows the compiler that the
            // 9 bytes read stay in `win`.
            let p = pos + at;
            let off = ((p >> 3) - (pos >> 3)) & 7;
            let s = (p & 7) as u32;
            let x = be64(win, off) << s;
            if s <= rsh {
                x
            } else {
                // The rest of the payload is in the next byte.
                x | (u64::from(win[off + 8]) >> (8 - s))
            }
        };
        self.rsh = rsh;
        self.trail = trail;
        // `trail` may carry the flag bit: shifts by it use its low six bits.
        self.v ^= (top >> rsh).wrapping_shl(trail);
        self.pos = next;
        self.commit_time(dod);
        true
    }

    #[inline(always)]
    fn commit_time(&mut self, dod: i64) {
        self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
        self.t = self.t.wrapping_add(self.t_delta as i64);
    }
}

/// The delta-of-delta of a `PLEN`-bit prefix and `SZ`-bit payload at the top of `w`, with
/// Prometheus's range `-(2^(SZ-1) - 1)..=2^(SZ-1)`: the payload minus one, sign-extended,
/// plus one.
#[inline(always)]
fn dod_payload<const PLEN: u32, const SZ: u32>(w: u64) -> i64 {
    ((((w << PLEN).wrapping_sub(1 << (64 - SZ))) as i64) >> (64 - SZ)) + 1
}

/// The big-endian word at `at` of `win` (`at <= 8`).
#[inline(always)]
fn be64(win: &[u8; WINDOW], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&win[at..at + 8]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Steps of a series: the change of the timestamp delta (the delta-of-delta, from a
    /// first delta of 15 s) and how the value moves (0: unchanged, 1: by a small integer,
    /// 2: by a small fraction, 3: to arbitrary bits).
    fn steps() -> impl Strategy<Value = Vec<(i64, u8, u64)>> {
        let edges = [
            8192, -8191, 8193, -8192, 65536, -65535, 65537, 524_288, -524_287,
        ];
        let dod = prop_oneof![
            4 => -20i64..20,
            3 => Just(0i64),
            2 => prop::sample::select(edges.to_vec()),
            2 => -600_000i64..600_000,
            1 => any::<i64>(),
        ];
        prop::collection::vec((dod, 0u8..4, any::<u64>()), 0..300)
    }

    fn series(start: i64, steps: &[(i64, u8, u64)]) -> Vec<(i64, f64)> {
        let (mut t, mut delta, mut v) = (start, 15_000i64, 100.0f64);
        steps
            .iter()
            .map(|&(dod, kind, bits)| {
                delta = delta.wrapping_add(dod);
                t = t.wrapping_add(delta);
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

    /// Decodes `data` with the general path only, sample by sample, as the iterator did
    /// before it had a fast path: the samples, then the error if there is one.
    fn decode_generally(data: &[u8]) -> Vec<Result<(i64, u64), ChunkError>> {
        let mut it = XorIterator::new(data);
        let mut out = Vec::new();
        if let Some(e) = it.err {
            return vec![Err(e)];
        }
        while it.read < it.total {
            match it.decode() {
                Ok(()) => {
                    it.read += 1;
                    out.push(Ok((it.t, it.v)));
                }
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
            }
        }
        out
    }

    /// Decodes with `next` and, separately, with internal iteration (`fold`), and checks
    /// they agree.
    fn decode_fast(data: &[u8]) -> Vec<Result<(i64, u64), ChunkError>> {
        let bits = |r: Result<(i64, f64), ChunkError>| r.map(|(t, v)| (t, v.to_bits()));
        let mut by_next = Vec::new();
        // A `for` loop calls `next`.
        for r in XorIterator::new(data) {
            by_next.push(bits(r));
        }
        let mut by_fold = Vec::new();
        XorIterator::new(data).for_each(|r| by_fold.push(bits(r)));
        assert_eq!(by_next, by_fold, "next and fold disagree");
        by_next
    }

    proptest! {
        /// The iterator's batches and fast path give what the general path gives, samples
        /// and errors alike, on chunks with damage: flipped bits, a cut end, a changed count.
        #[test]
        fn fast_decode_matches_the_general_path(
            start in any::<i64>(),
            steps in steps(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 0..3),
            cut in prop::option::of(any::<prop::sample::Index>()),
            count in prop::option::of(any::<u16>()),
        ) {
            let mut app = XorAppender::new();
            for (t, v) in series(start, &steps) {
                app.append(t, v).unwrap();
            }
            let mut bytes = app.into_bytes();
            prop_assert_eq!(decode_fast(&bytes), decode_generally(&bytes));
            for (at, bit) in flips {
                let i = at.index(bytes.len());
                bytes[i] ^= 1 << bit;
            }
            if let Some(at) = cut {
                bytes.truncate(at.index(bytes.len() + 1));
            }
            if let (Some(n), true) = (count, bytes.len() >= 2) {
                bytes[..2].copy_from_slice(&n.to_be_bytes());
            }
            prop_assert_eq!(decode_fast(&bytes), decode_generally(&bytes));
        }

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
