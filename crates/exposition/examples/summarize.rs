//! Parses an exposition file and prints a summary of what it holds.
//!
//! ```text
//! cargo run --release -p narthex-exposition --example summarize -- FILE [--format text|openmetrics|protobuf] [--lenient]
//! ```
//!
//! `FILE` may be `-` for standard input. Without `--format`, files ending in `.om.txt` or
//! holding a final `# EOF` line are read as OpenMetrics, everything else as the text format.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use narthex_exposition::{Entry, Format, ParseOptions, Recovery};
use narthex_model::MetricType;

fn main() -> ExitCode {
    let mut path = None;
    let mut format = None;
    let mut options = ParseOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--format" => {
                format = match args.next().as_deref() {
                    Some("text") => Some(Format::PrometheusText),
                    Some("openmetrics") => Some(Format::OpenMetrics),
                    Some("protobuf") => Some(Format::Protobuf),
                    other => {
                        eprintln!("unknown format {other:?}: use text, openmetrics or protobuf");
                        return ExitCode::from(2);
                    }
                }
            }
            "--lenient" => options.recovery = Recovery::Lenient,
            "-h" | "--help" => {
                eprintln!("usage: summarize FILE [--format text|openmetrics|protobuf] [--lenient]");
                return ExitCode::SUCCESS;
            }
            _ => path = Some(a),
        }
    }
    let Some(path) = path else {
        eprintln!("usage: summarize FILE [--format text|openmetrics|protobuf] [--lenient]");
        return ExitCode::from(2);
    };
    let input = if path == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
            eprintln!("reading standard input: {e}");
            return ExitCode::FAILURE;
        }
        buf
    } else {
        match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let format = format.unwrap_or_else(|| {
        let trimmed = input.strip_suffix(b"\n").unwrap_or(&input);
        if path.ends_with(".om.txt") || trimmed.ends_with(b"# EOF") && !path.ends_with(".prom.txt")
        {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    });

    let start = Instant::now();
    let mut parser = format.parser(&input, options);
    let mut types: BTreeMap<String, MetricType> = BTreeMap::new();
    let (mut samples, mut histograms, mut exemplars, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut series_per_name: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(entry) = parser.next_entry() {
        match entry {
            Ok(Entry::Type { name, metric_type }) => {
                types.insert(name.into_owned(), metric_type);
            }
            Ok(Entry::Sample(s)) => {
                samples += 1;
                exemplars += u64::from(s.exemplar.is_some());
                *series_per_name.entry(s.name.into_owned()).or_default() += 1;
            }
            Ok(Entry::Histogram(h)) => {
                histograms += 1;
                *series_per_name.entry(h.name.into_owned()).or_default() += 1;
            }
            Ok(_) => {}
            Err(e) => {
                errors += 1;
                eprintln!("{path}:{e}");
            }
        }
    }
    let elapsed = start.elapsed();

    println!("file:        {path} ({} bytes, {format:?})", input.len());
    println!("families:    {} with a TYPE line", types.len());
    let mut by_type: BTreeMap<MetricType, u64> = BTreeMap::new();
    for t in types.values() {
        *by_type.entry(*t).or_default() += 1;
    }
    for (t, n) in by_type {
        println!("  {:<15}{n}", t.as_str());
    }
    println!(
        "samples:     {samples} float, {histograms} native histogram, {exemplars} with exemplars"
    );
    let mut top: Vec<_> = series_per_name.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("most series:");
    for (name, n) in top.iter().take(5) {
        println!("  {n:>7}  {name}");
    }
    println!(
        "parsed in:   {:.3} ms ({:.1} MB/s)",
        elapsed.as_secs_f64() * 1e3,
        input.len() as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6
    );
    if errors > 0 {
        println!("errors:      {errors}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
