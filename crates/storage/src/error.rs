use thiserror::Error;

/// Errors from appending to or reading from a storage.
#[derive(Debug, Error)]
pub enum StorageError {
    /// A sample is older than the newest one of its series.
    #[error("out of order sample")]
    OutOfOrderSample,
    /// A sample repeats a timestamp with a different value.
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    /// A sample is outside the time range the storage accepts.
    #[error("out of bounds")]
    OutOfBounds,
    /// A sample is older than the out-of-order window allows.
    #[error("too old sample")]
    TooOldSample,
    /// Labels were invalid for storage (empty, duplicate names, ...).
    #[error("invalid labels: {0}")]
    InvalidLabels(#[from] ember_model::ModelError),
    /// The operation is not supported by this storage.
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// An I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Stored data failed a check (checksum, structure).
    #[error("corrupted data: {0}")]
    Corrupted(String),
    /// An error from a storage implementation, with its own type.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}
