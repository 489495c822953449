//! `tsdb list`, `dump` and `analyze` against promtool on a directory written by
//! `narthex-tsdb` (blocks and a head).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::{BASE, HOUR, make_db, narthex, promtool, sorted_lines, stdout};

/// The shared data directory, made once per test run.
fn data_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("narthex-server-inspect");
        let _ = std::fs::remove_dir_all(&dir);
        make_db(&dir);
        dir
    })
}

fn both(promtool: &str, args: &[&str]) -> (String, String) {
    let dir = data_dir();
    let ours = stdout(narthex().arg("tsdb").args(args).arg(dir));
    let theirs = stdout(Command::new(promtool).arg("tsdb").args(args).arg(dir));
    (ours, theirs)
}

fn block_ids(list: &str) -> Vec<String> {
    list.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

#[test]
fn list_equals_promtool() {
    let Some(promtool) = promtool() else { return };
    for args in [&["list"][..], &["list", "-r"][..]] {
        let (ours, theirs) = both(&promtool, args);
        assert_eq!(ours, theirs, "narthex tsdb {args:?} vs promtool");
    }
    let (ours, _) = both(&promtool, &["list"]);
    // The fixture really has blocks (and data left in the head).
    assert!(block_ids(&ours).len() >= 3, "{ours}");
}

#[test]
fn dump_equals_promtool() {
    let Some(promtool) = promtool() else { return };
    let window_min = (BASE + 3 * HOUR).to_string();
    let window_max = (BASE + 7 * HOUR + 17).to_string();
    let min_arg = format!("--min-time={window_min}");
    let max_arg = format!("--max-time={window_max}");
    let cases: Vec<Vec<&str>> = vec![
        vec!["dump"],
        vec!["dump", r#"--match=http_requests_total{code="500"}"#],
        vec![
            "dump",
            r#"--match={job=~"no.*", instance!="host-1:9100"}"#,
            &min_arg,
        ],
        vec!["dump", &min_arg, &max_arg],
        vec!["dump", "--match=temperature", &max_arg],
    ];
    for args in cases {
        let (ours, theirs) = both(&promtool, &args);
        let (ours, theirs) = (sorted_lines(&ours), sorted_lines(&theirs));
        assert!(!ours.is_empty(), "{args:?} dumps something");
        assert_eq!(ours.len(), theirs.len(), "{args:?}: line counts");
        assert_eq!(ours, theirs, "narthex tsdb {args:?} vs promtool");
    }
    // Every sample written, head included: 9h at 30s, 4 + 1 series always present.
    let (all, _) = both(&promtool, &["dump"]);
    let up = all
        .lines()
        .filter(|l| l.starts_with("{__name__=\"up\""))
        .count();
    assert_eq!(up, 4 * 9 * 120);
    assert!(all.contains(" NaN ") && all.contains(" +Inf ") && all.contains(" -Inf "));
    assert!(all.contains(" 1.234567e+06 ") && all.contains(" 1e-07 ") && all.contains(" -0 "));
}

#[test]
fn dump_openmetrics_has_the_same_samples() {
    let dir = data_dir();
    let text = stdout(narthex().args(["tsdb", "dump"]).arg(dir));
    let om = stdout(
        narthex()
            .args(["tsdb", "dump", "--format=openmetrics"])
            .arg(dir),
    );
    assert!(om.ends_with("\n# EOF\n"));
    assert_eq!(om.lines().count(), text.lines().count() + 1);
    assert!(om.contains(&format!(
        "up{{instance=\"host-1:9100\",job=\"node\"}} 1 {}.234\n",
        BASE / 1000 + 1
    )));
    assert!(om.contains(r#"path="/a \"quoted\" path\\é""#), "quoting");
    // Families are contiguous: once a metric name is left it never comes back.
    let mut seen = Vec::<String>::new();
    for l in om.lines().filter(|l| !l.starts_with('#')) {
        let name = l.split(['{', ' ']).next().unwrap().to_string();
        if seen.last() != Some(&name) {
            assert!(!seen.contains(&name), "{name} is split");
            seen.push(name);
        }
    }
}

/// promtool's analysis split into its header and titled sections.
fn sections(text: &str) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let mut parts = text.split("\n\n");
    let header = parts.next().unwrap().lines().map(String::from).collect();
    let rest = parts
        .map(|p| {
            let mut lines = p.lines();
            let title = lines.next().unwrap_or("").to_string();
            (title, lines.map(String::from).collect())
        })
        .collect();
    (header, rest)
}

#[test]
fn analyze_equals_promtool() {
    let Some(promtool) = promtool() else { return };
    let (list, _) = both(&promtool, &["list"]);
    let mut targets: Vec<Option<String>> = vec![None];
    targets.extend(block_ids(&list).into_iter().map(Some));
    for block in targets {
        let dir = data_dir();
        let run = |cmd: &mut Command, extra: &[&str]| {
            cmd.args(["tsdb", "analyze"]).args(extra).arg(dir);
            if let Some(b) = &block {
                cmd.arg(b);
            }
            stdout(cmd)
        };
        // Everything, so that ties at the cut do not matter.
        let ours = run(&mut narthex(), &["--limit=100000", "--extended"]);
        let theirs = run(
            &mut Command::new(&promtool),
            &["--limit=100000", "--extended"],
        );
        let (oh, os) = sections(&ours);
        let (th, ts) = sections(&theirs);
        assert_eq!(oh, th, "header of block {block:?}");
        assert_eq!(
            os.len(),
            7,
            "six sections and the compaction analysis:\n{ours}"
        );
        assert_eq!(os.len(), ts.len());
        for ((ot, ol), (tt, tl)) in os.iter().zip(&ts) {
            assert_eq!(ot, tt);
            let mut ol = ol.clone();
            let mut tl = tl.clone();
            ol.sort();
            tl.sort();
            assert_eq!(ol, tl, "section {ot} of block {block:?}");
        }
        // The default limit: the same counts in the same order.
        let ours = run(&mut narthex(), &[]);
        let theirs = run(&mut Command::new(&promtool), &[]);
        let counts = |t: &str| {
            sections(t)
                .1
                .into_iter()
                .map(|(title, lines)| {
                    let n: Vec<String> = lines
                        .iter()
                        .map(|l| l.split(' ').next().unwrap().to_string())
                        .collect();
                    (title, n)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(&ours), counts(&theirs), "block {block:?}");
        assert!(ours.contains("Label pairs most involved in churning:"));
    }
}
