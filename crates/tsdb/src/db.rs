//! `Db`: a data directory opened for reading and writing.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use narthex_model::Matcher;
use narthex_storage::{Appendable, Appender, Querier, Queryable, StorageError};

use crate::head::series::ChunkOpts;
use crate::head::{Head, HeadAppender, HeadQuerier, ReplayReport, TruncateReport, wal_err};
use crate::index::{PostingsSource, postings_for_matchers};
use crate::record::{self, RefTombstone};
use crate::wlog::WalOptions;

/// Options for [`Db::open`], with Prometheus's defaults.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// WAL segment size in bytes (128 MiB).
    pub wal_segment_size: usize,
    /// Snappy-compress WAL records (on).
    pub wal_compression: bool,
    /// The block range head chunks are aligned to, in milliseconds (2 hours).
    pub chunk_range: i64,
    /// Samples per head chunk (120).
    pub samples_per_chunk: usize,
    /// Prometheus's `out_of_order_time_window` in milliseconds: a sample older than its
    /// series' newest is accepted when it is no older than the head's newest sample minus
    /// this window (0, the default, rejects every out-of-order sample).
    pub out_of_order_time_window: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wal_segment_size: crate::wlog::DEFAULT_SEGMENT_SIZE,
            wal_compression: true,
            chunk_range: 2 * 60 * 60 * 1000,
            samples_per_chunk: 120,
            out_of_order_time_window: 0,
        }
    }
}

/// A time-series database in a directory, laid out as Prometheus lays out its data
/// directory (`wal/`, `chunks_head/`, `lock`).
///
/// Appenders may be used from many threads at once; each [`Appender::commit`] writes its
/// batch to the WAL before it returns, so a committed sample survives the process being
/// killed.
pub struct Db {
    dir: PathBuf,
    head: Head,
    report: ReplayReport,
    _lock: File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |e| StorageError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl Db {
    /// Opens (or creates) the database in `dir`. Fails if another process holds it.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Db, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let lock_path = dir.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        // A child process being spawned elsewhere in this process briefly shares every
        // open file until it execs, which can make the lock look taken for a moment;
        // retry for a short while before reporting the directory as in use.
        let mut attempt = 0;
        while let Err(e) = lock.try_lock() {
            attempt += 1;
            if attempt >= 20 {
                return Err(StorageError::Io {
                    path: lock_path.display().to_string(),
                    message: format!("data directory is in use by another process ({e})"),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        let wal_opts = WalOptions {
            segment_size: options.wal_segment_size,
            compress: options.wal_compression,
        };
        let chunk_opts = ChunkOpts {
            chunk_range: options.chunk_range,
            samples_per_chunk: options.samples_per_chunk.max(4),
            ooo_window: options.out_of_order_time_window.max(0),
        };
        let (head, report) = Head::open(&dir, wal_opts, chunk_opts)?;
        Ok(Db {
            dir,
            head,
            report,
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening found: series and samples replayed, corruption repaired.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.report
    }

    /// Number of series in the head.
    pub fn num_series(&self) -> usize {
        self.head.num_series()
    }

    /// Oldest and newest sample timestamps, if any.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let (a, b) = (
            self.head.min_time.load(Ordering::Relaxed),
            self.head.max_time.load(Ordering::Relaxed),
        );
        (a <= b).then_some((a, b))
    }

    /// Deletes the samples in `[mint, maxt]` of every series matching `matchers`. The
    /// deletion is logged to the WAL (as tombstones) before this returns.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), StorageError> {
        let refs = {
            let p = self.head.postings.read();
            postings_for_matchers(&*p as &dyn PostingsSource, matchers)?
        };
        if refs.is_empty() {
            return Ok(());
        }
        let stones: Vec<RefTombstone> = refs
            .iter()
            .map(|r| RefTombstone { r: *r, mint, maxt })
            .collect();
        // Series created by an appender that rolled back are not in the WAL yet; log them
        // first so the tombstones refer to series a restart knows.
        let series: Vec<_> = refs.iter().filter_map(|r| self.head.by_ref(*r)).collect();
        let unlogged: Vec<record::RefSeries> = series
            .iter()
            .filter(|s| !s.logged.load(Ordering::Acquire))
            .map(|s| record::RefSeries {
                r: s.r,
                labels: s.labels.clone(),
            })
            .collect();
        let mut recs = Vec::new();
        if !unlogged.is_empty() {
            let mut b = Vec::new();
            record::encode_series(&unlogged, &mut b);
            recs.push(b);
        }
        let mut b = Vec::new();
        record::encode_tombstones(&stones, &mut b);
        recs.push(b);
        let refs_b: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
        match self.head.wal.lock().as_mut() {
            Some(w) => w.log(&refs_b).map_err(wal_err)?,
            None => return Err(StorageError::Closed),
        }
        for s in &series {
            s.logged.store(true, Ordering::Release);
        }
        let mut ts = self.head.tombstones.write();
        for r in refs {
            ts.entry(r).or_default().push((mint, maxt));
        }
        Ok(())
    }

    /// Drops data older than `mint` from the head, removes series left empty, deletes head
    /// chunk files nothing uses, and checkpoints the older WAL segments (Prometheus does
    /// this after persisting the head's oldest data as a block).
    pub fn truncate_head(&self, mint: i64) -> Result<TruncateReport, StorageError> {
        self.head.truncate(&self.dir.join("wal"), mint)
    }

    /// Flushes and syncs the WAL and head chunks and closes the database.
    pub fn close(self) -> Result<(), StorageError> {
        if let Some(w) = self.head.wal.lock().take() {
            w.close().map_err(wal_err)?;
        }
        self.head
            .disk
            .lock()
            .sync()
            .map_err(crate::head::chunk_err)?;
        Ok(())
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(HeadAppender::new(&self.head, i64::MIN))
    }
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(HeadQuerier {
            head: &self.head,
            mint,
            maxt,
        }))
    }
}
