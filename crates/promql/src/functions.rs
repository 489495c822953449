//! PromQL functions.

use std::cmp::Ordering;
use std::collections::HashMap;

use narthex_model::float::format_go_g;
use narthex_model::{FloatHistogram, Labels, METRIC_NAME, MatchOp, go_quote};
use narthex_promql_syntax::{Call, Expr, ValueType};

use crate::QueryError;
use crate::agg::{kahan_inc, nan_first, quantile};
use crate::eval::{DropName, Evaluator, Mat, Out, PV, Pick, Ser, Steps, Val, by_step, err, window};
use crate::hist;
use crate::value::{FPoint, HPoint};

/// The expression inside any parentheses.
pub(crate) fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        e => e,
    }
}

/// Go's `math.Max` / `math.Min` (NaN wins).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Applies `f` to every float point, dropping histograms; the metric name is dropped.
fn map_floats(
    ev: &Evaluator<'_>,
    v: Vec<Ser>,
    mut f: impl FnMut(f64, usize) -> Option<f64>,
    s: Steps,
) -> Result<Val, QueryError> {
    let mut out = Vec::with_capacity(v.len());
    for ser in v {
        let mut o = Ser::new(ser.labels, true);
        for p in ser.f {
            if let Some(x) = f(p.f, s.idx(p.t)) {
                o.f.push(FPoint { t: p.t, f: x });
            }
        }
        if !o.is_empty() {
            out.push(o);
        }
    }
    Ok(Val::Vector(ev.settle(out)?))
}

fn math_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// Days since the epoch to (year, month, day).
fn civil(days: i64) -> (i64, u32, u32) {
    narthex_model::time::civil_from_days(days)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn date_part(name: &str, secs: f64) -> f64 {
    let t = secs as i64;
    let days = t.div_euclid(86_400);
    let sod = t.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    match name {
        "day_of_month" => d as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => (CUM[m as usize - 1] + d + u32::from(m > 2 && is_leap(y))) as f64,
        "days_in_month" => match m {
            2 => {
                if is_leap(y) {
                    29.0
                } else {
                    28.0
                }
            }
            4 | 6 | 9 | 11 => 30.0,
            _ => 31.0,
        },
        "hour" => (sod / 3600) as f64,
        "minute" => ((sod % 3600) / 60) as f64,
        "month" => m as f64,
        "year" => y as f64,
        _ => f64::NAN,
    }
}

/// Prometheus's text form of a float histogram (`{count:.., sum:.., [a,b):c, ...}`).
pub(crate) fn hist_string(h: &FloatHistogram) -> String {
    let mut s = format!(
        "{{count:{}, sum:{}",
        format_go_g(h.count),
        format_go_g(h.sum)
    );
    for (lo, hi, c) in hist::buckets(h) {
        if c == 0.0 && !(lo < 0.0 && hi > 0.0 && !h.uses_custom_buckets()) {
            continue;
        }
        if lo < 0.0 && hi > 0.0 && !h.uses_custom_buckets() {
            if c == 0.0 {
                continue;
            }
            s.push_str(&format!(
                ", [{},{}]:{}",
                format_go_g(lo),
                format_go_g(hi),
                format_go_g(c)
            ));
            continue;
        }
        let (open, close) = if hi <= 0.0 && !h.uses_custom_buckets() {
            ("[", ")")
        } else {
            ("(", "]")
        };
        s.push_str(&format!(
            ", {open}{},{}{close}:{}",
            format_go_g(lo),
            format_go_g(hi),
            format_go_g(c)
        ));
    }
    s.push('}');
    s
}

/// Natural-order comparison (digit runs compared as numbers).
fn natcmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let i = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let j = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (nx, ny) = (&x[..i], &y[..j]);
                let tx = std::str::from_utf8(nx)
                    .unwrap_or("")
                    .trim_start_matches('0');
                let ty = std::str::from_utf8(ny)
                    .unwrap_or("")
                    .trim_start_matches('0');
                let o = tx.len().cmp(&ty.len()).then(tx.cmp(ty));
                if o != Ordering::Equal {
                    return o;
                }
                x = &x[i..];
                y = &y[j..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

pub(crate) fn eval_call(ev: &mut Evaluator<'_>, c: &Call, s: Steps) -> Result<Val, QueryError> {
    let name: &str = &c.func.name;
    let n = s.len();
    match name {
        "min_of" | "max_of" => {
            let a = ev.eval_scalar(&c.args[0], s)?;
            let b = ev.eval_scalar(&c.args[1], s)?;
            let f = if name == "min_of" { go_min } else { go_max };
            return Ok(Val::Scalar(
                a.into_iter().zip(b).map(|(x, y)| f(x, y)).collect(),
            ));
        }
        "time" => return Ok(Val::Scalar(s.iter().map(|t| t as f64 / 1000.0).collect())),
        "pi" => return Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
        "vector" => {
            let v = ev.eval_scalar(&c.args[0], s)?;
            let mut ser = Ser::new(Labels::empty(), false);
            for (i, x) in v.into_iter().enumerate() {
                ser.f.push(FPoint { t: s.ts(i), f: x });
            }
            return Ok(Val::Vector(vec![ser]));
        }
        "scalar" => {
            let v = ev.eval_vector(&c.args[0], s)?;
            let tab = by_step(&v, s);
            return Ok(Val::Scalar(
                tab.into_iter()
                    .map(|x| {
                        let mut fl = x
                            .iter()
                            .filter_map(|(_, v)| if let PV::F(f) = v { Some(*f) } else { None });
                        match (fl.next(), fl.next()) {
                            (Some(f), None) => f,
                            _ => f64::NAN,
                        }
                    })
                    .collect(),
            ));
        }
        "start_timestamp" => {
            // Only samples read from storage have start timestamps: of any other
            // expression there is nothing to return.
            let v = match unparen(&c.args[0]) {
                Expr::VectorSelector(vs) => ev.eval_vs(vs, s, Pick::StartTimestamp)?,
                e => {
                    ev.eval_vector(e, s)?;
                    Vec::new()
                }
            };
            let out = v.into_iter().map(|mut s| {
                s.drop_name = true;
                s
            });
            return Ok(Val::Vector(ev.settle(out.collect())?));
        }
        "timestamp" => {
            let v = match unparen(&c.args[0]) {
                Expr::VectorSelector(vs) => ev.eval_vs(vs, s, Pick::Timestamp)?,
                e => {
                    let v = ev.eval_vector(e, s)?;
                    v.into_iter()
                        .map(|ser| {
                            let mut o = Ser::new(ser.labels, ser.drop_name);
                            o.f = ser
                                .f
                                .iter()
                                .map(|p| p.t)
                                .chain(ser.h.iter().map(|p| p.t))
                                .map(|t| FPoint {
                                    t,
                                    f: t as f64 / 1000.0,
                                })
                                .collect();
                            o.sort_points();
                            o
                        })
                        .collect()
                }
            };
            let out = v.into_iter().map(|mut s| {
                s.drop_name = true;
                s
            });
            return Ok(Val::Vector(ev.settle(out.collect())?));
        }
        "absent" | "absent_over_time" => {
            let present: Vec<bool> = if name == "absent" {
                let v = ev.eval_vector(&c.args[0], s)?;
                let mut p = vec![false; n];
                for ser in &v {
                    for t in ser.f.iter().map(|x| x.t).chain(ser.h.iter().map(|x| x.t)) {
                        p[s.idx(t)] = true;
                    }
                }
                p
            } else {
                let m = ev.eval_matrix(&c.args[0], s)?;
                s.iter()
                    .map(|ts| {
                        let r = m.ref_time(ts);
                        m.series.iter().any(|ser| {
                            let (f, h) = window(ser, r - m.range, r);
                            !f.is_empty() || !h.is_empty()
                        })
                    })
                    .collect()
            };
            let matchers = match unparen(&c.args[0]) {
                Expr::VectorSelector(vs) => Some(&vs.matchers),
                Expr::MatrixSelector(ms) => Some(&ms.selector.matchers),
                _ => None,
            };
            let mut lb = Labels::empty().builder();
            let mut has: Vec<&str> = Vec::new();
            for m in matchers.into_iter().flatten() {
                if m.name() == METRIC_NAME {
                    continue;
                }
                if m.op() == MatchOp::Equal && !has.contains(&m.name()) {
                    lb.set(m.name(), m.value());
                } else {
                    lb.del(m.name());
                }
                has.push(m.name());
            }
            let mut ser = Ser::new(lb.build(), false);
            for (i, p) in present.into_iter().enumerate() {
                if !p {
                    ser.f.push(FPoint { t: s.ts(i), f: 1.0 });
                }
            }
            return Ok(Val::Vector(if ser.is_empty() { vec![] } else { vec![ser] }));
        }
        "label_replace" => {
            let v = ev.eval_vector(&c.args[0], s)?;
            let dst = str_arg(ev, &c.args[1], s)?;
            let repl = str_arg(ev, &c.args[2], s)?;
            let src = str_arg(ev, &c.args[3], s)?;
            let re_s = str_arg(ev, &c.args[4], s)?;
            let re = cached_regex(&format!("^(?s:{re_s})$")).map_err(|e| {
                err(format!(
                    "invalid regular expression in label_replace(): {e}"
                ))
            })?;
            if dst.is_empty() || dst.contains('\u{fffd}') {
                return Err(err(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            let mut out = Vec::with_capacity(v.len());
            for mut ser in v {
                let sv = ser.labels.get(&src).unwrap_or("").to_string();
                if let Some(caps) = re.captures(&sv) {
                    let mut res = String::new();
                    caps.expand(&repl, &mut res);
                    let mut lb = ser.labels.builder();
                    lb.set(&dst, &res);
                    if res.is_empty() {
                        lb.del(&dst);
                    }
                    ser.labels = lb.build();
                    if dst == METRIC_NAME {
                        ser.drop_name = false;
                    }
                }
                out.push(ser);
            }
            return Ok(Val::Vector(crate::eval::merge_series(out)?));
        }
        "label_join" => {
            let v = ev.eval_vector(&c.args[0], s)?;
            let dst = str_arg(ev, &c.args[1], s)?;
            let sep = str_arg(ev, &c.args[2], s)?;
            let mut srcs = Vec::new();
            for a in &c.args[3..] {
                srcs.push(str_arg(ev, a, s)?);
            }
            if dst.is_empty() {
                return Err(err(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            let mut out = Vec::with_capacity(v.len());
            for mut ser in v {
                let val: Vec<&str> = srcs
                    .iter()
                    .map(|x| ser.labels.get(x).unwrap_or(""))
                    .collect();
                let val = val.join(&sep);
                let mut lb = ser.labels.builder();
                if val.is_empty() {
                    lb.del(&dst);
                } else {
                    lb.set(&dst, &val);
                }
                ser.labels = lb.build();
                if dst == METRIC_NAME {
                    ser.drop_name = false;
                }
                out.push(ser);
            }
            return Ok(Val::Vector(crate::eval::merge_series(out)?));
        }
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
            if ev.qstep > 0 {
                ev.warn("sort is ineffective for range queries since results are always ordered by labels".into(), c.span);
            }
            let mut v = ev.eval_vector(&c.args[0], s)?;
            let mut names = Vec::new();
            for a in &c.args[1..] {
                names.push(str_arg(ev, a, s)?);
            }
            if matches!(name, "sort" | "sort_desc") {
                v.retain(|x| !x.f.is_empty());
                for x in &mut v {
                    x.h.clear();
                }
            }
            if n == 1 {
                let val = |x: &Ser| x.f.first().map(|p| p.f).unwrap_or(f64::NAN);
                match name {
                    "sort" => v.sort_by(|a, b| {
                        let (x, y) = (val(a), val(b));
                        match (x.is_nan(), y.is_nan()) {
                            (true, true) => Ordering::Equal,
                            (true, false) => Ordering::Greater,
                            (false, true) => Ordering::Less,
                            _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                        }
                    }),
                    "sort_desc" => v.sort_by(|a, b| {
                        let (x, y) = (val(a), val(b));
                        match (x.is_nan(), y.is_nan()) {
                            (true, true) => Ordering::Equal,
                            (true, false) => Ordering::Greater,
                            (false, true) => Ordering::Less,
                            _ => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
                        }
                    }),
                    _ => {
                        let desc = name == "sort_by_label_desc";
                        v.sort_by(|a, b| {
                            for l in &names {
                                let (x, y) =
                                    (a.labels.get(l).unwrap_or(""), b.labels.get(l).unwrap_or(""));
                                if x == y {
                                    continue;
                                }
                                let o = natcmp(x, y);
                                return if desc { o.reverse() } else { o };
                            }
                            let o = a.labels.cmp(&b.labels);
                            if desc { o.reverse() } else { o }
                        });
                    }
                }
            }
            return Ok(Val::Vector(v));
        }
        "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => {
            let saved = std::mem::replace(&mut ev.stats_decoding, false);
            let r = histogram_quantile(ev, c, s);
            ev.stats_decoding = saved;
            return r;
        }
        "info" => return crate::info::eval_info(ev, c, s),
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => {
            let saved = ev.stats_decoding;
            ev.stats_decoding =
                matches!(name, "histogram_count" | "histogram_sum" | "histogram_avg");
            let v = ev.eval_vector(&c.args[0], s);
            ev.stats_decoding = saved;
            let v = v?;
            let mut out = Vec::with_capacity(v.len());
            for ser in v {
                let mut o = Ser::new(ser.labels, true);
                for p in &ser.h {
                    let h = &p.h;
                    let x = match name {
                        "histogram_count" => h.count,
                        "histogram_sum" => h.sum,
                        "histogram_avg" => h.sum / h.count,
                        _ => {
                            let var = hist_variance(h);
                            if name == "histogram_stddev" {
                                var.sqrt()
                            } else {
                                var
                            }
                        }
                    };
                    o.f.push(FPoint { t: p.t, f: x });
                }
                if !o.is_empty() {
                    out.push(o);
                }
            }
            return Ok(Val::Vector(ev.settle(out)?));
        }
        "clamp" | "clamp_min" | "clamp_max" | "round" => {
            let v = ev.eval_vector(&c.args[0], s)?;
            let a1 = match c.args.get(1) {
                Some(a) => ev.eval_scalar(a, s)?,
                None => vec![1.0; n],
            };
            let a2 = match c.args.get(2) {
                Some(a) => ev.eval_scalar(a, s)?,
                None => vec![0.0; n],
            };
            return map_floats(
                ev,
                v,
                |x, i| match name {
                    "clamp" => {
                        if a2[i] < a1[i] {
                            None
                        } else {
                            Some(go_max(a1[i], go_min(a2[i], x)))
                        }
                    }
                    "clamp_min" => Some(go_max(a1[i], x)),
                    "clamp_max" => Some(go_min(a1[i], x)),
                    _ => {
                        let inv = 1.0 / a1[i];
                        Some((x * inv + 0.5).floor() / inv)
                    }
                },
                s,
            );
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let v = match c.args.first() {
                Some(a) => ev.eval_vector(a, s)?,
                None => {
                    let mut ser = Ser::new(Labels::empty(), false);
                    for t in s.iter() {
                        ser.f.push(FPoint {
                            t,
                            f: t as f64 / 1000.0,
                        });
                    }
                    vec![ser]
                }
            };
            return map_floats(
                ev,
                v,
                |x, _| {
                    Some(if x.is_nan() || x.is_infinite() {
                        x
                    } else {
                        date_part(name, x)
                    })
                },
                s,
            );
        }
        _ => {}
    }
    if let Some(f) = math_fn(name) {
        let v = ev.eval_vector(&c.args[0], s)?;
        return map_floats(ev, v, |x, _| Some(f(x)), s);
    }
    if c.args.iter().any(|a| a.value_type() == ValueType::Matrix) {
        return matrix_call(ev, c, s);
    }
    Err(err(format!("function {name:?} is not implemented")))
}

fn str_arg(ev: &mut Evaluator<'_>, e: &Expr, s: Steps) -> Result<String, QueryError> {
    match ev.eval(e, s)? {
        Val::Str(x) => Ok(x),
        _ => Err(err("expected string")),
    }
}

fn hist_variance(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let (mut var, mut c) = (0.0, 0.0);
    for (lo, hi, cnt) in hist::buckets(h) {
        if cnt == 0.0 {
            continue;
        }
        let val = if h.uses_custom_buckets() {
            (hi + lo) / 2.0
        } else if lo <= 0.0 && hi >= 0.0 {
            0.0
        } else {
            let v = (hi * lo).sqrt();
            if hi < 0.0 { -v } else { v }
        };
        let d = val - mean;
        (var, c) = kahan_inc(cnt * d * d, var, c);
    }
    (var + c) / h.count
}

fn hist_fraction(lower: f64, upper: f64, h: &FloatHistogram) -> f64 {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let mut rank = 0.0;
    for (lo, hi, c) in hist::buckets(h) {
        let (mut lo, mut hi) = (lo, hi);
        if h.uses_custom_buckets() {
            if lo == f64::NEG_INFINITY && hi > 0.0 {
                lo = 0.0;
            }
        } else if lo < 0.0 && hi > 0.0 {
            if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
                lo = 0.0;
            } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
                hi = 0.0;
            }
        }
        let interp = |v: f64| -> f64 {
            if lo == f64::NEG_INFINITY {
                return if v == f64::NEG_INFINITY { 0.0 } else { 1.0 };
            }
            if hi == f64::INFINITY {
                return if v == f64::INFINITY { 1.0 } else { 0.0 };
            }
            if h.uses_custom_buckets()
                || (lo <= 0.0 && hi >= 0.0)
                || lo.is_infinite()
                || hi.is_infinite()
            {
                (v - lo) / (hi - lo)
            } else if lo > 0.0 {
                (v.log2() - lo.log2()) / (hi.log2() - lo.log2())
            } else {
                1.0 - ((-v).log2() - (-hi).log2()) / ((-lo).log2() - (-hi).log2())
            }
        };
        if upper <= lo {
            break;
        }
        if lower >= hi {
            continue;
        }
        let a = if lower > lo { interp(lower) } else { 0.0 };
        let b = if upper < hi { interp(upper) } else { 1.0 };
        rank += c * (b - a);
    }
    rank / h.count
}

/// Prometheus's `HistogramQuantile` for native histograms.
fn native_quantile(q: f64, h: &FloatHistogram) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let mut all = hist::buckets(h);
    let forward = h.sum.is_nan() || q < 0.5;
    let mut rank = if forward {
        q * h.count
    } else {
        (1.0 - q) * h.count
    };
    if !forward {
        all.reverse();
    }
    let mut count = 0.0;
    let mut bucket = (0.0, 0.0, 0.0);
    for b in all {
        if b.2 == 0.0 {
            continue;
        }
        bucket = b;
        count += b.2;
        if count >= rank {
            break;
        }
    }
    let (mut lo, mut hi, bc) = bucket;
    if !h.uses_custom_buckets() && lo < 0.0 && hi > 0.0 {
        if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
            lo = 0.0;
        } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
            hi = 0.0;
        }
    } else if h.uses_custom_buckets() {
        if lo == f64::NEG_INFINITY {
            if hi <= 0.0 {
                return hi;
            }
            lo = 0.0;
        } else if hi == f64::INFINITY {
            return lo;
        }
    }
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        return if h.sum.is_nan() { f64::NAN } else { hi };
    }
    if forward {
        rank -= count - bc;
    } else {
        rank = count - rank;
    }
    let fraction = rank / bc;
    if h.uses_custom_buckets() || (lo <= 0.0 && hi >= 0.0) {
        return lo + (hi - lo) * fraction;
    }
    let (ll, lu) = (lo.abs().log2(), hi.abs().log2());
    if lo > 0.0 {
        (ll + (lu - ll) * fraction).exp2()
    } else {
        -(lu + (ll - lu) * (1.0 - fraction)).exp2()
    }
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// Prometheus's `BucketQuantile`: the value, and whether monotonicity had to be forced.
fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return (f64::NAN, false);
    }
    // Coalesce equal bounds.
    let mut co: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match co.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => co.push((ub, c)),
        }
    }
    let mut forced = false;
    let mut prev = co[0].1;
    for b in co.iter_mut().skip(1) {
        let cur = b.1;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) {
            b.1 = prev;
            continue;
        }
        if cur < prev {
            b.1 = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    if co.len() < 2 {
        return (f64::NAN, forced);
    }
    let obs = co[co.len() - 1].1;
    if obs == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * obs;
    let b = co[..co.len() - 1].partition_point(|x| x.1 < rank);
    if b == co.len() - 1 {
        return (co[co.len() - 2].0, forced);
    }
    if b == 0 && co[0].0 <= 0.0 {
        return (co[0].0, forced);
    }
    let mut start = 0.0;
    let end = co[b].0;
    let mut count = co[b].1;
    if b > 0 {
        start = co[b - 1].0;
        count -= co[b - 1].1;
        rank -= co[b - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Prometheus's `BucketFraction` over classic buckets `(upper bound, cumulative count)`.
fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> f64 {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    let mut co: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match co.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => co.push((ub, c)),
        }
    }
    let count = co[co.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, &(ub, cnt)) in co.iter().enumerate() {
        let mut lb = if i > 0 {
            co[i - 1].0
        } else {
            f64::NEG_INFINITY
        };
        if i == 0 && ub > 0.0 {
            lb = 0.0;
        }
        let interp = |v: f64| {
            if lb == f64::NEG_INFINITY {
                cnt
            } else if ub == f64::INFINITY {
                rank
            } else {
                rank + (cnt - rank) * (v - lb) / (ub - lb)
            }
        };
        if !lower_set && lb >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lb >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lb < lower && ub > lower {
            lower_rank = interp(lower);
            lower_set = true;
        }
        if !upper_set && lb < upper && ub > upper {
            upper_rank = interp(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = cnt;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

#[derive(Clone, Copy, PartialEq)]
enum BucketFn {
    Quantile,
    Quantiles,
    Fraction,
}

fn histogram_quantile(ev: &mut Evaluator<'_>, c: &Call, s: Steps) -> Result<Val, QueryError> {
    let name: &str = &c.func.name;
    let kind = match name {
        "histogram_quantiles" => BucketFn::Quantiles,
        "histogram_fraction" => BucketFn::Fraction,
        _ => BucketFn::Quantile,
    };
    // Per step parameters: one list of quantiles, or the fraction bounds.
    let (vi, params, qlabel): (usize, Vec<Vec<f64>>, Option<String>) = match kind {
        BucketFn::Quantile => (1, vec![ev.eval_scalar(&c.args[0], s)?], None),
        BucketFn::Fraction => (
            2,
            vec![
                ev.eval_scalar(&c.args[0], s)?,
                ev.eval_scalar(&c.args[1], s)?,
            ],
            None,
        ),
        BucketFn::Quantiles => {
            let label = str_arg(ev, &c.args[1], s)?;
            let mut ps = Vec::new();
            for a in &c.args[2..] {
                ps.push(ev.eval_scalar(a, s)?);
            }
            (0, ps, Some(label))
        }
    };
    let v = ev.eval_vector(&c.args[vi], s)?;
    let vspan = c.args[vi].span();
    if kind != BucketFn::Fraction {
        let first_q = if kind == BucketFn::Quantile { 0 } else { 2 };
        'outer: for (k, p) in params.iter().enumerate() {
            for &q in p {
                if !(0.0..=1.0).contains(&q) {
                    ev.warn(
                        format!(
                            "quantile value should be between 0 and 1, got {}",
                            format_go_g(q)
                        ),
                        c.args[first_q + k].span(),
                    );
                    break 'outer;
                }
            }
        }
    }
    // Metric names with native histograms and with classic buckets: a mix is an error.
    let mut native_names: std::collections::HashSet<String> = Default::default();
    for ser in &v {
        if !ser.h.is_empty() {
            native_names.insert(ser.labels.metric_name().unwrap_or("").to_string());
        }
    }
    let mut mixed: Vec<String> = Vec::new();
    let mut out = Out::new();
    let mut groups: HashMap<Labels, usize> = HashMap::new();
    let mut glabels: Vec<(Labels, String)> = Vec::new();
    let mut members: Vec<Vec<(usize, f64)>> = Vec::new();
    for (i, ser) in v.iter().enumerate() {
        if ser.f.is_empty() {
            continue;
        }
        let mname = ser.labels.metric_name().unwrap_or("").to_string();
        let le = ser.labels.get("le");
        let ub = le.and_then(|x| narthex_model::float::parse_go_float(x.trim()).ok());
        let Some(ub) = ub else {
            ev.warn(
                format!(
                    "bucket label \"le\" is missing or has a malformed value of {} for metric name {}",
                    go_quote(le.unwrap_or("")),
                    go_quote(&mname)
                ),
                vspan,
            );
            continue;
        };
        let mut lb = ser.labels.builder();
        lb.del("le");
        let key = lb.build();
        let base = mname.clone();
        if native_names.contains(&base) {
            if !mixed.contains(&base) {
                mixed.push(base);
            }
            continue;
        }
        let g = *groups.entry(key.clone()).or_insert_with(|| {
            glabels.push((key, mname.clone()));
            members.push(Vec::new());
            glabels.len() - 1
        });
        members[g].push((i, ub));
    }
    for m in &mixed {
        ev.warn(
            format!(
                "vector contains a mix of classic and native histograms for metric name {}",
                go_quote(m)
            ),
            vspan,
        );
    }
    let keep_name = ev.opts.delayed_name_removal;
    let nout = if kind == BucketFn::Quantiles {
        params.len()
    } else {
        1
    };
    let with_q = |l: &Labels, k: usize, si: usize| -> Labels {
        match &qlabel {
            Some(ql) => {
                let mut b = l.builder();
                b.set(
                    ql,
                    narthex_model::float::format_openmetrics_float(params[k][si]),
                );
                b.build()
            }
            None => l.clone(),
        }
    };
    let tab = by_step(&v, s);
    let mut forced_names: Vec<String> = Vec::new();
    // Each group's output labels, made once; and, without a quantile label (whose value
    // may change by step), each group's output series.
    let bases: Vec<Labels> = glabels
        .iter()
        .map(|(l, _)| {
            if keep_name {
                l.clone()
            } else {
                l.drop_name_labels()
            }
        })
        .collect();
    let mut outs: Vec<Option<usize>> = vec![None; if qlabel.is_none() { members.len() } else { 0 }];
    // This step's float value of each input series (dense by series index).
    let mut vals: Vec<Option<f64>> = vec![None; v.len()];
    let mut bs: Vec<(f64, f64)> = Vec::new();
    for (si, samples) in tab.iter().enumerate() {
        let ts = s.ts(si);
        for (i, p) in samples {
            if let PV::F(f) = p {
                vals[*i] = Some(*f);
            }
        }
        for (g, mem) in members.iter().enumerate() {
            bs.clear();
            bs.extend(mem.iter().filter_map(|(i, ub)| vals[*i].map(|f| (*ub, f))));
            if bs.is_empty() {
                continue;
            }
            let base = &bases[g];
            for k in 0..nout {
                let r = match kind {
                    BucketFn::Fraction => bucket_fraction(params[0][si], params[1][si], &mut bs),
                    _ => {
                        let (r, forced) = bucket_quantile(params[k][si], &mut bs);
                        if forced && !forced_names.contains(&glabels[g].1) {
                            forced_names.push(glabels[g].1.clone());
                        }
                        r
                    }
                };
                let o = match outs.get_mut(g) {
                    Some(Some(o)) => *o,
                    Some(slot) => *slot.insert(out.get(base.clone(), true)),
                    None => out.get(with_q(base, k, si), true),
                };
                out.push(o, ts, PV::F(r))?;
            }
        }
        for (i, _) in samples {
            vals[*i] = None;
        }
        for (i, p) in samples {
            if let PV::H(h) = p {
                if mixed
                    .iter()
                    .any(|m| Some(m.as_str()) == v[*i].labels.metric_name())
                {
                    continue;
                }
                let base = if keep_name {
                    v[*i].labels.clone()
                } else {
                    v[*i].labels.drop_name_labels()
                };
                for k in 0..nout {
                    let r = match kind {
                        BucketFn::Fraction => hist_fraction(params[0][si], params[1][si], h),
                        _ => native_quantile(params[k][si], h),
                    };
                    if h.sum.is_nan()
                        && (kind == BucketFn::Fraction || (0.0..=1.0).contains(&params[k][si]))
                    {
                        let mn = v[*i].labels.metric_name().unwrap_or("").to_string();
                        let msg = match kind {
                            BucketFn::Fraction => format!(
                                "input to histogram_fraction has NaN observations, which are excluded from all fractions for metric name {}",
                                go_quote(&mn)
                            ),
                            _ if r.is_nan() => format!(
                                "input to histogram_quantile has NaN observations, result is NaN for metric name {}",
                                go_quote(&mn)
                            ),
                            _ => format!(
                                "input to histogram_quantile has NaN observations, result is skewed higher for metric name {}",
                                go_quote(&mn)
                            ),
                        };
                        ev.info(msg, vspan);
                    }
                    let o = out.get(with_q(&base, k, si), true);
                    out.push(o, ts, PV::F(r))?;
                }
            }
        }
    }
    for n in forced_names {
        ev.info(
            format!(
                "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {}",
                go_quote(&n)
            ),
            vspan,
        );
    }
    Ok(Val::Vector(ev.settle(out.finish())?))
}

// -------------------------------------------------------------------- range functions

/// Compiled `label_replace` regexes by pattern: dashboards repeat the same few, and
/// compiling one costs more than evaluating a small query. Bounded; cleared when full.
fn cached_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, regex::Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(re) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(pattern) {
        return Ok(re.clone());
    }
    let re = regex::Regex::new(pattern)?;
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= 256 {
        c.clear();
    }
    c.insert(pattern.to_string(), re.clone());
    Ok(re)
}

/// A call of a range-vector function (`rate`, `*_over_time`, ...) evaluated one series at
/// a time: the scalar arguments, what the result keeps of each series, and the warnings
/// gathered over all series.
pub(crate) struct RangeCall<'c> {
    c: &'c Call,
    /// Position of the range-vector argument.
    pub(crate) mi: usize,
    scalars: Vec<Vec<f64>>,
    keep_name: bool,
    arg_span: narthex_promql_syntax::Span,
    is_counter_fn: bool,
    from_selector: bool,
    /// Metric names seen by `rate`-like functions that do not look like counters.
    non_counter: Vec<String>,
}

/// Whether `name` is a range-vector function that [`RangeCall`] evaluates series by series.
pub(crate) fn is_range_call(name: &str) -> bool {
    matches!(
        name,
        "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "changes"
            | "resets"
            | "deriv"
            | "predict_linear"
            | "double_exponential_smoothing"
            | "avg_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "present_over_time"
            | "min_over_time"
            | "max_over_time"
            | "ts_of_min_over_time"
            | "ts_of_max_over_time"
            | "last_over_time"
            | "first_over_time"
            | "ts_of_last_over_time"
            | "ts_of_first_over_time"
            | "quantile_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "mad_over_time"
    )
}

impl<'c> RangeCall<'c> {
    /// Evaluates the scalar arguments; refuses a range modifier the function does not take.
    pub(crate) fn prepare(
        ev: &mut Evaluator<'_>,
        c: &'c Call,
        s: Steps,
    ) -> Result<Self, QueryError> {
        let name: &str = &c.func.name;
        let mi = c
            .args
            .iter()
            .position(|a| a.value_type() == ValueType::Matrix)
            .unwrap_or(0);
        let mut scalars: Vec<Vec<f64>> = Vec::new();
        for (k, a) in c.args.iter().enumerate() {
            if k != mi && a.value_type() == ValueType::Scalar {
                scalars.push(ev.eval_scalar(a, s)?);
            }
        }
        if let Some(e) = narthex_promql_syntax::range_modifier_error(c) {
            return Err(err(e));
        }
        Ok(RangeCall {
            c,
            mi,
            scalars,
            keep_name: matches!(name, "last_over_time" | "first_over_time"),
            arg_span: c.args[mi].span(),
            is_counter_fn: matches!(name, "rate" | "increase" | "irate"),
            from_selector: matches!(unparen(&c.args[mi]), Expr::MatrixSelector(_)),
            non_counter: Vec::new(),
        })
    }

    /// Checks the scalar arguments once the range vector is known to be valid.
    pub(crate) fn check_args(&self, ev: &mut Evaluator<'_>) -> Result<(), QueryError> {
        let name: &str = &self.c.func.name;
        let scalars = &self.scalars;
        if name == "double_exponential_smoothing" {
            for (k, label) in [(0usize, "smoothing"), (1, "trend")] {
                for &x in scalars.get(k).map(Vec::as_slice).unwrap_or(&[]) {
                    if x <= 0.0 || x >= 1.0 {
                        let short = if k == 0 { "sf" } else { "tf" };
                        return Err(err(format!(
                            "invalid {label} factor. Expected: 0 < {short} < 1, got: {x:.6}"
                        )));
                    }
                }
            }
        }
        if name == "quantile_over_time"
            && let Some(q) = scalars
                .first()
                .and_then(|v| v.iter().find(|q| !(0.0..=1.0).contains(*q)))
        {
            ev.warn(
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_go_g(*q)
                ),
                self.c.args[0].span(),
            );
        }
        Ok(())
    }

    /// The function over one series of `mat` (whose range, offset and `@` apply; its own
    /// `series` are not read), at every step; `None` when no step has a value.
    pub(crate) fn series(
        &mut self,
        ev: &mut Evaluator<'_>,
        mat: &Mat,
        ser: &Ser,
        s: Steps,
    ) -> Option<Ser> {
        let name: &str = &self.c.func.name;
        let (keep_name, arg_span) = (self.keep_name, self.arg_span);
        let (is_counter_fn, from_selector) = (self.is_counter_fn, self.from_selector);
        let scalars = &self.scalars;
        let non_counter = &mut self.non_counter;
        let mut o = Ser::new(ser.labels.clone(), !keep_name || ser.drop_name);
        let mut counter_warned = false;
        let mut cursor = crate::eval::Cursor::default();
        let mut overlap_warned = false;
        for (si, ts) in s.iter().enumerate() {
            let r = mat.ref_time(ts);
            let (f, h) = cursor.window(ser, r - mat.range, r);
            if f.is_empty() && h.is_empty() {
                continue;
            }
            let (fst, hst) = cursor.start_timestamps(ser);
            if matches!(name, "rate" | "increase")
                && !overlap_warned
                && (st_overlaps(f.iter().map(|p| p.t), fst)
                    || st_overlaps(h.iter().map(|p| p.t), hst))
            {
                overlap_warned = true;
                let mn = ser.labels.metric_name().unwrap_or("").to_string();
                ev.warn(
                format!(
                    "sample has start time that overlaps with previous sample timestamp for metric {}",
                    go_quote(&mn)
                ),
                arg_span,
            );
            }
            let args: Vec<f64> = scalars.iter().map(|v| v[si]).collect();
            let v = match name {
                "rate" | "increase" | "delta" => {
                    if !f.is_empty() && !h.is_empty() {
                        let mn = ser.labels.metric_name().unwrap_or("").to_string();
                        ev.warn(
                            format!(
                                "encountered a mix of histograms and floats for metric name {}",
                                go_quote(&mn)
                            ),
                            arg_span,
                        );
                        None
                    } else if f.is_empty() && hist_warnings(ev, name, h, &ser.labels, arg_span) {
                        None
                    } else {
                        let v = extrapolated_rate(
                            Samples { f, h, fst, hst },
                            r - mat.range,
                            r,
                            name != "delta",
                            name == "rate",
                            mat.range,
                        );
                        if v.is_some() && f.len() > 1 && is_counter_fn && !counter_warned {
                            counter_warned = true;
                            let mn = ser.labels.metric_name().unwrap_or("");
                            if from_selector
                                && !["_total", "_sum", "_count", "_bucket"]
                                    .iter()
                                    .any(|x| mn.ends_with(x))
                            {
                                non_counter.push(mn.to_string());
                            }
                        }
                        v
                    }
                }
                "changes" | "resets" => {
                    changes_resets(name == "changes", Samples { f, h, fst, hst })
                }
                "irate" | "idelta" if f.len() + h.len() >= 2 && last_two_mixed(f, h) => {
                    let mn = ser.labels.metric_name().unwrap_or("").to_string();
                    ev.warn(
                        format!(
                            "encountered a mix of histograms and floats for metric name {}",
                            go_quote(&mn)
                        ),
                        arg_span,
                    );
                    None
                }
                "irate" | "idelta"
                    if h.len() >= 2 && f.last().is_none_or(|p| p.t < h[h.len() - 2].t) =>
                {
                    let h = &h[h.len() - 2..];
                    if hist_warnings(ev, name, h, &ser.labels, arg_span) {
                        continue;
                    }
                    let (a, b) = (&h[h.len() - 2], &h[h.len() - 1]);
                    let st_reset = hst.len() >= 2
                        && st_reset(hst[hst.len() - 2], a.t, hst[hst.len() - 1], b.t);
                    let mut r = if name == "irate" && (st_reset || hist::detect_reset(&a.h, &b.h)) {
                        Some(b.h.clone())
                    } else {
                        hist::add(&b.h, &a.h, -1.0).ok()
                    };
                    let dt = (b.t - a.t) as f64 / 1000.0;
                    if let Some(r) = &mut r {
                        if name == "irate" {
                            hist::scale(r, 1.0 / dt);
                        }
                        r.counter_reset_hint = narthex_model::CounterResetHint::Gauge;
                    }
                    r.map(|r| PV::H(Box::new(r)))
                }
                "irate" if f.len() >= 2 && fst.len() >= 2 => {
                    // As range_fn's, with start-timestamp resets.
                    let (a, b) = (&f[f.len() - 2], &f[f.len() - 1]);
                    let reset =
                        b.f < a.f || st_reset(fst[fst.len() - 2], a.t, fst[fst.len() - 1], b.t);
                    let dt = (b.t - a.t) as f64 / 1000.0;
                    (dt != 0.0).then(|| PV::F(if reset { b.f } else { b.f - a.f } / dt))
                }
                "sum_over_time" | "avg_over_time"
                    if f.is_empty()
                        && h.iter().any(|p| {
                            p.h.counter_reset_hint == narthex_model::CounterResetHint::CounterReset
                        })
                        && h.iter().any(|p| {
                            p.h.counter_reset_hint
                                == narthex_model::CounterResetHint::NotCounterReset
                        }) =>
                {
                    ev.warn(
                        "conflicting counter resets during histogram aggregation".into(),
                        arg_span,
                    );
                    range_fn(name, f, h, ts, &args)
                }
                "sum_over_time" | "avg_over_time"
                    if f.is_empty()
                        && h.windows(2)
                            .any(|w| hist::needs_reconcile(&w[0].h, &w[1].h)) =>
                {
                    ev.info(
                        "mismatched custom buckets were reconciled during aggregation".into(),
                        arg_span,
                    );
                    range_fn(name, f, h, ts, &args)
                }
                "sum_over_time" | "avg_over_time" if !f.is_empty() && !h.is_empty() => {
                    let mn = ser.labels.metric_name().unwrap_or("").to_string();
                    ev.warn(
                        format!(
                            "encountered a mix of histograms and floats for metric name {}",
                            go_quote(&mn)
                        ),
                        arg_span,
                    );
                    None
                }
                "deriv"
                | "predict_linear"
                | "double_exponential_smoothing"
                | "stddev_over_time"
                | "stdvar_over_time"
                | "mad_over_time"
                | "quantile_over_time"
                | "min_over_time"
                | "max_over_time"
                    if !f.is_empty() && !h.is_empty() =>
                {
                    let mn = ser.labels.metric_name().unwrap_or("").to_string();
                    ev.info(
                    format!("ignored histograms in a range containing both floats and histograms for metric name {}", go_quote(&mn)),
                    arg_span,
                );
                    range_fn(name, f, &[], ts, &args)
                }
                _ => range_fn(name, f, h, ts, &args),
            };
            if let Some(v) = v {
                o.push(ts, v);
            }
        }
        (!o.is_empty()).then_some(o)
    }

    /// Reports what was gathered over all series.
    pub(crate) fn finish(self, ev: &mut Evaluator<'_>) {
        for mn in self.non_counter {
            ev.info(
                format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}", go_quote(&mn)),
                self.arg_span,
            );
        }
    }
}

fn matrix_call(ev: &mut Evaluator<'_>, c: &Call, s: Steps) -> Result<Val, QueryError> {
    let mut rc = RangeCall::prepare(ev, c, s)?;
    let mat: Mat = ev.eval_matrix(&c.args[rc.mi], s)?;
    if mat.modifier.is_some() {
        return modified_call(ev, c, s, &mat);
    }
    rc.check_args(ev)?;
    let mut out = Vec::with_capacity(mat.series.len());
    for ser in &mat.series {
        out.extend(rc.series(ev, &mat, ser, s));
    }
    rc.finish(ev);
    let total: usize = out.iter().map(Ser::len).sum();
    ev.check_limits(total)?;
    Ok(Val::Vector(ev.settle(out)?))
}

/// Warnings about the histograms of a rate-like function; true when there is no result.
/// Whether the newest two samples are one float and one histogram.
fn last_two_mixed(f: &[FPoint], h: &[HPoint]) -> bool {
    let mut all: Vec<(i64, bool)> = f
        .iter()
        .rev()
        .take(2)
        .map(|p| (p.t, false))
        .chain(h.iter().rev().take(2).map(|p| (p.t, true)))
        .collect();
    all.sort_by_key(|x| std::cmp::Reverse(x.0));
    all.len() >= 2 && all[0].1 != all[1].1
}

fn hist_warnings(
    ev: &mut Evaluator<'_>,
    name: &str,
    h: &[HPoint],
    labels: &Labels,
    span: narthex_promql_syntax::Span,
) -> bool {
    let mn = labels.metric_name().unwrap_or("").to_string();
    if h.len() < 2 {
        return false;
    }
    let is_gauge = |p: &HPoint| p.h.counter_reset_hint == narthex_model::CounterResetHint::Gauge;
    let counter = matches!(name, "rate" | "increase" | "irate");
    let instant = matches!(name, "irate" | "idelta");
    let (first, last) = (&h[0], &h[h.len() - 1]);
    let mixed = || {
        format!(
            "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
            go_quote(&mn)
        )
    };
    if counter && h.iter().any(is_gauge) {
        ev.warn(
            format!(
                "this native histogram metric is not a counter: {}",
                go_quote(&mn)
            ),
            span,
        );
    }
    if !counter && (!is_gauge(first) || !is_gauge(last)) {
        ev.warn(
            format!(
                "this native histogram metric is not a gauge: {}",
                go_quote(&mn)
            ),
            span,
        );
    }
    if instant {
        if hist::needs_reconcile(&first.h, &last.h)
            && !(counter && hist::detect_reset(&first.h, &last.h))
        {
            ev.info(
                "mismatched custom buckets were reconciled during subtraction".into(),
                span,
            );
        }
        if !(counter && hist::detect_reset(&first.h, &last.h))
            && first.h.uses_custom_buckets() != last.h.uses_custom_buckets()
        {
            ev.warn(mixed(), span);
            return true;
        }
        return false;
    }
    if h.windows(2)
        .any(|w| hist::needs_reconcile(&w[0].h, &w[1].h))
        && !(counter && h.len() == 2 && hist::detect_reset(&first.h, &last.h))
    {
        ev.info(
            "mismatched custom buckets were reconciled during subtraction".into(),
            span,
        );
    }
    let mut custom = first.h.uses_custom_buckets();
    if counter && hist::detect_reset(&first.h, &h[1].h) {
        custom = h[1].h.uses_custom_buckets();
    }
    if h.iter()
        .skip(1)
        .any(|p| p.h.uses_custom_buckets() != custom)
    {
        ev.warn(mixed(), span);
        return true;
    }
    false
}

/// The samples of one window: floats and histograms, with their start timestamps
/// (parallel slices, or empty when unknown).
#[derive(Clone, Copy)]
struct Samples<'a> {
    f: &'a [FPoint],
    h: &'a [HPoint],
    fst: &'a [i64],
    hst: &'a [i64],
}

/// The start timestamp at `i` of `sts` (0 when unknown).
fn st_at(sts: &[i64], i: usize) -> i64 {
    sts.get(i).copied().unwrap_or(0)
}

/// Whether a sample at `cur_t` with start timestamp `cur_st` follows a reset of the
/// counter since the sample at `prev_t` (start timestamp `prev_st`); 0 is unknown.
///
/// A start timestamp after the previous sample is a reset. One equal to the previous
/// sample's time is the delta pattern (each sample counts from the previous one) only when
/// the previous sample has a valid start timestamp of its own: otherwise it is a
/// cumulative series whose start is unknown, or invalid data. A start timestamp at or
/// after the sample's own time is invalid and ignored.
pub(crate) fn st_reset(prev_st: i64, prev_t: i64, cur_st: i64, cur_t: i64) -> bool {
    if cur_st == 0 || cur_st >= cur_t {
        return false;
    }
    match cur_st.cmp(&prev_t) {
        Ordering::Less => false,
        Ordering::Greater => true,
        Ordering::Equal => prev_st != 0 && prev_st < prev_t,
    }
}

/// Whether some sample's start timestamp lies before the previous sample's time without
/// being the previous sample's start timestamp too: the two claim overlapping intervals.
fn st_overlaps(ts: impl Iterator<Item = i64>, sts: &[i64]) -> bool {
    let mut prev: Option<(i64, i64)> = None;
    for (t, &st) in ts.zip(sts) {
        if let Some((pt, pst)) = prev
            && st != 0
            && st < pt
            && st != pst
        {
            return true;
        }
        prev = Some((t, st));
    }
    false
}

/// Prometheus's `histogramRate` (after the checks `hist_warnings` made): `last - first`
/// plus the value before every counter reset (detected, or marked by a start timestamp).
fn histogram_rate(h: &[HPoint], hst: &[i64], is_counter: bool) -> Option<FloatHistogram> {
    let reset_at = |i: usize, prev: &FloatHistogram| {
        st_reset(st_at(hst, i - 1), h[i - 1].t, st_at(hst, i), h[i].t)
            || hist::detect_reset(prev, &h[i].h)
    };
    let mut prev = h[0].h.clone();
    if is_counter && h.len() > 1 && reset_at(1, &prev) {
        prev = FloatHistogram {
            schema: h[1].h.schema,
            custom_values: h[1].h.custom_values.clone(),
            ..FloatHistogram::default()
        };
    }
    let last = &h[h.len() - 1].h;
    let mut acc = hist::add(last, &prev, -1.0).ok()?;
    if is_counter {
        for (i, p) in h.iter().enumerate().skip(1) {
            if reset_at(i, &prev) {
                acc = hist::add(&acc, &prev, 1.0).ok()?;
            }
            prev = p.h.clone();
        }
    }
    Some(acc)
}

/// Prometheus's `extrapolatedRate`: the increase over the window, extrapolated towards its
/// ends. For counters, a start timestamp of the first sample inside the window stands for
/// a zero sample there: the increase counts from it and is not extrapolated to the left
/// (and one sample is then enough).
fn extrapolated_rate(
    w: Samples<'_>,
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
    range: i64,
) -> Option<PV> {
    let Samples { f, h, fst, hst } = w;
    // The first sample's start timestamp, when it lies inside the window before it.
    let zero_at = |first_t: i64, st: i64| {
        (is_counter && st != 0 && range_start < st && st < first_t).then_some(st)
    };
    let (first_t, last_t, n1, mut result, mut rh, first_v, zero_st);
    if let Some(first) = h.first()
        && (h.len() > 1 || zero_at(first.t, st_at(hst, 0)).is_some())
    {
        n1 = h.len() - 1;
        first_t = first.t;
        last_t = h[n1].t;
        zero_st = zero_at(first_t, st_at(hst, 0));
        let mut acc = histogram_rate(h, hst, is_counter)?;
        if zero_st.is_some() {
            acc = hist::add(&acc, &first.h, 1.0).ok()?;
        }
        result = acc.count;
        rh = Some(acc);
        first_v = first.h.count;
    } else if let Some(first) = f.first()
        && (f.len() > 1 || zero_at(first.t, st_at(fst, 0)).is_some())
    {
        n1 = f.len() - 1;
        first_t = first.t;
        last_t = f[n1].t;
        zero_st = zero_at(first_t, st_at(fst, 0));
        result = f[n1].f - first.f;
        rh = None;
        first_v = first.f;
        if is_counter {
            for i in 1..f.len() {
                let (a, b) = (&f[i - 1], &f[i]);
                if b.f < a.f || st_reset(st_at(fst, i - 1), a.t, st_at(fst, i), b.t) {
                    result += a.f;
                }
            }
        }
        if zero_st.is_some() {
            result += first.f;
        }
    } else {
        return None;
    }
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = if n1 > 0 { sampled / n1 as f64 } else { 0.0 };
    let threshold = avg * 1.1;
    let (mut interval, mut to_start) = match zero_st {
        Some(st) => ((last_t - st) as f64 / 1000.0, 0.0),
        None => (sampled, (first_t - range_start) as f64 / 1000.0),
    };
    let base = interval;
    if zero_st.is_none() {
        if to_start >= threshold {
            to_start = avg / 2.0;
        }
        if is_counter && result > 0.0 && first_v >= 0.0 {
            let to_zero = sampled * (first_v / result);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
    }
    interval += to_start;
    let mut to_end = (range_end - last_t) as f64 / 1000.0;
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    interval += to_end;
    let mut factor = interval / base;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    match rh.take() {
        Some(mut hh) => {
            hist::scale(&mut hh, factor);
            hh.counter_reset_hint = narthex_model::CounterResetHint::Gauge;
            Some(PV::H(Box::new(hh)))
        }
        None => {
            result *= factor;
            Some(PV::F(result))
        }
    }
}

/// The value at `b` interpolated from the samples around it (`require_prev`: none without
/// a sample at or before `b`). Counters interpolate across a reset from zero.
pub(crate) fn smoothed_value(
    f: &[FPoint],
    b: i64,
    counter: bool,
    lookback: i64,
    allow_next_only: bool,
) -> Option<f64> {
    let i = f.partition_point(|p| p.t <= b);
    let prev = i
        .checked_sub(1)
        .map(|k| f[k])
        .filter(|p| p.t > b - lookback);
    let next = f.get(i).copied().filter(|p| p.t < b + lookback);
    match (prev, next) {
        (Some(p), _) if p.t == b => Some(p.f),
        (Some(p), Some(n)) => {
            let frac = (b - p.t) as f64 / (n.t - p.t) as f64;
            if counter && n.f < p.f {
                Some(n.f * frac)
            } else {
                Some(p.f + (n.f - p.f) * frac)
            }
        }
        (Some(p), None) => Some(p.f),
        (None, Some(n)) if allow_next_only => Some(n.f),
        _ => None,
    }
}

/// Interpolates between two histograms (`frac` of the way from `p` to `n`); counters
/// interpolate across a reset from zero.
fn interp_hist(
    p: &FloatHistogram,
    n: &FloatHistogram,
    frac: f64,
    counter: bool,
) -> Option<FloatHistogram> {
    let mut b = n.clone();
    hist::scale(&mut b, frac);
    if counter && hist::detect_reset(p, n) {
        return Some(b);
    }
    let mut a = p.clone();
    hist::scale(&mut a, 1.0 - frac);
    hist::add(&a, &b, 1.0).ok()
}

/// The histogram at `b`, interpolated from the samples around it.
pub(crate) fn smoothed_hist(
    h: &[HPoint],
    b: i64,
    counter: bool,
    lookback: i64,
    allow_next_only: bool,
) -> Option<FloatHistogram> {
    let i = h.partition_point(|p| p.t <= b);
    let prev = i
        .checked_sub(1)
        .map(|k| &h[k])
        .filter(|p| p.t > b - lookback);
    let next = h.get(i).filter(|p| p.t < b + lookback);
    match (prev, next) {
        (Some(p), _) if p.t == b => Some(p.h.clone()),
        (Some(p), Some(n)) => {
            interp_hist(&p.h, &n.h, (b - p.t) as f64 / (n.t - p.t) as f64, counter)
        }
        (Some(p), None) => Some(p.h.clone()),
        (None, Some(n)) if allow_next_only => Some(n.h.clone()),
        _ => None,
    }
}

/// [`modified_call`] for a histogram series.
#[allow(clippy::too_many_arguments)]
fn modified_hist(
    ev: &mut Evaluator<'_>,
    name: &str,
    h: &[HPoint],
    lo: i64,
    hi: i64,
    smoothed: bool,
    range: i64,
    labels: &Labels,
    span: narthex_promql_syntax::Span,
) -> Option<PV> {
    let lb = ev.opts.lookback_delta;
    let counter = matches!(name, "rate" | "increase");
    let a = h.partition_point(|p| p.t <= lo);
    let b = h.partition_point(|p| p.t <= hi);
    let mut pts: Vec<HPoint> = Vec::new();
    if smoothed {
        if b == 0
            || h.get(a).is_none_or(|p| p.t >= hi + lb) && h[..a].last().is_none_or(|p| p.t != lo)
        {
            return None;
        }
        // The samples the boundaries are interpolated from must share a bucket layout.
        let from = a.saturating_sub(1);
        let to = (b + 1).min(h.len());
        let custom = h[from..to]
            .iter()
            .filter(|p| p.h.uses_custom_buckets())
            .count();
        if custom != 0 && custom != to - from {
            let mn = labels.metric_name().unwrap_or("").to_string();
            ev.warn(
                format!("vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}", go_quote(&mn)),
                span,
            );
            return None;
        }
        let sv = smoothed_hist(h, lo, counter, lb, true)?;
        let evl = smoothed_hist(h, hi, counter, lb, true)?;
        pts.push(HPoint { t: lo, h: sv });
        let end_inner = if h[..b].last().is_some_and(|p| p.t == hi) {
            b - 1
        } else {
            b
        };
        pts.extend(h[a..end_inner.max(a)].iter().cloned());
        pts.push(HPoint { t: hi, h: evl });
        // Interpolated boundaries already account for a reset they cross: compare values,
        // not the hint of the sample after the left boundary.
        let unknown = |p: &mut HPoint| {
            if p.h.counter_reset_hint != narthex_model::CounterResetHint::Gauge {
                p.h.counter_reset_hint = narthex_model::CounterResetHint::Unknown;
            }
        };
        let n = pts.len();
        unknown(&mut pts[0]);
        unknown(&mut pts[n - 1]);
        if n > 2 && h[..a].last().is_some_and(|p| p.t != lo) {
            unknown(&mut pts[1]);
        }
    } else {
        if a == b {
            return None;
        }
        if let Some(p) = a.checked_sub(1).map(|k| &h[k]).filter(|p| p.t > lo - lb) {
            pts.push(p.clone());
        }
        pts.extend(h[a..b].iter().cloned());
    }
    if matches!(name, "changes" | "resets") {
        let n = pts
            .windows(2)
            .filter(|w| {
                if name == "changes" {
                    !hist::equals(&w[0].h, &w[1].h)
                } else {
                    hist::detect_reset(&w[0].h, &w[1].h)
                }
            })
            .count();
        return Some(PV::F(n as f64));
    }
    if hist_warnings(
        ev,
        name,
        &h[a.saturating_sub(1).min(b)..b.max(a)],
        labels,
        span,
    ) {
        return None;
    }
    let mut acc = if pts.len() == 1 {
        let mut z = pts[0].h.clone();
        hist::scale(&mut z, 0.0);
        z
    } else {
        histogram_rate(&pts, &[], counter)?
    };
    if name == "rate" {
        hist::scale(&mut acc, 1000.0 / range as f64);
    }
    acc.counter_reset_hint = narthex_model::CounterResetHint::Gauge;
    Some(PV::H(Box::new(acc)))
}

/// `rate`, `increase`, `delta`, `changes`, `resets` over `anchored` or `smoothed` ranges.
fn modified_call(ev: &mut Evaluator<'_>, c: &Call, s: Steps, mat: &Mat) -> Result<Val, QueryError> {
    let name: &str = &c.func.name;
    let lb = ev.opts.lookback_delta;
    let smoothed = mat.modifier == Some(narthex_promql_syntax::RangeModifier::Smoothed);
    let counter = matches!(name, "rate" | "increase");
    let mut out = Vec::with_capacity(mat.series.len());
    for ser in &mat.series {
        let mut o = Ser::new(ser.labels.clone(), true);
        for ts in s.iter() {
            let hi = mat.ref_time(ts);
            let lo = hi - mat.range;
            if !smoothed && matches!(name, "changes" | "resets") {
                // Floats and histograms together: the anchor is the newest sample of
                // either kind at or before the range start.
                let (fw, hw) = window(ser, lo, hi);
                if fw.is_empty() && hw.is_empty() {
                    continue;
                }
                let fa = ser
                    .f
                    .partition_point(|p| p.t <= lo)
                    .checked_sub(1)
                    .map(|k| ser.f[k])
                    .filter(|p| p.t > lo - lb);
                let ha = ser
                    .h
                    .partition_point(|p| p.t <= lo)
                    .checked_sub(1)
                    .map(|k| &ser.h[k])
                    .filter(|p| p.t > lo - lb);
                let mut fv: Vec<FPoint> = Vec::new();
                let mut hv: Vec<HPoint> = Vec::new();
                match (fa, ha) {
                    (Some(f), Some(h)) if h.t > f.t => hv.push(h.clone()),
                    (Some(f), _) => fv.push(f),
                    (None, Some(h)) => hv.push(h.clone()),
                    (None, None) => {}
                }
                fv.extend_from_slice(fw);
                hv.extend_from_slice(hw);
                if let Some(v) = changes_resets(
                    name == "changes",
                    Samples {
                        f: &fv,
                        h: &hv,
                        fst: &[],
                        hst: &[],
                    },
                ) {
                    o.push(ts, v);
                }
                continue;
            }
            if ser.f.is_empty() && !ser.h.is_empty() {
                let span = c.args[0].span();
                if let Some(v) = modified_hist(
                    ev,
                    name,
                    &ser.h,
                    lo,
                    hi,
                    smoothed,
                    mat.range,
                    &ser.labels,
                    span,
                ) {
                    o.push(ts, v);
                }
                continue;
            }
            let a = ser.f.partition_point(|p| p.t <= lo);
            let b = ser.f.partition_point(|p| p.t <= hi);
            let mut pts: Vec<f64> = Vec::new();
            if smoothed {
                // Needs a sample at or before the end and one at or after the start.
                if b == 0 || a >= ser.f.len() && ser.f.last().is_none_or(|p| p.t < lo) {
                    continue;
                }
                if ser.f.get(a).is_none_or(|p| p.t >= hi + lb)
                    && ser.f[..a].last().is_none_or(|p| p.t != lo)
                {
                    continue;
                }
                let Some(sv) = smoothed_value(&ser.f, lo, counter, lb, true) else {
                    continue;
                };
                let Some(evl) = smoothed_value(&ser.f, hi, counter, lb, true) else {
                    continue;
                };
                pts.push(sv);
                let end_inner = if ser.f[..b].last().is_some_and(|p| p.t == hi) {
                    b - 1
                } else {
                    b
                };
                pts.extend(ser.f[a..end_inner.max(a)].iter().map(|p| p.f));
                pts.push(evl);
            } else {
                if a == b {
                    continue;
                }
                if let Some(p) = a.checked_sub(1).map(|k| ser.f[k]).filter(|p| p.t > lo - lb) {
                    pts.push(p.f);
                }
                pts.extend(ser.f[a..b].iter().map(|p| p.f));
            }
            let first = pts[0];
            let last = pts[pts.len() - 1];
            let v = match name {
                "changes" => pts
                    .windows(2)
                    .filter(|w| w[0] != w[1] && !(w[0].is_nan() && w[1].is_nan()))
                    .count() as f64,
                "resets" => pts.windows(2).filter(|w| w[1] < w[0]).count() as f64,
                _ => {
                    let mut r = last - first;
                    if counter {
                        for w in pts.windows(2) {
                            if w[1] < w[0] {
                                r += w[0];
                            }
                        }
                    }
                    if name == "rate" {
                        r /= mat.range as f64 / 1000.0;
                    }
                    r
                }
            };
            o.f.push(FPoint { t: ts, f: v });
        }
        if !o.is_empty() {
            out.push(o);
        }
    }
    Ok(Val::Vector(ev.settle(out)?))
}

/// `changes` or `resets` over a window; `resets` also counts start-timestamp resets.
fn changes_resets(changes: bool, w: Samples<'_>) -> Option<PV> {
    enum P<'a> {
        F(f64),
        H(&'a FloatHistogram),
    }
    let Samples { f, h, fst, hst } = w;
    // (time, start timestamp, value)
    let mut all: Vec<(i64, i64, P<'_>)> = f
        .iter()
        .enumerate()
        .map(|(i, p)| (p.t, st_at(fst, i), P::F(p.f)))
        .chain(
            h.iter()
                .enumerate()
                .map(|(i, p)| (p.t, st_at(hst, i), P::H(&p.h))),
        )
        .collect();
    if all.is_empty() {
        return None;
    }
    all.sort_by_key(|x| x.0);
    let mut cnt = 0.0;
    for w in all.windows(2) {
        let hit = match (&w[0].2, &w[1].2) {
            (P::F(a), P::F(b)) => {
                if changes {
                    a != b && !(a.is_nan() && b.is_nan())
                } else {
                    b < a
                }
            }
            (P::H(a), P::H(b)) => {
                if changes {
                    !hist::equals(a, b)
                } else {
                    hist::detect_reset(a, b)
                }
            }
            _ => true,
        };
        if hit || (!changes && st_reset(w[0].1, w[0].0, w[1].1, w[1].0)) {
            cnt += 1.0;
        }
    }
    Some(PV::F(cnt))
}

fn linear_regression(f: &[FPoint], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init = f[0].f;
    let mut const_y = true;
    for (i, p) in f.iter().enumerate() {
        if const_y && i > 0 && p.f != init {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(p.f, sy, cy);
        (sxy, cxy) = kahan_inc(x * p.f, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn range_fn(name: &str, f: &[FPoint], h: &[HPoint], ts: i64, args: &[f64]) -> Option<PV> {
    let vals = || f.iter().map(|p| p.f);
    Some(PV::F(match name {
        "irate" | "idelta" => {
            if f.len() < 2 {
                return None;
            }
            let (a, b) = (&f[f.len() - 2], &f[f.len() - 1]);
            let mut r = if name == "irate" && b.f < a.f {
                b.f
            } else {
                b.f - a.f
            };
            let dt = (b.t - a.t) as f64 / 1000.0;
            if dt == 0.0 {
                return None;
            }
            if name == "irate" {
                r /= dt;
            }
            r
        }
        "changes" | "resets" => {
            if f.is_empty() {
                return None;
            }
            let mut cnt = 0.0;
            let mut prev = f[0].f;
            for p in &f[1..] {
                let hit = if name == "changes" {
                    p.f != prev && !(p.f.is_nan() && prev.is_nan())
                } else {
                    p.f < prev
                };
                if hit {
                    cnt += 1.0;
                }
                prev = p.f;
            }
            cnt
        }
        "deriv" => {
            if f.len() < 2 {
                return None;
            }
            linear_regression(f, f[0].t).0
        }
        "predict_linear" => {
            if f.len() < 2 {
                return None;
            }
            let (slope, icept) = linear_regression(f, ts);
            slope * args[0] + icept
        }
        "double_exponential_smoothing" => {
            if f.len() < 2 {
                return None;
            }
            let (sf, tf) = (args[0], args[1]);
            let (mut s0, mut s1) = (0.0, f[0].f);
            let mut b = f[1].f - f[0].f;
            for (i, p) in f.iter().enumerate().skip(1) {
                let x = sf * p.f;
                if i > 1 {
                    b = tf * (s1 - s0) + (1.0 - tf) * b;
                }
                let y = (1.0 - sf) * (s1 + b);
                s0 = s1;
                s1 = x + y;
            }
            s1
        }
        "avg_over_time" => {
            if f.is_empty() {
                if h.is_empty() {
                    return None;
                }
                let mut acc = hist::KahanHist::default();
                for p in h {
                    acc.add(&p.h).ok()?;
                }
                return Some(PV::H(Box::new(acc.result(1.0 / h.len() as f64)?)));
            }
            if !h.is_empty() {
                return None;
            }
            let (mut sum, mut count, mut mean, mut kc, mut inc) = (f[0].f, 1.0, 0.0, 0.0, false);
            for p in &f[1..] {
                count += 1.0;
                if !inc {
                    let (ns, nc) = kahan_inc(p.f, sum, kc);
                    if !ns.is_infinite() {
                        sum = ns;
                        kc = nc;
                        continue;
                    }
                    inc = true;
                    mean = sum / (count - 1.0);
                    kc /= count - 1.0;
                }
                let q = (count - 1.0) / count;
                (mean, kc) = kahan_inc(p.f / count, q * mean, q * kc);
            }
            if inc {
                mean + kc
            } else {
                sum / count + kc / count
            }
        }
        "sum_over_time" => {
            if f.is_empty() {
                if h.is_empty() {
                    return None;
                }
                let mut acc = hist::KahanHist::default();
                for p in h {
                    acc.add(&p.h).ok()?;
                }
                return Some(PV::H(Box::new(acc.result(1.0)?)));
            }
            if !h.is_empty() {
                return None;
            }
            let (mut s, mut c) = (0.0, 0.0);
            for v in vals() {
                (s, c) = kahan_inc(v, s, c);
            }
            s + c
        }
        "count_over_time" => (f.len() + h.len()) as f64,
        "present_over_time" => 1.0,
        "min_over_time" | "max_over_time" => {
            if f.is_empty() {
                return None;
            }
            let mut m = f[0].f;
            for v in vals().skip(1) {
                if name == "max_over_time" {
                    if v > m || m.is_nan() {
                        m = v;
                    }
                } else if v < m || m.is_nan() {
                    m = v;
                }
            }
            m
        }
        "ts_of_min_over_time" | "ts_of_max_over_time" => {
            if f.is_empty() {
                return None;
            }
            let (mut m, mut t) = (f[0].f, f[0].t);
            for p in &f[1..] {
                let better = if name == "ts_of_max_over_time" {
                    p.f >= m || m.is_nan()
                } else {
                    p.f <= m || m.is_nan()
                };
                if better && !p.f.is_nan() {
                    m = p.f;
                    t = p.t;
                }
            }
            t as f64 / 1000.0
        }
        "last_over_time" | "first_over_time" | "ts_of_last_over_time" | "ts_of_first_over_time" => {
            let last = name.contains("last");
            let fp = if last { f.last() } else { f.first() };
            let hp = if last { h.last() } else { h.first() };
            let use_h = match (fp, hp) {
                (Some(a), Some(b)) => {
                    if last {
                        b.t > a.t
                    } else {
                        b.t < a.t
                    }
                }
                (None, Some(_)) => true,
                _ => false,
            };
            if name.starts_with("ts_of") {
                let t = if use_h { hp?.t } else { fp?.t };
                t as f64 / 1000.0
            } else if use_h {
                return Some(PV::H(Box::new(hp?.h.clone())));
            } else {
                fp?.f
            }
        }
        "quantile_over_time" => {
            if f.is_empty() {
                return None;
            }
            let mut v: Vec<f64> = vals().collect();
            quantile(args[0], &mut v)
        }
        "stddev_over_time" | "stdvar_over_time" => {
            if f.is_empty() {
                return None;
            }
            let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for v in vals() {
                count += 1.0;
                let delta = v - (mean + cm);
                (mean, cm) = kahan_inc(delta / count, mean, cm);
                (aux, ca) = kahan_inc(delta * (v - (mean + cm)), aux, ca);
            }
            let var = (aux + ca) / count;
            if name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            }
        }
        "mad_over_time" => {
            if f.is_empty() {
                return None;
            }
            let mut v: Vec<f64> = vals().collect();
            if v.iter().any(|x| x.is_nan()) {
                return Some(PV::F(f64::NAN));
            }
            let med = quantile(0.5, &mut v);
            let mut d: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
            d.sort_by(nan_first);
            quantile(0.5, &mut d)
        }
        _ => return None,
    }))
}
