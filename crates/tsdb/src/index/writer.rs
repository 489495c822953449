//! Writing a block's `index` file in Prometheus's index format v2.
//!
//! The layout, front to back: the 5-byte header (magic `0xBAAAD700`, version 2), the
//! symbol table, the series (each entry 16-byte aligned), one label index per label name,
//! the postings lists (the all-series list under `""=""` first, then every `name=value`
//! in sorted order), the label indices table, the postings offset table and the table of
//! contents. Every section and entry carries a CRC-32C exactly where Prometheus puts one,
//! so the bytes equal what Prometheus's own writer produces for the same input.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use narthex_model::Labels;

use crate::block::{BlockError, ChunkMeta};
use crate::encoding::Encbuf;

/// First four bytes of every index file.
pub(crate) const MAGIC_INDEX: u32 = 0xBAAA_D700;
/// Index format version 1 (Prometheus 2.0 to 2.18).
pub(crate) const FORMAT_V1: u8 = 1;
/// Index format version 2 (Prometheus 2.19 on).
pub(crate) const FORMAT_V2: u8 = 2;
/// Magic plus version byte.
pub(crate) const HEADER_LEN: usize = 5;
/// Six big-endian u64 section offsets plus a CRC-32C.
pub(crate) const TOC_LEN: usize = 6 * 8 + 4;
/// Series entries start at multiples of this, so a 4-byte reference (offset / 16)
/// addresses 64 GiB.
pub(crate) const SERIES_ALIGN: u64 = 16;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Stage {
    Fresh,
    Series,
}

/// Writes an index file in Prometheus's format v2.
///
/// Call [`IndexWriter::add_symbols`] once, then [`IndexWriter::add_series`] for every
/// series in label order, then [`IndexWriter::finish`]. Postings are gathered in memory
/// as one `Vec<u32>` per label pair.
pub struct IndexWriter {
    path: PathBuf,
    w: BufWriter<File>,
    pos: u64,
    stage: Stage,
    symbols: Vec<Box<str>>,
    /// Each symbol's number, for the label references of every series (a hash lookup
    /// where a binary search compared strings about fifteen times).
    symbol_refs: HashMap<Box<str>, u32>,
    last_series: Option<Labels>,
    /// (name symbol, value symbol) -> series references. Symbol numbers sort like the
    /// strings, so iterating this map visits label pairs in Prometheus's order.
    postings: BTreeMap<(u32, u32), Vec<u32>>,
    all: Vec<u32>,
    toc: [u64; 6],
    buf: Encbuf,
}

impl std::fmt::Debug for IndexWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriter")
            .field("path", &self.path)
            .field("pos", &self.pos)
            .field("symbols", &self.symbols.len())
            .field("series", &self.all.len())
            .finish()
    }
}

const TOC_SYMBOLS: usize = 0;
const TOC_SERIES: usize = 1;
const TOC_LABEL_INDICES: usize = 2;
const TOC_LABEL_INDICES_TABLE: usize = 3;
const TOC_POSTINGS: usize = 4;
const TOC_POSTINGS_TABLE: usize = 5;

impl IndexWriter {
    /// Creates the index file at `path` (truncating), writes magic 0xBAAAD700 + version 2.
    pub fn create(path: &Path) -> Result<IndexWriter, BlockError> {
        let f = File::create(path).map_err(BlockError::io(path))?;
        let mut w = IndexWriter {
            path: path.to_path_buf(),
            w: BufWriter::with_capacity(1 << 16, f),
            pos: 0,
            stage: Stage::Fresh,
            symbols: Vec::new(),
            symbol_refs: HashMap::new(),
            last_series: None,
            postings: BTreeMap::new(),
            all: Vec::new(),
            toc: [0; 6],
            buf: Encbuf::default(),
        };
        let mut e = Encbuf::default();
        e.put_be32(MAGIC_INDEX);
        e.put_byte(FORMAT_V2);
        w.write(&e.b)?;
        Ok(w)
    }

    fn write(&mut self, b: &[u8]) -> Result<(), BlockError> {
        self.w.write_all(b).map_err(BlockError::io(&self.path))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn write_at(&mut self, b: &[u8], at: u64) -> Result<(), BlockError> {
        let io = |e| BlockError::Io {
            path: self.path.clone(),
            source: e,
        };
        self.w.seek(SeekFrom::Start(at)).map_err(io)?;
        self.w.write_all(b).map_err(io)?;
        self.w.seek(SeekFrom::Start(self.pos)).map_err(io)?;
        Ok(())
    }

    fn pad(&mut self, align: u64) -> Result<(), BlockError> {
        let rem = self.pos % align;
        if rem != 0 {
            let zeros = [0u8; 16];
            let n = (align - rem) as usize;
            self.write(&zeros[..n])?;
        }
        Ok(())
    }

    /// Every label name and value of every series, sorted ascending and deduplicated
    /// (error BlockError::Invalid otherwise). Called exactly once, before add_series.
    pub fn add_symbols<'a>(
        &mut self,
        symbols: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), BlockError> {
        if self.stage != Stage::Fresh {
            return Err(BlockError::Invalid(
                "index writer: add_symbols called twice or after add_series".into(),
            ));
        }
        self.write_symbols(symbols)
    }

    fn write_symbols<'a>(
        &mut self,
        symbols: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), BlockError> {
        self.stage = Stage::Series;
        for s in symbols {
            if let Some(last) = self.symbols.last()
                && **last >= *s
            {
                return Err(BlockError::Invalid(format!(
                    "index writer: symbol {s:?} out of order after {last:?}"
                )));
            }
            self.symbols.push(s.into());
        }
        self.symbol_refs = (self.symbols.iter().zip(0u32..))
            .map(|(s, i)| (s.clone(), i))
            .collect();
        let Ok(count) = u32::try_from(self.symbols.len()) else {
            return Err(BlockError::Invalid("index writer: too many symbols".into()));
        };
        let start = self.pos;
        self.toc[TOC_SYMBOLS] = start;
        // The length is patched in once known; the CRC covers the count and the symbols.
        self.write(&[0u8; 4])?;
        let c = count.to_be_bytes();
        let mut crc = crc32c::crc32c(&c);
        self.write(&c)?;
        let mut e = std::mem::take(&mut self.buf);
        let mut res = Ok(());
        for i in 0..self.symbols.len() {
            e.b.clear();
            e.put_uvarint_str(&self.symbols[i]);
            crc = crc32c::crc32c_append(crc, &e.b);
            res = self.write(&e.b);
            if res.is_err() {
                break;
            }
        }
        self.buf = e;
        res?;
        let len = self.pos - start - 4;
        let Ok(len) = u32::try_from(len) else {
            return Err(BlockError::Invalid(format!(
                "index writer: symbol table too large ({len} bytes)"
            )));
        };
        self.write(&crc.to_be_bytes())?;
        self.write_at(&len.to_be_bytes(), start)?;
        self.toc[TOC_SERIES] = self.pos;
        Ok(())
    }

    fn symbol_ref(&self, s: &str) -> Result<u32, BlockError> {
        self.symbol_refs
            .get(s)
            .copied()
            .ok_or_else(|| BlockError::Invalid(format!("index writer: symbol {s:?} was not added")))
    }

    /// Series in strictly increasing label-set order (Labels's Ord), chunks sorted by mint.
    /// Returns the series reference (its offset / 16), as Prometheus uses in postings and tombstones.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<u64, BlockError> {
        if self.stage == Stage::Fresh {
            self.write_symbols(std::iter::empty())?;
        }
        let in_order = match &self.last_series {
            Some(last) => labels > last,
            None => *labels > Labels::empty(),
        };
        if !in_order {
            return Err(BlockError::Invalid(format!(
                "index writer: series {labels} out of order or empty"
            )));
        }
        let mut prev_maxt = None;
        for c in chunks {
            if c.maxt < c.mint {
                return Err(BlockError::Invalid(format!(
                    "index writer: chunk of {labels} has maxt {} < mint {}",
                    c.maxt, c.mint
                )));
            }
            if let Some(p) = prev_maxt
                && c.mint <= p
            {
                return Err(BlockError::Invalid(format!(
                    "index writer: chunk of {labels} starts at {} before the previous ends at {p}",
                    c.mint
                )));
            }
            prev_maxt = Some(c.maxt);
        }

        self.pad(SERIES_ALIGN)?;
        let sref = self.pos / SERIES_ALIGN;
        let Ok(sref32) = u32::try_from(sref) else {
            return Err(BlockError::Invalid(
                "index writer: index exceeds 64 GiB of series".into(),
            ));
        };

        let mut e = std::mem::take(&mut self.buf);
        e.b.clear();
        e.put_uvarint(labels.len() as u64);
        let mut pairs = Vec::with_capacity(labels.len());
        for l in labels {
            let n = self.symbol_ref(&l.name)?;
            let v = self.symbol_ref(&l.value)?;
            e.put_uvarint(u64::from(n));
            e.put_uvarint(u64::from(v));
            pairs.push((n, v));
        }
        e.put_uvarint(chunks.len() as u64);
        if let Some((first, rest)) = chunks.split_first() {
            e.put_varint(first.mint);
            e.put_uvarint(first.maxt.wrapping_sub(first.mint) as u64);
            e.put_uvarint(first.chunk_ref);
            let mut t0 = first.maxt;
            let mut r0 = first.chunk_ref as i64;
            for c in rest {
                e.put_uvarint(c.mint.wrapping_sub(t0) as u64);
                e.put_uvarint(c.maxt.wrapping_sub(c.mint) as u64);
                t0 = c.maxt;
                e.put_varint((c.chunk_ref as i64).wrapping_sub(r0));
                r0 = c.chunk_ref as i64;
            }
        }
        let crc = crc32c::crc32c(&e.b);
        let mut head = Encbuf::default();
        head.put_uvarint(e.b.len() as u64);
        e.put_be32(crc);
        let res = self.write(&head.b).and_then(|()| self.write(&e.b));
        self.buf = e;
        res?;

        for p in pairs {
            self.postings.entry(p).or_default().push(sref32);
        }
        self.all.push(sref32);
        self.last_series = Some(labels.clone());
        Ok(sref)
    }

    /// Writes a `len <4b> | content | CRC32 <4b>` record whose CRC covers the content.
    fn write_len_crc(&mut self, content: &[u8], what: &str) -> Result<(), BlockError> {
        let Ok(len) = u32::try_from(content.len()) else {
            return Err(BlockError::Invalid(format!(
                "index writer: {what} exceeds 4 GiB"
            )));
        };
        self.write(&len.to_be_bytes())?;
        self.write(content)?;
        self.write(&crc32c::crc32c(content).to_be_bytes())
    }

    /// Writes label indices, postings (incl. the all-postings list under name "" value ""), the postings
    /// offset table, the label indices table, the TOC with its CRC; fsyncs. Returns the file size.
    pub fn finish(mut self) -> Result<u64, BlockError> {
        if self.stage == Stage::Fresh {
            self.write_symbols(std::iter::empty())?;
        }
        let postings = std::mem::take(&mut self.postings);

        // Label indices: per label name, the symbol numbers of its values.
        self.toc[TOC_LABEL_INDICES] = self.pos;
        let mut label_index_offsets: Vec<(u32, u64)> = Vec::new();
        let mut e = Encbuf::default();
        let mut it = postings.keys().peekable();
        while let Some(&(name, first_value)) = it.next() {
            let mut values = vec![first_value];
            while let Some(&&(n, v)) = it.peek() {
                if n != name {
                    break;
                }
                values.push(v);
                it.next();
            }
            self.pad(4)?;
            label_index_offsets.push((name, self.pos));
            e.b.clear();
            e.put_be32(1);
            e.put_be32(values.len() as u32);
            for v in values {
                e.put_be32(v);
            }
            self.write_len_crc(&e.b, "label index")?;
        }

        // Postings lists, the all-series list first.
        self.toc[TOC_POSTINGS] = self.pos;
        let mut postings_offsets: Vec<(Option<(u32, u32)>, u64)> =
            Vec::with_capacity(postings.len() + 1);
        let all = std::mem::take(&mut self.all);
        self.pad(4)?;
        postings_offsets.push((None, self.pos));
        encode_postings(&mut e, &all);
        self.write_len_crc(&e.b, "postings list")?;
        drop(all);
        for (k, refs) in &postings {
            self.pad(4)?;
            postings_offsets.push((Some(*k), self.pos));
            encode_postings(&mut e, refs);
            self.write_len_crc(&e.b, "postings list")?;
        }
        drop(postings);

        // Label indices table: name -> label index offset.
        self.toc[TOC_LABEL_INDICES_TABLE] = self.pos;
        e.b.clear();
        e.put_be32(label_index_offsets.len() as u32);
        for (name, off) in &label_index_offsets {
            e.put_uvarint(1);
            e.put_uvarint_str(&self.symbols[*name as usize]);
            e.put_uvarint(*off);
        }
        self.write_len_crc(&e.b, "label indices table")?;

        // Postings offset table: (name, value) -> postings list offset, sorted.
        self.toc[TOC_POSTINGS_TABLE] = self.pos;
        e.b.clear();
        e.put_be32(postings_offsets.len() as u32);
        for (k, off) in &postings_offsets {
            e.put_uvarint(2);
            match k {
                None => {
                    e.put_uvarint_str("");
                    e.put_uvarint_str("");
                }
                Some((n, v)) => {
                    e.put_uvarint_str(&self.symbols[*n as usize]);
                    e.put_uvarint_str(&self.symbols[*v as usize]);
                }
            }
            e.put_uvarint(*off);
        }
        self.write_len_crc(&e.b, "postings offset table")?;

        // Table of contents.
        e.b.clear();
        for off in self.toc {
            e.put_be64(off);
        }
        let crc = crc32c::crc32c(&e.b);
        e.put_be32(crc);
        let toc = std::mem::take(&mut e.b);
        self.write(&toc)?;

        let path = self.path.clone();
        let f = self
            .w
            .into_inner()
            .map_err(|e| BlockError::io(&path)(e.into_error()))?;
        f.sync_all().map_err(BlockError::io(&path))?;
        Ok(self.pos)
    }
}

fn encode_postings(e: &mut Encbuf, refs: &[u32]) {
    e.b.clear();
    e.put_be32(refs.len() as u32);
    for r in refs {
        e.put_be32(*r);
    }
}
