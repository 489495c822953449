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

// ------------------------------------------------------------------ start timestamps

/// One series `c_total` of `(t, start timestamp, value)` samples.
fn with_st(samples: &[(i64, i64, f64)]) -> MemStorage {
    let st = MemStorage::new();
    let mut app = st.appender();
    let l = Labels::from_pairs([("__name__", "c_total")]);
    for &(t, s, v) in samples {
        app.append_with_st(SeriesRef::UNKNOWN, &l, t, s, v)
            .expect("append");
    }
    app.commit().expect("commit");
    st
}

fn one(st: &MemStorage, q: &str, t: i64) -> Option<f64> {
    let v = vector(st, q, t);
    assert!(v.len() <= 1, "{q}: {v:?}");
    v.first().map(|x| x.1)
}

#[test]
fn start_timestamp_reset_rules() {
    use crate::functions::st_reset;
    // (prev st, prev t, cur st, cur t)
    assert!(!st_reset(0, 60, 0, 120), "unknown");
    assert!(st_reset(0, 60, 61, 120), "after the previous sample");
    assert!(!st_reset(0, 60, 59, 120), "before the previous sample");
    assert!(
        st_reset(30, 60, 60, 120),
        "delta: at the previous sample, which has one"
    );
    assert!(
        !st_reset(0, 60, 60, 120),
        "cumulative with an unknown start"
    );
    assert!(
        !st_reset(60, 60, 60, 120),
        "the previous start is not before its sample"
    );
    assert!(!st_reset(90, 60, 60, 120), "invalid previous start");
    assert!(
        !st_reset(30, 60, 120, 120),
        "a start at the sample's own time"
    );
    assert!(!st_reset(30, 60, 130, 120), "a start after the sample");
}

#[test]
fn start_timestamps_mark_resets_for_the_rate_family() {
    // A counter restarting at 60s without its value dropping below the previous one:
    // only the start timestamp tells.
    let st = with_st(&[
        (0, 0, 10.0),
        (30_000, 0, 20.0),
        (60_000, 45_000, 30.0),
        (90_000, 45_000, 40.0),
    ]);
    // Window (0, 90s]: 20 -> 30 is a restart (+20 before it), so 10 + 20 + 10 = 40 over
    // 60s, extrapolated to 90s but not below zero (at most 60s * 20/40 = 30s left).
    assert_eq!(one(&st, "increase(c_total[90s])", 90_000), Some(60.0));
    assert_eq!(one(&st, "resets(c_total[90s])", 90_000), Some(1.0));
    assert_eq!(one(&st, "changes(c_total[90s])", 90_000), Some(2.0));
    // irate: the last two samples show no reset; at 60s the last pair does.
    assert_eq!(one(&st, "irate(c_total[90s])", 90_000), Some(10.0 / 30.0));
    assert_eq!(one(&st, "irate(c_total[90s])", 60_000), Some(1.0));
    // delta() is for gauges: start timestamps change nothing.
    let no_st = storage(&[(
        &[("__name__", "c_total")],
        &[(0, 10.0), (30_000, 20.0), (60_000, 30.0), (90_000, 40.0)],
    )]);
    assert_eq!(
        one(&st, "delta(c_total[90s])", 90_000),
        one(&no_st, "delta(c_total[90s])", 90_000)
    );
    // A subquery's samples have no start timestamps.
    assert_eq!(one(&st, "resets(c_total[90s:30s])", 90_000), Some(0.0));
}

#[test]
fn a_start_timestamp_inside_the_window_is_a_zero_sample() {
    // Started at 45s: the increase counts from zero there, with no extrapolation to the
    // left, and one sample is enough.
    let st = with_st(&[(60_000, 45_000, 3.0), (120_000, 45_000, 9.0)]);
    assert_eq!(one(&st, "increase(c_total[100s])", 120_000), Some(9.0));
    assert_eq!(one(&st, "increase(c_total[100s])", 60_000), Some(3.0));
    assert_eq!(one(&st, "rate(c_total[100s])", 60_000), Some(0.03));
    // The start timestamp on the window's edge is not inside: usual extrapolation, and
    // a single sample gives nothing.
    assert_eq!(one(&st, "increase(c_total[15s])", 60_000), None);
    // The end is still extrapolated (by the average spacing of the real samples):
    // 9 over 75s, plus 30s to the window's end (below 1.1 * 60s).
    assert_eq!(
        one(&st, "increase(c_total[150s])", 150_000),
        Some(9.0 * 105.0 / 75.0)
    );
}

#[test]
fn overlapping_start_timestamps_warn() {
    // The second sample claims to count from 30s, before the first sample at 60s, whose
    // own start was 0 (unknown): overlapping intervals.
    let st = with_st(&[
        (60_000, 0, 1.0),
        (120_000, 30_000, 2.0),
        (180_000, 30_000, 3.0),
    ]);
    let res = engine(true)
        .instant_query(&st, "rate(c_total[3m])", 180_000)
        .unwrap();
    assert_eq!(
        res.annotations.warnings,
        [
            "PromQL warning: sample has start time that overlaps with previous sample timestamp for metric \"c_total\" (1:6)"
        ]
    );
    let res = engine(true)
        .instant_query(&st, "resets(c_total[3m])", 180_000)
        .unwrap();
    assert!(
        res.annotations.warnings.is_empty(),
        "only rate and increase warn"
    );
}

#[test]
fn start_timestamp_function() {
    let st = with_st(&[(10_000, 5_000, 1.0), (20_000, 0, 2.0)]);
    let l = Labels::from_pairs([("__name__", "h_total"), ("kind", "histogram")]);
    let mut app = st.appender();
    let h = narthex_model::FloatHistogram {
        count: 1.0,
        ..Default::default()
    };
    app.append_histogram_with_st(
        SeriesRef::UNKNOWN,
        &l,
        10_000,
        2_500,
        narthex_storage::HistogramSample::Float(&h),
    )
    .unwrap();
    app.commit().unwrap();
    // Seconds, of floats and histograms alike; the name is dropped.
    assert_eq!(
        vector(&st, "start_timestamp({__name__=~\".+_total\"})", 15_000),
        [
            ("{kind=\"histogram\"}".to_string(), 2.5),
            ("{}".to_string(), 5.0)
        ]
    );
    // Unknown: 0.
    assert_eq!(one(&st, "start_timestamp(c_total)", 25_000), Some(0.0));
    assert_eq!(one(&st, "start_timestamp(c_total)", 5_000), None);
    // Of an expression: nothing.
    assert_eq!(one(&st, "start_timestamp(c_total * 1)", 15_000), None);
}

#[test]
fn start_timestamps_stay_with_their_samples_past_stale_markers() {
    let st = with_st(&[
        (10_000, 0, 1.0),
        (20_000, 0, stale_nan()),
        (30_000, 25_000, 2.0),
        (40_000, 25_000, 3.0),
    ]);
    assert_eq!(one(&st, "resets(c_total[1m])", 40_000), Some(1.0));
    assert_eq!(one(&st, "start_timestamp(c_total)", 35_000), Some(25.0));
    assert_eq!(one(&st, "start_timestamp(c_total)", 25_000), None, "stale");
}

/// `agg(metric)` and `agg(f(metric[range]))` are evaluated one series at a time; spelling the metric with a
/// regex matcher takes the materialising path. Both must give the same values, order and
/// annotations, and the streaming one must hold fewer samples at once.
#[test]
fn streamed_aggregations_match_materialised_ones() {
    let st = MemStorage::new();
    let mut app = st.appender();
    for i in 0..40 {
        let (job, pod) = (format!("j{}", i % 3), format!("p{i}"));
        let l = Labels::from_pairs([("__name__", "req_total"), ("job", &job), ("pod", &pod)]);
        // Counters with resets and gaps, and a stale marker in some series.
        let mut samples: Vec<(i64, f64)> = (0..120)
            .filter(|k| (k + i) % 7 != 0)
            .map(|k| (k * 15_000, ((k * (i + 1)) % 500) as f64 + 0.1 * i as f64))
            .collect();
        if i % 5 == 0 {
            samples.push((120 * 15_000, stale_nan()));
        }
        for (t, v) in samples {
            app.append(SeriesRef::UNKNOWN, &l, t, v).expect("append");
        }
    }
    app.commit().expect("commit");
    let shapes = [
        "sum(rate(M[2m]))",
        "sum by (job) (increase(M[5m]))",
        "avg without (pod) (irate(M[1m]))",
        "max by (job) (max_over_time(M[3m]))",
        "min(last_over_time(M[1m]))",
        "count by (job) (changes(M[10m]))",
        "stddev(deriv(M[4m]))",
        "stdvar by (job) (resets(M[10m]))",
        "group by (job) (count_over_time(M[1m]))",
        "sum(quantile_over_time(0.9, M[3m]))",
        "sum(quantile_over_time(1.5, M[3m]))",
        "sum(M)",
        "avg by (job) (M)",
        "count without (pod) (M)",
        "max(M offset 1m)",
        "stddev by (job) (M @ 600)",
    ];
    for delayed in [false, true] {
        let e = engine(delayed);
        for shape in shapes {
            let streamed = shape.replace('M', "req_total");
            let materialised = shape.replace('M', "{__name__=~\"req_total\"}");
            let a = e
                .range_query(&st, &streamed, 0, 1_800_000, 30_000)
                .expect(&streamed);
            let b = e
                .range_query(&st, &materialised, 0, 1_800_000, 30_000)
                .expect(&materialised);
            assert_eq!(
                format!("{:?}", a.value),
                format!("{:?}", b.value),
                "{streamed}"
            );
            assert_eq!(
                format!("{:?}", a.annotations).replace("req_total", "X"),
                format!("{:?}", b.annotations)
                    .replace("{__name__=~\\\"req_total\\\"}", "X")
                    .replace("req_total", "X"),
                "{streamed}"
            );
            assert!(
                a.stats.peak_samples < b.stats.peak_samples,
                "{streamed}: peak {} streamed, {} materialised",
                a.stats.peak_samples,
                b.stats.peak_samples
            );
            for t in [0, 600_000, 1_800_000] {
                let a = e.instant_query(&st, &streamed, t).expect(&streamed);
                let b = e.instant_query(&st, &materialised, t).expect(&materialised);
                assert_eq!(
                    format!("{:?}", a.value),
                    format!("{:?}", b.value),
                    "{streamed} at {t}"
                );
            }
        }
    }
}
