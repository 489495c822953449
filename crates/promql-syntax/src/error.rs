//! Parse errors: a kind, a span and Prometheus's message.

use std::fmt;

use crate::ast::Span;

/// What went wrong, broadly. The exact text is in [`ParseError::message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The lexer met text it cannot read: a bad character, number, string or escape,
    /// an unclosed or unexpected bracket.
    Lex,
    /// A token the grammar does not allow at that place.
    UnexpectedToken,
    /// The input holds no expression.
    NoExpression,
    /// A number literal Go's `strconv` rejects (out of range).
    InvalidNumber,
    /// A duration that is malformed, out of range or not allowed where it is.
    InvalidDuration,
    /// A label matcher that cannot be built (bad regex), or a selector that breaks
    /// Prometheus's rules (no non-empty matcher, metric name set twice).
    InvalidSelector,
    /// `offset`, `@`, `anchored`, `smoothed` or a range where it is not allowed, or set
    /// twice.
    InvalidModifier,
    /// An aggregation with the wrong number of arguments.
    InvalidAggregation,
    /// A call to a function the [`FunctionTable`](crate::FunctionTable) does not have.
    UnknownFunction,
    /// A function called with too few or too many arguments.
    WrongArgumentCount,
    /// An operand or argument of the wrong type, or an operator or modifier not allowed
    /// for the operand types.
    TypeMismatch,
    /// A label name that is not valid.
    InvalidLabelName,
    /// Experimental syntax that [`ParserOptions`](crate::ParserOptions) does not enable.
    NotEnabled,
    /// Nesting deeper than [`ParserOptions::max_nesting`](crate::ParserOptions).
    TooDeep,
}

/// One parse error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong, broadly.
    pub kind: ErrorKind,
    /// The bytes it concerns.
    pub span: Span,
    /// Prometheus's message, without position.
    pub message: String,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based byte column of `span.start` within its line.
    pub column: usize,
}

impl ParseError {
    pub(crate) fn new(src: &str, kind: ErrorKind, span: Span, message: String) -> Self {
        let start = span.start.min(src.len());
        let before = &src.as_bytes()[..start];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = match before.iter().rposition(|&b| b == b'\n') {
            Some(nl) => start - nl,
            None => start + 1,
        };
        ParseError {
            kind,
            span,
            message,
            line,
            column,
        }
    }
}

impl fmt::Display for ParseError {
    /// `line:column: parse error: message`, as Prometheus's `ParseErr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "unknown position: parse error: {}", self.message)
        } else {
            write!(
                f,
                "{}:{}: parse error: {}",
                self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ParseError {}

/// Every error found in one input, in the order Prometheus reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseErrors {
    errors: Vec<ParseError>,
}

impl ParseErrors {
    pub(crate) fn new(errors: Vec<ParseError>) -> Self {
        debug_assert!(!errors.is_empty());
        ParseErrors { errors }
    }

    /// The first error.
    pub fn first(&self) -> &ParseError {
        &self.errors[0]
    }

    /// All errors.
    pub fn errors(&self) -> &[ParseError] {
        &self.errors
    }

    /// All errors, owned.
    pub fn into_vec(self) -> Vec<ParseError> {
        self.errors
    }
}

impl fmt::Display for ParseErrors {
    /// The errors, one per line, as Prometheus's `ParseErrors`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseErrors {}
