use std::path::{Path, PathBuf};
use std::sync::Arc;

use narthex_http::{
    Authorization, HttpError, HttpSettings, Secret, TlsSettings, TlsVersion, client_builder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA, a server certificate for `localhost` only (not 127.0.0.1), and a client
/// certificate, as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    server: (String, String),
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |name: &str| {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(vec![name.to_string()]).expect("params");
        let cert = params.signed_by(&key, &issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write pem");
        p
    };
    let (client_pem, client_key_pem) = leaf("client.example");
    Pki {
        ca: w("ca.pem", &ca_cert.pem()),
        server: leaf("localhost"),
        client_cert: w("client.pem", &client_pem),
        client_key: w("client-key.pem", &client_key_pem),
    }
}

/// Serves HTTPS on 127.0.0.1, requiring a client certificate signed by the CA; every
/// answer's body is the request's head. Returns the port.
async fn serve(pki: &Pki) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&pki.ca).expect("ca") {
        roots.add(c.expect("ca pem")).expect("root");
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .expect("client verifier");
    let chain = CertificateDer::pem_slice_iter(pki.server.0.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain");
    let key = PrivateKeyDer::from_pem_slice(pki.server.1.as_bytes()).expect("key");
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    head.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.write_all(&head).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

/// GETs `/` on `host:port` with the settings: the echoed request head, or the error chain.
async fn get(s: &HttpSettings, host: &str, port: u16) -> Result<String, String> {
    let client = client_builder(s)
        .map_err(|e| e.to_string())?
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let req = s
        .authorize(client.get(format!("https://{host}:{port}/")))
        .map_err(|e| e.to_string())?;
    let chain = |e: reqwest::Error| {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(inner) = src {
            s = format!("{s}: {inner}");
            src = inner.source();
        }
        s
    };
    let resp = req.send().await.map_err(chain)?;
    resp.text().await.map_err(chain)
}

fn with_client_cert(pki: &Pki) -> TlsSettings {
    TlsSettings {
        ca: Some(Secret::File(pki.ca.clone())),
        cert: Some(Secret::File(pki.client_cert.clone())),
        key: Some(Secret::File(pki.client_key.clone())),
        ..TlsSettings::default()
    }
}

#[tokio::test]
async fn tls_settings_against_a_server_requiring_client_certificates() {
    let dir = tempfile::tempdir().expect("tmp");
    let pki = pki(dir.path());
    let port = serve(&pki).await;
    let token = dir.path().join("token");
    std::fs::write(&token, "t0k3n\n").expect("token");

    // The CA, a client certificate and a bearer token read from a file.
    let ok = HttpSettings {
        tls: with_client_cert(&pki),
        authorization: Some(Authorization {
            kind: "Bearer".into(),
            credentials: Some(Secret::File(token.clone())),
        }),
        headers: vec![("X-Scope-OrgID".into(), Secret::Inline("tenant-1".into()))],
        ..HttpSettings::default()
    };
    let head = get(&ok, "localhost", port).await.expect("request");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("authorization: bearer t0k3n\r\n"), "{head}");
    assert!(head.contains("x-scope-orgid: tenant-1\r\n"), "{head}");

    // Without a client certificate the server ends the handshake.
    let no_cert = HttpSettings {
        tls: TlsSettings {
            ca: Some(Secret::File(pki.ca.clone())),
            ..TlsSettings::default()
        },
        ..HttpSettings::default()
    };
    assert!(get(&no_cert, "localhost", port).await.is_err());

    // The certificate is for localhost: 127.0.0.1 fails, unless server_name says localhost.
    let err = get(&ok, "127.0.0.1", port).await.expect_err("wrong name");
    assert!(err.contains("certificate"), "{err}");
    let mut renamed = ok.clone();
    renamed.tls.server_name = Some("localhost".into());
    get(&renamed, "127.0.0.1", port).await.expect("server_name");

    // The system store does not know our CA; insecure_skip_verify accepts anything.
    let mut system = ok.clone();
    system.tls.ca = None;
    let err = get(&system, "localhost", port)
        .await
        .expect_err("unknown CA");
    assert!(err.to_lowercase().contains("unknown"), "{err}");
    system.tls.insecure_skip_verify = true;
    get(&system, "127.0.0.1", port).await.expect("insecure");

    // Versions: 1.3 only and 1.2 only both reach a server speaking both.
    for (min, max) in [
        (Some(TlsVersion::Tls13), None),
        (None, Some(TlsVersion::Tls12)),
    ] {
        let mut v = ok.clone();
        v.tls.min_version = min;
        v.tls.max_version = max;
        get(&v, "localhost", port).await.expect("version");
    }
}

#[test]
fn unusable_tls_files_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let pki = pki(dir.path());
    let missing = dir.path().join("missing.pem");
    let build = |tls: TlsSettings| {
        client_builder(&HttpSettings {
            tls,
            ..HttpSettings::default()
        })
        .map(|_| ())
    };
    let e = build(TlsSettings {
        ca: Some(Secret::File(missing.clone())),
        ..TlsSettings::default()
    })
    .expect_err("missing CA");
    assert!(matches!(e, HttpError::Read { .. }), "{e:?}");
    assert!(e.to_string().starts_with("unable to read CA cert "), "{e}");

    let e = build(TlsSettings {
        ca: Some(Secret::Inline("not PEM".into())),
        ..TlsSettings::default()
    })
    .expect_err("bad CA");
    assert!(matches!(e, HttpError::Pem { .. }), "{e:?}");

    let e = build(TlsSettings {
        key: Some(Secret::File(pki.ca.clone())),
        ..with_client_cert(&pki)
    })
    .expect_err("a certificate as the key");
    assert!(matches!(e, HttpError::Pem { .. }), "{e:?}");

    let e = build(TlsSettings {
        key: None,
        ..with_client_cert(&pki)
    })
    .expect_err("no key");
    assert!(matches!(e, HttpError::Tls(_)), "{e:?}");

    let e = build(TlsSettings {
        min_version: Some(TlsVersion::Tls13),
        max_version: Some(TlsVersion::Tls12),
        ..TlsSettings::default()
    })
    .expect_err("versions");
    assert!(matches!(e, HttpError::Tls(_)), "{e:?}");

    // A password file that cannot be read fails the request, not the client.
    let s = HttpSettings {
        basic_auth: Some(narthex_http::BasicAuth {
            username: Secret::Inline("u".into()),
            password: Some(Secret::File(missing)),
        }),
        ..HttpSettings::default()
    };
    let client = client_builder(&s)
        .expect("builder")
        .build()
        .expect("client");
    let e = s
        .authorize(client.get("http://127.0.0.1:1/"))
        .expect_err("password file");
    assert!(
        e.to_string().starts_with("unable to read password file "),
        "{e}"
    );
}
