//! Byte encoding helpers shared by the on-disk formats (Prometheus's `tsdb/encoding`):
//! big-endian fixed-width integers, Go-style varints, and length-prefixed strings. Every
//! decoder checks bounds and reports what it was reading instead of panicking.

/// A decode failure: what was being read and at which byte offset of the buffer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset}")]
pub struct DecodeError {
    /// What the decoder was reading or what it found wrong.
    pub what: &'static str,
    /// Offset within the buffer being decoded.
    pub offset: usize,
}

/// Appends encoded values to a byte vector.
#[derive(Debug, Default)]
pub struct Encbuf {
    /// The bytes so far.
    pub b: Vec<u8>,
}

impl Encbuf {
    /// An encoder appending to `b` (its contents are kept).
    pub fn new(b: Vec<u8>) -> Self {
        Encbuf { b }
    }

    /// One byte.
    pub fn put_byte(&mut self, v: u8) {
        self.b.push(v);
    }

    /// Big-endian u32.
    pub fn put_be32(&mut self, v: u32) {
        self.b.extend_from_slice(&v.to_be_bytes());
    }

    /// Big-endian u64.
    pub fn put_be64(&mut self, v: u64) {
        self.b.extend_from_slice(&v.to_be_bytes());
    }

    /// Big-endian i64 (two's complement).
    pub fn put_be64_i64(&mut self, v: i64) {
        self.put_be64(v as u64);
    }

    /// A float's bits, big-endian.
    pub fn put_be_f64(&mut self, v: f64) {
        self.put_be64(v.to_bits());
    }

    /// Unsigned LEB128 varint (Go's `binary.PutUvarint`).
    pub fn put_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.b.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.b.push(v as u8);
    }

    /// Zig-zag signed varint (Go's `binary.PutVarint`).
    pub fn put_varint(&mut self, v: i64) {
        self.put_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// A string preceded by its byte length as a uvarint.
    pub fn put_uvarint_str(&mut self, s: &str) {
        self.put_uvarint(s.len() as u64);
        self.b.extend_from_slice(s.as_bytes());
    }
}

/// Reads encoded values from a byte slice, front to back.
#[derive(Clone, Copy, Debug)]
pub struct Decbuf<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Decbuf<'a> {
    /// A decoder over `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Decbuf { b, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    /// Current offset.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError {
            what,
            offset: self.pos,
        }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.err(what));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// One byte.
    pub fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.bytes(1, what)?[0])
    }

    /// Big-endian u32.
    pub fn be32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Big-endian u64.
    pub fn be64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Big-endian i64.
    pub fn be64_i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(self.be64(what)? as i64)
    }

    /// A float from big-endian bits.
    pub fn be_f64(&mut self, what: &'static str) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.be64(what)?))
    }

    /// Unsigned varint; at most 10 bytes, the last one at most 1.
    pub fn uvarint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        let mut shift = 0;
        for i in 0..10 {
            let Some(&c) = self.b.get(self.pos + i) else {
                return Err(self.err(what));
            };
            if i == 9 && c > 1 {
                return Err(self.err(what));
            }
            v |= u64::from(c & 0x7f) << shift;
            if c < 0x80 {
                self.pos += i + 1;
                return Ok(v);
            }
            shift += 7;
        }
        Err(self.err(what))
    }

    /// Zig-zag signed varint.
    pub fn varint(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let u = self.uvarint(what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A uvarint that must fit `usize` and not exceed the remaining bytes times `unit`
    /// (a cheap guard against absurd counts in corrupt input).
    pub fn count(&mut self, unit: usize, what: &'static str) -> Result<usize, DecodeError> {
        let n = self.uvarint(what)?;
        let max = self.remaining() / unit.max(1);
        if n > max as u64 {
            return Err(self.err(what));
        }
        Ok(n as usize)
    }

    /// A uvarint-length-prefixed UTF-8 string.
    pub fn uvarint_str(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        let n = self.count(1, what)?;
        let start = self.pos;
        let b = self.bytes(n, what)?;
        std::str::from_utf8(b).map_err(|_| DecodeError {
            what,
            offset: start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_go() {
        let mut e = Encbuf::default();
        e.put_uvarint(300);
        e.put_varint(-1);
        e.put_varint(1);
        e.put_varint(i64::MIN);
        assert_eq!(&e.b[..5], &[0xac, 0x02, 0x01, 0x02, 0xff]);
        let mut d = Decbuf::new(&e.b);
        assert_eq!(d.uvarint("x").unwrap(), 300);
        assert_eq!(d.varint("x").unwrap(), -1);
        assert_eq!(d.varint("x").unwrap(), 1);
        assert_eq!(d.varint("x").unwrap(), i64::MIN);
        assert_eq!(d.remaining(), 0);
        assert!(d.uvarint("x").is_err());
        assert!(Decbuf::new(&[0xff; 11]).uvarint("x").is_err());
    }
}
