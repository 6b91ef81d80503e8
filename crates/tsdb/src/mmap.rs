//! Read-only memory maps: the crate's only `unsafe` code.

use std::fs::File;
use std::path::Path;

use bytes::Bytes;

use crate::error::{IoContext, TsdbError};

/// Maps the whole file at `path` read-only.
///
/// Mapping is `unsafe` in Rust because the bytes could change under the
/// map if another process modified or truncated the file. Block files are
/// immutable once their directory has been renamed into place: Ember and
/// Prometheus only ever replace whole blocks, never rewrite their files.
/// Head chunk files (`chunks_head/`) are only ever appended to, re-mapped
/// after each flush so a map never covers bytes still being written, and
/// deleted whole, never truncated or rewritten in place. So the mapped bytes
/// stay valid for the life of the map; the data directory's lock keeps other
/// Ember processes out. All reads from the map are bounds-checked and
/// checksummed like any other untrusted input.
pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap, TsdbError> {
    let file = File::open(path).at(path)?;
    #[allow(unsafe_code)]
    // SAFETY: see above; the file is an immutable block file opened read-only.
    let map = unsafe { memmap2::Mmap::map(&file) }.at(path)?;
    Ok(map)
}

/// Maps the file at `path` into shared, zero-copy [`Bytes`].
pub(crate) fn map_bytes(path: &Path) -> Result<Bytes, TsdbError> {
    let map = map_file(path)?;
    Ok(Bytes::from_owner(map))
}
