//! `dns_sd_configs`: targets from A, AAAA, SRV, MX and NS records, refreshed periodically.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use narthex_model::{Labels, TargetGroup};

use crate::refresh::{Refresh, refresh_loop};
use crate::{BoxFuture, Discoverer, DiscoveryError, SdStatus, UpdateSender};

/// `__meta_dns_name`: the record name that produced the target.
pub const DNS_NAME_LABEL: &str = "__meta_dns_name";
/// `__meta_dns_srv_record_target`: the SRV record's target, with its final dot.
pub const DNS_SRV_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
/// `__meta_dns_srv_record_port`: the SRV record's port.
pub const DNS_SRV_PORT_LABEL: &str = "__meta_dns_srv_record_port";
/// `__meta_dns_mx_record_target`: the MX record's exchange, with its final dot.
pub const DNS_MX_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
/// `__meta_dns_ns_record_target`: the NS record's name server, with its final dot.
pub const DNS_NS_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

/// The record type a DNS discoverer queries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DnsKind {
    /// IPv4 addresses, with the configured port.
    A,
    /// IPv6 addresses, with the configured port.
    Aaaa,
    /// Service records: each record's target and port (Prometheus's default).
    #[default]
    Srv,
    /// Mail exchangers, with the configured port.
    Mx,
    /// Name servers, with the configured port.
    Ns,
}

impl DnsKind {
    fn record_type(self) -> RecordType {
        match self {
            DnsKind::A => RecordType::A,
            DnsKind::Aaaa => RecordType::AAAA,
            DnsKind::Srv => RecordType::SRV,
            DnsKind::Mx => RecordType::MX,
            DnsKind::Ns => RecordType::NS,
        }
    }
}

/// One `dns_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSdOptions {
    /// The names to look up.
    pub names: Vec<String>,
    /// The record type to query.
    pub kind: DnsKind,
    /// The port of the targets for every kind but SRV (which has its own ports).
    pub port: u16,
    /// How often to look the names up again, in milliseconds (Prometheus's default: 30s).
    pub refresh_interval_ms: i64,
    /// A name server to ask instead of the system's (`/etc/resolv.conf`); for tests and
    /// special setups.
    pub nameserver: Option<SocketAddr>,
}

impl Default for DnsSdOptions {
    fn default() -> Self {
        DnsSdOptions {
            names: Vec::new(),
            kind: DnsKind::Srv,
            port: 0,
            refresh_interval_ms: 30_000,
            nameserver: None,
        }
    }
}

impl DnsSdOptions {
    /// Prometheus's checks: at least one name, and a port for every kind but SRV.
    pub fn validate(&self) -> Result<(), DiscoveryError> {
        if self.names.is_empty() {
            return Err(DiscoveryError::Config(
                "DNS-SD config must contain at least one SRV record name".into(),
            ));
        }
        if self.kind != DnsKind::Srv && self.port == 0 {
            return Err(DiscoveryError::Config(
                "a port is required in DNS-SD configs for all record types except SRV".into(),
            ));
        }
        Ok(())
    }
}

/// Looks names up periodically, as Prometheus's DNS discovery.
///
/// One group per name, with the name as its source. Every target has `__address__`
/// (`host:port`, IPv6 addresses in brackets, final dots of names removed) and
/// `__meta_dns_name`; SRV, MX and NS targets also have their record label. A name that
/// does not exist, or has no records of the type, gives an empty group (its targets go
/// away); any other failure sends nothing for that name, so its last targets stay, and is
/// counted in the status.
pub struct DnsDiscoverer {
    opts: DnsSdOptions,
    resolver: TokioResolver,
    status: SdStatus,
}

impl std::fmt::Debug for DnsDiscoverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsDiscoverer")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl DnsDiscoverer {
    /// A discoverer for `opts`, with its resolver.
    pub fn new(opts: DnsSdOptions) -> Result<Self, DiscoveryError> {
        opts.validate()?;
        let provider = TokioRuntimeProvider::default();
        let mut builder = match opts.nameserver {
            Some(addr) => {
                let conn = |mut c: ConnectionConfig| {
                    c.port = addr.port();
                    c
                };
                let ns = NameServerConfig::new(
                    addr.ip(),
                    true,
                    vec![conn(ConnectionConfig::udp()), conn(ConnectionConfig::tcp())],
                );
                let mut b = Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    provider,
                );
                let o: &mut ResolverOpts = b.options_mut();
                o.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
                b
            }
            None => Resolver::builder(provider)
                .map_err(|e| DiscoveryError::Setup(format!("DNS resolver: {e}")))?,
        };
        // Prometheus asks every time; no caching between refreshes.
        builder.options_mut().cache_size = 0;
        let resolver = builder
            .build()
            .map_err(|e| DiscoveryError::Setup(format!("DNS resolver: {e}")))?;
        Ok(DnsDiscoverer {
            opts,
            resolver,
            status: SdStatus::new(),
        })
    }

    /// Looks every name up once; names whose lookup failed are missing from the result.
    pub async fn lookup_all(&self) -> Vec<TargetGroup> {
        let mut set = tokio::task::JoinSet::new();
        for (i, name) in self.opts.names.iter().enumerate() {
            let resolver = self.resolver.clone();
            let (name, kind, port) = (name.clone(), self.opts.kind, self.opts.port);
            set.spawn(async move { (i, lookup(&resolver, &name, kind, port).await) });
        }
        let mut results = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(r) = r {
                results.push(r);
            }
        }
        results.sort_by_key(|(i, _)| *i);
        let mut groups = Vec::new();
        for (_, r) in results {
            match r {
                Ok(g) => groups.push(g),
                Err(e) => {
                    tracing::error!(error = %e, "Error refreshing DNS targets");
                    self.status.record_error(e);
                }
            }
        }
        groups
    }
}

async fn lookup(
    resolver: &TokioResolver,
    name: &str,
    kind: DnsKind,
    port: u16,
) -> Result<TargetGroup, String> {
    let mut group = TargetGroup::empty(name);
    let res = resolver.lookup(name, kind.record_type()).await;
    let lookup = match res {
        Ok(l) => l,
        // The name does not exist or has no such records: no targets. Other answers
        // (SERVFAIL, REFUSED, timeouts) are failures.
        Err(NetError::Dns(DnsError::NoRecordsFound(nr)))
            if matches!(
                nr.response_code,
                ResponseCode::NXDomain | ResponseCode::NoError
            ) =>
        {
            return Ok(group);
        }
        Err(e) => return Err(format!("could not resolve {name:?}: {e}")),
    };
    for record in lookup.answers() {
        let mut labels: Vec<(&str, String)> = vec![(DNS_NAME_LABEL, name.to_string())];
        let address = match &record.data {
            RData::SRV(srv) => {
                let target = fqdn(&srv.target.to_ascii());
                labels.push((DNS_SRV_TARGET_LABEL, target.clone()));
                labels.push((DNS_SRV_PORT_LABEL, srv.port.to_string()));
                host_port(target.trim_end_matches('.'), srv.port)
            }
            RData::MX(mx) => {
                let target = fqdn(&mx.exchange.to_ascii());
                labels.push((DNS_MX_TARGET_LABEL, target.clone()));
                host_port(target.trim_end_matches('.'), port)
            }
            RData::NS(ns) => {
                let target = fqdn(&ns.0.to_ascii());
                labels.push((DNS_NS_TARGET_LABEL, target.clone()));
                host_port(target.trim_end_matches('.'), port)
            }
            RData::A(a) => ip_port(IpAddr::V4(a.0), port),
            RData::AAAA(a) => ip_port(IpAddr::V6(a.0), port),
            // CNAMEs come along with A and AAAA answers.
            RData::CNAME(_) => continue,
            other => {
                tracing::warn!(record = ?other, "Invalid record");
                continue;
            }
        };
        labels.push(("__address__", address));
        group.targets.push(Labels::from_pairs(labels));
    }
    Ok(group)
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn ip_port(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

impl Refresh for DnsDiscoverer {
    async fn refresh(&mut self) -> Result<Vec<TargetGroup>, String> {
        Ok(self.lookup_all().await)
    }
}

impl Discoverer for DnsDiscoverer {
    fn status(&self) -> SdStatus {
        self.status.clone()
    }

    fn run(self: Box<Self>, updates: UpdateSender) -> BoxFuture {
        Box::pin(async move {
            let interval = self.opts.refresh_interval_ms;
            let status = self.status.clone();
            refresh_loop("dns", interval, updates, status, *self).await;
        })
    }
}
