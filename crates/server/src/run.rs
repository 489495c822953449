//! Running the server: configuration, storage, discovery, scraping, compaction and the
//! HTTP API, wired together; reloads on SIGHUP and `POST /-/reload`; a graceful stop on
//! SIGTERM or SIGINT (scrapes stop, the WAL is flushed and the database closed).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::time::Duration;

use narthex_config::Config;
use narthex_discovery::{DiscoveryManager, ManagerOptions};
use narthex_scrape::ScrapeManager;
use narthex_tsdb::{Db, Options};
use tokio::sync::Mutex;

use crate::cli::ServerArgs;
use crate::convert;
use crate::reload::{self, now_ms};

/// The configuration `narthex` runs with when given no `--config.file`: it scrapes
/// itself, as Prometheus's example configuration does (same job name, so dashboards
/// written for Prometheus's self-monitoring work).
pub(crate) const DEFAULT_CONFIG: &str = "\
global:
  scrape_interval: 15s
  evaluation_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['localhost:9090']
";

/// Discovery provider names of `alerting.alertmanagers` entries: this prefix and the index.
/// (A scrape job of that name would collide; job names rarely contain a slash.)
const AM_PROVIDER: &str = "alertmanager/";

/// The running parts a reload or the HTTP handlers reach.
pub(crate) struct Server {
    pub(crate) db: Arc<Db>,
    pub(crate) scrape: Mutex<ScrapeManager>,
    pub(crate) discovery: DiscoveryManager,
    pub(crate) rules: narthex_rules::RuleManager,
    pub(crate) notifier: Arc<narthex_rules::Notifier>,
    /// One sender per `remote_write` entry (restarted on reload; each resumes from its
    /// position file).
    pub(crate) remote: Mutex<Vec<narthex_remote::QueueManager>>,
    /// Metrics updated as things happen (the rest are read when scraped).
    pub(crate) registry: narthex_client::Registry,
    pub(crate) http_requests: Arc<narthex_client::Family<narthex_client::Counter>>,
    pub(crate) http_duration: Arc<narthex_client::Family<narthex_client::Histogram>>,
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) config: Mutex<Arc<Config>>,
    pub(crate) started: std::time::SystemTime,
    pub(crate) args: ServerArgs,
    /// Whether the last (re)load succeeded, and when it happened (ms since the epoch).
    pub(crate) last_reload_ok: AtomicBool,
    pub(crate) last_reload_ms: AtomicI64,
}

fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| {
            format!(
                "error loading config from {:?}: {e}",
                p.display().to_string()
            )
        }),
        None => Config::from_str(DEFAULT_CONFIG, std::env::current_dir().unwrap_or_default())
            .map_err(|e| format!("error in the embedded default config: {e}")),
    }
}

/// Storage options from the flags and the `storage:` section of the configuration. The
/// retention flags win over `storage.tsdb.retention`, as in Prometheus 3; without either,
/// time retention is 15 days unless a size limit is set.
fn db_options(args: &ServerArgs, cfg: &Config) -> Result<Options, String> {
    let mut o = Options {
        out_of_order_time_window: cfg.storage.out_of_order_time_window,
        wal_compression: args.tsdb_wal_compression && !args.no_tsdb_wal_compression,
        chunk_range: flag_duration("storage.tsdb.min-block-duration", &args.min_block_duration)?,
        ..Options::default()
    };
    if o.chunk_range <= 0 {
        return Err("--storage.tsdb.min-block-duration must be positive".into());
    }
    o.retention_duration = match &args.retention_time {
        Some(t) => flag_duration("storage.tsdb.retention.time", t)?,
        None => cfg.storage.retention_time.unwrap_or(0),
    };
    o.max_bytes = match &args.retention_size {
        Some(s) => crate::units::parse_bytes(s)
            .ok_or_else(|| format!("invalid --storage.tsdb.retention.size {s:?}"))?,
        None => cfg.storage.retention_size.unwrap_or(0),
    };
    if o.retention_duration == 0 && o.max_bytes == 0 {
        o.retention_duration = Options::default().retention_duration;
    }
    o.max_block_duration = match &args.max_block_duration {
        Some(d) => flag_duration("storage.tsdb.max-block-duration", d)?,
        // Prometheus: the largest block is a tenth of the retention, at most 31 days (31
        // days without time retention).
        None => match o.retention_duration {
            0 => 31 * 24 * 3_600_000,
            ret => (ret / 10).min(31 * 24 * 3_600_000),
        },
    };
    o.max_block_duration = o.max_block_duration.max(o.chunk_range);
    Ok(o)
}

impl Server {
    /// Applies the configuration (file or embedded) to the scrape manager.
    pub(crate) async fn reload(&self) -> Result<(), String> {
        let r = async {
            let cfg = load_config(self.config_file.as_deref())?;
            self.apply(&cfg).await?;
            *self.config.lock().await = Arc::new(cfg);
            Ok::<(), String>(())
        }
        .await;
        reload::record(&r, &self.last_reload_ok, &self.last_reload_ms);
        r
    }

    async fn apply(&self, cfg: &Config) -> Result<(), String> {
        self.db
            .set_out_of_order_time_window(cfg.storage.out_of_order_time_window);
        let (jobs, mut providers) = reload::scrape_jobs(cfg);
        self.scrape
            .lock()
            .await
            .apply(jobs)
            .await
            .map_err(|e| e.to_string())?;
        for (i, am) in cfg.alerting.alertmanagers.iter().enumerate() {
            providers.insert(
                format!("{AM_PROVIDER}{i}"),
                convert::discovery(&am.service_discovery),
            );
        }
        for (i, am) in cfg.alerting.alertmanagers.iter().enumerate() {
            // TLS files are read now, so a bad one fails the (re)load as in Prometheus.
            let _client = narthex_http::client_builder(&convert::http_settings(&am.http_client))
                .map_err(|e| format!("alertmanagers[{i}]: error creating HTTP client: {e}"))?;
        }
        self.discovery.apply(providers);
        self.notifier.set_options(
            cfg.global.external_labels.clone(),
            cfg.alerting.alert_relabel_configs.clone(),
        );
        reload::apply_remote_write(&self.remote, cfg, &self.args.storage_path.join("wal")).await?;
        self.rules.update(&cfg.rule_files).map_err(|errs| {
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        Ok(())
    }
}

/// Runs the server until SIGTERM or SIGINT.
pub(crate) fn run(args: ServerArgs) -> Result<(), String> {
    crate::log::init(&args.log_level, &args.log_format);
    log_flags(&args);
    let cfg = load_config(args.config_file.as_deref())?;
    let options = db_options(&args, &cfg)?;
    let db = Arc::new(
        Db::open(&args.storage_path, options)
            .map_err(|e| format!("opening storage {}: {e}", args.storage_path.display()))?,
    );
    let r = db.replay_report();
    tracing::info!(
        series = r.series,
        samples = r.samples,
        blocks = db.blocks().len(),
        "TSDB started"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = runtime.block_on(serve(Arc::clone(&db), cfg, args));
    runtime.shutdown_timeout(Duration::from_secs(5));
    match Arc::try_unwrap(db) {
        Ok(db) => db.close().map_err(|e| e.to_string())?,
        Err(_) => {
            tracing::warn!("storage still in use at exit; the WAL was written on every commit")
        }
    }
    tracing::info!("see you next time");
    result
}

async fn serve(db: Arc<Db>, cfg: Config, args: ServerArgs) -> Result<(), String> {
    let seed = xxhash_rust::xxh64::xxh64(
        format!("{:?}{:?}", hostname(), cfg.global.external_labels).as_bytes(),
        0,
    );
    let (discovery, mut updates) = DiscoveryManager::new(ManagerOptions::default());
    let notifier = narthex_rules::Notifier::new(narthex_rules::NotifierOptions {
        external_labels: cfg.global.external_labels.clone(),
        relabel: cfg.alerting.alert_relabel_configs.clone(),
        queue_capacity: args.notification_queue_capacity,
        ..Default::default()
    });
    let notifier_task = tokio::spawn(Arc::clone(&notifier).run());
    let rules = narthex_rules::RuleManager::new(
        db.clone(),
        db.clone(),
        narthex_rules::ManagerOptions {
            group: group_options(&args, &cfg)?,
            engine: engine(&args)?,
            notify: Some({
                let n = Arc::clone(&notifier);
                Arc::new(move |alerts| n.send(alerts))
            }),
        },
    );
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
    let server = Arc::new(Server {
        rules,
        notifier,
        registry,
        remote: Mutex::new(Vec::new()),
        http_requests,
        http_duration,
        scrape: Mutex::new(ScrapeManager::new(db.clone(), seed)),
        discovery,
        db: Arc::clone(&db),
        config_file: args.config_file.clone(),
        config: Mutex::new(Arc::new(cfg.clone())),
        started: std::time::SystemTime::now(),
        args: args.clone(),
        last_reload_ok: AtomicBool::new(true),
        last_reload_ms: AtomicI64::new(now_ms()),
    });
    server.apply(&cfg).await?;
    // Discovery's view of every job, handed to the scrape pools.
    let feeder =
        {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                while let Some(sets) = updates.recv().await {
                    let cfg = Arc::clone(&*server.config.lock().await);
                    let mut m = server.scrape.lock().await;
                    // One notifier set per `alertmanagers` entry, in configuration order.
                    let mut ams: Vec<narthex_rules::AlertmanagerSet> = cfg
                        .alerting
                        .alertmanagers
                        .iter()
                        .map(|am| convert::alertmanager_set(am, &[]))
                        .collect();
                    for (job, groups) in sets {
                        match job.strip_prefix(AM_PROVIDER) {
                            Some(i) => {
                                if let Some((i, am)) = i.parse::<usize>().ok().and_then(|i| {
                                    cfg.alerting.alertmanagers.get(i).map(|am| (i, am))
                                }) {
                                    ams[i] = convert::alertmanager_set(am, &groups);
                                }
                            }
                            None => m.sync(&job, groups),
                        }
                    }
                    server.notifier.set_alertmanager_sets(ams);
                }
            })
        };

    // Compaction and retention, once a minute as Prometheus does.
    let trimmer = crate::memory::spawn_trimmer();
    let compactor = {
        let db = Arc::clone(&db);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let db = Arc::clone(&db);
                crate::memory::note_activity();
                match tokio::task::spawn_blocking(move || db.compact()).await {
                    Ok(Ok(r))
                        if !r.head_blocks.is_empty()
                            || !r.merged_blocks.is_empty()
                            || !r.deleted_blocks.is_empty() =>
                    {
                        tracing::info!(
                            written = r.head_blocks.len(),
                            merged = r.merged_blocks.len(),
                            deleted = r.deleted_blocks.len(),
                            "compaction"
                        )
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "compaction failed"),
                    Err(e) => tracing::error!(error = %e, "compaction task failed"),
                }
            }
        })
    };

    let listener = crate::listen::bind(&args).await?;
    let (active_queries, unfinished) =
        narthex_http_api::ActiveQueryLog::open(&args.storage_path, args.max_concurrency)
            .map_err(|e| format!("opening the active query log: {e}"))?;
    if !unfinished.is_empty() {
        tracing::warn!("These queries didn't finish in the last run:");
        for q in &unfinished {
            tracing::warn!(query = %q, "unfinished query");
        }
    }
    let cors_origin = narthex_model::FastRegex::new(&args.cors_origin).map_err(|e| {
        format!(
            "could not compile CORS regex string {:?}: {e}",
            args.cors_origin
        )
    })?;
    let api = narthex_http_api::ApiState::new(db.clone(), engine(&args)?)
        .with_options(narthex_http_api::ApiOptions {
            max_concurrency: args.max_concurrency,
            cors_origin: Some(cors_origin),
            active_queries: Some(Arc::new(active_queries)),
            on_query: Some(crate::selfmetrics::query_observer(&server.registry)),
            ..Default::default()
        })
        .with_status(Arc::new(crate::status::ServerStatus(Arc::clone(&server))));
    crate::selfmetrics::register(&server, &api);
    let ready = api.ready().clone();
    let mut app = crate::web::router(Arc::clone(&server))
        .merge(narthex_http_api::router(api))
        .merge(narthex_web_ui::router())
        .merge(narthex_remote::read_router(
            db.clone(),
            narthex_remote::ReceiverOptions {
                read_sample_limit: args.remote_read_sample_limit,
                ..Default::default()
            },
        ));
    if args.enable_remote_write_receiver {
        app = app.merge(narthex_remote::router(db.clone()));
    }
    let app = app.layer(axum::middleware::from_fn_with_state(
        Arc::clone(&server),
        crate::web::instrument,
    ));
    let app = under_prefix(app, &route_prefix(&args));
    ready.set(true);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = listener.serve(app, stop_rx);

    let watcher = auto_reload(&server, &args)?;
    reload::until_stopped(|| server.reload()).await?;
    tracing::info!("stopping");
    if let Some(w) = watcher {
        w.abort();
    }
    let _ = stop_tx.send(true);
    let _ = http.await;
    compactor.abort();
    trimmer.abort();
    feeder.abort();
    let scrape = std::mem::replace(
        &mut *server.scrape.lock().await,
        ScrapeManager::new(db.clone(), 0),
    );
    scrape.stop().await;
    server.rules.stop().await;
    for q in server.remote.lock().await.drain(..) {
        q.stop().await;
    }
    notifier_task.abort();
    Ok(())
}

/// With `--enable-feature=auto-reload-config`: a task that reloads the configuration when
/// the file's contents change, checked every `--config.auto-reload-interval` (at least a
/// second). Rule files are not watched.
fn auto_reload(
    server: &Arc<Server>,
    args: &ServerArgs,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    let every = flag_duration("config.auto-reload-interval", &args.auto_reload_interval)?;
    let on = crate::features::parse(&args.enable_feature).auto_reload_config;
    let Some(path) = args.config_file.clone().filter(|_| on) else {
        return Ok(None);
    };
    let every = Duration::from_millis(every.max(1000) as u64);
    let server = Arc::clone(server);
    Ok(Some(tokio::spawn(async move {
        let mut last = std::fs::read(&path).ok();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = std::fs::read(&path).ok();
            if now == last {
                continue;
            }
            last = now;
            tracing::info!("Configuration file change detected, reloading the configuration.");
            match server.reload().await {
                Ok(()) => tracing::info!("Completed loading of configuration file"),
                Err(e) => tracing::error!(error = %e, "Error reloading config"),
            }
        }
    })))
}

/// Rule group settings from the flags and the configuration. Alerts' `for` state is
/// restored from `ALERTS_FOR_STATE` when the server starts, as Prometheus does.
fn group_options(args: &ServerArgs, cfg: &Config) -> Result<narthex_rules::GroupOptions, String> {
    let dur = flag_duration;
    Ok(narthex_rules::GroupOptions {
        default_interval: cfg.global.evaluation_interval,
        default_query_offset: cfg.global.rule_query_offset,
        external_labels: cfg
            .global
            .external_labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect(),
        external_url: external_url(args),
        resend_delay: dur("rules.alert.resend-delay", &args.resend_delay)?,
        outage_tolerance: dur(
            "rules.alert.for-outage-tolerance",
            &args.for_outage_tolerance,
        )?,
        for_grace_period: dur("rules.alert.for-grace-period", &args.for_grace_period)?,
        restore: true,
        ..narthex_rules::GroupOptions::default()
    })
}

/// `--web.external-url` without its trailing slash, or `http://HOSTNAME:PORT`.
pub(crate) fn external_url(args: &ServerArgs) -> String {
    match &args.external_url {
        Some(u) if !u.is_empty() => u.trim_end_matches('/').to_string(),
        _ => format!("http://{}:{}", hostname(), port_of(&args.listen_address)),
    }
}

/// `--web.route-prefix`, or the path of `--web.external-url`: `/` or `/path` without a
/// trailing slash.
pub(crate) fn route_prefix(args: &ServerArgs) -> String {
    let raw = match (&args.route_prefix, &args.external_url) {
        (Some(p), _) => p.clone(),
        (None, Some(u)) => {
            let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
            let path = rest.find('/').map_or("", |i| &rest[i..]);
            path.split(['?', '#'])
                .next()
                .unwrap_or_default()
                .to_string()
        }
        (None, None) => String::new(),
    };
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// The application served under `prefix`, as Prometheus does with a route prefix: every
/// path moves under it (`/p` and `/p/` are the app's `/`), `/` redirects to `/p/`, and
/// anything else is not found.
pub(crate) fn under_prefix(app: axum::Router, prefix: &str) -> axum::Router {
    use axum::response::IntoResponse;
    if prefix == "/" {
        return app;
    }
    let to = format!("{prefix}/");
    let redirect = move || async move {
        (
            axum::http::StatusCode::FOUND,
            [(axum::http::header::LOCATION, to)],
        )
    };
    let svc = hyper_util::service::TowerToHyperService::new(app);
    let prefix = prefix.to_string();
    let inner = move |req: axum::extract::Request| {
        let svc = svc.clone();
        let req = strip_prefix(req, &prefix);
        async move {
            let Some(req) = req else {
                let text = [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; charset=utf-8",
                )];
                return (
                    axum::http::StatusCode::NOT_FOUND,
                    text,
                    "404 page not found\n",
                )
                    .into_response();
            };
            match hyper::service::Service::call(&svc, req).await {
                Ok(r) => r.into_response(),
                Err(never) => match never {},
            }
        }
    };
    axum::Router::new()
        .route("/", axum::routing::get(redirect))
        .fallback(inner)
}

/// The request with `prefix` taken off its path, or `None` when the path is outside it.
fn strip_prefix(mut req: axum::extract::Request, prefix: &str) -> Option<axum::extract::Request> {
    let rest = req.uri().path().strip_prefix(prefix)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    *req.uri_mut() = axum::http::Uri::from_parts(parts).ok()?;
    Some(req)
}

/// A duration flag's value in milliseconds.
fn flag_duration(flag: &str, v: &str) -> Result<i64, String> {
    narthex_model::parse_duration(v).map_err(|e| format!("invalid --{flag} {v:?}: {e}"))
}

/// The PromQL engine the flags ask for.
fn engine(args: &ServerArgs) -> Result<narthex_promql::Engine, String> {
    let dur = flag_duration;
    let features = crate::features::parse(&args.enable_feature);
    Ok(narthex_promql::Engine::new(narthex_promql::EngineOptions {
        lookback_delta: dur("query.lookback-delta", &args.lookback_delta)?,
        max_samples: args.max_samples,
        timeout: Duration::from_millis(dur("query.timeout", &args.query_timeout)?.max(0) as u64),
        parser: features.parser(),
        delayed_name_removal: features.delayed_name_removal,
        ..narthex_promql::EngineOptions::default()
    }))
}

/// Logs what `--enable-feature` did and the flags given that have no effect here (the
/// server and the agent).
pub(crate) fn log_flags(args: &ServerArgs) {
    crate::features::parse(&args.enable_feature).log();
    for (flag, value) in args.without_effect() {
        tracing::info!(flag, %value, "flag accepted for compatibility; it has no effect");
    }
}

fn port_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or("9090", |(_, p)| p)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::db_options;

    fn args(flags: &[&str]) -> crate::cli::ServerArgs {
        let argv = std::iter::once("narthex").chain(flags.iter().copied());
        <crate::cli::Cli as clap::Parser>::parse_from(argv).server
    }

    fn config(yaml: &str) -> narthex_config::Config {
        narthex_config::Config::from_str(yaml, std::env::temp_dir()).expect("config")
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn storage_section_applies_unless_flags_are_given() {
        let cfg = config(
            "storage:\n  tsdb:\n    out_of_order_time_window: 30m\n    retention: {time: 30d, size: 1GB}\n",
        );
        let o = db_options(&args(&[]), &cfg).expect("options");
        assert_eq!(o.out_of_order_time_window, 30 * 60_000);
        assert_eq!(o.retention_duration, 30 * DAY);
        assert_eq!(o.max_bytes, 1 << 30);
        assert_eq!(o.max_block_duration, 3 * DAY);
        let o = db_options(
            &args(&[
                "--storage.tsdb.retention.time=2d",
                "--storage.tsdb.retention.size=2GB",
            ]),
            &cfg,
        )
        .expect("options");
        assert_eq!((o.retention_duration, o.max_bytes), (2 * DAY, 2 << 30));
    }

    #[test]
    fn retention_defaults_and_block_durations() {
        let none = config("");
        let o = db_options(&args(&[]), &none).expect("options");
        assert_eq!((o.retention_duration, o.max_bytes), (15 * DAY, 0));
        assert!(o.wal_compression);
        // A size limit alone lifts the time limit, as in Prometheus.
        let o = db_options(&args(&["--storage.tsdb.retention.size=1GB"]), &none).expect("o");
        assert_eq!((o.retention_duration, o.max_bytes), (0, 1 << 30));
        assert_eq!(o.max_block_duration, 31 * DAY);
        let o = db_options(
            &args(&[
                "--storage.tsdb.min-block-duration=2h",
                "--storage.tsdb.max-block-duration=2h",
                "--no-storage.tsdb.wal-compression",
            ]),
            &none,
        )
        .expect("options");
        assert_eq!(
            (o.chunk_range, o.max_block_duration),
            (7_200_000, 7_200_000)
        );
        assert!(!o.wal_compression);
        assert!(db_options(&args(&["--storage.tsdb.min-block-duration=0s"]), &none).is_err());
    }
}
