//! Blocks end to end: write a day of data for many series, compact it (head to blocks,
//! then leveled merges), and time queries over the whole day, optionally side by side
//! with Debian's Prometheus serving the very same data directory.
//!
//! ```text
//! cargo run --release -p narthex-tsdb --example bench_blocks -- \
//!     --series 10000 --hours 24 --step 60 [--prometheus /usr/bin/prometheus] [--keep DIR]
//! ```
//!
//! Reported: write rate, compaction time and throughput (samples persisted per second),
//! peak resident memory added while compacting, bytes per sample on disk, and query
//! latencies (median of several runs): a raw select over the day of every series and of one
//! series through the storage traits, and PromQL queries through narthex-promql. With
//! `--prometheus`, the same PromQL queries go to Prometheus started on a copy of the
//! directory (it reads Narthex's blocks) through its HTTP API.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use narthex_model::{MatchOp, Matcher, labels};
use narthex_storage::{Appendable, Queryable, SeriesRef, ValueType};
use narthex_tsdb::{Db, Options};

struct Args {
    series: usize,
    hours: i64,
    step: i64,
    prometheus: Option<String>,
    keep: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        series: 10_000,
        hours: 24,
        step: 60,
        prometheus: None,
        keep: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(f) = it.next() {
        let mut v = || it.next().expect("flag value");
        match f.as_str() {
            "--series" => a.series = v().parse().expect("--series"),
            "--hours" => a.hours = v().parse().expect("--hours"),
            "--step" => a.step = v().parse().expect("--step"),
            "--prometheus" => a.prometheus = Some(v()),
            "--keep" => a.keep = Some(PathBuf::from(v())),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// A value of /proc/self/status in kB.
fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_n(n: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("ls") {
        let e = e.expect("entry");
        let to = dst.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &to);
        } else if e.file_name() != "lock" {
            std::fs::copy(e.path(), &to).expect("copy");
        }
    }
}

fn main() {
    let a = args();
    let tmp = std::env::temp_dir().join(format!("narthex-bench-blocks-{}", std::process::id()));
    let dir = a.keep.clone().unwrap_or_else(|| tmp.clone());
    let _ = std::fs::remove_dir_all(&dir);
    // Times end at a round hour "now", as live data would.
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        / 3_600_000
        * 3_600_000;
    let start = end - a.hours * 3_600_000;
    let step = a.step * 1000;
    let opts = Options {
        max_block_duration: 31 * 24 * 3_600_000,
        retention_duration: 0,
        ..Options::default()
    };
    let db = Db::open(&dir, opts).expect("open");
    let series: Vec<_> = (0..a.series)
        .map(|i| {
            labels! {
                "__name__" => "bench_requests_total",
                "instance" => format!("host-{}:9100", i / 100),
                "job" => "bench",
                "handler" => format!("/api/v{}", i % 100),
            }
        })
        .collect();
    let t0 = Instant::now();
    let mut refs = vec![SeriesRef::UNKNOWN; series.len()];
    let mut values: Vec<f64> = vec![0.0; series.len()];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut samples = 0u64;
    let mut t = start;
    while t < end {
        let mut app = db.appender();
        for (i, l) in series.iter().enumerate() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            values[i] += (rng % 20) as f64;
            refs[i] = app.append(refs[i], l, t, values[i]).expect("append");
            samples += 1;
        }
        app.commit().expect("commit");
        t += step;
    }
    let write = t0.elapsed();
    println!(
        "write: {samples} samples of {} series in {:.2?} ({:.2} M samples/s)",
        series.len(),
        write,
        samples as f64 / write.as_secs_f64() / 1e6
    );

    let rss_before = status_kb("VmRSS:");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let t0 = Instant::now();
    let report = db.compact().expect("compact");
    let compact = t0.elapsed();
    let peak = status_kb("VmHWM:");
    let blocks = db.blocks();
    let persisted: u64 = blocks.iter().map(|b| b.meta().stats.num_samples).sum();
    let block_bytes: u64 = blocks.iter().map(|b| b.size()).sum();
    let chunk_bytes: u64 = blocks.iter().map(|b| b.chunks().size()).sum();
    println!(
        "compaction: {} head blocks written, {} merges, {} blocks left ({}); {persisted} samples persisted in {:.2?} ({:.2} M samples/s); peak RSS +{} MiB over {} MiB",
        report.head_blocks.len(),
        report.merged_blocks.len(),
        blocks.len(),
        blocks
            .iter()
            .map(|b| format!("{}h", (b.time_range().1 - b.time_range().0) / 3_600_000))
            .collect::<Vec<_>>()
            .join(" "),
        compact,
        persisted as f64 / compact.as_secs_f64() / 1e6,
        peak.saturating_sub(rss_before) / 1024,
        rss_before / 1024,
    );
    println!(
        "on disk: {:.3} bytes/sample in blocks ({:.3} in chunk files alone)",
        block_bytes as f64 / persisted as f64,
        chunk_bytes as f64 / persisted as f64
    );
    drop(blocks);
    db.close().expect("close");

    let db = Db::open(&dir, opts).expect("reopen");
    let all = Matcher::new(MatchOp::Equal, "__name__", "bench_requests_total").expect("m");
    let one = Matcher::new(MatchOp::Equal, "handler", "/api/v42").expect("m");
    let inst = Matcher::new(MatchOp::Equal, "instance", "host-7:9100").expect("m");
    let count = |ms: &[Matcher]| {
        let q = db.querier(start, end).expect("querier");
        let mut n = 0u64;
        for s in q.select(true, None, ms).expect("select") {
            let s = s.expect("series");
            let mut it = s.iter();
            while it.next() != ValueType::None {
                n += 1;
            }
        }
        n
    };
    let n_all = count(std::slice::from_ref(&all));
    let d_all = time_n(5, || {
        count(std::slice::from_ref(&all));
    });
    let d_one = time_n(11, || {
        count(&[all.clone(), one.clone(), inst.clone()]);
    });
    println!(
        "select over {}h: every series ({n_all} samples) {:.2?} ({:.1} M samples/s); one series {:.2?}",
        a.hours,
        d_all,
        n_all as f64 / d_all.as_secs_f64() / 1e6,
        d_one
    );

    let engine = narthex_promql::Engine::new(narthex_promql::EngineOptions {
        max_samples: 500_000_000,
        ..Default::default()
    });
    let queries = [
        format!("count(count_over_time(bench_requests_total[{}h]))", a.hours),
        format!(
            "sum(rate(bench_requests_total{{instance=\"host-7:9100\"}}[{}h]))",
            a.hours
        ),
    ];
    let mut ours = Vec::new();
    for q in &queries {
        let d = time_n(5, || {
            engine.instant_query(&db, q, end - 1).expect("query");
        });
        println!("promql instant {q}: {d:.2?}");
        ours.push(d);
    }
    drop(db);

    if let Some(bin) = &a.prometheus {
        let copy = dir.with_extension("prometheus");
        let _ = std::fs::remove_dir_all(&copy);
        copy_tree(&dir, &copy);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let cfg = copy.join("prometheus.yml");
        std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").expect("config");
        let mut child = std::process::Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", copy.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !http_get(port, "/-/ready").is_some_and(|r| r.contains(" 200 ")) {
            assert!(Instant::now() < deadline, "prometheus did not get ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        for (q, ours) in queries.iter().zip(&ours) {
            let path = format!(
                "/api/v1/query?query={}&time={}",
                q.replace('{', "%7B")
                    .replace('}', "%7D")
                    .replace('"', "%22")
                    .replace('[', "%5B")
                    .replace(']', "%5D")
                    .replace(' ', "%20"),
                (end - 1) as f64 / 1000.0
            );
            let r = http_get(port, &path).unwrap_or_default();
            assert!(r.contains("\"success\""), "prometheus answered {r}");
            let d = time_n(5, || {
                http_get(port, &path);
            });
            println!(
                "prometheus {q}: {d:.2?} (narthex/prometheus time ratio {:.2})",
                ours.as_secs_f64() / d.as_secs_f64()
            );
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&copy);
    }
    if a.keep.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
