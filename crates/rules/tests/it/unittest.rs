//! `run_rule_tests` (promtool's rule unit tests), with verdicts compared to promtool.

use std::path::Path;
use std::process::Command;

use narthex_rules::{expand_values, run_rule_tests};

#[test]
fn expanding_notation() {
    let v = expand_values("1+2x3 _ stale 5x2 _x2 10-1x1 -2 1e3").unwrap();
    let shown: Vec<String> = v
        .iter()
        .map(|x| match x {
            None => "_".into(),
            Some(f) if narthex_model::is_stale_nan(*f) => "stale".into(),
            Some(f) => f.to_string(),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "1", "3", "5", "7", "_", "stale", "5", "5", "5", "_", "_", "10", "9", "-2", "1000"
        ]
    );
    assert!(expand_values("1+x").is_err());
}

#[test]
fn unit_tests_pass_and_fail() {
    let pass = run_rule_tests(Path::new("tests/data/unittest/pass.yml"));
    assert!(pass.ok, "{}", pass.output);
    assert_eq!(
        pass.output,
        "Unit Testing:  tests/data/unittest/pass.yml\n  SUCCESS\n"
    );
    let fail = run_rule_tests(Path::new("tests/data/unittest/fail.yml"));
    assert!(!fail.ok);
    assert_eq!(fail.failures.len(), 2, "{}", fail.output);
    assert!(
        fail.output.contains("alertname: InstanceDown, time: 3m"),
        "{}",
        fail.output
    );
}

#[test]
fn unit_test_verdicts_vs_promtool() {
    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("promtool missing under CI=true");
        }
        eprintln!(
            "!!!!!!!! SKIPPED rule unit tests vs promtool: /usr/bin/promtool not installed !!!!!!!!"
        );
        return;
    }
    let files = [
        "tests/data/unittest/pass.yml",
        "tests/data/unittest/fail.yml",
        "tests/data/unittest/tmpl.yml",
        "tests/data/unittest/lifecycle.yml",
        "tests/data/unittest/fail2.yml",
    ];
    let mut agree = 0;
    for f in files {
        let out = Command::new(promtool)
            .args(["test", "rules", f])
            .output()
            .unwrap();
        let theirs = out.status.success();
        if !theirs {
            // The failure block is promtool's standard error, byte for byte.
            let stderr = String::from_utf8_lossy(&out.stderr);
            let ours = run_rule_tests(Path::new(f));
            let block = format!("  FAILED:\n{}\n", ours.failures.join("\n"));
            assert_eq!(block, stderr, "{f}");
        }
        let report = run_rule_tests(Path::new(f));
        eprintln!("{}", report.output);
        let ours = report.ok;
        if theirs == ours {
            agree += 1;
        }
    }
    println!("rule unit tests vs promtool: {agree}/{} agree", files.len());
    assert_eq!(agree, files.len());
}
