//! A dnsmasq started on a free 127.0.0.1 port for DNS tests (also included by the
//! server's tests of Alertmanager discovery, with `#[path]`).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// A dnsmasq serving the test zone on 127.0.0.1, killed on drop.
pub(crate) struct Dnsmasq {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Starts dnsmasq answering for the zone `test.` with `records` (dnsmasq options such as
/// `--host-record=NAME,ADDR`), or returns `None` (after a loud message) when it is not
/// installed and we are not in CI.
pub(crate) fn start(records: &[&str]) -> Option<Dnsmasq> {
    if !std::path::Path::new(DNSMASQ).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{DNSMASQ} is missing (install Debian's dnsmasq)");
        }
        eprintln!("SKIPPED: DNS discovery tests need {DNSMASQ} (apt-get install dnsmasq)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    for _attempt in 0..5 {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(DNSMASQ);
        cmd.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            &format!("--pid-file={}", dir.path().join("pid").display()),
            "--conf-file=/dev/null",
            "--log-facility=-",
            // Unknown names under test. are NXDOMAIN; anything else is refused.
            "--local=/test/",
        ]);
        cmd.args(records);
        if is_root() {
            cmd.args(["--user=root", "--group=root"]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dnsmasq");
        // dnsmasq logs "started" once it listens, or dies on a taken port.
        let stderr = child.stderr.take().unwrap();
        let mut started = false;
        let mut log = String::new();
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            log.push_str(&line);
            log.push('\n');
            if line.contains("started") {
                started = true;
                break;
            }
        }
        if started {
            // Keep draining the log so dnsmasq never writes to a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Some(Dnsmasq {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                _dir: dir,
            });
        }
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("dnsmasq failed to start on port {port}: {log}");
    }
    panic!("dnsmasq did not start");
}
