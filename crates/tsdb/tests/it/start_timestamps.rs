//! Start timestamps in the head: appended with a sample, read back with it, kept through
//! WAL replay and checkpoints, absent for series that never had one.

use narthex_model::{Histogram, Labels, MatchOp, Matcher, Span, labels};
use narthex_storage::{Appendable, HistogramSample, Queryable, SeriesRef, ValueType};
use narthex_tsdb::record::{self, Record};
use narthex_tsdb::wlog::RecordReader;
use narthex_tsdb::{Db, Options};

fn m(n: &str, v: &str) -> Matcher {
    Matcher::new(MatchOp::Equal, n, v).expect("valid matcher")
}

/// `(t, st, kind)` of every sample of the series named `name` in `[mint, maxt]`, and
/// whether its iterator said it may have start timestamps.
fn read(db: &Db, name: &str, mint: i64, maxt: i64) -> (Vec<(i64, i64, ValueType)>, bool) {
    let q = db.querier(mint, maxt).expect("querier");
    let mut set = q
        .select(true, None, &[m("__name__", name)])
        .expect("select");
    let Some(s) = set.next() else {
        return (Vec::new(), false);
    };
    let s = s.expect("series");
    let mut it = s.iter();
    let mut out = Vec::new();
    loop {
        let vt = it.next();
        if vt == ValueType::None {
            break;
        }
        out.push((it.at_t(), it.at_st(), vt));
    }
    (out, it.has_start_timestamps())
}

fn opts() -> Options {
    Options {
        samples_per_chunk: 8,
        chunk_range: 1_000,
        wal_segment_size: 64 * 1024,
        out_of_order_time_window: 10_000,
        ..Options::default()
    }
}

fn histogram(count: u64) -> Histogram {
    Histogram {
        schema: 0,
        count,
        sum: count as f64,
        positive_spans: vec![Span {
            offset: 0,
            length: 1,
        }],
        positive_buckets: vec![count as i64],
        ..Histogram::default()
    }
}

/// Floats with a start timestamp on every third sample (enough to cut chunks to disk),
/// histograms, and a series without any.
fn fill(db: &Db) -> (Labels, Labels, Labels) {
    let c = labels! { "__name__" => "c_total" };
    let h = labels! { "__name__" => "h" };
    let plain = labels! { "__name__" => "plain" };
    for t in 0..40i64 {
        let mut app = db.appender();
        let st = if t % 3 == 0 { t * 10 - 5 } else { 0 };
        app.append_with_st(SeriesRef::UNKNOWN, &c, t * 10, st, t as f64)
            .expect("append");
        app.append(SeriesRef::UNKNOWN, &plain, t * 10, 1.0)
            .expect("append");
        let hist = histogram(t as u64);
        app.append_histogram_with_st(
            SeriesRef::UNKNOWN,
            &h,
            t * 10,
            if t % 2 == 0 { 1 } else { 0 },
            HistogramSample::Int(&hist),
        )
        .expect("append");
        app.commit().expect("commit");
    }
    (c, h, plain)
}

fn check(db: &Db) {
    let (c, has) = read(db, "c_total", 0, 1_000);
    assert!(has);
    assert_eq!(c.len(), 40);
    for (t, st, vt) in &c {
        assert_eq!(*vt, ValueType::Float);
        let want = if (t / 10) % 3 == 0 { t - 5 } else { 0 };
        assert_eq!(*st, want, "sample at {t}");
    }
    let (h, has) = read(db, "h", 0, 1_000);
    assert!(has);
    assert_eq!(h.len(), 40);
    for (t, st, vt) in &h {
        assert_eq!(*vt, ValueType::Histogram);
        assert_eq!(*st, i64::from((t / 10) % 2 == 0), "histogram at {t}");
    }
    let (plain, has) = read(db, "plain", 0, 1_000);
    assert!(!has, "a series without start timestamps reads as before");
    assert_eq!(plain.len(), 40);
    assert!(plain.iter().all(|(_, st, _)| *st == 0));
    // A range without any sample that has one.
    let (c, has) = read(db, "c_total", 10, 20);
    assert_eq!(c.iter().map(|x| x.0).collect::<Vec<_>>(), vec![10, 20]);
    assert!(!has);
}

#[test]
fn appended_start_timestamps_read_back_and_survive_replay() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let db = Db::open(dir.path(), opts()).expect("open");
        fill(&db);
        check(&db);
    }
    // Chunks cut to `chunks_head/` are loaded from there on reopening; the start
    // timestamps of their samples come from the WAL.
    let db = Db::open(dir.path(), opts()).expect("reopen");
    check(&db);
}

#[test]
fn wal_holds_version_2_records_only_for_batches_with_start_timestamps() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let db = Db::open(dir.path(), opts()).expect("open");
        let (c, plain) = (
            labels! { "__name__" => "c_total" },
            labels! { "__name__" => "plain" },
        );
        let mut app = db.appender();
        app.append(SeriesRef::UNKNOWN, &plain, 10, 1.0)
            .expect("append");
        app.commit().expect("commit");
        let mut app = db.appender();
        app.append(SeriesRef::UNKNOWN, &plain, 20, 1.0)
            .expect("append");
        app.append_with_st(SeriesRef::UNKNOWN, &c, 20, 5, 1.0)
            .expect("append");
        app.commit().expect("commit");
    }
    let mut types = Vec::new();
    let mut sts = Vec::new();
    let mut r = RecordReader::open(&dir.path().join("wal")).expect("wal");
    while let Some(rec) = r.next_record() {
        let rec = rec.expect("record");
        types.push(rec[0]);
        if let Ok(Record::Samples(v)) = record::decode(rec) {
            sts.push(v.iter().map(|s| s.st).collect::<Vec<_>>());
        }
    }
    assert_eq!(
        types,
        vec![1, 2, 1, 11],
        "series, samples v1, series, samples v2"
    );
    assert_eq!(sts, vec![vec![0], vec![0, 5]]);
}

#[test]
fn out_of_order_samples_keep_their_start_timestamps() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = labels! { "__name__" => "c_total" };
    let db = Db::open(dir.path(), opts()).expect("open");
    let mut app = db.appender();
    app.append_with_st(SeriesRef::UNKNOWN, &c, 100, 50, 1.0)
        .expect("append");
    app.commit().expect("commit");
    let mut app = db.appender();
    app.append_with_st(SeriesRef::UNKNOWN, &c, 80, 60, 1.0)
        .expect("out-of-order append");
    app.append(SeriesRef::UNKNOWN, &c, 90, 1.0)
        .expect("out-of-order append");
    app.commit().expect("commit");
    let (got, has) = read(&db, "c_total", 0, 1_000);
    assert!(has);
    let got: Vec<(i64, i64)> = got.iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(got, vec![(80, 60), (90, 0), (100, 50)]);
    drop(db);
    let db = Db::open(dir.path(), opts()).expect("reopen");
    let (got, _) = read(&db, "c_total", 0, 1_000);
    let got: Vec<(i64, i64)> = got.iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(got, vec![(80, 60), (90, 0), (100, 50)]);
}

#[test]
fn checkpoints_keep_start_timestamps() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = labels! { "__name__" => "c_total" };
    let options = Options {
        wal_segment_size: 32 * 1024,
        ..opts()
    };
    {
        let db = Db::open(dir.path(), options).expect("open");
        // Enough batches for several segments, so truncation writes a checkpoint.
        for t in 0..10_000i64 {
            let mut app = db.appender();
            app.append_with_st(SeriesRef::UNKNOWN, &c, t, t - 1, t as f64)
                .expect("append");
            app.commit().expect("commit");
        }
        let report = db.truncate_head(5_000).expect("truncate");
        assert!(report.checkpoint.is_some(), "{report:?}");
    }
    let db = Db::open(dir.path(), options).expect("reopen");
    let (got, has) = read(&db, "c_total", 5_000, 10_000);
    assert!(has);
    assert_eq!(got.len(), 5_000);
    assert!(got.iter().all(|(t, st, _)| *st == t - 1), "{:?}", &got[..3]);
}
