//! The PromQL evaluator: [`Engine`] runs instant and range queries against
//! a [`Queryable`] with Prometheus 3 semantics.

mod aggregate;
mod annotations;
mod binary;
mod call;
mod engine;
mod format;
mod functions;
mod hash;
mod histogram;
mod info;
pub(crate) mod math;
mod plan;
mod quantile;
mod rate;
mod selectors;
mod types;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ember_model::{Labels, MatchOp};
use ember_storage::{Queryable, Series as StorageSeries};

use crate::{parse_metric_selector, parse_with, ParseError, ParserOptions, PointValue, PosRange};
use crate::{QueryOutput, QueryValue, RangeSeries, ValueType, VectorSample};
use engine::{merge_same_labelsets, Ctx, Evaluator, EVAL_ENV};
use plan::PlanParams;
use types::{Matrix, Value};

/// Why a query failed. The messages are Prometheus' own.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query text is not valid PromQL.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The query ran longer than the engine's timeout.
    #[error("query timed out in {0}")]
    Timeout(String),
    /// The query was cancelled through its [`CancelToken`].
    #[error("query was canceled in {0}")]
    Canceled(String),
    /// The query would hold more samples in memory than allowed.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(String),
    /// Reading from storage failed.
    #[error("{0}")]
    Storage(String),
    /// The query is invalid for the request (a range query of a range
    /// vector, an `@` modifier where it is disabled, a bad step).
    #[error("{0}")]
    BadRequest(String),
    /// Evaluation failed (a matching conflict, an invalid argument, ...).
    #[error("{0}")]
    Evaluation(String),
}

/// A handle that cancels running queries it was given to.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every query holding this token; they fail with
    /// [`QueryError::Canceled`] at their next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// How the engine evaluates queries; Prometheus' `EngineOpts`.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    /// Most samples a query may hold in memory at once.
    pub max_samples: usize,
    /// Longest a query may run.
    pub timeout: Duration,
    /// How far back an instant selector looks for a sample (zero means
    /// Prometheus' default, five minutes).
    pub lookback_delta: Duration,
    /// The step of subqueries written without one (`x[1h:]`); Prometheus
    /// uses the global evaluation interval.
    pub default_subquery_step: Duration,
    /// Whether the `@` modifier is allowed.
    pub enable_at_modifier: bool,
    /// Whether negative offsets are allowed.
    pub enable_negative_offset: bool,
    /// Whether `__name__` is removed only when the query finishes, so that
    /// label functions and `or` can still see it (Prometheus 3 behaviour).
    pub enable_delayed_name_removal: bool,
    /// Whether `rate` and `increase` look at the `__type__` label rather
    /// than at the metric name to guess whether a metric is a counter.
    pub enable_type_and_unit_labels: bool,
    /// Whether sample start timestamps (where the storage has them) count
    /// for `rate`, `irate`, `increase`, `resets` and `start_timestamp`.
    pub use_start_timestamps: bool,
    /// The parser's feature flags.
    pub parser: ParserOptions,
}

impl Default for EngineOptions {
    /// Prometheus' server defaults: 50 million samples, a two-minute
    /// timeout, five minutes of lookback, a one-minute evaluation interval.
    fn default() -> Self {
        EngineOptions {
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            lookback_delta: Duration::from_secs(300),
            default_subquery_step: Duration::from_secs(60),
            enable_at_modifier: true,
            enable_negative_offset: true,
            enable_delayed_name_removal: false,
            enable_type_and_unit_labels: false,
            use_start_timestamps: false,
            parser: ParserOptions::default(),
        }
    }
}

impl EngineOptions {
    /// The configuration Prometheus' PromQL test scripts run with: at most
    /// 10000 samples, a 100 s timeout, delayed name removal, start
    /// timestamps and every experimental parser feature.
    pub fn for_tests() -> Self {
        EngineOptions {
            max_samples: 10_000,
            timeout: Duration::from_secs(100),
            enable_delayed_name_removal: true,
            use_start_timestamps: true,
            parser: ParserOptions::test_suite(),
            ..EngineOptions::default()
        }
    }
}

/// A query and the time range it is evaluated over.
#[derive(Debug, Clone)]
pub struct QueryParams {
    /// The PromQL text.
    pub expr: String,
    /// First evaluation time (ms).
    pub start: i64,
    /// Last evaluation time (ms); equal to `start` for an instant query.
    pub end: i64,
    /// Resolution (ms); 0 for an instant query.
    pub step: i64,
    /// Overrides the engine's lookback delta for this query (zero keeps
    /// the engine's).
    pub lookback_delta: Option<Duration>,
    /// Cancels the query when triggered.
    pub cancel: Option<CancelToken>,
}

impl QueryParams {
    /// An instant query at `t` (ms).
    pub fn instant(expr: &str, t: i64) -> Self {
        QueryParams {
            expr: expr.to_string(),
            start: t,
            end: t,
            step: 0,
            lookback_delta: None,
            cancel: None,
        }
    }

    /// A range query from `start` to `end` every `step` (all ms).
    pub fn range(expr: &str, start: i64, end: i64, step: i64) -> Self {
        QueryParams {
            expr: expr.to_string(),
            start,
            end,
            step,
            lookback_delta: None,
            cancel: None,
        }
    }
}

/// The PromQL engine. Holds only its options; queries share nothing, so
/// one engine can serve concurrent queries.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

/// Prometheus' default lookback delta, five minutes.
const DEFAULT_LOOKBACK_MS: i64 = 300_000;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Engine {
    /// An engine with `opts`.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at `t` (ms).
    pub fn instant_query(
        &self,
        q: &dyn Queryable,
        expr: &str,
        t: i64,
    ) -> Result<QueryOutput, QueryError> {
        self.query(q, &QueryParams::instant(expr, t))
    }

    /// Evaluates `expr` from `start` to `end` every `step` (all ms).
    pub fn range_query(
        &self,
        q: &dyn Queryable,
        expr: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, QueryError> {
        self.query(q, &QueryParams::range(expr, start, end, step))
    }

    /// Runs a query.
    pub fn query(&self, q: &dyn Queryable, p: &QueryParams) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        let instant = p.step == 0 && p.start == p.end;
        if !instant {
            if p.step <= 0 {
                return Err(QueryError::BadRequest(
                    "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
                ));
            }
            if p.end < p.start {
                return Err(QueryError::BadRequest(
                    "end timestamp must not be before start time".into(),
                ));
            }
        }
        let expr = parse_with(&p.expr, &self.opts.parser)?;
        self.validate(&expr)?;
        if !instant {
            let t = expr.value_type();
            if t != ValueType::Vector && t != ValueType::Scalar {
                return Err(QueryError::BadRequest(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    t.documented()
                )));
            }
        }
        // A zero lookback delta means the default, as in Prometheus.
        let lookback = [p.lookback_delta, Some(self.opts.lookback_delta)]
            .into_iter()
            .flatten()
            .map(millis)
            .find(|ms| *ms > 0)
            .unwrap_or(DEFAULT_LOOKBACK_MS);
        let plan = plan::plan(
            &expr,
            PlanParams {
                start: p.start,
                end: p.end,
                step: p.step,
                lookback,
                default_subquery_step: millis(self.opts.default_subquery_step).max(1),
            },
        )?;
        let querier = q
            .querier(plan.mint, plan.maxt)
            .map_err(|e| QueryError::Storage(e.to_string()))?;
        let mut series: Vec<Vec<Box<dyn StorageSeries + '_>>> =
            Vec::with_capacity(plan.selects.len());
        for req in &plan.selects {
            let mut set = querier
                .select(true, Some(&req.hints), &req.matchers)
                .map_err(|e| QueryError::Storage(format!("expanding series: {e}")))?;
            let mut v = Vec::new();
            while let Some(s) = set.next() {
                v.push(s.map_err(|e| QueryError::Storage(format!("expanding series: {e}")))?);
            }
            series.push(v);
        }
        let ctx = Ctx {
            max_samples: self.opts.max_samples,
            lookback,
            default_subquery_step: millis(self.opts.default_subquery_step).max(1),
            delayed_name_removal: self.opts.enable_delayed_name_removal,
            type_and_unit_labels: self.opts.enable_type_and_unit_labels,
            use_start_timestamps: self.opts.use_start_timestamps,
            deadline: started.checked_add(self.opts.timeout),
            cancel: p.cancel.clone(),
            querier: &*querier,
            series,
            annotations: RefCell::new(annotations::Annotations::default()),
            offsets: RefCell::new(vec![0; plan.num_offsets]),
        };
        ctx.set_offsets(p.start, &plan.root);
        ctx.check_done(EVAL_ENV)?;
        let mut ev = Evaluator {
            ctx: &ctx,
            start: p.start,
            end: p.end,
            interval: if instant { 1 } else { p.step },
            current_samples: 0,
        };
        let value = ev.eval(&plan.root)?;
        let value = match value {
            Value::Matrix(m) if self.opts.enable_delayed_name_removal => {
                Value::Matrix(cleanup_names(m)?)
            }
            v => v,
        };
        if !instant {
            ctx.check_done(EVAL_ENV)?;
        }
        let result = convert(value, plan.root.value_type(), instant, p.start)?;
        let (warnings, infos) = ctx.annotations.borrow().render(&p.expr);
        Ok(QueryOutput {
            value: result,
            warnings,
            infos,
        })
    }

    /// Rejects `@` and negative offsets when they are disabled.
    fn validate(&self, e: &crate::Expr) -> Result<(), QueryError> {
        if self.opts.enable_at_modifier && self.opts.enable_negative_offset {
            return Ok(());
        }
        let (mut at, mut neg) = (false, false);
        let mut stack = vec![e];
        while let Some(e) = stack.pop() {
            let neg_offset = |d: &crate::DurationValue| d.as_millis().is_some_and(|ms| ms < 0);
            match e {
                crate::Expr::VectorSelector(v) => {
                    at |= v.at.is_some();
                    neg |= neg_offset(&v.offset);
                }
                crate::Expr::MatrixSelector(m) => {
                    at |= m.selector.at.is_some();
                    neg |= neg_offset(&m.selector.offset);
                }
                crate::Expr::Subquery(s) => {
                    at |= s.at.is_some();
                    neg |= neg_offset(&s.offset);
                }
                _ => {}
            }
            stack.extend(e.children());
        }
        if at && !self.opts.enable_at_modifier {
            return Err(QueryError::BadRequest("@ modifier is disabled".into()));
        }
        if neg && !self.opts.enable_negative_offset {
            return Err(QueryError::BadRequest("negative offset is disabled".into()));
        }
        Ok(())
    }
}

/// Delayed name removal: drops `__name__` (and `__type__`, `__unit__`)
/// from series marked for it, merging series that become equal.
fn cleanup_names(mut m: Matrix) -> Result<Matrix, QueryError> {
    for s in &mut m {
        if s.drop_name {
            s.labels = engine::drop_metadata_labels(&s.labels);
        }
    }
    merge_same_labelsets(m)
}

/// Turns the evaluator's matrix into the API's value.
fn convert(v: Value, t: ValueType, instant: bool, start: i64) -> Result<QueryValue, QueryError> {
    let m = match v {
        Value::String(s) => return Ok(QueryValue::String { t: start, s }),
        Value::Matrix(m) => m,
    };
    if instant {
        match t {
            ValueType::Vector => {
                return Ok(QueryValue::Vector(
                    m.into_iter()
                        .filter_map(|s| {
                            let value = match (s.floats.first(), s.hists.first()) {
                                (_, Some(h)) if s.floats.is_empty() => {
                                    PointValue::Histogram(h.h.clone())
                                }
                                (Some(f), _) => PointValue::Float(f.f),
                                _ => return None,
                            };
                            Some(VectorSample {
                                labels: s.labels,
                                t: start,
                                value,
                            })
                        })
                        .collect(),
                ))
            }
            ValueType::Scalar => {
                let v = m
                    .first()
                    .and_then(|s| s.floats.first())
                    .map_or(f64::NAN, |p| p.f);
                return Ok(QueryValue::Scalar { t: start, v });
            }
            _ => {}
        }
    }
    let mut out: Vec<RangeSeries> = m
        .into_iter()
        .map(|s| RangeSeries {
            labels: s.labels,
            floats: s.floats.into_iter().map(|p| (p.t, p.f)).collect(),
            histograms: s.hists.into_iter().map(|p| (p.t, p.h)).collect(),
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(QueryValue::Matrix(out))
}

/// Turns a series description such as `metric{a="b"}` or
/// `{"a.b", c="d"}` into its labels. Only equality matchers are allowed.
pub fn parse_series_labels(s: &str) -> Result<Labels, ParseError> {
    let fail = |message: String| ParseError {
        pos: PosRange::new(0, s.len()),
        line: 1,
        col: 1,
        message,
    };
    let matchers = parse_metric_selector(s)?;
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(matchers.len());
    for m in &matchers {
        if m.op() != MatchOp::Equal {
            return Err(fail(format!(
                "series descriptions may only use equality matchers, got {m}"
            )));
        }
        pairs.push((m.name().to_string(), m.value().to_string()));
    }
    Labels::from_pairs(pairs).map_err(|e| fail(e.to_string()))
}
