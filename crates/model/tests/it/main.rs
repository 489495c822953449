//! Integration tests for narthex-model, one binary with a module per area.

mod float;
