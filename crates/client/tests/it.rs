//! The registry's output parsed back by Narthex's own strict parsers.

use narthex_client::Registry;
use narthex_exposition::{OpenMetricsParser, ParseOptions, TextParser, read_families};

#[test]
fn text_and_openmetrics_parse_back_strictly() {
    let r = Registry::new();
    let c = r.counter_family("jobs_total", "Jobs run.", &["queue", "result"]);
    c.with(&["a", "ok"]).inc();
    c.with(&["a", "ok"]).inc_by(2.5);
    c.with(&["b", "failed"]).inc();
    c.with(&["b", "failed"]).inc_by(-7.0);
    let g = r.gauge("queue_depth", "Jobs waiting.");
    g.set(3.0);
    g.add(-1.0);
    let h = r.histogram("job_seconds", "Job duration.", vec![1.0, 0.1, 10.0]);
    for v in [0.05, 0.5, 0.5, 20.0] {
        h.observe(v);
    }
    r.register_collector(|out| {
        out.push(narthex_exposition::MetricFamily {
            name: "build_info".into(),
            help: Some("Build.".into()),
            metric_type: narthex_model::MetricType::Gauge,
            unit: None,
            samples: vec![narthex_exposition::FamilySample::new(
                "build_info",
                &[("version", "1")],
                1.0,
            )],
        })
    });
    let (text, ct) = r.encode("text/plain");
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    let text = String::from_utf8(text).unwrap();
    for want in [
        "jobs_total{queue=\"a\",result=\"ok\"} 3.5\n",
        "jobs_total{queue=\"b\",result=\"failed\"} 1\n",
        "queue_depth 2\n",
        "job_seconds_bucket{le=\"0.1\"} 1\n",
        "job_seconds_bucket{le=\"1.0\"} 3\n",
        "job_seconds_bucket{le=\"10.0\"} 3\n",
        "job_seconds_bucket{le=\"+Inf\"} 4\n",
        "job_seconds_sum 21.05\n",
        "job_seconds_count 4\n",
        "build_info{version=\"1\"} 1\n",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    let fams = read_families(TextParser::new(text.as_bytes(), ParseOptions::default())).unwrap();
    assert_eq!(fams.len(), 4);
    let (om, ct) = r.encode("application/openmetrics-text; version=1.0.0");
    assert!(ct.starts_with("application/openmetrics-text"));
    let om = String::from_utf8(om).unwrap();
    assert!(om.ends_with("# EOF\n"), "{om}");
    let fams = read_families(OpenMetricsParser::new(
        om.as_bytes(),
        ParseOptions::default(),
    ))
    .unwrap();
    assert_eq!(fams.len(), 4);
}

#[test]
fn updates_from_many_threads_add_up() {
    let r = Registry::new();
    let c = r.counter("events_total", "Events.");
    std::thread::scope(|s| {
        for _ in 0..4 {
            let c = c.clone();
            s.spawn(move || {
                for _ in 0..10_000 {
                    c.inc();
                }
            });
        }
    });
    assert_eq!(c.get(), 40_000.0);
}

#[test]
fn summaries_give_quantiles_sum_and_count() {
    let r = Registry::new();
    let s = r.summary_family(
        "query_seconds",
        "Query time.",
        &["slice"],
        vec![0.99, 0.5, 0.9, 1.5],
    );
    let eval = s.with(&["inner_eval"]);
    for i in 1..=100 {
        eval.observe(i as f64);
    }
    assert_eq!(eval.count(), 100);
    assert_eq!(eval.sum(), 5050.0);
    // Out-of-range quantiles are dropped; the rest sorted.
    assert_eq!(
        eval.quantiles(),
        vec![(0.5, 50.0), (0.9, 90.0), (0.99, 99.0)]
    );
    // Without observations a quantile is NaN, as Prometheus's clients report it.
    let idle = s.with(&["queue_time"]);
    assert!(idle.quantiles().iter().all(|(_, v)| v.is_nan()));

    let (body, _) = r.encode("text/plain");
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("# TYPE query_seconds summary\n"), "{text}");
    // Counters carry `_total` in the text format's TYPE line, as Go's clients write it
    // (the family is named without it, as OpenMetrics names it).
    let c = r.counter("requests_total", "Requests.");
    c.inc();
    let (body, _) = r.encode("text/plain");
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains(
            "# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total 1\n"
        ),
        "{text}"
    );
    let (om, _) = r.encode("application/openmetrics-text; version=1.0.0");
    let om = String::from_utf8(om).unwrap();
    assert!(
        om.contains("# TYPE requests counter\nrequests_total 1.0\n"),
        "{om}"
    );
    assert!(
        text.contains("query_seconds{slice=\"inner_eval\",quantile=\"0.5\"} 50\n"),
        "{text}"
    );
    assert!(text.contains("query_seconds_sum{slice=\"inner_eval\"} 5050\n"));
    assert!(text.contains("query_seconds_count{slice=\"inner_eval\"} 100\n"));
    assert!(text.contains("query_seconds{slice=\"queue_time\",quantile=\"0.99\"} NaN\n"));
    // Both formats parse back strictly.
    let fams = read_families(TextParser::new(text.as_bytes(), ParseOptions::default()))
        .expect("text parses");
    assert!(fams.iter().any(|f| f.name == "query_seconds"));
    let (om, _) = r.encode("application/openmetrics-text; version=1.0.0");
    let om = String::from_utf8(om).unwrap();
    read_families(OpenMetricsParser::new(
        om.as_bytes(),
        ParseOptions::default(),
    ))
    .expect("openmetrics parses");
}

#[test]
fn summary_quantiles_hold_beyond_the_sample_cap() {
    let r = Registry::new();
    let s = r.summary("lat", "Latency.", vec![0.5, 0.9]);
    // 100,000 observations, uniform over 0..1000: far more than a bucket keeps.
    for i in 0..100_000u64 {
        s.observe((i * 7919 % 100_000) as f64 / 100.0);
    }
    let q = s.quantiles();
    assert!((q[0].1 - 500.0).abs() < 50.0, "{q:?}");
    assert!((q[1].1 - 900.0).abs() < 30.0, "{q:?}");
}
