//! Scrape targets: the labels a discovered target ends up with, and its URL.

use std::collections::BTreeMap;

use narthex_model::relabel::{self, RelabelConfig};
use narthex_model::{Labels, LabelsBuilder};

/// How a job scrapes: Prometheus's `scrape_config`, minus discovery.
#[derive(Clone, Debug)]
pub struct ScrapeOptions {
    /// `job_name`.
    pub job: String,
    /// `scrape_interval` in milliseconds.
    pub interval: i64,
    /// `scrape_timeout` in milliseconds.
    pub timeout: i64,
    /// `metrics_path` (`/metrics`).
    pub metrics_path: String,
    /// `scheme` (`http`).
    pub scheme: String,
    /// `params`: URL query parameters.
    pub params: BTreeMap<String, Vec<String>>,
    /// `honor_labels`: on conflicts keep the scraped labels (else they become `exported_*`).
    pub honor_labels: bool,
    /// `honor_timestamps`: use the timestamps the target exposes (on by default).
    pub honor_timestamps: bool,
    /// `track_timestamps_staleness`: also mark series with explicit timestamps stale.
    pub track_timestamps_staleness: bool,
    /// The formats to ask for, in order of preference.
    pub protocols: Vec<Protocol>,
    /// `sample_limit`: more samples after metric relabelling fail the scrape (0: none).
    pub sample_limit: usize,
    /// `label_limit`: more labels on a series fail the scrape (0: none).
    pub label_limit: usize,
    /// `label_name_length_limit` (0: none).
    pub label_name_length_limit: usize,
    /// `label_value_length_limit` (0: none).
    pub label_value_length_limit: usize,
    /// `body_size_limit` in bytes of the uncompressed body (0: none).
    pub body_size_limit: usize,
    /// `target_limit`: more targets after relabelling fail every target of the job (0: none).
    pub target_limit: usize,
    /// `relabel_configs`, applied to discovered targets.
    pub relabel: Vec<RelabelConfig>,
    /// `metric_relabel_configs`, applied to every scraped series.
    pub metric_relabel: Vec<RelabelConfig>,
    /// `enable_compression`: ask for gzip (on by default).
    pub enable_compression: bool,
    /// `scrape_native_histograms`: store the native histograms of protobuf scrapes (off
    /// by default, as in Prometheus 3: histograms are then read as classic ones).
    pub native_histograms: bool,
    /// `always_scrape_classic_histograms`: with native histograms on, also store the
    /// classic series of histograms that expose both.
    pub always_scrape_classic_histograms: bool,
    /// `native_histogram_bucket_limit`: more buckets lower a native histogram's
    /// resolution; when even schema -4 has too many, the scrape fails (0: none).
    pub native_histogram_bucket_limit: usize,
    /// `native_histogram_min_bucket_factor`: native histograms with a finer growth factor
    /// from one bucket to the next are stored at a lower resolution (0: none).
    pub native_histogram_min_bucket_factor: f64,
    /// The HTTP client settings: TLS, credentials, headers, redirects, proxy.
    pub http: narthex_http::HttpSettings,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        ScrapeOptions {
            job: String::new(),
            interval: 60_000,
            timeout: 10_000,
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            params: BTreeMap::new(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            protocols: Protocol::DEFAULT.to_vec(),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            body_size_limit: 0,
            target_limit: 0,
            relabel: Vec::new(),
            metric_relabel: Vec::new(),
            enable_compression: true,
            native_histograms: false,
            always_scrape_classic_histograms: false,
            native_histogram_bucket_limit: 0,
            native_histogram_min_bucket_factor: 0.0,
            http: narthex_http::HttpSettings::default(),
        }
    }
}

/// A scrape protocol (`scrape_protocols`), with the `Accept` header part Prometheus sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `PrometheusProto`: delimited protobuf.
    PrometheusProto,
    /// `OpenMetricsText1.0.0`.
    OpenMetricsText1_0_0,
    /// `OpenMetricsText0.0.1`.
    OpenMetricsText0_0_1,
    /// `PrometheusText0.0.4`.
    PrometheusText0_0_4,
    /// `PrometheusText1.0.0`.
    PrometheusText1_0_0,
}

impl Protocol {
    /// Prometheus 3.x's default order without native histograms.
    pub const DEFAULT: [Protocol; 4] = [
        Protocol::OpenMetricsText1_0_0,
        Protocol::OpenMetricsText0_0_1,
        Protocol::PrometheusText1_0_0,
        Protocol::PrometheusText0_0_4,
    ];

    /// The name used in `scrape_protocols`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::PrometheusProto => "PrometheusProto",
            Protocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
            Protocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            Protocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
            Protocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
        }
    }

    /// Parses a `scrape_protocols` entry.
    pub fn parse(s: &str) -> Option<Protocol> {
        [
            Protocol::PrometheusProto,
            Protocol::OpenMetricsText1_0_0,
            Protocol::OpenMetricsText0_0_1,
            Protocol::PrometheusText0_0_4,
            Protocol::PrometheusText1_0_0,
        ]
        .into_iter()
        .find(|p| p.name() == s)
    }

    fn media(self) -> &'static str {
        match self {
            Protocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
            Protocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
            Protocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            Protocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
            Protocol::PrometheusText1_0_0 => "text/plain;version=1.0.0",
        }
    }
}

/// The `Accept` header for `protocols`, with decreasing weights and a `*/*` fallback, as
/// Prometheus builds it.
pub fn accept_header(protocols: &[Protocol]) -> String {
    let mut parts = Vec::new();
    let mut weight = protocols.len() + 1;
    for p in protocols {
        parts.push(format!("{};q=0.{weight}", p.media()));
        weight -= 1;
    }
    parts.push(format!("*/*;q=0.{weight}"));
    parts.join(",")
}

/// A target after relabelling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The labels every scraped series gets (`job`, `instance`, ...), no `__` labels.
    pub labels: Labels,
    /// The labels discovery produced, with the job's defaults (`__address__`, ...).
    pub discovered: Labels,
    /// The URL scraped.
    pub url: String,
    /// The interval in milliseconds (`__scrape_interval__` may change it per target).
    pub interval: i64,
    /// The timeout in milliseconds (`__scrape_timeout__`).
    pub timeout: i64,
}

impl Target {
    /// A hash identifying the target (labels and URL), also used to spread scrapes.
    pub fn hash(&self) -> u64 {
        let mut h = self.labels.hash64();
        h ^= xxhash_rust::xxh64::xxh64(self.url.as_bytes(), 0);
        h
    }
}

/// Why a discovered target cannot be scraped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// No `__address__` after relabelling.
    #[error("no address")]
    NoAddress,
    /// An address with a path, query or such.
    #[error("invalid address {0:?}")]
    InvalidAddress(String),
    /// A bad `__scrape_interval__` or `__scrape_timeout__`.
    #[error("{0}")]
    InvalidDuration(String),
    /// A label that cannot be used.
    #[error("{0}")]
    InvalidLabel(String),
}

fn format_ms(ms: i64) -> String {
    narthex_model::format_duration(ms)
}

/// Prometheus's `PopulateLabels`: merges a discovered target with its group's labels and
/// the job's defaults, applies `relabel_configs`, and returns the final target. `Ok(None)`
/// when relabelling dropped it. `discovered` is returned either way for the targets API.
pub fn populate(
    target: &Labels,
    group: &Labels,
    opts: &ScrapeOptions,
) -> (Labels, Result<Option<Target>, TargetError>) {
    let mut b = LabelsBuilder::new();
    for l in group {
        b.set(&*l.name, &*l.value);
    }
    for l in target {
        b.set(&*l.name, &*l.value);
    }
    let defaults = [
        ("job", opts.job.clone()),
        ("__scrape_interval__", format_ms(opts.interval)),
        ("__scrape_timeout__", format_ms(opts.timeout)),
        ("__metrics_path__", opts.metrics_path.clone()),
        ("__scheme__", opts.scheme.clone()),
    ];
    for (k, v) in defaults {
        if b.get(k).is_none() {
            b.set(k, v);
        }
    }
    for (k, vs) in &opts.params {
        let name = format!("__param_{k}");
        if b.get(&name).is_none()
            && let Some(v) = vs.first()
        {
            b.set(name, v);
        }
    }
    let discovered = b.build();
    let Some(labels) = relabel::process(&discovered, &opts.relabel) else {
        return (discovered, Ok(None));
    };
    (discovered, finish(&labels, opts).map(Some))
}

fn finish(labels: &Labels, opts: &ScrapeOptions) -> Result<Target, TargetError> {
    let addr = match labels.get("__address__") {
        Some(a) if !a.is_empty() => a.to_string(),
        _ => return Err(TargetError::NoAddress),
    };
    if addr.contains('/') || addr.contains('?') || addr.contains('#') {
        return Err(TargetError::InvalidAddress(addr));
    }
    let dur = |name: &str, default: i64| -> Result<i64, TargetError> {
        match labels.get(name) {
            None | Some("") => Ok(default),
            Some(v) => narthex_model::parse_duration(v).map_err(|e| {
                TargetError::InvalidDuration(format!("error parsing {name} label: {e}"))
            }),
        }
    };
    let interval = dur("__scrape_interval__", opts.interval)?;
    let timeout = dur("__scrape_timeout__", opts.timeout)?;
    if interval == 0 {
        return Err(TargetError::InvalidDuration(
            "scrape interval cannot be 0".into(),
        ));
    }
    if timeout == 0 {
        return Err(TargetError::InvalidDuration(
            "scrape timeout cannot be 0".into(),
        ));
    }
    if timeout > interval {
        return Err(TargetError::InvalidDuration(format!(
            "scrape timeout cannot be greater than scrape interval ({} > {})",
            format_ms(timeout),
            format_ms(interval)
        )));
    }
    let scheme = labels.get("__scheme__").unwrap_or("http");
    let path = labels.get("__metrics_path__").unwrap_or("/metrics");
    let mut query: Vec<String> = Vec::new();
    let mut names: Vec<&str> = opts.params.keys().map(String::as_str).collect();
    for l in labels {
        if let Some(p) = l.name.strip_prefix("__param_")
            && !names.contains(&p)
        {
            names.push(p);
        }
    }
    names.sort_unstable();
    for name in names {
        let label = format!("__param_{name}");
        match labels.get(&label) {
            Some(v) => query.push(format!("{}={}", encode(name), encode(v))),
            None => {
                for v in opts.params.get(name).into_iter().flatten() {
                    query.push(format!("{}={}", encode(name), encode(v)));
                }
            }
        }
    }
    let mut url = format!("{scheme}://{addr}{path}");
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    let mut b = LabelsBuilder::new();
    for l in labels {
        if !l.name.starts_with("__") {
            b.set(&*l.name, &*l.value);
        }
    }
    if b.get("instance").is_none() {
        b.set("instance", &addr);
    }
    let out = b.build();
    for l in &out {
        if !narthex_model::NameValidation::Utf8.is_valid_label_name(&l.name) {
            return Err(TargetError::InvalidLabel(format!(
                "invalid label name {:?}",
                &*l.name
            )));
        }
    }
    Ok(Target {
        labels: out,
        discovered: labels.clone(),
        url,
        interval,
        timeout,
    })
}

/// Percent-encodes a query component as Go's `url.QueryEscape` does.
fn encode(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use narthex_model::labels;

    use super::*;

    fn opts() -> ScrapeOptions {
        ScrapeOptions {
            job: "node".into(),
            interval: 15_000,
            timeout: 10_000,
            ..ScrapeOptions::default()
        }
    }

    #[test]
    fn defaults_and_instance() {
        let (_, t) = populate(
            &labels! { "__address__" => "127.0.0.1:9100" },
            &labels! { "env" => "prod" },
            &opts(),
        );
        let t = t.unwrap().unwrap();
        assert_eq!(
            format!("{:?}", t.labels),
            r#"{env="prod", instance="127.0.0.1:9100", job="node"}"#
        );
        assert_eq!(t.url, "http://127.0.0.1:9100/metrics");
        assert_eq!((t.interval, t.timeout), (15_000, 10_000));
    }

    #[test]
    fn params_and_overrides() {
        let mut o = opts();
        o.params.insert("module".into(), vec!["http_2xx".into()]);
        let (_, t) = populate(
            &labels! {
                "__address__" => "example.com:443",
                "__scheme__" => "https",
                "__param_target" => "a b&c",
                "__scrape_interval__" => "30s",
                "instance" => "x",
            },
            &Labels::empty(),
            &o,
        );
        let t = t.unwrap().unwrap();
        assert_eq!(
            t.url,
            "https://example.com:443/metrics?module=http_2xx&target=a+b%26c"
        );
        assert_eq!(t.interval, 30_000);
        assert_eq!(t.labels.get("instance"), Some("x"));
    }

    #[test]
    fn errors() {
        let (_, t) = populate(&Labels::empty(), &Labels::empty(), &opts());
        assert_eq!(t, Err(TargetError::NoAddress));
        let (_, t) = populate(
            &labels! { "__address__" => "a:1", "__scrape_timeout__" => "20s" },
            &Labels::empty(),
            &opts(),
        );
        assert_eq!(
            t.unwrap_err().to_string(),
            "scrape timeout cannot be greater than scrape interval (20s > 15s)"
        );
    }

    #[test]
    fn accept_header_weights() {
        assert_eq!(
            accept_header(&Protocol::DEFAULT),
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
        );
    }
}
