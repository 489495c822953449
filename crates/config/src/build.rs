//! From the YAML structs to the typed configuration: defaults, Prometheus's validation
//! rules and messages, relative paths.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use narthex_model::relabel::{Action, Regex, RelabelConfig};
use narthex_model::{Labels, NameValidation, go_quote, parse_duration};

use crate::error::{ConfigError, Position};
use crate::raw::*;
use crate::types::*;
use crate::units::parse_bytes;

type Result<T> = std::result::Result<T, ConfigError>;

/// The context of one YAML document: its text (to find keys for positions) and the
/// directory relative paths are resolved against.
pub(crate) struct Builder<'a> {
    pub(crate) src: &'a str,
    pub(crate) dir: &'a Path,
}

pub(crate) fn pos_of<T>(s: &S<T>) -> Option<Position> {
    let l = s.referenced;
    (l.line() > 0).then(|| Position::new(l.line() as u32, l.column() as u32))
}

impl Builder<'_> {
    /// The position of `key` when it sits on the same line before the value `s`, else the
    /// value's own position.
    fn key_at<T>(&self, s: &S<T>, key: &str) -> Option<Position> {
        let p = pos_of(s)?;
        if key.is_empty() {
            return Some(p);
        }
        let line = self.src.lines().nth((p.line as usize).saturating_sub(1))?;
        let prefix: String = line
            .chars()
            .take((p.column as usize).saturating_sub(1))
            .collect();
        let mut search = prefix.as_str();
        while let Some(i) = search.rfind(key) {
            let after = prefix[i + key.len()..].trim_start();
            let before_ok = i == 0
                || !prefix[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_');
            if before_ok && after.starts_with(':') {
                let col = prefix[..i].chars().count() as u32 + 1;
                return Some(Position::new(p.line, col));
            }
            search = &prefix[..i];
        }
        Some(p)
    }

    fn err_key<T>(&self, s: &S<T>, key: &str, msg: impl Into<String>) -> ConfigError {
        ConfigError::invalid(self.key_at(s, key), msg)
    }

    fn duration(&self, v: &Str, key: &str) -> Result<Option<i64>> {
        match v {
            None => Ok(None),
            Some(s) => parse_duration(&s.value)
                .map(Some)
                .map_err(|e| ConfigError::schema(self.key_at(s, key), e.to_string())),
        }
    }

    fn duration_or(&self, v: &Str, key: &str, default: i64) -> Result<i64> {
        Ok(self.duration(v, key)?.unwrap_or(default))
    }

    fn bytes(&self, v: &Str, key: &str) -> Result<Option<u64>> {
        match v {
            None => Ok(None),
            Some(s) => parse_bytes(&s.value)
                .map(Some)
                .map_err(|e| ConfigError::schema(self.key_at(s, key), e)),
        }
    }

    /// Prometheus's `config.JoinDir`: empty and absolute paths stay as they are, others
    /// are joined with the directory and cleaned lexically (Go's `filepath.Join`).
    pub(crate) fn join(&self, p: &str) -> String {
        if p.is_empty() || Path::new(p).is_absolute() {
            p.to_string()
        } else {
            clean_path(&self.dir.join(p))
        }
    }

    fn join_path(&self, p: Option<String>) -> Option<PathBuf> {
        p.filter(|s| !s.is_empty())
            .map(|s| PathBuf::from(self.join(&s)))
    }

    // ---- global -------------------------------------------------------------------

    pub(crate) fn global(&self, raw: Option<S<RawGlobal>>) -> Result<GlobalConfig> {
        let mut g = GlobalConfig::default();
        let Some(raw) = raw else { return Ok(g) };
        let at = pos_of(&raw);
        let r = raw.value;

        if let Some(s) = &r.metric_name_validation_scheme {
            g.metric_name_validation_scheme = validation_scheme(s.value.as_str())
                .ok_or_else(|| {
                    bad_validation_scheme(self.key_at(s, "metric_name_validation_scheme"), &s.value)
                })?
                .unwrap_or(NameValidation::Utf8);
        }
        let mut labels = Vec::new();
        for (name, value) in r.external_labels.iter().flatten() {
            if !g.metric_name_validation_scheme.is_valid_label_name(name) {
                return Err(ConfigError::invalid(
                    self.key_at(value, name),
                    format!("{} is not a valid label name", go_quote(name)),
                ));
            }
            labels.push((name.clone(), expand_env(&value.value)));
        }
        g.external_labels = Labels::from_pairs(labels);

        let interval = self.duration(&r.scrape_interval, "scrape_interval")?;
        let timeout = self.duration(&r.scrape_timeout, "scrape_timeout")?;
        g.scrape_interval = interval.filter(|&v| v != 0).unwrap_or(60_000);
        if let Some(t) = timeout
            && t > g.scrape_interval
        {
            let p = r
                .scrape_timeout
                .as_ref()
                .and_then(|s| self.key_at(s, "scrape_timeout"))
                .or(at);
            return Err(ConfigError::invalid(
                p,
                "global scrape timeout greater than scrape interval",
            ));
        }
        g.scrape_timeout = match timeout {
            Some(t) if t != 0 => t,
            _ => 10_000.min(g.scrape_interval),
        };
        g.evaluation_interval = self
            .duration(&r.evaluation_interval, "evaluation_interval")?
            .filter(|&v| v != 0)
            .unwrap_or(60_000);
        g.rule_query_offset = self.duration_or(&r.rule_query_offset, "rule_query_offset", 0)?;
        if let Some(p) = &r.scrape_protocols {
            g.scrape_protocols = Some(self.protocols(p).map_err(|e| {
                ConfigError::invalid(
                    self.key_at(p, "scrape_protocols"),
                    format!("{e} for global config"),
                )
            })?);
        }
        g.query_log_file = self.join_path(r.query_log_file);
        g.scrape_failure_log_file = self.join_path(r.scrape_failure_log_file);
        g.limits = ScrapeLimits {
            body_size_limit: self
                .bytes(&r.body_size_limit, "body_size_limit")?
                .unwrap_or(0),
            sample_limit: r.sample_limit.unwrap_or(0),
            label_limit: r.label_limit.unwrap_or(0),
            label_name_length_limit: r.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: r.label_value_length_limit.unwrap_or(0),
            target_limit: r.target_limit.unwrap_or(0),
            keep_dropped_targets: r.keep_dropped_targets.unwrap_or(0),
        };
        if let Some(s) = &r.metric_name_escaping_scheme {
            g.metric_name_escaping_scheme = s.value.clone();
        }
        g.scrape_native_histograms = r.scrape_native_histograms.unwrap_or(false);
        g.convert_classic_histograms_to_nhcb =
            r.convert_classic_histograms_to_nhcb.unwrap_or(false);
        g.always_scrape_classic_histograms = r.always_scrape_classic_histograms.unwrap_or(false);
        g.extra_scrape_metrics = r.extra_scrape_metrics.unwrap_or(false);
        Ok(g)
    }

    /// Prometheus's `validateAcceptScrapeProtocols`; the error text lacks the suffix
    /// naming the config.
    fn protocols(
        &self,
        list: &S<Vec<S<String>>>,
    ) -> std::result::Result<Vec<ScrapeProtocol>, String> {
        if list.value.is_empty() {
            return Err("scrape_protocols cannot be empty".into());
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for p in &list.value {
            if !seen.insert(p.value.to_lowercase()) {
                let all: Vec<&str> = list.value.iter().map(|s| s.value.as_str()).collect();
                return Err(format!(
                    "duplicated protocol in scrape_protocols, got [{}]",
                    all.join(" ")
                ));
            }
            out.push(
                ScrapeProtocol::from_name(&p.value)
                    .ok_or_else(|| format!("scrape_protocols: {}", unknown_protocol(&p.value)))?,
            );
        }
        Ok(out)
    }

    // ---- scrape configs -------------------------------------------------------------

    pub(crate) fn scrape(
        &self,
        item: S<Option<RawScrape>>,
        global: &GlobalConfig,
    ) -> Result<ScrapeConfig> {
        let at = pos_of(&item);
        let Some(mut r) = item.value else {
            return Err(ConfigError::invalid(
                at,
                "empty or null scrape config section",
            ));
        };
        let job_name = match &r.job_name {
            Some(j) if !j.value.is_empty() => j.value.clone(),
            _ => {
                let p = r
                    .job_name
                    .as_ref()
                    .and_then(|j| self.key_at(j, "job_name"))
                    .or(at);
                return Err(ConfigError::invalid(p, "job_name is empty"));
            }
        };
        let job = go_quote(&job_name);
        let http = r.take_http();
        let http_client = self.http_client(http, at, true, true)?;
        let untyped = r.untyped_sd().into_iter().map(String::from).collect();
        let (sd, bad_target) = self.service_discovery(
            r.static_configs.take(),
            r.file_sd_configs.take(),
            r.dns_sd_configs.take(),
            r.http_sd_configs.take(),
            untyped,
        )?;
        let relabel_raw = r.relabel_configs.take().unwrap_or_default();
        if let (true, Some(e)) = (relabel_raw.is_empty(), bad_target) {
            return Err(e);
        }
        let relabel_raw = non_null(
            relabel_raw,
            "empty or null target relabeling rule in scrape config",
        )?;
        let metric_raw = non_null(
            r.metric_relabel_configs.take().unwrap_or_default(),
            "empty or null metric relabeling rule in scrape config",
        )?;

        // Validate(): the globals, then the checks.
        let interval = self
            .duration(&r.scrape_interval, "scrape_interval")?
            .filter(|&v| v != 0)
            .unwrap_or(global.scrape_interval);
        let timeout = self
            .duration(&r.scrape_timeout, "scrape_timeout")?
            .unwrap_or(0);
        if timeout > interval {
            let p = r
                .scrape_timeout
                .as_ref()
                .and_then(|s| self.key_at(s, "scrape_timeout"))
                .or(at);
            return Err(ConfigError::invalid(
                p,
                format!(
                    "scrape timeout greater than scrape interval for scrape config with job name {job}"
                ),
            ));
        }
        let scrape_timeout = if timeout == 0 {
            global.scrape_timeout.min(interval)
        } else {
            timeout
        };
        let gl = global.limits;
        let or = |v: Option<u64>, g: u64| v.filter(|&v| v != 0).unwrap_or(g);
        let limits = ScrapeLimits {
            body_size_limit: or(
                self.bytes(&r.body_size_limit, "body_size_limit")?,
                gl.body_size_limit,
            ),
            sample_limit: or(r.sample_limit, gl.sample_limit),
            label_limit: or(r.label_limit, gl.label_limit),
            label_name_length_limit: or(r.label_name_length_limit, gl.label_name_length_limit),
            label_value_length_limit: or(r.label_value_length_limit, gl.label_value_length_limit),
            target_limit: or(r.target_limit, gl.target_limit),
            keep_dropped_targets: or(r.keep_dropped_targets, gl.keep_dropped_targets),
        };
        let scrape_native_histograms = r
            .scrape_native_histograms
            .unwrap_or(global.scrape_native_histograms);
        let scrape_protocols = match &r.scrape_protocols {
            Some(p) => self.protocols(p).map_err(|e| {
                ConfigError::invalid(
                    self.key_at(p, "scrape_protocols"),
                    format!("{e} for scrape config with job name {job}"),
                )
            })?,
            None => match &global.scrape_protocols {
                Some(g) => g.clone(),
                None if scrape_native_histograms => ScrapeProtocol::PROTO_FIRST.to_vec(),
                None => ScrapeProtocol::DEFAULT.to_vec(),
            },
        };
        let fallback_scrape_protocol = match &r.fallback_scrape_protocol {
            Some(s) if !s.value.is_empty() => Some(ScrapeProtocol::from_name(&s.value).ok_or_else(|| {
                self.err_key(
                    s,
                    "fallback_scrape_protocol",
                    format!(
                        "invalid fallback_scrape_protocol for scrape config with job name {job}: {}",
                        unknown_protocol(&s.value)
                    ),
                )
            })?),
            _ => None,
        };

        let (validation, local_unset) = match &r.metric_name_validation_scheme {
            None => (global.metric_name_validation_scheme, true),
            Some(s) => match validation_scheme(&s.value) {
                Some(Some(v)) => (v, false),
                Some(None) => (global.metric_name_validation_scheme, true),
                None => {
                    let at = self.key_at(s, "metric_name_validation_scheme");
                    return Err(bad_validation_scheme(at, &s.value));
                }
            },
        };
        let global_escaping = match global.metric_name_escaping_scheme.as_str() {
            "" if global.metric_name_validation_scheme == NameValidation::Legacy => "underscores",
            "" => "allow-utf-8",
            e @ ("allow-utf-8" | "underscores" | "dots" | "values") => e,
            other => {
                return Err(ConfigError::invalid(
                    at,
                    format!(
                        "unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {}",
                        go_quote(other)
                    ),
                ));
            }
        };
        let escaping_at = r
            .metric_name_escaping_scheme
            .as_ref()
            .and_then(|s| self.key_at(s, "metric_name_escaping_scheme"))
            .or(at);
        let escaping = match r
            .metric_name_escaping_scheme
            .as_ref()
            .map(|s| s.value.as_str())
        {
            None | Some("") if local_unset => global_escaping.to_string(),
            None | Some("") if validation == NameValidation::Legacy => "underscores".into(),
            None | Some("") => "allow-utf-8".into(),
            Some(e) => e.to_string(),
        };
        match escaping.as_str() {
            "allow-utf-8" if validation != NameValidation::Utf8 => {
                return Err(ConfigError::invalid(
                    escaping_at,
                    "utf8 metric names requested but validation scheme is not set to UTF8",
                ));
            }
            "allow-utf-8" | "underscores" | "dots" | "values" => {}
            other => {
                return Err(ConfigError::invalid(
                    escaping_at,
                    format!(
                        "unknown scrape config name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {}",
                        go_quote(other)
                    ),
                ));
            }
        }
        let relabel_configs = self.relabels(relabel_raw, validation)?;
        let metric_relabel_configs = self.relabels(metric_raw, validation)?;

        Ok(ScrapeConfig {
            job_name,
            honor_labels: r.honor_labels.unwrap_or(false),
            honor_timestamps: r.honor_timestamps.unwrap_or(true),
            track_timestamps_staleness: r.track_timestamps_staleness.unwrap_or(false),
            params: r.params.unwrap_or_default(),
            scrape_interval: interval,
            scrape_timeout,
            scrape_protocols,
            fallback_scrape_protocol,
            scrape_native_histograms,
            always_scrape_classic_histograms: r
                .always_scrape_classic_histograms
                .unwrap_or(global.always_scrape_classic_histograms),
            convert_classic_histograms_to_nhcb: r
                .convert_classic_histograms_to_nhcb
                .unwrap_or(global.convert_classic_histograms_to_nhcb),
            extra_scrape_metrics: r
                .extra_scrape_metrics
                .unwrap_or(global.extra_scrape_metrics),
            scrape_failure_log_file: self
                .join_path(r.scrape_failure_log_file)
                .or_else(|| global.scrape_failure_log_file.clone()),
            metrics_path: r
                .metrics_path
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "/metrics".into()),
            scheme: r
                .scheme
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "http".into()),
            enable_compression: r.enable_compression.unwrap_or(true),
            limits,
            native_histogram_bucket_limit: r.native_histogram_bucket_limit.unwrap_or(0),
            native_histogram_min_bucket_factor: r.native_histogram_min_bucket_factor.unwrap_or(0.0),
            metric_name_validation_scheme: validation,
            metric_name_escaping_scheme: escaping,
            http_client,
            service_discovery: sd,
            relabel_configs,
            metric_relabel_configs,
            source_file: None,
        })
    }

    // ---- service discovery ----------------------------------------------------------

    fn service_discovery(
        &self,
        statics: Option<Vec<S<Option<RawStatic>>>>,
        files: Option<Vec<S<Option<RawFileSd>>>>,
        dns: Option<Vec<S<Option<RawDnsSd>>>>,
        https: Option<Vec<S<Option<RawHttpSd>>>>,
        untyped: Vec<String>,
    ) -> Result<(ServiceDiscoveryConfigs, Option<ConfigError>)> {
        let mut sd = ServiceDiscoveryConfigs {
            untyped,
            ..Default::default()
        };
        // Prometheus's checkStaticTargets: reported only when there is no relabelling.
        let mut bad_target = None;
        for item in statics.into_iter().flatten() {
            let Some(r) = item.value else { continue };
            let mut group = StaticConfig::default();
            for t in r.targets.into_iter().flatten() {
                if t.value.contains('/') && bad_target.is_none() {
                    bad_target = Some(ConfigError::invalid(
                        self.key_at(&t, "targets"),
                        format!("{} is not a valid hostname", go_quote(&t.value)),
                    ));
                }
                group.targets.push(t.value);
            }
            for (name, value) in r.labels.into_iter().flatten() {
                if name.is_empty() {
                    return Err(ConfigError::invalid(
                        self.key_at(&value, &name),
                        "invalid name \"\"",
                    ));
                }
                group.labels.insert(name, value.value);
            }
            sd.static_configs.push(group);
        }
        for item in files.into_iter().flatten() {
            let at = pos_of(&item);
            let r = item.value.unwrap_or_default();
            let list = r.files.unwrap_or_default();
            if list.is_empty() {
                return Err(ConfigError::invalid(
                    at,
                    "file service discovery config must contain at least one path name",
                ));
            }
            let mut out = Vec::new();
            for f in list {
                if !file_sd_pattern_ok(&f.value) {
                    return Err(self.err_key(
                        &f,
                        "files",
                        format!(
                            "path name {} is not valid for file discovery",
                            go_quote(&f.value)
                        ),
                    ));
                }
                out.push(self.join(&f.value));
            }
            sd.file_sd_configs.push(FileSdConfig {
                files: out,
                refresh_interval: self.duration_or(
                    &r.refresh_interval,
                    "refresh_interval",
                    300_000,
                )?,
            });
        }
        for item in dns.into_iter().flatten() {
            let at = pos_of(&item);
            let r = item.value.unwrap_or_default();
            let names = r.names.unwrap_or_default();
            if names.is_empty() {
                return Err(ConfigError::invalid(
                    at,
                    "DNS-SD config must contain at least one SRV record name",
                ));
            }
            let port = r.port.unwrap_or(0);
            let kind_at = r.kind.as_ref().and_then(|k| self.key_at(k, "type")).or(at);
            let kind = r
                .kind
                .as_ref()
                .map(|k| k.value.clone())
                .unwrap_or_else(|| "SRV".into());
            let record_type = match kind.to_uppercase().as_str() {
                "SRV" => DnsRecordType::Srv,
                "A" => DnsRecordType::A,
                "AAAA" => DnsRecordType::Aaaa,
                "MX" => DnsRecordType::Mx,
                "NS" => DnsRecordType::Ns,
                _ => {
                    return Err(ConfigError::invalid(
                        kind_at,
                        format!("invalid DNS-SD records type {kind}"),
                    ));
                }
            };
            if record_type != DnsRecordType::Srv && port == 0 {
                return Err(ConfigError::invalid(
                    kind_at,
                    "a port is required in DNS-SD configs for all record types except SRV",
                ));
            }
            sd.dns_sd_configs.push(DnsSdConfig {
                names,
                refresh_interval: self.duration_or(
                    &r.refresh_interval,
                    "refresh_interval",
                    30_000,
                )?,
                record_type,
                port,
            });
        }
        for item in https.into_iter().flatten() {
            let at = pos_of(&item);
            let mut r = item.value.unwrap_or_default();
            let url_at = r.url.as_ref().and_then(|u| self.key_at(u, "url")).or(at);
            let url = r.url.as_ref().map(|u| u.value.clone()).unwrap_or_default();
            if url.is_empty() {
                return Err(ConfigError::invalid(url_at, "URL is missing"));
            }
            check_url(&url).map_err(|m| ConfigError::schema(url_at, m))?;
            let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
            if scheme != "http" && scheme != "https" {
                return Err(ConfigError::invalid(
                    url_at,
                    "URL scheme must be 'http' or 'https'",
                ));
            }
            if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() {
                return Err(ConfigError::invalid(url_at, "host is missing in URL"));
            }
            let refresh_interval =
                self.duration_or(&r.refresh_interval, "refresh_interval", 60_000)?;
            let http_client = self.http_client(r.take_http(), at, true, true)?;
            sd.http_sd_configs.push(HttpSdConfig {
                url,
                refresh_interval,
                http_client,
            });
        }
        Ok((sd, bad_target))
    }

    // ---- relabelling ------------------------------------------------------------------

    fn relabels(
        &self,
        list: Vec<S<RawRelabel>>,
        validation: NameValidation,
    ) -> Result<Vec<RelabelConfig>> {
        list.into_iter()
            .map(|r| self.relabel(r, validation))
            .collect()
    }

    fn relabel(&self, item: S<RawRelabel>, validation: NameValidation) -> Result<RelabelConfig> {
        let at = pos_of(&item);
        let r = item.value;
        let mut c = RelabelConfig::default();
        if let Some(a) = &r.action {
            c.action = Action::parse(&a.value).ok_or_else(|| {
                ConfigError::schema(
                    self.key_at(a, "action"),
                    format!("unknown relabel action {}", go_quote(&a.value)),
                )
            })?;
        }
        if let Some(re) = &r.regex {
            c.regex = Regex::new(&re.value)
                .map_err(|e| ConfigError::schema(self.key_at(re, "regex"), e.to_string()))?;
        }
        for s in r.source_labels.into_iter().flatten() {
            if !validation.is_valid_label_name(&s.value) {
                return Err(ConfigError::schema(
                    self.key_at(&s, "source_labels"),
                    format!("{} is not a valid label name", go_quote(&s.value)),
                ));
            }
            c.source_labels.push(s.value);
        }
        if let Some(s) = r.separator {
            c.separator = s;
        }
        if let Some(m) = r.modulus {
            c.modulus = m;
        }
        if let Some(t) = r.target_label {
            c.target_label = t;
        }
        if let Some(t) = r.replacement {
            c.replacement = t;
        }
        c.validate_with(validation)
            .map_err(|e| ConfigError::invalid(at, e.to_string()))?;
        Ok(c)
    }

    // ---- HTTP client ------------------------------------------------------------------

    /// Prometheus's `HTTPClientConfig.Validate`, plus relative path resolution.
    pub(crate) fn http_client(
        &self,
        r: RawHttp,
        at: Option<Position>,
        follow_redirects: bool,
        enable_http2: bool,
    ) -> Result<HttpClientConfig> {
        let err = |p: Option<Position>, m: &str| ConfigError::invalid(p.or(at), m);
        let bearer = r.bearer_token.filter(|s| !s.is_empty());
        let bearer_file = r.bearer_token_file.filter(|s| !s.is_empty());
        let basic_at = r
            .basic_auth
            .as_ref()
            .and_then(|b| self.key_at(b, "basic_auth"));
        let authz_at = r
            .authorization
            .as_ref()
            .and_then(|b| self.key_at(b, "authorization"));
        let oauth_at = r.oauth2.as_ref().and_then(|b| self.key_at(b, "oauth2"));
        if bearer.is_some() && bearer_file.is_some() {
            return Err(err(
                None,
                "at most one of bearer_token & bearer_token_file must be configured",
            ));
        }
        if (r.basic_auth.is_some() || r.oauth2.is_some())
            && (bearer.is_some() || bearer_file.is_some())
        {
            return Err(err(
                basic_at.or(oauth_at),
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ));
        }
        let mut out = HttpClientConfig {
            follow_redirects: r.follow_redirects.unwrap_or(follow_redirects),
            enable_http2: r.enable_http2.unwrap_or(enable_http2),
            ..HttpClientConfig::default()
        };
        if let Some(b) = &r.basic_auth {
            let b = &b.value;
            let set = |v: &Option<String>| v.as_ref().is_some_and(|s| !s.is_empty());
            if [
                set(&b.username),
                set(&b.username_file),
                set(&b.username_ref),
            ]
            .iter()
            .filter(|x| **x)
            .count()
                > 1
            {
                return Err(err(
                    basic_at,
                    "at most one of basic_auth username, username_file & username_ref must be configured",
                ));
            }
            if [
                set(&b.password),
                set(&b.password_file),
                set(&b.password_ref),
            ]
            .iter()
            .filter(|x| **x)
            .count()
                > 1
            {
                return Err(err(
                    basic_at,
                    "at most one of basic_auth password, password_file & password_ref must be configured",
                ));
            }
            out.basic_auth = Some(BasicAuth {
                username: b.username.clone().unwrap_or_default(),
                username_file: self.join_path(b.username_file.clone()),
                password: b.password.clone().filter(|s| !s.is_empty()).map(Secret),
                password_file: self.join_path(b.password_file.clone()),
            });
        }
        if let Some(a) = &r.authorization {
            let a = &a.value;
            if bearer.is_some() || bearer_file.is_some() {
                return Err(err(
                    authz_at,
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            let set = |v: &Option<String>| v.as_ref().is_some_and(|s| !s.is_empty());
            if [
                set(&a.credentials),
                set(&a.credentials_file),
                set(&a.credentials_ref),
            ]
            .iter()
            .filter(|x| **x)
            .count()
                > 1
            {
                return Err(err(
                    authz_at,
                    "at most one of authorization credentials & credentials_file must be configured",
                ));
            }
            let mut kind = a.kind.clone().unwrap_or_default().trim().to_string();
            if kind.is_empty() {
                kind = "Bearer".into();
            }
            if kind.eq_ignore_ascii_case("basic") {
                return Err(err(
                    authz_at,
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                ));
            }
            if r.basic_auth.is_some() || r.oauth2.is_some() {
                return Err(err(
                    authz_at,
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
            out.authorization = Some(Authorization {
                kind,
                credentials: a.credentials.clone().filter(|s| !s.is_empty()).map(Secret),
                credentials_file: self.join_path(a.credentials_file.clone()),
            });
        } else if bearer.is_some() || bearer_file.is_some() {
            out.authorization = Some(Authorization {
                kind: "Bearer".into(),
                credentials: bearer.map(Secret),
                credentials_file: self.join_path(bearer_file),
            });
        }
        if let Some(o) = r.oauth2 {
            let o_at = self.key_at(&o, "oauth2");
            let o = o.value;
            if r.basic_auth.is_some() {
                return Err(err(
                    o_at,
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
            if o.client_id.as_deref().unwrap_or("").is_empty() {
                return Err(err(o_at, "oauth2 client_id must be configured"));
            }
            let set = |v: &Option<String>| v.as_ref().is_some_and(|s| !s.is_empty());
            if [
                set(&o.client_secret),
                set(&o.client_secret_file),
                set(&o.client_secret_ref),
            ]
            .iter()
            .filter(|x| **x)
            .count()
                > 1
            {
                return Err(err(
                    o_at,
                    "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured",
                ));
            }
            if o.token_url.as_deref().unwrap_or("").is_empty() {
                return Err(err(o_at, "oauth2 token_url must be configured"));
            }
            let proxy = self.proxy(
                o.proxy_url,
                o.no_proxy,
                o.proxy_from_environment,
                o.proxy_connect_header,
                o_at,
            )?;
            out.oauth2 = Some(OAuth2 {
                client_id: o.client_id.unwrap_or_default(),
                client_secret: o.client_secret.filter(|s| !s.is_empty()).map(Secret),
                client_secret_file: self.join_path(o.client_secret_file),
                scopes: o.scopes.unwrap_or_default(),
                token_url: o.token_url.unwrap_or_default(),
                endpoint_params: o.endpoint_params.unwrap_or_default(),
                tls_config: match o.tls_config {
                    Some(t) => self.tls(t)?,
                    None => TlsConfig::default(),
                },
                proxy,
            });
        }
        out.proxy = self.proxy(
            r.proxy_url,
            r.no_proxy,
            r.proxy_from_environment,
            r.proxy_connect_header,
            at,
        )?;
        if let Some(t) = r.tls_config {
            out.tls_config = self.tls(t)?;
        }
        for (name, h) in r.http_headers.into_iter().flatten() {
            out.http_headers.insert(
                name,
                HttpHeader {
                    values: h.values.unwrap_or_default(),
                    secrets: h
                        .secrets
                        .unwrap_or_default()
                        .into_iter()
                        .map(Secret)
                        .collect(),
                    files: h
                        .files
                        .unwrap_or_default()
                        .iter()
                        .map(|f| PathBuf::from(self.join(f)))
                        .collect(),
                },
            );
        }
        Ok(out)
    }

    fn proxy(
        &self,
        url: Str,
        no_proxy: Option<String>,
        from_env: Option<bool>,
        connect_header: Option<BTreeMap<String, Vec<String>>>,
        at: Option<Position>,
    ) -> Result<ProxyConfig> {
        let p = ProxyConfig {
            proxy_url: url
                .as_ref()
                .map(|u| u.value.clone())
                .filter(|s| !s.is_empty()),
            no_proxy: no_proxy.filter(|s| !s.is_empty()),
            proxy_from_environment: from_env.unwrap_or(false),
            proxy_connect_header: connect_header.unwrap_or_default(),
        };
        let at = url
            .as_ref()
            .and_then(|u| self.key_at(u, "proxy_url"))
            .or(at);
        if let Some(u) = &p.proxy_url {
            check_url(u).map_err(|m| ConfigError::schema(at, m))?;
        }
        let e = |m: &str| Err(ConfigError::invalid(at, m));
        if !p.proxy_connect_header.is_empty() && !p.proxy_from_environment && p.proxy_url.is_none()
        {
            return e(
                "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
            );
        }
        if p.proxy_from_environment && p.proxy_url.is_some() {
            return e("if proxy_from_environment is configured, proxy_url must not be configured");
        }
        if p.proxy_from_environment && p.no_proxy.is_some() {
            return e("if proxy_from_environment is configured, no_proxy must not be configured");
        }
        if p.proxy_url.is_none() && p.no_proxy.is_some() {
            return e("if no_proxy is configured, proxy_url must also be configured");
        }
        Ok(p)
    }

    /// Prometheus's `TLSConfig.Validate`, plus relative path resolution.
    pub(crate) fn tls(&self, t: S<RawTls>) -> Result<TlsConfig> {
        let at = self.key_at(&t, "tls_config");
        let t = t.value;
        let set = |v: &Option<String>| v.as_ref().is_some_and(|s| !s.is_empty());
        let count = |a, b, c| [a, b, c].iter().filter(|x: &&bool| **x).count();
        let e = |m: &str| Err(ConfigError::invalid(at, m));
        if count(set(&t.ca), set(&t.ca_file), set(&t.ca_ref)) > 1 {
            return e("at most one of ca, ca_file & ca_ref must be configured");
        }
        if count(set(&t.cert), set(&t.cert_file), set(&t.cert_ref)) > 1 {
            return e("at most one of cert, cert_file & cert_ref must be configured");
        }
        if count(set(&t.key), set(&t.key_file), set(&t.key_ref)) > 1 {
            return e("at most one of key and key_file must be configured");
        }
        let cert = set(&t.cert) || set(&t.cert_file) || set(&t.cert_ref);
        let key = set(&t.key) || set(&t.key_file) || set(&t.key_ref);
        if cert && !key {
            return e(
                "exactly one of key or key_file must be configured when a client certificate is configured",
            );
        }
        if key && !cert {
            return e(
                "exactly one of cert or cert_file must be configured when a client key is configured",
            );
        }
        let version = |v: &Str| -> Result<Option<TlsVersion>> {
            let Some(v) = v else { return Ok(None) };
            Ok(Some(match v.value.as_str() {
                "TLS10" => TlsVersion::Tls10,
                "TLS11" => TlsVersion::Tls11,
                "TLS12" => TlsVersion::Tls12,
                "TLS13" => TlsVersion::Tls13,
                other => {
                    return Err(ConfigError::schema(
                        pos_of(v),
                        format!("unknown TLS version: {other}"),
                    ));
                }
            }))
        };
        Ok(TlsConfig {
            ca: t.ca.clone().filter(|s| !s.is_empty()),
            ca_file: self.join_path(t.ca_file.clone()),
            cert: t.cert.clone().filter(|s| !s.is_empty()),
            cert_file: self.join_path(t.cert_file.clone()),
            key: t.key.clone().filter(|s| !s.is_empty()).map(Secret),
            key_file: self.join_path(t.key_file.clone()),
            server_name: t.server_name.clone().filter(|s| !s.is_empty()),
            insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
            min_version: version(&t.min_version)?,
            max_version: version(&t.max_version)?,
        })
    }

    // ---- alerting -----------------------------------------------------------------------

    pub(crate) fn alerting(
        &self,
        raw: Option<RawAlerting>,
        validation: NameValidation,
    ) -> Result<AlertingConfig> {
        let Some(r) = raw else {
            return Ok(AlertingConfig::default());
        };
        let mut out = AlertingConfig::default();
        let arc = non_null(
            r.alert_relabel_configs.unwrap_or_default(),
            "empty or null alert relabeling rule",
        )?;
        let mut ams = Vec::new();
        for item in r.alertmanagers.into_iter().flatten() {
            let at = pos_of(&item);
            let mut a = item.value.unwrap_or_default();
            if let Some(v) = &a.api_version
                && v.value != "v2"
            {
                return Err(ConfigError::schema(
                    self.key_at(v, "api_version"),
                    format!(
                        "expected Alertmanager api version to be one of [v2] but got {}",
                        v.value
                    ),
                ));
            }
            let http_raw = a.take_http();
            let auth = http_raw.basic_auth.is_some()
                || http_raw.authorization.is_some()
                || http_raw.oauth2.is_some();
            let http_client = self.http_client(http_raw, at, true, true)?;
            if auth && a.sigv4.is_some() {
                return Err(ConfigError::invalid(
                    at,
                    "at most one of basic_auth, authorization, oauth2, & sigv4 must be configured",
                ));
            }
            let untyped = a.untyped_sd().into_iter().map(String::from).collect();
            let (sd, bad_target) = self.service_discovery(
                a.static_configs.take(),
                a.file_sd_configs.take(),
                a.dns_sd_configs.take(),
                a.http_sd_configs.take(),
                untyped,
            )?;
            let rc = a.relabel_configs.take().unwrap_or_default();
            if let (true, Some(e)) = (rc.is_empty(), bad_target) {
                return Err(e);
            }
            let rc = non_null(rc, "empty or null Alertmanager target relabeling rule")?;
            let arc = non_null(
                a.alert_relabel_configs.take().unwrap_or_default(),
                "empty or null Alertmanager alert relabeling rule",
            )?;
            ams.push((a, at, http_client, sd, rc, arc));
        }
        out.alert_relabel_configs = self.relabels(arc, validation)?;
        for (a, _at, http_client, service_discovery, rc, arc) in ams {
            let untyped_auth = if a.sigv4.is_some() {
                vec!["sigv4".to_string()]
            } else {
                Vec::new()
            };
            out.alertmanagers.push(AlertmanagerConfig {
                scheme: a
                    .scheme
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "http".into()),
                path_prefix: a.path_prefix.unwrap_or_default(),
                timeout: self.duration_or(&a.timeout, "timeout", 10_000)?,
                api_version: "v2".into(),
                http_client,
                service_discovery,
                alert_relabel_configs: self.relabels(arc, validation)?,
                relabel_configs: self.relabels(rc, validation)?,
                untyped_auth,
            });
        }
        Ok(out)
    }

    // ---- remote write / read ------------------------------------------------------------

    pub(crate) fn remote_write(
        &self,
        item: S<Option<RawRemoteWrite>>,
        validation: NameValidation,
    ) -> Result<RemoteWriteConfig> {
        let at = pos_of(&item);
        let Some(mut r) = item.value else {
            return Err(ConfigError::invalid(
                at,
                "empty or null remote write config section",
            ));
        };
        let url = match &r.url {
            Some(u) if !u.value.is_empty() => {
                check_url(&u.value).map_err(|m| ConfigError::schema(self.key_at(u, "url"), m))?;
                u.value.clone()
            }
            _ => return Err(ConfigError::invalid(at, "url for remote_write is empty")),
        };
        let wrc = non_null(
            r.write_relabel_configs.take().unwrap_or_default(),
            "empty or null relabeling rule in remote write config",
        )?;
        let headers = r.headers.take().unwrap_or_default();
        validate_headers(&headers).map_err(|m| ConfigError::invalid(at, m))?;
        let protobuf_message = match r.protobuf_message.as_ref().map(|s| s.value.as_str()) {
            None | Some("") | Some("prometheus.WriteRequest") => ProtobufMessage::V1,
            Some("io.prometheus.write.v2.Request") => ProtobufMessage::V2,
            Some(other) => {
                return Err(ConfigError::invalid(
                    r.protobuf_message
                        .as_ref()
                        .and_then(|s| self.key_at(s, "protobuf_message")),
                    format!(
                        "invalid protobuf_message value: unknown remote write protobuf message {other}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
                    ),
                ));
            }
        };
        let http_raw = r.take_http();
        let mut auth = Vec::new();
        for (set, name) in [
            (http_raw.basic_auth.is_some(), "basic_auth"),
            (http_raw.authorization.is_some(), "authorization"),
            (http_raw.oauth2.is_some(), "oauth2"),
            (r.sigv4.is_some(), "sigv4"),
            (r.azuread.is_some(), "azuread"),
            (r.google_iam.is_some(), "google_iam"),
        ] {
            if set {
                auth.push(name);
            }
        }
        let http_client = self.http_client(http_raw, at, true, false)?;
        if auth.len() > 1 {
            return Err(ConfigError::invalid(
                at,
                format!(
                    "at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam must be configured. Currently configured: [{}]",
                    auth.join(" ")
                ),
            ));
        }
        let q = r.queue_config.take().unwrap_or_default();
        let d = QueueConfig::default();
        let queue_config = QueueConfig {
            capacity: q.capacity.unwrap_or(d.capacity),
            max_shards: q.max_shards.unwrap_or(d.max_shards),
            min_shards: q.min_shards.unwrap_or(d.min_shards),
            max_samples_per_send: q.max_samples_per_send.unwrap_or(d.max_samples_per_send),
            batch_send_deadline: self.duration_or(
                &q.batch_send_deadline,
                "batch_send_deadline",
                d.batch_send_deadline,
            )?,
            min_backoff: self.duration_or(&q.min_backoff, "min_backoff", d.min_backoff)?,
            max_backoff: self.duration_or(&q.max_backoff, "max_backoff", d.max_backoff)?,
            retry_on_http_429: q.retry_on_http_429.unwrap_or(false),
            sample_age_limit: self.duration_or(&q.sample_age_limit, "sample_age_limit", 0)?,
        };
        let m = r.metadata_config.take().unwrap_or_default();
        let md = MetadataConfig::default();
        let metadata_config = MetadataConfig {
            send: m.send.unwrap_or(md.send),
            send_interval: self.duration_or(&m.send_interval, "send_interval", md.send_interval)?,
            max_samples_per_send: m.max_samples_per_send.unwrap_or(md.max_samples_per_send),
        };
        let untyped_auth = auth
            .iter()
            .filter(|a| ["sigv4", "azuread", "google_iam"].contains(a))
            .map(|s| s.to_string())
            .collect();
        Ok(RemoteWriteConfig {
            url,
            name: r.name.take().unwrap_or_default(),
            remote_timeout: self.duration_or(&r.remote_timeout, "remote_timeout", 30_000)?,
            headers,
            write_relabel_configs: self.relabels(wrc, validation)?,
            send_exemplars: r.send_exemplars.unwrap_or(false),
            send_native_histograms: r.send_native_histograms.unwrap_or(false),
            round_robin_dns: r.round_robin_dns.unwrap_or(false),
            protobuf_message,
            queue_config,
            metadata_config,
            http_client,
            untyped_auth,
        })
    }

    pub(crate) fn remote_read(&self, item: S<Option<RawRemoteRead>>) -> Result<RemoteReadConfig> {
        let at = pos_of(&item);
        let Some(mut r) = item.value else {
            return Err(ConfigError::invalid(
                at,
                "empty or null remote read config section",
            ));
        };
        let url = match &r.url {
            Some(u) if !u.value.is_empty() => {
                check_url(&u.value).map_err(|m| ConfigError::schema(self.key_at(u, "url"), m))?;
                u.value.clone()
            }
            _ => return Err(ConfigError::invalid(at, "url for remote_read is empty")),
        };
        let headers = r.headers.take().unwrap_or_default();
        validate_headers(&headers).map_err(|m| ConfigError::invalid(at, m))?;
        let http_client = self.http_client(r.take_http(), at, true, true)?;
        Ok(RemoteReadConfig {
            url,
            name: r.name.unwrap_or_default(),
            remote_timeout: self.duration_or(&r.remote_timeout, "remote_timeout", 60_000)?,
            chunked_read_limit: r
                .chunked_read_limit
                .filter(|&v| v != 0)
                .unwrap_or(50_000_000),
            headers,
            read_recent: r.read_recent.unwrap_or(false),
            required_matchers: r.required_matchers.unwrap_or_default(),
            filter_external_labels: r.filter_external_labels.unwrap_or(true),
            http_client,
        })
    }

    // ---- storage, tracing, otlp -------------------------------------------------------

    pub(crate) fn storage(&self, raw: Option<RawStorage>) -> Result<StorageConfig> {
        let mut s = StorageConfig::default();
        let Some(r) = raw else { return Ok(s) };
        if let Some(t) = r.tsdb {
            s.out_of_order_time_window =
                self.duration_or(&t.out_of_order_time_window, "out_of_order_time_window", 0)?;
            if let Some(ret) = t.retention {
                s.retention_time = self.duration(&ret.time, "time")?;
                s.retention_size = self.bytes(&ret.size, "size")?;
            }
        }
        if let Some(e) = r.exemplars
            && let Some(m) = e.max_exemplars
        {
            s.max_exemplars = m;
        }
        Ok(s)
    }

    pub(crate) fn tracing(&self, raw: Option<S<RawTracing>>) -> Result<Option<TracingConfig>> {
        let Some(raw) = raw else { return Ok(None) };
        let at = self.key_at(&raw, "tracing");
        let r = raw.value;
        let client_type = match &r.client_type {
            None => "grpc".to_string(),
            Some(c) if c.value == "grpc" || c.value == "http" => c.value.clone(),
            Some(c) => {
                return Err(ConfigError::schema(
                    self.key_at(c, "client_type"),
                    format!(
                        "expected tracing client type to be to be http or grpc, but got {}",
                        c.value
                    ),
                ));
            }
        };
        let headers = r.headers.unwrap_or_default();
        for h in headers.keys() {
            let l = h.to_lowercase();
            if l == "authorization" {
                return Err(ConfigError::invalid(
                    at,
                    "custom authorization header configuration is not yet supported",
                ));
            }
            if RESERVED_HEADERS.contains(&l.as_str()) {
                return Err(ConfigError::invalid(
                    at,
                    format!("{h} is a reserved header. It must not be changed"),
                ));
            }
        }
        let endpoint = r.endpoint.unwrap_or_default();
        if endpoint.is_empty() {
            return Err(ConfigError::invalid(at, "tracing endpoint must be set"));
        }
        let compression = r.compression.unwrap_or_default();
        if !compression.is_empty() && compression != "gzip" {
            return Err(ConfigError::invalid(
                at,
                format!("invalid compression type {compression} provided, valid options: gzip"),
            ));
        }
        Ok(Some(TracingConfig {
            client_type,
            endpoint,
            sampling_fraction: r.sampling_fraction.unwrap_or(0.0),
            insecure: r.insecure.unwrap_or(false),
            tls_config: match r.tls_config {
                Some(t) => self.tls(t)?,
                None => TlsConfig::default(),
            },
            headers,
            compression,
            timeout: self.duration_or(&r.timeout, "timeout", 0)?,
        }))
    }

    pub(crate) fn otlp(
        &self,
        raw: Option<S<RawOtlp>>,
        validation: NameValidation,
    ) -> Result<OtlpConfig> {
        let mut o = OtlpConfig::default();
        let Some(raw) = raw else { return Ok(o) };
        let at = self.key_at(&raw, "otlp");
        let r = raw.value;
        o.promote_all_resource_attributes = r.promote_all_resource_attributes.unwrap_or(false);
        o.promote_resource_attributes = r.promote_resource_attributes.unwrap_or_default();
        o.ignore_resource_attributes = r.ignore_resource_attributes.unwrap_or_default();
        if o.promote_all_resource_attributes {
            if !o.promote_resource_attributes.is_empty() {
                return Err(ConfigError::invalid(
                    at,
                    "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
                ));
            }
        } else if !o.ignore_resource_attributes.is_empty() {
            return Err(ConfigError::invalid(
                at,
                "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true",
            ));
        }
        if let Some(t) = r.translation_strategy.filter(|s| !s.is_empty()) {
            match t.as_str() {
                "UnderscoreEscapingWithSuffixes" | "UnderscoreEscapingWithoutSuffixes" => {}
                "NoTranslation" | "NoUTF8EscapingWithSuffixes" => {
                    if validation == NameValidation::Legacy {
                        return Err(ConfigError::invalid(
                            at,
                            format!(
                                "OTLP translation strategy {} is not allowed when UTF8 is disabled",
                                go_quote(&t)
                            ),
                        ));
                    }
                }
                _ => {
                    return Err(ConfigError::invalid(
                        at,
                        format!("unsupported OTLP translation strategy {}", go_quote(&t)),
                    ));
                }
            }
            o.translation_strategy = t;
        }
        o.keep_identifying_resource_attributes =
            r.keep_identifying_resource_attributes.unwrap_or(false);
        o.convert_histograms_to_nhcb = r.convert_histograms_to_nhcb.unwrap_or(false);
        o.promote_scope_metadata = r.promote_scope_metadata.unwrap_or(false);
        o.label_name_underscore_sanitization = r.label_name_underscore_sanitization.unwrap_or(true);
        o.label_name_preserve_multiple_underscores =
            r.label_name_preserve_multiple_underscores.unwrap_or(true);
        Ok(o)
    }

    /// Checks a `rule_files` / `scrape_config_files` pattern: at most one `*`, and only in
    /// the last path element.
    pub(crate) fn file_patterns(
        &self,
        list: Option<Vec<S<String>>>,
        what: &str,
        key: &str,
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for p in list.into_iter().flatten() {
            if !rule_path_ok(&p.value) {
                return Err(self.err_key(
                    &p,
                    key,
                    format!("invalid {what} path {}", go_quote(&p.value)),
                ));
            }
            out.push(self.join(&p.value));
        }
        Ok(out)
    }
}

const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

fn validate_headers(headers: &BTreeMap<String, String>) -> std::result::Result<(), String> {
    for h in headers.keys() {
        let l = h.to_lowercase();
        if l == "authorization" {
            return Err("authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter".into());
        }
        if RESERVED_HEADERS.contains(&l.as_str()) {
            return Err(format!("{h} is a reserved header. It must not be changed"));
        }
    }
    Ok(())
}

/// `^[^*]*(\*[^/]*)?$`
fn rule_path_ok(p: &str) -> bool {
    match p.find('*') {
        None => true,
        Some(i) => !p[i + 1..].contains(['*', '/']),
    }
}

/// `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`
fn file_sd_pattern_ok(p: &str) -> bool {
    let ext_ok = ["json", "yml", "yaml", "JSON", "YML", "YAML"]
        .iter()
        .any(|e| p.len() > e.len() && p.ends_with(e) && p[..p.len() - e.len()].ends_with('.'));
    ext_ok && rule_path_ok(p)
}

fn unknown_protocol(p: &str) -> String {
    let all: Vec<&str> = ScrapeProtocol::ALL.iter().map(|p| p.name()).collect();
    format!(
        "unknown scrape protocol {p}, supported: [{}]",
        all.join(" ")
    )
}

/// `Some(None)` for the empty string (unset), `None` for an unknown scheme.
fn validation_scheme(s: &str) -> Option<Option<NameValidation>> {
    match s {
        "" => Some(None),
        "utf8" => Some(Some(NameValidation::Utf8)),
        "legacy" => Some(Some(NameValidation::Legacy)),
        _ => None,
    }
}

fn bad_validation_scheme(at: Option<Position>, s: &str) -> ConfigError {
    ConfigError::schema(
        at,
        format!("unrecognized ValidationScheme: {}", go_quote(s)),
    )
}

fn non_null<T>(list: Vec<S<Option<T>>>, msg: &str) -> Result<Vec<S<T>>> {
    list.into_iter()
        .map(|s| {
            let at = pos_of(&s);
            match s.value {
                Some(v) => Ok(S::new(v, s.referenced, s.defined)),
                None => Err(ConfigError::invalid(at, msg)),
            }
        })
        .collect()
}

/// Go's `os.Expand` with the environment, as Prometheus applies it to external label
/// values: `$NAME` and `${NAME}`; `$$` is a literal `$`; unset variables expand to "".
pub(crate) fn expand_env(s: &str) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let lookup = |name: &str| -> String {
        if name == "$" {
            return "$".into();
        }
        std::env::var(name).unwrap_or_default()
    };
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            out.push_str(&s[last..i]);
            let rest = &s[i + 1..];
            let (name, width) = if let Some(inner) = rest.strip_prefix('{') {
                match inner.find('}') {
                    Some(0) | None => ("", 1), // Go: bad syntax, eat "${"
                    Some(end) => (&inner[..end], end + 2),
                }
            } else if rest.starts_with(|c: char| "*#$@!?-".contains(c) || c.is_ascii_digit()) {
                (&rest[..1], 1)
            } else {
                let n = rest
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                if n == 0 { ("", 0) } else { (&rest[..n], n) }
            };
            if name.is_empty() && width == 0 {
                out.push('$');
            } else if !name.is_empty() {
                out.push_str(&lookup(name));
            }
            i += 1 + width;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[last..]);
    out
}

/// Go's `filepath.Clean`: drops `.` elements and resolves `..` against the element
/// before it, lexically.
pub(crate) fn clean_path(p: &Path) -> String {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        return ".".into();
    }
    out.iter()
        .collect::<PathBuf>()
        .to_string_lossy()
        .into_owned()
}

/// The errors Go's `url.Parse` gives for the inputs people actually mistype, with its
/// wording: control characters, a missing scheme, a colon in the first path segment,
/// bad characters in the host name, a non-numeric port.
pub(crate) fn check_url(s: &str) -> std::result::Result<(), String> {
    let fail = |why: String| Err(format!("parse {}: {why}", go_quote(s)));
    if s.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return fail("net/url: invalid control character in URL".into());
    }
    let mut rest = s;
    let mut has_scheme = false;
    for (i, c) in s.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return fail("missing protocol scheme".into()),
            ':' => {
                has_scheme = true;
                rest = &s[i + 1..];
                break;
            }
            _ => break,
        }
    }
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    if !has_scheme && rest.split('/').next().unwrap_or("").contains(':') {
        return fail("first path segment in URL cannot contain colon".into());
    }
    if let Some(auth) = rest.strip_prefix("//") {
        let auth = auth.split('/').next().unwrap_or("");
        let host = auth.rsplit('@').next().unwrap_or("");
        if !host.starts_with('[') {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:%".contains(c);
            if let Some(bad) = host.chars().find(|c| !allowed(*c)) {
                let bad = go_quote(&bad.to_string());
                return fail(format!("invalid character {bad} in host name"));
            }
            if let Some((_, port)) = host.rsplit_once(':')
                && !port.bytes().all(|c| c.is_ascii_digit())
            {
                return fail(format!(
                    "invalid port {} after host",
                    go_quote(&format!(":{port}"))
                ));
            }
        }
    }
    Ok(())
}
