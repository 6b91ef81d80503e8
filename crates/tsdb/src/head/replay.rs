//! The head and the WAL: logging commits, and rebuilding the head on open
//! from the head chunk files and the WAL.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use super::chunks_head::{DiskChunkMeta, HeadChunkFiles, HeadChunkRef};
use super::ooo::OooState;
use super::series::{labels_hash, ChunkCtx, ChunkLoc, ClosedChunk, MemSeries, U64Map};
use super::stats::HeadStats;
use super::{CommitBatch, Head};
use crate::error::TsdbError;
use crate::wal::record::{
    self, Decoder, RecordType, RefMetadata, RefMmapMarker, RefSample, RefSeries,
};
use crate::wal::Wal;
use ember_chunks::Encoding;

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
    /// Samples of series the WAL never declared.
    pub unknown_refs: u64,
    /// Records the head does not keep (tombstones, exemplars, native
    /// histograms, m-map markers, unknown types).
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

impl Head {
    /// Rebuilds the head from the head chunk files and the WAL.
    pub(crate) fn replay(&self, wal: &Wal) -> Result<ReplayReport, TsdbError> {
        let min_valid = self.min_valid_time();
        let mut counts = ReplayReport::default();
        let mut mmapped = match &self.files {
            Some(f) => {
                load_mmapped_chunks(f, min_valid, &self.stats, &mut counts.chunks_corruption)?
            }
            None => MmappedChunks::default(),
        };
        let mut dec = Decoder::new();
        let mut series_buf: Vec<RefSeries> = Vec::new();
        let mut samples_buf: Vec<RefSample> = Vec::new();
        let mut meta_buf: Vec<RefMetadata> = Vec::new();
        let mut aliases: U64Map<u64> = U64Map::default();
        // The series each WAL reference names, so that samples find their
        // series without the registry's stripe locks and reference counts.
        let mut by_wal_ref: U64Map<Arc<MemSeries>> = U64Map::default();
        let mut last_ref = 0u64;
        let ctx = ChunkCtx {
            cut: &self.cut,
            files: self.files.as_ref(),
        };
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let mut chunks_created = 0u64;
        let stats = wal.replay(|rec| {
            match RecordType::of(rec) {
                Some(RecordType::Series) => {
                    series_buf.clear();
                    dec.series(rec, &mut series_buf)?;
                    for rs in series_buf.drain(..) {
                        last_ref = last_ref.max(rs.series_ref);
                        let hash = labels_hash(&rs.labels);
                        let (s, created) =
                            self.create_with_ref(rs.series_ref, &rs.labels, hash, false);
                        counts.series += u64::from(created);
                        if !created && s.series_ref != rs.series_ref {
                            aliases.insert(rs.series_ref, s.series_ref);
                        }
                        by_wal_ref.insert(rs.series_ref, s.clone());
                        // The series' chunks on disk, under the reference
                        // this record gives it.
                        // A series declared again under another reference
                        // was removed and re-created: what was replayed for
                        // it so far went to a block already, as in
                        // Prometheus.
                        let chunks = mmapped.in_order.remove(&rs.series_ref);
                        let ooo = mmapped.ooo.remove(&rs.series_ref);
                        {
                            let mut st = s.state.lock();
                            let chunks = chunks.unwrap_or_default();
                            let removed = st.closed.len() + usize::from(st.open.is_some());
                            HeadStats::sub(&self.stats.chunks, removed as u64);
                            st.closed = chunks.iter().map(closed_chunk).collect();
                            st.open = None;
                            st.appended = chunks.iter().map(|m| u64::from(m.num_samples)).sum();
                            if let (Some(f), Some(l)) = (chunks.first(), chunks.last()) {
                                mint = mint.min(f.min_time);
                                maxt = maxt.max(l.max_time);
                            }
                            counts.mmapped_chunks += chunks.len() as u64;
                            HeadStats::add(&self.stats.chunks, chunks.len() as u64);
                            HeadStats::add(&self.stats.chunks_created, chunks.len() as u64);
                            if let Some(old) = st.ooo.take() {
                                let n = old.mmapped.len() + usize::from(old.head.is_some());
                                HeadStats::sub(&self.stats.chunks, n as u64);
                            }
                            if let Some(ooo) = ooo {
                                let o = OooState {
                                    mmapped: ooo.iter().map(closed_chunk).collect(),
                                    head: None,
                                };
                                if let Some((a, b)) = o.time_range() {
                                    self.update_ooo_time(a, b);
                                }
                                counts.ooo_mmapped_chunks += ooo.len() as u64;
                                HeadStats::add(&self.stats.chunks, ooo.len() as u64);
                                HeadStats::add(&self.stats.chunks_created, ooo.len() as u64);
                                st.ooo = Some(Box::new(o));
                            }
                        }
                    }
                }
                Some(RecordType::Samples | RecordType::SamplesV2) => {
                    samples_buf.clear();
                    dec.samples(rec, &mut samples_buf)?;
                    let mut k = 0;
                    while k < samples_buf.len() {
                        let r = samples_buf[k].series_ref;
                        let found;
                        let s = match by_wal_ref.get(&r) {
                            Some(s) => s,
                            None => {
                                let target = aliases.get(&r).copied().unwrap_or(r);
                                match self.series.get_by_ref(target) {
                                    Some(x) => {
                                        found = x;
                                        &found
                                    }
                                    None => {
                                        counts.unknown_refs += 1;
                                        k += 1;
                                        continue;
                                    }
                                }
                            }
                        };
                        let mut st = s.state.lock();
                        while let Some(x) = samples_buf.get(k).filter(|x| x.series_ref == r) {
                            k += 1;
                            if x.t < min_valid {
                                continue;
                            }
                            let a = st.append(s.series_ref, x.t, x.v, ctx);
                            if a.ok {
                                counts.samples += 1;
                                mint = mint.min(x.t);
                                maxt = maxt.max(x.t);
                            }
                            chunks_created += u64::from(a.chunk_created);
                        }
                    }
                }
                Some(RecordType::Metadata) => {
                    meta_buf.clear();
                    dec.metadata(rec, &mut meta_buf)?;
                    for m in meta_buf.drain(..) {
                        let r = aliases.get(&m.series_ref).copied().unwrap_or(m.series_ref);
                        if let Some(s) = self.series.get_by_ref(r) {
                            s.state.lock().metadata = Some(Box::new(ember_model::Metadata {
                                metric_type: m.metric_type,
                                unit: m.unit,
                                help: m.help,
                            }));
                        }
                    }
                }
                _ => {
                    // Tombstones, exemplars, histograms, m-map markers and
                    // unknown types: the head keeps none of them yet.
                    dec.decode(rec)?;
                    counts.skipped_records += 1;
                }
            }
            Ok(())
        });
        let stats = stats.map_err(TsdbError::from)?;
        if let Some(c) = &stats.corruption {
            counts.wal_corruption = Some(c.to_string());
            HeadStats::add(&self.stats.wal_corruptions, 1);
            tracing::warn!(corruption = %c, "WAL was repaired; data after the damage is lost");
        }
        self.last_series_ref.fetch_max(last_ref, Ordering::AcqRel);
        HeadStats::add(&self.stats.chunks, chunks_created);
        HeadStats::add(&self.stats.chunks_created, chunks_created);
        HeadStats::add(&self.stats.wal_replay_unknown_refs, counts.unknown_refs);
        self.update_min_max_time(mint, maxt);
        if self.min_time() < min_valid && self.min_time() <= self.max_time() {
            self.min_time.store(min_valid, Ordering::Release);
        }
        if let Some(wbl) = &self.wbl {
            self.replay_wbl(wbl, &by_wal_ref, &aliases, mmapped.last_ref, &mut counts)?;
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
                samples = counts.unknown_refs,
                "unknown series references in the WAL"
            );
        }
        tracing::info!(
            checkpoint = ?stats.checkpoint,
            segments = ?stats.segments,
            records = stats.records,
            series = counts.series,
            samples = counts.samples,
            mmapped_chunks = counts.mmapped_chunks,
            "WAL replay completed"
        );
        Ok(counts)
    }

    /// Replays the WBL after the WAL, as Prometheus does: samples go into
    /// their series' out-of-order buffers (cutting chunks as at run time;
    /// no time limit applies), and an m-map marker empties its series'
    /// buffer, whose samples are in a chunk loaded from the files (unless
    /// the marker names a chunk after `last_chunk`, which was lost: then
    /// the samples stay). Damage at the end of the WBL is repaired like
    /// the WAL's.
    fn replay_wbl(
        &self,
        wbl: &Wal,
        by_wal_ref: &U64Map<Arc<MemSeries>>,
        aliases: &U64Map<u64>,
        last_chunk: HeadChunkRef,
        counts: &mut ReplayReport,
    ) -> Result<(), TsdbError> {
        let find = |r: u64| -> Option<Arc<MemSeries>> {
            match by_wal_ref.get(&r) {
                Some(s) => Some(s.clone()),
                None => self
                    .series
                    .get_by_ref(aliases.get(&r).copied().unwrap_or(r)),
            }
        };
        let cap = self.opts.out_of_order_cap_max;
        let files = self.files.as_ref();
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
                    let mut k = 0;
                    while k < samples_buf.len() {
                        let r = samples_buf[k].series_ref;
                        let Some(s) = find(r) else {
                            unknown += 1;
                            k += 1;
                            continue;
                        };
                        let mut st = s.state.lock();
                        let o = st.ooo.get_or_insert_with(Box::<OooState>::default);
                        while let Some(x) = samples_buf.get(k).filter(|x| x.series_ref == r) {
                            k += 1;
                            let res = o.insert(s.series_ref, x.t, x.v, cap, files);
                            chunks += u64::from(res.chunk_created);
                            if res.inserted {
                                counts.ooo_samples += 1;
                                mint = mint.min(x.t);
                                maxt = maxt.max(x.t);
                            }
                        }
                    }
                }
                Some(RecordType::MmapMarkers) => {
                    markers_buf.clear();
                    dec.mmap_markers(rec, &mut markers_buf)?;
                    for m in &markers_buf {
                        if m.mmap_ref > last_chunk.0 {
                            continue;
                        }
                        let Some(s) = find(m.series_ref) else {
                            unknown += 1;
                            continue;
                        };
                        let mut st = s.state.lock();
                        if let Some(o) = st.ooo.as_deref_mut() {
                            dropped_heads += u64::from(o.head.take().is_some());
                        }
                    }
                }
                _ => {
                    dec.decode(rec)?;
                    counts.skipped_records += 1;
                }
            }
            Ok(())
        });
        let stats = stats.map_err(|e| TsdbError::from(e).context("replay WBL"))?;
        if let Some(c) = &stats.corruption {
            counts.wbl_corruption = Some(c.to_string());
            tracing::warn!(corruption = %c, "WBL was repaired; out-of-order data after the damage is lost");
        }
        self.update_ooo_time(mint, maxt);
        HeadStats::add(&self.stats.chunks, chunks);
        HeadStats::sub(&self.stats.chunks, dropped_heads);
        HeadStats::add(&self.stats.chunks_created, chunks);
        HeadStats::add(&self.stats.wbl_replay_unknown_refs, unknown);
        counts.wbl_unknown_refs = unknown;
        if unknown > 0 {
            tracing::warn!(samples = unknown, "unknown series references in the WBL");
        }
        tracing::info!(
            segments = ?stats.segments,
            records = stats.records,
            samples = counts.ooo_samples,
            mmapped_chunks = counts.ooo_mmapped_chunks,
            "WBL replay completed"
        );
        Ok(())
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
