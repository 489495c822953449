//! Rule evaluation, alert templates and the notifier's request bodies.
//!
//! - `group_eval/recording/N`, `group_eval/alerting/N`: one evaluation of the groups in
//!   `benches/rules.yml` over N instances (each with `up` and a 10-sample
//!   `http_requests_total` counter per code), on `MemStorage`; the output is appended to
//!   a storage that discards it, so repeated evaluations at one time measure the same work.
//!   Half the instances are down, so the alerting group keeps N/2 firing alerts with
//!   templated labels and annotations.
//! - `template/*`: expanding typical annotation templates.
//! - `notifier/encode_alerts_64`: the JSON body of one 64-alert batch.
//!
//! Run: `cargo bench -p narthex-rules --bench rules`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use narthex_model::{Exemplar, Labels, Metadata};
use narthex_promql::Engine;
use narthex_rules::template::{TemplateData, expand_alert};
use narthex_rules::{Group, GroupOptions, Notification, encode_alerts, rulefmt};
use narthex_storage::{Appendable, Appender, HistogramSample, MemStorage, SeriesRef, StorageError};

const RULES: &str = include_str!("rules.yml");
/// Evaluation time: the end of the data.
const NOW: i64 = 10 * 15_000;

/// Appends nothing: rule output is thrown away.
struct Discard;

impl Appender for Discard {
    fn append(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: i64,
        _: f64,
    ) -> Result<SeriesRef, StorageError> {
        Ok(SeriesRef::UNKNOWN)
    }
    fn append_histogram(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: i64,
        _: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError> {
        Ok(SeriesRef::UNKNOWN)
    }
    fn append_exemplar(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: &Exemplar,
    ) -> Result<SeriesRef, StorageError> {
        Ok(SeriesRef::UNKNOWN)
    }
    fn update_metadata(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: &Metadata,
    ) -> Result<SeriesRef, StorageError> {
        Ok(SeriesRef::UNKNOWN)
    }
    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

impl Appendable for Discard {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(Discard)
    }
}

/// `up` (every other instance down) and `http_requests_total{code}` for `n` instances
/// over 11 samples 15 s apart.
fn storage(n: usize) -> MemStorage {
    let st = MemStorage::new();
    let mut app = st.appender();
    for i in 0..n {
        let inst = format!("host{i}:9100");
        let job = format!("job{}", i % 10);
        let base = [("instance", inst.as_str()), ("job", job.as_str())];
        let up = Labels::from_pairs(base.iter().copied().chain([("__name__", "up")]));
        for code in ["200", "404", "500"] {
            let l = Labels::from_pairs(
                base.iter()
                    .copied()
                    .chain([("__name__", "http_requests_total"), ("code", code)]),
            );
            for k in 0..=10 {
                app.append(
                    SeriesRef::UNKNOWN,
                    &l,
                    k * 15_000,
                    (k * (i as i64 + 1)) as f64,
                )
                .expect("append");
            }
        }
        for k in 0..=10 {
            app.append(SeriesRef::UNKNOWN, &up, k * 15_000, (i % 2) as f64)
                .expect("append");
        }
    }
    app.commit().expect("commit");
    st
}

fn group_eval(c: &mut Criterion) {
    let opts = GroupOptions::default();
    let file = rulefmt::parse(RULES, &opts.parse).expect("rules.yml");
    let engine = Engine::default();
    let mut g = c.benchmark_group("group_eval");
    g.sample_size(20);
    for n in [100usize, 1000] {
        let st = storage(n);
        for def in &file.groups {
            let group = Group::from_def(def, "rules.yml", &opts);
            // Twice first, so alerts are firing and steady.
            group.eval(&engine, &st, &Discard, NOW);
            group.eval(&engine, &st, &Discard, NOW);
            g.bench_with_input(BenchmarkId::new(def.name.as_str(), n), &n, |b, _| {
                b.iter(|| black_box(group.eval(&engine, &st, &Discard, NOW)))
            });
        }
    }
    g.finish();
}

fn templates(c: &mut Criterion) {
    let data = TemplateData {
        labels: [
            ("alertname", "InstanceDown"),
            ("instance", "host1.example.com:9100"),
            ("job", "node"),
            ("severity", "page"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        external_url: "http://prometheus.example:9090".into(),
        value: 0.123456789,
        time: NOW,
        ..Default::default()
    };
    let mut g = c.benchmark_group("template");
    for (name, text) in [
        (
            "labels",
            "{{ $labels.instance }} of job {{ $labels.job }} is down",
        ),
        (
            "humanize",
            "{{ $labels.instance }}: {{ $value | humanizePercentage }} errors, {{ 123456789 | humanize }}B, {{ 3661 | humanizeDuration }}",
        ),
        (
            "printf_if",
            "{{ if gt $value 0.1 }}{{ printf \"%.2f\" $value }} above{{ else }}fine{{ end }} ({{ $externalURL }})",
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(expand_alert("InstanceDown", text, &data, None)))
        });
    }
    g.finish();
}

fn notifier(c: &mut Criterion) {
    let alerts: Vec<Notification> = (0..64)
        .map(|i| Notification {
            labels: Labels::from_pairs(
                [
                    ("alertname", "InstanceDown".to_string()),
                    ("instance", format!("host{i}:9100")),
                    ("job", "node".to_string()),
                    ("severity", "page".to_string()),
                ]
                .iter()
                .map(|(k, v)| (*k, v.as_str())),
            ),
            annotations: Labels::from_pairs(
                [("summary", format!("host{i}:9100 of job node is down"))]
                    .iter()
                    .map(|(k, v)| (*k, v.as_str())),
            ),
            starts_at: 1_700_000_000_000 + i,
            ends_at: 1_700_000_240_000,
            generator_url: "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
                .into(),
        })
        .collect();
    c.bench_function("notifier/encode_alerts_64", |b| {
        b.iter(|| black_box(encode_alerts(&alerts)))
    });
}

criterion_group!(benches, group_eval, templates, notifier);
criterion_main!(benches);
