//! The typed configuration: what a loaded prometheus.yml means, defaults applied.
//!
//! Durations are `i64` milliseconds, sizes `u64` bytes. Relative file names have been
//! joined with the directory of the file they were written in, as Prometheus does.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use narthex_model::{Labels, NameValidation};

use narthex_model::relabel::RelabelConfig;

/// A whole prometheus.yml, validated, with Prometheus's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `global:`; defaults when absent.
    pub global: GlobalConfig,
    /// `runtime:`.
    pub runtime: RuntimeConfig,
    /// `alerting:`.
    pub alerting: AlertingConfig,
    /// `rule_files:` patterns (globs kept as written, joined with the config directory).
    pub rule_files: Vec<String>,
    /// `scrape_config_files:` patterns, joined with the config directory.
    pub scrape_config_files: Vec<String>,
    /// `scrape_configs:` followed by the ones read from `scrape_config_files`, each
    /// with the globals applied.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// `storage:`.
    pub storage: StorageConfig,
    /// `tracing:`, when present.
    pub tracing: Option<TracingConfig>,
    /// `remote_write:`.
    pub remote_write: Vec<RemoteWriteConfig>,
    /// `remote_read:`.
    pub remote_read: Vec<RemoteReadConfig>,
    /// `otlp:`.
    pub otlp: OtlpConfig,
    /// The directory relative paths were resolved against.
    pub base_dir: PathBuf,
}

impl Default for Config {
    /// The configuration an empty prometheus.yml in the current directory gives.
    fn default() -> Self {
        Config {
            global: GlobalConfig::default(),
            runtime: RuntimeConfig::default(),
            alerting: AlertingConfig::default(),
            rule_files: Vec::new(),
            scrape_config_files: Vec::new(),
            scrape_configs: Vec::new(),
            storage: StorageConfig::default(),
            tracing: None,
            remote_write: Vec::new(),
            remote_read: Vec::new(),
            otlp: OtlpConfig::default(),
            base_dir: PathBuf::from("."),
        }
    }
}

/// Limits shared by `global:` and each scrape config (`0` means no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeLimits {
    /// `body_size_limit` in bytes.
    pub body_size_limit: u64,
    /// `sample_limit`.
    pub sample_limit: u64,
    /// `label_limit`.
    pub label_limit: u64,
    /// `label_name_length_limit`.
    pub label_name_length_limit: u64,
    /// `label_value_length_limit`.
    pub label_value_length_limit: u64,
    /// `target_limit`.
    pub target_limit: u64,
    /// `keep_dropped_targets`.
    pub keep_dropped_targets: u64,
}

/// The exposition formats a scraper may ask for (`scrape_protocols`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    /// `PrometheusProto`: delimited protobuf `MetricFamily` messages.
    PrometheusProto,
    /// `PrometheusText0.0.4`.
    PrometheusText0_0_4,
    /// `PrometheusText1.0.0`.
    PrometheusText1_0_0,
    /// `OpenMetricsText0.0.1`.
    OpenMetricsText0_0_1,
    /// `OpenMetricsText1.0.0`.
    OpenMetricsText1_0_0,
}

impl ScrapeProtocol {
    /// Every protocol, in the order Prometheus lists them in errors (sorted by name).
    pub const ALL: [ScrapeProtocol; 5] = [
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::PrometheusProto,
        ScrapeProtocol::PrometheusText0_0_4,
        ScrapeProtocol::PrometheusText1_0_0,
    ];
    /// Prometheus's default order.
    pub const DEFAULT: [ScrapeProtocol; 4] = [
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::PrometheusText0_0_4,
    ];
    /// The default order when native histograms are scraped: protobuf first.
    pub const PROTO_FIRST: [ScrapeProtocol; 5] = [
        ScrapeProtocol::PrometheusProto,
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::PrometheusText0_0_4,
    ];

    /// The name used in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
        }
    }

    /// Reads a configuration name (case-sensitive, as in Prometheus).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The media type sent in `Accept` headers for this protocol.
    pub fn header(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
        }
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `global:`.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalConfig {
    /// `scrape_interval` (ms), default 1m.
    pub scrape_interval: i64,
    /// `scrape_timeout` (ms), default 10s (never above the interval).
    pub scrape_timeout: i64,
    /// `evaluation_interval` (ms), default 1m.
    pub evaluation_interval: i64,
    /// `rule_query_offset` (ms), default 0.
    pub rule_query_offset: i64,
    /// `scrape_protocols`, `None` when unset (each scrape config then picks its default).
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    /// `external_labels`.
    pub external_labels: Labels,
    /// `query_log_file`, joined with the config directory.
    pub query_log_file: Option<PathBuf>,
    /// `scrape_failure_log_file`, joined with the config directory.
    pub scrape_failure_log_file: Option<PathBuf>,
    /// The scrape limits every scrape config inherits.
    pub limits: ScrapeLimits,
    /// `metric_name_validation_scheme`: `utf8` (default) or `legacy`.
    pub metric_name_validation_scheme: NameValidation,
    /// `metric_name_escaping_scheme` as written (empty: derived from the validation scheme).
    pub metric_name_escaping_scheme: String,
    /// `scrape_native_histograms`, default false.
    pub scrape_native_histograms: bool,
    /// `convert_classic_histograms_to_nhcb`.
    pub convert_classic_histograms_to_nhcb: bool,
    /// `always_scrape_classic_histograms`.
    pub always_scrape_classic_histograms: bool,
    /// `extra_scrape_metrics`.
    pub extra_scrape_metrics: bool,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        Self {
            scrape_interval: 60_000,
            scrape_timeout: 10_000,
            evaluation_interval: 60_000,
            rule_query_offset: 0,
            scrape_protocols: None,
            external_labels: Labels::default(),
            query_log_file: None,
            scrape_failure_log_file: None,
            limits: ScrapeLimits::default(),
            metric_name_validation_scheme: NameValidation::Utf8,
            metric_name_escaping_scheme: String::new(),
            scrape_native_histograms: false,
            convert_classic_histograms_to_nhcb: false,
            always_scrape_classic_histograms: false,
            extra_scrape_metrics: false,
        }
    }
}

/// `runtime:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuntimeConfig {
    /// `gogc`, when set (a Go runtime knob, kept for compatibility).
    pub gogc: Option<i64>,
}

/// One entry of `scrape_configs:`, with the globals applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// `job_name`.
    pub job_name: String,
    /// `honor_labels`, default false.
    pub honor_labels: bool,
    /// `honor_timestamps`, default true.
    pub honor_timestamps: bool,
    /// `track_timestamps_staleness`, default false.
    pub track_timestamps_staleness: bool,
    /// `params`: URL query parameters.
    pub params: BTreeMap<String, Vec<String>>,
    /// `scrape_interval` (ms), default the global one.
    pub scrape_interval: i64,
    /// `scrape_timeout` (ms), default the global one capped at the interval.
    pub scrape_timeout: i64,
    /// `scrape_protocols`, defaults applied.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// `fallback_scrape_protocol`.
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    /// `scrape_native_histograms`.
    pub scrape_native_histograms: bool,
    /// `always_scrape_classic_histograms`.
    pub always_scrape_classic_histograms: bool,
    /// `convert_classic_histograms_to_nhcb`.
    pub convert_classic_histograms_to_nhcb: bool,
    /// `extra_scrape_metrics`.
    pub extra_scrape_metrics: bool,
    /// `scrape_failure_log_file`.
    pub scrape_failure_log_file: Option<PathBuf>,
    /// `metrics_path`, default `/metrics`.
    pub metrics_path: String,
    /// `scheme`, default `http`.
    pub scheme: String,
    /// `enable_compression`, default true.
    pub enable_compression: bool,
    /// Limits, each defaulting to the global one.
    pub limits: ScrapeLimits,
    /// `native_histogram_bucket_limit` (0: none).
    pub native_histogram_bucket_limit: u64,
    /// `native_histogram_min_bucket_factor` (0: none).
    pub native_histogram_min_bucket_factor: f64,
    /// `metric_name_validation_scheme`, default the global one.
    pub metric_name_validation_scheme: NameValidation,
    /// `metric_name_escaping_scheme`, defaults applied (`allow-utf-8`, `underscores`,
    /// `dots` or `values`).
    pub metric_name_escaping_scheme: String,
    /// The HTTP client settings.
    pub http_client: HttpClientConfig,
    /// Where targets come from.
    pub service_discovery: ServiceDiscoveryConfigs,
    /// `relabel_configs`.
    pub relabel_configs: Vec<RelabelConfig>,
    /// `metric_relabel_configs`.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// The file this scrape config was read from, if it came from `scrape_config_files`.
    pub source_file: Option<PathBuf>,
}

/// The service discovery mechanisms of a scrape config or an Alertmanager config.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceDiscoveryConfigs {
    /// `static_configs`.
    pub static_configs: Vec<StaticConfig>,
    /// `file_sd_configs`.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// `dns_sd_configs`.
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// `http_sd_configs`.
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// Other `*_sd_configs` keys present (accepted, not typed, not run).
    pub untyped: Vec<String>,
}

/// One target group of `static_configs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticConfig {
    /// `targets`: `host:port` strings.
    pub targets: Vec<String>,
    /// `labels` shared by the targets.
    pub labels: BTreeMap<String, String>,
}

/// One `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSdConfig {
    /// `files`: patterns (the last path element may hold `*`), joined with the config
    /// directory.
    pub files: Vec<String>,
    /// `refresh_interval` (ms), default 5m.
    pub refresh_interval: i64,
}

/// The record type a DNS-SD config asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsRecordType {
    /// SRV records (the default): each gives a host and a port.
    Srv,
    /// A records.
    A,
    /// AAAA records.
    Aaaa,
    /// MX records.
    Mx,
    /// NS records.
    Ns,
}

/// One `dns_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSdConfig {
    /// `names` to resolve.
    pub names: Vec<String>,
    /// `refresh_interval` (ms), default 30s.
    pub refresh_interval: i64,
    /// `type`, default SRV.
    pub record_type: DnsRecordType,
    /// `port`, required for every type but SRV (Go's `int`, unchecked, as in Prometheus).
    pub port: i64,
}

/// One `http_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSdConfig {
    /// `url` (http or https).
    pub url: String,
    /// `refresh_interval` (ms), default 60s.
    pub refresh_interval: i64,
    /// The HTTP client settings.
    pub http_client: HttpClientConfig,
}

/// A secret string: `Debug` prints `<secret>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// Prometheus's HTTP client settings (`common/config.HTTPClientConfig`), inlined in scrape,
/// Alertmanager, HTTP-SD and remote configs.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpClientConfig {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`; `bearer_token`/`bearer_token_file` become a `Bearer` one here.
    pub authorization: Option<Authorization>,
    /// `oauth2`.
    pub oauth2: Option<OAuth2>,
    /// `tls_config`.
    pub tls_config: TlsConfig,
    /// `follow_redirects`, default true.
    pub follow_redirects: bool,
    /// `enable_http2`, default true (false for remote write).
    pub enable_http2: bool,
    /// Proxy settings.
    pub proxy: ProxyConfig,
    /// `http_headers`: extra request headers.
    pub http_headers: BTreeMap<String, HttpHeader>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            proxy: ProxyConfig::default(),
            http_headers: BTreeMap::new(),
        }
    }
}

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BasicAuth {
    /// `username`.
    pub username: String,
    /// `username_file`.
    pub username_file: Option<PathBuf>,
    /// `password`.
    pub password: Option<Secret>,
    /// `password_file`.
    pub password_file: Option<PathBuf>,
}

/// `authorization`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authorization {
    /// `type`, default `Bearer`.
    pub kind: String,
    /// `credentials`.
    pub credentials: Option<Secret>,
    /// `credentials_file`.
    pub credentials_file: Option<PathBuf>,
}

/// `oauth2` (client credentials).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OAuth2 {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: Option<Secret>,
    /// `client_secret_file`.
    pub client_secret_file: Option<PathBuf>,
    /// `scopes`.
    pub scopes: Vec<String>,
    /// `token_url`.
    pub token_url: String,
    /// `endpoint_params`.
    pub endpoint_params: BTreeMap<String, String>,
    /// `tls_config` for the token endpoint.
    pub tls_config: TlsConfig,
    /// Proxy settings for the token endpoint.
    pub proxy: ProxyConfig,
}

/// TLS versions accepted by `min_version`/`max_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// `TLS10`.
    Tls10,
    /// `TLS11`.
    Tls11,
    /// `TLS12`.
    Tls12,
    /// `TLS13`.
    Tls13,
}

/// `tls_config`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsConfig {
    /// `ca`: inline PEM.
    pub ca: Option<String>,
    /// `ca_file`.
    pub ca_file: Option<PathBuf>,
    /// `cert`: inline PEM.
    pub cert: Option<String>,
    /// `cert_file`.
    pub cert_file: Option<PathBuf>,
    /// `key`: inline PEM.
    pub key: Option<Secret>,
    /// `key_file`.
    pub key_file: Option<PathBuf>,
    /// `server_name`.
    pub server_name: Option<String>,
    /// `insecure_skip_verify`.
    pub insecure_skip_verify: bool,
    /// `min_version`.
    pub min_version: Option<TlsVersion>,
    /// `max_version`.
    pub max_version: Option<TlsVersion>,
}

/// Proxy settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyConfig {
    /// `proxy_url`.
    pub proxy_url: Option<String>,
    /// `no_proxy`.
    pub no_proxy: Option<String>,
    /// `proxy_from_environment`.
    pub proxy_from_environment: bool,
    /// `proxy_connect_header`.
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
}

/// One `http_headers` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpHeader {
    /// `values`.
    pub values: Vec<String>,
    /// `secrets`.
    pub secrets: Vec<Secret>,
    /// `files`, joined with the config directory.
    pub files: Vec<PathBuf>,
}

/// `alerting:`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertingConfig {
    /// `alert_relabel_configs`.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// `alertmanagers`.
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One `alertmanagers` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    /// `scheme`, default `http`.
    pub scheme: String,
    /// `path_prefix`.
    pub path_prefix: String,
    /// `timeout` (ms), default 10s.
    pub timeout: i64,
    /// `api_version`: only `v2` is supported.
    pub api_version: String,
    /// The HTTP client settings.
    pub http_client: HttpClientConfig,
    /// Where Alertmanagers come from.
    pub service_discovery: ServiceDiscoveryConfigs,
    /// `relabel_configs`.
    pub relabel_configs: Vec<RelabelConfig>,
    /// `alert_relabel_configs`.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// Cloud authentication blocks present (`sigv4`): accepted, not typed.
    pub untyped_auth: Vec<String>,
}

/// `remote_write` protocol message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtobufMessage {
    /// `prometheus.WriteRequest` (remote write 1.0, the default).
    V1,
    /// `io.prometheus.write.v2.Request` (remote write 2.0).
    V2,
}

/// One `remote_write` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteConfig {
    /// `url`.
    pub url: String,
    /// `name`.
    pub name: String,
    /// `remote_timeout` (ms), default 30s.
    pub remote_timeout: i64,
    /// `headers`.
    pub headers: BTreeMap<String, String>,
    /// `write_relabel_configs`.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// `send_exemplars`.
    pub send_exemplars: bool,
    /// `send_native_histograms`.
    pub send_native_histograms: bool,
    /// `round_robin_dns`.
    pub round_robin_dns: bool,
    /// `protobuf_message`.
    pub protobuf_message: ProtobufMessage,
    /// `queue_config`.
    pub queue_config: QueueConfig,
    /// `metadata_config`.
    pub metadata_config: MetadataConfig,
    /// The HTTP client settings (`enable_http2` defaults to false here).
    pub http_client: HttpClientConfig,
    /// Cloud authentication blocks present (`sigv4`, `azuread`, `google_iam`): accepted,
    /// not typed.
    pub untyped_auth: Vec<String>,
}

/// `queue_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// `capacity`, default 10000.
    pub capacity: i64,
    /// `max_shards`, default 50.
    pub max_shards: i64,
    /// `min_shards`, default 1.
    pub min_shards: i64,
    /// `max_samples_per_send`, default 2000.
    pub max_samples_per_send: i64,
    /// `batch_send_deadline` (ms), default 5s.
    pub batch_send_deadline: i64,
    /// `min_backoff` (ms), default 30ms.
    pub min_backoff: i64,
    /// `max_backoff` (ms), default 5s.
    pub max_backoff: i64,
    /// `retry_on_http_429`.
    pub retry_on_http_429: bool,
    /// `sample_age_limit` (ms), 0: none.
    pub sample_age_limit: i64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: 5_000,
            min_backoff: 30,
            max_backoff: 5_000,
            retry_on_http_429: false,
            sample_age_limit: 0,
        }
    }
}

/// `metadata_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataConfig {
    /// `send`, default true.
    pub send: bool,
    /// `send_interval` (ms), default 1m.
    pub send_interval: i64,
    /// `max_samples_per_send`, default 2000.
    pub max_samples_per_send: i64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            send: true,
            send_interval: 60_000,
            max_samples_per_send: 2000,
        }
    }
}

/// One `remote_read` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteReadConfig {
    /// `url`.
    pub url: String,
    /// `name`.
    pub name: String,
    /// `remote_timeout` (ms), default 1m.
    pub remote_timeout: i64,
    /// `chunked_read_limit` in bytes, default 50 MB.
    pub chunked_read_limit: u64,
    /// `headers`.
    pub headers: BTreeMap<String, String>,
    /// `read_recent`.
    pub read_recent: bool,
    /// `required_matchers`: label equalities a selector must contain.
    pub required_matchers: BTreeMap<String, String>,
    /// `filter_external_labels`, default true.
    pub filter_external_labels: bool,
    /// The HTTP client settings.
    pub http_client: HttpClientConfig,
}

/// `storage:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageConfig {
    /// `tsdb.out_of_order_time_window` (ms).
    pub out_of_order_time_window: i64,
    /// `tsdb.retention.time` (ms), when set.
    pub retention_time: Option<i64>,
    /// `tsdb.retention.size` in bytes, when set.
    pub retention_size: Option<u64>,
    /// `exemplars.max_exemplars`, default 100000.
    pub max_exemplars: i64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            out_of_order_time_window: 0,
            retention_time: None,
            retention_size: None,
            max_exemplars: 100_000,
        }
    }
}

/// `tracing:`.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    /// `client_type`: `grpc` (default) or `http`.
    pub client_type: String,
    /// `endpoint` (required).
    pub endpoint: String,
    /// `sampling_fraction`.
    pub sampling_fraction: f64,
    /// `insecure`.
    pub insecure: bool,
    /// `tls_config`.
    pub tls_config: TlsConfig,
    /// `headers`.
    pub headers: BTreeMap<String, String>,
    /// `compression`: empty or `gzip`.
    pub compression: String,
    /// `timeout` (ms).
    pub timeout: i64,
}

/// `otlp:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// `promote_all_resource_attributes`.
    pub promote_all_resource_attributes: bool,
    /// `promote_resource_attributes`.
    pub promote_resource_attributes: Vec<String>,
    /// `ignore_resource_attributes`.
    pub ignore_resource_attributes: Vec<String>,
    /// `translation_strategy`, default `UnderscoreEscapingWithSuffixes`.
    pub translation_strategy: String,
    /// `keep_identifying_resource_attributes`.
    pub keep_identifying_resource_attributes: bool,
    /// `convert_histograms_to_nhcb`.
    pub convert_histograms_to_nhcb: bool,
    /// `promote_scope_metadata`.
    pub promote_scope_metadata: bool,
    /// `label_name_underscore_sanitization`, default true.
    pub label_name_underscore_sanitization: bool,
    /// `label_name_preserve_multiple_underscores`, default true.
    pub label_name_preserve_multiple_underscores: bool,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            promote_all_resource_attributes: false,
            promote_resource_attributes: Vec::new(),
            ignore_resource_attributes: Vec::new(),
            translation_strategy: "UnderscoreEscapingWithSuffixes".into(),
            keep_identifying_resource_attributes: false,
            convert_histograms_to_nhcb: false,
            promote_scope_metadata: false,
            label_name_underscore_sanitization: true,
            label_name_preserve_multiple_underscores: true,
        }
    }
}
