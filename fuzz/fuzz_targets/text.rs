//! Fuzz target `text`: see `narthex_fuzz::check_text` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narthex_fuzz::check_text(data));
