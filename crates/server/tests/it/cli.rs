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

#[test]
fn check_metrics_agrees_with_promtool() {
    use std::io::Write;
    use std::process::Stdio;
    let Some(promtool) = crate::common::promtool() else {
        return;
    };
    let inputs = [
        "# HELP ok_total Fine.\n# TYPE ok_total counter\nok_total 1\n",
        "# HELP http_requests Requests.\n# TYPE http_requests counter\nhttp_requests{code=\"200\"} 3\n# TYPE latencyMilliseconds gauge\nlatencyMilliseconds 4\n# HELP foo_bucket x\n# TYPE foo_bucket gauge\nfoo_bucket 1\n# HELP a:b x\n# TYPE a:b gauge\na:b 1\n# HELP x_gauge_total y\n# TYPE x_gauge_total gauge\nx_gauge_total 1\n# HELP rt_ms y\n# TYPE rt_ms gauge\nrt_ms{labelName=\"x\"} 1\nrt_ms{labelName=\"y\"} 1\n# HELP up_count y\n# TYPE up_count gauge\nup_count 1\n# HELP h_sum y\n# TYPE h_sum gauge\nh_sum 1\n",
        "# HELP rt_milliseconds y\n# TYPE rt_milliseconds gauge\nrt_milliseconds 1\n# HELP size_kilobytes y\n# TYPE size_kilobytes summary\nsize_kilobytes{quantile=\"0.5\"} 1\nsize_kilobytes_sum 1\nsize_kilobytes_count 1\n# HELP t_seconds_total y\n# TYPE t_seconds_total counter\nt_seconds_total 1\n# HELP g y\n# TYPE g gauge\ng{le=\"1\",quantile=\"0.5\"} 1\n",
        "# HELP req_seconds y\n# TYPE req_seconds histogram\nreq_seconds_bucket{aB=\"1\",le=\"1\"} 1\nreq_seconds_bucket{aB=\"1\",le=\"+Inf\"} 1\nreq_seconds_sum{aB=\"1\"} 1\nreq_seconds_count{aB=\"1\"} 1\nreq_seconds_bucket{aB=\"2\",le=\"+Inf\"} 1\nreq_seconds_sum{aB=\"2\"} 1\nreq_seconds_count{aB=\"2\"} 1\nuntyped_thing_total 1\nmy_counter_d 2\n",
        "garbage{ 1\n",
    ];
    let run = |cmd: &mut std::process::Command, input: &str| {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let mut agreed = 0;
    for input in inputs {
        let (ours, our_err) = run(narthex().args(["check", "metrics"]), input);
        let (theirs, their_err) = run(
            std::process::Command::new(&promtool).args(["check", "metrics"]),
            input,
        );
        assert_eq!(
            ours, theirs,
            "exit codes for {input:?}: {our_err} / {their_err}"
        );
        if theirs == Some(1) {
            // Parse errors: both say so, in their parsers' words.
            assert!(our_err.starts_with("error while linting: "), "{our_err}");
        } else {
            assert_eq!(our_err, their_err, "for {input:?}");
        }
        agreed += 1;
    }
    println!(
        "check metrics vs promtool: {agreed}/{} agreed",
        inputs.len()
    );
}
