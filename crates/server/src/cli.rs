//! The command line: top-level subcommands, so that server flags can join later.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Narthex: a Prometheus-compatible monitoring system in Rust.
///
/// Without a subcommand, runs the server: it scrapes the targets of its configuration
/// into its storage and answers Prometheus's HTTP API.
#[derive(Debug, Parser)]
#[command(name = "narthex", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    #[command(flatten)]
    pub(crate) agent: crate::agent::AgentArgs,
}

/// The server's flags, with Prometheus's names and defaults.
#[derive(Clone, Debug, Args)]
pub(crate) struct ServerArgs {
    /// Configuration file path; without it, an embedded configuration that scrapes the
    /// server itself.
    #[arg(long = "config.file", value_name = "PATH")]
    pub(crate) config_file: Option<PathBuf>,
    /// Base path for metrics storage.
    #[arg(
        long = "storage.tsdb.path",
        default_value = "data/",
        value_name = "PATH"
    )]
    pub(crate) storage_path: PathBuf,
    /// How long to retain samples in storage (default 15d).
    #[arg(long = "storage.tsdb.retention.time", value_name = "DURATION")]
    pub(crate) retention_time: Option<String>,
    /// Maximum number of bytes that can be stored for blocks (B, KB, MB, GB, ...).
    #[arg(long = "storage.tsdb.retention.size", value_name = "SIZE")]
    pub(crate) retention_size: Option<String>,
    /// Address to listen on for the web interface and API.
    #[arg(
        long = "web.listen-address",
        default_value = "0.0.0.0:9090",
        value_name = "ADDRESS"
    )]
    pub(crate) listen_address: String,
    /// Enable shutdown and reload via HTTP request.
    #[arg(long = "web.enable-lifecycle")]
    pub(crate) enable_lifecycle: bool,
    /// Enable API endpoints for admin control actions.
    #[arg(long = "web.enable-admin-api")]
    pub(crate) enable_admin_api: bool,
    /// Enable the API endpoint accepting remote write requests (`/api/v1/write`).
    #[arg(long = "web.enable-remote-write-receiver")]
    pub(crate) enable_remote_write_receiver: bool,
    /// Path to a configuration file that can enable TLS or authentication (Prometheus's
    /// web configuration format).
    #[arg(long = "web.config.file", value_name = "PATH")]
    pub(crate) web_config_file: Option<PathBuf>,
    /// The maximum lookback duration for retrieving metrics during expression evaluations.
    #[arg(
        long = "query.lookback-delta",
        default_value = "5m",
        value_name = "DURATION"
    )]
    pub(crate) lookback_delta: String,
    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", default_value = "2m", value_name = "DURATION")]
    pub(crate) query_timeout: String,
    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", default_value_t = 20, value_name = "N")]
    pub(crate) max_concurrency: usize,
    /// Maximum number of samples a single query can load into memory.
    #[arg(
        long = "query.max-samples",
        default_value_t = 50_000_000,
        value_name = "N"
    )]
    pub(crate) max_samples: usize,
    /// Max time to tolerate a Prometheus outage for restoring the "for" state of alerts.
    #[arg(
        long = "rules.alert.for-outage-tolerance",
        default_value = "1h",
        value_name = "DURATION"
    )]
    pub(crate) for_outage_tolerance: String,
    /// Minimum duration between an alert and restored "for" state. This is maintained
    /// only for alerts with a configured "for" time greater than the grace period.
    #[arg(
        long = "rules.alert.for-grace-period",
        default_value = "10m",
        value_name = "DURATION"
    )]
    pub(crate) for_grace_period: String,
    /// Minimum amount of time to wait before resending an alert to Alertmanager.
    #[arg(
        long = "rules.alert.resend-delay",
        default_value = "1m",
        value_name = "DURATION"
    )]
    pub(crate) resend_delay: String,
    /// The capacity of the queue for pending Alertmanager notifications.
    #[arg(
        long = "alertmanager.notification-queue-capacity",
        default_value_t = 10_000,
        value_name = "N"
    )]
    pub(crate) notification_queue_capacity: usize,
    /// The URL under which the server is externally reachable: the prefix of alerts'
    /// generator URLs and `$externalURL` in templates. Default: `http://HOSTNAME:PORT`.
    #[arg(long = "web.external-url", value_name = "URL")]
    pub(crate) external_url: Option<String>,
}

impl ServerArgs {
    /// Every flag and its value as text, for `/api/v1/status/flags`.
    pub(crate) fn flag_map(&self) -> std::collections::BTreeMap<&'static str, String> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            (
                "config.file",
                self.config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("storage.tsdb.path", self.storage_path.display().to_string()),
            ("storage.tsdb.retention.time", opt(&self.retention_time)),
            ("storage.tsdb.retention.size", opt(&self.retention_size)),
            ("web.listen-address", self.listen_address.clone()),
            ("web.enable-lifecycle", self.enable_lifecycle.to_string()),
            ("web.enable-admin-api", self.enable_admin_api.to_string()),
            (
                "web.enable-remote-write-receiver",
                self.enable_remote_write_receiver.to_string(),
            ),
            (
                "web.config.file",
                self.web_config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("query.lookback-delta", self.lookback_delta.clone()),
            ("query.timeout", self.query_timeout.clone()),
            ("query.max-concurrency", self.max_concurrency.to_string()),
            ("query.max-samples", self.max_samples.to_string()),
            (
                "rules.alert.for-outage-tolerance",
                self.for_outage_tolerance.clone(),
            ),
            (
                "rules.alert.for-grace-period",
                self.for_grace_period.clone(),
            ),
            ("rules.alert.resend-delay", self.resend_delay.clone()),
            (
                "alertmanager.notification-queue-capacity",
                self.notification_queue_capacity.to_string(),
            ),
            (
                "web.external-url",
                self.external_url.clone().unwrap_or_default(),
            ),
        ]
        .into_iter()
        .collect()
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check the resources for validity, as `promtool check` does.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Unit testing, as `promtool test` does.
    #[command(subcommand)]
    Test(TestCommand),
    /// Run queries against a Prometheus-compatible server, as `promtool query` does.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Run tsdb commands: inspect, dump, analyze and backfill data directories.
    #[command(subcommand)]
    Tsdb(TsdbCommand),
    /// Run a Pushgateway-compatible push endpoint for batch jobs.
    Pushgateway(PushgatewayArgs),
}

/// The flags of `narthex pushgateway`, with the Pushgateway's names and defaults.
#[derive(Debug, Args)]
pub(crate) struct PushgatewayArgs {
    /// Address to listen on for the push API and the exposed metrics.
    #[arg(
        long = "web.listen-address",
        default_value = ":9091",
        value_name = "ADDRESS"
    )]
    pub(crate) listen_address: String,
    /// File to persist metrics; without it, metrics live in memory only.
    #[arg(long = "persistence.file", value_name = "PATH")]
    pub(crate) persistence_file: Option<PathBuf>,
    /// How often to write the persistence file when something changed.
    #[arg(
        long = "persistence.interval",
        default_value = "5m",
        value_name = "DURATION",
        value_parser = narthex_pushgateway::parse_interval
    )]
    pub(crate) persistence_interval: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CheckCommand {
    /// Check if the config files are valid or not.
    Config {
        /// The config files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check if the rule files are valid or not.
    ///
    /// Metric and label names are checked as Prometheus 3 does (any UTF-8 text is a valid
    /// name); Prometheus 2's promtool (Debian's 2.42, for one) rejects names outside
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`, so rule files with such names pass here and fail there.
    Rules {
        /// The rule files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Pass Prometheus metrics over stdin to lint them for consistency and correctness.
    Metrics,
    /// Check if the web config files are valid or not.
    WebConfig {
        /// The web config files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum QueryCommand {
    /// Run an instant query.
    Instant {
        /// Prometheus server to query.
        server: String,
        /// PromQL query expression.
        expr: String,
        /// Query evaluation time (RFC3339 or Unix timestamp).
        #[arg(long)]
        time: Option<String>,
        /// Output format: promql or json.
        #[arg(short = 'o', long, default_value = "promql")]
        format: String,
    },
    /// Run a range query.
    Range {
        /// Prometheus server to query.
        server: String,
        /// PromQL query expression.
        expr: String,
        /// Query range start time (RFC3339 or Unix timestamp).
        #[arg(long)]
        start: Option<String>,
        /// Query range end time (RFC3339 or Unix timestamp).
        #[arg(long)]
        end: Option<String>,
        /// Query step size (duration).
        #[arg(long)]
        step: Option<String>,
        /// Output format: promql or json.
        #[arg(short = 'o', long, default_value = "promql")]
        format: String,
    },
    /// Run a series query.
    Series {
        /// Prometheus server to query.
        server: String,
        /// Series selector; may be repeated.
        #[arg(long = "match", required = true)]
        matches: Vec<String>,
        /// Start time (RFC3339 or Unix timestamp).
        #[arg(long)]
        start: Option<String>,
        /// End time (RFC3339 or Unix timestamp).
        #[arg(long)]
        end: Option<String>,
        /// Output format: promql or json.
        #[arg(short = 'o', long, default_value = "promql")]
        format: String,
    },
    /// Run a labels query (all label names, or the values of one).
    Labels {
        /// Prometheus server to query.
        server: String,
        /// Label name to provide label values for.
        name: Option<String>,
        /// Series selector; may be repeated.
        #[arg(long = "match")]
        matches: Vec<String>,
        /// Output format: promql or json.
        #[arg(short = 'o', long, default_value = "promql")]
        format: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TestCommand {
    /// Unit tests for rules, in promtool's test file format.
    Rules {
        /// The test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TsdbCommand {
    /// List tsdb blocks.
    List(ListArgs),
    /// Dump samples from a TSDB.
    Dump(DumpArgs),
    /// Analyze churn, label pair cardinality and compaction efficiency.
    Analyze(AnalyzeArgs),
    /// Import samples from an input file and produce TSDB blocks.
    #[command(subcommand)]
    CreateBlocksFrom(CreateBlocksFrom),
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print human readable values.
    #[arg(short = 'r', long)]
    pub(crate) human_readable: bool,
    /// Database path.
    #[arg(default_value = "data/")]
    pub(crate) db_path: PathBuf,
}

/// Output format of `tsdb dump`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DumpFormat {
    /// promtool's text: `{labels} value timestamp_ms`, one line per sample.
    Text,
    /// OpenMetrics 1.0 text as later promtool's `dump-openmetrics` writes it: timestamps in
    /// seconds with three decimals, ending with `# EOF`.
    Openmetrics,
}

#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// Minimum timestamp to dump (milliseconds).
    #[arg(long, default_value_t = i64::MIN, allow_negative_numbers = true)]
    pub(crate) min_time: i64,
    /// Maximum timestamp to dump (milliseconds).
    #[arg(long, default_value_t = i64::MAX, allow_negative_numbers = true)]
    pub(crate) max_time: i64,
    /// Series selector; may be repeated (series matching any selector are dumped).
    /// Default: every series.
    #[arg(long = "match", value_name = "SELECTOR")]
    pub(crate) matches: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DumpFormat::Text)]
    pub(crate) format: DumpFormat,
    /// Database path.
    #[arg(default_value = "data/")]
    pub(crate) db_path: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    /// How many items to show in each list.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// Run extended analysis.
    #[arg(long)]
    pub(crate) extended: bool,
    /// Database path.
    #[arg(default_value = "data/")]
    pub(crate) db_path: PathBuf,
    /// Block to analyze (default is the last block).
    pub(crate) block_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CreateBlocksFrom {
    /// Import samples from OpenMetrics input and produce TSDB blocks.
    Openmetrics(OpenMetricsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct OpenMetricsArgs {
    /// Maximum duration of created blocks (a Prometheus duration: 2h, 1d, ...). Values
    /// above 2h are rounded down to a compatible block range (2h times a power of 3).
    #[arg(long, default_value = "2h")]
    pub(crate) max_block_duration: String,
    /// Print human readable values.
    #[arg(short = 'r', long)]
    pub(crate) human_readable: bool,
    /// Do not print created blocks.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
    /// OpenMetrics file to read samples from.
    pub(crate) input: PathBuf,
    /// Output directory for generated blocks.
    #[arg(default_value = "data/")]
    pub(crate) output_dir: PathBuf,
}
