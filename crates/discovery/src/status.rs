//! A discoverer's health, shared between the discoverer and whoever reports it.

use std::sync::{Arc, Mutex, PoisonError};

/// A snapshot of a discoverer's health.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscovererStatus {
    /// Refreshes (or reads, lookups) that succeeded.
    pub refreshes: u64,
    /// Refreshes (or file reads, lookups) that failed, like Prometheus's
    /// `prometheus_sd_*_failures_total` counters.
    pub failures: u64,
    /// The text of the most recent failure, if any.
    pub last_error: Option<String>,
}

/// A shared, cloneable handle on a [`DiscovererStatus`].
#[derive(Clone, Debug, Default)]
pub struct SdStatus(Arc<Mutex<DiscovererStatus>>);

impl SdStatus {
    /// A fresh status with no refreshes and no failures.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a success.
    pub fn record_ok(&self) {
        self.with(|s| s.refreshes += 1);
    }

    /// Records a failure and its text.
    pub fn record_error(&self, error: impl Into<String>) {
        let error = error.into();
        self.with(|s| {
            s.failures += 1;
            s.last_error = Some(error);
        });
    }

    /// The current state.
    pub fn get(&self) -> DiscovererStatus {
        self.with(|s| s.clone())
    }

    fn with<T>(&self, f: impl FnOnce(&mut DiscovererStatus) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
