//! Integration tests of narthex-rules.

mod eval;
mod golden;
mod notifier;
mod promtool;
mod rulefmt;
mod templates;
mod unittest;
