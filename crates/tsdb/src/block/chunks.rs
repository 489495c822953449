//! A block's `chunks/` directory, in Prometheus's layout (`tsdb/docs/format/chunks.md`).
//!
//! The directory holds segment files named `000001`, `000002`, ... Each begins with an
//! 8-byte header: the magic number `0x85BD40DD` (big-endian), the format version `1` and
//! three zero bytes. Chunks follow back to back, each laid out as
//!
//! ```text
//! ┌───────────────┬──────────────┬────────────┬────────────────────────────┐
//! │ len <uvarint> │ encoding <1> │ data <len> │ CRC-32C(encoding, data) <4> │
//! └───────────────┴──────────────┴────────────┴────────────────────────────┘
//! ```
//!
//! with the checksum (Castagnoli polynomial) stored big-endian. A chunk never spans two
//! files. A chunk is addressed by a 64-bit reference: the file's position in the directory
//! (0 for `000001`, as Prometheus counts) in the upper 32 bits and the byte offset of the
//! chunk's length field in the lower 32.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{BlockError, MmapFile};
use crate::encoding::{Decbuf, Encbuf};

/// Magic number at the start of every chunk segment file.
pub const MAGIC: u32 = 0x85BD_40DD;
/// The chunk segment format version written and accepted.
pub const VERSION: u8 = 1;
/// Size of a segment file's header: magic, version, padding.
pub const HEADER_SIZE: u64 = 8;
/// Largest segment file the writer produces unless told otherwise (Prometheus's
/// `DefaultChunkSegmentSize`).
pub const DEFAULT_SEGMENT_SIZE: u64 = 512 * 1024 * 1024;

/// Bytes reserved for a chunk's length field when deciding whether a chunk still fits a
/// segment (`binary.MaxVarintLen32`, as Prometheus reserves).
const MAX_LEN_FIELD: u64 = 5;
/// Encoding byte plus checksum.
const ENC_AND_CRC: u64 = 1 + 4;

/// The name of segment file number `n` (1-based).
fn segment_name(n: u64) -> String {
    format!("{n:06}")
}

/// Writes a block's chunk segment files.
///
/// Chunks are appended through a buffered writer; a new segment starts when the next chunk
/// would make the current one exceed the segment size (a chunk larger than a whole segment
/// still gets a file of its own). Nothing is durable until [`ChunkWriter::finish`].
#[derive(Debug)]
pub struct ChunkWriter {
    dir: PathBuf,
    segment_size: u64,
    /// The open segment: its 0-based sequence number, writer and current size.
    tail: Option<(u64, BufWriter<File>, u64)>,
    /// Segments already finished (flushed and synced).
    done: u64,
    /// Bytes written to all segments so far.
    written: u64,
    buf: Vec<u8>,
}

impl ChunkWriter {
    /// A writer into `dir` (created with its parents if missing) with the default segment
    /// size.
    pub fn create(dir: &Path) -> Result<ChunkWriter, BlockError> {
        Self::with_segment_size(dir, DEFAULT_SEGMENT_SIZE)
    }

    /// A writer into `dir` (created if missing) that starts a new segment file before one
    /// would grow past `size` bytes. A `size` of zero means [`DEFAULT_SEGMENT_SIZE`], as in
    /// Prometheus; sizes above 4 GiB are refused since offsets are 32-bit.
    pub fn with_segment_size(dir: &Path, size: u64) -> Result<ChunkWriter, BlockError> {
        let size = if size == 0 {
            DEFAULT_SEGMENT_SIZE
        } else {
            size
        };
        if size > u64::from(u32::MAX) {
            return Err(BlockError::Invalid(format!(
                "chunk segment size {size} exceeds the 32-bit offset range"
            )));
        }
        fs::create_dir_all(dir).map_err(BlockError::io(dir))?;
        Ok(ChunkWriter {
            dir: dir.to_path_buf(),
            segment_size: size,
            tail: None,
            done: 0,
            written: 0,
            buf: Vec::new(),
        })
    }

    fn segment_path(&self, seq: u64) -> PathBuf {
        self.dir.join(segment_name(seq + 1))
    }

    /// Flushes and fsyncs the open segment, if any.
    fn finish_tail(&mut self) -> Result<(), BlockError> {
        if let Some((seq, w, _)) = self.tail.take() {
            let path = self.segment_path(seq);
            let f = w
                .into_inner()
                .map_err(|e| BlockError::io(&path)(e.into_error()))?;
            f.sync_all().map_err(BlockError::io(&path))?;
            self.done = seq + 1;
        }
        Ok(())
    }

    /// Finishes the open segment and starts the next one.
    fn cut(&mut self) -> Result<(), BlockError> {
        self.finish_tail()?;
        let seq = self.done;
        if seq >= u64::from(u32::MAX) {
            return Err(BlockError::Invalid("too many chunk segment files".into()));
        }
        let path = self.segment_path(seq);
        let f = File::create(&path).map_err(BlockError::io(&path))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut header = [0u8; HEADER_SIZE as usize];
        header[..4].copy_from_slice(&MAGIC.to_be_bytes());
        header[4] = VERSION;
        w.write_all(&header).map_err(BlockError::io(&path))?;
        self.written += HEADER_SIZE;
        self.tail = Some((seq, w, HEADER_SIZE));
        Ok(())
    }

    /// Appends one chunk and returns its reference. `encoding` is the chunk encoding byte
    /// (as in `narthex_chunkenc::Encoding`: 1 XOR, 2 histogram, 3 float histogram) and
    /// `data` the encoded chunk.
    pub fn write_chunk(&mut self, encoding: u8, data: &[u8]) -> Result<u64, BlockError> {
        let need = MAX_LEN_FIELD + ENC_AND_CRC + data.len() as u64;
        let cut = match &self.tail {
            None => true,
            Some((_, _, n)) => *n > HEADER_SIZE && n + need > self.segment_size,
        };
        if cut {
            self.cut()?;
        }
        let mut e = Encbuf::new(std::mem::take(&mut self.buf));
        e.b.clear();
        e.put_uvarint(data.len() as u64);
        e.put_byte(encoding);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&[encoding]), data);
        let mut b = e.b;
        let path = self.tail.as_ref().map(|(seq, ..)| self.segment_path(*seq));
        let result = match (&mut self.tail, path) {
            (Some((seq, w, n)), Some(path)) => {
                let offset = *n;
                if offset > u64::from(u32::MAX) {
                    Err(BlockError::Invalid(format!(
                        "chunk offset {offset} in {} exceeds the 32-bit range",
                        path.display()
                    )))
                } else {
                    let mut write = || -> std::io::Result<()> {
                        w.write_all(&b)?;
                        w.write_all(data)?;
                        w.write_all(&crc.to_be_bytes())
                    };
                    match write() {
                        Ok(()) => {
                            let len = b.len() as u64 + data.len() as u64 + 4;
                            *n += len;
                            self.written += len;
                            Ok((*seq << 32) | offset)
                        }
                        Err(e) => Err(BlockError::io(&path)(e)),
                    }
                }
            }
            _ => Err(BlockError::Invalid("no chunk segment open".into())),
        };
        b.clear();
        self.buf = b;
        result
    }

    /// Flushes and fsyncs every segment file and the directory. Returns the total bytes
    /// written (headers included).
    pub fn finish(mut self) -> Result<u64, BlockError> {
        self.finish_tail()?;
        let d = File::open(&self.dir).map_err(BlockError::io(&self.dir))?;
        d.sync_all().map_err(BlockError::io(&self.dir))?;
        Ok(self.written)
    }
}

/// Reads chunks from a block's `chunks/` directory. Every segment file is memory-mapped;
/// the returned chunk data borrows from the map.
#[derive(Debug)]
pub struct ChunkReader {
    dir: PathBuf,
    files: Vec<MmapFile>,
    size: u64,
}

impl ChunkReader {
    /// Opens every segment file in `dir`. Files whose names are not all digits are ignored
    /// (as Prometheus does); the numbered ones must run `000001`, `000002`, ... without a
    /// gap, and each must start with a valid header.
    pub fn open(dir: &Path) -> Result<ChunkReader, BlockError> {
        let mut numbers = Vec::new();
        for entry in fs::read_dir(dir).map_err(BlockError::io(dir))? {
            let entry = entry.map_err(BlockError::io(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.is_empty() || !name.bytes().all(|c| c.is_ascii_digit()) {
                continue;
            }
            match name.parse::<u64>() {
                Ok(n) => numbers.push((n, name.to_owned())),
                Err(_) => {
                    return Err(BlockError::corruption(
                        &dir.join(name),
                        0,
                        "chunk segment number out of range",
                    ));
                }
            }
        }
        numbers.sort_unstable();
        let mut files = Vec::with_capacity(numbers.len());
        let mut size = 0;
        for (i, (n, name)) in numbers.into_iter().enumerate() {
            let path = dir.join(name);
            if n != i as u64 + 1 {
                return Err(BlockError::corruption(
                    &path,
                    0,
                    format!(
                        "chunk segments not numbered consecutively: expected {:06}",
                        i + 1
                    ),
                ));
            }
            let f = MmapFile::open(&path)?;
            let b = f.bytes();
            if b.len() < HEADER_SIZE as usize {
                return Err(BlockError::corruption(
                    &path,
                    0,
                    format!("chunk segment header too short: {} bytes", b.len()),
                ));
            }
            let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if magic != MAGIC {
                return Err(BlockError::corruption(
                    &path,
                    0,
                    format!("invalid chunk segment magic number {magic:#010x}"),
                ));
            }
            if b[4] != VERSION {
                return Err(BlockError::corruption(
                    &path,
                    4,
                    format!("unsupported chunk segment version {}", b[4]),
                ));
            }
            size += b.len() as u64;
            files.push(f);
        }
        Ok(ChunkReader {
            dir: dir.to_path_buf(),
            files,
            size,
        })
    }

    /// The encoding byte and data of the chunk at reference `r`. Every length is checked
    /// against the file and the checksum verified; bad data is reported as
    /// [`BlockError::Corruption`] naming the segment file and offset.
    pub fn chunk(&self, r: u64) -> Result<(u8, &[u8]), BlockError> {
        self.chunk_at(r).map(|(enc, data, _)| (enc, data))
    }

    /// Like [`ChunkReader::chunk`], also returning the offset just past the chunk.
    fn chunk_at(&self, r: u64) -> Result<(u8, &[u8], u64), BlockError> {
        let seq = r >> 32;
        let off = r & 0xFFFF_FFFF;
        let Some(f) = usize::try_from(seq).ok().and_then(|s| self.files.get(s)) else {
            return Err(BlockError::corruption(
                &self.dir,
                off,
                format!(
                    "chunk reference {r:#x}: segment {seq} out of range ({} segments)",
                    self.files.len()
                ),
            ));
        };
        let path = f.path();
        let b = f.bytes();
        if off < HEADER_SIZE || off >= b.len() as u64 {
            return Err(BlockError::corruption(
                path,
                off,
                format!(
                    "chunk reference {r:#x}: offset outside the segment's {} data bytes",
                    b.len()
                ),
            ));
        }
        let start = off as usize;
        let mut d = Decbuf::new(&b[start..]);
        let corrupt = |what: String| BlockError::corruption(path, off, what);
        let len = d
            .uvarint("chunk length")
            .map_err(|e| corrupt(format!("reading chunk length: {e}")))?;
        let enc_start = start + d.offset();
        // encoding byte + data + checksum must fit what is left of the file.
        let avail = (b.len() - enc_start) as u64;
        if len > avail || ENC_AND_CRC > avail - len {
            return Err(corrupt(format!(
                "chunk of {len} data bytes runs past the end of the segment ({avail} bytes left)"
            )));
        }
        let data_end = enc_start + 1 + len as usize;
        let stored = u32::from_be_bytes([
            b[data_end],
            b[data_end + 1],
            b[data_end + 2],
            b[data_end + 3],
        ]);
        let actual = crc32c::crc32c(&b[enc_start..data_end]);
        if stored != actual {
            return Err(corrupt(format!(
                "chunk checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"
            )));
        }
        Ok((
            b[enc_start],
            &b[enc_start + 1..data_end],
            data_end as u64 + 4,
        ))
    }

    /// Every chunk of every segment in file order, as `(reference, encoding, data)`. The
    /// iteration stops after the first error, which it yields.
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter {
            reader: self,
            seq: 0,
            off: HEADER_SIZE,
            failed: false,
        }
    }

    /// The number of segment files.
    pub fn segments(&self) -> usize {
        self.files.len()
    }

    /// Total size in bytes of all segment files.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Iterator over all chunks of a [`ChunkReader`], made by [`ChunkReader::iter`].
#[derive(Debug)]
pub struct ChunkIter<'a> {
    reader: &'a ChunkReader,
    seq: u64,
    off: u64,
    failed: bool,
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = Result<(u64, u8, &'a [u8]), BlockError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let f = self.reader.files.get(usize::try_from(self.seq).ok()?)?;
            if self.off < f.bytes().len() as u64 {
                break;
            }
            self.seq += 1;
            self.off = HEADER_SIZE;
        }
        let r = (self.seq << 32) | self.off;
        match self.reader.chunk_at(r) {
            Ok((enc, data, end)) => {
                self.off = end;
                Some(Ok((r, enc, data)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let cdir = dir.path().join("chunks");
        let mut w = ChunkWriter::create(&cdir).unwrap();
        let r1 = w.write_chunk(1, &[0, 1, 0xaa]).unwrap();
        let r2 = w.write_chunk(2, &[]).unwrap();
        let total = w.finish().unwrap();
        assert_eq!(r1, 8);
        assert_eq!(r2, 8 + 1 + 1 + 3 + 4);
        let raw = fs::read(cdir.join("000001")).unwrap();
        assert_eq!(total, raw.len() as u64);
        assert_eq!(&raw[..8], &[0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0]);
        assert_eq!(&raw[8..13], &[3, 1, 0, 1, 0xaa]);
        let crc = crc32c::crc32c(&[1, 0, 1, 0xaa]);
        assert_eq!(&raw[13..17], &crc.to_be_bytes());

        let r = ChunkReader::open(&cdir).unwrap();
        assert_eq!(r.size(), total);
        assert_eq!(r.chunk(r1).unwrap(), (1, &[0u8, 1, 0xaa][..]));
        assert_eq!(r.chunk(r2).unwrap(), (2, &[][..]));
        let all: Vec<_> = r.iter().map(Result::unwrap).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].0, r2);
        assert!(matches!(r.chunk(3), Err(BlockError::Corruption { .. })));
        assert!(matches!(
            r.chunk(1 << 32 | 8),
            Err(BlockError::Corruption { .. })
        ));
        assert!(matches!(r.chunk(total), Err(BlockError::Corruption { .. })));
    }

    #[test]
    fn segments_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ChunkWriter::with_segment_size(dir.path(), 64).unwrap();
        let data = [7u8; 20];
        let refs: Vec<u64> = (0..5).map(|_| w.write_chunk(1, &data).unwrap()).collect();
        // Each chunk takes 26 bytes but reserves 30 (a 5-byte length field): after one chunk
        // a file holds 34 bytes and 34 + 30 = 64 still fits; after two, 60 + 30 does not.
        let total = w.finish().unwrap();
        let r = ChunkReader::open(dir.path()).unwrap();
        assert_eq!(r.size(), total);
        for (i, rf) in refs.iter().enumerate() {
            assert_eq!(r.chunk(*rf).unwrap(), (1, &data[..]), "chunk {i}");
        }
        assert_eq!(refs[0], 8);
        assert_eq!(refs[1], 34);
        assert_eq!(refs[2], 1 << 32 | 8);
        assert_eq!(r.segments(), 3);
        // A chunk larger than a segment still gets written, alone.
        let dir2 = tempfile::tempdir().unwrap();
        let mut w = ChunkWriter::with_segment_size(dir2.path(), 16).unwrap();
        assert_eq!(w.write_chunk(1, &[1; 100]).unwrap(), 8);
        assert_eq!(w.write_chunk(1, &[1; 100]).unwrap(), 1 << 32 | 8);
        w.finish().unwrap();
    }

    #[test]
    fn gaps_and_bad_headers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ChunkWriter::create(dir.path()).unwrap();
        w.write_chunk(1, &[1, 2, 3]).unwrap();
        w.finish().unwrap();
        fs::copy(dir.path().join("000001"), dir.path().join("000003")).unwrap();
        assert!(matches!(
            ChunkReader::open(dir.path()),
            Err(BlockError::Corruption { .. })
        ));
        fs::remove_file(dir.path().join("000003")).unwrap();
        fs::write(
            dir.path().join("000002"),
            [0x85, 0xBD, 0x40, 0xDD, 2, 0, 0, 0],
        )
        .unwrap();
        let e = ChunkReader::open(dir.path()).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
        fs::write(dir.path().join("000002"), [0x85]).unwrap();
        assert!(ChunkReader::open(dir.path()).is_err());
        fs::remove_file(dir.path().join("000002")).unwrap();
        fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        assert_eq!(ChunkReader::open(dir.path()).unwrap().segments(), 1);
    }
}
