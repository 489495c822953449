//! XOR chunk encode and decode speed on realistic series, 120 samples per chunk.
//!
//! Run with `cargo bench -p narthex-chunkenc --bench chunks`. Throughput is reported in
//! samples; the bytes per sample of each series are printed before the measurements.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use narthex_chunkenc::SAMPLES_PER_CHUNK;
use narthex_chunkenc::histogram::{Histogram, HistogramAppender, HistogramIterator, Span};

mod common;
use common::{CHUNKS, KINDS, Reader, Rng, decode_by_for_each, decode_by_next, encode, series};

fn xor(c: &mut Criterion) {
    let kinds = KINDS;
    let samples = (CHUNKS * SAMPLES_PER_CHUNK) as u64;
    for kind in kinds {
        let data = series(kind);
        let bytes: usize = data.iter().map(|ch| encode(ch).bytes().len()).sum();
        println!(
            "xor {kind}: {:.3} bytes/sample ({} bytes per 120-sample chunk)",
            bytes as f64 / samples as f64,
            bytes / CHUNKS
        );
    }

    let mut g = c.benchmark_group("xor_encode");
    g.throughput(Throughput::Elements(samples));
    for kind in kinds {
        let data = series(kind);
        g.bench_with_input(BenchmarkId::from_parameter(kind), &data, |b, data| {
            b.iter(|| {
                for ch in data {
                    black_box(encode(black_box(ch)));
                }
            })
        });
    }
    g.finish();

    // Through `next` (a `for` loop), and through internal iteration (`for_each`), as the
    // TSDB reads whole chunks.
    let readers: [(&str, Reader); 2] = [
        ("xor_decode", decode_by_next),
        ("xor_decode_for_each", decode_by_for_each),
    ];
    for (group, read) in readers {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(samples));
        for kind in kinds {
            let chunks: Vec<Vec<u8>> = series(kind)
                .iter()
                .map(|ch| encode(ch).into_bytes())
                .collect();
            g.bench_with_input(BenchmarkId::from_parameter(kind), &chunks, |b, chunks| {
                b.iter(|| black_box(read(black_box(chunks))))
            });
        }
        g.finish();
    }
}

/// A native histogram with 20 buckets in two spans, as a typical latency histogram.
fn histograms() -> Vec<(i64, Histogram)> {
    let mut rng = Rng(7);
    let mut counts = [0i64; 20];
    let mut t = 1_700_000_000_000i64;
    (0..SAMPLES_PER_CHUNK)
        .map(|_| {
            t += 15_000;
            for c in counts.iter_mut() {
                *c += rng.below(10) as i64;
            }
            let mut prev = 0;
            let deltas: Vec<i64> = counts
                .iter()
                .map(|&c| {
                    let d = c - prev;
                    prev = c;
                    d
                })
                .collect();
            let total: i64 = counts.iter().sum();
            (
                t,
                Histogram {
                    schema: 3,
                    zero_threshold: 2f64.powi(-128),
                    count: total as u64,
                    sum: total as f64 * 0.042,
                    positive_spans: vec![
                        Span {
                            offset: 5,
                            length: 12,
                        },
                        Span {
                            offset: 3,
                            length: 8,
                        },
                    ],
                    positive_buckets: deltas,
                    ..Histogram::default()
                },
            )
        })
        .collect()
}

fn histogram(c: &mut Criterion) {
    let hs = histograms();
    let mut app = HistogramAppender::new();
    for (t, h) in &hs {
        app.append(*t, h).unwrap();
    }
    println!(
        "histogram (20 buckets): {:.1} bytes/sample",
        app.bytes().len() as f64 / hs.len() as f64
    );
    let bytes = app.into_bytes();
    let mut g = c.benchmark_group("histogram");
    g.throughput(Throughput::Elements(hs.len() as u64));
    g.bench_function("encode", |b| {
        b.iter(|| {
            let mut app = HistogramAppender::new();
            for (t, h) in &hs {
                app.append(*t, black_box(h)).unwrap();
            }
            black_box(app)
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for s in HistogramIterator::new(black_box(&bytes)) {
                n += s.unwrap().1.count;
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, xor, histogram);
criterion_main!(benches);
