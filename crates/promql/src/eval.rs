//! The evaluator: every node is evaluated once for all steps of its time range
//! (Prometheus's `rangeEval`), giving series with one point per step.

use std::collections::HashMap;
use std::time::Instant;

use narthex_model::{FloatHistogram, Labels, METRIC_NAME, Matcher, is_stale_nan};
use narthex_promql_syntax::{
    AggregateExpr, AtModifier, BinaryExpr, BinaryOp, Cardinality, DurationArg, Expr,
    MatrixSelector, QueryTimeKind, RangeModifier, Span, SubqueryExpr, UnaryOp, VectorMatching,
    VectorSelector,
};
use narthex_storage::{Queryable, SelectHints, ValueType as StValueType};

use crate::fasthash::{FastMap, FastSet};
use crate::value::{Annotations, FPoint, HPoint};
use crate::{EngineOptions, QueryError};

/// The evaluation times of a node: `start, start + step, ..., <= end`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Steps {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
}

impl Steps {
    pub(crate) fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / self.step) as usize + 1
        }
    }
    pub(crate) fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
    pub(crate) fn idx(&self, t: i64) -> usize {
        ((t - self.start) / self.step) as usize
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = i64> + use<> {
        let s = *self;
        (0..s.len()).map(move |i| s.ts(i))
    }
}

/// A point value.
#[derive(Clone, Debug)]
pub(crate) enum PV {
    F(f64),
    H(Box<FloatHistogram>),
}

/// A series: labels and points (at step times for instant vectors; raw for matrices).
#[derive(Clone, Debug, Default)]
pub(crate) struct Ser {
    pub(crate) labels: Labels,
    pub(crate) f: Vec<FPoint>,
    pub(crate) h: Vec<HPoint>,
    pub(crate) drop_name: bool,
    /// Start timestamps of the raw samples in `f` (0: unknown), parallel to it, or empty
    /// when the storage knows none. Only selectors fill them: computed series (and so
    /// subqueries) have none, as in Prometheus.
    pub(crate) fst: Vec<i64>,
    /// The same for `h`.
    pub(crate) hst: Vec<i64>,
}

impl Ser {
    pub(crate) fn new(labels: Labels, drop_name: bool) -> Self {
        Ser {
            labels,
            f: Vec::new(),
            h: Vec::new(),
            drop_name,
            fst: Vec::new(),
            hst: Vec::new(),
        }
    }

    /// Drops stale markers (keeping start timestamps in step).
    pub(crate) fn drop_stale(&mut self) {
        if self.fst.len() == self.f.len() && !self.fst.is_empty() {
            let mut keep = self.f.iter().map(|p| !is_stale_nan(p.f));
            self.fst.retain(|_| keep.next().unwrap_or(true));
        }
        if self.hst.len() == self.h.len() && !self.hst.is_empty() {
            let mut keep = self.h.iter().map(|p| !is_stale_nan(p.h.sum));
            self.hst.retain(|_| keep.next().unwrap_or(true));
        }
        self.f.retain(|p| !is_stale_nan(p.f));
        self.h.retain(|p| !is_stale_nan(p.h.sum));
    }
    pub(crate) fn push(&mut self, t: i64, v: PV) {
        match v {
            PV::F(f) => self.f.push(FPoint { t, f }),
            PV::H(h) => self.h.push(HPoint { t, h: *h }),
        }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.f.is_empty() && self.h.is_empty()
    }
    pub(crate) fn len(&self) -> usize {
        self.f.len() + self.h.len()
    }
    pub(crate) fn sort_points(&mut self) {
        if !self.f.is_sorted_by_key(|p| p.t) {
            self.f.sort_by_key(|p| p.t);
        }
        if !self.h.is_sorted_by_key(|p| p.t) {
            self.h.sort_by_key(|p| p.t);
        }
    }
}

/// A range vector: raw points, plus how to cut windows from them.
#[derive(Clone, Debug)]
pub(crate) struct Mat {
    pub(crate) series: Vec<Ser>,
    pub(crate) range: i64,
    pub(crate) offset: i64,
    pub(crate) at: Option<i64>,
    /// `anchored` or `smoothed` (the series then also hold samples around the windows).
    pub(crate) modifier: Option<RangeModifier>,
}

impl Mat {
    /// The reference time (window end) for evaluation time `ts`.
    pub(crate) fn ref_time(&self, ts: i64) -> i64 {
        self.at.unwrap_or(ts) - self.offset
    }
}

/// The window `(ref - range, ref]` of a series' points.
pub(crate) fn window(s: &Ser, lo: i64, hi: i64) -> (&[FPoint], &[HPoint]) {
    let a = s.f.partition_point(|p| p.t <= lo);
    let b = s.f.partition_point(|p| p.t <= hi);
    let c = s.h.partition_point(|p| p.t <= lo);
    let d = s.h.partition_point(|p| p.t <= hi);
    (&s.f[a..b.max(a)], &s.h[c..d.max(c)])
}

/// [`window`] for windows that move forward step by step: the bounds' indexes only
/// advance (amortised O(1) per step instead of four binary searches). A window that
/// moves back (never for a query's steps) is found by binary search.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cursor {
    fl: usize,
    fh: usize,
    hl: usize,
    hh: usize,
}

fn advance<T>(i: &mut usize, v: &[T], t: i64, at: impl Fn(&T) -> i64) {
    if *i > 0 && at(&v[*i - 1]) > t {
        *i = v.partition_point(|p| at(p) <= t);
        return;
    }
    while *i < v.len() && at(&v[*i]) <= t {
        *i += 1;
    }
}

impl Cursor {
    /// The start timestamps of the samples the last [`Cursor::window`] call returned
    /// (floats, histograms): empty slices when `s` has none.
    pub(crate) fn start_timestamps<'s>(&self, s: &'s Ser) -> (&'s [i64], &'s [i64]) {
        (
            s.fst.get(self.fl..self.fh.max(self.fl)).unwrap_or(&[]),
            s.hst.get(self.hl..self.hh.max(self.hl)).unwrap_or(&[]),
        )
    }

    /// The samples of `s` in `(lo, hi]`.
    pub(crate) fn window<'s>(
        &mut self,
        s: &'s Ser,
        lo: i64,
        hi: i64,
    ) -> (&'s [FPoint], &'s [HPoint]) {
        advance(&mut self.fl, &s.f, lo, |p| p.t);
        advance(&mut self.fh, &s.f, hi, |p| p.t);
        advance(&mut self.hl, &s.h, lo, |p| p.t);
        advance(&mut self.hh, &s.h, hi, |p| p.t);
        (
            &s.f[self.fl..self.fh.max(self.fl)],
            &s.h[self.hl..self.hh.max(self.hl)],
        )
    }
}

/// What an instant vector selector yields for the sample it selects at a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pick {
    /// The value.
    Value,
    /// The sample's timestamp in seconds (`timestamp()`).
    Timestamp,
    /// The sample's start timestamp in seconds, 0 when unknown (`start_timestamp()`).
    StartTimestamp,
}

/// A value for all steps.
#[derive(Debug)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Str(String),
    Vector(Vec<Ser>),
    Matrix(Mat),
}

/// Builds output series keyed by labels (and drop flag), checking duplicates per step.
pub(crate) struct Out {
    pub(crate) series: Vec<Ser>,
    index: HashMap<(Labels, bool), usize>,
}

pub(crate) const DUP_LABELSET: &str = "vector cannot contain metrics with the same labelset";

impl Out {
    pub(crate) fn new() -> Self {
        Out {
            series: Vec::new(),
            index: HashMap::new(),
        }
    }
    pub(crate) fn get(&mut self, labels: Labels, drop_name: bool) -> usize {
        let n = self.series.len();
        let series = &mut self.series;
        *self
            .index
            .entry((labels.clone(), drop_name))
            .or_insert_with(|| {
                series.push(Ser::new(labels, drop_name));
                n
            })
    }
    pub(crate) fn push(&mut self, i: usize, t: i64, v: PV) -> Result<(), QueryError> {
        let s = &mut self.series[i];
        let last =
            s.f.last()
                .map(|p| p.t)
                .into_iter()
                .chain(s.h.last().map(|p| p.t))
                .max();
        if last == Some(t) {
            return Err(QueryError::Eval(DUP_LABELSET.into()));
        }
        s.push(t, v);
        Ok(())
    }
    pub(crate) fn finish(self) -> Vec<Ser> {
        self.series.into_iter().filter(|s| !s.is_empty()).collect()
    }
}

/// Per step, the (series index, value) pairs of an instant vector.
pub(crate) fn by_step(series: &[Ser], s: Steps) -> Vec<Vec<(usize, PV)>> {
    let mut out: Vec<Vec<(usize, PV)>> = vec![Vec::new(); s.len()];
    for (i, ser) in series.iter().enumerate() {
        for p in &ser.f {
            out[s.idx(p.t)].push((i, PV::F(p.f)));
        }
        for p in &ser.h {
            out[s.idx(p.t)].push((i, PV::H(Box::new(p.h.clone()))));
        }
    }
    for v in &mut out {
        if !v.is_sorted_by_key(|x| x.0) {
            v.sort_by_key(|x| x.0);
        }
    }
    out
}

pub(crate) struct Evaluator<'a> {
    pub(crate) storage: &'a dyn Queryable,
    pub(crate) opts: &'a EngineOptions,
    pub(crate) query: &'a str,
    pub(crate) qstart: i64,
    pub(crate) qend: i64,
    /// The query's step (0 for instant queries).
    pub(crate) qstep: i64,
    pub(crate) annos: Annotations,
    pub(crate) deadline: Instant,
    pub(crate) cancel: &'a crate::CancelToken,
    pub(crate) samples_touched: u64,
    pub(crate) peak: u64,
    /// Beneath `histogram_count`/`histogram_sum`/`histogram_avg`: selectors derive
    /// counter-reset hints from consecutive samples, as Prometheus's
    /// `HistogramStatsIterator` does.
    pub(crate) stats_decoding: bool,
}

/// Counter-reset hints derived from consecutive samples (gauges and explicit resets kept).
fn derive_hints(h: &mut [HPoint]) {
    for i in 1..h.len() {
        let (a, b) = h.split_at_mut(i);
        let (prev, cur) = (&a[i - 1].h, &mut b[0].h);
        if matches!(
            cur.counter_reset_hint,
            narthex_model::CounterResetHint::Gauge | narthex_model::CounterResetHint::CounterReset
        ) {
            continue;
        }
        cur.counter_reset_hint = narthex_model::CounterResetHint::Unknown;
        cur.counter_reset_hint = if crate::hist::detect_reset(prev, cur) {
            narthex_model::CounterResetHint::CounterReset
        } else {
            narthex_model::CounterResetHint::NotCounterReset
        };
    }
}

/// Times and durations beyond ±2^60 ms (36 million years) are rejected, so that sums of a
/// few of them never overflow.
pub(crate) const TIME_LIMIT: i64 = 1 << 60;

pub(crate) fn err(msg: impl Into<String>) -> QueryError {
    QueryError::Eval(msg.into())
}

impl<'a> Evaluator<'a> {
    /// `line:column` of a byte offset in the query, as Prometheus prints positions.
    pub(crate) fn pos(&self, span: Span) -> String {
        let before = &self.query[..span.start.min(self.query.len())];
        let line = before.matches('\n').count() + 1;
        let col = match before.rfind('\n') {
            Some(i) => before.len() - i,
            None => before.len() + 1,
        };
        format!("{line}:{col}")
    }

    pub(crate) fn warn(&mut self, msg: String, span: Span) {
        let s = format!("PromQL warning: {msg} ({})", self.pos(span));
        if !self.annos.warnings.contains(&s) {
            self.annos.warnings.push(s);
        }
    }

    pub(crate) fn info(&mut self, msg: String, span: Span) {
        let s = format!("PromQL info: {msg} ({})", self.pos(span));
        if !self.annos.infos.contains(&s) {
            self.annos.infos.push(s);
        }
    }

    pub(crate) fn check_limits(&mut self, n: usize) -> Result<(), QueryError> {
        if self.cancel.is_cancelled() {
            return Err(QueryError::Canceled);
        }
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout);
        }
        self.peak = self.peak.max(n as u64);
        if n > self.opts.max_samples {
            return Err(QueryError::TooManySamples);
        }
        Ok(())
    }

    /// An `offset` modifier in milliseconds (0 when there is none).
    pub(crate) fn offset(&self, o: Option<&DurationArg>) -> Result<i64, QueryError> {
        o.map(|o| self.dur(o)).transpose().map(|o| o.unwrap_or(0))
    }

    pub(crate) fn dur(&self, a: &DurationArg) -> Result<i64, QueryError> {
        let ms = self.dur_unchecked(a)?;
        if ms.unsigned_abs() > TIME_LIMIT as u64 {
            return Err(err("duration out of range"));
        }
        Ok(ms)
    }

    fn dur_unchecked(&self, a: &DurationArg) -> Result<i64, QueryError> {
        match a {
            DurationArg::Literal { ms, .. } => Ok(*ms),
            DurationArg::Expr(e) => {
                let secs = e
                    .eval(self.qstep, self.qend - self.qstart)
                    .map_err(|e| err(e.to_string()))?;
                if secs.is_nan() || secs.is_infinite() {
                    return Err(err("duration expression evaluated to an invalid value"));
                }
                Ok((secs * 1000.0).round() as i64)
            }
        }
    }

    fn at_ts(&self, at: Option<AtModifier>) -> Option<i64> {
        at.map(|a| match a {
            AtModifier::Timestamp(t) => t.clamp(-TIME_LIMIT, TIME_LIMIT),
            AtModifier::Start => self.qstart,
            AtModifier::End => self.qend,
        })
    }

    /// Selects raw series with samples in `[mint, maxt]`, sorted by labels.
    fn select(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: SelectHints,
    ) -> Result<Vec<Ser>, QueryError> {
        let mut out = Vec::new();
        let mut total = 0usize;
        self.select_each(matchers, mint, maxt, hints, &mut |_, ser| {
            total += ser.len();
            out.push(ser);
            Ok(())
        })?;
        self.check_limits(total)?;
        Ok(out)
    }

    /// [`Evaluator::select`] one series at a time: each is read, handed to `each`, and
    /// dropped before the next is read.
    pub(crate) fn select_each(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: SelectHints,
        each: &mut dyn FnMut(&mut Self, Ser) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let q = self.storage.querier(mint, maxt)?;
        let set = q.select(true, Some(&hints), matchers)?;
        let mut floats: Vec<(i64, f64)> = Vec::new();
        for s in set {
            let s = s?;
            let mut ser = Ser::new(s.labels().clone(), false);
            let mut it = s.iter();
            let mut vt = it.seek(mint);
            if it.has_start_timestamps() {
                // Sample by sample, keeping each one's start timestamp.
                while vt != StValueType::None && it.at_t() <= maxt {
                    match vt {
                        StValueType::Float => {
                            ser.f.push(FPoint {
                                t: it.at_t(),
                                f: it.at().1,
                            });
                            ser.fst.push(it.at_st());
                        }
                        _ => {
                            let (t, h) = it.at_float_histogram();
                            ser.h.push(HPoint { t, h });
                            ser.hst.push(it.at_st());
                        }
                    }
                    vt = it.next();
                }
                vt = StValueType::None;
            }
            while vt != StValueType::None {
                let t = it.at_t();
                if t > maxt {
                    break;
                }
                match vt {
                    StValueType::Float => {
                        // A run of floats in one go (no call per sample).
                        floats.clear();
                        floats.reserve(it.remaining_hint());
                        vt = it.read_floats(vt, maxt, &mut floats);
                        ser.f.reserve(floats.len());
                        ser.f.extend(floats.iter().map(|&(t, f)| FPoint { t, f }));
                        continue;
                    }
                    StValueType::Histogram | StValueType::FloatHistogram => {
                        let (t, h) = it.at_float_histogram();
                        ser.h.push(HPoint { t, h });
                    }
                    StValueType::None => break,
                }
                vt = it.next();
            }
            if let Some(e) = it.err() {
                return Err(QueryError::Storage(e.clone()));
            }
            if self.stats_decoding {
                derive_hints(&mut ser.h);
            }
            self.samples_touched += ser.len() as u64;
            each(self, ser)?;
        }
        Ok(())
    }

    pub(crate) fn eval(&mut self, e: &Expr, s: Steps) -> Result<Val, QueryError> {
        if self.cancel.is_cancelled() {
            return Err(QueryError::Canceled);
        }
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout);
        }
        // Every node holds up to one value per step: more steps than samples allowed
        // cannot be evaluated.
        if s.len() > self.opts.max_samples {
            return Err(QueryError::TooManySamples);
        }
        match e {
            Expr::Number(n) => Ok(Val::Scalar(vec![n.value; s.len()])),
            Expr::String(st) => Ok(Val::Str(st.value.clone())),
            Expr::Paren(p) => self.eval(&p.expr, s),
            Expr::QueryTime(q) => {
                let v = match q.kind {
                    QueryTimeKind::Start => self.qstart as f64 / 1000.0,
                    QueryTimeKind::End => self.qend as f64 / 1000.0,
                    QueryTimeKind::Step => self.qstep as f64 / 1000.0,
                    QueryTimeKind::Range => (self.qend - self.qstart) as f64 / 1000.0,
                };
                Ok(Val::Scalar(vec![v; s.len()]))
            }
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.eval_vs(vs, s, Pick::Value)?)),
            Expr::MatrixSelector(ms) => Ok(Val::Matrix(self.eval_ms(ms, s)?)),
            Expr::Subquery(sq) => Ok(Val::Matrix(self.eval_subquery(sq, s)?)),
            Expr::Unary(u) => {
                let v = self.eval(&u.expr, s)?;
                if u.op == UnaryOp::Plus {
                    return Ok(v);
                }
                match v {
                    Val::Scalar(mut v) => {
                        v.iter_mut().for_each(|x| *x = -*x);
                        Ok(Val::Scalar(v))
                    }
                    Val::Vector(mut ss) => {
                        for ser in &mut ss {
                            ser.f.iter_mut().for_each(|p| p.f = -p.f);
                            for p in &mut ser.h {
                                crate::hist::scale(&mut p.h, -1.0);
                            }
                            ser.drop_name = true;
                        }
                        Ok(Val::Vector(self.settle(ss)?))
                    }
                    other => Ok(other),
                }
            }
            Expr::Binary(b) => self.eval_binary(b, s),
            Expr::Aggregate(a) => self.eval_aggregate(a, s),
            Expr::Call(c) => crate::functions::eval_call(self, c, s),
        }
    }

    /// Evaluates to an instant vector (scalars are an error here).
    pub(crate) fn eval_vector(&mut self, e: &Expr, s: Steps) -> Result<Vec<Ser>, QueryError> {
        match self.eval(e, s)? {
            Val::Vector(v) => Ok(v),
            _ => Err(err("expected instant vector")),
        }
    }

    pub(crate) fn eval_scalar(&mut self, e: &Expr, s: Steps) -> Result<Vec<f64>, QueryError> {
        match self.eval(e, s)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(err("expected scalar")),
        }
    }

    pub(crate) fn eval_matrix(&mut self, e: &Expr, s: Steps) -> Result<Mat, QueryError> {
        match e {
            Expr::Paren(p) => self.eval_matrix(&p.expr, s),
            _ => match self.eval(e, s)? {
                Val::Matrix(m) => Ok(m),
                _ => Err(err("expected range vector")),
            },
        }
    }

    /// In the eager mode, removes `__name__` from series flagged for it and merges series
    /// whose labels become equal.
    pub(crate) fn settle(&self, ss: Vec<Ser>) -> Result<Vec<Ser>, QueryError> {
        if self.opts.delayed_name_removal || !ss.iter().any(|s| s.drop_name) {
            return Ok(ss);
        }
        merge_series(ss.into_iter().map(|mut s| {
            if s.drop_name {
                s.labels = s.labels.drop_name_labels();
                s.drop_name = false;
            }
            s
        }))
    }

    /// An instant vector selector at every step: the selected samples' values, or (for
    /// `timestamp()` and `start_timestamp()`) their timestamps or start timestamps in
    /// seconds.
    pub(crate) fn eval_vs(
        &mut self,
        vs: &VectorSelector,
        s: Steps,
        pick: Pick,
    ) -> Result<Vec<Ser>, QueryError> {
        if s.len() == 0 {
            // Still validates the offset.
            self.vs_window(vs, s, pick)?;
            return Ok(Vec::new());
        }
        let (win, mint, maxt, hints) = self.vs_window(vs, s, pick)?;
        let VsWindow {
            at,
            offset,
            lookback: lb,
            ..
        } = win;
        let smoothed = vs.modifier == Some(RangeModifier::Smoothed);
        let mut raw = self.select(&vs.matchers, mint, maxt, hints)?;
        if smoothed && pick != Pick::StartTimestamp {
            let mut out = Vec::new();
            for r in &mut raw {
                r.drop_stale();
                let mut ser = Ser::new(r.labels.clone(), false);
                let counter =
                    r.h.iter()
                        .all(|p| p.h.counter_reset_hint != narthex_model::CounterResetHint::Gauge);
                let name = r.labels.metric_name().unwrap_or("").to_string();
                for ts in s.iter() {
                    let rt = at.unwrap_or(ts) - offset;
                    // The samples around `rt` (of either kind) must agree in kind and layout.
                    let fi = r.f.partition_point(|p| p.t <= rt);
                    let hi = r.h.partition_point(|p| p.t <= rt);
                    let pf = fi.checked_sub(1).map(|k| r.f[k].t).filter(|t| *t > rt - lb);
                    let ph = hi.checked_sub(1).map(|k| r.h[k].t).filter(|t| *t > rt - lb);
                    let nf = r.f.get(fi).map(|p| p.t).filter(|t| *t < rt + lb);
                    let nh = r.h.get(hi).map(|p| p.t).filter(|t| *t < rt + lb);
                    let prev_h = match (pf, ph) {
                        (Some(a), Some(b)) => Some(b > a),
                        (None, Some(_)) => Some(true),
                        (Some(_), None) => Some(false),
                        _ => None,
                    };
                    let next_h = match (nf, nh) {
                        (Some(a), Some(b)) => Some(b < a),
                        (None, Some(_)) => Some(true),
                        (Some(_), None) => Some(false),
                        _ => None,
                    };
                    let exact = pf == Some(rt) || ph == Some(rt);
                    if !exact && let (Some(p), Some(n)) = (prev_h, next_h) {
                        if p != n {
                            self.warn(
                                format!(
                                    "encountered a mix of histograms and floats for metric name {}",
                                    narthex_model::go_quote(&name)
                                ),
                                vs.span,
                            );
                            continue;
                        }
                        if p && r.h[hi - 1].h.uses_custom_buckets()
                            != r.h[hi].h.uses_custom_buckets()
                        {
                            self.warn(
                                format!(
                                    "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
                                    narthex_model::go_quote(&name)
                                ),
                                vs.span,
                            );
                            continue;
                        }
                    }
                    if prev_h == Some(true) {
                        if let Some(h) =
                            crate::functions::smoothed_hist(&r.h, rt, counter, lb, false)
                        {
                            ser.h.push(HPoint { t: ts, h });
                        }
                    } else if let Some(v) =
                        crate::functions::smoothed_value(&r.f, rt, false, lb, false)
                    {
                        ser.f.push(FPoint { t: ts, f: v });
                    }
                }
                if !ser.is_empty() {
                    out.push(ser);
                }
            }
            return Ok(out);
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut total = 0;
        for r in raw {
            let ser = vs_series(&win, r, s);
            if !ser.is_empty() {
                total += ser.len();
                out.push(ser);
            }
        }
        self.check_limits(total)?;
        Ok(out)
    }

    /// What an instant vector selector reads: its window, and the time range and hints to
    /// select (a `smoothed` selector also reads a lookback past the last step).
    pub(crate) fn vs_window(
        &mut self,
        vs: &VectorSelector,
        s: Steps,
        pick: Pick,
    ) -> Result<(VsWindow, i64, i64, SelectHints), QueryError> {
        let offset = self.offset(vs.offset.as_ref())?;
        let at = self.at_ts(vs.at);
        let first = at.unwrap_or(s.start) - offset;
        let last = at.unwrap_or(s.end) - offset;
        let lb = self.opts.lookback_delta;
        let maxt = if vs.modifier == Some(RangeModifier::Smoothed) {
            last + lb
        } else {
            last
        };
        let hints = SelectHints {
            start: first - lb + 1,
            end: maxt,
            step: s.step,
            ..Default::default()
        };
        let win = VsWindow {
            at,
            offset,
            lookback: lb,
            pick,
        };
        Ok((win, first - lb + 1, maxt, hints))
    }

    fn eval_ms(&mut self, ms: &MatrixSelector, s: Steps) -> Result<Mat, QueryError> {
        let (mut mat, mint, maxt, hints) = self.ms_window(ms, s)?;
        let mut raw = self.select(&ms.selector.matchers, mint, maxt, hints)?;
        for r in &mut raw {
            r.drop_stale();
        }
        mat.series = raw;
        Ok(mat)
    }

    /// What a matrix selector reads: its range, offset and `@` (as a [`Mat`] without
    /// series), and the time range and hints to select.
    pub(crate) fn ms_window(
        &mut self,
        ms: &MatrixSelector,
        s: Steps,
    ) -> Result<(Mat, i64, i64, SelectHints), QueryError> {
        let vs = &ms.selector;
        let offset = self.offset(vs.offset.as_ref())?;
        let range = self.dur(&ms.range)?;
        if range <= 0 {
            return Err(err(format!(
                "duration must be greater than 0, got {range}ms"
            )));
        }
        let at = self.at_ts(vs.at);
        let first = at.unwrap_or(s.start) - offset;
        let last = at.unwrap_or(s.end) - offset;
        let lb = self.opts.lookback_delta;
        let (mint, maxt) = match vs.modifier {
            // Deriving counter-reset hints needs the sample before the window too.
            None if self.stats_decoding => (first - range - lb + 1, last),
            None => (first - range + 1, last),
            Some(RangeModifier::Anchored) => (first - range - lb + 1, last),
            Some(RangeModifier::Smoothed) => (first - range - lb + 1, last + lb),
        };
        let hints = SelectHints {
            start: mint,
            end: maxt,
            step: s.step,
            range,
            ..Default::default()
        };
        let mat = Mat {
            series: Vec::new(),
            range,
            offset,
            at,
            modifier: vs.modifier,
        };
        Ok((mat, mint, maxt, hints))
    }

    fn eval_subquery(&mut self, sq: &SubqueryExpr, s: Steps) -> Result<Mat, QueryError> {
        let offset = self.offset(sq.offset.as_ref())?;
        let range = self.dur(&sq.range)?;
        if range <= 0 {
            return Err(err(format!(
                "duration must be greater than 0, got {range}ms"
            )));
        }
        let step = match &sq.step {
            Some(st) => self.dur(st)?,
            None => self.opts.default_subquery_step,
        };
        if step <= 0 {
            return Err(err(format!(
                "zero or negative step is not accepted in subquery: {step}ms"
            )));
        }
        let at = self.at_ts(sq.at);
        let first = at.unwrap_or(s.start) - offset;
        let last = at.unwrap_or(s.end) - offset;
        let lo = first - range;
        let mut start = step * (lo / step);
        if start <= lo {
            start += step;
        }
        let inner = Steps {
            start,
            end: last,
            step,
        };
        let series = if inner.len() == 0 {
            Vec::new()
        } else {
            match self.eval(&sq.expr, inner)? {
                Val::Vector(v) => v,
                Val::Scalar(v) => {
                    let mut ser = Ser::new(Labels::empty(), false);
                    for (i, x) in v.into_iter().enumerate() {
                        ser.f.push(FPoint {
                            t: inner.ts(i),
                            f: x,
                        });
                    }
                    vec![ser]
                }
                _ => return Err(err("subquery of a non-vector")),
            }
        };
        let mut series = series;
        for ser in &mut series {
            for p in &mut ser.h {
                // "Not a reset" refers to the previous stored sample, which need not be the
                // previous subquery step's.
                if p.h.counter_reset_hint == narthex_model::CounterResetHint::NotCounterReset {
                    p.h.counter_reset_hint = narthex_model::CounterResetHint::Unknown;
                }
            }
        }
        Ok(Mat {
            series,
            range,
            offset,
            at,
            modifier: None,
        })
    }

    // ---------------------------------------------------------------- binary operators

    fn eval_binary(&mut self, b: &BinaryExpr, s: Steps) -> Result<Val, QueryError> {
        let lhs = self.eval(&b.lhs, s)?;
        let rhs = self.eval(&b.rhs, s)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let mut out = l;
                for (x, y) in out.iter_mut().zip(r) {
                    let (v, keep) = scalar_op(b.op, *x, y);
                    *x = if b.op.is_comparison() {
                        if keep { 1.0 } else { 0.0 }
                    } else {
                        v
                    };
                }
                Ok(Val::Scalar(out))
            }
            (Val::Vector(l), Val::Scalar(r)) => {
                Ok(Val::Vector(self.vector_scalar(b, l, &r, s, false)?))
            }
            (Val::Scalar(l), Val::Vector(r)) => {
                Ok(Val::Vector(self.vector_scalar(b, r, &l, s, true)?))
            }
            (Val::Vector(l), Val::Vector(r)) => {
                let default = VectorMatching {
                    card: Cardinality::ManyToMany,
                    ..Default::default()
                };
                let m = b.matching.clone().unwrap_or(default);
                let out = match b.op {
                    BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => {
                        self.set_op(b.op, l, r, &m, s)
                    }
                    _ => self.vector_vector(b, l, r, &m, s)?,
                };
                Ok(Val::Vector(self.settle(out)?))
            }
            _ => Err(err("invalid operands of binary operator")),
        }
    }

    fn vector_scalar(
        &mut self,
        b: &BinaryExpr,
        v: Vec<Ser>,
        sc: &[f64],
        s: Steps,
        swap: bool,
    ) -> Result<Vec<Ser>, QueryError> {
        let cmp = b.op.is_comparison();
        let trim = matches!(b.op, BinaryOp::TrimUpper | BinaryOp::TrimLower);
        let drop = (!cmp && !trim) || b.return_bool;
        let mut out = Vec::with_capacity(v.len());
        for ser in v {
            let mut o = Ser::new(ser.labels, ser.drop_name || drop);
            for p in ser.f {
                let x = sc[s.idx(p.t)];
                let (l, r) = if swap { (x, p.f) } else { (p.f, x) };
                let (mut val, keep) = scalar_op(b.op, l, r);
                if cmp {
                    val = p.f;
                    if b.return_bool {
                        val = if keep { 1.0 } else { 0.0 };
                    } else if !keep {
                        continue;
                    }
                }
                o.f.push(FPoint { t: p.t, f: val });
            }
            for p in ser.h {
                let x = sc[s.idx(p.t)];
                let h = PV::H(Box::new(p.h));
                let (l, r) = if swap { (PV::F(x), h) } else { (h, PV::F(x)) };
                if let Some(r) = crate::hist::hist_vector_op(self, b, l, r) {
                    o.push(p.t, r);
                }
            }
            if !o.is_empty() {
                out.push(o);
            }
        }
        self.settle(out)
    }

    fn signatures(&self, ss: &[Ser], m: &VectorMatching) -> Vec<u64> {
        let names: Vec<&str> = m.labels.iter().map(String::as_str).collect();
        ss.iter().map(|s| s.labels.hash_for(&names, m.on)).collect()
    }

    fn set_op(
        &mut self,
        op: BinaryOp,
        l: Vec<Ser>,
        r: Vec<Ser>,
        m: &VectorMatching,
        s: Steps,
    ) -> Vec<Ser> {
        let ls = self.signatures(&l, m);
        let rs = self.signatures(&r, m);
        let n = s.len();
        // Per step, the signatures present on each side.
        let mut lsig: Vec<FastSet<u64>> = vec![Default::default(); n];
        let mut rsig: Vec<FastSet<u64>> = vec![Default::default(); n];
        for (i, ser) in l.iter().enumerate() {
            for t in ser.f.iter().map(|p| p.t).chain(ser.h.iter().map(|p| p.t)) {
                lsig[s.idx(t)].insert(ls[i]);
            }
        }
        for (i, ser) in r.iter().enumerate() {
            for t in ser.f.iter().map(|p| p.t).chain(ser.h.iter().map(|p| p.t)) {
                rsig[s.idx(t)].insert(rs[i]);
            }
        }
        let mut out = Vec::new();
        match op {
            BinaryOp::And | BinaryOp::Unless => {
                let want = op == BinaryOp::And;
                for (i, mut ser) in l.into_iter().enumerate() {
                    ser.f.retain(|p| rsig[s.idx(p.t)].contains(&ls[i]) == want);
                    ser.h.retain(|p| rsig[s.idx(p.t)].contains(&ls[i]) == want);
                    if !ser.is_empty() {
                        out.push(ser);
                    }
                }
            }
            _ => {
                out.extend(l);
                for (i, mut ser) in r.into_iter().enumerate() {
                    ser.f.retain(|p| !lsig[s.idx(p.t)].contains(&rs[i]));
                    ser.h.retain(|p| !lsig[s.idx(p.t)].contains(&rs[i]));
                    if !ser.is_empty() {
                        out.push(ser);
                    }
                }
            }
        }
        out
    }

    fn result_labels(
        &self,
        op: BinaryOp,
        many: &Labels,
        one: &Labels,
        m: &VectorMatching,
        drop: bool,
    ) -> Labels {
        let mut lb = many.builder();
        if drop && !self.opts.delayed_name_removal {
            lb.del(METRIC_NAME);
            lb.del("__type__");
            lb.del("__unit__");
        }
        let _ = op;
        if m.card == Cardinality::OneToOne {
            if m.on {
                lb.retain(|n| m.labels.iter().any(|x| x == n));
            } else {
                for n in &m.labels {
                    lb.del(n);
                }
            }
        }
        for n in &m.include {
            match one.get(n) {
                Some(v) => {
                    lb.set(n, v);
                }
                None => {
                    lb.del(n);
                }
            }
        }
        lb.build()
    }

    fn vector_vector(
        &mut self,
        b: &BinaryExpr,
        l: Vec<Ser>,
        r: Vec<Ser>,
        m: &VectorMatching,
        s: Steps,
    ) -> Result<Vec<Ser>, QueryError> {
        let swap = m.card == Cardinality::OneToMany;
        let (many, one) = if swap { (&r, &l) } else { (&l, &r) };
        let many_sig = self.signatures(many, m);
        let one_sig = self.signatures(one, m);
        let many_t = by_step(many, s);
        let one_t = by_step(one, s);
        let cmp = b.op.is_comparison();
        let trim = matches!(b.op, BinaryOp::TrimUpper | BinaryOp::TrimLower);
        let drop = (!cmp && !trim) || b.return_bool;
        let mut out = Out::new();
        let mut cache: FastMap<(usize, usize), usize> = FastMap::default();
        // Maps kept across steps (cleared, not reallocated).
        let mut one_map: FastMap<u64, usize> = FastMap::default();
        let mut matched: FastMap<u64, usize> = FastMap::default();
        let mut seen_one: FastSet<u64> = FastSet::default();
        let mut step_out: FastSet<usize> = FastSet::default();
        let names: Vec<&str> = m.labels.iter().map(String::as_str).collect();
        let fill = m.fill;
        // Prometheus applies fill values after swapping the sides of `group_right`.
        let (fill_many, fill_one) = (fill.lhs, fill.rhs);
        for (si, (mt, ot)) in many_t.iter().zip(one_t.iter()).enumerate() {
            let ts = s.ts(si);
            one_map.clear();
            one_map.reserve(ot.len());
            for (k, (j, _)) in ot.iter().enumerate() {
                if let Some(prev) = one_map.insert(one_sig[*j], k) {
                    let a = &one[ot[prev].0].labels;
                    let bl = &one[*j].labels;
                    let group = match_group(bl, &names, m.on);
                    let side = if swap { "left" } else { "right" };
                    let (x, y) = if a < bl { (a, bl) } else { (bl, a) };
                    return Err(err(format!(
                        "found duplicate series for the match group {group} on the {side} hand-side of the operation: [{x}, {y}];many-to-many matching not allowed: matching labels must be unique on one side"
                    )));
                }
            }
            matched.clear();
            seen_one.clear();
            step_out.clear();
            for (i, lv) in mt {
                let sig = many_sig[*i];
                let (k, rv) = match one_map.get(&sig) {
                    Some(&k) => (Some(ot[k].0), ot[k].1.clone()),
                    None => match fill_one {
                        Some(f) => (None, PV::F(f)),
                        None => continue,
                    },
                };
                if k.is_some() && fill_many.is_some() {
                    seen_one.insert(sig);
                }
                if m.card == Cardinality::OneToOne
                    && let Some(prev) = matched.insert(sig, *i)
                    && prev != *i
                {
                    return Err(err(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                let (fl, fr) = if swap {
                    (rv, lv.clone())
                } else {
                    (lv.clone(), rv)
                };
                let Some(v) = self.elem_op(b, fl, fr)? else {
                    continue;
                };
                let oi = match k.and_then(|k| cache.get(&(*i, k))) {
                    Some(&oi) => oi,
                    None => {
                        let one_labels = k.map(|k| one[k].labels.clone()).unwrap_or_default();
                        let lbl = self.result_labels(b.op, &many[*i].labels, &one_labels, m, drop);
                        let oi = out.get(lbl, drop || many[*i].drop_name);
                        if let Some(k) = k {
                            cache.insert((*i, k), oi);
                        }
                        oi
                    }
                };
                if !step_out.insert(oi) {
                    if m.card != Cardinality::OneToOne {
                        return Err(err(
                            "multiple matches for labels: grouping labels must ensure unique matches",
                        ));
                    }
                    return Err(err(DUP_LABELSET));
                }
                out.push(oi, ts, v)?;
            }
            if let Some(f) = fill_many {
                for (j, rv) in ot {
                    let sig = one_sig[*j];
                    if seen_one.contains(&sig) || mt.iter().any(|(i, _)| many_sig[*i] == sig) {
                        continue;
                    }
                    let (fl, fr) = if swap {
                        (rv.clone(), PV::F(f))
                    } else {
                        (PV::F(f), rv.clone())
                    };
                    let Some(v) = self.elem_op(b, fl, fr)? else {
                        continue;
                    };
                    let mut lb = one[*j].labels.builder();
                    if drop && !self.opts.delayed_name_removal {
                        lb.del(METRIC_NAME);
                    }
                    {
                        if m.on {
                            lb.retain(|n| m.labels.iter().any(|x| x == n));
                        } else {
                            for n in &m.labels {
                                lb.del(n);
                            }
                        }
                    }
                    let oi = out.get(lb.build(), true);
                    out.push(oi, ts, v)?;
                }
            }
        }
        Ok(out.finish())
    }

    /// One element operation; `None` drops the element (false comparison, or
    /// unsupported operand types).
    fn elem_op(&mut self, b: &BinaryExpr, l: PV, r: PV) -> Result<Option<PV>, QueryError> {
        match (l, r) {
            (PV::F(x), PV::F(y)) => {
                let (v, keep) = scalar_op(b.op, x, y);
                if b.op.is_comparison() {
                    if b.return_bool {
                        return Ok(Some(PV::F(if keep { 1.0 } else { 0.0 })));
                    }
                    return Ok(keep.then_some(PV::F(x)));
                }
                Ok(Some(PV::F(v)))
            }
            (l, r) => Ok(crate::hist::hist_vector_op(self, b, l, r)),
        }
    }

    // ---------------------------------------------------------------- aggregations

    fn eval_aggregate(&mut self, a: &AggregateExpr, s: Steps) -> Result<Val, QueryError> {
        crate::agg::eval_aggregate(self, a, s)
    }
}

/// What an instant vector selector does with a series it read: the times it looks at
/// (`@`, offset), the lookback window, and what it reports of the sample found.
#[derive(Clone, Copy)]
pub(crate) struct VsWindow {
    pub(crate) at: Option<i64>,
    pub(crate) offset: i64,
    pub(crate) lookback: i64,
    pub(crate) pick: Pick,
}

/// An instant vector selector over one series `r`: at every step the newest sample in the
/// lookback window (none for a stale marker).
pub(crate) fn vs_series(w: &VsWindow, r: Ser, s: Steps) -> Ser {
    let (at, offset, lb, pick) = (w.at, w.offset, w.lookback, w.pick);
    let mut ser = Ser::new(r.labels, false);
    if r.h.is_empty() {
        ser.f.reserve(s.len());
    }
    // Steps only move forward (an `@` time repeats one): cursors past the last
    // sample at or before the step's time replace a binary search per step.
    let (mut fi, mut hi) = (0usize, 0usize);
    for ts in s.iter() {
        let rt = at.unwrap_or(ts) - offset;
        while fi < r.f.len() && r.f[fi].t <= rt {
            fi += 1;
        }
        while hi < r.h.len() && r.h[hi].t <= rt {
            hi += 1;
        }
        let fp = fi.checked_sub(1).map(|i| &r.f[i]).filter(|p| p.t > rt - lb);
        let hp = hi.checked_sub(1).map(|i| &r.h[i]).filter(|p| p.t > rt - lb);
        // A start timestamp in seconds (0 when unknown).
        let st_secs = |sts: &[i64], i: usize| {
            sts.get(i.wrapping_sub(1)).copied().unwrap_or(0) as f64 / 1000.0
        };
        match (fp, hp) {
            (Some(f), h) if h.is_none_or(|h| h.t < f.t) => {
                if is_stale_nan(f.f) {
                    continue;
                }
                let v = match pick {
                    Pick::Value => f.f,
                    Pick::Timestamp => f.t as f64 / 1000.0,
                    Pick::StartTimestamp => st_secs(&r.fst, fi),
                };
                ser.f.push(FPoint { t: ts, f: v });
            }
            (_, Some(h)) => {
                if is_stale_nan(h.h.sum) {
                    continue;
                }
                match pick {
                    Pick::Value => ser.h.push(HPoint {
                        t: ts,
                        h: h.h.clone(),
                    }),
                    Pick::Timestamp => ser.f.push(FPoint {
                        t: ts,
                        f: h.t as f64 / 1000.0,
                    }),
                    Pick::StartTimestamp => ser.f.push(FPoint {
                        t: ts,
                        f: st_secs(&r.hst, hi),
                    }),
                }
            }
            _ => {}
        }
    }
    ser
}

/// Dropping the metric name also drops `__type__` and `__unit__`.
pub(crate) trait DropName {
    fn drop_name_labels(&self) -> Labels;
}

impl DropName for Labels {
    fn drop_name_labels(&self) -> Labels {
        if !self
            .iter()
            .any(|l| matches!(&*l.name, "__name__" | "__type__" | "__unit__"))
        {
            return self.clone();
        }
        let mut lb = self.builder();
        lb.del(METRIC_NAME);
        lb.del("__type__");
        lb.del("__unit__");
        lb.build()
    }
}

/// The label set of the match group, as printed in duplicate-series errors.
pub(crate) fn match_group(l: &Labels, names: &[&str], on: bool) -> Labels {
    let mut lb = l.builder();
    if on {
        lb.retain(|n| names.contains(&n));
    } else {
        lb.retain(|n| !names.contains(&n) && n != METRIC_NAME);
    }
    lb.build()
}

/// Merges series with equal labels; an error when two have a point at the same time.
pub(crate) fn merge_series(ss: impl IntoIterator<Item = Ser>) -> Result<Vec<Ser>, QueryError> {
    let mut out: Vec<Ser> = Vec::new();
    let mut index: HashMap<(Labels, bool), usize> = HashMap::new();
    for s in ss {
        match index.get(&(s.labels.clone(), s.drop_name)) {
            Some(&i) => {
                let o = &mut out[i];
                let times: std::collections::HashSet<i64> =
                    o.f.iter()
                        .map(|p| p.t)
                        .chain(o.h.iter().map(|p| p.t))
                        .collect();
                if s.f
                    .iter()
                    .map(|p| p.t)
                    .chain(s.h.iter().map(|p| p.t))
                    .any(|t| times.contains(&t))
                {
                    return Err(err(DUP_LABELSET));
                }
                o.f.extend(s.f);
                o.h.extend(s.h);
                o.sort_points();
            }
            None => {
                index.insert((s.labels.clone(), s.drop_name), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// A float operation: the value, and for comparisons whether it holds.
pub(crate) fn scalar_op(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Pow => (l.powf(r), true),
        BinaryOp::Mod => (go_mod(l, r), true),
        BinaryOp::Atan2 => (l.atan2(r), true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        _ => (l, true),
    }
}

/// Go's `math.Mod` (the sign of the dividend), which is Rust's `%`.
fn go_mod(l: f64, r: f64) -> f64 {
    l % r
}
