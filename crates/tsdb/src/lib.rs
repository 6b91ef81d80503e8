//! Ember's time series database, in Prometheus' on-disk format.
//!
//! [`Db::open`] is the one call an embedder needs: it locks a data
//! directory ([`lock`]), opens its blocks, and rebuilds the in-memory
//! [`head`] from `chunks_head/` and the write-ahead log ([`wal`]), plus,
//! with out-of-order ingestion enabled, the write-behind log of
//! out-of-order samples (`wbl/`); the result implements the storage
//! traits for appends and queries. Over time
//! the head's oldest range is written out as a block, blocks are merged
//! into longer ones and old ones dropped ([`compact`], [`dir`],
//! [`retention`]). The sections below describe the block layer those parts
//! build on; each module's docs describe its own design and, for the WAL,
//! compaction and the Db, what survives a crash.
//!
//! A **block** is a directory named by a ULID holding the samples of one
//! time range `[minTime, maxTime)`, in exactly the format Prometheus 2.x
//! and 3.x read and write: `chunks/000001...` segment files of XOR chunks
//! ([`chunk_file`]), an `index` in format 2 (written and read by
//! `ember-index`), `meta.json` ([`meta`]) and `tombstones`
//! ([`tombstones`]). Blocks are immutable once written; every file is read
//! through bounds- and checksum-checked code, so corrupt or truncated
//! files give a [`TsdbError`] naming the file and offset, never a panic.
//!
//! **Writing.** [`BlockWriter`] takes series (labels plus samples in time
//! order), packs samples into XOR chunks as they arrive with the head's
//! cutting rule ([`ember_chunks::ChunkCutter`]: 120 samples per chunk,
//! chunks never crossing a chunk-range boundary), and on
//! [`flush`](BlockWriter::flush) writes a level-1 block the way
//! Prometheus' compactor does: series in label order, chunks first, then
//! the index, `meta.json` and an empty `tombstones` file, all in
//! `<dir>/<ULID>.tmp-for-creation`, synced, then renamed into place. A
//! failed write removes its temporary directory. [`backfill`] builds on it
//! to turn an OpenMetrics file into blocks exactly as `promtool tsdb
//! create-blocks-from openmetrics` does (same ranges, same chunks), in
//! memory bounded by a sample budget rather than by the input's size.
//!
//! **Reading.** [`Block::open`] opens a block read-only: the index and the
//! chunk segments are memory-mapped (the crate's only `unsafe`, in one
//! private function) and read in place; chunks are handed out as borrowed
//! slices or as zero-copy [`ember_chunks::RawChunk`]s. A block implements
//! [`ember_storage::Queryable`]: a select turns its matchers into postings
//! with `ember-index`'s planner, reads the series' chunk metadata, keeps the
//! chunks overlapping the query range and not deleted by tombstones, and
//! decodes them lazily. Float readers skip chunks of other encodings
//! (native histograms, Prometheus 3's XOR2) and report how many as a
//! warning. [`open_blocks`] opens every block of a data directory into a
//! [`BlockDir`], skipping (and listing) blocks that fail to open, and
//! queries them together through [`ember_storage::MergeQuerier`], so
//! overlapping blocks read as one.
//!
//! **Tools.** [`dump`] and [`report`] provide what the
//! `ember tsdb` commands print — promtool's `dump`, `list` and `analyze`
//! output, with Go's number, duration and table formatting ([`gofmt`]) —
//! as text for the caller to write; the library itself prints nothing,
//! logs through `tracing`, and has no global state.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

pub mod backfill;
pub mod block;
pub mod chunk_file;
mod chunk_iter;
pub mod compact;
pub mod db;
pub mod dir;
pub mod dump;
mod error;
pub mod gofmt;
pub mod head;
pub mod lock;
pub mod meta;
mod mmap;
pub mod report;
pub mod retention;
pub mod tombstones;
pub mod wal;
pub mod writer;

pub use block::{open_blocks, Block, BlockDir, BlockQuerier, BlockSize, FailedBlock};
pub use chunk_file::{ChunkReader, ChunkRef, ChunkView, ChunkWriter};
pub use compact::{CompactOutcome, Compactor, CompactorOptions};
pub use db::{CompactReport, CompactionTask, Db, DbOptions};
pub use dir::{BlockSnapshot, BlockStore, BlockStoreOptions};
pub use dump::{dump_samples, DumpStats};
pub use error::TsdbError;
pub use head::{Head, HeadAppender, HeadOptions, HeadQuerier, HeadStats};
pub use lock::DirLock;
pub use meta::{BlockDesc, BlockMeta, BlockMetaCompaction, BlockStats};
pub use retention::RetentionPolicy;
pub use tombstones::{Interval, Intervals, Tombstones};
pub use writer::{BlockWriter, BlockWriterOptions, SeriesId, WrittenBlock};
