//! The canonical printer: Prometheus's `String()` output.

use std::fmt::{self, Write};

use narthex_model::{MatchOp, float::format_go_g, is_legacy_metric_name};

use crate::ast::*;
use crate::duration::write_duration;
use crate::strings::write_go_quoted_bytes;

/// Appends `labels` as Prometheus's `joinLabels`: `, `-separated, quoted when not a
/// legacy name.
fn write_labels(out: &mut String, labels: &[String]) {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if is_legacy_metric_name(l) {
            out.push_str(l);
        } else {
            narthex_model::write_go_quoted(out, l);
        }
    }
}

fn write_number(out: &mut String, value: f64, duration: bool) {
    if duration {
        // The sign is written separately so that `-0s` keeps its negative zero.
        if value.is_sign_negative() {
            out.push('-');
        }
        let ms = (value.abs() * 1000.0).round();
        write_duration(out, if ms.is_finite() { ms as i64 } else { 0 });
    } else {
        out.push_str(&format_go_g(value));
    }
}

fn write_at(out: &mut String, at: Option<AtModifier>) {
    match at {
        None => {}
        Some(AtModifier::Start) => out.push_str(" @ start()"),
        Some(AtModifier::End) => out.push_str(" @ end()"),
        Some(AtModifier::Timestamp(ms)) => {
            let sign = if ms < 0 { "-" } else { "" };
            let abs = ms.unsigned_abs();
            let _ = write!(out, " @ {sign}{}.{:03}", abs / 1000, abs % 1000);
        }
    }
}

fn write_duration_arg(out: &mut String, d: &DurationArg) {
    match d {
        DurationArg::Literal { ms, .. } => write_duration(out, *ms),
        DurationArg::Expr(e) => write_duration_expr(out, e),
    }
}

fn write_offset(out: &mut String, offset: Option<&DurationArg>) {
    if let Some(o) = offset {
        out.push_str(" offset ");
        write_duration_arg(out, o);
    }
}

/// Appends a duration expression.
pub(crate) fn write_duration_expr(out: &mut String, e: &DurationExpr) {
    match e {
        DurationExpr::Number(n) => write_number(out, n.value, n.duration),
        DurationExpr::Neg { expr, .. } => {
            out.push('-');
            write_duration_expr(out, expr);
        }
        DurationExpr::Binary { op, lhs, rhs, .. } => {
            match &**lhs {
                DurationExpr::Number(n) if *op == BinaryOp::Pow && is_plus_inf(n) => {
                    out.push_str("Inf");
                }
                _ => write_duration_expr(out, lhs),
            }
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            write_duration_expr(out, rhs);
        }
        DurationExpr::Paren { expr, .. } => {
            out.push('(');
            write_duration_expr(out, expr);
            out.push(')');
        }
        DurationExpr::Step(_) => out.push_str("step()"),
        DurationExpr::Range(_) => out.push_str("range()"),
        DurationExpr::MinMax { max, lhs, rhs, .. } => {
            out.push_str(if *max { "max_of(" } else { "min_of(" });
            write_duration_expr(out, lhs);
            out.push_str(", ");
            write_duration_expr(out, rhs);
            out.push(')');
        }
    }
}

/// The selector's name and matchers, without modifiers.
fn write_selector_base(out: &mut String, vs: &VectorSelector) {
    let mut labels: Vec<String> = vs
        .matchers
        .iter()
        .filter(|m| {
            !(m.name() == narthex_model::METRIC_NAME
                && m.op() == MatchOp::Equal
                && vs.name.as_deref() == Some(m.value())
                && !m.value().is_empty())
        })
        .map(|m| m.to_string())
        .collect();
    labels.sort();
    match &vs.name {
        Some(name) if is_legacy_metric_name(name) => {
            out.push_str(name);
            if labels.is_empty() {
                return;
            }
            out.push('{');
        }
        Some(name) => {
            out.push('{');
            narthex_model::write_go_quoted(out, name);
            if !labels.is_empty() {
                out.push(',');
            }
        }
        None => out.push('{'),
    }
    out.push_str(&labels.join(","));
    out.push('}');
}

fn write_modifier(out: &mut String, m: Option<RangeModifier>) {
    if let Some(m) = m {
        out.push(' ');
        out.push_str(m.as_str());
    }
}

/// The ` by (...) `/` without (...) ` part of an aggregation, with its trailing space.
pub(crate) fn write_aggregate_op(out: &mut String, a: &AggregateExpr) {
    out.push_str(a.op.as_str());
    if a.without {
        out.push_str(" without (");
        write_labels(out, &a.grouping);
        out.push_str(") ");
    } else if !a.grouping.is_empty() {
        out.push_str(" by (");
        write_labels(out, &a.grouping);
        out.push_str(") ");
    }
}

/// The modifiers between a binary operator and its right operand: ` bool`, ` on (...)`,
/// ` group_left (...)`, ` fill(...)`.
pub(crate) fn write_binary_modifiers(out: &mut String, b: &BinaryExpr) {
    if b.return_bool {
        out.push_str(" bool");
    }
    let Some(vm) = &b.matching else { return };
    let grouped = matches!(vm.card, Cardinality::ManyToOne | Cardinality::OneToMany);
    if !vm.labels.is_empty() || vm.on || grouped {
        out.push_str(if vm.on { " on (" } else { " ignoring (" });
        write_labels(out, &vm.labels);
        out.push(')');
        if grouped {
            out.push_str(if vm.card == Cardinality::ManyToOne {
                " group_left ("
            } else {
                " group_right ("
            });
            write_labels(out, &vm.include);
            out.push(')');
        }
    }
    let f = vm.fill;
    match (f.lhs, f.rhs) {
        (Some(l), Some(r)) if l.to_bits() == r.to_bits() => {
            let _ = write!(out, " fill({})", format_go_g(l));
        }
        (l, r) => {
            if let Some(l) = l {
                let _ = write!(out, " fill_left({})", format_go_g(l));
            }
            if let Some(r) = r {
                let _ = write!(out, " fill_right({})", format_go_g(r));
            }
        }
    }
}

/// The `[range:step] @ t offset d` suffix of a subquery.
pub(crate) fn write_subquery_suffix(out: &mut String, s: &SubqueryExpr) {
    out.push('[');
    write_duration_arg(out, &s.range);
    out.push(':');
    if let Some(step) = &s.step {
        write_duration_arg(out, step);
    }
    out.push(']');
    write_at(out, s.at);
    write_offset(out, s.offset.as_ref());
}

/// Whether the literal prints as `+Inf`, which reads back as a unary plus.
fn is_plus_inf(n: &NumberLiteral) -> bool {
    !n.duration && n.value == f64::INFINITY
}

/// The left operand of a binary operation. `+Inf ^ x` would read back as `+(Inf ^ x)`,
/// so a positive infinity there is written `Inf` (Prometheus writes `+Inf` and does not
/// read its own output back the same).
pub(crate) fn write_binary_lhs(out: &mut String, b: &BinaryExpr) {
    match &b.lhs {
        Expr::Number(n) if b.op == BinaryOp::Pow && is_plus_inf(n) => out.push_str("Inf"),
        lhs => write_expr(out, lhs),
    }
}

/// Appends the canonical text of `e`.
pub(crate) fn write_expr(out: &mut String, e: &Expr) {
    match e {
        Expr::Number(n) => write_number(out, n.value, n.duration),
        Expr::String(s) => match &s.invalid_utf8 {
            Some(bytes) => write_go_quoted_bytes(out, bytes),
            None => narthex_model::write_go_quoted(out, &s.value),
        },
        Expr::VectorSelector(vs) => {
            write_selector_base(out, vs);
            write_at(out, vs.at);
            write_offset(out, vs.offset.as_ref());
            write_modifier(out, vs.modifier);
        }
        Expr::MatrixSelector(m) => {
            write_selector_base(out, &m.selector);
            out.push('[');
            write_duration_arg(out, &m.range);
            out.push(']');
            write_at(out, m.selector.at);
            write_offset(out, m.selector.offset.as_ref());
            write_modifier(out, m.selector.modifier);
        }
        Expr::Subquery(s) => {
            write_expr(out, &s.expr);
            write_subquery_suffix(out, s);
        }
        Expr::Aggregate(a) => {
            write_aggregate_op(out, a);
            out.push('(');
            if let Some(p) = &a.param {
                write_expr(out, p);
                out.push_str(", ");
            }
            write_expr(out, &a.expr);
            out.push(')');
        }
        Expr::Binary(b) => {
            write_binary_lhs(out, b);
            out.push(' ');
            out.push_str(b.op.as_str());
            write_binary_modifiers(out, b);
            out.push(' ');
            write_expr(out, &b.rhs);
        }
        Expr::Unary(u) => {
            out.push_str(u.op.as_str());
            write_expr(out, &u.expr);
        }
        Expr::Paren(p) => {
            out.push('(');
            write_expr(out, &p.expr);
            out.push(')');
        }
        Expr::Call(c) => {
            out.push_str(&c.func.name);
            out.push('(');
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, a);
            }
            out.push(')');
        }
        Expr::QueryTime(q) => {
            out.push_str(q.kind.as_str());
            out.push_str("()");
        }
    }
}

impl fmt::Display for Expr {
    /// The canonical PromQL text, as Prometheus's `String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_expr(&mut s, self);
        f.write_str(&s)
    }
}

impl fmt::Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_duration_expr(&mut s, self);
        f.write_str(&s)
    }
}
