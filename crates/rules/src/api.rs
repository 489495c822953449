//! JSON in the shape of Prometheus's `/api/v1/rules` and `/api/v1/alerts` responses (the
//! `data` member).

use serde_json::{Map, Value, json};

use crate::gofmt::rfc3339;
use crate::rule::{Alert, AlertState, Rule};
use crate::{Group, format_float_e};

fn labels_json(l: &narthex_model::Labels) -> Value {
    let mut m = Map::new();
    for x in l.iter() {
        m.insert(x.name.to_string(), Value::String(x.value.to_string()));
    }
    Value::Object(m)
}

fn pairs_json(l: &[(String, String)]) -> Value {
    Value::Object(
        l.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One alert as the API lists it.
pub fn alert_json(a: &Alert) -> Value {
    let mut v = json!({
        "labels": labels_json(&a.labels),
        "annotations": labels_json(&a.annotations),
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": format_float_e(a.value),
    });
    if let Some(k) = a.keep_firing_since {
        v["keepFiringSince"] = Value::String(rfc3339(k));
    }
    v
}

/// One rule as `/api/v1/rules` lists it.
pub fn rule_json(r: &Rule) -> Value {
    rule_json_with(r, false)
}

/// One rule as `/api/v1/rules` lists it; `exclude_alerts` leaves an alerting rule's
/// alerts out (`"alerts": null`, as Prometheus's `exclude_alerts=true`).
fn rule_json_with(r: &Rule, exclude_alerts: bool) -> Value {
    let st = r.status();
    let last_eval = st.last_evaluation.map_or(ZERO_TIME.to_string(), rfc3339);
    let mut v = match r {
        Rule::Recording(rr) => json!({
            "name": r.name(),
            "query": r.expr(),
            "labels": labels_json(rr.labels()),
            "type": "recording",
        }),
        Rule::Alerting(a) => {
            let state = a.state();
            json!({
                "state": match state { AlertState::Inactive => "inactive", s => s.as_str() },
                "name": r.name(),
                "query": r.expr(),
                "duration": a.hold_duration() as f64 / 1000.0,
                "keepFiringFor": a.keep_firing_for() as f64 / 1000.0,
                "labels": pairs_json(a.labels()),
                "annotations": pairs_json(a.annotations()),
                "alerts": if exclude_alerts {
                    Value::Null
                } else {
                    a.active_alerts().iter().map(alert_json).collect()
                },
                "type": "alerting",
            })
        }
    };
    v["health"] = Value::String(st.health.as_str().into());
    if let Some(e) = st.last_error {
        v["lastError"] = Value::String(e);
    }
    v["evaluationTime"] = json!(st.evaluation_duration.as_secs_f64());
    v["lastEvaluation"] = Value::String(last_eval);
    v
}

/// One group as `/api/v1/rules` lists it.
pub fn group_json(g: &Group) -> Value {
    group_json_with(g, g.rules().iter().map(rule_json).collect())
}

fn group_json_with(g: &Group, rules: Vec<Value>) -> Value {
    let (last, dur) = g.last_evaluation();
    json!({
        "name": g.name(),
        "file": g.file(),
        "rules": rules,
        "interval": g.interval() as f64 / 1000.0,
        "limit": g.limit(),
        "evaluationTime": dur.as_secs_f64(),
        "lastEvaluation": last.map_or(ZERO_TIME.to_string(), rfc3339),
    })
}

/// The `data` of `/api/v1/rules`: `{"groups": [...]}`.
pub fn rules_json<'a>(groups: impl IntoIterator<Item = &'a Group>) -> Value {
    json!({ "groups": groups.into_iter().map(group_json).collect::<Vec<_>>() })
}

/// The filters of `/api/v1/rules`, as Prometheus reads them: `type`, `rule_name[]`,
/// `rule_group[]`, `file[]` and `exclude_alerts`. Empty lists match everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesFilter {
    /// List alerting rules (`type` empty or `alert`).
    pub alerting: bool,
    /// List recording rules (`type` empty or `record`).
    pub recording: bool,
    /// `rule_name[]`: only rules with one of these names.
    pub rule_names: Vec<String>,
    /// `rule_group[]`: only groups with one of these names.
    pub rule_groups: Vec<String>,
    /// `file[]`: only groups from one of these files.
    pub files: Vec<String>,
    /// `exclude_alerts`: alerting rules without their alerts.
    pub exclude_alerts: bool,
}

impl Default for RulesFilter {
    fn default() -> Self {
        RulesFilter {
            alerting: true,
            recording: true,
            rule_names: Vec::new(),
            rule_groups: Vec::new(),
            files: Vec::new(),
            exclude_alerts: false,
        }
    }
}

impl RulesFilter {
    /// The filters from the request's parameters: `get` gives the first value of a
    /// parameter (empty when absent), `get_all` every value. An error names the bad
    /// parameter and says what is wrong with it, in Prometheus's words.
    pub fn from_params<'a>(
        get: impl Fn(&str) -> &'a str,
        get_all: impl Fn(&str) -> Vec<&'a str>,
    ) -> Result<RulesFilter, (&'static str, String)> {
        let typ = get("type").to_lowercase();
        if !matches!(typ.as_str(), "" | "alert" | "record") {
            return Err(("type", format!("not supported value {typ:?}")));
        }
        let exclude = get("exclude_alerts").to_lowercase();
        let exclude_alerts = match exclude.as_str() {
            "" | "0" | "f" | "false" => false,
            "1" | "t" | "true" => true,
            _ => {
                return Err((
                    "exclude_alerts",
                    format!(
                        "error converting exclude_alerts: strconv.ParseBool: parsing {exclude:?}: invalid syntax"
                    ),
                ));
            }
        };
        let all = |name: &str| get_all(name).into_iter().map(String::from).collect();
        Ok(RulesFilter {
            alerting: typ != "record",
            recording: typ != "alert",
            rule_names: all("rule_name[]"),
            rule_groups: all("rule_group[]"),
            files: all("file[]"),
            exclude_alerts,
        })
    }

    fn wants_group(&self, g: &Group) -> bool {
        (self.rule_groups.is_empty() || self.rule_groups.iter().any(|n| n == g.name()))
            && (self.files.is_empty() || self.files.iter().any(|f| f == g.file()))
    }

    fn wants_rule(&self, r: &Rule) -> bool {
        let kind = match r {
            Rule::Alerting(_) => self.alerting,
            Rule::Recording(_) => self.recording,
        };
        kind && (self.rule_names.is_empty() || self.rule_names.iter().any(|n| n == r.name()))
    }
}

/// The `data` of `/api/v1/rules` with Prometheus's filters: groups whose every rule was
/// filtered out are left out.
pub fn rules_json_filtered<'a>(
    groups: impl IntoIterator<Item = &'a Group>,
    filter: &RulesFilter,
) -> Value {
    let groups: Vec<Value> = groups
        .into_iter()
        .filter(|g| filter.wants_group(g))
        .filter_map(|g| {
            let rules: Vec<Value> = g
                .rules()
                .iter()
                .filter(|r| filter.wants_rule(r))
                .map(|r| rule_json_with(r, filter.exclude_alerts))
                .collect();
            (!rules.is_empty()).then(|| group_json_with(g, rules))
        })
        .collect();
    json!({ "groups": groups })
}

/// The `data` of `/api/v1/alerts`: `{"alerts": [...]}`, pending and firing alerts.
pub fn alerts_json<'a>(groups: impl IntoIterator<Item = &'a Group>) -> Value {
    let alerts: Vec<Value> = groups
        .into_iter()
        .flat_map(|g| g.active_alerts())
        .map(|a| alert_json(&a))
        .collect();
    json!({ "alerts": alerts })
}
