//! The two extra checks Prometheus' runner does for every instant eval:
//!
//! * `@` invariance: with `@ <eval time>` added to every selector and
//!   subquery that lacks one (not descending into subqueries), the query
//!   must give the expected result at other evaluation times too.
//! * Range mode: run as a range query from one minute before to one minute
//!   after the eval time, the query must give a label-sorted matrix whose
//!   point at the eval time is the expected result.

use std::sync::atomic::Ordering;

use super::compare;
use super::script::{Eval, EvalKind};
use super::{Outcome, Tracking};
use crate::{parse_with, AtModifier, Engine, Expr, QueryValue, ValueType, VectorSample};

/// Functions whose result depends on the evaluation time even when their
/// arguments do not; queries using them get no `@` variants.
const AT_UNSAFE: [&str; 15] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// Sets `@ ts` where Prometheus' runner does; returns whether a
/// time-dependent function was seen.
fn set_at(e: &mut Expr, ts: i64) -> bool {
    let at = Some(AtModifier::Timestamp(ts));
    match e {
        Expr::VectorSelector(v) => {
            if v.at.is_none() {
                v.at = at;
            }
            false
        }
        Expr::MatrixSelector(m) => {
            if m.selector.at.is_none() {
                m.selector.at = at;
            }
            false
        }
        Expr::Subquery(s) => {
            if s.at.is_none() {
                s.at = at;
            }
            false
        }
        Expr::Call(c) => {
            let mut unsafe_fn = AT_UNSAFE.contains(&c.func.name);
            for a in &mut c.args {
                unsafe_fn |= set_at(a, ts);
            }
            unsafe_fn
        }
        Expr::Aggregate(a) => {
            let mut u = set_at(&mut a.expr, ts);
            if let Some(p) = &mut a.param {
                u |= set_at(p, ts);
            }
            u
        }
        Expr::Binary(b) => {
            let l = set_at(&mut b.lhs, ts);
            set_at(&mut b.rhs, ts) || l
        }
        Expr::Paren(p) => set_at(&mut p.expr, ts),
        Expr::Unary(u) => set_at(&mut u.expr, ts),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => false,
    }
}

/// The `@` variants of the eval: (query, evaluation time).
fn at_variants(engine: &Engine, ev: &Eval, t: i64) -> Option<Vec<(String, i64)>> {
    let mut e = parse_with(&ev.expr, &engine.options().parser).ok()?;
    if set_at(&mut e, t) {
        return None;
    }
    let text = e.to_string();
    let times = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    Some(times.into_iter().map(|et| (text.clone(), et)).collect())
}

fn instant_time(ev: &Eval) -> Option<i64> {
    match ev.kind {
        EvalKind::Instant(t) => Some(t),
        EvalKind::Range { .. } => None,
    }
}

/// The `@` invariance check.
pub(super) fn at_invariance(engine: &Engine, view: &Tracking<'_>, ev: &Eval) -> Outcome {
    let Some(t) = instant_time(ev) else {
        return Outcome::Skipped;
    };
    let Some(variants) = at_variants(engine, ev, t) else {
        return Outcome::Skipped;
    };
    for (q, et) in &variants {
        let res = engine.instant_query(view, q, *et);
        if view.touched.load(Ordering::Relaxed) {
            return Outcome::Skipped;
        }
        if let Err(m) = compare::check(ev, res.map_err(|e| e.to_string())) {
            return Outcome::Failed(format!("{q} at {et}ms: {m}"));
        }
    }
    Outcome::Passed
}

/// The range-mode check, for the query and its `@` variants.
pub(super) fn range_mode(engine: &Engine, view: &Tracking<'_>, ev: &Eval) -> Outcome {
    let Some(t) = instant_time(ev) else {
        return Outcome::Skipped;
    };
    if ev.fail.is_some() || ev.range_vector.is_some() || ev.string.is_some() {
        return Outcome::Skipped;
    }
    let mut queries = vec![(ev.expr.clone(), t)];
    queries.extend(at_variants(engine, ev, t).unwrap_or_default());
    let context_funcs = regex::Regex::new(r"(start|end|range|step)\(\)").ok();
    for (q, et) in queries {
        if context_funcs.as_ref().is_some_and(|re| re.is_match(&q)) {
            continue;
        }
        let scalar = parse_with(&q, &engine.options().parser)
            .is_ok_and(|e| e.value_type() == ValueType::Scalar);
        let res = engine.range_query(view, &q, et - 60_000, et + 60_000, 60_000);
        if view.touched.load(Ordering::Relaxed) {
            return Outcome::Skipped;
        }
        let out = match res {
            Ok(o) => o,
            Err(e) => return Outcome::Failed(format!("{q} in range mode: {e}")),
        };
        if ev.ordered {
            continue;
        }
        let QueryValue::Matrix(m) = out.value else {
            return Outcome::Failed(format!("{q} in range mode gave no matrix"));
        };
        if m.windows(2).any(|w| w[0].labels >= w[1].labels) {
            return Outcome::Failed(format!("{q} in range mode: matrix not sorted"));
        }
        let mut vec = Vec::new();
        for s in m {
            if let Some(p) = s.floats.iter().find(|p| p.0 == et) {
                vec.push(VectorSample {
                    labels: s.labels.clone(),
                    t: et,
                    value: crate::PointValue::Float(p.1),
                });
            }
            if let Some(p) = s.histograms.iter().find(|p| p.0 == et) {
                vec.push(VectorSample {
                    labels: s.labels,
                    t: et,
                    value: crate::PointValue::Histogram(p.1.clone()),
                });
            }
        }
        let value = if scalar {
            match vec.first().map(|s| &s.value) {
                Some(crate::PointValue::Float(v)) => QueryValue::Scalar { t: et, v: *v },
                _ => return Outcome::Failed(format!("{q} in range mode: no scalar at {et}")),
            }
        } else {
            QueryValue::Vector(vec)
        };
        if let Err(m) = compare::check_value(ev, &value) {
            return Outcome::Failed(format!("{q} at {et}ms in range mode: {m}"));
        }
    }
    Outcome::Passed
}
