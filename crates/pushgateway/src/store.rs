//! The metric store: groups of pushed families, the Pushgateway's push semantics and
//! consistency checks, exposition, the JSON API view and the persistence file's content.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use narthex_exposition::protobuf::{encode_delimited, pb};
use narthex_exposition::{
    FamilySample, MetricFamily, ParseOptions, ProtobufParser, TextParser, read_families, write_text,
};
use narthex_model::float::{format_go_g, parse_go_float};
use narthex_model::time::format_rfc3339;
use narthex_model::{Label, MetricType};
use serde::{Deserialize, Serialize};

use crate::path::GroupingKey;

/// Name of the per-group gauge of the last successful push.
pub const PUSH_TIME: &str = "push_time_seconds";
/// Name of the per-group gauge of the last failed push.
pub const PUSH_FAILURE_TIME: &str = "push_failure_time_seconds";
const PUSH_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway succeeded.";
const PUSH_FAILURE_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway failed.";

/// Why a push was refused (HTTP 400 either way).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The body does not parse; nothing is recorded.
    #[error("{0}")]
    Parse(String),
    /// The body parses but is invalid or inconsistent with the stored metrics; the group's
    /// `push_failure_time_seconds` is set and nothing else changes.
    #[error("pushed metrics are invalid or inconsistent with existing metrics: {0}")]
    Inconsistent(String),
}

/// One sample of a stored metric: full label set (grouping labels included, sorted by
/// name, no `__name__`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The sample name (`x`, `x_bucket`, `x_sum`, ...).
    pub name: String,
    /// Labels sorted by name.
    pub labels: Vec<(String, String)>,
    /// The value (persisted in Go's float text so NaN and infinities survive).
    #[serde(with = "go_float")]
    pub value: f64,
}

/// A metric of a family: the samples sharing one label set (for a histogram its buckets,
/// sum and count; for a summary its quantiles, sum and count).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The metric's labels (without `le` / `quantile`), sorted by name.
    pub labels: Vec<(String, String)>,
    /// The samples in pushed order.
    pub samples: Vec<Sample>,
}

/// A stored metric family of one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// The family name.
    pub name: String,
    /// Help text, if pushed.
    pub help: Option<String>,
    /// The type (`MetricType::Unknown` for untyped).
    #[serde(with = "metric_type")]
    pub metric_type: MetricType,
    /// Metrics sorted by labels.
    pub metrics: Vec<Metric>,
    /// When this family was pushed, in milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// One group: everything pushed under one grouping key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The grouping key.
    pub labels: GroupingKey,
    /// Families by name.
    pub families: BTreeMap<String, Family>,
    /// Last successful push, seconds since the epoch (0 if never).
    #[serde(with = "go_float")]
    pub push_time: f64,
    /// Last failed push, seconds since the epoch (0 if never).
    #[serde(with = "go_float")]
    pub push_failure_time: f64,
    /// Last change of either time, milliseconds since the epoch.
    pub updated_ms: i64,
}

impl Group {
    fn new(labels: GroupingKey) -> Group {
        Group {
            labels,
            families: BTreeMap::new(),
            push_time: 0.0,
            push_failure_time: 0.0,
            updated_ms: 0,
        }
    }

    /// The grouping labels plus `instance=""` when the key has no instance, sorted: the
    /// labels of the group's `push_time_seconds`.
    fn meta_labels(&self) -> Vec<(String, String)> {
        let mut l = self.labels.clone();
        if !l.iter().any(|(n, _)| n == "instance") {
            l.push(("instance".into(), String::new()));
            l.sort();
        }
        l
    }
}

/// All groups, with the Pushgateway's push, delete and read semantics. Pure: no I/O, the
/// caller passes the time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Store {
    groups: BTreeMap<GroupingKey, Group>,
}

/// The time as a push records it.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Milliseconds since the epoch.
    pub ms: i64,
    /// Seconds since the epoch with sub-second digits (the gauges' value).
    pub seconds: f64,
}

impl Now {
    /// The system clock.
    pub fn system() -> Now {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Now {
            ms: d.as_millis() as i64,
            seconds: d.as_secs_f64(),
        }
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// The groups, sorted by grouping key.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Pushes `body` to the group `key`. `protobuf` selects the length-delimited protobuf
    /// format (else the text format). `replace` is `PUT` (the group's families are all
    /// replaced) versus `POST` (only the pushed families are). On error nothing changes
    /// except, for [`PushError::Inconsistent`], the group's failure time.
    pub fn push(
        &mut self,
        key: &GroupingKey,
        body: &[u8],
        protobuf: bool,
        replace: bool,
        now: Now,
    ) -> Result<(), PushError> {
        let parsed = Store::parse(body, protobuf)?;
        self.push_parsed(key, parsed, replace, now)
    }

    /// The parsing half of [`Store::push`], which needs no store: a server can parse a
    /// body before it takes the store's lock.
    pub fn parse(body: &[u8], protobuf: bool) -> Result<Vec<MetricFamily>, PushError> {
        let options = ParseOptions {
            classic_histograms: true,
            ..ParseOptions::default()
        };
        if protobuf {
            read_families(ProtobufParser::new(body, options))
                .map_err(|e| PushError::Parse(format!("protobuf parsing error: {e}")))
        } else {
            read_families(TextParser::new(body, options))
                .map_err(|e| PushError::Parse(format!("text format parsing error: {e}")))
        }
    }

    /// The rest of [`Store::push`]: checks and stores families from [`Store::parse`]. On
    /// error only the group's failure time changes.
    pub fn push_parsed(
        &mut self,
        key: &GroupingKey,
        parsed: Vec<MetricFamily>,
        replace: bool,
        now: Now,
    ) -> Result<(), PushError> {
        match self.check(key, parsed, replace, now) {
            Ok(families) => {
                let group = self
                    .groups
                    .entry(key.clone())
                    .or_insert_with(|| Group::new(key.clone()));
                if replace {
                    group.families = families;
                } else {
                    group.families.extend(families);
                }
                group.push_time = now.seconds;
                group.updated_ms = now.ms;
                Ok(())
            }
            Err(reason) => {
                let group = self
                    .groups
                    .entry(key.clone())
                    .or_insert_with(|| Group::new(key.clone()));
                group.push_failure_time = now.seconds;
                group.updated_ms = now.ms;
                Err(PushError::Inconsistent(reason))
            }
        }
    }

    /// Deletes the group `key`; whether it existed.
    pub fn delete(&mut self, key: &GroupingKey) -> bool {
        self.groups.remove(key).is_some()
    }

    /// Turns parsed families into stored ones (grouping labels applied) and checks them
    /// against the rest of the store.
    fn check(
        &self,
        key: &GroupingKey,
        parsed: Vec<MetricFamily>,
        replace: bool,
        now: Now,
    ) -> Result<BTreeMap<String, Family>, String> {
        let mut out: BTreeMap<String, Family> = BTreeMap::new();
        // Where each family's metric of a label set is in `metrics`: a sample finds its
        // metric in constant time, not by a scan (which made a push quadratic).
        let mut positions: HashMap<String, HashMap<Vec<(String, String)>, usize>> = HashMap::new();
        for f in parsed {
            // The Pushgateway's own gauges cannot be pushed; it drops them silently.
            if f.name == PUSH_TIME || f.name == PUSH_FAILURE_TIME {
                continue;
            }
            let fam = out.entry(f.name.clone()).or_insert_with(|| Family {
                name: f.name.clone(),
                help: None,
                metric_type: f.metric_type,
                metrics: Vec::new(),
                timestamp_ms: now.ms,
            });
            if f.help.is_some() {
                fam.help = f.help.clone();
            }
            if fam.metric_type != f.metric_type {
                return Err(format!(
                    "metric family {:?} is pushed twice with different types",
                    f.name
                ));
            }
            for s in f.samples {
                if s.timestamp.is_some() {
                    return Err("pushed metrics must not have timestamps".into());
                }
                let sample = sanitize(&s, key, f.metric_type);
                let metric_key = metric_labels(&sample, &f.name, f.metric_type);
                let index = positions.entry(f.name.clone()).or_default();
                match index.get(&metric_key) {
                    Some(&i) => fam.metrics[i].samples.push(sample),
                    None => {
                        index.insert(metric_key.clone(), fam.metrics.len());
                        fam.metrics.push(Metric {
                            labels: metric_key,
                            samples: vec![sample],
                        });
                    }
                }
            }
        }
        out.retain(|_, f| !f.metrics.is_empty());
        for fam in out.values_mut() {
            fam.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
            // Duplicates within the push.
            let mut seen = BTreeSet::new();
            for s in fam.metrics.iter().flat_map(|m| &m.samples) {
                if !seen.insert((&s.name, &s.labels)) {
                    return Err(duplicate_message(s));
                }
            }
            // Against the other groups (and, for POST, this group's other families
            // cannot share the name).
            for g in self.groups.values() {
                if &g.labels == key {
                    continue;
                }
                let Some(other) = g.families.get(&fam.name) else {
                    continue;
                };
                if other.metric_type != fam.metric_type {
                    return Err(format!(
                        "metric family {:?} of group {} is {}, but it is {} in group {}",
                        fam.name,
                        key_text(key),
                        type_text(fam.metric_type),
                        type_text(other.metric_type),
                        key_text(&g.labels)
                    ));
                }
                for s in other.metrics.iter().flat_map(|m| &m.samples) {
                    if seen.contains(&(&s.name, &s.labels)) {
                        return Err(duplicate_message(s));
                    }
                }
            }
        }
        self.check_name_collisions(key, &out, replace)?;
        Ok(out)
    }

    /// The Go client's check that a histogram or summary `x` and a family `x_count`,
    /// `x_sum` (or, for a histogram, `x_bucket`) do not both exist: over the store as it
    /// would be after pushing `new` to `key`.
    fn check_name_collisions(
        &self,
        key: &GroupingKey,
        new: &BTreeMap<String, Family>,
        replace: bool,
    ) -> Result<(), String> {
        let mut types: BTreeMap<&str, MetricType> = BTreeMap::new();
        for g in self.groups.values() {
            if &g.labels == key && replace {
                continue;
            }
            for f in g.families.values() {
                types.insert(&f.name, f.metric_type);
            }
        }
        for f in new.values() {
            types.insert(&f.name, f.metric_type);
        }
        for f in new.values() {
            for suffix in ["_count", "_sum", "_bucket"] {
                if let Some(base) = f.name.strip_suffix(suffix)
                    && let Some(&t) = types.get(base)
                    && (t == MetricType::Histogram
                        || (t == MetricType::Summary && suffix != "_bucket"))
                {
                    return Err(format!(
                        "collected metric named {:?} collides with previously collected {} named {base:?}",
                        f.name,
                        type_text(t).to_lowercase(),
                    ));
                }
                let other = format!("{}{suffix}", f.name);
                let clashes = match f.metric_type {
                    MetricType::Histogram => true,
                    MetricType::Summary => suffix != "_bucket",
                    _ => false,
                };
                if clashes && types.contains_key(other.as_str()) {
                    let what = if suffix == "_bucket" {
                        "histogram"
                    } else {
                        "histogram or summary"
                    };
                    return Err(format!(
                        "collected {what} named {:?} collides with previously collected metric named {other:?}",
                        f.name,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every family, merged over groups and sorted by name, with `push_time_seconds` and
    /// `push_failure_time_seconds` per group: what `GET /metrics` serves. The help of a
    /// family pushed with different help texts is the first group's (by grouping key).
    pub fn families(&self) -> Vec<MetricFamily> {
        self.merged()
            .into_iter()
            .map(|f| MetricFamily {
                name: f.name,
                help: f.help,
                metric_type: f.metric_type,
                unit: None,
                samples: f
                    .metrics
                    .iter()
                    .flat_map(|m| &m.samples)
                    .map(to_family_sample)
                    .collect(),
            })
            .collect()
    }

    /// [`Store::families`] as `io.prometheus.client.MetricFamily` messages, with
    /// histograms and summaries as single metrics, as the Pushgateway serves protobuf.
    pub fn protobuf_families(&self) -> Vec<pb::MetricFamily> {
        self.merged().iter().map(to_protobuf).collect()
    }

    /// [`Store::protobuf_families`] length-delimited: the protobuf exposition.
    pub fn protobuf_exposition(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode_delimited(&self.protobuf_families(), &mut out);
        out
    }

    /// Families merged over groups, sorted by name, metrics sorted by labels, plus the
    /// push time gauges.
    fn merged(&self) -> Vec<Family> {
        let mut merged: BTreeMap<&str, Family> = BTreeMap::new();
        for g in self.groups.values() {
            for f in g.families.values() {
                if f.name == PUSH_TIME || f.name == PUSH_FAILURE_TIME {
                    continue;
                }
                let m = merged.entry(&f.name).or_insert_with(|| Family {
                    name: f.name.clone(),
                    help: None,
                    metric_type: f.metric_type,
                    metrics: Vec::new(),
                    timestamp_ms: f.timestamp_ms,
                });
                if m.help.is_none() {
                    m.help = f.help.clone();
                }
                m.metrics.extend(f.metrics.iter().cloned());
            }
        }
        let mut out: Vec<Family> = merged.into_values().collect();
        for (name, help, failure) in [
            (PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP, true),
            (PUSH_TIME, PUSH_TIME_HELP, false),
        ] {
            let metrics: Vec<Metric> = self
                .groups
                .values()
                .map(|g| {
                    let labels = g.meta_labels();
                    let value = if failure {
                        g.push_failure_time
                    } else {
                        g.push_time
                    };
                    Metric {
                        samples: vec![Sample {
                            name: name.to_string(),
                            labels: labels.clone(),
                            value,
                        }],
                        labels,
                    }
                })
                .collect();
            if metrics.is_empty() {
                continue;
            }
            out.push(Family {
                name: name.to_string(),
                help: Some(help.to_string()),
                metric_type: MetricType::Gauge,
                metrics,
                timestamp_ms: 0,
            });
        }
        for f in &mut out {
            f.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// [`Store::families`] in the Prometheus text format.
    pub fn exposition(&self) -> Vec<u8> {
        write_text(&self.families())
    }

    /// The `data` of `GET /api/v1/metrics`, shaped as the Pushgateway's JSON.
    pub fn api_metrics(&self) -> serde_json::Value {
        let mut data = Vec::new();
        for g in self.groups.values() {
            let mut obj = serde_json::Map::new();
            for f in g.families.values() {
                obj.insert(f.name.clone(), family_json(f));
            }
            obj.insert("labels".into(), labels_json(&g.labels));
            obj.insert(
                "last_push_successful".into(),
                serde_json::Value::Bool(g.push_time >= g.push_failure_time),
            );
            for (name, help, value) in [
                (
                    PUSH_FAILURE_TIME,
                    PUSH_FAILURE_TIME_HELP,
                    g.push_failure_time,
                ),
                (PUSH_TIME, PUSH_TIME_HELP, g.push_time),
            ] {
                let labels = g.meta_labels();
                let f = Family {
                    name: name.into(),
                    help: Some(help.into()),
                    metric_type: MetricType::Gauge,
                    metrics: vec![Metric {
                        samples: vec![Sample {
                            name: name.into(),
                            labels: labels.clone(),
                            value,
                        }],
                        labels,
                    }],
                    timestamp_ms: g.updated_ms,
                };
                obj.insert(name.into(), family_json(&f));
            }
            data.push(serde_json::Value::Object(obj));
        }
        serde_json::Value::Array(data)
    }

    /// The persistence file's content (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        let groups: Vec<&Group> = self.groups.values().collect();
        serde_json::to_vec(&groups).unwrap_or_default()
    }

    /// A store from [`Store::to_bytes`]'s output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Store, serde_json::Error> {
        let groups: Vec<Group> = serde_json::from_slice(bytes)?;
        Ok(Store {
            groups: groups.into_iter().map(|g| (g.labels.clone(), g)).collect(),
        })
    }
}

/// The pushed sample with the grouping labels set (overriding pushed values of the same
/// names, as the Pushgateway does), `instance=""` added if absent, `le`/`quantile` in
/// Go's float text and last, the others sorted by name.
fn sanitize(s: &FamilySample, key: &GroupingKey, t: MetricType) -> Sample {
    let mut labels: Vec<(String, String)> = s
        .labels
        .iter()
        .filter(|l| !key.iter().any(|(n, _)| **n == *l.name))
        .map(|l| {
            let value = if (t == MetricType::Histogram && &*l.name == "le")
                || (t == MetricType::Summary && &*l.name == "quantile")
            {
                parse_go_float(&l.value)
                    .map(format_go_g)
                    .unwrap_or_else(|_| l.value.to_string())
            } else {
                l.value.to_string()
            };
            (l.name.to_string(), value)
        })
        .collect();
    labels.extend(key.iter().cloned());
    if !labels.iter().any(|(n, _)| n == "instance") {
        labels.push(("instance".into(), String::new()));
    }
    // Sorted by name, except that `le` / `quantile` go last, where Go's text writer puts
    // them.
    let special = |n: &str| {
        (t == MetricType::Histogram && n == "le") || (t == MetricType::Summary && n == "quantile")
    };
    labels.sort_by(|a, b| (special(&a.0), a).cmp(&(special(&b.0), b)));
    Sample {
        name: s.name.clone(),
        labels,
        value: s.value,
    }
}

/// The labels identifying the metric a sample belongs to.
fn metric_labels(s: &Sample, family: &str, t: MetricType) -> Vec<(String, String)> {
    let drop = match t {
        MetricType::Histogram if s.name == format!("{family}_bucket") => Some("le"),
        MetricType::Summary if s.name == family => Some("quantile"),
        _ => None,
    };
    s.labels
        .iter()
        .filter(|(n, _)| Some(n.as_str()) != drop)
        .cloned()
        .collect()
}

/// A stored family as a protobuf message.
fn to_protobuf(f: &Family) -> pb::MetricFamily {
    let t = match f.metric_type {
        MetricType::Counter => pb::MetricType::Counter,
        MetricType::Gauge => pb::MetricType::Gauge,
        MetricType::Histogram => pb::MetricType::Histogram,
        MetricType::Summary => pb::MetricType::Summary,
        MetricType::GaugeHistogram => pb::MetricType::GaugeHistogram,
        _ => pb::MetricType::Untyped,
    };
    // A count as the integer field when it is one, else as the float field.
    let count = |v: f64| -> (Option<u64>, Option<f64>) {
        if v >= 0.0 && v.fract() == 0.0 && v < 1.8e19 {
            (Some(v as u64), None)
        } else {
            (None, Some(v))
        }
    };
    let metric = f
        .metrics
        .iter()
        .map(|m| {
            let mut out = pb::Metric {
                label: m
                    .labels
                    .iter()
                    .map(|(n, v)| pb::LabelPair::new(n.as_str(), v.as_str()))
                    .collect(),
                ..pb::Metric::default()
            };
            let first = m.samples.first().map_or(0.0, |s| s.value);
            let suffixed = |suffix: &str| {
                m.samples
                    .iter()
                    .find(|s| s.name.strip_prefix(f.name.as_str()) == Some(suffix))
                    .map(|s| s.value)
            };
            let bound = |s: &Sample, label: &str| {
                s.labels
                    .iter()
                    .find(|(n, _)| n == label)
                    .and_then(|(_, v)| parse_go_float(v).ok())
            };
            match t {
                pb::MetricType::Counter => {
                    out.counter = Some(pb::Counter {
                        value: Some(first),
                        ..pb::Counter::default()
                    })
                }
                pb::MetricType::Gauge => out.gauge = Some(pb::Gauge { value: Some(first) }),
                pb::MetricType::Summary => {
                    out.summary = Some(pb::Summary {
                        sample_count: suffixed("_count").map(|v| v as u64),
                        sample_sum: suffixed("_sum"),
                        quantile: m
                            .samples
                            .iter()
                            .filter(|s| s.name == f.name)
                            .filter_map(|s| {
                                Some(pb::Quantile {
                                    quantile: Some(bound(s, "quantile")?),
                                    value: Some(s.value),
                                })
                            })
                            .collect(),
                        ..pb::Summary::default()
                    })
                }
                pb::MetricType::Histogram | pb::MetricType::GaugeHistogram => {
                    let (sample_count, sample_count_float) =
                        count(suffixed("_count").unwrap_or(0.0));
                    let bucket_name = format!("{}_bucket", f.name);
                    out.histogram = Some(pb::Histogram {
                        sample_count,
                        sample_count_float,
                        sample_sum: suffixed("_sum"),
                        bucket: m
                            .samples
                            .iter()
                            .filter(|s| s.name == bucket_name)
                            .filter_map(|s| {
                                let (c, cf) = count(s.value);
                                Some(pb::Bucket {
                                    cumulative_count: c,
                                    cumulative_count_float: cf,
                                    upper_bound: Some(bound(s, "le")?),
                                    ..pb::Bucket::default()
                                })
                            })
                            .collect(),
                        ..pb::Histogram::default()
                    })
                }
                pb::MetricType::Untyped => out.untyped = Some(pb::Untyped { value: Some(first) }),
            }
            out
        })
        .collect();
    pb::MetricFamily {
        name: Some(f.name.clone()),
        help: f.help.clone(),
        r#type: Some(t as i32),
        metric,
        unit: None,
    }
}

fn to_family_sample(s: &Sample) -> FamilySample {
    FamilySample {
        name: s.name.clone(),
        labels: s
            .labels
            .iter()
            .map(|(n, v)| Label::new(n.as_str(), v.as_str()))
            .collect(),
        value: s.value,
        timestamp: None,
        exemplar: None,
    }
}

fn duplicate_message(s: &Sample) -> String {
    format!(
        "collected metric {:?} {} was collected before with the same name and label values",
        s.name,
        key_text(&s.labels)
    )
}

fn key_text(labels: &[(String, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

fn type_text(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "COUNTER",
        MetricType::Gauge => "GAUGE",
        MetricType::Histogram => "HISTOGRAM",
        MetricType::Summary => "SUMMARY",
        MetricType::GaugeHistogram => "GAUGE_HISTOGRAM",
        _ => "UNTYPED",
    }
}

fn labels_json(labels: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(
        labels
            .iter()
            .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

fn family_json(f: &Family) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    obj.insert("time_stamp".into(), format_rfc3339(f.timestamp_ms).into());
    obj.insert("type".into(), type_text(f.metric_type).into());
    if let Some(h) = &f.help {
        obj.insert("help".into(), h.clone().into());
    }
    let metrics: Vec<serde_json::Value> = f
        .metrics
        .iter()
        .map(|m| {
            let mut o = serde_json::Map::new();
            o.insert("labels".into(), labels_json(&m.labels));
            let suffix = |s: &'_ Sample| -> String {
                s.name
                    .strip_prefix(f.name.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            match f.metric_type {
                MetricType::Histogram | MetricType::Summary => {
                    let (key, label) = if f.metric_type == MetricType::Histogram {
                        ("buckets", "le")
                    } else {
                        ("quantiles", "quantile")
                    };
                    let mut inner = serde_json::Map::new();
                    for s in &m.samples {
                        match suffix(s).as_str() {
                            "_sum" => {
                                o.insert("sum".into(), format_go_g(s.value).into());
                            }
                            "_count" => {
                                o.insert("count".into(), format_go_g(s.value).into());
                            }
                            _ => {
                                if let Some((_, v)) = s.labels.iter().find(|(n, _)| n == label) {
                                    inner.insert(v.clone(), format_go_g(s.value).into());
                                }
                            }
                        }
                    }
                    o.insert(key.into(), serde_json::Value::Object(inner));
                }
                _ => {
                    if let Some(s) = m.samples.first() {
                        o.insert("value".into(), format_go_g(s.value).into());
                    }
                }
            }
            serde_json::Value::Object(o)
        })
        .collect();
    obj.insert("metrics".into(), metrics.into());
    serde_json::Value::Object(obj)
}

mod go_float {
    use narthex_model::float::{format_go_g, parse_go_float};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_go_g(*v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let s = String::deserialize(d)?;
        parse_go_float(&s).map_err(serde::de::Error::custom)
    }
}

mod metric_type {
    use narthex_model::MetricType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &MetricType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MetricType, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            _ => MetricType::Unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_grouping_path;

    const NOW: Now = Now {
        ms: 1_000,
        seconds: 1.5,
    };

    fn text(s: &Store) -> String {
        String::from_utf8(s.exposition()).unwrap()
    }

    #[test]
    fn put_post_delete() {
        let mut s = Store::new();
        let k = parse_grouping_path("job/j/instance/i").unwrap();
        s.push(
            &k,
            b"# TYPE a counter\na 1\nb{x=\"1\"} 2\n",
            false,
            true,
            NOW,
        )
        .unwrap();
        // POST replaces the family within the group, so a new type is fine.
        s.push(&k, b"a 3\n", false, false, NOW).unwrap();
        s.push(&k, b"# TYPE a counter\na 3\n", false, false, NOW)
            .unwrap();
        let t = text(&s);
        assert!(t.contains("a{instance=\"i\",job=\"j\"} 3\n"), "{t}");
        assert!(t.contains("b{instance=\"i\",job=\"j\",x=\"1\"} 2\n"), "{t}");
        s.push(&k, b"c 1\n", false, true, NOW).unwrap();
        let t = text(&s);
        assert!(!t.contains("\na{") && !t.contains("\nb{"), "{t}");
        assert!(t.contains("push_time_seconds{instance=\"i\",job=\"j\"} 1.5\n"));
        assert!(s.delete(&k));
        assert_eq!(text(&s), "");
    }

    #[test]
    fn consistency() {
        let mut s = Store::new();
        let k1 = parse_grouping_path("job/a").unwrap();
        let k2 = parse_grouping_path("job/b").unwrap();
        s.push(&k1, b"# TYPE m counter\nm 1\n", false, true, NOW)
            .unwrap();
        let before = s.families();
        let e = s
            .push(&k2, b"# TYPE m gauge\nm 1\n", false, true, NOW)
            .unwrap_err();
        assert!(e.to_string().contains("COUNTER"), "{e}");
        assert_eq!(before[0], s.families()[0]);
        let e = s.push(&k2, b"n 1\nn 2\n", false, true, NOW).unwrap_err();
        assert!(e.to_string().contains("collected before"), "{e}");
        let e = s.push(&k2, b"n 1 1000\n", false, true, NOW).unwrap_err();
        assert!(e.to_string().contains("timestamps"), "{e}");
        assert!(matches!(
            s.push(&k2, b"n{", false, true, NOW),
            Err(PushError::Parse(_))
        ));
        // Grouping labels override pushed ones.
        s.push(&k2, b"n{job=\"x\"} 1\n", false, true, NOW).unwrap();
        assert!(text(&s).contains("n{instance=\"\",job=\"b\"} 1\n"));
    }

    #[test]
    fn names_colliding_with_histograms_and_summaries() {
        let mut s = Store::new();
        let h = parse_grouping_path("job/h").unwrap();
        let q = parse_grouping_path("job/q").unwrap();
        let c = parse_grouping_path("job/c").unwrap();
        let hist = "# TYPE x histogram\nx_bucket{le=\"+Inf\"} 1\nx_sum 1\nx_count 1\n";
        s.push(&h, hist.as_bytes(), false, true, NOW).unwrap();
        s.push(
            &q,
            b"# TYPE y summary\ny_sum 1\ny_count 1\n",
            false,
            true,
            NOW,
        )
        .unwrap();
        let pushed = |s: &Store| {
            let mut f = s.families();
            f.retain(|f| !f.name.starts_with("push_"));
            f
        };
        let before = pushed(&s);
        for body in [
            "x_count 3\n",
            "x_sum 3\n",
            "x_bucket 3\n",
            "y_count 3\n",
            "y_sum 3\n",
        ] {
            let e = s.push(&c, body.as_bytes(), false, true, NOW).unwrap_err();
            assert!(
                e.to_string().contains("collides with previously collected"),
                "{e}"
            );
        }
        assert_eq!(pushed(&s), before, "nothing changed");
        // A summary has no buckets; `_created` is not checked (as the Pushgateway 1.5).
        s.push(&c, b"y_bucket 3\nx_created 1\n", false, true, NOW)
            .unwrap();
        // The other way round: a histogram `z` after a `z_count`, in the same group by POST.
        s.push(&c, b"z_count 3\n", false, false, NOW).unwrap();
        let e = s
            .push(
                &c,
                b"# TYPE z summary\nz_sum 1\nz_count 1\n",
                false,
                false,
                NOW,
            )
            .unwrap_err();
        assert!(e.to_string().contains("named \"z_count\""), "{e}");
        // PUT replaces the group's `z_count`, so the same summary is fine there.
        s.push(
            &c,
            b"# TYPE z summary\nz_sum 1\nz_count 1\n",
            false,
            true,
            NOW,
        )
        .unwrap();
        // An `x_count` histogram is its own family, next to an untyped `x`.
        s.push(&c, b"w 1\n", false, false, NOW).unwrap();
        let wh = "# TYPE w_count histogram\nw_count_bucket{le=\"+Inf\"} 1\nw_count_sum 1\nw_count_count 1\n";
        s.push(&h, wh.as_bytes(), false, false, NOW).unwrap();
    }

    #[test]
    fn different_help_is_accepted_and_empty_put_keeps_the_group() {
        let mut s = Store::new();
        let a = parse_grouping_path("job/a").unwrap();
        let b = parse_grouping_path("job/b").unwrap();
        s.push(&b, b"# HELP m Second.\nm 1\n", false, true, NOW)
            .unwrap();
        s.push(&a, b"# HELP m First.\nm 1\n", false, true, NOW)
            .unwrap();
        assert!(text(&s).starts_with("# HELP m First.\n"), "{}", text(&s));
        s.push(&a, b"", false, true, NOW).unwrap();
        let t = text(&s);
        assert!(!t.contains("m{instance=\"\",job=\"a\"}"), "{t}");
        assert!(t.contains("push_time_seconds{instance=\"\",job=\"a\"} 1.5\n"));
        // The gateway's own gauges cannot be pushed.
        s.push(&a, b"push_time_seconds 5\n", false, false, NOW)
            .unwrap();
        assert!(!text(&s).contains(" 5\n"));
    }

    #[test]
    fn histograms_and_json() {
        let mut s = Store::new();
        let k = parse_grouping_path("job/h").unwrap();
        let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
        s.push(&k, body.as_bytes(), false, true, NOW).unwrap();
        let t = text(&s);
        assert!(
            t.contains("h_bucket{instance=\"\",job=\"h\",le=\"1\"} 1\n"),
            "{t}"
        );
        let k2 = parse_grouping_path("job/h/a/x").unwrap();
        s.push(&k2, body.as_bytes(), false, true, NOW).unwrap();
        let t = text(&s);
        assert!(
            t.contains("h_bucket{a=\"x\",instance=\"\",job=\"h\",le=\"1\"} 1\n"),
            "{t}"
        );
        let j = s.api_metrics();
        let m = &j[0]["h"]["metrics"][0];
        assert_eq!(m["buckets"]["+Inf"], "2");
        assert_eq!(m["count"], "2");
        assert_eq!(j[0]["h"]["type"], "HISTOGRAM");
        assert_eq!(j[0]["last_push_successful"], true);
        // Protobuf exposition reads back to the same series as the text one.
        let pb = s.protobuf_exposition();
        let opts = ParseOptions::default();
        let from_pb = read_families(ProtobufParser::new(&pb, opts)).unwrap();
        let from_text = read_families(TextParser::new(&s.exposition(), opts)).unwrap();
        let flat = |fs: Vec<MetricFamily>| {
            let mut v: Vec<String> = fs
                .iter()
                .flat_map(|f| &f.samples)
                .map(|x| format!("{} {}", x.to_labels(), x.value))
                .collect();
            v.sort();
            v
        };
        assert_eq!(flat(from_pb), flat(from_text));
        let back = Store::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
    }
}
