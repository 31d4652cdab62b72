//! Any bytes, read as typed frames (luxfi/api framing) and their big-endian fields.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use zap_wire::codec::TypedCodec;

fuzz_target!(|data: &[u8]| {
    zap_wire::exercise::typed_frames(data);
    zap_wire::exercise::be_fields(data);
    let mut codec = TypedCodec::with_max_payload(64 * 1024);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        let _ = frame.split();
        zap_wire::exercise::be_fields(&frame.body());
    }
});
