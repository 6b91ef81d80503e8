//! Out-of-order samples: the per-series buffer and chunks, the write-behind
//! log (`wbl/`), and compacting them into blocks.
//!
//! A series' out-of-order samples go into a small buffer kept sorted by
//! time (Prometheus' `OOOChunk`), at most `out_of_order_cap_max` samples;
//! when it is full the next sample first turns it into an XOR chunk
//! written to the head chunk files with the out-of-order flag. Those
//! chunks overlap each other and the in-order chunks arbitrarily, so
//! readers merge them (see [`merged_samples`]).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ember_chunks::XorChunk;
use ember_storage::{SampleIterator, ValueType};

use super::chunks_head::{HeadChunkFiles, HeadChunkRef};
use super::querier::{chunks_iterator, ChunksIterator};
use super::series::{close_chunk, read_loc, ChunkLoc, ChunkSnapshot, ClosedChunk, MemSeries};
use super::stats::HeadStats;
use super::Head;
use crate::compact::HINT_FROM_OUT_OF_ORDER;
use crate::error::TsdbError;
use crate::wal::record::{self, RefMmapMarker, RefSample};
use crate::writer::{BlockWriter, BlockWriterOptions, WrittenBlock};

/// Prometheus' default `out_of_order_cap_max`: samples in a series'
/// out-of-order buffer before it is cut into a chunk.
pub const DEFAULT_OUT_OF_ORDER_CAP_MAX: usize = 32;

/// The largest `out_of_order_cap_max` Prometheus accepts.
pub const MAX_OUT_OF_ORDER_CAP_MAX: usize = 255;

/// Name of the write-behind log directory (out-of-order samples) inside
/// the data directory.
pub const WBL_DIR: &str = "wbl";

/// A series' out-of-order samples.
#[derive(Debug, Default)]
pub(crate) struct OooState {
    /// Chunks cut from the buffer, in the order they were cut.
    pub(crate) mmapped: Vec<ClosedChunk>,
    /// The buffer receiving samples: sorted by time, one sample per
    /// timestamp. `None` until the first sample after a cut by compaction
    /// or replay (the next insert then logs an m-map marker, as in
    /// Prometheus).
    pub(crate) head: Option<Vec<(i64, f64)>>,
}

/// What [`OooState::insert`] did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OooInsert {
    /// The sample was added (false: its timestamp is in the buffer already).
    pub(crate) inserted: bool,
    /// A new buffer was started.
    pub(crate) chunk_created: bool,
    /// The m-map marker to log before the sample, if a new buffer was
    /// started: the reference of the chunk just written, or 0 when there
    /// was nothing to write.
    pub(crate) marker: Option<HeadChunkRef>,
}

/// What [`OooState::mmap_head`] did with the buffer.
enum Mmapped {
    /// It was missing or empty.
    Nothing,
    /// It went to the chunk files.
    Disk(HeadChunkRef),
    /// It is kept in memory (no chunk files, or writing failed).
    Memory,
}

impl OooState {
    /// Whether no sample is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.mmapped.is_empty() && self.head.as_ref().is_none_or(Vec::is_empty)
    }

    /// Inserts a sample, first cutting the buffer into a chunk if it
    /// holds `cap` samples.
    pub(crate) fn insert(
        &mut self,
        series_ref: u64,
        t: i64,
        v: f64,
        cap: usize,
        files: Option<&HeadChunkFiles>,
    ) -> OooInsert {
        let mut res = OooInsert::default();
        if self.head.as_ref().is_none_or(|h| h.len() >= cap) {
            res.marker = match self.mmap_head(series_ref, files) {
                Mmapped::Nothing => Some(HeadChunkRef(0)),
                Mmapped::Disk(r) => Some(r),
                // Not on disk: replay must rebuild it from the WBL.
                Mmapped::Memory => None,
            };
            self.head = Some(Vec::with_capacity(4));
            res.chunk_created = true;
        }
        let h = self.head.get_or_insert_with(Vec::new);
        let i = h.partition_point(|s| s.0 < t);
        if h.get(i).is_some_and(|s| s.0 == t) {
            return res;
        }
        h.insert(i, (t, v));
        res.inserted = true;
        res
    }

    /// Turns the buffer into a chunk (written to `files` if given).
    fn mmap_head(&mut self, series_ref: u64, files: Option<&HeadChunkFiles>) -> Mmapped {
        let Some(h) = self.head.take() else {
            return Mmapped::Nothing;
        };
        let (Some(first), Some(last)) = (h.first(), h.last()) else {
            return Mmapped::Nothing;
        };
        let c = close_chunk(series_ref, encode(&h), (first.0, last.0), files, true);
        let res = match c.loc {
            ChunkLoc::Disk(r) => Mmapped::Disk(r),
            ChunkLoc::Memory(_) => Mmapped::Memory,
        };
        self.mmapped.push(c);
        res
    }

    /// The oldest and newest out-of-order timestamps.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        let chunks = self.mmapped.iter().map(|c| (c.min_time, c.max_time));
        let head = self
            .head
            .iter()
            .filter_map(|h| Some((h.first()?.0, h.last()?.0)));
        chunks
            .chain(head)
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
    }

    /// The chunks overlapping `[mint, maxt]`: the first `limit` cut ones
    /// if given, otherwise all of them and then the buffer's samples in
    /// the range as a chunk.
    pub(crate) fn snapshot(
        &self,
        mint: i64,
        maxt: i64,
        limit: Option<usize>,
        files: Option<&HeadChunkFiles>,
    ) -> Result<Vec<ChunkSnapshot>, TsdbError> {
        let n = limit.unwrap_or(self.mmapped.len()).min(self.mmapped.len());
        let mut out = Vec::new();
        for c in &self.mmapped[..n] {
            if c.max_time >= mint && c.min_time <= maxt {
                out.push(read_loc(c, files)?);
            }
        }
        if let (None, Some(h)) = (limit, &self.head) {
            let lo = h.partition_point(|s| s.0 < mint);
            let hi = h.partition_point(|s| s.0 <= maxt);
            if let (Some(first), Some(last)) = (h.get(lo), hi.checked_sub(1).and_then(|i| h.get(i)))
            {
                if lo < hi {
                    out.push(ChunkSnapshot {
                        min_time: first.0,
                        max_time: last.0,
                        data: encode(&h[lo..hi]).into_bytes().into(),
                        origin: None,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The samples as an XOR chunk (at most [`MAX_OUT_OF_ORDER_CAP_MAX`] of
/// them, sorted, so appending cannot fail).
fn encode(samples: &[(i64, f64)]) -> XorChunk {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        if c.append(t, v).is_err() {
            break;
        }
    }
    c
}

/// Reads `it` to its end into `out`.
fn drain(mut it: ChunksIterator<'_>, out: &mut Vec<(i64, f64)>) -> Result<(), TsdbError> {
    while it.next() != ValueType::None {
        out.push(it.at());
    }
    match it.take_error() {
        Some(e) => Err(TsdbError::Storage(e)),
        None => Ok(()),
    }
}

/// One series' samples from its in-order chunks (kept in `[mint,
/// in_order_maxt]`) and its out-of-order chunks (kept in `[mint, maxt]`),
/// sorted by time. On equal timestamps the sample written first wins: the
/// in-order one, then the out-of-order chunks in the order they were cut
/// (Prometheus leaves this tie unspecified).
pub(crate) fn merged_samples(
    head: &Head,
    in_order: &[ChunkSnapshot],
    in_order_maxt: i64,
    ooo: &[ChunkSnapshot],
    mint: i64,
    maxt: i64,
) -> Result<Vec<(i64, f64)>, TsdbError> {
    let mut out = Vec::new();
    if !in_order.is_empty() {
        drain(
            chunks_iterator(head, in_order, mint, in_order_maxt),
            &mut out,
        )?;
    }
    for c in ooo {
        drain(
            chunks_iterator(head, std::slice::from_ref(c), mint, maxt),
            &mut out,
        )?;
    }
    // Stable: the first written of equal timestamps stays first.
    out.sort_by_key(|s| s.0);
    out.dedup_by_key(|s| s.0);
    Ok(out)
}

/// A WBL entry of a commit, in insertion order.
pub(crate) enum WblEntry {
    Sample(RefSample),
    Marker(RefMmapMarker),
}

/// Encodes entries as WBL records: each run of samples as a samples
/// record, each run of markers as an m-map markers record.
pub(crate) fn wbl_records(entries: &[WblEntry]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut samples = Vec::new();
    let mut markers = Vec::new();
    let flush =
        |samples: &mut Vec<RefSample>, markers: &mut Vec<RefMmapMarker>, out: &mut Vec<Vec<u8>>| {
            if !samples.is_empty() {
                let mut b = Vec::new();
                record::encode_samples(samples, &mut b);
                out.push(b);
                samples.clear();
            }
            if !markers.is_empty() {
                let mut b = Vec::new();
                record::encode_mmap_markers(markers, &mut b);
                out.push(b);
                markers.clear();
            }
        };
    for e in entries {
        match e {
            WblEntry::Sample(s) => {
                if !markers.is_empty() {
                    flush(&mut samples, &mut markers, &mut out);
                }
                samples.push(*s);
            }
            WblEntry::Marker(m) => {
                if !samples.is_empty() {
                    flush(&mut samples, &mut markers, &mut out);
                }
                markers.push(*m);
            }
        }
    }
    flush(&mut samples, &mut markers, &mut out);
    out
}

impl Head {
    /// Widens the head's out-of-order time range.
    pub(crate) fn update_ooo_time(&self, mint: i64, maxt: i64) {
        if mint <= maxt {
            self.ooo_min_time.fetch_min(mint, Ordering::AcqRel);
            self.ooo_max_time.fetch_max(maxt, Ordering::AcqRel);
        }
    }

    /// The oldest and newest out-of-order timestamps in the head, if it
    /// holds any (possibly wider than the data).
    pub fn ooo_time_range(&self) -> Option<(i64, i64)> {
        let (a, b) = (
            self.ooo_min_time.load(Ordering::Acquire),
            self.ooo_max_time.load(Ordering::Acquire),
        );
        (a <= b).then_some((a, b))
    }

    /// Writes the head's out-of-order samples into blocks in `dir` and
    /// drops them from the head, as Prometheus does after compacting the
    /// in-order head:
    ///
    /// 1. with appends of out-of-order samples paused, starts a new WBL
    ///    segment and cuts every series' out-of-order buffer into a chunk;
    /// 2. writes one block per aligned chunk range (`chunk_range`) holding
    ///    those chunks' samples, covering the whole range and marked with
    ///    the `from-out-of-order` hint (such blocks may overlap others:
    ///    the compactor merges them);
    /// 3. hands the blocks to `publish`, which makes them queryable (and
    ///    waits for the readers that might still need the head's copy; the
    ///    DB loads them into its block store, as Prometheus reloads its
    ///    blocks before truncating the out-of-order head);
    /// 4. drops the compacted chunks, garbage-collects, and deletes the WBL
    ///    segments before the one started in step 1.
    ///
    /// Samples inserted meanwhile stay for the next call. If writing a
    /// block fails, the blocks written by this call are removed and the
    /// samples stay in the head (their buffers cut into chunks); if
    /// `publish` fails, its error is returned and the samples stay in the
    /// head too (a block it did publish then holds a copy of them, which
    /// queries and compaction merge). Step 4 failing is only logged: the
    /// blocks hold the data, and the next call retries the WBL.
    pub fn compact_ooo(
        &self,
        dir: &Path,
        opts: BlockWriterOptions,
        publish: &mut dyn FnMut(&[WrittenBlock]) -> Result<(), TsdbError>,
    ) -> Result<Vec<WrittenBlock>, TsdbError> {
        let _one_at_a_time = self.ooo_compaction.lock();
        let files = self.files.as_ref();
        let (last_wbl, mut work, mint, maxt) = {
            let _g = self.ooo_lock.lock();
            let last_wbl = match &self.wbl {
                Some(w) => Some(w.next_segment().map_err(TsdbError::from)?),
                None => None,
            };
            let mut work: Vec<(Arc<MemSeries>, usize)> = Vec::new();
            let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
            for s in self.select_series(&[])? {
                let mut st = s.state.lock();
                let Some(o) = st.ooo.as_deref_mut() else {
                    continue;
                };
                o.mmap_head(s.series_ref, files);
                if let Some((a, b)) = o.time_range() {
                    mint = mint.min(a);
                    maxt = maxt.max(b);
                    work.push((s.clone(), o.mmapped.len()));
                }
            }
            if let Some(f) = files {
                // The chunks must be on disk before the WBL can go.
                f.flush_buffer()?;
            }
            (last_wbl, work, mint, maxt)
        };
        work.sort_unstable_by(|a, b| a.0.labels.cmp(&b.0.labels));
        let range = self.opts.chunk_range;
        let mut blocks: Vec<WrittenBlock> = Vec::new();
        let written = (|| {
            if mint > maxt {
                return Ok(());
            }
            let mut lo = mint.div_euclid(range).saturating_mul(range);
            while lo <= maxt {
                let hi = lo.saturating_add(range);
                let mut w = BlockWriter::new(opts);
                for (s, n) in &work {
                    let (chunks, deleted) = {
                        let st = s.state.lock();
                        let chunks = match st.ooo.as_deref() {
                            Some(o) => o.snapshot(lo, hi - 1, Some(*n), files)?,
                            None => Vec::new(),
                        };
                        (chunks, st.tombstones.clone())
                    };
                    if chunks.is_empty() {
                        continue;
                    }
                    let mut samples = merged_samples(self, &[], i64::MIN, &chunks, lo, hi - 1)?;
                    if let Some(d) = deleted {
                        samples.retain(|&(t, _)| !d.contains(t));
                    }
                    if samples.is_empty() {
                        continue;
                    }
                    let id = w.series_id(&s.labels)?;
                    for (t, v) in samples {
                        w.append_id(id, t, v)?;
                    }
                }
                if let Some(b) = w.flush_range(dir, lo, hi, &[HINT_FROM_OUT_OF_ORDER])? {
                    tracing::info!(block = %b.meta.ulid, mint = lo, maxt = hi, "wrote out-of-order block");
                    blocks.push(b);
                }
                if hi == i64::MAX {
                    break;
                }
                lo = hi;
            }
            Ok::<(), TsdbError>(())
        })();
        if let Err(e) = written {
            for b in &blocks {
                if let Err(e2) = std::fs::remove_dir_all(&b.dir) {
                    tracing::warn!(dir = %b.dir.display(), error = %e2, "removing a block of a failed out-of-order compaction failed");
                }
            }
            return Err(e.context("compact out-of-order head"));
        }
        if !blocks.is_empty() {
            publish(&blocks)?;
        }
        if let Err(e) = self.truncate_ooo(&work, last_wbl) {
            tracing::error!(error = %e, "truncating the out-of-order head after its compaction failed; its blocks hold the data");
        }
        Ok(blocks)
    }

    /// Drops the first `n` out-of-order chunks of each series listed,
    /// garbage-collects, and truncates the WBL before `last_wbl`.
    fn truncate_ooo(
        &self,
        work: &[(Arc<MemSeries>, usize)],
        last_wbl: Option<u32>,
    ) -> Result<(), TsdbError> {
        let mut removed = 0u64;
        {
            let _g = self.ooo_lock.lock();
            for (s, n) in work {
                let mut st = s.state.lock();
                if let Some(o) = st.ooo.as_deref_mut() {
                    let n = (*n).min(o.mmapped.len());
                    o.mmapped.drain(..n);
                    removed += n as u64;
                    if o.is_empty() {
                        st.ooo = None;
                    }
                }
            }
            // Recompute the range; inserts wait for the lock.
            let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
            for s in self.select_series(&[])? {
                let st = s.state.lock();
                if let Some((a, b)) = st.ooo.as_deref().and_then(OooState::time_range) {
                    mint = mint.min(a);
                    maxt = maxt.max(b);
                }
            }
            self.ooo_min_time.store(mint, Ordering::Release);
            self.ooo_max_time.store(maxt, Ordering::Release);
        }
        HeadStats::sub(&self.stats.chunks, removed);
        HeadStats::add(&self.stats.chunks_removed, removed);
        {
            let _g = self.gc_lock.lock();
            self.gc()?;
        }
        if let (Some(w), Some(last)) = (&self.wbl, last_wbl) {
            w.truncate(last)
                .map_err(|e| TsdbError::from(e).context("truncate WBL"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_stays_sorted_and_cuts_when_full() {
        let mut o = OooState::default();
        let first = o.insert(1, 10, 1.0, 3, None);
        assert!(first.inserted && first.chunk_created);
        assert_eq!(first.marker, Some(HeadChunkRef(0)));
        assert!(o.insert(1, 5, 2.0, 3, None).inserted);
        assert!(
            !o.insert(1, 10, 9.0, 3, None).inserted,
            "duplicate timestamp"
        );
        assert!(o.insert(1, 7, 3.0, 3, None).inserted);
        assert_eq!(
            o.head.as_deref(),
            Some(&[(5, 2.0), (7, 3.0), (10, 1.0)][..])
        );
        // Full: the next sample cuts a chunk (kept in memory: no marker).
        let r = o.insert(1, 1, 4.0, 3, None);
        assert!(r.inserted && r.chunk_created);
        assert_eq!(r.marker, None);
        assert_eq!(o.mmapped.len(), 1);
        assert_eq!((o.mmapped[0].min_time, o.mmapped[0].max_time), (5, 10));
        assert_eq!(o.time_range(), Some((1, 10)));
        let snap = o.snapshot(6, 100, None, None).unwrap();
        assert_eq!(snap.len(), 1);
        assert!(o.snapshot(0, 4, Some(1), None).unwrap().is_empty());
        assert_eq!(o.snapshot(0, 4, None, None).unwrap().len(), 1);
    }

    #[test]
    fn wbl_records_keep_the_order() {
        let s = |t| {
            WblEntry::Sample(RefSample {
                series_ref: 1,
                t,
                v: 0.0,
                st: 0,
            })
        };
        let m = WblEntry::Marker(RefMmapMarker {
            series_ref: 1,
            mmap_ref: 7,
        });
        let recs = wbl_records(&[s(1), s(2), m, s(3)]);
        let kinds: Vec<_> = recs
            .iter()
            .map(|r| record::RecordType::of(r).unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                record::RecordType::Samples,
                record::RecordType::MmapMarkers,
                record::RecordType::Samples
            ]
        );
        assert!(wbl_records(&[]).is_empty());
    }
}
