//! The receiver over a real TSDB: status codes, 1.0 all-or-nothing and 2.0 partial
//! writes, histograms, and remote read.

use std::sync::Arc;

use narthex_model::{FloatHistogram, Histogram, Metadata, MetricType, Sample, Span, labels};
use narthex_remote::codec::{
    self, HistogramSample, HistogramValue, Protocol, TimeSeries, WriteRequest,
};
use narthex_remote::pb::v1;
use narthex_remote::{ReceiverOptions, read_router, router};
use narthex_storage::{Queryable, ValueType};
use prost::Message;

use crate::common::{floats, open_db, serve};

fn series(name: &str, job: &str, samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels!("__name__" => name, "job" => job),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { timestamp, value })
            .collect(),
        ..Default::default()
    }
}

async fn post(
    url: &str,
    ct: &str,
    enc: Option<&str>,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut rb = narthex_http::default_client()
        .expect("HTTP client")
        .post(format!("{url}/api/v1/write"))
        .header("Content-Type", ct)
        .body(body);
    if let Some(e) = enc {
        rb = rb.header("Content-Encoding", e);
    }
    let r = rb.send().await.expect("send");
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.text().await.expect("text"))
}

fn req(ts: Vec<TimeSeries>) -> WriteRequest {
    WriteRequest {
        timeseries: ts,
        metadata: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_v1_and_v2_into_tsdb() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let url = serve(router(db.clone())).await;

    let r1 = req(vec![series("m", "a", &[(1000, 1.0), (2000, 2.0)])]);
    let (s, _, b) = post(
        &url,
        codec::CONTENT_TYPE_V1,
        Some("snappy"),
        codec::encode_compressed(&r1, Protocol::V1),
    )
    .await;
    assert_eq!(s, 204, "{b}");

    let mut r2 = req(vec![series("m", "b", &[(1000, 3.0)])]);
    r2.timeseries[0].metadata = Some(Metadata {
        metric_type: MetricType::Gauge,
        help: "help".into(),
        unit: String::new(),
    });
    r2.timeseries.push(TimeSeries {
        labels: labels!("__name__" => "h"),
        histograms: vec![
            HistogramSample {
                timestamp: 1000,
                value: HistogramValue::Int(Histogram {
                    schema: 0,
                    count: 3,
                    sum: 4.5,
                    zero_count: 1,
                    zero_threshold: 0.001,
                    positive_spans: vec![Span {
                        offset: 0,
                        length: 2,
                    }],
                    positive_buckets: vec![1, 0],
                    ..Default::default()
                }),
            },
            HistogramSample {
                timestamp: 2000,
                value: HistogramValue::Float(FloatHistogram {
                    schema: 0,
                    count: 4.0,
                    sum: 5.0,
                    zero_count: 1.0,
                    zero_threshold: 0.001,
                    positive_spans: vec![Span {
                        offset: 0,
                        length: 2,
                    }],
                    positive_buckets: vec![1.0, 2.0],
                    ..Default::default()
                }),
            },
        ],
        ..Default::default()
    });
    let (s, h, b) = post(
        &url,
        codec::CONTENT_TYPE_V2,
        Some("snappy"),
        codec::encode_compressed(&r2, Protocol::V2),
    )
    .await;
    assert_eq!(s, 204, "{b}");
    assert_eq!(h[codec::SAMPLES_WRITTEN_HEADER], "1");
    assert_eq!(h[codec::HISTOGRAMS_WRITTEN_HEADER], "2");
    assert_eq!(h[codec::EXEMPLARS_WRITTEN_HEADER], "0");

    let got: Vec<(String, i64, f64)> = floats(&db, "m")
        .into_iter()
        .map(|(l, t, v)| (l.get("job").unwrap().to_string(), t, v))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), 1000, 1.0),
            ("a".into(), 2000, 2.0),
            ("b".into(), 1000, 3.0)
        ]
    );
    let q = db.querier(0, 10_000).unwrap();
    let m = narthex_model::Matcher::new(narthex_model::MatchOp::Equal, "__name__", "h").unwrap();
    let mut kinds = vec![];
    for s in q.select(true, None, &[m]).unwrap() {
        let s = s.unwrap();
        let mut it = s.iter();
        loop {
            match it.next() {
                ValueType::None => break,
                ValueType::Histogram => kinds.push((it.at_histogram().0, "int")),
                ValueType::FloatHistogram => kinds.push((it.at_float_histogram().0, "float")),
                ValueType::Float => kinds.push((it.at().0, "f")),
            }
        }
    }
    assert_eq!(kinds, vec![(1000, "int"), (2000, "float")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_specs_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let url = serve(router(db.clone())).await;
    let body = codec::encode_compressed(&req(vec![series("m", "a", &[(1, 1.0)])]), Protocol::V1);

    let (s, _, _) = post(&url, "application/json", Some("snappy"), body.clone()).await;
    assert_eq!(s, 415);
    let (s, _, _) = post(
        &url,
        "application/x-protobuf;proto=foo.Bar",
        Some("snappy"),
        body.clone(),
    )
    .await;
    assert_eq!(s, 415);
    let (s, _, _) = post(&url, codec::CONTENT_TYPE_V1, Some("gzip"), body.clone()).await;
    assert_eq!(s, 415);
    let (s, _, b) = post(
        &url,
        codec::CONTENT_TYPE_V1,
        Some("snappy"),
        b"\x05garbage".to_vec(),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b.contains("snappy"), "{b}");
    let (s, _, b) = post(
        &url,
        codec::CONTENT_TYPE_V2,
        Some("snappy"),
        codec::compress(b"\x0a\xff\xff"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b.contains("protobuf"), "{b}");
    // A 2.0 body with a dangling symbol reference.
    let bad = narthex_remote::pb::v2::Request {
        symbols: vec!["".into()],
        timeseries: vec![narthex_remote::pb::v2::TimeSeries {
            labels_refs: vec![1, 2],
            ..Default::default()
        }],
    };
    let (s, _, b) = post(
        &url,
        codec::CONTENT_TYPE_V2,
        Some("snappy"),
        codec::compress(&bad.encode_to_vec()),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b.contains("symbol reference"), "{b}");
    assert!(floats(&db, "m").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_v1_rejects_all_v2_writes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let url = serve(router(db.clone())).await;
    let first = req(vec![series("m", "a", &[(5000, 1.0)])]);
    let (s, _, _) = post(
        &url,
        codec::CONTENT_TYPE_V1,
        Some("snappy"),
        codec::encode_compressed(&first, Protocol::V1),
    )
    .await;
    assert_eq!(s, 204);

    // 1.0: the out-of-order sample fails the whole request; the good one is not kept.
    let mixed = req(vec![
        series("m", "b", &[(1000, 7.0)]),
        series("m", "a", &[(4000, 2.0)]),
    ]);
    let (s, _, b) = post(
        &url,
        codec::CONTENT_TYPE_V1,
        Some("snappy"),
        codec::encode_compressed(&mixed, Protocol::V1),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("out of order"), "{b}");
    assert_eq!(floats(&db, "m").len(), 1);

    // 2.0: partial write, 400 naming the rejected sample, headers count what was written.
    let (s, h, b) = post(
        &url,
        codec::CONTENT_TYPE_V2,
        Some("snappy"),
        codec::encode_compressed(&mixed, Protocol::V2),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("out of order"), "{b}");
    assert_eq!(h[codec::SAMPLES_WRITTEN_HEADER], "1");
    let jobs: Vec<String> = floats(&db, "m")
        .into_iter()
        .map(|(l, t, _)| format!("{}@{t}", l.get("job").unwrap()))
        .collect();
    assert_eq!(jobs, vec!["a@5000", "b@1000"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_read_returns_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let url =
        serve(router(db.clone()).merge(read_router(db.clone(), ReceiverOptions::default()))).await;
    let w = req(vec![
        series("m", "a", &[(1000, 1.0), (2000, 2.0), (3000, 3.0)]),
        series("m", "b", &[(1000, 10.0)]),
        series("other", "a", &[(1000, 5.0)]),
    ]);
    let (s, _, _) = post(
        &url,
        codec::CONTENT_TYPE_V1,
        Some("snappy"),
        codec::encode_compressed(&w, Protocol::V1),
    )
    .await;
    assert_eq!(s, 204);

    let rr = v1::ReadRequest {
        queries: vec![
            v1::Query {
                start_timestamp_ms: 1500,
                end_timestamp_ms: 3000,
                matchers: vec![
                    v1::LabelMatcher {
                        r#type: 0,
                        name: "__name__".into(),
                        value: "m".into(),
                    },
                    v1::LabelMatcher {
                        r#type: 2,
                        name: "job".into(),
                        value: "a|b".into(),
                    },
                ],
                hints: None,
            },
            v1::Query {
                start_timestamp_ms: 0,
                end_timestamp_ms: 10_000,
                matchers: vec![v1::LabelMatcher {
                    r#type: 1,
                    name: "__name__".into(),
                    value: "m".into(),
                }],
                hints: None,
            },
        ],
        accepted_response_types: vec![0],
    };
    let r = narthex_http::default_client()
        .expect("HTTP client")
        .post(format!("{url}/api/v1/read"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(codec::compress(&rr.encode_to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = r.bytes().await.unwrap();
    let resp =
        v1::ReadResponse::decode(codec::decompress(&body, 1 << 20).unwrap().as_slice()).unwrap();
    assert_eq!(resp.results.len(), 2);
    let q0: Vec<(String, Vec<i64>)> = resp.results[0]
        .timeseries
        .iter()
        .map(|ts| {
            let job = ts
                .labels
                .iter()
                .find(|l| l.name == "job")
                .unwrap()
                .value
                .clone();
            (job, ts.samples.iter().map(|s| s.timestamp).collect())
        })
        .collect();
    assert_eq!(q0, vec![("a".to_string(), vec![2000, 3000])]);
    assert_eq!(resp.results[1].timeseries.len(), 1);
    assert_eq!(resp.results[1].timeseries[0].samples[0].value, 5.0);

    // STREAMED_XOR_CHUNKS: frames of (uvarint length, CRC-32C, ChunkedReadResponse).
    let streamed = v1::ReadRequest {
        accepted_response_types: vec![1, 0],
        ..rr.clone()
    };
    let r = narthex_http::default_client()
        .expect("HTTP client")
        .post(format!("{url}/api/v1/read"))
        .body(codec::compress(&streamed.encode_to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        narthex_remote::receiver::STREAMED_CONTENT_TYPE
    );
    let body = r.bytes().await.unwrap();
    let mut frames = vec![];
    let mut b = &body[..];
    while !b.is_empty() {
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let x = b[0];
            b = &b[1..];
            len |= ((x & 0x7f) as usize) << shift;
            shift += 7;
            if x < 0x80 {
                break;
            }
        }
        let crc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let msg = &b[4..4 + len];
        assert_eq!(crc32c::crc32c(msg), crc);
        frames.push(v1::ChunkedReadResponse::decode(msg).unwrap());
        b = &b[4 + len..];
    }
    let mut got = vec![];
    for f in &frames {
        for cs in &f.chunked_series {
            let job = cs
                .labels
                .iter()
                .find(|l| l.name == "job")
                .unwrap()
                .value
                .clone();
            for c in &cs.chunks {
                assert_eq!(c.r#type, 1);
                let ts: Vec<i64> = narthex_chunkenc::XorIterator::new(&c.data)
                    .map(|x| x.unwrap().0)
                    .collect();
                assert_eq!((c.min_time_ms, c.max_time_ms), (ts[0], *ts.last().unwrap()));
                got.push((f.query_index, job.clone(), ts));
            }
        }
    }
    assert_eq!(
        got,
        vec![
            (0, "a".to_string(), vec![2000, 3000]),
            (1, "a".to_string(), vec![1000])
        ]
    );

    // Only an unknown response type accepted: 400.
    let unknown = v1::ReadRequest {
        accepted_response_types: vec![7],
        ..rr
    };
    let r = narthex_http::default_client()
        .expect("HTTP client")
        .post(format!("{url}/api/v1/read"))
        .body(codec::compress(&unknown.encode_to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[test]
fn appendable_is_object_safe() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let _r = router(db as Arc<dyn narthex_storage::Appendable + Send + Sync>);
}

fn parse_frames(body: &[u8]) -> Vec<v1::ChunkedReadResponse> {
    let mut frames = vec![];
    let mut b = body;
    while !b.is_empty() {
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let x = b[0];
            b = &b[1..];
            len |= ((x & 0x7f) as usize) << shift;
            shift += 7;
            if x < 0x80 {
                break;
            }
        }
        let crc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let msg = &b[4..4 + len];
        assert_eq!(crc32c::crc32c(msg), crc);
        frames.push(v1::ChunkedReadResponse::decode(msg).unwrap());
        b = &b[4 + len..];
    }
    frames
}

/// Streamed remote read of a series with floats, integer and float histograms, and
/// enough samples to cut several chunks: the chunks decode to exactly what was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_read_with_histograms() {
    use narthex_chunkenc::histogram::{FloatHistogramIterator, HistogramIterator};
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let url =
        serve(router(db.clone()).merge(read_router(db.clone(), ReceiverOptions::default()))).await;
    let h = |i: u64| Histogram {
        schema: 0,
        count: 2 * i + 1,
        sum: i as f64,
        zero_count: 1,
        zero_threshold: 0.001,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![i as i64, 0],
        ..Default::default()
    };
    let mut ts = TimeSeries {
        labels: labels!("__name__" => "mixed"),
        ..Default::default()
    };
    // 300 floats, then 150 integer histograms, then 50 float histograms.
    ts.samples = (0..300)
        .map(|i| Sample {
            timestamp: i,
            value: i as f64,
        })
        .collect();
    ts.histograms = (300..450)
        .map(|i| HistogramSample {
            timestamp: i,
            value: HistogramValue::Int(h(i as u64)),
        })
        .chain((450..500).map(|i| HistogramSample {
            timestamp: i,
            value: HistogramValue::Float(FloatHistogram {
                sum: 0.5,
                ..h(i as u64).to_float()
            }),
        }))
        .collect();
    // Floats and histograms of one series in separate requests (the TSDB appends in
    // time order per series).
    let floats_only = TimeSeries {
        histograms: vec![],
        ..ts.clone()
    };
    let hists_only = TimeSeries {
        samples: vec![],
        ..ts.clone()
    };
    for r in [floats_only, hists_only] {
        let (s, _, b) = post(
            &url,
            codec::CONTENT_TYPE_V2,
            Some("snappy"),
            codec::encode_compressed(&req(vec![r]), Protocol::V2),
        )
        .await;
        assert_eq!(s, 204, "{b}");
    }
    let rr = v1::ReadRequest {
        queries: vec![v1::Query {
            start_timestamp_ms: 0,
            end_timestamp_ms: 1000,
            matchers: vec![v1::LabelMatcher {
                r#type: 0,
                name: "__name__".into(),
                value: "mixed".into(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![1],
    };
    let r = narthex_http::default_client()
        .expect("HTTP client")
        .post(format!("{url}/api/v1/read"))
        .body(codec::compress(&rr.encode_to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let frames = parse_frames(&r.bytes().await.unwrap());
    let mut got = vec![];
    let mut kinds = vec![];
    for f in &frames {
        for c in &f.chunked_series[0].chunks {
            let before = got.len();
            match c.r#type {
                1 => got.extend(narthex_chunkenc::XorIterator::new(&c.data).map(|x| {
                    let (t, v) = x.unwrap();
                    format!("{t} f {v}")
                })),
                2 => got.extend(HistogramIterator::new(&c.data).map(|x| {
                    let (t, h) = x.unwrap();
                    format!("{t} h {} {}", h.count, h.sum)
                })),
                3 => got.extend(FloatHistogramIterator::new(&c.data).map(|x| {
                    let (t, h) = x.unwrap();
                    format!("{t} fh {} {}", h.count, h.sum)
                })),
                t => panic!("chunk type {t}"),
            }
            let first: i64 = got[before].split(' ').next().unwrap().parse().unwrap();
            let last: i64 = got
                .last()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!((c.min_time_ms, c.max_time_ms), (first, last));
            kinds.push((c.r#type, got.len() - before));
        }
    }
    let want: Vec<String> = (0..300)
        .map(|i| format!("{i} f {}", i as f64))
        .chain((300..450).map(|i| format!("{i} h {} {}", 2 * i + 1, i as f64)))
        .chain((450..500).map(|i| format!("{i} fh {} 0.5", (2 * i + 1) as f64)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        kinds,
        vec![(1, 120), (1, 120), (1, 60), (2, 120), (2, 30), (3, 50)]
    );
}

/// Start timestamps travel end to end over 2.0: samples appended with them to one TSDB
/// (its WAL writes them in version 2 records) are shipped by the sender as created
/// timestamps (one series entry per start timestamp) and kept by the receiver as the
/// samples' start timestamps in another TSDB; over 1.0, which has no such field, they
/// are not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_timestamps_travel_as_created_timestamps() {
    use narthex_remote::{QueueConfig, QueueManager, RemoteWriteOptions};
    use narthex_storage::{Appendable, SeriesRef};
    use std::time::Duration;

    let (src_dir, v2_dir, v1_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let src = open_db(src_dir.path());
    let (v2_db, v1_db) = (open_db(v2_dir.path()), open_db(v1_dir.path()));
    let mut queues = Vec::new();
    for (db, protocol) in [(&v2_db, Protocol::V2), (&v1_db, Protocol::V1)] {
        let url = serve(router(db.clone())).await;
        let mut o = RemoteWriteOptions::new(format!("{url}/api/v1/write"));
        o.protocol = protocol;
        o.queue_config = QueueConfig {
            batch_send_deadline: Duration::from_millis(50),
            ..QueueConfig::default()
        };
        queues.push(QueueManager::start(src_dir.path().join("wal"), o).expect("queue"));
    }
    // A counter created at 500 that resets at 3500 (a new start), and a gauge without;
    // all after the queues started (a fresh queue skips older samples while it reads the
    // WAL written before it started).
    let now = crate::common::now_ms() + 10_000;
    let counter = labels!("__name__" => "requests_total");
    let gauge = labels!("__name__" => "temperature");
    let mut app = src.appender();
    let mut r = SeriesRef::UNKNOWN;
    let want = [
        (1000, now - 9500),
        (2000, now - 9500),
        (4000, now - 6500),
        (5000, now - 6500),
    ];
    for (i, (dt, st)) in want.iter().enumerate() {
        r = app
            .append_with_st(r, &counter, now - 10_000 + dt, *st, i as f64)
            .expect("append");
        app.append(SeriesRef::UNKNOWN, &gauge, now - 10_000 + dt, 20.0)
            .expect("gauge");
    }
    app.commit().expect("commit");

    let read = |db: &narthex_tsdb::Db, name: &str| -> Vec<(i64, i64)> {
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        let m =
            narthex_model::Matcher::new(narthex_model::MatchOp::Equal, "__name__", name).unwrap();
        let mut out = vec![];
        for s in q.select(true, None, &[m]).unwrap() {
            let s = s.unwrap();
            let mut it = s.iter();
            while it.next() == ValueType::Float {
                out.push((it.at().0 - (now - 10_000), it.at_st()));
            }
        }
        out
    };
    let arrived = |db: &narthex_tsdb::Db| {
        read(db, "requests_total").len() == 4 && read(db, "temperature").len() == 4
    };
    assert!(
        crate::common::wait_for(Duration::from_secs(20), || arrived(&v2_db)
            && arrived(&v1_db))
        .await,
        "everything arrived"
    );
    let expect: Vec<(i64, i64)> = want.to_vec();
    assert_eq!(
        read(&v2_db, "requests_total"),
        expect,
        "2.0 keeps start timestamps"
    );
    assert!(read(&v2_db, "temperature").iter().all(|&(_, st)| st == 0));
    assert!(
        read(&v1_db, "requests_total")
            .iter()
            .all(|&(_, st)| st == 0),
        "1.0 has none"
    );
    for q in queues {
        q.stop().await;
    }
}
