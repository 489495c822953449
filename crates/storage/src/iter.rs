//! Sample iterators.

use narthex_model::{FloatHistogram, Histogram};

/// The kind of sample an iterator is positioned on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Exhausted (or failed: see [`SampleIterator::err`]).
    None,
    /// A float sample: read it with [`SampleIterator::at`].
    Float,
    /// An integer native histogram: read it with [`SampleIterator::at_histogram`].
    Histogram,
    /// A float native histogram: read it with [`SampleIterator::at_float_histogram`].
    FloatHistogram,
}

/// Iterates one series' samples in timestamp order.
///
/// Call `next` or `seek` first; `at*` read the current sample and may be called only while
/// it is of the matching [`ValueType`] (otherwise they return a default value).
pub trait SampleIterator {
    /// Moves to the next sample.
    fn next(&mut self) -> ValueType;

    /// Moves to the first sample with timestamp `>= t`. Never moves backwards: when the
    /// current sample already qualifies, stays on it.
    fn seek(&mut self, t: i64) -> ValueType;

    /// The current float sample.
    fn at(&self) -> (i64, f64);

    /// The current integer histogram.
    fn at_histogram(&self) -> (i64, Histogram);

    /// The current histogram as float counts (integer histograms are converted).
    fn at_float_histogram(&self) -> (i64, FloatHistogram);

    /// The timestamp of the current sample, whatever its type.
    fn at_t(&self) -> i64;

    /// The start timestamp of the current sample, whatever its type: milliseconds, 0 when
    /// unknown (see [`crate::Appender::append_with_st`]). The default knows none.
    fn at_st(&self) -> i64 {
        0
    }

    /// Whether any sample of this iterator may have a start timestamp. When false,
    /// [`SampleIterator::at_st`] is 0 for every sample and callers may skip it (and read
    /// with [`SampleIterator::read_floats`], which does not return start timestamps).
    /// The default is false.
    fn has_start_timestamps(&self) -> bool {
        false
    }

    /// Why the iterator stopped early, if it did.
    fn err(&self) -> Option<&crate::StorageError> {
        None
    }

    /// Appends the current sample and those after it to `out` while they are floats at
    /// or before `maxt`; `current` is the type the last `next` or `seek` returned.
    /// Returns the type of the first sample not appended (`None` at the end), the
    /// iterator standing on it. The default walks with [`SampleIterator::at`] and
    /// [`SampleIterator::next`]; iterators over decoded samples copy in one go.
    fn read_floats(
        &mut self,
        current: ValueType,
        maxt: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> ValueType {
        let mut vt = current;
        while vt == ValueType::Float {
            let (t, f) = self.at();
            if t > maxt {
                break;
            }
            out.push((t, f));
            vt = self.next();
        }
        vt
    }

    /// How many samples at most are left, counting the current one (for reserving).
    fn remaining_hint(&self) -> usize {
        0
    }
}

/// A stored sample value.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleValue {
    /// A float.
    Float(f64),
    /// An integer native histogram.
    Histogram(Box<Histogram>),
    /// A float native histogram.
    FloatHistogram(Box<FloatHistogram>),
}

impl SampleValue {
    /// Its [`ValueType`].
    pub fn value_type(&self) -> ValueType {
        match self {
            SampleValue::Float(_) => ValueType::Float,
            SampleValue::Histogram(_) => ValueType::Histogram,
            SampleValue::FloatHistogram(_) => ValueType::FloatHistogram,
        }
    }
}

/// Iterates a slice of `(timestamp, value)` pairs in timestamp order.
#[derive(Clone, Debug)]
pub struct ListIterator<'a> {
    samples: &'a [(i64, SampleValue)],
    /// Start timestamps parallel to `samples`, or empty.
    start_timestamps: &'a [i64],
    /// Index of the current sample plus one; 0 before the first `next`.
    pos: usize,
}

impl<'a> ListIterator<'a> {
    /// An iterator over `samples`, which must be sorted by timestamp.
    pub fn new(samples: &'a [(i64, SampleValue)]) -> Self {
        ListIterator {
            samples,
            start_timestamps: &[],
            pos: 0,
        }
    }

    /// The same iterator handing out `start_timestamps[i]` as the start timestamp of
    /// `samples[i]` (0: unknown). A slice of another length than `samples` is ignored.
    pub fn with_start_timestamps(mut self, start_timestamps: &'a [i64]) -> Self {
        if start_timestamps.len() == self.samples.len() {
            self.start_timestamps = start_timestamps;
        }
        self
    }

    fn current(&self) -> Option<&'a (i64, SampleValue)> {
        self.pos.checked_sub(1).and_then(|i| self.samples.get(i))
    }

    fn kind(&self) -> ValueType {
        self.current()
            .map_or(ValueType::None, |(_, v)| v.value_type())
    }
}

impl SampleIterator for ListIterator<'_> {
    fn read_floats(
        &mut self,
        current: ValueType,
        maxt: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> ValueType {
        if current != ValueType::Float || self.pos == 0 {
            return current;
        }
        let from = self.pos - 1;
        let mut i = from;
        for (t, v) in &self.samples[from..] {
            match v {
                SampleValue::Float(f) if *t <= maxt => out.push((*t, *f)),
                _ => break,
            }
            i += 1;
        }
        self.pos = i + 1;
        self.kind()
    }

    fn remaining_hint(&self) -> usize {
        self.samples.len() + 1 - self.pos.clamp(1, self.samples.len() + 1)
    }

    fn next(&mut self) -> ValueType {
        if self.pos <= self.samples.len() {
            self.pos += 1;
        }
        self.kind()
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if let Some((ct, _)) = self.current()
            && *ct >= t
        {
            return self.kind();
        }
        let from = self.pos.min(self.samples.len());
        let skip = self.samples[from..].partition_point(|(st, _)| *st < t);
        self.pos = from + skip + 1;
        self.kind()
    }

    fn at(&self) -> (i64, f64) {
        match self.current() {
            Some((t, SampleValue::Float(v))) => (*t, *v),
            Some((t, _)) => (*t, 0.0),
            None => (0, 0.0),
        }
    }

    fn at_histogram(&self) -> (i64, Histogram) {
        match self.current() {
            Some((t, SampleValue::Histogram(h))) => (*t, (**h).clone()),
            Some((t, _)) => (*t, Histogram::default()),
            None => (0, Histogram::default()),
        }
    }

    fn at_float_histogram(&self) -> (i64, FloatHistogram) {
        match self.current() {
            Some((t, SampleValue::Histogram(h))) => (*t, h.to_float()),
            Some((t, SampleValue::FloatHistogram(h))) => (*t, (**h).clone()),
            Some((t, _)) => (*t, FloatHistogram::default()),
            None => (0, FloatHistogram::default()),
        }
    }

    fn at_t(&self) -> i64 {
        self.current().map_or(0, |(t, _)| *t)
    }

    fn at_st(&self) -> i64 {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.start_timestamps.get(i))
            .copied()
            .unwrap_or(0)
    }

    fn has_start_timestamps(&self) -> bool {
        !self.start_timestamps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(ts: &[i64]) -> Vec<(i64, SampleValue)> {
        ts.iter()
            .map(|t| (*t, SampleValue::Float(*t as f64)))
            .collect()
    }

    #[test]
    fn next_and_seek() {
        let s = floats(&[10, 20, 30]);
        let mut it = ListIterator::new(&s);
        assert_eq!(it.seek(15), ValueType::Float);
        assert_eq!(it.at(), (20, 20.0));
        assert_eq!(it.seek(5), ValueType::Float, "seek never goes back");
        assert_eq!(it.at_t(), 20);
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at_t(), 30);
        assert_eq!(it.next(), ValueType::None);
        assert_eq!(it.next(), ValueType::None);
        assert_eq!(it.seek(0), ValueType::None);
        let mut it = ListIterator::new(&s);
        assert_eq!(it.seek(31), ValueType::None);
        let mut it = ListIterator::new(&s);
        assert_eq!(it.seek(10), ValueType::Float);
        assert_eq!(it.at_t(), 10);
    }

    /// The default `read_floats` (through `at`/`next`), for comparison.
    struct Walker<'a>(ListIterator<'a>);

    impl SampleIterator for Walker<'_> {
        fn next(&mut self) -> ValueType {
            self.0.next()
        }
        fn seek(&mut self, t: i64) -> ValueType {
            self.0.seek(t)
        }
        fn at(&self) -> (i64, f64) {
            self.0.at()
        }
        fn at_histogram(&self) -> (i64, Histogram) {
            self.0.at_histogram()
        }
        fn at_float_histogram(&self) -> (i64, FloatHistogram) {
            self.0.at_float_histogram()
        }
        fn at_t(&self) -> i64 {
            self.0.at_t()
        }
    }

    #[test]
    fn read_floats_stops_at_maxt_and_at_histograms_like_the_default() {
        let mut s = floats(&[10, 20, 30, 40, 50]);
        s[3].1 = SampleValue::FloatHistogram(Box::default());
        for (from, maxt) in [(0, 100), (15, 100), (0, 20), (0, 5), (35, 100), (45, 100)] {
            let mut a = ListIterator::new(&s);
            let mut b = Walker(ListIterator::new(&s));
            let (va, vb) = (a.seek(from), b.seek(from));
            assert_eq!(va, vb);
            let hint = a.remaining_hint();
            let (mut oa, mut ob) = (Vec::new(), Vec::new());
            let ra = a.read_floats(va, maxt, &mut oa);
            let rb = b.read_floats(vb, maxt, &mut ob);
            assert_eq!((ra, &oa), (rb, &ob), "from {from} maxt {maxt}");
            assert!(oa.len() <= hint);
            assert_eq!(a.at_t(), b.at_t());
            // Both stand on the same sample afterwards.
            assert_eq!(a.next(), b.next());
        }
        let mut it = ListIterator::new(&s);
        assert_eq!(it.remaining_hint(), 5);
        it.seek(50);
        assert_eq!(it.remaining_hint(), 1);
        it.next();
        assert_eq!(it.remaining_hint(), 0);
    }
}
