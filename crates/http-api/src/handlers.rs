//! The endpoint handlers.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use narthex_model::{Labels, Matcher, NameValidation};
use narthex_promql::{CancelToken, Engine, QueryResult, Value};
use narthex_storage::{LabelHints, SelectHints};

use crate::ast_json::{push_json, translate};
use crate::error::{ApiError, ErrorType};
use crate::json::{push_labels, push_result, push_str, push_str_array};
use crate::params::{
    MAX_TIME, MIN_TIME, Params, limit_param, matcher_sets, parse_duration, parse_time, time_param,
    unescape_name,
};
use crate::status::Endpoint;
use crate::{ApiState, QueryObserver, QueryTimings};

const TRUNCATED: &str = "results truncated due to limit";
/// Largest request body read for form values (Go's default for url-encoded forms is 10 MB).
const MAX_FORM_BODY: usize = 10 << 20;

type ApiResult = Result<Answer, ApiError>;

/// A successful answer: the `data` JSON and annotations.
struct Answer {
    data: Vec<u8>,
    warnings: Vec<String>,
    infos: Vec<String>,
}

impl Answer {
    fn new(data: Vec<u8>) -> Self {
        Answer {
            data,
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn respond(res: ApiResult) -> Response {
    match res {
        Ok(a) => {
            let mut out = Vec::with_capacity(a.data.len() + 64);
            out.extend_from_slice(b"{\"status\":\"success\",\"data\":");
            out.extend_from_slice(&a.data);
            if !a.warnings.is_empty() {
                out.extend_from_slice(b",\"warnings\":");
                push_str_array(&mut out, &a.warnings);
            }
            if !a.infos.is_empty() {
                out.extend_from_slice(b",\"infos\":");
                push_str_array(&mut out, &a.infos);
            }
            out.push(b'}');
            json_response(StatusCode::OK, out)
        }
        Err(e) => {
            let mut out = Vec::with_capacity(e.message.len() + 64);
            out.extend_from_slice(b"{\"status\":\"error\",\"errorType\":");
            push_str(&mut out, e.typ.as_str());
            out.extend_from_slice(b",\"error\":");
            push_str(&mut out, &e.message);
            out.push(b'}');
            let code =
                StatusCode::from_u16(e.typ.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(code, out)
        }
    }
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
}

/// Reads the form values of a request: the URL's, and a url-encoded body's for POST.
async fn read_params(req: Request) -> Result<Params, ApiError> {
    let query = req.uri().query().map(str::to_string);
    let is_form = req.method() == Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
    let body = if is_form {
        let b = axum::body::to_bytes(req.into_body(), MAX_FORM_BODY)
            .await
            .map_err(|e| {
                ApiError::new(
                    ErrorType::BadData,
                    format!("error parsing form values: {e}"),
                )
            })?;
        Some(b)
    } else {
        None
    };
    Ok(Params::parse(query.as_deref(), body.as_deref()))
}

/// Runs `f` for a ready server with the request's parameters.
async fn with_params<F, Fut>(st: ApiState, req: Request, f: F) -> Response
where
    F: FnOnce(ApiState, Params) -> Fut,
    Fut: std::future::Future<Output = ApiResult>,
{
    if !st.ready().get() {
        return unavailable();
    }
    match read_params(req).await {
        Ok(p) => respond(f(st, p).await),
        Err(e) => respond(Err(e)),
    }
}

/// Cancels the query when the handler's future is dropped (the client went away).
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

/// Per-request engine settings: `timeout` (nanoseconds) and `lookback_delta`.
fn engine_for(st: &ApiState, timeout: Option<i64>, lookback: Option<i64>) -> Engine {
    if timeout.is_none() && lookback.is_none_or(|l| l <= 0) {
        return st.engine.clone();
    }
    let mut o = st.engine.options().clone();
    if let Some(t) = timeout {
        o.timeout = o.timeout.min(Duration::from_nanos(t.max(0) as u64));
    }
    if let Some(l) = lookback
        && l > 0
    {
        o.lookback_delta = (l / 1_000_000).max(1);
    }
    Engine::new(o)
}

/// Evaluates on a blocking thread within the concurrency limit; returns the result and
/// the time spent waiting for a slot.
async fn execute(
    st: &ApiState,
    engine: Engine,
    query: String,
    kind: Kind,
) -> Result<(QueryResult, Duration), ApiError> {
    let queued = Instant::now();
    let permit = st
        .slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
    let queue_time = queued.elapsed();
    let token = CancelToken::new();
    let _guard = CancelOnDrop(token.clone());
    let storage = st.storage.clone();
    let log = st.options.active_queries.clone();
    let observer = st.options.on_query.clone();
    let res = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _active = log.as_ref().map(|l| l.insert(&query));
        let started = Instant::now();
        let res = match kind {
            Kind::Instant(t) => engine.instant_query_with(&*storage, &query, t, &token),
            Kind::Range { start, end, step } => {
                engine.range_query_with(&*storage, &query, start, end, step, &token)
            }
        };
        if let Some(QueryObserver(f)) = &observer {
            f(&QueryTimings {
                queue: queue_time,
                eval: res
                    .as_ref()
                    .map_or_else(|_| started.elapsed(), |r| r.stats.elapsed),
                samples: res.as_ref().map_or(0, |r| r.stats.samples_touched),
                failed: res.is_err(),
            });
        }
        res
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, format!("query panicked: {e}")))?;
    res.map(|r| (r, queue_time)).map_err(ApiError::from_query)
}

/// Prometheus's `AsStrings`: at most `max` of each, then a count of the rest.
fn cap(mut v: Vec<String>, max: usize, what: &str) -> Vec<String> {
    if max > 0 && v.len() > max {
        let skipped = v.len() - max;
        v.truncate(max);
        v.push(format!("{skipped} more {what} annotations omitted"));
    }
    v
}

/// Go's JSON text for a float64 number.
fn go_json_number(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        format!("{f:e}")
    } else {
        format!("{f}")
    }
}

fn query_answer(
    st: &ApiState,
    res: QueryResult,
    limit: usize,
    stats: bool,
    queue: Duration,
) -> Answer {
    let QueryResult {
        mut value,
        annotations,
        stats: qs,
    } = res;
    let mut warnings = annotations.warnings;
    if limit > 0 {
        let truncated = match &mut value {
            Value::Vector(v) if v.len() > limit => {
                v.truncate(limit);
                true
            }
            Value::Matrix(m) if m.len() > limit => {
                m.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            warnings.push(TRUNCATED.to_string());
        }
    }
    let typ = match &value {
        Value::Scalar { .. } => "scalar",
        Value::String { .. } => "string",
        Value::Vector(_) => "vector",
        Value::Matrix(_) => "matrix",
    };
    let mut data = Vec::with_capacity(256);
    data.extend_from_slice(b"{\"resultType\":\"");
    data.extend_from_slice(typ.as_bytes());
    data.extend_from_slice(b"\",\"result\":");
    push_result(&mut data, &value);
    if stats {
        let eval = qs.elapsed.as_secs_f64();
        let q = queue.as_secs_f64();
        data.extend_from_slice(
            format!(
                concat!(
                    r#","stats":{{"timings":{{"evalTotalTime":{e},"resultSortTime":0,"#,
                    r#""queryPreparationTime":0,"innerEvalTime":{e},"execQueueTime":{q},"#,
                    r#""execTotalTime":{t}}},"samples":{{"totalQueryableSamples":{s},"#,
                    r#""peakSamples":{p}}}}}"#
                ),
                e = go_json_number(eval),
                q = go_json_number(q),
                t = go_json_number(eval + q),
                s = qs.samples_touched,
                p = qs.peak_samples,
            )
            .as_bytes(),
        );
    }
    data.push(b'}');
    let max = st.options.max_annotations;
    Answer {
        data,
        warnings: cap(warnings, max, "warning"),
        infos: cap(annotations.infos, max, "info"),
    }
}

fn opt_duration(p: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    let s = p.value(name);
    if s.is_empty() {
        return Ok(None);
    }
    parse_duration(s)
        .map(Some)
        .map_err(|e| ApiError::invalid_param(name, e))
}

fn lookback(p: &Params) -> Result<Option<i64>, ApiError> {
    let s = p.value("lookback_delta");
    if s.is_empty() {
        return Ok(None);
    }
    parse_duration(s).map(Some).map_err(|e| {
        ApiError::new(
            ErrorType::BadData,
            format!("error parsing lookback delta duration: {e}"),
        )
    })
}

/// `/api/v1/query`.
pub(crate) async fn query(State(st): State<ApiState>, req: Request) -> Response {
    with_params(st, req, |st, p| async move {
        let limit = limit_param(&p)?;
        let t = time_param(&p, "time", st.now())?;
        let timeout = opt_duration(&p, "timeout")?;
        let lb = lookback(&p)?;
        let stats = !p.value("stats").is_empty();
        let engine = engine_for(&st, timeout, lb);
        let (res, queue) =
            execute(&st, engine, p.value("query").to_string(), Kind::Instant(t)).await?;
        Ok(query_answer(&st, res, limit, stats, queue))
    })
    .await
}

/// `/api/v1/query_range`.
pub(crate) async fn query_range(State(st): State<ApiState>, req: Request) -> Response {
    with_params(st, req, |st, p| async move {
        let limit = limit_param(&p)?;
        let start = parse_time(p.value("start")).map_err(|e| ApiError::invalid_param("start", e))?;
        let end = parse_time(p.value("end")).map_err(|e| ApiError::invalid_param("end", e))?;
        if end < start {
            return Err(ApiError::invalid_param(
                "end",
                "end timestamp must not be before start time",
            ));
        }
        let step = parse_duration(p.value("step")).map_err(|e| ApiError::invalid_param("step", e))?;
        let step_ms = step / 1_000_000;
        if step <= 0 || step_ms <= 0 {
            return Err(ApiError::invalid_param(
                "step",
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        // Go: end.Sub(start)/step, with the difference saturated to a Duration.
        let span_ns = ((end as i128 - start as i128) * 1_000_000).min(i64::MAX as i128);
        if span_ns / step as i128 > st.options.max_points_per_series as i128 {
            return Err(ApiError::new(
                ErrorType::BadData,
                format!(
                    "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                    thousands(st.options.max_points_per_series)
                ),
            ));
        }
        let timeout = opt_duration(&p, "timeout")?;
        let lb = lookback(&p)?;
        let stats = !p.value("stats").is_empty();
        let engine = engine_for(&st, timeout, lb);
        let kind = Kind::Range {
            start,
            end,
            step: step_ms,
        };
        let (res, queue) = execute(&st, engine, p.value("query").to_string(), kind).await?;
        Ok(query_answer(&st, res, limit, stats, queue))
    })
    .await
}

/// `11000` as `11,000`.
fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn parse_query_param(st: &ApiState, p: &Params) -> Result<narthex_promql_syntax::Expr, ApiError> {
    narthex_promql_syntax::parse_with(p.value("query"), &st.engine.options().parser)
        .map_err(|e| ApiError::invalid_param("query", e))
}

/// `/api/v1/format_query`.
pub(crate) async fn format_query(State(st): State<ApiState>, req: Request) -> Response {
    with_params(st, req, |st, p| async move {
        let e = parse_query_param(&st, &p)?;
        let mut data = Vec::new();
        push_str(&mut data, &e.pretty());
        Ok(Answer::new(data))
    })
    .await
}

/// `/api/v1/parse_query`.
pub(crate) async fn parse_query(State(st): State<ApiState>, req: Request) -> Response {
    with_params(st, req, |st, p| async move {
        let e = parse_query_param(&st, &p)?;
        let mut data = Vec::new();
        push_json(&mut data, &translate(&e));
        Ok(Answer::new(data))
    })
    .await
}

/// `/api/v1/query_exemplars`: validated, and always empty (the storage traits carry no
/// exemplar queries yet).
pub(crate) async fn query_exemplars(State(st): State<ApiState>, req: Request) -> Response {
    with_params(st, req, |st, p| async move {
        time_param(&p, "start", MIN_TIME)?;
        time_param(&p, "end", MAX_TIME)?;
        parse_query_param(&st, &p)?;
        Ok(Answer::new(b"[]".to_vec()))
    })
    .await
}

/// Runs a storage lookup on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("lookup panicked: {e}")))?
}

fn exec_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorType::Execution, e.to_string())
}

/// `/api/v1/series`.
pub(crate) async fn series(State(st): State<ApiState>, req: Request) -> Response {
    with_params(st, req, |st, p| async move {
        let matches = p.get_all("match[]");
        if matches.is_empty() {
            return Err(ApiError::new(
                ErrorType::BadData,
                "no match[] parameter provided",
            ));
        }
        let limit = limit_param(&p)?;
        let start = time_param(&p, "start", MIN_TIME)?;
        let end = time_param(&p, "end", MAX_TIME)?;
        let sets = matcher_sets(&matches, &st.engine.options().parser)
            .map_err(|e| ApiError::invalid_param("match[]", e))?;
        let storage = st.storage.clone();
        let (series, truncated) = blocking(move || {
            let q = storage.querier(start, end).map_err(exec_err)?;
            let hints = SelectHints {
                start,
                end,
                func: Some("series".into()),
                ..SelectHints::default()
            };
            let mut all: BTreeSet<Labels> = BTreeSet::new();
            for set in &sets {
                for s in q.select(true, Some(&hints), set).map_err(exec_err)? {
                    all.insert(s.map_err(exec_err)?.labels().clone());
                }
            }
            let mut v: Vec<Labels> = all.into_iter().collect();
            let truncated = limit > 0 && v.len() > limit;
            if truncated {
                v.truncate(limit);
            }
            Ok((v, truncated))
        })
        .await?;
        let mut data = Vec::with_capacity(64 * series.len() + 2);
        data.push(b'[');
        for (i, l) in series.iter().enumerate() {
            if i > 0 {
                data.push(b',');
            }
            push_labels(&mut data, l);
        }
        data.push(b']');
        let mut a = Answer::new(data);
        if truncated {
            a.warnings.push(TRUNCATED.into());
        }
        Ok(a)
    })
    .await
}

/// Runs a label lookup once per matcher set (or once without matchers) and merges.
async fn label_lookup(st: &ApiState, p: &Params, name: Option<String>) -> ApiResult {
    let limit = limit_param(p)?;
    let start = time_param(p, "start", MIN_TIME)?;
    let end = time_param(p, "end", MAX_TIME)?;
    let sets = matcher_sets(&p.get_all("match[]"), &st.engine.options().parser)
        .map_err(|e| ApiError::new(ErrorType::BadData, e))?;
    let storage = st.storage.clone();
    let (names, truncated) = blocking(move || {
        let q = storage.querier(start, end).map_err(exec_err)?;
        let hints = LabelHints {
            limit: if limit > 0 { limit + 1 } else { 0 },
        };
        let lookup = |ms: &[Matcher]| match &name {
            Some(n) => q.label_values(n, &hints, ms),
            None => q.label_names(&hints, ms),
        };
        let mut out: Vec<String> = if sets.len() <= 1 {
            let ms = sets.first().map(Vec::as_slice).unwrap_or(&[]);
            lookup(ms).map_err(exec_err)?
        } else {
            let mut all = BTreeSet::new();
            for set in &sets {
                all.extend(lookup(set).map_err(exec_err)?);
            }
            all.into_iter().collect()
        };
        out.sort();
        out.dedup();
        let truncated = limit > 0 && out.len() > limit;
        if truncated {
            out.truncate(limit);
        }
        Ok((out, truncated))
    })
    .await?;
    let mut data = Vec::new();
    push_str_array(&mut data, &names);
    let mut a = Answer::new(data);
    if truncated {
        a.warnings.push(TRUNCATED.into());
    }
    Ok(a)
}

/// `/api/v1/labels`.
pub(crate) async fn labels(State(st): State<ApiState>, req: Request) -> Response {
    with_params(
        st,
        req,
        |st, p| async move { label_lookup(&st, &p, None).await },
    )
    .await
}

/// `/api/v1/label/{name}/values`.
pub(crate) async fn label_values(
    State(st): State<ApiState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    with_params(st, req, |st, p| async move {
        let name = if name.starts_with("U__") {
            unescape_name(&name)
        } else {
            name
        };
        if !NameValidation::Utf8.is_valid_label_name(&name) {
            return Err(ApiError::new(
                ErrorType::BadData,
                format!("invalid label name: {}", narthex_model::go_quote(&name)),
            ));
        }
        label_lookup(&st, &p, Some(name)).await
    })
    .await
}

/// The status and discovery endpoints.
pub(crate) async fn status_endpoint(
    State(st): State<ApiState>,
    req: Request,
    e: Endpoint,
) -> Response {
    with_params(st, req, |st, p| async move {
        let data = match e.call(&*st.status, &p)? {
            Some(raw) => raw.as_str().as_bytes().to_vec(),
            None => e.empty().into_bytes(),
        };
        Ok(Answer::new(data))
    })
    .await
}

/// Prometheus's CORS headers when the request has an allowed `Origin`, and `204` for
/// `OPTIONS` preflight requests.
pub(crate) async fn cors(
    State(allowed): State<Option<narthex_model::FastRegex>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let (Some(origin), Some(allowed)) = (origin, allowed) else {
        return resp;
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Accept, Authorization, Content-Type, Origin"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Date"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if allowed.as_str() == ".*" {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    } else if allowed.is_match(origin.to_str().unwrap_or("")) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    resp
}

/// `/-/healthy`.
pub(crate) async fn healthy() -> Response {
    (StatusCode::OK, "Prometheus Server is Healthy.\n").into_response()
}

/// `/-/ready`.
pub(crate) async fn ready(State(st): State<ApiState>) -> Response {
    if st.ready().get() {
        (StatusCode::OK, "Prometheus Server is Ready.\n").into_response()
    } else {
        unavailable()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(11000), "11,000");
        assert_eq!(super::thousands(100), "100");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
