//! Reading several sources as one.

use std::cmp::Ordering;
use std::sync::Arc;

use ember_model::{FloatHistogram, Histogram, Labels, Matcher, Timestamp};

use crate::{
    LabelHints, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, ValueType,
    Warnings,
};

/// A querier over several sources (head and blocks, several blocks, local
/// and remote): a series present in more than one is merged into one, and
/// samples at the same timestamp are taken once, from the first source
/// listed that has one.
pub struct MergeQuerier<'a> {
    queriers: Vec<Box<dyn Querier + 'a>>,
}

impl<'a> MergeQuerier<'a> {
    /// Merges `queriers`; earlier ones win on equal timestamps.
    pub fn new(queriers: Vec<Box<dyn Querier + 'a>>) -> Self {
        MergeQuerier { queriers }
    }
}

fn union_sorted(lists: Vec<Vec<String>>, hints: &LabelHints) -> Vec<String> {
    let mut all: Vec<String> = lists.into_iter().flatten().collect();
    all.sort();
    all.dedup();
    if hints.limit > 0 {
        all.truncate(hints.limit);
    }
    all
}

impl Querier for MergeQuerier<'_> {
    fn select<'b>(
        &'b self,
        sort: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet<'b> + 'b>, StorageError> {
        if let [only] = self.queriers.as_slice() {
            return only.select(sort, hints, matchers);
        }
        let mut sets = Vec::with_capacity(self.queriers.len());
        for q in &self.queriers {
            sets.push(q.select(true, hints, matchers)?);
        }
        Ok(Box::new(MergeSeriesSet::new(sets)))
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let mut lists = Vec::new();
        let mut warnings = Vec::new();
        for q in &self.queriers {
            let (v, w) = q.label_values(name, &LabelHints::default(), matchers)?;
            lists.push(v);
            warnings.extend(w);
        }
        Ok((union_sorted(lists, hints), warnings))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let mut lists = Vec::new();
        let mut warnings = Vec::new();
        for q in &self.queriers {
            let (v, w) = q.label_names(&LabelHints::default(), matchers)?;
            lists.push(v);
            warnings.extend(w);
        }
        Ok((union_sorted(lists, hints), warnings))
    }
}

/// Merges label-sorted series sets into one label-sorted set.
struct MergeSeriesSet<'a> {
    sets: Vec<Box<dyn SeriesSet<'a> + 'a>>,
    heads: Vec<Option<Box<dyn Series + 'a>>>,
    started: bool,
}

impl<'a> MergeSeriesSet<'a> {
    fn new(sets: Vec<Box<dyn SeriesSet<'a> + 'a>>) -> Self {
        let heads = sets.iter().map(|_| None).collect();
        MergeSeriesSet {
            sets,
            heads,
            started: false,
        }
    }

    fn refill(&mut self, i: usize) -> Result<(), StorageError> {
        self.heads[i] = self.sets[i].next().transpose()?;
        Ok(())
    }
}

impl<'a> SeriesSet<'a> for MergeSeriesSet<'a> {
    fn next(&mut self) -> Option<Result<Box<dyn Series + 'a>, StorageError>> {
        if !self.started {
            self.started = true;
            for i in 0..self.sets.len() {
                if let Err(e) = self.refill(i) {
                    return Some(Err(e));
                }
            }
        }
        let mut min: Option<usize> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(s) = h {
                let better = match min.and_then(|m| self.heads[m].as_ref()) {
                    None => true,
                    Some(cur) => s.labels().cmp(cur.labels()) == Ordering::Less,
                };
                if better {
                    min = Some(i);
                }
            }
        }
        let min = min?;
        let labels = self.heads[min].as_ref()?.labels().clone();
        let mut parts = Vec::new();
        for i in min..self.heads.len() {
            if self.heads[i]
                .as_ref()
                .is_some_and(|s| *s.labels() == labels)
            {
                if let Some(s) = self.heads[i].take() {
                    parts.push(s);
                }
                if let Err(e) = self.refill(i) {
                    return Some(Err(e));
                }
            }
        }
        if parts.len() == 1 {
            return parts.pop().map(Ok);
        }
        Some(Ok(Box::new(MergedSeries { labels, parts })))
    }

    fn warnings(&self) -> Warnings {
        self.sets.iter().flat_map(|s| s.warnings()).collect()
    }
}

struct MergedSeries<'a> {
    labels: Labels,
    parts: Vec<Box<dyn Series + 'a>>,
}

impl Series for MergedSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(MergeSampleIterator::new(
            self.parts.iter().map(|p| p.iter()).collect(),
        ))
    }
}

/// Iterates several sample iterators of one series as one, in time order,
/// taking each timestamp once (from the first iterator that has it).
pub struct MergeSampleIterator<'a> {
    its: Vec<Box<dyn SampleIterator + 'a>>,
    /// What each iterator is positioned on.
    state: Vec<ValueType>,
    cur: Option<usize>,
    started: bool,
}

impl<'a> MergeSampleIterator<'a> {
    /// Merges `its`; earlier ones win on equal timestamps.
    pub fn new(its: Vec<Box<dyn SampleIterator + 'a>>) -> Self {
        let state = vec![ValueType::None; its.len()];
        MergeSampleIterator {
            its,
            state,
            cur: None,
            started: false,
        }
    }

    fn pick(&mut self) -> ValueType {
        self.cur = None;
        let mut best: Option<(usize, Timestamp)> = None;
        for (i, vt) in self.state.iter().enumerate() {
            if *vt == ValueType::None {
                continue;
            }
            let t = self.its[i].at_t();
            if best.is_none_or(|(_, bt)| t < bt) {
                best = Some((i, t));
            }
        }
        match best {
            Some((i, _)) => {
                self.cur = Some(i);
                self.state[i]
            }
            None => ValueType::None,
        }
    }
}

impl SampleIterator for MergeSampleIterator<'_> {
    fn next(&mut self) -> ValueType {
        if !self.started {
            self.started = true;
            for (i, it) in self.its.iter_mut().enumerate() {
                self.state[i] = it.next();
            }
            return self.pick();
        }
        let Some(c) = self.cur else {
            return ValueType::None;
        };
        let t0 = self.its[c].at_t();
        for (i, it) in self.its.iter_mut().enumerate() {
            if self.state[i] != ValueType::None && it.at_t() == t0 {
                self.state[i] = it.next();
            }
        }
        self.pick()
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if let Some(c) = self.cur {
            if self.its[c].at_t() >= t {
                return self.state[c];
            }
        }
        let first = !self.started;
        self.started = true;
        for (i, it) in self.its.iter_mut().enumerate() {
            if first || self.state[i] != ValueType::None {
                self.state[i] = it.seek(t);
            }
        }
        self.pick()
    }

    fn at(&self) -> (Timestamp, f64) {
        self.cur.map_or((0, 0.0), |c| self.its[c].at())
    }

    fn at_histogram(&self) -> (Timestamp, Arc<Histogram>) {
        self.cur
            .map_or_else(|| (0, Arc::default()), |c| self.its[c].at_histogram())
    }

    fn at_float_histogram(&self) -> (Timestamp, Arc<FloatHistogram>) {
        self.cur
            .map_or_else(|| (0, Arc::default()), |c| self.its[c].at_float_histogram())
    }

    fn at_t(&self) -> Timestamp {
        self.cur.map_or(0, |c| self.its[c].at_t())
    }

    fn at_start(&self) -> Option<Timestamp> {
        self.cur.and_then(|c| self.its[c].at_start())
    }

    fn error(&self) -> Option<&StorageError> {
        self.its.iter().find_map(|it| it.error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Appendable, MemStorage, Queryable, SeriesRef};
    use ember_model::{labels, Sample};
    use proptest::prelude::*;

    fn store(series: &[(&str, &[(i64, f64)])]) -> MemStorage {
        let st = MemStorage::new();
        {
            let mut app = st.appender();
            for (name, pts) in series {
                let l = labels!("__name__" => *name);
                for (t, v) in *pts {
                    app.append(SeriesRef(0), &l, Sample::float(*t, *v)).unwrap();
                }
            }
            app.commit().unwrap();
        }
        st
    }

    fn dump(q: &dyn Querier) -> Vec<(String, Vec<(i64, f64)>)> {
        let mut set = q.select(true, None, &[]).unwrap();
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let s = s.unwrap();
            let mut it = s.iter();
            let mut pts = Vec::new();
            while it.next() == ValueType::Float {
                pts.push(it.at());
            }
            out.push((s.labels().metric_name().unwrap_or("").to_string(), pts));
        }
        out
    }

    #[test]
    fn merges_overlapping_series() {
        let a = store(&[("x", &[(1, 1.0), (3, 3.0)]), ("z", &[(1, 1.0)])]);
        let b = store(&[
            ("x", &[(2, 20.0), (3, 30.0), (4, 40.0)]),
            ("y", &[(5, 5.0)]),
        ]);
        let q = MergeQuerier::new(vec![a.querier(0, 10).unwrap(), b.querier(0, 10).unwrap()]);
        assert_eq!(
            dump(&q),
            vec![
                ("x".into(), vec![(1, 1.0), (2, 20.0), (3, 3.0), (4, 40.0)]),
                ("y".into(), vec![(5, 5.0)]),
                ("z".into(), vec![(1, 1.0)]),
            ]
        );
        let (names, _) = q
            .label_values("__name__", &LabelHints::default(), &[])
            .unwrap();
        assert_eq!(names, ["x", "y", "z"]);
    }

    proptest! {
        #[test]
        fn merge_equals_union(a in proptest::collection::btree_set(0i64..200, 0..40),
                              b in proptest::collection::btree_set(0i64..200, 0..40),
                              seek in 0i64..220) {
            let pa: Vec<(i64, f64)> = a.iter().map(|t| (*t, 1.0)).collect();
            let pb: Vec<(i64, f64)> = b.iter().map(|t| (*t, 2.0)).collect();
            let sa = store(&[("x", &pa)]);
            let sb = store(&[("x", &pb)]);
            let q = MergeQuerier::new(vec![sa.querier(0, 1000).unwrap(), sb.querier(0, 1000).unwrap()]);
            let mut want: Vec<(i64, f64)> = pa.clone();
            want.extend(pb.iter().filter(|(t, _)| !a.contains(t)));
            want.sort_by_key(|p| p.0);
            let got = dump(&q);
            if want.is_empty() {
                prop_assert!(got.is_empty());
            } else {
                prop_assert_eq!(&got[0].1, &want);
                let mut set = q.select(true, None, &[]).unwrap();
                let s = set.next().unwrap().unwrap();
                let mut it = s.iter();
                let first_after = want.iter().find(|(t, _)| *t >= seek);
                match it.seek(seek) {
                    ValueType::None => prop_assert!(first_after.is_none()),
                    _ => prop_assert_eq!(Some(&it.at()), first_after),
                }
            }
        }
    }
}
