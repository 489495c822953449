//! Histogram chunks: golden bytes derived field by field from Prometheus's documented
//! encoding (promtool cannot create histogram chunks from OpenMetrics), plus the appenders'
//! decisions (recode, widen, cut) and round trips.

use narthex_chunkenc::histogram::{
    CUSTOM_BUCKETS_SCHEMA, CounterResetHeader, CounterResetHint, CutReason, FloatHistogram,
    FloatHistogramAppender, FloatHistogramIterator, Histogram, HistogramAppend, HistogramAppender,
    HistogramIterator, InvalidHistogram, STALE_NAN_BITS, Span,
};

/// Packs fields written as binary digit strings (spaces ignored) MSB-first into bytes,
/// independently of the crate's bit writer. `pad` adds Prometheus's trailing empty byte
/// (present when the last write was a whole number of bytes ending on a byte boundary).
fn pack(fields: &[&str], pad: bool) -> Vec<u8> {
    let bits: Vec<u8> = fields
        .iter()
        .flat_map(|f| f.bytes().filter(|b| *b != b' '))
        .map(|b| match b {
            b'0' => 0,
            b'1' => 1,
            _ => panic!("not a bit: {}", b as char),
        })
        .collect();
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, b) in bits.iter().enumerate() {
        out[i / 8] |= b << (7 - i % 8);
    }
    if pad {
        assert_eq!(bits.len() % 8, 0);
        out.push(0);
    }
    out
}

/// `n` low bits of `v` as a binary string.
fn b(v: u64, n: u32) -> String {
    (0..n)
        .rev()
        .map(|i| if v >> i & 1 == 1 { '1' } else { '0' })
        .collect()
}

fn span(offset: i32, length: u32) -> Span {
    Span { offset, length }
}

fn int_hist(count: u64, zero_count: u64, sum: f64, pos: &[i64]) -> Histogram {
    Histogram {
        schema: 0,
        zero_threshold: 2f64.powi(-128),
        zero_count,
        count,
        sum,
        positive_spans: vec![span(0, pos.len() as u32)],
        positive_buckets: pos.to_vec(),
        ..Histogram::default()
    }
}

#[test]
fn golden_integer_histogram_chunk() {
    let mut app = HistogramAppender::new();
    let h1 = int_hist(5, 1, 18.4, &[1, 1]);
    assert_eq!(app.append(1000, &h1), Ok(HistogramAppend::Appended));

    let header1 = ["0000 0000 0000 0001", "0000 0000"]; // 1 sample, unknown counter reset
    let layout = [
        "0111 0100", // zero threshold 2^-128: one byte, 116 (exponent -127 + 243)
        "0",         // schema 0: varbit int zero
        "10 001",    // 1 positive span: varbit uint, 2-bit prefix + 3 bits
        "10 010",    //   length 2
        "0",         //   offset 0
        "0",         // 0 negative spans
    ];
    let sample1 = [
        "11110 001111101000".to_string(), // t = 1000: varbit int, 5-bit prefix + 12 bits
        "10 101".to_string(),             // count 5
        "10 001".to_string(),             // zero count 1
        b(18.4f64.to_bits(), 64),         // sum, raw
        "10 001".to_string(),             // bucket delta +1
        "10 001".to_string(),             // bucket delta +1
    ];
    let mut fields: Vec<&str> = header1.to_vec();
    fields.extend(layout);
    fields.extend(sample1.iter().map(String::as_str));
    assert_eq!(app.bytes(), pack(&fields, false), "after sample 1");

    // Second sample: t + 1000, count + 3, same zero count, sum 25, buckets [1, 2] (deltas).
    let h2 = int_hist(8, 1, 25.0, &[1, 2]);
    assert_eq!(app.append(2000, &h2), Ok(HistogramAppend::Appended));
    let xor = 18.4f64.to_bits() ^ 25.0f64.to_bits();
    assert_eq!((xor.leading_zeros(), xor.trailing_zeros()), (12, 1));
    let sample2 = [
        "11110 001111101000".to_string(), // timestamp delta-of-delta 1000 - 0
        "10 011".to_string(),             // count delta-of-delta 3
        "0".to_string(),                  // zero count delta-of-delta 0
        // sum XOR: new window, 12 leading zeros, 51 significant bits
        format!("11 {} {} {}", b(12, 5), b(51, 6), b(xor >> 1, 51)),
        "0".to_string(),      // bucket 0: delta-of-delta 0
        "10 001".to_string(), // bucket 1 (delta encoding 1 -> 2): delta-of-delta +1
    ];
    let mut fields2: Vec<&str> = vec!["0000 0000 0000 0010", "0000 0000"];
    fields2.extend(layout);
    fields2.extend(sample1.iter().map(String::as_str));
    fields2.extend(sample2.iter().map(String::as_str));
    assert_eq!(app.bytes(), pack(&fields2, false), "after sample 2");

    // And back.
    let got: Vec<_> = HistogramIterator::new(app.bytes())
        .map(Result::unwrap)
        .collect();
    let mut e1 = h1.clone();
    e1.counter_reset_hint = CounterResetHint::Unknown;
    let mut e2 = h2.clone();
    e2.counter_reset_hint = CounterResetHint::NotCounterReset;
    assert_eq!(got, vec![(1000, e1), (2000, e2)]);
}

#[test]
fn golden_float_histogram_chunk() {
    let h1 = FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        schema: 3,
        zero_threshold: 0.001, // not a power of two: 255 and the raw bits
        zero_count: 0.0,
        count: 2.0,
        sum: -1.5,
        negative_spans: vec![span(-2, 1)],
        negative_buckets: vec![2.0],
        ..FloatHistogram::default()
    };
    let mut app = FloatHistogramAppender::new();
    assert_eq!(app.append(-5, &h1), Ok(HistogramAppend::Appended));
    assert_eq!(app.counter_reset_header(), CounterResetHeader::Gauge);
    let s = |v: f64| b(v.to_bits(), 64);
    let fields1 = vec![
        "0000 0000 0000 0001".to_string(),
        "1100 0000".to_string(),           // gauge header
        format!("1111 1111 {}", s(0.001)), // zero threshold, 9-byte form
        "10 011".to_string(),              // schema 3
        "0".to_string(),                   // 0 positive spans
        "10 001".to_string(),              // 1 negative span
        "10 001".to_string(),              //   length 1
        "10 110".to_string(),              //   offset -2: 3-bit bucket (-3..=4), 0b110
        "110 111011".to_string(),          // t = -5: 6-bit bucket, -5 & 0x3f
        s(2.0),                            // count
        s(0.0),                            // zero count
        s(-1.5),                           // sum
        s(2.0),                            // bucket
    ];
    let f1: Vec<&str> = fields1.iter().map(String::as_str).collect();
    let bits: usize = f1.iter().map(|f| f.replace(' ', "").len()).sum();
    // Ends with a 64-bit write; padded only if that lands on a byte boundary.
    assert_eq!(app.bytes(), pack(&f1, bits.is_multiple_of(8)));

    // Second sample: dod 10, count and bucket change, zero count and sum stay.
    let mut h2 = h1.clone();
    h2.count = 3.0;
    h2.negative_buckets = vec![3.0];
    assert_eq!(app.append(5, &h2), Ok(HistogramAppend::Appended));
    let x = 2.0f64.to_bits() ^ 3.0f64.to_bits();
    let (lz, tz) = (x.leading_zeros(), x.trailing_zeros());
    let sig = 64 - lz - tz;
    let window = format!(
        "11 {} {} {}",
        b(u64::from(lz), 5),
        b(u64::from(sig), 6),
        b(x >> tz, sig)
    );
    let mut fields2 = fields1.clone();
    fields2[0] = "0000 0000 0000 0010".into();
    fields2.extend([
        "110 001010".to_string(), // tDod 10
        window.clone(),           // count 2 -> 3
        "0".to_string(),          // zero count unchanged
        "0".to_string(),          // sum unchanged
        window,                   // bucket 2 -> 3, its own fresh window
    ]);
    let f2: Vec<&str> = fields2.iter().map(String::as_str).collect();
    let bits: usize = f2.iter().map(|f| f.replace(' ', "").len()).sum();
    assert_eq!(
        app.bytes(),
        pack(&f2, bits.is_multiple_of(8) && sig.is_multiple_of(8))
    );

    let got: Vec<_> = FloatHistogramIterator::new(app.bytes())
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, vec![(-5, h1), (5, h2)]);
}

#[test]
fn golden_custom_bounds_layout() {
    let bounds = vec![0.1, 0.5, 1.0, 33554.43, 1e9, -1.0, 0.0001];
    let h = Histogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        zero_threshold: 0.0,
        count: 1,
        sum: 1.0,
        positive_spans: vec![span(0, 1)],
        positive_buckets: vec![1],
        custom_values: bounds.clone(),
        ..Histogram::default()
    };
    let mut app = HistogramAppender::new();
    app.append(0, &h).unwrap();
    let raw = |v: f64| format!("0 {}", b(v.to_bits(), 64));
    // Prometheus's varbit uint buckets: 3, 6, 9, 12, 18, 25, 56 or 64 payload bits.
    let varbit_uint = |v: u64| -> String {
        let (prefix, sz) = match v {
            0 => return "0".into(),
            1..=7 => ("10", 3),
            8..=63 => ("110", 6),
            64..=511 => ("1110", 9),
            512..=4095 => ("11110", 12),
            4096..=262_143 => ("111110", 18),
            262_144..=33_554_431 => ("1111110", 25),
            _ => ("11111110", 56),
        };
        format!("{prefix} {}", b(v, sz))
    };
    let mut fields = vec![
        "0000 0000 0000 0001".to_string(),
        "0000 0000".to_string(),
        "0000 0000".to_string(),                   // zero threshold 0
        format!("1110 {}", b((-53i64) as u64, 9)), // schema -53: 9-bit bucket (-255..=256)
        "10 001".to_string(),                      // 1 positive span
        "10 001".to_string(),                      //   length 1
        "0".to_string(),                           //   offset 0
        "0".to_string(),                           // 0 negative spans
        "10 111".to_string(),                      // 7 custom bounds
    ];
    fields.push(varbit_uint(101)); // 0.1
    fields.push(varbit_uint(501)); // 0.5
    fields.push(varbit_uint(1001)); // 1
    fields.push(varbit_uint(33_554_431)); // 33554.43, the largest compact bound
    fields.push(raw(1e9)); // too large: 0 bit and raw bits
    fields.push(raw(-1.0)); // negative: raw
    fields.push(raw(0.0001)); // not a multiple of 0.001: raw
    fields.extend([
        "0".to_string(),         // t = 0
        "10 001".to_string(),    // count 1
        "0".to_string(),         // zero count 0
        b(1.0f64.to_bits(), 64), // sum
        "10 001".to_string(),    // bucket 1
    ]);
    let f: Vec<&str> = fields.iter().map(String::as_str).collect();
    assert_eq!(app.bytes(), pack(&f, false));
    let (_, got) = HistogramIterator::new(app.bytes()).next().unwrap().unwrap();
    assert_eq!(got.custom_values, bounds);
}

#[test]
fn new_buckets_recode_the_chunk() {
    let mut app = HistogramAppender::new();
    let a = int_hist(3, 0, 1.0, &[1, 1]); // buckets 0,1: counts 1,2
    app.append(0, &a).unwrap();
    app.append(10, &int_hist(4, 0, 2.0, &[1, 2])).unwrap();
    // Bucket 3 appears (spans [0,2] [1,1]).
    let mut c = int_hist(10, 0, 3.0, &[2, 1]);
    c.positive_spans = vec![span(0, 2), span(1, 1)];
    c.positive_buckets = vec![2, 1, 4]; // counts 2,3,7
    assert_eq!(app.append(20, &c), Ok(HistogramAppend::Recoded));

    // The chunk now is what appending the widened histograms from scratch gives.
    let widen = |h: &Histogram, abs: &[i64]| {
        let mut h = h.clone();
        h.positive_spans = c.positive_spans.clone();
        let mut prev = 0;
        h.positive_buckets = abs
            .iter()
            .map(|&x| {
                let d = x - prev;
                prev = x;
                d
            })
            .collect();
        h
    };
    let mut want = HistogramAppender::new();
    want.append(0, &widen(&a, &[1, 2, 0])).unwrap();
    want.append(10, &widen(&int_hist(4, 0, 2.0, &[1, 2]), &[1, 3, 0]))
        .unwrap();
    want.append(20, &c).unwrap();
    assert_eq!(app.bytes(), want.bytes());
    assert_eq!(app.num_samples(), 3);

    // A histogram lacking the (empty in the last sample? no: 7) bucket 3 is a reset.
    let r = app.append(30, &int_hist(11, 0, 4.0, &[2, 1])).unwrap();
    assert!(matches!(
        r,
        HistogramAppend::Cut {
            reason: CutReason::CounterReset,
            ..
        }
    ));
    assert_eq!(app.counter_reset_header(), CounterResetHeader::CounterReset);
}

#[test]
fn missing_empty_buckets_widen_the_histogram() {
    let mut app = HistogramAppender::new();
    // Buckets 0..3 with bucket 1 empty.
    app.append(0, &int_hist(4, 0, 1.0, &[2, -2, 2])).unwrap();
    // Next histogram omits the empty bucket 1: spans [0,1] [1,1].
    let mut h = int_hist(6, 0, 2.0, &[3, 0]);
    h.positive_spans = vec![span(0, 1), span(1, 1)];
    assert_eq!(app.append(10, &h), Ok(HistogramAppend::Appended));
    let got: Vec<_> = app.iter().map(Result::unwrap).collect();
    assert_eq!(got[1].1.positive_spans, vec![span(0, 3)]);
    assert_eq!(got[1].1.positive_buckets, vec![3, -3, 3]); // counts 3, 0, 3
}

#[test]
fn cuts_and_their_headers() {
    // Counter reset by count.
    let mut app = HistogramAppender::new();
    app.append(0, &int_hist(10, 0, 1.0, &[5])).unwrap();
    let r = app.append(1, &int_hist(9, 0, 1.0, &[5])).unwrap();
    let HistogramAppend::Cut { finished, reason } = r else {
        panic!("{r:?}")
    };
    assert_eq!(reason, CutReason::CounterReset);
    assert_eq!(HistogramIterator::new(&finished).count(), 1);
    assert_eq!(app.counter_reset_header(), CounterResetHeader::CounterReset);
    assert_eq!(app.num_samples(), 1);

    // Schema change: unknown header.
    let mut h = int_hist(10, 0, 1.0, &[5]);
    h.schema = 1;
    let r = app.append(2, &h).unwrap();
    assert!(matches!(
        r,
        HistogramAppend::Cut {
            reason: CutReason::LayoutChange,
            ..
        }
    ));
    assert_eq!(app.counter_reset_header(), CounterResetHeader::Unknown);

    // Stale marker appends; a normal sample after it cuts.
    let stale = Histogram {
        sum: f64::from_bits(STALE_NAN_BITS),
        ..Histogram::default()
    };
    assert_eq!(app.append(3, &stale), Ok(HistogramAppend::Appended));
    assert_eq!(app.append(4, &stale), Ok(HistogramAppend::Appended));
    let r = app.append(5, &h).unwrap();
    let HistogramAppend::Cut { finished, reason } = r else {
        panic!("{r:?}")
    };
    assert_eq!(reason, CutReason::AfterStaleMarker);
    let got: Vec<_> = HistogramIterator::new(&finished)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].1.sum.to_bits(), STALE_NAN_BITS);
    assert_eq!(got[1].1.positive_buckets, Vec::<i64>::new());

    // A gauge after counters: gauge header.
    let mut g = h.clone();
    g.counter_reset_hint = CounterResetHint::Gauge;
    let r = app.append(6, &g).unwrap();
    assert!(matches!(
        r,
        HistogramAppend::Cut {
            reason: CutReason::TypeChange,
            ..
        }
    ));
    assert_eq!(app.counter_reset_header(), CounterResetHeader::Gauge);
    // Gauge buckets may go down and move: no cut.
    let mut g2 = g.clone();
    g2.count = 1;
    g2.positive_spans = vec![span(3, 1)];
    g2.positive_buckets = vec![1];
    assert_eq!(app.append(7, &g2), Ok(HistogramAppend::Recoded));
    let got: Vec<_> = app.iter().map(Result::unwrap).collect();
    assert_eq!(got[1].1.positive_spans, vec![span(0, 1), span(2, 1)]);
    assert!(
        got.iter()
            .all(|(_, h)| h.counter_reset_hint == CounterResetHint::Gauge)
    );

    // A size-based cut records whether there was a reset.
    let mut app = HistogramAppender::new();
    app.append(0, &int_hist(10, 0, 1.0, &[5])).unwrap();
    let finished = app.cut_and_append(1, &int_hist(11, 0, 1.0, &[5])).unwrap();
    assert_eq!(HistogramIterator::new(&finished).count(), 1);
    assert_eq!(
        app.counter_reset_header(),
        CounterResetHeader::NotCounterReset
    );
}

#[test]
fn invalid_histograms_are_refused() {
    let mut app = HistogramAppender::new();
    let mut h = int_hist(1, 0, 1.0, &[1]);
    h.positive_buckets.push(1);
    assert!(matches!(
        app.append(0, &h),
        Err(InvalidHistogram::SpanBucketMismatch { .. })
    ));
    let mut h = int_hist(1, 0, 1.0, &[1, 1]);
    h.positive_spans = vec![span(0, 1), span(-1, 1)];
    assert!(matches!(
        app.append(0, &h),
        Err(InvalidHistogram::NegativeSpanOffset { .. })
    ));
    h.schema = 99;
    assert_eq!(app.append(0, &h), Err(InvalidHistogram::UnknownSchema(99)));
    assert_eq!(app.num_samples(), 0);
}

#[test]
fn float_recode_and_reset() {
    let fh = |count: f64, spans: Vec<Span>, buckets: Vec<f64>| FloatHistogram {
        count,
        sum: count * 1.5,
        positive_spans: spans,
        positive_buckets: buckets,
        ..FloatHistogram::default()
    };
    let mut app = FloatHistogramAppender::new();
    app.append(0, &fh(1.0, vec![span(1, 1)], vec![1.0]))
        .unwrap();
    app.append(5, &fh(2.5, vec![span(1, 1)], vec![2.5]))
        .unwrap();
    let r = app
        .append(9, &fh(4.0, vec![span(0, 2)], vec![1.0, 3.0]))
        .unwrap();
    assert_eq!(r, HistogramAppend::Recoded);
    let got: Vec<_> = app.iter().map(Result::unwrap).collect();
    assert_eq!(got[0].1.positive_buckets, vec![0.0, 1.0]);
    assert_eq!(got[1].1.positive_buckets, vec![0.0, 2.5]);
    let mut want = FloatHistogramAppender::new();
    for (t, h) in &got {
        want.append(*t, h).unwrap();
    }
    assert_eq!(want.bytes(), app.bytes());
    let r = app
        .append(10, &fh(5.0, vec![span(0, 2)], vec![0.5, 3.0]))
        .unwrap();
    assert!(matches!(
        r,
        HistogramAppend::Cut {
            reason: CutReason::CounterReset,
            ..
        }
    ));
}

#[test]
fn continuing_histogram_chunks_gives_the_same_bytes() {
    let hs: Vec<Histogram> = (0..30)
        .map(|i| int_hist(10 + i * 3, i, i as f64 * 0.7, &[i as i64, 1, 2]))
        .collect();
    let mut one = HistogramAppender::new();
    let mut fone = FloatHistogramAppender::new();
    for (i, h) in hs.iter().enumerate() {
        one.append(i as i64 * 15_000, h).unwrap();
        fone.append(i as i64 * 15_000, &h.to_float()).unwrap();
    }
    for split in [0, 1, 2, 3, 17, 29] {
        let mut a = HistogramAppender::new();
        let mut f = FloatHistogramAppender::new();
        for (i, h) in hs[..split].iter().enumerate() {
            a.append(i as i64 * 15_000, h).unwrap();
            f.append(i as i64 * 15_000, &h.to_float()).unwrap();
        }
        let mut a = HistogramAppender::from_chunk(a.into_bytes()).unwrap();
        let mut f = FloatHistogramAppender::from_chunk(f.into_bytes()).unwrap();
        for (i, h) in hs.iter().enumerate().skip(split) {
            a.append(i as i64 * 15_000, h).unwrap();
            f.append(i as i64 * 15_000, &h.to_float()).unwrap();
        }
        assert_eq!(a.bytes(), one.bytes(), "split at {split}");
        assert_eq!(f.bytes(), fone.bytes(), "float split at {split}");
    }
}
