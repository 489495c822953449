//! The YAML corpus under `tests/data`: `valid/` and `invalid/` use only keys Prometheus
//! 2.42 knows and are compared with Debian's promtool; `v3/` (`ok_*`, `bad_*`) uses
//! Prometheus 3.x keys and checks our verdicts only. An invalid file's first line,
//! `# error: TEXT`, gives text our message must contain.

use std::path::{Path, PathBuf};
use std::process::Command;

use narthex_config::check;

use crate::data_dir;

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    v.sort();
    v
}

fn expected_error(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next()?;
    first.strip_prefix("# error:").map(|s| s.trim().to_string())
}

/// Every file in `dir` with the verdict `ok` (and, when failing, the expected text).
fn check_dir(dir: &str, expect_ok: impl Fn(&Path) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    let files = yaml_files(&data_dir().join(dir));
    assert!(!files.is_empty(), "no files in {dir}");
    for f in files {
        let report = check(&f);
        let want_ok = expect_ok(&f);
        match (&report.result, want_ok) {
            (Ok(_), true) => {}
            (Err(e), true) => problems.push(format!("{}: expected success, got {e}", f.display())),
            (Ok(_), false) => {
                problems.push(format!("{}: expected failure, got success", f.display()))
            }
            (Err(e), false) => {
                if let Some(want) = expected_error(&f).filter(|w| !w.is_empty())
                    && !e.message.contains(&want)
                {
                    problems.push(format!(
                        "{}: message {:?} does not contain {want:?}",
                        f.display(),
                        e.message
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn corpus_verdicts() {
    let mut problems = check_dir("valid", |_| true);
    problems.extend(check_dir("invalid", |_| false));
    problems.extend(check_dir("v3", |p| {
        p.file_name().unwrap().to_string_lossy().starts_with("ok_")
    }));
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn promtool() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/promtool");
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("promtool is required under CI=true (apt-get install prometheus)");
    }
    None
}

#[test]
fn corpus_agrees_with_promtool() {
    let Some(promtool) = promtool() else {
        println!("config check vs promtool: SKIPPED (promtool not installed) !!!");
        return;
    };
    let mut files = yaml_files(&data_dir().join("valid"));
    files.extend(yaml_files(&data_dir().join("invalid")));
    let mut agree = 0;
    let mut disagreements = Vec::new();
    let mut same_text = 0;
    let mut other_text = Vec::new();
    for f in &files {
        let out = Command::new(&promtool)
            .args(["check", "config"])
            .arg(f)
            .output()
            .unwrap();
        let theirs = out.status.success();
        let ours = check(f);
        if let (false, Err(e)) = (theirs, &ours.result) {
            let text = promtool_message(&String::from_utf8_lossy(&out.stderr));
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if text.contains(&e.message) {
                same_text += 1;
            } else {
                println!(
                    "message differs: {name}\n  promtool: {text}\n  narthex:  {}",
                    e.message
                );
                other_text.push(name);
            }
        }
        if theirs == ours.is_success() {
            agree += 1;
        } else {
            disagreements.push(format!(
                "{}: promtool {} / narthex {}\n  promtool: {}\n  narthex: {}",
                f.display(),
                if theirs { "SUCCESS" } else { "FAILED" },
                if ours.is_success() {
                    "SUCCESS"
                } else {
                    "FAILED"
                },
                String::from_utf8_lossy(&out.stderr).trim(),
                ours.to_string().trim(),
            ));
        }
    }
    println!("config check vs promtool: {agree}/{} agree", files.len());
    println!(
        "config check vs promtool: {same_text}/{} failure messages contained in promtool's",
        same_text + other_text.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // Known wording differences; the list may only shrink.
    let mut known: Vec<&str> = MESSAGE_DIFFERS.iter().map(|(f, _)| *f).collect();
    known.sort();
    other_text.sort();
    assert_eq!(other_text, known, "the set of differing messages changed");
}

/// Failure messages that differ from promtool 2.42's, and why.
const MESSAGE_DIFFERS: &[(&str, &str)] = &[
    (
        "bad_duration.yml",
        "Prometheus 3.x's ParseDuration: unknown unit \".\"",
    ),
    (
        "bad_indent.yml",
        "YAML syntax errors are worded by serde-saphyr",
    ),
    (
        "bad_yaml.yml",
        "YAML syntax errors are worded by serde-saphyr",
    ),
    (
        "basic_auth_password_and_file.yml",
        "3.x text also names password_ref",
    ),
    (
        "list_document.yml",
        "YAML type errors are worded by serde-saphyr",
    ),
    (
        "negative_limit.yml",
        "YAML type errors are worded by serde-saphyr",
    ),
    (
        "relabel_bad_regex.yml",
        "regex errors come from the Rust regex parser",
    ),
    (
        "remote_write_authorization_header.yml",
        "3.x text also names azuread and google_iam",
    ),
    (
        "scalar_document.yml",
        "YAML type errors are worded by serde-saphyr",
    ),
    (
        "tls_cert_without_key.yml",
        "3.x's TLSConfig.Validate text (2.42 checked files first)",
    ),
    (
        "tls_key_without_cert.yml",
        "3.x's TLSConfig.Validate text (2.42 checked files first)",
    ),
    (
        "wrong_type.yml",
        "YAML type errors are worded by serde-saphyr",
    ),
];

/// promtool's error text without its `parsing YAML file F:` and yaml prefixes.
fn promtool_message(out: &str) -> String {
    let text = out.split("FAILED: ").nth(1).unwrap_or("").trim();
    let text = match text.strip_prefix("parsing YAML file ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, m)| m),
        None => text,
    };
    let text = text
        .strip_prefix("yaml: unmarshal errors:")
        .unwrap_or(text)
        .trim();
    match text.strip_prefix("line ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, m)| m).to_string(),
        None => text.to_string(),
    }
}

#[test]
fn report_text_looks_like_promtool() {
    let ok = check(data_dir().join("valid/full.yml")).to_string();
    assert!(ok.starts_with("Checking "), "{ok}");
    assert!(ok.contains(" SUCCESS: 2 rule files found"), "{ok}");
    assert!(
        ok.contains("is valid prometheus config file syntax"),
        "{ok}"
    );
    assert!(ok.contains("WARNING: file \""), "{ok}");
    let bad = check(data_dir().join("invalid/timeout_gt_interval.yml")).to_string();
    assert!(bad.contains("  FAILED: "), "{bad}");
    assert!(
        bad.contains("timeout_gt_interval.yml:5:5: scrape timeout greater than scrape interval"),
        "{bad}"
    );
    let missing = check(data_dir().join("no-such-file.yml"));
    assert!(!missing.is_success());
}
