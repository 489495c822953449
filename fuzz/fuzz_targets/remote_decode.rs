//! Fuzz target `remote_decode`: remote write 1.0 and 2.0 request decoding (direct and
//! through prost, plain and snappy-compressed) on arbitrary bytes. Never a panic; a
//! request the direct decoder accepts is accepted by prost with the same result, and
//! re-encoding it decodes to the same request.
#![no_main]

use narthex_remote::Protocol;
use narthex_remote::codec;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

fn check(data: &[u8]) {
    for p in [Protocol::V1, Protocol::V2] {
        let direct = codec::decode(data, p);
        let prost = codec::decode_prost(data, p);
        if let (Ok(a), Ok(b)) = (&direct, &prost) {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "direct and prost disagree");
            let again = codec::decode(&codec::encode(a, p), p).expect("re-encoded decodes");
            assert_eq!(format!("{a:?}"), format!("{again:?}"));
        }
        let _ = codec::decode_compressed(data, p, 1 << 20);
    }
}
