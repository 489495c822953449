//! Prometheus durations: `parse_duration` and `format_duration` against the cases of
//! `common/model`'s tests, plus round trips.

use narthex_model::{DurationError, format_duration, parse_duration};
use proptest::prelude::*;

const S: i64 = 1_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const D: i64 = 24 * H;
const W: i64 = 7 * D;
const Y: i64 = 365 * D;

#[test]
fn parses_and_prints() {
    // (input, milliseconds, printed form when it differs from the input)
    let cases: &[(&str, i64, Option<&str>)] = &[
        ("0", 0, Some("0s")),
        ("0w", 0, Some("0s")),
        ("0s", 0, None),
        ("324ms", 324, None),
        ("3s", 3 * S, None),
        ("5m", 5 * M, None),
        ("1h", H, None),
        ("4d", 4 * D, None),
        ("4d1h", 4 * D + H, None),
        ("14d", 14 * D, Some("2w")),
        ("3w", 3 * W, None),
        ("3w2d1h", 3 * W + 2 * D + H, Some("23d1h")),
        ("10y", 10 * Y, None),
        ("289y", 289 * Y, None),
        ("1h30m", H + 30 * M, None),
        ("90m", 90 * M, Some("1h30m")),
        ("1y1w", Y + W, Some("372d")),
        ("1y1d", Y + D, Some("366d")),
        ("52w1d", Y, Some("1y")),
        ("1d2h3m4s5ms", D + 2 * H + 3 * M + 4 * S + 5, None),
        ("1500ms", 1_500, Some("1s500ms")),
        ("0h0m1s", S, Some("1s")),
        ("007s", 7 * S, Some("7s")),
        (
            "1y2w3d4h5m6s7ms",
            Y + 2 * W + 3 * D + 4 * H + 5 * M + 6 * S + 7,
            Some("382d4h5m6s7ms"),
        ),
    ];
    for &(input, ms, printed) in cases {
        assert_eq!(parse_duration(input), Ok(ms), "parse {input:?}");
        assert_eq!(format_duration(ms), printed.unwrap_or(input), "format {ms}");
    }
}

#[test]
fn rejects_what_prometheus_rejects() {
    let invalid = |s: &str| Err(DurationError::Invalid(s.to_string()));
    let unknown = |u: &str, s: &str| {
        Err(DurationError::UnknownUnit {
            unit: u.to_string(),
            duration: s.to_string(),
        })
    };
    let cases: &[(&str, Result<i64, DurationError>)] = &[
        ("", Err(DurationError::Empty)),
        ("1", invalid("1")),
        ("1y1m1d", invalid("1y1m1d")),
        ("1m1h", invalid("1m1h")),
        ("1s1s", invalid("1s1s")),
        ("-1w", invalid("-1w")),
        ("d", invalid("d")),
        ("1.5d", unknown(".", "1.5d")),
        ("5 m", unknown(" m", "5 m")),
        ("1M", unknown("M", "1M")),
        ("1us", unknown("us", "1us")),
        ("3mss", unknown("mss", "3mss")),
        ("1é", unknown("é", "1é")),
        (" 1s", invalid(" 1s")),
        ("294y", Err(DurationError::OutOfRange)),
        ("200y10400w", Err(DurationError::OutOfRange)),
        ("107675d", Err(DurationError::OutOfRange)),
        ("2584200h", Err(DurationError::OutOfRange)),
        ("99999999999999999999s", invalid("99999999999999999999s")),
    ];
    for (input, want) in cases {
        assert_eq!(&parse_duration(input), want, "{input:?}");
    }
}

#[test]
fn range_limit_is_gos_time_duration() {
    // 2^63 - 1 nanoseconds is 9223372036854.775807 ms: the largest whole-millisecond
    // duration is accepted, one more millisecond is not.
    assert_eq!(parse_duration("9223372036854ms"), Ok(9_223_372_036_854));
    assert_eq!(
        parse_duration("9223372036855ms"),
        Err(DurationError::OutOfRange)
    );
    assert_eq!(parse_duration("292y"), Ok(292 * Y));
    assert_eq!(parse_duration("293y"), Err(DurationError::OutOfRange));
}

#[test]
fn error_messages_are_prometheus_text() {
    let msg = |s: &str| parse_duration(s).unwrap_err().to_string();
    assert_eq!(msg(""), "empty duration string");
    assert_eq!(msg("1m1h"), r#"not a valid duration string: "1m1h""#);
    assert_eq!(msg("1.5d"), r#"unknown unit "." in duration "1.5d""#);
    assert_eq!(msg("300y"), "duration out of range");
}

#[test]
fn formats_negative_and_extreme_values() {
    assert_eq!(format_duration(-1), "-1ms");
    assert_eq!(format_duration(-(2 * W)), "-2w");
    assert_eq!(format_duration(i64::MIN), "-106751991167d7h12m55s808ms");
    assert_eq!(format_duration(Y - 1), "364d23h59m59s999ms");
}

proptest! {
    #[test]
    fn round_trips(ms in 0i64..=9_223_372_036_854) {
        let text = format_duration(ms);
        prop_assert_eq!(parse_duration(&text), Ok(ms), "{}", text);
    }

    #[test]
    fn never_panics(s in "[0-9a-zµé.\\- ]{0,12}") {
        let _ = parse_duration(&s);
    }
}
