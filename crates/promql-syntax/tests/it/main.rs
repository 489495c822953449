//! Integration tests for narthex-promql-syntax: one binary, a module per area.

mod cases;
mod common;
mod corpus;
mod roundtrip;
