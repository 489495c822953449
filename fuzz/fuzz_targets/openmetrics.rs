//! Fuzz target `openmetrics`: see `narthex_fuzz::check_openmetrics` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narthex_fuzz::check_openmetrics(data));
