//! Binary operators: arithmetic, comparisons (filtering or `bool`), set
//! operators, and vector matching with `on`/`ignoring`,
//! `group_left`/`group_right` and `fill` values.

use ember_model::{Labels, METRIC_NAME};

use super::annotations;
use super::engine::{changes_metric_schema, is_metadata_label, Ctx, Evaluator, Step};
use super::hash::{FastMap, FastSet};
use super::math::go_pow;
use super::plan::Node;
use super::types::{Hist, Matrix, Sample, Vector};
use super::QueryError;
use crate::{BinaryOp, PosRange, ValueType, VectorMatchCardinality, VectorMatching};

/// The result of an operator on two values.
struct ElemResult {
    f: f64,
    h: Option<Hist>,
    keep: bool,
}

/// Prometheus' `scalarBinop`.
fn scalar_binop(op: BinaryOp, l: f64, r: f64) -> f64 {
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
        BinaryOp::Div => l / r,
        BinaryOp::Pow => go_pow(l, r),
        BinaryOp::Mod => l % r,
        BinaryOp::Eql => b(l == r),
        BinaryOp::Neq => b(l != r),
        BinaryOp::Gtr => b(l > r),
        BinaryOp::Lss => b(l < r),
        BinaryOp::Gte => b(l >= r),
        BinaryOp::Lte => b(l <= r),
        BinaryOp::Atan2 => l.atan2(r),
        _ => f64::NAN,
    }
}

/// Prometheus' `vectorElemBinop` for floats; operations involving native
/// histograms give no result (with Prometheus' info where the types are
/// incompatible).
fn elem_binop(
    op: BinaryOp,
    l: f64,
    r: f64,
    hl: Option<&Hist>,
    hr: Option<&Hist>,
    pos: PosRange,
) -> Result<ElemResult, annotations::Annotation> {
    let keep = |f: f64, keep: bool| Ok(ElemResult { f, h: None, keep });
    let type_of = |h: Option<&Hist>| if h.is_some() { "histogram" } else { "float" };
    match (hl, hr) {
        (None, None) => match op {
            BinaryOp::Add => keep(l + r, true),
            BinaryOp::Sub => keep(l - r, true),
            BinaryOp::Mul => keep(l * r, true),
            BinaryOp::Div => keep(l / r, true),
            BinaryOp::Pow => keep(go_pow(l, r), true),
            BinaryOp::Mod => keep(l % r, true),
            BinaryOp::Eql => keep(l, l == r),
            BinaryOp::Neq => keep(l, l != r),
            BinaryOp::Gtr => keep(l, l > r),
            BinaryOp::Lss => keep(l, l < r),
            BinaryOp::Gte => keep(l, l >= r),
            BinaryOp::Lte => keep(l, l <= r),
            BinaryOp::Atan2 => keep(l.atan2(r), true),
            _ => Err(annotations::incompatible_types_in_binop(
                "float",
                op.as_str(),
                "float",
                pos,
            )),
        },
        _ => {
            // Histogram arithmetic is not implemented; the operations
            // Prometheus rejects are reported as it reports them.
            let supported = match (hl.is_some(), hr.is_some()) {
                (false, true) => op == BinaryOp::Mul,
                (true, false) => matches!(
                    op,
                    BinaryOp::Mul | BinaryOp::Div | BinaryOp::TrimUpper | BinaryOp::TrimLower
                ),
                _ => matches!(
                    op,
                    BinaryOp::Add | BinaryOp::Sub | BinaryOp::Eql | BinaryOp::Neq
                ),
            };
            if supported {
                keep(0.0, false)
            } else {
                Err(annotations::incompatible_types_in_binop(
                    type_of(hl),
                    op.as_str(),
                    type_of(hr),
                    pos,
                ))
            }
        }
    }
}

/// Labels matched on: with `on`, only the listed ones; otherwise all but
/// the listed ones and the metric name.
fn match_labels(l: &Labels, on: bool, names: &[String]) -> Labels {
    l.retain(|n| {
        let listed = names.iter().any(|x| x == n);
        listed == on && (on || n != METRIC_NAME)
    })
}

/// Prometheus' `resultMetric`.
fn result_metric(
    lhs: &Labels,
    rhs: &Labels,
    op: BinaryOp,
    m: &VectorMatching,
    drop_name: bool,
) -> Labels {
    let mut b = lhs.to_builder();
    if drop_name || changes_metric_schema(op) {
        b.retain(|n| !is_metadata_label(n));
    }
    if m.card == VectorMatchCardinality::OneToOne {
        if m.on {
            b.retain(|n| m.labels.iter().any(|x| x == n));
        } else {
            b.retain(|n| !m.labels.iter().any(|x| x == n));
        }
    }
    for ln in &m.include {
        match rhs.get(ln) {
            Some(v) => {
                b.set(ln.as_str(), v);
            }
            None => {
                b.del(ln);
            }
        }
    }
    b.build().unwrap_or_default()
}

/// Which signatures matched at this step.
#[derive(Default)]
struct MatchState {
    /// One-to-one: whether the signature matched.
    present: Vec<bool>,
    /// Otherwise: the result labels produced per signature.
    sigs: Vec<FastSet<Labels>>,
    /// The last incompatible-types info.
    last_err: Option<annotations::Annotation>,
}

/// Vector-vector operation state kept across steps.
#[derive(Default)]
struct BinopCache {
    metrics: FastMap<(Labels, Labels), Labels>,
    matched: MatchState,
}

/// One binary operation node.
#[derive(Clone, Copy)]
struct Binop<'a, 'q> {
    ctx: &'a Ctx<'q>,
    op: BinaryOp,
    return_bool: bool,
    /// The whole expression's position.
    pos: PosRange,
}

/// Prometheus' `VectorBinop`: vector-vector arithmetic and comparisons.
fn vector_binop(
    b: Binop<'_, '_>,
    m: &VectorMatching,
    step: &Step<'_>,
    cache: &mut BinopCache,
    out: &mut Vector,
) -> Result<(), QueryError> {
    let Binop {
        ctx,
        op,
        return_bool,
        pos,
    } = b;
    let (mut lhs, mut rhs) = (&step.vectors[0], &step.vectors[1]);
    let (mut lsig, mut rsig) = (&step.sigs[0], &step.sigs[1]);
    let fill = m.fill;
    if (lhs.is_empty() && rhs.is_empty())
        || ((lhs.is_empty() || rhs.is_empty()) && fill.lhs.is_none() && fill.rhs.is_none())
    {
        return Ok(());
    }
    let swapped = m.card == VectorMatchCardinality::OneToMany;
    if swapped {
        std::mem::swap(&mut lhs, &mut rhs);
        std::mem::swap(&mut lsig, &mut rsig);
    }
    let mut right: Vec<Option<usize>> = vec![None; step.num_sigs];
    for (i, rs) in rhs.iter().enumerate() {
        let sig = rsig[i];
        if let Some(j) = right[sig] {
            let one_side = if swapped { "left" } else { "right" };
            let matched = match_labels(&rs.labels, m.on, &m.labels);
            let (mut a, mut b) = (rs.labels.to_string(), rhs[j].labels.to_string());
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            return Err(QueryError::Evaluation(format!(
                "found duplicate series for the match group {matched} on the {one_side} hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
        right[sig] = Some(i);
    }
    let one_to_one = m.card == VectorMatchCardinality::OneToOne;
    // The match state is reused from step to step.
    let mut st = std::mem::take(&mut cache.matched);
    st.last_err = None;
    if one_to_one {
        st.present.clear();
        st.present.resize(step.num_sigs, false);
    } else {
        st.sigs.resize_with(step.num_sigs, FastSet::default);
        st.sigs.iter_mut().for_each(FastSet::clear);
    }
    let mut do_op = |ls: &Sample,
                     rs: &Sample,
                     sig: usize,
                     st: &mut MatchState,
                     out: &mut Vector|
     -> Result<(), QueryError> {
        let (mut fl, mut fr) = (ls.f, rs.f);
        let (mut hl, mut hr) = (ls.h.as_ref(), rs.h.as_ref());
        if swapped {
            std::mem::swap(&mut fl, &mut fr);
            std::mem::swap(&mut hl, &mut hr);
        }
        let mut r = match elem_binop(op, fl, fr, hl, hr, pos) {
            Ok(r) => r,
            Err(a) => {
                st.last_err = Some(a);
                return Ok(());
            }
        };
        if return_bool {
            r.h = None;
            r.f = if r.keep { 1.0 } else { 0.0 };
        }
        let drop_name = !ctx.delayed_name_removal && return_bool;
        let key = (ls.labels.clone(), rs.labels.clone());
        let metric = match cache.metrics.get(&key) {
            Some(l) => l.clone(),
            None => {
                let l = result_metric(&ls.labels, &rs.labels, op, m, drop_name);
                cache.metrics.insert(key, l.clone());
                l
            }
        };
        if one_to_one {
            if st.present[sig] {
                return Err(QueryError::Evaluation(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
            st.present[sig] = true;
        } else if !st.sigs[sig].insert(metric.clone()) {
            return Err(QueryError::Evaluation(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        if !r.keep && !return_bool {
            return Ok(());
        }
        out.push(Sample {
            labels: metric,
            t: step.ts,
            f: r.f,
            h: r.h,
            drop_name: return_bool,
        });
        Ok(())
    };
    for (i, ls) in lhs.iter().enumerate() {
        let sig = lsig[i];
        let filled;
        let rs = match right[sig] {
            Some(j) => &rhs[j],
            None => {
                let Some(v) = fill.rhs else { continue };
                filled = Sample::float(match_labels(&ls.labels, m.on, &m.labels), v);
                &filled
            }
        };
        do_op(ls, rs, sig, &mut st, out)?;
    }
    if let Some(v) = fill.lhs {
        for (i, rs) in rhs.iter().enumerate() {
            let sig = rsig[i];
            let done = if one_to_one {
                st.present[sig]
            } else {
                !st.sigs[sig].is_empty()
            };
            if done {
                continue;
            }
            let ls = Sample::float(match_labels(&rs.labels, m.on, &m.labels), v);
            do_op(&ls, rs, sig, &mut st, out)?;
        }
    }
    if let Some(a) = st.last_err.take() {
        ctx.annotate(a);
    }
    cache.matched = st;
    Ok(())
}

/// Prometheus' `VectorscalarBinop`; `swap` when the scalar is on the left.
fn vector_scalar_binop(b: Binop<'_, '_>, v: &Vector, scalar: f64, swap: bool, out: &mut Vector) {
    let Binop {
        ctx,
        op,
        return_bool,
        pos,
    } = b;
    let mut last_err = None;
    for s in v {
        let (mut lf, mut rf) = (s.f, scalar);
        let (mut lh, mut rh) = (s.h.as_ref(), None);
        if swap {
            std::mem::swap(&mut lf, &mut rf);
            std::mem::swap(&mut lh, &mut rh);
        }
        let mut r = match elem_binop(op, lf, rf, lh, rh, pos) {
            Ok(r) => r,
            Err(a) => {
                last_err = Some(a);
                continue;
            }
        };
        if op.is_comparison() && swap {
            r.f = rf;
            r.h = rh.cloned();
        }
        if return_bool {
            r.f = if r.keep { 1.0 } else { 0.0 };
            r.keep = true;
        }
        if !r.keep {
            continue;
        }
        let mut o = Sample {
            labels: s.labels.clone(),
            t: s.t,
            f: r.f,
            h: r.h,
            drop_name: s.drop_name,
        };
        if changes_metric_schema(op) || return_bool {
            if !ctx.delayed_name_removal {
                o.labels = super::engine::drop_metadata_labels(&o.labels);
            }
            o.drop_name = true;
        }
        out.push(o);
    }
    if let Some(a) = last_err {
        ctx.annotate(a);
    }
}

impl Evaluator<'_, '_> {
    /// Evaluates a binary operation.
    pub fn eval_binary(&mut self, n: &Node) -> Result<Matrix, QueryError> {
        let Node::Binary {
            op,
            lhs,
            rhs,
            return_bool,
            matching,
            pos,
        } = n
        else {
            return Ok(Vec::new());
        };
        let (op, return_bool, pos) = (*op, *return_bool, *pos);
        let b = Binop {
            ctx: self.ctx,
            op,
            return_bool,
            pos,
        };
        let args: [&Node; 2] = [lhs, rhs];
        match (lhs.value_type(), rhs.value_type()) {
            (ValueType::Scalar, ValueType::Scalar) => {
                self.range_eval(None, &args, &mut |step, out| {
                    let l = step.vectors[0].first().map_or(0.0, |s| s.f);
                    let r = step.vectors[1].first().map_or(0.0, |s| s.f);
                    out.push(Sample::float(Labels::empty(), scalar_binop(op, l, r)));
                    Ok(())
                })
            }
            (ValueType::Vector, ValueType::Vector) => {
                let default = VectorMatching::one_to_one();
                let m = matching.as_ref().unwrap_or(&default);
                match op {
                    BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => {
                        self.range_eval(Some(m), &args, &mut |step, out| {
                            set_op(op, step, out);
                            Ok(())
                        })
                    }
                    _ => {
                        let mut cache = BinopCache::default();
                        self.range_eval(Some(m), &args, &mut |step, out| {
                            vector_binop(b, m, step, &mut cache, out)
                        })
                    }
                }
            }
            (ValueType::Vector, _) => self.range_eval(None, &args, &mut |step, out| {
                let s = step.vectors[1].first().map_or(0.0, |s| s.f);
                vector_scalar_binop(b, &step.vectors[0], s, false, out);
                Ok(())
            }),
            _ => self.range_eval(None, &args, &mut |step, out| {
                let s = step.vectors[0].first().map_or(0.0, |s| s.f);
                vector_scalar_binop(b, &step.vectors[1], s, true, out);
                Ok(())
            }),
        }
    }
}

/// `and`, `or`, `unless`.
fn set_op(op: BinaryOp, step: &Step<'_>, out: &mut Vector) {
    let (lhs, rhs) = (&step.vectors[0], &step.vectors[1]);
    let (lsig, rsig) = (&step.sigs[0], &step.sigs[1]);
    match op {
        BinaryOp::And => {
            if lhs.is_empty() || rhs.is_empty() {
                return;
            }
            let mut present = vec![false; step.num_sigs];
            for &s in rsig {
                present[s] = true;
            }
            out.extend(
                lhs.iter()
                    .zip(lsig)
                    .filter(|(_, s)| present[**s])
                    .map(|(x, _)| x.clone()),
            );
        }
        BinaryOp::Or => {
            let mut present = vec![false; step.num_sigs];
            for (x, &s) in lhs.iter().zip(lsig) {
                present[s] = true;
                out.push(x.clone());
            }
            out.extend(
                rhs.iter()
                    .zip(rsig)
                    .filter(|(_, s)| !present[**s])
                    .map(|(x, _)| x.clone()),
            );
        }
        _ => {
            if lhs.is_empty() || rhs.is_empty() {
                out.extend(lhs.iter().cloned());
                return;
            }
            let mut present = vec![false; step.num_sigs];
            for &s in rsig {
                present[s] = true;
            }
            out.extend(
                lhs.iter()
                    .zip(lsig)
                    .filter(|(_, s)| !present[**s])
                    .map(|(x, _)| x.clone()),
            );
        }
    }
}
