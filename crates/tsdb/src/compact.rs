//! Compaction: persisting the head's oldest range as a block, merging blocks into larger
//! ones (Prometheus's leveled compaction) or overlapping ones into one (vertical
//! compaction), applying tombstones on the way.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use narthex_model::Labels;
use narthex_storage::{SampleValue, StorageError};

use crate::block::meta::{BlockDesc, BlockMeta, CompactionMeta};
use crate::block::{Block, BlockWriter, ChunkData};
use crate::chunk::{EncodedChunk, HeadValue, encode_samples};
use crate::head::Head;
use crate::head::series::{chunks_in_range, read_samples};

/// Prometheus's exponential block ranges: `min`, then each `step` times the previous.
pub fn exponential_block_ranges(min: i64, steps: usize, step: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(steps);
    let mut r = min;
    for _ in 0..steps {
        out.push(r);
        r = r.saturating_mul(step);
    }
    out
}

/// The blocks (indices into `metas`, sorted by min time) the next compaction merges, as
/// Prometheus's leveled compactor plans it: overlapping blocks first; else blocks that
/// fill an aligned range of a larger size (never the newest block); else a big block
/// with many tombstones, on its own.
pub fn plan(metas: &[BlockMeta], ranges: &[i64]) -> Vec<usize> {
    let overlapping = overlapping_blocks(metas);
    if !overlapping.is_empty() {
        return overlapping;
    }
    if metas.len() < 2 {
        return Vec::new();
    }
    // The newest block stays out, giving users a block range to back it up untouched.
    let candidates = &metas[..metas.len() - 1];
    let selected = select_dirs(candidates, ranges);
    if !selected.is_empty() {
        return selected;
    }
    if let Some(mid) = ranges.get(ranges.len() / 2) {
        for i in (0..candidates.len()).rev() {
            let m = &candidates[i];
            if m.max_time - m.min_time < *mid {
                break;
            }
            if m.stats.num_tombstones as f64 / (m.stats.num_series + 1) as f64 > 0.05 {
                return vec![i];
            }
        }
    }
    Vec::new()
}

/// The first run of blocks whose time ranges overlap.
fn overlapping_blocks(metas: &[BlockMeta]) -> Vec<usize> {
    let mut out = Vec::new();
    let Some(first) = metas.first() else {
        return out;
    };
    let mut global_max = first.max_time;
    for (i, m) in metas.iter().enumerate().skip(1) {
        if m.min_time < global_max {
            if out.is_empty() {
                out.push(i - 1);
            }
            out.push(i);
        } else if !out.is_empty() {
            break;
        }
        global_max = global_max.max(m.max_time);
    }
    out
}

fn select_dirs(metas: &[BlockMeta], ranges: &[i64]) -> Vec<usize> {
    let Some(last) = metas.last() else {
        return Vec::new();
    };
    let high = last.min_time;
    for &iv in ranges.iter().skip(1) {
        for group in split_by_range(metas, iv) {
            if group.iter().any(|&i| metas[i].compaction.failed) {
                continue;
            }
            let (Some(&a), Some(&b)) = (group.first(), group.last()) else {
                continue;
            };
            let (mint, maxt) = (metas[a].min_time, metas[b].max_time);
            if (maxt - mint == iv || maxt <= high) && group.len() > 1 {
                return group;
            }
        }
    }
    Vec::new()
}

/// Groups consecutive blocks that fall inside one aligned range of width `tr`; blocks
/// wider than their range are skipped.
fn split_by_range(metas: &[BlockMeta], tr: i64) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < metas.len() {
        let t0 = metas[i].min_time.div_euclid(tr) * tr;
        if metas[i].max_time > t0 + tr {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < metas.len() && metas[i].max_time <= t0 + tr {
            group.push(i);
            i += 1;
        }
        if !group.is_empty() {
            out.push(group);
        }
    }
    out
}

fn add_encoded(
    w: &mut BlockWriter,
    labels: &Labels,
    chunks: &[EncodedChunk],
) -> Result<(), StorageError> {
    w.add_series(
        labels,
        chunks.iter().map(|c| ChunkData {
            encoding: c.encoding,
            data: &c.bytes,
            mint: c.mint,
            maxt: c.maxt,
            samples: c.samples as u64,
        }),
    )?;
    Ok(())
}

fn encode(
    samples: &[(i64, SampleValue)],
    per_chunk: usize,
) -> Result<Vec<EncodedChunk>, StorageError> {
    encode_samples(samples, per_chunk).map_err(StorageError::InvalidHistogram)
}

/// What a head compaction wrote and which out-of-order samples it took along.
pub(crate) struct HeadBlock {
    pub(crate) meta: Option<BlockMeta>,
    /// Series ref -> out-of-order timestamps persisted in the block.
    pub(crate) ooo_persisted: HashMap<u64, Vec<i64>>,
}

/// Writes the head's samples in `[mint, maxt)` (tombstones applied) as a level-1 block
/// in `parent`. With `ooo_only`, only out-of-order samples go in (for ranges already
/// persisted, which vertical compaction then merges).
pub(crate) fn write_head_block(
    parent: &Path,
    head: &Head,
    mint: i64,
    maxt: i64,
    ooo_only: bool,
) -> Result<HeadBlock, StorageError> {
    let mut series = head.all_series();
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let tombstones = head.tombstones.read().clone();
    let mut w = BlockWriter::create(
        parent,
        mint,
        maxt,
        CompactionMeta {
            level: 1,
            ..CompactionMeta::default()
        },
    )?;
    let per_chunk = head.opts.samples_per_chunk;
    let mut ooo_persisted = HashMap::new();
    for s in series {
        let ooo: Vec<(i64, HeadValue)> = {
            let st = s.state.lock();
            st.ooo()
                .range(mint..maxt)
                .map(|(t, v)| (*t, v.clone()))
                .collect()
        };
        let deleted = tombstones.get(&s.r).map(Vec::as_slice).unwrap_or(&[]);
        if !ooo_only
            && ooo.is_empty()
            && deleted.is_empty()
            && let Some(chunks) = chunks_in_range(&s, mint, maxt, &head.disk)?
        {
            // The head cuts chunks at block range boundaries: take them as they are.
            if !chunks.is_empty() {
                add_encoded(&mut w, &s.labels, &chunks)?;
            }
            continue;
        }
        let samples = if ooo_only {
            if ooo.is_empty() {
                continue;
            }
            let mut v: Vec<(i64, SampleValue)> =
                ooo.iter().map(|(t, v)| (*t, v.to_sample_value())).collect();
            v.retain(|(t, _)| !deleted.iter().any(|(a, b)| t >= a && t <= b));
            v
        } else {
            // Block chunks have no room for start timestamps: they stay in the head only.
            read_samples(&s, mint, maxt - 1, deleted, &head.disk)?.0
        };
        if !ooo.is_empty() {
            ooo_persisted.insert(s.r, ooo.iter().map(|(t, _)| *t).collect());
        }
        if samples.is_empty() {
            continue;
        }
        add_encoded(&mut w, &s.labels, &encode(&samples, per_chunk)?)?;
    }
    let meta = w.finish()?;
    Ok(HeadBlock {
        meta,
        ooo_persisted,
    })
}

/// Merges `blocks` (sorted by min time) into one new block in `parent`. Chunks are copied
/// as they are when the blocks neither overlap nor carry tombstones; otherwise samples
/// are merged (duplicates dropped, deleted ranges left out) and re-encoded.
pub(crate) fn compact_blocks(
    parent: &Path,
    blocks: &[Arc<Block>],
    samples_per_chunk: usize,
) -> Result<Option<BlockMeta>, StorageError> {
    let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta()).collect();
    let mint = metas.iter().map(|m| m.min_time).min().unwrap_or(0);
    let maxt = metas.iter().map(|m| m.max_time).max().unwrap_or(0);
    let mut sources: Vec<ulid::Ulid> = metas
        .iter()
        .flat_map(|m| m.compaction.sources.iter().copied())
        .collect();
    sources.sort();
    sources.dedup();
    let compaction = CompactionMeta {
        level: metas.iter().map(|m| m.compaction.level).max().unwrap_or(0) + 1,
        sources,
        parents: metas
            .iter()
            .map(|m| BlockDesc {
                ulid: m.ulid,
                min_time: m.min_time,
                max_time: m.max_time,
            })
            .collect(),
        ..CompactionMeta::default()
    };
    let mut w = BlockWriter::create(parent, mint, maxt, compaction)?;
    let overlap = metas.windows(2).any(|p| p[1].min_time < p[0].max_time);
    let tombstones = blocks.iter().any(|b| b.has_tombstones());
    if overlap || tombstones {
        merge_samples(&mut w, blocks, samples_per_chunk)?;
    } else {
        copy_chunks(&mut w, blocks)?;
    }
    Ok(w.finish()?)
}

fn merge_samples(
    w: &mut BlockWriter,
    blocks: &[Arc<Block>],
    per_chunk: usize,
) -> Result<(), StorageError> {
    let streams = blocks
        .iter()
        .map(|b| b.select_samples(i64::MIN, i64::MAX, &[]))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = crate::querier::merge_streams(streams);
    for r in merged {
        let (labels, samples, _) = r?;
        add_encoded(w, &labels, &encode(&samples, per_chunk)?)?;
    }
    Ok(())
}

fn copy_chunks(w: &mut BlockWriter, blocks: &[Arc<Block>]) -> Result<(), StorageError> {
    // One cursor per block over its series in label order.
    struct Cursor<'b> {
        block: &'b Block,
        refs: std::vec::IntoIter<u64>,
        cur: Option<(Labels, Vec<crate::block::ChunkMeta>)>,
    }
    impl Cursor<'_> {
        fn advance(&mut self) -> Result<(), StorageError> {
            self.cur = match self.refs.next() {
                Some(r) => {
                    let mut chunks = Vec::new();
                    let labels = self.block.index().series(r, &mut chunks)?;
                    Some((labels, chunks))
                }
                None => None,
            };
            Ok(())
        }
    }
    let mut cursors = Vec::new();
    for b in blocks {
        let refs = b.index().postings_of("", "")?;
        let mut c = Cursor {
            block: b,
            refs: refs.into_iter(),
            cur: None,
        };
        c.advance()?;
        cursors.push(c);
    }
    while let Some(min) = cursors
        .iter()
        .filter_map(|c| c.cur.as_ref().map(|(l, _)| l))
        .min()
        .cloned()
    {
        let mut data: Vec<(u8, &[u8], crate::block::ChunkMeta)> = Vec::new();
        for c in &mut cursors {
            if c.cur.as_ref().is_some_and(|(l, _)| *l == min) {
                if let Some((_, metas)) = c.cur.take() {
                    for m in metas {
                        let (enc, bytes) = c.block.chunks().chunk(m.chunk_ref)?;
                        data.push((enc, bytes, m));
                    }
                }
                c.advance()?;
            }
        }
        let mut counted = Vec::with_capacity(data.len());
        for (enc, bytes, m) in &data {
            counted.push(ChunkData {
                encoding: *enc,
                data: bytes,
                mint: m.mint,
                maxt: m.maxt,
                samples: chunk_samples(*enc, bytes),
            });
        }
        w.add_series(&min, counted)?;
    }
    Ok(())
}

/// The sample count every chunk encoding keeps in its first two bytes.
fn chunk_samples(_encoding: u8, data: &[u8]) -> u64 {
    match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]) as u64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A level-1 block over `[min, max)`.
    fn block(min: i64, max: i64) -> BlockMeta {
        BlockMeta {
            ulid: ulid::Ulid::from_parts(min.unsigned_abs(), u128::from(max.unsigned_abs())),
            min_time: min,
            max_time: max,
            stats: Default::default(),
            compaction: CompactionMeta {
                level: 1,
                ..Default::default()
            },
            version: 1,
        }
    }

    const RANGES: [i64; 3] = [20, 60, 180];

    #[test]
    fn leveled_groups_fill_an_aligned_range_and_never_take_the_newest_block() {
        let b: Vec<_> = (0..4).map(|i| block(i * 20, i * 20 + 20)).collect();
        // [0,60) is full: merged, the newest block ([60,80)) is not a candidate anyway.
        assert_eq!(plan(&b, &RANGES), vec![0, 1, 2]);
        // Three blocks only: the newest stays out; the other two neither fill [0,60) nor
        // end before the last candidate starts, so nothing is merged yet.
        assert!(plan(&b[..3], &RANGES).is_empty());
        // Two blocks: the only candidate is alone in its range.
        assert!(plan(&b[..2], &RANGES).is_empty());
        assert!(plan(&b[..1], &RANGES).is_empty());
        assert!(plan(&[], &RANGES).is_empty());
    }

    #[test]
    fn misaligned_blocks_wait_for_a_later_range_and_wide_ones_are_skipped() {
        // [40,60) is alone in its 60-window; [60,120) is full.
        let b: Vec<_> = (2..7).map(|i| block(i * 20, i * 20 + 20)).collect();
        assert_eq!(plan(&b, &RANGES), vec![1, 2, 3]);
        // Without the last block, [60,120) is neither full nor before the newest
        // candidate, and the 180-window is not full either.
        assert!(plan(&b[..4], &RANGES).is_empty());
        // A block wider than the 60-window it starts in is never grouped at that size.
        let b = vec![block(0, 100), block(100, 120), block(120, 140)];
        assert!(plan(&b, &[20, 60]).is_empty());
    }

    #[test]
    fn overlapping_blocks_come_first() {
        let b = vec![
            block(0, 20),
            block(20, 40),
            block(30, 50),
            block(45, 60),
            block(60, 80),
        ];
        assert_eq!(plan(&b, &RANGES), vec![1, 2, 3]);
    }

    #[test]
    fn a_failed_block_keeps_its_group_out() {
        let mut b: Vec<_> = (0..7).map(|i| block(i * 20, i * 20 + 20)).collect();
        b[1].compaction.failed = true;
        // [0,60) is out; [60,120) is planned instead.
        assert_eq!(plan(&b, &RANGES), vec![3, 4, 5]);
        b[4].compaction.failed = true;
        assert!(plan(&b, &RANGES).is_empty());
    }

    #[test]
    fn a_big_block_with_many_tombstones_is_rewritten_alone() {
        let mut b = vec![block(0, 180), block(180, 200)];
        b[0].stats.num_series = 100;
        b[0].stats.num_tombstones = 5;
        assert!(plan(&b, &RANGES).is_empty(), "5 of 101: not over 5%");
        b[0].stats.num_tombstones = 6;
        assert_eq!(plan(&b, &RANGES), vec![0]);
        // Small blocks are left to leveled compaction however many tombstones they have.
        let mut b = vec![block(0, 20), block(20, 40)];
        b[0].stats.num_tombstones = 50;
        assert!(plan(&b, &RANGES).is_empty());
    }
}
