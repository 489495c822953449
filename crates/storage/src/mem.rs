//! `MemStorage`: a simple, complete in-memory storage.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use narthex_model::{Exemplar, FloatHistogram, Histogram, Labels, Matcher, Metadata};

use crate::chunks::{ChunkCutter, DEFAULT_CHUNK_RANGE};
use crate::iter::{ListIterator, SampleIterator, SampleValue};
use crate::{
    Appendable, Appender, HistogramSample, LabelHints, Querier, Queryable, SelectHints, Series,
    SeriesRef, SeriesSet, StorageError, matches_all,
};

type Samples = Arc<Vec<(i64, SampleValue)>>;

#[derive(Clone, Default)]
struct Stored {
    reference: u64,
    samples: Samples,
    /// Start timestamps parallel to `samples` (0: unknown); empty while none is known.
    start_timestamps: Arc<Vec<i64>>,
    /// Where a Prometheus head would have cut this series' chunks.
    chunks: ChunkCutter,
    exemplars: Vec<Exemplar>,
    metadata: Option<Metadata>,
}

#[derive(Default)]
struct Inner {
    /// Shared with queriers: a querier is one reference count, and a commit copies the map
    /// only while a querier still holds the old one.
    series: Arc<BTreeMap<Labels, Stored>>,
    refs: HashMap<u64, Labels>,
    next_ref: u64,
}

/// An in-memory storage implementing [`Queryable`] and [`Appendable`] with Prometheus's
/// append rules: per series, samples must come in timestamp order; a repeated timestamp
/// is accepted only with a bit-identical value (and then ignored).
///
/// It reads back what a Prometheus TSDB reads back: native histograms carry the
/// counter-reset hints of the head chunks Prometheus would have cut (`Gauge` in gauge
/// chunks, `Unknown` for the first histogram of a chunk, `NotCounterReset` after it), not
/// the hints they were appended with; see [`MemStorage::with_chunk_range`]. Start
/// timestamps appended with [`Appender::append_with_st`] and
/// [`Appender::append_histogram_with_st`] are kept and read back through
/// [`SampleIterator::at_st`].
///
/// Queriers see a snapshot taken when they are created; appends made later are not
/// visible to them. Samples are kept in copy-on-write vectors, so a snapshot costs one
/// reference count per series.
pub struct MemStorage {
    inner: RwLock<Inner>,
    chunk_range: i64,
}

impl Default for MemStorage {
    fn default() -> Self {
        Self::with_chunk_range(DEFAULT_CHUNK_RANGE)
    }
}

impl MemStorage {
    /// An empty storage emulating a head with Prometheus's default two-hour chunk range.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty storage emulating a head whose chunk range is `chunk_range` milliseconds
    /// (at least 1): head chunks never span a multiple of it, which decides where the
    /// counter-reset hints of native histograms restart at `Unknown`. Prometheus's
    /// PromQL test storage uses one day.
    pub fn with_chunk_range(chunk_range: i64) -> Self {
        MemStorage {
            inner: RwLock::default(),
            chunk_range: chunk_range.max(1),
        }
    }

    /// Removes every series.
    pub fn clear(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        *inner = Inner::default();
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .series
            .len()
    }

    /// The exemplars stored for a series.
    pub fn exemplars(&self, labels: &Labels) -> Vec<Exemplar> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .series
            .get(labels)
            .map(|s| s.exemplars.clone())
            .unwrap_or_default()
    }

    /// The metadata stored for a series.
    pub fn metadata(&self, labels: &Labels) -> Option<Metadata> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.series.get(labels).and_then(|s| s.metadata.clone())
    }
}

fn validate_labels(labels: &Labels) -> Result<(), StorageError> {
    if labels.is_empty() {
        return Err(StorageError::InvalidLabels("empty label set".into()));
    }
    Ok(())
}

enum Pending {
    /// Labels, timestamp, start timestamp (0: unknown), value.
    Sample(Labels, i64, i64, SampleValue),
    Exemplar(Labels, Exemplar),
    Metadata(Labels, Metadata),
}

/// Buffers appends to a [`MemStorage`].
struct MemAppender<'s> {
    storage: &'s MemStorage,
    pending: Vec<Pending>,
    /// Newest timestamp and its value per series, including pending samples.
    last: HashMap<Labels, (i64, SampleValue)>,
}

impl MemAppender<'_> {
    fn resolve(&self, series: SeriesRef, labels: &Labels) -> Result<Labels, StorageError> {
        if series != SeriesRef::UNKNOWN {
            let inner = self.storage.inner.read().unwrap_or_else(|e| e.into_inner());
            if let Some(l) = inner.refs.get(&series.0) {
                return Ok(l.clone());
            }
        }
        validate_labels(labels)?;
        Ok(labels.clone())
    }

    fn reference(&self, labels: &Labels) -> SeriesRef {
        let inner = self.storage.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .series
            .get(labels)
            .map_or(SeriesRef::UNKNOWN, |s| SeriesRef(s.reference))
    }

    fn push_sample(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        t: i64,
        st: i64,
        v: SampleValue,
    ) -> Result<SeriesRef, StorageError> {
        let labels = self.resolve(series, labels)?;
        let last = match self.last.get(&labels) {
            Some(l) => Some(l.clone()),
            None => {
                let inner = self.storage.inner.read().unwrap_or_else(|e| e.into_inner());
                inner
                    .series
                    .get(&labels)
                    .and_then(|s| s.samples.last().cloned())
            }
        };
        if let Some((lt, lv)) = last {
            if t < lt {
                return Err(StorageError::OutOfOrderSample);
            }
            if t == lt {
                let same = match (&lv, &v) {
                    (SampleValue::Float(a), SampleValue::Float(b)) => a.to_bits() == b.to_bits(),
                    // Stored histograms carry the hints of their chunks, not the ones they
                    // were appended with.
                    (SampleValue::Histogram(a), SampleValue::Histogram(b)) => {
                        Histogram {
                            counter_reset_hint: b.counter_reset_hint,
                            ..(**a).clone()
                        } == **b
                    }
                    (SampleValue::FloatHistogram(a), SampleValue::FloatHistogram(b)) => {
                        FloatHistogram {
                            counter_reset_hint: b.counter_reset_hint,
                            ..(**a).clone()
                        } == **b
                    }
                    _ => false,
                };
                return if same {
                    Ok(self.reference(&labels))
                } else {
                    Err(StorageError::DuplicateSampleForTimestamp)
                };
            }
        }
        self.last.insert(labels.clone(), (t, v.clone()));
        let r = self.reference(&labels);
        self.pending.push(Pending::Sample(labels, t, st, v));
        Ok(r)
    }
}

impl Appender for MemAppender<'_> {
    fn append(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        self.append_with_st(series, labels, t, 0, v)
    }

    fn append_with_st(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        t: i64,
        st: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        self.push_sample(series, labels, t, st, SampleValue::Float(v))
    }

    fn append_histogram(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        t: i64,
        h: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError> {
        self.append_histogram_with_st(series, labels, t, 0, h)
    }

    fn append_histogram_with_st(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        t: i64,
        st: i64,
        h: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError> {
        let v = match h {
            HistogramSample::Int(h) => {
                h.validate()
                    .map_err(|e| StorageError::InvalidHistogram(e.to_string()))?;
                SampleValue::Histogram(Box::new(h.clone()))
            }
            HistogramSample::Float(h) => {
                h.validate()
                    .map_err(|e| StorageError::InvalidHistogram(e.to_string()))?;
                SampleValue::FloatHistogram(Box::new(h.clone()))
            }
        };
        self.push_sample(series, labels, t, st, v)
    }

    fn append_exemplar(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, StorageError> {
        let labels = self.resolve(series, labels)?;
        let r = self.reference(&labels);
        self.pending.push(Pending::Exemplar(labels, e.clone()));
        Ok(r)
    }

    fn update_metadata(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, StorageError> {
        let labels = self.resolve(series, labels)?;
        let r = self.reference(&labels);
        self.pending.push(Pending::Metadata(labels, m.clone()));
        Ok(r)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let chunk_range = self.storage.chunk_range;
        let mut inner = self
            .storage
            .inner
            .write()
            .unwrap_or_else(|e| e.into_inner());
        for p in self.pending {
            let labels = match &p {
                Pending::Sample(l, ..) | Pending::Exemplar(l, _) | Pending::Metadata(l, _) => {
                    l.clone()
                }
            };
            if !inner.series.contains_key(&labels) {
                inner.next_ref += 1;
                let r = inner.next_ref;
                inner.refs.insert(r, labels.clone());
                Arc::make_mut(&mut inner.series).insert(
                    labels.clone(),
                    Stored {
                        reference: r,
                        ..Stored::default()
                    },
                );
            }
            let Some(s) = Arc::make_mut(&mut inner.series).get_mut(&labels) else {
                continue;
            };
            match p {
                Pending::Sample(_, t, st, mut v) => {
                    // Another appender may have committed newer samples meanwhile; keep the
                    // series ordered as the head does, by dropping what is now out of order.
                    if s.samples.last().is_none_or(|(lt, _)| *lt < t) {
                        s.chunks.push(t, &mut v, chunk_range);
                        if st != 0 || !s.start_timestamps.is_empty() {
                            let sts = Arc::make_mut(&mut s.start_timestamps);
                            sts.resize(s.samples.len(), 0);
                            sts.push(st);
                        }
                        Arc::make_mut(&mut s.samples).push((t, v));
                    }
                }
                Pending::Exemplar(_, e) => s.exemplars.push(e),
                Pending::Metadata(_, m) => s.metadata = Some(m),
            }
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

impl Appendable for MemStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender {
            storage: self,
            pending: Vec::new(),
            last: HashMap::new(),
        })
    }
}

/// A snapshot of the storage (taken when the querier was created) and a time range.
struct MemQuerier {
    series: Arc<BTreeMap<Labels, Stored>>,
    mint: i64,
    maxt: i64,
}

struct MemSeries {
    labels: Labels,
    samples: Samples,
    start_timestamps: Arc<Vec<i64>>,
    lo: usize,
    hi: usize,
}

impl Series for MemSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        let it = ListIterator::new(&self.samples[self.lo..self.hi]);
        Box::new(match self.start_timestamps.get(self.lo..self.hi) {
            Some(sts) if !sts.is_empty() => it.with_start_timestamps(sts),
            _ => it,
        })
    }
}

impl Queryable for MemStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        Ok(Box::new(MemQuerier {
            series: Arc::clone(&inner.series),
            mint,
            maxt,
        }))
    }
}

impl MemQuerier {
    /// Series matching every matcher with samples in range, and the range's indices.
    fn matching<'q>(
        &'q self,
        matchers: &'q [Matcher],
    ) -> impl Iterator<Item = (&'q Labels, &'q Stored, usize, usize)> + 'q {
        self.series
            .iter()
            .filter(move |(l, _)| matches_all(l, matchers))
            .filter_map(move |(l, s)| {
                let lo = s.samples.partition_point(|(t, _)| *t < self.mint);
                let hi = s.samples.partition_point(|(t, _)| *t <= self.maxt);
                (lo < hi).then_some((l, s, lo, hi))
            })
    }
}

fn limit(mut v: Vec<String>, hints: &LabelHints) -> Vec<String> {
    if hints.limit > 0 {
        v.truncate(hints.limit);
    }
    v
}

impl Querier for MemQuerier {
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet<'_>, StorageError> {
        // The snapshot is a BTreeMap walk, so series are always sorted.
        let out: Vec<Result<Box<dyn Series>, StorageError>> = self
            .matching(matchers)
            .map(|(l, s, lo, hi)| {
                Ok(Box::new(MemSeries {
                    labels: l.clone(),
                    samples: Arc::clone(&s.samples),
                    start_timestamps: Arc::clone(&s.start_timestamps),
                    lo,
                    hi,
                }) as Box<dyn Series>)
            })
            .collect();
        Ok(Box::new(out.into_iter()))
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let set: BTreeSet<&str> = self
            .matching(matchers)
            .filter_map(|(l, ..)| l.get(name))
            .collect();
        Ok(limit(set.into_iter().map(str::to_string).collect(), hints))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let set: BTreeSet<&str> = self
            .matching(matchers)
            .flat_map(|(l, ..)| l.iter().map(|x| &*x.name))
            .collect();
        Ok(limit(set.into_iter().map(str::to_string).collect(), hints))
    }
}

#[cfg(test)]
mod tests {
    use narthex_model::{MatchOp, labels, stale_nan};

    use super::*;
    use crate::ValueType;

    fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
        Matcher::new(op, n, v).expect("valid")
    }

    #[test]
    fn append_rules_match_prometheus() {
        let db = MemStorage::new();
        let l = labels! { "__name__" => "x" };
        let mut app = db.appender();
        let r = app.append(SeriesRef::UNKNOWN, &l, 10, 1.0).unwrap();
        assert_eq!(
            app.append(r, &l, 5, 1.0),
            Err(StorageError::OutOfOrderSample)
        );
        assert_eq!(
            app.append(r, &l, 10, 2.0),
            Err(StorageError::DuplicateSampleForTimestamp)
        );
        assert!(
            app.append(r, &l, 10, 1.0).is_ok(),
            "same value at the same time is a no-op"
        );
        app.append(r, &l, 20, stale_nan()).unwrap();
        app.commit().unwrap();
        let mut app = db.appender();
        assert_eq!(
            app.append(SeriesRef::UNKNOWN, &l, 15, 1.0),
            Err(StorageError::OutOfOrderSample)
        );
        assert!(matches!(
            app.append(SeriesRef::UNKNOWN, &Labels::empty(), 1, 1.0),
            Err(StorageError::InvalidLabels(_))
        ));
        app.rollback().unwrap();

        let q = db.querier(0, 100).unwrap();
        let s = q
            .select(true, None, &[m(MatchOp::Equal, "__name__", "x")])
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let mut it = s.iter();
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.next(), ValueType::Float);
        assert!(
            narthex_model::is_stale_nan(it.at().1),
            "stale markers are stored bit for bit"
        );
        assert_eq!(it.next(), ValueType::None);
    }

    #[test]
    fn nothing_visible_before_commit_or_after_rollback() {
        let db = MemStorage::new();
        let l = labels! { "__name__" => "x" };
        let mut app = db.appender();
        app.append(SeriesRef::UNKNOWN, &l, 1, 1.0).unwrap();
        assert_eq!(db.num_series(), 0);
        app.rollback().unwrap();
        assert_eq!(db.num_series(), 0);
    }

    #[test]
    fn select_labels_and_time_range() {
        let db = MemStorage::new();
        let mut app = db.appender();
        for (job, inst) in [("api", "a"), ("api", "b"), ("db", "c")] {
            let l = labels! { "__name__" => "up", "job" => job, "instance" => inst };
            app.append(SeriesRef::UNKNOWN, &l, 100, 1.0).unwrap();
        }
        app.append(
            SeriesRef::UNKNOWN,
            &labels! { "__name__" => "late" },
            500,
            1.0,
        )
        .unwrap();
        app.commit().unwrap();

        let q = db.querier(0, 200).unwrap();
        let got: Vec<String> = q
            .select(
                true,
                None,
                &[
                    m(MatchOp::RegexMatch, "job", "api|db"),
                    m(MatchOp::NotEqual, "instance", "b"),
                ],
            )
            .unwrap()
            .map(|s| s.unwrap().labels().to_string())
            .collect();
        assert_eq!(
            got,
            vec![
                r#"{__name__="up", instance="a", job="api"}"#.to_string(),
                r#"{__name__="up", instance="c", job="db"}"#.to_string(),
            ]
        );
        assert_eq!(
            q.label_values("job", &LabelHints::default(), &[]).unwrap(),
            vec!["api", "db"]
        );
        assert_eq!(
            q.label_names(&LabelHints::default(), &[]).unwrap(),
            vec!["__name__", "instance", "job"]
        );
        assert_eq!(
            q.label_values("__name__", &LabelHints::default(), &[])
                .unwrap(),
            vec!["up"],
            "late is outside the range"
        );
        assert_eq!(
            q.label_values("job", &LabelHints { limit: 1 }, &[])
                .unwrap(),
            vec!["api"]
        );
        // A matcher for a missing label matches the empty string.
        let none: Vec<_> = q
            .select(true, None, &[m(MatchOp::Equal, "zone", "")])
            .unwrap()
            .collect();
        assert_eq!(none.len(), 3);
    }

    #[test]
    fn queriers_are_snapshots() {
        let db = MemStorage::new();
        let l = labels! { "__name__" => "x" };
        let mut app = db.appender();
        app.append(SeriesRef::UNKNOWN, &l, 1, 1.0).unwrap();
        app.commit().unwrap();
        let q = db.querier(0, 100).unwrap();
        let mut app = db.appender();
        app.append(SeriesRef::UNKNOWN, &l, 2, 2.0).unwrap();
        app.commit().unwrap();
        let s = q.select(true, None, &[]).unwrap().next().unwrap().unwrap();
        let mut it = s.iter();
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(
            it.next(),
            ValueType::None,
            "the later sample is not in the snapshot"
        );
    }

    #[test]
    fn start_timestamps_round_trip() {
        let db = MemStorage::new();
        let l = labels! { "__name__" => "c_total" };
        let mut app = db.appender();
        let r = app.append(SeriesRef::UNKNOWN, &l, 10, 1.0).unwrap();
        app.append_with_st(r, &l, 20, 15, 2.0).unwrap();
        let first = labels! { "__name__" => "first" };
        app.append_with_st(SeriesRef::UNKNOWN, &first, 10, 5, 1.0)
            .unwrap();
        let h = FloatHistogram {
            count: 1.0,
            ..FloatHistogram::default()
        };
        app.append_histogram_with_st(r, &l, 30, 25, HistogramSample::Float(&h))
            .unwrap();
        app.commit().unwrap();
        let other = labels! { "__name__" => "plain" };
        let mut app = db.appender();
        app.append(SeriesRef::UNKNOWN, &other, 10, 1.0).unwrap();
        app.commit().unwrap();

        let q = db.querier(15, 100).unwrap();
        let s = q
            .select(true, None, &[m(MatchOp::Equal, "__name__", "c_total")])
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let mut it = s.iter();
        assert!(it.has_start_timestamps());
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!((it.at_t(), it.at_st()), (20, 15));
        assert_eq!(it.next(), ValueType::FloatHistogram);
        assert_eq!((it.at_t(), it.at_st()), (30, 25));
        let q = db.querier(0, 100).unwrap();
        let s = q
            .select(true, None, &[m(MatchOp::Equal, "__name__", "c_total")])
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let mut it = s.iter();
        it.next();
        assert_eq!(it.at_st(), 0, "the sample appended without one");
        let s = q
            .select(true, None, &[m(MatchOp::Equal, "__name__", "first")])
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let mut it = s.iter();
        it.next();
        assert_eq!(
            it.at_st(),
            5,
            "a series' first sample keeps its start timestamp"
        );
        let s = q
            .select(true, None, &[m(MatchOp::Equal, "__name__", "plain")])
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let mut it = s.iter();
        assert!(!it.has_start_timestamps());
        it.next();
        assert_eq!(it.at_st(), 0);
    }

    #[test]
    fn histogram_hints_are_those_of_head_chunks() {
        use narthex_model::CounterResetHint as H;
        let db = MemStorage::new();
        let l = labels! { "__name__" => "h" };
        let hist = |count: u64, hint: H| Histogram {
            counter_reset_hint: hint,
            count,
            ..Histogram::default()
        };
        let mut app = db.appender();
        let mut r = SeriesRef::UNKNOWN;
        for (t, c, hint) in [
            (1, 1, H::CounterReset),
            (2, 2, H::Unknown),
            (3, 1, H::Unknown),
            (4, 2, H::NotCounterReset),
        ] {
            r = app
                .append_histogram(r, &l, t, HistogramSample::Int(&hist(c, hint)))
                .unwrap();
        }
        app.commit().unwrap();
        // Appending the same histogram again is a no-op, whatever hint it was stored with.
        let mut app = db.appender();
        app.append_histogram(r, &l, 4, HistogramSample::Int(&hist(2, H::NotCounterReset)))
            .unwrap();
        app.commit().unwrap();
        let q = db.querier(0, 10).unwrap();
        let s = q.select(true, None, &[]).unwrap().next().unwrap().unwrap();
        let mut it = s.iter();
        let mut hints = Vec::new();
        while it.next() == ValueType::Histogram {
            hints.push(it.at_histogram().1.counter_reset_hint);
        }
        assert_eq!(
            hints,
            [
                H::Unknown,
                H::NotCounterReset,
                H::Unknown,
                H::NotCounterReset
            ]
        );
    }
}
