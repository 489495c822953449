//! Codec: golden bytes, round trips (property tests), and hostile input.

use narthex_model::{
    CounterResetHint, Exemplar, FloatHistogram, Histogram, Label, Labels, Metadata, MetricType,
    Sample, Span, labels,
};
use narthex_remote::codec::{
    self, FamilyMetadata, HistogramSample, HistogramValue, Protocol, TimeSeries, WriteRequest,
};
use narthex_remote::pb::{v1, v2};
use proptest::prelude::*;
use prost::Message;

fn tiny() -> WriteRequest {
    WriteRequest {
        timeseries: vec![TimeSeries {
            labels: labels!("__name__" => "up"),
            samples: vec![Sample {
                timestamp: 1000,
                value: 1.0,
            }],
            ..Default::default()
        }],
        metadata: vec![],
    }
}

/// Bytes computed by hand from `prompb/types.proto` and `remote.proto` (and identical to
/// what Prometheus's gogo-generated `Marshal` produces for the same message).
#[rustfmt::skip]
const GOLDEN_V1: &[u8] = &[
    0x0a, 0x1e,                                 // WriteRequest.timeseries, 30 bytes
      0x0a, 0x0e,                               //   TimeSeries.labels, 14 bytes
        0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', // name
        0x12, 0x02, b'u', b'p',                 //     value
      0x12, 0x0c,                               //   TimeSeries.samples, 12 bytes
        0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,     //     value 1.0 (fixed64)
        0x10, 0xe8, 0x07,                       //     timestamp 1000 (varint)
];

/// The same series as an `io.prometheus.write.v2.Request`.
#[rustfmt::skip]
const GOLDEN_V2: &[u8] = &[
    0x22, 0x00,                                 // symbols[0] = ""
    0x22, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', // symbols[1]
    0x22, 0x02, b'u', b'p',                     // symbols[2]
    0x2a, 0x12,                                 // timeseries, 18 bytes
      0x0a, 0x02, 0x01, 0x02,                   //   labels_refs (packed) [1, 2]
      0x12, 0x0c,                               //   samples, 12 bytes
        0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,
        0x10, 0xe8, 0x07,
];

#[test]
fn golden_bytes_v1_and_v2() {
    assert_eq!(codec::encode(&tiny(), Protocol::V1), GOLDEN_V1);
    assert_eq!(codec::encode(&tiny(), Protocol::V2), GOLDEN_V2);
    assert_eq!(codec::decode(GOLDEN_V1, Protocol::V1).unwrap(), tiny());
    assert_eq!(codec::decode(GOLDEN_V2, Protocol::V2).unwrap(), tiny());
    // Snappy block format: varint length, then one literal (tag (32-1)<<2).
    let c = codec::compress(GOLDEN_V1);
    assert_eq!(&c[..2], &[0x20, 0x7c]);
    assert_eq!(&c[2..], GOLDEN_V1);
    assert_eq!(codec::decompress(&c, 1 << 20).unwrap(), GOLDEN_V1);
}

#[test]
fn golden_histogram_fields() {
    // A float histogram uses count_float (2), zero_count_float (7), positive_counts (13);
    // schema is sint32 (zigzag) and spans are (sint32, uint32).
    let h = codec::histogram_to_wire(
        5,
        &HistogramValue::Float(FloatHistogram {
            schema: -1,
            count: 2.0,
            zero_count: 0.0,
            positive_spans: vec![Span {
                offset: -2,
                length: 1,
            }],
            positive_buckets: vec![2.0],
            counter_reset_hint: CounterResetHint::Gauge,
            ..Default::default()
        }),
    );
    let b = h.encode_to_vec();
    #[rustfmt::skip]
    let want: &[u8] = &[
        0x11, 0, 0, 0, 0, 0, 0, 0, 0x40,  // count_float 2.0
        0x20, 0x01,                       // schema -1 (zigzag 1)
        0x39, 0, 0, 0, 0, 0, 0, 0, 0,     // zero_count_float 0.0 (oneof: always written)
        0x5a, 0x04, 0x08, 0x03, 0x10, 0x01, // positive_spans {offset -2 (zigzag 3), length 1}
        0x6a, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x40, // positive_counts [2.0] (packed)
        0x70, 0x03,                       // reset_hint GAUGE
        0x78, 0x05,                       // timestamp 5
    ];
    assert_eq!(b, want);
}

#[test]
fn content_types_negotiate() {
    use Protocol::*;
    assert_eq!(Protocol::from_content_type(""), Some(V1));
    assert_eq!(
        Protocol::from_content_type("application/x-protobuf"),
        Some(V1)
    );
    assert_eq!(
        Protocol::from_content_type("application/x-protobuf;proto=prometheus.WriteRequest"),
        Some(V1)
    );
    assert_eq!(
        Protocol::from_content_type(codec::CONTENT_TYPE_V2),
        Some(V2)
    );
    assert_eq!(
        Protocol::from_content_type("application/x-protobuf; proto=io.prometheus.write.v2.Request"),
        Some(V2)
    );
    assert_eq!(Protocol::from_content_type("application/json"), None);
    assert_eq!(
        Protocol::from_content_type("application/x-protobuf;proto=foo.Bar"),
        None
    );
}

#[test]
fn v2_rejects_bad_references() {
    let bad = v2::Request {
        symbols: vec!["".into(), "a".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 7],
            ..Default::default()
        }],
    };
    assert!(matches!(
        codec::from_v2(&bad),
        Err(codec::Error::SymbolRef { reference: 7, .. })
    ));
    let odd = v2::Request {
        symbols: vec!["".into(), "a".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1],
            ..Default::default()
        }],
    };
    assert!(matches!(
        codec::from_v2(&odd),
        Err(codec::Error::OddLabelRefs(1))
    ));
    let first = v2::Request {
        symbols: vec!["x".into()],
        timeseries: vec![],
    };
    assert_eq!(
        codec::from_v2(&first),
        Err(codec::Error::FirstSymbolNotEmpty)
    );
    let dup = v1::WriteRequest {
        timeseries: vec![v1::TimeSeries {
            labels: vec![
                v1::Label {
                    name: "a".into(),
                    value: "1".into(),
                },
                v1::Label {
                    name: "a".into(),
                    value: "2".into(),
                },
            ],
            ..Default::default()
        }],
        metadata: vec![],
    };
    assert!(matches!(
        codec::from_v1(&dup),
        Err(codec::Error::InvalidLabels(_))
    ));
}

#[test]
fn decompression_limit() {
    let big = codec::compress(&vec![0u8; 100_000]);
    assert!(matches!(
        codec::decompress(&big, 1000),
        Err(codec::Error::TooLarge { len: 100_000, .. })
    ));
}

// --------------------------------------------------------------------------------------
// Property tests.

fn label_set() -> impl Strategy<Value = Labels> {
    (
        "[a-z_:]{1,8}",
        prop::collection::vec(("[a-z_][a-z0-9_]{0,6}", "\\PC{1,6}"), 0..4),
    )
        .prop_map(|(name, rest)| {
            let mut v = vec![Label::new("__name__", name)];
            for (n, val) in rest {
                if n != "__name__" {
                    v.push(Label::new(n, val));
                }
            }
            Labels::from_labels(v)
        })
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        Just(f64::INFINITY),
        Just(0.0),
    ]
}

fn spans() -> impl Strategy<Value = Vec<Span>> {
    prop::collection::vec((-5i32..5, 0u32..4), 0..3).prop_map(|v| {
        v.into_iter()
            .map(|(offset, length)| Span { offset, length })
            .collect()
    })
}

fn hint() -> impl Strategy<Value = CounterResetHint> {
    prop_oneof![
        Just(CounterResetHint::Unknown),
        Just(CounterResetHint::CounterReset),
        Just(CounterResetHint::NotCounterReset),
        Just(CounterResetHint::Gauge),
    ]
}

fn histogram() -> impl Strategy<Value = HistogramSample> {
    let int = (
        any::<i64>(),
        -4i32..9,
        any::<u64>(),
        any::<u64>(),
        finite(),
        spans(),
        prop::collection::vec(any::<i64>(), 0..6),
        spans(),
        prop::collection::vec(any::<i64>(), 0..6),
        hint(),
    )
        .prop_map(
            |(t, schema, zc, count, sum, ps, pb, ns, nb, hint)| HistogramSample {
                timestamp: t,
                value: HistogramValue::Int(Histogram {
                    counter_reset_hint: hint,
                    schema,
                    zero_threshold: 0.001,
                    zero_count: zc,
                    count,
                    sum,
                    positive_spans: ps,
                    negative_spans: ns,
                    positive_buckets: pb,
                    negative_buckets: nb,
                    custom_values: vec![],
                }),
            },
        );
    let float = (
        any::<i64>(),
        prop_oneof![Just(-53i32), -4i32..9],
        finite(),
        finite(),
        spans(),
        prop::collection::vec(finite(), 0..6),
        prop::collection::vec(finite(), 0..4),
        hint(),
    )
        .prop_map(
            |(t, schema, count, sum, ps, pb, cv, hint)| HistogramSample {
                timestamp: t,
                value: HistogramValue::Float(FloatHistogram {
                    counter_reset_hint: hint,
                    schema,
                    zero_threshold: 0.0,
                    zero_count: 0.0,
                    count,
                    sum,
                    positive_spans: ps,
                    negative_spans: vec![],
                    positive_buckets: pb,
                    negative_buckets: vec![],
                    custom_values: cv,
                }),
            },
        );
    prop_oneof![int, float]
}

fn metric_type() -> impl Strategy<Value = MetricType> {
    prop_oneof![
        Just(MetricType::Counter),
        Just(MetricType::Gauge),
        Just(MetricType::Histogram),
        Just(MetricType::GaugeHistogram),
        Just(MetricType::Summary),
        Just(MetricType::Info),
        Just(MetricType::StateSet),
        Just(MetricType::Unknown),
    ]
}

fn metadata() -> impl Strategy<Value = Metadata> {
    (metric_type(), "\\PC{0,10}", "[a-z]{0,4}").prop_map(|(metric_type, help, unit)| Metadata {
        metric_type,
        help,
        unit,
    })
}

fn series(v2: bool) -> impl Strategy<Value = TimeSeries> {
    (
        label_set(),
        prop::collection::vec(
            (any::<i64>(), finite()).prop_map(|(timestamp, value)| Sample { timestamp, value }),
            0..5,
        ),
        prop::collection::vec(histogram(), 0..3),
        prop::collection::vec(
            (label_set(), finite(), any::<i64>()).prop_map(|(labels, value, t)| Exemplar {
                labels,
                value,
                timestamp: Some(t),
            }),
            0..2,
        ),
        prop::option::of(metadata()),
        any::<i64>(),
    )
        .prop_map(
            move |(labels, samples, histograms, exemplars, md, ct)| TimeSeries {
                labels,
                samples,
                histograms,
                exemplars,
                metadata: if v2 { md } else { None },
                created_timestamp: if v2 { ct } else { 0 },
            },
        )
}

pub(crate) fn request(v2: bool) -> impl Strategy<Value = WriteRequest> {
    (
        prop::collection::vec(series(v2), 0..6),
        prop::collection::vec(
            ("[a-z_]{1,8}", metadata())
                .prop_map(|(family, metadata)| FamilyMetadata { family, metadata }),
            0..3,
        ),
    )
        .prop_map(move |(timeseries, metadata)| WriteRequest {
            timeseries,
            metadata: if v2 { vec![] } else { metadata },
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn v1_round_trip(req in request(false)) {
        let body = codec::encode_compressed(&req, Protocol::V1);
        let back = codec::decode_compressed(&body, Protocol::V1, usize::MAX).unwrap();
        prop_assert_eq!(back, req);
    }

    #[test]
    fn v2_round_trip(req in request(true)) {
        let body = codec::encode_compressed(&req, Protocol::V2);
        let back = codec::decode_compressed(&body, Protocol::V2, usize::MAX).unwrap();
        prop_assert_eq!(back, req);
    }

    #[test]
    fn v1_wire_is_stable(req in request(false)) {
        // Decoding the wire message and encoding it again gives the same bytes.
        let b = codec::encode(&req, Protocol::V1);
        let m = v1::WriteRequest::decode(b.as_slice()).unwrap();
        prop_assert_eq!(m.encode_to_vec(), b);
    }

    #[test]
    fn direct_encoder_writes_prosts_bytes(req in request(true), v2 in any::<bool>()) {
        for p in [Protocol::V1, Protocol::V2] {
            let mut req = req.clone();
            if p == Protocol::V1 && v2 {
                // 1.0 with per-family metadata too.
                req.metadata.push(codec::FamilyMetadata {
                    family: "x".into(),
                    metadata: Metadata { metric_type: MetricType::Gauge, help: "h".into(), unit: String::new() },
                });
            }
            prop_assert_eq!(codec::encode(&req, p), codec::encode_prost(&req, p));
        }
    }

    #[test]
    fn direct_decoder_agrees_with_prost(req in request(true), v2 in any::<bool>()) {
        let p = if v2 { Protocol::V2 } else { Protocol::V1 };
        let mut req = req;
        if !v2 {
            for ts in &mut req.timeseries {
                ts.metadata = None;
                ts.created_timestamp = 0;
            }
        }
        let b = codec::encode(&req, p);
        prop_assert_eq!(codec::decode(&b, p).unwrap(), codec::decode_prost(&b, p).unwrap());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for p in [Protocol::V1, Protocol::V2] {
            let fast = codec::decode(&bytes, p);
            let slow = codec::decode_prost(&bytes, p);
            // Both accept or both reject; when both accept they agree.
            prop_assert_eq!(fast.is_ok(), slow.is_ok(), "{:?} vs {:?}", fast, slow);
            if let (Ok(a), Ok(b)) = (fast, slow) {
                prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
            }
            let _ = codec::decode_compressed(&bytes, p, 1 << 20);
        }
    }

    #[test]
    fn mutated_messages_never_panic(
        req in request(true),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        for p in [Protocol::V1, Protocol::V2] {
            let mut b = codec::encode(&req, p);
            if b.is_empty() { continue; }
            for (i, x) in &flips {
                let i = i.index(b.len());
                b[i] ^= x;
            }
            let fast = codec::decode(&b, p);
            let slow = codec::decode_prost(&b, p);
            if let (Ok(a), Ok(b)) = (&fast, &slow) {
                // Debug text, as mutations can produce NaNs (never equal to themselves).
                prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
            }
            let mut c = codec::compress(&b);
            let i = flips[0].0.index(c.len());
            c[i] ^= flips[0].1;
            let _ = codec::decode_compressed(&c, p, 1 << 20);
        }
    }
}

#[test]
fn nan_and_stale_markers_survive() {
    let mut req = tiny();
    req.timeseries[0].samples = vec![
        Sample {
            timestamp: 1,
            value: narthex_model::stale_nan(),
        },
        Sample {
            timestamp: 2,
            value: f64::NAN,
        },
    ];
    for p in [Protocol::V1, Protocol::V2] {
        let back = codec::decode(&codec::encode(&req, p), p).unwrap();
        let bits: Vec<u64> = back.timeseries[0]
            .samples
            .iter()
            .map(|s| s.value.to_bits())
            .collect();
        assert_eq!(
            bits,
            vec![narthex_model::STALE_NAN_BITS, f64::NAN.to_bits()]
        );
    }
}
