//! `narthex tsdb dump`: every sample in a time range, as `promtool tsdb dump` prints them
//! (`{__name__="m", a="b"} 1.5 1700000000000`), or as OpenMetrics text the way later
//! promtool's `dump-openmetrics` writes it (`m{a="b"} 1.5 1700000000.000`, then `# EOF`).

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};

use narthex_model::float::push_go_g;
use narthex_model::{Labels, Matcher};
use narthex_promql_syntax::Expr;
use narthex_storage::{Queryable, Series, ValueType};
use narthex_tsdb::{Db, Options};

use super::Error;
use crate::cli::{DumpArgs, DumpFormat};

/// The matchers of a series selector such as `up{job="api"}`, as promtool's `--match`
/// takes it (Prometheus's `ParseMetricSelector`).
pub(crate) fn parse_selector(s: &str) -> Result<Vec<Matcher>, Error> {
    match narthex_promql_syntax::parse(s) {
        Ok(Expr::VectorSelector(v)) if v.offset.is_none() && v.at.is_none() => Ok(v.matchers),
        Ok(_) => Err(format!("invalid series selector {s:?}: not a plain vector selector").into()),
        Err(e) => Err(format!("invalid series selector {s:?}: {e}").into()),
    }
}

pub(crate) fn run(args: &DumpArgs) -> Result<(), Error> {
    let selectors = args
        .matches
        .iter()
        .map(|m| parse_selector(m))
        .collect::<Result<Vec<_>, _>>()?;
    let db = Db::open_read_only(&args.db_path, Options::default())?;
    let q = db.querier(args.min_time, args.max_time)?;
    // Series matching any selector, once each, keyed so that a metric's series are
    // together (OpenMetrics wants families contiguous) and in label order.
    let mut series: BTreeMap<(String, Labels), Box<dyn Series + '_>> = BTreeMap::new();
    let all: [Vec<Matcher>; 1] = [Vec::new()];
    let selectors = if selectors.is_empty() {
        &all[..]
    } else {
        &selectors[..]
    };
    for matchers in selectors {
        for s in q.select(true, None, matchers)? {
            let s = s?;
            let key = (
                s.labels().metric_name().unwrap_or_default().to_string(),
                s.labels().clone(),
            );
            series.entry(key).or_insert(s);
        }
    }
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut line = Vec::with_capacity(256);
    let mut skipped_histograms = 0u64;
    for ((name, labels), s) in &series {
        let prefix = match args.format {
            DumpFormat::Text => format!("{labels} "),
            DumpFormat::Openmetrics => openmetrics_series(name, labels),
        };
        let mut it = s.iter();
        loop {
            match it.next() {
                ValueType::None => break,
                ValueType::Float => {
                    let (t, v) = it.at();
                    line.clear();
                    line.extend_from_slice(prefix.as_bytes());
                    match args.format {
                        DumpFormat::Text => {
                            push_go_g(&mut line, v);
                            line.extend_from_slice(format!(" {t}\n").as_bytes());
                        }
                        DumpFormat::Openmetrics => {
                            push_go_g(&mut line, v);
                            line.push(b' ');
                            line.extend_from_slice(seconds(t).as_bytes());
                            line.push(b'\n');
                        }
                    }
                    out.write_all(&line)?;
                }
                ValueType::Histogram | ValueType::FloatHistogram => skipped_histograms += 1,
            }
        }
        if let Some(e) = it.err() {
            return Err(format!("reading {labels}: {e}").into());
        }
    }
    if args.format == DumpFormat::Openmetrics {
        out.write_all(b"# EOF\n")?;
    }
    out.flush()?;
    if skipped_histograms > 0 {
        eprintln!("note: {skipped_histograms} native histogram samples were not dumped");
    }
    Ok(())
}

/// `name{a="b",c="d"} ` in OpenMetrics text (without `__name__` among the labels).
fn openmetrics_series(name: &str, labels: &Labels) -> String {
    let mut s = String::from(name);
    let mut first = true;
    for l in labels.iter().filter(|l| &*l.name != "__name__") {
        s.push(if first { '{' } else { ',' });
        first = false;
        s.push_str(&l.name);
        s.push_str("=\"");
        for c in l.value.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    if !first {
        s.push('}');
    }
    s.push(' ');
    s
}

/// Milliseconds as OpenMetrics seconds with three decimals, as later promtool's
/// `dump-openmetrics` writes them: `1700000000.000`, `1700000000.500`, `-0.001`.
fn seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let u = ms.unsigned_abs();
    format!("{sign}{}.{:03}", u / 1000, u % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_from_millis() {
        assert_eq!(seconds(1_700_000_000_000), "1700000000.000");
        assert_eq!(seconds(1_700_000_000_500), "1700000000.500");
        assert_eq!(seconds(-1), "-0.001");
        assert_eq!(seconds(1_010), "1.010");
    }

    #[test]
    fn selectors() {
        let m = parse_selector(r#"up{job="a"}"#).unwrap();
        assert_eq!(m.len(), 2);
        assert!(parse_selector("rate(up[5m])").is_err());
        assert!(parse_selector("up{").is_err());
    }

    #[test]
    fn openmetrics_escapes() {
        let l = Labels::from_pairs([("__name__", "m"), ("a", "x\"\\\ny")]);
        assert_eq!(openmetrics_series("m", &l), "m{a=\"x\\\"\\\\\\ny\"} ");
        let l = Labels::from_pairs([("__name__", "m")]);
        assert_eq!(openmetrics_series("m", &l), "m ");
    }
}
