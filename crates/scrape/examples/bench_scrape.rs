//! Scrape-to-append cost, side by side with Prometheus.
//!
//! A static 100k-series exposition is served by a separate process (Python's
//! `http.server`); Narthex's scrape manager scrapes it into a TSDB head every second for a
//! fixed time, and so does Debian's Prometheus, run in the same script. CPU seconds of each
//! process over the window (from `/proc/<pid>/stat`) divided by the samples each appended.
//!
//! ```text
//! cargo run --release -p narthex-scrape --example bench_scrape -- \
//!     --series 100000 --seconds 30 [--prometheus /usr/bin/prometheus]
//! ```

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use narthex_model::{TargetGroup, labels};
use narthex_scrape::{ScrapeManager, ScrapeOptions};

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line: indices 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

fn http_get(port: u16, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn metric_value(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let mut series = 100_000usize;
    let mut seconds = 30u64;
    let mut prometheus: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().expect("value");
        match a.as_str() {
            "--series" => series = v().parse().expect("--series"),
            "--seconds" => seconds = v().parse().expect("--seconds"),
            "--prometheus" => prometheus = Some(v()),
            other => panic!("unknown flag {other}"),
        }
    }
    let dir = tempfile::tempdir().expect("tmp");
    // The body: counters and gauges with a few labels, as exporters expose them.
    let mut body = String::new();
    body.push_str("# HELP bench_requests_total Requests.\n# TYPE bench_requests_total counter\n");
    for i in 0..series / 2 {
        body.push_str(&format!(
            "bench_requests_total{{method=\"GET\",handler=\"/api/v{}\",code=\"{}\"}} {}\n",
            i / 5,
            200 + (i % 5),
            i * 17
        ));
    }
    body.push_str("# HELP bench_temperature Temperature.\n# TYPE bench_temperature gauge\n");
    for i in 0..series - series / 2 {
        body.push_str(&format!(
            "bench_temperature{{room=\"{}\",sensor=\"s{}\"}} {}.25\n",
            i / 10,
            i % 10,
            i % 40
        ));
    }
    std::fs::write(dir.path().join("metrics.txt"), &body).expect("write body");
    let port = free_port();
    let _server = Kill(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http_get(port, "/metrics.txt").contains(" 200 ") {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "target: {series} series, {} KiB body, scraped every 1 s for {seconds} s",
        body.len() / 1024
    );

    // Narthex, in this process.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let db = Arc::new(
        narthex_tsdb::Db::open(dir.path().join("narthex"), narthex_tsdb::Options::default())
            .expect("db"),
    );
    let me = std::process::id();
    let (cpu, appended) = rt.block_on(async {
        let mut m = ScrapeManager::new(db.clone(), 0);
        let opts = ScrapeOptions {
            job: "bench".into(),
            interval: 1_000,
            timeout: 1_000,
            metrics_path: "/metrics.txt".into(),
            ..ScrapeOptions::default()
        };
        m.apply(vec![(opts, None)]).await.expect("apply");
        m.sync(
            "bench",
            vec![TargetGroup {
                targets: vec![labels! { "__address__" => format!("127.0.0.1:{port}") }],
                labels: labels! {},
                source: "bench".into(),
            }],
        );
        // The first scrape creates the series; measure the steady state after it.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let samples0 = m.pools().flat_map(|p| p.active_targets()).count();
        assert_eq!(samples0, 1);
        let (c0, n0) = (cpu_seconds(me), scraped(&db));
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let (c1, n1) = (cpu_seconds(me), scraped(&db));
        m.stop().await;
        (c1 - c0, n1 - n0)
    });
    println!(
        "narthex:    {appended} samples appended, {cpu:.2} CPU s: {:.3} CPU s per million samples, {:.2} M samples/s per core",
        cpu / appended as f64 * 1e6,
        appended as f64 / cpu / 1e6
    );

    if let Some(bin) = prometheus {
        let pdir = dir.path().join("prometheus");
        std::fs::create_dir_all(&pdir).expect("mkdir");
        let cfg = pdir.join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: bench\n    metrics_path: /metrics.txt\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            ),
        )
        .expect("config");
        let pport = free_port();
        let child = Kill(
            Command::new(bin)
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
        let pid = child.0.id();
        let appended_total = || {
            metric_value(
                &http_get(pport, "/metrics"),
                "prometheus_tsdb_head_samples_appended_total",
            )
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while appended_total() < series as f64 {
            assert!(Instant::now() < deadline, "prometheus did not scrape");
            std::thread::sleep(Duration::from_millis(200));
        }
        // As for Narthex, the window starts a couple of scrapes after the first (whose
        // series creation and garbage are not steady-state work).
        std::thread::sleep(Duration::from_millis(3000));
        let (c0, n0) = (cpu_seconds(pid), appended_total());
        std::thread::sleep(Duration::from_secs(seconds));
        let (c1, n1) = (cpu_seconds(pid), appended_total());
        let (cpu_p, n) = (c1 - c0, n1 - n0);
        println!(
            "prometheus: {n} samples appended, {cpu_p:.2} CPU s: {:.3} CPU s per million samples, {:.2} M samples/s per core",
            cpu_p / n * 1e6,
            n / cpu_p / 1e6
        );
        println!(
            "ratio: Prometheus uses {:.2}x the CPU per sample",
            (cpu_p / n) / (cpu / appended as f64)
        );
        drop(child);
    }
}

/// Samples committed to the database so far.
fn scraped(db: &narthex_tsdb::Db) -> u64 {
    db.appended_samples()
}
