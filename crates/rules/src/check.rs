//! `promtool check rules`: verdicts and output layout.

use std::fmt::Write as _;
use std::path::Path;

use crate::rulefmt::{ParseOptions, parse_file};

/// The result of checking one rule file, as `promtool check rules` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// What promtool prints on standard output (`Checking FILE`, `  SUCCESS: N rules
    /// found`, a blank line).
    pub stdout: String,
    /// What promtool prints on standard error (`  FAILED:` and one line per error, or
    /// the duplicate-rule lint).
    pub stderr: String,
    /// Whether the file passed (promtool's exit status 0). Duplicate rules are a lint
    /// warning, not a failure.
    pub ok: bool,
    /// Number of rules found (0 when the file failed).
    pub rules: usize,
}

/// Checks one rule file as `promtool check rules FILE` does.
pub fn check_rules(path: &Path, opts: &ParseOptions) -> CheckReport {
    let mut stdout = format!("Checking {}\n", path.display());
    let mut stderr = String::new();
    match parse_file(path, opts) {
        Err(errs) => {
            stderr.push_str("  FAILED:\n");
            for e in errs {
                let _ = writeln!(stderr, "{e}");
            }
            stdout.push('\n');
            CheckReport {
                stdout,
                stderr,
                ok: false,
                rules: 0,
            }
        }
        Ok(rgs) => {
            let n: usize = rgs.groups.iter().map(|g| g.rules.len()).sum();
            // Duplicate rules: same name and labels.
            let mut seen: Vec<(String, Vec<(String, String)>)> = Vec::new();
            let mut dups: Vec<(String, Vec<(String, String)>)> = Vec::new();
            for g in &rgs.groups {
                for r in &g.rules {
                    let name = r.alert.clone().or(r.record.clone()).unwrap_or_default();
                    let mut labels = r.labels.clone();
                    labels.sort();
                    let key = (name, labels);
                    if seen.contains(&key) {
                        dups.push(key);
                    } else {
                        seen.push(key);
                    }
                }
            }
            if dups.is_empty() {
                let _ = writeln!(stdout, "  SUCCESS: {n} rules found");
            } else {
                stderr.push_str("  FAILED:\n");
                let _ = writeln!(stderr, "lint error {} duplicate rule(s) found.", dups.len());
                for (name, labels) in &dups {
                    let _ = writeln!(stderr, "Metric: {name}\nLabel(s):");
                    for (k, v) in labels {
                        let _ = writeln!(stderr, "\t{k}: {v}");
                    }
                }
                stderr.push_str("Might cause inconsistency while recording expressions\n");
            }
            stdout.push('\n');
            CheckReport {
                stdout,
                stderr,
                ok: true,
                rules: n,
            }
        }
    }
}
