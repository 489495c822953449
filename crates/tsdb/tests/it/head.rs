//! The database through the storage traits: appends, queries, chunk cutting, replay,
//! deletion, and a model check against a simple in-memory map.

use std::collections::BTreeMap;

use narthex_model::{Labels, MatchOp, Matcher, labels, stale_nan};
use narthex_storage::{Appendable, Queryable, SeriesRef, StorageError, ValueType};
use narthex_tsdb::{Db, Options};
use proptest::prelude::*;

fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
    Matcher::new(op, n, v).expect("valid matcher")
}

/// Every float sample of every series in range, by label string.
fn dump(db: &Db, mint: i64, maxt: i64) -> BTreeMap<String, Vec<(i64, u64)>> {
    let q = db.querier(mint, maxt).expect("querier");
    let mut out = BTreeMap::new();
    for s in q.select(true, None, &[]).expect("select") {
        let s = s.expect("series");
        let mut it = s.iter();
        let mut v = Vec::new();
        while it.next() == ValueType::Float {
            let (t, x) = it.at();
            v.push((t, x.to_bits()));
        }
        out.insert(s.labels().to_string(), v);
    }
    out
}

fn small_chunks() -> Options {
    Options {
        samples_per_chunk: 8,
        chunk_range: 1_000,
        wal_segment_size: 64 * 1024,
        ..Options::default()
    }
}

#[test]
fn append_query_reopen_with_chunks_on_disk() {
    let dir = tempfile::tempdir().expect("tmp");
    let series: Vec<Labels> = (0..20)
        .map(|i| labels! { "__name__" => "m", "i" => i.to_string() })
        .collect();
    {
        let db = Db::open(dir.path(), small_chunks()).expect("open");
        for t in 0..200i64 {
            let mut app = db.appender();
            for (i, l) in series.iter().enumerate() {
                let v = if t == 150 && i == 3 {
                    stale_nan()
                } else {
                    (t * 10 + i as i64) as f64
                };
                app.append(SeriesRef::UNKNOWN, l, t * 15, v)
                    .expect("append");
            }
            app.commit().expect("commit");
        }
        assert!(
            std::fs::read_dir(dir.path().join("chunks_head"))
                .expect("dir")
                .count()
                > 0,
            "full chunks went to disk"
        );
        let before = dump(&db, i64::MIN, i64::MAX);
        assert_eq!(before.len(), 20);
        assert!(before.values().all(|v| v.len() == 200));
        drop(db);
        let db = Db::open(dir.path(), small_chunks()).expect("reopen");
        assert!(db.replay_report().mmapped_chunks > 0);
        assert_eq!(
            dump(&db, i64::MIN, i64::MAX),
            before,
            "replay restores every sample exactly once"
        );
        let stale = &dump(&db, 150 * 15, 150 * 15)[r#"{__name__="m", i="3"}"#];
        assert!(
            narthex_model::is_stale_nan(f64::from_bits(stale[0].1)),
            "stale markers survive bit for bit"
        );
    }
}

#[test]
fn append_errors_are_prometheus_kinds() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let l = labels! { "__name__" => "x" };
    let mut app = db.appender();
    let r = app
        .append(SeriesRef::UNKNOWN, &l, 100, 1.0)
        .expect("append");
    assert_eq!(
        app.append(r, &l, 50, 1.0),
        Err(StorageError::OutOfOrderSample)
    );
    assert_eq!(
        app.append(r, &l, 100, 2.0),
        Err(StorageError::DuplicateSampleForTimestamp)
    );
    assert_eq!(app.append(r, &l, 100, 1.0), Ok(r));
    app.commit().expect("commit");
    let mut app = db.appender();
    assert_eq!(
        app.append(r, &l, 99, 1.0),
        Err(StorageError::OutOfOrderSample)
    );
    assert_eq!(
        app.append(r, &l, 100, 3.0),
        Err(StorageError::DuplicateSampleForTimestamp)
    );
    assert!(matches!(
        app.append(SeriesRef::UNKNOWN, &Labels::empty(), 1, 1.0),
        Err(StorageError::InvalidLabels(_))
    ));
    app.rollback().expect("rollback");
    assert_eq!(
        dump(&db, 0, 1000)[r#"{__name__="x"}"#],
        vec![(100, 1f64.to_bits())]
    );
}

#[test]
fn second_process_cannot_open_the_same_directory() {
    let dir = tempfile::tempdir().expect("tmp");
    let _db = Db::open(dir.path(), Options::default()).expect("open");
    let err = Db::open(dir.path(), Options::default())
        .err()
        .expect("locked");
    assert!(err.to_string().contains("in use"), "{err}");
}

#[test]
fn delete_hides_samples_and_survives_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        let mut app = db.appender();
        for job in ["a", "b"] {
            let l = labels! { "__name__" => "up", "job" => job };
            for t in 0..10 {
                app.append(SeriesRef::UNKNOWN, &l, t, 1.0).expect("append");
            }
        }
        app.commit().expect("commit");
        db.delete(3, 5, &[m(MatchOp::Equal, "job", "a")])
            .expect("delete");
        let d = dump(&db, 0, 100);
        assert_eq!(d[r#"{__name__="up", job="a"}"#].len(), 7);
        assert_eq!(d[r#"{__name__="up", job="b"}"#].len(), 10);
    }
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(dump(&db, 0, 100)[r#"{__name__="up", job="a"}"#].len(), 7);
}

#[test]
fn label_lookups_and_matchers() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut app = db.appender();
    for (job, zone) in [("api", "a"), ("api", "b"), ("db", "")] {
        let l = Labels::from_pairs([("__name__", "up"), ("job", job), ("zone", zone)]);
        app.append(SeriesRef::UNKNOWN, &l, 10, 1.0).expect("append");
    }
    app.commit().expect("commit");
    let q = db.querier(0, 100).expect("querier");
    let hints = narthex_storage::LabelHints::default();
    assert_eq!(
        q.label_values("job", &hints, &[]).expect("values"),
        vec!["api", "db"]
    );
    assert_eq!(
        q.label_names(&hints, &[m(MatchOp::Equal, "job", "db")])
            .expect("names"),
        vec!["__name__", "job"]
    );
    let n = q
        .select(true, None, &[m(MatchOp::Equal, "zone", "")])
        .expect("select")
        .count();
    assert_eq!(n, 1, "zone=\"\" selects the series without a zone");
    let q = db.querier(20, 30).expect("querier");
    assert_eq!(
        q.select(true, None, &[]).expect("select").count(),
        0,
        "no samples in range"
    );
}

#[derive(Clone, Debug)]
enum Op {
    Append(u8, i64, u8),
    Commit,
    Rollback,
    Delete(u8, i64, i64),
    Reopen,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..4u8, 0..60i64, 0..4u8).prop_map(|(s, t, v)| Op::Append(s, t, v)),
        2 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        1 => (0..4u8, 0..60i64, 0..20i64).prop_map(|(s, a, w)| Op::Delete(s, a, a + w)),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random appends, commits, rollbacks, deletions, compactions and restarts agree with a
    /// BTreeMap.
    #[test]
    fn agrees_with_a_model(ops in proptest::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().expect("tmp");
        let opts = Options { samples_per_chunk: 4, chunk_range: 20, wal_segment_size: 32 * 1024, ..Options::default() };
        let mut db = Some(Db::open(dir.path(), opts).expect("open"));
        let label = |s: u8| labels! { "__name__" => "m", "s" => s.to_string() };
        let mut model: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
        let mut pending: Vec<(u8, i64, f64)> = Vec::new();
        let mut deleted: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        let mut unspecified: std::collections::BTreeSet<(String, i64)> = Default::default();
        // Series the head holds (appenders create them even when they roll back), and
        // the ones in the WAL, which survive a restart.
        let mut known: std::collections::BTreeSet<String> = Default::default();
        let mut logged: std::collections::BTreeSet<String> = Default::default();
        // The reference each series was last given: appends pass it, as scrapes do (it may
        // have gone stale through a compaction's truncation; the labels then decide).
        let mut refs: BTreeMap<u8, SeriesRef> = BTreeMap::new();
        for o in ops {
            match o {
                Op::Append(s, t, v) => pending.push((s, t, f64::from(v))),
                Op::Commit | Op::Rollback => {
                    let d = db.as_ref().expect("db");
                    let mut app = d.appender();
                    let mut accepted = Vec::new();
                    let mut touched: Vec<String> = Vec::new();
                    for (s, t, v) in pending.drain(..) {
                        let r = refs.get(&s).copied().unwrap_or(SeriesRef::UNKNOWN);
                        match app.append(r, &label(s), t, v) {
                            Ok(r) => {
                                refs.insert(s, r);
                                accepted.push((s, t, v));
                            }
                            // Out of bounds is decided before the series is looked up, as in
                            // Prometheus: no series is created.
                            Err(narthex_storage::StorageError::OutOfBounds) => continue,
                            Err(_) => {}
                        }
                        touched.push(label(s).to_string());
                    }
                    known.extend(touched.iter().cloned());
                    if matches!(o, Op::Commit) {
                        logged.extend(touched);
                    }
                    if matches!(o, Op::Commit) {
                        app.commit().expect("commit");
                        for (s, t, v) in accepted {
                            let k = label(s).to_string();
                            if deleted.get(&k).is_some_and(|d| d.iter().any(|(a, b)| t >= *a && t <= *b)) {
                                // Appended into a deleted interval: hidden while the head
                                // keeps the tombstone, visible once compaction dropped it
                                // with the series' old data. Either is right.
                                unspecified.insert((k.clone(), t));
                            }
                            let series = model.entry(k).or_default();
                            // A sample at an existing timestamp with the same value is a no-op.
                            series.entry(t).or_insert(v);
                        }
                    } else {
                        app.rollback().expect("rollback");
                    }
                }
                Op::Delete(s, a, b) => {
                    db.as_ref().expect("db").delete(a, b, &[Matcher::new(MatchOp::Equal, "s", s.to_string()).expect("m")]).expect("delete");
                    // As in Prometheus, a deleted interval hides every sample in it, also
                    // ones appended later, until compaction rewrites the data.
                    if known.contains(&label(s).to_string()) {
                        deleted.entry(label(s).to_string()).or_default().push((a, b));
                        logged.insert(label(s).to_string());
                    }
                    if let Some(m) = model.get_mut(&label(s).to_string()) {
                        m.retain(|t, _| *t < a || *t > b);
                    }
                }
                Op::Compact => {
                    db.as_ref().expect("db").compact().expect("compact");
                }
                Op::Reopen => {
                    pending.clear();
                    // References belong to one opened database (a series never logged is
                    // forgotten, and its reference handed out again).
                    refs.clear();
                    known = logged.clone();
                    drop(db.take());
                    db = Some(Db::open(dir.path(), opts).expect("reopen"));
                }
            }
        }
        let got: BTreeMap<String, Vec<(i64, u64)>> = dump(db.as_ref().expect("db"), i64::MIN, i64::MAX)
            .into_iter()
            .map(|(k, v)| {
                let v: Vec<_> = v.into_iter().filter(|(t, _)| !unspecified.contains(&(k.clone(), *t))).collect();
                (k, v)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let want: BTreeMap<String, Vec<(i64, u64)>> = model
            .into_iter()
            .map(|(k, v)| {
                let v = v
                    .into_iter()
                    .filter(|(t, _)| !unspecified.contains(&(k.clone(), *t)))
                    .map(|(t, x)| (t, x.to_bits()))
                    .collect::<Vec<_>>();
                (k, v)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn truncation_checkpoints_the_wal_and_survives_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = Options {
        samples_per_chunk: 8,
        chunk_range: 1_000,
        wal_segment_size: 32 * 1024,
        ..Options::default()
    };
    let old = labels! { "__name__" => "old" };
    let live = labels! { "__name__" => "live" };
    {
        let db = Db::open(dir.path(), opts).expect("open");
        for t in 0..3000i64 {
            let mut app = db.appender();
            if t < 1000 {
                app.append(SeriesRef::UNKNOWN, &old, t, t as f64)
                    .expect("append");
            }
            app.append(SeriesRef::UNKNOWN, &live, t, t as f64)
                .expect("append");
            app.commit().expect("commit");
        }
        let segs_before = narthex_tsdb::wlog::segments(&dir.path().join("wal")).expect("segs");
        assert!(segs_before.len() >= 3, "{segs_before:?}");
        let report = db.truncate_head(2000).expect("truncate");
        assert_eq!(report.series_removed, 1, "{report:?}");
        assert!(report.checkpoint.is_some(), "{report:?}");
        let d = dump(&db, i64::MIN, i64::MAX);
        assert!(!d.contains_key(r#"{__name__="old"}"#));
        let first_live = d[r#"{__name__="live"}"#][0].0;
        assert!(
            first_live <= 2000,
            "chunks overlapping the bound are kept: {first_live}"
        );
    }
    let db = Db::open(dir.path(), opts).expect("reopen");
    let d = dump(&db, 2000, i64::MAX);
    assert_eq!(
        d.len(),
        1,
        "the removed series stays removed: {:?}",
        d.keys()
    );
    assert_eq!(
        d[r#"{__name__="live"}"#].len(),
        1000,
        "every sample from the bound on survives"
    );
    assert!(
        narthex_tsdb::checkpoint::last_checkpoint(&dir.path().join("wal"))
            .expect("cp")
            .is_some()
    );
}

#[test]
fn native_histograms_are_stored_and_replayed() {
    use narthex_model::{FloatHistogram, Histogram, Span};
    use narthex_storage::HistogramSample;
    let dir = tempfile::tempdir().expect("tmp");
    let h = |i: u64| Histogram {
        schema: 1,
        zero_threshold: 0.001,
        zero_count: i,
        count: 5 * i + 2,
        sum: i as f64 * 1.5,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![i as i64, i as i64 + 1],
        negative_spans: vec![Span {
            offset: 1,
            length: 1,
        }],
        negative_buckets: vec![i as i64 + 1],
        ..Histogram::default()
    };
    let fh = |i: u64| FloatHistogram {
        sum: 0.25 * i as f64,
        ..h(i).to_float()
    };
    let ints = labels! { "__name__" => "h_int" };
    let floats = labels! { "__name__" => "h_float" };
    let mixed = labels! { "__name__" => "mixed" };
    let opts = Options {
        samples_per_chunk: 8,
        ..Options::default()
    };
    let read = |db: &Db| -> Vec<(String, i64, String)> {
        let q = db.querier(i64::MIN, i64::MAX).expect("querier");
        let mut out = Vec::new();
        for s in q.select(true, None, &[]).expect("select") {
            let s = s.expect("series");
            let mut it = s.iter();
            loop {
                match it.next() {
                    ValueType::None => break,
                    ValueType::Float => {
                        out.push((s.labels().to_string(), it.at_t(), format!("{}", it.at().1)))
                    }
                    ValueType::Histogram => out.push((
                        s.labels().to_string(),
                        it.at_t(),
                        format!("{:?}", it.at_histogram().1),
                    )),
                    ValueType::FloatHistogram => out.push((
                        s.labels().to_string(),
                        it.at_t(),
                        format!("{:?}", it.at_float_histogram().1),
                    )),
                }
            }
        }
        out
    };
    let before = {
        let db = Db::open(dir.path(), opts).expect("open");
        for i in 0..40u64 {
            let t = i as i64 * 1000;
            let mut app = db.appender();
            app.append_histogram(SeriesRef::UNKNOWN, &ints, t, HistogramSample::Int(&h(i)))
                .expect("int");
            app.append_histogram(
                SeriesRef::UNKNOWN,
                &floats,
                t,
                HistogramSample::Float(&fh(i)),
            )
            .expect("float");
            if i % 10 < 5 {
                app.append(SeriesRef::UNKNOWN, &mixed, t, i as f64)
                    .expect("float sample");
            } else {
                app.append_histogram(SeriesRef::UNKNOWN, &mixed, t, HistogramSample::Int(&h(i)))
                    .expect("hist sample");
            }
            app.commit().expect("commit");
        }
        let mut app = db.appender();
        assert!(matches!(
            app.append_histogram(
                SeriesRef::UNKNOWN,
                &ints,
                99_000,
                HistogramSample::Int(&Histogram { count: 0, ..h(1) })
            ),
            Err(StorageError::InvalidHistogram(_))
        ));
        let got = read(&db);
        assert_eq!(got.len(), 120);
        got
    };
    let db = Db::open(dir.path(), opts).expect("reopen");
    assert_eq!(read(&db), before, "histograms survive a restart exactly");
    let int_first = before
        .iter()
        .find(|(l, t, _)| l.contains("h_int") && *t == 5000)
        .expect("h_int at 5s");
    assert!(int_first.2.contains("zero_count: 5"), "{}", int_first.2);
    drop(db);

    // Into blocks: 5 s head blocks, merged into 15 s and 45 s ranges (chunks copied).
    let blocky = Options {
        chunk_range: 5_000,
        max_block_duration: 45_000,
        ..opts
    };
    let db = Db::open(dir.path(), blocky).expect("reopen with small blocks");
    db.compact().expect("compact");
    assert!(
        db.blocks().iter().any(|b| b.meta().compaction.level >= 2),
        "merged blocks"
    );
    let stats = db
        .blocks()
        .iter()
        .map(|b| b.meta().stats.num_histogram_samples)
        .sum::<u64>();
    assert!(stats > 50, "{stats} histogram samples in blocks");
    assert_eq!(
        read(&db),
        before,
        "histograms read back from blocks exactly"
    );
    drop(db);
    let db = Db::open(dir.path(), blocky).expect("reopen");
    assert_eq!(read(&db), before, "and after a restart");
    // Deleting a range and cleaning tombstones re-encodes the histogram chunks.
    db.delete(
        10_000,
        12_000,
        &[Matcher::new(MatchOp::Equal, "__name__", "h_float").expect("m")],
    )
    .expect("delete");
    db.clean_tombstones().expect("clean tombstones");
    let want: Vec<_> = before
        .iter()
        .filter(|(l, t, _)| !(l.contains("h_float") && (10_000..=12_000).contains(t)))
        .cloned()
        .collect();
    // Re-encoding joins what were separate chunks, so a sample that began a chunk
    // (hint Unknown: compare with the previous) may now follow in one (NotCounterReset):
    // the same meaning for these increasing histograms. Everything else is equal.
    let no_hint = |v: &[(String, i64, String)]| -> Vec<(String, i64, String)> {
        v.iter()
            .map(|(l, t, h)| (l.clone(), *t, h.replace("NotCounterReset", "Unknown")))
            .collect()
    };
    let got = read(&db);
    assert!(!got.iter().any(|(_, _, h)| h.contains("hint: CounterReset")));
    assert_eq!(got.len(), want.len());
    for (g, w) in no_hint(&got).iter().zip(&no_hint(&want)) {
        assert_eq!(g, w, "re-encoded histogram chunks");
    }
}

#[test]
fn out_of_order_window_accepts_recent_old_samples() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = Options {
        out_of_order_time_window: 10 * 60_000,
        samples_per_chunk: 8,
        ..Options::default()
    };
    let l = labels! { "__name__" => "ooo" };
    let other = labels! { "__name__" => "other" };
    {
        let db = Db::open(dir.path(), opts).expect("open");
        let mut app = db.appender();
        for t in [60_000i64, 120_000, 3_600_000] {
            app.append(SeriesRef::UNKNOWN, &l, t, t as f64)
                .expect("in order");
        }
        app.append(SeriesRef::UNKNOWN, &other, 3_600_000, 1.0)
            .expect("other");
        app.commit().expect("commit");
        let mut app = db.appender();
        // Within 10 minutes of the head's newest sample (1h): accepted.
        app.append(SeriesRef::UNKNOWN, &l, 3_300_000, 1.5)
            .expect("out of order, in window");
        app.append(SeriesRef::UNKNOWN, &l, 3_000_000, 2.5)
            .expect("older still, in window");
        // Older than the window: too old.
        assert_eq!(
            app.append(SeriesRef::UNKNOWN, &l, 2_000_000, 9.0),
            Err(StorageError::TooOldSample)
        );
        app.commit().expect("commit");
        let mut app = db.appender();
        assert_eq!(
            app.append(SeriesRef::UNKNOWN, &l, 3_300_000, 7.0),
            Err(StorageError::DuplicateSampleForTimestamp)
        );
        assert!(
            app.append(SeriesRef::UNKNOWN, &l, 3_300_000, 1.5).is_ok(),
            "the same sample again is a no-op"
        );
        app.rollback().expect("rollback");
        let got: Vec<i64> = dump(&db, 0, i64::MAX)[r#"{__name__="ooo"}"#]
            .iter()
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(
            got,
            vec![60_000, 120_000, 3_000_000, 3_300_000, 3_600_000],
            "merged in time order"
        );
    }
    let db = Db::open(dir.path(), opts).expect("reopen");
    let got: Vec<i64> = dump(&db, 0, i64::MAX)[r#"{__name__="ooo"}"#]
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        got,
        vec![60_000, 120_000, 3_000_000, 3_300_000, 3_600_000],
        "out-of-order samples survive a restart"
    );
    // Without a window the same sample is out of order, but what was acknowledged stays.
    drop(db);
    let db = Db::open(dir.path(), Options::default()).expect("reopen without window");
    assert_eq!(
        dump(&db, 0, i64::MAX)[r#"{__name__="ooo"}"#].len(),
        5,
        "nothing acknowledged is dropped"
    );
    let mut app = db.appender();
    assert_eq!(
        app.append(SeriesRef::UNKNOWN, &l, 3_500_000, 1.0),
        Err(StorageError::OutOfOrderSample)
    );
}

/// A series switching between floats and histograms inside one commit keeps every sample,
/// in memory and after replay (the batch is logged and applied in segments).
#[test]
fn floats_and_histograms_interleaved_in_one_commit() {
    use narthex_model::{Histogram, Span};
    use narthex_storage::HistogramSample;
    let dir = tempfile::tempdir().expect("tmp");
    let l = labels! { "__name__" => "mixed_metric" };
    let h = Histogram {
        schema: 0,
        count: 4,
        sum: 5.0,
        positive_spans: vec![Span {
            offset: 0,
            length: 3,
        }],
        positive_buckets: vec![1, 1, -1],
        ..Histogram::default()
    };
    let kinds = |db: &Db| -> Vec<(i64, ValueType)> {
        let q = db.querier(i64::MIN, i64::MAX).expect("querier");
        let s = q
            .select(true, None, &[])
            .expect("select")
            .next()
            .expect("series")
            .expect("ok");
        let mut it = s.iter();
        let mut out = Vec::new();
        loop {
            match it.next() {
                ValueType::None => break,
                k => out.push((it.at_t(), k)),
            }
        }
        out
    };
    let want = vec![
        (0, ValueType::Float),
        (60_000, ValueType::Float),
        (120_000, ValueType::Float),
        (180_000, ValueType::Histogram),
        (240_000, ValueType::Histogram),
        (300_000, ValueType::Float),
    ];
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        let mut app = db.appender();
        for t in [0, 60_000, 120_000] {
            app.append(SeriesRef::UNKNOWN, &l, t, 1.0).expect("float");
        }
        for t in [180_000, 240_000] {
            app.append_histogram(SeriesRef::UNKNOWN, &l, t, HistogramSample::Int(&h))
                .expect("histogram");
        }
        app.append(SeriesRef::UNKNOWN, &l, 300_000, 2.0)
            .expect("float");
        app.commit().expect("commit");
        assert_eq!(kinds(&db), want);
    }
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(kinds(&db), want, "replay keeps the order too");
}

/// Found by the model check: a compaction that persists nothing (the range's data was
/// deleted) must still drop the head chunk holding it from disk, or a restart brings the
/// deleted sample back after its tombstone was checkpointed away.
#[test]
fn deleted_data_stays_deleted_after_an_empty_compaction_and_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = Options {
        samples_per_chunk: 4,
        chunk_range: 20,
        wal_segment_size: 32 * 1024,
        ..Options::default()
    };
    let l = labels! { "__name__" => "m", "s" => "2" };
    let append = |db: &Db, t: i64| {
        let mut app = db.appender();
        app.append(SeriesRef::UNKNOWN, &l, t, 0.0).expect("append");
        app.commit().expect("commit");
    };
    let db = Db::open(dir.path(), opts).expect("open");
    append(&db, 24);
    drop(db);
    let db = Db::open(dir.path(), opts).expect("open");
    db.delete(
        18,
        24,
        &[Matcher::new(MatchOp::Equal, "s", "2").expect("m")],
    )
    .expect("delete");
    drop(db);
    let db = Db::open(dir.path(), opts).expect("open");
    append(&db, 55);
    db.compact().expect("compact");
    drop(db);
    let db = Db::open(dir.path(), opts).expect("open");
    let got = dump(&db, i64::MIN, i64::MAX);
    assert_eq!(
        got.values()
            .next()
            .map(|v| v.iter().map(|(t, _)| *t).collect::<Vec<_>>()),
        Some(vec![55]),
        "{got:?}"
    );
}

/// Found by the model check: a series dropped by head truncation and created again gets a
/// new reference; on replay the WAL's later records for it map to the first reference, and
/// its tombstones must follow them.
#[test]
fn tombstones_of_a_recreated_series_survive_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = Options {
        samples_per_chunk: 4,
        chunk_range: 20,
        wal_segment_size: 32 * 1024,
        ..Options::default()
    };
    let (a, b) = (
        labels! { "__name__" => "m", "s" => "3" },
        labels! { "__name__" => "m", "s" => "0" },
    );
    let db = Db::open(dir.path(), opts).expect("open");
    let mut app = db.appender();
    app.append(SeriesRef::UNKNOWN, &a, 0, 0.0).expect("append");
    app.append(SeriesRef::UNKNOWN, &b, 0, 0.0).expect("append");
    app.append(SeriesRef::UNKNOWN, &b, 31, 0.0).expect("append");
    app.commit().expect("commit");
    db.compact().expect("compact"); // s=3 has nothing left in the head: dropped
    let mut app = db.appender();
    app.append(SeriesRef::UNKNOWN, &a, 49, 0.0).expect("append"); // created again
    app.commit().expect("commit");
    db.delete(
        33,
        49,
        &[Matcher::new(MatchOp::Equal, "s", "3").expect("m")],
    )
    .expect("delete");
    drop(db);
    let db = Db::open(dir.path(), opts).expect("open");
    let got = dump(&db, i64::MIN, i64::MAX);
    let s3: Vec<i64> = got
        .iter()
        .find(|(k, _)| k.contains("s=\"3\""))
        .map(|(_, v)| v.iter().map(|(t, _)| *t).collect())
        .unwrap_or_default();
    assert_eq!(s3, vec![0], "{got:?}");
}

#[test]
fn head_stats_count_cardinalities() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut app = db.appender();
    for (name, job, n) in [("up", "a", 3), ("up", "b", 1), ("http", "a", 2)] {
        for i in 0..n {
            let l = labels! { "__name__" => name, "job" => job, "i" => i.to_string() };
            app.append(SeriesRef::UNKNOWN, &l, 1000, 1.0)
                .expect("append");
        }
    }
    app.commit().expect("commit");
    let s = db.head_stats(2);
    assert_eq!(s.num_series, 6);
    assert_eq!(s.chunk_count, 6);
    assert_eq!((s.min_time, s.max_time), (1000, 1000));
    assert_eq!(
        s.series_count_by_metric_name,
        vec![("up".to_string(), 4), ("http".to_string(), 2)]
    );
    assert_eq!(
        s.label_value_count_by_label_name,
        vec![("i".to_string(), 3), ("__name__".to_string(), 2)]
    );
    assert_eq!(
        s.series_count_by_label_value_pair,
        vec![("job=a".to_string(), 5), ("__name__=up".to_string(), 4)]
    );
    // i: 0 1 2 -> 3 bytes; __name__: up http -> 6; job: a b -> 2.
    assert_eq!(
        s.memory_in_bytes_by_label_name,
        vec![("__name__".to_string(), 6), ("i".to_string(), 3)]
    );
    // 3 (i) + 2 (__name__) + 2 (job) pairs.
    assert_eq!(s.num_label_pairs, 7);
}

#[test]
fn out_of_order_window_changes_while_open() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert_eq!(db.out_of_order_time_window(), 0);
    let l = labels! { "__name__" => "ooo" };
    let mut app = db.appender();
    app.append(SeriesRef::UNKNOWN, &l, 3_600_000, 1.0)
        .expect("in order");
    app.commit().expect("commit");
    let mut app = db.appender();
    assert_eq!(
        app.append(SeriesRef::UNKNOWN, &l, 3_500_000, 2.0),
        Err(StorageError::OutOfOrderSample),
        "no window at open"
    );
    drop(app);
    db.set_out_of_order_time_window(10 * 60_000);
    assert_eq!(db.out_of_order_time_window(), 600_000);
    let mut app = db.appender();
    app.append(SeriesRef::UNKNOWN, &l, 3_500_000, 2.0)
        .expect("out of order, within the new window");
    assert_eq!(
        app.append(SeriesRef::UNKNOWN, &l, 2_000_000, 3.0),
        Err(StorageError::TooOldSample)
    );
    app.commit().expect("commit");
    db.set_out_of_order_time_window(0);
    let mut app = db.appender();
    assert_eq!(
        app.append(SeriesRef::UNKNOWN, &l, 3_400_000, 4.0),
        Err(StorageError::OutOfOrderSample),
        "window closed again"
    );
    drop(app);
    let got: Vec<i64> = dump(&db, 0, 4_000_000)
        .into_values()
        .flatten()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(got, vec![3_500_000, 3_600_000]);
}
