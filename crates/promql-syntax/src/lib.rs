//! PromQL syntax: text to a typed AST with spans, and back to text.
//!
//! This crate **is** the front end of a PromQL engine: a lexer, a hand-written parser
//! for everything Prometheus 3.x accepts (with its experimental syntax behind
//! [`ParserOptions`] switches), Prometheus's type checks and error messages, a canonical
//! printer (Prometheus's `String()`) and a prettifier (its `Pretty`).
//!
//! It is **not** an evaluator: it reads no data and knows nothing about storage. The
//! `narthex-promql` engine evaluates the [`Expr`] trees it produces.
//!
//! ```
//! use narthex_promql_syntax::{parse, parse_with, Expr, ParserOptions, ValueType};
//!
//! let expr = parse(r#"SUM BY (job) (rate(http_requests_total{code=~"5.."}[5m]))"#).unwrap();
//! assert_eq!(expr.value_type(), ValueType::Vector);
//! assert_eq!(expr.to_string(), r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))"#);
//! let Expr::Aggregate(agg) = &expr else { unreachable!() };
//! assert_eq!(agg.grouping, ["job"]);
//! assert_eq!(agg.span.start..agg.span.end, 0..57);
//!
//! // Errors read like Prometheus's.
//! let err = parse("rate(http_requests_total)").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"1:6: parse error: expected type range vector in call to function "rate", got instant vector"#
//! );
//!
//! // Experimental syntax is opt-in, as with Prometheus's feature flags.
//! assert!(parse("rate(x[5m] smoothed)").is_err());
//! let opts = ParserOptions::all_experimental();
//! assert_eq!(parse_with("x offset (1h * 2)", &opts).unwrap().to_string(), "x offset (1h * 2)");
//! ```
//!
//! # Design
//! - Tokens are spans into the input; the lexer allocates nothing per token, and a
//!   string is unescaped (allocating) only when it has escapes.
//! - The parser is recursive descent with precedence climbing. It mirrors the yacc
//!   grammar of Prometheus: `^` is right-associative; `or` < `and`/`unless` <
//!   comparisons < `+ -` < `* / % atan2` < `^`; unary minus binds like `*` (tighter
//!   than `+`, looser than `^`); `offset`, `@` and `[...]` bind tightest. Unary minus on
//!   a number literal folds into the literal; nothing else is folded.
//! - Errors carry an [`ErrorKind`], a [`Span`] and Prometheus's message;
//!   [`ParseErrors`] displays them as Prometheus does (`1:5: parse error: ...`, one per
//!   line). Type checking runs only when parsing found no error, as in Prometheus.
//! - Functions come from a [`FunctionTable`] in the [`ParserOptions`]: no global
//!   registry, so a program can add its own functions to its own parser.
//! - `parse(print(e))` gives back `e` (apart from spans and the order of matchers, which
//!   the printer sorts like Prometheus).
//!
//! # Experimental syntax
//! Each behind a [`ParserOptions`] switch, all off by default like Prometheus's feature
//! flags; [`ParserOptions::all_experimental`] turns them all on (as Prometheus's test
//! scripts run): duration expressions (`x[5m + step()]`, `x offset (1h * 2)`,
//! `min_of`/`max_of`, `time() - 1h`, `start()`/`end()`/`step()`/`range()` as scalars),
//! the `anchored`/`smoothed` range modifiers, binary `fill`/`fill_left`/`fill_right`
//! modifiers, and experimental functions (`info`, `limitk`, `first_over_time`,
//! `ts_of_*_over_time`, `sort_by_label`...). The native-histogram trim operators `</`
//! and `>/` are always accepted.
//!
//! Prometheus's parser accepts `anchored` and `smoothed` with any function; its engine
//! rejects the unsupported ones. [`range_modifier_error`] gives that message
//! (`smoothed modifier can only be used with: delta, increase, rate - not with resets`)
//! for an engine to raise.
//!
//! # Differences from Prometheus
//! - Where the yacc parser recovers from a syntax error and reports several, this
//!   parser stops at the first; semantic errors (modifiers, arguments, types) are all
//!   collected, and several errors are shown one per line as Prometheus 3.x does.
//! - Regex errors come from the `regex` crate, so their text differs from Go's.
//! - Matcher values with invalid UTF-8 (from `\x` escapes) hold U+FFFD; string
//!   literals keep the exact bytes in [`StringLiteral::invalid_utf8`].
//! - The printer keeps `ignoring () group_left (...)` (Prometheus drops the grouping
//!   when the label list is empty) and writes a positive infinity on the left of `^` as
//!   `Inf` (Prometheus writes `+Inf`, which reads back as a unary plus), so that its
//!   output always parses back to the same tree.
//! - Syntax newer than the Prometheus sources this was written against follows the
//!   test scripts: the printed form of `fill(...)` and of `anchored`/`smoothed` (after
//!   `@` and `offset`), `</` and `>/` binding like `*`, the signatures of
//!   `histogram_quantiles` and `start_timestamp`, and the messages for disabled
//!   experimental syntax are best guesses.

mod ast;
mod check;
mod duration;
mod error;
mod functions;
mod lexer;
mod options;
mod parser;
mod pretty;
mod printer;
mod strings;

pub use ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Cardinality, DurationArg,
    DurationEvalError, DurationExpr, Expr, FillValues, MatrixSelector, NumberLiteral, ParenExpr,
    QueryTime, QueryTimeKind, RangeModifier, Span, StringLiteral, SubqueryExpr, UnaryExpr, UnaryOp,
    ValueType, VectorMatching, VectorSelector,
};
pub use check::range_modifier_error;
pub use duration::{format_duration, parse_duration, write_duration};
pub use error::{ErrorKind, ParseError, ParseErrors};
pub use functions::{ANCHORED_FUNCTIONS, Function, FunctionTable, SMOOTHED_FUNCTIONS};
pub use options::ParserOptions;
pub use pretty::MAX_CHARACTERS_PER_LINE;

/// Parses and type-checks a PromQL expression with the default options (Prometheus 3.x
/// without feature flags).
pub fn parse(input: &str) -> Result<Expr, ParseErrors> {
    parse_with(input, &ParserOptions::default())
}

/// Parses and type-checks a PromQL expression.
pub fn parse_with(input: &str, options: &ParserOptions) -> Result<Expr, ParseErrors> {
    let mut p = parser::Parser::new(input, options);
    let expr = p.parse_top();
    let mut errors = std::mem::take(&mut p.errors);
    match expr {
        Some(mut e) if errors.is_empty() => {
            check::check(&mut e, input, &mut errors);
            if errors.is_empty() {
                Ok(e)
            } else {
                Err(ParseErrors::new(errors))
            }
        }
        _ => {
            if errors.is_empty() {
                errors.push(ParseError::new(
                    input,
                    ErrorKind::UnexpectedToken,
                    Span::new(input.len(), input.len()),
                    "unexpected end of input".into(),
                ));
            }
            Err(ParseErrors::new(errors))
        }
    }
}
