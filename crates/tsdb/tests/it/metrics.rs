//! `Db::metrics`: the figures behind Prometheus's `prometheus_tsdb_*` metrics move as the
//! database works.

use narthex_model::Labels;
use narthex_storage::{Appendable, SeriesRef, StorageError};
use narthex_tsdb::{Db, Options};

const H: i64 = 3_600_000;

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())])
}

#[test]
fn metrics_follow_appends_rejections_compaction_and_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let m0 = db.metrics();
    assert_eq!(m0.head_series, 0);
    assert_eq!(m0.samples_appended, 0);
    assert_eq!(m0.head_chunks, 0);

    // 10 series, 4 hours at 15 s: several head chunks per series.
    let mut app = db.appender();
    let mut refs = [SeriesRef::UNKNOWN; 10];
    for t in (0..4 * H).step_by(15_000) {
        for (i, r) in refs.iter_mut().enumerate() {
            *r = app.append(*r, &labels(i), t, t as f64).expect("append");
        }
    }
    app.commit().expect("commit");
    let m1 = db.metrics();
    assert_eq!(m1.head_series, 10);
    assert_eq!(m1.head_series_created, 10);
    assert_eq!(m1.samples_appended, 10 * (4 * H / 15_000) as u64);
    assert!(m1.head_chunks >= 20, "{m1:?}");
    assert_eq!(m1.head_chunks, m1.head_chunks_created);
    assert!(
        m1.wal_page_flushes > 0 && m1.wal_completed_pages > 0,
        "{m1:?}"
    );
    assert_eq!((m1.head_min_time, m1.head_max_time), (0, 4 * H - 15_000));
    assert_eq!(m1.active_appenders, 0);

    // An out-of-order sample is refused and counted (one older than the head's
    // appendable window, half a chunk range back, would be out of bounds instead).
    let mut app = db.appender();
    let err = app
        .append(refs[0], &labels(0), 4 * H - 60_000, 1.0)
        .unwrap_err();
    assert!(matches!(err, StorageError::OutOfOrderSample), "{err:?}");
    assert_eq!(db.metrics().active_appenders, 1);
    app.rollback().expect("rollback");
    assert_eq!(db.metrics().out_of_order_samples, 1);

    // Compaction writes the oldest two hours as a block and truncates the head.
    db.compact().expect("compact");
    let m2 = db.metrics();
    assert_eq!(m2.compactions_triggered, 1);
    assert_eq!(m2.compactions, 1);
    assert_eq!(m2.compactions_failed, 0);
    assert_eq!(m2.blocks_loaded, 1);
    assert!(m2.blocks_bytes > 0);
    assert!(m2.head_truncations >= 1);
    assert!(m2.head_chunks_removed > 0);
    assert_eq!(
        m2.head_chunks,
        m2.head_chunks_created - m2.head_chunks_removed
    );
    assert_eq!(m2.lowest_timestamp, 0);
    assert!(m2.head_min_time >= 2 * H, "{m2:?}");

    // Samples older than the head's lower bound are out of bounds now.
    let mut app = db.appender();
    let err = app.append(refs[0], &labels(0), 1_000, 1.0).unwrap_err();
    assert!(matches!(err, StorageError::OutOfBounds), "{err:?}");
    app.rollback().expect("rollback");
    assert_eq!(db.metrics().out_of_bound_samples, 1);
    db.close().expect("close");

    // Reopened: the chunks on disk are counted, the replay timed.
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    let m3 = db.metrics();
    assert_eq!(m3.head_series, 10);
    assert!(m3.head_chunks > 0);
    assert!(m3.replay_seconds > 0.0);
    assert_eq!(m3.blocks_loaded, 1);
}
