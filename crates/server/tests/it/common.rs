//! Helpers: locating promtool and the conformance corpus, running the binaries, making
//! data directories.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use narthex_model::Labels;
use narthex_storage::{Appendable, SeriesRef};
use narthex_tsdb::{Db, Options};

/// The path of a Debian program, or `None` (loudly) when it is missing outside CI.
pub(crate) fn binary(name: &str) -> Option<String> {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let p = format!("{dir}/{name}");
        if Path::new(&p).exists() {
            return Some(p);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is not installed (CI=true); scripts/test installs it");
    }
    eprintln!(
        "\n!!! SKIPPED: {name} is not installed (apt-get install it, or run scripts/test) !!!\n"
    );
    None
}

pub(crate) fn promtool() -> Option<String> {
    binary("promtool")
}

/// The conformance corpus, or `None` with a loud notice (a failure under `CI=true`).
pub(crate) fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("NARTHEX_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/conformance"
            ))
        });
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("conformance corpus missing at {} (CI=true)", dir.display());
    }
    eprintln!(
        "\n!!! SKIPPED: conformance corpus not found at {}; set NARTHEX_CONFORMANCE_DIR !!!\n",
        dir.display()
    );
    None
}

pub(crate) fn narthex() -> Command {
    Command::new(env!("CARGO_BIN_EXE_narthex"))
}

/// Runs `cmd`, asserts it succeeded, returns its stdout.
pub(crate) fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command");
    assert_success(cmd, &out);
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub(crate) fn assert_success(cmd: &Command, out: &Output) {
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Lines of `text`, sorted.
pub(crate) fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(String::from).collect();
    v.sort();
    v
}

/// Start of the test data: 2023-11-14T22:00:00Z, aligned to 2h.
pub(crate) const BASE: i64 = 1_699_999_200_000;
pub(crate) const HOUR: i64 = 60 * 60 * 1000;

/// A data directory with ~9h of data: persisted 2h blocks (made by `compact`) and a head
/// (WAL). Series churn: some exist only for part of the time. Values include NaN, ±Inf,
/// large and small numbers; a label value needs quoting.
pub(crate) fn make_db(dir: &Path) {
    let db = Db::open(dir, Options::default()).expect("open db");
    let step = 30_000;
    let mut t = BASE + 1_234;
    let end = BASE + 9 * HOUR;
    let mut i = 0u64;
    while t < end {
        let mut app = db.appender();
        let hour = (t - BASE) / HOUR;
        for inst in 0..4 {
            let l = Labels::from_pairs([
                ("__name__", "up".to_string()),
                ("instance", format!("host-{inst}:9100")),
                ("job", "node".into()),
            ]);
            app.append(
                SeriesRef::UNKNOWN,
                &l,
                t,
                if (i + inst).is_multiple_of(97) {
                    0.0
                } else {
                    1.0
                },
            )
            .expect("append");
        }
        // Churn: each pod lives 3 hours.
        for pod in [hour, hour + 1] {
            if pod % 3 == 0 || pod == hour {
                let l = Labels::from_pairs([
                    ("__name__", "http_requests_total".to_string()),
                    ("code", if pod % 2 == 0 { "200" } else { "500" }.into()),
                    ("pod", format!("web-{}", pod / 3)),
                    ("path", "/a \"quoted\" path\\é".into()),
                ]);
                app.append(SeriesRef::UNKNOWN, &l, t, (i * 7) as f64 * 0.1)
                    .expect("append");
            }
        }
        let g = Labels::from_pairs([("__name__", "temperature"), ("room", "lab")]);
        let v = match i % 50 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => 1e-7,
            4 => 1_234_567.0,
            5 => -0.0,
            n => 20.0 + (n as f64) / 3.0,
        };
        app.append(SeriesRef::UNKNOWN, &g, t, v).expect("append");
        app.commit().expect("commit");
        t += step;
        i += 1;
    }
    db.compact().expect("compact");
    db.close().expect("close");
}

/// A child process killed (and reaped) when the test ends, however it ends.
pub(crate) struct Running(pub(crate) std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// Polls `f` every 200 ms until it holds; fails the test after `secs` seconds.
pub(crate) fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A plain HTTP/1.0 request to 127.0.0.1: the status and the body.
pub(crate) fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}
