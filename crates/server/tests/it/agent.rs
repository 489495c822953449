//! Agent mode end to end: `narthex --agent` scrapes itself into a WAL-only data directory
//! and remote-writes to Debian's VictoriaMetrics; the query API answers with Prometheus's
//! agent error; a restart after a kill resumes from the sender's position without losing
//! or resending everything; the WAL is truncated without dropping what was not sent.
//! Flags and configuration of the wrong mode are refused with Prometheus's messages and
//! exit statuses.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use narthex_tsdb::record::{self, Record};
use narthex_tsdb::wlog::RecordReader;

use crate::common::{Running, free_port, http, wait_for};
use crate::common::{binary, narthex};

fn metric(port: u16, prefix: &str) -> f64 {
    http(port, "GET", "/metrics")
        .and_then(|(_, body)| {
            body.lines()
                .find(|l| l.starts_with(prefix))
                .and_then(|l| l.rsplit_once(' '))
                .and_then(|(_, v)| v.parse().ok())
        })
        .unwrap_or(0.0)
}

/// Debian's VictoriaMetrics on a free port with its own data directory.
struct Victoria {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Running>,
}

impl Victoria {
    fn start(bin: &str, dir: &Path, port: u16) -> Victoria {
        let child = Command::new(bin)
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", dir.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start victoria-metrics");
        let v = Victoria {
            port,
            dir: dir.to_path_buf(),
            child: Some(Running(child)),
        };
        wait_for("victoria-metrics /health", 30, || {
            http(port, "GET", "/health").is_some_and(|(c, _)| c == 200)
        });
        v
    }

    /// Stops it cleanly (SIGTERM flushes what it acknowledged; a kill could lose it).
    fn stop(&mut self) {
        if let Some(mut r) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &r.0.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while r.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = r.0.kill();
            let _ = r.0.wait();
        }
    }

    /// Timestamps VictoriaMetrics holds for the series matching `selector`.
    fn timestamps(&self, selector: &str) -> BTreeSet<i64> {
        let _ = http(self.port, "GET", "/internal/force_flush");
        let q: String = form_urlencoded(selector);
        let Some((200, body)) = http(
            self.port,
            "GET",
            &format!("/api/v1/export?match[]={q}&start=0"),
        ) else {
            return BTreeSet::new();
        };
        let mut out = BTreeSet::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("export line");
            for t in v["timestamps"].as_array().into_iter().flatten() {
                out.insert(t.as_i64().expect("timestamp"));
            }
        }
        out
    }
}

fn form_urlencoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every float sample in an agent WAL (checkpoint and segments) of the series whose
/// `__name__` is `name`, as timestamps, and the total number of samples.
fn wal_timestamps(wal: &Path, name: &str) -> (BTreeSet<i64>, usize) {
    let mut wanted: HashMap<u64, bool> = HashMap::new();
    let mut out = BTreeSet::new();
    let mut total = 0;
    let mut dirs = Vec::new();
    if let Some((cp, _)) = narthex_tsdb::checkpoint::last_checkpoint(wal).expect("checkpoint") {
        dirs.push(cp);
    }
    dirs.push(wal.to_path_buf());
    for d in dirs {
        let mut r = RecordReader::open(&d).expect("wal");
        while let Some(Ok(rec)) = r.next_record() {
            match record::decode(rec) {
                Ok(Record::Series(v)) => {
                    for s in v {
                        wanted.insert(s.r, s.labels.metric_name() == Some(name));
                    }
                }
                Ok(Record::Samples(v)) => {
                    total += v.len();
                    for s in v {
                        if wanted.get(&s.r).copied().unwrap_or(false) {
                            out.insert(s.t);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    (out, total)
}

fn write_config(dir: &Path, port: u16, vm: u16) -> std::path::PathBuf {
    let config = dir.join("agent.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels:\n    agent: a1\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: http://127.0.0.1:{vm}/api/v1/write\n    queue_config:\n      batch_send_deadline: 200ms\n      min_backoff: 100ms\n      max_backoff: 500ms\n"
        ),
    )
    .expect("config");
    config
}

fn start_agent(config: &Path, data: &Path, port: u16, extra: &[&str]) -> Running {
    let child = narthex()
        .arg("--agent")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.agent.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-lifecycle")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start narthex --agent");
    let r = Running(child);
    wait_for("agent /-/ready", 30, || {
        http(port, "GET", "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    r
}

#[test]
fn agent_remote_writes_to_victoria_metrics_and_resumes_after_a_kill() {
    let Some(vm_bin) = binary("victoria-metrics") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let (port, vm_port) = (free_port(), free_port());
    let mut vm = Victoria::start(&vm_bin, &dir.path().join("vm"), vm_port);
    let config = write_config(dir.path(), port, vm_port);
    let data = dir.path().join("agent");
    let wal = data.join("wal");
    // Small segments and a fast truncation, so segments are checkpointed while it runs.
    let extra = [
        "--storage.agent.wal-segment-size=32KB",
        "--storage.agent.wal-truncate-frequency=3s",
    ];
    let mut agent = start_agent(&config, &data, port, &extra);
    let up = r#"up{job="self",agent="a1"}"#;

    // 1. Samples arrive in VictoriaMetrics with the external label.
    wait_for("10 scrapes of up in VictoriaMetrics", 60, || {
        vm.timestamps(up).len() >= 10
    });
    let (code, body) = http(
        vm_port,
        "GET",
        "/api/v1/series?match[]=%7Bjob%3D%22self%22%7D",
    )
    .expect("series");
    assert_eq!(code, 200);
    assert!(body.contains("prometheus_agent_active_series"), "{body}");
    assert!(body.contains(&format!("127.0.0.1:{port}")), "{body}");

    // 2. What an agent serves and refuses.
    for path in [
        "/api/v1/query?query=up",
        "/api/v1/query_range?query=up&start=0&end=1&step=1",
        "/api/v1/series?match[]=up",
        "/api/v1/labels",
        "/api/v1/label/job/values",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/api/v1/status/tsdb",
    ] {
        let (code, body) = http(port, "GET", path).expect("query");
        assert_eq!(code, 422, "{path}");
        assert_eq!(
            body,
            r#"{"status":"error","errorType":"execution","error":"unavailable with Prometheus Agent"}"#,
            "{path}"
        );
    }
    let (code, body) = http(port, "GET", "/api/v1/targets").expect("targets");
    assert_eq!(code, 200);
    assert!(body.contains(r#""health":"up""#), "{body}");
    assert!(body.contains(r#""scrapePool":"self""#), "{body}");
    let (code, body) = http(port, "GET", "/api/v1/status/flags").expect("flags");
    assert_eq!(code, 200);
    assert!(body.contains(r#""agent":"true""#), "{body}");
    assert!(!body.contains("storage.tsdb.path"), "{body}");
    let (code, body) = http(port, "GET", "/api/v1/status/config").expect("config");
    assert_eq!(code, 200);
    assert!(body.contains("remote_write"), "{body}");
    for p in ["/-/healthy", "/-/ready", "/api/v1/status/buildinfo"] {
        assert_eq!(http(port, "GET", p).map(|r| r.0), Some(200), "{p}");
    }
    assert!(metric(port, "prometheus_agent_active_series ") > 10.0);
    assert!(
        metric(
            port,
            "prometheus_agent_samples_appended_total{type=\"float\"}"
        ) > 100.0
    );
    let sent = metric(port, "prometheus_remote_storage_samples_total{");
    assert!(sent > 100.0);
    // A reload with the same remote_write settings keeps the queue (and its counters).
    assert_eq!(http(port, "POST", "/-/reload").map(|r| r.0), Some(200));
    assert!(metric(port, "prometheus_remote_storage_samples_total{") >= sent);

    // 3. Only a WAL on disk: no blocks, no head chunks.
    let mut entries: Vec<String> = std::fs::read_dir(&data)
        .expect("data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["lock", "wal"]);

    // 4. The WAL is truncated as it runs (checkpoint, old segments gone) while every
    //    sample still reaches VictoriaMetrics.
    wait_for("a WAL checkpoint", 60, || {
        metric(port, "prometheus_agent_checkpoint_creations_total ") >= 1.0
            && narthex_tsdb::checkpoint::last_checkpoint(&wal)
                .ok()
                .flatten()
                .is_some()
    });
    assert!(metric(port, "prometheus_agent_truncate_duration_seconds_count ") >= 1.0);
    let first = *narthex_tsdb::wlog::segments(&wal)
        .expect("segments")
        .first()
        .expect("a segment");
    assert!(first > 0, "old segments deleted");

    // 5. VictoriaMetrics goes away: the agent keeps scraping into its WAL. Then the agent
    //    is killed (no clean stop) with samples not yet delivered.
    let delivered = *vm.timestamps(up).last().expect("delivered");
    vm.stop();
    wait_for("4 more scrapes while the receiver is down", 30, || {
        wal_timestamps(&wal, "up")
            .0
            .iter()
            .filter(|t| **t > delivered + 1000)
            .count()
            >= 4
    });
    drop(agent);
    let (in_wal, total_in_wal) = wal_timestamps(&wal, "up");
    assert!(in_wal.len() >= 14, "{in_wal:?}");

    // 6. Both come back: the backlog arrives (nothing lost), and the agent does not
    //    resend everything its WAL holds.
    vm = Victoria::start(&vm_bin, &vm.dir.clone(), vm_port);
    agent = start_agent(&config, &data, port, &extra);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = vm.timestamps(up);
        let missing: Vec<i64> = in_wal.difference(&got).copied().collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "samples lost: {missing:?} of {in_wal:?}; VictoriaMetrics has {got:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let resent = metric(port, "prometheus_remote_storage_samples_total{");
    assert!(
        resent < total_in_wal as f64,
        "sent {resent} after the restart, the WAL held {total_in_wal}"
    );
    let got = vm.timestamps(up);
    let last_before = *in_wal.last().expect("a sample");
    wait_for("new scrapes after the restart", 30, || {
        vm.timestamps(up).iter().any(|t| *t > last_before + 1000)
    });
    assert!(got.len() >= in_wal.len());

    // 7. SIGHUP reloads the configuration: a second job appears.
    let yaml = std::fs::read_to_string(&config).expect("config");
    let second = format!(
        "  - job_name: again\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:"
    );
    std::fs::write(&config, yaml.replacen("remote_write:", &second, 1)).expect("config");
    let ok = Command::new("kill")
        .args(["-HUP", &agent.0.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
    wait_for("the reloaded job", 30, || {
        http(port, "GET", "/api/v1/targets")
            .is_some_and(|(_, b)| b.contains(r#""scrapePool":"again""#))
    });
    drop(agent);
}

#[test]
fn mode_specific_flags_are_refused_with_prometheus_messages() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = narthex()
        .args(["--agent", "--storage.tsdb.path=."])
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        r#"The following flag(s) can not be used in agent mode: ["--storage.tsdb.path"]"#
    );
    let out = narthex()
        .arg(format!(
            "--storage.agent.path={}",
            dir.path().join("x").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        r#"The following flag(s) can only be used in agent mode: ["--storage.agent.path"]"#
    );
    assert!(!dir.path().join("x").exists());
}

#[test]
fn agent_refuses_rules_alerting_and_remote_read_in_its_config() {
    let dir = tempfile::tempdir().expect("tmp");
    for (field, yaml) in [
        ("rule_files", "rule_files: ['rules.yml']\n"),
        (
            "alerting",
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:9093']\n",
        ),
        (
            "remote_read",
            "remote_read:\n  - url: http://127.0.0.1:9/api/v1/read\n",
        ),
    ] {
        let config = dir.path().join(format!("{field}.yml"));
        std::fs::write(&config, yaml).expect("config");
        let data = dir.path().join(field);
        let out = narthex()
            .arg("--agent")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.agent.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{field}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("field {field} is not allowed in agent mode")),
            "{field}: {err}"
        );
        assert!(!data.exists(), "{field}: nothing opened");
    }
    // The same configuration is fine for the server's checker.
    let out = narthex()
        .args(["check", "config"])
        .arg(dir.path().join("remote_read.yml"))
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
}
