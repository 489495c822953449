//! The command line itself: help, exit codes, errors.

use crate::common::narthex;

#[test]
fn help_lists_subcommands_and_prometheus_flags() {
    let out = narthex().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for f in [
        "tsdb",
        "--config.file",
        "--storage.tsdb.path",
        "--storage.tsdb.retention.time",
        "--web.listen-address",
        "--web.enable-lifecycle",
        "--query.lookback-delta",
    ] {
        assert!(text.contains(f), "help lists {f}:\n{text}");
    }
}

#[test]
fn a_bad_config_file_is_an_error_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yml");
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: a\n    scrape_interval: nope\n",
    )
    .unwrap();
    let out = narthex()
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml:3:") && err.contains("nope"), "{err}");
}

#[test]
fn help_lists_the_tsdb_commands() {
    let out = narthex().args(["tsdb", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for c in ["list", "dump", "analyze", "create-blocks-from"] {
        assert!(text.contains(c), "{c} in:\n{text}");
    }
}

#[test]
fn errors_exit_1_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = narthex()
        .args(["tsdb", "list"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty());

    let out = narthex()
        .args(["tsdb", "dump", "--match", "rate(x[5m])"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("selector"));

    let out = narthex()
        .args(["tsdb", "analyze"])
        .arg(dir.path())
        .arg("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("block 01ARZ3NDEKTSV4RRFFQ69G5FAV not found")
    );
}

#[test]
fn check_config_agrees_with_promtool() {
    let Some(promtool) = crate::common::promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "global:\n  scrape_interval: 30s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['x:1']\n").unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "scrape_configs:\n  - job_name: a\n  - job_name: a\n").unwrap();
    for (f, ok) in [(&good, true), (&bad, false)] {
        let ours = narthex().args(["check", "config"]).arg(f).output().unwrap();
        let theirs = std::process::Command::new(&promtool)
            .args(["check", "config"])
            .arg(f)
            .output()
            .unwrap();
        assert_eq!(
            ours.status.success(),
            ok,
            "{}",
            String::from_utf8_lossy(&ours.stdout)
        );
        assert_eq!(ours.status.success(), theirs.status.success());
        let text = String::from_utf8_lossy(&ours.stdout);
        assert!(
            text.starts_with(&format!("Checking {}", f.display())),
            "{text}"
        );
        assert!(
            text.contains(if ok { "SUCCESS" } else { "FAILED" }),
            "{text}"
        );
    }
}
