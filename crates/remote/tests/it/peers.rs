//! Real receivers from Debian: VictoriaMetrics (`/usr/bin/victoria-metrics`) and Prometheus
//! (`/usr/bin/prometheus --web.enable-remote-write-receiver`) receive what our
//! `QueueManager` ships from a TSDB's WAL; each is killed for a while mid-stream and
//! restarted, and every sample must arrive. Without the binaries these tests print a loud
//! SKIPPED line (and fail under `CI=true`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use narthex_model::labels;
use narthex_remote::{QueueConfig, QueueManager, RemoteWriteOptions};
use narthex_storage::{Appendable, SeriesRef};
use narthex_tsdb::Db;

use crate::common::{free_port, now_ms, open_db, peer_missing, wait_for};

struct Peer {
    kind: Kind,
    port: u16,
    data: tempfile::TempDir,
    child: Option<Child>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Victoria,
    Prometheus,
}

const VM: &str = "/usr/bin/victoria-metrics";
const PROM: &str = "/usr/bin/prometheus";

impl Peer {
    fn new_with_config(kind: Kind, extra_config: &str) -> Peer {
        let p = Peer::new(kind);
        std::fs::write(p.data.path().join("extra.yml"), extra_config).expect("config");
        p
    }

    fn new(kind: Kind) -> Peer {
        Peer {
            kind,
            port: free_port(),
            data: tempfile::tempdir().expect("tmp"),
            child: None,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        let d = self.data.path();
        let mut cmd = match self.kind {
            Kind::Victoria => {
                let mut c = Command::new(VM);
                c.arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
                    .arg(format!("-storageDataPath={}", d.join("vm").display()));
                c
            }
            Kind::Prometheus => {
                let cfg = d.join("prometheus.yml");
                let extra = std::fs::read_to_string(d.join("extra.yml")).unwrap_or_default();
                std::fs::write(&cfg, format!("global:\n  scrape_interval: 1m\n{extra}"))
                    .expect("config");
                let mut c = Command::new(PROM);
                c.arg(format!("--config.file={}", cfg.display()))
                    .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
                    .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
                    .arg("--web.enable-remote-write-receiver");
                c
            }
        };
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.child = Some(cmd.spawn().expect("spawn peer"));
        let ready = match self.kind {
            Kind::Victoria => "/health",
            Kind::Prometheus => "/-/ready",
        };
        let url = format!("{}{ready}", self.base());
        let mut ok = false;
        for _ in 0..200 {
            if let Ok(r) = narthex_http::default_client()
                .expect("HTTP client")
                .get(&url)
                .send()
                .await
                && r.status().is_success()
            {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ok, "peer did not become ready at {url}");
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Timestamps of `narthex_peer_test{job=<job>}` stored by the peer.
    async fn timestamps(&self, job: &str) -> Vec<i64> {
        let c = narthex_http::default_client().expect("HTTP client");
        match self.kind {
            Kind::Victoria => {
                let _ = c
                    .get(format!("{}/internal/force_flush", self.base()))
                    .send()
                    .await;
                let Ok(r) = c
                    .get(format!(
                        "{}/api/v1/export?{}",
                        self.base(),
                        qs(&[("match[]", format!("narthex_peer_test{{job=\"{job}\"}}"))])
                    ))
                    .send()
                    .await
                else {
                    return vec![];
                };
                let text = r.text().await.unwrap_or_default();
                let mut out = vec![];
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let v: serde_json::Value = serde_json::from_str(line).expect("json line");
                    for t in v["timestamps"].as_array().into_iter().flatten() {
                        out.push(t.as_i64().expect("ts"));
                    }
                }
                out.sort();
                out
            }
            Kind::Prometheus => {
                let time = (now_ms() + 3_600_000) as f64 / 1000.0;
                let Ok(r) = c
                    .get(format!(
                        "{}/api/v1/query?{}",
                        self.base(),
                        qs(&[
                            ("query", format!("narthex_peer_test{{job=\"{job}\"}}[3h]")),
                            ("time", format!("{time:.3}")),
                        ])
                    ))
                    .send()
                    .await
                else {
                    return vec![];
                };
                let v: serde_json::Value =
                    serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or_default();
                let mut out = vec![];
                for s in v["data"]["result"].as_array().into_iter().flatten() {
                    for p in s["values"].as_array().into_iter().flatten() {
                        let secs = p[0].as_f64().expect("t");
                        out.push((secs * 1000.0).round() as i64);
                    }
                }
                out.sort();
                out
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn qs(pairs: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn append(db: &Db, job: &str, t0: i64, n: usize, step: i64) {
    let l = labels!("__name__" => "narthex_peer_test", "job" => job);
    let mut app = db.appender();
    let mut r = SeriesRef::UNKNOWN;
    for i in 0..n {
        r = app
            .append(r, &l, t0 + i as i64 * step, i as f64)
            .expect("append");
    }
    app.commit().expect("commit");
}

async fn ship_kill_restart(kind: Kind, wal: &Path, db: &Db) {
    let mut peer = Peer::new(kind);
    peer.start().await;
    let mut o = RemoteWriteOptions::new(format!("{}/api/v1/write", peer.base()));
    o.queue_config = QueueConfig {
        batch_send_deadline: Duration::from_millis(100),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        max_samples_per_send: 500,
        ..QueueConfig::default()
    };
    o.flush_deadline = Duration::from_secs(5);
    let qm = QueueManager::start(wal, o).expect("start");
    let t0 = now_ms();
    append(db, "a", t0, 1000, 10);
    let want: Vec<i64> = (0..1000).map(|i| t0 + i * 10).collect();
    let mut got = vec![];
    for _ in 0..100 {
        got = peer.timestamps("a").await;
        if got.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(got, want, "first batch at the peer");

    // Kill the receiver, keep appending, restart it: nothing is lost.
    peer.kill();
    let t1 = t0 + 20_000;
    append(db, "b", t1, 500, 10);
    assert!(wait_for(Duration::from_secs(10), || qm.stats().retried > 0).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    append(db, "b", t1 + 5000, 500, 10);
    peer.start().await;
    let want: Vec<i64> = (0..1000).map(|i| t1 + i * 10).collect();
    for _ in 0..150 {
        got = peer.timestamps("b").await;
        if got.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(got, want, "samples appended while the receiver was down");
    let st = qm.stats();
    assert_eq!(st.samples_sent, 2000);
    assert_eq!(st.failed, 0);
    qm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_receives_everything() {
    if peer_missing(VM) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let db = open_db(dir.path());
    ship_kill_restart(Kind::Victoria, &dir.path().join("wal"), &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_receives_everything() {
    if peer_missing(PROM) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let db = open_db(dir.path());
    ship_kill_restart(Kind::Prometheus, &dir.path().join("wal"), &db).await;
}

/// Prometheus as a remote read client of our `/api/v1/read`: its query over the remote
/// storage returns the samples our TSDB holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reads_from_us() {
    if peer_missing(PROM) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let db = open_db(dir.path());
    let t0 = now_ms() - 600_000;
    append(&db, "rr", t0, 100, 1000);
    let url = crate::common::serve(narthex_remote::read_router(
        db.clone(),
        narthex_remote::ReceiverOptions::default(),
    ))
    .await;
    let mut peer = Peer::new_with_config(
        Kind::Prometheus,
        &format!("remote_read:\n  - url: {url}/api/v1/read\n    read_recent: true\n"),
    );
    peer.start().await;
    let want: Vec<i64> = (0..100).map(|i| t0 + i * 1000).collect();
    let mut got = vec![];
    for _ in 0..50 {
        got = peer.timestamps("rr").await;
        if got.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(got, want);
}

/// Prometheus as a remote write *sender* (1.0, with metadata) into our receiver: it
/// scrapes itself every second and our TSDB gets its series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_writes_to_us() {
    if peer_missing(PROM) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let db = open_db(dir.path());
    let url = crate::common::serve(narthex_remote::router(db.clone())).await;
    let mut peer = Peer::new(Kind::Prometheus);
    let port = peer.port;
    std::fs::write(
        peer.data.path().join("extra.yml"),
        format!(
            "scrape_configs:\n  - job_name: self\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n\
             remote_write:\n  - url: {url}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n    metadata_config:\n      send_interval: 1s\n"
        ),
    )
    .expect("config");
    peer.start().await;
    let ok = wait_for(Duration::from_secs(30), || {
        crate::common::floats(&db, "up")
            .iter()
            .filter(|(l, _, v)| l.get("job") == Some("self") && *v == 1.0)
            .count()
            >= 2
    })
    .await;
    assert!(ok, "up{{job=\"self\"}} samples from Prometheus");
    // Plenty of its own series arrived, with their labels intact.
    let n = crate::common::floats(&db, "prometheus_build_info");
    assert!(!n.is_empty());
    assert_eq!(
        n[0].0.get("instance"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
    assert!(db.num_series() > 100, "{} series", db.num_series());
}
