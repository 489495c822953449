//! Fuzz target `promql_parse`: parsing any text never panics, and whatever parses
//! prints (plainly and prettily) to text that parses back to the same tree and prints
//! the same again. The same check runs in narthex-promql-syntax's tests
//! (`tests/it/roundtrip.rs`, `fuzz_check`), which also replay
//! `fuzz/regressions/promql_parse/`.
#![no_main]

use narthex_promql_syntax::{ParserOptions, parse_with};

fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for opts in [ParserOptions::default(), ParserOptions::all_experimental()] {
        let Ok(e) = parse_with(text, &opts) else {
            continue;
        };
        let printed = e.to_string();
        let again = parse_with(&printed, &opts)
            .unwrap_or_else(|err| panic!("{text:?} printed as {printed:?} fails: {err}"));
        assert!(
            again.eq_ignoring_spans(&e),
            "{text:?} changed through {printed:?}"
        );
        assert_eq!(again.to_string(), printed);
        let pretty = e.pretty();
        let again = parse_with(&pretty, &opts)
            .unwrap_or_else(|err| panic!("{text:?} prettified as {pretty:?} fails: {err}"));
        assert!(
            again.eq_ignoring_spans(&e),
            "{text:?} changed through {pretty:?}"
        );
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));
