//! Native histogram arithmetic the script language needs for `a+bxN`.

use std::collections::BTreeMap;

use ember_model::{FloatHistogram, Span};

/// Bucket counts by bucket index.
fn buckets(spans: &[Span], counts: &[f64]) -> BTreeMap<i32, f64> {
    let mut out = BTreeMap::new();
    let mut idx = 0i32;
    let mut counts = counts.iter();
    for span in spans {
        idx += span.offset;
        for _ in 0..span.length {
            if let Some(c) = counts.next() {
                *out.entry(idx).or_insert(0.0) += c;
            }
            idx += 1;
        }
    }
    out
}

/// Spans and counts for buckets by index.
fn spans(b: &BTreeMap<i32, f64>) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut counts = Vec::with_capacity(b.len());
    let mut next: Option<i32> = None;
    for (&idx, &c) in b {
        match (next, spans.last_mut()) {
            (Some(n), Some(last)) if n == idx => last.length += 1,
            (Some(n), _) => spans.push(Span {
                offset: idx - n,
                length: 1,
            }),
            (None, _) => spans.push(Span {
                offset: idx,
                length: 1,
            }),
        }
        next = Some(idx + 1);
        counts.push(c);
    }
    (spans, counts)
}

/// Moves buckets from a finer schema to a coarser one.
fn reduce(b: BTreeMap<i32, f64>, delta: i32) -> BTreeMap<i32, f64> {
    if delta <= 0 {
        return b;
    }
    let mut out = BTreeMap::new();
    for (idx, c) in b {
        *out.entry(((idx - 1) >> delta) + 1).or_insert(0.0) += c;
    }
    out
}

/// `a + b` (or `a - b` with `negate`) in `a`'s schema, which must not be
/// finer than `b`'s.
pub fn add(a: &FloatHistogram, b: &FloatHistogram, negate: bool) -> FloatHistogram {
    let sign = if negate { -1.0 } else { 1.0 };
    let delta = if a.schema == -53 {
        0
    } else {
        b.schema - a.schema
    };
    let merge = |sa: &[Span], ca: &[f64], sb: &[Span], cb: &[f64]| {
        let mut m = buckets(sa, ca);
        for (idx, c) in reduce(buckets(sb, cb), delta) {
            *m.entry(idx).or_insert(0.0) += sign * c;
        }
        spans(&m)
    };
    let (positive_spans, positive_buckets) = merge(
        &a.positive_spans,
        &a.positive_buckets,
        &b.positive_spans,
        &b.positive_buckets,
    );
    let (negative_spans, negative_buckets) = merge(
        &a.negative_spans,
        &a.negative_buckets,
        &b.negative_spans,
        &b.negative_buckets,
    );
    FloatHistogram {
        counter_reset_hint: a.counter_reset_hint,
        schema: a.schema,
        zero_threshold: a.zero_threshold.max(b.zero_threshold),
        zero_count: a.zero_count + sign * b.zero_count,
        count: a.count + sign * b.count,
        sum: a.sum + sign * b.sum,
        positive_spans,
        negative_spans,
        positive_buckets,
        negative_buckets,
        custom_values: a.custom_values.clone(),
    }
}

/// Bucket counts by bucket index, in index order.
pub type IndexedCounts = Vec<(i32, f64)>;

/// Bucket counts by index for both sides, for comparisons that ignore how
/// spans are laid out and drop empty buckets.
pub fn compact_buckets(h: &FloatHistogram) -> (IndexedCounts, IndexedCounts) {
    let nz = |m: BTreeMap<i32, f64>| m.into_iter().filter(|(_, c)| *c != 0.0).collect();
    (
        nz(buckets(&h.positive_spans, &h.positive_buckets)),
        nz(buckets(&h.negative_spans, &h.negative_buckets)),
    )
}
