//! Shared helpers: locating the conformance corpus, collecting parser output.

use std::path::PathBuf;

use narthex_exposition::{Entry, ParseError, Parser};

/// The conformance corpus directory, or `None` (with a loud message) when it is missing
/// outside CI. Under `CI=true` a missing corpus fails the test.
pub(crate) fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("NARTHEX_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/conformance"
            ))
        });
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "conformance corpus not found at {} (CI=true)",
            dir.display()
        );
    }
    eprintln!(
        "\n!!! SKIPPED: conformance corpus not found at {} !!!\n",
        dir.display()
    );
    None
}

/// Label pairs, owned.
pub(crate) type Pairs = Vec<(String, String)>;

/// An owned copy of one entry, for comparisons.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Owned {
    Help(String, String),
    Type(String, narthex_model::MetricType),
    Unit(String, String),
    Comment(String),
    Sample {
        name: String,
        labels: Pairs,
        value: u64,
        timestamp: Option<i64>,
        exemplar: Option<(Pairs, u64, Option<i64>)>,
    },
    Histogram(String),
}

impl Owned {
    pub(crate) fn from_entry(e: &Entry<'_>) -> Owned {
        let pairs = |ls: &[narthex_exposition::LabelRef<'_>]| {
            ls.iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect::<Vec<_>>()
        };
        match e {
            Entry::Help { name, help } => Owned::Help(name.to_string(), help.to_string()),
            Entry::Type { name, metric_type } => Owned::Type(name.to_string(), *metric_type),
            Entry::Unit { name, unit } => Owned::Unit(name.to_string(), unit.to_string()),
            Entry::Comment(c) => Owned::Comment(c.to_string()),
            Entry::Sample(s) => Owned::Sample {
                name: s.name.to_string(),
                labels: pairs(s.labels),
                value: s.value.to_bits(),
                timestamp: s.timestamp,
                exemplar: s
                    .exemplar
                    .as_ref()
                    .map(|x| (pairs(x.labels), x.value.to_bits(), x.timestamp)),
            },
            Entry::Histogram(h) => Owned::Histogram(format!("{h:?}")),
        }
    }
}

/// Every entry (owned) or the first error.
pub(crate) fn collect(mut p: impl Parser) -> Result<Vec<Owned>, ParseError> {
    let mut out = Vec::new();
    while let Some(e) = p.next_entry() {
        out.push(Owned::from_entry(&e?));
    }
    Ok(out)
}
