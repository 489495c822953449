//! Integration tests: the built `narthex` binary against Debian's `promtool` on the same
//! data directories and inputs.

mod agent;
mod alerting;
mod backfill;
mod cli;
mod common;
mod flags;
mod inspect;
mod pushgateway;
mod selfmetrics;
mod serve;
mod tls_clients;
mod ui;
mod webconfig;
