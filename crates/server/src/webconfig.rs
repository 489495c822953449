//! The web configuration file (`--web.config.file`), in the format Prometheus and its
//! exporters share: TLS for the listener (`tls_server_config`), HTTP options
//! (`http_server_config`: HTTP/2, a fixed set of security headers), `basic_auth_users`
//! with bcrypt password hashes, and an optional `rate_limit`.
//!
//! As in Prometheus, the file is validated at start-up and then re-read when it (or a
//! certificate, key or CA file it names) changes: new connections get the new TLS
//! settings and new requests the new users, without a restart. Whether the listener
//! speaks TLS at all is decided at start-up.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use serde::Deserialize;

/// Response headers the file may set, with the values allowed where the header is an
/// enumeration (Prometheus restricts the set to keep the ecosystem consistent).
const EXTRA_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// A bcrypt hash checked against when the user is unknown, so that a request for an
/// unknown user takes as long as one with a wrong password (its password is of no use).
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// How often the file's modification time is looked at.
const RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    tls_server_config: RawTls,
    http_server_config: RawHttp,
    rate_limit: RawRateLimit,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    cert: String,
    key: String,
    client_ca: String,
    cert_file: String,
    key_file: String,
    client_auth_type: String,
    client_ca_file: String,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

impl RawTls {
    fn enabled(&self) -> bool {
        [
            &self.cert_file,
            &self.cert,
            &self.key_file,
            &self.key,
            &self.client_ca_file,
            &self.client_ca,
            &self.client_auth_type,
        ]
        .iter()
        .any(|s| !s.is_empty())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRateLimit {
    burst: u32,
    interval: Option<String>,
}

/// A loaded, validated web configuration.
pub(crate) struct WebConfig {
    /// The TLS settings; `None` serves plain HTTP.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// Whether HTTP/2 is offered over TLS (ALPN `h2`).
    pub(crate) http2: bool,
    headers: Vec<(HeaderName, HeaderValue)>,
    users: HashMap<String, String>,
    rate_limit: Option<(u32, Duration)>,
    /// The files whose change means the configuration must be read again.
    watched: Vec<PathBuf>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("http2", &self.http2)
            .field("headers", &self.headers)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// Reads and validates a web configuration file; the error text says what is wrong, in
/// Prometheus's words where it has them.
pub(crate) fn load(path: &Path) -> Result<WebConfig, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    parse(&text, path.parent().unwrap_or(Path::new(".")), path)
}

fn parse(text: &str, dir: &Path, path: &Path) -> Result<WebConfig, String> {
    let raw: RawConfig = if text.trim().is_empty() {
        RawConfig::default()
    } else {
        serde_saphyr::from_str::<Option<RawConfig>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| e.without_snippet().to_string())?
    };
    let mut watched = vec![path.to_path_buf()];

    let mut headers = Vec::new();
    for (name, value) in raw.http_server_config.headers.iter().flatten() {
        let Some((_, allowed)) = EXTRA_HEADERS.iter().find(|(n, _)| n == name) else {
            return Err(format!("HTTP header {name:?} can not be configured"));
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            let list = allowed
                .iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(" ");
            return Err(format!(
                "invalid value for {name}. Expected one of: [{list}], but got: {value:?}"
            ));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("invalid value for {name}: {value:?}"))?;
        headers.push((
            HeaderName::from_bytes(name.as_bytes()).expect("known"),
            value,
        ));
    }

    let users: HashMap<String, String> = raw
        .basic_auth_users
        .unwrap_or_default()
        .into_iter()
        .collect();
    for (user, hash) in &users {
        check_bcrypt_hash(hash).map_err(|e| format!("basic_auth_users: {user:?}: {e}"))?;
    }

    let rate_limit = match raw.rate_limit.interval.as_deref() {
        None | Some("0" | "0s") => None,
        Some(iv) => {
            let ms = narthex_model::parse_duration(iv)
                .map_err(|e| format!("rate_limit: invalid interval {iv:?}: {e}"))?;
            (ms > 0).then(|| (raw.rate_limit.burst, Duration::from_millis(ms as u64)))
        }
    };

    let http2 = raw.http_server_config.http2.unwrap_or(true);
    let tls = if raw.tls_server_config.enabled() {
        Some(Arc::new(tls_config(
            &raw.tls_server_config,
            dir,
            http2,
            &mut watched,
        )?))
    } else {
        None
    };
    Ok(WebConfig {
        tls,
        http2,
        headers,
        users,
        rate_limit,
        watched,
    })
}

/// Checks that `hash` is a bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`, a two-digit
/// cost from 4 to 31, 53 characters of salt and digest).
fn check_bcrypt_hash(hash: &str) -> Result<(), String> {
    let b = hash.as_bytes();
    if b.len() < 59 {
        return Err("hashedSecret too short to be a bcrypted password".into());
    }
    if b[0] != b'$' {
        return Err(format!(
            "bcrypt hashes must start with '$', but hashedSecret started with '{}'",
            b[0] as char
        ));
    }
    if !matches!(&b[1..4], b"2a$" | b"2b$" | b"2x$" | b"2y$") {
        return Err("bcrypt algorithm version '2a', '2b', '2x' or '2y' expected".into());
    }
    let cost = std::str::from_utf8(&b[4..6])
        .ok()
        .and_then(|c| c.parse::<u32>().ok())
        .filter(|_| b[6] == b'$');
    match cost {
        Some(c) if (4..=31).contains(&c) => {}
        _ => return Err("invalid bcrypt cost".into()),
    }
    hash.parse::<bcrypt::HashParts>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Joins a relative path with the directory of the configuration file, as Prometheus
/// does for every file it names.
fn join(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn tls_version(v: Option<&str>, default: u8) -> Result<u8, String> {
    // Numbered as TLS 1.x's minor version, so TLS10 < TLS11 < TLS12 < TLS13.
    match v {
        None => Ok(default),
        Some("TLS10") => Ok(0),
        Some("TLS11") => Ok(1),
        Some("TLS12") => Ok(2),
        Some("TLS13") => Ok(3),
        Some(other) => Err(format!("unknown TLS version: {other}")),
    }
}

/// Go's names of the cipher suites it offers, in the order of its list. Only those that
/// rustls implements can be used; the rest are skipped with a warning (rustls has no
/// CBC or RSA key exchange suites).
const GO_CIPHERS: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

fn tls_config(
    t: &RawTls,
    dir: &Path,
    http2: bool,
    watched: &mut Vec<PathBuf>,
) -> Result<rustls::ServerConfig, String> {
    if t.cert_file.is_empty() && t.cert.is_empty() {
        return Err("missing cert_file".into());
    }
    if t.key_file.is_empty() && t.key.is_empty() {
        return Err("missing key_file".into());
    }
    let mut read = |field: &str, file: &str, inline: &str| -> Result<Vec<u8>, String> {
        if file.is_empty() {
            return Ok(inline.as_bytes().to_vec());
        }
        let p = join(dir, file);
        let bytes = std::fs::read(&p)
            .map_err(|e| format!("failed to read {field} ({}): {e}", p.display()))?;
        watched.push(p);
        Ok(bytes)
    };
    let cert_pem = read("cert_file", &t.cert_file, &t.cert)?;
    let key_pem = read("key_file", &t.key_file, &t.key)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("failed to load X509KeyPair: {e}"))?;
    if chain.is_empty() {
        return Err("failed to load X509KeyPair: no certificate found in the cert".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("failed to load X509KeyPair: {e}"))?;

    // The crypto provider, narrowed by cipher_suites (TLS 1.2 only, as in Go: TLS 1.3
    // suites are not configurable) and curve_preferences.
    // ring rather than aws-lc-rs: no C toolchain dance at build time. (rustls marks it
    // deprecated only for lacking post-quantum key exchange, which Go's TLS stack used by
    // Prometheus's clients does not require.)
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &t.cipher_suites {
        let mut wanted = Vec::new();
        for name in names {
            if !GO_CIPHERS.contains(&name.as_str()) {
                return Err(format!("unknown cipher: {name}"));
            }
            match provider
                .cipher_suites
                .iter()
                .find(|s| format!("{:?}", s.suite()) == *name)
            {
                Some(s) => wanted.push(*s),
                None => tracing::warn!(cipher = %name, "cipher suite not implemented; skipped"),
            }
        }
        if !names.is_empty() {
            let tls13: Vec<_> = provider
                .cipher_suites
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS13)
                .copied()
                .collect();
            wanted.retain(|s| s.version() != &rustls::version::TLS13);
            wanted.extend(tls13);
            provider.cipher_suites = wanted;
        }
    }
    if let Some(curves) = &t.curve_preferences {
        let mut groups = Vec::new();
        for c in curves {
            let name = match c.as_str() {
                "CurveP256" => rustls::NamedGroup::secp256r1,
                "CurveP384" => rustls::NamedGroup::secp384r1,
                "CurveP521" => rustls::NamedGroup::secp521r1,
                "X25519" => rustls::NamedGroup::X25519,
                other => return Err(format!("unknown curve: {other}")),
            };
            match provider.kx_groups.iter().find(|g| g.name() == name) {
                Some(g) => groups.push(*g),
                None => tracing::warn!(curve = %c, "curve not implemented; skipped"),
            }
        }
        if !curves.is_empty() {
            if groups.is_empty() {
                return Err("none of the curve_preferences is supported".into());
            }
            provider.kx_groups = groups;
        }
    }

    let min = tls_version(t.min_version.as_deref(), 2)?;
    let max = tls_version(t.max_version.as_deref(), 3)?;
    if min < 2 {
        tracing::warn!("TLS 1.0 and 1.1 are not offered; the minimum is TLS 1.2");
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect();
    if versions.is_empty() {
        return Err(
            "no TLS version between min_version and max_version is supported (TLS12 and TLS13 are)"
                .into(),
        );
    }
    let _ = t.prefer_server_cipher_suites; // rustls always prefers the server's order.

    // Client certificates.
    let ca_pem = if !t.client_ca_file.is_empty() {
        Some(read("client_ca_file", &t.client_ca_file, "")?)
    } else if !t.client_ca.is_empty() {
        Some(t.client_ca.as_bytes().to_vec())
    } else {
        None
    };
    let auth = match t.client_auth_type.as_str() {
        "" | "NoClientCert" => ClientAuth::None,
        "RequestClientCert" => ClientAuth::Request,
        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAny,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
        other => return Err(format!("Invalid ClientAuth: {other}")),
    };
    if ca_pem.is_some() && auth == ClientAuth::None {
        return Err("Client CA's have been configured without a Client Auth Policy".into());
    }
    if t.client_allowed_sans.is_some()
        && !matches!(auth, ClientAuth::RequireAny | ClientAuth::RequireAndVerify)
    {
        return Err("client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert".into());
    }
    let provider = Arc::new(provider);
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match auth {
        ClientAuth::None => None,
        ClientAuth::Request | ClientAuth::RequireAny => Some(Arc::new(AnyClientCert {
            mandatory: auth == ClientAuth::RequireAny,
            provider: Arc::clone(&provider),
        })),
        ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify => {
            let Some(pem) = &ca_pem else {
                return Err(format!(
                    "client_auth_type {} needs client_ca_file or client_ca",
                    t.client_auth_type
                ));
            };
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(pem) {
                let c = c.map_err(|e| format!("client CA: {e}"))?;
                roots.add(c).map_err(|e| format!("client CA: {e}"))?;
            }
            let b =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let b = if auth == ClientAuth::VerifyIfGiven {
                b.allow_unauthenticated()
            } else {
                b
            };
            Some(b.build().map_err(|e| format!("client CA: {e}"))?)
        }
    };
    let verifier = match (&t.client_allowed_sans, verifier) {
        (Some(sans), Some(inner)) => {
            Some(Arc::new(AllowedSans::new(sans, inner)?) as Arc<dyn ClientCertVerifier>)
        }
        (_, v) => v,
    };

    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("failed to load X509KeyPair: {e}"))?;
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(cfg)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientAuth {
    None,
    Request,
    RequireAny,
    VerifyIfGiven,
    RequireAndVerify,
}

/// Asks for a client certificate and takes any (Go's `RequestClientCert` and
/// `RequireAnyClientCert`): the handshake signature is still checked, the chain is not.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `client_allowed_sans`: the client certificate must name one of the listed DNS names
/// or IP addresses among its subject alternative names.
#[derive(Debug)]
struct AllowedSans {
    names: Vec<ServerName<'static>>,
    inner: Arc<dyn ClientCertVerifier>,
}

impl AllowedSans {
    fn new(sans: &[String], inner: Arc<dyn ClientCertVerifier>) -> Result<Self, String> {
        let names = sans
            .iter()
            .map(|s| {
                ServerName::try_from(s.clone()).map_err(|_| {
                    format!(
                        "client_allowed_sans: {s:?}: only DNS names and IP addresses are supported"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowedSans { names, inner })
    }
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        if self
            .names
            .iter()
            .any(|n| rustls::client::verify_server_name(&cert, n).is_ok())
        {
            Ok(ok)
        } else {
            Err(rustls::Error::General(
                "could not find allowed SANs in client cert".into(),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Modification times and sizes of the watched files.
type Fingerprint = Vec<Option<(SystemTime, u64)>>;

fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

struct Loaded {
    config: Result<Arc<WebConfig>, String>,
    fingerprint: Fingerprint,
    watched: Vec<PathBuf>,
    checked: Instant,
}

/// The web configuration file as the listener sees it: loaded at start-up, read again
/// when a file it depends on changes.
pub(crate) struct WebConfigSource {
    path: PathBuf,
    state: Mutex<Loaded>,
    limiter: Option<Mutex<TokenBucket>>,
    /// Verdicts of recent password checks (keyed by a hash of user, stored hash and
    /// password; never the password itself), so that bcrypt runs once per credential.
    auth_cache: Mutex<HashMap<u128, bool>>,
    /// bcrypt is slow on purpose: run one comparison at a time.
    bcrypt_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for WebConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfigSource")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WebConfigSource {
    /// Loads the file; an invalid file is an error here (the server does not start).
    pub(crate) fn open(path: &Path) -> Result<Arc<Self>, String> {
        let cfg = load(path)?;
        let watched = cfg.watched.clone();
        let limiter = cfg.rate_limit.map(|(burst, every)| {
            Mutex::new(TokenBucket {
                tokens: burst as f64,
                burst: burst as f64,
                every,
                last: Instant::now(),
            })
        });
        Ok(Arc::new(WebConfigSource {
            path: path.to_path_buf(),
            state: Mutex::new(Loaded {
                config: Ok(Arc::new(cfg)),
                fingerprint: fingerprint(&watched),
                watched,
                checked: Instant::now(),
            }),
            limiter,
            auth_cache: Mutex::new(HashMap::new()),
            bcrypt_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// The configuration in force now (re-read if a watched file changed), or why the
    /// file cannot be used.
    pub(crate) fn current(&self) -> Result<Arc<WebConfig>, String> {
        let mut st = self.state.lock();
        if st.checked.elapsed() >= RECHECK {
            st.checked = Instant::now();
            let fp = fingerprint(&st.watched);
            if fp != st.fingerprint {
                let cfg = load(&self.path);
                match &cfg {
                    Ok(c) => {
                        tracing::info!(file = %self.path.display(), "web config file reloaded");
                        st.watched = c.watched.clone();
                    }
                    Err(e) => {
                        tracing::error!(file = %self.path.display(), error = %e, "unable to parse the web config file")
                    }
                }
                st.fingerprint = fingerprint(&st.watched);
                st.config = cfg.map(Arc::new);
                self.auth_cache.lock().clear();
            }
        }
        st.config.clone()
    }

    fn allow(&self) -> bool {
        self.limiter.as_ref().is_none_or(|l| l.lock().take())
    }

    async fn authorised(&self, cfg: &WebConfig, user: &str, pass: &str) -> bool {
        let known = cfg.users.get(user);
        let hash = known.map_or(DUMMY_HASH, String::as_str);
        let key = {
            let mut buf = Vec::with_capacity(user.len() + hash.len() + pass.len() + 2);
            for part in [user, hash, pass] {
                buf.extend_from_slice(part.as_bytes());
                buf.push(0);
            }
            xxhash_rust::xxh3::xxh3_128(&buf)
        };
        if let Some(ok) = self.auth_cache.lock().get(&key) {
            return *ok && known.is_some();
        }
        let ok = {
            let _one_at_a_time = self.bcrypt_lock.lock().await;
            let (pass, hash) = (pass.to_string(), hash.to_string());
            tokio::task::spawn_blocking(move || bcrypt::verify(pass, &hash).unwrap_or(false))
                .await
                .unwrap_or(false)
        };
        let mut cache = self.auth_cache.lock();
        if cache.len() >= 100 {
            cache.clear();
        }
        cache.insert(key, ok);
        ok && known.is_some()
    }
}

/// Go's `rate.Limiter`: `burst` tokens at most, one more every `every`.
struct TokenBucket {
    tokens: f64,
    burst: f64,
    every: Duration,
    last: Instant,
}

impl TokenBucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let gained = now.duration_since(self.last).as_secs_f64() / self.every.as_secs_f64();
        self.tokens = (self.tokens + gained).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Middleware: the configured headers on every response, the rate limit, and basic
/// authentication when users are configured.
pub(crate) async fn guard(
    State(src): State<Arc<WebConfigSource>>,
    req: Request,
    next: Next,
) -> Response {
    let cfg = match src.current() {
        Ok(c) => c,
        Err(_) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n").into_response();
        }
    };
    let mut resp = if !src.allow() {
        (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response()
    } else if cfg.users.is_empty() {
        next.run(req).await
    } else {
        let creds = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(basic_credentials);
        let ok = match &creds {
            Some((user, pass)) => src.authorised(&cfg, user, pass).await,
            None => false,
        };
        if ok {
            next.run(req).await
        } else {
            let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            r
        }
    };
    for (name, value) in &cfg.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

/// The user and password of an `Authorization: Basic ...` header value.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(rest.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Standard base64 with padding, as HTTP basic authentication uses.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (i, chunk) in b.chunks(4).enumerate() {
        let last = i == b.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = n << 6 | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

/// `check web-config`: promtool's report on stderr, `FILE SUCCESS` or `FILE FAILED: why`.
pub(crate) fn check(file: &Path) -> Result<(), String> {
    load(file).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<WebConfig, String> {
        parse(
            text,
            Path::new("/nonexistent"),
            Path::new("/nonexistent/web.yml"),
        )
    }

    #[test]
    fn empty_file_means_plain_http_without_auth() {
        let c = parse_str("").unwrap();
        assert!(c.tls.is_none());
        assert!(c.http2);
        assert!(c.users.is_empty());
        let c = parse_str("basic_auth_users:\n").unwrap();
        assert!(c.users.is_empty());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = parse_str("tls_server_config:\n  certfile: x\n").unwrap_err();
        assert!(e.contains("certfile"), "{e}");
        let e = parse_str("nonsense: 1\n").unwrap_err();
        assert!(e.contains("nonsense"), "{e}");
    }

    #[test]
    fn headers_are_checked_like_prometheus() {
        let e = parse_str("http_server_config:\n  headers:\n    X-Foo: bar\n").unwrap_err();
        assert_eq!(e, r#"HTTP header "X-Foo" can not be configured"#);
        let e =
            parse_str("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").unwrap_err();
        assert_eq!(
            e,
            r#"invalid value for X-Frame-Options. Expected one of: ["deny" "sameorigin"], but got: "allow""#
        );
        let c = parse_str(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: default-src 'self'\n",
        )
        .unwrap();
        assert_eq!(c.headers.len(), 2);
    }

    #[test]
    fn tls_needs_both_cert_and_key() {
        let e = parse_str("tls_server_config:\n  key_file: k.pem\n").unwrap_err();
        assert_eq!(e, "missing cert_file");
        let e = parse_str("tls_server_config:\n  cert_file: c.pem\n").unwrap_err();
        assert_eq!(e, "missing key_file");
        let e = parse_str("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n")
            .unwrap_err();
        assert_eq!(e, "missing cert_file");
        let e =
            parse_str("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n").unwrap_err();
        assert!(
            e.starts_with("failed to read cert_file (/nonexistent/c.pem)"),
            "{e}"
        );
    }

    #[test]
    fn bad_password_hashes_are_refused() {
        let e = parse_str("basic_auth_users:\n  alice: secret\n").unwrap_err();
        assert!(e.contains("alice") && e.contains("too short"), "{e}");
        let hash = bcrypt::hash("pw", 4).unwrap();
        let c = parse_str(&format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap();
        assert_eq!(c.users.len(), 1);
        let bad = format!("x{}", &hash[1..]);
        let e = parse_str(&format!("basic_auth_users:\n  alice: '{bad}'\n")).unwrap_err();
        assert!(e.contains("must start with '$'"), "{e}");
    }

    #[test]
    fn rate_limit_interval_is_a_duration() {
        let c = parse_str("rate_limit:\n  burst: 5\n  interval: 1s\n").unwrap();
        assert_eq!(c.rate_limit, Some((5, Duration::from_secs(1))));
        assert!(parse_str("rate_limit:\n  interval: soon\n").is_err());
        let mut b = TokenBucket {
            tokens: 2.0,
            burst: 2.0,
            every: Duration::from_secs(3600),
            last: Instant::now(),
        };
        assert!(b.take() && b.take());
        assert!(!b.take());
    }

    #[test]
    fn basic_credentials_decode() {
        // "alice:open sesame"
        assert_eq!(
            basic_credentials("Basic YWxpY2U6b3BlbiBzZXNhbWU="),
            Some(("alice".into(), "open sesame".into()))
        );
        assert_eq!(
            basic_credentials("basic YTpiOmM="),
            Some(("a".into(), "b:c".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!!"), None);
        assert_eq!(basic_credentials("Basic YQ=a"), None);
        assert_eq!(base64_decode("YQ=="), Some(b"a".to_vec()));
        assert_eq!(base64_decode("YWI="), Some(b"ab".to_vec()));
        assert_eq!(base64_decode(""), Some(vec![]));
    }
}
