//! Integration tests for narthex-chunkenc: one binary, a module per area.

mod common;
mod conformance;
mod histogram;
mod histogram_props;
mod promtool;
mod robustness;
mod segment;
mod xor_props;
