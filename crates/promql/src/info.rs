//! The experimental `info` function: enriches series with the data labels of info metrics.

use std::collections::HashMap;

use narthex_model::{Labels, METRIC_NAME, MatchOp, Matcher, is_stale_nan};
use narthex_promql_syntax::{AtModifier, Call, Expr};
use narthex_storage::SelectHints;

use crate::QueryError;
use crate::eval::{Evaluator, Out, PV, Steps, Val, by_step, err};

/// Labels joining base series and info series.
const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// How the reference time of the base expression relates to the evaluation time:
/// `at.unwrap_or(ts) - offset`, following `@` and `offset` down the first argument.
fn time_shift(
    ev: &Evaluator<'_>,
    e: &Expr,
    at: &mut Option<i64>,
    off: &mut i64,
) -> Result<(), QueryError> {
    let resolve = |a: AtModifier| match a {
        AtModifier::Timestamp(t) => t,
        AtModifier::Start => ev.qstart,
        AtModifier::End => ev.qend,
    };
    match e {
        Expr::VectorSelector(vs) => {
            let o = ev.offset(vs.offset.as_ref())?;
            if let Some(a) = vs.at {
                *at = Some(resolve(a));
                *off = o;
            } else {
                *off += o;
            }
        }
        Expr::MatrixSelector(ms) => time_shift(
            ev,
            &Expr::VectorSelector(Box::new(ms.selector.clone())),
            at,
            off,
        )?,
        Expr::Subquery(sq) => {
            let o = ev.offset(sq.offset.as_ref())?;
            if let Some(a) = sq.at {
                *at = Some(resolve(a));
                *off = o;
            } else {
                *off += o;
            }
            time_shift(ev, &sq.expr, at, off)?;
        }
        other => {
            if let Some(c) = other.children().into_iter().find(|c| {
                let mut found = false;
                c.walk(&mut |x| {
                    found |= matches!(
                        x,
                        Expr::VectorSelector(_) | Expr::MatrixSelector(_) | Expr::Subquery(_)
                    )
                });
                found
            }) {
                time_shift(ev, c, at, off)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn eval_info(ev: &mut Evaluator<'_>, c: &Call, s: Steps) -> Result<Val, QueryError> {
    let base = ev.eval_vector(&c.args[0], s)?;
    let mut name_matchers: Vec<Matcher> = Vec::new();
    let mut data_matchers: Vec<Matcher> = Vec::new();
    if let Some(Expr::VectorSelector(vs)) = c.args.get(1) {
        for m in &vs.matchers {
            if m.name() == METRIC_NAME {
                name_matchers.push(m.clone());
            } else {
                data_matchers.push(m.clone());
            }
        }
    }
    if name_matchers.is_empty() {
        name_matchers.push(
            Matcher::new(MatchOp::Equal, METRIC_NAME, "target_info")
                .map_err(|e| err(e.to_string()))?,
        );
    }
    let has_positive = name_matchers
        .iter()
        .any(|m| matches!(m.op(), MatchOp::Equal | MatchOp::RegexMatch));
    let is_info = |l: &Labels| {
        has_positive
            && name_matchers
                .iter()
                .all(|m| m.matches(l.metric_name().unwrap_or("")))
    };

    let (mut at, mut off) = (None, 0);
    time_shift(ev, &c.args[0], &mut at, &mut off)?;
    let reft = |ts: i64| at.unwrap_or(ts) - off;
    let lb = ev.opts.lookback_delta;
    let (r0, r1) = (reft(s.start), reft(s.end));
    let (mint, maxt) = (r0.min(r1) - lb + 1, r0.max(r1));
    let mut matchers = name_matchers.clone();
    if !has_positive {
        matchers.push(
            Matcher::new(MatchOp::RegexMatch, METRIC_NAME, ".+_info")
                .map_err(|e| err(e.to_string()))?,
        );
    }
    matchers.extend(data_matchers.iter().cloned());
    let q = ev.storage.querier(mint, maxt)?;
    let hints = SelectHints {
        start: mint,
        end: maxt,
        step: s.step,
        ..Default::default()
    };
    let set = q.select(true, Some(&hints), &matchers)?;
    // Info series: labels, identifying key, metric name, float samples.
    struct InfoSeries {
        key: (String, String),
        name: String,
        data: Vec<(String, String)>,
        samples: Vec<(i64, f64)>,
    }
    let mut infos: Vec<InfoSeries> = Vec::new();
    let data_names: Vec<&str> = data_matchers.iter().map(Matcher::name).collect();
    for sr in set {
        let sr = sr?;
        let l = sr.labels().clone();
        let mut it = sr.iter();
        let mut vt = it.seek(mint);
        let mut samples = Vec::new();
        while vt != narthex_storage::ValueType::None {
            if it.at_t() > maxt {
                break;
            }
            if vt != narthex_storage::ValueType::Float {
                return Err(err(format!(
                    "this function only supports float info metrics, but {} has histogram samples",
                    l.metric_name().unwrap_or("")
                )));
            }
            samples.push(it.at());
            vt = it.next();
        }
        let data = l
            .iter()
            .filter(|x| &*x.name != METRIC_NAME && !IDENTIFYING.contains(&&*x.name))
            .filter(|x| data_names.is_empty() || data_names.contains(&&*x.name))
            .map(|x| (x.name.to_string(), x.value.to_string()))
            .collect();
        let mut data: Vec<(String, String)> = data;
        if !data_names.is_empty() {
            for n in IDENTIFYING {
                if data_names.contains(&n)
                    && let Some(v) = l.get(n)
                {
                    data.push((n.to_string(), v.to_string()));
                }
            }
        }
        infos.push(InfoSeries {
            key: (
                l.get("instance").unwrap_or("").to_string(),
                l.get("job").unwrap_or("").to_string(),
            ),
            name: l.metric_name().unwrap_or("").to_string(),
            data,
            samples,
        });
    }
    let present = |inf: &InfoSeries, rt: i64| -> Option<i64> {
        let i = inf.samples.partition_point(|p| p.0 <= rt);
        let p = inf.samples.get(i.checked_sub(1)?)?;
        (p.0 > rt - lb && !is_stale_nan(p.1)).then_some(p.0)
    };
    let mut by_key: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, inf) in infos.iter().enumerate() {
        by_key.entry(inf.key.clone()).or_default().push(i);
    }
    let needs_match = data_matchers.iter().any(|m| !m.matches(""));

    let tab = by_step(&base, s);
    let mut out = Out::new();
    for (si, samples) in tab.into_iter().enumerate() {
        let ts = s.ts(si);
        let rt = reft(ts);
        for (i, v) in samples {
            let bl = &base[i].labels;
            if is_info(bl) {
                let o = out.get(bl.clone(), base[i].drop_name);
                out.push(o, ts, v)?;
                continue;
            }
            let key = (
                bl.get("instance").unwrap_or("").to_string(),
                bl.get("job").unwrap_or("").to_string(),
            );
            let has_ident = IDENTIFYING.iter().any(|n| bl.contains(n));
            // The latest info series per metric name.
            let mut chosen: HashMap<&str, (i64, usize)> = HashMap::new();
            if has_ident && let Some(cands) = by_key.get(&key) {
                for &k in cands {
                    if let Some(t) = present(&infos[k], rt) {
                        let e = chosen.entry(infos[k].name.as_str()).or_insert((t, k));
                        if t > e.0 {
                            *e = (t, k);
                        }
                    }
                }
            }
            if chosen.is_empty() {
                if needs_match {
                    continue;
                }
                let o = out.get(bl.clone(), base[i].drop_name);
                out.push(o, ts, v)?;
                continue;
            }
            let mut add: Vec<(&str, &str)> = Vec::new();
            let mut picks: Vec<usize> = chosen.values().map(|x| x.1).collect();
            picks.sort_unstable();
            for k in picks {
                for (n, val) in &infos[k].data {
                    if bl.contains(n) {
                        continue;
                    }
                    match add.iter().find(|x| x.0 == n) {
                        Some(x) if x.1 != val => {
                            return Err(err(format!("conflicting label: {n}")));
                        }
                        Some(_) => {}
                        None => add.push((n, val)),
                    }
                }
            }
            let mut b = bl.builder();
            for (n, val) in add {
                b.set(n, val);
            }
            let o = out.get(b.build(), base[i].drop_name);
            out.push(o, ts, v)?;
        }
    }
    let _ = PV::F(0.0);
    Ok(Val::Vector(out.finish()))
}
