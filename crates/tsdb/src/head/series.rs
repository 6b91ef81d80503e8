//! Head series: per-series chunks, and the striped registry that finds
//! series by reference or by labels.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use ember_chunks::{ChunkCutter, ChunkStats, CutOptions, Encoding, XorChunk, XorIter};
use ember_model::{Labels, Metadata};
use parking_lot::{Mutex, RwLock};

use super::chunks_head::{HeadChunkFiles, HeadChunkRef};
use super::isolation::{ReadState, TxLog};
use super::ooo::OooState;
use crate::error::TsdbError;
use crate::tombstones::{Interval, Intervals};

/// Hashes `u64` keys by multiplication: series references are sequential
/// and label hashes already random, so a full hash function is not needed.
#[derive(Default, Clone, Copy)]
pub(crate) struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type U64Map<V> = HashMap<u64, V, BuildHasherDefault<U64Hasher>>;

/// The hash of a label set: XXH64 of its compact encoding.
pub(crate) fn labels_hash(labels: &Labels) -> u64 {
    twox_hash::XxHash64::oneshot(0, labels.as_key().as_bytes())
}

/// Where a completed chunk's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum ChunkLoc {
    /// In a head chunk file.
    Disk(HeadChunkRef),
    /// In memory: the head has no chunk files, or writing failed.
    Memory(Arc<[u8]>),
}

/// A completed chunk of a series.
#[derive(Debug, Clone)]
pub(crate) struct ClosedChunk {
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    pub(crate) loc: ChunkLoc,
    pub(crate) num_samples: u16,
}

/// The chunk being appended to.
#[derive(Debug)]
pub(crate) struct OpenChunk {
    pub(crate) chunk: XorChunk,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    cutter: ChunkCutter,
}

/// What the series lock protects.
#[derive(Debug, Default)]
pub(crate) struct SeriesState {
    /// Completed chunks, oldest first.
    pub(crate) closed: Vec<ClosedChunk>,
    /// The chunk samples are appended to.
    pub(crate) open: Option<OpenChunk>,
    /// Value of the newest sample.
    pub(crate) last_value: f64,
    /// Samples ever appended (in order) to the series.
    pub(crate) appended: u64,
    /// Commits some reader may not see yet.
    pub(crate) txs: TxLog,
    /// An appender holds samples or metadata for the series: garbage
    /// collection must keep it.
    pub(crate) pending_commit: u32,
    /// Removed from the head by garbage collection: appenders that found
    /// it before must look the labels up again.
    pub(crate) deleted: bool,
    /// The newest metadata committed.
    pub(crate) metadata: Option<Box<Metadata>>,
    /// Out-of-order samples, once the series has had any.
    pub(crate) ooo: Option<Box<OooState>>,
    /// Deleted time ranges (see [`Head::delete`](super::Head::delete));
    /// boxed, as few series have any.
    pub(crate) tombstones: Option<Box<Intervals>>,
}

/// Settings for appending to series.
#[derive(Clone, Copy)]
pub(crate) struct ChunkCtx<'a> {
    pub(crate) cut: &'a CutOptions,
    pub(crate) files: Option<&'a HeadChunkFiles>,
}

/// What an append did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    /// The sample was added (false: not newer than the newest).
    pub(crate) ok: bool,
    /// A new chunk was started.
    pub(crate) chunk_created: bool,
}

impl SeriesState {
    /// Timestamp of the newest sample.
    pub(crate) fn max_time(&self) -> Option<i64> {
        match &self.open {
            Some(o) if o.chunk.num_samples() > 0 => Some(o.max_time),
            _ => self.closed.last().map(|c| c.max_time),
        }
    }

    /// Timestamp of the oldest sample.
    pub(crate) fn min_time(&self) -> Option<i64> {
        match self.closed.first() {
            Some(c) => Some(c.min_time),
            None => self
                .open
                .as_ref()
                .filter(|o| o.chunk.num_samples() > 0)
                .map(|o| o.min_time),
        }
    }

    /// Whether the series holds no sample.
    pub(crate) fn is_empty(&self) -> bool {
        self.closed.is_empty()
            && self
                .open
                .as_ref()
                .is_none_or(|o| o.chunk.num_samples() == 0)
    }

    /// Number of chunks (the open one included).
    pub(crate) fn num_chunks(&self) -> usize {
        self.closed.len() + usize::from(self.open.is_some())
    }

    /// Appends an in-order float sample. Samples not newer than the newest
    /// are refused (`ok == false`). A sample that must start a new chunk
    /// (Prometheus' cutting rule) closes the open one, which goes to the
    /// chunk files.
    pub(crate) fn append(
        &mut self,
        series_ref: u64,
        t: i64,
        v: f64,
        ctx: ChunkCtx<'_>,
    ) -> Appended {
        let mut created = false;
        let cut_now = match &mut self.open {
            None => {
                if self.closed.last().is_some_and(|c| c.max_time >= t) {
                    return Appended::default();
                }
                true
            }
            Some(o) => {
                let n = o.chunk.num_samples();
                if n > 0 && t <= o.max_time {
                    return Appended::default();
                }
                let stats = ChunkStats {
                    min_time: o.min_time,
                    max_time: o.max_time,
                    num_samples: n,
                    num_bytes: o.chunk.bytes().len(),
                };
                if n == 0 {
                    o.min_time = t;
                }
                o.cutter.should_cut(ctx.cut, t, &stats) || n >= XorChunk::MAX_SAMPLES
            }
        };
        if cut_now {
            self.cut(series_ref, t, ctx);
            created = true;
        }
        let Some(o) = self.open.as_mut() else {
            return Appended::default();
        };
        if o.chunk.append(t, v).is_err() {
            // Cannot happen: full chunks are cut above.
            return Appended::default();
        }
        o.max_time = t;
        self.last_value = v;
        self.appended += 1;
        Appended {
            ok: true,
            chunk_created: created,
        }
    }

    /// Closes the open chunk (if any) and opens one for a sample at `t`.
    fn cut(&mut self, series_ref: u64, t: i64, ctx: ChunkCtx<'_>) {
        if let Some(full) = self.open.take() {
            if full.chunk.num_samples() > 0 {
                // Grown one at a time: a chunk is cut every half hour or
                // so, and doubling would waste a third of the list.
                self.closed.reserve_exact(1);
                let range = (full.min_time, full.max_time);
                self.closed
                    .push(close_chunk(series_ref, full.chunk, range, ctx.files, false));
            }
        }
        self.open = Some(OpenChunk {
            chunk: XorChunk::new(),
            min_time: t,
            max_time: i64::MIN,
            cutter: ChunkCutter::new(t, ctx.cut),
        });
    }

    /// Marks `iv` deleted.
    pub(crate) fn add_tombstone(&mut self, iv: Interval) {
        self.tombstones.get_or_insert_default().add(iv);
    }

    /// Drops the in-order chunks that end before `mint`, and the deleted
    /// intervals that end before both `mint` and the series' oldest
    /// out-of-order sample (which they may still cover until out-of-order
    /// compaction takes it); returns how many chunks.
    pub(crate) fn truncate_before(&mut self, mint: i64) -> usize {
        let ooo_min = self.ooo.as_ref().and_then(|o| o.time_range()).map(|r| r.0);
        if let Some(t) = &mut self.tombstones {
            t.truncate_before(ooo_min.map_or(mint, |o| o.min(mint)));
            if t.is_empty() {
                self.tombstones = None;
            }
        }
        if let Some(o) = &self.open {
            if o.chunk.num_samples() > 0 && o.max_time < mint {
                let n = self.closed.len() + 1;
                self.closed.clear();
                self.closed.shrink_to_fit();
                self.open = None;
                return n;
            }
        }
        let n = self.closed.partition_point(|c| c.max_time < mint);
        if n > 0 {
            self.closed.drain(..n);
            self.closed.shrink_to_fit();
        }
        n
    }

    /// The lowest chunk file sequence the series references (in-order
    /// and out-of-order chunks).
    pub(crate) fn min_file_seq(&self) -> Option<u32> {
        let first_disk = |chunks: &[ClosedChunk]| {
            chunks.iter().find_map(|c| match c.loc {
                ChunkLoc::Disk(r) => Some(r.seq()),
                ChunkLoc::Memory(_) => None,
            })
        };
        let ooo = self.ooo.as_ref().and_then(|o| first_disk(&o.mmapped));
        match (first_disk(&self.closed), ooo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The oldest and newest timestamps of the series' samples, in order
    /// or out of order.
    pub(crate) fn data_range(&self) -> Option<(i64, i64)> {
        let in_order = self.min_time().zip(self.max_time());
        match (in_order, self.ooo.as_deref().and_then(OooState::time_range)) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        }
    }

    /// Whether the series holds out-of-order samples.
    pub(crate) fn has_ooo(&self) -> bool {
        self.ooo.as_ref().is_some_and(|o| !o.is_empty())
    }
}

/// Writes a full chunk to the files (flagged out-of-order if `ooo`), or
/// keeps it in memory.
pub(crate) fn close_chunk(
    series_ref: u64,
    chunk: XorChunk,
    (min_time, max_time): (i64, i64),
    files: Option<&HeadChunkFiles>,
    ooo: bool,
) -> ClosedChunk {
    let num_samples = chunk.num_samples() as u16;
    let loc = match files {
        Some(f) => match f.write_chunk(
            series_ref,
            min_time,
            max_time,
            Encoding::Xor,
            chunk.bytes(),
            ooo,
        ) {
            Ok(r) => ChunkLoc::Disk(r),
            Err(e) => {
                tracing::warn!(
                    series_ref,
                    error = %e,
                    "writing a head chunk failed; keeping it in memory"
                );
                ChunkLoc::Memory(Arc::from(chunk.into_bytes()))
            }
        },
        None => ChunkLoc::Memory(Arc::from(chunk.into_bytes())),
    };
    ClosedChunk {
        min_time,
        max_time,
        loc,
        num_samples,
    }
}

/// A series of the head.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) series_ref: u64,
    pub(crate) labels: Labels,
    pub(crate) state: Mutex<SeriesState>,
}

/// A chunk handed to a reader: its time range and bytes.
#[derive(Debug, Clone)]
pub(crate) struct ChunkSnapshot {
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    pub(crate) data: Bytes,
    /// Where it came from, for error messages.
    pub(crate) origin: Option<HeadChunkRef>,
}

impl MemSeries {
    pub(crate) fn new(series_ref: u64, labels: Labels) -> Self {
        MemSeries {
            series_ref,
            labels,
            state: Mutex::new(SeriesState::default()),
        }
    }

    /// What a reader sees of the series in `[mint, maxt]`: the in-order
    /// chunks holding samples `rs` may see (all committed samples without
    /// `rs`) with the newest visible timestamp, if `with_ooo` the
    /// out-of-order chunks overlapping the range (not isolated: every
    /// inserted sample), and the deleted intervals. Disk chunks are read (and checksummed) while the
    /// series is locked, so truncation cannot delete them underneath.
    pub(crate) fn snapshot(
        &self,
        mint: i64,
        maxt: i64,
        rs: Option<&ReadState>,
        files: Option<&HeadChunkFiles>,
        with_ooo: bool,
    ) -> Result<SeriesSnapshot, TsdbError> {
        let st = self.state.lock();
        let (chunks, in_order_maxt) = in_order_snapshot(&st, mint, maxt, rs, files)?;
        let ooo = match st.ooo.as_deref() {
            Some(o) if with_ooo => o.snapshot(mint, maxt, None, files)?,
            _ => Vec::new(),
        };
        Ok(SeriesSnapshot {
            chunks,
            maxt: in_order_maxt,
            ooo,
            deleted: st.tombstones.as_deref().cloned().unwrap_or_default(),
        })
    }
}

/// A series' chunks captured for a reader (see [`MemSeries::snapshot`]).
#[derive(Debug, Default)]
pub(crate) struct SeriesSnapshot {
    /// In-order chunks, oldest first.
    pub(crate) chunks: Vec<ChunkSnapshot>,
    /// The newest in-order timestamp the reader may see (at most the
    /// range's end).
    pub(crate) maxt: i64,
    /// Out-of-order chunks, in the order they were cut (the open one
    /// last); their ranges may overlap each other and the in-order ones.
    pub(crate) ooo: Vec<ChunkSnapshot>,
    /// The series' deleted intervals.
    pub(crate) deleted: Intervals,
}

/// The in-order part of [`MemSeries::snapshot`].
fn in_order_snapshot(
    st: &SeriesState,
    mint: i64,
    maxt: i64,
    rs: Option<&ReadState>,
    files: Option<&HeadChunkFiles>,
) -> Result<(Vec<ChunkSnapshot>, i64), TsdbError> {
    let total = st.appended;
    let visible = rs.map_or(total, |rs| st.txs.visible(total, rs));
    let mut hidden = total - visible;
    let mut maxt = maxt;
    // Walk back from the newest chunk past the hidden samples.
    if hidden > 0 {
        let mut limit: Option<(usize, u64)> = None; // (chunk index from the end, visible samples in it)
        let open_n = st.open.as_ref().map_or(0, |o| o.chunk.num_samples() as u64);
        let counts = st
            .open
            .iter()
            .map(|_| open_n)
            .chain(st.closed.iter().rev().map(|c| u64::from(c.num_samples)));
        for (i, n) in counts.enumerate() {
            if hidden < n {
                limit = Some((i, n - hidden));
                break;
            }
            hidden -= n;
            if hidden == 0 {
                limit = Some((i + 1, u64::MAX));
                break;
            }
        }
        let Some((idx, keep)) = limit else {
            return Ok((Vec::new(), maxt));
        };
        // Find the newest visible timestamp.
        let nchunks = st.num_chunks();
        if idx >= nchunks {
            return Ok((Vec::new(), maxt));
        }
        let boundary = if keep == u64::MAX {
            // Chunk `idx` from the end is entirely visible: its max.
            chunk_at_from_end(st, idx).map(|(_, max, _)| max)
        } else {
            let data = match chunk_at_from_end(st, idx) {
                Some((_, _, Some(bytes))) => Some(bytes),
                Some((_, _, None)) => closed_from_end(st, idx)
                    .map(|c| read_loc(c, files).map(|s| s.data))
                    .transpose()?,
                None => None,
            };
            data.and_then(|d| {
                XorIter::new(&d)
                    .ok()?
                    .take(keep as usize)
                    .filter_map(Result::ok)
                    .last()
                    .map(|(t, _)| t)
            })
        };
        match boundary {
            Some(b) => maxt = maxt.min(b),
            None => return Ok((Vec::new(), maxt)),
        }
    }
    let mut out = Vec::new();
    for c in &st.closed {
        if c.max_time < mint || c.min_time > maxt {
            continue;
        }
        out.push(read_loc(c, files)?);
    }
    if let Some(o) = &st.open {
        if o.chunk.num_samples() > 0 && o.max_time >= mint && o.min_time <= maxt {
            out.push(ChunkSnapshot {
                min_time: o.min_time,
                max_time: o.max_time,
                data: Bytes::copy_from_slice(o.chunk.bytes()),
                origin: None,
            });
        }
    }
    Ok((out, maxt))
}

/// Chunk `idx` counted from the newest: (min, max, bytes if open).
fn chunk_at_from_end(st: &SeriesState, idx: usize) -> Option<(i64, i64, Option<Bytes>)> {
    match (&st.open, idx) {
        (Some(o), 0) => Some((
            o.min_time,
            o.max_time,
            Some(Bytes::copy_from_slice(o.chunk.bytes())),
        )),
        _ => closed_from_end(st, idx).map(|c| (c.min_time, c.max_time, None)),
    }
}

fn closed_from_end(st: &SeriesState, idx: usize) -> Option<&ClosedChunk> {
    let i = idx.checked_sub(usize::from(st.open.is_some()))?;
    st.closed
        .len()
        .checked_sub(i + 1)
        .and_then(|k| st.closed.get(k))
}

/// The bytes of a completed chunk.
pub(crate) fn read_loc(
    c: &ClosedChunk,
    files: Option<&HeadChunkFiles>,
) -> Result<ChunkSnapshot, TsdbError> {
    match &c.loc {
        ChunkLoc::Memory(b) => Ok(ChunkSnapshot {
            min_time: c.min_time,
            max_time: c.max_time,
            data: Bytes::from_owner(b.clone()),
            origin: None,
        }),
        ChunkLoc::Disk(r) => {
            let files = files.ok_or_else(|| {
                TsdbError::InvalidInput(format!("head chunk {r} without chunk files"))
            })?;
            let hc = files.chunk(*r)?;
            if hc.encoding != Encoding::Xor {
                return Err(TsdbError::corrupted(
                    files.file_path(r.seq()),
                    Some(u64::from(r.offset())),
                    format!("head chunk has encoding {}, not XOR", hc.encoding),
                ));
            }
            Ok(ChunkSnapshot {
                min_time: c.min_time,
                max_time: c.max_time,
                data: hc.data,
                origin: Some(*r),
            })
        }
    }
}

/// The label-hash side of a stripe: one series per hash, plus the rare
/// collisions.
#[derive(Default)]
struct HashStripe {
    unique: U64Map<Arc<MemSeries>>,
    conflicts: U64Map<Vec<Arc<MemSeries>>>,
}

impl HashStripe {
    fn get(&self, hash: u64, labels: &Labels) -> Option<&Arc<MemSeries>> {
        if let Some(s) = self.unique.get(&hash) {
            if s.labels == *labels {
                return Some(s);
            }
        }
        self.conflicts
            .get(&hash)
            .and_then(|v| v.iter().find(|s| s.labels == *labels))
    }

    fn insert(&mut self, hash: u64, s: Arc<MemSeries>) {
        match self.unique.get(&hash) {
            None => {
                self.unique.insert(hash, s);
            }
            Some(_) => self.conflicts.entry(hash).or_default().push(s),
        }
    }

    fn remove(&mut self, hash: u64, series_ref: u64) {
        if self
            .unique
            .get(&hash)
            .is_some_and(|s| s.series_ref == series_ref)
        {
            self.unique.remove(&hash);
            // Promote a conflicting series.
            if let Some(v) = self.conflicts.get_mut(&hash) {
                if let Some(s) = v.pop() {
                    self.unique.insert(hash, s);
                }
                if v.is_empty() {
                    self.conflicts.remove(&hash);
                }
            }
            return;
        }
        if let Some(v) = self.conflicts.get_mut(&hash) {
            v.retain(|s| s.series_ref != series_ref);
            if v.is_empty() {
                self.conflicts.remove(&hash);
            }
        }
    }
}

/// The series registry: `ref → series` sharded by reference and
/// `label hash → series` sharded by hash, each shard behind its own lock.
pub(crate) struct StripeSeries {
    mask: u64,
    refs: Box<[RwLock<U64Map<Arc<MemSeries>>>]>,
    hashes: Box<[RwLock<HashStripe>]>,
}

impl StripeSeries {
    /// A registry with `size` stripes (rounded up to a power of two).
    pub(crate) fn new(size: usize) -> Self {
        let size = size.clamp(1, 1 << 20).next_power_of_two();
        StripeSeries {
            mask: size as u64 - 1,
            refs: (0..size).map(|_| RwLock::new(U64Map::default())).collect(),
            hashes: (0..size)
                .map(|_| RwLock::new(HashStripe::default()))
                .collect(),
        }
    }

    fn stripe(&self, x: u64) -> usize {
        (x & self.mask) as usize
    }

    pub(crate) fn get_by_ref(&self, series_ref: u64) -> Option<Arc<MemSeries>> {
        self.refs[self.stripe(series_ref)]
            .read()
            .get(&series_ref)
            .cloned()
    }

    pub(crate) fn get_by_hash(&self, hash: u64, labels: &Labels) -> Option<Arc<MemSeries>> {
        self.hashes[self.stripe(hash)]
            .read()
            .get(hash, labels)
            .cloned()
    }

    /// Adds `s` unless a series with its labels exists; returns the series
    /// registered and whether it is `s`.
    pub(crate) fn set_unless_present(
        &self,
        hash: u64,
        s: Arc<MemSeries>,
    ) -> (Arc<MemSeries>, bool) {
        {
            let mut h = self.hashes[self.stripe(hash)].write();
            if let Some(existing) = h.get(hash, &s.labels) {
                return (existing.clone(), false);
            }
            h.insert(hash, s.clone());
        }
        self.refs[self.stripe(s.series_ref)]
            .write()
            .insert(s.series_ref, s.clone());
        (s, true)
    }

    /// Garbage collection: calls `check` on every series with its lock
    /// held; series for which it returns true are removed (and marked
    /// deleted). Returns the removed series.
    pub(crate) fn gc(
        &self,
        mut check: impl FnMut(&MemSeries, &mut SeriesState) -> bool,
    ) -> Vec<Arc<MemSeries>> {
        let mut removed = Vec::new();
        for stripe in self.hashes.iter() {
            let mut h = stripe.write();
            let mut doomed: Vec<(u64, Arc<MemSeries>)> = Vec::new();
            let all = h.unique.iter().chain(
                h.conflicts
                    .iter()
                    .flat_map(|(k, v)| v.iter().map(move |s| (k, s))),
            );
            for (&hash, s) in all {
                let mut st = s.state.lock();
                if check(s, &mut st) {
                    st.deleted = true;
                    doomed.push((hash, s.clone()));
                }
            }
            for (hash, s) in doomed {
                h.remove(hash, s.series_ref);
                self.refs[self.stripe(s.series_ref)]
                    .write()
                    .remove(&s.series_ref);
                removed.push(s);
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_model::labels;

    fn ctx(cut: &CutOptions) -> ChunkCtx<'_> {
        ChunkCtx { cut, files: None }
    }

    #[test]
    fn cuts_like_prometheus() {
        let cut = CutOptions::default();
        let mut st = SeriesState::default();
        for i in 0..480 {
            let a = st.append(1, i * 15_000, i as f64, ctx(&cut));
            assert!(a.ok);
            assert_eq!(a.chunk_created, i % 120 == 0, "sample {i}");
        }
        assert_eq!(st.closed.len(), 3);
        assert!(st.closed.iter().all(|c| c.num_samples == 120));
        assert_eq!(st.open.as_ref().unwrap().chunk.num_samples(), 120);
        assert!(!st.append(1, 479 * 15_000, 0.0, ctx(&cut)).ok);
        assert_eq!(st.appended, 480);
        assert_eq!(st.max_time(), Some(479 * 15_000));
        assert_eq!(st.min_time(), Some(0));
        assert_eq!(st.truncate_before(120 * 15_000), 1);
        assert_eq!(st.min_time(), Some(120 * 15_000));
        assert_eq!(st.truncate_before(i64::MAX), 3);
        assert!(st.is_empty());
        // A sample older than the truncated data still can't go in first.
        st.closed.push(ClosedChunk {
            min_time: 0,
            max_time: 100,
            loc: ChunkLoc::Memory(Arc::from(vec![0u8, 0])),
            num_samples: 0,
        });
        assert!(!st.append(1, 100, 0.0, ctx(&cut)).ok);
        assert!(st.append(1, 101, 0.0, ctx(&cut)).ok);
    }

    #[test]
    fn truncation_drops_the_deleted_intervals_before_it() {
        let cut = CutOptions::default();
        let mut st = SeriesState::default();
        for t in 0..10 {
            st.append(1, t, 0.0, ctx(&cut));
        }
        st.add_tombstone(Interval::new(1, 2));
        st.add_tombstone(Interval::new(4, 6));
        st.truncate_before(5);
        let left = st.tombstones.as_deref().map(Intervals::as_slice);
        assert_eq!(left, Some(&[Interval::new(4, 6)][..]));
        st.truncate_before(7);
        assert!(st.tombstones.is_none());
    }

    #[test]
    fn per_series_memory_stays_small() {
        // The fixed part of a series (its open chunk's 128-byte buffer and
        // its labels come on top; out-of-order data and deleted intervals
        // cost one pointer each until the series has some). With the `Arc`
        // counts, 240 bytes: one 256-byte glibc malloc chunk.
        assert!(
            std::mem::size_of::<MemSeries>() <= 224,
            "{}",
            std::mem::size_of::<MemSeries>()
        );
        assert!(std::mem::size_of::<ClosedChunk>() <= 40);
    }

    #[test]
    fn stripes_handle_hash_collisions() {
        let stripes = StripeSeries::new(4);
        let a = labels!("a" => "1");
        let b = labels!("a" => "2");
        let sa = Arc::new(MemSeries::new(1, a.clone()));
        let sb = Arc::new(MemSeries::new(2, b.clone()));
        assert!(stripes.set_unless_present(42, sa).1);
        assert!(stripes.set_unless_present(42, sb).1);
        let dup = Arc::new(MemSeries::new(3, b.clone()));
        let (got, created) = stripes.set_unless_present(42, dup);
        assert!(!created);
        assert_eq!(got.series_ref, 2);
        assert_eq!(stripes.get_by_hash(42, &a).unwrap().series_ref, 1);
        assert_eq!(stripes.get_by_hash(42, &b).unwrap().series_ref, 2);
        assert!(stripes.get_by_ref(3).is_none());
        let removed = stripes.gc(|s, _| s.series_ref == 1);
        assert_eq!(removed.len(), 1);
        assert!(removed[0].state.lock().deleted);
        assert!(stripes.get_by_hash(42, &a).is_none());
        assert_eq!(stripes.get_by_hash(42, &b).unwrap().series_ref, 2);
        assert!(stripes.get_by_ref(1).is_none());
    }
}
