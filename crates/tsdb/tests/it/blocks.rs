//! Persisted blocks: compaction from the head, leveled and vertical merges, tombstones,
//! retention, corruption, and Prometheus's tools reading what Narthex wrote (and the
//! other way round).

use std::collections::BTreeMap;
use std::process::Command;

use narthex_model::{Labels, MatchOp, Matcher, labels};
use narthex_storage::{Appendable, Queryable, SeriesRef, StorageError, ValueType};
use narthex_tsdb::{Db, Options};

use crate::common::binary;

/// Every float sample in the database: labels -> [(t, v)].
type Dump = BTreeMap<String, Vec<(i64, f64)>>;

fn dump(db: &Db, mint: i64, maxt: i64) -> Result<Dump, StorageError> {
    let q = db.querier(mint, maxt)?;
    let mut out = Dump::new();
    for s in q.select(true, None, &[])? {
        let s = s?;
        let mut it = s.iter();
        let mut v = Vec::new();
        while it.next() == ValueType::Float {
            v.push(it.at());
        }
        out.insert(format!("{:?}", s.labels()), v);
    }
    Ok(out)
}

fn series(i: usize) -> Labels {
    labels! { "__name__" => "m", "i" => i.to_string(), "parity" => if i.is_multiple_of(2) { "even" } else { "odd" } }
}

/// Appends `n` series sampled every `step` ms over `[from, to)`; returns what was written.
fn write(db: &Db, n: usize, from: i64, to: i64, step: i64) -> Dump {
    let mut want = Dump::new();
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        for i in 0..n {
            let v = (t / step) as f64 * 0.5 + i as f64;
            app.append(SeriesRef::UNKNOWN, &series(i), t, v)
                .expect("append");
            want.entry(format!("{:?}", series(i)))
                .or_default()
                .push((t, v));
        }
        app.commit().expect("commit");
        t += step;
    }
    want
}

fn merge(into: &mut Dump, more: Dump) {
    for (k, v) in more {
        let e = into.entry(k).or_default();
        e.extend(v);
        e.sort_by_key(|(t, _)| *t);
    }
}

const H: i64 = 3_600_000;

#[test]
fn head_compacts_into_two_hour_blocks_and_queries_span_both() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let want = write(&db, 20, 0, 7 * H, 15_000);
    let report = db.compact().expect("compact");
    // The head spans 7h: [0,2h) and [2h,4h) persist; 3h stay in the head.
    assert_eq!(report.head_blocks.len(), 2, "{report:?}");
    let ranges: Vec<(i64, i64)> = db.blocks().iter().map(|b| b.time_range()).collect();
    assert_eq!(ranges, vec![(0, 2 * H), (2 * H, 4 * H)]);
    let m = db.blocks()[0].meta();
    assert_eq!(m.stats.num_series, 20);
    assert_eq!(m.stats.num_samples, 20 * 480);
    assert_eq!(m.compaction.level, 1);
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
    // A range on chunk boundaries straddling blocks and head, and one whose ends fall
    // inside chunks (30 min of samples each), within a block and across blocks.
    for (mint, maxt) in [
        (H, 5 * H),
        (H + 7 * 15_000 + 1, H + 50 * 60_000),
        (H + 1, 3 * H - 1),
    ] {
        let part = dump(&db, mint, maxt).expect("dump");
        for (k, v) in &want {
            let w: Vec<_> = v
                .iter()
                .copied()
                .filter(|(t, _)| (mint..=maxt).contains(t))
                .collect();
            assert_eq!(part.get(k), Some(&w), "{k} in [{mint}, {maxt}]");
        }
    }
    drop(db);
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(db.blocks().len(), 2);
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
    // Old samples are out of bounds now.
    let mut app = db.appender();
    assert!(matches!(
        app.append(SeriesRef::UNKNOWN, &series(0), H, 1.0),
        Err(StorageError::OutOfBounds)
    ));
}

#[test]
fn leveled_compaction_merges_blocks_into_larger_ranges() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = Options {
        chunk_range: 1_000,
        max_block_duration: 9_000,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("open");
    let mut want = Dump::new();
    for round in 0..8 {
        merge(
            &mut want,
            write(&db, 5, round * 4_000, (round + 1) * 4_000, 50),
        );
        db.compact().expect("compact");
    }
    assert_eq!(db.block_ranges(), vec![1_000, 3_000, 9_000]);
    let blocks = db.blocks();
    let ranges: Vec<(i64, i64)> = blocks.iter().map(|b| b.time_range()).collect();
    for w in ranges.windows(2) {
        assert!(w[0].1 <= w[1].0, "blocks do not overlap: {ranges:?}");
    }
    assert!(
        blocks.iter().any(|b| b.time_range().1 - b.time_range().0 == 9_000 && b.meta().compaction.level >= 3),
        "a 9 s block of level 3: {ranges:?}"
    );
    let merged = blocks
        .iter()
        .find(|b| b.meta().compaction.level > 1)
        .expect("merged block");
    assert!(merged.meta().compaction.sources.len() > 1);
    assert!(!merged.meta().compaction.parents.is_empty());
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
    drop(db);
    let db = Db::open(dir.path(), opts).expect("reopen");
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
    // Only block directories and the head's files remain.
    for e in std::fs::read_dir(dir.path()).expect("ls") {
        let name = e.expect("entry").file_name().into_string().expect("utf8");
        assert!(
            ["wal", "chunks_head", "lock"].contains(&name.as_str())
                || ulid::Ulid::from_string(&name).is_ok(),
            "unexpected {name}"
        );
    }
}

#[test]
fn deletion_reaches_blocks_and_clean_tombstones_rewrites_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut want = write(&db, 4, 0, 7 * H, 60_000);
    db.compact().expect("compact");
    let odd = Matcher::new(MatchOp::Equal, "parity", "odd").expect("m");
    db.delete(H, 3 * H, std::slice::from_ref(&odd))
        .expect("delete");
    for (k, v) in want.iter_mut() {
        if k.contains("odd") {
            v.retain(|(t, _)| !(H..=3 * H).contains(t));
        }
    }
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
    assert!(
        db.blocks()
            .iter()
            .all(|b| b.meta().stats.num_tombstones == 2)
    );
    drop(db);
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(
        dump(&db, i64::MIN, i64::MAX).expect("dump"),
        want,
        "tombstones persisted"
    );
    let before: u64 = db.blocks().iter().map(|b| b.meta().stats.num_samples).sum();
    let rewritten = db.clean_tombstones().expect("clean");
    assert_eq!(rewritten.len(), 2);
    let after: u64 = db.blocks().iter().map(|b| b.meta().stats.num_samples).sum();
    // Two series lose [1h, 3h] of 1m samples: 60 in the first block, 61 in the second.
    assert_eq!(before - after, 2 * 121);
    assert!(
        db.blocks()
            .iter()
            .all(|b| b.meta().stats.num_tombstones == 0)
    );
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
}

#[test]
fn retention_deletes_old_blocks_by_time_and_by_size() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = Options {
        chunk_range: 1_000,
        max_block_duration: 1_000,
        retention_duration: 5_000,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("open");
    write(&db, 3, 0, 12_000, 100);
    db.compact().expect("compact");
    let ranges: Vec<(i64, i64)> = db.blocks().iter().map(|b| b.time_range()).collect();
    // The newest block ends at 11 s (the head keeps less than 1.5 s): blocks ending 5 s
    // or more before it are gone.
    assert_eq!(ranges.first(), Some(&(6_000, 7_000)), "{ranges:?}");
    assert_eq!(ranges.last(), Some(&(10_000, 11_000)), "{ranges:?}");
    let got = dump(&db, i64::MIN, i64::MAX).expect("dump");
    assert!(got.values().all(|v| v.first().map(|s| s.0) == Some(6_000)));
    drop(db);

    // Size: with room for the WAL, head chunks and two and a half blocks, the oldest go.
    // (Opening checkpoints the WAL of persisted ranges; after two opens its size holds.)
    drop(Db::open(dir.path(), opts).expect("reopen"));
    let (one_block, wal_and_head) = {
        let db = Db::open(dir.path(), opts).expect("reopen");
        let wh: u64 = ["wal", "chunks_head"]
            .iter()
            .map(|d| du(&dir.path().join(d)))
            .sum();
        (db.blocks()[0].size(), wh)
    };
    let limit = wal_and_head + 2 * one_block + one_block / 2;
    let opts = Options {
        retention_duration: 0,
        max_bytes: limit,
        ..opts
    };
    let db = Db::open(dir.path(), opts).expect("reopen");
    let report = db.compact().expect("compact");
    let ranges: Vec<(i64, i64)> = db.blocks().iter().map(|b| b.time_range()).collect();
    assert!(
        !report.deleted_blocks.is_empty() && ranges.len() >= 2,
        "{ranges:?}"
    );
    assert_eq!(
        ranges.last(),
        Some(&(10_000, 11_000)),
        "the newest blocks stay"
    );
    let total: u64 = db.blocks().iter().map(|b| b.size()).sum::<u64>()
        + ["wal", "chunks_head"]
            .iter()
            .map(|d| du(&dir.path().join(d)))
            .sum::<u64>();
    assert!(total <= limit, "{total} bytes > {limit}");
}

fn du(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        du(&e.path())
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn out_of_order_samples_for_persisted_ranges_become_blocks_and_merge() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = Options {
        out_of_order_time_window: 10 * H,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("open");
    let mut want = write(&db, 2, 0, 7 * H, 60_000);
    db.compact().expect("compact");
    assert_eq!(db.blocks().len(), 2);
    // Late samples for the first block's range, between the existing ones.
    let mut app = db.appender();
    for i in 0..2 {
        for k in 0..10 {
            let t = 30_000 + k * 60_000;
            app.append(SeriesRef::UNKNOWN, &series(i), t, -1.0)
                .expect("ooo append");
            want.get_mut(&format!("{:?}", series(i)))
                .expect("series")
                .push((t, -1.0));
        }
    }
    app.commit().expect("commit");
    for v in want.values_mut() {
        v.sort_by_key(|(t, _)| *t);
    }
    assert_eq!(
        dump(&db, i64::MIN, i64::MAX).expect("dump"),
        want,
        "visible from the head"
    );
    drop(db);
    let db = Db::open(dir.path(), opts).expect("reopen");
    assert_eq!(
        dump(&db, i64::MIN, i64::MAX).expect("dump"),
        want,
        "replayed from the WAL"
    );
    db.compact().expect("compact");
    let ranges: Vec<(i64, i64)> = db.blocks().iter().map(|b| b.time_range()).collect();
    assert_eq!(
        ranges,
        vec![(0, 2 * H), (2 * H, 4 * H)],
        "the out-of-order block merged vertically"
    );
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
    drop(db);
    let db = Db::open(dir.path(), opts).expect("reopen");
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
}

/// Flips one byte of a file.
fn flip(path: &std::path::Path, offset: u64) {
    let mut b = std::fs::read(path).expect("read");
    let i = offset as usize;
    b[i] ^= 0x55;
    std::fs::write(path, b).expect("write");
}

#[test]
fn a_corrupt_block_is_reported_and_left_out() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let want = write(&db, 3, 0, 9 * H, 60_000);
    db.compact().expect("compact");
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 3);
    let (index_dir, chunk_dir) = (blocks[0].dir().to_path_buf(), blocks[1].dir().to_path_buf());
    drop(blocks);
    drop(db);
    // Block 0: its index's table of contents is damaged. Block 1: a chunk's data.
    let ix = index_dir.join("index");
    let len = std::fs::metadata(&ix).expect("len").len();
    flip(&ix, len - 10);
    flip(&chunk_dir.join("chunks").join("000001"), 20);

    let db = Db::open(dir.path(), Options::default()).expect("open with corrupt blocks");
    let corrupt = db.corrupt_blocks();
    assert_eq!(corrupt.len(), 1, "{corrupt:?}");
    assert_eq!(corrupt[0].dir, index_dir);
    assert!(corrupt[0].error.contains("index"), "{}", corrupt[0].error);
    // The chunk corruption shows when read: an error naming the file and offset...
    let err = dump(&db, 2 * H, 4 * H - 1).expect_err("corrupt chunk");
    let text = err.to_string();
    assert!(text.contains("000001") && text.contains("offset"), "{text}");
    assert_eq!(db.corrupt_blocks().len(), 2);
    // ...and from then on the block is left out; the rest keeps answering.
    let got = dump(&db, i64::MIN, i64::MAX).expect("dump without the corrupt blocks");
    for (k, v) in &want {
        let w: Vec<_> = v.iter().copied().filter(|(t, _)| *t >= 4 * H).collect();
        assert_eq!(got.get(k), Some(&w), "{k}");
    }
}

/// A merge that meets a corrupt chunk fails, as in Prometheus, without stopping anything
/// else: the other merges of the round go ahead, the inputs are marked failed in their
/// `meta.json` and not planned again, the corrupt block is left out of queries, and
/// retention still removes old blocks (a corrupt one included).
#[test]
fn a_corrupt_chunk_fails_its_merge_but_not_the_rest_of_compaction() {
    let dir = tempfile::tempdir().expect("tmp");
    // Small 1 s blocks, no merges while writing.
    let unmerged = Options {
        chunk_range: 1_000,
        max_block_duration: 1_000,
        ..Options::default()
    };
    let db = Db::open(dir.path(), unmerged).expect("open");
    let want = write(&db, 4, 0, 12_000, 50);
    db.compact().expect("compact");
    let blocks = db.blocks();
    assert!(blocks.len() >= 9, "{} blocks", blocks.len());
    assert_eq!(blocks[3].time_range(), (3_000, 4_000));
    let dirs: Vec<_> = blocks.iter().map(|b| b.dir().to_path_buf()).collect();
    drop(blocks);
    drop(db);
    let bad = &dirs[3];
    flip(&bad.join("chunks").join("000001"), 20);
    let from = |t0: i64| -> Dump {
        want.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.iter().copied().filter(|(t, _)| *t >= t0).collect(),
                )
            })
            .collect()
    };

    // Reopened with merges (1 s, 3 s, 9 s ranges) and a retention of 8 s: the round
    // writes the head's next block (the newest data then ends at 11 s), merges [0,3 s),
    // fails on [3 s,6 s), merges [6 s,9 s), and retention still removes [0,3 s).
    let merging = Options {
        max_block_duration: 9_000,
        retention_duration: 8_000,
        ..unmerged
    };
    let db = Db::open(dir.path(), merging).expect("reopen");
    let err = db
        .compact()
        .expect_err("the second merge meets the corrupt chunk");
    let text = err.to_string();
    assert!(
        text.contains("000001")
            && text.contains("offset")
            && text.contains(&bad.display().to_string()),
        "{text}"
    );
    let ranges: Vec<_> = db.blocks().iter().map(|b| b.time_range()).collect();
    assert!(
        ranges.iter().all(|r| r.0 >= 3_000),
        "retention ran: {ranges:?}"
    );
    assert!(
        ranges.contains(&(6_000, 9_000)),
        "the other merge went ahead: {ranges:?}"
    );
    // The corrupt block is out of queries; its merge's inputs are marked failed on disk.
    assert_eq!(db.corrupt_blocks().len(), 1);
    assert_eq!(&db.corrupt_blocks()[0].dir, bad);
    for b in &dirs[3..6] {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.join("meta.json")).expect("meta"))
                .expect("json");
        assert_eq!(meta["compaction"]["failed"], true, "{meta}");
    }
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), from(4_000));
    db.compact().expect("a failed block is not planned again");
    drop(db);

    // After a restart the failed blocks stay out of plans and age out like any other,
    // the corrupt one included, which is then no longer reported.
    let shorter = Options {
        retention_duration: 7_000,
        ..merging
    };
    let db = Db::open(dir.path(), shorter).expect("reopen with a shorter retention");
    dump(&db, 3_000, 3_999).expect_err("reading the corrupt chunk again");
    assert_eq!(db.corrupt_blocks().len(), 1);
    db.compact()
        .expect("failed blocks are not planned again after a restart");
    assert!(
        !bad.exists() && dirs[4].exists(),
        "retention removed the corrupt block"
    );
    assert!(
        db.corrupt_blocks().is_empty(),
        "a deleted block is no longer reported"
    );
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), from(4_000));
}

fn promtool() -> Option<String> {
    binary("promtool")
}

#[test]
fn promtool_lists_and_dumps_what_narthex_wrote() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut want = write(&db, 6, 0, 9 * H, 30_000);
    // Floats that need every digit, special values and a deletion.
    let mut app = db.appender();
    let odd = labels! { "__name__" => "odd_values", "k" => "v" };
    let vals = [
        0.1,
        -2.5e-300,
        1e21,
        f64::INFINITY,
        f64::NEG_INFINITY,
        123456789.0,
    ];
    for (k, v) in vals.iter().enumerate() {
        app.append(SeriesRef::UNKNOWN, &odd, 9 * H + k as i64, *v)
            .expect("append");
    }
    app.commit().expect("commit");
    want.insert(
        format!("{odd:?}"),
        vals.iter()
            .enumerate()
            .map(|(k, v)| (9 * H + k as i64, *v))
            .collect(),
    );
    db.compact().expect("compact");
    // Four two-hour blocks from the head; the older three merged into a six-hour one.
    let ranges: Vec<(i64, i64)> = db.blocks().iter().map(|b| b.time_range()).collect();
    assert_eq!(ranges, vec![(0, 6 * H), (6 * H, 8 * H)]);
    assert_eq!(db.blocks()[0].meta().compaction.level, 2);
    db.close().expect("close");

    let out = Command::new(&promtool)
        .args(["tsdb", "list"])
        .arg(dir.path())
        .output()
        .expect("promtool tsdb list");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    for b in db.blocks() {
        let m = b.meta();
        let line = text
            .lines()
            .find(|l| l.starts_with(&m.ulid.to_string()))
            .unwrap_or_else(|| panic!("block {} in promtool's list:\n{text}", m.ulid));
        assert!(line.contains(&m.stats.num_samples.to_string()), "{line}");
        assert!(line.contains(&m.stats.num_series.to_string()), "{line}");
    }
    drop(db);

    let out = Command::new(&promtool)
        .args(["tsdb", "dump"])
        .arg(dir.path())
        .output()
        .expect("promtool tsdb dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = Dump::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // {__name__="m", i="0", parity="even"} 0.5 15000
        let (labels, rest) = line.rsplit_once("} ").expect("line");
        let (v, t) = rest.split_once(' ').expect("value and time");
        let l = Labels::from_pairs(labels.trim_start_matches('{').split(", ").map(|p| {
            let (n, v) = p.split_once('=').expect("pair");
            (n, v.trim_matches('"'))
        }));
        let v: f64 = v.parse().expect("value");
        got.entry(format!("{l:?}"))
            .or_default()
            .push((t.parse().expect("t"), v));
    }
    for v in got.values_mut() {
        v.sort_by_key(|(t, _)| *t);
    }
    assert_eq!(got, want, "promtool tsdb dump equals what was written");
    println!(
        "promtool compat: promtool tsdb list and dump read {} series, {} samples from Narthex blocks and WAL",
        want.len(),
        want.values().map(Vec::len).sum::<usize>()
    );
}

#[test]
fn narthex_reads_blocks_promtool_created() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.om");
    let mut text = String::from("# TYPE http_requests counter\n");
    let mut want = Dump::new();
    // Fourteen hours at 15 s from a multiple of 6 h, so promtool cuts seven two-hour
    // blocks and the first three fill one of the planner's 6 h windows.
    for code in ["200", "500"] {
        for k in 0..3360i64 {
            let t = 1_700_000_000_000i64 / (6 * H) * (6 * H) + k * 15_000;
            let v = (k * if code == "200" { 3 } else { 1 }) as f64 + 0.25;
            text.push_str(&format!(
                "http_requests_total{{code=\"{code}\"}} {v} {}.{:03}\n",
                t / 1000,
                t % 1000
            ));
            let l = labels! { "__name__" => "http_requests_total", "code" => code };
            want.entry(format!("{l:?}")).or_default().push((t, v));
        }
    }
    text.push_str("# EOF\n");
    std::fs::write(&input, text).expect("write input");
    let data = dir.path().join("data");
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data)
        .output()
        .expect("promtool create-blocks-from");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = Db::open(&data, Options::default()).expect("open promtool's blocks");
    assert!(db.corrupt_blocks().is_empty(), "{:?}", db.corrupt_blocks());
    assert_eq!(db.blocks().len(), 7);
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
    let q = db.querier(i64::MIN, i64::MAX).expect("q");
    let vals = q
        .label_values("code", &Default::default(), &[])
        .expect("label values");
    assert_eq!(vals, vec!["200", "500"]);
    drop(q);
    // And Narthex merges them, as Prometheus's planner would (never the newest block).
    db.compact().expect("compact promtool's blocks");
    let blocks = db.blocks();
    let ranges: Vec<_> = blocks.iter().map(|b| b.time_range()).collect();
    assert!(blocks.len() < 7, "{ranges:?}");
    let merged = blocks
        .iter()
        .find(|b| b.meta().compaction.level == 2)
        .expect("a merged block");
    assert_eq!(merged.time_range().0, ranges[0].0);
    assert_eq!(merged.meta().compaction.sources.len(), 3, "{ranges:?}");
    drop(blocks);
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
    // Deleting and cleaning tombstones re-encodes chunks promtool wrote.
    let m = Matcher::new(MatchOp::Equal, "code", "500").expect("matcher");
    let (lo, hi) = (
        want.values().next().expect("series")[100].0,
        want.values().next().expect("series")[200].0,
    );
    db.delete(lo, hi, std::slice::from_ref(&m)).expect("delete");
    db.clean_tombstones().expect("clean tombstones");
    for v in want
        .iter_mut()
        .filter(|(k, _)| k.contains("500"))
        .map(|(_, v)| v)
    {
        v.retain(|(t, _)| !(lo..=hi).contains(t));
    }
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
}

#[test]
fn a_prometheus_2_1_block_is_repaired_on_open() {
    let Some(corpus) = crate::common::corpus() else {
        return;
    };
    let src = corpus.join("tsdb/blocks/repair_index_version/01BZJ9WJQPWHGNC2W4J9TA62KC");
    let dir = tempfile::tempdir().expect("tmp");
    let block = dir.path().join("01BZJ9WJQPWHGNC2W4J9TA62KC");
    std::fs::create_dir_all(block.join("chunks")).expect("mkdir");
    for f in ["index", "meta.json"] {
        std::fs::copy(src.join(f), block.join(f)).expect("copy");
        let mut p = std::fs::metadata(block.join(f))
            .expect("meta")
            .permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        p.set_readonly(false);
        std::fs::set_permissions(block.join(f), p).expect("chmod");
    }
    // Before the repair, following the postings to the series fails.
    let broken = narthex_tsdb::index::IndexReader::open(&block.join("index"));
    let follows = broken.as_ref().ok().and_then(|ix| {
        let refs = ix.postings_of("b", "1").ok()?;
        let mut chunks = Vec::new();
        refs.iter()
            .map(|r| ix.series(*r, &mut chunks).ok())
            .collect::<Option<Vec<_>>>()
    });
    assert!(follows.is_none(), "the fixture is broken before repair");

    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert!(db.corrupt_blocks().is_empty(), "{:?}", db.corrupt_blocks());
    let b = &db.blocks()[0];
    assert_eq!(b.meta().version, 1);
    let ix = b.index();
    let mut chunks = Vec::new();
    let series: Vec<String> = ix
        .postings_of("b", "1")
        .expect("postings")
        .iter()
        .map(|r| format!("{:?}", ix.series(*r, &mut chunks).expect("series")))
        .collect();
    assert_eq!(series, vec![r#"{a="1", b="1"}"#, r#"{a="2", b="1"}"#]);
    let on_disk = std::fs::read_to_string(block.join("meta.json")).expect("meta");
    assert!(on_disk.contains("\"version\": 1"), "{on_disk}");
}

/// Every file under `p` with its size and modification time.
fn listing(p: &std::path::Path, out: &mut Vec<(String, u64, std::time::SystemTime)>) {
    for e in std::fs::read_dir(p).expect("ls") {
        let e = e.expect("entry");
        let m = e.metadata().expect("meta");
        if m.is_dir() {
            listing(&e.path(), out);
        } else {
            out.push((
                e.path().display().to_string(),
                m.len(),
                m.modified().expect("mtime"),
            ));
        }
    }
    out.sort();
}

#[test]
fn a_read_only_open_sees_everything_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = Options {
        samples_per_chunk: 16,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("open");
    let want = write(&db, 5, 0, 9 * H, 60_000);
    db.compact().expect("compact");
    let mut before = Vec::new();
    listing(dir.path(), &mut before);
    // The writer keeps running (and holding the lock) while a tool reads.
    let ro = Db::open_read_only(dir.path(), opts).expect("read-only open");
    assert_eq!(dump(&ro, i64::MIN, i64::MAX).expect("dump"), want);
    assert_eq!(ro.blocks().len(), db.blocks().len());
    let mut app = ro.appender();
    app.append(SeriesRef::UNKNOWN, &series(0), 10 * H, 1.0)
        .expect("buffered");
    assert!(app.commit().is_err(), "appends fail");
    assert!(ro.compact().is_err());
    assert!(ro.delete(0, 1, &[]).is_err());
    drop(ro);
    let mut after = Vec::new();
    listing(dir.path(), &mut after);
    assert_eq!(before, after, "nothing in the directory changed");
}

#[test]
fn compaction_while_appending_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = Options {
        chunk_range: 10_000,
        max_block_duration: 90_000,
        samples_per_chunk: 16,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).expect("open");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acked: Vec<Dump> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (db, stop) = (&db, &stop);
                s.spawn(move || {
                    let mut acked = Dump::new();
                    for k in 0..3_000i64 {
                        let t = k * 100;
                        let mut app = db.appender();
                        let mut ok = Vec::new();
                        for i in 0..4 {
                            let l = series(w * 10 + i);
                            if app.append(SeriesRef::UNKNOWN, &l, t, k as f64).is_ok() {
                                ok.push(format!("{l:?}"));
                            }
                        }
                        app.commit().expect("commit");
                        for key in ok {
                            acked.entry(key).or_default().push((t, k as f64));
                        }
                    }
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    acked
                })
            })
            .collect();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            db.compact().expect("compact");
        }
        writers
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect()
    });
    db.compact().expect("compact");
    assert!(db.blocks().len() > 1, "compactions happened");
    let mut want = Dump::new();
    for a in acked {
        merge(&mut want, a);
    }
    let n: usize = want.values().map(Vec::len).sum();
    assert!(n > 10_000, "most appends were acknowledged: {n}");
    let got = dump(&db, i64::MIN, i64::MAX).expect("dump");
    let ranges: Vec<(i64, i64)> = db.blocks().iter().map(|b| b.time_range()).collect();
    assert!(
        got == want,
        "{} blocks {ranges:?} head {:?}",
        differences(&got, &want),
        db.time_range()
    );
    drop(db);
    let db = Db::open(dir.path(), opts).expect("reopen");
    let got = dump(&db, i64::MIN, i64::MAX).expect("dump");
    assert!(got == want, "after reopen: {}", differences(&got, &want));
}

/// What differs between two dumps, briefly: per series, samples missing and extra.
fn differences(got: &Dump, want: &Dump) -> String {
    let mut out = String::new();
    for (k, w) in want {
        let g = got.get(k).cloned().unwrap_or_default();
        let missing: Vec<_> = w.iter().filter(|s| !g.contains(s)).map(|s| s.0).collect();
        let extra: Vec<_> = g.iter().filter(|s| !w.contains(s)).map(|s| s.0).collect();
        if !missing.is_empty() || !extra.is_empty() {
            out.push_str(&format!(
                "{k}: {} missing {:?}.., {} extra {:?}..; ",
                missing.len(),
                &missing[..missing.len().min(5)],
                extra.len(),
                &extra[..extra.len().min(5)]
            ));
        }
    }
    out
}

#[test]
fn a_snapshot_holds_blocks_and_head_and_opens_on_its_own() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(dir.path().join("data"), Options::default()).expect("open");
    let want = write(&db, 4, 0, 7 * H, 60_000);
    db.compact().expect("compact");
    let snap = dir.path().join("snapshot");
    let ulids = db.snapshot(&snap, true).expect("snapshot");
    assert_eq!(ulids.len(), 3, "two blocks and the head");
    // Without the head: only the persisted blocks.
    let snap_blocks = dir.path().join("snapshot-blocks");
    assert_eq!(db.snapshot(&snap_blocks, false).expect("snapshot").len(), 2);
    // The source keeps working and is unchanged.
    assert_eq!(dump(&db, i64::MIN, i64::MAX).expect("dump"), want);
    drop(db);
    let copy = Db::open(&snap, Options::default()).expect("open the snapshot");
    assert_eq!(dump(&copy, i64::MIN, i64::MAX).expect("dump"), want);
    let partial = Db::open(&snap_blocks, Options::default()).expect("open");
    let got = dump(&partial, i64::MIN, i64::MAX).expect("dump");
    for (k, v) in &want {
        let w: Vec<_> = v.iter().copied().filter(|(t, _)| *t < 4 * H).collect();
        assert_eq!(got.get(k), Some(&w), "{k}");
    }
}
