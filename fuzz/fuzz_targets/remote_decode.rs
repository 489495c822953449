//! Fuzz target `remote_decode`: remote write 1.0 and 2.0 request decoding (direct and
//! through prost, plain and snappy-compressed, and the zero-copy view) on arbitrary bytes.
//! Never a panic; a request the direct decoder accepts is accepted by prost with the same
//! result, and re-encoding it decodes to the same request; the view accepts exactly what
//! the direct decoder accepts, and its iterators and `to_request` give the same request.
#![no_main]

use narthex_remote::Protocol;
use narthex_remote::codec;
use narthex_remote::view::{LabelCache, RequestView};

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

fn check(data: &[u8]) {
    for p in [Protocol::V1, Protocol::V2] {
        let direct = codec::decode(data, p);
        let prost = codec::decode_prost(data, p);
        if let (Ok(a), Ok(b)) = (&direct, &prost) {
            assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "direct and prost disagree"
            );
            let again = codec::decode(&codec::encode(a, p), p).expect("re-encoded decodes");
            assert_eq!(format!("{a:?}"), format!("{again:?}"));
        }
        let view = RequestView::new(data, p);
        assert_eq!(
            direct.is_ok(),
            view.is_ok(),
            "direct and view disagree: {direct:?} vs {:?}",
            view.as_ref().err()
        );
        if let (Ok(a), Ok(v)) = (&direct, &view) {
            assert_eq!(format!("{a:?}"), format!("{:?}", v.to_request()));
            let mut cache = LabelCache::new();
            for (ts, owned) in v.timeseries().zip(&a.timeseries) {
                assert_eq!(cache.labels(&ts), owned.labels);
                assert_eq!(ts.samples().count(), owned.samples.len());
                for e in ts.exemplars() {
                    let _ = cache.exemplar(&e);
                }
            }
        }
        let _ = codec::decode_compressed(data, p, 1 << 20);
    }
}
