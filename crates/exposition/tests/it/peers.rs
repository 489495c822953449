//! Real exporters from Debian's packages: `prometheus-node-exporter` and `prometheus`
//! serve their own `/metrics`; every format they offer must parse without error, and the
//! text, OpenMetrics and protobuf renderings of one scrape must describe the same series.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use narthex_exposition::{Entry, Format, ParseOptions};

/// A child process killed when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The binary, or `None` (loudly) when it is not installed outside CI.
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

/// GET `path` with an `Accept` header; returns the content type and body.
fn get(port: u16, path: &str, accept: &str) -> std::io::Result<(String, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(head));
    }
    let ct = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    Ok((ct, buf[split + 4..].to_vec()))
}

fn wait_ready(port: u16, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if get(port, path, "text/plain").is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("peer on port {port} did not become ready");
}

/// Series (name and sorted labels) to values, from every float sample.
type Series = BTreeMap<String, f64>;

fn series(format: Format, body: &[u8]) -> Series {
    let mut p = format.parser(body, ParseOptions::default());
    let mut out = Series::new();
    while let Some(e) = p.next_entry() {
        let e = e.unwrap_or_else(|e| panic!("{format:?}: {e}\n{}", String::from_utf8_lossy(body)));
        if let Entry::Sample(s) = e {
            out.insert(s.to_labels().to_string(), s.value);
        }
    }
    out
}

const PROTOBUF: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0";

/// Scrapes one endpoint in all three formats and compares.
fn scrape_all_formats(port: u16) {
    // A scrape's own handler counters can appear between the two requests.
    let volatile = |k: &String| k.contains("promhttp_metric_handler") || k.contains("http_request");
    // A program still starting registers metrics between two scrapes (Prometheus its
    // service discovery and TSDB gauges): compare a few times before calling a difference.
    let mut attempt = 0;
    let (text_series, proto_series, only_text, only_proto) = loop {
        attempt += 1;
        let (ct, text) = get(port, "/metrics", "text/plain;version=0.0.4").expect("text scrape");
        assert_eq!(
            Format::from_content_type(&ct),
            Some(Format::PrometheusText),
            "{ct}"
        );
        let text_series = series(Format::PrometheusText, &text);
        assert!(text_series.len() > 50, "only {} series", text_series.len());

        let (ct, proto) = get(port, "/metrics", PROTOBUF).expect("protobuf scrape");
        assert_eq!(
            Format::from_content_type(&ct),
            Some(Format::Protobuf),
            "{ct}"
        );
        let proto_series = series(Format::Protobuf, &proto);

        // Values of runtime gauges move between scrapes; the series sets must be equal,
        // and so must the values of series that cannot change (build info, constant
        // gauges).
        let names = |s: &Series| s.keys().cloned().collect::<Vec<_>>();
        let only_text: Vec<_> = names(&text_series)
            .into_iter()
            .filter(|k| !proto_series.contains_key(k))
            .collect();
        let only_proto: Vec<_> = names(&proto_series)
            .into_iter()
            .filter(|k| !text_series.contains_key(k))
            .collect();
        let settled = only_text.iter().all(volatile) && only_proto.iter().all(volatile);
        if settled || attempt == 5 {
            break (text_series, proto_series, only_text, only_proto);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        only_text.iter().all(volatile),
        "only in text: {only_text:?}"
    );
    assert!(
        only_proto.iter().all(volatile),
        "only in protobuf: {only_proto:?}"
    );
    for (k, v) in &text_series {
        if k.contains("build_info") || k.contains("go_info") {
            assert_eq!(proto_series.get(k), Some(v), "{k}");
        }
    }

    let (ct, om) = get(port, "/metrics", OPENMETRICS).expect("openmetrics scrape");
    match Format::from_content_type(&ct) {
        Some(Format::OpenMetrics) => {
            let om_series = series(Format::OpenMetrics, &om);
            // OpenMetrics adds `_created` series and names counters with `_total`.
            for k in text_series.keys().filter(|k| !volatile(k)) {
                assert!(om_series.contains_key(k), "{k} missing from OpenMetrics");
            }
            println!(
                "peer :{port}: {} series agree in text, protobuf and OpenMetrics",
                text_series.len()
            );
        }
        other => {
            assert_eq!(other, Some(Format::PrometheusText), "{ct}");
            println!(
                "peer :{port}: {} series agree in text and protobuf (no OpenMetrics offered)",
                text_series.len()
            );
        }
    }
}

#[test]
fn node_exporter_metrics_parse_in_every_format() {
    let Some(bin) = binary("prometheus-node-exporter") else {
        return;
    };
    let port = free_port();
    let _peer = Peer(
        Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node exporter"),
    );
    wait_ready(port, "/metrics");
    scrape_all_formats(port);
}

#[test]
fn prometheus_self_metrics_parse_in_every_format() {
    let Some(bin) = binary("prometheus") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("narthex-exp-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").expect("config");
    let port = free_port();
    let _peer = Peer(
        Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    wait_ready(port, "/-/ready");
    scrape_all_formats(port);
    drop(_peer);
    let _ = std::fs::remove_dir_all(&dir);
}
