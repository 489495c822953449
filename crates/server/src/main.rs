//! `narthex`: the Narthex binary.
//!
//! Without a subcommand it **is** the server: it reads `--config.file` (or an embedded
//! configuration that scrapes itself), discovers targets, scrapes them into the TSDB in
//! `--storage.tsdb.path`, compacts and applies retention every minute, serves its own
//! metrics and Prometheus's lifecycle endpoints on `--web.listen-address`, reloads on
//! SIGHUP or `POST /-/reload` (with `--web.enable-lifecycle`), and stops cleanly on
//! SIGTERM. It also serves Prometheus's HTTP API v1 and the web UI, evaluates recording and
//! alerting rules and notifies Alertmanagers, remote-writes to and receives from other
//! stores, and serves federation. Flags carry Prometheus's names.
//!
//! With `--agent` it runs as Prometheus's agent mode does (`agent.rs`): scraping into a
//! WAL-only storage in `--storage.agent.path` and remote-writing from it, without blocks,
//! rules or local queries.
//!
//! With a subcommand it is a set of tools, after `promtool` (`narthex check config|rules|
//! web-config|metrics`, `narthex test rules`, `narthex query`), and `narthex pushgateway`, a
//! Pushgateway-compatible endpoint for batch jobs. The TSDB tools: `narthex tsdb list`
//! (blocks and their statistics), `dump` (every sample, as text or
//! OpenMetrics), `analyze` (label cardinality and churn of a block) and
//! `create-blocks-from openmetrics` (backfill: an OpenMetrics file into blocks). Their
//! output matches promtool 2.42's, so scripts written for one work with the other.
//!
//! ```text
//! narthex --config.file=prometheus.yml --storage.tsdb.path=data/
//! narthex check config prometheus.yml
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

mod admin;
mod agent;
mod checkmetrics;
mod cli;
mod convert;
#[cfg(test)]
#[path = "../../discovery/tests/it/dnsmasq.rs"]
mod dnsmasq;
mod features;
mod gofmt;
mod listen;
mod log;
mod memory;
mod query;
mod reload;
mod run;
mod selfmetrics;
mod status;
mod tsdb;
mod units;
mod web;
mod webconfig;

use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = <cli::Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <cli::Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Some(cli::Command::Tsdb(cmd)) => tsdb::run(cmd),
        Some(cli::Command::Check(cli::CheckCommand::Config { files })) => {
            // promtool's output and exit status: 1 when any file fails.
            let mut ok = true;
            for f in files {
                let report = narthex_config::check(&f);
                print!("{report}");
                ok &= report.is_success();
            }
            if !ok {
                return ExitCode::FAILURE;
            }
            Ok(())
        }
        Some(cli::Command::Check(cli::CheckCommand::Metrics)) => {
            // promtool's behaviour: problems on stderr, exit 3; a parse error exits 1.
            let mut input = Vec::new();
            if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut input) {
                eprintln!("error while linting: {e}");
                return ExitCode::FAILURE;
            }
            match checkmetrics::lint_text(&input) {
                Ok(problems) if problems.is_empty() => Ok(()),
                Ok(problems) => {
                    for p in problems {
                        eprintln!("{} {}", p.metric, p.text);
                    }
                    return ExitCode::from(3);
                }
                Err(e) => {
                    eprintln!("error while linting: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Some(cli::Command::Check(cli::CheckCommand::WebConfig { files })) => {
            // promtool reports on stderr.
            let mut ok = true;
            for f in files {
                match webconfig::check(&f) {
                    Ok(()) => eprintln!("{} SUCCESS", f.display()),
                    Err(e) => {
                        eprintln!("{} FAILED: {e}", f.display());
                        ok = false;
                    }
                }
            }
            if !ok {
                return ExitCode::FAILURE;
            }
            Ok(())
        }
        Some(cli::Command::Check(cli::CheckCommand::Rules { files })) => {
            let mut ok = true;
            for f in files {
                let r = narthex_rules::check_rules(&f, &Default::default());
                print!("{}", r.stdout);
                eprint!("{}", r.stderr);
                ok &= r.ok;
            }
            if !ok {
                return ExitCode::FAILURE;
            }
            Ok(())
        }
        Some(cli::Command::Query(q)) => query::run(q),
        Some(cli::Command::Test(cli::TestCommand::Rules { files })) => {
            let mut ok = true;
            for f in files {
                let r = narthex_rules::run_rule_tests(&f);
                print!("{}", r.output);
                ok &= r.ok;
            }
            if !ok {
                return ExitCode::FAILURE;
            }
            Ok(())
        }
        Some(cli::Command::Pushgateway(a)) => {
            narthex_pushgateway::run(narthex_pushgateway::Options {
                listen_address: a.listen_address,
                persistence_file: a.persistence_file,
                persistence_interval: a.persistence_interval,
            })
            .map_err(Into::into)
        }
        None => {
            if let Some(code) = agent::dispatch(&matches, &cli.server, &cli.agent) {
                return code;
            }
            run::run(cli.server).map_err(Into::into)
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
