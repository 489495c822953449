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
