//! Samples, exemplars, metric types and metadata.

use std::fmt;
use std::str::FromStr;

use crate::labels::Labels;

/// Bit pattern of the NaN that marks a series as stale. It differs from the NaN that
/// arithmetic produces, so a real NaN sample is never mistaken for a stale marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The stale-marker value.
#[inline]
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is the stale marker (compared bit for bit, not as a float).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// A float sample: milliseconds since the epoch and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The value.
    pub value: f64,
}

/// An exemplar: a labelled example observation (typically a trace ID) attached to a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// The exemplar's labels, for example `{trace_id="abc"}`.
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// When it was observed, in milliseconds since the epoch, if known.
    pub timestamp: Option<i64>,
}

/// The type of a metric family, as declared by `# TYPE` or the protobuf format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricType {
    /// A monotonically increasing counter.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A classic or native histogram.
    Histogram,
    /// A histogram of current values (OpenMetrics).
    GaugeHistogram,
    /// Quantiles, sum and count.
    Summary,
    /// Constant information in labels (OpenMetrics).
    Info,
    /// A set of boolean states (OpenMetrics).
    StateSet,
    /// No type given (`untyped` in the text format, `unknown` in OpenMetrics).
    #[default]
    Unknown,
}

impl MetricType {
    /// The name Prometheus's metadata API uses (`counter`, `gaugehistogram`, `unknown`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unrecognised metric type name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid metric type {0:?}")]
pub struct UnknownMetricType(pub String);

impl FromStr for MetricType {
    type Err = UnknownMetricType;
    /// Parses the names of [`MetricType::as_str`], plus `untyped` for [`MetricType::Unknown`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "unknown" | "untyped" => MetricType::Unknown,
            _ => return Err(UnknownMetricType(s.to_string())),
        })
    }
}

/// What a target says about a metric family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Metadata {
    /// The family's type.
    pub metric_type: MetricType,
    /// The help text, unescaped.
    pub help: String,
    /// The unit (OpenMetrics), empty when none.
    pub unit: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_a_distinct_nan() {
        assert!(stale_nan().is_nan());
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
        assert!(!is_stale_nan(f64::from_bits(0x7ff8_0000_0000_0001)));
    }

    #[test]
    fn metric_types_round_trip() {
        for t in [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::GaugeHistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::StateSet,
            MetricType::Unknown,
        ] {
            assert_eq!(t.as_str().parse::<MetricType>(), Ok(t));
        }
        assert_eq!("untyped".parse::<MetricType>(), Ok(MetricType::Unknown));
        assert!("meh".parse::<MetricType>().is_err());
    }
}
