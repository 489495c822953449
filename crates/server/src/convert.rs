//! From the typed `prometheus.yml` to the option structs of the library crates.

use narthex_config::{DnsRecordType, ScrapeConfig, ScrapeProtocol, ServiceDiscoveryConfigs};
use narthex_discovery::{
    DnsKind, DnsSdOptions, FileSdOptions, HttpSdOptions, SdOptions, StaticConfig,
};
use narthex_exposition::Format;
use narthex_http::{Authorization, BasicAuth, HttpSettings, ProxySettings, Secret, TlsSettings};
use narthex_model::Labels;
use narthex_scrape::{Protocol, ScrapeOptions};

fn protocol(p: ScrapeProtocol) -> Protocol {
    match p {
        ScrapeProtocol::PrometheusProto => Protocol::PrometheusProto,
        ScrapeProtocol::PrometheusText0_0_4 => Protocol::PrometheusText0_0_4,
        ScrapeProtocol::PrometheusText1_0_0 => Protocol::PrometheusText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1 => Protocol::OpenMetricsText0_0_1,
        ScrapeProtocol::OpenMetricsText1_0_0 => Protocol::OpenMetricsText1_0_0,
    }
}

fn format(p: ScrapeProtocol) -> Format {
    match p {
        ScrapeProtocol::PrometheusProto => Format::Protobuf,
        ScrapeProtocol::PrometheusText0_0_4 | ScrapeProtocol::PrometheusText1_0_0 => {
            Format::PrometheusText
        }
        ScrapeProtocol::OpenMetricsText0_0_1 | ScrapeProtocol::OpenMetricsText1_0_0 => {
            Format::OpenMetrics
        }
    }
}

/// A job's scrape options and its fallback format.
pub(crate) fn scrape_options(c: &ScrapeConfig) -> (ScrapeOptions, Option<Format>) {
    let opts = ScrapeOptions {
        job: c.job_name.clone(),
        interval: c.scrape_interval,
        timeout: c.scrape_timeout,
        metrics_path: c.metrics_path.clone(),
        scheme: c.scheme.clone(),
        params: c.params.clone(),
        honor_labels: c.honor_labels,
        honor_timestamps: c.honor_timestamps,
        track_timestamps_staleness: c.track_timestamps_staleness,
        protocols: c.scrape_protocols.iter().map(|p| protocol(*p)).collect(),
        sample_limit: c.limits.sample_limit as usize,
        label_limit: c.limits.label_limit as usize,
        label_name_length_limit: c.limits.label_name_length_limit as usize,
        label_value_length_limit: c.limits.label_value_length_limit as usize,
        body_size_limit: c.limits.body_size_limit as usize,
        target_limit: c.limits.target_limit as usize,
        relabel: c.relabel_configs.clone(),
        metric_relabel: c.metric_relabel_configs.clone(),
        enable_compression: c.enable_compression,
        native_histograms: c.scrape_native_histograms,
        always_scrape_classic_histograms: c.always_scrape_classic_histograms,
        native_histogram_bucket_limit: c.native_histogram_bucket_limit as usize,
        native_histogram_min_bucket_factor: c.native_histogram_min_bucket_factor,
        http: http_settings(&c.http_client),
    };
    (opts, c.fallback_scrape_protocol.map(format))
}

/// The discovery mechanisms of a job (or an Alertmanager set).
pub(crate) fn discovery(sd: &ServiceDiscoveryConfigs) -> Vec<SdOptions> {
    let mut out = Vec::new();
    if !sd.static_configs.is_empty() {
        out.push(SdOptions::Static(
            sd.static_configs
                .iter()
                .map(|s| StaticConfig {
                    targets: s.targets.clone(),
                    labels: Labels::from_pairs(
                        s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    ),
                })
                .collect(),
        ));
    }
    for f in &sd.file_sd_configs {
        out.push(SdOptions::File(FileSdOptions {
            files: f.files.clone(),
            refresh_interval_ms: f.refresh_interval,
        }));
    }
    for d in &sd.dns_sd_configs {
        out.push(SdOptions::Dns(DnsSdOptions {
            names: d.names.clone(),
            kind: match d.record_type {
                DnsRecordType::Srv => DnsKind::Srv,
                DnsRecordType::A => DnsKind::A,
                DnsRecordType::Aaaa => DnsKind::Aaaa,
                DnsRecordType::Mx => DnsKind::Mx,
                DnsRecordType::Ns => DnsKind::Ns,
            },
            port: u16::try_from(d.port).unwrap_or(0),
            refresh_interval_ms: d.refresh_interval,
            nameserver: None,
        }));
    }
    for h in &sd.http_sd_configs {
        out.push(SdOptions::Http(Box::new(HttpSdOptions {
            url: h.url.clone(),
            refresh_interval_ms: h.refresh_interval,
            http: http_settings(&h.http_client),
        })));
    }
    out
}

/// The alert endpoints of an `alertmanagers` entry's discovered targets, as Prometheus
/// builds them: `__scheme__`, `__address__` and `__alerts_path__` (the path prefix and
/// `/api/v2/alerts`) after its `relabel_configs`.
pub(crate) fn alertmanager_urls(
    am: &narthex_config::AlertmanagerConfig,
    groups: &[narthex_model::TargetGroup],
) -> Vec<String> {
    let path = format!("{}/api/v2/alerts", am.path_prefix.trim_end_matches('/'));
    let mut out = Vec::new();
    for g in groups {
        for t in &g.targets {
            let mut b = g.labels.builder();
            for l in t {
                b.set(&*l.name, &*l.value);
            }
            b.set("__scheme__", &am.scheme);
            b.set("__alerts_path__", &path);
            let Some(l) = narthex_model::relabel::process(&b.build(), &am.relabel_configs) else {
                continue;
            };
            if let Some(addr) = l.get("__address__").filter(|a| !a.is_empty()) {
                out.push(format!(
                    "{}://{}{}",
                    l.get("__scheme__").unwrap_or("http"),
                    addr,
                    l.get("__alerts_path__").unwrap_or("/api/v2/alerts")
                ));
            }
        }
    }
    out
}

/// Text given inline or in a file; empty inline text counts as unset.
fn source(inline: Option<&str>, file: Option<&std::path::Path>) -> Option<Secret> {
    match (inline.filter(|s| !s.is_empty()), file) {
        (Some(s), _) => Some(Secret::Inline(s.to_string())),
        (None, Some(f)) => Some(Secret::File(f.to_path_buf())),
        (None, None) => None,
    }
}

fn tls_version(v: narthex_config::TlsVersion) -> narthex_http::TlsVersion {
    use narthex_config::TlsVersion as C;
    use narthex_http::TlsVersion as H;
    match v {
        C::Tls10 => H::Tls10,
        C::Tls11 => H::Tls11,
        C::Tls12 => H::Tls12,
        C::Tls13 => H::Tls13,
    }
}

/// An HTTP client configuration as `narthex-http`'s settings (OAuth 2 aside: see
/// [`http_unsupported`]). Files are named, not read: the client reads them.
pub(crate) fn http_settings(hc: &narthex_config::HttpClientConfig) -> HttpSettings {
    let t = &hc.tls_config;
    let basic_auth = hc.basic_auth.as_ref().map(|b| BasicAuth {
        username: source(Some(&b.username), b.username_file.as_deref())
            .unwrap_or(Secret::Inline(String::new())),
        password: source(
            b.password.as_ref().map(|p| p.0.as_str()),
            b.password_file.as_deref(),
        ),
    });
    let authorization = hc.authorization.as_ref().map(|a| Authorization {
        kind: if a.kind.is_empty() {
            "Bearer".into()
        } else {
            a.kind.clone()
        },
        credentials: source(
            a.credentials.as_ref().map(|c| c.0.as_str()),
            a.credentials_file.as_deref(),
        ),
    });
    let mut headers = Vec::new();
    for (name, h) in &hc.http_headers {
        let values = h.values.iter().map(|v| Secret::Inline(v.clone()));
        let secrets = h.secrets.iter().map(|s| Secret::Inline(s.0.clone()));
        let files = h.files.iter().map(|f| Secret::File(f.clone()));
        headers.extend(
            values
                .chain(secrets)
                .chain(files)
                .map(|v| (name.clone(), v)),
        );
    }
    let p = &hc.proxy;
    HttpSettings {
        basic_auth,
        authorization,
        tls: TlsSettings {
            ca: source(t.ca.as_deref(), t.ca_file.as_deref()),
            cert: source(t.cert.as_deref(), t.cert_file.as_deref()),
            key: source(t.key.as_ref().map(|k| k.0.as_str()), t.key_file.as_deref()),
            server_name: t.server_name.clone(),
            insecure_skip_verify: t.insecure_skip_verify,
            min_version: t.min_version.map(tls_version),
            max_version: t.max_version.map(tls_version),
        },
        follow_redirects: hc.follow_redirects,
        enable_http2: hc.enable_http2,
        headers,
        proxy: ProxySettings {
            url: p.proxy_url.clone().filter(|u| !u.is_empty()),
            no_proxy: p.no_proxy.clone().filter(|u| !u.is_empty()),
            from_environment: p.proxy_from_environment,
            connect_headers: p
                .proxy_connect_header
                .iter()
                .flat_map(|(k, vs)| vs.iter().map(|v| (k.clone(), Secret::Inline(v.clone()))))
                .collect(),
        },
    }
}

/// What an HTTP client configuration asks for that `narthex-http` does not do, to warn
/// about.
pub(crate) fn http_unsupported(hc: &narthex_config::HttpClientConfig) -> Vec<&'static str> {
    let mut v = Vec::new();
    if hc.oauth2.is_some() {
        v.push("oauth2");
    }
    v
}

/// An `alerting.alertmanagers` entry and its discovered targets as the notifier's set:
/// endpoints, `timeout`, `alert_relabel_configs` and the HTTP client settings.
pub(crate) fn alertmanager_set(
    am: &narthex_config::AlertmanagerConfig,
    groups: &[narthex_model::TargetGroup],
) -> narthex_rules::AlertmanagerSet {
    let mut urls = alertmanager_urls(am, groups);
    urls.sort();
    urls.dedup();
    narthex_rules::AlertmanagerSet {
        urls,
        timeout_ms: am.timeout.max(1) as u64,
        relabel: am.alert_relabel_configs.clone(),
        http: http_settings(&am.http_client),
    }
}

/// A `remote_write` entry as the sender's options.
pub(crate) fn remote_write(
    c: &narthex_config::RemoteWriteConfig,
    external_labels: &narthex_model::Labels,
) -> narthex_remote::RemoteWriteOptions {
    use std::time::Duration;
    let ms = |v: i64| Duration::from_millis(v.max(0) as u64);
    let q = &c.queue_config;
    let mut o = narthex_remote::RemoteWriteOptions::new(c.url.clone());
    o.name = c.name.clone();
    o.headers = c
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    o.http = http_settings(&c.http_client);
    o.write_relabel_configs = c.write_relabel_configs.clone();
    o.external_labels = external_labels.clone();
    o.queue_config = narthex_remote::QueueConfig {
        capacity: q.capacity.max(1) as usize,
        max_shards: q.max_shards.max(1) as usize,
        min_shards: q.min_shards.max(1) as usize,
        max_samples_per_send: q.max_samples_per_send.max(1) as usize,
        batch_send_deadline: ms(q.batch_send_deadline),
        min_backoff: ms(q.min_backoff),
        max_backoff: ms(q.max_backoff),
        retry_on_http_429: q.retry_on_http_429,
        sample_age_limit: ms(q.sample_age_limit),
        ..narthex_remote::QueueConfig::default()
    };
    o.protocol = match c.protobuf_message {
        narthex_config::ProtobufMessage::V1 => narthex_remote::Protocol::V1,
        narthex_config::ProtobufMessage::V2 => narthex_remote::Protocol::V2,
    };
    o.remote_timeout = ms(c.remote_timeout);
    o.send_exemplars = c.send_exemplars;
    o.send_native_histograms = c.send_native_histograms;
    o.metadata_send_interval = c
        .metadata_config
        .send
        .then(|| ms(c.metadata_config.send_interval));
    o.metadata_max_samples_per_send = c.metadata_config.max_samples_per_send.max(1) as usize;
    o
}

#[cfg(test)]
mod tests {
    use narthex_discovery::{DnsDiscoverer, SdOptions};

    /// An `alertmanagers` entry with `dns_sd_configs` (A records, from Debian's dnsmasq)
    /// becomes a notifier set with the discovered addresses, the port and path prefix.
    #[tokio::test]
    async fn alertmanagers_from_dns_records() {
        let Some(ns) = crate::dnsmasq::start(&[
            "--host-record=am.test,127.0.0.21",
            "--host-record=am.test,127.0.0.22",
        ]) else {
            return;
        };
        let cfg = narthex_config::Config::from_str(
            "alerting:\n  alertmanagers:\n    - path_prefix: /am/\n      timeout: 3s\n      dns_sd_configs:\n        - names: [am.test]\n          type: A\n          port: 9093\n",
            ".",
        )
        .expect("config");
        let am = &cfg.alerting.alertmanagers[0];
        let Some(SdOptions::Dns(mut opts)) = super::discovery(&am.service_discovery).pop() else {
            panic!("no DNS discovery in {:?}", am.service_discovery);
        };
        opts.nameserver = Some(ns.addr);
        let groups = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            DnsDiscoverer::new(opts).expect("resolver").lookup_all(),
        )
        .await
        .expect("lookup timed out");
        let set = super::alertmanager_set(am, &groups);
        assert_eq!(
            set.urls,
            vec![
                "http://127.0.0.21:9093/am/api/v2/alerts".to_string(),
                "http://127.0.0.22:9093/am/api/v2/alerts".to_string(),
            ]
        );
        assert_eq!(set.timeout_ms, 3_000);
    }
}
