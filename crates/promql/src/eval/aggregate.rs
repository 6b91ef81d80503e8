//! Aggregation operators, evaluated as Prometheus' `rangeEvalAgg`: the
//! input series are mapped to groups once, then every step folds the
//! values present at that step into the groups.

use ember_model::{Labels, METRIC_NAME};

use super::annotations;
use super::engine::{Ctx, Evaluator, EVAL_ENV};
use super::format::{format_f, format_g};
use super::hash::{labels_hash, FastMap};
use super::math::{go_max, go_min, kahan_inc};
use super::plan::Node;
use super::quantile::quantile;
use super::types::{total_samples, Hist, Matrix, Sample, Series};
use super::QueryError;
use crate::AggregateOp;

/// The largest float that converts to an int64 without overflow.
const MAX_INT64: f64 = 9_223_372_036_854_774_784.0;
/// The smallest float that converts to an int64 without underflow.
const MIN_INT64: f64 = -9_223_372_036_854_775_808.0;

/// The parameter of `topk`, `quantile`, ... at each step.
struct Params {
    values: Vec<f64>,
    min: f64,
    max: f64,
    has_nan: bool,
}

impl Params {
    fn at(&self, step: usize) -> f64 {
        self.values.get(step).copied().unwrap_or(0.0)
    }
}

/// The labels of an aggregation group.
fn group_labels(l: &Labels, without: bool, grouping: &[String]) -> Labels {
    if without {
        l.retain(|n| n != METRIC_NAME && grouping.binary_search_by(|g| g.as_str().cmp(n)).is_err())
    } else if grouping.is_empty() {
        Labels::empty()
    } else {
        l.retain(|n| grouping.binary_search_by(|g| g.as_str().cmp(n)).is_ok())
    }
}

/// Per-group state at one step.
#[derive(Default, Clone)]
struct Group {
    seen: bool,
    value: f64,
    mean: f64,
    comp: f64,
    count: f64,
    values: Vec<f64>,
    heap: Vec<Sample>,
    has_float: bool,
    has_hist: bool,
    incremental: bool,
    drop_name: bool,
    complete: bool,
}

/// A cursor over one input series: the value at `ts`, if any.
fn next_value(s: &Series, cur: &mut (usize, usize), ts: i64) -> Option<(f64, Option<Hist>)> {
    while s.floats.get(cur.0).is_some_and(|p| p.t < ts) {
        cur.0 += 1;
    }
    while s.hists.get(cur.1).is_some_and(|p| p.t < ts) {
        cur.1 += 1;
    }
    if let Some(p) = s.floats.get(cur.0).filter(|p| p.t == ts) {
        cur.0 += 1;
        return Some((p.f, None));
    }
    if let Some(p) = s.hists.get(cur.1).filter(|p| p.t == ts) {
        cur.1 += 1;
        return Some((0.0, Some(p.h.clone())));
    }
    None
}

/// Go's `container/heap` on a vector of samples with `less`.
struct Heap<'a> {
    v: &'a mut Vec<Sample>,
    less: fn(&Sample, &Sample) -> bool,
}

impl Heap<'_> {
    fn push(&mut self, s: Sample) {
        self.v.push(s);
        let n = self.v.len() - 1;
        self.up(n);
    }

    fn fix(&mut self, i: usize) {
        let n = self.v.len();
        if !self.down(i, n) {
            self.up(i);
        }
    }

    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !(self.less)(&self.v[j], &self.v[i]) {
                break;
            }
            self.v.swap(i, j);
            j = i;
        }
    }

    fn down(&mut self, i0: usize, n: usize) -> bool {
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && (self.less)(&self.v[j2], &self.v[j1]) {
                j = j2;
            }
            if !(self.less)(&self.v[j], &self.v[i]) {
                break;
            }
            self.v.swap(i, j);
            i = j;
        }
        i > i0
    }
}

fn by_value(a: &Sample, b: &Sample) -> bool {
    a.f.is_nan() || a.f < b.f
}

fn by_reverse_value(a: &Sample, b: &Sample) -> bool {
    a.f.is_nan() || a.f > b.f
}

/// Go's `sort.Sort(sort.Reverse(h))` for small inputs (insertion sort);
/// larger inputs are sorted stably with the same order.
fn sort_reverse(v: &mut [Sample], less: fn(&Sample, &Sample) -> bool) {
    if v.len() <= 12 {
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && less(&v[j - 1], &v[j]) {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
    } else {
        v.sort_by(|a, b| {
            if less(b, a) {
                std::cmp::Ordering::Less
            } else if less(a, b) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
    }
}

/// Whether `limit_ratio(r, ...)` keeps a series.
fn ratio_keeps(r: f64, labels: &Labels) -> bool {
    let offset = labels_hash(labels) as f64 / u64::MAX as f64;
    (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r)
}

impl Evaluator<'_, '_> {
    /// Evaluates an aggregation.
    pub fn eval_aggregate(&mut self, n: &Node) -> Result<Matrix, QueryError> {
        let Node::Aggregate {
            op,
            expr,
            param,
            grouping,
            without,
            ..
        } = n
        else {
            return Ok(Vec::new());
        };
        if *op == AggregateOp::CountValues {
            return self.count_values(expr, param.as_deref(), grouping, *without);
        }
        let original = self.current_samples;
        let params = match param {
            Some(p) => Some(self.params(p)?),
            None => None,
        };
        let input = self.eval_matrix(expr)?;
        let result = self.range_eval_agg(n, input, params.as_ref())?;
        self.current_samples = original + total_samples(&result);
        Ok(result)
    }

    fn params(&mut self, p: &Node) -> Result<Params, QueryError> {
        let constant = matches!(p, Node::Number { .. });
        let values = self.eval_scalar_steps(p)?;
        let (mut min, mut max) = (f64::MAX, -f64::MAX);
        let mut has_nan = false;
        let iter: &[f64] = if constant {
            values.get(..1).unwrap_or(&[])
        } else {
            &values
        };
        for &v in iter {
            max = go_max(max, v);
            min = go_min(min, v);
            has_nan |= v.is_nan();
        }
        Ok(Params {
            values,
            min,
            max,
            has_nan,
        })
    }

    fn count_values(
        &mut self,
        expr: &Node,
        param: Option<&Node>,
        grouping: &[String],
        without: bool,
    ) -> Result<Matrix, QueryError> {
        let (label, quoted, invalid) = match param.map(Node::unwrapped) {
            Some(Node::String {
                value,
                quoted,
                invalid_utf8,
                ..
            }) => (value.clone(), quoted.clone(), *invalid_utf8),
            _ => return Ok(Vec::new()),
        };
        if label.is_empty() || invalid {
            return Err(QueryError::Evaluation(format!(
                "invalid label name {quoted}"
            )));
        }
        let mut grouping = grouping.to_vec();
        if !without {
            grouping.push(label.clone());
            grouping.sort();
        }
        self.range_eval(None, &[expr], &mut |step, out| {
            let mut index: FastMap<Labels, usize> = FastMap::default();
            for s in step.vectors.first().into_iter().flatten() {
                let value = match &s.h {
                    None => format_f(s.f),
                    Some(h) => format!("{h:?}"),
                };
                let mut b = s.labels.to_builder();
                b.set(label.as_str(), value);
                let metric = b
                    .build()
                    .map_err(|e| QueryError::Evaluation(e.to_string()))?;
                let g = group_labels(&metric, without, &grouping);
                match index.get(&g) {
                    Some(&i) => out[i].f += 1.0,
                    None => {
                        index.insert(g.clone(), out.len());
                        out.push(Sample::float(g, 1.0));
                    }
                }
            }
            Ok(())
        })
    }

    fn range_eval_agg(
        &mut self,
        n: &Node,
        input: Matrix,
        params: Option<&Params>,
    ) -> Result<Matrix, QueryError> {
        let Node::Aggregate {
            op,
            expr,
            param,
            grouping,
            without,
            pos,
        } = n
        else {
            return Ok(Vec::new());
        };
        let op = *op;
        let k_op = matches!(
            op,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        );
        let mut index: FastMap<Labels, usize> = FastMap::default();
        let mut group_of = Vec::with_capacity(input.len());
        let mut result: Matrix = Vec::new();
        for s in &input {
            let g = group_labels(&s.labels, *without, grouping);
            let next = index.len();
            let i = *index.entry(g.clone()).or_insert_with(|| {
                if !k_op {
                    result.push(Series::new(g, false));
                }
                next
            });
            group_of.push(i);
        }
        let num_groups = index.len();
        let empty = Params {
            values: Vec::new(),
            min: 0.0,
            max: 0.0,
            has_nan: false,
        };
        let params = params.unwrap_or(&empty);
        let param_pos = param.as_ref().map_or(*pos, |p| p.pos());
        match op {
            AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
                if params.max < 1.0 {
                    return Ok(Vec::new());
                }
                if params.has_nan {
                    return Err(QueryError::Evaluation("Parameter value is NaN".into()));
                }
                if params.min <= MIN_INT64 {
                    return Err(QueryError::Evaluation(format!(
                        "Scalar value {} underflows int64",
                        format_g(params.min, None)
                    )));
                }
                if params.max >= MAX_INT64 {
                    return Err(QueryError::Evaluation(format!(
                        "Scalar value {} overflows int64",
                        format_g(params.max, None)
                    )));
                }
            }
            AggregateOp::LimitRatio => {
                if params.max == 0.0 && params.min == 0.0 {
                    return Ok(Vec::new());
                }
                if params.has_nan {
                    return Err(QueryError::Evaluation("Ratio value is NaN".into()));
                }
                if params.max > 1.0 {
                    self.ctx
                        .annotate(annotations::invalid_ratio(params.max, 1.0, param_pos));
                }
                if params.min < -1.0 {
                    self.ctx
                        .annotate(annotations::invalid_ratio(params.min, -1.0, param_pos));
                }
            }
            AggregateOp::Quantile => {
                if params.has_nan {
                    self.ctx
                        .annotate(annotations::invalid_quantile(f64::NAN, param_pos));
                }
                if params.max > 1.0 {
                    self.ctx
                        .annotate(annotations::invalid_quantile(params.max, param_pos));
                }
                if params.min < 0.0 {
                    self.ctx
                        .annotate(annotations::invalid_quantile(params.min, param_pos));
                }
            }
            _ => {}
        }
        let mut folder = Folder {
            ctx: self.ctx,
            op,
            input: &input,
            group_of,
            groups: vec![Group::default(); num_groups],
            cursors: vec![(0usize, 0usize); input.len()],
            expr_pos: expr.pos(),
            pos: *pos,
        };
        let mut k_index: FastMap<Labels, usize> = FastMap::default();
        let mut k_result: Matrix = Vec::new();
        let temp = self.current_samples;
        let instant = self.start == self.end;
        for (step, ts) in self.steps().enumerate() {
            self.ctx.check_done(EVAL_ENV)?;
            self.current_samples = temp;
            let p = params.at(step);
            if k_op {
                let m = folder.fold_k(p, ts);
                if instant {
                    return Ok(m);
                }
                for s in m {
                    let (f, h) = match (s.floats.first(), s.hists.first()) {
                        (Some(fp), _) => (fp.f, None),
                        (None, Some(hp)) => (0.0, Some(hp.h.clone())),
                        _ => continue,
                    };
                    match k_index.get(&s.labels) {
                        Some(&i) => k_result[i].push(ts, f, h),
                        None => {
                            k_index.insert(s.labels.clone(), k_result.len());
                            let mut ser = Series::new(s.labels, s.drop_name);
                            ser.push(ts, f, h);
                            k_result.push(ser);
                        }
                    }
                }
            } else {
                folder.fold(p, ts, &mut result);
            }
            self.check_samples()?;
        }
        if k_op {
            return Ok(k_result);
        }
        result.retain(|s| s.len() > 0);
        Ok(result)
    }
}

/// Folds the values of one step into aggregation groups.
struct Folder<'a, 'q> {
    ctx: &'a Ctx<'q>,
    op: AggregateOp,
    input: &'a Matrix,
    /// The group of each input series.
    group_of: Vec<usize>,
    groups: Vec<Group>,
    /// Read position in each input series.
    cursors: Vec<(usize, usize)>,
    /// Where the aggregated expression and the aggregation are.
    expr_pos: crate::PosRange,
    pos: crate::PosRange,
}

impl Folder<'_, '_> {
    /// `sum`, `avg`, `count`, ... at step `ts`, appended to the group
    /// series in `result`; `q` is the parameter of `quantile`.
    fn fold(&mut self, q: f64, ts: i64, result: &mut Matrix) {
        use AggregateOp as A;
        let (op, expr_pos, input) = (self.op, self.expr_pos, self.input);
        let (group_of, groups, cursors) = (&self.group_of, &mut self.groups, &mut self.cursors);
        let info = |name: &str| {
            self.ctx
                .annotate(annotations::histogram_ignored_in_aggregation(
                    name, expr_pos,
                ));
        };
        for g in groups.iter_mut() {
            g.seen = false;
        }
        for (si, s) in input.iter().enumerate() {
            let Some((f, h)) = next_value(s, &mut cursors[si], ts) else {
                continue;
            };
            let g = &mut groups[group_of[si]];
            if !g.seen {
                *g = Group {
                    seen: true,
                    value: f,
                    mean: f,
                    count: 1.0,
                    drop_name: s.drop_name,
                    ..Group::default()
                };
                match op {
                    A::Avg | A::Sum => {
                        if h.is_none() {
                            g.has_float = true;
                        } else {
                            g.has_hist = true;
                        }
                    }
                    A::Stdvar | A::Stddev => {
                        if h.is_some() {
                            g.seen = false;
                            info(op.as_str());
                        } else if f.is_nan() || f.is_infinite() {
                            g.value = f64::NAN;
                        } else {
                            g.value = 0.0;
                        }
                    }
                    A::Quantile => {
                        if h.is_some() {
                            g.seen = false;
                            info("quantile");
                        }
                        g.values = vec![f];
                    }
                    A::Group => g.value = 1.0,
                    A::Min | A::Max if h.is_some() => {
                        g.seen = false;
                        info(op.as_str());
                    }
                    _ => {}
                }
                continue;
            }
            if s.drop_name {
                g.drop_name = true;
            }
            match op {
                A::Sum => {
                    if h.is_some() {
                        g.has_hist = true;
                    } else {
                        g.has_float = true;
                        (g.value, g.comp) = kahan_inc(f, g.value, g.comp);
                    }
                }
                A::Avg => {
                    g.count += 1.0;
                    if h.is_some() {
                        g.has_hist = true;
                        continue;
                    }
                    g.has_float = true;
                    if !g.incremental {
                        let (nv, nc) = kahan_inc(f, g.value, g.comp);
                        if !nv.is_infinite() {
                            g.value = nv;
                            g.comp = nc;
                            continue;
                        }
                        g.incremental = true;
                        g.mean = g.value / (g.count - 1.0);
                        g.comp /= g.count - 1.0;
                    }
                    let qq = (g.count - 1.0) / g.count;
                    (g.mean, g.comp) = kahan_inc(f / g.count, qq * g.mean, qq * g.comp);
                }
                A::Group => {}
                A::Max => {
                    if h.is_some() {
                        info("max");
                        continue;
                    }
                    if g.value < f || g.value.is_nan() {
                        g.value = f;
                    }
                }
                A::Min => {
                    if h.is_some() {
                        info("min");
                        continue;
                    }
                    if g.value > f || g.value.is_nan() {
                        g.value = f;
                    }
                }
                A::Count => g.count += 1.0,
                A::Stdvar | A::Stddev => {
                    if h.is_some() {
                        info(op.as_str());
                        continue;
                    }
                    g.count += 1.0;
                    let delta = f - g.mean;
                    g.mean += delta / g.count;
                    g.value += delta * (f - g.mean);
                }
                A::Quantile => {
                    if h.is_some() {
                        info("quantile");
                        continue;
                    }
                    g.values.push(f);
                }
                _ => {}
            }
        }
        for (ri, g) in groups.iter_mut().enumerate() {
            if !g.seen {
                continue;
            }
            let v = match op {
                A::Avg => {
                    if g.has_float && g.has_hist {
                        self.ctx
                            .annotate(annotations::mixed_floats_histograms_agg(expr_pos));
                        continue;
                    }
                    if g.has_hist {
                        // Native histogram averages are not implemented.
                        continue;
                    }
                    if g.incremental {
                        g.mean + g.comp
                    } else {
                        g.value / g.count + g.comp / g.count
                    }
                }
                A::Count => g.count,
                A::Stdvar => g.value / g.count,
                A::Stddev => (g.value / g.count).sqrt(),
                A::Quantile => quantile(q, &mut g.values),
                A::Sum => {
                    if g.has_float && g.has_hist {
                        self.ctx
                            .annotate(annotations::mixed_floats_histograms_agg(expr_pos));
                        continue;
                    }
                    if g.has_hist {
                        // Native histogram sums are not implemented.
                        continue;
                    }
                    g.value + g.comp
                }
                _ => g.value,
            };
            let ser = &mut result[ri];
            ser.push(ts, v, None);
            ser.drop_name = g.drop_name;
        }
    }

    /// `topk`, `bottomk`, `limitk`, `limit_ratio` at step `ts`: the chosen
    /// samples, group by group (sorted for `topk` and `bottomk`).
    fn fold_k(&mut self, param: f64, ts: i64) -> Matrix {
        use AggregateOp as A;
        let (op, pos, input) = (self.op, self.pos, self.input);
        let (group_of, groups, cursors) = (&self.group_of, &mut self.groups, &mut self.cursors);
        let mut remaining = groups.len();
        for g in groups.iter_mut() {
            g.seen = false;
            g.complete = false;
        }
        let k = (super::math::trunc_i64(param)).min(input.len() as i64);
        let r = param.clamp(-1.0, 1.0);
        for (si, s) in input.iter().enumerate() {
            let Some((f, h)) = next_value(s, &mut cursors[si], ts) else {
                continue;
            };
            let sample = Sample {
                labels: s.labels.clone(),
                t: ts,
                f,
                h,
                drop_name: s.drop_name,
            };
            match op {
                A::Topk | A::Bottomk | A::Limitk if k < 1 => return Vec::new(),
                A::LimitRatio if param == 0.0 => return Vec::new(),
                _ => {}
            }
            let g = &mut groups[group_of[si]];
            if !g.seen {
                g.seen = true;
                g.complete = false;
                g.heap.clear();
                match op {
                    A::LimitRatio if ratio_keeps(r, &sample.labels) => g.heap.push(sample),
                    A::Limitk => g.heap.push(sample),
                    A::Topk | A::Bottomk => {
                        if sample.h.is_some() {
                            g.seen = false;
                            self.ctx
                                .annotate(annotations::histogram_ignored_in_aggregation(
                                    op.as_str(),
                                    pos,
                                ));
                        } else {
                            g.heap.push(sample);
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match op {
                A::Topk | A::Bottomk => {
                    let less = if op == A::Topk {
                        by_value
                    } else {
                        by_reverse_value
                    };
                    if sample.h.is_some() {
                        self.ctx
                            .annotate(annotations::histogram_ignored_in_aggregation(
                                op.as_str(),
                                pos,
                            ));
                    } else if (g.heap.len() as i64) < k {
                        Heap {
                            v: &mut g.heap,
                            less,
                        }
                        .push(sample);
                    } else {
                        let top = g.heap[0].f;
                        let replace = if op == A::Topk {
                            top < sample.f
                        } else {
                            top > sample.f
                        } || (top.is_nan() && !sample.f.is_nan());
                        if replace {
                            g.heap[0] = sample;
                            if k > 1 {
                                Heap {
                                    v: &mut g.heap,
                                    less,
                                }
                                .fix(0);
                            }
                        }
                    }
                }
                A::Limitk => {
                    if (g.heap.len() as i64) < k {
                        Heap {
                            v: &mut g.heap,
                            less: by_value,
                        }
                        .push(sample);
                    }
                    if !g.complete && g.heap.len() as i64 == k {
                        g.complete = true;
                        remaining -= 1;
                        if remaining == 0 {
                            break;
                        }
                    }
                }
                A::LimitRatio if ratio_keeps(r, &sample.labels) => {
                    Heap {
                        v: &mut g.heap,
                        less: by_value,
                    }
                    .push(sample);
                }
                _ => {}
            }
        }
        let mut out: Matrix = Vec::new();
        for g in groups.iter_mut() {
            if !g.seen {
                continue;
            }
            match op {
                A::Topk if g.heap.len() > 1 => sort_reverse(&mut g.heap, by_value),
                A::Bottomk if g.heap.len() > 1 => sort_reverse(&mut g.heap, by_reverse_value),
                _ => {}
            }
            for s in g.heap.drain(..) {
                let mut ser = Series::new(s.labels, s.drop_name);
                ser.push(ts, s.f, s.h);
                out.push(ser);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: f64) -> Sample {
        Sample::float(Labels::empty(), f)
    }

    #[test]
    fn heap_order() {
        let mut v = Vec::new();
        let mut h = Heap {
            v: &mut v,
            less: by_value,
        };
        for x in [3.0, 1.0, 2.0, f64::NAN] {
            h.push(s(x));
        }
        assert!(v[0].f.is_nan());
        sort_reverse(&mut v, by_value);
        let got: Vec<f64> = v.iter().map(|s| s.f).collect();
        assert_eq!(&got[..3], &[3.0, 2.0, 1.0]);
        assert!(got[3].is_nan());
    }

    #[test]
    fn grouping() {
        let l = ember_model::labels!("__name__" => "x", "a" => "1", "b" => "2");
        let by = group_labels(&l, false, &["a".to_string()]);
        assert_eq!(by, ember_model::labels!("a" => "1"));
        let without = group_labels(&l, true, &["a".to_string()]);
        assert_eq!(without, ember_model::labels!("b" => "2"));
    }
}
