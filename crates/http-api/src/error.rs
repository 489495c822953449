//! API errors: Prometheus's error types, HTTP status codes and messages.

use std::fmt;

use narthex_model::go_quote;
use narthex_promql::QueryError;

/// Prometheus's `errorType` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorType {
    /// `bad_data` (400): a parameter is malformed.
    BadData,
    /// `execution` (422): the query failed while running.
    Execution,
    /// `timeout` (503): the query ran out of time.
    Timeout,
    /// `canceled` (503): the query was cancelled.
    Canceled,
    /// `internal` (500): the storage or the server failed.
    Internal,
    /// `unavailable` (503): the server is not ready.
    Unavailable,
    /// `not_found` (404).
    NotFound,
    /// `not_acceptable` (406).
    NotAcceptable,
}

impl ErrorType {
    /// The JSON text: `bad_data`, `execution`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::NotFound => "not_found",
            ErrorType::NotAcceptable => "not_acceptable",
        }
    }

    /// The HTTP status code Prometheus answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorType::BadData => 400,
            ErrorType::Execution => 422,
            ErrorType::Timeout | ErrorType::Canceled | ErrorType::Unavailable => 503,
            ErrorType::Internal => 500,
            ErrorType::NotFound => 404,
            ErrorType::NotAcceptable => 406,
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer: `{"status":"error","errorType":...,"error":...}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The error type (and so the HTTP status).
    pub typ: ErrorType,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// An error of a type with a message.
    pub fn new(typ: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            typ,
            message: message.into(),
        }
    }

    /// `bad_data`: `invalid parameter "name": message`.
    pub fn invalid_param(name: &str, message: impl fmt::Display) -> Self {
        ApiError::new(
            ErrorType::BadData,
            format!("invalid parameter {}: {message}", go_quote(name)),
        )
    }

    /// A query error mapped as Prometheus's `returnAPIError` does; errors that Prometheus
    /// raises while preparing the query (parse and type errors) are `bad_data` for the
    /// `query` parameter.
    pub fn from_query(e: QueryError) -> Self {
        match e {
            QueryError::Parse(p) => ApiError::invalid_param("query", p),
            QueryError::Timeout => ApiError::new(ErrorType::Timeout, e.to_string()),
            QueryError::Canceled => ApiError::new(ErrorType::Canceled, e.to_string()),
            QueryError::Storage(s) => ApiError::new(ErrorType::Internal, s.to_string()),
            QueryError::Eval(m) if m.starts_with("invalid expression type") => {
                ApiError::invalid_param("query", m)
            }
            other => ApiError::new(ErrorType::Execution, other.to_string()),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.typ, self.message)
    }
}

impl std::error::Error for ApiError {}
