//! Integration tests of `narthex-remote` (one binary, modules per area).

mod codec;
mod common;
mod peers;
mod receiver;
mod sender;
mod view;
