//! Integer histogram chunks ([`Encoding::Histogram`](crate::Encoding::Histogram)).

use super::layout::{
    Count, HEADER, Layout, absolute, count_spans, deltas, fit_counter, fit_gauge, read_layout,
    remap, union_spans, write_layout,
};
use super::{
    CounterResetHeader, CounterResetHint, CutReason, FloatHistogram, Histogram, HistogramAppend,
    InvalidHistogram, Span, bounds_match, hint_for, is_stale_nan, validate,
};
use crate::ChunkError;
use crate::bstream::{BitReader, BitWriter, Eof};
use crate::xor::{xor_read, xor_write};

/// "No XOR window yet" (see the XOR module).
const NO_WINDOW: u8 = 0xff;

/// What the appender decided for a histogram.
pub(super) enum Plan {
    /// Start a new chunk with this header.
    Cut {
        header: CounterResetHeader,
        reason: CutReason,
    },
    /// Append, first widening the histogram to these spans (if any) and re-encoding the
    /// chunk to the histogram's spans (if `recode`).
    Append {
        widen: Option<(Vec<Span>, Vec<Span>)>,
        recode: bool,
    },
}

/// Appends integer histograms to a histogram chunk, bit-compatible with Prometheus's
/// `HistogramAppender`.
#[derive(Clone, Debug)]
pub struct HistogramAppender {
    w: BitWriter,
    num: u16,
    layout: Layout,
    t: i64,
    cnt: u64,
    zcnt: u64,
    t_delta: i64,
    cnt_delta: i64,
    zcnt_delta: i64,
    /// Last sample's buckets, delta-encoded across buckets as in [`Histogram`].
    pbuckets: Vec<i64>,
    nbuckets: Vec<i64>,
    /// Per-bucket change from the sample before the last one.
    pdelta: Vec<i64>,
    ndelta: Vec<i64>,
    sum: u64,
    leading: u8,
    trailing: u8,
}

impl Default for HistogramAppender {
    fn default() -> Self {
        HistogramAppender::new()
    }
}

impl HistogramAppender {
    /// An appender on a new, empty chunk (counter-reset header "unknown").
    pub fn new() -> HistogramAppender {
        HistogramAppender {
            w: BitWriter::with_header(&[0; HEADER]),
            num: 0,
            layout: Layout::default(),
            t: 0,
            cnt: 0,
            zcnt: 0,
            t_delta: 0,
            cnt_delta: 0,
            zcnt_delta: 0,
            pbuckets: Vec::new(),
            nbuckets: Vec::new(),
            pdelta: Vec::new(),
            ndelta: Vec::new(),
            sum: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Continues an existing chunk: decodes every sample to recover the encoder's state, so
    /// that appending gives the same bytes as appending all samples in one go.
    pub fn from_chunk(bytes: Vec<u8>) -> Result<HistogramAppender, ChunkError> {
        let mut it = HistogramIterator::new(&bytes);
        while it.advance()? {}
        let bits = HEADER * 8 + it.r.position();
        let expected_len = bits.div_ceil(8);
        let actual_len = bytes.len();
        let HistogramIterator {
            read,
            layout,
            t,
            cnt,
            zcnt,
            t_delta,
            cnt_delta,
            zcnt_delta,
            pbuckets,
            nbuckets,
            pdelta,
            ndelta,
            sum,
            leading,
            trailing,
            ..
        } = it;
        let w = BitWriter::resume(bytes, bits).ok_or(ChunkError::TrailingData {
            expected_len,
            actual_len,
        })?;
        Ok(HistogramAppender {
            w,
            num: read,
            layout,
            t,
            cnt,
            zcnt,
            t_delta,
            cnt_delta,
            zcnt_delta,
            pbuckets,
            nbuckets,
            pdelta,
            ndelta,
            sum,
            leading,
            trailing,
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
    pub fn iter(&self) -> HistogramIterator<'_> {
        HistogramIterator::new(self.bytes())
    }

    /// Appends a histogram, deciding as Prometheus does whether it fits this chunk.
    ///
    /// See [`HistogramAppend`] for the outcomes. Stale markers (sum = stale NaN) are never
    /// validated: their buckets are not written.
    pub fn append(&mut self, t: i64, h: &Histogram) -> Result<HistogramAppend, InvalidHistogram> {
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
    /// bytes. This is the cut the caller makes on its own account (Prometheus's head cuts
    /// at a target size); the new chunk's header says whether `h` is a counter reset
    /// against this chunk's last histogram, as Prometheus records it.
    pub fn cut_and_append(&mut self, t: i64, h: &Histogram) -> Result<Vec<u8>, InvalidHistogram> {
        check(h)?;
        let header = self.header_after(h);
        Ok(self.start_new(t, h, header))
    }

    /// The header of a new chunk that continues this one with `h`.
    fn header_after(&self, h: &Histogram) -> CounterResetHeader {
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
        h: &Histogram,
        header: CounterResetHeader,
        reason: CutReason,
    ) -> HistogramAppend {
        HistogramAppend::Cut {
            finished: self.start_new(t, h, header),
            reason,
        }
    }

    /// Replaces the chunk with a new one that has `header` and holds `h`; returns the old
    /// chunk's bytes.
    fn start_new(&mut self, t: i64, h: &Histogram, header: CounterResetHeader) -> Vec<u8> {
        let old = std::mem::take(self);
        self.set_header(header);
        self.write_sample(t, h);
        old.into_bytes()
    }

    /// Prometheus's `appendable`, plus what to do with the spans.
    fn plan_counter(&self, h: &Histogram) -> Plan {
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
        if self.sum == super::STALE_NAN_BITS {
            return cut(CounterResetHeader::Unknown, CutReason::AfterStaleMarker);
        }
        if h.count < self.cnt {
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
        if h.zero_count < self.zcnt {
            return cut(CounterResetHeader::CounterReset, CutReason::CounterReset);
        }
        let fit = |a: &[Span], ab: &[i64], b: &[Span], bb: &[i64]| {
            fit_counter(
                a,
                absolute(ab).map(Count::Int),
                b,
                absolute(bb).map(Count::Int),
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

    /// Prometheus's `appendableGauge`, plus what to do with the spans.
    fn plan_gauge(&self, h: &Histogram) -> Plan {
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
        if self.sum == super::STALE_NAN_BITS {
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

    /// Re-encodes every sample of the chunk with the layout `pspans`/`nspans` (which covers
    /// all buckets of the current layout), keeping the header. `None` if the chunk does not
    /// decode or the layout does not cover it; the appender is unchanged then.
    fn recode(&mut self, pspans: &[Span], nspans: &[Span]) -> Option<()> {
        let mut fresh = HistogramAppender::new();
        let (old_p, old_n) = (&self.layout.pspans, &self.layout.nspans);
        for r in self.iter() {
            let (t, mut h) = r.ok()?;
            if !is_stale_nan(h.sum) {
                h.positive_buckets = relayout(old_p, &h.positive_buckets, pspans)?;
                h.negative_buckets = relayout(old_n, &h.negative_buckets, nspans)?;
                h.positive_spans = pspans.to_vec();
                h.negative_spans = nspans.to_vec();
            }
            fresh.write_sample(t, &h);
        }
        fresh.set_header(self.counter_reset_header());
        *self = fresh;
        Some(())
    }

    /// Writes a sample without any checks (Prometheus's `appendHistogram`). The caller makes
    /// sure the histogram fits the chunk's layout.
    fn write_sample(&mut self, t: i64, h: &Histogram) {
        let stale_only;
        let h = if is_stale_nan(h.sum) {
            // A stale marker writes no buckets (and an empty layout if it comes first).
            stale_only = Histogram {
                sum: h.sum,
                ..Histogram::default()
            };
            &stale_only
        } else {
            h
        };
        let w = &mut self.w;
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
            let np = count_spans(&h.positive_spans) as usize;
            let nn = count_spans(&h.negative_spans) as usize;
            self.pbuckets = vec![0; np];
            self.pdelta = vec![0; np];
            self.nbuckets = vec![0; nn];
            self.ndelta = vec![0; nn];
            w.write_varbit_int(t);
            w.write_varbit_uint(h.count);
            w.write_varbit_uint(h.zero_count);
            w.write_bits(h.sum.to_bits(), 64);
            for &b in h.positive_buckets.iter().chain(&h.negative_buckets) {
                w.write_varbit_int(b);
            }
            self.t_delta = 0;
            self.cnt_delta = 0;
            self.zcnt_delta = 0;
        } else {
            let t_delta = t.wrapping_sub(self.t);
            let cnt_delta = (h.count as i64).wrapping_sub(self.cnt as i64);
            let zcnt_delta = (h.zero_count as i64).wrapping_sub(self.zcnt as i64);
            let (cnt_dod, zcnt_dod) = if is_stale_nan(h.sum) {
                (0, 0)
            } else {
                (
                    cnt_delta.wrapping_sub(self.cnt_delta),
                    zcnt_delta.wrapping_sub(self.zcnt_delta),
                )
            };
            w.write_varbit_int(t_delta.wrapping_sub(self.t_delta));
            w.write_varbit_int(cnt_dod);
            w.write_varbit_int(zcnt_dod);
            xor_write(
                w,
                h.sum.to_bits(),
                self.sum,
                &mut self.leading,
                &mut self.trailing,
            );
            for (bs, prev, pd) in [
                (&h.positive_buckets, &self.pbuckets, &mut self.pdelta),
                (&h.negative_buckets, &self.nbuckets, &mut self.ndelta),
            ] {
                for ((&b, &p), d) in bs.iter().zip(prev.iter()).zip(pd.iter_mut()) {
                    let delta = b.wrapping_sub(p);
                    w.write_varbit_int(delta.wrapping_sub(*d));
                    *d = delta;
                }
            }
            self.t_delta = t_delta;
            self.cnt_delta = cnt_delta;
            self.zcnt_delta = zcnt_delta;
        }
        self.num += 1;
        self.w.set_u16(0, self.num);
        self.t = t;
        self.cnt = h.count;
        self.zcnt = h.zero_count;
        for (dst, src) in [
            (&mut self.pbuckets, &h.positive_buckets),
            (&mut self.nbuckets, &h.negative_buckets),
        ] {
            let n = dst.len().min(src.len());
            dst[..n].copy_from_slice(&src[..n]);
        }
        self.sum = h.sum.to_bits();
    }
}

fn check(h: &Histogram) -> Result<(), InvalidHistogram> {
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

/// Delta-encoded buckets laid out by `from`, moved to the wider layout `to`.
fn relayout(from: &[Span], buckets: &[i64], to: &[Span]) -> Option<Vec<i64>> {
    let abs: Vec<i64> = absolute(buckets).collect();
    Some(deltas(&remap(from, &abs, to, 0)?))
}

/// `h` with its buckets moved to the wider layout `p`/`n`.
fn widen_histogram(h: &Histogram, p: &[Span], n: &[Span]) -> Option<Histogram> {
    Some(Histogram {
        positive_buckets: relayout(&h.positive_spans, &h.positive_buckets, p)?,
        negative_buckets: relayout(&h.negative_spans, &h.negative_buckets, n)?,
        positive_spans: p.to_vec(),
        negative_spans: n.to_vec(),
        ..h.clone()
    })
}

/// Iterates over the histograms of an integer histogram chunk.
///
/// Yields `Ok((timestamp, histogram))`; malformed data yields one `Err` and then ends. A
/// stale marker comes back as a histogram with only its sum set (as Prometheus returns it).
#[derive(Clone, Debug)]
pub struct HistogramIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    header: CounterResetHeader,
    layout: Layout,
    t: i64,
    cnt: u64,
    zcnt: u64,
    t_delta: i64,
    cnt_delta: i64,
    zcnt_delta: i64,
    pbuckets: Vec<i64>,
    nbuckets: Vec<i64>,
    pdelta: Vec<i64>,
    ndelta: Vec<i64>,
    sum: u64,
    leading: u8,
    trailing: u8,
    err: Option<ChunkError>,
    done: bool,
}

impl<'a> HistogramIterator<'a> {
    /// An iterator over the chunk `data` (header included).
    pub fn new(data: &'a [u8]) -> HistogramIterator<'a> {
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
        HistogramIterator {
            r: BitReader::new(body),
            total,
            read: 0,
            header,
            layout: Layout::default(),
            t: 0,
            cnt: 0,
            zcnt: 0,
            t_delta: 0,
            cnt_delta: 0,
            zcnt_delta: 0,
            pbuckets: Vec::new(),
            nbuckets: Vec::new(),
            pdelta: Vec::new(),
            ndelta: Vec::new(),
            sum: 0,
            leading: NO_WINDOW,
            trailing: 0,
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
    pub fn at(&self) -> Histogram {
        if self.sum == super::STALE_NAN_BITS {
            return Histogram {
                sum: f64::from_bits(self.sum),
                ..Histogram::default()
            };
        }
        Histogram {
            counter_reset_hint: hint_for(self.header, self.read),
            schema: self.layout.schema,
            zero_threshold: self.layout.zero_threshold,
            zero_count: self.zcnt,
            count: self.cnt,
            sum: f64::from_bits(self.sum),
            positive_spans: self.layout.pspans.clone(),
            negative_spans: self.layout.nspans.clone(),
            positive_buckets: self.pbuckets.clone(),
            negative_buckets: self.nbuckets.clone(),
            custom_values: self.layout.custom.clone(),
        }
    }

    /// The current histogram with float counts (Prometheus's `AtFloatHistogram`).
    pub fn at_float(&self) -> FloatHistogram {
        if self.sum == super::STALE_NAN_BITS {
            return FloatHistogram {
                sum: f64::from_bits(self.sum),
                ..FloatHistogram::default()
            };
        }
        self.at().to_float()
    }

    /// Advances to the first histogram with a timestamp `>= t` and returns it; does not move
    /// if the current one qualifies. `None` when none is left or after an error.
    pub fn seek(&mut self, t: i64) -> Option<Result<(i64, Histogram), ChunkError>> {
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

    /// Decodes the next sample into the iterator's state. `Ok(false)` at the end.
    pub(crate) fn advance(&mut self) -> Result<bool, ChunkError> {
        if self.done {
            return Ok(false);
        }
        if let Some(e) = self.err {
            // A header error found by `new`.
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
            // Every bucket takes at least one bit in the first sample.
            if np + nn > r.remaining() as u64 {
                return Err(ChunkError::LayoutTooLarge);
            }
            self.pbuckets = vec![0; np as usize];
            self.nbuckets = vec![0; nn as usize];
            self.pdelta = vec![0; np as usize];
            self.ndelta = vec![0; nn as usize];
            self.layout = layout;
            self.t = r.read_varbit_int().map_err(eof)?;
            self.cnt = r.read_varbit_uint().map_err(eof)?;
            self.zcnt = r.read_varbit_uint().map_err(eof)?;
            self.sum = r.read_bits(64).map_err(eof)?;
            for b in self.pbuckets.iter_mut().chain(self.nbuckets.iter_mut()) {
                *b = r.read_varbit_int().map_err(eof)?;
            }
            return Ok(());
        }
        self.t_delta = self.t_delta.wrapping_add(r.read_varbit_int().map_err(eof)?);
        self.t = self.t.wrapping_add(self.t_delta);
        self.cnt_delta = self
            .cnt_delta
            .wrapping_add(r.read_varbit_int().map_err(eof)?);
        self.cnt = (self.cnt as i64).wrapping_add(self.cnt_delta) as u64;
        self.zcnt_delta = self
            .zcnt_delta
            .wrapping_add(r.read_varbit_int().map_err(eof)?);
        self.zcnt = (self.zcnt as i64).wrapping_add(self.zcnt_delta) as u64;
        xor_read(r, &mut self.sum, &mut self.leading, &mut self.trailing)
            .map_err(|e| e.at(sample))?;
        if self.sum == super::STALE_NAN_BITS {
            return Ok(());
        }
        for (bs, ds) in [
            (&mut self.pbuckets, &mut self.pdelta),
            (&mut self.nbuckets, &mut self.ndelta),
        ] {
            for (b, d) in bs.iter_mut().zip(ds.iter_mut()) {
                *d = d.wrapping_add(r.read_varbit_int().map_err(eof)?);
                *b = b.wrapping_add(*d);
            }
        }
        Ok(())
    }
}

impl Iterator for HistogramIterator<'_> {
    type Item = Result<(i64, Histogram), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.advance() {
            Ok(true) => Some(Ok((self.t, self.at()))),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl std::iter::FusedIterator for HistogramIterator<'_> {}
