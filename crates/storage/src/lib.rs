//! The seam between what produces samples and what reads them.
//!
//! Producers (scrape, remote write, rule evaluation, backfill) write through
//! an [`Appender`]; consumers (PromQL, the HTTP API, federation, remote read)
//! read through a [`Querier`]. Both are small, synchronous, object-safe
//! traits, so a consumer holds a `&dyn Queryable` and never learns whether
//! samples live in the TSDB's head, in on-disk blocks, in memory, or in
//! several of these merged. promql, rules and web depend on this crate and
//! on nothing deeper.
//!
//! Reading is pull-based and lazy, as in Prometheus: [`Querier::select`]
//! returns a [`SeriesSet`] that yields [`Series`] one at a time, each with a
//! [`SampleIterator`] that can [`seek`](SampleIterator::seek) forward, so an
//! evaluator can walk many series step by step without materialising them.
//! Sets returned with `sort = true` come ordered by labels, which is what
//! [`MergeQuerier`] needs to merge sources in one pass (overlapping series
//! merged, samples at equal timestamps taken once).
//!
//! Appends are transactional: nothing an appender buffered is visible
//! until [`Appender::commit`] returns, and [`Appender::rollback`] drops it.
//! [`MemStorage`] is a complete, simple implementation for tests and for
//! embedders who want no disk.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

mod error;
mod iter;
mod mem;
mod merge;

use std::sync::Arc;

use ember_model::{
    Exemplar, FloatHistogram, Histogram, Labels, Matcher, Metadata, Sample, Timestamp,
};

pub use error::StorageError;
pub use iter::{ListSeries, ListSeriesSet, SampleVecIterator};
pub use mem::MemStorage;
pub use merge::{MergeQuerier, MergeSampleIterator};

/// Non-fatal messages gathered while reading (a source that was skipped,
/// a chunk of an unknown encoding, ...), passed up to the API's `warnings`.
pub type Warnings = Vec<String>;

/// A storage-assigned handle for a series, returned by appends so that the
/// next append of the same series can skip the label lookup. `SeriesRef(0)`
/// means "not known".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SeriesRef(pub u64);

/// Writes samples, exemplars and metadata as one transaction.
pub trait Appender: Send {
    /// Buffers a sample for the series `labels`. `hint` is a reference an
    /// earlier append returned for the same labels, or `SeriesRef(0)`.
    /// Returns the series' reference. Errors for this sample (out of order,
    /// duplicate timestamp, out of bounds) leave the rest of the
    /// transaction intact.
    fn append(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        sample: Sample,
    ) -> Result<SeriesRef, StorageError>;

    /// Buffers an exemplar for the series.
    fn append_exemplar(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        exemplar: &Exemplar,
    ) -> Result<SeriesRef, StorageError>;

    /// Records the series' metadata.
    fn update_metadata(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        metadata: &Metadata,
    ) -> Result<SeriesRef, StorageError>;

    /// Makes everything buffered visible and durable as the implementation
    /// promises. The appender is empty afterwards and may be reused.
    fn commit(&mut self) -> Result<(), StorageError>;

    /// Drops everything buffered. The appender may be reused.
    fn rollback(&mut self) -> Result<(), StorageError>;
}

/// Something that hands out appenders.
pub trait Appendable: Send + Sync {
    /// A new transaction.
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// What the caller of [`Querier::select`] will do with the data; sources
/// may use it to read less.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelectHints {
    /// Start of the data needed, in ms (inclusive).
    pub start: Timestamp,
    /// End of the data needed, in ms (inclusive).
    pub end: Timestamp,
    /// Query step in ms, 0 for instant queries.
    pub step: i64,
    /// The function wrapping the selector, if any (`rate`, `series` for
    /// label-only reads, ...).
    pub func: Option<String>,
    /// Range of a range selector in ms, 0 for instant selectors.
    pub range: i64,
    /// Labels of an enclosing aggregation's grouping.
    pub grouping: Vec<String>,
    /// Whether `grouping` is `by` (true) or `without` (false).
    pub by: bool,
}

impl SelectHints {
    /// `[mint, maxt]` narrowed to the hints' `[start, end]`, if given
    /// (and not reversed).
    pub fn clamp(
        hints: Option<&SelectHints>,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> (Timestamp, Timestamp) {
        match hints {
            Some(h) if h.start <= h.end => (mint.max(h.start), maxt.min(h.end)),
            _ => (mint, maxt),
        }
    }
}

/// Options for label-name and label-value lookups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelHints {
    /// At most this many results; 0 means no limit.
    pub limit: usize,
}

impl LabelHints {
    /// `v` cut to the limit.
    pub fn apply(&self, mut v: Vec<String>) -> Vec<String> {
        if self.limit > 0 {
            v.truncate(self.limit);
        }
        v
    }
}

/// Reads the series of a fixed time range.
pub trait Querier {
    /// Series matching all `matchers` with samples in the querier's range.
    /// With `sort`, the set is ordered by labels.
    fn select<'a>(
        &'a self,
        sort: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet<'a> + 'a>, StorageError>;

    /// Sorted distinct values of label `name` among series matching
    /// `matchers` (all series when empty).
    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError>;

    /// Sorted distinct label names among series matching `matchers`.
    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError>;
}

/// Something that hands out queriers.
pub trait Queryable: Send + Sync {
    /// A querier over `[mint, maxt]` (ms, both inclusive).
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError>;
}

/// A lazily produced set of series; the series may borrow from the
/// querier (`'a`) and outlive the set's own borrows.
pub trait SeriesSet<'a> {
    /// The next series, or an error that ends the set.
    fn next(&mut self) -> Option<Result<Box<dyn Series + 'a>, StorageError>>;

    /// Warnings gathered so far; complete once `next` returned `None`.
    fn warnings(&self) -> Warnings {
        Vec::new()
    }
}

/// One series: its labels and a way to read its samples.
pub trait Series {
    /// The series' labels.
    fn labels(&self) -> &Labels;

    /// A fresh iterator over the series' samples in time order.
    fn iter(&self) -> Box<dyn SampleIterator + '_>;
}

impl<S: Series + ?Sized> Series for &S {
    fn labels(&self) -> &Labels {
        (**self).labels()
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        (**self).iter()
    }
}

/// What a [`SampleIterator`] is positioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Exhausted (or failed: see [`SampleIterator::error`]).
    None,
    /// A float sample.
    Float,
    /// An integer native histogram.
    Histogram,
    /// A float native histogram.
    FloatHistogram,
}

/// A forward cursor over one series' samples.
///
/// Starts before the first sample; [`next`](Self::next) or
/// [`seek`](Self::seek) positions it, and the `at*` accessors read the
/// current sample. Calling an accessor of the wrong kind or when exhausted
/// returns a neutral value, never panics.
pub trait SampleIterator {
    /// Advances to the next sample.
    fn next(&mut self) -> ValueType;

    /// Advances to the first sample at or after `t`; never moves backwards
    /// (if the current sample is already at or after `t`, stays).
    fn seek(&mut self, t: Timestamp) -> ValueType;

    /// The current float sample.
    fn at(&self) -> (Timestamp, f64);

    /// The current integer histogram sample.
    fn at_histogram(&self) -> (Timestamp, Arc<Histogram>);

    /// The current histogram sample as a float histogram (integer ones are
    /// converted).
    fn at_float_histogram(&self) -> (Timestamp, Arc<FloatHistogram>);

    /// The current sample's timestamp.
    fn at_t(&self) -> Timestamp;

    /// The current sample's start timestamp, if known.
    fn at_start(&self) -> Option<Timestamp> {
        None
    }

    /// The error that stopped the iterator, if any.
    fn error(&self) -> Option<&StorageError> {
        None
    }
}
