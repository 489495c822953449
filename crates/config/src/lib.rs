//! Prometheus's configuration file, `prometheus.yml`, read into typed Rust values.
//!
//! This crate **is** the loader and validator: [`Config::load`] reads a file (and the
//! files its `scrape_config_files` name), fills in Prometheus's defaults (a scrape config
//! inherits the global interval, timeout, limits and protocols), applies Prometheus's
//! validation rules with Prometheus's messages, and joins relative file names with the
//! config file's directory. [`check`] gives the verdict `promtool check config` gives.
//!
//! It is **not** a runtime: it starts no discovery, scrapes nothing and reads no rule
//! file's contents. Discovery mechanisms other than static, file, DNS and HTTP are
//! accepted (a prometheus.yml that uses them still loads) but not typed: their names are
//! listed in [`ServiceDiscoveryConfigs::untyped`]. The cloud authentication blocks of
//! remote write (`sigv4`, `azuread`, `google_iam`) and Alertmanagers (`sigv4`) are handled
//! the same way, listed in `untyped_auth`. The server warns about each on load.
//!
//! ```
//! use narthex_config::Config;
//!
//! let yaml = r#"
//! global:
//!   scrape_interval: 15s
//!   external_labels: { region: eu }
//! scrape_configs:
//!   - job_name: node
//!     static_configs:
//!       - targets: ["localhost:9100"]
//!     basic_auth: { username: u, password_file: secrets/pw }
//!   - job_name: slow
//!     scrape_interval: 5m
//! "#;
//! let cfg = Config::from_str(yaml, "/etc/prometheus").unwrap();
//! let node = &cfg.scrape_configs[0];
//! assert_eq!(node.scrape_interval, 15_000); // from global, in milliseconds
//! assert_eq!(node.scrape_timeout, 10_000);
//! assert_eq!(node.metrics_path, "/metrics");
//! let auth = node.http_client.basic_auth.as_ref().unwrap();
//! assert_eq!(auth.password_file.as_deref(), Some("/etc/prometheus/secrets/pw".as_ref()));
//! assert_eq!(cfg.scrape_configs[1].scrape_interval, 300_000);
//!
//! // Errors carry Prometheus's message and point at the offending key.
//! let err = Config::from_str("scrape_configs:\n  - job_name: a\n    scrape_intervall: 1m\n", ".")
//!     .unwrap_err();
//! assert_eq!((err.line(), err.column()), (Some(3), Some(5)));
//! assert_eq!(err.message, "field scrape_intervall not found in type config.ScrapeConfig");
//! ```
//!
//! # Design
//! - **YAML library: `serde-saphyr`.** It reports a line and column for every error it
//!   raises, unknown keys included (at the key), and its `Spanned<T>` wrapper records
//!   where each value came from, so the checks done after parsing (durations, relabel
//!   rules, timeouts) point into the file as well. It is a pure-Rust, panic-free parser
//!   with serde derive support, so the schema is a set of plain `#[derive(Deserialize)]`
//!   structs with `deny_unknown_fields` (Prometheus reads its config with
//!   `UnmarshalStrict`). `serde_yaml` is deprecated; `saphyr`/`yaml-rust2` give an event
//!   stream or a node tree with markers but no serde, which would mean hand-writing every
//!   struct's reader.
//! - Two layers: private YAML structs that mirror the file key for key (Prometheus's
//!   inlined HTTP client keys are appended by a macro, since `#[serde(flatten)]` cannot
//!   be combined with `deny_unknown_fields` or spans), and the public typed structs in
//!   which every default is filled in.
//! - Durations are `i64` milliseconds (`narthex_model::parse_duration`), sizes `u64`
//!   bytes (`units.Base2Bytes` rules: `1KB` is 1024). Relabel rules are
//!   [`narthex_model::relabel::RelabelConfig`], validated as Prometheus validates them.
//! - Semantics follow Prometheus 3.x (`config/config.go`, `common/config`,
//!   `discovery/{file,dns,http}`); [`check`] also checks what `promtool check config`
//!   checks beyond loading (credential and TLS files exist).
//! - Errors stop at the first problem, like Prometheus. Where several problems exist, the
//!   one reported may differ from Prometheus's choice; the verdict does not.
//!
//! # Known differences from Prometheus
//! - Names follow the configured validation scheme (UTF-8 by default, as in Prometheus
//!   3.x): `external_labels: {"a-b": x}` loads here and in Prometheus 3.x, not in 2.x.
//! - serde-saphyr reads a quoted scalar into a number or boolean field (`sample_limit:
//!   "5"`), which Go's yaml rejects, and rejects a fraction in an integer field
//!   (`sample_limit: 1.5`), which Go's yaml truncates. YAML syntax and type errors are
//!   worded by serde-saphyr.
//! - A file holding several YAML documents is an error; Prometheus reads the first.
//! - `promtool check config` also checks the contents of rule files and of the files
//!   `file_sd_configs` name, and the targets static configs produce after relabelling;
//!   [`check`] lists the rule files and warns about missing SD files but does not read
//!   them (that belongs to the rules and discovery crates).

mod build;
mod check;
mod error;
mod raw;
mod types;
mod units;

use std::path::{Path, PathBuf};

pub use check::{CheckReport, check};
pub use error::{ConfigError, ErrorKind, Position};
pub use narthex_model::relabel::RelabelConfig;
pub use types::*;
pub use units::parse_bytes;

use build::Builder;
use raw::{RawConfig, RawScrapeConfigs};

impl Config {
    /// Reads and validates the configuration file at `path`, including the files its
    /// `scrape_config_files` patterns match. Relative paths inside are resolved against
    /// the file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(ErrorKind::Io, None, e.to_string()).with_file(path))?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        Self::parse(&text, dir, Some(path))
    }

    /// Reads and validates configuration text; relative paths are resolved against
    /// `base_dir`. Files named by `scrape_config_files` are read from disk.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(yaml: &str, base_dir: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Self::parse(yaml, base_dir.as_ref(), None)
    }

    fn parse(yaml: &str, dir: &Path, file: Option<&Path>) -> Result<Config, ConfigError> {
        let with_file = |e: ConfigError| match file {
            Some(f) => e.with_file(f),
            None => e,
        };
        let raw: RawConfig = deserialize(yaml).map_err(with_file)?;
        let b = Builder { src: yaml, dir };
        build_config(&b, raw).map_err(with_file)
    }

    /// Every scrape config, each with the path of the file it came from (`None` for the
    /// main file).
    pub fn scrape_configs_by_file(&self) -> impl Iterator<Item = (&ScrapeConfig, Option<&Path>)> {
        self.scrape_configs
            .iter()
            .map(|s| (s, s.source_file.as_deref()))
    }
}

fn deserialize<T: serde::de::DeserializeOwned + Default>(yaml: &str) -> Result<T, ConfigError> {
    if yaml.trim().is_empty() {
        return Ok(T::default());
    }
    serde_saphyr::from_str::<Option<T>>(yaml)
        .map(Option::unwrap_or_default)
        .map_err(yaml_error)
}

/// Turns a serde-saphyr error into a [`ConfigError`] with Prometheus-like text.
fn yaml_error(e: serde_saphyr::Error) -> ConfigError {
    use serde_saphyr::Error as E;
    let e = e.without_snippet();
    let position = e
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| Position::new(l.line() as u32, l.column() as u32));
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    // Duplicate keys (reported by the parser, whatever the wrapping variant).
    if let Some(rest) = text.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        return ConfigError::schema(position, format!("field {key} already set"));
    }
    match e {
        E::SerdeUnknownField {
            field, expected, ..
        } => ConfigError::schema(
            position,
            format!(
                "field {field} not found in type {}",
                raw::go_type_name(expected)
            ),
        ),
        E::DuplicateMappingKey { .. } => {
            let text = text
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or(&text);
            ConfigError::schema(position, text.to_string())
        }
        E::SerdeInvalidType { .. }
        | E::SerdeInvalidValue { .. }
        | E::SerdeInvalidLength { .. }
        | E::SerdeUnknownVariant { .. }
        | E::SerdeMissingField { .. }
        | E::InvalidScalar { .. }
        | E::InvalidBooleanStrict { .. }
        | E::NullIntoString { .. }
        | E::Message { .. } => ConfigError::schema(position, text),
        _ => ConfigError::new(ErrorKind::Syntax, position, text),
    }
}

fn build_config(b: &Builder<'_>, raw: RawConfig) -> Result<Config, ConfigError> {
    let global = b.global(raw.global)?;
    let validation = global.metric_name_validation_scheme;
    let rule_files = b.file_patterns(raw.rule_files, "rule file", "rule_files")?;
    let scrape_config_files = b.file_patterns(
        raw.scrape_config_files,
        "scrape config file",
        "scrape_config_files",
    )?;

    let mut scrape_configs: Vec<ScrapeConfig> = Vec::new();
    for item in raw.scrape_configs.into_iter().flatten() {
        let at = build::pos_of(&item);
        let sc = b.scrape(item, &global)?;
        if scrape_configs.iter().any(|s| s.job_name == sc.job_name) {
            return Err(ConfigError::invalid(
                at,
                format!(
                    "found multiple scrape configs with job name {}",
                    narthex_model::go_quote(&sc.job_name)
                ),
            ));
        }
        scrape_configs.push(sc);
    }
    let alerting = b.alerting(raw.alerting, validation)?;
    let mut remote_write: Vec<RemoteWriteConfig> = Vec::new();
    for item in raw.remote_write.into_iter().flatten() {
        let at = build::pos_of(&item);
        let rw = b.remote_write(item, validation)?;
        if !rw.name.is_empty() && remote_write.iter().any(|o| o.name == rw.name) {
            return Err(ConfigError::invalid(
                at,
                format!(
                    "found multiple remote write configs with job name {}",
                    narthex_model::go_quote(&rw.name)
                ),
            ));
        }
        remote_write.push(rw);
    }
    let mut remote_read: Vec<RemoteReadConfig> = Vec::new();
    for item in raw.remote_read.into_iter().flatten() {
        let at = build::pos_of(&item);
        let rr = b.remote_read(item)?;
        if !rr.name.is_empty() && remote_read.iter().any(|o| o.name == rr.name) {
            return Err(ConfigError::invalid(
                at,
                format!(
                    "found multiple remote read configs with job name {}",
                    narthex_model::go_quote(&rr.name)
                ),
            ));
        }
        remote_read.push(rr);
    }
    let storage = b.storage(raw.storage)?;
    let tracing = b.tracing(raw.tracing)?;
    let otlp = b.otlp(raw.otlp, validation)?;
    let runtime = RuntimeConfig {
        gogc: raw.runtime.and_then(|r| r.gogc),
    };

    // scrape_config_files, as Prometheus's GetScrapeConfigs reads them.
    let mut origin: Vec<(String, String)> = scrape_configs
        .iter()
        .map(|s| (s.job_name.clone(), "main config file".to_string()))
        .collect();
    for pattern in &scrape_config_files {
        for file in glob_files(pattern).map_err(|m| ConfigError::invalid(None, m))? {
            let abs = std::path::absolute(&file).unwrap_or_else(|_| file.clone());
            let ferr = |e: ConfigError| e.with_file(&abs);
            let text = std::fs::read_to_string(&file)
                .map_err(|e| ferr(ConfigError::new(ErrorKind::Io, None, e.to_string())))?;
            let rawf: RawScrapeConfigs = deserialize(&text).map_err(ferr)?;
            let dir = file.parent().unwrap_or(Path::new("."));
            let fb = Builder { src: &text, dir };
            for item in rawf.scrape_configs.into_iter().flatten() {
                let at = build::pos_of(&item);
                let mut sc = fb.scrape(item, &global).map_err(ferr)?;
                if let Some((_, first)) = origin.iter().find(|(j, _)| *j == sc.job_name) {
                    return Err(ferr(ConfigError::invalid(
                        at,
                        format!(
                            "found multiple scrape configs with job name {}, first found in {first}",
                            narthex_model::go_quote(&sc.job_name)
                        ),
                    )));
                }
                origin.push((
                    sc.job_name.clone(),
                    narthex_model::go_quote(&abs.to_string_lossy()),
                ));
                sc.source_file = Some(abs.clone());
                scrape_configs.push(sc);
            }
        }
    }

    Ok(Config {
        global,
        runtime,
        alerting,
        rule_files,
        scrape_config_files,
        scrape_configs,
        storage,
        tracing,
        remote_write,
        remote_read,
        otlp,
        base_dir: b.dir.to_path_buf(),
    })
}

/// The files matching a glob pattern, sorted (Go's `filepath.Glob`).
pub(crate) fn glob_files(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let paths = glob::glob(pattern).map_err(|e| {
        format!(
            "error retrieving files for {}: {e}",
            narthex_model::go_quote(pattern)
        )
    })?;
    let mut out: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
    out.sort();
    Ok(out)
}
