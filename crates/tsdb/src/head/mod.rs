//! The head: the in-memory block that receives appends.
//!
//! The head holds the newest samples (typically the last 1.5 chunk
//! ranges, about 3h) until the compactor writes them to a block and
//! truncates them. It follows Prometheus' `tsdb/head*.go` design:
//!
//! **Series registry.** Series live in a striped registry: a number of
//! stripes (16384 by default), each a `parking_lot` lock over two maps,
//! `series ref → series` (sharded by reference) and `label hash → series`
//! (sharded by the XXH64 of the labels' compact encoding, with a separate
//! conflict list for hash collisions). Series references come from a
//! monotonically increasing `u64` counter starting at 1, as in
//! Prometheus' WAL, and are what appenders hand back as
//! [`SeriesRef`](ember_storage::SeriesRef). The label index is
//! `ember-index`'s [`MemPostings`] over dense `u32` ordinals that
//! [`SeriesOrdinals`] assigns to the references; both sit behind one
//! `RwLock`. A select turns its matchers into a bitmap and the bitmap into
//! series handles under that lock, so no ordinal escapes it and ordinals
//! of deleted series can be recycled at once.
//!
//! **Series.** Each series has its own mutex over its chunks: completed
//! chunks are 40-byte records (time range, sample count and a
//! [`HeadChunkRef`] into `chunks_head/`), and one open XOR chunk receives
//! samples. Chunks are cut by Prometheus' rule
//! ([`ember_chunks::ChunkCutter`]: 120 samples per chunk by default,
//! predicted end times, never across an aligned 2h chunk range, and the
//! 1 KiB cap of Prometheus 3). A cut chunk is written at once to the head
//! chunk files ([`HeadChunkFiles`], Prometheus' on-disk format) and read
//! back through memory maps. A series therefore costs its labels, about
//! 360 bytes of bookkeeping and registry entries, its open chunk (128
//! bytes to start with) and 40 bytes per completed chunk: the head bench
//! measures about 590 heap bytes per series with node-exporter-like labels
//! at 1M series.
//!
//! **Appends.** A [`HeadAppender`] is one transaction. Each sample is
//! checked as Prometheus checks it: older than `max(maxT − chunkRange/2,
//! minValidTime)` is out of bounds; older than the series' newest sample
//! (committed, or buffered in this transaction) is out of order; the
//! newest timestamp again with another value is a duplicate, with the
//! same value it is accepted and dropped. With an out-of-order window
//! (`out_of_order_time_window` > 0), a sample that is out of order or out
//! of bounds is accepted out of order if it is not older than `maxT −
//! window` (`maxT` as the transaction started), and refused as too old
//! otherwise — whether or not blocks already cover its time. Accepted samples are buffered,
//! and the series is marked as pending a commit so garbage collection
//! keeps it. Commit logs the transaction to the WAL (new series, then
//! samples, then metadata) before touching any series, then appends the
//! samples run by run under each series' lock; [`rollback`] drops them
//! (new series are logged anyway: they exist in the head). Samples that
//! turn out to be out of order (checked again at commit, as in
//! Prometheus) are inserted after the in-order ones, all under the head's
//! out-of-order lock, and then logged to the WBL (see below).
//!
//! **Out-of-order samples** (module `ooo`, Prometheus' `OOOChunk` design).
//! A series' out-of-order samples go into a small buffer kept sorted by
//! time, one sample per timestamp (a timestamp already there is dropped;
//! timestamps in its cut chunks or in the in-order chunks are not checked,
//! as in Prometheus). When the buffer holds `out_of_order_cap_max` samples
//! (32), the next insert cuts it into an XOR chunk written to
//! `chunks_head/` with the out-of-order bit of the encoding byte set, and
//! the series keeps that chunk's 40-byte record in a second chunk list.
//! A series without out-of-order data pays one pointer for this.
//!
//! **The WBL** (`wbl/`, same segment format as the WAL, [`crate::wal`]).
//! The WAL still gets every sample of a commit (as Prometheus writes it);
//! the out-of-order ones are also logged to the WBL as samples records,
//! after they are in memory, interleaved with m-map marker records: when
//! an insert cuts a chunk, a marker naming that chunk (or 0 when the
//! series had no buffer) is logged before the sample. Inserting and
//! logging hold one lock, so the WBL has the inserts' order. A failed WBL
//! write is logged and counted, not returned, as in Prometheus: the
//! samples are in memory and queryable, but as replay takes out-of-order
//! samples from the WBL only, those are lost at the next restart unless
//! compacted into a block before. Series records stay in the WAL only.
//!
//! [`rollback`]: ember_storage::Appender::rollback
//!
//! **Isolation**: readers see whole commits or nothing of them. A commit
//! holds an append ID while it writes into series; each series logs, per
//! recent commit, how many samples it had before; a querier records at
//! creation which IDs it may see and shows each series up to the first
//! sample it may not. A querier created before a commit therefore never
//! sees it, and one created during a commit sees none of it.
//!
//! **Reading** ([`HeadQuerier`]): postings for the matchers, then, lazily
//! per series, the chunks overlapping the range — completed chunks as
//! zero-copy slices of the mapped files (which stay valid even if
//! truncation deletes the file), the open chunk as a copy of its bytes —
//! and the series' deleted intervals, decoded with seek support, trimmed
//! to the range, deleted samples skipped. A series with no sample left in
//! the range is not returned. Output is sorted by labels when asked.
//! Label names and values come from the postings, so, as in Prometheus,
//! they still list series whose samples are all deleted. A series with
//! out-of-order chunks in the range is decoded whole into one sorted
//! sample list: in-order samples (isolated as above), then the
//! out-of-order chunks in the order they were cut, then the buffer; on
//! equal timestamps the first of these wins, which is the sample written
//! first; deleted samples are dropped from it. Out-of-order samples are
//! not isolated (Prometheus does not isolate them either): a querier shows
//! those inserted when it reaches the series, so it may see part of a
//! commit's out-of-order samples.
//!
//! **Deletion** ([`Head::delete`]), as Prometheus' head does it: the
//! range is clamped to the head's and then to each selected series' time
//! range (out-of-order samples included), the resulting intervals are logged to the WAL as one Tombstones
//! record, then added to the series (a boxed [`Intervals`] beside its
//! chunks, merged as block tombstones are). Chunks are not rewritten:
//! reads, [`Head::series_in_range`] and so [`Head::write_block`] skip
//! deleted samples, so compaction writes blocks without them. Because an
//! interval never reaches past the series' newest sample and appends must
//! be newer than that sample (deleted or not), a delete never hides later
//! appends; a sample at a deleted timestamp can come back only as an
//! out-of-order or duplicate append: without an out-of-order window it is
//! refused (or, the very same sample, accepted and dropped); with one it
//! is accepted out of order and stays hidden by the interval, as in
//! Prometheus' head. Deletions are not isolated: a querier
//! sees a delete from the next series it reads, as Prometheus' shared
//! head tombstones do. Garbage collection drops intervals ending before
//! the head's new minimum time and before the series' oldest out-of-order
//! sample (deletions cover out-of-order samples too, in reads and in the
//! blocks [`Head::compact_ooo`] writes), and those of removed series with
//! them. As a WAL checkpoint keeps only the intervals reaching the head's
//! new minimum time, [`Head::truncate`] logs the older ones still kept
//! for out-of-order samples again before it checkpoints (into the newest
//! segment, which a checkpoint never takes).
//!
//! **Truncation and compaction.** [`Head::truncate`] drops chunks older
//! than a time, removes series left without samples (garbage collection:
//! registry, postings, ordinals), deletes head chunk files no series
//! references, and checkpoints the WAL; it leaves out-of-order data alone
//! (a series with some is kept). [`Head::series_in_range`] reads the
//! head's in-order data for `[mint, maxt)` series by series in label
//! order, and [`Head::write_block`] writes it as a block with
//! [`BlockWriter`]. After that, [`Head::compact_ooo`] does Prometheus'
//! out-of-order compaction: with out-of-order inserts paused it starts a
//! new WBL segment and cuts every buffer into a chunk; it writes one block
//! per aligned chunk range holding those chunks' samples (covering the
//! whole range, hinted `from-out-of-order`; such blocks overlap others and
//! the compactor merges them); then it drops those chunks, collects
//! garbage and deletes the WBL segments before the new one.
//!
//! **Durability.** [`Head::open`] maps and walks the head chunk files (a
//! corrupt file is logged, counted and deleted with the files after it,
//! as Prometheus does), then replays the WAL's newest checkpoint and the
//! segments after it: series records recreate the series with their
//! references and take over their chunks from the files, samples the
//! chunks already hold are skipped, the rest go into new chunks (samples
//! that were out of order are refused again there). Series records also
//! take over their out-of-order chunks from the files (all of them, as in
//! Prometheus). Then the WBL is replayed (when out-of-order ingestion is
//! enabled or `wbl/` exists): samples are inserted into the buffers,
//! cutting chunks as at run time, and a marker empties its series' buffer
//! — those samples are in the chunk it names — unless the chunk is past
//! the last one found in the files (lost: the samples stay). WAL and WBL
//! damage at the end is repaired as the WAL does. [`Head::replay_report`]
//! says what was found. Tombstones records (from the checkpoint or the
//! segments) give their series the deleted intervals again; the garbage
//! collection after replay drops those ending before the head's start
//! that cover no out-of-order sample. Checkpoints keep the tombstones of
//! series still in the head whose interval reaches the checkpoint's time,
//! as Prometheus' do (see deletion above for the older ones).
//!
//!
//! Not implemented yet: native histograms (appends fail with
//! [`StorageError::Unsupported`]), exemplar storage (exemplars are
//! accepted and dropped, as with Prometheus' exemplar storage disabled),
//! memory snapshots on shutdown, and the whole-series tombstones
//! (`[MinInt64, MaxInt64]`) with which Prometheus 3.10's stale-series
//! compaction marks series removed: replay treats them as ordinary
//! intervals. Self-metrics are plain atomics in [`HeadStats`] for the DB
//! layer to export (Prometheus has no metric for head deletions). There
//! is no global state; logs go through `tracing`.

mod appender;
pub mod chunks_head;
mod isolation;
mod ooo;
mod querier;
mod replay;
mod series;
mod stats;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ember_chunks::{CutOptions, Encoding, RawChunk};
use ember_index::{postings_for_matchers, MemPostings, SeriesOrdinals};
use ember_model::{Labels, Matcher, Metadata, Timestamp};
use ember_storage::{
    Appendable, Appender, Querier, Queryable, SampleIterator, StorageError, ValueType,
};
use parking_lot::{Condvar, Mutex, RwLock};

pub use appender::HeadAppender;
pub use chunks_head::{
    DiskChunkMeta, HeadChunk, HeadChunkFiles, HeadChunkRef, HeadChunksCorruption, CHUNKS_HEAD_DIR,
    DEFAULT_WRITE_BUFFER_SIZE, HEAD_CHUNKS_FORMAT_V1, HEAD_CHUNK_FILE_HEADER_SIZE,
    MAGIC_HEAD_CHUNKS, MAX_HEAD_CHUNK_FILE_SIZE, OUT_OF_ORDER_MASK,
};
pub use ooo::{DEFAULT_OUT_OF_ORDER_CAP_MAX, MAX_OUT_OF_ORDER_CAP_MAX, WBL_DIR};
pub use querier::HeadQuerier;
pub use stats::{HeadMetric, HeadStats, MetricKind};

use crate::error::TsdbError;
use crate::tombstones::{Interval, Intervals};
use crate::wal::record::{RefMetadata, RefSample, RefSeries, RefTombstone};
use crate::wal::{Wal, WalOptions};
use crate::writer::{BlockWriter, BlockWriterOptions, WrittenBlock};
use isolation::{Isolation, ReadState};
use querier::{snapshot_iterator, ChunksIterator};
pub use replay::ReplayReport;
use replay::WalLog;
use series::{labels_hash, MemSeries, SeriesSnapshot, StripeSeries, U64Map};

/// Settings of a [`Head`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadOptions {
    /// Width of the aligned chunk ranges in ms (Prometheus' block range,
    /// 2h): no chunk spans two, and appends older than half a range before
    /// the head's newest sample are out of bounds.
    pub chunk_range: i64,
    /// Target samples per chunk (120).
    pub samples_per_chunk: usize,
    /// Cut chunks before they could exceed this many bytes (Prometheus 3:
    /// 1024; `None` as in Prometheus 2).
    pub max_chunk_bytes: Option<usize>,
    /// Number of stripes of the series registry (a power of two; 16384).
    pub stripe_size: usize,
    /// Accept out-of-order samples down to this many ms before the head's
    /// newest sample (Prometheus' `out_of_order_time_window`); 0 (the
    /// default) disables out-of-order ingestion.
    pub out_of_order_time_window: i64,
    /// Out-of-order samples a series buffers before they are cut into a
    /// chunk (Prometheus' `out_of_order_cap_max`: 1 to 255, default 32).
    pub out_of_order_cap_max: usize,
    /// Bytes of head chunks buffered before a write (4 MiB).
    pub chunk_write_buffer_size: usize,
    /// Largest head chunk file (128 MiB).
    pub max_chunk_file_size: u64,
    /// Samples older than this are out of bounds (besides the head's own
    /// window); the DB sets it to the newest block's end.
    pub min_valid_time: i64,
    /// How [`Head::open`] opens `<dir>/wal`.
    pub wal_options: WalOptions,
}

impl Default for HeadOptions {
    fn default() -> Self {
        let cut = CutOptions::default();
        HeadOptions {
            chunk_range: cut.chunk_range,
            samples_per_chunk: cut.samples_per_chunk,
            max_chunk_bytes: cut.max_chunk_bytes,
            stripe_size: 1 << 14,
            out_of_order_time_window: 0,
            out_of_order_cap_max: DEFAULT_OUT_OF_ORDER_CAP_MAX,
            chunk_write_buffer_size: DEFAULT_WRITE_BUFFER_SIZE,
            max_chunk_file_size: MAX_HEAD_CHUNK_FILE_SIZE,
            min_valid_time: i64::MIN,
            wal_options: WalOptions::default(),
        }
    }
}

/// What a commit (or a rollback, for its new series) logs, as WAL
/// entries.
pub(crate) struct CommitBatch {
    /// New series.
    pub(crate) series: Vec<RefSeries>,
    /// Samples.
    pub(crate) samples: Vec<RefSample>,
    /// Metadata updates.
    pub(crate) metadata: Vec<RefMetadata>,
}

/// Name of the WAL directory inside the data directory.
pub const WAL_DIR: &str = "wal";

/// The label index.
#[derive(Default)]
pub(crate) struct MemIndex {
    pub(crate) postings: MemPostings,
    pub(crate) ordinals: SeriesOrdinals,
}

/// What one [`Head::truncate`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TruncateStats {
    /// Series removed because they had no sample left.
    pub series_removed: u64,
    /// Chunks dropped.
    pub chunks_removed: u64,
    /// Head chunk files deleted.
    pub files_removed: u64,
}

/// The in-memory block of the live TSDB. See the [module
/// documentation](self).
pub struct Head {
    opts: HeadOptions,
    pub(crate) cut: CutOptions,
    pub(crate) series: StripeSeries,
    pub(crate) index: RwLock<MemIndex>,
    pub(crate) files: Option<HeadChunkFiles>,
    pub(crate) iso: Isolation,
    min_time: AtomicI64,
    max_time: AtomicI64,
    min_valid_time: AtomicI64,
    last_wal_truncation: AtomicI64,
    last_series_ref: AtomicU64,
    pub(crate) stats: HeadStats,
    pub(crate) active_appenders: AtomicU64,
    wal: Option<WalLog>,
    /// The write-behind log of out-of-order samples.
    pub(crate) wbl: Option<Wal>,
    /// Held while out-of-order samples are inserted and logged to the
    /// WBL, so that the WBL has them in insertion order, and while
    /// compaction cuts the out-of-order buffers.
    pub(crate) ooo_lock: Mutex<()>,
    /// One out-of-order compaction at a time.
    ooo_compaction: Mutex<()>,
    /// Oldest out-of-order timestamp (`i64::MAX` when none).
    ooo_min_time: AtomicI64,
    /// Newest out-of-order timestamp (`i64::MIN` when none).
    ooo_max_time: AtomicI64,
    /// Duplicate series references found by replay, mapped to the series
    /// they name, kept for WAL checkpoints.
    pub(crate) replay_aliases: Mutex<U64Map<u64>>,
    replay_report: Mutex<ReplayReport>,
    gc_lock: Mutex<()>,
    /// The in-order lower bounds (`min_valid`) of the open append
    /// transactions that have fixed theirs, with how many hold each.
    append_bounds: Mutex<BTreeMap<i64, u32>>,
    append_bounds_done: Condvar,
}

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Head")
            .field("min_time", &self.min_time())
            .field("max_time", &self.max_time())
            .field("num_series", &self.num_series())
            .field("files", &self.files)
            .finish()
    }
}

impl Head {
    /// A head that keeps everything in memory: no chunk files, no WAL.
    pub fn in_memory(opts: HeadOptions) -> Result<Self, TsdbError> {
        Self::with_parts(opts, None, None)
    }

    /// Opens the head of the data directory `dir`: head chunk files in
    /// `<dir>/chunks_head`, the WAL in `<dir>/wal` (created if missing).
    /// Replays both: the chunk files are mapped and walked, then the WAL's
    /// newest checkpoint and the segments after it rebuild the series,
    /// skipping samples the mapped chunks already hold. Corruption in the
    /// chunk files or at the end of the WAL is logged and repaired as
    /// Prometheus does (data after it comes from the WAL, or is lost);
    /// a damaged checkpoint is an error.
    ///
    /// With out-of-order ingestion enabled, or if `<dir>/wbl` exists (data
    /// of an earlier run with it enabled), the WBL in `<dir>/wbl` is opened
    /// too and replayed after the WAL.
    pub fn open(dir: impl AsRef<Path>, opts: HeadOptions) -> Result<Self, TsdbError> {
        let dir = dir.as_ref();
        let wal = Wal::open(dir.join(WAL_DIR), opts.wal_options)?;
        let wbl_dir = dir.join(WBL_DIR);
        let wbl = if opts.out_of_order_time_window > 0 || wbl_dir.is_dir() {
            Some(Wal::open(wbl_dir, opts.wal_options)?)
        } else {
            None
        };
        Self::open_with_wal(dir.join(CHUNKS_HEAD_DIR), wal, wbl, opts)
    }

    /// Like [`open`](Self::open) with the head chunk directory, an opened
    /// (not yet replayed) WAL and optionally WBL given separately. Without
    /// a WBL, out-of-order samples are kept in memory and in the head
    /// chunk files only.
    pub fn open_with_wal(
        chunks_dir: impl AsRef<Path>,
        wal: Wal,
        wbl: Option<Wal>,
        opts: HeadOptions,
    ) -> Result<Self, TsdbError> {
        let files = HeadChunkFiles::with_sizes(
            chunks_dir,
            opts.chunk_write_buffer_size,
            opts.max_chunk_file_size,
        )?;
        let mut head = Self::with_parts(opts, Some(files), Some(WalLog::new(wal)))?;
        head.wbl = wbl;
        if let Some(w) = &head.wal {
            let report = head.replay(&w.wal)?;
            *head.replay_report.lock() = report;
        }
        // Drop what replay left empty (series whose samples were all too
        // old) and chunk files nobody references.
        let _g = head.gc_lock.lock();
        head.gc()?;
        drop(_g);
        Ok(head)
    }

    /// What opening the head replayed.
    pub fn replay_report(&self) -> ReplayReport {
        self.replay_report.lock().clone()
    }

    /// The newest metadata committed for the series `labels`.
    pub fn metadata(&self, labels: &Labels) -> Option<Metadata> {
        let s = self.series_by_labels(labels)?;
        let st = s.state.lock();
        st.metadata.as_deref().cloned()
    }

    /// The WAL, if the head has one.
    pub fn wal(&self) -> Option<&Wal> {
        self.wal.as_ref().map(|w| &w.wal)
    }

    /// The WBL (out-of-order samples), if the head has one.
    pub fn wbl(&self) -> Option<&Wal> {
        self.wbl.as_ref()
    }

    /// A head whose completed chunks go to `<dir>/chunks_head`, without a
    /// WAL. Chunk files left by an earlier run cannot be attributed to
    /// series without the WAL's series records, so they are deleted.
    pub fn open_without_wal(dir: impl AsRef<Path>, opts: HeadOptions) -> Result<Self, TsdbError> {
        let files = HeadChunkFiles::with_sizes(
            dir.as_ref().join(CHUNKS_HEAD_DIR),
            opts.chunk_write_buffer_size,
            opts.max_chunk_file_size,
        )?;
        let n = files.truncate(u32::MAX)?;
        if n > 0 {
            tracing::info!(files = n, dir = %files.dir().display(), "deleted head chunk files: no WAL to replay them with");
        }
        Self::with_parts(opts, Some(files), None)
    }

    pub(crate) fn with_parts(
        opts: HeadOptions,
        files: Option<HeadChunkFiles>,
        wal: Option<WalLog>,
    ) -> Result<Self, TsdbError> {
        if opts.out_of_order_time_window < 0 {
            return Err(TsdbError::InvalidInput(format!(
                "out-of-order time window must not be negative, got {}",
                opts.out_of_order_time_window
            )));
        }
        if !(1..=MAX_OUT_OF_ORDER_CAP_MAX).contains(&opts.out_of_order_cap_max) {
            return Err(TsdbError::InvalidInput(format!(
                "out-of-order cap max must be between 1 and {MAX_OUT_OF_ORDER_CAP_MAX}, got {}",
                opts.out_of_order_cap_max
            )));
        }
        if opts.chunk_range < 1 {
            return Err(TsdbError::InvalidInput(format!(
                "head chunk range must be positive, got {}",
                opts.chunk_range
            )));
        }
        let cut = CutOptions {
            samples_per_chunk: opts.samples_per_chunk.max(1),
            chunk_range: opts.chunk_range,
            max_chunk_bytes: opts.max_chunk_bytes,
        };
        Ok(Head {
            series: StripeSeries::new(opts.stripe_size),
            min_valid_time: AtomicI64::new(opts.min_valid_time),
            opts,
            cut,
            index: RwLock::new(MemIndex::default()),
            files,
            iso: Isolation::new(),
            min_time: AtomicI64::new(i64::MAX),
            last_wal_truncation: AtomicI64::new(i64::MIN),
            max_time: AtomicI64::new(i64::MIN),
            last_series_ref: AtomicU64::new(0),
            stats: HeadStats::default(),
            active_appenders: AtomicU64::new(0),
            wal,
            wbl: None,
            ooo_lock: Mutex::new(()),
            ooo_compaction: Mutex::new(()),
            ooo_min_time: AtomicI64::new(i64::MAX),
            ooo_max_time: AtomicI64::new(i64::MIN),
            replay_aliases: Mutex::new(U64Map::default()),
            replay_report: Mutex::new(ReplayReport::default()),
            gc_lock: Mutex::new(()),
            append_bounds: Mutex::new(BTreeMap::new()),
            append_bounds_done: Condvar::new(),
        })
    }

    /// The head's settings.
    pub fn options(&self) -> &HeadOptions {
        &self.opts
    }

    /// The head's counters.
    pub fn stats(&self) -> &HeadStats {
        &self.stats
    }

    /// The head chunk files, if the head has them.
    pub fn chunk_files(&self) -> Option<&HeadChunkFiles> {
        self.files.as_ref()
    }

    /// A new append transaction.
    pub fn appender(&self) -> HeadAppender<'_> {
        HeadAppender::new(self)
    }

    /// A querier over `[mint, maxt]` (ms, inclusive) seeing the commits
    /// complete now.
    pub fn querier(&self, mint: Timestamp, maxt: Timestamp) -> HeadQuerier<'_> {
        HeadQuerier::new(self, mint, maxt)
    }

    /// Oldest timestamp in the head, `i64::MAX` before the first sample.
    pub fn min_time(&self) -> i64 {
        self.min_time.load(Ordering::Acquire)
    }

    /// Newest timestamp in the head, `i64::MIN` before the first sample.
    pub fn max_time(&self) -> i64 {
        self.max_time.load(Ordering::Acquire)
    }

    /// Samples older than this are out of bounds, whatever the head's
    /// window.
    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::Acquire)
    }

    /// Sets [`min_valid_time`](Self::min_valid_time) (the DB does after
    /// writing a block).
    pub fn set_min_valid_time(&self, t: i64) {
        self.min_valid_time.store(t, Ordering::Release);
    }

    /// Number of series.
    pub fn num_series(&self) -> u64 {
        self.stats.series.load(Ordering::Relaxed)
    }

    /// Whether the head spans more than 1.5 chunk ranges, so the oldest
    /// range can be compacted into a block (Prometheus' rule).
    pub fn is_compactable(&self) -> bool {
        let (min, max) = (self.min_time(), self.max_time());
        min <= max && max.saturating_sub(min) > self.opts.chunk_range / 2 * 3
    }

    /// The lowest timestamp an appender created now accepts:
    /// `max(maxT − chunkRange/2, minValidTime)`.
    pub fn appendable_min_valid_time(&self) -> i64 {
        self.max_time()
            .saturating_sub(self.opts.chunk_range / 2)
            .max(self.min_valid_time())
    }

    /// The head's counters and its time range as Prometheus metrics.
    pub fn metrics(&self) -> Vec<HeadMetric> {
        let mut m = self.stats.metrics();
        let gauge = |name, help, value| HeadMetric {
            name,
            help,
            kind: MetricKind::Gauge,
            value,
        };
        m.push(gauge(
            "prometheus_tsdb_head_min_time",
            "Minimum time bound of the head block.",
            self.min_time() as f64,
        ));
        m.push(gauge(
            "prometheus_tsdb_head_max_time",
            "Maximum timestamp of the head block.",
            self.max_time() as f64,
        ));
        if let Some(f) = &self.files {
            m.push(gauge(
                "prometheus_tsdb_head_chunks_storage_size_bytes",
                "Size of the chunks_head directory.",
                f.size() as f64,
            ));
        }
        m.push(gauge(
            "prometheus_tsdb_head_active_appenders",
            "Number of currently active appender transactions",
            self.active_appenders.load(Ordering::Relaxed) as f64,
        ));
        if let Some(w) = &self.wbl {
            m.extend(stats::wbl_metrics(w));
        }
        m
    }

    /// Sets the head's time range on its first sample.
    pub(crate) fn init_time(&self, t: i64) {
        if self
            .min_time
            .compare_exchange(i64::MAX, t, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let _ =
                self.max_time
                    .compare_exchange(i64::MIN, t, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    pub(crate) fn update_min_max_time(&self, mint: i64, maxt: i64) {
        if mint <= maxt {
            self.min_time.fetch_min(mint, Ordering::AcqRel);
            self.max_time.fetch_max(maxt, Ordering::AcqRel);
        }
    }

    pub(crate) fn has_wal(&self) -> bool {
        self.wal.is_some()
    }

    pub(crate) fn log_commit(&self, batch: &CommitBatch) -> Result<(), TsdbError> {
        match &self.wal {
            Some(w) => w.log(batch),
            None => Ok(()),
        }
    }

    /// The series with `labels`, if any.
    pub(crate) fn series_by_labels(&self, labels: &Labels) -> Option<Arc<MemSeries>> {
        self.series.get_by_hash(labels_hash(labels), labels)
    }

    /// The series with `labels`, created (with the next reference) if new;
    /// and whether it was created. A created series starts marked as
    /// pending a commit when `pending` is set, so garbage collection keeps
    /// it until the appender is done.
    pub(crate) fn get_or_create(&self, labels: &Labels, pending: bool) -> (Arc<MemSeries>, bool) {
        let hash = labels_hash(labels);
        if let Some(s) = self.series.get_by_hash(hash, labels) {
            return (s, false);
        }
        let r = self.last_series_ref.fetch_add(1, Ordering::AcqRel) + 1;
        self.create_with_ref(r, labels, hash, pending)
    }

    /// Creates series `r` unless the labels exist already.
    pub(crate) fn create_with_ref(
        &self,
        r: u64,
        labels: &Labels,
        hash: u64,
        pending: bool,
    ) -> (Arc<MemSeries>, bool) {
        let s = MemSeries::new(r, labels.clone());
        if pending {
            s.state.lock().pending_commit = 1;
        }
        let (s, created) = self.series.set_unless_present(hash, Arc::new(s));
        if created {
            let mut idx = self.index.write();
            match idx.ordinals.get_or_insert(r) {
                Ok(o) => idx.postings.add(o, labels),
                Err(e) => tracing::error!(series_ref = r, error = %e, "series not indexed"),
            }
            drop(idx);
            HeadStats::add(&self.stats.series, 1);
            HeadStats::add(&self.stats.series_created, 1);
        }
        (s, created)
    }

    /// The series matching `matchers` (all series when empty), in
    /// reference order.
    pub(crate) fn select_series(
        &self,
        matchers: &[Matcher],
    ) -> Result<Vec<Arc<MemSeries>>, TsdbError> {
        let idx = self.index.read();
        let set = if matchers.is_empty() {
            idx.ordinals.live().clone()
        } else {
            postings_for_matchers(&idx.postings, matchers)
                .map_err(|e| TsdbError::InvalidInput(format!("head postings: {e}")))?
        };
        let mut out = Vec::with_capacity(set.len() as usize);
        for o in &set {
            if let Some(s) = idx
                .ordinals
                .series_ref(o)
                .and_then(|r| self.series.get_by_ref(r))
            {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Deletes the samples in `[mint, maxt]` (ms, inclusive) of the series
    /// `matchers` select; returns how many series got a tombstone. An
    /// empty matcher list selects nothing, as in Prometheus.
    ///
    /// As Prometheus' head does, the range is clamped to the head's and
    /// then to each series' time range (out-of-order samples included), so
    /// only series with samples in it get an interval, and the interval
    /// never reaches past the series' newest sample. The intervals are logged to the WAL as one
    /// Tombstones record before they take effect; if logging fails,
    /// nothing is deleted. The chunks are left as they are: reads skip
    /// deleted intervals, and [`truncate`](Self::truncate) drops intervals
    /// older than the head along with the chunks. Queriers see a deletion
    /// from the next series they read.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<u64, TsdbError> {
        let Some((lo, hi)) = self.data_range() else {
            return Ok(0);
        };
        let (mint, maxt) = (mint.max(lo), maxt.min(hi));
        if matchers.is_empty() || mint > maxt {
            return Ok(0);
        }
        let mut series = self.select_series(matchers)?;
        let mut stones = Vec::with_capacity(series.len());
        series.retain(|s| {
            let Some((t0, t1)) = s.state.lock().data_range() else {
                return false;
            };
            let interval = Interval::new(mint.max(t0), maxt.min(t1));
            if interval.mint > interval.maxt {
                return false;
            }
            stones.push(RefTombstone {
                series_ref: s.series_ref,
                interval,
            });
            true
        });
        if stones.is_empty() {
            return Ok(0);
        }
        if let Some(w) = &self.wal {
            w.log_tombstones(&stones)?;
        }
        for (s, stone) in series.iter().zip(&stones) {
            s.state.lock().add_tombstone(stone.interval);
        }
        tracing::debug!(mint, maxt, series = stones.len(), "deleted from the head");
        Ok(stones.len() as u64)
    }

    /// The oldest and newest timestamps of the head's data, in order or
    /// out of order, if it holds any.
    pub fn data_range(&self) -> Option<(i64, i64)> {
        let (min, max) = (self.min_time(), self.max_time());
        let in_order = (min <= max).then_some((min, max));
        match (in_order, self.ooo_time_range()) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        }
    }

    /// Removes data older than `mint`: chunks ending before it, series
    /// left without samples, head chunk files no series references any
    /// more, and (with a WAL) WAL segments, through a checkpoint.
    ///
    /// Queriers opened before may lose data they have not read yet; the
    /// DB waits for them first ([`wait_for_pending_readers`]).
    ///
    /// [`wait_for_pending_readers`]: Self::wait_for_pending_readers
    pub fn truncate(&self, mint: i64) -> Result<TruncateStats, TsdbError> {
        let initialized = self.min_time() != i64::MAX;
        let mut res = self.truncate_memory(mint);
        if let (Ok(_), Some(w), true) = (&res, &self.wal, initialized) {
            let before = self.last_wal_truncation.fetch_max(mint, Ordering::AcqRel);
            if before < mint {
                // The intervals the checkpoint would drop go to the newest
                // segment first, which the checkpoint does not take.
                if let Err(e) = self
                    .relog_tombstones_before(w, mint)
                    .and_then(|()| self.truncate_wal(&w.wal, mint))
                {
                    // Try again at the next truncation.
                    let _ = self.last_wal_truncation.compare_exchange(
                        mint,
                        before,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                    res = Err(e);
                }
            }
        }
        if res.is_err() {
            HeadStats::add(&self.stats.truncations_failed, 1);
        }
        res
    }

    /// Logs again the deleted intervals ending before `mint` that series
    /// keep for their out-of-order samples: a checkpoint up to `mint`
    /// keeps only intervals reaching it, and without them a restart would
    /// bring those deleted samples back from the WBL.
    fn relog_tombstones_before(&self, w: &WalLog, mint: i64) -> Result<(), TsdbError> {
        if self.ooo_time_range().is_none() {
            return Ok(());
        }
        let mut stones = Vec::new();
        for s in self.select_series(&[])? {
            let st = s.state.lock();
            let Some(t) = st.tombstones.as_deref() else {
                continue;
            };
            stones.extend(
                t.as_slice()
                    .iter()
                    .filter(|iv| iv.maxt < mint)
                    .map(|&interval| RefTombstone {
                        series_ref: s.series_ref,
                        interval,
                    }),
            );
        }
        if stones.is_empty() {
            return Ok(());
        }
        w.log_tombstones(&stones)
    }

    /// The in-memory part of [`truncate`](Self::truncate).
    pub fn truncate_memory(&self, mint: i64) -> Result<TruncateStats, TsdbError> {
        let _g = self.gc_lock.lock();
        let initialized = self.min_time() != i64::MAX;
        if initialized && self.min_time() >= mint {
            return Ok(TruncateStats::default());
        }
        HeadStats::add(&self.stats.truncations, 1);
        self.min_time.store(mint, Ordering::Release);
        self.min_valid_time.fetch_max(mint, Ordering::AcqRel);
        self.max_time.fetch_max(mint, Ordering::AcqRel);
        self.gc()
    }

    /// Garbage collection after the head's min time moved.
    fn gc(&self) -> Result<TruncateStats, TsdbError> {
        let start = Instant::now();
        let mint = self.min_time();
        let mut chunks_removed = 0u64;
        let mut min_file = u32::MAX;
        let mut actual_mint = i64::MAX;
        let removed = self.series.gc(|_, st| {
            chunks_removed += st.truncate_before(mint) as u64;
            if let Some(seq) = st.min_file_seq() {
                min_file = min_file.min(seq);
            }
            // Out-of-order data goes with out-of-order compaction.
            if !st.is_empty() || st.pending_commit > 0 || st.has_ooo() {
                if let Some(t) = st.min_time() {
                    actual_mint = actual_mint.min(t);
                }
                return false;
            }
            true
        });
        if !removed.is_empty() {
            let mut idx = self.index.write();
            for s in &removed {
                if let Some(o) = idx.ordinals.remove(s.series_ref) {
                    idx.postings.delete(o, &s.labels);
                }
            }
            // Selects resolve ordinals to series under the index lock, so
            // no query holds a retired ordinal.
            idx.ordinals.recycle_retired();
        }
        let n = removed.len() as u64;
        HeadStats::sub(&self.stats.series, n);
        HeadStats::add(&self.stats.series_removed, n);
        HeadStats::sub(&self.stats.chunks, chunks_removed);
        HeadStats::add(&self.stats.chunks_removed, chunks_removed);
        if actual_mint != i64::MAX && actual_mint > self.min_time() {
            // The data starts later than asked: the head's range starts
            // there, but never inside the appendable window.
            let t = actual_mint.min(self.appendable_min_valid_time());
            self.min_time.fetch_max(t, Ordering::AcqRel);
            self.min_valid_time.fetch_max(t, Ordering::AcqRel);
        }
        let files_removed = match &self.files {
            Some(f) => f.truncate(min_file)? as u64,
            None => 0,
        };
        HeadStats::add(
            &self.stats.gc_duration_micros,
            start.elapsed().as_micros() as u64,
        );
        tracing::debug!(
            mint,
            series_removed = n,
            chunks_removed,
            files_removed,
            "head GC completed"
        );
        Ok(TruncateStats {
            series_removed: n,
            chunks_removed,
            files_removed,
        })
    }

    /// Fixes an appender's bounds with `compute` and registers its
    /// in-order lower bound, atomically with respect to
    /// [`wait_for_appenders_below`](Self::wait_for_appenders_below).
    pub(crate) fn register_append_bound<B>(
        &self,
        compute: impl FnOnce() -> B,
        min_valid: impl FnOnce(&B) -> i64,
    ) -> B {
        let mut open = self.append_bounds.lock();
        let b = compute();
        *open.entry(min_valid(&b)).or_insert(0) += 1;
        b
    }

    /// Unregisters a lower bound [`register_append_bound`] registered.
    ///
    /// [`register_append_bound`]: Self::register_append_bound
    pub(crate) fn unregister_append_bound(&self, min_valid: i64) {
        let mut open = self.append_bounds.lock();
        if let Some(n) = open.get_mut(&min_valid) {
            *n -= 1;
            if *n == 0 {
                open.remove(&min_valid);
            }
        }
        self.append_bounds_done.notify_all();
    }

    /// Waits until no open append transaction may still append an in-order
    /// sample older than `t`, or `timeout` passes; returns whether none
    /// may. Prometheus' `WaitForAppendersOverlapping`: the DB raises the
    /// minimum valid time to a block's end, then calls this before writing
    /// the block, so no commit lands in the range after it was read.
    pub fn wait_for_appenders_below(&self, t: i64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut open = self.append_bounds.lock();
        while open.keys().next().is_some_and(|&low| low < t) {
            if self
                .append_bounds_done
                .wait_until(&mut open, deadline)
                .timed_out()
            {
                return open.keys().next().is_none_or(|&low| low >= t);
            }
        }
        true
    }

    /// Waits until no querier reading `[mint, maxt]` is open, or `timeout`
    /// passes; returns whether none is. The DB calls it before truncating.
    pub fn wait_for_pending_readers(&self, mint: i64, maxt: i64, timeout: Duration) -> bool {
        self.iso.wait_for_readers(mint, maxt, timeout)
    }

    /// The head's in-order data in `[mint, maxt)`, series by series in
    /// label order, for compaction. Reading sees the commits complete when
    /// it starts. Out-of-order samples are left out: they go into blocks of
    /// their own ([`compact_ooo`](Self::compact_ooo)), as in Prometheus.
    pub fn series_in_range(&self, mint: i64, maxt: i64) -> Result<HeadRange<'_>, TsdbError> {
        let mut series = self.select_series(&[])?;
        series.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        let maxt = maxt.saturating_sub(1);
        Ok(HeadRange {
            head: self,
            rs: self.iso.read_state(mint, maxt),
            series: series.into_iter(),
            mint,
            maxt,
        })
    }

    /// Writes the head's in-order samples in `[mint, maxt)` as a block in
    /// `dir` with `opts` (chunks cut again by the writer's rule). Returns
    /// `None` if there is no sample in the range.
    ///
    /// The block covers `[mint, maxt)` whatever its samples, as
    /// Prometheus' blocks from the head do.
    pub fn write_block(
        &self,
        dir: &Path,
        mint: i64,
        maxt: i64,
        opts: BlockWriterOptions,
    ) -> Result<Option<WrittenBlock>, TsdbError> {
        let mut w = BlockWriter::new(opts);
        for s in self.series_in_range(mint, maxt)? {
            let s = s?;
            let id = w.series_id(&s.labels)?;
            for x in s.samples() {
                let (t, v) = x?;
                w.append_id(id, t, v)?;
            }
        }
        w.flush_range(dir, mint, maxt, &[])
    }

    /// Flushes the head chunk files and closes the WAL. Appends after
    /// closing fail once a chunk must be written.
    pub fn close(&self) -> Result<(), TsdbError> {
        let mut first_err = None;
        if let Some(f) = &self.files {
            if let Err(e) = f.close() {
                first_err.get_or_insert(e);
            }
        }
        if let Some(l) = &self.wal {
            if let Err(e) = l.close() {
                first_err.get_or_insert(e);
            }
        }
        if let Some(w) = &self.wbl {
            if let Err(e) = w.close() {
                first_err.get_or_insert(e.into());
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Appendable for Head {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(HeadAppender::new(self))
    }
}

impl Queryable for Head {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(HeadQuerier::new(self, mint, maxt)))
    }
}

/// Series of the head in a time range, in label order: see
/// [`Head::series_in_range`].
pub struct HeadRange<'h> {
    head: &'h Head,
    rs: ReadState,
    series: std::vec::IntoIter<Arc<MemSeries>>,
    mint: i64,
    maxt: i64,
}

impl Drop for HeadRange<'_> {
    fn drop(&mut self) {
        self.head.iso.close_read(&self.rs);
    }
}

impl<'h> Iterator for HeadRange<'h> {
    type Item = Result<RangeSeries<'h>, TsdbError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = self.series.next()?;
            let snap = match s.snapshot(
                self.mint,
                self.maxt,
                Some(&self.rs),
                self.head.files.as_ref(),
                false,
            ) {
                Ok(c) => c,
                Err(e) => return Some(Err(e)),
            };
            if !querier::has_samples_in(self.head, &snap, self.mint) {
                continue;
            }
            return Some(Ok(RangeSeries {
                head: self.head,
                labels: s.labels.clone(),
                snap,
                mint: self.mint,
            }));
        }
    }
}

/// One series' data in a range (see [`Head::series_in_range`]).
pub struct RangeSeries<'h> {
    head: &'h Head,
    labels: Labels,
    snap: SeriesSnapshot,
    mint: i64,
}

impl RangeSeries<'_> {
    /// The series' labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The chunks overlapping the range, oldest first, as stored: `(min
    /// time, max time, chunk)`. Chunks never cross an aligned chunk range,
    /// so for aligned ranges every chunk lies inside; otherwise use
    /// [`samples`](Self::samples). They still hold the samples
    /// [`deleted`](Self::deleted) lists, which `samples` skips.
    pub fn chunks(&self) -> impl Iterator<Item = (i64, i64, RawChunk)> + '_ {
        self.snap.chunks.iter().map(|c| {
            (
                c.min_time,
                c.max_time,
                RawChunk::new(Encoding::Xor, Bytes::clone(&c.data)),
            )
        })
    }

    /// The series' deleted intervals ([`Head::delete`]).
    pub fn deleted(&self) -> &Intervals {
        &self.snap.deleted
    }

    /// The samples in the range that are not deleted, in time order.
    pub fn samples(&self) -> RangeSamples<'_> {
        RangeSamples(snapshot_iterator(self.head, &self.snap, self.mint))
    }
}

/// The samples of a [`RangeSeries`]; ends with an error if a chunk is
/// corrupt.
pub struct RangeSamples<'a>(ChunksIterator<'a>);

impl Iterator for RangeSamples<'_> {
    type Item = Result<(i64, f64), TsdbError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.0.next() {
            ValueType::None => self.0.take_error().map(|e| Err(TsdbError::Storage(e))),
            _ => Some(Ok(self.0.at())),
        }
    }
}
