//! The series the XOR benchmarks encode and decode, shared by `benches/chunks.rs` (criterion)
//! and `examples/xor_best_of.rs` (best of many runs).

#![allow(dead_code)]

use std::hint::black_box;

use narthex_chunkenc::{SAMPLES_PER_CHUNK, XorAppender, XorIterator};

/// The kinds of series [`series`] makes.
pub(crate) const KINDS: [&str; 4] = ["counter", "gauge", "constant", "random"];

/// Chunks per benchmark iteration.
pub(crate) const CHUNKS: usize = 100;

/// SplitMix64: deterministic and dependency-free.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `CHUNKS` chunks' worth of samples of one kind of series, scraped every 15s with a few
/// milliseconds of jitter.
pub(crate) fn series(kind: &str) -> Vec<Vec<(i64, f64)>> {
    let mut rng = Rng(42);
    let mut t = 1_700_000_000_000i64;
    let mut counter = 0.0f64;
    let mut gauge = 50.0f64;
    (0..CHUNKS)
        .map(|_| {
            (0..SAMPLES_PER_CHUNK)
                .map(|_| {
                    t += 15_000 + rng.below(11) as i64 - 5;
                    let v = match kind {
                        "counter" => {
                            counter += rng.below(100) as f64;
                            counter
                        }
                        "gauge" => {
                            // 0.1-step random walk, rounded to one decimal like a real gauge.
                            gauge += (rng.below(3) as f64 - 1.0) * 0.1;
                            (gauge * 10.0).round() / 10.0
                        }
                        "constant" => 1.0,
                        _ => rng.unit() * 1000.0,
                    };
                    (t, v)
                })
                .collect()
        })
        .collect()
}

pub(crate) fn encode(chunk: &[(i64, f64)]) -> XorAppender {
    let mut app = XorAppender::new();
    for &(t, v) in chunk {
        app.append(t, v).unwrap();
    }
    app
}

/// Reads a set of chunks, returning something computed from every sample.
pub(crate) type Reader = fn(&[Vec<u8>]) -> (i64, f64);

/// Sums every chunk's samples with a `for` loop over the iterator.
pub(crate) fn decode_by_next(chunks: &[Vec<u8>]) -> (i64, f64) {
    let (mut ts, mut acc) = (0i64, 0.0f64);
    for ch in chunks {
        for s in XorIterator::new(black_box(ch)) {
            let (t, v) = s.unwrap();
            ts ^= t;
            acc += v;
        }
    }
    (ts, acc)
}

/// Sums every chunk's samples with `for_each`.
pub(crate) fn decode_by_for_each(chunks: &[Vec<u8>]) -> (i64, f64) {
    let (mut ts, mut acc) = (0i64, 0.0f64);
    for ch in chunks {
        XorIterator::new(black_box(ch)).for_each(|s| {
            let (t, v) = s.unwrap();
            ts ^= t;
            acc += v;
        });
    }
    (ts, acc)
}
