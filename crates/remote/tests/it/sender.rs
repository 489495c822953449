//! The sender: a TSDB's WAL shipped to a test receiver that fails on command.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use narthex_model::labels;
use narthex_model::relabel::{Action, Regex, RelabelConfig};
use narthex_remote::codec::{self, Protocol};
use narthex_remote::{QueueConfig, QueueManager, RemoteWriteOptions};
use narthex_storage::{Appendable, SeriesRef};
use narthex_tsdb::Db;

use crate::common::{now_ms, open_db, serve, wait_for};

#[derive(Default)]
struct Sink {
    status: AtomicU16,
    /// (job, t, v) of every sample accepted.
    got: Mutex<Vec<(String, i64, f64)>>,
    /// (family, type, help) of every metadata entry received.
    meta: Mutex<Vec<(String, String, String)>>,
    /// Entries per request that carried metadata.
    meta_per_request: Mutex<Vec<usize>>,
    requests: Mutex<Vec<(String, String)>>,
    auth: Mutex<Vec<(String, String)>>,
}

async fn sink_handler(State(s): State<Arc<Sink>>, h: HeaderMap, body: Bytes) -> StatusCode {
    let ct = h
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ver = h
        .get(codec::VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    s.requests.lock().unwrap().push((ct.clone(), ver));
    let hv = |n: &str| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    s.auth
        .lock()
        .unwrap()
        .push((hv("authorization"), hv("x-tenant")));
    let code = s.status.load(Ordering::SeqCst);
    if code != 204 {
        return StatusCode::from_u16(code).unwrap();
    }
    let p = Protocol::from_content_type(&ct).unwrap();
    let req = codec::decode_compressed(&body, p, 1 << 24).unwrap();
    if !req.metadata.is_empty() {
        s.meta_per_request.lock().unwrap().push(req.metadata.len());
    }
    for m in &req.metadata {
        s.meta.lock().unwrap().push((
            m.family.clone(),
            m.metadata.metric_type.to_string(),
            m.metadata.help.clone(),
        ));
    }
    let mut g = s.got.lock().unwrap();
    for ts in req.timeseries {
        let job = ts.labels.get("job").unwrap_or("").to_string();
        for smp in ts.samples {
            g.push((job.clone(), smp.timestamp, smp.value));
        }
    }
    StatusCode::NO_CONTENT
}

async fn sink() -> (Arc<Sink>, String) {
    let s = Arc::new(Sink::default());
    s.status.store(204, Ordering::SeqCst);
    let r = axum::Router::new()
        .route("/api/v1/write", post(sink_handler))
        .with_state(s.clone());
    let url = serve(r).await;
    (s, format!("{url}/api/v1/write"))
}

fn options(url: &str) -> RemoteWriteOptions {
    let mut o = RemoteWriteOptions::new(url);
    o.queue_config = QueueConfig {
        capacity: 500,
        max_samples_per_send: 100,
        batch_send_deadline: Duration::from_millis(50),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        reshard_interval: Duration::from_millis(200),
        max_shards: 4,
        ..QueueConfig::default()
    };
    o.flush_deadline = Duration::from_secs(5);
    o
}

/// Appends `n` samples of `job` at `t0, t0+1, ...` in one commit.
fn append(db: &Db, job: &str, t0: i64, n: usize) {
    let l = labels!("__name__" => "narthex_test", "job" => job);
    let mut app = db.appender();
    let mut r = SeriesRef::UNKNOWN;
    for i in 0..n {
        r = app.append(r, &l, t0 + i as i64, i as f64).unwrap();
    }
    app.commit().unwrap();
}

fn sorted(s: &Sink, job: &str) -> Vec<i64> {
    let mut v: Vec<i64> = s
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|g| g.0 == job)
        .map(|g| g.1)
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ships_wal_and_survives_500s() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    // Samples from before the manager starts are not sent on a fresh start.
    append(&db, "old", now_ms() - 60_000, 10);
    let (s, url) = sink().await;
    let qm = QueueManager::start(dir.path().join("wal"), options(&url)).unwrap();
    let t0 = now_ms() + 1000;
    append(&db, "a", t0, 250);
    assert!(wait_for(Duration::from_secs(10), || sorted(&s, "a").len() == 250).await);
    assert_eq!(sorted(&s, "a"), (t0..t0 + 250).collect::<Vec<_>>());
    assert!(sorted(&s, "old").is_empty());

    // The receiver fails with 500: batches are retried, nothing is lost.
    s.status.store(500, Ordering::SeqCst);
    append(&db, "a", t0 + 1000, 300);
    assert!(wait_for(Duration::from_secs(10), || qm.stats().retried > 0).await);
    s.status.store(204, Ordering::SeqCst);
    assert!(wait_for(Duration::from_secs(10), || sorted(&s, "a").len() == 550).await);
    let st = qm.stats();
    assert_eq!(st.samples_sent, 550);
    assert_eq!(st.failed, 0);
    assert_eq!(st.highest_sent_timestamp, t0 + 1299);
    assert_eq!(st.highest_timestamp, t0 + 1299);
    assert!(wait_for(Duration::from_secs(5), || qm.stats().pending == 0).await);

    // 400: the batch is dropped and counted, not retried.
    s.status.store(400, Ordering::SeqCst);
    append(&db, "c", t0 + 2000, 50);
    assert!(wait_for(Duration::from_secs(10), || qm.stats().failed == 50).await);
    s.status.store(204, Ordering::SeqCst);
    append(&db, "d", t0 + 3000, 5);
    assert!(wait_for(Duration::from_secs(10), || sorted(&s, "d").len() == 5).await);
    assert!(sorted(&s, "c").is_empty());
    let req = s.requests.lock().unwrap()[0].clone();
    assert_eq!(
        req,
        (codec::CONTENT_TYPE_V1.to_string(), "0.1.0".to_string())
    );
    qm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_restart_and_relabels() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let (s, url) = sink().await;
    let mut o = options(&url);
    o.protocol = Protocol::V2;
    o.write_relabel_configs = vec![RelabelConfig {
        source_labels: vec!["job".into()],
        regex: Regex::new("secret").unwrap(),
        action: Action::Drop,
        ..RelabelConfig::default()
    }];
    let qm = QueueManager::start(dir.path().join("wal"), o.clone()).unwrap();
    let t0 = now_ms() + 1000;
    append(&db, "a", t0, 100);
    append(&db, "secret", t0, 10);
    assert!(wait_for(Duration::from_secs(10), || sorted(&s, "a").len() == 100).await);
    assert!(wait_for(Duration::from_secs(5), || qm.stats().dropped == 10).await);
    qm.stop().await;
    let pos = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".pos"));
    assert!(pos, "position file written");

    // Appended while the sender is down, then sent after it restarts.
    append(&db, "a", t0 + 100, 100);
    let qm = QueueManager::start(dir.path().join("wal"), o).unwrap();
    assert!(wait_for(Duration::from_secs(10), || sorted(&s, "a").len() == 200).await);
    assert_eq!(
        sorted(&s, "a"),
        (t0..t0 + 200).collect::<Vec<_>>(),
        "no loss, no duplicates"
    );
    assert!(sorted(&s, "secret").is_empty());
    assert_eq!(
        s.requests.lock().unwrap()[0].0,
        codec::CONTENT_TYPE_V2.to_string()
    );
    qm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_scale_with_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let (s, url) = sink().await;
    let mut o = options(&url);
    o.queue_config.max_samples_per_send = 10;
    o.queue_config.capacity = 2000;
    o.queue_config.batch_send_deadline = Duration::from_secs(5);
    let qm = QueueManager::start(dir.path().join("wal"), o).unwrap();
    let t0 = now_ms() + 1000;
    for i in 0..20 {
        for j in 0..20 {
            append(&db, &format!("j{j}"), t0 + i * 100, 100);
        }
    }
    let mut max_shards = 0;
    let ok = wait_for(Duration::from_secs(30), || {
        max_shards = max_shards.max(qm.stats().shards);
        s.got.lock().unwrap().len() == 40_000
    })
    .await;
    assert!(ok, "got {}", s.got.lock().unwrap().len());
    for j in 0..20 {
        let v = sorted(&s, &format!("j{j}"));
        assert_eq!(v.len(), 2000);
    }
    assert!(max_shards > 1, "the backlog should have added shards");
    qm.stop().await;
}

/// End to end: TSDB A's WAL -> QueueManager (2.0, histograms, exemplars) -> our receiver
/// -> TSDB B holds the same floats and native histograms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsdb_to_tsdb_with_histograms_over_v2() {
    use narthex_model::{Exemplar, FloatHistogram, Histogram, MatchOp, Matcher, Span};
    use narthex_storage::{HistogramSample, Queryable, ValueType};

    let src_dir = tempfile::tempdir().unwrap();
    let dst_dir = tempfile::tempdir().unwrap();
    let src = open_db(src_dir.path());
    let dst = open_db(dst_dir.path());
    let url = serve(narthex_remote::router(dst.clone())).await;
    let mut o = options(&format!("{url}/api/v1/write"));
    o.protocol = Protocol::V2;
    o.send_native_histograms = true;
    o.send_exemplars = true;
    let qm = QueueManager::start(src_dir.path().join("wal"), o).unwrap();

    let t0 = now_ms() + 1000;
    let h = |i: u64| Histogram {
        schema: 1,
        zero_threshold: 0.001,
        zero_count: i,
        count: 3 * i + 1,
        sum: i as f64 * 2.5,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![i as i64, 1],
        ..Histogram::default()
    };
    let lf = labels!("__name__" => "e2e_float", "job" => "x");
    let lh = labels!("__name__" => "e2e_hist", "job" => "x");
    let lfh = labels!("__name__" => "e2e_fhist", "job" => "x");
    {
        let mut app = src.appender();
        for i in 0..50u64 {
            let t = t0 + i as i64 * 10;
            let r = app.append(SeriesRef::UNKNOWN, &lf, t, i as f64).unwrap();
            if i % 10 == 0 {
                app.append_exemplar(
                    r,
                    &lf,
                    &Exemplar {
                        labels: labels!("trace_id" => format!("t{i}")),
                        value: i as f64,
                        timestamp: Some(t),
                    },
                )
                .unwrap();
            }
            app.append_histogram(SeriesRef::UNKNOWN, &lh, t, HistogramSample::Int(&h(i)))
                .unwrap();
            let fh = FloatHistogram {
                sum: 0.5 * i as f64,
                ..h(i).to_float()
            };
            app.append_histogram(SeriesRef::UNKNOWN, &lfh, t, HistogramSample::Float(&fh))
                .unwrap();
        }
        app.commit().unwrap();
    }
    let read = |db: &Db, name: &str| -> Vec<String> {
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        let m = Matcher::new(MatchOp::Equal, "__name__", name).unwrap();
        let mut out = vec![];
        for s in q.select(true, None, &[m]).unwrap() {
            let s = s.unwrap();
            let mut it = s.iter();
            loop {
                match it.next() {
                    ValueType::None => break,
                    ValueType::Float => out.push(format!("{:?}", it.at())),
                    ValueType::Histogram => out.push(format!("{:?}", it.at_histogram())),
                    ValueType::FloatHistogram => out.push(format!("{:?}", it.at_float_histogram())),
                }
            }
        }
        out
    };
    assert!(
        wait_for(Duration::from_secs(10), || read(&dst, "e2e_fhist").len()
            == 50)
        .await,
        "stats {:?}",
        qm.stats()
    );
    for name in ["e2e_float", "e2e_hist", "e2e_fhist"] {
        assert_eq!(read(&dst, name), read(&src, name), "{name}");
    }
    let st = qm.stats();
    assert_eq!(st.samples_sent, 50);
    assert_eq!(st.histograms_sent, 100);
    assert_eq!(st.exemplars_sent, 5);
    qm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_headers_429_and_hard_stop() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let (s, url) = sink().await;
    let mut o = options(&url);
    o.http.authorization = Some(narthex_http::Authorization {
        kind: "Bearer".into(),
        credentials: Some(narthex_http::Secret::Inline("s3cret".into())),
    });
    o.headers = vec![("X-Tenant".into(), "team-a".into())];
    o.queue_config.retry_on_http_429 = false;
    o.flush_deadline = Duration::from_millis(300);
    let qm = QueueManager::start(dir.path().join("wal"), o.clone()).unwrap();
    let t0 = now_ms() + 1000;
    append(&db, "a", t0, 10);
    assert!(wait_for(Duration::from_secs(10), || sorted(&s, "a").len() == 10).await);
    assert_eq!(
        s.auth.lock().unwrap()[0],
        ("Bearer s3cret".to_string(), "team-a".to_string())
    );

    // 429 without retry_on_http_429: dropped and counted as failed.
    s.status.store(429, Ordering::SeqCst);
    append(&db, "b", t0, 7);
    assert!(wait_for(Duration::from_secs(10), || qm.stats().failed == 7).await);

    // The receiver fails with 503 and the sender is stopped: stop gives up after the
    // flush deadline, the position stays before the undelivered samples, and a restart
    // delivers them.
    s.status.store(503, Ordering::SeqCst);
    append(&db, "c", t0, 20);
    assert!(wait_for(Duration::from_secs(10), || qm.stats().retried >= 20).await);
    let started = std::time::Instant::now();
    qm.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(sorted(&s, "c").is_empty());
    s.status.store(204, Ordering::SeqCst);
    o.http.authorization = None;
    o.http.basic_auth = Some(narthex_http::BasicAuth {
        username: narthex_http::Secret::Inline("u".into()),
        password: Some(narthex_http::Secret::Inline("p".into())),
    });
    let qm = QueueManager::start(dir.path().join("wal"), o).unwrap();
    assert!(wait_for(Duration::from_secs(10), || sorted(&s, "c").len() == 20).await);
    assert_eq!(sorted(&s, "c"), (t0..t0 + 20).collect::<Vec<_>>());
    assert!(sorted(&s, "b").is_empty(), "dropped batches are not resent");
    assert_eq!(s.auth.lock().unwrap().last().unwrap().0, "Basic dTpw");
    qm.stop().await;
}

/// Series the TSDB dropped (head truncation, then a checkpoint) are forgotten by the
/// sender once it reads past the checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_map_follows_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(
        Db::open(
            dir.path(),
            narthex_tsdb::Options {
                wal_segment_size: 64 * 1024,
                ..narthex_tsdb::Options::default()
            },
        )
        .unwrap(),
    );
    let (s, url) = sink().await;
    let qm = QueueManager::start(dir.path().join("wal"), options(&url)).unwrap();
    let t0 = now_ms() + 1000;
    for i in 0..100 {
        append(&db, &format!("churn{i}"), t0, 1);
    }
    // Enough commits of one series to fill a few segments.
    for k in 0..300 {
        append(&db, "keep", t0 + 10_000 + k * 100, 100);
    }
    assert!(wait_for(Duration::from_secs(20), || qm.stats().series == 101).await);
    // Let the sender catch up first: segments deleted by the truncation are gone for it
    // too (as in Prometheus, a sender far behind loses what was checkpointed away).
    assert!(
        wait_for(Duration::from_secs(20), || sorted(&s, "keep").len()
            == 30_000)
        .await
    );
    let report = db.truncate_head(t0 + 10_000).unwrap();
    assert!(report.checkpoint.is_some(), "{report:?}");
    // More data so the reader moves to a newer segment and notices the checkpoint.
    for k in 300..600 {
        append(&db, "keep", t0 + 10_000 + k * 100, 100);
    }
    assert!(
        wait_for(Duration::from_secs(20), || qm.stats().series == 1).await,
        "{:?}",
        qm.stats()
    );
    assert!(
        wait_for(Duration::from_secs(20), || sorted(&s, "keep").len()
            == 60_000)
        .await
    );
    qm.stop().await;
}

/// 1.0: metadata from the WAL's metadata records is sent periodically, on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_v1_metadata() {
    use narthex_model::{Metadata, MetricType};
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let (s, url) = sink().await;
    let mut o = options(&url);
    o.metadata_send_interval = Some(Duration::from_millis(200));
    let qm = QueueManager::start(dir.path().join("wal"), o).unwrap();
    let l = labels!("__name__" => "narthex_test", "job" => "m");
    let mut app = db.appender();
    let r = app
        .append(SeriesRef::UNKNOWN, &l, now_ms() + 1000, 1.0)
        .unwrap();
    app.update_metadata(
        r,
        &l,
        &Metadata {
            metric_type: MetricType::Counter,
            help: "A test counter.".into(),
            unit: String::new(),
        },
    )
    .unwrap();
    app.commit().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || !s
            .meta
            .lock()
            .unwrap()
            .is_empty())
        .await
    );
    assert_eq!(
        s.meta.lock().unwrap()[0],
        (
            "narthex_test".to_string(),
            "counter".to_string(),
            "A test counter.".to_string()
        )
    );
    // The sink records the metadata before it answers; the sender counts it after.
    assert!(
        wait_for(Duration::from_secs(10), || qm.stats().metadata_sent >= 1).await,
        "{:?}",
        qm.stats()
    );
    qm.stop().await;
}

/// `sample_age_limit`: samples already too old when their batch is built, and samples
/// that age past the limit while a failing receiver makes the batch retry, are dropped
/// and counted instead of sent; fresh samples still go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_age_limit_drops_old_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let (s, url) = sink().await;
    let mut o = options(&url);
    o.queue_config.sample_age_limit = Duration::from_secs(1);
    let qm = QueueManager::start(dir.path().join("wal"), o).unwrap();
    let start = now_ms();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // After the manager's start (so read from the WAL), but over a second old.
    append(&db, "old", start + 10, 20);
    append(&db, "new", now_ms(), 20);
    assert!(wait_for(Duration::from_secs(10), || sorted(&s, "new").len() == 20).await);
    assert!(wait_for(Duration::from_secs(5), || qm.stats().dropped == 20).await);
    assert!(sorted(&s, "old").is_empty());

    // Fresh when first tried, too old by the time the receiver recovers.
    s.status.store(500, Ordering::SeqCst);
    append(&db, "retry", now_ms(), 30);
    assert!(
        wait_for(Duration::from_secs(10), || {
            let st = qm.stats();
            st.retried > 0 || st.dropped == 50
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    s.status.store(204, Ordering::SeqCst);
    assert!(
        wait_for(Duration::from_secs(10), || qm.stats().dropped == 50).await,
        "{:?}",
        qm.stats()
    );
    assert!(sorted(&s, "retry").is_empty());
    append(&db, "after", now_ms(), 5);
    assert!(wait_for(Duration::from_secs(10), || sorted(&s, "after").len() == 5).await);
    let st = qm.stats();
    assert_eq!((st.samples_sent, st.failed), (25, 0));
    assert!(wait_for(Duration::from_secs(5), || qm.stats().pending == 0).await);
    qm.stop().await;
}

/// 1.0: `metadata_config.max_samples_per_send` splits the metadata of three families
/// into requests of at most two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_max_samples_per_send() {
    use narthex_model::{Metadata, MetricType};
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let (s, url) = sink().await;
    let mut o = options(&url);
    o.metadata_send_interval = Some(Duration::from_millis(200));
    o.metadata_max_samples_per_send = 2;
    let qm = QueueManager::start(dir.path().join("wal"), o).unwrap();
    let mut app = db.appender();
    for name in ["m_a", "m_b", "m_c"] {
        let l = labels!("__name__" => name, "job" => "m");
        let r = app
            .append(SeriesRef::UNKNOWN, &l, now_ms() + 1000, 1.0)
            .unwrap();
        let m = Metadata {
            metric_type: MetricType::Gauge,
            help: format!("help of {name}"),
            unit: String::new(),
        };
        app.update_metadata(r, &l, &m).unwrap();
    }
    app.commit().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || s
            .meta_per_request
            .lock()
            .unwrap()
            .len()
            >= 2)
        .await
    );
    // The three families go out as two requests each round (a round may also see the
    // families before all three were read).
    let sizes = s.meta_per_request.lock().unwrap().clone();
    assert!(
        sizes.contains(&2) && sizes.iter().all(|&n| n <= 2),
        "{sizes:?}"
    );
    qm.stop().await;
}
