//! What the server fills in: targets, rules, alerts, metadata, configuration and status
//! pages. The API calls a [`StatusProvider`]; without one (or where it answers `None`) the
//! endpoints return Prometheus-shaped empty results.

use serde::Serialize;

use crate::error::ApiError;
use crate::params::Params;

/// JSON text that is already encoded, used as the `data` of an answer as it is.
///
/// Build it from anything [`Serialize`] with [`RawJson::from_serialize`]: a struct keeps
/// its field order (Prometheus's order, if the struct follows it), while a
/// `serde_json::Value` object writes its keys sorted (as Go writes maps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawJson(String);

impl RawJson {
    /// Serialises a value.
    pub fn from_serialize<T: Serialize + ?Sized>(v: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_string(v).map(RawJson)
    }

    /// Wraps text the caller guarantees to be one valid JSON value.
    pub fn from_trusted_string(s: String) -> Self {
        RawJson(s)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<serde_json::Value> for RawJson {
    fn from(v: serde_json::Value) -> Self {
        RawJson(v.to_string())
    }
}

/// What a provider method returns: data, nothing (the endpoint answers its empty shape),
/// or an error answer.
pub type ProviderResult = Result<Option<RawJson>, ApiError>;

/// The server's side of the status and discovery endpoints. Every method has a default
/// that returns `Ok(None)`, so a provider implements only what it knows. Methods that
/// take [`Params`] get the request's form values (`state`, `scrapePool`, `type`,
/// `rule_name[]`, `limit`, `metric`, `match_target`, ...) to filter as Prometheus does.
///
/// Methods are called on the async runtime's threads and should return quickly (read a
/// snapshot; do not block on I/O).
pub trait StatusProvider: Send + Sync {
    /// `/api/v1/status/buildinfo`: `{"version":..,"revision":..,"branch":..,"buildUser":..,
    /// "buildDate":..,"goVersion":..}`.
    fn build_info(&self) -> ProviderResult {
        Ok(None)
    }
    /// `/api/v1/status/runtimeinfo`: `{"startTime":..,"CWD":..,"reloadConfigSuccess":..,
    /// "lastConfigTime":..,"corruptionCount":..,"goroutineCount":..,"GOMAXPROCS":..,
    /// "GOMEMLIMIT":..,"GOGC":..,"GODEBUG":..,"storageRetention":..}`.
    fn runtime_info(&self) -> ProviderResult {
        Ok(None)
    }
    /// `/api/v1/status/flags`: an object of flag name to value text.
    fn flags(&self) -> ProviderResult {
        Ok(None)
    }
    /// `/api/v1/status/config`: `{"yaml":"..."}`.
    fn config(&self) -> ProviderResult {
        Ok(None)
    }
    /// `/api/v1/status/tsdb` (`limit`): `{"headStats":{..},"seriesCountByMetricName":[..],
    /// ...}`.
    fn tsdb_status(&self, params: &Params) -> ProviderResult {
        let _ = params;
        Ok(None)
    }
    /// `/api/v1/status/tsdb/blocks`: `{"blocks":[..]}` (block metadata as in `meta.json`).
    fn tsdb_blocks(&self) -> ProviderResult {
        Ok(None)
    }
    /// `/api/v1/status/walreplay`: `{"min":..,"max":..,"current":..}`.
    fn wal_replay(&self) -> ProviderResult {
        Ok(None)
    }
    /// `/api/v1/targets` (`state`, `scrapePool`): `{"activeTargets":[..],
    /// "droppedTargets":[..],"droppedTargetCounts":{..}}`.
    fn targets(&self, params: &Params) -> ProviderResult {
        let _ = params;
        Ok(None)
    }
    /// `/api/v1/targets/metadata` (`match_target`, `metric`, `limit`): a list.
    fn targets_metadata(&self, params: &Params) -> ProviderResult {
        let _ = params;
        Ok(None)
    }
    /// `/api/v1/metadata` (`limit`, `limit_per_metric`, `metric`): an object of metric
    /// name to a list of `{"type","help","unit"}`.
    fn metadata(&self, params: &Params) -> ProviderResult {
        let _ = params;
        Ok(None)
    }
    /// `/api/v1/scrape_pools`: `{"scrapePools":[..]}`.
    fn scrape_pools(&self) -> ProviderResult {
        Ok(None)
    }
    /// `/api/v1/alertmanagers`: `{"activeAlertmanagers":[..],"droppedAlertmanagers":[..]}`.
    fn alertmanagers(&self) -> ProviderResult {
        Ok(None)
    }
    /// `/api/v1/rules` (`type`, `rule_name[]`, `rule_group[]`, `file[]`, `exclude_alerts`,
    /// `match[]`, `group_limit`): `{"groups":[..]}`.
    fn rules(&self, params: &Params) -> ProviderResult {
        let _ = params;
        Ok(None)
    }
    /// `/api/v1/alerts`: `{"alerts":[..]}`.
    fn alerts(&self) -> ProviderResult {
        Ok(None)
    }
}

/// A provider that knows nothing: every endpoint answers its empty shape.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoStatus;

impl StatusProvider for NoStatus {}

/// Which status endpoint; used to pick the empty answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    BuildInfo,
    RuntimeInfo,
    Flags,
    Config,
    Tsdb,
    TsdbBlocks,
    WalReplay,
    Targets,
    TargetsMetadata,
    Metadata,
    ScrapePools,
    Alertmanagers,
    Rules,
    Alerts,
}

impl Endpoint {
    pub(crate) fn call(self, p: &dyn StatusProvider, params: &Params) -> ProviderResult {
        match self {
            Endpoint::BuildInfo => p.build_info(),
            Endpoint::RuntimeInfo => p.runtime_info(),
            Endpoint::Flags => p.flags(),
            Endpoint::Config => p.config(),
            Endpoint::Tsdb => p.tsdb_status(params),
            Endpoint::TsdbBlocks => p.tsdb_blocks(),
            Endpoint::WalReplay => p.wal_replay(),
            Endpoint::Targets => p.targets(params),
            Endpoint::TargetsMetadata => p.targets_metadata(params),
            Endpoint::Metadata => p.metadata(params),
            Endpoint::ScrapePools => p.scrape_pools(),
            Endpoint::Alertmanagers => p.alertmanagers(),
            Endpoint::Rules => p.rules(params),
            Endpoint::Alerts => p.alerts(),
        }
    }

    /// The answer when the provider has nothing, shaped like Prometheus's.
    pub(crate) fn empty(self) -> String {
        match self {
            Endpoint::BuildInfo => format!(
                r#"{{"version":"{}","revision":"","branch":"","buildUser":"","buildDate":"","goVersion":""}}"#,
                env!("CARGO_PKG_VERSION")
            ),
            Endpoint::RuntimeInfo => r#"{"startTime":"0001-01-01T00:00:00Z","CWD":"","reloadConfigSuccess":true,"lastConfigTime":"0001-01-01T00:00:00Z","corruptionCount":0,"goroutineCount":0,"GOMAXPROCS":0,"GOMEMLIMIT":0,"GOGC":"","GODEBUG":"","storageRetention":""}"#.into(),
            Endpoint::Flags => "{}".into(),
            Endpoint::Config => r#"{"yaml":""}"#.into(),
            Endpoint::Tsdb => r#"{"headStats":{"numSeries":0,"numLabelPairs":0,"chunkCount":0,"minTime":9223372036854775807,"maxTime":-9223372036854775808},"seriesCountByMetricName":[],"labelValueCountByLabelName":[],"memoryInBytesByLabelName":[],"seriesCountByLabelValuePair":[]}"#.into(),
            Endpoint::TsdbBlocks => r#"{"blocks":[]}"#.into(),
            Endpoint::WalReplay => r#"{"min":0,"max":0,"current":0}"#.into(),
            Endpoint::Targets => {
                r#"{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":{}}"#.into()
            }
            Endpoint::TargetsMetadata => "[]".into(),
            Endpoint::Metadata => "{}".into(),
            Endpoint::ScrapePools => r#"{"scrapePools":[]}"#.into(),
            Endpoint::Alertmanagers => {
                r#"{"activeAlertmanagers":[],"droppedAlertmanagers":[]}"#.into()
            }
            Endpoint::Rules => r#"{"groups":[]}"#.into(),
            Endpoint::Alerts => r#"{"alerts":[]}"#.into(),
        }
    }
}
