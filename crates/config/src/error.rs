//! [`ConfigError`]: what went wrong, in which file, at which line and column.

use std::fmt;
use std::path::PathBuf;

/// A 1-based line and column (in characters) inside a YAML file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column number, counted in characters.
    pub column: u32,
}

impl Position {
    /// Makes a position from a 1-based line and column.
    pub const fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

/// What kind of problem a [`ConfigError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The text is not well-formed YAML.
    Syntax,
    /// Well-formed YAML that does not fit the schema: unknown keys, wrong types, duplicate
    /// keys, values that cannot be read (bad durations, sizes, regexes, label names).
    Schema,
    /// A value that reads fine but breaks one of Prometheus's rules (scrape timeout above
    /// the interval, duplicate job names, conflicting authentication settings, ...).
    Invalid,
}

/// An error while loading or validating a configuration.
///
/// `message` is Prometheus's own text wherever Prometheus has one (for example
/// `scrape timeout greater than scrape interval for scrape config with job name "node"`);
/// `position` points at the offending key or value when the error belongs to one place.
/// `Display` prints `file:line:column: message`, leaving out what is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the error is in, when the configuration came from a file.
    pub file: Option<PathBuf>,
    /// Where in the file, when known.
    pub position: Option<Position>,
    /// The kind of problem.
    pub kind: ErrorKind,
    /// The message, without file or position.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(
        kind: ErrorKind,
        position: Option<Position>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: None,
            position,
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(position: Option<Position>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, position, message)
    }

    pub(crate) fn schema(position: Option<Position>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Schema, position, message)
    }

    pub(crate) fn with_file(mut self, file: impl Into<PathBuf>) -> Self {
        if self.file.is_none() {
            self.file = Some(file.into());
        }
        self
    }

    /// The 1-based line, if known.
    pub fn line(&self) -> Option<u32> {
        self.position.map(|p| p.line)
    }

    /// The 1-based column, if known.
    pub fn column(&self) -> Option<u32> {
        self.position.map(|p| p.column)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
        }
        if let Some(p) = self.position {
            write!(f, "{}:{}:", p.line, p.column)?;
        }
        if self.file.is_some() || self.position.is_some() {
            f.write_str(" ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}
