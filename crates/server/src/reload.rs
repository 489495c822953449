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

/// The settings of `cfg` that Narthex accepts but does not act on, one line each naming
/// the scrape job, remote write or Alertmanager entry and the mechanism: service
/// discovery other than static, file, DNS and HTTP (it yields no targets), cloud
/// authentication (`sigv4`, `azuread`, `google_iam`: requests go out without it),
/// OAuth 2 and `convert_classic_histograms_to_nhcb`. The load still succeeds, as the
/// entry's other settings work.
pub(crate) fn unsupported(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for s in &cfg.scrape_configs {
        let what = format!("scrape job {:?}", s.job_name);
        let sd = Some(("targets", &s.service_discovery.untyped));
        unsupported_in(&mut out, &what, sd, &[], &s.http_client);
        if s.convert_classic_histograms_to_nhcb {
            out.push(format!(
                "{what}: convert_classic_histograms_to_nhcb not supported, ignored: classic histograms are stored as classic series"
            ));
        }
    }
    for r in &cfg.remote_write {
        let what = format!("remote_write {}", r.url);
        unsupported_in(&mut out, &what, None, &r.untyped_auth, &r.http_client);
    }
    for r in &cfg.remote_read {
        out.push(format!(
            "remote_read {}: reading from remote storage not supported, ignored: queries see local data only",
            r.url
        ));
    }
    for (i, a) in cfg.alerting.alertmanagers.iter().enumerate() {
        let what = format!("alertmanagers[{i}]");
        let sd = Some(("Alertmanagers", &a.service_discovery.untyped));
        unsupported_in(&mut out, &what, sd, &a.untyped_auth, &a.http_client);
    }
    out
}

/// [`unsupported`] for one entry: `sd` is what its discovery finds and the untyped
/// mechanisms, `auth` the untyped authentication blocks.
fn unsupported_in(
    out: &mut Vec<String>,
    what: &str,
    sd: Option<(&str, &Vec<String>)>,
    auth: &[String],
    hc: &narthex_config::HttpClientConfig,
) {
    let mut push = |kind: String, names: &[String]| {
        if !names.is_empty() {
            out.push(format!(
                "{what}: {kind} not supported, ignored: {}",
                names.join(", ")
            ));
        }
    };
    if let Some((found, names)) = sd {
        push(format!("service discovery (no {found} from it)"), names);
    }
    push("authentication (requests are sent without it)".into(), auth);
    let http: Vec<String> = convert::http_unsupported(hc)
        .into_iter()
        .map(String::from)
        .collect();
    push("HTTP client setting".into(), &http);
}

/// Logs a warning for each of [`unsupported`]'s findings.
fn warn_unsupported(cfg: &Config) {
    for msg in unsupported(cfg) {
        tracing::warn!("{msg}");
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

#[cfg(test)]
mod tests {
    /// Kubernetes discovery, remote write with SigV4 and an Alertmanager with SigV4 and
    /// Consul discovery load, and each is named with its entry; supported settings are not.
    #[test]
    fn lists_unsupported_settings() {
        let cfg = narthex_config::Config::from_str(
            r#"
scrape_configs:
  - job_name: k8s
    kubernetes_sd_configs: [{role: pod}]
    static_configs: [{targets: ["a:1"]}]
  - job_name: plain
    static_configs: [{targets: ["b:1"]}]
  - job_name: nhcb
    convert_classic_histograms_to_nhcb: true
remote_write:
  - url: http://rw.example/api/v1/write
    sigv4: {region: eu-west-1}
  - url: http://ok.example/api/v1/write
remote_read:
  - url: http://rr.example/api/v1/read
alerting:
  alertmanagers:
    - sigv4: {region: eu-west-1}
      consul_sd_configs: [{server: "localhost:8500"}]
"#,
            ".",
        )
        .expect("config loads");
        let msgs = super::unsupported(&cfg);
        assert_eq!(
            msgs,
            vec![
                "scrape job \"k8s\": service discovery (no targets from it) not supported, ignored: kubernetes_sd_configs".to_string(),
                "scrape job \"nhcb\": convert_classic_histograms_to_nhcb not supported, ignored: classic histograms are stored as classic series".to_string(),
                "remote_write http://rw.example/api/v1/write: authentication (requests are sent without it) not supported, ignored: sigv4".to_string(),
                "remote_read http://rr.example/api/v1/read: reading from remote storage not supported, ignored: queries see local data only".to_string(),
                "alertmanagers[0]: service discovery (no Alertmanagers from it) not supported, ignored: consul_sd_configs".to_string(),
                "alertmanagers[0]: authentication (requests are sent without it) not supported, ignored: sigv4".to_string(),
            ]
        );
        // The job's static targets still count.
        assert_eq!(
            cfg.scrape_configs[0].service_discovery.static_configs.len(),
            1
        );
    }
}
