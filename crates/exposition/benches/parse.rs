//! Parser throughput: Narthex's text and OpenMetrics parsers against the Rust peers
//! `prometheus-parse` and `openmetrics-parser` on the same inputs, in the same run.
//!
//! Inputs: Prometheus's `alltypes.237mfs.prom.txt` (from the conformance corpus) and a
//! generated body shaped like kube-state-metrics output (many labels per series), of
//! `NARTHEX_BENCH_LINES` sample lines (default 1,000,000).
//!
//! Run: `cargo bench -p narthex-exposition --bench parse` (about 15 minutes; set
//! `NARTHEX_BENCH_LINES=100000` for a quick run).

use std::hint::black_box;
use std::io;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use narthex_exposition::{
    Entry, OpenMetricsParser, ParseOptions, Parser, TextParser, build_labels,
};
use narthex_model::LabelsBuilder;

/// A kube-state-metrics-like exposition: families of pod and container series with 6-9
/// labels each, HELP and TYPE lines, integer and float values.
fn ksm_body(lines: usize) -> String {
    let families = [
        ("kube_pod_container_status_restarts_total", "counter", true),
        ("kube_pod_container_resource_requests", "gauge", true),
        ("kube_pod_status_phase", "gauge", false),
        ("kube_pod_info", "gauge", false),
        ("kube_pod_container_status_running", "gauge", true),
    ];
    let per_family = lines.div_ceil(families.len());
    let mut out = String::with_capacity(lines * 220);
    for (name, kind, container) in families {
        out.push_str(&format!(
            "# HELP {name} Generated family {name}.\n# TYPE {name} {kind}\n"
        ));
        for i in 0..per_family {
            let ns = i % 97;
            let pod = i / 3;
            out.push_str(&format!(
                "{name}{{namespace=\"namespace-{ns}\",pod=\"app-{pod:06}-7d9f8b6c5d-x{:04x}\",uid=\"{:08x}-1f2e-4d3c-8b7a-{:012x}\"",
                pod % 65521,
                pod.wrapping_mul(2654435761) as u32,
                pod as u64 * 7919
            ));
            if container {
                out.push_str(&format!(",container=\"container-{}\"", i % 3));
            }
            out.push_str(&format!(
                ",node=\"node-{:03}\",created_by_kind=\"ReplicaSet\",created_by_name=\"app-{pod:06}-7d9f8b6c5d\"}} {}\n",
                pod % 311,
                if i % 4 == 0 { format!("{}.5", i % 1000) } else { (i % 7).to_string() }
            ));
        }
    }
    out
}

fn narthex_stream(input: &[u8], options: ParseOptions) -> usize {
    let mut p = TextParser::new(input, options);
    let mut n = 0;
    while let Some(e) = p.next_entry() {
        if let Ok(Entry::Sample(s)) = e {
            // Touch every label so none of the split-out work can be skipped.
            n += s
                .labels
                .iter()
                .map(|l| l.name.len() + l.value.len())
                .sum::<usize>();
            n += s.value as usize & 1;
        }
    }
    n
}

fn narthex_owned(input: &[u8]) -> usize {
    let mut p = TextParser::new(input, ParseOptions::default());
    let mut b = LabelsBuilder::new();
    let mut n = 0;
    while let Some(e) = p.next_entry() {
        if let Ok(Entry::Sample(s)) = e {
            n += build_labels(&mut b, &s.name, s.labels).len();
        }
    }
    n
}

fn openmetrics_input(text: &str) -> String {
    format!("{text}# EOF\n")
}

fn bench_input(c: &mut Criterion, label: &str, text: &str, sample_size: usize) {
    let mut g = c.benchmark_group(format!("parse/{label}"));
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(sample_size);
    g.measurement_time(Duration::from_secs(if sample_size <= 10 { 20 } else { 5 }));
    let bytes = text.as_bytes();
    let unchecked = ParseOptions {
        family_checks: false,
        ..ParseOptions::default()
    };
    g.bench_function(BenchmarkId::new("narthex-text", "stream"), |b| {
        b.iter(|| narthex_stream(black_box(bytes), unchecked))
    });
    g.bench_function(BenchmarkId::new("narthex-text", "stream+checks"), |b| {
        b.iter(|| narthex_stream(black_box(bytes), ParseOptions::default()))
    });
    g.bench_function(BenchmarkId::new("narthex-text", "owned-labels"), |b| {
        b.iter(|| narthex_owned(black_box(bytes)))
    });
    let om = openmetrics_input(text);
    let om_options = ParseOptions {
        family_checks: false,
        ..ParseOptions::default()
    };
    g.bench_function(BenchmarkId::new("narthex-openmetrics", "stream"), |b| {
        b.iter(|| {
            let mut p = OpenMetricsParser::new(black_box(om.as_bytes()), om_options);
            let mut n = 0usize;
            while let Some(e) = p.next_entry() {
                if let Ok(Entry::Sample(s)) = e {
                    n += s.labels.len();
                }
            }
            n
        })
    });
    g.bench_function(BenchmarkId::new("prometheus-parse", "owned"), |b| {
        b.iter(|| {
            let lines = black_box(text)
                .lines()
                .map(|l| Ok::<_, io::Error>(l.to_string()));
            prometheus_parse::Scrape::parse(lines)
                .map(|s| s.samples.len())
                .unwrap_or(0)
        })
    });
    // openmetrics-parser slows down superlinearly (1.4 MB/s at 100,000 lines, one
    // iteration of 1,000,000 lines takes minutes), so it runs on the smaller inputs only.
    if text.len() <= 32 << 20 {
        g.bench_function(BenchmarkId::new("openmetrics-parser", "owned"), |b| {
            b.iter(|| {
                openmetrics_parser::prometheus::parse_prometheus(black_box(text))
                    .map(|e| e.families.len())
                    .unwrap_or(0)
            })
        });
    }
    g.finish();
}

fn parse(c: &mut Criterion) {
    let corpus = std::env::var("NARTHEX_CONFORMANCE_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/conformance").to_string()
    });
    match std::fs::read_to_string(format!(
        "{corpus}/exposition/textparse/alltypes.237mfs.prom.txt"
    )) {
        Ok(text) => bench_input(c, "alltypes-237mfs", &text, 50),
        Err(e) => eprintln!("SKIPPED alltypes input: {e}"),
    }
    let lines = std::env::var("NARTHEX_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if lines > 100_000 {
        // A smaller body too, so the slowest peer has a figure on this shape.
        bench_input(c, "ksm-100000-lines", &ksm_body(100_000), 10);
    }
    bench_input(c, &format!("ksm-{lines}-lines"), &ksm_body(lines), 10);
}

criterion_group!(benches, parse);
criterion_main!(benches);
