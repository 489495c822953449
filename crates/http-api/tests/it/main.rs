//! Integration tests: the router on 127.0.0.1:0 over `MemStorage` and the TSDB, spoken to
//! over real sockets, and Debian's `promtool` as a real client.

mod common;
mod meta;
mod peer;
mod promtool;
mod query;
mod tsdb;
