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
                "alerts": a.active_alerts().iter().map(alert_json).collect::<Vec<_>>(),
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
    let (last, dur) = g.last_evaluation();
    json!({
        "name": g.name(),
        "file": g.file(),
        "rules": g.rules().iter().map(rule_json).collect::<Vec<_>>(),
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

/// The `data` of `/api/v1/alerts`: `{"alerts": [...]}`, pending and firing alerts.
pub fn alerts_json<'a>(groups: impl IntoIterator<Item = &'a Group>) -> Value {
    let alerts: Vec<Value> = groups
        .into_iter()
        .flat_map(|g| g.active_alerts())
        .map(|a| alert_json(&a))
        .collect();
    json!({ "alerts": alerts })
}
