//! Integration tests for narthex-scrape: one binary, a module per area.

mod append;
mod live;
