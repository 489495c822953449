//! Fuzz target `go_float`: see `narthex_fuzz::check_go_float` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narthex_fuzz::check_go_float(data));
