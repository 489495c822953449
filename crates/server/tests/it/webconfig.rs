//! `--web.config.file`: TLS, client certificates and basic authentication on the web
//! listener, checked with real clients (Debian's `promtool query` and a `prometheus`
//! scraping over HTTPS), and `narthex check web-config` beside `promtool check web-config`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Running, free_port, wait_for};
use crate::common::{binary, narthex};

/// A test CA, a server certificate for 127.0.0.1 (`server.pem`, `server-key.pem`) and a
/// client certificate for `client.example`, as PEM files in `dir`.
pub(crate) struct Pki {
    pub(crate) ca: PathBuf,
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
    pub(crate) ca_der: Vec<u8>,
}

pub(crate) fn pki(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "narthex test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: &[&str]| {
        let key = KeyPair::generate().expect("key");
        let params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.signed_by(&key, &issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let (server_pem, server_key_pem) = leaf(&["127.0.0.1", "localhost"]);
    let (client_pem, client_key_pem) = leaf(&["client.example"]);
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write pem");
        p
    };
    w("server.pem", &server_pem);
    w("server-key.pem", &server_key_pem);
    Pki {
        ca: w("ca.pem", &ca_cert.pem()),
        client_cert: w("client.pem", &client_pem),
        client_key: w("client-key.pem", &client_key_pem),
        ca_der: ca_cert.der().to_vec(),
    }
}

/// Starts `narthex` with the given web config file; waits until its port accepts TCP.
fn start(dir: &Path, port: u16, web_config: &Path) -> Running {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1s\n").expect("config");
    let mut cmd = narthex();
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.config.file={}", web_config.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Running(cmd.spawn().expect("start narthex"));
    wait_for("the listener", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    server
}

/// How a test client connects: the CA it trusts, basic auth, a client certificate.
#[derive(Clone, Default)]
struct Client {
    ca: Option<PathBuf>,
    user: Option<(&'static str, &'static str)>,
    cert: Option<(PathBuf, PathBuf)>,
}

/// What a client got: the status (or `None` when the connection or handshake failed),
/// the `X-Frame-Options` header, and the body (or the client's error).
struct Got {
    status: Option<u16>,
    frame_options: String,
    body: String,
}

/// GET `https://127.0.0.1:PORT{path}` with Python's `urllib` and `ssl`: a client built
/// on OpenSSL, independent of our TLS stack.
fn https(port: u16, path: &str, c: &Client) -> Got {
    const SCRIPT: &str = r#"
import base64, json, ssl, sys, urllib.error, urllib.request
a = json.loads(sys.argv[1])
ctx = ssl.create_default_context(cafile=a["ca"]) if a["ca"] else ssl.create_default_context()
if a["cert"]:
    ctx.load_cert_chain(a["cert"], a["key"])
req = urllib.request.Request(a["url"])
if a["user"]:
    tok = base64.b64encode((a["user"] + ":" + a["password"]).encode()).decode()
    req.add_header("Authorization", "Basic " + tok)
try:
    r = urllib.request.urlopen(req, context=ctx, timeout=10)
    code, headers, body = r.status, r.headers, r.read().decode()
except urllib.error.HTTPError as e:
    code, headers, body = e.code, e.headers, e.read().decode()
except Exception as e:
    code, headers, body = "ERR", {}, repr(e)
print(code)
print(headers.get("X-Frame-Options", ""))
sys.stdout.write(body)
"#;
    let s = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let args = format!(
        r#"{{"url": "https://127.0.0.1:{port}{path}", "ca": {}, "user": {}, "password": {}, "cert": {}, "key": {}}}"#,
        json_str(s(&c.ca)),
        json_str(c.user.map(|u| u.0.to_string())),
        json_str(c.user.map(|u| u.1.to_string())),
        json_str(c.cert.as_ref().map(|x| x.0.display().to_string())),
        json_str(c.cert.as_ref().map(|x| x.1.display().to_string())),
    );
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &args])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.splitn(3, '\n');
    let status = lines.next().and_then(|l| l.trim().parse().ok());
    let frame_options = lines.next().unwrap_or("").trim().to_string();
    let body = lines.next().unwrap_or("").to_string();
    Got {
        status,
        frame_options,
        body: body + &String::from_utf8_lossy(&out.stderr),
    }
}

fn json_str(v: Option<String>) -> String {
    match v {
        None => "null".into(),
        Some(s) => format!("{s:?}"),
    }
}

/// Whether `vector(7)` evaluates through the API with this client.
fn query_ok(port: u16, c: &Client) -> bool {
    let g = https(port, "/api/v1/query?query=vector(7)", c);
    g.status == Some(200) && g.body.contains(r#""7""#)
}

/// The ALPN protocol the server picks when a client offers `h2` and `http/1.1`.
fn negotiated_alpn(ca_der: &[u8], port: u16) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca_der.to_vec()))
        .expect("root");
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).expect("client");
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.flush().expect("handshake");
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(tls.sock).expect("handshake");
    }
    tls.conn.alpn_protocol().map(<[u8]>::to_vec)
}

#[test]
fn tls_and_basic_auth_with_real_clients() {
    let Some(promtool) = binary("promtool") else {
        return;
    };
    let Some(prometheus) = binary("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let pki = pki(d);
    let hash = |pw: &str| bcrypt::hash(pw, 4).expect("bcrypt");
    let web = d.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  alice: '{}'\n",
            hash("wonderland")
        ),
    )
    .expect("web config");
    let port = free_port();
    let _server = start(d, port, &web);
    let ca = Some(pki.ca.clone());
    let alice = Client {
        ca: ca.clone(),
        user: Some(("alice", "wonderland")),
        ..Client::default()
    };

    // The right credentials over TLS: the query runs, with the configured header.
    wait_for("a query over TLS with basic auth", 20, || {
        query_ok(port, &alice)
    });
    let got = https(port, "/api/v1/query?query=vector(7)", &alice);
    assert_eq!(got.frame_options, "deny");

    // No credentials, a wrong password, an unknown user: 401, with the header too.
    for user in [
        None,
        Some(("alice", "rabbit")),
        Some(("mallory", "wonderland")),
    ] {
        let got = https(
            port,
            "/api/v1/query?query=vector(7)",
            &Client {
                ca: ca.clone(),
                user,
                ..Client::default()
            },
        );
        assert_eq!(got.status, Some(401), "{user:?}: {}", got.body);
        assert_eq!(got.frame_options, "deny");
    }
    // A client that does not trust our CA refuses the server.
    let got = https(
        port,
        "/-/healthy",
        &Client {
            user: Some(("alice", "wonderland")),
            ..Client::default()
        },
    );
    assert_eq!(got.status, None);
    assert!(
        got.body.contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        got.body
    );

    // HTTP/2 is offered by default.
    assert_eq!(
        negotiated_alpn(&pki.ca_der, port).as_deref(),
        Some(&b"h2"[..])
    );

    // Debian's Prometheus scrapes our /metrics over HTTPS with basic auth; a job with a
    // wrong password is refused.
    let ca_path = pki.ca.display().to_string();
    let prom_port = free_port();
    let prom_cfg = d.join("prom.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             - job_name: good\n  scheme: https\n  tls_config:\n    ca_file: {ca_path}\n  basic_auth:\n    username: alice\n    password: wonderland\n  static_configs:\n  - targets: ['127.0.0.1:{port}']\n\
             - job_name: bad\n  scheme: https\n  tls_config:\n    ca_file: {ca_path}\n  basic_auth:\n    username: alice\n    password: queen\n  static_configs:\n  - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .expect("prometheus config");
    let _prom = Running(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                d.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let up = |job: &str| -> Option<String> {
        let out = Command::new(&promtool)
            .args(["query", "instant"])
            .arg(format!("http://127.0.0.1:{prom_port}"))
            .arg(format!("up{{job=\"{job}\"}}"))
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let v = text
            .split("=> ")
            .nth(1)?
            .split_whitespace()
            .next()?
            .to_string();
        Some(v)
    };
    wait_for("Prometheus to scrape narthex over TLS", 40, || {
        up("good").as_deref() == Some("1") && up("bad").is_some()
    });
    assert_eq!(up("bad").as_deref(), Some("0"));

    // The file is read again when it changes: alice goes, bob comes, HTTP/2 is off.
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n\
             http_server_config:\n  http2: false\n\
             basic_auth_users:\n  bob: '{}'\n",
            hash("builder")
        ),
    )
    .expect("web config");
    let bob = Client {
        ca: ca.clone(),
        user: Some(("bob", "builder")),
        ..Client::default()
    };
    wait_for("the new users", 10, || query_ok(port, &bob));
    assert_eq!(
        https(port, "/api/v1/query?query=vector(7)", &alice).status,
        Some(401)
    );
    assert_eq!(
        negotiated_alpn(&pki.ca_der, port).as_deref(),
        Some(&b"http/1.1"[..])
    );
}

#[test]
fn client_certificates_are_required_and_checked() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let keys = pki(d);
    let web = d.join("web.yml");
    let write = |extra: &str| {
        std::fs::write(
            &web,
            format!(
                "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n{extra}"
            ),
        )
        .expect("web config")
    };
    write("");
    let port = free_port();
    let _server = start(d, port, &web);
    let with_cert = Client {
        ca: Some(keys.ca.clone()),
        cert: Some((keys.client_cert.clone(), keys.client_key.clone())),
        ..Client::default()
    };
    wait_for("a query with a client certificate", 20, || {
        query_ok(port, &with_cert)
    });
    let without = Client {
        ca: Some(keys.ca.clone()),
        ..Client::default()
    };
    assert!(
        !query_ok(port, &without),
        "no client certificate, yet served"
    );
    // A certificate signed by someone else is refused too.
    let other = tempfile::tempdir().expect("tmp");
    let stranger = pki(other.path());
    let strangers = Client {
        ca: Some(keys.ca.clone()),
        cert: Some((stranger.client_cert.clone(), stranger.client_key.clone())),
        ..Client::default()
    };
    assert!(
        !query_ok(port, &strangers),
        "a stranger's certificate was accepted"
    );

    // client_allowed_sans: our client is client.example.
    write("  client_allowed_sans: ['someone.else']\n");
    wait_for("the SAN check", 10, || !query_ok(port, &with_cert));
    write("  client_allowed_sans: ['someone.else', 'client.example']\n");
    wait_for("the SAN list with our client", 10, || {
        query_ok(port, &with_cert)
    });
}

#[test]
fn check_web_config_agrees_with_promtool() {
    let Some(promtool) = binary("promtool") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    pki(d);
    let hash = bcrypt::hash("pw", 4).expect("bcrypt");
    let cases: &[(&str, String)] = &[
        ("empty", String::new()),
        (
            "tls",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n".into(),
        ),
        (
            "tls-mtls",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS13\n".into(),
        ),
        ("users", format!("basic_auth_users:\n  alice: '{hash}'\n")),
        ("missing-cert", "tls_server_config:\n  key_file: server-key.pem\n".into()),
        ("missing-key", "tls_server_config:\n  cert_file: server.pem\n".into()),
        (
            "no-such-cert",
            "tls_server_config:\n  cert_file: nope.pem\n  key_file: server-key.pem\n".into(),
        ),
        (
            "bad-header",
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n".into(),
        ),
        (
            "forbidden-header",
            "http_server_config:\n  headers:\n    Server: narthex\n".into(),
        ),
        ("bad-hash", "basic_auth_users:\n  alice: secret\n".into()),
        ("unknown-field", "tls_server_config:\n  certfile: x\n".into()),
        (
            "ca-without-policy",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_ca_file: ca.pem\n".into(),
        ),
        (
            "bad-client-auth",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: Sometimes\n".into(),
        ),
        (
            "bad-version",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  min_version: SSL3\n".into(),
        ),
        (
            "bad-cipher",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  cipher_suites: [TLS_FAST_AND_LOOSE]\n".into(),
        ),
    ];
    // Messages both print word for word (the rest differ in how file and YAML errors
    // are phrased, which Go and Rust libraries word differently).
    let same_text = [
        "missing-cert",
        "missing-key",
        "bad-header",
        "forbidden-header",
        "ca-without-policy",
        "bad-client-auth",
        "bad-cipher",
        "bad-version",
    ];
    let mut agreed = 0;
    for (name, text) in cases {
        let file = d.join(format!("{name}.yml"));
        std::fs::write(&file, text).expect("write");
        let ours = narthex()
            .args(["check", "web-config"])
            .arg(&file)
            .output()
            .expect("narthex");
        let theirs = Command::new(&promtool)
            .args(["check", "web-config"])
            .arg(&file)
            .output()
            .expect("promtool");
        let (o, t) = (
            String::from_utf8_lossy(&ours.stderr).to_string(),
            String::from_utf8_lossy(&theirs.stderr).to_string(),
        );
        assert_eq!(
            ours.status.success(),
            theirs.status.success(),
            "{name}: narthex said {o:?}, promtool said {t:?}"
        );
        let status = |s: &str| s.split(':').next().unwrap_or("").trim().to_string();
        assert_eq!(status(&o), status(&t), "{name}");
        if same_text.contains(name) {
            assert_eq!(o, t, "{name}");
        }
        agreed += 1;
    }
    println!(
        "web-config check vs promtool: {agreed}/{} agreed",
        cases.len()
    );
}
