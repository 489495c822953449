//! Prometheus's HTTP client settings, as a `reqwest` client with rustls.
//!
//! This crate **is** the one place where Narthex turns the `http_client` part of a
//! `prometheus.yml` section (`basic_auth`, `authorization`, `tls_config`,
//! `follow_redirects`, `enable_http2`, `http_headers`, `proxy_url`/`no_proxy`) into an HTTP
//! client. The scraper, the remote write sender, the notifier and HTTP service discovery all
//! build their clients here, so a target, a remote endpoint and an Alertmanager behind TLS
//! or basic auth are reached the same way.
//!
//! It is **not** a configuration parser: [`HttpSettings`] are plain values with no serde;
//! `narthex-config` parses the YAML and the server converts. It does not do OAuth 2 (the
//! settings have no field for it; the server warns) nor send requests itself.
//!
//! Two halves:
//!
//! - [`client_builder`] makes a `reqwest::ClientBuilder` with the TLS, redirect, HTTP/2 and
//!   proxy settings; the caller adds its own user agent, compression and timeouts, then
//!   builds. TLS files are read here, so a bad `ca_file` fails when the configuration is
//!   loaded ([`HttpError`] says which file and why).
//! - [`HttpSettings::authorize`] adds `http_headers` and the credentials to each request.
//!   Files (`password_file`, `credentials_file`, header `files`) are read per request, as
//!   Prometheus does, so a rotated token is picked up without a reload.
//!
//! ```
//! use narthex_http::{BasicAuth, HttpSettings, Secret, client_builder};
//!
//! let settings = HttpSettings {
//!     basic_auth: Some(BasicAuth {
//!         username: Secret::Inline("prometheus".into()),
//!         password: Some(Secret::Inline("s3cret".into())),
//!     }),
//!     ..HttpSettings::default()
//! };
//! let client = client_builder(&settings).unwrap().build().unwrap();
//! let req = settings.authorize(client.get("https://127.0.0.1:9100/metrics")).unwrap();
//! let req = req.build().unwrap();
//! assert_eq!(req.headers()["authorization"], "Basic cHJvbWV0aGV1czpzM2NyZXQ=");
//! ```
//!
//! # Building clients elsewhere
//!
//! This crate turns on reqwest's `rustls-no-provider` feature (features are shared by the
//! whole build), so `reqwest::Client::new()` and a `ClientBuilder` without
//! [`client_builder`]'s preconfigured TLS panic unless a process-wide rustls provider is
//! installed. Build clients here ([`default_client`] for the plain case).
//!
//! # TLS
//!
//! rustls with the *ring* provider (no aws-lc, no OpenSSL). Without `ca`, the system's
//! certificate store is trusted (loaded once per process), as Go's `crypto/tls` does;
//! with `ca` it is the only trust anchor. `cert` and `key` present a client certificate.
//! `server_name` is the name the server's certificate is checked against (the SNI sent
//! is still the URL's host: reqwest offers no per-client SNI). `insecure_skip_verify`
//! accepts any certificate chain, checking only that the handshake signatures are valid:
//! it protects against nothing but passive eavesdropping, and is there because Prometheus
//! has it. rustls speaks TLS 1.2 and 1.3 only: a `min_version` of TLS 1.0 or 1.1 means
//! TLS 1.2.

mod tls;

use std::fmt;
use std::path::{Path, PathBuf};

pub use tls::client_config;

/// Text given inline or in a file: a password, a token, a header value, a PEM block.
///
/// `Debug` never prints inline text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Secret {
    /// The text itself.
    Inline(String),
    /// A file holding it (read when needed).
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Inline(<secret>)"),
            Secret::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

impl Secret {
    /// The text, a file's content with surrounding white space trimmed (Prometheus trims
    /// `password_file`, `credentials_file` and header files the same way).
    pub fn read(&self, what: &'static str) -> Result<String, HttpError> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| HttpError::read(what, p, e)),
        }
    }

    /// The raw bytes (PEM blocks are not trimmed).
    fn bytes(&self, what: &'static str) -> Result<Vec<u8>, HttpError> {
        match self {
            Secret::Inline(s) => Ok(s.as_bytes().to_vec()),
            Secret::File(p) => std::fs::read(p).map_err(|e| HttpError::read(what, p, e)),
        }
    }

    /// Where the text comes from, for error messages: the file, or `inline`.
    fn origin(&self) -> String {
        match self {
            Secret::Inline(_) => "(inline)".into(),
            Secret::File(p) => p.display().to_string(),
        }
    }
}

/// `basic_auth`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BasicAuth {
    /// `username` or `username_file`.
    pub username: Secret,
    /// `password` or `password_file`; none sends an empty password.
    pub password: Option<Secret>,
}

/// `authorization` (and the older `bearer_token`/`bearer_token_file`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Authorization {
    /// The scheme, `Bearer` unless configured.
    pub kind: String,
    /// `credentials` or `credentials_file`; none sends the scheme alone.
    pub credentials: Option<Secret>,
}

/// TLS versions of `min_version` and `max_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.0 (treated as 1.2: rustls has nothing older).
    Tls10,
    /// TLS 1.1 (treated as 1.2).
    Tls11,
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// `tls_config`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// `ca` or `ca_file`: the only trusted CA certificates (PEM); none trusts the system's.
    pub ca: Option<Secret>,
    /// `cert` or `cert_file`: the client certificate chain (PEM).
    pub cert: Option<Secret>,
    /// `key` or `key_file`: the client certificate's private key (PEM).
    pub key: Option<Secret>,
    /// `server_name`: the name the server certificate must be valid for.
    pub server_name: Option<String>,
    /// `insecure_skip_verify`: accept any server certificate.
    pub insecure_skip_verify: bool,
    /// `min_version`.
    pub min_version: Option<TlsVersion>,
    /// `max_version`.
    pub max_version: Option<TlsVersion>,
}

/// `proxy_url`, `no_proxy`, `proxy_from_environment`, `proxy_connect_header`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProxySettings {
    /// `proxy_url`.
    pub url: Option<String>,
    /// `no_proxy`: comma-separated hosts, domains and networks reached directly.
    pub no_proxy: Option<String>,
    /// `proxy_from_environment`: `HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`.
    pub from_environment: bool,
    /// `proxy_connect_header`: headers sent to the proxy.
    pub connect_headers: Vec<(String, Secret)>,
}

/// Prometheus's HTTP client settings, minus OAuth 2.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpSettings {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`.
    pub authorization: Option<Authorization>,
    /// `tls_config`.
    pub tls: TlsSettings,
    /// `follow_redirects` (true): follow up to 10 redirects, else hand back the 3xx.
    pub follow_redirects: bool,
    /// `enable_http2` (true): offer HTTP/2 in the TLS handshake; false keeps HTTP/1.1.
    pub enable_http2: bool,
    /// `http_headers`, one entry per value, in order.
    pub headers: Vec<(String, Secret)>,
    /// Proxy settings.
    pub proxy: ProxySettings,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            basic_auth: None,
            authorization: None,
            tls: TlsSettings::default(),
            follow_redirects: true,
            enable_http2: true,
            headers: Vec::new(),
            proxy: ProxySettings::default(),
        }
    }
}

/// Why a client could not be built or a request not be authorized.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// A file could not be read.
    #[error("unable to read {what} {}: {source}", path.display())]
    Read {
        /// What the file holds (`CA cert`, `password file`...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM block (certificate or key) could not be used.
    #[error("unable to use specified {what} {origin}: {reason}")]
    Pem {
        /// What the block should hold.
        what: &'static str,
        /// Its file, or `(inline)`.
        origin: String,
        /// Why not.
        reason: String,
    },
    /// The TLS settings do not go together (a certificate without a key, versions...).
    #[error("{0}")]
    Tls(String),
    /// A header name or value is not valid HTTP.
    #[error("invalid header {name:?}: {reason}")]
    Header {
        /// The header name.
        name: String,
        /// Why not.
        reason: String,
    },
    /// reqwest refused to build the client.
    #[error("{0}")]
    Client(String),
    /// `proxy_url` is not usable.
    #[error("invalid proxy_url {url:?}: {reason}")]
    Proxy {
        /// The URL.
        url: String,
        /// Why not.
        reason: String,
    },
}

impl HttpError {
    fn read(what: &'static str, path: &Path, source: std::io::Error) -> HttpError {
        HttpError::Read {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

fn header_map(
    pairs: &[(String, Secret)],
    what: &'static str,
) -> Result<reqwest::header::HeaderMap, HttpError> {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in pairs {
        let bad = |reason: String| HttpError::Header {
            name: name.clone(),
            reason,
        };
        let n = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| bad(e.to_string()))?;
        let v = reqwest::header::HeaderValue::from_str(&value.read(what)?)
            .map_err(|e| bad(e.to_string()))?;
        map.append(n, v);
    }
    Ok(map)
}

/// A `reqwest` client builder with the TLS, redirect, HTTP/2 and proxy settings applied.
///
/// TLS certificate and key files are read now. The caller adds what is its own (user
/// agent, compression, timeouts) and calls `build`.
pub fn client_builder(s: &HttpSettings) -> Result<reqwest::ClientBuilder, HttpError> {
    let tls = client_config(&s.tls, s.enable_http2)?;
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(if s.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        });
    if !s.enable_http2 {
        b = b.http1_only();
    }
    let p = &s.proxy;
    match &p.url {
        Some(url) if !url.is_empty() => {
            let bad = |reason: String| HttpError::Proxy {
                url: url.clone(),
                reason,
            };
            let mut proxy = reqwest::Proxy::all(url.as_str()).map_err(|e| bad(e.to_string()))?;
            proxy = proxy.no_proxy(
                p.no_proxy
                    .as_deref()
                    .and_then(reqwest::NoProxy::from_string),
            );
            if !p.connect_headers.is_empty() {
                proxy = proxy.headers(header_map(&p.connect_headers, "proxy header file")?);
            }
            b = b.proxy(proxy);
        }
        // reqwest reads the environment's proxies unless told not to.
        _ if p.from_environment => {}
        _ => b = b.no_proxy(),
    }
    Ok(b)
}

/// A client with the default settings (system roots, no credentials, redirects followed),
/// for the places that would call `reqwest::Client::new()`: with this crate in the build,
/// reqwest has TLS without a process-wide crypto provider, and `Client::new()` panics.
pub fn default_client() -> Result<reqwest::Client, HttpError> {
    client_builder(&HttpSettings::default())?
        .build()
        .map_err(|e| HttpError::Client(e.to_string()))
}

impl HttpSettings {
    /// Adds `http_headers` and the credentials (`basic_auth` or `authorization`) to a
    /// request, reading the files they name now.
    pub fn authorize(
        &self,
        mut req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, HttpError> {
        if !self.headers.is_empty() {
            req = req.headers(header_map(&self.headers, "headers file")?);
        }
        if let Some(b) = &self.basic_auth {
            let user = b.username.read("username file")?;
            let password = match &b.password {
                Some(p) => p.read("password file")?,
                None => String::new(),
            };
            req = req.basic_auth(user, Some(password));
        } else if let Some(a) = &self.authorization {
            let kind = if a.kind.is_empty() { "Bearer" } else { &a.kind };
            let value = match &a.credentials {
                Some(c) => format!("{kind} {}", c.read("authorization credentials file")?),
                None => kind.to_string(),
            };
            let mut v =
                reqwest::header::HeaderValue::from_str(&value).map_err(|e| HttpError::Header {
                    name: "Authorization".into(),
                    reason: e.to_string(),
                })?;
            v.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, v);
        }
        Ok(req)
    }
}
