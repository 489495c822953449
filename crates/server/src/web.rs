//! The HTTP side of the server: lifecycle endpoints, the server's own metrics, and (from
//! `narthex-http-api`) Prometheus's API.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use narthex_exposition::{FamilySample, MetricFamily};
use narthex_model::MetricType;

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

pub(crate) fn proc_status_kb(key: &str) -> f64 {
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

pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

pub(crate) fn family(
    out: &mut Vec<MetricFamily>,
    name: &str,
    metric_type: MetricType,
    help: &str,
    samples: Vec<(Vec<(&str, String)>, f64)>,
) {
    out.push(MetricFamily {
        name: match metric_type {
            MetricType::Counter => name.strip_suffix("_total").unwrap_or(name).to_string(),
            _ => name.to_string(),
        },
        help: Some(help.to_string()),
        metric_type,
        unit: None,
        samples: samples
            .into_iter()
            .map(|(labels, v)| {
                let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                FamilySample::new(name, &l, v)
            })
            .collect(),
    });
}

/// The values read at scrape time: storage, targets, notifications, the process.
pub(crate) async fn collect_dynamic(s: &Server) -> Vec<MetricFamily> {
    use MetricType::{Counter, Gauge};
    let db = &s.db;
    let mut out = Vec::new();
    let (mint, maxt) = db.time_range().unwrap_or((0, 0));
    let blocks = db.blocks();
    let block_bytes: u64 = blocks.iter().map(|b| b.size()).sum();
    let one = |v: f64| vec![(Vec::new(), v)];
    build_info(&mut out);
    family(
        &mut out,
        "prometheus_tsdb_head_series",
        Gauge,
        "Total number of series in the head block.",
        one(db.num_series() as f64),
    );
    family(
        &mut out,
        "prometheus_tsdb_head_samples_appended_total",
        Counter,
        "Total number of appended samples.",
        vec![(
            vec![("type", "float".to_string())],
            db.appended_samples() as f64,
        )],
    );
    family(
        &mut out,
        "prometheus_tsdb_head_min_time",
        Gauge,
        "Minimum time bound of the head block.",
        one(mint as f64),
    );
    family(
        &mut out,
        "prometheus_tsdb_head_max_time",
        Gauge,
        "Maximum timestamp of the head block.",
        one(maxt as f64),
    );
    family(
        &mut out,
        "prometheus_tsdb_blocks_loaded",
        Gauge,
        "Number of currently loaded data blocks",
        one(blocks.len() as f64),
    );
    family(
        &mut out,
        "prometheus_tsdb_storage_blocks_bytes",
        Gauge,
        "The number of bytes that are currently used for local storage by all blocks.",
        one(block_bytes as f64),
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
    family(
        &mut out,
        "prometheus_sd_discovered_targets",
        Gauge,
        "Current number of discovered targets.",
        per_pool
            .into_iter()
            .map(|(k, v)| (vec![("scrape_job", k)], v))
            .collect(),
    );
    notifier_families(&mut out, &s.notifier);
    // Remote write, per endpoint as Prometheus labels it (`remote_name`, `url`).
    remote_families(&mut out, &s.remote.lock().await);
    process_families(&mut out, s.started);
    out
}

/// The notifier's metrics as Prometheus names them: per Alertmanager (`alertmanager`
/// label, the alert endpoint) sent, errors and latency, and the queue's gauges.
fn notifier_families(out: &mut Vec<MetricFamily>, notifier: &narthex_rules::Notifier) {
    use MetricType::{Counter, Gauge};
    let n = notifier.stats();
    let per_am = notifier.alertmanager_stats();
    let by_am = |f: fn(&narthex_rules::AlertmanagerStats) -> u64| {
        per_am
            .iter()
            .map(|a| (vec![("alertmanager", a.url.clone())], f(a) as f64))
            .collect()
    };
    let one = |v: u64| vec![(Vec::new(), v as f64)];
    family(
        out,
        "prometheus_notifications_sent_total",
        Counter,
        "Total number of alerts sent.",
        by_am(|a| a.sent),
    );
    family(
        out,
        "prometheus_notifications_errors_total",
        Counter,
        "Total number of sent alerts affected by errors.",
        by_am(|a| a.errors),
    );
    let name = "prometheus_notifications_latency_seconds";
    let mut samples = Vec::new();
    for a in &per_am {
        for (q, v) in &a.latency_quantiles {
            samples.push(FamilySample::new(
                name,
                &[
                    ("alertmanager", a.url.as_str()),
                    ("quantile", &q.to_string()),
                ],
                *v,
            ));
        }
        let l = [("alertmanager", a.url.as_str())];
        samples.push(FamilySample::new(format!("{name}_sum"), &l, a.latency_sum));
        samples.push(FamilySample::new(
            format!("{name}_count"),
            &l,
            a.latency_count as f64,
        ));
    }
    out.push(MetricFamily {
        name: name.to_string(),
        help: Some("Latency quantiles for sending alert notifications.".to_string()),
        metric_type: MetricType::Summary,
        unit: None,
        samples,
    });
    family(
        out,
        "prometheus_notifications_dropped_total",
        Counter,
        "Total number of alerts dropped due to errors when sending to Alertmanager.",
        one(n.dropped),
    );
    family(
        out,
        "prometheus_notifications_queue_length",
        Gauge,
        "The number of alert notifications in the queue.",
        one(n.queue_length),
    );
    family(
        out,
        "prometheus_notifications_queue_capacity",
        Gauge,
        "The capacity of the alert notifications queue.",
        one(n.queue_capacity),
    );
    family(
        out,
        "prometheus_notifications_alertmanagers_discovered",
        Gauge,
        "The number of alertmanagers discovered and active.",
        one(per_am.len() as u64),
    );
}

/// `prometheus_build_info`, with this build's version.
pub(crate) fn build_info(out: &mut Vec<MetricFamily>) {
    family(
        out,
        "prometheus_build_info",
        MetricType::Gauge,
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which prometheus was built, and the goos and goarch for the build.",
        vec![(
            vec![
                ("branch", String::new()),
                ("goarch", std::env::consts::ARCH.to_string()),
                ("goos", "linux".to_string()),
                ("goversion", "rustc".to_string()),
                ("revision", String::new()),
                ("tags", String::new()),
                ("version", env!("CARGO_PKG_VERSION").to_string()),
            ],
            1.0,
        )],
    );
}

/// The process's start time, memory and CPU time, as client_golang's process collector
/// names them.
pub(crate) fn process_families(out: &mut Vec<MetricFamily>, started: std::time::SystemTime) {
    use MetricType::{Counter, Gauge};
    let one = |v: f64| vec![(Vec::new(), v)];
    let started = started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    family(
        out,
        "process_start_time_seconds",
        Gauge,
        "Start time of the process since unix epoch in seconds.",
        one(started),
    );
    family(
        out,
        "process_resident_memory_bytes",
        Gauge,
        "Resident memory size in bytes.",
        one(proc_status_kb("VmRSS:") * 1024.0),
    );
    family(
        out,
        "process_virtual_memory_bytes",
        Gauge,
        "Virtual memory size in bytes.",
        one(proc_status_kb("VmSize:") * 1024.0),
    );
    family(
        out,
        "process_cpu_seconds_total",
        Counter,
        "Total user and system CPU time spent in seconds.",
        one(cpu_seconds()),
    );
}

/// The remote write queue metrics under Prometheus's names, per endpoint as Prometheus
/// labels them (`remote_name`, `url`), from one snapshot of each queue's counters.
pub(crate) fn remote_families(
    out: &mut Vec<MetricFamily>,
    queues: &[narthex_remote::QueueManager],
) {
    let remote: Vec<(String, String, narthex_remote::Stats)> = queues
        .iter()
        .map(|q| (q.options().name.clone(), q.options().url.clone(), q.stats()))
        .collect();
    use MetricType::{Counter, Gauge};
    let per = |f: &dyn Fn(&narthex_remote::Stats) -> f64| -> Vec<(Vec<(&str, String)>, f64)> {
        remote
            .iter()
            .map(|(name, url, st)| {
                (
                    vec![("remote_name", name.clone()), ("url", url.clone())],
                    f(st),
                )
            })
            .collect()
    };
    family(
        out,
        "prometheus_remote_storage_samples_total",
        Counter,
        "Total number of samples sent to remote storage.",
        per(&|st| st.samples_sent as f64),
    );
    family(
        out,
        "prometheus_remote_storage_samples_failed_total",
        Counter,
        "Total number of samples which failed on send to remote storage, non-recoverable errors.",
        per(&|st| st.failed as f64),
    );
    family(
        out,
        "prometheus_remote_storage_samples_retried_total",
        Counter,
        "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
        per(&|st| st.retried as f64),
    );
    family(
        out,
        "prometheus_remote_storage_samples_dropped_total",
        Counter,
        "Total number of samples which were dropped after being read from the WAL before being sent via remote write.",
        per(&|st| st.dropped as f64),
    );
    family(
        out,
        "prometheus_remote_storage_samples_pending",
        Gauge,
        "The number of samples pending in the queues shards to be sent to the remote storage.",
        per(&|st| st.pending as f64),
    );
    family(
        out,
        "prometheus_remote_storage_shards",
        Gauge,
        "The number of shards used for parallel sending to the remote storage.",
        per(&|st| st.shards as f64),
    );
    family(
        out,
        "prometheus_remote_storage_bytes_total",
        Counter,
        "The total number of bytes of data (not metadata) sent by the queue after compression.",
        per(&|st| st.bytes_sent as f64),
    );
    family(
        out,
        "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
        Gauge,
        "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.",
        per(&|st| st.highest_sent_timestamp as f64 / 1000.0),
    );
}

/// The server's own metrics under Prometheus's names where Prometheus has them.
async fn metrics(State(s): State<Arc<Server>>, headers: axum::http::HeaderMap) -> Response {
    let mut families = s.registry.gather();
    families.extend(collect_dynamic(&s).await);
    families.sort_by(|a, b| a.name.cmp(&b.name));
    exposition_response(&families, &headers)
}

/// A `/metrics` answer: the text format, OpenMetrics or protobuf, as the scraper's
/// `Accept` header asks (server and agent alike).
pub(crate) fn exposition_response(
    families: &[MetricFamily],
    headers: &axum::http::HeaderMap,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (body, content_type) = match narthex_exposition::negotiate(accept) {
        f @ narthex_exposition::Format::Protobuf => {
            (narthex_client::encode_protobuf(families), f.content_type())
        }
        narthex_exposition::Format::OpenMetrics => (
            narthex_exposition::write_openmetrics(families),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        _ => (
            narthex_exposition::write_text(families),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Counts every HTTP request by handler and status code, and times it, under Prometheus's
/// metric names.
pub(crate) async fn instrument(
    State(s): State<Arc<Server>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let handler = handler_label(req.uri().path());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let code = resp.status().as_u16().to_string();
    s.http_requests.with(&[&code, &handler]).inc();
    s.http_duration
        .with(&[&handler])
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// The route a path belongs to, as Prometheus labels handlers (`/api/v1/label/:name/values`).
fn handler_label(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/api/v1/label/")
        && rest.ends_with("/values")
    {
        return "/api/v1/label/:name/values".to_string();
    }
    path.to_string()
}
