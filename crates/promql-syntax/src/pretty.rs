//! The prettifier: Prometheus's `Pretty(level)` layout for long queries.

use crate::ast::*;
use crate::printer::{
    write_aggregate_op, write_binary_lhs, write_binary_modifiers, write_subquery_suffix,
};

/// Lines longer than this are split.
pub const MAX_CHARACTERS_PER_LINE: usize = 100;

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn needs_split(e: &Expr) -> bool {
    e.to_string().len() > MAX_CHARACTERS_PER_LINE
}

impl Expr {
    /// The query laid out as Prometheus's `Pretty(0)` (used by its "format query" API):
    /// a node whose one-line text exceeds 100 characters is split over lines, children
    /// indented by two spaces per level.
    pub fn pretty(&self) -> String {
        self.pretty_at(0)
    }

    /// As [`Expr::pretty`], for a node `level` levels deep.
    pub fn pretty_at(&self, level: usize) -> String {
        let mut out = String::new();
        pretty(&mut out, self, level);
        out
    }
}

fn pretty(out: &mut String, e: &Expr, level: usize) {
    match e {
        Expr::Aggregate(a) if needs_split(e) => {
            indent(out, level);
            write_aggregate_op(out, a);
            out.push_str("(\n");
            if let Some(p) = &a.param {
                pretty(out, p, level + 1);
                out.push_str(",\n");
            }
            pretty(out, &a.expr, level + 1);
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Binary(b) if needs_split(e) => {
            if let Expr::Number(_) = &b.lhs {
                indent(out, level + 1);
                write_binary_lhs(out, b);
            } else {
                pretty(out, &b.lhs, level + 1);
            }
            out.push('\n');
            indent(out, level);
            out.push_str(b.op.as_str());
            write_binary_modifiers(out, b);
            out.push('\n');
            pretty(out, &b.rhs, level + 1);
        }
        Expr::Call(c) if needs_split(e) => {
            indent(out, level);
            out.push_str(&c.func.name);
            out.push_str("(\n");
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                pretty(out, a, level + 1);
            }
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Paren(p) if needs_split(e) => {
            indent(out, level);
            out.push_str("(\n");
            pretty(out, &p.expr, level + 1);
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Subquery(s) => {
            if needs_split(e) {
                pretty(out, &s.expr, level);
                write_subquery_suffix(out, s);
            } else {
                // Prometheus does not indent a subquery that fits on one line.
                out.push_str(&e.to_string());
            }
        }
        Expr::Unary(u) => {
            indent(out, level);
            out.push_str(u.op.as_str());
            let child = u.expr.pretty_at(level);
            out.push_str(child.trim());
        }
        _ => {
            indent(out, level);
            out.push_str(&e.to_string());
        }
    }
}
