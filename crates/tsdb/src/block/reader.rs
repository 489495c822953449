//! Opening a persisted block and reading it through the storage traits.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use narthex_model::{Labels, Matcher};
use narthex_storage::{SampleValue, StorageError};
use parking_lot::RwLock;

use super::chunks::ChunkReader;
use super::meta::{self, BlockMeta};
use super::tombstones::{self, Tombstones, is_deleted};
use super::{BlockError, ChunkMeta};
use crate::chunk::decode_into;
use crate::index::{IndexReader, postings_for_matchers};

/// A block opened for reading: its meta, index, chunks and tombstones.
pub struct Block {
    dir: PathBuf,
    meta: RwLock<BlockMeta>,
    index: IndexReader,
    chunks: ChunkReader,
    tombstones: RwLock<Tombstones>,
    /// Bytes of the index, chunks and meta files (tombstones are counted when read).
    base_size: u64,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("dir", &self.dir)
            .field("meta", &*self.meta.read())
            .finish()
    }
}

fn file_len(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

impl Block {
    /// Opens the block in `dir`, checking what can be checked without reading every
    /// byte: the meta, the index's table of contents, symbol and postings tables, and
    /// every chunk file's header.
    pub fn open(dir: &Path) -> Result<Block, BlockError> {
        let meta = meta::read(dir)?;
        let index = IndexReader::open(&dir.join("index"))?;
        let chunks = ChunkReader::open(&dir.join("chunks"))?;
        let (tombstones, _) = tombstones::read(dir)?;
        let base_size = index.size() + chunks.size() + file_len(&dir.join("meta.json"));
        Ok(Block {
            dir: dir.to_path_buf(),
            meta: RwLock::new(meta),
            index,
            chunks,
            tombstones: RwLock::new(tombstones),
            base_size,
        })
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A copy of the block's meta.
    pub fn meta(&self) -> BlockMeta {
        self.meta.read().clone()
    }

    /// `[min_time, max_time)` of the block.
    pub fn time_range(&self) -> (i64, i64) {
        let m = self.meta.read();
        (m.min_time, m.max_time)
    }

    /// Bytes on disk (index, chunks, tombstones, meta), as size-based retention counts them.
    pub fn size(&self) -> u64 {
        self.base_size + file_len(&self.dir.join("tombstones"))
    }

    /// The block's index.
    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    /// The block's chunk files.
    pub fn chunks(&self) -> &ChunkReader {
        &self.chunks
    }

    /// A copy of the block's tombstones.
    pub fn tombstones(&self) -> Tombstones {
        self.tombstones.read().clone()
    }

    /// Marks the samples in `[mint, maxt]` of every series matching `matchers` as deleted:
    /// the tombstones file and `meta.json` are rewritten before this returns.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), StorageError> {
        let (bmin, bmax) = self.time_range();
        if maxt < bmin || mint >= bmax {
            return Ok(());
        }
        let refs = postings_for_matchers(&self.index, matchers)?;
        let mut ts = self.tombstones.write();
        let mut next = ts.clone();
        let mut chunks = Vec::new();
        let mut changed = false;
        for r in refs {
            chunks.clear();
            self.index.series(r, &mut chunks)?;
            if chunks.iter().any(|c| c.maxt >= mint && c.mint <= maxt) {
                next.add(r, mint, maxt);
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        tombstones::write(&self.dir, &next)?;
        let mut m = self.meta.write();
        m.stats.num_tombstones = next.num_intervals();
        meta::write(&self.dir, &m)?;
        *ts = next;
        Ok(())
    }

    /// Records in `meta.json` that a compaction of this block failed, as Prometheus does:
    /// the planner leaves the block alone from then on (retention still removes it).
    pub(crate) fn set_compaction_failed(&self) -> Result<(), StorageError> {
        let mut m = self.meta.write();
        if m.compaction.failed {
            return Ok(());
        }
        let mut next = m.clone();
        next.compaction.failed = true;
        meta::write(&self.dir, &next)?;
        *m = next;
        Ok(())
    }

    /// Whether any series of the block has deleted intervals.
    pub(crate) fn has_tombstones(&self) -> bool {
        !self.tombstones.read().is_empty()
    }

    /// The samples of series `r` within `[mint, maxt]`, outside deleted intervals.
    pub(crate) fn read_series(
        &self,
        r: u64,
        mint: i64,
        maxt: i64,
        tombstones: &Tombstones,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<(Labels, Vec<(i64, SampleValue)>), StorageError> {
        chunks.clear();
        let labels = self.index.series(r, chunks)?;
        chunks.retain(|c| c.maxt >= mint && c.mint <= maxt);
        let mut parts = Vec::with_capacity(chunks.len());
        for c in chunks.iter() {
            parts.push((c.chunk_ref, self.chunks.chunk(c.chunk_ref)?));
        }
        // Room for every sample at once: each chunk's first two bytes count its samples.
        // The count is the file's word, so it is held to what the bytes can hold (every
        // sample takes at least a bit): a damaged header cannot ask for a huge allocation.
        let samples = parts
            .iter()
            .map(|(_, (_, d))| {
                let said = d
                    .first_chunk()
                    .map_or(0, |&h| usize::from(u16::from_be_bytes(h)));
                said.min(d.len() * 8)
            })
            .sum();
        let mut out = Vec::with_capacity(samples);
        for (chunk_ref, (enc, data)) in parts {
            decode_into(enc, data, &mut out).map_err(|what| StorageError::Corruption {
                file: self.dir.join("chunks").display().to_string(),
                offset: chunk_ref,
                what,
            })?;
        }
        let deleted = tombstones.get(r);
        // Chunks inside the range hold only samples inside it (their index entries say so,
        // and Prometheus trusts them the same way).
        let inside = chunks.iter().all(|c| c.mint >= mint && c.maxt <= maxt);
        if !inside || !deleted.is_empty() {
            out.retain(|(t, _)| *t >= mint && *t <= maxt && !is_deleted(deleted, *t));
        }
        Ok((labels, out))
    }

    /// The series matching `matchers` with their samples in `[mint, maxt]`, in label
    /// order, decoded one series at a time.
    pub(crate) fn select_samples(
        self: &Arc<Self>,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<SampleStream<'static>, StorageError> {
        let refs = postings_for_matchers(&self.index, matchers)?;
        let tombstones = self.tombstones();
        let block = Arc::clone(self);
        let mut chunks = Vec::new();
        Ok(Box::new(refs.into_iter().filter_map(
            move |r| match block.read_series(r, mint, maxt, &tombstones, &mut chunks) {
                Ok((_, s)) if s.is_empty() => None,
                Ok((labels, samples)) => Some(Ok((labels, samples, Vec::new()))),
                Err(e) => Some(Err(e)),
            },
        )))
    }

    /// Whether series `r` has a chunk overlapping `[mint, maxt]` (label lookups report
    /// only series with data in range).
    pub(crate) fn series_in_range(
        &self,
        r: u64,
        mint: i64,
        maxt: i64,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<Option<Labels>, StorageError> {
        chunks.clear();
        let labels = self.index.series(r, chunks)?;
        Ok(chunks
            .iter()
            .any(|c| c.maxt >= mint && c.mint <= maxt)
            .then_some(labels))
    }
}

/// A series with its samples and their start timestamps (parallel to the samples, 0 where
/// unknown; empty when no sample has one: blocks never do).
pub(crate) type SeriesSamples = (Labels, Vec<(i64, SampleValue)>, Vec<i64>);

/// Series with their samples, in label order.
pub(crate) type SampleStream<'a> =
    Box<dyn Iterator<Item = Result<SeriesSamples, StorageError>> + Send + 'a>;
