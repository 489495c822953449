//! Prometheus reads our data directory, and we read Prometheus's: Debian's `prometheus`
//! is started on a directory Narthex wrote (WAL and head chunk files) and queried over its
//! HTTP API; then Narthex opens a directory Prometheus wrote while scraping itself.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use narthex_model::{MatchOp, Matcher, labels};
use narthex_storage::{Appendable, Queryable, SeriesRef, ValueType};
use narthex_tsdb::{Db, Options};

use crate::common::{Peer, binary, free_port};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let body = buf.split_once("\r\n\r\n")?.1.to_string();
    Some(body)
}

/// Starts Prometheus; its log goes to `prometheus-<port>.log` beside the data directory.
fn start_prometheus(bin: &str, data: &std::path::Path, config: &str, port: u16) -> Peer {
    let cfg = data
        .parent()
        .expect("parent")
        .join(format!("prometheus-{port}.yml"));
    std::fs::write(&cfg, config).expect("config");
    let log = std::fs::File::create(
        data.parent()
            .expect("parent")
            .join(format!("prometheus-{port}.log")),
    )
    .expect("log");
    Peer(
        Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    )
}

#[test]
fn prometheus_reads_a_directory_narthex_wrote() {
    let Some(bin) = binary("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let start = now_ms() - 30 * 60 * 1000;
    {
        // Small chunks so some samples live in chunks_head/ files, the rest in the WAL.
        let db = Db::open(
            &data,
            Options {
                samples_per_chunk: 16,
                ..Options::default()
            },
        )
        .expect("open");
        for i in 0..120i64 {
            let mut app = db.appender();
            for job in ["a", "b"] {
                let l = labels! { "__name__" => "narthex_written", "job" => job };
                app.append(
                    SeriesRef::UNKNOWN,
                    &l,
                    start + i * 15_000,
                    (i * 2) as f64 + 0.5,
                )
                .expect("append");
            }
            app.commit().expect("commit");
        }
        db.close().expect("close");
    }
    assert!(
        std::fs::read_dir(data.join("chunks_head"))
            .expect("chunks_head")
            .count()
            > 0
    );
    let port = free_port();
    let _p = start_prometheus(&bin, &data, "global:\n  scrape_interval: 1h\n", port);
    let t = (start + 119 * 15_000) as f64 / 1000.0;
    let q = format!("/api/v1/query?query=sum(narthex_written)&time={t}");
    let q_count = format!("/api/v1/query?query=count_over_time(narthex_written%5B1h%5D)&time={t}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(body) = http_get(port, &q)
            && body.contains("\"success\"")
        {
            // Last sample of each series is 119*2+0.5 = 238.5; two series.
            assert!(body.contains("\"477\""), "sum of the last samples: {body}");
            let counts = http_get(port, &q_count).expect("count query");
            assert_eq!(
                counts.matches("\"120\"").count(),
                2,
                "all 120 samples of both series: {counts}"
            );
            // Prometheus drops head chunk files it cannot read and says so in its log.
            let log = std::fs::read_to_string(dir.path().join(format!("prometheus-{port}.log")))
                .unwrap_or_default();
            for bad in ["orrupt", "chunks failed", "err=", "level=error"] {
                assert!(!log.contains(bad), "prometheus complained ({bad}):\n{log}");
            }
            assert!(log.contains("WAL replay completed"), "{log}");
            assert!(
                log.contains("On-disk memory mappable chunks replay completed"),
                "{log}"
            );
            println!(
                "prometheus compat: Debian prometheus read 240 samples Narthex wrote (WAL + chunks_head)"
            );
            return;
        }
        assert!(Instant::now() < deadline, "prometheus did not answer");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn narthex_reads_a_directory_prometheus_wrote() {
    let Some(bin) = binary("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let port = free_port();
    let peer = start_prometheus(
        &bin,
        &data,
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
        port,
    );
    // Wait for a handful of scrapes to be queryable, then kill it (no clean shutdown).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body =
            http_get(port, "/api/v1/query?query=count_over_time(up%5B1m%5D)").unwrap_or_default();
        if body.contains("\"success\"")
            && body.contains("\"value\":[")
            && !body.contains("\"1\"]")
            && !body.contains("\"2\"]")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not scrape itself: {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(peer);
    let db = Db::open(&data, Options::default()).expect("open Prometheus's data directory");
    assert!(db.replay_report().wal_corruption.is_none() || db.replay_report().samples > 0);
    assert!(db.num_series() > 100, "{} series", db.num_series());
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let m = Matcher::new(MatchOp::Equal, "__name__", "up").expect("m");
    let s = q
        .select(true, None, &[m])
        .expect("select")
        .next()
        .expect("up series")
        .expect("ok");
    assert_eq!(s.labels().get("job"), Some("self"));
    let mut it = s.iter();
    let mut n = 0;
    while it.next() == ValueType::Float {
        assert_eq!(it.at().1, 1.0);
        n += 1;
    }
    assert!(n >= 3, "{n} samples of up");
    println!(
        "prometheus compat: Narthex read {} series and {n} samples of up from Prometheus's WAL",
        db.num_series()
    );
}
