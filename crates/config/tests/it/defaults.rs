//! Defaults: what an omitted key means, and how scrape configs inherit from `global`.

use std::path::Path;

use narthex_config::*;

fn load(yaml: &str) -> Config {
    Config::from_str(yaml, "/etc/prometheus").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

#[test]
fn empty_config_has_prometheus_defaults() {
    for yaml in ["", "global:\n", "# only a comment\n", "{}\n"] {
        let c = load(yaml);
        assert_eq!(c.global.scrape_interval, 60_000, "{yaml:?}");
        assert_eq!(c.global.scrape_timeout, 10_000);
        assert_eq!(c.global.evaluation_interval, 60_000);
        assert_eq!(c.global.rule_query_offset, 0);
        assert_eq!(c.global.scrape_protocols, None);
        assert!(c.global.external_labels.is_empty());
        assert_eq!(c.global.limits, ScrapeLimits::default());
        assert_eq!(
            c.global.metric_name_validation_scheme,
            narthex_model::NameValidation::Utf8
        );
        assert!(c.scrape_configs.is_empty());
        assert_eq!(c.storage, StorageConfig::default());
        assert_eq!(c.otlp, OtlpConfig::default());
        assert_eq!(c.tracing, None);
        assert_eq!(
            Config {
                base_dir: ".".into(),
                ..c
            },
            Config::default()
        );
    }
}

/// (global block, job block, interval, timeout) in ms.
const INHERIT: &[(&str, &str, i64, i64)] = &[
    ("", "", 60_000, 10_000),
    ("scrape_interval: 15s", "", 15_000, 10_000),
    ("scrape_interval: 5s", "", 5_000, 5_000), // global timeout capped at the interval
    (
        "scrape_interval: 30s\n  scrape_timeout: 20s",
        "",
        30_000,
        20_000,
    ),
    (
        "scrape_interval: 30s\n  scrape_timeout: 20s",
        "scrape_interval: 10s",
        10_000,
        10_000,
    ),
    ("", "scrape_interval: 2s", 2_000, 2_000),
    ("", "scrape_timeout: 30s", 60_000, 30_000),
    (
        "",
        "scrape_interval: 1m\n    scrape_timeout: 1m",
        60_000,
        60_000,
    ),
    ("scrape_interval: 0s", "", 60_000, 10_000), // zero means default
];

#[test]
fn scrape_configs_inherit_intervals() {
    for &(global, job, interval, timeout) in INHERIT {
        let yaml = format!("global:\n  {global}\nscrape_configs:\n  - job_name: j\n    {job}\n");
        let c = load(&yaml);
        let s = &c.scrape_configs[0];
        assert_eq!(
            (s.scrape_interval, s.scrape_timeout),
            (interval, timeout),
            "{yaml}"
        );
    }
}

#[test]
fn empty_scrape_config_defaults() {
    let c = load("scrape_configs:\n  - job_name: j\n");
    let s = &c.scrape_configs[0];
    assert_eq!(s.job_name, "j");
    assert_eq!(s.metrics_path, "/metrics");
    assert_eq!(s.scheme, "http");
    assert!(!s.honor_labels);
    assert!(s.honor_timestamps);
    assert!(!s.track_timestamps_staleness);
    assert!(s.enable_compression);
    assert_eq!(s.scrape_protocols, ScrapeProtocol::DEFAULT.to_vec());
    assert_eq!(s.fallback_scrape_protocol, None);
    assert_eq!(s.limits, ScrapeLimits::default());
    assert_eq!(s.metric_name_escaping_scheme, "allow-utf-8");
    assert!(s.http_client.follow_redirects);
    assert!(s.http_client.enable_http2);
    assert_eq!(s.http_client.basic_auth, None);
    assert_eq!(s.http_client.authorization, None);
    assert_eq!(s.http_client.tls_config, TlsConfig::default());
    assert_eq!(s.service_discovery, ServiceDiscoveryConfigs::default());
    assert!(s.relabel_configs.is_empty());
    assert_eq!(s.source_file, None);
}

#[test]
fn limits_and_protocols_inherit() {
    let c = load(
        "global:
  sample_limit: 100
  body_size_limit: 1MB
  label_limit: 7
  keep_dropped_targets: 3
  scrape_protocols: [PrometheusText0.0.4]
  extra_scrape_metrics: true
scrape_configs:
  - job_name: a
  - job_name: b
    sample_limit: 5
    scrape_protocols: [PrometheusProto]
  - job_name: c
    sample_limit: 0
",
    );
    let [a, b, c] = &c.scrape_configs[..] else {
        panic!()
    };
    assert_eq!(a.limits.sample_limit, 100);
    assert_eq!(a.limits.body_size_limit, 1 << 20);
    assert_eq!(a.limits.label_limit, 7);
    assert_eq!(a.limits.keep_dropped_targets, 3);
    assert_eq!(
        a.scrape_protocols,
        vec![ScrapeProtocol::PrometheusText0_0_4]
    );
    assert!(a.extra_scrape_metrics);
    assert_eq!(b.limits.sample_limit, 5);
    assert_eq!(b.limits.label_limit, 7);
    assert_eq!(b.scrape_protocols, vec![ScrapeProtocol::PrometheusProto]);
    assert_eq!(
        c.limits.sample_limit, 100,
        "0 means inherit, as in Prometheus"
    );
}

#[test]
fn native_histograms_prefer_protobuf() {
    let c = load("scrape_configs:\n  - job_name: a\n    scrape_native_histograms: true\n");
    assert_eq!(
        c.scrape_configs[0].scrape_protocols,
        ScrapeProtocol::PROTO_FIRST.to_vec()
    );
}

#[test]
fn discovery_defaults() {
    let c = load(
        "scrape_configs:
  - job_name: a
    file_sd_configs: [{files: [t.json]}]
    dns_sd_configs: [{names: [_x._tcp.example.com]}]
    http_sd_configs: [{url: http://sd/}]
    static_configs: [{targets: ['h:1'], labels: {env: prod}}]
    consul_sd_configs: [{server: 'localhost:8500'}]
",
    );
    let sd = &c.scrape_configs[0].service_discovery;
    assert_eq!(sd.file_sd_configs[0].refresh_interval, 300_000);
    assert_eq!(
        sd.file_sd_configs[0].files,
        vec!["/etc/prometheus/t.json".to_string()]
    );
    assert_eq!(sd.dns_sd_configs[0].refresh_interval, 30_000);
    assert_eq!(sd.dns_sd_configs[0].record_type, DnsRecordType::Srv);
    assert_eq!(sd.dns_sd_configs[0].port, 0);
    assert_eq!(sd.http_sd_configs[0].refresh_interval, 60_000);
    assert!(sd.http_sd_configs[0].http_client.follow_redirects);
    assert_eq!(sd.static_configs[0].targets, vec!["h:1".to_string()]);
    assert_eq!(sd.static_configs[0].labels["env"], "prod");
    assert_eq!(sd.untyped, vec!["consul_sd_configs".to_string()]);
}

#[test]
fn remote_and_alerting_defaults() {
    let c = load(
        "remote_write: [{url: 'http://w/'}]
remote_read: [{url: 'http://r/'}]
alerting:
  alertmanagers: [{static_configs: [{targets: ['am:9093']}]}]
",
    );
    let w = &c.remote_write[0];
    assert_eq!(w.remote_timeout, 30_000);
    assert_eq!(w.queue_config, QueueConfig::default());
    assert_eq!(w.queue_config.capacity, 10_000);
    assert_eq!(w.queue_config.max_shards, 50);
    assert_eq!(w.queue_config.min_backoff, 30);
    assert_eq!(w.metadata_config, MetadataConfig::default());
    assert!(w.metadata_config.send);
    assert_eq!(w.protobuf_message, ProtobufMessage::V1);
    assert!(w.http_client.follow_redirects);
    assert!(
        !w.http_client.enable_http2,
        "remote write defaults to HTTP/1.1"
    );
    let r = &c.remote_read[0];
    assert_eq!(r.remote_timeout, 60_000);
    assert!(r.filter_external_labels);
    assert_eq!(r.chunked_read_limit, 50_000_000);
    assert!(!r.read_recent);
    let am = &c.alerting.alertmanagers[0];
    assert_eq!(am.timeout, 10_000);
    assert_eq!(am.scheme, "http");
    assert_eq!(am.api_version, "v2");
    assert_eq!(am.path_prefix, "");
}

#[test]
fn bearer_token_becomes_authorization() {
    let c = load("scrape_configs:\n  - job_name: a\n    bearer_token_file: tok\n");
    let a = c.scrape_configs[0]
        .http_client
        .authorization
        .clone()
        .unwrap();
    assert_eq!(a.kind, "Bearer");
    assert_eq!(
        a.credentials_file.as_deref(),
        Some(Path::new("/etc/prometheus/tok"))
    );
    let c = load("scrape_configs:\n  - job_name: a\n    authorization: {credentials: x}\n");
    let a = c.scrape_configs[0]
        .http_client
        .authorization
        .clone()
        .unwrap();
    assert_eq!(a.kind, "Bearer");
    assert_eq!(a.credentials, Some(Secret("x".into())));
    assert_eq!(format!("{:?}", a.credentials), "Some(<secret>)");
}

#[test]
fn relative_paths_join_the_config_directory() {
    let c = load(
        "global:
  query_log_file: q.log
rule_files: ['rules/*.yml', /abs/r.yml, ../up.yml]
scrape_configs:
  - job_name: a
    basic_auth: {username: u, password_file: ./pw}
    tls_config: {ca_file: ca.pem, cert_file: /abs/c.pem, key_file: k.pem}
    file_sd_configs: [{files: ['sd/*.json']}]
",
    );
    assert_eq!(
        c.global.query_log_file.as_deref(),
        Some(Path::new("/etc/prometheus/q.log"))
    );
    assert_eq!(
        c.rule_files,
        ["/etc/prometheus/rules/*.yml", "/abs/r.yml", "/etc/up.yml"]
    );
    let h = &c.scrape_configs[0].http_client;
    let pw = h.basic_auth.as_ref().unwrap().password_file.as_deref();
    assert_eq!(pw, Some(Path::new("/etc/prometheus/pw")));
    assert_eq!(
        h.tls_config.ca_file.as_deref(),
        Some(Path::new("/etc/prometheus/ca.pem"))
    );
    assert_eq!(
        h.tls_config.cert_file.as_deref(),
        Some(Path::new("/abs/c.pem"))
    );
    let sd = &c.scrape_configs[0].service_discovery.file_sd_configs[0];
    assert_eq!(sd.files, ["/etc/prometheus/sd/*.json"]);
}

#[test]
fn scrape_config_files_are_merged() {
    let path = crate::data_dir().join("v3/ok_scrape_config_files.yml");
    let c = Config::load(&path).unwrap();
    let jobs: Vec<&str> = c
        .scrape_configs
        .iter()
        .map(|s| s.job_name.as_str())
        .collect();
    assert_eq!(jobs, ["main", "from_file"]);
    let f = &c.scrape_configs[1];
    assert_eq!(f.scrape_interval, 120_000);
    assert_eq!(f.scrape_timeout, 10_000);
    let src = f.source_file.as_ref().unwrap();
    assert!(src.ends_with("scrape.d/jobs.yml"), "{}", src.display());
    // Relative to the file that names it, not the main file.
    let pw = f
        .http_client
        .basic_auth
        .as_ref()
        .unwrap()
        .password_file
        .clone()
        .unwrap();
    assert!(pw.ends_with("scrape.d/pw"), "{}", pw.display());
    assert_eq!(
        c.scrape_configs_by_file()
            .filter(|(_, f)| f.is_none())
            .count(),
        1
    );
}

#[test]
fn external_labels() {
    let c = load(
        "global:\n  external_labels:\n    b: '2'\n    a: x$$y\n    c: ${NARTHEX_SURELY_UNSET_VAR}z\n",
    );
    assert_eq!(
        c.global.external_labels.to_string(),
        r#"{a="x$y", b="2", c="z"}"#
    );
}

#[test]
fn relabel_configs_are_model_rules() {
    let c = load(
        "scrape_configs:
  - job_name: a
    relabel_configs:
      - {source_labels: [a, b], separator: '-', regex: '(.+)', target_label: c, replacement: 'x$1'}
      - {action: HashMod, source_labels: [a], modulus: 8, target_label: h}
",
    );
    let r = &c.scrape_configs[0].relabel_configs;
    assert_eq!(r[0].source_labels, ["a", "b"]);
    assert_eq!(r[0].separator, "-");
    assert_eq!(r[0].regex.as_str(), "(.+)");
    assert_eq!(r[1].action, narthex_model::relabel::Action::HashMod);
    assert_eq!(r[1].modulus, 8);
    let labels = narthex_model::Labels::from_pairs([("a", "1"), ("b", "2")]);
    let out = narthex_model::relabel::process(&labels, &r[..1]).unwrap();
    assert_eq!(out.get("c"), Some("x1-2"));
}

#[test]
fn durations_and_sizes() {
    let c = load(
        "global:\n  scrape_interval: 1h30m\n  evaluation_interval: 1y\nstorage:\n  tsdb:\n    out_of_order_time_window: 2h\n    retention: {time: 15d, size: 1GB}\n",
    );
    assert_eq!(c.global.scrape_interval, 5_400_000);
    assert_eq!(c.global.evaluation_interval, 365 * 86_400_000);
    assert_eq!(c.storage.out_of_order_time_window, 7_200_000);
    assert_eq!(c.storage.retention_time, Some(15 * 86_400_000));
    assert_eq!(c.storage.retention_size, Some(1 << 30));
    assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
}
