//! Helpers shared by the test modules.

use std::sync::Arc;
use std::time::{Duration, Instant};

use narthex_model::{Labels, MatchOp, Matcher};
use narthex_storage::{Queryable, ValueType};
use narthex_tsdb::Db;

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Serves `router` on a random port; returns the base URL.
pub(crate) async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// Every float sample of series named `name` in `db`: (labels, t, v).
pub(crate) fn floats(db: &Db, name: &str) -> Vec<(Labels, i64, f64)> {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let m = Matcher::new(MatchOp::Equal, "__name__", name).expect("matcher");
    let mut out = Vec::new();
    for s in q.select(true, None, &[m]).expect("select") {
        let s = s.expect("series");
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push((s.labels().clone(), t, v));
        }
    }
    out
}

/// Polls `f` until it returns true or `timeout` passes.
pub(crate) async fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// Opens a TSDB in `dir`.
pub(crate) fn open_db(dir: &std::path::Path) -> Arc<Db> {
    Arc::new(Db::open(dir, narthex_tsdb::Options::default()).expect("open db"))
}

/// Whether a missing peer binary must fail the test (under CI) or skip it loudly.
pub(crate) fn peer_missing(bin: &str) -> bool {
    if std::path::Path::new(bin).exists() {
        return false;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{bin} is required under CI=true");
    }
    eprintln!("\n*** SKIPPED: {bin} is not installed ***\n");
    true
}
