//! `promtool test rules`: unit tests of rule files in promtool's format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use narthex_model::{Labels, format_duration, parse_duration, stale_nan};
use narthex_promql::{Engine, Value};
use narthex_storage::{Appendable, MemStorage, SeriesRef};
use serde::Deserialize;

use crate::group::{GroupOptions, load_files};
use crate::rule::AlertState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    rule_files: Option<Vec<String>>,
    evaluation_interval: Option<String>,
    group_eval_order: Option<Vec<String>>,
    tests: Option<Vec<RawTest>>,
    fuzzy_compare: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    name: Option<String>,
    interval: Option<String>,
    input_series: Option<Vec<RawSeries>>,
    alert_rule_test: Option<Vec<RawAlertTest>>,
    promql_expr_test: Option<Vec<RawExprTest>>,
    external_labels: Option<BTreeMap<String, String>>,
    external_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeries {
    series: String,
    values: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertTest {
    eval_time: String,
    alertname: String,
    exp_alerts: Option<Vec<RawExpAlert>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpAlert {
    exp_labels: Option<BTreeMap<String, String>>,
    exp_annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExprTest {
    expr: String,
    eval_time: String,
    exp_samples: Option<Vec<RawSample>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSample {
    labels: Option<String>,
    value: f64,
}

/// The outcome of [`run_rule_tests`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleTestReport {
    /// Whether every test passed.
    pub ok: bool,
    /// The text promtool prints (`Unit Testing:  FILE`, `  SUCCESS` or `  FAILED:` with
    /// the failures).
    pub output: String,
    /// One entry per failed check.
    pub failures: Vec<String>,
}

/// Runs a promtool unit-test file: loads `input_series` into an in-memory storage,
/// evaluates the rule files' groups from time 0 at the evaluation interval, and checks
/// `alert_rule_test` (firing alerts at `eval_time`) and `promql_expr_test`.
pub fn run_rule_tests(path: &Path) -> RuleTestReport {
    let mut output = format!("Unit Testing:  {}\n", path.display());
    let failures = match run(path) {
        Ok(f) => f,
        Err(e) => vec![e],
    };
    if failures.is_empty() {
        output.push_str("  SUCCESS\n");
    } else {
        output.push_str("  FAILED:\n");
        for f in &failures {
            let _ = writeln!(output, "{f}");
        }
    }
    RuleTestReport {
        ok: failures.is_empty(),
        output,
        failures,
    }
}

fn dur(s: &str) -> Result<i64, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn run(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("  {e}"))?;
    let raw: RawFile = serde_saphyr::from_str(&text).map_err(|e| format!("  {e}"))?;
    let _ = raw.fuzzy_compare;
    let base = path.parent().unwrap_or(Path::new("."));
    let eval_interval = match &raw.evaluation_interval {
        Some(s) => dur(s)?,
        None => 60_000,
    };
    let files: Vec<String> = raw
        .rule_files
        .unwrap_or_default()
        .iter()
        .map(|f| {
            let p = PathBuf::from(f);
            if p.is_absolute() { p } else { base.join(p) }
                .display()
                .to_string()
        })
        .collect();
    let mut failures = Vec::new();
    for (ti, t) in raw.tests.unwrap_or_default().into_iter().enumerate() {
        let name = t.name.clone().unwrap_or_default();
        let _ = ti;
        let prefix = if name.is_empty() {
            String::new()
        } else {
            format!("    name: {name},\n")
        };
        match run_test(&files, eval_interval, raw.group_eval_order.as_deref(), t) {
            // promtool names the test group in alert failures only.
            Ok(fs) => failures.extend(fs.into_iter().map(|f| {
                if f.starts_with("    alertname:") {
                    format!("{prefix}{f}")
                } else {
                    f
                }
            })),
            Err(e) => failures.push(format!("{prefix}    {e}")),
        }
    }
    Ok(failures)
}

/// Expands promtool's series notation (`1+2x3 _ stale 5x2 _x2`) into optional values
/// (`None`: no sample at that step).
pub fn expand_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    let num = |x: &str| -> Result<f64, String> {
        match x {
            "stale" => Ok(stale_nan()),
            "Inf" | "+Inf" | "inf" => Ok(f64::INFINITY),
            "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ => narthex_model::float::parse_go_float(x)
                .map_err(|_| format!("invalid value {x:?} in series values")),
        }
    };
    for tok in s.split_whitespace() {
        if tok == "_" {
            out.push(None);
            continue;
        }
        let Some((head, times)) = tok.rsplit_once('x') else {
            out.push(Some(num(tok)?));
            continue;
        };
        let n: usize = times
            .parse()
            .map_err(|_| format!("invalid repetition in {tok:?}"))?;
        if head == "_" {
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        // `a+b`, `a-b` (b may not start the string), or a plain value repeated.
        let split = head
            .char_indices()
            .skip(1)
            .find(|&(i, c)| {
                (c == '+' || c == '-') && !matches!(head.as_bytes()[i - 1], b'e' | b'E')
            })
            .map(|(i, _)| i);
        match split {
            Some(i) => {
                let start = num(&head[..i])?;
                let step = num(&head[i + 1..])?;
                let step = if &head[i..=i] == "-" { -step } else { step };
                for k in 0..=n {
                    out.push(Some(start + step * k as f64));
                }
            }
            None => {
                let v = num(head)?;
                out.extend(std::iter::repeat_n(Some(v), n + 1));
            }
        }
    }
    Ok(out)
}

fn parse_series(s: &str) -> Result<Labels, String> {
    if s.trim() == "{}" {
        return Ok(Labels::empty());
    }
    let e = narthex_promql_syntax::parse(s).map_err(|e| e.to_string())?;
    match e {
        narthex_promql_syntax::Expr::VectorSelector(v) => {
            let pairs: Vec<(String, String)> = v
                .matchers
                .iter()
                .map(|m| (m.name().to_string(), m.value().to_string()))
                .collect();
            Ok(Labels::from_pairs(
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            ))
        }
        _ => Err(format!("invalid series {s:?}")),
    }
}

fn close(a: f64, b: f64) -> bool {
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    let diff = (a - b).abs();
    let sum = a.abs() + b.abs();
    if a == 0.0 || b == 0.0 || sum < f64::MIN_POSITIVE {
        return diff < 1e-6 * f64::MIN_POSITIVE;
    }
    diff / sum.min(f64::MAX) < 1e-6
}

fn run_test(
    files: &[String],
    eval_interval: i64,
    order: Option<&[String]>,
    t: RawTest,
) -> Result<Vec<String>, String> {
    let interval = match &t.interval {
        Some(s) => dur(s)?,
        None => eval_interval,
    };
    let storage = MemStorage::new();
    {
        let mut app = storage.appender();
        for s in t.input_series.unwrap_or_default() {
            let labels = parse_series(&s.series)?;
            for (i, v) in expand_values(&s.values)?.into_iter().enumerate() {
                if let Some(v) = v {
                    app.append(SeriesRef::UNKNOWN, &labels, i as i64 * interval, v)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        app.commit().map_err(|e| e.to_string())?;
    }
    let opts = GroupOptions {
        default_interval: eval_interval,
        external_labels: t.external_labels.unwrap_or_default(),
        external_url: t.external_url.unwrap_or_default(),
        ..GroupOptions::default()
    };
    let mut groups = load_files(files, &opts).map_err(|es| {
        es.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    if let Some(order) = order {
        groups.sort_by_key(|g| {
            order
                .iter()
                .position(|n| n == g.name())
                .unwrap_or(usize::MAX)
        });
    }
    let engine = Engine::default();
    let mut alert_tests: Vec<(i64, RawAlertTest)> = Vec::new();
    for a in t.alert_rule_test.unwrap_or_default() {
        alert_tests.push((dur(&a.eval_time)?, a));
    }
    alert_tests.sort_by_key(|(t, _)| *t);
    let mut expr_tests = Vec::new();
    for e in t.promql_expr_test.unwrap_or_default() {
        expr_tests.push((dur(&e.eval_time)?, e));
    }
    let maxt = alert_tests
        .iter()
        .map(|(t, _)| *t)
        .chain(expr_tests.iter().map(|(t, _)| *t))
        .max()
        .unwrap_or(0);
    let mut failures = Vec::new();
    let mut next_alert = 0;
    let mut ts = 0;
    while ts <= maxt {
        for g in &groups {
            if ts % g.interval() == 0 {
                g.eval(&engine, &storage, &storage, ts);
            }
        }
        while next_alert < alert_tests.len() && alert_tests[next_alert].0 < ts + eval_interval {
            let (at, a) = &alert_tests[next_alert];
            next_alert += 1;
            let mut got: Vec<(Labels, Labels)> = groups
                .iter()
                .flat_map(|g| g.rules())
                .filter_map(|r| r.as_alerting())
                .filter(|r| r.name == a.alertname)
                .flat_map(|r| r.active_alerts())
                .filter(|al| al.state == AlertState::Firing)
                .map(|al| (al.labels, al.annotations))
                .collect();
            let mut exp: Vec<(Labels, Labels)> = a
                .exp_alerts
                .iter()
                .flatten()
                .map(|e| {
                    let mut l = e.exp_labels.clone().unwrap_or_default();
                    l.insert("alertname".into(), a.alertname.clone());
                    let an = e.exp_annotations.clone().unwrap_or_default();
                    (
                        Labels::from_pairs(l.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                        Labels::from_pairs(an.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                    )
                })
                .collect();
            got.sort();
            exp.sort();
            if got != exp {
                let show = |v: &[(Labels, Labels)]| {
                    if v.is_empty() {
                        return "[]".to_string();
                    }
                    let items: Vec<String> = v
                        .iter()
                        .enumerate()
                        .map(|(i, (l, a))| {
                            format!(
                                "            {i}:\n              Labels:{l}\n              Annotations:{a}"
                            )
                        })
                        .collect();
                    format!("[\n{}\n            ]", items.join(",\n"))
                };
                failures.push(format!(
                    "    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                    a.alertname,
                    format_duration(*at),
                    show(&exp),
                    show(&got)
                ));
            }
        }
        ts += eval_interval;
    }
    for (at, e) in expr_tests {
        let res = engine
            .instant_query(&storage, &e.expr, at)
            .map_err(|x| x.to_string());
        let mut got: Vec<(Labels, f64)> = match res {
            Ok(r) => match r.value {
                Value::Vector(v) => v.into_iter().map(|s| (s.metric, s.f)).collect(),
                Value::Scalar { v, .. } => vec![(Labels::empty(), v)],
                _ => {
                    failures.push(format!(
                        "    expr: {}, time: {}, err: unsupported result type",
                        narthex_model::go_quote(&e.expr),
                        format_duration(at)
                    ));
                    continue;
                }
            },
            Err(x) => {
                failures.push(format!(
                    "    expr: {}, time: {}, err: {x}",
                    narthex_model::go_quote(&e.expr),
                    format_duration(at)
                ));
                continue;
            }
        };
        let mut exp = Vec::new();
        for s in e.exp_samples.iter().flatten() {
            let l = match &s.labels {
                Some(l) if !l.is_empty() => parse_series(l)?,
                _ => Labels::empty(),
            };
            exp.push((l, s.value));
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == exp.len()
            && got
                .iter()
                .zip(&exp)
                .all(|(g, x)| g.0 == x.0 && close(g.1, x.1));
        if !same {
            let show = |v: &[(Labels, f64)]| {
                if v.is_empty() {
                    return "nil".to_string();
                }
                v.iter()
                    .map(|(l, f)| format!("{l} {}", format_float_upper_e(*f)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            failures.push(format!(
                "    expr: {}, time: {},\n        exp: {}\n        got: {}",
                narthex_model::go_quote(&e.expr),
                format_duration(at),
                show(&exp),
                show(&got)
            ));
        }
    }
    Ok(failures)
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`.
fn format_float_upper_e(v: f64) -> String {
    crate::format_float_e(v).replace('e', "E")
}
