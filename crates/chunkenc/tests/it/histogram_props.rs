//! Property tests for histogram chunks: random sequences of histograms (growing and
//! shrinking bucket sets, resets, schema changes, stale markers, gauges) go through the
//! appenders, which cut and recode as they see fit. Decoding every chunk must give back the
//! same histograms, up to buckets that are empty; every chunk must equal a from-scratch
//! encoding of its own decoded samples; and continuing a chunk must work.

use std::collections::BTreeMap;

use narthex_chunkenc::histogram::{
    CounterResetHint, FloatHistogram, FloatHistogramAppender, FloatHistogramIterator, Histogram,
    HistogramAppend, HistogramAppender, HistogramIterator, STALE_NAN_BITS, Span,
};
use proptest::prelude::*;

/// One step of the generator: what changes before the next histogram.
#[derive(Clone, Debug)]
enum Op {
    /// Observations land in bucket `idx` (new buckets appear this way).
    Observe { idx: i64, n: u64, negative: bool },
    /// An empty bucket is dropped from the spans.
    DropEmpty,
    /// Counter reset: everything restarts from zero.
    Reset,
    /// Schema changes.
    Schema(i32),
    /// A stale marker instead of a histogram.
    Stale,
    /// Switch between counter and gauge histograms.
    FlipGauge,
    /// Gauge only: a bucket loses observations.
    Decrease { idx: i64 },
    /// Nothing changes.
    Same,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (-6i64..10, 0u64..5, prop::bool::weighted(0.3))
            .prop_map(|(idx, n, negative)| Op::Observe { idx, n, negative }),
        2 => Just(Op::DropEmpty),
        1 => Just(Op::Reset),
        1 => (-1i32..3).prop_map(Op::Schema),
        1 => Just(Op::Stale),
        1 => Just(Op::FlipGauge),
        2 => (-6i64..10).prop_map(|idx| Op::Decrease { idx }),
        3 => Just(Op::Same),
    ]
}

/// A histogram in normalized form: absolute counts by bucket index, empty buckets dropped.
#[derive(Clone, Debug, PartialEq)]
struct Norm {
    t: i64,
    stale: bool,
    schema: i32,
    zero_threshold: u64,
    zero_count: u64,
    count: u64,
    sum: u64,
    pos: BTreeMap<i64, u64>,
    neg: BTreeMap<i64, u64>,
}

fn indices(spans: &[Span]) -> Vec<i64> {
    let mut out = Vec::new();
    let mut idx = 0i64;
    // Each offset is the gap after the previous span's last bucket (for the first span:
    // the first index).
    for s in spans {
        idx += i64::from(s.offset);
        for _ in 0..s.length {
            out.push(idx);
            idx += 1;
        }
    }
    out
}

fn norm_map(spans: &[Span], abs: impl Iterator<Item = u64>) -> BTreeMap<i64, u64> {
    indices(spans)
        .into_iter()
        .zip(abs)
        .filter(|(_, c)| *c != 0)
        .collect()
}

fn norm_int(t: i64, h: &Histogram) -> Norm {
    let abs = |d: &[i64]| {
        d.iter()
            .scan(0i64, |c, x| {
                *c += x;
                Some(*c as u64)
            })
            .collect::<Vec<_>>()
    };
    Norm {
        t,
        stale: h.sum.to_bits() == STALE_NAN_BITS,
        schema: h.schema,
        zero_threshold: h.zero_threshold.to_bits(),
        zero_count: h.zero_count,
        count: h.count,
        sum: h.sum.to_bits(),
        pos: norm_map(&h.positive_spans, abs(&h.positive_buckets).into_iter()),
        neg: norm_map(&h.negative_spans, abs(&h.negative_buckets).into_iter()),
    }
}

fn norm_float(t: i64, h: &FloatHistogram) -> Norm {
    Norm {
        t,
        stale: h.sum.to_bits() == STALE_NAN_BITS,
        schema: h.schema,
        zero_threshold: h.zero_threshold.to_bits(),
        zero_count: h.zero_count as u64,
        count: h.count as u64,
        sum: h.sum.to_bits(),
        pos: norm_map(
            &h.positive_spans,
            h.positive_buckets.iter().map(|&x| x as u64),
        ),
        neg: norm_map(
            &h.negative_spans,
            h.negative_buckets.iter().map(|&x| x as u64),
        ),
    }
}

/// Spans over a set of indices: canonical, or (when `split`) with every run cut in two
/// where possible and a zero-length span thrown in, which Prometheus accepts too.
fn spans_for(idx: &[i64], split: bool) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut next = 0i64; // index after the previous span
    for (k, &i) in idx.iter().enumerate() {
        let contiguous = k > 0 && i == next;
        if contiguous && !(split && k % 2 == 0) {
            out.last_mut().unwrap().length += 1;
        } else {
            let offset = if out.is_empty() { i } else { i - next };
            if split && k == 1 {
                out.push(Span {
                    offset: 0,
                    length: 0,
                });
            }
            out.push(Span {
                offset: offset as i32,
                length: 1,
            });
        }
        next = i + 1;
    }
    out
}

/// Builds the histogram sequence for a list of ops.
fn build(ops: &[Op], split: bool) -> Vec<(i64, Histogram)> {
    let mut pos: BTreeMap<i64, u64> = BTreeMap::new();
    let mut neg: BTreeMap<i64, u64> = BTreeMap::new();
    let (mut schema, mut zero, mut gauge, mut sum) = (0i32, 0u64, false, 0.0f64);
    let mut out = Vec::new();
    let mut t = 1_700_000_000_000i64;
    for (i, op) in ops.iter().enumerate() {
        t += 15_000 + (i as i64 % 3) - 1;
        let mut stale = false;
        match op {
            Op::Observe { idx, n, negative } => {
                let side = if *negative { &mut neg } else { &mut pos };
                *side.entry(*idx).or_default() += n;
                if *idx == 0 {
                    zero += 1;
                }
                sum += *n as f64 * 0.25;
            }
            Op::DropEmpty => {
                if let Some(k) = pos.iter().find(|(_, c)| **c == 0).map(|(k, _)| *k) {
                    pos.remove(&k);
                }
            }
            Op::Reset => {
                pos.values_mut().for_each(|c| *c = 0);
                neg.clear();
                zero = 0;
                sum = 0.0;
            }
            Op::Schema(s) => {
                schema = *s;
            }
            Op::Stale => stale = true,
            Op::FlipGauge => gauge = !gauge,
            Op::Decrease { idx } => {
                if let (true, Some(c)) = (gauge, pos.get_mut(idx)) {
                    *c = c.saturating_sub(1);
                }
            }
            Op::Same => {}
        }
        if stale {
            out.push((
                t,
                Histogram {
                    sum: f64::from_bits(STALE_NAN_BITS),
                    ..Histogram::default()
                },
            ));
            continue;
        }
        let deltas = |m: &BTreeMap<i64, u64>| {
            let mut prev = 0i64;
            m.values()
                .map(|&c| {
                    let d = c as i64 - prev;
                    prev = c as i64;
                    d
                })
                .collect::<Vec<_>>()
        };
        let pk: Vec<i64> = pos.keys().copied().collect();
        let nk: Vec<i64> = neg.keys().copied().collect();
        let count = pos.values().sum::<u64>() + neg.values().sum::<u64>() + zero;
        out.push((
            t,
            Histogram {
                counter_reset_hint: if gauge {
                    CounterResetHint::Gauge
                } else {
                    CounterResetHint::Unknown
                },
                schema,
                zero_threshold: if schema == 2 { 0.001 } else { 2f64.powi(-128) },
                zero_count: zero,
                count,
                sum,
                positive_spans: spans_for(&pk, split),
                negative_spans: spans_for(&nk, split && !gauge),
                positive_buckets: deltas(&pos),
                negative_buckets: deltas(&neg),
                custom_values: Vec::new(),
            },
        ));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn integer_histograms_survive_cuts_and_recodes(ops in prop::collection::vec(op(), 1..80), split in any::<bool>()) {
        let seq = build(&ops, split);
        let mut app = HistogramAppender::new();
        let mut chunks = Vec::new();
        for (t, h) in &seq {
            if let HistogramAppend::Cut { finished, .. } = app.append(*t, h).unwrap() {
                chunks.push(finished);
            }
        }
        chunks.push(app.bytes().to_vec());
        let mut decoded = Vec::new();
        for c in &chunks {
            let samples: Vec<(i64, Histogram)> = HistogramIterator::new(c).map(Result::unwrap).collect();
            // The chunk is what a fresh encoder makes of its own samples (flags byte aside).
            let mut fresh = HistogramAppender::new();
            for (t, h) in &samples {
                prop_assert_eq!(fresh.append(*t, h).unwrap(), HistogramAppend::Appended);
            }
            prop_assert_eq!(&fresh.bytes()[..2], &c[..2]);
            prop_assert_eq!(&fresh.bytes()[3..], &c[3..]);
            // Continuing the chunk recovers the appender.
            let cont = HistogramAppender::from_chunk(c.clone()).unwrap();
            prop_assert_eq!(cont.num_samples(), samples.len());
            decoded.extend(samples.iter().map(|(t, h)| norm_int(*t, h)));
        }
        let want: Vec<Norm> = seq.iter().map(|(t, h)| norm_int(*t, h)).collect();
        prop_assert_eq!(decoded, want);
    }

    #[test]
    fn float_histograms_survive_cuts_and_recodes(ops in prop::collection::vec(op(), 1..80), split in any::<bool>()) {
        let seq: Vec<(i64, FloatHistogram)> = build(&ops, split).into_iter().map(|(t, h)| {
            let mut f = h.to_float();
            if h.sum.to_bits() == STALE_NAN_BITS {
                f.sum = h.sum;
            }
            (t, f)
        }).collect();
        let mut app = FloatHistogramAppender::new();
        let mut chunks = Vec::new();
        for (t, h) in &seq {
            if let HistogramAppend::Cut { finished, .. } = app.append(*t, h).unwrap() {
                chunks.push(finished);
            }
        }
        chunks.push(app.bytes().to_vec());
        let mut decoded = Vec::new();
        for c in &chunks {
            let samples: Vec<(i64, FloatHistogram)> = FloatHistogramIterator::new(c).map(Result::unwrap).collect();
            let mut fresh = FloatHistogramAppender::new();
            for (t, h) in &samples {
                prop_assert_eq!(fresh.append(*t, h).unwrap(), HistogramAppend::Appended);
            }
            prop_assert_eq!(&fresh.bytes()[..2], &c[..2]);
            prop_assert_eq!(&fresh.bytes()[3..], &c[3..]);
            let cont = FloatHistogramAppender::from_chunk(c.clone()).unwrap();
            prop_assert_eq!(cont.num_samples(), samples.len());
            decoded.extend(samples.iter().map(|(t, h)| norm_float(*t, h)));
        }
        let want: Vec<Norm> = seq.iter().map(|(t, h)| norm_float(*t, h)).collect();
        prop_assert_eq!(decoded, want);
    }
}

/// The generator reaches every outcome: plain appends, recodes, and each kind of cut.
#[test]
fn generator_exercises_all_outcomes() {
    use narthex_chunkenc::histogram::CutReason;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strat = (prop::collection::vec(op(), 1..80), any::<bool>());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..300 {
        let (ops, split) = strat.new_tree(&mut runner).unwrap().current();
        let mut app = HistogramAppender::new();
        for (t, h) in build(&ops, split) {
            let key = match app.append(t, &h).unwrap() {
                HistogramAppend::Appended => "appended".to_string(),
                HistogramAppend::Recoded => "recoded".to_string(),
                HistogramAppend::Cut { reason, .. } => format!("cut {reason:?}"),
            };
            *seen.entry(key).or_default() += 1;
        }
    }
    for reason in [
        CutReason::CounterReset,
        CutReason::LayoutChange,
        CutReason::AfterStaleMarker,
        CutReason::TypeChange,
    ] {
        assert!(
            seen.contains_key(&format!("cut {reason:?}")),
            "{reason:?} never happened: {seen:?}"
        );
    }
    assert!(seen["recoded"] > 10, "{seen:?}");
    assert!(seen["appended"] > 1000, "{seen:?}");
    println!("histogram generator outcomes: {seen:?}");
}
