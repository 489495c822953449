//! The zero-copy views: agreement with the owned decoder on random requests and wire
//! shapes, hostile bytes, and error offsets.

use narthex_model::{Labels, labels};
use narthex_remote::codec::{self, Protocol, TimeSeries, WriteRequest};
use narthex_remote::pb::{self, v1, v2};
use narthex_remote::view::{
    LabelCache, RequestV2View, RequestView, ViewErrorKind, WriteRequestView,
};
use proptest::prelude::*;
use prost::Message;

use crate::codec::request;

/// Everything a view says about a request, walked through its iterators, as the owned
/// decoder's types (labels via the iterators, not via `to_request`).
fn walk(v: &RequestView<'_>) -> Vec<TimeSeries> {
    let mut cache = LabelCache::new();
    v.timeseries()
        .map(|ts| {
            let pairs: Vec<(&str, &str)> = ts.labels().collect();
            let labels = Labels::from_pairs(pairs.iter().copied());
            assert_eq!(labels, cache.labels(&ts), "cache and iterator disagree");
            TimeSeries {
                labels,
                samples: ts.samples().collect(),
                histograms: ts.histograms().map(|h| h.to_sample()).collect(),
                exemplars: ts.exemplars().map(|e| cache.exemplar(&e)).collect(),
                metadata: ts.metadata().map(|m| m.to_metadata()),
                created_timestamp: ts.created_timestamp(),
            }
        })
        .collect()
}

/// The view and the owned decoder accept the same bytes and, when they do, say the same.
fn agree(b: &[u8], p: Protocol) -> Result<(), TestCaseError> {
    let owned = codec::decode(b, p);
    let view = RequestView::new(b, p);
    prop_assert_eq!(
        owned.is_ok(),
        view.is_ok(),
        "owned {:?} vs view {:?}",
        owned,
        view.as_ref().err()
    );
    if let (Ok(o), Ok(v)) = (owned, view) {
        // Debug text: mutated bytes can make NaNs, never equal to themselves.
        prop_assert_eq!(format!("{o:?}"), format!("{:?}", v.to_request()));
        prop_assert_eq!(format!("{:?}", o.timeseries), format!("{:?}", walk(&v)));
        prop_assert_eq!(o.num_samples(), v.num_samples());
        if let RequestView::V1(v) = &v {
            prop_assert_eq!(o.num_histograms(), v.num_histograms());
            prop_assert_eq!(o.num_exemplars(), v.num_exemplars());
            prop_assert_eq!(v.len(), o.timeseries.len());
        }
        if let RequestView::V2(v) = &v {
            prop_assert_eq!(o.num_histograms(), v.num_histograms());
            prop_assert_eq!(o.num_exemplars(), v.num_exemplars());
            prop_assert_eq!(v.len(), o.timeseries.len());
        }
    }
    Ok(())
}

/// Label names and values that exercise the validator: empty, repeated, unsorted,
/// multi-byte, and longer than 127 bytes (two-byte lengths).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        4 => "[a-c]",
        1 => "\\PC{1,4}",
        1 => "[a-z]{120,140}",
    ]
}

fn v1_wire() -> impl Strategy<Value = v1::WriteRequest> {
    let series = (
        prop::collection::vec((text(), text()), 0..5),
        prop::collection::vec((any::<f64>(), any::<i64>()), 0..3),
        prop::collection::vec(prop::collection::vec((text(), text()), 0..3), 0..2),
    )
        .prop_map(|(labels, samples, exemplars)| v1::TimeSeries {
            labels: labels
                .into_iter()
                .map(|(name, value)| v1::Label { name, value })
                .collect(),
            samples: samples
                .into_iter()
                .map(|(value, timestamp)| v1::Sample { value, timestamp })
                .collect(),
            exemplars: exemplars
                .into_iter()
                .map(|l| v1::Exemplar {
                    labels: l
                        .into_iter()
                        .map(|(name, value)| v1::Label { name, value })
                        .collect(),
                    value: 1.5,
                    timestamp: 7,
                })
                .collect(),
            histograms: vec![],
        });
    (
        prop::collection::vec(series, 0..4),
        prop::collection::vec((0i32..10, text(), text()), 0..2),
    )
        .prop_map(|(timeseries, md)| v1::WriteRequest {
            timeseries,
            metadata: md
                .into_iter()
                .map(|(t, f, h)| v1::MetricMetadata {
                    r#type: t,
                    metric_family_name: f,
                    help: h,
                    unit: String::new(),
                })
                .collect(),
        })
}

fn v2_wire() -> impl Strategy<Value = v2::Request> {
    let series = (
        (
            prop::collection::vec((1u32..6, 0u32..6), 0..4),
            prop::option::weighted(0.1, 0u32..8),
        )
            .prop_map(|(pairs, odd)| {
                let mut v: Vec<u32> = pairs.into_iter().flat_map(|(n, v)| [n, v]).collect();
                v.extend(odd);
                v
            }),
        prop::collection::vec((any::<f64>(), any::<i64>()), 0..3),
        prop::collection::vec(prop::collection::vec(0u32..8, 0..5), 0..2),
        prop::option::of((0i32..10, 0u32..8, 0u32..8)),
        any::<i64>(),
    )
        .prop_map(|(refs, samples, exemplars, md, ct)| v2::TimeSeries {
            labels_refs: refs,
            samples: samples
                .into_iter()
                .map(|(value, timestamp)| v1::Sample { value, timestamp })
                .collect(),
            histograms: vec![],
            exemplars: exemplars
                .into_iter()
                .map(|r| v2::Exemplar {
                    labels_refs: r,
                    value: 2.5,
                    timestamp: 3,
                })
                .collect(),
            metadata: md.map(|(t, h, u)| v2::Metadata {
                r#type: t,
                help_ref: h,
                unit_ref: u,
            }),
            created_timestamp: ct,
        });
    (
        prop::collection::vec(text(), 3..7),
        prop::bool::weighted(0.9),
        prop::collection::vec(series, 0..4),
    )
        .prop_map(|(mut symbols, empty_first, timeseries)| {
            if empty_first {
                symbols.insert(0, String::new());
            }
            v2::Request {
                symbols,
                timeseries,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn view_agrees_with_owned_decoder(req in request(true), v2 in any::<bool>()) {
        let p = if v2 { Protocol::V2 } else { Protocol::V1 };
        let b = codec::encode(&req, p);
        let view = RequestView::new(&b, p).unwrap();
        let owned = codec::decode(&b, p).unwrap();
        prop_assert_eq!(view.to_request(), owned.clone());
        prop_assert_eq!(walk(&view), owned.timeseries);
        agree(&b, p)?;
    }

    #[test]
    fn view_agrees_on_v1_wire_shapes(m in v1_wire()) {
        agree(&m.encode_to_vec(), Protocol::V1)?;
    }

    #[test]
    fn view_agrees_on_v2_wire_shapes(m in v2_wire()) {
        agree(&m.encode_to_vec(), Protocol::V2)?;
    }

    #[test]
    fn view_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        agree(&bytes, Protocol::V1)?;
        agree(&bytes, Protocol::V2)?;
    }

    #[test]
    fn view_on_mutated_messages(
        req in request(true),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        for p in [Protocol::V1, Protocol::V2] {
            let mut b = codec::encode(&req, p);
            if b.is_empty() { continue; }
            for (i, x) in &flips {
                let i = i.index(b.len());
                b[i] ^= x;
            }
            agree(&b, p)?;
            let n = cut.index(b.len());
            agree(&b[..n], p)?;
        }
    }
}

#[test]
fn iterators_give_wire_pairs_and_values() {
    // Labels out of order and with an empty value on the wire: the iterator shows the
    // wire, the cache and `to_request` the model.
    let m = v1::WriteRequest {
        timeseries: vec![v1::TimeSeries {
            labels: vec![
                v1::Label {
                    name: "job".into(),
                    value: "node".into(),
                },
                v1::Label {
                    name: "__name__".into(),
                    value: "up".into(),
                },
                v1::Label {
                    name: "empty".into(),
                    value: String::new(),
                },
            ],
            samples: vec![
                v1::Sample {
                    value: 1.0,
                    timestamp: 10,
                },
                v1::Sample {
                    value: 2.0,
                    timestamp: 20,
                },
            ],
            ..Default::default()
        }],
        metadata: vec![v1::MetricMetadata {
            r#type: 1,
            metric_family_name: "up".into(),
            help: "help".into(),
            unit: String::new(),
        }],
    };
    let b = m.encode_to_vec();
    let v = WriteRequestView::new(&b).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v.num_samples(), 2);
    let ts = v.timeseries().next().unwrap();
    let pairs: Vec<_> = ts.labels().collect();
    assert_eq!(pairs, [("job", "node"), ("__name__", "up"), ("empty", "")]);
    let samples: Vec<_> = ts.samples().map(|s| (s.timestamp, s.value)).collect();
    assert_eq!(samples, [(10, 1.0), (20, 2.0)]);
    assert_eq!(
        LabelCache::new().labels(&ts),
        labels!("__name__" => "up", "job" => "node")
    );
    assert_eq!(v.metadata()[0].family, "up");
    assert_eq!(v.metadata()[0].help, "help");
    assert_eq!(
        v.metadata()[0].metric_type,
        narthex_model::MetricType::Counter
    );
    assert_eq!(v.to_request(), codec::decode(&b, Protocol::V1).unwrap());
}

#[test]
fn v2_symbols_histograms_and_metadata() {
    let h = codec::histogram_to_wire(
        5,
        &codec::HistogramValue::Int(narthex_model::Histogram {
            count: 3,
            zero_count: 1,
            sum: 4.5,
            positive_spans: vec![narthex_model::Span {
                offset: -1,
                length: 2,
            }],
            positive_buckets: vec![1, 1],
            ..Default::default()
        }),
    );
    let m = v2::Request {
        symbols: vec![
            String::new(),
            "__name__".into(),
            "héllo".into(),
            "help text".into(),
        ],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 2],
            histograms: vec![h.clone()],
            metadata: Some(v2::Metadata {
                r#type: 3,
                help_ref: 3,
                unit_ref: 0,
            }),
            created_timestamp: 42,
            ..Default::default()
        }],
    };
    let b = m.encode_to_vec();
    let v = RequestV2View::new(&b).unwrap();
    assert_eq!(v.symbols(), ["", "__name__", "héllo", "help text"]);
    assert_eq!(v.num_histograms(), 1);
    let ts = v.timeseries().next().unwrap();
    assert_eq!(ts.labels().collect::<Vec<_>>(), [("__name__", "héllo")]);
    assert_eq!(ts.created_timestamp(), 42);
    let md = ts.metadata().unwrap();
    assert_eq!(md.help, "help text");
    assert_eq!(md.unit, "");
    assert_eq!(md.metric_type, narthex_model::MetricType::Histogram);
    let hv = ts.histograms().next().unwrap();
    assert_eq!(hv.timestamp(), 5);
    assert!(!hv.is_float());
    assert_eq!(hv.to_wire(), h);
    assert_eq!(
        hv.to_sample(),
        codec::histogram_from_wire(&pb::Histogram::decode(h.encode_to_vec().as_slice()).unwrap())
            .unwrap()
    );
}

#[test]
fn errors_carry_the_offset() {
    // A dangling reference: the error points at the varint of the reference.
    let m = v2::Request {
        symbols: vec![String::new(), "a".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 9],
            ..Default::default()
        }],
    };
    let b = m.encode_to_vec();
    let e = RequestV2View::new(&b).err().unwrap();
    assert_eq!(
        e.kind,
        ViewErrorKind::SymbolRef {
            reference: 9,
            len: 2
        }
    );
    assert_eq!(b[e.offset], 9, "{e}");
    assert!(e.to_string().contains("symbol reference 9"), "{e}");
    let err: codec::Error = e.into();
    assert!(err.to_string().contains("at byte"), "{err}");

    // A label value that is not UTF-8: the offset of the value.
    #[rustfmt::skip]
    let bad: &[u8] = &[
        0x0a, 0x0b,                 // timeseries, 11 bytes
          0x0a, 0x09,               //   labels, 9 bytes
            0x0a, 0x03, b'j', b'o', b'b',
            0x12, 0x02, b'x', 0xff, //   value "x\xff"
    ];
    let e = WriteRequestView::new(bad).err().unwrap();
    assert_eq!(e.kind, ViewErrorKind::InvalidUtf8);
    assert_eq!(e.offset, 11);
    assert!(codec::decode(bad, Protocol::V1).is_err());

    // Truncated: the length that runs past the end.
    let e = WriteRequestView::new(&bad[..8]).err().unwrap();
    assert_eq!((e.offset, e.kind), (1, ViewErrorKind::Truncated));

    // Repeated and empty names.
    let dup = v1::WriteRequest {
        timeseries: vec![v1::TimeSeries {
            labels: vec![
                v1::Label {
                    name: "b".into(),
                    value: "1".into(),
                },
                v1::Label {
                    name: "a".into(),
                    value: "1".into(),
                },
                v1::Label {
                    name: "b".into(),
                    value: "2".into(),
                },
            ],
            ..Default::default()
        }],
        metadata: vec![],
    };
    let e = WriteRequestView::new(&dup.encode_to_vec()).err().unwrap();
    assert_eq!(e.kind, ViewErrorKind::DuplicateLabelName("b".into()));
    let odd = v2::Request {
        symbols: vec![String::new(), "a".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1],
            ..Default::default()
        }],
    };
    let e = RequestV2View::new(&odd.encode_to_vec()).err().unwrap();
    assert_eq!(e.kind, ViewErrorKind::OddLabelRefs(1));
    let empty_name = v2::Request {
        symbols: vec![String::new(), "a".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![0, 1],
            ..Default::default()
        }],
    };
    let e = RequestV2View::new(&empty_name.encode_to_vec())
        .err()
        .unwrap();
    assert_eq!(e.kind, ViewErrorKind::EmptyLabelName);
    let first = v2::Request {
        symbols: vec!["x".into()],
        timeseries: vec![],
    };
    let e = RequestV2View::new(&first.encode_to_vec()).err().unwrap();
    assert_eq!((e.offset, e.kind), (2, ViewErrorKind::FirstSymbolNotEmpty));
}

#[test]
fn a_string_cut_inside_a_character_is_refused() {
    // The name "a\xc3" is followed by an unknown field whose key (0x82 0x01) completes the
    // character: the span of the label strings is valid UTF-8, the name is not.
    #[rustfmt::skip]
    let b: &[u8] = &[
        0x0a, 0x0c,                         // timeseries, 12 bytes
          0x0a, 0x0a,                       //   labels, 10 bytes
            0x0a, 0x02, b'a', 0xc3,         //     name "a\xc3"
            0x82, 0x01, 0x00,               //     field 16, empty bytes
            0x12, 0x01, b'v',               //     value "v"
    ];
    assert!(codec::decode(b, Protocol::V1).is_err());
    let e = WriteRequestView::new(b).err().unwrap();
    assert_eq!((e.offset, e.kind), (6, ViewErrorKind::InvalidUtf8));
}

#[test]
fn owned_and_view_agree_on_the_benchmark_shape() {
    let req = WriteRequest {
        timeseries: (0..50)
            .map(|i| TimeSeries {
                labels: labels!("__name__" => "m", "pod" => format!("p-{i}"), "zone" => "ü"),
                samples: vec![narthex_model::Sample {
                    timestamp: i,
                    value: i as f64,
                }],
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    };
    for p in [Protocol::V1, Protocol::V2] {
        let b = codec::encode(&req, p);
        assert_eq!(RequestView::new(&b, p).unwrap().to_request(), req);
    }
}
