//! `narthex tsdb analyze`: label cardinality and churn of one block, with the sections and
//! numbers of `promtool tsdb analyze`.
//!
//! Churn: for every series, the part of the block's time range its chunks do not cover
//! (`range - (last chunk's max time - first chunk's min time)`); summed per label pair and
//! per label name, and divided by the range, it says how many "whole series" of churn a
//! label is involved in.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use narthex_model::Labels;
use narthex_tsdb::block::ChunkMeta;
use narthex_tsdb::{Db, Options};

use super::{Error, write_stdout};
use crate::cli::AnalyzeArgs;
use crate::gofmt;

/// What the analysis found, before the lists are cut to a limit.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Analysis {
    /// Distinct label names.
    pub(crate) label_names: usize,
    /// Distinct `name=value` pairs.
    pub(crate) unique_pairs: usize,
    /// Label pairs over all series.
    pub(crate) entries: u64,
    /// Titled lists of `(count, key)`, sorted by count (descending), then key.
    pub(crate) sections: Vec<(&'static str, Vec<(u64, String)>)>,
}

/// Analyzes a block covering `[min_time, max_time)` from its series and each series' chunk
/// time span (`None` for a series without chunks).
pub(crate) fn analyze(
    min_time: i64,
    max_time: i64,
    series: impl IntoIterator<Item = (Labels, Option<(i64, i64)>)>,
) -> Analysis {
    let range = max_time.wrapping_sub(min_time) as u64;
    let mut labels_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_count: HashMap<String, u64> = HashMap::new();
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut names: HashMap<String, u64> = HashMap::new();
    let mut entries = 0u64;
    for (lbls, span) in series {
        // As promtool: unsigned arithmetic on the covered span.
        let covered = span.map_or(0, |(a, b)| b.wrapping_sub(a) as u64);
        let uncovered = range.wrapping_sub(covered);
        for l in &lbls {
            let key = format!("{}={}", l.name, l.value);
            *labels_uncovered.entry(l.name.to_string()).or_default() += uncovered;
            *pairs_uncovered.entry(key.clone()).or_default() += uncovered;
            *pairs_count.entry(key).or_default() += 1;
            values
                .entry(l.name.to_string())
                .or_default()
                .insert(l.value.to_string());
            entries += 1;
        }
        if let Some(n) = lbls.metric_name() {
            *names.entry(n.to_string()).or_default() += 1;
        }
    }
    let per_range = |m: u64| (m as f64 / range as f64) as u64;
    let sorted = |v: Vec<(u64, String)>| {
        let mut v = v;
        v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        v
    };
    let unique_pairs = pairs_uncovered.len();
    let sections = vec![
        (
            "Label pairs most involved in churning",
            sorted(
                pairs_uncovered
                    .into_iter()
                    .map(|(k, m)| (per_range(m), k))
                    .collect(),
            ),
        ),
        (
            "Label names most involved in churning",
            sorted(
                labels_uncovered
                    .into_iter()
                    .map(|(k, m)| (per_range(m), k))
                    .collect(),
            ),
        ),
        (
            "Most common label pairs",
            sorted(pairs_count.into_iter().map(|(k, m)| (m, k)).collect()),
        ),
        (
            "Label names with highest cumulative label value length",
            sorted(
                values
                    .iter()
                    .map(|(n, vs)| (vs.iter().map(|v| v.len() as u64).sum(), n.clone()))
                    .collect(),
            ),
        ),
        (
            "Highest cardinality labels",
            sorted(
                values
                    .iter()
                    .map(|(n, vs)| (vs.len() as u64, n.clone()))
                    .collect(),
            ),
        ),
        (
            "Highest cardinality metric names",
            sorted(names.into_iter().map(|(k, m)| (m, k)).collect()),
        ),
    ];
    Analysis {
        label_names: values.len(),
        unique_pairs,
        entries,
        sections,
    }
}

/// The sections as promtool prints them: a blank line, `Title:`, then up to `limit` lines
/// of `count key`.
pub(crate) fn render_sections(a: &Analysis, limit: usize) -> String {
    let mut out = String::new();
    for (title, items) in &a.sections {
        let _ = writeln!(out, "\n{title}:");
        for (n, k) in items.iter().take(limit) {
            let _ = writeln!(out, "{n} {k}");
        }
    }
    out
}

/// promtool's `--extended` chunk fullness histogram from the sample count of every chunk:
/// ten buckets of 10% of 120 samples, each a bar of one `#` per whole percent of chunks.
pub(crate) fn render_fullness(sample_counts: &[u64]) -> String {
    const MAX: f64 = 120.0;
    let mut buckets = [0u64; 10];
    for &n in sample_counts {
        let size = (n as f64).min(MAX);
        let b = ((10.0 * size / MAX).ceil() as usize)
            .saturating_sub(1)
            .min(9);
        buckets[b] += 1;
    }
    let total = sample_counts.len() as u64;
    let mut out = String::from(
        "\nCompaction analysis:\nFullness: Amount of samples in chunks (100% is 120 samples)\n",
    );
    for (i, count) in buckets.iter().enumerate() {
        let pct = (100 * count).checked_div(total).unwrap_or(0) as usize;
        let _ = writeln!(out, "{:>7}%: {}", (i + 1) * 10, "#".repeat(pct));
    }
    out
}

pub(crate) fn run(args: &AnalyzeArgs) -> Result<(), Error> {
    let db = Db::open_read_only(&args.db_path, Options::default())?;
    let blocks = db.blocks();
    let id = args.block_id.as_deref().unwrap_or("");
    let block = match &args.block_id {
        Some(id) => blocks.iter().find(|b| b.meta().ulid.to_string() == *id),
        None => blocks.last(),
    }
    .ok_or_else(|| format!("block {id} not found"))?;
    let meta = block.meta();
    let ix = block.index();
    let mut series = Vec::new();
    let mut sample_counts = Vec::new();
    let mut chunks: Vec<ChunkMeta> = Vec::new();
    for r in ix.postings_of("", "")? {
        chunks.clear();
        let lbls = ix.series(r, &mut chunks)?;
        let span = match (chunks.first(), chunks.last()) {
            (Some(f), Some(l)) => Some((f.mint, l.maxt)),
            _ => None,
        };
        if args.extended {
            for c in &chunks {
                let (_, data) = block.chunks().chunk(c.chunk_ref)?;
                let n = match data {
                    [a, b, ..] => u16::from_be_bytes([*a, *b]),
                    _ => 0,
                };
                sample_counts.push(u64::from(n));
            }
        }
        series.push((lbls, span));
    }
    let a = analyze(meta.min_time, meta.max_time, series);
    let mut out = String::new();
    let _ = writeln!(out, "Block ID: {}", meta.ulid);
    let _ = writeln!(
        out,
        "Duration: {}",
        gofmt::duration(
            meta.max_time
                .wrapping_sub(meta.min_time)
                .wrapping_mul(1_000_000)
        )
    );
    let _ = writeln!(out, "Series: {}", meta.stats.num_series);
    let _ = writeln!(out, "Label names: {}", a.label_names);
    let _ = writeln!(out, "Postings (unique label pairs): {}", a.unique_pairs);
    let _ = writeln!(out, "Postings entries (total label pairs): {}", a.entries);
    out.push_str(&render_sections(&a, args.limit));
    if args.extended {
        out.push_str(&render_fullness(&sample_counts));
    }
    write_stdout(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn counts_and_churn() {
        // A 100 ms block; one series covers all of it, two cover half, one covers none.
        let a = analyze(
            0,
            100,
            vec![
                (l(&[("__name__", "up"), ("job", "a")]), Some((0, 100))),
                (l(&[("__name__", "up"), ("job", "b")]), Some((0, 50))),
                (l(&[("__name__", "up"), ("job", "c")]), Some((50, 100))),
                (
                    l(&[("__name__", "go_goroutines"), ("job", "a")]),
                    Some((10, 10)),
                ),
            ],
        );
        assert_eq!(a.label_names, 2);
        assert_eq!(a.unique_pairs, 5);
        assert_eq!(a.entries, 8);
        let section = |t: &str| {
            a.sections
                .iter()
                .find(|(title, _)| *title == t)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let s = |v: &[(u64, &str)]| {
            v.iter()
                .map(|(n, k)| (*n, k.to_string()))
                .collect::<Vec<_>>()
        };
        // up: 0 + 50 + 50 uncovered = 1.0 series; go_goroutines: 100 = 1.0; job=a: 0+100.
        assert_eq!(
            section("Label pairs most involved in churning"),
            s(&[
                (1, "__name__=go_goroutines"),
                (1, "__name__=up"),
                (1, "job=a"),
                (0, "job=b"),
                (0, "job=c"),
            ])
        );
        assert_eq!(
            section("Label names most involved in churning"),
            s(&[(2, "__name__"), (2, "job")])
        );
        assert_eq!(
            section("Most common label pairs")[..2],
            s(&[(3, "__name__=up"), (2, "job=a")])[..]
        );
        assert_eq!(
            section("Label names with highest cumulative label value length"),
            s(&[(15, "__name__"), (3, "job")])
        );
        assert_eq!(
            section("Highest cardinality labels"),
            s(&[(3, "job"), (2, "__name__")])
        );
        assert_eq!(
            section("Highest cardinality metric names"),
            s(&[(3, "up"), (1, "go_goroutines")])
        );
    }

    #[test]
    fn limit_cuts_every_section() {
        let a = analyze(
            0,
            10,
            (0..5).map(|i| (l(&[("__name__", "m"), ("i", &i.to_string())]), Some((0, 9)))),
        );
        let text = render_sections(&a, 2);
        assert!(text.starts_with("\nLabel pairs most involved in churning:\n"));
        assert_eq!(text.lines().filter(|l| l.ends_with(':')).count(), 6);
        assert_eq!(
            text.lines()
                .filter(|l| !l.is_empty() && !l.ends_with(':'))
                .count(),
            11
        );
    }

    #[test]
    fn fullness_histogram() {
        let text = render_fullness(&[120, 120, 12, 60]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[3], "     10%: #########################");
        assert_eq!(lines[7], "     50%: #########################");
        assert_eq!(
            lines[12],
            "    100%: ##################################################"
        );
        assert_eq!(render_fullness(&[]).lines().count(), 13);
    }
}
