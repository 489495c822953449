//! Rules and alerting end to end: `for` state kept across a restart, the notifier's
//! per-Alertmanager settings and metrics, Alertmanager discovery, the rules API.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{Running, free_port, http, narthex, wait_for};

/// Starts `narthex` on `port` with `dir/narthex.yml` (written from `config`) and its data
/// in `dir/data`, plus `extra` flags; waits until it is ready.
pub(crate) fn start(dir: &Path, port: u16, config: &str, extra: &[&str]) -> Running {
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
    let server = start(dir.path(), port, config, &[]);
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
    stop(server);

    // An outage longer than --rules.alert.for-outage-tolerance: nothing is restored, the
    // alert starts afresh.
    let restarted_at = now_ms();
    let _server = start(
        dir.path(),
        port,
        config,
        &["--rules.alert.for-outage-tolerance=1ms"],
    );
    wait_for("the pending alert", 30, || {
        active_at(port, "SlowBurn").is_some()
    });
    // Past the second evaluation, when the restore would have happened.
    std::thread::sleep(Duration::from_secs(4));
    let fresh = active_at(port, "SlowBurn").expect("activeAt");
    assert!(
        fresh >= restarted_at,
        "restarted at {restarted_at}, activeAt {fresh}"
    );
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
            // Links carry the external URL's path; the routes stay at the root.
            "--web.route-prefix=/",
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

/// The `data.groups` of a `/api/v1/rules` answer (with its query string), or the error
/// answer's status and body.
fn rule_groups(port: u16, query: &str) -> Result<Vec<serde_json::Value>, (u16, String)> {
    let (code, body) =
        http(port, "GET", &format!("/api/v1/rules{query}")).ok_or((0, String::new()))?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|_| (code, body.clone()))?;
    match v["data"]["groups"].as_array() {
        Some(g) if code == 200 => Ok(g.clone()),
        _ => Err((code, body)),
    }
}

/// Group names, and each group's rule names, of a `/api/v1/rules` answer.
fn names(groups: &[serde_json::Value]) -> Vec<(String, Vec<String>)> {
    groups
        .iter()
        .map(|g| {
            let rules = g["rules"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|r| r["name"].as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default();
            (g["name"].as_str().unwrap_or("").to_string(), rules)
        })
        .collect()
}

#[test]
fn rule_file_globs_file_discovered_alertmanagers_and_the_rules_api() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let (am_port, bodies) = fake_alertmanager("Always");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    std::fs::write(
        rules.join("a.yml"),
        "groups:\n  - name: a\n    interval: 1s\n    rules:\n      - record: ok:vector\n        expr: vector(1)\n      - alert: Always\n        expr: vector(1)\n",
    )
    .expect("a.yml");
    // Two series that the rule's label makes identical: the evaluation fails.
    std::fs::write(
        rules.join("b.yml"),
        "groups:\n  - name: b\n    interval: 1s\n    rules:\n      - record: dup\n        expr: label_replace(vector(1), \"x\", \"1\", \"\", \"\") or label_replace(vector(2), \"x\", \"2\", \"\", \"\")\n        labels:\n          x: same\n",
    )
    .expect("b.yml");
    std::fs::write(
        rules.join("ignored.yaml"),
        "groups:\n  - name: ignored\n    rules:\n      - record: nope\n        expr: vector(1)\n",
    )
    .expect("ignored");
    std::fs::write(
        dir.path().join("ams.json"),
        format!("[{{\"targets\": [\"127.0.0.1:{am_port}\"]}}]"),
    )
    .expect("ams.json");
    let config = "global:\n  evaluation_interval: 1s\nrule_files: ['rules/*.yml']\nalerting:\n  alertmanagers:\n    - file_sd_configs:\n        - files: ['ams.json']\n          refresh_interval: 1s\n";
    let _server = start(dir.path(), port, config, &[]);

    // The Alertmanager from the file gets the alert.
    wait_for("the alert at the file-discovered Alertmanager", 40, || {
        !bodies.lock().expect("lock").is_empty()
    });
    let (_, ams) = http(port, "GET", "/api/v1/alertmanagers").expect("alertmanagers");
    assert!(
        ams.contains(&format!("http://127.0.0.1:{am_port}/api/v2/alerts")),
        "{ams}"
    );

    // Both *.yml files, not the .yaml one; the failing rule's error.
    wait_for("the failing rule's error", 30, || {
        rule_groups(port, "").is_ok_and(|g| {
            g.to_vec()
                .iter()
                .any(|g| g["rules"][0]["lastError"].is_string())
        })
    });
    let all = rule_groups(port, "").expect("rules");
    let pair = |g: &str, r: &[&str]| {
        (
            g.to_string(),
            r.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        names(&all),
        vec![pair("a", &["ok:vector", "Always"]), pair("b", &["dup"])]
    );
    let dup = &all[1]["rules"][0];
    assert_eq!(dup["health"], "err", "{dup}");
    assert_eq!(
        dup["lastError"],
        "vector contains metrics with the same labelset after applying rule labels",
        "{dup}"
    );
    assert!(all[0]["rules"][0].get("lastError").is_none(), "{}", all[0]);
    assert!(
        all[0]["rules"][1]["alerts"]
            .as_array()
            .is_some_and(|a| a.len() == 1),
        "{}",
        all[0]
    );

    // Prometheus's filters; groups left without rules are left out.
    let filtered = |q: &str| names(&rule_groups(port, q).expect(q));
    assert_eq!(
        filtered("?type=record"),
        vec![pair("a", &["ok:vector"]), pair("b", &["dup"])]
    );
    assert_eq!(filtered("?type=alert"), vec![pair("a", &["Always"])]);
    assert_eq!(
        filtered("?rule_name%5B%5D=dup&rule_name%5B%5D=Always"),
        vec![pair("a", &["Always"]), pair("b", &["dup"])]
    );
    assert_eq!(filtered("?rule_group%5B%5D=b"), vec![pair("b", &["dup"])]);
    let file_a = all[0]["file"].as_str().expect("file").to_string();
    assert!(file_a.ends_with("rules/a.yml"), "{file_a}");
    assert_eq!(
        filtered(&format!("?file%5B%5D={file_a}")),
        vec![pair("a", &["ok:vector", "Always"])]
    );
    assert_eq!(filtered("?file%5B%5D=nowhere.yml"), vec![]);
    let excluded = rule_groups(port, "?exclude_alerts=true&type=alert").expect("exclude_alerts");
    assert!(
        excluded[0]["rules"][0]["alerts"].is_null(),
        "{}",
        excluded[0]
    );
    let (code, body) = rule_groups(port, "?type=bogus").expect_err("bad type");
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains(r#"invalid parameter \"type\": not supported value \"bogus\""#),
        "{body}"
    );
    let (code, body) = rule_groups(port, "?exclude_alerts=maybe").expect_err("bad bool");
    assert!(code == 400 && body.contains("exclude_alerts"), "{body}");
}

/// `narthex check rules` and Debian's `promtool check rules` (2.42) give the same verdict
/// on the rules crate's valid and invalid files, except for names only Prometheus 3's
/// UTF-8 validation (ours) accepts.
#[test]
fn check_rules_verdicts_match_promtool_except_utf8_names() {
    let Some(promtool) = crate::common::promtool() else {
        return;
    };
    const UTF8_NAMES: [&str; 3] = [
        "bad_annotation_name.yml",
        "bad_label_name.yml",
        "bad_record_name.yml",
    ];
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/tests/data");
    let mut files = Vec::new();
    for sub in ["valid", "invalid"] {
        for e in std::fs::read_dir(data.join(sub)).expect("data dir") {
            files.push(e.expect("entry").path());
        }
    }
    files.sort();
    assert!(files.len() > 30, "{} files", files.len());
    let mut differ = Vec::new();
    for f in &files {
        let ours = narthex()
            .args(["check", "rules"])
            .arg(f)
            .output()
            .expect("narthex");
        let theirs = std::process::Command::new(&promtool)
            .args(["check", "rules"])
            .arg(f)
            .output()
            .expect("promtool");
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let valid = f.parent().is_some_and(|p| p.ends_with("valid"));
        assert_eq!(
            theirs.status.success(),
            valid,
            "promtool on {}",
            f.display()
        );
        if ours.status.success() != theirs.status.success() {
            differ.push(name.to_string());
            // Only ever the legacy-name rejections, which we accept.
            assert!(
                ours.status.success(),
                "{name}: promtool accepts, narthex refuses"
            );
        }
    }
    assert_eq!(differ, UTF8_NAMES, "files whose verdicts differ");
}
