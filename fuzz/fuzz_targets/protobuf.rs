//! Fuzz target `protobuf`: see `narthex_fuzz::check_protobuf` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narthex_fuzz::check_protobuf(data));
