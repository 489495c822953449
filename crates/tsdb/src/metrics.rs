//! What the database counts about itself, for monitoring: the figures behind
//! Prometheus's `prometheus_tsdb_*` metrics, as plain numbers ([`DbMetrics`]) so that this
//! crate needs no metrics library. `narthex` exposes them under Prometheus's names.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters updated as things happen (relaxed atomics: monitoring, not synchronisation).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) series_created: AtomicU64,
    pub(crate) series_removed: AtomicU64,
    pub(crate) chunks_removed: AtomicU64,
    pub(crate) head_truncations: AtomicU64,
    pub(crate) head_truncations_failed: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) checkpoints_failed: AtomicU64,
    pub(crate) out_of_order: AtomicU64,
    pub(crate) out_of_bounds: AtomicU64,
    pub(crate) too_old: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) compactions_failed: AtomicU64,
    pub(crate) compactions_triggered: AtomicU64,
    pub(crate) reloads: AtomicU64,
    pub(crate) time_retentions: AtomicU64,
    pub(crate) size_retentions: AtomicU64,
}

impl Counters {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// A snapshot of the database's own figures ([`crate::Db::metrics`]). Counters count
/// since the database was opened; the rest are current values. Each field names the
/// Prometheus metric it feeds.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct DbMetrics {
    /// Series in the head (`prometheus_tsdb_head_series`).
    pub head_series: u64,
    /// Series created in the head (`prometheus_tsdb_head_series_created_total`).
    pub head_series_created: u64,
    /// Series removed by head truncation (`prometheus_tsdb_head_series_removed_total`).
    pub head_series_removed: u64,
    /// Chunks in the head (`prometheus_tsdb_head_chunks`).
    pub head_chunks: u64,
    /// Head chunks started (`prometheus_tsdb_head_chunks_created_total`).
    pub head_chunks_created: u64,
    /// Head chunks dropped by truncation (`prometheus_tsdb_head_chunks_removed_total`).
    pub head_chunks_removed: u64,
    /// Oldest and newest time in the head, ms (`prometheus_tsdb_head_min_time`, `_max_time`).
    pub head_min_time: i64,
    /// See [`DbMetrics::head_min_time`].
    pub head_max_time: i64,
    /// Head truncations (`prometheus_tsdb_head_truncations_total`).
    pub head_truncations: u64,
    /// Failed head truncations (`prometheus_tsdb_head_truncations_failed_total`).
    pub head_truncations_failed: u64,
    /// Appenders open now (`prometheus_tsdb_head_active_appenders`).
    pub active_appenders: u64,
    /// Samples appended (`prometheus_tsdb_head_samples_appended_total`).
    pub samples_appended: u64,
    /// Samples refused as out of order (`prometheus_tsdb_out_of_order_samples_total`).
    pub out_of_order_samples: u64,
    /// Samples refused as older than the head allows
    /// (`prometheus_tsdb_out_of_bound_samples_total`).
    pub out_of_bound_samples: u64,
    /// Samples refused as outside the out-of-order window
    /// (`prometheus_tsdb_too_old_samples_total`).
    pub too_old_samples: u64,
    /// The WAL segment being written (`prometheus_tsdb_wal_segment_current`).
    pub wal_segment_current: u64,
    /// WAL pages flushed (`prometheus_tsdb_wal_page_flushes_total`).
    pub wal_page_flushes: u64,
    /// WAL pages filled completely (`prometheus_tsdb_wal_completed_pages_total`).
    pub wal_completed_pages: u64,
    /// WAL fsyncs and the seconds they took (`prometheus_tsdb_wal_fsync_duration_seconds`).
    pub wal_fsyncs: u64,
    /// See [`DbMetrics::wal_fsyncs`].
    pub wal_fsync_seconds: f64,
    /// WAL writes that failed (`prometheus_tsdb_wal_writes_failed_total`).
    pub wal_writes_failed: u64,
    /// WAL truncations (`prometheus_tsdb_wal_truncations_total`).
    pub wal_truncations: u64,
    /// Checkpoints written (`prometheus_tsdb_checkpoint_creations_total`).
    pub checkpoint_creations: u64,
    /// Checkpoints that failed (`prometheus_tsdb_checkpoint_creations_failed_total`).
    pub checkpoint_creations_failed: u64,
    /// Blocks written by compaction, from the head or from blocks
    /// (`prometheus_tsdb_compactions_total`).
    pub compactions: u64,
    /// Compaction rounds that failed (`prometheus_tsdb_compactions_failed_total`).
    pub compactions_failed: u64,
    /// Compaction rounds run (`prometheus_tsdb_compactions_triggered_total`).
    pub compactions_triggered: u64,
    /// Times the block set was reloaded (`prometheus_tsdb_reloads_total`).
    pub reloads: u64,
    /// Blocks deleted for their age (`prometheus_tsdb_time_retentions_total`).
    pub time_retentions: u64,
    /// Blocks deleted for the size limit (`prometheus_tsdb_size_retentions_total`).
    pub size_retentions: u64,
    /// Blocks open (`prometheus_tsdb_blocks_loaded`).
    pub blocks_loaded: u64,
    /// Bytes of the blocks on disk (`prometheus_tsdb_storage_blocks_bytes`).
    pub blocks_bytes: u64,
    /// Oldest time in the database, ms (`prometheus_tsdb_lowest_timestamp`).
    pub lowest_timestamp: i64,
    /// Seconds the WAL replay took at open (`prometheus_tsdb_data_replay_duration_seconds`).
    pub replay_seconds: f64,
}
