//! Decoders never panic: arbitrary bytes and mutated valid chunks end in samples or errors.

use narthex_chunkenc::histogram::{
    FloatHistogram, FloatHistogramAppender, FloatHistogramIterator, Histogram, HistogramAppender,
    HistogramIterator, Span,
};
use narthex_chunkenc::segment::SegmentReader;
use narthex_chunkenc::{XorAppender, XorIterator};
use proptest::prelude::*;

/// Runs every decoder over `data` to the end.
fn decode_all(data: &[u8]) {
    let mut n = 0;
    for r in XorIterator::new(data) {
        n += usize::from(r.is_ok());
    }
    let mut it = XorIterator::new(data);
    let _ = it.seek(n as i64);
    for (_, h) in HistogramIterator::new(data).flatten() {
        let _ = h.to_float();
    }
    for r in FloatHistogramIterator::new(data) {
        let _ = r;
    }
    let _ = HistogramIterator::new(data).seek(1000);
    let _ = FloatHistogramIterator::new(data).seek(1000);
    let _ = XorAppender::from_chunk(data.to_vec()).map(|mut a| a.append(1, 1.0));
    let _ = HistogramAppender::from_chunk(data.to_vec())
        .map(|mut a| a.append(1, &Histogram::default()));
    let _ = FloatHistogramAppender::from_chunk(data.to_vec())
        .map(|mut a| a.append(1, &FloatHistogram::default()));
    let mut seg = vec![0x85, 0xbd, 0x40, 0xdd, 1, 0, 0, 0];
    seg.extend_from_slice(data);
    for r in SegmentReader::new(&seg) {
        let _ = r;
    }
    for r in SegmentReader::new(data) {
        let _ = r;
    }
}

/// Valid chunks of all three encodings, to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut x = XorAppender::new();
    for i in 0..40 {
        x.append(i * 15_000 + (i % 3), (i as f64).sqrt()).unwrap();
    }
    out.push(x.into_bytes());
    let mut h = HistogramAppender::new();
    let mut f = FloatHistogramAppender::new();
    for i in 0..20u64 {
        let hist = Histogram {
            schema: 1,
            zero_threshold: 0.001,
            zero_count: i,
            count: 4 * i,
            sum: i as f64 * 0.3,
            positive_spans: vec![
                Span {
                    offset: -1,
                    length: 2,
                },
                Span {
                    offset: 2,
                    length: 1,
                },
            ],
            negative_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![i as i64, 0, 1],
            negative_buckets: vec![i as i64],
            ..Histogram::default()
        };
        h.append(i as i64 * 1000, &hist).unwrap();
        f.append(i as i64 * 1000, &hist.to_float()).unwrap();
    }
    out.push(h.into_bytes());
    out.push(f.into_bytes());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
        decode_all(&data);
    }

    #[test]
    fn mutated_chunks_never_panic(
        which in 0usize..3,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut data = seeds().swap_remove(which);
        for (i, b) in flips {
            let k = i.index(data.len());
            data[k] ^= b;
        }
        decode_all(&data);
        let k = cut.index(data.len() + 1);
        decode_all(&data[..k]);
    }
}

#[test]
fn huge_layouts_are_refused_without_allocating() {
    use narthex_chunkenc::bstream::BitWriter;
    // Span counts and span lengths far beyond what the chunk's bits could encode.
    for (spans, length) in [(1u64 << 50, 1u64), (3, u64::from(u32::MAX))] {
        let mut w = BitWriter::with_header(&[0, 1, 0]);
        w.write_byte(0); // zero threshold 0
        w.write_varbit_int(0); // schema 0
        w.write_varbit_uint(spans);
        for _ in 0..3 {
            w.write_varbit_uint(length);
            w.write_varbit_int(0);
        }
        w.write_bits(u64::MAX, 64);
        let data = w.into_bytes();
        let mut hi = HistogramIterator::new(&data);
        assert!(
            matches!(hi.next(), Some(Err(_))),
            "{spans} spans of {length}"
        );
        assert!(hi.next().is_none());
        let mut fi = FloatHistogramIterator::new(&data);
        assert!(
            matches!(fi.next(), Some(Err(_))),
            "{spans} spans of {length}"
        );
    }
}
