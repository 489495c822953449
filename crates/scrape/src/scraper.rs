//! Fetching a target's metrics over HTTP the way Prometheus's scraper asks for them.

use std::sync::Arc;
use std::time::Duration;

use narthex_exposition::Format;

use crate::append::{ScrapeError, body_format};
use crate::target::{ScrapeOptions, Target, accept_header};

/// The HTTP side of scraping: one client per pool.
#[derive(Clone, Debug)]
pub struct Scraper {
    client: reqwest::Client,
    http: Arc<narthex_http::HttpSettings>,
    accept: String,
    body_size_limit: usize,
    fallback: Option<Format>,
}

/// A fetched body and how to parse it.
#[derive(Debug)]
pub struct Fetched {
    /// The body, uncompressed.
    pub body: Vec<u8>,
    /// The format from the `Content-Type`.
    pub format: Format,
}

impl Scraper {
    /// A scraper for a job's options. TLS files are read now: an unusable one is an error
    /// naming the job.
    pub fn new(opts: &ScrapeOptions, fallback: Option<Format>) -> Result<Scraper, ScrapeError> {
        let failed = |e: String| {
            ScrapeError::Http(format!(
                "scrape_pool {:?}: error creating HTTP client: {e}",
                opts.job
            ))
        };
        let client = narthex_http::client_builder(&opts.http)
            .map_err(|e| failed(e.to_string()))?
            .user_agent(concat!("narthex/", env!("CARGO_PKG_VERSION")))
            .gzip(opts.enable_compression)
            .build()
            .map_err(|e| failed(describe(&e)))?;
        Ok(Scraper {
            client,
            http: Arc::new(opts.http.clone()),
            accept: accept_header(&opts.protocols),
            body_size_limit: opts.body_size_limit,
            fallback,
        })
    }

    /// Fetches the target's body within its timeout.
    pub async fn fetch(&self, target: &Target) -> Result<Fetched, ScrapeError> {
        let timeout = Duration::from_millis(target.timeout.max(1) as u64);
        let fut = async {
            let req = self
                .http
                .authorize(self.client.get(&target.url))
                .map_err(|e| ScrapeError::Http(e.to_string()))?;
            let mut resp = req
                .header("Accept", &self.accept)
                .header(
                    "X-Prometheus-Scrape-Timeout-Seconds",
                    format!("{}", target.timeout as f64 / 1000.0),
                )
                .send()
                .await
                .map_err(|e| ScrapeError::Http(describe(&e)))?;
            let status = resp.status();
            if status != reqwest::StatusCode::OK {
                return Err(ScrapeError::Http(format!(
                    "server returned HTTP status {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )));
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let format = body_format(&content_type, self.fallback)?;
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| ScrapeError::Http(describe(&e)))?
            {
                body.extend_from_slice(&chunk);
                if self.body_size_limit > 0 && body.len() > self.body_size_limit {
                    return Err(ScrapeError::BodySizeLimit);
                }
            }
            Ok(Fetched { body, format })
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ScrapeError::Http(format!(
                "Get \"{}\": context deadline exceeded",
                target.url
            ))),
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
