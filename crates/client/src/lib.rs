//! Instrumenting Rust code with Prometheus metrics.
//!
//! This crate **is** a small client library: a [`Registry`] of [`Counter`]s, [`Gauge`]s,
//! classic [`Histogram`]s, [`NativeHistogram`]s (exponential buckets), [`Summary`]s with
//! sliding-window quantiles, their labelled [`Family`] forms, and callback collectors for
//! values read at scrape time; [`Registry::encode`] writes everything in the Prometheus text
//! format, OpenMetrics 1.0 or the delimited protobuf format (the one that carries native
//! histograms), chosen from an `Accept` header as Prometheus's client libraries do.
//! Counters, gauges and classic histograms update with lock-free atomics; summaries and
//! native histograms take a short lock per observation; a family takes a read lock per
//! lookup.
//!
//! It is **not** a push client or a process collector.
//!
//! ```
//! use narthex_client::Registry;
//!
//! let r = Registry::new();
//! let requests = r.counter_family("http_requests_total", "Requests served.", &["code"]);
//! requests.with(&["200"]).inc();
//! let latency = r.histogram("request_seconds", "Latency.", vec![0.1, 1.0]);
//! latency.observe(0.25);
//! let (body, content_type) = r.encode("text/plain");
//! let text = String::from_utf8(body).unwrap();
//! assert!(text.contains("http_requests_total{code=\"200\"} 1\n"));
//! assert!(text.contains("request_seconds_bucket{le=\"1.0\"} 1\n"));
//! assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod native;
mod proto;

pub use native::{DEFAULT_ZERO_THRESHOLD, NativeHistogram, schema_for_factor};
pub use proto::encode_protobuf;

use narthex_exposition::{FamilySample, Format, MetricFamily};
use narthex_model::MetricType;
use narthex_model::float::format_openmetrics_float;
use parking_lot::{Mutex, RwLock};

/// An `f64` updated atomically.
#[derive(Debug, Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    fn add(&self, d: f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + d).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(x) => cur = x,
            }
        }
    }
}

/// A value that only goes up (reset when the process restarts).
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicF64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.add(1.0);
    }

    /// Adds `v`; negative values are ignored (a counter never decreases).
    pub fn inc_by(&self, v: f64) {
        if v > 0.0 {
            self.0.add(v);
        }
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A value that goes up and down.
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicF64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.set(v);
    }

    /// Adds `d` (negative to subtract).
    pub fn add(&self, d: f64) {
        self.0.add(d);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

#[derive(Debug)]
struct HistogramState {
    upper: Vec<f64>,
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    sum: AtomicF64,
}

/// Observations counted into cumulative buckets (Prometheus's classic histogram).
#[derive(Clone, Debug)]
pub struct Histogram(Arc<HistogramState>);

/// Prometheus's default buckets (`prometheus.DefBuckets`).
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Histogram {
    fn new(mut upper: Vec<f64>) -> Histogram {
        upper.retain(|b| b.is_finite());
        upper.sort_by(f64::total_cmp);
        upper.dedup();
        let counts = upper.iter().map(|_| AtomicU64::new(0)).collect();
        Histogram(Arc::new(HistogramState {
            upper,
            counts,
            count: AtomicU64::new(0),
            sum: AtomicF64::default(),
        }))
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let s = &self.0;
        if let Some(i) = s.upper.iter().position(|b| v <= *b) {
            s.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        s.count.fetch_add(1, Ordering::Relaxed);
        s.sum.add(v);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }

    /// Sum of the observations.
    pub fn sum(&self) -> f64 {
        self.0.sum.get()
    }
}

/// How long a [`Summary`] remembers an observation, and in how many steps it forgets
/// (client_golang's `DefMaxAge` and `DefAgeBuckets`).
pub const SUMMARY_MAX_AGE: Duration = Duration::from_secs(600);
const SUMMARY_AGE_BUCKETS: u32 = 5;
/// Observations kept per age bucket; beyond it a uniform random sample of them is kept.
const SUMMARY_BUCKET_CAP: usize = 1024;

#[derive(Debug)]
struct SummaryState {
    quantiles: Vec<f64>,
    count: AtomicU64,
    sum: AtomicF64,
    window: Mutex<Window>,
}

/// The observations of the last [`SUMMARY_MAX_AGE`], in age buckets: the oldest bucket
/// goes when a new one starts.
#[derive(Debug)]
struct Window {
    /// Start of the newest bucket.
    started: Instant,
    /// Newest last.
    buckets: std::collections::VecDeque<Reservoir>,
    rng: u64,
}

#[derive(Debug, Default)]
struct Reservoir {
    seen: u64,
    values: Vec<f64>,
}

/// Observations summarised by quantiles over a sliding time window, plus a sum and a
/// count over all time (Prometheus's summary). Quantiles are exact while at most 1024
/// observations fall in each two-minute slice of the ten-minute window, and estimated
/// from a uniform sample beyond that; with no recent observation a quantile is NaN.
#[derive(Clone, Debug)]
pub struct Summary(Arc<SummaryState>);

impl Summary {
    fn new(mut quantiles: Vec<f64>) -> Summary {
        quantiles.retain(|q| (0.0..=1.0).contains(q));
        quantiles.sort_by(f64::total_cmp);
        quantiles.dedup();
        Summary(Arc::new(SummaryState {
            quantiles,
            count: AtomicU64::new(0),
            sum: AtomicF64::default(),
            window: Mutex::new(Window {
                started: Instant::now(),
                buckets: std::collections::VecDeque::from([Reservoir::default()]),
                rng: 0x9E37_79B9_7F4A_7C15,
            }),
        }))
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let s = &self.0;
        s.count.fetch_add(1, Ordering::Relaxed);
        s.sum.add(v);
        if s.quantiles.is_empty() {
            return;
        }
        let mut w = s.window.lock();
        w.rotate(Instant::now());
        // xorshift64*: the reservoir only needs a cheap, roughly uniform choice.
        w.rng ^= w.rng >> 12;
        w.rng ^= w.rng << 25;
        w.rng ^= w.rng >> 27;
        let r = w.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let b = w.buckets.back_mut().expect("a bucket");
        b.seen += 1;
        if b.values.len() < SUMMARY_BUCKET_CAP {
            b.values.push(v);
        } else {
            let i = (r % b.seen) as usize;
            if i < SUMMARY_BUCKET_CAP {
                b.values[i] = v;
            }
        }
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }

    /// Sum of the observations.
    pub fn sum(&self) -> f64 {
        self.0.sum.get()
    }

    /// The configured quantiles with their current values (NaN without recent
    /// observations).
    pub fn quantiles(&self) -> Vec<(f64, f64)> {
        let s = &self.0;
        let mut w = s.window.lock();
        w.rotate(Instant::now());
        // Each bucket's sample stands for `seen` observations.
        let mut weighted: Vec<(f64, f64)> = Vec::new();
        for b in &w.buckets {
            if b.values.is_empty() {
                continue;
            }
            let weight = b.seen as f64 / b.values.len() as f64;
            weighted.extend(b.values.iter().map(|v| (*v, weight)));
        }
        drop(w);
        weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = weighted.iter().map(|x| x.1).sum();
        s.quantiles
            .iter()
            .map(|&q| {
                if weighted.is_empty() {
                    return (q, f64::NAN);
                }
                // The smallest value whose cumulative weight reaches q of the total.
                let target = q * total;
                let mut acc = 0.0;
                for (v, wgt) in &weighted {
                    acc += wgt;
                    if acc >= target {
                        return (q, *v);
                    }
                }
                (q, weighted.last().map_or(f64::NAN, |x| x.0))
            })
            .collect()
    }
}

impl Window {
    fn rotate(&mut self, now: Instant) {
        let step = SUMMARY_MAX_AGE / SUMMARY_AGE_BUCKETS;
        let mut steps = 0;
        while now.duration_since(self.started) >= step && steps <= SUMMARY_AGE_BUCKETS {
            self.started += step;
            self.buckets.push_back(Reservoir::default());
            steps += 1;
        }
        if steps > SUMMARY_AGE_BUCKETS {
            // Idle for longer than the window: start afresh from now.
            self.started = now;
        }
        while self.buckets.len() > SUMMARY_AGE_BUCKETS as usize {
            self.buckets.pop_front();
        }
    }
}

impl Metric for Summary {
    fn fresh(proto: &Self) -> Self {
        Summary::new(proto.0.quantiles.clone())
    }

    fn samples(&self, name: &str, labels: &[(&str, &str)], out: &mut Vec<FamilySample>) {
        for (q, v) in self.quantiles() {
            let qs = format_openmetrics_float(q);
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("quantile", &qs));
            out.push(FamilySample::new(name, &l, v));
        }
        out.push(FamilySample::new(format!("{name}_sum"), labels, self.sum()));
        out.push(FamilySample::new(
            format!("{name}_count"),
            labels,
            self.count() as f64,
        ));
    }

    fn metric_type() -> MetricType {
        MetricType::Summary
    }
}

/// A metric of a [`Family`]: created for each new set of label values.
pub trait Metric: Clone + Send + Sync + 'static {
    /// A fresh metric.
    fn fresh(proto: &Self) -> Self;
    /// Its samples, named after `name`, with `labels`.
    fn samples(&self, name: &str, labels: &[(&str, &str)], out: &mut Vec<FamilySample>);
    /// Its type.
    fn metric_type() -> MetricType;

    /// Its protobuf message, when it carries what samples cannot (native histograms);
    /// `None` has the registry derive the message from [`Metric::samples`].
    fn protobuf(
        &self,
        _labels: &[(&str, &str)],
    ) -> Option<narthex_exposition::protobuf::pb::Metric> {
        None
    }
}

impl Metric for Counter {
    fn fresh(_: &Self) -> Self {
        Counter::default()
    }

    fn samples(&self, name: &str, labels: &[(&str, &str)], out: &mut Vec<FamilySample>) {
        out.push(FamilySample::new(
            counter_sample_name(name),
            labels,
            self.get(),
        ));
    }

    fn metric_type() -> MetricType {
        MetricType::Counter
    }
}

impl Metric for Gauge {
    fn fresh(_: &Self) -> Self {
        Gauge::default()
    }

    fn samples(&self, name: &str, labels: &[(&str, &str)], out: &mut Vec<FamilySample>) {
        out.push(FamilySample::new(name, labels, self.get()));
    }

    fn metric_type() -> MetricType {
        MetricType::Gauge
    }
}

impl Metric for Histogram {
    fn fresh(proto: &Self) -> Self {
        Histogram::new(proto.0.upper.clone())
    }

    fn samples(&self, name: &str, labels: &[(&str, &str)], out: &mut Vec<FamilySample>) {
        let s = &self.0;
        let mut cum = 0;
        let total = s.count.load(Ordering::Relaxed);
        for (b, c) in s.upper.iter().zip(&s.counts) {
            cum += c.load(Ordering::Relaxed);
            let le = format_openmetrics_float(*b);
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("le", &le));
            out.push(FamilySample::new(format!("{name}_bucket"), &l, cum as f64));
        }
        let mut l: Vec<(&str, &str)> = labels.to_vec();
        l.push(("le", "+Inf"));
        out.push(FamilySample::new(
            format!("{name}_bucket"),
            &l,
            total as f64,
        ));
        out.push(FamilySample::new(
            format!("{name}_sum"),
            labels,
            s.sum.get(),
        ));
        out.push(FamilySample::new(
            format!("{name}_count"),
            labels,
            total as f64,
        ));
    }

    fn metric_type() -> MetricType {
        MetricType::Histogram
    }
}

fn counter_sample_name(name: &str) -> String {
    if name.ends_with("_total") {
        name.to_string()
    } else {
        format!("{name}_total")
    }
}

/// Metrics of one name told apart by label values.
#[derive(Debug)]
pub struct Family<M> {
    label_names: Vec<String>,
    proto: M,
    metrics: RwLock<BTreeMap<Vec<String>, M>>,
}

impl<M: Metric> Family<M> {
    /// The metric for these label values (created on first use). The values must match
    /// the family's label names in number; missing values count as empty.
    pub fn with(&self, values: &[&str]) -> M {
        let key: Vec<String> = (0..self.label_names.len())
            .map(|i| values.get(i).copied().unwrap_or("").to_string())
            .collect();
        if let Some(m) = self.metrics.read().get(&key) {
            return m.clone();
        }
        self.metrics
            .write()
            .entry(key)
            .or_insert_with(|| M::fresh(&self.proto))
            .clone()
    }
}

type CollectFn = Box<dyn Fn(&mut Vec<MetricFamily>) + Send + Sync>;
type ProtoFn = Box<dyn Fn() -> Option<Vec<narthex_exposition::protobuf::pb::Metric>> + Send + Sync>;
type SamplesFn = Box<dyn Fn(&str, &mut Vec<FamilySample>) + Send + Sync>;

enum Entry {
    Static {
        name: String,
        help: String,
        collect: SamplesFn,
        metric_type: MetricType,
        protobuf: ProtoFn,
    },
    Callback(CollectFn),
}

/// The metrics of a program.
#[derive(Default)]
pub struct Registry {
    entries: Mutex<Vec<Entry>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("entries", &self.entries.lock().len())
            .finish()
    }
}

/// Family names in OpenMetrics: counters without `_total`.
fn family_name(name: &str, t: MetricType) -> String {
    match t {
        MetricType::Counter => name.strip_suffix("_total").unwrap_or(name).to_string(),
        _ => name.to_string(),
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    fn add<M: Metric>(&self, name: &str, help: &str, family: Arc<Family<M>>) {
        let pf = Arc::clone(&family);
        self.entries.lock().push(Entry::Static {
            name: name.to_string(),
            help: help.to_string(),
            metric_type: M::metric_type(),
            protobuf: Box::new(move || {
                let names: Vec<&str> = pf.label_names.iter().map(String::as_str).collect();
                pf.metrics
                    .read()
                    .iter()
                    .map(|(values, m)| {
                        let labels: Vec<(&str, &str)> = names
                            .iter()
                            .zip(values)
                            .map(|(n, v)| (*n, v.as_str()))
                            .collect();
                        m.protobuf(&labels)
                    })
                    .collect()
            }),
            collect: Box::new(move |name, out| {
                let names: Vec<&str> = family.label_names.iter().map(String::as_str).collect();
                for (values, m) in family.metrics.read().iter() {
                    let labels: Vec<(&str, &str)> = names
                        .iter()
                        .zip(values)
                        .map(|(n, v)| (*n, v.as_str()))
                        .collect();
                    m.samples(name, &labels, out);
                }
            }),
        });
    }

    fn family<M: Metric>(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        proto: M,
    ) -> Arc<Family<M>> {
        let f = Arc::new(Family {
            label_names: labels.iter().map(|s| s.to_string()).collect(),
            proto,
            metrics: RwLock::new(BTreeMap::new()),
        });
        self.add(name, help, Arc::clone(&f));
        f
    }

    /// Registers a counter (its samples are named `<name>` ending in `_total`).
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        self.family(name, help, &[], Counter::default()).with(&[])
    }

    /// Registers a family of counters with these label names.
    pub fn counter_family(&self, name: &str, help: &str, labels: &[&str]) -> Arc<Family<Counter>> {
        self.family(name, help, labels, Counter::default())
    }

    /// Registers a gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.family(name, help, &[], Gauge::default()).with(&[])
    }

    /// Registers a family of gauges with these label names.
    pub fn gauge_family(&self, name: &str, help: &str, labels: &[&str]) -> Arc<Family<Gauge>> {
        self.family(name, help, labels, Gauge::default())
    }

    /// Registers a histogram with these bucket upper bounds (`+Inf` is implied).
    pub fn histogram(&self, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
        self.family(name, help, &[], Histogram::new(buckets))
            .with(&[])
    }

    /// Registers a family of histograms.
    pub fn histogram_family(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: Vec<f64>,
    ) -> Arc<Family<Histogram>> {
        self.family(name, help, labels, Histogram::new(buckets))
    }

    /// Registers a summary with these quantiles (each between 0 and 1).
    pub fn summary(&self, name: &str, help: &str, quantiles: Vec<f64>) -> Summary {
        self.family(name, help, &[], Summary::new(quantiles))
            .with(&[])
    }

    /// Registers a family of summaries.
    pub fn summary_family(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        quantiles: Vec<f64>,
    ) -> Arc<Family<Summary>> {
        self.family(name, help, labels, Summary::new(quantiles))
    }

    /// Registers a native histogram whose buckets grow by at most `factor` (1.1 is
    /// common; it picks schema 3), exposed in the protobuf format.
    pub fn native_histogram(&self, name: &str, help: &str, factor: f64) -> NativeHistogram {
        self.native_histogram_family(name, help, &[], factor)
            .with(&[])
    }

    /// Registers a family of native histograms.
    pub fn native_histogram_family(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        factor: f64,
    ) -> Arc<Family<NativeHistogram>> {
        let proto = NativeHistogram::new(
            native::schema_for_factor(factor),
            native::DEFAULT_ZERO_THRESHOLD,
        );
        self.family(name, help, labels, proto)
    }

    /// Registers a callback that adds whole families at every collection (values read at
    /// scrape time: sizes, counts kept elsewhere).
    pub fn register_collector(&self, f: impl Fn(&mut Vec<MetricFamily>) + Send + Sync + 'static) {
        self.entries.lock().push(Entry::Callback(Box::new(f)));
    }

    /// Every family, sorted by name.
    pub fn gather(&self) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        for e in self.entries.lock().iter() {
            match e {
                Entry::Static {
                    name,
                    help,
                    collect,
                    metric_type,
                    ..
                } => {
                    let mut samples = Vec::new();
                    collect(name, &mut samples);
                    out.push(MetricFamily {
                        name: family_name(name, *metric_type),
                        help: Some(help.clone()),
                        metric_type: *metric_type,
                        unit: None,
                        samples,
                    });
                }
                Entry::Callback(f) => f(&mut out),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Every family as protobuf messages, sorted by name: native histograms with their
    /// buckets, the rest derived from their samples.
    pub fn gather_protobuf(&self) -> Vec<narthex_exposition::protobuf::pb::MetricFamily> {
        let mut out = Vec::new();
        for e in self.entries.lock().iter() {
            match e {
                Entry::Static {
                    name,
                    help,
                    collect,
                    metric_type,
                    protobuf,
                } => {
                    let mut samples = Vec::new();
                    collect(name, &mut samples);
                    let f = MetricFamily {
                        name: family_name(name, *metric_type),
                        help: Some(help.clone()),
                        metric_type: *metric_type,
                        unit: None,
                        samples,
                    };
                    let metrics = protobuf().unwrap_or_else(|| proto::metrics_from_samples(&f));
                    out.push(proto::family(&f, metrics));
                }
                Entry::Callback(c) => {
                    let mut fams = Vec::new();
                    c(&mut fams);
                    out.extend(
                        fams.iter()
                            .map(|f| proto::family(f, proto::metrics_from_samples(f))),
                    );
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Encodes every family in the format `accept` asks for (protobuf or OpenMetrics
    /// when asked, else the text format); returns the body and its `Content-Type`.
    pub fn encode(&self, accept: &str) -> (Vec<u8>, &'static str) {
        if narthex_exposition::negotiate(accept) == Format::Protobuf {
            let mut out = Vec::new();
            narthex_exposition::protobuf::encode_delimited(&self.gather_protobuf(), &mut out);
            return (out, Format::Protobuf.content_type());
        }
        let families = self.gather();
        match narthex_exposition::negotiate(accept) {
            Format::OpenMetrics => (
                narthex_exposition::write_openmetrics(&families),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            _ => (
                narthex_exposition::write_text(&families),
                "text/plain; version=0.0.4; charset=utf-8",
            ),
        }
    }
}
