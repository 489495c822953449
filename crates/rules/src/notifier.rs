//! Sending alerts to Alertmanager: Prometheus's notifier. Alerts from rule groups are
//! labelled with the external labels, relabelled (`alert_relabel_configs`), queued with a
//! bounded capacity (the oldest dropped when full), and posted in batches to every
//! discovered Alertmanager through its v2 API (`POST /api/v2/alerts`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use narthex_model::Labels;
use narthex_model::relabel::{self, RelabelConfig};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::rule::Notification;

/// Attempts per batch and Alertmanager (retries back off 200 ms, 400 ms).
const RETRIES: u32 = 3;

/// Settings of a [`Notifier`], with Prometheus's defaults.
#[derive(Clone, Debug)]
pub struct NotifierOptions {
    /// Most alerts queued (`--alertmanager.notification-queue-capacity`, 10000).
    pub queue_capacity: usize,
    /// Most alerts per request (64, as Prometheus's `maxBatchSize`).
    pub max_batch: usize,
    /// Timeout of one request, in milliseconds (10s).
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

/// Counters, as Prometheus's `prometheus_notifications_*` metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifierStats {
    /// Alerts sent (counted per Alertmanager), `prometheus_notifications_sent_total`.
    pub sent: u64,
    /// Alerts whose sending failed, `prometheus_notifications_errors_total`.
    pub errors: u64,
    /// Alerts dropped because the queue was full, `prometheus_notifications_dropped_total`.
    pub dropped: u64,
    /// Alerts waiting, `prometheus_notifications_queue_length`.
    pub queue_length: u64,
}

/// The notifier: `send` queues, `run` delivers.
pub struct Notifier {
    opts: Mutex<NotifierOptions>,
    queue: Mutex<VecDeque<Value>>,
    alertmanagers: Mutex<Vec<String>>,
    wake: Notify,
    client: reqwest::Client,
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

impl Notifier {
    /// A notifier with no Alertmanagers yet.
    pub fn new(opts: NotifierOptions) -> Arc<Notifier> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(opts.timeout_ms.max(1)))
            .user_agent(concat!("narthex/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Arc::new(Notifier {
            opts: Mutex::new(opts),
            queue: Mutex::new(VecDeque::new()),
            alertmanagers: Mutex::new(Vec::new()),
            wake: Notify::new(),
            client,
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

    /// The Alertmanagers' alert endpoints (`http://host:9093/api/v2/alerts`).
    pub fn set_alertmanagers(&self, urls: Vec<String>) {
        *self.alertmanagers.lock() = urls;
        self.wake.notify_one();
    }

    /// The current Alertmanager endpoints.
    pub fn alertmanagers(&self) -> Vec<String> {
        self.alertmanagers.lock().clone()
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
        for a in alerts {
            let mut b = a.labels.builder();
            for l in &external {
                if a.labels.get(&l.name).is_none() {
                    b.set(&*l.name, &*l.value);
                }
            }
            let mut labels = b.build();
            if !rc.is_empty() {
                match relabel::process(&labels, &rc) {
                    Some(l) if !l.is_empty() => labels = l,
                    _ => continue,
                }
            }
            let mut v = json!({
                "labels": labels_json(&labels),
                "annotations": labels_json(&a.annotations),
                "startsAt": narthex_model::time::format_rfc3339(a.starts_at),
                "generatorURL": a.generator_url,
            });
            if a.ends_at > 0 {
                v["endsAt"] = Value::String(narthex_model::time::format_rfc3339(a.ends_at));
            }
            if q.len() >= cap {
                q.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(v);
        }
        drop(q);
        self.wake.notify_one();
    }

    /// Counters.
    pub fn stats(&self) -> NotifierStats {
        NotifierStats {
            sent: self.sent.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queue_length: self.queue.lock().len() as u64,
        }
    }

    /// Delivers queued alerts until the task is dropped: each batch goes to every
    /// Alertmanager, retried on connection errors and 5xx answers; a batch that still
    /// fails is counted (the rule groups resend firing alerts every resend delay, as in
    /// Prometheus). Alerts wait while no Alertmanager is known.
    pub async fn run(self: Arc<Self>) {
        loop {
            let batch: Vec<Value> = {
                let ams_known = !self.alertmanagers.lock().is_empty();
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
            let body = Value::Array(batch);
            let n = body.as_array().map_or(0, Vec::len) as u64;
            let ams = self.alertmanagers();
            let text = body.to_string();
            for url in &ams {
                let mut ok = false;
                // A few quick retries ride out a restarting Alertmanager; after that the
                // batch counts as failed (firing alerts are sent again every resend delay).
                for attempt in 0..RETRIES {
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    }
                    let r = self
                        .client
                        .post(url)
                        .header("Content-Type", "application/json")
                        .body(text.clone())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            ok = true;
                            break;
                        }
                        // A 4xx will not succeed on a retry.
                        Ok(r) if r.status().is_client_error() => break,
                        _ => {}
                    }
                }
                if ok {
                    self.sent.fetch_add(n, Ordering::Relaxed);
                } else {
                    tracing::warn!(alertmanager = %url, count = n, "error sending alerts");
                    self.errors.fetch_add(n, Ordering::Relaxed);
                }
            }
        }
    }
}
