//! Writing a block: chunks stream to `chunks/` as series arrive; the index, tombstones and
//! `meta.json` follow once every series is known. Everything goes to a temporary
//! directory that is renamed into place last, so a crash never leaves half a block.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use narthex_model::Labels;

use super::chunks::ChunkWriter;
use super::meta::{self, BlockMeta, BlockStats, CompactionMeta};
use super::tombstones::{self, Tombstones};
use super::{BlockError, ChunkMeta};
use crate::index::IndexWriter;

/// Suffix of a block directory being written.
pub const TMP_CREATION_SUFFIX: &str = ".tmp-for-creation";
/// Suffix of a block directory being deleted.
pub const TMP_DELETION_SUFFIX: &str = ".tmp-for-deletion";

/// A chunk handed to the writer: encoding byte, data and what it covers.
#[derive(Clone, Copy, Debug)]
pub struct ChunkData<'a> {
    /// Encoding byte (1 XOR, 2 histogram, 3 float histogram).
    pub encoding: u8,
    /// The encoded chunk.
    pub data: &'a [u8],
    /// First sample's timestamp.
    pub mint: i64,
    /// Last sample's timestamp.
    pub maxt: i64,
    /// Number of samples in the chunk.
    pub samples: u64,
}

/// Builds one block in `<parent>/<ulid>.tmp-for-creation`, renamed to `<parent>/<ulid>`
/// by [`BlockWriter::finish`].
pub struct BlockWriter {
    parent: PathBuf,
    tmp: PathBuf,
    meta: BlockMeta,
    chunks: Option<ChunkWriter>,
    series: Vec<(Labels, Vec<ChunkMeta>)>,
    /// Set once the directory is in place; until then dropping removes it.
    done: bool,
}

impl BlockWriter {
    /// Starts a block covering `[min_time, max_time)` with the given compaction history.
    pub fn create(
        parent: &Path,
        min_time: i64,
        max_time: i64,
        compaction: CompactionMeta,
    ) -> Result<BlockWriter, BlockError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let ulid = meta::new_ulid(now);
        let mut compaction = compaction;
        if compaction.sources.is_empty() {
            compaction.sources = vec![ulid];
        }
        let tmp = parent.join(format!("{ulid}{TMP_CREATION_SUFFIX}"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(BlockError::io(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(BlockError::io(&tmp))?;
        let chunks = ChunkWriter::create(&tmp.join("chunks"))?;
        Ok(BlockWriter {
            parent: parent.to_path_buf(),
            tmp,
            meta: BlockMeta {
                ulid,
                min_time,
                max_time,
                stats: BlockStats::default(),
                compaction,
                version: meta::META_VERSION,
            },
            chunks: Some(chunks),
            series: Vec::new(),
            done: false,
        })
    }

    /// Adds a series with its chunks (sorted by time). Series must come in increasing
    /// label order; a series without chunks is skipped.
    pub fn add_series<'a>(
        &mut self,
        labels: &Labels,
        chunks: impl IntoIterator<Item = ChunkData<'a>>,
    ) -> Result<(), BlockError> {
        if let Some((last, _)) = self.series.last()
            && last >= labels
        {
            return Err(BlockError::Invalid(format!(
                "series {labels:?} added after {last:?}: block series must be sorted"
            )));
        }
        let w = self
            .chunks
            .as_mut()
            .ok_or_else(|| BlockError::Invalid("block writer already finished".into()))?;
        let mut metas = Vec::new();
        for c in chunks {
            let r = w.write_chunk(c.encoding, c.data)?;
            metas.push(ChunkMeta {
                chunk_ref: r,
                mint: c.mint,
                maxt: c.maxt,
            });
            let st = &mut self.meta.stats;
            st.num_samples += c.samples;
            if c.encoding == narthex_chunkenc::Encoding::Xor.as_u8() {
                st.num_float_samples += c.samples;
            } else {
                st.num_histogram_samples += c.samples;
            }
            st.num_chunks += 1;
        }
        if !metas.is_empty() {
            self.meta.stats.num_series += 1;
            self.series.push((labels.clone(), metas));
        }
        Ok(())
    }

    /// Adds a series from its samples (sorted by time, unique timestamps), encoded into
    /// chunks of up to 120 samples as Prometheus cuts them. Series must come in increasing
    /// label order.
    pub fn add_samples(
        &mut self,
        labels: &Labels,
        samples: &[(i64, narthex_storage::SampleValue)],
    ) -> Result<(), BlockError> {
        let chunks = crate::chunk::encode_samples(samples, 120).map_err(BlockError::Invalid)?;
        self.add_series(
            labels,
            chunks.iter().map(|c| ChunkData {
                encoding: c.encoding,
                data: &c.bytes,
                mint: c.mint,
                maxt: c.maxt,
                samples: c.samples as u64,
            }),
        )
    }

    /// Samples added so far.
    pub fn num_samples(&self) -> u64 {
        self.meta.stats.num_samples
    }

    /// Writes the index, an empty tombstones file and `meta.json`, syncs, and renames the
    /// directory into place. A block without samples is not written (`None`), as
    /// Prometheus does not write empty blocks.
    pub fn finish(mut self) -> Result<Option<BlockMeta>, BlockError> {
        let chunks = self
            .chunks
            .take()
            .ok_or_else(|| BlockError::Invalid("block writer already finished".into()))?;
        chunks.finish()?;
        if self.meta.stats.num_samples == 0 {
            self.done = true;
            fs::remove_dir_all(&self.tmp).map_err(BlockError::io(&self.tmp))?;
            return Ok(None);
        }
        // Distinct strings by hash, then sorted once: a sorted set compared strings on
        // every one of the (series x labels x 2) insertions.
        let mut distinct: HashSet<&str> = HashSet::new();
        for (labels, _) in &self.series {
            for l in labels {
                distinct.insert(&l.name);
                distinct.insert(&l.value);
            }
        }
        let mut symbols: Vec<&str> = distinct.into_iter().collect();
        symbols.sort_unstable();
        let mut ix = IndexWriter::create(&self.tmp.join("index"))?;
        ix.add_symbols(symbols.iter().copied())?;
        for (labels, metas) in &self.series {
            ix.add_series(labels, metas)?;
        }
        ix.finish()?;
        tombstones::write(&self.tmp, &Tombstones::new())?;
        meta::write(&self.tmp, &self.meta)?;
        sync_dir(&self.tmp)?;
        let dst = self.parent.join(self.meta.ulid.to_string());
        fs::rename(&self.tmp, &dst).map_err(BlockError::io(&dst))?;
        self.done = true;
        sync_dir(&self.parent)?;
        Ok(Some(self.meta.clone()))
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        // Abandoned (an error, or never finished): leave nothing behind.
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Fsyncs a directory so renames and new entries in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BlockError> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(BlockError::io(dir))
}
