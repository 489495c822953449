//! The errors storages return.

/// Why a read or write failed. The append kinds carry Prometheus's texts, which scrape
/// reports and metrics are keyed on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A sample older than the series' newest sample (and outside any out-of-order window).
    #[error("out of order sample")]
    OutOfOrderSample,
    /// A sample with the newest timestamp but a different value.
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    /// A sample older than the head's lower bound (it belongs to persisted data).
    #[error("out of bounds")]
    OutOfBounds,
    /// An out-of-order sample older than the out-of-order window.
    #[error("too old sample")]
    TooOldSample,
    /// An out-of-order exemplar.
    #[error("out of order exemplar")]
    OutOfOrderExemplar,
    /// A duplicate exemplar.
    #[error("duplicate exemplar")]
    DuplicateExemplar,
    /// Exemplar labels longer than the limit.
    #[error("exemplar label set is too long")]
    ExemplarLabelsTooLong,
    /// A label set that is empty, has duplicate names, or invalid names.
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// A native histogram that fails validation.
    #[error("invalid histogram: {0}")]
    InvalidHistogram(String),
    /// The series reference is unknown.
    #[error("series not found")]
    NotFound,
    /// Stored data failed its checksum or does not decode.
    #[error("corruption in {file} at offset {offset}: {what}")]
    Corruption {
        /// The file.
        file: String,
        /// Byte offset in it.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// An I/O error, with the path involved.
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// The storage is closed.
    #[error("storage is closed")]
    Closed,
    /// Anything else.
    #[error("{0}")]
    Other(String),
}
