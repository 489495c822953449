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

    /// Why the iterator stopped early, if it did.
    fn err(&self) -> Option<&crate::StorageError> {
        None
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
    /// Index of the current sample plus one; 0 before the first `next`.
    pos: usize,
}

impl<'a> ListIterator<'a> {
    /// An iterator over `samples`, which must be sorted by timestamp.
    pub fn new(samples: &'a [(i64, SampleValue)]) -> Self {
        ListIterator { samples, pos: 0 }
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
}
