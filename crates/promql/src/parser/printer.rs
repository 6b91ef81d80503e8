//! Prints an AST back as PromQL, the way Prometheus' `String()` methods do,
//! so that the output parses to the same tree. Parentheses are printed only
//! where the tree has a [`ParenExpr`]; the parser keeps every one.
//!
//! Two deliberate differences from Prometheus, whose output would not parse
//! back to the same tree there: a grouping label spelled like a number
//! (`inf`, `nan`) is quoted, and positive infinity is written `Inf` rather
//! than `+Inf` as the left operand of `^`.

use std::fmt::{self, Display, Formatter, Write as _};

use ember_model::{format_duration, go_quote, is_valid_legacy_label_name};

use super::ast::*;
use super::lit::{format_float, format_float_g, quote_bytes};

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Aggregate(a) => a.fmt(f),
            Expr::Binary(b) => b.fmt(f),
            Expr::Call(c) => c.fmt(f),
            Expr::MatrixSelector(m) => m.fmt(f),
            Expr::NumberLiteral(n) => n.fmt(f),
            Expr::Paren(p) => write!(f, "({})", p.expr),
            Expr::StringLiteral(s) => match &s.non_utf8 {
                Some(bytes) => f.write_str(&quote_bytes(bytes)),
                None => f.write_str(&go_quote(&s.value)),
            },
            Expr::Subquery(s) => s.fmt(f),
            Expr::Unary(u) => write!(f, "{}{}", u.op.as_str(), u.expr),
            Expr::VectorSelector(v) => v.fmt(f),
        }
    }
}

/// Writes a label list as in `by (a, "b.c")`.
fn write_labels(f: &mut Formatter<'_>, labels: &[String]) -> fmt::Result {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        let numeric = l.eq_ignore_ascii_case("inf") || l.eq_ignore_ascii_case("nan");
        if is_valid_legacy_label_name(l) && !numeric {
            f.write_str(l)?;
        } else {
            f.write_str(&go_quote(l))?;
        }
    }
    Ok(())
}

impl Display for AggregateExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        if self.without || !self.grouping.is_empty() {
            f.write_str(if self.without { " without (" } else { " by (" })?;
            write_labels(f, &self.grouping)?;
            f.write_str(") ")?;
        }
        f.write_char('(')?;
        if let Some(p) = &self.param {
            write!(f, "{p}, ")?;
        }
        write!(f, "{})", self.expr)
    }
}

impl Display for BinaryExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &*self.lhs {
            // `+Inf ^ x` would read back as `+(Inf ^ x)`.
            Expr::NumberLiteral(n)
                if self.op == BinaryOp::Pow && n.value == f64::INFINITY && !n.duration =>
            {
                write!(f, "Inf {}", self.op)?
            }
            lhs => write!(f, "{lhs} {}", self.op)?,
        }
        if self.return_bool {
            f.write_str(" bool")?;
        }
        if let Some(m) = &self.matching {
            let grouped = matches!(
                m.card,
                VectorMatchCardinality::ManyToOne | VectorMatchCardinality::OneToMany
            );
            if !m.labels.is_empty() || m.on || grouped {
                f.write_str(if m.on { " on (" } else { " ignoring (" })?;
                write_labels(f, &m.labels)?;
                f.write_char(')')?;
            }
            if grouped {
                f.write_str(if m.card == VectorMatchCardinality::ManyToOne {
                    " group_left ("
                } else {
                    " group_right ("
                })?;
                write_labels(f, &m.include)?;
                f.write_char(')')?;
            }
            match (m.fill.lhs, m.fill.rhs) {
                (Some(l), Some(r)) if l == r => write!(f, " fill ({})", format_float_g(l))?,
                (l, r) => {
                    if let Some(l) = l {
                        write!(f, " fill_left ({})", format_float_g(l))?;
                    }
                    if let Some(r) = r {
                        write!(f, " fill_right ({})", format_float_g(r))?;
                    }
                }
            }
        }
        write!(f, " {}", self.rhs)
    }
}

impl Display for Call {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.func.name)?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        f.write_char(')')
    }
}

impl Display for NumberLiteral {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.duration {
            let ms = (self.value * 1000.0).round() as i64;
            f.write_str(&format_duration(ms))
        } else {
            f.write_str(&format_float(self.value))
        }
    }
}

impl Display for DurationValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DurationValue::Millis(ms) => f.write_str(&format_duration(*ms)),
            DurationValue::Expr(e) => e.fmt(f),
        }
    }
}

impl Display for DurationExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DurationExpr::Number(n) => n.fmt(f),
            DurationExpr::Step(_) => f.write_str("step()"),
            DurationExpr::Range(_) => f.write_str("range()"),
            DurationExpr::Neg { expr, .. } => write!(f, "-{expr}"),
            DurationExpr::Binary { op, lhs, rhs } => write!(f, "{lhs} {op} {rhs}"),
            DurationExpr::MinOf { lhs, rhs, .. } => write!(f, "min_of({lhs}, {rhs})"),
            DurationExpr::MaxOf { lhs, rhs, .. } => write!(f, "max_of({lhs}, {rhs})"),
            DurationExpr::Paren { expr, .. } => write!(f, "({expr})"),
        }
    }
}

impl Display for AtModifier {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            AtModifier::Timestamp(ms) => write!(f, "@ {:.3}", *ms as f64 / 1000.0),
            AtModifier::Start => f.write_str("@ start()"),
            AtModifier::End => f.write_str("@ end()"),
        }
    }
}

fn write_at(f: &mut Formatter<'_>, at: Option<AtModifier>) -> fmt::Result {
    match at {
        Some(at) => write!(f, " {at}"),
        None => Ok(()),
    }
}

fn write_offset(f: &mut Formatter<'_>, offset: &DurationValue) -> fmt::Result {
    match offset {
        DurationValue::Millis(0) => Ok(()),
        other => write!(f, " offset {other}"),
    }
}

fn write_extended(f: &mut Formatter<'_>, vs: &VectorSelector) -> fmt::Result {
    if vs.anchored {
        f.write_str(" anchored")
    } else if vs.smoothed {
        f.write_str(" smoothed")
    } else {
        Ok(())
    }
}

/// The name and matchers, without modifiers.
fn write_selector(f: &mut Formatter<'_>, vs: &VectorSelector) -> fmt::Result {
    let mut shown: Vec<String> = vs
        .matchers
        .iter()
        .filter(|m| !vs.is_name_matcher(m))
        .map(|m| m.to_string())
        .collect();
    if let Some(name) = &vs.name {
        f.write_str(name)?;
    }
    if !shown.is_empty() {
        shown.sort();
        write!(f, "{{{}}}", shown.join(","))?;
    }
    Ok(())
}

impl Display for VectorSelector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_selector(f, self)?;
        write_at(f, self.at)?;
        write_extended(f, self)?;
        write_offset(f, &self.offset)
    }
}

impl Display for MatrixSelector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let vs = &self.selector;
        write_selector(f, vs)?;
        write!(f, "[{}]", self.range)?;
        write_extended(f, vs)?;
        write_at(f, vs.at)?;
        write_offset(f, &vs.offset)
    }
}

impl Display for SubqueryExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}:", self.expr, self.range)?;
        if let Some(step) = &self.step {
            write!(f, "{step}")?;
        }
        f.write_char(']')?;
        write_at(f, self.at)?;
        write_offset(f, &self.offset)
    }
}
