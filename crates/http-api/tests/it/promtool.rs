//! Debian's `promtool` (a Prometheus Go client) against the API.

use std::process::Command;

use crate::common::mem_server;

const PROMTOOL: &str = "/usr/bin/promtool";

fn promtool_available() -> bool {
    if std::path::Path::new(PROMTOOL).exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{PROMTOOL} is missing (apt-get install prometheus)");
    }
    eprintln!("SKIPPED: {PROMTOOL} is missing; install Debian's `prometheus` package");
    false
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new(PROMTOOL).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "promtool {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn promtool_queries() {
    if !promtool_available() {
        return;
    }
    // promtool's default window for series and labels is around the current time; the
    // test data is in 2023, so the window is given.
    let s = mem_server();
    let url = s.url();
    let out = promtool(&["query", "instant", "--time=1700000000", &url, "up"]);
    assert_eq!(
        out,
        "up{instance=\"a\", job=\"api\"} => 1 @[1700000000]\nup{instance=\"b\", job=\"api\"} => 0 @[1700000000]\n"
    );
    let out = promtool(&[
        "query",
        "range",
        "--start=1699999940",
        "--end=1700000000",
        "--step=30s",
        &url,
        "sum(http_requests_total)",
    ]);
    assert_eq!(
        out,
        "{} =>\n48 @[1699999940]\n54 @[1699999970]\n60 @[1700000000]\n"
    );
    let out = promtool(&[
        "query",
        "series",
        "--match=up",
        "--start=1699999000",
        "--end=1700001000",
        &url,
    ]);
    assert_eq!(
        out,
        "{__name__=\"up\", instance=\"a\", job=\"api\"}\n{__name__=\"up\", instance=\"b\", job=\"api\"}\n"
    );
    let out = promtool(&[
        "query",
        "labels",
        "--start=1699999000",
        "--end=1700001000",
        &url,
        "instance",
    ]);
    assert_eq!(out, "a\nb\n");
    let out = promtool(&["query", "instant", "--time=1700000000", &url, "1 + 1"]);
    assert_eq!(out, "scalar: 2 @[1700000000]\n");
}
