//! Integration tests for narthex-model, one binary with a module per area.

mod duration;
mod float;
mod relabel;
mod target;
