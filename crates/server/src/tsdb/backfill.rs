//! `narthex tsdb create-blocks-from openmetrics`: backfill. Every sample of an OpenMetrics
//! file (each with a timestamp) goes into blocks aligned to the block duration, as
//! `promtool tsdb create-blocks-from openmetrics` makes them: one block per aligned window
//! holding data, covering its first sample to its last sample + 1 ms, level 1.
//!
//! The input is parsed once into one sample vector per series; each window's block is
//! then written series by series in label order. Chunks are cut as Prometheus's head
//! cuts them (promtool writes its blocks through a head whose chunk range is twice the
//! block duration), so the blocks have the same chunks as promtool's.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use narthex_chunkenc::{Encoding, XorAppender};
use narthex_exposition::{Entry, OpenMetricsParser, ParseOptions, Parser};
use narthex_model::Labels;
use narthex_tsdb::block::meta::{BlockMeta, CompactionMeta};
use narthex_tsdb::block::{Block, BlockWriter, ChunkData};
use narthex_tsdb::exponential_block_ranges;

use super::{Error, block_table, write_stdout};
use crate::cli::OpenMetricsArgs;

/// Prometheus's default (and smallest) block duration: 2h.
const DEFAULT_BLOCK_DURATION: i64 = 2 * 60 * 60 * 1000;

/// The block duration promtool uses for `--max-block-duration`: 2h, or the largest of
/// Prometheus's compaction ranges (2h times powers of 3) that is not above the maximum.
pub(crate) fn compatible_block_duration(max: i64) -> i64 {
    if max <= DEFAULT_BLOCK_DURATION {
        return DEFAULT_BLOCK_DURATION;
    }
    let ranges = exponential_block_ranges(DEFAULT_BLOCK_DURATION, 10, 3);
    ranges
        .iter()
        .copied()
        .take_while(|&r| r <= max)
        .last()
        .unwrap_or(DEFAULT_BLOCK_DURATION)
}

type SeriesMap = HashMap<Labels, Vec<(i64, f64)>>;

/// Series in label order, each with its samples in time order.
type SortedSeries = Vec<(Labels, Vec<(i64, f64)>)>;

/// Parses the whole input into per-series samples, reporting bytes parsed to `progress`.
fn parse(input: &[u8], progress: &ProgressBar) -> Result<SeriesMap, Error> {
    let options = ParseOptions {
        // Accept what Prometheus's parser accepts, as promtool does.
        family_checks: false,
        ..ParseOptions::default()
    };
    let mut parser = OpenMetricsParser::new(input, options);
    let mut series: SeriesMap = HashMap::new();
    // Every OpenMetrics entry is one line: follow them to know the line and byte offset.
    let mut pos = 0usize;
    let mut line = 0u64;
    while let Some(entry) = parser.next_entry() {
        let entry = entry.map_err(|e| format!("parse: {e}"))?;
        line += 1;
        pos = memchr::memchr(b'\n', &input[pos.min(input.len())..])
            .map_or(input.len(), |i| pos + i + 1);
        if line.is_multiple_of(4096) {
            progress.set_position(pos as u64);
        }
        let Entry::Sample(s) = entry else { continue };
        let labels = s.to_labels();
        let Some(t) = s.timestamp else {
            return Err(
                format!("line {line}: expected timestamp for series {labels}, got none").into(),
            );
        };
        series.entry(labels).or_default().push((t, s.value));
    }
    progress.set_position(input.len() as u64);
    Ok(series)
}

/// Sorts each series by time and drops exact duplicates; a timestamp with two different
/// values is an error.
fn sort_series(series: SeriesMap) -> Result<SortedSeries, Error> {
    let mut out: Vec<_> = series.into_iter().collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    for (labels, samples) in &mut out {
        samples.sort_by_key(|s| s.0);
        let mut err = None;
        samples.dedup_by(|b, a| {
            if a.0 != b.0 {
                return false;
            }
            if a.1.to_bits() != b.1.to_bits() && err.is_none() {
                err = Some(a.0);
            }
            true
        });
        if let Some(t) = err {
            return Err(format!(
                "add sample: duplicate sample for timestamp {t} of series {labels}"
            )
            .into());
        }
    }
    Ok(out)
}

/// Writes one block per `duration`-aligned window holding samples; returns the blocks'
/// metas and sizes in time order.
pub(crate) fn write_blocks(
    series: &[(Labels, Vec<(i64, f64)>)],
    duration: i64,
    out_dir: &Path,
    mut on_block: impl FnMut(&BlockMeta, u64) -> Result<(), Error>,
) -> Result<Vec<(BlockMeta, u64)>, Error> {
    let windows: BTreeSet<i64> = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|(t, _)| t.div_euclid(duration)))
        .collect();
    let mut done = Vec::new();
    for w in windows {
        let (lo, hi) = (w * duration, w.saturating_add(1).saturating_mul(duration));
        let in_window = |s: &[(i64, f64)]| {
            let a = s.partition_point(|x| x.0 < lo);
            let b = s.partition_point(|x| x.0 < hi);
            a..b
        };
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        for (_, s) in series {
            let r = in_window(s);
            if !r.is_empty() {
                mint = mint.min(s[r.start].0);
                maxt = maxt.max(s[r.end - 1].0);
            }
        }
        let compaction = CompactionMeta {
            level: 1,
            ..CompactionMeta::default()
        };
        let mut writer = BlockWriter::create(out_dir, mint, maxt + 1, compaction)?;
        for (labels, s) in series {
            let r = in_window(s);
            if r.is_empty() {
                continue;
            }
            let chunks = cut_chunks(&s[r], 2 * duration)?;
            writer.add_series(
                labels,
                chunks.iter().map(|c| ChunkData {
                    encoding: Encoding::Xor.as_u8(),
                    data: c.app.bytes(),
                    mint: c.mint,
                    maxt: c.maxt,
                    samples: c.app.num_samples() as u64,
                }),
            )?;
        }
        if let Some(meta) = writer.finish()? {
            let size = Block::open(&out_dir.join(meta.ulid.to_string()))?.size();
            on_block(&meta, size)?;
            done.push((meta, size));
        }
    }
    Ok(done)
}

/// One XOR chunk being built.
struct Chunk {
    app: XorAppender,
    mint: i64,
    maxt: i64,
}

/// Samples per chunk Prometheus aims for.
const SAMPLES_PER_CHUNK: usize = 120;

/// Encodes one series' samples (sorted, unique timestamps) into XOR chunks cut where
/// Prometheus's head cuts them with chunk range `range`: at the end of the aligned range;
/// once a chunk holds a quarter of its target, at an end time predicted to spread the
/// range's samples evenly over chunks of about 120; and at 240 samples at the latest.
fn cut_chunks(samples: &[(i64, f64)], range: i64) -> Result<Vec<Chunk>, Error> {
    // The end of the `range`-aligned window holding `t` (Go's truncating division).
    let range_end = |t: i64| (t / range) * range + range;
    let mut out: Vec<Chunk> = Vec::new();
    let mut next_at = i64::MIN;
    for &(t, v) in samples {
        let cut = match out.last_mut() {
            None => true,
            Some(c) => {
                let n = c.app.num_samples();
                if n == SAMPLES_PER_CHUNK / 4 {
                    next_at = chunk_end_time(c.mint, c.maxt, next_at);
                }
                t >= next_at || n >= SAMPLES_PER_CHUNK * 2
            }
        };
        if cut {
            out.push(Chunk {
                app: XorAppender::new(),
                mint: t,
                maxt: t,
            });
            next_at = range_end(t);
        }
        let Some(c) = out.last_mut() else { continue };
        c.app
            .append(t, v)
            .map_err(|_| format!("chunk full at timestamp {t}"))?;
        c.maxt = t;
    }
    Ok(out)
}

/// Prometheus's `computeChunkEndTime`: an end time for the chunk `[start, cur]` that
/// spreads the samples up to `max` evenly, given the rate so far.
fn chunk_end_time(start: i64, cur: i64, max: i64) -> i64 {
    let n = (max - start) / ((cur - start + 1) * 4);
    if n <= 1 {
        return max;
    }
    start + (max - start) / n
}

pub(crate) fn run(args: &OpenMetricsArgs) -> Result<(), Error> {
    let max = narthex_promql_syntax::parse_duration(&args.max_block_duration)
        .map_err(|e| format!("invalid --max-block-duration: {e}"))?;
    let duration = compatible_block_duration(max);
    let input =
        std::fs::read(&args.input).map_err(|e| format!("open {}: {e}", args.input.display()))?;
    std::fs::create_dir_all(&args.output_dir).map_err(|e| format!("create output dir: {e}"))?;

    let bar = ProgressBar::with_draw_target(Some(input.len() as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>8} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("parsing");
    let series = sort_series(parse(&input, &bar)?)?;
    drop(input);

    let windows: BTreeSet<i64> = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|(t, _)| t.div_euclid(duration)))
        .collect();
    bar.set_length(windows.len() as u64);
    bar.set_position(0);
    if let Ok(style) = ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} blocks") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("writing");
    let mut first = true;
    write_blocks(&series, duration, &args.output_dir, |meta, size| {
        bar.inc(1);
        if !args.quiet {
            // promtool prints each block as it is written, in its own table: only the
            // first carries the header.
            let text = block_table(&[(meta.clone(), size)], first, args.human_readable);
            first = false;
            bar.suspend(|| write_stdout(&text))?;
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 60 * 60 * 1000;

    #[test]
    fn block_durations() {
        assert_eq!(compatible_block_duration(H), 2 * H);
        assert_eq!(compatible_block_duration(2 * H), 2 * H);
        assert_eq!(compatible_block_duration(5 * H), 2 * H);
        assert_eq!(compatible_block_duration(6 * H), 6 * H);
        assert_eq!(compatible_block_duration(24 * H), 18 * H);
        assert_eq!(compatible_block_duration(i64::MAX), 2 * H * 3i64.pow(9));
    }

    #[test]
    fn chunks_cut_like_prometheus() {
        // 4h every 60s: two chunks of 120, the first ending at the predicted 2h.
        let s: Vec<(i64, f64)> = (0..240).map(|i| (i * 60_000, i as f64)).collect();
        let c = cut_chunks(&s, 4 * H).unwrap();
        let sizes: Vec<usize> = c.iter().map(|c| c.app.num_samples()).collect();
        assert_eq!(sizes, [120, 120]);
        assert_eq!((c[0].mint, c[0].maxt), (0, 2 * H - 60_000));
        // 243 samples every 20.5s in a 4h range: sized for the whole range, cut by the data.
        let s: Vec<(i64, f64)> = (0..243).map(|i| (i * 20_500, i as f64)).collect();
        let sizes: Vec<usize> = cut_chunks(&s, 4 * H)
            .unwrap()
            .iter()
            .map(|c| c.app.num_samples())
            .collect();
        assert_eq!(sizes, [118, 117, 8]);
        // Chunks never cross the range boundary.
        let s: Vec<(i64, f64)> = vec![(4 * H - 1, 1.0), (4 * H, 2.0)];
        assert_eq!(cut_chunks(&s, 4 * H).unwrap().len(), 2);
        // A quick series is cut at 240 samples at the latest.
        let s: Vec<(i64, f64)> = (0..1000).map(|i| (i, 0.0)).collect();
        assert!(
            cut_chunks(&s, 4 * H)
                .unwrap()
                .iter()
                .all(|c| c.app.num_samples() <= 240)
        );
    }

    #[test]
    fn duplicates() {
        let l = Labels::from_pairs([("__name__", "m")]);
        let mut m = SeriesMap::new();
        m.insert(l.clone(), vec![(2, 1.0), (1, 5.0), (2, 1.0)]);
        assert_eq!(
            sort_series(m).unwrap(),
            vec![(l.clone(), vec![(1, 5.0), (2, 1.0)])]
        );
        let mut m = SeriesMap::new();
        m.insert(l, vec![(2, 1.0), (2, 3.0)]);
        assert!(sort_series(m).is_err());
    }

    #[test]
    fn windows_and_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let series = vec![
            (a, vec![(10, 1.0), (2 * H - 1, 2.0), (2 * H, 3.0)]),
            (b, vec![(5 * H, 4.0)]),
        ];
        let blocks = write_blocks(&series, 2 * H, dir.path(), |_, _| Ok(())).unwrap();
        let ranges: Vec<_> = blocks
            .iter()
            .map(|(m, _)| {
                (
                    m.min_time,
                    m.max_time,
                    m.stats.num_samples,
                    m.stats.num_series,
                )
            })
            .collect();
        assert_eq!(
            ranges,
            vec![
                (10, 2 * H, 2, 1),
                (2 * H, 2 * H + 1, 1, 1),
                (5 * H, 5 * H + 1, 1, 1)
            ]
        );
        assert!(blocks.iter().all(|(_, size)| *size > 0));
    }
}
