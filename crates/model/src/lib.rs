//! The Prometheus data model, shared by every Narthex crate.
//!
//! This crate **is** the vocabulary: label sets ([`Labels`]), label matchers with
//! Prometheus's regex semantics ([`Matcher`]), float samples, exemplars, metric types and
//! metadata, native histograms ([`Histogram`], [`FloatHistogram`]), the stale-marker NaN,
//! name validation, and float text that matches Go byte for byte ([`float`]).
//!
//! It is **not** a storage engine, a parser or a query engine: it does no I/O and needs
//! no async runtime, so every other crate (and yours) can depend on it cheaply.
//!
//! ```
//! use narthex_model::{labels, float, MatchOp, Matcher};
//!
//! let series = labels! { "__name__" => "http_requests_total", "code" => "200", "job" => "api" };
//! let m = Matcher::new(MatchOp::RegexMatch, "code", "2..").unwrap();
//! assert!(m.matches(series.get("code").unwrap_or("")));
//! assert_eq!(series.to_string(), r#"{__name__="http_requests_total", code="200", job="api"}"#);
//! assert_eq!(float::format_go_g(1234567.0), "1.234567e+06");
//! ```
//!
//! # Design
//! - [`Labels`] is an `Arc<[Label]>`: immutable, sorted by name, and cloned by copying one
//!   pointer. Its [`Labels::hash64`] equals Prometheus's `Labels.Hash()`.
//! - Matcher regexes are anchored as `^(?s:...)$` and read with RE2's rules (ASCII `\d \w
//!   \s \b`); literals, alternations of literals and `.*`-shaped patterns skip the regex
//!   engine.
//! - Time is `i64` milliseconds since the Unix epoch everywhere.

mod duration;
pub mod float;
mod histogram;
mod labels;
mod matcher;
mod names;
mod quote;
pub mod relabel;
mod sample;
mod target;
pub mod time;

pub use duration::{DurationError, format_duration, parse_duration};
pub use histogram::{
    CUSTOM_BUCKETS_SCHEMA, CounterResetHint, EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN,
    FloatHistogram, Histogram, HistogramError, Span,
};
pub use labels::{Label, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{FastRegex, MatchOp, Matcher, RegexError};
pub use names::{
    NameValidation, is_legacy_label_name, is_legacy_metric_name, write_label_name,
    write_metric_name,
};
pub use quote::{go_quote, write_go_quoted};
pub use sample::{
    Exemplar, Metadata, MetricType, STALE_NAN_BITS, Sample, UnknownMetricType, is_stale_nan,
    stale_nan,
};
pub use target::{TargetGroup, merge_group_labels};
