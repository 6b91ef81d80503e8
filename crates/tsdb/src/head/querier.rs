//! Reading the head: postings to series, series to chunk snapshots, chunk
//! snapshots to samples.

use std::sync::Arc;

use ember_index::{label_names_for_matchers, label_values_for_matchers};
use ember_model::{Labels, Matcher, Sample, Timestamp};
use ember_storage::{
    LabelHints, ListSeries, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
    ValueType, Warnings,
};

use super::isolation::ReadState;
use super::ooo::merged_samples;
use super::series::{ChunkSnapshot, MemSeries, SeriesSnapshot};
use super::Head;
use crate::chunk_iter::{ChunkList, ChunkListIterator};
use crate::error::TsdbError;

/// A querier over the head for `[mint, maxt]` (inclusive).
///
/// It sees the in-order samples of the commits that were complete when it
/// was created, and none of the later ones (isolation). Out-of-order
/// samples are not isolated (nor are they in Prometheus): a series shows
/// those inserted when the set reaches it, merged with its in-order
/// samples (the first written wins on equal timestamps; see the [module
/// documentation](super)). Series are read lazily: each series'
/// chunks are captured when the set reaches it — completed chunks by
/// reference into the mapped chunk files, the open chunk by copying its
/// few hundred bytes — so a series set holds no lock between calls.
/// An empty matcher list selects every series, as `MemStorage` does.
pub struct HeadQuerier<'h> {
    head: &'h Head,
    mint: Timestamp,
    maxt: Timestamp,
    rs: ReadState,
}

impl<'h> HeadQuerier<'h> {
    pub(crate) fn new(head: &'h Head, mint: Timestamp, maxt: Timestamp) -> Self {
        HeadQuerier {
            head,
            mint,
            maxt,
            rs: head.iso.read_state(mint, maxt),
        }
    }

    fn range(&self, hints: Option<&SelectHints>) -> (Timestamp, Timestamp) {
        SelectHints::clamp(hints, self.mint, self.maxt)
    }

    /// Whether the head's data can overlap the querier's range.
    fn overlaps(&self) -> bool {
        let (min, max) = (self.head.min_time(), self.head.max_time());
        let within = |(min, max): (i64, i64)| min <= max && min <= self.maxt && self.mint <= max;
        within((min, max)) || self.head.ooo_time_range().is_some_and(within)
    }
}

impl Drop for HeadQuerier<'_> {
    fn drop(&mut self) {
        self.head.iso.close_read(&self.rs);
    }
}

impl Querier for HeadQuerier<'_> {
    fn select<'a>(
        &'a self,
        sort: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet<'a> + 'a>, StorageError> {
        let (mint, maxt) = self.range(hints);
        let mut series = if mint > maxt || !self.overlaps() {
            Vec::new()
        } else {
            self.head.select_series(matchers)?
        };
        if sort {
            series.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        }
        Ok(Box::new(HeadSeriesSet {
            head: self.head,
            rs: &self.rs,
            series: series.into_iter(),
            mint,
            maxt,
        }))
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        if !self.overlaps() {
            return Ok((Vec::new(), Vec::new()));
        }
        let idx = self.head.index.read();
        let v = label_values_for_matchers(&idx.postings, name, matchers)
            .map_err(|e| StorageError::Backend(Box::new(e)))?;
        Ok((hints.apply(v), Vec::new()))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        if !self.overlaps() {
            return Ok((Vec::new(), Vec::new()));
        }
        let idx = self.head.index.read();
        let v = label_names_for_matchers(&idx.postings, matchers)
            .map_err(|e| StorageError::Backend(Box::new(e)))?;
        Ok((hints.apply(v), Vec::new()))
    }
}

struct HeadSeriesSet<'a> {
    head: &'a Head,
    rs: &'a ReadState,
    series: std::vec::IntoIter<Arc<MemSeries>>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl<'a> SeriesSet<'a> for HeadSeriesSet<'a> {
    fn next(&mut self) -> Option<Result<Box<dyn Series + 'a>, StorageError>> {
        loop {
            let s = self.series.next()?;
            let files = self.head.files.as_ref();
            let snap = match s.snapshot(self.mint, self.maxt, Some(self.rs), files, true) {
                Ok(c) => c,
                Err(e) => return Some(Err(e.into())),
            };
            if !snap.ooo.is_empty() {
                let samples = match merged_samples(
                    self.head,
                    &snap.chunks,
                    snap.maxt,
                    &snap.ooo,
                    self.mint,
                    self.maxt,
                ) {
                    Ok(v) => v,
                    Err(e) => return Some(Err(e.into())),
                };
                let samples: Vec<Sample> = samples
                    .into_iter()
                    .filter(|&(t, _)| !snap.deleted.contains(t))
                    .map(|(t, v)| Sample::float(t, v))
                    .collect();
                if samples.is_empty() {
                    continue;
                }
                return Some(Ok(Box::new(ListSeries {
                    labels: s.labels.clone(),
                    samples,
                })));
            }
            if !has_samples_in(self.head, &snap, self.mint) {
                continue;
            }
            return Some(Ok(Box::new(HeadSeries {
                head: self.head,
                labels: s.labels.clone(),
                snap,
                mint: self.mint,
            })));
        }
    }
}

/// Whether the captured chunks hold a sample in `[mint, snap.maxt]` that
/// is not deleted. Decoding is needed only when no chunk's first or last
/// sample answers, and not when one deleted interval covers all the
/// chunks hold in the range. A corrupt chunk counts as having samples, so
/// its error reaches the reader.
pub(crate) fn has_samples_in(head: &Head, snap: &SeriesSnapshot, mint: Timestamp) -> bool {
    let (Some(first), Some(last)) = (snap.chunks.first(), snap.chunks.last()) else {
        return false;
    };
    let maxt = snap.maxt;
    if maxt < mint {
        return false;
    }
    let kept = |t: i64| mint <= t && t <= maxt && !snap.deleted.contains(t);
    if snap
        .chunks
        .iter()
        .any(|c| kept(c.min_time) || kept(c.max_time))
    {
        return true;
    }
    if snap
        .deleted
        .covers(mint.max(first.min_time), maxt.min(last.max_time))
    {
        return false;
    }
    let mut it = snapshot_iterator(head, snap, mint);
    it.next() != ValueType::None || it.error().is_some()
}

/// One series of the head, with its chunks captured.
pub(crate) struct HeadSeries<'a> {
    pub(crate) head: &'a Head,
    pub(crate) labels: Labels,
    pub(crate) snap: SeriesSnapshot,
    pub(crate) mint: Timestamp,
}

impl Series for HeadSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(snapshot_iterator(self.head, &self.snap, self.mint))
    }
}

/// The head's captured chunks of one series.
pub(crate) struct HeadChunks<'a> {
    head: &'a Head,
    chunks: &'a [ChunkSnapshot],
}

impl<'a> ChunkList<'a> for HeadChunks<'a> {
    fn len(&self) -> usize {
        self.chunks.len()
    }

    fn max_time(&self, i: usize) -> Timestamp {
        self.chunks.get(i).map_or(Timestamp::MIN, |c| c.max_time)
    }

    fn data(&self, i: usize) -> Result<&'a [u8], TsdbError> {
        self.chunks
            .get(i)
            .map(|c| &c.data[..])
            .ok_or_else(|| TsdbError::InvalidInput(format!("no head chunk {i}")))
    }

    fn error(&self, i: usize, e: &dyn std::fmt::Display) -> TsdbError {
        let Some(c) = self.chunks.get(i) else {
            return TsdbError::InvalidInput(format!("no head chunk {i}: {e}"));
        };
        match (c.origin, self.head.files.as_ref()) {
            (Some(r), Some(f)) => TsdbError::corrupted(
                f.file_path(r.seq()),
                Some(u64::from(r.offset())),
                format!("head chunk: {e}"),
            ),
            _ => TsdbError::InvalidInput(format!(
                "in-memory head chunk [{}, {}]: {e}",
                c.min_time, c.max_time
            )),
        }
    }
}

/// Iterates captured XOR chunks in order, keeping samples in `[mint, maxt]`
/// that are not deleted.
pub(crate) type ChunksIterator<'a> = ChunkListIterator<'a, HeadChunks<'a>>;

/// An iterator over the samples of `snap` in `[mint, snap.maxt]`, deleted
/// intervals skipped.
pub(crate) fn snapshot_iterator<'a>(
    head: &'a Head,
    snap: &'a SeriesSnapshot,
    mint: Timestamp,
) -> ChunksIterator<'a> {
    let chunks = HeadChunks {
        head,
        chunks: &snap.chunks,
    };
    let deleted = (!snap.deleted.is_empty()).then_some(&snap.deleted);
    ChunkListIterator::new(chunks, mint, snap.maxt, deleted)
}

/// An iterator over the samples of in-order `chunks` in `[mint, maxt]`.
pub(crate) fn chunks_iterator<'a>(
    head: &'a Head,
    chunks: &'a [ChunkSnapshot],
    mint: Timestamp,
    maxt: Timestamp,
) -> ChunksIterator<'a> {
    ChunkListIterator::new(HeadChunks { head, chunks }, mint, maxt, None)
}
