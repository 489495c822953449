//! `tsdb create-blocks-from openmetrics` against promtool's on the same inputs: the blocks
//! hold the same samples over the same time ranges.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::common::{BASE, HOUR, corpus, make_db, narthex, promtool, sorted_lines, stdout};

/// An OpenMetrics file: a counter, a gauge and a classic histogram sampled every 20.5s
/// for ~5h from an unaligned start, metadata included.
fn input() -> String {
    let mut s = String::new();
    let start = (BASE + 37 * 60 * 1000) / 1000; // 22:37, not aligned
    let n = 5 * 3600 * 2 / 41;
    s.push_str("# HELP jobs Jobs processed.\n# TYPE jobs counter\n");
    for i in 0..n {
        let t = start * 1000 + i * 20_500;
        for w in ["a", "b"] {
            let _ = writeln!(
                s,
                "jobs_total{{worker=\"{w}\"}} {} {}.{:03}",
                i * 3,
                t / 1000,
                t % 1000
            );
        }
    }
    s.push_str("# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\n");
    for i in 0..n / 2 {
        let t = start * 1000 + HOUR + i * 20_500;
        let _ = writeln!(
            s,
            "temp_celsius{{room=\"lab\"}} {} {}.{:03}",
            20.0 + i as f64 / 7.0,
            t / 1000,
            t % 1000
        );
    }
    s.push_str("# TYPE lat histogram\n");
    for i in 0..n / 3 {
        let t = (start + 3600 * 2) * 1000 + i * 20_500;
        let ts = format!("{}.{:03}", t / 1000, t % 1000);
        for (le, c) in [("0.1", i), ("1.0", 2 * i), ("+Inf", 3 * i)] {
            let _ = writeln!(s, "lat_bucket{{le=\"{le}\"}} {c} {ts}");
        }
        let _ = writeln!(s, "lat_count {} {ts}", 3 * i);
        let _ = writeln!(s, "lat_sum {} {ts}", i as f64 * 0.25);
    }
    s.push_str("# EOF\n");
    s
}

/// `promtool tsdb dump` of `dir` (promtool needs a `wal` directory to open it).
fn promtool_dump(promtool: &str, dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    sorted_lines(&stdout(
        Command::new(promtool).args(["tsdb", "dump"]).arg(dir),
    ))
}

/// The block table rows without the ULID and SIZE columns (which differ by nature and by
/// meta.json's optional fields).
fn rows(table: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = table
        .lines()
        .filter(|l| !l.starts_with("BLOCK ULID"))
        .map(|l| {
            let cols: Vec<String> = l.split_whitespace().map(String::from).collect();
            cols[1..cols.len() - 1].to_vec()
        })
        .collect();
    rows.sort();
    rows
}

fn compare(promtool: &str, input: &Path, extra: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    let args = ["tsdb", "create-blocks-from", "openmetrics"];
    let printed_ours = stdout(narthex().args(args).args(extra).arg(input).arg(&ours));
    let printed_theirs = stdout(
        Command::new(promtool)
            .args(args)
            .args(extra)
            .arg(input)
            .arg(&theirs),
    );
    assert_eq!(
        rows(&printed_ours),
        rows(&printed_theirs),
        "printed blocks, {extra:?}"
    );
    assert_eq!(printed_ours.lines().count(), printed_theirs.lines().count());

    let dump_ours = promtool_dump(promtool, &ours);
    let dump_theirs = promtool_dump(promtool, &theirs);
    assert!(!dump_ours.is_empty());
    assert_eq!(
        dump_ours, dump_theirs,
        "promtool tsdb dump of both outputs, {extra:?}"
    );

    let list = |d: &Path| stdout(Command::new(promtool).args(["tsdb", "list"]).arg(d));
    assert_eq!(
        rows(&list(&ours)),
        rows(&list(&theirs)),
        "block ranges and counts, {extra:?}"
    );
}

#[test]
fn blocks_equal_promtools() {
    let Some(promtool) = promtool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("in.om");
    std::fs::write(&file, input()).unwrap();
    compare(&promtool, &file, &[]);
    compare(&promtool, &file, &["--max-block-duration=6h"]);
    compare(&promtool, &file, &["-r"]);

    // Several aligned 2h blocks, none crossing a 2h boundary.
    let out = tmp.path().join("check");
    stdout(
        narthex()
            .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
            .arg(&file)
            .arg(&out),
    );
    let list = stdout(narthex().args(["tsdb", "list"]).arg(&out));
    let rows = rows(&list);
    assert!(rows.len() >= 3, "{list}");
    for r in rows {
        let (min, max): (i64, i64) = (r[0].parse().unwrap(), r[1].parse().unwrap());
        assert_eq!(
            min / (2 * HOUR),
            (max - 1) / (2 * HOUR),
            "{min}..{max} in one window"
        );
    }
}

#[test]
fn conformance_files_equal_promtools() {
    let Some(promtool) = promtool() else { return };
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("exposition/promtool");
    let mut n = 0;
    for name in [
        "dump-openmetrics-test.prom",
        "dump-openmetrics-roundtrip-test.prom",
    ] {
        let f = dir.join(name);
        assert!(f.exists(), "{} missing", f.display());
        compare(&promtool, &f, &[]);
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn quiet_prints_nothing_and_missing_timestamps_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("in.om");
    std::fs::write(&file, input()).unwrap();
    let out = stdout(
        narthex()
            .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
            .arg(&file)
            .arg(tmp.path().join("q")),
    );
    assert_eq!(out, "");

    std::fs::write(&file, "# TYPE a gauge\na 1 10\na 2\n# EOF\n").unwrap();
    let o = narthex()
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(tmp.path().join("bad"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 3: expected timestamp"), "{err}");
}

/// `dump --format=openmetrics` then `create-blocks-from openmetrics` keeps every sample.
#[test]
fn openmetrics_dump_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_db(&src);
    let text = stdout(narthex().args(["tsdb", "dump"]).arg(&src));
    let om = stdout(
        narthex()
            .args(["tsdb", "dump", "--format=openmetrics"])
            .arg(&src),
    );
    let file = tmp.path().join("dump.om");
    std::fs::write(&file, om).unwrap();
    let dst = tmp.path().join("dst");
    stdout(
        narthex()
            .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
            .arg(&file)
            .arg(&dst),
    );
    let again = stdout(narthex().args(["tsdb", "dump"]).arg(&dst));
    assert_eq!(sorted_lines(&again), sorted_lines(&text));
}
