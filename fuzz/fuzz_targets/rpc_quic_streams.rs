//! Any bytes, as the one frame of a QUIC stream: checked the way a server checks a call
//! or send stream and a client checks an answer, on both wires, and as control-stream
//! traffic. Nothing may panic; what a call stream accepts must decode as a call.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zap_rpc::frame::Frame;
use zap_rpc::stream::{self, StreamKind};

fuzz_target!(|data: &[u8]| {
    let p = Bytes::copy_from_slice(data);
    for go in [false, true] {
        if let Ok(Some(id)) = stream::check_request(&p, go, StreamKind::Call) {
            let f = if go {
                Frame::decode_go(p.clone())
            } else {
                Frame::decode_rust(p.clone()).unwrap()
            };
            assert!(
                matches!(f, Frame::Call { id: i, .. } | Frame::Request { id: i, .. } if i == id)
            );
        }
        let _ = stream::check_request(&p, go, StreamKind::Send);
        let _ = stream::check_control(&p, go);
        let id = data
            .get(..4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let _ = stream::check_answer(&p, go, id);
    }
});
