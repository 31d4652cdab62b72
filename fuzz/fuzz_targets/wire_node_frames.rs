//! Any bytes, read as a stream of node frames: through the tokio codec (any split of
//! the input into reads) and through the pure classifier and handshake decoder.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use zap_wire::codec::NodeCodec;

fuzz_target!(|data: &[u8]| {
    zap_wire::exercise::node_frames(data);
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    // Deliver the stream in two reads, at a split point chosen by the input.
    let cut = (split as usize).min(rest.len());
    let mut codec = NodeCodec::with_max_frame(64 * 1024);
    let mut buf = BytesMut::from(&rest[..cut]);
    for chunk in [&rest[cut..], &[][..]] {
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => zap_wire::exercise::message(&frame.message),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        buf.extend_from_slice(chunk);
    }
});
