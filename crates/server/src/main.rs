//! `narthex`: the Narthex binary.
//!
//! For now it **is** a set of tools for Prometheus-format data directories, after
//! `promtool tsdb`: `narthex tsdb list` (blocks and their statistics), `dump` (every
//! sample, as text or OpenMetrics), `analyze` (label cardinality and churn of a block) and
//! `create-blocks-from openmetrics` (backfill: an OpenMetrics file into blocks). Their
//! output matches promtool 2.42's, so scripts written for one work with the other.
//!
//! It is **not** yet a server: scraping, rules and the HTTP API come later, as the default
//! action of `narthex` without a subcommand. Until then that prints the help and exits
//! with status 2.
//!
//! ```text
//! narthex tsdb list -r data/
//! narthex tsdb dump --match='up{job="api"}' --min-time=1700000000000 data/
//! narthex tsdb analyze --limit=10 data/
//! narthex tsdb create-blocks-from openmetrics metrics.om data/
//! ```
//!
//! The work is done by the library crates (`narthex-tsdb`, `narthex-exposition`,
//! `narthex-model`, `narthex-promql-syntax`); this crate only parses arguments and
//! formats output. Exit status: 0 on success, 1 on an error (printed to stderr), 2 on a
//! usage error.

mod cli;
mod gofmt;
mod tsdb;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        Some(cli::Command::Tsdb(cmd)) => tsdb::run(cmd),
        None => {
            let _ = cli::Cli::command().print_help();
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
