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
    let file = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .map(|s| s.trim_end_matches('\n').to_string())
            .unwrap_or_default()
    };
    if let Some(b) = &c.http_client.basic_auth {
        let password = match (&b.password, &b.password_file) {
            (Some(p), _) => p.0.clone(),
            (None, Some(f)) => file(f),
            _ => String::new(),
        };
        o.auth = Some(narthex_remote::Auth::Basic {
            username: b.username.clone(),
            password,
        });
    } else if let Some(a) = &c.http_client.authorization {
        let token = match (&a.credentials, &a.credentials_file) {
            (Some(t), _) => t.0.clone(),
            (None, Some(f)) => file(f),
            _ => String::new(),
        };
        o.auth = Some(narthex_remote::Auth::Bearer(token));
    }
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
