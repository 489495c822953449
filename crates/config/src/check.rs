//! [`check`]: `promtool check config`'s verdict.

use std::fmt;
use std::path::{Path, PathBuf};

use narthex_model::go_quote;

use crate::{Config, ConfigError, ErrorKind, HttpClientConfig, TlsConfig, glob_files};

/// The outcome of [`check`]: like `promtool check config`, SUCCESS or FAILED with the
/// first error.
#[derive(Debug)]
pub struct CheckReport {
    /// The file checked.
    pub path: PathBuf,
    /// The loaded configuration, or the error that failed the check.
    pub result: Result<Config, ConfigError>,
    /// The rule files the `rule_files` patterns match (their contents are not checked here).
    pub rule_files: Vec<PathBuf>,
    /// Warnings that do not fail the check (a `file_sd_configs` pattern matching nothing).
    pub warnings: Vec<String>,
}

impl CheckReport {
    /// Whether the configuration passed.
    pub fn is_success(&self) -> bool {
        self.result.is_ok()
    }
}

impl fmt::Display for CheckReport {
    /// promtool's layout: `Checking FILE`, then ` SUCCESS: ...` or `  FAILED: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Checking {}", self.path.display())?;
        for w in &self.warnings {
            writeln!(f, "  WARNING: {w}")?;
        }
        match &self.result {
            Ok(_) => {
                if !self.rule_files.is_empty() {
                    writeln!(f, " SUCCESS: {} rule files found", self.rule_files.len())?;
                }
                writeln!(
                    f,
                    " SUCCESS: {} is valid prometheus config file syntax",
                    self.path.display()
                )
            }
            Err(e) => writeln!(f, "  FAILED: {e}"),
        }
    }
}

/// Checks a configuration file as `promtool check config` does: it must load, and the
/// credential and TLS files it names must exist.
pub fn check(path: impl AsRef<Path>) -> CheckReport {
    let path = path.as_ref().to_path_buf();
    let mut report = CheckReport {
        path: path.clone(),
        result: Err(ConfigError::new(ErrorKind::Io, None, String::new())),
        rule_files: Vec::new(),
        warnings: Vec::new(),
    };
    report.result = Config::load(&path).and_then(|cfg| {
        extra_checks(&cfg, &mut report)?;
        Ok(cfg)
    });
    report
}

fn extra_checks(cfg: &Config, report: &mut CheckReport) -> Result<(), ConfigError> {
    let fail = |m: String| ConfigError::invalid(None, m);
    for pattern in &cfg.rule_files {
        let found = glob_files(pattern).map_err(fail)?;
        // An explicit file (no `*`) must exist.
        if !pattern.contains('*') && found.is_empty() {
            return Err(fail(format!(
                "{} does not point to an existing file",
                go_quote(pattern)
            )));
        }
        report.rule_files.extend(found);
    }
    let mut clients: Vec<&HttpClientConfig> = Vec::new();
    for sc in &cfg.scrape_configs {
        clients.push(&sc.http_client);
        for f in &sc.service_discovery.file_sd_configs {
            for p in &f.files {
                if glob_files(p).map_err(fail)?.is_empty() {
                    report.warnings.push(format!(
                        "file {} for file_sd in scrape job {} does not exist",
                        go_quote(p),
                        go_quote(&sc.job_name)
                    ));
                }
            }
        }
    }
    for am in &cfg.alerting.alertmanagers {
        clients.push(&am.http_client);
    }
    for c in clients {
        if let Some(file) = c
            .authorization
            .as_ref()
            .and_then(|a| a.credentials_file.as_ref())
        {
            exists(file).map_err(|e| {
                fail(format!(
                    "error checking authorization credentials or bearer token file {}: {e}",
                    go_quote(&file.to_string_lossy())
                ))
            })?;
        }
        check_tls(&c.tls_config).map_err(fail)?;
    }
    Ok(())
}

fn check_tls(t: &TlsConfig) -> Result<(), String> {
    if let Some(f) = &t.cert_file {
        exists(f).map_err(|e| {
            format!(
                "error checking client cert file {:?}: {e}",
                f.display().to_string()
            )
        })?;
    }
    if let Some(f) = &t.key_file {
        exists(f).map_err(|e| {
            format!(
                "error checking client key file {:?}: {e}",
                f.display().to_string()
            )
        })?;
    }
    Ok(())
}

fn exists(p: &Path) -> Result<(), String> {
    std::fs::metadata(p)
        .map(|_| ())
        .map_err(|e| format!("stat {}: {}", p.display(), go_io_text(&e)))
}

/// Go's wording for the common I/O errors.
fn go_io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
