//! Function calls: the special forms (`timestamp` of a selector,
//! `label_replace`, `label_join`, `info`), instant-vector functions
//! evaluated step by step, and range-vector functions evaluated per series
//! over a sliding window.

use ember_model::Labels;

use super::annotations;
use super::engine::{
    drop_metadata_labels, merge_same_labelsets, metric_name, Evaluator, Steps, EVAL_ENV,
};
use super::functions;
use super::hash::FastSet;
use super::plan::{Node, Selector};
use super::rate::{self, RangeArg, RangeCall, RangeOut};
use super::selectors::{load_range_st, LookbackReader, CHECK_EVERY};
use super::types::{total_samples, FPoint, HPoint, Matrix, Series};
use super::QueryError;

/// Functions that may take an `anchored` range.
const ANCHORED_SAFE: [&str; 5] = ["changes", "delta", "increase", "rate", "resets"];
/// Functions that may take a `smoothed` range.
const SMOOTHED_SAFE: [&str; 3] = ["delta", "increase", "rate"];

/// Where a range function's samples come from.
enum Source<'a> {
    Storage(&'a Selector),
    Memory(Matrix),
}

impl Evaluator<'_, '_> {
    /// Evaluates a function call.
    pub fn eval_call(&mut self, n: &Node) -> Result<Matrix, QueryError> {
        let Node::Call { func, args, pos } = n else {
            return Ok(Vec::new());
        };
        let name = func.name;
        if name == "timestamp" || name == "start_timestamp" {
            if let Some(Node::VectorSelector(sel)) = args.first() {
                return self.eval_timestamp(sel, name == "start_timestamp");
            }
        }
        let matrix_arg = args
            .iter()
            .position(|a| matches!(a, Node::MatrixSelector { .. } | Node::Subquery { .. }));
        match name {
            "label_replace" => return self.eval_label_replace(args),
            "label_join" => return self.eval_label_join(args),
            "info" => return self.eval_info(args),
            _ => {}
        }
        if matches!(
            name,
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
        ) && self.start != self.end
        {
            self.ctx.annotate(annotations::sort_in_range_query(*pos));
        }
        let Some(idx) = matrix_arg else {
            let ctx = self.ctx;
            let refs: Vec<&Node> = args.iter().collect();
            let mut cache = functions::CallCache::default();
            return self.range_eval(None, &refs, &mut |step, out| {
                functions::call_instant(name, step, args, ctx, &mut cache, out)
            });
        };
        self.eval_range_call(name, args, idx)
    }

    fn eval_range_call(
        &mut self,
        name: &'static str,
        args: &[Node],
        idx: usize,
    ) -> Result<Matrix, QueryError> {
        let lookback = self.ctx.lookback;
        let (source, arg, sub_total) = match &args[idx] {
            Node::MatrixSelector { sel, range, pos } => (
                Source::Storage(sel),
                RangeArg {
                    range: *range,
                    offset: self.offset_of(sel.oid),
                    fixed: sel.at.is_some(),
                    anchored: sel.anchored,
                    smoothed: sel.smoothed,
                    pos: *pos,
                },
                0,
            ),
            sq @ Node::Subquery { range, at, pos, .. } => {
                let (m, offset) = self.run_subquery(sq)?;
                let total = total_samples(&m);
                (
                    Source::Memory(m),
                    RangeArg {
                        range: *range,
                        offset,
                        fixed: at.is_some(),
                        anchored: false,
                        smoothed: false,
                        pos: *pos,
                    },
                    total,
                )
            }
            _ => return Ok(Vec::new()),
        };
        if arg.anchored && !ANCHORED_SAFE.contains(&name) {
            return Err(QueryError::Evaluation(format!(
                "anchored modifier can only be used with: {} - not with {name}",
                ANCHORED_SAFE.join(", ")
            )));
        }
        if arg.smoothed && !SMOOTHED_SAFE.contains(&name) {
            return Err(QueryError::Evaluation(format!(
                "smoothed modifier can only be used with: {} - not with {name}",
                SMOOTHED_SAFE.join(", ")
            )));
        }
        // The other arguments are scalars.
        let mut scalars: Vec<Vec<f64>> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i != idx {
                scalars.push(self.eval_scalar_steps(a)?);
            }
        }
        let steps = self.steps();
        let (Some(first), Some(last)) = (steps.clone().next(), steps.last()) else {
            return Ok(Vec::new());
        };
        // The window at a step ends at `ts - offset`; with `@` it is fixed
        // at the first step's.
        let extra_before = if arg.anchored || arg.smoothed {
            lookback
        } else {
            0
        };
        let extra_after = if arg.smoothed { lookback } else { 0 };
        let window_at = |ts: i64| {
            let t = if arg.fixed { first } else { ts };
            let maxt = t.saturating_sub(arg.offset);
            (
                maxt.saturating_sub(arg.range).saturating_sub(extra_before),
                maxt.saturating_add(extra_after),
            )
        };
        let (load_min, _) = window_at(first);
        let (_, load_max) = window_at(last);
        let use_st = self.ctx.use_start_timestamps
            && matches!(name, "rate" | "irate" | "increase" | "resets");
        let drop_name = name != "last_over_time" && name != "first_over_time";

        let mut out: Matrix = Vec::new();
        let mut floats: Vec<FPoint> = Vec::new();
        let mut hists: Vec<HPoint> = Vec::new();
        let mut sts: Vec<i64> = Vec::new();
        let mut step_scalars = vec![0.0; scalars.len()];
        let mut window_samples = 0usize;
        let n_series = match &source {
            Source::Storage(sel) => self.selected(sel).len(),
            Source::Memory(m) => m.len(),
        };
        for si in 0..n_series {
            self.ctx.check_done(EVAL_ENV)?;
            floats.clear();
            hists.clear();
            sts.clear();
            let (labels, input_drop) = match &source {
                Source::Storage(sel) => {
                    let s = &self.selected(sel)[si];
                    load_range_st(
                        &**s,
                        load_min,
                        load_max,
                        &mut floats,
                        &mut hists,
                        use_st.then_some(&mut sts),
                    )?;
                    (s.labels().clone(), false)
                }
                Source::Memory(m) => {
                    let s = &m[si];
                    floats.extend(
                        s.floats
                            .iter()
                            .filter(|p| p.t > load_min && p.t <= load_max)
                            .filter(|p| !ember_model::is_stale_nan(p.f)),
                    );
                    hists.extend(
                        s.hists
                            .iter()
                            .filter(|p| p.t > load_min && p.t <= load_max)
                            .cloned(),
                    );
                    (s.labels.clone(), s.drop_name)
                }
            };
            let series_drop = drop_name || input_drop;
            let out_labels = if !self.ctx.delayed_name_removal && series_drop {
                drop_metadata_labels(&labels)
            } else {
                labels.clone()
            };
            let mut ser = Series::new(out_labels, series_drop);
            self.current_samples = self.current_samples.saturating_sub(window_samples);
            window_samples = 0;
            let mut step_iter = steps;
            let mut checked = 0usize;
            while let Some(ts) = step_iter.next() {
                checked += 1;
                if checked.is_multiple_of(CHECK_EVERY) {
                    self.ctx.check_done(EVAL_ENV)?;
                }
                let step = self.step_index(ts);
                for (j, sc) in scalars.iter().enumerate() {
                    step_scalars[j] = sc.get(step).copied().unwrap_or(0.0);
                }
                let (mint, maxt) = window_at(ts);
                let flo = floats.partition_point(|p| p.t <= mint);
                let fhi = floats.partition_point(|p| p.t <= maxt).max(flo);
                let hlo = hists.partition_point(|p| p.t <= mint);
                let hhi = hists.partition_point(|p| p.t <= maxt).max(hlo);
                let w = (fhi - flo) + (hhi - hlo);
                if w == 0 {
                    if arg.fixed {
                        break;
                    }
                    // Jump to the first step whose window reaches the next
                    // sample.
                    let next = match (floats.get(fhi), hists.get(hhi)) {
                        (Some(f), Some(h)) => f.t.min(h.t),
                        (Some(f), None) => f.t,
                        (None, Some(h)) => h.t,
                        (None, None) => break,
                    };
                    let extra = maxt.saturating_sub(ts);
                    step_iter.skip_to(next.saturating_sub(extra));
                    continue;
                }
                self.current_samples = self.current_samples - window_samples + w;
                window_samples = w;
                self.check_samples()?;
                let call = RangeCall {
                    name,
                    floats: &floats[flo..fhi],
                    hists: &hists[hlo..hhi],
                    sts: sts.get(flo..fhi).unwrap_or(&[]),
                    labels: &labels,
                    ts,
                    scalars: &step_scalars,
                    arg: &arg,
                    args,
                    ctx: self.ctx,
                };
                match rate::call_range(&call)? {
                    RangeOut::None => {}
                    RangeOut::Float(f) => ser.floats.push(FPoint { t: ts, f }),
                    RangeOut::Hist(h) => ser.hists.push(HPoint { t: ts, h }),
                }
            }
            if ser.len() > 0 {
                if self.current_samples + ser.len() > self.ctx.max_samples {
                    return Err(QueryError::TooManySamples(super::engine::ENV.into()));
                }
                self.current_samples += ser.len();
                if name == "rate" || name == "increase" {
                    self.counter_info(&labels, &ser, &args[0]);
                }
                out.push(ser);
            }
        }
        self.current_samples = self
            .current_samples
            .saturating_sub(window_samples)
            .saturating_sub(sub_total);
        if name == "absent_over_time" {
            return Ok(absent_over_time(steps, self.num_steps(), &out, &args[0]));
        }
        if !self.ctx.delayed_name_removal {
            let mut seen = FastSet::default();
            if out.iter().any(|s| !seen.insert(&s.labels)) {
                return Err(super::engine::duplicate_labelset());
            }
        }
        Ok(out)
    }

    /// The info annotation `rate` and `increase` give for a metric that
    /// does not look like a counter.
    fn counter_info(&self, labels: &Labels, ser: &Series, arg: &Node) {
        let name = metric_name(labels);
        if name.is_empty() || ser.floats.is_empty() {
            return;
        }
        if self.ctx.type_and_unit_labels {
            let typ = labels.get("__type__").unwrap_or("");
            if typ != "counter" && typ != "histogram" {
                self.ctx.annotate(annotations::possible_non_counter_label(
                    name,
                    typ,
                    arg.pos(),
                ));
            }
        } else if !["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            self.ctx
                .annotate(annotations::possible_non_counter(name, arg.pos()));
        }
    }

    /// `timestamp(v)` and `start_timestamp(v)` of a selector: the time (or
    /// start time) of the sample each step looks up.
    fn eval_timestamp(&mut self, sel: &Selector, start_ts: bool) -> Result<Matrix, QueryError> {
        if start_ts && !self.ctx.use_start_timestamps {
            return Ok(Vec::new());
        }
        let offset = self.offset_of(sel.oid);
        let lookback = self.ctx.lookback;
        let steps = self.steps();
        let mut out: Matrix = Vec::new();
        for s in self.selected(sel) {
            self.ctx.check_done(EVAL_ENV)?;
            let mut r = LookbackReader::new(&**s);
            let labels = if self.ctx.delayed_name_removal {
                s.labels().clone()
            } else {
                drop_metadata_labels(s.labels())
            };
            let mut ser = Series::new(labels, true);
            for ts in steps {
                // With `@`, Prometheus looks the sample up at the `@` time
                // itself (the offset does not apply).
                let ref_time = match sel.at {
                    Some(t) => t,
                    None => ts.saturating_sub(offset),
                };
                let Some((t, _, st)) = r.value_at(ref_time, lookback)? else {
                    continue;
                };
                self.add_samples(1)?;
                let v = if start_ts { st } else { t };
                ser.floats.push(FPoint {
                    t: ts,
                    f: v as f64 / 1000.0,
                });
            }
            if ser.len() > 0 {
                out.push(ser);
            }
        }
        if !self.ctx.delayed_name_removal {
            return merge_same_labelsets(out);
        }
        Ok(out)
    }

    fn eval_label_replace(&mut self, args: &[Node]) -> Result<Matrix, QueryError> {
        let s = |i: usize| string_arg(args, i);
        let (dst, repl, src, re_src) = (s(1), s(2), s(3), s(4));
        let re = regex::Regex::new(&format!("^(?s:{re_src})$")).map_err(|_| {
            QueryError::Evaluation(format!(
                "invalid regular expression in label_replace(): {re_src}"
            ))
        })?;
        if !label_name_arg_valid(args, 1) {
            return Err(QueryError::Evaluation(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut m = self.eval_matrix(&args[0])?;
        for ser in &mut m {
            let src_val = ser.labels.get(&src).unwrap_or("").to_string();
            let Some(caps) = re.captures(&src_val) else {
                continue;
            };
            let mut res = String::new();
            caps.expand(&repl, &mut res);
            let mut b = ser.labels.to_builder();
            b.set(dst.as_str(), res);
            ser.labels = b
                .build()
                .map_err(|e| QueryError::Evaluation(e.to_string()))?;
            if dst == ember_model::METRIC_NAME {
                ser.drop_name = false;
            }
        }
        merge_same_labelsets(m)
    }

    fn eval_label_join(&mut self, args: &[Node]) -> Result<Matrix, QueryError> {
        let dst = string_arg(args, 1);
        let sep = string_arg(args, 2);
        let mut srcs = Vec::new();
        for i in 3..args.len() {
            let src = string_arg(args, i);
            if !label_name_arg_valid(args, i) {
                return Err(QueryError::Evaluation(format!(
                    "invalid source label name in label_join(): {src}"
                )));
            }
            srcs.push(src);
        }
        if !label_name_arg_valid(args, 1) {
            return Err(QueryError::Evaluation(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut m = self.eval_matrix(&args[0])?;
        for ser in &mut m {
            let vals: Vec<&str> = srcs
                .iter()
                .map(|s| ser.labels.get(s).unwrap_or(""))
                .collect();
            let joined = vals.join(&sep);
            let mut b = ser.labels.to_builder();
            b.set(dst.as_str(), joined);
            ser.labels = b
                .build()
                .map_err(|e| QueryError::Evaluation(e.to_string()))?;
            if dst == ember_model::METRIC_NAME {
                ser.drop_name = false;
            }
        }
        merge_same_labelsets(m)
    }
}

/// The value of string argument `i`.
pub(crate) fn string_arg(args: &[Node], i: usize) -> String {
    match args.get(i).map(Node::unwrapped) {
        Some(Node::String { value, .. }) => value.clone(),
        _ => String::new(),
    }
}

/// Whether string argument `i` is a valid label name: not empty and valid
/// UTF-8 (escapes can make a literal invalid).
fn label_name_arg_valid(args: &[Node], i: usize) -> bool {
    match args.get(i).map(Node::unwrapped) {
        Some(Node::String {
            value,
            invalid_utf8,
            ..
        }) => !value.is_empty() && !invalid_utf8,
        _ => false,
    }
}

/// `absent_over_time`: 1 at the steps where no input series had a value.
fn absent_over_time(steps: Steps, num_steps: usize, m: &Matrix, arg: &Node) -> Matrix {
    if m.iter().any(|s| s.len() == num_steps) {
        return Vec::new();
    }
    let mut found = FastSet::default();
    for s in m {
        found.extend(s.floats.iter().map(|p| p.t));
        found.extend(s.hists.iter().map(|p| p.t));
    }
    if found.len() == num_steps {
        return Vec::new();
    }
    let mut ser = Series::new(functions::absent_labels(arg), true);
    for ts in steps {
        if !found.contains(&ts) {
            ser.floats.push(FPoint { t: ts, f: 1.0 });
        }
    }
    vec![ser]
}
