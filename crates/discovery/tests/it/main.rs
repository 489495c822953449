//! Integration tests for narthex-discovery: one binary, a module per area.

mod dns;
mod dnsmasq;
mod file;
mod http;
mod manager;
mod static_sd;

use std::time::Duration;

use narthex_discovery::{Discoverer, TargetGroup};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Runs a discoverer on a channel; the task is aborted when the handle is dropped.
pub(crate) struct Running {
    pub(crate) rx: mpsc::Receiver<Vec<TargetGroup>>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn start(d: Box<dyn Discoverer>) -> Running {
    let (tx, rx) = mpsc::channel(16);
    let task = tokio::spawn(d.run(tx));
    Running { rx, task }
}

impl Running {
    /// The next update, failing the test after `secs` seconds.
    pub(crate) async fn next(&mut self, secs: u64) -> Vec<TargetGroup> {
        tokio::time::timeout(Duration::from_secs(secs), self.rx.recv())
            .await
            .expect("no update in time")
            .expect("discoverer stopped")
    }

    /// Updates until one satisfies `pred`; fails after `secs` seconds.
    pub(crate) async fn until(
        &mut self,
        secs: u64,
        mut pred: impl FnMut(&[TargetGroup]) -> bool,
    ) -> Vec<TargetGroup> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let u = tokio::time::timeout(left, self.rx.recv())
                .await
                .expect("no matching update in time")
                .expect("discoverer stopped");
            if pred(&u) {
                return u;
            }
        }
    }
}

/// The group with `source` in `groups`.
pub(crate) fn group<'a>(groups: &'a [TargetGroup], source: &str) -> &'a TargetGroup {
    groups
        .iter()
        .find(|g| g.source == source)
        .unwrap_or_else(|| panic!("no group {source} in {groups:?}"))
}
