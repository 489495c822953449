//! The command line: top-level subcommands, so that server flags can join later.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Narthex: a Prometheus-compatible monitoring system in Rust.
///
/// Only the `tsdb` tools exist so far; running the server (the default action without a
/// subcommand) comes later.
#[derive(Debug, Parser)]
#[command(name = "narthex", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run tsdb commands: inspect, dump, analyze and backfill data directories.
    #[command(subcommand)]
    Tsdb(TsdbCommand),
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
