//! A block's `meta.json`: its ULID, time range, statistics and compaction history, in
//! Prometheus's JSON layout (field names, field order, omitted zero values, tab
//! indentation), so that Prometheus and its tools read our blocks and we read theirs.
//!
//! Prometheus only opens blocks whose meta version is 1. Version 2 was written by
//! Prometheus 2.1, which bumped the meta version when it meant to bump the index
//! version; on start-up Prometheus's `repairBadIndexVersion` reads such metas (see
//! [`read_for_repair`]), sets byte 4 of the block's index to 2, and rewrites the meta with
//! version 1. Ordinary opening ([`read`]) rejects version 2, as Prometheus's
//! `readMetaFile` does.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::BlockError;

/// The file name inside a block directory.
pub const META_FILENAME: &str = "meta.json";
/// The only meta version Prometheus reads and writes.
pub const META_VERSION: u32 = 1;

/// Everything `meta.json` says about a block.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockMeta {
    /// The block's identity; also its directory name. Changes on every compaction.
    #[serde(with = "ulid_str")]
    pub ulid: Ulid,
    /// The earliest timestamp the block may hold (inclusive).
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// The end of the block's range (exclusive).
    #[serde(rename = "maxTime")]
    pub max_time: i64,
    /// What the block contains.
    pub stats: BlockStats,
    /// How the block came to be.
    pub compaction: CompactionMeta,
    /// The meta format version, [`META_VERSION`].
    pub version: u32,
}

/// Counts of a block's contents. Zero counts are left out of the JSON, as Go's
/// `omitempty` does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockStats {
    /// All samples.
    #[serde(rename = "numSamples", skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    /// Float samples.
    #[serde(rename = "numFloatSamples", skip_serializing_if = "is_zero")]
    pub num_float_samples: u64,
    /// Histogram samples (integer and float histograms).
    #[serde(rename = "numHistogramSamples", skip_serializing_if = "is_zero")]
    pub num_histogram_samples: u64,
    /// Series.
    #[serde(rename = "numSeries", skip_serializing_if = "is_zero")]
    pub num_series: u64,
    /// Chunks.
    #[serde(rename = "numChunks", skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    /// Tombstone intervals.
    #[serde(rename = "numTombstones", skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// A block's compaction history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompactionMeta {
    /// How many compactions deep the block is: 1 for a block cut from the head.
    pub level: u32,
    /// The head blocks whose data went into this block. Omitted when empty (Prometheus's
    /// `omitempty`).
    #[serde(with = "ulid_vec", skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Ulid>,
    /// The compaction produced no samples; the block should be deleted on the next reload.
    #[serde(skip_serializing_if = "is_false")]
    pub deletable: bool,
    /// The blocks directly compacted into this one.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub parents: Vec<BlockDesc>,
    /// A compaction of this block failed; the planner leaves it alone from then on.
    #[serde(skip_serializing_if = "is_false")]
    pub failed: bool,
    /// Free-form notes on how the block was made (e.g. `from-out-of-order`).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub hints: Vec<String>,
}

/// A short description of a block: identity and time range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockDesc {
    /// The block's ULID.
    #[serde(with = "ulid_str")]
    pub ulid: Ulid,
    /// The start of its range.
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// The end of its range.
    #[serde(rename = "maxTime")]
    pub max_time: i64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// Go decodes `null` as the zero value; so do we.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A ULID as its 26-character Crockford base32 string.
mod ulid_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use ulid::Ulid;

    pub(super) fn serialize<S: Serializer>(u: &Ulid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&u.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ulid, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ulid::from_string(&s).map_err(|e| serde::de::Error::custom(format!("ulid {s:?}: {e}")))
    }
}

/// A list of ULIDs as strings; `null` reads as empty.
mod ulid_vec {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};
    use ulid::Ulid;

    pub(super) fn serialize<S: Serializer>(v: &[Ulid], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for u in v {
            seq.serialize_element(&u.to_string())?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Ulid>, D::Error> {
        let v = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
        v.iter()
            .map(|s| {
                Ulid::from_string(s)
                    .map_err(|e| serde::de::Error::custom(format!("ulid {s:?}: {e}")))
            })
            .collect()
    }
}

/// Byte offset of a 1-based line and column in `b`, for error reports.
fn offset_of(b: &[u8], line: usize, column: usize) -> u64 {
    if line == 0 {
        return 0;
    }
    let mut start = 0usize;
    for _ in 1..line {
        match b[start..].iter().position(|&c| c == b'\n') {
            Some(p) => start += p + 1,
            None => return b.len() as u64,
        }
    }
    (start + column.saturating_sub(1)).min(b.len()) as u64
}

fn parse(dir: &Path) -> Result<BlockMeta, BlockError> {
    let path = dir.join(META_FILENAME);
    let b = fs::read(&path).map_err(BlockError::io(&path))?;
    serde_json::from_slice::<BlockMeta>(&b).map_err(|e| {
        BlockError::corruption(
            &path,
            offset_of(&b, e.line(), e.column()),
            format!("invalid meta.json: {e}"),
        )
    })
}

/// Reads `dir/meta.json`. A meta whose version is not [`META_VERSION`] is refused with
/// [`BlockError::Invalid`], as Prometheus refuses it.
pub fn read(dir: &Path) -> Result<BlockMeta, BlockError> {
    let m = parse(dir)?;
    if m.version != META_VERSION {
        return Err(BlockError::Invalid(format!(
            "{}: unexpected meta file version {}",
            dir.join(META_FILENAME).display(),
            m.version
        )));
    }
    Ok(m)
}

/// Reads `dir/meta.json` accepting versions 1 and 2, like Prometheus's `readBogusMetaFile`:
/// for repairing blocks written by Prometheus 2.1 (version 2 means the index is really
/// format 2 while its header says 1; the repair sets the index's version byte to 2 and
/// rewrites the meta as version 1).
pub fn read_for_repair(dir: &Path) -> Result<BlockMeta, BlockError> {
    let m = parse(dir)?;
    if m.version != META_VERSION && m.version != 2 {
        return Err(BlockError::Invalid(format!(
            "{}: unexpected meta file version {}",
            dir.join(META_FILENAME).display(),
            m.version
        )));
    }
    Ok(m)
}

/// `meta` as Prometheus writes it: Go's `json.MarshalIndent(meta, "", "\t")`, no trailing
/// newline, with the version forced to [`META_VERSION`].
pub fn encode(meta: &BlockMeta) -> Result<Vec<u8>, BlockError> {
    let mut m = meta.clone();
    m.version = META_VERSION;
    let mut out = Vec::with_capacity(512);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    m.serialize(&mut ser)
        .map_err(|e| BlockError::Invalid(format!("encoding meta.json: {e}")))?;
    // Go escapes these in strings (they can only occur inside strings here).
    let s = String::from_utf8(out)
        .map_err(|e| BlockError::Invalid(format!("encoding meta.json: {e}")))?;
    if s.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        let s = s
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029");
        return Ok(s.into_bytes());
    }
    Ok(s.into_bytes())
}

/// Writes `dir/meta.json` atomically as Prometheus does: to `meta.json.tmp`, fsynced, then
/// renamed over `meta.json`, and the directory fsynced. The version written is always
/// [`META_VERSION`]. Returns the bytes written.
pub fn write(dir: &Path, meta: &BlockMeta) -> Result<u64, BlockError> {
    super::write_atomic(dir, META_FILENAME, &encode(meta)?)
}

/// A new ULID for a block made at `time_ms` (milliseconds since the epoch) with 80 random
/// bits: ULIDs of different milliseconds sort by time, and a collision within one
/// millisecond is vanishingly unlikely.
pub fn new_ulid(time_ms: u64) -> Ulid {
    Ulid::from_parts(time_ms, Ulid::new().random())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BlockMeta {
        let u = Ulid::from_string("01DXXFZDYD1MQW6079WK0K6EDQ").unwrap();
        BlockMeta {
            ulid: u,
            min_time: 0,
            max_time: 7_200_000,
            stats: BlockStats {
                num_samples: 102,
                num_series: 102,
                num_chunks: 102,
                ..Default::default()
            },
            compaction: CompactionMeta {
                level: 1,
                sources: vec![u],
                ..Default::default()
            },
            version: 1,
        }
    }

    #[test]
    fn layout_matches_go() {
        let got = String::from_utf8(encode(&sample()).unwrap()).unwrap();
        let want = "{\n\t\"ulid\": \"01DXXFZDYD1MQW6079WK0K6EDQ\",\n\t\"minTime\": 0,\n\t\"maxTime\": 7200000,\n\t\"stats\": {\n\t\t\"numSamples\": 102,\n\t\t\"numSeries\": 102,\n\t\t\"numChunks\": 102\n\t},\n\t\"compaction\": {\n\t\t\"level\": 1,\n\t\t\"sources\": [\n\t\t\t\"01DXXFZDYD1MQW6079WK0K6EDQ\"\n\t\t]\n\t},\n\t\"version\": 1\n}";
        assert_eq!(got, want);
        // Empty stats and compaction: Go still writes the objects (omitempty has no effect on
        // structs), `{}` for stats.
        let m = BlockMeta {
            ulid: Ulid::nil(),
            ..Default::default()
        };
        let got = String::from_utf8(encode(&m).unwrap()).unwrap();
        assert_eq!(
            got,
            "{\n\t\"ulid\": \"00000000000000000000000000\",\n\t\"minTime\": 0,\n\t\"maxTime\": 0,\n\t\"stats\": {},\n\t\"compaction\": {\n\t\t\"level\": 0\n\t},\n\t\"version\": 1\n}"
        );
    }

    #[test]
    fn html_characters_are_escaped_like_go() {
        let mut m = sample();
        m.compaction.hints = vec!["a<b>&c".into()];
        let got = String::from_utf8(encode(&m).unwrap()).unwrap();
        assert!(got.contains(r#""a\u003cb\u003e\u0026c""#), "{got}");
        let back: BlockMeta = serde_json::from_str(&got).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn write_read_and_versions() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = sample();
        m.compaction.parents = vec![BlockDesc {
            ulid: new_ulid(5),
            min_time: -3,
            max_time: 9,
        }];
        m.compaction.deletable = true;
        m.compaction.failed = true;
        m.stats.num_tombstones = 4;
        m.stats.num_float_samples = 100;
        m.stats.num_histogram_samples = 2;
        let n = write(dir.path(), &m).unwrap();
        assert_eq!(n, fs::metadata(dir.path().join("meta.json")).unwrap().len());
        assert!(!dir.path().join("meta.json.tmp").exists());
        assert_eq!(read(dir.path()).unwrap(), m);

        let text = fs::read_to_string(dir.path().join("meta.json")).unwrap();
        fs::write(
            dir.path().join("meta.json"),
            text.replace("\"version\": 1", "\"version\": 2"),
        )
        .unwrap();
        let e = read(dir.path()).unwrap_err();
        assert!(
            matches!(e, BlockError::Invalid(ref s) if s.contains("version 2")),
            "{e}"
        );
        assert_eq!(read_for_repair(dir.path()).unwrap().version, 2);

        fs::write(dir.path().join("meta.json"), "{\n\t\"ulid\": 5\n}").unwrap();
        match read(dir.path()).unwrap_err() {
            BlockError::Corruption { offset, .. } => assert!(offset > 0 && offset <= 14),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn new_ulids_carry_the_time() {
        let a = new_ulid(1_000);
        let b = new_ulid(1_001);
        assert_eq!(a.timestamp_ms(), 1_000);
        assert!(a < b);
        assert_ne!(new_ulid(7), new_ulid(7));
    }
}
