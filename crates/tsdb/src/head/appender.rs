//! Appending to the head: per-transaction buffers, Prometheus' validity
//! rules, and commits that log before they publish.

use std::sync::Arc;

use ember_model::{Exemplar, Labels, Metadata, Sample, Value};
use ember_storage::{Appender, SeriesRef, StorageError};

use super::ooo::{wbl_records, OooState, WblEntry};
use super::series::{ChunkCtx, MemSeries, SeriesState, U64Map};
use super::stats::HeadStats;
use super::{CommitBatch, Head};
use crate::wal::record::{RefMetadata, RefMmapMarker, RefSample, RefSeries};

/// Why a sample cannot be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    OutOfBounds,
    OutOfOrder,
    Duplicate,
    /// Out of order and older than the out-of-order window.
    TooOld,
}

impl Reject {
    fn count(self, stats: &HeadStats) {
        match self {
            Reject::OutOfBounds => HeadStats::add(&stats.out_of_bound_samples, 1),
            Reject::OutOfOrder => HeadStats::add(&stats.out_of_order_samples, 1),
            Reject::TooOld => HeadStats::add(&stats.too_old_samples, 1),
            Reject::Duplicate => {}
        }
    }

    fn error(self) -> StorageError {
        match self {
            Reject::OutOfBounds => StorageError::OutOfBounds,
            Reject::OutOfOrder => StorageError::OutOfOrderSample,
            Reject::Duplicate => StorageError::DuplicateSampleForTimestamp,
            Reject::TooOld => StorageError::TooOldSample,
        }
    }
}

/// Where an acceptable sample goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accept {
    /// Appended to the in-order chunks.
    InOrder,
    /// Inserted into the out-of-order buffer.
    OutOfOrder,
    /// An exact duplicate of the newest sample: dropped silently.
    Drop,
}

/// The time limits a transaction checks samples against, fixed at its
/// first append as in Prometheus.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Oldest in-order timestamp accepted.
    pub(crate) min_valid: i64,
    /// Oldest out-of-order timestamp accepted (`head maxT − window`), if
    /// out-of-order ingestion is enabled.
    pub(crate) ooo_min: Option<i64>,
}

impl Bounds {
    /// Why a sample that is not in order is refused, or `None` if it is
    /// accepted out of order.
    fn not_in_order(&self, t: i64) -> Option<Reject> {
        match self.ooo_min {
            Some(m) if t >= m => None,
            Some(_) => Some(Reject::TooOld),
            None if t < self.min_valid => Some(Reject::OutOfBounds),
            None => Some(Reject::OutOfOrder),
        }
    }
}

/// Prometheus' `memSeries.appendable`: a sample newer than the series'
/// newest (and not older than `min_valid`) goes in order; the newest
/// timestamp again is dropped with the same value and a duplicate
/// otherwise; anything else goes out of order if the window allows.
/// Out-of-order samples are not checked against existing ones here (a
/// timestamp already in the out-of-order buffer is dropped on insert).
pub(crate) fn appendable(st: &SeriesState, t: i64, v: f64, b: &Bounds) -> Result<Accept, Reject> {
    if t >= b.min_valid {
        let Some(max) = st.max_time() else {
            return Ok(Accept::InOrder);
        };
        if t > max {
            return Ok(Accept::InOrder);
        }
        if t == max {
            return if st.last_value.to_bits() == v.to_bits() {
                Ok(Accept::Drop)
            } else {
                Err(Reject::Duplicate)
            };
        }
    }
    match b.not_in_order(t) {
        None => Ok(Accept::OutOfOrder),
        Some(r) => Err(r),
    }
}

/// A sample waiting for commit: index into the appender's series list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    series: u32,
    t: i64,
    v: f64,
}

/// A series the transaction touches.
#[derive(Debug)]
struct Touched {
    series: Arc<MemSeries>,
    /// Newest in-order sample buffered for it (out-of-order ones do not
    /// move the series' newest timestamp).
    last: Option<(i64, f64)>,
    /// Whether this appender holds a `pending_commit` mark on the series
    /// (which keeps garbage collection away from it).
    marked: bool,
    /// Index in `samples` of its last buffered sample.
    last_sample: u32,
    /// Some of its samples wait for the out-of-order pass of the commit.
    deferred: bool,
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
/// more per run of its samples at commit (and, for series with
/// out-of-order samples, once more to insert those after the in-order
/// ones).
pub struct HeadAppender<'h> {
    head: &'h Head,
    /// Fixed at the first append, as in Prometheus.
    bounds: Option<Bounds>,
    touched: Vec<Touched>,
    by_ref: U64Map<u32>,
    /// Series this transaction created (for the WAL's series records).
    created: Vec<u32>,
    samples: Vec<Pending>,
    metadata: Vec<(u32, Metadata)>,
}

/// The rules against the transaction's own newest in-order sample of the
/// series (newer than any committed one).
fn check_pending((lt, lv): (i64, f64), t: i64, v: f64, b: &Bounds) -> Result<Accept, Reject> {
    if t > lt {
        Ok(Accept::InOrder)
    } else if t == lt {
        if lv.to_bits() == v.to_bits() {
            Ok(Accept::Drop)
        } else {
            Err(Reject::Duplicate)
        }
    } else {
        match b.not_in_order(t) {
            None => Ok(Accept::OutOfOrder),
            Some(r) => Err(r),
        }
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

    fn bounds(&mut self, t: i64) -> Bounds {
        if let Some(b) = self.bounds {
            return b;
        }
        self.head.init_time(t);
        let head = self.head;
        let window = head.options().out_of_order_time_window;
        let b = head.register_append_bound(
            || Bounds {
                min_valid: head.appendable_min_valid_time(),
                ooo_min: (window > 0).then(|| head.max_time().saturating_sub(window)),
            },
            |b| b.min_valid,
        );
        self.bounds = Some(b);
        b
    }

    /// Ends the transaction's hold on its bounds (they are fixed again by
    /// its next append).
    fn clear_bounds(&mut self) {
        if let Some(b) = self.bounds.take() {
            self.head.unregister_append_bound(b.min_valid);
        }
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
            deferred: false,
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
                    // (A series just created is not in `by_ref` yet.)
                    if let Some(&j) = self.by_ref.get(&n.series_ref) {
                        i = j;
                        continue;
                    }
                    self.by_ref.insert(n.series_ref, i);
                    self.touched[i as usize] = Touched {
                        series: n,
                        last: None,
                        marked: created,
                        last_sample: 0,
                        deferred: false,
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
        let b = self.bounds(t);
        // Too old whatever the series holds.
        if t < b.min_valid {
            if let Some(r) = b.not_in_order(t) {
                r.count(&self.head.stats);
                return Err(r.error());
            }
        }
        let i = self.series_index(hint, labels)?;
        let entry = &self.touched[i as usize];
        let (i, check) = match entry.last {
            Some(last) if entry.marked => (i, check_pending(last, t, v, &b)),
            _ => self.with_marked(i, labels, |st| appendable(st, t, v, &b)),
        };
        let entry = &mut self.touched[i as usize];
        let series_ref = SeriesRef(entry.series.series_ref);
        match check {
            Ok(a @ (Accept::InOrder | Accept::OutOfOrder)) => {
                if a == Accept::InOrder {
                    entry.last = Some((t, v));
                }
                entry.last_sample = self.samples.len() as u32;
                self.samples.push(Pending { series: i, t, v });
                Ok(series_ref)
            }
            Ok(Accept::Drop) => Ok(series_ref),
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
        self.clear_bounds();
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
        let bounds = self.bounds.unwrap_or(Bounds {
            min_valid: i64::MIN,
            ooo_min: None,
        });
        let ctx = ChunkCtx {
            cut: &head.cut,
            files: head.files.as_ref(),
        };
        let (mut appended, mut chunks) = (0u64, 0u64);
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        // Samples going out of order, inserted after the in-order ones.
        let mut deferred: Vec<Pending> = Vec::new();
        let mut k = 0;
        while k < self.samples.len() {
            // Consecutive samples of one series under one lock.
            let idx = self.samples[k].series;
            let entry = &mut self.touched[idx as usize];
            let s = &entry.series;
            let mut st = s.state.lock();
            while let Some(p) = self.samples.get(k).filter(|p| p.series == idx) {
                k += 1;
                match appendable(&st, p.t, p.v, &bounds) {
                    Ok(Accept::InOrder) => {}
                    Ok(Accept::OutOfOrder) => {
                        deferred.push(*p);
                        entry.deferred = true;
                        continue;
                    }
                    Ok(Accept::Drop) => continue,
                    Err(r) => {
                        r.count(&head.stats);
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
            if entry.marked && (entry.last_sample as usize) < k && !entry.deferred {
                // The series' last sample: done with it.
                st.pending_commit = st.pending_commit.saturating_sub(1);
                drop(st);
                entry.marked = false;
            }
        }
        head.update_min_max_time(mint, maxt);
        if !deferred.is_empty() {
            self.insert_out_of_order(&deferred);
        }
        let stats = &head.stats;
        HeadStats::add(&stats.samples_appended, appended);
        HeadStats::add(&stats.chunks_created, chunks);
        HeadStats::add(&stats.chunks, chunks);
        head.iso.close_append(id);
        self.release();
        Ok(())
    }

    /// Inserts the commit's out-of-order samples and logs them, with the
    /// m-map markers of the chunks they cut, to the WBL, in one go under
    /// the head's out-of-order lock so the WBL has them in insertion
    /// order. The series are still marked pending. As in Prometheus, the
    /// WBL is written after the samples are in memory, and failing to
    /// write it is logged, not returned (the samples are in the WAL).
    fn insert_out_of_order(&self, samples: &[Pending]) {
        let head = self.head;
        let cap = head.options().out_of_order_cap_max;
        let files = head.files.as_ref();
        let mut wbl: Vec<WblEntry> = Vec::new();
        let (mut inserted, mut chunks) = (0u64, 0u64);
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let _g = head.ooo_lock.lock();
        let mut k = 0;
        while k < samples.len() {
            let idx = samples[k].series;
            let s = &self.touched[idx as usize].series;
            let mut st = s.state.lock();
            let o = st.ooo.get_or_insert_with(Box::<OooState>::default);
            while let Some(p) = samples.get(k).filter(|p| p.series == idx) {
                k += 1;
                let r = o.insert(s.series_ref, p.t, p.v, cap, files);
                if r.chunk_created {
                    chunks += 1;
                    if let Some(m) = r.marker {
                        wbl.push(WblEntry::Marker(RefMmapMarker {
                            series_ref: s.series_ref,
                            mmap_ref: m.0,
                        }));
                    }
                }
                if r.inserted {
                    inserted += 1;
                    mint = mint.min(p.t);
                    maxt = maxt.max(p.t);
                    wbl.push(WblEntry::Sample(RefSample {
                        series_ref: s.series_ref,
                        t: p.t,
                        v: p.v,
                        st: 0,
                    }));
                }
            }
        }
        head.update_ooo_time(mint, maxt);
        if let Some(w) = &head.wbl {
            if let Err(e) = w.log(&wbl_records(&wbl)) {
                tracing::error!(error = %e, "writing out-of-order samples to the WBL failed");
            }
        }
        drop(_g);
        let stats = &head.stats;
        HeadStats::add(&stats.samples_appended, inserted);
        HeadStats::add(&stats.ooo_samples_appended, inserted);
        HeadStats::add(&stats.chunks_created, chunks);
        HeadStats::add(&stats.chunks, chunks);
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
        self.clear_bounds();
        HeadStats::sub(&self.head.active_appenders, 1);
    }
}
