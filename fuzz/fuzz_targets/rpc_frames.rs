//! Any bytes, read as a stream of zap-rpc frames the way a connection's reader does: split
//! into payloads with zap-wire's bounded codec, then decoded as Rust-wire and Go-wire
//! frames; messages inside are parsed as a server would before dispatch.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use zap_rpc::MessageBuf;
use zap_rpc::frame::Frame;
use zap_wire::codec::PayloadCodec;

fn check(frame: Frame) {
    match frame {
        Frame::Plain { message }
        | Frame::Request { message, .. }
        | Frame::Response { message, .. }
        | Frame::Call { message, .. }
        | Frame::Send { message, .. } => {
            if let Ok(m) = MessageBuf::new(message) {
                let _ = m.parse().map(|p| p.root().map(|r| r.u32(0)));
                let _ = m.with_flags(0x4200);
            }
        }
        Frame::Error { text, .. } => {
            let _ = String::from_utf8_lossy(&text);
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut codec = PayloadCodec::new(64 * 1024);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(payload)) = codec.decode(&mut buf) {
        if let Ok(f) = Frame::decode_rust(payload.clone()) {
            // What decodes must encode back to the same payload.
            let wire = f.encode();
            assert_eq!(
                Frame::decode_rust(Bytes::copy_from_slice(&wire[4..])).ok(),
                Some(f.clone())
            );
            check(f);
        }
        check(Frame::decode_go(payload));
    }
});
