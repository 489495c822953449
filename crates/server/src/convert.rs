//! From the typed `prometheus.yml` to the option structs of the library crates.

use narthex_config::{DnsRecordType, ScrapeConfig, ScrapeProtocol, ServiceDiscoveryConfigs};
use narthex_discovery::{
    DnsKind, DnsSdOptions, FileSdOptions, HttpSdOptions, SdOptions, StaticConfig,
};
use narthex_exposition::Format;
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
        out.push(SdOptions::Http(HttpSdOptions {
            url: h.url.clone(),
            refresh_interval_ms: h.refresh_interval,
        }));
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

/// A secret given inline or in a file (read now, trailing newline dropped).
fn secret(inline: Option<&narthex_config::Secret>, file: Option<&std::path::Path>) -> String {
    match (inline, file) {
        (Some(s), _) => s.0.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map(|s| s.trim_end_matches('\n').to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The `basic_auth` or `authorization` of an HTTP client configuration, files read.
pub(crate) fn credentials(
    hc: &narthex_config::HttpClientConfig,
) -> Option<narthex_rules::AlertmanagerAuth> {
    if let Some(b) = &hc.basic_auth {
        let username = match &b.username_file {
            Some(f) if b.username.is_empty() => secret(None, Some(f)),
            _ => b.username.clone(),
        };
        return Some(narthex_rules::AlertmanagerAuth::Basic {
            username,
            password: secret(b.password.as_ref(), b.password_file.as_deref()),
        });
    }
    hc.authorization
        .as_ref()
        .map(|a| narthex_rules::AlertmanagerAuth::Authorization {
            kind: if a.kind.is_empty() {
                "Bearer".into()
            } else {
                a.kind.clone()
            },
            credentials: secret(a.credentials.as_ref(), a.credentials_file.as_deref()),
        })
}

/// An `alerting.alertmanagers` entry and its discovered targets as the notifier's set:
/// endpoints, `timeout`, `alert_relabel_configs`, credentials and `http_headers`.
pub(crate) fn alertmanager_set(
    am: &narthex_config::AlertmanagerConfig,
    groups: &[narthex_model::TargetGroup],
) -> narthex_rules::AlertmanagerSet {
    let mut urls = alertmanager_urls(am, groups);
    urls.sort();
    urls.dedup();
    let mut headers = Vec::new();
    for (name, h) in &am.http_client.http_headers {
        let values = h.values.iter().cloned();
        let secrets = h.secrets.iter().map(|s| s.0.clone());
        let files = h.files.iter().map(|f| secret(None, Some(f)));
        headers.extend(
            values
                .chain(secrets)
                .chain(files)
                .map(|v| (name.clone(), v)),
        );
    }
    narthex_rules::AlertmanagerSet {
        urls,
        timeout_ms: am.timeout.max(1) as u64,
        relabel: am.alert_relabel_configs.clone(),
        auth: credentials(&am.http_client),
        headers,
    }
}

/// What an `alerting.alertmanagers` entry asks for that the notifier does not do (its
/// HTTP client has no TLS, OAuth 2 or proxy support), to warn about.
pub(crate) fn alertmanager_unsupported(
    am: &narthex_config::AlertmanagerConfig,
) -> Vec<&'static str> {
    let hc = &am.http_client;
    let mut v = Vec::new();
    if am.scheme == "https" || hc.tls_config != narthex_config::TlsConfig::default() {
        v.push("https/tls_config");
    }
    if hc.oauth2.is_some() {
        v.push("oauth2");
    }
    if hc.proxy != narthex_config::ProxyConfig::default() {
        v.push("proxy settings");
    }
    v
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
    o.auth = credentials(&c.http_client).map(|a| match a {
        narthex_rules::AlertmanagerAuth::Basic { username, password } => {
            narthex_remote::Auth::Basic { username, password }
        }
        narthex_rules::AlertmanagerAuth::Authorization { credentials, .. } => {
            narthex_remote::Auth::Bearer(credentials)
        }
    });
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
