//! What scraping counts about itself: the figures behind Prometheus's
//! `prometheus_target_*` metrics, kept as plain atomics (this crate needs no metrics
//! library) and read with [`crate::ScrapeManager::metrics`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::append::{AppendStats, ScrapeError};

/// Told, after every scrape but a target's first, the target's configured interval (ms)
/// and the time since its previous scrape started (`prometheus_target_interval_length_seconds`).
pub type IntervalObserver = Arc<dyn Fn(i64, Duration) + Send + Sync>;

/// Shared by a manager, its pools and their loops.
#[derive(Default)]
pub(crate) struct Counters {
    out_of_order: AtomicU64,
    duplicate: AtomicU64,
    out_of_bounds: AtomicU64,
    sample_limit: AtomicU64,
    body_size_limit: AtomicU64,
    label_limit: AtomicU64,
    bucket_limit: AtomicU64,
    target_limit: AtomicU64,
    pools: AtomicU64,
    pools_failed: AtomicU64,
    reloads: AtomicU64,
    reloads_failed: AtomicU64,
    pub(crate) on_interval: OnceLock<IntervalObserver>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

fn inc(c: &AtomicU64, n: u64) {
    if n > 0 {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

impl Counters {
    /// Counts what one scrape had refused or failed on.
    pub(crate) fn scrape(&self, stats: &AppendStats, err: Option<&ScrapeError>) {
        inc(&self.out_of_order, stats.out_of_order);
        inc(&self.duplicate, stats.duplicate);
        inc(&self.out_of_bounds, stats.out_of_bounds);
        match err {
            Some(ScrapeError::SampleLimit) => inc(&self.sample_limit, 1),
            Some(ScrapeError::BodySizeLimit) => inc(&self.body_size_limit, 1),
            Some(ScrapeError::LabelLimit(_)) => inc(&self.label_limit, 1),
            Some(ScrapeError::BucketLimit) => inc(&self.bucket_limit, 1),
            _ => {}
        }
    }

    pub(crate) fn target_limit_exceeded(&self) {
        inc(&self.target_limit, 1);
    }

    pub(crate) fn pool_created(&self, ok: bool) {
        inc(&self.pools, 1);
        if !ok {
            inc(&self.pools_failed, 1);
        }
    }

    pub(crate) fn pool_reloaded(&self, ok: bool) {
        inc(&self.reloads, 1);
        if !ok {
            inc(&self.reloads_failed, 1);
        }
    }

    pub(crate) fn interval(&self, configured_ms: i64, actual: Duration) {
        if let Some(f) = self.on_interval.get() {
            f(configured_ms, actual);
        }
    }

    pub(crate) fn snapshot(&self) -> ScrapeMetrics {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ScrapeMetrics {
            samples_out_of_order: g(&self.out_of_order),
            samples_duplicate_timestamp: g(&self.duplicate),
            samples_out_of_bounds: g(&self.out_of_bounds),
            exceeded_sample_limit: g(&self.sample_limit),
            exceeded_body_size_limit: g(&self.body_size_limit),
            exceeded_label_limits: g(&self.label_limit),
            exceeded_native_histogram_bucket_limit: g(&self.bucket_limit),
            exceeded_target_limit: g(&self.target_limit),
            pools: g(&self.pools),
            pools_failed: g(&self.pools_failed),
            pool_reloads: g(&self.reloads),
            pool_reloads_failed: g(&self.reloads_failed),
        }
    }
}

/// Counts since the manager was made; each field names the Prometheus metric it feeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScrapeMetrics {
    /// `prometheus_target_scrapes_sample_out_of_order_total`.
    pub samples_out_of_order: u64,
    /// `prometheus_target_scrapes_sample_duplicate_timestamp_total`.
    pub samples_duplicate_timestamp: u64,
    /// `prometheus_target_scrapes_sample_out_of_bounds_total`.
    pub samples_out_of_bounds: u64,
    /// `prometheus_target_scrapes_exceeded_sample_limit_total`.
    pub exceeded_sample_limit: u64,
    /// `prometheus_target_scrapes_exceeded_body_size_limit_total`.
    pub exceeded_body_size_limit: u64,
    /// `prometheus_target_scrape_pool_exceeded_label_limits_total`.
    pub exceeded_label_limits: u64,
    /// `prometheus_target_scrapes_exceeded_native_histogram_bucket_limit_total`.
    pub exceeded_native_histogram_bucket_limit: u64,
    /// `prometheus_target_scrape_pool_exceeded_target_limit_total`.
    pub exceeded_target_limit: u64,
    /// `prometheus_target_scrape_pools_total`.
    pub pools: u64,
    /// `prometheus_target_scrape_pools_failed_total`.
    pub pools_failed: u64,
    /// `prometheus_target_scrape_pool_reloads_total`.
    pub pool_reloads: u64,
    /// `prometheus_target_scrape_pool_reloads_failed_total`.
    pub pool_reloads_failed: u64,
}
