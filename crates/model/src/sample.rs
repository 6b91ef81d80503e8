//! Sample values: floats and native histograms.

use std::sync::Arc;

/// The value Prometheus writes to mark a series stale (a NaN with a
/// distinct payload).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The stale marker as an `f64`.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is the stale marker (compared bit for bit).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Timestamps are milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// A run of consecutive buckets in a native histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Gap to the previous span (or, for the first, the index of its first bucket).
    pub offset: i32,
    /// Number of buckets in the span.
    pub length: u32,
}

/// Whether a histogram sample follows a counter reset, as its producer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHint {
    /// Nothing is known.
    #[default]
    Unknown,
    /// A reset happened.
    CounterReset,
    /// No reset happened.
    NotCounterReset,
    /// A gauge histogram: resets do not apply.
    Gauge,
}

/// A native histogram with integer counts, buckets delta-encoded as
/// Prometheus stores them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Counter-reset hint.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution: -4..=8 exponential, -53 custom buckets.
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Total observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts, each as a delta to the previous.
    pub positive_buckets: Vec<i64>,
    /// Negative bucket counts, each as a delta to the previous.
    pub negative_buckets: Vec<i64>,
    /// Upper bounds of custom buckets (schema -53).
    pub custom_values: Vec<f64>,
}

/// A native histogram with float counts, buckets absolute.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// Counter-reset hint.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution: -4..=8 exponential, -53 custom buckets.
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts.
    pub positive_buckets: Vec<f64>,
    /// Negative bucket counts.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of custom buckets (schema -53).
    pub custom_values: Vec<f64>,
}

impl Histogram {
    /// The same histogram with float counts and absolute buckets.
    pub fn to_float(&self) -> FloatHistogram {
        fn absolute(deltas: &[i64]) -> Vec<f64> {
            let mut acc = 0i64;
            deltas
                .iter()
                .map(|d| {
                    acc = acc.wrapping_add(*d);
                    acc as f64
                })
                .collect()
        }
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count as f64,
            count: self.count as f64,
            sum: self.sum,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: absolute(&self.positive_buckets),
            negative_buckets: absolute(&self.negative_buckets),
            custom_values: self.custom_values.clone(),
        }
    }
}

/// One sample's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A float.
    Float(f64),
    /// An integer native histogram.
    Histogram(Arc<Histogram>),
    /// A float native histogram.
    FloatHistogram(Arc<FloatHistogram>),
}

impl Value {
    /// The float, if this is one.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// Whether this is the stale marker (a float stale NaN, or a histogram
    /// whose sum is the stale NaN).
    pub fn is_stale(&self) -> bool {
        match self {
            Value::Float(v) => is_stale_nan(*v),
            Value::Histogram(h) => is_stale_nan(h.sum),
            Value::FloatHistogram(h) => is_stale_nan(h.sum),
        }
    }
}

/// A timestamped value with an optional start (created) timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Milliseconds since the epoch.
    pub t: Timestamp,
    /// The value.
    pub value: Value,
    /// When the counter or histogram this sample belongs to started, if known.
    pub start: Option<Timestamp>,
}

impl Sample {
    /// A float sample with no start timestamp.
    pub fn float(t: Timestamp, v: f64) -> Self {
        Sample {
            t,
            value: Value::Float(v),
            start: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale() {
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
        assert!(Value::Float(stale_nan()).is_stale());
    }

    #[test]
    fn to_float() {
        let h = Histogram {
            count: 5,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1, 1, -1],
            ..Default::default()
        };
        assert_eq!(h.to_float().positive_buckets, [1.0, 2.0, 1.0]);
    }
}

/// An exemplar: a sample of a trace or event attached to a series sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's own labels (e.g. `trace_id`).
    pub labels: crate::Labels,
    /// The observed value.
    pub value: f64,
    /// When it was observed, if given.
    pub t: Option<Timestamp>,
}
