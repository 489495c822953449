//! Native histograms over HTTP: one protobuf target scraped by jobs with different
//! `scrape_native_histograms`, `always_scrape_classic_histograms`,
//! `native_histogram_bucket_limit` and `native_histogram_min_bucket_factor` settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use narthex_exposition::protobuf::{encode_delimited, pb};
use narthex_model::{Histogram, MatchOp, Matcher, TargetGroup, labels};
use narthex_scrape::{Health, ScrapeManager, ScrapeOptions};
use narthex_storage::{Queryable, ValueType};
use narthex_tsdb::{Db, Options};

fn span(offset: i32, length: u32) -> pb::BucketSpan {
    pb::BucketSpan {
        offset: Some(offset),
        length: Some(length),
    }
}

fn histogram_family(name: &str, h: pb::Histogram) -> pb::MetricFamily {
    pb::MetricFamily {
        name: Some(name.into()),
        help: Some(format!("help of {name}")),
        r#type: Some(pb::MetricType::Histogram as i32),
        metric: vec![pb::Metric {
            histogram: Some(h),
            ..Default::default()
        }],
        unit: None,
    }
}

/// An integer native histogram with positive buckets only.
fn native(
    count: u64,
    sum: f64,
    schema: i32,
    spans: Vec<pb::BucketSpan>,
    deltas: Vec<i64>,
) -> pb::Histogram {
    pb::Histogram {
        sample_count: Some(count),
        sample_sum: Some(sum),
        schema: Some(schema),
        zero_threshold: Some(1e-3),
        zero_count: Some(0),
        positive_span: spans,
        positive_delta: deltas,
        ..Default::default()
    }
}

fn bucket(upper_bound: f64, count: u64) -> pb::Bucket {
    pb::Bucket {
        upper_bound: Some(upper_bound),
        cumulative_count: Some(count),
        ..Default::default()
    }
}

/// `rpc`: native (schema 3, six positive buckets 0..=5) and classic (`le` 1 and 10);
/// `lat`: native only (schema 0, two buckets).
fn body() -> Vec<u8> {
    // Absolute 1, 2, 3, 3, 2, 1.
    let rpc = pb::Histogram {
        bucket: vec![bucket(1.0, 3), bucket(10.0, 12)],
        ..native(12, 30.0, 3, vec![span(0, 6)], vec![1, 1, 1, 0, -1, -1])
    };
    let lat = native(5, 4.0, 0, vec![span(1, 2)], vec![2, 1]);
    let mut out = Vec::new();
    encode_delimited(
        &[histogram_family("rpc", rpc), histogram_family("lat", lat)],
        &mut out,
    );
    out
}

fn protobuf(_path: &str) -> crate::Response {
    let ctype = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
    ("200 OK", ctype, body(), 0)
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchOp::Equal, name, value).expect("matcher")
}

/// The series of `job` (name and `le`), each with whether it holds floats or histograms.
fn series(db: &Db, job: &str) -> Vec<(String, bool)> {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let mut out = Vec::new();
    let m = [
        eq("job", job),
        Matcher::new(MatchOp::RegexMatch, "__name__", "rpc.*|lat.*").expect("matcher"),
    ];
    for s in q.select(true, None, &m).expect("select") {
        let s = s.expect("series");
        let l = s.labels();
        let mut name = l.get("__name__").unwrap_or_default().to_string();
        if let Some(le) = l.get("le") {
            name = format!("{name}{{le={le}}}");
        }
        let mut it = s.iter();
        let hist = matches!(it.next(), ValueType::Histogram | ValueType::FloatHistogram);
        out.push((name, hist));
    }
    out.sort();
    out
}

/// The last integer histogram of `name` in `job`.
fn last_histogram(db: &Db, job: &str, name: &str) -> Option<Histogram> {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let mut last = None;
    for s in q
        .select(true, None, &[eq("job", job), eq("__name__", name)])
        .expect("select")
    {
        let s = s.expect("series");
        let mut it = s.iter();
        while it.next() == ValueType::Histogram {
            last = Some(it.at_histogram().1);
        }
    }
    last
}

fn job(name: &str) -> ScrapeOptions {
    ScrapeOptions {
        job: name.into(),
        interval: 1_000,
        timeout: 800,
        protocols: vec![narthex_scrape::Protocol::PrometheusProto],
        ..ScrapeOptions::default()
    }
}

fn s(name: &str, hist: bool) -> (String, bool) {
    (name.to_string(), hist)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_histogram_settings() {
    let port = crate::serve(protobuf).await;
    let dir = tempfile::tempdir().expect("tmp");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    let mut m = ScrapeManager::new(db.clone(), 0);
    let native = |name: &str| ScrapeOptions {
        native_histograms: true,
        ..job(name)
    };
    let jobs = vec![
        job("classic"),
        native("native"),
        ScrapeOptions {
            always_scrape_classic_histograms: true,
            ..native("both")
        },
        // Classic series are kept only alongside native ones.
        ScrapeOptions {
            always_scrape_classic_histograms: true,
            ..job("classic_flag_alone")
        },
        ScrapeOptions {
            native_histogram_bucket_limit: 3,
            ..native("limited")
        },
        ScrapeOptions {
            native_histogram_min_bucket_factor: 2.0,
            ..native("factor")
        },
        // Buckets on both sides of 1 never merge: one bucket cannot be reached.
        ScrapeOptions {
            native_histogram_bucket_limit: 1,
            ..native("too_many")
        },
    ];
    let names: Vec<String> = jobs.iter().map(|j| j.job.clone()).collect();
    m.apply(jobs.into_iter().map(|j| (j, None)).collect())
        .await
        .expect("apply");
    for n in &names {
        m.sync(
            n,
            vec![TargetGroup {
                targets: vec![labels! { "__address__" => format!("127.0.0.1:{port}") }],
                labels: labels! {},
                source: "test".into(),
            }],
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !m
        .pools()
        .flat_map(|p| p.active_targets())
        .all(|t| t.status.health != Health::Unknown)
    {
        assert!(Instant::now() < deadline, "every target scraped once");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let errors: Vec<(String, String)> = m
        .pools()
        .flat_map(|p| p.active_targets())
        .map(|t| (t.scrape_pool, t.status.last_error))
        .collect();
    for (job, err) in &errors {
        let want = if job == "too_many" {
            "histogram bucket limit exceeded"
        } else {
            ""
        };
        assert_eq!(err, want, "{job}");
    }
    assert!(m.metrics().exceeded_native_histogram_bucket_limit >= 1);

    let classic = vec![
        s("lat_bucket{le=+Inf}", false),
        s("lat_count", false),
        s("lat_sum", false),
        s("rpc_bucket{le=+Inf}", false),
        s("rpc_bucket{le=1.0}", false),
        s("rpc_bucket{le=10.0}", false),
        s("rpc_count", false),
        s("rpc_sum", false),
    ];
    assert_eq!(series(&db, "classic"), classic);
    assert_eq!(series(&db, "classic_flag_alone"), classic);
    assert_eq!(series(&db, "native"), vec![s("lat", true), s("rpc", true)]);
    // `lat` has no classic buckets, so nothing classic of it is kept.
    assert_eq!(
        series(&db, "both"),
        vec![
            s("lat", true),
            s("rpc", true),
            s("rpc_bucket{le=+Inf}", false),
            s("rpc_bucket{le=1.0}", false),
            s("rpc_bucket{le=10.0}", false),
            s("rpc_count", false),
            s("rpc_sum", false),
        ]
    );
    assert!(series(&db, "too_many").is_empty());

    let full = last_histogram(&db, "native", "rpc").expect("rpc");
    assert_eq!(full.schema, 3);
    assert_eq!(full.positive_buckets.len(), 6);
    // Three buckets at most: schema 2 has four (0, 1-2, 3-4, 5), schema 1 three
    // (0, 1-4, 5): absolute counts 1, 10, 1.
    let shape = |h: Histogram| {
        let spans: Vec<(i32, u32)> = h
            .positive_spans
            .iter()
            .map(|s| (s.offset, s.length))
            .collect();
        (h.schema, spans, h.positive_buckets, h.count)
    };
    let limited = last_histogram(&db, "limited", "rpc").expect("rpc");
    assert_eq!(shape(limited), (1, vec![(0, 3)], vec![1, 9, -9], 12));
    // Within the limit already: untouched.
    let lat = last_histogram(&db, "limited", "lat").expect("lat");
    assert_eq!(shape(lat), (0, vec![(1, 2)], vec![2, 1], 5));
    // A growth factor of at least 2 is schema 0: indexes 0 | 1..=5 at schema 3.
    let factor = last_histogram(&db, "factor", "rpc").expect("rpc");
    assert_eq!(shape(factor), (0, vec![(0, 2)], vec![1, 10], 12));
    m.stop().await;
}
