//! Head chunks on disk (`chunks_head/`), in Prometheus's `ChunkDiskMapper` layout.
//!
//! When a head chunk is full it is written here and dropped from memory; reads go to the
//! file. Files are numbered `000001`, `000002`, ... and start with an 8-byte header (magic
//! `0x0130BC91`, version 1, three zero bytes). Each chunk is: series reference (8 bytes),
//! min time (8), max time (8), encoding (1), data length (uvarint), data, and a CRC-32C of
//! all of that (4 bytes, big-endian). A chunk is addressed by a 64-bit reference: file
//! number in the high 32 bits, byte offset in the low 32.
//!
//! Chunks are read with positional reads rather than a memory map, which keeps the crate
//! free of `unsafe` with the same memory profile: the operating system's page cache holds
//! the bytes, not the process.
//!
//! Writes are buffered (up to [`WRITE_BUFFER_SIZE`] bytes, as Prometheus buffers its own
//! head chunk writes): a chunk reaches the file when the buffer fills, when a new file is
//! started, or on [`ChunkDiskMapper::flush`] / [`ChunkDiskMapper::sync`]; reads see
//! buffered chunks too. Losing the buffer in a crash loses nothing: every sample of a head
//! chunk is also in the WAL (or its checkpoint) until a block holds it, and replay puts
//! back from the WAL what the chunk files lack. What reaches the file is always a prefix of
//! what was written, so a crash leaves at most a torn last chunk, which opening repairs.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::encoding::{Decbuf, Encbuf};

/// Magic number at the start of every head chunk file.
pub const MAGIC: u32 = 0x0130_BC91;
/// File format version.
pub const VERSION: u8 = 1;
/// Size of the file header.
pub const HEADER_SIZE: u64 = 8;
/// Largest file before a new one is started.
pub const MAX_FILE_SIZE: u64 = 128 * 1024 * 1024;
/// Chunk bytes buffered in memory before they are written to the file.
pub const WRITE_BUFFER_SIZE: usize = 256 * 1024;

/// A chunk read back from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskChunk {
    /// Where it is.
    pub chunk_ref: u64,
    /// The series it belongs to.
    pub series_ref: u64,
    /// Its first timestamp.
    pub mint: i64,
    /// Its last timestamp.
    pub maxt: i64,
    /// The encoding byte (1 = XOR, 2 = histogram, 3 = float histogram).
    pub encoding: u8,
    /// The chunk data.
    pub data: Vec<u8>,
}

/// Why a head chunk file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ChunkFileError {
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Bad magic, bad checksum, or a chunk cut short.
    #[error("corruption in head chunk file {path} at offset {offset}: {what}", path = path.display())]
    Corruption {
        /// The file.
        path: PathBuf,
        /// File number.
        file: u32,
        /// Offset of the bad chunk.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ChunkFileError + '_ {
    move |source| ChunkFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn file_name(i: u32) -> String {
    format!("{i:06}")
}

/// The file numbers in `dir`, ascending.
pub fn files(dir: &Path) -> Result<Vec<u32>, ChunkFileError> {
    let mut v = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries.flatten() {
                if let Some(n) = e
                    .file_name()
                    .to_str()
                    .filter(|n| n.len() == 6)
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    v.push(n);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir)(e)),
    }
    v.sort_unstable();
    Ok(v)
}

/// Writes and reads head chunks.
pub struct ChunkDiskMapper {
    dir: PathBuf,
    /// Open file handles by number, for reads.
    readers: Vec<(u32, File)>,
    /// The file being written: number, handle, and size including `pending`.
    writer: Option<(u32, File, u64)>,
    /// Chunks written to the current file but not handed to the operating system yet:
    /// the file's last `pending.len()` bytes.
    pending: Vec<u8>,
    /// The newest sample time in each file (files without chunks are absent).
    file_maxt: std::collections::HashMap<u32, i64>,
    /// The number the next new file gets: numbers are never reused, so a chunk reference
    /// never points into a later file of the same number.
    next_file: u32,
    /// Head chunks started since opening (counted by the head as it cuts them; kept here
    /// because every cut holds this lock anyway).
    pub(crate) chunks_started: u64,
}

impl ChunkDiskMapper {
    /// Opens `dir` (created if missing). New chunks go to a new file after the existing ones.
    pub fn open(dir: &Path) -> Result<Self, ChunkFileError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut readers = Vec::new();
        for n in files(dir)? {
            let p = dir.join(file_name(n));
            readers.push((n, File::open(&p).map_err(io(&p))?));
        }
        let next_file = readers.last().map_or(1, |(n, _)| n + 1);
        Ok(ChunkDiskMapper {
            dir: dir.to_path_buf(),
            readers,
            writer: None,
            pending: Vec::new(),
            file_maxt: std::collections::HashMap::new(),
            next_file,
            chunks_started: 0,
        })
    }

    fn new_file(&mut self) -> Result<(), ChunkFileError> {
        self.flush()?;
        let n = self.next_file;
        self.next_file += 1;
        let p = self.dir.join(file_name(n));
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .read(true)
            .open(&p)
            .map_err(io(&p))?;
        let mut header = MAGIC.to_be_bytes().to_vec();
        header.extend_from_slice(&[VERSION, 0, 0, 0]);
        f.write_all(&header).map_err(io(&p))?;
        self.readers.push((n, File::open(&p).map_err(io(&p))?));
        self.writer = Some((n, f, HEADER_SIZE));
        Ok(())
    }

    /// Appends a chunk; returns its reference. The bytes are buffered (see the module's
    /// documentation); reads see them at once.
    pub fn write(
        &mut self,
        series_ref: u64,
        mint: i64,
        maxt: i64,
        encoding: u8,
        data: &[u8],
    ) -> Result<u64, ChunkFileError> {
        // The fixed fields, the length (at most 10 bytes) and the CRC.
        let need = (8 + 8 + 8 + 1 + uvarint_len(data.len() as u64) + data.len() + 4) as u64;
        if self
            .writer
            .as_ref()
            .is_none_or(|(_, _, size)| size + need > MAX_FILE_SIZE)
        {
            self.new_file()?;
        }
        if self.pending.len() + need as usize > WRITE_BUFFER_SIZE {
            self.flush()?;
        }
        let Some((n, _, size)) = self.writer.as_mut() else {
            return Err(ChunkFileError::Corruption {
                path: self.dir.clone(),
                file: 0,
                offset: 0,
                what: "no file to write to".into(),
            });
        };
        let start = self.pending.len();
        let mut e = Encbuf::new(std::mem::take(&mut self.pending));
        e.put_be64(series_ref);
        e.put_be64_i64(mint);
        e.put_be64_i64(maxt);
        e.put_byte(encoding);
        e.put_uvarint(data.len() as u64);
        e.b.extend_from_slice(data);
        let crc = crc32c::crc32c(&e.b[start..]);
        e.put_be32(crc);
        debug_assert_eq!((e.b.len() - start) as u64, need);
        self.pending = e.b;
        let r = (u64::from(*n) << 32) | *size;
        *size += need;
        let m = self.file_maxt.entry(*n).or_insert(maxt);
        *m = (*m).max(maxt);
        Ok(r)
    }

    /// Hands the buffered chunks to the operating system. After a failed or partial
    /// write, what was written leaves the buffer and the rest stays, so a later flush
    /// continues at the right offset (chunk references stay valid).
    pub fn flush(&mut self) -> Result<(), ChunkFileError> {
        let Some((n, f, _)) = self.writer.as_mut() else {
            self.pending.clear();
            return Ok(());
        };
        while !self.pending.is_empty() {
            match f.write(&self.pending) {
                Ok(0) => {
                    let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
                    return Err(io(&self.dir.join(file_name(*n)))(e));
                }
                Ok(k) => {
                    self.pending.drain(..k);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(&self.dir.join(file_name(*n)))(e)),
            }
        }
        Ok(())
    }

    /// Reads the chunk at `chunk_ref`.
    pub fn read(&self, chunk_ref: u64) -> Result<DiskChunk, ChunkFileError> {
        let file = (chunk_ref >> 32) as u32;
        let offset = chunk_ref & 0xffff_ffff;
        let p = self.dir.join(file_name(file));
        let corrupt = |what: String| ChunkFileError::Corruption {
            path: p.clone(),
            file,
            offset,
            what,
        };
        if let Some((n, _, size)) = &self.writer
            && *n == file
        {
            let flushed = size - self.pending.len() as u64;
            if offset >= flushed {
                let bytes = &self.pending[(offset - flushed) as usize..];
                return decode_chunk(bytes, chunk_ref)
                    .map(|(c, _)| c)
                    .map_err(corrupt);
            }
        }
        let Some((_, f)) = self.readers.iter().find(|(n, _)| *n == file) else {
            return Err(corrupt("no such head chunk file".into()));
        };
        // The fixed part and the length are at most 8+8+8+1+10 bytes; read them to learn
        // the chunk's size, then the whole chunk.
        let mut head = [0u8; 35];
        let n = read_at_most(f, &mut head, offset).map_err(io(&p))?;
        let len = chunk_len(&head[..n]).map_err(corrupt)?;
        let mut bytes = vec![0u8; len];
        f.read_exact_at(&mut bytes, offset)
            .map_err(|e| corrupt(format!("chunk cut short: {e}")))?;
        decode_chunk(&bytes, chunk_ref)
            .map(|(c, _)| c)
            .map_err(corrupt)
    }

    /// Every chunk in every file, in order. Stops at the first corruption and returns the
    /// chunks before it with the error, so the caller can keep what is intact. Also learns
    /// each file's newest sample time, for [`ChunkDiskMapper::truncate_before`].
    pub fn iterate(&mut self) -> (Vec<DiskChunk>, Option<ChunkFileError>) {
        let (chunks, err) = self.read_all();
        for c in &chunks {
            let f = (c.chunk_ref >> 32) as u32;
            let m = self.file_maxt.entry(f).or_insert(c.maxt);
            *m = (*m).max(c.maxt);
        }
        (chunks, err)
    }

    fn read_all(&self) -> (Vec<DiskChunk>, Option<ChunkFileError>) {
        let mut out = Vec::new();
        for (n, _) in &self.readers {
            let p = self.dir.join(file_name(*n));
            let data = match fs::read(&p) {
                Ok(d) => d,
                Err(e) => return (out, Some(io(&p)(e))),
            };
            if data.len() < HEADER_SIZE as usize
                || u32::from_be_bytes([data[0], data[1], data[2], data[3]]) != MAGIC
            {
                return (
                    out,
                    Some(ChunkFileError::Corruption {
                        path: p,
                        file: *n,
                        offset: 0,
                        what: "bad magic number".into(),
                    }),
                );
            }
            let mut pos = HEADER_SIZE as usize;
            while pos < data.len() {
                // Trailing zeros are preallocated or padding space in Prometheus's files.
                if data[pos..].iter().all(|b| *b == 0) {
                    break;
                }
                match decode_chunk(&data[pos..], (u64::from(*n) << 32) | pos as u64) {
                    Ok((c, used)) => {
                        pos += used;
                        out.push(c);
                    }
                    Err(what) => {
                        let e = ChunkFileError::Corruption {
                            path: p,
                            file: *n,
                            offset: pos as u64,
                            what,
                        };
                        return (out, Some(e));
                    }
                }
            }
        }
        (out, None)
    }

    /// Cuts file `file` at `offset` and deletes every later file (repair after corruption).
    pub fn truncate_at(&mut self, file: u32, offset: u64) -> Result<(), ChunkFileError> {
        self.flush()?;
        self.writer = None;
        let mut keep = Vec::new();
        for (n, f) in std::mem::take(&mut self.readers) {
            let p = self.dir.join(file_name(n));
            if n > file || (n == file && offset <= HEADER_SIZE) {
                drop(f);
                fs::remove_file(&p).map_err(io(&p))?;
            } else {
                if n == file {
                    OpenOptions::new()
                        .write(true)
                        .open(&p)
                        .and_then(|w| w.set_len(offset))
                        .map_err(io(&p))?;
                }
                keep.push((n, f));
            }
        }
        self.readers = keep;
        Ok(())
    }

    /// Finishes the file being written (synced): the next chunk starts a new file, so the
    /// finished one can be deleted once none of its chunks is needed (Prometheus cuts a
    /// new file on every head truncation for the same reason).
    pub fn cut_new_file(&mut self) -> Result<(), ChunkFileError> {
        self.flush()?;
        if let Some((n, f, _)) = self.writer.take() {
            f.sync_data().map_err(io(&self.dir.join(file_name(n))))?;
        }
        Ok(())
    }

    /// Prometheus's truncation of head chunk files: finishes the file being written (the
    /// next chunk starts a new one) and deletes every file whose chunks all end before
    /// `mint` (and files holding none). Under the one lock that also serialises writes,
    /// so a chunk written concurrently is either in a kept file or in the next one.
    pub fn truncate_before(&mut self, mint: i64) -> Result<(), ChunkFileError> {
        self.cut_new_file()?;
        let mut keep = Vec::new();
        for (n, f) in std::mem::take(&mut self.readers) {
            if self.file_maxt.get(&n).is_none_or(|m| *m < mint) {
                let p = self.dir.join(file_name(n));
                drop(f);
                fs::remove_file(&p).map_err(io(&p))?;
                self.file_maxt.remove(&n);
            } else {
                keep.push((n, f));
            }
        }
        self.readers = keep;
        Ok(())
    }

    /// Deletes every file numbered below `keep_from` (except the one being written).
    pub fn remove_files_before(&mut self, keep_from: u32) -> Result<(), ChunkFileError> {
        let mut keep = Vec::new();
        for (n, f) in std::mem::take(&mut self.readers) {
            if n < keep_from && self.writer.as_ref().is_none_or(|(w, ..)| *w != n) {
                let p = self.dir.join(file_name(n));
                drop(f);
                fs::remove_file(&p).map_err(io(&p))?;
            } else {
                keep.push((n, f));
            }
        }
        self.readers = keep;
        Ok(())
    }

    /// Flushes and syncs the file being written.
    pub fn sync(&mut self) -> Result<(), ChunkFileError> {
        self.flush()?;
        if let Some((n, f, _)) = &self.writer {
            f.sync_data().map_err(io(&self.dir.join(file_name(*n))))?;
        }
        Ok(())
    }
}

impl Drop for ChunkDiskMapper {
    fn drop(&mut self) {
        // Best effort: what is lost here is in the WAL too.
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "head chunks not flushed at close; the WAL has their samples");
        }
    }
}

/// Bytes of `v` as a uvarint.
fn uvarint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Total size of the chunk whose first bytes are `head`: fixed fields, length, data, CRC.
fn chunk_len(head: &[u8]) -> Result<usize, String> {
    let mut d = Decbuf::new(head);
    d.bytes(25, "chunk header").map_err(|e| e.to_string())?;
    let len = d.uvarint("data length").map_err(|e| e.to_string())?;
    if len > MAX_FILE_SIZE {
        return Err(format!("chunk length {len} is too large"));
    }
    Ok(d.offset() + len as usize + 4)
}

/// Decodes the chunk at the start of `bytes` and checks its CRC; returns it and the bytes
/// it spans.
fn decode_chunk(bytes: &[u8], chunk_ref: u64) -> Result<(DiskChunk, usize), String> {
    let total = chunk_len(bytes)?;
    if bytes.len() < total {
        return Err("chunk cut short".into());
    }
    let mut d = Decbuf::new(bytes);
    let series_ref = d.be64("series ref").map_err(|e| e.to_string())?;
    let mint = d.be64_i64("min time").map_err(|e| e.to_string())?;
    let maxt = d.be64_i64("max time").map_err(|e| e.to_string())?;
    let encoding = d.byte("encoding").map_err(|e| e.to_string())?;
    d.uvarint("data length").map_err(|e| e.to_string())?;
    let start = d.offset();
    let body = total - 4;
    let want = u32::from_be_bytes([
        bytes[body],
        bytes[body + 1],
        bytes[body + 2],
        bytes[body + 3],
    ]);
    if crc32c::crc32c(&bytes[..body]) != want {
        return Err("checksum mismatch".into());
    }
    let chunk = DiskChunk {
        chunk_ref,
        series_ref,
        mint,
        maxt,
        encoding,
        data: bytes[start..body].to_vec(),
    };
    Ok((chunk, total))
}

fn read_at_most(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_iterate_and_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ChunkDiskMapper::open(dir.path()).unwrap();
        let a = m.write(7, 1, 2, 1, b"hello").unwrap();
        let b = m.write(8, 3, 4, 1, &[9u8; 300]).unwrap();
        assert_eq!(a >> 32, 1);
        assert_eq!(a & 0xffff_ffff, HEADER_SIZE);
        // Read back from the write buffer...
        let c = m.read(b).unwrap();
        assert_eq!((c.series_ref, c.mint, c.maxt, c.data.len()), (8, 3, 4, 300));
        // ...which another reader of the directory does not see until it is flushed.
        let (none, err) = ChunkDiskMapper::open(dir.path()).unwrap().iterate();
        assert!(none.is_empty() && err.is_none());
        m.flush().unwrap();
        assert_eq!(m.read(b).unwrap(), c);
        let mut m2 = ChunkDiskMapper::open(dir.path()).unwrap();
        let (all, err) = m2.iterate();
        assert!(err.is_none());
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].data, b"hello");

        // Flip a data byte of the second chunk: the first survives, the error names the file.
        let p = dir.path().join("000001");
        let mut bytes = fs::read(&p).unwrap();
        let off = (b & 0xffff_ffff) as usize + 30;
        bytes[off] ^= 1;
        fs::write(&p, &bytes).unwrap();
        let mut m3 = ChunkDiskMapper::open(dir.path()).unwrap();
        let (all, err) = m3.iterate();
        assert_eq!(all.len(), 1);
        let e = err.unwrap().to_string();
        assert!(e.contains("000001") && e.contains("checksum"), "{e}");
    }

    #[test]
    fn a_full_buffer_and_dropping_the_mapper_write_the_chunks_out() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![7u8; 1000];
        let n = 3 * WRITE_BUFFER_SIZE / 1000;
        let refs: Vec<u64> = {
            let mut m = ChunkDiskMapper::open(dir.path()).unwrap();
            let refs: Vec<u64> = (0..n as u64)
                .map(|i| m.write(i, i as i64, i as i64, 1, &data).unwrap())
                .collect();
            // Most of it went out when the buffer filled; every chunk reads back.
            let on_disk = fs::metadata(dir.path().join("000001")).unwrap().len();
            assert!(on_disk >= 2 * WRITE_BUFFER_SIZE as u64, "{on_disk}");
            for (i, r) in refs.iter().enumerate() {
                assert_eq!(m.read(*r).unwrap().series_ref, i as u64);
            }
            refs
        };
        let mut m = ChunkDiskMapper::open(dir.path()).unwrap();
        let (all, err) = m.iterate();
        assert!(err.is_none());
        assert_eq!(all.len(), n);
        assert_eq!(all.iter().map(|c| c.chunk_ref).collect::<Vec<_>>(), refs);
    }
}
