//! Chunk segment files: CRC-32C against the `crc32c` crate, round trips, corruption with
//! offsets.

use narthex_chunkenc::segment::{SegmentError, SegmentReader, SegmentWriter, chunk_at};
use narthex_chunkenc::{Encoding, XorAppender, crc32c, crc32c_append};
use proptest::prelude::*;

proptest! {
    #[test]
    fn crc32c_matches_the_crc32c_crate(data in prop::collection::vec(any::<u8>(), 0..2000), split in any::<prop::sample::Index>()) {
        prop_assert_eq!(crc32c(&data), ::crc32c::crc32c(&data));
        let k = split.index(data.len() + 1);
        prop_assert_eq!(crc32c_append(crc32c(&data[..k]), &data[k..]), ::crc32c::crc32c(&data));
    }
}

fn segment() -> (Vec<u8>, Vec<usize>) {
    let mut w = SegmentWriter::new();
    let mut offsets = Vec::new();
    for n in [1usize, 120, 300] {
        let mut app = XorAppender::new();
        for i in 0..n {
            app.append(i as i64 * 15_000, i as f64).unwrap();
        }
        offsets.push(w.push(Encoding::Xor, app.bytes()));
    }
    (w.into_bytes(), offsets)
}

#[test]
fn writer_and_reader_agree() {
    let (seg, offsets) = segment();
    let got: Vec<usize> = SegmentReader::new(&seg)
        .map(|c| c.unwrap().offset)
        .collect();
    assert_eq!(got, offsets);
    for &o in &offsets {
        let c = chunk_at(&seg, o).unwrap();
        assert_eq!(c.encoding(), Some(Encoding::Xor));
    }
    // The checksum is over the encoding byte and the data, big-endian.
    let c = chunk_at(&seg, offsets[0]).unwrap();
    let mut covered = vec![1u8];
    covered.extend_from_slice(c.data);
    let end = c.end();
    assert_eq!(
        &seg[end - 4..end],
        &::crc32c::crc32c(&covered).to_be_bytes()
    );
}

#[test]
fn corruption_is_reported_with_its_offset() {
    let (seg, offsets) = segment();
    let mut bad = seg.clone();
    bad[offsets[1] + 10] ^= 0x40;
    let res: Vec<_> = SegmentReader::new(&bad).collect();
    assert_eq!(res.len(), 2);
    assert!(res[0].is_ok());
    match &res[1] {
        Err(SegmentError::Checksum { offset, .. }) => assert_eq!(*offset, offsets[1]),
        other => panic!("{other:?}"),
    }
    let cut = &seg[..seg.len() - 3];
    match SegmentReader::new(cut).last() {
        Some(Err(SegmentError::Truncated { offset, .. })) => assert_eq!(offset, offsets[2]),
        other => panic!("{other:?}"),
    }
    let mut magic = seg.clone();
    magic[0] = 0;
    assert!(matches!(
        SegmentReader::new(&magic).next(),
        Some(Err(SegmentError::BadMagic { .. }))
    ));
    assert!(matches!(
        chunk_at(&seg, 3),
        Err(SegmentError::OffsetOutOfRange { .. })
    ));
    let mut len = seg.clone();
    len[offsets[0]..offsets[0] + 5].copy_from_slice(&[0xff; 5]);
    assert!(matches!(
        chunk_at(&len, offsets[0]),
        Err(SegmentError::BadLength { .. })
    ));
}
