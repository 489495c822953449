//! Integration tests for narthex-tsdb: one binary, a module per area.

mod common;
mod compat;
mod crash;
mod head;
mod wal;
