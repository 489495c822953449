//! The YAML side: serde structs that mirror prometheus.yml key for key.
//!
//! Every struct denies unknown keys (Prometheus reads its config with `UnmarshalStrict`).
//! Values that need checking after parsing are wrapped in [`Spanned`] so that errors can
//! point at them; `build.rs` turns these structs into the public typed configuration.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

pub(crate) type S<T> = Spanned<T>;
pub(crate) type Str = Option<S<String>>;
pub(crate) type Relabels = Option<Vec<S<Option<RawRelabel>>>>;

/// Appends the inlined HTTP client keys (Prometheus's `config.HTTPClientConfig`) to a
/// struct, plus a method that moves them out into a [`RawHttp`].
macro_rules! with_http {
    ($(#[$m:meta])* pub(crate) struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        pub(crate) struct $name {
            $($body)*
            pub(crate) basic_auth: Option<S<RawBasicAuth>>,
            pub(crate) authorization: Option<S<RawAuthorization>>,
            pub(crate) oauth2: Option<S<RawOAuth2>>,
            pub(crate) bearer_token: Option<String>,
            pub(crate) bearer_token_file: Option<String>,
            pub(crate) tls_config: Option<S<RawTls>>,
            pub(crate) follow_redirects: Option<bool>,
            pub(crate) enable_http2: Option<bool>,
            pub(crate) proxy_url: Str,
            pub(crate) no_proxy: Option<String>,
            pub(crate) proxy_from_environment: Option<bool>,
            pub(crate) proxy_connect_header: Option<BTreeMap<String, Vec<String>>>,
            pub(crate) http_headers: Option<BTreeMap<String, RawHeader>>,
        }

        impl $name {
            pub(crate) fn take_http(&mut self) -> RawHttp {
                RawHttp {
                    basic_auth: self.basic_auth.take(),
                    authorization: self.authorization.take(),
                    oauth2: self.oauth2.take(),
                    bearer_token: self.bearer_token.take(),
                    bearer_token_file: self.bearer_token_file.take(),
                    tls_config: self.tls_config.take(),
                    follow_redirects: self.follow_redirects.take(),
                    enable_http2: self.enable_http2.take(),
                    proxy_url: self.proxy_url.take(),
                    no_proxy: self.no_proxy.take(),
                    proxy_from_environment: self.proxy_from_environment.take(),
                    proxy_connect_header: self.proxy_connect_header.take(),
                    http_headers: self.http_headers.take(),
                }
            }
        }
    };
}

/// Appends the service discovery keys (`*_sd_configs`, `static_configs`) and the HTTP
/// client keys to a struct.
macro_rules! with_sd {
    ($(#[$m:meta])* pub(crate) struct $name:ident { $($body:tt)* }) => {
        with_http! {
            $(#[$m])*
            pub(crate) struct $name {
                $($body)*
                pub(crate) static_configs: Option<Vec<S<Option<RawStatic>>>>,
                pub(crate) file_sd_configs: Option<Vec<S<Option<RawFileSd>>>>,
                pub(crate) dns_sd_configs: Option<Vec<S<Option<RawDnsSd>>>>,
                pub(crate) http_sd_configs: Option<Vec<S<Option<RawHttpSd>>>>,
                pub(crate) azure_sd_configs: Option<IgnoredAny>,
                pub(crate) consul_sd_configs: Option<IgnoredAny>,
                pub(crate) digitalocean_sd_configs: Option<IgnoredAny>,
                pub(crate) docker_sd_configs: Option<IgnoredAny>,
                pub(crate) dockerswarm_sd_configs: Option<IgnoredAny>,
                pub(crate) ec2_sd_configs: Option<IgnoredAny>,
                pub(crate) eureka_sd_configs: Option<IgnoredAny>,
                pub(crate) gce_sd_configs: Option<IgnoredAny>,
                pub(crate) hetzner_sd_configs: Option<IgnoredAny>,
                pub(crate) ionos_sd_configs: Option<IgnoredAny>,
                pub(crate) kubernetes_sd_configs: Option<IgnoredAny>,
                pub(crate) kuma_sd_configs: Option<IgnoredAny>,
                pub(crate) lightsail_sd_configs: Option<IgnoredAny>,
                pub(crate) linode_sd_configs: Option<IgnoredAny>,
                pub(crate) marathon_sd_configs: Option<IgnoredAny>,
                pub(crate) nerve_sd_configs: Option<IgnoredAny>,
                pub(crate) nomad_sd_configs: Option<IgnoredAny>,
                pub(crate) openstack_sd_configs: Option<IgnoredAny>,
                pub(crate) ovhcloud_sd_configs: Option<IgnoredAny>,
                pub(crate) puppetdb_sd_configs: Option<IgnoredAny>,
                pub(crate) scaleway_sd_configs: Option<IgnoredAny>,
                pub(crate) serverset_sd_configs: Option<IgnoredAny>,
                pub(crate) stackit_sd_configs: Option<IgnoredAny>,
                pub(crate) triton_sd_configs: Option<IgnoredAny>,
                pub(crate) uyuni_sd_configs: Option<IgnoredAny>,
                pub(crate) vultr_sd_configs: Option<IgnoredAny>,
            }
        }

        impl $name {
            /// The names of the discovery mechanisms used here that Narthex reads but does
            /// not type (yet).
            pub(crate) fn untyped_sd(&self) -> Vec<&'static str> {
                let all = [
                    (self.azure_sd_configs.is_some(), "azure_sd_configs"),
                    (self.consul_sd_configs.is_some(), "consul_sd_configs"),
                    (self.digitalocean_sd_configs.is_some(), "digitalocean_sd_configs"),
                    (self.docker_sd_configs.is_some(), "docker_sd_configs"),
                    (self.dockerswarm_sd_configs.is_some(), "dockerswarm_sd_configs"),
                    (self.ec2_sd_configs.is_some(), "ec2_sd_configs"),
                    (self.eureka_sd_configs.is_some(), "eureka_sd_configs"),
                    (self.gce_sd_configs.is_some(), "gce_sd_configs"),
                    (self.hetzner_sd_configs.is_some(), "hetzner_sd_configs"),
                    (self.ionos_sd_configs.is_some(), "ionos_sd_configs"),
                    (self.kubernetes_sd_configs.is_some(), "kubernetes_sd_configs"),
                    (self.kuma_sd_configs.is_some(), "kuma_sd_configs"),
                    (self.lightsail_sd_configs.is_some(), "lightsail_sd_configs"),
                    (self.linode_sd_configs.is_some(), "linode_sd_configs"),
                    (self.marathon_sd_configs.is_some(), "marathon_sd_configs"),
                    (self.nerve_sd_configs.is_some(), "nerve_sd_configs"),
                    (self.nomad_sd_configs.is_some(), "nomad_sd_configs"),
                    (self.openstack_sd_configs.is_some(), "openstack_sd_configs"),
                    (self.ovhcloud_sd_configs.is_some(), "ovhcloud_sd_configs"),
                    (self.puppetdb_sd_configs.is_some(), "puppetdb_sd_configs"),
                    (self.scaleway_sd_configs.is_some(), "scaleway_sd_configs"),
                    (self.serverset_sd_configs.is_some(), "serverset_sd_configs"),
                    (self.stackit_sd_configs.is_some(), "stackit_sd_configs"),
                    (self.triton_sd_configs.is_some(), "triton_sd_configs"),
                    (self.uyuni_sd_configs.is_some(), "uyuni_sd_configs"),
                    (self.vultr_sd_configs.is_some(), "vultr_sd_configs"),
                ];
                all.into_iter().filter(|(set, _)| *set).map(|(_, n)| n).collect()
            }
        }
    };
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) global: Option<S<RawGlobal>>,
    pub(crate) runtime: Option<RawRuntime>,
    pub(crate) alerting: Option<RawAlerting>,
    pub(crate) rule_files: Option<Vec<S<String>>>,
    pub(crate) scrape_config_files: Option<Vec<S<String>>>,
    pub(crate) scrape_configs: Option<Vec<S<Option<RawScrape>>>>,
    pub(crate) storage: Option<RawStorage>,
    pub(crate) tracing: Option<S<RawTracing>>,
    pub(crate) remote_write: Option<Vec<S<Option<RawRemoteWrite>>>>,
    pub(crate) remote_read: Option<Vec<S<Option<RawRemoteRead>>>>,
    pub(crate) otlp: Option<S<RawOtlp>>,
}

/// A file listed in `scrape_config_files`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScrapeConfigs {
    pub(crate) scrape_configs: Option<Vec<S<Option<RawScrape>>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGlobal {
    pub(crate) scrape_interval: Str,
    pub(crate) scrape_timeout: Str,
    pub(crate) scrape_protocols: Option<S<Vec<S<String>>>>,
    pub(crate) evaluation_interval: Str,
    pub(crate) rule_query_offset: Str,
    pub(crate) query_log_file: Option<String>,
    pub(crate) scrape_failure_log_file: Option<String>,
    pub(crate) external_labels: Option<BTreeMap<String, S<String>>>,
    pub(crate) body_size_limit: Str,
    pub(crate) sample_limit: Option<u64>,
    pub(crate) target_limit: Option<u64>,
    pub(crate) label_limit: Option<u64>,
    pub(crate) label_name_length_limit: Option<u64>,
    pub(crate) label_value_length_limit: Option<u64>,
    pub(crate) keep_dropped_targets: Option<u64>,
    pub(crate) metric_name_validation_scheme: Str,
    pub(crate) metric_name_escaping_scheme: Str,
    pub(crate) scrape_native_histograms: Option<bool>,
    pub(crate) convert_classic_histograms_to_nhcb: Option<bool>,
    pub(crate) always_scrape_classic_histograms: Option<bool>,
    pub(crate) extra_scrape_metrics: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRuntime {
    pub(crate) gogc: Option<i64>,
}

with_sd! {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct RawScrape {
        pub(crate) job_name: Str,
        pub(crate) honor_labels: Option<bool>,
        pub(crate) honor_timestamps: Option<bool>,
        pub(crate) track_timestamps_staleness: Option<bool>,
        pub(crate) params: Option<BTreeMap<String, Vec<String>>>,
        pub(crate) scrape_interval: Str,
        pub(crate) scrape_timeout: Str,
        pub(crate) scrape_protocols: Option<S<Vec<S<String>>>>,
        pub(crate) fallback_scrape_protocol: Str,
        pub(crate) scrape_native_histograms: Option<bool>,
        pub(crate) always_scrape_classic_histograms: Option<bool>,
        pub(crate) convert_classic_histograms_to_nhcb: Option<bool>,
        pub(crate) scrape_failure_log_file: Option<String>,
        pub(crate) metrics_path: Option<String>,
        pub(crate) scheme: Option<String>,
        pub(crate) enable_compression: Option<bool>,
        pub(crate) body_size_limit: Str,
        pub(crate) sample_limit: Option<u64>,
        pub(crate) target_limit: Option<u64>,
        pub(crate) label_limit: Option<u64>,
        pub(crate) label_name_length_limit: Option<u64>,
        pub(crate) label_value_length_limit: Option<u64>,
        pub(crate) native_histogram_bucket_limit: Option<u64>,
        pub(crate) native_histogram_min_bucket_factor: Option<f64>,
        pub(crate) keep_dropped_targets: Option<u64>,
        pub(crate) metric_name_validation_scheme: Str,
        pub(crate) metric_name_escaping_scheme: Str,
        pub(crate) extra_scrape_metrics: Option<bool>,
        pub(crate) relabel_configs: Relabels,
        pub(crate) metric_relabel_configs: Relabels,
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    pub(crate) username: Option<String>,
    pub(crate) username_file: Option<String>,
    pub(crate) username_ref: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) password_file: Option<String>,
    pub(crate) password_ref: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthorization {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) credentials: Option<String>,
    pub(crate) credentials_file: Option<String>,
    pub(crate) credentials_ref: Option<String>,
}

/// The JWT-bearer keys (`client_certificate_key*`, `grant_type`, `signature_algorithm`,
/// `iss`, `audience`, `claims`) are accepted but not typed yet.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct RawOAuth2 {
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<String>,
    pub(crate) client_secret_file: Option<String>,
    pub(crate) client_secret_ref: Option<String>,
    pub(crate) client_certificate_key: Option<String>,
    pub(crate) client_certificate_key_file: Option<String>,
    pub(crate) client_certificate_key_id: Option<String>,
    pub(crate) client_certificate_key_ref: Option<String>,
    pub(crate) grant_type: Option<String>,
    pub(crate) signature_algorithm: Option<String>,
    pub(crate) iss: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) claims: Option<IgnoredAny>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) token_url: Option<String>,
    pub(crate) endpoint_params: Option<BTreeMap<String, String>>,
    pub(crate) tls_config: Option<S<RawTls>>,
    pub(crate) proxy_url: Str,
    pub(crate) no_proxy: Option<String>,
    pub(crate) proxy_from_environment: Option<bool>,
    pub(crate) proxy_connect_header: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) ca: Option<String>,
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) ca_file: Option<String>,
    pub(crate) cert_file: Option<String>,
    pub(crate) key_file: Option<String>,
    pub(crate) ca_ref: Option<String>,
    pub(crate) cert_ref: Option<String>,
    pub(crate) key_ref: Option<String>,
    pub(crate) server_name: Option<String>,
    pub(crate) insecure_skip_verify: Option<bool>,
    pub(crate) min_version: Str,
    pub(crate) max_version: Str,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeader {
    pub(crate) values: Option<Vec<String>>,
    pub(crate) secrets: Option<Vec<String>>,
    pub(crate) files: Option<Vec<String>>,
}

/// The inlined HTTP client keys, moved out of their struct.
#[derive(Default)]
pub(crate) struct RawHttp {
    pub(crate) basic_auth: Option<S<RawBasicAuth>>,
    pub(crate) authorization: Option<S<RawAuthorization>>,
    pub(crate) oauth2: Option<S<RawOAuth2>>,
    pub(crate) bearer_token: Option<String>,
    pub(crate) bearer_token_file: Option<String>,
    pub(crate) tls_config: Option<S<RawTls>>,
    pub(crate) follow_redirects: Option<bool>,
    pub(crate) enable_http2: Option<bool>,
    pub(crate) proxy_url: Str,
    pub(crate) no_proxy: Option<String>,
    pub(crate) proxy_from_environment: Option<bool>,
    pub(crate) proxy_connect_header: Option<BTreeMap<String, Vec<String>>>,
    pub(crate) http_headers: Option<BTreeMap<String, RawHeader>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStatic {
    pub(crate) targets: Option<Vec<S<String>>>,
    pub(crate) labels: Option<BTreeMap<String, S<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFileSd {
    pub(crate) files: Option<Vec<S<String>>>,
    pub(crate) refresh_interval: Str,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDnsSd {
    pub(crate) names: Option<Vec<String>>,
    pub(crate) refresh_interval: Str,
    #[serde(rename = "type")]
    pub(crate) kind: Str,
    pub(crate) port: Option<i64>,
}

with_http! {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct RawHttpSd {
        pub(crate) url: Str,
        pub(crate) refresh_interval: Str,
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRelabel {
    pub(crate) source_labels: Option<Vec<S<String>>>,
    pub(crate) separator: Option<String>,
    pub(crate) regex: Str,
    pub(crate) modulus: Option<u64>,
    pub(crate) target_label: Option<String>,
    pub(crate) replacement: Option<String>,
    pub(crate) action: Str,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlerting {
    pub(crate) alert_relabel_configs: Relabels,
    pub(crate) alertmanagers: Option<Vec<S<Option<RawAlertmanager>>>>,
}

with_sd! {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct RawAlertmanager {
        pub(crate) sigv4: Option<IgnoredAny>,
        pub(crate) scheme: Option<String>,
        pub(crate) path_prefix: Option<String>,
        pub(crate) timeout: Str,
        pub(crate) api_version: Str,
        pub(crate) relabel_configs: Relabels,
        pub(crate) alert_relabel_configs: Relabels,
    }
}

with_http! {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct RawRemoteWrite {
        pub(crate) url: Str,
        pub(crate) remote_timeout: Str,
        pub(crate) headers: Option<BTreeMap<String, String>>,
        pub(crate) write_relabel_configs: Relabels,
        pub(crate) name: Option<String>,
        pub(crate) send_exemplars: Option<bool>,
        pub(crate) send_native_histograms: Option<bool>,
        pub(crate) round_robin_dns: Option<bool>,
        pub(crate) protobuf_message: Str,
        pub(crate) queue_config: Option<RawQueue>,
        pub(crate) metadata_config: Option<RawMetadata>,
        pub(crate) sigv4: Option<IgnoredAny>,
        pub(crate) azuread: Option<IgnoredAny>,
        pub(crate) google_iam: Option<IgnoredAny>,
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    pub(crate) capacity: Option<i64>,
    pub(crate) max_shards: Option<i64>,
    pub(crate) min_shards: Option<i64>,
    pub(crate) max_samples_per_send: Option<i64>,
    pub(crate) batch_send_deadline: Str,
    pub(crate) min_backoff: Str,
    pub(crate) max_backoff: Str,
    pub(crate) retry_on_http_429: Option<bool>,
    pub(crate) sample_age_limit: Str,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetadata {
    pub(crate) send: Option<bool>,
    pub(crate) send_interval: Str,
    pub(crate) max_samples_per_send: Option<i64>,
}

with_http! {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct RawRemoteRead {
        pub(crate) url: Str,
        pub(crate) remote_timeout: Str,
        pub(crate) chunked_read_limit: Option<u64>,
        pub(crate) headers: Option<BTreeMap<String, String>>,
        pub(crate) read_recent: Option<bool>,
        pub(crate) name: Option<String>,
        pub(crate) required_matchers: Option<BTreeMap<String, String>>,
        pub(crate) filter_external_labels: Option<bool>,
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    pub(crate) tsdb: Option<RawTsdb>,
    pub(crate) exemplars: Option<RawExemplars>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTsdb {
    pub(crate) out_of_order_time_window: Str,
    pub(crate) retention: Option<RawRetention>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    pub(crate) time: Str,
    pub(crate) size: Str,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExemplars {
    pub(crate) max_exemplars: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTracing {
    pub(crate) client_type: Str,
    pub(crate) endpoint: Option<String>,
    pub(crate) sampling_fraction: Option<f64>,
    pub(crate) insecure: Option<bool>,
    pub(crate) tls_config: Option<S<RawTls>>,
    pub(crate) headers: Option<BTreeMap<String, String>>,
    pub(crate) compression: Option<String>,
    pub(crate) timeout: Str,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOtlp {
    pub(crate) promote_all_resource_attributes: Option<bool>,
    pub(crate) promote_resource_attributes: Option<Vec<String>>,
    pub(crate) ignore_resource_attributes: Option<Vec<String>>,
    pub(crate) translation_strategy: Option<String>,
    pub(crate) keep_identifying_resource_attributes: Option<bool>,
    pub(crate) convert_histograms_to_nhcb: Option<bool>,
    pub(crate) promote_scope_metadata: Option<bool>,
    pub(crate) label_name_underscore_sanitization: Option<bool>,
    pub(crate) label_name_preserve_multiple_underscores: Option<bool>,
}

/// Prometheus's Go type names for the structs above, found from the key list serde
/// reports with an unknown key, so that messages read like Prometheus's
/// (`field foo not found in type config.ScrapeConfig`).
pub(crate) fn go_type_name(expected: &[&str]) -> &'static str {
    // (a key only that struct has, the Go type Prometheus names); the rest are the
    // `type plain X` indirections Prometheus uses, which yaml reports as `*.plain`.
    const TABLE: &[(&str, &str)] = &[
        ("rule_files", "config.plain"),
        ("secrets", "config.plain"),
        ("job_name", "config.ScrapeConfig"),
        ("api_version", "config.AlertmanagerConfig"),
        ("action", "relabel.plain"),
        (
            "targets",
            "struct { Targets []string \"yaml:\\\"targets\\\"\"; Labels model.LabelSet \"yaml:\\\"labels\\\"\" }",
        ),
        ("files", "file.plain"),
        ("names", "dns.plain"),
        ("max_shards", "config.QueueConfig"),
        ("send_interval", "config.MetadataConfig"),
        ("scrape_configs", "config.ScrapeConfigs"),
    ];
    let has = |k: &str| expected.contains(&k);
    if has("url") && has("refresh_interval") {
        return "http.plain";
    }
    TABLE
        .iter()
        .find(|(k, _)| has(k))
        .map_or("config.plain", |(_, name)| name)
}
