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
