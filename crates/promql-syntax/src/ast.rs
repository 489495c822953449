//! The abstract syntax tree. Every node carries the byte [`Span`] it was parsed from.
//!
//! The tree mirrors Prometheus's `promql/parser` AST closely, so that an evaluator can
//! follow Prometheus's semantics node by node:
//! - a vector selector's matchers include the implicit `__name__="name"` matcher for a
//!   name written outside the braces, appended last;
//! - offsets, `@` and the `anchored`/`smoothed` modifiers of a range selector live on its
//!   inner [`VectorSelector`];
//! - unary minus on a number literal is folded into a negative literal;
//! - after type checking, binary expressions between vectors carry a [`VectorMatching`]
//!   (set operators many-to-many), and those involving a scalar carry none.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use narthex_model::Matcher;

use crate::functions::Function;

/// A byte range `start..end` in the parsed text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset just past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl From<Span> for Range<usize> {
    fn from(s: Span) -> Self {
        s.start..s.end
    }
}

/// The type of a PromQL expression's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// No value (only for malformed trees).
    None,
    /// A single float.
    Scalar,
    /// An instant vector.
    Vector,
    /// A range vector.
    Matrix,
    /// A string.
    String,
}

impl ValueType {
    /// Prometheus's internal name: `scalar`, `vector`, `matrix`, `string`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }

    /// The name used in documentation and most error messages: `instant vector`,
    /// `range vector`, `scalar`, `string`.
    pub fn documented_name(self) -> &'static str {
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
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `1`, `-2.5e3`, `0x1f`, `Inf`, `NaN`, or a duration used as a number (`5m`).
    Number(NumberLiteral),
    /// `"text"`, `'text'` or `` `text` ``.
    String(Box<StringLiteral>),
    /// `metric{label="value"}` with optional `offset`, `@`, `anchored`/`smoothed`.
    VectorSelector(Box<VectorSelector>),
    /// `metric{...}[5m]`.
    MatrixSelector(Box<MatrixSelector>),
    /// `expr[30m:1m]`.
    Subquery(Box<SubqueryExpr>),
    /// `sum by (job) (expr)`, `topk(5, expr)`.
    Aggregate(Box<AggregateExpr>),
    /// `a + on (b) group_left (c) d`.
    Binary(Box<BinaryExpr>),
    /// `-expr`, `+expr`.
    Unary(Box<UnaryExpr>),
    /// `(expr)`.
    Paren(Box<ParenExpr>),
    /// `rate(x[5m])`.
    Call(Box<Call>),
    /// `start()`, `end()`, `step()` or `range()` used as a scalar (duration expressions).
    QueryTime(QueryTime),
}

/// A number literal.
#[derive(Clone, Copy, Debug)]
pub struct NumberLiteral {
    /// The value (seconds, for a duration).
    pub value: f64,
    /// Written as a duration (`1h30m`); printed back as one.
    pub duration: bool,
    /// Where it was written.
    pub span: Span,
}

impl PartialEq for NumberLiteral {
    /// Values compare bit for bit, so that `NaN` equals `NaN`.
    fn eq(&self, other: &Self) -> bool {
        self.value.to_bits() == other.value.to_bits()
            && self.duration == other.duration
            && self.span == other.span
    }
}

/// A string literal.
#[derive(Clone, Debug, PartialEq)]
pub struct StringLiteral {
    /// The unescaped value. Bytes that are not valid UTF-8 (from `\xNN` or octal
    /// escapes) are replaced by U+FFFD here; [`StringLiteral::bytes`] has them exactly.
    pub value: String,
    /// The exact bytes, present only when they are not valid UTF-8.
    pub invalid_utf8: Option<Box<[u8]>>,
    /// Where it was written, quotes included.
    pub span: Span,
}

impl StringLiteral {
    /// The exact unescaped bytes (which Prometheus, working on Go strings, sees).
    pub fn bytes(&self) -> &[u8] {
        self.invalid_utf8
            .as_deref()
            .unwrap_or(self.value.as_bytes())
    }
}

/// A duration written as a literal, or (with duration expressions enabled) computed.
#[derive(Clone, Debug, PartialEq)]
pub enum DurationArg {
    /// A fixed duration in milliseconds (negative only for offsets).
    Literal {
        /// Milliseconds.
        ms: i64,
        /// Where it was written.
        span: Span,
    },
    /// An expression evaluated per query, e.g. `5m + step()`.
    Expr(Box<DurationExpr>),
}

impl DurationArg {
    /// Where it was written.
    pub fn span(&self) -> Span {
        match self {
            DurationArg::Literal { span, .. } => *span,
            DurationArg::Expr(e) => e.span(),
        }
    }

    /// The fixed duration in milliseconds, if it is a literal.
    pub fn as_millis(&self) -> Option<i64> {
        match self {
            DurationArg::Literal { ms, .. } => Some(*ms),
            DurationArg::Expr(_) => None,
        }
    }
}

/// A duration expression (experimental in Prometheus): arithmetic over numbers (seconds)
/// and durations, `step()`, `range()`, `min_of(a, b)`, `max_of(a, b)`.
#[derive(Clone, Debug, PartialEq)]
pub enum DurationExpr {
    /// A number (seconds) or duration literal.
    Number(NumberLiteral),
    /// `-expr`. (A unary plus is dropped when parsing.)
    Neg {
        /// The operand.
        expr: Box<DurationExpr>,
        /// Where it was written.
        span: Span,
    },
    /// `lhs op rhs` with `+ - * / % ^`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<DurationExpr>,
        /// Right operand.
        rhs: Box<DurationExpr>,
        /// Where it was written.
        span: Span,
    },
    /// `(expr)`.
    Paren {
        /// The inner expression.
        expr: Box<DurationExpr>,
        /// Where it was written.
        span: Span,
    },
    /// `step()`: the query's step.
    Step(Span),
    /// `range()`: the query's range (end - start).
    Range(Span),
    /// `min_of(a, b)` or `max_of(a, b)`.
    MinMax {
        /// `max_of` when true, `min_of` otherwise.
        max: bool,
        /// First argument.
        lhs: Box<DurationExpr>,
        /// Second argument.
        rhs: Box<DurationExpr>,
        /// Where it was written.
        span: Span,
    },
}

/// Why a duration expression could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationEvalError {
    /// `x / 0`.
    #[error("division by zero")]
    DivisionByZero,
    /// `x % 0`.
    #[error("modulo by zero")]
    ModuloByZero,
}

impl DurationExpr {
    /// Where it was written.
    pub fn span(&self) -> Span {
        match self {
            DurationExpr::Number(n) => n.span,
            DurationExpr::Neg { span, .. }
            | DurationExpr::Binary { span, .. }
            | DurationExpr::Paren { span, .. }
            | DurationExpr::MinMax { span, .. } => *span,
            DurationExpr::Step(s) | DurationExpr::Range(s) => *s,
        }
    }

    /// Evaluates to seconds, given the query's step and range in milliseconds.
    pub fn eval(&self, step_ms: i64, range_ms: i64) -> Result<f64, DurationEvalError> {
        Ok(match self {
            DurationExpr::Number(n) => n.value,
            DurationExpr::Neg { expr, .. } => -expr.eval(step_ms, range_ms)?,
            DurationExpr::Paren { expr, .. } => expr.eval(step_ms, range_ms)?,
            DurationExpr::Step(_) => step_ms as f64 / 1000.0,
            DurationExpr::Range(_) => range_ms as f64 / 1000.0,
            DurationExpr::MinMax { max, lhs, rhs, .. } => {
                let (a, b) = (lhs.eval(step_ms, range_ms)?, rhs.eval(step_ms, range_ms)?);
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else if *max {
                    a.max(b)
                } else {
                    a.min(b)
                }
            }
            DurationExpr::Binary { op, lhs, rhs, .. } => {
                let (a, b) = (lhs.eval(step_ms, range_ms)?, rhs.eval(step_ms, range_ms)?);
                match op {
                    BinaryOp::Add => a + b,
                    BinaryOp::Sub => a - b,
                    BinaryOp::Mul => a * b,
                    BinaryOp::Div if b == 0.0 => return Err(DurationEvalError::DivisionByZero),
                    BinaryOp::Div => a / b,
                    BinaryOp::Mod if b == 0.0 => return Err(DurationEvalError::ModuloByZero),
                    BinaryOp::Mod => a % b,
                    BinaryOp::Pow => a.powf(b),
                    _ => f64::NAN,
                }
            }
        })
    }
}

/// The `@` modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtModifier {
    /// `@ <seconds>`, stored in milliseconds.
    Timestamp(i64),
    /// `@ start()`.
    Start,
    /// `@ end()`.
    End,
}

/// The extended range selector modifiers (experimental in Prometheus).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RangeModifier {
    /// `anchored`: the range is extended with the last sample before it.
    Anchored,
    /// `smoothed`: values at the range boundaries are interpolated.
    Smoothed,
}

impl RangeModifier {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            RangeModifier::Anchored => "anchored",
            RangeModifier::Smoothed => "smoothed",
        }
    }
}

/// An instant vector selector.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSelector {
    /// The metric name written outside the braces, if any.
    pub name: Option<String>,
    /// Every matcher, in the order written; a name written outside the braces adds a
    /// `__name__="name"` matcher at the end.
    pub matchers: Vec<Matcher>,
    /// `offset <duration>` (none when zero).
    pub offset: Option<DurationArg>,
    /// `@ <time>`.
    pub at: Option<AtModifier>,
    /// `anchored` or `smoothed`.
    pub modifier: Option<RangeModifier>,
    /// Where it was written, modifiers included.
    pub span: Span,
}

/// A range vector selector: `selector[range]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixSelector {
    /// The selector, which holds the offset, `@` and range modifiers.
    pub selector: VectorSelector,
    /// The range.
    pub range: DurationArg,
    /// Where it was written, modifiers included.
    pub span: Span,
}

/// A subquery: `expr[range:step]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SubqueryExpr {
    /// The inner expression.
    pub expr: Expr,
    /// The range.
    pub range: DurationArg,
    /// The step; none means the evaluator's default.
    pub step: Option<DurationArg>,
    /// `offset <duration>` (none when zero).
    pub offset: Option<DurationArg>,
    /// `@ <time>`.
    pub at: Option<AtModifier>,
    /// Where it was written, modifiers included.
    pub span: Span,
}

/// The aggregation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// `quantile(q, v)`
    Quantile,
    /// `count_values("label", v)`
    CountValues,
    /// `limitk(k, v)` (experimental)
    Limitk,
    /// `limit_ratio(r, v)` (experimental)
    LimitRatio,
}

impl AggregateOp {
    /// The keyword, lower case.
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
            AggregateOp::Quantile => "quantile",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Whether it takes a parameter before the vector.
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::Quantile
                | AggregateOp::CountValues
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        )
    }

    /// Whether Prometheus gates it behind its experimental-functions flag.
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }

    /// Every operator.
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
        AggregateOp::Quantile,
        AggregateOp::CountValues,
        AggregateOp::Limitk,
        AggregateOp::LimitRatio,
    ];
}

impl fmt::Display for AggregateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An aggregation.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateExpr {
    /// The operator.
    pub op: AggregateOp,
    /// The aggregated expression.
    pub expr: Expr,
    /// The parameter of `topk`, `quantile`, `count_values`...
    pub param: Option<Expr>,
    /// The labels of `by (...)` or `without (...)`.
    pub grouping: Vec<String>,
    /// `without` rather than `by`.
    pub without: bool,
    /// Where it was written.
    pub span: Span,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// `>`
    Gtr,
    /// `<`
    Lss,
    /// `>=`
    Gte,
    /// `<=`
    Lte,
    /// `</`: keeps the part of each native histogram below the scalar.
    TrimUpper,
    /// `>/`: keeps the part of each native histogram above the scalar.
    TrimLower,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// The operator as written (keywords lower case).
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
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }

    /// Binding strength: `or` 1, `and unless` 2, comparisons 3, `+ -` 4,
    /// `* / % atan2 </ >/` 5, `^` 6.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Gtr
            | BinaryOp::Lss
            | BinaryOp::Gte
            | BinaryOp::Lte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::Atan2
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// Only `^` is right-associative.
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    /// `== != > < >= <=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// `and or unless`.
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// Every operator.
    pub const ALL: [BinaryOp; 18] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Mod,
        BinaryOp::Pow,
        BinaryOp::Atan2,
        BinaryOp::Eql,
        BinaryOp::Neq,
        BinaryOp::Gtr,
        BinaryOp::Lss,
        BinaryOp::Gte,
        BinaryOp::Lte,
        BinaryOp::TrimUpper,
        BinaryOp::TrimLower,
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::Unless,
    ];
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many series on each side of a binary operation may match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Cardinality {
    /// The default for arithmetic and comparisons.
    #[default]
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// Values for series missing on one side (`fill`, `fill_left`, `fill_right`;
/// experimental in Prometheus).
#[derive(Clone, Copy, Debug, Default)]
pub struct FillValues {
    /// Used when the left-hand side has no match.
    pub lhs: Option<f64>,
    /// Used when the right-hand side has no match.
    pub rhs: Option<f64>,
}

impl PartialEq for FillValues {
    fn eq(&self, other: &Self) -> bool {
        self.lhs.map(f64::to_bits) == other.lhs.map(f64::to_bits)
            && self.rhs.map(f64::to_bits) == other.rhs.map(f64::to_bits)
    }
}

impl FillValues {
    /// Whether neither side has a value.
    pub fn is_empty(&self) -> bool {
        self.lhs.is_none() && self.rhs.is_none()
    }
}

/// How the series of the two sides of a binary operation between vectors are matched.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VectorMatching {
    /// Which side may have several matches.
    pub card: Cardinality,
    /// `on (...)` rather than `ignoring (...)`.
    pub on: bool,
    /// The labels of `on`/`ignoring`.
    pub labels: Vec<String>,
    /// The labels of `group_left (...)`/`group_right (...)`.
    pub include: Vec<String>,
    /// Fill values.
    pub fill: FillValues,
}

/// A binary operation.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Expr,
    /// Right operand.
    pub rhs: Expr,
    /// The `bool` modifier of comparisons.
    pub return_bool: bool,
    /// Vector matching, for operations between two instant vectors.
    pub matching: Option<VectorMatching>,
    /// Where it was written.
    pub span: Span,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `+`
    Plus,
}

impl UnaryOp {
    /// The operator.
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Plus => "+",
        }
    }
}

/// A unary operation.
#[derive(Clone, Debug, PartialEq)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand.
    pub expr: Expr,
    /// Where it was written.
    pub span: Span,
}

/// A parenthesised expression.
#[derive(Clone, Debug, PartialEq)]
pub struct ParenExpr {
    /// The inner expression.
    pub expr: Expr,
    /// Where it was written, parentheses included.
    pub span: Span,
}

/// A function call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The function, from the parser's [`FunctionTable`](crate::FunctionTable).
    pub func: Arc<Function>,
    /// The arguments.
    pub args: Vec<Expr>,
    /// Where it was written.
    pub span: Span,
}

/// Which property of the query a [`QueryTime`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryTimeKind {
    /// `start()`: the query's start time, in seconds.
    Start,
    /// `end()`: the query's end time, in seconds.
    End,
    /// `step()`: the query's step, in seconds.
    Step,
    /// `range()`: end minus start, in seconds.
    Range,
}

impl QueryTimeKind {
    /// The function name.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryTimeKind::Start => "start",
            QueryTimeKind::End => "end",
            QueryTimeKind::Step => "step",
            QueryTimeKind::Range => "range",
        }
    }
}

/// `start()`, `end()`, `step()` or `range()` as a scalar expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryTime {
    /// Which one.
    pub kind: QueryTimeKind,
    /// Where it was written.
    pub span: Span,
}

impl Expr {
    /// Where it was written.
    pub fn span(&self) -> Span {
        match self {
            Expr::Number(n) => n.span,
            Expr::String(s) => s.span,
            Expr::VectorSelector(v) => v.span,
            Expr::MatrixSelector(m) => m.span,
            Expr::Subquery(s) => s.span,
            Expr::Aggregate(a) => a.span,
            Expr::Binary(b) => b.span,
            Expr::Unary(u) => u.span,
            Expr::Paren(p) => p.span,
            Expr::Call(c) => c.span,
            Expr::QueryTime(q) => q.span,
        }
    }

    /// The type of the expression's value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) | Expr::QueryTime(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::VectorSelector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Unary(u) => u.expr.value_type(),
            Expr::Paren(p) => p.expr.value_type(),
            Expr::Call(c) => c.func.return_type,
        }
    }

    /// The direct children, in source order.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Number(_)
            | Expr::String(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_)
            | Expr::QueryTime(_) => Vec::new(),
            Expr::Subquery(s) => vec![&s.expr],
            Expr::Aggregate(a) => a.param.iter().chain(std::iter::once(&a.expr)).collect(),
            Expr::Binary(b) => vec![&b.lhs, &b.rhs],
            Expr::Unary(u) => vec![&u.expr],
            Expr::Paren(p) => vec![&p.expr],
            Expr::Call(c) => c.args.iter().collect(),
        }
    }

    /// Calls `f` on this node and every descendant, parents before children.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        for c in self.children() {
            c.walk(f);
        }
    }

    /// Sets every span in the tree to `0..0`, so that trees parsed from differently
    /// written texts compare equal when their structure is the same.
    pub fn clear_spans(&mut self) {
        fn arg(a: &mut DurationArg) {
            match a {
                DurationArg::Literal { span, .. } => *span = Span::default(),
                DurationArg::Expr(e) => dur(e),
            }
        }
        fn dur(e: &mut DurationExpr) {
            match e {
                DurationExpr::Number(n) => n.span = Span::default(),
                DurationExpr::Neg { expr, span } | DurationExpr::Paren { expr, span } => {
                    *span = Span::default();
                    dur(expr);
                }
                DurationExpr::Binary { lhs, rhs, span, .. }
                | DurationExpr::MinMax { lhs, rhs, span, .. } => {
                    *span = Span::default();
                    dur(lhs);
                    dur(rhs);
                }
                DurationExpr::Step(s) | DurationExpr::Range(s) => *s = Span::default(),
            }
        }
        fn vs(v: &mut VectorSelector) {
            v.span = Span::default();
            if let Some(o) = &mut v.offset {
                arg(o);
            }
        }
        match self {
            Expr::Number(n) => n.span = Span::default(),
            Expr::String(s) => s.span = Span::default(),
            Expr::VectorSelector(v) => vs(v),
            Expr::MatrixSelector(m) => {
                m.span = Span::default();
                vs(&mut m.selector);
                arg(&mut m.range);
            }
            Expr::Subquery(s) => {
                s.span = Span::default();
                arg(&mut s.range);
                if let Some(a) = &mut s.step {
                    arg(a);
                }
                if let Some(a) = &mut s.offset {
                    arg(a);
                }
                s.expr.clear_spans();
            }
            Expr::Aggregate(a) => {
                a.span = Span::default();
                if let Some(p) = &mut a.param {
                    p.clear_spans();
                }
                a.expr.clear_spans();
            }
            Expr::Binary(b) => {
                b.span = Span::default();
                b.lhs.clear_spans();
                b.rhs.clear_spans();
            }
            Expr::Unary(u) => {
                u.span = Span::default();
                u.expr.clear_spans();
            }
            Expr::Paren(p) => {
                p.span = Span::default();
                p.expr.clear_spans();
            }
            Expr::Call(c) => {
                c.span = Span::default();
                for a in &mut c.args {
                    a.clear_spans();
                }
            }
            Expr::QueryTime(q) => q.span = Span::default(),
        }
    }

    /// Whether the two trees are equal apart from their spans.
    pub fn eq_ignoring_spans(&self, other: &Expr) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.clear_spans();
        b.clear_spans();
        a.sort_matchers();
        b.sort_matchers();
        a == b
    }

    /// Sorts every selector's matchers (the printer sorts them, like Prometheus).
    fn sort_matchers(&mut self) {
        fn sort(v: &mut VectorSelector) {
            v.matchers
                .sort_by(|a, b| (a.name(), a.op(), a.value()).cmp(&(b.name(), b.op(), b.value())));
        }
        match self {
            Expr::VectorSelector(v) => sort(v),
            Expr::MatrixSelector(m) => sort(&mut m.selector),
            Expr::Subquery(s) => s.expr.sort_matchers(),
            Expr::Aggregate(a) => {
                a.expr.sort_matchers();
                if let Some(p) = &mut a.param {
                    p.sort_matchers();
                }
            }
            Expr::Binary(b) => {
                b.lhs.sort_matchers();
                b.rhs.sort_matchers();
            }
            Expr::Unary(u) => u.expr.sort_matchers(),
            Expr::Paren(p) => p.expr.sort_matchers(),
            Expr::Call(c) => c.args.iter_mut().for_each(Expr::sort_matchers),
            Expr::Number(_) | Expr::String(_) | Expr::QueryTime(_) => {}
        }
    }
}
