//! Reading the head: postings to series, series to chunk snapshots, chunk
//! snapshots to samples.

use std::sync::Arc;

use ember_chunks::XorIter;
use ember_index::{label_names_for_matchers, label_values_for_matchers};
use ember_model::{FloatHistogram, Histogram, Labels, Matcher, Timestamp};
use ember_storage::{
    LabelHints, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, ValueType,
    Warnings,
};

use super::isolation::ReadState;
use super::series::{ChunkSnapshot, MemSeries};
use super::Head;
use crate::error::TsdbError;

/// A querier over the head for `[mint, maxt]` (inclusive).
///
/// It sees the commits that were complete when it was created, and none
/// of the later ones (isolation). Series are read lazily: each series'
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
        match hints {
            Some(h) if h.start <= h.end => (self.mint.max(h.start), self.maxt.min(h.end)),
            _ => (self.mint, self.maxt),
        }
    }

    /// Whether the head's data can overlap the querier's range.
    fn overlaps(&self) -> bool {
        let (min, max) = (self.head.min_time(), self.head.max_time());
        min <= max && min <= self.maxt && self.mint <= max
    }

    fn with_limit(mut v: Vec<String>, hints: &LabelHints) -> Vec<String> {
        if hints.limit > 0 {
            v.truncate(hints.limit);
        }
        v
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
        Ok((Self::with_limit(v, hints), Vec::new()))
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
        Ok((Self::with_limit(v, hints), Vec::new()))
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
            let (chunks, maxt) = match s.snapshot(self.mint, self.maxt, Some(self.rs), files) {
                Ok(c) => c,
                Err(e) => return Some(Err(e.into())),
            };
            if chunks.is_empty() || maxt < self.mint {
                continue;
            }
            if !has_samples_in(self.head, &chunks, self.mint, maxt) {
                continue;
            }
            return Some(Ok(Box::new(HeadSeries {
                head: self.head,
                labels: s.labels.clone(),
                chunks,
                mint: self.mint,
                maxt,
            })));
        }
    }
}

/// Whether the chunks (which overlap `[mint, maxt]`) hold a sample in
/// it. Only a range strictly inside every chunk needs decoding: otherwise
/// some chunk's first or last sample is in range. A corrupt chunk counts
/// as having samples, so its error reaches the reader.
pub(crate) fn has_samples_in(
    head: &Head,
    chunks: &[ChunkSnapshot],
    mint: Timestamp,
    maxt: Timestamp,
) -> bool {
    let inside = |t: i64| mint <= t && t <= maxt;
    if chunks
        .iter()
        .any(|c| inside(c.min_time) || inside(c.max_time))
    {
        return true;
    }
    let mut it = ChunksIterator::new(head, chunks, mint, maxt);
    it.next() != ValueType::None || it.error().is_some()
}

/// One series of the head, with its chunks captured.
pub(crate) struct HeadSeries<'a> {
    pub(crate) head: &'a Head,
    pub(crate) labels: Labels,
    pub(crate) chunks: Vec<ChunkSnapshot>,
    pub(crate) mint: Timestamp,
    pub(crate) maxt: Timestamp,
}

impl Series for HeadSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ChunksIterator::new(
            self.head,
            &self.chunks,
            self.mint,
            self.maxt,
        ))
    }
}

/// Iterates captured XOR chunks in order, keeping samples in
/// `[mint, maxt]`.
pub(crate) struct ChunksIterator<'a> {
    head: &'a Head,
    chunks: &'a [ChunkSnapshot],
    next_chunk: usize,
    cur: Option<XorIter<'a>>,
    mint: Timestamp,
    maxt: Timestamp,
    t: Timestamp,
    v: f64,
    valid: bool,
    err: Option<StorageError>,
}

impl<'a> ChunksIterator<'a> {
    pub(crate) fn new(
        head: &'a Head,
        chunks: &'a [ChunkSnapshot],
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Self {
        ChunksIterator {
            head,
            chunks,
            next_chunk: 0,
            cur: None,
            mint,
            maxt,
            t: 0,
            v: 0.0,
            valid: false,
            err: None,
        }
    }

    fn chunk_error(&self, c: &ChunkSnapshot, e: &dyn std::fmt::Display) -> TsdbError {
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

    /// Takes the error that stopped the iterator.
    pub(crate) fn take_error(&mut self) -> Option<StorageError> {
        self.err.take()
    }

    fn fail(&mut self, e: TsdbError) -> ValueType {
        self.err = Some(e.into());
        self.cur = None;
        self.next_chunk = self.chunks.len();
        self.valid = false;
        ValueType::None
    }

    fn open_next(&mut self, from: Timestamp) -> bool {
        while let Some(c) = self.chunks.get(self.next_chunk) {
            self.next_chunk += 1;
            if c.max_time < from {
                continue;
            }
            match XorIter::new(&c.data) {
                Ok(it) => {
                    self.cur = Some(it);
                    return true;
                }
                Err(e) => {
                    let e = self.chunk_error(c, &e);
                    self.fail(e);
                    return false;
                }
            }
        }
        false
    }

    fn advance(&mut self, seek_to: Option<Timestamp>) -> ValueType {
        let from = seek_to.unwrap_or(Timestamp::MIN).max(self.mint);
        let seek = seek_to.map(|t| t.max(self.mint));
        loop {
            if self.cur.is_none() && !self.open_next(from) {
                self.valid = false;
                return ValueType::None;
            }
            let Some(it) = self.cur.as_mut() else {
                continue;
            };
            let step = match seek {
                Some(target) => it.seek(target).transpose(),
                None => it.next(),
            };
            match step {
                Some(Ok((t, v))) => {
                    if t > self.maxt {
                        self.cur = None;
                        self.next_chunk = self.chunks.len();
                        self.valid = false;
                        return ValueType::None;
                    }
                    if t < self.mint {
                        continue;
                    }
                    self.t = t;
                    self.v = v;
                    self.valid = true;
                    return ValueType::Float;
                }
                Some(Err(e)) => {
                    let c = &self.chunks[self.next_chunk - 1];
                    let e = self.chunk_error(c, &e);
                    return self.fail(e);
                }
                None => self.cur = None,
            }
        }
    }
}

impl SampleIterator for ChunksIterator<'_> {
    fn next(&mut self) -> ValueType {
        if self.err.is_some() {
            return ValueType::None;
        }
        self.advance(None)
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if self.err.is_some() {
            return ValueType::None;
        }
        if self.valid && self.t >= t {
            return ValueType::Float;
        }
        self.advance(Some(t))
    }

    fn at(&self) -> (Timestamp, f64) {
        if self.valid {
            (self.t, self.v)
        } else {
            (0, 0.0)
        }
    }

    fn at_histogram(&self) -> (Timestamp, Arc<Histogram>) {
        (self.at_t(), Arc::default())
    }

    fn at_float_histogram(&self) -> (Timestamp, Arc<FloatHistogram>) {
        (self.at_t(), Arc::default())
    }

    fn at_t(&self) -> Timestamp {
        if self.valid {
            self.t
        } else {
            0
        }
    }

    fn error(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }
}
