//! The PromQL abstract syntax tree.
//!
//! Every node records where it came from as a [`PosRange`] of byte offsets
//! into the query text, so errors and annotations can cite `line:col`.
//! The tree returned by the parser has been type checked: operand types fit
//! their operators and functions, set operators are many-to-many, and
//! [`BinaryExpr::matching`] is present exactly when both operands are
//! instant vectors.

use std::fmt;

use ember_model::{MatchOp, Matcher, METRIC_NAME};

use super::functions::FunctionDef;

/// A half-open range `start..end` of byte offsets into the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PosRange {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset just past the last byte.
    pub end: usize,
}

impl PosRange {
    /// A range from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        PosRange { start, end }
    }

    /// The smallest range covering both.
    pub fn merge(self, other: PosRange) -> PosRange {
        PosRange::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// 1-based line and column (counted in bytes) of `start` in `query`, as
    /// Prometheus prints them.
    pub fn line_col(&self, query: &str) -> (usize, usize) {
        let upto = query
            .as_bytes()
            .get(..self.start)
            .unwrap_or(query.as_bytes());
        let line = 1 + upto.iter().filter(|&&b| b == b'\n').count();
        let col = match upto.iter().rposition(|&b| b == b'\n') {
            Some(nl) => self.start - nl,
            None => self.start + 1,
        };
        (line, col)
    }
}

/// The type a PromQL expression evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A single number.
    Scalar,
    /// An instant vector: one sample per series.
    Vector,
    /// A range vector: a window of samples per series.
    Matrix,
    /// A string.
    String,
}

impl ValueType {
    /// The internal name Prometheus uses (`scalar`, `vector`, `matrix`,
    /// `string`), as in API responses.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }

    /// The name the documentation uses (`instant vector`, `range vector`),
    /// as in error messages.
    pub fn documented(self) -> &'static str {
        match self {
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `sum by (job) (x)`, `topk(3, x)`.
    Aggregate(AggregateExpr),
    /// `a + on(job) b`, `x > bool 1`.
    Binary(BinaryExpr),
    /// `rate(x[5m])`.
    Call(Call),
    /// `x[5m]`.
    MatrixSelector(MatrixSelector),
    /// `1`, `2.5e3`, `5m` (a duration used as a number of seconds).
    NumberLiteral(NumberLiteral),
    /// `(a + b)`.
    Paren(ParenExpr),
    /// `"text"`.
    StringLiteral(StringLiteral),
    /// `expr[1h:1m]`.
    Subquery(SubqueryExpr),
    /// `-x`, `+x`.
    Unary(UnaryExpr),
    /// `x{job="api"}`.
    VectorSelector(VectorSelector),
}

impl Expr {
    /// The type this expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Aggregate(_) | Expr::VectorSelector(_) => ValueType::Vector,
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.return_type,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::NumberLiteral(_) => ValueType::Scalar,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::StringLiteral(_) => ValueType::String,
            Expr::Unary(u) => u.expr.value_type(),
        }
    }

    /// Where this expression is in the query text.
    pub fn pos(&self) -> PosRange {
        match self {
            Expr::Aggregate(e) => e.pos,
            Expr::Binary(e) => e.pos,
            Expr::Call(e) => e.pos,
            Expr::MatrixSelector(e) => e.pos,
            Expr::NumberLiteral(e) => e.pos,
            Expr::Paren(e) => e.pos,
            Expr::StringLiteral(e) => e.pos,
            Expr::Subquery(e) => e.pos,
            Expr::Unary(e) => e.pos,
            Expr::VectorSelector(e) => e.pos,
        }
    }

    /// The direct sub-expressions, in source order. Duration expressions in
    /// ranges and offsets are not expressions and are not included.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Aggregate(a) => a.param.iter().map(|p| &**p).chain([&*a.expr]).collect(),
            Expr::Binary(b) => vec![&*b.lhs, &*b.rhs],
            Expr::Call(c) => c.args.iter().collect(),
            Expr::Paren(p) => vec![&*p.expr],
            Expr::Subquery(s) => vec![&*s.expr],
            Expr::Unary(u) => vec![&*u.expr],
            Expr::MatrixSelector(_)
            | Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_) => Vec::new(),
        }
    }

    /// A copy with every position set to zero and the matchers of each
    /// selector in printed order, so that two parses of equivalent text
    /// compare equal: `parse(q).normalized() == parse(&parse(q).to_string()).normalized()`.
    pub fn normalized(&self) -> Expr {
        let mut e = self.clone();
        e.normalize();
        e
    }

    fn normalize(&mut self) {
        let zero = PosRange::default();
        match self {
            Expr::Aggregate(a) => {
                a.pos = zero;
                a.expr.normalize();
                if let Some(p) = &mut a.param {
                    p.normalize();
                }
            }
            Expr::Binary(b) => {
                b.pos = zero;
                b.op_pos = zero;
                b.lhs.normalize();
                b.rhs.normalize();
            }
            Expr::Call(c) => {
                c.pos = zero;
                c.args.iter_mut().for_each(Expr::normalize);
            }
            Expr::MatrixSelector(m) => {
                m.pos = zero;
                m.selector.normalize();
                m.range.normalize();
            }
            Expr::NumberLiteral(n) => n.pos = zero,
            Expr::Paren(p) => {
                p.pos = zero;
                p.expr.normalize();
            }
            Expr::StringLiteral(s) => s.pos = zero,
            Expr::Subquery(s) => {
                s.pos = zero;
                s.expr.normalize();
                s.range.normalize();
                if let Some(step) = &mut s.step {
                    step.normalize();
                }
                s.offset.normalize();
            }
            Expr::Unary(u) => {
                u.pos = zero;
                u.expr.normalize();
            }
            Expr::VectorSelector(v) => v.normalize(),
        }
    }
}

/// An aggregation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk(k, v)`
    Topk,
    /// `bottomk(k, v)`
    Bottomk,
    /// `count_values("label", v)`
    CountValues,
    /// `quantile(q, v)`
    Quantile,
    /// `limitk(k, v)` (experimental)
    Limitk,
    /// `limit_ratio(r, v)` (experimental)
    LimitRatio,
}

impl AggregateOp {
    /// Every aggregation operator.
    pub const ALL: [AggregateOp; 14] = [
        AggregateOp::Sum,
        AggregateOp::Avg,
        AggregateOp::Count,
        AggregateOp::Min,
        AggregateOp::Max,
        AggregateOp::Group,
        AggregateOp::Stddev,
        AggregateOp::Stdvar,
        AggregateOp::Topk,
        AggregateOp::Bottomk,
        AggregateOp::CountValues,
        AggregateOp::Quantile,
        AggregateOp::Limitk,
        AggregateOp::LimitRatio,
    ];

    /// The operator as written (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Looks an operator up by name, ignoring case as PromQL does.
    pub fn from_name(name: &str) -> Option<AggregateOp> {
        AggregateOp::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether the operator takes a parameter before the vector.
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::CountValues
                | AggregateOp::Quantile
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        )
    }

    /// Whether the operator is behind the experimental-functions flag.
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

impl fmt::Display for AggregateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An aggregation: `op [by|without (labels)] ([param,] expr)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    /// The operator.
    pub op: AggregateOp,
    /// The instant vector being aggregated.
    pub expr: Box<Expr>,
    /// The parameter of `topk`, `bottomk`, `quantile`, `count_values`,
    /// `limitk` and `limit_ratio`.
    pub param: Option<Box<Expr>>,
    /// The labels of `by (...)` or `without (...)`, as written.
    pub grouping: Vec<String>,
    /// Whether `grouping` lists the labels to drop (`without`) rather than
    /// the ones to keep (`by`).
    pub without: bool,
    /// From the operator to the closing parenthesis or grouping clause.
    pub pos: PosRange,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `<`
    Lss,
    /// `<=`
    Lte,
    /// `>`
    Gtr,
    /// `>=`
    Gte,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
    /// `</`: trims the upper part of native histogram buckets.
    TrimUpper,
    /// `>/`: trims the lower part of native histogram buckets.
    TrimLower,
}

impl BinaryOp {
    /// The operator as written (keywords in lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Lss => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Gtr => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
        }
    }

    /// `==`, `!=`, `<`, `<=`, `>`, `>=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql
                | BinaryOp::Neq
                | BinaryOp::Lss
                | BinaryOp::Lte
                | BinaryOp::Gtr
                | BinaryOp::Gte
        )
    }

    /// `and`, `or`, `unless`.
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A binary operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// The left operand.
    pub lhs: Box<Expr>,
    /// The right operand.
    pub rhs: Box<Expr>,
    /// `bool`: a comparison returns 0/1 instead of filtering.
    pub return_bool: bool,
    /// How series are matched; present exactly when both operands are
    /// instant vectors.
    pub matching: Option<VectorMatching>,
    /// From the start of `lhs` to the end of `rhs`.
    pub pos: PosRange,
    /// The operator and its modifiers, as Prometheus reports it in errors:
    /// from the first non-space byte after `lhs` to the last non-space byte
    /// before `rhs`, inclusive at both ends.
    pub op_pos: PosRange,
}

/// The cardinality of a vector match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VectorMatchCardinality {
    /// Each series matches at most one on the other side.
    OneToOne,
    /// `group_left`: many series on the left may match one on the right.
    ManyToOne,
    /// `group_right`: one series on the left may match many on the right.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

impl VectorMatchCardinality {
    /// `one-to-one`, `many-to-one`, `one-to-many`, `many-to-many`.
    pub fn as_str(self) -> &'static str {
        match self {
            VectorMatchCardinality::OneToOne => "one-to-one",
            VectorMatchCardinality::ManyToOne => "many-to-one",
            VectorMatchCardinality::OneToMany => "one-to-many",
            VectorMatchCardinality::ManyToMany => "many-to-many",
        }
    }
}

/// How the series of two instant vectors are matched.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    /// The cardinality of the match.
    pub card: VectorMatchCardinality,
    /// With `on`, the labels to match on; otherwise (`ignoring`, or no
    /// modifier) the labels to ignore.
    pub labels: Vec<String>,
    /// Whether `on(...)` was given.
    pub on: bool,
    /// The labels of `group_left(...)`/`group_right(...)` to copy from the
    /// "one" side.
    pub include: Vec<String>,
    /// `fill`, `fill_left`, `fill_right`: values for missing series.
    pub fill: FillValues,
}

impl VectorMatching {
    /// One-to-one matching on all labels.
    pub fn one_to_one() -> Self {
        VectorMatching {
            card: VectorMatchCardinality::OneToOne,
            labels: Vec::new(),
            on: false,
            include: Vec::new(),
            fill: FillValues::default(),
        }
    }
}

/// Values to use for a series that has no match on the other side.
#[derive(Debug, Clone, Copy, Default)]
pub struct FillValues {
    /// The value for a missing left-hand series.
    pub lhs: Option<f64>,
    /// The value for a missing right-hand series.
    pub rhs: Option<f64>,
}

impl FillValues {
    /// Whether any fill value is set.
    pub fn is_set(&self) -> bool {
        self.lhs.is_some() || self.rhs.is_some()
    }
}

impl PartialEq for FillValues {
    fn eq(&self, other: &Self) -> bool {
        let eq = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => float_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        eq(self.lhs, other.lhs) && eq(self.rhs, other.rhs)
    }
}

/// Float equality for the AST: NaN equals NaN, `0` equals `-0`.
fn float_eq(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// A function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function, from [`crate::FUNCTIONS`].
    pub func: &'static FunctionDef,
    /// The arguments.
    pub args: Vec<Expr>,
    /// From the function name to the closing parenthesis.
    pub pos: PosRange,
}

/// A range vector selector: `selector[range]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    /// The selector, which also carries the `offset`, `@`, `anchored` and
    /// `smoothed` modifiers written after the range.
    pub selector: VectorSelector,
    /// The window length; always positive once evaluated.
    pub range: DurationValue,
    /// From the selector to the end of its last modifier.
    pub pos: PosRange,
}

/// A subquery: `expr[range:step]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    /// The instant-vector expression evaluated at each step.
    pub expr: Box<Expr>,
    /// The window length.
    pub range: DurationValue,
    /// The resolution; `None` for `[range:]`, which uses the default step.
    pub step: Option<DurationValue>,
    /// `offset`; `Millis(0)` when absent.
    pub offset: DurationValue,
    /// `@` modifier.
    pub at: Option<AtModifier>,
    /// From the start of `expr` to the end of the last modifier.
    pub pos: PosRange,
}

/// A number.
#[derive(Debug, Clone, Copy)]
pub struct NumberLiteral {
    /// The value; for a duration, in seconds.
    pub value: f64,
    /// Whether it was written as a duration (`5m`); it is printed as one.
    pub duration: bool,
    /// Where it is, including a folded leading sign.
    pub pos: PosRange,
}

impl PartialEq for NumberLiteral {
    fn eq(&self, other: &Self) -> bool {
        float_eq(self.value, other.value)
            && self.duration == other.duration
            && self.pos == other.pos
    }
}

/// An expression in parentheses.
#[derive(Debug, Clone, PartialEq)]
pub struct ParenExpr {
    /// The inner expression.
    pub expr: Box<Expr>,
    /// Including the parentheses.
    pub pos: PosRange,
}

/// A string.
#[derive(Debug, Clone, PartialEq)]
pub struct StringLiteral {
    /// The value, unquoted. If escapes made it invalid UTF-8, a lossy copy
    /// (see [`Self::non_utf8`]).
    pub value: String,
    /// The exact bytes when `\x` or octal escapes produced invalid UTF-8
    /// (`"a\xc5z"`). Prometheus accepts such literals and fails only where a
    /// valid string is needed (a label name, a regex), quoting the bytes in
    /// its message; this keeps them for that.
    pub non_utf8: Option<Vec<u8>>,
    /// Including the quotes.
    pub pos: PosRange,
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `+`
    Plus,
}

impl UnaryOp {
    /// `-` or `+`.
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Plus => "+",
        }
    }
}

/// A unary operation on a scalar or instant vector. A sign directly on a
/// number literal is folded into the literal instead.
#[derive(Debug, Clone, PartialEq)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand.
    pub expr: Box<Expr>,
    /// From the operator to the end of the operand.
    pub pos: PosRange,
}

/// The `@` modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtModifier {
    /// `@ <timestamp>`: milliseconds since the epoch.
    Timestamp(i64),
    /// `@ start()`: the start of the query range.
    Start,
    /// `@ end()`: the end of the query range.
    End,
}

/// An instant vector selector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    /// The metric name when written before the braces (`foo{...}`); a name
    /// given as a matcher (`{__name__="foo"}`, `{"foo"}`) leaves this `None`.
    pub name: Option<String>,
    /// All matchers, in source order; a name written before the braces is
    /// included as a final `__name__="..."` matcher.
    pub matchers: Vec<Matcher>,
    /// `offset`; `Millis(0)` when absent. Negative values look ahead.
    pub offset: DurationValue,
    /// `@` modifier.
    pub at: Option<AtModifier>,
    /// The `anchored` range modifier (experimental).
    pub anchored: bool,
    /// The `smoothed` range modifier (experimental).
    pub smoothed: bool,
    /// From the name or `{` to the end of the last modifier. For a selector
    /// inside a [`MatrixSelector`], only up to the range.
    pub pos: PosRange,
}

impl VectorSelector {
    /// The matchers other than the one generated from [`Self::name`].
    pub fn explicit_matchers(&self) -> &[Matcher] {
        let n = self.matchers.len();
        if self.name.is_some() && n > 0 {
            &self.matchers[..n - 1]
        } else {
            &self.matchers
        }
    }

    /// Whether `m` is the matcher implied by the metric name, which the
    /// printer leaves out.
    pub(crate) fn is_name_matcher(&self, m: &Matcher) -> bool {
        m.name() == METRIC_NAME
            && m.op() == MatchOp::Equal
            && !m.value().is_empty()
            && self.name.as_deref() == Some(m.value())
    }

    fn normalize(&mut self) {
        self.pos = PosRange::default();
        self.offset.normalize();
        let n = self.explicit_matchers().len();
        self.matchers[..n].sort_by_cached_key(|m| m.to_string());
    }
}

/// A duration that is either known at parse time or computed from a
/// duration expression (`[5m + step()]`, `offset min_of(1h, range())`).
#[derive(Debug, Clone, PartialEq)]
pub enum DurationValue {
    /// A fixed duration in milliseconds.
    Millis(i64),
    /// An expression evaluated once per query.
    Expr(DurationExpr),
}

impl DurationValue {
    /// The fixed value, if there is no expression.
    pub fn as_millis(&self) -> Option<i64> {
        match self {
            DurationValue::Millis(ms) => Some(*ms),
            DurationValue::Expr(_) => None,
        }
    }

    fn normalize(&mut self) {
        if let DurationValue::Expr(e) = self {
            e.normalize();
        }
    }
}

/// An expression over durations (experimental): arithmetic on numbers
/// (seconds) and durations, `step()`, `range()`, `min_of` and `max_of`.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationExpr {
    /// A number (seconds) or duration literal.
    Number(NumberLiteral),
    /// `step()`: the query's resolution step.
    Step(PosRange),
    /// `range()`: the query's range (end - start).
    Range(PosRange),
    /// `-expr` (a sign on a literal is folded into it).
    Neg {
        /// The operand.
        expr: Box<DurationExpr>,
        /// From the sign to the end of the operand.
        pos: PosRange,
    },
    /// `lhs op rhs` with `op` one of `+ - * / % ^`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left operand.
        lhs: Box<DurationExpr>,
        /// The right operand.
        rhs: Box<DurationExpr>,
    },
    /// `min_of(a, b)`.
    MinOf {
        /// First argument.
        lhs: Box<DurationExpr>,
        /// Second argument.
        rhs: Box<DurationExpr>,
        /// From the name to the closing parenthesis.
        pos: PosRange,
    },
    /// `max_of(a, b)`.
    MaxOf {
        /// First argument.
        lhs: Box<DurationExpr>,
        /// Second argument.
        rhs: Box<DurationExpr>,
        /// From the name to the closing parenthesis.
        pos: PosRange,
    },
    /// `(expr)`.
    Paren {
        /// The inner expression; never itself a `Paren`.
        expr: Box<DurationExpr>,
        /// Including the parentheses.
        pos: PosRange,
    },
}

impl DurationExpr {
    /// Where this expression is in the query text.
    pub fn pos(&self) -> PosRange {
        match self {
            DurationExpr::Number(n) => n.pos,
            DurationExpr::Step(p) | DurationExpr::Range(p) => *p,
            DurationExpr::Neg { pos, .. }
            | DurationExpr::MinOf { pos, .. }
            | DurationExpr::MaxOf { pos, .. }
            | DurationExpr::Paren { pos, .. } => *pos,
            DurationExpr::Binary { lhs, rhs, .. } => lhs.pos().merge(rhs.pos()),
        }
    }

    fn normalize(&mut self) {
        let zero = PosRange::default();
        match self {
            DurationExpr::Number(n) => n.pos = zero,
            DurationExpr::Step(p) | DurationExpr::Range(p) => *p = zero,
            DurationExpr::Neg { expr, pos } | DurationExpr::Paren { expr, pos } => {
                *pos = zero;
                expr.normalize();
            }
            DurationExpr::Binary { lhs, rhs, .. } => {
                lhs.normalize();
                rhs.normalize();
            }
            DurationExpr::MinOf { lhs, rhs, pos } | DurationExpr::MaxOf { lhs, rhs, pos } => {
                *pos = zero;
                lhs.normalize();
                rhs.normalize();
            }
        }
    }
}
