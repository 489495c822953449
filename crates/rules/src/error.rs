//! [`Error`]: a problem in a rule file, with Prometheus's text and a line and column.

use std::fmt;
use std::path::PathBuf;

/// What kind of problem an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read, or a glob was malformed.
    Io,
    /// The text is not well-formed YAML.
    Syntax,
    /// Well-formed YAML that does not fit the schema (unknown keys, wrong types, duplicate
    /// keys, bad durations).
    Schema,
    /// A group or rule that breaks one of Prometheus's rules (duplicate group names,
    /// invalid names, expressions that do not parse, bad templates, ...).
    Invalid,
}

/// An error while loading a rule file.
///
/// `Display` prints what `promtool check rules` prints for it: `FILE: ` followed by
/// [`Error::message`], which is Prometheus's own text including its position prefix
/// (`5:15: group "g", rule 1, "name": could not parse expression: ...`). `line` and
/// `column` give the position separately (0 when unknown); unlike the text, they also
/// point at the rule for a missing `expr`, where Prometheus prints `0:0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The file, when the rules came from a file.
    pub file: Option<PathBuf>,
    /// The kind of problem.
    pub kind: ErrorKind,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
    /// The group the error is in, if any.
    pub group: Option<String>,
    /// The 1-based index of the rule within its group, if the error belongs to a rule.
    pub rule: Option<usize>,
    /// Prometheus's text, without the file name.
    pub message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, line: u32, column: u32, message: impl Into<String>) -> Self {
        Error {
            file: None,
            kind,
            line,
            column,
            group: None,
            rule: None,
            message: message.into(),
        }
    }

    pub(crate) fn with_file(mut self, file: impl Into<PathBuf>) -> Self {
        if self.file.is_none() {
            self.file = Some(file.into());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
