//! Reading a block: [`Block`] opens a block directory read-only and
//! answers queries through the [`ember_storage`] traits; [`open_blocks`]
//! opens every block of a data directory.
//!
//! A select resolves its matchers to postings with `ember-index`'s planner,
//! reads each series' labels and chunk metadata from the index (series IDs
//! follow label order, so results come sorted for free), keeps the chunks
//! that overlap the querier's range and are not entirely deleted, and
//! decodes them lazily, in place in the mapped chunk segments. Samples
//! outside the range or inside a tombstone are skipped while iterating.
//! Chunks of encodings other than XOR (native histograms, Prometheus 3's
//! XOR2, ...) are skipped and counted; the count comes back as a warning
//! of the series set.

use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ember_chunks::{Encoding, XorIter};
use ember_index::{ChunkMeta, IndexReader, RoaringBitmap};
use ember_model::{Labels, Matcher, Timestamp};
use ember_storage::{
    LabelHints, MergeQuerier, Querier, Queryable, SampleIterator, SelectHints, Series, SeriesSet,
    StorageError, Warnings,
};
use ulid::Ulid;

use crate::chunk_file::{ChunkReader, ChunkRef, CHUNKS_DIR};
use crate::chunk_iter::{ChunkList, ChunkListIterator};
use crate::error::{IoContext, TsdbError};
use crate::meta::BlockMeta;
use crate::mmap;
use crate::tombstones::{Intervals, Tombstones};
use crate::writer::INDEX_FILENAME;

/// Bytes on disk of a block's parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockSize {
    /// `meta.json`.
    pub meta: u64,
    /// `index`.
    pub index: u64,
    /// All chunk segments.
    pub chunks: u64,
    /// `tombstones` (0 if absent).
    pub tombstones: u64,
}

impl BlockSize {
    /// The total, as Prometheus' `Block.Size()` (promtool's `SIZE`).
    pub fn total(&self) -> u64 {
        self.meta + self.index + self.chunks + self.tombstones
    }
}

/// A block opened read-only: its meta, index, chunks and tombstones.
///
/// Opening reads `meta.json` and the tombstones, maps the index and the
/// chunk segments, and checks their headers, the index's table of contents,
/// symbol table and postings offset table. Series entries and chunks are
/// checked (CRC32C) when they are read. Nothing is ever written.
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: ChunkReader,
    tombstones: Tombstones,
    size: BlockSize,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("dir", &self.dir)
            .field("meta", &self.meta)
            .field("size", &self.size)
            .finish()
    }
}

impl Block {
    /// Opens the block in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, TsdbError> {
        let dir = dir.as_ref().to_path_buf();
        let (meta, meta_size) = BlockMeta::read(&dir)?;
        let chunks = ChunkReader::open_dir(dir.join(CHUNKS_DIR))?;
        let index_path = dir.join(INDEX_FILENAME);
        let index_bytes = mmap::map_bytes(&index_path)?;
        let index_size = index_bytes.len() as u64;
        let index = IndexReader::new(index_bytes).map_err(|error| TsdbError::Index {
            path: index_path.clone(),
            error,
        })?;
        let (tombstones, tomb_size) = Tombstones::read(&dir)?;
        let size = BlockSize {
            meta: meta_size,
            index: index_size,
            chunks: chunks.size(),
            tombstones: tomb_size,
        };
        Ok(Block {
            dir,
            meta,
            index,
            chunks,
            tombstones,
            size,
        })
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The block's meta.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's id.
    pub fn ulid(&self) -> Ulid {
        self.meta.ulid
    }

    /// Bytes on disk.
    pub fn size(&self) -> BlockSize {
        self.size
    }

    /// The index.
    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    /// The chunk segments.
    pub fn chunks(&self) -> &ChunkReader {
        &self.chunks
    }

    /// The tombstones.
    pub fn tombstones(&self) -> &Tombstones {
        &self.tombstones
    }

    fn index_error(&self, error: ember_index::IndexError) -> TsdbError {
        TsdbError::Index {
            path: self.dir.join(INDEX_FILENAME),
            error,
        }
    }

    /// The series IDs selected by `matchers` (all series when empty), in
    /// ascending order, which is label order.
    pub fn postings(&self, matchers: &[Matcher]) -> Result<RoaringBitmap, TsdbError> {
        let r = if matchers.is_empty() {
            self.index.all_postings_list().and_then(|p| p.to_bitmap())
        } else {
            ember_index::postings_for_matchers(&self.index, matchers)
        };
        r.map_err(|e| self.index_error(e))
    }

    /// Labels and chunk metadata of series `id`.
    pub fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkMeta>), TsdbError> {
        self.index.series(id).map_err(|e| self.index_error(e))
    }

    /// A querier over `[mint, maxt]` (ms, inclusive).
    pub fn block_querier(&self, mint: Timestamp, maxt: Timestamp) -> BlockQuerier<'_> {
        BlockQuerier {
            block: BlockHandle::Borrowed(self),
            mint,
            maxt,
        }
    }

    /// A querier over `[mint, maxt]` (ms, inclusive) that holds a
    /// reference to the block, so the block stays open (and readable, even
    /// if deleted from disk meanwhile) for as long as the querier lives.
    pub fn shared_querier(
        self: &Arc<Self>,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> BlockQuerier<'static> {
        BlockQuerier {
            block: BlockHandle::Shared(self.clone()),
            mint,
            maxt,
        }
    }

    /// Reads everything: every series entry, and every chunk of every
    /// series (checksums, and full decoding of XOR chunks). Returns the
    /// first problem found.
    pub fn verify(&self) -> Result<(), TsdbError> {
        let all = self.postings(&[])?;
        for id in &all {
            let (_, metas) = self.series(id)?;
            for m in metas {
                let r = ChunkRef(m.chunk_ref);
                let c = self.chunks.chunk(r)?;
                if c.encoding == Encoding::Xor {
                    let it = XorIter::new(c.data).map_err(|e| self.chunk_error(r, &e))?;
                    for s in it {
                        s.map_err(|e| self.chunk_error(r, &e))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn chunk_error(&self, r: ChunkRef, e: &dyn std::fmt::Display) -> TsdbError {
        let path = self
            .chunks
            .segment_path(r.segment() as usize)
            .map_or_else(|| self.dir.join(CHUNKS_DIR), Path::to_path_buf);
        TsdbError::corrupted(path, Some(u64::from(r.offset())), format!("chunk: {e}"))
    }
}

impl Queryable for Block {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(self.block_querier(mint, maxt)))
    }
}

/// Reads one block over a time range.
///
/// Series come in label order whether or not sorting is asked for. An
/// empty matcher list selects every series (as `MemStorage` does).
/// [`SelectHints`] narrow the range further; label names and values are
/// those of the whole block, whatever the range.
pub struct BlockQuerier<'a> {
    block: BlockHandle<'a>,
    mint: Timestamp,
    maxt: Timestamp,
}

/// The block a [`BlockQuerier`] reads: borrowed, or shared with the
/// querier holding a reference.
enum BlockHandle<'a> {
    Borrowed(&'a Block),
    Shared(Arc<Block>),
}

impl Deref for BlockHandle<'_> {
    type Target = Block;

    fn deref(&self) -> &Block {
        match self {
            BlockHandle::Borrowed(b) => b,
            BlockHandle::Shared(b) => b,
        }
    }
}

impl<'a> BlockQuerier<'a> {
    fn range(&self, hints: Option<&SelectHints>) -> (Timestamp, Timestamp) {
        SelectHints::clamp(hints, self.mint, self.maxt)
    }
}

impl Querier for BlockQuerier<'_> {
    fn select<'b>(
        &'b self,
        _sort: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet<'b> + 'b>, StorageError> {
        let (mint, maxt) = self.range(hints);
        let ids = if mint > maxt || !self.block.meta.overlaps(mint, maxt) {
            RoaringBitmap::new()
        } else {
            self.block.postings(matchers)?
        };
        Ok(Box::new(BlockSeriesSet {
            block: &self.block,
            ids: ids.iter().collect::<Vec<u32>>().into_iter(),
            mint,
            maxt,
            skipped_chunks: 0,
        }))
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let v = ember_index::label_values_for_matchers(&self.block.index, name, matchers)
            .map_err(|e| self.block.index_error(e))?;
        Ok((hints.apply(v), Vec::new()))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let v = ember_index::label_names_for_matchers(&self.block.index, matchers)
            .map_err(|e| self.block.index_error(e))?;
        Ok((hints.apply(v), Vec::new()))
    }
}

/// The series of one select on a block, in label order.
struct BlockSeriesSet<'a> {
    block: &'a Block,
    ids: std::vec::IntoIter<u32>,
    mint: Timestamp,
    maxt: Timestamp,
    skipped_chunks: u64,
}

impl<'a> SeriesSet<'a> for BlockSeriesSet<'a> {
    fn next(&mut self) -> Option<Result<Box<dyn Series + 'a>, StorageError>> {
        loop {
            let id = self.ids.next()?;
            let (labels, metas) = match self.block.series(id) {
                Ok(s) => s,
                Err(e) => return Some(Err(e.into())),
            };
            let deleted = self
                .block
                .tombstones
                .get(u64::from(id))
                .filter(|d| !d.is_empty());
            let mut kept = Vec::with_capacity(metas.len());
            for m in metas {
                if m.min_time > self.maxt || m.max_time < self.mint {
                    continue;
                }
                if deleted.is_some_and(|d| d.covers(m.min_time, m.max_time)) {
                    continue;
                }
                match self.block.chunks.encoding(ChunkRef(m.chunk_ref)) {
                    Ok(Encoding::Xor) => kept.push(m),
                    Ok(_) => self.skipped_chunks += 1,
                    Err(e) => return Some(Err(e.into())),
                }
            }
            if kept.is_empty() {
                continue;
            }
            return Some(Ok(Box::new(BlockSeries {
                block: self.block,
                labels,
                chunks: kept,
                mint: self.mint,
                maxt: self.maxt,
                deleted: deleted.cloned(),
            })));
        }
    }

    fn warnings(&self) -> Warnings {
        if self.skipped_chunks == 0 {
            return Vec::new();
        }
        tracing::warn!(
            block = %self.block.meta.ulid,
            chunks = self.skipped_chunks,
            "skipped chunks of non-float encodings"
        );
        vec![format!(
            "block {}: skipped {} chunks of non-float encodings (native histograms are not read yet)",
            self.block.meta.ulid, self.skipped_chunks
        )]
    }
}

/// One series of a block, read lazily.
struct BlockSeries<'a> {
    block: &'a Block,
    labels: Labels,
    chunks: Vec<ChunkMeta>,
    mint: Timestamp,
    maxt: Timestamp,
    deleted: Option<Intervals>,
}

impl Series for BlockSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        let chunks = BlockChunks {
            block: self.block,
            chunks: &self.chunks,
        };
        Box::new(ChunkListIterator::new(
            chunks,
            self.mint,
            self.maxt,
            self.deleted.as_ref(),
        ))
    }
}

/// A series' chunk metas read from the block's chunk files.
struct BlockChunks<'a> {
    block: &'a Block,
    chunks: &'a [ChunkMeta],
}

impl<'a> ChunkList<'a> for BlockChunks<'a> {
    fn len(&self) -> usize {
        self.chunks.len()
    }

    fn max_time(&self, i: usize) -> Timestamp {
        self.chunks.get(i).map_or(Timestamp::MIN, |m| m.max_time)
    }

    fn data(&self, i: usize) -> Result<&'a [u8], TsdbError> {
        let m = self
            .chunks
            .get(i)
            .ok_or_else(|| TsdbError::InvalidInput(format!("no chunk {i}")))?;
        Ok(self.block.chunks.chunk(ChunkRef(m.chunk_ref))?.data)
    }

    fn error(&self, i: usize, e: &dyn std::fmt::Display) -> TsdbError {
        let r = ChunkRef(self.chunks.get(i).map_or(0, |m| m.chunk_ref));
        self.block.chunk_error(r, e)
    }
}

/// A block directory that could not be opened.
#[derive(Debug)]
pub struct FailedBlock {
    /// The directory.
    pub dir: PathBuf,
    /// Its ULID (the directory name).
    pub ulid: Ulid,
    /// Why it could not be opened.
    pub error: TsdbError,
}

/// The blocks of a data directory, opened read-only.
///
/// Blocks that fail to open are skipped and listed in
/// [`failed`](Self::failed), so one corrupt block does not hide the rest.
/// Queries merge all blocks overlapping their range (overlapping blocks
/// included) through [`MergeQuerier`]; on equal timestamps the block with
/// the lower `minTime` wins.
#[derive(Debug)]
pub struct BlockDir {
    dir: PathBuf,
    blocks: Vec<Block>,
    failed: Vec<FailedBlock>,
}

/// Opens every block in `dir`: subdirectories whose name is a ULID. Fails
/// only if `dir` cannot be listed; see [`BlockDir::failed`] for blocks
/// that could not be opened. Nothing is written, locked or repaired.
pub fn open_blocks(dir: impl AsRef<Path>) -> Result<BlockDir, TsdbError> {
    let dir = dir.as_ref().to_path_buf();
    let mut entries: Vec<(Ulid, PathBuf)> = Vec::new();
    for entry in fs::read_dir(&dir).at(&dir)? {
        let entry = entry.at(&dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(ulid) = parse_ulid_strict(name) else {
            continue;
        };
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        entries.push((ulid, path));
    }
    entries.sort();
    let mut blocks = Vec::new();
    let mut failed = Vec::new();
    for (ulid, path) in entries {
        match Block::open(&path) {
            Ok(b) => blocks.push(b),
            Err(error) => {
                tracing::warn!(block = %ulid, %error, "skipping block that cannot be opened");
                failed.push(FailedBlock {
                    dir: path,
                    ulid,
                    error,
                });
            }
        }
    }
    blocks.sort_by_key(|b| b.meta.min_time);
    Ok(BlockDir {
        dir,
        blocks,
        failed,
    })
}

/// A 26-character ULID in Crockford base 32 (what Prometheus' `ParseStrict`
/// accepts as a block directory name).
fn parse_ulid_strict(name: &str) -> Option<Ulid> {
    if name.len() != 26 || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Ulid::from_string(name).ok()
}

impl BlockDir {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The blocks that opened, by `minTime`.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The blocks that did not open.
    pub fn failed(&self) -> &[FailedBlock] {
        &self.failed
    }

    /// The block with this id.
    pub fn block(&self, ulid: Ulid) -> Option<&Block> {
        self.blocks.iter().find(|b| b.meta.ulid == ulid)
    }

    /// A querier merging the blocks that overlap `[mint, maxt]`.
    pub fn merge_querier(&self, mint: Timestamp, maxt: Timestamp) -> MergeQuerier<'_> {
        let queriers: Vec<Box<dyn Querier + '_>> = self
            .blocks
            .iter()
            .filter(|b| b.meta.overlaps(mint, maxt))
            .map(|b| Box::new(b.block_querier(mint, maxt)) as Box<dyn Querier + '_>)
            .collect();
        MergeQuerier::new(queriers)
    }
}

impl Queryable for BlockDir {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(self.merge_querier(mint, maxt)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::chunk_file::ChunkWriter;
    use crate::meta::BlockStats;
    use crate::tombstones::Interval;
    use crate::writer::{BlockWriter, BlockWriterOptions};
    use ember_index::IndexWriter;
    use ember_model::{labels, MatchOp};
    use ember_storage::ValueType;
    use proptest::prelude::*;

    type Data = Vec<(Labels, Vec<(i64, f64)>)>;

    fn write_block(dir: &Path, data: &Data) -> PathBuf {
        let mut w = BlockWriter::new(BlockWriterOptions::default());
        for (l, s) in data {
            w.add_series(l, s.iter().copied()).unwrap();
        }
        w.flush(dir).unwrap().unwrap().dir
    }

    /// Everything a querier returns, values as bits.
    fn read_all(q: &dyn Querier, matchers: &[Matcher]) -> Vec<(Labels, Vec<(i64, u64)>)> {
        let mut set = q.select(true, None, matchers).unwrap();
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let s = s.unwrap();
            let mut it = s.iter();
            let mut pts = Vec::new();
            while it.next() == ValueType::Float {
                let (t, v) = it.at();
                pts.push((t, v.to_bits()));
            }
            assert!(it.error().is_none(), "{:?}", it.error());
            out.push((s.labels().clone(), pts));
        }
        out
    }

    fn sample_data() -> Data {
        let mut data = Vec::new();
        for job in ["api", "db"] {
            for i in 0..3 {
                let l = labels!("__name__" => "up", "job" => job, "instance" => format!("h{i}").as_str());
                let pts = (0..500).map(|k| (k * 15_000 + i, (k % 7) as f64)).collect();
                data.push((l, pts));
            }
        }
        data.push((
            labels!("__name__" => "temp", "job" => "db"),
            vec![(5, f64::NAN), (6, -0.0), (7, f64::INFINITY)],
        ));
        data
    }

    #[test]
    fn written_blocks_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample_data();
        let bdir = write_block(dir.path(), &data);
        let b = Block::open(&bdir).unwrap();
        b.verify().unwrap();
        assert_eq!(b.meta().stats.num_series, 7);
        assert_eq!(b.meta().stats.num_samples, 6 * 500 + 3);
        assert_eq!(
            (b.meta().min_time, b.meta().max_time),
            (0, 499 * 15_000 + 2 + 1)
        );
        let on_disk: u64 = ["meta.json", "index", "tombstones", "chunks/000001"]
            .iter()
            .map(|f| fs::metadata(bdir.join(f)).unwrap().len())
            .sum();
        assert_eq!(b.size().total(), on_disk);

        let q = b.block_querier(i64::MIN, i64::MAX);
        let mut want: Vec<_> = data
            .iter()
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>(),
                )
            })
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(read_all(&q, &[]), want);

        // Matchers, label names and values.
        let db = Matcher::equal("job", "db");
        let got = read_all(&q, std::slice::from_ref(&db));
        assert_eq!(got.len(), 4);
        let re = Matcher::new(MatchOp::Regex, "instance", "h[01]").unwrap();
        assert_eq!(read_all(&q, &[db.clone(), re]).len(), 2);
        let (names, _) = q.label_names(&LabelHints::default(), &[]).unwrap();
        assert_eq!(names, ["__name__", "instance", "job"]);
        let (vals, _) = q
            .label_values("instance", &LabelHints { limit: 2 }, &[])
            .unwrap();
        assert_eq!(vals, ["h0", "h1"]);
        let (vals, _) = q
            .label_values(
                "__name__",
                &LabelHints::default(),
                &[Matcher::equal("job", "api")],
            )
            .unwrap();
        assert_eq!(vals, ["up"]);

        // A time range trims samples and drops series without any.
        let q = b.block_querier(30_000, 60_000);
        let got = read_all(&q, &[Matcher::equal("instance", "h0")]);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].1.iter().map(|p| p.0).collect::<Vec<_>>(),
            [30_000, 45_000, 60_000]
        );
        assert!(read_all(&b.block_querier(10, 4), &[]).is_empty());
    }

    #[test]
    fn seek_and_next() {
        let dir = tempfile::tempdir().unwrap();
        let l = labels!("__name__" => "x");
        let bdir = write_block(
            dir.path(),
            &vec![(l, (0..1000).map(|i| (i * 10, i as f64)).collect())],
        );
        let b = Block::open(bdir).unwrap();
        let q = b.block_querier(100, 5000);
        let mut set = q.select(true, None, &[]).unwrap();
        let s = set.next().unwrap().unwrap();
        let mut it = s.iter();
        assert_eq!(it.seek(0), ValueType::Float);
        assert_eq!(it.at(), (100, 10.0));
        assert_eq!(it.seek(2345), ValueType::Float);
        assert_eq!(it.at(), (2350, 235.0));
        assert_eq!(it.seek(10), ValueType::Float);
        assert_eq!(it.at_t(), 2350);
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at_t(), 2360);
        assert_eq!(it.seek(5000), ValueType::Float);
        assert_eq!(it.next(), ValueType::None);
        assert_eq!(it.seek(6000), ValueType::None);
        let mut it = s.iter();
        assert_eq!(it.seek(5001), ValueType::None);
    }

    #[test]
    fn tombstones_delete_samples() {
        let dir = tempfile::tempdir().unwrap();
        let a = labels!("__name__" => "a");
        let z = labels!("__name__" => "z");
        let data = vec![
            (a, (0..300).map(|i| (i, 1.0)).collect()),
            (z, (0..300).map(|i| (i, 2.0)).collect()),
        ];
        let bdir = write_block(dir.path(), &data);
        let b = Block::open(&bdir).unwrap();
        let ids: Vec<u32> = b.postings(&[]).unwrap().iter().collect();
        let mut t = Tombstones::new();
        t.add(u64::from(ids[0]), Interval::new(10, 289));
        t.add(u64::from(ids[1]), Interval::new(i64::MIN, i64::MAX));
        t.write(&bdir).unwrap();
        let b = Block::open(&bdir).unwrap();
        assert_eq!(b.tombstones().total(), 2);
        let got = read_all(&b.block_querier(i64::MIN, i64::MAX), &[]);
        assert_eq!(got.len(), 1);
        let ts: Vec<i64> = got[0].1.iter().map(|p| p.0).collect();
        let want: Vec<i64> = (0..10).chain(290..300).collect();
        assert_eq!(ts, want);
        // Seeking into a deleted range lands after it.
        let q = b.block_querier(i64::MIN, i64::MAX);
        let mut set = q.select(true, None, &[]).unwrap();
        let s = set.next().unwrap().unwrap();
        let mut it = s.iter();
        assert_eq!(it.seek(50), ValueType::Float);
        assert_eq!(it.at_t(), 290);
    }

    /// A block with one XOR chunk at 1..=2 and one histogram chunk at
    /// 3..=4, written by hand (also for the compactor's tests).
    pub(crate) fn histogram_block(dir: &Path) -> PathBuf {
        let id = Ulid::new();
        let bdir = dir.join(id.to_string());
        fs::create_dir_all(&bdir).unwrap();
        let mut xor = ember_chunks::XorChunk::new();
        xor.append(1, 1.0).unwrap();
        xor.append(2, 2.0).unwrap();
        let mut cw = ChunkWriter::create(bdir.join(CHUNKS_DIR)).unwrap();
        let mut refs = Vec::new();
        cw.write_chunks(
            &[
                (Encoding::Xor, xor.bytes()),
                (Encoding::Histogram, b"\x00\x02hist"),
            ],
            &mut refs,
        )
        .unwrap();
        cw.finish().unwrap();
        let mut iw = IndexWriter::create(bdir.join(INDEX_FILENAME)).unwrap();
        for s in ["__name__", "h"] {
            iw.add_symbol(s).unwrap();
        }
        let metas = [
            ChunkMeta {
                min_time: 1,
                max_time: 2,
                chunk_ref: refs[0].0,
            },
            ChunkMeta {
                min_time: 3,
                max_time: 4,
                chunk_ref: refs[1].0,
            },
        ];
        iw.add_series(&labels!("__name__" => "h"), &metas).unwrap();
        iw.finish().unwrap();
        let stats = BlockStats {
            num_samples: 4,
            num_series: 1,
            num_chunks: 2,
            ..Default::default()
        };
        BlockMeta::new_level1(id, 1, 5, stats).write(&bdir).unwrap();
        Tombstones::new().write(&bdir).unwrap();
        bdir
    }

    #[test]
    fn non_float_chunks_are_skipped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let b = Block::open(histogram_block(dir.path())).unwrap();
        let q = b.block_querier(0, 10);
        let mut set = q.select(true, None, &[]).unwrap();
        let s = set.next().unwrap().unwrap();
        let mut it = s.iter();
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.next(), ValueType::None);
        assert!(set.next().is_none());
        let w = set.warnings();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("skipped 1 chunks of non-float encodings"),
            "{w:?}"
        );
        // The raw chunk passes through unchanged.
        let (_, metas) = b.series(b.postings(&[]).unwrap().min().unwrap()).unwrap();
        let raw = b.chunks().raw_chunk(ChunkRef(metas[1].chunk_ref)).unwrap();
        assert_eq!(
            (raw.encoding, raw.data.as_ref()),
            (Encoding::Histogram, &b"\x00\x02hist"[..])
        );
    }

    #[test]
    fn corrupt_chunks_surface_as_iterator_errors() {
        let dir = tempfile::tempdir().unwrap();
        let l = labels!("__name__" => "x");
        let bdir = write_block(
            dir.path(),
            &vec![(l, (0..10).map(|i| (i, i as f64)).collect())],
        );
        let seg = bdir.join("chunks/000001");
        let mut bytes = fs::read(&seg).unwrap();
        let n = bytes.len();
        bytes[n - 6] ^= 0xff;
        fs::write(&seg, bytes).unwrap();
        let b = Block::open(&bdir).unwrap();
        let q = b.block_querier(i64::MIN, i64::MAX);
        let mut set = q.select(true, None, &[]).unwrap();
        let s = set.next().unwrap().unwrap();
        let mut it = s.iter();
        assert_eq!(it.next(), ValueType::None);
        let e = it.error().unwrap().to_string();
        assert!(
            e.contains("chunks/000001 at offset 8") && e.contains("checksum"),
            "{e}"
        );
        assert!(b.verify().is_err());
    }

    #[test]
    fn block_dirs_skip_corrupt_blocks_and_merge_overlaps() {
        let dir = tempfile::tempdir().unwrap();
        let l = labels!("__name__" => "x");
        let first = write_block(dir.path(), &vec![(l.clone(), vec![(1, 1.0), (3, 3.0)])]);
        let _second = write_block(
            dir.path(),
            &vec![(l.clone(), vec![(2, 20.0), (3, 30.0), (4, 40.0)])],
        );
        let broken = write_block(dir.path(), &vec![(l.clone(), vec![(9, 9.0)])]);
        fs::write(broken.join("index"), b"not an index").unwrap();
        let no_meta = write_block(dir.path(), &vec![(l, vec![(10, 9.0)])]);
        fs::remove_file(no_meta.join("meta.json")).unwrap();
        // Not blocks: ignored.
        fs::create_dir(dir.path().join("wal")).unwrap();
        fs::create_dir(dir.path().join(format!("{}.tmp-for-creation", Ulid::new()))).unwrap();
        fs::write(dir.path().join("lock"), b"").unwrap();

        let bd = open_blocks(dir.path()).unwrap();
        assert_eq!(bd.blocks().len(), 2);
        assert_eq!(bd.blocks()[0].dir(), first);
        let mut failed: Vec<String> = bd.failed().iter().map(|f| f.error.to_string()).collect();
        failed.sort();
        assert_eq!(failed.len(), 2);
        assert!(failed.iter().any(|e| e.contains("index")), "{failed:?}");
        assert!(failed.iter().any(|e| e.contains("meta.json")), "{failed:?}");
        let ulids: Vec<Ulid> = bd.failed().iter().map(|f| f.ulid).collect();
        assert!(ulids
            .contains(&Ulid::from_string(broken.file_name().unwrap().to_str().unwrap()).unwrap()));

        let q = bd.querier(0, 100).unwrap();
        let got = read_all(&*q, &[]);
        let pts: Vec<(i64, f64)> = got[0]
            .1
            .iter()
            .map(|&(t, v)| (t, f64::from_bits(v)))
            .collect();
        assert_eq!(pts, [(1, 1.0), (2, 20.0), (3, 3.0), (4, 40.0)]);
        assert!(open_blocks(dir.path().join("missing")).is_err());
    }

    fn arb_data() -> impl Strategy<Value = Data> {
        let series = (
            proptest::collection::btree_map("[a-c]{1,2}", "[x-z0-9]{1,3}", 0..3),
            proptest::collection::btree_map(-50_000i64..5_000_000, any::<u64>(), 1..300),
        );
        proptest::collection::vec(series, 1..6).prop_map(|v| {
            let mut seen = std::collections::HashSet::new();
            v.into_iter()
                .enumerate()
                .filter_map(|(i, (labels, samples))| {
                    let mut b = Labels::from_pairs(labels).unwrap().to_builder();
                    b.set("__name__", format!("m{}", i % 3));
                    let l = b.build().unwrap();
                    seen.insert(l.clone()).then(|| {
                        (
                            l,
                            samples
                                .into_iter()
                                .map(|(t, bits)| (t, f64::from_bits(bits)))
                                .collect(),
                        )
                    })
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn blocks_roundtrip(data in arb_data(), mint in -60_000i64..5_000_000, len in 0i64..6_000_000) {
            let dir = tempfile::tempdir().unwrap();
            let bdir = write_block(dir.path(), &data);
            let b = Block::open(bdir).unwrap();
            b.verify().unwrap();
            let maxt = mint.saturating_add(len);
            let mut want: Vec<(Labels, Vec<(i64, u64)>)> = data
                .iter()
                .map(|(l, s)| {
                    let pts: Vec<_> = s.iter().filter(|(t, _)| *t >= mint && *t <= maxt).map(|&(t, v)| (t, v.to_bits())).collect();
                    (l.clone(), pts)
                })
                .collect();
            want.sort_by(|a, b| a.0.cmp(&b.0));
            let all = read_all(&b.block_querier(i64::MIN, i64::MAX), &[]);
            let full: Vec<_> = {
                let mut f: Vec<(Labels, Vec<(i64, u64)>)> = data.iter().map(|(l, s)| (l.clone(), s.iter().map(|&(t, v)| (t, v.to_bits())).collect())).collect();
                f.sort_by(|a, b| a.0.cmp(&b.0));
                f
            };
            prop_assert_eq!(all, full);
            // A range query returns the samples in range; series whose
            // chunks overlap the range may come back empty.
            let mut got = read_all(&b.block_querier(mint, maxt), &[]);
            got.retain(|s| !s.1.is_empty());
            want.retain(|s| !s.1.is_empty());
            prop_assert_eq!(got, want);
        }
    }
}
