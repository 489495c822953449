//! Scraping real programs over HTTP: a test server that misbehaves in every way a target
//! can, Debian's node exporter, and Debian's Pushgateway after a push. Every failure ends
//! as `up` 0 with the reason, never a crash.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use narthex_model::{MatchOp, Matcher, TargetGroup, labels};
use narthex_scrape::{Health, ScrapeManager, ScrapeOptions};
use narthex_storage::{Queryable, ValueType};
use narthex_tsdb::{Db, Options};

/// `path -> (status, content type, body, delay)`: every way a target can misbehave.
fn misbehave(path: &str) -> crate::Response {
    let ok_body = b"# TYPE temp gauge\ntemp{room=\"a\"} 21.5\ntemp{room=\"b\"} 19\n".to_vec();
    let text = "text/plain; version=0.0.4";
    match path {
        "/ok" => ("200 OK", text, ok_body, 0),
        "/slow" => ("200 OK", text, ok_body, 3000),
        "/huge" => ("200 OK", text, "x 1\n".repeat(100_000).into_bytes(), 0),
        "/garbage" => ("200 OK", text, "\u{1}\u{2}{{{ not metrics".into(), 0),
        "/json" => ("200 OK", "application/json", b"{\"a\":1}".to_vec(), 0),
        // One series twice (a duplicate), one sample from 1970 (out of bounds).
        "/dup" => ("200 OK", text, b"dup 1\ndup 2\nold 1 1000\n".to_vec(), 0),
        "/error" => (
            "500 Internal Server Error",
            "text/plain",
            b"boom".to_vec(),
            0,
        ),
        _ => ("404 Not Found", "text/plain", b"no".to_vec(), 0),
    }
}

fn last_value(db: &Db, matchers: &[Matcher]) -> Vec<(String, f64)> {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let mut out = Vec::new();
    for s in q.select(true, None, matchers).expect("select") {
        let s = s.expect("series");
        let mut it = s.iter();
        let mut last = None;
        while it.next() == ValueType::Float {
            last = Some(it.at().1);
        }
        if let Some(v) = last {
            out.push((format!("{:?}", s.labels()), v));
        }
    }
    out
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchOp::Equal, name, value).expect("matcher")
}

fn job(name: &str, path: &str) -> ScrapeOptions {
    ScrapeOptions {
        job: name.into(),
        interval: 1_000,
        timeout: 800,
        metrics_path: path.into(),
        body_size_limit: 100_000,
        ..ScrapeOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_is_up_zero_with_a_reason() {
    let port = crate::serve(misbehave).await;
    let dir = tempfile::tempdir().expect("tmp");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    // A sample at now, so that the head's lower bound rules out `/dup`'s sample from
    // 1970 whichever target is scraped first (an empty head takes any timestamp).
    {
        use narthex_storage::{Appendable, SeriesRef};
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64;
        let mut app = db.appender();
        app.append(
            SeriesRef::UNKNOWN,
            &labels! { "__name__" => "seed" },
            now,
            1.0,
        )
        .expect("seed sample");
        app.commit().expect("commit");
    }
    let mut m = ScrapeManager::new(db.clone(), 0);
    let paths = [
        "/ok", "/slow", "/huge", "/garbage", "/json", "/error", "/missing", "/dup",
    ];
    let intervals: Arc<std::sync::Mutex<Vec<(i64, Duration)>>> = Arc::default();
    let sink = Arc::clone(&intervals);
    m.on_interval(Arc::new(move |configured, actual| {
        sink.lock().unwrap().push((configured, actual))
    }));
    m.apply(paths.iter().map(|p| (job(&p[1..], p), None)).collect())
        .await
        .expect("apply");
    for p in paths {
        m.sync(
            &p[1..],
            vec![TargetGroup {
                targets: vec![labels! { "__address__" => format!("127.0.0.1:{port}") }],
                labels: labels! {},
                source: "test".into(),
            }],
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let all_scraped = m
            .pools()
            .flat_map(|p| p.active_targets())
            .all(|t| t.status.health != Health::Unknown);
        if all_scraped {
            break;
        }
        assert!(Instant::now() < deadline, "every target scraped once");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut errors: Vec<(String, String)> = m
        .pools()
        .flat_map(|p| p.active_targets())
        .map(|t| (t.scrape_pool, t.status.last_error))
        .collect();
    errors.sort();
    let get = |job: &str| {
        errors
            .iter()
            .find(|(j, _)| j == job)
            .map(|(_, e)| e.clone())
            .unwrap_or_default()
    };
    assert_eq!(get("ok"), "");
    assert!(
        get("slow").contains("context deadline exceeded"),
        "{}",
        get("slow")
    );
    assert_eq!(get("huge"), "body size limit exceeded");
    assert!(!get("garbage").is_empty(), "garbage is a parse error");
    assert!(
        get("json").contains("received unsupported Content-Type \"application/json\""),
        "{}",
        get("json")
    );
    assert_eq!(
        get("error"),
        "server returned HTTP status 500 Internal Server Error"
    );
    assert_eq!(get("missing"), "server returned HTTP status 404 Not Found");
    assert_eq!(get("dup"), "");
    let metrics = m.metrics();
    assert_eq!(metrics.pools, paths.len() as u64);
    assert_eq!(metrics.pools_failed, 0);
    assert!(metrics.exceeded_body_size_limit >= 1, "{metrics:?}");
    assert!(metrics.samples_duplicate_timestamp >= 1, "{metrics:?}");
    assert!(metrics.samples_out_of_bounds >= 1, "{metrics:?}");
    // Intervals are told from each target's second scrape on, close to the 1 s asked.
    let deadline = Instant::now() + Duration::from_secs(10);
    while intervals.lock().unwrap().len() < paths.len() {
        assert!(Instant::now() < deadline, "intervals told");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (configured, actual) in intervals.lock().unwrap().iter() {
        assert_eq!(*configured, 1_000);
        assert!(
            *actual > Duration::from_millis(500) && *actual < Duration::from_millis(3_000),
            "{actual:?}"
        );
    }
    let ups = last_value(&db, &[eq("__name__", "up")]);
    assert_eq!(ups.len(), paths.len(), "{ups:?}");
    for (l, v) in &ups {
        let want = if l.contains("job=\"ok\"") || l.contains("job=\"dup\"") {
            1.0
        } else {
            0.0
        };
        assert_eq!(*v, want, "{l}");
    }
    let temps = last_value(&db, &[eq("__name__", "temp")]);
    assert_eq!(temps.len(), 2, "{temps:?}");
    assert!(temps[0].0.contains("instance=\"127.0.0.1:") && temps[0].0.contains("job=\"ok\""));
    // Removing the target ends its series with stale markers right away.
    m.sync("ok", vec![]);
    m.stop().await;
    let after = last_value(&db, &[eq("__name__", "temp")]);
    assert!(
        after.iter().all(|(_, v)| narthex_model::is_stale_nan(*v)),
        "{after:?}"
    );
}

fn binary(name: &str) -> Option<String> {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let p = format!("{dir}/{name}");
        if Path::new(&p).exists() {
            return Some(p);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is not installed (CI=true); scripts/test installs it");
    }
    eprintln!(
        "\n!!! SKIPPED: {name} is not installed (apt-get install it, or run scripts/test) !!!\n"
    );
    None
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

async fn wait_http(port: u16, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = narthex_http::default_client()
            .expect("HTTP client")
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "port {port} did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn scrape_until_up(m: &ScrapeManager, db: &Db, job: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ups = last_value(db, &[eq("__name__", "up"), eq("job", job)]);
        if ups.iter().any(|(_, v)| *v == 1.0) {
            return;
        }
        let errs: Vec<String> = m
            .pools()
            .flat_map(|p| p.active_targets())
            .map(|t| t.status.last_error)
            .collect();
        assert!(Instant::now() < deadline, "{job} never up: {errs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_debian_node_exporter() {
    let Some(bin) = binary("prometheus-node-exporter") else {
        return;
    };
    let port = free_port();
    let _child = Child(
        std::process::Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start node exporter"),
    );
    wait_http(port, "/metrics").await;
    let dir = tempfile::tempdir().expect("tmp");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    let mut m = ScrapeManager::new(db.clone(), 0);
    m.apply(vec![(job("node", "/metrics"), None)])
        .await
        .expect("apply");
    let o = ScrapeOptions {
        body_size_limit: 0,
        ..job("node", "/metrics")
    };
    m.apply(vec![(o, None)]).await.expect("apply");
    m.sync(
        "node",
        vec![TargetGroup {
            targets: vec![labels! { "__address__" => format!("127.0.0.1:{port}") }],
            labels: labels! {},
            source: "static".into(),
        }],
    );
    scrape_until_up(&m, &db, "node").await;
    let q = db.querier(i64::MIN, i64::MAX).expect("q");
    let names = q
        .label_values("__name__", &Default::default(), &[eq("job", "node")])
        .expect("names");
    assert!(
        names.iter().any(|n| n == "node_cpu_seconds_total"),
        "{names:?}"
    );
    assert!(names.len() > 100, "{} metric names", names.len());
    let samples = last_value(
        &db,
        &[eq("__name__", "scrape_samples_scraped"), eq("job", "node")],
    );
    assert!(samples[0].1 > 200.0, "{samples:?}");
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_debian_pushgateway_with_honor_labels() {
    let Some(bin) = binary("prometheus-pushgateway") else {
        return;
    };
    let port = free_port();
    let data = tempfile::tempdir().expect("tmp");
    let _child = Child(
        std::process::Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--persistence.file={}",
                data.path().join("p").display()
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start pushgateway"),
    );
    wait_http(port, "/-/ready").await;
    let r = narthex_http::default_client()
        .expect("HTTP client")
        .put(format!(
            "http://127.0.0.1:{port}/metrics/job/backup/instance/db1"
        ))
        .body("# TYPE backup_last_success_seconds gauge\nbackup_last_success_seconds 1700000000\n")
        .send()
        .await
        .expect("push");
    assert!(r.status().is_success(), "{}", r.status());
    let dir = tempfile::tempdir().expect("tmp");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    let mut m = ScrapeManager::new(db.clone(), 0);
    let o = ScrapeOptions {
        honor_labels: true,
        body_size_limit: 0,
        ..job("pushgateway", "/metrics")
    };
    m.apply(vec![(o, None)]).await.expect("apply");
    m.sync(
        "pushgateway",
        vec![TargetGroup {
            targets: vec![labels! { "__address__" => format!("127.0.0.1:{port}") }],
            labels: labels! {},
            source: "static".into(),
        }],
    );
    scrape_until_up(&m, &db, "pushgateway").await;
    let got = last_value(&db, &[eq("__name__", "backup_last_success_seconds")]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].0.contains("job=\"backup\"") && got[0].0.contains("instance=\"db1\""),
        "{}",
        got[0].0
    );
    assert_eq!(got[0].1, 1.7e9);
    m.stop().await;
}
