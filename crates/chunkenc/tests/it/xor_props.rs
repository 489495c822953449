//! Property tests for XOR chunks: round trips over adversarial values and timestamps,
//! continuing a chunk, and `seek` against a linear scan.

use narthex_chunkenc::{XorAppender, XorIterator};
use proptest::prelude::*;

/// Prometheus's stale marker and other values with special bit patterns.
const SPECIALS: [u64; 14] = [
    0x7ff0_0000_0000_0002, // stale marker
    0x7ff8_0000_0000_0001, // Go's math.NaN()
    0x7ff8_0000_0000_0000, // Rust's NAN
    0xfff8_dead_beef_0001, // negative NaN with a payload
    0x8000_0000_0000_0000, // -0.0
    0,                     // 0.0
    0x7ff0_0000_0000_0000, // +Inf
    0xfff0_0000_0000_0000, // -Inf
    1,                     // smallest subnormal
    0x000f_ffff_ffff_ffff, // largest subnormal
    0x0010_0000_0000_0000, // smallest normal
    0x7fef_ffff_ffff_ffff, // f64::MAX
    0x3ff0_0000_0000_0000, // 1.0
    0x3fb9_9999_9999_999a, // 0.1
];

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        3 => prop::sample::select(SPECIALS.to_vec()),
        2 => (-1000i64..1000).prop_map(|i| (i as f64).to_bits()),
        2 => (0u32..64).prop_map(|s| 1u64 << s),
    ]
}

fn delta() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 14_990i64..15_010,
        2 => Just(0i64),
        2 => -20_000i64..20_000,
        2 => (0u32..63).prop_map(|s| 1i64 << s),
        1 => any::<i64>(),
        1 => prop::sample::select(vec![i64::MIN, i64::MAX, -1, 8192, 8193, -8191, -8192, 65536, 65537, 524_288, 524_289]),
    ]
}

/// Samples as (timestamp, value bits); timestamps wrap like Go's int64.
fn samples(max: usize) -> impl Strategy<Value = Vec<(i64, u64)>> {
    (
        prop_oneof![
            Just(0i64),
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(1_700_000_000_000i64)
        ],
        prop::collection::vec((delta(), value()), 0..max),
    )
        .prop_map(|(start, steps)| {
            let mut t = start;
            steps
                .into_iter()
                .map(|(d, v)| {
                    t = t.wrapping_add(d);
                    (t, v)
                })
                .collect()
        })
}

fn encode(s: &[(i64, u64)]) -> XorAppender {
    let mut app = XorAppender::new();
    for &(t, v) in s {
        app.append(t, f64::from_bits(v)).unwrap();
    }
    app
}

fn decode(bytes: &[u8]) -> Vec<(i64, u64)> {
    XorIterator::new(bytes)
        .map(|r| r.map(|(t, v)| (t, v.to_bits())).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip(s in samples(300)) {
        let app = encode(&s);
        prop_assert_eq!(app.num_samples(), s.len());
        prop_assert_eq!(decode(app.bytes()), s);
    }

    #[test]
    fn continuing_gives_the_same_bytes(s in samples(200), split in any::<prop::sample::Index>()) {
        let k = split.index(s.len() + 1);
        let one = encode(&s);
        let mut cont = XorAppender::from_chunk(encode(&s[..k]).into_bytes()).unwrap();
        prop_assert_eq!(cont.num_samples(), k);
        for &(t, v) in &s[k..] {
            cont.append(t, f64::from_bits(v)).unwrap();
        }
        prop_assert_eq!(cont.bytes(), one.bytes());
    }

    #[test]
    fn seek_agrees_with_linear_scan(
        s in samples(150),
        target in prop_oneof![any::<i64>(), -100_000i64..3_000_000],
        skip in 0usize..5,
    ) {
        let app = encode(&s);
        let mut it = XorIterator::new(app.bytes());
        for _ in 0..skip.min(s.len()) {
            it.next().unwrap().unwrap();
        }
        let from = skip.min(s.len());
        // Prometheus's Seek: stay on the current sample if it qualifies, else advance until
        // a sample with timestamp >= target.
        let start = if from > 0 && s[from - 1].0 >= target { Some(from - 1) } else {
            (from..s.len()).find(|&i| s[i].0 >= target)
        };
        let got = it.seek(target).map(|r| r.map(|(t, v)| (t, v.to_bits())).unwrap());
        prop_assert_eq!(got, start.map(|i| s[i]));
        if let Some(i) = start {
            prop_assert_eq!((it.at().0, it.at().1.to_bits()), s[i]);
            // The iterator continues after the found sample.
            let rest: Vec<_> = it.map(|r| r.map(|(t, v)| (t, v.to_bits())).unwrap()).collect();
            prop_assert_eq!(&rest[..], &s[i + 1..]);
        }
    }
}

#[test]
fn stale_marker_and_nan_payloads_round_trip_exactly() {
    let s: Vec<(i64, u64)> = SPECIALS
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64 * 15_000, v))
        .collect();
    let app = encode(&s);
    assert_eq!(decode(app.bytes()), s);
}

#[test]
fn equal_and_decreasing_timestamps_are_encoded_like_prometheus() {
    // Prometheus's xorAppender does not check order: the delta-of-delta is just zero or
    // negative. The decoder gives the timestamps back as written.
    let s = vec![
        (100, 1),
        (100, 2),
        (90, 3),
        (90, 3),
        (i64::MAX, 4),
        (i64::MIN, 5),
        (0, 6),
    ];
    let app = encode(&s);
    assert_eq!(decode(app.bytes()), s);
}

#[test]
fn one_sample_chunk_is_twelve_bytes() {
    // 2 bytes count, 1 byte varint 0, 8 bytes value, 1 trailing empty byte.
    let app = encode(&[(0, 0)]);
    assert_eq!(app.bytes(), &[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn full_chunk_refuses_more() {
    let mut app = XorAppender::new();
    for i in 0..u16::MAX {
        app.append(i64::from(i), 1.0).unwrap();
    }
    assert_eq!(app.append(1 << 20, 1.0), Err(narthex_chunkenc::ChunkFull));
    assert_eq!(XorIterator::new(app.bytes()).count(), usize::from(u16::MAX));
}
