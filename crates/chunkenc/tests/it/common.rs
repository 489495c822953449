//! Shared helpers: locating the conformance corpus and external programs.

use std::path::PathBuf;

/// Whether we run under CI, where missing inputs fail instead of skipping.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports a missing input: panics under `CI=true`, otherwise prints a loud skip notice.
pub(crate) fn missing(what: &str) {
    if in_ci() {
        panic!("{what} (CI=true)");
    }
    eprintln!("\n!!! SKIPPED: {what} !!!\n");
}

/// The conformance corpus directory, or `None` (with a loud message) when it is missing
/// outside CI. Under `CI=true` a missing corpus fails the test.
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
    missing(&format!(
        "conformance corpus not found at {}",
        dir.display()
    ));
    None
}

/// Path of an executable found on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
