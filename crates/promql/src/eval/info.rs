//! The experimental `info()` function: enriches series with the data
//! labels of info metrics (`target_info` by default) that share their
//! identifying labels (`instance`, `job`).

use std::collections::{HashMap, HashSet};

use ember_model::{Labels, MatchOp, Matcher, METRIC_NAME};
use ember_storage::{SelectHints, Series as StorageSeries};

use super::engine::{duplicate_labelset, Evaluator, EVAL_ENV};
use super::plan::Node;
use super::selectors::LookbackReader;
use super::types::{Matrix, Sample, Series};
use super::QueryError;

const TARGET_INFO: &str = "target_info";
const IDENTIFYING: [&str; 2] = ["instance", "job"];

fn matcher(op: MatchOp, name: &str, value: &str) -> Result<Matcher, QueryError> {
    Matcher::new(op, name, value).map_err(|e| QueryError::Evaluation(e.to_string()))
}

/// The `__name__` matchers info series are selected with.
fn effective_name_matchers(ms: &[Matcher]) -> Result<Vec<Matcher>, QueryError> {
    if ms
        .iter()
        .any(|m| matches!(m.op(), MatchOp::Equal | MatchOp::Regex))
    {
        return Ok(ms.to_vec());
    }
    if !ms.is_empty() {
        let mut v = vec![matcher(MatchOp::Regex, METRIC_NAME, ".+_info")?];
        v.extend(ms.iter().cloned());
        return Ok(v);
    }
    Ok(vec![Matcher::equal(METRIC_NAME, TARGET_INFO)])
}

/// The `@` time and offset of the first selector in `n` (including those
/// of enclosing subqueries up to the first `@`).
fn at_and_offset(n: &Node) -> Option<(Option<i64>, i64)> {
    fn walk(n: &Node, subqueries: &mut Vec<(Option<i64>, i64)>) -> Option<(Option<i64>, i64)> {
        match n {
            Node::VectorSelector(s) | Node::MatrixSelector { sel: s, .. } => {
                let (mut at, mut offset) = (s.at, s.offset);
                for (sq_at, sq_off) in subqueries.iter().rev() {
                    if at.is_some() {
                        break;
                    }
                    offset += sq_off;
                    at = *sq_at;
                }
                Some((at, offset))
            }
            Node::Subquery {
                expr, offset, at, ..
            } => {
                subqueries.push((*at, *offset));
                let r = walk(expr, subqueries);
                subqueries.pop();
                r
            }
            Node::Neg { expr, .. } | Node::StepInvariant(expr) => walk(expr, subqueries),
            Node::Binary { lhs, rhs, .. } => {
                walk(lhs, subqueries).or_else(|| walk(rhs, subqueries))
            }
            Node::Aggregate { expr, param, .. } => param
                .as_deref()
                .and_then(|p| walk(p, subqueries))
                .or_else(|| walk(expr, subqueries)),
            Node::Call { args, .. } => args.iter().find_map(|a| walk(a, subqueries)),
            Node::Number { .. } | Node::String { .. } => None,
        }
    }
    walk(n, &mut Vec::new())
}

/// The signature joining a series with info metric `name`.
fn info_sig(name: &str, l: &Labels) -> String {
    let mut s = String::from(name);
    for id in IDENTIFYING {
        if let Some(v) = l.get(id) {
            s.push('\u{ff}');
            s.push_str(id);
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

impl Evaluator<'_, '_> {
    /// `info(v [, selector])`.
    pub fn eval_info(&mut self, args: &[Node]) -> Result<Matrix, QueryError> {
        let (at, offset) = at_and_offset(&args[0]).unwrap_or((None, 0));
        let mat = self.eval_matrix(&args[0])?;
        let mut data_matchers: HashMap<String, Vec<Matcher>> = HashMap::new();
        let mut name_matchers: Vec<Matcher> = Vec::new();
        match args.get(1).map(Node::unwrapped) {
            Some(Node::VectorSelector(sel)) => {
                for m in &sel.matchers {
                    data_matchers
                        .entry(m.name().to_string())
                        .or_default()
                        .push(m.clone());
                    if m.name() == METRIC_NAME {
                        name_matchers.push(m.clone());
                    }
                }
            }
            _ => name_matchers.push(Matcher::equal(METRIC_NAME, TARGET_INFO)),
        }
        let effective = effective_name_matchers(&name_matchers)?;
        let ignored: HashSet<Labels> = mat
            .iter()
            .filter(|s| {
                let name = s.labels.metric_name().unwrap_or("");
                effective.iter().all(|m| m.matches(name))
            })
            .map(|s| s.labels.clone())
            .collect();

        // Values of the identifying labels among the series to enrich.
        let mut id_values: Vec<(&str, Vec<String>)> = Vec::new();
        for id in IDENTIFYING {
            let mut vals: Vec<String> = mat
                .iter()
                .filter(|s| !ignored.contains(&s.labels))
                .filter_map(|s| s.labels.get(id).map(str::to_string))
                .collect();
            vals.sort();
            vals.dedup();
            if !vals.is_empty() {
                id_values.push((id, vals));
            }
        }
        let mut name_data: Vec<Matcher> = Vec::new();
        let mut info_matchers: Vec<Matcher> = Vec::new();
        for (id, vals) in &id_values {
            let re = vals
                .iter()
                .map(|v| regex::escape(v))
                .collect::<Vec<_>>()
                .join("|");
            info_matchers.push(matcher(MatchOp::Regex, id, &re)?);
        }
        for ms in data_matchers.values() {
            for m in ms {
                if m.name() == METRIC_NAME {
                    name_data.push(m.clone());
                } else {
                    info_matchers.push(m.clone());
                }
            }
        }
        data_matchers.remove(METRIC_NAME);
        let info_mat = if id_values.is_empty() {
            Vec::new()
        } else {
            info_matchers.extend(effective_name_matchers(&name_data)?);
            self.fetch_info_series(&info_matchers, at, offset)?
        };
        self.combine_info(mat, info_mat, &ignored, &data_matchers)
    }

    /// Selects the info series and evaluates them at every step (as of the
    /// `@` time when set), with the sample's timestamp as value.
    fn fetch_info_series(
        &mut self,
        matchers: &[Matcher],
        at: Option<i64>,
        offset: i64,
    ) -> Result<Matrix, QueryError> {
        let lookback = self.ctx.lookback;
        let (start, end) = match at {
            Some(t) => (t, t),
            None => (self.start, self.end),
        };
        let hints = SelectHints {
            start: start.saturating_sub(lookback - 1).saturating_sub(offset),
            end: end.saturating_sub(offset),
            step: self.interval,
            func: Some("info".to_string()),
            ..SelectHints::default()
        };
        let querier = self.ctx.querier;
        let mut set = querier
            .select(true, Some(&hints), matchers)
            .map_err(|e| QueryError::Storage(e.to_string()))?;
        let mut series: Vec<Box<dyn StorageSeries + '_>> = Vec::new();
        while let Some(s) = set.next() {
            series.push(s.map_err(|e| QueryError::Storage(e.to_string()))?);
        }
        let steps = self.steps();
        let mut out = Vec::new();
        for s in &series {
            self.ctx.check_done(EVAL_ENV)?;
            let mut r = LookbackReader::new(&**s);
            let mut ser = Series::new(s.labels().clone(), false);
            for ts in steps {
                let lookup = at.unwrap_or(ts);
                let Some((t, v, _)) = r.value_at(lookup.saturating_sub(offset), lookback)? else {
                    continue;
                };
                if matches!(v, super::selectors::SampleVal::Hist(_)) {
                    return Err(QueryError::Evaluation(format!(
                        "this should be an info metric, with float samples: {}",
                        s.labels()
                    )));
                }
                self.add_samples(1)?;
                ser.push(ts, t as f64, None);
            }
            if ser.len() > 0 {
                out.push(ser);
            }
        }
        Ok(out)
    }

    fn combine_info(
        &mut self,
        mat: Matrix,
        info: Matrix,
        ignored: &HashSet<Labels>,
        data_matchers: &HashMap<String, Vec<Matcher>>,
    ) -> Result<Matrix, QueryError> {
        let mut info_names: Vec<String> = info
            .iter()
            .map(|s| s.labels.metric_name().unwrap_or("").to_string())
            .collect();
        info_names.sort();
        info_names.dedup();
        let all_match_empty = data_matchers.values().flatten().all(|m| m.matches(""));
        let mut index: HashMap<Labels, (usize, i64)> = HashMap::new();
        let mut result: Matrix = Vec::new();
        let mut base_cur = vec![0usize; mat.len()];
        let mut info_cur = vec![0usize; info.len()];
        for ts in self.steps() {
            self.ctx.check_done(EVAL_ENV)?;
            // Info samples by signature; the newest wins.
            let mut by_sig: HashMap<String, (&Series, i64)> = HashMap::new();
            for (i, s) in info.iter().enumerate() {
                let Some(p) = s.floats.get(info_cur[i]).filter(|p| p.t == ts) else {
                    continue;
                };
                info_cur[i] += 1;
                let orig_t = p.f as i64;
                let sig = info_sig(s.labels.metric_name().unwrap_or(""), &s.labels);
                match by_sig.get(&sig) {
                    Some((existing, et)) if *et == orig_t => {
                        return Err(QueryError::Evaluation(format!(
                            "found duplicate series for info metric: existing {} @ {et}, new {} @ {orig_t}",
                            existing.labels, s.labels
                        )));
                    }
                    Some((_, et)) if *et > orig_t => {}
                    _ => {
                        by_sig.insert(sig, (s, orig_t));
                    }
                }
            }
            let mut out: Vec<Sample> = Vec::new();
            for (i, s) in mat.iter().enumerate() {
                let (f, h) = if let Some(p) = s.floats.get(base_cur[i]).filter(|p| p.t == ts) {
                    base_cur[i] += 1;
                    (p.f, None)
                } else {
                    continue;
                };
                let sample = Sample {
                    labels: s.labels.clone(),
                    t: ts,
                    f,
                    h,
                    drop_name: s.drop_name,
                };
                if ignored.contains(&s.labels) {
                    out.push(sample);
                    continue;
                }
                let mut extra: Vec<(String, String)> = Vec::new();
                let mut seen = 0;
                for name in &info_names {
                    let Some((is, _)) = by_sig.get(&info_sig(name, &s.labels)) else {
                        continue;
                    };
                    for l in is.labels.iter() {
                        if l.name == METRIC_NAME {
                            continue;
                        }
                        if !data_matchers.is_empty() && !data_matchers.contains_key(l.name) {
                            continue;
                        }
                        if let Some((_, v)) = extra.iter().find(|(n, _)| n == l.name) {
                            if v != l.value {
                                return Err(QueryError::Evaluation(format!(
                                    "conflicting label: {}",
                                    l.name
                                )));
                            }
                        }
                        if s.labels.contains(l.name) {
                            continue;
                        }
                        if !extra.iter().any(|(n, _)| n == l.name) {
                            extra.push((l.name.to_string(), l.value.to_string()));
                        }
                    }
                    seen += 1;
                }
                if seen == 0 && !all_match_empty {
                    continue;
                }
                let mut b = s.labels.to_builder();
                for (n, v) in extra {
                    b.set(n, v);
                }
                let labels = b
                    .build()
                    .map_err(|e| QueryError::Evaluation(e.to_string()))?;
                out.push(Sample { labels, ..sample });
            }
            self.add_samples(out.len())?;
            for s in out {
                match index.get_mut(&s.labels) {
                    Some((i, last)) => {
                        if *last == ts {
                            return Err(duplicate_labelset());
                        }
                        *last = ts;
                        result[*i].push(ts, s.f, s.h);
                    }
                    None => {
                        index.insert(s.labels.clone(), (result.len(), ts));
                        let mut ser = Series::new(s.labels, s.drop_name);
                        ser.push(ts, s.f, s.h);
                        result.push(ser);
                    }
                }
            }
        }
        Ok(result)
    }
}
