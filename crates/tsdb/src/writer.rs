//! Building a block from series and writing it to disk.
//!
//! [`BlockWriter`] plays the part of the head in Prometheus' block writer
//! (`tsdb.BlockWriter`, which promtool's backfill uses): samples are
//! appended per series in time order and packed into XOR chunks as they
//! arrive, cut by the head's rule ([`ember_chunks::ChunkCutter`]), so a
//! block written from the same samples has the same chunks as one written
//! by Prometheus. [`BlockWriter::flush`] then writes the block the way a
//! level-1 compaction does: series in label order, their chunks into
//! `chunks/`, the index, `meta.json` and an empty `tombstones` file, all
//! inside `<dir>/<ULID>.tmp-for-creation`, which is synced and renamed to
//! `<dir>/<ULID>` only when complete. On any error the temporary
//! directory is removed, so nothing half-written is left behind.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use ember_chunks::{ChunkCutter, ChunkStats, CutOptions, Encoding, XorChunk};
use ember_index::{ChunkMeta, IndexWriter};
use ember_model::Labels;
use ulid::Ulid;

use crate::chunk_file::{sync_dir, ChunkWriter, CHUNKS_DIR, DEFAULT_SEGMENT_SIZE};
use crate::error::{IoContext, TsdbError};
use crate::meta::{BlockMeta, BlockStats};
use crate::tombstones::Tombstones;

/// Suffix of a block directory being written.
pub const TMP_FOR_CREATION_SUFFIX: &str = ".tmp-for-creation";
/// Name of the index file inside a block.
pub const INDEX_FILENAME: &str = "index";

/// Settings of a [`BlockWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockWriterOptions {
    /// Width of the aligned chunk ranges, in ms: no chunk spans two of
    /// them. Prometheus' block writer uses its block size; promtool's
    /// backfill passes twice the block duration.
    pub chunk_range: i64,
    /// Target samples per chunk (120 in Prometheus).
    pub samples_per_chunk: usize,
    /// Cut chunks before they could exceed this many bytes (Prometheus 3's
    /// rule); `None`, as in Prometheus 2.x, disables it.
    pub max_chunk_bytes: Option<usize>,
    /// Largest chunk segment file.
    pub segment_size: u64,
}

impl Default for BlockWriterOptions {
    /// Prometheus 2.x's settings for 2h blocks.
    fn default() -> Self {
        BlockWriterOptions {
            chunk_range: 2 * 3_600_000,
            samples_per_chunk: 120,
            max_chunk_bytes: None,
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }
}

/// A handle for a series of a [`BlockWriter`], to append without looking
/// its labels up again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(pub u32);

/// A finished chunk waiting to be written.
struct ClosedChunk {
    min_time: i64,
    max_time: i64,
    data: Box<[u8]>,
}

/// One series being built.
struct SeriesBuf {
    labels: Labels,
    closed: Vec<ClosedChunk>,
    open: XorChunk,
    open_min: i64,
    open_max: i64,
    /// Value of the newest sample (whose timestamp is `open_max`).
    last_value: f64,
    cutter: ChunkCutter,
}

/// What a block flush produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenBlock {
    /// The block's meta.
    pub meta: BlockMeta,
    /// The block's directory.
    pub dir: PathBuf,
    /// Bytes on disk: chunks, index, tombstones and meta, as promtool's
    /// `SIZE` column counts them.
    pub size: u64,
}

/// Collects series and writes them as one block.
///
/// Append samples of each series in increasing time order, through
/// [`append`](Self::append) (by labels) or
/// [`series_id`](Self::series_id) + [`append_id`](Self::append_id);
/// series may be interleaved. Then [`flush`](Self::flush).
///
/// Memory: the encoded chunks (about 1–2 bytes per sample for regular
/// scrapes) plus the labels of each series.
pub struct BlockWriter {
    opts: BlockWriterOptions,
    cut: CutOptions,
    ids: HashMap<Labels, SeriesId>,
    series: Vec<SeriesBuf>,
    min_time: i64,
    max_time: i64,
    num_samples: u64,
}

impl BlockWriter {
    /// An empty writer.
    pub fn new(opts: BlockWriterOptions) -> Self {
        BlockWriter {
            cut: CutOptions {
                samples_per_chunk: opts.samples_per_chunk.max(1),
                chunk_range: opts.chunk_range.max(1),
                max_chunk_bytes: opts.max_chunk_bytes,
            },
            opts,
            ids: HashMap::new(),
            series: Vec::new(),
            min_time: i64::MAX,
            max_time: i64::MIN,
            num_samples: 0,
        }
    }

    /// The writer's settings.
    pub fn options(&self) -> &BlockWriterOptions {
        &self.opts
    }

    /// The id of the series `labels`, created if new. Fails on an empty
    /// label set.
    pub fn series_id(&mut self, labels: &Labels) -> Result<SeriesId, TsdbError> {
        if let Some(id) = self.ids.get(labels) {
            return Ok(*id);
        }
        if labels.is_empty() {
            return Err(TsdbError::InvalidInput("empty label set".into()));
        }
        let id =
            SeriesId(u32::try_from(self.series.len()).map_err(|_| {
                TsdbError::InvalidInput("more than 2^32 series in one block".into())
            })?);
        self.series.push(SeriesBuf {
            labels: labels.clone(),
            closed: Vec::new(),
            open: XorChunk::new(),
            open_min: 0,
            open_max: 0,
            last_value: 0.0,
            cutter: ChunkCutter::new(0, &self.cut),
        });
        self.ids.insert(labels.clone(), id);
        Ok(id)
    }

    /// The labels of series `id`.
    pub fn labels(&self, id: SeriesId) -> Option<&Labels> {
        self.series.get(id.0 as usize).map(|s| &s.labels)
    }

    /// The newest sample of series `id`, if it has one.
    pub fn last_sample(&self, id: SeriesId) -> Option<(i64, f64)> {
        let s = self.series.get(id.0 as usize)?;
        (s.open.num_samples() > 0 || !s.closed.is_empty()).then_some((s.open_max, s.last_value))
    }

    /// Appends a sample to the series `labels`.
    ///
    /// A timestamp before the series' newest one is an
    /// [`OutOfOrderSample`](TsdbError::OutOfOrderSample); the newest
    /// timestamp again is ignored if the value is bit-for-bit the same and a
    /// [`DuplicateSample`](TsdbError::DuplicateSample) otherwise, as in
    /// Prometheus' head.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), TsdbError> {
        let id = self.series_id(labels)?;
        if let Some((last_t, last_v)) = self.last_sample(id) {
            if t < last_t {
                return Err(TsdbError::OutOfOrderSample {
                    labels: labels.to_string(),
                    t,
                    last: last_t,
                });
            }
            if t == last_t {
                if v.to_bits() == last_v.to_bits() {
                    return Ok(());
                }
                return Err(TsdbError::DuplicateSample {
                    labels: labels.to_string(),
                    t,
                });
            }
        }
        self.append_id(id, t, v)?;
        Ok(())
    }

    /// Appends a sample to series `id` if it is newer than the series'
    /// newest sample; returns whether it was appended (older samples and
    /// repeated timestamps are dropped, as Prometheus' head drops them
    /// within one commit). Fails only on an unknown id or a full chunk.
    pub fn append_id(&mut self, id: SeriesId, t: i64, v: f64) -> Result<bool, TsdbError> {
        let cut = self.cut;
        let s = self
            .series
            .get_mut(id.0 as usize)
            .ok_or_else(|| TsdbError::InvalidInput(format!("unknown series id {}", id.0)))?;
        let n = s.open.num_samples();
        if n == 0 && s.closed.is_empty() {
            s.cutter = ChunkCutter::new(t, &cut);
            s.open_min = t;
        } else {
            if t <= s.open_max {
                return Ok(false);
            }
            let stats = ChunkStats {
                min_time: s.open_min,
                max_time: s.open_max,
                num_samples: n,
                num_bytes: s.open.bytes().len(),
            };
            if s.cutter.should_cut(&cut, t, &stats) {
                let full = std::mem::take(&mut s.open);
                s.closed.push(ClosedChunk {
                    min_time: s.open_min,
                    max_time: s.open_max,
                    data: full.into_bytes().into_boxed_slice(),
                });
                s.open_min = t;
            }
        }
        s.open
            .append(t, v)
            .map_err(|e| TsdbError::InvalidInput(format!("append to chunk: {e}")))?;
        s.open_max = t;
        s.last_value = v;
        self.num_samples += 1;
        self.min_time = self.min_time.min(t);
        self.max_time = self.max_time.max(t);
        Ok(true)
    }

    /// Adds a whole series: its samples in time order (see
    /// [`append`](Self::append) for the rules).
    pub fn add_series(
        &mut self,
        labels: &Labels,
        samples: impl IntoIterator<Item = (i64, f64)>,
    ) -> Result<(), TsdbError> {
        for (t, v) in samples {
            self.append(labels, t, v)?;
        }
        Ok(())
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Number of samples appended.
    pub fn num_samples(&self) -> u64 {
        self.num_samples
    }

    /// The oldest and newest timestamps appended, if any.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        (self.num_samples > 0).then_some((self.min_time, self.max_time))
    }

    /// Writes the block into `dir` under a new ULID. Returns `None`, and
    /// writes nothing, if no sample was appended.
    pub fn flush(self, dir: &Path) -> Result<Option<WrittenBlock>, TsdbError> {
        self.flush_with_ulid(dir, Ulid::new())
    }

    /// Like [`flush`](Self::flush) with a given ULID. The block covers
    /// its samples, `[oldest, newest + 1)`, as Prometheus' block writer
    /// sets it.
    pub fn flush_with_ulid(
        self,
        dir: &Path,
        ulid: Ulid,
    ) -> Result<Option<WrittenBlock>, TsdbError> {
        let Some((oldest, newest)) = self.time_range() else {
            return Ok(None);
        };
        self.flush_inner(dir, ulid, (oldest, newest.saturating_add(1)), &[])
    }

    /// Like [`flush`](Self::flush), but the block covers `[min_time,
    /// max_time)` (as Prometheus' compactor sets the range of a block it
    /// writes from the head) and its meta carries `hints` (such as
    /// `from-out-of-order`). Fails if a sample lies outside the range.
    pub fn flush_range(
        self,
        dir: &Path,
        min_time: i64,
        max_time: i64,
        hints: &[&str],
    ) -> Result<Option<WrittenBlock>, TsdbError> {
        let Some((lo, hi)) = self.time_range() else {
            return Ok(None);
        };
        if lo < min_time || hi >= max_time {
            return Err(TsdbError::InvalidInput(format!(
                "samples [{lo}, {hi}] outside the block range [{min_time}, {max_time})"
            )));
        }
        self.flush_inner(dir, Ulid::new(), (min_time, max_time), hints)
    }

    fn flush_inner(
        self,
        dir: &Path,
        ulid: Ulid,
        (min_time, max_time): (i64, i64),
        hints: &[&str],
    ) -> Result<Option<WrittenBlock>, TsdbError> {
        let final_dir = dir.join(ulid.to_string());
        let tmp = dir.join(format!("{ulid}{TMP_FOR_CREATION_SUFFIX}"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).at(&tmp)?;
        }
        fs::create_dir_all(&tmp).at(&tmp)?;
        let res = self.write_into(&tmp, ulid, min_time, max_time, hints);
        let (meta, size) = match res {
            Ok(ok) => ok,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = fs::rename(&tmp, &final_dir).at(&final_dir) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        sync_dir(dir)?;
        tracing::debug!(
            ulid = %ulid,
            min_time = meta.min_time,
            max_time = meta.max_time,
            series = meta.stats.num_series,
            samples = meta.stats.num_samples,
            "block written"
        );
        Ok(Some(WrittenBlock {
            meta,
            dir: final_dir,
            size,
        }))
    }

    /// Writes chunks, index, meta and tombstones into `tmp` and syncs it.
    fn write_into(
        mut self,
        tmp: &Path,
        ulid: Ulid,
        min_time: i64,
        max_time: i64,
        hints: &[&str],
    ) -> Result<(BlockMeta, u64), TsdbError> {
        // Close every open chunk.
        for s in &mut self.series {
            if s.open.num_samples() > 0 {
                let open = std::mem::take(&mut s.open);
                s.closed.push(ClosedChunk {
                    min_time: s.open_min,
                    max_time: s.open_max,
                    data: open.into_bytes().into_boxed_slice(),
                });
            }
        }
        let mut order: Vec<usize> = (0..self.series.len())
            .filter(|&i| !self.series[i].closed.is_empty())
            .collect();
        order.sort_unstable_by(|&a, &b| self.series[a].labels.cmp(&self.series[b].labels));

        let mut symbols: Vec<&str> = Vec::new();
        for &i in &order {
            for l in self.series[i].labels.iter() {
                symbols.push(l.name);
                symbols.push(l.value);
            }
        }
        symbols.sort_unstable();
        symbols.dedup();

        let index_path = tmp.join(INDEX_FILENAME);
        let index_err = |error| TsdbError::Index {
            path: index_path.clone(),
            error,
        };
        let mut chunks =
            ChunkWriter::with_segment_size(tmp.join(CHUNKS_DIR), self.opts.segment_size)?;
        let mut index = IndexWriter::create(&index_path).map_err(index_err)?;
        for s in &symbols {
            index.add_symbol(s).map_err(index_err)?;
        }
        drop(symbols);

        let mut stats = BlockStats::default();
        let mut views: Vec<(Encoding, &[u8])> = Vec::new();
        let mut refs = Vec::new();
        let mut metas = Vec::new();
        for &i in &order {
            let s = &self.series[i];
            views.clear();
            views.extend(s.closed.iter().map(|c| (Encoding::Xor, &c.data[..])));
            refs.clear();
            chunks.write_chunks(&views, &mut refs)?;
            metas.clear();
            for (c, r) in s.closed.iter().zip(&refs) {
                metas.push(ChunkMeta {
                    min_time: c.min_time,
                    max_time: c.max_time,
                    chunk_ref: r.0,
                });
                let n = c
                    .data
                    .get(..2)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                stats.num_samples += u64::from(n);
            }
            index.add_series(&s.labels, &metas).map_err(index_err)?;
            stats.num_series += 1;
            stats.num_chunks += s.closed.len() as u64;
        }
        let chunk_bytes = chunks.finish()?;
        let index_file = index.finish().map_err(index_err)?;
        let index_bytes = index_file.get_ref().metadata().at(&index_path)?.len();
        drop(index_file);

        let mut meta = BlockMeta::new_level1(ulid, min_time, max_time, stats);
        meta.compaction.hints = hints.iter().map(|h| h.to_string()).collect();
        let meta_bytes = meta.write(tmp)?;
        let tomb_bytes = Tombstones::new().write(tmp)?;
        sync_dir(tmp)?;
        Ok((meta, chunk_bytes + index_bytes + meta_bytes + tomb_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_model::labels;

    #[test]
    fn chunks_are_cut_at_120_samples() {
        let mut w = BlockWriter::new(BlockWriterOptions::default());
        let l = labels!("__name__" => "up");
        w.add_series(&l, (0..480).map(|i| (i * 15_000, i as f64)))
            .unwrap();
        let s = &w.series[0];
        assert_eq!(s.closed.len(), 3);
        assert_eq!(s.open.num_samples(), 120);
        assert!(s
            .closed
            .iter()
            .all(|c| u16::from_be_bytes([c.data[0], c.data[1]]) == 120));
        assert_eq!(w.last_sample(SeriesId(0)), Some((479 * 15_000, 479.0)));
    }

    #[test]
    fn append_rules() {
        let mut w = BlockWriter::new(BlockWriterOptions::default());
        let l = labels!("__name__" => "x");
        w.append(&l, 10, 1.0).unwrap();
        w.append(&l, 10, 1.0).unwrap();
        assert!(matches!(
            w.append(&l, 10, 2.0),
            Err(TsdbError::DuplicateSample { t: 10, .. })
        ));
        let e = w.append(&l, 5, 1.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "out of order sample for series {__name__=\"x\"}: timestamp 5 is before 10"
        );
        assert!(w.append(&Labels::empty(), 1, 1.0).is_err());
        let id = w.series_id(&l).unwrap();
        assert!(!w.append_id(id, 10, 3.0).unwrap());
        assert!(w.append_id(id, 11, 3.0).unwrap());
        assert_eq!(w.num_samples(), 2);
        assert_eq!(w.time_range(), Some((10, 11)));
    }

    #[test]
    fn empty_writer_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let w = BlockWriter::new(BlockWriterOptions::default());
        assert!(w.flush(dir.path()).unwrap().is_none());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn explicit_block_range() {
        let dir = tempfile::tempdir().unwrap();
        let opts = BlockWriterOptions::default();
        let l = labels!("__name__" => "x");
        let mut w = BlockWriter::new(opts);
        w.append(&l, 10, 1.0).unwrap();
        w.append(&l, 20, 1.0).unwrap();
        let b = w.flush_range(dir.path(), 0, 100, &[]).unwrap().unwrap();
        assert_eq!((b.meta.min_time, b.meta.max_time), (0, 100));

        let mut w = BlockWriter::new(opts);
        w.append(&l, 100, 1.0).unwrap();
        assert!(w.flush_range(dir.path(), 0, 100, &[]).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_flush_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = BlockWriter::new(BlockWriterOptions::default());
        w.append(&labels!("__name__" => "x"), 1, 1.0).unwrap();
        // The final directory exists as a file: the rename fails.
        let id = Ulid::new();
        fs::create_dir(dir.path().join(id.to_string())).unwrap();
        fs::write(dir.path().join(id.to_string()).join("f"), b"x").unwrap();
        assert!(w.flush_with_ulid(dir.path(), id).is_err());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [id.to_string()]);
    }
}
