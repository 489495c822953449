//! XOR chunk encode and decode speed as the best of many short runs, next to the criterion
//! benchmark (`benches/chunks.rs`, same series and loops).
//!
//! On a shared machine other tenants' work lands in every criterion sample and lifts its
//! means; the fastest of many runs of the same work is what the code costs when it has the
//! core to itself, and it moves little from one invocation to the next. Runs go in blocks
//! of ten of one series and operation (the first warm the caches and branch predictors),
//! and the blocks of all series and operations take turns, so that a busy spell slows all
//! of them alike.
//!
//! ```text
//! cargo run --release -p narthex-chunkenc --example xor_best_of -- [RUNS]
//! ```
//!
//! Prints, per series, the best and the median of `RUNS` (default 300) runs over the
//! benchmark's 100 chunks of 120 samples, in ns per sample.

use std::hint::black_box;
use std::time::Instant;

#[path = "../benches/common/mod.rs"]
mod common;
use common::{CHUNKS, KINDS, decode_by_for_each, decode_by_next, encode, series};

/// Consecutive runs of one series and operation.
const BLOCK: usize = 10;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300)
        .max(1);
    let samples = (CHUNKS * narthex_chunkenc::SAMPLES_PER_CHUNK) as f64;
    let data: Vec<Vec<Vec<(i64, f64)>>> = KINDS.iter().map(|k| series(k)).collect();
    let chunks: Vec<Vec<Vec<u8>>> = data
        .iter()
        .map(|s| s.iter().map(|c| encode(c).into_bytes()).collect())
        .collect();
    // ns per sample of every run, by series and operation (encode, next, for_each).
    let mut ns = vec![[const { Vec::new() }; 3]; KINDS.len()];
    for _ in 0..runs.div_ceil(BLOCK) {
        for (k, times) in ns.iter_mut().enumerate() {
            let ops: [&dyn Fn(); 3] = [
                &|| {
                    for c in &data[k] {
                        black_box(encode(black_box(c)));
                    }
                },
                &|| {
                    black_box(decode_by_next(black_box(&chunks[k])));
                },
                &|| {
                    black_box(decode_by_for_each(black_box(&chunks[k])));
                },
            ];
            for (times, op) in times.iter_mut().zip(ops) {
                for _ in 0..BLOCK {
                    times.push(timed(samples, op));
                }
            }
        }
    }
    println!(
        "{} runs each; best (median) ns/sample",
        runs.div_ceil(BLOCK) * BLOCK
    );
    println!(
        "{:<10} {:>16} {:>16} {:>18}",
        "series", "encode", "decode (next)", "decode (for_each)"
    );
    for (kind, times) in KINDS.iter().zip(&mut ns) {
        let [e, n, f] = times.each_mut().map(|t| best_and_median(t));
        println!(
            "{kind:<10} {:>7.2} ({:>6.2}) {:>7.2} ({:>6.2}) {:>9.2} ({:>6.2})",
            e.0, e.1, n.0, n.1, f.0, f.1
        );
    }
}

/// ns per sample of one run of `work`.
fn timed(samples: f64, work: &dyn Fn()) -> f64 {
    let start = Instant::now();
    work();
    start.elapsed().as_secs_f64() * 1e9 / samples
}

fn best_and_median(ns: &mut [f64]) -> (f64, f64) {
    ns.sort_by(f64::total_cmp);
    (ns[0], ns[ns.len() / 2])
}
