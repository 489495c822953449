//! The hand-written recursive-descent (Pratt) parser.
//!
//! It follows Prometheus's yacc grammar: the same precedences, the same places where
//! keywords may name metrics, the same semantic checks in the same order and the same
//! messages. Errors the grammar can recover from (a modifier in the wrong place, a bad
//! regex) are collected and parsing goes on; a token the grammar cannot use stops it.

use std::borrow::Cow;

use narthex_model::{MatchOp, Matcher};

use crate::ast::*;
use crate::duration::parse_duration;
use crate::error::{ErrorKind, ParseError};
use crate::lexer::{Lexer, Tok, Token};
use crate::options::ParserOptions;
use crate::strings::unquote;

/// Parsing stopped; the reason is in the parser's errors.
pub(crate) struct Abort;

type PResult<T> = Result<T, Abort>;

pub(crate) struct Parser<'a> {
    src: &'a str,
    lex: Lexer<'a>,
    tok: Token,
    ahead: Option<Token>,
    opts: &'a ParserOptions,
    pub(crate) errors: Vec<ParseError>,
    lex_failed: bool,
    last_end: usize,
    depth: usize,
}

const POW_PRECEDENCE: u8 = 6;

fn binary_op(t: Tok) -> Option<BinaryOp> {
    Some(match t {
        Tok::Add => BinaryOp::Add,
        Tok::Sub => BinaryOp::Sub,
        Tok::Mul => BinaryOp::Mul,
        Tok::Div => BinaryOp::Div,
        Tok::Mod => BinaryOp::Mod,
        Tok::Pow => BinaryOp::Pow,
        Tok::Atan2 => BinaryOp::Atan2,
        Tok::EqlC => BinaryOp::Eql,
        Tok::Neq => BinaryOp::Neq,
        Tok::Gtr => BinaryOp::Gtr,
        Tok::Lss => BinaryOp::Lss,
        Tok::Gte => BinaryOp::Gte,
        Tok::Lte => BinaryOp::Lte,
        Tok::TrimUpper => BinaryOp::TrimUpper,
        Tok::TrimLower => BinaryOp::TrimLower,
        Tok::LAnd => BinaryOp::And,
        Tok::LOr => BinaryOp::Or,
        Tok::LUnless => BinaryOp::Unless,
        _ => return None,
    })
}

fn duration_op(t: Tok) -> Option<BinaryOp> {
    match t {
        Tok::Add | Tok::Sub | Tok::Mul | Tok::Div | Tok::Mod | Tok::Pow => binary_op(t),
        _ => None,
    }
}

fn aggregate_op(t: Tok) -> Option<AggregateOp> {
    Some(match t {
        Tok::Sum => AggregateOp::Sum,
        Tok::Avg => AggregateOp::Avg,
        Tok::Count => AggregateOp::Count,
        Tok::Min => AggregateOp::Min,
        Tok::Max => AggregateOp::Max,
        Tok::Group => AggregateOp::Group,
        Tok::Stddev => AggregateOp::Stddev,
        Tok::Stdvar => AggregateOp::Stdvar,
        Tok::Topk => AggregateOp::Topk,
        Tok::Bottomk => AggregateOp::Bottomk,
        Tok::Quantile => AggregateOp::Quantile,
        Tok::CountValues => AggregateOp::CountValues,
        Tok::Limitk => AggregateOp::Limitk,
        Tok::LimitRatio => AggregateOp::LimitRatio,
        _ => return None,
    })
}

fn match_op(t: Tok) -> Option<MatchOp> {
    Some(match t {
        Tok::Eql => MatchOp::Equal,
        Tok::Neq => MatchOp::NotEqual,
        Tok::EqlRegex => MatchOp::RegexMatch,
        Tok::NeqRegex => MatchOp::RegexNoMatch,
        _ => return None,
    })
}

/// Go's `strconv.ParseInt(s, 0, 64)` for the unsigned literals the lexer produces.
fn go_parse_int(s: &str) -> Option<i64> {
    let (digits, radix) = if let Some(r) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (r, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() {
        return None;
    }
    let clean: Cow<'_, str> = if s.contains('_') {
        if !underscore_ok(s) {
            return None;
        }
        Cow::Owned(digits.replace('_', ""))
    } else {
        Cow::Borrowed(digits)
    };
    if clean.is_empty() || clean.starts_with('+') || clean.starts_with('-') {
        return None;
    }
    i64::from_str_radix(&clean, radix).ok()
}

/// Go's rule for `_` in number literals: only between digits (or after a base prefix).
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's `%f`.
fn go_percent_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v:.6}")
    }
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, opts: &'a ParserOptions) -> Self {
        let mut p = Parser {
            src,
            lex: Lexer::new(src),
            tok: Token {
                kind: Tok::Eof,
                start: 0,
                end: 0,
            },
            ahead: None,
            opts,
            errors: Vec::new(),
            lex_failed: false,
            last_end: 0,
            depth: 0,
        };
        p.tok = p.lex_next();
        p
    }

    // ---- token plumbing -------------------------------------------------------------

    fn lex_next(&mut self) -> Token {
        let t = self.lex.next_token();
        if t.kind != Tok::Error {
            return t;
        }
        let (msg, start) = self.lex.error.clone().unwrap_or_default();
        self.error(ErrorKind::Lex, Span::new(start, self.src.len()), msg);
        self.lex_failed = true;
        let len = self.src.len();
        Token {
            kind: Tok::Eof,
            start: len,
            end: len,
        }
    }

    fn bump(&mut self) -> Token {
        let next = match self.ahead.take() {
            Some(t) => t,
            None => self.lex_next(),
        };
        let prev = std::mem::replace(&mut self.tok, next);
        self.last_end = prev.end;
        prev
    }

    fn peek2(&mut self) -> Tok {
        if self.ahead.is_none() {
            self.ahead = Some(self.lex_next());
        }
        self.ahead.map_or(Tok::Eof, |t| t.kind)
    }

    fn text(&self, t: Token) -> &'a str {
        t.text(self.src)
    }

    pub(crate) fn error(&mut self, kind: ErrorKind, span: Span, message: String) {
        self.errors
            .push(ParseError::new(self.src, kind, span, message));
    }

    /// Prometheus's `unexpected(context, expected)` for the current token.
    fn unexpected(&mut self, context: &str, expected: &str) -> Abort {
        if self.tok.kind == Tok::Eof && self.lex_failed {
            return Abort;
        }
        let mut msg = format!("unexpected {}", self.tok.describe(self.src));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        let span = Span::new(self.tok.start, self.tok.end);
        self.error(ErrorKind::UnexpectedToken, span, msg);
        Abort
    }

    fn expect(&mut self, kind: Tok, context: &str, expected: &str) -> PResult<Token> {
        if self.tok.kind == kind {
            Ok(self.bump())
        } else {
            Err(self.unexpected(context, expected))
        }
    }

    /// One more level of nesting; fails beyond [`ParserOptions::max_nesting`].
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > self.opts.max_nesting {
            let span = Span::new(self.tok.start, self.tok.end);
            let msg = format!(
                "expression nesting too deep (more than {} levels)",
                self.opts.max_nesting
            );
            self.error(ErrorKind::TooDeep, span, msg);
            return Err(Abort);
        }
        Ok(())
    }

    fn not_enabled(&mut self, span: Span, what: &str) {
        self.error(ErrorKind::NotEnabled, span, what.to_string());
    }

    // ---- entry ----------------------------------------------------------------------

    pub(crate) fn parse_top(&mut self) -> Option<Expr> {
        if self.tok.kind == Tok::Eof {
            if !self.lex_failed {
                self.error(
                    ErrorKind::NoExpression,
                    Span::new(0, 0),
                    "no expression found in input".into(),
                );
            }
            return None;
        }
        let e = self.expr(0).ok()?;
        if self.tok.kind != Tok::Eof {
            self.unexpected("", "");
            return None;
        }
        Some(e)
    }

    // ---- expressions ----------------------------------------------------------------

    fn expr(&mut self, min_prec: u8) -> PResult<Expr> {
        let saved = self.depth;
        self.enter()?;
        let mut lhs = self.unary()?;
        while let Some(op) = binary_op(self.tok.kind) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.enter()?;
            self.bump();
            let mut matching = VectorMatching::default();
            let mut return_bool = false;
            if self.tok.kind == Tok::Bool {
                self.bump();
                return_bool = true;
            }
            if matches!(self.tok.kind, Tok::On | Tok::Ignoring) {
                matching.on = self.bump().kind == Tok::On;
                matching.labels = self.grouping_labels()?;
                if matches!(self.tok.kind, Tok::GroupLeft | Tok::GroupRight) {
                    matching.card = if self.bump().kind == Tok::GroupLeft {
                        Cardinality::ManyToOne
                    } else {
                        Cardinality::OneToMany
                    };
                    if self.tok.kind == Tok::LParen {
                        matching.include = self.grouping_labels()?;
                    }
                }
            }
            self.fill_modifiers(&mut matching.fill)?;
            let next = if op.is_right_associative() {
                prec
            } else {
                prec + 1
            };
            let rhs = self.expr(next)?;
            let span = lhs.span().to(rhs.span());
            lhs = Expr::Binary(Box::new(BinaryExpr {
                op,
                lhs,
                rhs,
                return_bool,
                matching: Some(matching),
                span,
            }));
        }
        self.depth = saved;
        Ok(lhs)
    }

    fn is_fill_keyword(&mut self) -> Option<(bool, bool)> {
        if self.tok.kind != Tok::Ident {
            return None;
        }
        let t = self.text(self.tok);
        let sides = if t.eq_ignore_ascii_case("fill") {
            (true, true)
        } else if t.eq_ignore_ascii_case("fill_left") {
            (true, false)
        } else if t.eq_ignore_ascii_case("fill_right") {
            (false, true)
        } else {
            return None;
        };
        (self.peek2() == Tok::LParen).then_some(sides)
    }

    fn fill_modifiers(&mut self, fill: &mut FillValues) -> PResult<()> {
        while let Some((left, right)) = self.is_fill_keyword() {
            let kw = self.bump();
            if !self.opts.binop_fill_modifiers {
                self.not_enabled(
                    Span::new(kw.start, kw.end),
                    "binary operator fill modifiers are experimental and must be enabled with --enable-feature=promql-binop-fill-modifiers",
                );
            }
            self.bump();
            let value = self.signed_number("fill modifier")?;
            let close = self.expect(Tok::RParen, "fill modifier", "\")\"")?;
            let span = Span::new(kw.start, close.end);
            if (left && fill.lhs.is_some()) || (right && fill.rhs.is_some()) {
                self.error(
                    ErrorKind::InvalidModifier,
                    span,
                    "fill value may not be set multiple times for the same side".into(),
                );
            }
            if left {
                fill.lhs = Some(value);
            }
            if right {
                fill.rhs = Some(value);
            }
        }
        Ok(())
    }

    /// An optionally signed number or duration (in seconds).
    fn signed_number(&mut self, context: &str) -> PResult<f64> {
        let neg = match self.tok.kind {
            Tok::Sub => {
                self.bump();
                true
            }
            Tok::Add => {
                self.bump();
                false
            }
            _ => false,
        };
        let v = match self.tok.kind {
            Tok::Number => {
                let t = self.bump();
                self.number_value(t)
            }
            Tok::Duration => {
                let t = self.bump();
                self.duration_value(t) as f64 / 1000.0
            }
            _ => return Err(self.unexpected(context, "number or duration")),
        };
        Ok(if neg { negate(v) } else { v })
    }

    fn unary(&mut self) -> PResult<Expr> {
        let op = match self.tok.kind {
            Tok::Add => UnaryOp::Plus,
            Tok::Sub => UnaryOp::Neg,
            _ => return self.postfix(),
        };
        let t = self.bump();
        let operand = self.expr(POW_PRECEDENCE)?;
        let span = Span::new(t.start, operand.span().end);
        if let Expr::Number(mut n) = operand {
            if op == UnaryOp::Neg {
                n.value = negate(n.value);
            }
            n.span = span;
            return Ok(Expr::Number(n));
        }
        Ok(Expr::Unary(Box::new(UnaryExpr {
            op,
            expr: operand,
            span,
        })))
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let saved = self.depth;
        let mut e = self.primary()?;
        loop {
            if self.tok.kind == Tok::LBracket {
                self.enter()?;
            }
            e = match self.tok.kind {
                Tok::LBracket => self.range_or_subquery(e)?,
                Tok::Offset => self.offset(e)?,
                Tok::At => self.at(e)?,
                Tok::Anchored | Tok::Smoothed => self.range_modifier(e),
                _ => {
                    self.depth = saved;
                    return Ok(e);
                }
            };
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        let t = self.tok;
        let span = Span::new(t.start, t.end);
        match t.kind {
            Tok::Number => {
                self.bump();
                let value = self.number_value(t);
                Ok(Expr::Number(NumberLiteral {
                    value,
                    duration: false,
                    span,
                }))
            }
            Tok::Duration => {
                if !self.opts.duration_expressions {
                    return Err(self.unexpected("", ""));
                }
                self.bump();
                let ms = self.duration_value(t);
                Ok(Expr::Number(NumberLiteral {
                    value: ms as f64 / 1000.0,
                    duration: true,
                    span,
                }))
            }
            Tok::String => {
                self.bump();
                let u = unquote(self.text(t));
                Ok(Expr::String(Box::new(StringLiteral {
                    value: u.text.into_owned(),
                    invalid_utf8: u.invalid,
                    span,
                })))
            }
            Tok::LParen => {
                self.bump();
                let inner = self.expr(0)?;
                let close = self.expect(Tok::RParen, "", "")?;
                Ok(Expr::Paren(Box::new(ParenExpr {
                    expr: inner,
                    span: Span::new(t.start, close.end),
                })))
            }
            Tok::LBrace => self.vector_selector(None),
            Tok::Ident if self.peek2() == Tok::LParen => self.call(),
            k if k.is_aggregator()
                && matches!(self.peek2(), Tok::LParen | Tok::By | Tok::Without) =>
            {
                self.aggregate()
            }
            Tok::Start | Tok::End | Tok::Step | Tok::Range if self.peek2() == Tok::LParen => {
                self.query_time()
            }
            k if k.is_metric_identifier() => {
                self.bump();
                self.vector_selector(Some(t))
            }
            _ => Err(self.unexpected("", "")),
        }
    }

    fn number_value(&mut self, t: Token) -> f64 {
        let text = self.text(t);
        if let Some(v) = go_parse_int(text) {
            return v as f64;
        }
        match narthex_model::float::parse_go_float(text) {
            Ok(v) => v,
            Err(e) => {
                let why = match e {
                    narthex_model::float::ParseFloatError::InvalidSyntax => "invalid syntax",
                    narthex_model::float::ParseFloatError::OutOfRange(_) => "value out of range",
                };
                self.error(
                    ErrorKind::InvalidNumber,
                    Span::new(t.start, t.end),
                    format!(
                        "error parsing number: strconv.ParseFloat: parsing {}: {why}",
                        narthex_model::go_quote(text)
                    ),
                );
                e.go_value()
            }
        }
    }

    /// A duration token's value in milliseconds; reports malformed ones.
    fn duration_value(&mut self, t: Token) -> i64 {
        match parse_duration(self.text(t)) {
            Ok(ms) => ms,
            Err(msg) => {
                self.error(ErrorKind::InvalidDuration, Span::new(t.start, t.end), msg);
                0
            }
        }
    }

    fn query_time(&mut self) -> PResult<Expr> {
        let kw = self.bump();
        let kind = match kw.kind {
            Tok::Start => QueryTimeKind::Start,
            Tok::End => QueryTimeKind::End,
            Tok::Step => QueryTimeKind::Step,
            _ => QueryTimeKind::Range,
        };
        self.bump();
        let close = self.expect(Tok::RParen, "", "\")\"")?;
        let span = Span::new(kw.start, close.end);
        if !self.opts.duration_expressions {
            self.not_enabled(
                span,
                &format!(
                    "{}() is an experimental duration expression and must be enabled with --enable-feature=promql-duration-expr",
                    kind.as_str()
                ),
            );
        }
        Ok(Expr::QueryTime(QueryTime { kind, span }))
    }

    // ---- selectors ------------------------------------------------------------------

    fn vector_selector(&mut self, name: Option<Token>) -> PResult<Expr> {
        let start = name.map_or(self.tok.start, |t| t.start);
        let mut end = name.map_or(self.tok.end, |t| t.end);
        let mut matchers = Vec::new();
        if self.tok.kind == Tok::LBrace {
            end = self.label_matchers(&mut matchers)?;
        }
        let name = name.map(|t| self.text(t).to_string());
        if let Some(n) = &name
            && let Ok(m) = Matcher::new(MatchOp::Equal, narthex_model::METRIC_NAME, n.as_str())
        {
            matchers.push(m);
        }
        Ok(Expr::VectorSelector(Box::new(VectorSelector {
            name,
            matchers,
            offset: None,
            at: None,
            modifier: None,
            span: Span::new(start, end),
        })))
    }

    /// `{...}`; returns the end of the closing brace.
    fn label_matchers(&mut self, out: &mut Vec<Matcher>) -> PResult<usize> {
        self.bump();
        loop {
            match self.tok.kind {
                Tok::RBrace => return Ok(self.bump().end),
                Tok::Ident | Tok::String => {
                    let name_tok = self.bump();
                    let name: Cow<'a, str> = if name_tok.kind == Tok::String {
                        unquote(self.text(name_tok)).text
                    } else {
                        Cow::Borrowed(self.text(name_tok))
                    };
                    match match_op(self.tok.kind) {
                        Some(op) => {
                            self.bump();
                            if self.tok.kind != Tok::String {
                                return Err(self.unexpected("label matching", "string"));
                            }
                            let value_tok = self.bump();
                            let value = unquote(self.text(value_tok)).text;
                            let span = Span::new(name_tok.start, value_tok.end);
                            out.push(self.new_matcher(op, &name, &value, span));
                        }
                        None if name_tok.kind == Tok::String => {
                            let span = Span::new(name_tok.start, name_tok.end);
                            out.push(self.new_matcher(
                                MatchOp::Equal,
                                narthex_model::METRIC_NAME,
                                &name,
                                span,
                            ));
                        }
                        None => {
                            return Err(
                                self.unexpected("label matching", "label matching operator")
                            );
                        }
                    }
                }
                _ => return Err(self.unexpected("label matching", "identifier or \"}\"")),
            }
            match self.tok.kind {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBrace => return Ok(self.bump().end),
                _ => return Err(self.unexpected("label matching", "\",\" or \"}\"")),
            }
        }
    }

    fn new_matcher(&mut self, op: MatchOp, name: &str, value: &str, span: Span) -> Matcher {
        match Matcher::new(op, name, value) {
            Ok(m) => m,
            Err(e) => {
                self.error(ErrorKind::InvalidSelector, span, e.to_string());
                Matcher::new(MatchOp::Equal, name, value)
                    .unwrap_or_else(|_| unreachable!("equality matchers always build"))
            }
        }
    }

    fn range_or_subquery(&mut self, e: Expr) -> PResult<Expr> {
        let lb = self.bump();
        let range = self.duration_arg(false, "subquery or range")?;
        match self.tok.kind {
            Tok::RBracket => {
                let rb = self.bump();
                let brackets = Span::new(lb.start, rb.end);
                match e {
                    Expr::VectorSelector(vs) => {
                        let msg = if vs.offset.is_some() {
                            Some("no offset modifiers allowed before range")
                        } else if vs.at.is_some() {
                            Some("no @ modifiers allowed before range")
                        } else if let Some(m) = vs.modifier {
                            Some(match m {
                                RangeModifier::Anchored => {
                                    "no anchored modifier allowed before range"
                                }
                                RangeModifier::Smoothed => {
                                    "no smoothed modifier allowed before range"
                                }
                            })
                        } else {
                            None
                        };
                        if let Some(msg) = msg {
                            self.error(ErrorKind::InvalidModifier, brackets, msg.into());
                        }
                        let span = Span::new(vs.span.start, rb.end);
                        Ok(Expr::MatrixSelector(Box::new(MatrixSelector {
                            selector: *vs,
                            range,
                            span,
                        })))
                    }
                    other => {
                        self.error(
                            ErrorKind::InvalidModifier,
                            brackets,
                            "ranges only allowed for vector selectors".into(),
                        );
                        Ok(other)
                    }
                }
            }
            Tok::Colon => {
                self.bump();
                let step = if self.tok.kind == Tok::RBracket {
                    None
                } else {
                    let s = self.duration_arg(false, "subquery selector")?;
                    (s.as_millis() != Some(0)).then_some(s)
                };
                let rb = self.expect(Tok::RBracket, "subquery selector", "\"]\"")?;
                let span = Span::new(e.span().start, rb.end);
                Ok(Expr::Subquery(Box::new(SubqueryExpr {
                    expr: e,
                    range,
                    step,
                    offset: None,
                    at: None,
                    span,
                })))
            }
            _ => Err(self.unexpected("subquery or range", "\":\" or \"]\"")),
        }
    }

    /// A duration inside brackets, or after `offset` when `offset` is true.
    fn duration_arg(&mut self, offset: bool, context: &str) -> PResult<DurationArg> {
        let e = if self.opts.duration_expressions {
            if offset {
                self.offset_duration()?
            } else {
                self.duration_expr(0)?
            }
        } else {
            let neg = offset && self.tok.kind == Tok::Sub && {
                self.bump();
                true
            };
            let e = match self.tok.kind {
                Tok::Number | Tok::Duration => self.duration_primary()?,
                _ if offset => {
                    return Err(self.unexpected("offset", "number or duration"));
                }
                _ => return Err(self.unexpected(context, "number or duration")),
            };
            match e {
                DurationExpr::Number(mut n) if neg => {
                    n.value = -n.value;
                    DurationExpr::Number(n)
                }
                other => other,
            }
        };
        match e {
            DurationExpr::Number(n) => {
                // Rounding recovers a duration's exact milliseconds from its seconds.
                let ms = (n.value * 1000.0).round();
                if ms.is_nan() || ms.abs() >= 9.2e15 {
                    self.error(
                        ErrorKind::InvalidDuration,
                        n.span,
                        "duration out of range".into(),
                    );
                }
                Ok(DurationArg::Literal {
                    ms: ms as i64,
                    span: n.span,
                })
            }
            other => Ok(DurationArg::Expr(Box::new(other))),
        }
    }

    fn duration_expr(&mut self, min_prec: u8) -> PResult<DurationExpr> {
        let saved = self.depth;
        self.enter()?;
        let mut lhs = self.duration_unary()?;
        while let Some(op) = duration_op(self.tok.kind) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.enter()?;
            self.bump();
            let next = if op.is_right_associative() {
                prec
            } else {
                prec + 1
            };
            let rhs = self.duration_expr(next)?;
            let span = lhs.span().to(rhs.span());
            lhs = DurationExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                span,
            };
        }
        self.depth = saved;
        Ok(lhs)
    }

    fn duration_unary(&mut self) -> PResult<DurationExpr> {
        if !matches!(self.tok.kind, Tok::Add | Tok::Sub) {
            return self.duration_primary();
        }
        let t = self.bump();
        let operand = self.duration_expr(POW_PRECEDENCE)?;
        Ok(apply_sign(t, operand))
    }

    fn duration_primary(&mut self) -> PResult<DurationExpr> {
        let t = self.tok;
        let span = Span::new(t.start, t.end);
        match t.kind {
            Tok::Number => {
                self.bump();
                Ok(DurationExpr::Number(NumberLiteral {
                    value: self.number_value(t),
                    duration: false,
                    span,
                }))
            }
            Tok::Duration => {
                self.bump();
                Ok(DurationExpr::Number(NumberLiteral {
                    value: self.duration_value(t) as f64 / 1000.0,
                    duration: true,
                    span,
                }))
            }
            Tok::LParen => {
                self.bump();
                let inner = self.duration_expr(0)?;
                let close = self.expect(Tok::RParen, "duration expression", "\")\"")?;
                Ok(DurationExpr::Paren {
                    expr: Box::new(inner),
                    span: Span::new(t.start, close.end),
                })
            }
            Tok::Step | Tok::Range if self.peek2() == Tok::LParen => {
                self.bump();
                self.bump();
                let close = self.expect(Tok::RParen, "duration expression", "\")\"")?;
                let span = Span::new(t.start, close.end);
                Ok(if t.kind == Tok::Step {
                    DurationExpr::Step(span)
                } else {
                    DurationExpr::Range(span)
                })
            }
            Tok::Ident
                if matches!(self.text(t), "min_of" | "max_of") && self.peek2() == Tok::LParen =>
            {
                self.bump();
                self.bump();
                let a = self.duration_expr(0)?;
                self.expect(Tok::Comma, "duration expression", "\",\"")?;
                let b = self.duration_expr(0)?;
                let close = self.expect(Tok::RParen, "duration expression", "\")\"")?;
                Ok(DurationExpr::MinMax {
                    max: self.text(t) == "max_of",
                    lhs: Box::new(a),
                    rhs: Box::new(b),
                    span: Span::new(t.start, close.end),
                })
            }
            _ => Err(self.unexpected("duration expression", "number or duration")),
        }
    }

    /// What may follow `offset` with duration expressions on: an optionally signed
    /// literal, `step()`, `range()`, `min_of(..)`/`max_of(..)` or a parenthesised
    /// duration expression.
    fn offset_duration(&mut self) -> PResult<DurationExpr> {
        let sign = matches!(self.tok.kind, Tok::Add | Tok::Sub).then(|| self.bump());
        let e = match self.tok.kind {
            Tok::Number | Tok::Duration | Tok::LParen | Tok::Step | Tok::Range => {
                self.duration_primary()?
            }
            Tok::Ident if matches!(self.text(self.tok), "min_of" | "max_of") => {
                self.duration_primary()?
            }
            _ => return Err(self.unexpected("offset", "number, duration, or step()")),
        };
        Ok(match sign {
            Some(t) => apply_sign(t, e),
            None => e,
        })
    }

    // ---- modifiers ------------------------------------------------------------------

    fn offset(&mut self, mut e: Expr) -> PResult<Expr> {
        self.bump();
        let arg = self.duration_arg(true, "offset")?;
        let end = arg.span().end;
        let arg = (arg.as_millis() != Some(0)).then_some(arg);
        let span = Span::new(e.span().start, end);
        let slot = match &mut e {
            Expr::VectorSelector(vs) => {
                vs.span.end = end;
                Some(&mut vs.offset)
            }
            Expr::MatrixSelector(m) => {
                m.span.end = end;
                Some(&mut m.selector.offset)
            }
            Expr::Subquery(s) => {
                s.span.end = end;
                Some(&mut s.offset)
            }
            _ => None,
        };
        match slot {
            Some(slot) if slot.is_some() => self.error(
                ErrorKind::InvalidModifier,
                span,
                "offset may not be set multiple times".into(),
            ),
            Some(slot) => *slot = arg,
            None => self.error(
                ErrorKind::InvalidModifier,
                span,
                "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery".into(),
            ),
        }
        Ok(e)
    }

    fn at(&mut self, mut e: Expr) -> PResult<Expr> {
        self.bump();
        let (at, end) = match self.tok.kind {
            Tok::Start | Tok::End => {
                let kw = self.bump();
                self.expect(Tok::LParen, "@", "timestamp")?;
                let close = self.expect(Tok::RParen, "@", "timestamp")?;
                let at = if kw.kind == Tok::Start {
                    AtModifier::Start
                } else {
                    AtModifier::End
                };
                (at, close.end)
            }
            Tok::Add | Tok::Sub | Tok::Number | Tok::Duration => {
                let v = self.signed_number("@")?;
                if !v.is_finite() || v >= i64::MAX as f64 || v <= i64::MIN as f64 {
                    self.error(
                        ErrorKind::InvalidModifier,
                        e.span(),
                        format!(
                            "timestamp out of bounds for @ modifier: {}",
                            go_percent_f(v)
                        ),
                    );
                }
                let ms = (v * 1000.0).round();
                let ms = if ms.is_finite() { ms as i64 } else { 0 };
                (AtModifier::Timestamp(ms), self.prev_end())
            }
            _ => return Err(self.unexpected("@", "timestamp")),
        };
        let span = Span::new(e.span().start, end);
        let slot = match &mut e {
            Expr::VectorSelector(vs) => {
                vs.span.end = end;
                Some(&mut vs.at)
            }
            Expr::MatrixSelector(m) => {
                m.span.end = end;
                Some(&mut m.selector.at)
            }
            Expr::Subquery(s) => {
                s.span.end = end;
                Some(&mut s.at)
            }
            _ => None,
        };
        match slot {
            Some(slot) if slot.is_some() => self.error(
                ErrorKind::InvalidModifier,
                span,
                "@ <timestamp> may not be set multiple times".into(),
            ),
            Some(slot) => *slot = Some(at),
            None => self.error(
                ErrorKind::InvalidModifier,
                span,
                "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery".into(),
            ),
        }
        Ok(e)
    }

    /// The end of the last token consumed.
    fn prev_end(&self) -> usize {
        self.last_end
    }

    fn range_modifier(&mut self, mut e: Expr) -> Expr {
        let kw = self.bump();
        let span = Span::new(kw.start, kw.end);
        let modifier = if kw.kind == Tok::Anchored {
            RangeModifier::Anchored
        } else {
            RangeModifier::Smoothed
        };
        if !self.opts.extended_range_selectors {
            self.not_enabled(
                span,
                &format!(
                    "{} modifier is experimental and must be enabled with --enable-feature=promql-extended-range-selectors",
                    modifier.as_str()
                ),
            );
        }
        let espan = Span::new(e.span().start, kw.end);
        let slot = match &mut e {
            Expr::VectorSelector(vs) => {
                vs.span.end = kw.end;
                Some(&mut vs.modifier)
            }
            Expr::MatrixSelector(m) => {
                m.span.end = kw.end;
                Some(&mut m.selector.modifier)
            }
            _ => None,
        };
        match slot {
            Some(slot) if slot.is_some() => self.error(
                ErrorKind::InvalidModifier,
                espan,
                "anchored or smoothed modifier may not be set multiple times".into(),
            ),
            Some(slot) => *slot = Some(modifier),
            None => self.error(
                ErrorKind::InvalidModifier,
                espan,
                format!(
                    "{} modifier must be preceded by an instant vector selector or range vector selector",
                    modifier.as_str()
                ),
            ),
        }
        e
    }

    // ---- calls and aggregations -----------------------------------------------------

    /// `(args)`: the arguments and the end of the closing parenthesis.
    fn call_args(&mut self) -> PResult<(Vec<Expr>, usize)> {
        self.bump();
        let mut args = Vec::new();
        if self.tok.kind == Tok::RParen {
            return Ok((args, self.bump().end));
        }
        loop {
            args.push(self.expr(0)?);
            match self.tok.kind {
                Tok::Comma => {
                    let comma = self.bump();
                    if self.tok.kind == Tok::RParen {
                        self.error(
                            ErrorKind::UnexpectedToken,
                            Span::new(comma.start, comma.end),
                            "trailing commas not allowed in function call args".into(),
                        );
                        return Ok((args, self.bump().end));
                    }
                }
                Tok::RParen => return Ok((args, self.bump().end)),
                _ => return Err(self.unexpected("", "")),
            }
        }
    }

    fn call(&mut self) -> PResult<Expr> {
        let name_tok = self.bump();
        let name = self.text(name_tok);
        let name_span = Span::new(name_tok.start, name_tok.end);
        let (args, end) = self.call_args()?;
        let func = match self.opts.functions.get(name) {
            Some(f) => {
                if f.experimental && !self.opts.experimental_functions {
                    self.error(
                        ErrorKind::NotEnabled,
                        name_span,
                        format!("function {} is not enabled", narthex_model::go_quote(name)),
                    );
                }
                f.clone()
            }
            None => {
                self.error(
                    ErrorKind::UnknownFunction,
                    name_span,
                    format!(
                        "unknown function with name {}",
                        narthex_model::go_quote(name)
                    ),
                );
                std::sync::Arc::new(crate::functions::Function::new(
                    name.to_string(),
                    &[],
                    ValueType::None,
                ))
            }
        };
        Ok(Expr::Call(Box::new(Call {
            func,
            args,
            span: Span::new(name_tok.start, end),
        })))
    }

    fn aggregate(&mut self) -> PResult<Expr> {
        let op_tok = self.bump();
        let op = aggregate_op(op_tok.kind).unwrap_or(AggregateOp::Sum);
        let mut grouping = None;
        if matches!(self.tok.kind, Tok::By | Tok::Without) {
            let without = self.bump().kind == Tok::Without;
            grouping = Some((self.grouping_labels()?, without));
        }
        if self.tok.kind != Tok::LParen {
            let abort = self.unexpected("aggregation", "");
            if !(self.tok.kind == Tok::Eof && self.lex_failed) {
                self.error(
                    ErrorKind::InvalidAggregation,
                    Span::new(op_tok.start, self.tok.start),
                    "no arguments for aggregate expression provided".into(),
                );
            }
            return Err(abort);
        }
        let (mut args, end) = self.call_args()?;
        if grouping.is_none() && matches!(self.tok.kind, Tok::By | Tok::Without) {
            let without = self.bump().kind == Tok::Without;
            grouping = Some((self.grouping_labels()?, without));
        }
        let end = end.max(self.prev_end());
        let span = Span::new(op_tok.start, end);
        let (grouping, without) = grouping.unwrap_or_default();
        let placeholder = || {
            Expr::Number(NumberLiteral {
                value: 0.0,
                duration: false,
                span,
            })
        };
        let mut agg = AggregateExpr {
            op,
            expr: placeholder(),
            param: None,
            grouping,
            without,
            span,
        };
        if args.is_empty() {
            self.error(
                ErrorKind::InvalidAggregation,
                span,
                "no arguments for aggregate expression provided".into(),
            );
            return Ok(Expr::Aggregate(Box::new(agg)));
        }
        let mut desired = 1;
        if op.has_param() {
            if op.is_experimental() && !self.opts.experimental_functions {
                self.error(
                    ErrorKind::NotEnabled,
                    span,
                    "limitk() and limit_ratio() are experimental and must be enabled with --enable-feature=promql-experimental-functions".into(),
                );
                return Ok(Expr::Aggregate(Box::new(agg)));
            }
            desired = 2;
        }
        if args.len() != desired {
            self.error(
                ErrorKind::InvalidAggregation,
                span,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {desired}, got {}",
                    args.len()
                ),
            );
            return Ok(Expr::Aggregate(Box::new(agg)));
        }
        agg.expr = args.pop().unwrap_or_else(placeholder);
        agg.param = args.pop();
        Ok(Expr::Aggregate(Box::new(agg)))
    }

    fn grouping_labels(&mut self) -> PResult<Vec<String>> {
        if self.tok.kind != Tok::LParen {
            return Err(self.unexpected("grouping opts", "\"(\""));
        }
        self.bump();
        let mut labels = Vec::new();
        loop {
            let t = self.tok;
            match t.kind {
                Tok::RParen => {
                    self.bump();
                    return Ok(labels);
                }
                Tok::String => {
                    self.bump();
                    let u = unquote(self.text(t));
                    if u.text.is_empty() || u.invalid.is_some() {
                        let shown = match &u.invalid {
                            Some(b) => {
                                let mut s = String::new();
                                crate::strings::write_go_quoted_bytes(&mut s, b);
                                s
                            }
                            None => narthex_model::go_quote(&u.text),
                        };
                        self.error(
                            ErrorKind::InvalidLabelName,
                            Span::new(t.start, t.end),
                            format!("invalid label name for grouping: {shown}"),
                        );
                    }
                    labels.push(u.text.into_owned());
                }
                k if k.is_label_like() => {
                    self.bump();
                    labels.push(self.text(t).to_string());
                }
                _ => return Err(self.unexpected("grouping opts", "label")),
            }
            match self.tok.kind {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    return Ok(labels);
                }
                _ => return Err(self.unexpected("grouping opts", "\",\" or \")\"")),
            }
        }
    }
}

/// Negation as Prometheus's `Val *= -1`, which leaves a NaN as it is.
fn negate(v: f64) -> f64 {
    if v.is_nan() { v } else { -v }
}

/// A sign before a duration expression: folded into a literal, `-` kept as
/// [`DurationExpr::Neg`], `+` dropped.
fn apply_sign(sign: Token, operand: DurationExpr) -> DurationExpr {
    let span = Span::new(sign.start, operand.span().end);
    match operand {
        DurationExpr::Number(mut n) => {
            if sign.kind == Tok::Sub {
                n.value = negate(n.value);
            }
            n.span = span;
            DurationExpr::Number(n)
        }
        other if sign.kind == Tok::Sub => DurationExpr::Neg {
            expr: Box::new(other),
            span,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_like_go() {
        assert_eq!(go_parse_int("0x1f"), Some(31));
        assert_eq!(go_parse_int("010"), Some(8));
        assert_eq!(go_parse_int("09"), None);
        assert_eq!(go_parse_int("1_000"), Some(1000));
        assert_eq!(go_parse_int("1__0"), None);
        assert_eq!(go_parse_int("1.5"), None);
    }
}
