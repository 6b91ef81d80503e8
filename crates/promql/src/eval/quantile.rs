//! Quantiles: of a set of values (`quantile`, `quantile_over_time`,
//! `mad_over_time`) and of classic histogram buckets
//! (`histogram_quantile`, `histogram_fraction`).

use std::cmp::Ordering;

use super::math::almost_equal;

/// Relative differences between adjacent bucket counts below this are
/// taken for float noise and ignored.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// One classic histogram bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    /// The `le` bound.
    pub upper: f64,
    /// Cumulative count.
    pub count: f64,
}

/// The result of [`bucket_quantile`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BucketQuantile {
    pub value: f64,
    /// Counts had to be made monotonic.
    pub forced_monotonic: bool,
    /// Lowest and highest bound of a bucket that was fixed.
    pub min_bucket: f64,
    pub max_bucket: f64,
    /// Largest decrease that was removed.
    pub max_diff: f64,
}

fn sort_buckets(b: &mut [Bucket]) {
    b.sort_by(|x, y| x.upper.partial_cmp(&y.upper).unwrap_or(Ordering::Equal));
}

/// Merges buckets with the same bound (input sorted).
fn coalesce(b: &mut Vec<Bucket>) {
    let mut out: Vec<Bucket> = Vec::with_capacity(b.len());
    for x in b.iter() {
        match out.last_mut() {
            Some(last) if last.upper == x.upper => last.count += x.count,
            _ => out.push(*x),
        }
    }
    *b = out;
}

/// Prometheus' `BucketQuantile`: the `q` quantile of classic histogram
/// buckets, interpolating linearly within a bucket. Sorts `buckets`.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> BucketQuantile {
    let mut r = BucketQuantile {
        value: f64::NAN,
        forced_monotonic: false,
        min_bucket: 0.0,
        max_bucket: 0.0,
        max_diff: 0.0,
    };
    if q.is_nan() {
        return r;
    }
    if q < 0.0 {
        r.value = f64::NEG_INFINITY;
        return r;
    }
    if q > 1.0 {
        r.value = f64::INFINITY;
        return r;
    }
    sort_buckets(buckets);
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return r,
    }
    coalesce(buckets);
    let fixed = ensure_monotonic(buckets);
    r.forced_monotonic = fixed.0;
    r.min_bucket = fixed.1;
    r.max_bucket = fixed.2;
    r.max_diff = fixed.3;
    let n = buckets.len();
    if n < 2 {
        return r;
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return r;
    }
    let mut rank = q * observations;
    let b = buckets[..n - 1].partition_point(|x| x.count < rank);
    r.value = if b == n - 1 {
        buckets[n - 2].upper
    } else if b == 0 && buckets[0].upper <= 0.0 {
        buckets[0].upper
    } else {
        let mut start = 0.0;
        let end = buckets[b].upper;
        let mut count = buckets[b].count;
        if b > 0 {
            start = buckets[b - 1].upper;
            count -= buckets[b - 1].count;
            rank -= buckets[b - 1].count;
        }
        start + (end - start) * (rank / count)
    };
    r
}

/// Removes decreases between adjacent buckets (ignoring float noise).
/// Returns whether anything was forced, the lowest and highest bound fixed
/// and the largest decrease.
fn ensure_monotonic(b: &mut [Bucket]) -> (bool, f64, f64, f64) {
    let mut forced = false;
    let mut min_bucket = f64::INFINITY;
    let mut max_bucket = f64::NEG_INFINITY;
    let mut max_diff = 0.0;
    let Some(first) = b.first() else {
        return (false, min_bucket, max_bucket, max_diff);
    };
    let mut prev = first.count;
    for x in b.iter_mut().skip(1) {
        let curr = x.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            x.count = prev;
            continue;
        }
        if curr < prev {
            x.count = prev;
            forced = true;
            if x.upper < min_bucket {
                min_bucket = x.upper;
            }
            if x.upper > max_bucket {
                max_bucket = x.upper;
            }
            if prev - curr > max_diff {
                max_diff = prev - curr;
            }
            continue;
        }
        prev = curr;
    }
    (forced, min_bucket, max_bucket, max_diff)
}

/// Prometheus' `BucketFraction`: the estimated fraction of observations
/// between `lower` and `upper`. Sorts `buckets`.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    sort_buckets(buckets);
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    coalesce(buckets);
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if buckets[0].upper <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].upper;
        }
        let upper_bound = b.upper;
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Sorts values ascending with NaN first, as Prometheus' value heap does.
pub(crate) fn sort_values(v: &mut [f64]) {
    v.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    });
}

/// Prometheus' `quantile`: the `q` quantile of `values` with linear
/// interpolation between the closest ranks. Sorts `values`.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    sort_values(values);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[(f64, f64)]) -> Vec<Bucket> {
        v.iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    #[test]
    fn classic_quantile() {
        let mut bs = b(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)]);
        assert_eq!(bucket_quantile(0.5, &mut bs).value, 1.0);
        let mut bs = b(&[(f64::INFINITY, 20.0), (2.0, 20.0), (1.0, 10.0)]);
        assert_eq!(bucket_quantile(0.75, &mut bs).value, 1.5);
        // The top bucket gives the second highest bound.
        let mut bs = b(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 30.0)]);
        assert_eq!(bucket_quantile(0.99, &mut bs).value, 2.0);
        // No +Inf bucket.
        let mut bs = b(&[(1.0, 10.0)]);
        assert!(bucket_quantile(0.5, &mut bs).value.is_nan());
        // Non-monotonic counts are fixed and reported.
        let mut bs = b(&[(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 20.0)]);
        let r = bucket_quantile(0.5, &mut bs);
        assert!(r.forced_monotonic);
        assert_eq!((r.min_bucket, r.max_bucket, r.max_diff), (2.0, 2.0, 5.0));
    }

    #[test]
    fn fraction() {
        let mut bs = b(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)]);
        assert_eq!(bucket_fraction(0.0, 1.0, &mut bs), 0.5);
        assert_eq!(bucket_fraction(0.5, 1.5, &mut bs), 0.5);
        assert_eq!(bucket_fraction(2.0, 1.0, &mut bs), 0.0);
    }

    #[test]
    fn values() {
        let mut v = [3.0, 1.0, 2.0, 4.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert!(quantile(f64::NAN, &mut v).is_nan());
    }
}
