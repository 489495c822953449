//! `Db`: a data directory opened for reading and writing.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::{Mutex, RwLock};

use narthex_model::Matcher;
use narthex_storage::{Appendable, Appender, Querier, Queryable, StorageError};

use crate::block::{Block, TMP_CREATION_SUFFIX, TMP_DELETION_SUFFIX};
use crate::head::series::ChunkOpts;
use crate::head::{Head, HeadAppender, HeadQuerier, ReplayReport, TruncateReport, wal_err};
use crate::index::{PostingsSource, postings_for_matchers};
use crate::querier::{CorruptBlock, CorruptBlocks, DbQuerier};
use crate::record::{self, RefTombstone};
use crate::wlog::WalOptions;

const DAY: i64 = 24 * 60 * 60 * 1000;

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
    /// Time-based retention in milliseconds: a block is deleted once the newest block's
    /// end is this far past its end (15 days; 0 keeps blocks forever).
    pub retention_duration: i64,
    /// Size-based retention in bytes: the oldest blocks are deleted while blocks, WAL and
    /// head chunks together take more (0, the default, sets no limit).
    pub max_bytes: u64,
    /// The largest block compaction makes, in milliseconds (Prometheus's server default:
    /// a tenth of the retention, at most 31 days).
    pub max_block_duration: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wal_segment_size: crate::wlog::DEFAULT_SEGMENT_SIZE,
            wal_compression: true,
            chunk_range: 2 * 60 * 60 * 1000,
            samples_per_chunk: 120,
            out_of_order_time_window: 0,
            retention_duration: 15 * DAY,
            max_bytes: 0,
            max_block_duration: 15 * DAY / 10,
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
    options: Options,
    head: Head,
    report: ReplayReport,
    /// Persisted blocks, sorted by min time.
    blocks: RwLock<Vec<Arc<Block>>>,
    corrupt: CorruptBlocks,
    /// Serializes compactions, retention, snapshots and tombstone cleaning.
    compaction: Mutex<()>,
    _lock: Option<File>,
    /// For a read-only database: the scratch directory its head chunks live in.
    scratch: Option<ScratchDir>,
    /// Head chunks loaded from disk at open, and the seconds the replay took.
    opened_chunks: u64,
    replay_seconds: f64,
}

/// The head's cardinality statistics ([`Db::head_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadStats {
    /// Series in the head.
    pub num_series: u64,
    /// Chunks in the head (on disk and being written).
    pub chunk_count: u64,
    /// Distinct `name=value` pairs.
    pub num_label_pairs: u64,
    /// Oldest sample timestamp (0 when empty).
    pub min_time: i64,
    /// Newest sample timestamp (0 when empty).
    pub max_time: i64,
    /// Series per metric name.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Distinct values per label name.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Bytes of all values per label name.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// Series per `name=value` pair.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

/// What a call to [`Db::compact`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Blocks written from the head (in-order and out-of-order data).
    pub head_blocks: Vec<ulid::Ulid>,
    /// Blocks written by merging blocks.
    pub merged_blocks: Vec<ulid::Ulid>,
    /// Blocks deleted: merged into others or past retention.
    pub deleted_blocks: Vec<ulid::Ulid>,
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
        let lock = lock_dir(&dir)?;
        Db::open_inner(dir, options, Some(lock), None)
    }

    /// Opens `dir` for reading only, as Prometheus's tools do (`promtool tsdb dump`): it
    /// may be in use by a running server; nothing in it is changed (no lock, no WAL
    /// segment, no repairs, no compaction). The head is rebuilt from a scratch copy of the
    /// head chunk files (hard links where possible) and the WAL. Appends, deletions and
    /// compactions fail.
    pub fn open_read_only(dir: impl AsRef<Path>, options: Options) -> Result<Db, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(StorageError::Io {
                path: dir.display().to_string(),
                message: "not a directory".into(),
            });
        }
        let scratch = ScratchDir::new()?;
        let src = dir.join("chunks_head");
        if src.is_dir() {
            link_tree(&src, &scratch.0.join("chunks_head"))?;
        }
        Db::open_inner(dir, options, None, Some(scratch))
    }

    fn open_inner(
        dir: PathBuf,
        options: Options,
        lock: Option<File>,
        scratch: Option<ScratchDir>,
    ) -> Result<Db, StorageError> {
        let read_only = scratch.is_some();
        let chunks_dir = match &scratch {
            Some(s) => s.0.join("chunks_head"),
            None => dir.join("chunks_head"),
        };
        let wal_opts = WalOptions {
            segment_size: options.wal_segment_size,
            compress: options.wal_compression,
        };
        let chunk_opts = ChunkOpts {
            chunk_range: options.chunk_range.max(1),
            samples_per_chunk: options.samples_per_chunk.max(4),
            ooo_window: options.out_of_order_time_window.max(0),
            min_valid: i64::MIN,
        };
        let corrupt = CorruptBlocks::default();
        let blocks = load_blocks(&dir, &corrupt, read_only)?;
        let min_valid = blocks
            .iter()
            .map(|b| b.time_range().1)
            .max()
            .unwrap_or(i64::MIN);
        let replay_started = std::time::Instant::now();
        let (head, report) = Head::open(
            &chunks_dir,
            &dir.join("wal"),
            wal_opts,
            chunk_opts,
            min_valid,
            read_only,
        )?;
        let opened_chunks = report.mmapped_chunks;
        let db = Db {
            dir,
            options,
            head,
            report,
            blocks: RwLock::new(blocks),
            corrupt,
            compaction: Mutex::new(()),
            _lock: lock,
            scratch,
            opened_chunks,
            replay_seconds: replay_started.elapsed().as_secs_f64(),
        };
        if min_valid != i64::MIN {
            // Drop head chunks of ranges already persisted (left when a crash came between
            // writing a block and truncating the head).
            db.truncate_head(min_valid)?;
        }
        Ok(db)
    }

    fn writable(&self) -> Result<(), StorageError> {
        if self.scratch.is_some() {
            return Err(StorageError::Other(
                "the database was opened read-only".into(),
            ));
        }
        Ok(())
    }

    /// The persisted blocks, oldest first (corrupt ones left out).
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks
            .read()
            .iter()
            .filter(|b| !self.corrupt.contains(b.dir()))
            .cloned()
            .collect()
    }

    /// Blocks left out of queries because their files are corrupt, with what was found.
    pub fn corrupt_blocks(&self) -> Vec<CorruptBlock> {
        self.corrupt.list()
    }

    /// The out-of-order window in force, in milliseconds (0: out-of-order samples are
    /// refused).
    pub fn out_of_order_time_window(&self) -> i64 {
        self.head.ooo_window()
    }

    /// Changes the out-of-order window (as a configuration reload does in Prometheus);
    /// appenders started afterwards use it.
    pub fn set_out_of_order_time_window(&self, ms: i64) {
        self.head.set_ooo_window(ms);
    }

    /// The options the database was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening found: series and samples replayed, corruption repaired.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.report
    }

    /// Samples committed through appenders since the database was opened (WAL replay
    /// not counted), as Prometheus's `prometheus_tsdb_head_samples_appended_total`.
    pub fn appended_samples(&self) -> u64 {
        self.head.samples_appended.load(Ordering::Relaxed)
    }

    /// Cardinality statistics of the head, as Prometheus's `/api/v1/status/tsdb` reports
    /// them: each list sorted by count (largest first), at most `limit` entries.
    pub fn head_stats(&self, limit: usize) -> HeadStats {
        let mut by_metric = Vec::new();
        let mut values_by_name = Vec::new();
        let mut bytes_by_name = Vec::new();
        let mut by_pair = Vec::new();
        {
            let p = self.head.postings.read();
            for (name, values) in p.cardinalities() {
                let (mut n, mut bytes) = (0u64, 0u64);
                for (value, series) in values {
                    n += 1;
                    bytes += value.len() as u64;
                    if name == "__name__" {
                        by_metric.push((value.to_string(), series as u64));
                    }
                    by_pair.push((format!("{name}={value}"), series as u64));
                }
                values_by_name.push((name.to_string(), n));
                bytes_by_name.push((name.to_string(), bytes));
            }
        }
        let top = |mut v: Vec<(String, u64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(limit);
            v
        };
        let chunk_count = self
            .head
            .all_series()
            .iter()
            .map(|s| {
                let st = s.state.lock();
                st.mmapped.len() as u64
                    + u64::from(st.head.as_ref().is_some_and(|h| h.chunk.num_samples() > 0))
            })
            .sum();
        let (min_time, max_time) = self.time_range().unwrap_or((0, 0));
        let num_label_pairs = by_pair.len() as u64;
        HeadStats {
            num_series: self.num_series() as u64,
            chunk_count,
            num_label_pairs,
            min_time,
            max_time,
            series_count_by_metric_name: top(by_metric),
            label_value_count_by_label_name: top(values_by_name),
            memory_in_bytes_by_label_name: top(bytes_by_name),
            series_count_by_label_value_pair: top(by_pair),
        }
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

    /// Deletes the samples in `[mint, maxt]` of every series matching `matchers`: in the
    /// head the deletion is logged to the WAL (as tombstones) and in blocks written to
    /// their `tombstones` files before this returns. Compaction later drops the data.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), StorageError> {
        self.writable()?;
        for b in self.blocks() {
            b.delete(mint, maxt, matchers)?;
        }
        self.delete_head(mint, maxt, matchers)
    }

    fn delete_head(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), StorageError> {
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
        let c = &self.head.counters;
        crate::metrics::Counters::inc(&c.head_truncations);
        self.head
            .truncate(&self.dir.join("wal"), mint)
            .inspect_err(|_| crate::metrics::Counters::inc(&c.head_truncations_failed))
    }

    /// The database's own figures for monitoring (Prometheus's `prometheus_tsdb_*`
    /// metrics): cheap to call, nothing is scanned.
    pub fn metrics(&self) -> crate::DbMetrics {
        use crate::metrics::Counters as C;
        let c = &self.head.counters;
        let (wal_segment, wal) = match self.head.wal.lock().as_ref() {
            Some(w) => (u64::from(w.current_segment()), w.stats()),
            None => (0, crate::wlog::WalStats::default()),
        };
        let chunks_started = self.head.disk.lock().chunks_started;
        let blocks = self.blocks();
        let created = self.opened_chunks + chunks_started;
        let removed = C::get(&c.chunks_removed);
        let (hmin, hmax) = (self.head.min_time(), self.head.max_time());
        let lowest = blocks
            .iter()
            .map(|b| b.time_range().0)
            .chain((hmin <= hmax).then_some(hmin))
            .min()
            .unwrap_or(i64::MAX);
        crate::DbMetrics {
            head_series: self.head.num_series() as u64,
            head_series_created: C::get(&c.series_created),
            head_series_removed: C::get(&c.series_removed),
            head_chunks: created.saturating_sub(removed),
            head_chunks_created: created,
            head_chunks_removed: removed,
            head_min_time: hmin,
            head_max_time: hmax,
            head_truncations: C::get(&c.head_truncations),
            head_truncations_failed: C::get(&c.head_truncations_failed),
            active_appenders: self.head.appenders.lock().len() as u64,
            samples_appended: self.appended_samples(),
            out_of_order_samples: C::get(&c.out_of_order),
            out_of_bound_samples: C::get(&c.out_of_bounds),
            too_old_samples: C::get(&c.too_old),
            wal_segment_current: wal_segment,
            wal_page_flushes: wal.page_flushes,
            wal_completed_pages: wal.completed_pages,
            wal_fsyncs: wal.fsyncs,
            wal_fsync_seconds: wal.fsync_seconds,
            wal_writes_failed: wal.writes_failed,
            wal_truncations: wal.truncations,
            checkpoint_creations: C::get(&c.checkpoints),
            checkpoint_creations_failed: C::get(&c.checkpoints_failed),
            compactions: C::get(&c.compactions),
            compactions_failed: C::get(&c.compactions_failed),
            compactions_triggered: C::get(&c.compactions_triggered),
            reloads: C::get(&c.reloads),
            time_retentions: C::get(&c.time_retentions),
            size_retentions: C::get(&c.size_retentions),
            blocks_loaded: blocks.len() as u64,
            blocks_bytes: blocks.iter().map(|b| b.size()).sum(),
            lowest_timestamp: lowest,
            replay_seconds: self.replay_seconds,
        }
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
        Box::new(HeadAppender::new(&self.head))
    }
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        let head = HeadQuerier {
            head: &self.head,
            mint,
            maxt,
        };
        let blocks: Vec<Arc<Block>> = self
            .blocks()
            .into_iter()
            .filter(|b| {
                let (bmin, bmax) = b.time_range();
                maxt >= bmin && mint < bmax
            })
            .collect();
        if blocks.is_empty() {
            return Ok(Box::new(head));
        }
        Ok(Box::new(DbQuerier {
            blocks,
            head: Some(head),
            mint,
            maxt,
            corrupt: &self.corrupt,
        }))
    }
}

/// Takes the data directory's lock file, as Prometheus does.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, StorageError> {
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
    Ok(lock)
}

/// A temporary directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<ScratchDir, StorageError> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "narthex-read-only-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&p).map_err(io(&p))?;
        Ok(ScratchDir(p))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Whether a directory name is a block's (a ULID).
fn block_ulid(name: &str) -> Option<ulid::Ulid> {
    ulid::Ulid::from_string(name).ok()
}

/// Removes leftovers of interrupted block writes and deletions, opens every block, and
/// deletes blocks a finished compaction had already merged into another.
fn load_blocks(
    dir: &Path,
    corrupt: &CorruptBlocks,
    read_only: bool,
) -> Result<Vec<Arc<Block>>, StorageError> {
    let mut blocks = Vec::new();
    let entries = fs::read_dir(dir).map_err(io(dir))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        if name.ends_with(TMP_CREATION_SUFFIX) || name.ends_with(TMP_DELETION_SUFFIX) {
            if read_only {
                continue;
            }
            tracing::info!(dir = %path.display(), "removing an unfinished block directory");
            fs::remove_dir_all(&path).map_err(io(&path))?;
            continue;
        }
        if block_ulid(&name).is_none() {
            continue;
        }
        if !read_only && let Err(e) = repair_bad_index_version(&path) {
            tracing::warn!(block = %path.display(), error = %e, "repairing the block's index version failed");
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(e) => {
                tracing::error!(block = %path.display(), error = %e, "corrupt block: leaving it out of queries");
                corrupt.add(CorruptBlock {
                    dir: path,
                    error: e.to_string(),
                });
            }
        }
    }
    // A compaction that wrote its block but died before deleting the blocks it merged.
    let parents: HashSet<ulid::Ulid> = blocks
        .iter()
        .flat_map(|b| {
            b.meta()
                .compaction
                .parents
                .iter()
                .map(|p| p.ulid)
                .collect::<Vec<_>>()
        })
        .collect();
    let (superseded, mut live): (Vec<_>, Vec<_>) = blocks
        .into_iter()
        .partition(|b| parents.contains(&b.meta().ulid));
    if !read_only {
        for b in superseded {
            delete_block_dir(b.dir())?;
        }
    }
    live.sort_by_key(|b| b.time_range());
    Ok(live)
}

/// Blocks written by Prometheus 2.1 say `"version": 2` in `meta.json` while their index
/// header says format 1 though the index is format 2. Prometheus repairs them on open by
/// fixing the index's version byte and rewriting the meta as version 1; so does this.
fn repair_bad_index_version(dir: &Path) -> Result<(), StorageError> {
    use crate::block::meta;
    let Ok(m) = meta::read_for_repair(dir) else {
        return Ok(());
    };
    if m.version == meta::META_VERSION {
        return Ok(());
    }
    tracing::info!(block = %dir.display(), "repairing the index version of a Prometheus 2.1 block");
    let index = dir.join("index");
    let mut bytes = fs::read(&index).map_err(io(&index))?;
    if bytes.len() < 5 {
        return Err(crate::block::BlockError::corruption(
            &index,
            0,
            "index shorter than its header",
        )
        .into());
    }
    bytes[4] = 2;
    crate::block::write_atomic(dir, "index", &bytes)?;
    meta::write(dir, &m)?;
    Ok(())
}

/// Deletes a block directory atomically: renamed aside first, so a crash midway leaves
/// a leftover that the next open removes, never half a block.
fn delete_block_dir(path: &Path) -> Result<(), StorageError> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let aside = path.with_file_name(format!("{name}{TMP_DELETION_SUFFIX}"));
    fs::rename(path, &aside).map_err(io(path))?;
    if let Some(parent) = path.parent() {
        crate::block::sync_dir(parent)?;
    }
    fs::remove_dir_all(&aside).map_err(io(&aside))?;
    Ok(())
}

fn dir_size(p: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(p) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Compaction, retention and the admin operations built on them.
impl Db {
    /// The block ranges leveled compaction builds: Prometheus's exponential ranges (the
    /// chunk range, then three times larger at each step) up to the largest block.
    pub fn block_ranges(&self) -> Vec<i64> {
        let min = self.head.opts.chunk_range;
        let mut r: Vec<i64> = crate::compact::exponential_block_ranges(min, 10, 3)
            .into_iter()
            .filter(|r| *r <= self.options.max_block_duration)
            .collect();
        if r.is_empty() {
            r.push(min);
        }
        r
    }

    /// Runs one round of compaction, as Prometheus's background loop does every minute:
    /// persists the head's oldest block range while the head spans more than one and a
    /// half ranges, persists out-of-order samples that fall into persisted ranges, merges
    /// blocks as planned (overlapping blocks first, then leveled), and applies retention.
    /// New blocks appear atomically; the head and WAL are truncated only after the block
    /// holding their data is in place.
    pub fn compact(&self) -> Result<CompactReport, StorageError> {
        self.writable()?;
        let _g = self.compaction.lock();
        use crate::metrics::Counters as C;
        let c = &self.head.counters;
        C::inc(&c.compactions_triggered);
        let mut report = CompactReport::default();
        let result = (|| {
            self.compact_head(&mut report)?;
            self.compact_ooo(&mut report)?;
            self.compact_blocks(&mut report)
        })();
        // Retention runs whatever happened above: a block that cannot be compacted must
        // not keep old data on disk for ever.
        let result = result.and(self.apply_retention(&mut report));
        C::add(
            &c.compactions,
            (report.head_blocks.len() + report.merged_blocks.len()) as u64,
        );
        C::inc(&c.reloads);
        match result {
            Ok(()) => Ok(report),
            Err(e) => {
                C::inc(&c.compactions_failed);
                Err(e)
            }
        }
    }

    fn add_block(
        &self,
        meta: Option<crate::block::meta::BlockMeta>,
    ) -> Result<Option<ulid::Ulid>, StorageError> {
        let Some(meta) = meta else {
            return Ok(None);
        };
        let b = Block::open(&self.dir.join(meta.ulid.to_string()))?;
        let mut blocks = self.blocks.write();
        blocks.push(Arc::new(b));
        blocks.sort_by_key(|b| b.time_range());
        Ok(Some(meta.ulid))
    }

    /// Drops out-of-order samples a block now holds (unless replaced since).
    fn forget_ooo(&self, persisted: &std::collections::HashMap<u64, Vec<i64>>) {
        for (r, ts) in persisted {
            if let Some(s) = self.head.by_ref(*r) {
                let mut st = s.state.lock();
                // Start timestamps go with the samples, unless an in-order chunk may hold
                // a sample at the same time (it wins over the out-of-order one).
                let keep_st: Vec<bool> = ts.iter().map(|t| st.in_order_spans(*t)).collect();
                if let Some(e) = st.extra.as_mut() {
                    for (t, keep) in ts.iter().zip(keep_st) {
                        if e.ooo.remove(t).is_some() && !keep {
                            e.start_times.remove(*t);
                        }
                    }
                }
            }
        }
    }

    fn compact_head(&self, report: &mut CompactReport) -> Result<(), StorageError> {
        let range = self.head.opts.chunk_range;
        loop {
            let (hmin, hmax) = (self.head.min_time(), self.head.max_time());
            if hmin > hmax || hmax - hmin <= range / 2 * 3 {
                return Ok(());
            }
            let mint = hmin;
            let maxt = crate::head::series::range_end(mint, range);
            // From here on, samples for the range being persisted are out-of-order samples
            // (or out of bounds), never new in-order data the block would miss.
            self.head.min_valid_time.fetch_max(maxt, Ordering::SeqCst);
            // Appenders created before that may still add in-order samples below `maxt`:
            // wait for them (an appender held open for long postpones the compaction).
            if !self
                .head
                .wait_for_appenders_below(maxt, std::time::Duration::from_secs(10))
            {
                tracing::warn!("an appender stays open; head compaction postponed");
                return Ok(());
            }
            // Truncation drops everything older than `maxt`, so the block takes everything
            // older than `maxt` that is in memory now (appends that were in flight while
            // we waited may have landed before `mint`).
            let lo = self.head.data_min_below(maxt).unwrap_or(mint).min(mint);
            let written = crate::compact::write_head_block(&self.dir, &self.head, lo, maxt, false)?;
            if let Some(u) = self.add_block(written.meta)? {
                report.head_blocks.push(u);
            }
            self.forget_ooo(&written.ooo_persisted);
            self.truncate_head(maxt)?;
        }
    }

    fn compact_ooo(&self, report: &mut CompactReport) -> Result<(), StorageError> {
        let min_valid = self.head.min_valid_time.load(Ordering::SeqCst);
        if min_valid == i64::MIN {
            return Ok(());
        }
        let range = self.head.opts.chunk_range;
        let mut starts: Vec<i64> = Vec::new();
        for s in self.head.all_series() {
            let st = s.state.lock();
            for t in st.ooo().range(..min_valid).map(|(t, _)| *t) {
                let start = t.div_euclid(range) * range;
                if starts.last() != Some(&start) {
                    starts.push(start);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        for start in starts {
            let end = (start + range).min(min_valid);
            let written =
                crate::compact::write_head_block(&self.dir, &self.head, start, end, true)?;
            if let Some(u) = self.add_block(written.meta)? {
                report.head_blocks.push(u);
            }
            self.forget_ooo(&written.ooo_persisted);
        }
        Ok(())
    }

    fn compact_blocks(&self, report: &mut CompactReport) -> Result<(), StorageError> {
        let ranges = self.block_ranges();
        let mut failed = None;
        loop {
            let blocks = self.blocks();
            let metas: Vec<_> = blocks.iter().map(|b| b.meta()).collect();
            let picked = crate::compact::plan(&metas, &ranges);
            if picked.is_empty() {
                return failed.map_or(Ok(()), Err);
            }
            let inputs: Vec<Arc<Block>> = picked.iter().map(|&i| Arc::clone(&blocks[i])).collect();
            let meta = match crate::compact::compact_blocks(
                &self.dir,
                &inputs,
                self.head.opts.samples_per_chunk,
            ) {
                Ok(meta) => meta,
                Err(e @ StorageError::Corruption { .. }) => {
                    self.compaction_failed(&inputs, &e)?;
                    failed.get_or_insert(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(u) = self.add_block(meta)? {
                report.merged_blocks.push(u);
            }
            self.remove_blocks(&inputs, report)?;
        }
    }

    /// A merge met corrupt data: as Prometheus does, every input is marked as failed in
    /// its `meta.json`, so later plans leave it out and the other blocks still merge; the
    /// block holding the corrupt file is also left out of queries.
    fn compaction_failed(
        &self,
        inputs: &[Arc<Block>],
        e: &StorageError,
    ) -> Result<(), StorageError> {
        tracing::error!(error = %e, blocks = inputs.len(), "compaction failed on corrupt data; leaving its blocks out of compaction");
        if let StorageError::Corruption { file, .. } = e {
            for b in inputs
                .iter()
                .filter(|b| Path::new(file).starts_with(b.dir()))
            {
                self.corrupt.mark(b, e);
            }
        }
        inputs.iter().try_for_each(|b| b.set_compaction_failed())
    }

    fn remove_blocks(
        &self,
        gone: &[Arc<Block>],
        report: &mut CompactReport,
    ) -> Result<(), StorageError> {
        if gone.is_empty() {
            return Ok(());
        }
        self.blocks
            .write()
            .retain(|b| !gone.iter().any(|g| Arc::ptr_eq(b, g)));
        for b in gone {
            delete_block_dir(b.dir())?;
            self.corrupt.forget(b.dir());
            report.deleted_blocks.push(b.meta().ulid);
        }
        Ok(())
    }

    fn apply_retention(&self, report: &mut CompactReport) -> Result<(), StorageError> {
        // Corrupt blocks too: left out of queries, they still age out.
        let mut blocks = self.blocks.read().clone();
        blocks.sort_by_key(|b| std::cmp::Reverse(b.time_range().1));
        let mut gone: Vec<Arc<Block>> = Vec::new();
        if self.options.retention_duration > 0
            && let Some(newest) = blocks.first()
        {
            let newest_max = newest.time_range().1;
            for b in blocks.iter().skip(1) {
                if newest_max - b.time_range().1 >= self.options.retention_duration {
                    gone.push(Arc::clone(b));
                    crate::metrics::Counters::inc(&self.head.counters.time_retentions);
                }
            }
        }
        if self.options.max_bytes > 0 {
            let mut size =
                dir_size(&self.dir.join("wal")) + dir_size(&self.dir.join("chunks_head"));
            for (i, b) in blocks.iter().enumerate() {
                size += b.size();
                if size > self.options.max_bytes {
                    for b in &blocks[i..] {
                        if !gone.iter().any(|g| Arc::ptr_eq(g, b)) {
                            gone.push(Arc::clone(b));
                            crate::metrics::Counters::inc(&self.head.counters.size_retentions);
                        }
                    }
                    break;
                }
            }
        }
        for b in &gone {
            tracing::info!(block = %b.dir().display(), "deleting block past retention");
        }
        self.remove_blocks(&gone, report)
    }

    /// Rewrites every block that has tombstones without the deleted data (Prometheus's
    /// `clean_tombstones` admin operation). Returns the new blocks.
    pub fn clean_tombstones(&self) -> Result<Vec<ulid::Ulid>, StorageError> {
        self.writable()?;
        let _g = self.compaction.lock();
        let mut report = CompactReport::default();
        let mut out = Vec::new();
        for b in self.blocks() {
            if !b.has_tombstones() {
                continue;
            }
            let meta = crate::compact::compact_blocks(
                &self.dir,
                std::slice::from_ref(&b),
                self.head.opts.samples_per_chunk,
            )?;
            if let Some(u) = self.add_block(meta)? {
                out.push(u);
            }
            self.remove_blocks(std::slice::from_ref(&b), &mut report)?;
        }
        Ok(out)
    }

    /// Writes a consistent copy of the database into `dir` (created if missing): every
    /// block hard-linked (copied where links are not possible) and, with `with_head`, the
    /// head's data as one more block. Returns the directory's block ULIDs.
    pub fn snapshot(&self, dir: &Path, with_head: bool) -> Result<Vec<ulid::Ulid>, StorageError> {
        let _g = self.compaction.lock();
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut out = Vec::new();
        for b in self.blocks() {
            let Some(name) = b.dir().file_name() else {
                continue;
            };
            let dst = dir.join(name);
            link_tree(b.dir(), &dst)?;
            out.push(b.meta().ulid);
        }
        if with_head {
            let (hmin, hmax) = (self.head.min_time(), self.head.max_time());
            if hmin <= hmax {
                let written =
                    crate::compact::write_head_block(dir, &self.head, hmin, hmax + 1, false)?;
                if let Some(m) = written.meta {
                    out.push(m.ulid);
                }
            }
        }
        crate::block::sync_dir(dir)?;
        Ok(out)
    }
}

/// Hard-links (or copies) every file under `src` into `dst`.
fn link_tree(src: &Path, dst: &Path) -> Result<(), StorageError> {
    fs::create_dir_all(dst).map_err(io(dst))?;
    for e in fs::read_dir(src).map_err(io(src))? {
        let e = e.map_err(io(src))?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if e.file_type().map_err(io(&from))?.is_dir() {
            link_tree(&from, &to)?;
        } else if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(io(&from))?;
        }
    }
    Ok(())
}
