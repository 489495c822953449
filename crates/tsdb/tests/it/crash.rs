//! Nothing acknowledged is lost: a child process appends and commits batches in a loop and
//! prints each batch number after its commit returns; it is killed with SIGKILL at a random
//! moment; the reopened database must hold every acknowledged batch, each batch whole or
//! not at all, and batches only as a prefix (no later batch without the earlier ones).
//! The child compacts every few batches, so kills also hit block writes, head
//! truncation, checkpoints and block merges.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use narthex_model::labels;
use narthex_storage::{Appendable, Queryable, SeriesRef, ValueType};
use narthex_tsdb::{Db, Options};

const SERIES: i64 = 7;
const CHILD_ENV: &str = "NARTHEX_CRASH_CHILD_DIR";

fn options() -> Options {
    // Small chunks and segments so kills land in chunk writes and segment switches too.
    Options {
        samples_per_chunk: 8,
        chunk_range: 10_000,
        wal_segment_size: 64 * 1024,
        // Blocks of up to 90 s: several levels of merges within a test run.
        max_block_duration: 90_000,
        ..Options::default()
    }
}

/// Runs only as the child: appends batch after batch until killed.
#[test]
fn crash_child_process() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let db = Db::open(&dir, options()).expect("child open");
    // Continue after the batches an earlier child left.
    let start = batches_present(&db).len() as i64;
    let mut out = std::io::stdout();
    for batch in start.. {
        let mut app = db.appender();
        for s in 0..SERIES {
            let l = labels! { "__name__" => "crash", "s" => s.to_string() };
            app.append(SeriesRef::UNKNOWN, &l, batch * 10, (batch * 100 + s) as f64)
                .expect("append");
        }
        app.commit().expect("commit");
        use std::io::Write;
        writeln!(out, "acked {batch}").expect("stdout");
        out.flush().expect("flush");
        // Compact often, so kills also land while blocks are written, the head and WAL
        // are truncated and merged blocks are deleted.
        if batch % 20 == 19 {
            db.compact().expect("compact");
        }
    }
}

/// For every batch number, how many of its samples are present.
fn batches_present(db: &Db) -> Vec<i64> {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let mut count: std::collections::BTreeMap<i64, i64> = Default::default();
    for s in q.select(true, None, &[]).expect("select") {
        let s = s.expect("series");
        let id: i64 = s
            .labels()
            .get("s")
            .and_then(|v| v.parse().ok())
            .expect("s label");
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            let batch = t / 10;
            assert_eq!(
                v,
                (batch * 100 + id) as f64,
                "value of batch {batch} series {id}"
            );
            *count.entry(batch).or_default() += 1;
        }
    }
    for (b, n) in &count {
        assert_eq!(*n, SERIES, "batch {b} is partial: {n} of {SERIES} samples");
    }
    let batches: Vec<i64> = count.into_keys().collect();
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(*b, i as i64, "batches form a prefix: {batches:?}");
    }
    batches
}

#[test]
fn sigkill_loses_nothing_acknowledged() {
    let rounds: u64 = std::env::var("NARTHEX_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().expect("tmp");
    let exe = std::env::current_exe().expect("test binary");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut acked_total = -1i64;
    let mut blocks = 0;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        // Kill after a pseudo-random number of acknowledgements (1..200).
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let kill_after = 1 + seed % 200;
        let mut acked = -1i64;
        let mut seen = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("acked ") {
                acked = n.trim().parse().expect("batch number");
                seen += 1;
                if seen >= kill_after || Instant::now() > deadline {
                    break;
                }
            }
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        if acked >= 0 {
            acked_total = acked;
        }
        let db = Db::open(dir.path(), options()).expect("reopen after kill");
        let present = batches_present(&db);
        let last = present.last().copied().unwrap_or(-1);
        assert!(
            last >= acked_total,
            "round {round}: acknowledged batch {acked_total} lost (have up to {last})"
        );
        acked_total = last;
        blocks = db.blocks().len();
    }
    println!(
        "crash test: {rounds}/{rounds} SIGKILL rounds passed, {} batches of {SERIES} samples intact, {blocks} blocks",
        acked_total + 1
    );
    if rounds >= 20 {
        assert!(blocks > 0, "the children compacted the head into blocks");
    }
}
