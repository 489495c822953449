//! Recording and alerting rules: evaluation of one rule at one time, and alert state.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use narthex_model::{Labels, LabelsBuilder};
use narthex_promql::{Engine, Value};
use narthex_storage::Queryable;
use parking_lot::Mutex;

use crate::template::{QuerySample, TemplateData, expand_alert};

/// How long a resolved alert is kept (and re-sent) after it resolved: 15 minutes.
pub const RESOLVED_RETENTION: i64 = 15 * 60 * 1000;

/// The metric name of the alert state series.
pub const ALERT_METRIC_NAME: &str = "ALERTS";
/// The metric name of the alert `for` state series.
pub const ALERT_FOR_STATE_METRIC_NAME: &str = "ALERTS_FOR_STATE";

/// A rule's health after its last evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// The last evaluation succeeded.
    Good,
    /// The last evaluation failed.
    Bad,
}

impl Health {
    /// Prometheus's API text: `unknown`, `ok`, `err`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Good => "ok",
            Health::Bad => "err",
        }
    }
}

/// What the last evaluation of a rule left behind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleStatus {
    /// Health.
    pub health: Health,
    /// The last error, if the last evaluation failed.
    pub last_error: Option<String>,
    /// When the rule was last evaluated (milliseconds), if ever.
    pub last_evaluation: Option<i64>,
    /// How long the last evaluation took.
    pub evaluation_duration: Duration,
}

/// The state of an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// Not active (a resolved alert kept for notification).
    Inactive,
    /// Active, waiting for `for` to pass.
    Pending,
    /// Firing.
    Firing,
}

impl AlertState {
    /// Prometheus's text: `inactive`, `pending`, `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule: a label set produced by the rule's expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The alert's labels (expression labels without `__name__`, rule labels, `alertname`).
    pub labels: Labels,
    /// Expanded annotations, sorted by name.
    pub annotations: Labels,
    /// The state.
    pub state: AlertState,
    /// The value of the expression's sample at the last evaluation.
    pub value: f64,
    /// When the alert became active (milliseconds).
    pub active_at: i64,
    /// When it started firing, if it did.
    pub fired_at: Option<i64>,
    /// When it resolved, if it did.
    pub resolved_at: Option<i64>,
    /// When it was last sent to the notifier.
    pub last_sent_at: Option<i64>,
    /// Until when the last notification is valid.
    pub valid_until: i64,
    /// Since when it keeps firing only because of `keep_firing_for`.
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    fn needs_sending(&self, ts: i64, resend_delay: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        let last = self.last_sent_at.unwrap_or(i64::MIN);
        if self.resolved_at.is_some_and(|r| r > last) {
            return true;
        }
        self.last_sent_at.is_none_or(|l| l + resend_delay < ts)
    }
}

/// What a notifier sends to Alertmanager for one alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// `startsAt` (milliseconds): when the alert started firing.
    pub starts_at: i64,
    /// `endsAt` (milliseconds): when it resolved, or until when it is valid.
    pub ends_at: i64,
    /// `generatorURL`: external URL + `/graph?g0.expr=...&g0.tab=1`.
    pub generator_url: String,
}

/// Settings shared by the rules of a group.
#[derive(Clone, Debug)]
pub(crate) struct RuleContext {
    /// `$externalLabels` in templates.
    pub(crate) external_labels: BTreeMap<String, String>,
    /// `$externalURL` in templates and the prefix of generator URLs.
    pub(crate) external_url: String,
}

/// A recording rule: writes the result of `expr` as series named `name`.
#[derive(Debug)]
pub struct RecordingRule {
    pub(crate) name: String,
    pub(crate) expr: String,
    pub(crate) labels: Labels,
    pub(crate) status: Mutex<RuleStatus>,
}

/// An alerting rule: turns each element of `expr`'s result into an alert.
#[derive(Debug)]
pub struct AlertingRule {
    pub(crate) name: String,
    pub(crate) expr: String,
    pub(crate) hold_duration: i64,
    pub(crate) keep_firing_for: i64,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) annotations: Vec<(String, String)>,
    pub(crate) active: Mutex<HashMap<Labels, Alert>>,
    pub(crate) restored: AtomicBool,
    pub(crate) status: Mutex<RuleStatus>,
}

/// A rule of a group.
#[derive(Debug)]
pub enum Rule {
    /// A recording rule.
    Recording(RecordingRule),
    /// An alerting rule.
    Alerting(AlertingRule),
}

/// An element of a rule's output vector, to be appended.
#[derive(Clone, Debug)]
pub(crate) struct OutSample {
    pub(crate) labels: Labels,
    pub(crate) t: i64,
    pub(crate) f: f64,
    pub(crate) h: Option<narthex_model::FloatHistogram>,
}

/// Runs `expr` at `t` as a rule query: vectors as they are, scalars as one sample with no
/// labels, anything else an error.
pub(crate) fn query_vector(
    engine: &Engine,
    storage: &dyn Queryable,
    expr: &str,
    t: i64,
) -> Result<Vec<OutSample>, String> {
    let r = engine
        .instant_query(storage, expr, t)
        .map_err(|e| e.to_string())?;
    match r.value {
        Value::Vector(v) => Ok(v
            .into_iter()
            .map(|s| OutSample {
                labels: s.metric,
                t: s.t,
                f: s.f,
                h: s.h,
            })
            .collect()),
        Value::Scalar { t, v } => Ok(vec![OutSample {
            labels: Labels::empty(),
            t,
            f: v,
            h: None,
        }]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}

impl Rule {
    /// The rule's name (`record` or `alert`).
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.name,
            Rule::Alerting(r) => &r.name,
        }
    }

    /// The rule's expression.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.expr,
            Rule::Alerting(r) => &r.expr,
        }
    }

    /// Health, last error and evaluation times.
    pub fn status(&self) -> RuleStatus {
        match self {
            Rule::Recording(r) => r.status.lock().clone(),
            Rule::Alerting(r) => r.status.lock().clone(),
        }
    }

    pub(crate) fn status_mut(&self) -> parking_lot::MutexGuard<'_, RuleStatus> {
        match self {
            Rule::Recording(r) => r.status.lock(),
            Rule::Alerting(r) => r.status.lock(),
        }
    }

    /// The alerting rule, if this is one.
    pub fn as_alerting(&self) -> Option<&AlertingRule> {
        match self {
            Rule::Alerting(a) => Some(a),
            Rule::Recording(_) => None,
        }
    }

    /// The recording rule, if this is one.
    pub fn as_recording(&self) -> Option<&RecordingRule> {
        match self {
            Rule::Recording(r) => Some(r),
            Rule::Alerting(_) => None,
        }
    }
}

impl RecordingRule {
    /// A recording rule writing `expr` as `name` with `labels` set.
    pub fn new(name: impl Into<String>, expr: impl Into<String>, labels: Labels) -> Self {
        RecordingRule {
            name: name.into(),
            expr: expr.into(),
            labels,
            status: Mutex::default(),
        }
    }

    /// The labels set on every output series.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    pub(crate) fn eval(
        &self,
        engine: &Engine,
        storage: &dyn Queryable,
        t: i64,
        limit: i64,
    ) -> Result<Vec<OutSample>, String> {
        let mut v = query_vector(engine, storage, &self.expr, t)?;
        for s in &mut v {
            let mut b = LabelsBuilder::from(s.labels.clone());
            b.set("__name__", &self.name);
            for l in self.labels.iter() {
                b.set(&*l.name, &*l.value);
            }
            s.labels = b.build();
        }
        let mut seen = std::collections::HashSet::with_capacity(v.len());
        if !v.iter().all(|s| seen.insert(&s.labels)) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        if limit > 0 && v.len() as i64 > limit {
            return Err(format!("exceeded limit of {limit} with {} series", v.len()));
        }
        Ok(v)
    }
}

impl AlertingRule {
    /// An alerting rule. `labels` and `annotations` are templates.
    pub fn new(
        name: impl Into<String>,
        expr: impl Into<String>,
        hold_duration: i64,
        keep_firing_for: i64,
        labels: Vec<(String, String)>,
        annotations: Vec<(String, String)>,
        restored: bool,
    ) -> Self {
        AlertingRule {
            name: name.into(),
            expr: expr.into(),
            hold_duration,
            keep_firing_for,
            labels,
            annotations,
            active: Mutex::default(),
            restored: AtomicBool::new(restored),
            status: Mutex::default(),
        }
    }

    /// `for`, in milliseconds.
    pub fn hold_duration(&self) -> i64 {
        self.hold_duration
    }

    /// `keep_firing_for`, in milliseconds.
    pub fn keep_firing_for(&self) -> i64 {
        self.keep_firing_for
    }

    /// The label templates.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The annotation templates.
    pub fn annotations(&self) -> &[(String, String)] {
        &self.annotations
    }

    /// Whether the `for` state was restored (or needs no restoring); until then the rule
    /// writes no `ALERTS` series.
    pub fn restored(&self) -> bool {
        self.restored.load(Ordering::Relaxed)
    }

    /// The pending and firing alerts, sorted by labels.
    pub fn active_alerts(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self
            .active
            .lock()
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// Every alert held, resolved ones included, sorted by labels.
    pub fn all_alerts(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self.active.lock().values().cloned().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// The rule's overall state: the highest state of its alerts.
    pub fn state(&self) -> AlertState {
        self.active
            .lock()
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    fn series(&self, a: &Alert, name: &str, state: Option<AlertState>) -> Labels {
        let mut b = LabelsBuilder::new();
        for (k, v) in &self.labels {
            b.set(k, v);
        }
        for l in a.labels.iter() {
            b.set(&*l.name, &*l.value);
        }
        b.set("__name__", name);
        b.set("alertname", &self.name);
        if let Some(s) = state {
            b.set("alertstate", s.as_str());
        }
        b.build()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn eval(
        &self,
        engine: &Engine,
        storage: &dyn Queryable,
        ts: i64,
        query_offset: i64,
        limit: i64,
        ctx: &RuleContext,
    ) -> Result<Vec<OutSample>, String> {
        let qt = ts - query_offset;
        let res = query_vector(engine, storage, &self.expr, qt)?;
        let query = |q: &str| -> Result<Vec<QuerySample>, String> {
            Ok(query_vector(engine, storage, q, ts)?
                .into_iter()
                .map(|s| QuerySample {
                    labels: s
                        .labels
                        .iter()
                        .map(|l| (l.name.to_string(), l.value.to_string()))
                        .collect(),
                    value: s.f,
                })
                .collect())
        };
        let mut alerts: HashMap<Labels, Alert> = HashMap::with_capacity(res.len());
        for s in &res {
            let data = TemplateData {
                labels: s
                    .labels
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect(),
                external_labels: ctx.external_labels.clone(),
                external_url: ctx.external_url.clone(),
                value: s.f,
                time: ts,
            };
            let expand = |t: &str| expand_alert(&self.name, t, &data, Some(&query));
            let mut b = LabelsBuilder::from(s.labels.clone());
            b.del("__name__");
            for (k, v) in &self.labels {
                b.set(k, expand(v));
            }
            b.set("alertname", &self.name);
            let mut ab = LabelsBuilder::new();
            for (k, v) in &self.annotations {
                ab.set(k, expand(v));
            }
            let labels = b.build();
            if alerts.contains_key(&labels) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            alerts.insert(
                labels.clone(),
                Alert {
                    labels,
                    annotations: ab.build(),
                    state: AlertState::Pending,
                    value: s.f,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: 0,
                    keep_firing_since: None,
                },
            );
        }
        let mut active = self.active.lock();
        let result: std::collections::HashSet<Labels> = alerts.keys().cloned().collect();
        for (h, a) in alerts {
            if let Some(old) = active.get_mut(&h)
                && old.state != AlertState::Inactive
            {
                old.value = a.value;
                old.annotations = a.annotations;
                continue;
            }
            active.insert(h, a);
        }
        let mut vec = Vec::new();
        let mut num_active = 0i64;
        let restored = self.restored();
        let mut delete = Vec::new();
        let mut keys: Vec<Labels> = active.keys().cloned().collect();
        keys.sort();
        for k in keys {
            let Some(a) = active.get_mut(&k) else {
                continue;
            };
            if !result.contains(&k) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    if ts - since < self.keep_firing_for {
                        keep_firing = true;
                    }
                }
                if a.state == AlertState::Pending
                    || a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION)
                {
                    delete.push(k.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            num_active += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.hold_duration {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            if restored {
                let a = a.clone();
                vec.push(OutSample {
                    labels: self.series(&a, ALERT_METRIC_NAME, Some(a.state)),
                    t: qt,
                    f: 1.0,
                    h: None,
                });
                vec.push(OutSample {
                    labels: self.series(&a, ALERT_FOR_STATE_METRIC_NAME, None),
                    t: qt,
                    f: (a.active_at.div_euclid(1000)) as f64,
                    h: None,
                });
            }
        }
        for k in delete {
            active.remove(&k);
        }
        if limit > 0 && num_active > limit {
            active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {num_active} alerts"
            ));
        }
        Ok(vec)
    }

    /// The alerts to send now (Prometheus's `sendAlerts`): firing alerts not sent within
    /// `resend_delay` and alerts resolved since their last send. Marks them sent.
    pub(crate) fn alerts_to_send(
        &self,
        ts: i64,
        resend_delay: i64,
        interval: i64,
        external_url: &str,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        let mut active = self.active.lock();
        let mut keys: Vec<Labels> = active.keys().cloned().collect();
        keys.sort();
        for k in keys {
            let Some(a) = active.get_mut(&k) else {
                continue;
            };
            if !a.needs_sending(ts, resend_delay) {
                continue;
            }
            a.last_sent_at = Some(ts);
            a.valid_until = ts + 4 * resend_delay.max(interval);
            out.push(Notification {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.fired_at.unwrap_or(0),
                ends_at: a.resolved_at.unwrap_or(a.valid_until),
                generator_url: format!(
                    "{external_url}{}",
                    crate::table_link_for_expression(&self.expr)
                ),
            });
        }
        out
    }
}
