//! Fuzz target `matcher`: see `narthex_fuzz::check_matcher` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narthex_fuzz::check_matcher(data));
