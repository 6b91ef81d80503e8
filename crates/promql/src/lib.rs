//! PromQL for Ember, following Prometheus 3.14.
//!
//! This crate holds the whole language: parsing, type checking and
//! printing of PromQL expressions, and the evaluator ([`Engine`]) that runs
//! them against any [`ember_storage::Queryable`].
//!
//! # Parsing
//!
//! [`parse`] and [`parse_with`] turn a query into an [`Expr`] tree. The
//! grammar is written for pest (`src/parser/promql.pest`) and accepts the
//! whole language of Prometheus 3.14: selectors with UTF-8 names
//! (`{"my.metric", "a.b"="c"}`), range selectors and subqueries, `offset`
//! and `@` modifiers, all binary operators with `bool`, `on`/`ignoring`,
//! `group_left`/`group_right`, aggregations with their parameters and
//! grouping clauses, the function table of [`FUNCTIONS`], and all literal
//! forms (hex, exponents, `_` separators, `Inf`/`NaN`, durations as numbers,
//! Go string escapes, raw strings, comments). The experimental parts —
//! duration expressions, `anchored`/`smoothed`, `fill()` modifiers and
//! experimental functions — are switched on through [`ParserOptions`], which
//! mirrors Prometheus' feature flags.
//!
//! Operator precedence and associativity are Prometheus': `^` is
//! right-associative and binds tighter than a unary sign (`-2^2 == -4`),
//! which binds like `*` (`-a*b == (-a)*b`); a sign directly on a number is
//! folded into the literal. The grammar leaves precedence to pest's Pratt
//! parser and modifier placement to the AST builder, which reports
//! Prometheus' messages ("ranges only allowed for vector selectors", ...).
//!
//! # Type checking
//!
//! Every parsed tree is checked as Prometheus' `checkAST` checks it:
//! operand and argument types, function arity, `bool` only on comparisons,
//! set operators only between vectors, and selectors that cannot match
//! everything. Errors are [`ParseError`]s carrying a byte range, a line and
//! column, and Prometheus' message; they display as `1:5: parse error: ...`.
//!
//! # Printing
//!
//! [`Expr`] implements `Display` like Prometheus' `String()`, so printing is
//! also the canonical formatting: `parse(&e.to_string())` gives back `e`
//! (up to positions and matcher order, see [`Expr::normalized`]).
//!
//! # Evaluation
//!
//! [`Engine::instant_query`] and [`Engine::range_query`] (or
//! [`Engine::query`] with [`QueryParams`], which adds a [`CancelToken`] and
//! a per-query lookback delta) evaluate a query with Prometheus 3 semantics
//! and return a [`QueryOutput`]: the [`QueryValue`] and the warnings and
//! infos Prometheus would give, worded as Prometheus words them
//! (`PromQL warning: ... (1:5)`). Failures are [`QueryError`]s whose
//! messages are Prometheus' own.
//!
//! A query is prepared as Prometheus prepares it: `start()`, `end()`,
//! `range()` and `step()` become numbers, duration expressions are
//! computed, `@ start()`/`@ end()` become timestamps, and the largest
//! subtrees that do not depend on the evaluation time (those under `@`)
//! are marked to be evaluated once. The time range every selector reads is
//! worked out from offsets, `@`, ranges and enclosing subqueries; one
//! querier covers their union, and each selector's series are selected
//! once for the whole query.
//!
//! Evaluation follows Prometheus' step-wise model: every node evaluates to
//! its values at each step of the query (an instant query has one step).
//! Operators and instant-vector functions combine their operands' vectors
//! step by step; aggregations map input series to groups once and fold
//! each step's values into them; range-vector functions read each series
//! once and slide a window `(t - range, t]` over its samples. Subqueries
//! run in their own evaluator on steps aligned to multiples of their
//! step. The details follow Prometheus exactly where results depend on
//! them: lookback and staleness markers, left-open windows, `rate`
//! extrapolation, Kahan summation in `sum`, `avg` and the `*_over_time`
//! functions, `histogram_quantile`'s monotonicity fix, the order of
//! `topk`/`bottomk` results, the hash `limit_ratio` samples by, vector
//! matching errors, and delayed `__name__` removal (on with
//! [`EngineOptions::enable_delayed_name_removal`], as in the test suite).
//! Native histograms are read and passed through selectors, but histogram
//! arithmetic is not implemented: operations on histograms give no result.
//!
//! A query fails with Prometheus' error when it would hold more than
//! [`EngineOptions::max_samples`] samples at once (counted as Prometheus
//! counts them), when it runs longer than [`EngineOptions::timeout`], or
//! when its token is cancelled; its memory is freed when it returns.
//!
//! # Test scripts
//!
//! [`promqltest`] runs Prometheus' `.test` scripts (the conformance suite
//! and Ember's own scripts in `testdata/`), including the extra checks
//! Prometheus' runner does for instant evals.
//!
//! # Limits
//!
//! Parsing untrusted input is bounded: queries longer than
//! [`MAX_QUERY_BYTES`], nested deeper than [`MAX_NESTING`] brackets, or
//! whose tree would be deeper than [`MAX_DEPTH`] are rejected before any
//! recursion could exhaust the stack. Code that walks a parsed tree
//! recursively can rely on that depth bound. No global state is used.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

mod eval;
mod parser;
pub mod promqltest;
mod value;

pub use eval::{parse_series_labels, CancelToken, Engine, EngineOptions, QueryError, QueryParams};
pub use value::*;

pub use parser::ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, DurationExpr,
    DurationValue, Expr, FillValues, MatrixSelector, NumberLiteral, ParenExpr, PosRange,
    StringLiteral, SubqueryExpr, UnaryExpr, UnaryOp, ValueType, VectorMatchCardinality,
    VectorMatching, VectorSelector,
};
pub use parser::functions::{function, FunctionDef, FUNCTIONS};
pub use parser::{
    parse, parse_metric_selector, parse_with, ParseError, ParserOptions, MAX_DEPTH, MAX_NESTING,
    MAX_QUERY_BYTES,
};

/// The fuzzing entry point: parses `data` (when it is UTF-8) with every
/// feature enabled and checks the printer round trip, panicking when a
/// parsed query prints to text that does not parse back to the same tree.
#[doc(hidden)]
#[allow(clippy::panic)]
pub fn fuzz_parse(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let options = ParserOptions::test_suite();
    let Ok(expr) = parse_with(query, &options) else {
        return;
    };
    let printed = expr.to_string();
    match parse_with(&printed, &options) {
        Ok(again) if again.normalized() == expr.normalized() => {
            let reprinted = again.to_string();
            if reprinted != printed {
                panic!("printing is not stable: {query:?} -> {printed:?} -> {reprinted:?}");
            }
        }
        Ok(again) => panic!("round trip changed {query:?}: {printed:?} parsed as {again:?}"),
        Err(e) => panic!("printed form of {query:?} does not parse: {printed:?}: {e}"),
    }
}
