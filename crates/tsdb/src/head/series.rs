//! One series in the head: its labels and its chunks.

use std::collections::{BTreeMap, VecDeque};

use narthex_model::{Exemplar, Labels, Metadata};
use narthex_storage::{SampleValue, StorageError};
use parking_lot::Mutex;

use crate::chunk::{Appended, ChunkBuilder, HeadValue, decode_into};
use crate::chunks_head::{ChunkDiskMapper, ChunkFileError};

/// A full chunk written to `chunks_head/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MmappedChunk {
    pub(crate) chunk_ref: u64,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

/// The chunk being appended to.
#[derive(Clone, Debug)]
pub(crate) struct HeadChunk {
    pub(crate) chunk: ChunkBuilder,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

/// Most exemplars kept per series.
pub(crate) const EXEMPLARS_PER_SERIES: usize = 16;

/// The parts of a series most series never use.
#[derive(Debug, Default)]
pub(crate) struct SeriesExtra {
    pub(crate) metadata: Option<Metadata>,
    pub(crate) exemplars: VecDeque<Exemplar>,
    /// Out-of-order samples (accepted within the out-of-order window), by timestamp.
    pub(crate) ooo: BTreeMap<i64, HeadValue>,
    /// Start timestamps of the in-memory samples (in-order and out-of-order) that have one.
    pub(crate) start_times: StartTimes,
}

/// The start timestamps of a series' samples, by sample time: sparse, only samples with a
/// start timestamp have an entry (the chunk encodings have no room for them).
///
/// Kept sorted by sample time, so in-order appends push at the end; an out-of-order
/// sample inserts. Entries of samples that leave memory are pruned by head truncation
/// ([`SeriesState::prune_start_times`]).
#[derive(Debug, Default)]
pub(crate) struct StartTimes(Vec<(i64, i64)>);

impl StartTimes {
    /// Records `st` as the start timestamp of the sample at `t` (replacing an older entry).
    pub(crate) fn set(&mut self, t: i64, st: i64) {
        match self.0.last() {
            Some((last, _)) if *last >= t => match self.0.binary_search_by_key(&t, |e| e.0) {
                Ok(i) => self.0[i].1 = st,
                Err(i) => self.0.insert(i, (t, st)),
            },
            _ => self.0.push((t, st)),
        }
    }

    /// Forgets the entry of the sample at `t`, if any.
    pub(crate) fn remove(&mut self, t: i64) {
        if let Ok(i) = self.0.binary_search_by_key(&t, |e| e.0) {
            self.0.remove(i);
        }
    }

    /// The entries for samples in `[mint, maxt]`, by time.
    pub(crate) fn range(&self, mint: i64, maxt: i64) -> &[(i64, i64)] {
        let lo = self.0.partition_point(|e| e.0 < mint);
        let hi = self.0.partition_point(|e| e.0 <= maxt);
        self.0.get(lo..hi).unwrap_or(&[])
    }

    /// Forgets the entries of samples before `t`.
    pub(crate) fn prune_before(&mut self, t: i64) {
        let n = self.0.partition_point(|e| e.0 < t);
        if n > 0 {
            self.0.drain(..n);
            if self.0.capacity() > 2 * self.0.len() {
                self.0.shrink_to_fit();
            }
        }
    }

    /// How many samples have an entry.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// The start timestamps parallel to `samples` (sorted by time) given the sparse `entries`
/// for them (sorted by time; entries of samples not in `samples` are skipped): 0 where a
/// sample has none.
pub(crate) fn start_times_for(samples: &[(i64, SampleValue)], entries: &[(i64, i64)]) -> Vec<i64> {
    let mut out = Vec::with_capacity(samples.len());
    let mut j = 0;
    for (t, _) in samples {
        while entries.get(j).is_some_and(|e| e.0 < *t) {
            j += 1;
        }
        out.push(match entries.get(j) {
            Some((et, st)) if et == t => *st,
            _ => 0,
        });
    }
    out
}

/// An empty out-of-order map, for series without extras.
static NO_OOO: BTreeMap<i64, HeadValue> = BTreeMap::new();

/// What a series holds, behind its lock.
#[derive(Debug, Default)]
pub(crate) struct SeriesState {
    pub(crate) mmapped: Vec<MmappedChunk>,
    pub(crate) head: Option<HeadChunk>,
    /// When the head chunk should be cut (Prometheus's `nextAt`).
    pub(crate) next_at: i64,
    /// The newest value, for duplicate detection.
    pub(crate) last_value: Option<HeadValue>,
    /// Rarely used parts, allocated only when used (keeps every series small).
    pub(crate) extra: Option<Box<SeriesExtra>>,
}

/// Where a series stands with head truncation's garbage collection (see
/// [`MemSeries::life`]).
pub(crate) mod life {
    /// In use.
    pub(crate) const ALIVE: u8 = 0;
    /// Empty, and to be collected by the truncation in progress unless an appender claims
    /// it first.
    pub(crate) const MARKED: u8 = 1;
    /// Collected: an appender that finds it looks the labels up again.
    pub(crate) const DEAD: u8 = 2;
}

/// The lock of a series' state (see [`MemSeries::state`]).
pub(crate) type SeriesLock<T> = spin::mutex::SpinMutex<T, spin::relax::Yield>;

/// A series in the head.
///
/// Appends are checked without taking the state lock: the newest committed time is kept
/// beside it ([`MemSeries::last_t`]), and the batch that last took a sample of the series
/// leaves a tag ([`MemSeries::pending`]) so it can find its own newest sample again. Only
/// the commit, readers and truncation take the lock.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) r: u64,
    pub(crate) labels: Labels,
    /// The series' data. A spin lock that yields the thread while it waits: the commit
    /// takes it for every sample and holds it for a chunk append, and its release is a
    /// plain store where parking_lot's is an atomic read-modify-write (measured: +16-20%
    /// on one warm shard of the write benchmark). Readers and truncation hold it as
    /// briefly; contention on one series is rare.
    pub(crate) state: SeriesLock<SeriesState>,
    /// Whether the series record is in the WAL.
    pub(crate) logged: std::sync::atomic::AtomicBool,
    /// [`life::ALIVE`], [`life::MARKED`] or [`life::DEAD`]. Truncation marks empty series,
    /// waits for the appenders that may have found them before, and then collects those
    /// still marked and empty; an appender that meets a marked series claims it back
    /// ([`MemSeries::claim`]), so no sample lands in a collected series.
    pub(crate) life: std::sync::atomic::AtomicU8,
    /// The newest in-order sample time ([`SeriesState::max_time`], `i64::MIN` without
    /// samples), written under the state lock whenever that changes.
    pub(crate) last_t: std::sync::atomic::AtomicI64,
    /// Tag of the batch that last took a sample of the series and the sample's place in
    /// it (see `HeadAppender`); 0 when none.
    pub(crate) pending: std::sync::atomic::AtomicU64,
    /// Where the head chunk's newest byte lives (0: no chunk): a prefetch hint for the
    /// commit, which appends to many series in a row and would otherwise wait for each
    /// chunk's tail to come from memory. Only ever used as an address to prefetch.
    pub(crate) chunk_tail: std::sync::atomic::AtomicUsize,
}

impl MemSeries {
    /// A series with no data yet.
    pub(crate) fn new(r: u64, labels: Labels) -> Self {
        MemSeries {
            r,
            labels,
            state: SeriesLock::new(SeriesState::default()),
            logged: std::sync::atomic::AtomicBool::new(false),
            life: std::sync::atomic::AtomicU8::new(life::ALIVE),
            last_t: std::sync::atomic::AtomicI64::new(i64::MIN),
            pending: std::sync::atomic::AtomicU64::new(0),
            chunk_tail: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Whether truncation collected the series.
    #[inline]
    pub(crate) fn is_dead(&self) -> bool {
        self.life.load(std::sync::atomic::Ordering::Acquire) == life::DEAD
    }

    /// Keeps the series from being collected by the truncation in progress: true unless it
    /// has been collected already.
    #[inline]
    pub(crate) fn claim(&self) -> bool {
        use std::sync::atomic::Ordering::Acquire;
        match self.life.load(Acquire) {
            life::ALIVE => true,
            _ => match self
                .life
                .compare_exchange(life::MARKED, life::ALIVE, Acquire, Acquire)
            {
                Ok(_) => true,
                Err(now) => now == life::ALIVE,
            },
        }
    }

    /// Publishes what appends are checked against after the state changed (called with the
    /// state lock held): the newest in-order time, and where the head chunk ends (a
    /// prefetch hint for the commit).
    #[inline(always)]
    pub(crate) fn note_state(&self, st: &SeriesState) {
        use std::sync::atomic::Ordering::Relaxed;
        self.last_t
            .store(st.max_time().unwrap_or(i64::MIN), Relaxed);
        let addr = st.head.as_ref().map_or(0, |h| {
            let b = h.chunk.bytes();
            b.as_ptr().wrapping_add(b.len().saturating_sub(1)) as usize
        });
        self.chunk_tail.store(addr, Relaxed);
    }
}

/// Options that shape chunks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkOpts {
    pub(crate) chunk_range: i64,
    pub(crate) samples_per_chunk: usize,
    /// Prometheus's `out_of_order_time_window`: 0 disables out-of-order samples.
    pub(crate) ooo_window: i64,
    /// Samples older than this never go into in-order chunks: their range is persisted
    /// in blocks (or about to be), so they are out-of-order samples, kept only with a
    /// window.
    pub(crate) min_valid: i64,
}

/// The end of the chunk range `t` falls in.
pub(crate) fn range_end(t: i64, width: i64) -> i64 {
    t.div_euclid(width) * width + width
}

/// Prometheus's estimate of where to cut a chunk so the rest of the range splits into
/// evenly filled chunks, made once a chunk is a quarter full.
fn chunk_end_time(start: i64, cur: i64, max: i64, ratio_to_full: f64) -> i64 {
    let n = (max - start) as f64 / ((cur - start + 1) as f64 * ratio_to_full);
    if n <= 1.0 {
        return max;
    }
    (start as f64 + (max - start) as f64 / n.floor()) as i64
}

impl SeriesState {
    /// The out-of-order samples.
    pub(crate) fn ooo(&self) -> &BTreeMap<i64, HeadValue> {
        self.extra.as_ref().map_or(&NO_OOO, |e| &e.ooo)
    }

    /// The extras, allocated on first use.
    pub(crate) fn extra_mut(&mut self) -> &mut SeriesExtra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// Records `st` as the start timestamp of the stored sample at `t`; 0 records nothing.
    pub(crate) fn set_start_time(&mut self, t: i64, st: i64) {
        if st != 0 {
            self.extra_mut().start_times.set(t, st);
        }
    }

    /// The start timestamp entries of the samples in `[mint, maxt]` (see [`StartTimes`]).
    pub(crate) fn start_times(&self, mint: i64, maxt: i64) -> &[(i64, i64)] {
        self.extra
            .as_ref()
            .map_or(&[], |e| e.start_times.range(mint, maxt))
    }

    /// The oldest sample time in memory: in chunks (on disk or being written) or among the
    /// out-of-order samples.
    pub(crate) fn min_time_in_memory(&self) -> Option<i64> {
        let in_order = self.mmapped.first().map(|c| c.mint).or_else(|| {
            self.head
                .as_ref()
                .filter(|h| h.chunk.num_samples() > 0)
                .map(|h| h.mint)
        });
        let ooo = self.ooo().first_key_value().map(|(t, _)| *t);
        match (in_order, ooo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets the start timestamps of samples no longer in memory (older than the oldest
    /// chunk or out-of-order sample left after a truncation).
    pub(crate) fn prune_start_times(&mut self) {
        let oldest = self.min_time_in_memory().unwrap_or(i64::MAX);
        if let Some(e) = self.extra.as_mut() {
            e.start_times.prune_before(oldest);
        }
    }

    /// Whether a chunk of in-order samples spans `t`.
    pub(crate) fn in_order_spans(&self, t: i64) -> bool {
        self.mmapped.iter().any(|c| c.mint <= t && t <= c.maxt)
            || self
                .head
                .as_ref()
                .is_some_and(|h| h.chunk.num_samples() > 0 && h.mint <= t && t <= h.maxt)
    }

    /// The metadata, if recorded.
    pub(crate) fn metadata(&self) -> Option<&Metadata> {
        self.extra.as_ref().and_then(|e| e.metadata.as_ref())
    }

    /// Newest timestamp, if any sample is stored.
    pub(crate) fn max_time(&self) -> Option<i64> {
        match &self.head {
            Some(h) if h.chunk.num_samples() > 0 => Some(h.maxt),
            _ => self.mmapped.last().map(|c| c.maxt),
        }
    }

    /// Whether a sample at `t` may be appended: Prometheus's `appendable`. `Ok(false)`
    /// means "a repeat of the newest sample": accepted and ignored.
    ///
    /// With an out-of-order window, a sample older than the series' newest is accepted
    /// when it is no older than `head_max - window`; older ones are `TooOldSample`, as in
    /// Prometheus.
    pub(crate) fn appendable_ooo(
        &self,
        t: i64,
        v: &HeadValue,
        window: i64,
        head_max: i64,
        min_valid: i64,
    ) -> Result<bool, StorageError> {
        if t < min_valid {
            if window <= 0 {
                return Err(StorageError::OutOfBounds);
            }
            if t < head_max.saturating_sub(window) {
                return Err(StorageError::TooOldSample);
            }
            return match self.ooo().get(&t) {
                Some(prev) if prev.same(v) => Ok(false),
                Some(_) => Err(StorageError::DuplicateSampleForTimestamp),
                None => Ok(true),
            };
        }
        match self.max_time() {
            Some(max) if t < max => {
                if window <= 0 {
                    return Err(StorageError::OutOfOrderSample);
                }
                if t < head_max.saturating_sub(window) {
                    return Err(StorageError::TooOldSample);
                }
                match self.ooo().get(&t) {
                    Some(prev) if prev.same(v) => Ok(false),
                    Some(_) => Err(StorageError::DuplicateSampleForTimestamp),
                    None => Ok(true),
                }
            }
            Some(max) if t == max => {
                if self.last_value.as_ref().is_some_and(|l| l.same(v)) {
                    Ok(false)
                } else {
                    Err(StorageError::DuplicateSampleForTimestamp)
                }
            }
            _ => Ok(true),
        }
    }

    /// The common case of [`SeriesState::append`] for a float: a XOR head chunk with
    /// samples, `t` newer than its newest and no cut due (nor the cut-time estimate made
    /// at a quarter of the target), so the value goes straight into the chunk. Returns
    /// false, having changed nothing, when the general path must decide. The caller has
    /// checked `t` against the lower bound.
    #[inline]
    pub(crate) fn append_float_in_place(&mut self, t: i64, v: f64, opts: ChunkOpts) -> bool {
        let Some(h) = self.head.as_mut() else {
            return false;
        };
        let ChunkBuilder::Xor(a) = &mut h.chunk else {
            return false;
        };
        let n = a.num_samples();
        if n == 0
            || t <= h.maxt
            || t >= self.next_at
            || n == opts.samples_per_chunk / 4
            || n >= opts.samples_per_chunk * 2
            || a.append(t, v).is_err()
        {
            return false;
        }
        h.maxt = t;
        self.last_value = Some(HeadValue::Float(v));
        true
    }

    /// Appends a sample, cutting and writing out the head chunk when Prometheus would: on a
    /// change of value kind, at the predicted end time, at twice the target sample count,
    /// and when a histogram does not fit the chunk (counter reset, schema change...).
    /// Returns false when the sample is out of order (it is then dropped).
    pub(crate) fn append(
        &mut self,
        series_ref: u64,
        t: i64,
        v: &HeadValue,
        opts: ChunkOpts,
        disk: &Mutex<ChunkDiskMapper>,
    ) -> Result<bool, StorageError> {
        if t < opts.min_valid {
            if opts.ooo_window > 0 && !self.ooo().contains_key(&t) {
                self.extra_mut().ooo.insert(t, v.clone());
                return Ok(true);
            }
            return Ok(false);
        }
        if self.max_time().is_some_and(|m| t <= m) {
            // Older than the newest sample: kept only with an out-of-order window (the
            // appender already checked the window), and never over an existing sample.
            if opts.ooo_window > 0
                && self.max_time().is_some_and(|m| t < m)
                && !self.ooo().contains_key(&t)
            {
                self.extra_mut().ooo.insert(t, v.clone());
                return Ok(true);
            }
            return Ok(false);
        }
        let cut = match &self.head {
            None => true,
            Some(h) if h.chunk.encoding() != v.encoding() => true,
            Some(h) => {
                let n = h.chunk.num_samples();
                if n == opts.samples_per_chunk / 4 {
                    self.next_at = chunk_end_time(h.mint, h.maxt, self.next_at, 4.0);
                }
                t >= self.next_at || n >= opts.samples_per_chunk * 2
            }
        };
        if cut {
            self.cut(series_ref, t, v, opts, disk)
                .map_err(chunk_storage_err)?;
        }
        if let Some(h) = self.head.as_mut() {
            match h
                .chunk
                .append(t, v)
                .map_err(StorageError::InvalidHistogram)?
            {
                Appended::Done => h.maxt = t,
                Appended::Cut(finished) => {
                    // The histogram started a new chunk inside the builder: write the old one.
                    let encoding = h.chunk.encoding().as_u8();
                    let (mint, maxt) = (h.mint, h.maxt);
                    let chunk_ref = {
                        let mut d = disk.lock();
                        d.chunks_started += 1;
                        d.write(series_ref, mint, maxt, encoding, &finished)
                            .map_err(chunk_storage_err)?
                    };
                    self.mmapped.push(MmappedChunk {
                        chunk_ref,
                        mint,
                        maxt,
                    });
                    h.mint = t;
                    h.maxt = t;
                    self.next_at = range_end(t, opts.chunk_range);
                }
            }
        }
        self.last_value = Some(v.clone());
        Ok(true)
    }

    /// Writes the full head chunk to disk and starts a new one for `v` at `t`.
    fn cut(
        &mut self,
        series_ref: u64,
        t: i64,
        v: &HeadValue,
        opts: ChunkOpts,
        disk: &Mutex<ChunkDiskMapper>,
    ) -> Result<(), ChunkFileError> {
        {
            // One lock for both: every chunk cut takes it.
            let mut d = disk.lock();
            self.mmap_head_with(series_ref, &mut d)?;
            d.chunks_started += 1;
        }
        self.head = Some(HeadChunk {
            chunk: ChunkBuilder::new(v.encoding()),
            mint: t,
            maxt: t,
        });
        self.next_at = range_end(t, opts.chunk_range);
        Ok(())
    }

    /// Moves the head chunk, if it has samples, to disk (the caller holds the disk lock).
    fn mmap_head_with(
        &mut self,
        series_ref: u64,
        disk: &mut ChunkDiskMapper,
    ) -> Result<(), ChunkFileError> {
        if let Some(h) = self.head.take() {
            if h.chunk.num_samples() == 0 {
                return Ok(());
            }
            let chunk_ref = disk.write(
                series_ref,
                h.mint,
                h.maxt,
                h.chunk.encoding().as_u8(),
                h.chunk.bytes(),
            )?;
            self.mmapped.push(MmappedChunk {
                chunk_ref,
                mint: h.mint,
                maxt: h.maxt,
            });
        }
        Ok(())
    }

    /// Keeps at most [`EXEMPLARS_PER_SERIES`] exemplars, newest last; returns whether `e`
    /// was new.
    pub(crate) fn add_exemplar(&mut self, e: Exemplar) -> bool {
        let exemplars = &mut self.extra_mut().exemplars;
        if exemplars.iter().any(|x| x == &e) {
            return false;
        }
        if exemplars.len() == EXEMPLARS_PER_SERIES {
            exemplars.pop_front();
        }
        exemplars.push_back(e);
        true
    }
}

pub(crate) fn chunk_storage_err(e: ChunkFileError) -> StorageError {
    match e {
        ChunkFileError::Corruption {
            path, offset, what, ..
        } => StorageError::Corruption {
            file: path.display().to_string(),
            offset,
            what,
        },
        ChunkFileError::Io { path, source } => StorageError::Io {
            path: path.display().to_string(),
            message: source.to_string(),
        },
    }
}

/// Decoded samples, by time, with their start timestamps (parallel to the samples, 0 where
/// unknown; empty when none has one).
pub(crate) type SamplesWithSt = (Vec<(i64, SampleValue)>, Vec<i64>);

/// The samples of a series within `[mint, maxt]`, outside deleted intervals: a snapshot of
/// the chunk list, decoded, with their start timestamps.
pub(crate) fn read_samples(
    series: &MemSeries,
    mint: i64,
    maxt: i64,
    deleted: &[(i64, i64)],
    disk: &Mutex<ChunkDiskMapper>,
) -> Result<SamplesWithSt, StorageError> {
    let (mmapped, head, ooo, start_times) = {
        let st = series.state.lock();
        let start_times = st.start_times(mint, maxt).to_vec();
        let ooo: Vec<(i64, SampleValue)> = st
            .ooo()
            .range(mint..=maxt)
            .map(|(t, v)| (*t, v.to_sample_value()))
            .collect();
        let mm: Vec<MmappedChunk> = st
            .mmapped
            .iter()
            .filter(|c| c.maxt >= mint && c.mint <= maxt)
            .copied()
            .collect();
        let head = st
            .head
            .as_ref()
            .filter(|h| h.chunk.num_samples() > 0 && h.maxt >= mint && h.mint <= maxt)
            .map(|h| (h.chunk.encoding().as_u8(), h.chunk.bytes().to_vec()));
        (mm, head, ooo, start_times)
    };
    let mut out = Vec::new();
    for c in mmapped {
        let dc = disk.lock().read(c.chunk_ref).map_err(|e| match e {
            ChunkFileError::Corruption {
                path, offset, what, ..
            } => StorageError::Corruption {
                file: path.display().to_string(),
                offset,
                what,
            },
            ChunkFileError::Io { path, source } => StorageError::Io {
                path: path.display().to_string(),
                message: source.to_string(),
            },
        })?;
        decode_into(dc.encoding, &dc.data, &mut out).map_err(|what| StorageError::Corruption {
            file: "chunks_head".into(),
            offset: c.chunk_ref,
            what,
        })?;
    }
    if let Some((enc, bytes)) = head {
        decode_into(enc, &bytes, &mut out).map_err(|what| StorageError::Corruption {
            file: "head chunk".into(),
            offset: 0,
            what,
        })?;
    }
    if !ooo.is_empty() {
        // Merge out-of-order samples in; where a timestamp is also in the in-order data,
        // the in-order sample wins (a stable sort keeps it first).
        out.extend(ooo);
        out.sort_by_key(|(t, _)| *t);
        out.dedup_by_key(|(t, _)| *t);
    }
    out.retain(|(t, _)| *t >= mint && *t <= maxt && !deleted.iter().any(|(a, b)| t >= a && t <= b));
    let mut start_times = if start_times.is_empty() {
        Vec::new()
    } else {
        start_times_for(&out, &start_times)
    };
    if start_times.iter().all(|st| *st == 0) {
        start_times = Vec::new();
    }
    Ok((out, start_times))
}

/// The series' chunks within `[mint, maxt)` as they are (encoding, bytes, first and last
/// timestamp), when every chunk touching the range lies wholly inside it: then a block can
/// take them without decoding. `None` when some chunk straddles the range.
pub(crate) fn chunks_in_range(
    series: &MemSeries,
    mint: i64,
    maxt: i64,
    disk: &Mutex<ChunkDiskMapper>,
) -> Result<Option<Vec<crate::chunk::EncodedChunk>>, StorageError> {
    let inside = |a: i64, b: i64| a >= mint && b < maxt;
    let touches = |a: i64, b: i64| b >= mint && a < maxt;
    let (mm, head) = {
        let st = series.state.lock();
        let mm: Vec<MmappedChunk> = st
            .mmapped
            .iter()
            .filter(|c| touches(c.mint, c.maxt))
            .copied()
            .collect();
        if mm.iter().any(|c| !inside(c.mint, c.maxt)) {
            return Ok(None);
        }
        let head = match st.head.as_ref() {
            Some(h) if h.chunk.num_samples() > 0 && touches(h.mint, h.maxt) => {
                if !inside(h.mint, h.maxt) {
                    return Ok(None);
                }
                Some(crate::chunk::EncodedChunk {
                    encoding: h.chunk.encoding().as_u8(),
                    bytes: h.chunk.bytes().to_vec(),
                    mint: h.mint,
                    maxt: h.maxt,
                    samples: h.chunk.num_samples(),
                    histograms: h.chunk.encoding() != narthex_chunkenc::Encoding::Xor,
                })
            }
            _ => None,
        };
        (mm, head)
    };
    let mut out = Vec::with_capacity(mm.len() + 1);
    for c in mm {
        let dc = disk.lock().read(c.chunk_ref).map_err(chunk_storage_err)?;
        let samples = match dc.data.as_slice() {
            [a, b, ..] => u16::from_be_bytes([*a, *b]) as usize,
            _ => 0,
        };
        out.push(crate::chunk::EncodedChunk {
            encoding: dc.encoding,
            histograms: dc.encoding != narthex_chunkenc::Encoding::Xor.as_u8(),
            bytes: dc.data,
            mint: c.mint,
            maxt: c.maxt,
            samples,
        });
    }
    out.extend(head);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The in-place float append cuts chunks exactly where the general path does and
        /// writes the same bytes, for any spacing of samples (gaps across chunk ranges,
        /// duplicates and older samples, which it leaves to the general path).
        #[test]
        fn in_place_float_appends_match_the_general_path(
            steps in proptest::collection::vec((-2i64..60, proptest::bool::weighted(0.02)), 1..700),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let disk = Mutex::new(ChunkDiskMapper::open(dir.path()).unwrap());
            let opts = ChunkOpts {
                chunk_range: 7_200,
                samples_per_chunk: 120,
                ooo_window: 0,
                min_valid: i64::MIN,
            };
            let (mut general, mut fast) = (SeriesState::default(), SeriesState::default());
            let mut t = 0i64;
            for (i, (step, big)) in steps.iter().enumerate() {
                t += if *big { step * 100 } else { *step };
                let v = (i % 7) as f64 * 1.5;
                let a = general.append(1, t, &HeadValue::Float(v), opts, &disk).unwrap();
                let b = fast.append_float_in_place(t, v, opts)
                    || fast.append(2, t, &HeadValue::Float(v), opts, &disk).unwrap();
                prop_assert_eq!(a, b, "sample {} at {}", i, t);
            }
            let spans = |s: &SeriesState| s.mmapped.iter().map(|c| (c.mint, c.maxt)).collect::<Vec<_>>();
            prop_assert_eq!(spans(&general), spans(&fast));
            let head = |s: &SeriesState| s.head.as_ref().map(|h| (h.mint, h.maxt, h.chunk.bytes().to_vec()));
            prop_assert_eq!(head(&general), head(&fast));
            prop_assert_eq!(general.next_at, fast.next_at);
            let d = disk.lock();
            for (x, y) in general.mmapped.iter().zip(&fast.mmapped) {
                prop_assert_eq!(d.read(x.chunk_ref).unwrap().data, d.read(y.chunk_ref).unwrap().data);
            }
        }
    }

    #[test]
    fn start_times_stay_sorted_and_sparse() {
        let mut st = StartTimes::default();
        st.set(10, 1);
        st.set(30, 3);
        st.set(20, 2); // out of order
        st.set(30, 4); // replaced
        assert_eq!(st.range(i64::MIN, i64::MAX), &[(10, 1), (20, 2), (30, 4)]);
        assert_eq!(st.range(11, 30), &[(20, 2), (30, 4)]);
        assert_eq!(st.range(31, 40), &[]);
        let samples: Vec<(i64, SampleValue)> = [5, 10, 15, 30]
            .iter()
            .map(|t| (*t, SampleValue::Float(0.0)))
            .collect();
        assert_eq!(
            start_times_for(&samples, st.range(i64::MIN, i64::MAX)),
            vec![0, 1, 0, 4],
            "entries of samples not read (20) are skipped"
        );
        st.remove(20);
        st.prune_before(30);
        assert_eq!(st.range(i64::MIN, i64::MAX), &[(30, 4)]);
        st.prune_before(31);
        assert_eq!(st.len(), 0);
    }

    #[test]
    fn chunk_end_time_spreads_samples() {
        // A quarter-full chunk at 15s spacing spanning 30 samples of a 2h range.
        let start = 0;
        let cur = 29 * 15_000;
        let end = chunk_end_time(start, cur, 7_200_000, 4.0);
        assert!(end > cur && end <= 7_200_000);
        assert_eq!(chunk_end_time(0, 7_000_000, 7_200_000, 4.0), 7_200_000);
        assert_eq!(range_end(7_199_999, 7_200_000), 7_200_000);
        assert_eq!(range_end(-1, 7_200_000), 0);
    }
}
