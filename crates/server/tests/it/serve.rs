//! The server end to end: `narthex` started with a configuration scrapes itself and
//! Debian's node exporter, reloads on SIGHUP, stops cleanly on SIGTERM, and keeps what it
//! scraped.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Running, free_port, http, wait_for};
use crate::common::{binary, narthex, stdout};

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn serves_scrapes_reloads_and_stops_cleanly() {
    let Some(node_exporter) = binary("prometheus-node-exporter") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let (port, node_port) = (free_port(), free_port());
    let _node = Running(
        Command::new(node_exporter)
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node exporter"),
    );
    let config = dir.path().join("prometheus.yml");
    let write_config = |jobs: &str| {
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n{jobs}"
            ),
        )
        .expect("config");
    };
    write_config("");
    let data = dir.path().join("data");
    let mut cmd = narthex();
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-lifecycle")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut server = Running(cmd.spawn().expect("start narthex"));
    wait_for("/-/ready", 30, || {
        http(port, "GET", "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    assert_eq!(http(port, "GET", "/-/healthy").map(|(c, _)| c), Some(200));
    // It scrapes itself: its own counter of appended samples grows.
    let appended = || {
        http(port, "GET", "/metrics")
            .and_then(|(_, b)| {
                b.lines()
                    .find(|l| l.starts_with("prometheus_tsdb_head_samples_appended_total"))
                    .and_then(|l| l.rsplit_once(' '))
                    .and_then(|(_, v)| v.parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    };
    wait_for("self-scrapes", 40, || appended() > 30.0);

    // A new job by SIGHUP, and another by POST /-/reload.
    write_config(&format!(
        "  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n"
    ));
    signal(&server.0, "-HUP");
    let node_series = || {
        http(port, "GET", "/metrics")
            .and_then(|(_, b)| {
                b.lines()
                    .find(|l| {
                        l.starts_with("prometheus_sd_discovered_targets{scrape_job=\"node\"}")
                    })
                    .map(|l| l.to_string())
            })
            .is_some()
    };
    wait_for("the node job after SIGHUP", 30, node_series);
    assert_eq!(http(port, "POST", "/-/reload").map(|(c, _)| c), Some(200));
    wait_for("node exporter samples", 40, || appended() > 1000.0);

    // Prometheus's HTTP API, through Debian's promtool as a client.
    if let Some(promtool) = crate::common::promtool() {
        let out = stdout(Command::new(promtool).args([
            "query",
            "instant",
            &format!("http://127.0.0.1:{port}"),
            "up{job=\"node\"}",
        ]));
        assert!(
            out.contains("job=\"node\"") && out.contains("=> 1 @"),
            "{out}"
        );
    }
    // `narthex query` prints what `promtool query` prints, against the same server.
    if let Some(promtool) = crate::common::promtool() {
        let t = format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs()
                - 1
        );
        let t0 = format!("{}", t.parse::<u64>().expect("t") - 5);
        let server = format!("http://127.0.0.1:{port}");
        for args in [
            vec!["query", "instant", "--time", &t, &server, "up"],
            vec![
                "query",
                "instant",
                "--time",
                &t,
                &server,
                "sum by (job) (up)",
            ],
            vec![
                "query", "range", "--start", &t0, "--end", &t, "--step", "1s", &server, "up",
            ],
            vec!["query", "series", "--match", "up", &server],
            vec!["query", "labels", &server, "job"],
        ] {
            let ours = stdout(narthex().args(&args));
            let theirs = stdout(Command::new(&promtool).args(&args));
            let sorted = |s: &str| {
                let mut v: Vec<String> = s.lines().map(str::to_string).collect();
                v.sort();
                v
            };
            assert_eq!(sorted(&ours), sorted(&theirs), "{args:?}");
        }
    }
    let (code, targets) = http(port, "GET", "/api/v1/targets").expect("targets");
    assert_eq!(code, 200, "{targets}");
    assert!(
        targets.contains("\"activeTargets\":[") && targets.contains("\"health\":\"up\""),
        "{targets}"
    );
    assert!(targets.contains("\"scrapePool\":\"node\""), "{targets}");
    let (_, flags) = http(port, "GET", "/api/v1/status/flags").expect("flags");
    assert!(
        flags.contains("\"web.enable-lifecycle\":\"true\""),
        "{flags}"
    );
    let (code, tsdb) = http(port, "GET", "/api/v1/status/tsdb?limit=5").expect("tsdb status");
    assert_eq!(code, 200, "{tsdb}");
    assert!(
        tsdb.contains("\"seriesCountByMetricName\":[") && tsdb.contains("\"numSeries\":"),
        "{tsdb}"
    );
    assert!(
        tsdb.contains("\"name\":\"node_cpu_seconds_total\""),
        "{tsdb}"
    );

    // SIGTERM: a clean stop, and everything scraped is there afterwards.
    signal(&server.0, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = server.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "narthex did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut log = String::new();
    if let Some(mut e) = server.0.stderr.take() {
        let _ = e.read_to_string(&mut log);
    }
    assert!(status.success(), "exit {status:?}\n{log}");
    let dump = stdout(narthex().args(["tsdb", "dump", "--match", "up"]).arg(&data));
    let ups: Vec<&str> = dump.lines().collect();
    assert!(ups.iter().any(|l| l.contains("job=\"self\"")), "{dump}");
    assert!(ups.iter().any(|l| l.contains("job=\"node\"")), "{dump}");
    assert!(
        ups.iter().all(|l| l.contains("} 1 ")),
        "every scrape up: {dump}"
    );
    let node = stdout(
        narthex()
            .args(["tsdb", "dump", "--match", "node_cpu_seconds_total"])
            .arg(&data),
    );
    assert!(node.lines().count() > 10, "node exporter series kept");
}

fn start_narthex(dir: &std::path::Path, port: u16, extra: &[&str]) -> Running {
    let config = dir.join("narthex.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels:\n    site: lab\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .expect("config");
    let mut cmd = narthex();
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Running(cmd.spawn().expect("start narthex"));
    wait_for("/-/ready", 30, || {
        http(port, "GET", "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    server
}

#[test]
fn admin_api_is_off_by_default_and_works_when_enabled() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let server = start_narthex(dir.path(), port, &[]);
    let (code, body) = http(port, "POST", "/api/v1/admin/tsdb/snapshot").expect("snapshot");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("admin APIs disabled"), "{body}");
    drop(server);

    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let _server = start_narthex(dir.path(), port, &["--web.enable-admin-api"]);
    wait_for("a scrape", 30, || {
        http(port, "GET", "/api/v1/query?query=up").is_some_and(|(_, b)| b.contains("\"self\""))
    });
    let (code, body) = http(port, "POST", "/api/v1/admin/tsdb/snapshot").expect("snapshot");
    assert_eq!(code, 200, "{body}");
    let name = body
        .split("\"name\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("name");
    let snap = dir.path().join("data/snapshots").join(name);
    assert!(snap.is_dir(), "{}", snap.display());
    let dump = stdout(narthex().args(["tsdb", "dump", "--match", "up"]).arg(&snap));
    assert!(
        dump.contains("job=\"self\""),
        "the snapshot holds the head: {dump}"
    );
    let (code, body) =
        http(port, "POST", "/api/v1/admin/tsdb/delete_series?match[]=up").expect("delete");
    assert_eq!(code, 204, "{body}");
    let (_, q) = http(
        port,
        "GET",
        "/api/v1/query?query=count_over_time(up%5B1h%5D)%20or%20vector(0)",
    )
    .expect("query");
    assert!(!q.contains("\"job\":\"self\""), "deleted: {q}");
    let (code, _) = http(port, "POST", "/api/v1/admin/tsdb/clean_tombstones").expect("clean");
    assert_eq!(code, 204);
    // The server's own metrics count the API requests just made.
    let (_, metrics) = http(port, "GET", "/metrics").expect("metrics");
    assert!(
        metrics.contains("prometheus_http_requests_total{code=\"200\",handler=\"/api/v1/query\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("prometheus_http_requests_total{code=\"204\",handler=\"/api/v1/admin/tsdb/clean_tombstones\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "prometheus_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"0.1\"}"
        ),
        "{metrics}"
    );
}

#[test]
fn debian_prometheus_federates_from_narthex() {
    let Some(prometheus) = binary("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let _server = start_narthex(dir.path(), port, &[]);
    let (code, body) =
        http(port, "GET", "/federate?match[]=%7Bjob%3D%22self%22%7D").expect("federate");
    assert_eq!(code, 200);
    let pport = free_port();
    let pdir = dir.path().join("prom");
    std::fs::create_dir_all(&pdir).expect("mkdir");
    let cfg = pdir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params:\n      'match[]': ['{{job=\"self\"}}']\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .expect("config");
    let _prom = Running(
        Command::new(prometheus)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                pdir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{pport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );
    wait_for("prometheus to receive federated series", 60, || {
        http(
            pport,
            "GET",
            "/api/v1/query?query=prometheus_tsdb_head_series%7Bjob%3D%22self%22%7D",
        )
        .is_some_and(|(_, b)| b.contains("\"site\":\"lab\"") && b.contains("\"instance\""))
    });
    let _ = body;
}

#[test]
fn rules_record_and_alert_and_show_in_the_api() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: test\n    interval: 1s\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: SelfUp\n        expr: up{job=\"self\"} == 1\n        labels:\n          severity: page\n        annotations:\n          summary: '{{ $labels.instance }} is up with value {{ $value }}'\n",
    )
    .expect("rules");
    let config = dir.path().join("narthex.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .expect("config");
    let _server = spawn_narthex(&[
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ]);
    wait_for("the recording rule's output", 40, || {
        http(port, "GET", "/api/v1/query?query=job:up:sum")
            .is_some_and(|(_, b)| b.contains("\"job\":\"self\"") && b.contains("\"1\"]"))
    });
    wait_for("the alert firing", 30, || {
        http(port, "GET", "/api/v1/alerts").is_some_and(|(_, b)| b.contains("\"state\":\"firing\""))
    });
    let (_, alerts) = http(port, "GET", "/api/v1/alerts").expect("alerts");
    assert!(alerts.contains("\"alertname\":\"SelfUp\""), "{alerts}");
    assert!(
        alerts.contains(&format!("127.0.0.1:{port} is up with value 1")),
        "{alerts}"
    );
    let (_, rules) = http(port, "GET", "/api/v1/rules").expect("rules");
    assert!(
        rules.contains("\"name\":\"test\"") && rules.contains("\"health\":\"ok\""),
        "{rules}"
    );
    let (_, series) = http(port, "GET", "/api/v1/query?query=ALERTS").expect("ALERTS");
    assert!(series.contains("\"alertstate\":\"firing\""), "{series}");
    // The same file passes `narthex check rules`.
    let out = stdout(
        narthex()
            .args(["check", "rules"])
            .arg(dir.path().join("rules.yml")),
    );
    assert!(out.contains("SUCCESS: 2 rules found"), "{out}");
}

#[test]
fn alerts_reach_debian_alertmanager_and_resolve() {
    let Some(alertmanager) = binary("prometheus-alertmanager") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let (port, am_port) = (free_port(), free_port());
    let am_cfg = dir.path().join("am.yml");
    std::fs::write(
        &am_cfg,
        "route:\n  receiver: default\nreceivers:\n  - name: default\n",
    )
    .expect("am config");
    let _am = Running(
        Command::new(alertmanager)
            .arg(format!("--config.file={}", am_cfg.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alertmanager"),
    );
    wait_for("alertmanager", 30, || {
        http(am_port, "GET", "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    // Fires now, resolves by itself 20 seconds later.
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 20;
    std::fs::write(
        dir.path().join("rules.yml"),
        format!(
            "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Shortlived\n        expr: vector(1) and on() (vector(time()) < {until})\n        labels:\n          severity: page\n        annotations:\n          summary: short\n"
        ),
    )
    .expect("rules");
    let config = dir.path().join("narthex.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  evaluation_interval: 1s\n  external_labels:\n    site: lab\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n"
        ),
    )
    .expect("config");
    let _server = spawn_narthex(&[
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ]);
    wait_for("the alert at Alertmanager", 30, || {
        http(am_port, "GET", "/api/v2/alerts").is_some_and(|(_, b)| {
            b.contains("\"alertname\":\"Shortlived\"") && b.contains("\"site\":\"lab\"")
        })
    });
    let (_, ams) = http(port, "GET", "/api/v1/alertmanagers").expect("alertmanagers");
    assert!(
        ams.contains(&format!("http://127.0.0.1:{am_port}/api/v2/alerts")),
        "{ams}"
    );
    // After `until`, the rule resolves the alert and tells Alertmanager, which then no
    // longer lists it as active.
    wait_for("the resolved notification", 60, || {
        http(am_port, "GET", "/api/v2/alerts?active=true")
            .is_some_and(|(c, b)| c == 200 && !b.contains("Shortlived"))
    });
}

#[test]
fn queries_unfinished_by_a_crash_are_reported_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let data = dir.path().join("data");
    let start = |stderr: Stdio| {
        narthex()
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("narthex")
    };
    // A running server keeps its in-flight queries in data/queries.active; kill it while
    // one is in the file (written there as a running query would be).
    let mut first = Running(start(Stdio::null()));
    wait_for("/-/ready", 30, || {
        http(port, "GET", "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    assert_eq!(
        http(port, "GET", "/api/v1/query?query=up").map(|(c, _)| c),
        Some(200)
    );
    let log = data.join("queries.active");
    let text = std::fs::read_to_string(&log).expect("queries.active");
    assert!(
        text.starts_with('[') && !text.contains("\"query\""),
        "finished queries leave no entry"
    );
    signal(&first.0, "-KILL");
    let _ = first.0.wait();
    let mut bytes = std::fs::read(&log).expect("read");
    let entry = br#"{"query":"count(rate(stuck_total[1h]))","timestamp_sec":1700000000},"#;
    bytes[1..1 + entry.len()].copy_from_slice(entry);
    std::fs::write(&log, bytes).expect("write");
    let mut second = Running(start(Stdio::piped()));
    wait_for("/-/ready", 30, || {
        http(port, "GET", "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    signal(&second.0, "-TERM");
    let _ = second.0.wait();
    let mut err = String::new();
    if let Some(mut e) = second.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(err.contains("didn't finish in the last run"), "{err}");
    assert!(err.contains("count(rate(stuck_total[1h]))"), "{err}");
}

#[test]
fn one_narthex_remote_writes_to_another() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (free_port(), free_port());
    // B receives.
    let _b = spawn_narthex(&[
        format!("--storage.tsdb.path={}", dir.path().join("b").display()),
        format!("--web.listen-address=127.0.0.1:{b}"),
        "--web.enable-remote-write-receiver".to_string(),
    ]);
    wait_for("b ready", 30, || {
        http(b, "GET", "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    // A scrapes itself and sends everything to B.
    let config = dir.path().join("a.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels:\n    replica: a\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{a}']\nremote_write:\n  - url: http://127.0.0.1:{b}/api/v1/write\n    queue_config:\n      batch_send_deadline: 200ms\n"
        ),
    )
    .expect("config");
    let _a = spawn_narthex(&[
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.path().join("a").display()),
        format!("--web.listen-address=127.0.0.1:{a}"),
        "--web.enable-lifecycle".to_string(),
    ]);
    wait_for("A's samples at B", 60, || {
        http(b, "GET", "/api/v1/query?query=up%7Bjob%3D%22self%22%7D").is_some_and(|(_, body)| {
            body.contains("\"replica\":\"a\"") && body.contains(&format!("127.0.0.1:{a}"))
        })
    });
    // A counts what it sent under Prometheus's metric names.
    let sent = || -> f64 {
        let (_, metrics) = http(a, "GET", "/metrics").unwrap_or_default();
        metrics
            .lines()
            .find(|l| l.starts_with("prometheus_remote_storage_samples_total{"))
            .and_then(|l| l.rsplit_once(' '))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0.0)
    };
    let before = sent();
    assert!(before > 0.0);
    // A reload with unchanged remote_write settings keeps the queue (and its counters), as
    // Prometheus does; a restarted queue would count from zero.
    assert_eq!(http(a, "POST", "/-/reload").map(|r| r.0), Some(200));
    assert!(sent() >= before, "the queue was restarted by the reload");
    // Without the flag, B would refuse: A's own receiver is off.
    let (code, _) = http(a, "POST", "/api/v1/write").expect("write");
    assert_eq!(code, 404, "the receiver is off by default");
}

/// Starts `narthex` with these arguments (`--flag=value` strings), output discarded.
fn spawn_narthex(args: &[String]) -> Running {
    Running(
        narthex()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start narthex"),
    )
}

/// The series of a query answer as `labels -> value`, from Prometheus's JSON (vector).
fn vector(body: &str) -> std::collections::BTreeMap<String, f64> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["metric"].to_string(),
                s["value"][1]
                    .as_str()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// Differential test: `narthex` and Debian's `prometheus` scrape the same node exporter
/// (and each other) with the same configuration; the same series appear in both, and a
/// set of queries agrees (label sets exactly, values within the skew of their scrapes).
#[test]
fn narthex_and_prometheus_agree_on_the_same_targets() {
    let (Some(prometheus), Some(node_exporter)) =
        (binary("prometheus"), binary("prometheus-node-exporter"))
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let (np, pp, ne) = (free_port(), free_port(), free_port());
    let _node = Running(
        Command::new(node_exporter)
            .arg(format!("--web.listen-address=127.0.0.1:{ne}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node exporter"),
    );
    let config = dir.path().join("same.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{ne}']\n  - job_name: peers\n    static_configs:\n      - targets: ['127.0.0.1:{np}', '127.0.0.1:{pp}']\n"
        ),
    )
    .expect("config");
    let _narthex = spawn_narthex(&[
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.path().join("n").display()),
        format!("--web.listen-address=127.0.0.1:{np}"),
    ]);
    let _prom = Running(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("p").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{pp}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );
    let both_up = |port: u16| {
        vector(
            &http(port, "GET", "/api/v1/query?query=up")
                .map(|(_, b)| b)
                .unwrap_or_default(),
        )
        .values()
        .filter(|v| **v == 1.0)
        .count()
            == 3
    };
    wait_for("both servers scraping all three targets", 60, || {
        both_up(np) && both_up(pp)
    });
    // Enough scrapes in both for ten-second rates.
    std::thread::sleep(Duration::from_secs(12));
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 2;
    let ask = |port: u16, q: &str| {
        let encoded: String = q
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let path = format!("/api/v1/query?time={t}&query={encoded}");
        let (code, body) = http(port, "GET", &path).expect("query");
        assert_eq!(code, 200, "{q}: {body}");
        vector(&body)
    };
    // The same metric names from the node exporter in both.
    let names = |port: u16| -> std::collections::BTreeSet<String> {
        ask(port, "count by (__name__) ({job=\"node\"})")
            .keys()
            .cloned()
            .collect()
    };
    let (n, p) = (names(np), names(pp));
    let missing: Vec<_> = p.difference(&n).collect();
    let extra: Vec<_> = n.difference(&p).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert!(n.len() > 100, "{} node exporter metrics", n.len());
    // Label sets equal exactly. Values too where they do not depend on when each server
    // scraped (rates do: the two scrape at different moments, and Narthex follows
    // Prometheus 3.x's left-open ranges while Debian ships 2.42).
    for (q, values) in [
        ("up", true),
        ("sum by (job) (up)", true),
        ("count by (job) ({__name__=~\".+\"})", false),
        ("rate(node_cpu_seconds_total[10s]) >= 0", false),
        ("sum by (mode) (rate(node_cpu_seconds_total[10s]))", false),
        ("topk(3, node_filesystem_size_bytes)", true),
        (
            "node_memory_MemTotal_bytes - node_memory_MemTotal_bytes",
            true,
        ),
        (
            "label_replace(up, \"port\", \"$1\", \"instance\", \".*:(.*)\")",
            true,
        ),
        ("count_values(\"v\", node_memory_MemTotal_bytes)", true),
        (
            "node_memory_MemTotal_bytes / on(instance) group_left() node_memory_MemTotal_bytes",
            true,
        ),
    ] {
        let (a, b) = (ask(np, q), ask(pp, q));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "label sets of {q}"
        );
        if values {
            for (k, x) in &a {
                let y = b[k];
                assert!(
                    x == &y || (x.is_nan() && y.is_nan()),
                    "{q} {k}: narthex {x}, prometheus {y}"
                );
            }
        }
    }
}
