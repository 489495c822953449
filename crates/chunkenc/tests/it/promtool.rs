//! Byte-for-byte comparison with real Prometheus output.
//!
//! Writes an OpenMetrics file with known series, lets Debian's `promtool tsdb
//! create-blocks-from openmetrics` turn it into TSDB blocks, then reads every chunk of every
//! block's `chunks/000001`: each must decode, re-encoding the decoded samples with
//! [`XorAppender`] must give Prometheus's bytes exactly, and the decoded samples must be the
//! ones we wrote.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use narthex_chunkenc::segment::SegmentReader;
use narthex_chunkenc::{Encoding, XorAppender, XorIterator};

use crate::common::{missing, which};

/// Go's `math.NaN()`, which Prometheus's parsers produce for `NaN`.
const GO_NAN: u64 = 0x7ff8_0000_0000_0001;

/// Small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One series of the input: a metric name and its samples as (timestamp text in seconds,
/// value text).
struct Series {
    name: &'static str,
    samples: Vec<(String, String)>,
}

/// Milliseconds to OpenMetrics' seconds with exactly three decimals.
fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// The timestamp Prometheus's OpenMetrics parser derives: `int64(float_seconds * 1000)`.
fn parsed_ts(text: &str) -> i64 {
    (text.parse::<f64>().unwrap() * 1000.0) as i64
}

/// Value bits as Prometheus stores them.
fn parsed_value(text: &str) -> u64 {
    let v = match text {
        "NaN" => return GO_NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        t => t.parse::<f64>().unwrap(),
    };
    v.to_bits()
}

fn input() -> Vec<Series> {
    // Block ranges are 2h, aligned to multiples of 2h since the epoch.
    let base: i64 = 1_700_006_400_000; // 2023-11-15T00:00:00Z, a multiple of 2h.
    let mut rng = Rng(0x5eed);
    let mut out = Vec::new();

    // A counter scraped every 15s with up to ±50ms jitter: 440 samples (~110 min).
    let mut s = Series {
        name: "counter_total_a",
        samples: Vec::new(),
    };
    let mut v = 1000u64;
    for i in 0..440 {
        let t = base + i * 15_000 + rng.below(101) as i64 - 50 + 100;
        v += rng.below(20);
        s.samples.push((secs(t), v.to_string()));
    }
    out.push(s);

    // A gauge doing a 0.1-step random walk, with decimals, 10s interval.
    let mut s = Series {
        name: "gauge_b",
        samples: Vec::new(),
    };
    let mut g: f64 = 20.0;
    for i in 0..600 {
        let t = base + 5 + i * 10_000;
        g += (rng.below(3) as f64 - 1.0) * 0.1;
        s.samples.push((secs(t), format!("{g:?}")));
    }
    out.push(s);

    // A constant, 1s interval, exactly regular.
    let mut s = Series {
        name: "constant_c",
        samples: Vec::new(),
    };
    for i in 0..1000 {
        s.samples.push((secs(base + i * 1000), "42".into()));
    }
    out.push(s);

    // Random floats over the whole range of magnitudes (finite), 30s interval.
    let mut s = Series {
        name: "random_d",
        samples: Vec::new(),
    };
    for i in 0..230 {
        let bits = rng.next();
        let mut f = f64::from_bits(bits);
        if !f.is_finite() {
            f = (bits >> 11) as f64;
        }
        s.samples
            .push((secs(base + 7 + i * 30_000), format!("{f:?}")));
    }
    out.push(s);

    // Timestamp gaps that exercise every delta-of-delta bucket, both signs.
    let mut s = Series {
        name: "gaps_e",
        samples: Vec::new(),
    };
    let gaps: [i64; 24] = [
        1, 1, 2, 8192, 8193, 1, 65_536, 65_537, 3, 524_288, 524_289, 7, 1_000_000, 15_000, 15_000,
        14_999, 15_001, 1, 3_600_000, 1, 250_000, 17, 16_383, 2,
    ];
    let mut t = base + 11;
    for (i, g) in gaps.iter().enumerate() {
        t += g;
        s.samples.push((secs(t), format!("{}", i as f64 * 1.5)));
    }
    out.push(s);

    // Special values: NaN, infinities, signed zero, subnormals, extremes.
    let mut s = Series {
        name: "special_f",
        samples: Vec::new(),
    };
    let specials = [
        "0",
        "-0",
        "NaN",
        "NaN",
        "1",
        "+Inf",
        "-Inf",
        "+Inf",
        "5e-324",
        "-5e-324",
        "2.2250738585072014e-308",
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "0.1",
        "0.30000000000000004",
        "1e-7",
        "123456789012345680000",
        "-1",
        "NaN",
        "3",
    ];
    for (i, v) in specials.iter().enumerate() {
        s.samples
            .push((secs(base + 13 + i as i64 * 60_000), (*v).to_string()));
    }
    out.push(s);

    // A second block range, three hours later, with more than two chunks' worth.
    let mut s = Series {
        name: "later_g",
        samples: Vec::new(),
    };
    let later = base + 3 * 3_600_000;
    let mut v = 0.0f64;
    for i in 0..300 {
        v += rng.below(1000) as f64 / 8.0;
        s.samples.push((secs(later + i * 15_000), format!("{v:?}")));
    }
    out.push(s);
    out
}

fn write_openmetrics(series: &[Series]) -> String {
    let mut text = String::new();
    for s in series {
        for (t, v) in &s.samples {
            writeln!(text, "{} {v} {t}", s.name).unwrap();
        }
    }
    text.push_str("# EOF\n");
    text
}

/// Every `*/chunks/000001` under `dir`, sorted.
fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path().join("chunks");
        if p.is_dir() {
            for f in std::fs::read_dir(&p).unwrap() {
                out.push(f.unwrap().path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn xor_chunks_match_promtool_byte_for_byte() {
    let Some(promtool) = which("promtool") else {
        missing("promtool not found on PATH (apt-get install prometheus)");
        return;
    };
    let series = input();
    let tmp = tempfile::tempdir().unwrap();
    let om = tmp.path().join("input.om");
    std::fs::write(&om, write_openmetrics(&series)).unwrap();
    let out = tmp.path().join("blocks");
    std::fs::create_dir(&out).unwrap();
    let res = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&om)
        .arg(&out)
        .output()
        .expect("run promtool");
    assert!(
        res.status.success(),
        "promtool failed: {}\n{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );

    // What we wrote, as a multiset of (timestamp, value bits).
    let mut expected: BTreeMap<(i64, u64), usize> = BTreeMap::new();
    for s in &series {
        for (t, v) in &s.samples {
            *expected.entry((parsed_ts(t), parsed_value(v))).or_default() += 1;
        }
    }

    let files = segment_files(&out);
    assert!(
        files.len() >= 2,
        "expected at least two blocks, found {files:?}"
    );
    let mut decoded: BTreeMap<(i64, u64), usize> = BTreeMap::new();
    let (mut chunks, mut samples, mut bytes) = (0usize, 0usize, 0usize);
    let mut max_samples = 0;
    for f in &files {
        let seg = std::fs::read(f).unwrap();
        for c in SegmentReader::new(&seg) {
            let c = c.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert_eq!(c.encoding(), Some(Encoding::Xor));
            let mut app = XorAppender::new();
            let mut n = 0;
            for s in XorIterator::new(c.data) {
                let (t, v) =
                    s.unwrap_or_else(|e| panic!("{} chunk at {}: {e}", f.display(), c.offset));
                *decoded.entry((t, v.to_bits())).or_default() += 1;
                app.append(t, v).unwrap();
                n += 1;
            }
            assert_eq!(
                app.bytes(),
                c.data,
                "{} chunk at {} ({n} samples): our encoding differs from Prometheus's",
                f.display(),
                c.offset
            );
            // Continuing the chunk from its bytes gives an appender in the same state.
            let cont = XorAppender::from_chunk(c.data.to_vec()).unwrap();
            assert_eq!(cont.num_samples(), n);
            chunks += 1;
            samples += n;
            bytes += c.data.len();
            max_samples = max_samples.max(n);
        }
    }
    assert_eq!(decoded, expected, "decoded samples differ from the input");
    assert!(max_samples > 100, "some chunks should be near 120 samples");
    println!(
        "promtool: {chunks} XOR chunks in {} blocks byte-identical, {samples} samples, {:.2} bytes/sample",
        files.len(),
        bytes as f64 / samples as f64
    );
}
