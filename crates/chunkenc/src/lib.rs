//! Bit-exact Prometheus TSDB chunk codecs: the storage engine's innermost hot path.
//!
//! This crate encodes and decodes the chunks Prometheus stores in its blocks, byte for byte
//! as Prometheus writes them:
//!
//! - **XOR float chunks** ([`XorAppender`], [`XorIterator`]): Prometheus's Gorilla variant,
//!   delta-of-delta timestamps and XOR-compressed values.
//! - **Native histogram chunks**, integer and float ([`histogram`]): the layout block, the
//!   varbit codes, the counter-reset header, and the appenders' decisions about when a
//!   histogram needs a new chunk or a re-encoded one.
//! - **Chunk segment files** (`chunks/000001` in a block, [`segment`]): header, length-prefixed
//!   chunks and their CRC-32C checksums ([`crc32c()`], implemented here).
//! - The **bit stream** both chunk kinds are built on ([`bstream`]).
//!
//! It is *not* a TSDB: it does no I/O, keeps no index, WAL or head, and decides nothing
//! about when to cut chunks by size or time (Prometheus's head aims for
//! [`SAMPLES_PER_CHUNK`] samples; that policy belongs to the caller). It does not read the
//! head's `chunks_head` files, whose chunk framing differs. It depends on nothing but `std`
//! (`narthex-model`'s histogram types are mirrored in [`histogram`] with the same field
//! names), contains no `unsafe`, and never panics on untrusted bytes.
//!
//! # Example
//!
//! ```
//! use narthex_chunkenc::{XorAppender, XorIterator};
//!
//! // Encode a few samples (timestamps in milliseconds).
//! let mut app = XorAppender::new();
//! for (t, v) in [(1_000, 1.0), (16_000, 2.5), (31_000, 2.5), (46_002, -7.25)] {
//!     app.append(t, v)?;
//! }
//! let bytes = app.bytes().to_vec(); // what Prometheus would store for these samples
//! assert_eq!(&bytes[..2], &[0, 4]); // big-endian sample count
//!
//! // Iterate them back.
//! let samples: Vec<(i64, f64)> = XorIterator::new(&bytes).collect::<Result<_, _>>()?;
//! assert_eq!(samples, [(1_000, 1.0), (16_000, 2.5), (31_000, 2.5), (46_002, -7.25)]);
//!
//! // Seek to the first sample at or after a timestamp.
//! let mut it = XorIterator::new(&bytes);
//! assert_eq!(it.seek(20_000).transpose()?, Some((31_000, 2.5)));
//!
//! // Continue an existing chunk: same bytes as appending everything in one go.
//! let mut more = XorAppender::from_chunk(bytes)?;
//! more.append(61_000, 0.0)?;
//! assert_eq!(more.num_samples(), 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design decisions
//!
//! - **Values are raw bits.** Every NaN payload (Prometheus's stale marker
//!   `0x7ff0000000000002` included), `-0.0`, infinities and subnormals round-trip exactly.
//! - **Timestamp arithmetic wraps like Go's `int64`.** The XOR encoder, like Prometheus's,
//!   accepts equal and decreasing timestamps (the delta-of-delta is zero or negative) and any
//!   `i64`; ordering is the caller's business.
//! - **The bytes are Prometheus's bytes**, down to the empty trailing byte Prometheus's
//!   `bstream` leaves when a sample's last write is a whole, aligned byte (a one-sample XOR
//!   chunk is 12 bytes). Appenders own their chunk's bytes; [`XorAppender::bytes`] is what goes
//!   into a segment file.
//! - **Continuing a chunk** (`from_chunk`) decodes it to recover the encoder's state, and then
//!   produces the same bytes as appending all samples in one go. (Prometheus's own
//!   `Appender()` differs in one corner: on a chunk whose XOR values never changed it resumes
//!   with a zero-width window and encodes the next change less tightly; both decode alike.)
//! - **Fast paths, checked against the general ones.** [`XorIterator`] decodes 32 samples at
//!   a time into a buffer inside the iterator, from an out-of-line loop that keeps the
//!   decoder's state in registers; internal iteration (`for_each`, `fold`) decodes straight
//!   into the caller's closure and is the quickest way through a whole chunk.
//!   [`XorAppender`] writes a sample's codes with one store of at most 16 bytes, and never
//!   reads back bytes it has just stored (a read that only partly overlaps a store waits for
//!   it to reach the cache). The first samples of a chunk, rare forms and anything malformed
//!   take the general, fully checked path; property tests hold both paths to the same bytes,
//!   samples and errors. No `unsafe` anywhere.
//! - **Histogram appenders decide like Prometheus's**: a histogram that brings new buckets
//!   re-encodes the chunk ([`histogram::HistogramAppend::Recoded`]); one that lacks empty
//!   buckets is widened; a counter reset, schema or zero-threshold change, a stale marker
//!   followed by a sample, or a gauge/counter switch starts a new chunk
//!   ([`histogram::HistogramAppend::Cut`]) with the counter-reset header Prometheus would set.
//!
//! # Compatibility evidence
//!
//! The integration tests decode every chunk of Prometheus's own `index_format_v1` test block
//! and re-encode it byte for byte; run Debian's `promtool tsdb create-blocks-from
//! openmetrics` on generated series (counters, decimal gauges, constants, random floats,
//! every delta-of-delta bucket, NaN, ±Inf, -0, subnormals) and require our encoder to
//! reproduce every chunk Prometheus wrote; and check histogram chunks against golden bytes
//! derived field by field from Prometheus's encoding.
//!
//! # Limits
//!
//! - A chunk holds at most 65,535 samples (its count is 16 bits); appenders refuse or cut
//!   beyond that.
//! - Histogram chunks with schemas 9 to 52 (reserved by Prometheus for future use) decode as
//!   stored; Prometheus reduces them to schema 8 when reading. Unknown schemas are errors.
//! - Custom bucket bounds are stored as Prometheus stores them: `-0.0` comes back as `0.0`.

pub mod bstream;
mod crc32c;
mod error;
pub mod histogram;
pub mod segment;
mod xor;

pub use crate::crc32c::{crc32c, crc32c_append};
pub use crate::error::{ChunkError, ChunkFull};
pub use crate::xor::{SAMPLES_PER_CHUNK, XorAppender, XorIterator};

/// How a chunk's bytes are encoded: the byte Prometheus stores before each chunk in a
/// segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// No encoding (never written to segment files).
    None = 0,
    /// XOR float chunks ([`XorAppender`], [`XorIterator`]).
    Xor = 1,
    /// Native histograms with integer counts ([`histogram::HistogramAppender`]).
    Histogram = 2,
    /// Native histograms with float counts ([`histogram::FloatHistogramAppender`]).
    FloatHistogram = 3,
}

impl Encoding {
    /// The encoding for a stored byte, or `None` for bytes Prometheus does not define.
    pub fn from_u8(b: u8) -> Option<Encoding> {
        match b {
            0 => Some(Encoding::None),
            1 => Some(Encoding::Xor),
            2 => Some(Encoding::Histogram),
            3 => Some(Encoding::FloatHistogram),
            _ => None,
        }
    }

    /// The stored byte.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Prometheus's name for the encoding (`none`, `XOR`, `histogram`, `floathistogram`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::None => "none",
            Encoding::Xor => "XOR",
            Encoding::Histogram => "histogram",
            Encoding::FloatHistogram => "floathistogram",
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
