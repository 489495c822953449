//! Helpers shared by the test modules: locating Debian's programs, free ports, children
//! killed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;

/// A child process killed when dropped.
pub(crate) struct Peer(pub(crate) Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

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
