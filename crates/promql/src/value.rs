//! Query results: scalars, strings, instant vectors and range vectors.

use narthex_model::{FloatHistogram, Labels};

/// A float point of a range vector.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FPoint {
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The value.
    pub f: f64,
}

/// A histogram point of a range vector.
#[derive(Clone, Debug, PartialEq)]
pub struct HPoint {
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The histogram.
    pub h: FloatHistogram,
}

/// One element of an instant vector: a float or a histogram at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels (without `__name__` where the expression dropped it).
    pub metric: Labels,
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The float value (ignored when `h` is set).
    pub f: f64,
    /// The histogram value, for histogram samples.
    pub h: Option<FloatHistogram>,
}

/// One series of a range vector (a matrix): its float and histogram points in time order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Series {
    /// The series' labels.
    pub metric: Labels,
    /// Float points.
    pub floats: Vec<FPoint>,
    /// Histogram points.
    pub histograms: Vec<HPoint>,
}

/// A query result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar at a time.
    Scalar {
        /// Milliseconds since the epoch.
        t: i64,
        /// The value.
        v: f64,
    },
    /// A string at a time.
    String {
        /// Milliseconds since the epoch.
        t: i64,
        /// The string.
        s: String,
    },
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector (also the result of range queries, one series per output series).
    Matrix(Vec<Series>),
}

/// Warnings and informational notes raised while evaluating, with Prometheus's texts
/// (`PromQL warning: ... (1:1)`, `PromQL info: ...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotations {
    /// Warnings.
    pub warnings: Vec<String>,
    /// Informational notes.
    pub infos: Vec<String>,
}

/// Counters about a query's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Samples loaded from storage or computed (Prometheus's `totalQueryableSamples`).
    pub samples_touched: u64,
    /// Most samples held in memory at once.
    pub peak_samples: u64,
    /// Wall-clock time from parsing to the result.
    pub elapsed: std::time::Duration,
}

/// What a query returns.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// The value.
    pub value: Value,
    /// Warnings and infos.
    pub annotations: Annotations,
    /// Work counters.
    pub stats: QueryStats,
}
