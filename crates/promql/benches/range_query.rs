//! Range-query evaluation shaped like Prometheus's `BenchmarkRangeQuery`: metrics with 1,
//! 100 and 2000 series (`a_N`, `b_N`, and classic histograms `h_N` with 5 buckets), a
//! sample every 10 s for 2 hours, queried over the last hour at a 1-minute step.
//!
//! Run: `cargo bench -p narthex-promql --bench range_query`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use narthex_model::Labels;
use narthex_promql::{Engine, EngineOptions};
use narthex_storage::{Appendable, MemStorage, SeriesRef};

const STEP_MS: i64 = 10_000;
const POINTS: i64 = 720; // 2 hours

fn storage() -> MemStorage {
    let st = MemStorage::new();
    for n in [1usize, 100, 2000] {
        let mut app = st.appender();
        for i in 0..n {
            let l = |name: String| {
                Labels::from_pairs([
                    ("__name__".to_string(), name),
                    ("l".to_string(), i.to_string()),
                ])
            };
            let (a, b) = (l(format!("a_{n}")), l(format!("b_{n}")));
            let buckets: Vec<Labels> = ["0.1", "0.5", "1", "5", "+Inf"]
                .iter()
                .map(|le| {
                    Labels::from_pairs([
                        ("__name__".to_string(), format!("h_{n}_bucket")),
                        ("l".to_string(), i.to_string()),
                        ("le".to_string(), le.to_string()),
                    ])
                })
                .collect();
            for k in 0..POINTS {
                let t = k * STEP_MS;
                app.append(SeriesRef::UNKNOWN, &a, t, (k + i as i64) as f64)
                    .expect("append");
                app.append(SeriesRef::UNKNOWN, &b, t, (2 * k) as f64)
                    .expect("append");
                for (j, bl) in buckets.iter().enumerate() {
                    app.append(SeriesRef::UNKNOWN, bl, t, (k * (j as i64 + 1)) as f64)
                        .expect("append");
                }
            }
        }
        app.commit().expect("commit");
    }
    st
}

fn range_query(c: &mut Criterion) {
    let st = storage();
    let engine = Engine::new(EngineOptions::default());
    let end = (POINTS - 1) * STEP_MS;
    let start = end - 3_600_000;
    let queries = [
        "a_X",
        "rate(a_X[1m])",
        "sum(a_X)",
        "sum by (l)(a_X)",
        "topk(5, a_X)",
        "histogram_quantile(0.9, rate(h_X_bucket[5m]))",
        "a_X - b_X",
        "a_X - on(l) group_left b_X",
        "rate(a_X[1m])[5m:1m]",
        r#"label_replace(a_X, "l2", "$1", "l", "(.*)")"#,
        "sum by (l)(rate(a_X[5m]))",
        "sum(rate(a_X[5m]))",
    ];
    // Memory: the most samples held at once, for the streamed shape and for the same
    // query spelled so that it takes the materialising path.
    for (streamed, materialised) in [
        (
            "sum by (l)(rate(a_2000[5m]))",
            r#"sum by (l)(rate({__name__=~"a_2000"}[5m]))"#,
        ),
        (
            "sum(max_over_time(a_2000[10m]))",
            r#"sum(max_over_time({__name__=~"a_2000"}[10m]))"#,
        ),
        ("sum(a_2000)", r#"sum({__name__=~"a_2000"})"#),
    ] {
        let peak = |q: &str| {
            engine
                .range_query(&st, q, start, end, 60_000)
                .expect("query")
                .stats
                .peak_samples
        };
        println!(
            "peak samples held: {streamed}: {} streamed, {} materialised",
            peak(streamed),
            peak(materialised)
        );
    }
    let mut g = c.benchmark_group("range_query");
    g.sample_size(10);
    for n in [1, 100, 2000] {
        for q in queries {
            let q = q.replace('X', &n.to_string());
            // Subqueries yield range vectors: wrap them for a range query.
            let q = if q.ends_with(":1m]") {
                format!("max_over_time({q})")
            } else {
                q
            };
            g.bench_with_input(BenchmarkId::new(q.clone(), n), &q, |b, q| {
                b.iter(|| {
                    engine
                        .range_query(&st, black_box(q), start, end, 60_000)
                        .expect("query")
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, range_query);
criterion_main!(benches);
