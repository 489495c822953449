//! Bit streams in the layout Prometheus's chunk encodings use.
//!
//! Bits are appended most-significant first: the first bit written is the top bit of the
//! first byte. [`BitWriter`] reproduces the bytes of Prometheus's `bstream` exactly,
//! including one quirk that shows in chunk sizes: when the last write of a sample ends on a
//! byte boundary *and* was a whole number of bytes long (Prometheus's `writeByte` path), the
//! stream carries one extra, empty byte at its end. A one-sample XOR chunk is therefore 12
//! bytes long, not 11.
//!
//! [`BitReader`] reads such a stream back. It never panics: reading past the end returns
//! [`Eof`], and callers turn that into a [`ChunkError`](crate::ChunkError).
//!
//! The module also holds the two variable-length integer codes the chunks use: Go's
//! `encoding/binary` varints (XOR chunks' first timestamps) and Prometheus's "varbit"
//! codes (everything integer in histogram chunks).

/// Bytes of zeros kept after the stream so that a write can always touch sixteen bytes.
const SLACK: usize = 16;

/// Initial buffer size: a 120-sample XOR chunk of a busy series fits.
const INITIAL: usize = 256;

/// Appends bits to a byte buffer, byte-compatible with Prometheus's `bstream`.
#[derive(Clone, Debug)]
pub struct BitWriter {
    /// The stream, followed by at least [`SLACK`] zero bytes that are not part of it.
    buf: Vec<u8>,
    /// Bits in the stream (including any header bytes).
    bits: usize,
    /// Whether the last write was a whole number of bytes long: then an aligned stream ends
    /// with one empty byte (see the module docs).
    byte_write: bool,
}

impl Default for BitWriter {
    fn default() -> Self {
        BitWriter::new()
    }
}

impl BitWriter {
    /// An empty stream.
    pub fn new() -> BitWriter {
        BitWriter::with_header(&[])
    }

    /// A stream that starts with `header` (for instance the zeroed sample count of a chunk).
    pub fn with_header(header: &[u8]) -> BitWriter {
        // Room for a typical 120-sample chunk, zeroed once.
        let mut buf = vec![0u8; (header.len() + SLACK).max(INITIAL)];
        buf[..header.len()].copy_from_slice(header);
        BitWriter {
            buf,
            bits: header.len() * 8,
            byte_write: false,
        }
    }

    /// Continues a stream of `bits` bits stored in `bytes`, as a writer that produced those
    /// bytes would. `bytes` must be exactly what Prometheus's writer leaves after `bits` bits:
    /// `ceil(bits / 8)` bytes with zero padding bits, or, when `bits` is a multiple of 8, one
    /// more (zero) byte. Returns `None` otherwise.
    pub fn resume(mut bytes: Vec<u8>, bits: usize) -> Option<BitWriter> {
        let full = bits.div_ceil(8);
        let byte_write = match bytes.len() {
            n if n == full => false,
            n if n == full + 1 && bits.is_multiple_of(8) => {
                if bytes[full] != 0 {
                    return None;
                }
                true
            }
            _ => return None,
        };
        if !bits.is_multiple_of(8) {
            let unused = 8 - (bits % 8) as u32;
            if bytes[full - 1] & ((1u8 << unused) - 1) != 0 {
                return None;
            }
        }
        bytes.truncate(full);
        bytes.resize((full + SLACK).max(INITIAL), 0);
        Some(BitWriter {
            buf: bytes,
            bits,
            byte_write,
        })
    }

    /// Bits written so far (header included).
    pub fn bit_len(&self) -> usize {
        self.bits
    }

    /// Length of the stream in bytes, as Prometheus would report it.
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.bits.div_ceil(8) + usize::from(self.byte_write && self.bits.is_multiple_of(8))
    }

    /// The stream's bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.byte_len()]
    }

    /// The stream's bytes, writable (used to update chunk headers in place).
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let n = self.byte_len();
        &mut self.buf[..n]
    }

    /// The stream's bytes, owned.
    pub fn into_bytes(mut self) -> Vec<u8> {
        let n = self.byte_len();
        self.buf.truncate(n);
        self.buf
    }

    #[inline(always)]
    fn reserve_word(&mut self, idx: usize) {
        if idx + SLACK > self.buf.len() {
            self.grow(idx);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, idx: usize) {
        let want = (idx + SLACK).max(self.buf.len() * 2);
        self.buf.resize(want, 0);
    }

    /// Stores `v` big-endian at byte `at` of the stream (for chunk headers; `at + 2` must not
    /// exceed the header written by [`BitWriter::with_header`]).
    #[inline(always)]
    pub(crate) fn set_u16(&mut self, at: usize, v: u16) {
        if let Some(dst) = self.buf.get_mut(at..at + 2) {
            dst.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Appends one bit.
    #[inline(always)]
    pub fn write_bit(&mut self, bit: bool) {
        let idx = self.bits >> 3;
        self.reserve_word(idx);
        if bit {
            self.buf[idx] |= 0x80 >> (self.bits & 7);
        }
        self.bits += 1;
        self.byte_write = false;
    }

    /// Appends the low `n` bits of `value`, most significant first (`n` in 1..=64; other
    /// values of `n` write nothing).
    #[inline]
    pub fn write_bits(&mut self, value: u64, n: u32) {
        self.put(value, n, n);
    }

    /// Appends one byte.
    #[inline]
    pub fn write_byte(&mut self, byte: u8) {
        self.put(u64::from(byte), 8, 8);
    }

    /// Appends the low `n` bits of `value` (1..=64) as if the last Prometheus `writeBits`
    /// call among them had been `last_n` bits long: that decides whether an aligned stream
    /// ends with an empty byte.
    #[inline(always)]
    pub(crate) fn put(&mut self, value: u64, n: u32, last_n: u32) {
        if n == 0 || n > 64 {
            return;
        }
        let v = value << (64 - n);
        let idx = self.bits >> 3;
        let shift = (self.bits & 7) as u32;
        self.reserve_word(idx);
        if let Some(dst) = self.buf.get_mut(idx..idx + 9) {
            // Only the first byte holds bits of the stream (its top `shift`); the rest are
            // zero. Reading just that byte, which the previous write stored whole, lets the
            // CPU forward it from that store instead of waiting for it to reach the cache.
            let (word, spill) = dst.split_at_mut(8);
            let cur = (u64::from(word[0]) << 56) | (v >> shift);
            word.copy_from_slice(&cur.to_be_bytes());
            if shift + n > 64 {
                spill[0] = ((v << (64 - shift)) >> 56) as u8;
            }
        }
        self.bits += n as usize;
        self.byte_write = last_n.is_multiple_of(8);
    }

    /// Appends the low `n` bits of `value` (`n` in 1..=57) with one 8-byte write.
    /// `byte_write` says whether Prometheus's last write among them was a whole number of
    /// bytes (see [`put`](Self::put)).
    #[inline(always)]
    pub(crate) fn put_short(&mut self, value: u64, n: u32, byte_write: bool) {
        let idx = self.bits >> 3;
        let shift = (self.bits & 7) as u32;
        self.reserve_word(idx);
        if let Some(word) = self.buf.get_mut(idx..idx + 8) {
            let cur = (u64::from(word[0]) << 56) | ((value << (64 - n)) >> shift);
            word.copy_from_slice(&cur.to_be_bytes());
        }
        self.bits += n as usize;
        self.byte_write = byte_write;
    }

    /// Appends the low `head_n` bits of `head` (1..=40), then the low `payload_n` bits of
    /// `payload` (1..=64), with one 16-byte write. Prometheus's last write among them is
    /// the payload.
    #[inline(always)]
    pub(crate) fn put_code(&mut self, head: u64, head_n: u32, payload: u64, payload_n: u32) {
        // The code left-aligned in two words; at most 104 bits, so after the stream's last
        // partial byte (at most 7 bits) it still fits 16 bytes.
        let payload_l = payload << (64 - payload_n);
        let hi = (head << (64 - head_n)) | (payload_l >> head_n);
        let lo = payload_l << (64 - head_n);
        let idx = self.bits >> 3;
        let shift = (self.bits & 7) as u32;
        self.reserve_word(idx);
        if let Some(dst) = self.buf.get_mut(idx..idx + 16) {
            // As in `put`: only the first byte holds bits of the stream.
            let (first, second) = dst.split_at_mut(8);
            let cur = (u64::from(first[0]) << 56) | (hi >> shift);
            first.copy_from_slice(&cur.to_be_bytes());
            // `hi << (64 - shift)`, written so that a zero shift gives zero.
            let next = (lo >> shift) | ((hi << 1) << (63 - shift));
            second.copy_from_slice(&next.to_be_bytes());
        }
        self.bits += (head_n + payload_n) as usize;
        self.byte_write = payload_n.is_multiple_of(8);
    }

    /// Writes `v` as a Go `encoding/binary` unsigned varint, in whole-byte writes as
    /// Prometheus does (which decides the trailing empty byte of an aligned stream).
    pub fn write_uvarint(&mut self, mut v: u64) {
        // The bytes gathered into words, then written a word at a time (as whole-byte
        // writes, as Prometheus's `writeByte` calls are).
        let (mut word, mut n) = (0u64, 0u32);
        while v >= 0x80 {
            word = (word << 8) | u64::from(v as u8 | 0x80);
            n += 8;
            v >>= 7;
            if n == 64 {
                self.put(word, 64, 8);
                (word, n) = (0, 0);
            }
        }
        self.put((word << 8) | (v & 0x7f), n + 8, 8);
    }

    /// Writes `v` as a Go `encoding/binary` signed (zig-zag) varint.
    pub fn write_varint(&mut self, v: i64) {
        let ux = ((v as u64) << 1) ^ ((v >> 63) as u64);
        self.write_uvarint(ux);
    }

    /// Writes `v` in Prometheus's signed varbit code (`putVarbitInt`): a unary prefix of up
    /// to eight bits chooses a payload of 0, 3, 6, 9, 12, 18, 25, 56 or 64 bits.
    #[inline]
    pub fn write_varbit_int(&mut self, v: i64) {
        if v == 0 {
            self.write_bit(false);
            return;
        }
        // (prefix, prefix bits, payload bits) for each bucket; the payload is two's
        // complement truncated to its width, with the asymmetric range -(2^(n-1)-1)..=2^(n-1).
        let (prefix, plen, sz) = if fits_signed(v, 3) {
            (0b10, 2, 3)
        } else if fits_signed(v, 6) {
            (0b110, 3, 6)
        } else if fits_signed(v, 9) {
            (0b1110, 4, 9)
        } else if fits_signed(v, 12) {
            (0b11110, 5, 12)
        } else if fits_signed(v, 18) {
            (0b111110, 6, 18)
        } else if fits_signed(v, 25) {
            (0b1111110, 7, 25)
        } else if fits_signed(v, 56) {
            (0b11111110, 8, 56)
        } else {
            self.write_bits(0xff, 8);
            self.write_bits(v as u64, 64);
            return;
        };
        let payload = (v as u64) & (u64::MAX >> (64 - sz));
        self.put((prefix << sz) | payload, plen + sz, sz);
    }

    /// Writes `v` in Prometheus's unsigned varbit code (`putVarbitUint`), which uses the same
    /// buckets as the signed one.
    #[inline]
    pub fn write_varbit_uint(&mut self, v: u64) {
        if v == 0 {
            self.write_bit(false);
            return;
        }
        let (prefix, plen, sz): (u64, u32, u32) = if v < 1 << 3 {
            (0b10, 2, 3)
        } else if v < 1 << 6 {
            (0b110, 3, 6)
        } else if v < 1 << 9 {
            (0b1110, 4, 9)
        } else if v < 1 << 12 {
            (0b11110, 5, 12)
        } else if v < 1 << 18 {
            (0b111110, 6, 18)
        } else if v < 1 << 25 {
            (0b1111110, 7, 25)
        } else if v < 1 << 56 {
            (0b11111110, 8, 56)
        } else {
            self.write_bits(0xff, 8);
            self.write_bits(v, 64);
            return;
        };
        self.put((prefix << sz) | v, plen + sz, sz);
    }
}

/// Whether `x` is in Prometheus's `bitRange(x, nbits)`: `-(2^(nbits-1) - 1) <= x <= 2^(nbits-1)`.
#[inline]
pub(crate) fn fits_signed(x: i64, nbits: u32) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

/// Sign-extends an `sz`-bit payload the way Prometheus does: values above `2^(sz-1)` are
/// negative.
#[inline]
pub(crate) fn sign_payload(bits: u64, sz: u32) -> i64 {
    if sz < 64 && bits > 1u64 << (sz - 1) {
        bits.wrapping_sub(1u64 << sz) as i64
    } else {
        bits as i64
    }
}

/// The stream ended before the requested bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Eof;

/// Reads bits MSB-first from a byte slice. Never panics; reading past the end is [`Eof`].
#[derive(Clone, Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Bit position of the next read.
    pos: usize,
    /// Bits in `data`.
    end: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader {
            data,
            pos: 0,
            end: data.len().saturating_mul(8),
        }
    }

    /// Bits read so far.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves to bit `pos`, which a caller decoding from [`data`](Self::data) directly has
    /// checked lies within the data.
    #[inline(always)]
    pub(crate) fn set_position(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// The bytes being read.
    #[inline(always)]
    pub(crate) fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Bits left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// The next 64 bits, left-aligned; bits past the end of the data read as zero. At least
    /// 57 of the bits are real data when that much data remains.
    #[inline(always)]
    pub(crate) fn peek(&self) -> u64 {
        let idx = self.pos >> 3;
        let word = match self.data.get(idx..).and_then(|s| s.first_chunk::<8>()) {
            Some(w) => u64::from_be_bytes(*w),
            None => tail_word(self.data, idx),
        };
        word << (self.pos & 7)
    }

    /// Skips `n` bits that the caller has checked are present.
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos += n;
    }

    /// Fails unless `n` more bits are present.
    #[inline(always)]
    pub(crate) fn need(&self, n: usize) -> Result<(), Eof> {
        if self.end - self.pos >= n {
            Ok(())
        } else {
            Err(Eof)
        }
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Result<bool, Eof> {
        self.need(1)?;
        let byte = self.data[self.pos >> 3];
        let bit = byte & (0x80 >> (self.pos & 7)) != 0;
        self.pos += 1;
        Ok(bit)
    }

    /// Reads `n` bits (0..=64) as the low bits of the result.
    #[inline(always)]
    pub fn read_bits(&mut self, n: u32) -> Result<u64, Eof> {
        match n {
            0 => Ok(0),
            1..=57 => {
                self.need(n as usize)?;
                let v = self.peek() >> (64 - n);
                self.pos += n as usize;
                Ok(v)
            }
            58..=64 => {
                self.need(n as usize)?;
                let hi = self.peek() >> 32;
                self.pos += 32;
                let lo = self.peek() >> (64 - (n - 32));
                self.pos += (n - 32) as usize;
                Ok((hi << (n - 32)) | lo)
            }
            _ => Err(Eof),
        }
    }

    /// Reads eight bits.
    #[inline]
    pub fn read_byte(&mut self) -> Result<u8, Eof> {
        self.read_bits(8).map(|b| b as u8)
    }

    /// Reads a Go `encoding/binary` unsigned varint. `Ok(None)` means the varint overflows
    /// 64 bits, which Go reports as an error too.
    pub fn read_uvarint(&mut self) -> Result<Option<u64>, Eof> {
        let mut x = 0u64;
        let mut s = 0u32;
        // The first seven bytes from one window (which holds at least 57 bits).
        let w = self.peek();
        for i in 0..7 {
            if self.remaining() < 8 * (i + 1) {
                return Err(Eof);
            }
            let b = (w >> (56 - 8 * i)) as u8;
            if b < 0x80 {
                self.pos += 8 * (i + 1);
                return Ok(Some(x | (u64::from(b) << s)));
            }
            x |= u64::from(b & 0x7f) << s;
            s += 7;
        }
        self.pos += 56;
        for i in 7..10 {
            let b = self.read_byte()?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Ok(None);
                }
                return Ok(Some(x | (u64::from(b) << s)));
            }
            x |= u64::from(b & 0x7f) << s;
            s += 7;
        }
        Ok(None)
    }

    /// Reads a Go `encoding/binary` signed varint (`Ok(None)` on overflow).
    pub fn read_varint(&mut self) -> Result<Option<i64>, Eof> {
        Ok(self.read_uvarint()?.map(|ux| {
            let x = (ux >> 1) as i64;
            if ux & 1 != 0 { !x } else { x }
        }))
    }

    /// Reads the unary prefix of a varbit code and returns the payload width.
    #[inline]
    fn varbit_width(&mut self) -> Result<u32, Eof> {
        let w = self.peek();
        let ones = (!w).leading_zeros().min(8);
        let plen = if ones == 8 { 8 } else { ones + 1 };
        self.need(plen as usize)?;
        self.pos += plen as usize;
        Ok(VARBIT_WIDTHS[ones as usize])
    }

    /// Reads a signed varbit integer (`readVarbitInt`).
    #[inline]
    pub fn read_varbit_int(&mut self) -> Result<i64, Eof> {
        let sz = self.varbit_width()?;
        if sz == 0 {
            return Ok(0);
        }
        let bits = self.read_bits(sz)?;
        Ok(sign_payload(bits, sz))
    }

    /// Reads an unsigned varbit integer (`readVarbitUint`).
    #[inline]
    pub fn read_varbit_uint(&mut self) -> Result<u64, Eof> {
        let sz = self.varbit_width()?;
        self.read_bits(sz)
    }
}

/// The last bytes of `data` from `idx`, zero-padded to a big-endian word.
#[cold]
#[inline(never)]
fn tail_word(data: &[u8], idx: usize) -> u64 {
    let mut w = [0u8; 8];
    let tail = data.get(idx..).unwrap_or(&[]);
    let n = tail.len().min(8);
    w[..n].copy_from_slice(&tail[..n]);
    u64::from_be_bytes(w)
}

/// Payload widths of the varbit codes, by the number of leading one bits in the prefix.
const VARBIT_WIDTHS: [u32; 9] = [0, 3, 6, 9, 12, 18, 25, 56, 64];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_matches_prometheus_padding() {
        // writeByte on an aligned stream leaves an empty trailing byte.
        let mut w = BitWriter::with_header(&[0, 0]);
        w.write_byte(0xab);
        assert_eq!(w.bytes(), &[0, 0, 0xab, 0]);
        w.write_bit(true);
        assert_eq!(w.bytes(), &[0, 0, 0xab, 0x80]);
        w.write_bits(0b1111111, 7);
        assert_eq!(w.bytes(), &[0, 0, 0xab, 0xff]);
        w.write_bits(0x1234, 16);
        assert_eq!(w.bytes(), &[0, 0, 0xab, 0xff, 0x12, 0x34, 0]);
        w.write_bits(0b101, 3);
        w.write_bits(0xffff, 16);
        assert_eq!(w.bytes(), &[0, 0, 0xab, 0xff, 0x12, 0x34, 0xbf, 0xff, 0xe0]);
    }

    #[test]
    fn reader_reads_back_and_stops_at_end() {
        let mut w = BitWriter::new();
        let vals: Vec<(u64, u32)> = (1..=64)
            .map(|n| (0x9e37_79b9_7f4a_7c15 >> (64 - n), n))
            .collect();
        for &(v, n) in &vals {
            w.write_bits(v, n);
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for &(v, n) in &vals {
            assert_eq!(r.read_bits(n), Ok(v), "n={n}");
        }
        while r.remaining() > 0 {
            r.read_bit().unwrap();
        }
        assert_eq!(r.read_bit(), Err(Eof));
        assert_eq!(r.read_bits(64), Err(Eof));
    }

    #[test]
    fn uvarints_are_written_as_their_bytes() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            (1 << 56) - 1,
            1 << 56,
            1 << 63,
            u64::MAX,
        ] {
            for lead in [0u32, 3] {
                let (mut fast, mut bytewise) = (BitWriter::new(), BitWriter::new());
                fast.write_bits(0, lead);
                bytewise.write_bits(0, lead);
                fast.write_uvarint(v);
                let mut x = v;
                while x >= 0x80 {
                    bytewise.write_byte(x as u8 | 0x80);
                    x >>= 7;
                }
                bytewise.write_byte(x as u8);
                assert_eq!(fast.bytes(), bytewise.bytes(), "{v} after {lead} bits");
                let mut r = BitReader::new(fast.bytes());
                r.read_bits(lead).unwrap();
                assert_eq!(r.read_uvarint(), Ok(Some(v)));
                // Cut anywhere inside, the varint is missing bytes.
                let bits = fast.bit_len();
                for cut in (lead as usize..bits).step_by(8) {
                    let mut r = BitReader::new(&fast.bytes()[..cut.div_ceil(8)]);
                    r.read_bits(lead).unwrap();
                    let whole = cut.div_ceil(8) * 8 >= bits;
                    assert_eq!(r.read_uvarint().is_err(), !whole, "{v} cut at bit {cut}");
                }
            }
        }
    }

    #[test]
    fn varbit_round_trip_at_bucket_edges() {
        let mut ints = vec![0i64, i64::MIN, i64::MAX, -1, 1];
        let mut uints = vec![0u64, u64::MAX, 1];
        for n in [3u32, 6, 9, 12, 18, 25, 56] {
            let half = 1i64 << (n - 1);
            ints.extend([half, half + 1, -(half - 1), -half]);
            uints.extend([(1u64 << n) - 1, 1u64 << n]);
        }
        let mut w = BitWriter::new();
        for &i in &ints {
            w.write_varbit_int(i);
        }
        for &u in &uints {
            w.write_varbit_uint(u);
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for &i in &ints {
            assert_eq!(r.read_varbit_int(), Ok(i));
        }
        for &u in &uints {
            assert_eq!(r.read_varbit_uint(), Ok(u));
        }
    }

    #[test]
    fn varbit_sizes_follow_prometheus_buckets() {
        let size = |v: i64| {
            let mut w = BitWriter::new();
            w.write_varbit_int(v);
            w.bit_len()
        };
        assert_eq!(size(0), 1);
        assert_eq!(size(4), 5);
        assert_eq!(size(-3), 5);
        assert_eq!(size(-4), 9);
        assert_eq!(size(32), 9);
        assert_eq!(size(33), 13);
        assert_eq!(size(2048), 17);
        assert_eq!(size(131_072), 24);
        assert_eq!(size(16_777_216), 32);
        assert_eq!(size(1 << 55), 64);
        assert_eq!(size((1 << 55) + 1), 72);
    }

    #[test]
    fn resume_checks_padding() {
        assert!(BitWriter::resume(vec![0xff, 0x80], 9).is_some());
        assert!(BitWriter::resume(vec![0xff, 0xc0], 9).is_none());
        assert!(BitWriter::resume(vec![0xff, 0x00], 8).is_some());
        assert!(BitWriter::resume(vec![0xff, 0x01], 8).is_none());
        assert!(BitWriter::resume(vec![0xff, 0, 0], 8).is_none());
        let mut w = BitWriter::resume(vec![0xff, 0x00], 8).unwrap();
        assert_eq!(w.bytes(), &[0xff, 0]);
        w.write_bit(true);
        assert_eq!(w.bytes(), &[0xff, 0x80]);
    }
}
