//! The PromQL parser: a pest grammar, an AST builder that folds operator
//! chains with pest's Pratt parser, and a type-checking pass.
//!
//! Parsing runs in four steps, each bounded in time and stack:
//! 1. [`lex::scan`] checks the length, the nesting depth and the tokens in
//!    one non-recursive pass, and reports lexical errors.
//! 2. pest matches the grammar in `promql.pest`.
//! 3. The builder turns the pairs into an [`Expr`], applying the rules the
//!    grammar leaves open (modifier placement, literals, feature flags) and
//!    bounding the depth of the tree it builds.
//! 4. [`check`] type checks the tree, as Prometheus' `checkAST` does.

pub(crate) mod ast;
mod check;
mod error;
pub(crate) mod functions;
mod lex;
mod lit;
mod printer;

use std::cell::Cell;

use ember_model::{MatchOp, Matcher, METRIC_NAME};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, ConstPrattParser, Op};
use pest::Parser as _;

use ast::*;
pub use error::ParseError;
use functions::function;
use lit::NumKind;

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 256 * 1024;

/// Deepest nesting of parentheses, brackets and braces accepted.
pub const MAX_NESTING: usize = 64;

/// Deepest expression tree the parser returns, counted in nodes from the
/// root to a leaf. Recursive walks over a parsed [`Expr`] need at most
/// this many frames. It also bounds the operators that may be pending at
/// once: those of an expression plus those of every expression it is
/// nested in (the operators before `(` in `a + b * (c - -d)` count for
/// what is inside).
pub const MAX_DEPTH: usize = 256;

/// Which experimental parts of the language are accepted; mirrors
/// Prometheus' parser options and the feature flags behind them. The
/// default enables none, as Prometheus does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParserOptions {
    /// Experimental functions and aggregations: `limitk`, `limit_ratio`,
    /// `info`, `sort_by_label`, `mad_over_time`, `ts_of_*_over_time`, ...
    /// (`--enable-feature=promql-experimental-functions`).
    pub enable_experimental_functions: bool,
    /// Arithmetic and `step()`, `range()`, `min_of()`, `max_of()` in
    /// ranges, subquery steps and offsets
    /// (`--enable-feature=promql-duration-expr`).
    pub experimental_duration_expr: bool,
    /// The `anchored` and `smoothed` range modifiers
    /// (`--enable-feature=promql-extended-range-selectors`).
    pub enable_extended_range_selectors: bool,
    /// The `fill()`, `fill_left()` and `fill_right()` binary operator
    /// modifiers (`--enable-feature=promql-binop-fill-modifiers`).
    pub enable_binop_fill_modifiers: bool,
}

impl ParserOptions {
    /// The options Prometheus' PromQL test scripts (`promqltest`) run with:
    /// every experimental feature enabled.
    pub fn test_suite() -> Self {
        ParserOptions {
            enable_experimental_functions: true,
            experimental_duration_expr: true,
            enable_extended_range_selectors: true,
            enable_binop_fill_modifiers: true,
        }
    }
}

#[derive(pest_derive::Parser)]
#[grammar = "parser/promql.pest"]
struct PromqlParser;

type Res<T> = Result<T, ParseError>;

/// Parses and type checks a PromQL expression with the default options
/// (no experimental features).
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    parse_with(input, &ParserOptions::default())
}

/// Parses and type checks a PromQL expression.
pub fn parse_with(input: &str, options: &ParserOptions) -> Result<Expr, ParseError> {
    let (pairs, scan) = parse_pairs(input, Rule::query)?;
    let b = Builder {
        input,
        opts: *options,
        tokens: &scan.tokens,
        pending_ops: Cell::new(0),
    };
    let query = pairs.into_iter().next().map(Pair::into_inner);
    let expr_pair = query
        .and_then(|mut inner| inner.next())
        .ok_or_else(|| b.err(PosRange::new(0, 0), "no expression found in input"))?;
    let mut expr = b.expr(expr_pair)?.expr;
    check::check(&mut expr).map_err(|e| ParseError::new(input, e.pos, e.message))?;
    Ok(expr)
}

/// Parses a series selector such as `up{job="api"}` or `{__name__=~"x.*"}`
/// (as in the `match[]` parameters of Prometheus' API) into its matchers.
/// Unlike an expression, it may match everything (`{job=~".*"}`).
pub fn parse_metric_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    let (pairs, scan) = parse_pairs(input, Rule::selector_query)?;
    let b = Builder {
        input,
        opts: ParserOptions::default(),
        tokens: &scan.tokens,
        pending_ops: Cell::new(0),
    };
    let pair = pairs
        .into_iter()
        .next()
        .and_then(|q| q.into_inner().next())
        .ok_or_else(|| b.err(PosRange::new(0, 0), "no expression found in input"))?;
    Ok(b.vector_selector(pair)?.matchers)
}

/// Steps 1 and 2: limits, lexical errors, and the pest match.
fn parse_pairs(input: &str, rule: Rule) -> Res<(Pairs<'_, Rule>, lex::Scan)> {
    let err = |pos: PosRange, msg: String| ParseError::new(input, pos, msg);
    let len = input.len();
    if len > MAX_QUERY_BYTES {
        return Err(err(
            PosRange::new(MAX_QUERY_BYTES, len),
            format!("query too long: {len} bytes, the limit is {MAX_QUERY_BYTES}"),
        ));
    }
    let scan = lex::scan(input, MAX_NESTING);
    if let Some(at) = scan.too_deep_at {
        return Err(err(
            PosRange::new(at, at + 1),
            format!("query nested too deeply: more than {MAX_NESTING} levels of brackets"),
        ));
    }
    if scan.tokens.is_empty() && scan.error.is_none() {
        return Err(err(
            PosRange::new(0, 0),
            "no expression found in input".into(),
        ));
    }
    // Prometheus' lexer runs lazily ahead of its parser and ends the input
    // at the first bad token, so pest sees only the text before it: a
    // syntax error there comes first, otherwise the lexical error does.
    let Some(lex_error) = &scan.error else {
        return match PromqlParser::parse(rule, input) {
            Ok(pairs) => Ok((pairs, scan)),
            Err(e) => Err(syntax_error(input, &scan, e)),
        };
    };
    let lexical = err(
        PosRange::new(lex_error.start, len),
        lex_error.message.clone(),
    );
    match PromqlParser::parse(rule, &input[..lex_error.at]) {
        Err(e) if pest_pos(&e) < lex_error.at => Err(syntax_error(input, &scan, e)),
        _ => Err(lexical),
    }
}

fn pest_pos(e: &pest::error::Error<Rule>) -> usize {
    match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    }
}

/// Words a pest failure as Prometheus words the unexpected token.
fn syntax_error(input: &str, scan: &lex::Scan, e: pest::error::Error<Rule>) -> ParseError {
    let pos = pest_pos(&e);
    let positives = match e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives,
        pest::error::ErrorVariant::CustomError { message } => {
            // pest's own resource limits.
            return ParseError::new(input, PosRange::new(pos, pos), message);
        }
    };
    let tok = scan.token_at(pos);
    let range = tok.map_or(PosRange::new(input.len(), input.len()), |t| {
        PosRange::new(t.start, t.end)
    });
    let mut msg = format!("unexpected {}", lex::describe(input, tok));
    msg.push_str(context(&positives));
    ParseError::new(input, range, msg)
}

/// The "in <context>, expected <what>" part of a syntax error, from what
/// pest was trying to match where it failed.
fn context(positives: &[Rule]) -> &'static str {
    let has = |r: Rule| positives.contains(&r);
    let only = |r: Rule| positives == [r];
    if has(Rule::match_op) {
        " in label matching, expected label matching operator"
    } else if has(Rule::label_matcher) || (has(Rule::label_name) && has(Rule::string)) {
        " in label matching, expected identifier or \"}\""
    } else if only(Rule::close_brace) {
        " in label matching, expected \",\" or \"}\""
    } else if only(Rule::string) {
        " in label matching, expected string"
    } else if has(Rule::grouping_label) || has(Rule::label_word) {
        " in grouping opts, expected label"
    } else if only(Rule::close_paren) {
        " in grouping opts, expected \",\" or \")\""
    } else if has(Rule::grouping_labels) {
        " in grouping opts, expected \"(\""
    } else if has(Rule::offset_value) {
        " in offset, expected number, duration, step(), or range()"
    } else if has(Rule::at_start) || has(Rule::at_value) {
        " in @, expected timestamp"
    } else if has(Rule::subquery_colon) {
        " in subquery or range, expected \":\" or \"]\""
    } else if has(Rule::dur_expr) && has(Rule::close_bracket) {
        " in subquery selector, expected number, duration, step(), range(), or \"]\""
    } else if has(Rule::dur_expr) {
        " in subquery or range selector, expected number, duration, step(), or range()"
    } else {
        ""
    }
}

/// An expression with the depth of its tree.
struct Node {
    expr: Expr,
    depth: usize,
}

/// A duration expression with the depth of its tree.
struct DNode {
    expr: DurationExpr,
    depth: usize,
}

/// Step 3: pairs to AST.
struct Builder<'i> {
    input: &'i str,
    opts: ParserOptions,
    /// The query's tokens, to trim the whitespace and comments pest
    /// includes at the end of some pairs.
    tokens: &'i [lex::Token],
    /// Operators of the chains being folded, see [`with_chain`].
    pending_ops: Cell<usize>,
}

/// Expression operators from loosest to tightest; `true` starts a level.
static PRATT: ConstPrattParser<Rule, 25> = ConstPrattParser::new_const([
    (Op::infix(Rule::op_or, Assoc::Left), true),
    (Op::infix(Rule::op_and, Assoc::Left), true),
    (Op::infix(Rule::op_unless, Assoc::Left), false),
    (Op::infix(Rule::op_eql, Assoc::Left), true),
    (Op::infix(Rule::op_neq, Assoc::Left), false),
    (Op::infix(Rule::op_lte, Assoc::Left), false),
    (Op::infix(Rule::op_lss, Assoc::Left), false),
    (Op::infix(Rule::op_gte, Assoc::Left), false),
    (Op::infix(Rule::op_gtr, Assoc::Left), false),
    (Op::infix(Rule::op_trim_upper, Assoc::Left), false),
    (Op::infix(Rule::op_trim_lower, Assoc::Left), false),
    (Op::infix(Rule::op_add, Assoc::Left), true),
    (Op::infix(Rule::op_sub, Assoc::Left), false),
    (Op::infix(Rule::op_mul, Assoc::Left), true),
    (Op::infix(Rule::op_div, Assoc::Left), false),
    (Op::infix(Rule::op_mod, Assoc::Left), false),
    (Op::infix(Rule::op_atan2, Assoc::Left), false),
    // Unary signs bind like `*` in Prometheus' grammar (`%prec MUL`):
    // tighter than `*` to their right, looser than `^`.
    (Op::prefix(Rule::neg), true),
    (Op::prefix(Rule::pos), false),
    (Op::infix(Rule::op_pow, Assoc::Right), true),
    // Ranges, subqueries and modifiers bind tightest.
    (Op::postfix(Rule::range_sel), true),
    (Op::postfix(Rule::offset_mod), false),
    (Op::postfix(Rule::at_mod), false),
    (Op::postfix(Rule::anchored_mod), false),
    (Op::postfix(Rule::smoothed_mod), false),
]);

/// Duration expression operators, with the same precedence as above.
static DURATION_PRATT: ConstPrattParser<Rule, 8> = ConstPrattParser::new_const([
    (Op::infix(Rule::dur_add, Assoc::Left), true),
    (Op::infix(Rule::dur_sub, Assoc::Left), false),
    (Op::infix(Rule::dur_mul, Assoc::Left), true),
    (Op::infix(Rule::dur_div, Assoc::Left), false),
    (Op::infix(Rule::dur_mod, Assoc::Left), false),
    (Op::prefix(Rule::neg), true),
    (Op::prefix(Rule::pos), false),
    (Op::infix(Rule::dur_pow, Assoc::Right), true),
]);

fn is_operator(r: Rule) -> bool {
    !matches!(
        r,
        Rule::number
            | Rule::number_word
            | Rule::string
            | Rule::paren_expr
            | Rule::aggregation
            | Rule::function_call
            | Rule::vector_selector
            | Rule::dur_step
            | Rule::dur_range
            | Rule::dur_min_of
            | Rule::dur_max_of
            | Rule::dur_paren
    )
}

/// Folds the operator chain of `pair` with `pratt`, keeping the operators
/// pending along the nesting path within [`MAX_DEPTH`], which bounds the
/// recursion of the Pratt parser and of the builder.
fn with_chain<T>(b: &Builder<'_>, pair: &Pair<'_, Rule>, fold: impl FnOnce() -> Res<T>) -> Res<T> {
    let ops = pair
        .clone()
        .into_inner()
        .filter(|p| is_operator(p.as_rule()))
        .count();
    let pending = b.pending_ops.get() + ops;
    if pending > MAX_DEPTH {
        return Err(b.err(b.span(pair), too_deep()));
    }
    b.pending_ops.set(pending);
    let r = fold();
    b.pending_ops.set(pending - ops);
    r
}

fn too_deep() -> String {
    format!("expression nested too deeply: more than {MAX_DEPTH} levels")
}

/// Go's `%f`.
fn go_f(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.6}")
    } else {
        lit::format_float(v)
    }
}

impl<'i> Builder<'i> {
    fn err(&self, pos: PosRange, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.input, pos, msg)
    }

    /// Where a pair is, without trailing whitespace and comments.
    fn span(&self, p: &Pair<'_, Rule>) -> PosRange {
        let s = p.as_span();
        let last = self.tokens.partition_point(|t| t.end <= s.end());
        let end = match last.checked_sub(1).map(|i| self.tokens[i].end) {
            Some(end) if end > s.start() => end,
            _ => s.end(),
        };
        PosRange::new(s.start(), end)
    }

    fn node(&self, expr: Expr, depth: usize) -> Res<Node> {
        if depth > MAX_DEPTH {
            return Err(self.err(expr.pos(), too_deep()));
        }
        Ok(Node { expr, depth })
    }

    // ----- expressions

    fn expr(&self, pair: Pair<'i, Rule>) -> Res<Node> {
        with_chain(self, &pair, || {
            PRATT
                .map_primary(|p| self.primary(p))
                .map_prefix(|op, rhs| self.unary(op, rhs?))
                .map_postfix(|lhs, op| self.postfix(lhs?, op))
                .map_infix(|lhs, op, rhs| {
                    let lhs = lhs?;
                    self.binary(lhs, op, rhs?)
                })
                .parse(pair.clone().into_inner())
        })
    }

    fn primary(&self, pair: Pair<'i, Rule>) -> Res<Node> {
        let pos = self.span(&pair);
        match pair.as_rule() {
            Rule::number | Rule::number_word => {
                self.node(Expr::NumberLiteral(self.number_literal(&pair)?), 1)
            }
            Rule::string => {
                let bytes =
                    lit::unquote_bytes(pair.as_str()).map_err(|m| self.unquote_error(&pair, m))?;
                let (value, non_utf8) = match String::from_utf8(bytes) {
                    Ok(value) => (value, None),
                    Err(e) => (
                        String::from_utf8_lossy(e.as_bytes()).into_owned(),
                        Some(e.into_bytes()),
                    ),
                };
                let lit = StringLiteral {
                    value,
                    non_utf8,
                    pos,
                };
                self.node(Expr::StringLiteral(lit), 1)
            }
            Rule::paren_expr => {
                let inner = self.expr(self.first(pair)?)?;
                let expr = Expr::Paren(ParenExpr {
                    expr: Box::new(inner.expr),
                    pos,
                });
                self.node(expr, inner.depth + 1)
            }
            Rule::aggregation => self.aggregation(pair),
            Rule::function_call => self.call(pair),
            Rule::vector_selector => {
                let vs = self.vector_selector(pair)?;
                self.node(Expr::VectorSelector(vs), 1)
            }
            _ => Err(self.unexpected(&pair)),
        }
    }

    fn unexpected(&self, pair: &Pair<'i, Rule>) -> ParseError {
        self.err(
            self.span(pair),
            format!("unexpected {:?} in the parse tree", pair.as_rule()),
        )
    }

    fn first(&self, pair: Pair<'i, Rule>) -> Res<Pair<'i, Rule>> {
        let pos = self.span(&pair);
        pair.into_inner()
            .next()
            .ok_or_else(|| self.err(pos, "incomplete parse tree"))
    }

    fn number_literal(&self, pair: &Pair<'i, Rule>) -> Res<NumberLiteral> {
        let pos = self.span(pair);
        let text = pair.as_str();
        if pair.as_rule() == Rule::number_word {
            let value = lit::parse_number(text).map_err(|m| self.err(pos, m))?;
            return Ok(NumberLiteral {
                value,
                duration: false,
                pos,
            });
        }
        let kind = match lit::scan_numeric(self.input, pos.start) {
            Ok((kind, end)) if end == pos.end => kind,
            Ok(_) => {
                return Err(self.err(
                    PosRange::new(pos.start, self.input.len()),
                    format!(
                        "bad number or duration syntax: {}",
                        ember_model::go_quote(text)
                    ),
                ))
            }
            Err((msg, _)) => return Err(self.err(PosRange::new(pos.start, self.input.len()), msg)),
        };
        let (value, duration) = match kind {
            NumKind::Number => (
                lit::parse_number(text).map_err(|m| self.err(pos, m))?,
                false,
            ),
            NumKind::Duration => {
                let ms = lit::parse_duration(text).map_err(|m| self.err(pos, m))?;
                (ms as f64 / 1000.0, true)
            }
        };
        Ok(NumberLiteral {
            value,
            duration,
            pos,
        })
    }

    fn unquote(&self, pair: &Pair<'i, Rule>) -> Res<String> {
        lit::unquote(pair.as_str()).map_err(|m| self.unquote_error(pair, m))
    }

    fn unquote_error(&self, pair: &Pair<'i, Rule>, msg: String) -> ParseError {
        self.err(
            self.span(pair),
            format!(
                "error unquoting string {}: {msg}",
                ember_model::go_quote(pair.as_str())
            ),
        )
    }

    fn unary(&self, op: Pair<'i, Rule>, rhs: Node) -> Res<Node> {
        let op_pos = self.span(&op);
        let uop = if op.as_rule() == Rule::neg {
            UnaryOp::Neg
        } else {
            UnaryOp::Plus
        };
        if let Expr::NumberLiteral(mut n) = rhs.expr {
            if uop == UnaryOp::Neg {
                n.value = -n.value;
            }
            n.pos.start = op_pos.start;
            return self.node(Expr::NumberLiteral(n), rhs.depth);
        }
        let pos = PosRange::new(op_pos.start, rhs.expr.pos().end);
        let expr = Expr::Unary(UnaryExpr {
            op: uop,
            expr: Box::new(rhs.expr),
            pos,
        });
        self.node(expr, rhs.depth + 1)
    }

    fn binary(&self, lhs: Node, op: Pair<'i, Rule>, rhs: Node) -> Res<Node> {
        let bop = match op.as_rule() {
            Rule::op_or => BinaryOp::Or,
            Rule::op_and => BinaryOp::And,
            Rule::op_unless => BinaryOp::Unless,
            Rule::op_eql => BinaryOp::Eql,
            Rule::op_neq => BinaryOp::Neq,
            Rule::op_lte => BinaryOp::Lte,
            Rule::op_lss => BinaryOp::Lss,
            Rule::op_gte => BinaryOp::Gte,
            Rule::op_gtr => BinaryOp::Gtr,
            Rule::op_trim_upper => BinaryOp::TrimUpper,
            Rule::op_trim_lower => BinaryOp::TrimLower,
            Rule::op_add => BinaryOp::Add,
            Rule::op_sub => BinaryOp::Sub,
            Rule::op_mul => BinaryOp::Mul,
            Rule::op_div => BinaryOp::Div,
            Rule::op_mod => BinaryOp::Mod,
            Rule::op_atan2 => BinaryOp::Atan2,
            Rule::op_pow => BinaryOp::Pow,
            _ => return Err(self.unexpected(&op)),
        };
        let mut matching = VectorMatching::one_to_one();
        let mut return_bool = false;
        for m in op.into_inner() {
            match m.as_rule() {
                Rule::bool_mod => return_bool = true,
                Rule::matching => {
                    let mut inner = m.into_inner();
                    if let (Some(kw), Some(labels)) = (inner.next(), inner.next()) {
                        matching.on = kw.as_rule() == Rule::kw_on;
                        matching.labels = self.grouping_labels(labels)?;
                    }
                }
                Rule::group_mod => {
                    let mut inner = m.into_inner();
                    if let Some(kw) = inner.next() {
                        matching.card = if kw.as_rule() == Rule::kw_group_left {
                            VectorMatchCardinality::ManyToOne
                        } else {
                            VectorMatchCardinality::OneToMany
                        };
                    }
                    if let Some(labels) = inner.next() {
                        matching.include = self.grouping_labels(labels)?;
                    }
                }
                Rule::fill | Rule::fill_left | Rule::fill_right => {
                    let rule = m.as_rule();
                    let value = match m.into_inner().nth(1) {
                        Some(v) => self.fill_value(v)?,
                        None => continue,
                    };
                    if rule != Rule::fill_right {
                        matching.fill.lhs = Some(value);
                    }
                    if rule != Rule::fill_left {
                        matching.fill.rhs = Some(value);
                    }
                }
                _ => {}
            }
        }
        let (lp, rp) = (lhs.expr.pos(), rhs.expr.pos());
        let pos = PosRange::new(lp.start, rp.end);
        if matching.fill.is_set() && !self.opts.enable_binop_fill_modifiers {
            return Err(self.err(pos, "binop fill modifiers are experimental and not enabled"));
        }
        let expr = Expr::Binary(BinaryExpr {
            op: bop,
            lhs: Box::new(lhs.expr),
            rhs: Box::new(rhs.expr),
            return_bool,
            matching: Some(matching),
            pos,
            op_pos: self.op_range(lp.end, rp.start),
        });
        self.node(expr, lhs.depth.max(rhs.depth) + 1)
    }

    /// Prometheus' operator range: trimmed of spaces, inclusive end.
    fn op_range(&self, lhs_end: usize, rhs_start: usize) -> PosRange {
        let b = self.input.as_bytes();
        let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
        let mut start = lhs_end;
        while start < rhs_start && space(b[start]) {
            start += 1;
        }
        let mut end = rhs_start.saturating_sub(1);
        while end > start && space(b[end]) {
            end -= 1;
        }
        PosRange::new(start, end)
    }

    fn fill_value(&self, pair: Pair<'i, Rule>) -> Res<f64> {
        let mut sign = 1.0;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::neg => sign = -1.0,
                Rule::pos => {}
                _ => return Ok(sign * self.number_literal(&p)?.value),
            }
        }
        Ok(0.0)
    }

    fn grouping_labels(&self, pair: Pair<'i, Rule>) -> Res<Vec<String>> {
        let mut out = Vec::new();
        for label in pair.into_inner() {
            if label.as_rule() != Rule::grouping_label {
                continue;
            }
            let pos = self.span(&label);
            let Some(inner) = label.into_inner().next() else {
                continue;
            };
            if inner.as_rule() == Rule::string {
                let name = self.unquote(&inner)?;
                if name.is_empty() {
                    return Err(self.err(pos, "invalid label name for grouping: \"\""));
                }
                out.push(name);
            } else {
                out.push(inner.as_str().to_string());
            }
        }
        Ok(out)
    }

    fn args(&self, pair: Pair<'i, Rule>) -> Res<(Vec<Node>, PosRange)> {
        let pos = self.span(&pair);
        let mut args = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::expr => args.push(self.expr(p)?),
                Rule::trailing_comma => {
                    return Err(self.err(
                        self.span(&p),
                        "trailing commas not allowed in function call args",
                    ))
                }
                _ => {}
            }
        }
        Ok((args, pos))
    }

    fn aggregation(&self, pair: Pair<'i, Rule>) -> Res<Node> {
        let pos = self.span(&pair);
        let mut op = None;
        let mut args = Vec::new();
        let mut grouping = Vec::new();
        let mut without = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::agg_op => op = AggregateOp::from_name(p.as_str()),
                Rule::call_args => args = self.args(p)?.0,
                Rule::grouping => {
                    let mut inner = p.into_inner();
                    if let (Some(kw), Some(labels)) = (inner.next(), inner.next()) {
                        without = kw.as_rule() == Rule::kw_without;
                        grouping = self.grouping_labels(labels)?;
                    }
                }
                _ => {}
            }
        }
        let op = op.ok_or_else(|| self.err(pos, "aggregation operator expected"))?;
        if args.is_empty() {
            return Err(self.err(pos, "no arguments for aggregate expression provided"));
        }
        let want = if op.has_param() {
            if op.is_experimental() && !self.opts.enable_experimental_functions {
                return Err(self.err(
                    pos,
                    format!(
                        "{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
                    ),
                ));
            }
            2
        } else {
            1
        };
        if args.len() != want {
            return Err(self.err(
                pos,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
                    args.len()
                ),
            ));
        }
        let depth = args.iter().map(|a| a.depth).max().unwrap_or(0) + 1;
        let mut args = args.into_iter().map(|a| Box::new(a.expr));
        let param = if want == 2 { args.next() } else { None };
        let expr = args
            .next()
            .ok_or_else(|| self.err(pos, "no arguments for aggregate expression provided"))?;
        let agg = Expr::Aggregate(AggregateExpr {
            op,
            expr,
            param,
            grouping,
            without,
            pos,
        });
        self.node(agg, depth)
    }

    fn call(&self, pair: Pair<'i, Rule>) -> Res<Node> {
        let pos = self.span(&pair);
        let mut inner = pair.into_inner();
        let (Some(name), Some(body)) = (inner.next(), inner.next()) else {
            return Err(self.err(pos, "incomplete function call"));
        };
        let (args, _) = self.args(body)?;
        let name_pos = self.span(&name);
        let name = name.as_str();
        let func = function(name).ok_or_else(|| {
            self.err(
                name_pos,
                format!("unknown function with name {}", ember_model::go_quote(name)),
            )
        })?;
        if func.experimental && !self.opts.enable_experimental_functions {
            return Err(self.err(
                name_pos,
                format!("function {} is not enabled", ember_model::go_quote(name)),
            ));
        }
        let depth = args.iter().map(|a| a.depth).max().unwrap_or(0) + 1;
        let call = Expr::Call(Call {
            func,
            args: args.into_iter().map(|a| a.expr).collect(),
            pos,
        });
        self.node(call, depth)
    }

    fn vector_selector(&self, pair: Pair<'i, Rule>) -> Res<VectorSelector> {
        let pos = self.span(&pair);
        let mut name = None;
        let mut matchers = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::metric_name => name = Some(p.as_str().to_string()),
                Rule::label_matchers => {
                    for m in p.into_inner() {
                        if m.as_rule() == Rule::label_matcher {
                            matchers.push(self.label_matcher(m)?);
                        }
                    }
                }
                _ => return Err(self.unexpected(&p)),
            }
        }
        if let Some(n) = &name {
            matchers.push(Matcher::equal(METRIC_NAME, n.clone()));
        }
        Ok(VectorSelector {
            name,
            matchers,
            offset: DurationValue::Millis(0),
            at: None,
            anchored: false,
            smoothed: false,
            pos,
        })
    }

    fn label_matcher(&self, pair: Pair<'i, Rule>) -> Res<Matcher> {
        let pos = self.span(&pair);
        let parts: Vec<Pair<'i, Rule>> = pair.into_inner().collect();
        match parts.as_slice() {
            [value] => Ok(Matcher::equal(METRIC_NAME, self.unquote(value)?)),
            [label, op, value] => {
                let name = if label.as_rule() == Rule::string {
                    self.unquote(label)?
                } else {
                    label.as_str().to_string()
                };
                let op = match op.as_str() {
                    "=" => MatchOp::Equal,
                    "!=" => MatchOp::NotEqual,
                    "=~" => MatchOp::Regex,
                    _ => MatchOp::NotRegex,
                };
                let value = self.unquote(value)?;
                Matcher::new(op, name, value).map_err(|e| self.err(pos, e.to_string()))
            }
            _ => Err(self.err(pos, "incomplete label matcher")),
        }
    }

    // ----- postfix modifiers

    fn postfix(&self, lhs: Node, op: Pair<'i, Rule>) -> Res<Node> {
        match op.as_rule() {
            Rule::range_sel => self.range(lhs, op),
            Rule::offset_mod => self.offset(lhs, op),
            Rule::at_mod => self.at(lhs, op),
            Rule::anchored_mod | Rule::smoothed_mod => self.extended_range(lhs, op),
            _ => Err(self.unexpected(&op)),
        }
    }

    fn range(&self, lhs: Node, op: Pair<'i, Rule>) -> Res<Node> {
        let bracket = self.span(&op);
        let mut range = None;
        let mut step = None;
        let mut subquery = false;
        for p in op.into_inner() {
            match p.as_rule() {
                Rule::subquery_colon => subquery = true,
                Rule::dur_expr if subquery => step = Some(self.positive_duration(p)?),
                Rule::dur_expr => range = Some(self.positive_duration(p)?),
                _ => {}
            }
        }
        let range = range.ok_or_else(|| self.err(bracket, "missing range"))?;
        let start = lhs.expr.pos().start;
        let pos = PosRange::new(start, bracket.end);
        if subquery {
            let expr = Expr::Subquery(SubqueryExpr {
                expr: Box::new(lhs.expr),
                range,
                step,
                offset: DurationValue::Millis(0),
                at: None,
                pos,
            });
            return self.node(expr, lhs.depth + 1);
        }
        let selector = match lhs.expr {
            Expr::VectorSelector(vs) => {
                if vs.offset != DurationValue::Millis(0) {
                    return Err(self.err(bracket, "no offset modifiers allowed before range"));
                }
                if vs.at.is_some() {
                    return Err(self.err(bracket, "no @ modifiers allowed before range"));
                }
                vs
            }
            _ => return Err(self.err(bracket, "ranges only allowed for vector selectors")),
        };
        let expr = Expr::MatrixSelector(MatrixSelector {
            selector,
            range,
            pos,
        });
        self.node(expr, lhs.depth + 1)
    }

    /// A range or step: must be positive when it is a literal.
    fn positive_duration(&self, pair: Pair<'i, Rule>) -> Res<DurationValue> {
        let d = self.duration_expr(pair)?;
        match d.expr {
            DurationExpr::Number(n) => {
                let ms = (n.value * 1000.0).round() as i64;
                if n.value <= 0.0 || ms <= 0 {
                    return Err(self.err(n.pos, "duration must be greater than 0"));
                }
                Ok(DurationValue::Millis(ms))
            }
            e => Ok(DurationValue::Expr(e)),
        }
    }

    fn offset(&self, lhs: Node, op: Pair<'i, Rule>) -> Res<Node> {
        let end = self.span(&op).end;
        let value_pair = op
            .into_inner()
            .find(|p| p.as_rule() == Rule::offset_value)
            .ok_or_else(|| self.err(lhs.expr.pos(), "missing offset"))?;
        let value = self.offset_value(value_pair)?;
        let mut node = lhs;
        let pos = node.expr.pos();
        let (slot, pos_end) = match &mut node.expr {
            Expr::VectorSelector(vs) => (&mut vs.offset, &mut vs.pos.end),
            Expr::MatrixSelector(ms) => (&mut ms.selector.offset, &mut ms.pos.end),
            Expr::Subquery(sq) => (&mut sq.offset, &mut sq.pos.end),
            _ => {
                return Err(self.err(
                    pos,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if *slot != DurationValue::Millis(0) {
            return Err(self.err(pos, "offset may not be set multiple times"));
        }
        *slot = value;
        *pos_end = end;
        Ok(node)
    }

    /// `offset` takes a signed literal, `step()`, `range()`, `min_of`,
    /// `max_of` or a parenthesized duration expression.
    fn offset_value(&self, pair: Pair<'i, Rule>) -> Res<DurationValue> {
        let mut signs = Vec::new();
        let mut atom = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::neg | Rule::pos => signs.push(p),
                _ => atom = Some(self.duration_primary(p)?),
            }
        }
        let mut d = atom.ok_or_else(|| self.err(PosRange::default(), "missing offset"))?;
        while let Some(sign) = signs.pop() {
            d = self.duration_unary(sign, d)?;
        }
        Ok(match d.expr {
            DurationExpr::Number(n) => DurationValue::Millis((n.value * 1000.0).round() as i64),
            e => DurationValue::Expr(e),
        })
    }

    fn at(&self, lhs: Node, op: Pair<'i, Rule>) -> Res<Node> {
        let end = self.span(&op).end;
        let mut at = None;
        for p in op.into_inner() {
            at = Some(match p.as_rule() {
                Rule::at_start => AtModifier::Start,
                Rule::at_end => AtModifier::End,
                Rule::at_value => {
                    let mut sign = 1.0;
                    let mut value = 0.0;
                    for v in p.into_inner() {
                        match v.as_rule() {
                            Rule::neg => sign = -1.0,
                            Rule::pos => {}
                            _ => value = self.number_literal(&v)?.value,
                        }
                    }
                    let ts = sign * value;
                    if !ts.is_finite() || ts >= i64::MAX as f64 || ts <= i64::MIN as f64 {
                        return Err(self.err(
                            lhs.expr.pos(),
                            format!("timestamp out of bounds for @ modifier: {}", go_f(ts)),
                        ));
                    }
                    AtModifier::Timestamp((ts * 1000.0).round() as i64)
                }
                _ => continue,
            });
        }
        let at = at.ok_or_else(|| self.err(span_end(end), "missing @ value"))?;
        let mut node = lhs;
        let pos = node.expr.pos();
        let (slot, pos_end) = match &mut node.expr {
            Expr::VectorSelector(vs) => (&mut vs.at, &mut vs.pos.end),
            Expr::MatrixSelector(ms) => (&mut ms.selector.at, &mut ms.pos.end),
            Expr::Subquery(sq) => (&mut sq.at, &mut sq.pos.end),
            _ => {
                return Err(self.err(
                    pos,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if slot.is_some() {
            return Err(self.err(pos, "@ <timestamp> may not be set multiple times"));
        }
        *slot = Some(at);
        *pos_end = end;
        Ok(node)
    }

    fn extended_range(&self, lhs: Node, op: Pair<'i, Rule>) -> Res<Node> {
        let anchored = op.as_rule() == Rule::anchored_mod;
        let name = if anchored { "anchored" } else { "smoothed" };
        let pos = lhs.expr.pos();
        if !self.opts.enable_extended_range_selectors {
            return Err(self.err(
                pos,
                format!("{name} modifier is experimental and not enabled"),
            ));
        }
        let mut node = lhs;
        let vs = match &mut node.expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &mut ms.selector,
            Expr::Subquery(_) => {
                return Err(self.err(
                    pos,
                    format!("{name} modifier is not supported for subqueries"),
                ))
            }
            _ => return Err(self.err(pos, format!("{name} modifier not implemented"))),
        };
        if anchored {
            vs.anchored = true;
        } else {
            vs.smoothed = true;
        }
        if vs.anchored && vs.smoothed {
            return Err(self.err(
                pos,
                "anchored and smoothed modifiers cannot be used together",
            ));
        }
        Ok(node)
    }

    // ----- duration expressions

    fn duration_expr(&self, pair: Pair<'i, Rule>) -> Res<DNode> {
        with_chain(self, &pair, || {
            DURATION_PRATT
                .map_primary(|p| self.duration_primary(p))
                .map_prefix(|op, rhs| self.duration_unary(op, rhs?))
                .map_infix(|lhs, op, rhs| {
                    let lhs = lhs?;
                    self.duration_binary(lhs, op, rhs?)
                })
                .parse(pair.clone().into_inner())
        })
    }

    fn dnode(&self, expr: DurationExpr, depth: usize) -> Res<DNode> {
        if depth > MAX_DEPTH {
            return Err(self.err(expr.pos(), too_deep()));
        }
        Ok(DNode { expr, depth })
    }

    fn experimental_duration(&self, pos: PosRange) -> Res<()> {
        if self.opts.experimental_duration_expr {
            Ok(())
        } else {
            Err(self.err(pos, "experimental duration expression is not enabled"))
        }
    }

    fn duration_literal(&self, n: NumberLiteral, report_at: PosRange) -> Res<DNode> {
        if n.value.abs() > lit::MAX_DURATION_SECONDS || n.value.is_nan() {
            return Err(self.err(report_at, "duration out of range"));
        }
        self.dnode(DurationExpr::Number(n), 1)
    }

    fn duration_primary(&self, pair: Pair<'i, Rule>) -> Res<DNode> {
        let pos = self.span(&pair);
        match pair.as_rule() {
            Rule::number | Rule::number_word => {
                let n = self.number_literal(&pair)?;
                self.duration_literal(n, pos)
            }
            Rule::dur_step => {
                self.experimental_duration(pos)?;
                self.dnode(DurationExpr::Step(pos), 1)
            }
            Rule::dur_range => {
                self.experimental_duration(pos)?;
                self.dnode(DurationExpr::Range(pos), 1)
            }
            Rule::dur_min_of | Rule::dur_max_of => {
                let min = pair.as_rule() == Rule::dur_min_of;
                let mut args = pair.into_inner().filter(|p| p.as_rule() == Rule::dur_expr);
                let (Some(a), Some(b)) = (args.next(), args.next()) else {
                    return Err(self.err(pos, "incomplete duration expression"));
                };
                let (a, b) = (self.duration_expr(a)?, self.duration_expr(b)?);
                self.experimental_duration(pos)?;
                let depth = a.depth.max(b.depth) + 1;
                let (lhs, rhs) = (Box::new(a.expr), Box::new(b.expr));
                let e = if min {
                    DurationExpr::MinOf { lhs, rhs, pos }
                } else {
                    DurationExpr::MaxOf { lhs, rhs, pos }
                };
                self.dnode(e, depth)
            }
            Rule::dur_paren => {
                let inner = self.duration_expr(self.first(pair)?)?;
                self.experimental_duration(inner.expr.pos())?;
                match inner.expr {
                    // Prometheus keeps one level of parentheses.
                    DurationExpr::Paren { expr, .. } => {
                        self.dnode(DurationExpr::Paren { expr, pos }, inner.depth)
                    }
                    e => self.dnode(
                        DurationExpr::Paren {
                            expr: Box::new(e),
                            pos,
                        },
                        inner.depth + 1,
                    ),
                }
            }
            _ => Err(self.unexpected(&pair)),
        }
    }

    fn duration_unary(&self, op: Pair<'i, Rule>, rhs: DNode) -> Res<DNode> {
        let op_pos = self.span(&op);
        let neg = op.as_rule() == Rule::neg;
        match rhs.expr {
            DurationExpr::Number(mut n) => {
                if neg {
                    n.value = -n.value;
                }
                n.pos.start = op_pos.start;
                self.duration_literal(n, op_pos)
            }
            e if neg => {
                let pos = PosRange::new(op_pos.start, e.pos().end);
                self.dnode(
                    DurationExpr::Neg {
                        expr: Box::new(e),
                        pos,
                    },
                    rhs.depth + 1,
                )
            }
            e => self.dnode(e, rhs.depth),
        }
    }

    fn duration_binary(&self, lhs: DNode, op: Pair<'i, Rule>, rhs: DNode) -> Res<DNode> {
        let op_pos = self.span(&op);
        let bop = match op.as_rule() {
            Rule::dur_add => BinaryOp::Add,
            Rule::dur_sub => BinaryOp::Sub,
            Rule::dur_mul => BinaryOp::Mul,
            Rule::dur_div => BinaryOp::Div,
            Rule::dur_mod => BinaryOp::Mod,
            Rule::dur_pow => BinaryOp::Pow,
            _ => return Err(self.unexpected(&op)),
        };
        self.experimental_duration(lhs.expr.pos())?;
        if let DurationExpr::Number(n) = &rhs.expr {
            if n.value == 0.0 && bop == BinaryOp::Div {
                return Err(self.err(op_pos, "division by zero"));
            }
            if n.value == 0.0 && bop == BinaryOp::Mod {
                return Err(self.err(op_pos, "modulo by zero"));
            }
        }
        let depth = lhs.depth.max(rhs.depth) + 1;
        self.dnode(
            DurationExpr::Binary {
                op: bop,
                lhs: Box::new(lhs.expr),
                rhs: Box::new(rhs.expr),
            },
            depth,
        )
    }
}

fn span_end(end: usize) -> PosRange {
    PosRange::new(end, end)
}
