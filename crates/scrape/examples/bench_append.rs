//! The scrape-to-append core alone (no HTTP): a 100k-series body parsed and appended to a
//! TSDB head again and again, as a scrape loop does once per interval. Prints CPU seconds
//! per million samples (this thread's CPU time, so other load on the machine matters less).
//!
//! ```text
//! cargo run --release -p narthex-scrape --example bench_append -- [--series 100000] [--scrapes 20]
//! ```

use narthex_exposition::Format;
use narthex_model::labels;
use narthex_scrape::{ScrapeCache, ScrapeOptions, populate};
use narthex_storage::Appendable;

fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let mut series = 100_000usize;
    let mut scrapes = 20i64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().expect("value");
        match a.as_str() {
            "--series" => series = v().parse().expect("--series"),
            "--scrapes" => scrapes = v().parse().expect("--scrapes"),
            other => panic!("unknown flag {other}"),
        }
    }
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
    let dir = tempfile::tempdir().expect("tmp");
    let db = narthex_tsdb::Db::open(dir.path(), narthex_tsdb::Options::default()).expect("db");
    let opts = ScrapeOptions {
        job: "bench".into(),
        interval: 15_000,
        ..ScrapeOptions::default()
    };
    let (_, t) = populate(
        &labels! { "__address__" => "127.0.0.1:9999" },
        &labels! {},
        &opts,
    );
    let target = t.expect("target").expect("kept");
    let mut cache = ScrapeCache::new();
    let mut run = |k: i64| {
        let mut app = db.appender();
        let stats = cache
            .append_body(
                &mut *app,
                body.as_bytes(),
                Format::PrometheusText,
                &target,
                &opts,
                k * 15_000,
            )
            .expect("append");
        cache
            .append_report(&mut *app, &target, k * 15_000, true, 0.1, &stats)
            .expect("report");
        app.commit().expect("commit");
        stats.post_relabel
    };
    // The first scrape creates the series; the steady state is what a loop costs.
    let c0 = thread_cpu_seconds();
    let n = run(0);
    let first = thread_cpu_seconds() - c0;
    let c0 = thread_cpu_seconds();
    let mut total = 0u64;
    for k in 1..=scrapes {
        total += run(k);
    }
    let cpu = thread_cpu_seconds() - c0;
    println!("first scrape ({n} new series): {first:.3} CPU s");
    println!(
        "steady state: {scrapes} scrapes, {total} samples, {cpu:.2} CPU s: {:.3} CPU s per million samples ({:.2} M samples/s per core)",
        cpu / total as f64 * 1e6,
        total as f64 / cpu / 1e6
    );
}
