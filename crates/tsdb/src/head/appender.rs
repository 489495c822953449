//! Appending to the head: samples are checked when appended, logged to the WAL as one batch
//! at commit, and only then applied to memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use narthex_model::{Exemplar, Labels, Metadata};
use narthex_storage::{Appender, HistogramSample, SeriesRef, StorageError};

use super::series::{ChunkOpts, MemSeries};
use super::{Head, wal_err};
use crate::chunk::HeadValue;
use crate::record::{
    self, RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample,
    RefSeries,
};

/// Source of appender identities, so a series can tell which batch appended to it last.
static NEXT_APPENDER: AtomicU64 = AtomicU64::new(1);

/// The growable parts of an appender, pooled between batches.
#[derive(Default)]
pub(crate) struct Buffers {
    /// Float samples: the series, its reference (read again when the record is encoded,
    /// without touching the series), time and value.
    samples: Vec<(Arc<MemSeries>, u64, i64, f64)>,
    /// Start timestamps of float samples that have one: index in `samples`, start
    /// timestamp; in index order. Kept apart so samples without one (nearly all) do not
    /// carry the extra field through the batch.
    float_sts: Vec<(usize, i64)>,
    /// Histogram samples: the series, time, start timestamp (0: unknown) and value.
    histograms: Vec<(Arc<MemSeries>, i64, i64, HeadValue)>,
    exemplars: Vec<(Arc<MemSeries>, Exemplar)>,
    metadata: Vec<(Arc<MemSeries>, Metadata)>,
    /// Series touched by this batch whose series record is not in the WAL yet (noted when
    /// first seen, so the commit need not visit every series again to find them).
    unlogged: Vec<RefSeries>,
    /// Where later segments start in `samples` and `histograms`: a new segment begins when a
    /// series switches between floats and histograms within the batch.
    segments: Vec<(usize, usize)>,
    records: Vec<Vec<u8>>,
    /// The series of the float samples these buffers last committed, by position: an
    /// appender that appends the same series in the same order each time (as every scrape
    /// of a target does) takes each series from here, without looking it up and without
    /// updating its reference count (both atomic operations, a fifth of the append path).
    prev: Vec<Option<Arc<MemSeries>>>,
}

impl Buffers {
    fn clear(&mut self) {
        self.samples.clear();
        self.float_sts.clear();
        self.histograms.clear();
        self.exemplars.clear();
        self.metadata.clear();
        self.unlogged.clear();
        self.segments.clear();
        for r in &mut self.records {
            r.clear();
        }
    }

    /// Whether nothing was added since [`Buffers::clear`].
    fn is_fresh(&self) -> bool {
        self.samples.is_empty()
            && self.histograms.is_empty()
            && self.exemplars.is_empty()
            && self.metadata.is_empty()
            && self.unlogged.is_empty()
    }

    /// The first series of the previous batch.
    fn first_prev(&self) -> Option<u64> {
        self.prev.first().and_then(|s| s.as_ref()).map(|s| s.r)
    }
}

/// Forgets the previous-batch series of pooled buffers (after a truncation collected
/// series, so the pool does not keep them in memory).
pub(crate) fn forget_pooled_series(pool: &mut [Buffers]) {
    for b in pool {
        b.prev.clear();
    }
}

/// The outcome of checking one sample.
struct Checked {
    r: u64,
    /// The series to store the sample in; `None` for a repeat of the newest sample, which
    /// is accepted and not stored again.
    keep: Option<Arc<MemSeries>>,
    /// Whether the sample is the newest of its series in this batch (not an older one the
    /// out-of-order window lets in), so the series' tag should point at it.
    newest: bool,
}

/// Buffers one batch of writes to the head.
pub(crate) struct HeadAppender<'h> {
    head: &'h Head,
    id: u64,
    /// Samples older than this are out of bounds.
    min_valid_time: i64,
    /// The out-of-order window when the batch began: checks and the commit use the same
    /// one even if [`Head::set_ooo_window`] changes it meanwhile.
    ooo_window: i64,
    b: Buffers,
}

impl Drop for HeadAppender<'_> {
    fn drop(&mut self) {
        self.head.appenders.lock().remove(&self.id);
        let mut b = std::mem::take(&mut self.b);
        b.clear();
        let mut pool = self.head.pool.lock();
        if pool.len() < 64 {
            pool.push(b);
        }
    }
}

impl<'h> HeadAppender<'h> {
    /// An appender; samples older than the head's lower bound, or older than half a
    /// chunk range behind the newest sample (the compaction window), are out of bounds
    /// (or out-of-order samples, with a window), as in Prometheus.
    pub(crate) fn new(head: &'h Head) -> Self {
        let id = NEXT_APPENDER.fetch_add(1, Ordering::Relaxed);
        // Registered under the lock a compaction checks after raising the lower bound:
        // either the compaction sees this appender and waits for it, or this appender
        // sees the raised bound.
        let min_valid_time = {
            let mut live = head.appenders.lock();
            let mv = head
                .min_valid_time
                .load(Ordering::SeqCst)
                .max(head.max_time().saturating_sub(head.opts.chunk_range / 2));
            live.insert(id, mv);
            mv
        };
        let b = head.pool.lock().pop().unwrap_or_default();
        HeadAppender {
            head,
            id,
            min_valid_time,
            ooo_window: head.ooo_window(),
            b,
        }
    }

    /// The series, by reference or labels (created when missing), claimed against head
    /// truncation's garbage collection (see [`MemSeries::life`]).
    fn series(&mut self, r: SeriesRef, labels: &Labels) -> Result<Arc<MemSeries>, StorageError> {
        let known = (r != SeriesRef::UNKNOWN)
            .then(|| self.head.by_ref_for_append(r.0))
            .flatten();
        let s = match known {
            Some(s) => s,
            None => {
                if labels.is_empty() {
                    return Err(StorageError::InvalidLabels("empty label set".into()));
                }
                if labels.metric_name().is_some_and(str::is_empty) {
                    return Err(StorageError::InvalidLabels("empty metric name".into()));
                }
                self.head.get_or_create(labels).0
            }
        };
        let s = if s.claim() { s } else { self.claimed(s) };
        if !s.logged.load(Ordering::Acquire) {
            self.note_unlogged(&s);
        }
        Ok(s)
    }

    /// A series taken from the previous batch, claimed (or the one its labels now have, if
    /// truncation collected it), noted for the WAL if it is not logged yet.
    #[inline(always)]
    fn claimed_found(&mut self, s: Arc<MemSeries>) -> Arc<MemSeries> {
        let s = if s.claim() { s } else { self.claimed(s) };
        if !s.logged.load(Ordering::Acquire) {
            self.note_unlogged(&s);
        }
        s
    }

    /// Notes `s` for a series record in this batch's WAL write.
    #[cold]
    fn note_unlogged(&mut self, s: &MemSeries) {
        self.b.unlogged.push(RefSeries {
            r: s.r,
            labels: s.labels.clone(),
        });
    }

    /// Checks a float sample and adds it to the batch with its start timestamp `st` (0:
    /// unknown, the only value plain [`Appender::append`] passes, for which the start
    /// timestamp code folds away).
    #[inline(always)]
    fn append_float(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        st: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        let head = self.head;
        let cached = self.take_from_previous_batch(r);
        let c = self
            .check_with(r, labels, t, &HeadValue::Float(v), cached)
            .inspect_err(|e| head.count_rejected(e))?;
        if let Some(s) = c.keep {
            let i = self.b.samples.len();
            if st != 0 {
                self.b.float_sts.push((i, st));
            }
            if c.newest {
                s.pending.store(self.tag(i, false), Ordering::Relaxed);
            }
            self.b.samples.push((s, c.r, t, v));
        }
        Ok(SeriesRef(c.r))
    }

    /// The series under `r` if the previous batch of these buffers had it at this float
    /// sample's position (see [`Buffers::prev`]). The first sample of a batch that does not
    /// match swaps these (still empty) buffers for pooled ones whose previous batch began
    /// with `r`, so a scrape finds its own previous batch whichever thread runs it.
    #[inline(always)]
    fn take_from_previous_batch(&mut self, r: SeriesRef) -> Option<Arc<MemSeries>> {
        if r == SeriesRef::UNKNOWN {
            return None;
        }
        let i = self.b.samples.len();
        if i == 0 && self.b.first_prev() != Some(r.0) && self.b.is_fresh() {
            self.adopt_pooled_buffers(r.0);
        }
        // The series four samples on is loaded meanwhile, as lookups by reference do.
        if let Some(Some(ahead)) = self.b.prev.get(i + 4) {
            crate::refmap::prefetch_arc(ahead);
        }
        let slot = self.b.prev.get_mut(i)?;
        if slot.as_ref().is_some_and(|s| s.r == r.0) {
            slot.take()
        } else {
            None
        }
    }

    /// The series the labels of `s` have now that a head truncation collected `s` (its
    /// claim failed), claimed.
    #[cold]
    fn claimed(&self, mut s: Arc<MemSeries>) -> Arc<MemSeries> {
        while !s.claim() {
            let l = s.labels.clone();
            s = self.head.get_or_create(&l).0;
        }
        s
    }

    /// Swaps these (fresh) buffers for pooled ones whose previous batch began with `r`.
    #[cold]
    fn adopt_pooled_buffers(&mut self, r: u64) {
        let mut pool = self.head.pool.lock();
        if let Some(j) = pool.iter().position(|b| b.first_prev() == Some(r)) {
            std::mem::swap(&mut self.b, &mut pool[j]);
        }
    }

    /// The tag a series carries while its newest sample is entry `i` of this batch's
    /// floats (or histograms): the low 32 bits of the appender's identity, which of the
    /// two vectors, and the index (0, no tag, past 2^31 entries).
    #[inline]
    fn tag(&self, i: usize, histogram: bool) -> u64 {
        if i >= 1 << 31 {
            return 0;
        }
        (self.id << 32) | (u64::from(histogram) << 31) | i as u64
    }

    /// This batch's newest sample of `s`, from the series' tag: time, value bits (a
    /// placeholder no float has, for histograms) and encoding byte; `None` when the batch
    /// has none (or another batch tagged the series since, see [`MemSeries::pending`]).
    #[inline]
    fn batch_newest(&self, s: &Arc<MemSeries>) -> Option<(i64, u64, u8)> {
        let tag = s.pending.load(Ordering::Relaxed);
        if tag >> 32 != self.id & 0xffff_ffff {
            return None;
        }
        let i = (tag & ((1 << 31) - 1)) as usize;
        if tag & (1 << 31) == 0 {
            let (e, _, t, v) = self.b.samples.get(i)?;
            Arc::ptr_eq(e, s).then(|| (*t, v.to_bits(), narthex_chunkenc::Encoding::Xor.as_u8()))
        } else {
            let (e, t, _, v) = self.b.histograms.get(i)?;
            Arc::ptr_eq(e, s).then(|| (*t, f64::NAN.to_bits() ^ 1, v.encoding().as_u8()))
        }
    }

    /// Checks a sample against the series' stored data and against this batch.
    ///
    /// The common case (a float, no out-of-order window, newer than the series' newest
    /// sample) takes no lock: it reads the series' newest committed time and this batch's
    /// tag. The commit checks again under the lock, as Prometheus's does: a sample another
    /// batch overtook meanwhile is dropped there, as an out-of-order sample.
    #[inline(always)]
    fn check(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        v: &HeadValue,
    ) -> Result<Checked, StorageError> {
        self.check_with(r, labels, t, v, None)
    }

    /// [`HeadAppender::check`] with the series already at hand when `found` is given.
    #[inline(always)]
    fn check_with(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        v: &HeadValue,
        found: Option<Arc<MemSeries>>,
    ) -> Result<Checked, StorageError> {
        if t < self.min_valid_time && self.ooo_window <= 0 {
            return Err(StorageError::OutOfBounds);
        }
        let s = match found {
            Some(s) => self.claimed_found(s),
            None => self.series(r, labels)?,
        };
        let sr = s.r;
        let kind = v.encoding().as_u8();
        if let Some((pt, pv, pkind)) = self.batch_newest(&s) {
            // This batch appended to the series already: keep the batch in order too,
            // unless the out-of-order window allows the older sample.
            if t == pt {
                let same = matches!(v, HeadValue::Float(x) if x.to_bits() == pv);
                return if same {
                    Ok(Checked {
                        r: sr,
                        keep: None,
                        newest: false,
                    })
                } else {
                    Err(StorageError::DuplicateSampleForTimestamp)
                };
            }
            if t < pt {
                let window = self.ooo_window;
                if window <= 0 {
                    return Err(StorageError::OutOfOrderSample);
                }
                if t < self.head.max_time().max(pt).saturating_sub(window) {
                    return Err(StorageError::TooOldSample);
                }
                return Ok(Checked {
                    r: sr,
                    keep: Some(s),
                    newest: false,
                });
            }
            if pkind != kind {
                // The series changes between floats and histograms inside this batch:
                // what follows goes into a new segment, so it is logged and applied
                // after what came before (as Prometheus 3.x splits its commits).
                self.b
                    .segments
                    .push((self.b.samples.len(), self.b.histograms.len()));
            }
            return Ok(Checked {
                r: sr,
                keep: Some(s),
                newest: true,
            });
        }
        if self.ooo_window <= 0 && matches!(v, HeadValue::Float(_)) {
            let last = s.last_t.load(Ordering::Relaxed);
            if t > last {
                return Ok(Checked {
                    r: sr,
                    keep: Some(s),
                    newest: true,
                });
            }
            if t < last {
                return Err(StorageError::OutOfOrderSample);
            }
            // At the newest time: a repeat or a duplicate, told apart under the lock.
        }
        let appendable = s.state.lock().appendable_ooo(
            t,
            v,
            self.ooo_window,
            self.head.max_time(),
            self.min_valid_time,
        )?;
        Ok(Checked {
            r: sr,
            keep: appendable.then_some(s),
            newest: true,
        })
    }
}

/// An empty record buffer, reused from an earlier batch when the pool has one.
fn record_buf(pool: &mut Vec<Vec<u8>>) -> Vec<u8> {
    let mut b = pool.pop().unwrap_or_default();
    b.clear();
    b
}

/// Prometheus's limit on an exemplar's labels: 128 characters of names and values.
pub(crate) fn check_exemplar_labels(e: &Exemplar) -> Result<(), StorageError> {
    let chars: usize = e
        .labels
        .iter()
        .map(|l| l.name.chars().count() + l.value.chars().count())
        .sum();
    if chars > 128 {
        return Err(StorageError::ExemplarLabelsTooLong);
    }
    Ok(())
}

impl Appender for HeadAppender<'_> {
    fn append(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        self.append_float(r, labels, t, 0, v)
    }

    fn append_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        st: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        self.append_float(r, labels, t, st, v)
    }

    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        h: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError> {
        self.append_histogram_with_st(r, labels, t, 0, h)
    }

    fn append_histogram_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        st: i64,
        h: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError> {
        let v = match h {
            HistogramSample::Int(h) => {
                h.validate()
                    .map_err(|e| StorageError::InvalidHistogram(e.to_string()))?;
                HeadValue::Histogram(Box::new(h.clone()))
            }
            HistogramSample::Float(h) => {
                h.validate()
                    .map_err(|e| StorageError::InvalidHistogram(e.to_string()))?;
                HeadValue::FloatHistogram(Box::new(h.clone()))
            }
        };
        let head = self.head;
        let c = self
            .check(r, labels, t, &v)
            .inspect_err(|e| head.count_rejected(e))?;
        if let Some(s) = c.keep {
            let i = self.b.histograms.len();
            if c.newest {
                s.pending.store(self.tag(i, true), Ordering::Relaxed);
            }
            self.b.histograms.push((s, t, st, v));
        }
        Ok(SeriesRef(c.r))
    }

    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, StorageError> {
        check_exemplar_labels(e)?;
        let s = self.series(r, labels)?;
        let sr = SeriesRef(s.r);
        self.b.exemplars.push((s, e.clone()));
        Ok(sr)
    }

    fn update_metadata(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, StorageError> {
        let s = self.series(r, labels)?;
        let sr = SeriesRef(s.r);
        if s.state.lock().metadata() != Some(m) {
            self.b.metadata.push((s, m.clone()));
        }
        Ok(sr)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        let head = self.head;
        // 1. Log, as one batch handed to the operating system: series records for series
        //    the WAL does not know yet (so replay never meets a sample of an unknown
        //    series, even when two appenders race to create one), samples, histograms,
        //    exemplars, metadata.
        let mut unlogged = std::mem::take(&mut self.b.unlogged);
        unlogged.sort_by_key(|s| s.r);
        unlogged.dedup_by_key(|s| s.r);
        let mut recs: Vec<Vec<u8>> = Vec::new();
        if !unlogged.is_empty() {
            let mut buf = record_buf(&mut self.b.records);
            record::encode_series(&unlogged, &mut buf);
            recs.push(buf);
        }
        // Segment by segment, floats then histograms: per series, time order holds.
        let mut bounds = vec![(0, 0)];
        bounds.extend(self.b.segments.iter().copied());
        bounds.push((self.b.samples.len(), self.b.histograms.len()));
        for w in bounds.windows(2) {
            let (floats, hists) = (
                &self.b.samples[w[0].0..w[1].0],
                &self.b.histograms[w[0].1..w[1].1],
            );
            // The start timestamps of this segment's floats.
            let sts = {
                let all = &self.b.float_sts;
                let lo = all.partition_point(|e| e.0 < w[0].0);
                let hi = all.partition_point(|e| e.0 < w[1].0);
                &all[lo..hi]
            };
            if !floats.is_empty() && sts.is_empty() {
                let mut buf = record_buf(&mut self.b.records);
                record::encode_sample_iter(
                    floats
                        .iter()
                        .map(|&(_, r, t, v)| RefSample { r, t, st: 0, v }),
                    &mut buf,
                );
                recs.push(buf);
            } else if !floats.is_empty() {
                // Only batches with start timestamps take the version 2 record, which
                // Prometheus before 3.11 cannot read.
                let mut buf = record_buf(&mut self.b.records);
                let mut next = sts.iter().peekable();
                record::encode_sample_iter_v2(
                    floats.iter().enumerate().map(|(i, &(_, r, t, v))| {
                        let st = next.next_if(|e| e.0 == w[0].0 + i).map_or(0, |e| e.1);
                        RefSample { r, t, st, v }
                    }),
                    &mut buf,
                );
                recs.push(buf);
            }
            let mut ints = Vec::new();
            let mut fhs = Vec::new();
            for (s, t, st, v) in hists {
                match v {
                    HeadValue::Histogram(h) => ints.push(RefHistogramSample {
                        r: s.r,
                        t: *t,
                        st: *st,
                        h: (**h).clone(),
                    }),
                    HeadValue::FloatHistogram(h) => fhs.push(RefFloatHistogramSample {
                        r: s.r,
                        t: *t,
                        st: *st,
                        h: (**h).clone(),
                    }),
                    HeadValue::Float(_) => {}
                }
            }
            recs.extend(record::encode_histograms_any(&ints));
            recs.extend(record::encode_float_histograms_any(&fhs));
        }
        if !self.b.exemplars.is_empty() {
            let v: Vec<RefExemplar> = self
                .b
                .exemplars
                .iter()
                .map(|(s, e)| RefExemplar {
                    r: s.r,
                    t: e.timestamp.unwrap_or(0),
                    v: e.value,
                    labels: e.labels.clone(),
                })
                .collect();
            let mut buf = record_buf(&mut self.b.records);
            record::encode_exemplars(&v, &mut buf);
            recs.push(buf);
        }
        if !self.b.metadata.is_empty() {
            let v: Vec<RefMetadata> = self
                .b
                .metadata
                .iter()
                .map(|(s, m)| RefMetadata {
                    r: s.r,
                    metric_type: m.metric_type,
                    unit: m.unit.clone(),
                    help: m.help.clone(),
                })
                .collect();
            let mut buf = record_buf(&mut self.b.records);
            record::encode_metadata(&v, &mut buf);
            recs.push(buf);
        }
        if !recs.is_empty() {
            let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
            let logged = match head.wal.lock().as_mut() {
                Some(w) => w.log(&refs).map_err(wal_err),
                None => Err(StorageError::Closed),
            };
            recs.truncate(8);
            self.b.records = recs;
            logged?;
            for r in &unlogged {
                if let Some(s) = head.by_ref(r.r) {
                    s.logged.store(true, Ordering::Release);
                }
            }
            unlogged.clear();
            self.b.unlogged = unlogged;
        }
        // 2. Apply to memory.
        let opts = ChunkOpts {
            min_valid: self.min_valid_time,
            ooo_window: self.ooo_window,
            ..head.opts
        };
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let mut applied = 0u64;
        // Each float sample's series is kept, in order, for the next batch these buffers
        // serve (see `Buffers::prev`); what the previous batch left untaken is released.
        let mut floats = std::mem::take(&mut self.b.samples);
        let mut hists = std::mem::take(&mut self.b.histograms);
        let mut next_prev = std::mem::take(&mut self.b.prev);
        next_prev.clear();
        next_prev.reserve(floats.len());
        {
            let (mut fi, mut hi) = (floats.drain(..), hists.drain(..));
            // The next float sample with a start timestamp: its index and start timestamp
            // (an index no sample has once there are none left).
            let mut sts = self.b.float_sts.iter().copied();
            let mut next_st = sts.next().unwrap_or((usize::MAX, 0));
            for w in bounds.windows(2) {
                for i in w[0].0..w[1].0 {
                    let Some((s, r, t, v)) = fi.next() else { break };
                    // Memory is fetched ahead while this sample is appended: the series
                    // four samples on, and the chunk tail of the one two samples on (its
                    // series was fetched two samples ago).
                    let ahead = fi.as_slice();
                    if let Some((far, ..)) = ahead.get(3) {
                        crate::refmap::prefetch_arc(far);
                    }
                    if let Some((near, ..)) = ahead.get(1) {
                        crate::refmap::prefetch_addr(near.chunk_tail.load(Ordering::Relaxed));
                    }
                    let appended = {
                        let mut state = s.state.lock();
                        let ok = (t >= opts.min_valid && state.append_float_in_place(t, v, opts))
                            || state.append(r, t, &HeadValue::Float(v), opts, &head.disk)?;
                        s.note_state(&state);
                        if i == next_st.0 {
                            if ok {
                                state.set_start_time(t, next_st.1);
                            }
                            next_st = sts.next().unwrap_or((usize::MAX, 0));
                        }
                        ok
                    };
                    next_prev.push(Some(s));
                    if appended {
                        mint = mint.min(t);
                        maxt = maxt.max(t);
                        applied += 1;
                    }
                }
                for (s, t, st, v) in hi.by_ref().take(w[1].1 - w[0].1) {
                    let appended = {
                        let mut state = s.state.lock();
                        let ok = state.append(s.r, t, &v, opts, &head.disk)?;
                        s.note_state(&state);
                        if ok {
                            state.set_start_time(t, st);
                        }
                        ok
                    };
                    if appended {
                        mint = mint.min(t);
                        maxt = maxt.max(t);
                        applied += 1;
                    }
                }
            }
        }
        self.b.samples = floats;
        self.b.histograms = hists;
        self.b.prev = next_prev;
        head.samples_appended.fetch_add(applied, Ordering::Relaxed);
        if mint <= maxt {
            head.bump_time(mint, maxt);
        }
        for (s, e) in std::mem::take(&mut self.b.exemplars) {
            s.state.lock().add_exemplar(e);
        }
        for (s, m) in std::mem::take(&mut self.b.metadata) {
            s.state.lock().extra_mut().metadata = Some(m);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}
