//! Aggregation operators.

use std::cmp::Ordering;
use std::collections::HashMap;

use narthex_model::{Labels, METRIC_NAME, MatchOp};
use narthex_promql_syntax::{
    AggregateExpr, AggregateOp, Call, Expr, MatrixSelector, VectorSelector,
};

use crate::QueryError;
use crate::eval::{
    DropName, Evaluator, Mat, Out, PV, Pick, Ser, Steps, Val, VsWindow, by_step, err, vs_series,
};
use crate::functions::{RangeCall, is_range_call, unparen};
use crate::hist;

/// Prometheus's Kahan-Neumaier summation step.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus's `quantile` over values (NaN sorts first).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(nan_first);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

pub(crate) fn nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

#[derive(Default)]
struct Acc {
    seen: bool,
    /// The input series (by position) that first contributed: groups are output in that
    /// order.
    first: usize,
    f: f64,
    c: f64,
    mean: f64,
    count: f64,
    incremental: bool,
    /// Boxed: most aggregations never see a histogram, and a step's accumulators stay
    /// small.
    h: Option<Box<hist::KahanHist>>,
    has_f: bool,
    has_h: bool,
    bad_h: bool,
}

/// Go's `%q` of a byte string that may hold invalid UTF-8 (printed as `\xNN`).
fn go_quote_bytes(b: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in b.utf8_chunks() {
        let q = narthex_model::go_quote(chunk.valid());
        out.push_str(&q[1..q.len() - 1]);
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn format_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{f}")
    }
}

fn group_labels(l: &Labels, grouping: &[String], without: bool) -> Labels {
    let mut lb = l.builder();
    if without {
        for g in grouping {
            lb.del(g);
        }
        lb.del(METRIC_NAME);
    } else {
        lb.retain(|n| grouping.iter().any(|g| g == n));
    }
    lb.build()
}

pub(crate) fn eval_aggregate(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    s: Steps,
) -> Result<Val, QueryError> {
    let mut param_sc: Option<Vec<f64>> = None;
    let mut param_str: Option<String> = None;
    if let Some(p) = &a.param {
        match ev.eval(p, s)? {
            Val::Scalar(v) => param_sc = Some(v),
            Val::Str(st) => param_str = Some(st),
            _ => return Err(err("invalid aggregation parameter")),
        }
    }
    if let Some(src) = streamable(a).filter(|_| s.len() > 0) {
        let touched = ev.samples_touched;
        if let Some(v) = stream_aggregate(ev, a, s, src)? {
            return Ok(v);
        }
        // Two series' labels met once their names were dropped: evaluate the usual way,
        // which merges them (or reports the clash) as Prometheus does.
        ev.samples_touched = touched;
    }
    let input = ev.eval_vector(&a.expr, s)?;
    let tab = by_step(&input, s);

    // Groups, computed once per input series.
    let mut gindex: HashMap<Labels, usize> = HashMap::new();
    let mut glabels: Vec<Labels> = Vec::new();
    let gid: Vec<usize> = input
        .iter()
        .map(|ser| {
            let gl = group_labels(&ser.labels, &a.grouping, a.without);
            *gindex.entry(gl.clone()).or_insert_with(|| {
                glabels.push(gl);
                glabels.len() - 1
            })
        })
        .collect();
    let ng = glabels.len();
    let mut gdrop = vec![false; ng];
    // The metric name of each group's first series, for warnings.
    let mut gname: Vec<Option<&str>> = vec![None; ng];
    for (i, ser) in input.iter().enumerate() {
        if ser.drop_name {
            gdrop[gid[i]] = true;
        }
        gname[gid[i]].get_or_insert(ser.labels.metric_name().unwrap_or(""));
    }
    let param_span = a.param.as_ref().map(Expr::span).unwrap_or(a.span);

    let mut out = Out::new();
    match a.op {
        AggregateOp::Topk
        | AggregateOp::Bottomk
        | AggregateOp::Limitk
        | AggregateOp::LimitRatio => {
            let params = param_sc.unwrap_or_default();
            let mut per_group: Vec<Vec<(usize, PV)>> = (0..ng).map(|_| Vec::new()).collect();
            for (si, samples) in tab.into_iter().enumerate() {
                let ts = s.ts(si);
                let p = params.get(si).copied().unwrap_or(f64::NAN);
                if a.op == AggregateOp::LimitRatio {
                    let mut r = p;
                    if r.is_nan() || !(-1.0..=1.0).contains(&r) {
                        if r.is_nan() {
                            return Err(err("Ratio value is NaN"));
                        }
                        ev.warn(
                            format!(
                                "ratio value should be between -1 and 1, got {}, capping to {}",
                                narthex_model::float::format_go_g(r),
                                if r < 0.0 { -1 } else { 1 }
                            ),
                            param_span,
                        );
                        r = r.clamp(-1.0, 1.0);
                    }
                    for (i, v) in samples {
                        let off = input[i].labels.hash64() as f64 / u64::MAX as f64;
                        let keep = (r >= 0.0 && off < r) || (r < 0.0 && off >= 1.0 + r);
                        if keep {
                            let o = out.get(input[i].labels.clone(), input[i].drop_name);
                            out.push(o, ts, v)?;
                        }
                    }
                    continue;
                }
                if p.is_nan() {
                    return Err(err("Parameter value is NaN"));
                }
                if p.abs() >= 9.223372036854776e18 {
                    return Err(err(format!(
                        "Scalar value {} overflows int64",
                        narthex_model::float::format_go_g(p)
                    )));
                }
                let k = p as i64;
                if k < 1 {
                    continue;
                }
                let k = k as usize;
                for (i, v) in samples {
                    per_group[gid[i]].push((i, v));
                }
                let mut order: Vec<usize> = Vec::new();
                for g in per_group.iter_mut() {
                    if g.is_empty() {
                        continue;
                    }
                    let mut items = std::mem::take(g);
                    match a.op {
                        AggregateOp::Topk | AggregateOp::Bottomk => {
                            let before = items.len();
                            items.retain(|(_, v)| matches!(v, PV::F(_)));
                            if items.len() != before {
                                ev.info(
                                    format!("ignored histogram in {} aggregation", a.op),
                                    a.span,
                                );
                            }
                            let val = |v: &PV| if let PV::F(f) = v { *f } else { 0.0 };
                            let top = a.op == AggregateOp::Topk;
                            // Ordered by value (NaN last), ties by input order: what a
                            // stable sort gives, so the k chosen among equal values are
                            // the same; only the first k need sorting.
                            let cmp = |x: &(usize, PV), y: &(usize, PV)| {
                                let (p, q) = (val(&x.1), val(&y.1));
                                match (p.is_nan(), q.is_nan()) {
                                    (true, true) => Ordering::Equal,
                                    (true, false) => Ordering::Greater,
                                    (false, true) => Ordering::Less,
                                    _ => {
                                        if top {
                                            q.partial_cmp(&p).unwrap_or(Ordering::Equal)
                                        } else {
                                            p.partial_cmp(&q).unwrap_or(Ordering::Equal)
                                        }
                                    }
                                }
                                .then(x.0.cmp(&y.0))
                            };
                            if k < items.len() {
                                items.select_nth_unstable_by(k - 1, cmp);
                                items.truncate(k);
                            }
                            items.sort_unstable_by(cmp);
                        }
                        _ => {}
                    }
                    items.truncate(k);
                    for (i, v) in items {
                        order.push(i);
                        let o = out.get(input[i].labels.clone(), input[i].drop_name);
                        out.push(o, ts, v)?;
                    }
                }
                let _ = order;
            }
        }
        AggregateOp::Quantile => {
            let params = param_sc.unwrap_or_default();
            for (si, samples) in tab.into_iter().enumerate() {
                let ts = s.ts(si);
                let q = params.get(si).copied().unwrap_or(f64::NAN);
                if !(0.0..=1.0).contains(&q) {
                    ev.warn(
                        format!(
                            "quantile value should be between 0 and 1, got {}",
                            narthex_model::float::format_go_g(q)
                        ),
                        param_span,
                    );
                }
                let mut vals: Vec<Vec<f64>> = vec![Vec::new(); ng];
                let mut order = Vec::new();
                for (i, v) in samples {
                    if matches!(v, PV::H(_)) {
                        ev.info("ignored histogram in quantile aggregation".into(), a.span);
                    }
                    if let PV::F(f) = v {
                        if vals[gid[i]].is_empty() {
                            order.push(gid[i]);
                        }
                        vals[gid[i]].push(f);
                    }
                }
                for g in order {
                    let r = quantile(q, &mut vals[g]);
                    let o = out.get(glabels[g].clone(), gdrop[g]);
                    out.push(o, ts, PV::F(r))?;
                }
            }
        }
        AggregateOp::CountValues => {
            let label = param_str.unwrap_or_default();
            if !narthex_model::is_legacy_label_name(&label)
                && (label.is_empty() || label.contains('\u{fffd}'))
            {
                let quoted = match &a.param {
                    Some(Expr::String(sl)) => go_quote_bytes(sl.bytes()),
                    _ => narthex_model::go_quote(&label),
                };
                return Err(err(format!("invalid label name {quoted}")));
            }
            let mut cache: HashMap<(usize, String), usize> = HashMap::new();
            for (si, samples) in tab.into_iter().enumerate() {
                let ts = s.ts(si);
                let mut counts: Vec<(usize, f64)> = Vec::new();
                let mut pos: HashMap<usize, usize> = HashMap::new();
                for (i, v) in samples {
                    let text = match &v {
                        PV::F(f) => format_f(*f),
                        PV::H(h) => crate::functions::hist_string(h),
                    };
                    let key = (gid[i], text);
                    let o = match cache.get(&key) {
                        Some(&o) => o,
                        None => {
                            let mut lb = glabels[gid[i]].builder();
                            lb.set(&label, &key.1);
                            let o = out.get(lb.build(), false);
                            cache.insert(key, o);
                            o
                        }
                    };
                    match pos.get(&o) {
                        Some(&k) => counts[k].1 += 1.0,
                        None => {
                            pos.insert(o, counts.len());
                            counts.push((o, 1.0));
                        }
                    }
                }
                for (o, c) in counts {
                    out.push(o, ts, PV::F(c))?;
                }
            }
        }
        op => {
            let mut accs: Vec<Acc> = (0..ng).map(|_| Acc::default()).collect();
            let mut ignored_h = false;
            for (si, samples) in tab.into_iter().enumerate() {
                let ts = s.ts(si);
                let mut order = Vec::new();
                for (i, v) in samples {
                    let g = gid[i];
                    if matches!(v, PV::H(_))
                        && matches!(
                            op,
                            AggregateOp::Min
                                | AggregateOp::Max
                                | AggregateOp::Stddev
                                | AggregateOp::Stdvar
                        )
                    {
                        ignored_h = true;
                        continue;
                    }
                    let acc = &mut accs[g];
                    if !acc.seen {
                        *acc = Acc {
                            seen: true,
                            ..Acc::default()
                        };
                        order.push(g);
                    }
                    add_sample(op, acc, v);
                }
                for g in order {
                    let acc = std::mem::take(&mut accs[g]);
                    let name = gname[g].unwrap_or("");
                    emit_group(ev, a, &acc, name, &glabels[g], gdrop[g], &mut out, ts)?;
                }
            }
            if ignored_h {
                ev.info(format!("ignored histogram in {} aggregation", a.op), a.span);
            }
        }
    }
    Ok(Val::Vector(out.finish()))
}

/// Whether an aggregation folds its input one sample at a time (no parameter, no need to
/// see a whole step's input at once).
fn folds(op: AggregateOp) -> bool {
    matches!(
        op,
        AggregateOp::Sum
            | AggregateOp::Avg
            | AggregateOp::Min
            | AggregateOp::Max
            | AggregateOp::Count
            | AggregateOp::Group
            | AggregateOp::Stddev
            | AggregateOp::Stdvar
    )
}

/// What a streamed aggregation reads, series by series.
#[derive(Clone, Copy)]
enum Source<'e> {
    /// A range function of a matrix selector, e.g. `rate(m[5m])`.
    Range(&'e Call, &'e MatrixSelector),
    /// An instant vector selector, e.g. `m`.
    Instant(&'e VectorSelector),
}

/// The shapes evaluated series by series: a folding aggregation of a plain instant vector
/// selector, or of a range function of a plain matrix selector (no range modifiers),
/// naming its metric: e.g. `sum by (job) (up)` or `sum(rate(http_requests_total[5m]))`.
/// The metric name keeps the selected series distinct once a function drops it.
fn streamable(a: &AggregateExpr) -> Option<Source<'_>> {
    if a.param.is_some() || !folds(a.op) {
        return None;
    }
    let named = |vs: &VectorSelector| {
        vs.modifier.is_none()
            && vs
                .matchers
                .iter()
                .any(|m| m.name() == METRIC_NAME && m.op() == MatchOp::Equal)
    };
    match unparen(&a.expr) {
        Expr::VectorSelector(vs) if named(vs) => Some(Source::Instant(vs)),
        Expr::Call(c) if is_range_call(&c.func.name) => {
            let arg = c
                .args
                .iter()
                .find(|e| e.value_type() == narthex_promql_syntax::ValueType::Matrix)?;
            match unparen(arg) {
                Expr::MatrixSelector(ms) if named(&ms.selector) => Some(Source::Range(c, ms)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Evaluates a [`streamable`] aggregation reading one input series at a time: each is
/// selected, put through the function and folded into its group's accumulators before
/// the next is read, so memory holds the accumulators (one per group and step: the size
/// of the output) and one series, not the whole range of every input series. The result,
/// annotations and output order are those of the materialising path. `None` when two
/// series' labels meet once their names are dropped (that path then merges them).
fn stream_aggregate(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    s: Steps,
    src: Source<'_>,
) -> Result<Option<Val>, QueryError> {
    /// What turns a series read from storage into the aggregation's input series.
    enum Per<'c> {
        Range(RangeCall<'c>, Mat),
        Instant(VsWindow),
    }
    let op = a.op;
    let (mut per, matchers, mint, maxt, hints) = match src {
        Source::Range(c, ms) => {
            let rc = RangeCall::prepare(ev, c, s)?;
            let (mat, mint, maxt, hints) = ev.ms_window(ms, s)?;
            (
                Per::Range(rc, mat),
                &ms.selector.matchers,
                mint,
                maxt,
                hints,
            )
        }
        Source::Instant(vs) => {
            let (win, mint, maxt, hints) = ev.vs_window(vs, s, Pick::Value)?;
            (Per::Instant(win), &vs.matchers, mint, maxt, hints)
        }
    };
    let n = s.len();
    let eager = !ev.opts.delayed_name_removal;
    let mut settled: std::collections::HashSet<Labels> = std::collections::HashSet::new();
    let mut collided = false;
    let mut gindex: HashMap<Labels, usize> = HashMap::new();
    let mut glabels: Vec<Labels> = Vec::new();
    let mut gdrop: Vec<bool> = Vec::new();
    let mut gname: Vec<String> = Vec::new();
    let mut accs: Vec<Vec<Acc>> = Vec::new();
    let mut ignored_h = false;
    let (mut idx, mut points) = (0usize, 0usize);
    ev.select_each(matchers, mint, maxt, hints, &mut |ev, mut raw| {
        if collided {
            return Ok(());
        }
        let read = raw.len();
        let mut ser: Ser = match &mut per {
            Per::Range(rc, mat) => {
                raw.drop_stale();
                match rc.series(ev, mat, &raw, s) {
                    Some(ser) => ser,
                    None => return Ok(()),
                }
            }
            Per::Instant(win) => {
                let ser = vs_series(win, raw, s);
                if ser.is_empty() {
                    return Ok(());
                }
                ser
            }
        };
        ev.check_limits(read + points)?;
        if eager && ser.drop_name {
            ser.labels = ser.labels.drop_name_labels();
            ser.drop_name = false;
            if !settled.insert(ser.labels.clone()) {
                collided = true;
                return Ok(());
            }
        }
        let gl = group_labels(&ser.labels, &a.grouping, a.without);
        let g = *gindex.entry(gl.clone()).or_insert_with(|| {
            glabels.push(gl);
            gdrop.push(false);
            gname.push(ser.labels.metric_name().unwrap_or("").to_string());
            accs.push((0..n).map(|_| Acc::default()).collect());
            glabels.len() - 1
        });
        gdrop[g] |= ser.drop_name;
        let values = ser
            .f
            .into_iter()
            .map(|p| (p.t, PV::F(p.f)))
            .chain(ser.h.into_iter().map(|p| (p.t, PV::H(Box::new(p.h)))));
        for (t, v) in values {
            if matches!(v, PV::H(_))
                && matches!(
                    op,
                    AggregateOp::Min | AggregateOp::Max | AggregateOp::Stddev | AggregateOp::Stdvar
                )
            {
                ignored_h = true;
                continue;
            }
            let acc = &mut accs[g][s.idx(t)];
            if !acc.seen {
                *acc = Acc {
                    seen: true,
                    first: idx,
                    ..Acc::default()
                };
                points += 1;
            }
            add_sample(op, acc, v);
        }
        idx += 1;
        Ok(())
    })?;
    if collided {
        return Ok(None);
    }
    if let Per::Range(rc, _) = per {
        rc.check_args(ev)?;
        rc.finish(ev);
    }
    let mut out = Out::new();
    for (si, ts) in s.iter().enumerate() {
        let mut order: Vec<usize> = (0..glabels.len()).filter(|&g| accs[g][si].seen).collect();
        order.sort_unstable_by_key(|&g| accs[g][si].first);
        for g in order {
            let acc = std::mem::take(&mut accs[g][si]);
            emit_group(ev, a, &acc, &gname[g], &glabels[g], gdrop[g], &mut out, ts)?;
        }
    }
    if ignored_h {
        ev.info(format!("ignored histogram in {} aggregation", a.op), a.span);
    }
    Ok(Some(Val::Vector(out.finish())))
}

/// Emits one group's aggregate at one step, with the warnings its accumulator gathered.
#[allow(clippy::too_many_arguments)]
fn emit_group(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    acc: &Acc,
    metric_name: &str,
    labels: &Labels,
    drop_name: bool,
    out: &mut Out,
    ts: i64,
) -> Result<(), QueryError> {
    if acc.has_f && acc.has_h && matches!(a.op, AggregateOp::Sum | AggregateOp::Avg) {
        ev.warn(
            "encountered a mix of histograms and floats for aggregation".into(),
            a.span,
        );
        return Ok(());
    }
    if acc.bad_h {
        ev.warn(
                format!(
                    "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
                    narthex_model::go_quote(metric_name)
                ),
                a.expr.span(),
            );
    }
    if acc.h.as_ref().is_some_and(|h| h.collision) {
        ev.warn(
            "conflicting counter resets during histogram aggregation".into(),
            a.expr.span(),
        );
    }
    if acc.h.as_ref().is_some_and(|h| h.reconciled) {
        ev.info(
            "mismatched custom buckets were reconciled during aggregation".into(),
            a.expr.span(),
        );
    }
    let v = match finish(a.op, acc) {
        Some(v) => v,
        None => return Ok(()),
    };
    let o = out.get(labels.clone(), drop_name);
    out.push(o, ts, v)
}

fn add_sample(op: AggregateOp, acc: &mut Acc, v: PV) {
    let first = !acc.has_f && !acc.has_h;
    match v {
        PV::H(h) => {
            acc.has_h = true;
            match op {
                AggregateOp::Sum | AggregateOp::Avg => {
                    acc.count += 1.0;
                    if acc.h.get_or_insert_with(Default::default).add(&h).is_err() {
                        acc.bad_h = true;
                    }
                }
                AggregateOp::Count | AggregateOp::Group => acc.count += 1.0,
                _ => {}
            }
        }
        PV::F(f) => {
            acc.has_f = true;
            match op {
                AggregateOp::Sum => {
                    let (s, c) = kahan_inc(f, acc.f, acc.c);
                    acc.f = s;
                    acc.c = c;
                }
                AggregateOp::Avg => {
                    acc.count += 1.0;
                    if first {
                        acc.f = f;
                        acc.c = 0.0;
                        return;
                    }
                    if !acc.incremental {
                        let (ns, nc) = kahan_inc(f, acc.f, acc.c);
                        if !ns.is_infinite() {
                            acc.f = ns;
                            acc.c = nc;
                            return;
                        }
                        acc.incremental = true;
                        acc.mean = acc.f / (acc.count - 1.0);
                        acc.c /= acc.count - 1.0;
                    }
                    if acc.mean.is_infinite() {
                        if f.is_infinite() && (acc.mean > 0.0) == (f > 0.0) {
                            return;
                        }
                        if !f.is_infinite() && !f.is_nan() {
                            return;
                        }
                    }
                    let cur = acc.mean + acc.c;
                    let (m, c) = kahan_inc(f / acc.count - cur / acc.count, acc.mean, acc.c);
                    acc.mean = m;
                    acc.c = c;
                }
                AggregateOp::Count | AggregateOp::Group => acc.count += 1.0,
                AggregateOp::Min if first || acc.f > f || acc.f.is_nan() => acc.f = f,
                AggregateOp::Max if first || acc.f < f || acc.f.is_nan() => acc.f = f,
                AggregateOp::Stddev | AggregateOp::Stdvar => {
                    if first {
                        acc.count = 1.0;
                        acc.mean = f;
                        acc.f = 0.0;
                        if f.is_nan() || f.is_infinite() {
                            acc.f = f64::NAN;
                        }
                        return;
                    }
                    acc.count += 1.0;
                    if f.is_nan() || f.is_infinite() {
                        acc.f = f64::NAN;
                        return;
                    }
                    let delta = f - acc.mean;
                    acc.mean += delta / acc.count;
                    acc.f += delta * (f - acc.mean);
                }
                _ => {}
            }
        }
    }
}

fn finish(op: AggregateOp, acc: &Acc) -> Option<PV> {
    Some(match op {
        AggregateOp::Sum => {
            if acc.has_h {
                if acc.bad_h {
                    return None;
                }
                PV::H(Box::new(acc.h.as_ref()?.result(1.0)?))
            } else {
                PV::F(acc.f + acc.c)
            }
        }
        AggregateOp::Avg => {
            if acc.has_h {
                if acc.bad_h {
                    return None;
                }
                PV::H(Box::new(acc.h.as_ref()?.result(1.0 / acc.count)?))
            } else if acc.incremental {
                PV::F(acc.mean + acc.c)
            } else {
                PV::F((acc.f + acc.c) / acc.count)
            }
        }
        AggregateOp::Count => PV::F(acc.count),
        AggregateOp::Group => PV::F(1.0),
        AggregateOp::Min | AggregateOp::Max => {
            if !acc.has_f {
                return None;
            }
            PV::F(acc.f)
        }
        AggregateOp::Stdvar => {
            if !acc.has_f {
                return None;
            }
            PV::F(acc.f / acc.count)
        }
        AggregateOp::Stddev => {
            if !acc.has_f {
                return None;
            }
            PV::F((acc.f / acc.count).sqrt())
        }
        _ => return None,
    })
}
