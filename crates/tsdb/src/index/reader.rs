//! Reading a block's `index` file, format v2 (Prometheus 2.19 on) or v1 (Prometheus 2.0).
//!
//! Opening maps the file and checks the header, the table of contents, the symbol table
//! and the postings offset table, each against its CRC-32C. The label pairs and the
//! offsets of their postings lists are then held in memory, grouped by label name and
//! sorted by value; symbols are located through a vector of their offsets. Series entries
//! and postings lists are decoded from the map on demand, each checked against its CRC.
//! Any length, offset or reference that points outside the file or its section is
//! reported as [`BlockError::Corruption`]; no input makes the reader panic.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use narthex_model::{Label, Labels};
use narthex_storage::StorageError;

use super::postings::PostingsSource;
use super::writer::{FORMAT_V1, FORMAT_V2, HEADER_LEN, MAGIC_INDEX, SERIES_ALIGN, TOC_LEN};
use crate::block::{BlockError, ChunkMeta, MmapFile};
use crate::encoding::{Decbuf, DecodeError};

/// Reads an index file in Prometheus's format v2 or v1.
pub struct IndexReader {
    file: MmapFile,
    version: u32,
    /// Offset of the symbol table's first entry, and of every entry relative to it.
    symbols_base: u64,
    symbol_offsets: Vec<u32>,
    /// Label name -> (value, postings list offset), sorted by value. The all-series list
    /// sits under the name "".
    postings: BTreeMap<String, Vec<(String, u64)>>,
    /// Interned label names keyed by symbol reference, shared by every decoded series.
    names: HashMap<u64, Arc<str>>,
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader")
            .field("file", &self.file)
            .field("version", &self.version)
            .field("symbols", &self.symbol_offsets.len())
            .field("label_names", &self.postings.len())
            .finish()
    }
}

/// The byte range `[start, start + len)` of `b`, if it lies inside.
fn range(b: &[u8], start: u64, len: u64) -> Option<&[u8]> {
    let s = usize::try_from(start).ok()?;
    let l = usize::try_from(len).ok()?;
    b.get(s..s.checked_add(l)?)
}

impl IndexReader {
    fn corrupt(&self, offset: u64, what: impl Into<String>) -> BlockError {
        BlockError::corruption(self.file.path(), offset, what)
    }

    fn dec_err(&self, base: u64, e: DecodeError) -> BlockError {
        self.corrupt(base + e.offset as u64, e.what)
    }

    /// The content of a `len <4b> | content | CRC32 <4b>` record at `off`, CRC checked.
    fn len_crc_record(&self, off: u64, what: &str) -> Result<&[u8], BlockError> {
        let b = self.file.bytes();
        let Some(l) = range(b, off, 4) else {
            return Err(self.corrupt(off, format!("{what}: offset beyond the file")));
        };
        let len = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as u64;
        let Some(content) = range(b, off + 4, len) else {
            return Err(self.corrupt(off, format!("{what}: length {len} beyond the file")));
        };
        let Some(c) = range(b, off + 4 + len, 4) else {
            return Err(self.corrupt(off + 4 + len, format!("{what}: checksum beyond the file")));
        };
        let want = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        if crc32c::crc32c(content) != want {
            return Err(self.corrupt(off, format!("{what}: checksum mismatch")));
        }
        Ok(content)
    }

    /// Maps and validates the file: magic, version (1 or 2), TOC CRC, symbol table CRC,
    /// postings offset table CRC; every offset/length bounds-checked → BlockError::Corruption{path, offset, what}.
    pub fn open(path: &Path) -> Result<IndexReader, BlockError> {
        let file = MmapFile::open(path)?;
        let mut r = IndexReader {
            file,
            version: 0,
            symbols_base: 0,
            symbol_offsets: Vec::new(),
            postings: BTreeMap::new(),
            names: HashMap::new(),
        };
        let b = r.file.bytes();
        if b.len() < HEADER_LEN + TOC_LEN {
            return Err(r.corrupt(0, format!("index file too short ({} bytes)", b.len())));
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC_INDEX {
            return Err(r.corrupt(0, format!("bad magic number {magic:#x}")));
        }
        r.version = match b[4] {
            v @ (FORMAT_V1 | FORMAT_V2) => u32::from(v),
            v => return Err(r.corrupt(4, format!("unknown index version {v}"))),
        };

        // Table of contents.
        let toc_off = (b.len() - TOC_LEN) as u64;
        let toc_b = &b[b.len() - TOC_LEN..];
        let want = u32::from_be_bytes([toc_b[48], toc_b[49], toc_b[50], toc_b[51]]);
        if crc32c::crc32c(&toc_b[..48]) != want {
            return Err(r.corrupt(toc_off, "table of contents: checksum mismatch"));
        }
        let mut toc = [0u64; 6];
        let mut d = Decbuf::new(&toc_b[..48]);
        for (i, t) in toc.iter_mut().enumerate() {
            *t = d.be64("toc entry").map_err(|e| r.dec_err(toc_off, e))?;
            if *t > toc_off {
                return Err(r.corrupt(
                    toc_off + 8 * i as u64,
                    format!("table of contents: offset {t} beyond the index data"),
                ));
            }
        }
        let [
            symbols_off,
            _series,
            _li,
            _lit,
            _postings,
            postings_table_off,
        ] = toc;

        r.read_symbols(symbols_off)?;
        r.read_postings_table(postings_table_off)?;

        // Intern label names so decoded series share them.
        let mut names = HashMap::new();
        for name in r.postings.keys() {
            if name.is_empty() {
                continue;
            }
            if let Some(sref) = r.reverse_lookup(name)? {
                names.insert(sref, Arc::<str>::from(name.as_str()));
            }
        }
        r.names = names;
        Ok(r)
    }

    fn read_symbols(&mut self, off: u64) -> Result<(), BlockError> {
        let content = self.len_crc_record(off, "symbol table")?;
        let base = off + 4;
        let mut d = Decbuf::new(content);
        let count = d.be32("symbol count").map_err(|e| self.dec_err(base, e))? as usize;
        // Every symbol takes at least one byte.
        if count > d.remaining() {
            return Err(self.corrupt(base, format!("symbol count {count} exceeds the table")));
        }
        let mut offsets = Vec::with_capacity(count);
        for _ in 0..count {
            offsets.push(d.offset() as u32);
            d.uvarint_str("symbol").map_err(|e| self.dec_err(base, e))?;
        }
        self.symbols_base = base;
        self.symbol_offsets = offsets;
        Ok(())
    }

    fn read_postings_table(&mut self, off: u64) -> Result<(), BlockError> {
        let content = self.len_crc_record(off, "postings offset table")?;
        let base = off + 4;
        let mut d = Decbuf::new(content);
        let de = |e| self.dec_err(base, e);
        let count = d.be32("postings offset table count").map_err(de)?;
        let mut map: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        for _ in 0..count {
            let at = base + d.offset() as u64;
            let keys = d.uvarint("postings offset table key count").map_err(de)?;
            if keys != 2 {
                return Err(self.corrupt(at, format!("postings offset table: {keys} keys, want 2")));
            }
            let name = d.uvarint_str("label name").map_err(de)?;
            let value = d.uvarint_str("label value").map_err(de)?;
            let p = d.uvarint("postings offset").map_err(de)?;
            match map.get_mut(name) {
                Some(v) => v.push((value.to_string(), p)),
                None => {
                    map.insert(name.to_string(), vec![(value.to_string(), p)]);
                }
            }
        }
        // Version 1 wrote the table unsorted; version 2 is sorted already.
        for v in map.values_mut() {
            if !v.is_sorted_by(|a, b| a.0 < b.0) {
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v.dedup_by(|a, b| a.0 == b.0);
            }
        }
        self.postings = map;
        Ok(())
    }

    /// The file format version, 1 or 2.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The index file's size in bytes.
    pub fn size(&self) -> u64 {
        self.file.bytes().len() as u64
    }

    /// The string at symbol table position `i` (relative offset `rel`).
    fn symbol_at(&self, rel: u32) -> Result<&str, BlockError> {
        let at = self.symbols_base + u64::from(rel);
        let b = self.file.bytes();
        let tail = usize::try_from(at)
            .ok()
            .and_then(|s| b.get(s..))
            .ok_or_else(|| self.corrupt(at, "symbol beyond the file"))?;
        Decbuf::new(tail)
            .uvarint_str("symbol")
            .map_err(|e| self.dec_err(at, e))
    }

    /// Resolves a symbol reference from a series entry: an index into the table in v2, an
    /// absolute byte offset in v1.
    fn lookup_symbol(&self, sref: u64, at: u64) -> Result<&str, BlockError> {
        let rel = if self.version == u32::from(FORMAT_V1) {
            let rel = sref
                .checked_sub(self.symbols_base)
                .and_then(|r| u32::try_from(r).ok());
            match rel {
                Some(rel) if self.symbol_offsets.binary_search(&rel).is_ok() => rel,
                _ => return Err(self.corrupt(at, format!("unknown symbol offset {sref}"))),
            }
        } else {
            match usize::try_from(sref)
                .ok()
                .and_then(|i| self.symbol_offsets.get(i))
            {
                Some(&rel) => rel,
                None => return Err(self.corrupt(at, format!("unknown symbol {sref}"))),
            }
        };
        self.symbol_at(rel)
    }

    /// The reference a series entry would use for `sym`, if it is in the table.
    fn reverse_lookup(&self, sym: &str) -> Result<Option<u64>, BlockError> {
        let mut lo = 0usize;
        let mut hi = self.symbol_offsets.len();
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let s = self.symbol_at(self.symbol_offsets[mid])?;
            match s.cmp(sym) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    return Ok(Some(if self.version == u32::from(FORMAT_V1) {
                        self.symbols_base + u64::from(self.symbol_offsets[mid])
                    } else {
                        mid as u64
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Every symbol, in table order (sorted).
    pub fn symbols(&self) -> Result<Vec<String>, BlockError> {
        self.symbol_offsets
            .iter()
            .map(|&rel| self.symbol_at(rel).map(str::to_string))
            .collect()
    }

    /// Labels and chunk metas of series `r` (the ref from postings); verifies the entry CRC.
    pub fn series(&self, r: u64, chunks: &mut Vec<ChunkMeta>) -> Result<Labels, BlockError> {
        chunks.clear();
        let off = if self.version == u32::from(FORMAT_V1) {
            Some(r)
        } else {
            r.checked_mul(SERIES_ALIGN)
        };
        let b = self.file.bytes();
        let Some(tail) = off
            .and_then(|o| usize::try_from(o).ok())
            .filter(|&o| o >= HEADER_LEN)
            .and_then(|o| b.get(o..))
        else {
            return Err(self.corrupt(
                off.unwrap_or(u64::MAX),
                format!("series reference {r} outside the file"),
            ));
        };
        let off = off.unwrap_or_default();
        let mut d = Decbuf::new(tail);
        let len = d
            .count(1, "series entry length")
            .map_err(|e| self.dec_err(off, e))?;
        let start = d.offset();
        let content = d
            .bytes(len, "series entry")
            .map_err(|e| self.dec_err(off, e))?;
        let crc = d
            .be32("series entry checksum")
            .map_err(|e| self.dec_err(off, e))?;
        if crc32c::crc32c(content) != crc {
            return Err(self.corrupt(off, format!("series {r}: checksum mismatch")));
        }
        let base = off + start as u64;
        let de = |e| self.dec_err(base, e);
        let mut d = Decbuf::new(content);
        let n = d.count(2, "series label count").map_err(de)?;
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let at = base + d.offset() as u64;
            let nref = d.uvarint("label name reference").map_err(de)?;
            let vref = d.uvarint("label value reference").map_err(de)?;
            let name = match self.names.get(&nref) {
                Some(n) => n.clone(),
                None => Arc::from(self.lookup_symbol(nref, at)?),
            };
            let value = Arc::from(self.lookup_symbol(vref, at)?);
            labels.push(Label { name, value });
        }
        let k = d.count(3, "chunk count").map_err(de)?;
        chunks.reserve(k);
        let mut prev: Option<ChunkMeta> = None;
        for _ in 0..k {
            let c = match prev {
                None => {
                    let mint = d.varint("chunk mint").map_err(de)?;
                    let dt = d.uvarint("chunk maxt delta").map_err(de)?;
                    let chunk_ref = d.uvarint("chunk reference").map_err(de)?;
                    ChunkMeta {
                        chunk_ref,
                        mint,
                        maxt: mint.wrapping_add(dt as i64),
                    }
                }
                Some(p) => {
                    let gap = d.uvarint("chunk mint delta").map_err(de)?;
                    let dt = d.uvarint("chunk maxt delta").map_err(de)?;
                    let dref = d.varint("chunk reference delta").map_err(de)?;
                    let mint = p.maxt.wrapping_add(gap as i64);
                    ChunkMeta {
                        chunk_ref: (p.chunk_ref as i64).wrapping_add(dref) as u64,
                        mint,
                        maxt: mint.wrapping_add(dt as i64),
                    }
                }
            };
            chunks.push(c);
            prev = Some(c);
        }
        if d.remaining() != 0 {
            return Err(self.corrupt(
                base + d.offset() as u64,
                format!("series {r}: {} unexpected trailing bytes", d.remaining()),
            ));
        }
        Ok(Labels::from_labels(labels))
    }

    /// Label names, sorted, excluding the all-series key "".
    pub fn label_names(&self) -> Result<Vec<String>, BlockError> {
        Ok(self
            .postings
            .keys()
            .filter(|k| !k.is_empty())
            .cloned()
            .collect())
    }

    /// The values of label `name`, sorted.
    pub fn label_values_of(&self, name: &str) -> Result<Vec<String>, BlockError> {
        Ok(self
            .postings
            .get(name)
            .map(|v| v.iter().map(|(val, _)| val.clone()).collect())
            .unwrap_or_default())
    }

    /// The sorted series references of `name="value"`; verifies the list's CRC. A pair
    /// not in the index has no series.
    pub fn postings_of(&self, name: &str, value: &str) -> Result<Vec<u64>, BlockError> {
        let Some(values) = self.postings.get(name) else {
            return Ok(Vec::new());
        };
        let Ok(i) = values.binary_search_by(|(v, _)| v.as_str().cmp(value)) else {
            return Ok(Vec::new());
        };
        let off = values[i].1;
        let content = self.len_crc_record(off, "postings list")?;
        let base = off + 4;
        let mut d = Decbuf::new(content);
        let n = d
            .be32("postings count")
            .map_err(|e| self.dec_err(base, e))? as usize;
        if d.remaining() != n.saturating_mul(4) {
            return Err(self.corrupt(
                base,
                format!("postings list of {n} entries in {} bytes", d.remaining()),
            ));
        }
        let mut out = Vec::with_capacity(n);
        let mut last = None;
        for _ in 0..n {
            let at = base + d.offset() as u64;
            let r = u64::from(
                d.be32("series reference")
                    .map_err(|e| self.dec_err(base, e))?,
            );
            if last.is_some_and(|l| l >= r) {
                return Err(self.corrupt(at, "postings list not sorted"));
            }
            last = Some(r);
            out.push(r);
        }
        Ok(out)
    }
}

impl PostingsSource for IndexReader {
    fn postings(&self, name: &str, value: &str) -> Result<Vec<u64>, StorageError> {
        Ok(self.postings_of(name, value)?)
    }

    fn all_postings(&self) -> Result<Vec<u64>, StorageError> {
        Ok(self.postings_of("", "")?)
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>, StorageError> {
        Ok(self.label_values_of(name)?)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use narthex_model::{MatchOp, Matcher};
    use proptest::prelude::*;

    use super::*;
    use crate::index::{IndexWriter, postings_for_matchers};

    /// Writes `series` (sorted, unique) to `path` and returns each series' reference.
    fn write_index(path: &Path, series: &[(Labels, Vec<ChunkMeta>)]) -> Vec<u64> {
        let mut syms = BTreeSet::new();
        for (l, _) in series {
            for lb in l {
                syms.insert(lb.name.to_string());
                syms.insert(lb.value.to_string());
            }
        }
        let mut w = IndexWriter::create(path).unwrap();
        w.add_symbols(syms.iter().map(String::as_str)).unwrap();
        let refs = series
            .iter()
            .map(|(l, c)| w.add_series(l, c).unwrap())
            .collect();
        let size = w.finish().unwrap();
        assert_eq!(size, std::fs::metadata(path).unwrap().len());
        refs
    }

    fn chunks_strategy() -> impl Strategy<Value = Vec<ChunkMeta>> {
        (
            -1_000_000_000i64..1_000_000_000,
            prop::collection::vec((1u64..100_000, 0u64..100_000, 0u64..1 << 40), 0..4),
        )
            .prop_map(|(start, steps)| {
                let mut t = start;
                steps
                    .into_iter()
                    .map(|(gap, len, chunk_ref)| {
                        let mint = t + gap as i64;
                        let maxt = mint + len as i64;
                        t = maxt;
                        ChunkMeta {
                            chunk_ref,
                            mint,
                            maxt,
                        }
                    })
                    .collect()
            })
    }

    fn series_strategy() -> impl Strategy<Value = Vec<(Labels, Vec<ChunkMeta>)>> {
        let names = prop::sample::select(vec!["__name__", "job", "a", "zone", "ü"]);
        let values = prop::sample::select(vec!["x", "y", "api", "web", "0", "10", "9", "é", "a b"]);
        let labels = prop::collection::vec((names, values), 1..4)
            .prop_map(Labels::from_pairs)
            .prop_filter("non-empty", |l| !l.is_empty());
        prop::collection::vec((labels, chunks_strategy()), 0..40).prop_map(|v| {
            let m: BTreeMap<Labels, Vec<ChunkMeta>> = v.into_iter().collect();
            m.into_iter().collect()
        })
    }

    fn brute_force(series: &[(Labels, Vec<ChunkMeta>)], refs: &[u64], ms: &[Matcher]) -> Vec<u64> {
        series
            .iter()
            .zip(refs)
            .filter(|((l, _), _)| ms.iter().all(|m| m.matches(l.get(m.name()).unwrap_or(""))))
            .map(|(_, r)| *r)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn round_trip(
            series in series_strategy(),
            qs in prop::collection::vec((0usize..4, prop::sample::select(vec!["job", "a", "zone", "nope"]), prop::sample::select(vec!["x", "api", "", "a.*", "1?0|9", "é"])), 1..3),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("index");
            let refs = write_index(&path, &series);
            let ix = IndexReader::open(&path).unwrap();
            prop_assert_eq!(ix.version(), 2);
            prop_assert_eq!(ix.all_postings().unwrap(), refs.clone());

            let mut chunks = Vec::new();
            for ((l, c), r) in series.iter().zip(&refs) {
                prop_assert_eq!(&ix.series(*r, &mut chunks).unwrap(), l);
                prop_assert_eq!(&chunks, c);
            }

            // Label names, values and postings against the input.
            let mut pairs: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
            let mut syms = BTreeSet::new();
            for ((l, _), r) in series.iter().zip(&refs) {
                for lb in l {
                    pairs.entry((lb.name.to_string(), lb.value.to_string())).or_default().push(*r);
                    syms.insert(lb.name.to_string());
                    syms.insert(lb.value.to_string());
                }
            }
            prop_assert_eq!(ix.symbols().unwrap(), syms.into_iter().collect::<Vec<_>>());
            let names: BTreeSet<String> = pairs.keys().map(|(n, _)| n.clone()).collect();
            prop_assert_eq!(ix.label_names().unwrap(), names.iter().cloned().collect::<Vec<_>>());
            for n in &names {
                let vals: Vec<String> = pairs.keys().filter(|(k, _)| k == n).map(|(_, v)| v.clone()).collect();
                prop_assert_eq!(ix.label_values_of(n).unwrap(), vals);
            }
            for ((n, v), want) in &pairs {
                prop_assert_eq!(&ix.postings_of(n, v).unwrap(), want);
            }
            prop_assert!(ix.postings_of("job", "missing").unwrap().is_empty());
            prop_assert!(ix.label_values_of("missing").unwrap().is_empty());

            let ops = [MatchOp::Equal, MatchOp::NotEqual, MatchOp::RegexMatch, MatchOp::RegexNoMatch];
            let ms: Vec<Matcher> = qs.iter().map(|(op, n, v)| Matcher::new(ops[*op], *n, *v).unwrap()).collect();
            prop_assert_eq!(postings_for_matchers(&ix, &ms).unwrap(), brute_force(&series, &refs, &ms), "{:?}", ms);
        }

        #[test]
        fn never_panics_on_corrupt_bytes(
            series in series_strategy(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in prop::option::of(any::<prop::sample::Index>()),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("index");
            let refs = write_index(&path, &series);
            let mut b = std::fs::read(&path).unwrap();
            for (i, v) in flips {
                let i = i.index(b.len());
                b[i] = v;
            }
            if let Some(c) = cut {
                b.truncate(c.index(b.len() + 1));
            }
            std::fs::write(&path, &b).unwrap();
            let Ok(ix) = IndexReader::open(&path) else { return Ok(()) };
            let _ = ix.version();
            let _ = ix.size();
            let _ = ix.symbols();
            let mut chunks = Vec::new();
            if let Ok(names) = ix.label_names() {
                for n in names.iter().chain(std::iter::once(&String::new())) {
                    for v in ix.label_values_of(n).unwrap_or_default().iter().chain(std::iter::once(&String::new())) {
                        if let Ok(ps) = ix.postings_of(n, v) {
                            for r in ps.into_iter().take(50) {
                                let _ = ix.series(r, &mut chunks);
                            }
                        }
                    }
                }
            }
            for r in refs.iter().copied().chain([0, 1, u64::MAX, u64::MAX / 16, ix.size() / 16]) {
                let _ = ix.series(r, &mut chunks);
            }
            let m = Matcher::new(MatchOp::RegexNoMatch, "job", "x|").unwrap();
            let _ = postings_for_matchers(&ix, &[m]);
        }
    }

    fn sample() -> Vec<(Labels, Vec<ChunkMeta>)> {
        (0..20)
            .map(|i| {
                let l = Labels::from_pairs([
                    ("__name__", "up".to_string()),
                    ("instance", format!("host-{i:02}")),
                ]);
                let c = vec![
                    ChunkMeta {
                        chunk_ref: 8 + 100 * i,
                        mint: i64::MIN,
                        maxt: -5,
                    },
                    ChunkMeta {
                        chunk_ref: 4,
                        mint: 0,
                        maxt: i64::MAX,
                    },
                ];
                (l, c)
            })
            .collect()
    }

    #[test]
    fn reader_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<IndexReader>();
    }

    #[test]
    fn extreme_chunk_times_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let series = sample();
        let refs = write_index(&path, &series);
        let ix = IndexReader::open(&path).unwrap();
        let mut chunks = Vec::new();
        for ((l, c), r) in series.iter().zip(refs) {
            assert_eq!(&ix.series(r, &mut chunks).unwrap(), l);
            assert_eq!(&chunks, c);
        }
    }

    #[test]
    fn empty_index_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        write_index(&path, &[]);
        let ix = IndexReader::open(&path).unwrap();
        assert!(ix.all_postings().unwrap().is_empty());
        assert!(ix.label_names().unwrap().is_empty());
        assert!(ix.symbols().unwrap().is_empty());
    }

    #[test]
    fn flipped_series_byte_is_reported_with_path_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let refs = write_index(&path, &sample());
        let mut b = std::fs::read(&path).unwrap();
        let entry = (refs[3] * 16) as usize;
        b[entry + 3] ^= 0x40;
        std::fs::write(&path, &b).unwrap();
        let ix = IndexReader::open(&path).expect("series bytes are not checked on open");
        let mut chunks = Vec::new();
        match ix.series(refs[3], &mut chunks) {
            Err(BlockError::Corruption {
                path: p,
                offset,
                what,
            }) => {
                assert_eq!(p, path);
                assert_eq!(offset, entry as u64, "{what}");
                assert!(what.contains("checksum"), "{what}");
            }
            other => panic!("want corruption, got {other:?}"),
        }
        // Its neighbours are intact.
        assert!(ix.series(refs[2], &mut chunks).is_ok());
        assert!(ix.series(refs[4], &mut chunks).is_ok());
    }

    #[test]
    fn truncated_or_damaged_files_fail_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        write_index(&path, &sample());
        let good = std::fs::read(&path).unwrap();
        for cut in [0, 3, 5, 40, good.len() / 2, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).unwrap();
            match IndexReader::open(&path) {
                Err(BlockError::Corruption { path: p, .. }) => assert_eq!(p, path),
                other => panic!("cut at {cut}: want corruption, got {other:?}"),
            }
        }
        // A damaged symbol table and a wrong magic number.
        let mut b = good.clone();
        b[12] ^= 1;
        std::fs::write(&path, &b).unwrap();
        assert!(matches!(
            IndexReader::open(&path),
            Err(BlockError::Corruption { offset: 5, .. })
        ));
        let mut b = good.clone();
        b[0] = 0;
        std::fs::write(&path, &b).unwrap();
        assert!(matches!(
            IndexReader::open(&path),
            Err(BlockError::Corruption { offset: 0, .. })
        ));
        let mut b = good;
        b[4] = 3;
        std::fs::write(&path, &b).unwrap();
        assert!(matches!(
            IndexReader::open(&path),
            Err(BlockError::Corruption { offset: 4, .. })
        ));
    }

    #[test]
    fn writer_rejects_contract_violations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let mut w = IndexWriter::create(&path).unwrap();
        assert!(matches!(
            w.add_symbols(["b", "a"]),
            Err(BlockError::Invalid(_))
        ));
        let mut w = IndexWriter::create(&path).unwrap();
        assert!(matches!(
            w.add_symbols(["a", "a"]),
            Err(BlockError::Invalid(_))
        ));
        let mut w = IndexWriter::create(&path).unwrap();
        w.add_symbols(["a", "b", "c"]).unwrap();
        assert!(w.add_symbols(["d"]).is_err());
        let ab = Labels::from_pairs([("a", "b")]);
        let ac = Labels::from_pairs([("a", "c")]);
        assert!(matches!(
            w.add_series(&Labels::empty(), &[]),
            Err(BlockError::Invalid(_))
        ));
        let missing = Labels::from_pairs([("a", "z")]);
        assert!(matches!(
            w.add_series(&missing, &[]),
            Err(BlockError::Invalid(_))
        ));
        // Header 5 + symbol table (4 + 4 + 3 * 2 + 4) = 23 bytes, padded to 32.
        assert_eq!(
            w.add_series(&ac, &[]).unwrap(),
            2,
            "the first series sits at byte 32"
        );
        assert!(matches!(
            w.add_series(&ab, &[]),
            Err(BlockError::Invalid(_))
        ));
        assert!(matches!(
            w.add_series(&ac, &[]),
            Err(BlockError::Invalid(_))
        ));
        let c = |mint, maxt| ChunkMeta {
            chunk_ref: 0,
            mint,
            maxt,
        };
        let bc = Labels::from_pairs([("b", "c")]);
        assert!(matches!(
            w.add_series(&bc, &[c(5, 4)]),
            Err(BlockError::Invalid(_))
        ));
        assert!(matches!(
            w.add_series(&bc, &[c(1, 4), c(4, 6)]),
            Err(BlockError::Invalid(_))
        ));
        w.add_series(&bc, &[c(1, 4), c(5, 6)]).unwrap();
        w.finish().unwrap();
        let ix = IndexReader::open(&path).unwrap();
        assert_eq!(ix.all_postings().unwrap().len(), 2);
    }
}
