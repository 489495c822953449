//! Target groups: what service discovery produces and scraping consumes.

use crate::labels::{Labels, LabelsBuilder};

/// A group of targets from one discovery source, Prometheus's `targetgroup.Group`.
///
/// Each target is a label set (at least `__address__`, usually `__meta_*` labels too);
/// `labels` apply to every target of the group. `source` identifies the group within its
/// provider, so a later update with the same source replaces it (and an update with no
/// targets removes it).
///
/// ```
/// use narthex_model::{labels, TargetGroup};
/// let group = TargetGroup {
///     targets: vec![
///         labels! { "__address__" => "db1:9100" },
///         labels! { "__address__" => "db2:9100", "env" => "staging" },
///     ],
///     labels: labels! { "env" => "prod" },
///     source: "file.yml:0".into(),
/// };
/// let merged: Vec<_> = group.target_labels().collect();
/// assert_eq!(merged[0], labels! { "__address__" => "db1:9100", "env" => "prod" });
/// assert_eq!(merged[1], labels! { "__address__" => "db2:9100", "env" => "staging" });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// One label set per target.
    pub targets: Vec<Labels>,
    /// Labels shared by every target; a target's own label of the same name wins.
    pub labels: Labels,
    /// The group's identifier, unique within its discovery provider.
    pub source: String,
}

impl TargetGroup {
    /// A group with no targets and no labels: the update that removes `source`.
    pub fn empty(source: impl Into<String>) -> Self {
        TargetGroup {
            source: source.into(),
            ..TargetGroup::default()
        }
    }

    /// Whether the group has no targets.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Each target's labels merged with the group's labels, target labels winning, in
    /// target order. This is the label set relabelling starts from when scraping.
    pub fn target_labels(&self) -> impl Iterator<Item = Labels> + '_ {
        self.targets
            .iter()
            .map(|t| merge_group_labels(t, &self.labels))
    }
}

/// `target` with every label of `group` it does not have itself added.
pub fn merge_group_labels(target: &Labels, group: &Labels) -> Labels {
    if group.is_empty() {
        return target.clone();
    }
    if target.is_empty() {
        return group.clone();
    }
    let mut lb = LabelsBuilder::from(group.clone());
    for l in target.iter() {
        lb.set(&*l.name, &*l.value);
    }
    lb.build()
}
