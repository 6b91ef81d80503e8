//! What a query returns.

use std::sync::Arc;

use ember_model::{FloatHistogram, Labels, Timestamp};

/// One point's value: a float or a (float) native histogram.
#[derive(Debug, Clone, PartialEq)]
pub enum PointValue {
    /// A float.
    Float(f64),
    /// A native histogram.
    Histogram(Arc<FloatHistogram>),
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    /// The series' labels (after any name removal).
    pub labels: Labels,
    /// The evaluation timestamp (ms), or the sample's own for raw selectors
    /// returned by `timestamp()`-like uses.
    pub t: Timestamp,
    /// The value.
    pub value: PointValue,
}

/// One series of a range vector (matrix).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Float points in time order.
    pub floats: Vec<(Timestamp, f64)>,
    /// Histogram points in time order.
    pub histograms: Vec<(Timestamp, Arc<FloatHistogram>)>,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// A scalar at a time.
    Scalar {
        /// Evaluation time (ms).
        t: Timestamp,
        /// The value.
        v: f64,
    },
    /// A string at a time.
    String {
        /// Evaluation time (ms).
        t: Timestamp,
        /// The value.
        s: String,
    },
    /// An instant vector.
    Vector(Vec<VectorSample>),
    /// A range vector, sorted by labels.
    Matrix(Vec<RangeSeries>),
}

/// A query's result with the annotations gathered while evaluating it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    /// The value.
    pub value: QueryValue,
    /// Warnings, formatted like Prometheus' (`PromQL warning: ... (1:5)`).
    pub warnings: Vec<String>,
    /// Infos, formatted like Prometheus' (`PromQL info: ... (1:5)`).
    pub infos: Vec<String>,
}
