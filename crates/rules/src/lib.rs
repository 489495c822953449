//! Prometheus recording and alerting rules.
//!
//! This crate **is** the rule engine of a Prometheus-compatible server: rule files
//! ([`rulefmt`]: Prometheus's format, validation and error texts with line and column),
//! groups of rules evaluated in order with the PromQL engine over any
//! [`narthex_storage::Queryable`] and written back through any
//! [`narthex_storage::Appendable`] ([`Group::eval`]), alert state (`pending`, `firing`,
//! `keep_firing_for`, resolved alerts kept 15 minutes, `ALERTS` and `ALERTS_FOR_STATE`
//! series, restoring `for` state after a restart), Prometheus's template language for
//! labels and annotations ([`template`]), `promtool check rules` ([`check_rules`]) and
//! `promtool test rules` ([`run_rule_tests`]), a
//! tokio scheduler ([`RuleManager`]), the JSON of the `/api/v1/rules` and
//! `/api/v1/alerts` endpoints ([`api`]), and Prometheus's notifier ([`Notifier`]: the
//! queue and the Alertmanager v2 client, one [`AlertmanagerSet`] per
//! `alerting.alertmanagers` entry).
//!
//! Evaluation and delivery are separate: [`Group::eval`] returns the [`Notification`]s
//! Prometheus would hand to Alertmanager; the caller passes them to a [`Notifier`] (the
//! server does), or to anything else. Discovering Alertmanagers is the caller's job too
//! (the server feeds [`Notifier::set_alertmanager_sets`] from its discovery manager).
//!
//! ```
//! use narthex_model::Labels;
//! use narthex_promql::Engine;
//! use narthex_rules::{GroupOptions, Group, rulefmt};
//! use narthex_storage::{Appendable, MemStorage, SeriesRef};
//!
//! let storage = MemStorage::new();
//! let mut app = storage.appender();
//! for (i, up) in [1.0, 0.0].into_iter().enumerate() {
//!     let l = Labels::from_pairs([("__name__", "up"), ("job", "api"), ("instance", &format!("h{i}"))]);
//!     app.append(SeriesRef::UNKNOWN, &l, 0, up).unwrap();
//! }
//! app.commit().unwrap();
//!
//! let yaml = r#"
//! groups:
//!   - name: example
//!     rules:
//!       - record: job:up:sum
//!         expr: sum by (job) (up)
//!       - alert: InstanceDown
//!         expr: up == 0
//!         for: 1m
//!         annotations:
//!           summary: "{{ $labels.instance }} of {{ $labels.job }} is down"
//! "#;
//! let opts = GroupOptions::default();
//! let file = rulefmt::parse(yaml, &opts.parse).unwrap();
//! let group = Group::from_def(&file.groups[0], "rules.yml", &opts);
//!
//! let engine = Engine::default();
//! group.eval(&engine, &storage, &storage, 0);
//! let alerts = group.active_alerts();
//! assert_eq!(alerts[0].state.as_str(), "pending");
//! assert_eq!(alerts[0].annotations.get("summary"), Some("h1 of api is down"));
//!
//! // One minute later the alert fires and a notification is due.
//! let sent = group.eval(&engine, &storage, &storage, 60_000);
//! assert_eq!(group.active_alerts()[0].state.as_str(), "firing");
//! assert_eq!(sent.len(), 1);
//! let v = engine.instant_query(&storage, "job:up:sum", 60_000).unwrap();
//! # let _ = v;
//! ```
//!
//! # Design
//! - **Synchronous core.** [`Group::eval`] takes the time to evaluate at and does the
//!   whole evaluation on the calling thread, so tests step through time without a runtime;
//!   [`RuleManager`] is a thin tokio layer that calls it on Prometheus's schedule
//!   ([`Group::eval_timestamp`]: the interval shifted by a hash of the group).
//! - **One commit per rule**, as Prometheus: a later rule of a group sees what earlier
//!   rules wrote at the same evaluation.
//! - **State lives in the rules** behind small mutexes so groups can be read (for the
//!   API) while a scheduler evaluates them.
//! - **Templates**: a small interpreter of the Go `text/template` subset alert templates
//!   use, with Go's number formatting (`%.4g`, `%v`) reproduced exactly (see
//!   [`template`]).
//!
//! # Limits
//! - `promtool test rules` ([`run_rule_tests`]) checks float samples and firing alerts;
//!   native histograms in `input_series` and its exact failure layout are not reproduced.
//! - Template errors at execution have Go's layout but positions are approximate; parse
//!   errors match Go's text for common mistakes (unclosed actions, unknown functions,
//!   missing `{{end}}`).
//! - YAML errors report only the first problem (Go's yaml reports all unmarshal errors).

pub mod api;
mod check;
mod error;
mod gofmt;
mod group;
mod manager;
mod notifier;
mod rule;
pub mod rulefmt;
pub mod template;
mod unittest;

pub use check::{CheckReport, check_rules};
pub use error::{Error, ErrorKind};
pub use gofmt::{
    go_time_string, humanize, humanize_duration, humanize_percentage, humanize_timestamp,
    humanize1024,
};
pub use group::{Group, GroupMetrics, GroupOptions, load_file, load_files};
pub use manager::{ManagerOptions, NotifyFn, RuleManager};
pub use notifier::{
    AlertmanagerSet, AlertmanagerStats, Notifier, NotifierOptions, NotifierStats, encode_alerts,
};
pub use rule::{
    ALERT_FOR_STATE_METRIC_NAME, ALERT_METRIC_NAME, Alert, AlertState, AlertingRule, Health,
    Notification, RESOLVED_RETENTION, RecordingRule, Rule, RuleStatus,
};
pub use unittest::{RuleTestReport, expand_values, run_rule_tests};

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Prometheus's `strutil.TableLinkForExpression`: `/graph?g0.expr=EXPR&g0.tab=1`.
pub fn table_link_for_expression(expr: &str) -> String {
    format!("/graph?g0.expr={}&g0.tab=1", query_escape(expr))
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)` (the API's alert `value`: `1e+00`).
pub fn format_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    if e < 0 {
        format!("{m}e-{:02}", -e)
    } else {
        format!("{m}e+{e:02}")
    }
}
