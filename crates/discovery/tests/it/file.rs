use std::path::Path;
use std::time::Duration;

use narthex_discovery::{
    Discoverer, FileDiscoverer, FileSdOptions, TargetGroup, parse_groups_json, parse_groups_yaml,
};
use narthex_model::labels;

use crate::{group, start};

/// Replaces `path` atomically, so the watcher never sees a half-written file.
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn file_sd_reads_watches_keeps_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("a.json");
    let yaml = dir.path().join("b.yml");
    write_atomic(
        &json,
        r#"[{"targets": ["db1:9100", "db2:9100"], "labels": {"env": "prod"}},
            {"targets": ["db3:9100"]}]"#,
    );
    write_atomic(&yaml, "- targets: ['web:80']\n  labels:\n    team: front\n");
    let opts = FileSdOptions {
        files: vec![
            format!("{}/*.json", dir.path().display()),
            format!("{}/*.yml", dir.path().display()),
        ],
        // Updates below must come from the watcher.
        refresh_interval_ms: 3_600_000,
    };
    let d = FileDiscoverer::new(opts).unwrap();
    let status = d.status();
    let mut r = start(Box::new(d));

    let first = r.next(10).await;
    assert_eq!(first.len(), 3, "{first:?}");
    let (a, b) = (p(&json), p(&yaml));
    let g = group(&first, &format!("{a}:0"));
    assert_eq!(
        g.targets,
        vec![
            labels! { "__address__" => "db1:9100" },
            labels! { "__address__" => "db2:9100" }
        ]
    );
    assert_eq!(
        g.labels,
        labels! { "__meta_filepath" => a.as_str(), "env" => "prod" }
    );
    let g = group(&first, &format!("{a}:1"));
    assert_eq!(g.labels, labels! { "__meta_filepath" => a.as_str() });
    let g = group(&first, &format!("{b}:0"));
    assert_eq!(g.targets, vec![labels! { "__address__" => "web:80" }]);
    assert_eq!(
        g.labels,
        labels! { "__meta_filepath" => b.as_str(), "team" => "front" }
    );
    assert_eq!(status.get().failures, 0);

    // A change is picked up by the watcher; the vanished second group is sent empty.
    write_atomic(&json, r#"[{"targets": ["db9:9100"]}]"#);
    let u = r
        .until(10, |u| {
            u.iter()
                .any(|g| g.source == format!("{a}:1") && g.is_empty())
        })
        .await;
    assert_eq!(
        group(&u, &format!("{a}:0")).targets,
        vec![labels! { "__address__" => "db9:9100" }]
    );

    // Garbage: the error is recorded and the file's groups are not withdrawn.
    std::fs::write(&yaml, "- targets: [unclosed\n").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while status.get().failures == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let st = status.get();
    assert!(st.last_error.as_deref().unwrap().starts_with(&b), "{st:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(u) = r.rx.try_recv() {
        assert!(
            !u.iter().any(|g| g.source.starts_with(&b)),
            "bad file's groups touched: {u:?}"
        );
    }

    // Deleting the file withdraws its groups with an empty group per source.
    std::fs::remove_file(&yaml).unwrap();
    let u = r
        .until(10, |u| u.iter().any(|g| g.source == format!("{b}:0")))
        .await;
    assert!(group(&u, &format!("{b}:0")).is_empty());
}

#[tokio::test]
async fn file_sd_refresh_interval_rereads_without_events() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("t.json");
    write_atomic(&json, r#"[{"targets": ["x:1"]}]"#);
    let d = FileDiscoverer::new(FileSdOptions {
        files: vec![p(&json)],
        refresh_interval_ms: 100,
    })
    .unwrap();
    let mut r = start(Box::new(d));
    let a = r.next(10).await;
    let b = r.next(10).await;
    assert_eq!(a, b);
    assert_eq!(a[0].source, format!("{}:0", p(&json)));
}

#[test]
fn file_patterns_are_checked_like_prometheus() {
    for ok in [
        "a.json",
        "dir/*.yml",
        "dir/x*.YAML",
        "/abs/*",
        "dir/a*b*.json",
    ] {
        let r = FileDiscoverer::new(FileSdOptions {
            files: vec![ok.into()],
            ..FileSdOptions::default()
        });
        assert_eq!(r.is_ok(), ok != "/abs/*", "{ok}");
    }
    let err = FileDiscoverer::new(FileSdOptions {
        files: vec!["dir*/a.json".into()],
        ..FileSdOptions::default()
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"path name "dir*/a.json" is not valid for file discovery"#
    );
}

#[test]
fn group_documents_are_strict() {
    let g = parse_groups_json(br#"[{"targets": ["a:1"], "labels": {"x": "y"}}]"#).unwrap();
    assert_eq!(
        g,
        vec![TargetGroup {
            targets: vec![labels! { "__address__" => "a:1" }],
            labels: labels! { "x" => "y" },
            source: String::new(),
        }]
    );
    assert_eq!(parse_groups_json(b"null").unwrap(), vec![]);
    assert_eq!(
        parse_groups_json(b"[null]").unwrap_err().to_string(),
        "nil target group item found"
    );
    assert!(parse_groups_json(br#"[{"targets": [], "extra": 1}]"#).is_err());
    assert!(parse_groups_json(br#"[{"targets": [1]}]"#).is_err());
    assert_eq!(
        parse_groups_json(br#"[{"labels": {"": "v"}}]"#)
            .unwrap_err()
            .to_string(),
        r#""" is not a valid label name"#
    );
    assert_eq!(parse_groups_yaml("").unwrap(), vec![]);
    assert!(parse_groups_yaml("- targets: [a]\n  bogus: 1\n").is_err());
    let g = parse_groups_yaml("- targets: [a:1, b:2]\n").unwrap();
    assert_eq!(g[0].targets.len(), 2);
}
