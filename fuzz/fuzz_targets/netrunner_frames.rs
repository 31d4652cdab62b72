//! Any bytes as a stream of netrunner frames, delivered in chunks whose sizes come from
//! the input: oversize frames are skipped, nothing is kept beyond one frame.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use netrunner_proto::frame::{FrameDecoder, Inbound};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&max, rest)) = data.split_first() else {
        return;
    };
    let max = usize::from(max).max(4);
    let mut decoder = FrameDecoder::new(max);
    let mut src = BytesMut::new();
    for chunk in rest.chunks(7) {
        src.extend_from_slice(chunk);
        while let Ok(Some(item)) = decoder.decode(&mut src) {
            match item {
                Inbound::Frame(f) => assert!(f.payload.len() <= max),
                Inbound::Oversize { len, .. } => assert!(len > max as u64),
            }
        }
        assert!(src.len() < 5 + max + 7);
    }
});
