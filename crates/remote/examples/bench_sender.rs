//! Remote write sender throughput, end to end.
//!
//! **Part A** writes `--series` x `--samples` float samples into a WAL (with the agent's
//! WAL-only storage, one batch per timestamp as a scraper would), then measures how fast a
//! [`QueueManager`] ships that WAL to a receiver on 127.0.0.1: Narthex's own receiver
//! router in this process (its storage discards what it receives, so the receiver costs
//! only decoding), and Debian's VictoriaMetrics when `--vm` names its binary. It reports
//! samples per second, compressed megabytes per second and the CPU seconds this process
//! used.
//!
//! **Part B** (with `--narthex` and `--prometheus`) compares whole agents: a static target
//! serving `--scrape-series` series is scraped every second by `narthex --agent`, then by
//! Debian's Prometheus in agent mode, each remote-writing to VictoriaMetrics; after a
//! warm-up, for `--seconds` it measures samples sent (each one's
//! `prometheus_remote_storage_samples_total`), CPU seconds (`/proc/<pid>/stat`) and
//! resident memory.
//!
//! ```text
//! cargo run --release -p narthex-remote --example bench_sender -- \
//!     --series 10000 --samples 100 --vm /usr/bin/victoria-metrics \
//!     --narthex target/release/narthex --prometheus /usr/bin/prometheus
//! ```
//! `scripts/bench-remote-send` runs it with the figures recorded in `docs/BENCHMARKS.md`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use narthex_model::{Exemplar, Labels, Metadata};
use narthex_remote::{QueueConfig, QueueManager, RemoteWriteOptions};
use narthex_storage::{Appendable, Appender, HistogramSample, SeriesRef, StorageError};
use narthex_tsdb::agent::{AgentDb, AgentOptions};

struct Args {
    series: usize,
    samples: usize,
    vm: Option<String>,
    narthex: Option<String>,
    prometheus: Option<String>,
    scrape_series: usize,
    seconds: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        series: 10_000,
        samples: 100,
        vm: None,
        narthex: None,
        prometheus: None,
        scrape_series: 20_000,
        seconds: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--series" => a.series = v().parse().expect("--series"),
            "--samples" => a.samples = v().parse().expect("--samples"),
            "--vm" => a.vm = Some(v()),
            "--narthex" => a.narthex = Some(v()),
            "--prometheus" => a.prometheus = Some(v()),
            "--scrape-series" => a.scrape_series = v().parse().expect("--scrape-series"),
            "--seconds" => a.seconds = v().parse().expect("--seconds"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// A storage that counts what it is given and keeps nothing.
#[derive(Default)]
struct Discard(AtomicU64);

struct DiscardAppender<'a>(&'a AtomicU64, u64);

impl Appendable for Discard {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(DiscardAppender(&self.0, 0))
    }
}

impl Appender for DiscardAppender<'_> {
    fn append(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: i64,
        _: f64,
    ) -> Result<SeriesRef, StorageError> {
        self.1 += 1;
        Ok(r)
    }
    fn append_histogram(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: i64,
        _: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError> {
        self.1 += 1;
        Ok(r)
    }
    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: &Exemplar,
    ) -> Result<SeriesRef, StorageError> {
        Ok(r)
    }
    fn update_metadata(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: &Metadata,
    ) -> Result<SeriesRef, StorageError> {
        Ok(r)
    }
    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.0.fetch_add(self.1, Ordering::Relaxed);
        Ok(())
    }
    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

fn series_labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("bench_metric_{}", i % 100)),
        ("instance", format!("host-{}.example.org:9100", i / 100)),
        ("job", "bench".to_string()),
        ("region", format!("region-{}", i % 7)),
        ("shard", format!("{}", i % 13)),
    ])
}

/// CPU seconds (user + system) of a process from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mb(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_http(url: &str) {
    for _ in 0..300 {
        if let Ok(r) = narthex_http::default_client()
            .expect("HTTP client")
            .get(url)
            .send()
            .await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer");
}

fn start_vm(bin: &str, dir: &Path, port: u16) -> Proc {
    Proc(
        Command::new(bin)
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", dir.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start victoria-metrics"),
    )
}

/// Part A: one queue shipping the whole WAL to `url`.
async fn ship(wal: &Path, url: &str, total: u64) -> (Duration, f64, narthex_remote::Stats) {
    let mut o = RemoteWriteOptions::new(url);
    o.queue_config = QueueConfig {
        batch_send_deadline: Duration::from_millis(100),
        ..QueueConfig::default()
    };
    // Deliver the WAL from its start (a fresh sender would skip samples older than its
    // start time, as Prometheus's does).
    std::fs::write(narthex_remote::queue::position_file(wal, &o), "0 0\n").expect("pos");
    let cpu0 = cpu_seconds("self");
    let t0 = Instant::now();
    let q = QueueManager::start(wal, o).expect("start queue");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let s = q.stats();
        if s.samples_sent >= total {
            break;
        }
        assert!(Instant::now() < deadline, "timed out: {s:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = t0.elapsed();
    let cpu = cpu_seconds("self") - cpu0;
    let stats = q.stats();
    q.stop().await;
    (elapsed, cpu, stats)
}

fn report(what: &str, total: u64, elapsed: Duration, cpu: f64, s: &narthex_remote::Stats) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{what:<28} {total} samples in {secs:.2} s: {:.0} samples/s, {:.1} MB/s compressed ({} requests, {:.1} MB), {:.2} CPU-s ({:.2} CPU-s per million samples), {} shards at the end",
        total as f64 / secs,
        s.bytes_sent as f64 / 1e6 / secs,
        s.requests_sent,
        s.bytes_sent as f64 / 1e6,
        cpu,
        cpu / (total as f64 / 1e6),
        s.shards,
    );
}

/// The exposition body Part B's target serves: `n` gauges.
fn target_body(n: usize) -> String {
    let mut b = String::with_capacity(n * 80);
    for f in 0..n.div_ceil(1000) {
        b.push_str(&format!(
            "# HELP bench_gauge_{f} A benchmark gauge.\n# TYPE bench_gauge_{f} gauge\n"
        ));
        for i in f * 1000..((f + 1) * 1000).min(n) {
            b.push_str(&format!(
                "bench_gauge_{f}{{instance_id=\"i-{i:08}\",zone=\"zone-{}\",path=\"/api/v1/item/{}\"}} {}\n",
                i % 5,
                i % 37,
                i as f64 * 0.5
            ));
        }
    }
    b
}

async fn metric(port: u16, prefix: &str) -> f64 {
    let Ok(r) = narthex_http::default_client()
        .expect("HTTP client")
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
    else {
        return 0.0;
    };
    let body = r.text().await.unwrap_or_default();
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// Part B: one agent scraping the target for warm-up + `seconds`.
async fn run_agent(
    kind: &str,
    bin: &str,
    dir: &Path,
    target: u16,
    vm: u16,
    seconds: u64,
) -> (f64, f64, f64, f64) {
    let port = free_port();
    let config = dir.join(format!("{kind}.yml"));
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels:\n    agent: {kind}\nscrape_configs:\n  - job_name: target\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\nremote_write:\n  - url: http://127.0.0.1:{vm}/api/v1/write\n"
        ),
    )
    .expect("config");
    let data = dir.join(format!("{kind}-data"));
    let mut cmd = Command::new(bin);
    match kind {
        "narthex" => {
            cmd.arg("--agent");
        }
        _ => {
            cmd.arg("--enable-feature=agent");
        }
    }
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.agent.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = Proc(cmd.spawn().expect("start agent"));
    let pid = child.0.id().to_string();
    wait_http(&format!("http://127.0.0.1:{port}/-/ready")).await;
    // Warm-up: a few scrapes, the queue at its shard count.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let sent = "prometheus_remote_storage_samples_total";
    let (s0, c0, t0) = (metric(port, sent).await, cpu_seconds(&pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (s1, c1, secs) = (
        metric(port, sent).await,
        cpu_seconds(&pid),
        t0.elapsed().as_secs_f64(),
    );
    let rss = rss_mb(&pid);
    drop(child);
    (
        (s1 - s0) / secs,
        c1 - c0,
        (c1 - c0) / ((s1 - s0) / 1e6),
        rss,
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let a = parse_args();
    let dir = tempfile::tempdir().expect("tmp");
    let total = (a.series * a.samples) as u64;

    // Part A: the WAL.
    let data = dir.path().join("agent");
    let t0 = Instant::now();
    {
        let db = AgentDb::open(&data, AgentOptions::default()).expect("open");
        let labels: Vec<Labels> = (0..a.series).map(series_labels).collect();
        let mut refs = vec![SeriesRef::UNKNOWN; a.series];
        let start = 1_700_000_000_000i64;
        for s in 0..a.samples {
            let mut app = db.appender();
            for (i, l) in labels.iter().enumerate() {
                let v = (i * 31 + s * 7) as f64 * 0.25;
                refs[i] = app
                    .append(refs[i], l, start + s as i64 * 15_000, v)
                    .expect("append");
            }
            app.commit().expect("commit");
        }
        db.close().expect("close");
    }
    let wal = data.join("wal");
    let wal_bytes: u64 = std::fs::read_dir(&wal)
        .expect("wal")
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    println!(
        "WAL: {} series x {} samples = {total} samples, {:.1} MB (snappy), written in {:.2} s",
        a.series,
        a.samples,
        wal_bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );

    // (a) Narthex's receiver in this process, over a storage that discards.
    let sink = Arc::new(Discard::default());
    let app = narthex_remote::router(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let (el, cpu, st) = ship(
        &wal,
        &format!("http://127.0.0.1:{port}/api/v1/write"),
        total,
    )
    .await;
    report("narthex receiver (in-proc)", total, el, cpu, &st);
    assert_eq!(
        sink.0.load(Ordering::Relaxed),
        total,
        "every sample received"
    );
    server.abort();

    // (b) VictoriaMetrics.
    if let Some(vm_bin) = &a.vm {
        let port = free_port();
        let _vm = start_vm(vm_bin, &dir.path().join("vm-a"), port);
        wait_http(&format!("http://127.0.0.1:{port}/health")).await;
        let (el, cpu, st) = ship(
            &wal,
            &format!("http://127.0.0.1:{port}/api/v1/write"),
            total,
        )
        .await;
        report("victoria-metrics", total, el, cpu, &st);
    }

    // Part B: whole agents on the same target, one after the other.
    if let (Some(vm_bin), Some(narthex), Some(prom)) = (&a.vm, &a.narthex, &a.prometheus) {
        let body = Arc::new(target_body(a.scrape_series));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target = listener.local_addr().expect("addr").port();
        let b = body.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let b = b.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        b.as_str().to_owned(),
                    )
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        println!(
            "\nagents: a target of {} series scraped every 1s, remote write to VictoriaMetrics, measured over {} s after 10 s of warm-up",
            a.scrape_series, a.seconds
        );
        for (kind, bin) in [("narthex", narthex.as_str()), ("prometheus", prom.as_str())] {
            let port = free_port();
            let vm_dir: PathBuf = dir.path().join(format!("vm-{kind}"));
            let _vm = start_vm(vm_bin, &vm_dir, port);
            wait_http(&format!("http://127.0.0.1:{port}/health")).await;
            let (rate, cpu, per_million, rss) =
                run_agent(kind, bin, dir.path(), target, port, a.seconds).await;
            println!(
                "{kind:<12} {rate:.0} samples/s sent, {cpu:.2} CPU-s ({per_million:.2} CPU-s per million samples), RSS {rss:.0} MB"
            );
        }
    }
}
