//! Integration tests of narthex-rules.

mod eval;
mod golden;
mod promtool;
mod rulefmt;
mod templates;
mod unittest;
