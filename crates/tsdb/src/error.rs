//! The crate's error type.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Everything that can go wrong reading or writing blocks.
///
/// Errors about stored data name the file and, where known, the byte
/// offset, so a corrupt block can be found and inspected. Each message is
/// complete on its own (it includes the underlying error's), so wrapped
/// errors are not also exposed as `source()`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TsdbError {
    /// An I/O error on a file or directory.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// Stored bytes failed a check (magic, version, bounds, checksum).
    #[error("{}{}: {message}", path.display(), offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// Byte offset of the problem in the file, if known.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// The index file of a block could not be read or written.
    #[error("{}: {error}", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// The index crate's error.
        error: ember_index::IndexError,
    },
    /// `meta.json` is not valid.
    #[error("{}: {message}", path.display())]
    Meta {
        /// The meta file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A sample is older than the newest one of its series.
    #[error("out of order sample for series {labels}: timestamp {t} is before {last}")]
    OutOfOrderSample {
        /// The series, as `{name="value", ...}`.
        labels: String,
        /// The rejected timestamp.
        t: i64,
        /// The newest timestamp of the series.
        last: i64,
    },
    /// A sample repeats its series' newest timestamp with another value.
    #[error("duplicate sample for timestamp {t} with a different value for series {labels}")]
    DuplicateSample {
        /// The series, as `{name="value", ...}`.
        labels: String,
        /// The repeated timestamp.
        t: i64,
    },
    /// Input that the operation does not accept (empty labels, a chunk
    /// that is too large, a bad argument, ...).
    #[error("{0}")]
    InvalidInput(String),
    /// Backfill input that does not parse or lacks something required.
    #[error("line {line}{}: {message}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
    Parse {
        /// 1-based line number in the input.
        line: u64,
        /// 1-based column, if known.
        column: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// An error from a storage querier (reading through `ember-storage`).
    #[error(transparent)]
    Storage(#[from] ember_storage::StorageError),
    /// An operation failed with the given context (`open block <dir>`,
    /// ...); the cause is attached.
    #[error("{context}: {error}")]
    Context {
        /// What was being done.
        context: String,
        /// Why it failed.
        error: Box<TsdbError>,
    },
}

impl TsdbError {
    /// An I/O error about `path`.
    pub fn io(path: impl AsRef<Path>, error: std::io::Error) -> Self {
        TsdbError::Io {
            path: path.as_ref().to_path_buf(),
            error,
        }
    }

    /// A corruption at `offset` (if known) of `path`.
    pub fn corrupted(
        path: impl AsRef<Path>,
        offset: Option<u64>,
        message: impl Into<String>,
    ) -> Self {
        TsdbError::Corrupted {
            path: path.as_ref().to_path_buf(),
            offset,
            message: message.into(),
        }
    }

    /// Wraps the error with what was being done.
    pub fn context(self, context: impl Into<String>) -> Self {
        TsdbError::Context {
            context: context.into(),
            error: Box::new(self),
        }
    }
}

impl From<TsdbError> for ember_storage::StorageError {
    fn from(e: TsdbError) -> Self {
        match e {
            TsdbError::Corrupted { .. } | TsdbError::Index { .. } | TsdbError::Meta { .. } => {
                ember_storage::StorageError::Corrupted(e.to_string())
            }
            TsdbError::OutOfOrderSample { .. } => ember_storage::StorageError::OutOfOrderSample,
            TsdbError::DuplicateSample { .. } => {
                ember_storage::StorageError::DuplicateSampleForTimestamp
            }
            TsdbError::Storage(e) => e,
            other => ember_storage::StorageError::Backend(Box::new(other)),
        }
    }
}

/// Adds a path to I/O results.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T, TsdbError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T, TsdbError> {
        self.map_err(|e| TsdbError::io(path, e))
    }
}
