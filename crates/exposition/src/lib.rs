//! Prometheus exposition formats: what targets serve on `/metrics`, parsed and written.
//!
//! This crate **is** three streaming parsers and two writers:
//! - [`TextParser`]: the Prometheus text format 0.0.4, with Prometheus 3.x's quoted UTF-8
//!   names;
//! - [`OpenMetricsParser`]: OpenMetrics 1.0 text (exemplars, `_created`, units, `info`,
//!   `stateset`, `gaugehistogram`, `# EOF`), checked to the letter of the specification;
//! - [`ProtobufParser`]: length-delimited `io.prometheus.client.MetricFamily` messages,
//!   native histograms included;
//! - [`Writer`], [`write_text`] and [`write_openmetrics`], which escape and format numbers
//!   byte for byte as Prometheus's Go libraries do;
//! - [`Format`] and [`negotiate`] to pick a parser from a `Content-Type` or a format from an
//!   `Accept` header.
//!
//! It is **not** an HTTP client or a scraper (see `narthex-scrape`), and it does not store
//! anything: it turns bytes into [`Entry`] values and families into bytes, with no I/O.
//!
//! ```
//! use narthex_exposition::{Entry, Format, ParseOptions, write_text, read_families};
//!
//! let body = concat!(
//!     "# HELP http_requests_total Requests served.\n",
//!     "# TYPE http_requests_total counter\n",
//!     "http_requests_total{code=\"200\",method=\"get\"} 1027 1395066363000\n",
//! )
//! .as_bytes();
//! let mut parser = Format::from_content_type("text/plain; version=0.0.4")
//!     .expect("a known type")
//!     .parser(body, ParseOptions::default());
//! while let Some(entry) = parser.next_entry() {
//!     match entry? {
//!         Entry::Sample(s) => {
//!             assert_eq!(s.to_labels().to_string(), r#"{__name__="http_requests_total", code="200", method="get"}"#);
//!             assert_eq!((s.value, s.timestamp), (1027.0, Some(1395066363000)));
//!         }
//!         Entry::Help { .. } | Entry::Type { .. } => {}
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//!
//! // Families can be collected, and written back in either text format.
//! let families = read_families(narthex_exposition::TextParser::new(body, ParseOptions::default()))?;
//! assert_eq!(write_text(&families), body.to_vec());
//! # Ok::<(), narthex_exposition::ParseError>(())
//! ```
//!
//! # Design
//! - **Zero-copy.** Entries borrow names, label names and values from the input; only
//!   escaped strings are copied. Each [`Entry`] borrows the parser, so it is a lending
//!   stream rather than an `Iterator`: call [`Parser::next_entry`] in a `while let` loop.
//! - **Errors are positions.** Every [`ParseError`] has a line, a column (in characters)
//!   and an [`ErrorKind`]. [`Recovery::Strict`] stops at the first error;
//!   [`Recovery::Lenient`] reports it, skips the line, and goes on.
//! - **Two levels of checking.** The line grammar is always enforced. With
//!   [`ParseOptions::family_checks`] (the default) the rules spanning lines are enforced
//!   too: OpenMetrics 1.0's family rules, and for the text format the checks of
//!   Prometheus's client-side parser. Prometheus's scraper makes neither; turn the option
//!   off to accept exactly what it accepts.
//! - **Prometheus's normalisations.** A `NaN` value becomes Prometheus's normal NaN
//!   ([`NORMAL_NAN_BITS`]) so it never reads as a stale marker, and `le`/`quantile` label
//!   values of histograms and summaries are rewritten in Prometheus's float text
//!   (`le="1"` becomes `le="1.0"`), as Prometheus 3.x does.
//! - OpenMetrics timestamps are seconds; they are returned in milliseconds, computed
//!   exactly from the decimal digits (Prometheus multiplies a float and can lose a
//!   millisecond).

mod entry;
mod error;
mod family;
mod format;
mod lex;
mod openmetrics;
pub mod protobuf;
mod text;
mod write;

pub use entry::{
    Entry, ExemplarRef, HistogramRef, HistogramValue, LabelRef, SampleRef, build_labels,
};
pub use error::{ErrorKind, ParseError};
pub use family::{FamilySample, MetricFamily, read_families};
pub use format::{Format, negotiate};
pub use openmetrics::OpenMetricsParser;
pub use protobuf::ProtobufParser;
pub use text::{RawSample, TextParser};
pub use write::{TextFormat, Writer, write_openmetrics, write_text};

/// Bit pattern Prometheus gives every NaN it parses from an exposition, so that a `NaN`
/// written by a target can never be mistaken for the stale marker.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// What a parser does after an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recovery {
    /// Stop at the first error: it is returned once and the parser then yields `None`.
    #[default]
    Strict,
    /// Report the error, skip the bad line (for protobuf: the bad message), and go on.
    Lenient,
}

/// Options shared by the parsers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// What to do after an error.
    pub recovery: Recovery,
    /// Check the rules that span lines of a metric family, beyond the line grammar.
    /// OpenMetrics: the family rules of OpenMetrics 1.0 (grouping, ordering, histogram and
    /// summary structure, counter values, where exemplars may appear). Text format: the
    /// checks of Prometheus's client-side parser (one HELP and one TYPE per family, TYPE
    /// before samples, numeric `le` and `quantile`, no `__name__` inside braces).
    /// Prometheus's scraper makes none of these checks; turn this off to accept exactly
    /// what it accepts.
    pub family_checks: bool,
    /// Protobuf only: when a histogram has native buckets, also yield its classic buckets
    /// (`_bucket`, `_sum`, `_count`) as float samples.
    pub classic_histograms: bool,
    /// Protobuf only: read every histogram as a classic one (`_count`, `_sum`, `_bucket`
    /// with a `+Inf` bucket), ignoring native buckets, as Prometheus does for a job with
    /// `scrape_native_histograms: false`.
    pub ignore_native_histograms: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            recovery: Recovery::Strict,
            family_checks: true,
            classic_histograms: false,
            ignore_native_histograms: false,
        }
    }
}

/// A streaming exposition parser: call [`Parser::next_entry`] until it returns `None`.
///
/// Entries borrow from the parser (and through it from the input), so each must be
/// dropped before the next call; copy out what you keep (for example with
/// [`SampleRef::to_labels`]).
pub trait Parser {
    /// The next entry, an error, or `None` at the end of the input.
    fn next_entry(&mut self) -> Option<Result<Entry<'_>, ParseError>>;
}
