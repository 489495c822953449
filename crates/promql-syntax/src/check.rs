//! Type checking with Prometheus's rules and messages (its `checkAST`).

use crate::ast::*;
use crate::error::{ErrorKind, ParseError};
use crate::functions::{ANCHORED_FUNCTIONS, SMOOTHED_FUNCTIONS};
use crate::lexer::is_space;

struct Checker<'a> {
    src: &'a str,
    errors: &'a mut Vec<ParseError>,
}

/// Checks types and normalises vector matching, appending errors in Prometheus's order.
pub(crate) fn check(e: &mut Expr, src: &str, errors: &mut Vec<ParseError>) {
    Checker { src, errors }.check(e);
}

fn quote(s: &str) -> String {
    narthex_model::go_quote(s)
}

impl Checker<'_> {
    fn err(&mut self, kind: ErrorKind, span: Span, msg: String) {
        self.errors.push(ParseError::new(self.src, kind, span, msg));
    }

    fn expect_type(&mut self, e: &mut Expr, want: ValueType, context: &str) {
        let t = self.check(e);
        if t != want {
            let msg = format!(
                "expected type {} in {context}, got {}",
                want.documented_name(),
                t.documented_name()
            );
            self.err(ErrorKind::TypeMismatch, e.span(), msg);
        }
    }

    /// The operator's position: from the end of the left operand to the start of the
    /// right one, without surrounding whitespace.
    fn op_span(&self, b: &BinaryExpr) -> Span {
        let bytes = self.src.as_bytes();
        let mut start = b.lhs.span().end;
        while start < bytes.len() && is_space(bytes[start]) {
            start += 1;
        }
        let mut end = b.rhs.span().start;
        while end > start && is_space(bytes[end - 1]) {
            end -= 1;
        }
        Span::new(start, end.max(start))
    }

    fn check(&mut self, e: &mut Expr) -> ValueType {
        match e {
            Expr::Aggregate(a) => {
                self.expect_type(&mut a.expr, ValueType::Vector, "aggregation expression");
                let want = match a.op {
                    AggregateOp::Topk
                    | AggregateOp::Bottomk
                    | AggregateOp::Quantile
                    | AggregateOp::Limitk
                    | AggregateOp::LimitRatio => Some(ValueType::Scalar),
                    AggregateOp::CountValues => Some(ValueType::String),
                    _ => None,
                };
                if let (Some(want), Some(p)) = (want, a.param.as_mut()) {
                    self.expect_type(p, want, "aggregation parameter");
                }
            }
            Expr::Binary(b) => self.check_binary(b),
            Expr::Call(c) => self.check_call(c),
            Expr::Paren(p) => {
                self.check(&mut p.expr);
            }
            Expr::Unary(u) => {
                let t = self.check(&mut u.expr);
                if t != ValueType::Scalar && t != ValueType::Vector {
                    let msg = format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                        quote(t.documented_name())
                    );
                    self.err(ErrorKind::TypeMismatch, u.span, msg);
                }
            }
            Expr::Subquery(s) => {
                let t = self.check(&mut s.expr);
                if t != ValueType::Vector {
                    let msg =
                        format!("subquery is only allowed on instant vector, got {t} instead");
                    self.err(ErrorKind::TypeMismatch, s.span, msg);
                }
            }
            Expr::MatrixSelector(m) => self.check_selector(&m.selector, false),
            Expr::VectorSelector(v) => self.check_selector(v, false),
            Expr::Number(_) | Expr::String(_) | Expr::QueryTime(_) => {}
        }
        e.value_type()
    }

    fn check_selector(&mut self, v: &VectorSelector, bypass_empty_check: bool) {
        if let Some(name) = &v.name {
            let n = v.matchers.len().saturating_sub(1);
            for m in &v.matchers[..n] {
                if m.name() == narthex_model::METRIC_NAME {
                    let msg = format!(
                        "metric name must not be set twice: {} or {}",
                        quote(name),
                        quote(m.value())
                    );
                    self.err(ErrorKind::InvalidSelector, v.span, msg);
                }
            }
            return;
        }
        if !bypass_empty_check && v.matchers.iter().all(|m| m.matches_empty()) {
            self.err(
                ErrorKind::InvalidSelector,
                v.span,
                "vector selector must contain at least one non-empty matcher".into(),
            );
        }
    }

    fn check_binary(&mut self, b: &mut BinaryExpr) {
        let lt = self.check(&mut b.lhs);
        let rt = self.check(&mut b.rhs);
        let op = b.op;
        if b.return_bool && !op.is_comparison() {
            let span = self.op_span(b);
            self.err(
                ErrorKind::TypeMismatch,
                span,
                "bool modifier can only be used on comparison operators".into(),
            );
        }
        if op.is_comparison()
            && !b.return_bool
            && lt == ValueType::Scalar
            && rt == ValueType::Scalar
        {
            let span = self.op_span(b);
            self.err(
                ErrorKind::TypeMismatch,
                span,
                "comparisons between scalars must use BOOL modifier".into(),
            );
        }
        if let Some(vm) = &mut b.matching
            && op.is_set_operator()
            && vm.card == Cardinality::OneToOne
        {
            vm.card = Cardinality::ManyToMany;
        }
        if let Some(vm) = &b.matching
            && vm.on
        {
            let dups: Vec<String> = vm
                .labels
                .iter()
                .filter(|l| vm.include.contains(l))
                .cloned()
                .collect();
            for l in dups {
                let span = self.op_span(b);
                let msg = format!(
                    "label {} must not occur in ON and GROUP clause at once",
                    quote(&l)
                );
                self.err(ErrorKind::TypeMismatch, span, msg);
            }
        }
        for (t, side) in [(lt, b.lhs.span()), (rt, b.rhs.span())] {
            if t != ValueType::Scalar && t != ValueType::Vector {
                self.err(
                    ErrorKind::TypeMismatch,
                    side,
                    "binary expression must contain only scalar and instant vector types".into(),
                );
            }
        }
        if lt != ValueType::Vector || rt != ValueType::Vector {
            if let Some(vm) = b.matching.take()
                && !vm.labels.is_empty()
            {
                self.err(
                    ErrorKind::TypeMismatch,
                    b.span,
                    "vector matching only allowed between instant vectors".into(),
                );
            }
        } else if op.is_set_operator()
            && let Some(vm) = &b.matching
        {
            let card = vm.card;
            if matches!(card, Cardinality::OneToMany | Cardinality::ManyToOne) {
                let msg = format!("no grouping allowed for {} operation", quote(op.as_str()));
                self.err(ErrorKind::TypeMismatch, b.span, msg);
            }
            if card != Cardinality::ManyToMany {
                self.err(
                    ErrorKind::TypeMismatch,
                    b.span,
                    "set operations must always be many-to-many".into(),
                );
            }
        }
        if (lt == ValueType::Scalar || rt == ValueType::Scalar) && op.is_set_operator() {
            let msg = format!(
                "set operator {} not allowed in binary scalar expression",
                quote(op.as_str())
            );
            self.err(ErrorKind::TypeMismatch, b.span, msg);
        }
    }

    fn check_call(&mut self, c: &mut Call) {
        let f = c.func.clone();
        let nargs = f.arg_types.len() as i64;
        let given = c.args.len() as i64;
        let name = quote(&f.name);
        if f.variadic == 0 {
            if nargs != given {
                let msg = format!("expected {nargs} argument(s) in call to {name}, got {given}");
                self.err(ErrorKind::WrongArgumentCount, c.span, msg);
            }
        } else {
            let na = nargs - 1;
            if na > given {
                let msg =
                    format!("expected at least {na} argument(s) in call to {name}, got {given}");
                self.err(ErrorKind::WrongArgumentCount, c.span, msg);
            } else if f.variadic > 0 && na + i64::from(f.variadic) < given {
                let msg = format!(
                    "expected at most {} argument(s) in call to {name}, got {given}",
                    na + i64::from(f.variadic)
                );
                self.err(ErrorKind::WrongArgumentCount, c.span, msg);
            }
        }
        let context = format!("call to function {name}");
        let is_info = f.name == "info";
        for (i, arg) in c.args.iter_mut().enumerate() {
            let mut i = i;
            if i >= f.arg_types.len() {
                if f.variadic == 0 || f.arg_types.is_empty() {
                    break;
                }
                i = f.arg_types.len() - 1;
            }
            let want = f.arg_types[i];
            if is_info && i == 1 {
                // The data-label selector of info() may match the empty string.
                if let Expr::VectorSelector(v) = arg {
                    self.check_selector(v, true);
                    continue;
                }
            }
            self.expect_type(arg, want, &context);
        }
    }
}

/// The error Prometheus raises when a range selector with `anchored` or `smoothed` is
/// passed to a function that does not support it, e.g. `smoothed modifier can only be
/// used with: delta, increase, rate - not with resets`. The parser accepts such calls,
/// as Prometheus's does; its engine rejects them when evaluating.
pub fn range_modifier_error(call: &Call) -> Option<String> {
    for arg in &call.args {
        let Expr::MatrixSelector(m) = arg else {
            continue;
        };
        let (modifier, allowed) = match m.selector.modifier {
            Some(RangeModifier::Anchored) => ("anchored", ANCHORED_FUNCTIONS),
            Some(RangeModifier::Smoothed) => ("smoothed", SMOOTHED_FUNCTIONS),
            None => continue,
        };
        if !allowed.contains(&call.func.name.as_ref()) {
            return Some(format!(
                "{modifier} modifier can only be used with: {} - not with {}",
                allowed.join(", "),
                call.func.name
            ));
        }
    }
    None
}
