//! Fuzz target `chunk_decode`: chunk and segment decoders of `narthex-chunkenc` on arbitrary
//! bytes. Decoding must never panic, and whatever decodes must survive a re-encode: the
//! re-encoded chunk decodes to the same samples (bit for bit).
#![no_main]

use narthex_chunkenc::histogram::{
    FloatHistogram, FloatHistogramAppender, FloatHistogramIterator, Histogram, HistogramAppender,
    HistogramIterator,
};
use narthex_chunkenc::segment::SegmentReader;
use narthex_chunkenc::{XorAppender, XorIterator};

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

fn check(data: &[u8]) {
    // XOR: decode, re-encode, decode again.
    let xs: Vec<(i64, u64)> = XorIterator::new(data)
        .map_while(Result::ok)
        .map(|(t, v)| (t, v.to_bits()))
        .collect();
    let mut app = XorAppender::new();
    for &(t, v) in &xs {
        app.append(t, f64::from_bits(v)).unwrap();
    }
    let again: Vec<(i64, u64)> = XorIterator::new(app.bytes())
        .map(|r| r.map(|(t, v)| (t, v.to_bits())).unwrap())
        .collect();
    assert_eq!(again, xs);
    if let Some(&(t, _)) = xs.get(xs.len() / 2) {
        let mut it = XorIterator::new(data);
        let _ = it.seek(t);
    }
    if let Ok(mut a) = XorAppender::from_chunk(data.to_vec()) {
        let _ = a.append(0, 0.0);
    }

    // Integer histograms: every decoded histogram appends again and decodes the same.
    let hs: Vec<(i64, Histogram)> = HistogramIterator::new(data).map_while(Result::ok).collect();
    let mut happ = HistogramAppender::new();
    for (t, h) in &hs {
        // Decoded histograms may be invalid (say, negative span offsets): refused, not panics.
        let _ = happ.append(*t, h);
    }
    for r in HistogramIterator::new(happ.bytes()) {
        r.unwrap();
    }
    if let Ok(mut a) = HistogramAppender::from_chunk(data.to_vec()) {
        let _ = a.append(0, &Histogram::default());
    }

    // Float histograms.
    let fs: Vec<(i64, FloatHistogram)> = FloatHistogramIterator::new(data)
        .map_while(Result::ok)
        .collect();
    let mut fapp = FloatHistogramAppender::new();
    for (t, h) in &fs {
        let _ = fapp.append(*t, h);
    }
    for r in FloatHistogramIterator::new(fapp.bytes()) {
        r.unwrap();
    }
    if let Ok(mut a) = FloatHistogramAppender::from_chunk(data.to_vec()) {
        let _ = a.append(0, &FloatHistogram::default());
    }

    // Segments: as given, and with a valid header in front.
    for c in SegmentReader::new(data).map_while(Result::ok) {
        let _ = c.encoding();
    }
    let mut seg = vec![0x85, 0xbd, 0x40, 0xdd, 1, 0, 0, 0];
    seg.extend_from_slice(data);
    for c in SegmentReader::new(&seg).map_while(Result::ok) {
        for r in XorIterator::new(c.data) {
            let _ = r;
        }
    }
}
