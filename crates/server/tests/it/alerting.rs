//! Rules and alerting end to end: `for` state kept across a restart, the notifier's
//! per-Alertmanager settings and metrics, Alertmanager discovery, the rules API.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{Running, free_port, http, narthex, wait_for};

/// Starts `narthex` on `port` with `dir/narthex.yml` (written from `config`) and its data
/// in `dir/data`, plus `extra` flags; waits until it is ready.
fn start(dir: &Path, port: u16, config: &str, extra: &[&str]) -> Running {
    let file = dir.join("narthex.yml");
    std::fs::write(&file, config).expect("config");
    let server = Running(
        narthex()
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start narthex"),
    );
    wait_for("/-/ready", 30, || {
        http(port, "GET", "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    server
}

/// Stops a server with SIGTERM and waits for it (so its WAL is flushed).
fn stop(mut server: Running) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -TERM");
    let status = server.0.wait().expect("wait");
    assert!(status.success(), "narthex exited with {status}");
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// The `activeAt` (ms) of the alert named `name` in `/api/v1/alerts`.
fn active_at(port: u16, name: &str) -> Option<i64> {
    let (_, body) = http(port, "GET", "/api/v1/alerts")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["alerts"].as_array()?.iter().find_map(|a| {
        (a["labels"]["alertname"] == name)
            .then(|| narthex_http_api::parse_time(a["activeAt"].as_str()?).ok())
            .flatten()
    })
}

#[test]
fn pending_alerts_keep_their_active_time_across_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: slow\n    interval: 1s\n    rules:\n      - alert: SlowBurn\n        expr: vector(1)\n        for: 30m\n",
    )
    .expect("rules");
    let config = "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\n";
    let server = start(dir.path(), port, config, &[]);
    wait_for("the pending alert", 30, || {
        active_at(port, "SlowBurn").is_some()
    });
    let before = active_at(port, "SlowBurn").expect("activeAt");
    // Pending for several evaluations, each writing ALERTS_FOR_STATE.
    wait_for("6s of pending", 30, || now_ms() - before > 6_000);
    stop(server);

    let restarted_at = now_ms();
    let _server = start(dir.path(), port, config, &[]);
    // The first evaluations after the restart start the alert afresh (activeAt at or
    // after the restart); the restore after the second one brings back the old start,
    // shifted by the outage as Prometheus does, so it lies well before the restart.
    wait_for("the restored activeAt", 30, || {
        active_at(port, "SlowBurn").is_some_and(|t| t < restarted_at - 3_000)
    });
    let after = active_at(port, "SlowBurn").expect("activeAt");
    assert!(after >= before, "before {before}, after {after}");
    assert!(
        after - before < now_ms() - restarted_at + 3_000,
        "shifted by more than the outage: before {before}, after {after}"
    );
    // And it stays restored.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(active_at(port, "SlowBurn"), Some(after));
}

/// The value of the sample whose line starts with `prefix` in `/metrics`.
fn metric(port: u16, prefix: &str) -> Option<f64> {
    let (_, body) = http(port, "GET", "/metrics")?;
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A fake Alertmanager answering every request with 200, counting the requests whose
/// body contains `needle`; a thread serving until the test ends.
fn fake_alertmanager(needle: &'static str) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Ok(k) = sock.read(&mut chunk) {
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")?
                                .trim()
                                .parse()
                                .ok()
                        })
                        .unwrap_or(0usize);
                    if body.len() >= len {
                        if body.contains(needle) {
                            seen.lock().expect("lock").push(body.to_string());
                        }
                        break;
                    }
                }
            }
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, bodies)
}

#[test]
fn notifier_honours_each_alertmanager_entry_and_exports_prometheus_metrics() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let (good, bodies) = fake_alertmanager("Loud");
    // Accepts connections (the kernel's backlog) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Loud\n        expr: vector(1)\n      - alert: Hushed\n        expr: vector(1)\n",
    )
    .expect("rules");
    let entries = |with_good: bool| {
        let good_entry = format!(
            "    - static_configs:\n        - targets: ['127.0.0.1:{good}']\n      alert_relabel_configs:\n        - source_labels: [alertname]\n          regex: Hushed\n          action: drop\n        - target_label: routed\n          replacement: good\n"
        );
        let silent_entry = format!(
            "    - timeout: 500ms\n      static_configs:\n        - targets: ['127.0.0.1:{silent_port}']\n"
        );
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n{}{silent_entry}",
            if with_good { good_entry } else { String::new() }
        )
    };
    let _server = start(
        dir.path(),
        port,
        &entries(true),
        &[
            "--rules.alert.resend-delay=1s",
            "--alertmanager.notification-queue-capacity=123",
            "--web.external-url=http://alerts.example:9999/prom/",
            "--web.enable-lifecycle",
        ],
    );
    let good_url = format!("http://127.0.0.1:{good}/api/v2/alerts");
    let silent_url = format!("http://127.0.0.1:{silent_port}/api/v2/alerts");
    let by_am = |name: &str, url: &str| format!("{name}{{alertmanager=\"{url}\"}}");
    wait_for("errors from the silent Alertmanager", 40, || {
        metric(
            port,
            &by_am("prometheus_notifications_errors_total", &silent_url),
        )
        .is_some_and(|v| v >= 1.0)
    });
    // The good entry's relabelling: Hushed dropped, a label added; the generator URL
    // uses --web.external-url.
    let first = bodies.lock().expect("lock")[0].clone();
    assert!(
        !first.contains("Hushed") && first.contains("\"routed\":\"good\""),
        "{first}"
    );
    assert!(
        first.contains("\"generatorURL\":\"http://alerts.example:9999/prom/graph?g0.expr="),
        "{first}"
    );
    assert!(
        metric(
            port,
            &by_am("prometheus_notifications_sent_total", &good_url)
        )
        .is_some_and(|v| v >= 1.0)
    );
    assert_eq!(
        metric(
            port,
            &by_am("prometheus_notifications_errors_total", &good_url)
        ),
        Some(0.0)
    );
    assert!(
        metric(
            port,
            &by_am("prometheus_notifications_sent_total", &silent_url)
        )
        .is_some_and(|v| v >= 2.0)
    );
    // The silent one's requests end at its 500ms timeout, not the 10s default.
    let count = metric(
        port,
        &by_am(
            "prometheus_notifications_latency_seconds_count",
            &silent_url,
        ),
    )
    .expect("count");
    let sum = metric(
        port,
        &by_am("prometheus_notifications_latency_seconds_sum", &silent_url),
    )
    .expect("sum");
    assert!(
        count >= 1.0 && sum / count >= 0.45 && sum / count < 5.0,
        "sum {sum} count {count}"
    );
    assert!(metric(port, &format!("prometheus_notifications_latency_seconds{{alertmanager=\"{good_url}\",quantile=\"0.99\"}}")).is_some());
    assert_eq!(
        metric(port, "prometheus_notifications_queue_capacity "),
        Some(123.0)
    );
    assert_eq!(
        metric(port, "prometheus_notifications_alertmanagers_discovered "),
        Some(2.0)
    );
    assert_eq!(
        metric(port, "prometheus_notifications_dropped_total "),
        Some(0.0),
        "the good one took every batch"
    );
    assert!(metric(port, "prometheus_notifications_queue_length ").is_some());

    // Without the good Alertmanager every batch fails: dropped counts them, and the
    // removed Alertmanager's series go.
    std::fs::write(dir.path().join("narthex.yml"), entries(false)).expect("config");
    let (code, body) = http(port, "POST", "/-/reload").expect("reload");
    assert_eq!(code, 200, "{body}");
    wait_for("dropped alerts", 40, || {
        metric(port, "prometheus_notifications_dropped_total ").is_some_and(|v| v >= 1.0)
    });
    wait_for("one Alertmanager", 20, || {
        metric(port, "prometheus_notifications_alertmanagers_discovered ") == Some(1.0)
    });
    assert_eq!(
        metric(
            port,
            &by_am("prometheus_notifications_sent_total", &good_url)
        ),
        None
    );
    drop(silent);
}
