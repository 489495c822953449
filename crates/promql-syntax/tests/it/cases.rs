//! Table-driven cases for every grammar rule and every error kind: valid queries with
//! their canonical printed form, invalid ones with the error kind and Prometheus's exact
//! message (`ERR <kind> <message>`).
//!
//! The texts of the default-option table were compared with Prometheus 2.42's
//! `/api/v1/format_query` (Debian's `prometheus` package); they agree except where
//! Prometheus 3.x changed the language (quoted names, numbers as durations, zero
//! durations, underscores in numbers, newer functions) and where Prometheus 3.x reports
//! every error of a query rather than the first.

use narthex_promql_syntax::{ErrorKind, ParserOptions, Span, parse, parse_with};

use crate::common::check_roundtrip;

/// Queries under the default options (Prometheus 3.x without feature flags).
const STANDARD: &[(&str, &str)] = &[
    ("1", "1"),
    ("-1", "-1"),
    ("+1", "1"),
    ("--1", "1"),
    ("0x1f", "31"),
    ("0X1F", "31"),
    ("010", "8"),
    ("09", "9"),
    ("1_000", "1000"),
    ("1e3", "1000"),
    ("1E-3", "0.001"),
    (".5", "0.5"),
    ("5.", "5"),
    ("Inf", "+Inf"),
    ("-Inf", "-Inf"),
    ("NaN", "NaN"),
    ("nan", "NaN"),
    (
        "1e400",
        "ERR InvalidNumber 1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e400\": value out of range",
    ),
    ("\"double\\n\\\"quoted\\\"\"", "\"double\\n\\\"quoted\\\"\""),
    ("'single \\' quoted'", "\"single ' quoted\""),
    ("`raw \\n string`", "\"raw \\\\n string\""),
    ("\"\\x41\\101\\u00e9\\U0001F600\"", "\"AAé😀\""),
    ("foo", "foo"),
    ("foo:bar", "foo:bar"),
    ("foo{}", "foo"),
    ("foo{a=\"b\"}", "foo{a=\"b\"}"),
    (
        "foo{a!=\"b\",c=~\"d.*\",e!~\"f\"}",
        "foo{a!=\"b\",c=~\"d.*\",e!~\"f\"}",
    ),
    ("{a=\"b\"}", "{a=\"b\"}"),
    ("{a=\"b\",}", "{a=\"b\"}"),
    ("foo{a=\"b\", a=\"c\"}", "foo{a=\"b\",a=\"c\"}"),
    ("{__name__=\"foo\"}", "{__name__=\"foo\"}"),
    ("{__name__=~\"foo|bar\"}", "{__name__=~\"foo|bar\"}"),
    ("{\"my.metric\"}", "{__name__=\"my.metric\"}"),
    (
        "{\"my.metric\", \"a.b\"=\"c\"}",
        "{\"a.b\"=\"c\",__name__=\"my.metric\"}",
    ),
    ("foo{\"a.b\"=\"c\"}", "foo{\"a.b\"=\"c\"}"),
    ("foo[5m]", "foo[5m]"),
    ("foo[1h30m]", "foo[1h30m]"),
    ("foo[90s]", "foo[1m30s]"),
    ("foo[1001ms]", "foo[1s1ms]"),
    ("foo[300]", "foo[5m]"),
    ("foo[1.5]", "foo[1s500ms]"),
    ("foo[1y]", "foo[1y]"),
    ("foo[52w]", "foo[52w]"),
    ("foo[14d]", "foo[2w]"),
    ("foo offset 5m", "foo offset 5m"),
    ("foo offset -5m", "foo offset -5m"),
    ("foo offset 0s", "foo"),
    ("foo offset 1.5", "foo offset 1s500ms"),
    ("foo[5m] offset 1w", "foo[5m] offset 1w"),
    ("foo @ 100", "foo @ 100.000"),
    ("foo @ -100", "foo @ -100.000"),
    ("foo @ 1.5", "foo @ 1.500"),
    ("foo @ 2m", "foo @ 120.000"),
    ("foo @ start()", "foo @ start()"),
    ("foo @ end()", "foo @ end()"),
    ("foo @ 100 offset 5m", "foo @ 100.000 offset 5m"),
    ("foo offset 5m @ 100", "foo @ 100.000 offset 5m"),
    ("foo[5m] @ 100 offset 5m", "foo[5m] @ 100.000 offset 5m"),
    ("rate(foo[5m])[30m:1m]", "rate(foo[5m])[30m:1m]"),
    ("rate(foo[5m])[30m:]", "rate(foo[5m])[30m:]"),
    ("rate(foo[5m])[30m:0s]", "rate(foo[5m])[30m:]"),
    ("foo[30m:1m] offset 1h @ 5", "foo[30m:1m] @ 5.000 offset 1h"),
    ("(foo + bar)[5m:]", "(foo + bar)[5m:]"),
    ("sum(foo)", "sum(foo)"),
    ("SUM(foo) BY (job)", "sum by (job) (foo)"),
    ("sum by (job) (foo)", "sum by (job) (foo)"),
    ("sum(foo) by (job)", "sum by (job) (foo)"),
    ("sum without (job) (foo)", "sum without (job) (foo)"),
    ("sum without () (foo)", "sum without () (foo)"),
    ("sum by () (foo)", "sum(foo)"),
    ("sum by (job,) (foo)", "sum by (job) (foo)"),
    (
        "sum by (sum, by, on, offset, \"a.b\", a:b) (foo)",
        "sum by (sum, by, on, offset, \"a.b\", a:b) (foo)",
    ),
    ("avg(foo)", "avg(foo)"),
    ("count(foo)", "count(foo)"),
    ("min(foo)", "min(foo)"),
    ("max(foo)", "max(foo)"),
    ("group(foo)", "group(foo)"),
    ("stddev(foo)", "stddev(foo)"),
    ("stdvar(foo)", "stdvar(foo)"),
    ("topk(5, foo)", "topk(5, foo)"),
    ("bottomk(5, foo)", "bottomk(5, foo)"),
    ("quantile(0.9, foo)", "quantile(0.9, foo)"),
    (
        "count_values(\"value\", foo)",
        "count_values(\"value\", foo)",
    ),
    ("a + b", "a + b"),
    ("a - b * c", "a - b * c"),
    ("a * b + c", "a * b + c"),
    ("(a + b) * c", "(a + b) * c"),
    ("a ^ b ^ c", "a ^ b ^ c"),
    ("(a ^ b) ^ c", "(a ^ b) ^ c"),
    ("a / b % c", "a / b % c"),
    ("a atan2 b", "a atan2 b"),
    ("a == b", "a == b"),
    ("a != bool b", "a != bool b"),
    ("a > b", "a > b"),
    ("a < b", "a < b"),
    ("a >= b", "a >= b"),
    ("a <= b", "a <= b"),
    ("a and b or c unless d", "a and b or c unless d"),
    ("a or b and c", "a or b and c"),
    ("a + on (b) c", "a + on (b) c"),
    (
        "a + on(b, c) group_left(d) e",
        "a + on (b, c) group_left (d) e",
    ),
    (
        "a + ignoring(b) group_right e",
        "a + ignoring (b) group_right () e",
    ),
    ("a + on() b", "a + on () b"),
    ("a and on (b) c", "a and on (b) c"),
    ("a unless ignoring(b) c", "a unless ignoring (b) c"),
    ("1 == bool 1", "1 == bool 1"),
    ("1 + 2", "1 + 2"),
    ("-foo", "-foo"),
    ("+foo", "+foo"),
    ("-(1)", "-(1)"),
    ("- - foo", "--foo"),
    ("-a ^ b", "-a ^ b"),
    ("-a * b", "-a * b"),
    ("-2 ^ 2", "-2 ^ 2"),
    ("2 ^ -1", "2 ^ -1"),
    ("a - -5", "a - -5"),
    ("abs(foo)", "abs(foo)"),
    (
        "label_join(foo, \"a\", \",\", \"b\", \"c\", \"d\")",
        "label_join(foo, \"a\", \",\", \"b\", \"c\", \"d\")",
    ),
    (
        "label_replace(foo, \"a\", \"$1\", \"b\", \"(.*)\")",
        "label_replace(foo, \"a\", \"$1\", \"b\", \"(.*)\")",
    ),
    ("round(foo)", "round(foo)"),
    ("round(foo, 5)", "round(foo, 5)"),
    ("time()", "time()"),
    ("vector(1)", "vector(1)"),
    ("scalar(foo)", "scalar(foo)"),
    (
        "histogram_quantile(0.9, rate(foo_bucket[5m]))",
        "histogram_quantile(0.9, rate(foo_bucket[5m]))",
    ),
    ("day_of_week()", "day_of_week()"),
    ("day_of_week(foo)", "day_of_week(foo)"),
    ("foo # a comment", "foo"),
    (
        "foo and on(a) group_left b",
        "ERR TypeMismatch 1:1: parse error: no grouping allowed for \"and\" operation\n1:1: parse error: set operations must always be many-to-many",
    ),
    ("sum", "sum"),
    ("by", "by"),
    ("and", "and"),
    ("offset", "offset"),
    ("start", "start"),
    ("step", "step"),
    ("sum + by", "sum + by"),
    ("x atan2 y", "x atan2 y"),
    (
        "foo{a=\"b\"} offset 5m + bar",
        "foo{a=\"b\"} offset 5m + bar",
    ),
    (
        "",
        "ERR NoExpression 1:1: parse error: no expression found in input",
    ),
    (
        "   ",
        "ERR NoExpression 1:1: parse error: no expression found in input",
    ),
    (
        "# only a comment",
        "ERR NoExpression 1:1: parse error: no expression found in input",
    ),
    (
        "foo{",
        "ERR Lex 1:5: parse error: unexpected end of input inside braces",
    ),
    (
        "foo{a=\"b\"",
        "ERR Lex 1:10: parse error: unexpected end of input inside braces",
    ),
    (
        "{}",
        "ERR InvalidSelector 1:1: parse error: vector selector must contain at least one non-empty matcher",
    ),
    (
        "{a=\"\"}",
        "ERR InvalidSelector 1:1: parse error: vector selector must contain at least one non-empty matcher",
    ),
    (
        "{a=~\".*\"}",
        "ERR InvalidSelector 1:1: parse error: vector selector must contain at least one non-empty matcher",
    ),
    (
        "{a!~\".+\"}",
        "ERR InvalidSelector 1:1: parse error: vector selector must contain at least one non-empty matcher",
    ),
    (
        "foo{__name__=\"bar\"}",
        "ERR InvalidSelector 1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\"",
    ),
    (
        "{a}",
        "ERR UnexpectedToken 1:3: parse error: unexpected \"}\" in label matching, expected label matching operator",
    ),
    (
        "{a=}",
        "ERR UnexpectedToken 1:4: parse error: unexpected \"}\" in label matching, expected string",
    ),
    (
        "{a=b}",
        "ERR UnexpectedToken 1:4: parse error: unexpected identifier \"b\" in label matching, expected string",
    ),
    (
        "{=}",
        "ERR UnexpectedToken 1:2: parse error: unexpected \"=\" in label matching, expected identifier or \"}\"",
    ),
    (
        "{a=\"b\",,}",
        "ERR UnexpectedToken 1:8: parse error: unexpected \",\" in label matching, expected identifier or \"}\"",
    ),
    (
        "{a=\"b\" c=\"d\"}",
        "ERR UnexpectedToken 1:8: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\"",
    ),
    (
        "{a:b=\"c\"}",
        "ERR Lex 1:3: parse error: unexpected character inside braces: ':'",
    ),
    (
        "foo{a=\"\\q\"}",
        "ERR Lex 1:7: parse error: unknown escape sequence U+0071 'q'",
    ),
    (
        "foo{a=\"abc",
        "ERR Lex 1:7: parse error: unterminated quoted string",
    ),
    (
        "\"abc",
        "ERR Lex 1:1: parse error: unterminated quoted string",
    ),
    ("`abc", "ERR Lex 1:1: parse error: unterminated raw string"),
    (
        "\"\\xZZ\"",
        "ERR Lex 1:1: parse error: illegal character U+005A 'Z' in escape sequence",
    ),
    (
        "\"\\u12\"",
        "ERR Lex 1:1: parse error: illegal character U+0022 '\"' in escape sequence",
    ),
    (
        "\"\\uD800\"",
        "ERR Lex 1:1: parse error: escape sequence is an invalid Unicode code point",
    ),
    (
        "foo{a=\"b\"}{c=\"d\"}",
        "ERR UnexpectedToken 1:11: parse error: unexpected \"{\"",
    ),
    (
        "foo{{",
        "ERR Lex 1:5: parse error: unexpected left brace '{'",
    ),
    (
        "foo{a!b=\"c\"}",
        "ERR Lex 1:6: parse error: unexpected character after '!' inside braces: 'b'",
    ),
    (
        "a $ b",
        "ERR Lex 1:3: parse error: unexpected character: '$'",
    ),
    (
        "a || b",
        "ERR Lex 1:3: parse error: unexpected character: '|'",
    ),
    (
        "1 !~ 1",
        "ERR Lex 1:3: parse error: unexpected character after '!': '~'",
    ),
    (
        "1 =~ 1",
        "ERR Lex 1:3: parse error: unexpected character after '=': '~'",
    ),
    (
        "a ! b",
        "ERR Lex 1:3: parse error: unexpected character after '!': ' '",
    ),
    (
        "2.5.",
        "ERR Lex 1:4: parse error: unexpected character: '.'",
    ),
    (
        "100..4",
        "ERR UnexpectedToken 1:5: parse error: unexpected number \".4\"",
    ),
    (
        "0deadbeef",
        "ERR Lex 1:1: parse error: bad number or duration syntax: \"0de\"",
    ),
    (
        "1m5",
        "ERR Lex 1:1: parse error: bad number or duration syntax: \"1m5\"",
    ),
    (
        "5mm",
        "ERR Lex 1:1: parse error: bad number or duration syntax: \"5mm\"",
    ),
    (
        "0x",
        "ERR InvalidNumber 1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0x\": invalid syntax",
    ),
    (
        "1__0",
        "ERR InvalidNumber 1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1__0\": invalid syntax",
    ),
    (
        "foo[5m1h]",
        "ERR InvalidDuration 1:5: parse error: not a valid duration string: \"5m1h\"",
    ),
    (
        "foo[5m1m]",
        "ERR InvalidDuration 1:5: parse error: not a valid duration string: \"5m1m\"",
    ),
    (
        "foo[5y1hs]",
        "ERR InvalidDuration 1:5: parse error: unknown unit \"hs\" in duration \"5y1hs\"",
    ),
    (
        "foo[300y]",
        "ERR InvalidDuration 1:5: parse error: duration out of range",
    ),
    ("foo[", "ERR Lex 1:5: parse error: unclosed left bracket"),
    ("foo[5m", "ERR Lex 1:7: parse error: unclosed left bracket"),
    ("foo[5m:", "ERR Lex 1:8: parse error: unclosed left bracket"),
    (
        "foo[]",
        "ERR UnexpectedToken 1:5: parse error: unexpected \"]\" in subquery or range, expected number or duration",
    ),
    (
        "foo[5m:1m:]",
        "ERR Lex 1:10: parse error: unexpected colon ':'",
    ),
    (
        "foo[bar]",
        "ERR UnexpectedToken 1:5: parse error: unexpected identifier \"bar\" in subquery or range, expected number or duration",
    ),
    (
        "foo[5m] [5m]",
        "ERR InvalidModifier 1:9: parse error: ranges only allowed for vector selectors",
    ),
    (
        "foo]",
        "ERR Lex 1:4: parse error: unexpected right bracket ']'",
    ),
    (
        "(1))",
        "ERR Lex 1:5: parse error: unexpected right parenthesis ')'",
    ),
    (
        "((1)",
        "ERR Lex 1:5: parse error: unclosed left parenthesis",
    ),
    ("(", "ERR Lex 1:2: parse error: unclosed left parenthesis"),
    (
        ")",
        "ERR Lex 1:2: parse error: unexpected right parenthesis ')'",
    ),
    (
        "1 +",
        "ERR UnexpectedToken 1:4: parse error: unexpected end of input",
    ),
    (
        "*1",
        "ERR UnexpectedToken 1:1: parse error: unexpected <op:*>",
    ),
    (
        "foo bar",
        "ERR UnexpectedToken 1:5: parse error: unexpected identifier \"bar\"",
    ),
    (
        "rate(x y)",
        "ERR UnexpectedToken 1:8: parse error: unexpected identifier \"y\"",
    ),
    (
        "rate(x,)",
        "ERR UnexpectedToken 1:7: parse error: trailing commas not allowed in function call args",
    ),
    (
        "foo offset",
        "ERR UnexpectedToken 1:11: parse error: unexpected end of input in offset, expected number or duration",
    ),
    (
        "foo offset bar",
        "ERR UnexpectedToken 1:12: parse error: unexpected identifier \"bar\" in offset, expected number or duration",
    ),
    (
        "foo @",
        "ERR UnexpectedToken 1:6: parse error: unexpected end of input in @, expected timestamp",
    ),
    (
        "foo @ bar",
        "ERR UnexpectedToken 1:7: parse error: unexpected identifier \"bar\" in @, expected timestamp",
    ),
    (
        "foo @ start",
        "ERR UnexpectedToken 1:12: parse error: unexpected end of input in @, expected timestamp",
    ),
    (
        "foo offset 1s offset 2s",
        "ERR InvalidModifier 1:1: parse error: offset may not be set multiple times",
    ),
    (
        "foo[5m] offset 1s offset 2s",
        "ERR InvalidModifier 1:1: parse error: offset may not be set multiple times",
    ),
    (
        "foo @ 1 @ 2",
        "ERR InvalidModifier 1:1: parse error: @ <timestamp> may not be set multiple times",
    ),
    (
        "foo @ end() @ 5",
        "ERR InvalidModifier 1:1: parse error: @ <timestamp> may not be set multiple times",
    ),
    (
        "foo @ 5 offset 1m @ 6",
        "ERR InvalidModifier 1:1: parse error: @ <timestamp> may not be set multiple times",
    ),
    (
        "1 offset 1d",
        "ERR InvalidModifier 1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
    ),
    (
        "sum(foo) offset 5m",
        "ERR InvalidModifier 1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
    ),
    (
        "(foo) @ 5",
        "ERR InvalidModifier 1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
    ),
    (
        "x[5m] @ 1e30",
        "ERR InvalidModifier 1:1: parse error: timestamp out of bounds for @ modifier: 1000000000000000019884624838656.000000",
    ),
    (
        "x @ Inf",
        "ERR InvalidModifier 1:1: parse error: timestamp out of bounds for @ modifier: +Inf",
    ),
    (
        "some_metric OFFSET 1m[5m]",
        "ERR InvalidModifier 1:22: parse error: no offset modifiers allowed before range",
    ),
    (
        "some_metric @ 123 [5m]",
        "ERR InvalidModifier 1:19: parse error: no @ modifiers allowed before range",
    ),
    (
        "(foo + bar)[5m]",
        "ERR InvalidModifier 1:12: parse error: ranges only allowed for vector selectors",
    ),
    (
        "sum by job (x)",
        "ERR UnexpectedToken 1:8: parse error: unexpected identifier \"job\" in grouping opts, expected \"(\"",
    ),
    (
        "sum by (job x) (x)",
        "ERR UnexpectedToken 1:13: parse error: unexpected identifier \"x\" in grouping opts, expected \",\" or \")\"",
    ),
    (
        "sum by (1) (x)",
        "ERR UnexpectedToken 1:9: parse error: unexpected number \"1\" in grouping opts, expected label",
    ),
    (
        "sum by (\"\") (x)",
        "ERR InvalidLabelName 1:9: parse error: invalid label name for grouping: \"\"",
    ),
    (
        "sum by (job)",
        "ERR UnexpectedToken 1:13: parse error: unexpected end of input in aggregation\n1:1: parse error: no arguments for aggregate expression provided",
    ),
    (
        "sum x",
        "ERR UnexpectedToken 1:5: parse error: unexpected identifier \"x\"",
    ),
    (
        "sum()",
        "ERR InvalidAggregation 1:1: parse error: no arguments for aggregate expression provided",
    ),
    (
        "sum(x, y)",
        "ERR InvalidAggregation 1:1: parse error: wrong number of arguments for aggregate expression provided, expected 1, got 2",
    ),
    (
        "topk(x)",
        "ERR InvalidAggregation 1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1",
    ),
    (
        "topk(1, x, y)",
        "ERR InvalidAggregation 1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 3",
    ),
    (
        "count_values(1, x)",
        "ERR TypeMismatch 1:14: parse error: expected type string in aggregation parameter, got scalar",
    ),
    (
        "quantile(\"a\", x)",
        "ERR TypeMismatch 1:10: parse error: expected type scalar in aggregation parameter, got string",
    ),
    (
        "sum(x) by (a) by (b)",
        "ERR UnexpectedToken 1:15: parse error: unexpected <by>",
    ),
    (
        "sum(x[5m])",
        "ERR TypeMismatch 1:5: parse error: expected type instant vector in aggregation expression, got range vector",
    ),
    (
        "topk(\"a\", x)",
        "ERR TypeMismatch 1:6: parse error: expected type scalar in aggregation parameter, got string",
    ),
    (
        "a + on(b) ignoring(c) d",
        "ERR UnexpectedToken 1:11: parse error: unexpected <ignoring>",
    ),
    (
        "a + group_left b",
        "ERR UnexpectedToken 1:5: parse error: unexpected <group_left>",
    ),
    (
        "rate(1)",
        "ERR TypeMismatch 1:6: parse error: expected type range vector in call to function \"rate\", got scalar",
    ),
    (
        "rate(foo)",
        "ERR TypeMismatch 1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
    ),
    (
        "abs()",
        "ERR WrongArgumentCount 1:1: parse error: expected 1 argument(s) in call to \"abs\", got 0",
    ),
    (
        "time(1)",
        "ERR WrongArgumentCount 1:1: parse error: expected 0 argument(s) in call to \"time\", got 1",
    ),
    (
        "label_join(x)",
        "ERR WrongArgumentCount 1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 1",
    ),
    (
        "round(x, 1, 2)",
        "ERR WrongArgumentCount 1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3",
    ),
    (
        "unknownf(x)",
        "ERR UnknownFunction 1:1: parse error: unknown function with name \"unknownf\"",
    ),
    (
        "RATE(x[5m])",
        "ERR UnknownFunction 1:1: parse error: unknown function with name \"RATE\"",
    ),
    (
        "x[5m] + 1",
        "ERR TypeMismatch 1:1: parse error: binary expression must contain only scalar and instant vector types",
    ),
    (
        "1 + \"a\"",
        "ERR TypeMismatch 1:5: parse error: binary expression must contain only scalar and instant vector types",
    ),
    (
        "\"a\" + \"b\"",
        "ERR TypeMismatch 1:1: parse error: binary expression must contain only scalar and instant vector types\n1:7: parse error: binary expression must contain only scalar and instant vector types",
    ),
    (
        "x and 1",
        "ERR TypeMismatch 1:1: parse error: set operator \"and\" not allowed in binary scalar expression",
    ),
    (
        "1 and x",
        "ERR TypeMismatch 1:1: parse error: set operator \"and\" not allowed in binary scalar expression",
    ),
    (
        "1 or 2",
        "ERR TypeMismatch 1:1: parse error: set operator \"or\" not allowed in binary scalar expression",
    ),
    (
        "x + on(a) 1",
        "ERR TypeMismatch 1:1: parse error: vector matching only allowed between instant vectors",
    ),
    (
        "x and on(a) group_left y",
        "ERR TypeMismatch 1:1: parse error: no grouping allowed for \"and\" operation\n1:1: parse error: set operations must always be many-to-many",
    ),
    (
        "x + on(a) group_left(a) y",
        "ERR TypeMismatch 1:3: parse error: label \"a\" must not occur in ON and GROUP clause at once",
    ),
    (
        "x + bool y",
        "ERR TypeMismatch 1:3: parse error: bool modifier can only be used on comparison operators",
    ),
    (
        "1 == 1",
        "ERR TypeMismatch 1:3: parse error: comparisons between scalars must use BOOL modifier",
    ),
    (
        "-x[5m]",
        "ERR TypeMismatch 1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\"",
    ),
    (
        "-\"a\"",
        "ERR TypeMismatch 1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\"",
    ),
    (
        "x[5m][5m:]",
        "ERR TypeMismatch 1:1: parse error: subquery is only allowed on instant vector, got matrix instead",
    ),
    (
        "1[5m:]",
        "ERR TypeMismatch 1:1: parse error: subquery is only allowed on instant vector, got scalar instead",
    ),
    (
        "\"a\"[5m:]",
        "ERR TypeMismatch 1:1: parse error: subquery is only allowed on instant vector, got string instead",
    ),
    (
        "limitk(1, x)",
        "ERR NotEnabled 1:1: parse error: limitk() and limit_ratio() are experimental and must be enabled with --enable-feature=promql-experimental-functions",
    ),
    (
        "first_over_time(x[5m])",
        "ERR NotEnabled 1:1: parse error: function \"first_over_time\" is not enabled",
    ),
    (
        "foo smoothed",
        "ERR NotEnabled 1:5: parse error: smoothed modifier is experimental and must be enabled with --enable-feature=promql-extended-range-selectors",
    ),
    (
        "rate(foo[5m] anchored)",
        "ERR NotEnabled 1:14: parse error: anchored modifier is experimental and must be enabled with --enable-feature=promql-extended-range-selectors",
    ),
    (
        "foo[1m+1m]",
        "ERR UnexpectedToken 1:7: parse error: unexpected <op:+> in subquery or range, expected \":\" or \"]\"",
    ),
    (
        "foo offset (1m)",
        "ERR UnexpectedToken 1:12: parse error: unexpected \"(\" in offset, expected number or duration",
    ),
    (
        "1m",
        "ERR UnexpectedToken 1:1: parse error: unexpected duration \"1m\"",
    ),
    (
        "time() - 1h",
        "ERR UnexpectedToken 1:10: parse error: unexpected duration \"1h\"",
    ),
    (
        "step()",
        "ERR NotEnabled 1:1: parse error: step() is an experimental duration expression and must be enabled with --enable-feature=promql-duration-expr",
    ),
    (
        "a + fill(0) b",
        "ERR NotEnabled 1:5: parse error: binary operator fill modifiers are experimental and must be enabled with --enable-feature=promql-binop-fill-modifiers",
    ),
    (
        "on",
        "ERR UnexpectedToken 1:1: parse error: unexpected <on>",
    ),
    (
        "ignoring",
        "ERR UnexpectedToken 1:1: parse error: unexpected <ignoring>",
    ),
    (
        "group_left",
        "ERR UnexpectedToken 1:1: parse error: unexpected <group_left>",
    ),
    (
        "bool",
        "ERR UnexpectedToken 1:1: parse error: unexpected <bool>",
    ),
    (
        "atan2",
        "ERR UnexpectedToken 1:1: parse error: unexpected <op:atan2>",
    ),
];

/// Queries with every experimental feature enabled.
const EXPERIMENTAL: &[(&str, &str)] = &[
    ("foo[5m+1m]", "foo[5m + 1m]"),
    ("foo[26m+4m]", "foo[26m + 4m]"),
    ("foo[1800]", "foo[30m]"),
    ("foo[60*30]", "foo[60 * 30]"),
    ("foo[2m*(10+5)]", "foo[2m * (10 + 5)]"),
    ("foo[-5m+35m]", "foo[-5m + 35m]"),
    ("foo[1h30m % 1h]", "foo[1h30m % 1h]"),
    ("foo[(9m30s+30s)*3]", "foo[(9m30s + 30s) * 3]"),
    ("foo[2 ^ 3 ^ 2]", "foo[2 ^ 3 ^ 2]"),
    ("foo[-(5m)]", "foo[-(5m)]"),
    ("foo[+5m]", "foo[5m]"),
    ("foo[step()]", "foo[step()]"),
    ("foo[step()+1ms]", "foo[step() + 1ms]"),
    ("foo[STEP()]", "foo[step()]"),
    ("foo[range()]", "foo[range()]"),
    ("foo[min_of(step()+1,1h)]", "foo[min_of(step() + 1, 1h)]"),
    (
        "foo[max_of(min_of(step(), 1h), 1ms)]",
        "foo[max_of(min_of(step(), 1h), 1ms)]",
    ),
    ("foo[29s+1s:5s+5s]", "foo[29s + 1s:5s + 5s]"),
    ("foo[5m:step()]", "foo[5m:step()]"),
    ("foo offset (1h*2)", "foo offset (1h * 2)"),
    ("foo offset 100 + 2", "foo offset 1m40s + 2"),
    ("foo offset -2 ^ 2", "foo offset -2s ^ 2"),
    ("foo offset (-2 ^ 2)", "foo offset (-2 ^ 2)"),
    ("foo offset -4", "foo offset -4s"),
    ("foo offset step()", "foo offset step()"),
    ("foo offset -step()*2", "foo offset -step() * 2"),
    ("foo offset +step()", "foo offset step()"),
    (
        "foo offset min_of(step(), 1s)+8000",
        "foo offset min_of(step(), 1s) + 8000",
    ),
    (
        "foo offset -(min_of(step(), 2s)-5)+8000",
        "foo offset -(min_of(step(), 2s) - 5) + 8000",
    ),
    ("foo offset range()", "foo offset range()"),
    ("foo[5m] offset (1m) @ 10", "foo[5m] @ 10.000 offset (1m)"),
    ("time() - 1h", "time() - 1h"),
    ("1h30m", "1h30m"),
    ("-5m", "-5m"),
    ("foo > 5m", "foo > 5m"),
    ("step()", "step()"),
    ("range()", "range()"),
    ("start()", "start()"),
    ("end()", "end()"),
    ("end() - start()", "end() - start()"),
    ("vector(step())", "vector(step())"),
    ("min_of(3, 5)", "min_of(3, 5)"),
    ("max_of(NaN, 3)", "max_of(NaN, 3)"),
    ("foo smoothed", "foo smoothed"),
    ("foo anchored", "foo anchored"),
    ("foo @ 100 smoothed", "foo @ 100.000 smoothed"),
    ("foo offset -100 smoothed", "foo offset -1m40s smoothed"),
    ("rate(foo[5m] smoothed)", "rate(foo[5m] smoothed)"),
    ("rate(foo[5m] anchored)", "rate(foo[5m] anchored)"),
    ("changes(foo[5m] anchored)", "changes(foo[5m] anchored)"),
    ("deriv(foo[3m] smoothed)", "deriv(foo[3m] smoothed)"),
    ("foo[5m] anchored offset 1m", "foo[5m] offset 1m anchored"),
    (
        "foo smoothed anchored",
        "ERR InvalidModifier 1:1: parse error: anchored or smoothed modifier may not be set multiple times",
    ),
    (
        "sum(foo) smoothed",
        "ERR InvalidModifier 1:1: parse error: smoothed modifier must be preceded by an instant vector selector or range vector selector",
    ),
    (
        "foo[5m:1m] anchored",
        "ERR InvalidModifier 1:1: parse error: anchored modifier must be preceded by an instant vector selector or range vector selector",
    ),
    ("a + fill(0) b", "a + fill(0) b"),
    (
        "a + fill_left(5) fill_right(7) b",
        "a + fill_left(5) fill_right(7) b",
    ),
    ("a + fill_left(5) fill_right(5) b", "a + fill(5) b"),
    ("a + fill(NaN) b", "a + fill(NaN) b"),
    ("a + fill(-Inf) b", "a + fill(-Inf) b"),
    ("a == bool fill(30) b", "a == bool fill(30) b"),
    (
        "a + on(job) group_left fill(0) b",
        "a + on (job) group_left () fill(0) b",
    ),
    (
        "a + ignoring(job) group_left(x) fill_right(1) b",
        "a + ignoring (job) group_left (x) fill_right(1) b",
    ),
    ("other + fill", "other + fill"),
    ("other + fill(0) fill", "other + fill(0) fill"),
    ("fill + fill(0) other", "fill + fill(0) other"),
    (
        "a + fill(0) fill(1) b",
        "ERR InvalidModifier 1:13: parse error: fill value may not be set multiple times for the same side",
    ),
    (
        "a + fill() b",
        "ERR UnexpectedToken 1:10: parse error: unexpected \")\" in fill modifier, expected number or duration",
    ),
    (
        "a + fill(x) b",
        "ERR UnexpectedToken 1:10: parse error: unexpected identifier \"x\" in fill modifier, expected number or duration",
    ),
    ("1 + fill(0) 2", "1 + 2"),
    ("a </ 5", "a </ 5"),
    ("a >/ -5", "a >/ -5"),
    ("a </ on(b) c", "a </ on (b) c"),
    ("a * b </ c + d", "a * b </ c + d"),
    ("limitk(2, foo)", "limitk(2, foo)"),
    ("limit_ratio(0.5, foo)", "limit_ratio(0.5, foo)"),
    ("info(foo)", "info(foo)"),
    ("info(foo, {data=~\".*\"})", "info(foo, {data=~\".*\"})"),
    (
        "info(foo, {__name__=\"target_info\"})",
        "info(foo, {__name__=\"target_info\"})",
    ),
    ("info(foo, {})", "info(foo, {})"),
    (
        "info(foo, bar, baz)",
        "ERR WrongArgumentCount 1:1: parse error: expected at most 2 argument(s) in call to \"info\", got 3",
    ),
    ("first_over_time(foo[5m])", "first_over_time(foo[5m])"),
    (
        "ts_of_max_over_time(foo[5m])",
        "ts_of_max_over_time(foo[5m])",
    ),
    ("mad_over_time(foo[5m])", "mad_over_time(foo[5m])"),
    (
        "double_exponential_smoothing(foo[5m], 0.5, 0.5)",
        "double_exponential_smoothing(foo[5m], 0.5, 0.5)",
    ),
    (
        "sort_by_label(foo, \"a\", \"b\")",
        "sort_by_label(foo, \"a\", \"b\")",
    ),
    ("sort_by_label_desc(foo)", "sort_by_label_desc(foo)"),
    (
        "histogram_quantiles(foo, \"q\", 0.5, 0.9)",
        "histogram_quantiles(foo, \"q\", 0.5, 0.9)",
    ),
    ("start_timestamp(foo)", "start_timestamp(foo)"),
    (
        "foo[5m:1m:1m]",
        "ERR Lex 1:10: parse error: unexpected colon ':'",
    ),
    (
        "foo[5m+]",
        "ERR UnexpectedToken 1:8: parse error: unexpected \"]\" in duration expression, expected number or duration",
    ),
    (
        "foo[min_of(1m)]",
        "ERR UnexpectedToken 1:14: parse error: unexpected \")\" in duration expression, expected \",\"",
    ),
    (
        "foo offset",
        "ERR UnexpectedToken 1:11: parse error: unexpected end of input in offset, expected number, duration, or step()",
    ),
    (
        "foo offset *",
        "ERR UnexpectedToken 1:12: parse error: unexpected <op:*> in offset, expected number, duration, or step()",
    ),
];

fn run(cases: &[(&str, &str)], opts: &ParserOptions) {
    let mut failures = Vec::new();
    for &(input, want) in cases {
        let got = match parse_with(input, opts) {
            Ok(e) => {
                if let Err(msg) = check_roundtrip(&e, opts) {
                    failures.push(format!("{input:?}: {msg}"));
                }
                e.to_string()
            }
            Err(e) => format!("ERR {:?} {e}", e.first().kind),
        };
        if got != want {
            failures.push(format!("{input:?}:\n   got: {got}\n  want: {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn standard_cases() {
    run(STANDARD, &ParserOptions::default());
}

#[test]
fn experimental_cases() {
    run(EXPERIMENTAL, &ParserOptions::all_experimental());
}

#[test]
fn every_error_kind_is_covered() {
    let kinds = [
        ErrorKind::Lex,
        ErrorKind::UnexpectedToken,
        ErrorKind::NoExpression,
        ErrorKind::InvalidNumber,
        ErrorKind::InvalidDuration,
        ErrorKind::InvalidSelector,
        ErrorKind::InvalidModifier,
        ErrorKind::InvalidAggregation,
        ErrorKind::UnknownFunction,
        ErrorKind::WrongArgumentCount,
        ErrorKind::TypeMismatch,
        ErrorKind::InvalidLabelName,
        ErrorKind::NotEnabled,
        // ErrorKind::TooDeep: see deep_nesting_is_an_error_not_a_crash.
    ];
    for kind in kinds {
        let tag = format!("ERR {kind:?} ");
        assert!(
            STANDARD
                .iter()
                .chain(EXPERIMENTAL)
                .any(|(_, want)| want.starts_with(&tag)),
            "no case for {kind:?}"
        );
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let n = 100_000;
    let inputs = [
        format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        format!("{}1", "-".repeat(n)),
        vec!["x"; n].join(" + "),
        vec!["x"; n].join(" ^ "),
        format!("x{}", "[5m:]".repeat(n)),
        format!("{}x{}", "abs(".repeat(n), ")".repeat(n)),
        format!("x[{}1{}]", "(".repeat(n), ")".repeat(n)),
    ];
    for input in &inputs {
        let err = parse_with(input, &ParserOptions::all_experimental()).unwrap_err();
        assert_eq!(err.first().kind, ErrorKind::TooDeep, "{}", &input[..20]);
    }
    // Up to the limit everything works: parse, check, print, prettify, compare.
    let ok = vec!["x"; 200].join(" + ");
    let e = parse(&ok).unwrap();
    check_roundtrip(&e, &ParserOptions::default()).unwrap();
    let ok = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    check_roundtrip(&parse(&ok).unwrap(), &ParserOptions::default()).unwrap();
}

#[test]
fn positions_are_line_and_byte_column() {
    let err = parse("sum(\n  rate(x[5m])\n) +\n  bar{a=~\"(\"}").unwrap_err();
    let first = err.first();
    assert_eq!((first.line, first.column), (4, 7));
    assert_eq!(first.span, Span::new(29, 35));
    assert_eq!(first.kind, ErrorKind::InvalidSelector);
    assert!(
        err.to_string()
            .starts_with("4:7: parse error: error parsing regexp")
    );
}

#[test]
fn spans_cover_the_source() {
    let src = "sum by (job) (rate(x{a=\"b\"}[5m] offset 1m)) / on (job) group_left bar";
    let e = parse(src).unwrap();
    let mut spans = Vec::new();
    e.walk(&mut |n| spans.push(&src[std::ops::Range::from(n.span())]));
    assert_eq!(
        spans,
        [
            src,
            "sum by (job) (rate(x{a=\"b\"}[5m] offset 1m))",
            "rate(x{a=\"b\"}[5m] offset 1m)",
            "x{a=\"b\"}[5m] offset 1m",
            "bar",
        ]
    );
}

#[test]
fn pretty_splits_long_queries() {
    let e = parse(
        "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket{job=\"api-server\", handler=\"/api/v1/query\"}[5m])))",
    )
    .unwrap();
    assert_eq!(
        e.pretty(),
        "histogram_quantile(\n  0.99,\n  sum by (le, job) (\n    rate(http_request_duration_seconds_bucket{handler=\"/api/v1/query\",job=\"api-server\"}[5m])\n  )\n)"
    );
    let e = parse("a_very_long_metric_name_number_one_for_testing_purposes + on (instance, job) group_left (version, commit) a_very_long_metric_name_number_two_for_testing_purposes_x").unwrap();
    assert_eq!(
        e.pretty(),
        "  a_very_long_metric_name_number_one_for_testing_purposes\n+ on (instance, job) group_left (version, commit)\n  a_very_long_metric_name_number_two_for_testing_purposes_x"
    );
}
