//! Encode/decode throughput of remote write requests, in the shape Prometheus sends them:
//! a batch of 2000 samples, one sample per series, 10 labels per series.
//!
//! `cargo bench -p narthex-remote --bench codec` (add `-- --quick` for a fast look).
//! Throughput is counted in uncompressed protobuf bytes (the figure the "decode GB/s"
//! goal refers to); samples/s = bytes/s / (bytes per sample) is printed once at start.
//! The view rows (`narthex_remote::view`) validate the whole message; "+ walk" also reads
//! every label name and value (`&str`) and every sample through the iterators.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use narthex_model::{Label, Labels, Sample};
use narthex_remote::codec::{self, Protocol, TimeSeries, WriteRequest};
use narthex_remote::pb::{v1, v2};
use narthex_remote::view::RequestView;
use prost::Message;

fn request(n: usize) -> WriteRequest {
    let mut timeseries = Vec::with_capacity(n);
    for i in 0..n {
        let labels = Labels::from_labels(vec![
            Label::new("__name__", format!("http_requests_total_{}", i % 50)),
            Label::new("cluster", "eu-west-1"),
            Label::new("code", ["200", "404", "500"][i % 3]),
            Label::new("handler", format!("/api/v1/endpoint/{}", i % 20)),
            Label::new(
                "instance",
                format!("10.0.{}.{}:9100", i / 256 % 256, i % 256),
            ),
            Label::new("job", "node"),
            Label::new("method", ["GET", "POST"][i % 2]),
            Label::new("namespace", "monitoring"),
            Label::new("pod", format!("api-7d9f8b6c4-{i:05}")),
            Label::new("replica", "a"),
        ]);
        timeseries.push(TimeSeries {
            labels,
            samples: vec![Sample {
                timestamp: 1_700_000_000_000 + i as i64 * 15,
                value: i as f64 * 1.5,
            }],
            ..Default::default()
        });
    }
    WriteRequest {
        timeseries,
        metadata: vec![],
    }
}

fn bench(c: &mut Criterion) {
    let req = request(2000);
    for (p, name) in [(Protocol::V1, "v1"), (Protocol::V2, "v2")] {
        let raw = codec::encode(&req, p);
        let compressed = codec::compress(&raw);
        eprintln!(
            "{name}: 2000 samples, {} bytes protobuf ({} per sample), {} bytes snappy",
            raw.len(),
            raw.len() / 2000,
            compressed.len()
        );
        let mut g = c.benchmark_group(format!("remote_write_{name}"));
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function("encode via prost messages (model -> protobuf)", |b| {
            b.iter(|| codec::encode_prost(black_box(&req), p))
        });
        g.bench_function("encode (model -> protobuf)", |b| {
            b.iter(|| codec::encode(black_box(&req), p))
        });
        g.bench_function("decode prost (protobuf -> wire messages)", |b| {
            b.iter(|| match p {
                Protocol::V1 => {
                    black_box(v1::WriteRequest::decode(black_box(raw.as_slice())).unwrap());
                }
                Protocol::V2 => {
                    black_box(v2::Request::decode(black_box(raw.as_slice())).unwrap());
                }
            })
        });
        g.bench_function("decode via prost messages (protobuf -> model)", |b| {
            b.iter(|| codec::decode_prost(black_box(&raw), p).unwrap())
        });
        g.bench_function("decode (protobuf -> model)", |b| {
            b.iter(|| codec::decode(black_box(&raw), p).unwrap())
        });
        g.bench_function("view decode (protobuf -> validated borrowed view)", |b| {
            b.iter(|| {
                let v = RequestView::new(black_box(&raw), p).unwrap();
                black_box(v.num_samples())
            })
        });
        g.bench_function("view decode + walk (every label, sample)", |b| {
            b.iter(|| {
                let v = RequestView::new(black_box(&raw), p).unwrap();
                let (mut bytes, mut sum) = (0usize, 0.0f64);
                for ts in v.timeseries() {
                    for (n, val) in ts.labels() {
                        bytes += n.len() + val.len();
                    }
                    for s in ts.samples() {
                        sum += s.value + s.timestamp as f64;
                    }
                }
                black_box((bytes, sum))
            })
        });
        g.bench_function("snappy decompress + decode (body -> model)", |b| {
            b.iter(|| codec::decode_compressed(black_box(&compressed), p, usize::MAX).unwrap())
        });
        g.bench_function("snappy compress", |b| {
            b.iter(|| codec::compress(black_box(&raw)))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
