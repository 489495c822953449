//! Nothing acknowledged is lost: a child process appends and commits batches in a loop and
//! prints each batch number after its commit returns; it is killed with SIGKILL at a random
//! moment; the reopened database must hold every acknowledged batch, each batch whole or
//! not at all, and batches only as a prefix (no later batch without the earlier ones).
//! The child compacts every few batches, so kills also hit block writes, head
//! truncation, checkpoints and block merges; a second test aims its kills at those
//! compaction rounds (a random moment after one starts) and counts how many land in one.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use narthex_model::labels;
use narthex_storage::{Appendable, Queryable, SeriesRef, ValueType};
use narthex_tsdb::{Db, Options};

const SERIES: i64 = 7;
const CHILD_ENV: &str = "NARTHEX_CRASH_CHILD_DIR";
/// Milliseconds between the child's batches (sample time).
const STEP_ENV: &str = "NARTHEX_CRASH_STEP_MS";

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
    let step: i64 = std::env::var(STEP_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("step");
    let db = Db::open(&dir, options()).expect("child open");
    // Continue after the batches an earlier child left.
    let start = batches_present(&db, step).len() as i64;
    let mut out = std::io::stdout();
    for batch in start.. {
        let mut app = db.appender();
        for s in 0..SERIES {
            let l = labels! { "__name__" => "crash", "s" => s.to_string() };
            app.append(
                SeriesRef::UNKNOWN,
                &l,
                batch * step,
                (batch * 100 + s) as f64,
            )
            .expect("append");
        }
        app.commit().expect("commit");
        use std::io::Write;
        writeln!(out, "acked {batch}").expect("stdout");
        out.flush().expect("flush");
        // Compact often, so kills also land while blocks are written, the head and WAL
        // are truncated and merged blocks are deleted.
        if batch % 20 == 19 {
            writeln!(out, "compacting").expect("stdout");
            out.flush().expect("flush");
            db.compact().expect("compact");
            writeln!(out, "compacted").expect("stdout");
            out.flush().expect("flush");
        }
    }
}

/// For every batch number, how many of its samples are present.
fn batches_present(db: &Db, step: i64) -> Vec<i64> {
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
            let batch = t / step;
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

/// When a round's child is killed.
#[derive(Clone, Copy)]
enum KillAt {
    /// After this many acknowledgements.
    Acks(u64),
    /// This many microseconds after the child says it starts compacting.
    IntoCompaction(u64),
}

/// What a killed child said.
struct Round {
    /// The last batch it acknowledged, if any.
    acked: Option<i64>,
    /// Whether the kill landed between "compacting" and "compacted".
    mid_compaction: bool,
    /// How long the compactions that finished before the kill took, as seen here.
    compactions: Vec<Duration>,
}

/// Starts a child on `dir`, kills it as `at` says, and reads all it printed.
fn kill_child(dir: &std::path::Path, step: i64, at: KillAt) -> Round {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(&exe)
        .args([
            "--exact",
            "crash::crash_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .env(STEP_ENV, step.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut round = Round {
        acked: None,
        mid_compaction: false,
        compactions: Vec::new(),
    };
    let mut started = Instant::now();
    let note = |line: &str, round: &mut Round| {
        if let Some(n) = line.strip_prefix("acked ") {
            round.acked = Some(n.trim().parse().expect("batch number"));
        }
        match line {
            "compacting" => round.mid_compaction = true,
            "compacted" => round.mid_compaction = false,
            _ => {}
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        note(&line, &mut round);
        match line.as_str() {
            "compacting" => started = Instant::now(),
            "compacted" => round.compactions.push(started.elapsed()),
            _ => {}
        }
        let due = match at {
            KillAt::Acks(n) => {
                seen += u64::from(line.starts_with("acked "));
                seen >= n
            }
            KillAt::IntoCompaction(us) if line == "compacting" => {
                std::thread::sleep(Duration::from_micros(us));
                true
            }
            KillAt::IntoCompaction(_) => false,
        };
        if due || Instant::now() > deadline {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // What the child printed before it died (acknowledgements included) is still in the pipe.
    for line in lines.map_while(Result::ok) {
        note(&line, &mut round);
    }
    round
}

/// A xorshift step: the tests' pseudo-random kill moments.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Reopens after a kill: every acknowledged batch must be there; returns the last batch.
fn check_after_kill(
    dir: &std::path::Path,
    step: i64,
    round: u64,
    acked_total: i64,
) -> (i64, usize) {
    let db = Db::open(dir, options()).expect("reopen after kill");
    let present = batches_present(&db, step);
    let last = present.last().copied().unwrap_or(-1);
    assert!(
        last >= acked_total,
        "round {round}: acknowledged batch {acked_total} lost (have up to {last})"
    );
    // Opening cleans up what a killed compaction left half done.
    for e in std::fs::read_dir(dir).expect("ls") {
        let name = e.expect("entry").file_name().into_string().expect("utf8");
        assert!(
            !name.contains(".tmp-for-"),
            "round {round}: {name} left behind"
        );
    }
    (last, db.blocks().len())
}

#[test]
fn sigkill_loses_nothing_acknowledged() {
    let rounds: u64 = std::env::var("NARTHEX_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().expect("tmp");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut acked_total = -1i64;
    let mut blocks = 0;
    for round in 0..rounds {
        // Kill after a pseudo-random number of acknowledgements (1..200).
        let r = kill_child(dir.path(), 10, KillAt::Acks(1 + next(&mut seed) % 200));
        acked_total = acked_total.max(r.acked.unwrap_or(-1));
        (acked_total, blocks) = check_after_kill(dir.path(), 10, round, acked_total);
    }
    println!(
        "crash test: {rounds}/{rounds} SIGKILL rounds passed, {} batches of {SERIES} samples intact, {blocks} blocks",
        acked_total + 1
    );
    if rounds >= 20 {
        assert!(blocks > 0, "the children compacted the head into blocks");
    }
}

/// Kills aimed at compaction: at a pseudo-random moment within twice the median duration
/// of a compaction round after the child starts one (head block writes, merges, WAL
/// checkpoints and truncation, block deletion); at least a third of the kills must land
/// before the round finished.
#[test]
fn sigkill_during_compaction_loses_nothing_acknowledged() {
    let rounds: u64 = std::env::var("NARTHEX_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(30, |r| r.min(30));
    // A batch a second of sample time: every compaction round (each 20 batches) writes
    // head blocks (10 s ranges), and merges follow.
    const STEP: i64 = 1_000;
    let dir = tempfile::tempdir().expect("tmp");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut acked_total;
    // A first child goes through several compaction rounds: how long do they take here?
    let first = kill_child(dir.path(), STEP, KillAt::Acks(200));
    let mut took = first.compactions;
    assert!(took.len() >= 5, "{} compactions in 200 batches", took.len());
    took.sort();
    let window = (2 * took[took.len() / 2].as_micros() as u64).max(100);
    (acked_total, _) = check_after_kill(dir.path(), STEP, 0, first.acked.unwrap_or(-1));
    let mut landed = 0;
    for round in 1..=rounds {
        let r = kill_child(
            dir.path(),
            STEP,
            KillAt::IntoCompaction(next(&mut seed) % window),
        );
        landed += u64::from(r.mid_compaction);
        acked_total = acked_total.max(r.acked.unwrap_or(-1));
        (acked_total, _) = check_after_kill(dir.path(), STEP, round, acked_total);
    }
    println!(
        "crash test (aimed at compaction): {rounds}/{rounds} SIGKILL rounds passed, {landed} killed mid-compaction (within {window} µs of its start), {} batches intact",
        acked_total + 1
    );
    assert!(
        landed * 3 >= rounds,
        "only {landed} of {rounds} kills landed during a compaction"
    );
}
