//! Any bytes, read as a stream of inter-pod fabric frames: split into frames with the
//! handshake limit and the full limit, each payload handed to every decoder, and what
//! decodes re-encoded to the same bytes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use relay_cluster::fabric::frame::{self, FrameType, MAX_FRAME_PAYLOAD, MAX_HANDSHAKE_PAYLOAD};

fn payload(ty: FrameType, p: &[u8]) {
    if let Ok(h) = frame::decode_hello(p) {
        assert_eq!(frame::encode_hello(&h).unwrap().as_ref(), p);
    }
    if let Ok((a, body)) = frame::decode_hello_ack(p) {
        assert_eq!(frame::encode_hello_ack(&a).unwrap().as_ref(), p);
        assert_eq!(
            frame::encode_hello_ack_body(&a).unwrap().as_ref(),
            &p[..body]
        );
    }
    if let Ok(m) = frame::decode_hello_fin(p) {
        assert_eq!(frame::encode_hello_fin(m.as_ref()).as_ref(), p);
    }
    if let Ok(ih) = frame::decode_i_have(p)
        && p.len() == frame::I_HAVE_SIZE
    {
        assert_eq!(frame::encode_i_have(&ih).as_ref(), p);
    }
    if let Ok((dst, msg)) = frame::decode_fwd(p) {
        let mut buf = BytesMut::new();
        frame::encode_fwd(&mut buf, &dst, msg).unwrap();
        assert_eq!(&buf[3..], p);
    }
    if let Ok(pr) = frame::decode_presence(p) {
        assert_eq!(pr.entries().count(), pr.len());
    }
    let _ = frame::decode_peer(p, "fuzz");
    let _ = frame::decode_goodbye(p);
    let _ = frame::decode_hello_v2(p, Some(b"secret"), 1_764_000_000);
    let _ = frame::decode_hello_v2(p, None, 0);
    let _ = ty.to_string();
}

fuzz_target!(|data: &[u8]| {
    for limit in [MAX_HANDSHAKE_PAYLOAD, MAX_FRAME_PAYLOAD] {
        let mut buf = BytesMut::from(data);
        while let Ok(Some((ty, p))) = frame::decode_frame(&mut buf, limit) {
            assert!(p.len() <= limit);
            payload(ty, &p);
        }
    }
    payload(FrameType::FWD, data);
});
