//! What the server and the agent share when they (re)load a configuration: the scrape
//! jobs and their discovery providers, the remote write queues, and the reload status.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use narthex_config::Config;
use narthex_discovery::SdOptions;
use narthex_exposition::Format;
use narthex_remote::QueueManager;
use narthex_scrape::ScrapeOptions;
use tokio::sync::Mutex;

use crate::convert;

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Records a reload's outcome, as Prometheus's `prometheus_config_last_reload_successful`
/// and `prometheus_config_last_reload_success_timestamp_seconds` report it.
pub(crate) fn record(r: &Result<(), String>, ok: &AtomicBool, at_ms: &AtomicI64) {
    ok.store(r.is_ok(), Ordering::Relaxed);
    if r.is_ok() {
        at_ms.store(now_ms(), Ordering::Relaxed);
        tracing::info!("configuration loaded");
    }
}

/// A configuration's scrape jobs, and each job's discovery providers (by job name).
pub(crate) type ScrapeJobs = (
    Vec<(ScrapeOptions, Option<Format>)>,
    HashMap<String, Vec<SdOptions>>,
);

/// Warns about the HTTP client settings of `cfg` that are ignored (OAuth 2).
fn warn_unsupported(cfg: &Config) {
    let jobs = cfg
        .scrape_configs
        .iter()
        .map(|s| (format!("scrape job {:?}", s.job_name), &s.http_client));
    let remotes = cfg
        .remote_write
        .iter()
        .map(|r| (format!("remote_write {}", r.url), &r.http_client));
    let ams = cfg
        .alerting
        .alertmanagers
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("alertmanagers[{i}]"), &a.http_client));
    for (what, hc) in jobs.chain(remotes).chain(ams) {
        let unsupported = convert::http_unsupported(hc);
        if !unsupported.is_empty() {
            tracing::warn!(%what, ?unsupported, "ignored: not supported by the HTTP client");
        }
    }
}

/// The scrape jobs of `cfg` and their discovery providers.
pub(crate) fn scrape_jobs(cfg: &Config) -> ScrapeJobs {
    warn_unsupported(cfg);
    let jobs = cfg
        .scrape_configs
        .iter()
        .map(convert::scrape_options)
        .collect();
    let providers = cfg
        .scrape_configs
        .iter()
        .map(|sc| {
            (
                sc.job_name.clone(),
                convert::discovery(&sc.service_discovery),
            )
        })
        .collect();
    (jobs, providers)
}

/// Applies `remote_write` as Prometheus does: queues whose settings did not change keep
/// running (with their position and counters); the others stop, recording how far they
/// sent, before the new ones start reading the WAL in `wal_dir`.
pub(crate) async fn apply_remote_write(
    remote: &Mutex<Vec<QueueManager>>,
    cfg: &Config,
    wal_dir: &Path,
) -> Result<(), String> {
    let mut remote = remote.lock().await;
    let mut old: Vec<QueueManager> = remote.drain(..).collect();
    let mut start = Vec::new();
    for rw in &cfg.remote_write {
        let opts = convert::remote_write(rw, &cfg.global.external_labels);
        // Secrets print as `<secret>`: compare the HTTP settings themselves too.
        let key = format!("{opts:?}");
        match old
            .iter()
            .position(|q| q.options().http == opts.http && format!("{:?}", q.options()) == key)
        {
            Some(i) => remote.push(old.swap_remove(i)),
            None => start.push(opts),
        }
    }
    for q in old {
        q.stop().await;
    }
    for opts in start {
        let url = opts.url.clone();
        let q =
            QueueManager::start(wal_dir, opts).map_err(|e| format!("remote_write {url}: {e}"))?;
        remote.push(q);
    }
    Ok(())
}

/// Waits for the signals a Prometheus server answers: SIGHUP runs `reload` (a failure is
/// logged and the running configuration stays), SIGTERM and SIGINT end the wait.
pub(crate) async fn until_stopped<F, Fut>(mut reload: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                if let Err(e) = reload().await {
                    tracing::error!(error = %e, "reload failed; keeping the running configuration");
                }
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}
