//! Differential test: Debian's `prometheus` (2.42) and this API answer the same requests
//! over the same blocks (written by `promtool tsdb create-blocks-from openmetrics`), and
//! the bodies must be byte-identical. The queries avoid what changed between Prometheus
//! 2.42 and 3.x (left-open range windows, info annotations, the `limit` parameter).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use narthex_tsdb::{Db, Options};

use crate::common::{Server, enc, state};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// Start of the data: a two-hour boundary.
const START: i64 = 1_700_000_000 / 7200 * 7200;

struct Peer {
    child: Child,
    port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tools_available() -> bool {
    if Path::new(PROMETHEUS).exists() && Path::new(PROMTOOL).exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{PROMETHEUS} or {PROMTOOL} is missing (apt-get install prometheus)");
    }
    eprintln!("SKIPPED: {PROMETHEUS} or {PROMTOOL} is missing; install Debian's `prometheus`");
    false
}

fn openmetrics() -> String {
    let mut text = String::new();
    let gauges = [0.1, 1e-7, 1e21, -2.5, 123456789.125, 0.0];
    for k in 0..240i64 {
        let t = START + k * 15;
        text.push_str(&format!(
            "http_requests_total{{code=\"200\",job=\"api\"}} {} {t}\n",
            k * 3
        ));
        text.push_str(&format!(
            "http_requests_total{{code=\"500\",job=\"api\"}} {} {t}\n",
            k as f64 * 0.1
        ));
        text.push_str(&format!(
            "temperature{{job=\"x\",room=\"a<b \\\"q\\\" \u{e9}\"}} {} {t}\n",
            gauges[k as usize % gauges.len()]
        ));
    }
    text.push_str("# EOF\n");
    text
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

fn start_prometheus(dir: &Path, data: &Path) -> Peer {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=100y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let peer = Peer { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(port, "/-/ready").0 == 200
        {
            return peer;
        }
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn same_answers_as_prometheus() {
    if !tools_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.om");
    std::fs::write(&input, openmetrics()).unwrap();
    let blocks = dir.path().join("blocks");
    let out = Command::new(PROMTOOL)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&blocks)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours_dir = dir.path().join("narthex");
    let theirs_dir = dir.path().join("prometheus");
    copy_dir(&blocks, &ours_dir);
    copy_dir(&blocks, &theirs_dir);

    let db = Arc::new(Db::open(&ours_dir, Options::default()).unwrap());
    let ours = Server::start(state(db));
    let theirs = start_prometheus(dir.path(), &theirs_dir);

    let t = START + 1807; // between samples, so window edges do not matter
    let q = |query: &str| format!("/api/v1/query?query={}&time={t}", enc(query));
    let r = |query: &str, step: &str| {
        format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={step}",
            enc(query),
            START + 7,
            START + 3000
        )
    };
    let requests = [
        q("http_requests_total"),
        q("temperature"),
        q(r#"http_requests_total{code="200"}[1m]"#),
        q("sum by (code) (rate(http_requests_total[5m]))"),
        q("temperature * 3"),
        q("1 + 1"),
        q("\"a<b\""),
        q("time()"),
        q("vector(0.1)"),
        q("nothing"),
        q("count_values(\"v\", temperature)"),
        format!("{}.123", q("http_requests_total")),
        r("sum(rate(http_requests_total[5m]))", "60"),
        r("temperature", "1m"),
        r("http_requests_total", "300"),
        r("2", "900"),
        "/api/v1/series?match[]=http_requests_total".to_string(),
        format!(
            "/api/v1/series?match[]=temperature&match[]={}",
            enc(r#"{code="500"}"#)
        ),
        format!(
            "/api/v1/series?match[]=temperature&start={}&end={}",
            START,
            START + 60
        ),
        "/api/v1/series?match[]=temperature&start=0&end=10".to_string(),
        "/api/v1/labels".to_string(),
        "/api/v1/labels?match[]=temperature".to_string(),
        "/api/v1/label/__name__/values".to_string(),
        "/api/v1/label/room/values".to_string(),
        "/api/v1/label/code/values?match[]=http_requests_total".to_string(),
        "/api/v1/label/nope/values".to_string(),
        format!(
            "/api/v1/format_query?query={}",
            enc("sum by(a)(x) / on(b) y")
        ),
    ];
    let mut bodies = Vec::new();
    for path in &requests {
        let a = ours.get(path);
        let b = get(theirs.port, path);
        assert_eq!(a, b, "{path}");
        bodies.push(a.1);
    }
    // The peer did read the blocks: the answers carry the data.
    assert!(bodies[0].contains(r#""code":"200""#), "{}", bodies[0]);
    assert!(
        bodies[1].contains("\"room\":\"a\\u003cb \\\"q\\\" \u{e9}\""),
        "{}",
        bodies[1]
    );
    assert!(
        bodies[12].contains(r#""resultType":"matrix""#),
        "{}",
        bodies[12]
    );
    assert!(bodies[16].contains(r#""code":"500""#), "{}", bodies[16]);
    // Errors: the same status, type and message, except where Prometheus changed the
    // message after 2.42 (`Invalid time value` became `invalid time value`) or where the
    // regex engines word their errors differently.
    let errors = [
        (q("sum("), true),
        (q("rate(x)"), true),
        (q("up{"), true),
        (q("foo bar"), true),
        (q(""), true),
        (q("sum(x) by"), true),
        (q("x[5m] + 1"), true),
        (q("1 == 1"), true),
        (q(r#"x{a=~"("}"#), false),
        ("/api/v1/query?query=up&time=abc".to_string(), false),
        (r("up", "0"), true),
        (r("up", "abc"), true),
        // Prometheus 2.42 leaves out `invalid parameter "query": ` for range queries; 3.x
        // writes it as for instant queries.
        (r("up[5m]", "60"), false),
        (r("sum(", "60"), false),
        (
            "/api/v1/query_range?query=up&start=10&end=5&step=1".to_string(),
            true,
        ),
        (
            "/api/v1/query_range?query=up&end=5&step=1".to_string(),
            true,
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1".to_string(),
            true,
        ),
        ("/api/v1/series".to_string(), true),
        ("/api/v1/series?match[]=up&start=x".to_string(), false),
        (format!("/api/v1/series?match[]={}", enc(r#"{a=""}"#)), true),
        (format!("/api/v1/series?match[]={}", enc("up + 1")), true),
        (
            format!("/api/v1/series?match[]={}", enc("up offset 5m")),
            true,
        ),
        (format!("/api/v1/series?match[]={}", enc("sum(up)")), true),
        (
            format!("/api/v1/series?match[]={}", enc("rate(x[5m])")),
            true,
        ),
        (
            format!("/api/v1/series?match[]={}", enc(r#"x{a="}"}[5m]"#)),
            true,
        ),
        (format!("/api/v1/series?match[]={}", enc("1")), true),
        (format!("/api/v1/series?match[]={}", enc(" -up")), true),
        (format!("/api/v1/series?match[]={}", enc("(up)")), true),
        (format!("/api/v1/labels?match[]={}", enc("up{")), true),
        (
            format!("/api/v1/label/job/values?match[]={}", enc("{a=~\".*\"}")),
            true,
        ),
    ];
    let kind = |(code, body): &(u16, String)| {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        (*code, v["errorType"].as_str().unwrap_or("").to_string())
    };
    for (path, same_text) in &errors {
        let (a, b) = (ours.get(path), get(theirs.port, path));
        assert_ne!(a.0, 200, "{path}");
        if *same_text {
            assert_eq!(a, b, "{path}");
        } else {
            assert_eq!(kind(&a), kind(&b), "{path}: {a:?} {b:?}");
        }
    }
    eprintln!(
        "prometheus peer: {} requests byte-identical, {} errors with the same status and type",
        requests.len(),
        errors.len()
    );
}
