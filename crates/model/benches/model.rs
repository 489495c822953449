//! Hot paths of the data model: matcher evaluation (the fast paths against the `regex`
//! crate on the same anchored pattern), label-set hashing, and float text (ours against
//! `zmij`'s raw shortest digits and `std`'s `Display`, which do less work).
//!
//! Run: `cargo bench -p narthex-model --bench model`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use narthex_model::{Labels, MatchOp, Matcher, float};

fn values() -> Vec<String> {
    (0..1000)
        .map(|i| match i % 4 {
            0 => format!("api-server-{i}"),
            1 => format!("frontend-{i}.example.com"),
            2 => format!("worker-{i}-batch"),
            _ => format!("{i}"),
        })
        .collect()
}

fn matchers(c: &mut Criterion) {
    let values = values();
    let mut g = c.benchmark_group("matcher");
    g.throughput(Throughput::Elements(values.len() as u64));
    for pattern in [
        "api-server-12",
        r"api-server-12|frontend-13\.example\.com|worker-14-batch",
        "api-.*",
        ".*-batch",
        ".*server.*",
        "[0-9]+",
        "(?i)API-SERVER-1.*",
    ] {
        let m = Matcher::new(MatchOp::RegexMatch, "job", pattern).expect("valid");
        let re = regex::Regex::new(&format!("^(?s:{pattern})$")).expect("valid");
        g.bench_with_input(BenchmarkId::new("narthex", pattern), &values, |b, vs| {
            b.iter(|| vs.iter().filter(|v| m.matches(black_box(v))).count())
        });
        g.bench_with_input(
            BenchmarkId::new("regex-crate", pattern),
            &values,
            |b, vs| b.iter(|| vs.iter().filter(|v| re.is_match(black_box(v))).count()),
        );
    }
    g.finish();
}

fn labels(c: &mut Criterion) {
    let l = Labels::from_pairs([
        ("__name__", "http_requests_total"),
        ("code", "200"),
        ("handler", "/api/v1/query"),
        ("instance", "10.0.0.1:9090"),
        ("job", "prometheus"),
        ("method", "get"),
    ]);
    let mut g = c.benchmark_group("labels");
    g.bench_function("hash64", |b| b.iter(|| black_box(&l).hash64()));
    g.bench_function("get", |b| b.iter(|| black_box(&l).get(black_box("job"))));
    g.bench_function("clone", |b| b.iter(|| black_box(&l).clone()));
    g.finish();
}

fn floats(c: &mut Criterion) {
    let xs: Vec<f64> = (0..1000)
        .map(|i| (i as f64) * 1.37e-3 + (i % 7) as f64 * 1e6)
        .collect();
    let mut g = c.benchmark_group("float");
    g.throughput(Throughput::Elements(xs.len() as u64));
    let mut buf = Vec::with_capacity(64 * 1024);
    g.bench_function("narthex/go_g", |b| {
        b.iter(|| {
            buf.clear();
            for x in &xs {
                float::push_go_g(&mut buf, *x);
            }
            buf.len()
        })
    });
    g.bench_function("narthex/api_value", |b| {
        b.iter(|| {
            buf.clear();
            for x in &xs {
                float::push_api_value(&mut buf, *x);
            }
            buf.len()
        })
    });
    g.bench_function("zmij/raw", |b| {
        let mut z = zmij::Buffer::new();
        b.iter(|| xs.iter().map(|x| z.format(*x).len()).sum::<usize>())
    });
    g.bench_function("std/display", |b| {
        b.iter(|| {
            buf.clear();
            for x in &xs {
                use std::io::Write;
                let _ = write!(buf, "{x}");
            }
            buf.len()
        })
    });
    let texts: Vec<String> = xs.iter().map(|x| float::format_go_g(*x)).collect();
    g.bench_function("narthex/parse_go_float", |b| {
        b.iter(|| {
            texts
                .iter()
                .filter_map(|t| float::parse_go_float(t).ok())
                .sum::<f64>()
        })
    });
    g.bench_function("std/parse", |b| {
        b.iter(|| {
            texts
                .iter()
                .filter_map(|t| t.parse::<f64>().ok())
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, matchers, labels, floats);
criterion_main!(benches);
