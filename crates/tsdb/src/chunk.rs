//! The head's view of chunk encodings: build a chunk value by value (floats as XOR, native
//! histograms in Prometheus's histogram encodings), decode one back.

use narthex_chunkenc::histogram::{
    self as ch, FloatHistogramAppender, FloatHistogramIterator, HistogramAppend, HistogramAppender,
    HistogramIterator,
};
use narthex_chunkenc::{Encoding, XorAppender, XorIterator};
use narthex_model::{CounterResetHint, FloatHistogram, Histogram, Span};
use narthex_storage::SampleValue;

/// A value the head stores.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum HeadValue {
    Float(f64),
    Histogram(Box<Histogram>),
    FloatHistogram(Box<FloatHistogram>),
}

impl HeadValue {
    /// The chunk encoding this value goes into.
    pub(crate) fn encoding(&self) -> Encoding {
        match self {
            HeadValue::Float(_) => Encoding::Xor,
            HeadValue::Histogram(_) => Encoding::Histogram,
            HeadValue::FloatHistogram(_) => Encoding::FloatHistogram,
        }
    }

    /// The value as the storage traits hand it out.
    pub(crate) fn to_sample_value(&self) -> SampleValue {
        match self {
            HeadValue::Float(f) => SampleValue::Float(*f),
            HeadValue::Histogram(h) => SampleValue::Histogram(h.clone()),
            HeadValue::FloatHistogram(h) => SampleValue::FloatHistogram(h.clone()),
        }
    }

    /// Equal for duplicate detection: floats bit for bit.
    pub(crate) fn same(&self, other: &HeadValue) -> bool {
        match (self, other) {
            (HeadValue::Float(a), HeadValue::Float(b)) => a.to_bits() == b.to_bits(),
            (a, b) => a == b,
        }
    }
}

fn hint_to(h: CounterResetHint) -> ch::CounterResetHint {
    match h {
        CounterResetHint::Unknown => ch::CounterResetHint::Unknown,
        CounterResetHint::CounterReset => ch::CounterResetHint::CounterReset,
        CounterResetHint::NotCounterReset => ch::CounterResetHint::NotCounterReset,
        CounterResetHint::Gauge => ch::CounterResetHint::Gauge,
    }
}

fn hint_from(h: ch::CounterResetHint) -> CounterResetHint {
    match h {
        ch::CounterResetHint::Unknown => CounterResetHint::Unknown,
        ch::CounterResetHint::CounterReset => CounterResetHint::CounterReset,
        ch::CounterResetHint::NotCounterReset => CounterResetHint::NotCounterReset,
        ch::CounterResetHint::Gauge => CounterResetHint::Gauge,
    }
}

fn spans_to(s: &[Span]) -> Vec<ch::Span> {
    s.iter()
        .map(|s| ch::Span {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn spans_from(s: &[ch::Span]) -> Vec<Span> {
    s.iter()
        .map(|s| Span {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn h_to(h: &Histogram) -> ch::Histogram {
    ch::Histogram {
        counter_reset_hint: hint_to(h.counter_reset_hint),
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: h.zero_count,
        count: h.count,
        sum: h.sum,
        positive_spans: spans_to(&h.positive_spans),
        negative_spans: spans_to(&h.negative_spans),
        positive_buckets: h.positive_buckets.clone(),
        negative_buckets: h.negative_buckets.clone(),
        custom_values: h.custom_values.clone(),
    }
}

fn h_from(h: ch::Histogram) -> Histogram {
    Histogram {
        counter_reset_hint: hint_from(h.counter_reset_hint),
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: h.zero_count,
        count: h.count,
        sum: h.sum,
        positive_spans: spans_from(&h.positive_spans),
        negative_spans: spans_from(&h.negative_spans),
        positive_buckets: h.positive_buckets,
        negative_buckets: h.negative_buckets,
        custom_values: h.custom_values,
    }
}

fn fh_to(h: &FloatHistogram) -> ch::FloatHistogram {
    ch::FloatHistogram {
        counter_reset_hint: hint_to(h.counter_reset_hint),
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: h.zero_count,
        count: h.count,
        sum: h.sum,
        positive_spans: spans_to(&h.positive_spans),
        negative_spans: spans_to(&h.negative_spans),
        positive_buckets: h.positive_buckets.clone(),
        negative_buckets: h.negative_buckets.clone(),
        custom_values: h.custom_values.clone(),
    }
}

fn fh_from(h: ch::FloatHistogram) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: hint_from(h.counter_reset_hint),
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: h.zero_count,
        count: h.count,
        sum: h.sum,
        positive_spans: spans_from(&h.positive_spans),
        negative_spans: spans_from(&h.negative_spans),
        positive_buckets: h.positive_buckets,
        negative_buckets: h.negative_buckets,
        custom_values: h.custom_values,
    }
}

/// A chunk being appended to.
#[derive(Clone, Debug)]
pub(crate) enum ChunkBuilder {
    Xor(XorAppender),
    // Histogram appenders are large; boxing them keeps every float series' chunk small.
    Histogram(Box<HistogramAppender>),
    FloatHistogram(Box<FloatHistogramAppender>),
}

/// What an append did to the chunk.
pub(crate) enum Appended {
    /// The value is in the chunk.
    Done,
    /// The value did not fit (a counter reset, a schema change...): these are the bytes of
    /// the chunk as it was, and the builder now holds a new chunk starting with the value.
    Cut(Vec<u8>),
}

impl ChunkBuilder {
    pub(crate) fn new(encoding: Encoding) -> Self {
        match encoding {
            Encoding::Histogram => ChunkBuilder::Histogram(Box::new(HistogramAppender::new())),
            Encoding::FloatHistogram => {
                ChunkBuilder::FloatHistogram(Box::new(FloatHistogramAppender::new()))
            }
            _ => ChunkBuilder::Xor(XorAppender::new()),
        }
    }

    /// Appends a value of the chunk's own kind (the head cuts on a kind change first).
    /// Returns `Err` with a reason for a histogram the encoding refuses.
    pub(crate) fn append(&mut self, t: i64, v: &HeadValue) -> Result<Appended, String> {
        match (self, v) {
            (ChunkBuilder::Xor(a), HeadValue::Float(x)) => {
                // The head cuts long before the XOR format's 65,535-sample limit.
                a.append(t, *x).map_err(|e| e.to_string())?;
                Ok(Appended::Done)
            }
            (ChunkBuilder::Histogram(a), HeadValue::Histogram(h)) => match a.append(t, &h_to(h)) {
                Ok(HistogramAppend::Cut { finished, .. }) => Ok(Appended::Cut(finished)),
                Ok(_) => Ok(Appended::Done),
                Err(e) => Err(format!("{e:?}")),
            },
            (ChunkBuilder::FloatHistogram(a), HeadValue::FloatHistogram(h)) => {
                match a.append(t, &fh_to(h)) {
                    Ok(HistogramAppend::Cut { finished, .. }) => Ok(Appended::Cut(finished)),
                    Ok(_) => Ok(Appended::Done),
                    Err(e) => Err(format!("{e:?}")),
                }
            }
            _ => Err("value of another kind than the chunk".into()),
        }
    }

    pub(crate) fn num_samples(&self) -> usize {
        match self {
            ChunkBuilder::Xor(a) => a.num_samples(),
            ChunkBuilder::Histogram(a) => a.num_samples(),
            ChunkBuilder::FloatHistogram(a) => a.num_samples(),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            ChunkBuilder::Xor(a) => a.bytes(),
            ChunkBuilder::Histogram(a) => a.bytes(),
            ChunkBuilder::FloatHistogram(a) => a.bytes(),
        }
    }

    pub(crate) fn encoding(&self) -> Encoding {
        match self {
            ChunkBuilder::Xor(_) => Encoding::Xor,
            ChunkBuilder::Histogram(_) => Encoding::Histogram,
            ChunkBuilder::FloatHistogram(_) => Encoding::FloatHistogram,
        }
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
            // Internal iteration: the XOR iterator's fastest way through a chunk.
            let mut err = None;
            XorIterator::new(data).for_each(|s| match s {
                Ok((t, v)) => out.push((t, SampleValue::Float(v))),
                Err(e) => err = Some(e),
            });
            if let Some(e) = err {
                return Err(e.to_string());
            }
        }
        Some(Encoding::Histogram) => {
            for s in HistogramIterator::new(data) {
                let (t, h) = s.map_err(|e| e.to_string())?;
                out.push((t, SampleValue::Histogram(Box::new(h_from(h)))));
            }
        }
        Some(Encoding::FloatHistogram) => {
            for s in FloatHistogramIterator::new(data) {
                let (t, h) = s.map_err(|e| e.to_string())?;
                out.push((t, SampleValue::FloatHistogram(Box::new(fh_from(h)))));
            }
        }
        _ => return Err(format!("unsupported chunk encoding {encoding}")),
    }
    Ok(())
}

impl From<&SampleValue> for HeadValue {
    fn from(v: &SampleValue) -> Self {
        match v {
            SampleValue::Float(f) => HeadValue::Float(*f),
            SampleValue::Histogram(h) => HeadValue::Histogram(h.clone()),
            SampleValue::FloatHistogram(h) => HeadValue::FloatHistogram(h.clone()),
        }
    }
}

/// A finished chunk: its encoding, bytes and time range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedChunk {
    /// Encoding byte (1 XOR, 2 histogram, 3 float histogram).
    pub encoding: u8,
    /// The chunk as Prometheus stores it.
    pub bytes: Vec<u8>,
    /// First sample's timestamp.
    pub mint: i64,
    /// Last sample's timestamp.
    pub maxt: i64,
    /// Number of samples.
    pub samples: usize,
    /// Whether the chunk holds native histograms.
    pub histograms: bool,
}

/// Encodes samples (sorted by time, unique timestamps) into Prometheus chunks of at most
/// `per_chunk` samples: XOR for floats, histogram chunks for native histograms, cut where
/// the value kind changes or a histogram chunk must be cut. An error names a histogram
/// the encoding refuses.
pub fn encode_samples(
    samples: &[(i64, SampleValue)],
    per_chunk: usize,
) -> Result<Vec<EncodedChunk>, String> {
    struct Open {
        b: ChunkBuilder,
        mint: i64,
        maxt: i64,
        n: usize,
    }
    fn close(o: Open, out: &mut Vec<EncodedChunk>) {
        let enc = o.b.encoding();
        out.push(EncodedChunk {
            encoding: enc.as_u8(),
            bytes: o.b.bytes().to_vec(),
            mint: o.mint,
            maxt: o.maxt,
            samples: o.n,
            histograms: enc != Encoding::Xor,
        });
    }
    let mut out = Vec::new();
    let mut cur: Option<Open> = None;
    for (t, v) in samples {
        let hv = HeadValue::from(v);
        if let Some(o) = cur.take() {
            if o.b.encoding() == hv.encoding() && o.n < per_chunk {
                cur = Some(o);
            } else {
                close(o, &mut out);
            }
        }
        let o = cur.get_or_insert_with(|| Open {
            b: ChunkBuilder::new(hv.encoding()),
            mint: *t,
            maxt: *t,
            n: 0,
        });
        match o.b.append(*t, &hv)? {
            Appended::Done => {
                o.maxt = *t;
                o.n += 1;
            }
            Appended::Cut(finished) => {
                out.push(EncodedChunk {
                    encoding: o.b.encoding().as_u8(),
                    bytes: finished,
                    mint: o.mint,
                    maxt: o.maxt,
                    samples: o.n,
                    histograms: true,
                });
                o.mint = *t;
                o.maxt = *t;
                o.n = 1;
            }
        }
    }
    if let Some(o) = cur {
        close(o, &mut out);
    }
    Ok(out)
}
