//! The write-ahead log: round trips across pages and segments, corruption detection and
//! repair, and reading a WAL that Debian's `prometheus` wrote.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use narthex_tsdb::record::{self, Record};
use narthex_tsdb::wlog::{self, PAGE_SIZE, RecordReader, Wal, WalError, WalOptions};
use proptest::prelude::*;

use crate::common::{Peer, binary, free_port};

fn read_all(dir: &std::path::Path) -> (Vec<Vec<u8>>, Option<WalError>) {
    let mut r = RecordReader::open(dir).expect("open reader");
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        match rec {
            Ok(b) => out.push(b.to_vec()),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// Records of awkward sizes: empty, tiny, exactly a page, several pages.
fn records() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        vec![2; PAGE_SIZE - 7],
        vec![3; PAGE_SIZE],
        vec![4; 3 * PAGE_SIZE + 11],
    ];
    // Incompressible data, so fragments are not shrunk by snappy.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for n in [10, 1000, 40_000, 100_000] {
        v.push(
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect(),
        );
    }
    v
}

#[test]
fn round_trip_across_pages_and_segments() {
    for compress in [false, true] {
        let dir = tempfile::tempdir().expect("tmp");
        let opts = WalOptions {
            segment_size: 4 * PAGE_SIZE,
            compress,
        };
        let mut w = Wal::open(dir.path(), opts).expect("open");
        let recs = records();
        for chunk in recs.chunks(3) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            w.log(&refs).expect("log");
        }
        // Finished segments are synced in the background; `sync` waits for all of them.
        let finished = u64::from(w.current_segment());
        w.sync().expect("sync");
        assert_eq!(
            w.stats().fsyncs,
            finished + 1,
            "one per finished segment and the current one"
        );
        w.close().expect("close");
        let segs = wlog::segments(dir.path()).expect("segments");
        assert!(segs.len() > 1, "small segments force rollover: {segs:?}");
        for s in &segs {
            let len = fs::metadata(dir.path().join(wlog::segment_name(*s)))
                .expect("meta")
                .len();
            assert!(len <= 4 * PAGE_SIZE as u64, "segment {s} is {len} bytes");
        }
        let (got, err) = read_all(dir.path());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got, recs, "compress={compress}");

        // Reopening starts a new segment and keeps the old records.
        let mut w = Wal::open(dir.path(), opts).expect("reopen");
        assert_eq!(w.current_segment(), segs.last().unwrap() + 1);
        w.log(&[b"after"]).expect("log");
        w.close().expect("close");
        let (got, _) = read_all(dir.path());
        assert_eq!(got.last().map(Vec::as_slice), Some(&b"after"[..]));
    }
}

#[test]
fn torn_tail_is_detected_and_repaired_keeping_earlier_records() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut w = Wal::open(
        dir.path(),
        WalOptions {
            compress: false,
            ..WalOptions::default()
        },
    )
    .expect("open");
    let recs = records();
    for r in &recs {
        w.log(&[r]).expect("log");
    }
    w.close().expect("close");
    let seg = dir.path().join(wlog::segment_name(0));
    let full = fs::read(&seg).expect("read");
    // Cut the file at many points; every cut must keep a prefix of the records.
    for cut in (1..full.len()).step_by(997) {
        fs::write(&seg, &full[..cut]).expect("write");
        let (got, err) = read_all(dir.path());
        assert!(recs.starts_with(&got), "cut {cut}: records are a prefix");
        if let Some(WalError::Corruption(c)) = &err {
            assert_eq!(c.segment, 0);
            assert!(c.offset as usize <= cut);
            wlog::repair(dir.path(), c).expect("repair");
            let (again, err2) = read_all(dir.path());
            assert!(err2.is_none(), "after repair: {err2:?}");
            assert_eq!(again, got, "repair keeps everything before the corruption");
        } else {
            assert!(err.is_none(), "cut {cut}: {err:?}");
        }
    }
}

#[test]
fn flipped_byte_is_reported_with_segment_and_offset() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut w = Wal::open(
        dir.path(),
        WalOptions {
            compress: false,
            ..WalOptions::default()
        },
    )
    .expect("open");
    for i in 0..100u32 {
        w.log(&[&i.to_be_bytes().repeat(50)]).expect("log");
    }
    w.close().expect("close");
    let seg = dir.path().join(wlog::segment_name(0));
    let mut data = fs::read(&seg).expect("read");
    let record_len = 7 + 200;
    data[50 * record_len + 100] ^= 0x40;
    fs::write(&seg, &data).expect("write");
    let (got, err) = read_all(dir.path());
    assert_eq!(got.len(), 50);
    match err {
        Some(WalError::Corruption(c)) => {
            assert_eq!((c.segment, c.offset), (0, (50 * record_len) as u64), "{c}");
            assert!(c.to_string().contains("checksum mismatch"), "{c}");
            assert!(c.to_string().contains("00000000"), "names the file: {c}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_segment_in_the_middle_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    for i in 0..3 {
        let mut w = Wal::open(dir.path(), WalOptions::default()).expect("open");
        w.log(&[&[i as u8; 10]]).expect("log");
        w.close().expect("close");
    }
    fs::remove_file(dir.path().join(wlog::segment_name(1))).expect("rm");
    assert!(matches!(
        RecordReader::open(dir.path()),
        Err(WalError::Gap {
            first: 0,
            next: 2,
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_records_round_trip(recs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..70_000), 0..12), compress: bool) {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = Wal::open(dir.path(), WalOptions { segment_size: 8 * PAGE_SIZE, compress }).expect("open");
        for r in &recs {
            w.log(&[r]).expect("log");
        }
        w.close().expect("close");
        let (got, err) = read_all(dir.path());
        prop_assert!(err.is_none());
        prop_assert_eq!(got, recs);
    }

    #[test]
    fn arbitrary_segment_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..3 * PAGE_SIZE)) {
        let dir = tempfile::tempdir().expect("tmp");
        fs::write(dir.path().join(wlog::segment_name(0)), &data).expect("write");
        let (_, _) = read_all(dir.path());
    }
}

/// Debian's Prometheus scrapes itself for a few seconds; its WAL must read back cleanly,
/// with the `up` series and its samples.
#[test]
fn reads_a_wal_written_by_prometheus() {
    let Some(bin) = binary("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"),
    )
    .expect("config");
    let data = dir.path().join("data");
    let peer = Peer(
        Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    // Wait until at least three scrapes have been written.
    let wal = data.join("wal");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut up_samples = 0;
    let mut series = 0;
    while Instant::now() < deadline && up_samples < 3 {
        std::thread::sleep(Duration::from_millis(500));
        let Ok(mut r) = RecordReader::open(&wal) else {
            continue;
        };
        let mut up_ref = None;
        let (mut n, mut s) = (0, 0);
        while let Some(Ok(rec)) = r.next_record() {
            match record::decode(rec).expect("every record decodes") {
                Record::Series(v) => {
                    s += v.len();
                    for x in v {
                        if x.labels.metric_name() == Some("up") {
                            up_ref = Some(x.r);
                        }
                    }
                }
                Record::Samples(v) => n += v.iter().filter(|x| Some(x.r) == up_ref).count(),
                _ => {}
            }
        }
        up_samples = n;
        series = s;
    }
    drop(peer);
    assert!(
        up_samples >= 3,
        "found {up_samples} samples of up in Prometheus's WAL"
    );
    assert!(series > 100, "{series} series");
    // After Prometheus is killed, its whole WAL still reads without corruption.
    let mut r = RecordReader::open(&wal).expect("open");
    let mut records = 0;
    while let Some(rec) = r.next_record() {
        record::decode(rec.expect("no corruption")).expect("decodes");
        records += 1;
    }
    println!(
        "prometheus wal: {records} records, {series} series, {up_samples} samples of up read back"
    );
}
