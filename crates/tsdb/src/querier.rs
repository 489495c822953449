//! Reading the whole database: the blocks overlapping a time range and the head, merged
//! into one label-ordered stream of series.

use std::sync::Arc;

use narthex_model::{Labels, Matcher};
use narthex_storage::{
    LabelHints, ListIterator, Querier, SampleIterator, SampleValue, SelectHints, Series, SeriesSet,
    StorageError,
};

use crate::block::{Block, SampleStream, SeriesSamples};
use crate::head::HeadQuerier;
use crate::head::series::SamplesWithSt;
use crate::index::postings_for_matchers;

/// One series with its samples decoded.
pub(crate) struct MaterializedSeries {
    pub(crate) labels: Labels,
    pub(crate) samples: Vec<(i64, SampleValue)>,
    /// Start timestamps parallel to `samples` (0: unknown), or empty when none is known.
    pub(crate) start_timestamps: Vec<i64>,
}

impl Series for MaterializedSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        let it = ListIterator::new(&self.samples);
        if self.start_timestamps.is_empty() {
            Box::new(it)
        } else {
            Box::new(it.with_start_timestamps(&self.start_timestamps))
        }
    }
}

/// A block left out of queries because its files are corrupt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptBlock {
    /// The block's directory.
    pub dir: std::path::PathBuf,
    /// What was found, with file and offset.
    pub error: String,
}

/// The blocks found corrupt so far.
#[derive(Debug, Default)]
pub(crate) struct CorruptBlocks(parking_lot::Mutex<Vec<CorruptBlock>>);

impl CorruptBlocks {
    /// Records `b` as corrupt when `e` is a corruption (not, say, a canceled query).
    pub(crate) fn mark(&self, b: &Block, e: &StorageError) {
        if !matches!(e, StorageError::Corruption { .. }) {
            return;
        }
        let mut v = self.0.lock();
        if v.iter().any(|c| c.dir == b.dir()) {
            return;
        }
        tracing::error!(block = %b.dir().display(), error = %e, "corrupt block: leaving it out of queries");
        v.push(CorruptBlock {
            dir: b.dir().to_path_buf(),
            error: e.to_string(),
        });
    }

    pub(crate) fn add(&self, c: CorruptBlock) {
        self.0.lock().push(c);
    }

    /// Drops `dir` from the list (its block was deleted).
    pub(crate) fn forget(&self, dir: &std::path::Path) {
        self.0.lock().retain(|c| c.dir != dir);
    }

    pub(crate) fn contains(&self, dir: &std::path::Path) -> bool {
        self.0.lock().iter().any(|c| c.dir == dir)
    }

    pub(crate) fn list(&self) -> Vec<CorruptBlock> {
        self.0.lock().clone()
    }
}

/// A querier over blocks (oldest first) and the head.
pub(crate) struct DbQuerier<'a> {
    pub(crate) blocks: Vec<Arc<Block>>,
    pub(crate) head: Option<HeadQuerier<'a>>,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    /// Where blocks that report corruption are recorded, so later queries leave them out.
    pub(crate) corrupt: &'a CorruptBlocks,
}

/// Merges label-ordered streams: series with equal labels are combined, their samples
/// merged by time; where two sources hold the same timestamp the earlier source wins.
struct Merge<'a> {
    streams: Vec<std::iter::Peekable<SampleStream<'a>>>,
}

impl Iterator for Merge<'_> {
    type Item = Result<SeriesSamples, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Surface errors first, then find the smallest labels among the stream heads.
        let mut min: Option<Labels> = None;
        for s in &mut self.streams {
            match s.peek() {
                Some(Err(_)) => return s.next(),
                Some(Ok((l, ..))) if min.as_ref().is_none_or(|m| l < m) => {
                    min = Some(l.clone());
                }
                Some(Ok(_)) => {}
                None => {}
            }
        }
        let min = min?;
        let mut parts: Vec<SamplesWithSt> = Vec::new();
        for s in &mut self.streams {
            if matches!(s.peek(), Some(Ok((l, ..))) if *l == min)
                && let Some(Ok((_, samples, start_times))) = s.next()
            {
                parts.push((samples, start_times));
            }
        }
        if parts.len() == 1 {
            let (samples, start_times) = parts.pop().unwrap_or_default();
            return Some(Ok((min, samples, start_times)));
        }
        if parts.iter().all(|(_, sts)| sts.is_empty()) {
            let mut all: Vec<(i64, SampleValue)> = parts.into_iter().flat_map(|(s, _)| s).collect();
            // Stable: for equal timestamps the earlier source's sample stays first.
            all.sort_by_key(|(t, _)| *t);
            all.dedup_by_key(|(t, _)| *t);
            return Some(Ok((min, all, Vec::new())));
        }
        // Some source has start timestamps: they travel with their samples.
        let mut all: Vec<((i64, SampleValue), i64)> = parts
            .into_iter()
            .flat_map(|(samples, sts)| {
                let n = samples.len();
                let sts = if sts.len() == n { sts } else { vec![0; n] };
                samples.into_iter().zip(sts)
            })
            .collect();
        all.sort_by_key(|((t, _), _)| *t);
        all.dedup_by_key(|((t, _), _)| *t);
        let (samples, start_times): (Vec<_>, Vec<_>) = all.into_iter().unzip();
        Some(Ok((min, samples, start_times)))
    }
}

/// Merges label-ordered streams of series into one (see [`Merge`]).
pub(crate) fn merge_streams(streams: Vec<SampleStream<'_>>) -> SampleStream<'_> {
    Box::new(Merge {
        streams: streams.into_iter().map(Iterator::peekable).collect(),
    })
}

impl<'a> DbQuerier<'a> {
    fn overlapping(&self) -> impl Iterator<Item = &Arc<Block>> {
        self.blocks.iter().filter(|b| {
            let (bmin, bmax) = b.time_range();
            self.maxt >= bmin && self.mint < bmax
        })
    }

    fn streams(&self, matchers: &[Matcher]) -> Result<Vec<SampleStream<'a>>, StorageError> {
        let mut out: Vec<SampleStream<'a>> = Vec::new();
        for b in self.overlapping() {
            let stream = b
                .select_samples(self.mint, self.maxt, matchers)
                .inspect_err(|e| self.corrupt.mark(b, e))?;
            let block = Arc::clone(b);
            let corrupt = self.corrupt;
            out.push(Box::new(stream.inspect(move |r| {
                if let Err(e) = r {
                    corrupt.mark(&block, e);
                }
            })));
        }
        if let Some(h) = &self.head {
            out.push(h.select_samples(matchers)?);
        }
        Ok(out)
    }

    fn block_values(
        &self,
        b: &Block,
        matchers: &[Matcher],
        mut f: impl FnMut(&Labels),
    ) -> Result<(), StorageError> {
        let refs = postings_for_matchers(b.index(), matchers)?;
        let mut chunks = Vec::new();
        for r in refs {
            if let Some(l) = b.series_in_range(r, self.mint, self.maxt, &mut chunks)? {
                f(&l);
            }
        }
        Ok(())
    }
}

/// Sorted, deduplicated, at most `limit` (0: all).
fn finish(mut v: Vec<String>, limit: usize) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    limited(v, limit)
}

/// At most `limit` values (0: all).
pub(crate) fn limited(mut v: Vec<String>, limit: usize) -> Vec<String> {
    if limit > 0 {
        v.truncate(limit);
    }
    v
}

impl Querier for DbQuerier<'_> {
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet<'_>, StorageError> {
        let mut streams = self.streams(matchers)?;
        let it: SampleStream<'_> = if streams.len() == 1 {
            streams
                .pop()
                .unwrap_or_else(|| Box::new(std::iter::empty()))
        } else {
            merge_streams(streams)
        };
        Ok(Box::new(it.map(|r| {
            r.map(|(labels, samples, start_timestamps)| {
                Box::new(MaterializedSeries {
                    labels,
                    samples,
                    start_timestamps,
                }) as Box<dyn Series>
            })
        })))
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let mut v = Vec::new();
        for b in self.overlapping() {
            if matchers.is_empty() {
                v.extend(b.index().label_values_of(name)?);
            } else {
                self.block_values(b, matchers, |l| {
                    if let Some(x) = l.get(name) {
                        v.push(x.to_string());
                    }
                })?;
            }
        }
        if let Some(h) = &self.head {
            v.extend(h.values_of(name, matchers)?);
        }
        Ok(finish(v, hints.limit))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let mut v = Vec::new();
        for b in self.overlapping() {
            if matchers.is_empty() {
                v.extend(b.index().label_names()?);
            } else {
                self.block_values(b, matchers, |l| {
                    v.extend(l.iter().map(|x| x.name.to_string()));
                })?;
            }
        }
        if let Some(h) = &self.head {
            v.extend(h.names_of(matchers)?);
        }
        Ok(finish(v, hints.limit))
    }
}
