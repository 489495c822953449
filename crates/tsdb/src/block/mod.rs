//! Persisted blocks: a directory per time range, named by ULID, holding `meta.json`,
//! `index` (Prometheus's index format v2), `chunks/` segment files and `tombstones`,
//! exactly as Prometheus writes them.

pub mod chunks;
pub mod meta;
mod reader;
pub mod tombstones;
mod writer;

pub use reader::Block;
pub(crate) use reader::{SampleStream, SeriesSamples};
pub(crate) use writer::sync_dir;
pub use writer::{BlockWriter, ChunkData, TMP_CREATION_SUFFIX, TMP_DELETION_SUFFIX};

use std::fs::File;
use std::path::{Path, PathBuf};

use narthex_storage::StorageError;

/// Where a chunk of a series sits in a block and which times it covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChunkMeta {
    /// The chunk's reference in the block's `chunks/` files: segment sequence number in
    /// the upper 32 bits, byte offset in the lower 32.
    pub chunk_ref: u64,
    /// Timestamp of the first sample.
    pub mint: i64,
    /// Timestamp of the last sample.
    pub maxt: i64,
}

/// An error reading or writing a block file.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not what the format says (a checksum, a length, a reference).
    #[error("corruption in {path} at offset {offset}: {what}")]
    Corruption {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad data.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A caller broke a writer's contract (series out of order, symbols missing...).
    #[error("{0}")]
    Invalid(String),
}

impl BlockError {
    /// An I/O error on `path`.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlockError + '_ {
        move |source| BlockError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Corruption in `path` at `offset`.
    pub fn corruption(path: &Path, offset: u64, what: impl Into<String>) -> BlockError {
        BlockError::Corruption {
            path: path.to_path_buf(),
            offset,
            what: what.into(),
        }
    }
}

impl From<BlockError> for StorageError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::Io { path, source } => StorageError::Io {
                path: path.display().to_string(),
                message: source.to_string(),
            },
            BlockError::Corruption { path, offset, what } => StorageError::Corruption {
                file: path.display().to_string(),
                offset,
                what,
            },
            BlockError::Invalid(m) => StorageError::Other(m),
        }
    }
}

/// Writes `dir/name` atomically, as Prometheus writes its small block files: to
/// `name.tmp`, fsynced, renamed over `name`, and the directory fsynced. Returns the bytes
/// written.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<u64, BlockError> {
    use std::io::Write;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(BlockError::io(&tmp))?;
        f.write_all(bytes).map_err(BlockError::io(&tmp))?;
        f.sync_all().map_err(BlockError::io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(BlockError::io(&path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| bytes.len() as u64)
}

/// A read-only memory map of a whole file. An empty file maps to an empty slice.
pub struct MmapFile {
    path: PathBuf,
    map: Option<memmap2::Mmap>,
}

impl MmapFile {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> Result<MmapFile, BlockError> {
        let f = File::open(path).map_err(BlockError::io(path))?;
        let len = f.metadata().map_err(BlockError::io(path))?.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: block files are immutable once their directory is renamed into place:
            // nothing in this process writes to or truncates them while they are mapped, and
            // every read goes through bounds-checked slices of the map.
            #[allow(unsafe_code)]
            let m = unsafe { memmap2::Mmap::map(&f) }.map_err(BlockError::io(path))?;
            Some(m)
        };
        Ok(MmapFile {
            path: path.to_path_buf(),
            map,
        })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// The file's path, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Debug for MmapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapFile")
            .field("path", &self.path)
            .field("len", &self.bytes().len())
            .finish()
    }
}
