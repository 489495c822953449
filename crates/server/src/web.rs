//! The HTTP side of the server: lifecycle endpoints, the server's own metrics, and (from
//! `narthex-http-api`) Prometheus's API.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use narthex_model::float::format_exposition_value as exposition_value;

use crate::run::Server;

/// The server's router.
pub(crate) fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/-/reload", post(reload).put(reload))
        .route("/metrics", get(metrics))
        .route("/federate", get(crate::admin::federate))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(crate::admin::delete_series).put(crate::admin::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(crate::admin::clean_tombstones).put(crate::admin::clean_tombstones),
        )
        .route(
            "/api/v1/admin/tsdb/snapshot",
            post(crate::admin::snapshot).put(crate::admin::snapshot),
        )
        .with_state(server)
}

async fn reload(State(s): State<Arc<Server>>) -> Response {
    if !s.args.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    match s.reload().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}"),
        )
            .into_response(),
    }
}

fn proc_status_kb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {}", exposition_value(*v));
    }
}

/// The server's own metrics, in the text format, under Prometheus's names where
/// Prometheus has them.
async fn metrics(State(s): State<Arc<Server>>) -> Response {
    let db = &s.db;
    let mut out = String::new();
    let (mint, maxt) = db.time_range().unwrap_or((0, 0));
    let blocks = db.blocks();
    let block_bytes: u64 = blocks.iter().map(|b| b.size()).sum();
    let started = s
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let build = format!(
        "{{branch=\"\",goarch=\"{}\",goos=\"linux\",goversion=\"rustc\",revision=\"\",tags=\"\",version=\"{}\"}}",
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    );
    family(
        &mut out,
        "prometheus_build_info",
        "gauge",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which prometheus was built, and the goos and goarch for the build.",
        &[(&build, 1.0)],
    );
    family(
        &mut out,
        "prometheus_tsdb_head_series",
        "gauge",
        "Total number of series in the head block.",
        &[("", db.num_series() as f64)],
    );
    family(
        &mut out,
        "prometheus_tsdb_head_samples_appended_total",
        "counter",
        "Total number of appended samples.",
        &[("{type=\"float\"}", db.appended_samples() as f64)],
    );
    family(
        &mut out,
        "prometheus_tsdb_head_min_time",
        "gauge",
        "Minimum time bound of the head block.",
        &[("", mint as f64)],
    );
    family(
        &mut out,
        "prometheus_tsdb_head_max_time",
        "gauge",
        "Maximum timestamp of the head block.",
        &[("", maxt as f64)],
    );
    family(
        &mut out,
        "prometheus_tsdb_blocks_loaded",
        "gauge",
        "Number of currently loaded data blocks",
        &[("", blocks.len() as f64)],
    );
    family(
        &mut out,
        "prometheus_tsdb_storage_blocks_bytes",
        "gauge",
        "The number of bytes that are currently used for local storage by all blocks.",
        &[("", block_bytes as f64)],
    );
    let targets: Vec<narthex_scrape::ActiveTarget> = s
        .scrape
        .lock()
        .await
        .pools()
        .flat_map(|p| p.active_targets())
        .collect();
    let mut per_pool: std::collections::BTreeMap<String, f64> = Default::default();
    for t in &targets {
        *per_pool.entry(t.scrape_pool.clone()).or_default() += 1.0;
    }
    let pool_labels: Vec<(String, f64)> = per_pool
        .into_iter()
        .map(|(k, v)| (format!("{{scrape_job=\"{k}\"}}"), v))
        .collect();
    let pool_refs: Vec<(&str, f64)> = pool_labels.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    family(
        &mut out,
        "prometheus_sd_discovered_targets",
        "gauge",
        "Current number of discovered targets.",
        &pool_refs,
    );
    let n = s.notifier.stats();
    let ams = s.notifier.alertmanagers().len() as f64;
    family(
        &mut out,
        "prometheus_notifications_sent_total",
        "counter",
        "Total number of alerts sent.",
        &[("", n.sent as f64)],
    );
    family(
        &mut out,
        "prometheus_notifications_errors_total",
        "counter",
        "Total number of sent alerts affected by errors.",
        &[("", n.errors as f64)],
    );
    family(
        &mut out,
        "prometheus_notifications_dropped_total",
        "counter",
        "Total number of alerts dropped due to errors when sending to Alertmanager.",
        &[("", n.dropped as f64)],
    );
    family(
        &mut out,
        "prometheus_notifications_queue_length",
        "gauge",
        "The number of alert notifications in the queue.",
        &[("", n.queue_length as f64)],
    );
    family(
        &mut out,
        "prometheus_notifications_alertmanagers_discovered",
        "gauge",
        "The number of alertmanagers discovered and active.",
        &[("", ams)],
    );
    family(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        &[("", started)],
    );
    family(
        &mut out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        &[("", proc_status_kb("VmRSS:") * 1024.0)],
    );
    family(
        &mut out,
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        &[("", proc_status_kb("VmSize:") * 1024.0)],
    );
    family(
        &mut out,
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        &[("", cpu_seconds())],
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
