//! Series and sets backed by plain vectors.

use std::sync::Arc;

use ember_model::{FloatHistogram, Histogram, Labels, Sample, Timestamp, Value};

use crate::{SampleIterator, Series, SeriesSet, StorageError, ValueType, Warnings};

/// A series held as a vector of samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct ListSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Samples, strictly increasing in time.
    pub samples: Vec<Sample>,
}

impl Series for ListSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(SampleVecIterator::new(&self.samples))
    }
}

/// A [`SampleIterator`] over a slice of samples in time order.
#[derive(Debug, Clone)]
pub struct SampleVecIterator<'a> {
    samples: &'a [Sample],
    /// Index of the current sample plus one; 0 before the first.
    pos: usize,
}

impl<'a> SampleVecIterator<'a> {
    /// An iterator positioned before the first sample.
    pub fn new(samples: &'a [Sample]) -> Self {
        SampleVecIterator { samples, pos: 0 }
    }

    fn current(&self) -> Option<&'a Sample> {
        self.pos.checked_sub(1).and_then(|i| self.samples.get(i))
    }

    fn value_type(&self) -> ValueType {
        match self.current().map(|s| &s.value) {
            None => ValueType::None,
            Some(Value::Float(_)) => ValueType::Float,
            Some(Value::Histogram(_)) => ValueType::Histogram,
            Some(Value::FloatHistogram(_)) => ValueType::FloatHistogram,
        }
    }
}

impl SampleIterator for SampleVecIterator<'_> {
    fn next(&mut self) -> ValueType {
        if self.pos <= self.samples.len() {
            self.pos += 1;
        }
        self.value_type()
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if let Some(cur) = self.current() {
            if cur.t >= t {
                return self.value_type();
            }
        }
        let from = self.pos.min(self.samples.len());
        let idx = from + self.samples[from..].partition_point(|s| s.t < t);
        self.pos = idx + 1;
        self.value_type()
    }

    fn at(&self) -> (Timestamp, f64) {
        match self.current() {
            Some(Sample {
                t,
                value: Value::Float(v),
                ..
            }) => (*t, *v),
            Some(s) => (s.t, 0.0),
            None => (0, 0.0),
        }
    }

    fn at_histogram(&self) -> (Timestamp, Arc<Histogram>) {
        match self.current() {
            Some(Sample {
                t,
                value: Value::Histogram(h),
                ..
            }) => (*t, h.clone()),
            Some(s) => (s.t, Arc::default()),
            None => (0, Arc::default()),
        }
    }

    fn at_float_histogram(&self) -> (Timestamp, Arc<FloatHistogram>) {
        match self.current() {
            Some(Sample {
                t,
                value: Value::FloatHistogram(h),
                ..
            }) => (*t, h.clone()),
            Some(Sample {
                t,
                value: Value::Histogram(h),
                ..
            }) => (*t, Arc::new(h.to_float())),
            Some(s) => (s.t, Arc::default()),
            None => (0, Arc::default()),
        }
    }

    fn at_t(&self) -> Timestamp {
        self.current().map_or(0, |s| s.t)
    }

    fn at_start(&self) -> Option<Timestamp> {
        self.current().and_then(|s| s.start)
    }
}

/// A [`SeriesSet`] over series held in memory.
#[derive(Debug, Default)]
pub struct ListSeriesSet {
    series: std::vec::IntoIter<ListSeries>,
    warnings: Warnings,
}

impl ListSeriesSet {
    /// A set yielding `series` in the given order, with `warnings`.
    pub fn new(series: Vec<ListSeries>, warnings: Warnings) -> Self {
        ListSeriesSet {
            series: series.into_iter(),
            warnings,
        }
    }
}

impl<'a> SeriesSet<'a> for ListSeriesSet {
    fn next(&mut self) -> Option<Result<Box<dyn Series + 'a>, StorageError>> {
        let s = self.series.next()?;
        Some(Ok(Box::new(s)))
    }

    fn warnings(&self) -> Warnings {
        self.warnings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_never_goes_back() {
        let s: Vec<Sample> = (0..10).map(|i| Sample::float(i * 10, i as f64)).collect();
        let mut it = SampleVecIterator::new(&s);
        assert_eq!(it.seek(35), ValueType::Float);
        assert_eq!(it.at(), (40, 4.0));
        assert_eq!(it.seek(10), ValueType::Float);
        assert_eq!(it.at_t(), 40);
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at_t(), 50);
        assert_eq!(it.seek(1000), ValueType::None);
        assert_eq!(it.next(), ValueType::None);
    }
}
