//! Appending to the head: samples are checked when appended, logged to the WAL as one batch
//! at commit, and only then applied to memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use narthex_model::{Exemplar, Labels, Metadata};
use narthex_storage::{Appender, HistogramSample, SeriesRef, StorageError};

use super::series::MemSeries;
use super::{Head, chunk_err, wal_err};
use crate::record::{self, RefExemplar, RefMetadata, RefSample, RefSeries};

/// Source of appender identities, so a series can tell which batch appended to it last.
static NEXT_APPENDER: AtomicU64 = AtomicU64::new(1);

/// The growable parts of an appender, pooled between batches.
#[derive(Default)]
pub(crate) struct Buffers {
    samples: Vec<(Arc<MemSeries>, i64, f64)>,
    exemplars: Vec<(Arc<MemSeries>, Exemplar)>,
    metadata: Vec<(Arc<MemSeries>, Metadata)>,
    records: Vec<Vec<u8>>,
}

impl Buffers {
    fn clear(&mut self) {
        self.samples.clear();
        self.exemplars.clear();
        self.metadata.clear();
        for r in &mut self.records {
            r.clear();
        }
    }
}

/// Buffers one batch of writes to the head.
pub(crate) struct HeadAppender<'h> {
    head: &'h Head,
    id: u64,
    /// Samples older than this are out of bounds.
    min_valid_time: i64,
    b: Buffers,
}

impl Drop for HeadAppender<'_> {
    fn drop(&mut self) {
        let mut b = std::mem::take(&mut self.b);
        b.clear();
        let mut pool = self.head.pool.lock();
        if pool.len() < 64 {
            pool.push(b);
        }
    }
}

impl<'h> HeadAppender<'h> {
    pub(crate) fn new(head: &'h Head, min_valid_time: i64) -> Self {
        let b = head.pool.lock().pop().unwrap_or_default();
        HeadAppender {
            head,
            id: NEXT_APPENDER.fetch_add(1, Ordering::Relaxed),
            min_valid_time,
            b,
        }
    }

    /// The series, by reference or labels (created when missing).
    fn series(&self, r: SeriesRef, labels: &Labels) -> Result<Arc<MemSeries>, StorageError> {
        if r != SeriesRef::UNKNOWN
            && let Some(s) = self.head.by_ref(r.0)
        {
            return Ok(s);
        }
        if labels.is_empty() {
            return Err(StorageError::InvalidLabels("empty label set".into()));
        }
        if labels.metric_name().is_some_and(str::is_empty) {
            return Err(StorageError::InvalidLabels("empty metric name".into()));
        }
        Ok(self.head.get_or_create(labels).0)
    }

    /// The record buffer number `i`, cleared.
    fn record_buf(&mut self, i: usize) -> Vec<u8> {
        while self.b.records.len() <= i {
            self.b.records.push(Vec::new());
        }
        std::mem::take(&mut self.b.records[i])
    }
}

impl Appender for HeadAppender<'_> {
    fn append(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        if t < self.min_valid_time {
            return Err(StorageError::OutOfBounds);
        }
        let s = self.series(r, labels)?;
        let sr = SeriesRef(s.r);
        {
            let mut st = s.state.lock();
            if st.pending_appender == self.id {
                // This batch appended to the series already: keep the batch in order too.
                if t < st.pending_t {
                    return Err(StorageError::OutOfOrderSample);
                }
                if t == st.pending_t {
                    return if v.to_bits() == st.pending_v {
                        Ok(sr)
                    } else {
                        Err(StorageError::DuplicateSampleForTimestamp)
                    };
                }
            } else if !st.appendable(t, v)? {
                return Ok(sr);
            }
            st.pending_appender = self.id;
            st.pending_t = t;
            st.pending_v = v.to_bits();
        }
        self.b.samples.push((s, t, v));
        Ok(sr)
    }

    fn append_histogram(
        &mut self,
        _r: SeriesRef,
        _labels: &Labels,
        _t: i64,
        _h: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError> {
        Err(StorageError::Other(
            "native histograms are not stored by the head yet".into(),
        ))
    }

    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, StorageError> {
        let chars: usize = e
            .labels
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum();
        if chars > 128 {
            return Err(StorageError::ExemplarLabelsTooLong);
        }
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
        if s.state.lock().metadata.as_ref() != Some(m) {
            self.b.metadata.push((s, m.clone()));
        }
        Ok(sr)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        let head = self.head;
        // 1. Log, as one batch handed to the operating system: series records for series
        //    the WAL does not know yet (so replay never meets a sample of an unknown
        //    series, even when two appenders race to create one), samples, exemplars,
        //    metadata.
        let touched = self
            .b
            .samples
            .iter()
            .map(|(s, ..)| s)
            .chain(self.b.exemplars.iter().map(|(s, _)| s))
            .chain(self.b.metadata.iter().map(|(s, _)| s));
        let mut unlogged: Vec<RefSeries> = touched
            .filter(|s| !s.logged.load(Ordering::Acquire))
            .map(|s| RefSeries {
                r: s.r,
                labels: s.labels.clone(),
            })
            .collect();
        unlogged.sort_by_key(|s| s.r);
        unlogged.dedup_by_key(|s| s.r);
        let mut recs: Vec<Vec<u8>> = Vec::new();
        if !unlogged.is_empty() {
            let mut b = self.record_buf(0);
            record::encode_series(&unlogged, &mut b);
            recs.push(b);
        }
        if !self.b.samples.is_empty() {
            let v: Vec<RefSample> = self
                .b
                .samples
                .iter()
                .map(|(s, t, v)| RefSample {
                    r: s.r,
                    t: *t,
                    v: *v,
                })
                .collect();
            let mut b = self.record_buf(1);
            record::encode_samples(&v, &mut b);
            recs.push(b);
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
            let mut b = self.record_buf(2);
            record::encode_exemplars(&v, &mut b);
            recs.push(b);
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
            let mut b = self.record_buf(3);
            record::encode_metadata(&v, &mut b);
            recs.push(b);
        }
        if !recs.is_empty() {
            let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
            let logged = match head.wal.lock().as_mut() {
                Some(w) => w.log(&refs).map_err(wal_err),
                None => Err(StorageError::Closed),
            };
            self.b.records = recs;
            logged?;
            for r in &unlogged {
                if let Some(s) = head.by_ref(r.r) {
                    s.logged.store(true, Ordering::Release);
                }
            }
        }
        // 2. Apply to memory.
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        for (s, t, v) in &self.b.samples {
            if s.state
                .lock()
                .append(s.r, *t, *v, head.opts, &head.disk)
                .map_err(chunk_err)?
            {
                mint = mint.min(*t);
                maxt = maxt.max(*t);
            }
        }
        if mint <= maxt {
            head.bump_time(mint, maxt);
        }
        for (s, e) in std::mem::take(&mut self.b.exemplars) {
            s.state.lock().add_exemplar(e);
        }
        for (s, m) in std::mem::take(&mut self.b.metadata) {
            s.state.lock().metadata = Some(m);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}
