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
    /// Prefix for the internal routes of web endpoints (API, UI, `/metrics`, `/-/healthy`).
    /// Defaults to the path of `--web.external-url`.
    #[arg(long = "web.route-prefix", value_name = "PATH")]
    pub(crate) route_prefix: Option<String>,
    /// Comma-separated feature names to enable (repeatable): `promql-experimental-functions`,
    /// `promql-duration-expr`, `promql-extended-range-selectors`,
    /// `promql-binop-fill-modifiers`, `promql-delayed-name-removal`, `auto-reload-config`.
    /// Prometheus's other feature names are accepted and logged.
    #[arg(long = "enable-feature", value_name = "FEATURE", value_delimiter = ',')]
    pub(crate) enable_feature: Vec<String>,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    pub(crate) log_level: String,
    /// Output format of log messages.
    #[arg(long = "log.format", default_value = "logfmt", value_parser = ["logfmt", "json"])]
    pub(crate) log_format: String,
    /// Minimum duration of a data block before being persisted (the head's block range).
    #[arg(
        long = "storage.tsdb.min-block-duration",
        default_value = "2h",
        value_name = "DURATION",
        hide = true
    )]
    pub(crate) min_block_duration: String,
    /// Maximum duration compacted blocks may span (default: 10% of the retention period,
    /// at most 31 days).
    #[arg(
        long = "storage.tsdb.max-block-duration",
        value_name = "DURATION",
        hide = true
    )]
    pub(crate) max_block_duration: Option<String>,
    /// Compress the tsdb WAL (`--no-storage.tsdb.wal-compression` or `=false` to turn it
    /// off).
    #[arg(
        long = "storage.tsdb.wal-compression",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_value = "true",
        default_missing_value = "true",
        action = clap::ArgAction::Set,
    )]
    pub(crate) tsdb_wal_compression: bool,
    /// Do not compress the tsdb WAL.
    #[arg(long = "no-storage.tsdb.wal-compression")]
    pub(crate) no_tsdb_wal_compression: bool,
    /// Do not create lockfile in data directory (accepted; the lock is always taken).
    #[arg(long = "storage.tsdb.no-lockfile")]
    pub(crate) tsdb_no_lockfile: bool,
    /// Regex for CORS origin. It is fully anchored.
    #[arg(long = "web.cors.origin", default_value = ".*", value_name = "REGEX")]
    pub(crate) cors_origin: String,
    /// Document title of the web UI (accepted; the UI keeps its own title).
    #[arg(
        long = "web.page-title",
        default_value = "Prometheus Time Series Collection and Processing Server",
        value_name = "TITLE"
    )]
    pub(crate) page_title: String,
    /// Maximum duration before timing out read of the request (accepted, no effect).
    #[arg(
        long = "web.read-timeout",
        default_value = "5m",
        value_name = "DURATION"
    )]
    pub(crate) read_timeout: String,
    /// Maximum number of simultaneous connections (accepted, no effect).
    #[arg(long = "web.max-connections", default_value_t = 512, value_name = "N")]
    pub(crate) max_connections: usize,
    /// Path to the console template directory (accepted; there are no consoles).
    #[arg(
        long = "web.console.templates",
        default_value = "consoles",
        value_name = "PATH"
    )]
    pub(crate) console_templates: String,
    /// Path to the console library directory (accepted; there are no consoles).
    #[arg(
        long = "web.console.libraries",
        default_value = "console_libraries",
        value_name = "PATH"
    )]
    pub(crate) console_libraries: String,
    /// Maximum overall number of samples to return via the remote read interface, in a
    /// single query. 0 means no limit.
    #[arg(
        long = "storage.remote.read-sample-limit",
        default_value_t = 50_000_000,
        value_name = "N"
    )]
    pub(crate) remote_read_sample_limit: usize,
    /// Maximum number of concurrent remote read calls (accepted, no effect).
    #[arg(
        long = "storage.remote.read-concurrent-limit",
        default_value_t = 10,
        value_name = "N"
    )]
    pub(crate) remote_read_concurrent_limit: usize,
    /// Maximum number of bytes in a single frame of streamed remote read responses
    /// (accepted, no effect).
    #[arg(
        long = "storage.remote.read-max-bytes-in-frame",
        default_value_t = 1_048_576,
        value_name = "BYTES"
    )]
    pub(crate) remote_read_max_bytes_in_frame: usize,
    /// How long to wait flushing sample on shutdown or config reload (accepted, no effect).
    #[arg(
        long = "storage.remote.flush-deadline",
        default_value = "1m",
        value_name = "DURATION"
    )]
    pub(crate) remote_flush_deadline: String,
    /// Global concurrency limit for independent rules that can run concurrently
    /// (accepted; rule groups are evaluated sequentially).
    #[arg(
        long = "rules.max-concurrent-evals",
        default_value_t = 4,
        value_name = "N"
    )]
    pub(crate) max_concurrent_evals: usize,
    /// Adjust scrape timestamps by up to `--scrape.timestamp-tolerance` to align them to
    /// the intended schedule (accepted, no effect).
    #[arg(
        long = "scrape.adjust-timestamps",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_value = "true",
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        hide = true
    )]
    pub(crate) adjust_timestamps: bool,
    /// Do not adjust scrape timestamps.
    #[arg(long = "no-scrape.adjust-timestamps", hide = true)]
    pub(crate) no_adjust_timestamps: bool,
    /// Timestamp tolerance (accepted, no effect).
    #[arg(
        long = "scrape.timestamp-tolerance",
        default_value = "2ms",
        value_name = "DURATION",
        hide = true
    )]
    pub(crate) timestamp_tolerance: String,
    /// How often the configuration file is checked for changes, with
    /// `--enable-feature=auto-reload-config`.
    #[arg(
        long = "config.auto-reload-interval",
        default_value = "30s",
        value_name = "DURATION"
    )]
    pub(crate) auto_reload_interval: String,
}

impl ServerArgs {
    /// Flags accepted for compatibility that change nothing here, when set to other than
    /// their default: `(flag, value)`, logged at start.
    pub(crate) fn without_effect(&self) -> Vec<(&'static str, String)> {
        let defaults = <crate::cli::Cli as clap::Parser>::parse_from(["narthex"]).server;
        let mine = self.flag_map();
        let theirs = defaults.flag_map();
        [
            "storage.tsdb.no-lockfile",
            "web.page-title",
            "web.read-timeout",
            "web.max-connections",
            "web.console.templates",
            "web.console.libraries",
            "storage.remote.read-concurrent-limit",
            "storage.remote.read-max-bytes-in-frame",
            "storage.remote.flush-deadline",
            "rules.max-concurrent-evals",
            "scrape.adjust-timestamps",
            "scrape.timestamp-tolerance",
        ]
        .into_iter()
        .filter(|f| mine.get(f) != theirs.get(f))
        .map(|f| (f, mine.get(f).cloned().unwrap_or_default()))
        .collect()
    }

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
            ("web.route-prefix", crate::run::route_prefix(self)),
            ("enable-feature", self.enable_feature.join(",")),
            ("log.level", self.log_level.clone()),
            ("log.format", self.log_format.clone()),
            (
                "storage.tsdb.min-block-duration",
                self.min_block_duration.clone(),
            ),
            (
                "storage.tsdb.max-block-duration",
                opt(&self.max_block_duration),
            ),
            (
                "storage.tsdb.wal-compression",
                (self.tsdb_wal_compression && !self.no_tsdb_wal_compression).to_string(),
            ),
            (
                "storage.tsdb.no-lockfile",
                self.tsdb_no_lockfile.to_string(),
            ),
            ("web.cors.origin", self.cors_origin.clone()),
            ("web.page-title", self.page_title.clone()),
            ("web.read-timeout", self.read_timeout.clone()),
            ("web.max-connections", self.max_connections.to_string()),
            ("web.console.templates", self.console_templates.clone()),
            ("web.console.libraries", self.console_libraries.clone()),
            (
                "storage.remote.read-sample-limit",
                self.remote_read_sample_limit.to_string(),
            ),
            (
                "storage.remote.read-concurrent-limit",
                self.remote_read_concurrent_limit.to_string(),
            ),
            (
                "storage.remote.read-max-bytes-in-frame",
                self.remote_read_max_bytes_in_frame.to_string(),
            ),
            (
                "storage.remote.flush-deadline",
                self.remote_flush_deadline.clone(),
            ),
            (
                "rules.max-concurrent-evals",
                self.max_concurrent_evals.to_string(),
            ),
            (
                "scrape.adjust-timestamps",
                (self.adjust_timestamps && !self.no_adjust_timestamps).to_string(),
            ),
            (
                "scrape.timestamp-tolerance",
                self.timestamp_tolerance.clone(),
            ),
            (
                "config.auto-reload-interval",
                self.auto_reload_interval.clone(),
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
