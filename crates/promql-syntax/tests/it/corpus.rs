//! Every query of Prometheus's PromQL test scripts (`promql/*.test`): it must parse
//! with all experimental features on (Prometheus's test runner parses every query
//! before evaluating it), print back to text that parses to the same tree, and raise
//! the expected message where the script expects one the syntax layer owns.

use std::fs;

use narthex_promql_syntax::{Expr, ParserOptions, parse_with, range_modifier_error};

use crate::common::{check_roundtrip, corpus};

/// One `eval` command of a script.
struct Eval {
    file: String,
    line: usize,
    query: String,
    /// The `expect fail msg:` text, if any.
    fail_msg: Option<String>,
}

/// The rest of `s` after `n` whitespace-separated words.
fn after_words(s: &str, n: usize) -> Option<&str> {
    let mut rest = s.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace)?;
        rest = rest[end..].trim_start();
    }
    Some(rest)
}

/// The query of an `eval` header line.
fn header_query(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    let cmd = words.next()?;
    if !matches!(
        cmd,
        "eval" | "eval_fail" | "eval_warn" | "eval_info" | "eval_ordered"
    ) {
        return None;
    }
    match words.next()? {
        "instant" => after_words(line, 4),
        "range" => after_words(line, 8),
        _ => None,
    }
}

fn read_evals() -> Option<Vec<Eval>> {
    let dir = corpus()?.join("promql");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("promql dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 21, "the corpus has 21 scripts");
    let mut evals = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).expect("read script");
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let mut i = 0;
        while i < lines.len() {
            if let Some(q) = header_query(lines[i]) {
                let mut eval = Eval {
                    file: file.clone(),
                    line: i + 1,
                    query: q.to_string(),
                    fail_msg: None,
                };
                let mut j = i + 1;
                while j < lines.len() && !lines[j].is_empty() && !lines[j].starts_with('#') {
                    if let Some(rest) = lines[j].strip_prefix("expect fail")
                        && let Some(msg) = rest.trim().strip_prefix("msg:")
                    {
                        eval.fail_msg = Some(msg.trim().to_string());
                    }
                    j += 1;
                }
                evals.push(eval);
                i = j;
            } else {
                i += 1;
            }
        }
    }
    Some(evals)
}

/// The first range-modifier error in the tree (the check Prometheus's engine makes).
fn first_range_modifier_error(e: &Expr) -> Option<String> {
    let mut found = None;
    e.walk(&mut |n| {
        if let (None, Expr::Call(c)) = (&found, n) {
            found = range_modifier_error(c);
        }
    });
    found
}

#[test]
fn promql_corpus_parses_and_roundtrips() {
    let Some(evals) = read_evals() else { return };
    let opts = ParserOptions::all_experimental();
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut modifier_messages = 0;
    for ev in &evals {
        let at = format!("{}:{}: {}", ev.file, ev.line, ev.query);
        let parse_msg = ev
            .fail_msg
            .as_deref()
            .filter(|m| m.contains(": parse error: "));
        match (parse_with(&ev.query, &opts), parse_msg) {
            (Err(e), Some(want)) if e.to_string() == want => passed += 1,
            (Err(e), Some(want)) => failures.push(format!("{at}: got {e}, want {want}")),
            (Err(e), None) => failures.push(format!("{at}: rejected: {e}")),
            (Ok(_), Some(want)) => failures.push(format!("{at}: accepted, want {want}")),
            (Ok(expr), None) => {
                let mut ok = true;
                if let Err(msg) = check_roundtrip(&expr, &opts) {
                    failures.push(format!("{at}: {msg}"));
                    ok = false;
                }
                if let Some(want) = ev.fail_msg.as_deref().filter(|m| {
                    m.starts_with("anchored modifier") || m.starts_with("smoothed modifier")
                }) {
                    modifier_messages += 1;
                    let got = first_range_modifier_error(&expr);
                    if got.as_deref() != Some(want) {
                        failures.push(format!(
                            "{at}: range modifier check gave {got:?}, want {want}"
                        ));
                        ok = false;
                    }
                }
                if ok {
                    passed += 1;
                }
            }
        }
    }
    println!("promql corpus parse: {passed}/{} passed", evals.len());
    println!("promql corpus range-modifier messages checked: {modifier_messages}");
    assert!(
        evals.len() >= 2214,
        "the scripts hold 2214 eval commands, found {}",
        evals.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
