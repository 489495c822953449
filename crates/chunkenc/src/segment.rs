//! Chunk segment files: `chunks/000001`, `chunks/000002`, … in a Prometheus block.
//!
//! ```text
//! segment header  magic 0x85BD40DD (u32 big-endian), format version 1 (u8), 3 zero bytes
//! each chunk      data length (Go uvarint, at most 5 bytes), encoding (u8), data,
//!                 CRC-32C of encoding byte and data (u32 big-endian)
//! ```
//!
//! A chunk's offset is where its length field starts, counted from the start of the file
//! (header included); the block index refers to a chunk as `segment_number << 32 | offset`.
//!
//! This module works on byte slices (no I/O): read or map the file, then iterate with
//! [`SegmentReader`] or look chunks up by offset with [`chunk_at`]. Corruption comes back
//! as a [`SegmentError`] that names the offset.

use std::fmt;

use crate::Encoding;
use crate::crc32c::{crc32c, crc32c_append};

/// Magic number at the start of every chunk segment file.
pub const SEGMENT_MAGIC: u32 = 0x85BD_40DD;
/// The segment format version this module reads and writes.
pub const SEGMENT_FORMAT_V1: u8 = 1;
/// Size of the segment header: magic, version, three bytes of padding.
pub const SEGMENT_HEADER_LEN: usize = 8;
/// Longest chunk length field Prometheus accepts (`binary.MaxVarintLen32`).
pub const MAX_CHUNK_LEN_FIELD: usize = 5;

/// One chunk in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentChunk<'a> {
    /// Offset of the chunk's length field from the start of the segment.
    pub offset: usize,
    /// The stored encoding byte (see [`SegmentChunk::encoding`]).
    pub encoding_byte: u8,
    /// The chunk's bytes, to be decoded according to the encoding.
    pub data: &'a [u8],
}

impl SegmentChunk<'_> {
    /// The encoding, or `None` for a byte Prometheus does not define.
    pub fn encoding(&self) -> Option<Encoding> {
        Encoding::from_u8(self.encoding_byte)
    }

    /// Offset just past this chunk (its checksum included): where the next chunk starts.
    pub fn end(&self) -> usize {
        self.offset + uvarint_len(self.data.len() as u64) + 1 + self.data.len() + 4
    }
}

/// What is wrong with a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentError {
    /// Fewer bytes than the segment header.
    ShortHeader {
        /// Bytes present.
        len: usize,
    },
    /// The file does not start with [`SEGMENT_MAGIC`].
    BadMagic {
        /// The first four bytes, big-endian.
        found: u32,
    },
    /// A format version other than 1.
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// A chunk offset that points into the header or past the end of the segment.
    OffsetOutOfRange {
        /// The offset asked for.
        offset: usize,
        /// Size of the segment.
        len: usize,
    },
    /// The chunk's length field is not a valid uvarint of at most 5 bytes.
    BadLength {
        /// Offset of the chunk.
        offset: usize,
    },
    /// The chunk claims more bytes than the segment has left.
    Truncated {
        /// Offset of the chunk.
        offset: usize,
        /// Bytes the chunk needs from its offset (length field to checksum).
        needed: usize,
        /// Bytes left in the segment from its offset.
        available: usize,
    },
    /// The checksum does not match the encoding byte and data.
    Checksum {
        /// Offset of the chunk.
        offset: usize,
        /// Checksum stored after the chunk.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SegmentError::ShortHeader { len } => {
                write!(
                    f,
                    "segment of {len} bytes is shorter than its 8-byte header"
                )
            }
            SegmentError::BadMagic { found } => {
                write!(
                    f,
                    "segment magic is {found:#010x}, want {SEGMENT_MAGIC:#010x}"
                )
            }
            SegmentError::UnsupportedVersion { version } => {
                write!(f, "unsupported chunk segment format version {version}")
            }
            SegmentError::OffsetOutOfRange { offset, len } => {
                write!(f, "chunk offset {offset} is outside the segment (0..{len})")
            }
            SegmentError::BadLength { offset } => {
                write!(f, "chunk at offset {offset}: invalid length field")
            }
            SegmentError::Truncated {
                offset,
                needed,
                available,
            } => write!(
                f,
                "chunk at offset {offset}: needs {needed} bytes, segment has {available} left"
            ),
            SegmentError::Checksum {
                offset,
                stored,
                computed,
            } => write!(
                f,
                "chunk at offset {offset}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
        }
    }
}

impl std::error::Error for SegmentError {}

/// Checks the segment header and returns the format version (always 1).
pub fn check_header(segment: &[u8]) -> Result<u8, SegmentError> {
    let Some(head) = segment.first_chunk::<SEGMENT_HEADER_LEN>() else {
        return Err(SegmentError::ShortHeader { len: segment.len() });
    };
    let magic = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if magic != SEGMENT_MAGIC {
        return Err(SegmentError::BadMagic { found: magic });
    }
    if head[4] != SEGMENT_FORMAT_V1 {
        return Err(SegmentError::UnsupportedVersion { version: head[4] });
    }
    Ok(head[4])
}

/// Reads the chunk at `offset` (as found in a chunk reference) and verifies its checksum.
/// The segment header is not checked here; see [`check_header`].
pub fn chunk_at(segment: &[u8], offset: usize) -> Result<SegmentChunk<'_>, SegmentError> {
    if offset < SEGMENT_HEADER_LEN || offset >= segment.len() {
        return Err(SegmentError::OffsetOutOfRange {
            offset,
            len: segment.len(),
        });
    }
    let rest = &segment[offset..];
    let (len, n) = read_len(rest).ok_or(SegmentError::BadLength { offset })?;
    let available = rest.len();
    let needed = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(n + 1 + 4))
        .ok_or(SegmentError::Truncated {
            offset,
            needed: usize::MAX,
            available,
        })?;
    if needed > available {
        return Err(SegmentError::Truncated {
            offset,
            needed,
            available,
        });
    }
    let body = &rest[n..needed - 4];
    let sum = &rest[needed - 4..needed];
    let stored = u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]]);
    let computed = crc32c(body);
    if stored != computed {
        return Err(SegmentError::Checksum {
            offset,
            stored,
            computed,
        });
    }
    Ok(SegmentChunk {
        offset,
        encoding_byte: body[0],
        data: &body[1..],
    })
}

/// Reads a uvarint of at most [`MAX_CHUNK_LEN_FIELD`] bytes that fits 32 bits, the way
/// Prometheus reads chunk lengths. Returns the value and its length.
fn read_len(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, &byte) in b.iter().take(MAX_CHUNK_LEN_FIELD).enumerate() {
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return (x <= u64::from(u32::MAX)).then_some((x, i + 1));
        }
    }
    None
}

fn uvarint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Iterates over every chunk of a segment in file order, checking the header first and
/// every checksum. After an error it stops.
#[derive(Clone, Debug)]
pub struct SegmentReader<'a> {
    segment: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> SegmentReader<'a> {
    /// A reader over the whole segment file `segment`.
    pub fn new(segment: &'a [u8]) -> SegmentReader<'a> {
        SegmentReader {
            segment,
            pos: 0,
            done: false,
        }
    }

    /// Offset of the next chunk to read.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for SegmentReader<'a> {
    type Item = Result<SegmentChunk<'a>, SegmentError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.pos == 0 {
            if let Err(e) = check_header(self.segment) {
                self.done = true;
                return Some(Err(e));
            }
            self.pos = SEGMENT_HEADER_LEN;
        }
        if self.pos >= self.segment.len() {
            self.done = true;
            return None;
        }
        match chunk_at(self.segment, self.pos) {
            Ok(c) => {
                self.pos = c.end();
                Some(Ok(c))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for SegmentReader<'_> {}

/// Builds a segment file in memory, for tests, tools and the block writer.
#[derive(Clone, Debug)]
pub struct SegmentWriter {
    buf: Vec<u8>,
}

impl Default for SegmentWriter {
    fn default() -> Self {
        SegmentWriter::new()
    }
}

impl SegmentWriter {
    /// A segment holding only its header.
    pub fn new() -> SegmentWriter {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(&SEGMENT_MAGIC.to_be_bytes());
        buf.extend_from_slice(&[SEGMENT_FORMAT_V1, 0, 0, 0]);
        SegmentWriter { buf }
    }

    /// Appends a chunk and returns its offset. `data` must be shorter than 4 GiB.
    pub fn push(&mut self, encoding: Encoding, data: &[u8]) -> usize {
        let offset = self.buf.len();
        let mut len = data.len() as u64;
        while len >= 0x80 {
            self.buf.push(len as u8 | 0x80);
            len >>= 7;
        }
        self.buf.push(len as u8);
        self.buf.push(encoding.as_u8());
        self.buf.extend_from_slice(data);
        let sum = crc32c_append(crc32c(&[encoding.as_u8()]), data);
        self.buf.extend_from_slice(&sum.to_be_bytes());
        offset
    }

    /// Bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished segment.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}
