//! `/api/v1/admin/tsdb/*` (behind `--web.enable-admin-api`) and `/federate`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use narthex_http_api::{ApiError, ErrorType, MAX_TIME, MIN_TIME, Params, matcher_sets, parse_time};
use narthex_model::float::format_exposition_value;
use narthex_model::{Labels, is_stale_nan};
use narthex_storage::{Queryable, ValueType};

use crate::run::Server;

fn error(e: ApiError) -> Response {
    let body = serde_json::json!({
        "status": "error",
        "errorType": e.typ.as_str(),
        "error": e.message,
    });
    (
        StatusCode::from_u16(e.typ.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn enabled(s: &Server) -> Result<(), ApiError> {
    if s.args.enable_admin_api {
        Ok(())
    } else {
        Err(ApiError::new(ErrorType::Unavailable, "admin APIs disabled"))
    }
}

fn time_param(p: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match p.get(name) {
        None | Some("") => Ok(default),
        Some(v) => parse_time(v).map_err(|e| ApiError::invalid_param(name, e)),
    }
}

/// `POST|PUT /api/v1/admin/tsdb/delete_series?match[]=...&start=&end=`.
pub(crate) async fn delete_series(
    State(s): State<Arc<Server>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(e) = enabled(&s) {
        return error(e);
    }
    let p = Params::parse(q.as_deref(), Some(&body));
    let run = || -> Result<(), ApiError> {
        let matches = p.get_all("match[]");
        if matches.is_empty() {
            return Err(ApiError::new(
                ErrorType::BadData,
                "no match[] parameter provided",
            ));
        }
        let start = time_param(&p, "start", MIN_TIME)?;
        let end = time_param(&p, "end", MAX_TIME)?;
        let sets = matcher_sets(&matches, &Default::default())
            .map_err(|e| ApiError::invalid_param("match[]", e))?;
        for set in sets {
            s.db.delete(start, end, &set)
                .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
        }
        Ok(())
    };
    match run() {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}

/// `POST|PUT /api/v1/admin/tsdb/clean_tombstones`.
pub(crate) async fn clean_tombstones(State(s): State<Arc<Server>>) -> Response {
    if let Err(e) = enabled(&s) {
        return error(e);
    }
    let db = Arc::clone(&s.db);
    match tokio::task::spawn_blocking(move || db.clean_tombstones()).await {
        Ok(Ok(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => error(ApiError::new(ErrorType::Internal, e.to_string())),
        Err(e) => error(ApiError::new(ErrorType::Internal, e.to_string())),
    }
}

/// `POST|PUT /api/v1/admin/tsdb/snapshot?skip_head=`: a snapshot in
/// `<data>/snapshots/<time>-<random>`, named as Prometheus names them.
pub(crate) async fn snapshot(
    State(s): State<Arc<Server>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(e) = enabled(&s) {
        return error(e);
    }
    let p = Params::parse(q.as_deref(), Some(&body));
    let skip_head = matches!(
        p.get("skip_head"),
        Some("true" | "1" | "t" | "T" | "TRUE" | "True")
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let stamp = crate::status::rfc3339(Some((now / 1_000_000) as i64));
    let compact: String = stamp
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let name = format!(
        "{compact}Z-{:016x}",
        (now as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    let dir = s.args.storage_path.join("snapshots").join(&name);
    let db = Arc::clone(&s.db);
    match tokio::task::spawn_blocking(move || db.snapshot(&dir, !skip_head)).await {
        Ok(Ok(_)) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"status": "success", "data": {"name": name}}).to_string(),
        )
            .into_response(),
        Ok(Err(e)) => error(ApiError::new(
            ErrorType::Internal,
            format!("create snapshot: {e}"),
        )),
        Err(e) => error(ApiError::new(ErrorType::Internal, e.to_string())),
    }
}

/// A label value escaped for the text format.
fn escape(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `GET /federate?match[]=...`: the latest sample (within the lookback delta) of every
/// matching series, in the text format, with the external labels added, as Prometheus's
/// federation endpoint answers.
pub(crate) async fn federate(State(s): State<Arc<Server>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref(), None);
    let sets = match matcher_sets(&p.get_all("match[]"), &Default::default()) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let external = s.config.lock().await.global.external_labels.clone();
    let lookback = narthex_model::parse_duration(&s.args.lookback_delta).unwrap_or(300_000);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let db = Arc::clone(&s.db);
    let latest = tokio::task::spawn_blocking(move || {
        let mut latest: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
        let q = db.querier(now - lookback, now)?;
        for set in sets {
            for series in q.select(true, None, &set)? {
                let series = series?;
                let mut it = series.iter();
                let mut last = None;
                while it.next() != ValueType::None {
                    if it.at_t() <= now {
                        last = Some(it.at());
                    }
                }
                if let Some((t, v)) = last
                    && !is_stale_nan(v)
                {
                    latest.insert(series.labels().clone(), (t, v));
                }
            }
        }
        Ok::<_, narthex_storage::StorageError>(latest)
    })
    .await;
    let latest = match latest {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    // Grouped by metric name, each family once with an untyped TYPE line.
    let mut by_name: BTreeMap<String, Vec<(Labels, i64, f64)>> = BTreeMap::new();
    for (l, (t, v)) in latest {
        let mut b = l.builder();
        for e in &external {
            if l.get(&e.name).is_none() {
                b.set(&*e.name, &*e.value);
            }
        }
        let l = b.build();
        by_name
            .entry(l.metric_name().unwrap_or("").to_string())
            .or_default()
            .push((l, t, v));
    }
    let mut out = String::new();
    for (name, samples) in by_name {
        let _ = writeln!(out, "# TYPE {name} untyped");
        for (l, t, v) in samples {
            out.push_str(&name);
            let mut first = true;
            for x in &l {
                if &*x.name == "__name__" {
                    continue;
                }
                out.push(if first { '{' } else { ',' });
                first = false;
                out.push_str(&x.name);
                out.push_str("=\"");
                escape(&mut out, &x.value);
                out.push('"');
            }
            if !first {
                out.push('}');
            }
            let _ = writeln!(out, " {} {t}", format_exposition_value(v));
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
