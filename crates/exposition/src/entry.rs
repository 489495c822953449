//! What parsers yield: borrowed, zero-copy views of one exposition line at a time.

use std::borrow::Cow;

use narthex_model::{
    Exemplar, FloatHistogram, Histogram, Label, Labels, LabelsBuilder, METRIC_NAME, MetricType,
};

/// One label of a sample, borrowed from the input where no unescaping was needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelRef<'p> {
    /// The label name.
    pub name: Cow<'p, str>,
    /// The label value, unescaped.
    pub value: Cow<'p, str>,
}

/// An exemplar attached to a sample (OpenMetrics and protobuf).
#[derive(Clone, Debug, PartialEq)]
pub struct ExemplarRef<'p> {
    /// The exemplar's labels.
    pub labels: &'p [LabelRef<'p>],
    /// The exemplar's value.
    pub value: f64,
    /// The exemplar's timestamp in milliseconds, if given.
    pub timestamp: Option<i64>,
}

impl ExemplarRef<'_> {
    /// An owned [`Exemplar`].
    pub fn to_exemplar(&self) -> Exemplar {
        Exemplar {
            labels: Labels::from_labels(
                self.labels
                    .iter()
                    .map(|l| Label::new(&*l.name, &*l.value))
                    .collect(),
            ),
            value: self.value,
            timestamp: self.timestamp,
        }
    }
}

/// A float sample line: `name{labels} value [timestamp] [# exemplar]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRef<'p> {
    /// The sample's metric name (for a histogram family: `x_bucket`, `x_sum`, ...).
    pub name: Cow<'p, str>,
    /// The labels in the order written, without `__name__`.
    pub labels: &'p [LabelRef<'p>],
    /// The value. A `NaN` in the input is Prometheus's normal NaN
    /// ([`crate::NORMAL_NAN_BITS`]), never the stale marker.
    pub value: f64,
    /// The timestamp in milliseconds since the epoch, if the line has one.
    pub timestamp: Option<i64>,
    /// The exemplar, if the line has one.
    pub exemplar: Option<ExemplarRef<'p>>,
}

impl SampleRef<'_> {
    /// The full label set, `__name__` included, as the storage layer wants it.
    pub fn to_labels(&self) -> Labels {
        labels_with_name(&self.name, self.labels)
    }

    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| &*l.value)
    }
}

/// A native-histogram sample (protobuf format only).
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramRef<'p> {
    /// The metric name (no suffix).
    pub name: Cow<'p, str>,
    /// The labels, without `__name__`.
    pub labels: &'p [LabelRef<'p>],
    /// The histogram: integer or float counts.
    pub histogram: HistogramValue,
    /// The timestamp in milliseconds, if given.
    pub timestamp: Option<i64>,
    /// Exemplars attached to the histogram.
    pub exemplars: &'p [Exemplar],
}

impl HistogramRef<'_> {
    /// The full label set, `__name__` included.
    pub fn to_labels(&self) -> Labels {
        labels_with_name(&self.name, self.labels)
    }
}

/// A native histogram as exposed: integer or float counts.
#[derive(Clone, Debug, PartialEq)]
pub enum HistogramValue {
    /// Integer counts.
    Int(Histogram),
    /// Float counts.
    Float(FloatHistogram),
}

fn labels_with_name(name: &str, labels: &[LabelRef<'_>]) -> Labels {
    let mut v = Vec::with_capacity(labels.len() + 1);
    v.push(Label::new(METRIC_NAME, name));
    v.extend(labels.iter().map(|l| Label::new(&*l.name, &*l.value)));
    Labels::from_labels(v)
}

/// Builds the full label set into a reusable builder (avoids one allocation per sample
/// when the caller keeps the builder).
pub fn build_labels(builder: &mut LabelsBuilder, name: &str, labels: &[LabelRef<'_>]) -> Labels {
    builder.clear();
    builder.set(METRIC_NAME, name);
    for l in labels {
        builder.set(&l.name, &l.value);
    }
    builder.build()
}

/// One parsed entry of an exposition.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<'p> {
    /// `# HELP name text`.
    Help {
        /// Family name.
        name: Cow<'p, str>,
        /// Help text, unescaped.
        help: Cow<'p, str>,
    },
    /// `# TYPE name type`.
    Type {
        /// Family name.
        name: Cow<'p, str>,
        /// The declared type.
        metric_type: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics).
    Unit {
        /// Family name.
        name: Cow<'p, str>,
        /// The unit.
        unit: Cow<'p, str>,
    },
    /// Any other comment line (text format), without the leading `#`.
    Comment(&'p str),
    /// A float sample.
    Sample(SampleRef<'p>),
    /// A native-histogram sample.
    Histogram(HistogramRef<'p>),
}
