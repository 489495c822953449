//! Sending alerts to Alertmanager: Prometheus's notifier. Alerts from rule groups are
//! labelled with the external labels, relabelled (`alerting.alert_relabel_configs`),
//! queued with a bounded capacity (the oldest dropped when full), and posted in batches
//! through the v2 API (`POST /api/v2/alerts`) to every Alertmanager of every
//! [`AlertmanagerSet`] (one per `alerting.alertmanagers` entry), each set with its own
//! `alert_relabel_configs`, timeout and HTTP client (`narthex-http`: TLS, credentials,
//! headers, proxy).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use narthex_model::Labels;
use narthex_model::relabel::{self, RelabelConfig};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::rule::Notification;

/// Attempts per batch and Alertmanager within its timeout (retries back off 200 ms,
/// 400 ms).
const RETRIES: u32 = 3;

/// Latency observations kept per Alertmanager for the quantiles of
/// `prometheus_notifications_latency_seconds`.
const LATENCY_WINDOW: usize = 1024;

/// Settings of a [`Notifier`], with Prometheus's defaults.
#[derive(Clone, Debug)]
pub struct NotifierOptions {
    /// Most alerts queued (`--alertmanager.notification-queue-capacity`, 10000).
    pub queue_capacity: usize,
    /// Most alerts per request (64, as Prometheus's `maxBatchSize`).
    pub max_batch: usize,
    /// Timeout of the set [`Notifier::set_alertmanagers`] makes, in milliseconds (10s).
    pub timeout_ms: u64,
    /// Labels added to every alert that lacks them (`global.external_labels`).
    pub external_labels: Labels,
    /// `alerting.alert_relabel_configs`.
    pub relabel: Vec<RelabelConfig>,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: 10_000,
            max_batch: 64,
            timeout_ms: 10_000,
            external_labels: Labels::empty(),
            relabel: Vec::new(),
        }
    }
}

/// The Alertmanagers of one `alerting.alertmanagers` entry and how to talk to them.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertmanagerSet {
    /// Alert endpoints (`http://host:9093/api/v2/alerts`), as discovered and relabelled.
    pub urls: Vec<String>,
    /// Time allowed for one batch to one Alertmanager, retries included, in
    /// milliseconds (`timeout`, 10s).
    pub timeout_ms: u64,
    /// The entry's `alert_relabel_configs`, applied after the global ones.
    pub relabel: Vec<RelabelConfig>,
    /// The HTTP client settings: TLS, credentials, `http_headers`, redirects, proxy.
    pub http: narthex_http::HttpSettings,
}

impl Default for AlertmanagerSet {
    fn default() -> Self {
        AlertmanagerSet {
            urls: Vec::new(),
            timeout_ms: 10_000,
            relabel: Vec::new(),
            http: narthex_http::HttpSettings::default(),
        }
    }
}

/// Totals, as Prometheus's `prometheus_notifications_*` metrics (summed over
/// Alertmanagers where Prometheus labels them by `alertmanager`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifierStats {
    /// Alerts sent, counted per Alertmanager whether the request succeeded or not
    /// (`prometheus_notifications_sent_total`).
    pub sent: u64,
    /// Alerts whose sending to an Alertmanager failed
    /// (`prometheus_notifications_errors_total`).
    pub errors: u64,
    /// Alerts dropped because the queue was full or no Alertmanager took them
    /// (`prometheus_notifications_dropped_total`).
    pub dropped: u64,
    /// Alerts waiting (`prometheus_notifications_queue_length`).
    pub queue_length: u64,
    /// The queue's capacity (`prometheus_notifications_queue_capacity`).
    pub queue_capacity: u64,
}

/// What was sent to one current Alertmanager, the `alertmanager`-labelled series of the
/// notifier metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertmanagerStats {
    /// The Alertmanager's alert endpoint (the `alertmanager` label).
    pub url: String,
    /// `prometheus_notifications_sent_total`.
    pub sent: u64,
    /// `prometheus_notifications_errors_total`.
    pub errors: u64,
    /// Requests timed (`prometheus_notifications_latency_seconds_count`).
    pub latency_count: u64,
    /// Their total time in seconds (`prometheus_notifications_latency_seconds_sum`).
    pub latency_sum: f64,
    /// Quantiles 0.5, 0.9 and 0.99 of the last 1024 requests' latencies, in seconds
    /// (NaN before the first request), as `(quantile, value)`.
    pub latency_quantiles: Vec<(f64, f64)>,
}

#[derive(Default)]
struct AmCounters {
    sent: u64,
    errors: u64,
    latency_count: u64,
    latency_sum: f64,
    recent: VecDeque<f64>,
}

/// A set and the HTTP client built from its settings (or why it could not be built).
struct LiveSet {
    set: AlertmanagerSet,
    client: Result<reqwest::Client, String>,
}

fn http_client(http: &narthex_http::HttpSettings) -> Result<reqwest::Client, String> {
    narthex_http::client_builder(http)
        .map_err(|e| e.to_string())?
        .user_agent(concat!("narthex/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// The notifier: `send` queues, `run` delivers.
pub struct Notifier {
    opts: Mutex<NotifierOptions>,
    queue: Mutex<VecDeque<Notification>>,
    sets: Mutex<Vec<Arc<LiveSet>>>,
    per_am: Mutex<BTreeMap<String, AmCounters>>,
    wake: Notify,
    sent: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
}

fn labels_json(l: &Labels) -> Value {
    let mut m = Map::new();
    for x in l {
        m.insert(x.name.to_string(), Value::String(x.value.to_string()));
    }
    Value::Object(m)
}

/// The body of a `POST /api/v2/alerts`: the alerts as Alertmanager's `postableAlerts`
/// JSON (`endsAt` only when set).
pub fn encode_alerts(alerts: &[Notification]) -> String {
    let v: Vec<Value> = alerts
        .iter()
        .map(|a| {
            let mut v = json!({
                "labels": labels_json(&a.labels),
                "annotations": labels_json(&a.annotations),
                "startsAt": narthex_model::time::format_rfc3339(a.starts_at),
                "generatorURL": a.generator_url,
            });
            if a.ends_at > 0 {
                v["endsAt"] = Value::String(narthex_model::time::format_rfc3339(a.ends_at));
            }
            v
        })
        .collect();
    Value::Array(v).to_string()
}

/// The alerts `rc` keeps, relabelled (an alert left without labels is dropped).
fn relabel_alerts(alerts: &[Notification], rc: &[RelabelConfig]) -> Vec<Notification> {
    alerts
        .iter()
        .filter_map(|a| match relabel::process(&a.labels, rc) {
            Some(l) if !l.is_empty() => Some(Notification {
                labels: l,
                ..a.clone()
            }),
            _ => None,
        })
        .collect()
}

/// The quantile `q` of sorted `v` (nearest rank).
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

impl Notifier {
    /// A notifier with no Alertmanagers yet.
    pub fn new(opts: NotifierOptions) -> Arc<Notifier> {
        Arc::new(Notifier {
            opts: Mutex::new(opts),
            queue: Mutex::new(VecDeque::new()),
            sets: Mutex::new(Vec::new()),
            per_am: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            sent: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// New external labels and relabelling (on a configuration reload).
    pub fn set_options(&self, external_labels: Labels, relabel: Vec<RelabelConfig>) {
        let mut o = self.opts.lock();
        o.external_labels = external_labels;
        o.relabel = relabel;
    }

    /// One set of Alertmanagers, by their alert endpoints
    /// (`http://host:9093/api/v2/alerts`), with the default timeout and no relabelling.
    pub fn set_alertmanagers(&self, urls: Vec<String>) {
        let timeout_ms = self.opts.lock().timeout_ms;
        self.set_alertmanager_sets(vec![AlertmanagerSet {
            urls,
            timeout_ms,
            ..AlertmanagerSet::default()
        }]);
    }

    /// The Alertmanager sets, one per `alerting.alertmanagers` entry. The per-Alertmanager
    /// counters of Alertmanagers no longer listed are forgotten, as in Prometheus.
    pub fn set_alertmanager_sets(&self, sets: Vec<AlertmanagerSet>) {
        {
            let mut per_am = self.per_am.lock();
            per_am.retain(|url, _| sets.iter().any(|s| s.urls.contains(url)));
            for url in sets.iter().flat_map(|s| &s.urls) {
                per_am.entry(url.clone()).or_default();
            }
        }
        let mut live = self.sets.lock();
        // Discovery updates come often: a set whose HTTP settings did not change keeps
        // its client (and its connections).
        let next = sets
            .into_iter()
            .map(|set| {
                let client = match live.iter().find(|l| l.set.http == set.http) {
                    Some(l) => l.client.clone(),
                    None => http_client(&set.http),
                };
                if let Err(e) = &client {
                    tracing::error!(error = %e, "Alertmanager set: error creating HTTP client");
                }
                Arc::new(LiveSet { set, client })
            })
            .collect();
        *live = next;
        drop(live);
        self.wake.notify_one();
    }

    /// The current Alertmanager endpoints, set after set.
    pub fn alertmanagers(&self) -> Vec<String> {
        self.sets
            .lock()
            .iter()
            .flat_map(|s| s.set.urls.iter().cloned())
            .collect()
    }

    /// Queues alerts: external labels added where missing, relabelled (an alert the
    /// relabelling drops is not sent), the oldest dropped when the queue is full.
    pub fn send(&self, alerts: Vec<Notification>) {
        let (external, rc, cap) = {
            let o = self.opts.lock();
            (
                o.external_labels.clone(),
                o.relabel.clone(),
                o.queue_capacity.max(1),
            )
        };
        let mut q = self.queue.lock();
        for mut a in alerts {
            let mut b = a.labels.builder();
            for l in &external {
                if a.labels.get(&l.name).is_none() {
                    b.set(&*l.name, &*l.value);
                }
            }
            a.labels = b.build();
            if !rc.is_empty() {
                match relabel::process(&a.labels, &rc) {
                    Some(l) if !l.is_empty() => a.labels = l,
                    _ => continue,
                }
            }
            if q.len() >= cap {
                q.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(a);
        }
        drop(q);
        self.wake.notify_one();
    }

    /// Totals.
    pub fn stats(&self) -> NotifierStats {
        NotifierStats {
            sent: self.sent.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queue_length: self.queue.lock().len() as u64,
            queue_capacity: self.opts.lock().queue_capacity as u64,
        }
    }

    /// Counters of every current Alertmanager, by URL.
    pub fn alertmanager_stats(&self) -> Vec<AlertmanagerStats> {
        self.per_am
            .lock()
            .iter()
            .map(|(url, c)| {
                let mut recent: Vec<f64> = c.recent.iter().copied().collect();
                recent.sort_by(f64::total_cmp);
                AlertmanagerStats {
                    url: url.clone(),
                    sent: c.sent,
                    errors: c.errors,
                    latency_count: c.latency_count,
                    latency_sum: c.latency_sum,
                    latency_quantiles: [0.5, 0.9, 0.99]
                        .into_iter()
                        .map(|q| (q, quantile(&recent, q)))
                        .collect(),
                }
            })
            .collect()
    }

    /// Delivers queued alerts until the task is dropped: each batch goes to every
    /// Alertmanager of every set (relabelled by the set's `alert_relabel_configs`), in
    /// parallel, retried on connection errors and 5xx answers within the set's timeout.
    /// A batch no Alertmanager accepted is dropped and counted (the rule groups resend
    /// firing alerts every resend delay, as in Prometheus). Alerts wait while no
    /// Alertmanager is known.
    pub async fn run(self: Arc<Self>) {
        loop {
            let batch: Vec<Notification> = {
                let ams_known = self.sets.lock().iter().any(|s| !s.set.urls.is_empty());
                let mut q = self.queue.lock();
                if ams_known {
                    let n = q.len().min(self.opts.lock().max_batch.max(1));
                    q.drain(..n).collect()
                } else {
                    Vec::new()
                }
            };
            if batch.is_empty() {
                self.wake.notified().await;
                continue;
            }
            if !self.send_batch(&batch).await {
                tracing::warn!(count = batch.len(), "no Alertmanager took the alerts");
                self.dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// Sends one batch to every Alertmanager; whether at least one accepted it (or none
    /// was asked because every set's relabelling dropped every alert).
    async fn send_batch(self: &Arc<Self>, batch: &[Notification]) -> bool {
        let sets = self.sets.lock().clone();
        let begin = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for set in sets {
            let alerts = if set.set.relabel.is_empty() {
                batch.to_vec()
            } else {
                relabel_alerts(batch, &set.set.relabel)
            };
            if alerts.is_empty() {
                continue;
            }
            let body = Arc::new(encode_alerts(&alerts));
            for url in set.set.urls.clone() {
                let (me, set, body) = (Arc::clone(self), Arc::clone(&set), Arc::clone(&body));
                let n = alerts.len() as u64;
                tasks.spawn(async move {
                    let ok = me.post(&set, &url, &body).await;
                    me.record(&url, n, ok, begin.elapsed().as_secs_f64());
                    ok
                });
            }
        }
        if tasks.is_empty() {
            return true;
        }
        let mut any_ok = false;
        while let Some(r) = tasks.join_next().await {
            any_ok |= r.unwrap_or(false);
        }
        any_ok
    }

    /// Posts `body` to `url`, retrying within the set's timeout.
    async fn post(&self, live: &LiveSet, url: &str, body: &str) -> bool {
        let set = &live.set;
        let client = match &live.client {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(alertmanager = %url, error = %e, "error sending alerts");
                return false;
            }
        };
        let attempts = async {
            for attempt in 0..RETRIES {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                let req = match set.http.authorize(client.post(url)) {
                    Ok(r) => r
                        .header("Content-Type", "application/json")
                        .body(body.to_string()),
                    Err(e) => {
                        tracing::warn!(alertmanager = %url, error = %e, "alerts not sent");
                        return false;
                    }
                };
                match req.send().await {
                    Ok(r) if r.status().is_success() => return true,
                    // A 4xx will not succeed on a retry.
                    Ok(r) if r.status().is_client_error() => {
                        tracing::warn!(alertmanager = %url, status = %r.status(), "alerts refused");
                        return false;
                    }
                    Ok(r) => {
                        tracing::debug!(alertmanager = %url, status = %r.status(), "sending alerts failed")
                    }
                    Err(e) => {
                        tracing::debug!(alertmanager = %url, err = %e, "sending alerts failed")
                    }
                }
            }
            false
        };
        let timeout = Duration::from_millis(set.timeout_ms.max(1));
        let ok = tokio::time::timeout(timeout, attempts)
            .await
            .unwrap_or(false);
        if !ok {
            tracing::warn!(alertmanager = %url, "error sending alerts");
        }
        ok
    }

    /// Counts a request of `n` alerts to `url` (Prometheus counts them as sent either
    /// way, and as errors when it failed).
    fn record(&self, url: &str, n: u64, ok: bool, secs: f64) {
        let mut per_am = self.per_am.lock();
        // The totals move with the per-Alertmanager counters (readers of either see both).
        self.sent.fetch_add(n, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(n, Ordering::Relaxed);
        }
        // An Alertmanager removed while the request ran is not counted any more.
        if let Some(c) = per_am.get_mut(url) {
            c.sent += n;
            if !ok {
                c.errors += n;
            }
            c.latency_count += 1;
            c.latency_sum += secs;
            if c.recent.len() >= LATENCY_WINDOW {
                c.recent.pop_front();
            }
            c.recent.push_back(secs);
        }
    }
}
