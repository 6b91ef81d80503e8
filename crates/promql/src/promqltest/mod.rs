//! Prometheus' PromQL test-script language (`.test` files).
//!
//! A script is a sequence of `load`, `clear` and `eval` commands run against
//! one in-memory storage; each `eval` runs a query and compares its result,
//! error and annotations with the expectations written under it (see
//! Prometheus' `promql/promqltest/README.md`). [`run_script`] runs one
//! script and reports every eval as passed, failed (with the reason) or
//! skipped; evals that touch native histograms are skipped until Ember
//! supports them: an eval whose selectors match a series that holds
//! histogram samples, or whose expectations contain a histogram.
//!
//! Like Prometheus' runner, every instant eval that ran is also checked
//! twice more ([`Check`]): with `@ <eval time>` added to its selectors and
//! subqueries at other evaluation times, and as a range query around the
//! eval time. These outcomes are reported apart from the evals, in
//! [`Report::checks`].

mod checks;
mod compare;
mod histogram;
mod script;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};

use ember_model::{matches_all, Labels, Matcher, Sample, Timestamp, Value, METRIC_NAME};
use ember_storage::{
    Appendable, LabelHints, MemStorage, Querier, Queryable, SelectHints, SeriesRef, SeriesSet,
    StorageError, Warnings,
};

use crate::{Engine, EngineOptions};
pub use script::{parse_script, Command, Eval, EvalKind, Load};

/// An error in a script itself (not in the engine under test).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TestError {
    /// Line in the script (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl TestError {
    fn at(line: usize, message: String) -> Self {
        TestError { line, message }
    }
}

/// What became of one eval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Matched its expectations.
    Passed,
    /// Did not; the message says how.
    Failed(String),
    /// Touches native histograms.
    Skipped,
}

/// The outcome of every eval of a script, by line.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// (line, outcome) per eval, in order.
    pub evals: Vec<(usize, Outcome)>,
    /// The extra checks Prometheus' runner does for every instant eval,
    /// counted apart from the evals: (line, check, outcome).
    pub checks: Vec<(usize, Check, Outcome)>,
    /// An error that stopped the script (a bad command, a failed load).
    pub error: Option<TestError>,
}

/// An extra check of an instant eval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The query with `@ <eval time>` added to every selector and subquery
    /// gives the same result at other evaluation times.
    AtInvariance,
    /// The query run as a range query around the eval time gives the same
    /// result at the eval time.
    RangeMode,
}

impl Report {
    /// Number of evals that passed.
    pub fn passed(&self) -> usize {
        self.evals
            .iter()
            .filter(|(_, o)| *o == Outcome::Passed)
            .count()
    }

    /// Number of evals that failed.
    pub fn failed(&self) -> usize {
        self.evals
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .count()
    }

    /// Number of evals skipped.
    pub fn skipped(&self) -> usize {
        self.evals
            .iter()
            .filter(|(_, o)| *o == Outcome::Skipped)
            .count()
    }

    /// (passed, failed, skipped) extra checks.
    pub fn check_counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for (_, _, o) in &self.checks {
            match o {
                Outcome::Passed => c.0 += 1,
                Outcome::Failed(_) => c.1 += 1,
                Outcome::Skipped => c.2 += 1,
            }
        }
        c
    }
}

/// The engine options the upstream scripts assume: at most 10000 samples,
/// every experimental parser feature, delayed name removal.
pub fn test_engine_options() -> EngineOptions {
    EngineOptions::for_tests()
}

/// Parses the labels of a series description (`metric{a="b"}`) with the
/// PromQL parser.
fn parse_series_labels(s: &str) -> Result<Labels, String> {
    crate::parse_series_labels(s).map_err(|e| e.to_string())
}

/// Runs the script `text` with a fresh storage.
pub fn run_script(text: &str, opts: &EngineOptions) -> Report {
    let mut report = Report::default();
    let commands = match parse_script(text, &parse_series_labels) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    let engine = Engine::new(opts.clone());
    let mut storage = MemStorage::with_out_of_order();
    let mut histogram_series: Vec<Labels> = Vec::new();
    for cmd in commands {
        match cmd {
            Command::Clear => {
                storage = MemStorage::with_out_of_order();
                histogram_series.clear();
            }
            Command::Load(load) => {
                if let Err(e) = apply_load(&storage, &load, &mut histogram_series) {
                    report.error = Some(e);
                    return report;
                }
            }
            Command::Eval(ev) => {
                let outcome = catch(|| run_eval(&engine, &storage, &histogram_series, &ev));
                let checked = outcome == Outcome::Passed || matches!(outcome, Outcome::Failed(_));
                report.evals.push((ev.line, outcome));
                if checked && matches!(ev.kind, EvalKind::Instant(_)) {
                    let view = Tracking {
                        inner: &storage,
                        histogram_series: &histogram_series,
                        touched: AtomicBool::new(false),
                    };
                    let at = catch(|| checks::at_invariance(&engine, &view, &ev));
                    report.checks.push((ev.line, Check::AtInvariance, at));
                    let range = catch(|| checks::range_mode(&engine, &view, &ev));
                    report.checks.push((ev.line, Check::RangeMode, range));
                }
            }
        }
    }
    report
}

/// Runs `f`, turning a panic into a failure.
fn catch(f: impl FnOnce() -> Outcome) -> Outcome {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Outcome::Failed(format!("panic: {msg}"))
    })
}

fn apply_load(
    storage: &MemStorage,
    load: &Load,
    histogram_series: &mut Vec<Labels>,
) -> Result<(), TestError> {
    let mut app = storage.appender();
    let mut all: Vec<(Labels, Vec<Sample>)> = load.series.clone();
    if load.with_nhcb {
        all.extend(nhcb_series(&load.series));
    }
    for (labels, samples) in &all {
        if samples.iter().any(|s| !matches!(s.value, Value::Float(_)))
            && !histogram_series.contains(labels)
        {
            histogram_series.push(labels.clone());
        }
        for s in samples {
            app.append(SeriesRef(0), labels, s.clone())
                .map_err(|e| TestError::at(load.line, format!("load: {labels}: {e}")))?;
        }
    }
    app.commit()
        .map_err(|e| TestError::at(load.line, e.to_string()))
}

/// Custom-bucket native histograms built from classic histogram series
/// (`X_bucket{le}`, `X_count`, `X_sum`), as `load_with_nhcb` does.
fn nhcb_series(series: &[(Labels, Vec<Sample>)]) -> Vec<(Labels, Vec<Sample>)> {
    #[derive(Default)]
    struct Acc {
        buckets: BTreeMap<Timestamp, Vec<(f64, f64)>>,
        count: BTreeMap<Timestamp, f64>,
        sum: BTreeMap<Timestamp, f64>,
    }
    let mut groups: BTreeMap<Labels, Acc> = BTreeMap::new();
    for (labels, samples) in series {
        let Some(name) = labels.metric_name() else {
            continue;
        };
        let (base, kind) = if let Some(b) = name.strip_suffix("_bucket") {
            (b, 0)
        } else if let Some(b) = name.strip_suffix("_count") {
            (b, 1)
        } else if let Some(b) = name.strip_suffix("_sum") {
            (b, 2)
        } else {
            continue;
        };
        let le = if kind == 0 {
            match labels.get("le").and_then(script::parse_float) {
                Some(v) if !v.is_nan() => Some(v),
                _ => continue,
            }
        } else {
            None
        };
        let mut b = labels.to_builder();
        b.set(METRIC_NAME, base).del("le");
        let Ok(key) = b.build() else { continue };
        let acc = groups.entry(key).or_default();
        for s in samples {
            let Value::Float(v) = s.value else { continue };
            match (kind, le) {
                (0, Some(le)) => acc.buckets.entry(s.t).or_default().push((le, v)),
                (1, _) => {
                    acc.count.insert(s.t, v);
                }
                _ => {
                    acc.sum.insert(s.t, v);
                }
            }
        }
    }
    let mut out = Vec::new();
    for (labels, acc) in groups {
        let mut samples = Vec::new();
        for (t, mut bs) in acc.buckets {
            bs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut prev = 0.0;
            let mut counts = Vec::new();
            let mut bounds = Vec::new();
            for (le, cum) in &bs {
                counts.push(cum - prev);
                prev = *cum;
                if le.is_finite() {
                    bounds.push(*le);
                }
            }
            let h = ember_model::FloatHistogram {
                schema: -53,
                count: acc.count.get(&t).copied().unwrap_or(prev),
                sum: acc.sum.get(&t).copied().unwrap_or(0.0),
                positive_spans: vec![ember_model::Span {
                    offset: 0,
                    length: counts.len() as u32,
                }],
                positive_buckets: counts,
                custom_values: bounds,
                ..Default::default()
            };
            samples.push(Sample {
                t,
                value: Value::FloatHistogram(std::sync::Arc::new(h)),
                start: None,
            });
        }
        if !samples.is_empty() {
            out.push((labels, samples));
        }
    }
    out
}

/// A storage view that notes whether a query selected a series holding
/// native histograms.
struct Tracking<'a> {
    inner: &'a MemStorage,
    histogram_series: &'a [Labels],
    touched: AtomicBool,
}

struct TrackingQuerier<'a> {
    inner: Box<dyn Querier + 'a>,
    parent: &'a Tracking<'a>,
}

impl Queryable for Tracking<'_> {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(TrackingQuerier {
            inner: self.inner.querier(mint, maxt)?,
            parent: self,
        }))
    }
}

impl Querier for TrackingQuerier<'_> {
    fn select<'b>(
        &'b self,
        sort: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet<'b> + 'b>, StorageError> {
        if self
            .parent
            .histogram_series
            .iter()
            .any(|l| matches_all(matchers, l))
        {
            self.parent.touched.store(true, Ordering::Relaxed);
        }
        self.inner.select(sort, hints, matchers)
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        self.inner.label_values(name, hints, matchers)
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        self.inner.label_names(hints, matchers)
    }
}

fn run_eval(
    engine: &Engine,
    storage: &MemStorage,
    histogram_series: &[Labels],
    ev: &Eval,
) -> Outcome {
    if ev.expects_histogram {
        return Outcome::Skipped;
    }
    let view = Tracking {
        inner: storage,
        histogram_series,
        touched: AtomicBool::new(false),
    };
    let result = match ev.kind {
        EvalKind::Instant(t) => engine.instant_query(&view, &ev.expr, t),
        EvalKind::Range { start, end, step } => {
            engine.range_query(&view, &ev.expr, start, end, step)
        }
    };
    if view.touched.load(Ordering::Relaxed) {
        return Outcome::Skipped;
    }
    match compare::check(ev, result.map_err(|e| e.to_string())) {
        Ok(()) => Outcome::Passed,
        Err(m) => Outcome::Failed(m),
    }
}
