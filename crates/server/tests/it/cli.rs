//! The command line itself: help, exit codes, errors.

use crate::common::narthex;

#[test]
fn no_subcommand_prints_help_and_exits_2() {
    let out = narthex().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tsdb"), "help lists tsdb:\n{text}");
}

#[test]
fn help_lists_the_tsdb_commands() {
    let out = narthex().args(["tsdb", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for c in ["list", "dump", "analyze", "create-blocks-from"] {
        assert!(text.contains(c), "{c} in:\n{text}");
    }
}

#[test]
fn errors_exit_1_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = narthex()
        .args(["tsdb", "list"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty());

    let out = narthex()
        .args(["tsdb", "dump", "--match", "rate(x[5m])"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("selector"));

    let out = narthex()
        .args(["tsdb", "analyze"])
        .arg(dir.path())
        .arg("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("block 01ARZ3NDEKTSV4RRFFQ69G5FAV not found")
    );
}
