//! The periodic refresh loop behind DNS and HTTP discovery (Prometheus's
//! `discovery/refresh`).

use std::future::Future;
use std::time::Duration;

use narthex_model::TargetGroup;

use crate::{SdStatus, UpdateSender};

/// Refreshes now and then every `interval_ms`; successes are sent, failures recorded and
/// logged, leaving the consumer with the last good groups. Returns when the receiver is
/// gone.
/// One refresh of a periodic discoverer.
pub(crate) trait Refresh: Send {
    /// Fetches the current groups, or fails with a message.
    fn refresh(&mut self) -> impl Future<Output = Result<Vec<TargetGroup>, String>> + Send;
}

pub(crate) async fn refresh_loop<R: Refresh>(
    kind: &'static str,
    interval_ms: i64,
    updates: UpdateSender,
    status: SdStatus,
    mut refresher: R,
) {
    let interval = Duration::from_millis(interval_ms.max(1) as u64);
    loop {
        match refresher.refresh().await {
            Ok(groups) => {
                status.record_ok();
                if updates.send(groups).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::error!(mechanism = kind, error = %e, "Unable to refresh target groups");
                status.record_error(e);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = updates.closed() => return,
        }
    }
}
