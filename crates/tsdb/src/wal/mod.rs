//! The write-ahead log (WAL) of the live TSDB, in Prometheus' format.
//!
//! The head logs every commit here before applying it in memory; after a
//! crash, replaying the WAL rebuilds the head. The files are Prometheus'
//! (`tsdb/wlog`), so Prometheus 2.42+ replays a WAL Ember wrote and Ember
//! replays Prometheus' (including zstd-compressed records of 3.x).
//!
//! # Layout
//!
//! A WAL directory (`<data>/wal`) holds **segments** `00000000`,
//! `00000001`, ... of at most 128 MiB ([`DEFAULT_SEGMENT_SIZE`]), written
//! in **pages** of 32 KiB ([`PAGE_SIZE`]), and **checkpoint** directories
//! `checkpoint.NNNNNNNN` (see [`create_checkpoint`]) in the same segment
//! format. A record is stored as one or more **fragments**, each with a
//! 7-byte header:
//!
//! | byte(s) | field |
//! |---|---|
//! | 0 | bits 0–2 fragment type (0 page padding, 1 full, 2 first, 3 middle, 4 last); bit 3 snappy; bit 4 zstd; bits 5–7 reserved |
//! | 1–2 | data length, big-endian |
//! | 3–6 | CRC32C (Castagnoli) of the data, big-endian |
//!
//! A fragment never crosses a page boundary: a record longer than what
//! is left of the page is split into first/middle/last fragments. When
//! fewer than 7 bytes are left, the rest of the page is zeros (padding). A
//! record never spans segments: one that does not fit in what is left of
//! the segment starts the next. [`Wal::log`] places fragments exactly as
//! Prometheus does, so the same records give the same bytes (uncompressed;
//! snappy output may differ byte-wise between implementations but decodes
//! the same). Record payloads are described in [`record`].
//!
//! # Durability contract
//!
//! * [`Wal::log`] returns after the whole batch has been handed to the
//!   OS with `write(2)` (no bytes stay in user space): a logged commit
//!   survives a crash of the process, not of the machine.
//! * fsync happens when a segment is cut (in a background thread, as
//!   Prometheus does, so commits do not wait for it), on [`Wal::close`],
//!   when a checkpoint is written (before its rename), after a repair, and
//!   whenever the caller calls [`Wal::sync`]; there is no timer inside the
//!   WAL. Data at risk from a power loss is therefore what was written to
//!   the active segment since the last of these (plus, for a moment after
//!   a cut, the tail of the previous segment while its fsync runs).
//! * Directories are fsynced after segments or checkpoints are created,
//!   renamed or removed.
//!
//! # Failed writes
//!
//! If writing a batch fails (disk full, I/O error), [`Wal::log`] takes the
//! whole batch back before it returns the error: the segment is truncated
//! to where the batch began (and segments the batch created are removed),
//! so a failed commit leaves no partial record and no record of the batch
//! for a replay to misread. If even that fails, the writer retries it
//! before its next write and refuses to write until it succeeds. (A crash
//! in the middle of a write can still leave a torn record at the end of
//! the log; replay repairs that.)
//!
//! # Replay and repair
//!
//! [`Wal::open`] never appends to an existing segment: it starts a new one
//! after the last segment (and after the newest checkpoint). Before
//! logging, the head calls [`Wal::replay`], which feeds it every record of
//! the newest checkpoint, then of the segments after it. Reading checks
//! every CRC, the fragment order, the padding and decompression. On
//! damage — a torn or truncated last page, flipped bytes, a zeroed tail,
//! a record the handler cannot decode — replay stops there and
//! **repairs** the WAL as Prometheus does: segments after the damaged one
//! are deleted, the damaged segment is truncated after its last intact
//! record (and zero-padded to a page boundary), writing continues in a new
//! segment, and the corruption is logged at `warn` level and counted in
//! [`WalMetrics::corruptions_total`] (Prometheus'
//! `prometheus_tsdb_wal_corruptions_total`). The head keeps everything it
//! replayed up to the damage and nothing after it. A damaged checkpoint is
//! not repaired (it is written atomically, so damage there means the disk
//! is failing): replay returns the error.
//!
//! # Truncation
//!
//! After the head compacts, [`Wal::truncate_with_checkpoint`] does what
//! Prometheus' `Head.truncateWAL` does: cut a new segment, checkpoint the
//! older two thirds of the segments (never the last), delete those
//! segments and older checkpoints.
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), ember_tsdb::wal::WalError> {
//! use ember_model::labels;
//! use ember_tsdb::wal::record::{self, Decoder, Record, RefSample, RefSeries};
//! use ember_tsdb::wal::{Wal, WalOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let wal = Wal::open(dir.path().join("wal"), WalOptions::default())?;
//! wal.replay(|_rec| Ok(()))?; // nothing yet
//! let (mut series, mut samples) = (Vec::new(), Vec::new());
//! record::encode_series(&[RefSeries { series_ref: 1, labels: labels!("__name__" => "up") }], &mut series);
//! record::encode_samples(&[RefSample { series_ref: 1, t: 1000, v: 1.0, st: 0 }], &mut samples);
//! wal.log(&[&series, &samples])?;
//! wal.close()?;
//!
//! let wal = Wal::open(dir.path().join("wal"), WalOptions::default())?;
//! let mut dec = Decoder::new();
//! let mut n = 0;
//! let stats = wal.replay(|rec| {
//!     match dec.decode(rec)? {
//!         Record::Samples(s) => n += s.len(),
//!         _ => {}
//!     }
//!     Ok(())
//! })?;
//! assert_eq!((n, stats.records, stats.corruption), (1, 2, None));
//! # Ok(()) }
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

mod checkpoint;
mod compress;
mod encoding;
mod error;
mod reader;
pub mod record;
mod segment;
mod writer;

pub use checkpoint::{create_checkpoint, CheckpointStats};
pub use compress::Compression;
pub use error::{Corruption, WalError};
pub use reader::Reader;
pub use segment::{
    checkpoint_dir, delete_checkpoints, delete_temp_checkpoints, last_checkpoint, segment_name,
    segments, SegmentRange,
};

use error::WalIo;
use segment::list_segments;
use writer::SegmentWriter;

/// Size of a WAL page.
pub const PAGE_SIZE: usize = 32 * 1024;
/// Size of a fragment header.
pub const HEADER_SIZE: usize = 7;
/// Default (and Prometheus') segment size.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 * 1024 * 1024;

pub(crate) const TYPE_MASK: u8 = 0b111;
pub(crate) const SNAPPY_FLAG: u8 = 1 << 3;
pub(crate) const ZSTD_FLAG: u8 = 1 << 4;

/// The fragment type in the low three bits of a fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum FragmentType {
    /// The rest of the page is zeros.
    PageTerm = 0,
    /// A whole record.
    Full = 1,
    /// The first fragment of a record.
    First = 2,
    /// A fragment between the first and the last.
    Middle = 3,
    /// The last fragment of a record.
    Last = 4,
}

impl FragmentType {
    pub(crate) fn from_bits(b: u8) -> Option<Self> {
        Some(match b {
            0 => FragmentType::PageTerm,
            1 => FragmentType::Full,
            2 => FragmentType::First,
            3 => FragmentType::Middle,
            4 => FragmentType::Last,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            FragmentType::PageTerm => "zero",
            FragmentType::Full => "full",
            FragmentType::First => "first",
            FragmentType::Middle => "middle",
            FragmentType::Last => "last",
        }
    }
}

/// Syncs a directory so that entries created or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// How the WAL writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Maximum segment size in bytes, a multiple of [`PAGE_SIZE`]
    /// (default 128 MiB). A record larger than a segment still goes whole
    /// into one (fresh) segment, which then grows past this size.
    pub segment_size: u64,
    /// Record compression for writing (default snappy, as Prometheus
    /// 2.42's `--storage.tsdb.wal-compression` default). Reading handles
    /// every compression regardless.
    pub compression: Compression,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            compression: Compression::Snappy,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    corruptions: AtomicU64,
    page_flushes: AtomicU64,
    completed_pages: AtomicU64,
    writes_failed: AtomicU64,
    truncations: AtomicU64,
    truncations_failed: AtomicU64,
    fsyncs: AtomicU64,
    fsync_nanos: AtomicU64,
    current_segment: AtomicU64,
    checkpoint_creations: AtomicU64,
    checkpoint_creations_failed: AtomicU64,
    checkpoint_deletions: AtomicU64,
    checkpoint_deletions_failed: AtomicU64,
}

impl Counters {
    fn record_fsync(&self, start: Instant) {
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of the WAL's counters, named after the Prometheus metrics
/// (`prometheus_tsdb_wal_*`, `prometheus_tsdb_checkpoint_*`) they feed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WalMetrics {
    /// Corruptions found by replay or while reading for a checkpoint
    /// (`prometheus_tsdb_wal_corruptions_total`).
    pub corruptions_total: u64,
    /// Page writes (`..._wal_page_flushes_total`).
    pub page_flushes_total: u64,
    /// Pages completed (`..._wal_completed_pages_total`).
    pub completed_pages_total: u64,
    /// Batches that failed to write (`..._wal_writes_failed_total`).
    pub writes_failed_total: u64,
    /// Truncations attempted (`..._wal_truncations_total`).
    pub truncations_total: u64,
    /// Truncations that failed (`..._wal_truncations_failed_total`).
    pub truncations_failed_total: u64,
    /// Segment fsyncs (the count of `..._wal_fsync_duration_seconds`).
    pub fsyncs_total: u64,
    /// Seconds spent in segment fsyncs (its sum).
    pub fsync_seconds_total: f64,
    /// The segment being written (`..._wal_segment_current`).
    pub current_segment: u32,
    /// Checkpoints attempted (`prometheus_tsdb_checkpoint_creations_total`).
    pub checkpoint_creations_total: u64,
    /// Checkpoints that failed (`..._checkpoint_creations_failed_total`).
    pub checkpoint_creations_failed_total: u64,
    /// Deletions of old checkpoints (`..._checkpoint_deletions_total`).
    pub checkpoint_deletions_total: u64,
    /// Failed deletions (`..._checkpoint_deletions_failed_total`).
    pub checkpoint_deletions_failed_total: u64,
}

/// What a [`Wal::replay`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// The checkpoint read first, if any.
    pub checkpoint: Option<u32>,
    /// The first and last segment read after it, if any.
    pub segments: Option<(u32, u32)>,
    /// Records handed to the handler (from the checkpoint and segments).
    pub records: u64,
    /// The damage found, if any; the WAL has been repaired.
    pub corruption: Option<Corruption>,
}

/// What [`Wal::truncate_with_checkpoint`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruncateOutcome {
    /// First segment checkpointed (and deleted).
    pub first: u32,
    /// Last segment checkpointed: the checkpoint is `checkpoint.<last>`.
    pub last: u32,
    /// What the checkpoint kept and dropped.
    pub stats: CheckpointStats,
}

struct Inner {
    /// `None` once closed.
    writer: Option<SegmentWriter>,
    /// The segment `open` started; replay reads the segments before it.
    first_segment: u32,
    /// Whether anything was logged (replay must come first).
    logged: bool,
}

/// A write-ahead log directory, open for writing.
///
/// All methods take `&self`: the writer is behind a mutex, so the head's
/// appenders can log concurrently (batches are written one at a time,
/// each whole). See the [module docs](self) for the format and the
/// durability contract.
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    inner: Mutex<Inner>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens the WAL in `dir` (created if missing) for writing: removes
    /// temporary checkpoint directories left by a crash and starts a new,
    /// empty segment after the existing segments and checkpoints. Existing
    /// segments are not read or changed; call [`replay`](Self::replay)
    /// before logging.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<Wal, WalError> {
        let dir = dir.as_ref().to_path_buf();
        let page = PAGE_SIZE as u64;
        if options.segment_size < page || !options.segment_size.is_multiple_of(page) {
            return Err(WalError::InvalidInput(format!(
                "invalid WAL segment size {}: must be a positive multiple of {PAGE_SIZE}",
                options.segment_size
            )));
        }
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).at(&dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        delete_temp_checkpoints(&dir)?;
        let next_after = |i: u32| {
            i.checked_add(1)
                .ok_or_else(|| WalError::InvalidInput("segment index overflows 32 bits".into()))
        };
        let mut index = 0;
        if let Some((_, last)) = segments(&dir)? {
            index = next_after(last)?;
        }
        if let Some((_, cp)) = last_checkpoint(&dir)? {
            // Never write below the checkpoint: replay would skip it.
            index = index.max(next_after(cp)?);
        }
        let counters = Arc::new(Counters::default());
        let writer = SegmentWriter::new(
            &dir,
            index,
            options.segment_size,
            options.compression,
            Arc::clone(&counters),
        )?;
        Ok(Wal {
            dir,
            options,
            inner: Mutex::new(Inner {
                writer: Some(writer),
                first_segment: index,
                logged: false,
            }),
            counters,
        })
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options it was opened with.
    pub fn options(&self) -> WalOptions {
        self.options
    }

    /// Logs a batch of records (see [`record`] for how to build them).
    /// Returns once every byte is handed to the OS; on error nothing of
    /// the batch remains in the log (see the module docs).
    pub fn log<R: AsRef<[u8]>>(&self, records: &[R]) -> Result<(), WalError> {
        let mut inner = self.inner.lock();
        inner.logged = true;
        inner.writer.as_mut().ok_or(WalError::Closed)?.log(records)
    }

    /// Hands any bytes still held in user space to the OS. [`log`](Self::log)
    /// already ends with this, so it only matters to retry taking back a
    /// failed write.
    pub fn flush(&self) -> Result<(), WalError> {
        self.inner
            .lock()
            .writer
            .as_mut()
            .ok_or(WalError::Closed)?
            .flush()
    }

    /// fsyncs the active segment.
    pub fn sync(&self) -> Result<(), WalError> {
        self.inner
            .lock()
            .writer
            .as_mut()
            .ok_or(WalError::Closed)?
            .sync()
    }

    /// Ends the active segment (padding its last page) and starts the
    /// next; the old one is fsynced in the background. Returns the new
    /// segment's index.
    pub fn next_segment(&self) -> Result<u32, WalError> {
        self.inner
            .lock()
            .writer
            .as_mut()
            .ok_or(WalError::Closed)?
            .next_segment()
    }

    /// The segment being written and the offset the next write goes to.
    pub fn position(&self) -> Result<(u32, u64), WalError> {
        let inner = self.inner.lock();
        let w = inner.writer.as_ref().ok_or(WalError::Closed)?;
        Ok((w.segment(), w.file_len()))
    }

    /// The first and last segment in the directory.
    pub fn segment_range(&self) -> Result<Option<(u32, u32)>, WalError> {
        segments(&self.dir)
    }

    /// Deletes the segments below `before` (never the active one).
    pub fn truncate(&self, before: u32) -> Result<(), WalError> {
        Counters::inc(&self.counters.truncations);
        let active = {
            let inner = self.inner.lock();
            inner
                .writer
                .as_ref()
                .map_or(u32::MAX, SegmentWriter::segment)
        };
        let result = (|| {
            for s in list_segments(&self.dir)? {
                if s.index >= before || s.index >= active {
                    break;
                }
                std::fs::remove_file(&s.path).at(&s.path)?;
            }
            sync_dir(&self.dir)
        })();
        if result.is_err() {
            Counters::inc(&self.counters.truncations_failed);
        }
        result
    }

    /// Pads the last page, waits for background fsyncs, fsyncs the active
    /// segment and closes it. Later calls (and logging) return
    /// [`WalError::Closed`]; closing twice is not an error.
    pub fn close(&self) -> Result<(), WalError> {
        let mut inner = self.inner.lock();
        match inner.writer.take() {
            Some(mut w) => w.close(),
            None => Ok(()),
        }
    }

    /// The counters.
    pub fn metrics(&self) -> WalMetrics {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WalMetrics {
            corruptions_total: get(&c.corruptions),
            page_flushes_total: get(&c.page_flushes),
            completed_pages_total: get(&c.completed_pages),
            writes_failed_total: get(&c.writes_failed),
            truncations_total: get(&c.truncations),
            truncations_failed_total: get(&c.truncations_failed),
            fsyncs_total: get(&c.fsyncs),
            fsync_seconds_total: get(&c.fsync_nanos) as f64 / 1e9,
            current_segment: u32::try_from(get(&c.current_segment)).unwrap_or(u32::MAX),
            checkpoint_creations_total: get(&c.checkpoint_creations),
            checkpoint_creations_failed_total: get(&c.checkpoint_creations_failed),
            checkpoint_deletions_total: get(&c.checkpoint_deletions),
            checkpoint_deletions_failed_total: get(&c.checkpoint_deletions_failed),
        }
    }

    /// Total size in bytes of the WAL directory (segments and checkpoints),
    /// for `prometheus_tsdb_wal_storage_size_bytes`.
    pub fn size_bytes(&self) -> Result<u64, WalError> {
        fn walk(dir: &Path) -> Result<u64, WalError> {
            let mut total = 0;
            for e in std::fs::read_dir(dir).at(dir)? {
                let e = e.at(dir)?;
                let ft = e.file_type().at(&e.path())?;
                if ft.is_dir() {
                    total += walk(&e.path())?;
                } else {
                    total += e.metadata().at(&e.path())?.len();
                }
            }
            Ok(total)
        }
        walk(&self.dir)
    }

    /// Feeds every record of the newest checkpoint and of the segments
    /// after it (up to the one [`open`](Self::open) started) to `handler`,
    /// in order; must be called before anything is logged.
    ///
    /// The handler decodes and applies each record. If it returns
    /// [`WalError::Record`] (what `?` makes of a
    /// [`record::RecordError`]), the record counts as damaged. Damage —
    /// in the bytes or in a record — stops the replay there and the WAL
    /// is repaired (see the module docs): the returned stats carry the
    /// [`Corruption`], the handler has seen exactly the records before it,
    /// and writing continues after it. Damage in the checkpoint is
    /// returned as an error, as are I/O errors and any other error from
    /// the handler (use [`WalError::aborted`] for the caller's own).
    pub fn replay(
        &self,
        mut handler: impl FnMut(&[u8]) -> Result<(), WalError>,
    ) -> Result<ReplayStats, WalError> {
        let mut inner = self.inner.lock();
        if inner.writer.is_none() {
            return Err(WalError::Closed);
        }
        if inner.logged {
            return Err(WalError::InvalidInput(
                "WAL replay must come before logging".into(),
            ));
        }
        let mut stats = ReplayStats::default();
        let cp = last_checkpoint(&self.dir)?;
        if let Some((cp_dir, index)) = &cp {
            stats.checkpoint = Some(*index);
            let mut r = Reader::open(&[SegmentRange::all(cp_dir)])?;
            if let Some(c) = self.feed(&mut r, &mut handler, &mut stats.records)? {
                Counters::inc(&self.counters.corruptions);
                tracing::error!(
                    corruption = %c,
                    "WAL checkpoint is damaged; it cannot be repaired automatically"
                );
                return Err(WalError::Corruption(c));
            }
        }
        let start = stats.checkpoint.map(|c| c.saturating_add(1));
        let end = inner.first_segment;
        let segs: Vec<_> = list_segments(&self.dir)?
            .into_iter()
            .filter(|s| start.is_none_or(|st| s.index >= st) && s.index < end)
            .collect();
        if let (Some(st), Some(first)) = (start, segs.first()) {
            if first.index > st {
                return Err(WalError::InvalidInput(format!(
                    "{}: WAL segments {st} to {} after checkpoint.{:08} are missing",
                    self.dir.display(),
                    first.index - 1,
                    st - 1
                )));
            }
        }
        if let (Some(f), Some(l)) = (segs.first(), segs.last()) {
            stats.segments = Some((f.index, l.index));
        }
        let last = segs.last().map(|s| s.path.clone());
        let mut r = Reader::from_refs(segs.into_iter().map(|s| (self.dir.clone(), s)).collect());
        if let Some(c) = self.feed(&mut r, &mut handler, &mut stats.records)? {
            Counters::inc(&self.counters.corruptions);
            self.repair_locked(&mut inner, &c)?;
            stats.corruption = Some(c);
        } else if let (Some(path), Some(start)) = (last, r.trailing_zero_start()) {
            // The last segment ends in pages of zeros (a crash after the
            // file grew but before its data reached the disk): they hold
            // nothing, but once more segments follow they would read as
            // lost writes. Cut them off.
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .at(&path)?;
            let len = f.metadata().at(&path)?.len();
            if len > start {
                tracing::warn!(
                    segment = %path.display(),
                    offset = start,
                    bytes = len - start,
                    "WAL segment ends in zeroed pages; removing them (no records are lost)"
                );
                f.set_len(start).at(&path)?;
                f.sync_all().at(&path)?;
            }
        }
        Ok(stats)
    }

    /// Reads `r` to its end into `handler`; returns the damage found.
    fn feed(
        &self,
        r: &mut Reader,
        handler: &mut impl FnMut(&[u8]) -> Result<(), WalError>,
        records: &mut u64,
    ) -> Result<Option<Corruption>, WalError> {
        loop {
            let rec = match r.next_record() {
                Ok(Some(rec)) => rec,
                Ok(None) => return Ok(None),
                Err(WalError::Corruption(c)) => return Ok(Some(c)),
                Err(e) => return Err(e),
            };
            let kind = record::RecordType::of(rec);
            match handler(rec) {
                Ok(()) => *records += 1,
                Err(WalError::Record(e)) => {
                    let kind = kind.map_or("unknown", |k| k.name());
                    return Ok(Some(
                        r.corruption_at_last_record(format!("decode {kind}: {e}")),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Repairs the damage `c` found by a read of this WAL (see the module
    /// docs). [`replay`](Self::replay) does this itself; this is for
    /// callers that read with their own [`Reader`]. Nothing may have been
    /// logged after the damaged segment that is still needed: every later
    /// segment, the active one included, is deleted, and writing continues
    /// in a new segment after the damaged one.
    pub fn repair(&self, c: &Corruption) -> Result<(), WalError> {
        let mut inner = self.inner.lock();
        self.repair_locked(&mut inner, c)
    }

    fn repair_locked(&self, inner: &mut Inner, c: &Corruption) -> Result<(), WalError> {
        if c.dir != self.dir {
            return Err(WalError::InvalidInput(format!(
                "cannot repair {}: not a segment of the WAL directory {}",
                c.path().display(),
                self.dir.display()
            )));
        }
        let writer = inner.writer.as_mut().ok_or(WalError::Closed)?;
        let path = c.path();
        // Keep the records that end at or before the damage.
        let mut keep = 0;
        let mut r = Reader::open_segment(&self.dir, c.segment);
        loop {
            match r.next_record() {
                Ok(Some(_)) => {}
                Ok(None) | Err(WalError::Corruption(_)) => break,
                Err(e) => return Err(e),
            }
            if r.offset() > c.offset {
                break;
            }
            keep = r.offset();
        }
        let size = std::fs::metadata(&path).at(&path)?.len();
        let later: Vec<_> = list_segments(&self.dir)?
            .into_iter()
            .filter(|s| s.index > c.segment)
            .collect();
        tracing::warn!(
            segment = %path.display(),
            offset = c.offset,
            error = %c.message,
            kept_bytes = keep,
            dropped_bytes = size.saturating_sub(keep),
            deleted_segments = later.len(),
            "WAL corruption: truncating the segment after its last intact record and \
             deleting the segments after it; records after the damage are lost"
        );
        for s in &later {
            std::fs::remove_file(&s.path).at(&s.path)?;
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .at(&path)?;
        f.set_len(keep).at(&path)?;
        f.set_len(keep.next_multiple_of(PAGE_SIZE as u64))
            .at(&path)?;
        f.sync_all().at(&path)?;
        drop(f);
        let next = c
            .segment
            .checked_add(1)
            .ok_or_else(|| WalError::InvalidInput("segment index overflows 32 bits".into()))?;
        writer.restart_at(next)?;
        inner.first_segment = next;
        sync_dir(&self.dir)
    }

    /// Writes `checkpoint.<to>` from the newest checkpoint and segments
    /// `from..=to`, with this WAL's compression (see [`create_checkpoint`]).
    /// Damage found while reading counts as a corruption.
    pub fn checkpoint(
        &self,
        from: u32,
        to: u32,
        mut keep: impl FnMut(u64) -> bool,
        mint: i64,
    ) -> Result<CheckpointStats, WalError> {
        Counters::inc(&self.counters.checkpoint_creations);
        let r = checkpoint::create(
            &self.dir,
            from,
            to,
            &mut keep,
            mint,
            self.options.compression,
            Arc::clone(&self.counters),
        );
        if let Err(e) = &r {
            Counters::inc(&self.counters.checkpoint_creations_failed);
            if e.as_corruption().is_some() {
                Counters::inc(&self.counters.corruptions);
            }
        }
        r
    }

    /// Removes what is older than `mint` the way Prometheus' head does
    /// after a compaction: starts a new segment; then, if there are at
    /// least three segments before it, checkpoints the first two thirds
    /// of them (series for which `keep(ref)` is true, and data at or after
    /// `mint`), deletes those segments and older checkpoints. Returns
    /// `None` when there was too little to checkpoint.
    ///
    /// `keep` must give the same answer for a series throughout the call.
    /// Failing to delete segments or old checkpoints is logged, not
    /// returned: they are ignored by replay and retried next time.
    pub fn truncate_with_checkpoint(
        &self,
        mint: i64,
        keep: impl FnMut(u64) -> bool,
    ) -> Result<Option<TruncateOutcome>, WalError> {
        let Some((first, last)) = segments(&self.dir)? else {
            return Ok(None);
        };
        self.next_segment()?;
        // Never checkpoint the last segment; take the lower two thirds.
        let Some(last) = last.checked_sub(1) else {
            return Ok(None);
        };
        if last < first {
            return Ok(None);
        }
        let last = first + (last - first) * 2 / 3;
        if last <= first {
            return Ok(None);
        }
        let start = Instant::now();
        let stats = self.checkpoint(first, last, keep, mint)?;
        if let Err(e) = self.truncate(last + 1) {
            tracing::error!(error = %e, "truncating WAL segments failed");
        }
        Counters::inc(&self.counters.checkpoint_deletions);
        if let Err(e) = delete_checkpoints(&self.dir, last) {
            Counters::inc(&self.counters.checkpoint_deletions_failed);
            tracing::error!(error = %e, "deleting old WAL checkpoints failed");
        }
        tracing::info!(
            first,
            last,
            duration = ?start.elapsed(),
            "WAL checkpoint complete"
        );
        Ok(Some(TruncateOutcome { first, last, stats }))
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Some(mut w) = self.inner.get_mut().writer.take() {
            if let Err(e) = w.close() {
                tracing::error!(dir = %self.dir.display(), error = %e, "closing the WAL failed");
            }
        }
    }
}
