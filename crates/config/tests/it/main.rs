//! Integration tests for narthex-config: one binary, one module per concern.

mod corpus;
mod defaults;
mod positions;
mod robustness;

use std::path::PathBuf;

/// `tests/data`.
pub(crate) fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}
