//! What the server tells the HTTP API about itself: build and runtime information, flags,
//! configuration, targets and scrape pools, blocks, in Prometheus's JSON shapes.

use std::collections::BTreeMap;
use std::sync::Arc;

use narthex_http_api::{ApiError, ErrorType, Params, ProviderResult, RawJson, StatusProvider};
use narthex_model::Labels;
use serde::Serialize;

use crate::run::Server;

/// The provider: reads snapshots of the running server.
pub(crate) struct ServerStatus(pub(crate) Arc<Server>);

pub(crate) fn json<T: Serialize>(v: &T) -> ProviderResult {
    RawJson::from_serialize(v)
        .map(Some)
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))
}

fn label_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|x| (x.name.to_string(), x.value.to_string()))
        .collect()
}

/// RFC 3339 in UTC as Go's `time.Time` marshals; Go's zero time for `None`.
pub(crate) fn rfc3339(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "0001-01-01T00:00:00Z".to_string(),
        narthex_model::time::format_rfc3339,
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveTargetJson {
    discovered_labels: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    scrape_pool: String,
    scrape_url: String,
    global_url: String,
    last_error: String,
    last_scrape: String,
    last_scrape_duration: f64,
    health: &'static str,
    scrape_interval: String,
    scrape_timeout: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedTargetJson {
    discovered_labels: BTreeMap<String, String>,
    scrape_pool: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetsJson {
    active_targets: Vec<ActiveTargetJson>,
    dropped_targets: Vec<DroppedTargetJson>,
    dropped_target_counts: BTreeMap<String, usize>,
}

/// Runs `f` on a scrape manager if it is free right now (handlers must not block; a
/// reload holds it only briefly).
pub(crate) fn with_scrape<T>(
    m: &tokio::sync::Mutex<narthex_scrape::ScrapeManager>,
    f: impl FnOnce(&narthex_scrape::ScrapeManager) -> T,
) -> Option<T> {
    for _ in 0..1000 {
        if let Ok(m) = m.try_lock() {
            return Some(f(&m));
        }
        std::thread::yield_now();
    }
    None
}

/// `/api/v1/targets` over a scrape manager (server and agent).
pub(crate) fn targets(
    scrape: &tokio::sync::Mutex<narthex_scrape::ScrapeManager>,
    params: &Params,
) -> ProviderResult {
    let state = params.get("state").unwrap_or("any").to_ascii_lowercase();
    let pool_filter = params.get("scrapePool").filter(|p| !p.is_empty());
    let Some(out) = with_scrape(scrape, |m| {
        let mut out = TargetsJson {
            active_targets: Vec::new(),
            dropped_targets: Vec::new(),
            dropped_target_counts: BTreeMap::new(),
        };
        for p in m.pools() {
            let job = &p.options().job;
            if pool_filter.is_some_and(|f| f != job) {
                continue;
            }
            out.dropped_target_counts
                .insert(job.clone(), p.dropped_targets().len());
            if state == "any" || state == "active" {
                for t in p.active_targets() {
                    out.active_targets.push(ActiveTargetJson {
                        discovered_labels: label_map(&t.target.discovered),
                        labels: label_map(&t.target.labels),
                        scrape_pool: t.scrape_pool.clone(),
                        scrape_url: t.target.url.clone(),
                        global_url: t.target.url.clone(),
                        last_error: t.status.last_error.clone(),
                        last_scrape: rfc3339(t.status.last_scrape),
                        last_scrape_duration: t.status.last_duration,
                        health: t.status.health.as_str(),
                        scrape_interval: narthex_model::format_duration(t.target.interval),
                        scrape_timeout: narthex_model::format_duration(t.target.timeout),
                    });
                }
            }
            if state == "any" || state == "dropped" {
                for d in p.dropped_targets() {
                    out.dropped_targets.push(DroppedTargetJson {
                        discovered_labels: label_map(&d.discovered),
                        scrape_pool: d.scrape_pool.clone(),
                    });
                }
            }
        }
        out
    }) else {
        return Ok(None);
    };
    json(&out)
}

impl StatusProvider for ServerStatus {
    fn build_info(&self) -> ProviderResult {
        let v: BTreeMap<&str, &str> = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", ""),
            ("branch", ""),
            ("buildUser", ""),
            ("buildDate", ""),
            ("goVersion", "rustc"),
        ]
        .into_iter()
        .collect();
        json(&v)
    }

    fn runtime_info(&self) -> ProviderResult {
        #[derive(Serialize)]
        #[allow(non_snake_case)]
        struct Info {
            startTime: String,
            CWD: String,
            reloadConfigSuccess: bool,
            lastConfigTime: String,
            corruptionCount: usize,
            goroutineCount: usize,
            GOMAXPROCS: usize,
            GOMEMLIMIT: i64,
            GOGC: String,
            GODEBUG: String,
            storageRetention: String,
        }
        let ms = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .ok()
        };
        let s = &self.0;
        let o = s.db.options();
        let mut retention = Vec::new();
        if o.retention_duration > 0 {
            retention.push(narthex_model::format_duration(o.retention_duration));
        }
        if o.max_bytes > 0 {
            retention.push(format!("{}B", o.max_bytes));
        }
        json(&Info {
            startTime: rfc3339(ms(s.started)),
            CWD: std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reloadConfigSuccess: s.last_reload_ok.load(std::sync::atomic::Ordering::Relaxed),
            lastConfigTime: rfc3339(Some(
                s.last_reload_ms.load(std::sync::atomic::Ordering::Relaxed),
            )),
            corruptionCount: s.db.corrupt_blocks().len(),
            goroutineCount: 0,
            GOMAXPROCS: std::thread::available_parallelism().map_or(1, |n| n.get()),
            GOMEMLIMIT: i64::MAX,
            GOGC: String::new(),
            GODEBUG: String::new(),
            storageRetention: if retention.is_empty() {
                "unlimited".into()
            } else {
                retention.join(" or ")
            },
        })
    }

    fn flags(&self) -> ProviderResult {
        json(&self.0.args.flag_map())
    }

    fn config(&self) -> ProviderResult {
        config_yaml(self.0.config_file.as_deref())
    }

    fn tsdb_status(&self, params: &Params) -> ProviderResult {
        let limit = match params.get("limit") {
            None | Some("") => 10,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(ApiError::new(
                        ErrorType::BadData,
                        "limit must be a positive number",
                    ));
                }
            },
        };
        let s = self.0.db.head_stats(limit);
        let list = |v: &[(String, u64)]| {
            v.iter()
                .map(|(n, c)| serde_json::json!({"name": n, "value": c}))
                .collect::<Vec<_>>()
        };
        json(&serde_json::json!({
            "headStats": {
                "numSeries": s.num_series,
                "numLabelPairs": s.num_label_pairs,
                "chunkCount": s.chunk_count,
                "minTime": s.min_time,
                "maxTime": s.max_time,
            },
            "seriesCountByMetricName": list(&s.series_count_by_metric_name),
            "labelValueCountByLabelName": list(&s.label_value_count_by_label_name),
            "memoryInBytesByLabelName": list(&s.memory_in_bytes_by_label_name),
            "seriesCountByLabelValuePair": list(&s.series_count_by_label_value_pair),
        }))
    }

    fn tsdb_blocks(&self) -> ProviderResult {
        let blocks: Vec<_> = self.0.db.blocks().iter().map(|b| b.meta()).collect();
        json(&BTreeMap::from([("blocks", blocks)]))
    }

    fn targets(&self, params: &Params) -> ProviderResult {
        targets(&self.0.scrape, params)
    }

    fn rules(&self, params: &Params) -> ProviderResult {
        let filter = narthex_rules::api::RulesFilter::from_params(
            |n| params.value(n),
            |n| params.get_all(n),
        )
        .map_err(|(name, msg)| narthex_http_api::ApiError::invalid_param(name, msg))?;
        let groups = self.0.rules.groups();
        json(&narthex_rules::api::rules_json_filtered(
            groups.iter().map(|g| &**g),
            &filter,
        ))
    }

    fn alerts(&self) -> ProviderResult {
        let groups = self.0.rules.groups();
        json(&narthex_rules::api::alerts_json(
            groups.iter().map(|g| &**g),
        ))
    }

    fn alertmanagers(&self) -> ProviderResult {
        let active: Vec<_> = self
            .0
            .notifier
            .alertmanagers()
            .into_iter()
            .map(|url| BTreeMap::from([("url", url)]))
            .collect();
        json(&serde_json::json!({"activeAlertmanagers": active, "droppedAlertmanagers": []}))
    }

    fn scrape_pools(&self) -> ProviderResult {
        scrape_pools(&self.0.scrape)
    }
}

/// `/api/v1/scrape_pools` over a scrape manager (server and agent).
pub(crate) fn scrape_pools(
    scrape: &tokio::sync::Mutex<narthex_scrape::ScrapeManager>,
) -> ProviderResult {
    let Some(mut pools) = with_scrape(scrape, |m| {
        m.pools()
            .map(|p| p.options().job.clone())
            .collect::<Vec<_>>()
    }) else {
        return Ok(None);
    };
    pools.sort();
    json(&BTreeMap::from([("scrapePools", pools)]))
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn times_as_go_marshals_them() {
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(1_700_000_000_123)), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(Some(951_782_400_000)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(Some(-1)), "1969-12-31T23:59:59.999Z");
    }
}

/// `/api/v1/status/config` for the server and the agent: the configuration file (or the
/// embedded one) with every secret shown as `<secret>`, as Prometheus shows it.
pub(crate) fn config_yaml(file: Option<&std::path::Path>) -> ProviderResult {
    let yaml = match file {
        Some(p) => std::fs::read_to_string(p).unwrap_or_default(),
        None => crate::run::DEFAULT_CONFIG.to_string(),
    };
    json(&BTreeMap::from([("yaml", redact_secrets(&yaml))]))
}

/// Keys whose values are secrets in Prometheus's configuration (passwords, tokens,
/// credentials, inline TLS keys, `http_headers` secrets, cloud keys).
const SECRET_KEYS: &[&str] = &[
    "password",
    "credentials",
    "bearer_token",
    "client_secret",
    "secret_key",
    "key",
    "token",
    "secrets",
    "api_key",
    "auth_token",
    "private_key",
];

/// The YAML text with the value of every [`SECRET_KEYS`] key replaced by `<secret>`:
/// plain, quoted and block values (and the list under `secrets:`) in block style, and
/// `key: value` inside flow mappings (`{username: u, password: p}`). Everything else,
/// comments and layout included, is kept.
pub(crate) fn redact_secrets(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len());
    // While set: the column of a redacted key whose value continues on the lines below.
    let mut hiding: Option<usize> = None;
    for line in yaml.split_inclusive('\n') {
        let text = line.trim_end_matches(['\n', '\r']);
        let indent = text.len() - text.trim_start().len();
        let content = text.trim_start();
        if let Some(col) = hiding {
            let deeper = indent > col || (indent == col && content.starts_with('-'));
            if content.is_empty() || content.starts_with('#') || deeper {
                continue;
            }
            hiding = None;
        }
        // A block-style `key: value`, perhaps as a list item's first key.
        let item = content.trim_start_matches(['-', ' ']);
        let key_col = indent + (content.len() - item.len());
        if let Some((k, v)) = item.split_once(':')
            && SECRET_KEYS.contains(&k.trim().trim_matches(['"', '\'']))
        {
            let v = v.trim();
            out.push_str(&text[..key_col + k.len() + 1]);
            out.push_str(" <secret>\n");
            if v.is_empty() || v.starts_with(['|', '>', '#']) {
                hiding = Some(key_col);
            }
            continue;
        }
        out.push_str(&redact_flow(text));
        out.push_str(&line[text.len()..]);
    }
    out
}

/// `key: value` pairs of [`SECRET_KEYS`] inside flow mappings of one line.
fn redact_flow(text: &str) -> String {
    if !text.contains('{') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', ',']) {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let trimmed = rest.trim_start();
        let Some((k, _)) = trimmed.split_once(':') else {
            continue;
        };
        if !SECRET_KEYS.contains(&k.trim().trim_matches(['"', '\''])) {
            continue;
        }
        // The value ends at the next `,` or `}`, outside quotes.
        let value_at = k.len() + 1;
        let value = trimmed[value_at..].trim_start();
        let from = value_at + (trimmed.len() - value_at - value.len());
        let from = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].find(q).map_or(trimmed.len(), |j| from + j + 2),
            _ => from,
        };
        let end = trimmed[from..]
            .find([',', '}'])
            .map_or(trimmed.len(), |j| from + j);
        out.push_str(&rest[..rest.len() - trimmed.len()]);
        out.push_str(k);
        out.push_str(": <secret>");
        rest = &trimmed[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod redact_tests {
    use super::redact_secrets;

    #[test]
    fn secrets_are_hidden_and_everything_else_kept() {
        let yaml = "\
# my config
scrape_configs:
  - job_name: a
    basic_auth:
      username: prometheus
      password: hunter2 # old one
    authorization:
      credentials: \"tok:en\"
    tls_config:
      ca_file: /etc/ca.pem
      key: |
        -----BEGIN PRIVATE KEY-----
        abcdef
        -----END PRIVATE KEY-----
      insecure_skip_verify: false
    http_headers:
      X-Token:
        secrets:
        - s1
        - s2
      X-Plain:
        values: [v]
remote_write:
  - url: http://rw/api/v1/write
    basic_auth: {username: u, password: \"p,w\"}
    oauth2: { client_id: id, client_secret: cs, token_url: http://t }
";
        let got = redact_secrets(yaml);
        for secret in ["hunter2", "tok:en", "abcdef", "PRIVATE", "s1", "s2", "cs"] {
            assert!(!got.contains(secret), "{secret} shown:\n{got}");
        }
        for kept in [
            "# my config",
            "username: prometheus",
            "password: <secret>",
            "credentials: <secret>",
            "ca_file: /etc/ca.pem",
            "key: <secret>",
            "insecure_skip_verify: false",
            "secrets: <secret>",
            "values: [v]",
            "url: http://rw/api/v1/write",
            "{username: u, password: <secret>}",
            "client_id: id, client_secret: <secret>, token_url: http://t }",
        ] {
            assert!(got.contains(kept), "{kept} missing:\n{got}");
        }
        assert_eq!(got.lines().count(), yaml.lines().count() - 5);
    }
}
