//! Error types. The crate is std-only, so `Display` and `Error` are written by hand.

use std::fmt;

/// Why chunk bytes could not be decoded (or continued).
///
/// Decoders never panic on untrusted bytes; every malformed input ends in one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkError {
    /// The chunk is shorter than its fixed header (2 bytes for XOR, 3 for histograms).
    ShortHeader {
        /// Bytes present.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// The data ended before every sample the header announces was read.
    Truncated {
        /// Zero-based index of the sample being decoded.
        sample: u16,
    },
    /// A varint (XOR chunks' first two timestamps) is longer than 10 bytes or overflows 64 bits.
    VarintOverflow {
        /// Zero-based index of the sample being decoded.
        sample: u16,
    },
    /// An XOR value announces more significant bits than fit next to its leading zeros.
    InvalidXorWindow {
        /// Zero-based index of the sample being decoded.
        sample: u16,
        /// Leading zero bits read.
        leading: u8,
        /// Significant bits read.
        significant: u8,
    },
    /// A histogram chunk names a schema Prometheus does not know.
    UnknownSchema(i32),
    /// A histogram layout announces more spans, buckets or custom bounds than the rest of the
    /// chunk could possibly encode.
    LayoutTooLarge,
    /// Appending to an existing chunk: the bytes after the last sample are not what a
    /// Prometheus writer leaves there (at most one partial byte of zero bits, or one zero byte).
    TrailingData {
        /// Bytes a writer would have produced for the samples in the chunk.
        expected_len: usize,
        /// Bytes present.
        actual_len: usize,
    },
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ChunkError::ShortHeader { len, needed } => {
                write!(
                    f,
                    "chunk of {len} bytes is shorter than its {needed}-byte header"
                )
            }
            ChunkError::Truncated { sample } => {
                write!(f, "chunk data ends inside sample {sample}")
            }
            ChunkError::VarintOverflow { sample } => {
                write!(f, "varint overflows 64 bits in sample {sample}")
            }
            ChunkError::InvalidXorWindow {
                sample,
                leading,
                significant,
            } => write!(
                f,
                "invalid XOR window in sample {sample}: {leading} leading zeros and {significant} significant bits"
            ),
            ChunkError::UnknownSchema(s) => write!(f, "unknown histogram schema {s}"),
            ChunkError::LayoutTooLarge => {
                f.write_str("histogram layout is larger than the chunk could hold")
            }
            ChunkError::TrailingData {
                expected_len,
                actual_len,
            } => write!(
                f,
                "chunk has {actual_len} bytes where its samples take {expected_len}: cannot append"
            ),
        }
    }
}

impl std::error::Error for ChunkError {}

/// The chunk already holds the most samples its 16-bit header can count (65,535).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkFull;

impl fmt::Display for ChunkFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("chunk holds 65535 samples, the most its header can count")
    }
}

impl std::error::Error for ChunkFull {}
