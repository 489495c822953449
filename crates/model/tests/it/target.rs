//! Target groups and merging group labels into target labels.

use narthex_model::{Labels, TargetGroup, labels, merge_group_labels};

#[test]
fn target_labels_win_over_group_labels() {
    let group = TargetGroup {
        targets: vec![
            labels! { "__address__" => "a:1" },
            labels! { "__address__" => "b:2", "env" => "dev", "zone" => "z1" },
            Labels::empty(),
        ],
        labels: labels! { "env" => "prod", "team" => "db" },
        source: "0".into(),
    };
    let merged: Vec<Labels> = group.target_labels().collect();
    assert_eq!(
        merged,
        vec![
            labels! { "__address__" => "a:1", "env" => "prod", "team" => "db" },
            labels! { "__address__" => "b:2", "env" => "dev", "team" => "db", "zone" => "z1" },
            labels! { "env" => "prod", "team" => "db" },
        ]
    );
}

#[test]
fn merging_with_empty_sides() {
    let t = labels! { "__address__" => "a:1" };
    assert_eq!(merge_group_labels(&t, &Labels::empty()), t);
    assert_eq!(merge_group_labels(&Labels::empty(), &t), t);
}

#[test]
fn empty_group_removes_a_source() {
    let g = TargetGroup::empty("file.yml:3");
    assert!(g.is_empty());
    assert_eq!(g.source, "file.yml:3");
    assert_eq!(g.target_labels().count(), 0);
    assert_eq!(
        g,
        TargetGroup {
            source: "file.yml:3".into(),
            ..TargetGroup::default()
        }
    );
}
