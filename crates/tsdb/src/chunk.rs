//! The head's view of chunk encodings: build a chunk sample by sample, decode one back.

use narthex_chunkenc::{Encoding, XorAppender, XorIterator};
use narthex_storage::SampleValue;

/// A chunk being appended to: Prometheus's XOR encoding, byte for byte.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChunkBuilder {
    xor: XorAppender,
}

impl ChunkBuilder {
    pub(crate) fn new() -> Self {
        ChunkBuilder {
            xor: XorAppender::new(),
        }
    }

    /// Appends a sample. The head cuts chunks long before the XOR format's 65,535-sample
    /// limit, so a full chunk cannot happen here; it would only drop the sample.
    pub(crate) fn append(&mut self, t: i64, v: f64) {
        let _ = self.xor.append(t, v);
    }

    pub(crate) fn num_samples(&self) -> usize {
        self.xor.num_samples()
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.xor.bytes()
    }

    pub(crate) fn encoding(&self) -> u8 {
        Encoding::Xor.as_u8()
    }
}

/// Appends the samples of a chunk to `out`.
pub(crate) fn decode_into(
    encoding: u8,
    data: &[u8],
    out: &mut Vec<(i64, SampleValue)>,
) -> Result<(), String> {
    match Encoding::from_u8(encoding) {
        Some(Encoding::Xor) => {
            for s in XorIterator::new(data) {
                let (t, v) = s.map_err(|e| e.to_string())?;
                out.push((t, SampleValue::Float(v)));
            }
            Ok(())
        }
        _ => Err(format!("unsupported chunk encoding {encoding}")),
    }
}
