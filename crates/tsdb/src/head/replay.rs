//! The head and the WAL: logging commits, and rebuilding the head on open
//! from the head chunk files and the WAL.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use parking_lot::Mutex;

use super::chunks_head::{DiskChunkMeta, HeadChunkFiles, HeadChunkRef};
use super::ooo::OooState;
use super::series::{labels_hash, ChunkCtx, ChunkLoc, ClosedChunk, MemSeries, SeriesState, U64Map};
use super::stats::HeadStats;
use super::{CommitBatch, Head};
use crate::error::TsdbError;
use crate::wal::record::{
    self, Decoder, Record, RecordError, RecordType, RefMmapMarker, RefSample, RefSeries,
    RefTombstone,
};
use crate::wal::{Wal, WalError};
use ember_chunks::Encoding;
use ember_model::Metadata;

/// The WAL as the head's commit log.
pub(crate) struct WalLog {
    pub(crate) wal: Wal,
    /// Reusable record buffers.
    bufs: Mutex<Vec<[Vec<u8>; 3]>>,
}

impl WalLog {
    pub(crate) fn new(wal: Wal) -> Self {
        WalLog {
            wal,
            bufs: Mutex::new(Vec::new()),
        }
    }

    /// Logs a commit: series, then samples, then metadata, as one batch.
    pub(crate) fn log(&self, batch: &CommitBatch) -> Result<(), TsdbError> {
        let mut bufs = self.bufs.lock().pop().unwrap_or_default();
        let mut n = 0;
        if !batch.series.is_empty() {
            bufs[n].clear();
            record::encode_series(&batch.series, &mut bufs[n]);
            n += 1;
        }
        if !batch.samples.is_empty() {
            bufs[n].clear();
            record::encode_samples(&batch.samples, &mut bufs[n]);
            n += 1;
        }
        if !batch.metadata.is_empty() {
            bufs[n].clear();
            record::encode_metadata(&batch.metadata, &mut bufs[n]);
            n += 1;
        }
        let res = if n > 0 {
            self.wal.log(&bufs[..n])
        } else {
            Ok(())
        };
        // Keep the buffers unless a huge commit made them large.
        if bufs.iter().map(Vec::capacity).sum::<usize>() < 1 << 22 {
            self.bufs.lock().push(bufs);
        }
        res.map_err(TsdbError::from)
    }

    /// Logs deleted intervals as one Tombstones record.
    pub(crate) fn log_tombstones(&self, stones: &[RefTombstone]) -> Result<(), TsdbError> {
        let mut buf = Vec::new();
        record::encode_tombstones(stones, &mut buf);
        self.wal.log(&[buf]).map_err(TsdbError::from)
    }

    pub(crate) fn close(&self) -> Result<(), TsdbError> {
        self.wal.close().map_err(TsdbError::from)
    }
}

/// What opening a head replayed (see [`Head::replay_report`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Completed chunks taken over from the head chunk files.
    pub mmapped_chunks: u64,
    /// Series created from the WAL's series records.
    pub series: u64,
    /// Samples appended from the WAL (those the chunk files already held
    /// are skipped).
    pub samples: u64,
    /// Deleted intervals applied from the WAL's Tombstones records.
    pub tombstones: u64,
    /// Samples and deleted intervals of series the WAL never declared.
    pub unknown_refs: u64,
    /// Records the head does not keep (exemplars, native histograms,
    /// m-map markers, unknown types).
    pub skipped_records: u64,
    /// The corrupt head chunk file found, if any (it was deleted with the
    /// files after it).
    pub chunks_corruption: Option<String>,
    /// The WAL damage found, if any (the WAL was repaired there).
    pub wal_corruption: Option<String>,
    /// Out-of-order chunks taken over from the head chunk files.
    pub ooo_mmapped_chunks: u64,
    /// Out-of-order samples inserted from the WBL.
    pub ooo_samples: u64,
    /// Samples and m-map markers in the WBL for unknown series.
    pub wbl_unknown_refs: u64,
    /// The WBL damage found, if any (the WBL was repaired there).
    pub wbl_corruption: Option<String>,
}

/// The chunks found in the head chunk files, per series reference.
#[derive(Default)]
pub(crate) struct MmappedChunks {
    /// In-order chunks, oldest first.
    in_order: U64Map<Vec<DiskChunkMeta>>,
    /// Out-of-order chunks, in the order they were written.
    ooo: U64Map<Vec<DiskChunkMeta>>,
    /// The last chunk in the files: WBL m-map markers for chunks after it
    /// name chunks that were lost.
    last_ref: HeadChunkRef,
}

/// A chunk found in the head chunk files, as a series holds it.
fn closed_chunk(m: &DiskChunkMeta) -> ClosedChunk {
    ClosedChunk {
        min_time: m.min_time,
        max_time: m.max_time,
        loc: ChunkLoc::Disk(m.chunk_ref),
        num_samples: m.num_samples,
    }
}

/// Completed chunks per series reference, from the head chunk files
/// (in-order ones ending before `min_valid` are skipped; out-of-order ones
/// are all kept, as Prometheus does). A corrupt file is logged, counted
/// and deleted with the files after it (their data comes back from the
/// WAL and WBL), as Prometheus does.
pub(crate) fn load_mmapped_chunks(
    files: &HeadChunkFiles,
    min_valid: i64,
    stats: &HeadStats,
    corruption: &mut Option<String>,
) -> Result<MmappedChunks, TsdbError> {
    let mut attempt = 0;
    loop {
        let mut found = MmappedChunks::default();
        let res = files.iterate_chunks(|m| {
            found.last_ref = m.chunk_ref;
            if m.encoding != Encoding::Xor {
                return Ok(());
            }
            if m.out_of_order {
                found.ooo.entry(m.series_ref).or_default().push(*m);
                return Ok(());
            }
            if m.max_time < min_valid {
                return Ok(());
            }
            let v = found.in_order.entry(m.series_ref).or_default();
            if let Some(last) = v.last() {
                if last.max_time >= m.min_time {
                    return Err(format!(
                        "out of sequence m-mapped chunk for series ref {}, last chunk: [{}, {}], new: [{}, {}]",
                        m.series_ref, last.min_time, last.max_time, m.min_time, m.max_time
                    ));
                }
            }
            v.push(*m);
            Ok(())
        });
        let Err(c) = res else {
            return Ok(found);
        };
        HeadStats::add(&stats.mmap_chunk_corruptions, 1);
        corruption.get_or_insert_with(|| c.error.to_string());
        tracing::warn!(
            error = %c.error,
            "loading head chunk files failed; deleting the corrupt file and the ones after it, their data is replayed from the WAL"
        );
        attempt += 1;
        if attempt > 1 {
            files.truncate(u32::MAX)?;
            return Ok(MmappedChunks::default());
        }
        if let Err(e) = files.delete_from(c.seq) {
            tracing::error!(error = %e, "deleting corrupt head chunk files failed; discarding all of them");
            files.truncate(u32::MAX)?;
            return Ok(MmappedChunks::default());
        }
    }
}

/// Series references of a WAL to indexes, for replay. WAL references
/// are mostly dense (Prometheus counts them up from 1), so they index a
/// vector from the first one seen; references far from it go to a map.
#[derive(Default)]
struct RefIndex {
    base: Option<u64>,
    dense: Vec<u32>,
    sparse: U64Map<u32>,
}

impl RefIndex {
    const NONE: u32 = u32::MAX;

    fn insert(&mut self, r: u64, idx: u32, series: usize) {
        let base = *self.base.get_or_insert(r);
        let limit = (series as u64).saturating_mul(8).max(1 << 20);
        match r.checked_sub(base).filter(|&o| o < limit) {
            Some(o) => {
                let o = o as usize;
                if o >= self.dense.len() {
                    self.dense.resize(o + 1, Self::NONE);
                }
                self.dense[o] = idx;
            }
            None => {
                self.sparse.insert(r, idx);
            }
        }
    }

    fn get(&self, r: u64) -> Option<u32> {
        let dense = self
            .base
            .and_then(|b| r.checked_sub(b))
            .and_then(|o| self.dense.get(o as usize))
            .copied()
            .filter(|&i| i != Self::NONE);
        dense.or_else(|| self.sparse.get(&r).copied())
    }
}

/// Replay's state: the series it rebuilds and what it counted.
///
/// Replay owns the state of every series it touches: the states are taken
/// out of their series into `local` on their series record and handed
/// back at the end ([`finish`](Self::finish)). Samples then go to a plain
/// `&mut` state, with no lock (whose atomic would serialise the cache
/// misses of consecutive samples), found through `by_wal_ref` (a WAL
/// reference to its index in `local`).
struct Replayer<'h> {
    head: &'h Head,
    ctx: ChunkCtx<'h>,
    min_valid: i64,
    mmapped: MmappedChunks,
    /// (series, its reference, its state): the reference is copied so that
    /// appends do not touch the series' own (cold) memory.
    local: Vec<(Arc<MemSeries>, u64, SeriesState)>,
    /// Series reference to index in `local`.
    local_of: U64Map<u32>,
    by_wal_ref: RefIndex,
    /// Duplicate WAL references to the series they name.
    aliases: U64Map<u64>,
    last_ref: u64,
    mint: i64,
    maxt: i64,
    chunks_created: u64,
    /// Chunks dropped by series records declaring a series again (taken
    /// off the head's chunk gauge at the end, after what replay created).
    chunks_dropped: u64,
    counts: ReplayReport,
}

impl<'h> Replayer<'h> {
    /// Index in `local` of WAL reference `r`.
    /// (Every reference a series record names is in `by_wal_ref`, the
    /// duplicates' too.)
    fn local_index(&self, r: u64) -> Option<u32> {
        self.by_wal_ref.get(r)
    }

    /// Applies one decoded record; hands back a sample buffer to reuse.
    fn apply(&mut self, rec: Record) -> Option<Vec<RefSample>> {
        match rec {
            Record::Series(series) => {
                for rs in series {
                    self.series(rs);
                }
                None
            }
            Record::Samples(mut samples) => {
                self.samples(&samples);
                samples.clear();
                Some(samples)
            }
            Record::Metadata(meta) => {
                for m in meta {
                    if let Some(i) = self.local_index(m.series_ref) {
                        self.local[i as usize].2.metadata = Some(Box::new(Metadata {
                            metric_type: m.metric_type,
                            unit: m.unit,
                            help: m.help,
                        }));
                    }
                }
                None
            }
            Record::Tombstones(stones) => {
                for t in stones {
                    // The reference was handed out, even if its series
                    // record is gone: never hand it out again.
                    self.last_ref = self.last_ref.max(t.series_ref);
                    // Intervals ending before the valid range are kept
                    // until the garbage collection after replay: they may
                    // cover out-of-order samples the WBL brings back.
                    match self.local_index(t.series_ref) {
                        Some(i) => {
                            self.local[i as usize].2.add_tombstone(t.interval);
                            self.counts.tombstones += 1;
                        }
                        None => self.counts.unknown_refs += 1,
                    }
                }
                None
            }
            // Exemplars, histograms, m-map markers and unknown types: the
            // head keeps none of them yet.
            _ => {
                self.counts.skipped_records += 1;
                None
            }
        }
    }

    fn series(&mut self, rs: RefSeries) {
        let head = self.head;
        self.last_ref = self.last_ref.max(rs.series_ref);
        let hash = labels_hash(&rs.labels);
        let (s, created) = head.create_with_ref(rs.series_ref, &rs.labels, hash, false);
        self.counts.series += u64::from(created);
        if !created && s.series_ref != rs.series_ref {
            self.aliases.insert(rs.series_ref, s.series_ref);
        }
        if let Some(i) = self.local_of.get(&s.series_ref) {
            if self.by_wal_ref.get(rs.series_ref) == Some(*i) {
                // The same declaration again (a commit whose WAL write
                // failed part-way logs its new series once more): what was
                // replayed for the series stays.
                return;
            }
        }
        let local = &mut self.local;
        let idx = *self.local_of.entry(s.series_ref).or_insert_with(|| {
            let st = std::mem::take(&mut *s.state.lock());
            local.push((s.clone(), s.series_ref, st));
            (local.len() - 1) as u32
        });
        self.by_wal_ref.insert(rs.series_ref, idx, local.len());
        // The series' chunks on disk, under the reference this record
        // gives it. A series declared again under another reference was
        // removed and re-created: what was replayed for it so far went to a
        // block already, as in Prometheus.
        let chunks = self
            .mmapped
            .in_order
            .remove(&rs.series_ref)
            .unwrap_or_default();
        let ooo = self.mmapped.ooo.remove(&rs.series_ref);
        let st = &mut local[idx as usize].2;
        self.chunks_dropped += (st.closed.len() + usize::from(st.open.is_some())) as u64;
        st.closed = chunks.iter().map(closed_chunk).collect();
        st.open = None;
        st.appended = chunks.iter().map(|m| u64::from(m.num_samples)).sum();
        if let (Some(f), Some(l)) = (chunks.first(), chunks.last()) {
            self.mint = self.mint.min(f.min_time);
            self.maxt = self.maxt.max(l.max_time);
        }
        self.counts.mmapped_chunks += chunks.len() as u64;
        HeadStats::add(&head.stats.chunks, chunks.len() as u64);
        HeadStats::add(&head.stats.chunks_created, chunks.len() as u64);
        if let Some(old) = st.ooo.take() {
            self.chunks_dropped += (old.mmapped.len() + usize::from(old.head.is_some())) as u64;
        }
        if let Some(ooo) = ooo {
            let o = OooState {
                mmapped: ooo.iter().map(closed_chunk).collect(),
                head: None,
            };
            if let Some((a, b)) = o.time_range() {
                head.update_ooo_time(a, b);
            }
            self.counts.ooo_mmapped_chunks += ooo.len() as u64;
            HeadStats::add(&head.stats.chunks, ooo.len() as u64);
            HeadStats::add(&head.stats.chunks_created, ooo.len() as u64);
            st.ooo = Some(Box::new(o));
        }
    }

    fn samples(&mut self, samples: &[RefSample]) {
        let (min_valid, ctx) = (self.min_valid, self.ctx);
        let unknown = series_runs(
            &self.by_wal_ref,
            &mut self.local,
            samples,
            |series_ref, st, run| {
                for x in run {
                    if x.t < min_valid {
                        continue;
                    }
                    let a = st.append(series_ref, x.t, x.v, ctx);
                    if a.ok {
                        self.counts.samples += 1;
                        self.mint = self.mint.min(x.t);
                        self.maxt = self.maxt.max(x.t);
                    }
                    self.chunks_created += u64::from(a.chunk_created);
                }
            },
        );
        self.counts.unknown_refs += unknown;
    }

    /// Replays the WBL after the WAL, as Prometheus does: samples go into
    /// their series' out-of-order buffers (cutting chunks as at run time;
    /// no time limit applies), and an m-map marker empties its series'
    /// buffer, whose samples are in a chunk loaded from the files (unless
    /// the marker names a chunk after the last one found there, which was
    /// lost: then the samples stay). Damage at the end of the WBL is
    /// repaired like the WAL's.
    fn replay_wbl(&mut self, wbl: &Wal) -> Result<(), TsdbError> {
        let head = self.head;
        let cap = head.opts.out_of_order_cap_max;
        let files = head.files.as_ref();
        let last_chunk = self.mmapped.last_ref;
        let mut dec = Decoder::new();
        let mut samples_buf: Vec<RefSample> = Vec::new();
        let mut markers_buf: Vec<RefMmapMarker> = Vec::new();
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let (mut chunks, mut dropped_heads, mut unknown) = (0u64, 0u64, 0u64);
        let stats = wbl.replay(|rec| {
            match RecordType::of(rec) {
                Some(RecordType::Samples | RecordType::SamplesV2) => {
                    samples_buf.clear();
                    dec.samples(rec, &mut samples_buf)?;
                    unknown += series_runs(
                        &self.by_wal_ref,
                        &mut self.local,
                        &samples_buf,
                        |series_ref, st, run| {
                            let o = st.ooo.get_or_insert_with(Box::<OooState>::default);
                            for x in run {
                                let res = o.insert(series_ref, x.t, x.v, cap, files);
                                chunks += u64::from(res.chunk_created);
                                if res.inserted {
                                    self.counts.ooo_samples += 1;
                                    mint = mint.min(x.t);
                                    maxt = maxt.max(x.t);
                                }
                            }
                        },
                    );
                }
                Some(RecordType::MmapMarkers) => {
                    markers_buf.clear();
                    dec.mmap_markers(rec, &mut markers_buf)?;
                    for m in &markers_buf {
                        if m.mmap_ref > last_chunk.0 {
                            continue;
                        }
                        let Some(i) = self.local_index(m.series_ref) else {
                            unknown += 1;
                            continue;
                        };
                        if let Some(o) = self.local[i as usize].2.ooo.as_deref_mut() {
                            dropped_heads += u64::from(o.head.take().is_some());
                        }
                    }
                }
                _ => {
                    dec.decode(rec)?;
                    self.counts.skipped_records += 1;
                }
            }
            Ok(())
        });
        let stats = stats.map_err(|e| TsdbError::from(e).context("replay WBL"))?;
        if let Some(c) = &stats.corruption {
            self.counts.wbl_corruption = Some(c.to_string());
            tracing::warn!(corruption = %c, "WBL was repaired; out-of-order data after the damage is lost");
        }
        head.update_ooo_time(mint, maxt);
        HeadStats::add(&head.stats.chunks, chunks);
        self.chunks_dropped += dropped_heads;
        HeadStats::add(&head.stats.chunks_created, chunks);
        HeadStats::add(&head.stats.wbl_replay_unknown_refs, unknown);
        self.counts.wbl_unknown_refs = unknown;
        if unknown > 0 {
            tracing::warn!(samples = unknown, "unknown series references in the WBL");
        }
        tracing::info!(
            segments = ?stats.segments,
            records = stats.records,
            samples = self.counts.ooo_samples,
            mmapped_chunks = self.counts.ooo_mmapped_chunks,
            "WBL replay completed"
        );
        Ok(())
    }

    /// Hands the series states back to their series.
    fn finish(&mut self) {
        for (s, _, st) in self.local.drain(..) {
            *s.state.lock() = st;
        }
    }
}

/// Calls `f` with each run of a record's consecutive samples of one series
/// (a record holds a series' samples one after another), with the series'
/// reference and replay-owned state; returns how many samples name a
/// reference no series record declared.
fn series_runs(
    by_wal_ref: &RefIndex,
    local: &mut [(Arc<MemSeries>, u64, SeriesState)],
    samples: &[RefSample],
    mut f: impl FnMut(u64, &mut SeriesState, &[RefSample]),
) -> u64 {
    let mut unknown = 0;
    for run in samples.chunk_by(|a, b| a.series_ref == b.series_ref) {
        let Some(first) = run.first() else {
            continue;
        };
        let found = by_wal_ref
            .get(first.series_ref)
            .and_then(|i| local.get_mut(i as usize));
        match found {
            Some((_, series_ref, st)) => f(*series_ref, st, run),
            None => unknown += run.len() as u64,
        }
    }
    unknown
}

/// Decodes a record for [`Replayer::apply`], into `spare` for samples.
fn decode_for_replay(
    dec: &mut Decoder,
    rec: &[u8],
    spare: Option<Vec<RefSample>>,
) -> Result<Record, RecordError> {
    match RecordType::of(rec) {
        Some(RecordType::Samples | RecordType::SamplesV2) => {
            let mut v = spare.unwrap_or_default();
            v.clear();
            dec.samples(rec, &mut v)?;
            Ok(Record::Samples(v))
        }
        _ => dec.decode(rec),
    }
}

/// Decoded records go to the applying thread in batches of about this many
/// entries (samples, series, ...), so small records do not cost a hand-over
/// each.
const REPLAY_BATCH_ENTRIES: usize = 16 * 1024;

/// Batches in flight between the decoding and the applying thread.
const REPLAY_BATCHES_IN_FLIGHT: usize = 4;

fn record_entries(r: &Record) -> usize {
    match r {
        Record::Series(v) => v.len(),
        Record::Samples(v) => v.len(),
        Record::Metadata(v) => v.len(),
        _ => 1,
    }
}

impl Head {
    /// Rebuilds the head from the head chunk files and the WAL.
    ///
    /// Reading, checking and decoding the WAL runs on a second thread,
    /// which hands decoded records in batches to this one, which applies
    /// them (as Prometheus replays with a decoding goroutine ahead of its
    /// appliers).
    pub(crate) fn replay(&self, wal: &Wal) -> Result<ReplayReport, TsdbError> {
        let min_valid = self.min_valid_time();
        let mut counts = ReplayReport::default();
        let mmapped = match &self.files {
            Some(f) => {
                load_mmapped_chunks(f, min_valid, &self.stats, &mut counts.chunks_corruption)?
            }
            None => MmappedChunks::default(),
        };
        let mut rep = Replayer {
            head: self,
            ctx: ChunkCtx {
                cut: &self.cut,
                files: self.files.as_ref(),
            },
            min_valid,
            mmapped,
            local: Vec::new(),
            local_of: U64Map::default(),
            by_wal_ref: RefIndex::default(),
            aliases: U64Map::default(),
            last_ref: 0,
            mint: i64::MAX,
            maxt: i64::MIN,
            chunks_created: 0,
            chunks_dropped: 0,
            counts,
        };
        let stats = std::thread::scope(|scope| {
            let (batch_tx, batch_rx) = mpsc::sync_channel::<Vec<Record>>(REPLAY_BATCHES_IN_FLIGHT);
            let (spare_tx, spare_rx) = mpsc::channel::<Vec<RefSample>>();
            let decoder = std::thread::Builder::new()
                .name("ember-wal-replay".into())
                .spawn_scoped(scope, move || {
                    let mut dec = Decoder::new();
                    let mut batch = Vec::new();
                    let mut entries = 0;
                    let res = wal.replay(|rec| {
                        let r = decode_for_replay(&mut dec, rec, spare_rx.try_recv().ok())?;
                        entries += record_entries(&r);
                        batch.push(r);
                        if entries >= REPLAY_BATCH_ENTRIES {
                            entries = 0;
                            batch_tx
                                .send(std::mem::take(&mut batch))
                                .map_err(|_| WalError::aborted("WAL replay stopped"))?;
                        }
                        Ok(())
                    });
                    // The records before damage are applied too.
                    if !batch.is_empty() {
                        let _ = batch_tx.send(batch);
                    }
                    res
                });
            match decoder {
                Ok(handle) => {
                    for batch in batch_rx {
                        for r in batch {
                            if let Some(v) = rep.apply(r) {
                                let _ = spare_tx.send(v);
                            }
                        }
                    }
                    handle.join().unwrap_or_else(|_| {
                        Err(WalError::aborted("the WAL decoding thread panicked"))
                    })
                }
                Err(e) => {
                    tracing::debug!(error = %e, "no WAL decoding thread; replaying on one");
                    let mut dec = Decoder::new();
                    wal.replay(|rec| {
                        rep.apply(decode_for_replay(&mut dec, rec, None)?);
                        Ok(())
                    })
                }
            }
        });
        // The WBL after the WAL, on the states replay still holds.
        let wbl_res = match (&stats, &self.wbl) {
            (Ok(_), Some(wbl)) => rep.replay_wbl(wbl),
            _ => Ok(()),
        };
        // Hand the states back, whether or not the replay succeeded.
        rep.finish();
        let Replayer {
            aliases,
            last_ref,
            mint,
            maxt,
            chunks_created,
            chunks_dropped,
            mmapped,
            mut counts,
            ..
        } = rep;
        let stats = stats.map_err(TsdbError::from)?;
        wbl_res?;
        if let Some(c) = &stats.corruption {
            counts.wal_corruption = Some(c.to_string());
            HeadStats::add(&self.stats.wal_corruptions, 1);
            tracing::warn!(corruption = %c, "WAL was repaired; data after the damage is lost");
        }
        self.last_series_ref.fetch_max(last_ref, Ordering::AcqRel);
        HeadStats::add(&self.stats.chunks, chunks_created);
        HeadStats::add(&self.stats.chunks_created, chunks_created);
        HeadStats::sub(&self.stats.chunks, chunks_dropped);
        HeadStats::add(&self.stats.chunks_removed, chunks_dropped);
        HeadStats::add(&self.stats.wal_replay_unknown_refs, counts.unknown_refs);
        self.update_min_max_time(mint, maxt);
        if self.min_time() < min_valid && self.min_time() <= self.max_time() {
            self.min_time.store(min_valid, Ordering::Release);
        }
        *self.replay_aliases.lock() = aliases;
        if !mmapped.in_order.is_empty() || !mmapped.ooo.is_empty() {
            tracing::debug!(
                series = mmapped.in_order.len() + mmapped.ooo.len(),
                "head chunks of series the WAL does not know were dropped"
            );
        }
        if counts.unknown_refs > 0 {
            tracing::warn!(
                entries = counts.unknown_refs,
                "unknown series references in the WAL"
            );
        }
        tracing::info!(
            checkpoint = ?stats.checkpoint,
            segments = ?stats.segments,
            records = stats.records,
            series = counts.series,
            samples = counts.samples,
            tombstones = counts.tombstones,
            mmapped_chunks = counts.mmapped_chunks,
            "WAL replay completed"
        );
        Ok(counts)
    }

    /// Checkpoints the WAL up to the head's new min time, keeping the
    /// series still in the head (and the duplicate references replay
    /// mapped onto them).
    pub(crate) fn truncate_wal(&self, wal: &Wal, mint: i64) -> Result<(), TsdbError> {
        let aliases = self.replay_aliases.lock().clone();
        let keep = |r: u64| {
            let target = aliases.get(&r).copied().unwrap_or(r);
            self.series.get_by_ref(target).is_some()
        };
        match wal.truncate_with_checkpoint(mint, keep) {
            Ok(Some(o)) => {
                tracing::info!(
                    first = o.first,
                    last = o.last,
                    dropped_series = o.stats.dropped_series,
                    dropped_samples = o.stats.dropped_samples,
                    "WAL truncated"
                );
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(TsdbError::from(e).context("truncate WAL")),
        }
    }
}
