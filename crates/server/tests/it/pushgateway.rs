//! `narthex pushgateway`: pushes with curl, the Python `prometheus_client` as a real
//! client, persistence across a restart, and the same pushes to Debian's
//! `prometheus-pushgateway` giving the same series.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use narthex_exposition::{ParseOptions, TextParser, read_families};

use crate::common::binary;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running gateway (ours or the peer), killed on drop.
struct Gateway {
    child: Option<Child>,
    base: String,
}

impl Gateway {
    fn start(program: &str, pre: &[&str], extra: &[String]) -> Gateway {
        let port = free_port();
        let child = Command::new(program)
            .args(pre)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        let g = Gateway {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if g.get("/-/ready").0 == 200 {
                return g;
            }
            assert!(Instant::now() < deadline, "{program} did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn narthex(extra: &[String]) -> Gateway {
        Gateway::start(env!("CARGO_BIN_EXE_narthex"), &["pushgateway"], extra)
    }

    /// `curl` with `args` against `path`: status code and body.
    fn curl(&self, args: &[&str], path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}"])
            .args(args)
            .arg(format!("{}{}", self.base, path))
            .output()
            .expect("curl is installed");
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.curl(&[], path)
    }

    /// Pushes the file `body` with `method`.
    fn push(&self, method: &str, path: &str, body: &Path) -> (u16, String) {
        let data = format!("@{}", body.display());
        self.curl(&["-X", method, "--data-binary", &data], path)
    }

    /// `GET /metrics` asking for delimited protobuf: the content type and the families.
    fn protobuf_metrics(&self) -> (String, Vec<narthex_exposition::MetricFamily>) {
        let out = Command::new("curl")
            .args(["-s", "-D", "/dev/stderr", "-H"])
            .arg(format!("Accept: {}", &PROTOBUF["Content-Type: ".len()..]))
            .arg(format!("{}/metrics", self.base))
            .output()
            .expect("curl is installed");
        let headers = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
        let content_type = headers
            .lines()
            .find_map(|l| l.strip_prefix("content-type:"))
            .unwrap_or("")
            .trim()
            .to_string();
        let families = read_families(narthex_exposition::ProtobufParser::new(
            &out.stdout,
            ParseOptions::default(),
        ))
        .unwrap();
        (content_type, families)
    }

    fn metrics(&self) -> String {
        let (code, body) = self.get("/metrics");
        assert_eq!(code, 200);
        body
    }

    /// SIGTERM, then wait for a clean exit.
    fn terminate(mut self) {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                assert!(s.success(), "exit status {s}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// Series of an exposition as `name{labels} value` lines, without the gateway's own
/// metrics; the values of the push time gauges become `set` or `0`.
fn series(text: &str) -> BTreeSet<String> {
    let families = read_families(TextParser::new(text.as_bytes(), ParseOptions::default()))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    family_series(families)
}

fn family_series(families: Vec<narthex_exposition::MetricFamily>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in families {
        let own = ["go_", "process_", "pushgateway_", "promhttp_"];
        if own.iter().any(|p| f.name.starts_with(p)) {
            continue;
        }
        for s in f.samples {
            let mut labels: Vec<String> = s
                .labels
                .iter()
                .map(|l| format!("{}={:?}", l.name, l.value))
                .collect();
            labels.sort();
            let value = if f.name.starts_with("push_") {
                if s.value == 0.0 { "0" } else { "set" }.to_string()
            } else {
                s.value.to_string()
            };
            out.insert(format!("{}{{{}}} {value}", s.name, labels.join(",")));
        }
    }
    out
}

fn without_push_gauges(text: &str) -> BTreeSet<String> {
    series(text)
        .into_iter()
        .filter(|s| !s.starts_with("push_"))
        .collect()
}

#[test]
fn put_post_delete() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::narthex(&[]);
    let first = write(
        dir.path(),
        "first",
        "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total{kind=\"a\"} 3\nlast_size 10\n",
    );
    let second = write(dir.path(), "second", "last_size 20\n");
    assert_eq!(
        g.push("POST", "/metrics/job/batch/instance/x", &first).0,
        200
    );
    // POST replaces only the pushed family.
    assert_eq!(
        g.push("POST", "/metrics/job/batch/instance/x", &second).0,
        200
    );
    let m = g.metrics();
    assert!(m.contains("# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\n"));
    assert!(m.contains("jobs_total{instance=\"x\",job=\"batch\",kind=\"a\"} 3\n"));
    assert!(
        m.contains("last_size{instance=\"x\",job=\"batch\"} 20\n"),
        "{m}"
    );
    assert!(m.contains("push_time_seconds{instance=\"x\",job=\"batch\"} 1."));
    // PUT replaces the whole group.
    assert_eq!(
        g.push("PUT", "/metrics/job/batch/instance/x", &second).0,
        200
    );
    let m = g.metrics();
    assert!(!m.contains("jobs_total"), "{m}");
    assert!(m.contains("last_size{instance=\"x\",job=\"batch\"} 20\n"));
    // Another group is independent; DELETE removes one group only.
    assert_eq!(g.push("PUT", "/metrics/job/other", &first).0, 200);
    assert_eq!(
        g.curl(&["-X", "DELETE"], "/metrics/job/batch/instance/x").0,
        202
    );
    let m = g.metrics();
    assert!(!m.contains("job=\"batch\""), "{m}");
    assert!(m.contains("jobs_total{instance=\"\",job=\"other\",kind=\"a\"} 3\n"));
    // Bad paths and bodies.
    let (code, msg) = g.push("PUT", "/metrics/job/x/odd", &first);
    assert_eq!(code, 400);
    assert!(msg.contains("odd number of components"), "{msg}");
    let (code, msg) = g.push("PUT", "/metrics/job/x/__bad/1", &first);
    assert_eq!((code, msg.contains("improper label name")), (400, true));
    let garbage = write(dir.path(), "garbage", "broken{\n");
    let (code, msg) = g.push("PUT", "/metrics/job/x", &garbage);
    assert_eq!(code, 400);
    assert!(msg.contains("parsing error"), "{msg}");
    assert!(
        !g.metrics().contains("job=\"x\""),
        "a parse error records nothing"
    );
    let (code, json) = g.get("/api/v1/metrics");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["status"], "success");
    let group = &v["data"][0];
    assert_eq!(group["labels"]["job"], "other");
    assert_eq!(group["jobs_total"]["type"], "COUNTER");
    assert_eq!(group["jobs_total"]["help"], "Jobs run.");
    assert_eq!(group["jobs_total"]["metrics"][0]["value"], "3");
    assert_eq!(group["last_push_successful"], true);
    let (code, status) = g.get("/api/v1/status");
    assert_eq!(code, 200);
    assert!(status.contains("\"web.listen-address\""), "{status}");
    assert_eq!(g.get("/-/healthy"), (200, "OK".to_string()));
}

#[test]
fn base64_grouping_labels() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::narthex(&[]);
    let body = write(dir.path(), "b", "m{path=\"pushed\"} 1\n");
    // path=/var/tmp, empty label e, job "a/b" in base64 (padding optional).
    let (code, msg) = g.push(
        "PUT",
        "/metrics/job@base64/YS9i/path@base64/L3Zhci90bXA=/e@base64/=",
        &body,
    );
    assert_eq!(code, 200, "{msg}");
    let m = g.metrics();
    assert!(
        m.contains("m{e=\"\",instance=\"\",job=\"a/b\",path=\"/var/tmp\"} 1\n"),
        "{m}"
    );
    assert_eq!(
        g.curl(
            &["-X", "DELETE"],
            "/metrics/job@base64/YS9i/path@base64/L3Zhci90bXA/e@base64/="
        )
        .0,
        202
    );
    assert_eq!(g.metrics(), "");
    let (code, msg) = g.push("PUT", "/metrics/job/j/x@base64/not*base64", &body);
    assert_eq!(code, 400);
    assert!(msg.contains("base64"), "{msg}");
}

#[test]
fn inconsistent_pushes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::narthex(&[]);
    let counter = write(dir.path(), "c", "# TYPE m counter\nm{k=\"1\"} 1\n");
    let gauge = write(dir.path(), "g", "# TYPE m gauge\nm{k=\"2\"} 1\n");
    let dup = write(dir.path(), "d", "n 1\nn 2\n");
    let stamped = write(dir.path(), "t", "n 1 1700000000000\n");
    assert_eq!(g.push("PUT", "/metrics/job/a", &counter).0, 200);
    let before = without_push_gauges(&g.metrics());
    for (body, reason) in [
        (&gauge, "COUNTER"),
        (&dup, "collected before with the same name and label values"),
        (&stamped, "must not have timestamps"),
    ] {
        let (code, msg) = g.push("PUT", "/metrics/job/b", body);
        assert_eq!(code, 400);
        assert!(
            msg.starts_with("pushed metrics are invalid or inconsistent with existing metrics")
                && msg.contains(reason),
            "{msg}"
        );
    }
    // A group with the same series as another group's is a duplicate too.
    let same = write(dir.path(), "s", "# TYPE m counter\nm 5\n");
    let (code, msg) = g.push("POST", "/metrics/job/a/k/1", &same);
    assert_eq!(code, 400);
    assert!(msg.contains("collected before"), "{msg}");
    let m = g.metrics();
    assert_eq!(without_push_gauges(&m), before, "nothing changed");
    assert!(
        m.contains("push_time_seconds{instance=\"\",job=\"b\"} 0\n"),
        "{m}"
    );
    assert!(m.contains("push_failure_time_seconds{instance=\"\",job=\"b\"} 1."));
    let v: serde_json::Value = serde_json::from_str(&g.get("/api/v1/metrics").1).unwrap();
    let b = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["labels"] == serde_json::json!({"job": "b"}))
        .expect("group b exists after its failed pushes");
    assert_eq!(b["last_push_successful"], false);
    assert!(b.get("m").is_none(), "{b}");
}

/// `push_failure_time_seconds` of group `job`, as served.
fn failure_time(metrics: &str, job: &str) -> f64 {
    let prefix = format!("push_failure_time_seconds{{instance=\"\",job=\"{job}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no failure time of {job} in\n{metrics}"))
        .parse()
        .unwrap()
}

#[test]
fn persistence_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pushgateway.json");
    let flags = |interval: &str| {
        [
            format!("--persistence.file={}", file.display()),
            format!("--persistence.interval={interval}"),
        ]
    };
    let g = Gateway::narthex(&flags("1h"));
    let body = write(
        dir.path(),
        "b",
        "# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\nodd NaN\n",
    );
    let clash = write(dir.path(), "clash", "# TYPE odd counter\nodd 1\n");
    assert_eq!(g.push("PUT", "/metrics/job/a/instance/i", &body).0, 200);
    assert_eq!(g.push("PUT", "/metrics/job/b", &body).0, 200);
    // A refused push changes only the group's failure time, in memory: the file is not
    // written for it, so only the shutdown write (the interval is an hour) can save it.
    let on_disk = std::fs::read(&file).unwrap();
    assert_eq!(g.push("PUT", "/metrics/job/c", &clash).0, 400);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        on_disk,
        "refusal not written yet"
    );
    let before = g.metrics();
    assert!(failure_time(&before, "c") > 0.0, "{before}");
    g.terminate();
    let g = Gateway::narthex(&flags("1h"));
    assert_eq!(g.metrics(), before, "SIGTERM wrote the failure time");
    drop(g);

    // The same with a short interval and SIGKILL: only the periodic write can have saved
    // the second refusal.
    let g = Gateway::narthex(&flags("100ms"));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(g.push("PUT", "/metrics/job/c", &clash).0, 400);
    let after = g.metrics();
    assert!(failure_time(&after, "c") > failure_time(&before, "c"));
    std::thread::sleep(Duration::from_millis(600));
    drop(g); // SIGKILL
    let g = Gateway::narthex(&flags("100ms"));
    assert_eq!(g.metrics(), after, "the interval wrote the failure time");
    drop(g);

    // Nothing acknowledged is lost: with a long interval, a push or delete that got its
    // answer is on disk before it, so a SIGKILL right after loses nothing.
    let g = Gateway::narthex(&flags("1h"));
    assert_eq!(g.push("PUT", "/metrics/job/d", &body).0, 200);
    assert_eq!(g.curl(&["-X", "DELETE"], "/metrics/job/b").0, 202);
    let acked = g.metrics();
    drop(g); // SIGKILL
    let g = Gateway::narthex(&flags("1h"));
    assert_eq!(g.metrics(), acked);
    assert!(acked.contains("job=\"d\"") && !acked.contains("job=\"b\""));
}

/// Many clients push at once (while the interval task writes too); every push answered
/// 200 is in the file after a SIGKILL, and the file is never torn.
#[test]
fn concurrent_pushes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pushgateway.json");
    let flags = [
        format!("--persistence.file={}", file.display()),
        "--persistence.interval=10ms".to_string(),
    ];
    let g = Gateway::narthex(&flags);
    let body = write(dir.path(), "b", "# TYPE work_done gauge\nwork_done 1\n");
    let acked: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|t| {
                let (g, body) = (&g, &body);
                scope.spawn(move || {
                    (0..8)
                        .filter_map(|n| {
                            let path = format!("/metrics/job/w/thread/{t}/n/{n}");
                            (g.push("PUT", &path, body).0 == 200)
                                .then(|| format!("n=\"{n}\",thread=\"{t}\""))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(acked.len(), 96, "every push answered 200");
    drop(g); // SIGKILL right after the last answer
    let g = Gateway::narthex(&flags);
    let m = g.metrics();
    for labels in &acked {
        let want = format!("work_done{{instance=\"\",job=\"w\",{labels}}} 1\n");
        assert!(m.contains(&want), "lost {want}");
    }
}

fn python_client() -> bool {
    let has = || {
        Command::new("python3")
            .args(["-c", "import prometheus_client"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has() {
        return true;
    }
    let _ = Command::new("pip")
        .args(["install", "--quiet", "prometheus_client"])
        .status();
    if has() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("python3 prometheus_client is not available (CI=true)");
    }
    eprintln!("\n!!! SKIPPED: python3 prometheus_client is not available !!!\n");
    false
}

#[test]
fn python_prometheus_client() {
    if !python_client() {
        return;
    }
    let g = Gateway::narthex(&[]);
    let script = r#"
import sys
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client import push_to_gateway, pushadd_to_gateway, delete_from_gateway
addr = sys.argv[1]
r = CollectorRegistry()
Gauge('batch_last_success', 'Last success.', registry=r).set(1234.5)
c = Counter('batch_records', 'Records processed.', ['table'], registry=r)
c.labels('users').inc(7)
h = Histogram('batch_seconds', 'Duration.', buckets=(0.5, 1.0), registry=r)
h.observe(0.7)
s = Summary('batch_bytes', 'Bytes.', registry=r)
s.observe(100)
push_to_gateway(addr, job='py', registry=r, grouping_key={'instance': 'host/a', 'empty': ''})
r2 = CollectorRegistry()
Gauge('batch_extra', 'Extra.', registry=r2).set(2)
pushadd_to_gateway(addr, job='py', registry=r2, grouping_key={'instance': 'host/a', 'empty': ''})
push_to_gateway(addr, job='gone', registry=r2)
delete_from_gateway(addr, job='gone')
"#;
    let out = Command::new("python3")
        .args(["-c", script, &g.base])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = g.metrics();
    let group = "empty=\"\",instance=\"host/a\",job=\"py\"";
    for want in [
        format!("batch_last_success{{{group}}} 1234.5\n"),
        format!("batch_records_total{{{group},table=\"users\"}} 7\n"),
        format!("batch_seconds_bucket{{{group},le=\"0.5\"}} 0\n"),
        format!("batch_seconds_bucket{{{group},le=\"1\"}} 1\n"),
        format!("batch_seconds_count{{{group}}} 1\n"),
        format!("batch_bytes_sum{{{group}}} 100\n"),
        format!("batch_extra{{{group}}} 2\n"),
    ] {
        assert!(m.contains(&want), "missing {want}in\n{m}");
    }
    assert!(!m.contains("job=\"gone\""), "{m}");
}

/// `/api/v1/metrics` with groups sorted, `time_stamp`s dropped and push time values
/// replaced by whether they are set.
fn api_json(g: &Gateway) -> serde_json::Value {
    let (code, body) = g.get("/api/v1/metrics");
    assert_eq!(code, 200);
    let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let groups = v["data"].as_array_mut().unwrap();
    for group in groups.iter_mut() {
        for (name, family) in group.as_object_mut().unwrap() {
            let Some(f) = family.as_object_mut() else {
                continue;
            };
            f.remove("time_stamp");
            if name.starts_with("push_") {
                for m in f["metrics"].as_array_mut().unwrap() {
                    let set = m["value"] != "0";
                    m["value"] = set.into();
                }
            }
        }
    }
    groups.sort_by_key(|g| g["labels"].to_string());
    v
}

const PROTOBUF: &str = "Content-Type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Delimited protobuf: a gauge, a counter and a summary; with `timestamp`, the gauge
/// carries that timestamp.
fn protobuf_body(timestamp: Option<i64>) -> Vec<u8> {
    use narthex_exposition::protobuf::{encode_delimited, pb};
    let family = |name: &str, t: pb::MetricType, metric: Vec<pb::Metric>| pb::MetricFamily {
        name: Some(name.into()),
        help: Some(format!("{name} from protobuf.")),
        r#type: Some(t as i32),
        metric,
        unit: None,
    };
    let families = [
        family(
            "proto_temperature",
            pb::MetricType::Gauge,
            vec![pb::Metric {
                label: vec![pb::LabelPair::new("room", "a")],
                gauge: Some(pb::Gauge { value: Some(21.5) }),
                timestamp_ms: timestamp,
                ..Default::default()
            }],
        ),
        family(
            "proto_requests_total",
            pb::MetricType::Counter,
            vec![pb::Metric {
                counter: Some(pb::Counter {
                    value: Some(12.0),
                    ..Default::default()
                }),
                ..Default::default()
            }],
        ),
        family(
            "proto_size",
            pb::MetricType::Summary,
            vec![pb::Metric {
                summary: Some(pb::Summary {
                    sample_count: Some(4),
                    sample_sum: Some(10.0),
                    quantile: vec![pb::Quantile {
                        quantile: Some(0.9),
                        value: Some(3.0),
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }],
        ),
    ];
    let mut out = Vec::new();
    encode_delimited(&families, &mut out);
    out
}

#[test]
fn same_series_as_debian_pushgateway() {
    let Some(peer_bin) = binary("prometheus-pushgateway") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let peer_file = format!(
        "--persistence.file={}",
        dir.path().join("peer.db").display()
    );
    let peer = Gateway::start(&peer_bin, &[], &[peer_file]);
    let ours = Gateway::narthex(&[]);
    let bodies = [
        (
            "a",
            "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total{kind=\"x\"} 3\njobs_total{kind=\"y\"} 1e+06\nlast 1.5\n",
        ),
        (
            "h",
            "# TYPE lat histogram\nlat_bucket{le=\"0.25\"} 1\nlat_bucket{le=\"1\"} 2\nlat_bucket{le=\"+Inf\"} 3\nlat_sum 4.5\nlat_count 3\n# TYPE q summary\nq{quantile=\"0.5\"} 2\nq{quantile=\"0.99\"} 9\nq_sum 20\nq_count 5\n",
        ),
        ("g", "# TYPE jobs_total gauge\njobs_total 1\n"),
        ("b", "last{instance=\"pushed\",job=\"overridden\"} 7\n"),
        ("d", "dup 1\ndup 2\n"),
        ("e", ""),
        ("n", "weird{v=\"quote\\\"nl\\n\"} -Inf\n"),
        ("m", "m 1\n"),
        ("lc", "lat_count 3\n"),
        ("qs", "q_sum 1\n"),
        ("qb", "q_bucket 1\n"),
        ("h1", "# HELP helped First.\nhelped 1\n"),
        ("h2", "# HELP helped Second.\nhelped 2\n"),
    ];
    for (name, body) in bodies {
        write(dir.path(), name, body);
    }
    std::fs::write(dir.path().join("p"), protobuf_body(None)).unwrap();
    std::fs::write(
        dir.path().join("pt"),
        protobuf_body(Some(1_700_000_000_000)),
    )
    .unwrap();
    // Method, path, body file, and text both answers must contain.
    let steps = [
        ("PUT", "/metrics/job/one", "a", ""),
        ("POST", "/metrics/job/one/instance/i1", "a", ""),
        ("PUT", "/metrics/job/two/zone@base64/ZXUtd2VzdA", "h", ""),
        ("POST", "/metrics/job/three", "g", "inconsistent"),
        ("PUT", "/metrics/job/four/instance/i4", "b", ""),
        ("PUT", "/metrics/job/five", "d", "collected before"),
        ("PUT", "/metrics/job@base64/c2l4/x@base64/=", "a", ""),
        ("POST", "/metrics/job/two/zone/eu-west", "n", ""),
        ("PUT", "/metrics/job/seven", "a", ""),
        ("PUT", "/metrics/job/one/kind/x", "g", "inconsistent"),
        ("PUT", "/metrics/job/one/kind/z", "a", "collected before"),
        ("DELETE", "/metrics/job/seven", "", ""),
        ("PUT", "/metrics/job/one/instance/i1", "e", ""),
        ("PUT", "/metrics/job/proto/instance/p1", "p", ""),
        ("POST", "/metrics/job/proto/instance/p2", "p", ""),
        ("PUT", "/metrics/job/proto/instance/p3", "pt", "timestamp"),
        // `x_count` / `x_sum` next to a histogram or summary `x` (another group's).
        (
            "PUT",
            "/metrics/job/collide",
            "lc",
            "collides with previously collected",
        ),
        (
            "PUT",
            "/metrics/job/collide",
            "qs",
            "collides with previously collected",
        ),
        ("PUT", "/metrics/job/collide", "qb", ""),
        // Grouping paths as the Pushgateway splits them.
        ("PUT", "/metrics/job/trail/x/", "m", ""),
        (
            "PUT",
            "/metrics/job/trail/x/1/",
            "m",
            "odd number of components",
        ),
        ("PUT", "/metrics/job/spare/x@base64/Zh", "m", ""),
        ("PUT", "/metrics/job/twice/a/1/a/2/job/k", "m", ""),
        ("PUT", "/metrics/job@base64/Zm9v/x/", "m", ""),
        (
            "PUT",
            "/metrics/job/b64/x@base64/Zm9=v",
            "m",
            "invalid base64 encoding for label x=\"Zm9=v\"",
        ),
        ("PUT", "/metrics/job/b64/a-b/1", "m", "improper label name"),
        // Different help texts in two groups are accepted.
        ("PUT", "/metrics/job/help/n/1", "h1", ""),
        ("PUT", "/metrics/job/help/n/2", "h2", ""),
    ];
    for (method, path, body, reason) in steps {
        let (a, b) = if method == "DELETE" {
            (
                peer.curl(&["-X", "DELETE"], path),
                ours.curl(&["-X", "DELETE"], path),
            )
        } else {
            let data = format!("@{}", dir.path().join(body).display());
            let mut args = vec!["-X", method, "--data-binary", &data];
            if body.starts_with('p') {
                args.extend(["-H", PROTOBUF]);
            }
            (peer.curl(&args, path), ours.curl(&args, path))
        };
        assert_eq!(a.0, b.0, "status of {method} {path}: {a:?} {b:?}");
        assert_eq!(reason.is_empty(), a.0 < 300, "{method} {path}: {a:?}");
        assert!(a.1.contains(reason) && b.1.contains(reason), "{a:?} {b:?}");
    }
    let (peer_text, our_text) = (peer.metrics(), ours.metrics());
    // Sample lines byte for byte (label order, escaping, `le` text, Go float text).
    let lines = |t: &str| -> BTreeSet<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("push_"))
            .filter(|l| {
                !["go_", "process_", "pushgateway_", "promhttp_"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(lines(&our_text), lines(&peer_text));
    // HELP and TYPE lines, but for two documented differences: the peer writes
    // `# TYPE x untyped`, we write no TYPE line for untyped families; for a family pushed
    // with different help texts the peer shows an arbitrary group's (it changes from one
    // scrape to the next), we show the first group's by grouping key.
    let headers = |t: &str| -> BTreeSet<String> {
        t.lines()
            .filter(|l| l.starts_with("# ") && !l.ends_with(" untyped"))
            .filter(|l| !l.starts_with("# HELP helped "))
            .filter(|l| {
                let name = l.split(' ').nth(2).unwrap_or("");
                !["go_", "process_", "pushgateway_", "promhttp_"]
                    .iter()
                    .any(|p| name.starts_with(p))
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(headers(&our_text), headers(&peer_text));
    assert!(our_text.contains("# HELP helped First.\n"), "{our_text}");
    assert!(
        peer_text.contains("# HELP helped First.\n")
            || peer_text.contains("# HELP helped Second.\n"),
        "{peer_text}"
    );
    let theirs = series(&peer_text);
    let mine = series(&our_text);
    assert_eq!(
        mine.symmetric_difference(&theirs).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "ours:\n{mine:#?}\npeer:\n{theirs:#?}"
    );
    assert!(mine.len() > 20, "{mine:#?}");
    // The same in protobuf.
    let (peer_type, peer_pb) = peer.protobuf_metrics();
    let (our_type, our_pb) = ours.protobuf_metrics();
    assert!(peer_type.contains("encoding=delimited"), "{peer_type}");
    assert_eq!(our_type, peer_type);
    assert_eq!(family_series(our_pb), family_series(peer_pb));
    // And the JSON API, but for times.
    assert_eq!(api_json(&ours), api_json(&peer));
    if std::env::var_os("NARTHEX_SHOW_SERIES").is_some() {
        eprintln!("{mine:#?}");
    }
}

/// The whole push path: a batch job pushes to `narthex pushgateway`, a `narthex` server
/// scrapes the gateway with `honor_labels: true`, and the pushed series are queryable with
/// the job's own `job` and `instance` labels.
#[test]
fn a_narthex_server_scrapes_the_gateway_with_honor_labels() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::narthex(&[]);
    let body = write(
        dir.path(),
        "push",
        "# TYPE backup_last_success_seconds gauge\nbackup_last_success_seconds 1700000000\n",
    );
    assert_eq!(
        g.push("PUT", "/metrics/job/backup/instance/db1", &body).0,
        200
    );
    let gateway = g.base.trim_start_matches("http://").to_string();
    let port = free_port();
    let config = dir.path().join("narthex.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n      - targets: ['{gateway}']\n"
        ),
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_narthex"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let query = format!("http://127.0.0.1:{port}/api/v1/query?query=backup_last_success_seconds");
    let deadline = Instant::now() + Duration::from_secs(40);
    let answer = loop {
        let out = Command::new("curl").args(["-s", &query]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("\"db1\"") {
            break text;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!("the pushed series never arrived: {text}");
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert!(answer.contains("\"job\":\"backup\""), "{answer}");
    assert!(answer.contains("\"instance\":\"db1\""), "{answer}");
    assert!(answer.contains("\"1700000000\""), "{answer}");
}
