//! Property tests: random well-typed ASTs print to text that parses back to the same
//! tree (`parse(print(ast)) == ast`, spans aside), plainly and prettily; and the fuzz
//! check (no panic, print-parse stable) over mutated corpus queries.

use std::sync::Arc;

use narthex_model::float::parse_go_float;
use narthex_model::{MatchOp, Matcher};
use narthex_promql_syntax::*;
use proptest::prelude::*;

use crate::common::check_roundtrip;

/// A small deterministic generator driven by a seed (proptest supplies the seeds).
struct Gen {
    state: u64,
    table: Arc<FunctionTable>,
}

const S: Span = Span::new(0, 0);

impl Gen {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn number(&mut self) -> Expr {
        let text = *self.pick(&[
            "0",
            "1",
            "1.5",
            "1e-07",
            "123456789",
            "-3",
            "-0.25",
            "Inf",
            "-Inf",
            "NaN",
            "0.1",
        ]);
        if self.chance(10) {
            let ms = *self.pick(&[60_000i64, 1_500, 90_061_001, 3_600_000]);
            return Expr::Number(NumberLiteral {
                value: ms as f64 / 1000.0,
                duration: true,
                span: S,
            });
        }
        let value = parse_go_float(text).unwrap();
        Expr::Number(NumberLiteral {
            value,
            duration: false,
            span: S,
        })
    }

    fn string(&mut self) -> String {
        self.pick(&[
            "",
            "a",
            "job",
            "with \"quotes\" and \\",
            "tab\tnewline\n",
            "é☃😀",
            "\u{1}\u{7f}",
            "$1",
            "a.b",
        ])
        .to_string()
    }

    fn label_name(&mut self) -> String {
        self.pick(&[
            "job",
            "instance",
            "le",
            "a.b",
            "by",
            "a:b",
            "__name__x",
            "é",
        ])
        .to_string()
    }

    fn labels(&mut self) -> Vec<String> {
        let n = self.below(3);
        let mut v: Vec<String> = Vec::new();
        for _ in 0..n {
            let l = self.label_name();
            if !v.contains(&l) {
                v.push(l);
            }
        }
        v
    }

    fn duration_arg(&mut self, positive: bool) -> DurationArg {
        if self.chance(20) {
            return match self.duration_expr(2) {
                // A lone literal parses as a fixed duration.
                DurationExpr::Number(n) => DurationArg::Literal {
                    ms: (n.value * 1000.0).round() as i64,
                    span: S,
                },
                e => DurationArg::Expr(Box::new(e)),
            };
        }
        let mut ms = *self.pick(&[
            1i64,
            1_000,
            60_000,
            300_000,
            5_400_000,
            86_400_000,
            604_800_000,
        ]);
        if !positive && self.chance(30) {
            ms = -ms;
        }
        DurationArg::Literal { ms, span: S }
    }

    fn duration_expr(&mut self, depth: u32) -> DurationExpr {
        let leaf = |g: &mut Gen| match g.below(4) {
            0 => DurationExpr::Step(S),
            1 => DurationExpr::Range(S),
            _ => DurationExpr::Number(NumberLiteral {
                value: *g.pick(&[60.0, 1.5, 2.0, 30.0]),
                duration: g.chance(50),
                span: S,
            }),
        };
        if depth == 0 {
            return leaf(self);
        }
        match self.below(5) {
            0 => DurationExpr::Paren {
                expr: Box::new(self.duration_expr(depth - 1)),
                span: S,
            },
            1 => DurationExpr::MinMax {
                max: self.chance(50),
                lhs: Box::new(self.duration_expr(depth - 1)),
                rhs: Box::new(self.duration_expr(depth - 1)),
                span: S,
            },
            2 => {
                let op = *self.pick(&[
                    BinaryOp::Add,
                    BinaryOp::Sub,
                    BinaryOp::Mul,
                    BinaryOp::Div,
                    BinaryOp::Mod,
                    BinaryOp::Pow,
                ]);
                let lhs = self.duration_expr(depth - 1);
                let rhs = self.duration_expr(depth - 1);
                DurationExpr::Binary {
                    op,
                    lhs: Box::new(dur_operand(lhs, op, true)),
                    rhs: Box::new(dur_operand(rhs, op, false)),
                    span: S,
                }
            }
            _ => leaf(self),
        }
    }

    /// A selector: a name and/or matchers, at least one of them not matching "".
    fn selector(&mut self) -> VectorSelector {
        let name = self.chance(70).then(|| {
            self.pick(&[
                "foo",
                "http_requests_total",
                "a:b",
                "sum",
                "offset",
                "by",
                "fill",
                "start",
            ])
            .to_string()
        });
        let mut matchers = Vec::new();
        if name.is_none() {
            matchers.push(Matcher::new(MatchOp::Equal, "job", "api").unwrap());
        }
        for _ in 0..self.below(3) {
            let op = *self.pick(&[
                MatchOp::Equal,
                MatchOp::NotEqual,
                MatchOp::RegexMatch,
                MatchOp::RegexNoMatch,
            ]);
            let value = match op {
                MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                    self.pick(&["a|b", ".*", "5..", "é+", "\\d{2}"]).to_string()
                }
                _ => self.string(),
            };
            let label = self.label_name();
            matchers.push(Matcher::new(op, label, value).unwrap());
        }
        if let Some(n) = &name {
            matchers.push(Matcher::new(MatchOp::Equal, "__name__", n.as_str()).unwrap());
        }
        let mut vs = VectorSelector {
            name,
            matchers,
            offset: None,
            at: None,
            modifier: None,
            span: S,
        };
        self.modifiers(&mut vs.offset, &mut vs.at);
        if self.chance(10) {
            vs.modifier = Some(*self.pick(&[RangeModifier::Anchored, RangeModifier::Smoothed]));
        }
        vs
    }

    fn modifiers(&mut self, offset: &mut Option<DurationArg>, at: &mut Option<AtModifier>) {
        if self.chance(20) {
            *offset = Some(match self.duration_arg(false) {
                // An offset expression is always parenthesised in the text.
                DurationArg::Expr(e) => {
                    DurationArg::Expr(Box::new(DurationExpr::Paren { expr: e, span: S }))
                }
                lit => lit,
            });
        }
        if self.chance(15) {
            *at = Some(match self.below(3) {
                0 => AtModifier::Start,
                1 => AtModifier::End,
                _ => AtModifier::Timestamp(*self.pick(&[0i64, 1_500, -100_000, 1_700_000_000_123])),
            });
        }
    }

    fn func(&self, name: &str) -> Arc<Function> {
        self.table.get(name).unwrap().clone()
    }

    fn scalar(&mut self, depth: u32) -> Expr {
        if depth == 0 {
            return match self.below(6) {
                0 => Expr::QueryTime(QueryTime {
                    kind: *self.pick(&[
                        QueryTimeKind::Start,
                        QueryTimeKind::End,
                        QueryTimeKind::Step,
                        QueryTimeKind::Range,
                    ]),
                    span: S,
                }),
                _ => self.number(),
            };
        }
        match self.below(6) {
            0 => {
                let op = *self.pick(&BinaryOp::ALL);
                if op.is_set_operator() || matches!(op, BinaryOp::TrimUpper | BinaryOp::TrimLower) {
                    return self.number();
                }
                let (l, r) = (self.scalar(depth - 1), self.scalar(depth - 1));
                binary(op, l, r, op.is_comparison(), None)
            }
            1 => unary(self.chance(80), self.scalar(depth - 1)),
            2 => paren(self.scalar(depth - 1)),
            3 => {
                let name = *self.pick(&["time", "pi"]);
                let f = self.func(name);
                call(f, vec![])
            }
            4 => {
                let arg = self.vector(depth - 1);
                call(self.func("scalar"), vec![arg])
            }
            _ => self.number(),
        }
    }

    fn matrix(&mut self, depth: u32) -> Expr {
        if depth == 0 || self.chance(60) {
            let selector = self.selector();
            return Expr::MatrixSelector(Box::new(MatrixSelector {
                selector,
                range: self.duration_arg(true),
                span: S,
            }));
        }
        let inner = postfixable(self.vector(depth - 1));
        let mut sq = SubqueryExpr {
            expr: inner,
            range: self.duration_arg(true),
            step: self.chance(50).then(|| self.duration_arg(true)),
            offset: None,
            at: None,
            span: S,
        };
        self.modifiers(&mut sq.offset, &mut sq.at);
        Expr::Subquery(Box::new(sq))
    }

    fn vector(&mut self, depth: u32) -> Expr {
        if depth == 0 {
            return Expr::VectorSelector(Box::new(self.selector()));
        }
        match self.below(9) {
            0 | 1 => {
                let op = *self.pick(&BinaryOp::ALL);
                let l = self.vector(depth - 1);
                let (r, vector_rhs) = if op.is_set_operator() || self.chance(60) {
                    (self.vector(depth - 1), true)
                } else {
                    (self.scalar(depth - 1), false)
                };
                let return_bool = op.is_comparison() && self.chance(30);
                let matching = vector_rhs.then(|| {
                    let mut vm = VectorMatching::default();
                    if self.chance(40) {
                        vm.on = self.chance(50);
                        vm.labels = self.labels();
                        if !op.is_set_operator() && self.chance(40) {
                            vm.card = if self.chance(50) {
                                Cardinality::ManyToOne
                            } else {
                                Cardinality::OneToMany
                            };
                            vm.include = self.labels();
                            if vm.on {
                                let on = vm.labels.clone();
                                vm.include.retain(|l| !on.contains(l));
                            }
                        }
                    }
                    if op.is_set_operator() {
                        vm.card = Cardinality::ManyToMany;
                    } else if self.chance(15) {
                        vm.fill.lhs = self.chance(60).then_some(0.0);
                        vm.fill.rhs = self.chance(60).then_some(-1.5);
                    }
                    vm
                });
                binary(op, l, r, return_bool, matching)
            }
            2 => unary(self.chance(70), self.vector(depth - 1)),
            3 => paren(self.vector(depth - 1)),
            4 => {
                let op = *self.pick(&AggregateOp::ALL);
                let param = match op {
                    AggregateOp::CountValues => Some(Expr::String(Box::new(StringLiteral {
                        value: self.string(),
                        invalid_utf8: None,
                        span: S,
                    }))),
                    o if o.has_param() => Some(self.scalar(depth - 1)),
                    _ => None,
                };
                let without = self.chance(30);
                Expr::Aggregate(Box::new(AggregateExpr {
                    op,
                    expr: self.vector(depth - 1),
                    param,
                    grouping: self.labels(),
                    without,
                    span: S,
                }))
            }
            5 => {
                let name = *self.pick(&["rate", "increase", "avg_over_time", "changes"]);
                let m = self.matrix(depth - 1);
                call(self.func(name), vec![m])
            }
            6 => {
                let q = self.scalar(depth - 1);
                let v = self.vector(depth - 1);
                match self.below(3) {
                    0 => call(self.func("histogram_quantile"), vec![q, v]),
                    1 => call(self.func("round"), vec![v, q]),
                    _ => call(self.func("vector"), vec![q]),
                }
            }
            7 => {
                let v = self.vector(depth - 1);
                let s: Vec<Expr> = (0..4)
                    .map(|_| {
                        let invalid = self.chance(10);
                        Expr::String(Box::new(StringLiteral {
                            value: if invalid {
                                "a\u{fffd}z".into()
                            } else {
                                self.string()
                            },
                            invalid_utf8: invalid.then(|| b"a\xc5z".to_vec().into_boxed_slice()),
                            span: S,
                        }))
                    })
                    .collect();
                let mut args = vec![v];
                args.extend(s);
                call(self.func("label_replace"), args)
            }
            _ => Expr::VectorSelector(Box::new(self.selector())),
        }
    }
}

fn paren(e: Expr) -> Expr {
    Expr::Paren(Box::new(ParenExpr { expr: e, span: S }))
}

fn call(func: Arc<Function>, args: Vec<Expr>) -> Expr {
    Expr::Call(Box::new(Call {
        func,
        args,
        span: S,
    }))
}

/// What the parser makes of `-e`/`+e`: numbers and binary operations (other than `^`)
/// need parentheses to stay operands.
fn unary(neg: bool, e: Expr) -> Expr {
    let e = match e {
        Expr::Number(_) => paren(e),
        Expr::Binary(ref b) if b.op != BinaryOp::Pow => paren(e),
        other => other,
    };
    Expr::Unary(Box::new(UnaryExpr {
        op: if neg { UnaryOp::Neg } else { UnaryOp::Plus },
        expr: e,
        span: S,
    }))
}

/// Wraps an operand in parentheses where precedence would otherwise regroup it.
fn operand(e: Expr, op: BinaryOp, left: bool) -> Expr {
    let needs = match &e {
        Expr::Binary(b) => {
            let (p, q) = (b.op.precedence(), op.precedence());
            p < q || (p == q && (left == op.is_right_associative()))
        }
        Expr::Unary(_) => left && op == BinaryOp::Pow,
        Expr::Number(n) => left && op == BinaryOp::Pow && n.value.is_sign_negative(),
        _ => false,
    };
    if needs { paren(e) } else { e }
}

fn dur_operand(e: DurationExpr, op: BinaryOp, left: bool) -> DurationExpr {
    let needs = match &e {
        DurationExpr::Binary { op: inner, .. } => {
            let (p, q) = (inner.precedence(), op.precedence());
            p < q || (p == q && (left == op.is_right_associative()))
        }
        DurationExpr::Neg { .. } => left && op == BinaryOp::Pow,
        DurationExpr::Number(n) => left && op == BinaryOp::Pow && n.value.is_sign_negative(),
        _ => false,
    };
    if needs {
        DurationExpr::Paren {
            expr: Box::new(e),
            span: S,
        }
    } else {
        e
    }
}

/// Subqueries apply to a primary expression: wrap operations in parentheses.
fn postfixable(e: Expr) -> Expr {
    match e {
        Expr::Binary(_) | Expr::Unary(_) => paren(e),
        other => other,
    }
}

fn binary(
    op: BinaryOp,
    l: Expr,
    r: Expr,
    return_bool: bool,
    matching: Option<VectorMatching>,
) -> Expr {
    Expr::Binary(Box::new(BinaryExpr {
        op,
        lhs: operand(l, op, true),
        rhs: operand(r, op, false),
        return_bool,
        matching,
        span: S,
    }))
}

/// The fuzz target's check: never panics on any input; whatever parses prints to text
/// that parses to the same tree and prints the same again. (The cargo-fuzz target
/// `fuzz/fuzz_targets/promql_parse.rs` runs the same check.)
pub(crate) fn fuzz_check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for opts in [ParserOptions::default(), ParserOptions::all_experimental()] {
        let Ok(e) = parse_with(text, &opts) else {
            continue;
        };
        let printed = e.to_string();
        let again = parse_with(&printed, &opts)
            .unwrap_or_else(|err| panic!("{text:?} printed as {printed:?} fails: {err}"));
        assert!(
            again.eq_ignoring_spans(&e),
            "{text:?} changed through {printed:?}"
        );
        assert_eq!(again.to_string(), printed);
        let pretty = e.pretty();
        let again = parse_with(&pretty, &opts)
            .unwrap_or_else(|err| panic!("{text:?} prettified as {pretty:?} fails: {err}"));
        assert!(
            again.eq_ignoring_spans(&e),
            "{text:?} changed through {pretty:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_asts_roundtrip(seed in any::<u64>(), depth in 0u32..5) {
        let opts = ParserOptions::all_experimental();
        let mut g = Gen { state: seed | 1, table: opts.functions.clone() };
        let ast = match g.below(3) {
            0 => g.scalar(depth),
            1 => g.matrix(depth),
            _ => g.vector(depth),
        };
        if let Err(msg) = check_roundtrip(&ast, &opts) {
            return Err(TestCaseError::fail(msg));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
        fuzz_check(text.as_bytes());
    }

    #[test]
    fn promql_alphabet_never_panics(text in "[a-z_:{}()\\[\\]\"'`=~!<>/*^%+,.@# 0-9\\-\\\\\n]{0,40}") {
        fuzz_check(text.as_bytes());
    }
}

/// Every prefix and every one-byte deletion of some nasty and typical queries.
#[test]
fn mutated_queries_never_panic() {
    let seeds = [
        r#"sum by (job) (rate(http_requests_total{code=~"5..", "a.b"="c"}[5m] offset -1m @ 100)) / on (job) group_left (x) fill(0) count(up) > bool 0.5"#,
        r#"max_over_time((a + b)[5m+step():1m] offset min_of(step(), 1s)) ^ -2 ^ 3 </ 4"#,
        r#"label_replace(x, "a\x41\101\u00e9", `raw`, 'q\'', "(.*)") # comment"#,
        "info(foo, {data=~\".*\"}) and histogram_quantiles(h, \"q\", 0.5)",
        "-(--1) * +x smoothed or y[1m] anchored",
        "\u{feff}é\u{0}",
    ];
    for s in seeds {
        for i in 0..=s.len() {
            if s.is_char_boundary(i) {
                fuzz_check(&s.as_bytes()[..i]);
                let mut cut = s.to_string();
                if i < s.len() && s.is_char_boundary(i + 1) {
                    cut.remove(i);
                    fuzz_check(cut.as_bytes());
                }
            }
        }
    }
}

/// Inputs the fuzzer once found, kept in `fuzz/regressions/promql_parse/`.
#[test]
fn fuzz_regressions_replay() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/regressions/promql_parse"
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let data = std::fs::read(entry.path()).expect("read regression");
        fuzz_check(&data);
    }
}
