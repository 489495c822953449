//! A direct protobuf encoder for write requests: model types straight to wire bytes, with
//! no intermediate `prost` messages (no per-label `String` copies). The output is byte for
//! byte what `prost` writes for the same message (a property test checks it): fields in
//! tag order, proto3 defaults omitted, packed repeated scalars. Histograms and 1.0
//! metadata go through the `prost` messages.

use narthex_model::{Exemplar, Label, Labels, Sample};
use prost::Message;

use std::collections::HashMap;

use crate::codec::{WriteRequest, histogram_to_wire, to_v1_metadata};

/// A 2.0 symbols table borrowing its strings from the request being encoded (no copies).
struct Symbols<'a> {
    index: HashMap<&'a str, u32>,
    symbols: Vec<&'a str>,
}

impl<'a> Symbols<'a> {
    fn new() -> Self {
        let mut index = HashMap::with_capacity(256);
        index.insert("", 0);
        Symbols {
            index,
            symbols: vec![""],
        }
    }

    fn symbolize(&mut self, s: &'a str) -> u32 {
        let next = self.symbols.len() as u32;
        let r = *self.index.entry(s).or_insert(next);
        if r == next {
            self.symbols.push(s);
        }
        r
    }

    fn symbolize_labels(&mut self, l: &'a Labels, refs: &mut Vec<u32>) {
        for l in l {
            refs.push(self.symbolize(&l.name));
            refs.push(self.symbolize(&l.value));
        }
    }
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Length of a length-delimited field holding `n` bytes (key of one byte).
fn ld_len(n: usize) -> usize {
    1 + varint_len(n as u64) + n
}

fn put_ld(out: &mut Vec<u8>, key: u8, n: usize) {
    out.push(key);
    put_varint(out, n as u64);
}

fn str_field_len(s: &str) -> usize {
    if s.is_empty() { 0 } else { ld_len(s.len()) }
}

fn put_str(out: &mut Vec<u8>, key: u8, s: &str) {
    if !s.is_empty() {
        put_ld(out, key, s.len());
        out.extend_from_slice(s.as_bytes());
    }
}

fn f64_field_len(v: f64) -> usize {
    if v != 0.0 { 9 } else { 0 }
}

fn put_f64(out: &mut Vec<u8>, key: u8, v: f64) {
    if v != 0.0 {
        out.push(key);
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

fn i64_field_len(v: i64) -> usize {
    if v != 0 { 1 + varint_len(v as u64) } else { 0 }
}

fn put_i64(out: &mut Vec<u8>, key: u8, v: i64) {
    if v != 0 {
        out.push(key);
        put_varint(out, v as u64);
    }
}

fn label_len(l: &Label) -> usize {
    str_field_len(&l.name) + str_field_len(&l.value)
}

fn labels_len(l: &Labels) -> usize {
    l.iter().map(|l| ld_len(label_len(l))).sum()
}

fn put_labels(out: &mut Vec<u8>, key: u8, l: &Labels) {
    for l in l {
        put_ld(out, key, label_len(l));
        put_str(out, 0x0a, &l.name);
        put_str(out, 0x12, &l.value);
    }
}

fn sample_len(s: &Sample) -> usize {
    f64_field_len(s.value) + i64_field_len(s.timestamp)
}

fn put_sample(out: &mut Vec<u8>, key: u8, s: &Sample) {
    put_ld(out, key, sample_len(s));
    put_f64(out, 0x09, s.value);
    put_i64(out, 0x10, s.timestamp);
}

fn exemplar_v1_len(e: &Exemplar) -> usize {
    labels_len(&e.labels) + f64_field_len(e.value) + i64_field_len(e.timestamp.unwrap_or(0))
}

/// Encodes a 1.0 `WriteRequest`.
pub(crate) fn encode_v1(req: &WriteRequest) -> Vec<u8> {
    // Pass 1: lengths (histograms as prost messages, rare).
    let mut hists = Vec::new();
    let mut lens = Vec::with_capacity(req.timeseries.len());
    let mut total = 0;
    for ts in &req.timeseries {
        let mut n = labels_len(&ts.labels);
        n += ts
            .samples
            .iter()
            .map(|s| ld_len(sample_len(s)))
            .sum::<usize>();
        n += ts
            .exemplars
            .iter()
            .map(|e| ld_len(exemplar_v1_len(e)))
            .sum::<usize>();
        for h in &ts.histograms {
            let m = histogram_to_wire(h.timestamp, &h.value);
            n += ld_len(m.encoded_len());
            hists.push(m);
        }
        lens.push(n);
        total += ld_len(n);
    }
    let metadata: Vec<_> = req.metadata.iter().map(to_v1_metadata).collect();
    total += metadata
        .iter()
        .map(|m| ld_len(m.encoded_len()))
        .sum::<usize>();
    // Pass 2: bytes.
    let mut out = Vec::with_capacity(total);
    let mut hi = hists.iter();
    for (ts, n) in req.timeseries.iter().zip(lens) {
        put_ld(&mut out, 0x0a, n);
        put_labels(&mut out, 0x0a, &ts.labels);
        for s in &ts.samples {
            put_sample(&mut out, 0x12, s);
        }
        for e in &ts.exemplars {
            put_ld(&mut out, 0x1a, exemplar_v1_len(e));
            put_labels(&mut out, 0x0a, &e.labels);
            put_f64(&mut out, 0x11, e.value);
            put_i64(&mut out, 0x18, e.timestamp.unwrap_or(0));
        }
        for _ in &ts.histograms {
            if let Some(m) = hi.next() {
                put_ld(&mut out, 0x22, m.encoded_len());
                m.encode_raw(&mut out);
            }
        }
    }
    for m in &metadata {
        put_ld(&mut out, 0x1a, m.encoded_len());
        m.encode_raw(&mut out);
    }
    out
}

fn packed_len(refs: &[u32]) -> usize {
    refs.iter().map(|r| varint_len(u64::from(*r))).sum()
}

fn put_packed(out: &mut Vec<u8>, key: u8, refs: &[u32]) {
    if !refs.is_empty() {
        put_ld(out, key, packed_len(refs));
        for r in refs {
            put_varint(out, u64::from(*r));
        }
    }
}

fn packed_field_len(refs: &[u32]) -> usize {
    if refs.is_empty() {
        0
    } else {
        ld_len(packed_len(refs))
    }
}

fn u32_field_len(v: u32) -> usize {
    if v != 0 {
        1 + varint_len(u64::from(v))
    } else {
        0
    }
}

/// Encodes a 2.0 `Request`.
pub(crate) fn encode_v2(req: &WriteRequest) -> Vec<u8> {
    // Pass 1: symbols and references, lengths.
    let mut st = Symbols::new();
    let mut refs: Vec<u32> = Vec::new();
    // Per series: (labels refs range, exemplar refs ranges start, metadata, length).
    struct Plan {
        labels: (usize, usize),
        exemplars: Vec<(usize, usize)>,
        meta: Option<(i32, u32, u32)>,
        len: usize,
    }
    let mut plans = Vec::with_capacity(req.timeseries.len());
    let mut hists = Vec::new();
    for ts in &req.timeseries {
        let a = refs.len();
        st.symbolize_labels(&ts.labels, &mut refs);
        let labels = (a, refs.len());
        let mut n = packed_field_len(&refs[labels.0..labels.1]);
        n += ts
            .samples
            .iter()
            .map(|s| ld_len(sample_len(s)))
            .sum::<usize>();
        for h in &ts.histograms {
            let m = histogram_to_wire(h.timestamp, &h.value);
            n += ld_len(m.encoded_len());
            hists.push(m);
        }
        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for e in &ts.exemplars {
            let a = refs.len();
            st.symbolize_labels(&e.labels, &mut refs);
            let r = (a, refs.len());
            let len = packed_field_len(&refs[r.0..r.1])
                + f64_field_len(e.value)
                + i64_field_len(e.timestamp.unwrap_or(0));
            n += ld_len(len);
            exemplars.push(r);
        }
        let meta = ts.metadata.as_ref().map(|m| {
            (
                crate::codec::metric_type_to_wire(m.metric_type),
                st.symbolize(&m.help),
                st.symbolize(&m.unit),
            )
        });
        if let Some((t, h, u)) = meta {
            let len = i64_field_len(i64::from(t)) + u32_field_len(h) + u32_field_len(u);
            n += ld_len(len);
        }
        n += i64_field_len(ts.created_timestamp);
        plans.push(Plan {
            labels,
            exemplars,
            meta,
            len: n,
        });
    }
    let symbols = st.symbols;
    let total: usize = symbols.iter().map(|s| ld_len(s.len())).sum::<usize>()
        + plans.iter().map(|p| ld_len(p.len)).sum::<usize>();
    // Pass 2: bytes.
    let mut out = Vec::with_capacity(total);
    for s in &symbols {
        // Repeated strings are written even when empty.
        put_ld(&mut out, 0x22, s.len());
        out.extend_from_slice(s.as_bytes());
    }
    let mut hi = hists.iter();
    for (ts, p) in req.timeseries.iter().zip(&plans) {
        put_ld(&mut out, 0x2a, p.len);
        put_packed(&mut out, 0x0a, &refs[p.labels.0..p.labels.1]);
        for s in &ts.samples {
            put_sample(&mut out, 0x12, s);
        }
        for _ in &ts.histograms {
            if let Some(m) = hi.next() {
                put_ld(&mut out, 0x1a, m.encoded_len());
                m.encode_raw(&mut out);
            }
        }
        for (e, r) in ts.exemplars.iter().zip(&p.exemplars) {
            let r = &refs[r.0..r.1];
            let len = packed_field_len(r)
                + f64_field_len(e.value)
                + i64_field_len(e.timestamp.unwrap_or(0));
            put_ld(&mut out, 0x22, len);
            put_packed(&mut out, 0x0a, r);
            put_f64(&mut out, 0x11, e.value);
            put_i64(&mut out, 0x18, e.timestamp.unwrap_or(0));
        }
        if let Some((t, h, u)) = p.meta {
            let len = i64_field_len(i64::from(t)) + u32_field_len(h) + u32_field_len(u);
            put_ld(&mut out, 0x2a, len);
            put_i64(&mut out, 0x08, i64::from(t));
            if h != 0 {
                out.push(0x18);
                put_varint(&mut out, u64::from(h));
            }
            if u != 0 {
                out.push(0x20);
                put_varint(&mut out, u64::from(u));
            }
        }
        put_i64(&mut out, 0x30, ts.created_timestamp);
    }
    out
}
