//! `TextParser::peek_sample` against `next_entry`: a consumer that skips lines whose series
//! text it has seen parse before (under the same TYPE) must read exactly what a consumer
//! that parses every line reads.

use std::collections::HashMap;

use narthex_exposition::{Entry, ParseOptions, Parser, Recovery, TextParser};
use narthex_model::MetricType;
use proptest::prelude::*;

/// What a consumer gets from one sample line.
type Read = (String, Vec<(String, String)>, u64, Option<i64>);

/// A parsed series: name and labels.
type Series = (String, Vec<(String, String)>);

/// Every line through `next_entry`, errors ending the read (as in strict mode).
fn read_all(input: &[u8], options: ParseOptions) -> Vec<Result<Read, String>> {
    let mut p = TextParser::new(input, options);
    let mut out = Vec::new();
    while let Some(e) = p.next_entry() {
        match e {
            Ok(Entry::Sample(s)) => out.push(Ok(owned(&s))),
            Ok(_) => {}
            Err(e) => out.push(Err(e.to_string())),
        }
    }
    out
}

fn owned(s: &narthex_exposition::SampleRef<'_>) -> Read {
    (
        s.name.to_string(),
        s.labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect(),
        s.value.to_bits(),
        s.timestamp,
    )
}

/// The same, skipping every line whose series text (and TYPE in force) parsed before.
fn read_skipping(input: &[u8], options: ParseOptions) -> (Vec<Result<Read, String>>, usize) {
    let mut p = TextParser::new(input, options);
    let mut seen: HashMap<(Vec<u8>, MetricType), Series> = HashMap::new();
    let mut out = Vec::new();
    let mut skipped = 0;
    loop {
        let peeked = p.peek_sample();
        if let Some(raw) = peeked
            && let Some((name, labels)) = seen.get(&(raw.series.to_vec(), raw.type_in_force))
        {
            out.push(Ok((
                name.clone(),
                labels.clone(),
                raw.value.to_bits(),
                raw.timestamp,
            )));
            p.skip_peeked();
            skipped += 1;
            continue;
        }
        let Some(e) = p.next_entry() else { break };
        match e {
            Ok(Entry::Sample(s)) => {
                let r = owned(&s);
                if let Some(raw) = peeked {
                    assert_eq!(raw.value.to_bits(), r.2, "peeked value");
                    assert_eq!(raw.timestamp, r.3, "peeked timestamp");
                    seen.insert(
                        (raw.series.to_vec(), raw.type_in_force),
                        (r.0.clone(), r.1.clone()),
                    );
                }
                out.push(Ok(r));
            }
            Ok(_) => {}
            Err(e) => out.push(Err(e.to_string())),
        }
    }
    (out, skipped)
}

/// Both readings, strict and lenient, must agree; returns how many lines were skipped.
pub(crate) fn check(input: &[u8]) -> usize {
    let mut skipped = 0;
    for recovery in [Recovery::Strict, Recovery::Lenient] {
        let options = ParseOptions {
            recovery,
            family_checks: false,
            ..ParseOptions::default()
        };
        let (fast, n) = read_skipping(input, options);
        assert_eq!(
            fast,
            read_all(input, options),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        skipped += n;
    }
    skipped
}

/// Pieces of sample lines, tricky ones included: quoted names, escapes, braces and blanks
/// inside values, `le`/`quantile` values that TYPE lines rewrite, bad values.
fn line() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("m".to_string()),
        Just("m_bucket".to_string()),
        Just("up".to_string()),
        Just("9bad".to_string()),
        Just("".to_string()),
    ];
    let label = prop_oneof![
        Just("a=\"1\"".to_string()),
        Just("a=\"x y\"".to_string()),
        Just("b=\"}\"".to_string()),
        Just("c=\"\\\"q\\\"\"".to_string()),
        Just("d=\"\\\\\"".to_string()),
        Just("le=\"1\"".to_string()),
        Just("le=\"+Inf\"".to_string()),
        Just("quantile=\"0.5\"".to_string()),
        Just("\"quoted.name\"".to_string()),
        Just("\"q.l\"=\"v\"".to_string()),
        Just("a=\"1\"".to_string()),
        Just("e=\"\\n\"".to_string()),
        Just("f=\"unterminated".to_string()),
        Just(" g = \"sp\" ".to_string()),
        Just("h=\"ü\"".to_string()),
    ];
    let labels = proptest::option::of(proptest::collection::vec(label, 0..4));
    let value = prop_oneof![
        Just("1".to_string()),
        Just("-2.5e3".to_string()),
        Just("NaN".to_string()),
        Just("+Inf".to_string()),
        Just("0x1p3".to_string()),
        Just("abc".to_string()),
        Just("".to_string()),
    ];
    let ts = prop_oneof![
        Just(String::new()),
        Just(" 1000".to_string()),
        Just(" -5".to_string()),
        Just(" 1.5".to_string()),
        Just(" 1 2".to_string()),
    ];
    let sample =
        (name, labels, " {0,2}", value, ts, "[ \t]{0,1}").prop_map(|(n, l, gap, v, t, trail)| {
            let set = l
                .map(|l| format!("{{{}}}", l.join(",")))
                .unwrap_or_default();
            format!("{n}{gap}{set} {v}{t}{trail}")
        });
    prop_oneof![
        6 => sample,
        1 => Just("# TYPE m_bucket histogram".to_string()),
        1 => Just("# TYPE m summary".to_string()),
        1 => Just("# TYPE up gauge".to_string()),
        1 => Just("# HELP m text".to_string()),
        1 => Just("".to_string()),
        1 => Just("   ".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn skipping_known_series_reads_what_parsing_reads(
        lines in proptest::collection::vec(line(), 0..40),
        last_newline in any::<bool>(),
    ) {
        let mut text = lines.join("\n");
        if last_newline {
            text.push('\n');
        }
        check(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_read_the_same(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(&data);
    }
}

#[test]
fn repeated_series_are_skipped() {
    let body = b"# TYPE m_bucket histogram\nm_bucket{le=\"1\"} 1\nup 1\nm_bucket{le=\"1\"} 2 5\nup 3\n# TYPE m_bucket gauge\nm_bucket{le=\"1\"} 4\n";
    // Strict and lenient both skip the two repeats; the line under another TYPE parses.
    assert_eq!(check(body), 4);
}
