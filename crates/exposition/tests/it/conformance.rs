//! The upstream conformance corpus: OpenMetrics parser cases, Prometheus's textparse test
//! data, prometheus/common's expfmt test data and fuzz corpus, promtool's test files.

use std::fs;
use std::path::Path;

use narthex_exposition::{
    Entry, MetricFamily, OpenMetricsParser, ParseOptions, Parser, TextParser, read_families,
    write_openmetrics, write_text,
};
use narthex_model::MetricType;

use crate::common::{Owned, collect, corpus};

/// Runs every case of the OpenMetrics parser suite: valid cases must parse, invalid ones
/// must be rejected.
#[test]
fn openmetrics_suite() {
    let Some(dir) = corpus() else { return };
    let dir = dir.join("openmetrics");
    let mut cases: Vec<_> = fs::read_dir(&dir)
        .expect("openmetrics dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    let mut passed = 0;
    let mut failures = Vec::new();
    for case in &cases {
        let meta: serde_json::Value =
            serde_json::from_slice(&fs::read(case.join("test.json")).expect("test.json"))
                .expect("json");
        let should_parse = meta["shouldParse"].as_bool().expect("shouldParse");
        let input =
            fs::read(case.join(meta["file"].as_str().unwrap_or("metrics"))).expect("metrics");
        let result = collect(OpenMetricsParser::new(&input, ParseOptions::default()));
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match (should_parse, &result) {
            (true, Ok(_)) | (false, Err(_)) => passed += 1,
            (true, Err(e)) => failures.push(format!("{name}: rejected a valid input: {e}")),
            (false, Ok(_)) => failures.push(format!("{name}: accepted an invalid input")),
        }
    }
    println!("openmetrics conformance: {passed}/{} passed", cases.len());
    assert_eq!(cases.len(), 211, "the suite has 211 cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

struct Stats {
    families: usize,
    samples: usize,
    exemplars: usize,
    types: Vec<(MetricType, usize)>,
}

fn stats(families: &[MetricFamily]) -> Stats {
    let mut types: Vec<(MetricType, usize)> = Vec::new();
    for f in families {
        match types.iter_mut().find(|(t, _)| *t == f.metric_type) {
            Some((_, n)) => *n += 1,
            None => types.push((f.metric_type, 1)),
        }
    }
    types.sort();
    Stats {
        families: families.len(),
        samples: families.iter().map(|f| f.samples.len()).sum(),
        exemplars: families
            .iter()
            .flat_map(|f| &f.samples)
            .filter(|s| s.exemplar.is_some())
            .count(),
        types,
    }
}

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn text_entries(input: &[u8]) -> Vec<Owned> {
    collect(TextParser::new(input, ParseOptions::default())).expect("parses")
}

fn om_entries(input: &[u8]) -> Vec<Owned> {
    collect(OpenMetricsParser::new(input, ParseOptions::default())).expect("parses")
}

/// Drops comments: writers do not reproduce them.
fn without_comments(v: Vec<Owned>) -> Vec<Owned> {
    v.into_iter()
        .filter(|e| !matches!(e, Owned::Comment(_)))
        .collect()
}

/// Prometheus's textparse test data: every file parses with the counts the corpus README
/// states, and writing the families back then parsing again gives the same entries.
#[test]
fn textparse_files() {
    let Some(dir) = corpus() else { return };
    let dir = dir.join("exposition/textparse");
    let mut checks = 0;
    let mut passed = 0;
    let mut check = |ok: bool, what: String| {
        checks += 1;
        if ok {
            passed += 1;
        } else {
            eprintln!("FAILED: {what}");
        }
    };

    // Text format: 237 families (112 counter, 97 gauge, 15 histogram, 13 summary), 1857 samples.
    let input = read(&dir, "alltypes.237mfs.prom.txt");
    let fams = read_families(TextParser::new(&input, ParseOptions::default())).expect("parses");
    let s = stats(&fams);
    check(
        s.families == 237,
        format!("alltypes families {}", s.families),
    );
    check(s.samples == 1857, format!("alltypes samples {}", s.samples));
    check(
        s.types
            == vec![
                (MetricType::Counter, 112),
                (MetricType::Gauge, 97),
                (MetricType::Histogram, 15),
                (MetricType::Summary, 13),
            ],
        format!("alltypes types {:?}", s.types),
    );
    let rewritten = write_text(&fams);
    check(
        without_comments(text_entries(&rewritten)) == without_comments(text_entries(&input)),
        "alltypes write-then-parse".into(),
    );

    let input = read(&dir, "alltypes.237mfs.nometa.prom.txt");
    let fams = read_families(TextParser::new(&input, ParseOptions::default())).expect("parses");
    let s = stats(&fams);
    check(s.samples == 1857, format!("nometa samples {}", s.samples));
    let rewritten = write_text(&fams);
    check(
        without_comments(text_entries(&rewritten)) == without_comments(text_entries(&input)),
        "nometa write-then-parse".into(),
    );

    // OpenMetrics: 5 families, 53 samples, 6 exemplars. Its histogram has negative buckets
    // and a `_sum`, which OpenMetrics 1.0 forbids and Prometheus's scraper accepts: read it
    // the way Prometheus does, and check that the strict reading names that rule.
    let input = read(&dir, "alltypes.5mfs.om.txt");
    let strict = collect(OpenMetricsParser::new(&input, ParseOptions::default()));
    check(
        strict
            .as_ref()
            .is_err_and(|e| e.to_string().contains("negative")),
        format!("5mfs strict reading: {strict:?}"),
    );
    let lenient = ParseOptions {
        family_checks: false,
        ..ParseOptions::default()
    };
    let fams = read_families(OpenMetricsParser::new(&input, lenient)).expect("parses");
    let s = stats(&fams);
    check(s.families == 5, format!("5mfs families {}", s.families));
    check(s.samples == 53, format!("5mfs samples {}", s.samples));
    check(s.exemplars == 6, format!("5mfs exemplars {}", s.exemplars));
    let rewritten = write_openmetrics(&fams);
    let reparse = |b: &[u8]| collect(OpenMetricsParser::new(b, lenient)).expect("parses");
    check(
        reparse(&rewritten) == reparse(&input),
        "5mfs write-then-parse".into(),
    );

    // One classic histogram, 42 samples, no newline after # EOF.
    let input = read(&dir, "1histogram.om.txt");
    check(
        !input.ends_with(b"\n"),
        "1histogram has no final newline".into(),
    );
    let fams =
        read_families(OpenMetricsParser::new(&input, ParseOptions::default())).expect("parses");
    let s = stats(&fams);
    check(
        s.families == 1 && s.samples == 42,
        format!("1histogram {} families {} samples", s.families, s.samples),
    );
    check(
        s.types == vec![(MetricType::Histogram, 1)],
        format!("1histogram types {:?}", s.types),
    );
    let rewritten = write_openmetrics(&fams);
    check(
        om_entries(&rewritten) == om_entries(&input),
        "1histogram write-then-parse".into(),
    );

    println!("textparse conformance: {passed}/{checks} passed");
    assert_eq!(passed, checks);
}

/// prometheus/common's expfmt data: the text file's 37 families and 248 samples, and the
/// fuzz corpus, whose file names say whether each input must parse.
#[test]
fn common_expfmt_files() {
    let Some(dir) = corpus() else { return };
    let dir = dir.join("exposition/common-expfmt");
    let mut checks = 0;
    let mut passed = 0;
    let mut failures = Vec::new();

    let input = read(&dir, "text");
    let fams =
        read_families(TextParser::new(&input, ParseOptions::default())).expect("text parses");
    let s = stats(&fams);
    checks += 1;
    if s.families == 37 && s.samples == 248 {
        passed += 1;
    } else {
        failures.push(format!(
            "text: {} families, {} samples",
            s.families, s.samples
        ));
    }

    let mut files: Vec<_> = fs::read_dir(dir.join("fuzz-corpus"))
        .expect("fuzz dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let input = fs::read(&f).expect("read");
        let result = collect(TextParser::new(&input, ParseOptions::default()));
        let must_fail = name.starts_with("from_test_parse_error");
        checks += 1;
        match (must_fail, result) {
            (true, Err(_)) | (false, Ok(_)) => passed += 1,
            (true, Ok(_)) => failures.push(format!("{name}: accepted, must be rejected")),
            (false, Err(e)) => failures.push(format!("{name}: rejected: {e}")),
        }
    }
    println!("common-expfmt text conformance: {passed}/{checks} passed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// promtool's test files: `metrics-test.prom` (4 families, 27 samples, the cardinalities
/// `promtool check metrics --extended` reports), and the two OpenMetrics dumps.
#[test]
fn promtool_files() {
    let Some(dir) = corpus() else { return };
    let dir = dir.join("exposition/promtool");
    let input = read(&dir, "metrics-test.prom");
    let fams = read_families(TextParser::new(&input, ParseOptions::default())).expect("parses");
    let s = stats(&fams);
    assert_eq!((s.families, s.samples), (4, 27));
    let card: Vec<(&str, usize)> = fams
        .iter()
        .map(|f| (f.name.as_str(), f.samples.len()))
        .collect();
    for (name, n) in [
        ("prometheus_tsdb_compaction_chunk_size_bytes", 15),
        ("go_gc_duration_seconds", 7),
        ("net_conntrack_dialer_conn_attempted_total", 4),
        ("go_info", 1),
    ] {
        assert!(card.contains(&(name, n)), "{name}: {card:?}");
    }

    let input = read(&dir, "dump-openmetrics-test.prom");
    let entries = om_entries(&input);
    let samples: Vec<_> = entries
        .iter()
        .filter(|e| matches!(e, Owned::Sample { .. }))
        .collect();
    assert_eq!(samples.len(), 10);
    assert!(
        matches!(
            samples[1],
            Owned::Sample {
                timestamp: Some(60_000),
                ..
            }
        ),
        "{:?}",
        samples[1]
    );

    // The round-trip dump (untyped series, timestamps with millisecond decimals): parse,
    // write, parse again, and get the same entries. (Byte-identical output is the job of
    // the TSDB dump command, which formats numbers as promtool does.)
    let input = read(&dir, "dump-openmetrics-roundtrip-test.prom");
    let fams =
        read_families(OpenMetricsParser::new(&input, ParseOptions::default())).expect("parses");
    assert_eq!(
        fams.iter().map(|f| f.samples.len()).sum::<usize>(),
        input.iter().filter(|c| **c == b'\n').count() - 1
    );
    let out = write_openmetrics(&fams);
    assert_eq!(om_entries(&out), om_entries(&input));
    println!("promtool exposition conformance: 3/3 passed");
}

/// Entries from every parser report the same position format.
#[test]
fn errors_carry_line_and_column() {
    let input = b"a 1\nb{x=\"1\" 2\n";
    let mut p = TextParser::new(input, ParseOptions::default());
    assert!(matches!(p.next_entry(), Some(Ok(Entry::Sample(_)))));
    let err = p.next_entry().expect("an error").expect_err("must fail");
    assert_eq!((err.line, err.column), (2, 9), "{err}");
    assert!(p.next_entry().is_none(), "strict mode stops");
}
