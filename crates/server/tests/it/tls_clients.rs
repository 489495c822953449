//! `http_client` settings in `prometheus.yml` against Debian's programs behind TLS and
//! basic auth (`--web.config.file`): narthex scraping `prometheus-node-exporter` over
//! HTTPS, and remote writing to `prometheus --web.enable-remote-write-receiver`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::alerting::start;
use crate::common::{Running, binary, free_port, http, narthex, wait_for};
use crate::webconfig::pki;

/// A web config serving TLS with `server.pem` in `dir` and basic auth for alice.
fn web_config(dir: &Path) -> std::path::PathBuf {
    let hash = bcrypt::hash("wonderland", 4).expect("bcrypt");
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  alice: '{hash}'\n",
            dir.join("server.pem").display(),
            dir.join("server-key.pem").display()
        ),
    )
    .expect("web config");
    path
}

/// Each job's target health and last error, once every job has been scraped.
fn targets(port: u16) -> Option<Vec<(String, String, String)>> {
    let (_, body) = http(port, "GET", "/api/v1/targets")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let out: Vec<_> = v["data"]["activeTargets"]
        .as_array()?
        .iter()
        .map(|t| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
            (s(&t["labels"]["job"]), s(&t["health"]), s(&t["lastError"]))
        })
        .collect();
    out.iter().all(|(_, h, _)| h != "unknown").then_some(out)
}

#[test]
fn scrapes_node_exporter_over_https_with_basic_auth() {
    let Some(node_exporter) = binary("prometheus-node-exporter") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let pki = pki(d);
    let other = d.join("other");
    std::fs::create_dir(&other).expect("dir");
    let wrong_ca = crate::webconfig::pki(&other).ca;
    let node_port = free_port();
    let _node = Running(
        Command::new(node_exporter)
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .arg(format!("--web.config.file={}", web_config(d).display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node exporter"),
    );
    let job = |name: &str, tls: &str, auth: bool| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n{tls}{}    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n",
            if auth {
                "    basic_auth:\n      username: alice\n      password: wonderland\n"
            } else {
                ""
            }
        )
    };
    let ca = format!("      ca_file: {}\n", pki.ca.display());
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}{}{}",
        job("good", &ca, true),
        job(
            "wrong_ca",
            &format!("      ca_file: {}\n", wrong_ca.display()),
            true
        ),
        job("insecure", "      insecure_skip_verify: true\n", true),
        job("no_auth", &ca, false),
    );
    let port = free_port();
    let _narthex = start(d, port, &config, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        if let Some(t) = targets(port).filter(|t| t.len() == 4) {
            break t;
        }
        assert!(Instant::now() < deadline, "targets never scraped");
        std::thread::sleep(Duration::from_millis(200));
    };
    let health = |job: &str| {
        got.iter()
            .find(|(j, _, _)| j == job)
            .cloned()
            .unwrap_or_else(|| panic!("no target for {job}: {got:?}"))
    };
    assert_eq!(health("good").1, "up", "{:?}", health("good"));
    assert_eq!(health("insecure").1, "up", "{:?}", health("insecure"));
    let (_, h, err) = health("wrong_ca");
    assert_eq!(h, "down");
    assert!(err.contains("certificate"), "{err}");
    let (_, h, err) = health("no_auth");
    assert_eq!(h, "down");
    assert!(err.contains("401"), "{err}");
    // The scraped series are stored: node exporter's own build info, through TLS.
    wait_for("node exporter series", 10, || {
        http(
            port,
            "GET",
            "/api/v1/query?query=up%7Bjob%3D%22good%22%7D%3D%3D1",
        )
        .is_some_and(|(_, b)| b.contains("\"job\":\"good\""))
    });
}

#[test]
fn an_unreadable_ca_file_stops_the_start_naming_the_job() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("narthex.yml");
    std::fs::write(
        &config,
        "scrape_configs:\n  - job_name: secure\n    scheme: https\n    tls_config:\n      ca_file: /nonexistent/ca.pem\n    static_configs:\n      - targets: ['127.0.0.1:1']\n",
    )
    .expect("config");
    let mut child = narthex()
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start narthex");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("narthex kept running with an unreadable ca_file");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(!status.success());
    assert!(
        stderr.contains("\"secure\"")
            && stderr.contains("unable to read CA cert /nonexistent/ca.pem"),
        "{stderr}"
    );
}

/// GET over HTTPS trusting `ca`, as alice: the body, or `None`.
fn https_get(url: &str, ca: &Path) -> Option<String> {
    use narthex_http::{BasicAuth, HttpSettings, Secret, TlsSettings};
    let s = HttpSettings {
        basic_auth: Some(BasicAuth {
            username: Secret::Inline("alice".into()),
            password: Some(Secret::Inline("wonderland".into())),
        }),
        tls: TlsSettings {
            ca: Some(Secret::File(ca.to_path_buf())),
            ..TlsSettings::default()
        },
        ..HttpSettings::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let client = narthex_http::client_builder(&s)
            .ok()?
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?;
        let resp = s.authorize(client.get(url)).ok()?.send().await.ok()?;
        resp.text().await.ok()
    })
}

#[test]
fn remote_writes_to_prometheus_over_https_with_basic_auth() {
    let Some(prometheus) = binary("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let pki = pki(d);
    let prom_port = free_port();
    let prom_config = d.join("prometheus.yml");
    std::fs::write(&prom_config, "global:\n  scrape_interval: 1m\n").expect("config");
    let _prometheus = Running(
        Command::new(prometheus)
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                d.join("prometheus-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg(format!("--web.config.file={}", web_config(d).display()))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );
    let base = format!("https://127.0.0.1:{prom_port}");
    wait_for("prometheus ready over TLS", 30, || {
        https_get(&format!("{base}/-/ready"), &pki.ca).is_some()
    });
    let port = free_port();
    let _narthex = start(
        d,
        port,
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels:\n    sender: narthex\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: {base}/api/v1/write\n    tls_config:\n      ca_file: {}\n    basic_auth:\n      username: alice\n      password: wonderland\n    queue_config:\n      batch_send_deadline: 200ms\n",
            pki.ca.display()
        ),
        &[],
    );
    wait_for("narthex's samples in prometheus", 60, || {
        https_get(
            &format!("{base}/api/v1/query?query=up%7Bjob%3D%22self%22%2Csender%3D%22narthex%22%7D"),
            &pki.ca,
        )
        .is_some_and(|b| b.contains(&format!("127.0.0.1:{port}")))
    });
}
