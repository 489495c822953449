//! Block chunk segments, `meta.json` and `tombstones` against files Prometheus wrote, plus
//! round trips and damage: every reader must report bad bytes as an error, never panic.

use std::fs;
use std::path::{Path, PathBuf};

use narthex_chunkenc::XorIterator;
use narthex_tsdb::block::chunks::{ChunkReader, ChunkWriter};
use narthex_tsdb::block::tombstones::{self, Tombstones};
use narthex_tsdb::block::{BlockError, meta};
use narthex_tsdb::index::PostingsSource;
use proptest::prelude::*;

use crate::common::{binary, corpus};

fn v1_block() -> Option<PathBuf> {
    Some(corpus()?.join("tsdb/blocks/index_format_v1"))
}

#[test]
fn reads_prometheus_2_0_chunks() {
    let Some(block) = v1_block() else { return };
    let cdir = block.join("chunks");
    let r = ChunkReader::open(&cdir).expect("open chunks");
    let len = fs::metadata(cdir.join("000001")).unwrap().len();
    assert_eq!(r.size(), len);
    assert_eq!(r.segments(), 1);

    let mut n = 0;
    let mut series = Vec::new();
    for c in r.iter() {
        let (cref, enc, data) = c.expect("chunk");
        assert_eq!(cref >> 32, 0, "all in the first segment");
        assert_eq!(enc, 1, "XOR");
        assert_eq!(r.chunk(cref).unwrap(), (enc, data));
        let samples: Vec<(i64, f64)> = XorIterator::new(data)
            .collect::<Result<_, _>>()
            .expect("samples decode");
        series.push(samples);
        n += 1;
    }
    assert!(n >= 102, "{n} chunks");
    assert!(
        series.iter().any(|s| s.contains(&(1, 2.0))),
        "sample (1, 2)"
    );
    assert!(
        series.iter().any(|s| s.contains(&(3, 4.0))),
        "sample (3, 4)"
    );

    // Walking the file by hand from offset 8 finds the same chunks and ends exactly at EOF.
    let raw = fs::read(cdir.join("000001")).unwrap();
    let mut off = 8usize;
    let mut walked = 0;
    while off < raw.len() {
        let (enc, data) = r.chunk(off as u64).unwrap();
        assert_eq!(enc, 1);
        // Length field is a single byte for these small chunks.
        assert!(data.len() < 128);
        off += 1 + 1 + data.len() + 4;
        walked += 1;
    }
    assert_eq!(off, raw.len());
    assert_eq!(walked, n);
}

#[test]
fn reads_prometheus_meta_and_tombstones() {
    let Some(block) = v1_block() else { return };
    let m = meta::read(&block).expect("meta");
    assert_eq!(m.ulid.to_string(), "01DXXFZDYD1MQW6079WK0K6EDQ");
    assert_eq!((m.min_time, m.max_time), (0, 7_200_000));
    assert_eq!(m.stats.num_samples, 102);
    assert_eq!(m.stats.num_series, 102);
    assert_eq!(m.stats.num_chunks, 102);
    assert_eq!(m.compaction.level, 1);
    assert_eq!(m.compaction.sources, vec![m.ulid]);
    assert_eq!(m.version, 1);

    // Written back, the differences from Prometheus 2.0's file are the field order (2.0 put
    // "version" first; later Prometheus versions, and we, put it last) and the trailing
    // newline (2.0 used a json.Encoder; later versions use json.MarshalIndent, without one).
    let ours = String::from_utf8(meta::encode(&m).unwrap()).unwrap();
    let theirs = fs::read_to_string(block.join("meta.json")).unwrap();
    let moved = theirs
        .trim_end_matches('\n')
        .replace("\t\"version\": 1,\n", "")
        .replace("\n\t}\n}", "\n\t},\n\t\"version\": 1\n}");
    assert_eq!(ours, moved);

    let (t, size) = tombstones::read(&block).expect("tombstones");
    assert!(t.is_empty());
    assert_eq!(size, 9);
    assert_eq!(
        tombstones::encode(&t),
        fs::read(block.join("tombstones")).unwrap()
    );
}

#[test]
fn index_chunk_refs_resolve_in_the_v1_fixture() {
    let Some(block) = v1_block() else { return };
    let ix = narthex_tsdb::index::IndexReader::open(&block.join("index")).expect("index");
    let cr = ChunkReader::open(&block.join("chunks")).expect("chunks");
    let mut metas = Vec::new();
    let mut seen = 0;
    for r in ix.all_postings().unwrap() {
        ix.series(r, &mut metas).unwrap();
        for m in &metas {
            let (enc, data) = cr.chunk(m.chunk_ref).expect("chunk of an indexed series");
            assert_eq!(enc, 1);
            let samples: Vec<(i64, f64)> =
                XorIterator::new(data).collect::<Result<_, _>>().unwrap();
            assert_eq!(samples.first().map(|s| s.0), Some(m.mint));
            assert_eq!(samples.last().map(|s| s.0), Some(m.maxt));
            seen += 1;
        }
    }
    assert_eq!(seen, cr.iter().count());
}

/// Debian's promtool (Prometheus 2.42) writes a block; we read its chunks, meta and
/// tombstones and write each back byte for byte.
#[test]
fn rewrites_promtool_block_files_byte_for_byte() {
    let Some(promtool) = binary("promtool") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut om = String::from("# HELP m A gauge.\n# TYPE m gauge\n");
    let base = 1_700_000_000i64;
    for i in 0..30 {
        for t in 0..(5 + i * 11) {
            om.push_str(&format!(
                "m{{i=\"{i}\"}} {} {}\n",
                (t * i) as f64 / 3.0,
                base + 15 * t
            ));
        }
    }
    om.push_str("# EOF\n");
    let input = tmp.path().join("input.om");
    fs::write(&input, om).unwrap();
    let out = tmp.path().join("blocks");
    let o = std::process::Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&out)
        .output()
        .expect("run promtool");
    assert!(
        o.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let block = fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.join("meta.json").is_file())
        .expect("a block");

    let m = meta::read(&block).expect("meta");
    assert_eq!(m.stats.num_series, 30);
    assert_eq!(m.compaction.sources, vec![m.ulid]);
    assert_eq!(
        meta::encode(&m).unwrap(),
        fs::read(block.join("meta.json")).unwrap()
    );
    let again = tmp.path().join("again");
    fs::create_dir_all(&again).unwrap();
    meta::write(&again, &m).unwrap();
    assert_eq!(
        fs::read(again.join("meta.json")).unwrap(),
        fs::read(block.join("meta.json")).unwrap()
    );

    let (t, _) = tombstones::read(&block).expect("tombstones");
    assert!(t.is_empty());
    assert_eq!(
        tombstones::encode(&t),
        fs::read(block.join("tombstones")).unwrap()
    );

    let cr = ChunkReader::open(&block.join("chunks")).expect("chunks");
    let mut w = ChunkWriter::create(&again.join("chunks")).unwrap();
    let mut n = 0;
    for c in cr.iter() {
        let (r, enc, data) = c.expect("chunk");
        assert_eq!(XorIterator::new(data).filter(|s| s.is_err()).count(), 0);
        assert_eq!(w.write_chunk(enc, data).unwrap(), r);
        n += 1;
    }
    assert_eq!(n as u64, m.stats.num_chunks);
    assert_eq!(w.finish().unwrap(), cr.size());
    for i in 0..cr.segments() {
        let name = format!("{:06}", i + 1);
        assert_eq!(
            fs::read(again.join("chunks").join(&name)).unwrap(),
            fs::read(block.join("chunks").join(&name)).unwrap(),
            "segment {name}"
        );
    }
}

#[test]
fn meta_version_2_is_refused_but_readable_for_repair() {
    let Some(c) = corpus() else { return };
    // Written by Prometheus 2.1 with the meta version bumped instead of the index version;
    // Prometheus's readMetaFile refuses it and only its start-up repair reads it.
    let dir = c.join("tsdb/blocks/repair_index_version/01BZJ9WJQPWHGNC2W4J9TA62KC");
    match meta::read(&dir) {
        Err(BlockError::Invalid(s)) => assert!(s.contains("version 2"), "{s}"),
        other => panic!("expected a version error, got {other:?}"),
    }
    let m = meta::read_for_repair(&dir).expect("repair read");
    assert_eq!(m.version, 2);
    assert_eq!(m.ulid.to_string(), "01BZJ9WJQPWHGNC2W4J9TA62KC");
    assert_eq!(m.stats.num_samples, 31_897_565);
}

#[test]
fn chunks_round_trip_over_segments() {
    let dir = tempfile::tempdir().unwrap();
    let cdir = dir.path().join("chunks");
    let mut w = ChunkWriter::with_segment_size(&cdir, 1000).unwrap();
    let chunks: Vec<(u8, Vec<u8>)> = (0..200u32)
        .map(|i| {
            (
                (i % 3 + 1) as u8,
                (0..(i * 7 % 300)).map(|b| b as u8).collect(),
            )
        })
        .collect();
    let refs: Vec<u64> = chunks
        .iter()
        .map(|(e, d)| w.write_chunk(*e, d).unwrap())
        .collect();
    let total = w.finish().unwrap();
    let r = ChunkReader::open(&cdir).unwrap();
    assert_eq!(r.size(), total);
    assert!(r.segments() > 10);
    for i in 0..r.segments() {
        let len = fs::metadata(cdir.join(format!("{:06}", i + 1)))
            .unwrap()
            .len();
        assert!(len <= 1000, "segment {i} is {len} bytes");
    }
    for ((e, d), cref) in chunks.iter().zip(&refs) {
        assert_eq!(r.chunk(*cref).unwrap(), (*e, &d[..]));
    }
    let listed: Vec<u64> = r.iter().map(|c| c.unwrap().0).collect();
    assert_eq!(listed, refs);
}

/// A small block directory with all three files, for the damage tests.
fn sample_block(dir: &Path) -> Vec<u64> {
    let mut w = ChunkWriter::create(&dir.join("chunks")).unwrap();
    let refs = (0..6u8)
        .map(|i| w.write_chunk(1, &[i; 9][..usize::from(i) + 3]).unwrap())
        .collect();
    w.finish().unwrap();
    let mut t = Tombstones::new();
    t.add(1, -5, 10);
    t.add(9, 100, 200);
    t.add(9, 300, 400);
    tombstones::write(dir, &t).unwrap();
    let m = meta::BlockMeta {
        ulid: meta::new_ulid(1_700_000_000_000),
        min_time: 0,
        max_time: 7_200_000,
        stats: meta::BlockStats {
            num_samples: 10,
            num_series: 2,
            num_chunks: 6,
            num_tombstones: t.num_intervals(),
            ..Default::default()
        },
        compaction: meta::CompactionMeta {
            level: 1,
            ..Default::default()
        },
        version: 1,
    };
    meta::write(dir, &m).unwrap();
    refs
}

fn flip(path: &Path, pos: prop::sample::Index, mask: u8) -> usize {
    let mut b = fs::read(path).unwrap();
    let i = pos.index(b.len());
    b[i] ^= mask;
    fs::write(path, b).unwrap();
    i
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tombstones_round_trip(
        entries in prop::collection::vec((0u64..20, any::<i64>(), any::<i64>()), 0..40)
    ) {
        let mut t = Tombstones::new();
        for &(r, a, b) in &entries {
            t.add(r, a.min(b), a.max(b));
        }
        for (_, ivs) in t.iter() {
            for w in ivs.windows(2) {
                prop_assert!(i128::from(w[1].0) - i128::from(w[0].1) > 1, "{ivs:?}");
            }
        }
        for &(r, a, b) in &entries {
            prop_assert!(tombstones::is_deleted(t.get(r), a));
            prop_assert!(tombstones::is_deleted(t.get(r), b));
        }
        let dir = tempfile::tempdir().unwrap();
        let n = tombstones::write(dir.path(), &t).unwrap();
        let (back, size) = tombstones::read(dir.path()).unwrap();
        prop_assert_eq!(size, n);
        prop_assert_eq!(back, t);
    }

    #[test]
    fn flipped_tombstone_byte_is_corruption(pos in any::<prop::sample::Index>(), mask in 1u8..) {
        let dir = tempfile::tempdir().unwrap();
        sample_block(dir.path());
        let i = flip(&dir.path().join("tombstones"), pos, mask);
        match tombstones::read(dir.path()) {
            Err(BlockError::Corruption { .. }) => {}
            other => prop_assert!(false, "byte {} ^ {:#x}: {:?}", i, mask, other),
        }
    }

    #[test]
    fn flipped_meta_byte_never_panics(pos in any::<prop::sample::Index>(), mask in 1u8..) {
        let dir = tempfile::tempdir().unwrap();
        sample_block(dir.path());
        flip(&dir.path().join("meta.json"), pos, mask);
        // A flipped digit can still be valid JSON; anything else is an error, not a panic.
        match meta::read(dir.path()) {
            Ok(_) | Err(BlockError::Corruption { .. }) | Err(BlockError::Invalid(_)) => {}
            Err(e) => prop_assert!(false, "{}", e),
        }
    }

    #[test]
    fn flipped_chunk_byte_is_corruption(pos in any::<prop::sample::Index>(), mask in 1u8..) {
        let dir = tempfile::tempdir().unwrap();
        let refs = sample_block(dir.path());
        let cdir = dir.path().join("chunks");
        let i = flip(&cdir.join("000001"), pos, mask);
        let found = match ChunkReader::open(&cdir) {
            Err(BlockError::Corruption { .. }) => true,
            Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            Ok(r) => {
                let mut bad = false;
                for &c in &refs {
                    match r.chunk(c) {
                        Ok(_) => {}
                        Err(BlockError::Corruption { offset, .. }) => {
                            prop_assert_eq!(offset, c & 0xFFFF_FFFF);
                            bad = true;
                        }
                        Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                    }
                }
                let iterated = r.iter().any(|c| c.is_err());
                prop_assert_eq!(bad, iterated, "byte {}", i);
                bad
            }
        };
        // Header padding (bytes 5..8) is not checked, by Prometheus either.
        prop_assert!(found || (5..8).contains(&i), "flip at byte {} went unnoticed", i);
    }

    #[test]
    fn truncated_chunk_file_is_corruption(keep in 0usize..200) {
        let dir = tempfile::tempdir().unwrap();
        let refs = sample_block(dir.path());
        let p = dir.path().join("chunks/000001");
        let b = fs::read(&p).unwrap();
        let keep = keep.min(b.len() - 1);
        fs::write(&p, &b[..keep]).unwrap();
        if let Ok(r) = ChunkReader::open(&dir.path().join("chunks")) {
            let last = *refs.last().unwrap();
            prop_assert!(r.chunk(last).is_err());
        }
    }
}
