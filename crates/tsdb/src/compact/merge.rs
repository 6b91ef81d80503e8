//! Populating a new block with the union of source blocks.
//!
//! This is Prometheus' `PopulateBlock` with its compacting chunk-series
//! merger, streamed series by series:
//!
//! * **Symbols** are the merged, de-duplicated symbol tables of the
//!   sources (as Prometheus writes them, so a symbol whose series were all
//!   deleted stays).
//! * **Series** come from every source in label order (series IDs follow
//!   label order) and are merged by labels in one pass.
//! * **Chunks** of one series from one source are kept as they are unless
//!   deleted: a chunk inside a tombstone interval, or outside the new
//!   block's range, is dropped; a chunk partly deleted is re-encoded with
//!   its surviving samples (one chunk in, at most one out).
//! * **Overlaps.** The chunks of all sources are then ordered by
//!   `(minTime, maxTime)` and grouped into runs that overlap in time. A run
//!   of one chunk — or of identical copies of one chunk — is written
//!   untouched, bytes and all. A longer run is decoded, merged by
//!   timestamp, and re-encoded into XOR chunks of at most 120 samples
//!   (Prometheus' `seriesToChunkEncoder`).
//! * **Duplicate timestamps.** Prometheus keeps "one sample from random
//!   overlapped ones" (its chain iterator's heap decides). Ember decides
//!   deterministically: the sample of the block that comes first by
//!   `(minTime, ULID)` wins — the order in which
//!   [`BlockDir`](crate::BlockDir) and the block store merge blocks in
//!   queries — so compacting never changes what a query returns.
//!
//! Chunks of other encodings (native histograms, XOR2) pass through when
//! untouched; re-encoding them (partial deletion, overlaps) is not
//! supported yet and fails the compaction with a clear error rather than
//! resurrecting deleted samples or dropping data.

use std::borrow::Cow;
use std::path::Path;

use ember_chunks::{Encoding, XorChunk, XorIter};
use ember_index::{ChunkMeta, IndexWriter};
use ember_model::Labels;

use super::crash::{Crash, Step};
use crate::block::Block;
use crate::chunk_file::{ChunkRef, ChunkWriter, CHUNKS_DIR};
use crate::error::TsdbError;
use crate::meta::BlockStats;
use crate::writer::INDEX_FILENAME;

/// Samples per chunk when overlapping chunks are re-encoded.
pub const MERGED_CHUNK_SAMPLES: usize = 120;

/// A chunk on its way to the new block.
struct PendingChunk<'a> {
    min_time: i64,
    max_time: i64,
    encoding: Encoding,
    data: Cow<'a, [u8]>,
    /// (source block, chunk position): the lower wins on equal timestamps.
    prio: (usize, usize),
    /// The source chunk's reference, for error messages.
    chunk_ref: u64,
}

impl PendingChunk<'_> {
    fn same_as(&self, o: &PendingChunk<'_>) -> bool {
        self.min_time == o.min_time
            && self.max_time == o.max_time
            && self.encoding == o.encoding
            && self.data == o.data
    }
}

/// One source's position in the series merge.
struct Cursor<'a> {
    block: &'a Block,
    ids: std::vec::IntoIter<u32>,
    cur: Option<(u32, Labels, Vec<ChunkMeta>)>,
}

impl Cursor<'_> {
    fn advance(&mut self) -> Result<(), TsdbError> {
        self.cur = match self.ids.next() {
            Some(id) => {
                let (labels, metas) = self.block.series(id)?;
                Some((id, labels, metas))
            }
            None => None,
        };
        Ok(())
    }
}

fn chunk_error(block: &Block, r: u64, e: &dyn std::fmt::Display) -> TsdbError {
    TsdbError::corrupted(
        block.dir().join(CHUNKS_DIR),
        None,
        format!("chunk {r:#x}: {e}"),
    )
}

fn unsupported(block: &Block, what: &str, enc: Encoding) -> TsdbError {
    TsdbError::InvalidInput(format!(
        "block {}: cannot {what} a chunk of encoding {enc}: only XOR float chunks can be re-encoded",
        block.ulid()
    ))
}

/// Writes the union of `blocks` (sorted by `(minTime, ULID)`), restricted
/// to `[mint, maxt]` (inclusive) and without deleted samples, into `tmp`:
/// `chunks/` and `index`, both synced. Returns the new block's statistics;
/// zero samples means an empty result.
pub(crate) fn populate(
    blocks: &[&Block],
    mint: i64,
    maxt: i64,
    tmp: &Path,
    segment_size: u64,
    crash: &Crash,
) -> Result<BlockStats, TsdbError> {
    let index_path = tmp.join(INDEX_FILENAME);
    let index_err = |error| TsdbError::Index {
        path: index_path.clone(),
        error,
    };
    let mut chunks = ChunkWriter::with_segment_size(tmp.join(CHUNKS_DIR), segment_size)?;
    let mut index = IndexWriter::create(&index_path).map_err(index_err)?;
    write_symbols(blocks, &mut index).map_err(index_err)?;

    let mut cursors = Vec::with_capacity(blocks.len());
    for &block in blocks {
        let ids: Vec<u32> = block.postings(&[])?.iter().collect();
        let mut c = Cursor {
            block,
            ids: ids.into_iter(),
            cur: None,
        };
        c.advance()?;
        cursors.push(c);
    }

    let mut stats = BlockStats::default();
    let mut pending: Vec<PendingChunk<'_>> = Vec::new();
    let mut refs: Vec<ChunkRef> = Vec::new();
    let mut metas: Vec<ChunkMeta> = Vec::new();
    loop {
        let mut min: Option<&Labels> = None;
        for c in &cursors {
            if let Some((_, l, _)) = &c.cur {
                if min.is_none_or(|m| l < m) {
                    min = Some(l);
                }
            }
        }
        let Some(labels) = min.cloned() else {
            break;
        };
        pending.clear();
        for (src, c) in cursors.iter_mut().enumerate() {
            if c.cur.as_ref().is_none_or(|(_, l, _)| *l != labels) {
                continue;
            }
            if let Some((id, _, series_chunks)) = c.cur.take() {
                collect(c.block, src, id, &series_chunks, mint, maxt, &mut pending)?;
            }
            c.advance()?;
        }
        let out = merge(std::mem::take(&mut pending), blocks)?;
        if out.is_empty() {
            continue;
        }
        let views: Vec<(Encoding, &[u8])> = out.iter().map(|c| (c.encoding, &c.data[..])).collect();
        refs.clear();
        chunks.write_chunks(&views, &mut refs)?;
        metas.clear();
        for (c, r) in out.iter().zip(&refs) {
            metas.push(ChunkMeta {
                min_time: c.min_time,
                max_time: c.max_time,
                chunk_ref: r.0,
            });
            stats.num_samples += c
                .data
                .get(..2)
                .map_or(0, |b| u64::from(u16::from_be_bytes([b[0], b[1]])));
        }
        index.add_series(&labels, &metas).map_err(index_err)?;
        stats.num_series += 1;
        stats.num_chunks += out.len() as u64;
    }
    chunks.finish()?;
    crash.point(Step::ChunksWritten)?;
    index.finish().map_err(index_err)?;
    Ok(stats)
}

/// Adds the merged symbol tables of `blocks` to `index`.
fn write_symbols(
    blocks: &[&Block],
    index: &mut IndexWriter,
) -> Result<(), ember_index::IndexError> {
    let mut iters: Vec<_> = blocks
        .iter()
        .map(|b| b.index().symbols().peekable())
        .collect();
    loop {
        let mut min: Option<&str> = None;
        for it in &mut iters {
            match it.peek() {
                Some(Ok(s)) if min.is_none_or(|m| *s < m) => min = Some(*s),
                Some(Ok(_)) => {}
                Some(Err(_)) => {
                    if let Some(Err(e)) = it.next() {
                        return Err(e);
                    }
                }
                None => {}
            }
        }
        let Some(sym) = min else {
            return Ok(());
        };
        for it in &mut iters {
            while it.next_if(|s| matches!(s, Ok(s) if *s == sym)).is_some() {}
        }
        index.add_symbol(sym)?;
    }
}

/// The chunks of series `id` of `block` that survive its tombstones and
/// the range `[mint, maxt]`, appended to `out`.
fn collect<'a>(
    block: &'a Block,
    src: usize,
    id: u32,
    series_chunks: &[ChunkMeta],
    mint: i64,
    maxt: i64,
    out: &mut Vec<PendingChunk<'a>>,
) -> Result<(), TsdbError> {
    let tomb = block
        .tombstones()
        .get(u64::from(id))
        .filter(|t| !t.is_empty());
    for (k, m) in series_chunks.iter().enumerate() {
        if m.max_time < mint || m.min_time > maxt {
            continue;
        }
        if tomb.is_some_and(|t| t.covers(m.min_time, m.max_time)) {
            continue;
        }
        let view = block.chunks().chunk(ChunkRef(m.chunk_ref))?;
        let touched = m.min_time < mint
            || m.max_time > maxt
            || tomb.is_some_and(|t| {
                t.as_slice()
                    .iter()
                    .any(|iv| iv.mint <= m.max_time && iv.maxt >= m.min_time)
            });
        if !touched {
            out.push(PendingChunk {
                min_time: m.min_time,
                max_time: m.max_time,
                encoding: view.encoding,
                data: Cow::Borrowed(view.data),
                prio: (src, k),
                chunk_ref: m.chunk_ref,
            });
            continue;
        }
        if view.encoding != Encoding::Xor {
            return Err(unsupported(block, "delete samples from", view.encoding));
        }
        let it = XorIter::new(view.data).map_err(|e| chunk_error(block, m.chunk_ref, &e))?;
        let mut chunk = XorChunk::new();
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for s in it {
            let (t, v) = s.map_err(|e| chunk_error(block, m.chunk_ref, &e))?;
            if t < mint || t > maxt || tomb.is_some_and(|d| d.contains(t)) {
                continue;
            }
            chunk
                .append(t, v)
                .map_err(|e| chunk_error(block, m.chunk_ref, &e))?;
            lo = lo.min(t);
            hi = hi.max(t);
        }
        if chunk.num_samples() == 0 {
            continue;
        }
        out.push(PendingChunk {
            min_time: lo,
            max_time: hi,
            encoding: Encoding::Xor,
            data: Cow::Owned(chunk.into_bytes()),
            prio: (src, k),
            chunk_ref: m.chunk_ref,
        });
    }
    Ok(())
}

/// Orders the chunks of one series, passes non-overlapping ones through
/// and merges runs of overlapping ones.
fn merge<'a>(
    mut chunks: Vec<PendingChunk<'a>>,
    blocks: &[&Block],
) -> Result<Vec<PendingChunk<'a>>, TsdbError> {
    chunks.sort_by_key(|a| (a.min_time, a.max_time, a.prio));
    let mut out = Vec::with_capacity(chunks.len());
    let mut it = chunks.into_iter().peekable();
    while let Some(first) = it.next() {
        let mut run_max = first.max_time;
        let mut run = vec![first];
        while let Some(next) = it.next_if(|c| c.min_time <= run_max) {
            run_max = run_max.max(next.max_time);
            if !run.iter().any(|c| c.same_as(&next)) {
                run.push(next);
            }
        }
        if run.len() == 1 {
            out.append(&mut run);
        } else {
            merge_run(&run, blocks, &mut out)?;
        }
    }
    Ok(out)
}

/// Merges overlapping chunks into new XOR chunks.
fn merge_run<'a>(
    run: &[PendingChunk<'a>],
    blocks: &[&Block],
    out: &mut Vec<PendingChunk<'a>>,
) -> Result<(), TsdbError> {
    let mut samples: Vec<(i64, (usize, usize), u64)> = Vec::new();
    for c in run {
        let Some(block) = blocks.get(c.prio.0) else {
            return Err(TsdbError::InvalidInput("chunk of unknown source".into()));
        };
        if c.encoding != Encoding::Xor {
            return Err(unsupported(
                block,
                "merge overlapping data with",
                c.encoding,
            ));
        }
        let it = XorIter::new(&c.data).map_err(|e| chunk_error(block, c.chunk_ref, &e))?;
        for s in it {
            let (t, v) = s.map_err(|e| chunk_error(block, c.chunk_ref, &e))?;
            samples.push((t, c.prio, v.to_bits()));
        }
    }
    samples.sort_by_key(|&(t, prio, _)| (t, prio));
    samples.dedup_by_key(|s| s.0);
    for group in samples.chunks(MERGED_CHUNK_SAMPLES) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let mut chunk = XorChunk::new();
        for &(t, _, v) in group {
            chunk
                .append(t, f64::from_bits(v))
                .map_err(|e| TsdbError::InvalidInput(format!("re-encode chunk: {e}")))?;
        }
        out.push(PendingChunk {
            min_time: first.0,
            max_time: last.0,
            encoding: Encoding::Xor,
            data: Cow::Owned(chunk.into_bytes()),
            prio: first.1,
            chunk_ref: 0,
        });
    }
    Ok(())
}
