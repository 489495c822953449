//! `narthex check metrics`: lints metrics in the Prometheus text format read from stdin,
//! with the rules `promtool check metrics` applies (client_golang's `promlint`): help
//! text, base units, counter and reserved suffixes, types in names, colons, camelCase and
//! abbreviated units. Problems are printed sorted by metric and text, one per line.

use narthex_exposition::{MetricFamily, ParseOptions, TextParser, read_families};
use narthex_model::MetricType;

/// Units and the base unit each should be expressed in.
const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];

const UNIT_ABBREVIATIONS: &[&str] = &[
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

/// A finding: the family it is about and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Problem {
    pub(crate) metric: String,
    pub(crate) text: String,
}

/// Parses `text` (Prometheus text format) and lints every family; `Err` is the parse
/// error.
pub(crate) fn lint_text(text: &[u8]) -> Result<Vec<Problem>, String> {
    let families =
        read_families(TextParser::new(text, ParseOptions::default())).map_err(|e| e.to_string())?;
    let mut problems: Vec<Problem> = families.iter().flat_map(lint).collect();
    problems.sort();
    Ok(problems)
}

/// The unit word in `name` and its base unit, if the name has one.
fn metric_unit(name: &str) -> Option<(&str, &'static str)> {
    let base_of = |w: &str| UNITS.iter().find(|(u, _)| *u == w).map(|(_, b)| *b);
    for word in name.split('_') {
        if let Some(b) = base_of(word) {
            return Some((word, b));
        }
        for p in UNIT_PREFIXES {
            if let Some(rest) = word.strip_prefix(p)
                && let Some(b) = base_of(rest)
            {
                return Some((word, b));
            }
        }
    }
    None
}

fn has_camel_case(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

/// The label sets of a family's metrics as Go's parser groups them: one per histogram or
/// summary (its `le`/`quantile` lines are parts of it), one per sample otherwise.
fn metric_labels(f: &MetricFamily) -> Vec<Vec<&str>> {
    let grouped = matches!(f.metric_type, MetricType::Histogram | MetricType::Summary);
    let mut out: Vec<Vec<&str>> = Vec::new();
    for s in &f.samples {
        let names: Vec<&str> = s
            .labels
            .iter()
            .map(|l| &*l.name)
            .filter(|n| !grouped || (*n != "le" && *n != "quantile"))
            .collect();
        if grouped {
            let key: Vec<(&str, &str)> = s
                .labels
                .iter()
                .filter(|l| &*l.name != "le" && &*l.name != "quantile")
                .map(|l| (&*l.name, &*l.value))
                .collect();
            let seen = f
                .samples
                .iter()
                .take_while(|x| !std::ptr::eq(*x, s))
                .any(|x| {
                    let k: Vec<(&str, &str)> = x
                        .labels
                        .iter()
                        .filter(|l| &*l.name != "le" && &*l.name != "quantile")
                        .map(|l| (&*l.name, &*l.value))
                        .collect();
                    k == key
                });
            if seen {
                continue;
            }
        }
        out.push(names);
    }
    out
}

fn lint(f: &MetricFamily) -> Vec<Problem> {
    let name = f.name.as_str();
    let mut texts: Vec<String> = Vec::new();
    if f.help.is_none() {
        texts.push("no help text".into());
    }
    if let Some((unit, base)) = metric_unit(name)
        && unit != base
    {
        texts.push(format!("use base unit {base:?} instead of {unit:?}"));
    }
    let t = f.metric_type;
    let untyped = t == MetricType::Unknown;
    let total = name.ends_with("_total");
    if t == MetricType::Counter && !total {
        texts.push(r#"counter metrics should have "_total" suffix"#.into());
    } else if !untyped && t != MetricType::Counter && total {
        texts.push(r#"non-counter metrics should not have "_total" suffix"#.into());
    }
    let labels = metric_labels(f);
    if !untyped {
        let (hist, summary) = (t == MetricType::Histogram, t == MetricType::Summary);
        if !hist && name.ends_with("_bucket") {
            texts.push(r#"non-histogram metrics should not have "_bucket" suffix"#.into());
        }
        if !hist && !summary && name.ends_with("_count") {
            texts.push(
                r#"non-histogram and non-summary metrics should not have "_count" suffix"#.into(),
            );
        }
        if !hist && !summary && name.ends_with("_sum") {
            texts.push(
                r#"non-histogram and non-summary metrics should not have "_sum" suffix"#.into(),
            );
        }
        for m in &labels {
            for l in m {
                if !hist && *l == "le" {
                    texts.push(r#"non-histogram metrics should not have "le" label"#.into());
                }
                if !summary && *l == "quantile" {
                    texts.push(r#"non-summary metrics should not have "quantile" label"#.into());
                }
            }
        }
    }
    let lower = name.to_ascii_lowercase();
    let contains_word =
        |w: &str| lower.contains(&format!("_{w}_")) || lower.ends_with(&format!("_{w}"));
    for typ in [
        "counter",
        "gauge",
        "summary",
        "histogram",
        "gauge_histogram",
    ] {
        if contains_word(typ) {
            texts.push(format!("metric name should not include type '{typ}'"));
        }
    }
    if name.contains(':') {
        texts.push("metric names should not contain ':'".into());
    }
    if has_camel_case(name) {
        texts.push("metric names should be written in 'snake_case' not 'camelCase'".into());
    }
    for m in &labels {
        for l in m {
            if has_camel_case(l) {
                texts.push("label names should be written in 'snake_case' not 'camelCase'".into());
            }
        }
    }
    for a in UNIT_ABBREVIATIONS {
        if contains_word(a) {
            texts.push("metric names should not contain abbreviated units".into());
        }
    }
    texts
        .into_iter()
        .map(|text| Problem {
            metric: name.to_string(),
            text,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        lint_text(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|p| format!("{} {}", p.metric, p.text))
            .collect()
    }

    #[test]
    fn clean_metrics_have_no_problems() {
        assert!(lines("# HELP ok_total Fine.\n# TYPE ok_total counter\nok_total 1\n").is_empty());
        assert!(
            lines("# HELP req_seconds Latency.\n# TYPE req_seconds histogram\nreq_seconds_bucket{le=\"1\"} 1\nreq_seconds_bucket{le=\"+Inf\"} 1\nreq_seconds_sum 1\nreq_seconds_count 1\n")
                .is_empty()
        );
    }

    #[test]
    fn each_rule_fires() {
        let got = lines(
            "# TYPE rt_milliseconds gauge\nrt_milliseconds{fooBar=\"1\"} 1\nrt_milliseconds{fooBar=\"2\"} 1\n",
        );
        assert_eq!(
            got,
            vec![
                "rt_milliseconds label names should be written in 'snake_case' not 'camelCase'",
                "rt_milliseconds label names should be written in 'snake_case' not 'camelCase'",
                "rt_milliseconds no help text",
                "rt_milliseconds use base unit \"seconds\" instead of \"milliseconds\"",
            ]
        );
        let got = lines("# HELP x_gauge_total y\n# TYPE x_gauge_total gauge\nx_gauge_total 1\n");
        assert_eq!(
            got,
            vec![
                "x_gauge_total metric name should not include type 'gauge'",
                "x_gauge_total non-counter metrics should not have \"_total\" suffix",
            ]
        );
        // A histogram's bucket lines are one metric: a camelCase label counts once.
        let got = lines(
            "# HELP h_seconds y\n# TYPE h_seconds histogram\nh_seconds_bucket{aB=\"1\",le=\"1\"} 1\nh_seconds_bucket{aB=\"1\",le=\"+Inf\"} 1\nh_seconds_sum{aB=\"1\"} 1\nh_seconds_count{aB=\"1\"} 1\n",
        );
        assert_eq!(
            got,
            vec!["h_seconds label names should be written in 'snake_case' not 'camelCase'"]
        );
        assert!(lint_text(b"garbage{ 1\n").is_err());
    }
}
