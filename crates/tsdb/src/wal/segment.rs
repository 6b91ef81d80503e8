//! Segment and checkpoint file names, and listing them.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{WalError, WalIo};

/// Prefix of checkpoint directory names (`checkpoint.00000012`).
pub const CHECKPOINT_PREFIX: &str = "checkpoint.";
/// Suffix of a checkpoint directory still being written.
pub const CHECKPOINT_TMP_SUFFIX: &str = ".tmp";

/// The path of segment `index` in `dir`: eight digits, zero-padded.
pub fn segment_name(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// The path of checkpoint `index` in the WAL directory `dir`.
pub fn checkpoint_dir(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{index:08}"))
}

/// A segment file found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentRef {
    pub(crate) index: u32,
    pub(crate) path: PathBuf,
}

fn parse_index(name: &str) -> Option<u32> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// The segment files of `dir` in index order. Files whose names are not
/// all digits are ignored; a gap in the numbering is an error, as in
/// Prometheus.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentRef>, WalError> {
    let mut refs = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let Some(index) = entry.file_name().to_str().and_then(parse_index) else {
            continue;
        };
        if entry.file_type().at(&entry.path())?.is_dir() {
            continue;
        }
        refs.push(SegmentRef {
            index,
            path: entry.path(),
        });
    }
    refs.sort_by_key(|r| r.index);
    for w in refs.windows(2) {
        if w[0].index.checked_add(1) != Some(w[1].index) {
            return Err(WalError::InvalidInput(format!(
                "{}: segments are not sequential ({} is followed by {})",
                dir.display(),
                w[0].index,
                w[1].index
            )));
        }
    }
    Ok(refs)
}

/// The first and last segment index in `dir`, or `None` if it has none.
pub fn segments(dir: &Path) -> Result<Option<(u32, u32)>, WalError> {
    let refs = list_segments(dir)?;
    Ok(match (refs.first(), refs.last()) {
        (Some(f), Some(l)) => Some((f.index, l.index)),
        _ => None,
    })
}

/// The checkpoints of `dir` as (index, path), oldest first. Temporary
/// (`.tmp`) directories are not listed.
pub(crate) fn list_checkpoints(dir: &Path) -> Result<Vec<(u32, PathBuf)>, WalError> {
    let mut refs = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(CHECKPOINT_PREFIX))
        else {
            continue;
        };
        let Some(index) = parse_index(rest) else {
            continue;
        };
        if !entry.file_type().at(&entry.path())?.is_dir() {
            return Err(WalError::InvalidInput(format!(
                "checkpoint {} is not a directory",
                entry.path().display()
            )));
        }
        refs.push((index, entry.path()));
    }
    refs.sort_by_key(|r| r.0);
    Ok(refs)
}

/// The newest checkpoint of the WAL directory `dir`: its path and index.
pub fn last_checkpoint(dir: &Path) -> Result<Option<(PathBuf, u32)>, WalError> {
    Ok(list_checkpoints(dir)?.pop().map(|(i, p)| (p, i)))
}

/// Deletes the checkpoints of `dir` with an index below `max_index`.
/// Tries them all; returns the first error.
pub fn delete_checkpoints(dir: &Path, max_index: u32) -> Result<(), WalError> {
    let mut first_err = None;
    for (index, path) in list_checkpoints(dir)? {
        if index >= max_index {
            break;
        }
        if let Err(e) = fs::remove_dir_all(&path) {
            first_err.get_or_insert(WalError::io(&path, e));
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Deletes temporary checkpoint directories (`checkpoint.N.tmp`) left
/// behind by a crash while a checkpoint was written.
pub fn delete_temp_checkpoints(dir: &Path) -> Result<(), WalError> {
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if name.starts_with(CHECKPOINT_PREFIX) && name.ends_with(CHECKPOINT_TMP_SUFFIX) {
            let path = entry.path();
            tracing::info!(dir = %path.display(), "removing temporary checkpoint directory left by an interrupted checkpoint");
            if entry.file_type().at(&path)?.is_dir() {
                fs::remove_dir_all(&path).at(&path)?;
            } else {
                fs::remove_file(&path).at(&path)?;
            }
        }
    }
    Ok(())
}

/// A range of segments of one directory to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRange {
    /// The directory (a WAL or a checkpoint directory).
    pub dir: PathBuf,
    /// First segment to read; `None` reads from the first there is.
    pub first: Option<u32>,
    /// Last segment to read; `None` reads to the last there is.
    pub last: Option<u32>,
}

impl SegmentRange {
    /// Every segment of `dir`.
    pub fn all(dir: impl Into<PathBuf>) -> Self {
        SegmentRange {
            dir: dir.into(),
            first: None,
            last: None,
        }
    }

    /// Segments `first..=last` of `dir`.
    pub fn new(dir: impl Into<PathBuf>, first: u32, last: u32) -> Self {
        SegmentRange {
            dir: dir.into(),
            first: Some(first),
            last: Some(last),
        }
    }

    pub(crate) fn list(&self) -> Result<Vec<SegmentRef>, WalError> {
        let mut refs = list_segments(&self.dir)?;
        refs.retain(|r| {
            self.first.is_none_or(|f| r.index >= f) && self.last.is_none_or(|l| r.index <= l)
        });
        Ok(refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_listing() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(segment_name(d.path(), 12), d.path().join("00000012"));
        assert_eq!(
            checkpoint_dir(d.path(), 3),
            d.path().join("checkpoint.00000003")
        );
        assert_eq!(segments(d.path()).unwrap(), None);
        for i in 3..6 {
            fs::write(segment_name(d.path(), i), b"").unwrap();
        }
        fs::write(d.path().join("00000004.repair"), b"").unwrap();
        fs::create_dir(d.path().join("checkpoint.00000002")).unwrap();
        fs::create_dir(d.path().join("checkpoint.00000001")).unwrap();
        fs::create_dir(d.path().join("checkpoint.00000009.tmp")).unwrap();
        assert_eq!(segments(d.path()).unwrap(), Some((3, 5)));
        assert_eq!(
            last_checkpoint(d.path()).unwrap(),
            Some((d.path().join("checkpoint.00000002"), 2))
        );
        delete_temp_checkpoints(d.path()).unwrap();
        assert!(!d.path().join("checkpoint.00000009.tmp").exists());
        delete_checkpoints(d.path(), 2).unwrap();
        assert!(!d.path().join("checkpoint.00000001").exists());
        assert!(d.path().join("checkpoint.00000002").exists());
        let r = SegmentRange::new(d.path(), 4, 9).list().unwrap();
        assert_eq!(r.iter().map(|r| r.index).collect::<Vec<_>>(), [4, 5]);
        fs::write(segment_name(d.path(), 7), b"").unwrap();
        assert!(segments(d.path()).is_err());
    }
}
