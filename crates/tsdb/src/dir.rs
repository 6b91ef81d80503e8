//! The live blocks of a data directory: [`BlockStore`].
//!
//! [`BlockStore`] is the block half of Prometheus' `DB` (the head and WAL
//! live beside it): it keeps the set of open blocks, and is the only thing
//! that changes them on disk — compaction ([`BlockStore::compact`]),
//! retention and the removal of replaced blocks
//! ([`BlockStore::reload`]), deletion ([`BlockStore::delete`]) and
//! tombstone cleaning ([`BlockStore::clean_tombstones`]). Those operations
//! run one at a time (a compaction mutex, as Prometheus' `cmtx`); queries
//! never wait for them. A query takes a [`BlockSnapshot`], a reference-
//! counted list of open blocks: a block deleted meanwhile stays readable
//! through its memory maps until the last snapshot holding it is dropped
//! (on Unix, where removing a mapped file keeps the mapping valid).
//!
//! The store does not lock the directory: whoever opens the data directory
//! takes a [`DirLock`](crate::DirLock) first and holds it for as long as
//! the store lives.
//!
//! # Opening and reloading
//!
//! [`BlockStore::open`] removes what interrupted operations leave behind —
//! `<ULID>.tmp-for-creation`, `<ULID>.tmp-for-deletion` (and the legacy
//! `<ULID>.tmp`) directories, and `meta.json.tmp` / `tombstones.tmp` files
//! inside blocks — then reloads. A reload, like Prometheus'
//! `reloadBlocks`, opens the blocks on disk (reusing those already open),
//! and deletes:
//!
//! * blocks listed as a parent of another block: they were compacted (or
//!   rewritten) into it, and a crash came before their deletion;
//! * blocks whose meta says `deletable` (an empty compaction result);
//! * blocks beyond the [retention policy](crate::retention).
//!
//! A block that fails to open makes the reload fail (Prometheus refuses to
//! run on a corrupted block) unless a loaded block lists it as a parent.
//! A block whose `meta.json` cannot be read is skipped with an error log.
//!
//! With [`BlockStoreOptions::skip_corrupted`] (what [`Db`](crate::Db)
//! uses) the store keeps running instead: a block that fails to open,
//! `meta.json` included, is logged (by ULID, once) and listed in
//! [`BlockStore::failed`], never queried, compacted, or given tombstones,
//! and is opened again at each reload (a repaired block comes back). It
//! is deleted only when a loaded block lists it as a parent, when its
//! `meta.json` marks it `deletable`, or by retention: retention is decided
//! for the healthy blocks among themselves, as if the failed blocks did
//! not exist, and a failed block whose `meta.json` is readable is deleted
//! when retention over *all* blocks (its `maxTime` from `meta.json`, its
//! size the bytes of its directory) would delete it. So a damaged block
//! ages out like any other, but can never cause the deletion of a healthy
//! one (a bogus `maxTime` in its meta cannot expire the others).
//!
//! # Deleting
//!
//! A block is deleted by renaming it to `<ULID>.tmp-for-deletion` (atomic,
//! the data directory fsynced), which makes it invisible at once, then
//! removing that directory; a crash in between leaves a temporary
//! directory that the next open removes.
//!
//! # Deleting series
//!
//! [`BlockStore::delete`] marks samples deleted in every block overlapping
//! the time range: tombstones for each series the matchers select that has
//! chunks in the range, clamped to the series' own time span, merged with
//! the block's existing tombstones, written through a synced temporary file
//! renamed over `tombstones` (the block directory fsynced), then the
//! tombstone count in `meta.json`. Each block switches from its old
//! tombstones to the new ones atomically; a crash between the two files
//! leaves only a stale count in `meta.json`.
//! [`BlockStore::clean_tombstones`] rewrites every block that has
//! tombstones into a new block without the deleted samples (its parent the
//! old block, which is then deleted: crash-safe as compaction is).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ember_model::{Matcher, Timestamp};
use ember_storage::{MergeQuerier, Querier, Queryable, StorageError};
use parking_lot::{Mutex, RwLock};
use ulid::Ulid;

use crate::block::{Block, FailedBlock};
use crate::chunk_file::sync_dir;
use crate::compact::{
    is_simulated, update_meta, CompactOutcome, Compactor, CompactorOptions, Crash, Step,
};
use crate::error::{IoContext, TsdbError};
use crate::meta::{BlockMeta, META_FILENAME};
use crate::retention::{blocks_beyond_retention, RetentionCandidate, RetentionPolicy};
use crate::tombstones::{Interval, TOMBSTONES_FILENAME};
use crate::writer::TMP_FOR_CREATION_SUFFIX;

/// Suffix of a block directory being deleted.
pub const TMP_FOR_DELETION_SUFFIX: &str = ".tmp-for-deletion";
/// Suffix of temporary block directories of old Prometheus versions.
pub const TMP_LEGACY_SUFFIX: &str = ".tmp";

/// A 26-character ULID in Crockford base 32, as Prometheus' `ParseStrict`.
fn parse_ulid_strict(name: &str) -> Option<Ulid> {
    if name.len() != 26 || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Ulid::from_string(name).ok()
}

/// Whether `name` is a temporary block directory name:
/// `<ULID>.tmp-for-creation`, `<ULID>.tmp-for-deletion` or `<ULID>.tmp`.
pub fn is_tmp_block_dir_name(name: &str) -> bool {
    [
        TMP_FOR_CREATION_SUFFIX,
        TMP_FOR_DELETION_SUFFIX,
        TMP_LEGACY_SUFFIX,
    ]
    .iter()
    .any(|suffix| {
        name.strip_suffix(suffix)
            .and_then(parse_ulid_strict)
            .is_some()
    })
}

/// The block directories of `dir` (subdirectories named by a ULID), by
/// ULID.
pub fn block_dirs(dir: &Path) -> Result<Vec<(Ulid, PathBuf)>, TsdbError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let Some(ulid) = name.to_str().and_then(parse_ulid_strict) else {
            continue;
        };
        if entry.file_type().at(&entry.path())?.is_dir() {
            out.push((ulid, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Removes the temporary block directories of `dir` (see
/// [`is_tmp_block_dir_name`]) and returns them. A missing `dir` has none;
/// a directory that cannot be removed is logged and skipped, as Prometheus
/// does.
pub fn remove_tmp_dirs(dir: &Path) -> Result<Vec<PathBuf>, TsdbError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TsdbError::io(dir, e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.at(dir)?;
        let is_tmp = entry
            .file_name()
            .to_str()
            .is_some_and(is_tmp_block_dir_name);
        if !is_tmp || !entry.file_type().at(&entry.path())?.is_dir() {
            continue;
        }
        let path = entry.path();
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(dir = %path.display(), "found and deleted tmp dir");
                removed.push(path);
            }
            Err(error) => {
                tracing::error!(dir = %path.display(), %error, "failed to delete tmp dir");
            }
        }
    }
    Ok(removed)
}

/// Deletes block `ulid` of `dir`: renames it to `<ULID>.tmp-for-deletion`
/// (replacing a leftover of that name), syncs `dir`, removes it. Returns
/// whether the block existed.
pub fn delete_block_dir(dir: &Path, ulid: Ulid) -> Result<bool, TsdbError> {
    delete_block_dir_with(dir, ulid, &Crash::default())
}

fn delete_block_dir_with(dir: &Path, ulid: Ulid, crash: &Crash) -> Result<bool, TsdbError> {
    let path = dir.join(ulid.to_string());
    match fs::symlink_metadata(&path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(TsdbError::io(&path, e)),
    }
    let tmp = dir.join(format!("{ulid}{TMP_FOR_DELETION_SUFFIX}"));
    if fs::symlink_metadata(&tmp).is_ok() {
        fs::remove_dir_all(&tmp).at(&tmp)?;
    }
    fs::rename(&path, &tmp).at(&tmp)?;
    sync_dir(dir)?;
    crash.point(Step::RenamedForDeletion)?;
    fs::remove_dir_all(&tmp).at(&tmp)?;
    tracing::info!(block = %ulid, "deleting obsolete block");
    Ok(true)
}

/// Removes files an interrupted atomic write may leave inside a block.
fn remove_stray_tmp_files(block_dir: &Path) {
    for name in [META_FILENAME, TOMBSTONES_FILENAME] {
        let p = block_dir.join(format!("{name}.tmp"));
        if p.exists() {
            match fs::remove_file(&p) {
                Ok(()) => tracing::info!(file = %p.display(), "removed leftover temporary file"),
                Err(error) => {
                    tracing::warn!(file = %p.display(), %error, "failed to remove leftover temporary file")
                }
            }
        }
    }
}

/// Computes the size retention adds to the blocks (WAL, head chunks).
pub type ExtraSizeFn = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Settings of a [`BlockStore`].
#[derive(Clone, Default)]
pub struct BlockStoreOptions {
    /// Compaction ranges and chunk segment size.
    pub compactor: CompactorOptions,
    /// What to keep.
    pub retention: RetentionPolicy,
    /// Bytes outside blocks that count against size retention, asked at
    /// each reload (Prometheus counts the WAL and head chunk files).
    pub extra_size: Option<ExtraSizeFn>,
    /// Leave blocks that fail to open out, listed in
    /// [`BlockStore::failed`], instead of failing to open or reload (see
    /// the module docs). `false` is Prometheus' behaviour.
    pub skip_corrupted: bool,
}

impl std::fmt::Debug for BlockStoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockStoreOptions")
            .field("compactor", &self.compactor)
            .field("retention", &self.retention)
            .field("extra_size", &self.extra_size.is_some())
            .field("skip_corrupted", &self.skip_corrupted)
            .finish()
    }
}

/// The open blocks at one moment, for queries.
#[derive(Debug, Clone)]
pub struct BlockSnapshot {
    blocks: Arc<[Arc<Block>]>,
}

impl BlockSnapshot {
    /// The blocks, by `(minTime, ULID)`.
    pub fn blocks(&self) -> &[Arc<Block>] {
        &self.blocks
    }

    /// The block with this id.
    pub fn block(&self, ulid: Ulid) -> Option<&Arc<Block>> {
        self.blocks.iter().find(|b| b.ulid() == ulid)
    }

    /// A querier merging the blocks that overlap `[mint, maxt]`; on equal
    /// timestamps the block first by `(minTime, ULID)` wins.
    pub fn merge_querier(&self, mint: Timestamp, maxt: Timestamp) -> MergeQuerier<'_> {
        let queriers: Vec<Box<dyn Querier + '_>> = self
            .blocks
            .iter()
            .filter(|b| b.meta().overlaps(mint, maxt))
            .map(|b| Box::new(b.block_querier(mint, maxt)) as Box<dyn Querier + '_>)
            .collect();
        MergeQuerier::new(queriers)
    }

    /// Bytes on disk of all blocks.
    pub fn size(&self) -> u64 {
        self.blocks.iter().map(|b| b.size().total()).sum()
    }
}

impl Queryable for BlockSnapshot {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(self.merge_querier(mint, maxt)))
    }
}

/// What a reload decided, before it deletes anything.
struct ReloadPlan {
    keep: Vec<Arc<Block>>,
    delete: BTreeSet<Ulid>,
    failed: Vec<FailedBlock>,
}

/// The blocks of a live data directory (see the module docs).
pub struct BlockStore {
    dir: PathBuf,
    compactor: Compactor,
    retention: RetentionPolicy,
    extra_size: Option<ExtraSizeFn>,
    skip_corrupted: bool,
    blocks: RwLock<Arc<[Arc<Block>]>>,
    failed: RwLock<Arc<[FailedBlock]>>,
    /// Serializes everything that changes blocks on disk.
    cmtx: Mutex<()>,
}

impl std::fmt::Debug for BlockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockStore")
            .field("dir", &self.dir)
            .field("compactor", &self.compactor)
            .field("retention", &self.retention)
            .field("blocks", &self.blocks.read().len())
            .field("failed", &self.failed.read().len())
            .finish()
    }
}

impl BlockStore {
    /// Opens the blocks of `dir` (created if missing): removes leftovers of
    /// interrupted operations, then [reloads](Self::reload).
    pub fn open(dir: impl AsRef<Path>, opts: BlockStoreOptions) -> Result<Self, TsdbError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).at(&dir)?;
        let store = BlockStore {
            compactor: Compactor::new(opts.compactor)?,
            retention: opts.retention,
            extra_size: opts.extra_size,
            skip_corrupted: opts.skip_corrupted,
            blocks: RwLock::new(Arc::from(Vec::new())),
            failed: RwLock::new(Arc::from(Vec::new())),
            cmtx: Mutex::new(()),
            dir,
        };
        remove_tmp_dirs(&store.dir)?;
        for (_, path) in block_dirs(&store.dir)? {
            remove_stray_tmp_files(&path);
        }
        store.reload()?;
        Ok(store)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The compactor.
    pub fn compactor(&self) -> &Compactor {
        &self.compactor
    }

    /// The retention policy.
    pub fn retention(&self) -> &RetentionPolicy {
        &self.retention
    }

    /// The open blocks, for reading.
    pub fn snapshot(&self) -> BlockSnapshot {
        BlockSnapshot {
            blocks: self.blocks.read().clone(),
        }
    }

    /// The blocks left out because they failed to open (always empty
    /// without [`BlockStoreOptions::skip_corrupted`]).
    pub fn failed(&self) -> Arc<[FailedBlock]> {
        self.failed.read().clone()
    }

    /// Opens new blocks, and deletes replaced, deletable and expired ones
    /// (see the module docs). Returns the deleted blocks.
    pub fn reload(&self) -> Result<Vec<Ulid>, TsdbError> {
        let _g = self.cmtx.lock();
        self.reload_locked(&BTreeSet::new(), &BTreeSet::new())
    }

    /// Loads block `ulid`, just written into the data directory by someone
    /// else (the head's compaction): reloads, which also deletes what the
    /// new block replaces and applies retention. If the block cannot be
    /// loaded it is removed again and the error returned. Returns the
    /// deleted blocks.
    pub fn add_block(&self, ulid: Ulid) -> Result<Vec<Ulid>, TsdbError> {
        let _g = self.cmtx.lock();
        self.install(ulid, &self.dir.join(ulid.to_string()))
    }

    fn reload_locked(
        &self,
        also_delete: &BTreeSet<Ulid>,
        refresh: &BTreeSet<Ulid>,
    ) -> Result<Vec<Ulid>, TsdbError> {
        let plan = self.plan_reload(also_delete, refresh)?;
        self.apply_reload(plan)
    }

    /// Opens the blocks on disk and decides what to keep; changes nothing.
    fn plan_reload(
        &self,
        also_delete: &BTreeSet<Ulid>,
        refresh: &BTreeSet<Ulid>,
    ) -> Result<ReloadPlan, TsdbError> {
        let current = self.snapshot();
        let mut loadable: Vec<Arc<Block>> = Vec::new();
        let mut corrupted: BTreeMap<Ulid, (PathBuf, BlockMeta, TsdbError)> = BTreeMap::new();
        let mut failed = Vec::new();
        for (ulid, path) in block_dirs(&self.dir)? {
            if !refresh.contains(&ulid) {
                if let Some(b) = current.block(ulid) {
                    loadable.push(b.clone());
                    continue;
                }
            }
            let meta = match BlockMeta::read(&path) {
                Ok((meta, _)) => meta,
                Err(error) if self.skip_corrupted => {
                    failed.push(FailedBlock {
                        dir: path,
                        ulid,
                        error,
                    });
                    continue;
                }
                Err(error) => {
                    tracing::error!(dir = %path.display(), %error, "failed to read meta.json for a block during reload; skipping");
                    continue;
                }
            };
            match Block::open(&path) {
                Ok(b) => loadable.push(Arc::new(b)),
                Err(e) => {
                    corrupted.insert(ulid, (path, meta, e));
                }
            }
        }

        let mut delete = also_delete.clone();
        for b in &loadable {
            if b.meta().compaction.deletable {
                delete.insert(b.ulid());
            }
            for p in &b.meta().compaction.parents {
                if corrupted.remove(&p.ulid).is_some() {
                    tracing::warn!(block = %p.ulid, "found corrupted block, but replaced by a compacted one so it is safe to delete");
                }
                delete.insert(p.ulid);
            }
        }
        if !self.skip_corrupted {
            if let Some((ulid, (_, _, error))) = corrupted.pop_first() {
                for (other, (_, _, e)) in &corrupted {
                    tracing::error!(block = %other, error = %e, "corrupted block");
                }
                return Err(error.context(format!("corrupted block {ulid}")));
            }
        }

        let mut candidates: Vec<RetentionCandidate> = loadable
            .iter()
            .filter(|b| !delete.contains(&b.ulid()))
            .map(|b| RetentionCandidate::new(b.meta(), b.size().total()))
            .collect();
        let extra = self.extra_size.as_ref().map_or(0, |f| f());
        let expired = blocks_beyond_retention(&self.retention, &candidates, extra);
        if !expired.is_empty() {
            tracing::info!(blocks = ?expired, "deleting blocks beyond retention");
        }
        delete.extend(expired);
        if !corrupted.is_empty() {
            // Failed blocks age out with the others but never expire a
            // healthy block (see the module docs).
            candidates.extend(
                corrupted
                    .iter()
                    .map(|(_, (path, meta, _))| RetentionCandidate::new(meta, dir_size(path))),
            );
            let expired = blocks_beyond_retention(&self.retention, &candidates, extra);
            for (ulid, (path, meta, error)) in corrupted {
                if meta.compaction.deletable || expired.contains(&ulid) {
                    tracing::info!(block = %ulid, "deleting block that cannot be opened: beyond retention or deletable");
                    delete.insert(ulid);
                } else {
                    failed.push(FailedBlock {
                        dir: path,
                        ulid,
                        error,
                    });
                }
            }
        }

        let mut keep: Vec<Arc<Block>> = loadable
            .into_iter()
            .filter(|b| !delete.contains(&b.ulid()))
            .collect();
        keep.sort_by_key(|a| (a.meta().min_time, a.ulid()));
        warn_overlaps(&keep);
        failed.sort_by_key(|f| f.ulid);
        Ok(ReloadPlan {
            keep,
            delete,
            failed,
        })
    }

    /// Switches to the planned blocks, then deletes the others.
    fn apply_reload(&self, plan: ReloadPlan) -> Result<Vec<Ulid>, TsdbError> {
        let was_failed = self.failed();
        for f in &plan.failed {
            if !was_failed.iter().any(|w| w.ulid == f.ulid) {
                tracing::error!(block = %f.ulid, error = %f.error, "block cannot be opened; left out: its data is not queryable");
            }
        }
        *self.failed.write() = Arc::from(plan.failed);
        *self.blocks.write() = Arc::from(plan.keep);
        let mut deleted = Vec::new();
        for ulid in plan.delete {
            if delete_block_dir_with(&self.dir, ulid, &self.compactor.crash)
                .map_err(|e| e.context(format!("delete block {ulid}")))?
            {
                deleted.push(ulid);
                self.compactor.crash.point(Step::OneDeleted)?;
            }
        }
        Ok(deleted)
    }

    /// Compacts until the planner finds nothing more to do; returns the
    /// blocks written. Source blocks are deleted after each compaction.
    pub fn compact(&self) -> Result<Vec<Ulid>, TsdbError> {
        let _g = self.cmtx.lock();
        let mut written = Vec::new();
        loop {
            let snap = self.snapshot();
            let metas: Vec<&BlockMeta> = snap.blocks().iter().map(|b| b.meta()).collect();
            let plan = self.compactor.plan(&metas);
            if plan.is_empty() {
                break;
            }
            let sources: Vec<&Block> = plan
                .iter()
                .filter_map(|u| snap.block(*u))
                .map(|b| &**b)
                .collect();
            match self.compactor.compact(&self.dir, &sources) {
                Ok(CompactOutcome::Written { meta, dir }) => {
                    self.install(meta.ulid, &dir)?;
                    written.push(meta.ulid);
                }
                Ok(CompactOutcome::Empty { sources }) => {
                    self.reload_locked(&sources.into_iter().collect(), &BTreeSet::new())?;
                }
                Err(e) => {
                    if !is_simulated(&e) {
                        // Pick up the `failed` marks.
                        let refresh = plan.iter().copied().collect();
                        if let Err(error) = self.reload_locked(&BTreeSet::new(), &refresh) {
                            tracing::error!(%error, "reload after failed compaction");
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(written)
    }

    /// Reloads after writing block `ulid` in `dir`, which deletes the
    /// blocks it replaces. If the new block cannot be loaded, it is removed
    /// again (its parents are intact) and the error returned.
    fn install(&self, ulid: Ulid, dir: &Path) -> Result<Vec<Ulid>, TsdbError> {
        let res = self.plan_reload(&BTreeSet::new(), &BTreeSet::new());
        let res = res.and_then(
            |mut plan| match plan.failed.iter().position(|f| f.ulid == ulid) {
                Some(i) => Err(plan.failed.swap_remove(i).error),
                None => Ok(plan),
            },
        );
        let plan = match res {
            Ok(p) => p,
            Err(e) => {
                if !is_simulated(&e) {
                    if let Err(error) = fs::remove_dir_all(dir) {
                        tracing::error!(block = %ulid, %error, "failed to delete new block after failed reload");
                    }
                }
                return Err(e.context(format!("reload blocks after writing {ulid}")));
            }
        };
        self.apply_reload(plan)
    }

    /// Deletes the samples in `[mint, maxt]` of the series `matchers`
    /// select, in every block, through tombstones (see the module docs).
    /// An empty matcher list selects nothing, as in Prometheus. Atomic per
    /// block: on error, blocks already done keep their new tombstones.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), TsdbError> {
        if matchers.is_empty() || mint > maxt {
            return Ok(());
        }
        let _g = self.cmtx.lock();
        let snap = self.snapshot();
        let mut replaced: Vec<Arc<Block>> = Vec::new();
        let mut result = Ok(());
        for b in snap.blocks() {
            if !b.meta().overlaps(mint, maxt) {
                continue;
            }
            match delete_in_block(b, mint, maxt, matchers, &self.compactor.crash) {
                Ok(Some(new)) => replaced.push(Arc::new(new)),
                Ok(None) => {}
                Err(e) => {
                    result = Err(e.context(format!("delete from block {}", b.ulid())));
                    break;
                }
            }
        }
        if !replaced.is_empty() {
            let mut guard = self.blocks.write();
            let list: Vec<Arc<Block>> = guard
                .iter()
                .map(|b| {
                    replaced
                        .iter()
                        .find(|n| n.ulid() == b.ulid())
                        .unwrap_or(b)
                        .clone()
                })
                .collect();
            *guard = Arc::from(list);
        }
        result
    }

    /// Rewrites every block that has tombstones without its deleted
    /// samples, deleting the old block (or just deleting it, when nothing
    /// survives). Returns the blocks written.
    pub fn clean_tombstones(&self) -> Result<Vec<Ulid>, TsdbError> {
        let _g = self.cmtx.lock();
        let mut written = Vec::new();
        'again: loop {
            let snap = self.snapshot();
            for b in snap.blocks() {
                if b.tombstones().total() == 0 {
                    continue;
                }
                match self.compactor.rewrite(&self.dir, b)? {
                    Some((meta, dir)) => {
                        self.install(meta.ulid, &dir)?;
                        written.push(meta.ulid);
                    }
                    None => {
                        self.reload_locked(&BTreeSet::from([b.ulid()]), &BTreeSet::new())?;
                    }
                }
                continue 'again;
            }
            break;
        }
        Ok(written)
    }

    #[cfg(test)]
    pub(crate) fn crash_at(&mut self, step: Option<Step>) {
        self.compactor.crash.at = step;
    }
}

/// Writes the tombstones of a deletion into `block`; returns the block
/// reopened with them, or `None` if nothing changed.
fn delete_in_block(
    block: &Block,
    mint: i64,
    maxt: i64,
    matchers: &[Matcher],
    crash: &Crash,
) -> Result<Option<Block>, TsdbError> {
    let ids = block.postings(matchers)?;
    let mut stones = block.tombstones().clone();
    for id in &ids {
        let (_, chunks) = block.series(id)?;
        let (Some(first), Some(last)) = (chunks.first(), chunks.last()) else {
            continue;
        };
        if chunks
            .iter()
            .any(|c| c.min_time <= maxt && mint <= c.max_time)
        {
            let iv = Interval::new(mint.max(first.min_time), maxt.min(last.max_time));
            stones.add(u64::from(id), iv);
        }
    }
    if stones == *block.tombstones() {
        return Ok(None);
    }
    let dir = block.dir();
    stones.write(dir)?;
    sync_dir(dir)?;
    crash.point(Step::TombstonesWritten)?;
    let total = stones.total();
    update_meta(dir, |m| m.stats.num_tombstones = total)?;
    tracing::debug!(block = %block.ulid(), tombstones = total, "wrote tombstones");
    Ok(Some(Block::open(dir)?))
}

/// Bytes of the files under `dir`; what cannot be read counts as 0.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Logs overlapping blocks (sorted by `minTime`).
fn warn_overlaps(blocks: &[Arc<Block>]) {
    let mut max_end = i64::MIN;
    let mut overlapping = Vec::new();
    for b in blocks {
        if b.meta().min_time < max_end {
            overlapping.push(b.ulid());
        }
        max_end = max_end.max(b.meta().max_time);
    }
    if !overlapping.is_empty() {
        tracing::warn!(blocks = ?overlapping, "overlapping blocks found during reload; they will be compacted");
    }
}

#[cfg(test)]
mod tests;
