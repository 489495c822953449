//! Agent mode (`narthex --agent`), after Prometheus's: discovery, scraping into a WAL-only
//! storage (`narthex_tsdb::agent::AgentDb` in `--storage.agent.path`), remote write from
//! that WAL, and the web listener with the lifecycle, status and target endpoints. No
//! blocks, no rules, no alerting, no local queries: the query endpoints answer
//! Prometheus's `unavailable with Prometheus Agent` error.
//!
//! Flags and configuration are checked as Prometheus checks them: server-only flags in
//! agent mode, and agent-only flags in server mode, stop the program with exit status 3
//! and Prometheus's message; `rule_files`, `alerting` and `remote_read` in the
//! configuration are refused with exit status 2.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use narthex_config::Config;
use narthex_discovery::{DiscoveryManager, ManagerOptions};
use narthex_exposition::MetricFamily;
use narthex_http_api::{Params, ProviderResult, StatusProvider};
use narthex_model::MetricType;
use narthex_scrape::ScrapeManager;
use narthex_tsdb::agent::{AgentDb, AgentOptions};
use tokio::sync::Mutex;

use crate::cli::ServerArgs;
use crate::reload::{self, now_ms};
use crate::web::family;

/// The agent's flags, with Prometheus's names and defaults.
#[derive(Clone, Debug, Args)]
pub(crate) struct AgentArgs {
    /// Run in agent mode: scrape and remote write from a WAL, without local storage,
    /// rules or queries.
    #[arg(long = "agent")]
    pub(crate) agent: bool,
    /// Base path for metrics storage in agent mode.
    #[arg(
        long = "storage.agent.path",
        default_value = "data-agent/",
        value_name = "PATH"
    )]
    pub(crate) path: PathBuf,
    /// Compress the agent WAL (`--no-storage.agent.wal-compression` or `=false` to turn
    /// it off).
    #[arg(
        long = "storage.agent.wal-compression",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_value = "true",
        default_missing_value = "true",
        action = clap::ArgAction::Set,
    )]
    pub(crate) wal_compression: bool,
    /// Do not compress the agent WAL.
    #[arg(long = "no-storage.agent.wal-compression")]
    pub(crate) no_wal_compression: bool,
    /// Size at which to split WAL segment files (B, KB, MB, ...).
    #[arg(
        long = "storage.agent.wal-segment-size",
        value_name = "SIZE",
        hide = true
    )]
    pub(crate) wal_segment_size: Option<String>,
    /// The frequency at which to truncate the WAL and remove old data.
    #[arg(
        long = "storage.agent.wal-truncate-frequency",
        value_name = "DURATION",
        hide = true
    )]
    pub(crate) truncate_frequency: Option<String>,
    /// Minimum age samples may be before being considered for deletion when the WAL is
    /// truncated.
    #[arg(long = "storage.agent.retention.min-time", value_name = "DURATION")]
    pub(crate) retention_min_time: Option<String>,
    /// Maximum age samples may be before being forcibly deleted when the WAL is
    /// truncated.
    #[arg(long = "storage.agent.retention.max-time", value_name = "DURATION")]
    pub(crate) retention_max_time: Option<String>,
    /// Do not create lockfile in data directory.
    #[arg(long = "storage.agent.no-lockfile")]
    pub(crate) no_lockfile: bool,
}

/// Flags of the server's storage, rules and queries: Prometheus refuses them in agent
/// mode (`serverOnlyFlag`). Clap argument ids and flag names.
const SERVER_ONLY: &[(&str, &str)] = &[
    ("storage_path", "storage.tsdb.path"),
    ("retention_time", "storage.tsdb.retention.time"),
    ("retention_size", "storage.tsdb.retention.size"),
    ("lookback_delta", "query.lookback-delta"),
    ("query_timeout", "query.timeout"),
    ("max_concurrency", "query.max-concurrency"),
    ("max_samples", "query.max-samples"),
    ("min_block_duration", "storage.tsdb.min-block-duration"),
    ("max_block_duration", "storage.tsdb.max-block-duration"),
    ("tsdb_wal_compression", "storage.tsdb.wal-compression"),
    ("no_tsdb_wal_compression", "no-storage.tsdb.wal-compression"),
    ("tsdb_no_lockfile", "storage.tsdb.no-lockfile"),
    (
        "remote_read_sample_limit",
        "storage.remote.read-sample-limit",
    ),
    (
        "remote_read_concurrent_limit",
        "storage.remote.read-concurrent-limit",
    ),
    (
        "remote_read_max_bytes_in_frame",
        "storage.remote.read-max-bytes-in-frame",
    ),
    ("max_concurrent_evals", "rules.max-concurrent-evals"),
];

/// Flags of the agent's storage: Prometheus refuses them in server mode
/// (`agentOnlyFlag`).
const AGENT_ONLY: &[(&str, &str)] = &[
    ("path", "storage.agent.path"),
    ("wal_compression", "storage.agent.wal-compression"),
    ("no_wal_compression", "no-storage.agent.wal-compression"),
    ("wal_segment_size", "storage.agent.wal-segment-size"),
    ("truncate_frequency", "storage.agent.wal-truncate-frequency"),
    ("retention_min_time", "storage.agent.retention.min-time"),
    ("retention_max_time", "storage.agent.retention.max-time"),
    ("no_lockfile", "storage.agent.no-lockfile"),
];

/// The flags of `list` given on the command line, in command-line order, as `--name`.
fn given(matches: &ArgMatches, list: &[(&str, &'static str)]) -> Vec<String> {
    let mut v: Vec<(usize, String)> = list
        .iter()
        .filter(|(id, _)| matches.value_source(id) == Some(ValueSource::CommandLine))
        .map(|(id, name)| (matches.index_of(id).unwrap_or(0), format!("--{name}")))
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_quoted(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| narthex_model::go_quote(s)).collect();
    format!("[{}]", items.join(" "))
}

/// Prometheus's check of mode-specific flags: the message (without a newline, as
/// Prometheus prints it) when flags of the other mode were given.
pub(crate) fn mode_flag_error(matches: &ArgMatches, agent: bool) -> Option<String> {
    if agent {
        let v = given(matches, SERVER_ONLY);
        (!v.is_empty()).then(|| {
            format!(
                "The following flag(s) can not be used in agent mode: {}",
                go_quoted(&v)
            )
        })
    } else {
        let v = given(matches, AGENT_ONLY);
        (!v.is_empty()).then(|| {
            format!(
                "The following flag(s) can only be used in agent mode: {}",
                go_quoted(&v)
            )
        })
    }
}

/// Runs the server or the agent as the flags say, after Prometheus's mode checks (exit
/// status 3 for flags of the other mode). `None` means server mode passed the checks:
/// the caller runs the server.
pub(crate) fn dispatch(
    matches: &ArgMatches,
    server: &ServerArgs,
    agent: &AgentArgs,
) -> Option<ExitCode> {
    if let Some(msg) = mode_flag_error(matches, agent.agent) {
        eprint!("{msg}");
        return Some(ExitCode::from(3));
    }
    if !agent.agent {
        return None;
    }
    Some(match run_agent(server.clone(), agent.clone()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(AgentExit::Config(e)) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(AgentExit::Other(e)) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    })
}

/// Why the agent stopped with an error.
pub(crate) enum AgentExit {
    /// The configuration is invalid (exit status 2, as Prometheus).
    Config(String),
    /// Anything else (exit status 1).
    Other(String),
}

impl From<String> for AgentExit {
    fn from(e: String) -> Self {
        AgentExit::Other(e)
    }
}

/// Loads the configuration as Prometheus's agent does: the fields agent mode has no use
/// for are refused with Prometheus's messages.
pub(crate) fn load_agent_config(path: Option<&Path>) -> Result<Config, String> {
    let cfg = match path {
        Some(p) => Config::load(p).map_err(|e| {
            format!(
                "error loading config from {:?}: {e}",
                p.display().to_string()
            )
        })?,
        None => Config::from_str(
            crate::run::DEFAULT_CONFIG,
            std::env::current_dir().unwrap_or_default(),
        )
        .map_err(|e| format!("error in the embedded default config: {e}"))?,
    };
    let refuse = |what: &str| {
        let file = path.map(|p| p.display().to_string()).unwrap_or_default();
        Err(format!(
            "Error loading config (--config.file={file}): field {what} is not allowed in agent mode"
        ))
    };
    if !cfg.alerting.alertmanagers.is_empty() || !cfg.alerting.alert_relabel_configs.is_empty() {
        return refuse("alerting");
    }
    if !cfg.rule_files.is_empty() {
        return refuse("rule_files");
    }
    if !cfg.remote_read.is_empty() {
        return refuse("remote_read");
    }
    Ok(cfg)
}

/// Settings derived from the agent flags.
struct Settings {
    options: AgentOptions,
    truncate_every: Duration,
}

fn settings(a: &AgentArgs) -> Result<Settings, String> {
    let dur = |flag: &str, v: &Option<String>| -> Result<Option<i64>, String> {
        v.as_deref()
            .map(|v| {
                narthex_model::parse_duration(v).map_err(|e| format!("invalid --{flag} {v:?}: {e}"))
            })
            .transpose()
    };
    let mut o = AgentOptions {
        wal_compression: a.wal_compression && !a.no_wal_compression,
        no_lockfile: a.no_lockfile,
        ..AgentOptions::default()
    };
    if let Some(s) = &a.wal_segment_size {
        o.wal_segment_size = crate::units::parse_bytes(s)
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("invalid --storage.agent.wal-segment-size {s:?}"))?
            as usize;
    }
    // Prometheus's validation: non-positive values take the defaults, the maximum is at
    // least the minimum and at least the truncation interval.
    let truncate = dur(
        "storage.agent.wal-truncate-frequency",
        &a.truncate_frequency,
    )?
    .filter(|v| *v > 0)
    .unwrap_or(narthex_tsdb::agent::DEFAULT_TRUNCATE_FREQUENCY.as_millis() as i64);
    if let Some(v) = dur("storage.agent.retention.min-time", &a.retention_min_time)?
        && v > 0
    {
        o.min_wal_time = v;
    }
    if let Some(v) = dur("storage.agent.retention.max-time", &a.retention_max_time)?
        && v > 0
    {
        o.max_wal_time = v;
    }
    o.max_wal_time = o.max_wal_time.max(o.min_wal_time).max(truncate);
    Ok(Settings {
        options: o,
        truncate_every: Duration::from_millis(truncate as u64),
    })
}

/// The running agent, as reloads and HTTP handlers reach it.
pub(crate) struct Agent {
    db: Arc<AgentDb>,
    scrape: Mutex<ScrapeManager>,
    discovery: DiscoveryManager,
    remote: Mutex<Vec<narthex_remote::QueueManager>>,
    registry: narthex_client::Registry,
    http_requests: Arc<narthex_client::Family<narthex_client::Counter>>,
    http_duration: Arc<narthex_client::Family<narthex_client::Histogram>>,
    config_file: Option<PathBuf>,
    config: Mutex<Arc<Config>>,
    started: std::time::SystemTime,
    args: ServerArgs,
    agent_args: AgentArgs,
    last_reload_ok: AtomicBool,
    last_reload_ms: AtomicI64,
}

impl Agent {
    /// Reloads the configuration (file or embedded); the running one stays on failure.
    pub(crate) async fn reload(&self) -> Result<(), String> {
        let r = async {
            let cfg = load_agent_config(self.config_file.as_deref())?;
            self.apply(&cfg).await?;
            *self.config.lock().await = Arc::new(cfg);
            Ok::<(), String>(())
        }
        .await;
        reload::record(&r, &self.last_reload_ok, &self.last_reload_ms);
        r
    }

    async fn apply(&self, cfg: &Config) -> Result<(), String> {
        let (jobs, providers) = reload::scrape_jobs(cfg);
        self.scrape
            .lock()
            .await
            .apply(jobs)
            .await
            .map_err(|e| e.to_string())?;
        self.discovery.apply(providers);
        reload::apply_remote_write(&self.remote, cfg, self.db.wal_dir()).await
    }

    /// One truncation of the WAL, with the cut-off and the unsent segments taken from
    /// the remote write queues.
    async fn truncate(&self) {
        let (lowest_sent, unsent_from) = {
            let remote = self.remote.lock().await;
            let stats: Vec<_> = remote.iter().map(|q| q.stats()).collect();
            let lowest = stats
                .iter()
                .map(|s| s.highest_sent_timestamp)
                .min()
                .unwrap_or(0);
            let unsent = stats.iter().map(|s| s.acked_position.segment).min();
            (lowest, unsent)
        };
        let db = Arc::clone(&self.db);
        let r = tokio::task::spawn_blocking(move || {
            let now = now_ms();
            let mint = db.truncation_mint(lowest_sent, now);
            db.truncate(mint, unsent_from, now)
        })
        .await;
        match r {
            Ok(Ok(t)) => tracing::info!(
                series_removed = t.series_removed,
                checkpoint = ?t.checkpoint,
                "agent WAL truncated"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "failed to truncate WAL"),
            Err(e) => tracing::error!(error = %e, "WAL truncation task failed"),
        }
    }
}

/// Runs the agent until SIGTERM or SIGINT.
pub(crate) fn run_agent(args: ServerArgs, agent: AgentArgs) -> Result<(), AgentExit> {
    crate::log::init(&args.log_level, &args.log_format);
    crate::run::log_flags(&args);
    let cfg = load_agent_config(args.config_file.as_deref()).map_err(AgentExit::Config)?;
    let s = settings(&agent)?;
    tracing::info!(
        mode = "agent",
        version = env!("CARGO_PKG_VERSION"),
        "Starting Narthex Agent"
    );
    let db = Arc::new(
        AgentDb::open(&agent.path, s.options)
            .map_err(|e| format!("opening storage {}: {e}", agent.path.display()))?,
    );
    let r = db.replay_report();
    tracing::info!(series = r.series, samples = r.samples, "agent WAL replayed");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = runtime.block_on(serve(Arc::clone(&db), cfg, args, agent, s.truncate_every));
    runtime.shutdown_timeout(Duration::from_secs(5));
    db.close().map_err(|e| e.to_string())?;
    tracing::info!("see you next time");
    result.map_err(AgentExit::Other)
}

async fn serve(
    db: Arc<AgentDb>,
    cfg: Config,
    args: ServerArgs,
    agent_args: AgentArgs,
    truncate_every: Duration,
) -> Result<(), String> {
    let seed = xxhash_rust::xxh64::xxh64(
        format!("{:?}{:?}", hostname(), cfg.global.external_labels).as_bytes(),
        0,
    );
    let (discovery, mut updates) = DiscoveryManager::new(ManagerOptions::default());
    let registry = narthex_client::Registry::new();
    let http_requests = registry.counter_family(
        "prometheus_http_requests_total",
        "Counter of HTTP requests.",
        &["code", "handler"],
    );
    let http_duration = registry.histogram_family(
        "prometheus_http_request_duration_seconds",
        "Histogram of latencies for HTTP requests.",
        &["handler"],
        vec![0.1, 0.2, 0.4, 1.0, 3.0, 8.0, 20.0, 60.0, 120.0],
    );
    let agent = Arc::new(Agent {
        scrape: Mutex::new(ScrapeManager::new(db.clone(), seed)),
        discovery,
        remote: Mutex::new(Vec::new()),
        registry,
        http_requests,
        http_duration,
        db: Arc::clone(&db),
        config_file: args.config_file.clone(),
        config: Mutex::new(Arc::new(cfg.clone())),
        started: std::time::SystemTime::now(),
        args: args.clone(),
        agent_args,
        last_reload_ok: AtomicBool::new(true),
        last_reload_ms: AtomicI64::new(now_ms()),
    });
    agent.apply(&cfg).await?;
    let feeder = {
        let agent = Arc::clone(&agent);
        tokio::spawn(async move {
            while let Some(sets) = updates.recv().await {
                let mut m = agent.scrape.lock().await;
                for (job, groups) in sets {
                    m.sync(&job, groups);
                }
            }
        })
    };
    let truncator = {
        let agent = Arc::clone(&agent);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(truncate_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // The first tick is immediate: skip it, as Prometheus.
            loop {
                tick.tick().await;
                agent.truncate().await;
            }
        })
    };

    let listener = crate::listen::bind(&args).await?;
    let api = narthex_http_api::ApiState::new(
        Arc::new(narthex_storage::MemStorage::new()),
        narthex_promql::Engine::new(narthex_promql::EngineOptions::default()),
    )
    .with_status(Arc::new(AgentStatus(Arc::clone(&agent))));
    let ready = api.ready().clone();
    let mut app = router(Arc::clone(&agent))
        .merge(narthex_http_api::router(api))
        .merge(narthex_web_ui::router());
    if args.enable_remote_write_receiver {
        // As Prometheus's agent: what is received goes into the WAL and is forwarded.
        app = app.merge(narthex_remote::router(db.clone()));
    }
    let app = app.layer(axum::middleware::from_fn(agent_guard)).layer(
        axum::middleware::from_fn_with_state(Arc::clone(&agent), instrument),
    );
    let app = crate::run::under_prefix(app, &crate::run::route_prefix(&args));
    ready.set(true);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = listener.serve(app, stop_rx);

    reload::until_stopped(|| agent.reload()).await?;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    let _ = http.await;
    truncator.abort();
    feeder.abort();
    let scrape = std::mem::replace(
        &mut *agent.scrape.lock().await,
        ScrapeManager::new(db.clone(), 0),
    );
    scrape.stop().await;
    for q in agent.remote.lock().await.drain(..) {
        q.stop().await;
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Paths Prometheus's agent answers with `unavailable with Prometheus Agent`
/// (`wrapAgent` in its API): queries, series and label lookups, exemplars, rules, alerts,
/// Alertmanagers, TSDB status and the admin API.
fn agent_unavailable(path: &str) -> bool {
    const EXACT: &[&str] = &[
        "/api/v1/query",
        "/api/v1/query_range",
        "/api/v1/query_exemplars",
        "/api/v1/format_query",
        "/api/v1/parse_query",
        "/api/v1/labels",
        "/api/v1/series",
        "/api/v1/alertmanagers",
        "/api/v1/status/tsdb",
        "/api/v1/status/tsdb/blocks",
        "/api/v1/rules",
        "/api/v1/alerts",
    ];
    EXACT.contains(&path)
        || path.starts_with("/api/v1/admin/tsdb/")
        || (path.starts_with("/api/v1/label/") && path.ends_with("/values"))
}

/// Answers the agent-unavailable paths with Prometheus's error (422, `execution`).
async fn agent_guard(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if agent_unavailable(req.uri().path()) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"error","errorType":"execution","error":"unavailable with Prometheus Agent"}"#,
        )
            .into_response();
    }
    next.run(req).await
}

fn router(agent: Arc<Agent>) -> Router {
    Router::new()
        .route("/-/reload", post(reload).put(reload))
        .route("/metrics", get(metrics))
        .with_state(agent)
}

async fn reload(State(a): State<Arc<Agent>>) -> Response {
    if !a.args.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    match a.reload().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}"),
        )
            .into_response(),
    }
}

/// Counts and times every request under Prometheus's metric names.
async fn instrument(
    State(a): State<Arc<Agent>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let handler = if path.starts_with("/api/v1/label/") && path.ends_with("/values") {
        "/api/v1/label/:name/values".to_string()
    } else {
        path.to_string()
    };
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let code = resp.status().as_u16().to_string();
    a.http_requests.with(&[&code, &handler]).inc();
    a.http_duration
        .with(&[&handler])
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// The agent's metrics read at scrape time: storage (Prometheus's `prometheus_agent_*`),
/// targets, remote write, the process.
async fn collect_dynamic(a: &Agent) -> Vec<MetricFamily> {
    use MetricType::{Counter, Gauge};
    let mut out = Vec::new();
    let st = a.db.stats();
    let one = |v: f64| vec![(Vec::new(), v)];
    crate::web::build_info(&mut out);
    family(
        &mut out,
        "prometheus_agent_active_series",
        Gauge,
        "Number of active series being tracked by the WAL storage",
        one(st.active_series as f64),
    );
    family(
        &mut out,
        "prometheus_agent_deleted_series",
        Gauge,
        "Number of series pending deletion from the WAL",
        one(st.deleted_series as f64),
    );
    family(
        &mut out,
        "prometheus_agent_samples_appended_total",
        Counter,
        "Total number of samples appended to the storage",
        vec![
            (
                vec![("type", "float".to_string())],
                st.samples_appended as f64,
            ),
            (
                vec![("type", "histogram".to_string())],
                st.histograms_appended as f64,
            ),
        ],
    );
    family(
        &mut out,
        "prometheus_agent_exemplars_appended_total",
        Counter,
        "Total number of exemplars appended to the storage",
        one(st.exemplars_appended as f64),
    );
    family(
        &mut out,
        "prometheus_agent_out_of_order_samples_total",
        Counter,
        "Total number of out of order samples ingestion failed attempts.",
        one(st.out_of_order_samples as f64),
    );
    family(
        &mut out,
        "prometheus_agent_corruptions_total",
        Counter,
        "Total number of WAL corruptions.",
        one(st.corruptions as f64),
    );
    family(
        &mut out,
        "prometheus_agent_data_replay_duration_seconds",
        Gauge,
        "Time taken to replay the data on disk.",
        one(st.replay_seconds),
    );
    family(
        &mut out,
        "prometheus_agent_checkpoint_creations_total",
        Counter,
        "Total number of checkpoint creations attempted.",
        one(st.checkpoint_creations as f64),
    );
    family(
        &mut out,
        "prometheus_agent_checkpoint_creations_failed_total",
        Counter,
        "Total number of checkpoint creations that failed.",
        one(st.checkpoint_creations_failed as f64),
    );
    let truncate = "prometheus_agent_truncate_duration_seconds";
    out.push(MetricFamily {
        name: truncate.to_string(),
        help: Some("Duration of WAL truncation.".to_string()),
        metric_type: MetricType::Summary,
        unit: None,
        samples: vec![
            narthex_exposition::FamilySample::new(
                format!("{truncate}_sum"),
                &[],
                st.truncate_seconds,
            ),
            narthex_exposition::FamilySample::new(
                format!("{truncate}_count"),
                &[],
                st.truncations as f64,
            ),
        ],
    });
    let mut per_pool: std::collections::BTreeMap<String, f64> = Default::default();
    for t in a
        .scrape
        .lock()
        .await
        .pools()
        .flat_map(|p| p.active_targets())
    {
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
    crate::web::remote_families(&mut out, &a.remote.lock().await);
    crate::web::process_families(&mut out, a.started);
    out
}

async fn metrics(State(a): State<Arc<Agent>>, headers: axum::http::HeaderMap) -> Response {
    let mut families = a.registry.gather();
    families.extend(collect_dynamic(&a).await);
    families.sort_by(|x, y| x.name.cmp(&y.name));
    crate::web::exposition_response(&families, &headers)
}

/// What the agent tells the status endpoints.
struct AgentStatus(Arc<Agent>);

impl StatusProvider for AgentStatus {
    fn build_info(&self) -> ProviderResult {
        let v: std::collections::BTreeMap<&str, &str> = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", ""),
            ("branch", ""),
            ("buildUser", ""),
            ("buildDate", ""),
            ("goVersion", "rustc"),
        ]
        .into_iter()
        .collect();
        crate::status::json(&v)
    }

    fn runtime_info(&self) -> ProviderResult {
        let a = &self.0;
        let started = a
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .ok();
        crate::status::json(&serde_json::json!({
            "startTime": crate::status::rfc3339(started),
            "CWD": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
            "reloadConfigSuccess": a.last_reload_ok.load(Ordering::Relaxed),
            "lastConfigTime": crate::status::rfc3339(Some(a.last_reload_ms.load(Ordering::Relaxed))),
            "corruptionCount": a.db.stats().corruptions,
            "goroutineCount": 0,
            "GOMAXPROCS": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "GOMEMLIMIT": i64::MAX,
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": "",
        }))
    }

    fn flags(&self) -> ProviderResult {
        let a = &self.0;
        let mut m = a.args.flag_map();
        for (_, name) in SERVER_ONLY {
            m.remove(name);
        }
        let g = &a.agent_args;
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        m.insert("agent", "true".into());
        m.insert("storage.agent.path", g.path.display().to_string());
        m.insert(
            "storage.agent.wal-compression",
            (g.wal_compression && !g.no_wal_compression).to_string(),
        );
        m.insert(
            "storage.agent.retention.min-time",
            opt(&g.retention_min_time),
        );
        m.insert(
            "storage.agent.retention.max-time",
            opt(&g.retention_max_time),
        );
        m.insert("storage.agent.no-lockfile", g.no_lockfile.to_string());
        crate::status::json(&m)
    }

    fn config(&self) -> ProviderResult {
        crate::status::config_yaml(self.0.config_file.as_deref())
    }

    fn targets(&self, params: &Params) -> ProviderResult {
        crate::status::targets(&self.0.scrape, params)
    }

    fn scrape_pools(&self) -> ProviderResult {
        crate::status::scrape_pools(&self.0.scrape)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    fn check(args: &[&str]) -> Option<String> {
        let m = crate::cli::Cli::command()
            .try_get_matches_from(std::iter::once("narthex").chain(args.iter().copied()))
            .expect("parses");
        let cli = crate::cli::Cli::from_arg_matches(&m).expect("parses");
        mode_flag_error(&m, cli.agent.agent)
    }

    #[test]
    fn mode_specific_flags_are_refused_as_prometheus_does() {
        assert_eq!(check(&["--agent"]), None);
        assert_eq!(check(&["--agent", "--storage.agent.path=x"]), None);
        assert_eq!(check(&["--storage.tsdb.path=x"]), None);
        assert_eq!(
            check(&["--agent", "--storage.tsdb.path=."]).as_deref(),
            Some(r#"The following flag(s) can not be used in agent mode: ["--storage.tsdb.path"]"#)
        );
        assert_eq!(
            check(&[
                "--query.timeout=1m",
                "--agent",
                "--storage.tsdb.retention.time=1d"
            ])
            .as_deref(),
            Some(
                r#"The following flag(s) can not be used in agent mode: ["--query.timeout" "--storage.tsdb.retention.time"]"#
            )
        );
        assert_eq!(
            check(&["--storage.agent.path=x"]).as_deref(),
            Some(
                r#"The following flag(s) can only be used in agent mode: ["--storage.agent.path"]"#
            )
        );
        assert_eq!(
            check(&[
                "--storage.agent.no-lockfile",
                "--storage.agent.wal-compression=false"
            ])
            .as_deref(),
            Some(
                r#"The following flag(s) can only be used in agent mode: ["--storage.agent.no-lockfile" "--storage.agent.wal-compression"]"#
            )
        );
    }

    #[test]
    fn agent_settings_follow_prometheus_validation() {
        let m = crate::cli::Cli::command()
            .try_get_matches_from([
                "narthex",
                "--agent",
                "--storage.agent.retention.min-time=10m",
                "--storage.agent.retention.max-time=1h",
                "--storage.agent.wal-compression=false",
            ])
            .unwrap();
        let cli = crate::cli::Cli::from_arg_matches(&m).unwrap();
        let s = settings(&cli.agent).unwrap();
        assert_eq!(s.options.min_wal_time, 600_000);
        // The maximum is raised to the truncation interval (2h).
        assert_eq!(s.options.max_wal_time, 7_200_000);
        assert!(!s.options.wal_compression);
        assert_eq!(s.truncate_every, Duration::from_secs(7200));
    }

    #[test]
    fn query_paths_are_unavailable() {
        for p in [
            "/api/v1/query",
            "/api/v1/query_range",
            "/api/v1/series",
            "/api/v1/labels",
            "/api/v1/label/job/values",
            "/api/v1/rules",
            "/api/v1/admin/tsdb/snapshot",
        ] {
            assert!(agent_unavailable(p), "{p}");
        }
        for p in [
            "/api/v1/targets",
            "/api/v1/status/config",
            "/api/v1/status/flags",
            "/metrics",
            "/-/ready",
        ] {
            assert!(!agent_unavailable(p), "{p}");
        }
    }
}
