//! A direct protobuf decoder for write requests: wire bytes straight to model types,
//! without the intermediate owned `prost` messages. Label names and values are interned
//! per request (each distinct string is checked for UTF-8 and allocated once), which is
//! where `prost`'s decoding spends its time. Histograms and 1.0 metadata, rare in
//! practice, go through the `prost` messages.
//!
//! Equivalent to `from_v1(prost decode)` / `from_v2(prost decode)` on every valid
//! encoding (a property test checks it); like them it never panics.

use std::collections::HashMap;
use std::sync::Arc;

use narthex_model::{Exemplar, Label, Labels, Metadata, Sample};
use prost::Message;

use crate::codec::{
    Error, FamilyMetadata, TimeSeries, WriteRequest, finish_labels, histogram_from_wire,
    metric_type_from_wire,
};
use crate::pb;

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

fn err(what: &str) -> Error {
    Error::Protobuf(what.to_string())
}

struct Buf<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Buf<'a> {
    fn new(b: &'a [u8]) -> Self {
        Buf { b, pos: 0 }
    }

    fn more(&self) -> bool {
        self.pos < self.b.len()
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.b.get(self.pos) else {
                return Err(err("buffer underflow in varint"));
            };
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(err("invalid varint"));
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err(err("invalid varint"))
    }

    fn key(&mut self) -> Result<(u64, u8), Error> {
        let k = self.varint()?;
        let field = k >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(err("invalid field number"));
        }
        Ok((field, (k & 7) as u8))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| err("buffer underflow"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| err("length too large"))?;
        self.take(n)
    }

    fn fixed64(&mut self) -> Result<u64, Error> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    fn skip(&mut self, wt: u8) -> Result<(), Error> {
        match wt {
            VARINT => self.varint().map(|_| ()),
            I64 => self.take(8).map(|_| ()),
            LEN => self.bytes().map(|_| ()),
            I32 => self.take(4).map(|_| ()),
            _ => Err(err("unsupported wire type")),
        }
    }

    /// Expects wire type `want` for a known field.
    fn check(wt: u8, want: u8) -> Result<(), Error> {
        if wt == want {
            Ok(())
        } else {
            Err(err("invalid wire type"))
        }
    }
}

struct Interner<'a> {
    map: HashMap<&'a [u8], Arc<str>>,
}

impl Default for Interner<'_> {
    fn default() -> Self {
        // Sized for a typical batch's distinct strings, so it rarely rehashes.
        Interner {
            map: HashMap::with_capacity(512),
        }
    }
}

impl<'a> Interner<'a> {
    fn get(&mut self, b: &'a [u8]) -> Result<Arc<str>, Error> {
        if let Some(s) = self.map.get(b) {
            return Ok(s.clone());
        }
        let s: Arc<str> = std::str::from_utf8(b)
            .map_err(|_| err("invalid string value: data is not UTF-8 encoded"))?
            .into();
        self.map.insert(b, s.clone());
        Ok(s)
    }
}

fn sample(b: &[u8]) -> Result<Sample, Error> {
    let mut d = Buf::new(b);
    let mut s = Sample {
        timestamp: 0,
        value: 0.0,
    };
    while d.more() {
        match d.key()? {
            (1, wt) => {
                Buf::check(wt, I64)?;
                s.value = f64::from_bits(d.fixed64()?);
            }
            (2, wt) => {
                Buf::check(wt, VARINT)?;
                s.timestamp = d.varint()? as i64;
            }
            (_, wt) => d.skip(wt)?,
        }
    }
    Ok(s)
}

fn label<'a>(b: &'a [u8], st: &mut Interner<'a>) -> Result<Label, Error> {
    let mut d = Buf::new(b);
    let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
    while d.more() {
        match d.key()? {
            (1, wt) => {
                Buf::check(wt, LEN)?;
                name = d.bytes()?;
            }
            (2, wt) => {
                Buf::check(wt, LEN)?;
                value = d.bytes()?;
            }
            (_, wt) => d.skip(wt)?,
        }
    }
    Ok(Label::new(st.get(name)?, st.get(value)?))
}

fn exemplar_v1<'a>(b: &'a [u8], st: &mut Interner<'a>) -> Result<Exemplar, Error> {
    let mut d = Buf::new(b);
    let mut labels = Vec::new();
    let mut e = Exemplar {
        labels: Labels::empty(),
        value: 0.0,
        timestamp: Some(0),
    };
    while d.more() {
        match d.key()? {
            (1, wt) => {
                Buf::check(wt, LEN)?;
                labels.push(label(d.bytes()?, st)?);
            }
            (2, wt) => {
                Buf::check(wt, I64)?;
                e.value = f64::from_bits(d.fixed64()?);
            }
            (3, wt) => {
                Buf::check(wt, VARINT)?;
                e.timestamp = Some(d.varint()? as i64);
            }
            (_, wt) => d.skip(wt)?,
        }
    }
    e.labels = finish_labels(labels)?;
    Ok(e)
}

fn histogram(b: &[u8]) -> Result<crate::codec::HistogramSample, Error> {
    histogram_from_wire(&pb::Histogram::decode(b)?)
}

fn series_v1<'a>(b: &'a [u8], st: &mut Interner<'a>) -> Result<TimeSeries, Error> {
    let mut d = Buf::new(b);
    let mut labels = Vec::with_capacity(12);
    let mut ts = TimeSeries::default();
    while d.more() {
        match d.key()? {
            (1, wt) => {
                Buf::check(wt, LEN)?;
                labels.push(label(d.bytes()?, st)?);
            }
            (2, wt) => {
                Buf::check(wt, LEN)?;
                ts.samples.push(sample(d.bytes()?)?);
            }
            (3, wt) => {
                Buf::check(wt, LEN)?;
                ts.exemplars.push(exemplar_v1(d.bytes()?, st)?);
            }
            (4, wt) => {
                Buf::check(wt, LEN)?;
                ts.histograms.push(histogram(d.bytes()?)?);
            }
            (_, wt) => d.skip(wt)?,
        }
    }
    ts.labels = finish_labels(labels)?;
    Ok(ts)
}

/// Decodes a `prometheus.WriteRequest`.
pub(crate) fn decode_v1(b: &[u8]) -> Result<WriteRequest, Error> {
    let mut d = Buf::new(b);
    let mut st = Interner::default();
    let mut out = WriteRequest::default();
    while d.more() {
        match d.key()? {
            (1, wt) => {
                Buf::check(wt, LEN)?;
                out.timeseries.push(series_v1(d.bytes()?, &mut st)?);
            }
            (3, wt) => {
                Buf::check(wt, LEN)?;
                let m = pb::v1::MetricMetadata::decode(d.bytes()?)?;
                out.metadata.push(FamilyMetadata {
                    family: m.metric_family_name,
                    metadata: Metadata {
                        metric_type: metric_type_from_wire(m.r#type)?,
                        help: m.help,
                        unit: m.unit,
                    },
                });
            }
            (_, wt) => d.skip(wt)?,
        }
    }
    Ok(out)
}

fn refs(d: &mut Buf<'_>, wt: u8, out: &mut Vec<u32>) -> Result<(), Error> {
    match wt {
        VARINT => out.push(d.varint()? as u32),
        LEN => {
            let mut p = Buf::new(d.bytes()?);
            while p.more() {
                out.push(p.varint()? as u32);
            }
        }
        _ => return Err(err("invalid wire type")),
    }
    Ok(())
}

fn symbol(symbols: &[Arc<str>], r: u32) -> Result<Arc<str>, Error> {
    symbols.get(r as usize).cloned().ok_or(Error::SymbolRef {
        reference: r,
        len: symbols.len(),
    })
}

fn labels_v2(symbols: &[Arc<str>], r: &[u32]) -> Result<Labels, Error> {
    if !r.len().is_multiple_of(2) {
        return Err(Error::OddLabelRefs(r.len()));
    }
    let mut v = Vec::with_capacity(r.len() / 2);
    for p in r.chunks_exact(2) {
        v.push(Label::new(symbol(symbols, p[0])?, symbol(symbols, p[1])?));
    }
    finish_labels(v)
}

fn series_v2(b: &[u8], symbols: &[Arc<str>], scratch: &mut Vec<u32>) -> Result<TimeSeries, Error> {
    let mut d = Buf::new(b);
    let mut ts = TimeSeries::default();
    scratch.clear();
    let mut meta: Option<(i32, u32, u32)> = None;
    while d.more() {
        match d.key()? {
            (1, wt) => refs(&mut d, wt, scratch)?,
            (2, wt) => {
                Buf::check(wt, LEN)?;
                ts.samples.push(sample(d.bytes()?)?);
            }
            (3, wt) => {
                Buf::check(wt, LEN)?;
                ts.histograms.push(histogram(d.bytes()?)?);
            }
            (4, wt) => {
                Buf::check(wt, LEN)?;
                let mut e = Buf::new(d.bytes()?);
                let mut r = Vec::new();
                let mut ex = Exemplar {
                    labels: Labels::empty(),
                    value: 0.0,
                    timestamp: Some(0),
                };
                while e.more() {
                    match e.key()? {
                        (1, wt) => refs(&mut e, wt, &mut r)?,
                        (2, wt) => {
                            Buf::check(wt, I64)?;
                            ex.value = f64::from_bits(e.fixed64()?);
                        }
                        (3, wt) => {
                            Buf::check(wt, VARINT)?;
                            ex.timestamp = Some(e.varint()? as i64);
                        }
                        (_, wt) => e.skip(wt)?,
                    }
                }
                ex.labels = labels_v2(symbols, &r)?;
                ts.exemplars.push(ex);
            }
            (5, wt) => {
                Buf::check(wt, LEN)?;
                let mut m = Buf::new(d.bytes()?);
                let cur = meta.get_or_insert((0, 0, 0));
                while m.more() {
                    match m.key()? {
                        (1, wt) => {
                            Buf::check(wt, VARINT)?;
                            cur.0 = m.varint()? as i32;
                        }
                        (3, wt) => {
                            Buf::check(wt, VARINT)?;
                            cur.1 = m.varint()? as u32;
                        }
                        (4, wt) => {
                            Buf::check(wt, VARINT)?;
                            cur.2 = m.varint()? as u32;
                        }
                        (_, wt) => m.skip(wt)?,
                    }
                }
            }
            (6, wt) => {
                Buf::check(wt, VARINT)?;
                ts.created_timestamp = d.varint()? as i64;
            }
            (_, wt) => d.skip(wt)?,
        }
    }
    if let Some((t, h, u)) = meta {
        ts.metadata = Some(Metadata {
            metric_type: metric_type_from_wire(t)?,
            help: symbol(symbols, h)?.to_string(),
            unit: symbol(symbols, u)?.to_string(),
        });
    }
    ts.labels = labels_v2(symbols, scratch)?;
    Ok(ts)
}

/// Decodes an `io.prometheus.write.v2.Request`.
pub(crate) fn decode_v2(b: &[u8]) -> Result<WriteRequest, Error> {
    let mut d = Buf::new(b);
    let mut symbols: Vec<Arc<str>> = Vec::new();
    let mut series: Vec<&[u8]> = Vec::new();
    while d.more() {
        match d.key()? {
            (4, wt) => {
                Buf::check(wt, LEN)?;
                let s = std::str::from_utf8(d.bytes()?)
                    .map_err(|_| err("invalid string value: data is not UTF-8 encoded"))?;
                symbols.push(s.into());
            }
            (5, wt) => {
                Buf::check(wt, LEN)?;
                series.push(d.bytes()?);
            }
            (_, wt) => d.skip(wt)?,
        }
    }
    if symbols.first().is_some_and(|s| !s.is_empty()) {
        return Err(Error::FirstSymbolNotEmpty);
    }
    let mut out = WriteRequest {
        timeseries: Vec::with_capacity(series.len()),
        metadata: Vec::new(),
    };
    let mut scratch = Vec::new();
    for s in series {
        out.timeseries.push(series_v2(s, &symbols, &mut scratch)?);
    }
    Ok(out)
}
