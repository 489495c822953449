//! Owned metric families: collect a parser's entries into families, or build them by hand
//! for the writers.

use narthex_model::{Exemplar, Label, Labels, MetricType};

use crate::Parser;
use crate::entry::Entry;
use crate::error::ParseError;

/// One sample of a family, owned.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilySample {
    /// The sample's metric name (`x`, `x_total`, `x_bucket`, ...).
    pub name: String,
    /// Labels in the order they are written, without `__name__`.
    pub labels: Vec<Label>,
    /// The value.
    pub value: f64,
    /// Milliseconds since the epoch, if the sample has a timestamp.
    pub timestamp: Option<i64>,
    /// An exemplar, if any.
    pub exemplar: Option<Exemplar>,
}

impl FamilySample {
    /// A sample with no timestamp and no exemplar.
    pub fn new(name: impl Into<String>, labels: &[(&str, &str)], value: f64) -> Self {
        FamilySample {
            name: name.into(),
            labels: labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
            value,
            timestamp: None,
            exemplar: None,
        }
    }

    /// The full label set, `__name__` included.
    pub fn to_labels(&self) -> Labels {
        let mut v = self.labels.clone();
        v.push(Label::new(narthex_model::METRIC_NAME, self.name.as_str()));
        Labels::from_labels(v)
    }
}

/// A metric family: metadata and its samples (flattened, as in the text formats).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricFamily {
    /// The family name (for a counter in OpenMetrics: without `_total`).
    pub name: String,
    /// Help text, if given.
    pub help: Option<String>,
    /// The type; [`MetricType::Unknown`] when no TYPE was given.
    pub metric_type: MetricType,
    /// The unit (OpenMetrics), if given.
    pub unit: Option<String>,
    /// The samples in input order.
    pub samples: Vec<FamilySample>,
}

/// Whether `sample` can belong to a family called `family` of type `t`.
fn belongs(family: &str, t: MetricType, sample: &str) -> bool {
    let Some(suffix) = sample.strip_prefix(family) else {
        return false;
    };
    match t {
        MetricType::Counter => matches!(suffix, "" | "_total" | "_created"),
        MetricType::Histogram => matches!(suffix, "_bucket" | "_count" | "_sum" | "_created"),
        MetricType::GaugeHistogram => matches!(suffix, "_bucket" | "_gcount" | "_gsum"),
        MetricType::Summary => matches!(suffix, "" | "_count" | "_sum" | "_created"),
        MetricType::Info => matches!(suffix, "_info"),
        _ => suffix.is_empty(),
    }
}

/// Reads every entry of `parser` into families. Metadata lines open a family (or add to
/// the current one of the same name); a sample joins the current family when its name
/// fits the family's type, and otherwise opens an untyped family of its own name.
/// Comments are dropped; native histograms are dropped too (they have no flat form).
pub fn read_families(mut parser: impl Parser) -> Result<Vec<MetricFamily>, ParseError> {
    let mut out: Vec<MetricFamily> = Vec::new();
    while let Some(entry) = parser.next_entry() {
        match entry? {
            Entry::Help { name, help } => {
                family_for_meta(&mut out, &name).help = Some(help.into_owned())
            }
            Entry::Type { name, metric_type } => {
                family_for_meta(&mut out, &name).metric_type = metric_type
            }
            Entry::Unit { name, unit } => {
                family_for_meta(&mut out, &name).unit = Some(unit.into_owned())
            }
            Entry::Comment(_) | Entry::Histogram(_) => {}
            Entry::Sample(s) => {
                let fits = out
                    .last()
                    .is_some_and(|f| belongs(&f.name, f.metric_type, &s.name));
                if !fits {
                    out.push(MetricFamily {
                        name: s.name.to_string(),
                        ..MetricFamily::default()
                    });
                }
                let f = out.last_mut().expect("pushed above");
                f.samples.push(FamilySample {
                    name: s.name.into_owned(),
                    labels: s
                        .labels
                        .iter()
                        .map(|l| Label::new(&*l.name, &*l.value))
                        .collect(),
                    value: s.value,
                    timestamp: s.timestamp,
                    exemplar: s.exemplar.as_ref().map(|e| e.to_exemplar()),
                });
            }
        }
    }
    Ok(out)
}

fn family_for_meta<'f>(out: &'f mut Vec<MetricFamily>, name: &str) -> &'f mut MetricFamily {
    let same = out
        .last()
        .is_some_and(|f| f.name == name && f.samples.is_empty());
    if !same {
        out.push(MetricFamily {
            name: name.to_string(),
            ..MetricFamily::default()
        });
    }
    out.last_mut().expect("pushed above")
}
