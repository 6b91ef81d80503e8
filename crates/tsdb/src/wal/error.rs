//! The WAL's error type and its conversion into [`TsdbError`].

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::record::RecordError;
use super::segment::segment_name;
use crate::error::TsdbError;

/// Damaged bytes found reading a WAL or checkpoint segment.
///
/// `offset` is where the damage starts in the segment: the first byte of
/// the first record that could not be read whole (or of the bad fragment
/// or padding when no record was in progress). Every record that ends at
/// or before `offset` is intact; [`Wal::replay`](super::Wal::replay)'s
/// repair keeps exactly those.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("corruption in segment {} at offset {offset}: {message}", self.path().display())]
pub struct Corruption {
    /// The directory of the segment (the WAL or a checkpoint directory).
    pub dir: PathBuf,
    /// The segment's index.
    pub segment: u32,
    /// Byte offset in the segment where the damage starts.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl Corruption {
    /// The damaged segment file.
    pub fn path(&self) -> PathBuf {
        segment_name(&self.dir, self.segment)
    }
}

/// Everything that can go wrong with the WAL.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WalError {
    /// An I/O error on a file or directory.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A segment holds damaged bytes.
    #[error(transparent)]
    Corruption(#[from] Corruption),
    /// A record's payload does not decode. A replay handler returns this
    /// (through `?` on the [`record::Decoder`](super::record::Decoder)'s
    /// result) to have the record treated as WAL corruption.
    #[error("invalid WAL record: {0}")]
    Record(#[from] RecordError),
    /// A bad argument or a WAL directory in a state Ember does not accept.
    #[error("{0}")]
    InvalidInput(String),
    /// The WAL was closed.
    #[error("the WAL is closed")]
    Closed,
    /// A replay handler stopped the replay with its own error.
    #[error("WAL replay aborted: {0}")]
    Aborted(Box<dyn std::error::Error + Send + Sync>),
}

impl WalError {
    /// An I/O error about `path`.
    pub fn io(path: impl AsRef<Path>, error: std::io::Error) -> Self {
        WalError::Io {
            path: path.as_ref().to_path_buf(),
            error,
        }
    }

    /// Wraps a replay handler's own error to stop the replay.
    pub fn aborted(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        WalError::Aborted(error.into())
    }

    /// The corruption, if this is one.
    pub fn as_corruption(&self) -> Option<&Corruption> {
        match self {
            WalError::Corruption(c) => Some(c),
            _ => None,
        }
    }
}

impl From<WalError> for TsdbError {
    fn from(e: WalError) -> Self {
        match e {
            WalError::Io { path, error } => TsdbError::Io { path, error },
            WalError::Corruption(c) => TsdbError::Corrupted {
                path: c.path(),
                offset: Some(c.offset),
                message: c.message,
            },
            WalError::Aborted(inner) => match inner.downcast::<TsdbError>() {
                Ok(t) => *t,
                Err(other) => TsdbError::InvalidInput(format!("WAL replay aborted: {other}")),
            },
            other => TsdbError::InvalidInput(other.to_string()),
        }
    }
}

/// Adds a path to I/O results.
pub(crate) trait WalIo<T> {
    fn at(self, path: &Path) -> Result<T, WalError>;
}

impl<T> WalIo<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T, WalError> {
        self.map_err(|e| WalError::io(path, e))
    }
}
