//! Where a Prometheus head would cut chunks, so [`crate::MemStorage`] hands out the
//! counter-reset hints a Prometheus TSDB hands out.
//!
//! A TSDB does not return the hint a histogram was appended with: it returns what its
//! chunks know. A chunk of gauge histograms says `Gauge` for every sample; in a chunk of
//! counter histograms the first sample says `Unknown` (the previous chunk may be gone) and
//! every later one `NotCounterReset` (a detected reset would have cut a new chunk). So the
//! hints depend on where chunks were cut: the head cuts when the value kind changes, at the
//! time it predicts the chunk holds about [`SAMPLES_PER_CHUNK`] samples (within the chunk
//! range), at twice that many samples, and when a histogram does not fit the chunk
//! (counter reset, schema or zero-threshold change, custom bounds change, a sample after a
//! stale marker, a gauge/counter switch, an explicit counter-reset hint). [`ChunkCutter`]
//! replays those decisions sample by sample, as `narthex-tsdb`'s head makes them.

use narthex_model::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Span, is_stale_nan};

use crate::SampleValue;

/// The number of samples Prometheus's head aims for per chunk.
pub(crate) const SAMPLES_PER_CHUNK: usize = 120;

/// The head's default chunk range (Prometheus's default block duration, two hours).
pub(crate) const DEFAULT_CHUNK_RANGE: i64 = 2 * 60 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Float,
    Histogram,
    FloatHistogram,
}

impl Kind {
    fn of(v: &SampleValue) -> Kind {
        match v {
            SampleValue::Float(_) => Kind::Float,
            SampleValue::Histogram(_) => Kind::Histogram,
            SampleValue::FloatHistogram(_) => Kind::FloatHistogram,
        }
    }
}

/// The open chunk of one series.
#[derive(Clone, Debug)]
struct OpenChunk {
    kind: Kind,
    mint: i64,
    maxt: i64,
    samples: usize,
    /// The cut time the head predicts.
    next_at: i64,
    /// Whether the chunk holds gauge histograms.
    gauge: bool,
    /// The chunk's last histogram (absolute counts), for the fit checks.
    last: Option<FloatHistogram>,
}

/// Replays a Prometheus head's chunk cuts for one series and rewrites each histogram's
/// counter-reset hint to what a read from those chunks returns.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChunkCutter {
    open: Option<OpenChunk>,
}

/// The end of the chunk range `t` falls in.
fn range_end(t: i64, width: i64) -> i64 {
    t.div_euclid(width)
        .saturating_mul(width)
        .saturating_add(width)
}

/// Prometheus's estimate of where to cut a chunk so that the rest of the range splits into
/// evenly filled chunks, made once a chunk is a quarter full.
fn chunk_end_time(start: i64, cur: i64, max: i64, ratio_to_full: f64) -> i64 {
    let n = (max - start) as f64 / ((cur - start + 1) as f64 * ratio_to_full);
    if n <= 1.0 {
        return max;
    }
    (start as f64 + (max - start) as f64 / n.floor()) as i64
}

/// The histogram as absolute float counts.
fn float_view(v: &SampleValue) -> Option<FloatHistogram> {
    match v {
        SampleValue::Histogram(h) => Some(h.to_float()),
        SampleValue::FloatHistogram(h) => Some((**h).clone()),
        SampleValue::Float(_) => None,
    }
}

/// `(bucket index, count)` of one side of a histogram.
fn buckets<'h>(spans: &'h [Span], counts: &'h [f64]) -> impl Iterator<Item = (i64, f64)> + 'h {
    let mut idx = 0i64;
    let mut first = true;
    spans
        .iter()
        .flat_map(move |s| {
            if first {
                idx = i64::from(s.offset);
                first = false;
            } else {
                idx += i64::from(s.offset);
            }
            let start = idx;
            idx += i64::from(s.length);
            (start..start + i64::from(s.length)).collect::<Vec<_>>()
        })
        .zip(counts.iter().copied())
}

/// Whether a bucket of `old` decreased in `new`, or a bucket in use in `old` is missing
/// from `new` (Prometheus's bucket check when appending counter histograms).
fn buckets_reset(old_spans: &[Span], old: &[f64], new_spans: &[Span], new: &[f64]) -> bool {
    let mut b = buckets(new_spans, new).peekable();
    for (i, ca) in buckets(old_spans, old) {
        while b.peek().is_some_and(|(j, _)| *j < i) {
            b.next();
        }
        match b.peek() {
            Some((j, cb)) if *j == i => {
                if ca > *cb {
                    return true;
                }
            }
            _ => {
                if ca != 0.0 {
                    return true;
                }
            }
        }
    }
    false
}

/// Whether `h` must start a new chunk after a chunk whose last histogram is `last`.
fn must_cut(chunk: &OpenChunk, h: &FloatHistogram) -> bool {
    let Some(last) = &chunk.last else {
        return true;
    };
    let gauge = h.counter_reset_hint == CounterResetHint::Gauge;
    if gauge != chunk.gauge {
        return true;
    }
    if !gauge && h.counter_reset_hint == CounterResetHint::CounterReset {
        return true;
    }
    if is_stale_nan(h.sum) {
        return false;
    }
    if is_stale_nan(last.sum) {
        return true;
    }
    if !gauge && h.count < last.count {
        return true;
    }
    if h.schema != last.schema || h.zero_threshold.to_bits() != last.zero_threshold.to_bits() {
        return true;
    }
    if h.schema == CUSTOM_BUCKETS_SCHEMA && h.custom_values != last.custom_values {
        return true;
    }
    if gauge {
        return false;
    }
    h.zero_count < last.zero_count
        || buckets_reset(
            &last.positive_spans,
            &last.positive_buckets,
            &h.positive_spans,
            &h.positive_buckets,
        )
        || buckets_reset(
            &last.negative_spans,
            &last.negative_buckets,
            &h.negative_spans,
            &h.negative_buckets,
        )
}

impl ChunkCutter {
    /// Records the sample `v` at `t` (newer than every sample before) and sets the hint of
    /// a histogram to what a Prometheus TSDB returns for it. `chunk_range` is the head's
    /// chunk range in milliseconds.
    pub(crate) fn push(&mut self, t: i64, v: &mut SampleValue, chunk_range: i64) {
        let kind = Kind::of(v);
        let view = float_view(v);
        let cut = match (&mut self.open, &view) {
            (None, _) => true,
            (Some(c), _) if c.kind != kind => true,
            (Some(c), h) => {
                if c.samples == SAMPLES_PER_CHUNK / 4 {
                    c.next_at = chunk_end_time(c.mint, c.maxt, c.next_at, 4.0);
                }
                t >= c.next_at
                    || c.samples >= SAMPLES_PER_CHUNK * 2
                    || h.as_ref().is_some_and(|h| must_cut(c, h))
            }
        };
        if cut {
            self.open = Some(OpenChunk {
                kind,
                mint: t,
                maxt: t,
                samples: 0,
                next_at: range_end(t, chunk_range.max(1)),
                gauge: view
                    .as_ref()
                    .is_some_and(|h| h.counter_reset_hint == CounterResetHint::Gauge),
                last: None,
            });
        }
        let Some(c) = self.open.as_mut() else {
            return;
        };
        let hint = if c.gauge {
            CounterResetHint::Gauge
        } else if c.samples == 0 {
            CounterResetHint::Unknown
        } else {
            CounterResetHint::NotCounterReset
        };
        match v {
            SampleValue::Histogram(h) => h.counter_reset_hint = hint,
            SampleValue::FloatHistogram(h) => h.counter_reset_hint = hint,
            SampleValue::Float(_) => {}
        }
        c.samples += 1;
        c.maxt = t;
        if view.is_some() {
            c.last = view;
        }
    }
}

#[cfg(test)]
mod tests {
    use narthex_model::Histogram;

    use super::*;

    fn fh(count: f64, buckets: &[f64], hint: CounterResetHint) -> SampleValue {
        SampleValue::FloatHistogram(Box::new(FloatHistogram {
            counter_reset_hint: hint,
            count,
            sum: count,
            positive_spans: vec![Span {
                offset: 0,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets.to_vec(),
            ..FloatHistogram::default()
        }))
    }

    fn hint(v: &SampleValue) -> CounterResetHint {
        match v {
            SampleValue::Histogram(h) => h.counter_reset_hint,
            SampleValue::FloatHistogram(h) => h.counter_reset_hint,
            SampleValue::Float(_) => panic!("not a histogram"),
        }
    }

    fn replay(samples: Vec<(i64, SampleValue)>) -> Vec<CounterResetHint> {
        let mut c = ChunkCutter::default();
        samples
            .into_iter()
            .map(|(t, mut v)| {
                c.push(t, &mut v, 24 * 3_600_000);
                hint(&v)
            })
            .collect()
    }

    use CounterResetHint::{CounterReset, Gauge, NotCounterReset, Unknown};

    #[test]
    fn first_of_a_chunk_is_unknown_later_ones_not_reset() {
        let got = replay(vec![
            (0, fh(1.0, &[1.0], CounterReset)),
            (1, fh(2.0, &[2.0], Unknown)),
            (2, fh(3.0, &[3.0], CounterReset)),
            (3, fh(4.0, &[4.0], Unknown)),
            // A detected reset (a bucket decreased) cuts a new chunk.
            (4, fh(5.0, &[1.0, 4.0], Unknown)),
            (5, fh(6.0, &[1.0, 5.0], Unknown)),
            // A bucket in use disappearing is a reset too; an empty one is not.
            (6, fh(6.0, &[0.0, 6.0], Unknown)),
        ]);
        assert_eq!(
            got,
            [
                Unknown,
                NotCounterReset,
                Unknown,
                NotCounterReset,
                Unknown,
                NotCounterReset,
                Unknown
            ]
        );
        let mut shifted = fh(9.0, &[9.0], Unknown);
        if let SampleValue::FloatHistogram(h) = &mut shifted {
            h.positive_spans[0].offset = 1;
        }
        let got = replay(vec![(0, fh(9.0, &[0.0, 9.0], Unknown)), (1, shifted)]);
        assert_eq!(
            got,
            [Unknown, NotCounterReset],
            "an empty bucket may vanish"
        );
    }

    #[test]
    fn gauges_stay_gauges_and_kind_changes_cut() {
        let got = replay(vec![
            (0, fh(5.0, &[5.0], Gauge)),
            (1, fh(1.0, &[1.0], Gauge)),
            (2, fh(2.0, &[2.0], Unknown)),
            (3, fh(3.0, &[3.0], Unknown)),
        ]);
        assert_eq!(got, [Gauge, Gauge, Unknown, NotCounterReset]);
        let int = SampleValue::Histogram(Box::new(Histogram {
            count: 4,
            ..Histogram::default()
        }));
        let got = replay(vec![(0, fh(1.0, &[], Unknown)), (1, int.clone()), (2, int)]);
        assert_eq!(got, [Unknown, Unknown, NotCounterReset]);
    }

    #[test]
    fn size_and_range_cuts_follow_the_head() {
        let mut c = ChunkCutter::default();
        let day = 24 * 3_600_000;
        let mut firsts = Vec::new();
        for i in 0..400 {
            let mut v = fh(f64::from(i), &[], Unknown);
            c.push(i64::from(i) * 60_000, &mut v, day);
            if hint(&v) == Unknown {
                firsts.push(i);
            }
        }
        // One-minute samples in a day-long range: chunks of 120 samples.
        assert_eq!(firsts, [0, 120, 240, 360]);
        let mut c = ChunkCutter::default();
        let mut firsts = Vec::new();
        for i in 0..200 {
            let mut v = fh(f64::from(i), &[], Unknown);
            c.push(i64::from(i) * 60_000, &mut v, 3_600_000);
            if hint(&v) == Unknown {
                firsts.push(i);
            }
        }
        // A one-hour range cuts at every hour.
        assert_eq!(firsts, [0, 60, 120, 180]);
        // Sparse first samples predict the range's end; dense ones after them are cut
        // at twice the target size.
        let mut c = ChunkCutter::default();
        let mut firsts = Vec::new();
        for i in 0..300 {
            let t = if i < 30 {
                i64::from(i) * 600_000
            } else {
                30 * 600_000 + i64::from(i)
            };
            let mut v = fh(f64::from(i), &[], Unknown);
            c.push(t, &mut v, day);
            if hint(&v) == Unknown {
                firsts.push(i);
            }
        }
        assert_eq!(firsts, [0, 240]);
    }
}
