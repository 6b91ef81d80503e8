//! Comparing a query's outcome with an eval's expectations.

use ember_model::FloatHistogram;

use super::histogram::compact_buckets;
use super::script::{
    AnnotationExpect, Eval, EvalKind, Expected, ExpectedSeries, FailExpect, MsgExpect,
};
use crate::{PointValue, QueryOutput, QueryValue, RangeSeries};

const EPSILON: f64 = 1e-6;

/// Prometheus' tolerant float comparison with the scripts' epsilon.
fn almost_equal(a: f64, b: f64) -> bool {
    crate::eval::math::almost_equal(a, b, EPSILON)
}

fn histograms_equal(exp: &FloatHistogram, got: &FloatHistogram) -> bool {
    let hint_ok = exp.counter_reset_hint == ember_model::CounterResetHint::Unknown
        || exp.counter_reset_hint == got.counter_reset_hint;
    let (ep, en) = compact_buckets(exp);
    let (gp, gn) = compact_buckets(got);
    let buckets_eq = |a: &[(i32, f64)], b: &[(i32, f64)]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && almost_equal(x.1, y.1))
    };
    hint_ok
        && exp.schema == got.schema
        && almost_equal(exp.count, got.count)
        && almost_equal(exp.sum, got.sum)
        && (exp.schema != -53 || exp.custom_values == got.custom_values)
        && exp.zero_threshold == got.zero_threshold
        && almost_equal(exp.zero_count, got.zero_count)
        && buckets_eq(&ep, &gp)
        && buckets_eq(&en, &gn)
}

fn matches_msg(m: &MsgExpect, text: &str) -> bool {
    match m {
        MsgExpect::Msg(s) => s == text,
        MsgExpect::Regex(r) => regex::Regex::new(r).is_ok_and(|re| re.is_match(text)),
    }
}

fn check_annotations(kind: &str, exp: &AnnotationExpect, got: &[String]) -> Result<(), String> {
    if exp.none && !got.is_empty() {
        return Err(format!("unexpected {kind} annotations: {got:?}"));
    }
    if exp.any && got.is_empty() {
        return Err(format!("expected {kind} annotations but got none"));
    }
    for m in &exp.msgs {
        if !got.iter().any(|g| matches_msg(m, g)) {
            return Err(format!("expected {kind} annotation {m:?} but got {got:?}"));
        }
    }
    if !exp.msgs.is_empty() {
        for g in got {
            if !exp.msgs.iter().any(|m| matches_msg(m, g)) {
                return Err(format!("unexpected {kind} annotation {g:?}"));
            }
        }
    }
    Ok(())
}

fn fmt_expected(v: &Expected) -> String {
    match v {
        Expected::Float(f) => f.to_string(),
        Expected::Histogram(h) => format!("{h:?}"),
    }
}

/// Checks `result` against the eval's expectations.
pub fn check(ev: &Eval, result: Result<QueryOutput, String>) -> Result<(), String> {
    let out = match (result, &ev.fail) {
        (Err(e), Some(FailExpect::Any)) => {
            let _ = e;
            return Ok(());
        }
        (Err(e), Some(FailExpect::Msg(m))) => {
            return if *m == e {
                Ok(())
            } else {
                Err(format!("expected error {m:?} but got {e:?}"))
            };
        }
        (Err(e), Some(FailExpect::Regex(r))) => {
            return if regex::Regex::new(r).is_ok_and(|re| re.is_match(&e)) {
                Ok(())
            } else {
                Err(format!("expected error matching {r:?} but got {e:?}"))
            };
        }
        (Err(e), None) => return Err(format!("error evaluating query: {e}")),
        (Ok(_), Some(_)) => return Err("expected error evaluating query but got none".into()),
        (Ok(o), None) => o,
    };
    check_annotations("warn", &ev.warn, &out.warnings)?;
    check_annotations("info", &ev.info, &out.infos)?;
    check_value(ev, &out.value)
}

/// Checks a query's value (not its annotations) against the eval's
/// expectations.
pub fn check_value(ev: &Eval, value: &QueryValue) -> Result<(), String> {
    match (&ev.kind, value) {
        (_, QueryValue::String { s, .. }) => match &ev.string {
            Some(want) if want == s => Ok(()),
            Some(want) => Err(format!("expected string {want:?} but got {s:?}")),
            None => Err(format!("unexpected string result {s:?}")),
        },
        (_, _) if ev.string.is_some() => Err(format!("expected string result but got {:?}", value)),
        (_, QueryValue::Scalar { v, .. }) => match ev.scalar {
            Some(want) if almost_equal(want, *v) => Ok(()),
            Some(want) => Err(format!("expected scalar {want} but got {v}")),
            None => Err(format!(
                "expected vector or matrix result, but got scalar {v}"
            )),
        },
        (_, _) if ev.scalar.is_some() => Err(format!(
            "expected scalar result, but got {}",
            type_name(value)
        )),
        (EvalKind::Instant(_), QueryValue::Vector(v)) => {
            if ev.range_vector.is_some() {
                return Err("expected range vector result, but got vector".into());
            }
            check_vector(ev, v)
        }
        (EvalKind::Instant(_), QueryValue::Matrix(m)) => match ev.range_vector {
            Some((start, _, step)) => check_matrix(&ev.series, m, start, step),
            None => Err("received range result on instant evaluation".into()),
        },
        (EvalKind::Range { start, step, .. }, QueryValue::Matrix(m)) => {
            check_matrix(&ev.series, m, *start, *step)
        }
        (EvalKind::Range { .. }, other) => {
            Err(format!("range query returned {}", type_name(other)))
        }
    }
}

fn type_name(v: &QueryValue) -> &'static str {
    match v {
        QueryValue::Scalar { .. } => "scalar",
        QueryValue::String { .. } => "string",
        QueryValue::Vector(_) => "vector",
        QueryValue::Matrix(_) => "matrix",
    }
}

fn check_vector(ev: &Eval, got: &[crate::VectorSample]) -> Result<(), String> {
    let mut seen = vec![false; ev.series.len()];
    for (pos, s) in got.iter().enumerate() {
        let Some(idx) = ev.series.iter().position(|e| e.labels == s.labels) else {
            return Err(format!(
                "unexpected metric {} in result, has value {:?}",
                s.labels, s.value
            ));
        };
        let exp = &ev.series[idx];
        if ev.ordered && idx != pos {
            return Err(format!(
                "expected metric {} at position {} but was at {}",
                s.labels,
                idx + 1,
                pos + 1
            ));
        }
        seen[idx] = true;
        let Some(Some(want)) = exp.values.first() else {
            return Err(format!(
                "expected no value for {} but got {:?}",
                s.labels, s.value
            ));
        };
        match (want, &s.value) {
            (Expected::Float(w), PointValue::Float(g)) => {
                if !almost_equal(*w, *g) {
                    return Err(format!("expected {w} for {} but got {g}", s.labels));
                }
            }
            (Expected::Histogram(w), PointValue::Histogram(g)) => {
                if !histograms_equal(w, g) {
                    return Err(format!(
                        "expected histogram {w:?} for {} but got {g:?}",
                        s.labels
                    ));
                }
            }
            (w, g) => {
                return Err(format!(
                    "expected {} for {} but got {g:?}",
                    fmt_expected(w),
                    s.labels
                ))
            }
        }
    }
    for (i, e) in ev.series.iter().enumerate() {
        if !seen[i] {
            return Err(format!(
                "expected metric {} (line {}) not found",
                e.labels, e.line
            ));
        }
    }
    Ok(())
}

fn check_matrix(
    expected: &[ExpectedSeries],
    got: &[RangeSeries],
    start: i64,
    step: i64,
) -> Result<(), String> {
    for w in got.windows(2) {
        if w[0].labels >= w[1].labels {
            return Err(format!(
                "matrix not sorted by labels: {} before {}",
                w[0].labels, w[1].labels
            ));
        }
    }
    let mut seen = vec![false; expected.len()];
    for s in got {
        let Some(idx) = expected.iter().position(|e| e.labels == s.labels) else {
            return Err(format!("unexpected metric {} in result", s.labels));
        };
        seen[idx] = true;
        let exp = &expected[idx];
        let mut want_f = Vec::new();
        let mut want_h = Vec::new();
        for (i, v) in exp.values.iter().enumerate() {
            let t = start + i as i64 * step;
            match v {
                Some(Expected::Float(f)) => want_f.push((t, *f)),
                Some(Expected::Histogram(h)) => want_h.push((t, h.clone())),
                None => {}
            }
        }
        let floats_ok = want_f.len() == s.floats.len()
            && want_f
                .iter()
                .zip(&s.floats)
                .all(|(w, g)| w.0 == g.0 && almost_equal(w.1, g.1));
        let hists_ok = want_h.len() == s.histograms.len()
            && want_h
                .iter()
                .zip(&s.histograms)
                .all(|(w, g)| w.0 == g.0 && histograms_equal(&w.1, &g.1));
        if !floats_ok || !hists_ok {
            return Err(format!(
                "expected {:?} for {} but got {:?}{}",
                want_f,
                s.labels,
                s.floats,
                if s.histograms.is_empty() {
                    String::new()
                } else {
                    format!(" and {} histograms", s.histograms.len())
                }
            ));
        }
    }
    for (i, e) in expected.iter().enumerate() {
        if !seen[i] {
            return Err(format!(
                "expected metric {} (line {}) not found",
                e.labels, e.line
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance() {
        assert!(almost_equal(1.0, 1.0 + 1e-9));
        assert!(!almost_equal(1.0, 1.001));
        assert!(almost_equal(f64::NAN, f64::NAN));
        assert!(!almost_equal(f64::NAN, ember_model::stale_nan()));
        assert!(!almost_equal(0.0, 1e-300));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY));
    }
}
