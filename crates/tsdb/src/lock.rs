//! The data directory's `lock` file: one process per directory.
//!
//! Prometheus takes an exclusive `flock(2)` on `<data dir>/lock` at start
//! and holds it for its lifetime; [`DirLock`] does the same through the
//! standard library's [`File::try_lock`] (an OS lock: `flock` on Unix,
//! `LockFileEx` on Windows), so Ember and Prometheus exclude each other
//! too. An OS lock belongs to the open file, not to the file's existence:
//! the kernel drops it when the holder exits, however it exits. A `lock`
//! file left behind by a killed process therefore never blocks a restart
//! (it only tells that the last shutdown was not clean, see
//! [`DirLock::existed`]), while two live processes can never both hold it.
//!
//! **Release.** As Prometheus does, a clean release removes the file. It is
//! unlinked while still locked, then unlocked; a process that opened the
//! old file meanwhile and then locks it would hold a lock on a file no
//! longer in the directory, so [`DirLock::acquire`] checks after locking
//! that the path still names the file it locked (same device and inode)
//! and starts over if not. Two processes thus never both believe they own
//! the directory.
//!
//! A second [`DirLock::acquire`] of the same directory fails even inside
//! one process: each acquisition opens its own file handle, and `flock`
//! locks of different handles conflict.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, TsdbError};

/// Name of the lock file inside a data directory.
pub const LOCK_FILENAME: &str = "lock";

/// How many times [`DirLock::acquire`] retries when the lock file is
/// replaced under it (by another process releasing and re-creating it).
const MAX_ATTEMPTS: usize = 16;

/// An exclusive lock on a data directory, held until dropped or
/// [released](DirLock::release).
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    path: PathBuf,
    file: Option<File>,
    existed: bool,
}

impl DirLock {
    /// Locks `dir` (created if missing) through `<dir>/lock`.
    ///
    /// Fails at once, without waiting, if another process (or another
    /// `DirLock` of this process) holds the lock; the error names the
    /// directory and satisfies [`DirLock::is_conflict`].
    pub fn acquire(dir: impl AsRef<Path>) -> Result<DirLock, TsdbError> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).at(dir)?;
        let dir = fs::canonicalize(dir).at(dir)?;
        let path = dir.join(LOCK_FILENAME);
        let mut existed = false;
        for _ in 0..MAX_ATTEMPTS {
            existed |= path.exists();
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .at(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(conflict(&dir, &path)),
                Err(TryLockError::Error(e)) => {
                    return Err(TsdbError::io(&path, e)
                        .context(format!("lock data directory {}", dir.display())))
                }
            }
            if same_file(&file, &path)? {
                if existed {
                    tracing::warn!(
                        file = %path.display(),
                        "a lock file from a previous run existed (unclean shutdown); taking it over"
                    );
                }
                return Ok(DirLock {
                    dir,
                    path,
                    file: Some(file),
                    existed,
                });
            }
            // The file we locked was removed or replaced after we opened
            // it: the lock is worthless, try the current file.
            drop(file);
        }
        Err(
            TsdbError::io(&path, io::Error::other("lock file keeps being replaced"))
                .context(format!("lock data directory {}", dir.display())),
        )
    }

    /// The locked directory (canonical path).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a lock file was already there: the previous process did not
    /// shut down cleanly (Prometheus' `prometheus_tsdb_clean_start` is 0
    /// then, 1 otherwise).
    pub fn existed(&self) -> bool {
        self.existed
    }

    /// Whether `e` says that the directory is locked by someone else.
    pub fn is_conflict(e: &TsdbError) -> bool {
        match e {
            TsdbError::Io { error, .. } => error.kind() == io::ErrorKind::WouldBlock,
            TsdbError::Context { error, .. } => Self::is_conflict(error),
            _ => false,
        }
    }

    /// Removes the lock file and releases the lock.
    pub fn release(mut self) -> Result<(), TsdbError> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<(), TsdbError> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        // Unlink first, unlock second: see the module docs.
        let removed = match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(TsdbError::io(&self.path, e)),
            _ => Ok(()),
        };
        let unlocked = file.unlock().at(&self.path);
        drop(file);
        removed.and(unlocked)
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Err(error) = self.release_inner() {
            tracing::warn!(%error, "releasing the data directory lock");
        }
    }
}

fn conflict(dir: &Path, path: &Path) -> TsdbError {
    TsdbError::io(
        path,
        io::Error::new(
            io::ErrorKind::WouldBlock,
            "held by another process: is another Ember or Prometheus using this directory?",
        ),
    )
    .context(format!(
        "lock data directory {}: directory already in use",
        dir.display()
    ))
}

/// Whether the open `file` is the file `path` names now.
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> Result<bool, TsdbError> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata().at(path)?;
    match fs::metadata(path) {
        Ok(now) => Ok(open.dev() == now.dev() && open.ino() == now.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(TsdbError::io(path, e)),
    }
}

/// Whether the open `file` is the file `path` names now. Windows does not
/// let a locked, open file be removed, so the race cannot happen there.
#[cfg(not(unix))]
fn same_file(_file: &File, _path: &Path) -> Result<bool, TsdbError> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_in_process_fails_and_release_frees() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = DirLock::acquire(&data).unwrap();
        assert!(!first.existed());
        assert!(data.join(LOCK_FILENAME).exists());
        let e = DirLock::acquire(&data).unwrap_err();
        assert!(DirLock::is_conflict(&e), "{e}");
        let msg = e.to_string();
        assert!(msg.contains(&first.dir().display().to_string()), "{msg}");
        assert!(msg.contains("already in use"), "{msg}");
        first.release().unwrap();
        assert!(!data.join(LOCK_FILENAME).exists());
        let again = DirLock::acquire(&data).unwrap();
        assert!(!again.existed());
        drop(again);
        assert!(!data.join(LOCK_FILENAME).exists());
    }

    #[test]
    fn stale_lock_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOCK_FILENAME), b"").unwrap();
        let l = DirLock::acquire(dir.path()).unwrap();
        assert!(l.existed());
        assert!(!DirLock::is_conflict(&TsdbError::InvalidInput("x".into())));
    }
}
