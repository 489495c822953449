//! Float histogram chunks ([`Encoding::FloatHistogram`](crate::Encoding::FloatHistogram)).

use super::int::Plan;
use super::layout::{
    Count, HEADER, Layout, count_spans, fit_counter, fit_gauge, read_layout, remap, union_spans,
    write_layout,
};
use super::{
    CounterResetHeader, CounterResetHint, CutReason, FloatHistogram, HistogramAppend,
    InvalidHistogram, STALE_NAN_BITS, Span, bounds_match, hint_for, is_stale_nan, validate,
};
use crate::ChunkError;
use crate::bstream::{BitReader, BitWriter, Eof};
use crate::xor::{xor_read, xor_write};

/// "No XOR window yet" (see the XOR module).
const NO_WINDOW: u8 = 0xff;

/// One XOR-encoded float field: its last value (as bits) and window.
#[derive(Clone, Copy, Debug)]
struct XorValue {
    value: u64,
    leading: u8,
    trailing: u8,
}

impl XorValue {
    fn fresh(value: f64) -> XorValue {
        XorValue {
            value: value.to_bits(),
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    #[inline]
    fn write(&mut self, w: &mut BitWriter, v: f64) {
        xor_write(
            w,
            v.to_bits(),
            self.value,
            &mut self.leading,
            &mut self.trailing,
        );
        self.value = v.to_bits();
    }

    #[inline]
    fn read(&mut self, r: &mut BitReader<'_>, sample: u16) -> Result<(), ChunkError> {
        xor_read(r, &mut self.value, &mut self.leading, &mut self.trailing)
            .map_err(|e| e.at(sample))
    }

    fn get(self) -> f64 {
        f64::from_bits(self.value)
    }
}

/// Appends float histograms to a float histogram chunk, bit-compatible with Prometheus's
/// `FloatHistogramAppender`.
#[derive(Clone, Debug)]
pub struct FloatHistogramAppender {
    w: BitWriter,
    num: u16,
    layout: Layout,
    t: i64,
    t_delta: i64,
    cnt: XorValue,
    zcnt: XorValue,
    sum: XorValue,
    pbuckets: Vec<XorValue>,
    nbuckets: Vec<XorValue>,
}

impl Default for FloatHistogramAppender {
    fn default() -> Self {
        FloatHistogramAppender::new()
    }
}

impl FloatHistogramAppender {
    /// An appender on a new, empty chunk (counter-reset header "unknown").
    pub fn new() -> FloatHistogramAppender {
        FloatHistogramAppender {
            w: BitWriter::with_header(&[0; HEADER]),
            num: 0,
            layout: Layout::default(),
            t: 0,
            t_delta: 0,
            cnt: XorValue::fresh(0.0),
            zcnt: XorValue::fresh(0.0),
            sum: XorValue::fresh(0.0),
            pbuckets: Vec::new(),
            nbuckets: Vec::new(),
        }
    }

    /// Continues an existing chunk: decodes every sample to recover the encoder's state, so
    /// that appending gives the same bytes as appending all samples in one go.
    pub fn from_chunk(bytes: Vec<u8>) -> Result<FloatHistogramAppender, ChunkError> {
        let mut it = FloatHistogramIterator::new(&bytes);
        while it.advance()? {}
        let bits = HEADER * 8 + it.r.position();
        let expected_len = bits.div_ceil(8);
        let actual_len = bytes.len();
        let FloatHistogramIterator {
            read,
            layout,
            t,
            t_delta,
            cnt,
            zcnt,
            sum,
            pbuckets,
            nbuckets,
            ..
        } = it;
        let w = BitWriter::resume(bytes, bits).ok_or(ChunkError::TrailingData {
            expected_len,
            actual_len,
        })?;
        Ok(FloatHistogramAppender {
            w,
            num: read,
            layout,
            t,
            t_delta,
            cnt,
            zcnt,
            sum,
            pbuckets,
            nbuckets,
        })
    }

    /// Samples in the chunk.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    /// The chunk's bytes (header included).
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// The chunk's bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// The chunk's counter-reset header.
    pub fn counter_reset_header(&self) -> CounterResetHeader {
        CounterResetHeader::from_flags(self.w.bytes()[2])
    }

    fn set_header(&mut self, h: CounterResetHeader) {
        let b = &mut self.w.bytes_mut()[2];
        *b = (*b & !super::COUNTER_RESET_HEADER_MASK) | h as u8;
    }

    /// An iterator over the histograms appended so far.
    pub fn iter(&self) -> FloatHistogramIterator<'_> {
        FloatHistogramIterator::new(self.bytes())
    }

    /// Appends a float histogram, deciding as Prometheus does whether it fits this chunk.
    ///
    /// See [`HistogramAppend`] for the outcomes.
    pub fn append(
        &mut self,
        t: i64,
        h: &FloatHistogram,
    ) -> Result<HistogramAppend, InvalidHistogram> {
        check(h)?;
        if self.num == 0 {
            self.write_sample(t, h);
            match h.counter_reset_hint {
                CounterResetHint::Gauge => self.set_header(CounterResetHeader::Gauge),
                CounterResetHint::CounterReset => self.set_header(CounterResetHeader::CounterReset),
                _ => {}
            }
            return Ok(HistogramAppend::Appended);
        }
        if self.num == u16::MAX {
            let header = self.header_after(h);
            return Ok(self.cut(t, h, header, CutReason::Full));
        }
        let plan = if h.counter_reset_hint == CounterResetHint::Gauge {
            self.plan_gauge(h)
        } else {
            self.plan_counter(h)
        };
        Ok(match plan {
            Plan::Cut { header, reason } => self.cut(t, h, header, reason),
            Plan::Append { widen, recode } => {
                let widened;
                let h = match widen {
                    Some((p, n)) => match widen_histogram(h, &p, &n) {
                        Some(w) => {
                            widened = w;
                            &widened
                        }
                        None => {
                            return Ok(self.cut(
                                t,
                                h,
                                CounterResetHeader::Unknown,
                                CutReason::LayoutChange,
                            ));
                        }
                    },
                    None => h,
                };
                if recode {
                    if self.recode(&h.positive_spans, &h.negative_spans).is_none() {
                        return Ok(self.cut(
                            t,
                            h,
                            CounterResetHeader::Unknown,
                            CutReason::LayoutChange,
                        ));
                    }
                    self.write_sample(t, h);
                    HistogramAppend::Recoded
                } else {
                    self.write_sample(t, h);
                    HistogramAppend::Appended
                }
            }
        })
    }

    /// Finishes this chunk and starts a new one holding `h`, returning the finished chunk's
    /// bytes (see [`HistogramAppender::cut_and_append`](super::HistogramAppender::cut_and_append)).
    pub fn cut_and_append(
        &mut self,
        t: i64,
        h: &FloatHistogram,
    ) -> Result<Vec<u8>, InvalidHistogram> {
        check(h)?;
        let header = self.header_after(h);
        Ok(self.start_new(t, h, header))
    }

    fn header_after(&self, h: &FloatHistogram) -> CounterResetHeader {
        match h.counter_reset_hint {
            CounterResetHint::Gauge => CounterResetHeader::Gauge,
            CounterResetHint::CounterReset => CounterResetHeader::CounterReset,
            _ => match self.plan_counter(h) {
                Plan::Cut { header, .. } => header,
                Plan::Append { .. } => CounterResetHeader::NotCounterReset,
            },
        }
    }

    fn cut(
        &mut self,
        t: i64,
        h: &FloatHistogram,
        header: CounterResetHeader,
        reason: CutReason,
    ) -> HistogramAppend {
        HistogramAppend::Cut {
            finished: self.start_new(t, h, header),
            reason,
        }
    }

    fn start_new(&mut self, t: i64, h: &FloatHistogram, header: CounterResetHeader) -> Vec<u8> {
        let old = std::mem::take(self);
        self.set_header(header);
        self.write_sample(t, h);
        old.into_bytes()
    }

    /// Prometheus's `appendable` for float histograms, plus what to do with the spans.
    fn plan_counter(&self, h: &FloatHistogram) -> Plan {
        let cut = |header, reason| Plan::Cut { header, reason };
        if self.num > 0 && self.counter_reset_header() == CounterResetHeader::Gauge {
            return cut(CounterResetHeader::NotCounterReset, CutReason::TypeChange);
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            return cut(
                CounterResetHeader::CounterReset,
                CutReason::CounterResetHint,
            );
        }
        if is_stale_nan(h.sum) {
            return Plan::Append {
                widen: None,
                recode: false,
            };
        }
        if self.sum.value == STALE_NAN_BITS {
            return cut(CounterResetHeader::Unknown, CutReason::AfterStaleMarker);
        }
        if h.count < self.cnt.get() {
            return cut(CounterResetHeader::CounterReset, CutReason::CounterReset);
        }
        if h.schema != self.layout.schema || h.zero_threshold != self.layout.zero_threshold {
            return cut(CounterResetHeader::Unknown, CutReason::LayoutChange);
        }
        if h.schema == super::CUSTOM_BUCKETS_SCHEMA
            && !bounds_match(&h.custom_values, &self.layout.custom)
        {
            return cut(
                CounterResetHeader::CounterReset,
                CutReason::CustomBoundsChange,
            );
        }
        if h.zero_count < self.zcnt.get() {
            return cut(CounterResetHeader::CounterReset, CutReason::CounterReset);
        }
        let fit = |a: &[Span], ab: &[XorValue], b: &[Span], bb: &[f64]| {
            fit_counter(
                a,
                ab.iter().map(|x| Count::Float(x.get())),
                b,
                bb.iter().map(|&x| Count::Float(x)),
            )
        };
        let Some(pf) = fit(
            &self.layout.pspans,
            &self.pbuckets,
            &h.positive_spans,
            &h.positive_buckets,
        ) else {
            return cut(CounterResetHeader::CounterReset, CutReason::CounterReset);
        };
        let Some(nf) = fit(
            &self.layout.nspans,
            &self.nbuckets,
            &h.negative_spans,
            &h.negative_buckets,
        ) else {
            return cut(CounterResetHeader::CounterReset, CutReason::CounterReset);
        };
        let forward = pf.forward || nf.forward;
        let widen = (pf.backward || nf.backward).then(|| {
            if forward {
                let side = |backward, hs: &[Span], cs: &[Span]| {
                    if backward {
                        union_spans(hs, cs)
                    } else {
                        hs.to_vec()
                    }
                };
                (
                    side(pf.backward, &h.positive_spans, &self.layout.pspans),
                    side(nf.backward, &h.negative_spans, &self.layout.nspans),
                )
            } else {
                (self.layout.pspans.clone(), self.layout.nspans.clone())
            }
        });
        Plan::Append {
            widen,
            recode: forward,
        }
    }

    /// Prometheus's `appendableGauge` for float histograms.
    fn plan_gauge(&self, h: &FloatHistogram) -> Plan {
        let cut = |reason| Plan::Cut {
            header: CounterResetHeader::Gauge,
            reason,
        };
        if self.num > 0 && self.counter_reset_header() != CounterResetHeader::Gauge {
            return cut(CutReason::TypeChange);
        }
        if is_stale_nan(h.sum) {
            return Plan::Append {
                widen: None,
                recode: false,
            };
        }
        if self.sum.value == STALE_NAN_BITS {
            return cut(CutReason::AfterStaleMarker);
        }
        if h.schema != self.layout.schema || h.zero_threshold != self.layout.zero_threshold {
            return cut(CutReason::LayoutChange);
        }
        if h.schema == super::CUSTOM_BUCKETS_SCHEMA
            && !bounds_match(&h.custom_values, &self.layout.custom)
        {
            return cut(CutReason::CustomBoundsChange);
        }
        let pf = fit_gauge(&self.layout.pspans, &h.positive_spans);
        let nf = fit_gauge(&self.layout.nspans, &h.negative_spans);
        let widen = (pf.backward || nf.backward).then(|| {
            (
                union_spans(&self.layout.pspans, &h.positive_spans),
                union_spans(&self.layout.nspans, &h.negative_spans),
            )
        });
        Plan::Append {
            widen,
            recode: pf.forward || nf.forward,
        }
    }

    /// Re-encodes every sample with the wider layout `pspans`/`nspans`, keeping the header.
    fn recode(&mut self, pspans: &[Span], nspans: &[Span]) -> Option<()> {
        let mut fresh = FloatHistogramAppender::new();
        let (old_p, old_n) = (&self.layout.pspans, &self.layout.nspans);
        for r in self.iter() {
            let (t, mut h) = r.ok()?;
            if !is_stale_nan(h.sum) {
                h.positive_buckets = remap(old_p, &h.positive_buckets, pspans, 0.0)?;
                h.negative_buckets = remap(old_n, &h.negative_buckets, nspans, 0.0)?;
                h.positive_spans = pspans.to_vec();
                h.negative_spans = nspans.to_vec();
            }
            fresh.write_sample(t, &h);
        }
        fresh.set_header(self.counter_reset_header());
        *self = fresh;
        Some(())
    }

    /// Writes a sample without checks (Prometheus's `appendFloatHistogram`).
    fn write_sample(&mut self, t: i64, h: &FloatHistogram) {
        let stale_only;
        let h = if is_stale_nan(h.sum) {
            stale_only = FloatHistogram {
                sum: h.sum,
                ..FloatHistogram::default()
            };
            &stale_only
        } else {
            h
        };
        let w = &mut self.w;
        let mut t_delta = 0;
        if self.num == 0 {
            write_layout(
                w,
                h.schema,
                h.zero_threshold,
                &h.positive_spans,
                &h.negative_spans,
                &h.custom_values,
            );
            self.layout = Layout {
                schema: h.schema,
                zero_threshold: h.zero_threshold,
                pspans: h.positive_spans.clone(),
                nspans: h.negative_spans.clone(),
                custom: h.custom_values.clone(),
            };
            self.pbuckets = h
                .positive_buckets
                .iter()
                .map(|&b| XorValue::fresh(b))
                .collect();
            self.nbuckets = h
                .negative_buckets
                .iter()
                .map(|&b| XorValue::fresh(b))
                .collect();
            w.write_varbit_int(t);
            for v in [h.count, h.zero_count, h.sum] {
                w.write_bits(v.to_bits(), 64);
            }
            self.cnt.value = h.count.to_bits();
            self.zcnt.value = h.zero_count.to_bits();
            self.sum.value = h.sum.to_bits();
            for &b in h.positive_buckets.iter().chain(&h.negative_buckets) {
                w.write_bits(b.to_bits(), 64);
            }
        } else {
            t_delta = t.wrapping_sub(self.t);
            w.write_varbit_int(t_delta.wrapping_sub(self.t_delta));
            self.cnt.write(w, h.count);
            self.zcnt.write(w, h.zero_count);
            self.sum.write(w, h.sum);
            for (x, &b) in self.pbuckets.iter_mut().zip(&h.positive_buckets) {
                x.write(w, b);
            }
            for (x, &b) in self.nbuckets.iter_mut().zip(&h.negative_buckets) {
                x.write(w, b);
            }
        }
        self.num += 1;
        self.w.set_u16(0, self.num);
        self.t = t;
        self.t_delta = t_delta;
    }
}

fn check(h: &FloatHistogram) -> Result<(), InvalidHistogram> {
    if is_stale_nan(h.sum) {
        return Ok(());
    }
    validate(
        h.schema,
        &h.positive_spans,
        h.positive_buckets.len(),
        &h.negative_spans,
        h.negative_buckets.len(),
        &h.custom_values,
    )
}

fn widen_histogram(h: &FloatHistogram, p: &[Span], n: &[Span]) -> Option<FloatHistogram> {
    Some(FloatHistogram {
        positive_buckets: remap(&h.positive_spans, &h.positive_buckets, p, 0.0)?,
        negative_buckets: remap(&h.negative_spans, &h.negative_buckets, n, 0.0)?,
        positive_spans: p.to_vec(),
        negative_spans: n.to_vec(),
        ..h.clone()
    })
}

/// Iterates over the histograms of a float histogram chunk.
///
/// Yields `Ok((timestamp, histogram))`; malformed data yields one `Err` and then ends. A
/// stale marker comes back as a histogram with only its sum set.
#[derive(Clone, Debug)]
pub struct FloatHistogramIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    header: CounterResetHeader,
    layout: Layout,
    t: i64,
    t_delta: i64,
    cnt: XorValue,
    zcnt: XorValue,
    sum: XorValue,
    pbuckets: Vec<XorValue>,
    nbuckets: Vec<XorValue>,
    err: Option<ChunkError>,
    done: bool,
}

impl<'a> FloatHistogramIterator<'a> {
    /// An iterator over the chunk `data` (header included).
    pub fn new(data: &'a [u8]) -> FloatHistogramIterator<'a> {
        let (total, header, body, err) = match data {
            [a, b, flags, body @ ..] => (
                u16::from_be_bytes([*a, *b]),
                CounterResetHeader::from_flags(*flags),
                body,
                None,
            ),
            _ => (
                0,
                CounterResetHeader::Unknown,
                &[][..],
                Some(ChunkError::ShortHeader {
                    len: data.len(),
                    needed: HEADER,
                }),
            ),
        };
        FloatHistogramIterator {
            r: BitReader::new(body),
            total,
            read: 0,
            header,
            layout: Layout::default(),
            t: 0,
            t_delta: 0,
            cnt: XorValue::fresh(0.0),
            zcnt: XorValue::fresh(0.0),
            sum: XorValue::fresh(0.0),
            pbuckets: Vec::new(),
            nbuckets: Vec::new(),
            err,
            done: false,
        }
    }

    /// Samples the chunk header announces.
    pub fn num_samples(&self) -> usize {
        usize::from(self.total)
    }

    /// The chunk's counter-reset header.
    pub fn counter_reset_header(&self) -> CounterResetHeader {
        self.header
    }

    /// The error that ended the iteration, if any.
    pub fn err(&self) -> Option<ChunkError> {
        self.err
    }

    /// Timestamp of the current sample.
    pub fn at_t(&self) -> i64 {
        self.t
    }

    /// The current histogram (the one last returned).
    pub fn at(&self) -> FloatHistogram {
        if self.sum.value == STALE_NAN_BITS {
            return FloatHistogram {
                sum: self.sum.get(),
                ..FloatHistogram::default()
            };
        }
        FloatHistogram {
            counter_reset_hint: hint_for(self.header, self.read),
            schema: self.layout.schema,
            zero_threshold: self.layout.zero_threshold,
            zero_count: self.zcnt.get(),
            count: self.cnt.get(),
            sum: self.sum.get(),
            positive_spans: self.layout.pspans.clone(),
            negative_spans: self.layout.nspans.clone(),
            positive_buckets: self.pbuckets.iter().map(|x| x.get()).collect(),
            negative_buckets: self.nbuckets.iter().map(|x| x.get()).collect(),
            custom_values: self.layout.custom.clone(),
        }
    }

    /// Advances to the first histogram with a timestamp `>= t` and returns it; does not move
    /// if the current one qualifies. `None` when none is left or after an error.
    pub fn seek(&mut self, t: i64) -> Option<Result<(i64, FloatHistogram), ChunkError>> {
        if self.done && self.err.is_some() {
            return None;
        }
        while self.read == 0 || self.t < t {
            match self.advance() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok((self.t, self.at())))
    }

    pub(crate) fn advance(&mut self) -> Result<bool, ChunkError> {
        if self.done {
            return Ok(false);
        }
        if let Some(e) = self.err {
            self.done = true;
            return Err(e);
        }
        if self.read >= self.total {
            self.done = true;
            return Ok(false);
        }
        match self.decode() {
            Ok(()) => {
                self.read += 1;
                Ok(true)
            }
            Err(e) => {
                self.err = Some(e);
                self.done = true;
                Err(e)
            }
        }
    }

    fn decode(&mut self) -> Result<(), ChunkError> {
        let sample = self.read;
        let eof = |_: Eof| ChunkError::Truncated { sample };
        let r = &mut self.r;
        if sample == 0 {
            let layout = read_layout(r)?;
            let np = count_spans(&layout.pspans);
            let nn = count_spans(&layout.nspans);
            // Every bucket takes 64 bits in the first sample.
            if (np + nn).saturating_mul(64) > r.remaining() as u64 {
                return Err(ChunkError::LayoutTooLarge);
            }
            self.layout = layout;
            self.t = r.read_varbit_int().map_err(eof)?;
            self.cnt = XorValue::fresh(f64::from_bits(r.read_bits(64).map_err(eof)?));
            self.zcnt = XorValue::fresh(f64::from_bits(r.read_bits(64).map_err(eof)?));
            self.sum = XorValue::fresh(f64::from_bits(r.read_bits(64).map_err(eof)?));
            self.pbuckets = Vec::with_capacity(np as usize);
            for _ in 0..np {
                let v = f64::from_bits(r.read_bits(64).map_err(eof)?);
                self.pbuckets.push(XorValue::fresh(v));
            }
            self.nbuckets = Vec::with_capacity(nn as usize);
            for _ in 0..nn {
                let v = f64::from_bits(r.read_bits(64).map_err(eof)?);
                self.nbuckets.push(XorValue::fresh(v));
            }
            return Ok(());
        }
        self.t_delta = self.t_delta.wrapping_add(r.read_varbit_int().map_err(eof)?);
        self.t = self.t.wrapping_add(self.t_delta);
        self.cnt.read(r, sample)?;
        self.zcnt.read(r, sample)?;
        self.sum.read(r, sample)?;
        if self.sum.value == STALE_NAN_BITS {
            return Ok(());
        }
        for x in self.pbuckets.iter_mut().chain(self.nbuckets.iter_mut()) {
            x.read(r, sample)?;
        }
        Ok(())
    }
}

impl Iterator for FloatHistogramIterator<'_> {
    type Item = Result<(i64, FloatHistogram), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.advance() {
            Ok(true) => Some(Ok((self.t, self.at()))),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl std::iter::FusedIterator for FloatHistogramIterator<'_> {}
