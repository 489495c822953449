//! Fuzz target `tsdb_files`: the TSDB's on-disk decoders on arbitrary bytes — a block index,
//! a block chunk file, a tombstones file, `meta.json`, a WAL segment and a WAL record.
//! None may panic; corruption is an error.
#![no_main]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use narthex_tsdb::block::{chunks::ChunkReader, meta, tombstones};
use narthex_tsdb::index::{IndexReader, PostingsSource};
use narthex_tsdb::{record, wlog::RecordReader};

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

/// A fresh scratch directory per input (removed when done).
fn scratch() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "narthex-fuzz-tsdb-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn check(data: &[u8]) {
    let _ = record::decode(data);
    let dir = scratch();
    let _ = tombstones::decode(&dir.join("tombstones"), data);
    std::fs::write(dir.join("meta.json"), data).unwrap();
    let _ = meta::read(&dir);
    std::fs::write(dir.join("index"), data).unwrap();
    if let Ok(ix) = IndexReader::open(&dir.join("index")) {
        let _ = ix.symbols();
        let _ = ix.label_names();
        if let Ok(all) = ix.all_postings() {
            let mut chunks = Vec::new();
            for r in all.into_iter().take(64) {
                let _ = ix.series(r, &mut chunks);
            }
        }
        let _ = ix.label_values_of("a");
        let _ = ix.postings_of("a", "b");
    }
    let chunk_dir = dir.join("chunks");
    std::fs::create_dir_all(&chunk_dir).unwrap();
    std::fs::write(chunk_dir.join("000001"), data).unwrap();
    if let Ok(cr) = ChunkReader::open(&chunk_dir) {
        for c in cr.iter().take(64) {
            if let Ok((r, _, _)) = c {
                let _ = cr.chunk(r);
            }
        }
        let _ = cr.chunk(u64::from_le_bytes(
            data.get(..8)
                .and_then(|b| b.try_into().ok())
                .unwrap_or([0; 8]),
        ));
    }
    let wal = dir.join("wal");
    std::fs::create_dir_all(&wal).unwrap();
    std::fs::write(wal.join("00000000"), data).unwrap();
    if let Ok(mut r) = RecordReader::open(&wal) {
        let mut n = 0;
        while let Some(rec) = r.next_record() {
            if let Ok(rec) = rec {
                let _ = record::decode(rec);
            } else {
                break;
            }
            n += 1;
            if n > 1000 {
                break;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
