//! A server on a random port and a tiny HTTP/1.0 client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use narthex_http_api::{ApiState, router};
use narthex_model::{FloatHistogram, Labels, Span};
use narthex_promql::{Engine, EngineOptions};
use narthex_storage::{Appendable, HistogramSample, MemStorage, Queryable, SeriesRef};

/// 2023-11-14T22:13:20Z, the time most tests query at.
pub(crate) const T0: i64 = 1_700_000_000_000;

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    pub(crate) fn start(state: ApiState) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(state);
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { addr, _rt: rt }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn request(&self, raw: &[u8]) -> (u16, String) {
        let (code, _, body) = self.request_full(raw);
        (code, body)
    }

    /// Sends a raw request; returns the status, the header block and the body.
    pub(crate) fn request_full(&self, raw: &[u8]) -> (u16, String, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.write_all(raw).unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let code = head.split(' ').nth(1).unwrap().parse().unwrap();
        (code, head.to_ascii_lowercase(), body.to_string())
    }

    /// GET `path` (with its query string, already encoded).
    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        self.request(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
    }

    /// POST a url-encoded form.
    pub(crate) fn post(&self, path: &str, form: &str) -> (u16, String) {
        self.request(
            format!(
                "POST {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
                form.len()
            )
            .as_bytes(),
        )
    }
}

/// Percent-encodes a query parameter value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn histogram() -> FloatHistogram {
    FloatHistogram {
        schema: 0,
        zero_threshold: 0.001,
        zero_count: 2.0,
        count: 10.0,
        sum: 18.4,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![3.0, 4.0],
        negative_spans: vec![Span {
            offset: 0,
            length: 1,
        }],
        negative_buckets: vec![1.0],
        ..Default::default()
    }
}

/// Loads the test data: `up` for two instances, a counter, a native histogram and a
/// series with a UTF-8 label name, every 15 s over the 5 minutes before `T0`.
pub(crate) fn load(db: &dyn Appendable) {
    let mut app = db.appender();
    let up_a = Labels::from_pairs([("__name__", "up"), ("instance", "a"), ("job", "api")]);
    let up_b = Labels::from_pairs([("__name__", "up"), ("instance", "b"), ("job", "api")]);
    let reqs = Labels::from_pairs([
        ("__name__", "http_requests_total"),
        ("code", "200"),
        ("job", "api"),
    ]);
    let other = Labels::from_pairs([("__name__", "other"), ("instance", "a"), ("job", "api")]);
    let utf8 = Labels::from_pairs([("__name__", "dotted"), ("host.name", "x<y")]);
    let lat = Labels::from_pairs([("__name__", "latency"), ("job", "api")]);
    let h = histogram();
    for i in 0..=20i64 {
        let t = T0 - 300_000 + i * 15_000;
        app.append(SeriesRef::UNKNOWN, &up_a, t, 1.0).unwrap();
        app.append(SeriesRef::UNKNOWN, &up_b, t, 0.0).unwrap();
        app.append(SeriesRef::UNKNOWN, &reqs, t, (i * 3) as f64)
            .unwrap();
        app.append(SeriesRef::UNKNOWN, &other, t, 0.5).unwrap();
        app.append(SeriesRef::UNKNOWN, &utf8, t, 1e-7).unwrap();
        app.append_histogram(SeriesRef::UNKNOWN, &lat, t, HistogramSample::Float(&h))
            .unwrap();
    }
    app.commit().unwrap();
}

/// A ready API over `storage`, with the clock pinned at `T0`.
pub(crate) fn state(storage: Arc<dyn Queryable>) -> ApiState {
    let st =
        ApiState::new(storage, Engine::new(EngineOptions::default())).with_clock(Arc::new(|| T0));
    st.ready().set(true);
    st
}

/// A server over a loaded `MemStorage`.
pub(crate) fn mem_server() -> Server {
    let db = Arc::new(MemStorage::new());
    load(&*db);
    Server::start(state(db))
}
