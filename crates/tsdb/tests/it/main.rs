//! Integration tests for narthex-tsdb: one binary, a module per area.

mod common;
mod wal;
