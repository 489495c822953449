//! The traits where Narthex's query engines and storages meet.
//!
//! This crate **is** the contract: [`Queryable`] hands out a [`Querier`] over a time range,
//! which selects [`Series`] by label [`Matcher`]s and lists label names and values; each
//! series yields a [`SampleIterator`] with `seek`. [`Appendable`] hands out an
//! [`Appender`] that buffers samples, histograms, exemplars and metadata until `commit`.
//! [`MemStorage`] implements both sides in memory, for tests and for embedding.
//!
//! It is **not** a storage engine (see `narthex-tsdb`) or a query engine (see
//! `narthex-promql`): the PromQL engine is written against these traits only, so it runs on
//! the TSDB, on [`MemStorage`], or on your own storage.
//!
//! ```
//! use narthex_model::{labels, MatchOp, Matcher};
//! use narthex_storage::{Appendable, MemStorage, Queryable, SeriesRef, ValueType};
//!
//! let db = MemStorage::new();
//! let mut app = db.appender();
//! let series = labels! { "__name__" => "up", "job" => "api" };
//! let r = app.append(SeriesRef::UNKNOWN, &series, 1_000, 1.0)?;
//! app.append(r, &series, 2_000, 0.0)?;
//! app.commit()?;
//!
//! let q = db.querier(0, 10_000)?;
//! let m = Matcher::new(MatchOp::Equal, "job", "api").unwrap();
//! let mut set = q.select(true, None, &[m])?;
//! let s = set.next().unwrap()?;
//! let mut it = s.iter();
//! assert_eq!(it.seek(1_500), ValueType::Float);
//! assert_eq!(it.at(), (2_000, 0.0));
//! # Ok::<(), narthex_storage::StorageError>(())
//! ```
//!
//! # Design
//! - Time is `i64` milliseconds since the epoch; ranges are inclusive at both ends, as in
//!   Prometheus.
//! - Iterators follow Prometheus's `chunkenc.Iterator`: `next`/`seek` return the
//!   [`ValueType`] of the sample they land on (or [`ValueType::None`] at the end) and
//!   `at*` read it; an iterator that stops early reports why through `err`.
//! - Errors are the kinds Prometheus's appenders return (out of order, out of bounds,
//!   duplicate timestamp, too old) so callers count and report them the same way.
//! - A sample may carry a start timestamp (Prometheus's per-sample "ST": when the counter
//!   started from zero, or when a delta's interval began), 0 when unknown. Appenders take
//!   it through [`Appender::append_with_st`] and [`Appender::append_histogram_with_st`],
//!   iterators hand it out through [`SampleIterator::at_st`]; the defaults drop it and
//!   read 0, so storages without start timestamps need no code for them.

mod chunks;
mod error;
mod iter;
mod mem;

use narthex_model::{Exemplar, FloatHistogram, Histogram, Labels, Matcher, Metadata};

pub use error::StorageError;
pub use iter::{ListIterator, SampleIterator, SampleValue, ValueType};
pub use mem::MemStorage;

/// A reference to a series inside one storage, returned by appends so later appends can
/// skip the label lookup. [`SeriesRef::UNKNOWN`] means "look the labels up".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

impl SeriesRef {
    /// No reference known yet.
    pub const UNKNOWN: SeriesRef = SeriesRef(0);
}

/// What the caller of [`Querier::select`] will do with the series, so a storage can skip
/// work (Prometheus's `SelectHints`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// Start of the data needed, milliseconds (inclusive).
    pub start: i64,
    /// End of the data needed, milliseconds (inclusive).
    pub end: i64,
    /// Query step in milliseconds, 0 for instant queries.
    pub step: i64,
    /// The function the selector is an argument of, if any (`rate`, `series` for metadata-only
    /// selects, ...).
    pub func: Option<String>,
    /// Labels grouped by the surrounding aggregation.
    pub grouping: Vec<String>,
    /// Whether `grouping` lists the labels kept (`by`) rather than dropped (`without`).
    pub by: bool,
    /// Range of the selector in milliseconds, 0 for instant selectors.
    pub range: i64,
}

/// Options for label name and value lookups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabelHints {
    /// Return at most this many results; 0 means no limit.
    pub limit: usize,
}

/// One series: its labels and a way to read its samples, as many times as needed.
pub trait Series: Send + Sync {
    /// The series' labels, `__name__` included.
    fn labels(&self) -> &Labels;
    /// A fresh iterator over the samples within the querier's time range.
    fn iter(&self) -> Box<dyn SampleIterator + '_>;
}

/// The series a select produced, streamed.
pub type SeriesSet<'q> = Box<dyn Iterator<Item = Result<Box<dyn Series + 'q>, StorageError>> + 'q>;

/// Reads series over a fixed time range.
pub trait Querier: Send + Sync {
    /// The series matching every matcher (a series without a label matches it as the empty
    /// string). With `sorted`, series come in label order.
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet<'_>, StorageError>;

    /// Sorted, unique values of label `name` among series matching `matchers` (all series
    /// when empty).
    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError>;

    /// Sorted, unique label names among series matching `matchers` (all series when empty).
    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError>;
}

/// Something to query.
pub trait Queryable: Send + Sync {
    /// A querier over `[mint, maxt]` (milliseconds, inclusive).
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError>;
}

/// Buffers writes until [`Appender::commit`]; nothing is visible before it, and
/// [`Appender::rollback`] discards everything.
pub trait Appender: Send {
    /// Appends a float sample. Returns the series' reference for later appends.
    fn append(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError>;

    /// Appends a float sample with its start timestamp `st`: the time (milliseconds) the
    /// counter started counting from zero (OpenTelemetry's start time, OpenMetrics'
    /// `_created`), 0 when unknown. For a delta sample it is the start of the interval
    /// the value covers. PromQL's `rate` family treats it as a reset point.
    ///
    /// The default drops the start timestamp and calls [`Appender::append`]: storages
    /// that keep start timestamps override it.
    fn append_with_st(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        t: i64,
        st: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        let _ = st;
        self.append(series, labels, t, v)
    }

    /// Appends a native histogram sample (integer or float counts).
    fn append_histogram(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        t: i64,
        h: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError>;

    /// Appends a native histogram sample with its start timestamp `st` (0 when unknown;
    /// see [`Appender::append_with_st`]). The default drops the start timestamp and calls
    /// [`Appender::append_histogram`].
    fn append_histogram_with_st(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        t: i64,
        st: i64,
        h: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError> {
        let _ = st;
        self.append_histogram(series, labels, t, h)
    }

    /// Attaches an exemplar to the series.
    fn append_exemplar(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, StorageError>;

    /// Records the series' metadata.
    fn update_metadata(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, StorageError>;

    /// Makes everything appended visible (and, for a durable storage, durable).
    fn commit(self: Box<Self>) -> Result<(), StorageError>;

    /// Discards everything appended.
    fn rollback(self: Box<Self>) -> Result<(), StorageError>;
}

/// A native histogram being appended.
#[derive(Clone, Copy, Debug)]
pub enum HistogramSample<'h> {
    /// Integer counts.
    Int(&'h Histogram),
    /// Float counts.
    Float(&'h FloatHistogram),
}

/// Something to append to.
pub trait Appendable: Send + Sync {
    /// A new appender.
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// Whether every matcher accepts the labels (missing labels match as the empty string).
pub fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(m.name()).unwrap_or("")))
}
