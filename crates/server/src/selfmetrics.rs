//! The server's own metrics beyond those `web.rs` reads at scrape time: the engine's query
//! durations, scraping, rule groups, the TSDB's counters, configuration reloads and the
//! process's file descriptors, under Prometheus's names so that dashboards made for
//! Prometheus's self-monitoring work unchanged.

use std::sync::{Arc, Weak};

use narthex_client::{Family, Registry, Summary};
use narthex_exposition::MetricFamily;
use narthex_model::MetricType::{Counter, Gauge, Summary as SummaryType};
use std::sync::atomic::Ordering;

use crate::run::Server;
use crate::web::family;

/// Quantiles of `prometheus_engine_query_duration_seconds`, as Prometheus reports them.
const QUERY_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];
/// Quantiles of `prometheus_target_interval_length_seconds`.
const INTERVAL_QUANTILES: [f64; 5] = [0.01, 0.05, 0.5, 0.9, 0.99];

/// The engine's query timings, observed by the API after every query.
pub(crate) fn query_observer(registry: &Registry) -> narthex_http_api::QueryObserver {
    let durations: Arc<Family<Summary>> = registry.summary_family(
        "prometheus_engine_query_duration_seconds",
        "Query timings",
        &["slice"],
        QUERY_QUANTILES.to_vec(),
    );
    let samples = registry.counter(
        "prometheus_engine_query_samples_total",
        "The total number of samples loaded by all queries.",
    );
    let (eval, queue) = (
        durations.with(&["inner_eval"]),
        durations.with(&["queue_time"]),
    );
    narthex_http_api::QueryObserver(Arc::new(move |t| {
        crate::memory::note_activity();
        eval.observe(t.eval.as_secs_f64());
        queue.observe(t.queue.as_secs_f64());
        samples.inc_by(t.samples as f64);
    }))
}

/// Registers the collectors and observers; they hold the server weakly.
pub(crate) fn register(server: &Arc<Server>, api: &narthex_http_api::ApiState) {
    let intervals = server.registry.summary_family(
        "prometheus_target_interval_length_seconds",
        "Actual intervals between scrapes.",
        &["interval"],
        INTERVAL_QUANTILES.to_vec(),
    );
    if let Ok(m) = server.scrape.try_lock() {
        m.on_interval(Arc::new(move |configured_ms, actual| {
            intervals
                .with(&[&narthex_model::format_duration(configured_ms)])
                .observe(actual.as_secs_f64());
        }));
    }
    let weak: Weak<Server> = Arc::downgrade(server);
    let api = api.clone();
    server.registry.register_collector(move |out| {
        let Some(s) = weak.upgrade() else {
            return;
        };
        engine(&s, &api, out);
        config(&s, &api, out);
        tsdb(&s, out);
        scrape(&s, out);
        rules(&s, out);
        process(out);
    });
}

type Samples = Vec<(Vec<(&'static str, String)>, f64)>;

fn one(v: f64) -> Samples {
    vec![(vec![], v)]
}

fn engine(s: &Server, api: &narthex_http_api::ApiState, out: &mut Vec<MetricFamily>) {
    family(
        out,
        "prometheus_engine_queries",
        Gauge,
        "The current number of queries being executed or waiting.",
        one(api.queries_running() as f64),
    );
    family(
        out,
        "prometheus_engine_queries_concurrent_max",
        Gauge,
        "The max number of concurrent queries.",
        one(s.args.max_concurrency as f64),
    );
    // Prometheus's query log (`query_log_file`) is not implemented; the active query
    // log (`queries.active`) is always on.
    family(
        out,
        "prometheus_engine_query_log_enabled",
        Gauge,
        "State of the query log.",
        one(0.0),
    );
}

fn config(s: &Server, api: &narthex_http_api::ApiState, out: &mut Vec<MetricFamily>) {
    family(
        out,
        "prometheus_config_last_reload_successful",
        Gauge,
        "Whether the last configuration reload attempt was successful.",
        one(f64::from(u8::from(
            s.last_reload_ok.load(Ordering::Relaxed),
        ))),
    );
    family(
        out,
        "prometheus_config_last_reload_success_timestamp_seconds",
        Gauge,
        "Timestamp of the last successful configuration reload.",
        one(s.last_reload_ms.load(Ordering::Relaxed) as f64 / 1000.0),
    );
    family(
        out,
        "prometheus_ready",
        Gauge,
        "Whether Prometheus startup was fully completed and the server is ready for normal operation.",
        one(f64::from(u8::from(api.ready().get()))),
    );
}

fn tsdb(s: &Server, out: &mut Vec<MetricFamily>) {
    let m = s.db.metrics();
    let o = s.db.options();
    let float = |v: u64| vec![(vec![("type", "float".to_string())], v as f64)];
    let c = |out: &mut Vec<MetricFamily>, name: &str, help: &str, v: u64| {
        family(out, name, Counter, help, one(v as f64));
    };
    let g = |out: &mut Vec<MetricFamily>, name: &str, help: &str, v: f64| {
        family(out, name, Gauge, help, one(v));
    };
    c(
        out,
        "prometheus_tsdb_head_series_created_total",
        "Total number of series created in the head",
        m.head_series_created,
    );
    c(
        out,
        "prometheus_tsdb_head_series_removed_total",
        "Total number of series removed in the head",
        m.head_series_removed,
    );
    g(
        out,
        "prometheus_tsdb_head_chunks",
        "Total number of chunks in the head block.",
        m.head_chunks as f64,
    );
    c(
        out,
        "prometheus_tsdb_head_chunks_created_total",
        "Total number of chunks created in the head",
        m.head_chunks_created,
    );
    c(
        out,
        "prometheus_tsdb_head_chunks_removed_total",
        "Total number of chunks removed in the head",
        m.head_chunks_removed,
    );
    let (hmin, hmax) = if m.head_min_time <= m.head_max_time {
        (m.head_min_time, m.head_max_time)
    } else {
        (0, 0)
    };
    g(
        out,
        "prometheus_tsdb_head_min_time_seconds",
        "Minimum time bound of the head block.",
        hmin as f64 / 1000.0,
    );
    g(
        out,
        "prometheus_tsdb_head_max_time_seconds",
        "Maximum timestamp of the head block.",
        hmax as f64 / 1000.0,
    );
    c(
        out,
        "prometheus_tsdb_head_truncations_total",
        "Total number of head truncations attempted.",
        m.head_truncations,
    );
    c(
        out,
        "prometheus_tsdb_head_truncations_failed_total",
        "Total number of head truncations that failed.",
        m.head_truncations_failed,
    );
    g(
        out,
        "prometheus_tsdb_head_active_appenders",
        "Number of currently active appender transactions",
        m.active_appenders as f64,
    );
    family(
        out,
        "prometheus_tsdb_out_of_order_samples_total",
        Counter,
        "Total number of out of order samples ingestion failed attempts due to out of order being disabled.",
        float(m.out_of_order_samples),
    );
    family(
        out,
        "prometheus_tsdb_out_of_bound_samples_total",
        Counter,
        "Total number of out of bound samples ingestion failed attempts with out of order support disabled.",
        float(m.out_of_bound_samples),
    );
    family(
        out,
        "prometheus_tsdb_too_old_samples_total",
        Counter,
        "Total number of out of order samples ingestion failed attempts with out of support enabled, but sample outside of time window.",
        float(m.too_old_samples),
    );
    g(
        out,
        "prometheus_tsdb_wal_segment_current",
        "Write log segment index that TSDB is currently writing to.",
        m.wal_segment_current as f64,
    );
    c(
        out,
        "prometheus_tsdb_wal_page_flushes_total",
        "Total number of page flushes.",
        m.wal_page_flushes,
    );
    c(
        out,
        "prometheus_tsdb_wal_completed_pages_total",
        "Total number of completed pages.",
        m.wal_completed_pages,
    );
    family(
        out,
        "prometheus_tsdb_wal_fsync_duration_seconds",
        SummaryType,
        "Duration of write log fsync.",
        vec![],
    );
    if let Some(f) = out.last_mut() {
        f.samples = vec![
            narthex_exposition::FamilySample::new(
                "prometheus_tsdb_wal_fsync_duration_seconds_sum",
                &[],
                m.wal_fsync_seconds,
            ),
            narthex_exposition::FamilySample::new(
                "prometheus_tsdb_wal_fsync_duration_seconds_count",
                &[],
                m.wal_fsyncs as f64,
            ),
        ];
    }
    c(
        out,
        "prometheus_tsdb_wal_writes_failed_total",
        "Total number of write log writes that failed.",
        m.wal_writes_failed,
    );
    c(
        out,
        "prometheus_tsdb_wal_truncations_total",
        "Total number of write log truncations attempted.",
        m.wal_truncations,
    );
    c(
        out,
        "prometheus_tsdb_checkpoint_creations_total",
        "Total number of checkpoint creations attempted.",
        m.checkpoint_creations + m.checkpoint_creations_failed,
    );
    c(
        out,
        "prometheus_tsdb_checkpoint_creations_failed_total",
        "Total number of checkpoint creations that failed.",
        m.checkpoint_creations_failed,
    );
    c(
        out,
        "prometheus_tsdb_compactions_total",
        "Total number of compactions that were executed for the partition.",
        m.compactions,
    );
    c(
        out,
        "prometheus_tsdb_compactions_failed_total",
        "Total number of compactions that failed for the partition.",
        m.compactions_failed,
    );
    c(
        out,
        "prometheus_tsdb_compactions_triggered_total",
        "Total number of triggered compactions for the partition.",
        m.compactions_triggered,
    );
    c(
        out,
        "prometheus_tsdb_reloads_total",
        "Number of times the database reloaded block data from disk.",
        m.reloads,
    );
    c(
        out,
        "prometheus_tsdb_time_retentions_total",
        "The number of times that blocks were deleted because the maximum time limit was exceeded.",
        m.time_retentions,
    );
    c(
        out,
        "prometheus_tsdb_size_retentions_total",
        "The number of times that blocks were deleted because the maximum number of bytes was exceeded.",
        m.size_retentions,
    );
    let lowest = if m.lowest_timestamp == i64::MAX {
        0
    } else {
        m.lowest_timestamp
    };
    g(
        out,
        "prometheus_tsdb_lowest_timestamp",
        "Lowest timestamp value stored in the database. The unit is decided by the library consumer.",
        lowest as f64,
    );
    g(
        out,
        "prometheus_tsdb_lowest_timestamp_seconds",
        "Lowest timestamp value stored in the database.",
        (lowest / 1000) as f64,
    );
    g(
        out,
        "prometheus_tsdb_data_replay_duration_seconds",
        "Time taken to replay the data on disk.",
        m.replay_seconds,
    );
    g(
        out,
        "prometheus_tsdb_retention_limit_bytes",
        "Max number of bytes to be retained in the tsdb blocks, configured 0 means disabled",
        o.max_bytes as f64,
    );
    g(
        out,
        "prometheus_tsdb_retention_limit_seconds",
        "How long to retain samples in storage.",
        o.retention_duration as f64 / 1000.0,
    );
}

fn scrape(s: &Server, out: &mut Vec<MetricFamily>) {
    // Skipped (rarely) while a reload holds the manager.
    let Ok(m) = s.scrape.try_lock() else {
        return;
    };
    let sm = m.metrics();
    drop(m);
    let rows: [(&str, &str, u64); 12] = [
        (
            "prometheus_target_scrapes_sample_out_of_order_total",
            "Total number of samples rejected due to not being out of the expected order.",
            sm.samples_out_of_order,
        ),
        (
            "prometheus_target_scrapes_sample_duplicate_timestamp_total",
            "Total number of samples rejected due to duplicate timestamps but different values.",
            sm.samples_duplicate_timestamp,
        ),
        (
            "prometheus_target_scrapes_sample_out_of_bounds_total",
            "Total number of samples rejected due to timestamp falling out of the time bounds.",
            sm.samples_out_of_bounds,
        ),
        (
            "prometheus_target_scrapes_exceeded_sample_limit_total",
            "Total number of scrapes that hit the sample limit and were rejected.",
            sm.exceeded_sample_limit,
        ),
        (
            "prometheus_target_scrapes_exceeded_body_size_limit_total",
            "Total number of scrapes that hit the body size limit",
            sm.exceeded_body_size_limit,
        ),
        (
            "prometheus_target_scrapes_exceeded_native_histogram_bucket_limit_total",
            "Total number of scrapes that hit the native histogram bucket limit and were rejected.",
            sm.exceeded_native_histogram_bucket_limit,
        ),
        (
            "prometheus_target_scrape_pool_exceeded_label_limits_total",
            "Total number of times scrape pools hit the label limits, during sync or config reload.",
            sm.exceeded_label_limits,
        ),
        (
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
            "Total number of times scrape pools hit the target limit, during sync or config reload.",
            sm.exceeded_target_limit,
        ),
        (
            "prometheus_target_scrape_pools_total",
            "Total number of scrape pool creation attempts.",
            sm.pools,
        ),
        (
            "prometheus_target_scrape_pools_failed_total",
            "Total number of scrape pool creations that failed.",
            sm.pools_failed,
        ),
        (
            "prometheus_target_scrape_pool_reloads_total",
            "Total number of scrape pool reloads.",
            sm.pool_reloads,
        ),
        (
            "prometheus_target_scrape_pool_reloads_failed_total",
            "Total number of failed scrape pool reloads.",
            sm.pool_reloads_failed,
        ),
    ];
    for (name, help, v) in rows {
        family(out, name, Counter, help, one(v as f64));
    }
}

fn rules(s: &Server, out: &mut Vec<MetricFamily>) {
    let groups = s.rules.groups();
    if groups.is_empty() {
        return;
    }
    let key = |g: &narthex_rules::Group| vec![("rule_group", format!("{};{}", g.file(), g.name()))];
    let per = |f: &dyn Fn(&narthex_rules::Group) -> f64| -> Samples {
        groups.iter().map(|g| (key(g), f(g))).collect()
    };
    family(
        out,
        "prometheus_rule_group_interval_seconds",
        Gauge,
        "The interval of a rule group.",
        per(&|g| g.interval() as f64 / 1000.0),
    );
    family(
        out,
        "prometheus_rule_group_rules",
        Gauge,
        "The number of rules.",
        per(&|g| g.rules().len() as f64),
    );
    family(
        out,
        "prometheus_rule_group_last_duration_seconds",
        Gauge,
        "The duration of the last rule group evaluation.",
        per(&|g| g.last_evaluation().1.as_secs_f64()),
    );
    family(
        out,
        "prometheus_rule_group_last_evaluation_timestamp_seconds",
        Gauge,
        "The timestamp of the last rule group evaluation in seconds.",
        per(&|g| g.last_evaluation().0.map_or(0.0, |t| t as f64 / 1000.0)),
    );
    family(
        out,
        "prometheus_rule_group_iterations_total",
        Counter,
        "The total number of scheduled rule group evaluations, whether executed or missed.",
        per(&|g| {
            let m = g.metrics();
            (m.iterations + m.iterations_missed) as f64
        }),
    );
    family(
        out,
        "prometheus_rule_group_iterations_missed_total",
        Counter,
        "The total number of rule group evaluations missed due to slow rule group evaluation.",
        per(&|g| g.metrics().iterations_missed as f64),
    );
    family(
        out,
        "prometheus_rule_evaluations_total",
        Counter,
        "The total number of rule evaluations.",
        per(&|g| g.metrics().rule_evaluations as f64),
    );
    family(
        out,
        "prometheus_rule_evaluation_failures_total",
        Counter,
        "The total number of rule evaluation failures.",
        per(&|g| g.metrics().rule_failures as f64),
    );
}

fn process(out: &mut Vec<MetricFamily>) {
    if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
        family(
            out,
            "process_open_fds",
            Gauge,
            "Number of open file descriptors.",
            one(d.count() as f64),
        );
    }
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = |prefix: &str| -> Option<f64> {
        let line = limits.lines().find(|l| l.starts_with(prefix))?;
        let v = line[prefix.len()..].split_whitespace().next()?;
        Some(if v == "unlimited" {
            -1.0
        } else {
            v.parse().ok()?
        })
    };
    if let Some(v) = soft("Max open files") {
        family(
            out,
            "process_max_fds",
            Gauge,
            "Maximum number of open file descriptors.",
            one(v),
        );
    }
    if let Some(v) = soft("Max address space") {
        family(
            out,
            "process_virtual_memory_max_bytes",
            Gauge,
            "Maximum amount of virtual memory available in bytes.",
            one(v),
        );
    }
}
