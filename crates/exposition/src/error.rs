//! Parse errors: a kind, and the line and column where the input went wrong.

use std::fmt;

/// What went wrong while parsing an exposition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A token other than the expected one.
    #[error("expected {expected}, got {found}")]
    Unexpected {
        /// What the grammar allows here.
        expected: &'static str,
        /// What the input has, quoted, or `end of input`.
        found: String,
    },
    /// The input ended in the middle of an entry.
    #[error("unexpected end of input: {0}")]
    UnexpectedEof(&'static str),
    /// A metric or label name that is not allowed.
    #[error("invalid {what} name {name:?}")]
    InvalidName {
        /// `metric` or `label`.
        what: &'static str,
        /// The name as written.
        name: String,
    },
    /// A sample value that is not a number.
    #[error("invalid value {0:?}")]
    InvalidValue(String),
    /// A timestamp that is not a number or not finite.
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// An unknown metric type in `# TYPE`.
    #[error("invalid metric type {0:?}")]
    InvalidType(String),
    /// A label name that occurs twice in one sample.
    #[error("duplicate label name {0:?}")]
    DuplicateLabel(String),
    /// Text that is not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// The OpenMetrics `# EOF` is missing, or something follows it.
    #[error("{0}")]
    Eof(&'static str),
    /// A metadata line in the wrong place or repeated.
    #[error("{0}")]
    Metadata(String),
    /// A violation of OpenMetrics's rules for a family (grouping, ordering, values,
    /// required samples).
    #[error("{0}")]
    Semantic(String),
    /// Invalid exemplar.
    #[error("invalid exemplar: {0}")]
    Exemplar(String),
    /// The protobuf bytes do not decode.
    #[error("protobuf: {0}")]
    Protobuf(String),
}

/// A parse error with its position: 1-based line and 1-based column counted in characters.
/// For protobuf input, `line` is 0 and `column` is the byte offset of the message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based line number (0 for binary formats).
    pub line: u32,
    /// 1-based column in characters (byte offset for binary formats).
    pub column: u32,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "byte {}: {}", self.column, self.kind)
        } else {
            write!(f, "{}:{}: {}", self.line, self.column, self.kind)
        }
    }
}
