//! `MemStorage`: a simple, complete in-memory storage.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use narthex_model::{Exemplar, Labels, Matcher, Metadata};

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
/// Queriers see a snapshot taken when they are created; appends made later are not
/// visible to them. Samples are kept in copy-on-write vectors, so a snapshot costs one
/// reference count per series.
#[derive(Default)]
pub struct MemStorage {
    inner: RwLock<Inner>,
}

impl MemStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
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
    Sample(Labels, i64, SampleValue),
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
                    (a, b) => a == b,
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
        self.pending.push(Pending::Sample(labels, t, v));
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
        self.push_sample(series, labels, t, SampleValue::Float(v))
    }

    fn append_histogram(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        t: i64,
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
        self.push_sample(series, labels, t, v)
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
                Pending::Sample(_, t, v) => {
                    // Another appender may have committed newer samples meanwhile; keep the
                    // series ordered as the head does, by dropping what is now out of order.
                    if s.samples.last().is_none_or(|(lt, _)| *lt < t) {
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
    lo: usize,
    hi: usize,
}

impl Series for MemSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ListIterator::new(&self.samples[self.lo..self.hi]))
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
}
