//! The live TSDB: a data directory's blocks and head behind one handle.
//!
//! [`Db::open`] is all an embedder needs:
//!
//! 1. takes the directory lock ([`DirLock`], `<dir>/lock`; a second
//!    opener, in this process or another, fails at once);
//! 2. opens the blocks through a [`BlockStore`] (removing what interrupted
//!    block writes and deletions left behind), with
//!    [`skip_corrupted`](crate::BlockStoreOptions::skip_corrupted): a block
//!    that fails to open is logged (by ULID), left out of queries and
//!    compaction, listed in [`Db::failed_blocks`], and the database runs
//!    anyway (where Prometheus would refuse to start);
//! 3. opens the [`Head`] with its `min_valid_time` set to the newest
//!    in-order block's `maxTime` (samples the blocks already cover are not
//!    replayed or accepted again, except out of order), mapping
//!    `chunks_head/` and replaying the WAL (`wal/`) and the WBL of
//!    out-of-order samples (`wbl/`), repairing a torn or corrupt tail as
//!    Prometheus does.
//!
//! # Reading, writing and compacting at the same time
//!
//! Every method takes `&self`; a `Db` is shared between threads as it is
//! (or in an [`Arc`], for [`Db::spawn_compaction`]).
//!
//! * [`Db`] implements [`Appendable`]: appenders are the head's, wrapped
//!   to wake the compaction task when a commit leaves the head
//!   compactable.
//! * [`Db`] implements [`Queryable`]: a [`MergeQuerier`] over the head and
//!   the blocks overlapping the range; on equal timestamps the blocks win,
//!   as their data is older and settled. The querier registers with the
//!   head *first* and then takes a [`BlockSnapshot`]:
//!   its blocks stay readable until the querier is dropped, even if
//!   compaction or retention deletes them meanwhile. As compaction makes
//!   a head block visible before it truncates the head, and the truncation
//!   waits for the head's open queriers, data moving from the head to a
//!   block is always seen, in one or both (the merge takes it once).
//! * [`Db::compact`] is Prometheus' `DB.Compact`: while the head spans
//!   more than 1.5 chunk ranges, it raises the head's minimum valid time
//!   to the end of the oldest range, waits for the append transactions
//!   that fixed an older lower bound (Prometheus'
//!   `WaitForAppendersOverlapping`; none can then commit into the range),
//!   writes the range as a block (see below), loads it, waits for the head's queriers of that range,
//!   and truncates the head (and checkpoints the WAL); if it wrote a head
//!   block, it writes the head's out-of-order samples into blocks of their
//!   own ([`Head::compact_ooo`], marked `from-out-of-order`; they may
//!   overlap other blocks, which the compactor then merges); then it runs
//!   the leveled compactor over the healthy blocks (a block that failed to
//!   open is never an input) and retention, through the [`BlockStore`],
//!   whose [docs](crate::dir) say what happens to failed blocks there
//!   (they age out by retention but never cause a healthy block's
//!   deletion). One compaction runs at a time; appends and queries go on.
//! * A head block covers the range cut from the head, as Prometheus'
//!   `RangeHead` gives it to the compactor: `minTime` is the head's
//!   `minTime` (the first sample's time for a new head, the previous
//!   block's end after that) and `maxTime` the end of that chunk range,
//!   aligned to the range width, whatever the samples inside.
//! * [`Db::spawn_compaction`] runs [`Db::compact`] in a background thread,
//!   as Prometheus' `DB.run`: at every interval (Prometheus: one minute),
//!   and at once when a commit leaves the head compactable; after a
//!   failure (logged, and counted in
//!   `prometheus_tsdb_compactions_failed_total`) it waits 1 s, doubling
//!   up to 1 min, before trying again. The returned [`CompactionTask`]
//!   stops and joins the thread when stopped or dropped.
//! * [`Db::delete`] deletes series data through tombstones, in the blocks
//!   and in the head (logged to the WAL); [`Db::clean_tombstones`]
//!   rewrites the blocks without it.
//!
//! [`Db::close`] flushes the head and releases the lock.
//!
//! # Durability contract
//!
//! * **Process crash (SIGKILL, panic, OOM kill).** A commit
//!   ([`Appender::commit`]) writes the
//!   transaction to the WAL with `write(2)` *before* it returns and before
//!   any sample becomes visible. A commit that returned therefore survives
//!   the death of the process: the next [`Db::open`] replays it. A commit
//!   that had not returned is either fully present or absent after replay
//!   (a torn last record is cut off by the WAL repair), except that with
//!   out-of-order ingestion its out-of-order samples, which go to the WBL
//!   after the WAL as in Prometheus, may be missing while its in-order
//!   ones are there. No manual repair is ever needed to reopen (crash
//!   tests: `tests/crash.rs`, with and without compaction and
//!   out-of-order samples).
//! * **Power loss / kernel crash.** Only data that reached stable storage
//!   survives, i.e. up to the last fsync of the WAL (and of the WBL for
//!   out-of-order samples, which it syncs the same way). The WAL fsyncs a
//!   segment when it is cut (every 128 MiB by default; in a background
//!   thread, so commits do not wait for it), on close ([`Db::close`]),
//!   when a checkpoint is written (during [`Db::compact`]'s head
//!   truncation), after a repair, and when [`Db::sync`] is called. There
//!   is no timer: an embedder that wants a bounded loss window calls
//!   [`Db::sync`] periodically (or after commits that must survive power
//!   loss). Blocks are written to a temporary directory, fsynced and
//!   renamed, so a block is either complete or absent.
//! * **Full disk.** A commit that cannot be written to the WAL fails with
//!   an error and is not applied; what was acknowledged before stays, and
//!   appends work again once there is space. A compaction that runs out of
//!   space fails, removing its partial block, and leaves the head as it
//!   was; a temporary directory left by a crash meanwhile is removed at
//!   the next open.
//!
//! # Self-metrics
//!
//! [`Db::register_metrics`] registers a collector in a caller's
//! [`prometheus_client`] registry that reports, at each scrape, the head's
//! counters and gauges, the WAL's and the DB's (compactions, blocks
//! loaded, reloads), under Prometheus' names
//! (`prometheus_tsdb_head_series`,
//! `prometheus_tsdb_head_samples_appended_total`,
//! `prometheus_tsdb_compactions_total`,
//! `prometheus_tsdb_wal_corruptions_total`, ...). The collector holds the
//! head weakly: after the `Db` is dropped it reports only the DB counters.
//!
//! There is no global state; logs go through `tracing`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ember_model::{Exemplar, Labels, Matcher, Metadata, Sample, Timestamp};
use ember_storage::{
    Appendable, Appender, MergeQuerier, Querier, Queryable, SeriesRef, StorageError,
};
use parking_lot::{Condvar, Mutex};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use ulid::Ulid;

use crate::block::FailedBlock;
use crate::compact::CompactorOptions;
use crate::dir::{BlockSnapshot, BlockStore, BlockStoreOptions};
use crate::error::TsdbError;
use crate::head::{Head, HeadAppender, HeadOptions, MetricKind};
use crate::lock::DirLock;
use crate::retention::RetentionPolicy;
use crate::writer::{BlockWriterOptions, WrittenBlock};

/// How long [`Db::compact`] waits for queriers reading the range it
/// truncates.
const PENDING_READERS_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`Db::compact`] waits for append transactions that may still
/// write into the range it is about to persist.
const PENDING_APPENDERS_TIMEOUT: Duration = Duration::from_secs(60);

/// First wait after a failed background compaction; it doubles with each
/// failure in a row up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait after failed background compactions.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Settings of a [`Db`].
#[derive(Debug, Clone, Default)]
pub struct DbOptions {
    /// The head's settings. `min_valid_time` is raised to the newest
    /// block's `maxTime` on open.
    pub head: HeadOptions,
    /// Compaction ranges for [`Db::compact`].
    pub compactor: CompactorOptions,
    /// What [`Db::compact`] keeps.
    pub retention: RetentionPolicy,
}

/// What one [`Db::compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Blocks written from the head.
    pub head_blocks: Vec<Ulid>,
    /// Blocks written from the head's out-of-order samples.
    pub ooo_blocks: Vec<Ulid>,
    /// Blocks written by the leveled compactor.
    pub compacted_blocks: Vec<Ulid>,
    /// Blocks that cannot be opened, after the compaction: left out of
    /// the compaction (never an input) and of queries.
    pub failed_blocks: Vec<Ulid>,
}

/// A live data directory: blocks plus head, locked. See the [module
/// documentation](self).
pub struct Db {
    dir: PathBuf,
    store: BlockStore,
    head: Arc<Head>,
    lock: Option<DirLock>,
    counters: Arc<DbCounters>,
    /// Serializes [`Db::compact`], [`Db::delete`] and
    /// [`Db::clean_tombstones`].
    cmtx: Mutex<()>,
    trigger: Arc<Trigger>,
    /// The last out-of-order head compaction failed: the next
    /// [`Db::compact`] tries again even without an in-order head block.
    ooo_compaction_failed: AtomicBool,
}

/// The DB's own counters, shared with the metrics collector.
#[derive(Debug, Default)]
struct DbCounters {
    compactions: AtomicU64,
    compactions_triggered: AtomicU64,
    compactions_failed: AtomicU64,
    compaction_micros: AtomicU64,
    head_blocks_written: AtomicU64,
    reloads: AtomicU64,
    blocks_loaded: AtomicU64,
    failed_blocks: AtomicU64,
    clean_start: AtomicU64,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.dir)
            .field("store", &self.store)
            .field("head", &self.head)
            .finish()
    }
}

/// Bytes the head keeps on disk (WAL, WBL and head chunk files), which
/// size retention counts as Prometheus does.
fn head_disk_size(head: &Head) -> u64 {
    let logs: u64 = [head.wal(), head.wbl()]
        .into_iter()
        .flatten()
        .map(|w| w.size_bytes().unwrap_or(0))
        .sum();
    logs + head.chunk_files().map_or(0, |f| f.size())
}

impl Db {
    /// Opens (creating if missing) the data directory `dir`: lock, blocks,
    /// head (see the module docs).
    pub fn open(dir: impl AsRef<Path>, opts: DbOptions) -> Result<Db, TsdbError> {
        let lock = DirLock::acquire(dir.as_ref())?;
        let dir = lock.dir().to_path_buf();
        // Size retention counts the head's files; the head opens after the
        // blocks (it needs their end), so it is reached through a slot.
        let head_slot: Arc<OnceLock<Weak<Head>>> = Arc::default();
        let slot = head_slot.clone();
        let store = BlockStore::open(
            &dir,
            BlockStoreOptions {
                compactor: opts.compactor,
                retention: opts.retention,
                extra_size: Some(Arc::new(move || {
                    slot.get()
                        .and_then(Weak::upgrade)
                        .map_or(0, |h| head_disk_size(&h))
                })),
                skip_corrupted: true,
            },
        )?;
        let mut head_opts = opts.head;
        let snapshot = store.snapshot();
        // Blocks of out-of-order samples may reach past the in-order data
        // and do not count, as in Prometheus.
        let in_order = snapshot.blocks().iter().map(|b| b.meta()).filter(|m| {
            !m.compaction
                .hints
                .iter()
                .any(|h| h == crate::compact::HINT_FROM_OUT_OF_ORDER)
        });
        if let Some(maxt) = in_order.map(|m| m.max_time).max() {
            head_opts.min_valid_time = head_opts.min_valid_time.max(maxt);
        }
        let head = Arc::new(Head::open(&dir, head_opts)?);
        // The slot was created empty just above.
        let _ = head_slot.set(Arc::downgrade(&head));
        let report = head.replay_report();
        if let Some(c) = &report.wal_corruption {
            tracing::warn!(corruption = %c, "WAL was damaged; repaired, data after the damage is lost");
        }
        tracing::info!(
            dir = %dir.display(),
            blocks = snapshot.blocks().len(),
            failed_blocks = store.failed().len(),
            series = head.num_series(),
            replayed_samples = report.samples,
            "TSDB opened"
        );
        let counters = Arc::new(DbCounters::default());
        counters
            .clean_start
            .store(u64::from(!lock.existed()), Ordering::Relaxed);
        let db = Db {
            dir,
            store,
            head,
            lock: Some(lock),
            counters,
            cmtx: Mutex::new(()),
            trigger: Arc::default(),
            ooo_compaction_failed: AtomicBool::new(false),
        };
        db.count_blocks();
        Ok(db)
    }

    /// The data directory (canonical path).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The head.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The blocks open now. The snapshot keeps them readable for as long
    /// as it lives, whatever compaction does meanwhile.
    pub fn blocks(&self) -> BlockSnapshot {
        self.store.snapshot()
    }

    /// Blocks that could not be opened and are left out.
    pub fn failed_blocks(&self) -> Arc<[FailedBlock]> {
        self.store.failed()
    }

    /// A new append transaction on the head. Unlike [`Db`]'s
    /// [`Appendable::appender`], its commits do not wake the compaction
    /// task (which finds the head compactable at its next interval).
    pub fn head_appender(&self) -> HeadAppender<'_> {
        self.head.appender()
    }

    /// A querier over `[mint, maxt]` (ms, inclusive): blocks overlapping
    /// the range, then the head (see the module docs for why it stays
    /// complete while compaction runs).
    pub fn merge_querier(&self, mint: Timestamp, maxt: Timestamp) -> MergeQuerier<'_> {
        // The head first: compaction truncates the head only after the
        // block it wrote is in the store and the head's queriers are done.
        let head = self.head.querier(mint, maxt);
        let mut queriers: Vec<Box<dyn Querier + '_>> = self
            .store
            .snapshot()
            .blocks()
            .iter()
            .filter(|b| b.meta().overlaps(mint, maxt))
            .map(|b| Box::new(b.shared_querier(mint, maxt)) as Box<dyn Querier + '_>)
            .collect();
        queriers.push(Box::new(head));
        MergeQuerier::new(queriers)
    }

    /// fsyncs the WAL and the WBL: every commit that returned before
    /// survives a power loss.
    pub fn sync(&self) -> Result<(), TsdbError> {
        for log in [self.head.wal(), self.head.wbl()].into_iter().flatten() {
            log.sync().map_err(TsdbError::from)?;
        }
        Ok(())
    }

    fn count_blocks(&self) {
        let c = &self.counters;
        c.blocks_loaded.store(
            self.store.snapshot().blocks().len() as u64,
            Ordering::Relaxed,
        );
        c.failed_blocks
            .store(self.store.failed().len() as u64, Ordering::Relaxed);
    }

    /// Registers the head's, the WAL's and the DB's metrics in `registry`
    /// under Prometheus' names (see the module docs).
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(DbCollector {
            head: Arc::downgrade(&self.head),
            counters: self.counters.clone(),
        }));
    }

    /// Persists the head's oldest chunk ranges into blocks while the head
    /// is compactable (spans more than 1.5 ranges), truncating the head
    /// (and checkpointing the WAL) after each; then runs the leveled
    /// compactor and retention over the blocks. Appends and queries go on
    /// meanwhile; a second call waits for the first.
    ///
    /// On error the head is left as it was (a block written but not
    /// loaded is removed again), and the next call tries again.
    pub fn compact(&self) -> Result<CompactReport, TsdbError> {
        let _g = self.cmtx.lock();
        let start = Instant::now();
        self.counters
            .compactions_triggered
            .fetch_add(1, Ordering::Relaxed);
        let res = self.compact_locked();
        if res.is_err() {
            self.counters
                .compactions_failed
                .fetch_add(1, Ordering::Relaxed);
        }
        self.counters
            .compaction_micros
            .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.count_blocks();
        res
    }

    fn compact_locked(&self) -> Result<CompactReport, TsdbError> {
        let mut report = CompactReport::default();
        let range = self.head.options().chunk_range;
        let wopts = BlockWriterOptions {
            chunk_range: range,
            ..BlockWriterOptions::default()
        };
        let mut head_compacted = false;
        while self.head.is_compactable() {
            head_compacted = true;
            let mint = self.head.min_time();
            let maxt = mint
                .div_euclid(range)
                .saturating_mul(range)
                .saturating_add(range);
            // No new in-order sample may land in the range once it is read;
            // appenders that fixed an older bound finish first (Prometheus'
            // WaitForAppendersOverlapping).
            self.head
                .set_min_valid_time(self.head.min_valid_time().max(maxt));
            if !self
                .head
                .wait_for_appenders_below(maxt, PENDING_APPENDERS_TIMEOUT)
            {
                tracing::warn!(
                    mint,
                    maxt,
                    "append transactions that may write into the head's oldest range are still open; compacting the head later"
                );
                break;
            }
            let written = self
                .head
                .write_block(&self.dir, mint, maxt, wopts)
                .map_err(|e| e.context(format!("write head block [{mint}, {maxt})")))?;
            if let Some(w) = written {
                self.store.add_block(w.meta.ulid)?;
                tracing::info!(block = %w.meta.ulid, mint, maxt, "wrote head block");
                report.head_blocks.push(w.meta.ulid);
                self.counters.compactions.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .head_blocks_written
                    .fetch_add(1, Ordering::Relaxed);
            }
            if !self
                .head
                .wait_for_pending_readers(mint, maxt - 1, PENDING_READERS_TIMEOUT)
            {
                tracing::warn!(mint, maxt, "head readers still open; truncating anyway");
            }
            self.head.truncate(maxt)?;
        }
        // As Prometheus: out-of-order data follows the in-order head (and
        // is tried again after a failure). A failure does not stop the
        // leveled compaction and retention below; it is returned after.
        let mut ooo_err = None;
        if head_compacted || self.ooo_compaction_failed.load(Ordering::Acquire) {
            let mut publish = |blocks: &[WrittenBlock]| -> Result<(), TsdbError> {
                for b in blocks {
                    self.store.add_block(b.meta.ulid)?;
                }
                for b in blocks {
                    let (lo, hi) = (b.meta.min_time, b.meta.max_time.saturating_sub(1));
                    if !self
                        .head
                        .wait_for_pending_readers(lo, hi, PENDING_READERS_TIMEOUT)
                    {
                        tracing::warn!(
                            mint = lo,
                            maxt = hi,
                            "head readers still open; truncating the out-of-order head anyway"
                        );
                    }
                }
                Ok(())
            };
            match self.head.compact_ooo(&self.dir, wopts, &mut publish) {
                Ok(written) => {
                    self.ooo_compaction_failed.store(false, Ordering::Release);
                    report.ooo_blocks = written.iter().map(|b| b.meta.ulid).collect();
                }
                Err(e) => {
                    self.ooo_compaction_failed.store(true, Ordering::Release);
                    tracing::error!(error = %e, "out-of-order head compaction failed; retrying at the next compaction");
                    ooo_err = Some(e);
                }
            }
        }
        report.compacted_blocks = self.store.compact()?;
        self.counters
            .compactions
            .fetch_add(report.compacted_blocks.len() as u64, Ordering::Relaxed);
        self.store.reload()?;
        self.counters.reloads.fetch_add(1, Ordering::Relaxed);
        report.failed_blocks = self.store.failed().iter().map(|f| f.ulid).collect();
        match ooo_err {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Runs [`compact`](Self::compact) in a background thread until the
    /// returned task is stopped or dropped, or the `Db` is dropped (the
    /// thread holds it weakly): every `interval` (Prometheus: one minute),
    /// and at once when a commit through [`Appendable::appender`] leaves
    /// the head compactable. Errors are logged; after a failure the thread
    /// waits 1 s, doubling up to 1 min, before the next attempt.
    ///
    /// Fails if a task of this `Db` is running already.
    pub fn spawn_compaction(
        self: &Arc<Self>,
        interval: Duration,
    ) -> Result<CompactionTask, TsdbError> {
        {
            let mut st = self.trigger.state.lock();
            if st.running {
                return Err(TsdbError::InvalidInput(
                    "a compaction task is running already".into(),
                ));
            }
            *st = TriggerState {
                running: true,
                ..TriggerState::default()
            };
        }
        let db = Arc::downgrade(self);
        let trigger = self.trigger.clone();
        let spawned = std::thread::Builder::new()
            .name("ember-compaction".into())
            .spawn(move || compaction_loop(&db, &trigger, interval));
        match spawned {
            Ok(thread) => Ok(CompactionTask {
                trigger: self.trigger.clone(),
                thread: Some(thread),
            }),
            Err(e) => {
                self.trigger.state.lock().running = false;
                Err(TsdbError::io(&self.dir, e).context("spawn the compaction thread"))
            }
        }
    }

    /// Deletes the samples in `[mint, maxt]` (ms, inclusive) of the series
    /// `matchers` select, as Prometheus' `DB.Delete`: in the blocks through
    /// tombstones (see [`BlockStore::delete`]; blocks that failed to open
    /// are left alone), then in the head ([`Head::delete`], logged to the
    /// WAL) if the range overlaps it.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), TsdbError> {
        let _g = self.cmtx.lock();
        self.store.delete(mint, maxt, matchers)?;
        if let Some((lo, hi)) = self.head.data_range() {
            if mint <= hi && maxt >= lo {
                self.head.delete(mint, maxt, matchers)?;
            }
        }
        Ok(())
    }

    /// Rewrites every block that has tombstones without its deleted
    /// samples (see [`BlockStore::clean_tombstones`]); returns the blocks
    /// written.
    pub fn clean_tombstones(&self) -> Result<Vec<Ulid>, TsdbError> {
        let _g = self.cmtx.lock();
        let res = self.store.clean_tombstones();
        self.count_blocks();
        res
    }

    /// Flushes the head (chunk files, WAL, fsynced) and releases the
    /// directory lock. Stop the compaction task first: a `Db` shared
    /// through an [`Arc`] is closed once it is the last reference
    /// (`Arc::try_unwrap`).
    pub fn close(mut self) -> Result<(), TsdbError> {
        let res = self.head.close();
        let lock = self.lock.take().map(DirLock::release);
        res?;
        lock.unwrap_or(Ok(()))
    }
}

/// Wakes the compaction task; shared by a [`Db`], its appenders and its
/// [`CompactionTask`].
#[derive(Debug, Default)]
struct Trigger {
    state: Mutex<TriggerState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct TriggerState {
    /// A task thread is running.
    running: bool,
    /// A compaction was asked for.
    pending: bool,
    /// The task must end.
    stop: bool,
}

impl Trigger {
    /// Asks the running task, if any, to compact now.
    fn wake(&self) {
        let mut st = self.state.lock();
        if st.running && !st.pending {
            st.pending = true;
            self.cv.notify_all();
        }
    }

    /// Waits `timeout` or, if `on_pending`, until a compaction is asked
    /// for. Returns `false` if the task must stop.
    fn wait(&self, timeout: Duration, on_pending: bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        loop {
            if st.stop {
                return false;
            }
            if (on_pending && st.pending) || Instant::now() >= deadline {
                st.pending &= !on_pending;
                return true;
            }
            self.cv.wait_until(&mut st, deadline);
        }
    }
}

/// The background compaction thread's body (see [`Db::spawn_compaction`]).
fn compaction_loop(db: &Weak<Db>, trigger: &Trigger, interval: Duration) {
    let mut backoff = Duration::ZERO;
    while trigger.wait(backoff, false) && trigger.wait(interval, true) {
        let Some(db) = db.upgrade() else { break };
        match db.compact() {
            Ok(report) => {
                backoff = Duration::ZERO;
                tracing::debug!(?report, "background compaction done");
            }
            Err(error) => {
                backoff = (backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                tracing::error!(%error, ?backoff, "background compaction failed");
            }
        }
    }
    let mut st = trigger.state.lock();
    *st = TriggerState::default();
}

/// The background compaction of a [`Db`], from [`Db::spawn_compaction`].
/// Stopping it, or dropping it, waits for a compaction in progress to end
/// and joins the thread.
#[derive(Debug)]
pub struct CompactionTask {
    trigger: Arc<Trigger>,
    thread: Option<JoinHandle<()>>,
}

impl CompactionTask {
    /// Stops the task and joins its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        {
            let mut st = self.trigger.state.lock();
            st.stop = true;
            self.trigger.cv.notify_all();
        }
        if thread.join().is_err() {
            tracing::error!("the compaction thread panicked");
        }
    }
}

impl Drop for CompactionTask {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An append transaction of a [`Db`]: the head's, waking the compaction
/// task after a commit that leaves the head compactable (as Prometheus'
/// `dbAppender.Commit`).
struct DbAppender<'a> {
    app: HeadAppender<'a>,
    db: &'a Db,
}

impl Appender for DbAppender<'_> {
    fn append(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        sample: Sample,
    ) -> Result<SeriesRef, StorageError> {
        self.app.append(hint, labels, sample)
    }

    fn append_exemplar(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        exemplar: &Exemplar,
    ) -> Result<SeriesRef, StorageError> {
        self.app.append_exemplar(hint, labels, exemplar)
    }

    fn update_metadata(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        metadata: &Metadata,
    ) -> Result<SeriesRef, StorageError> {
        self.app.update_metadata(hint, labels, metadata)
    }

    fn commit(&mut self) -> Result<(), StorageError> {
        self.app.commit()?;
        if self.db.head.is_compactable() {
            self.db.trigger.wake();
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), StorageError> {
        self.app.rollback()
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(DbAppender {
            app: self.head.appender(),
            db: self,
        })
    }
}

impl Queryable for Db {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(self.merge_querier(mint, maxt)))
    }
}

/// Reports the DB's metrics at each scrape.
#[derive(Debug)]
struct DbCollector {
    head: Weak<Head>,
    counters: Arc<DbCounters>,
}

/// Writes one metric; a counter's name must end in `_total` (the encoder
/// adds it back), anything else is written as a gauge.
fn encode_one(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    counter: bool,
    value: f64,
) -> Result<(), std::fmt::Error> {
    // Whole numbers print as integers (`5`, not `5.0`), as Prometheus does.
    let whole = value.fract() == 0.0 && value.abs() < 9.0e15;
    match name.strip_suffix("_total").filter(|_| counter) {
        Some(base) => {
            let mut m = enc.encode_descriptor(base, help, None, MetricType::Counter)?;
            if whole && value >= 0.0 {
                m.encode_counter::<NoLabelSet, u64, u64>(&(value as u64), None)
            } else {
                m.encode_counter::<NoLabelSet, f64, f64>(&value, None)
            }
        }
        None => {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
            if whole {
                m.encode_gauge(&(value as i64))
            } else {
                m.encode_gauge(&value)
            }
        }
    }
}

impl Collector for DbCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        let mut seen: HashSet<&'static str> = HashSet::new();
        let mut emit = |enc: &mut DescriptorEncoder,
                        name: &'static str,
                        help: &str,
                        counter: bool,
                        value: f64| {
            if seen.insert(name) {
                encode_one(enc, name, help, counter, value)
            } else {
                Ok(())
            }
        };
        emit(
            &mut enc,
            "prometheus_tsdb_compactions_total",
            "Total number of compactions that were executed for the partition.",
            true,
            get(&c.compactions),
        )?;
        emit(
            &mut enc,
            "prometheus_tsdb_compactions_triggered_total",
            "Total number of triggered compactions for the partition.",
            true,
            get(&c.compactions_triggered),
        )?;
        emit(
            &mut enc,
            "prometheus_tsdb_compactions_failed_total",
            "Total number of compactions that failed for the partition.",
            true,
            get(&c.compactions_failed),
        )?;
        emit(
            &mut enc,
            "prometheus_tsdb_compaction_duration_seconds_sum",
            "Duration of compaction runs (sum).",
            false,
            get(&c.compaction_micros) / 1e6,
        )?;
        emit(
            &mut enc,
            "prometheus_tsdb_head_blocks_written_total",
            "Blocks written from the head.",
            true,
            get(&c.head_blocks_written),
        )?;
        emit(
            &mut enc,
            "prometheus_tsdb_reloads_total",
            "Number of times the database reloaded block data from disk.",
            true,
            get(&c.reloads),
        )?;
        emit(
            &mut enc,
            "prometheus_tsdb_blocks_loaded",
            "Number of currently loaded data blocks",
            false,
            get(&c.blocks_loaded),
        )?;
        emit(
            &mut enc,
            "prometheus_tsdb_blocks_failed",
            "Number of blocks left out because they could not be opened.",
            false,
            get(&c.failed_blocks),
        )?;
        emit(&mut enc, "prometheus_tsdb_clean_start", "-1: lockfile is disabled. 0: a lockfile from a previous execution was replaced. 1: lockfile creation was clean", false, get(&c.clean_start))?;
        let Some(head) = self.head.upgrade() else {
            return Ok(());
        };
        for m in head.metrics() {
            emit(
                &mut enc,
                m.name,
                m.help,
                m.kind == MetricKind::Counter,
                m.value,
            )?;
        }
        if let Some(wal) = head.wal() {
            let w = wal.metrics();
            let n = |v: u64| v as f64;
            emit(
                &mut enc,
                "prometheus_tsdb_wal_corruptions_total",
                "Total number of WAL corruptions.",
                true,
                n(w.corruptions_total),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_wal_page_flushes_total",
                "Total number of page flushes.",
                true,
                n(w.page_flushes_total),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_wal_completed_pages_total",
                "Total number of completed pages.",
                true,
                n(w.completed_pages_total),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_wal_writes_failed_total",
                "Total number of write log writes that failed.",
                true,
                n(w.writes_failed_total),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_wal_truncations_total",
                "Total number of write log truncations attempted.",
                true,
                n(w.truncations_total),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_wal_truncations_failed_total",
                "Total number of write log truncations that failed.",
                true,
                n(w.truncations_failed_total),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_wal_fsync_duration_seconds_count",
                "Number of write log fsyncs.",
                false,
                n(w.fsyncs_total),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_wal_fsync_duration_seconds_sum",
                "Duration of write log fsync (sum).",
                false,
                w.fsync_seconds_total,
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_wal_segment_current",
                "Write log segment index that TSDB is currently writing to.",
                false,
                f64::from(w.current_segment),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_checkpoint_creations_total",
                "Total number of checkpoint creations attempted.",
                true,
                n(w.checkpoint_creations_total),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_checkpoint_creations_failed_total",
                "Total number of checkpoint creations that failed.",
                true,
                n(w.checkpoint_creations_failed_total),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_checkpoint_deletions_total",
                "Total number of checkpoint deletions attempted.",
                true,
                n(w.checkpoint_deletions_total),
            )?;
            emit(
                &mut enc,
                "prometheus_tsdb_checkpoint_deletions_failed_total",
                "Total number of checkpoint deletions that failed.",
                true,
                n(w.checkpoint_deletions_failed_total),
            )?;
            if let Ok(size) = wal.size_bytes() {
                emit(
                    &mut enc,
                    "prometheus_tsdb_wal_storage_size_bytes",
                    "Size of the write log directory.",
                    false,
                    n(size),
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_model::{labels, Matcher, Sample};
    use ember_storage::{SeriesRef, ValueType};

    fn count(db: &Db) -> usize {
        let q = db.merge_querier(i64::MIN, i64::MAX);
        let mut set = q
            .select(true, None, &[Matcher::equal("__name__", "m")])
            .unwrap();
        let mut n = 0;
        while let Some(s) = set.next() {
            let s = s.unwrap();
            let mut it = s.iter();
            while it.next() == ValueType::Float {
                n += 1;
            }
        }
        n
    }

    #[test]
    fn open_append_reopen_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        assert!(Db::open(dir.path(), DbOptions::default()).is_err());
        let mut app = db.appender();
        for t in 0..100 {
            app.append(
                SeriesRef(0),
                &labels!("__name__" => "m", "i" => "1"),
                Sample::float(t * 1000, t as f64),
            )
            .unwrap();
        }
        app.commit().unwrap();
        drop(app);
        assert_eq!(count(&db), 100);
        db.close().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        assert_eq!(count(&db), 100);

        let mut reg = Registry::default();
        db.register_metrics(&mut reg);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
        for want in [
            "prometheus_tsdb_head_series 1\n",
            "# TYPE prometheus_tsdb_compactions counter\n",
            "prometheus_tsdb_compactions_total 0\n",
            "prometheus_tsdb_wal_corruptions_total 0\n",
            "prometheus_tsdb_blocks_loaded 0\n",
            "prometheus_tsdb_clean_start 1\n",
        ] {
            assert!(text.contains(want), "{want:?} missing in:\n{text}");
        }
        drop(db);
        text.clear();
        prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
        assert!(!text.contains("prometheus_tsdb_head_series"));
    }

    #[test]
    fn compact_moves_head_into_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        let step = 60_000;
        let n = 4 * 3_600_000 / step;
        let mut app = db.appender();
        for i in 0..n {
            app.append(
                SeriesRef(0),
                &labels!("__name__" => "m"),
                Sample::float(i * step, i as f64),
            )
            .unwrap();
        }
        app.commit().unwrap();
        drop(app);
        let rep = db.compact().unwrap();
        assert_eq!(rep.head_blocks.len(), 1);
        assert_eq!(db.blocks().blocks().len(), 1);
        // The block covers the range cut from the head, as in Prometheus.
        let meta = db.blocks().blocks()[0].meta().clone();
        assert_eq!((meta.min_time, meta.max_time), (0, 2 * 3_600_000));
        assert!(db.head().min_time() >= 2 * 3_600_000);
        assert_eq!(count(&db), n as usize);
        db.close().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        assert_eq!(count(&db), n as usize);
    }

    #[test]
    fn corrupted_block_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        let step = 60_000;
        let mut app = db.appender();
        for i in 0..(4 * 3_600_000 / step) {
            app.append(
                SeriesRef(0),
                &labels!("__name__" => "m"),
                Sample::float(i * step, 1.0),
            )
            .unwrap();
        }
        app.commit().unwrap();
        drop(app);
        let ulid = db.compact().unwrap().head_blocks[0];
        db.close().unwrap();
        let index = dir.path().join(ulid.to_string()).join("index");
        std::fs::write(&index, b"garbage").unwrap();

        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        assert_eq!(db.failed_blocks().len(), 1);
        assert_eq!(db.failed_blocks()[0].ulid, ulid);
        // The head's data is still there (and here, as the WAL was not
        // checkpointed yet, the block's too) and the DB still takes writes.
        let before = count(&db);
        assert!(before >= 120, "{before}");
        let mut app = db.appender();
        app.append(
            SeriesRef(0),
            &labels!("__name__" => "m"),
            Sample::float(4 * 3_600_000, 1.0),
        )
        .unwrap();
        app.commit().unwrap();
        drop(app);
        assert_eq!(db.compact().unwrap().failed_blocks, vec![ulid]);
        assert!(count(&db) > before);
    }

    /// Appends `minutes` of one sample a minute to series `m`, through
    /// `db`'s appender.
    fn append_minutes(db: &Db, from: i64, minutes: i64) {
        let mut app = db.appender();
        for i in from..from + minutes {
            app.append(
                SeriesRef(0),
                &labels!("__name__" => "m"),
                Sample::float(i * 60_000, i as f64),
            )
            .unwrap();
        }
        app.commit().unwrap();
    }

    fn metrics_text(db: &Db) -> String {
        let mut reg = Registry::default();
        db.register_metrics(&mut reg);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
        text
    }

    #[test]
    fn background_compaction_wakes_on_commit_and_stops() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Db>();
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path(), DbOptions::default()).unwrap());
        // An interval that never comes: only the commit wakes the task.
        let task = db.spawn_compaction(Duration::from_secs(3600)).unwrap();
        assert!(db.spawn_compaction(Duration::from_secs(1)).is_err());
        append_minutes(&db, 0, 4 * 60);
        let deadline = Instant::now() + Duration::from_secs(20);
        while db.blocks().blocks().is_empty() {
            assert!(Instant::now() < deadline, "no background compaction");
            std::thread::sleep(Duration::from_millis(10));
        }
        task.stop();
        let text = metrics_text(&db);
        assert!(
            text.contains("prometheus_tsdb_compactions_total 1\n"),
            "{text}"
        );
        assert!(text.contains("prometheus_tsdb_compactions_failed_total 0\n"));
        assert!(text.contains("prometheus_tsdb_blocks_loaded 1\n"));
        // A task can run again, and holds the Db only while compacting:
        // the Db can be closed before the task is dropped.
        let task = db.spawn_compaction(Duration::from_secs(3600)).unwrap();
        Arc::try_unwrap(db).unwrap().close().unwrap();
        drop(task);
        // The lock was released with the Db.
        Db::open(dir.path(), DbOptions::default()).unwrap();
    }

    #[test]
    fn delete_and_clean_tombstones_in_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        append_minutes(&db, 0, 4 * 60);
        let ulid = db.compact().unwrap().head_blocks[0];
        let before = count(&db);
        db.delete(0, 30 * 60_000 - 1, &[Matcher::equal("__name__", "m")])
            .unwrap();
        assert_eq!(count(&db), before - 30);
        let written = db.clean_tombstones().unwrap();
        assert_eq!(written.len(), 1);
        let snap = db.blocks();
        assert_eq!(snap.blocks().len(), 1);
        let meta = snap.blocks()[0].meta();
        assert_eq!(meta.compaction.parents[0].ulid, ulid);
        assert_eq!((meta.min_time, meta.max_time), (0, 2 * 3_600_000));
        assert_eq!(count(&db), before - 30);
    }

    #[test]
    fn delete_spans_blocks_and_head_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        append_minutes(&db, 0, 4 * 60);
        assert_eq!(db.compact().unwrap().head_blocks.len(), 1);
        let before = count(&db);
        // 1h50m..2h10m: ten minutes in the block, ten in the head.
        db.delete(
            110 * 60_000,
            130 * 60_000 - 1,
            &[Matcher::equal("__name__", "m")],
        )
        .unwrap();
        assert_eq!(count(&db), before - 20);
        db.close().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        assert_eq!(count(&db), before - 20);
    }

    #[test]
    fn compaction_waits_for_appenders_that_may_write_into_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        append_minutes(&db, 0, 150);
        // An appender fixes its bounds while the head ends at 2.5h: it may
        // still write at 1.5h and later.
        let mut old = db.appender();
        old.append(
            SeriesRef(0),
            &labels!("__name__" => "late"),
            Sample::float(100 * 60_000, 1.0),
        )
        .unwrap();
        append_minutes(&db, 150, 100);
        std::thread::scope(|scope| {
            let compaction = scope.spawn(|| db.compact().unwrap());
            std::thread::sleep(Duration::from_millis(200));
            assert!(!compaction.is_finished(), "compaction did not wait");
            old.commit().unwrap();
            drop(old);
            let rep = compaction.join().unwrap();
            assert_eq!(rep.head_blocks.len(), 1);
        });
        let late = |db: &Db| {
            let q = db.merge_querier(i64::MIN, i64::MAX);
            let mut set = q
                .select(false, None, &[Matcher::equal("__name__", "late")])
                .unwrap();
            let s = set.next().expect("the late sample is lost").unwrap();
            let mut it = s.iter();
            assert_eq!(it.next(), ValueType::Float);
            it.at()
        };
        assert_eq!(late(&db), (100 * 60_000, 1.0));
        assert_eq!(count(&db), 250);
        db.close().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        assert_eq!(late(&db), (100 * 60_000, 1.0));
    }

    #[test]
    fn appenders_release_their_bounds() {
        let head = Head::in_memory(HeadOptions::default()).unwrap();
        let mut app = head.appender();
        app.append(SeriesRef(0), &labels!("a" => "b"), Sample::float(10, 1.0))
            .unwrap();
        // Its bound: the head's newest sample minus half a chunk range.
        let low = 10 - 3_600_000;
        assert!(!head.wait_for_appenders_below(low + 1, Duration::from_millis(20)));
        assert!(head.wait_for_appenders_below(low, Duration::ZERO));
        app.commit().unwrap();
        assert!(head.wait_for_appenders_below(i64::MAX, Duration::ZERO));
        // Bounds are fixed again by the next append, and dropping releases
        // them too, even when nothing is buffered.
        app.append(SeriesRef(0), &labels!("a" => "b"), Sample::float(5, 1.0))
            .unwrap_err();
        drop(app);
        assert!(head.wait_for_appenders_below(i64::MAX, Duration::ZERO));
    }
}
