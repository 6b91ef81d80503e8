//! Range-vector functions, computed on one series' window at one step:
//! `rate`, `increase` and `delta` with Prometheus' extrapolation (and the
//! `anchored`/`smoothed` variants), `irate`/`idelta`, the `*_over_time`
//! family, `changes`, `resets`, `deriv`, `predict_linear` and
//! `double_exponential_smoothing`.

use ember_model::Labels;

use super::annotations;
use super::engine::{metric_name, Ctx};
use super::math::kahan_inc;
use super::plan::Node;
use super::quantile::quantile;
use super::selectors::{pick_left, pick_right};
use super::types::{FPoint, HPoint, Hist};
use super::QueryError;
use crate::PosRange;

/// The range argument of a call: the window length and where it ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RangeArg {
    /// Window length (ms).
    pub range: i64,
    /// The window ends at `step - offset` (ms; `@` included).
    pub offset: i64,
    /// With `@`, the window is the same at every step.
    pub fixed: bool,
    pub anchored: bool,
    pub smoothed: bool,
    /// The argument's position.
    pub pos: PosRange,
}

/// One range function call.
pub(crate) struct RangeCall<'a, 'q> {
    pub name: &'static str,
    /// Float samples in the window (extended by the lookback delta for
    /// `anchored` and `smoothed`).
    pub floats: &'a [FPoint],
    pub hists: &'a [HPoint],
    /// Start timestamps of `floats` (0 unknown), when the function uses them.
    pub sts: &'a [i64],
    /// The input series' labels.
    pub labels: &'a Labels,
    /// The evaluation step.
    pub ts: i64,
    /// The scalar arguments at this step, in order.
    pub scalars: &'a [f64],
    pub arg: &'a RangeArg,
    /// All arguments of the call.
    pub args: &'a [Node],
    pub ctx: &'a Ctx<'q>,
}

/// What a range function gives.
pub(crate) enum RangeOut {
    None,
    Float(f64),
    Hist(Hist),
}

impl RangeCall<'_, '_> {
    fn annotate(&self, a: annotations::Annotation) {
        self.ctx.annotate(a);
    }

    fn metric(&self) -> &str {
        metric_name(self.labels)
    }

    /// The info for histograms ignored in a mixed window (at the first
    /// argument, as Prometheus reports it).
    fn ignored_histograms(&self) {
        if !self.hists.is_empty() {
            let pos = self.args.first().map_or(self.arg.pos, Node::pos);
            self.annotate(annotations::histogram_ignored_in_mixed_range(
                self.metric(),
                pos,
            ));
        }
    }
}

/// Calls range function `c.name`.
pub(crate) fn call_range(c: &RangeCall<'_, '_>) -> Result<RangeOut, QueryError> {
    use RangeOut::{Float, None as Nothing};
    let f = c.floats;
    Ok(match c.name {
        "rate" => extrapolated_rate(c, true, true),
        "increase" => extrapolated_rate(c, true, false),
        "delta" => extrapolated_rate(c, false, false),
        "irate" => instant_value(c, true),
        "idelta" => instant_value(c, false),
        "count_over_time" => Float((f.len() + c.hists.len()) as f64),
        "present_over_time" | "absent_over_time" => Float(1.0),
        "sum_over_time" => {
            if mixed(c) {
                return Ok(Nothing);
            }
            if f.is_empty() {
                return Ok(Nothing);
            }
            let (mut sum, mut comp) = (0.0, 0.0);
            for p in f {
                (sum, comp) = kahan_inc(p.f, sum, comp);
            }
            Float(if sum.is_infinite() { sum } else { sum + comp })
        }
        "avg_over_time" => {
            if mixed(c) || f.is_empty() {
                return Ok(Nothing);
            }
            Float(avg(f))
        }
        "min_over_time" | "max_over_time" | "ts_of_min_over_time" | "ts_of_max_over_time" => {
            if f.is_empty() {
                return Ok(Nothing);
            }
            c.ignored_histograms();
            let is_max = c.name.contains("max");
            let ts_of = c.name.starts_with("ts_of");
            let mut best = f[0];
            for p in f {
                let better = if ts_of {
                    if is_max {
                        p.f >= best.f
                    } else {
                        p.f <= best.f
                    }
                } else if is_max {
                    p.f > best.f
                } else {
                    p.f < best.f
                };
                if better || best.f.is_nan() {
                    best = *p;
                }
            }
            Float(if ts_of {
                best.t as f64 / 1000.0
            } else {
                best.f
            })
        }
        "first_over_time" | "last_over_time" => {
            let first = c.name == "first_over_time";
            let fp = if first { f.first() } else { f.last() };
            let hp = if first {
                c.hists.first()
            } else {
                c.hists.last()
            };
            match (fp, hp) {
                (Some(p), None) => Float(p.f),
                (None, Some(h)) => RangeOut::Hist(h.h.clone()),
                (Some(p), Some(h)) => {
                    let float_wins = if first { p.t < h.t } else { h.t < p.t };
                    if float_wins {
                        Float(p.f)
                    } else {
                        RangeOut::Hist(h.h.clone())
                    }
                }
                (None, None) => Nothing,
            }
        }
        "ts_of_first_over_time" => {
            let tf = f.first().map_or(i64::MAX, |p| p.t);
            let th = c.hists.first().map_or(i64::MAX, |p| p.t);
            Float(tf.min(th) as f64 / 1000.0)
        }
        "ts_of_last_over_time" => {
            let tf = f.last().map_or(0, |p| p.t);
            let th = c.hists.last().map_or(0, |p| p.t);
            Float(tf.max(th) as f64 / 1000.0)
        }
        "stddev_over_time" | "stdvar_over_time" => {
            if f.is_empty() {
                return Ok(Nothing);
            }
            c.ignored_histograms();
            let var = variance(f);
            Float(if c.name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            })
        }
        "quantile_over_time" => {
            let q = c.scalars.first().copied().unwrap_or(f64::NAN);
            if f.is_empty() {
                return Ok(Nothing);
            }
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                c.annotate(annotations::invalid_quantile(q, c.args[0].pos()));
            }
            c.ignored_histograms();
            let mut vals: Vec<f64> = f.iter().map(|p| p.f).collect();
            Float(quantile(q, &mut vals))
        }
        "mad_over_time" => {
            if f.is_empty() {
                return Ok(Nothing);
            }
            c.ignored_histograms();
            if f.iter().any(|p| p.f.is_nan()) {
                return Ok(Float(f64::NAN));
            }
            let mut vals: Vec<f64> = f.iter().map(|p| p.f).collect();
            let median = quantile(0.5, &mut vals);
            for v in &mut vals {
                *v = (*v - median).abs();
            }
            Float(quantile(0.5, &mut vals))
        }
        "changes" => changes_or_resets(c, false),
        "resets" => changes_or_resets(c, true),
        "deriv" => {
            if f.len() < 2 {
                if f.len() == 1 {
                    c.ignored_histograms();
                }
                return Ok(Nothing);
            }
            c.ignored_histograms();
            let (slope, _) = linear_regression(f, f[0].t);
            Float(slope)
        }
        "predict_linear" => {
            if f.len() < 2 {
                if f.len() == 1 {
                    c.ignored_histograms();
                }
                return Ok(Nothing);
            }
            c.ignored_histograms();
            let duration = c.scalars.first().copied().unwrap_or(0.0);
            let (slope, intercept) = linear_regression(f, c.ts);
            Float(slope * duration + intercept)
        }
        "double_exponential_smoothing" => {
            let sf = c.scalars.first().copied().unwrap_or(f64::NAN);
            let tf = c.scalars.get(1).copied().unwrap_or(f64::NAN);
            if sf <= 0.0 || sf >= 1.0 || sf.is_nan() {
                return Err(QueryError::Evaluation(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                )));
            }
            if tf <= 0.0 || tf >= 1.0 || tf.is_nan() {
                return Err(QueryError::Evaluation(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                )));
            }
            if f.len() < 2 {
                if f.len() == 1 {
                    c.ignored_histograms();
                }
                return Ok(Nothing);
            }
            c.ignored_histograms();
            Float(double_exponential_smoothing(f, sf, tf))
        }
        _ => {
            return Err(QueryError::Evaluation(format!(
                "function {:?} is not supported",
                c.name
            )))
        }
    })
}

/// Floats and histograms in one window: a warning and no result.
fn mixed(c: &RangeCall<'_, '_>) -> bool {
    if !c.floats.is_empty() && !c.hists.is_empty() {
        c.annotate(annotations::mixed_floats_histograms(
            c.metric(),
            c.args[0].pos(),
        ));
        return true;
    }
    false
}

/// The mean with Kahan summation, switching to an incremental mean when
/// the sum would overflow.
fn avg(f: &[FPoint]) -> f64 {
    let (mut sum, mut count) = (f[0].f, 1.0);
    let (mut mean, mut comp) = (0.0, 0.0);
    let mut incremental = false;
    for (i, p) in f.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(p.f, sum, comp);
            if !ns.is_infinite() {
                sum = ns;
                comp = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            comp /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, comp) = kahan_inc(p.f / count, q * mean, q * comp);
    }
    if incremental {
        mean + comp
    } else {
        sum / count + comp / count
    }
}

/// Population variance with compensated summation.
fn variance(f: &[FPoint]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for p in f {
        count += 1.0;
        let delta = p.f - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (p.f - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Least-squares fit of the samples: slope per second and the value at
/// `intercept_time`.
pub(crate) fn linear_regression(samples: &[FPoint], intercept_time: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    let init_y = samples[0].f;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.f != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(s.f, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * s.f, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn double_exponential_smoothing(f: &[FPoint], sf: f64, tf: f64) -> f64 {
    let trend = |i: usize, s0: f64, s1: f64, b: f64| {
        if i == 0 {
            b
        } else {
            tf * (s1 - s0) + (1.0 - tf) * b
        }
    };
    let mut s0 = 0.0;
    let mut s1 = f[0].f;
    let mut b = f[1].f - f[0].f;
    for (i, p) in f.iter().enumerate().skip(1) {
        let x = sf * p.f;
        b = trend(i - 1, s0, s1, b);
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    s1
}

/// Seconds from `a` to `b` (ms), without overflow.
fn secs_between(a: i64, b: i64) -> f64 {
    (i128::from(b) - i128::from(a)) as f64 / 1000.0
}

/// Whether a start timestamp shows a counter reset between two samples.
fn is_st_reset(prev_st: i64, prev_t: i64, curr_st: i64, curr_t: i64) -> bool {
    if curr_st == 0 || curr_st >= curr_t {
        return false;
    }
    if curr_st < prev_t {
        return false;
    }
    if curr_st > prev_t {
        return true;
    }
    if prev_st > prev_t {
        return false;
    }
    prev_st != 0 && prev_st != prev_t
}

/// Whether a sample's start time overlaps the previous sample.
fn st_overlap(prev_st: i64, prev_t: i64, curr_st: i64) -> bool {
    curr_st != 0 && curr_st < prev_t && curr_st != prev_st
}

/// `rate`, `increase` and `delta`.
fn extrapolated_rate(c: &RangeCall<'_, '_>, is_counter: bool, is_rate: bool) -> RangeOut {
    let a = c.arg;
    if a.anchored || a.smoothed {
        if !c.hists.is_empty() && !c.floats.is_empty() {
            c.annotate(annotations::mixed_floats_histograms(
                c.metric(),
                c.args[0].pos(),
            ));
            return RangeOut::None;
        }
        if c.floats.is_empty() {
            return RangeOut::None;
        }
        return extended_rate(c, is_counter, is_rate);
    }
    let f = c.floats;
    let range_start = c.ts.saturating_sub(a.range.saturating_add(a.offset));
    let range_end = c.ts.saturating_sub(a.offset);
    if !c.hists.is_empty() && !f.is_empty() {
        c.annotate(annotations::mixed_floats_histograms(
            c.metric(),
            c.args[0].pos(),
        ));
        return RangeOut::None;
    }
    if f.is_empty() {
        // Native histogram rates are not implemented.
        return RangeOut::None;
    }
    let sts = c.sts;
    let n_minus_one = f.len() - 1;
    let first_t = f[0].t;
    let last_t = f[n_minus_one].t;
    let mut result = f[n_minus_one].f - f[0].f;
    if is_counter {
        let mut overlap = false;
        for i in 0..n_minus_one {
            let (prev, curr) = (f[i], f[i + 1]);
            if !overlap && i + 1 < sts.len() && st_overlap(sts[i], prev.t, sts[i + 1]) {
                c.annotate(annotations::start_time_overlap(c.metric(), c.args[0].pos()));
                overlap = true;
            }
            if curr.f < prev.f
                || (i + 1 < sts.len() && is_st_reset(sts[i], prev.t, sts[i + 1], curr.t))
            {
                result += prev.f;
            }
        }
    }
    let mut to_start = secs_between(range_start, first_t);
    let mut to_end = secs_between(last_t, range_end);
    let mut sampled = secs_between(first_t, last_t);
    let avg_between = if n_minus_one > 0 {
        sampled / n_minus_one as f64
    } else {
        0.0
    };
    let threshold = avg_between * 1.1;
    if is_counter && !sts.is_empty() && sts[0] != 0 && sts[0] > range_start && sts[0] < first_t {
        to_start = 0.0;
        sampled = secs_between(sts[0], last_t);
        result += f[0].f;
    } else if n_minus_one == 0 {
        return RangeOut::None;
    } else {
        if to_start >= threshold {
            to_start = avg_between / 2.0;
        }
        if is_counter {
            let mut to_zero = to_start;
            if result > 0.0 && f[0].f >= 0.0 {
                to_zero = sampled * (f[0].f / result);
            }
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = 1.0;
    if sampled != 0.0 {
        factor = (sampled + to_start + to_end) / sampled;
    }
    if is_rate {
        factor /= a.range as f64 / 1000.0;
    }
    RangeOut::Float(result * factor)
}

/// `rate`, `increase` and `delta` over an `anchored` or `smoothed` range.
fn extended_rate(c: &RangeCall<'_, '_>, is_counter: bool, is_rate: bool) -> RangeOut {
    let a = c.arg;
    let f = c.floats;
    let range_start = c.ts.saturating_sub(a.range.saturating_add(a.offset));
    let range_end = c.ts.saturating_sub(a.offset);
    let smoothed = a.smoothed;
    let mut last = f.len() - 1;
    let mut first = f[..last]
        .partition_point(|p| p.t <= range_start)
        .saturating_sub(1);
    if smoothed {
        last = f[..last].partition_point(|p| p.t < range_end);
    }
    if f[last].t <= range_start {
        return RangeOut::None;
    }
    if smoothed && f[first].t > range_end {
        return RangeOut::None;
    }
    let left = pick_left(f, first, range_start, smoothed, is_counter);
    let right = pick_right(f, last, range_end, smoothed, is_counter);
    let mut result = right - left;
    if is_counter {
        if f[first].t <= range_start {
            first += 1;
        }
        let mut hi = last as i64;
        if f[last].t >= range_end {
            hi -= 1;
        }
        let inner: &[FPoint] = if hi >= first as i64 {
            &f[first..=hi as usize]
        } else {
            &[]
        };
        let mut correction = 0.0;
        let mut prev = left;
        for p in inner {
            if p.f < prev {
                correction += prev;
            }
            prev = p.f;
        }
        if right < prev {
            correction += prev;
        }
        result += correction;
    }
    if is_rate {
        result /= a.range as f64 / 1000.0;
    }
    RangeOut::Float(result)
}

/// `irate` and `idelta`: from the last two samples.
fn instant_value(c: &RangeCall<'_, '_>, is_rate: bool) -> RangeOut {
    let f = c.floats;
    if f.len() + c.hists.len() < 2 {
        return RangeOut::None;
    }
    let st = |i: usize| c.sts.get(i).copied().unwrap_or(0);
    // The two newest samples: (t, float value if a float, start time).
    let mut ss: Vec<(i64, Option<f64>, i64)> = Vec::with_capacity(2);
    let from = f.len().saturating_sub(2);
    for (i, p) in f.iter().enumerate().skip(from) {
        ss.push((p.t, Some(p.f), st(i)));
    }
    for p in &c.hists[c.hists.len().saturating_sub(2)..] {
        let s = (p.t, None, 0);
        match ss.len() {
            0 => ss.push(s),
            1 if s.0 < ss[0].0 => ss.insert(0, s),
            1 => ss.push(s),
            _ if s.0 < ss[0].0 => {}
            _ if s.0 > ss[1].0 => {
                ss[0] = ss[1];
                ss[1] = s;
            }
            _ => ss[0] = s,
        }
    }
    let (s0, s1) = (ss[0], ss[1]);
    let interval = s1.0 - s0.0;
    if interval == 0 {
        return RangeOut::None;
    }
    let (Some(v0), Some(v1)) = (s0.1, s1.1) else {
        if s0.1.is_some() || s1.1.is_some() {
            c.annotate(annotations::mixed_floats_histograms(
                c.metric(),
                c.args[0].pos(),
            ));
        }
        // Native histogram rates are not implemented.
        return RangeOut::None;
    };
    let mut v = v1;
    if !is_rate || !(v1 < v0 || is_st_reset(s0.2, s0.0, s1.2, s1.0)) {
        v = v1 - v0;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    RangeOut::Float(v)
}

/// `changes` and `resets` (floats; a switch between float and histogram
/// counts as a change and a reset).
fn changes_or_resets(c: &RangeCall<'_, '_>, resets: bool) -> RangeOut {
    let f = c.floats;
    let h = c.hists;
    if f.is_empty() && h.is_empty() {
        return RangeOut::None;
    }
    let (mut fi, mut hi) = (0usize, 0usize);
    if c.arg.anchored {
        let range_start =
            c.ts.saturating_sub(c.arg.range.saturating_add(c.arg.offset));
        let last_f = f.partition_point(|p| p.t <= range_start) as i64 - 1;
        let last_h = h.partition_point(|p| p.t <= range_start) as i64 - 1;
        if last_f + 1 >= f.len() as i64 && last_h + 1 >= h.len() as i64 {
            return RangeOut::None;
        }
        if last_f < 0 && last_h < 0 {
        } else if last_h < 0 || (last_f >= 0 && f[last_f as usize].t >= h[last_h as usize].t) {
            fi = last_f as usize;
            hi = (last_h + 1) as usize;
        } else {
            fi = (last_f + 1) as usize;
            hi = last_h as usize;
        }
    }
    let st = |i: usize| c.sts.get(i).copied().unwrap_or(0);
    // (t, value or histogram, st)
    let mut prev: Option<(i64, Option<f64>, Option<&Hist>, i64)> = None;
    let mut count = 0;
    while fi < f.len() || hi < h.len() {
        let cur = if hi >= h.len() || (fi < f.len() && f[fi].t < h[hi].t) {
            let p = f[fi];
            let s = st(fi);
            fi += 1;
            (p.t, Some(p.f), None, s)
        } else {
            let p = &h[hi];
            hi += 1;
            (p.t, None, Some(&p.h), 0)
        };
        if let Some(p) = prev {
            match (p.1, cur.1) {
                (Some(a), Some(b)) => {
                    if resets {
                        if b < a || is_st_reset(p.3, p.0, cur.3, cur.0) {
                            count += 1;
                        }
                    } else if b != a && !(a.is_nan() && b.is_nan()) {
                        count += 1;
                    }
                }
                (Some(_), None) | (None, Some(_)) => count += 1,
                (None, None) => {
                    if let (Some(a), Some(b)) = (p.2, cur.2) {
                        let differs = if resets {
                            b.count < a.count
                        } else {
                            **a != **b
                        };
                        if differs {
                            count += 1;
                        }
                    }
                }
            }
        }
        prev = Some(cur);
    }
    RangeOut::Float(f64::from(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<FPoint> {
        v.iter().map(|&(t, f)| FPoint { t, f }).collect()
    }

    #[test]
    fn regression() {
        let f = pts(&[(0, 1.0), (1000, 3.0), (2000, 5.0)]);
        assert_eq!(linear_regression(&f, 0), (2.0, 1.0));
        assert_eq!(linear_regression(&f, 2000), (2.0, 5.0));
        // A constant series has no slope; an infinite one gives NaN.
        let c = pts(&[(0, 4.0), (1000, 4.0)]);
        assert_eq!(linear_regression(&c, 0), (0.0, 4.0));
        let inf = pts(&[(0, f64::INFINITY), (1000, f64::INFINITY)]);
        assert!(linear_regression(&inf, 0).0.is_nan());
    }

    #[test]
    fn means() {
        assert_eq!(avg(&pts(&[(0, 1.0), (1, 2.0), (2, 6.0)])), 3.0);
        // Would overflow as a plain sum.
        assert_eq!(avg(&pts(&[(0, f64::MAX), (1, f64::MAX)])), f64::MAX);
        assert_eq!(variance(&pts(&[(0, 1.0), (1, 3.0)])), 1.0);
        assert_eq!(variance(&pts(&[(0, 5.0)])), 0.0);
    }

    #[test]
    fn smoothing() {
        // A straight line is followed exactly with trend smoothing.
        let f = pts(&[(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]);
        let v = double_exponential_smoothing(&f, 0.5, 0.5);
        assert!((v - 3.0).abs() < 1e-12);
    }

    #[test]
    fn start_time_resets() {
        // A start time after the previous sample is a reset.
        assert!(is_st_reset(0, 1000, 1500, 2000));
        // Unknown or equal to the sample time: not a reset.
        assert!(!is_st_reset(0, 1000, 0, 2000));
        assert!(!is_st_reset(0, 1000, 2000, 2000));
        // Pointing at the previous sample: a delta (reset) only when the
        // previous start time is known and valid.
        assert!(is_st_reset(500, 1000, 1000, 2000));
        assert!(!is_st_reset(0, 1000, 1000, 2000));
        assert!(!is_st_reset(1500, 1000, 1000, 2000));
        assert!(st_overlap(0, 1000, 500));
        assert!(!st_overlap(500, 1000, 500));
    }
}
