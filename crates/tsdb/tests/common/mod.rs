//! Helpers shared by the integration tests (each test file that needs
//! them declares `mod common;`).

use ember_model::Matcher;
use ember_storage::{Querier, ValueType};

/// Every series `matchers` select (all series with none), sorted by
/// labels, as `(labels as text, [(t, value)])`; a read error fails the
/// test.
pub fn read(q: &dyn Querier, matchers: &[Matcher]) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut set = q.select(true, None, matchers).unwrap();
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iter();
        let mut pts = Vec::new();
        while it.next() == ValueType::Float {
            pts.push(it.at());
        }
        assert!(it.error().is_none(), "{:?}", it.error());
        out.push((s.labels().to_string(), pts));
    }
    out
}

/// [`read`] with the values as their bits, so NaNs (stale markers)
/// compare equal.
#[allow(dead_code)] // Not every test file uses it.
pub fn read_bits(q: &dyn Querier, matchers: &[Matcher]) -> Vec<(String, Vec<(i64, u64)>)> {
    read(q, matchers)
        .into_iter()
        .map(|(l, pts)| (l, pts.into_iter().map(|(t, v)| (t, v.to_bits())).collect()))
        .collect()
}
