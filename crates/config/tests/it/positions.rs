//! Error positions: line and column point at the offending key (or value), and the file
//! is named when the configuration came from one.

use narthex_config::{Config, ErrorKind};

/// (yaml, line, column, message fragment, kind)
const CASES: &[(&str, u32, u32, &str, ErrorKind)] = &[
    (
        "scrape_configs:\n  - job_name: a\n    scrape_intervall: 1m\n",
        3,
        5,
        "field scrape_intervall not found in type config.ScrapeConfig",
        ErrorKind::Schema,
    ),
    (
        "scrape_config: []\n",
        1,
        1,
        "field scrape_config not found in type config.plain",
        ErrorKind::Schema,
    ),
    (
        "global:\n  foo: 1\n",
        2,
        3,
        "field foo not found in type config.plain",
        ErrorKind::Schema,
    ),
    (
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: []\n        label: {}\n",
        5,
        9,
        "field label not found in type struct",
        ErrorKind::Schema,
    ),
    (
        "remote_write:\n  - url: http://x\n    queue_config:\n      max_shard: 1\n",
        4,
        7,
        "field max_shard not found in type config.QueueConfig",
        ErrorKind::Schema,
    ),
    (
        "global:\n  scrape_interval: 1.5m\n",
        2,
        3,
        "in duration \"1.5m\"",
        ErrorKind::Schema,
    ),
    (
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
        4,
        5,
        "scrape timeout greater than scrape interval for scrape config with job name \"a\"",
        ErrorKind::Invalid,
    ),
    (
        "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
        3,
        3,
        "global scrape timeout greater than scrape interval",
        ErrorKind::Invalid,
    ),
    (
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n",
        4,
        5,
        "found multiple scrape configs with job name \"a\"",
        ErrorKind::Invalid,
    ),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [x]\n        action: keepit\n",
        5,
        9,
        "unknown relabel action \"keepit\"",
        ErrorKind::Schema,
    ),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: hashmod, source_labels: [x], target_label: y}\n",
        4,
        9,
        "relabel configuration for hashmod requires non-zero modulus",
        ErrorKind::Invalid,
    ),
    (
        "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - names: [x]\n        type: A\n",
        5,
        9,
        "a port is required in DNS-SD configs for all record types except SRV",
        ErrorKind::Invalid,
    ),
    (
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    bearer_token: t\n",
        3,
        5,
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ErrorKind::Invalid,
    ),
    (
        "global:\n  scrape_interval: 1m\n  scrape_interval: 2m\n",
        3,
        3,
        "field scrape_interval already set",
        ErrorKind::Schema,
    ),
    (
        "scrape_configs:\n  - job_name: [a\n",
        2,
        15,
        "",
        ErrorKind::Syntax,
    ),
];

#[test]
fn errors_point_at_the_offending_key() {
    let mut problems = Vec::new();
    for &(yaml, line, column, fragment, kind) in CASES {
        match Config::from_str(yaml, ".") {
            Ok(_) => problems.push(format!("{yaml:?}: loaded")),
            Err(e) => {
                if (e.line(), e.column()) != (Some(line), Some(column))
                    || !e.message.contains(fragment)
                    || e.kind != kind
                {
                    problems.push(format!(
                        "{yaml:?}:\n  want {line}:{column} {kind:?} {fragment:?}\n  got  {:?}:{:?} {:?} {:?}",
                        e.line(),
                        e.column(),
                        e.kind,
                        e.message
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn unknown_keys_everywhere_are_errors() {
    let blocks = [
        "global: {nope: 1}",
        "alerting: {nope: 1}",
        "alerting: {alertmanagers: [{nope: 1}]}",
        "remote_write: [{url: 'http://x', nope: 1}]",
        "remote_read: [{url: 'http://x', nope: 1}]",
        "scrape_configs: [{job_name: a, tls_config: {nope: 1}}]",
        "scrape_configs: [{job_name: a, basic_auth: {nope: 1}}]",
        "scrape_configs: [{job_name: a, authorization: {nope: 1}}]",
        "scrape_configs: [{job_name: a, oauth2: {nope: 1}}]",
        "scrape_configs: [{job_name: a, file_sd_configs: [{nope: 1}]}]",
        "scrape_configs: [{job_name: a, dns_sd_configs: [{nope: 1}]}]",
        "scrape_configs: [{job_name: a, http_sd_configs: [{nope: 1}]}]",
        "scrape_configs: [{job_name: a, relabel_configs: [{nope: 1}]}]",
        "storage: {nope: 1}",
        "tracing: {nope: 1}",
        "otlp: {nope: 1}",
        "runtime: {nope: 1}",
    ];
    for b in blocks {
        let e = Config::from_str(b, ".").expect_err(b);
        assert!(
            e.message.starts_with("field nope not found in type"),
            "{b}: {e}"
        );
        assert_eq!(e.line(), Some(1), "{b}: {e}");
        assert_eq!(e.kind, ErrorKind::Schema);
    }
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("prometheus.yml");
    std::fs::write(&main, "scrape_configs:\n  - job_name: a\n    nope: 1\n").unwrap();
    let e = Config::load(&main).unwrap_err();
    assert_eq!(e.file.as_deref(), Some(main.as_path()));
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:5: field nope not found in type config.ScrapeConfig",
            main.display()
        )
    );

    // An error inside a scrape_config_files file names that file.
    std::fs::create_dir(dir.path().join("jobs")).unwrap();
    let job = dir.path().join("jobs/x.yml");
    std::fs::write(
        &job,
        "scrape_configs:\n  - job_name: b\n    scrape_interval: 1x\n",
    )
    .unwrap();
    std::fs::write(&main, "scrape_config_files: [jobs/*.yml]\n").unwrap();
    let e = Config::load(&main).unwrap_err();
    assert!(e.file.as_ref().unwrap().ends_with("jobs/x.yml"), "{e}");
    assert_eq!((e.line(), e.column()), (Some(3), Some(5)));

    let e = Config::load(dir.path().join("missing.yml")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
}
