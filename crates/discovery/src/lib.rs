//! Prometheus-compatible service discovery.
//!
//! This crate **is** the part of Narthex that finds targets: discoverers that produce
//! [`TargetGroup`]s with Prometheus's labels and sources ([`StaticDiscoverer`],
//! [`FileDiscoverer`] for `file_sd_configs`, `DnsDiscoverer` for `dns_sd_configs`,
//! `HttpDiscoverer` for `http_sd_configs`), and a [`DiscoveryManager`] that runs them per
//! named provider (a scrape job, an Alertmanager set), merges their groups by source and
//! hands the full state to a consumer at most once per update interval, as Prometheus's
//! discovery manager does.
//!
//! It is **not** a configuration parser (`narthex-config` reads `prometheus.yml` and the
//! server turns it into the option structs here) nor a scraper (`narthex-scrape` turns the
//! groups into targets, applies relabelling and checks addresses). Everything runs on a
//! Tokio runtime.
//!
//! ```
//! use std::collections::HashMap;
//! use narthex_discovery::{DiscoveryManager, ManagerOptions, SdOptions, StaticConfig};
//! use narthex_model::labels;
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # rt.block_on(async {
//! let (manager, mut updates) =
//!     DiscoveryManager::new(ManagerOptions { update_interval_ms: 10 });
//! let node = StaticConfig {
//!     targets: vec!["10.0.0.1:9100".into(), "10.0.0.2:9100".into()],
//!     labels: labels! { "env" => "prod" },
//! };
//! manager.apply(HashMap::from([("node".to_string(), vec![SdOptions::Static(vec![node])])]));
//! let sets = updates.recv().await.unwrap();
//! let groups = &sets["node"];
//! assert_eq!(groups.len(), 1);
//! assert_eq!(groups[0].source, "0");
//! assert_eq!(groups[0].targets[1], labels! { "__address__" => "10.0.0.2:9100" });
//! assert_eq!(groups[0].labels, labels! { "env" => "prod" });
//! manager.stop();
//! # });
//! ```
//!
//! # Design
//!
//! - A discoverer implements [`Discoverer`]: it runs until its future is dropped (the
//!   manager aborts its task) or its channel closes, and sends lists of groups. A group
//!   replaces the previous group of the same source; a group with no targets removes it,
//!   which is how a deleted file or a shrinking HTTP answer removes targets.
//! - [`SdOptions`] lists the built-in kinds; other crates (Kubernetes, Consul) plug in
//!   through [`SdOptions::Custom`] and the [`DiscovererConfig`] trait.
//! - Failures never clear targets: a file that fails to parse, an HTTP error or a DNS
//!   server error keeps the last good groups and is counted in the discoverer's
//!   [`SdStatus`] (the failure counter and last error the server can show).
//! - Labels with empty values are absent in [`narthex_model::Labels`], so `__meta_dns_*`
//!   labels that Prometheus sets to `""` for other record types are simply missing here,
//!   which relabelling cannot tell apart.
//!
//! # Features
//!
//! `dns` (hickory-resolver) and `http` (reqwest through `narthex-http`: TLS with rustls,
//! credentials and headers from [`HttpSdOptions::http`]) are on by default.

mod file;
mod manager;
mod parse;
#[cfg(any(feature = "dns", feature = "http"))]
mod refresh;
mod static_sd;
mod status;

#[cfg(feature = "dns")]
mod dns;
#[cfg(feature = "http")]
mod http;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;

pub use narthex_model::TargetGroup;

#[cfg(feature = "dns")]
pub use dns::{
    DNS_MX_TARGET_LABEL, DNS_NAME_LABEL, DNS_NS_TARGET_LABEL, DNS_SRV_PORT_LABEL,
    DNS_SRV_TARGET_LABEL, DnsDiscoverer, DnsKind, DnsSdOptions,
};
pub use file::{FILEPATH_LABEL, FileDiscoverer, FileSdOptions, file_source};
#[cfg(feature = "http")]
pub use http::{HttpDiscoverer, HttpSdOptions, URL_LABEL, url_source};
pub use manager::{DiscoveryManager, ManagerOptions, ProviderStatus, TargetSets};
pub use parse::{ParseError, parse_groups_json, parse_groups_yaml};
pub use static_sd::{StaticConfig, StaticDiscoverer};
pub use status::{DiscovererStatus, SdStatus};

/// A boxed, sendable future, what [`Discoverer::run`] returns.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The sending half discoverers write their updates to.
pub type UpdateSender = mpsc::Sender<Vec<TargetGroup>>;

/// A source of target groups, Prometheus's `discovery.Discoverer`.
///
/// `run` returns a future that runs until it is dropped (cancellation) or the receiver of
/// `updates` is gone. Every message is a list of groups; each replaces the group with the
/// same [`TargetGroup::source`] seen before, and a group without targets removes its
/// source. The first message should come soon after starting, with everything known.
pub trait Discoverer: Send + 'static {
    /// The discoverer's health: failures and the last error, shared with whoever holds a
    /// clone.
    fn status(&self) -> SdStatus;

    /// Starts discovering; the returned future sends updates on `updates`.
    fn run(self: Box<Self>, updates: UpdateSender) -> BoxFuture;
}

/// Configuration of a discoverer kind that lives outside this crate.
///
/// The manager compares two configurations by [`DiscovererConfig::kind`] and their
/// `Debug` text to decide whether a provider changed, so `Debug` must show every field that
/// matters.
pub trait DiscovererConfig: fmt::Debug + Send + Sync + 'static {
    /// A short name of the mechanism, like Prometheus's config names (`kubernetes`).
    fn kind(&self) -> &'static str;

    /// Builds a new discoverer from this configuration.
    fn build(&self) -> Result<Box<dyn Discoverer>, DiscoveryError>;
}

/// The configuration of one discovery mechanism of a provider.
#[derive(Clone, Debug)]
pub enum SdOptions {
    /// `static_configs`: all of a job's static groups, one discoverer.
    Static(Vec<StaticConfig>),
    /// One `file_sd_configs` entry.
    File(FileSdOptions),
    /// One `dns_sd_configs` entry.
    #[cfg(feature = "dns")]
    Dns(DnsSdOptions),
    /// One `http_sd_configs` entry (boxed: its HTTP client settings are large).
    #[cfg(feature = "http")]
    Http(Box<HttpSdOptions>),
    /// A mechanism implemented in another crate.
    Custom(Arc<dyn DiscovererConfig>),
}

impl SdOptions {
    /// The mechanism's name as in Prometheus's configuration (`static`, `file`, `dns`,
    /// `http`, or the custom kind).
    pub fn kind(&self) -> &'static str {
        match self {
            SdOptions::Static(_) => "static",
            SdOptions::File(_) => "file",
            #[cfg(feature = "dns")]
            SdOptions::Dns(_) => "dns",
            #[cfg(feature = "http")]
            SdOptions::Http(_) => "http",
            SdOptions::Custom(c) => c.kind(),
        }
    }

    /// Builds the discoverer these options describe.
    pub fn build(&self) -> Result<Box<dyn Discoverer>, DiscoveryError> {
        Ok(match self {
            SdOptions::Static(c) => Box::new(StaticDiscoverer::new(c)),
            SdOptions::File(o) => Box::new(FileDiscoverer::new(o.clone())?),
            #[cfg(feature = "dns")]
            SdOptions::Dns(o) => Box::new(DnsDiscoverer::new(o.clone())?),
            #[cfg(feature = "http")]
            SdOptions::Http(o) => Box::new(HttpDiscoverer::new((**o).clone())?),
            SdOptions::Custom(c) => c.build()?,
        })
    }
}

impl PartialEq for SdOptions {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SdOptions::Static(a), SdOptions::Static(b)) => a == b,
            (SdOptions::File(a), SdOptions::File(b)) => a == b,
            #[cfg(feature = "dns")]
            (SdOptions::Dns(a), SdOptions::Dns(b)) => a == b,
            #[cfg(feature = "http")]
            (SdOptions::Http(a), SdOptions::Http(b)) => a == b,
            (SdOptions::Custom(a), SdOptions::Custom(b)) => {
                a.kind() == b.kind() && format!("{a:?}") == format!("{b:?}")
            }
            _ => false,
        }
    }
}

/// Why a discoverer could not be built from its options.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The options are invalid; the text says why, in Prometheus's words where it has them.
    #[error("{0}")]
    Config(String),
    /// The discoverer could not be set up (resolver, HTTP client, file watcher).
    #[error("{0}")]
    Setup(String),
}
