//! The write-ahead log in Prometheus's `wlog` layout.
//!
//! A WAL is a directory of numbered segment files (`00000000`, `00000001`, ...), each at
//! most [`DEFAULT_SEGMENT_SIZE`] bytes, made of 32 KiB pages. A record is written as one
//! or more fragments, each with a 7-byte header: a type byte (full, first, middle, last;
//! bit 3 set when the record is snappy-compressed), a big-endian 16-bit length and a
//! big-endian CRC-32C of the fragment. A fragment never crosses a page, and a record never
//! crosses a segment. When less than a header's worth of space is left in a page, the rest
//! of the page is zeros.
//!
//! [`Wal::log`] hands each batch of records to the operating system before it returns, so a
//! committed batch survives the process being killed. [`Wal::sync`] also survives power
//! loss.

mod reader;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use reader::{Corruption, RecordReader, repair};

/// Size of a page.
pub const PAGE_SIZE: usize = 32 * 1024;
/// Default size of a segment.
pub const DEFAULT_SEGMENT_SIZE: usize = 128 * 1024 * 1024;
/// Size of a fragment header.
pub const RECORD_HEADER_SIZE: usize = 7;

/// Fragment types (the low 3 bits of the header's type byte).
pub(crate) mod frag {
    pub(crate) const PAGE_TERM: u8 = 0;
    pub(crate) const FULL: u8 = 1;
    pub(crate) const FIRST: u8 = 2;
    pub(crate) const MIDDLE: u8 = 3;
    pub(crate) const LAST: u8 = 4;
    pub(crate) const TYPE_MASK: u8 = 0b111;
    pub(crate) const SNAPPY: u8 = 1 << 3;
    pub(crate) const ZSTD: u8 = 1 << 4;
}

/// Why a WAL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Corrupt data: checksum mismatch, bad fragment sequence, torn record.
    #[error(transparent)]
    Corruption(#[from] Corruption),
    /// The segments present are not a contiguous sequence.
    #[error("{dir}: segments are not sequential: {first} is followed by {next}")]
    Gap {
        /// The WAL directory.
        dir: PathBuf,
        /// The segment before the gap.
        first: u32,
        /// The segment after the gap.
        next: u32,
    },
    /// A record longer than a segment can hold.
    #[error("record of {0} bytes does not fit in a segment")]
    TooLarge(usize),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file name of segment `i`.
pub fn segment_name(i: u32) -> String {
    format!("{i:08}")
}

/// The segment numbers in `dir`, ascending; an error if they are not contiguous.
pub fn segments(dir: &Path) -> Result<Vec<u32>, WalError> {
    let mut v = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
        Err(e) => {
            return Err(WalError::Io {
                path: dir.to_path_buf(),
                source: e,
            });
        }
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 8
            && name.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = name.parse::<u32>()
        {
            v.push(n);
        }
    }
    v.sort_unstable();
    for w in v.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(WalError::Gap {
                dir: dir.to_path_buf(),
                first: w[0],
                next: w[1],
            });
        }
    }
    Ok(v)
}

/// Options for [`Wal::open`].
#[derive(Clone, Copy, Debug)]
pub struct WalOptions {
    /// Maximum segment size in bytes (a multiple of [`PAGE_SIZE`]).
    pub segment_size: usize,
    /// Snappy-compress records when that makes them smaller.
    pub compress: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            compress: true,
        }
    }
}

/// A write-ahead log open for appending.
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    file: File,
    segment: u32,
    page: Box<[u8; PAGE_SIZE]>,
    /// Bytes of the page in use.
    alloc: usize,
    /// Bytes of the page already written to the file.
    flushed: usize,
    /// Complete pages written to the current segment.
    done_pages: usize,
    scratch: Vec<u8>,
    stats: WalStats,
    /// fsyncs of finished segments, running off the write path as in Prometheus (an
    /// fsync of a full segment takes a tenth of a second or more, and every append would
    /// wait for it): each yields the seconds it took. [`Wal::sync`] waits for them.
    background: Vec<std::thread::JoinHandle<Result<f64, WalError>>>,
    /// The first background fsync that failed since the last [`Wal::sync`], which reports
    /// it (a later write is not failed for it: its own bytes were written).
    background_err: Option<WalError>,
}

/// What a [`Wal`] has done since it was opened (for monitoring).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct WalStats {
    /// Writes of (part of) a page to the segment file.
    pub page_flushes: u64,
    /// Pages completed (filled or padded) and written.
    pub completed_pages: u64,
    /// fsyncs of segment files.
    pub fsyncs: u64,
    /// Seconds spent in those fsyncs.
    pub fsync_seconds: f64,
    /// Batches whose write failed.
    pub writes_failed: u64,
    /// Truncations (deletions of old segments).
    pub truncations: u64,
}

impl Wal {
    /// Opens the WAL in `dir` (created if missing) and starts a new segment after the
    /// existing ones, as Prometheus does: existing segments are never appended to.
    pub fn open(dir: &Path, options: WalOptions) -> Result<Wal, WalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let next = segments(dir)?.last().map_or(0, |l| l + 1);
        let options = WalOptions {
            segment_size: options.segment_size.max(PAGE_SIZE) / PAGE_SIZE * PAGE_SIZE,
            ..options
        };
        let file = create_segment(dir, next)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            options,
            file,
            segment: next,
            page: Box::new([0u8; PAGE_SIZE]),
            alloc: 0,
            flushed: 0,
            done_pages: 0,
            scratch: Vec::new(),
            stats: WalStats::default(),
            background: Vec::new(),
            background_err: None,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment being written.
    pub fn current_segment(&self) -> u32 {
        self.segment
    }

    /// Counts of what the WAL has done since it was opened.
    pub fn stats(&self) -> WalStats {
        self.stats
    }

    fn fsync(&mut self, data_only: bool) -> Result<(), WalError> {
        let path = self.segment_path();
        let started = std::time::Instant::now();
        let r = if data_only {
            self.file.sync_data()
        } else {
            self.file.sync_all()
        };
        self.stats.fsyncs += 1;
        self.stats.fsync_seconds += started.elapsed().as_secs_f64();
        r.map_err(io_err(&path))
    }

    fn pages_per_segment(&self) -> usize {
        self.options.segment_size / PAGE_SIZE
    }

    fn segment_path(&self) -> PathBuf {
        self.dir.join(segment_name(self.segment))
    }

    /// Writes the page's unwritten bytes; when `clear`, pads the page to its end first and
    /// starts a new page.
    fn flush_page(&mut self, clear: bool) -> Result<(), WalError> {
        if clear {
            self.page[self.alloc..].fill(0);
            self.alloc = PAGE_SIZE;
        }
        if self.alloc > self.flushed {
            let path = self.segment_path();
            self.file
                .write_all(&self.page[self.flushed..self.alloc])
                .map_err(io_err(&path))?;
            self.flushed = self.alloc;
            self.stats.page_flushes += 1;
        }
        if clear {
            self.alloc = 0;
            self.flushed = 0;
            self.done_pages += 1;
            self.stats.completed_pages += 1;
        }
        Ok(())
    }

    /// Finishes the current segment (padding its last page) and starts the next one; the
    /// finished segment is synced in the background (see [`Wal::sync`]). Returns the new
    /// segment's number.
    pub fn next_segment(&mut self) -> Result<u32, WalError> {
        if self.alloc > 0 {
            self.flush_page(true)?;
        }
        let prev_path = self.segment_path();
        let next = create_segment(&self.dir, self.segment + 1)?;
        let prev = std::mem::replace(&mut self.file, next);
        self.segment += 1;
        self.done_pages = 0;
        self.reap_background(false);
        let path = prev_path.clone();
        let spawned = std::thread::Builder::new()
            .name("wal-fsync".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                prev.sync_all().map_err(io_err(&path))?;
                Ok(started.elapsed().as_secs_f64())
            });
        match spawned {
            Ok(h) => self.background.push(h),
            // No thread to spare: sync it here.
            Err(_) => {
                let started = std::time::Instant::now();
                File::open(&prev_path)
                    .and_then(|f| f.sync_all())
                    .map_err(io_err(&prev_path))?;
                self.stats.fsyncs += 1;
                self.stats.fsync_seconds += started.elapsed().as_secs_f64();
            }
        }
        Ok(self.segment)
    }

    /// Collects the background fsyncs that finished (all of them, waiting, with `wait`)
    /// into the statistics; a failure is logged and kept for [`Wal::sync`].
    fn reap_background(&mut self, wait: bool) {
        let mut i = 0;
        while i < self.background.len() {
            if !wait && !self.background[i].is_finished() {
                i += 1;
                continue;
            }
            let h = self.background.swap_remove(i);
            match h.join() {
                Ok(Ok(secs)) => {
                    self.stats.fsyncs += 1;
                    self.stats.fsync_seconds += secs;
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "fsync of a finished WAL segment failed");
                    self.background_err.get_or_insert(e);
                }
                Err(_) => {
                    self.background_err.get_or_insert(WalError::Io {
                        path: self.dir.clone(),
                        source: std::io::Error::other("WAL fsync thread panicked"),
                    });
                }
            }
        }
    }

    /// Appends records as one batch and hands them to the operating system.
    pub fn log(&mut self, records: &[&[u8]]) -> Result<(), WalError> {
        for (i, rec) in records.iter().enumerate() {
            if let Err(e) = self.log_one(rec, i + 1 == records.len()) {
                self.stats.writes_failed += 1;
                return Err(e);
            }
        }
        Ok(())
    }

    fn log_one(&mut self, rec: &[u8], last_in_batch: bool) -> Result<(), WalError> {
        if PAGE_SIZE - self.alloc < RECORD_HEADER_SIZE {
            self.flush_page(true)?;
        }
        let mut compressed = false;
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut data = rec;
        if self.options.compress && !rec.is_empty() {
            scratch.resize(snap::raw::max_compress_len(rec.len()), 0);
            if let Ok(n) = snap::raw::Encoder::new().compress(rec, &mut scratch)
                && n < rec.len()
            {
                scratch.truncate(n);
                data = &scratch;
                compressed = true;
            }
        }
        let left = (PAGE_SIZE - self.alloc).saturating_sub(RECORD_HEADER_SIZE)
            + (PAGE_SIZE - RECORD_HEADER_SIZE)
                * self.pages_per_segment().saturating_sub(self.done_pages + 1);
        let result = (|| {
            if data.len() > left {
                self.next_segment()?;
                let whole = (PAGE_SIZE - RECORD_HEADER_SIZE) * self.pages_per_segment();
                if data.len() > whole {
                    return Err(WalError::TooLarge(data.len()));
                }
            }
            let mut rest = data;
            let mut first = true;
            loop {
                let room = PAGE_SIZE - self.alloc - RECORD_HEADER_SIZE;
                let n = rest.len().min(room);
                let (part, tail) = rest.split_at(n);
                let mut ty = match (first, tail.is_empty()) {
                    (true, true) => frag::FULL,
                    (false, true) => frag::LAST,
                    (true, false) => frag::FIRST,
                    (false, false) => frag::MIDDLE,
                };
                if compressed {
                    ty |= frag::SNAPPY;
                }
                let a = self.alloc;
                self.page[a] = ty;
                self.page[a + 1..a + 3].copy_from_slice(&(n as u16).to_be_bytes());
                self.page[a + 3..a + 7].copy_from_slice(&crc32c::crc32c(part).to_be_bytes());
                self.page[a + 7..a + 7 + n].copy_from_slice(part);
                self.alloc += RECORD_HEADER_SIZE + n;
                if PAGE_SIZE - self.alloc < RECORD_HEADER_SIZE {
                    self.flush_page(true)?;
                }
                rest = tail;
                first = false;
                if rest.is_empty() {
                    break;
                }
            }
            if last_in_batch && self.alloc > 0 {
                self.flush_page(false)?;
            }
            Ok(())
        })();
        self.scratch = scratch;
        result
    }

    /// Flushes and fsyncs the current segment and waits for the fsyncs of finished
    /// segments (durability against power loss).
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.flush_page(false)?;
        self.fsync(true)?;
        self.reap_background(true);
        self.background_err.take().map_or(Ok(()), Err)
    }

    /// Deletes every segment numbered below `segment`.
    pub fn truncate(&mut self, segment: u32) -> Result<(), WalError> {
        self.stats.truncations += 1;
        for s in segments(&self.dir)? {
            if s >= segment || s == self.segment {
                break;
            }
            let p = self.dir.join(segment_name(s));
            fs::remove_file(&p).map_err(io_err(&p))?;
        }
        Ok(())
    }

    /// Flushes, syncs and closes the WAL.
    pub fn close(mut self) -> Result<(), WalError> {
        self.sync()
    }
}

fn create_segment(dir: &Path, i: u32) -> Result<File, WalError> {
    let p = dir.join(segment_name(i));
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .map_err(io_err(&p))?;
    // Make the new file's directory entry durable too.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(f)
}
