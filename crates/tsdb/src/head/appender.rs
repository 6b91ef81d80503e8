//! Appending to the head: per-transaction buffers, Prometheus' validity
//! rules, and commits that log before they publish.

use std::sync::Arc;

use ember_model::{Exemplar, Labels, Metadata, Sample, Value};
use ember_storage::{Appender, SeriesRef, StorageError};

use super::series::{ChunkCtx, MemSeries, SeriesState, U64Map};
use super::stats::HeadStats;
use super::{CommitBatch, Head};
use crate::wal::record::{RefMetadata, RefSample, RefSeries};

/// Why a sample cannot be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    OutOfBounds,
    OutOfOrder,
    Duplicate,
}

impl Reject {
    fn count(self, stats: &HeadStats) {
        match self {
            Reject::OutOfBounds => HeadStats::add(&stats.out_of_bound_samples, 1),
            Reject::OutOfOrder => HeadStats::add(&stats.out_of_order_samples, 1),
            Reject::Duplicate => {}
        }
    }

    fn error(self) -> StorageError {
        match self {
            Reject::OutOfBounds => StorageError::OutOfBounds,
            Reject::OutOfOrder => StorageError::OutOfOrderSample,
            Reject::Duplicate => StorageError::DuplicateSampleForTimestamp,
        }
    }
}

/// Prometheus' `memSeries.appendable` for the in-order case: `Ok(true)` to
/// append, `Ok(false)` for an exact duplicate of the newest sample (dropped
/// silently), or why not.
pub(crate) fn appendable(st: &SeriesState, t: i64, v: f64, min_valid: i64) -> Result<bool, Reject> {
    if t >= min_valid {
        let Some(max) = st.max_time() else {
            return Ok(true);
        };
        if t > max {
            return Ok(true);
        }
        if t == max {
            return if st.last_value.to_bits() == v.to_bits() {
                Ok(false)
            } else {
                Err(Reject::Duplicate)
            };
        }
    }
    if t < min_valid {
        Err(Reject::OutOfBounds)
    } else {
        Err(Reject::OutOfOrder)
    }
}

/// A sample waiting for commit: index into the appender's series list.
#[derive(Debug, Clone, Copy)]
struct Pending {
    series: u32,
    t: i64,
    v: f64,
}

/// A series the transaction touches.
#[derive(Debug)]
struct Touched {
    series: Arc<MemSeries>,
    /// Newest sample buffered for it.
    last: Option<(i64, f64)>,
    /// Whether this appender holds a `pending_commit` mark on the series
    /// (which keeps garbage collection away from it).
    marked: bool,
    /// Index in `samples` of its last buffered sample.
    last_sample: u32,
}

/// An append transaction on a [`Head`]: see [`Appender`].
///
/// Samples are checked against the series' committed samples and the
/// transaction's own when appended, buffered, and on
/// [`commit`](Appender::commit) logged to the WAL (new series, then
/// samples, then metadata) before being added to the series and made
/// visible to new queriers all at once. Dropping an appender rolls it
/// back.
///
/// A series' lock is taken once when the transaction first appends to it
/// (to check the sample and mark the series as pending a commit) and once
/// more per run of its samples at commit.
pub struct HeadAppender<'h> {
    head: &'h Head,
    /// `(min valid time, head max time)`, fixed at the first append as in
    /// Prometheus.
    bounds: Option<(i64, i64)>,
    touched: Vec<Touched>,
    by_ref: U64Map<u32>,
    /// Series this transaction created (for the WAL's series records).
    created: Vec<u32>,
    samples: Vec<Pending>,
    metadata: Vec<(u32, Metadata)>,
}

/// The rules against the transaction's own newest sample of the series.
fn check_pending((lt, lv): (i64, f64), t: i64, v: f64) -> Result<bool, Reject> {
    if t > lt {
        Ok(true)
    } else if t == lt {
        if lv.to_bits() == v.to_bits() {
            Ok(false)
        } else {
            Err(Reject::Duplicate)
        }
    } else {
        Err(Reject::OutOfOrder)
    }
}

impl<'h> HeadAppender<'h> {
    pub(crate) fn new(head: &'h Head) -> Self {
        HeadStats::add(&head.active_appenders, 1);
        HeadAppender {
            head,
            bounds: None,
            touched: Vec::new(),
            by_ref: U64Map::default(),
            created: Vec::new(),
            samples: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// Number of samples buffered.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.metadata.is_empty() && self.created.is_empty()
    }

    fn bounds(&mut self, t: i64) -> (i64, i64) {
        if let Some(b) = self.bounds {
            return b;
        }
        self.head.init_time(t);
        let b = (self.head.appendable_min_valid_time(), self.head.max_time());
        self.bounds = Some(b);
        b
    }

    /// Registers `s`, already marked pending if `marked`; returns its
    /// index.
    fn touch(&mut self, s: Arc<MemSeries>, marked: bool, created: bool) -> u32 {
        if let Some(&i) = self.by_ref.get(&s.series_ref) {
            if marked {
                let mut st = s.state.lock();
                st.pending_commit = st.pending_commit.saturating_sub(1);
            }
            return i;
        }
        let i = self.touched.len() as u32;
        self.by_ref.insert(s.series_ref, i);
        self.touched.push(Touched {
            series: s,
            last: None,
            marked,
            last_sample: 0,
        });
        if created {
            self.created.push(i);
        }
        i
    }

    /// The transaction's index of the series, found by `hint` or labels,
    /// created if new.
    fn series_index(&mut self, hint: SeriesRef, labels: &Labels) -> Result<u32, StorageError> {
        if hint.0 != 0 {
            if let Some(&i) = self.by_ref.get(&hint.0) {
                if self.touched[i as usize].series.labels == *labels {
                    return Ok(i);
                }
            }
            if let Some(s) = self.head.series.get_by_ref(hint.0) {
                if s.labels == *labels {
                    return Ok(self.touch(s, false, false));
                }
            }
        }
        if labels.is_empty() {
            return Err(StorageError::InvalidLabels(
                ember_model::ModelError::EmptyLabelName,
            ));
        }
        let (s, created) = self.head.get_or_create(labels, true);
        Ok(self.touch(s, created, created))
    }

    /// Locks series `i`, marking it pending for this transaction if it is
    /// not yet, and runs `f` on its state. A series that garbage
    /// collection removed meanwhile is looked up (or created) again, so
    /// the index may change.
    fn with_marked<T>(
        &mut self,
        mut i: u32,
        labels: &Labels,
        f: impl Fn(&SeriesState) -> T,
    ) -> (u32, T) {
        loop {
            let entry = &self.touched[i as usize];
            let s = Arc::clone(&entry.series);
            let mut st = s.state.lock();
            if !entry.marked {
                if st.deleted {
                    drop(st);
                    self.by_ref.remove(&s.series_ref);
                    let (n, created) = self.head.get_or_create(labels, true);
                    if let Some(&j) = self.by_ref.get(&n.series_ref) {
                        if created {
                            n.state.lock().pending_commit -= 1;
                        }
                        i = j;
                        continue;
                    }
                    self.by_ref.insert(n.series_ref, i);
                    self.touched[i as usize] = Touched {
                        series: n,
                        last: None,
                        marked: created,
                        last_sample: 0,
                    };
                    if created {
                        self.created.push(i);
                    }
                    continue;
                }
                st.pending_commit += 1;
                self.touched[i as usize].marked = true;
            }
            return (i, f(&st));
        }
    }

    fn append_float(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        let (min_valid, _) = self.bounds(t);
        if t < min_valid {
            Reject::OutOfBounds.count(&self.head.stats);
            return Err(StorageError::OutOfBounds);
        }
        let i = self.series_index(hint, labels)?;
        let entry = &self.touched[i as usize];
        let (i, check) = match entry.last {
            Some(last) if entry.marked => (i, check_pending(last, t, v)),
            _ => self.with_marked(i, labels, |st| appendable(st, t, v, min_valid)),
        };
        let entry = &mut self.touched[i as usize];
        let series_ref = SeriesRef(entry.series.series_ref);
        match check {
            Ok(true) => {
                entry.last = Some((t, v));
                entry.last_sample = self.samples.len() as u32;
                self.samples.push(Pending { series: i, t, v });
                Ok(series_ref)
            }
            Ok(false) => Ok(series_ref),
            Err(r) => {
                r.count(&self.head.stats);
                Err(r.error())
            }
        }
    }

    /// Drops the remaining `pending_commit` marks and the buffers.
    fn release(&mut self) {
        for t in self.touched.drain(..) {
            if t.marked {
                let mut st = t.series.state.lock();
                st.pending_commit = st.pending_commit.saturating_sub(1);
            }
        }
        self.by_ref.clear();
        self.created.clear();
        self.samples.clear();
        self.metadata.clear();
        self.bounds = None;
    }

    fn batch(&self, with_data: bool) -> CommitBatch {
        let series = self
            .created
            .iter()
            .map(|&i| {
                let s = &self.touched[i as usize].series;
                RefSeries {
                    series_ref: s.series_ref,
                    labels: s.labels.clone(),
                }
            })
            .collect();
        let (samples, metadata) = if with_data {
            (
                self.samples
                    .iter()
                    .map(|p| RefSample {
                        series_ref: self.touched[p.series as usize].series.series_ref,
                        t: p.t,
                        v: p.v,
                        st: 0,
                    })
                    .collect(),
                self.metadata
                    .iter()
                    .map(|(i, m)| RefMetadata {
                        series_ref: self.touched[*i as usize].series.series_ref,
                        metric_type: m.metric_type,
                        unit: m.unit.clone(),
                        help: m.help.clone(),
                    })
                    .collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        CommitBatch {
            series,
            samples,
            metadata,
        }
    }

    fn do_commit(&mut self) -> Result<(), StorageError> {
        if self.is_empty() {
            self.release();
            return Ok(());
        }
        let head = self.head;
        // Log first: whatever becomes visible must survive a crash.
        let logged = if head.has_wal() {
            head.log_commit(&self.batch(true))
        } else {
            Ok(())
        };
        if let Err(e) = logged {
            // Like Prometheus' rollback: the new series exist in memory
            // whatever happens, so try to log them alone.
            if !self.created.is_empty() {
                if let Err(e2) = head.log_commit(&self.batch(false)) {
                    tracing::warn!(error = %e2, "logging new series after a failed commit failed");
                }
            }
            self.release();
            return Err(e.context("write to WAL").into());
        }
        for (i, m) in self.metadata.drain(..) {
            let mut st = self.touched[i as usize].series.state.lock();
            if st.metadata.as_deref() != Some(&m) {
                st.metadata = Some(Box::new(m));
            }
        }
        let id = head.iso.open_append();
        let low = head.iso.low_watermark();
        let (min_valid, _) = self.bounds.unwrap_or((i64::MIN, i64::MIN));
        let ctx = ChunkCtx {
            cut: &head.cut,
            files: head.files.as_ref(),
        };
        let (mut appended, mut ooo, mut oob, mut chunks) = (0u64, 0u64, 0u64, 0u64);
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let mut k = 0;
        while k < self.samples.len() {
            // Consecutive samples of one series under one lock.
            let idx = self.samples[k].series;
            let entry = &mut self.touched[idx as usize];
            let s = &entry.series;
            let mut st = s.state.lock();
            while let Some(p) = self.samples.get(k).filter(|p| p.series == idx) {
                k += 1;
                match appendable(&st, p.t, p.v, min_valid) {
                    Ok(true) => {}
                    Ok(false) | Err(Reject::Duplicate) => continue,
                    Err(Reject::OutOfOrder) => {
                        ooo += 1;
                        continue;
                    }
                    Err(Reject::OutOfBounds) => {
                        oob += 1;
                        continue;
                    }
                }
                let before = st.appended;
                let r = st.append(s.series_ref, p.t, p.v, ctx);
                if r.ok {
                    st.txs.record(id, before, low);
                    appended += 1;
                    mint = mint.min(p.t);
                    maxt = maxt.max(p.t);
                }
                if r.chunk_created {
                    chunks += 1;
                }
            }
            if entry.marked && (entry.last_sample as usize) < k {
                // The series' last sample: done with it.
                st.pending_commit = st.pending_commit.saturating_sub(1);
                drop(st);
                entry.marked = false;
            }
        }
        head.update_min_max_time(mint, maxt);
        let stats = &head.stats;
        HeadStats::add(&stats.samples_appended, appended);
        HeadStats::add(&stats.out_of_order_samples, ooo);
        HeadStats::add(&stats.out_of_bound_samples, oob);
        HeadStats::add(&stats.chunks_created, chunks);
        HeadStats::add(&stats.chunks, chunks);
        head.iso.close_append(id);
        self.release();
        Ok(())
    }
}

impl Appender for HeadAppender<'_> {
    fn append(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        sample: Sample,
    ) -> Result<SeriesRef, StorageError> {
        match sample.value {
            Value::Float(v) => self.append_float(hint, labels, sample.t, v),
            Value::Histogram(_) | Value::FloatHistogram(_) => Err(StorageError::Unsupported(
                "native histogram samples in the head",
            )),
        }
    }

    fn append_exemplar(
        &mut self,
        hint: SeriesRef,
        _labels: &Labels,
        _exemplar: &Exemplar,
    ) -> Result<SeriesRef, StorageError> {
        // Like Prometheus with exemplar storage disabled: accepted and
        // dropped.
        HeadStats::add(&self.head.stats.exemplars_dropped, 1);
        Ok(hint)
    }

    fn update_metadata(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        metadata: &Metadata,
    ) -> Result<SeriesRef, StorageError> {
        let i = match self.by_ref.get(&hint.0) {
            Some(&i) if hint.0 != 0 && self.touched[i as usize].series.labels == *labels => i,
            _ => {
                let found = self
                    .head
                    .series
                    .get_by_ref(hint.0)
                    .filter(|s| s.labels == *labels)
                    .or_else(|| self.head.series_by_labels(labels));
                let Some(s) = found else {
                    return Err(StorageError::Backend(Box::new(
                        crate::TsdbError::InvalidInput(format!(
                            "unknown series {labels} when trying to add metadata"
                        )),
                    )));
                };
                self.touch(s, false, false)
            }
        };
        let (i, changed) =
            self.with_marked(i, labels, |st| st.metadata.as_deref() != Some(metadata));
        if changed {
            self.metadata.push((i, metadata.clone()));
        }
        Ok(SeriesRef(self.touched[i as usize].series.series_ref))
    }

    fn commit(&mut self) -> Result<(), StorageError> {
        self.do_commit()
    }

    fn rollback(&mut self) -> Result<(), StorageError> {
        // Series were created in the head whatever happens to the samples:
        // log them, as Prometheus does.
        let res = if self.created.is_empty() || !self.head.has_wal() {
            Ok(())
        } else {
            self.head.log_commit(&self.batch(false))
        };
        self.release();
        res.map_err(|e| e.context("write series to WAL").into())
    }
}

impl Drop for HeadAppender<'_> {
    fn drop(&mut self) {
        if !self.is_empty() || !self.touched.is_empty() {
            if let Err(e) = self.rollback() {
                tracing::warn!(error = %e, "rolling back a dropped head appender failed");
            }
        }
        HeadStats::sub(&self.head.active_appenders, 1);
    }
}
