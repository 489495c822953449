//! Unit tests of the evaluator on the in-memory storage.

use narthex_model::{Labels, stale_nan};
use narthex_promql_syntax::ParserOptions;
use narthex_storage::{Appendable, MemStorage, SeriesRef};

use crate::{Engine, EngineOptions, QueryError, Value};

type SeriesDef<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn storage(series: &[SeriesDef<'_>]) -> MemStorage {
    let st = MemStorage::new();
    let mut app = st.appender();
    for (labels, samples) in series {
        let l = Labels::from_pairs(labels.iter().copied());
        for &(t, v) in *samples {
            app.append(SeriesRef::UNKNOWN, &l, t, v).expect("append");
        }
    }
    app.commit().expect("commit");
    st
}

fn engine(delayed: bool) -> Engine {
    Engine::new(EngineOptions {
        parser: ParserOptions::all_experimental(),
        delayed_name_removal: delayed,
        ..EngineOptions::default()
    })
}

fn vector(st: &MemStorage, q: &str, t: i64) -> Vec<(String, f64)> {
    let res = engine(true).instant_query(st, q, t).expect(q);
    match res.value {
        Value::Vector(v) => {
            let mut out: Vec<_> = v.into_iter().map(|s| (s.metric.to_string(), s.f)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("{q}: not a vector: {other:?}"),
    }
}

fn scalar(q: &str) -> f64 {
    match engine(true)
        .instant_query(&MemStorage::new(), q, 0)
        .expect(q)
        .value
    {
        Value::Scalar { v, .. } => v,
        other => panic!("{q}: not a scalar: {other:?}"),
    }
}

fn counter(n: i64, step: i64, inc: f64) -> Vec<(i64, f64)> {
    (0..n).map(|i| (i * step, i as f64 * inc)).collect()
}

#[test]
fn literals_and_arithmetic() {
    assert_eq!(scalar("1 + 2 * 3"), 7.0);
    assert_eq!(scalar("-(2 ^ 3)"), -8.0);
    assert_eq!(scalar("7 % 4"), 3.0);
    assert_eq!(scalar("2 > bool 1"), 1.0);
    match engine(true)
        .instant_query(&MemStorage::new(), "\"hi\"", 5)
        .unwrap()
        .value
    {
        Value::String { s, t } => assert_eq!((s.as_str(), t), ("hi", 5)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lookback_staleness_and_offset() {
    let st = storage(&[(
        &[("__name__", "m")],
        &[(0, 1.0), (60_000, 2.0), (120_000, stale_nan())],
    )]);
    assert_eq!(
        vector(&st, "m", 60_000),
        vec![(r#"{__name__="m"}"#.into(), 2.0)]
    );
    // Within the lookback, but after the stale marker: gone.
    assert!(vector(&st, "m", 150_000).is_empty());
    // Lookback of 5m from 330s sees nothing (the newest sample is at 60s, then stale).
    assert!(vector(&st, "m", 330_000).is_empty());
    assert_eq!(
        vector(&st, "m offset 1m", 120_000),
        vec![(r#"{__name__="m"}"#.into(), 2.0)]
    );
    assert_eq!(
        vector(&st, "m @ 0", 100_000),
        vec![(r#"{__name__="m"}"#.into(), 1.0)]
    );
    assert_eq!(
        vector(&st, "m offset -1m", 0),
        vec![(r#"{__name__="m"}"#.into(), 2.0)]
    );
}

#[test]
fn rate_extrapolates_like_prometheus() {
    let st = storage(&[(
        &[("__name__", "c_total"), ("job", "a")],
        &counter(41, 15_000, 3.0),
    )]);
    let v = vector(&st, "rate(c_total[5m])", 600_000);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].0, r#"{job="a"}"#);
    assert!((v[0].1 - 0.2).abs() < 1e-12);
    let v = vector(&st, "increase(c_total[1m])", 600_000);
    assert!((v[0].1 - 12.0).abs() < 1e-12);
}

#[test]
fn non_counter_info_annotation() {
    let st = storage(&[(&[("__name__", "gauge")], &counter(10, 15_000, 1.0))]);
    let res = engine(true)
        .instant_query(&st, "rate(gauge[1m])", 120_000)
        .unwrap();
    assert_eq!(
        res.annotations.infos,
        vec![
            r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "gauge" (1:6)"#
        ]
    );
}

#[test]
fn range_query_steps_and_sorting() {
    let st = storage(&[
        (&[("__name__", "m"), ("i", "b")], &[(0, 1.0), (60_000, 2.0)]),
        (&[("__name__", "m"), ("i", "a")], &[(0, 10.0)]),
    ]);
    let res = engine(true)
        .range_query(&st, "m * 2", 0, 120_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = res.value else {
        panic!()
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].metric.to_string(), r#"{i="a"}"#);
    assert_eq!(
        m[0].floats.iter().map(|p| p.f).collect::<Vec<_>>(),
        vec![20.0, 20.0, 20.0]
    );
    assert_eq!(
        m[1].floats.iter().map(|p| p.f).collect::<Vec<_>>(),
        vec![2.0, 4.0, 4.0]
    );
}

#[test]
fn vector_matching_and_errors() {
    let st = storage(&[
        (&[("__name__", "a"), ("job", "x"), ("i", "1")], &[(0, 1.0)]),
        (&[("__name__", "a"), ("job", "x"), ("i", "2")], &[(0, 2.0)]),
        (&[("__name__", "b"), ("job", "x")], &[(0, 10.0)]),
    ]);
    let v = vector(&st, "a * on(job) group_left b", 0);
    assert_eq!(
        v,
        vec![
            (r#"{i="1", job="x"}"#.into(), 10.0),
            (r#"{i="2", job="x"}"#.into(), 20.0)
        ]
    );
    let err = engine(true)
        .instant_query(&st, "b * on(job) a", 0)
        .unwrap_err();
    assert!(
        matches!(err, QueryError::Eval(ref m) if m.starts_with("found duplicate series for the match group {job=\"x\"} on the right hand-side")),
        "{err}"
    );
    assert_eq!(vector(&st, "a and on(job) b", 0).len(), 2);
    assert_eq!(vector(&st, "a unless on(job) b", 0).len(), 0);
    assert_eq!(vector(&st, "a or b", 0).len(), 3);
    assert_eq!(
        vector(&st, "a > 1", 0),
        vec![(r#"{__name__="a", i="2", job="x"}"#.into(), 2.0)]
    );
}

#[test]
fn aggregations() {
    let st = storage(&[
        (&[("__name__", "m"), ("g", "a"), ("i", "1")], &[(0, 1.0)]),
        (&[("__name__", "m"), ("g", "a"), ("i", "2")], &[(0, 3.0)]),
        (&[("__name__", "m"), ("g", "b"), ("i", "3")], &[(0, 5.0)]),
    ]);
    assert_eq!(
        vector(&st, "sum by (g) (m)", 0),
        vec![(r#"{g="a"}"#.into(), 4.0), (r#"{g="b"}"#.into(), 5.0)]
    );
    assert_eq!(vector(&st, "avg(m)", 0), vec![("{}".into(), 3.0)]);
    assert_eq!(
        vector(&st, "count without (i) (m)", 0),
        vec![(r#"{g="a"}"#.into(), 2.0), (r#"{g="b"}"#.into(), 1.0)]
    );
    assert_eq!(
        vector(&st, "topk(1, m)", 0),
        vec![(r#"{__name__="m", g="b", i="3"}"#.into(), 5.0)]
    );
    assert_eq!(vector(&st, "quantile(0.5, m)", 0), vec![("{}".into(), 3.0)]);
    assert_eq!(vector(&st, "stdvar(m)", 0)[0].1, 8.0 / 3.0);
    assert_eq!(vector(&st, "count_values(\"v\", m)", 0).len(), 3);
}

#[test]
fn subquery_alignment() {
    let st = storage(&[(&[("__name__", "m")], &counter(20, 30_000, 1.0))]);
    // Steps at 240s, 300s, 360s, 420s, 480s (after 180s, aligned to 1m).
    assert_eq!(
        vector(&st, "count_over_time(m[5m:1m])", 480_000),
        vec![("{}".into(), 5.0)]
    );
    assert_eq!(
        vector(&st, "max_over_time(m[5m:])", 480_000),
        vec![("{}".into(), 16.0)]
    );
}

#[test]
fn classic_histogram_quantile() {
    let st = storage(&[
        (&[("__name__", "h_bucket"), ("le", "1")], &[(0, 10.0)]),
        (&[("__name__", "h_bucket"), ("le", "2")], &[(0, 20.0)]),
        (&[("__name__", "h_bucket"), ("le", "+Inf")], &[(0, 20.0)]),
    ]);
    assert_eq!(
        vector(&st, "histogram_quantile(0.75, h_bucket)", 0),
        vec![("{}".into(), 1.5)]
    );
}

#[test]
fn label_functions() {
    let st = storage(&[(&[("__name__", "m"), ("src", "a-b")], &[(0, 1.0)])]);
    let v = vector(
        &st,
        r#"label_replace(m, "dst", "$2", "src", "(.*)-(.*)")"#,
        0,
    );
    assert_eq!(v[0].0, r#"{__name__="m", dst="b", src="a-b"}"#);
    let v = vector(&st, r#"label_join(m, "j", ",", "src", "src")"#, 0);
    assert_eq!(v[0].0, r#"{__name__="m", j="a-b,a-b", src="a-b"}"#);
}

#[test]
fn too_many_samples() {
    let st = storage(&[(&[("__name__", "m")], &counter(100, 1_000, 1.0))]);
    let e = Engine::new(EngineOptions {
        max_samples: 10,
        ..EngineOptions::default()
    });
    let err = e.instant_query(&st, "m[1m]", 100_000).unwrap_err();
    assert!(matches!(err, QueryError::TooManySamples));
}

#[test]
fn eager_and_delayed_name_removal_agree() {
    let st = storage(&[
        (
            &[("__name__", "a_total"), ("j", "1")],
            &counter(5, 60_000, 1.0),
        ),
        (
            &[("__name__", "b_total"), ("j", "1")],
            &counter(5, 60_000, 2.0),
        ),
    ]);
    for delayed in [false, true] {
        let err = engine(delayed)
            .instant_query(&st, "rate({j=\"1\"}[5m])", 240_000)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "vector cannot contain metrics with the same labelset"
        );
    }
}

#[test]
fn extreme_times_do_not_panic() {
    let st = storage(&[(&[("__name__", "m")], &[(0, 1.0)])]);
    let e = engine(true);
    for q in [
        "m[100000000y]",
        "m @ 9223372036854775",
        "m offset -100000000y",
        "rate(m[5m:1ms])",
        "sum_over_time(m[100000000y:1y])",
        "m smoothed",
        "increase(m[1m] anchored)",
        "histogram_quantile(0.5, m)",
        "label_replace(m, \"a\", \"$1\", \"__name__\", \"(\")",
    ] {
        let _ = e.instant_query(&st, q, 0);
        let _ = e.instant_query(&st, q, i64::MAX);
        let _ = e.range_query(&st, q, 0, 1_000_000_000_000, 1);
        let _ = e.range_query(&st, q, i64::MIN, i64::MAX, i64::MAX);
    }
}

#[test]
fn computed_ranges_must_be_positive() {
    let st = storage(&[(&[("__name__", "m")], &[(0, 1.0)])]);
    let e = engine(true);
    assert!(e.instant_query(&st, "rate(m[1m - 2m])", 60_000).is_err());
    assert!(
        e.instant_query(&st, "increase(m[1m - 2m] anchored)", 60_000)
            .is_err()
    );
    assert!(
        e.instant_query(&st, "max_over_time(m[1m - 1m:])", 60_000)
            .is_err()
    );
}

#[test]
fn cancellation_and_statistics() {
    let st = storage(&[(
        &[("__name__", "up"), ("job", "a")],
        &[(0, 1.0), (15_000, 1.0), (30_000, 0.0)],
    )]);
    let e = engine(false);
    let token = crate::CancelToken::new();
    let ok = e
        .instant_query_with(&st, "sum(up)", 30_000, &token)
        .expect("not cancelled");
    assert!(ok.stats.samples_touched > 0, "{:?}", ok.stats);
    token.cancel();
    assert!(matches!(
        e.instant_query_with(&st, "sum(up)", 30_000, &token),
        Err(QueryError::Canceled)
    ));
    assert!(matches!(
        e.range_query_with(&st, "up", 0, 30_000, 15_000, &token),
        Err(QueryError::Canceled)
    ));
    assert_eq!(
        QueryError::Canceled.to_string(),
        "query was canceled in query execution",
        "Prometheus's text"
    );
    // A cancellation made on another thread (through a clone of the token) is seen by the
    // query on this one.
    let big = MemStorage::new();
    let mut app = big.appender();
    for i in 0..200 {
        let l = Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]);
        for t in 0..500 {
            app.append(SeriesRef::UNKNOWN, &l, t * 15_000, t as f64)
                .expect("append");
        }
    }
    app.commit().expect("commit");
    let token = crate::CancelToken::new();
    let other = token.clone();
    let canceller = std::thread::spawn(move || other.cancel());
    canceller.join().expect("join");
    let r = e.range_query_with(
        &big,
        "sum(rate(m[5m])) by (i)",
        0,
        7_500_000,
        15_000,
        &token,
    );
    assert!(
        matches!(r, Err(QueryError::Canceled)),
        "{:?}",
        r.map(|x| x.stats)
    );
}
