//! Reading records back, detecting corruption, and repairing a WAL.

use std::fs;
use std::path::{Path, PathBuf};

use super::{PAGE_SIZE, RECORD_HEADER_SIZE, WalError, frag, io_err, segment_name, segments};

/// Corrupt WAL data, located to a segment file and byte offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("corruption in WAL segment {path} at offset {offset}: {what}", path = path.display())]
pub struct Corruption {
    /// The segment file.
    pub path: PathBuf,
    /// The segment number.
    pub segment: u32,
    /// Byte offset in the segment where the first bad record starts.
    pub offset: u64,
    /// What is wrong.
    pub what: String,
}

/// Reads the records of a WAL (or of a checkpoint) in order.
pub struct RecordReader {
    dir: PathBuf,
    segs: Vec<u32>,
    idx: usize,
    data: Vec<u8>,
    loaded: bool,
    pos: usize,
    /// Reassembly buffer for fragmented records.
    rec: Vec<u8>,
    /// Whether `rec` holds the start of an unfinished record, and its flags.
    in_record: Option<u8>,
    /// Where the record being read started.
    rec_start: usize,
    out: Vec<u8>,
    failed: bool,
}

impl RecordReader {
    /// A reader over every segment in `dir`.
    pub fn open(dir: &Path) -> Result<Self, WalError> {
        Self::open_from(dir, 0)
    }

    /// A reader over the segments of `dir` numbered `from` and up.
    pub fn open_from(dir: &Path, from: u32) -> Result<Self, WalError> {
        Self::open_range(dir, from, u32::MAX)
    }

    /// A reader over the segments of `dir` numbered `from` to `to`, inclusive.
    pub fn open_range(dir: &Path, from: u32, to: u32) -> Result<Self, WalError> {
        let segs = segments(dir)?
            .into_iter()
            .filter(|s| *s >= from && *s <= to)
            .collect();
        Ok(RecordReader {
            dir: dir.to_path_buf(),
            segs,
            idx: 0,
            data: Vec::new(),
            loaded: false,
            pos: 0,
            rec: Vec::new(),
            in_record: None,
            rec_start: 0,
            out: Vec::new(),
            failed: false,
        })
    }

    /// The segment currently being read (or the last one).
    pub fn segment(&self) -> Option<u32> {
        self.segs
            .get(self.idx.min(self.segs.len().saturating_sub(1)))
            .copied()
    }

    /// Byte offset in the current segment just after the last record returned.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn corruption(&mut self, offset: usize, what: impl Into<String>) -> WalError {
        self.failed = true;
        let segment = self.segs.get(self.idx).copied().unwrap_or(0);
        WalError::Corruption(Corruption {
            path: self.dir.join(segment_name(segment)),
            segment,
            offset: offset as u64,
            what: what.into(),
        })
    }

    /// The next record, an error, or `None` at the end. After an error the reader stops.
    pub fn next_record(&mut self) -> Option<Result<&[u8], WalError>> {
        if self.failed {
            return None;
        }
        loop {
            if !self.loaded {
                let seg = *self.segs.get(self.idx)?;
                let p = self.dir.join(segment_name(seg));
                match fs::read(&p) {
                    Ok(d) => self.data = d,
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(io_err(&p)(e)));
                    }
                }
                self.loaded = true;
                self.pos = 0;
            }
            if self.pos >= self.data.len() {
                if self.in_record.is_some() {
                    let start = self.rec_start;
                    return Some(Err(
                        self.corruption(start, "record cut short at the end of the segment")
                    ));
                }
                self.idx += 1;
                self.loaded = false;
                continue;
            }
            let page_end = (self.pos / PAGE_SIZE + 1) * PAGE_SIZE;
            let ty = self.data[self.pos];
            if ty == frag::PAGE_TERM || page_end - self.pos < RECORD_HEADER_SIZE {
                // The rest of the page is padding and must be zeros.
                let end = page_end.min(self.data.len());
                if self.data[self.pos..end].iter().any(|b| *b != 0) {
                    let p = self.pos;
                    return Some(Err(self.corruption(p, "non-zero bytes in page padding")));
                }
                self.pos = end;
                continue;
            }
            let at = self.pos;
            if self.data.len() - at < RECORD_HEADER_SIZE {
                let start = if self.in_record.is_some() {
                    self.rec_start
                } else {
                    at
                };
                return Some(Err(self.corruption(start, "record header cut short")));
            }
            let len = u16::from_be_bytes([self.data[at + 1], self.data[at + 2]]) as usize;
            let crc = u32::from_be_bytes([
                self.data[at + 3],
                self.data[at + 4],
                self.data[at + 5],
                self.data[at + 6],
            ]);
            let body = at + RECORD_HEADER_SIZE;
            if body + len > page_end {
                let start = if self.in_record.is_some() {
                    self.rec_start
                } else {
                    at
                };
                return Some(Err(self.corruption(
                    start,
                    format!("fragment of {len} bytes crosses a page boundary"),
                )));
            }
            if body + len > self.data.len() {
                let start = if self.in_record.is_some() {
                    self.rec_start
                } else {
                    at
                };
                return Some(Err(self.corruption(start, "record cut short (torn write)")));
            }
            let part = &self.data[body..body + len];
            if crc32c::crc32c(part) != crc {
                let start = if self.in_record.is_some() {
                    self.rec_start
                } else {
                    at
                };
                return Some(Err(self.corruption(
                    start,
                    format!("checksum mismatch in fragment at offset {at}"),
                )));
            }
            let kind = ty & frag::TYPE_MASK;
            let flags = ty & !frag::TYPE_MASK;
            if flags & !(frag::SNAPPY | frag::ZSTD) != 0 {
                return Some(Err(
                    self.corruption(at, format!("invalid fragment type byte {ty:#x}"))
                ));
            }
            match (kind, self.in_record) {
                (frag::FULL | frag::FIRST, None) => {
                    self.rec.clear();
                    self.rec_start = at;
                    self.in_record = Some(flags);
                }
                (frag::MIDDLE | frag::LAST, Some(f)) if f == flags => {}
                _ => {
                    let start = if self.in_record.is_some() {
                        self.rec_start
                    } else {
                        at
                    };
                    return Some(Err(self.corruption(
                        start,
                        format!("unexpected fragment type {kind} at offset {at}"),
                    )));
                }
            }
            self.rec.extend_from_slice(part);
            self.pos = body + len;
            if kind == frag::FULL || kind == frag::LAST {
                self.in_record = None;
                if flags & frag::ZSTD != 0 {
                    let start = self.rec_start;
                    return Some(Err(
                        self.corruption(start, "zstd-compressed records are not supported")
                    ));
                }
                if flags & frag::SNAPPY != 0 {
                    let n = match snap::raw::decompress_len(&self.rec) {
                        Ok(n) => n,
                        Err(e) => {
                            let start = self.rec_start;
                            return Some(Err(self.corruption(start, format!("snappy: {e}"))));
                        }
                    };
                    self.out.resize(n, 0);
                    if let Err(e) = snap::raw::Decoder::new().decompress(&self.rec, &mut self.out) {
                        let start = self.rec_start;
                        return Some(Err(self.corruption(start, format!("snappy: {e}"))));
                    }
                    return Some(Ok(&self.out));
                }
                return Some(Ok(&self.rec));
            }
        }
    }
}

/// Repairs a WAL after [`Corruption`]: deletes every segment after the corrupt one and cuts
/// the corrupt segment just before the first bad record, so every record before the
/// corruption is kept, as Prometheus's repair does. Returns the number of bytes dropped.
pub fn repair(dir: &Path, c: &Corruption) -> Result<u64, WalError> {
    let mut dropped = 0;
    for s in segments(dir)? {
        if s > c.segment {
            let p = dir.join(segment_name(s));
            dropped += fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&p).map_err(io_err(&p))?;
        }
    }
    let p = dir.join(segment_name(c.segment));
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .map_err(io_err(&p))?;
    let len = f.metadata().map_err(io_err(&p))?.len();
    if c.offset < len {
        f.set_len(c.offset).map_err(io_err(&p))?;
        dropped += len - c.offset;
    }
    f.sync_all().map_err(io_err(&p))?;
    Ok(dropped)
}
