//! The evaluator's internal values: every node evaluates to a matrix with
//! one point per evaluation step (or fewer, where a series has no value).

use std::sync::Arc;

use ember_model::{FloatHistogram, Labels};

/// A native histogram value, shared between steps and series.
pub(crate) type Hist = Arc<FloatHistogram>;

/// A float point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FPoint {
    pub t: i64,
    pub f: f64,
}

/// A histogram point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HPoint {
    pub t: i64,
    pub h: Hist,
}

/// One element of an instant vector at one step.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub labels: Labels,
    /// The step, or the sample's own time where that matters (`timestamp`).
    pub t: i64,
    pub f: f64,
    pub h: Option<Hist>,
    /// The metric name (and type and unit labels) must go when the query
    /// finishes (delayed name removal).
    pub drop_name: bool,
}

impl Sample {
    /// A float sample.
    pub fn float(labels: Labels, f: f64) -> Sample {
        Sample {
            labels,
            t: 0,
            f,
            h: None,
            drop_name: false,
        }
    }
}

/// A series over the evaluation steps.
#[derive(Debug, Clone, Default)]
pub(crate) struct Series {
    pub labels: Labels,
    pub floats: Vec<FPoint>,
    pub hists: Vec<HPoint>,
    pub drop_name: bool,
}

impl Series {
    /// A series without points.
    pub fn new(labels: Labels, drop_name: bool) -> Series {
        Series {
            labels,
            floats: Vec::new(),
            hists: Vec::new(),
            drop_name,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.floats.len() + self.hists.len()
    }

    /// Appends the value of `s` at `t`.
    pub fn push(&mut self, t: i64, f: f64, h: Option<Hist>) {
        match h {
            Some(h) => self.hists.push(HPoint { t, h }),
            None => self.floats.push(FPoint { t, f }),
        }
    }
}

/// An instant vector.
pub(crate) type Vector = Vec<Sample>;

/// A range vector, or the per-step values of any expression.
pub(crate) type Matrix = Vec<Series>;

/// What evaluating a node gives.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// Per-step values (vectors and scalars) or a range vector.
    Matrix(Matrix),
    /// A string literal.
    String(String),
}

impl Value {
    /// The matrix, or an empty one for a string.
    pub fn into_matrix(self) -> Matrix {
        match self {
            Value::Matrix(m) => m,
            Value::String(_) => Vec::new(),
        }
    }
}

/// Total points in a matrix, counting each histogram as one sample.
pub(crate) fn total_samples(m: &Matrix) -> usize {
    m.iter().map(Series::len).sum()
}
