//! `http_sd_configs`: target groups fetched from an HTTP endpoint, refreshed periodically.

use std::time::Duration;

use narthex_model::TargetGroup;

use crate::parse::{parse_groups_json, with_label};
use crate::refresh::{Refresh, refresh_loop};
use crate::{BoxFuture, Discoverer, DiscoveryError, SdStatus, UpdateSender};

/// `__meta_url`: the URL the group was fetched from.
pub const URL_LABEL: &str = "__meta_url";

/// One `http_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSdOptions {
    /// The endpoint, `http://` or `https://`.
    pub url: String,
    /// How often to fetch again, in milliseconds (Prometheus's default: 60s).
    pub refresh_interval_ms: i64,
    /// The HTTP client settings: TLS, credentials, headers, redirects, proxy.
    pub http: narthex_http::HttpSettings,
}

impl Default for HttpSdOptions {
    fn default() -> Self {
        HttpSdOptions {
            url: String::new(),
            refresh_interval_ms: 60_000,
            http: narthex_http::HttpSettings::default(),
        }
    }
}

impl HttpSdOptions {
    /// Prometheus's checks of the URL.
    pub fn validate(&self) -> Result<(), DiscoveryError> {
        if self.url.is_empty() {
            return Err(DiscoveryError::Config("URL is missing".into()));
        }
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| DiscoveryError::Config(format!("parse {:?}: {e}", self.url)))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(DiscoveryError::Config(
                "URL scheme must be 'http' or 'https'".into(),
            ));
        }
        if url.host_str().unwrap_or("").is_empty() {
            return Err(DiscoveryError::Config("host is missing in URL".into()));
        }
        Ok(())
    }
}

/// The source of the `i`-th group fetched from `url`: `<url>:<i>`.
pub fn url_source(url: &str, i: usize) -> String {
    format!("{url}:{i}")
}

/// Fetches target groups over HTTP, as Prometheus's HTTP discovery.
///
/// A `GET` with `Accept: application/json` and `X-Prometheus-Refresh-Interval-Seconds`;
/// the answer must be `200` with content type `application/json` (optionally with
/// `charset=utf-8`) and a JSON list of groups. Every group gets `__meta_url` and the source
/// `<url>:<index>`; when the list shrinks, the missing sources are sent empty. Any failure
/// keeps the last good groups and is counted in the status with Prometheus's error text.
#[derive(Debug)]
pub struct HttpDiscoverer {
    opts: HttpSdOptions,
    client: reqwest::Client,
    status: SdStatus,
    last_len: usize,
}

impl HttpDiscoverer {
    /// A discoverer for `opts`, with its HTTP client.
    pub fn new(opts: HttpSdOptions) -> Result<Self, DiscoveryError> {
        opts.validate()?;
        let client = narthex_http::client_builder(&opts.http)
            .map_err(|e| DiscoveryError::Setup(format!("error creating HTTP client: {e}")))?
            .timeout(Duration::from_millis(
                opts.refresh_interval_ms.max(1000) as u64
            ))
            .user_agent(concat!("Narthex/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DiscoveryError::Setup(format!("HTTP client: {e}")))?;
        Ok(HttpDiscoverer {
            opts,
            client,
            status: SdStatus::new(),
            last_len: 0,
        })
    }

    /// Fetches once: the groups, plus empty groups for sources that disappeared.
    pub async fn fetch(&mut self) -> Result<Vec<TargetGroup>, String> {
        let secs = self.opts.refresh_interval_ms as f64 / 1000.0;
        let req = self
            .opts
            .http
            .authorize(self.client.get(&self.opts.url))
            .map_err(|e| e.to_string())?;
        let resp = req
            .header("Accept", "application/json")
            .header("X-Prometheus-Refresh-Interval-Seconds", format!("{secs}"))
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!(
                "server returned HTTP status {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string());
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !json_content_type(content_type.trim()) {
            return Err(format!("unsupported content type {content_type:?}"));
        }
        let body = resp.bytes().await.map_err(|e| error_chain(&e))?;
        let groups = parse_groups_json(&body).map_err(|e| e.to_string())?;
        let url = &self.opts.url;
        let n = groups.len();
        let mut out: Vec<TargetGroup> = groups
            .into_iter()
            .enumerate()
            .map(|(i, mut g)| {
                g.labels = with_label(&g.labels, URL_LABEL, url);
                g.source = url_source(url, i);
                g
            })
            .collect();
        for i in n..self.last_len {
            out.push(TargetGroup::empty(url_source(url, i)));
        }
        self.last_len = n;
        Ok(out)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// `^(?i:application/json(;\s*charset=("utf-8"|utf-8))?)$`, Prometheus's check.
fn json_content_type(ct: &str) -> bool {
    let lower = ct.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("application/json") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix(';') else {
        return false;
    };
    matches!(
        rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0c']),
        "charset=utf-8" | "charset=\"utf-8\""
    )
}

impl Refresh for HttpDiscoverer {
    async fn refresh(&mut self) -> Result<Vec<TargetGroup>, String> {
        self.fetch().await
    }
}

impl Discoverer for HttpDiscoverer {
    fn status(&self) -> SdStatus {
        self.status.clone()
    }

    fn run(self: Box<Self>, updates: UpdateSender) -> BoxFuture {
        Box::pin(async move {
            let interval = self.opts.refresh_interval_ms;
            let status = self.status.clone();
            refresh_loop("http", interval, updates, status, *self).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::json_content_type;

    #[test]
    fn content_types() {
        assert!(json_content_type("application/json"));
        assert!(json_content_type("Application/JSON; charset=utf-8"));
        assert!(json_content_type("application/json;charset=\"utf-8\""));
        assert!(!json_content_type("application/json; charset=latin1"));
        assert!(!json_content_type("text/plain"));
        assert!(!json_content_type("application/jsonx"));
    }
}
