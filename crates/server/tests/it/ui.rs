//! The web UI in a real browser: `narthex` scrapes itself and evaluates a rule group, then
//! `web/ui/tests/browser.mjs` drives Debian's headless Chromium through every page (via
//! playwright-core) and saves a screenshot of each under `$CARGO_TARGET_DIR/ui-screenshots`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Running, free_port};
use crate::common::{binary, narthex};

/// A GET over HTTP/1.0: the status code, the raw head and the body.
fn get(port: u16, path: &str) -> Option<(u16, String, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    Some((code, head.to_ascii_lowercase(), body.to_string()))
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The first sample value of an instant query, if the query answered one.
fn query_value(port: u16, expr: &str) -> Option<f64> {
    let q: String = encode(expr);
    let (code, _, body) = get(port, &format!("/api/v1/query?query={q}"))?;
    if code != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `web/ui/node_modules/playwright-core`, or `None` (a failure under `CI=true`).
fn playwright(ui: &Path) -> Option<PathBuf> {
    let p = ui.join("node_modules/playwright-core");
    if p.join("package.json").is_file() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{} is missing (CI=true); scripts/test runs `npm --prefix web/ui ci`",
            p.display()
        );
    }
    eprintln!(
        "\n!!! SKIPPED: {} is missing; run `npm --prefix web/ui ci` (or scripts/test) !!!\n",
        p.display()
    );
    None
}

#[test]
fn pages_render_in_headless_chromium() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: ui-test\n    interval: 1s\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: AlwaysFiring\n        expr: vector(1)\n        labels: {severity: page}\n        annotations: {summary: 'fires on purpose'}\n      - alert: NeverFires\n        expr: vector(1) == 2\n        for: 5m\n",
    )
    .expect("rules");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n  - job_name: dropped\n    static_configs:\n      - targets: ['127.0.0.1:1', '127.0.0.1:2']\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: '127\\.0\\.0\\.1:1'\n        action: drop\n"
        ),
    )
    .expect("config");
    let mut cmd = narthex();
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _server = Running(cmd.spawn().expect("start narthex"));
    wait_for("/-/ready", 30, || {
        get(port, "/-/ready").is_some_and(|(c, _, _)| c == 200)
    });

    // The UI is wired into the server: the shell at a page path, the bundle gzip-encoded.
    let (code, head, body) = get(port, "/graph?g0.expr=up").expect("GET /graph");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(body.contains("assets/app.js"), "{body}");
    let (code, head, _) = get(port, "/assets/app.css").expect("GET app.css");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("content-type: text/css"), "{head}");
    assert!(head.contains("etag: \""), "{head}");

    // A few scrapes and rule evaluations, so the graph has points and the alert fires.
    wait_for("three self-scrapes", 40, || {
        query_value(port, "count_over_time(up{job=\"prometheus\"}[1m])").is_some_and(|v| v >= 3.0)
    });
    wait_for("the firing alert", 20, || {
        query_value(
            port,
            "ALERTS{alertname=\"AlwaysFiring\",alertstate=\"firing\"}",
        )
        .is_some()
    });

    let (Some(node), Some(_chromium)) = (binary("node"), binary("chromium")) else {
        return;
    };
    let ui = repo_root().join("web/ui");
    // The UI's pure helpers (URL state, durations, series names) need only Node.
    let unit = Command::new(&node)
        .arg("--test")
        .arg(ui.join("tests/unit.mjs"))
        .output()
        .expect("run node --test");
    assert!(
        unit.status.success(),
        "web/ui/tests/unit.mjs failed:\n{}{}",
        String::from_utf8_lossy(&unit.stdout),
        String::from_utf8_lossy(&unit.stderr)
    );
    if playwright(&ui).is_none() {
        return;
    }
    let shots = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("ui-screenshots");
    // No screenshot from an earlier run may pass for this run's.
    let _ = std::fs::remove_dir_all(&shots);
    let log_out = dir.path().join("driver.out");
    let log_err = dir.path().join("driver.err");
    let mut driver = Running(
        Command::new(node)
            .arg(ui.join("tests/browser.mjs"))
            .arg(format!("http://127.0.0.1:{port}/"))
            .arg(&shots)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log_out).expect("log"))
            .stderr(std::fs::File::create(&log_err).expect("log"))
            .spawn()
            .expect("start node"),
    );
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = driver.0.try_wait().expect("wait for node") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = std::fs::read_to_string(&log_out).unwrap_or_default();
    let err = std::fs::read_to_string(&log_err).unwrap_or_default();
    println!("browser driver stdout:\n{out}\nstderr:\n{err}");
    let status = status.expect("the browser driver ran for over 240 s");
    assert!(
        status.success(),
        "the browser driver failed ({status}):\n{err}"
    );
    assert!(out.contains("all checks passed"), "{out}");
    for page in [
        "targets",
        "service-discovery",
        "alerts",
        "rules",
        "config",
        "flags",
        "status",
        "tsdb-status",
        "graph-table",
        "graph",
        "graph-error",
    ] {
        let png = shots.join(format!("{page}.png"));
        let bytes = std::fs::read(&png).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 5000,
            "screenshot {} missing or empty",
            png.display()
        );
    }
}
