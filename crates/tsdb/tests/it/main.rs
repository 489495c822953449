//! Integration tests for narthex-tsdb: one binary, a module per area.

mod blockfiles;
mod blocks;
mod common;
mod compat;
mod crash;
mod head;
mod index;
mod metrics;
mod start_timestamps;
mod wal;
