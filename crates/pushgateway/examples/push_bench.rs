//! Push throughput of a Pushgateway (ours or another), for `scripts/bench-pushgateway`.
//!
//! ```text
//! push_bench serve ADDR [PERSISTENCE_FILE]
//!     runs narthex's gateway on ADDR (interval 5m; without a file, in memory only)
//! push_bench client ADDR GROUP_SERIES STORE_SERIES SECONDS CONCURRENCY
//!     fills the gateway with STORE_SERIES series (groups of 1,000), then CONCURRENCY
//!     clients PUT groups of GROUP_SERIES series (one group each, kept-alive HTTP/1.1
//!     connections) for SECONDS; prints pushes/s, series/s and latency percentiles
//! ```
//!
//! Plain `std` HTTP so that the client costs the same whatever the gateway.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") if args.len() >= 2 => serve(&args[1], args.get(2)),
        Some("client") if args.len() == 6 => {
            let n = |i: usize| -> usize { args[i].parse().expect("a number") };
            client(&args[1], n(2), n(3), n(4), n(5));
        }
        _ => {
            eprintln!(
                "usage: push_bench serve ADDR [FILE] | client ADDR GROUP_SERIES STORE_SERIES SECONDS CONCURRENCY"
            );
            std::process::exit(2);
        }
    }
}

fn serve(addr: &str, file: Option<&String>) {
    let options = narthex_pushgateway::Options {
        listen_address: addr.to_string(),
        persistence_file: file.map(Into::into),
        persistence_interval: Duration::from_secs(300),
    };
    if let Err(e) = narthex_pushgateway::run(options) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

/// One kept-alive HTTP/1.1 connection.
struct Conn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn new(addr: &str) -> Conn {
        let writer = TcpStream::connect(addr).expect("connect");
        writer.set_nodelay(true).unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Conn { writer, reader }
    }

    /// PUTs `body` to `path`; the status code.
    fn put(&mut self, path: &str, body: &[u8]) -> u16 {
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.writer.write_all(head.as_bytes()).unwrap();
        self.writer.write_all(body).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            assert!(!lower.starts_with("transfer-encoding"), "chunked answer");
        }
        let mut rest = vec![0; length];
        self.reader.read_exact(&mut rest).unwrap();
        status
    }
}

/// A text-format body of `series` gauges of the family `name`.
fn body(name: &str, series: usize) -> Vec<u8> {
    let mut out = format!("# HELP {name} Benchmark series.\n# TYPE {name} gauge\n");
    for i in 0..series {
        out.push_str(&format!(
            "{name}{{series=\"{i}\",kind=\"bench\"}} {}\n",
            i as f64 * 1.5
        ));
    }
    out.into_bytes()
}

fn client(addr: &str, group: usize, store: usize, seconds: usize, concurrency: usize) {
    let mut conn = Conn::new(addr);
    let fill = body("fill_metric", 1000.min(store));
    let start = Instant::now();
    for g in 0..store.div_ceil(1000) {
        assert_eq!(conn.put(&format!("/metrics/job/fill/g/{g}"), &fill), 200);
    }
    let fill_s = start.elapsed().as_secs_f64();
    let payload = body("bench_metric", group);
    let deadline = Instant::now() + Duration::from_secs(seconds as u64);
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..concurrency)
            .map(|w| {
                let payload = &payload;
                scope.spawn(move || {
                    let mut conn = Conn::new(addr);
                    let path = format!("/metrics/job/bench/worker/{w}");
                    let mut out = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        assert_eq!(conn.put(&path, payload), 200);
                        out.push(t.elapsed());
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    latencies.sort();
    let q = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let rate = latencies.len() as f64 / seconds as f64;
    println!(
        "group {group:>5} store {store:>6} clients {concurrency}: {rate:>8.1} pushes/s {:>10.0} series/s  p50 {:.2} ms  p99 {:.2} ms  (fill {fill_s:.1} s)",
        rate * group as f64,
        q(0.5),
        q(0.99),
    );
}
