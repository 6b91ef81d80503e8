//! A complete storage held in memory.

use std::collections::HashMap;

use ember_model::{matches_all, Exemplar, Labels, Matcher, Metadata, Sample, Timestamp, Value};
use parking_lot::RwLock;

use crate::{
    Appendable, Appender, LabelHints, ListSeries, ListSeriesSet, Querier, Queryable, SelectHints,
    SeriesRef, SeriesSet, StorageError, Warnings,
};

/// An in-memory storage: every sample kept in a vector per series.
///
/// Correct and simple rather than compact: appends follow the TSDB's rules
/// (a sample older than the series' newest is out of order unless
/// out-of-order appends are allowed; the same timestamp with another value
/// is a duplicate), commits are atomic with respect to queriers, and a
/// querier reads a snapshot of what was committed when it selected.
#[derive(Debug, Default)]
pub struct MemStorage {
    inner: RwLock<Inner>,
    allow_out_of_order: bool,
}

#[derive(Debug, Default)]
struct Inner {
    by_labels: HashMap<Labels, usize>,
    series: Vec<MemSeries>,
}

#[derive(Debug)]
struct MemSeries {
    labels: Labels,
    samples: Vec<Sample>,
    metadata: Option<Metadata>,
    exemplars: Vec<Exemplar>,
}

impl MemStorage {
    /// An empty storage that rejects out-of-order samples.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty storage that accepts samples in any time order.
    pub fn with_out_of_order() -> Self {
        MemStorage {
            allow_out_of_order: true,
            ..Self::default()
        }
    }

    /// Number of series stored.
    pub fn num_series(&self) -> usize {
        self.inner.read().series.len()
    }

    /// The metadata last recorded for the series, if any.
    pub fn metadata(&self, labels: &Labels) -> Option<Metadata> {
        let inner = self.inner.read();
        let idx = *inner.by_labels.get(labels)?;
        inner.series.get(idx)?.metadata.clone()
    }

    /// The exemplars recorded for the series.
    pub fn exemplars(&self, labels: &Labels) -> Vec<Exemplar> {
        let inner = self.inner.read();
        inner
            .by_labels
            .get(labels)
            .and_then(|i| inner.series.get(*i))
            .map(|s| s.exemplars.clone())
            .unwrap_or_default()
    }
}

/// Where `sample` goes in `samples`, or an error under the TSDB's rules.
/// `Ok(None)` means it is an exact duplicate and is dropped.
fn insert_position(
    samples: &[Sample],
    sample: &Sample,
    allow_ooo: bool,
) -> Result<Option<usize>, StorageError> {
    let idx = samples.partition_point(|s| s.t < sample.t);
    if let Some(existing) = samples.get(idx) {
        if existing.t == sample.t {
            return if same_value(&existing.value, &sample.value) {
                Ok(None)
            } else {
                Err(StorageError::DuplicateSampleForTimestamp)
            };
        }
        if !allow_ooo {
            return Err(StorageError::OutOfOrderSample);
        }
    }
    Ok(Some(idx))
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

impl Inner {
    fn series_index(&mut self, labels: &Labels) -> usize {
        if let Some(i) = self.by_labels.get(labels) {
            return *i;
        }
        let i = self.series.len();
        self.series.push(MemSeries {
            labels: labels.clone(),
            samples: Vec::new(),
            metadata: None,
            exemplars: Vec::new(),
        });
        self.by_labels.insert(labels.clone(), i);
        i
    }
}

impl Appendable for MemStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender {
            storage: self,
            samples: Vec::new(),
            metadata: Vec::new(),
            exemplars: Vec::new(),
        })
    }
}

struct MemAppender<'a> {
    storage: &'a MemStorage,
    samples: Vec<(Labels, Sample)>,
    metadata: Vec<(Labels, Metadata)>,
    exemplars: Vec<(Labels, Exemplar)>,
}

impl MemAppender<'_> {
    fn reference(&self, labels: &Labels) -> SeriesRef {
        let inner = self.storage.inner.read();
        SeriesRef(inner.by_labels.get(labels).map_or(0, |i| *i as u64 + 1))
    }
}

impl Appender for MemAppender<'_> {
    fn append(
        &mut self,
        _hint: SeriesRef,
        labels: &Labels,
        sample: Sample,
    ) -> Result<SeriesRef, StorageError> {
        if labels.is_empty() {
            return Err(StorageError::InvalidLabels(
                ember_model::ModelError::EmptyLabelName,
            ));
        }
        {
            let inner = self.storage.inner.read();
            if let Some(s) = inner
                .by_labels
                .get(labels)
                .and_then(|i| inner.series.get(*i))
            {
                insert_position(&s.samples, &sample, self.storage.allow_out_of_order)?;
            }
        }
        if !self.storage.allow_out_of_order {
            let pending_last = self.samples.iter().rev().find(|(l, _)| l == labels);
            if let Some((_, last)) = pending_last {
                if sample.t < last.t {
                    return Err(StorageError::OutOfOrderSample);
                }
                if sample.t == last.t && !same_value(&last.value, &sample.value) {
                    return Err(StorageError::DuplicateSampleForTimestamp);
                }
            }
        }
        self.samples.push((labels.clone(), sample));
        Ok(self.reference(labels))
    }

    fn append_exemplar(
        &mut self,
        _hint: SeriesRef,
        labels: &Labels,
        exemplar: &Exemplar,
    ) -> Result<SeriesRef, StorageError> {
        self.exemplars.push((labels.clone(), exemplar.clone()));
        Ok(self.reference(labels))
    }

    fn update_metadata(
        &mut self,
        _hint: SeriesRef,
        labels: &Labels,
        metadata: &Metadata,
    ) -> Result<SeriesRef, StorageError> {
        self.metadata.push((labels.clone(), metadata.clone()));
        Ok(self.reference(labels))
    }

    fn commit(&mut self) -> Result<(), StorageError> {
        let mut inner = self.storage.inner.write();
        for (labels, sample) in self.samples.drain(..) {
            let i = inner.series_index(&labels);
            let series = &mut inner.series[i];
            // A concurrent commit may have made this sample invalid since it
            // was checked; such samples are dropped, as the TSDB does.
            if let Ok(Some(pos)) =
                insert_position(&series.samples, &sample, self.storage.allow_out_of_order)
            {
                series.samples.insert(pos, sample);
            }
        }
        for (labels, md) in self.metadata.drain(..) {
            let i = inner.series_index(&labels);
            inner.series[i].metadata = Some(md);
        }
        for (labels, ex) in self.exemplars.drain(..) {
            let i = inner.series_index(&labels);
            inner.series[i].exemplars.push(ex);
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), StorageError> {
        self.samples.clear();
        self.metadata.clear();
        self.exemplars.clear();
        Ok(())
    }
}

impl Queryable for MemStorage {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(MemQuerier {
            storage: self,
            mint,
            maxt,
        }))
    }
}

struct MemQuerier<'a> {
    storage: &'a MemStorage,
    mint: Timestamp,
    maxt: Timestamp,
}

impl MemQuerier<'_> {
    /// Series matching `matchers` with at least one sample in range, as
    /// (labels, samples in range).
    fn matching(&self, matchers: &[Matcher]) -> Vec<ListSeries> {
        let inner = self.storage.inner.read();
        inner
            .series
            .iter()
            .filter(|s| matches_all(matchers, &s.labels))
            .filter_map(|s| {
                let lo = s.samples.partition_point(|x| x.t < self.mint);
                let hi = s.samples.partition_point(|x| x.t <= self.maxt);
                (lo < hi).then(|| ListSeries {
                    labels: s.labels.clone(),
                    samples: s.samples[lo..hi].to_vec(),
                })
            })
            .collect()
    }
}

impl Querier for MemQuerier<'_> {
    fn select<'a>(
        &'a self,
        sort: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet<'a> + 'a>, StorageError> {
        let mut series = self.matching(matchers);
        if sort {
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        Ok(Box::new(ListSeriesSet::new(series, Vec::new())))
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let mut v: Vec<String> = self
            .matching(matchers)
            .iter()
            .filter_map(|s| s.labels.get(name).map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        Ok((hints.apply(v), Vec::new()))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let mut v: Vec<String> = self
            .matching(matchers)
            .iter()
            .flat_map(|s| {
                s.labels
                    .iter()
                    .map(|l| l.name.to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v.dedup();
        Ok((hints.apply(v), Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ValueType;
    use ember_model::{labels, MatchOp};

    fn collect(q: &dyn Querier, ms: &[Matcher]) -> Vec<(String, Vec<(i64, f64)>)> {
        let mut set = q.select(true, None, ms).unwrap();
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let s = s.unwrap();
            let mut it = s.iter();
            let mut pts = Vec::new();
            while it.next() == ValueType::Float {
                pts.push(it.at());
            }
            out.push((s.labels().to_string(), pts));
        }
        out
    }

    #[test]
    fn append_commit_query() {
        let st = MemStorage::new();
        let a = labels!("__name__" => "up", "job" => "a");
        let b = labels!("__name__" => "up", "job" => "b");
        let mut app = st.appender();
        app.append(SeriesRef(0), &b, Sample::float(10, 1.0))
            .unwrap();
        app.append(SeriesRef(0), &a, Sample::float(10, 2.0))
            .unwrap();
        app.append(SeriesRef(0), &a, Sample::float(20, 3.0))
            .unwrap();
        assert!(matches!(
            app.append(SeriesRef(0), &a, Sample::float(15, 3.0)),
            Err(StorageError::OutOfOrderSample)
        ));
        // Not visible before commit.
        assert!(collect(&*st.querier(0, 100).unwrap(), &[]).is_empty());
        app.commit().unwrap();
        let q = st.querier(0, 15).unwrap();
        let got = collect(&*q, &[Matcher::new(MatchOp::Regex, "job", "a|b").unwrap()]);
        assert_eq!(
            got,
            vec![
                ("{__name__=\"up\", job=\"a\"}".to_string(), vec![(10, 2.0)]),
                ("{__name__=\"up\", job=\"b\"}".to_string(), vec![(10, 1.0)]),
            ]
        );
        let (names, _) = q.label_names(&LabelHints::default(), &[]).unwrap();
        assert_eq!(names, ["__name__", "job"]);
        let (vals, _) = q
            .label_values("job", &LabelHints { limit: 1 }, &[])
            .unwrap();
        assert_eq!(vals, ["a"]);
    }

    #[test]
    fn duplicates_and_rollback() {
        let st = MemStorage::new();
        let a = labels!("__name__" => "x");
        let mut app = st.appender();
        app.append(SeriesRef(0), &a, Sample::float(10, 1.0))
            .unwrap();
        app.commit().unwrap();
        assert!(app.append(SeriesRef(0), &a, Sample::float(10, 1.0)).is_ok());
        assert!(matches!(
            app.append(SeriesRef(0), &a, Sample::float(10, 2.0)),
            Err(StorageError::DuplicateSampleForTimestamp)
        ));
        app.append(SeriesRef(0), &a, Sample::float(30, 1.0))
            .unwrap();
        app.rollback().unwrap();
        app.commit().unwrap();
        let q = st.querier(0, 100).unwrap();
        assert_eq!(
            collect(&*q, &[]),
            vec![("{__name__=\"x\"}".to_string(), vec![(10, 1.0)])]
        );
    }

    #[test]
    fn out_of_order_allowed() {
        let st = MemStorage::with_out_of_order();
        let a = labels!("__name__" => "x");
        let mut app = st.appender();
        for t in [30, 10, 20] {
            app.append(SeriesRef(0), &a, Sample::float(t, t as f64))
                .unwrap();
        }
        app.commit().unwrap();
        let q = st.querier(0, 100).unwrap();
        let got = collect(&*q, &[]);
        assert_eq!(got[0].1, vec![(10, 10.0), (20, 20.0), (30, 30.0)]);
        let mut set = q.select(false, None, &[]).unwrap();
        let s = set.next().unwrap().unwrap();
        let mut it = s.iter();
        assert_eq!(it.seek(15), ValueType::Float);
        assert_eq!(it.at_t(), 20);
    }
}
