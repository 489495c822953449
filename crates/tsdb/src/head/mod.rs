//! The head: the in-memory, WAL-backed part of the database that takes every write.

pub(crate) mod appender;
mod querier;
pub(crate) mod series;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use narthex_model::Labels;
use narthex_storage::StorageError;
use parking_lot::{Mutex, RwLock};

pub(crate) use appender::HeadAppender;
pub(crate) use querier::HeadQuerier;
use series::{ChunkOpts, MemSeries, MmappedChunk, life};

use crate::chunk::HeadValue;
use crate::chunks_head::{ChunkDiskMapper, ChunkFileError};
use crate::index::MemPostings;
use crate::record::{self, Record};
use crate::refmap::{IntMap, RefTable};
use crate::wlog::{self, RecordReader, Wal, WalError, WalOptions};

/// Lock stripes for the series maps: enough to keep appender threads apart on any
/// machine this runs on, few enough not to cost memory per series at small scale.
const STRIPES: usize = 4096;

/// What opening the head found and did, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Series restored.
    pub series: u64,
    /// Samples replayed from the WAL.
    pub samples: u64,
    /// Chunks found in `chunks_head/`.
    pub mmapped_chunks: u64,
    /// WAL samples for series the WAL never declared (dropped).
    pub unknown_refs: u64,
    /// The WAL corruption found and repaired, if any.
    pub wal_corruption: Option<String>,
    /// The head chunk file corruption found and repaired, if any.
    pub chunk_corruption: Option<String>,
}

/// What a head truncation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TruncateReport {
    /// Chunks dropped because they ended before the new lower bound.
    pub chunks_dropped: u64,
    /// Series removed because no data was left.
    pub series_removed: u64,
    /// The WAL segment the new checkpoint covers up to, if one was written.
    pub checkpoint: Option<u32>,
}

pub(crate) struct Head {
    /// Opened by a tool to read: the WAL and chunk files are never changed.
    read_only: bool,
    pub(crate) opts: ChunkOpts,
    /// The out-of-order window in force (`opts.ooo_window` at open; changed by
    /// [`Head::set_ooo_window`]).
    ooo_window: AtomicI64,
    /// Series by label hash, striped to spread lock contention.
    stripes: Vec<RwLock<IntMap<Vec<Arc<MemSeries>>>>>,
    /// Series by reference.
    refs: RefTable<Arc<MemSeries>>,
    pub(crate) postings: RwLock<MemPostings>,
    next_ref: AtomicU64,
    /// The WAL writer; `None` only while replaying.
    pub(crate) wal: Mutex<Option<Wal>>,
    pub(crate) disk: Mutex<ChunkDiskMapper>,
    pub(crate) min_time: AtomicI64,
    pub(crate) max_time: AtomicI64,
    /// The head's lower bound: the end of the newest persisted block.
    pub(crate) min_valid_time: AtomicI64,
    pub(crate) tombstones: RwLock<HashMap<u64, Vec<(i64, i64)>>>,
    /// Buffers of finished appenders, reused so batches do not regrow them.
    pub(crate) pool: Mutex<Vec<appender::Buffers>>,
    /// Live appenders and the lower bound each took at creation: a head compaction waits
    /// for those that may still write into the range it persists.
    pub(crate) appenders: Mutex<HashMap<u64, i64>>,
    /// Held by a truncation while it garbage-collects series.
    gc: Mutex<()>,
    /// Samples committed since opening (Prometheus's
    /// `prometheus_tsdb_head_samples_appended_total`).
    pub(crate) samples_appended: AtomicU64,
    /// The rest of the head's own figures ([`crate::DbMetrics`]).
    pub(crate) counters: crate::metrics::Counters,
}

pub(crate) fn wal_err(e: WalError) -> StorageError {
    match e {
        WalError::Io { path, source } => StorageError::Io {
            path: path.display().to_string(),
            message: source.to_string(),
        },
        WalError::Corruption(c) => StorageError::Corruption {
            file: c.path.display().to_string(),
            offset: c.offset,
            what: c.what,
        },
        other => StorageError::Other(other.to_string()),
    }
}

pub(crate) fn chunk_err(e: ChunkFileError) -> StorageError {
    match e {
        ChunkFileError::Io { path, source } => StorageError::Io {
            path: path.display().to_string(),
            message: source.to_string(),
        },
        ChunkFileError::Corruption {
            path, offset, what, ..
        } => StorageError::Corruption {
            file: path.display().to_string(),
            offset,
            what,
        },
    }
}

impl Head {
    /// The out-of-order window in milliseconds (0: out-of-order samples are refused).
    pub(crate) fn ooo_window(&self) -> i64 {
        self.ooo_window.load(Ordering::Relaxed)
    }

    /// Changes the out-of-order window; appenders started afterwards use it.
    pub(crate) fn set_ooo_window(&self, ms: i64) {
        self.ooo_window.store(ms.max(0), Ordering::Relaxed);
    }

    /// Opens the head in `dir`: loads head chunks, replays the WAL (repairing a corrupt
    /// tail), and starts a new WAL segment.
    /// With `read_only`, nothing in `wal_dir` or `chunks_dir` is changed: corruption is
    /// reported but not repaired, no WAL segment is started, truncation writes no
    /// checkpoint. (`chunks_dir` should then be a scratch copy: replay may cut chunks.)
    pub(crate) fn open(
        chunks_dir: &Path,
        wal_dir: &Path,
        wal_opts: WalOptions,
        opts: ChunkOpts,
        min_valid_time: i64,
        read_only: bool,
    ) -> Result<(Head, ReplayReport), StorageError> {
        let mut report = ReplayReport::default();
        let mut disk = ChunkDiskMapper::open(chunks_dir).map_err(chunk_err)?;
        let (chunks, err) = disk.iterate();
        if let Some(e) = err {
            tracing::warn!(error = %e, "head chunk file corrupt; dropping it and later files, the WAL restores their samples");
            report.chunk_corruption = Some(e.to_string());
            if let ChunkFileError::Corruption { file, offset, .. } = e
                && !read_only
            {
                disk.truncate_at(file, offset).map_err(chunk_err)?;
            }
        }
        report.mmapped_chunks = chunks.len() as u64;
        let mut by_series: HashMap<u64, Vec<MmappedChunk>> = HashMap::new();
        for c in chunks {
            by_series
                .entry(c.series_ref)
                .or_default()
                .push(MmappedChunk {
                    chunk_ref: c.chunk_ref,
                    mint: c.mint,
                    maxt: c.maxt,
                });
        }
        let head = Head {
            read_only,
            opts,
            ooo_window: AtomicI64::new(opts.ooo_window.max(0)),
            stripes: (0..STRIPES)
                .map(|_| RwLock::new(IntMap::default()))
                .collect(),
            refs: RefTable::default(),
            postings: RwLock::new(MemPostings::new()),
            next_ref: AtomicU64::new(0),
            // Replay first; the writer opens a fresh segment afterwards.
            wal: Mutex::new(None),
            disk: Mutex::new(disk),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(min_valid_time),
            tombstones: RwLock::new(HashMap::new()),
            pool: Mutex::new(Vec::new()),
            appenders: Mutex::new(HashMap::new()),
            gc: Mutex::new(()),
            samples_appended: AtomicU64::new(0),
            counters: crate::metrics::Counters::default(),
        };
        head.replay(wal_dir, &mut by_series, &mut report)?;
        if !read_only {
            *head.wal.lock() = Some(Wal::open(wal_dir, wal_opts).map_err(wal_err)?);
        }
        Ok((head, report))
    }

    fn replay(
        &self,
        wal_dir: &Path,
        mmapped: &mut HashMap<u64, Vec<MmappedChunk>>,
        report: &mut ReplayReport,
    ) -> Result<(), StorageError> {
        // A checkpoint (if any) holds the state before the oldest remaining segment.
        let mut sources: Vec<(std::path::PathBuf, u32)> = Vec::new();
        if let Some((cp_dir, last)) =
            crate::checkpoint::last_checkpoint(wal_dir).map_err(wal_err)?
        {
            sources.push((cp_dir, 0));
            sources.push((wal_dir.to_path_buf(), last + 1));
        } else {
            sources.push((wal_dir.to_path_buf(), 0));
        }
        for (dir, from) in sources {
            let mut r = match RecordReader::open_from(&dir, from) {
                Ok(r) => r,
                Err(e @ WalError::Gap { .. }) => return Err(wal_err(e)),
                Err(e) => return Err(wal_err(e)),
            };
            loop {
                let rec = match r.next_record() {
                    None => break,
                    Some(Ok(rec)) => rec,
                    Some(Err(WalError::Corruption(c))) => {
                        tracing::warn!(segment = %c.path.display(), offset = c.offset, what = %c.what, "WAL corrupt; repairing by cutting before the first bad record");
                        report.wal_corruption = Some(c.to_string());
                        if !self.read_only {
                            wlog::repair(&dir, &c).map_err(wal_err)?;
                        }
                        break;
                    }
                    Some(Err(e)) => return Err(wal_err(e)),
                };
                let decoded = match record::decode(rec) {
                    Ok(d) => d,
                    Err(e) => {
                        // A record that passed its checksum but does not decode was written
                        // by something else; skip it like Prometheus skips unknown records.
                        tracing::warn!(error = %e, "undecodable WAL record skipped");
                        continue;
                    }
                };
                self.apply_record(decoded, mmapped, report)?;
            }
        }
        // Series whose chunks are all on disk and that never appeared in the WAL again.
        Ok(())
    }

    fn apply_record(
        &self,
        rec: Record,
        mmapped: &mut HashMap<u64, Vec<MmappedChunk>>,
        report: &mut ReplayReport,
    ) -> Result<(), StorageError> {
        match rec {
            Record::Series(v) => {
                for s in v {
                    let (series, created) = self.get_or_create_with_ref(s.r, &s.labels);
                    if created {
                        report.series += 1;
                    }
                    series.logged.store(true, Ordering::Relaxed);
                    if let Some(chunks) = mmapped.remove(&s.r) {
                        let mut st = series.state.lock();
                        for c in &chunks {
                            self.bump_time(c.mint, c.maxt);
                        }
                        st.mmapped = chunks;
                        st.mmapped.sort_by_key(|c| c.mint);
                        series.note_state(&st);
                    }
                }
            }
            Record::Samples(v) => {
                for s in v {
                    self.replay_value(s.r, s.t, s.st, &HeadValue::Float(s.v), report)?;
                }
            }
            Record::Tombstones(v) => {
                for t in v {
                    // A reference the WAL gave to labels that already had one (a series
                    // dropped by truncation and created again) maps to the live series:
                    // its tombstones must follow, or they would hide nothing.
                    let r = self.by_ref(t.r).map_or(t.r, |s| s.r);
                    self.tombstones
                        .write()
                        .entry(r)
                        .or_default()
                        .push((t.mint, t.maxt));
                }
            }
            Record::Metadata(v) => {
                for m in v {
                    if let Some(series) = self.by_ref(m.r) {
                        series.state.lock().extra_mut().metadata = Some(narthex_model::Metadata {
                            metric_type: m.metric_type,
                            help: m.help,
                            unit: m.unit,
                        });
                    }
                }
            }
            Record::Exemplars(v) => {
                for e in v {
                    if let Some(series) = self.by_ref(e.r) {
                        series.state.lock().add_exemplar(narthex_model::Exemplar {
                            labels: e.labels,
                            value: e.v,
                            timestamp: Some(e.t),
                        });
                    }
                }
            }
            Record::Histograms(v) => {
                for s in v {
                    let v = HeadValue::Histogram(Box::new(s.h));
                    self.replay_value(s.r, s.t, s.st, &v, report)?;
                }
            }
            Record::FloatHistograms(v) => {
                for s in v {
                    let v = HeadValue::FloatHistogram(Box::new(s.h));
                    self.replay_value(s.r, s.t, s.st, &v, report)?;
                }
            }
            Record::MmapMarkers(_) | Record::Unknown(_) => {}
        }
        Ok(())
    }

    /// Replays one logged sample with its start timestamp `st` (0: unknown).
    fn replay_value(
        &self,
        r: u64,
        t: i64,
        st: i64,
        v: &HeadValue,
        report: &mut ReplayReport,
    ) -> Result<(), StorageError> {
        let Some(series) = self.by_ref(r) else {
            report.unknown_refs += 1;
            return Ok(());
        };
        // Every sample in the WAL was acknowledged: out-of-order ones are kept even when
        // the window has since been narrowed or turned off.
        let min_valid = self.min_valid_time.load(Ordering::Relaxed);
        if t < min_valid && self.ooo_window() <= 0 {
            // Persisted in a block already (the WAL keeps it until the next checkpoint);
            // without an out-of-order window nothing older could have been accepted.
            return Ok(());
        }
        let opts = ChunkOpts {
            ooo_window: i64::MAX,
            min_valid,
            ..self.opts
        };
        let appended = {
            let mut state = series.state.lock();
            let appended = state.append(series.r, t, v, opts, &self.disk)?;
            series.note_state(&state);
            // A sample not appended again may be in a chunk loaded from `chunks_head/`
            // already: its start timestamp is known only from the WAL.
            state.set_start_time(t, st);
            appended
        };
        if appended {
            report.samples += 1;
            self.bump_time(t, t);
        }
        Ok(())
    }

    pub(crate) fn bump_time(&self, mint: i64, maxt: i64) {
        // Out-of-order samples below the lower bound belong to persisted ranges; they do
        // not widen the head's own range.
        let mint = mint.max(self.min_valid_time.load(Ordering::Relaxed));
        self.min_time.fetch_min(mint, Ordering::Relaxed);
        self.max_time.fetch_max(maxt, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn by_ref(&self, r: u64) -> Option<Arc<MemSeries>> {
        self.refs.get(r)
    }

    /// [`Head::by_ref`] for an appender, which will likely want the next series soon.
    #[inline]
    pub(crate) fn by_ref_for_append(&self, r: u64) -> Option<Arc<MemSeries>> {
        self.refs.get_prefetching(r)
    }

    fn stripe(&self, hash: u64) -> &RwLock<IntMap<Vec<Arc<MemSeries>>>> {
        &self.stripes[(hash as usize) % STRIPES]
    }

    /// Every series, in no particular order.
    pub(crate) fn all_series(&self) -> Vec<Arc<MemSeries>> {
        // Each series once: a series also found under a second reference (the same labels
        // logged twice, see `get_or_create_with_ref`) is listed under its own.
        self.refs
            .entries()
            .into_iter()
            .filter_map(|(r, s)| (s.r == r).then_some(s))
            .collect()
    }

    /// The series with these labels, created (with a new reference) when missing.
    pub(crate) fn get_or_create(&self, labels: &Labels) -> (Arc<MemSeries>, bool) {
        let hash = labels.hash64();
        if let Some(s) = self
            .stripe(hash)
            .read()
            .get(&hash)
            .and_then(|v| v.iter().find(|s| &s.labels == labels && !s.is_dead()))
        {
            return (Arc::clone(s), false);
        }
        let r = self.next_ref.fetch_add(1, Ordering::Relaxed) + 1;
        self.insert(hash, r, labels)
    }

    fn get_or_create_with_ref(&self, r: u64, labels: &Labels) -> (Arc<MemSeries>, bool) {
        self.next_ref.fetch_max(r, Ordering::Relaxed);
        let hash = labels.hash64();
        if let Some(s) = self
            .stripe(hash)
            .read()
            .get(&hash)
            .and_then(|v| v.iter().find(|s| &s.labels == labels))
        {
            // The same labels logged under a second reference (a restart raced with a
            // creation): map the second reference to the existing series.
            self.refs.insert_if_absent(r, || Arc::clone(s));
            return (Arc::clone(s), false);
        }
        self.insert(hash, r, labels)
    }

    fn insert(&self, hash: u64, r: u64, labels: &Labels) -> (Arc<MemSeries>, bool) {
        let mut stripe = self.stripe(hash).write();
        let list = stripe.entry(hash).or_default();
        if let Some(s) = list.iter().find(|s| &s.labels == labels && !s.is_dead()) {
            return (Arc::clone(s), false);
        }
        let s = Arc::new(MemSeries::new(r, labels.clone()));
        list.push(Arc::clone(&s));
        drop(stripe);
        self.refs.insert(r, Arc::clone(&s));
        self.postings.write().add(r, labels);
        crate::metrics::Counters::inc(&self.counters.series_created);
        (s, true)
    }

    /// Counts a sample the appender refused, by Prometheus's kinds.
    pub(crate) fn count_rejected(&self, e: &StorageError) {
        use crate::metrics::Counters;
        match e {
            StorageError::OutOfOrderSample => Counters::inc(&self.counters.out_of_order),
            StorageError::OutOfBounds => Counters::inc(&self.counters.out_of_bounds),
            StorageError::TooOldSample => Counters::inc(&self.counters.too_old),
            _ => {}
        }
    }

    pub(crate) fn min_time(&self) -> i64 {
        self.min_time.load(Ordering::Relaxed)
    }

    pub(crate) fn max_time(&self) -> i64 {
        self.max_time.load(Ordering::Relaxed)
    }

    /// Drops chunks that end before `mint`, garbage-collects series left without data,
    /// deletes head chunk files no series uses, and checkpoints the older two thirds of the
    /// WAL, as Prometheus does after a head compaction.
    pub(crate) fn truncate(
        &self,
        wal_dir: &Path,
        mint: i64,
    ) -> Result<TruncateReport, StorageError> {
        let mut report = TruncateReport::default();
        // One garbage collection at a time: each waits for the appenders that may hold
        // the series it marked.
        let _gc = self.gc.lock();
        let all = self.all_series();
        let mut marked: Vec<Arc<MemSeries>> = Vec::new();
        let mut oldest_ooo = i64::MAX;
        for s in &all {
            let mut st = s.state.lock();
            let before = st.mmapped.len();
            st.mmapped.retain(|c| c.maxt >= mint);
            // Out-of-order samples stay until a compaction has persisted them.
            if let Some((t, _)) = st.ooo().first_key_value() {
                oldest_ooo = oldest_ooo.min(*t);
            }
            if st.mmapped.capacity() > 2 * st.mmapped.len() {
                st.mmapped.shrink_to_fit();
            }
            report.chunks_dropped += (before - st.mmapped.len()) as u64;
            if st
                .head
                .as_ref()
                .is_some_and(|h| h.chunk.num_samples() > 0 && h.maxt < mint)
            {
                st.head = None;
                report.chunks_dropped += 1;
            }
            if st.extra.is_some() {
                st.prune_start_times();
            }
            s.note_state(&st);
            if st.mmapped.is_empty()
                && st.ooo().is_empty()
                && st.head.as_ref().is_none_or(|h| h.chunk.num_samples() == 0)
                && s.life
                    .compare_exchange(
                        life::ALIVE,
                        life::MARKED,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
            {
                marked.push(Arc::clone(s));
            }
        }
        drop(all);
        let dead = self.collect_marked(marked);
        if !dead.is_empty() {
            // Pooled appender buffers may hold collected series from their last batch.
            appender::forget_pooled_series(&mut self.pool.lock());
        }
        // Second references of dropped series (from a replay) go with them.
        if !dead.is_empty() {
            for (r, s) in self.refs.entries() {
                if s.r != r && s.is_dead() {
                    self.refs.remove(r);
                }
            }
        }
        for r in &dead {
            if let Some(s) = self.refs.remove(*r) {
                let hash = s.labels.hash64();
                let mut stripe = self.stripe(hash).write();
                if let Some(list) = stripe.get_mut(&hash) {
                    list.retain(|x| x.r != *r);
                    if list.is_empty() {
                        stripe.remove(&hash);
                    }
                }
            }
        }
        self.postings.write().delete(&dead);
        self.tombstones
            .write()
            .retain(|r, _| dead.binary_search(r).is_err());
        report.series_removed = dead.len() as u64;
        crate::metrics::Counters::add(&self.counters.series_removed, report.series_removed);
        crate::metrics::Counters::add(&self.counters.chunks_removed, report.chunks_dropped);
        {
            // Files whose chunks all ended before `mint` go (the head just dropped those
            // chunks); the file being written is finished first, so it can go once its
            // chunks are old. Otherwise a restart would load truncated chunks again (with
            // their tombstones checkpointed away, deleted data would come back).
            let mut disk = self.disk.lock();
            if !self.read_only {
                disk.truncate_before(mint).map_err(chunk_err)?;
            }
        }
        self.min_time.fetch_max(mint, Ordering::Relaxed);

        if self.read_only {
            return Ok(report);
        }
        // Checkpoint all but the newest third of the segments.
        let segs = wlog::segments(wal_dir).map_err(wal_err)?;
        if let (Some(first), Some(last)) = (segs.first(), segs.last())
            && last - first >= 2
        {
            let to = first + (last - first) * 2 / 3;
            if let Some(w) = self.wal.lock().as_mut()
                && w.current_segment() <= to
            {
                w.next_segment().map_err(wal_err)?;
            }
            let live = |r: u64| self.refs.contains(r);
            crate::checkpoint::create(
                wal_dir,
                to,
                &crate::checkpoint::Keep {
                    series: &live,
                    // Unpersisted out-of-order samples must survive in the checkpoint.
                    mint: mint.min(oldest_ooo),
                },
            )
            .inspect_err(|_| crate::metrics::Counters::inc(&self.counters.checkpoints_failed))
            .map_err(wal_err)?;
            crate::metrics::Counters::inc(&self.counters.checkpoints);
            if let Some(w) = self.wal.lock().as_mut() {
                w.truncate(to + 1).map_err(wal_err)?;
            }
            report.checkpoint = Some(to);
        }
        Ok(report)
    }

    /// Collects the series truncation marked (empty when marked): waits until the
    /// appenders live now are done (any of them may have found a marked series before it
    /// was marked and still hold a sample for it; appenders that start later see the mark
    /// and claim the series back), then collects those still marked and still empty.
    /// Returns their references, sorted. When an appender stays open (10 s), nothing is
    /// collected this time and the marks are lifted.
    fn collect_marked(&self, marked: Vec<Arc<MemSeries>>) -> Vec<u64> {
        if marked.is_empty() {
            return Vec::new();
        }
        let before: Vec<u64> = self.appenders.lock().keys().copied().collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let done = loop {
            if !{
                let live = self.appenders.lock();
                before.iter().any(|id| live.contains_key(id))
            } {
                break true;
            }
            if std::time::Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        if !done {
            tracing::warn!(
                series = marked.len(),
                "an appender stays open; empty series are kept until the next head truncation"
            );
        }
        let mut dead = Vec::new();
        for s in marked {
            let st = s.state.lock();
            let empty = st.mmapped.is_empty()
                && st.ooo().is_empty()
                && st.head.as_ref().is_none_or(|h| h.chunk.num_samples() == 0);
            let to = if done && empty {
                life::DEAD
            } else {
                life::ALIVE
            };
            // A claimed series is alive already: the exchange fails and it stays.
            if s.life
                .compare_exchange(life::MARKED, to, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
                && to == life::DEAD
            {
                dead.push(s.r);
            }
        }
        dead.sort_unstable();
        dead
    }

    /// Waits (up to `timeout`) until no live appender may still append in-order samples
    /// older than `maxt`. Returns whether that is so.
    pub(crate) fn wait_for_appenders_below(&self, maxt: i64, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if !self.appenders.lock().values().any(|mv| *mv < maxt) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// The oldest in-order sample time below `maxt` in memory (chunks on disk and being
    /// written), if any.
    pub(crate) fn data_min_below(&self, maxt: i64) -> Option<i64> {
        let mut lo: Option<i64> = None;
        for s in self.all_series() {
            let st = s.state.lock();
            let first = st.mmapped.first().map(|c| c.mint).or_else(|| {
                st.head
                    .as_ref()
                    .filter(|h| h.chunk.num_samples() > 0)
                    .map(|h| h.mint)
            });
            if let Some(t) = first.filter(|t| *t < maxt) {
                lo = Some(lo.map_or(t, |l| l.min(t)));
            }
        }
        lo
    }

    pub(crate) fn num_series(&self) -> usize {
        // Second references (see `all_series`) are not series of their own.
        self.refs.count_where(|r, s| s.r == r)
    }
}

#[cfg(test)]
mod tests {
    use narthex_model::labels;
    use narthex_storage::{Appender, SeriesRef};

    use super::*;

    #[test]
    fn truncation_prunes_start_timestamps_with_their_samples() {
        let dir = tempfile::tempdir().expect("tmp");
        let opts = ChunkOpts {
            chunk_range: 1_000,
            samples_per_chunk: 8,
            ooo_window: 0,
            min_valid: i64::MIN,
        };
        let (wal, chunks) = (dir.path().join("wal"), dir.path().join("chunks_head"));
        let (head, _) =
            Head::open(&chunks, &wal, WalOptions::default(), opts, i64::MIN, false).expect("open");
        let (c, plain) = (
            labels! { "__name__" => "c_total" },
            labels! { "__name__" => "plain" },
        );
        for t in 0..100i64 {
            let mut app = Box::new(HeadAppender::new(&head));
            app.append_with_st(SeriesRef::UNKNOWN, &c, t * 50, t * 50 - 1, 1.0)
                .expect("append");
            app.append(SeriesRef::UNKNOWN, &plain, t * 50, 1.0)
                .expect("append");
            app.commit().expect("commit");
        }
        let (series, _) = head.get_or_create(&c);
        let count = |s: &MemSeries| {
            s.state
                .lock()
                .extra
                .as_ref()
                .map_or(0, |e| e.start_times.len())
        };
        assert_eq!(count(&series), 100);
        let (p, _) = head.get_or_create(&plain);
        assert!(
            p.state.lock().extra.is_none(),
            "no start timestamps, no extras"
        );

        head.truncate(&wal, 2_500).expect("truncate");
        let oldest = series
            .state
            .lock()
            .min_time_in_memory()
            .expect("samples left");
        assert!(oldest <= 2_500, "{oldest}");
        // What is left in memory keeps its start timestamps; the rest is forgotten.
        assert_eq!(count(&series), ((5_000 - oldest) / 50) as usize);
        assert_eq!(series.state.lock().start_times(i64::MIN, oldest - 1), &[]);

        // Everything truncated: the series goes, and with it its start timestamps.
        head.truncate(&wal, 10_000).expect("truncate");
        assert!(series.is_dead());
        assert_eq!(count(&series), 0);
    }

    fn small_head(dir: &Path) -> Head {
        let opts = ChunkOpts {
            chunk_range: 1_000,
            samples_per_chunk: 8,
            ooo_window: 0,
            min_valid: i64::MIN,
        };
        let (wal, chunks) = (dir.join("wal"), dir.join("chunks_head"));
        Head::open(&chunks, &wal, WalOptions::default(), opts, i64::MIN, false)
            .expect("open")
            .0
    }

    /// An open appender holding a sample of an unrelated series: a truncation started
    /// while it is open waits for it.
    fn busy_appender(head: &Head) -> Box<HeadAppender<'_>> {
        let mut app = Box::new(HeadAppender::new(head));
        app.append(
            SeriesRef::UNKNOWN,
            &labels! { "__name__" => "busy" },
            20_000,
            1.0,
        )
        .expect("append");
        app
    }

    /// Waits (up to 5 s) until a truncation running elsewhere has marked `s`.
    fn wait_until_marked(s: &MemSeries) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while s.life.load(Ordering::Acquire) != life::MARKED {
            assert!(std::time::Instant::now() < deadline, "never marked");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Series with samples up to 990, all of which a truncation at 10,000 drops.
    fn old_series(head: &Head, names: &[&str]) -> Vec<Arc<MemSeries>> {
        let ls: Vec<Labels> = names.iter().map(|n| labels! { "__name__" => *n }).collect();
        for t in 0..100i64 {
            let mut app = Box::new(HeadAppender::new(head));
            for l in &ls {
                app.append(SeriesRef::UNKNOWN, l, t * 10, 1.0)
                    .expect("append");
            }
            app.commit().expect("commit");
        }
        ls.iter().map(|l| head.get_or_create(l).0).collect()
    }

    #[test]
    fn series_from_the_previous_batch_are_the_right_ones() {
        let dir = tempfile::tempdir().expect("tmp");
        let head = small_head(dir.path());
        let names = ["a", "b", "c"];
        let ls: Vec<Labels> = names.iter().map(|n| labels! { "__name__" => *n }).collect();
        let mut refs = [SeriesRef::UNKNOWN; 3];
        // Same order, then rotated orders: positions match, then do not.
        let orders: [[usize; 3]; 4] = [[0, 1, 2], [0, 1, 2], [2, 0, 1], [1, 2, 0]];
        for (k, order) in orders.iter().enumerate() {
            let mut app = Box::new(HeadAppender::new(&head));
            for &i in order {
                refs[i] = app
                    .append(refs[i], &ls[i], k as i64 * 10, (k * 10 + i) as f64)
                    .expect("append");
            }
            app.commit().expect("commit");
        }
        for (i, l) in ls.iter().enumerate() {
            let s = head.get_or_create(l).0;
            assert_eq!(SeriesRef(s.r), refs[i]);
            let got: Vec<(i64, f64)> =
                series::read_samples(&s, i64::MIN, i64::MAX, &[], &head.disk)
                    .expect("read")
                    .0
                    .into_iter()
                    .map(|(t, v)| match v {
                        narthex_storage::SampleValue::Float(f) => (t, f),
                        other => panic!("{other:?}"),
                    })
                    .collect();
            let want: Vec<(i64, f64)> = (0..4)
                .map(|k| (k * 10, (k * 10) as f64 + i as f64))
                .collect();
            assert_eq!(got, want, "{l}");
        }
    }

    #[test]
    fn a_collected_series_left_in_a_previous_batch_is_not_appended_to() {
        let dir = tempfile::tempdir().expect("tmp");
        let head = small_head(dir.path());
        let wal = dir.path().join("wal");
        // Open first, so the truncation below waits for it (and it takes no pooled buffers).
        let early = busy_appender(&head);
        let mut v = old_series(&head, &["y", "x"]);
        let (y, x) = (v.remove(0), v.remove(0));
        std::thread::scope(|scope| {
            let gc = scope.spawn(|| head.truncate(&wal, 10_000).expect("truncate"));
            wait_until_marked(&x);
            // Takes the pooled buffers whose last batch was [y, x] and claims y back.
            let mut late = Box::new(HeadAppender::new(&head));
            late.append(SeriesRef(y.r), &y.labels, 20_000, 2.0)
                .expect("append");
            early.commit().expect("commit");
            assert_eq!(gc.join().expect("truncation thread").series_removed, 1);
            assert!(x.is_dead() && !y.is_dead());
            // x, at the same place as in the last batch, was collected meanwhile: the
            // sample goes to the series its labels get now.
            let r = late
                .append(SeriesRef(x.r), &x.labels, 20_000, 3.0)
                .expect("append");
            assert_ne!(r.0, x.r);
            late.commit().expect("commit");
            let again = head.by_ref(r.0).expect("new series");
            assert_eq!(again.labels, x.labels);
            assert_eq!(again.state.lock().max_time(), Some(20_000));
            assert_eq!(y.state.lock().max_time(), Some(20_000));
        });
    }

    #[test]
    fn truncation_keeps_a_series_an_open_appender_holds_a_sample_for() {
        let dir = tempfile::tempdir().expect("tmp");
        let head = small_head(dir.path());
        let s = old_series(&head, &["held"]).remove(0);
        let l = s.labels.clone();
        let wal = dir.path().join("wal");
        let mut app = Box::new(HeadAppender::new(&head));
        app.append(SeriesRef(s.r), &l, 20_000, 2.0).expect("append");
        std::thread::scope(|scope| {
            let gc = scope.spawn(|| head.truncate(&wal, 10_000).expect("truncate"));
            // The truncation marks the emptied series and waits for this appender.
            std::thread::sleep(std::time::Duration::from_millis(100));
            assert!(
                !gc.is_finished(),
                "truncation must wait for the open appender"
            );
            assert_eq!(s.life.load(Ordering::Acquire), life::MARKED);
            app.commit().expect("commit");
            let report = gc.join().expect("truncation thread");
            assert_eq!(report.series_removed, 0);
        });
        assert!(!s.is_dead());
        assert!(head.by_ref(s.r).is_some_and(|x| Arc::ptr_eq(&x, &s)));
        assert!(Arc::ptr_eq(&head.get_or_create(&l).0, &s));
        assert_eq!(s.state.lock().max_time(), Some(20_000));
        // Empty again and no appender open: now it goes.
        let report = head.truncate(&wal, 30_000).expect("truncate");
        assert_eq!(report.series_removed, 1);
        assert!(s.is_dead() && head.by_ref(s.r).is_none());
    }

    #[test]
    fn an_appender_started_during_truncation_claims_a_marked_series() {
        let dir = tempfile::tempdir().expect("tmp");
        let head = small_head(dir.path());
        let mut v = old_series(&head, &["claimed", "dropped"]);
        let (s, other) = (v.remove(0), v.remove(0));
        let l = s.labels.clone();
        let wal = dir.path().join("wal");
        // An appender open before the truncation, holding nothing of either series: the
        // truncation waits for it all the same.
        let early = busy_appender(&head);
        std::thread::scope(|scope| {
            let gc = scope.spawn(|| head.truncate(&wal, 10_000).expect("truncate"));
            wait_until_marked(&s);
            // Started after the marking: finds the series marked and claims it back.
            let mut late = Box::new(HeadAppender::new(&head));
            late.append(SeriesRef(s.r), &l, 20_000, 2.0)
                .expect("append");
            assert_eq!(s.life.load(Ordering::Acquire), life::ALIVE);
            // The truncation does not wait for `late`: the claim alone keeps the series
            // (still empty) while `late` holds its sample.
            early.commit().expect("commit");
            let report = gc.join().expect("truncation thread");
            assert_eq!(report.series_removed, 1, "the unclaimed empty series goes");
            assert!(!s.is_dead() && head.by_ref(s.r).is_some());
            late.commit().expect("commit");
        });
        assert!(!s.is_dead() && other.is_dead());
        assert_eq!(s.state.lock().max_time(), Some(20_000));
        // A sample for the collected series lands in a new series with its labels.
        let ol = other.labels.clone();
        let mut app = Box::new(HeadAppender::new(&head));
        let r = app
            .append(SeriesRef(other.r), &ol, 20_000, 3.0)
            .expect("append");
        app.commit().expect("commit");
        assert_ne!(r.0, other.r);
        let again = head.by_ref(r.0).expect("new series");
        assert_eq!(again.labels, ol);
        assert_eq!(again.state.lock().max_time(), Some(20_000));
    }
}
