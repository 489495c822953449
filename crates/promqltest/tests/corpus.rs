//! Runs upstream's PromQL `.test` corpus on `MemStorage` and on the TSDB.
//!
//! Every eval that fails must be listed in `skiplist.txt` (`<file>:<line> <reason>`), and
//! every listed eval must still fail, so the list only shrinks. An entry whose reason
//! starts with `(tsdb only)` may fail on the TSDB only: it must pass on `MemStorage`
//! (and an entry without the mark that starts passing on memory must get it). With
//! `NARTHEX_PROMQLTEST_UPDATE_SKIPLIST=1` the list is rewritten from the current failures.
//! Upstream's two extra checks run too, as upstream's runner runs them: each `eval instant`
//! is also run as a range query around its time, and re-run with `@ T` added at other
//! times. `NARTHEX_PROMQLTEST_RANGE_CHECK=0` and `NARTHEX_PROMQLTEST_AT_CHECK=0` turn them
//! off when hunting a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use narthex_promqltest::{FileReport, RunOptions, TestStorage, run_file_with};
use narthex_storage::{Appendable, Appender, MemStorage, Querier, Queryable, StorageError};

const SKIPLIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/skiplist.txt");
const UPDATE_ENV: &str = "NARTHEX_PROMQLTEST_UPDATE_SKIPLIST";
const RANGE_CHECK_ENV: &str = "NARTHEX_PROMQLTEST_RANGE_CHECK";
const AT_CHECK_ENV: &str = "NARTHEX_PROMQLTEST_AT_CHECK";
/// Reason prefix of a skip-list entry allowed to fail on the TSDB only.
const TSDB_ONLY: &str = "(tsdb only)";

fn corpus_dir() -> PathBuf {
    match std::env::var_os("NARTHEX_CONFORMANCE_DIR") {
        Some(d) => Path::new(&d).join("promql"),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/conformance/promql"
        )),
    }
}

/// A TSDB in its own temporary directory, removed when dropped.
struct TempDb {
    db: narthex_tsdb::Db,
    _dir: tempfile::TempDir,
}

impl Queryable for TempDb {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        self.db.querier(mint, maxt)
    }
}

impl Appendable for TempDb {
    fn appender(&self) -> Box<dyn Appender + '_> {
        self.db.appender()
    }
}

fn new_tsdb() -> Box<dyn TestStorage> {
    let dir = tempfile::tempdir().expect("temp dir");
    // As Prometheus's test storage: one-day blocks (so a script's loads, which may go
    // back up to half a block range behind the newest sample, are in bounds) and no
    // retention.
    let day = 24 * 60 * 60 * 1000;
    let options = narthex_tsdb::Options {
        chunk_range: day,
        max_block_duration: day,
        retention_duration: 0,
        ..narthex_tsdb::Options::default()
    };
    let db = narthex_tsdb::Db::open(dir.path(), options).expect("open tsdb");
    Box::new(TempDb { db, _dir: dir })
}

fn new_mem() -> Box<dyn TestStorage> {
    // The same one-day chunk range as the TSDB above, so both cut histogram chunks (and
    // so hand out counter-reset hints) alike.
    Box::new(MemStorage::with_chunk_range(24 * 60 * 60 * 1000))
}

/// Runs every file; prints the summary line; returns failures (evals and errors) by id.
fn run_all(
    files: &[PathBuf],
    label: &str,
    new_storage: &dyn Fn() -> Box<dyn TestStorage>,
) -> BTreeMap<String, String> {
    let options = RunOptions {
        // Upstream's extra checks; the checked-in skip list is made without them.
        range_check: !std::env::var(RANGE_CHECK_ENV).is_ok_and(|v| v == "0"),
        at_check: !std::env::var(AT_CHECK_ENV).is_ok_and(|v| v == "0"),
        ..RunOptions::default()
    };
    let (mut passed, mut total) = (0, 0);
    let mut failures = BTreeMap::new();
    for f in files {
        let r: FileReport = run_file_with(f, new_storage, &options);
        passed += r.passed;
        total += r.evals;
        if label.is_empty() {
            println!("  {:<28} {:>4}/{:<4} passed", r.file, r.passed, r.evals);
        }
        for (id, why) in r.errors {
            eprintln!("{label}: {id}: {why}");
            failures.insert(id, format!("load/script error: {why}"));
        }
        failures.extend(r.failed);
    }
    let storage = if label.is_empty() { " (memory)" } else { label };
    println!("promqltest{storage}: {passed}/{total} passed");
    failures
}

fn read_skiplist() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(SKIPLIST).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((id, why)) => (id.to_string(), why.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

fn write_skiplist(failures: &BTreeMap<String, String>) {
    let mut out = String::from(
        "# Evals of the upstream PromQL corpus allowed to fail: `<file>:<line> <reason>`.\n\
         # The corpus test fails when an eval not listed here fails, and when a listed one\n\
         # passes (delete its line). `(tsdb only)` entries must pass on MemStorage. Regenerate with\n\
         # NARTHEX_PROMQLTEST_UPDATE_SKIPLIST=1 cargo test -p narthex-promqltest --test corpus\n",
    );
    // Sort by file, then line number.
    let mut ids: Vec<(&String, &String)> = failures.iter().collect();
    ids.sort_by_key(|(id, _)| {
        let (f, l) = id.rsplit_once(':').unwrap_or((id, "0"));
        (f.to_string(), l.parse::<u64>().unwrap_or(0))
    });
    for (id, why) in ids {
        let why: String = why.chars().take(200).collect();
        out.push_str(&format!("{id} {why}\n"));
    }
    std::fs::write(SKIPLIST, out).expect("write skiplist");
}

#[test]
fn promql_conformance() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "test"))
            .collect(),
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("conformance corpus missing at {}: {e}", dir.display());
            }
            eprintln!(
                "!!! SKIPPED promql conformance: corpus missing at {} ({e}) !!!",
                dir.display()
            );
            println!(
                "!!! SKIPPED promql conformance: corpus missing at {} !!!",
                dir.display()
            );
            return;
        }
    };
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());

    let mem = run_all(&files, "", &new_mem);
    let tsdb = run_all(&files, " (tsdb)", &new_tsdb);

    // An eval fails if it fails on either storage; one failing only on the TSDB is
    // marked so, and must then keep passing on memory.
    let mut failures = mem.clone();
    for (id, why) in tsdb {
        failures
            .entry(id)
            .or_insert_with(|| format!("{TSDB_ONLY} {why}"));
    }

    if std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1") {
        write_skiplist(&failures);
        println!("rewrote {} with {} entries", SKIPLIST, failures.len());
        return;
    }

    let skip = read_skiplist();
    let tsdb_only = |id: &String| skip.get(id).is_some_and(|why| why.starts_with(TSDB_ONLY));
    let unexpected: Vec<String> = failures
        .iter()
        .filter(|(id, _)| !skip.contains_key(*id) || (tsdb_only(id) && mem.contains_key(*id)))
        .map(|(id, why)| format!("  {id} {why}"))
        .collect();
    let failing: BTreeSet<&String> = failures.keys().collect();
    let now_passing: Vec<String> = skip
        .keys()
        .filter(|id| !failing.contains(id) || (!tsdb_only(id) && !mem.contains_key(*id)))
        .map(|id| {
            if failing.contains(id) {
                format!("  {id} (passes on memory now: mark it {TSDB_ONLY})")
            } else {
                format!("  {id}")
            }
        })
        .collect();
    let mut msg = String::new();
    if !unexpected.is_empty() {
        msg.push_str(&format!(
            "{} evals failed that are not in skiplist.txt (or are listed {TSDB_ONLY} and \
             failed on memory):\n{}\n",
            unexpected.len(),
            unexpected.join("\n")
        ));
    }
    if !now_passing.is_empty() {
        msg.push_str(&format!(
            "{} evals in skiplist.txt pass now (on both storages, or on memory): delete or \
             mark their lines in {SKIPLIST}:\n{}\n",
            now_passing.len(),
            now_passing.join("\n")
        ));
    }
    assert!(msg.is_empty(), "{msg}(or regenerate with {UPDATE_ENV}=1)");
}

/// The parser returns errors, never panics, on mangled scripts (bytes inserted, removed,
/// truncated), and keeps memory bounded on absurd repeat counts.
#[test]
fn parser_survives_mangled_scripts() {
    let Ok(rd) = std::fs::read_dir(corpus_dir()) else {
        eprintln!("!!! SKIPPED parser_survives_mangled_scripts: corpus missing !!!");
        return;
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as usize
    };
    let inserts = [
        "{{", "}}", "x", "x9999999", "+", "-", "\\", "\"", "`", "é", "[", "]", ":", "_x", "@st",
        " ", "\n", "{", "}", "=", "e", "0x", "expect ", "msg:", "regex:(", "eval ", "load ",
    ];
    for e in rd {
        let text = std::fs::read_to_string(e.expect("dir entry").path()).expect("read");
        for _ in 0..60 {
            let mut s = text.clone();
            for _ in 0..5 {
                let mut pos = rnd() % (s.len() + 1);
                while !s.is_char_boundary(pos) {
                    pos -= 1;
                }
                match rnd() % 3 {
                    0 => s.insert_str(pos, inserts[rnd() % inserts.len()]),
                    1 => {
                        let mut end = (pos + rnd() % 5).min(s.len());
                        while !s.is_char_boundary(end) {
                            end -= 1;
                        }
                        s.replace_range(pos..end, "");
                    }
                    _ => s.truncate(pos),
                }
            }
            let _ = narthex_promqltest::Script::parse("mangled.test", &s);
        }
    }
}
