//! Compaction: merging blocks into larger ones, as Prometheus' leveled
//! compactor does.
//!
//! **Planning** ([`plan()`]): blocks start at the smallest range (2h by
//! default) and are merged up through ranges growing ×3 (6h, 18h, 54h,
//! ...) up to the maximum block duration ([`block_ranges`]). Overlapping
//! blocks — backfilled into a live directory, say — are merged first, by
//! vertical compaction. Blocks with many tombstones are rewritten alone.
//! The rules are detailed in [`plan`](plan::plan).
//!
//! **Merging** ([`Compactor::compact`]): the new block holds the union of
//! its sources' series, deleted samples left out, non-overlapping chunks
//! copied untouched and overlapping ones merged and re-encoded (see the
//! `merge` module for the exact rules, including which sample wins on
//! equal timestamps). Its `meta.json` covers the union of the sources'
//! ranges, has level `max(parents) + 1`, the union of their `sources`, and
//! lists them as `parents`. A result without samples writes no block; the
//! sources are marked `deletable` instead, as Prometheus does. A failed
//! compaction marks its sources `failed`, which keeps the planner from
//! choosing them again by level.
//!
//! **Writing** uses the same layout and writers as
//! [`BlockWriter`](crate::BlockWriter) (chunk segments through
//! [`ChunkWriter`](crate::ChunkWriter), the index through `ember-index`),
//! but takes chunks rather than samples, so that untouched chunks keep
//! their bytes.
//!
//! # Crash safety
//!
//! A compaction changes the data directory in steps, each leaving a state
//! that opening the directory ([`BlockStore::open`](crate::BlockStore::open))
//! turns into a correct one:
//!
//! 1. The new block is written into `<ULID>.tmp-for-creation`; every file
//!    and the directory are fsynced. A crash here leaves the temporary
//!    directory, which is not a block (its name is not a ULID) and is
//!    removed at open: the sources are intact.
//! 2. The directory is renamed to `<ULID>` and the data directory fsynced.
//!    The rename is atomic: the block is either invisible or complete.
//!    After it, the new block and its sources coexist; they overlap, and
//!    queries merge overlapping blocks, so the data reads the same. At the
//!    next reload the sources are found among the new block's `parents`
//!    and deleted.
//! 3. Each source is renamed to `<ULID>.tmp-for-deletion` (atomic; the
//!    data directory is fsynced), then removed. A crash during removal
//!    leaves a temporary directory, removed at open.
//!
//! Marking blocks `deletable` or `failed` rewrites their `meta.json`
//! through a synced temporary file and a rename, so each meta is old or
//! new, never torn. An empty result only ever marks blocks whose data is
//! entirely deleted, so deleting any subset of them loses nothing.

mod crash;
mod merge;
pub mod plan;

use std::fs;
use std::path::{Path, PathBuf};

use ulid::Ulid;

pub(crate) use crash::{is_simulated, Crash, Step};
pub use merge::MERGED_CHUNK_SAMPLES;
pub use plan::plan;

use crate::block::Block;
use crate::chunk_file::{sync_dir, DEFAULT_SEGMENT_SIZE};
use crate::error::{IoContext, TsdbError};
use crate::meta::{BlockDesc, BlockMeta, BlockMetaCompaction, META_VERSION_1};
use crate::tombstones::Tombstones;
use crate::writer::TMP_FOR_CREATION_SUFFIX;

/// Prometheus' smallest block duration, `--storage.tsdb.min-block-duration`:
/// 2h.
pub const DEFAULT_BLOCK_DURATION: i64 = 2 * 3_600_000;

/// The largest block duration Prometheus chooses by itself: 31 days.
pub const MAX_DEFAULT_BLOCK_DURATION: i64 = 31 * 24 * 3_600_000;

/// The compaction hint of blocks made of out-of-order samples only.
pub const HINT_FROM_OUT_OF_ORDER: &str = "from-out-of-order";

/// `steps` ranges starting at `min`, each `step` times the previous
/// (Prometheus' `ExponentialBlockRanges`).
pub fn exponential_block_ranges(min: i64, steps: usize, step: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(steps);
    let mut cur = min;
    for _ in 0..steps {
        out.push(cur);
        cur = cur.saturating_mul(step);
    }
    out
}

/// The compaction ranges Prometheus uses for these block durations: ten
/// ranges from `min_block` growing ×3, without those longer than
/// `max_block` (which is raised to `min_block` if smaller). A
/// non-positive `min_block` means the default 2h.
pub fn block_ranges(min_block: i64, max_block: i64) -> Vec<i64> {
    let min_block = if min_block <= 0 {
        DEFAULT_BLOCK_DURATION
    } else {
        min_block
    };
    let max_block = max_block.max(min_block);
    let mut ranges = exponential_block_ranges(min_block, 10, 3);
    ranges.retain(|&r| r <= max_block);
    ranges
}

/// Prometheus' default `--storage.tsdb.max-block-duration`: 31 days, or a
/// tenth of the time retention if that is shorter.
pub fn default_max_block_duration(retention_time: Option<i64>) -> i64 {
    match retention_time {
        Some(r) if r > 0 && r / 10 < MAX_DEFAULT_BLOCK_DURATION => r / 10,
        _ => MAX_DEFAULT_BLOCK_DURATION,
    }
}

/// Settings of a [`Compactor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactorOptions {
    /// Compaction ranges in ms, smallest first (see [`block_ranges`]).
    pub ranges: Vec<i64>,
    /// Largest chunk segment file of written blocks.
    pub segment_size: u64,
}

impl CompactorOptions {
    /// Options for these minimum and maximum block durations (ms).
    pub fn new(min_block: i64, max_block: i64) -> Self {
        CompactorOptions {
            ranges: block_ranges(min_block, max_block),
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }
}

impl Default for CompactorOptions {
    /// Prometheus' defaults: 2h blocks and, with the default 15 day
    /// retention, at most 36h (ranges 2h, 6h, 18h).
    fn default() -> Self {
        Self::new(
            DEFAULT_BLOCK_DURATION,
            default_max_block_duration(Some(crate::retention::DEFAULT_RETENTION_MS)),
        )
    }
}

/// What a compaction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompactOutcome {
    /// A new block; the sources may now be deleted.
    Written {
        /// The new block's meta.
        meta: BlockMeta,
        /// Its directory.
        dir: PathBuf,
    },
    /// Nothing survived (everything was deleted): no block was written and
    /// the sources are marked deletable.
    Empty {
        /// The sources.
        sources: Vec<Ulid>,
    },
}

/// Plans and runs compactions (Prometheus' `LeveledCompactor`).
#[derive(Debug, Clone)]
pub struct Compactor {
    opts: CompactorOptions,
    pub(crate) crash: Crash,
}

impl Compactor {
    /// A compactor. Fails if there are no ranges or a range is not
    /// positive.
    pub fn new(opts: CompactorOptions) -> Result<Self, TsdbError> {
        if opts.ranges.is_empty() {
            return Err(TsdbError::InvalidInput(
                "at least one compaction range must be provided".into(),
            ));
        }
        if opts.ranges.iter().any(|&r| r <= 0) {
            return Err(TsdbError::InvalidInput(format!(
                "compaction ranges must be positive: {:?}",
                opts.ranges
            )));
        }
        Ok(Compactor {
            opts,
            crash: Crash::default(),
        })
    }

    /// The settings.
    pub fn options(&self) -> &CompactorOptions {
        &self.opts
    }

    /// The blocks to compact next, in `minTime` order; empty if none.
    pub fn plan(&self, metas: &[&BlockMeta]) -> Vec<Ulid> {
        plan::plan(&self.opts.ranges, metas)
    }

    /// Merges `blocks` into one new block in `dest` (see the module docs).
    ///
    /// On failure the sources are marked `failed` and nothing is left in
    /// `dest`.
    pub fn compact(&self, dest: &Path, blocks: &[&Block]) -> Result<CompactOutcome, TsdbError> {
        if blocks.is_empty() {
            return Err(TsdbError::InvalidInput("no blocks to compact".into()));
        }
        let mut blocks = blocks.to_vec();
        blocks.sort_by_key(|a| (a.meta().min_time, a.ulid()));
        let metas: Vec<&BlockMeta> = blocks.iter().map(|b| b.meta()).collect();
        let meta = compact_block_metas(Ulid::new(), &metas);
        let ids: Vec<Ulid> = metas.iter().map(|m| m.ulid).collect();
        let started = std::time::Instant::now();
        match self.write(dest, meta, &blocks) {
            Ok(Some((meta, dir))) => {
                tracing::info!(
                    count = blocks.len(),
                    mint = meta.min_time,
                    maxt = meta.max_time,
                    ulid = %meta.ulid,
                    sources = ?ids,
                    duration = ?started.elapsed(),
                    "compact blocks"
                );
                Ok(CompactOutcome::Written { meta, dir })
            }
            Ok(None) => {
                for b in &blocks {
                    if let Err(error) = update_meta(b.dir(), |m| m.compaction.deletable = true) {
                        tracing::error!(block = %b.ulid(), %error, "failed to mark block deletable after empty compaction");
                    }
                    self.crash.point(Step::MarkedDeletable)?;
                }
                tracing::info!(
                    count = blocks.len(),
                    sources = ?ids,
                    duration = ?started.elapsed(),
                    "compact blocks resulted in empty block"
                );
                Ok(CompactOutcome::Empty { sources: ids })
            }
            Err(e) => {
                if !is_simulated(&e) {
                    for b in &blocks {
                        if let Err(error) = update_meta(b.dir(), |m| m.compaction.failed = true) {
                            tracing::error!(block = %b.ulid(), %error, "failed to mark block compaction failed");
                        }
                    }
                }
                Err(e.context(format!("compact blocks {ids:?}")))
            }
        }
    }

    /// Rewrites one block without its deleted samples, as a level-1 block
    /// over the same range with the old block as its parent (what
    /// Prometheus' `CleanTombstones` writes). Returns the new block, or
    /// `None` if nothing survived (nothing is written then).
    pub fn rewrite(
        &self,
        dest: &Path,
        block: &Block,
    ) -> Result<Option<(BlockMeta, PathBuf)>, TsdbError> {
        let ulid = Ulid::new();
        let old = block.meta();
        let mut meta = BlockMeta::new_level1(ulid, old.min_time, old.max_time, Default::default());
        meta.compaction.parents = vec![desc(old)];
        if old
            .compaction
            .hints
            .iter()
            .any(|h| h == HINT_FROM_OUT_OF_ORDER)
        {
            meta.compaction.hints = vec![HINT_FROM_OUT_OF_ORDER.to_string()];
        }
        self.write(dest, meta, &[block])
            .map_err(|e| e.context(format!("rewrite block {}", old.ulid)))
    }

    /// Writes the union of `blocks` as the block `meta` describes (its
    /// statistics are filled in): into `<ULID>.tmp-for-creation`, synced,
    /// then renamed. `None` if it would hold no samples.
    fn write(
        &self,
        dest: &Path,
        mut meta: BlockMeta,
        blocks: &[&Block],
    ) -> Result<Option<(BlockMeta, PathBuf)>, TsdbError> {
        let ulid = meta.ulid;
        let final_dir = dest.join(ulid.to_string());
        let tmp = dest.join(format!("{ulid}{TMP_FOR_CREATION_SUFFIX}"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).at(&tmp)?;
        }
        fs::create_dir_all(&tmp).at(&tmp)?;
        let res = (|| {
            let stats = merge::populate(
                blocks,
                meta.min_time,
                meta.max_time.saturating_sub(1),
                &tmp,
                self.opts.segment_size,
                &self.crash,
            )?;
            if stats.num_samples == 0 {
                return Ok(None);
            }
            meta.stats = stats;
            meta.write(&tmp)?;
            Tombstones::new().write(&tmp)?;
            sync_dir(&tmp)?;
            self.crash.point(Step::BlockSynced)?;
            fs::rename(&tmp, &final_dir).at(&final_dir)?;
            sync_dir(dest)?;
            self.crash.point(Step::BlockRenamed)?;
            Ok(Some(()))
        })();
        match res {
            Ok(Some(())) => Ok(Some((meta, final_dir))),
            Ok(None) => {
                remove_tmp(&tmp);
                Ok(None)
            }
            Err(e) => {
                if !is_simulated(&e) {
                    remove_tmp(&tmp);
                }
                Err(e)
            }
        }
    }
}

fn remove_tmp(tmp: &Path) {
    if let Err(error) = fs::remove_dir_all(tmp) {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::error!(dir = %tmp.display(), %error, "failed to remove temporary block directory");
        }
    }
}

fn desc(m: &BlockMeta) -> BlockDesc {
    BlockDesc {
        ulid: m.ulid,
        min_time: m.min_time,
        max_time: m.max_time,
    }
}

/// The meta of a block compacted from `metas` (Prometheus'
/// `CompactBlockMetas`): the union of their ranges, level one above the
/// highest, the union of their sources (sorted), the blocks as parents in
/// the given order, and the out-of-order hint if every one has it.
/// Statistics are left empty.
pub fn compact_block_metas(ulid: Ulid, metas: &[&BlockMeta]) -> BlockMeta {
    let mut sources: Vec<Ulid> = metas
        .iter()
        .flat_map(|m| m.compaction.sources.iter().copied())
        .collect();
    sources.sort();
    sources.dedup();
    let all_ooo = !metas.is_empty()
        && metas.iter().all(|m| {
            m.compaction
                .hints
                .iter()
                .any(|h| h == HINT_FROM_OUT_OF_ORDER)
        });
    BlockMeta {
        ulid,
        min_time: metas.iter().map(|m| m.min_time).min().unwrap_or(0),
        max_time: metas.iter().map(|m| m.max_time).max().unwrap_or(0),
        stats: Default::default(),
        compaction: BlockMetaCompaction {
            level: metas
                .iter()
                .map(|m| m.compaction.level)
                .max()
                .unwrap_or(0)
                .saturating_add(1),
            sources,
            parents: metas.iter().map(|m| desc(m)).collect(),
            hints: if all_ooo {
                vec![HINT_FROM_OUT_OF_ORDER.to_string()]
            } else {
                Vec::new()
            },
            ..Default::default()
        },
        version: META_VERSION_1,
    }
}

/// Rewrites the `meta.json` of the block in `dir` (read from disk, changed
/// by `f`, written through a synced temporary file and a rename, the
/// directory synced).
pub(crate) fn update_meta(
    dir: &Path,
    f: impl FnOnce(&mut BlockMeta),
) -> Result<BlockMeta, TsdbError> {
    let (mut meta, _) = BlockMeta::read(dir)?;
    f(&mut meta);
    meta.write(dir)?;
    sync_dir(dir)?;
    Ok(meta)
}

#[cfg(test)]
pub(crate) mod tests;
