//! Running scripts: loading data, evaluating, comparing with upstream's rules.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use narthex_model::{FastRegex, FloatHistogram, Labels, LabelsBuilder, METRIC_NAME, is_stale_nan};
use narthex_promql::{Engine, EngineOptions, QueryError, QueryResult, Sample, Series, Value};
use narthex_promql_syntax::ParserOptions;
use narthex_storage::{Appendable, Appender, HistogramSample, Queryable, SeriesRef};

use crate::hist::{self, ClassicPoint};
use crate::script::{
    Command, EvalCmd, EvalTime, Expected, ExpectedSeries, LoadCmd, MessageMatch, Script, SeqValue,
    parse_number,
};

/// Float comparison tolerance (relative), as upstream's `defaultEpsilon`.
pub const EPSILON: f64 = 1e-6;

/// A storage the runner can load and query. Implemented for everything that is both
/// [`Queryable`] and [`Appendable`]; the runner "clears" a storage by asking its factory
/// for a fresh one (at the start of each file and at each `clear`).
pub trait TestStorage: Queryable + Appendable {}

impl<T: Queryable + Appendable + ?Sized> TestStorage for T {}

/// What running one file gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// The file name (eval ids are `<file>:<line>`).
    pub file: String,
    /// Number of `eval` commands in the file (0 when it did not parse).
    pub evals: usize,
    /// Evals that passed.
    pub passed: usize,
    /// Evals that failed: `(<file>:<line>, one-line reason)`.
    pub failed: Vec<(String, String)>,
    /// Problems outside evals, which make the file's results unreliable: the script not
    /// parsing, the file not being readable, a `load` being rejected by the storage.
    /// `(<file>:<line>, one-line reason)`.
    pub errors: Vec<(String, String)>,
}

/// Runner settings.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The engine's settings; [`test_engine_options`] gives the ones the scripts assume.
    pub engine: EngineOptions,
    /// Upstream's extra check for `eval instant`: also run the query as a range query from
    /// T-1m to T+1m step 1m and require the middle step to equal the expectation.
    pub range_check: bool,
    /// Upstream's other extra check for `eval instant` at T: add `@ T` to every selector
    /// and subquery without one, and require the same outcome (result, error, annotations)
    /// when evaluated at -10·T, 0, T/5, T and 10·T (-1s and +1s when T = 0). Skipped for
    /// queries using time-dependent functions. Combined with `range_check`, each variant
    /// is range-checked too.
    pub at_check: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            engine: test_engine_options(),
            range_check: false,
            at_check: false,
        }
    }
}

/// The engine settings Prometheus's test scripts assume: lookback 5m, at most 10000
/// samples, every experimental parser feature, delayed `__name__` removal, 1m default
/// subquery step.
pub fn test_engine_options() -> EngineOptions {
    EngineOptions {
        lookback_delta: 5 * 60 * 1000,
        max_samples: 10_000,
        parser: ParserOptions::all_experimental(),
        delayed_name_removal: true,
        default_subquery_step: 60 * 1000,
        ..EngineOptions::default()
    }
}

/// Reads, parses and runs one `.test` file with `engine` (pass [`test_engine_options`]
/// for the scripts' assumptions). `new_storage` makes an empty storage; it is called at
/// the start and at every `clear`.
pub fn run_file(
    path: &Path,
    new_storage: &dyn Fn() -> Box<dyn TestStorage>,
    engine: &EngineOptions,
) -> FileReport {
    run_file_with(
        path,
        new_storage,
        &RunOptions {
            engine: engine.clone(),
            ..RunOptions::default()
        },
    )
}

/// [`run_file`] with [`RunOptions`].
pub fn run_file_with(
    path: &Path,
    new_storage: &dyn Fn() -> Box<dyn TestStorage>,
    options: &RunOptions,
) -> FileReport {
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return FileReport {
                errors: vec![(
                    format!("{file}:0"),
                    format!("cannot read {}: {e}", path.display()),
                )],
                file,
                ..FileReport::default()
            };
        }
    };
    match Script::parse(&file, &text) {
        Ok(script) => run_script(&script, new_storage, options),
        Err(e) => FileReport {
            errors: vec![(format!("{}:{}", e.file, e.line), one_line(&e.message))],
            file,
            ..FileReport::default()
        },
    }
}

/// Runs a parsed script.
pub fn run_script(
    script: &Script,
    new_storage: &dyn Fn() -> Box<dyn TestStorage>,
    options: &RunOptions,
) -> FileReport {
    let engine = Engine::new(options.engine.clone());
    let mut report = FileReport {
        file: script.file.clone(),
        ..FileReport::default()
    };
    let mut storage = new_storage();
    for cmd in &script.commands {
        match cmd {
            Command::Clear(_) => {
                // Drop the old one first: a directory-backed storage may reuse its path.
                drop(std::mem::replace(&mut storage, new_storage()));
            }
            Command::Load(load) => {
                if let Err((line, e)) = run_load(&*storage, load) {
                    report
                        .errors
                        .push((format!("{}:{line}", script.file), one_line(&e)));
                }
            }
            Command::Eval(ev) => {
                report.evals += 1;
                let id = format!("{}:{}", script.file, ev.line);
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    run_eval(&engine, &*storage, ev, options)
                }))
                .unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown payload".into());
                    Err(format!("panic: {msg}"))
                });
                match outcome {
                    Ok(()) => report.passed += 1,
                    Err(e) => report.failed.push((id, one_line(&e))),
                }
            }
        }
    }
    report
}

/// Makes a reason fit on one line.
fn one_line(s: &str) -> String {
    s.replace("\r\n", " | ").replace(['\n', '\r'], " | ")
}

/// Appends a `load` block; returns the line and message of the first failure.
fn run_load(storage: &dyn TestStorage, load: &LoadCmd) -> Result<(), (usize, String)> {
    let mut app: Box<dyn Appender + '_> = storage.appender();
    let mut first_err: Option<(usize, String)> = None;
    let mut note = |line: usize, e: String| {
        if first_err.is_none() {
            first_err = Some((line, e));
        }
    };
    for s in &load.series {
        let mut r = SeriesRef::UNKNOWN;
        for (k, v) in s.values.iter().enumerate() {
            let t = (k as i64).saturating_mul(load.step);
            // A start timestamp is an offset from the sample's own time; 0 is unknown.
            let st = s
                .start_timestamps
                .as_ref()
                .and_then(|sts| sts.get(k).copied().flatten())
                .map_or(0, |off| t.saturating_add(off));
            let res = match v {
                SeqValue::Gap => continue,
                SeqValue::Float(f) => app.append_with_st(r, &s.labels, t, st, *f),
                SeqValue::Histogram(h) => {
                    app.append_histogram_with_st(r, &s.labels, t, st, HistogramSample::Float(&h.h))
                }
            };
            match res {
                Ok(nr) => r = nr,
                Err(e) => note(s.line, format!("appending {} at {t}: {e}", s.labels)),
            }
        }
    }
    if load.with_nhcb {
        for (labels, points) in nhcb_series(load) {
            let mut r = SeriesRef::UNKNOWN;
            for (t, h) in points {
                match app.append_histogram(r, &labels, t, HistogramSample::Float(&h)) {
                    Ok(nr) => r = nr,
                    Err(e) => note(load.line, format!("appending NHCB {labels} at {t}: {e}")),
                }
            }
        }
    }
    if let Err(e) = app.commit() {
        note(load.line, format!("commit: {e}"));
    }
    first_err.map_or(Ok(()), Err)
}

/// The native histograms with custom buckets `load_with_nhcb` adds: one series per
/// classic histogram (`X_bucket{le=…}`, `X_count`, `X_sum` sharing their other labels),
/// named `X`, without `le`.
fn nhcb_series(load: &LoadCmd) -> Vec<(Labels, Vec<(i64, FloatHistogram)>)> {
    #[derive(Default)]
    struct Group {
        has_buckets: bool,
        bounds: Vec<f64>,
        points: BTreeMap<i64, ClassicPoint>,
    }
    let mut groups: BTreeMap<Labels, Group> = BTreeMap::new();
    for s in &load.series {
        let Some(name) = s.labels.metric_name() else {
            continue;
        };
        let (base, kind) = if let Some(b) = name.strip_suffix("_bucket") {
            (b, 0)
        } else if let Some(b) = name.strip_suffix("_count") {
            (b, 1)
        } else if let Some(b) = name.strip_suffix("_sum") {
            (b, 2)
        } else {
            continue;
        };
        let le = if kind == 0 {
            match s.labels.get("le").map(parse_number) {
                Some(Ok(le)) => Some(le),
                _ => continue,
            }
        } else {
            None
        };
        let mut b = LabelsBuilder::from(s.labels.clone());
        b.del("le");
        b.set(METRIC_NAME, base);
        let g = groups.entry(b.build()).or_default();
        if let Some(le) = le {
            g.has_buckets = true;
            if le.is_finite() && !g.bounds.contains(&le) {
                g.bounds.push(le);
            }
        }
        for (k, v) in s.values.iter().enumerate() {
            let SeqValue::Float(f) = v else { continue };
            if is_stale_nan(*f) {
                continue;
            }
            let p = g
                .points
                .entry((k as i64).saturating_mul(load.step))
                .or_default();
            match le {
                Some(le) => p.buckets.push((le, *f)),
                None if kind == 1 => p.count = Some(*f),
                None => p.sum = Some(*f),
            }
        }
    }
    let mut out = Vec::new();
    for (labels, mut g) in groups {
        if !g.has_buckets {
            continue;
        }
        g.bounds.sort_by(f64::total_cmp);
        let points: Vec<_> = g
            .points
            .iter()
            .filter_map(|(t, p)| hist::classic_to_nhcb(p, &g.bounds).map(|h| (*t, h)))
            .collect();
        if !points.is_empty() {
            out.push((labels, points));
        }
    }
    out
}

fn message_matches(m: &MessageMatch, text: &str) -> bool {
    match m {
        MessageMatch::Any => true,
        MessageMatch::Exact(s) => s == text,
        MessageMatch::Regex(r) => FastRegex::new(&format!(".*(?:{r}).*"))
            .map(|re| re.is_match(text))
            .unwrap_or(false),
    }
}

fn check_annotations(
    kind: &str,
    got: &[String],
    expected: &[MessageMatch],
    none: bool,
) -> Result<(), String> {
    if none && !got.is_empty() {
        return Err(format!("expected no {kind}, got {:?}", got));
    }
    for e in expected {
        if !got.iter().any(|g| message_matches(e, g)) {
            return Err(format!("expected {kind} matching {e}, got {got:?}"));
        }
    }
    if !expected.is_empty()
        && let Some(g) = got
            .iter()
            .find(|g| !expected.iter().any(|e| message_matches(e, g)))
    {
        return Err(format!("unexpected {kind} {g:?}"));
    }
    Ok(())
}

fn run_eval(
    engine: &Engine,
    storage: &dyn TestStorage,
    ev: &EvalCmd,
    options: &RunOptions,
) -> Result<(), String> {
    let q: &dyn Queryable = storage;
    match ev.time {
        EvalTime::Instant { at } => {
            run_instant(engine, q, ev, &ev.query, at, options.range_check)?;
            if options.at_check
                && let Some((query, times)) = at_modifier_variants(&ev.query, at)
            {
                for t in times {
                    run_instant(engine, q, ev, &query, t, options.range_check)
                        .map_err(|e| format!("with @ added, {query:?} at t={t}: {e}"))?;
                }
            }
            Ok(())
        }
        EvalTime::Range { start, end, step } => {
            let res = engine.range_query(q, &ev.query, start, end, step);
            check_outcome(ev, res)
        }
    }
}

/// Runs `query` (the eval's query, or a variant of it) as an instant query at `t` and
/// checks it against the eval's expectations.
fn run_instant(
    engine: &Engine,
    q: &dyn Queryable,
    ev: &EvalCmd,
    query: &str,
    t: i64,
    range_check: bool,
) -> Result<(), String> {
    check_outcome(ev, engine.instant_query(q, query, t))?;
    if range_check && ev.fail.is_none() {
        check_as_range(engine, q, ev, query, t)?;
    }
    Ok(())
}

/// Checks a query's outcome (error or result with annotations) against the eval.
fn check_outcome(ev: &EvalCmd, res: Result<QueryResult, QueryError>) -> Result<(), String> {
    let res = match (res, &ev.fail) {
        (Err(e), Some(m)) => {
            let text = e.to_string();
            return if message_matches(m, &text) {
                Ok(())
            } else {
                Err(format!("expected error matching {m}, got {text:?}"))
            };
        }
        (Err(e), None) => return Err(format!("error: {e}")),
        (Ok(r), Some(m)) => {
            return Err(format!(
                "expected error ({m}), got result {}",
                short_value(&r.value)
            ));
        }
        (Ok(r), None) => r,
    };
    check_annotations("warn", &res.annotations.warnings, &ev.warn, ev.no_warn)?;
    check_annotations("info", &res.annotations.infos, &ev.info, ev.no_info)?;
    compare_result(ev, &res.value)
}

/// Functions whose result depends on the evaluation time even when their arguments do
/// not (upstream's `AtModifierUnsafeFunctions`, plus the query-time functions).
const TIME_DEPENDENT_FUNCTIONS: [&str; 15] = [
    "time",
    "timestamp",
    "predict_linear",
    "start",
    "end",
    "range",
    "step",
    "minute",
    "hour",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "month",
    "year",
];

/// The query with `@ <at>` added to every selector and subquery that has none (selectors
/// inside a subquery are left alone), and the times to evaluate it at; `None` when the
/// query does not parse or uses a time-dependent function.
fn at_modifier_variants(query: &str, at: i64) -> Option<(String, Vec<i64>)> {
    use narthex_promql_syntax::{AtModifier, Expr};

    fn add_at(e: &mut Expr, at: i64) {
        match e {
            Expr::VectorSelector(vs) => {
                vs.at.get_or_insert(AtModifier::Timestamp(at));
            }
            Expr::MatrixSelector(ms) => {
                ms.selector.at.get_or_insert(AtModifier::Timestamp(at));
            }
            Expr::Subquery(sq) => {
                sq.at.get_or_insert(AtModifier::Timestamp(at));
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &mut a.param {
                    add_at(p, at);
                }
                add_at(&mut a.expr, at);
            }
            Expr::Binary(b) => {
                add_at(&mut b.lhs, at);
                add_at(&mut b.rhs, at);
            }
            Expr::Unary(u) => add_at(&mut u.expr, at),
            Expr::Paren(p) => add_at(&mut p.expr, at),
            Expr::Call(c) => c.args.iter_mut().for_each(|a| add_at(a, at)),
            Expr::Number(_) | Expr::String(_) | Expr::QueryTime(_) => {}
        }
    }

    let mut expr =
        narthex_promql_syntax::parse_with(query, &ParserOptions::all_experimental()).ok()?;
    let mut unsafe_fn = false;
    expr.walk(&mut |e| match e {
        Expr::Call(c) => unsafe_fn |= TIME_DEPENDENT_FUNCTIONS.contains(&&*c.func.name),
        Expr::QueryTime(_) => unsafe_fn = true,
        _ => {}
    });
    if unsafe_fn {
        return None;
    }
    add_at(&mut expr, at);
    let times = if at == 0 {
        vec![-1000, 1000]
    } else {
        vec![at.saturating_mul(-10), 0, at / 5, at, at.saturating_mul(10)]
    };
    Some((expr.to_string(), times))
}

fn short_value(v: &Value) -> String {
    let s = match v {
        Value::Scalar { v, .. } => format!("scalar {v}"),
        Value::String { s, .. } => format!("string {s:?}"),
        Value::Vector(vec) => format!(
            "vector of {} [{}]",
            vec.len(),
            vec.iter()
                .take(3)
                .map(fmt_sample)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Matrix(m) => format!(
            "matrix of {} [{}]",
            m.len(),
            m.iter()
                .take(3)
                .map(|s| s.metric.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    s.chars().take(300).collect()
}

fn fmt_sample(s: &Sample) -> String {
    match &s.h {
        Some(h) => format!("{} {}", s.metric, hist::format(h)),
        None => format!("{} {}", s.metric, s.f),
    }
}

fn fmt_seq(v: &SeqValue) -> String {
    match v {
        SeqValue::Gap => "_".into(),
        SeqValue::Float(f) if is_stale_nan(*f) => "stale".into(),
        SeqValue::Float(f) => f.to_string(),
        SeqValue::Histogram(h) => hist::format(&h.h),
    }
}

/// Compares one expected value with an actual float or histogram.
fn compare_value(exp: &SeqValue, f: f64, h: Option<&FloatHistogram>) -> Result<(), String> {
    match (exp, h) {
        (SeqValue::Gap, _) => Err("expected no value".into()),
        (SeqValue::Float(e), None) => {
            if is_stale_nan(*e) || is_stale_nan(f) {
                if is_stale_nan(*e) && is_stale_nan(f) {
                    return Ok(());
                }
                return Err(format!("expected {}, got {}", fmt_seq(exp), fmt_float(f)));
            }
            if hist::almost_equal(*e, f, EPSILON) {
                Ok(())
            } else {
                Err(format!("expected {e}, got {f}"))
            }
        }
        (SeqValue::Float(e), Some(h)) => Err(format!(
            "expected float {e}, got histogram {}",
            hist::format(h)
        )),
        (SeqValue::Histogram(e), None) => Err(format!(
            "expected histogram {}, got float {}",
            hist::format(&e.h),
            fmt_float(f)
        )),
        (SeqValue::Histogram(e), Some(h)) => hist::compare(e, h, EPSILON).map_err(|d| {
            format!(
                "expected histogram {}, got {} ({d})",
                hist::format(&e.h),
                hist::format(h)
            )
        }),
    }
}

fn fmt_float(f: f64) -> String {
    if is_stale_nan(f) {
        "stale".into()
    } else {
        f.to_string()
    }
}

fn compare_result(ev: &EvalCmd, value: &Value) -> Result<(), String> {
    let range = matches!(ev.time, EvalTime::Range { .. });
    match (value, &ev.expected) {
        (Value::Scalar { v, .. }, Expected::Scalar(e)) => {
            compare_value(&SeqValue::Float(*e), *v, None).map_err(|d| format!("scalar: {d}"))
        }
        (Value::Scalar { v, .. }, _) => Err(format!(
            "got scalar {v}, expected {}",
            expected_kind(&ev.expected)
        )),
        (Value::String { s, .. }, Expected::String(e)) => {
            if s == e {
                Ok(())
            } else {
                Err(format!("expected string {e:?}, got {s:?}"))
            }
        }
        (Value::String { s, .. }, _) => Err(format!(
            "got string {s:?}, expected {}",
            expected_kind(&ev.expected)
        )),
        (Value::Vector(vec), Expected::Series(exp)) if !range => {
            compare_vector(vec, exp, ev.ordered)
        }
        (Value::Vector(vec), _) => Err(format!(
            "got {}, expected {}",
            short_value(&Value::Vector(vec.clone())),
            expected_kind(&ev.expected)
        )),
        (Value::Matrix(m), Expected::Series(exp)) if range => {
            if ev.ordered {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            let EvalTime::Range { start, end, step } = ev.time else {
                unreachable!("range checked above")
            };
            if let Some(w) = m.windows(2).find(|w| w[0].metric > w[1].metric) {
                return Err(format!(
                    "range result not sorted by labels: {} before {}",
                    w[0].metric, w[1].metric
                ));
            }
            compare_matrix(m, exp, start, end, step)
        }
        (
            Value::Matrix(m),
            Expected::RangeVector {
                start,
                end,
                step,
                series,
            },
        ) => compare_matrix(m, series, *start, *end, *step),
        (Value::Matrix(m), _) => Err(format!(
            "got {}, expected {}",
            short_value(&Value::Matrix(m.clone())),
            expected_kind(&ev.expected)
        )),
    }
}

fn expected_kind(e: &Expected) -> String {
    match e {
        Expected::Series(s) if s.is_empty() => "an empty result".into(),
        Expected::Series(s) => format!("{} series", s.len()),
        Expected::Scalar(v) => format!("scalar {v}"),
        Expected::String(s) => format!("string {s:?}"),
        Expected::RangeVector { series, .. } => {
            format!("a range vector of {} series", series.len())
        }
    }
}

fn compare_vector(vec: &[Sample], exp: &[ExpectedSeries], ordered: bool) -> Result<(), String> {
    let mut seen = vec![false; exp.len()];
    for (pos, s) in vec.iter().enumerate() {
        let Some(i) = exp.iter().position(|e| e.labels == s.metric) else {
            return Err(format!("unexpected sample {} in result", fmt_sample(s)));
        };
        if seen[i] {
            return Err(format!("duplicate series {} in result", s.metric));
        }
        seen[i] = true;
        if ordered && i != pos {
            return Err(format!(
                "expected {} at position {}, but was at {}",
                s.metric,
                i + 1,
                pos + 1
            ));
        }
        let e = &exp[i];
        compare_value(&e.values[0], s.f, s.h.as_ref()).map_err(|d| format!("{}: {d}", s.metric))?;
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(format!(
            "expected {} {} not found (got {})",
            exp[i].labels,
            fmt_seq(&exp[i].values[0]),
            short_value(&Value::Vector(vec.to_vec()))
        ));
    }
    Ok(())
}

/// One point of a matrix series, float or histogram.
fn points(s: &Series) -> Vec<(i64, f64, Option<&FloatHistogram>)> {
    let mut p: Vec<_> = s
        .floats
        .iter()
        .map(|f| (f.t, f.f, None))
        .chain(s.histograms.iter().map(|h| (h.t, 0.0, Some(&h.h))))
        .collect();
    p.sort_by_key(|x| x.0);
    p
}

fn compare_matrix(
    m: &[Series],
    exp: &[ExpectedSeries],
    start: i64,
    end: i64,
    step: i64,
) -> Result<(), String> {
    let mut seen = vec![false; exp.len()];
    for s in m {
        let Some(i) = exp.iter().position(|e| e.labels == s.metric) else {
            let pts: Vec<String> = points(s)
                .iter()
                .take(5)
                .map(|(t, f, h)| match h {
                    Some(h) => format!("{}@{t}", hist::format(h)),
                    None => format!("{}@{t}", fmt_float(*f)),
                })
                .collect();
            return Err(format!(
                "unexpected series {} in result, has [{}]",
                s.metric,
                pts.join(" ")
            ));
        };
        if seen[i] {
            return Err(format!("duplicate series {} in result", s.metric));
        }
        seen[i] = true;
        let e = &exp[i];
        let mut want = Vec::new();
        for (k, v) in e.values.iter().enumerate() {
            let t = start.saturating_add((k as i64).saturating_mul(step));
            if t > end {
                return Err(format!(
                    "expected {} points for {}, but the time range holds fewer",
                    e.values.len(),
                    e.labels
                ));
            }
            if !matches!(v, SeqValue::Gap) {
                want.push((t, v));
            }
        }
        let got = points(s);
        let got_t: Vec<i64> = got.iter().map(|p| p.0).collect();
        let want_t: Vec<i64> = want.iter().map(|p| p.0).collect();
        if got_t != want_t {
            let fmt_ts = |v: &[i64]| -> String {
                let mut s: Vec<String> = v.iter().take(12).map(|t| t.to_string()).collect();
                if v.len() > 12 {
                    s.push("…".into());
                }
                s.join(",")
            };
            return Err(format!(
                "{}: expected points at t=[{}], got t=[{}]",
                s.metric,
                fmt_ts(&want_t),
                fmt_ts(&got_t)
            ));
        }
        for ((t, v), (_, f, h)) in want.iter().zip(&got) {
            compare_value(v, *f, *h).map_err(|d| format!("{} at t={t}: {d}", s.metric))?;
        }
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(format!(
            "expected series {} not found (got {} series)",
            exp[i].labels,
            m.len()
        ));
    }
    Ok(())
}

/// Whether the query calls a function whose result depends on the query's time range.
fn uses_range_functions(q: &str) -> bool {
    ["start", "end", "range", "step"].iter().any(|f| {
        q.match_indices(f).any(|(i, _)| {
            let before_ok = q[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            let after = q[i + f.len()..].trim_start();
            before_ok && after.starts_with('(')
        })
    })
}

/// Upstream's extra check: the instant query run as a range query from T-1m to T+1m
/// step 1m must give the expected result at T.
fn check_as_range(
    engine: &Engine,
    q: &dyn Queryable,
    ev: &EvalCmd,
    query: &str,
    at: i64,
) -> Result<(), String> {
    if ev.ordered
        || ev.fail.is_some()
        || !matches!(ev.expected, Expected::Series(_) | Expected::Scalar(_))
        || uses_range_functions(query)
    {
        return Ok(());
    }
    let r: QueryResult = engine
        .range_query(q, query, at - 60_000, at + 60_000, 60_000)
        .map_err(|e| format!("range check: error: {e}"))?;
    let Value::Matrix(m) = r.value else {
        return Err(format!("range check: got {}", short_value(&r.value)));
    };
    if let Some(w) = m.windows(2).find(|w| w[0].metric > w[1].metric) {
        return Err(format!(
            "range check: result not sorted by labels: {} before {}",
            w[0].metric, w[1].metric
        ));
    }
    let mut vec = Vec::new();
    for s in &m {
        for (t, f, h) in points(s) {
            if t == at {
                vec.push(Sample {
                    metric: s.metric.clone(),
                    t,
                    f,
                    h: h.cloned(),
                });
            }
        }
    }
    let res = match &ev.expected {
        Expected::Scalar(e) => match vec.as_slice() {
            [s] => compare_value(&SeqValue::Float(*e), s.f, s.h.as_ref()),
            _ => Err(format!(
                "expected one point for a scalar, got {}",
                vec.len()
            )),
        },
        Expected::Series(exp) => compare_vector(&vec, exp, false),
        _ => Ok(()),
    };
    res.map_err(|e| format!("range check (T-1m..T+1m step 1m): {e}"))
}

#[cfg(test)]
mod tests;
