//! A group of rules evaluated together, in order, at one interval.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use narthex_model::{Labels, LabelsBuilder, MatchOp, Matcher, stale_nan};
use narthex_promql::Engine;
use narthex_storage::{Appendable, HistogramSample, Queryable, SeriesRef, StorageError, ValueType};
use parking_lot::Mutex;

use crate::error::Error;
use crate::rule::{
    ALERT_FOR_STATE_METRIC_NAME, Alert, AlertingRule, Notification, RecordingRule, Rule,
    RuleContext,
};
use crate::rulefmt::{ParseOptions, RuleGroup, parse_file};

/// Settings for groups, with Prometheus's defaults.
#[derive(Clone, Debug)]
pub struct GroupOptions {
    /// Interval of groups that set none (`global.evaluation_interval`, 1m).
    pub default_interval: i64,
    /// Query offset of groups that set none (`global.rule_query_offset`, 0).
    pub default_query_offset: i64,
    /// `$externalLabels` in templates.
    pub external_labels: BTreeMap<String, String>,
    /// `$externalURL` in templates and the prefix of generator URLs.
    pub external_url: String,
    /// Minimum time between two notifications of the same firing alert (1m).
    pub resend_delay: i64,
    /// How long an outage may last for `for` state to be restored
    /// (`--rules.alert.for-outage-tolerance`, 1h).
    pub outage_tolerance: i64,
    /// Minimum `for` left after a restore (`--rules.alert.for-grace-period`, 10m).
    pub for_grace_period: i64,
    /// Whether alerting rules start unrestored: they write no `ALERTS` series until
    /// [`Group::restore_for_state`] ran (what a server does on startup).
    pub restore: bool,
    /// Name validation of rule files.
    pub parse: ParseOptions,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            default_interval: 60_000,
            default_query_offset: 0,
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            resend_delay: 60_000,
            outage_tolerance: 3_600_000,
            for_grace_period: 600_000,
            restore: false,
            parse: ParseOptions::default(),
        }
    }
}

/// A group of rules, with the state its evaluations keep (alerts, series written last
/// time, health).
#[derive(Debug)]
pub struct Group {
    name: String,
    file: String,
    interval: i64,
    query_offset: i64,
    limit: i64,
    rules: Vec<Rule>,
    ctx: RuleContext,
    resend_delay: i64,
    outage_tolerance: i64,
    for_grace_period: i64,
    prev: Mutex<Vec<HashSet<Labels>>>,
    last_eval: Mutex<(Option<i64>, Duration)>,
    counts: GroupCounts,
}

#[derive(Debug, Default)]
struct GroupCounts {
    iterations: AtomicU64,
    missed: AtomicU64,
    evaluations: AtomicU64,
    failures: AtomicU64,
}

/// What a group has done since it was loaded; each field names the Prometheus metric
/// (labelled `rule_group="FILE;GROUP"`) it feeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupMetrics {
    /// Evaluations of the whole group (`prometheus_rule_group_iterations_total`).
    pub iterations: u64,
    /// Scheduled evaluations skipped because the previous one ran late
    /// (`prometheus_rule_group_iterations_missed_total`).
    pub iterations_missed: u64,
    /// Rule evaluations (`prometheus_rule_evaluations_total`).
    pub rule_evaluations: u64,
    /// Rule evaluations that failed (`prometheus_rule_evaluation_failures_total`).
    pub rule_failures: u64,
}

/// Loads every file matching `globs` (Prometheus's `rule_files`), in order.
pub fn load_files(
    globs: &[impl AsRef<str>],
    opts: &GroupOptions,
) -> Result<Vec<Group>, Vec<Error>> {
    let mut files = Vec::new();
    let mut errs = Vec::new();
    for g in globs {
        match glob::glob(g.as_ref()) {
            Ok(paths) => {
                let mut v: Vec<_> = paths.filter_map(Result::ok).collect();
                v.sort();
                files.extend(v);
            }
            Err(e) => errs.push(Error::new(
                crate::ErrorKind::Io,
                0,
                0,
                format!("error retrieving rule files for {}: {e}", g.as_ref()),
            )),
        }
    }
    let mut groups = Vec::new();
    for f in files {
        match parse_file(&f, &opts.parse) {
            Ok(rgs) => {
                for g in &rgs.groups {
                    groups.push(Group::from_def(g, &f.display().to_string(), opts));
                }
            }
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() {
        Ok(groups)
    } else {
        Err(errs)
    }
}

/// Loads one rule file.
pub fn load_file(path: &Path, opts: &GroupOptions) -> Result<Vec<Group>, Vec<Error>> {
    let rgs = parse_file(path, &opts.parse)?;
    Ok(rgs
        .groups
        .iter()
        .map(|g| Group::from_def(g, &path.display().to_string(), opts))
        .collect())
}

impl Group {
    /// A group from its definition in `file`.
    pub fn from_def(def: &RuleGroup, file: &str, opts: &GroupOptions) -> Group {
        let mut rules = Vec::new();
        for r in &def.rules {
            let mut labels: BTreeMap<String, String> = def.labels.iter().cloned().collect();
            labels.extend(r.labels.iter().cloned());
            let labels: Vec<(String, String)> = labels.into_iter().collect();
            if let Some(rec) = &r.record {
                let l = Labels::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                rules.push(Rule::Recording(RecordingRule::new(rec, &r.expr, l)));
            } else if let Some(alert) = &r.alert {
                rules.push(Rule::Alerting(AlertingRule::new(
                    alert,
                    &r.expr,
                    r.for_,
                    r.keep_firing_for,
                    labels,
                    r.annotations.clone(),
                    !opts.restore,
                )));
            }
        }
        Group::new(
            &def.name,
            file,
            def.interval.unwrap_or(opts.default_interval),
            def.query_offset.unwrap_or(opts.default_query_offset),
            def.limit,
            rules,
            opts,
        )
    }

    /// A group of `rules`.
    pub fn new(
        name: &str,
        file: &str,
        interval: i64,
        query_offset: i64,
        limit: i64,
        rules: Vec<Rule>,
        opts: &GroupOptions,
    ) -> Group {
        let n = rules.len();
        Group {
            name: name.to_string(),
            file: file.to_string(),
            interval: interval.max(1),
            query_offset,
            limit,
            rules,
            ctx: RuleContext {
                external_labels: opts.external_labels.clone(),
                external_url: opts.external_url.clone(),
            },
            resend_delay: opts.resend_delay,
            outage_tolerance: opts.outage_tolerance,
            for_grace_period: opts.for_grace_period,
            prev: Mutex::new(vec![HashSet::new(); n]),
            last_eval: Mutex::new((None, Duration::ZERO)),
            counts: GroupCounts::default(),
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it came from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Evaluation interval in milliseconds.
    pub fn interval(&self) -> i64 {
        self.interval
    }

    /// Query offset in milliseconds.
    pub fn query_offset(&self) -> i64 {
        self.query_offset
    }

    /// Series/alert limit per rule (0: none).
    pub fn limit(&self) -> i64 {
        self.limit
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// When the group was last evaluated (milliseconds), and how long that took.
    pub fn last_evaluation(&self) -> (Option<i64>, Duration) {
        *self.last_eval.lock()
    }

    /// Counts of the group's evaluations since it was loaded.
    pub fn metrics(&self) -> GroupMetrics {
        let c = &self.counts;
        GroupMetrics {
            iterations: c.iterations.load(Ordering::Relaxed),
            iterations_missed: c.missed.load(Ordering::Relaxed),
            rule_evaluations: c.evaluations.load(Ordering::Relaxed),
            rule_failures: c.failures.load(Ordering::Relaxed),
        }
    }

    /// Counts evaluations the schedule skipped.
    pub(crate) fn count_missed(&self, n: u64) {
        self.counts.missed.fetch_add(n, Ordering::Relaxed);
    }

    /// Pending and firing alerts of every alerting rule.
    pub fn active_alerts(&self) -> Vec<Alert> {
        self.rules
            .iter()
            .filter_map(Rule::as_alerting)
            .flat_map(AlertingRule::active_alerts)
            .collect()
    }

    /// Prometheus's group hash: `{name, file}` label set hashed.
    pub fn hash(&self) -> u64 {
        Labels::from_pairs([("name", self.name.as_str()), ("file", self.file.as_str())]).hash64()
    }

    /// The evaluation time at or before `now_ns` (nanoseconds) in this group's schedule:
    /// multiples of the interval shifted by `hash % interval`, so groups spread out.
    pub fn eval_timestamp(&self, now_ns: i64) -> i64 {
        let interval = self.interval as i128 * 1_000_000;
        let offset = (self.hash() as u128 % interval as u128) as i128;
        let adj = now_ns as i128 - offset;
        let base = adj - adj.rem_euclid(interval);
        (base + offset) as i64
    }

    /// Whether `other` has the same name, file, settings and rules (so state can carry
    /// over on reload).
    pub fn same_definition(&self, other: &Group) -> bool {
        self.name == other.name
            && self.file == other.file
            && self.interval == other.interval
            && self.query_offset == other.query_offset
            && self.limit == other.limit
            && self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| match (a, b) {
                    (Rule::Recording(a), Rule::Recording(b)) => {
                        a.name == b.name && a.expr == b.expr && a.labels == b.labels
                    }
                    (Rule::Alerting(a), Rule::Alerting(b)) => {
                        a.name == b.name
                            && a.expr == b.expr
                            && a.hold_duration == b.hold_duration
                            && a.keep_firing_for == b.keep_firing_for
                            && a.labels == b.labels
                            && a.annotations == b.annotations
                    }
                    _ => false,
                })
    }

    /// Copies alert state, series written last time and evaluation status from `old`
    /// for rules with the same name and position kind (Prometheus's `CopyState`).
    pub fn copy_state(&self, old: &Group) {
        *self.last_eval.lock() = *old.last_eval.lock();
        let old_prev = old.prev.lock();
        let mut prev = self.prev.lock();
        let mut used: HashMap<(bool, &str), usize> = HashMap::new();
        for (i, r) in self.rules.iter().enumerate() {
            let key = (r.as_alerting().is_some(), r.name());
            let nth = used.entry(key).or_insert(0);
            let found = old
                .rules
                .iter()
                .enumerate()
                .filter(|(_, o)| o.as_alerting().is_some() == key.0 && o.name() == key.1)
                .nth(*nth);
            *nth += 1;
            let Some((j, o)) = found else { continue };
            if let Some(p) = old_prev.get(j) {
                prev[i] = p.clone();
            }
            *r.status_mut() = o.status();
            if let (Rule::Alerting(a), Rule::Alerting(b)) = (r, o) {
                *a.active.lock() = b.active.lock().clone();
                a.restored.store(b.restored(), Ordering::Relaxed);
            }
        }
    }

    /// Evaluates every rule at `ts` (milliseconds), in order: each rule's output is
    /// appended and committed before the next rule runs, series a rule wrote last time
    /// but not now get stale markers, and alerting rules update their alerts. Returns
    /// the notifications to send (Prometheus's `sendAlerts`).
    pub fn eval(
        &self,
        engine: &Engine,
        storage: &dyn Queryable,
        appendable: &dyn Appendable,
        ts: i64,
    ) -> Vec<Notification> {
        let started = Instant::now();
        let mut notes = Vec::new();
        self.counts.iterations.fetch_add(1, Ordering::Relaxed);
        for (i, rule) in self.rules.iter().enumerate() {
            let t0 = Instant::now();
            self.counts.evaluations.fetch_add(1, Ordering::Relaxed);
            let res = match rule {
                Rule::Recording(r) => r.eval(engine, storage, ts - self.query_offset, self.limit),
                Rule::Alerting(a) => a.eval(
                    engine,
                    storage,
                    ts,
                    self.query_offset,
                    self.limit,
                    &self.ctx,
                ),
            };
            {
                let mut st = rule.status_mut();
                st.last_evaluation = Some(ts);
                match &res {
                    Ok(_) => {
                        st.health = crate::Health::Good;
                        st.last_error = None;
                    }
                    Err(e) => {
                        tracing::warn!(group = %self.name, rule = rule.name(), err = %e, "evaluating rule failed");
                        st.health = crate::Health::Bad;
                        st.last_error = Some(e.clone());
                    }
                }
            }
            let Ok(vector) = res else {
                self.counts.failures.fetch_add(1, Ordering::Relaxed);
                rule.status_mut().evaluation_duration = t0.elapsed();
                continue;
            };
            if let Rule::Alerting(a) = rule {
                notes.extend(a.alerts_to_send(
                    ts,
                    self.resend_delay,
                    self.interval,
                    &self.ctx.external_url,
                ));
            }
            let mut app = appendable.appender();
            let mut returned = HashSet::with_capacity(vector.len());
            let mut first_err: Option<StorageError> = None;
            for s in vector {
                let r = match &s.h {
                    Some(h) => app.append_histogram(
                        SeriesRef::UNKNOWN,
                        &s.labels,
                        s.t,
                        HistogramSample::Float(h),
                    ),
                    None => app.append(SeriesRef::UNKNOWN, &s.labels, s.t, s.f),
                };
                match r {
                    Ok(_) => {
                        returned.insert(s.labels);
                    }
                    Err(e) => {
                        tracing::debug!(rule = rule.name(), err = %e, "rule sample rejected");
                        first_err.get_or_insert(e);
                    }
                }
            }
            let mut prev = self.prev.lock();
            for l in prev[i].iter() {
                if !returned.contains(l) {
                    // Out of order or duplicate: the series is written by another rule.
                    let _ = app.append(SeriesRef::UNKNOWN, l, ts - self.query_offset, stale_nan());
                }
            }
            match app.commit() {
                Ok(()) => prev[i] = returned,
                Err(e) => {
                    first_err = Some(e);
                }
            }
            drop(prev);
            let mut st = rule.status_mut();
            if let Some(e) = first_err {
                self.counts.failures.fetch_add(1, Ordering::Relaxed);
                st.health = crate::Health::Bad;
                st.last_error = Some(e.to_string());
            }
            st.evaluation_duration = t0.elapsed();
        }
        *self.last_eval.lock() = (Some(ts), started.elapsed());
        notes
    }

    /// Writes stale markers at `ts` for every series the group wrote at its last
    /// evaluation (what Prometheus does when a group is removed or the server stops).
    pub fn mark_stale(&self, appendable: &dyn Appendable, ts: i64) -> Result<(), StorageError> {
        let mut app = appendable.appender();
        let mut prev = self.prev.lock();
        for set in prev.iter_mut() {
            for l in set.drain() {
                let _ = app.append(SeriesRef::UNKNOWN, &l, ts, stale_nan());
            }
        }
        app.commit()
    }

    /// Restores the `for` state of active alerts from `ALERTS_FOR_STATE` series after a
    /// restart (Prometheus's `RestoreForState`), run once after the second evaluation.
    /// Alerts active before the outage keep their `activeAt`, shifted by the outage
    /// length, and never get less than the `for` grace period left; rules whose `for` is
    /// shorter than the grace period are not restored. Marks every alerting rule restored.
    pub fn restore_for_state(&self, storage: &dyn Queryable, ts: i64) {
        let mint = ts - self.outage_tolerance;
        let q = match storage.querier(mint, ts) {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(err = %e, "failed to get querier to restore alert state");
                return;
            }
        };
        for rule in self.rules.iter().filter_map(Rule::as_alerting) {
            let hold = rule.hold_duration;
            if hold < self.for_grace_period {
                rule.restored.store(true, Ordering::Relaxed);
                continue;
            }
            let mut matchers = vec![
                Matcher::new(MatchOp::Equal, "__name__", ALERT_FOR_STATE_METRIC_NAME),
                Matcher::new(MatchOp::Equal, "alertname", &rule.name),
            ];
            for (k, v) in &rule.labels {
                if !v.contains("{{") {
                    matchers.push(Matcher::new(MatchOp::Equal, k, v));
                }
            }
            let matchers: Vec<Matcher> = matchers.into_iter().filter_map(Result::ok).collect();
            let mut by_labels: HashMap<Labels, (i64, f64)> = HashMap::new();
            match q.select(false, None, &matchers) {
                Ok(set) => {
                    for s in set {
                        let Ok(s) = s else { continue };
                        let mut it = s.iter();
                        let mut last = None;
                        while it.next() == ValueType::Float {
                            last = Some(it.at());
                        }
                        if let Some(last) = last {
                            let mut b = LabelsBuilder::from(s.labels().clone());
                            b.del("__name__");
                            by_labels.insert(b.build(), last);
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(err = %e, "failed to restore alert state");
                    continue;
                }
            }
            let mut active = rule.active.lock();
            for a in active.values_mut() {
                let Some(&(t, v)) = by_labels.get(&a.labels) else {
                    continue;
                };
                if narthex_model::is_stale_nan(v) {
                    continue;
                }
                let down_at = t.div_euclid(1000) * 1000;
                let mut restored_active_at = (v as i64) * 1000;
                let spent = down_at - restored_active_at;
                let remaining = hold - spent;
                if remaining <= 0 {
                    // Was firing; the next evaluation fires it again.
                } else if remaining < self.for_grace_period {
                    restored_active_at = ts + self.for_grace_period - hold;
                } else {
                    restored_active_at += ts - down_at;
                }
                a.active_at = restored_active_at;
            }
            rule.restored.store(true, Ordering::Relaxed);
        }
    }
}
