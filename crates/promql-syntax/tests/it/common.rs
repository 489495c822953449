//! Helpers shared by the test modules.

use std::path::PathBuf;

use narthex_promql_syntax::{Expr, ParserOptions, parse_with};

/// The conformance corpus directory, or `None` (after saying so loudly) when it is
/// missing outside CI. Under `CI=true` a missing corpus fails the test.
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
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("conformance corpus missing at {} (CI=true)", dir.display());
    }
    eprintln!(
        "!!! SKIPPED: conformance corpus missing at {}; set NARTHEX_CONFORMANCE_DIR",
        dir.display()
    );
    println!(
        "!!! SKIPPED: conformance corpus missing at {}",
        dir.display()
    );
    None
}

/// Checks that printing `e` (plainly and prettily) and parsing the text again gives
/// back the same tree; returns a description of the first difference.
pub(crate) fn check_roundtrip(e: &Expr, opts: &ParserOptions) -> Result<(), String> {
    for (how, text) in [("print", e.to_string()), ("pretty", e.pretty())] {
        match parse_with(&text, opts) {
            Ok(again) if again.eq_ignoring_spans(e) => {}
            Ok(again) => {
                return Err(format!(
                    "{how}: reparsing {text:?} gave a different tree:\n  {again:?}\nvs\n  {e:?}"
                ));
            }
            Err(err) => return Err(format!("{how}: reparsing {text:?} failed: {err}")),
        }
    }
    Ok(())
}
