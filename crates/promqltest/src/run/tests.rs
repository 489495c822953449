use narthex_model::{CUSTOM_BUCKETS_SCHEMA, MatchOp, Matcher, labels, stale_nan};
use narthex_promql::{FPoint, HPoint};
use narthex_storage::{MemStorage, ValueType};

use super::*;

fn eval(text: &str) -> EvalCmd {
    Script::parse("t.test", text)
        .unwrap()
        .evals()
        .next()
        .unwrap()
        .clone()
}

fn sample(l: Labels, f: f64) -> Sample {
    Sample {
        metric: l,
        t: 0,
        f,
        h: None,
    }
}

fn hsample(l: Labels, h: FloatHistogram) -> Sample {
    Sample {
        metric: l,
        t: 0,
        f: 0.0,
        h: Some(h),
    }
}

fn lit(s: &str) -> FloatHistogram {
    hist::parse_literal(s).unwrap().h
}

#[test]
fn floats_with_tolerance_nan_and_stale() {
    let ev = eval("eval instant at 0 x\n  x{a=\"1\"} 1\n  x{a=\"2\"} NaN\n  x{a=\"3\"} stale\n");
    let ok = Value::Vector(vec![
        sample(labels! {"__name__" => "x", "a" => "3"}, stale_nan()),
        sample(labels! {"__name__" => "x", "a" => "1"}, 1.0 + 1e-9),
        sample(labels! {"__name__" => "x", "a" => "2"}, f64::NAN),
    ]);
    compare_result(&ev, &ok).unwrap();
    let Value::Vector(mut v) = ok else {
        unreachable!()
    };
    v[1].f = 1.01;
    assert!(
        compare_result(&ev, &Value::Vector(v.clone()))
            .unwrap_err()
            .contains("expected 1, got 1.01")
    );
    v[1].f = 1.0;
    v[0].f = f64::NAN;
    assert!(
        compare_result(&ev, &Value::Vector(v.clone())).is_err(),
        "NaN is not stale"
    );
    v[0].f = stale_nan();
    v.pop();
    assert!(
        compare_result(&ev, &Value::Vector(v.clone()))
            .unwrap_err()
            .contains("not found")
    );
    v.push(sample(labels! {"a" => "2"}, f64::NAN));
    assert!(
        compare_result(&ev, &Value::Vector(v))
            .unwrap_err()
            .contains("unexpected sample")
    );
}

#[test]
fn ordered_and_kinds() {
    let ev = eval("eval instant at 0 x\n  expect ordered\n  {a=\"1\"} 1\n  {a=\"2\"} 2\n");
    let v = vec![
        sample(labels! {"a" => "1"}, 1.0),
        sample(labels! {"a" => "2"}, 2.0),
    ];
    compare_result(&ev, &Value::Vector(v.clone())).unwrap();
    let rev: Vec<Sample> = v.iter().rev().cloned().collect();
    assert!(
        compare_result(&ev, &Value::Vector(rev.clone()))
            .unwrap_err()
            .contains("position")
    );
    let unordered = eval("eval instant at 0 x\n  {a=\"1\"} 1\n  {a=\"2\"} 2\n");
    compare_result(&unordered, &Value::Vector(rev)).unwrap();

    let s = eval("eval instant at 0 1\n  1\n");
    compare_result(&s, &Value::Scalar { t: 0, v: 1.0 }).unwrap();
    assert!(compare_result(&s, &Value::Vector(v)).is_err());
    let st = eval("eval instant at 0 \"a\"\n  expect string \"a\"\n");
    compare_result(
        &st,
        &Value::String {
            t: 0,
            s: "a".into(),
        },
    )
    .unwrap();
    assert!(
        compare_result(
            &st,
            &Value::String {
                t: 0,
                s: "b".into()
            }
        )
        .is_err()
    );
    let empty = eval("eval instant at 0 x\n");
    compare_result(&empty, &Value::Vector(vec![])).unwrap();
    assert!(compare_result(&empty, &Value::Scalar { t: 0, v: 1.0 }).is_err());
}

#[test]
fn histograms_compacted_hint_only_when_spelled() {
    let ev = eval("eval instant at 0 x\n  {} {{schema:0 sum:5 count:4 buckets:[1 2 1]}}\n");
    let mut got =
        lit("{{schema:0 sum:5 count:4 buckets:[0 1 2 1 0] offset:-1 counter_reset_hint:reset}}");
    compare_result(
        &ev,
        &Value::Vector(vec![hsample(Labels::empty(), got.clone())]),
    )
    .unwrap();
    got.sum = 6.0;
    assert!(
        compare_result(&ev, &Value::Vector(vec![hsample(Labels::empty(), got)]))
            .unwrap_err()
            .contains("sum")
    );

    let hinted = eval("eval instant at 0 x\n  {} {{count:1 counter_reset_hint:not_reset}}\n");
    let got = lit("{{count:1 counter_reset_hint:reset}}");
    assert!(
        compare_result(&hinted, &Value::Vector(vec![hsample(Labels::empty(), got)]))
            .unwrap_err()
            .contains("hint")
    );

    let float_exp = eval("eval instant at 0 x\n  {} 1\n");
    assert!(
        compare_result(
            &float_exp,
            &Value::Vector(vec![hsample(Labels::empty(), lit("{{count:1}}"))])
        )
        .is_err()
    );
}

#[test]
fn matrices() {
    let ev =
        eval("eval range from 0 to 2m step 1m x\n  {a=\"1\"} 1 _ 3\n  {a=\"2\"} {{count:1}}x2\n");
    let s1 = Series {
        metric: labels! {"a" => "1"},
        floats: vec![FPoint { t: 0, f: 1.0 }, FPoint { t: 120_000, f: 3.0 }],
        histograms: vec![],
    };
    let s2 = Series {
        metric: labels! {"a" => "2"},
        floats: vec![],
        histograms: (0..3)
            .map(|i| HPoint {
                t: i * 60_000,
                h: lit("{{count:1}}"),
            })
            .collect(),
    };
    compare_result(&ev, &Value::Matrix(vec![s1.clone(), s2.clone()])).unwrap();
    assert!(
        compare_result(&ev, &Value::Matrix(vec![s2.clone(), s1.clone()]))
            .unwrap_err()
            .contains("sorted")
    );
    let mut bad = s1.clone();
    bad.floats.insert(1, FPoint { t: 60_000, f: 2.0 });
    assert!(
        compare_result(&ev, &Value::Matrix(vec![bad, s2.clone()]))
            .unwrap_err()
            .contains("points at")
    );
    assert!(
        compare_result(&ev, &Value::Matrix(vec![s1.clone()]))
            .unwrap_err()
            .contains("not found")
    );

    let rv = eval(
        "eval instant at 1m x[1m]\n  expect range vector from 10s to 1m step 10s\n  {a=\"1\"} 1 2\n",
    );
    let s = Series {
        metric: labels! {"a" => "1"},
        floats: vec![FPoint { t: 10_000, f: 1.0 }, FPoint { t: 20_000, f: 2.0 }],
        histograms: vec![],
    };
    compare_result(&rv, &Value::Matrix(vec![s])).unwrap();
    let too_many = eval("eval range from 0 to 1m step 1m x\n  {} 1 2 3\n");
    let s = Series {
        metric: Labels::empty(),
        floats: vec![],
        histograms: vec![],
    };
    assert!(
        compare_result(&too_many, &Value::Matrix(vec![s]))
            .unwrap_err()
            .contains("fewer")
    );
}

#[test]
fn annotations() {
    let w = |s: &str| vec![s.to_string()];
    let exact = MessageMatch::Exact("PromQL warning: x (1:1)".into());
    check_annotations(
        "warn",
        &w("PromQL warning: x (1:1)"),
        std::slice::from_ref(&exact),
        false,
    )
    .unwrap();
    assert!(check_annotations("warn", &[], std::slice::from_ref(&exact), false).is_err());
    assert!(check_annotations("warn", &w("other"), std::slice::from_ref(&exact), false).is_err());
    check_annotations("warn", &w("anything"), &[MessageMatch::Any], false).unwrap();
    assert!(check_annotations("warn", &[], &[MessageMatch::Any], false).is_err());
    // Without expectations, annotations are not checked; with no_warn they must be absent.
    check_annotations("warn", &w("anything"), &[], false).unwrap();
    assert!(check_annotations("warn", &w("anything"), &[], true).is_err());
    let re = MessageMatch::Regex("ineffective.*labels".into());
    check_annotations(
        "info",
        &w("sort is ineffective, ordered by labels (1:1)"),
        &[re],
        false,
    )
    .unwrap();
    let two = [
        MessageMatch::Exact("a".into()),
        MessageMatch::Exact("b".into()),
    ];
    assert!(check_annotations("info", &w("a"), &two, false).is_err());
    assert!(check_annotations("info", &["a".into(), "b".into(), "c".into()], &two, false).is_err());
}

#[test]
fn range_function_detection() {
    assert!(uses_range_functions("x + step()"));
    assert!(uses_range_functions("x offset range ()"));
    assert!(!uses_range_functions("rate(x_start[5m])"));
    assert!(!uses_range_functions("timestamp(x)"));
}

#[test]
fn load_and_nhcb() {
    let script = Script::parse(
        "t.test",
        "load_with_nhcb 1m\n  h_bucket{le=\"0.5\", j=\"a\"} 1 2\n  h_bucket{le=\"+Inf\", j=\"a\"} 3 5\n  h_bucket{le=\"1\", j=\"a\"} 2 4\n  h_count{j=\"a\"} 3 5\n  h_sum{j=\"a\"} 1.5 2.5\n  plain {{count:2}} stale\n",
    )
    .unwrap();
    let Command::Load(load) = &script.commands[0] else {
        panic!()
    };
    let db = MemStorage::new();
    run_load(&db, load).unwrap();
    assert_eq!(db.num_series(), 7);
    let q = db.querier(0, 60_000).unwrap();
    let m = Matcher::new(MatchOp::Equal, "__name__", "h").unwrap();
    let s = q.select(true, None, &[m]).unwrap().next().unwrap().unwrap();
    assert_eq!(s.labels(), &labels! {"__name__" => "h", "j" => "a"});
    let mut it = s.iter();
    assert_eq!(it.next(), ValueType::FloatHistogram);
    let (t, h) = it.at_float_histogram();
    assert_eq!(t, 0);
    assert_eq!(h.schema, CUSTOM_BUCKETS_SCHEMA);
    assert_eq!(h.custom_values, [0.5, 1.0]);
    assert_eq!(h.positive_buckets, [1.0, 1.0, 1.0]);
    assert_eq!((h.count, h.sum), (3.0, 1.5));
    it.next();
    let (t, h) = it.at_float_histogram();
    assert_eq!(t, 60_000);
    assert_eq!(h.positive_buckets, [2.0, 2.0, 1.0]);

    let m = Matcher::new(MatchOp::Equal, "__name__", "plain").unwrap();
    let s = q.select(true, None, &[m]).unwrap().next().unwrap().unwrap();
    let mut it = s.iter();
    assert_eq!(it.next(), ValueType::FloatHistogram);
    assert_eq!(it.next(), ValueType::Float);
    assert!(is_stale_nan(it.at().1));
}

#[test]
fn load_applies_start_timestamps() {
    let script = Script::parse(
        "t.test",
        "load 1m\n  c@st _ -30s _ 0 {{count:1}}\n  c 1 2 3 4 {{count:1}}\n  h@st -1m\n  h {{count:1}}\n",
    );
    // The `{{…}}` in an @st line is not an offset: the parser refuses it.
    assert!(script.is_err());
    let script = Script::parse(
        "t.test",
        "load 1m\n  c@st _ -30s _ 0\n  c 1 2 3 4\n  h@st -1m\n  h {{count:1}}\n",
    )
    .unwrap();
    let Command::Load(load) = &script.commands[0] else {
        panic!()
    };
    let db = MemStorage::new();
    run_load(&db, load).unwrap();
    let q = db.querier(0, 600_000).unwrap();
    let m = Matcher::new(MatchOp::Equal, "__name__", "c").unwrap();
    let s = q.select(true, None, &[m]).unwrap().next().unwrap().unwrap();
    let mut it = s.iter();
    let mut got = Vec::new();
    while it.next() != ValueType::None {
        got.push((it.at_t(), it.at_st()));
    }
    assert_eq!(
        got,
        [(0, 0), (60_000, 30_000), (120_000, 0), (180_000, 180_000)]
    );
    let m = Matcher::new(MatchOp::Equal, "__name__", "h").unwrap();
    let s = q.select(true, None, &[m]).unwrap().next().unwrap().unwrap();
    let mut it = s.iter();
    assert_eq!(it.next(), ValueType::FloatHistogram);
    assert_eq!((it.at_t(), it.at_st()), (0, -60_000));
}

#[test]
fn run_reports_ids_and_errors() {
    let script = Script::parse(
        "t.test",
        "load 1m\n  a 1\n  a{} 2\n\neval instant at 0 a\n  expect fail\n\neval instant at 0 a\n  a 1\n",
    )
    .unwrap();
    let report = run_script(
        &script,
        &|| Box::new(MemStorage::new()),
        &RunOptions::default(),
    );
    assert_eq!(report.file, "t.test");
    assert_eq!(report.evals, 2);
    assert_eq!(report.passed + report.failed.len(), 2);
    for (id, why) in &report.failed {
        assert!(id == "t.test:5" || id == "t.test:8", "{id}");
        assert!(!why.contains('\n'));
    }
    let bad = run_file(
        Path::new("/nonexistent/x.test"),
        &|| Box::new(MemStorage::new()),
        &test_engine_options(),
    );
    assert_eq!(bad.errors[0].0, "x.test:0");
}

#[test]
fn at_modifier_variants_add_at_everywhere_but_inside_subqueries() {
    let (q, times) = at_modifier_variants(
        "sum(rate(x[5m])) + y @ 10 + max_over_time(z[5m:1m])",
        60_000,
    )
    .unwrap();
    assert_eq!(times, [-600_000, 0, 12_000, 60_000, 600_000]);
    assert!(q.contains("x[5m] @ 60.000"), "{q}");
    assert!(q.contains("y @ 10.000"), "{q}");
    assert!(q.contains("z[5m:1m] @ 60.000"), "{q}");
    assert!(!q.contains("z @"), "{q}");
    assert_eq!(at_modifier_variants("x", 0).unwrap().1, [-1000, 1000]);
    assert!(at_modifier_variants("timestamp(x)", 1000).is_none());
    assert!(at_modifier_variants("x + step()", 1000).is_none());
    assert!(at_modifier_variants("sum(", 1000).is_none());
}
