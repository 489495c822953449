//! Prometheus's command line as users write it: feature flags, log settings, block
//! durations and the compatibility flags start the server; the `storage:` section of the
//! configuration reaches the TSDB.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{Running, free_port, http, narthex, wait_for};

/// Starts `narthex` on `port` with a data directory under `dir`, stderr into `log`.
fn start(dir: &Path, port: u16, log: &Path, extra: &[String]) -> Running {
    start_under(dir, port, log, extra, "")
}

/// [`start`] with the server's routes under `prefix` (`/p`, or empty).
fn start_under(dir: &Path, port: u16, log: &Path, extra: &[String], prefix: &str) -> Running {
    let server = Running(
        narthex()
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("start narthex"),
    );
    let ready = format!("{prefix}/-/ready");
    wait_for(&ready, 30, || {
        http(port, "GET", &ready).is_some_and(|(c, _)| c == 200)
    });
    server
}

const SORT_BY_LABEL: &str = "/api/v1/query?query=sort_by_label(vector(1),%22x%22)";

#[test]
fn a_prometheus_command_line_starts_and_answers() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  external_labels:\n    site: a\n").expect("config");
    let log = dir.path().join("stderr");
    let flags: Vec<String> = [
        format!("--config.file={}", config.display()),
        "--enable-feature=promql-experimental-functions,exemplar-storage".into(),
        "--enable-feature=no-such-feature".into(),
        "--enable-feature=auto-reload-config".into(),
        "--config.auto-reload-interval=1s".into(),
        "--log.level=debug".into(),
        "--log.format=json".into(),
        "--storage.tsdb.min-block-duration=2h".into(),
        "--storage.tsdb.max-block-duration=2h".into(),
        "--storage.tsdb.retention.time=1d".into(),
        "--storage.tsdb.wal-compression".into(),
        "--storage.tsdb.no-lockfile".into(),
        "--web.cors.origin=https://grafana\\.example\\.com".into(),
        "--web.page-title=Lab".into(),
        "--web.read-timeout=1m".into(),
        "--web.max-connections=100".into(),
        "--web.console.templates=/etc/prometheus/consoles".into(),
        "--web.console.libraries=/etc/prometheus/console_libraries".into(),
        "--storage.remote.read-sample-limit=1000".into(),
        "--storage.remote.read-concurrent-limit=5".into(),
        "--storage.remote.read-max-bytes-in-frame=65536".into(),
        "--storage.remote.flush-deadline=30s".into(),
        "--rules.max-concurrent-evals=2".into(),
        "--query.max-concurrency=10".into(),
        "--no-scrape.adjust-timestamps".into(),
        "--scrape.timestamp-tolerance=5ms".into(),
    ]
    .into();
    let _server = start(dir.path(), port, &log, &flags);

    // The experimental function parses.
    let (code, body) = http(port, "GET", SORT_BY_LABEL).expect("query");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"status\":\"success\""), "{body}");

    // The flags are listed as given.
    let (_, flags) = http(port, "GET", "/api/v1/status/flags").expect("flags");
    for want in [
        "\"enable-feature\":\"promql-experimental-functions,exemplar-storage,no-such-feature,auto-reload-config\"",
        "\"log.format\":\"json\"",
        "\"storage.tsdb.max-block-duration\":\"2h\"",
        "\"storage.remote.read-sample-limit\":\"1000\"",
        "\"scrape.adjust-timestamps\":\"false\"",
        "\"web.page-title\":\"Lab\"",
    ] {
        assert!(flags.contains(want), "{want} in {flags}");
    }

    // CORS: the configured origin is allowed, another is not.
    let cors = |origin: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            s,
            "GET /api/v1/query?query=1 HTTP/1.0\r\nHost: x\r\nOrigin: {origin}\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out.to_ascii_lowercase()
            .contains("access-control-allow-origin")
    };
    assert!(cors("https://grafana.example.com"));
    assert!(!cors("https://evil.example.com"));

    // auto-reload-config: a changed file is loaded without a signal.
    let (_, rules) = http(port, "GET", "/api/v1/rules").expect("rules");
    assert!(!rules.contains("reloaded"), "{rules}");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: reloaded\n        expr: vector(1)\n",
    )
    .expect("rules");
    std::fs::write(
        &config,
        "global:\n  external_labels:\n    site: b\nrule_files: [rules.yml]\n",
    )
    .expect("config");
    wait_for("the changed config", 30, || {
        http(port, "GET", "/api/v1/rules").is_some_and(|(_, b)| b.contains("reloaded"))
    });

    // JSON logs: every line is an object; the unknown feature is warned about, the
    // flags without effect are named.
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"
            && l["msg"] == "Unknown option for --enable-feature"
            && l["option"] == "no-such-feature"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["flag"] == "web.max-connections" && l["value"] == "100"),
        "{text}"
    );
    assert!(lines.iter().all(|l| l["time"].is_string()), "{text}");
}

#[test]
fn experimental_functions_need_the_feature_and_logs_default_to_text() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let log = dir.path().join("stderr");
    let _server = start(
        dir.path(),
        port,
        &log,
        &["--log.level=warn".into(), "--enable-feature=bogus".into()],
    );
    let (code, body) = http(port, "GET", SORT_BY_LABEL).expect("query");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("bad_data"), "{body}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains("Unknown option for --enable-feature"),
        "{text}"
    );
    assert!(!text.trim_start().starts_with('{'), "{text}");
    assert!(!text.contains("INFO"), "--log.level=warn: {text}");
}

/// Sends one float sample through the remote write receiver; the status code.
fn remote_write(port: u16, name: &str, t: i64, v: f64) -> u16 {
    let req = narthex_remote::WriteRequest {
        timeseries: vec![narthex_remote::TimeSeries {
            labels: narthex_model::labels! { "__name__" => name },
            samples: vec![narthex_model::Sample {
                timestamp: t,
                value: v,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let body = narthex_remote::codec::encode_compressed(&req, narthex_remote::Protocol::V1);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "POST /api/v1/write HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("write");
    s.write_all(&body).expect("body");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status")
}

#[test]
fn the_out_of_order_window_of_the_config_reaches_storage_and_follows_reloads() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "storage:\n  tsdb:\n    out_of_order_time_window: 10m\n",
    )
    .expect("config");
    let log = dir.path().join("stderr");
    let _server = start(
        dir.path(),
        port,
        &log,
        &[
            format!("--config.file={}", config.display()),
            "--web.enable-remote-write-receiver".into(),
            "--web.enable-lifecycle".into(),
        ],
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let count = || {
        let (_, b) = http(
            port,
            "GET",
            "/api/v1/query?query=count_over_time(ooo_test%5B1h%5D)",
        )
        .expect("query");
        b
    };
    assert_eq!(remote_write(port, "ooo_test", now, 1.0), 204);
    assert_eq!(
        remote_write(port, "ooo_test", now - 5 * 60_000, 2.0),
        204,
        "out of order, inside the window: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(count().contains("\"2\""), "{}", count());
    // A reload without the window closes it.
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").expect("config");
    assert_eq!(http(port, "POST", "/-/reload").map(|r| r.0), Some(200));
    assert_ne!(remote_write(port, "ooo_test", now - 3 * 60_000, 3.0), 204);
    assert!(count().contains("\"2\""), "{}", count());
}

/// The status line and headers of a GET, lower-cased.
fn head(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[test]
fn routes_move_under_the_path_of_the_external_url_or_the_route_prefix() {
    for (flags, prefix) in [
        (
            vec!["--web.external-url=http://example.com:9090/narthex/"],
            "/narthex",
        ),
        (
            vec![
                "--web.external-url=http://example.com:9090/narthex/",
                "--web.route-prefix=/inner/",
            ],
            "/inner",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let port = free_port();
        let flags: Vec<String> = flags.into_iter().map(String::from).collect();
        let _server = start_under(dir.path(), port, &dir.path().join("log"), &flags, prefix);
        let (code, body) =
            http(port, "GET", &format!("{prefix}/api/v1/query?query=1%2B1")).expect("query");
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("\"2\""), "{body}");
        for path in [
            "/-/healthy",
            "/metrics",
            "/",
            "/query",
            "/api/v1/status/flags",
        ] {
            let (code, body) = http(port, "GET", &format!("{prefix}{path}")).expect("get");
            assert_eq!(code, 200, "{prefix}{path}: {body}");
        }
        let (_, flags) = http(port, "GET", &format!("{prefix}/api/v1/status/flags")).expect("f");
        assert!(
            flags.contains(&format!("\"web.route-prefix\":\"{prefix}\"")),
            "{flags}"
        );
        assert_eq!(
            http(port, "GET", "/api/v1/query?query=1").map(|r| r.0),
            Some(404)
        );
        assert_eq!(http(port, "GET", "/-/healthy").map(|r| r.0), Some(404));
        let root = head(port, "/");
        assert!(
            root.starts_with("http/1.1 302") || root.starts_with("http/1.0 302"),
            "{root}"
        );
        assert!(root.contains(&format!("location: {prefix}/")), "{root}");
    }
}

#[test]
fn the_agent_serves_under_the_route_prefix_too() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let _agent = Running(
        narthex()
            .arg("--agent")
            .arg(format!(
                "--storage.agent.path={}",
                dir.path().join("agent").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.route-prefix=/agent")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the agent"),
    );
    wait_for("/agent/-/ready", 30, || {
        http(port, "GET", "/agent/-/ready").is_some_and(|(c, _)| c == 200)
    });
    let (code, body) = http(port, "GET", "/agent/api/v1/status/flags").expect("flags");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"web.route-prefix\":\"/agent\""), "{body}");
    assert_eq!(http(port, "GET", "/-/ready").map(|r| r.0), Some(404));
}
