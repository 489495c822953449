//! `tls_config` as a rustls client configuration (ring provider).

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{HttpError, TlsSettings, TlsVersion};

/// The system's trusted certificates, loaded once per process (unreadable entries are
/// skipped, as Go's `x509.SystemCertPool` does).
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    Arc::clone(ROOTS.get_or_init(|| {
        let mut store = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(found.certs);
        Arc::new(store)
    }))
}

fn pem_certs(
    what: &'static str,
    src: &crate::Secret,
) -> Result<Vec<CertificateDer<'static>>, HttpError> {
    let bytes = src.bytes(what)?;
    let bad = |reason: String| HttpError::Pem {
        what,
        origin: src.origin(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate found".into()));
    }
    Ok(certs)
}

fn versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, HttpError> {
    let min = min.unwrap_or(TlsVersion::Tls12);
    let max = max.unwrap_or(TlsVersion::Tls13);
    if min > max {
        return Err(HttpError::Tls(format!(
            "max_version {max:?} must be greater than or equal to min_version {min:?}"
        )));
    }
    let mut v = Vec::new();
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        v.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 {
        v.push(&rustls::version::TLS13);
    }
    if v.is_empty() {
        return Err(HttpError::Tls(format!(
            "max_version {max:?} is older than TLS 1.2, the oldest version supported"
        )));
    }
    Ok(v)
}

/// The rustls client configuration of a `tls_config`: trust anchors, client certificate,
/// verification switches, versions, and ALPN (`h2` offered when `http2`).
pub fn client_config(t: &TlsSettings, http2: bool) -> Result<ClientConfig, HttpError> {
    // ring, not aws-lc-rs (no C toolchain at build time); rustls deprecates it only for
    // its lack of post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algs = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(t.min_version, t.max_version)?)
        .map_err(|e| HttpError::Tls(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if t.insecure_skip_verify {
        Arc::new(Verifier {
            algs,
            mode: Mode::Any,
        })
    } else {
        let roots = match &t.ca {
            Some(ca) => {
                let mut store = RootCertStore::empty();
                for c in pem_certs("CA cert", ca)? {
                    store.add(c).map_err(|e| HttpError::Pem {
                        what: "CA cert",
                        origin: ca.origin(),
                        reason: e.to_string(),
                    })?;
                }
                Arc::new(store)
            }
            None => system_roots(),
        };
        if roots.is_empty() {
            Arc::new(Verifier {
                algs,
                mode: Mode::NoRoots,
            })
        } else {
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                .build()
                .map_err(|e| HttpError::Tls(e.to_string()))?;
            match t.server_name.as_deref().filter(|n| !n.is_empty()) {
                Some(name) => {
                    let name = ServerName::try_from(name.to_string()).map_err(|e| {
                        HttpError::Tls(format!("invalid server_name {name:?}: {e}"))
                    })?;
                    Arc::new(Verifier {
                        algs,
                        mode: Mode::Renamed(webpki, name),
                    })
                }
                None => webpki,
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut cfg = match (&t.cert, &t.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = pem_certs("client cert", cert)?;
            let bytes = key.bytes("client key")?;
            let key_der = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| HttpError::Pem {
                what: "client key",
                origin: key.origin(),
                reason: e.to_string(),
            })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                HttpError::Tls(format!(
                    "unable to use specified client cert ({}) & key ({}): {e}",
                    cert.origin(),
                    key.origin()
                ))
            })?
        }
        (Some(_), None) => {
            return Err(HttpError::Tls(
                "client cert specified without client key".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(HttpError::Tls(
                "client key specified without client cert".into(),
            ));
        }
    };
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(cfg)
}

/// The verifiers that [`WebPkiServerVerifier`] alone does not cover. The handshake
/// signatures are checked by every mode, so the peer holds its certificate's key.
#[derive(Debug)]
struct Verifier {
    algs: WebPkiSupportedAlgorithms,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// `insecure_skip_verify`: any certificate chain, for any name, passes.
    Any,
    /// No trust anchors at all (an empty system store): every certificate is refused
    /// with a message that says so, instead of failing to build a client that
    /// plain-HTTP targets need.
    NoRoots,
    /// `server_name`: the chain is checked against this name instead of the URL's host.
    Renamed(Arc<WebPkiServerVerifier>, ServerName<'static>),
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.mode {
            Mode::Any => Ok(ServerCertVerified::assertion()),
            Mode::NoRoots => Err(rustls::Error::General(
                "certificate signed by unknown authority: the system has no trusted CA certificates (set tls_config.ca_file)".into(),
            )),
            Mode::Renamed(inner, name) => {
                inner.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
