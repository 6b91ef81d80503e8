//! Type checking, as Prometheus' `checkAST` does it, with its messages and
//! positions. Also normalizes binary operations: set operators become
//! many-to-many, and vector matching is dropped when an operand is a scalar.
//!
//! The walk is recursive; the parser bounds the tree's depth beforehand.
//! The recursive function only dispatches and recurses; the rules and their
//! messages live in functions that are not inlined into it, which keeps its
//! stack frame small.

use ember_model::{go_quote, METRIC_NAME};

use super::ast::*;
use super::error::ParseError;

type Checked = Result<ValueType, ParseError>;

/// Checks `expr`, fixing up vector matching; the first error is returned.
pub(super) fn check(expr: &mut Expr) -> Result<(), ParseError> {
    check_expr(expr, false).map(|_| ())
}

fn err(pos: PosRange, msg: impl Into<String>) -> ParseError {
    // Line and column are filled in by the caller, which has the query.
    ParseError {
        pos,
        line: 0,
        col: 0,
        message: msg.into(),
    }
}

/// `labels_only`: the selector is `info()`'s second argument, which may
/// match everything. Only dispatches, to keep the recursion's frames small.
fn check_expr(e: &mut Expr, labels_only: bool) -> Checked {
    match e {
        Expr::Aggregate(a) => check_aggregate(a),
        Expr::Binary(b) => check_binary(b),
        Expr::Call(c) => check_call(c),
        Expr::MatrixSelector(m) => selector(&m.selector, false).map(|_| ValueType::Matrix),
        Expr::NumberLiteral(_) => Ok(ValueType::Scalar),
        Expr::Paren(p) => check_expr(&mut p.expr, false),
        Expr::StringLiteral(_) => Ok(ValueType::String),
        Expr::Subquery(s) => check_subquery(s),
        Expr::Unary(u) => check_unary(u),
        Expr::VectorSelector(v) => selector(v, labels_only).map(|_| ValueType::Vector),
    }
}

#[inline(never)]
fn check_aggregate(a: &mut AggregateExpr) -> Checked {
    let t = check_expr(&mut a.expr, false)?;
    expect(&a.expr, t, ValueType::Vector, "aggregation expression")?;
    if let Some(param) = &mut a.param {
        let t = check_expr(param, false)?;
        expect(param, t, param_type(a.op), "aggregation parameter")?;
    }
    Ok(ValueType::Vector)
}

#[inline(never)]
fn check_binary(b: &mut BinaryExpr) -> Checked {
    let lt = check_expr(&mut b.lhs, false)?;
    let rt = check_expr(&mut b.rhs, false)?;
    binary(b, lt, rt)
}

#[inline(never)]
fn check_call(c: &mut Call) -> Checked {
    let labels_only = call(c)?;
    let f = c.func;
    for (i, arg) in c.args.iter_mut().enumerate() {
        if i >= f.arg_types.len() && f.variadic == 0 {
            break;
        }
        let Some(want) = f.arg_type(i) else { break };
        let t = check_expr(arg, labels_only && i == 1)?;
        argument(f.name, arg, t, want)?;
    }
    Ok(f.return_type)
}

#[inline(never)]
fn check_subquery(s: &mut SubqueryExpr) -> Checked {
    let t = check_expr(&mut s.expr, false)?;
    subquery(s.pos, t)
}

#[inline(never)]
fn check_unary(u: &mut UnaryExpr) -> Checked {
    let t = check_expr(&mut u.expr, false)?;
    unary(u.pos, t)
}

fn param_type(op: AggregateOp) -> ValueType {
    if op == AggregateOp::CountValues {
        ValueType::String
    } else {
        ValueType::Scalar
    }
}

#[inline(never)]
fn expect(e: &Expr, got: ValueType, want: ValueType, context: &str) -> Result<(), ParseError> {
    if got == want {
        return Ok(());
    }
    Err(err(
        e.pos(),
        format!(
            "expected type {} in {context}, got {}",
            want.documented(),
            got.documented()
        ),
    ))
}

#[inline(never)]
fn subquery(pos: PosRange, t: ValueType) -> Checked {
    if t != ValueType::Vector {
        return Err(err(
            pos,
            format!("subquery is only allowed on instant vector, got {t} instead"),
        ));
    }
    Ok(ValueType::Matrix)
}

#[inline(never)]
fn unary(pos: PosRange, t: ValueType) -> Checked {
    if t != ValueType::Scalar && t != ValueType::Vector {
        return Err(err(
            pos,
            format!(
                "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                go_quote(t.documented())
            ),
        ));
    }
    Ok(t)
}

/// The rules for a binary operation whose operands have types `lt`, `rt`.
#[inline(never)]
fn binary(b: &mut BinaryExpr, lt: ValueType, rt: ValueType) -> Checked {
    let op = b.op;
    if b.return_bool && !op.is_comparison() {
        return Err(err(
            b.op_pos,
            "bool modifier can only be used on comparison operators",
        ));
    }
    if op.is_comparison() && !b.return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar {
        return Err(err(
            b.op_pos,
            "comparisons between scalars must use BOOL modifier",
        ));
    }
    if let Some(m) = &mut b.matching {
        if op.is_set_operator() && m.card == VectorMatchCardinality::OneToOne {
            m.card = VectorMatchCardinality::ManyToMany;
        }
        if m.on {
            if let Some(l) = m.labels.iter().find(|l| m.include.contains(l)) {
                return Err(err(
                    b.op_pos,
                    format!(
                        "label {} must not occur in ON and GROUP clause at once",
                        go_quote(l)
                    ),
                ));
            }
        }
    }
    let instant = |t: ValueType| t == ValueType::Scalar || t == ValueType::Vector;
    let only = "binary expression must contain only scalar and instant vector types";
    if !instant(lt) {
        return Err(err(b.lhs.pos(), only));
    }
    if !instant(rt) {
        return Err(err(b.rhs.pos(), only));
    }
    let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
    if let Some(m) = &b.matching {
        if !both_vectors {
            if !m.labels.is_empty() {
                return Err(err(
                    b.pos,
                    "vector matching only allowed between instant vectors",
                ));
            }
            if m.fill.is_set() {
                return Err(err(
                    b.pos,
                    "filling in missing series only allowed between instant vectors",
                ));
            }
            b.matching = None;
        } else if op.is_set_operator() {
            if matches!(
                m.card,
                VectorMatchCardinality::OneToMany | VectorMatchCardinality::ManyToOne
            ) {
                return Err(err(
                    b.pos,
                    format!(
                        "no grouping allowed for {} operation",
                        go_quote(op.as_str())
                    ),
                ));
            }
            if m.fill.is_set() {
                return Err(err(
                    b.pos,
                    "filling in missing series not allowed for set operators",
                ));
            }
        }
    }
    if !both_vectors && op.is_set_operator() {
        return Err(err(
            b.pos,
            format!(
                "set operator {} not allowed in binary scalar expression",
                go_quote(op.as_str())
            ),
        ));
    }
    Ok(if lt == ValueType::Scalar && rt == ValueType::Scalar {
        ValueType::Scalar
    } else {
        ValueType::Vector
    })
}

/// The arity rules and `info()`'s special second argument; returns whether
/// that argument may match everything.
#[inline(never)]
fn call(c: &Call) -> Result<bool, ParseError> {
    let f = c.func;
    let n = c.args.len();
    let name = go_quote(f.name);
    if f.variadic == 0 {
        if n != f.arg_types.len() {
            return Err(err(
                c.pos,
                format!(
                    "expected {} argument(s) in call to {name}, got {n}",
                    f.arg_types.len()
                ),
            ));
        }
    } else if n < f.min_args() {
        return Err(err(
            c.pos,
            format!(
                "expected at least {} argument(s) in call to {name}, got {n}",
                f.min_args()
            ),
        ));
    } else if let Some(max) = f.max_args().filter(|&max| n > max) {
        return Err(err(
            c.pos,
            format!("expected at most {max} argument(s) in call to {name}, got {n}"),
        ));
    }
    if f.name != "info" || n < 2 {
        return Ok(false);
    }
    let arg = &c.args[1];
    let t = arg.value_type();
    if t != ValueType::Vector {
        return Err(err(
            c.pos,
            format!(
                "expected type instant vector in call to function {name}, got {}",
                t.documented()
            ),
        ));
    }
    match arg {
        Expr::VectorSelector(vs) if vs.name.is_some() => Err(err(
            arg.pos(),
            "expected label selectors only, got vector selector instead",
        )),
        Expr::VectorSelector(_) => Ok(true),
        _ => Err(err(arg.pos(), "expected label selectors only")),
    }
}

#[inline(never)]
fn argument(func: &str, arg: &Expr, got: ValueType, want: ValueType) -> Result<(), ParseError> {
    if got == want {
        return Ok(());
    }
    Err(err(
        arg.pos(),
        format!(
            "expected type {} in call to function {}, got {}",
            want.documented(),
            go_quote(func),
            got.documented()
        ),
    ))
}

#[inline(never)]
fn selector(v: &VectorSelector, labels_only: bool) -> Result<(), ParseError> {
    if let Some(name) = &v.name {
        if let Some(m) = v
            .explicit_matchers()
            .iter()
            .find(|m| m.name() == METRIC_NAME)
        {
            return Err(err(
                v.pos,
                format!(
                    "metric name must not be set twice: {} or {}",
                    go_quote(name),
                    go_quote(m.value())
                ),
            ));
        }
        return Ok(());
    }
    if !labels_only && v.matchers.iter().all(|m| m.matches_empty()) {
        return Err(err(
            v.pos,
            "vector selector must contain at least one non-empty matcher",
        ));
    }
    Ok(())
}
