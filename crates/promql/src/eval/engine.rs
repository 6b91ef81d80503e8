//! The evaluator: Prometheus' step-wise evaluation model.
//!
//! Every node evaluates to a matrix holding its value at each evaluation
//! step (`start`, `start + interval`, ..., `end`); an instant query is a
//! range evaluation with a single step. Operators and instant-vector
//! functions gather the per-step vectors of their operands and combine them
//! step by step ([`Evaluator::range_eval`]); range-vector functions walk
//! each selected series once, sliding a window over its samples.

use std::cell::RefCell;
use std::time::Instant;

use ember_model::{Labels, METRIC_NAME};
use ember_storage::{Querier, Series as StorageSeries};

use super::annotations::{Annotation, Annotations};
use super::hash::{FastMap, FastSet};
use super::plan::{Node, Selector};
use super::types::{total_samples, FPoint, Matrix, Sample, Series, Value, Vector};
use super::{CancelToken, QueryError};
use crate::{BinaryOp, ValueType, VectorMatching};

/// The most points preallocated for a series.
const MAX_PREALLOC: usize = 5000;

/// What Prometheus calls the evaluation environment in its error messages.
pub(crate) const ENV: &str = "query execution";
/// Where cancellation and timeouts are detected.
pub(crate) const EVAL_ENV: &str = "expression evaluation";

/// State shared by all evaluators of one query.
pub(crate) struct Ctx<'q> {
    pub max_samples: usize,
    pub lookback: i64,
    pub default_subquery_step: i64,
    pub delayed_name_removal: bool,
    pub type_and_unit_labels: bool,
    pub use_start_timestamps: bool,
    pub deadline: Option<Instant>,
    pub cancel: Option<CancelToken>,
    pub querier: &'q dyn Querier,
    /// The series of each selector, by selector id.
    pub series: Vec<Vec<Box<dyn StorageSeries + 'q>>>,
    pub annotations: RefCell<Annotations>,
    /// The offset each selector and subquery is evaluated with (by
    /// `oid`): its `offset`, plus, with `@`, the distance from the
    /// evaluation start to the `@` time, as Prometheus' `Offset` fields.
    pub offsets: RefCell<Vec<i64>>,
}

impl Ctx<'_> {
    /// Fails when the query was cancelled or ran out of time.
    pub fn check_done(&self, env: &str) -> Result<(), QueryError> {
        if self.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            return Err(QueryError::Canceled(env.to_string()));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(QueryError::Timeout(env.to_string()));
        }
        Ok(())
    }

    /// Records a warning or info.
    pub fn annotate(&self, a: Annotation) {
        self.annotations.borrow_mut().add(a);
    }

    /// Prometheus' `setOffsetForAtModifier`: recomputes the offsets of the
    /// selectors and subqueries in `n` for evaluation from `eval_time`.
    /// With `@ t`, a node's offset is its own plus `eval_time - t`, minus
    /// the offsets of the subqueries around it inside `n` (those up to the
    /// innermost one with an `@`, which adds its own distance).
    pub fn set_offsets(&self, eval_time: i64, n: &Node) {
        let mut table = self.offsets.borrow_mut();
        let mut path = Vec::new();
        set_offsets_in(eval_time, n, &mut path, &mut table);
    }
}

/// See [`Ctx::set_offsets`]; `path` holds the (offset, `@`) of the
/// enclosing subqueries.
fn set_offsets_in(eval_time: i64, n: &Node, path: &mut Vec<(i64, Option<i64>)>, table: &mut [i64]) {
    let offset_for = |orig: i64, at: Option<i64>, path: &[(i64, Option<i64>)]| -> i64 {
        let Some(t) = at else {
            return orig;
        };
        let (mut sq_offset, mut sq_at) = (0i64, None);
        for (o, a) in path {
            sq_offset = sq_offset.saturating_add(*o);
            if let Some(ts) = a {
                sq_offset = *o;
                sq_at = Some(*ts);
            }
        }
        if let Some(ts) = sq_at {
            sq_offset = sq_offset.saturating_add(eval_time.saturating_sub(ts));
        }
        orig.saturating_add(eval_time.saturating_sub(t))
            .saturating_sub(sq_offset)
    };
    match n {
        Node::VectorSelector(s) | Node::MatrixSelector { sel: s, .. } => {
            if let Some(slot) = table.get_mut(s.oid) {
                *slot = offset_for(s.offset, s.at, path);
            }
        }
        Node::Subquery {
            expr,
            offset,
            at,
            oid,
            ..
        } => {
            if let Some(slot) = table.get_mut(*oid) {
                *slot = offset_for(*offset, *at, path);
            }
            path.push((*offset, *at));
            set_offsets_in(eval_time, expr, path, table);
            path.pop();
        }
        Node::Neg { expr, .. } | Node::StepInvariant(expr) => {
            set_offsets_in(eval_time, expr, path, table);
        }
        Node::Binary { lhs, rhs, .. } => {
            set_offsets_in(eval_time, lhs, path, table);
            set_offsets_in(eval_time, rhs, path, table);
        }
        Node::Aggregate { expr, param, .. } => {
            if let Some(p) = param {
                set_offsets_in(eval_time, p, path, table);
            }
            set_offsets_in(eval_time, expr, path, table);
        }
        Node::Call { args, .. } => {
            for a in args {
                set_offsets_in(eval_time, a, path, table);
            }
        }
        Node::Number { .. } | Node::String { .. } => {}
    }
}

/// Evaluates nodes over a fixed set of steps.
pub(crate) struct Evaluator<'c, 'q> {
    pub ctx: &'c Ctx<'q>,
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    pub current_samples: usize,
}

/// The evaluation times of an evaluator, without overflow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    next: Option<i64>,
    end: i64,
    interval: i64,
}

impl Steps {
    /// Skips the steps before `t`.
    pub fn skip_to(&mut self, t: i64) {
        if let Some(next) = self.next {
            if next < t {
                let n = (i128::from(t) - i128::from(next) + i128::from(self.interval) - 1)
                    / i128::from(self.interval);
                let to = i128::from(next) + n * i128::from(self.interval);
                self.next = i64::try_from(to).ok();
            }
        }
    }
}

impl Iterator for Steps {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let t = self.next.filter(|t| *t <= self.end)?;
        self.next = t.checked_add(self.interval);
        Some(t)
    }
}

/// The per-step input of a [`Evaluator::range_eval`] callback.
pub(crate) struct Step<'a> {
    /// The evaluation time.
    pub ts: i64,
    /// One vector per operand (empty for string operands).
    pub vectors: &'a [Vector],
    /// With vector matching: the signature ordinal of each sample of each
    /// operand.
    pub sigs: &'a [Vec<usize>],
    /// Number of distinct signatures.
    pub num_sigs: usize,
}

impl<'c, 'q> Evaluator<'c, 'q> {
    /// A fresh evaluator over other steps, sharing the query state.
    pub fn child(&self, start: i64, end: i64, interval: i64) -> Evaluator<'c, 'q> {
        Evaluator {
            ctx: self.ctx,
            start,
            end,
            interval,
            current_samples: self.current_samples,
        }
    }

    /// Number of evaluation steps.
    pub fn num_steps(&self) -> usize {
        if self.interval <= 0 || self.end < self.start {
            return 1;
        }
        let n = (i128::from(self.end) - i128::from(self.start)) / i128::from(self.interval) + 1;
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// The evaluation steps.
    pub fn steps(&self) -> Steps {
        Steps {
            next: Some(self.start),
            end: self.end,
            interval: self.interval.max(1),
        }
    }

    /// The index of step `ts`.
    pub fn step_index(&self, ts: i64) -> usize {
        let i = (i128::from(ts) - i128::from(self.start)) / i128::from(self.interval.max(1));
        usize::try_from(i).unwrap_or(usize::MAX)
    }

    /// Fails when the sample budget is exceeded.
    pub fn check_samples(&self) -> Result<(), QueryError> {
        if self.current_samples > self.ctx.max_samples {
            return Err(QueryError::TooManySamples(ENV.to_string()));
        }
        Ok(())
    }

    /// Adds `n` samples to the budget and checks it.
    pub fn add_samples(&mut self, n: usize) -> Result<(), QueryError> {
        self.current_samples += n;
        self.check_samples()
    }

    /// Evaluates a node to a matrix (strings give an empty one).
    pub fn eval_matrix(&mut self, n: &Node) -> Result<Matrix, QueryError> {
        Ok(self.eval(n)?.into_matrix())
    }

    /// Evaluates a node.
    pub fn eval(&mut self, n: &Node) -> Result<Value, QueryError> {
        self.ctx.check_done(EVAL_ENV)?;
        if self.end < self.start {
            return Ok(Value::Matrix(Vec::new()));
        }
        match n {
            Node::Number { value, .. } => {
                let v = *value;
                let m = self.range_eval(None, &[], &mut |_, out| {
                    out.push(Sample::float(Labels::empty(), v));
                    Ok(())
                })?;
                Ok(Value::Matrix(m))
            }
            Node::String { value, .. } => Ok(Value::String(value.clone())),
            Node::VectorSelector(sel) => {
                let m = if sel.smoothed {
                    self.smooth_series(sel)?
                } else {
                    self.eval_series(sel)?
                };
                Ok(Value::Matrix(m))
            }
            Node::MatrixSelector { sel, range, .. } => {
                if self.start != self.end {
                    return Err(QueryError::Evaluation(
                        "cannot do range evaluation of matrix selector".into(),
                    ));
                }
                Ok(Value::Matrix(self.matrix_selector(sel, *range)?))
            }
            Node::Subquery { .. } => {
                let (m, _) = self.run_subquery(n)?;
                Ok(Value::Matrix(m))
            }
            Node::Neg { expr, .. } => {
                let mut m = self.eval_matrix(expr)?;
                for s in &mut m {
                    if !self.ctx.delayed_name_removal {
                        s.labels = drop_metadata_labels(&s.labels);
                    }
                    s.drop_name = true;
                    for p in &mut s.floats {
                        p.f = -p.f;
                    }
                    for p in &mut s.hists {
                        let mut h = (*p.h).clone();
                        super::histogram::scale(&mut h, -1.0);
                        p.h = std::sync::Arc::new(h);
                    }
                }
                if !self.ctx.delayed_name_removal {
                    m = merge_same_labelsets(m)?;
                }
                Ok(Value::Matrix(m))
            }
            Node::Binary { .. } => Ok(Value::Matrix(self.eval_binary(n)?)),
            Node::Aggregate { .. } => Ok(Value::Matrix(self.eval_aggregate(n)?)),
            Node::Call { .. } => Ok(Value::Matrix(self.eval_call(n)?)),
            Node::StepInvariant(inner) => self.eval_step_invariant(inner),
        }
    }

    fn eval_step_invariant(&mut self, inner: &Node) -> Result<Value, QueryError> {
        let mut child = self.child(self.start, self.start, self.interval);
        let res = child.eval(inner)?;
        self.current_samples = child.current_samples;
        if matches!(
            inner.unwrapped(),
            Node::MatrixSelector { .. } | Node::Subquery { .. }
        ) {
            return Ok(res);
        }
        let mut m = match res {
            Value::Matrix(m) => m,
            other => return Ok(other),
        };
        let steps = self.steps().skip(1);
        for s in &mut m {
            if let Some(p) = s.floats.first().copied() {
                for ts in steps.clone() {
                    s.floats.push(FPoint { t: ts, f: p.f });
                    self.add_samples(1)?;
                }
            } else if let Some(p) = s.hists.first().cloned() {
                for ts in steps.clone() {
                    s.hists.push(super::types::HPoint {
                        t: ts,
                        h: p.h.clone(),
                    });
                    self.add_samples(1)?;
                }
            }
        }
        Ok(Value::Matrix(m))
    }

    /// Prometheus' `rangeEval`: evaluates `args`, then calls `f` at every
    /// step with the operands' vectors at that step and collects what it
    /// returns into series. With `matching`, samples carry the ordinal of
    /// their matching signature.
    pub fn range_eval(
        &mut self,
        matching: Option<&VectorMatching>,
        args: &[&Node],
        f: &mut dyn FnMut(&Step<'_>, &mut Vector) -> Result<(), QueryError>,
    ) -> Result<Matrix, QueryError> {
        let original_samples = self.current_samples;
        let mut matrices: Vec<Matrix> = Vec::with_capacity(args.len());
        for a in args {
            if a.value_type() == ValueType::String {
                matrices.push(Vec::new());
                continue;
            }
            matrices.push(self.eval_matrix(a)?);
        }
        let num_steps = self.num_steps();
        // Signature ordinals per input series.
        let mut series_sigs: Vec<Vec<usize>> = Vec::new();
        let mut num_sigs = 0;
        if let Some(m) = matching {
            let mut names = m.labels.clone();
            if !m.on {
                names.push(METRIC_NAME.to_string());
            }
            names.sort();
            let mut ordinals: FastMap<String, usize> = FastMap::default();
            for mat in &matrices {
                let mut v = Vec::with_capacity(mat.len());
                for s in mat {
                    let sig = signature(&s.labels, m.on, &names);
                    let next = ordinals.len();
                    v.push(*ordinals.entry(sig).or_insert(next));
                }
                series_sigs.push(v);
            }
            num_sigs = ordinals.len();
        }
        let mut cursors: Vec<Vec<(usize, usize)>> =
            matrices.iter().map(|m| vec![(0, 0); m.len()]).collect();
        let mut vectors: Vec<Vector> = matrices
            .iter()
            .map(|m| Vec::with_capacity(m.len()))
            .collect();
        let mut sigs: Vec<Vec<usize>> = vec![Vec::new(); matrices.len()];
        let mut out: Vector = Vec::new();
        let mut temp_samples = self.current_samples;
        let mut index: FastMap<Labels, usize> = FastMap::default();
        let mut result: Matrix = Vec::new();
        let mut last_ts: Vec<i64> = Vec::new();
        let mut slots: Vec<usize> = Vec::new();
        for ts in self.steps() {
            self.ctx.check_done(EVAL_ENV)?;
            self.current_samples = temp_samples;
            for (i, mat) in matrices.iter().enumerate() {
                vectors[i].clear();
                sigs[i].clear();
                for (si, s) in mat.iter().enumerate() {
                    let cur = &mut cursors[i][si];
                    let sample = if let Some(p) = s.floats.get(cur.0).filter(|p| p.t == ts) {
                        cur.0 += 1;
                        Sample {
                            labels: s.labels.clone(),
                            t: ts,
                            f: p.f,
                            h: None,
                            drop_name: s.drop_name,
                        }
                    } else if let Some(p) = s.hists.get(cur.1).filter(|p| p.t == ts) {
                        cur.1 += 1;
                        Sample {
                            labels: s.labels.clone(),
                            t: ts,
                            f: 0.0,
                            h: Some(p.h.clone()),
                            drop_name: s.drop_name,
                        }
                    } else {
                        continue;
                    };
                    vectors[i].push(sample);
                    if matching.is_some() {
                        sigs[i].push(series_sigs[i][si]);
                    }
                    self.add_samples(1)?;
                }
            }
            out.clear();
            let step = Step {
                ts,
                vectors: &vectors,
                sigs: &sigs,
                num_sigs,
            };
            f(&step, &mut out)?;
            self.current_samples += out.len();
            temp_samples += out.len();
            self.check_samples()?;
            if self.start == self.end {
                if !self.ctx.delayed_name_removal && contains_same_labelset(&out) {
                    return Err(duplicate_labelset());
                }
                let m: Matrix = out
                    .drain(..)
                    .map(|s| {
                        let mut ser = Series::new(s.labels, s.drop_name);
                        ser.push(ts, s.f, s.h);
                        ser
                    })
                    .collect();
                self.current_samples = original_samples + total_samples(&m);
                return Ok(m);
            }
            // Outputs usually come in the same order at every step: try
            // the series the same position went to at the previous step
            // before hashing the labels.
            for (k, s) in out.drain(..).enumerate() {
                let known = slots
                    .get(k)
                    .copied()
                    .filter(|&i| result[i].labels == s.labels)
                    .or_else(|| index.get(&s.labels).copied());
                let i = match known {
                    Some(i) => {
                        if last_ts[i] == ts {
                            return Err(duplicate_labelset());
                        }
                        last_ts[i] = ts;
                        result[i].push(ts, s.f, s.h);
                        i
                    }
                    None => {
                        let i = result.len();
                        index.insert(s.labels.clone(), i);
                        let mut ser = Series::new(s.labels, s.drop_name);
                        ser.floats.reserve(num_steps.min(MAX_PREALLOC));
                        ser.push(ts, s.f, s.h);
                        result.push(ser);
                        last_ts.push(ts);
                        i
                    }
                };
                match slots.get_mut(k) {
                    Some(slot) => *slot = i,
                    None => slots.push(i),
                }
            }
        }
        self.current_samples = original_samples + total_samples(&result);
        Ok(result)
    }

    /// Evaluates a scalar-typed node to one value per step.
    pub fn eval_scalar_steps(&mut self, n: &Node) -> Result<Vec<f64>, QueryError> {
        let m = self.eval_matrix(n)?;
        let mut vals = Vec::new();
        if let Some(s) = m.first() {
            let n = s.floats.last().map_or(0, |p| self.step_index(p.t) + 1);
            vals = vec![0.0; n.min(self.num_steps())];
            for p in &s.floats {
                if let Some(v) = vals.get_mut(self.step_index(p.t)) {
                    *v = p.f;
                }
            }
        }
        Ok(vals)
    }

    /// Prometheus' `runSubquery`: evaluates the subquery's expression over
    /// its own steps, aligned to multiples of its step. Returns the result
    /// and the offset (ms, including `@`) to apply to it.
    pub fn run_subquery(&mut self, n: &Node) -> Result<(Matrix, i64), QueryError> {
        let Node::Subquery {
            expr,
            range,
            step,
            offset,
            at,
            oid,
            ..
        } = n
        else {
            return Ok((Vec::new(), 0));
        };
        let eff_offset = self.offset_of(*oid);
        let interval = if *step != 0 {
            *step
        } else {
            self.ctx.default_subquery_step
        }
        .max(1);
        let parent_end = if self.interval > 0 {
            let n = self.num_steps().saturating_sub(1) as i64;
            self.start
                .saturating_add(n.saturating_mul(self.interval))
                .min(self.end)
        } else {
            self.end
        };
        let end = parent_end.saturating_sub(eff_offset);
        let base = self.start.saturating_sub(eff_offset).saturating_sub(*range);
        // The first multiple of the step after `base`.
        let mut start = interval.saturating_mul(base.div_euclid(interval));
        if start <= base {
            start = start.saturating_add(interval);
        }
        if start != self.start {
            // The `@` offsets inside are relative to the subquery's start.
            self.ctx.set_offsets(start, expr);
        }
        let mut child = self.child(start, end, interval);
        let m = child.eval_matrix(expr)?;
        self.current_samples = child.current_samples;
        Ok((m, self.effective_offset(*offset, *at)))
    }

    /// The offset selector or subquery `oid` is evaluated with.
    pub fn offset_of(&self, oid: usize) -> i64 {
        self.ctx.offsets.borrow().get(oid).copied().unwrap_or(0)
    }

    /// An offset with `@` turned into an offset relative to this
    /// evaluator's start (as Prometheus computes a subquery result's window
    /// offset).
    pub fn effective_offset(&self, offset: i64, at: Option<i64>) -> i64 {
        match at {
            Some(t) => offset.saturating_add(self.start.saturating_sub(t)),
            None => offset,
        }
    }

    /// The series selected for `sel`.
    pub fn selected(&self, sel: &Selector) -> &'c [Box<dyn StorageSeries + 'q>] {
        self.ctx
            .series
            .get(sel.id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// `label=value` pairs that identify a series for vector matching.
pub(crate) fn signature(labels: &Labels, on: bool, sorted_names: &[String]) -> String {
    let mut s = String::new();
    for l in labels.iter() {
        let listed = sorted_names
            .binary_search_by(|n| n.as_str().cmp(l.name))
            .is_ok();
        if listed == on {
            s.push_str(l.name);
            s.push('\u{ff}');
            s.push_str(l.value);
            s.push('\u{ff}');
        }
    }
    s
}

/// The error for two series with the same labels at one step.
pub(crate) fn duplicate_labelset() -> QueryError {
    QueryError::Evaluation("vector cannot contain metrics with the same labelset".into())
}

/// Whether two samples have the same labels.
pub(crate) fn contains_same_labelset(v: &Vector) -> bool {
    if v.len() <= 1 {
        return false;
    }
    let mut seen = FastSet::default();
    seen.reserve(v.len());
    v.iter().any(|s| !seen.insert(&s.labels))
}

/// The labels without `__name__`, `__type__` and `__unit__`.
pub(crate) fn drop_metadata_labels(l: &Labels) -> Labels {
    l.retain(|n| !is_metadata_label(n))
}

/// `__name__`, `__type__`, `__unit__`.
pub(crate) fn is_metadata_label(n: &str) -> bool {
    n == METRIC_NAME || n == "__type__" || n == "__unit__"
}

/// Prometheus' `mergeSeriesWithSameLabelset`: series that ended up with the
/// same labels are merged when their points do not overlap.
pub(crate) fn merge_same_labelsets(m: Matrix) -> Result<Matrix, QueryError> {
    if m.len() <= 1 {
        return Ok(m);
    }
    let mut index: FastMap<Labels, usize> = FastMap::default();
    index.reserve(m.len());
    let mut dup = false;
    for s in &m {
        if index.insert(s.labels.clone(), 0).is_some() {
            dup = true;
            break;
        }
    }
    if !dup {
        return Ok(m);
    }
    index.clear();
    let mut out: Matrix = Vec::with_capacity(m.len());
    let mut merged = vec![false; 0];
    for s in m {
        match index.get(&s.labels) {
            Some(&i) => {
                out[i].floats.extend(s.floats);
                out[i].hists.extend(s.hists);
                merged[i] = true;
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
                merged.push(false);
            }
        }
    }
    for (s, m) in out.iter_mut().zip(merged) {
        if !m {
            continue;
        }
        s.floats.sort_by_key(|p| p.t);
        s.hists.sort_by_key(|p| p.t);
        if s.floats.windows(2).any(|w| w[0].t == w[1].t)
            || s.hists.windows(2).any(|w| w[0].t == w[1].t)
        {
            return Err(duplicate_labelset());
        }
    }
    Ok(out)
}

/// Whether an operator changes what the metric measures (arithmetic).
pub(crate) fn changes_metric_schema(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Pow
            | BinaryOp::Mod
            | BinaryOp::Atan2
    )
}

/// The metric name of a label set, or "".
pub(crate) fn metric_name(l: &Labels) -> &str {
    l.metric_name().unwrap_or("")
}
