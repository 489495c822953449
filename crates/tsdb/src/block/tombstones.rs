//! A block's `tombstones` file: the time ranges deleted from its series, in Prometheus's
//! layout (`tsdb/docs/format/tombstones.md`).
//!
//! ```text
//! ┌────────────────────────────┬─────────────────────┐
//! │ magic 0x0130BA30 <4b, BE>  │ version 1 <1b>      │
//! ├────────────────────────────┴─────────────────────┤
//! │ series ref <uvarint> │ mint <varint> │ maxt <varint> │   repeated, one per interval
//! ├──────────────────────────────────────────────────┤
//! │ CRC-32C <4b, BE>                                  │
//! └──────────────────────────────────────────────────┘
//! ```
//!
//! The checksum (Castagnoli) covers the interval entries only: neither the magic nor the
//! version byte (Prometheus leaves the version out "for compatibility"). An empty file
//! is therefore 9 bytes ending in a zero checksum. Intervals are closed: `[mint, maxt]`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::BlockError;
use crate::encoding::{Decbuf, Encbuf};

/// The file name inside a block directory.
pub const TOMBSTONES_FILENAME: &str = "tombstones";
/// Magic number at the start of the file.
pub const MAGIC: u32 = 0x0130_BA30;
/// The format version written and accepted.
pub const VERSION: u8 = 1;
/// Magic plus version.
const HEADER_SIZE: usize = 5;
/// The trailing checksum.
const CRC_SIZE: usize = 4;

/// Deleted time intervals by series reference. Each series' intervals are kept sorted,
/// non-overlapping and non-adjacent (touching intervals are merged).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tombstones {
    by_series: BTreeMap<u64, Vec<(i64, i64)>>,
}

impl Tombstones {
    /// No tombstones.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `[mint, maxt]` of series `series_ref` deleted, merging it with the intervals
    /// it overlaps or touches, as Prometheus's `Intervals.Add` does.
    pub fn add(&mut self, series_ref: u64, mint: i64, maxt: i64) {
        add_interval(self.by_series.entry(series_ref).or_default(), (mint, maxt));
    }

    /// The deleted intervals of `series_ref`, sorted; empty if none.
    pub fn get(&self, series_ref: u64) -> &[(i64, i64)] {
        self.by_series.get(&series_ref).map_or(&[], Vec::as_slice)
    }

    /// Every series with tombstones and its intervals, by ascending series reference.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[(i64, i64)])> + '_ {
        self.by_series.iter().map(|(r, v)| (*r, v.as_slice()))
    }

    /// The number of intervals over all series (a block's `numTombstones`).
    pub fn num_intervals(&self) -> u64 {
        self.by_series.values().map(|v| v.len() as u64).sum()
    }

    /// Whether there are no tombstones at all.
    pub fn is_empty(&self) -> bool {
        self.by_series.is_empty()
    }

    /// Drops every interval that ends before `mint` (Prometheus's `TruncateBefore`), and
    /// series left without intervals.
    pub fn truncate_before(&mut self, mint: i64) {
        self.by_series.retain(|_, ivs| {
            ivs.retain(|&(_, maxt)| maxt >= mint);
            !ivs.is_empty()
        });
    }

    /// Removes all tombstones of `series_ref`.
    pub fn remove(&mut self, series_ref: u64) {
        self.by_series.remove(&series_ref);
    }
}

/// Adds `n` to sorted, disjoint, non-adjacent `ivs`, keeping them so.
fn add_interval(ivs: &mut Vec<(i64, i64)>, n: (i64, i64)) {
    let (mint, maxt) = n;
    // The first interval that overlaps or touches n from the left...
    let lo = if mint == i64::MIN {
        0
    } else {
        ivs.partition_point(|&(_, b)| b < mint - 1)
    };
    if lo == ivs.len() {
        ivs.push(n);
        return;
    }
    // ...and how many from there overlap or touch it.
    let count = if maxt == i64::MAX {
        ivs.len() - lo
    } else {
        ivs[lo..].partition_point(|&(a, _)| a <= maxt + 1)
    };
    if count == 0 {
        ivs.insert(lo, n);
        return;
    }
    let merged = (mint.min(ivs[lo].0), maxt.max(ivs[lo + count - 1].1));
    ivs[lo] = merged;
    ivs.drain(lo + 1..lo + count);
}

/// Whether `t` falls in any of the closed `intervals`.
pub fn is_deleted(intervals: &[(i64, i64)], t: i64) -> bool {
    intervals.iter().any(|&(a, b)| a <= t && t <= b)
}

/// The file's bytes for `t`: header, entries by ascending series reference, checksum.
pub fn encode(t: &Tombstones) -> Vec<u8> {
    let mut e = Encbuf::default();
    e.put_be32(MAGIC);
    e.put_byte(VERSION);
    for (r, ivs) in t.iter() {
        for &(mint, maxt) in ivs {
            e.put_uvarint(r);
            e.put_varint(mint);
            e.put_varint(maxt);
        }
    }
    let crc = crc32c::crc32c(&e.b[HEADER_SIZE..]);
    e.put_be32(crc);
    e.b
}

/// Decodes a whole tombstones file; `path` is for error reports.
pub fn decode(path: &Path, b: &[u8]) -> Result<Tombstones, BlockError> {
    if b.len() < HEADER_SIZE + CRC_SIZE {
        return Err(BlockError::corruption(
            path,
            0,
            format!("tombstones file too short: {} bytes", b.len()),
        ));
    }
    let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if magic != MAGIC {
        return Err(BlockError::corruption(
            path,
            0,
            format!("invalid tombstones magic number {magic:#010x}"),
        ));
    }
    let crc_at = b.len() - CRC_SIZE;
    let body = &b[HEADER_SIZE..crc_at];
    let stored = u32::from_be_bytes([b[crc_at], b[crc_at + 1], b[crc_at + 2], b[crc_at + 3]]);
    let actual = crc32c::crc32c(body);
    if stored != actual {
        return Err(BlockError::corruption(
            path,
            crc_at as u64,
            format!("tombstones checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"),
        ));
    }
    if b[4] != VERSION {
        return Err(BlockError::corruption(
            path,
            4,
            format!("invalid tombstones format version {}", b[4]),
        ));
    }
    let mut t = Tombstones::new();
    let mut d = Decbuf::new(body);
    while d.remaining() > 0 {
        let entry = (|| {
            Ok::<_, crate::encoding::DecodeError>((
                d.uvarint("series reference")?,
                d.varint("interval start")?,
                d.varint("interval end")?,
            ))
        })();
        match entry {
            Ok((r, mint, maxt)) => t.add(r, mint, maxt),
            Err(e) => {
                return Err(BlockError::corruption(
                    path,
                    (HEADER_SIZE + e.offset) as u64,
                    format!("bad tombstone entry: {}", e.what),
                ));
            }
        }
    }
    Ok(t)
}

/// Reads `dir/tombstones`, returning the tombstones and the file's size. A missing file
/// means no tombstones (size 0), as Prometheus tolerates.
pub fn read(dir: &Path) -> Result<(Tombstones, u64), BlockError> {
    let path = dir.join(TOMBSTONES_FILENAME);
    let b = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Tombstones::new(), 0)),
        Err(e) => return Err(BlockError::io(&path)(e)),
    };
    Ok((decode(&path, &b)?, b.len() as u64))
}

/// Writes `dir/tombstones` as Prometheus does: to `tombstones.tmp`, fsynced, renamed into
/// place, and the directory fsynced. Returns the file's size.
pub fn write(dir: &Path, t: &Tombstones) -> Result<u64, BlockError> {
    super::write_atomic(dir, TOMBSTONES_FILENAME, &encode(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ivs(v: &[(i64, i64)]) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        for &n in v {
            add_interval(&mut out, n);
        }
        out
    }

    #[test]
    fn intervals_merge_like_prometheus() {
        // Cases from Prometheus's TestAddingNewIntervals.
        assert_eq!(ivs(&[(1, 2)]), [(1, 2)]);
        assert_eq!(ivs(&[(1, 2), (3, 4)]), [(1, 4)]);
        assert_eq!(ivs(&[(1, 10), (11, 20), (21, 30), (21, 23)]), [(1, 30)]);
        assert_eq!(
            ivs(&[(1, 10), (20, 30), (40, 50), (21, 25)]),
            [(1, 10), (20, 30), (40, 50)]
        );
        assert_eq!(
            ivs(&[(1, 10), (20, 30), (40, 50), (18, 29)]),
            [(1, 10), (18, 30), (40, 50)]
        );
        assert_eq!(
            ivs(&[(1, 10), (20, 30), (40, 50), (15, 45)]),
            [(1, 10), (15, 50)]
        );
        assert_eq!(ivs(&[(5, 10), (1, 2)]), [(1, 2), (5, 10)]);
        assert_eq!(ivs(&[(5, 10), (1, 4)]), [(1, 10)]);
        assert_eq!(
            ivs(&[(5, 10), (20, 30), (12, 15)]),
            [(5, 10), (12, 15), (20, 30)]
        );
        assert_eq!(
            ivs(&[(5, 10), (i64::MIN, i64::MAX)]),
            [(i64::MIN, i64::MAX)]
        );
        assert_eq!(ivs(&[(5, 10), (i64::MIN, 3)]), [(i64::MIN, 3), (5, 10)]);
        assert_eq!(ivs(&[(5, 10), (11, i64::MAX)]), [(5, i64::MAX)]);
        assert_eq!(ivs(&[(1, 3), (7, 9), (4, 6)]), [(1, 9)]);
        assert!(is_deleted(&[(1, 3), (7, 9)], 3));
        assert!(!is_deleted(&[(1, 3), (7, 9)], 4));
    }

    #[test]
    fn layout_and_round_trip() {
        assert_eq!(
            encode(&Tombstones::new()),
            [0x01, 0x30, 0xBA, 0x30, 0x01, 0, 0, 0, 0]
        );
        let mut t = Tombstones::new();
        t.add(3, -1, 5);
        t.add(1, 10, 20);
        t.add(1, 0, 2);
        let b = encode(&t);
        assert_eq!(&b[5..11], &[1, 0, 4, 1, 20, 40]);
        let dir = tempfile::tempdir().unwrap();
        let n = write(dir.path(), &t).unwrap();
        assert_eq!(n, b.len() as u64);
        assert!(!dir.path().join("tombstones.tmp").exists());
        assert_eq!(read(dir.path()).unwrap(), (t.clone(), n));
        assert_eq!(t.num_intervals(), 3);
        t.truncate_before(3);
        assert_eq!(t.get(1), [(10, 20)]);
        assert_eq!(t.get(3), [(-1, 5)]);
        t.truncate_before(6);
        assert_eq!(t.iter().count(), 1);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(read(empty.path()).unwrap(), (Tombstones::new(), 0));
    }

    #[test]
    fn damage_is_corruption() {
        let p = Path::new("tombstones");
        let mut t = Tombstones::new();
        t.add(7, 1, 2);
        let good = encode(&t);
        for cut in 0..good.len() {
            assert!(decode(p, &good[..cut]).is_err(), "cut at {cut}");
        }
        let mut v = good.clone();
        v[4] = 2;
        assert!(matches!(
            decode(p, &v),
            Err(BlockError::Corruption { offset: 4, .. })
        ));
        // Entries that pass the checksum but do not decode.
        let mut bad = good[..5].to_vec();
        bad.push(0x80);
        let crc = crc32c::crc32c(&bad[5..]);
        bad.extend_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            decode(p, &bad),
            Err(BlockError::Corruption { offset: 5, .. })
        ));
    }
}
