//! The live TSDB: a data directory's blocks and head behind one handle.
//!
//! [`Db::open`] is all an embedder needs:
//!
//! 1. takes the directory lock ([`DirLock`], `<dir>/lock`; a second
//!    opener, in this process or another, fails at once);
//! 2. opens the blocks with [`open_blocks`]: a block that fails to open is
//!    logged (by ULID) and left out, listed in [`Db::failed_blocks`], and
//!    the database opens anyway;
//! 3. opens the [`Head`] with its `min_valid_time` set to the newest
//!    in-order block's `maxTime` (samples the blocks already cover are not
//!    replayed or accepted again, except out of order), mapping
//!    `chunks_head/` and replaying the WAL (`wal/`) and the WBL of
//!    out-of-order samples (`wbl/`), repairing a torn or corrupt tail as
//!    Prometheus does.
//!
//! [`Db`] implements [`Appendable`] (appenders are the head's) and
//! [`Queryable`] (a [`MergeQuerier`] over the blocks overlapping the range
//! and the head; on equal timestamps the blocks win, as their data is
//! older and settled). [`Db::compact`] persists the head's oldest chunk
//! range into a block when the head spans more than 1.5 ranges, truncates
//! the head, writes the head's out-of-order samples into blocks of their
//! own ([`Head::compact_ooo`]) if it did, then runs the leveled compactor and retention through a
//! [`BlockStore`]. [`Db::close`] flushes the head and releases the lock.
//!
//! # Durability contract
//!
//! * **Process crash (SIGKILL, panic, OOM kill).** A commit
//!   ([`Appender::commit`]) writes the
//!   transaction to the WAL with `write(2)` *before* it returns and before
//!   any sample becomes visible. A commit that returned therefore survives
//!   the death of the process: the next [`Db::open`] replays it. A commit
//!   that had not returned is either fully present or absent after replay
//!   (a torn last record is cut off by the WAL repair). No manual repair is
//!   ever needed to reopen.
//! * **Power loss / kernel crash.** Only data that reached stable storage
//!   survives, i.e. up to the last fsync of the WAL. The WAL fsyncs a
//!   segment when it is cut (every 128 MiB by default; in a background
//!   thread, so commits do not wait for it), on close ([`Db::close`]),
//!   when a checkpoint is written (during [`Db::compact`]'s head
//!   truncation), after a repair, and when [`Db::sync`] is called. There
//!   is no timer: an embedder that wants a bounded loss window calls
//!   [`Db::sync`] periodically (or after commits that must survive power
//!   loss). Blocks are written to a temporary directory, fsynced and
//!   renamed, so a block is either complete or absent.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ember_model::Timestamp;
use ember_storage::{Appendable, Appender, MergeQuerier, Querier, Queryable, StorageError};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use ulid::Ulid;

use crate::block::{open_blocks, BlockDir, FailedBlock};
use crate::compact::CompactorOptions;
use crate::dir::{BlockStore, BlockStoreOptions};
use crate::error::TsdbError;
use crate::head::{Head, HeadAppender, HeadOptions, MetricKind};
use crate::lock::DirLock;
use crate::retention::RetentionPolicy;
use crate::writer::BlockWriterOptions;

/// How long [`Db::compact`] waits for queriers reading the range it
/// truncates.
const PENDING_READERS_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// Whether the leveled compaction and retention were skipped because
    /// some block could not be opened.
    pub leveled_skipped: bool,
}

/// A live data directory: blocks plus head, locked. See the [module
/// documentation](self).
pub struct Db {
    dir: PathBuf,
    opts: DbOptions,
    blocks: BlockDir,
    head: Arc<Head>,
    lock: Option<DirLock>,
    counters: Arc<DbCounters>,
}

/// The DB's own counters, shared with the metrics collector.
#[derive(Debug, Default)]
struct DbCounters {
    compactions: AtomicU64,
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
            .field("blocks", &self.blocks.blocks().len())
            .field("failed_blocks", &self.blocks.failed().len())
            .field("head", &self.head)
            .finish()
    }
}

impl Db {
    /// Opens (creating if missing) the data directory `dir`: lock, blocks,
    /// head (see the module docs).
    pub fn open(dir: impl AsRef<Path>, opts: DbOptions) -> Result<Db, TsdbError> {
        let lock = DirLock::acquire(dir.as_ref())?;
        let dir = lock.dir().to_path_buf();
        let blocks = open_blocks(&dir)?;
        for f in blocks.failed() {
            tracing::error!(block = %f.ulid, error = %f.error, "corrupted block left out; its data is not queryable");
        }
        let mut head_opts = opts.head.clone();
        // Blocks of out-of-order samples may reach past the in-order data
        // and do not count, as in Prometheus.
        let in_order = blocks.blocks().iter().map(|b| b.meta()).filter(|m| {
            !m.compaction
                .hints
                .iter()
                .any(|h| h == crate::compact::HINT_FROM_OUT_OF_ORDER)
        });
        if let Some(maxt) = in_order.map(|m| m.max_time).max() {
            head_opts.min_valid_time = head_opts.min_valid_time.max(maxt);
        }
        let head = Arc::new(Head::open(&dir, head_opts)?);
        let report = head.replay_report();
        if let Some(c) = &report.wal_corruption {
            tracing::warn!(corruption = %c, "WAL was damaged; repaired, data after the damage is lost");
        }
        tracing::info!(
            dir = %dir.display(),
            blocks = blocks.blocks().len(),
            failed_blocks = blocks.failed().len(),
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
            opts,
            blocks,
            head,
            lock: Some(lock),
            counters,
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

    /// The open blocks.
    pub fn blocks(&self) -> &BlockDir {
        &self.blocks
    }

    /// Blocks that could not be opened and are left out.
    pub fn failed_blocks(&self) -> &[FailedBlock] {
        self.blocks.failed()
    }

    /// A new append transaction on the head.
    pub fn head_appender(&self) -> HeadAppender<'_> {
        self.head.appender()
    }

    /// A querier over `[mint, maxt]` (ms, inclusive): blocks overlapping
    /// the range, then the head.
    pub fn merge_querier(&self, mint: Timestamp, maxt: Timestamp) -> MergeQuerier<'_> {
        let mut queriers: Vec<Box<dyn Querier + '_>> = self
            .blocks
            .blocks()
            .iter()
            .filter(|b| b.meta().overlaps(mint, maxt))
            .map(|b| Box::new(b.block_querier(mint, maxt)) as Box<dyn Querier + '_>)
            .collect();
        queriers.push(Box::new(self.head.querier(mint, maxt)));
        MergeQuerier::new(queriers)
    }

    /// fsyncs the WAL: every commit that returned before survives a power
    /// loss.
    pub fn sync(&self) -> Result<(), TsdbError> {
        match self.head.wal() {
            Some(w) => w.sync().map_err(TsdbError::from),
            None => Ok(()),
        }
    }

    fn count_blocks(&self) {
        let c = &self.counters;
        c.blocks_loaded
            .store(self.blocks.blocks().len() as u64, Ordering::Relaxed);
        c.failed_blocks
            .store(self.blocks.failed().len() as u64, Ordering::Relaxed);
    }

    /// Reopens the blocks after compaction.
    fn reload_blocks(&mut self) -> Result<(), TsdbError> {
        self.blocks = open_blocks(&self.dir)?;
        self.counters.reloads.fetch_add(1, Ordering::Relaxed);
        self.count_blocks();
        Ok(())
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
    /// compactor and retention over the blocks.
    ///
    /// Takes `&mut self`: no querier or appender of this `Db` is open
    /// meanwhile.
    pub fn compact(&mut self) -> Result<CompactReport, TsdbError> {
        let start = Instant::now();
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        let res = self.compact_inner();
        if res.is_err() {
            self.counters
                .compactions_failed
                .fetch_add(1, Ordering::Relaxed);
        }
        self.counters
            .compaction_micros
            .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        res
    }

    fn compact_inner(&mut self) -> Result<CompactReport, TsdbError> {
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
            let maxt = mint.div_euclid(range) * range + range;
            if let Some(w) = self.head.write_block(&self.dir, mint, maxt, wopts)? {
                tracing::info!(block = %w.meta.ulid, mint, maxt, "wrote head block");
                report.head_blocks.push(w.meta.ulid);
                self.counters
                    .head_blocks_written
                    .fetch_add(1, Ordering::Relaxed);
            }
            self.head
                .set_min_valid_time(self.head.min_valid_time().max(maxt));
            if !self
                .head
                .wait_for_pending_readers(mint, maxt - 1, PENDING_READERS_TIMEOUT)
            {
                tracing::warn!(mint, maxt, "head readers still open; truncating anyway");
            }
            self.head.truncate(maxt)?;
        }
        if head_compacted {
            // As Prometheus: out-of-order data follows the in-order head.
            let written = self.head.compact_ooo(&self.dir, wopts)?;
            report.ooo_blocks = written.iter().map(|b| b.meta.ulid).collect();
        }
        if self.blocks.failed().is_empty() {
            self.reload_blocks()?;
            let store = BlockStore::open(
                &self.dir,
                BlockStoreOptions {
                    compactor: self.opts.compactor.clone(),
                    retention: self.opts.retention,
                    extra_size: None,
                },
            )?;
            report.compacted_blocks = store.compact()?;
            store.reload()?;
        } else {
            tracing::warn!(
                failed = self.blocks.failed().len(),
                "skipping leveled compaction and retention: some blocks cannot be opened"
            );
            report.leveled_skipped = true;
        }
        self.reload_blocks()?;
        Ok(report)
    }

    /// Flushes the head (chunk files, WAL, fsynced) and releases the
    /// directory lock.
    pub fn close(mut self) -> Result<(), TsdbError> {
        let res = self.head.close();
        let lock = self.lock.take().map(DirLock::release);
        res?;
        lock.unwrap_or(Ok(()))
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(self.head.appender())
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
        let mut db = Db::open(dir.path(), DbOptions::default()).unwrap();
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
        assert!(db.head().min_time() >= 2 * 3_600_000);
        assert_eq!(count(&db), n as usize);
        db.close().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        assert_eq!(count(&db), n as usize);
    }

    #[test]
    fn corrupted_block_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), DbOptions::default()).unwrap();
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

        let mut db = Db::open(dir.path(), DbOptions::default()).unwrap();
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
        assert!(db.compact().unwrap().leveled_skipped);
        assert!(count(&db) > before);
    }
}
