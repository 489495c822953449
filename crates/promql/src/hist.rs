//! Float native histogram arithmetic the evaluator needs.

use std::collections::BTreeMap;

use narthex_model::{CounterResetHint, FloatHistogram, Span as HSpan};
use narthex_promql_syntax::{BinaryExpr, BinaryOp};

use crate::eval::{Evaluator, PV};

/// Multiplies every count and the sum by `f`.
pub(crate) fn scale(h: &mut FloatHistogram, f: f64) {
    if f < 0.0 {
        h.counter_reset_hint = CounterResetHint::Gauge;
    }
    h.count *= f;
    h.sum *= f;
    h.zero_count *= f;
    h.positive_buckets.iter_mut().for_each(|c| *c *= f);
    h.negative_buckets.iter_mut().for_each(|c| *c *= f);
}

/// Bucket index to absolute count.
fn to_map(
    spans: &[HSpan],
    buckets: &[f64],
    schema_delta: i32,
    out: &mut BTreeMap<i32, f64>,
    sign: f64,
) {
    let mut idx = 0i32;
    let mut bi = 0usize;
    for (k, s) in spans.iter().enumerate() {
        idx += s.offset;
        if k == 0 {
            // The first span's offset is the absolute index.
        }
        for _ in 0..s.length {
            if let Some(&c) = buckets.get(bi) {
                let target = if schema_delta > 0 {
                    ((idx - 1) >> schema_delta) + 1
                } else {
                    idx
                };
                *out.entry(target).or_insert(0.0) += sign * c;
            }
            bi += 1;
            idx += 1;
        }
    }
}

fn from_map(m: &BTreeMap<i32, f64>) -> (Vec<HSpan>, Vec<f64>) {
    let mut spans: Vec<HSpan> = Vec::new();
    let mut buckets = Vec::new();
    let mut next: Option<i32> = None;
    for (&i, &c) in m {
        match next {
            Some(n) if n == i => spans.last_mut().expect("span").length += 1,
            Some(n) => spans.push(HSpan {
                offset: i - n,
                length: 1,
            }),
            None => spans.push(HSpan {
                offset: i,
                length: 1,
            }),
        }
        buckets.push(c);
        next = Some(i + 1);
    }
    (spans, buckets)
}

/// The bounds two custom-bucket layouts share (Prometheus reconciles mismatched layouts
/// to them).
pub(crate) fn common_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().copied().filter(|x| b.contains(x)).collect()
}

/// Whether combining `a` and `b` needs their custom buckets reconciled.
pub(crate) fn needs_reconcile(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    a.uses_custom_buckets() && b.uses_custom_buckets() && a.custom_values != b.custom_values
}

/// Moves custom-bucket counts from the layout `from` to the coarser layout `to`.
fn remap_custom<V: Copy + std::ops::AddAssign + Default>(
    m: BTreeMap<i32, V>,
    from: &[f64],
    to: &[f64],
) -> BTreeMap<i32, V> {
    let mut out = BTreeMap::new();
    for (i, v) in m {
        let ub = from.get(i as usize).copied().unwrap_or(f64::INFINITY);
        let j = to.partition_point(|b| *b < ub) as i32;
        *out.entry(j).or_insert_with(V::default) += v;
    }
    out
}

/// Why two histograms cannot be combined.
#[derive(Debug)]
pub(crate) enum HistError {
    MixedSchemas,
}

/// `a + sign * b`.
pub(crate) fn add(
    a: &FloatHistogram,
    b: &FloatHistogram,
    sign: f64,
) -> Result<FloatHistogram, HistError> {
    let ca = a.uses_custom_buckets();
    let cb = b.uses_custom_buckets();
    if ca != cb {
        return Err(HistError::MixedSchemas);
    }
    let schema = if ca { a.schema } else { a.schema.min(b.schema) };
    let mut pos = BTreeMap::new();
    let mut neg = BTreeMap::new();
    let mut custom_values = a.custom_values.clone();
    if ca && a.custom_values != b.custom_values {
        custom_values = common_bounds(&a.custom_values, &b.custom_values);
        let (mut pa, mut pb) = (BTreeMap::new(), BTreeMap::new());
        to_map(&a.positive_spans, &a.positive_buckets, 0, &mut pa, 1.0);
        to_map(&b.positive_spans, &b.positive_buckets, 0, &mut pb, sign);
        for (k, v) in remap_custom(pa, &a.custom_values, &custom_values)
            .into_iter()
            .chain(remap_custom(pb, &b.custom_values, &custom_values))
        {
            *pos.entry(k).or_insert(0.0) += v;
        }
    } else {
        to_map(
            &a.positive_spans,
            &a.positive_buckets,
            a.schema - schema,
            &mut pos,
            1.0,
        );
        to_map(
            &b.positive_spans,
            &b.positive_buckets,
            b.schema - schema,
            &mut pos,
            sign,
        );
    }
    to_map(
        &a.negative_spans,
        &a.negative_buckets,
        a.schema - schema,
        &mut neg,
        1.0,
    );
    to_map(
        &b.negative_spans,
        &b.negative_buckets,
        b.schema - schema,
        &mut neg,
        sign,
    );
    let (positive_spans, positive_buckets) = from_map(&pos);
    let (negative_spans, negative_buckets) = from_map(&neg);
    let hint = combine_hint(a.counter_reset_hint, b.counter_reset_hint).0;
    Ok(FloatHistogram {
        counter_reset_hint: hint,
        schema,
        zero_threshold: a.zero_threshold.max(b.zero_threshold),
        zero_count: a.zero_count + sign * b.zero_count,
        count: a.count + sign * b.count,
        sum: a.sum + sign * b.sum,
        positive_spans,
        negative_spans,
        positive_buckets,
        negative_buckets,
        custom_values,
    })
}

/// The counter-reset hint of a sum, and whether the inputs collided (a reset and a
/// not-reset), as Prometheus's `FloatHistogram.Add` decides it.
pub(crate) fn combine_hint(a: CounterResetHint, b: CounterResetHint) -> (CounterResetHint, bool) {
    use CounterResetHint::*;
    match (a, b) {
        _ if a == b => (a, false),
        (Gauge, _) | (_, Gauge) => (Gauge, false),
        (Unknown, _) | (_, Unknown) => (Unknown, false),
        _ => (Unknown, true),
    }
}

/// Prometheus's `DetectReset`: whether `cur` follows a counter reset after `prev`.
pub(crate) fn detect_reset(prev: &FloatHistogram, cur: &FloatHistogram) -> bool {
    match cur.counter_reset_hint {
        // The same sample seen again (a subquery repeats it) is no new reset.
        CounterResetHint::CounterReset => return !equals(prev, cur),
        CounterResetHint::NotCounterReset => return false,
        _ => {}
    }
    if cur.count < prev.count {
        return true;
    }
    if cur.uses_custom_buckets() != prev.uses_custom_buckets() {
        return true;
    }
    if cur.uses_custom_buckets() && cur.custom_values != prev.custom_values {
        let common = common_bounds(&prev.custom_values, &cur.custom_values);
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        to_map(&prev.positive_spans, &prev.positive_buckets, 0, &mut a, 1.0);
        to_map(&cur.positive_spans, &cur.positive_buckets, 0, &mut b, 1.0);
        let a = remap_custom(a, &prev.custom_values, &common);
        let b = remap_custom(b, &cur.custom_values, &common);
        return a.iter().any(|(k, v)| b.get(k).copied().unwrap_or(0.0) < *v);
    }
    if cur.schema > prev.schema || cur.zero_threshold < prev.zero_threshold {
        return true;
    }
    if cur.zero_count < prev.zero_count {
        return true;
    }
    let schema = cur.schema.min(prev.schema);
    let decreased = |ps: &[HSpan], pb: &[f64], cs: &[HSpan], cb: &[f64]| {
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        to_map(ps, pb, prev.schema - schema, &mut a, 1.0);
        to_map(cs, cb, cur.schema - schema, &mut b, 1.0);
        a.iter().any(|(k, v)| b.get(k).copied().unwrap_or(0.0) < *v)
    };
    decreased(
        &prev.positive_spans,
        &prev.positive_buckets,
        &cur.positive_spans,
        &cur.positive_buckets,
    ) || decreased(
        &prev.negative_spans,
        &prev.negative_buckets,
        &cur.negative_spans,
        &cur.negative_buckets,
    )
}

/// Every bucket as (lower, upper, count), negative buckets first, then zero, then positive.
pub(crate) fn buckets(h: &FloatHistogram) -> Vec<(f64, f64, f64)> {
    let mut out = Vec::new();
    let bound = |i: i32| -> f64 {
        if h.uses_custom_buckets() {
            if i < 0 {
                f64::NEG_INFINITY
            } else {
                h.custom_values
                    .get(i as usize)
                    .copied()
                    .unwrap_or(f64::INFINITY)
            }
        } else {
            let base = 2f64.powf(2f64.powi(-h.schema));
            base.powi(i)
        }
    };
    let mut neg = BTreeMap::new();
    to_map(&h.negative_spans, &h.negative_buckets, 0, &mut neg, 1.0);
    for (&i, &c) in neg.iter().rev() {
        out.push((-bound(i), -bound(i - 1), c));
    }
    if !h.uses_custom_buckets() {
        out.push((-h.zero_threshold, h.zero_threshold, h.zero_count));
    }
    let mut pos = BTreeMap::new();
    to_map(&h.positive_spans, &h.positive_buckets, 0, &mut pos, 1.0);
    for (&i, &c) in &pos {
        if h.uses_custom_buckets() {
            let lo = if i == 0 {
                f64::NEG_INFINITY
            } else {
                bound(i - 1)
            };
            out.push((lo, bound(i), c));
        } else {
            out.push((bound(i - 1), bound(i), c));
        }
    }
    out
}

pub(crate) fn hist_vector_op(ev: &mut Evaluator<'_>, b: &BinaryExpr, l: PV, r: PV) -> Option<PV> {
    let kind = |v: &PV| {
        if matches!(v, PV::H(_)) {
            "histogram"
        } else {
            "float"
        }
    };
    let (lk, rk) = (kind(&l), kind(&r));
    if let (PV::H(x), PV::H(y)) = (&l, &r)
        && matches!(b.op, BinaryOp::Add | BinaryOp::Sub)
        && needs_reconcile(x, y)
    {
        let what = if b.op == BinaryOp::Add {
            "addition"
        } else {
            "subtraction"
        };
        ev.info(
            format!("mismatched custom buckets were reconciled during {what}"),
            b.span,
        );
    }
    let res = match (b.op, l, r) {
        (BinaryOp::Add, PV::H(x), PV::H(y)) => add(&x, &y, 1.0).ok().map(|h| PV::H(Box::new(h))),
        (BinaryOp::Sub, PV::H(x), PV::H(y)) => add(&x, &y, -1.0).ok().map(|mut h| {
            h.counter_reset_hint = CounterResetHint::Gauge;
            PV::H(Box::new(h))
        }),
        (BinaryOp::Mul, PV::H(mut x), PV::F(f)) | (BinaryOp::Mul, PV::F(f), PV::H(mut x)) => {
            scale(&mut x, f);
            Some(PV::H(x))
        }
        (BinaryOp::Div, PV::H(mut x), PV::F(f)) => {
            x.count /= f;
            x.sum /= f;
            x.zero_count /= f;
            if f == 0.0 {
                // Prometheus: division by zero removes all buckets.
                x.positive_spans.clear();
                x.negative_spans.clear();
                x.positive_buckets.clear();
                x.negative_buckets.clear();
            } else {
                x.positive_buckets.iter_mut().for_each(|c| *c /= f);
                x.negative_buckets.iter_mut().for_each(|c| *c /= f);
            }
            Some(PV::H(x))
        }
        (BinaryOp::TrimUpper, PV::H(x), PV::F(f)) => Some(PV::H(Box::new(trim(&x, f, true)))),
        (BinaryOp::TrimLower, PV::H(x), PV::F(f)) => Some(PV::H(Box::new(trim(&x, f, false)))),
        (BinaryOp::Eql | BinaryOp::Neq, PV::H(x), PV::H(y)) => {
            let eq = equals(&x, &y);
            let keep = if b.op == BinaryOp::Eql { eq } else { !eq };
            if b.return_bool {
                return Some(PV::F(if keep { 1.0 } else { 0.0 }));
            }
            return keep.then_some(PV::H(x));
        }
        _ => None,
    };
    if res.is_none() {
        ev.info(
            format!(
                "incompatible sample types encountered for binary operator {:?}: {lk} {} {rk}",
                b.op.as_str(),
                b.op.as_str()
            ),
            b.span,
        );
    }
    res
}

/// Histogram equality after compacting (empty buckets and span layout do not matter).
pub(crate) fn equals(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    if a.schema != b.schema
        || a.count.to_bits() != b.count.to_bits() && a.count != b.count
        || !(a.sum == b.sum || a.sum.is_nan() && b.sum.is_nan())
        || a.zero_threshold != b.zero_threshold
        || a.zero_count != b.zero_count
        || a.custom_values != b.custom_values
    {
        return false;
    }
    let m = |spans: &[HSpan], bk: &[f64]| {
        let mut x = BTreeMap::new();
        to_map(spans, bk, 0, &mut x, 1.0);
        x.retain(|_, v| *v != 0.0);
        x
    };
    m(&a.positive_spans, &a.positive_buckets) == m(&b.positive_spans, &b.positive_buckets)
        && m(&a.negative_spans, &a.negative_buckets) == m(&b.negative_spans, &b.negative_buckets)
}

/// A compensated (Kahan-Neumaier) sum of float histograms, as Prometheus sums them.
#[derive(Debug, Default)]
pub(crate) struct KahanHist {
    first: Option<FloatHistogram>,
    schema: i32,
    count: (f64, f64),
    sum: (f64, f64),
    zero: (f64, f64),
    zero_threshold: f64,
    pos: BTreeMap<i32, (f64, f64)>,
    neg: BTreeMap<i32, (f64, f64)>,
    hint: Option<CounterResetHint>,
    /// A counter reset met a not-reset.
    pub(crate) collision: bool,
    custom: Vec<f64>,
    /// Mismatched custom buckets were reconciled.
    pub(crate) reconciled: bool,
}

#[derive(Clone, Copy, Default)]
struct Pair(f64, f64);

impl std::ops::AddAssign for Pair {
    fn add_assign(&mut self, o: Pair) {
        let (s, c) = crate::agg::kahan_inc(o.0, self.0, self.1);
        *self = Pair(s, c + o.1);
    }
}

/// Inputs are summed scaled down by 2^-64 (exactly), so that sums of huge values can
/// still be averaged without overflowing.
const SCALE_DOWN: f64 = 1.0 / 18_446_744_073_709_551_616.0;
const SCALE_UP: f64 = 18_446_744_073_709_551_616.0;

fn kadd(acc: &mut (f64, f64), v: f64) {
    kinc(acc, v * SCALE_DOWN);
}

fn kinc(acc: &mut (f64, f64), v: f64) {
    let (s, c) = crate::agg::kahan_inc(v, acc.0, acc.1);
    *acc = (s, c);
}

impl KahanHist {
    /// Adds `h`; an error when its buckets cannot be combined with the sum so far.
    pub(crate) fn add(&mut self, h: &FloatHistogram) -> Result<(), HistError> {
        match &self.first {
            None => {
                self.first = Some(h.clone());
                self.schema = h.schema;
                self.zero_threshold = h.zero_threshold;
                self.custom = h.custom_values.clone();
            }
            Some(f) => {
                if f.uses_custom_buckets() != h.uses_custom_buckets() {
                    return Err(HistError::MixedSchemas);
                }
            }
        }
        self.hint = Some(match self.hint {
            None => h.counter_reset_hint,
            Some(prev) => {
                let (hint, collision) = combine_hint(prev, h.counter_reset_hint);
                self.collision |= collision;
                hint
            }
        });
        if h.uses_custom_buckets() && h.custom_values != self.custom {
            let common = common_bounds(&self.custom, &h.custom_values);
            if common != self.custom {
                let old: BTreeMap<i32, Pair> = std::mem::take(&mut self.pos)
                    .into_iter()
                    .map(|(k, (v, c))| (k, Pair(v, c)))
                    .collect();
                self.pos = remap_custom(old, &self.custom, &common)
                    .into_iter()
                    .map(|(k, p)| (k, (p.0, p.1)))
                    .collect();
                self.custom = common;
            }
            self.reconciled = true;
            let mut tmp = BTreeMap::new();
            to_map(&h.positive_spans, &h.positive_buckets, 0, &mut tmp, 1.0);
            for (i, v) in remap_custom(tmp, &h.custom_values, &self.custom) {
                kadd(self.pos.entry(i).or_insert((0.0, 0.0)), v);
            }
            kadd(&mut self.count, h.count);
            kadd(&mut self.sum, h.sum);
            return Ok(());
        }
        if !h.uses_custom_buckets() && h.schema < self.schema {
            let d = self.schema - h.schema;
            for m in [&mut self.pos, &mut self.neg] {
                let old = std::mem::take(m);
                for (i, (v, c)) in old {
                    let e = m.entry(((i - 1) >> d) + 1).or_insert((0.0, 0.0));
                    kinc(e, v);
                    e.1 += c;
                }
            }
            self.schema = h.schema;
        }
        self.zero_threshold = self.zero_threshold.max(h.zero_threshold);
        kadd(&mut self.count, h.count);
        kadd(&mut self.sum, h.sum);
        kadd(&mut self.zero, h.zero_count);
        let d = if h.uses_custom_buckets() {
            0
        } else {
            h.schema - self.schema
        };
        for (spans, bk, m) in [
            (&h.positive_spans, &h.positive_buckets, &mut self.pos),
            (&h.negative_spans, &h.negative_buckets, &mut self.neg),
        ] {
            let mut tmp = BTreeMap::new();
            to_map(spans, bk, d, &mut tmp, 1.0);
            for (i, v) in tmp {
                kadd(m.entry(i).or_insert((0.0, 0.0)), v);
            }
        }
        Ok(())
    }

    /// The sum, multiplied by `factor`.
    pub(crate) fn result(&self, factor: f64) -> Option<FloatHistogram> {
        let f = self.first.as_ref()?;
        let factor = factor * SCALE_UP;
        let to = |m: &BTreeMap<i32, (f64, f64)>| {
            let vals: BTreeMap<i32, f64> =
                m.iter().map(|(k, (v, c))| (*k, (v + c) * factor)).collect();
            from_map(&vals)
        };
        let (positive_spans, positive_buckets) = to(&self.pos);
        let (negative_spans, negative_buckets) = to(&self.neg);
        Some(FloatHistogram {
            counter_reset_hint: self.hint.unwrap_or_default(),
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: (self.zero.0 + self.zero.1) * factor,
            count: (self.count.0 + self.count.1) * factor,
            sum: (self.sum.0 + self.sum.1) * factor,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values: if f.uses_custom_buckets() {
                self.custom.clone()
            } else {
                Vec::new()
            },
        })
    }
}

/// The trim operators: `</` keeps the part of `h` at or below `x` (`upper`), `>/` the part
/// at or above it, interpolating inside the bucket that holds `x` and re-estimating the sum
/// from the kept buckets (geometric means for exponential buckets, midpoints otherwise).
pub(crate) fn trim(h: &FloatHistogram, x: f64, upper: bool) -> FloatHistogram {
    if x.is_nan() || (upper && x == f64::INFINITY) || (!upper && x == f64::NEG_INFINITY) {
        return h.clone();
    }
    if x.is_infinite() {
        let mut out = h.clone();
        out.count = 0.0;
        out.sum = 0.0;
        out.zero_count = 0.0;
        out.positive_buckets.iter_mut().for_each(|c| *c = 0.0);
        out.negative_buckets.iter_mut().for_each(|c| *c = 0.0);
        return out;
    }
    let custom = h.uses_custom_buckets();
    let has_pos = h.positive_buckets.iter().any(|c| *c != 0.0);
    let has_neg = h.negative_buckets.iter().any(|c| *c != 0.0);
    // (lo, hi, count, exponential)
    let base = 2f64.powf(2f64.powi(-h.schema));
    let mut out = h.clone();
    let mut trimmed = false;
    let mut count = 0.0;
    let mut sum = 0.0;
    let mut keep = |lo: f64, hi: f64, c: f64, expo: bool| -> f64 {
        if c == 0.0 {
            return 0.0;
        }
        // Custom buckets with an infinite bound: kept whole or dropped, never interpolated.
        if lo == f64::NEG_INFINITY || hi == f64::INFINITY {
            let whole = if upper {
                hi != f64::INFINITY
            } else {
                lo != f64::NEG_INFINITY
            };
            let rep = if upper { hi.min(x) } else { lo.max(x) };
            if !whole || (upper && x < hi) || (!upper && x > lo) {
                trimmed = true;
            }
            if whole {
                count += c;
                sum += c * rep;
                return c;
            }
            return 0.0;
        }
        let frac_below = |v: f64| -> f64 {
            if lo.is_infinite() || hi.is_infinite() {
                return if upper { 1.0 } else { 0.0 };
            }
            if expo {
                if lo > 0.0 {
                    (v.log2() - lo.log2()) / (hi.log2() - lo.log2())
                } else {
                    1.0 - ((-v).log2() - (-hi).log2()) / ((-lo).log2() - (-hi).log2())
                }
            } else {
                (v - lo) / (hi - lo)
            }
        };
        let f = if upper {
            if hi <= x {
                1.0
            } else if lo >= x {
                0.0
            } else {
                frac_below(x)
            }
        } else if lo >= x {
            1.0
        } else if hi <= x {
            0.0
        } else {
            1.0 - frac_below(x)
        };
        if f != 1.0 {
            trimmed = true;
        }
        let kept = c * f;
        if kept != 0.0 {
            let (a, b) = if upper {
                (lo, hi.min(x))
            } else {
                (lo.max(x), hi)
            };
            let rep = if b.is_infinite() {
                a
            } else if a.is_infinite() {
                b
            } else if expo {
                let g = (a * b).sqrt();
                if b <= 0.0 { -g } else { g }
            } else {
                (a + b) / 2.0
            };
            sum += kept * rep;
        }
        count += kept;
        kept
    };
    // Negative buckets.
    let mut idx = 0i32;
    let mut bi = 0usize;
    for s in &h.negative_spans {
        idx += s.offset;
        for _ in 0..s.length {
            if let Some(&c) = h.negative_buckets.get(bi) {
                let (lo, hi) = (-base.powi(idx), -base.powi(idx - 1));
                out.negative_buckets[bi] = keep(lo, hi, c, true);
            }
            bi += 1;
            idx += 1;
        }
    }
    if !custom {
        let zt = h.zero_threshold;
        let (mut lo, mut hi) = (-zt, zt);
        if has_pos && !has_neg {
            lo = 0.0;
        } else if has_neg && !has_pos {
            hi = 0.0;
        }
        out.zero_count = keep(lo, hi, h.zero_count, false);
    }
    let mut idx = 0i32;
    let mut bi = 0usize;
    for s in &h.positive_spans {
        idx += s.offset;
        for _ in 0..s.length {
            if let Some(&c) = h.positive_buckets.get(bi) {
                let (lo, hi, expo) = if custom {
                    let hi = h
                        .custom_values
                        .get(idx as usize)
                        .copied()
                        .unwrap_or(f64::INFINITY);
                    let mut lo = if idx == 0 {
                        f64::NEG_INFINITY
                    } else {
                        h.custom_values
                            .get(idx as usize - 1)
                            .copied()
                            .unwrap_or(f64::INFINITY)
                    };
                    if idx == 0 && hi > 0.0 && hi != f64::INFINITY && (upper || x >= 0.0) {
                        lo = 0.0;
                    }
                    (lo, hi, false)
                } else {
                    (base.powi(idx - 1), base.powi(idx), true)
                };
                out.positive_buckets[bi] = keep(lo, hi, c, expo);
            }
            bi += 1;
            idx += 1;
        }
    }
    if trimmed {
        out.count = count;
        out.sum = sum;
    }
    out
}
