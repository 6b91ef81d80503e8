//! Turning a parsed expression into the tree the evaluator walks.
//!
//! This is Prometheus' query preparation: `start()`, `end()`, `range()` and
//! `step()` become numbers, duration expressions are computed against the
//! query's step and range, `@ start()` / `@ end()` become timestamps,
//! parentheses disappear, and the largest step-invariant subtrees (those
//! under an `@` modifier) are wrapped so that they are evaluated once.
//! Every selector gets an id and the time range it reads, so that its
//! series can be selected once for the whole query.

use ember_model::Matcher;
use ember_storage::SelectHints;

use super::QueryError;
use crate::{
    AggregateOp, AtModifier, BinaryOp, DurationExpr, DurationValue, Expr, FunctionDef, PosRange,
    UnaryOp, ValueType, VectorMatching, VectorSelector,
};

/// A vector selector, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Selector {
    /// Index into the query's table of selected series.
    pub id: usize,
    /// Index into the query's table of effective offsets.
    pub oid: usize,
    /// The label matchers.
    pub matchers: Vec<Matcher>,
    /// `offset` in ms (negative looks ahead).
    pub offset: i64,
    /// The `@` timestamp in ms.
    pub at: Option<i64>,
    /// `anchored` range modifier.
    pub anchored: bool,
    /// `smoothed` range modifier.
    pub smoothed: bool,
    /// Where the selector is written.
    pub pos: PosRange,
}

/// A node of the evaluation tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A number.
    Number { value: f64, pos: PosRange },
    /// A string.
    String {
        value: String,
        /// The literal as Prometheus prints it (quoted), for messages.
        quoted: String,
        /// Whether escapes made the literal invalid UTF-8.
        invalid_utf8: bool,
        pos: PosRange,
    },
    /// An instant vector selector.
    VectorSelector(Selector),
    /// A range vector selector.
    MatrixSelector {
        sel: Selector,
        range: i64,
        pos: PosRange,
    },
    /// `expr[range:step]`.
    Subquery {
        expr: Box<Node>,
        range: i64,
        /// 0 when not given (the engine's default applies).
        step: i64,
        offset: i64,
        at: Option<i64>,
        /// Index into the query's table of effective offsets.
        oid: usize,
        pos: PosRange,
    },
    /// `-expr` (a unary plus is dropped).
    Neg { expr: Box<Node>, pos: PosRange },
    /// A binary operation.
    Binary {
        op: BinaryOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
        return_bool: bool,
        matching: Option<VectorMatching>,
        pos: PosRange,
    },
    /// An aggregation; `grouping` is sorted.
    Aggregate {
        op: AggregateOp,
        expr: Box<Node>,
        param: Option<Box<Node>>,
        grouping: Vec<String>,
        without: bool,
        pos: PosRange,
    },
    /// A function call.
    Call {
        func: &'static FunctionDef,
        args: Vec<Node>,
        pos: PosRange,
    },
    /// A subtree evaluated once, at the first step, and repeated.
    StepInvariant(Box<Node>),
}

impl Node {
    /// Where the node is in the query.
    pub fn pos(&self) -> PosRange {
        match self {
            Node::Number { pos, .. }
            | Node::String { pos, .. }
            | Node::MatrixSelector { pos, .. }
            | Node::Subquery { pos, .. }
            | Node::Neg { pos, .. }
            | Node::Binary { pos, .. }
            | Node::Aggregate { pos, .. }
            | Node::Call { pos, .. } => *pos,
            Node::VectorSelector(s) => s.pos,
            Node::StepInvariant(e) => e.pos(),
        }
    }

    /// The type the node evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Node::Number { .. } => ValueType::Scalar,
            Node::String { .. } => ValueType::String,
            Node::VectorSelector(_) | Node::Aggregate { .. } => ValueType::Vector,
            Node::MatrixSelector { .. } | Node::Subquery { .. } => ValueType::Matrix,
            Node::Neg { expr, .. } => expr.value_type(),
            Node::Binary { lhs, rhs, .. } => {
                if lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Node::Call { func, .. } => func.return_type,
            Node::StepInvariant(e) => e.value_type(),
        }
    }

    /// The node without step-invariance wrappers.
    pub fn unwrapped(&self) -> &Node {
        match self {
            Node::StepInvariant(e) => e.unwrapped(),
            other => other,
        }
    }
}

/// A selector's series request: matchers and the hints Prometheus passes.
#[derive(Debug, Clone)]
pub(crate) struct SelectRequest {
    pub matchers: Vec<Matcher>,
    pub hints: SelectHints,
}

/// The prepared query.
#[derive(Debug)]
pub(crate) struct Plan {
    pub root: Node,
    /// One request per selector id.
    pub selects: Vec<SelectRequest>,
    /// Earliest and latest timestamps any selector reads.
    pub mint: i64,
    pub maxt: i64,
    /// Size of the table of effective offsets.
    pub num_offsets: usize,
}

/// Query parameters the plan depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanParams {
    pub start: i64,
    pub end: i64,
    /// 0 for instant queries.
    pub step: i64,
    pub lookback: i64,
    pub default_subquery_step: i64,
}

/// Prepares `expr` for evaluation.
pub(crate) fn plan(expr: &Expr, p: PlanParams) -> Result<Plan, QueryError> {
    let mut b = Builder {
        p,
        next_id: 0,
        next_oid: 0,
        in_param: false,
    };
    let mut root = b.node(expr)?;
    let (_, wrap) = mark_invariant(&mut root);
    if wrap {
        root = Node::StepInvariant(Box::new(root));
    }
    let mut c = Collector {
        p,
        selects: Vec::new(),
        mint: i64::MAX,
        maxt: i64::MIN,
    };
    let mut path = Vec::new();
    c.walk(&root, &mut path, 0);
    let (mint, maxt) = if c.maxt == i64::MIN {
        (0, 0)
    } else {
        (c.mint, c.maxt)
    };
    c.selects.sort_by_key(|(id, _)| *id);
    Ok(Plan {
        root,
        selects: c.selects.into_iter().map(|(_, r)| r).collect(),
        mint,
        maxt,
        num_offsets: b.next_oid,
    })
}

struct Builder {
    p: PlanParams,
    next_id: usize,
    next_oid: usize,
    /// Inside an aggregation's parameter, which Prometheus' preparation
    /// does not visit: `@ start()` and `@ end()` stay unresolved there and
    /// have no effect.
    in_param: bool,
}

impl Builder {
    fn node(&mut self, e: &Expr) -> Result<Node, QueryError> {
        Ok(match e {
            Expr::Paren(p) => self.node(&p.expr)?,
            Expr::NumberLiteral(n) => Node::Number {
                value: n.value,
                pos: n.pos,
            },
            Expr::StringLiteral(s) => Node::String {
                value: s.value.clone(),
                quoted: e.to_string(),
                invalid_utf8: s.non_utf8.is_some(),
                pos: s.pos,
            },
            Expr::Unary(u) => {
                let inner = self.node(&u.expr)?;
                match u.op {
                    UnaryOp::Plus => inner,
                    UnaryOp::Neg => Node::Neg {
                        expr: Box::new(inner),
                        pos: u.pos,
                    },
                }
            }
            Expr::VectorSelector(vs) => Node::VectorSelector(self.selector(vs)?),
            Expr::MatrixSelector(m) => Node::MatrixSelector {
                sel: self.selector(&m.selector)?,
                range: self.duration(&m.range, false)?,
                pos: m.pos,
            },
            Expr::Subquery(s) => {
                let expr = self.node(&s.expr)?;
                let step = match &s.step {
                    Some(d) => self.duration(d, false)?,
                    None => 0,
                };
                Node::Subquery {
                    expr: Box::new(expr),
                    range: self.duration(&s.range, false)?,
                    step,
                    offset: self.duration(&s.offset, true)?,
                    at: self.at(s.at),
                    oid: self.oid(),
                    pos: s.pos,
                }
            }
            Expr::Binary(b) => Node::Binary {
                op: b.op,
                lhs: Box::new(self.node(&b.lhs)?),
                rhs: Box::new(self.node(&b.rhs)?),
                return_bool: b.return_bool,
                matching: b.matching.clone(),
                pos: b.pos,
            },
            Expr::Aggregate(a) => {
                let param = match &a.param {
                    Some(p) => {
                        let outer = std::mem::replace(&mut self.in_param, true);
                        let n = self.node(p);
                        self.in_param = outer;
                        Some(Box::new(n?))
                    }
                    None => None,
                };
                let mut grouping = a.grouping.clone();
                grouping.sort();
                Node::Aggregate {
                    op: a.op,
                    expr: Box::new(self.node(&a.expr)?),
                    param,
                    grouping,
                    without: a.without,
                    pos: a.pos,
                }
            }
            Expr::Call(c) => {
                let p = self.p;
                let seconds = |ms: i64| ms as f64 / 1000.0;
                let folded = match c.func.name {
                    "start" => Some(seconds(p.start)),
                    "end" => Some(seconds(p.end)),
                    "range" => Some(range_secs(p)),
                    "step" => Some(if p.start != p.end {
                        seconds(p.step)
                    } else {
                        0.0
                    }),
                    _ => None,
                };
                match folded {
                    Some(value) => Node::Number { value, pos: c.pos },
                    None => Node::Call {
                        func: c.func,
                        args: c
                            .args
                            .iter()
                            .map(|a| self.node(a))
                            .collect::<Result<_, _>>()?,
                        pos: c.pos,
                    },
                }
            }
        })
    }

    fn oid(&mut self) -> usize {
        self.next_oid += 1;
        self.next_oid - 1
    }

    fn at(&self, at: Option<AtModifier>) -> Option<i64> {
        match at? {
            AtModifier::Timestamp(t) => Some(t),
            _ if self.in_param => None,
            AtModifier::Start => Some(self.p.start),
            AtModifier::End => Some(self.p.end),
        }
    }

    fn selector(&mut self, vs: &VectorSelector) -> Result<Selector, QueryError> {
        let id = self.next_id;
        self.next_id += 1;
        Ok(Selector {
            id,
            oid: self.oid(),
            matchers: vs.matchers.clone(),
            offset: self.duration(&vs.offset, true)?,
            at: self.at(vs.at),
            anchored: vs.anchored,
            smoothed: vs.smoothed,
            pos: vs.pos,
        })
    }

    /// A duration in ms; expressions are computed as Prometheus' duration
    /// visitor does (in seconds, then truncated to milliseconds).
    fn duration(&self, d: &DurationValue, allow_negative: bool) -> Result<i64, QueryError> {
        let e = match d {
            DurationValue::Millis(ms) => return Ok(*ms),
            DurationValue::Expr(e) => e,
        };
        let v = self.duration_expr(e)?;
        let pos = duration_pos(e);
        let fail = |m: &str| QueryError::Evaluation(format!("{}:{}: {m}", pos.start, pos.end));
        if !v.is_finite() {
            return Err(fail("duration is NaN or infinite"));
        }
        if v <= 0.0 && !allow_negative {
            return Err(fail("duration must be greater than 0"));
        }
        // i64::MAX nanoseconds, in seconds.
        let limit = i64::MAX as f64 / 1e9;
        if v > limit || v < -limit {
            return Err(fail("duration is out of range"));
        }
        Ok((v * 1000.0) as i64)
    }

    fn duration_expr(&self, e: &DurationExpr) -> Result<f64, QueryError> {
        let p = self.p;
        Ok(match e {
            DurationExpr::Number(n) => n.value,
            DurationExpr::Step(_) => p.step as f64 / 1000.0,
            DurationExpr::Range(_) => range_secs(p),
            DurationExpr::Neg { expr, .. } => -self.duration_expr(expr)?,
            DurationExpr::Paren { expr, .. } => self.duration_expr(expr)?,
            DurationExpr::MinOf { lhs, rhs, .. } => {
                super::math::go_min(self.duration_expr(lhs)?, self.duration_expr(rhs)?)
            }
            DurationExpr::MaxOf { lhs, rhs, .. } => {
                super::math::go_max(self.duration_expr(lhs)?, self.duration_expr(rhs)?)
            }
            DurationExpr::Binary { op, lhs, rhs } => {
                let l = self.duration_expr(lhs)?;
                let r = self.duration_expr(rhs)?;
                let pos = duration_pos(e);
                match op {
                    BinaryOp::Add => l + r,
                    BinaryOp::Sub => l - r,
                    BinaryOp::Mul => l * r,
                    BinaryOp::Div if r == 0.0 => {
                        return Err(QueryError::Evaluation(format!(
                            "{}:{}: division by zero",
                            pos.start, pos.end
                        )))
                    }
                    BinaryOp::Div => l / r,
                    BinaryOp::Mod if r == 0.0 => {
                        return Err(QueryError::Evaluation(format!(
                            "{}:{}: modulo by zero",
                            pos.start, pos.end
                        )))
                    }
                    BinaryOp::Mod => l % r,
                    BinaryOp::Pow => super::math::go_pow(l, r),
                    other => {
                        return Err(QueryError::Evaluation(format!(
                            "unexpected duration expression operator {:?}",
                            other.as_str()
                        )))
                    }
                }
            }
        })
    }
}

/// The query's range in seconds.
fn range_secs(p: PlanParams) -> f64 {
    (i128::from(p.end) - i128::from(p.start)) as f64 / 1000.0
}

/// A duration expression's position as Prometheus reports it: parentheses
/// are not part of it, and a binary or `min_of`/`max_of` expression spans
/// its operands.
fn duration_pos(e: &DurationExpr) -> PosRange {
    match e {
        DurationExpr::Paren { expr, .. } => duration_pos(expr),
        DurationExpr::Binary { lhs, rhs, .. }
        | DurationExpr::MinOf { lhs, rhs, .. }
        | DurationExpr::MaxOf { lhs, rhs, .. } => duration_pos(lhs).merge(duration_pos(rhs)),
        other => other.pos(),
    }
}

/// Functions whose result changes with the evaluation time even when their
/// arguments do not (and `timestamp`, which reads sample times).
fn at_modifier_unsafe(name: &str) -> bool {
    matches!(
        name,
        "days_in_month"
            | "day_of_month"
            | "day_of_week"
            | "day_of_year"
            | "end"
            | "hour"
            | "minute"
            | "month"
            | "year"
            | "predict_linear"
            | "range"
            | "start"
            | "step"
            | "time"
            | "timestamp"
    )
}

fn wrap(n: &mut Node) {
    let inner = std::mem::replace(
        n,
        Node::Number {
            value: 0.0,
            pos: PosRange::default(),
        },
    );
    *n = Node::StepInvariant(Box::new(inner));
}

/// Prometheus' `preprocessExprHelper`: returns whether the subtree is step
/// invariant and whether it should be wrapped, wrapping children where a
/// parent is not invariant.
fn mark_invariant(n: &mut Node) -> (bool, bool) {
    match n {
        Node::VectorSelector(s) => (s.at.is_some(), s.at.is_some()),
        Node::Aggregate { expr, .. } => mark_invariant(expr),
        Node::Binary { lhs, rhs, .. } => {
            let (li, lw) = mark_invariant(lhs);
            let (ri, rw) = mark_invariant(rhs);
            if li && ri {
                return (true, true);
            }
            if lw {
                wrap(lhs);
            }
            if rw {
                wrap(rhs);
            }
            (false, false)
        }
        Node::Call { func, args, .. } => {
            let mut invariant = !at_modifier_unsafe(func.name);
            let mut timestamp_safe = func.name == "timestamp";
            let mut wraps = Vec::with_capacity(args.len());
            for a in args.iter_mut() {
                let (ai, aw) = mark_invariant(a);
                wraps.push(aw);
                invariant &= ai;
                if !ai || !matches!(a, Node::VectorSelector(_)) {
                    timestamp_safe = false;
                }
            }
            if invariant || timestamp_safe {
                return (true, true);
            }
            for (a, w) in args.iter_mut().zip(wraps) {
                if w {
                    wrap(a);
                }
            }
            (false, false)
        }
        Node::MatrixSelector { sel, .. } => (sel.at.is_some(), false),
        Node::Subquery { expr, at, .. } => {
            let (inv, _) = mark_invariant(expr);
            if inv {
                wrap(expr);
            }
            (at.is_some(), false)
        }
        Node::Neg { expr, .. } => mark_invariant(expr),
        Node::Number { .. } | Node::String { .. } => (true, false),
        Node::StepInvariant(_) => (true, false),
    }
}

/// A subquery or aggregation on the path from the root to a selector.
#[derive(Clone)]
enum PathItem {
    Subquery {
        offset: i64,
        range: i64,
        step: i64,
        at: Option<i64>,
    },
    Func(String),
    Aggregate {
        grouping: Vec<String>,
        without: bool,
    },
    Binary,
}

struct Collector {
    p: PlanParams,
    selects: Vec<(usize, SelectRequest)>,
    mint: i64,
    maxt: i64,
}

impl Collector {
    fn walk(&mut self, n: &Node, path: &mut Vec<PathItem>, eval_range: i64) {
        match n {
            Node::VectorSelector(s) => self.selector(s, path, eval_range),
            Node::MatrixSelector { sel, range, .. } => self.selector(sel, path, *range),
            Node::Subquery {
                expr,
                range,
                step,
                offset,
                at,
                ..
            } => {
                path.push(PathItem::Subquery {
                    offset: *offset,
                    range: *range,
                    step: *step,
                    at: *at,
                });
                self.walk(expr, path, 0);
                path.pop();
            }
            Node::Neg { expr, .. } | Node::StepInvariant(expr) => self.walk(expr, path, 0),
            Node::Binary { lhs, rhs, .. } => {
                path.push(PathItem::Binary);
                self.walk(lhs, path, 0);
                self.walk(rhs, path, 0);
                path.pop();
            }
            Node::Aggregate {
                op,
                expr,
                param,
                grouping,
                without,
                ..
            } => {
                path.push(PathItem::Aggregate {
                    grouping: grouping.clone(),
                    without: *without,
                });
                path.push(PathItem::Func(op.as_str().to_string()));
                if let Some(p) = param {
                    self.walk(p, path, 0);
                }
                self.walk(expr, path, 0);
                path.pop();
                path.pop();
            }
            Node::Call { func, args, .. } => {
                path.push(PathItem::Func(func.name.to_string()));
                for a in args {
                    self.walk(a, path, 0);
                }
                path.pop();
            }
            Node::Number { .. } | Node::String { .. } => {}
        }
    }

    fn selector(&mut self, s: &Selector, path: &[PathItem], eval_range: i64) {
        let p = self.p;
        let (mut start, mut end) = (p.start, p.end);
        // Offsets and ranges of enclosing subqueries; an `@` on a subquery
        // resets what came before it.
        let (mut sq_offset, mut sq_range, mut sq_at) = (0i64, 0i64, None);
        let mut step = 0;
        for item in path {
            if let PathItem::Subquery {
                offset,
                range,
                step: st,
                at,
            } = item
            {
                sq_offset = sq_offset.saturating_add(*offset);
                sq_range = sq_range.saturating_add(*range);
                if let Some(t) = at {
                    sq_offset = *offset;
                    sq_range = *range;
                    sq_at = Some(*t);
                }
                step = if *st == 0 {
                    p.default_subquery_step
                } else {
                    *st
                };
            }
        }
        if step == 0 {
            step = p.step;
        }
        if let Some(t) = sq_at {
            start = t;
            end = t;
        }
        if let Some(t) = s.at {
            start = t;
            end = t;
        } else {
            start = start.saturating_sub(sq_offset).saturating_sub(sq_range);
            end = end.saturating_sub(sq_offset);
        }
        let lookback = p.lookback;
        if eval_range == 0 {
            start = start.saturating_sub(lookback - 1);
            if s.smoothed {
                end = end.saturating_add(lookback);
            }
        } else if s.anchored {
            start = start.saturating_sub(lookback.saturating_add(eval_range) - 1);
        } else if s.smoothed {
            start = start.saturating_sub(lookback.saturating_add(eval_range) - 1);
            end = end.saturating_add(lookback);
        } else {
            start = start.saturating_sub(eval_range - 1);
        }
        start = start.saturating_sub(s.offset);
        end = end.saturating_sub(s.offset);
        self.mint = self.mint.min(start);
        self.maxt = self.maxt.max(end);
        // The function or aggregation directly around the selector, if no
        // binary operation comes first.
        let func = path.iter().rev().find_map(|i| match i {
            PathItem::Func(f) => Some(Some(f.clone())),
            PathItem::Binary => Some(None),
            _ => None,
        });
        let (by, grouping) = match path.last() {
            Some(PathItem::Func(_)) => match path.iter().rev().nth(1) {
                Some(PathItem::Aggregate { grouping, without }) => (!without, grouping.clone()),
                _ => (false, Vec::new()),
            },
            _ => (false, Vec::new()),
        };
        self.selects.push((
            s.id,
            SelectRequest {
                matchers: s.matchers.clone(),
                hints: SelectHints {
                    start,
                    end,
                    step,
                    func: func.flatten(),
                    range: eval_range,
                    grouping,
                    by,
                },
            },
        ));
    }
}
