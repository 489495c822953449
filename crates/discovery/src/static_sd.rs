//! `static_configs`: groups that never change.

use narthex_model::{Labels, TargetGroup};

use crate::{BoxFuture, Discoverer, SdStatus, UpdateSender};

/// One entry of `static_configs`: targets (`host:port`) and labels shared by them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticConfig {
    /// The targets' addresses, each becoming a target with `__address__` set to it.
    pub targets: Vec<String>,
    /// Labels of every target of the entry.
    pub labels: Labels,
}

impl StaticConfig {
    /// The entry as a group with the given source.
    pub fn to_group(&self, source: impl Into<String>) -> TargetGroup {
        TargetGroup {
            targets: self
                .targets
                .iter()
                .map(|t| Labels::from_pairs([("__address__", t.as_str())]))
                .collect(),
            labels: self.labels.clone(),
            source: source.into(),
        }
    }
}

/// Sends a job's static groups once, with sources `"0"`, `"1"`, ... in entry order as
/// Prometheus numbers them.
#[derive(Debug, Clone)]
pub struct StaticDiscoverer {
    groups: Vec<TargetGroup>,
    status: SdStatus,
}

impl StaticDiscoverer {
    /// A discoverer for all of a job's `static_configs` entries.
    pub fn new(configs: &[StaticConfig]) -> Self {
        let groups = configs
            .iter()
            .enumerate()
            .map(|(i, c)| c.to_group(i.to_string()))
            .collect();
        StaticDiscoverer {
            groups,
            status: SdStatus::new(),
        }
    }

    /// The groups it sends.
    pub fn groups(&self) -> &[TargetGroup] {
        &self.groups
    }
}

impl Discoverer for StaticDiscoverer {
    fn status(&self) -> SdStatus {
        self.status.clone()
    }

    fn run(self: Box<Self>, updates: UpdateSender) -> BoxFuture {
        Box::pin(async move {
            self.status.record_ok();
            let _ = updates.send(self.groups).await;
        })
    }
}
