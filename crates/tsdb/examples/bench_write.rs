//! The write benchmark of `promtool tsdb bench write`, on Narthex's TSDB.
//!
//! Same input (label sets from `20kseries.json`, one JSON object per line), same schedule:
//! series are split into shards of 1,000; every wave of 100 scrapes runs the shards in
//! parallel threads; each scrape appends one sample per series 30 s after the previous one
//! (value starting at 123456789, +1000 per scrape) and commits, with the WAL on.
//!
//! ```text
//! cargo run --release -p narthex-tsdb --example bench_write -- \
//!     --metrics 20000 --scrapes 3000 --out /tmp/benchout ../shared/conformance/tsdb/20kseries.json
//! ```
//!
//! `--steady-state-memory` then truncates the head to its last 3 hours (as compaction
//! would) and reports the live heap per series again; it checkpoints the WAL, so leave it
//! off when comparing CPU time and peak memory with promtool.
//!
//! By default every shard of a wave runs on its own OS thread (20 threads for 20,000
//! series), the literal reading of promtool's one goroutine per shard. `--workers N` runs
//! the shards of a wave on N threads instead, each taking the next shard when done with
//! one: closer to how Go runs those goroutines (on GOMAXPROCS threads, switching only when
//! one blocks) and to how a Rust program would (a pool sized to the cores). Same samples,
//! same timestamps, same commits; only the threads differ.

#![allow(unsafe_code)] // The counting allocator below; the database itself has no unsafe code.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use narthex_model::Labels;
use narthex_storage::{Appendable, SeriesRef};
use narthex_tsdb::{Db, Options};

const TIME_DELTA: i64 = 30_000;

/// Counts live heap bytes, so the benchmark can report what the database itself holds.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments
// unchanged; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Reads `{"name":"value",...}` lines: flat string objects only, as in `20kseries.json`.
fn parse_line(line: &str) -> Option<Labels> {
    let body = line.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut pairs = BTreeMap::new();
    let mut rest = body;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if rest.is_empty() {
            break;
        }
        let (k, r) = json_string(rest)?;
        let r = r.trim_start().strip_prefix(':')?.trim_start();
        let (v, r) = json_string(r)?;
        pairs.insert(k, v);
        rest = r;
    }
    Some(Labels::from_pairs(pairs))
}

fn json_string(s: &str) -> Option<(String, &str)> {
    let s = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
    None
}

/// Resident set size of this process in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// `n` scrapes of one shard, one commit each, after `base`; returns the samples appended.
fn scrape_shard(
    db: &Db,
    shard: &[Labels],
    refs: &mut [SeriesRef],
    values: &mut [i64],
    base: i64,
    n: usize,
) -> u64 {
    let mut ts = base;
    let mut count = 0u64;
    for _ in 0..n {
        ts += TIME_DELTA;
        let mut app = db.appender();
        for (i, l) in shard.iter().enumerate() {
            values[i] += 1000;
            refs[i] = app
                .append(refs[i], l, ts, values[i] as f64)
                .expect("append");
            count += 1;
        }
        app.commit().expect("commit");
    }
    count
}

/// One wave on `workers` threads taking shards from a shared queue (as Go runs goroutines
/// on GOMAXPROCS threads): each shard's scrapes run in order on whichever thread took it.
fn run_wave_on_workers(
    db: &Db,
    shards: &[&[Labels]],
    refs: &mut [Vec<SeriesRef>],
    values: &mut [Vec<i64>],
    base: i64,
    n: usize,
    workers: usize,
) -> u64 {
    let queue = std::sync::Mutex::new(
        shards
            .iter()
            .zip(refs.iter_mut())
            .zip(values.iter_mut())
            .collect::<Vec<_>>(),
    );
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                let queue = &queue;
                scope.spawn(move || {
                    let mut count = 0u64;
                    loop {
                        let job = queue.lock().expect("queue").pop();
                        let Some(((shard, refs), values)) = job else {
                            break;
                        };
                        count += scrape_shard(db, shard, refs, values, base, n);
                    }
                    count
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread"))
            .sum()
    })
}

fn main() {
    let mut metrics = 10_000usize;
    let mut scrapes = 3_000usize;
    let mut out = PathBuf::from("benchout");
    let mut file = None;
    let mut steady_state = false;
    let mut workers: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--metrics" => {
                metrics = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--metrics N")
            }
            "--scrapes" => {
                scrapes = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--scrapes N")
            }
            "--out" => out = PathBuf::from(args.next().expect("--out DIR")),
            "--steady-state-memory" => steady_state = true,
            "--workers" => {
                workers = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .expect("--workers N"),
                )
            }
            _ => file = Some(a),
        }
    }
    let file = file.unwrap_or_else(|| "../shared/conformance/tsdb/20kseries.json".into());
    let t0 = Instant::now();
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let labels: Vec<Labels> = text.lines().filter_map(parse_line).take(metrics).collect();
    println!(
        ">> completed stage=readData series={} duration={:?}",
        labels.len(),
        t0.elapsed()
    );

    let rss_before = rss_kib();
    let heap_before = LIVE.load(Ordering::Relaxed);
    let _ = std::fs::remove_dir_all(&out);
    // promtool's benchmark leaves WAL compression at its zero value: off.
    let db = Db::open(
        &out,
        Options {
            wal_compression: false,
            ..Options::default()
        },
    )
    .expect("open");
    let t1 = Instant::now();
    let shards: Vec<&[Labels]> = labels.chunks(1000).collect();
    let mut refs: Vec<Vec<SeriesRef>> = shards
        .iter()
        .map(|s| vec![SeriesRef::UNKNOWN; s.len()])
        .collect();
    let mut values: Vec<Vec<i64>> = shards.iter().map(|s| vec![123_456_789; s.len()]).collect();
    let mut total = 0u64;
    for wave in (0..scrapes).step_by(100) {
        let n = (scrapes - wave).min(100);
        let base = TIME_DELTA * wave as i64;
        if let Some(workers) = workers {
            total += run_wave_on_workers(&db, &shards, &mut refs, &mut values, base, n, workers);
            continue;
        }
        let counts: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = shards
                .iter()
                .zip(refs.iter_mut())
                .zip(values.iter_mut())
                .map(|((shard, refs), values)| {
                    let db = &db;
                    scope.spawn(move || scrape_shard(db, shard, refs, values, base, n))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("shard thread"))
                .collect()
        });
        total += counts.iter().sum::<u64>();
    }
    let secs = t1.elapsed().as_secs_f64();
    println!("ingestion completed");
    println!(" > total samples: {total}");
    println!(" > samples/sec: {:.0}", total as f64 / secs);
    println!(">> completed stage=ingestScrapes duration={secs:.3}s");
    println!(" > series: {}", db.num_series());
    // Memory the database added, per series (the input label sets are excluded: they were
    // read before the database was opened).
    let rss = rss_kib();
    let series = db.num_series().max(1);
    let heap = LIVE.load(Ordering::Relaxed).saturating_sub(heap_before);
    println!(
        " > resident memory: {} MiB ({} bytes per series); live heap {} bytes per series",
        rss / 1024,
        rss.saturating_sub(rss_before) * 1024 / series as u64,
        heap / series
    );
    // What a long-running head holds: Prometheus keeps about the last 3 hours in the head
    // (older data is compacted into blocks); drop the rest and measure again.
    if let Some((_, maxt)) = db.time_range().filter(|_| steady_state) {
        db.truncate_head(maxt - 3 * 3600 * 1000).expect("truncate");
        let heap = LIVE.load(Ordering::Relaxed).saturating_sub(heap_before);
        println!(
            " > live heap with the last 3 hours in the head: {} bytes per series",
            heap / series
        );
    }
    db.close().expect("close");
}
