//! Integration tests for narthex-exposition: one binary, a module per area.

mod common;
mod conformance;
mod fuzz_regressions;
mod peek;
mod peers;
mod protobuf;
mod roundtrip;
