//! `/api/v1/parse_query`: the AST as Prometheus 3.x's `translateAST` returns it (Go maps,
//! so keys come out sorted).

use narthex_promql_syntax::{
    AtModifier, Cardinality, DurationArg, Expr, RangeModifier, ValueType, VectorSelector,
};
use serde_json::{Value, json};

use crate::json::push_str;

/// Translates an expression into Prometheus's tree-view JSON.
pub(crate) fn translate(e: &Expr) -> Value {
    match e {
        Expr::Aggregate(a) => json!({
            "type": "aggregation",
            "op": a.op.as_str(),
            "expr": translate(&a.expr),
            "param": a.param.as_ref().map_or(Value::Null, translate),
            "grouping": a.grouping,
            "without": a.without,
        }),
        Expr::Binary(b) => {
            let scalar_side =
                b.lhs.value_type() != ValueType::Vector || b.rhs.value_type() != ValueType::Vector;
            let matching = match &b.matching {
                Some(m) if !scalar_side => json!({
                    "card": match m.card {
                        Cardinality::OneToOne => "one-to-one",
                        Cardinality::ManyToOne => "many-to-one",
                        Cardinality::OneToMany => "one-to-many",
                        Cardinality::ManyToMany => "many-to-many",
                    },
                    "labels": m.labels,
                    "on": m.on,
                    "include": m.include,
                    "fillValues": {"lhs": m.fill.lhs, "rhs": m.fill.rhs},
                }),
                _ => Value::Null,
            };
            json!({
                "type": "binaryExpr",
                "op": b.op.as_str(),
                "lhs": translate(&b.lhs),
                "rhs": translate(&b.rhs),
                "matching": matching,
                "bool": b.return_bool,
            })
        }
        Expr::Call(c) => json!({
            "type": "call",
            "func": {
                "name": c.func.name,
                "argTypes": c.func.arg_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                "variadic": c.func.variadic,
                "returnType": c.func.return_type.as_str(),
            },
            "args": c.args.iter().map(translate).collect::<Vec<_>>(),
        }),
        Expr::MatrixSelector(m) => {
            let mut v = selector(&m.selector, "matrixSelector");
            v["range"] = json!(ms(&m.range));
            v
        }
        Expr::Subquery(s) => {
            let (timestamp, start_or_end) = at(s.at.as_ref());
            json!({
                "type": "subquery",
                "expr": translate(&s.expr),
                "range": ms(&s.range),
                "offset": s.offset.as_ref().map_or(0, ms),
                "step": s.step.as_ref().map_or(0, ms),
                "timestamp": timestamp,
                "startOrEnd": start_or_end,
                "alignEvalTime": false,
            })
        }
        Expr::Number(n) => json!({"type": "numberLiteral", "val": go_f_format(n.value)}),
        Expr::Paren(p) => json!({"type": "parenExpr", "expr": translate(&p.expr)}),
        Expr::String(s) => json!({"type": "stringLiteral", "val": s.value}),
        Expr::Unary(u) => json!({
            "type": "unaryExpr",
            "op": u.op.as_str(),
            "expr": translate(&u.expr),
        }),
        Expr::VectorSelector(vs) => selector(vs, "vectorSelector"),
        // Experimental `step()`-like scalars have no node in Prometheus's tree view.
        Expr::QueryTime(q) => json!({"type": "call", "func": {"name": q.kind.as_str(),
            "argTypes": [], "variadic": 0, "returnType": "scalar"}, "args": []}),
    }
}

fn selector(vs: &VectorSelector, typ: &str) -> Value {
    let (timestamp, start_or_end) = at(vs.at.as_ref());
    json!({
        "type": typ,
        "name": vs.name.as_deref().unwrap_or(""),
        "offset": vs.offset.as_ref().map_or(0, ms),
        "matchers": vs.matchers.iter().map(|m| json!({
            "name": m.name(),
            "value": m.value(),
            "type": m.op().as_str(),
        })).collect::<Vec<_>>(),
        "timestamp": timestamp,
        "startOrEnd": start_or_end,
        "anchored": vs.modifier == Some(RangeModifier::Anchored),
        "smoothed": vs.modifier == Some(RangeModifier::Smoothed),
    })
}

fn ms(d: &DurationArg) -> i64 {
    d.as_millis().unwrap_or(0)
}

fn at(a: Option<&AtModifier>) -> (Value, Value) {
    match a {
        None => (Value::Null, Value::Null),
        Some(AtModifier::Timestamp(t)) => (json!(t), Value::Null),
        Some(AtModifier::Start) => (Value::Null, json!("start")),
        Some(AtModifier::End) => (Value::Null, json!("end")),
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits, never an exponent.
fn go_f_format(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{f}")
    }
}

/// Writes a `serde_json::Value` with Go's string escaping (object keys are already sorted,
/// as Go writes maps).
pub(crate) fn push_json(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::String(s) => push_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json(out, x);
            }
            out.push(b']');
        }
        Value::Object(o) => {
            out.push(b'{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_str(out, k);
                out.push(b':');
                push_json(out, x);
            }
            out.push(b'}');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}
