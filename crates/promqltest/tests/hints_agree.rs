//! `MemStorage` and the TSDB hand out the same counter-reset hints for the same native
//! histograms: the corpus runs on both, and an eval that spells a hint must not depend on
//! the storage. Pseudo-random series mix counter and gauge histograms, resets, schema
//! changes, stale markers, float samples and irregular spacing over many chunks.

use narthex_model::{CounterResetHint, FloatHistogram, Histogram, Labels, Span, labels, stale_nan};
use narthex_storage::{Appendable, HistogramSample, MemStorage, Queryable, SeriesRef, ValueType};

const DAY: i64 = 24 * 60 * 60 * 1000;

enum Gen {
    Float(f64),
    Int(Histogram),
    Flt(FloatHistogram),
}

fn series(seed: u64) -> Vec<(i64, Gen)> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut out = Vec::new();
    let (mut t, mut count, mut schema, mut gauge, mut int) = (0i64, 0u64, 0i32, false, true);
    // Odd seeds: rare events, so chunks fill up and are cut for size and time.
    let events = if seed % 2 == 1 { 1_000 } else { 40 };
    while out.len() < 700 && t < DAY - 3_600_000 {
        t += match rnd(10) {
            0 => 1_000,
            1 => 600_000,
            2..=5 => 15_000,
            _ => 60_000,
        };
        match rnd(events) {
            0 => count = rnd(3),
            1 => schema = rnd(3) as i32,
            2 => gauge = !gauge,
            5 => int = !int,
            3 => {
                out.push((t, Gen::Float(stale_nan())));
                continue;
            }
            4 => {
                out.push((t, Gen::Float(1.0)));
                continue;
            }
            _ => count += rnd(4),
        }
        let hint = if gauge {
            CounterResetHint::Gauge
        } else if rnd(events / 2) == 0 {
            CounterResetHint::CounterReset
        } else {
            CounterResetHint::Unknown
        };
        // Two buckets; the second one sometimes absent.
        let (a, b) = (count / 2, count - count / 2);
        let two = b > 0 || rnd(2) == 0;
        let spans = vec![Span {
            offset: 0,
            length: if two { 2 } else { 1 },
        }];
        if int {
            out.push((
                t,
                Gen::Int(Histogram {
                    counter_reset_hint: hint,
                    schema,
                    count: if two { count } else { a },
                    sum: count as f64,
                    positive_spans: spans,
                    positive_buckets: if two {
                        vec![a as i64, b as i64 - a as i64]
                    } else {
                        vec![a as i64]
                    },
                    ..Histogram::default()
                }),
            ));
        } else {
            out.push((
                t,
                Gen::Flt(FloatHistogram {
                    counter_reset_hint: hint,
                    schema,
                    count: if two { count as f64 } else { a as f64 },
                    sum: count as f64,
                    positive_spans: spans,
                    positive_buckets: if two {
                        vec![a as f64, b as f64]
                    } else {
                        vec![a as f64]
                    },
                    ..FloatHistogram::default()
                }),
            ));
        }
    }
    out
}

/// Every sample's time, kind and (for histograms) hint as `db` reads them back.
fn read(db: &dyn Queryable, l: &Labels) -> Vec<(i64, ValueType, Option<CounterResetHint>)> {
    let q = db.querier(i64::MIN / 4, i64::MAX / 4).expect("querier");
    let m = narthex_model::Matcher::new(
        narthex_model::MatchOp::Equal,
        "__name__",
        l.metric_name().unwrap_or(""),
    )
    .expect("matcher");
    let s = q.select(true, None, &[m]).unwrap().next().unwrap().unwrap();
    let mut it = s.iter();
    let mut out = Vec::new();
    loop {
        let vt = it.next();
        let hint = match vt {
            ValueType::None => break,
            ValueType::Float => None,
            ValueType::Histogram => Some(it.at_histogram().1.counter_reset_hint),
            ValueType::FloatHistogram => Some(it.at_float_histogram().1.counter_reset_hint),
        };
        out.push((it.at_t(), vt, hint));
    }
    out
}

fn load(db: &dyn Appendable, l: &Labels, samples: &[(i64, Gen)]) {
    let mut app = db.appender();
    let mut r = SeriesRef::UNKNOWN;
    for (t, g) in samples {
        r = match g {
            Gen::Float(f) => app.append(r, l, *t, *f),
            Gen::Int(h) => app.append_histogram(r, l, *t, HistogramSample::Int(h)),
            Gen::Flt(h) => app.append_histogram(r, l, *t, HistogramSample::Float(h)),
        }
        .expect("append");
    }
    app.commit().expect("commit");
}

#[test]
fn memstorage_and_tsdb_hand_out_the_same_hints() {
    let l = labels! { "__name__" => "h" };
    let mut seen = std::collections::BTreeMap::new();
    for seed in 1..=12 {
        let samples = series(seed);
        let mem = MemStorage::with_chunk_range(DAY);
        load(&mem, &l, &samples);
        let dir = tempfile::tempdir().expect("temp dir");
        let options = narthex_tsdb::Options {
            chunk_range: DAY,
            max_block_duration: DAY,
            retention_duration: 0,
            ..narthex_tsdb::Options::default()
        };
        let db = narthex_tsdb::Db::open(dir.path(), options).expect("open tsdb");
        load(&db, &l, &samples);
        let (a, b) = (read(&mem, &l), read(&db, &l));
        assert_eq!(a.len(), samples.len(), "seed {seed}");
        for x in &a {
            *seen.entry(format!("{:?}", x.2)).or_insert(0usize) += 1;
        }
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "seed {seed}");
        }
        assert_eq!(a.len(), b.len(), "seed {seed}");
    }
    // Every hint occurs, chunks starting (unknown) often enough to matter.
    for hint in [
        "Some(Unknown)",
        "Some(NotCounterReset)",
        "Some(Gauge)",
        "None",
    ] {
        assert!(seen.get(hint).is_some_and(|n| *n > 20), "{hint}: {seen:?}");
    }
}
