//! The upstream TSDB fixture block: every chunk of `index_format_v1/chunks/000001` decodes,
//! and the samples the conformance README lists are there.

use narthex_chunkenc::segment::SegmentReader;
use narthex_chunkenc::{Encoding, XorAppender, XorIterator};

use crate::common::corpus;

#[test]
fn index_format_v1_chunks_decode() {
    let Some(dir) = corpus() else { return };
    let path = dir.join("tsdb/blocks/index_format_v1/chunks/000001");
    let seg = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    let mut samples = Vec::new();
    let mut chunks = 0;
    for c in SegmentReader::new(&seg) {
        let c = c.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(c.encoding(), Some(Encoding::Xor), "chunk at {}", c.offset);
        let before = samples.len();
        for s in XorIterator::new(c.data) {
            samples.push(s.unwrap_or_else(|e| panic!("chunk at {}: {e}", c.offset)));
        }
        // Re-encoding the samples gives Prometheus 2.0's bytes back.
        let mut app = XorAppender::new();
        for &(t, v) in &samples[before..] {
            app.append(t, v).unwrap();
        }
        assert_eq!(app.bytes(), c.data, "chunk at {} re-encoded", c.offset);
        chunks += 1;
    }
    assert_eq!(chunks, 102, "chunks in the segment");
    assert_eq!(samples.len(), 102);

    // {foo="bar"} (1, 2) and {foo="baz"} (3, 4).
    assert!(samples.contains(&(1, 2.0)), "sample (1, 2) missing");
    assert!(samples.contains(&(3, 4.0)), "sample (3, 4) missing");
    // 100 series {bar="0"}..{bar="99"} with a sample at t=0.
    let at_zero = samples.iter().filter(|(t, _)| *t == 0).count();
    assert_eq!(at_zero, 100, "samples at t=0");
    println!(
        "conformance index_format_v1: {chunks} chunks, {} samples decoded and re-encoded",
        samples.len()
    );
}
