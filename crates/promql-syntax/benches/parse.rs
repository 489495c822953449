//! Parsing speed: narthex-promql-syntax against the `promql-parser` crate on the same
//! ~50 realistic queries (dashboard panels, alert rules, long binary chains, deep
//! nesting, big regex alternations), in the same run.
//!
//! `cargo bench -p narthex-promql-syntax --bench parse -- --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Builds the query set.
fn queries() -> Vec<String> {
    let mut q: Vec<String> = [
        // Dashboard panels (node exporter, Kubernetes, RED method).
        r#"100 - (avg by (instance) (rate(node_cpu_seconds_total{mode="idle",job="node"}[5m])) * 100)"#,
        r#"sum by (mode) (rate(node_cpu_seconds_total{instance=~"$instance",job="node"}[2m]))"#,
        r#"node_memory_MemTotal_bytes{job="node"} - node_memory_MemAvailable_bytes{job="node"}"#,
        r#"1 - (node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs",mountpoint="/"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs",mountpoint="/"})"#,
        r#"rate(node_network_receive_bytes_total{device!~"lo|veth.*|docker.*|br-.*"}[5m]) * 8"#,
        r#"irate(node_disk_io_time_seconds_total{device=~"(sd|nvme|vd|xvd)[a-z0-9]+"}[1m])"#,
        r#"sum(rate(container_cpu_usage_seconds_total{namespace="production",container!="",pod=~"api-.*"}[5m])) by (pod)"#,
        r#"sum by (namespace, pod) (container_memory_working_set_bytes{container!="",image!=""})"#,
        r#"kube_deployment_status_replicas_available{namespace="default"} / kube_deployment_spec_replicas{namespace="default"}"#,
        r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))"#,
        r#"histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket{job="api"}[5m])))"#,
        r#"histogram_quantile(0.5, sum(rate(grpc_server_handling_seconds_bucket{grpc_type="unary"}[5m])) by (le, grpc_service, grpc_method))"#,
        r#"topk(10, sum by (route) (rate(http_requests_total{job="frontend"}[1h])))"#,
        r#"count by (version) (build_info{job=~"prometheus|alertmanager|node"})"#,
        r#"increase(prometheus_tsdb_head_samples_appended_total[1h])"#,
        r#"sum without (instance, pod) (rate(apiserver_request_total{verb!~"WATCH|CONNECT"}[5m]))"#,
        r#"avg_over_time(up{job="node"}[1d]) * 100"#,
        r#"predict_linear(node_filesystem_free_bytes{mountpoint="/"}[6h], 4 * 3600) < 0"#,
        r#"label_replace(up{job="api"}, "host", "$1", "instance", "([^:]+):.*")"#,
        r#"max_over_time(rate(http_requests_total[5m])[1h:1m])"#,
        r#"quantile_over_time(0.95, http_request_duration_seconds{quantile="0.99"}[10m])"#,
        r#"sum(kube_pod_container_resource_requests{resource="cpu"}) / sum(kube_node_status_allocatable{resource="cpu"})"#,
        r#"rate(process_cpu_seconds_total[5m] offset 1w)"#,
        r#"delta(process_resident_memory_bytes[1h] @ end())"#,
        r#"time() - process_start_time_seconds{job="prometheus"} > 3600"#,
        // Alert rules.
        r#"up{job=~"node|prometheus"} == 0"#,
        r#"absent(up{job="kube-apiserver"} == 1)"#,
        r#"(node_filesystem_avail_bytes{fstype!=""} / node_filesystem_size_bytes{fstype!=""} * 100 < 10 and node_filesystem_readonly{fstype!=""} == 0)"#,
        r#"rate(node_vmstat_pgmajfault[1m]) > 1000"#,
        r#"sum by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Unknown|Failed"}) > 0"#,
        r#"increase(kube_pod_container_status_restarts_total[10m]) > 3"#,
        r#"(sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))) > 0.05 unless on (job) maintenance_mode == 1"#,
        r#"prometheus_rule_group_last_duration_seconds > prometheus_rule_group_interval_seconds"#,
        r#"avg by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[2m])) > bool 0.9"#,
        r#"changes(kube_deployment_status_observed_generation[15m]) > 2"#,
        r#"alertmanager_notifications_failed_total - alertmanager_notifications_failed_total offset 10m > 0"#,
        r#"sum by (cluster, namespace) (rate(container_cpu_cfs_throttled_periods_total[5m])) / sum by (cluster, namespace) (rate(container_cpu_cfs_periods_total[5m])) > 0.25"#,
        r#"kube_job_status_failed{job="kube-state-metrics"} > 0 and on (job_name, namespace) kube_job_owner{owner_kind="CronJob"}"#,
        r#"node_load1 / on (instance) group_left (nodename) count by (instance) (node_cpu_seconds_total{mode="idle"}) > 2"#,
        r#"min_over_time(sum by (le) (rate(x_bucket[5m]))[30m:1m]) < 5"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    // Long binary chains.
    q.push(
        (0..40)
            .map(|i| format!("rate(metric_{i}{{job=\"j{i}\"}}[5m])"))
            .collect::<Vec<_>>()
            .join(" + "),
    );
    q.push(
        (0..30)
            .map(|i| format!("m{i} * {i}.5"))
            .collect::<Vec<_>>()
            .join(" - "),
    );
    q.push(
        (0..20)
            .map(|i| format!("a{i} > on (instance) group_left b{i}"))
            .collect::<Vec<_>>()
            .join(" or "),
    );
    // Deep nesting.
    let mut nested = "x".to_string();
    for i in 0..25 {
        nested = format!("sum by (l{i}) ({nested} + {i})");
    }
    q.push(nested);
    let mut nested = "rate(y[5m])".to_string();
    for _ in 0..30 {
        nested = format!("abs(({nested}))");
    }
    q.push(nested);
    let mut nested = "z".to_string();
    for _ in 0..8 {
        nested = format!("max_over_time(({nested})[10m:1m])");
    }
    q.push(nested);
    // Big regex alternations.
    let alt: Vec<String> = (0..200).map(|i| format!("service-{i:03}")).collect();
    q.push(format!(
        r#"sum by (service) (rate(requests_total{{service=~"{}"}}[5m]))"#,
        alt.join("|")
    ));
    let alt: Vec<String> = (0..100)
        .map(|i| format!("/api/v{}/resource{i}", i % 3))
        .collect();
    q.push(format!(
        r#"count(http_requests_total{{handler!~"{}", code="200"}})"#,
        alt.join("|")
    ));
    let many: Vec<String> = (0..40)
        .map(|i| format!("label_{i}=\"value_{i}\""))
        .collect();
    q.push(format!("metric{{{}}}", many.join(", ")));
    q
}

fn bench(c: &mut Criterion) {
    let queries = queries();
    let opts = narthex_promql_syntax::ParserOptions::default();
    for q in &queries {
        if let Err(e) = narthex_promql_syntax::parse_with(q, &opts) {
            panic!("narthex rejects {q}: {e}");
        }
        if let Err(e) = promql_parser::parser::parse(q) {
            panic!("promql-parser rejects {q}: {e}");
        }
    }
    let bytes: usize = queries.iter().map(String::len).sum();
    println!("{} queries, {bytes} bytes", queries.len());

    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("narthex", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(narthex_promql_syntax::parse_with(black_box(q), &opts).is_ok());
            }
        })
    });
    g.bench_function("promql-parser", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(promql_parser::parser::parse(black_box(q)).is_ok());
            }
        })
    });
    g.finish();

    // Without regex matchers, to see the parser itself (regex compilation dominates the
    // alternation queries for both).
    let plain: Vec<&String> = queries.iter().filter(|q| !q.contains('~')).collect();
    let mut g = c.benchmark_group("parse_no_regex");
    g.throughput(Throughput::Bytes(
        plain.iter().map(|q| q.len()).sum::<usize>() as u64,
    ));
    g.bench_function("narthex", |b| {
        b.iter(|| {
            for q in &plain {
                black_box(narthex_promql_syntax::parse_with(black_box(q), &opts).is_ok());
            }
        })
    });
    g.bench_function("promql-parser", |b| {
        b.iter(|| {
            for q in &plain {
                black_box(promql_parser::parser::parse(black_box(q)).is_ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
