//! Integration tests for narthex-exposition: one binary, a module per area.

mod common;
mod conformance;
mod peers;
mod protobuf;
