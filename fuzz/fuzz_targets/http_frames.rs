//! Any bytes, read as a ZAP-HTTP connection: split into length-prefixed frames (in two
//! reads, at a point chosen by the input) and each frame run through every decoder.
//! Whatever decodes is encoded again, which must succeed and decode to the same type.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use zap_http::codec::FrameCodec;
use zap_http::wire::{self, DecodeLimits, EncodeOptions, Frame};

fn exercise(message: Bytes) {
    let limits = DecodeLimits::default();
    let _ = wire::frame_type(&message);
    let _ = wire::decode_request(message.clone(), &limits);
    let _ = wire::decode_response(message.clone(), &limits);
    let _ = wire::decode_reply(message.clone(), &limits);
    let _ = wire::decode_chunk(message.clone(), &limits);
    let opts = EncodeOptions::default();
    match wire::decode(message, &limits) {
        Ok(Frame::Request(r)) => {
            let (parts, body) = r.request.into_parts();
            let again = wire::encode_request(&parts, body, r.trailers.as_ref(), &opts)
                .expect("a decoded request encodes");
            wire::decode_request(again.message(), &limits).expect("and decodes again");
        }
        Ok(Frame::Response(r)) => {
            let (parts, body) = r.response.into_parts();
            let again = wire::encode_response(&parts, body, r.trailers.as_ref(), &opts)
                .expect("a decoded response encodes");
            wire::decode_response(again.message(), &limits).expect("and decodes again");
        }
        Ok(Frame::End(trailers)) => {
            let again = wire::encode_end(trailers.as_ref(), &opts).expect("an end encodes");
            wire::decode_chunk(again.message(), &limits).expect("and decodes again");
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    exercise(Bytes::copy_from_slice(data));
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = (split as usize).min(rest.len());
    let mut codec = FrameCodec::with_max_frame(64 * 1024);
    let mut buf = BytesMut::from(&rest[..cut]);
    for chunk in [&rest[cut..], &[][..]] {
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => exercise(frame),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        buf.extend_from_slice(chunk);
    }
});
