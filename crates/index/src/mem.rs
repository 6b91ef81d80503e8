//! In-memory postings for the head block.
//!
//! The head identifies series by `u64` references, but bitmaps want dense
//! `u32`s, so the head gives each live series an *ordinal* from
//! [`SeriesOrdinals`] and indexes that ordinal in [`MemPostings`]. Ordinals
//! of removed series are not handed out again until the head says no
//! query can still hold them ([`SeriesOrdinals::recycle_retired`], e.g.
//! after head garbage collection), so a bitmap computed before a deletion
//! never names a different series afterwards.
//!
//! Neither type locks: the head wraps them in its own lock.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use ember_model::Labels;
use roaring::{MultiOps, RoaringBitmap};

use crate::planner::PostingsSource;
use crate::IndexError;

#[derive(Debug, Default, Clone)]
struct NamePostings {
    /// Every series that has the label, whatever the value.
    any: RoaringBitmap,
    values: BTreeMap<Box<str>, RoaringBitmap>,
}

/// Label name → value → bitmap of series ordinals, plus the set of all
/// series and, per name, the set of series having that label (which makes
/// `=~".+"`, `!=""` and `=""` single bitmap operations).
#[derive(Debug, Default, Clone)]
pub struct MemPostings {
    names: BTreeMap<Box<str>, NamePostings>,
    all: RoaringBitmap,
}

impl MemPostings {
    /// Empty postings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes series `id` under each of its labels.
    pub fn add(&mut self, id: u32, labels: &Labels) {
        self.all.insert(id);
        for l in labels.iter() {
            let entry = match self.names.get_mut(l.name) {
                Some(e) => e,
                None => self.names.entry(l.name.into()).or_default(),
            };
            entry.any.insert(id);
            match entry.values.get_mut(l.value) {
                Some(b) => {
                    b.insert(id);
                }
                None => {
                    entry
                        .values
                        .insert(l.value.into(), RoaringBitmap::from_iter([id]));
                }
            }
        }
    }

    /// Removes series `id`, indexed with `labels`, dropping lists that
    /// become empty.
    pub fn delete(&mut self, id: u32, labels: &Labels) {
        self.all.remove(id);
        for l in labels.iter() {
            let Some(entry) = self.names.get_mut(l.name) else {
                continue;
            };
            entry.any.remove(id);
            if let Some(b) = entry.values.get_mut(l.value) {
                b.remove(id);
                if b.is_empty() {
                    entry.values.remove(l.value);
                }
            }
            if entry.values.is_empty() {
                self.names.remove(l.name);
            }
        }
    }

    /// Number of indexed series.
    pub fn num_series(&self) -> u64 {
        self.all.len()
    }

    fn values_of(&self, name: &str) -> Option<&BTreeMap<Box<str>, RoaringBitmap>> {
        self.names.get(name).map(|e| &e.values)
    }
}

impl PostingsSource for MemPostings {
    fn all_postings(&self) -> Result<Cow<'_, RoaringBitmap>, IndexError> {
        Ok(Cow::Borrowed(&self.all))
    }

    fn postings_bitmap(
        &self,
        name: &str,
        value: &str,
    ) -> Result<Cow<'_, RoaringBitmap>, IndexError> {
        Ok(self
            .values_of(name)
            .and_then(|v| v.get(value))
            .map_or_else(|| Cow::Owned(RoaringBitmap::new()), Cow::Borrowed))
    }

    fn postings_for_values(
        &self,
        name: &str,
        values: &[String],
    ) -> Result<RoaringBitmap, IndexError> {
        let Some(map) = self.values_of(name) else {
            return Ok(RoaringBitmap::new());
        };
        Ok(values.iter().filter_map(|v| map.get(v.as_str())).union())
    }

    fn postings_for_label(&self, name: &str) -> Result<Cow<'_, RoaringBitmap>, IndexError> {
        Ok(self.names.get(name).map_or_else(
            || Cow::Owned(RoaringBitmap::new()),
            |e| Cow::Borrowed(&e.any),
        ))
    }

    fn postings_matching(
        &self,
        name: &str,
        prefix: &str,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<RoaringBitmap, IndexError> {
        let Some(map) = self.values_of(name) else {
            return Ok(RoaringBitmap::new());
        };
        Ok(map
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(v, _)| v.starts_with(prefix))
            .filter(|(v, _)| accept(v))
            .map(|(_, b)| b)
            .union())
    }

    fn label_names(&self) -> Result<Vec<String>, IndexError> {
        Ok(self.names.keys().map(|n| n.to_string()).collect())
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>, IndexError> {
        Ok(self
            .values_of(name)
            .map(|m| m.keys().map(|v| v.to_string()).collect())
            .unwrap_or_default())
    }

    fn label_names_within(&self, set: &RoaringBitmap) -> Result<Vec<String>, IndexError> {
        Ok(self
            .names
            .iter()
            .filter(|(_, e)| !e.any.is_disjoint(set))
            .map(|(n, _)| n.to_string())
            .collect())
    }

    fn label_values_within(
        &self,
        name: &str,
        accept: &dyn Fn(&str) -> bool,
        set: &RoaringBitmap,
    ) -> Result<Vec<String>, IndexError> {
        let Some(map) = self.values_of(name) else {
            return Ok(Vec::new());
        };
        Ok(map
            .iter()
            .filter(|(v, b)| accept(v) && !b.is_disjoint(set))
            .map(|(v, _)| v.to_string())
            .collect())
    }
}

/// Dense `u32` ordinals for the head's `u64` series references.
///
/// New references get the lowest recycled ordinal, or the next unused one.
/// [`remove`](Self::remove) retires an ordinal; retired ordinals become
/// reusable only after [`recycle_retired`](Self::recycle_retired).
#[derive(Debug, Default, Clone)]
pub struct SeriesOrdinals {
    /// Ordinal → reference; meaningful only for live ordinals.
    refs: Vec<u64>,
    live: RoaringBitmap,
    ordinals: HashMap<u64, u32>,
    /// Reusable, popped from the end.
    free: Vec<u32>,
    retired: Vec<u32>,
}

impl SeriesOrdinals {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ordinal of `series_ref`, allocating one if it has none. Fails
    /// only when 2^32 ordinals are in use or retired.
    pub fn get_or_insert(&mut self, series_ref: u64) -> Result<u32, IndexError> {
        if let Some(&o) = self.ordinals.get(&series_ref) {
            return Ok(o);
        }
        let o = match self.free.pop() {
            Some(o) => {
                self.refs[o as usize] = series_ref;
                o
            }
            None => {
                let o = u32::try_from(self.refs.len())
                    .map_err(|_| IndexError::TooLarge("more than 2^32 series ordinals"))?;
                self.refs.push(series_ref);
                o
            }
        };
        self.ordinals.insert(series_ref, o);
        self.live.insert(o);
        Ok(o)
    }

    /// The ordinal of `series_ref`, if it has one.
    pub fn ordinal(&self, series_ref: u64) -> Option<u32> {
        self.ordinals.get(&series_ref).copied()
    }

    /// The series reference holding `ordinal`, if it is live.
    pub fn series_ref(&self, ordinal: u32) -> Option<u64> {
        if self.live.contains(ordinal) {
            self.refs.get(ordinal as usize).copied()
        } else {
            None
        }
    }

    /// Retires the ordinal of `series_ref` and returns it.
    pub fn remove(&mut self, series_ref: u64) -> Option<u32> {
        let o = self.ordinals.remove(&series_ref)?;
        self.live.remove(o);
        self.retired.push(o);
        Some(o)
    }

    /// Makes the retired ordinals reusable. Call only when no bitmap
    /// computed before their removal is still in use.
    pub fn recycle_retired(&mut self) {
        self.free.append(&mut self.retired);
        // Hand out low ordinals first: denser bitmaps.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// The live ordinals.
    pub fn live(&self) -> &RoaringBitmap {
        &self.live
    }

    /// Number of live series.
    pub fn len(&self) -> usize {
        self.ordinals.len()
    }

    /// Whether no series is live.
    pub fn is_empty(&self) -> bool {
        self.ordinals.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn add_and_delete_drop_empty_lists() {
        let mut p = MemPostings::new();
        let a = labels(&[("job", "api"), ("i", "1")]);
        let b = labels(&[("job", "api"), ("i", "2")]);
        p.add(0, &a);
        p.add(1, &b);
        assert_eq!(p.num_series(), 2);
        assert_eq!(p.label_names().unwrap(), ["i", "job"]);
        assert_eq!(p.postings_bitmap("job", "api").unwrap().len(), 2);
        p.delete(0, &a);
        assert_eq!(p.label_values("i").unwrap(), ["2"]);
        p.delete(1, &b);
        assert!(p.postings_matching("i", "", &|_| true).unwrap().is_empty());
        assert!(p.label_names().unwrap().is_empty());
        assert_eq!(p.num_series(), 0);
    }

    #[test]
    fn dense_and_sparse_unions_agree() {
        let dense: Vec<u32> = (0..20_000).collect();
        let sparse: Vec<u32> = dense.iter().map(|i| i * 9_000).collect();
        for ids in [dense, sparse] {
            let mut p = MemPostings::new();
            for &id in &ids {
                p.add(id, &labels(&[("i", &format!("{}", id % 500))]));
            }
            let expect = |keep: &dyn Fn(&str) -> bool| -> RoaringBitmap {
                ids.iter()
                    .copied()
                    .filter(|id| keep(&(id % 500).to_string()))
                    .collect()
            };
            let all = p.postings_matching("i", "", &|_| true).unwrap();
            assert_eq!(all, *p.all_postings().unwrap());
            let ones = p.postings_matching("i", "1", &|_| true).unwrap();
            assert_eq!(ones, expect(&|v| v.starts_with('1')));
            let set: Vec<String> = (0..20).map(|i| i.to_string()).collect();
            let few = p.postings_for_values("i", &set).unwrap();
            assert_eq!(few, expect(&|v| set.iter().any(|s| s == v)));
        }
    }

    #[test]
    fn ordinals_are_dense_and_recycled_only_on_request() {
        let mut o = SeriesOrdinals::new();
        assert_eq!(o.get_or_insert(100).unwrap(), 0);
        assert_eq!(o.get_or_insert(7).unwrap(), 1);
        assert_eq!(o.get_or_insert(100).unwrap(), 0);
        assert_eq!(o.remove(100), Some(0));
        assert_eq!(o.series_ref(0), None);
        assert_eq!(o.get_or_insert(5).unwrap(), 2);
        o.recycle_retired();
        assert_eq!(o.get_or_insert(6).unwrap(), 0);
        assert_eq!(o.series_ref(0), Some(6));
        assert_eq!(o.ordinal(7), Some(1));
        assert_eq!(o.len(), 3);
        assert_eq!(o.live().len(), 3);
        assert!(!o.is_empty());
    }
}
