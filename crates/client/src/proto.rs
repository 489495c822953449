//! The protobuf exposition format (`io.prometheus.client.MetricFamily`, length-delimited),
//! the one format that carries native histograms.

use std::collections::BTreeMap;

use narthex_exposition::protobuf::pb;
use narthex_exposition::{FamilySample, MetricFamily};
use narthex_model::MetricType;

fn pb_type(t: MetricType) -> pb::MetricType {
    match t {
        MetricType::Counter => pb::MetricType::Counter,
        MetricType::Gauge => pb::MetricType::Gauge,
        MetricType::Summary => pb::MetricType::Summary,
        MetricType::Histogram => pb::MetricType::Histogram,
        MetricType::GaugeHistogram => pb::MetricType::GaugeHistogram,
        _ => pb::MetricType::Untyped,
    }
}

fn labels_without(s: &FamilySample, skip: &str) -> Vec<pb::LabelPair> {
    s.labels
        .iter()
        .filter(|l| &*l.name != skip)
        .map(|l| pb::LabelPair::new(&*l.name, &*l.value))
        .collect()
}

/// The family's samples as protobuf metrics: one per sample for counters, gauges and
/// untyped; one per label set (without `le`/`quantile`) for histograms and summaries.
pub(crate) fn metrics_from_samples(f: &MetricFamily) -> Vec<pb::Metric> {
    let mut out: Vec<pb::Metric> = Vec::new();
    match f.metric_type {
        MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary => {
            let (skip, hist) = if f.metric_type == MetricType::Summary {
                ("quantile", false)
            } else {
                ("le", true)
            };
            // Label set -> index in `out`, in order of first appearance.
            let mut index: BTreeMap<Vec<(String, String)>, usize> = BTreeMap::new();
            for s in &f.samples {
                let labels = labels_without(s, skip);
                let key: Vec<(String, String)> = labels
                    .iter()
                    .map(|l| {
                        (
                            l.name.clone().unwrap_or_default(),
                            l.value.clone().unwrap_or_default(),
                        )
                    })
                    .collect();
                let i = *index.entry(key).or_insert_with(|| {
                    out.push(pb::Metric {
                        label: labels,
                        histogram: hist.then(pb::Histogram::default),
                        summary: (!hist).then(pb::Summary::default),
                        timestamp_ms: s.timestamp,
                        ..Default::default()
                    });
                    out.len() - 1
                });
                let m = &mut out[i];
                let suffix = s.name.strip_prefix(f.name.as_str()).unwrap_or("");
                let bound = s
                    .labels
                    .iter()
                    .find(|l| &*l.name == skip)
                    .and_then(|l| narthex_model::float::parse_go_float(&l.value).ok());
                if let Some(h) = m.histogram.as_mut() {
                    match suffix {
                        "_bucket" => {
                            if let Some(ub) = bound.filter(|b| b.is_finite()) {
                                h.bucket.push(pb::Bucket {
                                    cumulative_count: Some(s.value as u64),
                                    upper_bound: Some(ub),
                                    ..Default::default()
                                });
                            }
                        }
                        "_sum" => h.sample_sum = Some(s.value),
                        "_count" => h.sample_count = Some(s.value as u64),
                        _ => {}
                    }
                } else if let Some(sm) = m.summary.as_mut() {
                    match (suffix, bound) {
                        ("", Some(q)) => sm.quantile.push(pb::Quantile {
                            quantile: Some(q),
                            value: Some(s.value),
                        }),
                        ("_sum", _) => sm.sample_sum = Some(s.value),
                        ("_count", _) => sm.sample_count = Some(s.value as u64),
                        _ => {}
                    }
                }
            }
        }
        t => {
            for s in &f.samples {
                // A counter's `_created` sample has no place in this format.
                if t == MetricType::Counter && s.name.ends_with("_created") {
                    continue;
                }
                let v = Some(s.value);
                out.push(pb::Metric {
                    label: labels_without(s, ""),
                    counter: (t == MetricType::Counter).then(|| pb::Counter {
                        value: v,
                        ..Default::default()
                    }),
                    gauge: (t == MetricType::Gauge).then_some(pb::Gauge { value: v }),
                    untyped: (t != MetricType::Counter && t != MetricType::Gauge)
                        .then_some(pb::Untyped { value: v }),
                    timestamp_ms: s.timestamp,
                    ..Default::default()
                });
            }
        }
    }
    out
}

/// The protobuf message for a family with these metrics. A counter is named with its
/// `_total`, as the text format names it.
pub(crate) fn family(f: &MetricFamily, metric: Vec<pb::Metric>) -> pb::MetricFamily {
    let name = match f.metric_type {
        MetricType::Counter
            if !f.name.ends_with("_total")
                && f.samples.iter().any(|s| s.name.ends_with("_total")) =>
        {
            format!("{}_total", f.name)
        }
        _ => f.name.clone(),
    };
    pb::MetricFamily {
        name: Some(name),
        help: f.help.clone(),
        r#type: Some(pb_type(f.metric_type) as i32),
        metric,
        unit: None,
    }
}

/// Families (as gathered, sample by sample) in the length-delimited protobuf format.
pub fn encode_protobuf(families: &[MetricFamily]) -> Vec<u8> {
    let pbs: Vec<pb::MetricFamily> = families
        .iter()
        .map(|f| family(f, metrics_from_samples(f)))
        .collect();
    let mut out = Vec::new();
    narthex_exposition::protobuf::encode_delimited(&pbs, &mut out);
    out
}
