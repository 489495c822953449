use narthex_model::{CounterResetHint, FloatHistogram, Span, is_stale_nan, labels};

use super::*;

fn floats(s: &str) -> Vec<Option<f64>> {
    parse_values(s)
        .unwrap()
        .into_iter()
        .map(|v| match v {
            SeqValue::Gap => None,
            SeqValue::Float(f) => Some(f),
            SeqValue::Histogram(_) => panic!("histogram"),
        })
        .collect()
}

fn hists(s: &str) -> Vec<HistogramValue> {
    parse_values(s)
        .unwrap()
        .into_iter()
        .map(|v| match v {
            SeqValue::Histogram(h) => *h,
            other => panic!("not a histogram: {other:?}"),
        })
        .collect()
}

fn parse(text: &str) -> Script {
    Script::parse("t.test", text).unwrap()
}

fn eval(text: &str) -> EvalCmd {
    let s = parse(text);
    s.evals().next().unwrap().clone()
}

fn err(text: &str) -> ScriptError {
    Script::parse("t.test", text).unwrap_err()
}

#[test]
fn plain_numbers() {
    assert_eq!(
        floats("3 -1.5 1e3 0x1f Inf -Inf +Inf 1e-3"),
        [
            3.0,
            -1.5,
            1000.0,
            31.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            0.001
        ]
        .map(Some)
    );
    let nan = floats("NaN");
    assert!(nan[0].unwrap().is_nan() && !is_stale_nan(nan[0].unwrap()));
}

#[test]
fn gaps_and_repeats() {
    assert_eq!(floats("_"), [None]);
    assert_eq!(floats("_x3"), [None, None, None]);
    assert_eq!(floats("1x3"), [Some(1.0); 4]);
    // `0x10` is 0 repeated, not hex.
    assert_eq!(floats("0x2"), [Some(0.0); 3]);
    assert_eq!(floats("1 _x2 2"), [Some(1.0), None, None, Some(2.0)]);
    assert_eq!(floats("NaNx1").len(), 2);
    assert_eq!(floats("-Infx1"), [Some(f64::NEG_INFINITY); 2]);
}

#[test]
fn increments() {
    assert_eq!(floats("0+10x3"), [0.0, 10.0, 20.0, 30.0].map(Some));
    assert_eq!(floats("10-2x2"), [10.0, 8.0, 6.0].map(Some));
    assert_eq!(floats("-1+1x2"), [-1.0, 0.0, 1.0].map(Some));
    assert_eq!(floats("-1-1x1"), [-1.0, -2.0].map(Some));
    assert_eq!(floats("1e-3+1e-3x1"), [0.001, 0.002].map(Some));
    assert_eq!(floats("1e3-1e2x1"), [1000.0, 900.0].map(Some));
    assert!(parse_values("1+2").is_err());
}

#[test]
fn stale_marker() {
    let v = floats("1 stale 2");
    assert!(is_stale_nan(v[1].unwrap()));
}

#[test]
fn histogram_literal_every_key() {
    let h = hists(
        "{{schema:1 sum:-2.5 count:9 z_bucket:1 z_bucket_w:0.001 buckets:[1 2 3] offset:-1 \
         n_buckets:[2] n_offset:2 counter_reset_hint:gauge}}",
    );
    let h = &h[0];
    assert!(h.hint_given);
    assert_eq!(h.h.counter_reset_hint, CounterResetHint::Gauge);
    assert_eq!(h.h.schema, 1);
    assert_eq!(h.h.sum, -2.5);
    assert_eq!(h.h.count, 9.0);
    assert_eq!(h.h.zero_count, 1.0);
    assert_eq!(h.h.zero_threshold, 0.001);
    assert_eq!(
        h.h.positive_spans,
        [Span {
            offset: -1,
            length: 3
        }]
    );
    assert_eq!(h.h.positive_buckets, [1.0, 2.0, 3.0]);
    assert_eq!(
        h.h.negative_spans,
        [Span {
            offset: 2,
            length: 1
        }]
    );
    assert_eq!(h.h.negative_buckets, [2.0]);

    let c = &hists("{{schema:-53 sum:1 count:2 custom_values:[0.5 1] buckets:[1 1]}}")[0];
    assert_eq!(c.h.custom_values, [0.5, 1.0]);
    assert!(!c.hint_given);

    let e = &hists("{{}}")[0];
    assert_eq!(e.h, FloatHistogram::default());
    for (s, hint) in [
        ("unknown", CounterResetHint::Unknown),
        ("reset", CounterResetHint::CounterReset),
        ("not_reset", CounterResetHint::NotCounterReset),
    ] {
        let h = &hists(&format!("{{{{counter_reset_hint:{s}}}}}"))[0];
        assert_eq!(h.h.counter_reset_hint, hint);
    }
    assert!(parse_values("{{foo:1}}").is_err());
    assert!(parse_values("{{schema:0 buckets:[1 2}}").is_err());
}

#[test]
fn histogram_sequences() {
    let v = hists("{{schema:0 sum:5 count:4 buckets:[1 2 1]}}x2");
    assert_eq!(v.len(), 3);
    assert!(v.iter().all(|h| h.h.count == 4.0));

    let v = hists("{{schema:0 sum:1 count:2 buckets:[1 1]}}+{{sum:2 count:3 buckets:[1 1 1]}}x2");
    assert_eq!(v.len(), 3);
    assert_eq!(v[2].h.count, 8.0);
    assert_eq!(v[2].h.sum, 5.0);
    assert_eq!(
        crate::hist::bucket_map(&v[2].h.positive_spans, &v[2].h.positive_buckets)
            .into_iter()
            .collect::<Vec<_>>(),
        [(0, 3.0), (1, 3.0), (2, 2.0)]
    );

    let v = hists("{{count:10 sum:10}}-{{count:2 sum:1}}x2");
    assert_eq!(
        v.iter().map(|h| h.h.count).collect::<Vec<_>>(),
        [10.0, 8.0, 6.0]
    );

    // Histograms and floats mix on one line.
    let all = parse_values("1 {{count:1}} _ stale {{count:2}}x1").unwrap();
    assert_eq!(all.len(), 6);
}

#[test]
fn load_block() {
    let s = parse(
        "# comment\nload 5m\n  a{x=\"1\"} 1 2\n\t{__name__=\"b\", y='z'} 3\n  c 0+1x2\n  c 7\n",
    );
    let Command::Load(l) = &s.commands[0] else {
        panic!()
    };
    assert_eq!(l.line, 2);
    assert_eq!(l.step, 300_000);
    assert!(!l.with_nhcb);
    assert_eq!(l.series.len(), 3);
    assert_eq!(l.series[0].labels, labels! {"__name__" => "a", "x" => "1"});
    assert_eq!(l.series[1].labels, labels! {"__name__" => "b", "y" => "z"});
    // A repeated series keeps the last definition.
    assert_eq!(l.series[2].values, [SeqValue::Float(7.0)]);
    assert_eq!(l.series[2].line, 6);

    let s = parse("load_with_nhcb 1m\n  h_bucket{le=\"1\"} 1\n");
    let Command::Load(l) = &s.commands[0] else {
        panic!()
    };
    assert!(l.with_nhcb);
}

#[test]
fn start_timestamps() {
    let s =
        parse("load 1m\n  m{t=\"a\"}@st _ _ -30s-1mx2 -1ms 0\n  m{t=\"a\"} _ _ 1x2 4 5\n  n 1\n");
    let Command::Load(l) = &s.commands[0] else {
        panic!()
    };
    assert_eq!(
        l.series[0].start_timestamps.as_deref(),
        Some(
            &[
                None,
                None,
                Some(-30_000),
                Some(-90_000),
                Some(-150_000),
                Some(-1),
                Some(0)
            ][..]
        )
    );
    assert_eq!(l.series[1].start_timestamps, None);
    assert!(
        err("load 1m\n  m@st 1m 1m\n  m 1\n")
            .message
            .contains("2 start timestamps for 1 values")
    );
    assert!(
        err("load 1m\n  m@st 1m\n  n 1\n")
            .message
            .contains("differ")
    );
}

#[test]
fn clear_and_blocks() {
    let s = parse("clear\nload 1m\n  a 1\n# c\neval instant at 0 a\n  a 1\n");
    assert!(matches!(s.commands[0], Command::Clear(1)));
    assert!(matches!(s.commands[1], Command::Load(_)));
    assert!(matches!(s.commands[2], Command::Eval(_)));
}

#[test]
fn eval_headers() {
    let e = eval(" eval instant at 1h30m sum(x)");
    assert_eq!(e.time, EvalTime::Instant { at: 5_400_000 });
    assert_eq!(e.query, "sum(x)");
    assert_eq!(e.line, 1);
    assert_eq!(e.expected, Expected::Series(vec![]));
    let e = eval("eval range from 0 to 10m step 1m  rate(x[5m])  ");
    assert_eq!(
        e.time,
        EvalTime::Range {
            start: 0,
            end: 600_000,
            step: 60_000
        }
    );
    assert_eq!(e.query, "rate(x[5m])");
    assert_eq!(
        eval("eval_fail instant at 0 x").fail,
        Some(MessageMatch::Any)
    );
    assert_eq!(eval("eval_warn instant at 0 x").warn, [MessageMatch::Any]);
    assert_eq!(eval("eval_info instant at 0 x").info, [MessageMatch::Any]);
    assert!(eval("eval_ordered instant at 0 x").ordered);
    assert_eq!(
        eval("eval instant at -1m x").time,
        EvalTime::Instant { at: -60_000 }
    );
}

#[test]
fn expect_lines() {
    let e = eval(
        "eval instant at 0 x\n  expect fail msg: bad \\xc5 thing\n  expect warn\n  expect warn regex:  a.*b \n  expect info msg:no space\n  expect no_warn\n  expect no_info\n",
    );
    assert_eq!(e.fail, Some(MessageMatch::Exact("bad \\xc5 thing".into())));
    assert_eq!(
        e.warn,
        [MessageMatch::Any, MessageMatch::Regex("a.*b".into())]
    );
    assert_eq!(e.info, [MessageMatch::Exact("no space".into())]);
    assert!(e.no_warn && e.no_info);
    assert_eq!(
        eval("eval instant at 0 x\n expected_fail_message boom\n").fail,
        Some(MessageMatch::Exact("boom".into()))
    );
    assert_eq!(
        eval("eval instant at 0 x\n expected_fail_regexp bo+m\n").fail,
        Some(MessageMatch::Regex("bo+m".into()))
    );

    let e = eval("eval instant at 0 x\n  expect ordered\n  a 1\n  {} 2\n");
    assert!(e.ordered);
    let Expected::Series(s) = &e.expected else {
        panic!()
    };
    assert_eq!(s[0].labels, labels! {"__name__" => "a"});
    assert_eq!(s[1].labels, Labels::empty());
    assert_eq!(s[1].line, 4);

    assert_eq!(
        eval("eval instant at 0 1\n  -1.5\n").expected,
        Expected::Scalar(-1.5)
    );
    let Expected::Scalar(v) = eval("eval instant at 0 x\n  NaN\n").expected else {
        panic!()
    };
    assert!(v.is_nan());
    assert_eq!(
        eval("eval instant at 0 \"a\"\n  expect string \"a\\tb\\\"\"\n").expected,
        Expected::String("a\tb\"".into())
    );
    assert_eq!(
        eval("eval instant at 0 \"a\"\n  expect string `raw\\n`\n").expected,
        Expected::String("raw\\n".into())
    );

    let e = eval(
        "eval instant at 1m x[1m]\n  expect range vector from 10s to 1m step 10s\n  x{a=\"b\"} 1 2 _ 4\n",
    );
    let Expected::RangeVector {
        start,
        end,
        step,
        series,
    } = &e.expected
    else {
        panic!()
    };
    assert_eq!((*start, *end, *step), (10_000, 60_000, 10_000));
    assert_eq!(series[0].values.len(), 4);

    let e = eval(
        "eval range from 0 to 2m step 1m x\n  x{a=\"1\"} 1+1x2\n  {b=\"\\u00e9\"} _ 1 {{count:1}}\n",
    );
    let Expected::Series(s) = &e.expected else {
        panic!()
    };
    assert_eq!(s[0].values.len(), 3);
    assert_eq!(s[1].labels, labels! {"b" => "é"});
}

#[test]
fn label_values_with_spaces_and_braces() {
    let e = eval("eval instant at 0 x\n  {value=\"{count:20, sum:10, [-2,-1):2}\"} 1\n");
    let Expected::Series(s) = &e.expected else {
        panic!()
    };
    assert_eq!(
        s[0].labels.get("value"),
        Some("{count:20, sum:10, [-2,-1):2}")
    );
}

#[test]
fn errors_have_line_numbers() {
    let e = err("load 1m\n  a 1\n\nbogus 1\n");
    assert_eq!((e.file.as_str(), e.line), ("t.test", 4));
    assert!(e.message.contains("unknown command"), "{e}");
    assert_eq!(e.to_string(), "t.test:4: unknown command \"bogus\"");

    assert_eq!(err("load 1m\n  a 1\n  b 1 zz\n").line, 3);
    assert_eq!(err("load xx\n").line, 1);
    assert_eq!(err("\n\neval instant x\n").line, 3);
    assert_eq!(err("eval range from 0 to 1m x\n").line, 1);
    assert_eq!(err("eval instant at 0 x\n  expect bogus\n").line, 2);
    assert_eq!(err("eval instant at 0 x\n  expect warn foo: x\n").line, 2);
    assert_eq!(err("eval instant at 0 x\n  a 1 2\n").line, 2);
    assert_eq!(err("eval instant at 0 x\n  a{b=~\"c\"} 1\n").line, 2);
    assert_eq!(err("eval instant at 0 x\n  a{b=\"c} 1\n").line, 2);
    assert_eq!(
        err("eval range from 0 to 1m step 1m x\n  expect ordered\n").line,
        2
    );
    assert_eq!(err("eval instant at 0 x\n  1\n  a 1\n").line, 1);
    assert_eq!(err("clear now\n").line, 1);
    assert_eq!(err("load 1m\n  a {{schema:0\n").line, 2);
}

#[test]
fn absurd_repeat_counts_are_errors() {
    assert!(
        parse_values("1x99999999999")
            .unwrap_err()
            .contains("positions")
    );
    assert!(parse_values("_x99999999999").is_err());
    assert!(parse_values("{{}}x99999999999").is_err());
    assert!(parse_values("1x999999 1x999999").is_err());
    assert!(
        err("load 1m\n  m@st 1mx99999999999\n  m 1\n")
            .message
            .contains("positions")
    );
}

#[test]
fn histogram_sequences_reduce_to_the_lower_schema() {
    // As upstream's native_histograms.test: schema 0 buckets (1,2] and (2,4] both fall
    // into schema -1 bucket (1,4].
    let v = hists(
        "{{schema:-1 sum:4 count:1 buckets:[1] offset:1}}+{{schema:0 sum:4 count:4 buckets:[2 2] offset:1}}x1",
    );
    assert_eq!(v[1].h.schema, -1);
    assert_eq!((v[1].h.count, v[1].h.sum), (5.0, 8.0));
    let m: Vec<_> = crate::hist::bucket_map(&v[1].h.positive_spans, &v[1].h.positive_buckets)
        .into_iter()
        .collect();
    assert_eq!(m, [(1, 5.0)]);
    // The higher-resolution start is reduced too.
    let v = hists("{{schema:1 count:2 buckets:[1 1] offset:1}}+{{schema:0 count:0}}x1");
    assert_eq!(v[1].h.schema, 0);
    let m: Vec<_> = crate::hist::bucket_map(&v[1].h.positive_spans, &v[1].h.positive_buckets)
        .into_iter()
        .collect();
    assert_eq!(m, [(1, 2.0)]);
}
