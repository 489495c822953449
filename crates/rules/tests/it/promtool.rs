//! `check_rules` side by side with Debian's `promtool check rules`.

use std::path::{Path, PathBuf};
use std::process::Command;

use narthex_model::NameValidation;
use narthex_rules::check_rules;
use narthex_rules::rulefmt::ParseOptions;

fn corpus() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["tests/data/valid", "tests/data/invalid"] {
        for e in std::fs::read_dir(dir).unwrap() {
            v.push(Path::new(dir).join(e.unwrap().file_name()));
        }
    }
    v.sort();
    v
}

#[test]
fn corpus_verdicts_by_directory() {
    let opts = ParseOptions {
        name_validation: NameValidation::Legacy,
    };
    for f in corpus() {
        let r = check_rules(&f, &opts);
        let want = f.starts_with("tests/data/valid");
        assert_eq!(r.ok, want, "{}: {}{}", f.display(), r.stdout, r.stderr);
    }
}

#[test]
fn rules_check_vs_promtool() {
    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("promtool missing under CI=true");
        }
        eprintln!(
            "!!!!!!!! SKIPPED rules check vs promtool: /usr/bin/promtool not installed !!!!!!!!"
        );
        return;
    }
    let opts = ParseOptions {
        name_validation: NameValidation::Legacy,
    };
    let files = corpus();
    let (mut agree, mut exact) = (0, 0);
    let mut report = String::new();
    for f in &files {
        let out = Command::new(promtool)
            .args(["check", "rules"])
            .arg(f)
            .output()
            .unwrap();
        let ours = check_rules(f, &opts);
        let theirs_ok = out.status.success();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if theirs_ok == ours.ok {
            agree += 1;
        } else {
            report.push_str(&format!(
                "VERDICT {}: promtool ok={theirs_ok}, ours ok={}\n{stderr}---\n{}\n",
                f.display(),
                ours.ok,
                ours.stderr
            ));
        }
        if stdout == ours.stdout && stderr == ours.stderr {
            exact += 1;
        } else {
            report.push_str(&format!(
                "TEXT {}:\n promtool: {stdout}{stderr}\n ours:     {}{}\n",
                f.display(),
                ours.stdout,
                ours.stderr
            ));
        }
    }
    eprintln!("{report}");
    println!("rules check vs promtool: {agree}/{} agree", files.len());
    println!(
        "rules check vs promtool: {exact}/{} identical output",
        files.len()
    );
    assert_eq!(agree, files.len(), "verdicts differ:\n{report}");
}
