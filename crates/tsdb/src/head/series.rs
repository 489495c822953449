//! One series in the head: its labels and its chunks.

use std::collections::{BTreeMap, VecDeque};

use narthex_model::{Exemplar, Labels, Metadata};
use narthex_storage::{SampleValue, StorageError};
use parking_lot::Mutex;

use crate::chunk::{Appended, ChunkBuilder, HeadValue, decode_into};
use crate::chunks_head::{ChunkDiskMapper, ChunkFileError};

/// A full chunk written to `chunks_head/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MmappedChunk {
    pub(crate) chunk_ref: u64,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

/// The chunk being appended to.
#[derive(Clone, Debug)]
pub(crate) struct HeadChunk {
    pub(crate) chunk: ChunkBuilder,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

/// Most exemplars kept per series.
pub(crate) const EXEMPLARS_PER_SERIES: usize = 16;

/// The parts of a series most series never use.
#[derive(Debug, Default)]
pub(crate) struct SeriesExtra {
    pub(crate) metadata: Option<Metadata>,
    pub(crate) exemplars: VecDeque<Exemplar>,
    /// Out-of-order samples (accepted within the out-of-order window), by timestamp.
    pub(crate) ooo: BTreeMap<i64, HeadValue>,
}

/// An empty out-of-order map, for series without extras.
static NO_OOO: BTreeMap<i64, HeadValue> = BTreeMap::new();

/// What a series holds, behind its lock.
#[derive(Debug, Default)]
pub(crate) struct SeriesState {
    pub(crate) mmapped: Vec<MmappedChunk>,
    pub(crate) head: Option<HeadChunk>,
    /// When the head chunk should be cut (Prometheus's `nextAt`).
    pub(crate) next_at: i64,
    /// The newest value, for duplicate detection.
    pub(crate) last_value: Option<HeadValue>,
    /// Rarely used parts, allocated only when used (keeps every series small).
    pub(crate) extra: Option<Box<SeriesExtra>>,
    /// The appender that last appended (uncommitted) to this series, and what: lets one
    /// batch keep its own samples in order without a map of its own.
    pub(crate) pending_appender: u64,
    pub(crate) pending_t: i64,
    pub(crate) pending_v: u64,
    /// Encoding byte of the last value appended by `pending_appender`.
    pub(crate) pending_kind: u8,
}

/// A series in the head.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) r: u64,
    pub(crate) labels: Labels,
    pub(crate) state: Mutex<SeriesState>,
    /// Whether the series record is in the WAL.
    pub(crate) logged: std::sync::atomic::AtomicBool,
    /// Set (under the state lock) when head truncation garbage-collects the series: an
    /// appender that finds it set looks the labels up again.
    pub(crate) gone: std::sync::atomic::AtomicBool,
}

/// Options that shape chunks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkOpts {
    pub(crate) chunk_range: i64,
    pub(crate) samples_per_chunk: usize,
    /// Prometheus's `out_of_order_time_window`: 0 disables out-of-order samples.
    pub(crate) ooo_window: i64,
    /// Samples older than this never go into in-order chunks: their range is persisted
    /// in blocks (or about to be), so they are out-of-order samples, kept only with a
    /// window.
    pub(crate) min_valid: i64,
}

/// The end of the chunk range `t` falls in.
pub(crate) fn range_end(t: i64, width: i64) -> i64 {
    t.div_euclid(width) * width + width
}

/// Prometheus's estimate of where to cut a chunk so the rest of the range splits into
/// evenly filled chunks, made once a chunk is a quarter full.
fn chunk_end_time(start: i64, cur: i64, max: i64, ratio_to_full: f64) -> i64 {
    let n = (max - start) as f64 / ((cur - start + 1) as f64 * ratio_to_full);
    if n <= 1.0 {
        return max;
    }
    (start as f64 + (max - start) as f64 / n.floor()) as i64
}

impl SeriesState {
    /// The out-of-order samples.
    pub(crate) fn ooo(&self) -> &BTreeMap<i64, HeadValue> {
        self.extra.as_ref().map_or(&NO_OOO, |e| &e.ooo)
    }

    /// The extras, allocated on first use.
    pub(crate) fn extra_mut(&mut self) -> &mut SeriesExtra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// The metadata, if recorded.
    pub(crate) fn metadata(&self) -> Option<&Metadata> {
        self.extra.as_ref().and_then(|e| e.metadata.as_ref())
    }

    /// Newest timestamp, if any sample is stored.
    pub(crate) fn max_time(&self) -> Option<i64> {
        match &self.head {
            Some(h) if h.chunk.num_samples() > 0 => Some(h.maxt),
            _ => self.mmapped.last().map(|c| c.maxt),
        }
    }

    /// Whether a sample at `t` may be appended: Prometheus's `appendable`. `Ok(false)`
    /// means "a repeat of the newest sample": accepted and ignored.
    ///
    /// With an out-of-order window, a sample older than the series' newest is accepted
    /// when it is no older than `head_max - window`; older ones are `TooOldSample`, as in
    /// Prometheus.
    pub(crate) fn appendable_ooo(
        &self,
        t: i64,
        v: &HeadValue,
        window: i64,
        head_max: i64,
        min_valid: i64,
    ) -> Result<bool, StorageError> {
        if t < min_valid {
            if window <= 0 {
                return Err(StorageError::OutOfBounds);
            }
            if t < head_max.saturating_sub(window) {
                return Err(StorageError::TooOldSample);
            }
            return match self.ooo().get(&t) {
                Some(prev) if prev.same(v) => Ok(false),
                Some(_) => Err(StorageError::DuplicateSampleForTimestamp),
                None => Ok(true),
            };
        }
        match self.max_time() {
            Some(max) if t < max => {
                if window <= 0 {
                    return Err(StorageError::OutOfOrderSample);
                }
                if t < head_max.saturating_sub(window) {
                    return Err(StorageError::TooOldSample);
                }
                match self.ooo().get(&t) {
                    Some(prev) if prev.same(v) => Ok(false),
                    Some(_) => Err(StorageError::DuplicateSampleForTimestamp),
                    None => Ok(true),
                }
            }
            Some(max) if t == max => {
                if self.last_value.as_ref().is_some_and(|l| l.same(v)) {
                    Ok(false)
                } else {
                    Err(StorageError::DuplicateSampleForTimestamp)
                }
            }
            _ => Ok(true),
        }
    }

    /// Appends a sample, cutting and writing out the head chunk when Prometheus would: on a
    /// change of value kind, at the predicted end time, at twice the target sample count,
    /// and when a histogram does not fit the chunk (counter reset, schema change...).
    /// Returns false when the sample is out of order (it is then dropped).
    pub(crate) fn append(
        &mut self,
        series_ref: u64,
        t: i64,
        v: &HeadValue,
        opts: ChunkOpts,
        disk: &Mutex<ChunkDiskMapper>,
    ) -> Result<bool, StorageError> {
        if t < opts.min_valid {
            if opts.ooo_window > 0 && !self.ooo().contains_key(&t) {
                self.extra_mut().ooo.insert(t, v.clone());
                return Ok(true);
            }
            return Ok(false);
        }
        if self.max_time().is_some_and(|m| t <= m) {
            // Older than the newest sample: kept only with an out-of-order window (the
            // appender already checked the window), and never over an existing sample.
            if opts.ooo_window > 0
                && self.max_time().is_some_and(|m| t < m)
                && !self.ooo().contains_key(&t)
            {
                self.extra_mut().ooo.insert(t, v.clone());
                return Ok(true);
            }
            return Ok(false);
        }
        let cut = match &self.head {
            None => true,
            Some(h) if h.chunk.encoding() != v.encoding() => true,
            Some(h) => {
                let n = h.chunk.num_samples();
                if n == opts.samples_per_chunk / 4 {
                    self.next_at = chunk_end_time(h.mint, h.maxt, self.next_at, 4.0);
                }
                t >= self.next_at || n >= opts.samples_per_chunk * 2
            }
        };
        if cut {
            self.cut(series_ref, t, v, opts, disk)
                .map_err(chunk_storage_err)?;
        }
        if let Some(h) = self.head.as_mut() {
            match h
                .chunk
                .append(t, v)
                .map_err(StorageError::InvalidHistogram)?
            {
                Appended::Done => h.maxt = t,
                Appended::Cut(finished) => {
                    // The histogram started a new chunk inside the builder: write the old one.
                    let encoding = h.chunk.encoding().as_u8();
                    let (mint, maxt) = (h.mint, h.maxt);
                    let chunk_ref = {
                        let mut d = disk.lock();
                        d.chunks_started += 1;
                        d.write(series_ref, mint, maxt, encoding, &finished)
                            .map_err(chunk_storage_err)?
                    };
                    self.mmapped.push(MmappedChunk {
                        chunk_ref,
                        mint,
                        maxt,
                    });
                    h.mint = t;
                    h.maxt = t;
                    self.next_at = range_end(t, opts.chunk_range);
                }
            }
        }
        self.last_value = Some(v.clone());
        Ok(true)
    }

    /// Writes the full head chunk to disk and starts a new one for `v` at `t`.
    fn cut(
        &mut self,
        series_ref: u64,
        t: i64,
        v: &HeadValue,
        opts: ChunkOpts,
        disk: &Mutex<ChunkDiskMapper>,
    ) -> Result<(), ChunkFileError> {
        self.mmap_head(series_ref, disk)?;
        disk.lock().chunks_started += 1;
        self.head = Some(HeadChunk {
            chunk: ChunkBuilder::new(v.encoding()),
            mint: t,
            maxt: t,
        });
        self.next_at = range_end(t, opts.chunk_range);
        Ok(())
    }

    /// Moves the head chunk, if it has samples, to disk.
    pub(crate) fn mmap_head(
        &mut self,
        series_ref: u64,
        disk: &Mutex<ChunkDiskMapper>,
    ) -> Result<(), ChunkFileError> {
        if let Some(h) = self.head.take() {
            if h.chunk.num_samples() == 0 {
                return Ok(());
            }
            let chunk_ref = disk.lock().write(
                series_ref,
                h.mint,
                h.maxt,
                h.chunk.encoding().as_u8(),
                h.chunk.bytes(),
            )?;
            self.mmapped.push(MmappedChunk {
                chunk_ref,
                mint: h.mint,
                maxt: h.maxt,
            });
        }
        Ok(())
    }

    /// Keeps at most [`EXEMPLARS_PER_SERIES`] exemplars, newest last; returns whether `e`
    /// was new.
    pub(crate) fn add_exemplar(&mut self, e: Exemplar) -> bool {
        let exemplars = &mut self.extra_mut().exemplars;
        if exemplars.iter().any(|x| x == &e) {
            return false;
        }
        if exemplars.len() == EXEMPLARS_PER_SERIES {
            exemplars.pop_front();
        }
        exemplars.push_back(e);
        true
    }
}

pub(crate) fn chunk_storage_err(e: ChunkFileError) -> StorageError {
    match e {
        ChunkFileError::Corruption {
            path, offset, what, ..
        } => StorageError::Corruption {
            file: path.display().to_string(),
            offset,
            what,
        },
        ChunkFileError::Io { path, source } => StorageError::Io {
            path: path.display().to_string(),
            message: source.to_string(),
        },
    }
}

/// The samples of a series within `[mint, maxt]`, outside deleted intervals: a snapshot of
/// the chunk list, decoded.
pub(crate) fn read_samples(
    series: &MemSeries,
    mint: i64,
    maxt: i64,
    deleted: &[(i64, i64)],
    disk: &Mutex<ChunkDiskMapper>,
) -> Result<Vec<(i64, SampleValue)>, StorageError> {
    let (mmapped, head, ooo) = {
        let st = series.state.lock();
        let ooo: Vec<(i64, SampleValue)> = st
            .ooo()
            .range(mint..=maxt)
            .map(|(t, v)| (*t, v.to_sample_value()))
            .collect();
        let mm: Vec<MmappedChunk> = st
            .mmapped
            .iter()
            .filter(|c| c.maxt >= mint && c.mint <= maxt)
            .copied()
            .collect();
        let head = st
            .head
            .as_ref()
            .filter(|h| h.chunk.num_samples() > 0 && h.maxt >= mint && h.mint <= maxt)
            .map(|h| (h.chunk.encoding().as_u8(), h.chunk.bytes().to_vec()));
        (mm, head, ooo)
    };
    let mut out = Vec::new();
    for c in mmapped {
        let dc = disk.lock().read(c.chunk_ref).map_err(|e| match e {
            ChunkFileError::Corruption {
                path, offset, what, ..
            } => StorageError::Corruption {
                file: path.display().to_string(),
                offset,
                what,
            },
            ChunkFileError::Io { path, source } => StorageError::Io {
                path: path.display().to_string(),
                message: source.to_string(),
            },
        })?;
        decode_into(dc.encoding, &dc.data, &mut out).map_err(|what| StorageError::Corruption {
            file: "chunks_head".into(),
            offset: c.chunk_ref,
            what,
        })?;
    }
    if let Some((enc, bytes)) = head {
        decode_into(enc, &bytes, &mut out).map_err(|what| StorageError::Corruption {
            file: "head chunk".into(),
            offset: 0,
            what,
        })?;
    }
    if !ooo.is_empty() {
        // Merge out-of-order samples in; where a timestamp is also in the in-order data,
        // the in-order sample wins (a stable sort keeps it first).
        out.extend(ooo);
        out.sort_by_key(|(t, _)| *t);
        out.dedup_by_key(|(t, _)| *t);
    }
    out.retain(|(t, _)| *t >= mint && *t <= maxt && !deleted.iter().any(|(a, b)| t >= a && t <= b));
    Ok(out)
}

/// The series' chunks within `[mint, maxt)` as they are (encoding, bytes, first and last
/// timestamp), when every chunk touching the range lies wholly inside it: then a block can
/// take them without decoding. `None` when some chunk straddles the range.
pub(crate) fn chunks_in_range(
    series: &MemSeries,
    mint: i64,
    maxt: i64,
    disk: &Mutex<ChunkDiskMapper>,
) -> Result<Option<Vec<crate::chunk::EncodedChunk>>, StorageError> {
    let inside = |a: i64, b: i64| a >= mint && b < maxt;
    let touches = |a: i64, b: i64| b >= mint && a < maxt;
    let (mm, head) = {
        let st = series.state.lock();
        let mm: Vec<MmappedChunk> = st
            .mmapped
            .iter()
            .filter(|c| touches(c.mint, c.maxt))
            .copied()
            .collect();
        if mm.iter().any(|c| !inside(c.mint, c.maxt)) {
            return Ok(None);
        }
        let head = match st.head.as_ref() {
            Some(h) if h.chunk.num_samples() > 0 && touches(h.mint, h.maxt) => {
                if !inside(h.mint, h.maxt) {
                    return Ok(None);
                }
                Some(crate::chunk::EncodedChunk {
                    encoding: h.chunk.encoding().as_u8(),
                    bytes: h.chunk.bytes().to_vec(),
                    mint: h.mint,
                    maxt: h.maxt,
                    samples: h.chunk.num_samples(),
                    histograms: h.chunk.encoding() != narthex_chunkenc::Encoding::Xor,
                })
            }
            _ => None,
        };
        (mm, head)
    };
    let mut out = Vec::with_capacity(mm.len() + 1);
    for c in mm {
        let dc = disk.lock().read(c.chunk_ref).map_err(chunk_storage_err)?;
        let samples = match dc.data.as_slice() {
            [a, b, ..] => u16::from_be_bytes([*a, *b]) as usize,
            _ => 0,
        };
        out.push(crate::chunk::EncodedChunk {
            encoding: dc.encoding,
            histograms: dc.encoding != narthex_chunkenc::Encoding::Xor.as_u8(),
            bytes: dc.data,
            mint: c.mint,
            maxt: c.maxt,
            samples,
        });
    }
    out.extend(head);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_end_time_spreads_samples() {
        // A quarter-full chunk at 15s spacing spanning 30 samples of a 2h range.
        let start = 0;
        let cur = 29 * 15_000;
        let end = chunk_end_time(start, cur, 7_200_000, 4.0);
        assert!(end > cur && end <= 7_200_000);
        assert_eq!(chunk_end_time(0, 7_000_000, 7_200_000, 4.0), 7_200_000);
        assert_eq!(range_end(7_199_999, 7_200_000), 7_200_000);
        assert_eq!(range_end(-1, 7_200_000), 0);
    }
}
