//! The server's own metrics: after it has scraped itself, evaluated rules and answered a
//! query, `/metrics` carries Prometheus's self-monitoring metrics with sensible values, and
//! covers the names Debian's Prometheus exposes about its engine, TSDB, scraping and rules.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Running, free_port, wait_for};
use crate::common::{binary, narthex};

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// The value of the sample line starting with `series ` (exact series text).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Metric names (from `# TYPE` lines) with one of the given prefixes.
fn names(text: &str, prefixes: &[&str]) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| prefixes.iter().any(|p| n.starts_with(p)))
        .map(String::from)
        .collect()
}

const PREFIXES: [&str; 5] = [
    "prometheus_engine_",
    "prometheus_tsdb_",
    "prometheus_target_",
    "prometheus_rule_",
    "prometheus_config_",
];

#[test]
fn self_metrics_cover_prometheus_names_with_live_values() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n",
    )
    .expect("rules");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nrule_files: ['{}']\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            rules.display()
        ),
    )
    .expect("config");
    let _server = Running(
        narthex()
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start narthex"),
    );
    let metrics = || get(port, "/metrics").unwrap_or_default();
    wait_for("three self-scrapes and a rule evaluation", 30, || {
        let m = metrics();
        value(&m, "prometheus_tsdb_head_series_created_total").is_some_and(|v| v > 0.0)
            && value(
                &m,
                "prometheus_target_interval_length_seconds_count{interval=\"1s\"}",
            )
            .is_some_and(|v| v >= 2.0)
            && value(
                &m,
                &format!(
                    "prometheus_rule_group_iterations_total{{rule_group=\"{};g\"}}",
                    rules.display()
                ),
            )
            .is_some_and(|v| v >= 1.0)
    });
    assert!(get(port, "/api/v1/query?query=up").is_some_and(|b| b.contains("success")));
    let m = metrics();
    let v = |series: &str| value(&m, series).unwrap_or_else(|| panic!("no {series} in\n{m}"));

    assert!(v("prometheus_engine_query_duration_seconds_count{slice=\"inner_eval\"}") >= 1.0);
    assert!(v("prometheus_engine_query_duration_seconds_sum{slice=\"inner_eval\"}") > 0.0);
    assert!(v("prometheus_engine_query_samples_total") >= 1.0);
    assert_eq!(v("prometheus_engine_queries_concurrent_max"), 20.0);
    assert_eq!(v("prometheus_engine_queries"), 0.0);
    let median = v("prometheus_target_interval_length_seconds{interval=\"1s\",quantile=\"0.5\"}");
    assert!((0.5..2.0).contains(&median), "median interval {median}");
    assert_eq!(v("prometheus_config_last_reload_successful"), 1.0);
    assert!(v("prometheus_config_last_reload_success_timestamp_seconds") > 1.6e9);
    assert_eq!(v("prometheus_ready"), 1.0);
    assert!(v("prometheus_tsdb_head_chunks") >= 1.0);
    assert!(v("prometheus_tsdb_wal_page_flushes_total") >= 1.0);
    assert_eq!(
        v("prometheus_tsdb_out_of_order_samples_total{type=\"float\"}"),
        0.0
    );
    assert_eq!(v("prometheus_target_scrape_pools_total"), 1.0);
    let group = format!("{{rule_group=\"{};g\"}}", rules.display());
    assert_eq!(v(&format!("prometheus_rule_group_rules{group}")), 1.0);
    assert_eq!(
        v(&format!("prometheus_rule_group_interval_seconds{group}")),
        1.0
    );
    assert_eq!(
        v(&format!("prometheus_rule_evaluation_failures_total{group}")),
        0.0
    );
    assert!(v(&format!("prometheus_rule_evaluations_total{group}")) >= 1.0);
    assert!(v("process_open_fds") > 3.0);
    // The protobuf format, when asked for, carries the same families.
    let proto = {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(
            s,
            "GET /metrics HTTP/1.0\r\nAccept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited\r\n\r\n"
        )
        .expect("request");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("response");
        out
    };
    let split = proto
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let head = String::from_utf8_lossy(&proto[..split]).to_ascii_lowercase();
    assert!(head.contains("application/vnd.google.protobuf"), "{head}");
    let fams =
        narthex_exposition::protobuf::decode_delimited(&proto[split + 4..]).expect("decodes");
    let head_series = fams
        .iter()
        .find(|f| f.name.as_deref() == Some("prometheus_tsdb_head_series"))
        .expect("head series family");
    assert!(
        head_series.metric[0]
            .gauge
            .and_then(|g| g.value)
            .unwrap_or(0.0)
            > 0.0
    );
    assert!(
        fams.iter()
            .any(|f| f.name.as_deref() == Some("prometheus_engine_query_duration_seconds"))
    );
    assert!(v("process_max_fds") > v("process_open_fds"));

    // Beside Debian's Prometheus with the same rules and self-scrape: the names it
    // exposes for its engine, TSDB, scraping, rules and configuration.
    let Some(prometheus) = binary("prometheus") else {
        return;
    };
    let pport = free_port();
    let pconfig = dir.path().join("prom.yml");
    std::fs::write(
        &pconfig,
        format!(
            "global:\n  scrape_interval: 1s\nrule_files: ['{}']\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{pport}']\n",
            rules.display()
        ),
    )
    .expect("config");
    let _prom = Running(
        Command::new(prometheus)
            .arg(format!("--config.file={}", pconfig.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{pport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    wait_for("Prometheus's metrics", 30, || {
        get(pport, "/metrics").is_some_and(|b| {
            b.contains("prometheus_rule_group_rules")
                && b.contains("prometheus_target_interval_length_seconds{")
        })
    });
    let theirs = names(&get(pport, "/metrics").unwrap_or_default(), &PREFIXES);
    let ours = names(&m, &PREFIXES);
    let missing: Vec<&String> = theirs.difference(&ours).collect();
    println!(
        "self-metrics vs prometheus: {}/{} of Prometheus's engine/tsdb/target/rule/config names; missing: {missing:?}",
        theirs.len() - missing.len(),
        theirs.len()
    );
    // The names Prometheus's own dashboards chart must all be there.
    for name in [
        "prometheus_engine_query_duration_seconds",
        "prometheus_target_interval_length_seconds",
        "prometheus_tsdb_head_series",
        "prometheus_tsdb_head_chunks",
        "prometheus_tsdb_head_samples_appended_total",
        "prometheus_tsdb_compactions_total",
        "prometheus_tsdb_wal_fsync_duration_seconds",
        "prometheus_rule_group_last_duration_seconds",
        "prometheus_rule_group_iterations_missed_total",
        "prometheus_config_last_reload_successful",
    ] {
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert!(
            ours.contains(name) || ours.contains(family),
            "{name} missing"
        );
        assert!(
            theirs.contains(name) || theirs.contains(family),
            "Prometheus has no {name}?"
        );
    }
}
